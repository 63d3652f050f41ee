"""Per-run metrics pinned on hand-made curves, and the bootstrap/summary built on them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batchstudy.metrics import (
    BUDGET_LIMITED,
    COLLAPSED,
    CONDITION_KEYS,
    DIVERGED,
    EXPLODED_LOSS_FACTOR,
    LOSS_RISING,
    SETTLED,
    STILL_MOVING,
    band_entry_epoch,
    condition_targets,
    exploded_losses,
    first_below,
    first_reach,
    is_collapsed,
    is_flat,
    latest_settling_epoch,
    loss_summary,
    plateau,
    run_metrics,
    settled_below_target,
    settles_after,
    settling_epoch,
    smooth,
    summarize,
    target_suffix,
    unsettled_status,
)
from batchstudy.stats import METHOD_MEDIAN, METHOD_T, IntervalSettings

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
    assert band_entry_epoch(curve, window=1, k_last=3, eps=0.01) == 5
    # A wider band lets the curve in one epoch earlier (0.8 is within 0.1 of 0.9).
    assert band_entry_epoch(curve, window=1, k_last=3, eps=0.1) == 4


def test_settling_is_stays_not_touches():
    # Epoch 2 touches the plateau, epochs 3-4 leave it, it stays from epoch 5 on.
    curve = [0.5, 0.8, 0.6, 0.7, 0.8, 0.8, 0.8, 0.8]
    assert band_entry_epoch(curve, window=1, k_last=3, eps=0.01) == 5


def test_settling_band_edge_is_inclusive():
    # 0.85 - 0.80 is not exactly 0.05 in binary; it must still count as inside.
    assert band_entry_epoch([0.85, 0.8, 0.8, 0.8], window=1, k_last=3, eps=0.05) == 1
    assert band_entry_epoch([0.86, 0.8, 0.8, 0.8], window=1, k_last=3, eps=0.05) == 2


def test_settling_noisy_curve_uses_smoothing():
    epochs = np.arange(1, 31)
    noise = 0.03 * (-1.0) ** epochs  # zig-zag larger than eps
    curve = np.minimum(0.5 + 0.05 * epochs, 0.9) + noise
    # Unsmoothed, the zig-zag (+-0.03) leaves the eps = 0.02 band around the plateau (0.93)
    # every other epoch, so only the last epoch is "settled": no settling before the end.
    assert band_entry_epoch(curve, window=1, k_last=5, eps=0.02) == len(curve)
    # Two-epoch averaging cancels it: the smoothed curve reaches 0.9 from epoch 9 on.
    assert band_entry_epoch(curve, window=2, k_last=5, eps=0.02) == 9


def test_settling_diverged_end_is_none():
    assert band_entry_epoch([0.5, 0.7, 0.8, np.nan], window=1, k_last=2, eps=0.01) is None
    assert band_entry_epoch([0.5, 0.7, 0.8, np.inf], window=1, k_last=2, eps=0.01) is None


def test_settling_nan_in_middle_is_outside_the_band():
    curve = [0.8, np.nan, 0.8, 0.8, 0.8]
    assert band_entry_epoch(curve, window=1, k_last=3, eps=0.01) == 3


def test_settling_not_settled_when_last_epoch_leaves_band():
    assert band_entry_epoch([0.8, 0.8, 0.8, 0.9], window=1, k_last=3, eps=0.05) is None


def test_settling_needs_flat_accuracy_and_loss_over_the_plateau_window():
    flat_acc = [0.5, 0.6, 0.7, 0.8, 0.8, 0.8, 0.8, 0.8]
    falling_loss = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]  # still learning
    flat_loss = [1.0, 0.9, 0.8, 0.6, 0.6, 0.6, 0.6, 0.6]
    kw = {"window": 1, "k_last": 4, "eps": 0.01, "max_slope": 0.001}
    assert band_entry_epoch(flat_acc, val_loss=flat_loss, **kw) == 4
    assert band_entry_epoch(flat_acc, val_loss=falling_loss, **kw) is None
    # A slow climb inside the band is still a climb: not settled either.
    creeping = [0.5, 0.6, 0.7, 0.795, 0.797, 0.799, 0.801, 0.803]
    assert band_entry_epoch(creeping, val_loss=flat_loss, **kw) is None
    assert band_entry_epoch(creeping, window=1, k_last=4, eps=0.01) == 4  # without the slope test


def test_settling_needs_more_than_plateau_and_smoothing_windows_before_the_budget():
    # Flat at 0.8 from epoch e on, 30 epochs: with k_last 5 and window 3 the latest settling
    # epoch is 30 - 5 - 3 = 22; a band entered later is budget-limited (censored).
    assert latest_settling_epoch(30, window=3, k_last=5) == 22
    kw = {"window": 3, "k_last": 5, "eps": 0.01}

    def curve(entry: int) -> list[float]:
        return [0.5] * (entry - 1) + [0.8] * (30 - entry + 1)

    # Smoothing (trailing, 3 epochs) puts the smoothed band entry 2 epochs after the step.
    assert band_entry_epoch(curve(20), **kw) == 22
    assert settling_epoch(curve(20), **kw) == 22  # on the boundary: settled
    assert band_entry_epoch(curve(21), **kw) == 23
    assert settling_epoch(curve(21), **kw) is None  # one epoch later: budget-limited
    # A budget no longer than the two windows leaves no epoch to settle at.
    assert settling_epoch([0.8] * 8, **kw) is None
    assert settling_epoch([0.8] * 9, **kw) == 1


def test_settling_a_slow_climb_under_the_slope_limit_is_budget_limited():
    # Climbs 0.002 per epoch (under the 0.003 limit) to the end of a 100-epoch budget: it looks
    # flat over the last 10 epochs and enters its band at the same distance from the end,
    # whatever the budget, so it must not count as settled.
    for n in (60, 100):
        climb = np.linspace(0.6, 0.6 + 0.002 * (n - 1), n)
        kw = {"window": 5, "k_last": 10, "eps": 0.01, "max_slope": 0.003}
        entry = band_entry_epoch(climb, **kw)
        assert entry is not None and entry > latest_settling_epoch(n, window=5, k_last=10)
        assert settling_epoch(climb, **kw) is None


def test_is_flat_relative_slope_of_a_loss():
    assert is_flat(np.array([2.0, 2.001, 2.002]), 3, 0.001, relative=True)  # 0.05% per epoch
    assert not is_flat(np.array([2.0, 1.99, 1.98]), 3, 0.001, relative=True)  # 0.5% per epoch
    assert not is_flat(np.array([0.8, np.nan, 0.8]), 3, 0.001, relative=False)


# --------------------------------------------------------------------------- first_reach


def test_first_reach_is_first_epoch_at_or_above_target():
    assert first_reach([0.1, 0.5, 0.4, 0.9], 0.5) == 2
    assert first_reach([0.1, 0.5, 0.4, 0.9], 0.6) == 4


def test_first_reach_never_reached_is_censored():
    assert first_reach([0.1, 0.5, 0.4], 0.95) is None
    assert first_reach([np.nan, np.nan], 0.1) is None
    assert first_reach([0.9], np.nan) is None


def test_first_below_is_first_epoch_at_or_below_a_loss_target():
    assert first_below([1.0, 0.5, 0.7, 0.2], 0.5) == 2
    assert first_below([1.0, 0.9], 0.5) is None
    assert first_below([1.0, np.nan], np.nan) is None


def test_target_suffix():
    assert target_suffix(0.95) == "95"
    assert target_suffix(0.99) == "99"
    assert target_suffix(0.995) == "99p5"
    with pytest.raises(ValueError):
        target_suffix(1.5)


# --------------------------------------------------------------------------- run_metrics

CONDITION = {
    "dataset": "moons",
    "optimizer": "adam",
    "lr_scaling": "constant",
    "base_lr": 0.001,
    "budget": "e10",
}
N_TRAIN = 100
CURVES = {
    # (batch size, seed): (val accuracy per epoch, diverged from epoch)
    (8, 0): ([0.5, 0.6, 0.7, 0.8, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9], None),
    (8, 1): ([0.5, 0.6, 0.7, 0.8, 0.88, 0.88, 0.88, 0.88, 0.88, 0.88], None),
    # Four more epochs than the others: its band entry (epoch 8) must leave more than the
    # plateau window (3) and smoothing (1) before the end of its budget to count as settled.
    (64, 0): ([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8], None),
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
                    "learning_rate": 0.001,
                    "train_loss": np.nan if broken else 1.0 - acc,
                    "train_accuracy": acc + 0.05,
                    "end_train_loss": np.nan if broken else 0.95 - acc,
                    "end_train_accuracy": acc + 0.06,
                    "val_loss": np.inf if broken else 1.1 - acc,
                    "val_accuracy": acc,
                    "test_loss": np.inf if broken else 1.12 - acc,
                    "test_accuracy": acc - 0.01,
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


UNITS = ("epochs", "steps", "examples", "seconds")
EXPECTED_RUN_COLUMNS = [
    "dataset",
    "optimizer",
    "lr_scaling",
    "base_lr",
    "budget",
    "batch_size",
    "seed",
    "n_epochs",
    "diverged",
    "settle_status",
    "settles_after",
    "last_settle_epoch",
    "chance_accuracy",
    "chance_loss",
    "final_train_accuracy",
    "final_end_train_accuracy",
    "final_val_accuracy",
    "final_test_accuracy",
    "final_test_loss",
    "final_train_loss",
    "final_val_loss",
    "best_val_accuracy",
    "best_val_loss",
    "gap_accuracy",
    "gap_loss",
    "plateau_val_accuracy",
    "plateau_val_loss",
    "settling_epoch",
    "loss_exploded",
    "n_train",
    "steps_per_epoch",
    "seconds_per_epoch",
    *[f"{u}_to_settle" for u in UNITS],
    "best_plateau",
    "target_95",
    "loss_target_95",
    "target_99",
    "loss_target_99",
    *[
        name
        for sfx in ("95", "99")
        for name in (
            *[f"{u}_to_target_{sfx}" for u in UNITS],
            *[f"{u}_to_loss_{sfx}" for u in UNITS],
            f"reached_{sfx}",
            f"reached_loss_{sfx}",
        )
    ],
]


def test_run_metrics_columns_and_one_row_per_run(runs):
    assert list(runs.columns) == EXPECTED_RUN_COLUMNS
    assert len(runs) == len(CURVES)


def test_run_metrics_final_best_and_gaps(runs):
    row = runs.loc[(8, 0)]
    assert row["final_val_accuracy"] == pytest.approx(0.9)
    assert row["final_test_accuracy"] == pytest.approx(0.89)
    assert row["final_train_accuracy"] == pytest.approx(0.95)
    assert row["final_end_train_accuracy"] == pytest.approx(0.96)
    # The gap is whole-training-split accuracy (end of epoch) minus test accuracy.
    assert row["gap_accuracy"] == pytest.approx(0.07)
    assert row["final_val_loss"] == pytest.approx(0.2)
    assert row["gap_loss"] == pytest.approx(0.22 - 0.05)
    assert row["best_val_accuracy"] == pytest.approx(0.9)
    assert row["best_val_loss"] == pytest.approx(0.2)
    assert row["n_epochs"] == 10


def test_run_metrics_settling_epoch_and_step(runs):
    assert runs.loc[(8, 0), "settling_epoch"] == 5
    assert runs.loc[(8, 0), "steps_to_settle"] == 5 * 13
    assert runs.loc[(8, 0), "examples_to_settle"] == 5 * N_TRAIN
    assert runs.loc[(64, 0), "settling_epoch"] == 8
    assert runs.loc[(64, 0), "steps_to_settle"] == 8 * 2


@pytest.mark.parametrize(
    ("status", "expected"),
    [("still moving", 10.0), ("loss rising", 10.0), (BUDGET_LIMITED, 6.0), ("settled", np.nan)],
)
def test_settles_after_bounds_each_unsettled_status(status, expected):
    got = settles_after(status, 10, window=1, k_last=3)
    assert got == expected or (np.isnan(got) and np.isnan(expected))
    for failed in ("at chance", "diverged", "too short to settle"):
        assert np.isnan(settles_after(failed, 10, window=1, k_last=3))


def test_run_metrics_late_band_entry_is_budget_limited_not_settled():
    """Cut to 10 epochs, B = 64 seed 0 enters its band at epoch 8, after 10 - 3 - 1 = 6."""
    history = _history()
    cut = history.loc[(history["batch_size"] != 64) | (history["epoch"] <= 10)]
    table = run_metrics(cut, _facts(), window=1, k_last=3, eps=0.01)
    run = table.set_index(["batch_size", "seed"]).loc[(64, 0)]
    assert run["settle_status"] == BUDGET_LIMITED
    assert np.isnan(run["settling_epoch"]) and np.isnan(run["steps_to_settle"])
    assert run["settles_after"] == 6  # entered after the last epoch it could settle at
    assert np.isnan(table.set_index(["batch_size", "seed"]).loc[(8, 0), "settles_after"])
    # every run, settled or not, carries the last epoch its budget lets it settle at
    assert run["last_settle_epoch"] == 6
    last = table.set_index(["batch_size", "seed"])["last_settle_epoch"]
    assert (last.drop(64, level="batch_size") == table["n_epochs"].max() - 4).all()
    summary = summarize(table, SETTINGS).set_index("batch_size")
    assert summary.at[64, "n_budget_limited"] == 1 and summary.at[8, "n_budget_limited"] == 0
    assert summary.at[64, "n_settled"] == 0


def test_run_metrics_target_is_fraction_of_best_condition_plateau(runs):
    # B=8 plateaus average (0.9 + 0.88) / 2 = 0.89 and beat B=64's 0.8 (its diverged seed
    # is ignored), so every run of the condition races to 0.95 * 0.89 and 0.99 * 0.89.
    assert runs["target_95"].to_numpy() == pytest.approx([0.95 * 0.89] * 4)
    assert runs["target_99"].to_numpy() == pytest.approx([0.99 * 0.89] * 4)
    # Loss plateaus: B=8 (0.2 + 0.22) / 2 = 0.21 beats B=64's 0.3; target = 0.21 / fraction.
    assert runs["loss_target_95"].to_numpy() == pytest.approx([0.21 / 0.95] * 4)


def _plateau_table(losses: dict[int, list[float]], accuracies: dict[int, list[float]]):
    """One condition's run table: per batch size, its seeds' plateau loss and accuracy."""
    rows = [
        {"dataset": "blobs", "optimizer": "sgd", "lr_scaling": "constant", "base_lr": 0.3,
         "budget": "e100", "batch_size": b, "seed": i, "diverged": False,
         "plateau_val_accuracy": acc, "plateau_val_loss": loss}
        for b in losses
        for i, (loss, acc) in enumerate(zip(losses[b], accuracies[b], strict=True))
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_one_exploded_run_does_not_move_the_loss_target():
    """B = 8's fifth run exploded to 1e29 without going non-finite (not diverged): a mean
    plateau loss would be 2e28 and the target with it; the median (0.42) keeps B = 8 the best
    batch size by loss (B = 64: 0.5), so the target is 0.42 / 0.95. Accuracy stays a mean:
    (0.8 * 4 + 0.4) / 5 = 0.72 (a median would give 0.8), below B = 64's 0.75."""
    table = _plateau_table(
        {8: [0.40, 0.41, 0.42, 0.43, 1e29], 64: [0.5] * 5},
        {8: [0.8, 0.8, 0.8, 0.8, 0.4], 64: [0.75] * 5},
    )
    means = table.groupby("batch_size")["plateau_val_loss"].mean()
    row = condition_targets(table, [0.95]).iloc[0]
    assert row["loss_target_95"] == pytest.approx(0.42 / 0.95)
    assert means[8] > 1e27 and means.idxmin() == 64  # a mean would have lost B = 8's 0.42
    alone = condition_targets(table.loc[table["batch_size"] == 8], [0.95]).iloc[0]
    assert alone["loss_target_95"] == pytest.approx(0.42 / 0.95)  # a mean: 2e28 / 0.95
    assert row["best_plateau"] == pytest.approx(0.75)  # B = 64's mean; B = 8's mean is 0.72
    assert row["target_95"] == pytest.approx(0.95 * 0.75)


