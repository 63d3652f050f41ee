"""Each claim's verdict on synthetic run tables built to support, refute or leave it open."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from batchstudy import claims, stats
from batchstudy import formatting as fmt
from batchstudy.claims import (
    CLAIM_TIME_PER_EPOCH,
    CLAIM_WALL_TIME,
    GAP_GROWS,
    GAP_SAME,
    GAP_SHRINKS,
    GAP_UNKNOWN,
    INCONCLUSIVE,
    METHOD_REPEAT_RATIO,
    METHOD_WALL_PRODUCT,
    NOT_SUPPORTED,
    PARTLY,
    SETTLING_MARGIN_EPOCHS,
    SUPPORTED,
    TIME_RATIO_MARGIN,
    Verdict,
    accuracy_vs_best,
    best_batch_size,
    claim_large_batches_generalize_worse,
    claim_small_batches_settle_sooner,
    claim_time_per_epoch,
    claim_wall_time_not_epochs,
    directional,
    earliest_settling,
    evaluate_claims,
    family_size,
    family_words,
    gap_outcome,
    judge_ratio,
    repeat_table,
)
from batchstudy.io import write_table
from batchstudy.stats import DIFFERENT, EQUIVALENT, Effect, IntervalSettings

SIZES = (4, 8, 64, 128, 512)
N_SEEDS = 10
N_TRAIN = 1000
EPOCHS = 100
SETTINGS = IntervalSettings(n_boot=400)
#: Epochs a settling epoch must leave before the end of its budget (plateau + smoothing windows).
SETTLE_LEAD = 15
CONDITION = {
    "dataset": "moons",
    "optimizer": "adam",
    "lr_scaling": "constant",
    "base_lr": 0.001,
    "budget": "e100",
}

Curve = Callable[[int], float]


def make_runs(
    *,
    sizes: tuple[int, ...] = SIZES,
    seconds: Curve = lambda b: 0.05 + 10.0 / b,
    settling: Curve = lambda b: 40.0,
    test: Curve = lambda b: 0.83,
    train: Curve = lambda b: 0.90,
    epochs_to: Curve = lambda b: 10.0,
    reached: Callable[[int, int], bool] = lambda b, s: True,
    settling_sd: float = 2.0,
    acc_sd: float = 0.004,
    rng_seed: int = 0,
) -> pd.DataFrame:
    """Per-run table in run_metrics' layout: per-seed offsets shared across batch sizes (the
    paired design) plus small independent noise per run."""
    rng = np.random.default_rng(rng_seed)
    seed_offset = rng.normal(0, 0.02, size=N_SEEDS)  # larger than the per-run noise
    rows = []
    for b in sizes:
        for s in range(N_SEEDS):
            v = test(b) + seed_offset[s] + rng.normal(0, acc_sd)
            t = train(b) + seed_offset[s] + rng.normal(0, acc_sd)
            sec = seconds(b)
            ep = max(1.0, round(epochs_to(b) * np.exp(rng.normal(0, 0.05))))
            ep = ep if reached(b, s) else np.nan
            rows.append(
                CONDITION
                | {
                    "batch_size": b,
                    "seed": s,
                    "n_epochs": EPOCHS,
                    "last_settle_epoch": EPOCHS - SETTLE_LEAD,
                    "diverged": False,
                    "final_test_accuracy": v,
                    "final_end_train_accuracy": t,
                    "gap_accuracy": t - v,
                    "settling_epoch": max(1.0, round(settling(b) + rng.normal(0, settling_sd))),
                    "seconds_per_epoch": sec,
                    "target_95": 0.8,
                    "epochs_to_target_95": ep,
                    "steps_to_target_95": ep * -(-N_TRAIN // b),
                    "seconds_to_target_95": ep * sec,
                    "reached_95": bool(np.isfinite(ep)),
                }
            )
    return pd.DataFrame(rows)


def make_summary(seconds: Curve, spread: float = 0.02, drift: float = 1.0) -> pd.DataFrame:
    """Timing rows of summary.tsv: one timing stream per job, intervals over its epochs."""
    return pd.DataFrame(
        [
            CONDITION
            | {
                "batch_size": b,
                "seconds_per_epoch_median": seconds(b),
                "seconds_per_epoch_lo": seconds(b) * (1 - spread),
                "seconds_per_epoch_hi": seconds(b) * (1 + spread),
                "timing_streams": 1,
                "timing_drift": drift,
            }
            for b in SIZES
        ]
    )


def make_repeats(
    seconds: Curve,
    k: int = 5,
    load_sd: float = 0.3,
    noise_sd: float = 0.02,
    rng_seed: int = 0,
    sizes: tuple[int, ...] = SIZES,
) -> pd.DataFrame:
    """Rows of the aggregate timing_repeats.tsv for one job key: each repeat has its own load
    factor shared by every batch size it re-times (what interleaving pairs out), plus a small
    independent noise per measurement."""
    rng = np.random.default_rng(rng_seed)
    rows = []
    for r in range(k):
        load = np.exp(rng.normal(0, load_sd))
        for i, b in enumerate(rng.permutation(sizes)):
            spe = seconds(int(b)) * load * np.exp(rng.normal(0, noise_sd))
            rows.append(
                {k: CONDITION[k] for k in ("dataset", "optimizer", "budget")}
                | {
                    "batch_size": int(b),
                    "repeat": r,
                    "order": i + 1,
                    "epochs": 10,
                    "seconds_per_epoch": spe,
                    "seconds_per_step": spe / -(-N_TRAIN // int(b)),
                    "replicas": N_SEEDS,
                }
            )
    return pd.DataFrame(rows)


def _assert_verdict(v: Verdict, expected: str) -> None:
    assert isinstance(v, Verdict)
    assert v.verdict == expected, v.evidence


# --------------------------------------------------------------------------- claim 1


@pytest.mark.parametrize(
    "seconds, with_repeats",
    [
        (lambda b: 0.05 + 10.0 / b, SUPPORTED),  # falls 36-fold: a strong trend
        (lambda b: 0.5, NOT_SUPPORTED),  # flat
        (lambda b: 0.1 + b / 100, NOT_SUPPORTED),  # large batches slower
    ],
)
def test_time_per_epoch_from_the_jobs_own_clocks_gives_no_verdict(seconds, with_repeats):
    """One training job per batch size: however clear the trend, load differences between
    the jobs could produce it, so the verdict is inconclusive with the reason; the same times
    from interleaved timing repeats decide it."""
    v = claim_time_per_epoch(make_summary(seconds), SETTINGS)
    _assert_verdict(v, INCONCLUSIVE)
    assert f"{claims.NO_WALL_VERDICT}." in v.evidence
    assert "one training job per batch size" in v.evidence
    assert "not intervals over independent repeats" in v.evidence
    assert "Spearman ρ of the medians over B" in v.evidence and "nan" not in v.evidence
    timed = claim_time_per_epoch(make_summary(seconds), SETTINGS, make_repeats(seconds))
    _assert_verdict(timed, with_repeats)
    assert claims.NO_REPEATS_REASON not in timed.evidence


def test_time_per_epoch_states_drift_as_a_fold_change_above_one():
    """A job whose last epochs ran 0.421x as long as its first drifted 2.38-fold: the text
    gives the factor (>= 1, comparable with the 1.1x margin) and calls such differences
    unreliable; a drift inside the margin gets no such caveat."""
    v = claim_time_per_epoch(make_summary(lambda b: 0.05 + 10.0 / b, drift=0.421), SETTINGS)
    assert "up to a 2.38-fold change" in v.evidence and "0.421×" in v.evidence
    assert "not reliable" in v.evidence
    quiet = claim_time_per_epoch(make_summary(lambda b: 0.05 + 10.0 / b, drift=1.05), SETTINGS)
    assert "1.05-fold" in quiet.evidence and "not reliable" not in quiet.evidence


def test_time_per_epoch_flat_times_have_no_rank_correlation():
    v = claim_time_per_epoch(make_summary(lambda b: 0.5), SETTINGS)
    assert "nan" not in v.evidence and "ρ of the medians over B 0.00" in v.evidence


def test_time_per_epoch_inconclusive_with_two_batch_sizes():
    summary = make_summary(lambda b: 1.0 / b)
    v = claim_time_per_epoch(summary[summary["batch_size"].isin([8, 512])], SETTINGS)
    _assert_verdict(v, INCONCLUSIVE)
    assert "three batch sizes" in v.evidence


def test_time_per_epoch_from_repeats_names_its_unit_and_pairs_by_repeat():
    # Load varies 30% between repeats, far more than the margin; pairing by repeat removes it.
    repeats = make_repeats(lambda b: 0.05 + 10.0 / b, k=5, load_sd=0.3)
    flat_summary = make_summary(lambda b: 0.5)  # the training jobs' own streams say flat
    v = claim_time_per_epoch(flat_summary, SETTINGS, repeats)
    _assert_verdict(v, SUPPORTED)
    ratio = v.effects["seconds_ratio"]
    assert ratio.n == 5 and ratio.method == METHOD_REPEAT_RATIO and ratio.verdict == DIFFERENT
    assert ratio.estimate == pytest.approx((0.05 + 10 / 4) / (0.05 + 10 / 512), rel=0.05)
    assert "5 interleaved timing repeats" in v.evidence
    assert "intervals are over independent repeats" in v.evidence
    assert "one timing stream per job" not in v.evidence and "nan" not in v.evidence
    # Unpaired, the per-batch-size intervals carry the load spread: much wider than the ratio's.
    for b in (4, 512):
        alone = v.effects[f"seconds_per_epoch_{b}"]
        assert alone.n == 5 and (alone.hi / alone.lo) > (ratio.hi / ratio.lo) ** 3


def test_time_per_epoch_from_repeats_not_supported_when_flat():
    v = claim_time_per_epoch(
        make_summary(lambda b: 0.05 + 10.0 / b), SETTINGS, make_repeats(lambda b: 0.5)
    )
    _assert_verdict(v, NOT_SUPPORTED)
    assert v.effects["seconds_ratio"].verdict == EQUIVALENT


def test_time_per_epoch_weak_trend_with_a_ratio_above_one_is_inconclusive():
    """Spearman rho between -0.8 and 0 with the smallest B clearly slower than the largest:
    neither the supported nor the not-supported rule applies (a ratio different *above* 1
    refutes nothing), so the verdict is inconclusive; the rule is printed."""
    times = {4: 2.0, 8: 0.6, 64: 1.7, 128: 0.5, 512: 1.0}  # rho = -0.5, ratio 2
    v = claim_time_per_epoch(
        make_summary(lambda b: 0.5), SETTINGS, make_repeats(lambda b: times[b])
    )
    ratio = v.effects["seconds_ratio"]
    assert ratio.verdict == DIFFERENT and ratio.estimate > 1
    _assert_verdict(v, INCONCLUSIVE)
    assert claims.TREND_RULE in v.evidence and "different below 1" in claims.TREND_RULE
    reversed_ = claim_time_per_epoch(
        make_summary(lambda b: 0.5), SETTINGS, make_repeats(lambda b: times[b] if b > 4 else 0.7)
    )
    assert reversed_.effects["seconds_ratio"].estimate < 1  # rho = -0.2: only the ratio decides
    _assert_verdict(reversed_, NOT_SUPPORTED)


def test_time_per_epoch_from_too_few_repeats_is_inconclusive():
    v = claim_time_per_epoch(
        make_summary(lambda b: 0.5), SETTINGS, make_repeats(lambda b: 0.05 + 10.0 / b, k=2)
    )
    _assert_verdict(v, INCONCLUSIVE)
    assert "2 interleaved timing repeats" in v.evidence


def test_time_per_epoch_without_repeat_rows_keeps_the_stream_wording():
    no_rows = make_repeats(lambda b: 1.0).iloc[:0]  # timing_repeats = 0: the table is empty
    v = claim_time_per_epoch(make_summary(lambda b: 0.05 + 10.0 / b), SETTINGS, no_rows)
    _assert_verdict(v, INCONCLUSIVE)
    assert "one timing stream per job" in v.evidence and "seconds_ratio" not in v.effects


def _steps(b: int, n_train: int = 200) -> int:
    return -(-n_train // b)


def test_epoch_cost_parts_split_fixed_and_per_step_seconds():
    steps = [_steps(b) for b in SIZES]  # 50, 25, 4, 2, 1
    fixed, per_step, r2 = claims.epoch_cost_parts(steps, [0.8 + 0.012 * k for k in steps])
    assert (fixed, per_step, r2) == pytest.approx((0.8, 0.012, 1.0))
    # both parts stay >= 0: times that fall as steps grow have no per-step cost, and the fit
    # (the mean) explains none of their variance
    fixed, per_step, r2 = claims.epoch_cost_parts([50, 25, 4], [0.5, 0.6, 0.7])
    assert per_step == 0.0 and fixed == pytest.approx(0.6) and r2 == pytest.approx(0.0)
    # R² = 1 - residual / total sum of squares: y = 1, 2, 2 at x = 0, 1, 2 fits 7/6 + x/2
    # with residuals 1/6, 1/3, 1/6 (1/6 in squares) of a total 2/3: R² = 0.75
    assert claims.epoch_cost_parts([0, 1, 2], [1.0, 2.0, 2.0])[2] == pytest.approx(0.75)
    # equal times everywhere are all fixed cost, fitted exactly
    assert claims.epoch_cost_parts([50, 25, 4], [0.6, 0.6, 0.6])[2] == 1.0
    # two distinct step counts fit any line: no split; a NaN time drops its pair
    assert claims.epoch_cost_parts([50, 25, 25], [1.0, 0.6, 0.7]) is None
    assert claims.epoch_cost_parts([50, 25, 4], [1.0, np.nan, 0.7]) is None


def test_time_per_epoch_names_a_fixed_cost_that_dominates_the_largest_batch():
    """Keras-like epochs (0.8 s fixed, 12 ms per step): at B = 512 (one step) the fixed part
    is 98.5% of the epoch and the evidence says so with the numbers; epochs whose time is
    the steps' work (no fixed part) get no such sentence."""

    def summary(seconds: Callable[[int], float]) -> pd.DataFrame:
        rows = make_summary(lambda b: seconds(_steps(b)))
        return rows.assign(steps_per_epoch=[_steps(b) for b in rows["batch_size"]])

    v = claim_time_per_epoch(summary(lambda k: 0.8 + 0.012 * k), SETTINGS)
    assert (
        "R² = 1.00): 800 ms per epoch is fixed cost, 12.0 ms per step: the fixed part is 98.5% "
        "of the fitted epoch time at B = 512, 57.1% at B = 4: these epoch times mostly measure"
        in v.evidence
    )
    # a per-step cost that dominates at small B: only the batch sizes above half are named
    mixed = claim_time_per_epoch(summary(lambda k: 0.8 + 0.05 * k), SETTINGS)
    assert "94.1% of the fitted epoch time at B = 512, 24.2% at B = 4" in mixed.evidence
    assert (
        "the epoch times of B ∈ {64, 128, 512} (fixed part above half) mostly measure"
        in mixed.evidence
    )
    work = claim_time_per_epoch(summary(lambda k: 0.012 * k), SETTINGS)
    assert "fixed cost" not in work.evidence and "fits too loosely" not in work.evidence
    # the timing stage's repeats: the same caveat on their geometric means
    repeats = make_repeats(lambda b: 0.8 + 0.012 * _steps(b), k=5, load_sd=0.01, noise_sd=0.0)
    v = claim_time_per_epoch(summary(lambda k: 0.5), SETTINGS, repeats)
    assert "the fixed part is 98.5% of the fitted epoch time" in v.evidence
    # without steps per epoch in the summary nothing is claimed
    assert "fixed cost" not in claim_time_per_epoch(make_summary(lambda b: 0.8), SETTINGS).evidence


