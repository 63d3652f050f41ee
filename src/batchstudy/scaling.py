"""Critical batch size from steps-to-target, after McCandlish et al. (2018).

The empirical model says the optimizer steps S and training examples E = B*S needed to reach a
fixed target trade off as

    (S / S_min - 1) * (E / E_min - 1) = 1.

Substituting E = B*S and expanding: B*S**2 - S*(E_min + B*S_min) = 0, whose non-zero root is

    S(B) = S_min + E_min / B,     i.e.  S / S_min = 1 + B_crit / B,  E / E_min = 1 + B / B_crit,

with B_crit = E_min / S_min. The steps are therefore *linear* in (S_min, E_min) with regressors
(1, 1/B), so we fit them by non-negative linear least squares; see `fit_critical_batch`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import formatting as fmt
from .stats import IntervalSettings, censored_medians, nonnegative_least_squares

# A fit needs more points than its two parameters to say anything about the curve's shape.
MIN_BATCH_SIZES = 3

# Regime thresholds, as multiples of B_crit. From S/S_min = 1 + B_crit/B and
# E/E_min = 1 + B/B_crit:
# * at B = B_crit/4 the examples needed are within 25% of the minimum E_min, and doubling B still
#   cuts the steps by a factor 5/3 (83% of the ideal 2x) -- close to perfect scaling;
# * at B = 4*B_crit the steps are within 25% of the floor S_min, so no larger batch can save more
#   than 20% of the steps, and doubling B cuts them only by 1.25/1.125 = 1.11x -- no further gain.
# The two thresholds are symmetric on a log axis around B_crit, where doubling gives 1.33x.
PERFECT_SCALING_BELOW = 0.25
NO_FURTHER_GAIN_ABOVE = 4.0

# A fitted term contributing less than this share of the predicted steps, even where it matters
# most (S_min at the largest B, E_min/B at the smallest), is numerically zero: NNLS returns
# 1e-15-sized values instead of exact zeros, which would give absurd B_crit like 1e17.
_ZERO_SHARE = 1e-6

# A B_crit fit whose relative RMSE (of the fitted steps against the measured ones) exceeds this
# misses the curve by more than the seeds' noise its bootstrap interval covers: flagged as poor,
# indicative only, wherever a B_crit is printed.
POOR_FIT_RMSE = 0.10

# A target's standing against chance (`target_standing`). Reaching a target at or beyond what
# a trivial predictor scores (a loss at or above ln(n_classes), the uniform guess's
# crossentropy; an accuracy at or below the majority class's share) says nothing about training,
# so no B_crit is fitted on it. A target that asks for less than this share of the way from
# chance to a perfect score (accuracy 1, loss 0) is near chance: its steps measure leaving the
# starting point more than learning, so its B_crit is flagged and left out of summaries.
NEAR_CHANCE_SHARE = 0.25
STANDING_AT_CHANCE = "at chance"
STANDING_NEAR_CHANCE = "near chance"
STANDING_CLEAR = ""

REGIME_PERFECT = "perfect scaling"
REGIME_DIMINISHING = "diminishing returns"
REGIME_NO_GAIN = "no further gain"
REGIME_UNKNOWN = "unknown"


def _clean_points(
    batch_sizes: Sequence[float], steps: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Positive finite (B, S) pairs only: censored batch sizes (NaN/inf steps) carry no point."""
    b = np.asarray(batch_sizes, dtype=float).ravel()
    s = np.asarray(steps, dtype=float).ravel()
    if b.shape != s.shape:
        raise ValueError(f"batch_sizes and steps need equal lengths, got {b.size} and {s.size}")
    keep = np.isfinite(b) & np.isfinite(s) & (b > 0) & (s > 0)
    return b[keep], s[keep]


def failed_fit(reason: str, n_points: int, **values: float) -> dict[str, Any]:
    """A fit that was not made (``ok`` False) for ``reason``; ``values`` override the NaNs."""
    fit = {"s_min": np.nan, "e_min": np.nan, "b_crit": np.nan, "rel_rmse": np.nan}
    return fit | values | {"ok": False, "reason": reason, "n_points": n_points, "in_range": False}


