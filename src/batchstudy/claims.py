"""The seed article's four claims about batch size, stated precisely and tested on one condition.

Each claim function takes the per-run table of `batchstudy.metrics.run_metrics` and the
`batchstudy.metrics.summarize` table of one condition and returns `Verdict` objects whose
numbers are `batchstudy.stats.Effect` values. Comparisons are paired by seed (the study reuses
seeds across batch sizes). Every verdict comes from the one rule of `batchstudy.stats.judge`:
with a practical margin, an interval inside ±margin is *equivalent*, one wholly beyond it
*different*, anything else (or fewer than `batchstudy.stats.MIN_N` seeds) *inconclusive*.
A claim is *supported* when its effect is *different* in the claimed direction, *not
supported* when it is *equivalent* or *different* the other way, *inconclusive* otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import nnls
from scipy.stats import spearmanr

from . import formatting as fmt
from . import stats
from .metrics import CONDITION_KEYS, settled_below_target, target_suffixes
from .stats import DIFFERENT, EQUIVALENT, Effect, IntervalSettings

SUPPORTED = "supported"
NOT_SUPPORTED = "not supported"
INCONCLUSIVE = "inconclusive"
PARTLY = "holds for part of the range"

CLAIM_TIME_PER_EPOCH = "Larger batches take less time per epoch"
CLAIM_SETTLING = "Small batches stabilise in fewer epochs than large ones"
CLAIM_LOWER_ACCURACY = "Large batches end with lower test accuracy than the best batch size"
CLAIM_GAP = "… because of a generalization gap"
CLAIM_WALL_TIME = "Larger batches progress faster in wall time but not in epochs"
#: How the report numbers the claims: the article's four, the third split in two verdicts.
CLAIM_NUMBERS = {
    CLAIM_TIME_PER_EPOCH: "1",
    CLAIM_SETTLING: "2",
    CLAIM_LOWER_ACCURACY: "3a",
    CLAIM_GAP: "3b",
    CLAIM_WALL_TIME: "4",
}

# Practical margins: effects inside these are too small to matter for the claims.
TIME_RATIO_MARGIN = 1.10  # 10% in seconds or epochs
SETTLING_MARGIN_EPOCHS = 5.0  # the article's effect was ~20 epochs (~30 vs ~50)
ACCURACY_MARGIN = 0.01  # one accuracy point, below the ~1.7% per-run noise at n = 500
#: The values a seconds or epochs ratio is judged against (`Effect.boundaries`).
RATIO_BOUNDARIES = (1 / TIME_RATIO_MARGIN, TIME_RATIO_MARGIN)
# Claim 1: at least three batch sizes to call a trend, and a Spearman rho of the per-batch-size
# medians at or below this to call it decreasing.
MIN_BATCH_SIZES_FOR_TREND = 3
STRONG_DECREASE_RHO = -0.8
#: Claim 1's evidence names the fixed per-epoch cost when it is more than this share of the
#: largest batch size's fitted epoch time (`fixed_cost_note`) ...
FIXED_COST_SHARE = 0.5
#: ... and only when the fit of epoch time on steps per epoch explains at least this share of
#: the epoch times' variance (R²); below it the times show no linear trend with steps per epoch
#: and no split into fixed and per-step cost is drawn.
FIXED_COST_MIN_R2 = 0.8
#: ... and only from this many batch sizes on: two parameters on three points leave one
#: residual degree of freedom, where R² says little.
MIN_SIZES_FOR_COST_SPLIT = 4
#: Intervals of the timing stage's repeats (claims 1 and 4 when ``timing_repeats`` > 0): the
#: unit of replication is one repeat, which re-times every batch size once, interleaved.
METHOD_REPEAT_MEAN = "t-interval of log seconds over timing repeats (geometric mean)"
METHOD_REPEAT_RATIO = "paired t-interval of log-ratios over timing repeats (geometric mean)"
METHOD_WALL_PRODUCT = (
    "epochs ratio (bootstrap over seeds) × seconds-per-epoch ratio (paired t over timing "
    "repeats), each at half the error rate"
)
#: Why claims 1 and 4 give no wall-time verdict without the timing stage (``timing_repeats``
#: = 0): each batch size's seconds come from its own training job, and nothing bounds how
#: differently loaded the machine was during those jobs (on a shared machine one batch size's
#: epoch time has differed 2–3× between jobs, more than some effects in question).
NO_REPEATS_REASON = (
    "timing comes from one training job per batch size, and load differences between jobs are "
    "not bounded (set timing_repeats > 0 for a verdict)"
)
NO_WALL_VERDICT = f"No wall-time verdict: {NO_REPEATS_REASON}"
# Claim 2: batch sizes at or above this are "large"; "small" are the two smallest below it.
LARGE_BATCH_MIN = 64
N_SMALL_BATCHES = 2


@dataclass(frozen=True)
class Verdict:
    """Outcome of one claim: what exactly was tested (``statement``), the verdict, the
    evidence in words, and the effects behind it. ``holds_for`` lists the batch sizes where a
    claim judged across batch sizes holds."""

    claim: str
    statement: str
    verdict: str
    evidence: str
    effects: dict[str, Effect] = field(default_factory=dict)
    holds_for: list[int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "claim": self.claim,
            "number": CLAIM_NUMBERS.get(self.claim, ""),
            "statement": self.statement,
            "verdict": self.verdict,
            "evidence": self.evidence,
            "effects": {k: e.to_dict() for k, e in self.effects.items()},
            "holds_for": self.holds_for,
        }


# --------------------------------------------------------------------------- shared helpers


def claim_entry(found: Mapping[str, Any], claim: str) -> dict[str, Any]:
    """The verdict dict of ``claim`` in one condition's findings (``found["claims"]``)."""
    return next(c for c in found["claims"] if c["claim"] == claim)


def one_condition(runs: pd.DataFrame) -> pd.DataFrame:
    """Claims compare batch sizes within one condition; mixing conditions would pair wrongly."""
    keys = [k for k in CONDITION_KEYS if k in runs.columns]
    if keys and len(runs[keys].drop_duplicates()) > 1:
        raise ValueError("claims are evaluated on one condition at a time; got several")
    return runs


def batch_sizes(runs: pd.DataFrame) -> list[int]:
    return sorted(int(b) for b in runs["batch_size"].unique())


def per_seed(runs: pd.DataFrame, column: str, sizes: list[int]) -> pd.DataFrame:
    """Seeds x batch sizes table of one metric (NaN where a run is missing)."""
    table = runs.set_index(["seed", "batch_size"])[column].astype(float).unstack("batch_size")
    return table.reindex(columns=sizes)


def drift_fold(drift: float) -> float:
    """A within-job drift (last epochs' time over the first's) as a fold change >= 1: a
    slow-down of 2 and a speed-up of 0.5 are both 2-fold."""
    return max(drift, 1 / drift)


def directional(effect: Effect, direction: int, margin: float | None = None) -> str:
    """Claim verdict from an effect's three-way verdict and the claimed sign. With `margin`,
    an inconclusive effect whose interval excludes a change of at least the margin in the
    claimed direction (direction +1: upper end below +margin) is not supported either: the
    claimed effect is ruled out, only its opposite or nothing remains possible."""
    if effect.verdict == EQUIVALENT:
        return NOT_SUPPORTED
    if effect.verdict == DIFFERENT:
        return SUPPORTED if np.sign(effect.estimate) == direction else NOT_SUPPORTED
    if (
        margin is not None
        and effect.n >= stats.MIN_N
        and direction * _far_end(effect, direction) < margin
    ):
        return NOT_SUPPORTED
    return INCONCLUSIVE