def test_time_per_epoch_draws_no_fixed_cost_from_a_fit_that_explains_little():
    """Epoch times that scatter without a trend in steps per epoch (as on a loaded machine:
    the largest batch size's epoch below the would-be fixed part) get the fit's R² and no
    split into fixed and per-step cost; just above the threshold the split is drawn."""
    scatter = {4: 0.9, 8: 1.4, 64: 0.7, 128: 1.3, 512: 0.66}
    steps = {b: float(_steps(b)) for b in SIZES}
    note = claims.fixed_cost_note(steps, scatter)
    r2 = claims.epoch_cost_parts(list(steps.values()), list(scatter.values()))[2]
    assert r2 < claims.FIXED_COST_MIN_R2
    assert "fits too loosely to split" in note and f"R² = {r2:.2f}" in note
    assert "no split is made" in note
    assert "fixed cost," not in note and "fitted epoch time" not in note

    def with_r2(target: float) -> dict[int, float]:
        """0.8 s fixed + 12 ms per step, plus alternating noise scaled to give R² = target."""
        clean = np.array([0.8 + 0.012 * steps[b] for b in SIZES])
        noise = np.array([1.0, -1.0, 1.0, -1.0, 1.0])
        lo, hi = 0.0, 1.0
        for _ in range(60):  # bisect the noise scale: R² falls as it grows
            mid = (lo + hi) / 2
            fit = claims.epoch_cost_parts(list(steps.values()), clean + mid * noise)
            lo, hi = (mid, hi) if fit[2] > target else (lo, mid)
        return dict(zip(SIZES, clean + lo * noise, strict=True))

    above = claims.fixed_cost_note(steps, with_r2(claims.FIXED_COST_MIN_R2 + 0.02))
    below = claims.fixed_cost_note(steps, with_r2(claims.FIXED_COST_MIN_R2 - 0.02))
    assert "of the fitted epoch time" in above and "fits too loosely" not in above
    assert "fits too loosely" in below and "fixed cost," not in below


def test_time_per_epoch_names_the_clock_of_each_engine():
    """The fused engine shares one clock among a job's rates and seeds (counted from its
    replicas), the Keras engine trains them one after another: the unit sentence says which,
    and says "learning rates" only when the job trains several."""
    base = make_summary(lambda b: 0.05 + 10.0 / b).assign(n_runs=N_SEEDS)
    one = claim_time_per_epoch(base.assign(engine="fused", replicas=N_SEEDS), SETTINGS)
    assert "all seeds of the job, at its one learning rate, train together" in one.evidence
    seven = claim_time_per_epoch(base.assign(engine="fused", replicas=7 * N_SEEDS), SETTINGS)
    assert (
        "all 7 learning-rate settings (arms or rates) of the job, each with every seed"
        in seven.evidence
    )
    keras = claim_time_per_epoch(
        base.assign(engine="keras", replicas=1, timing_streams=5), SETTINGS
    )
    assert "one after another (Keras engine)" in keras.evidence
    assert "5 sequential timing streams per job" in keras.evidence
    assert "together on one clock" not in keras.evidence
    for v in (one, seven, keras):
        assert "every learning rate trained in that job shares" not in v.evidence
    assert claims.rates_per_job(base.assign(engine="keras", replicas=1)) is None


def test_repeat_table_refuses_rows_of_several_jobs():
    both = pd.concat([make_repeats(lambda b: 1.0), make_repeats(lambda b: 1.0)])
    with pytest.raises(ValueError, match="several jobs"):
        repeat_table(both.assign(budget="e100"), list(SIZES))


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (1.2, 1.5, DIFFERENT),
        (0.5, 0.8, DIFFERENT),
        (0.95, 1.05, EQUIVALENT),
        (1.0, 1.3, stats.INCONCLUSIVE),
    ],
)
def test_judge_ratio_is_judge_on_the_log_scale(lo, hi, expected):
    e = Effect(float(np.sqrt(lo * hi)), lo, hi, 5, METHOD_REPEAT_RATIO)
    assert judge_ratio(e, TIME_RATIO_MARGIN, SETTINGS).verdict == expected


# --------------------------------------------------------------------------- claim 2


def test_settling_supported_for_article_like_numbers():
    v = claim_small_batches_settle_sooner(
        make_runs(settling=lambda b: 30.0 if b < 64 else 50.0), SETTINGS
    )
    _assert_verdict(v, SUPPORTED)
    assert "B ∈ {4, 8}" in v.statement and "B ∈ {64, 128, 512}" in v.statement
    d = v.effects["difference"]
    assert d.estimate == pytest.approx(-20.0, abs=1.5) and d.verdict == DIFFERENT
    assert "about 30 vs about 50" in v.evidence


def test_settling_unsettled_runs_are_censored_at_the_budget_not_dropped():
    runs = make_runs(settling=lambda b: 30.0 if b < 64 else 50.0)
    unsettled = runs["batch_size"].isin([64, 128, 512]) & (runs["seed"] < 6)
    runs.loc[unsettled, "settling_epoch"] = np.nan
    v = claim_small_batches_settle_sooner(runs, SETTINGS)
    _assert_verdict(v, SUPPORTED)
    assert v.effects["difference"].n == N_SEEDS
    # Counted at the budget (100 epochs), the large group's median moves up, not out.
    assert v.effects["difference"].estimate < -30
    assert "B = 512: 6 of 10" in v.evidence


def test_settling_inconclusive_when_most_runs_never_settled():
    runs = make_runs(settling=lambda b: 40.0)
    runs["settling_epoch"] = np.nan  # every run counted at the budget: equal, but uninformative
    v = claim_small_batches_settle_sooner(runs, SETTINGS)
    _assert_verdict(v, INCONCLUSIVE)
    assert "No run settled within the budget" in v.evidence
    assert "B ∈ {4, 8}: 20 of 20 never settled (20 without a recorded cause)" in v.evidence
    assert "> budget" not in v.evidence  # budget-limited runs entered their band within it
    assert "difference" not in v.effects and "[" not in v.evidence


def test_settling_large_group_never_settled_is_a_bound_not_an_interval():
    """Every large-batch run censored: no paired interval is printed as an estimate; the small
    group's per-seed median (about 30) lies well below the budget (100) minus the margin."""
    runs = make_runs(settling=lambda b: 30.0 if b < 64 else 50.0)
    large = runs["batch_size"] >= 64
    runs.loc[large, "settling_epoch"] = np.nan
    runs["settle_status"] = np.where(large, "still moving", "settled")
    runs.loc[large & (runs["seed"] < 3), "settle_status"] = "at chance"
    v = claim_small_batches_settle_sooner(runs, SETTINGS)
    _assert_verdict(v, SUPPORTED)
    assert "difference" not in v.effects and "paired" not in v.evidence
    assert v.effects["small_median"].hi < EPOCHS - SETTLING_MARGIN_EPOCHS
    assert v.evidence.startswith(
        "Only a one-sided comparison is available: B ∈ {64, 128, 512}: no run settled within "
        "the budget (9 at chance, 21 still moving); each such run is counted at its budget "
        "(100 epochs) (a still-moving run, whose smoothed validation accuracy or loss still "
        "moves, settles after the budget if at all)."
    )
    assert "exceeds" not in v.evidence
    assert "Runs that never settled, counted at the budget: B = 64: 10 of 10" in v.evidence
    assert "B = 512: 10 of 10 (3 at chance, 7 still moving)" in v.evidence
    assert "lower bound" not in v.evidence and "nan" not in v.evidence


def test_settling_bound_budget_limited_runs_lower_the_limit():
    """Budget-limited runs entered their band after the last epoch a run can settle at (85 of
    100 here), not after the budget: the small group is compared with 85 − 5, not 100 − 5, so
    a small-group median near 88 is no longer "sooner"."""
    runs = make_runs(settling=lambda b: 30.0 if b < 64 else 50.0)
    large = runs["batch_size"] >= 64
    runs.loc[large, "settling_epoch"] = np.nan
    runs["settle_status"] = np.where(large, "budget-limited", "settled")
    runs["settles_after"] = np.where(large, 85.0, np.nan)
    v = claim_small_batches_settle_sooner(runs, SETTINGS)
    _assert_verdict(v, SUPPORTED)
    assert (
        "budget-limited runs entered their band only after the last epoch a run can settle at (85)"
        in (v.evidence)
    )
    assert "below that smallest per-seed median minus the margin (85 − 5 = 80): it is." in (
        v.evidence
    )
    late = runs.assign(settling_epoch=np.where(large, np.nan, 88.0))
    w = claim_small_batches_settle_sooner(late, SETTINGS)
    _assert_verdict(w, INCONCLUSIVE)
    assert "(85 − 5 = 80): it is not." in w.evidence
    still = runs.assign(settle_status=np.where(large, "still moving", "settled"))
    still["settles_after"] = np.where(large, 100.0, np.nan)
    u = claim_small_batches_settle_sooner(
        still.assign(settling_epoch=late["settling_epoch"]), SETTINGS
    )
    _assert_verdict(u, SUPPORTED)
    assert "below the budget minus the margin (100 − 5 = 95): it is." in u.evidence


def test_settling_bound_where_a_group_median_is_the_budget_in_every_seed():
    """B = 64 settles at 50 but B = 128 and B = 512 never do: every seed's large-group median is
    the budget, so the paired difference would be small − budget, a bound; only the one-sided
    comparison is given."""
    runs = make_runs(settling=lambda b: 30.0 if b < 64 else 50.0)
    runs["settle_status"] = "settled"
    late = runs["batch_size"].isin([128, 512])
    runs.loc[late, ["settling_epoch", "settle_status"]] = [np.nan, "still moving"]
    runs["settles_after"] = np.where(late, 100.0, np.nan)
    v = claim_small_batches_settle_sooner(runs, SETTINGS)
    _assert_verdict(v, SUPPORTED)
    assert "difference" not in v.effects
    assert (
        "B ∈ {64, 128, 512}: in every seed their median rests on runs counted at the budget "
        "(20 of 30: 20 still moving); each such run" in v.evidence
    )


def test_settling_bound_compares_with_the_smallest_per_seed_median_the_group_allows():
    """Large group {64, 128}: B = 64 settles near 40, B = 128 never does: every seed's median is
    the mean of ~40 and a run counted at 100, at least ~70, not 100; the small group (~60) is
    judged against that, and where the small group is itself bounded no comparison is left."""
    runs = make_runs(sizes=(4, 8, 64, 128), settling=lambda b: 60.0 if b < 64 else 40.0)
    runs["settle_status"] = "settled"
    late = runs["batch_size"] == 128
    runs.loc[late, ["settling_epoch", "settle_status"]] = [np.nan, "still moving"]
    runs["settles_after"] = np.where(late, 100.0, np.nan)
    v = claim_small_batches_settle_sooner(runs, SETTINGS)
    floor = claims.group_floor(runs, [64, 128], [4, 8, 64, 128])
    assert 65 < floor < 75
    assert f"the smallest per-seed median of B ∈ {{64, 128}} is {fmt.number(floor)}" in v.evidence
    assert v.evidence.startswith(claims.ONE_SIDED)
    some = (runs["batch_size"] < 64) & (runs["seed"] < 6)
    runs.loc[some, ["settling_epoch", "settle_status"]] = [np.nan, "still moving"]
    runs["settles_after"] = np.where(late | some, 100.0, np.nan)
    w = claim_small_batches_settle_sooner(runs, SETTINGS)
    assert w.evidence.startswith(claims.NO_COMPARISON) and "no interval of them can carry" in (
        w.evidence
    )


def test_settling_bound_names_each_budget_under_a_step_budget():
    runs = make_runs(settling=lambda b: 50.0 if b < 64 else 3.0)
    runs["n_epochs"] = np.where(
        runs["batch_size"] == 4, 8, np.where(runs["batch_size"] == 8, 16, 100)
    )
    small = runs["batch_size"] < 64
    runs.loc[small, "settling_epoch"] = np.nan
    v = claim_small_batches_settle_sooner(runs, SETTINGS)
    assert "each such run is counted at its budget (8 epochs at B = 4, 16 at B = 8)" in v.evidence
    # each seed's small-group median is the mean of 8 and 16: at least 12
    assert "the smallest per-seed median of B ∈ {4, 8} is 12" in v.evidence
    assert "below that smallest per-seed median minus the margin (12 − 5 = 7)" in v.evidence
    assert "too short" not in v.evidence and "below the target at its own" not in v.evidence


def _budgets(runs: pd.DataFrame, epochs: dict[int, int]) -> pd.DataFrame:
    """`runs` with the budgets `epochs` (batch size -> epochs; others keep theirs) and the
    last epoch each run can settle at, as the run table derives it."""
    n = runs["batch_size"].map(epochs).fillna(runs["n_epochs"]).astype(int)
    return runs.assign(n_epochs=n, last_settle_epoch=n - SETTLE_LEAD)


