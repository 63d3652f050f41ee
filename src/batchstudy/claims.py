"""The seed article's four claims about batch size, tested as hypotheses on one condition.

Each claim function takes the per-run table of `batchstudy.metrics.run_metrics` (restricted to
one condition) and, optionally, its `batchstudy.metrics.summarize` table, and returns a
`Verdict`. Comparisons are paired by seed, because the study reuses seeds across batch sizes.

Verdict rules, shared by the claims that compare two groups:

* ``supported``: the CI of the paired effect excludes "no difference" in the claimed direction,
  with at least `batchstudy.metrics.MIN_PAIRS` paired seeds;
* ``not supported``: the CI excludes it in the opposite direction, or the whole CI lies within a
  practical-equivalence margin around "no difference" (the effect is ruled out, not just
  unseen);
* ``inconclusive``: too few seeds or batch sizes, missing columns, or a CI that contains both
  "no difference" and effects larger than the margin.

Selecting the best batch size as the reference (claim 3) favours the claim slightly (winner's
curse), which is why only a CI excluding zero counts as support.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from batchstudy.metrics import CONDITION_KEYS, MIN_PAIRS, bootstrap_ci, paired_difference, summarize

SUPPORTED = "supported"
NOT_SUPPORTED = "not supported"
INCONCLUSIVE = "inconclusive"

CLAIM_TIME_PER_EPOCH = "Larger batches take less time per epoch"
CLAIM_SETTLING = "Small batches stabilise in fewer epochs than large ones"
CLAIM_GENERALIZATION = "Large batches lose generalization quality against the best batch size"
CLAIM_WALL_TIME = "Larger batches progress faster in wall time but not in epochs"

# Claim 1: at least three batch sizes to call a trend monotone, and a Spearman rho of the
# per-batch-size median seconds at or below this to call it strongly decreasing.
MIN_BATCH_SIZES_FOR_TREND = 3
STRONG_DECREASE_RHO = -0.8
# Equivalence margins: effects inside these are too small to matter for the claim.
TIME_RATIO_MARGIN = 1.10  # 10% in seconds per epoch or seconds/epochs to target
SETTLING_MARGIN_EPOCHS = 5.0  # the article's effect was ~20 epochs (~30 vs ~50)
ACCURACY_MARGIN = 0.01  # one accuracy point, below the ~1.7% per-run noise at n_val = 500
# Claim 2: batch sizes at or above this are "large"; "small" are the two smallest below it.
LARGE_BATCH_MIN = 64
N_SMALL_BATCHES = 2
# Claim 4: a group whose runs reached the target in fewer than half the seeds has no median.
MIN_REACHED_SHARE = 0.5

DIAGNOSIS_GAP = "generalization gap"
DIAGNOSIS_UNDERTRAINING = "under-training"
DIAGNOSIS_NONE = "none"
DIAGNOSIS_INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Verdict:
    """Outcome of testing one claim: the verdict, a plain-text reason with numbers, and the
    numbers themselves (``figures``) for tables and plots."""

    claim: str
    verdict: str
    evidence: str
    figures: dict[str, Any] = field(default_factory=dict)
    diagnosis: str | None = None


# --------------------------------------------------------------------------- shared helpers


def _one_condition(runs: pd.DataFrame) -> pd.DataFrame:
    """Claims compare batch sizes within one condition; mixing conditions would pair wrongly."""
    keys = [k for k in CONDITION_KEYS if k in runs.columns]
    if keys and len(runs[keys].drop_duplicates()) > 1:
        raise ValueError("claims are evaluated on one condition at a time; got several")
    return runs


def _batch_sizes(runs: pd.DataFrame) -> list[int]:
    return sorted(int(b) for b in runs["batch_size"].unique())


def _summary(
    runs: pd.DataFrame, summary: pd.DataFrame | None, n_boot: int, seed: int
) -> pd.DataFrame:
    """The summary rows of this run table's condition (computed when not given)."""
    if summary is None:
        return summarize(runs, n_boot=n_boot, seed=seed)
    keys = [k for k in CONDITION_KEYS if k in runs.columns and k in summary.columns]
    if not keys:
        return summary
    return summary.merge(runs[keys].drop_duplicates(), on=keys, how="inner")