def _far_end(effect: Effect, direction: int) -> float:
    """The interval's end in the claimed direction (upper for +1, lower for -1)."""
    return effect.hi if direction > 0 else effect.lo


def _inconclusive(claim: str, statement: str, reason: str) -> Verdict:
    return Verdict(claim, statement, INCONCLUSIVE, reason)


#: The column the best batch size is chosen on, and the words that say so, with and without a
#: validation split of the dataset's own (without one, the test split serves as validation).
CHOICE_COLUMNS = {True: "final_val_accuracy", False: "final_test_accuracy"}
CHOICE_WORDS = {
    True: "chosen on the final validation accuracy; the test split only reports",
    False: "chosen on the test split, which serves as validation",
}
TIE_WORDS = "ties go to the smaller batch size"


def best_choice(own_validation: bool) -> str:
    """How the best batch size is chosen, in words (`CHOICE_WORDS`, `TIE_WORDS`)."""
    return f"{CHOICE_WORDS[own_validation]}; {TIE_WORDS}"


def best_batch_size(runs: pd.DataFrame, own_validation: bool = False) -> int | None:
    """The batch size with the highest mean of `CHOICE_COLUMNS` [own_validation] over seeds;
    ties go to the smaller batch size; ``None`` when no batch size has a finite mean (or the
    run table lacks the column)."""
    column = CHOICE_COLUMNS[own_validation]
    if column not in runs.columns:
        return None
    means = per_seed(runs, column, batch_sizes(runs)).mean(axis=0, skipna=True).dropna()
    return None if means.empty else int(means[means == means.max()].index.min())


def family_size(n_sizes: int, own_validation: bool) -> int:
    """How many simultaneous intervals the comparisons with the best batch size stand for.

    Chosen on a validation split of the dataset's own, the best is independent of the test
    numbers: the family is its ``n_sizes - 1`` comparisons. Chosen on the test split itself,
    the reference is picked by the very numbers compared, so the family is every pair of batch
    sizes, ``n_sizes (n_sizes - 1) / 2``: Bonferroni over all pairs holds for whichever pair
    the data picked, so the selection cannot make the intervals over-claim.
    """
    others = max(n_sizes - 1, 0)
    return others if own_validation else n_sizes * others // 2


def family_words(n_sizes: int, best: int | None, own_validation: bool) -> str:
    """The family of `accuracy_vs_best` in words: which comparisons, how many, and why."""
    m = family_size(n_sizes, own_validation)
    if own_validation:
        return (
            f"family: the {m} comparisons of every other batch size with B = {best}, "
            f"{stats.FAMILY_BONFERRONI} intervals"
        )
    return (
        f"family: all {m} pairs of the {n_sizes} batch sizes, {stats.FAMILY_BONFERRONI} "
        f"intervals, because B = {best} was chosen on the same test split"
    )


def accuracy_vs_best(
    runs: pd.DataFrame,
    settings: IntervalSettings,
    column: str = "final_test_accuracy",
    own_validation: bool = False,
) -> tuple[int | None, dict[int, Effect]]:
    """Every batch size against the best one (`best_batch_size`: chosen on validation when the
    dataset has a validation split of its own, else on the test split that serves as one),
    ``column`` compared paired by seed, as one family.

    The comparisons get Bonferroni-simultaneous intervals over `family_size` members (each at
    level 1 - alpha/m: the other batch sizes, or every pair when the best was chosen on the
    test split) and the three-way verdict with `ACCURACY_MARGIN`. Effects are (other - best).
    ``None`` when no batch size has a finite mean.
    """
    sizes = batch_sizes(runs)
    table = per_seed(runs, column, sizes)
    best = best_batch_size(runs, own_validation)
    if best is None:
        return None, {}
    others = [b for b in sizes if b != best]
    member = settings.family(family_size(len(sizes), own_validation))
    out = {
        b: stats.judge(
            stats.paired_mean_difference(table[b], table[best], member, stats.value_range(column)),
            ACCURACY_MARGIN,
            member,
        )
        for b in others
    }
    return best, out


# --------------------------------------------------------------------------- timing repeats


def repeat_table(repeats: pd.DataFrame | None, sizes: list[int]) -> pd.DataFrame | None:
    """Repeats x batch sizes table of seconds per model-epoch from the timing stage's rows of
    one job key (aggregate ``timing_repeats.tsv``), NaN where a batch size was not re-timed;
    ``None`` when there are no repeats (``timing_repeats`` = 0) or none of `sizes` was timed.
    """
    if repeats is None or repeats.empty:
        return None
    if repeats.duplicated(["repeat", "batch_size"]).any():
        raise ValueError("timing repeats of several jobs: select one condition's job key first")
    table = (
        repeats.astype({"batch_size": int})
        .set_index(["repeat", "batch_size"])["seconds_per_epoch"]
        .astype(float)
        .unstack("batch_size")
        .reindex(columns=sizes)
    )
    return None if table.isna().all().all() else table


def n_repeats(table: pd.DataFrame) -> int:
    return int(table.shape[0])


def repeat_unit(table: pd.DataFrame) -> str:
    """The unit of replication of timing intervals from the timing stage, in words."""
    return (
        f"one timing repeat ({n_repeats(table)} interleaved timing repeats, each re-timing "
        "every batch size once in a shuffled order), so the intervals are over independent "
        "repeats"
    )


def _exp(e: Effect, method: str) -> Effect:
    """An effect on the log scale back on the ratio scale (geometric mean), renamed."""
    return replace(
        e,
        estimate=float(np.exp(e.estimate)),
        lo=float(np.exp(e.lo)),
        hi=float(np.exp(e.hi)),
        method=method,
    )


def repeat_seconds(table: pd.DataFrame, b: int, settings: IntervalSettings) -> Effect:
    """Geometric-mean seconds per model-epoch of batch size ``b`` over the repeats, with the
    exponentiated t-interval of the log seconds (times are log-normal-like)."""
    x = table[b].to_numpy(dtype=float)
    x = x[np.isfinite(x) & (x > 0)]
    return _exp(stats.t_interval(np.log(x), settings), METHOD_REPEAT_MEAN)


def repeat_ratio(table: pd.DataFrame, b: int, ref: int, settings: IntervalSettings) -> Effect:
    """Seconds per model-epoch of ``b`` over ``ref``, paired by repeat: geometric-mean ratio
    with the t-interval of the per-repeat log-ratios (`stats.paired_ratio`)."""
    return replace(stats.paired_ratio(table[b], table[ref], settings), method=METHOD_REPEAT_RATIO)