def test_settling_not_testable_under_a_budget_that_leaves_the_small_group_no_epoch_to_settle():
    """Under 1000 steps B = 4 trains 8 epochs (too short to settle: no run can settle at all)
    and B = 8 16: the claim is not testable under this budget, whatever the large group does;
    the 15 epochs a settling epoch must leave before the end of its budget (the run table's
    ``last_settle_epoch``) and B = 8's last settleable epoch (1) are named. The Findings count
    it apart (`shown_verdict`). With 100 epochs at B = 4 and 19 at B = 8 (last settleable epoch
    4, below the 5-epoch margin) it is still not testable; with 21 at B = 8 (epoch 6) it is;
    a table without ``last_settle_epoch`` leaves the claim testable."""
    runs = make_runs(settling=lambda b: 50.0 if b < 64 else 3.0)
    runs["settle_status"] = "settled"
    runs["settles_after"] = np.nan
    runs = _budgets(runs, {4: 8, 8: 16})
    small = runs["batch_size"] < 64
    runs.loc[small, ["settling_epoch", "settle_status"]] = [np.nan, "still moving"]
    runs.loc[runs["batch_size"] == 4, "settle_status"] = "too short to settle"
    v = claim_small_batches_settle_sooner(runs, SETTINGS)
    _assert_verdict(v, INCONCLUSIVE)
    assert v.evidence.startswith(
        "Not testable under this budget: B = 4 trains 8 epochs and B = 8 16; a run can settle "
        "only 15 or more epochs before the end of its budget; at B = 4 no run can settle at all, "
        "and at B = 8 a run can settle only by epoch 1, below the margin of 5 epochs ("
    )
    shown = claims.shown_verdict({"verdict": v.verdict, "evidence": v.evidence})
    assert shown == "inconclusive (not testable under this budget)"
    assert "nothing is known" not in v.evidence and "verdict needs" not in v.evidence
    runs = _budgets(runs, {4: 100, 8: 19})
    runs.loc[runs["batch_size"] == 4, "settle_status"] = "still moving"
    short = claim_small_batches_settle_sooner(runs, SETTINGS)
    assert "at B = 8 a run can settle only by epoch 4, below the margin" in short.evidence
    assert "B = 4 no run" not in short.evidence
    testable = claim_small_batches_settle_sooner(_budgets(runs, {8: 21}), SETTINGS)
    assert not claims.untestable_words(testable.evidence)
    unknown = claim_small_batches_settle_sooner(runs.drop(columns="last_settle_epoch"), SETTINGS)
    assert not claims.untestable_words(unknown.evidence)


TOO_SHORT = "too short to settle"


def test_settling_bound_notes_a_large_run_too_short_to_settle_only_where_one_is():
    """Where the censored group has runs under a budget too short to settle, the bound says
    they stand at 0 (nothing is known of them); only there."""
    runs = make_runs(settling=lambda b: 30.0 if b < 64 else 50.0)
    runs["settle_status"] = "settled"
    runs["settles_after"] = np.nan
    large = runs["batch_size"] >= 64
    runs.loc[large, ["settling_epoch", "settle_status", "settles_after"]] = [
        np.nan,
        "still moving",
        100.0,
    ]
    v = claim_small_batches_settle_sooner(runs, SETTINGS)
    assert "too short" not in v.evidence and "nothing is known" not in v.evidence
    short = (runs["batch_size"] == 512) & (runs["seed"] < 5)
    runs.loc[short, ["n_epochs", "settle_status", "settles_after"]] = [10, TOO_SHORT, np.nan]
    w = claim_small_batches_settle_sooner(runs, SETTINGS)
    assert "one under a budget too short to settle at 0: nothing is known of it" in w.evidence


def test_settling_interval_above_minus_the_margin_rules_the_claim_out():
    """Small batches settle ~3 epochs later, with an interval wide enough to be neither
    different nor equivalent but whose lower end is above −5: not supported, and said why."""
    v = claim_small_batches_settle_sooner(
        make_runs(settling=lambda b: 43.0 if b < 64 else 40.0, settling_sd=6.0), SETTINGS
    )
    d = v.effects["difference"]
    assert d.verdict == stats.INCONCLUSIVE and d.lo > -SETTLING_MARGIN_EPOCHS
    _assert_verdict(v, NOT_SUPPORTED)
    assert "Its lower end lies above −5: the small batch sizes settling sooner by the margin" in (
        v.evidence
    )


def test_settling_bound_with_lower_bounds_in_the_small_group_falls_back_on_pooled_runs():
    """Large group all censored; 3 small-batch runs (B = 4, seeds 0-2) never settled either:
    their per-seed medians, (100 + ~30) / 2, are only lower bounds, so no interval of them
    bounds anything (printed only as a lower bound, no interval). The median over all 20
    small-group runs (3 censored) is ~30 with an upper end far below 95: that decides. With
    most small-batch runs censored the pooled median is open too: no comparison is left."""
    runs = make_runs(settling=lambda b: 30.0 if b < 64 else 50.0)
    runs.loc[runs["batch_size"] >= 64, "settling_epoch"] = np.nan
    runs.loc[(runs["batch_size"] == 4) & (runs["seed"] < 3), "settling_epoch"] = np.nan
    counted = runs.assign(s=runs["settling_epoch"].fillna(EPOCHS))
    per_seed = counted.loc[counted["batch_size"] < 64].groupby("seed")["s"].median()
    v = claim_small_batches_settle_sooner(runs, SETTINGS)
    e = v.effects["small_median"]
    _assert_verdict(v, SUPPORTED)
    assert e.method == claims.METHOD_POOLED and e.hi < EPOCHS - SETTLING_MARGIN_EPOCHS
    assert (
        f"≥ {fmt.number_at_least(per_seed.mean())} on average over 10 seeds, with each run "
        "counted at the budget placed instead at the epoch it is known to settle after (the "
        "budget; for a budget-limited run the last epoch a run can settle at; a run settled "
        "below the target at its own settling epoch) "
        f"(3 of 10 {claims.LOWER_BOUND_WORDS}), so no interval of them can carry a verdict."
        in v.evidence
    )
    assert "Over all its runs pooled (3 of 20 counted at the budget" in v.evidence
    assert "(100 − 5 = 95): it is." in v.evidence
    most = runs["batch_size"].isin([4, 8]) & (runs["seed"] < 6)
    runs.loc[most, "settling_epoch"] = np.nan
    w = claim_small_batches_settle_sooner(runs, SETTINGS)
    _assert_verdict(w, INCONCLUSIVE)
    assert w.evidence.startswith(claims.NO_COMPARISON) and "has no upper bound either" in w.evidence


@pytest.mark.parametrize(
    ("values", "censored", "moves"),
    [
        ((16, 10, 26, 100), (False, False, False, True), False),  # 1 of 4: above the median
        ((16, 10, 100, 100), (False, False, True, True), True),  # 2 of 4: one is in the middle
        ((30, 100), (False, True), True),  # 1 of 2: the median is the mean of both
        ((20, 30, 100), (False, False, True), False),  # 1 of 3: above the middle one
        ((20, 100, 100), (False, True, True), True),  # 2 of 3: the middle one
    ],
)
def test_median_open_only_where_budget_counts_reach_the_median(values, censored, moves):
    """c values counted at the budget of k move the median only when c > floor((k - 1) / 2)."""
    sizes = [64, 128, 256, 512][: len(values)]
    runs = pd.DataFrame(
        {
            "seed": 0,
            "batch_size": sizes,
            "n_epochs": EPOCHS,
            "settling_epoch": [
                np.nan if c else float(v) for v, c in zip(values, censored, strict=True)
            ],
        }
    )
    assert bool(claims.median_open(runs, sizes, sizes).iloc[0]) is moves


def test_settling_bound_interval_is_clipped_to_the_budget():
    """Small batches settle near the 100-epoch budget with a wide spread: the raw t-interval's
    upper end would pass the budget, the printed one stops at it."""
    runs = make_runs(settling=lambda b: 50.0).loc[lambda r: r["seed"] < 3].copy()
    small = runs["batch_size"] < 64
    runs.loc[small, "settling_epoch"] = np.where(runs.loc[small, "seed"] == 1, 75.0, 99.0)
    runs.loc[~small, "settling_epoch"] = np.nan
    v = claim_small_batches_settle_sooner(runs, SETTINGS)
    e = v.effects["small_median"]
    raw = stats.t_interval(
        runs.loc[runs["batch_size"] < 64].groupby("seed")["settling_epoch"].median(), SETTINGS
    )
    assert raw.hi > EPOCHS and e.hi == EPOCHS and e.lo >= 0
    _assert_verdict(v, INCONCLUSIVE)


def test_settling_paired_path_says_counting_at_the_budget_is_not_exact():
    runs = make_runs(settling=lambda b: 30.0 if b < 64 else 50.0)
    runs.loc[(runs["batch_size"] == 4) & (runs["seed"] < 2), "settling_epoch"] = np.nan
    runs.loc[(runs["batch_size"] == 512) & (runs["seed"] < 5), "settling_epoch"] = np.nan
    v = claim_small_batches_settle_sooner(runs, SETTINGS)
    assert (
        "Runs that never settled are counted at the budget (2 of 20 small-batch and 5 of 30 "
        "large-batch runs), so the interval is not exact; per batch "
        "size: B = 4: 2 of 10; B = 512: 5 of 10." in v.evidence
    )
    every = claim_small_batches_settle_sooner(make_runs(), SETTINGS)
    assert "Every run settled within the budget." in every.evidence
    assert "not exact" not in every.evidence


def test_settling_counts_runs_settled_below_the_target_at_the_budget():
    """B = 4 seeds 0-3 "settle" early (epoch 5) at a plateau far under the first target (0.8):
    a failure to learn, counted at the budget like a run that never settled, not as an early
    settling that would support the claim; listed apart. In 6 of 10 seeds (more than half)
    they would decide the small group's median: the claim is then not testable."""
    runs = make_runs(settling=lambda b: 30.0 if b < 64 else 50.0).assign(plateau_val_accuracy=0.85)
    failing = (runs["batch_size"] == 4) & (runs["seed"] < 4)
    runs.loc[failing, "settling_epoch"] = 5.0
    before = claim_small_batches_settle_sooner(runs, SETTINGS)
    _assert_verdict(before, SUPPORTED)  # above the target: early settlers, fine
    assert "Settled below the target" not in before.evidence
    runs.loc[failing, "plateau_val_accuracy"] = 0.3
    v = claim_small_batches_settle_sooner(runs, SETTINGS)
    assert v.effects["difference"].estimate > before.effects["difference"].estimate + 10
    assert f"Settled below the target ({claims.BELOW_TARGET_RULE}): B = 4: 4 of 10." in v.evidence
    assert (
        "Runs that never settled, or settled below the target, are counted at the budget (4 of "
        "20 small-batch and 0 of 30 large-batch runs)," in v.evidence
    )
    more = (runs["batch_size"] == 4) & (runs["seed"] < 6)
    runs.loc[more, ["settling_epoch", "plateau_val_accuracy"]] = [5.0, 0.3]
    w = claim_small_batches_settle_sooner(runs, SETTINGS)
    _assert_verdict(w, INCONCLUSIVE)
    assert w.evidence.startswith(
        "Not testable at this rate (B = 4 (10 runs): 6 settled below the target)"
    )


def test_settling_gives_large_runs_settled_below_the_target_at_their_own_epochs_too():
    """B = 256 runs settle at epoch 45 below the target: counted at the budget they raise the
    large group's median (60 instead of 52.5), in the claim's favour. The difference with them
    at their own epochs (about −2.5) is not beyond the margin: "supported" rests on how they
    are counted and is withheld; the evidence says which way they push."""
    sizes = (4, 8, 64, 128, 256, 512)
    runs = make_runs(
        sizes=sizes, settling=lambda b: 50.0 if b < 64 else 40.0 if b == 64 else 60.0
    ).assign(plateau_val_accuracy=0.85)
    runs["settle_status"] = "settled"
    low = runs["batch_size"] == 256
    runs.loc[low, ["settling_epoch", "plateau_val_accuracy"]] = [45.0, 0.3]
    v = claim_small_batches_settle_sooner(runs, SETTINGS)
    assert v.effects["difference"].verdict == DIFFERENT
    _assert_verdict(v, INCONCLUSIVE)
    assert "10 large-batch runs may push the large values up, in favour of the claim" in v.evidence
    assert "With them at their own settling epochs instead: −" in v.evidence
    assert "the verdict supported rests on how those runs are counted" in v.evidence


def test_settling_gives_budget_limited_large_runs_their_earliest_settling_epoch_too():
    """B = 256 runs are budget-limited (entered their band after epoch 85 of 100): counted at
    the budget they raise the large group's values, in the claim's favour; with them at epoch
    86, the earliest they can have settled at, the difference is given as well."""
    sizes = (4, 8, 64, 128, 256, 512)
    runs = make_runs(sizes=sizes, settling=lambda b: 50.0 if b < 64 else 40.0)
    runs["settle_status"] = "settled"
    late = runs["batch_size"] == 256
    runs.loc[late, ["settling_epoch", "settle_status"]] = [np.nan, "budget-limited"]
    runs["settles_after"] = np.where(late, 85.0, np.nan)
    v = claim_small_batches_settle_sooner(runs, SETTINGS)
    assert "Counted at the budget, runs that are budget-limited may raise" in v.evidence
    assert "10 large-batch runs may push the large values up, in favour of the claim" in v.evidence
    assert "With them at the earliest epochs they can have settled at" in v.evidence
    alt = earliest_settling(runs)
    assert (alt[late] == 86.0).all() and alt[~late].isna().all()