def test_loss_target_ignores_diverged_runs_and_takes_the_lowest_median():
    table = _plateau_table({8: [0.6, 0.7, 0.9], 64: [0.3, 0.5, 2.0]}, {8: [0.8] * 3, 64: [0.7] * 3})
    table.loc[(table["batch_size"] == 8) & (table["seed"] == 2), "diverged"] = True
    table.loc[table["diverged"], ["plateau_val_loss", "plateau_val_accuracy"]] = np.nan
    row = condition_targets(table, [0.99]).iloc[0]
    # B = 8: median of its two non-diverged runs 0.65; B = 64: 0.5 (mean 0.93) -> B = 64's.
    assert row["loss_target_99"] == pytest.approx(0.5 / 0.99)
    assert row["best_plateau"] == pytest.approx(0.8)


def test_run_metrics_steps_to_a_loss_target(runs):
    # B=8 seed 0: val loss 1.1 - acc falls to 0.21 / 0.95 = 0.221 at acc 0.9 (epoch 5).
    assert runs.loc[(8, 0), "epochs_to_loss_95"] == 5
    assert runs.loc[(8, 0), "steps_to_loss_95"] == 5 * 13
    assert not runs.loc[(64, 0), "reached_loss_95"]  # its loss stays at 0.3


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


def test_is_collapsed_is_inclusive_and_needs_both_numbers():
    assert is_collapsed(0.35, 0.34, 0.01)  # exactly chance + margin counts as chance
    assert not is_collapsed(0.36, 0.34, 0.01)
    assert not is_collapsed(0.30, np.nan, 0.01)  # unknown chance: never called collapsed
    assert not is_collapsed(np.nan, 0.34, 0.01)  # diverged run: no plateau


