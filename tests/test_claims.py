"""Each claim's verdict on synthetic run tables built to support, refute or leave it open."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from batchstudy.claims import (
    DIAGNOSIS_GAP,
    DIAGNOSIS_NONE,
    DIAGNOSIS_UNDERTRAINING,
    INCONCLUSIVE,
    NOT_SUPPORTED,
    SUPPORTED,
    Verdict,
    claim_large_batches_generalize_worse,
    claim_small_batches_settle_sooner,
    claim_time_per_epoch,
    claim_wall_time_not_epochs,
    evaluate_claims,
    verdicts_frame,
)
from batchstudy.metrics import summarize

SIZES = (4, 8, 64, 128, 512)
N_SEEDS = 10
N_TRAIN = 1000
BOOT = {"n_boot": 400, "seed": 0}
CONDITION = {"dataset": "moons", "optimizer": "adam", "lr_scaling": "none", "budget": "epochs"}

Curve = Callable[[int], float]


def make_runs(
    *,
    sizes: tuple[int, ...] = SIZES,
    seconds: Curve = lambda b: 0.05 + 10.0 / b,
    settling: Curve = lambda b: 40.0,
    val: Curve = lambda b: 0.83,
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
            v = val(b) + seed_offset[s] + rng.normal(0, acc_sd)
            t = train(b) + seed_offset[s] + rng.normal(0, acc_sd)
            sec = seconds(b) * np.exp(rng.normal(0, 0.02))
            ep = max(1.0, round(epochs_to(b) * np.exp(rng.normal(0, 0.05))))
            ep = ep if reached(b, s) else np.nan
            rows.append(
                CONDITION
                | {
                    "batch_size": b,
                    "seed": s,
                    "diverged": False,
                    "final_val_accuracy": v,
                    "final_train_accuracy": t,
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


def _assert_verdict(v: Verdict, expected: str) -> None:
    assert isinstance(v, Verdict)
    assert v.verdict == expected, v.evidence


# --------------------------------------------------------------------------- claim 1


def test_time_per_epoch_supported_when_seconds_fall_with_batch_size():
    v = claim_time_per_epoch(make_runs(), **BOOT)
    _assert_verdict(v, SUPPORTED)
    assert v.figures["rho_medians"] == pytest.approx(-1.0)
    # 0.05 + 10/4 = 2.55 s vs 0.05 + 10/512 ~ 0.0695 s -> ratio ~ 37.
    assert v.figures["ratio"] == pytest.approx(2.55 / 0.0695, rel=0.05)
    assert v.figures["ratio_lo"] > 1
    assert "B=4 / B=512" in v.evidence and "n = 10 seeds" in v.evidence


def test_time_per_epoch_not_supported_when_flat():
    v = claim_time_per_epoch(make_runs(seconds=lambda b: 0.5), **BOOT)
    _assert_verdict(v, NOT_SUPPORTED)
    assert "no detectable difference at n = 10 seeds" in v.evidence


def test_time_per_epoch_not_supported_when_large_batches_are_slower():
    v = claim_time_per_epoch(make_runs(seconds=lambda b: 0.1 + b / 100), **BOOT)
    _assert_verdict(v, NOT_SUPPORTED)
    assert v.figures["ratio_hi"] < 1


def test_time_per_epoch_inconclusive_with_two_batch_sizes():
    v = claim_time_per_epoch(make_runs(sizes=(8, 512)), **BOOT)
    _assert_verdict(v, INCONCLUSIVE)
    assert "need >= 3" in v.evidence


# --------------------------------------------------------------------------- claim 2


def test_settling_supported_for_article_like_numbers():
    v = claim_small_batches_settle_sooner(
        make_runs(settling=lambda b: 30.0 if b < 64 else 50.0), **BOOT
    )
    _assert_verdict(v, SUPPORTED)
    assert v.figures["small"] == [4, 8] and v.figures["large"] == [64, 128, 512]
    assert v.figures["diff_mean_diff"] == pytest.approx(-20.0, abs=1.5)
    assert v.figures["diff_hi"] < 0
    assert "about 30 vs about 50" in v.evidence


def test_settling_unsettled_runs_do_not_drop_their_seed():
    runs = make_runs(settling=lambda b: 30.0 if b < 64 else 50.0)
    unsettled = (runs["batch_size"] == 512) & (runs["seed"] < 6)
    runs.loc[unsettled, "settling_epoch"] = np.nan
    v = claim_small_batches_settle_sooner(runs, **BOOT)
    _assert_verdict(v, SUPPORTED)
    assert v.figures["diff_n"] == N_SEEDS
    assert "B=512: 4/10" in v.evidence


def test_settling_not_supported_when_equal_within_margin():
    v = claim_small_batches_settle_sooner(make_runs(settling=lambda b: 40.0), **BOOT)
    _assert_verdict(v, NOT_SUPPORTED)
    assert "no detectable difference at n = 10 seeds" in v.evidence


def test_settling_not_supported_when_large_batches_settle_sooner():
    v = claim_small_batches_settle_sooner(
        make_runs(settling=lambda b: 50.0 if b < 64 else 30.0), **BOOT
    )
    _assert_verdict(v, NOT_SUPPORTED)
    assert v.figures["diff_lo"] > 0


def test_settling_inconclusive_when_noise_hides_any_effect():
    v = claim_small_batches_settle_sooner(
        make_runs(settling=lambda b: 40.0, settling_sd=25.0, rng_seed=1), **BOOT
    )
    _assert_verdict(v, INCONCLUSIVE)


def test_settling_inconclusive_without_large_batches():
    v = claim_small_batches_settle_sooner(make_runs(sizes=(4, 8, 16, 32)), **BOOT)
    _assert_verdict(v, INCONCLUSIVE)
    assert "64" in v.evidence


# --------------------------------------------------------------------------- claim 3


def test_generalization_gap_diagnosed_when_train_holds_and_val_drops():
    runs = make_runs(val=lambda b: 0.78 if b == 512 else 0.83, train=lambda b: 0.99)
    v = claim_large_batches_generalize_worse(runs, **BOOT)
    _assert_verdict(v, SUPPORTED)
    assert v.diagnosis == DIAGNOSIS_GAP
    assert v.figures["largest"] == 512
    assert v.figures["final_val_accuracy_diff_mean_diff"] == pytest.approx(-0.05, abs=0.01)
    assert "B=512 final val acc" in v.evidence and "n = 10 seeds" in v.evidence


def test_under_training_diagnosed_when_train_and_val_both_drop():
    runs = make_runs(
        val=lambda b: 0.78 if b == 512 else 0.83, train=lambda b: 0.81 if b == 512 else 0.86
    )
    v = claim_large_batches_generalize_worse(runs, **BOOT)
    _assert_verdict(v, SUPPORTED)
    assert v.diagnosis == DIAGNOSIS_UNDERTRAINING
    assert "gap (train - val)" in v.evidence


def test_reference_is_the_best_other_batch_size():
    runs = make_runs(val=lambda b: {4: 0.80, 8: 0.84, 64: 0.82, 128: 0.81, 512: 0.79}[b])
    v = claim_large_batches_generalize_worse(runs, **BOOT)
    assert v.figures["reference"] == 8
    assert v.figures["final_val_accuracy_diff_mean_diff"] == pytest.approx(-0.05, abs=0.01)


def test_generalization_not_supported_when_equal():
    v = claim_large_batches_generalize_worse(make_runs(), **BOOT)
    _assert_verdict(v, NOT_SUPPORTED)
    assert v.diagnosis == DIAGNOSIS_NONE
    assert "no detectable difference at n = 10 seeds" in v.evidence


def test_generalization_inconclusive_with_one_batch_size():
    v = claim_large_batches_generalize_worse(make_runs(sizes=(512,)), **BOOT)
    _assert_verdict(v, INCONCLUSIVE)


def test_generalization_inconclusive_when_too_few_seeds_survive():
    runs = make_runs(val=lambda b: 0.70 if b == 512 else 0.83)
    diverged = (runs["batch_size"] == 512) & (runs["seed"] >= 2)
    runs.loc[diverged, ["final_val_accuracy", "final_train_accuracy", "gap_accuracy"]] = np.nan
    runs.loc[diverged, "diverged"] = True
    v = claim_large_batches_generalize_worse(runs, **BOOT)
    _assert_verdict(v, INCONCLUSIVE)
    assert "too few paired seeds" in v.evidence


# --------------------------------------------------------------------------- claim 4


def test_wall_time_supported_faster_seconds_more_epochs():
    runs = make_runs(epochs_to=lambda b: 30.0 if b == 512 else 10.0)
    v = claim_wall_time_not_epochs(runs, **BOOT)
    _assert_verdict(v, SUPPORTED)
    # Seconds: 30 * 0.0695 vs 10 * 2.55; epochs: 3x more.
    assert v.figures["seconds_ratio_mean_diff"] == pytest.approx(30 * 0.0695 / 25.5, rel=0.1)
    assert v.figures["epochs_ratio_mean_diff"] == pytest.approx(3.0, rel=0.1)


def test_wall_time_supported_when_epochs_are_equal():
    v = claim_wall_time_not_epochs(make_runs(), **BOOT)
    _assert_verdict(v, SUPPORTED)
    assert v.figures["epochs"] == SUPPORTED


def test_wall_time_not_supported_when_large_batches_also_need_fewer_epochs():
    runs = make_runs(epochs_to=lambda b: 5.0 if b == 512 else 10.0)
    v = claim_wall_time_not_epochs(runs, **BOOT)
    _assert_verdict(v, NOT_SUPPORTED)
    assert v.figures["wall"] == SUPPORTED and v.figures["epochs"] == NOT_SUPPORTED


def test_wall_time_not_supported_when_large_batch_never_reaches_target():
    runs = make_runs(reached=lambda b, s: b != 512 or s < 2)
    v = claim_wall_time_not_epochs(runs, **BOOT)
    _assert_verdict(v, NOT_SUPPORTED)
    assert "B=512 20%" in v.evidence and "mostly never reached" in v.evidence


def test_wall_time_inconclusive_without_target_columns():
    runs = make_runs().drop(columns=["seconds_to_target_95"])
    _assert_verdict(claim_wall_time_not_epochs(runs, **BOOT), INCONCLUSIVE)


def test_wall_time_inconclusive_when_small_batch_mostly_censored():
    runs = make_runs(reached=lambda b, s: b != 4 or s < 3)
    _assert_verdict(claim_wall_time_not_epochs(runs, **BOOT), INCONCLUSIVE)


# --------------------------------------------------------------------------- all claims


def test_evaluate_claims_with_shared_summary():
    runs = make_runs(settling=lambda b: 30.0 if b < 64 else 50.0)
    summary = summarize(runs, **BOOT)
    verdicts = evaluate_claims(runs, summary, **BOOT)
    assert [v.verdict for v in verdicts] == [SUPPORTED, SUPPORTED, NOT_SUPPORTED, SUPPORTED]
    table = verdicts_frame(verdicts)
    assert list(table.columns) == ["claim", "verdict", "diagnosis", "evidence"]
    assert len(table) == 4


def test_summary_of_another_condition_is_ignored():
    runs = make_runs()
    other = make_runs(val=lambda b: 0.5).assign(dataset="blobs")
    summary = summarize(pd.concat([runs, other]), **BOOT)
    v = claim_large_batches_generalize_worse(runs, summary, **BOOT)
    assert "0.5" not in v.evidence.split(";")[0]
    _assert_verdict(v, NOT_SUPPORTED)


def test_claims_refuse_mixed_conditions():
    mixed = pd.concat([make_runs(), make_runs().assign(optimizer="sgd")])
    with pytest.raises(ValueError, match="one condition"):
        claim_time_per_epoch(mixed, **BOOT)