def test_settling_not_testable_where_runs_that_failed_to_train_decide_a_median():
    """Every small-batch run at chance: they never learnt, so "the small batches
    settle later" would be false; the claim is not testable at this rate. So too with B = 4's
    runs 4 collapsed and 6 settled below the target: together they decide every seed's median."""
    runs = make_runs(settling=lambda b: 30.0).assign(plateau_val_accuracy=0.85)
    runs["settle_status"] = "settled"
    small = runs["batch_size"] < 64
    runs.loc[small, ["settling_epoch", "settle_status"]] = [np.nan, "at chance"]
    v = claim_small_batches_settle_sooner(runs, SETTINGS)
    _assert_verdict(v, INCONCLUSIVE)
    assert v.evidence.startswith(
        "Not testable at this rate (B = 4 (10 runs): 10 at chance; B = 8 (10 runs): 10 at chance)"
    )
    assert "in 10 of 10 seeds the small batch sizes' median" in v.evidence
    assert "reversed" not in v.evidence.lower() and "later" not in v.evidence
    runs.loc[(runs["batch_size"] == 64) & (runs["seed"] == 0), "plateau_val_accuracy"] = 0.3
    only = claim_small_batches_settle_sooner(runs, SETTINGS)
    assert "B = 64" not in only.evidence  # a failure outside the untestable group is not listed
    mixed = make_runs(settling=lambda b: 30.0).assign(plateau_val_accuracy=0.85)
    mixed["settle_status"] = "settled"
    four = mixed["batch_size"] == 4
    mixed.loc[four & (mixed["seed"] < 4), ["settling_epoch", "settle_status"]] = [
        np.nan,
        "at chance",
    ]
    mixed.loc[four & (mixed["seed"] >= 4), "plateau_val_accuracy"] = 0.3
    w = claim_small_batches_settle_sooner(mixed, SETTINGS)
    _assert_verdict(w, INCONCLUSIVE)
    assert "B = 4 (10 runs): 4 at chance, 6 settled below the target" in w.evidence
    assert "in 10 of 10 seeds the small batch sizes' median" in w.evidence


def test_settling_bound_is_inconclusive_when_small_batches_settle_near_the_budget():
    runs = make_runs(settling=lambda b: 97.0 if b < 64 else 50.0)
    runs.loc[runs["batch_size"] >= 64, "settling_epoch"] = np.nan
    v = claim_small_batches_settle_sooner(runs, SETTINGS)
    _assert_verdict(v, INCONCLUSIVE)
    assert "(100 − 5 = 95): it is not." in v.evidence


def test_settling_bound_needs_enough_seeds():
    runs = make_runs(settling=lambda b: 30.0 if b < 64 else 50.0)
    runs = runs.loc[runs["seed"] < 2].copy()
    runs.loc[runs["batch_size"] >= 64, "settling_epoch"] = np.nan
    v = claim_small_batches_settle_sooner(runs, SETTINGS)
    _assert_verdict(v, INCONCLUSIVE)
    assert "(100 − 5 = 95): it is; 2 seeds are too few for a verdict." in v.evidence


def test_settling_small_group_never_settled_and_large_sooner_is_not_supported():
    runs = make_runs(settling=lambda b: 50.0 if b < 64 else 30.0)
    runs.loc[runs["batch_size"] < 64, "settling_epoch"] = np.nan
    v = claim_small_batches_settle_sooner(runs, SETTINGS)
    _assert_verdict(v, NOT_SUPPORTED)
    assert "B ∈ {4, 8}: no run settled within the budget (20 without a recorded cause)" in (
        v.evidence
    )
    assert "large_median" in v.effects


def test_settling_not_supported_when_equal_within_margin():
    v = claim_small_batches_settle_sooner(make_runs(settling=lambda b: 40.0), SETTINGS)
    _assert_verdict(v, NOT_SUPPORTED)
    assert v.effects["difference"].verdict == EQUIVALENT


def test_settling_not_supported_when_large_batches_settle_sooner():
    v = claim_small_batches_settle_sooner(
        make_runs(settling=lambda b: 50.0 if b < 64 else 30.0), SETTINGS
    )
    _assert_verdict(v, NOT_SUPPORTED)
    assert v.effects["difference"].lo > 0


def test_settling_inconclusive_when_noise_hides_any_effect():
    v = claim_small_batches_settle_sooner(
        make_runs(settling=lambda b: 40.0, settling_sd=25.0, rng_seed=1), SETTINGS
    )
    _assert_verdict(v, INCONCLUSIVE)


def test_settling_inconclusive_without_large_batches():
    v = claim_small_batches_settle_sooner(make_runs(sizes=(4, 8, 16, 32)), SETTINGS)
    _assert_verdict(v, INCONCLUSIVE)
    assert "64" in v.evidence


# --------------------------------------------------------------------------- claim 3


def test_generalization_gap_when_train_holds_and_test_drops():
    runs = make_runs(test=lambda b: 0.78 if b == 512 else 0.83, train=lambda b: 0.99)
    lower, gap = claim_large_batches_generalize_worse(runs, SETTINGS)
    _assert_verdict(lower, SUPPORTED)
    _assert_verdict(gap, SUPPORTED)
    assert lower.effects["test_accuracy"].estimate == pytest.approx(-0.05, abs=0.01)
    assert "n = 10" in lower.evidence
    # the interval names its family in place (a tuned claims table has no accuracy finding)
    assert "(different); one interval of the family: all 10 pairs of the 5 batch sizes" in (
        lower.evidence
    )


def test_under_training_when_train_and_test_both_drop():
    runs = make_runs(
        test=lambda b: 0.78 if b == 512 else 0.83,
        train=lambda b: 0.81 if b == 512 else 0.86,
        acc_sd=0.002,
    )
    lower, gap = claim_large_batches_generalize_worse(runs, SETTINGS)
    _assert_verdict(lower, SUPPORTED)
    _assert_verdict(gap, NOT_SUPPORTED)  # the gap is equivalent: no generalization gap
    assert "under-training" in gap.evidence


def _gap_case(test_drop: float, train_drop: float) -> tuple[Verdict, Verdict]:
    """Claim 3 when B = 512 loses ``test_drop`` test and ``train_drop`` train accuracy."""
    runs = make_runs(
        test=lambda b: 0.83 - (test_drop if b == 512 else 0),
        train=lambda b: 0.90 - (train_drop if b == 512 else 0),
        acc_sd=0.002,
    )
    return claim_large_batches_generalize_worse(runs, SETTINGS)


def _reading(v: Verdict) -> str:
    return v.evidence.split("Reading: ")[1]


def test_claim_3b_reading_when_the_gap_is_shown_to_grow():
    lower, gap = _gap_case(0.05, 0.0)
    assert gap.effects["gap"].verdict == DIFFERENT and gap_outcome(gap.effects["gap"]) == GAP_GROWS
    assert _reading(gap).startswith("the gap grows at large B")


def test_claim_3b_reading_when_the_gap_is_shown_not_to_grow():
    lower, gap = _gap_case(0.05, 0.05)
    assert gap.effects["gap"].verdict == EQUIVALENT and gap_outcome(gap.effects["gap"]) == GAP_SAME
    hi = fmt.end(gap.effects["gap"].hi, "difference", gap.effects["gap"].boundaries)
    assert (
        f"while a gap larger by more than 0.01 is ruled out (upper end {hi}, below +0.01): "
        "consistent with under-training" in _reading(gap)
    )


def test_claim_3b_reading_when_the_gap_comparison_is_inconclusive_never_says_it_does_not_grow():
    """The referee's case: the gap difference is positive but its interval straddles the
    margin; the reading must not say that the gap does not grow."""
    lower, gap = _gap_case(0.02, 0.008)
    e = gap.effects["gap"]
    assert lower.verdict == SUPPORTED
    drop = lower.effects["test_accuracy"]
    assert e.verdict == INCONCLUSIVE and e.estimate > 0 and gap_outcome(e, drop) == GAP_UNKNOWN
    _assert_verdict(gap, INCONCLUSIVE)
    reading = _reading(gap)
    assert "does not grow" not in reading and "not a generalization gap" not in reading
    if e.lo > 0:  # the gap grows; only "by more than the margin" is undecided
        assert f"the gap grows ({fmt.interval(e, 'difference')}), but these seeds" in reading
    else:
        assert f"the gap comparison is inconclusive ({fmt.interval(e, 'difference')}" in reading


def test_claim_3b_reading_says_the_gap_grows_when_only_the_margin_is_undecided():
    """+0.026 [+0.009, +0.042]: the interval excludes 0, so the gap grows; whether by more
    than the margin is what the seeds cannot say."""
    e = Effect(0.026, 0.009, 0.042, 10, "paired t", verdict=INCONCLUSIVE)
    train = Effect(-0.05, -0.06, -0.04, 10, "paired t", verdict=DIFFERENT)
    drop = Effect(-0.06, -0.07, -0.05, 10, "paired t", verdict=DIFFERENT)
    reading = claims._claim3_reading(SUPPORTED, e, train, drop)
    assert "the gap grows (+0.026 [+0.009, +0.042]), but these seeds cannot say whether by " in (
        reading
    )
    assert "cannot say whether the gap grows" not in reading


def test_claim_3b_not_supported_when_a_larger_gap_is_ruled_out():
    """The default study's case: the gap difference's interval lies below zero but reaches
    past −margin (three-way verdict inconclusive). A larger gap is ruled out, so 3b ("because
    of a generalization gap") is not supported and the reading says the gap does not grow;
    an interval reaching past +margin stays inconclusive."""
    ruled_out = Effect(-0.020, -0.033, -0.007, 10, "paired t", verdict=INCONCLUSIVE)
    assert directional(ruled_out, +1, 0.01) == NOT_SUPPORTED
    assert directional(ruled_out, +1) == INCONCLUSIVE  # without a margin: three-way only
    assert gap_outcome(ruled_out) == GAP_SAME
    open_up = Effect(0.032, 0.009, 0.055, 10, "paired t", verdict=INCONCLUSIVE)
    assert directional(open_up, +1, 0.01) == INCONCLUSIVE and gap_outcome(open_up) == GAP_UNKNOWN
    few = Effect(-0.02, -0.03, -0.01, 2, "paired t", verdict=INCONCLUSIVE)
    assert directional(few, +1, 0.01) == INCONCLUSIVE  # below the minimum n: no verdict


def test_claim_3b_reading_when_the_gap_is_shown_to_shrink():
    lower, gap = _gap_case(0.05, 0.09)
    assert gap_outcome(gap.effects["gap"]) == GAP_SHRINKS
    assert f"while the gap shrinks: {claims.UNDER_TRAINING}" in _reading(gap)


def test_claim_3b_not_supported_when_a_larger_gap_explains_less_than_half_the_drop():
    """The digits case: test accuracy drops by about 0.075, train accuracy by about as much;
    the gap interval straddles +0.01 (three-way inconclusive) but its upper end is below half
    the smallest drop the test interval allows: not supported, with the numbers."""
    runs = make_runs(
        test=lambda b: 0.83 - (0.075 if b == 512 else 0),
        train=lambda b: 0.90 - (0.073 if b == 512 else 0),
        acc_sd=0.008,
    )
    lower, gap = claim_large_batches_generalize_worse(runs, SETTINGS)
    g, drop = gap.effects["gap"], lower.effects["test_accuracy"]
    _assert_verdict(lower, SUPPORTED)
    assert g.verdict == INCONCLUSIVE and directional(g, +1, claims.ACCURACY_MARGIN) == INCONCLUSIVE
    assert g.hi < claims.GAP_SHARE * -drop.hi
    assert gap_outcome(g, drop) == claims.GAP_MINOR and gap_outcome(g) == GAP_UNKNOWN
    _assert_verdict(gap, NOT_SUPPORTED)
    assert claims.GAP_SHARE_RULE in gap.statement and "by more than 0.01" in gap.statement
    assert (
        f"a larger gap explains at most {fmt.accuracy(g.hi)} (its "
        f"{fmt.confidence(g.level)} interval's upper end) of the drop of at least "
        f"{fmt.accuracy(-drop.hi)} in test accuracy (its {fmt.confidence(drop.level)} "
        "interval's end nearer zero), less than half" in _reading(gap)
    )
    # a gap that could explain half the drop or more stays open
    wide = Effect(g.estimate, g.lo, -drop.hi, g.n, g.method, verdict=INCONCLUSIVE)
    assert claims.gap_verdict(wide, drop) == INCONCLUSIVE


def test_claim_3b_verdict_and_reading_agree_with_3a():
    """The seed study's case: no drop shown, and a gap larger by more than the margin ruled
    out (upper end +0.002): 3b is not supported either way, and the reading says so instead
    of calling 3b moot. With a gap that is open, 3b is inconclusive and moot. Where 3a is
    not supported (equivalent), 3b is not supported: no drop to explain."""
    gap = Effect(-0.038, -0.078, 0.002, 5, "paired t", verdict=INCONCLUSIVE)
    drop = Effect(-0.161, -0.471, 0.148, 5, "paired t", verdict=INCONCLUSIVE)
    train = Effect(-0.199, -0.471, 0.073, 5, "paired t", verdict=INCONCLUSIVE)
    assert claims.claim3b_verdict(INCONCLUSIVE, gap, drop) == NOT_SUPPORTED
    reading = claims._claim3_reading(INCONCLUSIVE, gap, train, drop)
    assert "a gap larger by more than 0.01 is ruled out (upper end +0.002, below +0.01)" in reading
    assert reading.endswith(claims.EITHER_WAY) and "moot" not in reading
    assert "moot" not in claims._claim3_reading(SUPPORTED, gap, train, drop)
    open_gap = Effect(0.01, -0.02, 0.04, 5, "paired t", verdict=INCONCLUSIVE)
    assert claims.claim3b_verdict(INCONCLUSIVE, open_gap, drop) == INCONCLUSIVE
    assert claims._claim3_reading(INCONCLUSIVE, open_gap, train, drop).endswith(claims.MOOT)
    grows = Effect(0.05, 0.03, 0.07, 5, "paired t", verdict=DIFFERENT)
    assert claims.claim3b_verdict(INCONCLUSIVE, grows, drop) == INCONCLUSIVE
    same = Effect(0.001, -0.004, 0.006, 5, "paired t", verdict=EQUIVALENT)
    assert claims.claim3b_verdict(NOT_SUPPORTED, open_gap, same) == NOT_SUPPORTED
    assert claims._claim3_reading(NOT_SUPPORTED, open_gap, train, same).startswith(
        f"{claims.NO_DROP}: claim 3a is not supported (test accuracy equivalent)"
    )
    flat = make_runs(test=lambda b: 0.83 + (0.003 if b == 64 else 0.0), acc_sd=0.0005)
    flat["gap_accuracy"] += np.where(flat["batch_size"] == 512, 0.01, 0.0)  # gap open
    lower, gap_v = claim_large_batches_generalize_worse(flat, SETTINGS)
    assert lower.effects["test_accuracy"].verdict == EQUIVALENT
    _assert_verdict(lower, NOT_SUPPORTED)
    _assert_verdict(gap_v, NOT_SUPPORTED)
    assert f"Reading: {claims.NO_DROP}: claim 3a is not supported" in gap_v.evidence


