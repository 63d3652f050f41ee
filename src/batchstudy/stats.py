"""Intervals, effects and verdicts: the one place where the study's uncertainty is defined.

Methods (chosen for coverage at the seed counts the study ships, 5-10 paired seeds):

* **Means and paired mean differences**: Student-t intervals over seeds
  (mean ± t_{n-1} · sd / √n). The percentile bootstrap of a mean covers only about 84% at
  n = 5 and 90% at n = 10; the t-interval holds its level for symmetric and mildly skewed
  per-seed differences (tests/test_stats.py simulates both).
* **Bounded quantities**: a t-interval of a quantity with a known range (an accuracy in
  [0, 1], a train-test gap in [-1, 1], a loss in [0, inf)) is clipped to that range, and a
  paired difference of two such values to the range of their difference (accuracies: [-1, 1]).
  At 2-3 seeds the raw interval can run past the range; the true value lies inside it, so
  clipping removes no possible value and leaves the coverage as it was (`BOUNDED_NOTE`).
* **Ratios of positive quantities** (seconds, epochs): the t-interval of the mean paired
  log-ratio, exponentiated: a geometric-mean ratio. Right-skewed, log-normal-like times are
  symmetric on the log scale, where the t-interval is exact.
* **Medians of time-to-event quantities** (epochs/steps/examples/seconds to a target,
  settling): runs that never reached the event by the budget (or diverged) are *censored at the
  budget* and counted as larger than every observed value: the sample median of the values so
  ranked. It equals the Kaplan-Meier median while fewer than half of the runs are censored;
  when half or more are, it is above the budget (``+inf`` here, "> budget" in text), where the
  Kaplan-Meier convention gives a finite median at exactly half (`censored_median_value`).
  Its interval is a percentile bootstrap over seeds of the same censored median.
* **Families**: comparisons of several batch sizes against one chosen post hoc (the best) use
  Bonferroni-simultaneous intervals (each at level 1 - alpha/m), so that the family-wise
  coverage is at least the nominal level and the verdicts read off the intervals keep the
  family-wise error rate.
* **Verdicts with a practical margin δ**: an interval inside (-δ, δ) is *equivalent*, one
  entirely beyond ±δ is *different*, anything else *inconclusive*; fewer than `MIN_N` paired
  seeds are always *inconclusive*.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import stdtrit

#: Fewest paired seeds for which an interval is read as evidence at all.
MIN_N = 3
LEVEL = 0.95

EQUIVALENT = "equivalent"
DIFFERENT = "different"
INCONCLUSIVE = "inconclusive"

METHOD_T = "t-interval over seeds"
METHOD_PAIRED_T = "paired t-interval over seeds"
METHOD_LOG_T = "paired t-interval of log-ratios over seeds (geometric mean)"
METHOD_MEDIAN = "percentile bootstrap over seeds of the censored median"
METHOD_EPOCHS = "percentile bootstrap over the epochs of one job (not independent replicates)"
FAMILY_BONFERRONI = "Bonferroni-simultaneous"

#: Ranges of the bounded per-run quantities (lower, upper); `t_interval` clips to them.
ACCURACY_RANGE = (0.0, 1.0)
GAP_RANGE = (-1.0, 1.0)
LOSS_RANGE = (0.0, np.inf)
UNBOUNDED = (-np.inf, np.inf)


def value_range(column: str) -> tuple[float, float]:
    """The range of a per-run column's values, read from its name: a gap (``gap_accuracy``)
    in `GAP_RANGE`, any other ``*_accuracy`` in `ACCURACY_RANGE`, a ``*_loss`` in
    `LOSS_RANGE`, anything else `UNBOUNDED`."""
    if column.startswith("gap_"):
        return GAP_RANGE
    if column.endswith("_accuracy"):
        return ACCURACY_RANGE
    if column.endswith("_loss"):
        return LOSS_RANGE
    return UNBOUNDED


#: How the clipping is stated beside the methods.
BOUNDED_NOTE = (
    "intervals are clipped to the quantity's range (accuracies [0, 1], train-test gaps and "
    "differences of accuracies [−1, 1], losses from 0); the true value lies in that range, so "
    "clipping removes no possible value and leaves the coverage as it was"
)


@dataclass(frozen=True)
class IntervalSettings:
    """How every interval of the analysis is computed; one object passed everywhere."""

    level: float = LEVEL
    n_boot: int = 2000
    seed: int = 0
    min_n: int = MIN_N

    @classmethod
    def from_metrics(cls, metrics: dict[str, Any]) -> IntervalSettings:
        """From the config's ``metrics`` section (its defaults live in the JSON schema)."""
        return cls(n_boot=int(metrics["bootstrap"]))

    def family(self, m: int) -> IntervalSettings:
        """Settings for one member of a family of ``m`` simultaneous intervals."""
        return replace(self, level=1 - (1 - self.level) / max(m, 1))