#: The model a B_crit fit fits, as the reasons name it.
MODEL_WORDS = "S = S_min + E_min/B"
#: What a fit with a parameter at its zero bound (`_solve`) says of B_crit, by that parameter:
#: the best fit is then flat (E_min = 0: B_crit below the fitted batch sizes) or falls like 1/B
#: throughout (S_min = 0: above them). Said of the model's best fit, not of the steps, which
#: may follow another curve (`bound_reason` adds the relative RMSE where they do not).
BOUND_WORDS = {
    "e_min": ("is flat", "below B = {lo:g}"),
    "s_min": ("falls like 1/B throughout (perfect scaling)", "above B = {hi:g}"),
}
#: Where a fit at a zero bound (`BOUND_WORDS`) puts B_crit, as its label in place of "not
#: estimated" (the same words as a made fit `below_tested_range`, `BELOW_RANGE_WORDS`).
BOUND_LABELS = {"e_min": "below the fitted range", "s_min": "above the fitted range"}
#: The start of every reason `fit_critical_batch` gives, by cause (`failure_cause`).
FAILURE_HEADS = {
    "few": "need ≥ ",
    "e_min": "E_min fitted at 0",
    "s_min": "S_min fitted at 0",
}


def bound_reason(at_zero: str, lo: float, hi: float, rel_rmse: float) -> str:
    """Why a fit with ``at_zero`` ('s_min', 'e_min') at its zero bound over B = ``lo``–``hi``
    was not made (`BOUND_WORDS`), with its relative RMSE where it exceeds `POOR_FIT_RMSE`: the
    steps then do not follow the model's form, and its B_crit side says little."""
    shape, side = BOUND_WORDS[at_zero]
    poor = (
        f"; the steps do not follow that form: relative RMSE "
        f"{fmt.end(rel_rmse, 'percent', (POOR_FIT_RMSE,))}"
        if rel_rmse > POOR_FIT_RMSE
        else ""
    )
    return (
        f"{FAILURE_HEADS[at_zero]}: the best fit of {MODEL_WORDS} to the steps over "
        f"B = {lo:g}–{hi:g} {shape}, so the model puts B_crit {side.format(lo=lo, hi=hi)}{poor}"
    )


def failure_cause(fit: dict[str, Any]) -> str | None:
    """The key of `FAILURE_HEADS` whose reason a fit that was not made gives; None for a made
    fit or another reason."""
    if fit.get("ok"):
        return None
    reason = str(fit.get("reason") or "")
    return next((k for k, head in FAILURE_HEADS.items() if reason.startswith(head)), None)


def no_fit_label(fit: dict[str, Any]) -> str:
    """How a fit that was not made is labelled: one at a zero bound that follows the model's
    form (relative RMSE within `POOR_FIT_RMSE`) says on which side of the fitted range the
    model puts B_crit (`BOUND_LABELS`), as a made fit below the range does; any other, "not
    estimated"."""
    side = BOUND_LABELS.get(failure_cause(fit) or "")
    if side is None or (fit.get("rel_rmse") or 0.0) > POOR_FIT_RMSE:
        return "not estimated"
    return f"{side}, no estimate"


def _share(term: float, other: float) -> float:
    """Fraction of a predicted step count contributed by ``term`` (0 when both are 0)."""
    total = term + other
    return term / total if total > 0 else 0.0


def predicted_steps(batch_sizes: Sequence[float], s_min: float, e_min: float) -> np.ndarray:
    """Steps the fitted model expects at each batch size (for plotting the fitted curve)."""
    return s_min + e_min / np.asarray(batch_sizes, dtype=float)