def _diverged(runs: pd.DataFrame, sizes: tuple[int, ...], seeds: range) -> pd.DataFrame:
    """Runs of ``sizes`` at ``seeds`` diverged: no final accuracies."""
    hit = runs["batch_size"].isin(sizes) & runs["seed"].isin(seeds)
    cols = ["final_test_accuracy", "final_end_train_accuracy", "gap_accuracy"]
    runs.loc[hit, cols] = np.nan
    runs["diverged"] = runs["diverged"] | hit
    return runs


def test_claim_3_leaves_batch_sizes_that_always_diverged_out_of_the_open_ones():
    """B = 4 and 8 diverged in every seed (n = 0): they cannot be practically higher than the
    best, so they are named as diverged, not as comparisons that stay open; B = 128, close to
    the best B = 512, is."""
    runs = make_runs(test=lambda b: {64: 0.78, 128: 0.8295, 512: 0.83}.get(b, 0.80), acc_sd=0.02)
    runs = _diverged(runs, (4, 8), range(N_SEEDS))
    assert claims.all_diverged(runs) == [4, 8]
    lower, gap = claim_large_batches_generalize_worse(runs, SETTINGS)
    _assert_verdict(lower, INCONCLUSIVE)
    assert "cannot rule out that B = 128 is practically higher" in lower.evidence
    assert "B ∈ {4, 8}: diverged (all seeds), not compared" in lower.evidence
    assert "B ∈ {4" not in lower.evidence.split("practically higher")[0]
    # with B = 128 lower too, nothing is open: not supported, the diverged still named
    runs = make_runs(test=lambda b: {512: 0.83}.get(b, 0.78))
    runs = _diverged(runs, (4, 8), range(N_SEEDS))
    lower, _ = claim_large_batches_generalize_worse(runs, SETTINGS)
    _assert_verdict(lower, NOT_SUPPORTED)
    assert "B ∈ {4, 8}: diverged (all seeds), not compared" in lower.evidence


def test_claim_3a_says_how_many_seeds_diverged_runs_leave():
    runs = make_runs(test=lambda b: 0.78 if b == 512 else 0.83)
    runs = _diverged(runs, (512,), range(4))
    lower, _ = claim_large_batches_generalize_worse(runs, SETTINGS)
    assert lower.effects["test_accuracy"].n == 6
    assert "; n = 6 of 10 seeds: 4 with a diverged run excluded)" in lower.evidence


def test_claim_3a_open_family_intervals_say_how_many_seeds_they_rest_on():
    """B = 512 is the best; B = 128's family interval reaches +0.01 with 2 of its 10 seeds
    diverged: the quote says "n = 8 of 10 seeds", as the Findings' accuracy list does."""
    runs = make_runs(test=lambda b: {64: 0.78, 128: 0.8295, 512: 0.83}.get(b, 0.80), acc_sd=0.02)
    runs = _diverged(runs, (128,), range(2))
    lower, gap = claim_large_batches_generalize_worse(runs, SETTINGS)
    _assert_verdict(lower, INCONCLUSIVE)
    _, family = accuracy_vs_best(runs, SETTINGS)
    quote = f"B = 128 ({fmt.effect(family[128], 'difference')}; n = 8 of 10 seeds: 2 with a "
    assert family[128].n == 8 and quote + "diverged run excluded)" in lower.evidence
    assert quote in gap.evidence  # 3b repeats the same reason
    assert "B = 64 (" not in lower.evidence  # ruled out, not quoted


def test_claim_3b_intervals_say_how_many_seeds_they_rest_on():
    runs = make_runs(test=lambda b: 0.78 if b == 512 else 0.83)
    runs = _diverged(runs, (512,), range(3))
    _, gap = claim_large_batches_generalize_worse(runs, SETTINGS)
    assert gap.effects["gap"].n == 7 and gap.effects["train_accuracy"].n == 7
    assert gap.evidence.count("; n = 7 of 10 seeds: 3 with a diverged run excluded)") == 2


def test_lower_accuracy_reason_names_excluded_seeds_only_when_counts_are_known():
    e = Effect(-0.05, -0.141, 0.041, 8, stats.METHOD_PAIRED_T, 0.9833, INCONCLUSIVE)
    bare = claims.lower_accuracy_reason(128, 8, {128: e})
    counts = claims.SeedCounts(10, {128: 2})
    told = claims.lower_accuracy_reason(128, 8, {128: e}, counts=counts)
    assert told == bare + "; n = 8 of 10 seeds: 2 with a diverged run excluded"
    full = claims.lower_accuracy_reason(128, 8, {128: e}, counts=claims.SeedCounts(8))
    assert full == bare  # every seed counts: nothing to say
    assert claims.SeedCounts(None).excluded(e, 128, 8) == ""


@pytest.mark.parametrize(
    ("effect", "expected"),
    [
        (
            Effect(-0.05, -0.141, 0.041, 5, stats.METHOD_PAIRED_T, 0.9833, INCONCLUSIVE),
            "B = 128 − B = 8: −0.050 [−0.141, +0.041] (paired t, n = 5, 98.33% level) "
            "straddles the −0.01 and +0.01 margins",
        ),
        (
            Effect(-0.03, -0.05, -0.005, 10, stats.METHOD_PAIRED_T, 0.95, INCONCLUSIVE),
            "B = 128 − B = 8: −0.030 [−0.050, −0.005] (paired t, n = 10) straddles the −0.01 "
            "margin",
        ),
        (
            Effect(-0.03, -0.05, -0.01, 2, stats.METHOD_PAIRED_T, 0.95, INCONCLUSIVE),
            "B = 128 − B = 8: −0.030 [−0.050, −0.010] (paired t, n = 2) rests on 2 seeds with "
            "both runs, fewer than the 3 a verdict needs",
        ),
    ],
)
def test_lower_accuracy_reason_gives_the_reason_that_applies(effect, expected):
    assert claims.lower_accuracy_reason(128, 8, {128: effect}) == expected


def test_an_inconclusive_claim_3a_says_which_margin_its_interval_straddles():
    runs = make_runs(test=lambda b: 0.82 if b == 512 else 0.83, acc_sd=0.03)
    lower, _ = claim_large_batches_generalize_worse(runs, SETTINGS)
    _assert_verdict(lower, INCONCLUSIVE)
    e = lower.effects["test_accuracy"]
    assert e.lo < -0.01 < e.hi
    assert f"Inconclusive: the interval {claims.why_open(e)}." in lower.evidence
    assert "straddles the −0.01" in claims.why_open(e)


def test_lower_accuracy_reason_when_the_largest_batch_size_always_diverged():
    e = Effect(np.nan, np.nan, np.nan, 0, stats.METHOD_PAIRED_T)
    assert claims.lower_accuracy_reason(512, 8, {512: e}, [512]) == (
        "B = 512 diverged (all seeds): no test accuracy to compare"
    )


def test_claim_3a_reads_the_family_interval_of_the_accuracy_finding():
    runs = make_runs(test=lambda b: {4: 0.80, 8: 0.84, 64: 0.82, 128: 0.81, 512: 0.79}[b])
    best, family = accuracy_vs_best(runs, SETTINGS)
    lower, _ = claim_large_batches_generalize_worse(runs, SETTINGS)
    assert best == 8
    assert lower.effects["test_accuracy"] == family[512]
    # chosen on the test split: Bonferroni over all 10 pairs of the 5 batch sizes
    assert family[512].level == pytest.approx(1 - 0.05 / 10)


def test_the_best_batch_size_is_chosen_on_validation_when_the_dataset_has_its_own():
    """B = 8 is best on the test split, B = 64 on validation: with a validation split of its
    own the comparison is against B = 64 (the test split only reports); without one, the test
    split serves as validation and B = 8 is best, as before."""
    runs = make_runs(test=lambda b: {4: 0.80, 8: 0.84, 64: 0.82, 128: 0.81, 512: 0.79}[b])
    runs["final_val_accuracy"] = runs["final_test_accuracy"] + np.where(
        runs["batch_size"] == 64, 0.05, 0.0
    )
    assert best_batch_size(runs, own_validation=True) == 64
    assert best_batch_size(runs, own_validation=False) == 8
    best, family = accuracy_vs_best(runs, SETTINGS, own_validation=True)
    assert best == 64 and set(family) == {4, 8, 128, 512}
    assert family[8].estimate > 0  # compared in test accuracy, where B = 8 is higher
    lower, _ = claim_large_batches_generalize_worse(runs, SETTINGS, own_validation=True)
    assert "B = 512 − B = 64 (the best)" in lower.evidence
    assert "chosen on the final validation accuracy; the test split only reports" in (
        lower.statement
    )
    lower, _ = claim_large_batches_generalize_worse(runs, SETTINGS)
    assert "B = 512 − B = 8 (the best)" in lower.evidence
    assert "chosen on the test split, which serves as validation" in lower.statement


def test_ties_for_the_best_batch_size_go_to_the_smaller_one():
    runs = make_runs(test=lambda b: 0.83, acc_sd=0.0)
    runs["final_val_accuracy"] = 0.9
    assert best_batch_size(runs, own_validation=True) == min(SIZES)
    assert best_batch_size(runs, own_validation=False) == min(SIZES)
    assert "ties go to the smaller batch size" in claims.best_choice(True)


def test_generalization_not_supported_when_equal():
    lower, gap = claim_large_batches_generalize_worse(make_runs(acc_sd=0.001), SETTINGS)
    _assert_verdict(lower, NOT_SUPPORTED)


def test_generalization_inconclusive_with_one_batch_size():
    lower, gap = claim_large_batches_generalize_worse(make_runs(sizes=(512,)), SETTINGS)
    _assert_verdict(lower, INCONCLUSIVE)
    _assert_verdict(gap, INCONCLUSIVE)


def test_generalization_inconclusive_when_too_few_seeds_survive():
    runs = make_runs(test=lambda b: 0.70 if b == 512 else 0.83)
    diverged = (runs["batch_size"] == 512) & (runs["seed"] >= 2)
    cols = ["final_test_accuracy", "final_end_train_accuracy", "gap_accuracy"]
    runs.loc[diverged, cols] = np.nan
    runs.loc[diverged, "diverged"] = True
    lower, _ = claim_large_batches_generalize_worse(runs, SETTINGS)
    _assert_verdict(lower, INCONCLUSIVE)
    assert lower.effects["test_accuracy"].n == 2


# --------------------------------------------------------------------------- claim 4


def test_wall_time_supported_faster_seconds_more_epochs():
    runs = make_runs(epochs_to=lambda b: 30.0 if b >= 64 else 10.0)
    v = claim_wall_time_not_epochs(runs, SETTINGS, "95", make_repeats(lambda b: 0.05 + 10.0 / b))
    _assert_verdict(v, SUPPORTED)
    assert v.holds_for == [8, 64, 128, 512]
    assert v.effects["epochs_ratio_512"].estimate == pytest.approx(3.0, rel=0.1)


def test_wall_time_at_few_seeds_says_a_median_interval_cannot_reach_the_members_level():
    """Each of the 4 comparisons is at 1 - 0.05/4 = 98.75%: the seeds' range covers 93.75% at
    5 seeds, 98.4375% at 7 (short of it) and 99.2% at 8 (enough)."""
    runs = make_runs(epochs_to=lambda b: 30.0 if b >= 64 else 10.0)
    five = claim_wall_time_not_epochs(runs[runs["seed"] < 5], SETTINGS, "95")
    assert "n = 5; at 5 seeds each median's own interval is at most the seeds' range " in (
        five.evidence
    )
    assert "(coverage at most 93.75%), so these ratio intervals cannot be trusted to reach " in (
        five.evidence
    )
    assert "reach 98.75%: their coverage is not checked" in five.evidence
    seven = claim_wall_time_not_epochs(runs[runs["seed"] < 7], SETTINGS, "95")
    assert "at 7 seeds each median's own interval" in seven.evidence
    eight = claim_wall_time_not_epochs(runs[runs["seed"] < 8], SETTINGS, "95")
    assert "n = 8; family: " in eight.evidence and "own interval" not in eight.evidence


def test_wall_time_is_not_testable_where_the_smallest_batch_size_never_trained():
    """lr-tuning blobs·sgd·lr 1: every B = 4 run diverged; "larger batch sizes need fewer
    epochs than B = 4" would compare with runs that never trained."""
    runs = make_runs(epochs_to=lambda b: 30.0 if b >= 64 else 10.0)
    runs["settle_status"] = "settled"
    four = runs["batch_size"] == 4
    runs.loc[four & (runs["seed"] < 6), "settle_status"] = "diverged"
    runs.loc[four, "epochs_to_target_95"] = np.nan
    v = claim_wall_time_not_epochs(runs, SETTINGS, "95")
    _assert_verdict(v, INCONCLUSIVE)
    assert v.evidence == (
        "Not testable at this rate: more than half the smallest batch size's runs at chance, "
        "diverged or settled below the target (B = 4 (10 runs): 6 diverged), so B = 4 is no "
        "trained reference: no larger batch size can be compared with it."
    )
    runs.loc[four & (runs["seed"] == 5), "settle_status"] = "settled"
    assert not claim_wall_time_not_epochs(runs, SETTINGS, "95").evidence.startswith("Not")