def judge_ratio(ratio: Effect, margin: float, settings: IntervalSettings) -> Effect:
    """`stats.judge` on the log scale: a ratio interval inside (1/margin, margin) is
    equivalent, one wholly beyond it different, anything else (or too few pairs) inconclusive.
    Its boundaries are 1/margin and margin.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = replace(
            ratio, estimate=np.log(ratio.estimate), lo=np.log(ratio.lo), hi=np.log(ratio.hi)
        )
    verdict = stats.judge(logs, float(np.log(margin)), settings).verdict
    return replace(ratio, verdict=verdict, boundaries=(1 / margin, margin))


# --------------------------------------------------------------------------- claim 1


def claim_time_per_epoch(
    summary: pd.DataFrame, settings: IntervalSettings, repeats: pd.DataFrame | None = None
) -> Verdict:
    """Claim 1: seconds per epoch fall as the batch size grows.

    With the timing stage's ``repeats`` (rows of this condition's job key), the unit of
    replication is one repeat: see `_time_per_epoch_repeats`. Without them, one training
    job per batch size, clocked as its engine trains (`timing_streams_words`: the fused
    engine's replicas share one clock, the Keras engine's run one after another); the
    intervals are over that job's epochs and describe its timing only, not repeat runs. The
    per-batch-size medians, their Spearman rho and the range of the smallest over the largest
    batch size's epoch-time interval are reported, but the verdict is inconclusive
    (`NO_WALL_VERDICT`): load differences between the jobs could produce any of them. Either
    way the evidence names a fixed per-epoch cost that dominates the largest batch size's
    fitted epoch time when the fit of epoch time on steps per epoch is good, or says that
    there is no such linear trend (`fixed_cost_note`, from the summary's ``steps_per_epoch``).
    """
    sizes = sorted(int(b) for b in summary["batch_size"])
    table = repeat_table(repeats, sizes)
    if table is not None:
        return _time_per_epoch_repeats(
            table.dropna(axis=1, how="all"), settings, _steps_per_epoch(summary)
        )
    claim, statement = (
        CLAIM_TIME_PER_EPOCH,
        "median seconds per model-epoch decrease with B across the tested batch sizes",
    )
    s = summary.dropna(subset=["seconds_per_epoch_median"]).sort_values("batch_size")
    sizes = [int(b) for b in s["batch_size"]]
    if len(sizes) < MIN_BATCH_SIZES_FOR_TREND:
        return _inconclusive(
            claim, statement, f"{fmt.sizes(sizes)} timed: a trend needs three batch sizes"
        )
    med = s["seconds_per_epoch_median"].to_numpy(dtype=float)
    rho = _rho(sizes, med)
    first, last = s.iloc[0], s.iloc[-1]
    ratio_lo = first["seconds_per_epoch_lo"] / last["seconds_per_epoch_hi"]
    ratio_hi = first["seconds_per_epoch_hi"] / last["seconds_per_epoch_lo"]
    point = first["seconds_per_epoch_median"] / last["seconds_per_epoch_median"]
    trend = ", ".join(
        f"B = {int(r.batch_size)}: {fmt.seconds(r.seconds_per_epoch_median)}"
        for r in s.itertuples()
    )
    evidence = (
        f"Median time per model-epoch {trend}; Spearman ρ of the medians over B "
        f"{fmt.correlation(rho)}. B = {sizes[0]} takes {fmt.ratio(point)} "
        f"the time of B = {sizes[-1]} (range of the two epoch intervals "
        f"{fmt.end(ratio_lo, 'ratio', RATIO_BOUNDARIES)} to "
        f"{fmt.end(ratio_hi, 'ratio', RATIO_BOUNDARIES)}). {NO_WALL_VERDICT}. "
        + _stream_note(s, sizes)
        + fixed_cost_note(_steps_per_epoch(summary), dict(zip(sizes, med, strict=True)))
    )
    return Verdict(claim, statement, INCONCLUSIVE, evidence)


def _rho(sizes: list[int], values: np.ndarray) -> float:
    """Spearman rho of per-batch-size times over B; equal times everywhere have no rank
    correlation: no trend, rho = 0."""
    return 0.0 if np.ptp(values) == 0 else float(spearmanr(sizes, values).statistic)


def _steps_per_epoch(summary: pd.DataFrame) -> dict[int, float]:
    """Batch size -> optimizer steps per epoch, from the summary (empty without the column)."""
    if "steps_per_epoch" not in summary.columns:
        return {}
    sizes, steps = summary["batch_size"].astype(int), summary["steps_per_epoch"].astype(float)
    return dict(zip(sizes, steps, strict=True))


def epoch_cost_parts(steps: Any, seconds: Any) -> tuple[float, float, float] | None:
    """Seconds per epoch = fixed + per_step × steps per epoch, fitted by least squares to one
    condition's per-batch-size epoch times with both parts >= 0 (non-negative least squares:
    a negative cost has no meaning). Returns (fixed seconds per epoch, seconds per step, R²),
    R² = 1 - residual / total sum of squares, in [0, 1] (the constrained fit is never worse
    than the mean, which it can express); equal times everywhere are fitted exactly by the
    fixed part alone: R² = 1. ``None`` with fewer than `MIN_BATCH_SIZES_FOR_TREND` distinct
    step counts (two points fit any line) after non-finite pairs are dropped."""
    x, y = np.asarray(steps, dtype=float), np.asarray(seconds, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if np.unique(x).size < MIN_BATCH_SIZES_FOR_TREND:
        return None
    (fixed, per_step), _ = nnls(np.column_stack([np.ones_like(x), x]), y)
    residual = float(np.sum((y - fixed - per_step * x) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 if total == 0 else max(0.0, 1.0 - residual / total)
    return float(fixed), float(per_step), r2


#: How claim 1 fits epoch time on steps per epoch, in words (`epoch_cost_parts`).
COST_FIT_WORDS = (
    "least squares of seconds per epoch = fixed + per step × steps per epoch over the batch sizes"
)


def fixed_cost_note(steps: Mapping[int, float], seconds: Mapping[int, float]) -> str:
    """Claim 1's caveat when fixed per-epoch cost dominates: from `epoch_cost_parts` over the
    batch sizes in both mappings. With R² >= `FIXED_COST_MIN_R2` and the fixed part more than
    `FIXED_COST_SHARE` of the fitted epoch time at the largest batch size, a sentence with
    the numbers; with a lower R², a sentence that the times show no linear trend with steps
    per epoch and no split is made; else empty (also when the fit cannot be made)."""
    sizes = sorted(b for b in seconds if b in steps)
    parts = epoch_cost_parts([steps[b] for b in sizes], [seconds[b] for b in sizes])
    if parts is None:
        return ""
    fixed, per_step, r2 = parts
    fit = f"{COST_FIT_WORDS}, R² = {fmt.correlation(r2)}"
    if len(sizes) < MIN_SIZES_FOR_COST_SPLIT:
        return (
            f" {fmt.counted(len(sizes), 'batch size')} leave too few degrees of freedom to split "
            "fixed from per-step cost: no split is made."
        )
    if r2 < FIXED_COST_MIN_R2:
        return (
            f" A straight line of epoch time on steps per epoch fits too loosely to split "
            f"fixed from per-step cost ({fit}, below the {fmt.correlation(FIXED_COST_MIN_R2)} "
            "needed): no split is made."
        )
    epoch = fixed + per_step * steps[sizes[-1]]
    if not epoch > 0 or fixed / epoch <= FIXED_COST_SHARE:
        return ""
    return (
        f" Fixed cost per epoch ({fit}): {fmt.seconds(fixed)} per epoch is fixed cost, "
        f"{fmt.seconds(per_step)} per step: at B = {sizes[-1]} the fixed part is "
        f"{fmt.percent(fixed / epoch)} of the fitted epoch time: these epoch times mostly "
        "measure what every epoch costs once (its evaluations, the engine's per-epoch "
        "overhead), not the batches' work."
    )


def rates_per_job(s: pd.DataFrame) -> int | None:
    """How many learning rates (arm x base rate) one job trains, from the summary rows of a
    condition: the fused engine's replicas per job over the condition's runs per batch size
    (every rate of a job trains all seeds). ``None`` where the summary cannot say: without
    those columns, and with the Keras engine, whose timing rows count one replica at a time."""
    if not {"engine", "replicas", "n_runs"} <= set(s.columns) or (s["engine"] != "fused").any():
        return None
    per_rate = s["n_runs"].astype(float).max()
    return int(round(s["replicas"].astype(float).max() / per_rate)) if per_rate > 0 else None


def timing_streams_words(s: pd.DataFrame) -> str:
    """How one job's epochs were clocked, per engine and number of learning rates: the fused
    engine trains every replica of a job together on one clock (one timing stream); the Keras
    engine trains them one after another (sequential streams, one per seed, each rate of a
    seed after the other). Without an ``engine`` column the summary's ``timing_streams``
    decides (1: one shared clock)."""
    streams = int(s["timing_streams"].max())
    engines = set(s["engine"].astype(str)) if "engine" in s.columns else set()
    if engines == {"keras"} or (not engines and streams > 1):
        return (
            "the job's replicas train one after another (Keras engine), each seed on its own "
            f"stretch of the job's clock ({streams} sequential timing streams per job, one per "
            "seed; where the job trains several learning rates, each rate's seeds after the "
            "previous rate's)"
        )
    rates = rates_per_job(s)
    if rates == 1:
        shared = "all seeds of the job, at its one learning rate, train together on one clock"
    elif rates:
        shared = (
            f"all {rates} learning-rate settings (arms or rates) of the job, each with every "
            "seed, train together on one clock"
        )
    else:
        shared = "all replicas of the job train together on one clock"
    return f"{shared} (one timing stream per job)"


def _stream_note(s: pd.DataFrame, sizes: list[int]) -> str:
    """Unit of replication and drift within a job when timings come from the training jobs."""
    drift = s["timing_drift"].to_numpy(dtype=float)
    worst = int(np.argmax(np.abs(np.log(drift))))
    factor = drift_fold(drift[worst])
    drift_note = (
        f"; that is more than the {fmt.number(TIME_RATIO_MARGIN)}× margin, so time "
        "differences of that size between batch sizes are not reliable"
        if factor > TIME_RATIO_MARGIN
        else ""
    )
    return (
        f"Unit of replication: one training job per batch size: {timing_streams_words(s)}; "
        "the intervals are over that job's epochs, which share its machine state, so they are "
        "not intervals over independent repeats. "
        f"Drift within a job: up to a {fmt.number(factor)}-fold change (the last epochs took "
        f"{fmt.ratio(drift[worst])} the time of the first, B = {sizes[worst]}){drift_note}."
    )


def _time_per_epoch_repeats(
    table: pd.DataFrame, settings: IntervalSettings, steps: Mapping[int, float]
) -> Verdict:
    """Claim 1 on the timing stage's repeats: per batch size the geometric-mean seconds per
    model-epoch over repeats; the smallest against the largest batch size paired by repeat
    (`repeat_ratio`, judged with `TIME_RATIO_MARGIN` by `judge_ratio`). Supported when the
    geometric means decrease (rho <= `STRONG_DECREASE_RHO`) and the ratio is *different* above
    1; not supported when rho >= 0, the ratio is *equivalent* or *different* below 1;
    inconclusive otherwise, and always with fewer than `stats.MIN_N` repeats.
    """
    claim = CLAIM_TIME_PER_EPOCH
    statement = (
        "seconds per model-epoch (geometric mean over timing repeats) decrease with B across "
        "the tested batch sizes"
    )
    sizes = [int(b) for b in table.columns]
    if len(sizes) < MIN_BATCH_SIZES_FOR_TREND:
        return _inconclusive(
            claim, statement, f"{fmt.sizes(sizes)} timed: a trend needs three batch sizes"
        )
    per_b = {b: repeat_seconds(table, b, settings) for b in sizes}
    rho = _rho(sizes, np.array([per_b[b].estimate for b in sizes]))
    ratio = judge_ratio(
        repeat_ratio(table, sizes[0], sizes[-1], settings), TIME_RATIO_MARGIN, settings
    )
    if ratio.n < settings.min_n:
        verdict = INCONCLUSIVE
    elif rho <= STRONG_DECREASE_RHO and ratio.verdict == DIFFERENT and ratio.estimate > 1:
        verdict = SUPPORTED
    elif rho >= 0 or ratio.verdict == EQUIVALENT or ratio.verdict == DIFFERENT:
        verdict = NOT_SUPPORTED
    else:
        verdict = INCONCLUSIVE
    trend = ", ".join(f"B = {b}: {fmt.interval(e, 'seconds')}" for b, e in per_b.items())
    evidence = (
        f"Seconds per model-epoch, geometric mean over repeats with its t-interval: {trend}; "
        f"Spearman ρ over B {fmt.correlation(rho)}. B = {sizes[0]} over B = {sizes[-1]}, "
        f"paired by repeat: {fmt.effect(ratio, 'ratio')}, margin "
        f"{fmt.number(TIME_RATIO_MARGIN)}× ({ratio.verdict}). Unit of replication: "
        f"{repeat_unit(table)}." + fixed_cost_note(steps, {b: e.estimate for b, e in per_b.items()})
    )
    effects = {f"seconds_per_epoch_{b}": e for b, e in per_b.items()} | {"seconds_ratio": ratio}
    return Verdict(claim, statement, verdict, evidence, effects)


# --------------------------------------------------------------------------- claim 2


#: What a run that never settled stands for, in claim 2 and in the Settling paragraph alike.
BEYOND_BUDGET = (
    "a still-moving or loss-rising run settles after the budget if at all, a budget-limited "
    "one entered its band only in the budget's last epochs, and under a budget too short to "
    "settle nothing is measured"
)
#: How a per-seed value that involves a run counted at the budget reads (`Effect.n_censored`).
LOWER_BOUND_WORDS = "per-seed values are lower bounds: runs counted at the budget"


def claim_small_batches_settle_sooner(
    runs: pd.DataFrame, settings: IntervalSettings, large_min: int = LARGE_BATCH_MIN
) -> Verdict:
    """Claim 2: the two smallest batch sizes settle in fewer epochs than those >= ``large_min``.

    Runs that never settled within the budget (`batchstudy.metrics.settling_epoch`: also the
    budget-limited ones) are counted at the budget (their last epoch), never dropped: their
    true value is above it, so the values are lower bounds. Per seed, each group's value is the
    median over its batch sizes. Where each group has a run that settled, the paired
    t-interval of (small - large) with margin `SETTLING_MARGIN_EPOCHS`, clipped to ±budget,
    decides (`_censored_settling` keeps only what censoring cannot have produced). Where every
    run of a group is censored, only a one-sided bound is available (`_settling_bound`). Runs
    that settled at a plateau below the first accuracy target are counted apart
    (`settled_below_counts`); they do not change the verdict.
    """
    claim = CLAIM_SETTLING
    sizes = batch_sizes(runs)
    small = [b for b in sizes if b < large_min][:N_SMALL_BATCHES]
    large = [b for b in sizes if b >= large_min]
    statement = (
        f"median settling epoch of {fmt.sizes(small)} is lower than that of {fmt.sizes(large)}"
    )
    if not small or not large:
        return _inconclusive(
            claim, statement, f"needs batch sizes below and from {large_min} on; ran {sizes}"
        )
    settled = runs["settling_epoch"].astype(float)
    at_least = runs.assign(settle=settled.fillna(runs["n_epochs"].astype(float)))
    table = per_seed(at_least, "settle", sizes)
    groups = {"small": small, "large": large}
    censored = {
        name: bool(runs.loc[runs["batch_size"].isin(g), "settling_epoch"].isna().all())
        for name, g in groups.items()
    }
    below = settled_below_counts(runs, sizes)
    tail = (
        " The article reported about 30 vs about 50 epochs. Per epoch is not per update: the "
        "Settling paragraph gives the same point in optimizer steps."
    )
    if any(censored.values()):
        unsettled = (
            f" Runs that never settled, counted at the budget ({BEYOND_BUDGET}): "
            f"{unsettled_counts(runs, sizes)}."
        )
        verdict, evidence, effects = _settling_bound(runs, table, groups, censored, settings)
        return Verdict(claim, statement, verdict, evidence + unsettled + below + tail, effects)
    budget = (0.0, float(runs["n_epochs"].max()))
    diff = stats.judge(
        stats.paired_mean_difference(
            table[small].median(axis=1), table[large].median(axis=1), settings, budget
        ),
        SETTLING_MARGIN_EPOCHS,
        settings,
    )
    verdict, caveat = _censored_settling(directional(diff, -1), diff, runs, small, large)
    evidence = (
        f"Paired difference (small − large) of the per-seed median settling epoch, in epochs: "
        f"{fmt.effect(diff, 'count_difference')}, margin "
        f"±{fmt.number(SETTLING_MARGIN_EPOCHS)} epochs ({diff.verdict})."
        f"{_counted_at_budget(runs, sizes, groups)}{caveat}{below}"
    )
    return Verdict(claim, statement, verdict, evidence + tail, {"difference": diff})


def _counted_at_budget(runs: pd.DataFrame, sizes: list[int], groups: dict[str, list[int]]) -> str:
    """Claim 2's paired-t path: what counting the runs that never settled at the budget does to
    the interval, with how many of each group's runs that is and why, per batch size."""
    never = {name: _never(runs, g) for name, g in groups.items()}
    if all(w.startswith("0 ") for w in never.values()):
        return " Every run settled within the budget."
    return (
        f" Runs that never settled are counted at the budget ({never['small']} small-batch "
        f"and {never['large']} large-batch runs; {BEYOND_BUDGET}), so the interval is not "
        f"exact; per batch size: {unsettled_counts(runs, sizes)}."
    )