def _design(b: np.ndarray, s: np.ndarray) -> np.ndarray:
    """NNLS design of points (B, S): rows (1/S, 1/(B*S)), whose fit to 1 is the relative-residual
    form of S = S_min + E_min/B (see `fit_critical_batch`). Leading axes of ``s`` carry through."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.stack([1.0 / s, 1.0 / (b * s)], axis=-1)


def _solve(design: np.ndarray, b_min: float, b_max: float) -> tuple[float, float, str]:
    """NNLS (S_min, E_min) of clean points' `_design` and which of the two sits at its zero
    bound ('s_min', 'e_min'; '' for neither), judged by `_ZERO_SHARE` at the batch size where
    the term matters most (the largest B for S_min, the smallest for E_min/B)."""
    s_min, e_min = nonnegative_least_squares(design, np.ones(len(design)))
    s_min, e_min = float(s_min), float(e_min)
    if _share(s_min, e_min / b_max) < _ZERO_SHARE:
        return s_min, e_min, "s_min"
    if _share(e_min / b_min, s_min) < _ZERO_SHARE:
        return s_min, e_min, "e_min"
    return s_min, e_min, ""


def fit_critical_batch(batch_sizes: Sequence[float], steps: Sequence[float]) -> dict[str, Any]:
    """Fit S_min, E_min (and B_crit = E_min/S_min) to steps-to-target over batch sizes.

    Uses S = S_min + E_min/B (exact rearrangement of the McCandlish hyperbola, see the module
    docstring), fitted by non-negative least squares on *relative* residuals (1 - S_hat/S):
    steps span orders of magnitude across batch sizes and their seed noise is roughly
    proportional to their size, so absolute residuals would let the smallest batch sizes decide
    the fit alone. Non-negativity keeps both parameters physical.

    ``ok`` is False, with a ``reason``, when fewer than `MIN_BATCH_SIZES` distinct batch sizes
    have finite steps, or when a parameter sits at its zero bound (`bound_reason`): S_min = 0
    means the best fit falls like 1/B over the whole range (B_crit above it: reported as inf),
    E_min = 0 that it is flat (B_crit below it: reported as 0); either says how the model reads
    the steps, which may follow another curve (its ``rel_rmse`` is kept). ``in_range`` says
    whether B_crit lies between the smallest and largest batch size fitted, i.e. is
    interpolated, not extrapolated; ``below_range`` whether the steps place it at all
    (`below_tested_range`).
    """
    b, s = _clean_points(batch_sizes, steps)
    n_sizes = int(np.unique(b).size)
    if n_sizes < MIN_BATCH_SIZES:
        return failed_fit(
            f"{FAILURE_HEADS['few']}{MIN_BATCH_SIZES} batch sizes with finite steps, got {n_sizes}",
            b.size,
        )
    s_min, e_min, at_zero = _solve(_design(b, s), float(b.min()), float(b.max()))
    rel_rmse = float(np.sqrt(np.mean((1 - predicted_steps(b, s_min, e_min) / s) ** 2)))
    if at_zero:
        return failed_fit(
            bound_reason(at_zero, float(b.min()), float(b.max()), rel_rmse),
            b.size,
            rel_rmse=rel_rmse,
            **(
                {"s_min": 0.0, "e_min": e_min, "b_crit": float("inf")}
                if at_zero == "s_min"
                else {"s_min": s_min, "e_min": 0.0, "b_crit": 0.0}
            ),
        )
    b_crit = float(e_min / s_min)
    return {
        "s_min": float(s_min),
        "e_min": float(e_min),
        "b_crit": b_crit,
        "rel_rmse": rel_rmse,
        "ok": True,
        "reason": "",
        "n_points": int(b.size),
        "in_range": bool(b.min() <= b_crit <= b.max()),
        "below_range": below_tested_range(b_crit, float(b.min())),
    }


def _seed_matrix(per_seed_table: pd.DataFrame, steps_col: str) -> tuple[np.ndarray, np.ndarray]:
    """Seeds x batch sizes matrix of steps: NaN = run absent, +inf = run censored.

    Censored (present but NaN) runs become +inf so that a median over seeds counts them as
    the slowest (as MLPerf does) instead of silently dropping them and looking faster.
    """
    needed = {"batch_size", "seed", steps_col}
    if missing := needed - set(per_seed_table.columns):
        raise ValueError(f"per-seed table lacks columns {sorted(missing)}")
    values = per_seed_table[["seed", "batch_size", steps_col]].copy()
    values[steps_col] = values[steps_col].astype(float).fillna(np.inf)
    grid = values.pivot_table(
        index="seed", columns="batch_size", values=steps_col, aggfunc="median"
    )
    return grid.columns.to_numpy(dtype=float), grid.to_numpy(dtype=float)


def _median_over_seeds(matrix: np.ndarray, axis: int = 0) -> np.ndarray:
    """Per-batch-size censored median over the seed ``axis`` (`stats.censored_medians`): absent
    runs (NaN) skipped, +inf when half or more of the present runs are censored; a batch size
    absent from every seed is NaN, which the fit then drops."""
    return censored_medians(matrix, axis=axis)


def resampled_b_crits(batch_sizes: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """B_crit of each row of ``steps`` (resamples x distinct batch sizes), NaN where not ok.

    Each row is fitted exactly as `fit_critical_batch` fits it (same points, same NNLS), so
    the values equal that function's ``b_crit`` where its ``ok`` is True; identical rows
    (frequent among seed resamples) are fitted once.
    """
    b = np.asarray(batch_sizes, dtype=float)
    if np.unique(b).size != b.size:
        raise ValueError(f"batch sizes must be distinct, got {b.tolist()}")
    s = np.asarray(steps, dtype=float).reshape(-1, b.size)
    keep = np.isfinite(s) & (s > 0) & np.isfinite(b) & (b > 0)
    design = _design(b, s)
    b_min = np.where(keep, b, np.inf).min(axis=1, initial=np.inf)
    b_max = np.where(keep, b, -np.inf).max(axis=1, initial=-np.inf)
    out = np.full(len(s), np.nan)
    fitted: dict[bytes, float] = {}
    for i in np.flatnonzero(keep.sum(axis=1) >= MIN_BATCH_SIZES):
        key = s[i].tobytes()
        if key not in fitted:
            s_min, e_min, at_zero = _solve(design[i, keep[i]], b_min[i], b_max[i])
            fitted[key] = np.nan if at_zero else e_min / s_min
        out[i] = fitted[key]
    return out


def bootstrap_critical_batch(
    per_seed_table: pd.DataFrame,
    n_boot: int = 1000,
    seed: int = 0,
    *,
    steps_col: str = "steps",
    level: float = 0.95,
) -> dict[str, Any]:
    """B_crit with a percentile CI from resampling seeds (whole seeds, all batch sizes at once).

    Each resample draws seeds with replacement, takes the median steps over the drawn seeds at
    every batch size (censored runs count as slowest; a batch size whose median is censored drops
    out of that fit) and refits. Resampling whole seeds keeps the pairing across batch sizes.
    The CI covers the resamples whose fit was ``ok``; ``n_boot_ok`` says how many that was.
    The resamples are one (n_boot, n_seeds) draw of ``default_rng(seed).integers``, the same
    numbers as n_boot successive draws of n_seeds.
    """
    sizes, matrix = _seed_matrix(per_seed_table, steps_col)
    point = fit_critical_batch(sizes, _median_over_seeds(matrix))
    n_seeds = matrix.shape[0]
    rows = np.random.default_rng(seed).integers(0, n_seeds, size=(n_boot, n_seeds))
    b_crits = resampled_b_crits(sizes, _median_over_seeds(matrix[rows], axis=1))
    draws = b_crits[~np.isnan(b_crits)]
    alpha = (1 - level) / 2
    lo, hi = np.quantile(draws, [alpha, 1 - alpha]) if draws.size else (np.nan, np.nan)
    return point | {
        "lo": float(lo),
        "hi": float(hi),
        "n_boot": n_boot,
        "n_boot_ok": int(draws.size),
        "n_seeds": n_seeds,
        "level": level,
    }


def critical_batch_finding(
    runs: pd.DataFrame, steps_col: str, settings: IntervalSettings
) -> dict[str, Any]:
    """B_crit of one condition and target, with what it rests on.

    The point fit uses the per-batch-size censored medians over seeds (the same numbers as
    the summary table and the scaling figure); batch sizes whose median is above the budget
    are ``not_reached`` and carry no point. ``extrapolated_low``/``_high`` flag an interval
    reaching beyond the fitted batch sizes (``below_range``, from the point fit: an estimate
    the steps do not place, `below_tested_range`); ``regimes`` are given for fitted batch
    sizes only.
    """
    fit = bootstrap_critical_batch(
        runs[["batch_size", "seed", steps_col]],
        n_boot=settings.n_boot,
        seed=settings.seed,
        steps_col=steps_col,
        level=settings.level,
    )
    sizes, matrix = _seed_matrix(runs[["batch_size", "seed", steps_col]], steps_col)
    medians = _median_over_seeds(matrix)
    reached = np.isfinite(medians)
    fitted = [int(b) for b in sizes[reached]]
    fit |= fitted_extent(fit, fitted) | {
        "not_reached": [int(b) for b in sizes[~reached]],
        "regimes": (
            {str(b): scaling_regime(b, fit["b_crit"]) for b in fitted} if fit["ok"] else {}
        ),
    }
    return fit


def fitted_extent(fit: dict[str, Any], fitted: list[int]) -> dict[str, Any]:
    """``fitted_sizes`` (the batch sizes with a point, ascending) and ``extrapolated_low`` /
    ``_high``: the fit's interval reaching below / above them (False without an interval)."""
    lo, hi = float(fit.get("lo", np.nan)), float(fit.get("hi", np.nan))
    return {
        "fitted_sizes": fitted,
        "extrapolated_low": bool(fitted and np.isfinite(lo) and lo < min(fitted)),
        "extrapolated_high": bool(fitted and np.isfinite(hi) and hi > max(fitted)),
    }