def test_wall_time_is_not_testable_where_the_smallest_batch_size_settled_below_the_target():
    """lr-tuning digits·sgd·lr 0.1: of B = 4's runs 4 are at chance and 6 settled on plateaus
    below the target, none reaching it. Claim 2's rule counts both (`claims.failed_to_train`),
    so claim 4 is not testable, with the counts, rather than "not supported" by larger batch
    sizes needing fewer epochs than a reference that never trained to the target; the same
    runs on plateaus above the target leave it testable."""
    runs = make_runs(reached=lambda b, s: b != 4)
    runs["settle_status"] = "settled"
    runs["plateau_val_accuracy"] = 0.85
    four = runs["batch_size"] == 4
    chance = four & (runs["seed"] < 4)
    runs.loc[chance, "settle_status"] = claims.COLLAPSED
    runs.loc[chance, "settling_epoch"] = np.nan
    runs.loc[four & (runs["seed"] >= 4), "plateau_val_accuracy"] = 0.4  # target 0.8
    v = claim_wall_time_not_epochs(runs, SETTINGS, "95")
    _assert_verdict(v, INCONCLUSIVE)
    assert v.evidence.startswith(
        f"{claims.NOT_TESTABLE}: {claims.REFERENCE_FAILED} (B = 4 (10 runs): 4 at chance, 6 "
        "settled below the target), so B = 4 is no trained reference"
    )
    assert claims.shown_verdict(v.to_dict()) == "inconclusive (not testable at this rate)"
    runs.loc[four & (runs["seed"] >= 4), "plateau_val_accuracy"] = 0.85
    above = claim_wall_time_not_epochs(runs, SETTINGS, "95")
    _assert_verdict(above, NOT_SUPPORTED)
    assert "need fewer epochs than B = 4" in above.evidence


def test_wall_time_from_the_jobs_own_clocks_gives_no_wall_time_outcome():
    """Without timing repeats the same runs (large batches 36x faster per epoch by their own
    jobs' clocks) hold nowhere: every batch size's wall time is "not judged", with the reason,
    and nothing fails, so the verdict is inconclusive; the ratios are still reported."""
    runs = make_runs(epochs_to=lambda b: 30.0 if b >= 64 else 10.0)
    v = claim_wall_time_not_epochs(runs, SETTINGS, "95")
    _assert_verdict(v, INCONCLUSIVE)
    assert v.holds_for == []
    sec = v.effects["seconds_ratio_512"]
    assert sec.hi < 1 / TIME_RATIO_MARGIN  # faster by the jobs' clocks, by far
    assert f"B = 512: {claims.WALL_NOT_JUDGED} (seconds {fmt.interval(sec, 'ratio')}" in v.evidence
    assert f"{claims.EPOCHS_ONLY_WORDS}." in v.evidence and "Holds for" not in v.evidence
    assert sec.boundaries == claims.WALL_BOUNDARIES
    # an end that would print as either margin shows the digits that place it
    slower = dataclasses.replace(sec, estimate=3.87, lo=1.104, hi=15.7)
    assert fmt.interval(slower, "ratio") == "3.87× [1.104×, 15.7×]"
    faster = dataclasses.replace(sec, estimate=0.5, lo=0.2, hi=0.9088)
    assert fmt.interval(faster, "ratio").endswith(", 0.9088×]")


def test_wall_time_judged_across_batch_sizes_with_the_range_where_it_holds():
    runs = make_runs(epochs_to=lambda b: {4: 10.0, 8: 10.0, 64: 5.0, 128: 5.0, 512: 5.0}[b])
    v = claim_wall_time_not_epochs(runs, SETTINGS, "95", make_repeats(lambda b: 0.05 + 10.0 / b))
    _assert_verdict(v, PARTLY)
    assert v.holds_for == [8]
    assert "B = 64: fails (fewer epochs)" in v.evidence and "Shown to hold for B = 8" in v.evidence


def test_wall_time_fails_on_fewer_epochs_without_a_clock():
    """Fewer epochs rule out the claim's own "not in fewer epochs" whatever the clock: without
    timing repeats B = 64 still fails, so "each larger B" is not supported, while B = 8's wall
    time is not judged (it would hold with repeats)."""
    runs = make_runs(epochs_to=lambda b: {4: 10.0, 8: 10.0, 64: 5.0, 128: 5.0, 512: 5.0}[b])
    v = claim_wall_time_not_epochs(runs, SETTINGS, "95")
    _assert_verdict(v, NOT_SUPPORTED)
    assert v.holds_for == []
    assert "B = 64: fails (fewer epochs)" in v.evidence
    assert f"B = 8: {claims.WALL_NOT_JUDGED}" in v.evidence


def test_wall_time_slow_down_by_the_jobs_own_clocks_is_not_judged():
    """B = 8 looks 1.5x slower per epoch (same epochs) by its own job's clock: without timing
    repeats that is not judged; interleaved repeats showing the same make it fail."""
    slow = {8: 0.3}
    runs = make_runs(seconds=lambda b: slow.get(b, 0.2))
    v = claim_wall_time_not_epochs(runs, SETTINGS, "95")
    assert v.effects["seconds_ratio_8"].lo > 1 / TIME_RATIO_MARGIN
    assert f"B = 8: {claims.WALL_NOT_JUDGED}" in v.evidence and "not faster" not in v.evidence
    _assert_verdict(v, INCONCLUSIVE)
    timed = claim_wall_time_not_epochs(
        runs, SETTINGS, "95", make_repeats(lambda b: slow.get(b, 0.2), load_sd=0.05)
    )
    # 1.5x slower, its interval wholly above the margin: slower, not merely "not faster"
    assert f"B = 8: {claims.SLOWER}" in timed.evidence
    assert "fails (slower by more than the 1.1× margin)" in timed.evidence
    assert f"Not supported: B = 8: {claims.SLOWER}; B ∈ {{64, 128}}: fails (not faster" in (
        timed.evidence
    )
    _assert_verdict(timed, NOT_SUPPORTED)


def test_wall_time_not_reached_at_a_batch_size_that_mostly_never_reaches_the_target():
    """B = 512 reaches the target in 2 of 10 seeds: "not reached" needs no clock, so it counts
    against "each larger B" with or without timing repeats."""
    runs = make_runs(reached=lambda b, s: b != 512 or s < 2)
    v = claim_wall_time_not_epochs(runs, SETTINGS, "95", make_repeats(lambda b: 0.05 + 10.0 / b))
    _assert_verdict(v, PARTLY)
    assert "B = 512: median not reached" in v.evidence and 512 not in v.holds_for
    untimed = claim_wall_time_not_epochs(runs, SETTINGS, "95")
    _assert_verdict(untimed, NOT_SUPPORTED)
    assert "B = 512: median not reached" in untimed.evidence and untimed.holds_for == []
    assert (
        "Not supported: B = 512: median epochs above the budget (half or more of the runs never "
        "reach the target), decided by epochs alone." in untimed.evidence
    )
    assert "Not supported:" not in v.evidence
    assert "Shown to hold for B ∈ {8, 64, 128}. " in v.evidence


def test_wall_time_intervals_are_simultaneous_over_the_larger_batch_sizes():
    """B = 8 is 0.74x as slow per epoch as B = 4 in equal epochs. Compared alone (two batch
    sizes, a family of one at 95%) its seconds ratio ends just below 1/1.1 and the claim holds;
    the same B = 8 data beside three more batch sizes is one of 4 Bonferroni-simultaneous
    comparisons at 98.75% each (its seconds ratio's factors at 99.375%), whose seconds ratio
    reaches above 1/1.1: inconclusive. The evidence names the family and both levels."""
    seconds = lambda b: 1.0 if b == 4 else 0.74  # noqa: E731
    runs = make_runs(seconds=seconds)
    repeats = make_repeats(seconds, noise_sd=0.05)
    pair = [4, 8]
    alone = claim_wall_time_not_epochs(
        runs[runs["batch_size"].isin(pair)],
        SETTINGS,
        "95",
        repeats[repeats["batch_size"].isin(pair)],
    )
    _assert_verdict(alone, SUPPORTED)
    v = claim_wall_time_not_epochs(runs, SETTINGS, "95", repeats)
    one, member = alone.effects["seconds_ratio_8"], v.effects["seconds_ratio_8"]
    assert one.level == SETTINGS.level and member.level == pytest.approx(1 - 0.05 / 4)
    assert v.effects["epochs_ratio_8"].level == member.level
    assert one.hi < 1 / TIME_RATIO_MARGIN < member.hi
    assert 8 not in v.holds_for and "B = 8: inconclusive (seconds " in v.evidence
    family = claims.family_words(5, 4, own_validation=True)
    assert family == (
        "family: the 4 comparisons of every other batch size with B = 4, "
        f"{stats.FAMILY_BONFERRONI} intervals"
    )
    assert (
        f"n = 10; {family}, each at nominal 98.75%, so that all would hold together at 95% "
        "were each at its level): " in v.evidence
    )
    assert "each at half the error rate (99.38% for a member's 98.75%)" in v.evidence


def test_wall_time_inconclusive_without_target_columns():
    runs = make_runs().drop(columns=["seconds_to_target_95"])
    _assert_verdict(claim_wall_time_not_epochs(runs, SETTINGS, "95"), INCONCLUSIVE)


def test_wall_time_smallest_batch_censored_decides_fewer_epochs_by_a_bound():
    """B = 4 mostly never reaches the target (median > budget of 100 epochs) while the others
    take about 10: each epochs ratio is below (upper end of its median) / 100 ≈ 0.1, below
    1/1.1: "fails (fewer epochs)", decided by epochs alone: not supported. Where the others
    take about 95 epochs the bound (≈ 1) decides nothing: inconclusive."""
    runs = make_runs(reached=lambda b, s: b != 4 or s < 3)
    v = claim_wall_time_not_epochs(runs, SETTINGS, "95")
    _assert_verdict(v, NOT_SUPPORTED)
    assert "did not reach the target" in v.evidence and claims.CENSORED_REFERENCE_RULE in v.evidence
    assert f"({claims.wall_family(5, 4, SETTINGS)[1]}). Each larger batch size's" in v.evidence
    assert (
        "median epochs below: percentile bootstrap over seeds of the censored median, n = 10, "
        "at the member's nominal 98.75% (the Time to target tables give the same medians at "
        "95%). B = 8: "
    ) in v.evidence
    assert v.effects["epochs_8"].level == pytest.approx(1 - 0.05 / 4)
    assert "B = 8: fails (fewer epochs) (median epochs 10" in v.evidence
    assert "epochs ratio ≤ 0.1" in v.evidence
    assert "decided by epochs alone" in v.evidence
    slow = make_runs(reached=lambda b, s: b != 4 or s < 3, epochs_to=lambda b: 95.0)
    w = claim_wall_time_not_epochs(slow, SETTINGS, "95")
    _assert_verdict(w, INCONCLUSIVE)
    assert "B = 8: inconclusive" in w.evidence


def test_wall_time_from_repeats_multiplies_epochs_by_the_repeat_ratio():
    runs = make_runs(epochs_to=lambda b: 30.0 if b >= 64 else 10.0)
    v = claim_wall_time_not_epochs(runs, SETTINGS, "95", make_repeats(lambda b: 0.05 + 10.0 / b))
    _assert_verdict(v, SUPPORTED)
    sec, ep = v.effects["seconds_ratio_512"], v.effects["epochs_ratio_512"]
    timing = (0.05 + 10 / 512) / (0.05 + 10 / 4)
    assert sec.method == METHOD_WALL_PRODUCT and sec.n == N_SEEDS  # the seeds' n
    assert sec.estimate == pytest.approx(ep.estimate * timing, rel=0.05)
    assert sec.lo < sec.estimate < sec.hi
    assert "5 interleaved timing repeats" in v.evidence
    assert "one timing stream per job" not in v.evidence


def test_wall_time_from_repeats_counts_never_reached_runs_of_the_seeds():
    """The seconds ratio from repeats is open above where the epochs are censored: its count
    of runs that never reached the target is of the seeds (10), not of the repeats (5)."""
    runs = make_runs(reached=lambda b, s: b != 512 or s < 2)
    v = claim_wall_time_not_epochs(runs, SETTINGS, "95", make_repeats(lambda b: 0.05 + 10.0 / b))
    assert (
        "B = 512: median not reached (seconds open above (8 of 10 never reached), epochs open "
        in (v.evidence)
    )
    assert "of 5 never reached" not in v.evidence


def test_wall_time_from_too_few_repeats_still_fails_on_fewer_epochs():
    """Two repeats cannot time anything (inconclusive where the clock decides), but fewer
    epochs need no clock."""
    runs = make_runs(epochs_to=lambda b: {4: 10.0, 8: 10.0, 64: 5.0, 128: 5.0, 512: 5.0}[b])
    v = claim_wall_time_not_epochs(
        runs, SETTINGS, "95", make_repeats(lambda b: 0.05 + 10.0 / b, k=2)
    )
    assert "B = 8: inconclusive" in v.evidence and "B = 64: fails (fewer epochs)" in v.evidence
    _assert_verdict(v, NOT_SUPPORTED)


def test_wall_time_reads_the_repeats_not_the_run_tables_seconds():
    # The run table's seconds (one stream per job) say large batches are fast; the repeats
    # say every batch size takes the same time per epoch, so 3x the epochs is 3x the time.
    runs = make_runs(epochs_to=lambda b: 30.0 if b >= 64 else 10.0)
    v = claim_wall_time_not_epochs(runs, SETTINGS, "95", make_repeats(lambda b: 0.5))
    _assert_verdict(v, NOT_SUPPORTED)
    assert f"B = 512: {claims.SLOWER}" in v.evidence  # 3x the time


# --------------------------------------------------------------------------- all claims


def test_evaluate_claims_gives_five_verdicts_with_claim_3_split():
    runs = make_runs(settling=lambda b: 30.0 if b < 64 else 50.0)
    verdicts = evaluate_claims(runs, make_summary(lambda b: 0.05 + 10.0 / b), SETTINGS)
    assert len(verdicts) == 5
    assert verdicts[2].claim.startswith("Large batches end with lower test accuracy")
    assert "generalization gap" in verdicts[3].claim
    assert all(set(v.to_dict()) >= {"claim", "statement", "verdict", "evidence"} for v in verdicts)


def test_claims_refuse_mixed_conditions():
    mixed = pd.concat([make_runs(), make_runs().assign(optimizer="sgd")])
    with pytest.raises(ValueError, match="one condition"):
        evaluate_claims(mixed, make_summary(lambda b: 1.0), SETTINGS)


# --------------------------------------------------------------------------- the analyze stage