def test_unsettled_status_tells_a_rising_loss_from_a_moving_curve():
    rising = [0.5, 0.5, 0.5, 0.6, 0.7, 0.8]
    assert unsettled_status(rising, window=1, k_last=3, max_slope=0.01) == LOSS_RISING
    falling = rising[::-1]
    assert unsettled_status(falling, window=1, k_last=3, max_slope=0.01) == STILL_MOVING
    # A rise within the slope limit is not "rising": the accuracy was what moved.
    slow = [1.0, 1.0, 1.001, 1.002]
    assert unsettled_status(slow, window=1, k_last=3, max_slope=0.01) == STILL_MOVING


def test_run_metrics_settle_status_without_chance(runs):
    assert runs.loc[(8, 0), "settle_status"] == SETTLED
    assert runs.loc[(64, 1), "settle_status"] == DIVERGED
    assert np.isnan(runs.loc[(8, 0), "chance_accuracy"])
    assert runs.loc[(8, 0), "best_plateau"] == pytest.approx(0.89)


def test_run_metrics_run_at_chance_is_collapsed_not_settled():
    """B = 64 seed 0 plateaus at 0.8, within the margin of a chance level of 0.79: flat as it
    is, it has not settled; the condition's best plateau (0.89) is above chance, so it keeps
    its targets."""
    table = run_metrics(
        _history(),
        _facts(),
        window=1,
        k_last=3,
        eps=0.01,
        chance={"moons": 0.79},
        chance_margin=0.02,
    ).set_index(["batch_size", "seed"], drop=False)
    assert table.loc[(64, 0), "settle_status"] == COLLAPSED
    assert np.isnan(table.loc[(64, 0), "settling_epoch"])
    assert np.isnan(table.loc[(64, 0), "steps_to_settle"])
    assert table.loc[(8, 0), "settle_status"] == SETTLED
    assert table.loc[(8, 0), "chance_accuracy"] == pytest.approx(0.79)
    assert table.loc[(8, 0), "target_95"] == pytest.approx(0.95 * 0.89)
    summary = summarize(table.reset_index(drop=True), IntervalSettings(n_boot=100))
    assert summary.set_index("batch_size")["n_collapsed"].to_dict() == {8: 0, 64: 1}