def settled_below_counts(runs: pd.DataFrame, sizes: list[int]) -> str:
    """Per batch size, how many runs settled at a plateau below the condition's first accuracy
    target (`batchstudy.metrics.settled_below_target`), as a sentence; "" when none did."""
    below = settled_below_target(runs)
    out = [
        f"B = {b}: {int(below[mine].sum())} of {int(mine.sum())}"
        for b in sizes
        if below[mine := runs["batch_size"] == b].any()
    ]
    if not out:
        return ""
    return (
        " Settled below the target (flat at a plateau under the first accuracy target, "
        f"counted as settled): {'; '.join(out)}."
    )


def unsettled_causes(runs: pd.DataFrame, b: int) -> tuple[int, str]:
    """How many of batch size ``b``'s runs never settled, and why, e.g. ``(3, "2 loss rising,
    1 still moving")`` from the run table's ``settle_status``
    (`batchstudy.metrics.SETTLE_STATUSES`; empty words where it has none)."""
    status = runs.get("settle_status", pd.Series("", index=runs.index)).fillna("").astype(str)
    why = status[(runs["batch_size"] == b) & runs["settling_epoch"].isna()]
    kinds = [f"{n} {k}" for k, n in why.value_counts().sort_index().items() if k]
    return len(why), ", ".join(kinds)


