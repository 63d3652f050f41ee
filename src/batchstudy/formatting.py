"""Every number, interval and condition label the report prints, formatted in one place.

Nothing formatted here ever reads ``nan`` or ``inf``: a missing number reads "not estimable",
a censored median above the budget reads "> budget (k of n never reached)", a loss median
with half or more runs above 10× chance "> 10× chance (k of n above 10× chance loss)", an
interval that cannot be computed (one run) says so. `batchstudy.stats.Effect` is the input of every
interval formatter, so an interval's method and n travel with it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from .config import Condition, base_learning_rates, lr_text
from .metrics import EXPLODED_LOSS_FACTOR
from .stats import METHOD_PAIRED_T, METHOD_T, Effect

NOT_ESTIMABLE = "not estimable"
ABOVE_BUDGET = "> budget"
#: A ratio's end or estimate at +inf (its numerator's censored median above the budget): a
#: ratio has no budget, its interval is open above.
RATIO_OPEN = "open above"
#: A final test loss's median or end at +inf: half or more of the runs (resampled) exploded,
#: i.e. lay above `EXPLODED_LOSS_FACTOR` x the chance loss (`batchstudy.metrics.loss_summary`).
LOSS_EXPLODED = f"> {EXPLODED_LOSS_FACTOR:g}× chance"
#: A ratio interval's lower end where resamples had no ratio (`batchstudy.claims`).
RATIO_OPEN_BELOW = "open below"
#: Magnitudes at or above this print in scientific form (``5.12×10²⁸``), never as long integers
#: (a run that blew up without becoming NaN can leave a loss mean of 1e28).
SCIENTIFIC_FROM = 1e6
_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
#: A sign in front of digits that are all zero ("-0.000", "+0.0", "-0"): dropped, so that a
#: value that rounds to zero prints unsigned.
_SIGNED_ZERO = re.compile(r"^[+-](?=[0.]+%?$)")

#: Readable names of the learning-rate arms (config key -> words), without parentheses of
#: their own: the text puts them in parentheses ("by a fixed rule (linear scaling, lr ∝ B)").
ARM_LABELS = {
    "constant": "constant lr",
    "linear": "linear scaling, lr ∝ B",
    "sqrt": "square-root scaling, lr ∝ √B",
}
#: Short method names printed beside every interval (full names in `batchstudy.stats`).
METHOD_TAGS = {
    "t-interval over seeds": "t",
    "paired t-interval over seeds": "paired t",
    "paired t-interval of log-ratios over seeds (geometric mean)": "paired log-t",
    "percentile bootstrap over seeds of the censored median": "bootstrap",
    "percentile bootstrap over the epochs of one job (not independent replicates)": (
        "over epochs of one job"
    ),
    "t-interval of log seconds over timing repeats (geometric mean)": "log-t over repeats",
    "t-interval over dataset draws (each draw: the mean over its seeds)": "t over draws",
    "paired t-interval over dataset draws (each draw: the mean over its seeds)": (
        "paired t over draws"
    ),
    "paired t-interval of log-ratios over timing repeats (geometric mean)": (
        "paired log-t over repeats"
    ),
    "epochs ratio (bootstrap over seeds) × seconds-per-epoch ratio (paired t over timing "
    "repeats), each at half the error rate": "bootstrap × paired log-t over repeats",
}


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def scientific(v: float, digits: int = 3, sign: str = "") -> str:
    """``digits`` significant digits times a power of ten, ``5.12×10²⁸``; ``sign`` "+" also
    prints a plus (the sign itself is an ASCII "-" here, as in `number`)."""
    mantissa, exponent = f"{v:{sign}.{digits - 1}e}".split("e")
    return f"{mantissa}×10{str(int(exponent)).translate(_SUPERSCRIPT)}"


def _fixed(v: float, spec: str) -> str:
    """``format(v, spec)`` without a sign on a value that rounds to zero (no "−0.000"), and
    in scientific form from `SCIENTIFIC_FROM` on."""
    if abs(v) >= SCIENTIFIC_FROM:
        return scientific(v, sign="+" if spec.startswith("+") else "")
    return _SIGNED_ZERO.sub("", format(v, spec))


def _integral(x: Any) -> bool:
    """A whole number: an integer type, or a float with no fraction."""
    return _finite(x) and float(x) == math.floor(float(x))


def _separated(v: float) -> str:
    """A whole number or a half exactly, thousands separated (4,625, 1,822.5), unsigned at
    zero; `SCIENTIFIC_FROM` on in scientific form."""
    if abs(v) >= SCIENTIFIC_FROM:
        return scientific(v)
    return _SIGNED_ZERO.sub("", f"{v:,.0f}" if v == round(v) else f"{v:,.1f}")


def confidence(level: float) -> str:
    """A confidence level, the same everywhere: a whole percentage as it is (95%), any other
    with two decimals (a family member's 99.29%, 97.50%)."""
    pct = 100 * float(level)
    return f"{pct:.0f}%" if abs(pct - round(pct)) < 1e-9 else f"{pct:.2f}%"


def number(x: Any, digits: int = 3) -> str:
    """A measured number: ``digits`` significant digits, trailing zeros kept (0.120, 13.0,
    4.00), so that every such number shows its precision; thousands separated from 1000 on
    (1,230); from `SCIENTIFIC_FROM` on in scientific form (`scientific`). A whole number
    (an integer, or a float without fraction: a count, a budget) prints exactly, 4,625 not
    4,620. Zero prints unsigned. Configured constants (margins) print through `exact`."""
    if not _finite(x):
        return NOT_ESTIMABLE
    if _integral(x):
        return _separated(float(x))
    return significant(x, digits)


def significant(x: Any, digits: int = 3) -> str:
    """A measured number at ``digits`` significant digits even where it is a whole number
    (a ratio of 13 reads 13.0, of 2 reads 2.00: whole numbers print exactly only as counts,
    `number`); otherwise as `number`."""
    if not _finite(x):
        return NOT_ESTIMABLE
    v = float(f"{float(x):.{digits}g}")  # rounded first: 999.7 is 1,000, not "1e+03"
    if abs(v) >= SCIENTIFIC_FROM:
        return scientific(v, digits)
    if abs(v) >= 1000:  # a half that survives the rounding stays: 1,822.5, not 1,822
        return f"{v:,.1f}" if v != round(v) else f"{v:,.0f}"
    text = _fixed(v, f"#.{digits}g")
    return text[:-1] if text.endswith(".") else text


def number_at_least(x: Any, digits: int = 3) -> str:
    """A measured number said to be a lower bound ("≥ 79.9"): as `number`, but rounded down
    at its last significant digit, so that the printed bound stays a bound (79.95 reads
    "79.9", never "80.0"); a whole number prints exactly."""
    if not _finite(x) or _integral(x) or float(x) == 0.0:
        return number(x, digits)
    unit = 10.0 ** (math.floor(math.log10(abs(float(x)))) - digits + 1)
    return significant(_outward(float(x) / unit, "lower") * unit, digits)


def count(x: Any, digits: int = 3) -> str:
    """An integer-valued quantity (epochs, optimizer steps, examples) or a median of such
    (a whole number or a half): exactly, thousands separated (4,625, 1,822.5, an interval end
    of 1,125 too); anything else, e.g. an interpolated bootstrap end, as `number`."""
    if _finite(x) and _integral(2 * float(x)):
        return _separated(float(x))
    return number(x, digits)


def exact(x: Any) -> str:
    """A configured constant (a margin, a threshold, a budget) as given: 0.01, 1.1, 5, never
    padded to a precision it was not measured at (`number`)."""
    if not _finite(x):
        return NOT_ESTIMABLE
    return _separated(float(x)) if _integral(x) else f"{float(x):.12g}"


def learning_rate(x: Any) -> str:
    """A learning rate, base or scaled, everywhere the same: `LR_RANGE_DIGITS` significant
    digits without trailing zeros (0.001, 0.0003162, 1e-05), the precision of the configured
    grid (`batchstudy.config.lr_text`)."""
    return lr_text(float(x)) if _finite(x) else NOT_ESTIMABLE


def accuracy(x: Any, decimals: int = 3) -> str:
    return _fixed(float(x), f".{decimals}f") if _finite(x) else NOT_ESTIMABLE


def accuracy_bound(x: Any, side: str, decimals: int = 3) -> str:
    """An accuracy said to be "at least" (``side`` "lower": rounded down) or "at most"
    ("upper": rounded up), so the printed bound stays a bound. At `decimals` where that
    agrees with the usual rounding (the interval end the same number came from prints so);
    otherwise one decimal more, so that the bound does not contradict the printed end: a drop
    of at least 0.06367 (an interval end printed −0.064) reads "at least 0.0636", never 0.064
    nor 0.063."""
    if not _finite(x):
        return NOT_ESTIMABLE
    v = float(x) * 10**decimals
    if _outward(v, side) != round(v):
        v, decimals = v * 10, decimals + 1
    return accuracy(_outward(v, side) / 10**decimals, decimals)


def _outward(v: float, side: str) -> int:
    """`v` rounded down (``side`` "lower") or up; float noise (0.064 stored as 0.06399999…)
    does not move an exact value."""
    return math.floor(v + 1e-9) if side == "lower" else math.ceil(v - 1e-9)


def signed(x: Any, decimals: int = 3) -> str:
    """A difference with its sign (−0.185, +0.003), a true minus sign; a difference that
    rounds to zero prints unsigned (0.000)."""
    return _fixed(float(x), f"+.{decimals}f").replace("-", "−") if _finite(x) else NOT_ESTIMABLE


def signed_count(x: Any, decimals: int = 1) -> str:
    """A difference of counts (epochs) with its sign and one decimal (0.0 unsigned)."""
    return _fixed(float(x), f"+.{decimals}f").replace("-", "−") if _finite(x) else NOT_ESTIMABLE


def correlation(x: Any, decimals: int = 2) -> str:
    """A correlation coefficient (or R²) with two decimals and a true minus sign (0.00
    unsigned)."""
    return _fixed(float(x), f".{decimals}f").replace("-", "−") if _finite(x) else NOT_ESTIMABLE


def percent(x: Any, decimals: int = 1) -> str:
    if not _finite(x):
        return NOT_ESTIMABLE
    v = float(x)
    if abs(100 * v) >= SCIENTIFIC_FROM:
        return f"{scientific(100 * v)}%"
    return _fixed(v, f".{decimals}%")


def seconds(x: Any, digits: int = 3) -> str:
    """Seconds with 3 significant digits (trailing zeros kept, as `number`), in ms below one
    second."""
    if not _finite(x):
        return NOT_ESTIMABLE
    v = float(x)
    return f"{number(v * 1e3, digits)} ms" if abs(v) < 1 else f"{number(v, digits)} s"


def ratio(x: Any, digits: int = 3) -> str:
    """Ratios span orders of magnitude (0.08 to 40): three significant digits, ×; a ratio
    that is a whole number keeps them too (13.0×, 2.00×, 1.00×: a ratio is measured, not
    counted)."""
    return f"{significant(x, digits)}×" if _finite(x) else NOT_ESTIMABLE


#: Each kind of number: its formatter, called as ``f(x)`` at the default precision or
#: ``f(x, p)`` at precision ``p`` (decimals, or significant digits), and that default.
KINDS: dict[str, tuple[Callable[..., str], int]] = {
    "accuracy": (accuracy, 3),
    "difference": (signed, 3),
    "count": (count, 3),
    "count_difference": (signed_count, 1),
    "seconds": (seconds, 3),
    "ratio": (ratio, 3),
    "loss": (number, 3),
    "size": (number, 3),
    "correlation": (correlation, 2),
    "percent": (percent, 1),
}
#: Kinds whose precision is a number of decimals (the others': significant digits).
DECIMAL_KINDS = frozenset({"accuracy", "difference", "count_difference", "correlation", "percent"})
#: Kinds printed with a sign, whose ends never read as a bare zero unless they are zero.
SIGNED_KINDS = frozenset({"difference", "count_difference"})
#: At most this many digits beyond a kind's default precision separate an interval end from a
#: verdict boundary it would otherwise print equal to (`end`).
EXTRA_DIGITS = 2
#: A value this close to a boundary (relative to ``max(1, |boundary|)``) is on it: float noise
#: of the boundary itself (`on_boundary`).
BOUNDARY_NOISE = 1e-6


def above(kind: str) -> str:
    """What +inf reads as for ``kind``: "> budget" (a censored median), `RATIO_OPEN` for a
    ratio, `LOSS_EXPLODED` for a loss."""
    return {"ratio": RATIO_OPEN, "loss": LOSS_EXPLODED}.get(kind, ABOVE_BUDGET)


def end(x: float, kind: str, boundaries: Sequence[float] = ()) -> str:
    """An interval end of ``kind``; +inf reads `above` ("> budget", a ratio's "open above").

    Where the end would print the same as one of ``boundaries`` (the values its verdict was
    judged against: ±margin, a ratio's margin) without being equal to it, it gets up to
    `EXTRA_DIGITS` more digits, the fewest that tell it from the boundary: with margin 0.01,
    −0.0098 prints "−0.0098", −0.00996 "−0.00996" and −0.01004 "−0.01004" where all three
    would read "−0.010", so the reader sees on which side of the margin the verdict saw it.
    An end on a boundary up to float noise (`on_boundary`: −0.010000026 against −0.01) prints at
    the kind's default precision; one closer to it than the extra digits show, at the
    precision reached. The same holds for any value the text compares with a boundary, e.g. a
    B_crit of 3.998 against the smallest fitted B = 4 prints "3.998", not "4.00".
    """
    if x == math.inf:
        return above(kind)
    if x == -math.inf:
        return RATIO_OPEN_BELOW
    form, default = KINDS[kind]
    if kind in SIGNED_KINDS:  # a signed end that rounds to zero shows its sign's digit
        boundaries = (*boundaries, 0.0)
    if any(on_boundary(x, b) for b in boundaries):
        return form(x, default)
    for p in range(default, default + EXTRA_DIGITS + 1):
        text = form(x, p)
        if not any(_reads_as(x, b, kind, p) for b in boundaries):
            break
    return text


def on_boundary(x: float, b: float) -> bool:
    """Whether ``x`` equals the boundary ``b`` up to float noise (`BOUNDARY_NOISE` relative to
    ``max(1, |b|)``): −0.010000026 is a difference of exactly −0.01, −5.9e-9 one of 0. Such a
    value decides nothing against ``b`` and prints at its kind's precision ("−0.010", "0.000")."""
    return abs(x - b) < BOUNDARY_NOISE * max(1.0, abs(b))


def _reads_as(x: float, b: float, kind: str, p: int) -> bool:
    """Whether ``x`` printed as ``kind`` at precision ``p`` reads as the boundary ``b`` (its
    text equal to ``b``'s, or its rounded value equal to ``b``: "4.00" reads as B = 4)."""
    form = KINDS[kind][0]
    if form(x, p) == form(b, p):
        return True
    if kind == "percent":
        x, b = 100 * x, 100 * b
    if kind in DECIMAL_KINDS:
        return round(x, p) == round(b, p)
    return _finite(x) and x != 0 and float(f"{x:.{p}g}") == b


#: Methods whose interval has zero width only where every value is the same (t-intervals):
#: such an interval is no statement of precision, so `interval` says the values are equal.
ZERO_SPREAD_METHODS = (METHOD_T, METHOD_PAIRED_T)


def interval(e: Effect, kind: str, missing: str = "never reached") -> str:
    """``estimate [lo, hi]``; censored medians read "> budget (k of n <missing>)", a ratio
    whose estimate or end is +inf "open above" (`above`). An end near one of the effect's
    verdict boundaries shows the digits that place it (`end`). A t-interval of identical
    values (`ZERO_SPREAD_METHODS`) reads "1.000 (all 10 equal: no spread, no interval)"."""
    if e.n == 0 or (not _finite(e.estimate) and e.estimate != math.inf):
        return NOT_ESTIMABLE
    censored = f"{e.n_censored} of {e.n} {missing}"
    if e.estimate == math.inf:
        return f"{above(kind)} ({censored})"
    text = end(e.estimate, kind, e.boundaries)
    if not (_finite(e.lo) or abs(e.lo) == math.inf) or not (_finite(e.hi) or e.hi == math.inf):
        return f"{text} (one run, no interval)"
    if _zero_spread(e):
        return f"{text} (all {e.n} equal: no spread, no interval)"
    text += f" [{end(e.lo, kind, e.boundaries)}, {end(e.hi, kind, e.boundaries)}]"
    if e.n_censored:
        text += f" ({censored})"
    return text


def _zero_spread(e: Effect) -> bool:
    """A t-interval (`ZERO_SPREAD_METHODS`) of identical values: no interval at all."""
    return e.n > 1 and e.method in ZERO_SPREAD_METHODS and e.lo == e.hi == e.estimate


def effect(e: Effect, kind: str, missing: str = "never reached") -> str:
    """The interval with its method and n, e.g. ``−0.185 [−0.239, −0.142] (paired t, n = 10)``;
    a level other than 95% (a family member) is named. Identical values (`_zero_spread`) have
    no method to name: `interval`'s words alone."""
    if e.n == 0:
        return NOT_ESTIMABLE
    if _zero_spread(e):
        return interval(e, kind, missing)
    tag = METHOD_TAGS.get(e.method, e.method)
    level = "" if abs(e.level - 0.95) < 1e-9 else f", {confidence(e.level)} level"
    return f"{interval(e, kind, missing)} ({tag}, n = {e.n}{level})"


def sizes(values: Sequence[int]) -> str:
    """``B = 4`` or ``B ∈ {4, 8, 16}``; empty reads "none"."""
    values = [int(v) for v in values]
    if not values:
        return "none"
    if len(values) == 1:
        return f"B = {values[0]}"
    return "B ∈ {" + ", ".join(map(str, values)) + "}"


def arm(name: str) -> str:
    return ARM_LABELS.get(str(name), f"lr arm {name}")


def condition(keys: dict[str, Any], skip: Sequence[str] = ()) -> str:
    """A condition's label (`batchstudy.config.Condition.label`: dataset · optimizer · lr arm ·
    base lr · budget) without the keys in `skip`; "all runs" when every key is skipped."""
    parts = Condition.from_keys(keys).label_parts()
    return " · ".join(v for k, v in parts.items() if k not in skip) or "all runs"


def learning_rates(learning_rate: Any) -> str:
    """An optimizer's configured base learning rate(s) in words: one rate, a grid, or a
    log-spaced range with the values it expands to (`batchstudy.config.base_learning_rates`)."""
    values = ", ".join(map(lr_text, base_learning_rates(learning_rate)))
    if isinstance(learning_rate, dict):
        lo, hi = lr_text(learning_rate["min"]), lr_text(learning_rate["max"])
        return f"base lr {learning_rate['num']} values log-spaced from {lo} to {hi} ({values})"
    if isinstance(learning_rate, list):
        return f"base lr grid {values}"
    return f"base lr {values}"


def warmup(lr_scaling: dict[str, Any]) -> str:
    """The scaled arms' warmup in words (the config gives steps or epochs, or none)."""
    for key, unit in (("warmup_steps", "optimizer steps"), ("warmup_epochs", "epochs")):
        if lr_scaling.get(key):
            return f"scaled arms warm up linearly over {lr_scaling[key]} {unit}"
    return "no warmup"


def budget_attributive(budget: str) -> str:
    """A budget key ("e60", "s1000") before a noun: "60-epoch", "1,000-step" (as in "at the
    60-epoch budget"); `batchstudy.config.budget_label` is the standalone form ("60 epochs")."""
    kind, n = str(budget)[0], int(str(budget)[1:])
    return f"{_separated(n)}-{'epoch' if kind == 'e' else 'step'}"


def share(k: int, n: int) -> str:
    return f"{k} of {n}"


def counted(n: int, noun: str) -> str:
    """``n`` and the noun in the number it takes: "1 condition", "28 conditions"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