def test_run_metrics_condition_at_chance_gets_no_targets():
    """A best plateau (0.89) not above chance (0.88) plus the margin: no relative targets,
    so no run reaches one; the best plateau stays in the table to say why."""
    table = run_metrics(
        _history(),
        _facts(),
        window=1,
        k_last=3,
        eps=0.01,
        chance={"moons": 0.88},
        chance_margin=0.02,
    )
    for col in ("target_95", "loss_target_95", "epochs_to_target_95", "steps_to_loss_99"):
        assert table[col].isna().all(), col
    assert not table["reached_95"].any()
    assert table["best_plateau"].iloc[0] == pytest.approx(0.89)
    assert (table.loc[~table["diverged"], "settle_status"] == COLLAPSED).all()


def test_run_metrics_requires_columns():
    with pytest.raises(ValueError, match="val_accuracy"):
        run_metrics(_history().drop(columns="val_accuracy"), _facts(), window=1, k_last=3, eps=0.1)


# --------------------------------------------------------------------------- summarize

SETTINGS = IntervalSettings(n_boot=200)


def test_summarize_counts_and_censoring(runs):
    summary = summarize(runs.reset_index(drop=True), SETTINGS)
    cells = summary.set_index("batch_size")
    assert list(summary[list(CONDITION_KEYS)].iloc[0]) == list(CONDITION.values())
    assert cells.at[8, "n_runs"] == 2 and cells.at[64, "n_runs"] == 2
    assert cells.at[8, "n_diverged"] == 0 and cells.at[64, "n_diverged"] == 1
    assert cells.at[8, "final_val_accuracy_mean"] == pytest.approx(0.89)
    assert cells.at[64, "final_val_accuracy_mean"] == pytest.approx(0.8)  # diverged not averaged
    assert np.isnan(cells.at[64, "final_val_accuracy_lo"])  # one run: no interval
    assert cells.at[8, "n_reached_95"] == 2 and cells.at[8, "n_censored_99"] == 1
    # Censored median: B=8 reached the 99% target in one of two runs -> half censored, so the
    # median is above the budget (+inf), not the one run that reached it.
    assert cells.at[8, "epochs_to_target_99_median"] == np.inf
    assert cells.at[8, "epochs_to_target_95_median"] == 5
    assert cells.at[64, "n_reached_95"] == 0 and cells.at[64, "n_censored_95"] == 2
    assert cells.at[64, "epochs_to_target_95_median"] == np.inf
    assert cells.at[64, "n_settled"] == 1
    assert cells.at[64, "epochs_to_settle_median"] == np.inf  # the diverged run is censored