def unsettled_counts(runs: pd.DataFrame, sizes: list[int]) -> str:
    """Per batch size, how many runs never settled and why (`unsettled_causes`); "none" when
    every run settled."""
    out = []
    for b in sizes:
        k, kinds = unsettled_causes(runs, b)
        if k:
            detail = f" ({kinds})" if kinds else ""
            out.append(f"B = {b}: {k} of {int((runs['batch_size'] == b).sum())}{detail}")
    return "; ".join(out) if out else "none"


def _lower_bounds(runs: pd.DataFrame, group: list[int], sizes: list[int]) -> pd.Series:
    """Per seed, whether the group's per-seed median settling epoch involves a run counted at
    the budget: such a value is only a lower bound of the true one."""
    never = runs.assign(never=runs["settling_epoch"].isna().astype(float))
    return per_seed(never, "never", sizes)[group].fillna(0.0).gt(0).any(axis=1)


def _settling_bound(
    runs: pd.DataFrame,
    table: pd.DataFrame,
    groups: dict[str, list[int]],
    censored: dict[str, bool],
    settings: IntervalSettings,
) -> tuple[str, str, dict[str, Effect]]:
    """Claim 2 where every run of one group never settled: only a one-sided bound.

    A wholly censored group's every value exceeds its budget (the fewest epochs its runs
    trained), so the other group is compared with that budget: with the large group censored,
    "small sooner" is supported when the upper end of the t-interval of the small group's
    per-seed median settling epoch (clipped to [0, its budget]) lies below the large group's
    budget minus `SETTLING_MARGIN_EPOCHS`; with the small group censored, it is not supported
    when the large group's upper end lies below the small group's budget minus the margin.
    Both verdicts rest on that upper end, so where any per-seed value of the other group
    involves a run counted at the budget (a lower bound: ``n_censored`` of the effect), the
    upper end bounds nothing and the verdict is inconclusive. So it is, too, with both groups
    censored or with fewer than `batchstudy.stats.MIN_N` seeds.
    """
    budget = {
        name: float(runs.loc[runs["batch_size"].isin(g), "n_epochs"].min())
        for name, g in groups.items()
    }
    words = {
        name: f"{fmt.sizes(g)}: > budget ({_never(runs, g)} never settled)"
        for name, g in groups.items()
    }
    if all(censored.values()):
        return INCONCLUSIVE, f"No run settled within the budget: {'; '.join(words.values())}.", {}
    other = "small" if censored["large"] else "large"
    done = "large" if other == "small" else "small"
    values = table[groups[other]].median(axis=1)
    top = float(runs.loc[runs["batch_size"].isin(groups[other]), "n_epochs"].max())
    e = stats.t_interval(values, settings, bounds=(0.0, top))
    bounds = _lower_bounds(runs, groups[other], list(table.columns))[values.notna()]
    e = replace(e, n_censored=int(bounds.sum()))
    limit = budget[done] - SETTLING_MARGIN_EPOCHS
    below = bool(np.isfinite(e.hi) and e.hi < limit)
    clear = below and e.n >= stats.MIN_N and e.n_censored == 0
    verdict = (SUPPORTED if other == "small" else NOT_SUPPORTED) if clear else INCONCLUSIVE
    first, second = ("small", "large") if other == "small" else ("large", "small")
    where = "it is" if below else "it is not" if np.isfinite(e.hi) else "no upper end (one seed)"
    why = (
        ""
        if e.n_censored == 0 or not below
        else "; but with per-seed values that are lower bounds, that upper end bounds nothing "
        "and cannot carry a verdict"
    )
    evidence = (
        f"Only a one-sided bound is available: {words[done]}, every run counted at "
        f"the budget, so each of their settling epochs exceeds {fmt.number(budget[done])} "
        f"and {first} − {second} < {first} − {fmt.number(budget[done])}. Per-seed median "
        f"settling epoch of {fmt.sizes(groups[other])}: "
        f"{fmt.effect(e, 'count', LOWER_BOUND_WORDS)}"
        + (
            f" (upper end clipped at the budget, {fmt.number(top)}, the most a value counted "
            "at it can be)"
            if e.hi == top
            else ""
        )
        + "; the "
        f"verdict needs its upper end below the budget minus the margin "
        f"({fmt.number(budget[done])} − {fmt.number(SETTLING_MARGIN_EPOCHS)} = "
        f"{fmt.number(limit)}): {where}{why}"
        + ("." if e.n >= stats.MIN_N else f"; {e.n} seeds are too few for a verdict.")
    )
    return verdict, evidence, {f"{other}_median": e}