def scaling_regime(batch_size: float, b_crit: float) -> str:
    """Shallue et al.'s regime of one batch size given B_crit (thresholds: module constants).

    Below ``PERFECT_SCALING_BELOW * B_crit`` doubling B nearly halves the steps; above
    ``NO_FURTHER_GAIN_ABOVE * B_crit`` the steps are within 25% of their floor. Boundary values
    count as diminishing returns. An unusable B_crit (NaN, negative) gives 'unknown'.
    """
    if not (b_crit >= 0) or not np.isfinite(batch_size) or batch_size <= 0:
        return REGIME_UNKNOWN
    if batch_size < PERFECT_SCALING_BELOW * b_crit:
        return REGIME_PERFECT
    if batch_size > NO_FURTHER_GAIN_ABOVE * b_crit:
        return REGIME_NO_GAIN
    return REGIME_DIMINISHING


def below_tested_range(b_crit: float, smallest: float) -> bool:
    """A fitted B_crit that the measured steps do not place: the smallest fitted batch size is
    already in the no-further-gain regime (`scaling_regime`, B > `NO_FURTHER_GAIN_ABOVE` x
    B_crit), so every fitted S(B) = S_min (1 + B_crit/B) is within 25% of S_min and the fit
    only says that B_crit lies below the fitted range; printed as no estimate
    (`BELOW_RANGE_WORDS`). False for a non-finite B_crit or smallest B."""
    if not (np.isfinite(b_crit) and np.isfinite(smallest)):
        return False
    return scaling_regime(smallest, b_crit) == REGIME_NO_GAIN


