"""Per-run metrics pinned on hand-made curves, and the bootstrap/summary built on them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batchstudy.metrics import (
    CONDITION_KEYS,
    bootstrap_ci,
    first_reach,
    paired_difference,
    plateau,
    run_metrics,
    settling_epoch,
    smooth,
    summarize,
    target_suffix,
)

# --------------------------------------------------------------------------- smooth


def test_smooth_window_one_is_identity():
    x = [0.1, 0.2, 0.35, 0.3]
    np.testing.assert_array_equal(smooth(x, 1), x)


def test_smooth_is_trailing_with_short_start():
    np.testing.assert_allclose(smooth([1.0, 2.0, 3.0, 4.0, 5.0], 3), [1.0, 1.5, 2.0, 3.0, 4.0])


def test_smooth_non_finite_poisons_only_its_windows():
    out = smooth([1.0, np.nan, 3.0, 4.0, np.inf, 6.0, 7.0, 8.0], 2)
    np.testing.assert_allclose(out, [1.0, np.nan, np.nan, 3.5, np.nan, np.nan, 6.5, 7.5])


def test_smooth_window_longer_than_curve_and_empty():
    np.testing.assert_allclose(smooth([2.0, 4.0], 5), [2.0, 3.0])
    assert smooth([], 3).size == 0


@pytest.mark.parametrize("window", [0, -1, 1.5])
def test_smooth_rejects_bad_window(window):
    with pytest.raises(ValueError):
        smooth([1.0, 2.0], window)


# --------------------------------------------------------------------------- settling


def test_plateau_is_median_of_last_k():
    assert plateau([0.1, 0.9, 0.7, 0.8], 3) == pytest.approx(0.8)
    assert np.isnan(plateau([0.1, 0.9, np.nan], 2))


def test_settling_flat_curve_settles_at_epoch_one():
    assert settling_epoch([0.8] * 10, window=3, k_last=3, eps=0.01) == 1


def test_settling_monotone_rise():
    curve = [0.5, 0.6, 0.7, 0.8, 0.9, 0.9, 0.9, 0.9]
    assert settling_epoch(curve, window=1, k_last=3, eps=0.01) == 5
    # A wider band lets the curve in one epoch earlier (0.8 is within 0.1 of 0.9).
    assert settling_epoch(curve, window=1, k_last=3, eps=0.1) == 4


def test_settling_is_stays_not_touches():
    # Epoch 2 touches the plateau, epochs 3-4 leave it, it stays from epoch 5 on.
    curve = [0.5, 0.8, 0.6, 0.7, 0.8, 0.8, 0.8, 0.8]
    assert settling_epoch(curve, window=1, k_last=3, eps=0.01) == 5


def test_settling_band_edge_is_inclusive():
    # 0.85 - 0.80 is not exactly 0.05 in binary; it must still count as inside.
    assert settling_epoch([0.85, 0.8, 0.8, 0.8], window=1, k_last=3, eps=0.05) == 1
    assert settling_epoch([0.86, 0.8, 0.8, 0.8], window=1, k_last=3, eps=0.05) == 2


def test_settling_noisy_curve_uses_smoothing():
    epochs = np.arange(1, 31)
    noise = 0.03 * (-1.0) ** epochs  # zig-zag larger than eps
    curve = np.minimum(0.5 + 0.05 * epochs, 0.9) + noise
    # Unsmoothed, the zig-zag (+-0.03) leaves the eps = 0.02 band around the plateau (0.93)
    # every other epoch, so only the last epoch is "settled": no settling before the end.
    assert settling_epoch(curve, window=1, k_last=5, eps=0.02) == len(curve)
    # Two-epoch averaging cancels it: the smoothed curve reaches 0.9 from epoch 9 on.
    assert settling_epoch(curve, window=2, k_last=5, eps=0.02) == 9


def test_settling_diverged_end_is_none():
    assert settling_epoch([0.5, 0.7, 0.8, np.nan], window=1, k_last=2, eps=0.01) is None
    assert settling_epoch([0.5, 0.7, 0.8, np.inf], window=1, k_last=2, eps=0.01) is None


def test_settling_nan_in_middle_is_outside_the_band():
    curve = [0.8, np.nan, 0.8, 0.8, 0.8]
    assert settling_epoch(curve, window=1, k_last=3, eps=0.01) == 3


def test_settling_not_settled_when_last_epoch_leaves_band():
    assert settling_epoch([0.8, 0.8, 0.8, 0.9], window=1, k_last=3, eps=0.05) is None


# --------------------------------------------------------------------------- first_reach


def test_first_reach_is_first_epoch_at_or_above_target():
    assert first_reach([0.1, 0.5, 0.4, 0.9], 0.5) == 2
    assert first_reach([0.1, 0.5, 0.4, 0.9], 0.6) == 4


def test_first_reach_never_reached_is_censored():
    assert first_reach([0.1, 0.5, 0.4], 0.95) is None
    assert first_reach([np.nan, np.nan], 0.1) is None
    assert first_reach([0.9], np.nan) is None


def test_target_suffix():
    assert target_suffix(0.95) == "95"
    assert target_suffix(0.99) == "99"
    assert target_suffix(0.995) == "99p5"
    with pytest.raises(ValueError):
        target_suffix(1.5)


# --------------------------------------------------------------------------- run_metrics

CONDITION = {"dataset": "moons", "optimizer": "adam", "lr_scaling": "none", "budget": "epochs"}
N_TRAIN = 100
CURVES = {
    # (batch size, seed): (val accuracy per epoch, diverged from epoch)
    (8, 0): ([0.5, 0.6, 0.7, 0.8, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9], None),
    (8, 1): ([0.5, 0.6, 0.7, 0.8, 0.88, 0.88, 0.88, 0.88, 0.88, 0.88], None),
    (64, 0): ([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.8, 0.8], None),
    (64, 1): ([0.1] * 10, 6),
}
SECONDS = {8: 0.5, 64: 0.1}


def _history() -> pd.DataFrame:
    rows = []
    for (batch, seed), (val, diverge_at) in CURVES.items():
        for epoch, acc in enumerate(val, start=1):
            broken = diverge_at is not None and epoch >= diverge_at
            rows.append(
                CONDITION
                | {
                    "batch_size": batch,
                    "seed": seed,
                    "epoch": epoch,
                    "train_loss": np.nan if broken else 1.0 - acc,
                    "train_accuracy": acc + 0.05,
                    "val_loss": np.inf if broken else 1.1 - acc,
                    "val_accuracy": acc,
                }
            )
    # Shuffled on purpose: run_metrics must not rely on input order.
    return pd.DataFrame(rows).sample(frac=1.0, random_state=3).reset_index(drop=True)


def _facts() -> pd.DataFrame:
    return pd.DataFrame(
        [
            CONDITION
            | {
                "batch_size": batch,
                "seed": seed,
                "n_train": N_TRAIN,
                "steps_per_epoch": -(-N_TRAIN // batch),
                "seconds_per_epoch": SECONDS[batch],
            }
            for batch, seed in CURVES
        ]
    )


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    table = run_metrics(_history(), _facts(), window=1, k_last=3, eps=0.01)
    return table.set_index(["batch_size", "seed"], drop=False)


EXPECTED_RUN_COLUMNS = [
    "dataset",
    "optimizer",
    "lr_scaling",
    "budget",
    "batch_size",
    "seed",
    "n_epochs",
    "diverged",
    "final_train_accuracy",
    "final_val_accuracy",
    "final_train_loss",
    "final_val_loss",
    "best_val_accuracy",
    "best_val_loss",
    "gap_accuracy",
    "gap_loss",
    "plateau_val_accuracy",
    "settling_epoch",
    "n_train",
    "steps_per_epoch",
    "seconds_per_epoch",
    "settling_step",
    "target_95",
    "target_99",
    *[
        f"{name}_{sfx}"
        for sfx in ("95", "99")
        for name in (
            "epochs_to_target",
            "steps_to_target",
            "examples_to_target",
            "seconds_to_target",
            "reached",
        )
    ],
]


def test_run_metrics_columns_and_one_row_per_run(runs):
    assert list(runs.columns) == EXPECTED_RUN_COLUMNS
    assert len(runs) == len(CURVES)


def test_run_metrics_final_best_and_gaps(runs):
    row = runs.loc[(8, 0)]
    assert row["final_val_accuracy"] == pytest.approx(0.9)
    assert row["final_train_accuracy"] == pytest.approx(0.95)
    assert row["gap_accuracy"] == pytest.approx(0.05)
    assert row["final_val_loss"] == pytest.approx(0.2)
    assert row["gap_loss"] == pytest.approx(0.1)
    assert row["best_val_accuracy"] == pytest.approx(0.9)
    assert row["best_val_loss"] == pytest.approx(0.2)
    assert row["n_epochs"] == 10


def test_run_metrics_settling_epoch_and_step(runs):
    assert runs.loc[(8, 0), "settling_epoch"] == 5
    assert runs.loc[(8, 0), "settling_step"] == 5 * 13
    assert runs.loc[(64, 0), "settling_epoch"] == 8
    assert runs.loc[(64, 0), "settling_step"] == 8 * 2


def test_run_metrics_target_is_fraction_of_best_condition_plateau(runs):
    # B=8 plateaus average (0.9 + 0.88) / 2 = 0.89 and beat B=64's 0.8 (its diverged seed
    # is ignored), so every run of the condition races to 0.95 * 0.89 and 0.99 * 0.89.
    assert runs["target_95"].to_numpy() == pytest.approx([0.95 * 0.89] * 4)
    assert runs["target_99"].to_numpy() == pytest.approx([0.99 * 0.89] * 4)


def test_run_metrics_time_to_target(runs):
    row = runs.loc[(8, 0)]
    assert row["epochs_to_target_95"] == 5
    assert row["steps_to_target_95"] == 5 * 13
    assert row["examples_to_target_95"] == 5 * N_TRAIN
    assert row["seconds_to_target_95"] == pytest.approx(2.5)
    assert row["reached_95"]
    assert row["reached_99"]


def test_run_metrics_censored_runs_are_nan_not_dropped(runs):
    assert runs.loc[(8, 1), "reached_95"]
    assert not runs.loc[(8, 1), "reached_99"]  # 0.88 < 0.99 * 0.89
    assert np.isnan(runs.loc[(8, 1), "epochs_to_target_99"])
    assert not runs.loc[(64, 0), "reached_95"]  # never above 0.8
    assert np.isnan(runs.loc[(64, 0), "seconds_to_target_95"])


def test_run_metrics_diverged_run_kept_with_nan_metrics(runs):
    row = runs.loc[(64, 1)]
    assert bool(row["diverged"])
    assert not runs.loc[(8, 0), "diverged"]
    for col in ("final_val_accuracy", "gap_accuracy", "settling_epoch", "epochs_to_target_95"):
        assert np.isnan(row[col]), col
    assert not row["reached_95"]
    assert row["target_95"] == pytest.approx(0.95 * 0.89)


def test_run_metrics_requires_columns():
    with pytest.raises(ValueError, match="val_accuracy"):
        run_metrics(_history().drop(columns="val_accuracy"), _facts(), window=1, k_last=3, eps=0.1)


# --------------------------------------------------------------------------- bootstrap_ci


def test_bootstrap_is_deterministic_for_a_seed():
    x = np.random.default_rng(7).normal(size=20)
    assert bootstrap_ci(x, seed=1) == bootstrap_ci(x, seed=1)
    assert bootstrap_ci(x, seed=1) != bootstrap_ci(x, seed=2)


def test_bootstrap_single_value_and_all_nan():
    assert bootstrap_ci([0.7]) == (0.7, 0.7, 0.7)
    assert all(np.isnan(v) for v in bootstrap_ci([np.nan, np.nan]))
    assert bootstrap_ci([np.nan, 0.4, np.inf]) == (0.4, 0.4, 0.4)


def test_bootstrap_ci_width_matches_standard_error():
    x = np.random.default_rng(0).normal(loc=1.0, scale=1.0, size=100)
    est, lo, hi = bootstrap_ci(x, stat="mean", n_boot=4000)
    assert est == pytest.approx(x.mean())
    assert lo < est < hi
    # Normal-theory width 2 * 1.96 * sd / sqrt(n) ~ 0.39 for sd ~ 1.
    assert hi - lo == pytest.approx(2 * 1.96 * x.std(ddof=1) / 10, rel=0.15)


def test_bootstrap_median_and_bad_arguments():
    assert bootstrap_ci([1.0, 2.0, 100.0], stat="median")[0] == 2.0
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, 2.0], stat="mode")
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, 2.0], level=1.0)


# --------------------------------------------------------------------------- summarize


def test_summarize_counts_and_censoring(runs):
    summary = summarize(runs.reset_index(drop=True), n_boot=200, seed=0)
    cells = summary.set_index("batch_size")
    assert list(summary[list(CONDITION_KEYS)].iloc[0]) == list(CONDITION.values())
    assert cells.at[8, "n_runs"] == 2 and cells.at[64, "n_runs"] == 2
    assert cells.at[8, "n_diverged"] == 0 and cells.at[64, "n_diverged"] == 1
    assert cells.at[8, "final_val_accuracy_mean"] == pytest.approx(0.89)
    assert cells.at[64, "final_val_accuracy_mean"] == pytest.approx(0.8)  # diverged not averaged
    assert cells.at[8, "n_reached_95"] == 2 and cells.at[8, "n_censored_99"] == 1
    assert cells.at[8, "epochs_to_target_99_median"] == 5  # among the one run that reached
    assert cells.at[64, "n_reached_95"] == 0 and cells.at[64, "n_censored_95"] == 2
    assert np.isnan(cells.at[64, "epochs_to_target_95_median"])
    assert cells.at[64, "n_settled"] == 1
    assert cells.at[64, "settling_epoch_median"] == 8
    assert cells.at[8, "seconds_per_epoch_median"] == pytest.approx(0.5)


def test_summarize_columns(runs):
    summary = summarize(runs.reset_index(drop=True), n_boot=50, seed=0)
    stats = ["final_val_accuracy", "final_train_accuracy", "gap_accuracy"]
    expected = [
        *CONDITION_KEYS,
        "batch_size",
        "n_runs",
        "n_diverged",
        *[f"{s}_{p}" for s in stats for p in ("mean", "lo", "hi")],
        *[f"seconds_per_epoch_{p}" for p in ("median", "lo", "hi")],
        "n_settled",
        *[f"settling_epoch_{p}" for p in ("median", "lo", "hi")],
    ]
    for sfx in ("95", "99"):
        expected += [f"target_{sfx}", f"n_reached_{sfx}", f"n_censored_{sfx}"]
        expected += [
            f"{q}_to_target_{sfx}_{p}"
            for q in ("epochs", "steps", "seconds")
            for p in ("median", "lo", "hi")
        ]
    assert list(summary.columns) == expected


# --------------------------------------------------------------------------- paired_difference


def test_paired_difference_detects_a_consistent_shift():
    rng = np.random.default_rng(1)
    b = rng.normal(0.8, 0.05, size=10)  # large seed-to-seed spread ...
    a = b + 0.02 + rng.normal(0, 0.002, size=10)  # ... but a tiny, consistent paired shift
    res = paired_difference(a, b, n_boot=1000, seed=0)
    assert res["mean_diff"] == pytest.approx(0.02, abs=0.002)
    assert res["detectable"] and res["lo"] > 0
    assert res["n"] == 10 and res["n_dropped"] == 0


def test_paired_difference_no_difference_is_not_detectable():
    res = paired_difference([0.1, 0.2, 0.3], [0.2, 0.1, 0.3], n_boot=500)
    assert res["mean_diff"] == pytest.approx(0.0)
    assert res["lo"] < 0 < res["hi"] and not res["detectable"]


def test_paired_difference_drops_nan_pairs_and_aligns_series_by_seed():
    a = pd.Series([1.0, 2.0, np.nan, 4.0], index=[0, 1, 2, 3])
    b = pd.Series([3.0, 1.5, 0.5, 1.0], index=[3, 1, 2, 0])  # other order
    res = paired_difference(a, b)
    # Seed pairs: (1, 1), (2, 1.5), (nan, 0.5) dropped, (4, 3) -> differences 0, 0.5, 1.
    assert res["n"] == 3 and res["n_dropped"] == 1
    assert res["mean_diff"] == pytest.approx(0.5)


def test_paired_difference_needs_three_pairs_to_detect():
    res = paired_difference([1.0, 1.1], [0.0, 0.0])
    assert res["lo"] > 0 and not res["detectable"]
    with pytest.raises(ValueError):
        paired_difference([1.0, 2.0], [1.0])