def _never(runs: pd.DataFrame, group: list[int]) -> str:
    """ "k of n" runs of a group that never settled."""
    mine = runs.loc[runs["batch_size"].isin(group), "settling_epoch"]
    return f"{int(mine.isna().sum())} of {len(mine)}"


def _censored_settling(
    verdict: str, diff: Effect, runs: pd.DataFrame, small: list[int], large: list[int]
) -> tuple[str, str]:
    """Keep only the verdicts that censoring at the budget cannot have produced.

    A still-moving run counted at the budget understates its settling epoch, so any such run
    in a group pulls that group's values down: small batches "sooner" (supported) needs every
    small-batch run settled, large batches "not later" (equivalent or sooner) needs every
    large-batch run settled, and equivalence needs both.
    """
    share = {
        name: float(runs.loc[runs["batch_size"].isin(group), "settling_epoch"].isna().mean())
        for name, group in (("small", small), ("large", large))
    }
    some = {name: s > 0 for name, s in share.items()}
    if verdict == SUPPORTED:
        favoured = ["small"]
    elif verdict == NOT_SUPPORTED and diff.verdict == EQUIVALENT:
        favoured = ["small", "large"]
    elif verdict == NOT_SUPPORTED and diff.estimate > 0:
        favoured = ["large"]
    else:
        favoured = []
    unsafe = [name for name in favoured if some[name]]
    if not unsafe:
        return verdict, ""
    return INCONCLUSIVE, (
        f" Some of the {' and '.join(unsafe)} batch sizes' runs never settled within the "
        "budget; counted at it they pull that group's values down, in the verdict's favour, so "
        "they cannot carry this verdict."
    )


# --------------------------------------------------------------------------- claim 3


def _claim3_statements(largest: int, own_validation: bool) -> tuple[str, str]:
    """What claims 3a and 3b test, in words, for the largest batch size."""
    best = f"the best batch size ({best_choice(own_validation)})"
    return (
        f"mean final test accuracy at B = {largest} is lower than at {best}",
        f"the gap (train − test accuracy, train on the whole training split) is larger at "
        f"B = {largest} than at the best batch size",
    )


def _claim3_without_comparison(
    sizes: list[int], best: int | None, statements: tuple[str, str], family: dict[int, Effect]
) -> list[Verdict] | None:
    """Both verdicts when no comparison can be made: inconclusive with fewer than two batch
    sizes (or no finite accuracy); when the largest batch size is the best (by its mean), not
    supported only if no other batch size can be practically higher (every interval of the
    family, other − largest, ends below +`ACCURACY_MARGIN`), else inconclusive: being best by
    a point estimate does not show the loss absent. ``None`` when the comparison can be made."""
    s3a, s3b = statements
    if best is None or len(sizes) < 2:
        why = f"needs two batch sizes with finite accuracies; ran {sizes}"
        return [
            _inconclusive(CLAIM_LOWER_ACCURACY, s3a, why),
            _inconclusive(CLAIM_GAP, s3b, why),
        ]
    if best != sizes[-1]:
        return None
    open_up = [b for b, e in family.items() if not (np.isfinite(e.hi) and e.hi < ACCURACY_MARGIN)]
    if open_up:
        why = (
            f"B = {best} is the best batch size by its mean, but the family's intervals cannot "
            f"rule out that {fmt.sizes(open_up)} is practically higher (upper ends from "
            f"+{fmt.number(ACCURACY_MARGIN)} on)"
        )
        return [
            _inconclusive(CLAIM_LOWER_ACCURACY, s3a, why + "."),
            _inconclusive(CLAIM_GAP, s3b, why + ": whether there is a loss to explain is open."),
        ]
    why = (
        f"B = {best} is the best batch size itself, and no other batch size is practically "
        f"higher (every interval of the family ends below +{fmt.number(ACCURACY_MARGIN)})"
    )
    return [
        Verdict(CLAIM_LOWER_ACCURACY, s3a, NOT_SUPPORTED, why + "."),
        Verdict(CLAIM_GAP, s3b, NOT_SUPPORTED, why + ": there is no loss to explain."),
    ]


def _paired_accuracy_difference(
    runs: pd.DataFrame, column: str, b: int, ref: int, settings: IntervalSettings
) -> Effect:
    """``column`` at B = ``b`` minus at B = ``ref``, paired by seed, judged with
    `ACCURACY_MARGIN`, at the level of ``settings`` (a family member's where ``ref`` was
    chosen on the test split: `family_size`)."""
    table = per_seed(runs, column, [b, ref])
    diff = stats.paired_mean_difference(table[b], table[ref], settings, stats.value_range(column))
    return stats.judge(diff, ACCURACY_MARGIN, settings)


#: What claim 3b's gap difference (largest B minus best) shows, from its own three-way verdict.
GAP_GROWS = "grows"
GAP_SHRINKS = "shrinks"
GAP_SAME = "does not grow"
GAP_UNKNOWN = "inconclusive"


def gap_outcome(gap: Effect) -> str:
    """The gap difference's verdict in words: *different* and positive `GAP_GROWS`, *different*
    and negative `GAP_SHRINKS`; *equivalent* (inside ±`ACCURACY_MARGIN`), or an interval whose
    upper end is below +margin (a larger gap ruled out), `GAP_SAME`; anything else (the
    interval reaches past +margin without excluding 0, too few seeds) `GAP_UNKNOWN`."""
    if gap.verdict == DIFFERENT:
        return GAP_GROWS if gap.estimate > 0 else GAP_SHRINKS
    if gap.verdict == EQUIVALENT or directional(gap, +1, ACCURACY_MARGIN) == NOT_SUPPORTED:
        return GAP_SAME
    return GAP_UNKNOWN


def _claim3_reading(v3a: str, gap: Effect, train: Effect) -> str:
    """What the intervals say together, each part true as worded: the gap part follows the
    gap's own verdict (`gap_outcome`); a falling train accuracy with a gap shown not to grow
    (or to shrink) is under-training, not a generalization gap."""
    margin = f"±{fmt.number(ACCURACY_MARGIN)}"
    outcome = gap_outcome(gap)
    train_falls = v3a == SUPPORTED and train.verdict == DIFFERENT and train.estimate < 0
    if outcome == GAP_GROWS:
        return "the gap grows at large B, which is what a generalization gap means"
    if outcome == GAP_UNKNOWN:
        grows = np.isfinite(gap.lo) and gap.lo > 0 and gap.n >= stats.MIN_N
        text = (
            (
                f"the gap grows ({fmt.interval(gap, 'difference')}), but these seeds cannot say "
                f"whether by more than the margin of {fmt.number(ACCURACY_MARGIN)}"
            )
            if grows
            else (
                f"the gap comparison is inconclusive ({fmt.interval(gap, 'difference')} against "
                f"a margin of {margin}): these seeds cannot say whether the gap grows"
            )
        )
        return ("the train accuracy falls with the test accuracy; " + text) if train_falls else text
    shown = (
        f"the gap does not grow by more than {fmt.number(ACCURACY_MARGIN)}"
        if outcome == GAP_SAME
        else "the gap shrinks"
    )
    if train_falls:
        return (
            f"the train accuracy falls with the test accuracy while {shown}: under-training "
            "under this budget and learning rate, not a generalization gap"
        )
    return shown + ", so no generalization gap is shown"