def test_summarize_means_use_t_intervals(runs):
    summary = summarize(runs.reset_index(drop=True), SETTINGS).set_index("batch_size")
    acc = np.array([0.9, 0.88])
    half = 12.706 * acc.std(ddof=1) / np.sqrt(2)  # t_{0.975, 1}
    assert summary.at[8, "final_val_accuracy_lo"] == pytest.approx(acc.mean() - half, rel=1e-3)
    # 0.89 + 0.127 passes 1, the largest possible accuracy: the upper end is clipped there.
    assert summary.at[8, "final_val_accuracy_hi"] == 1.0
    loss = summary.at[8, "final_test_loss_estimate"]
    assert summary.at[8, "final_test_loss_hi"] == pytest.approx(loss + half, rel=1e-3)


def test_summarize_clips_intervals_of_bounded_metrics_to_their_range(runs):
    # Two seeds far apart: the raw t-interval (t_{0.975, 1} = 12.7) runs far past [0, 1].
    spread = runs.reset_index(drop=True).copy()
    b8 = spread["batch_size"] == 8
    spread.loc[b8, "final_test_accuracy"] = [0.99, 0.6]
    spread.loc[b8, "gap_accuracy"] = [0.9, -0.5]
    spread.loc[b8, "final_test_loss"] = [0.05, 0.9]
    cells = summarize(spread, SETTINGS).set_index("batch_size")
    assert cells.at[8, "final_test_accuracy_mean"] == pytest.approx(0.795)
    assert (cells.at[8, "final_test_accuracy_lo"], cells.at[8, "final_test_accuracy_hi"]) == (
        0.0,
        1.0,
    )
    assert (cells.at[8, "gap_accuracy_lo"], cells.at[8, "gap_accuracy_hi"]) == (-1.0, 1.0)
    assert cells.at[8, "final_test_loss_lo"] == 0.0
    assert cells.at[8, "final_test_loss_hi"] > 0.9  # a loss has no upper bound