def _per_seed(runs: pd.DataFrame, column: str, sizes: list[int]) -> pd.DataFrame:
    """Seeds x batch sizes table of one metric (NaN where a run is missing)."""
    table = runs.set_index(["seed", "batch_size"])[column].astype(float).unstack("batch_size")
    return table.reindex(columns=sizes)


def _group_mean(per_seed: pd.DataFrame, sizes: list[int]) -> pd.Series:
    """Per-seed mean over the group's batch sizes that have a value (settled, not diverged).

    Requiring every member would drop a seed as soon as one of, say, four large batch sizes
    failed to settle, leaving too few pairs; a seed drops only when no member has a value.
    """
    return per_seed[sizes].mean(axis=1, skipna=True)


def _f(x: float, digits: int) -> str:
    return "nan" if not np.isfinite(x) else f"{x:.{digits}f}"


def format_seconds(x: float) -> str:
    """Seconds with 3 significant digits, in ms below one second."""
    if not np.isfinite(x):
        return "nan"
    return f"{x * 1e3:.3g} ms" if abs(x) < 1 else f"{x:.3g} s"


def _ci_text(est: float, lo: float, hi: float, digits: int) -> str:
    return f"{_f(est, digits)} [{_f(lo, digits)}, {_f(hi, digits)}]"


def _ratio_ci_text(est: float, lo: float, hi: float) -> str:
    """Ratios span orders of magnitude (0.08 to 40), so three significant digits, not decimals."""
    parts = ["nan" if not np.isfinite(x) else f"{x:.3g}" for x in (est, lo, hi)]
    return f"{parts[0]} [{parts[1]}, {parts[2]}]"


def _sizes_text(sizes: list[int]) -> str:
    return f"B={sizes[0]}" if len(sizes) == 1 else "B in {" + ", ".join(map(str, sizes)) + "}"


def _difference_text(diff: dict[str, Any], digits: int, unit: str = "") -> str:
    """Difference with CI and n; says plainly when the CI contains zero."""
    text = f"difference {_ci_text(diff['mean_diff'], diff['lo'], diff['hi'], digits)}{unit}"
    return text + _detection_text(diff)


def _detection_text(diff: dict[str, Any]) -> str:
    """The wording the reports rely on: a CI containing no-difference is said in plain words."""
    n = diff["n"]
    if n < MIN_PAIRS:
        return f"; too few paired seeds to detect a difference (n = {n} seeds)"
    if not diff["detectable"]:
        return f": no detectable difference at n = {n} seeds"
    return f" at n = {n} seeds"


def _ratio_from_log(diff: dict[str, Any]) -> dict[str, Any]:
    """Turn a paired difference of logs into a geometric-mean ratio with CI."""
    return diff | {k: float(np.exp(diff[k])) for k in ("mean_diff", "lo", "hi")}


def _directional(diff: dict[str, Any], direction: int, margin: float) -> str:
    """Verdict for 'the effect has sign ``direction``' (see the module docstring)."""
    if diff["n"] < MIN_PAIRS or not np.isfinite(diff["mean_diff"]):
        return INCONCLUSIVE
    if diff["detectable"]:
        return SUPPORTED if np.sign(diff["mean_diff"]) == direction else NOT_SUPPORTED
    if -margin < diff["lo"] and diff["hi"] < margin:
        return NOT_SUPPORTED
    return INCONCLUSIVE


def _inconclusive(claim: str, reason: str, **figures: Any) -> Verdict:
    return Verdict(claim, INCONCLUSIVE, reason, dict(figures))


def _missing(runs: pd.DataFrame, columns: list[str]) -> list[str]:
    return [c for c in columns if c not in runs.columns]


# --------------------------------------------------------------------------- claim 1