def _claim3_evidence(
    largest: int, best: int, acc: Effect, gap: Effect, train: Effect, reading: str
) -> tuple[str, str]:
    """The evidence sentences of claims 3a and 3b."""
    ev3a = (
        f"B = {largest} − B = {best} (the best): {fmt.effect(acc, 'difference')} in test "
        f"accuracy, margin ±{fmt.number(ACCURACY_MARGIN)} ({acc.verdict}); this interval "
        "belongs to the accuracy finding's family. Under this budget and learning rate only."
    )
    ev3b = (
        f"Gap at B = {largest} minus gap at B = {best}: {fmt.effect(gap, 'difference')} "
        f"({gap.verdict}); train accuracy on the whole training split, end-of-epoch weights: "
        f"{fmt.effect(train, 'difference')} ({train.verdict}). Reading: {reading}."
    )
    return ev3a, ev3b


def claim_large_batches_generalize_worse(
    runs: pd.DataFrame, settings: IntervalSettings, own_validation: bool = False
) -> list[Verdict]:
    """Claim 3, as two verdicts on the largest batch size against the best other one.

    3a ("lower test accuracy under this budget") reads the largest batch size's comparison
    from the family of `accuracy_vs_best` (same interval as the accuracy finding). 3b ("because
    of a generalization gap") asks whether the gap, whole-training-split accuracy with the last
    epoch's weights minus test accuracy, is larger at the largest batch size (paired t, same
    margin; at the family's level where the best was chosen on the test split). A lower test
    accuracy with a gap that is not larger is under-training, not a generalization gap; the
    evidence says which.
    """
    sizes = batch_sizes(runs)
    largest = sizes[-1]
    best, family = accuracy_vs_best(runs, settings, own_validation=own_validation)
    s3a, s3b = statements = _claim3_statements(largest, own_validation)
    early = _claim3_without_comparison(sizes, best, statements, family)
    if early is not None:
        return early
    acc = family[largest]
    # A reference picked on the test split makes these comparisons post hoc too: same family.
    pair = settings if own_validation else settings.family(family_size(len(sizes), False))
    gap = _paired_accuracy_difference(runs, "gap_accuracy", largest, best, pair)
    train = _paired_accuracy_difference(runs, "final_end_train_accuracy", largest, best, pair)
    v3a, v3b = directional(acc, -1), directional(gap, +1, ACCURACY_MARGIN)
    ev3a, ev3b = _claim3_evidence(largest, best, acc, gap, train, _claim3_reading(v3a, gap, train))
    return [
        Verdict(CLAIM_LOWER_ACCURACY, s3a, v3a, ev3a, {"test_accuracy": acc}),
        Verdict(CLAIM_GAP, s3b, v3b, ev3b, {"gap": gap, "train_accuracy": train}),
    ]


# --------------------------------------------------------------------------- claim 4


def _median_ratios(num: np.ndarray, den: np.ndarray, upper: bool = True) -> np.ndarray:
    """Row-wise ratio of the censored medians of two 2-D arrays (one resample per row); +inf
    where the numerator's median alone is above the budget. Where the denominator's median is
    above the budget, the ratio is below the numerator over the budget by an unknown amount:
    for an interval's ``upper`` end it is bounded by the numerator over the row's largest
    reached denominator value (no larger than the budget; +inf where none was reached), for
    its lower end it is -inf (open below)."""
    top, bottom = stats.censored_median_rows(num), stats.censored_median_rows(den)
    if upper:
        reached = np.where(np.isfinite(den), den, -np.inf).max(axis=-1)
        unknown = np.where(reached > 0, top / np.where(reached > 0, reached, 1.0), np.inf)
    else:
        unknown = np.full(top.shape, -np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isfinite(bottom), top / bottom, unknown)


def censored_median_ratio(num: np.ndarray, den: np.ndarray, settings: IntervalSettings) -> Effect:
    """Ratio of two censored medians (NaN = never reached) with a paired percentile bootstrap
    over seeds; +inf where the numerator's median is above the budget. Callers check that the
    denominator's own median is within the budget before reading the ratio. Resamples whose
    denominator median is above the budget have no ratio: the interval's lower end counts them
    as -inf (open below: the ratio could be anything smaller) and its upper end at the bound
    `_median_ratios` gives them, so neither end claims what those resamples cannot show."""
    est = float(_median_ratios(num[None, :], den[None, :])[0])
    n = int(num.size)
    k = int((~np.isfinite(num)).sum())
    method = stats.METHOD_MEDIAN + " ratio"
    if n < 2:
        return Effect(est, np.nan, np.nan, n, method, settings.level, n_censored=k)
    rows = np.random.default_rng(settings.seed).integers(0, n, size=(settings.n_boot, n))
    alpha = (1 - settings.level) / 2
    lo = np.quantile(_median_ratios(num[rows], den[rows], False), alpha, method="inverted_cdf")
    hi = np.quantile(_median_ratios(num[rows], den[rows]), 1 - alpha, method="inverted_cdf")
    return Effect(est, float(lo), float(hi), n, method, settings.level, n_censored=k)


#: Claim 4's outcome at a batch size whose seconds come from the training jobs' own clocks
#: (no timing stage) and whose epochs alone decide nothing (`_wall_verdict`).
WALL_NOT_JUDGED = "wall time not judged"
#: The outcomes the epochs decide alone, without any clock (`_wall_verdict`).
NOT_REACHED = "not reached"
FEWER_EPOCHS = "fails (fewer epochs)"
#: What claim 4 judges without timing repeats, and in words with why (`NO_WALL_VERDICT`).
EPOCHS_ONLY = (
    f"only the outcomes the epochs decide alone count: “{NOT_REACHED}” (the target is not "
    f"reached within the budget at all) and “{FEWER_EPOCHS}” (the claim's “not in fewer "
    "epochs” is ruled out)"
)
EPOCHS_ONLY_WORDS = f"{NO_WALL_VERDICT}; {EPOCHS_ONLY}"


#: The value `_wall_verdict` compares a ratio's ends with (`Effect.boundaries`).
WALL_BOUNDARIES = (1 / TIME_RATIO_MARGIN,)


def _wall_verdict(seconds: Effect, epochs: Effect, repeats: int | None) -> str:
    """Per batch size: holds / fails / inconclusive / not reached (see the claim).

    ``repeats``: how many timing repeats time both batch sizes; ``None`` when the seconds come from
    the training jobs' own clocks, whose load differences nothing bounds: then only what the
    epochs decide alone is given, `NOT_REACHED` and `FEWER_EPOCHS`, and every other outcome is
    `WALL_NOT_JUDGED`. Fewer than `stats.MIN_N` seeds, or repeats where the clock is needed,
    leave it inconclusive.
    """
    if seconds.estimate == np.inf:
        return NOT_REACHED
    if epochs.n < stats.MIN_N:
        return INCONCLUSIVE
    m = TIME_RATIO_MARGIN
    if epochs.hi < 1 / m:
        return FEWER_EPOCHS
    if repeats is None:
        return WALL_NOT_JUDGED
    if repeats < stats.MIN_N:
        return INCONCLUSIVE
    if seconds.hi < 1 / m and epochs.lo > 1 / m:
        return "holds"
    if seconds.lo > 1 / m:
        return "fails (not faster in wall time)"
    return INCONCLUSIVE


def wall_time_ratio(
    epochs: tuple[np.ndarray, np.ndarray],
    table: pd.DataFrame,
    b: int,
    ref: int,
    settings: IntervalSettings,
) -> Effect:
    """Seconds to target, B over ``ref``, from the timing stage's repeats: the ratio of
    censored median epochs (bootstrap over seeds) times the seconds-per-epoch ratio (paired t
    over repeats), as seconds to target are epochs x seconds per epoch. Each factor's interval
    is at level 1 - alpha/2, so the product of their ends covers with at least the level
    (Bonferroni). ``n`` and ``n_censored`` are the seeds' (the epochs factor's: how many
    runs never reached the target, of how many); the repeats behind the seconds-per-epoch
    factor are `n_repeats`. A censored epochs median makes the estimate +inf.
    """
    half = settings.family(2)
    ep = censored_median_ratio(epochs[0], epochs[1], half)
    t = repeat_ratio(table, b, ref, half)
    return Effect(
        float(ep.estimate * t.estimate),
        float(ep.lo * t.lo),
        float(ep.hi * t.hi),
        ep.n,
        METHOD_WALL_PRODUCT,
        settings.level,
        n_censored=ep.n_censored,
    )