def test_settled_below_target_counts_settled_runs_under_the_first_accuracy_target(runs):
    """B = 64 seed 0 settles at a plateau of 0.8, below the first target 0.95 x 0.89 = 0.8455;
    its diverged seed is not settled, and B = 8's plateaus (0.9, 0.88) are above the target."""
    table = runs.reset_index(drop=True)
    below = settled_below_target(table)
    assert below[(table["batch_size"] == 64) & (table["seed"] == 0)].all()
    assert int(below.sum()) == 1
    summary = summarize(table, SETTINGS).set_index("batch_size")
    assert summary.at[64, "n_settled_below_target"] == 1
    assert summary.at[8, "n_settled_below_target"] == 0
    # No target (a condition at chance) or no target columns: nothing is "below" it.
    assert not settled_below_target(table.assign(target_95=np.nan)).any()
    assert not settled_below_target(table.drop(columns=["target_95", "target_99"])).any()


def test_a_budget_shorter_than_the_settling_windows_gives_no_cause():
    """8 epochs with a 10-epoch plateau window and 5-epoch smoothing: no run can settle, and
    'still moving' or 'loss rising' would state a cause the data cannot show."""
    from batchstudy.metrics import TOO_SHORT, latest_settling_epoch

    assert latest_settling_epoch(8, window=5, k_last=10) < 1
    assert latest_settling_epoch(16, window=5, k_last=10) == 1
    history = _history()
    short = history.loc[history["epoch"] <= 4]  # 4 epochs <= k_last + window = 3 + 1
    table = run_metrics(short, _facts(), window=1, k_last=3, eps=0.01)
    fine = table.loc[~table["diverged"]]
    assert (fine["settle_status"] == TOO_SHORT).all() and fine["settling_epoch"].isna().all()