@dataclass(frozen=True)
class Effect:
    """One estimated quantity with its interval: what every number in the findings is.

    ``lo``/``hi`` are NaN when the interval cannot be computed (n < 2); ``+inf`` is allowed
    for censored medians (above the budget). ``verdict`` is empty when no margin applies.
    ``boundaries`` are the values on the effect's own scale against which its interval was
    judged (`judge`: null - margin and null + margin; a ratio: 1/margin and margin), so that
    the formatter can print an end close to one of them on the side it lies; empty when no
    margin applies.
    """

    estimate: float
    lo: float
    hi: float
    n: int
    method: str
    level: float = LEVEL
    verdict: str = ""
    n_censored: int = 0
    boundaries: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: NaN (not estimable) -> null, +inf (above the budget) -> `ABOVE_BUDGET`."""
        return {k: _to_json(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Effect:
        """The inverse of `to_dict`; a dict written before ``boundaries`` existed has none."""
        fields = {k: _from_json(v) for k, v in d.items() if k != "boundaries"}
        return cls(**fields, boundaries=tuple(float(b) for b in d.get("boundaries") or ()))


#: How +inf (a censored median above the budget) is written in JSON, which has no infinity.
ABOVE_BUDGET = "above budget"


def _to_json(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_to_json(x) for x in v]
    if isinstance(v, float) and np.isnan(v):
        return None
    if isinstance(v, float) and np.isinf(v):
        return ABOVE_BUDGET if v > 0 else "-" + ABOVE_BUDGET
    return v


def _from_json(v: Any) -> Any:
    if v is None:
        return np.nan
    if v == ABOVE_BUDGET:
        return np.inf
    if v == "-" + ABOVE_BUDGET:
        return -np.inf
    return v


def _finite(values: Any) -> np.ndarray:
    x = np.asarray(values, dtype=float).ravel()
    return x[np.isfinite(x)]


def nonnegative_least_squares(design: Any, target: Any) -> np.ndarray:
    """``scipy.optimize.nnls``'s solution x >= 0 of min |design @ x - target|, the one
    non-negative fit of the analysis (claim 1's cost parts, the B_crit fit). SciPy's optimize
    package is imported on the first call: ~1 s of start-up that the report and catalogue
    processes, which import the analysis modules for their wording only, never pay."""
    from scipy.optimize import nnls

    return nnls(np.asarray(design, dtype=float), np.asarray(target, dtype=float))[0]


def t_half_width(sd: Any, n: Any, level: float) -> np.ndarray:
    """The Student-t rule of every mean interval, vectorised: ``t_{n-1} · sd / √n`` at
    two-sided ``level`` for arrays of standard deviations (ddof = 1) and counts; NaN where
    n < 2 (no spread to measure)."""
    n = np.asarray(n, dtype=float)
    df = np.where(n > 1, n - 1, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        return stdtrit(df, 0.5 + level / 2) * np.asarray(sd, dtype=float) / np.sqrt(n)


def t_interval(
    values: Any,
    settings: IntervalSettings,
    method: str = METHOD_T,
    bounds: tuple[float, float] = UNBOUNDED,
) -> Effect:
    """Mean with a Student-t interval; non-finite values are dropped (callers count them).

    ``bounds`` is the range every value (hence the mean) lies in; the interval's ends are
    clipped to it (module docstring). One value gives the estimate with a NaN interval (no
    spread to measure), none gives NaN.
    """
    x = _finite(values)
    n = int(x.size)
    if n == 0:
        return Effect(np.nan, np.nan, np.nan, 0, method, settings.level)
    mean = float(x.mean())
    if n == 1:
        return Effect(mean, np.nan, np.nan, 1, method, settings.level)
    half = float(t_half_width(x.std(ddof=1), n, settings.level))
    lo, hi = max(mean - half, bounds[0]), min(mean + half, bounds[1])
    return Effect(mean, lo, hi, n, method, settings.level)


def _pairs(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """Align two per-seed Series on their index (seed); arrays must already be aligned."""
    if isinstance(a, pd.Series) and isinstance(b, pd.Series):
        a, b = a.align(b)
    x, y = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"paired values need equal lengths, got {x.size} and {y.size}")
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def paired_mean_difference(
    a: Any, b: Any, settings: IntervalSettings, bounds: tuple[float, float] = UNBOUNDED
) -> Effect:
    """Mean of per-seed differences ``a - b`` with a paired t-interval; incomplete pairs drop.

    ``bounds`` is the range of the values of ``a`` and ``b``; the interval is clipped to the
    range of their difference (two accuracies in [0, 1]: [-1, 1]).
    """
    x, y = _pairs(a, b)
    width = bounds[1] - bounds[0]
    return t_interval(x - y, settings, METHOD_PAIRED_T, (-width, width))


def paired_ratio(a: Any, b: Any, settings: IntervalSettings) -> Effect:
    """Geometric mean of per-seed ratios ``a / b`` with the exponentiated t-interval of the
    log-ratios; pairs with a non-positive side drop (no log)."""
    x, y = _pairs(a, b)
    ok = (x > 0) & (y > 0)
    e = t_interval(np.log(x[ok] / y[ok]), settings, METHOD_LOG_T)
    return replace(
        e, estimate=float(np.exp(e.estimate)), lo=float(np.exp(e.lo)), hi=float(np.exp(e.hi))
    )


def censored_medians(values: Any, axis: int = -1) -> np.ndarray:
    """Censored median along ``axis``: +inf = a run censored at the budget, NaN = no run there.

    NaN entries are skipped; +inf entries count as above every observed value, so the median is
    +inf when half or more of the present entries are censored (the convention of
    `censored_median_value`) and otherwise the ordinary median of the present ones (the mean of
    the two middle values for an even count). NaN where no entry is present. The values are
    those of ``np.nanmedian`` bit for bit, computed by one sort instead of a masked array.
    """
    x = np.sort(np.asarray(values, dtype=float), axis=axis)  # NaN last, +inf just before
    if x.shape[axis] == 0:
        return np.full(np.delete(x.shape, axis), np.nan)
    n = (~np.isnan(x)).sum(axis=axis, keepdims=True)
    low = np.take_along_axis(x, np.maximum((n - 1) // 2, 0), axis=axis)
    high = np.take_along_axis(x, np.minimum(n // 2, x.shape[axis] - 1), axis=axis)
    with np.errstate(invalid="ignore"):
        median = (low + high) / 2
    return np.squeeze(np.where(n > 0, median, np.nan), axis=axis)


def censored_median_rows(values: Any) -> np.ndarray:
    """`censored_median_value` of every row of a 2-D array (non-finite = censored)."""
    x = np.asarray(values, dtype=float)
    return censored_medians(np.where(np.isfinite(x), x, np.inf), axis=-1)


def censored_median_value(values: np.ndarray) -> float:
    """Median with NaN read as censored at the budget (+inf): +inf when half or more are.

    Above the Kaplan-Meier convention (which gives a finite median at exactly half censored
    with an even n) on purpose: at exactly half, the median is not pinned below the budget.
    An empty array gives NaN.
    """
    return float(censored_median_rows(np.asarray(values, dtype=float).ravel()[None, :])[0])


def range_coverage(n: int) -> float:
    """Coverage of the widest interval a median of `n` values can have, their range:
    1 − 2 · 0.5^n (the true median lies below all `n` values, or above all, with chance
    0.5^n each): 0.9375 at n = 5, 0.96875 at n = 6; 0 for n < 1. Below the level asked for,
    no bootstrap interval of a median of `n` seeds reaches it."""
    return 0.0 if n < 1 else 1.0 - 2.0 * 0.5**n


def censored_median(values: Any, settings: IntervalSettings) -> Effect:
    """Median over runs of a time-to-event quantity; NaN entries are runs censored at the
    budget (never reached, not settled, or diverged) and count as above every observed value.

    The interval is a percentile bootstrap over runs of the same censored median, so its ends
    may be ``+inf`` ("> budget"). A single run gives a NaN interval.
    """
    return censored_median_columns(np.asarray(values, dtype=float).ravel()[:, None], settings)[0]


def censored_median_columns(values: Any, settings: IntervalSettings) -> list[Effect]:
    """`censored_median` of every column of a runs x quantities array, in one pass: each
    column's resamples are the runs that column would draw on its own (same seed, same n),
    so the Effects equal those of column-by-column calls."""
    x = np.asarray(values, dtype=float)
    n = x.shape[0]
    est = censored_median_rows(x.T)
    k = (~np.isfinite(x)).sum(axis=0)
    if n < 2:
        lo = hi = np.full(x.shape[1], np.nan)
    else:
        rows = np.random.default_rng(settings.seed).integers(0, n, size=(settings.n_boot, n))
        meds = censored_median_rows(np.moveaxis(x[rows], -1, 0))  # quantities x resamples
        alpha = (1 - settings.level) / 2
        lo, hi = np.quantile(meds, [alpha, 1 - alpha], axis=1, method="inverted_cdf")
    return [
        Effect(float(e), float(a), float(b), n, METHOD_MEDIAN, settings.level, n_censored=int(c))
        for e, a, b, c in zip(est, lo, hi, k, strict=True)
    ]


def epoch_median(values: Any, settings: IntervalSettings) -> Effect:
    """Median of one job's per-epoch times with a percentile bootstrap over its epochs.

    The epochs of one job share its machine state (load, clocks), so this interval describes
    that job's timing stream only; it is not an interval over independent replicates.
    """
    x = _finite(values)
    if x.size == 0:
        return Effect(np.nan, np.nan, np.nan, 0, METHOD_EPOCHS, settings.level)
    est = float(np.median(x))
    rng = np.random.default_rng(settings.seed)
    meds = np.median(x[rng.integers(0, x.size, size=(settings.n_boot, x.size))], axis=1)
    alpha = (1 - settings.level) / 2
    lo, hi = np.quantile(meds, [alpha, 1 - alpha])
    return Effect(est, float(lo), float(hi), int(x.size), METHOD_EPOCHS, settings.level)


def judge(effect: Effect, margin: float, settings: IntervalSettings, null: float = 0.0) -> Effect:
    """Attach the three-way verdict (module docstring) for a practical margin around ``null``,
    and the margin's ends ``null ± margin`` and ``null`` itself as the effect's ``boundaries``
    (an end that would print as 0.000 without being 0 then shows the digit of its sign)."""
    effect = replace(effect, boundaries=(null - margin, null, null + margin))
    if effect.n < settings.min_n or not (np.isfinite(effect.lo) and np.isfinite(effect.hi)):
        return replace(effect, verdict=INCONCLUSIVE)
    lo, hi = effect.lo - null, effect.hi - null
    if -margin < lo and hi < margin:
        return replace(effect, verdict=EQUIVALENT)
    if lo > margin or hi < -margin:
        return replace(effect, verdict=DIFFERENT)
    return replace(effect, verdict=INCONCLUSIVE)


def excludes(effect: Effect, settings: IntervalSettings, null: float = 0.0) -> int:
    """+1 / -1 when the interval lies wholly above / below ``null`` (with enough seeds), else 0."""
    if effect.n < settings.min_n or not (np.isfinite(effect.lo) and np.isfinite(effect.hi)):
        return 0
    return 1 if effect.lo > null else -1 if effect.hi < null else 0