def claim_wall_time_not_epochs(
    runs: pd.DataFrame,
    settings: IntervalSettings,
    target: str,
    repeats: pd.DataFrame | None = None,
) -> Verdict:
    """Claim 4, judged for every batch size against the smallest one.

    At batch size B it *holds* when B reaches the target in less wall time (ratio of censored
    median seconds, B / smallest, wholly below 1 / `TIME_RATIO_MARGIN`) but not in fewer
    epochs (the epochs ratio's interval stays above 1 / margin); it *fails* when B is not
    faster or needs fewer epochs; a B whose median is above the budget did "not reach" the
    target. The verdict is supported when it holds for every larger B, not supported when it
    holds for none and fails (or is not reached) for some, inconclusive when every outcome is,
    and otherwise names the range where it holds. With the timing stage's
    ``repeats`` the seconds ratio is `wall_time_ratio`; without, the run table's seconds
    (epochs x the job's median seconds per epoch, from the job's own clock) are reported but
    judge nothing (`EPOCHS_ONLY_WORDS`): a batch size is then `NOT_REACHED`, `FEWER_EPOCHS`
    or `WALL_NOT_JUDGED`, so the claim is never supported nor holds anywhere; it is not
    supported where one of the first two refutes "each larger B", else inconclusive.
    """
    claim = CLAIM_WALL_TIME
    statement = (
        f"against the smallest batch size, each larger B reaches the {target}% accuracy target "
        "in less wall time but not in fewer epochs"
    )
    cols = [f"{q}_to_target_{target}" for q in ("seconds", "epochs")]
    if why := _no_wall_comparison(runs, target, cols):
        return _inconclusive(claim, statement, why)
    sizes = batch_sizes(runs)
    ref = sizes[0]
    tables = {q: per_seed(runs, c, sizes) for q, c in zip(("seconds", "epochs"), cols, strict=True)}
    ref_epochs = stats.censored_median(tables["epochs"][ref].to_numpy(), settings)
    if not np.isfinite(ref_epochs.estimate):
        return _inconclusive(
            claim,
            statement,
            f"The smallest batch size B = {ref} did not reach the target within the budget: "
            f"median epochs {fmt.interval(ref_epochs, 'count')}; no ratio against it.",
        )
    timing = repeat_table(repeats, sizes)
    parts, holds, failed, effects = [], [], [], {}
    for b in sizes[1:]:
        outcome, sec, ep = _wall_comparison(tables, b, ref, timing, settings)
        effects |= {f"seconds_ratio_{b}": sec, f"epochs_ratio_{b}": ep}
        holds += [b] if outcome == "holds" else []
        failed += [b] if outcome.startswith("fails") or outcome == NOT_REACHED else []
        parts.append(
            f"B = {b}: {outcome} (seconds {fmt.interval(sec, 'ratio')}, epochs "
            f"{fmt.interval(ep, 'ratio')})"
        )
    verdict = (
        SUPPORTED
        if len(holds) == len(sizes) - 1
        else PARTLY
        if holds
        else NOT_SUPPORTED
        if failed
        else INCONCLUSIVE
    )
    evidence = (
        f"Ratios of censored medians against B = {ref} (runs that never reached the target "
        f"count as above the budget; bootstrap over seeds, n = {tables['epochs'].shape[0]}): "
        + "; ".join(parts)
        + (f". Holds for {fmt.sizes(holds)}" if timing is not None else "")
        + f". Margin {fmt.number(TIME_RATIO_MARGIN)}×. "
        + _wall_unit(timing)
    )
    return Verdict(claim, statement, verdict, evidence, effects, holds)


def _no_wall_comparison(runs: pd.DataFrame, target: str, cols: list[str]) -> str | None:
    """Why claim 4 cannot be judged at all (no target columns, no target set, one batch
    size), or ``None``."""
    if any(c not in runs.columns for c in cols):
        return f"no {target}% target in the run table"
    if runs[f"target_{target}"].isna().all():
        return (
            f"No {target}% target was set: every run diverged or the best plateau accuracy is "
            "at chance."
        )
    if len(sizes := batch_sizes(runs)) < 2:
        return f"needs two batch sizes; ran {sizes}"
    return None


def _wall_comparison(
    tables: dict[str, pd.DataFrame],
    b: int,
    ref: int,
    timing: pd.DataFrame | None,
    settings: IntervalSettings,
) -> tuple[str, Effect, Effect]:
    """Claim 4 at one batch size: its outcome (`_wall_verdict`), seconds ratio and epochs
    ratio against ``ref``, from the per-seed ``tables`` ("seconds", "epochs") and, where the
    study re-timed its jobs, the repeats' ``timing`` (else no wall-time outcome)."""
    col = {q: (t[b].to_numpy(), t[ref].to_numpy()) for q, t in tables.items()}
    sec = (
        censored_median_ratio(*col["seconds"], settings)
        if timing is None
        else wall_time_ratio(col["epochs"], timing, b, ref, settings)
    )
    sec = replace(sec, boundaries=WALL_BOUNDARIES)
    ep = replace(censored_median_ratio(*col["epochs"], settings), boundaries=WALL_BOUNDARIES)
    repeats = None if timing is None else int(timing[[b, ref]].notna().all(axis=1).sum())
    return _wall_verdict(sec, ep, repeats), sec, ep


def _wall_unit(timing: pd.DataFrame | None) -> str:
    """Where claim 4's seconds come from and their unit of replication, in words."""
    if timing is None:
        return (
            "Seconds are epochs × the job's median seconds per epoch, from the training job's "
            "own clock, so these intervals carry the seeds' epoch counts, not timing repeats. "
            f"{EPOCHS_ONLY_WORDS}."
        )
    return (
        "Seconds are epochs × seconds per epoch from the timing stage: the seconds ratio is "
        "the epochs ratio times the seconds-per-epoch ratio paired by repeat, each interval at "
        "half the error rate. Unit of replication of the seconds per epoch: "
        f"{repeat_unit(timing)}."
    )


# --------------------------------------------------------------------------- all claims


def evaluate_claims(
    runs: pd.DataFrame,
    summary: pd.DataFrame,
    settings: IntervalSettings,
    target: str | None = None,
    repeats: pd.DataFrame | None = None,
    own_validation: bool = False,
) -> list[Verdict]:
    """All claims on one condition (claim 3 as two verdicts); claim 4 races to ``target``,
    by default the first configured accuracy target. ``repeats``: the timing stage's rows of
    this condition's job key (`repeat_table`); claims 1 and 4 time with them when given.
    ``own_validation``: the dataset has a validation split of its own, on which claim 3's
    best batch size is chosen (`best_batch_size`)."""
    runs = one_condition(runs)
    if target is None:
        suffixes = target_suffixes(runs)
        target = suffixes[0] if suffixes else ""
    return [
        claim_time_per_epoch(summary, settings, repeats),
        claim_small_batches_settle_sooner(runs, settings),
        *claim_large_batches_generalize_worse(runs, settings, own_validation),
        claim_wall_time_not_epochs(runs, settings, target, repeats),
    ]