def _analyze_stage(study: dict, repeat_files: list, extra: tuple[str, ...] = ()) -> dict:
    """Fake jobs through the real aggregate, then ``python -m batchstudy analyze`` as the
    workflow's analyze rule calls it (with the aggregate's timing_repeats.tsv)."""
    from conftest import read_json

    from batchstudy.aggregate import aggregate, extra_tables
    from batchstudy.cli import main
    from batchstudy.config import validate

    root = study["root"]
    agg = root / "results" / "aggregate"
    cfg = validate({"epochs": study["epochs"], "metrics": {"bootstrap": 200}})
    tables = extra_tables(study["paths"], repeat_files, log=lambda m: None)
    aggregate(study["paths"], agg, cfg["metrics"], log=lambda m: None, extra=tables)
    out = root / "results" / "analysis" / "findings.json"
    argv = ["analyze", "--runs", str(agg / "runs.tsv"), "--summary", str(agg / "summary.tsv")]
    argv += ["--timing-repeats", str(agg / "timing_repeats.tsv")]
    argv += ["--settings", json.dumps(cfg["metrics"]), "--out", str(out), *extra]
    assert main(argv) == 0
    return read_json(out)


def test_analyze_stage_times_claims_1_and_4_with_the_timing_repeats(fake_study):
    dataset, optimizer, _, budget = fake_study["cond"]
    timing_dir = fake_study["root"] / "results" / "timing" / dataset / optimizer / budget
    timing_dir.mkdir(parents=True)
    path = timing_dir / "timing_repeats.tsv"
    sizes = fake_study["sizes"]
    repeats = make_repeats(lambda b: 0.05 + 10.0 / b, k=4, sizes=tuple(sizes))
    write_table(path, repeats.drop(columns=["dataset", "optimizer", "budget"]))
    found = _analyze_stage(fake_study, [path])
    (c,) = found["conditions"]
    assert c["timing_repeats"]["repeats"] == 4
    assert "4 interleaved timing repeats" in c["timing_repeats"]["unit"]
    timed = c["timing_repeats"]["seconds_per_epoch"]
    assert sorted(int(b) for b in timed) == sizes
    assert all(e["n"] == 4 and e["lo"] < e["estimate"] < e["hi"] for e in timed.values())
    by_claim = {v["claim"]: v for v in c["claims"]}
    one = by_claim[CLAIM_TIME_PER_EPOCH]
    assert one["effects"]["seconds_ratio"]["method"] == METHOD_REPEAT_RATIO
    assert one["effects"]["seconds_ratio"]["n"] == 4
    assert "4 interleaved timing repeats" in one["evidence"]
    assert "4 interleaved timing repeats" in by_claim[CLAIM_WALL_TIME]["evidence"]
    assert found["settings"]["methods"]["timing_repeat_ratio"] == METHOD_REPEAT_RATIO
    assert any("interleaved timing repeats" in h["text"] for h in found["headline"])


def test_analyze_stage_without_timing_stage_keeps_one_stream_per_job(fake_study):
    found = _analyze_stage(fake_study, [])
    (c,) = found["conditions"]
    assert c["timing_repeats"] is None
    one = next(v for v in c["claims"] if v["claim"] == CLAIM_TIME_PER_EPOCH)
    assert "one timing stream per job" in one["evidence"] and not one["effects"]
    assert any("one training job per batch size" in h["text"] for h in found["headline"])


def test_analyze_stage_chooses_the_best_on_validation_for_datasets_with_their_own(fake_study):
    """``--own-validation blobs``: the best batch size is the highest mean final validation
    accuracy of runs.tsv, and the sentences say so; without it the test split chooses."""
    runs = None
    for extra, column, words in (
        (("--own-validation", "blobs"), "final_val_accuracy", "the final validation accuracy"),
        ((), "final_test_accuracy", "the test split, which serves as validation"),
    ):
        (c,) = _analyze_stage(fake_study, [], extra)["conditions"]
        runs = pd.read_csv(fake_study["root"] / "results" / "aggregate" / "runs.tsv", sep="\t")
        means = runs.groupby("batch_size")[column].mean()
        assert c["accuracy"]["best"] == int(means.idxmax())
        assert f"chosen on {words}" in c["text"][0]["text"]


def test_a_best_chosen_on_the_test_split_widens_the_family_to_every_pair():
    """Selecting the reference on the numbers compared is post hoc: Bonferroni over all pairs
    (5 batch sizes: 10 pairs), against 4 comparisons when validation chose it."""
    runs = make_runs(test=lambda b: {4: 0.80, 8: 0.84, 64: 0.82, 128: 0.81, 512: 0.79}[b])
    runs["final_val_accuracy"] = runs["final_test_accuracy"]
    assert family_size(5, own_validation=True) == 4
    assert family_size(5, own_validation=False) == 10
    _, on_test = accuracy_vs_best(runs, SETTINGS, own_validation=False)
    _, on_val = accuracy_vs_best(runs, SETTINGS, own_validation=True)
    assert on_test[512].level == pytest.approx(1 - 0.05 / 10)
    assert on_val[512].level == pytest.approx(1 - 0.05 / 4)
    assert on_test[512].hi - on_test[512].lo > on_val[512].hi - on_val[512].lo
    _, gap = claim_large_batches_generalize_worse(runs, SETTINGS)
    assert gap.effects["gap"].level == pytest.approx(1 - 0.05 / 10)
    _, gap = claim_large_batches_generalize_worse(runs, SETTINGS, own_validation=True)
    assert gap.effects["gap"].level == pytest.approx(0.95)
    assert "all 10 pairs" in family_words(5, 8, own_validation=False)
    assert "the 4 comparisons" in family_words(5, 64, own_validation=True)
    # comparisons with batch sizes whose every run diverged are not made; the level counts them
    assert family_words(5, 64, own_validation=True, diverged=[8, 4]).startswith(
        "family: the 4 comparisons of every other batch size with B = 64 (those with "
        "B ∈ {4, 8}, whose every run diverged, are not made; the level counts all 4), "
    )
    assert "(" not in family_words(5, 64, own_validation=True)


def test_drift_fold_reads_a_slow_down_and_a_speed_up_alike():
    assert claims.drift_fold(2.0) == claims.drift_fold(0.5) == 2.0
    assert claims.drift_fold(1.0) == 1.0


def test_the_largest_batch_size_best_by_its_mean_only_leaves_claim_3_open():
    """B = 512 is best by its mean, but with noisy seeds another batch size may be practically
    higher: not supported needs every interval of the family below +margin."""
    noisy = make_runs(test=lambda b: 0.83 + (0.01 if b == 512 else 0.0), acc_sd=0.03, rng_seed=2)
    lower, gap = claim_large_batches_generalize_worse(noisy, SETTINGS)
    _assert_verdict(lower, INCONCLUSIVE)
    assert "cannot rule out" in lower.evidence and gap.verdict == INCONCLUSIVE
    assert "B = 512 is the best batch size by its mean test accuracy" in lower.evidence
    # Chosen on validation, it is best on that split, not necessarily on test accuracy.
    val = noisy.assign(final_val_accuracy=noisy["final_test_accuracy"])
    lower_v, _ = claim_large_batches_generalize_worse(val, SETTINGS, own_validation=True)
    assert "B = 512 is the best batch size by its mean final validation accuracy" in (
        lower_v.evidence
    )
    assert "by its mean," not in lower_v.evidence
    tight = make_runs(test=lambda b: 0.83 + (0.002 if b == 512 else 0.0), acc_sd=0.0005)
    lower, gap = claim_large_batches_generalize_worse(tight, SETTINGS)
    _assert_verdict(lower, NOT_SUPPORTED)
    assert "no other batch size is practically higher" in lower.evidence


def test_a_ratio_whose_denominator_median_is_censored_in_resamples_is_open_below():
    """B = 4 never reached the target in 3 of 10 seeds: resamples with 5 or more of them have
    no ratio: smaller than the budget would give by an unknown amount, so the lower end is
    open; the upper end is bounded by the numerator over the largest reached denominator (9
    here, at most the budget): 4 / 9 at most from those resamples."""
    den = np.array([8.0, 7, 9, np.nan, 8, np.nan, 7, 9, np.nan, 8])
    num = np.full(10, 4.0)
    e = claims.censored_median_ratio(num, den, SETTINGS)
    assert e.lo == -np.inf and np.isfinite(e.hi) and e.estimate == pytest.approx(0.5, rel=0.1)
    assert e.hi <= 4 / 7 + 1e-12  # no resample's ratio or bound exceeds 4 / 7
    assert fmt.interval(e, "ratio") == "0.471× [open below, 0.500×]"
    assert "open above" not in fmt.interval(e, "ratio")
    assert claims._wall_verdict(e, e, 5) != claims.NOT_FASTER
    full = claims.censored_median_ratio(num, np.full(10, 8.0), SETTINGS)
    assert np.isfinite(full.lo) and full.lo == pytest.approx(0.5)


def test_claim_4_is_inconclusive_when_no_batch_size_holds_or_fails():
    """Every comparison open (the smallest batch size misses the target in 3 of 10 seeds, so
    its median is censored in many resamples): nothing holds and nothing fails."""
    runs = make_runs(reached=lambda b, s: not (b == 4 and s < 3))
    v = claim_wall_time_not_epochs(runs, SETTINGS, "95", make_repeats(lambda b: 0.05 + 10.0 / b))
    assert v.holds_for == [] and "fails" not in v.evidence
    _assert_verdict(v, INCONCLUSIVE)


def test_settling_supported_withheld_where_a_small_batch_run_counted_at_the_budget_counts():
    """One small-batch run counted at the budget: the small group's median over its two batch
    sizes is the mean of both, so that seed's value could be larger and pulls in the claim's
    favour: "supported" cannot rest on it."""
    runs = make_runs(settling=lambda b: 20.0 if b < 64 else 60.0)
    _assert_verdict(claim_small_batches_settle_sooner(runs, SETTINGS), SUPPORTED)
    runs.loc[(runs["batch_size"] == 4) & (runs["seed"] == 0), "settling_epoch"] = np.nan
    v = claim_small_batches_settle_sooner(runs, SETTINGS)
    assert "In 1 of 10 seeds the small batch sizes' median could change" in v.evidence
    assert (
        "in favour of a “supported” verdict" in v.evidence and claims.OPEN_MEDIAN_RULE in v.evidence
    )
    # the pooled medians, with that run against the claim, still decide: 20 vs 60 epochs
    _assert_verdict(v, SUPPORTED)
    assert "so the claim is supported whatever the true epochs of those runs" in v.evidence
    # with most small-batch runs counted at the budget the pooled median is open: withheld
    most = (runs["batch_size"] < 64) & (runs["seed"] < 6)
    open_runs = runs.assign(settling_epoch=runs["settling_epoch"].mask(most))
    groups = {"small": [4, 8], "large": [64, 128, 512]}
    e = claims.pooled_difference(open_runs, groups, list(SIZES), SETTINGS)
    assert e.estimate == np.inf and e.hi == np.inf
    verdict, words = claims._pooled_difference_verdict(open_runs, groups, list(SIZES), SETTINGS)
    assert verdict == INCONCLUSIVE and "so the verdict stays withheld" in words
    # a large-batch run counted at the budget works against "sooner": the verdict stands
    runs.loc[(runs["batch_size"] == 4) & (runs["seed"] == 0), "settling_epoch"] = 20.0
    runs.loc[(runs["batch_size"] == 512) & (runs["seed"] == 0), "settling_epoch"] = np.nan
    _assert_verdict(claim_small_batches_settle_sooner(runs, SETTINGS), SUPPORTED)


LARGE4 = (4, 8, 64, 128, 256, 512)


def test_settling_reversal_stands_when_budget_counts_rank_above_the_median():
    """Small batches settle later (most small-batch runs counted at the budget, which only
    makes them later still); one large-batch run per seed (B = 512) counted at the budget ranks
    above its seed's median of four: it cannot change it, so the reversal is given."""
    runs = make_runs(sizes=LARGE4, settling=lambda b: 80.0 if b < 64 else 20.0)
    runs.loc[(runs["batch_size"] < 64) & (runs["seed"] < 8), "settling_epoch"] = np.nan
    runs.loc[runs["batch_size"] == 512, "settling_epoch"] = np.nan
    v = claim_small_batches_settle_sooner(runs, SETTINGS)
    _assert_verdict(v, NOT_SUPPORTED)
    assert v.effects["difference"].verdict == DIFFERENT and v.effects["difference"].lo > 0
    assert "Reversed: the small batch sizes settle later." in v.evidence
    assert "rank above their seed's median in every seed" in v.evidence
    # a second one in a seed reaches the median of four: withheld
    runs.loc[(runs["batch_size"] == 256) & (runs["seed"] == 3), "settling_epoch"] = np.nan
    v = claim_small_batches_settle_sooner(runs, SETTINGS)
    _assert_verdict(v, INCONCLUSIVE)
    assert "In 1 of 10 seeds the large batch sizes' median could change" in v.evidence


def test_settling_reversal_by_loss_rising_runs_says_it_holds_under_this_definition():
    """Where more than half the small group's runs counted at the budget are loss-rising (their
    accuracy may have stabilised), the reversal is stated as one under this definition of
    settling, with the counts; with most of them still moving it is stated plainly."""
    runs = make_runs(sizes=LARGE4, settling=lambda b: 80.0 if b < 64 else 20.0)
    runs["settle_status"] = "settled"
    late = (runs["batch_size"] < 64) & (runs["seed"] < 8)
    runs.loc[late, ["settling_epoch", "settle_status"]] = [np.nan, "still moving"]
    runs.loc[late & (runs["batch_size"] == 4), "settle_status"] = "loss rising"
    v = claim_small_batches_settle_sooner(runs, SETTINGS)
    _assert_verdict(v, NOT_SUPPORTED)
    assert "Reversed: the small batch sizes settle later." in v.evidence  # 8 of 16: not more
    runs.loc[late & (runs["batch_size"] == 8) & (runs["seed"] == 0), "settle_status"] = (
        "loss rising"
    )
    w = claim_small_batches_settle_sooner(runs, SETTINGS)
    _assert_verdict(w, NOT_SUPPORTED)
    assert (
        " Reversed under this definition of settling: 9 of 20 small-batch runs (9 of the 16 "
        "counted at the budget) count as not settled because their validation loss still rises "
        "(their accuracy may have stabilised earlier)." in w.evidence
    )
    assert "Reversed: the small" not in w.evidence
    runs.loc[late, "settle_status"] = "loss rising"
    every = claim_small_batches_settle_sooner(runs, SETTINGS)
    assert "16 of 20 small-batch runs (all 16 counted at the budget)" in every.evidence