def _ratio_of_medians_ci(
    num: np.ndarray, den: np.ndarray, *, n_boot: int, seed: int, level: float
) -> tuple[float, float, float]:
    """Ratio of medians with a bootstrap over seeds that resamples both arms together (paired)."""
    estimate = float(np.median(num) / np.median(den))
    if num.size < 2:
        return estimate, estimate, estimate
    rows = np.random.default_rng(seed).integers(0, num.size, size=(n_boot, num.size))
    ratios = np.median(num[rows], axis=1) / np.median(den[rows], axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(ratios, [alpha, 1 - alpha])
    return estimate, float(lo), float(hi)


def _ratio_from_cell_cis(summary: pd.DataFrame, num_b: int, den_b: int) -> tuple[float, ...]:
    """Ratio of two cells' median epoch times with a conservative interval: the ratio of
    the CI ends (lower / upper, upper / lower)."""
    s = summary.set_index("batch_size")
    col = "seconds_per_epoch"
    est = float(s.at[num_b, f"{col}_median"] / s.at[den_b, f"{col}_median"])
    lo = float(s.at[num_b, f"{col}_lo"] / s.at[den_b, f"{col}_hi"])
    hi = float(s.at[num_b, f"{col}_hi"] / s.at[den_b, f"{col}_lo"])
    return est, lo, hi


def _time_verdict(ratio: tuple[float, float, float], rho: float, n: int) -> str:
    _, lo, hi = ratio
    if n < MIN_PAIRS:
        return INCONCLUSIVE
    if lo > 1 and rho <= STRONG_DECREASE_RHO:
        return SUPPORTED
    if hi < 1 or (lo > 1 / TIME_RATIO_MARGIN and hi < TIME_RATIO_MARGIN):
        return NOT_SUPPORTED
    return INCONCLUSIVE


def claim_time_per_epoch(
    runs: pd.DataFrame,
    summary: pd.DataFrame | None = None,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> Verdict:
    """Claim 1: seconds per epoch fall as the batch size grows.

    Two pieces of evidence, both needed for support: the per-batch-size medians decrease
    monotonically (Spearman rho <= `STRONG_DECREASE_RHO`; the run-level rho over all batch sizes
    and seeds is reported too), and the paired ratio of median seconds (smallest B / largest B)
    has a CI above 1. Ratio CIs entirely within `TIME_RATIO_MARGIN` of 1, or below 1, refute it.
    """
    claim = CLAIM_TIME_PER_EPOCH
    runs = _one_condition(runs)
    if _missing(runs, ["seconds_per_epoch"]):
        return _inconclusive(claim, "no seconds_per_epoch column in the run table")
    timed = runs.loc[np.isfinite(runs["seconds_per_epoch"].astype(float))]
    sizes = _batch_sizes(timed)
    if len(sizes) < MIN_BATCH_SIZES_FOR_TREND:
        return _inconclusive(
            claim,
            f"need >= {MIN_BATCH_SIZES_FOR_TREND} timed batch sizes for a trend, got {sizes}",
            batch_sizes=sizes,
        )
    summary = _summary(runs, summary, n_boot, seed)
    medians = summary.set_index("batch_size")["seconds_per_epoch_median"].reindex(sizes)
    rho_medians = float(spearmanr(sizes, medians.to_numpy(), nan_policy="omit").statistic)
    rho_runs = float(spearmanr(timed["batch_size"], timed["seconds_per_epoch"]).statistic)
    pairs = _per_seed(timed, "seconds_per_epoch", sizes)[[sizes[0], sizes[-1]]].dropna()
    num, den = pairs[sizes[0]].to_numpy(), pairs[sizes[-1]].to_numpy()
    if len(pairs) == 0:
        return _inconclusive(claim, "no seed has timings at both the smallest and largest B")
    if pairs[sizes[0]].nunique() == 1 and pairs[sizes[-1]].nunique() == 1:
        # One timing stream per job (the fused engine trains all seeds together): the seeds
        # are not independent timings, so the CI comes from the epochs' timing CIs instead.
        ratio = _ratio_from_cell_cis(summary, sizes[0], sizes[-1])
        n_timing = MIN_PAIRS if np.isfinite(ratio[1]) else 0
    else:
        ratio = _ratio_of_medians_ci(num, den, n_boot=n_boot, seed=seed, level=level)
        n_timing = len(pairs)
    verdict = _time_verdict(ratio, rho_medians, n_timing)
    trend = ", ".join(f"B={b}: {format_seconds(s)}" for b, s in medians.items())
    evidence = (
        f"median seconds per epoch {trend}; Spearman rho of medians {_f(rho_medians, 2)} "
        f"(run level {_f(rho_runs, 2)}); ratio B={sizes[0]} / B={sizes[-1]} "
        f"{_ratio_ci_text(*ratio)}"
    )
    if ratio[1] <= 1 <= ratio[2]:
        evidence += f": no detectable difference at n = {len(pairs)} seeds"
    else:
        evidence += f" at n = {len(pairs)} seeds"
    figures = {
        "batch_sizes": sizes,
        "median_seconds_per_epoch": medians.tolist(),
        "rho_medians": rho_medians,
        "rho_runs": rho_runs,
        "ratio": ratio[0],
        "ratio_lo": ratio[1],
        "ratio_hi": ratio[2],
        "n": len(pairs),
    }
    return Verdict(claim, verdict, evidence, figures)


# --------------------------------------------------------------------------- claim 2


def _small_and_large(sizes: list[int], large_min: int) -> tuple[list[int], list[int]]:
    small = [b for b in sizes if b < large_min][:N_SMALL_BATCHES]
    large = [b for b in sizes if b >= large_min]
    return small, large


def claim_small_batches_settle_sooner(
    runs: pd.DataFrame,
    summary: pd.DataFrame | None = None,
    *,
    large_min: int = LARGE_BATCH_MIN,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> Verdict:
    """Claim 2: the two smallest batch sizes settle in fewer epochs than those >= ``large_min``.

    Per seed, the settling epochs of the group's settled runs are averaged and the groups
    differenced (small - large); a seed with no settled run in a group drops out of the
    pairing, and the settled counts per batch size are reported beside the difference.
    Practical margin: `SETTLING_MARGIN_EPOCHS`. The article reported about 30 versus about 50
    epochs.
    """
    claim = CLAIM_SETTLING
    runs = _one_condition(runs)
    sizes = _batch_sizes(runs)
    small, large = _small_and_large(sizes, large_min)
    if not small or not large:
        return _inconclusive(
            claim,
            f"need batch sizes below and at/above {large_min}; configured {sizes}",
            batch_sizes=sizes,
        )
    summary = _summary(runs, summary, n_boot, seed)
    per_seed = _per_seed(runs, "settling_epoch", sizes)
    small_vals, large_vals = _group_mean(per_seed, small), _group_mean(per_seed, large)
    diff = paired_difference(small_vals, large_vals, n_boot=n_boot, seed=seed, level=level)
    verdict = _directional(diff, direction=-1, margin=SETTLING_MARGIN_EPOCHS)
    cells = summary.set_index("batch_size")
    settled = {b: f"{int(cells.at[b, 'n_settled'])}/{int(cells.at[b, 'n_runs'])}" for b in sizes}
    small_ci = bootstrap_ci(small_vals, stat="median", n_boot=n_boot, level=level, seed=seed)
    large_ci = bootstrap_ci(large_vals, stat="median", n_boot=n_boot, level=level, seed=seed)
    evidence = (
        f"{_sizes_text(small)} median settling epoch {_ci_text(*small_ci, 1)} vs "
        f"{_sizes_text(large)} {_ci_text(*large_ci, 1)}; paired (small - large) "
        f"{_difference_text(diff, 1, ' epochs')}; settled runs per batch size "
        + ", ".join(f"B={k}: {v}" for k, v in settled.items())
        + ". The article reported about 30 vs about 50 epochs."
    )
    figures = {
        "small": small,
        "large": large,
        "small_median": small_ci[0],
        "large_median": large_ci[0],
        **{f"diff_{k}": v for k, v in diff.items()},
    }
    return Verdict(claim, verdict, evidence, figures)


# --------------------------------------------------------------------------- claim 3


def _paired_columns(
    runs: pd.DataFrame, column: str, first: int, second: int, **bootstrap: Any
) -> dict[str, Any]:
    """Paired difference of one metric between two batch sizes (first - second), by seed."""
    per_seed = _per_seed(runs, column, [first, second])
    return paired_difference(per_seed[first], per_seed[second], **bootstrap)


def _reference_batch(summary: pd.DataFrame, largest: int) -> int | None:
    """Best other batch size by mean final val accuracy; ties go to the smaller batch size."""
    others = summary.loc[summary["batch_size"] != largest]
    others = others.loc[np.isfinite(others["final_val_accuracy_mean"].astype(float))]
    if others.empty:
        return None
    ranked = others.sort_values(["final_val_accuracy_mean", "batch_size"], ascending=[False, True])
    return int(ranked["batch_size"].iloc[0])


def _diagnose(verdict: str, d_train: dict[str, Any], d_gap: dict[str, Any]) -> tuple[str, str]:
    """Split a val-accuracy loss into its train part and its gap part.

    Because gap = train - val, the change in val accuracy is exactly (change in train) minus
    (change in gap). A detectably larger gap with train accuracy not detectably lower is a
    generalization gap; detectably lower train accuracy without a larger gap is under-training;
    when both are detectable the larger share of the val loss names the diagnosis.
    """
    if verdict == NOT_SUPPORTED:
        return DIAGNOSIS_NONE, "no loss of val accuracy to explain"
    if verdict == INCONCLUSIVE:
        return DIAGNOSIS_INCONCLUSIVE, "no clear loss of val accuracy to explain"
    gap_up = d_gap["detectable"] and d_gap["mean_diff"] > 0
    train_down = d_train["detectable"] and d_train["mean_diff"] < 0
    if gap_up and train_down:
        gap_share, train_share = d_gap["mean_diff"], -d_train["mean_diff"]
        name = DIAGNOSIS_GAP if gap_share >= train_share else DIAGNOSIS_UNDERTRAINING
        return name, (
            f"both a lower train accuracy ({_f(-train_share, 3)}) and a larger gap "
            f"(+{_f(gap_share, 3)}); the larger share names it"
        )
    if gap_up:
        return DIAGNOSIS_GAP, "train accuracy holds while the train-val gap widens"
    if train_down:
        return DIAGNOSIS_UNDERTRAINING, "train and val accuracy are both lower; the gap is not"
    return DIAGNOSIS_INCONCLUSIVE, "neither the train-accuracy drop nor the gap rise is detectable"


def claim_large_batches_generalize_worse(
    runs: pd.DataFrame,
    summary: pd.DataFrame | None = None,
    *,
    reference: int | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> Verdict:
    """Claim 3: the largest batch size ends with lower val accuracy than the best one.

    The reference is the batch size (other than the largest) with the highest mean final val
    accuracy unless ``reference`` is given. The paired val-accuracy difference (largest -
    reference) decides the verdict (margin `ACCURACY_MARGIN`); paired differences in train
    accuracy and in the train-val gap give the ``diagnosis`` (see `_diagnose`), because Keskar's
    "generalization gap" and plain under-training (few optimizer steps at large B) look alike
    from val accuracy alone.
    """
    claim = CLAIM_GENERALIZATION
    runs = _one_condition(runs)
    sizes = _batch_sizes(runs)
    if len(sizes) < 2:
        return _inconclusive(claim, f"need >= 2 batch sizes, got {sizes}", batch_sizes=sizes)
    summary = _summary(runs, summary, n_boot, seed)
    largest = sizes[-1]
    ref = _reference_batch(summary, largest) if reference is None else int(reference)
    if ref is None or ref not in sizes or ref == largest:
        return _inconclusive(claim, f"no usable reference batch size among {sizes}")
    cells = summary.set_index("batch_size")
    diffs = {
        col: _paired_columns(runs, col, largest, ref, n_boot=n_boot, seed=seed, level=level)
        for col in ("final_val_accuracy", "final_train_accuracy", "gap_accuracy")
    }
    verdict = _directional(diffs["final_val_accuracy"], direction=-1, margin=ACCURACY_MARGIN)
    diagnosis, why = _diagnose(verdict, diffs["final_train_accuracy"], diffs["gap_accuracy"])
    evidence = (
        f"B={largest} final val acc {_accuracy_ci(cells, largest)} vs best other B={ref} "
        f"{_accuracy_ci(cells, ref)}; {_difference_text(diffs['final_val_accuracy'], 3)}. "
        f"Train acc {_difference_text(diffs['final_train_accuracy'], 3)}; "
        f"gap (train - val) {_difference_text(diffs['gap_accuracy'], 3)}. "
        f"Diagnosis: {diagnosis} ({why})."
    )
    figures: dict[str, Any] = {"largest": largest, "reference": ref, "diagnosis": diagnosis}
    for col, diff in diffs.items():
        figures |= {f"{col}_diff_{k}": v for k, v in diff.items()}
    return Verdict(claim, verdict, evidence, figures, diagnosis)


def _accuracy_ci(cells: pd.DataFrame, batch_size: int) -> str:
    """Mean final val accuracy with CI, and the diverged runs that the mean leaves out."""
    row = cells.loc[batch_size]
    text = _ci_text(
        row["final_val_accuracy_mean"],
        row["final_val_accuracy_lo"],
        row["final_val_accuracy_hi"],
        3,
    )
    if row["n_diverged"]:
        text += f" ({int(row['n_diverged'])} of {int(row['n_runs'])} runs diverged)"
    return text


# --------------------------------------------------------------------------- claim 4


def _not_fewer(diff: dict[str, Any], margin: float) -> str:
    """Verdict for 'large B needs at least as many epochs': refuted only by detectably fewer."""
    if diff["n"] < MIN_PAIRS or not np.isfinite(diff["mean_diff"]):
        return INCONCLUSIVE
    if diff["detectable"]:
        return SUPPORTED if diff["mean_diff"] > 0 else NOT_SUPPORTED
    return SUPPORTED if -margin < diff["lo"] else INCONCLUSIVE


def _combine(wall: str, epochs: str) -> str:
    if NOT_SUPPORTED in (wall, epochs):
        return NOT_SUPPORTED
    if wall == epochs == SUPPORTED:
        return SUPPORTED
    return INCONCLUSIVE


def _censoring(runs: pd.DataFrame, reached_col: str, small: int, large: int) -> tuple[str, str]:
    """Verdict override when censoring, not time, decides: a batch size that mostly never reached
    the target has no time to target (MLPerf counts such runs as slowest)."""
    share = runs.groupby("batch_size")[reached_col].mean()
    small_ok, large_ok = share[small] >= MIN_REACHED_SHARE, share[large] >= MIN_REACHED_SHARE
    text = f"reached target: B={small} {share[small]:.0%}, B={large} {share[large]:.0%} of runs"
    if small_ok and not large_ok:
        return NOT_SUPPORTED, text + f"; B={large} mostly never reached it"
    if not small_ok:
        return INCONCLUSIVE, text + f"; B={small} mostly never reached it"
    return "", text


def claim_wall_time_not_epochs(
    runs: pd.DataFrame,
    summary: pd.DataFrame | None = None,
    *,
    target: str = "95",
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> Verdict:
    """Claim 4: the largest batch size reaches the target sooner in seconds, not in epochs.

    Compares the largest with the smallest batch size through per-seed ratios (large / small)
    of seconds and of epochs to the target, summarised as geometric means with CIs. Supported
    when the seconds ratio is detectably below 1 *and* the epochs ratio is not detectably below
    1 (its CI stays above 1 / `TIME_RATIO_MARGIN`). Only seeds where both runs reached the
    target are paired; if the large batch mostly never reached it, the claim is not supported.
    """
    claim = CLAIM_WALL_TIME
    runs = _one_condition(runs)
    cols = [f"{q}_to_target_{target}" for q in ("seconds", "epochs")] + [f"reached_{target}"]
    if missing := _missing(runs, cols):
        return _inconclusive(claim, f"run table lacks {missing}")
    sizes = _batch_sizes(runs)
    if len(sizes) < 2:
        return _inconclusive(claim, f"need >= 2 batch sizes, got {sizes}", batch_sizes=sizes)
    small, large = sizes[0], sizes[-1]
    summary = _summary(runs, summary, n_boot, seed)
    censored_verdict, censoring_text = _censoring(runs, cols[2], small, large)
    bootstrap = {"n_boot": n_boot, "seed": seed, "level": level}
    logs = {
        q: _paired_log_ratio(runs, col, large, small, **bootstrap)
        for q, col in zip(("seconds", "epochs"), cols[:2], strict=True)
    }
    ratios = {q: _ratio_from_log(diff) for q, diff in logs.items()}
    log_margin = float(np.log(TIME_RATIO_MARGIN))
    wall = _directional(logs["seconds"], direction=-1, margin=log_margin)
    epochs = _not_fewer(logs["epochs"], margin=log_margin)
    verdict = censored_verdict or _combine(wall, epochs)
    cells = summary.set_index("batch_size")
    evidence = (
        f"target = {target}% of the best plateau; {censoring_text}. "
        f"Median seconds to target B={small} {_f(cells.at[small, cols[0] + '_median'], 2)}, "
        f"B={large} {_f(cells.at[large, cols[0] + '_median'], 2)}. "
        f"B={large}/B={small} seconds ratio {_ratio_text(ratios['seconds'])} (wall part: {wall}); "
        f"epochs ratio {_ratio_text(ratios['epochs'])} (epochs part: {epochs})."
    )
    figures: dict[str, Any] = {"small": small, "large": large, "wall": wall, "epochs": epochs}
    for quantity, ratio in ratios.items():
        figures |= {f"{quantity}_ratio_{k}": v for k, v in ratio.items()}
    return Verdict(claim, verdict, evidence, figures)


def _paired_log_ratio(
    runs: pd.DataFrame, column: str, first: int, second: int, **bootstrap: Any
) -> dict[str, Any]:
    """Paired mean of log(first / second) by seed: scale-free, so one margin fits seconds and
    epochs, and symmetric, so halving and doubling weigh the same."""
    per_seed = _per_seed(runs, column, [first, second])
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(per_seed.where(per_seed > 0))
    return paired_difference(logs[first], logs[second], **bootstrap)


def _ratio_text(ratio: dict[str, Any]) -> str:
    return _ratio_ci_text(ratio["mean_diff"], ratio["lo"], ratio["hi"]) + _detection_text(ratio)


# --------------------------------------------------------------------------- all claims


def evaluate_claims(
    runs: pd.DataFrame,
    summary: pd.DataFrame | None = None,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> list[Verdict]:
    """All four claims on one condition, sharing one summary so it is computed once."""
    summary = _summary(_one_condition(runs), summary, n_boot, seed)
    kwargs = {"n_boot": n_boot, "seed": seed, "level": level}
    return [
        claim_time_per_epoch(runs, summary, **kwargs),
        claim_small_batches_settle_sooner(runs, summary, **kwargs),
        claim_large_batches_generalize_worse(runs, summary, **kwargs),
        claim_wall_time_not_epochs(runs, summary, **kwargs),
    ]


def verdicts_frame(verdicts: list[Verdict]) -> pd.DataFrame:
    """Verdicts as a table (claim, verdict, diagnosis, evidence) for reports."""
    return pd.DataFrame(
        [
            {
                "claim": v.claim,
                "verdict": v.verdict,
                "diagnosis": v.diagnosis,
                "evidence": v.evidence,
            }
            for v in verdicts
        ]
    )