#: How a B_crit `below_tested_range` is printed, why, and the Definitions' rule behind it.
BELOW_RANGE_WORDS = (
    f"below the fitted range (under 1/{NO_FURTHER_GAIN_ABOVE:g} of the smallest fitted batch "
    "size; no estimate)"
)
BELOW_RANGE_WHY = (
    f"the fit puts every fitted batch size within {1 / NO_FURTHER_GAIN_ABOVE:.0%} of the fewest "
    "steps S_min"
)
BELOW_RANGE_RULE = (
    f"A fitted B_crit below 1/{NO_FURTHER_GAIN_ABOVE:g} of the smallest fitted batch size is "
    f"printed as “B_crit {BELOW_RANGE_WORDS}”: the fit S(B) = S_min (1 + B_crit/B) then puts "
    f"every fitted batch size within {1 / NO_FURTHER_GAIN_ABOVE:.0%} of the fewest steps S_min "
    "(no further gain), so the "
    "fitted steps barely fall with B and do not place B_crit; no number or interval is given."
)


def perfect_scaling_line(batch_sizes: Sequence[float], steps: Sequence[float]) -> np.ndarray:
    """Steps under perfect scaling, anchored at the smallest batch size: S_ref * B_ref / B.

    The smallest batch size is the one most surely inside the perfect-scaling regime, so the
    gap between this line and the measured steps shows where scaling starts to fall short.
    Several entries at the smallest B (e.g. per seed) are combined by their median.
    """
    b = np.asarray(batch_sizes, dtype=float).ravel()
    s = np.asarray(steps, dtype=float).ravel()
    if b.shape != s.shape:
        raise ValueError(f"batch_sizes and steps need equal lengths, got {b.size} and {s.size}")
    if b.size == 0:
        return np.array([], dtype=float)
    b_ref = np.nanmin(b)
    s_ref = float(np.median(s[b == b_ref]))
    return s_ref * b_ref / b


def chance_headroom(kind: str, target: float, chance: float) -> float:
    """Share of the way from chance to a perfect score that a target asks for.

    ``kind`` 'accuracy': (target - chance) / (1 - chance), chance the majority class's share;
    'loss': (chance - target) / chance, chance ln(n_classes). 1 = a perfect score, 0 = chance
    itself, negative = worse than chance. NaN when chance or the target is unknown (NaN) or
    chance is already perfect (accuracy 1, loss 0).
    """
    if kind not in ("accuracy", "loss"):
        raise ValueError(f"unknown target kind {kind!r}")
    target, chance = float(target), float(chance)
    span = 1.0 - chance if kind == "accuracy" else chance
    if not (np.isfinite(target) and np.isfinite(chance)) or span <= 0:
        return float("nan")
    return (target - chance) / span if kind == "accuracy" else (chance - target) / span


def target_standing(kind: str, target: float, chance: float) -> str:
    """`STANDING_AT_CHANCE` where the target is no better than chance (headroom <= 0: no
    B_crit on it), `STANDING_NEAR_CHANCE` where it asks for less than `NEAR_CHANCE_SHARE` of
    the way to a perfect score, else `STANDING_CLEAR` (also when chance is unknown)."""
    share = chance_headroom(kind, target, chance)
    if not np.isfinite(share):
        return STANDING_CLEAR
    if share <= 0:
        return STANDING_AT_CHANCE
    return STANDING_NEAR_CHANCE if share < NEAR_CHANCE_SHARE else STANDING_CLEAR