def test_one_sided_reversal_by_loss_rising_runs_says_it_holds_under_this_definition():
    """Every small-batch run counted at the budget, 18 of 20 loss-rising: the one-sided
    "not supported" (the large group's interval, then with lower bounds among its per-seed
    values its pooled median, below the budget minus the margin) carries the same caveat as
    the paired reversal; with 10 of 20 (not more than half) or without a verdict it does not."""
    runs = make_runs(settling=lambda b: 20.0)
    runs["settle_status"] = "settled"
    small = runs["batch_size"] < 64
    runs.loc[small, ["settling_epoch", "settle_status"]] = [np.nan, "loss rising"]
    runs.loc[small & (runs["seed"] < 1), "settle_status"] = "still moving"
    caveat = (
        f" {claims.LOSS_RISING_REVERSAL}: 18 of 20 small-batch runs (18 of the 20 counted at the "
        "budget) count as not settled because their validation loss still rises (their accuracy "
        "may have stabilised earlier)."
    )
    v = claim_small_batches_settle_sooner(runs, SETTINGS)
    _assert_verdict(v, NOT_SUPPORTED)
    assert v.evidence.startswith(claims.ONE_SIDED) and v.effects["large_median"].method != (
        claims.METHOD_POOLED
    )
    assert caveat in v.evidence and claims.under_definition(v.to_dict())
    # two large-batch runs of a seed's three counted at the budget: that seed's value is a lower
    # bound, and the pooled median decides
    lower = (runs["seed"] == 0) & runs["batch_size"].isin([128, 512])
    pooled_runs = runs.copy()
    pooled_runs.loc[lower, ["settling_epoch", "settle_status"]] = [np.nan, "still moving"]
    w = claim_small_batches_settle_sooner(pooled_runs, SETTINGS)
    _assert_verdict(w, NOT_SUPPORTED)
    assert w.effects["large_median"].method == claims.METHOD_POOLED and caveat in w.evidence
    runs.loc[small & (runs["seed"] < 5), "settle_status"] = "still moving"
    half = claim_small_batches_settle_sooner(runs, SETTINGS)
    _assert_verdict(half, NOT_SUPPORTED)
    assert claims.LOSS_RISING_REVERSAL not in half.evidence
    assert not claims.under_definition(half.to_dict())
    runs.loc[small, "settle_status"] = "loss rising"
    runs.loc[~small, "settling_epoch"] = 96.0
    none = claim_small_batches_settle_sooner(runs, SETTINGS)
    _assert_verdict(none, INCONCLUSIVE)
    assert claims.LOSS_RISING_REVERSAL not in none.evidence


def test_the_loss_rising_tally_counts_only_reversals_that_carry_the_caveat():
    assert claims.loss_rising_tally(0, 4) == ""
    assert claims.loss_rising_tally(4, 4) == f" (all 4 {claims.LOSS_RISING_TALLY})"
    assert claims.loss_rising_tally(3, 4) == f" (3 of the 4 {claims.LOSS_RISING_TALLY})"
    caveated = {"verdict": NOT_SUPPORTED, "evidence": f"… {claims.LOSS_RISING_REVERSAL}: 9 …"}
    assert claims.under_definition(caveated)
    assert not claims.under_definition(caveated | {"verdict": INCONCLUSIVE})
    assert not claims.under_definition({"verdict": NOT_SUPPORTED, "evidence": "Reversed: …"})


def test_settling_words_where_runs_settled_below_the_target_or_no_verdict_is_possible():
    """A group none of whose runs settled at the target, some of them below it, "settled at
    the target" in no run (not "within the budget", where some did settle); a claim whose
    medians failed runs decide in no more than half the seeds says the not-testable rule does
    not apply (not "tested"), also where no verdict is possible; the failed-run rule does not
    say such runs "did not settle late" (they may still climb slowly)."""
    runs = make_runs(settling=lambda b: 30.0 if b < 64 else 50.0).assign(plateau_val_accuracy=0.85)
    runs["settle_status"] = "settled"
    large = runs["batch_size"] >= 64
    runs.loc[large, ["settling_epoch", "settle_status"]] = [np.nan, "still moving"]
    low = runs["batch_size"].isin([128, 512]) & (runs["seed"] < 3)
    runs.loc[low, ["settling_epoch", "settle_status", "plateau_val_accuracy"]] = [
        40.0,
        "settled",
        0.3,
    ]
    v = claim_small_batches_settle_sooner(runs, SETTINGS)
    assert "B ∈ {64, 128, 512}: no run settled at the target (" in v.evidence
    assert "within the budget (" not in v.evidence
    assert "the large batch sizes' median in 3 of 10 seeds" in v.evidence
    assert (
        "not more than half, so the rule that makes the claim not testable at this rate does not "
        "apply." in v.evidence
    )
    assert "claim is tested" not in v.evidence
    runs.loc[~large, ["settling_epoch", "settle_status"]] = [np.nan, "still moving"]
    w = claim_small_batches_settle_sooner(runs, SETTINGS)
    _assert_verdict(w, INCONCLUSIVE)
    assert w.evidence.startswith("No run settled at the target: ")
    assert "no verdict is possible" in w.evidence and "does not apply." in w.evidence
    assert "did not settle late" not in claims.FAILED_RUN_RULE
    assert "no settling at the target" in claims.FAILED_RUN_RULE


def test_no_fixed_cost_split_from_three_batch_sizes():
    steps = {8: 25, 32: 7, 128: 2}
    seconds = {8: 0.53, 32: 0.35, 128: 0.30}
    note = claims.fixed_cost_note(steps, seconds)
    assert "3 batch sizes leave too few degrees of freedom" in note and "fixed cost," not in note


def test_rank_correlation_is_spearmans():
    """claims._rho is Spearman's rho as scipy computes it, ties given their average rank."""
    from scipy.stats import spearmanr

    from batchstudy.claims import _rho

    rng = np.random.default_rng(3)
    sizes = [4, 8, 16, 32, 64, 128, 256, 512]
    for values in (rng.normal(size=8), rng.integers(0, 3, 8).astype(float), np.arange(8.0)):
        assert _rho(sizes, values) == pytest.approx(spearmanr(sizes, values).statistic)
    assert _rho(sizes, np.ones(8)) == 0.0


def test_runs_that_never_settled_are_explained_only_by_the_causes_that_occur():
    """The words for what a run that never settled stands for name only observed causes: no
    "budget too short to settle" where no run was too short, none at all where every run
    settled."""
    runs = make_runs(settling=lambda b: 30.0 if b < 64 else 50.0)
    runs["settle_status"] = "settled"
    assert claims.beyond_budget(runs) == ""
    runs.loc[runs["batch_size"] == 512, ["settling_epoch", "settle_status"]] = [
        np.nan,
        "loss rising",
    ]
    rising = claims.beyond_budget(runs)
    assert rising.startswith("a loss-rising run's validation loss still climbs")
    runs.loc[runs["seed"] == 0, ["settling_epoch", "settle_status"]] = [np.nan, "budget-limited"]
    assert claims.beyond_budget(runs) == (
        f"{rising}; a budget-limited one entered its band only in the budget's last epochs"
    )
    assert "too short" not in claim_small_batches_settle_sooner(runs, SETTINGS).evidence


def test_a_settling_bound_near_its_limit_shows_the_digits_that_place_it():
    """The small group's upper end is judged against budget − margin (95): an end of 94.98
    must not print as "95.0" beside "it is" below."""
    runs = make_runs(settling=lambda b: 30.0 if b < 64 else 50.0)
    runs.loc[runs["batch_size"] >= 64, "settling_epoch"] = np.nan
    v = claim_small_batches_settle_sooner(runs, SETTINGS)
    e = v.effects["small_median"]
    assert e.boundaries == (EPOCHS - SETTLING_MARGIN_EPOCHS,)
    near = dataclasses.replace(e, hi=EPOCHS - SETTLING_MARGIN_EPOCHS - 0.02)
    assert fmt.interval(near, "count").endswith(f", {fmt.number(near.hi, 4)}]")


# ------------------------------------------------------- coverage of the pooled bootstraps

#: The simulation behind `claims.POOLED_COVERAGE_AT`: a run's settling epoch is
#: round(mu_B + seed effect + noise), at least 1; a run past the budget, or one of the
#: ``never`` share of runs, never settles (NaN). Small group: B = 4..32, large: B = 64..512.
POOLED_MODEL = {
    "small": (22.0, 22.0, 33.0, 53.0),
    "large": (70.0, 75.0, 80.0, 85.0),
    "seed_sd": 5.0,
    "run_sd": 9.0,
    "never": claims.POOLED_SIM_NEVER,
}
#: How far the simulated coverage may lie from `claims.POOLED_COVERAGE_AT` (about 2.5
#: binomial standard errors at the replicate counts below).
POOLED_COVERAGE_TOLERANCE = 0.05


def _pooled_runs(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, dict[str, list[int]]]:
    """One study of `POOLED_MODEL` with ``n`` seeds: its run table and claim 2's groups."""
    m = POOLED_MODEL
    mu = np.array([*m["small"], *m["large"]])
    sizes = [2 ** (k + 2) for k in range(mu.size)]
    effect = rng.normal(0.0, m["seed_sd"], size=(n, 1))
    epoch = np.maximum(np.rint(mu + effect + rng.normal(0.0, m["run_sd"], (n, mu.size))), 1)
    never = (epoch > EPOCHS) | (rng.random(epoch.shape) < m["never"])
    seed, size = np.meshgrid(np.arange(n), sizes, indexing="ij")
    runs = pd.DataFrame(
        {
            "seed": seed.ravel(),
            "batch_size": size.ravel(),
            "settling_epoch": np.where(never, np.nan, epoch).ravel(),
            "n_epochs": EPOCHS,
        }
    )
    k = len(m["small"])
    return runs, {"small": sizes[:k], "large": sizes[k:]}


def _pooled_truth(group: str) -> float:
    """The true median settling epoch of a group's runs pooled: the smallest epoch at which
    the pooled distribution (never-settled runs above every epoch) reaches 1/2."""
    from scipy.stats import norm

    m = POOLED_MODEL
    sd = float(np.hypot(m["seed_sd"], m["run_sd"]))
    epochs = np.arange(1, EPOCHS + 1)
    cdf = np.mean([norm.cdf((epochs + 0.5 - mu) / sd) for mu in m[group]], axis=0)
    return float(epochs[np.argmax((1 - m["never"]) * cdf >= 0.5)])


def _pooled_coverage(method: str, n: int, replicates: int) -> float:
    """Share of `replicates` simulated studies whose interval (default settings: the shipped
    resample count) holds the truth: the small group's pooled median, or small − large."""
    rng = np.random.default_rng(n)
    settings = IntervalSettings()
    small = _pooled_truth("small")
    truth = small if method == claims.METHOD_POOLED else small - _pooled_truth("large")
    hits = 0
    for _ in range(replicates):
        runs, groups = _pooled_runs(rng, n)
        sizes = [*groups["small"], *groups["large"]]
        e = (
            claims.pooled_group_median(runs, groups["small"], sizes, settings)
            if method == claims.METHOD_POOLED
            else claims.pooled_difference(runs, groups, sizes, settings)
        )
        assert e.method == method and e.n == n
        hits += e.lo <= truth <= e.hi
    return hits / replicates


@pytest.mark.slow
@pytest.mark.parametrize("n", [5, 10])
@pytest.mark.parametrize(
    ("method", "replicates"),
    [(claims.METHOD_POOLED, 500), (claims.METHOD_POOLED_DIFFERENCE, 250)],
    ids=["pooled-median", "pooled-difference"],
)
def test_pooled_bootstrap_coverage_is_what_the_report_states(method, replicates, n):
    """Claim 2's pooled percentile bootstraps (seeds resampled, each with its runs) do not
    reach 95% at 5 seeds, so the report states their simulated coverage
    (`claims.POOLED_COVERAGE_AT`) instead of calling them 95%: this checks those numbers."""
    assert _pooled_truth("small") < _pooled_truth("large") < EPOCHS  # the model as described
    assert len(POOLED_MODEL["small"]) == len(POOLED_MODEL["large"]) == claims.POOLED_SIM_SIZES
    stated = claims.POOLED_COVERAGE_AT[method][n]
    assert _pooled_coverage(method, n, replicates) == pytest.approx(
        stated, abs=POOLED_COVERAGE_TOLERANCE
    )


def test_the_pooled_coverage_is_stated_once_in_the_definitions_and_beside_the_interval(
    monkeypatch,
):
    words = claims.pooled_coverage_words()
    for method in (claims.METHOD_POOLED, claims.METHOD_POOLED_DIFFERENCE):
        for n, c in claims.POOLED_COVERAGE_AT[method].items():
            assert f"{c:.0%} at {n}" in words
    e = Effect(40.0, 30.0, 50.0, 10, claims.METHOD_POOLED, 0.95)
    c10 = claims.POOLED_COVERAGE_AT[claims.METHOD_POOLED][10]
    assert claims.pooled_coverage_note(e) == (
        "; its coverage here is not known (simulated only for 4 batch sizes per group, 8% of "
        f"runs never settling: about {c10:.0%} at 10 seeds there, not 95%)"
    )
    assert claims.N_SMALL_BATCHES != claims.POOLED_SIM_SIZES  # why "here is not known"
    assert "simulated only for 4 batch sizes per group, 8% of runs never settling" not in words
    assert "4 batch sizes per group, 8% of runs never settling" in words
    monkeypatch.setitem(claims.POOLED_COVERAGE_AT, claims.METHOD_POOLED, {10: 0.95})
    assert claims.pooled_coverage_note(e).endswith("about 95% at 10 seeds there)")  # no "not"
    assert claims.pooled_coverage_note(dataclasses.replace(e, n=7)) == ""  # not simulated
    assert claims.pooled_coverage_note(dataclasses.replace(e, level=0.9)) == ""
    assert claims.pooled_coverage_note(dataclasses.replace(e, method=stats.METHOD_T)) == ""