# --------------------------------------------------------------------------- exploded losses


def test_exploded_losses_are_non_finite_or_above_the_factor_times_chance():
    chance = np.log(3)
    limit = EXPLODED_LOSS_FACTOR * chance
    loss = [0.4, limit, limit * 1.001, 4.3e28, np.nan, np.inf]
    np.testing.assert_array_equal(
        exploded_losses(loss, [chance] * 6), [False, False, True, True, True, True]
    )
    # Without a chance level only a non-finite loss counts.
    np.testing.assert_array_equal(
        exploded_losses(loss, [np.nan] * 6), [False, False, False, False, True, True]
    )


def test_loss_summary_is_a_mean_while_no_run_exploded():
    loss = np.array([0.5, 0.7, 0.6, 0.8])
    e = loss_summary(loss, np.zeros(4, bool), SETTINGS)
    assert e.method == METHOD_T and e.estimate == pytest.approx(0.65) and e.n == 4


def test_loss_summary_is_a_censored_median_once_a_run_exploded():
    """One run at 4e28 would make the mean 1e28 with a t-interval down to 0; the median of the
    ten runs, the exploded one counted above every other value, is the ordinary median."""
    loss = np.array([0.5, 0.7, 0.6, 0.8, 0.55, 0.65, 0.75, 0.9, 1.0, 4e28])
    exploded = exploded_losses(loss, np.full(10, np.log(3)))
    e = loss_summary(loss, exploded, SETTINGS)
    assert e.method == METHOD_MEDIAN and e.n == 10 and e.n_censored == 1
    assert e.estimate == pytest.approx(np.median(loss))
    assert 0.5 <= e.lo <= e.estimate <= e.hi <= 1.0  # the exploded value is no end of it
    # A diverged run (NaN loss) counts the same way.
    nan = np.where(exploded, np.nan, loss)
    assert loss_summary(nan, exploded, SETTINGS) == e


def test_loss_summary_is_above_the_level_when_half_or_more_exploded():
    loss = np.array([0.5, 0.7, 50.0, np.nan])
    e = loss_summary(loss, exploded_losses(loss, np.full(4, np.log(3))), SETTINGS)
    assert e.estimate == np.inf and e.n_censored == 2


def test_summarize_gives_the_median_loss_where_a_run_exploded(runs):
    """B = 64 has a diverged run: its loss is a censored median with the run counted exploded;
    B = 8 (no run exploded) keeps the mean with a t-interval."""
    cells = summarize(runs.reset_index(drop=True), SETTINGS).set_index("batch_size")
    assert cells.at[64, "n_loss_exploded"] == 1 and cells.at[8, "n_loss_exploded"] == 0
    assert cells.at[64, "final_test_loss_method"] == METHOD_MEDIAN
    assert cells.at[64, "final_test_loss_estimate"] == np.inf  # 1 of 2 runs exploded
    assert cells.at[8, "final_test_loss_method"] == METHOD_T
    blown = runs.reset_index(drop=True).copy()
    b8 = blown["batch_size"] == 8
    blown.loc[b8, "final_test_loss"] = [0.2, 3e28]
    blown["loss_exploded"] = exploded_losses(blown["final_test_loss"], np.log(3))
    cells = summarize(blown, SETTINGS).set_index("batch_size")
    assert cells.at[8, "final_test_loss_method"] == METHOD_MEDIAN
    assert cells.at[8, "n_loss_exploded"] == 1 and cells.at[8, "final_test_loss_estimate"] == np.inf
