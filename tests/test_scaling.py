"""Critical-batch-size fit on synthetic data from a known S_min and E_min."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batchstudy.scaling import (
    NEAR_CHANCE_SHARE,
    NO_FURTHER_GAIN_ABOVE,
    PERFECT_SCALING_BELOW,
    POOR_FIT_RMSE,
    STANDING_AT_CHANCE,
    STANDING_CLEAR,
    STANDING_NEAR_CHANCE,
    below_tested_range,
    bootstrap_critical_batch,
    bound_reason,
    chance_headroom,
    critical_batch_finding,
    failure_cause,
    fit_critical_batch,
    perfect_scaling_line,
    predicted_steps,
    resampled_b_crits,
    scaling_regime,
    target_standing,
)
from batchstudy.stats import IntervalSettings, censored_median_value

S_MIN, E_MIN = 100.0, 6400.0  # B_crit = 64
SIZES = np.array([4, 8, 16, 32, 64, 128, 256, 512], dtype=float)


def _per_seed_table(n_seeds: int = 10, noise: float = 0.05, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        [
            {
                "seed": s,
                "batch_size": b,
                "steps": (S_MIN + E_MIN / b) * np.exp(rng.normal(0, noise)),
            }
            for s in range(n_seeds)
            for b in SIZES
        ]
    )


def test_rearranged_form_lies_on_the_mccandlish_hyperbola():
    steps = predicted_steps(SIZES, S_MIN, E_MIN)
    examples = SIZES * steps
    np.testing.assert_allclose((steps / S_MIN - 1) * (examples / E_MIN - 1), 1.0)


def test_fit_recovers_exact_parameters():
    fit = fit_critical_batch(SIZES, predicted_steps(SIZES, S_MIN, E_MIN))
    assert fit["ok"] and fit["reason"] == "" and fit["in_range"]
    assert fit["s_min"] == pytest.approx(S_MIN, rel=1e-9)
    assert fit["e_min"] == pytest.approx(E_MIN, rel=1e-9)
    assert fit["b_crit"] == pytest.approx(64.0, rel=1e-9)
    assert fit["rel_rmse"] < 1e-12


def test_fit_recovers_b_crit_from_noisy_per_seed_points():
    table = _per_seed_table(noise=0.05)
    fit = fit_critical_batch(table["batch_size"], table["steps"])
    assert fit["ok"]
    assert fit["b_crit"] == pytest.approx(64.0, rel=0.05)
    assert 0.02 < fit["rel_rmse"] < 0.08  # about the injected 5% noise


def test_fit_ignores_censored_points():
    steps = predicted_steps(SIZES, S_MIN, E_MIN)
    steps[-1] = np.nan
    steps[0] = np.inf
    fit = fit_critical_batch(SIZES, steps)
    assert fit["ok"] and fit["n_points"] == len(SIZES) - 2
    assert fit["b_crit"] == pytest.approx(64.0, rel=1e-9)


def test_fit_needs_three_batch_sizes():
    fit = fit_critical_batch([8, 8, 64], [900.0, 910.0, 200.0])
    assert not fit["ok"] and "3 batch sizes" in fit["reason"]
    assert np.isnan(fit["b_crit"]) and failure_cause(fit) == "few"


def test_fit_perfect_scaling_everywhere_is_flagged():
    fit = fit_critical_batch(SIZES, 6400.0 / SIZES)
    assert not fit["ok"] and fit["b_crit"] == np.inf
    assert fit["reason"].endswith(
        "falls like 1/B throughout (perfect scaling), so the model "
        f"puts B_crit above B = {SIZES.max():g}"
    )
    assert fit["rel_rmse"] == pytest.approx(0.0, abs=1e-9)
    assert failure_cause(fit) == "s_min"


def test_fit_flat_steps_are_flagged():
    fit = fit_critical_batch(SIZES, np.full(SIZES.size, 300.0))
    assert not fit["ok"] and fit["b_crit"] == 0.0
    assert fit["reason"].endswith(f"is flat, so the model puts B_crit below B = {SIZES.min():g}")
    assert failure_cause(fit) == "e_min"


def test_fit_at_zero_bound_on_steps_of_another_form_gives_its_misfit():
    """Steps that fall 5x from B = 16 to 64 and then rise (the lr-tuning study's blobs · sgd ·
    lr 0.1 case): the best fit is flat, not because the steps do not fall but because they do
    not follow S_min + E_min/B; the reason says so with the relative RMSE."""
    b = np.array([16, 32, 64, 128, 256, 512])
    fit = fit_critical_batch(b, [200, 39, 31.5, 54, 75, 75.5])
    assert not fit["ok"] and fit["b_crit"] == 0.0 and failure_cause(fit) == "e_min"
    flat = fit["s_min"]
    rmse = float(np.sqrt(np.mean((1 - flat / np.array([200, 39, 31.5, 54, 75, 75.5])) ** 2)))
    assert fit["rel_rmse"] == pytest.approx(rmse) and fit["rel_rmse"] > POOR_FIT_RMSE
    assert "steps do not fall" not in fit["reason"]
    assert fit["reason"] == (
        "E_min fitted at 0: the best fit of S = S_min + E_min/B to the steps over B = 16–512 is "
        "flat, so the model puts B_crit below B = 16; the steps do not follow that form: "
        f"relative RMSE {fit['rel_rmse']:.1%}"
    )


def test_bound_reason_gives_the_misfit_only_above_the_poor_fit_rmse():
    assert "relative RMSE" not in bound_reason("e_min", 4, 64, POOR_FIT_RMSE)
    assert bound_reason("s_min", 4, 64, 0.25).endswith(
        "puts B_crit above B = 64; the steps do not follow that form: relative RMSE 25.0%"
    )


def test_bootstrap_ci_covers_truth_and_is_deterministic():
    table = _per_seed_table(noise=0.05, seed=3)
    res = bootstrap_critical_batch(table, n_boot=300, seed=0)
    assert res["ok"] and res["n_seeds"] == 10 and res["n_boot_ok"] == 300
    assert res["lo"] < 64.0 < res["hi"]
    assert res["b_crit"] == pytest.approx(64.0, rel=0.05)
    assert res["hi"] / res["lo"] < 1.3  # ten seeds at 5% noise pin B_crit down well
    assert bootstrap_critical_batch(table, n_boot=300, seed=0) == res


def test_bootstrap_counts_censored_runs_as_slowest():
    table = _per_seed_table(noise=0.0)
    table["steps_to_target"] = table.pop("steps")
    # B=512 reaches the target in only 3 of 10 seeds: its median is censored, so it drops out
    # instead of entering the fit with the fast-looking median of the 3 lucky seeds.
    lucky = (table["batch_size"] == 512) & (table["seed"] >= 3)
    table.loc[lucky, "steps_to_target"] = np.nan
    res = bootstrap_critical_batch(table, n_boot=50, seed=0, steps_col="steps_to_target")
    assert res["n_points"] == len(SIZES) - 1
    assert res["b_crit"] == pytest.approx(64.0, rel=1e-6)


def test_resampled_b_crits_are_the_ok_fits_b_crit_row_by_row():
    rng = np.random.default_rng(5)
    rows = (S_MIN + E_MIN / SIZES) * np.exp(rng.normal(0, 0.3, size=(60, SIZES.size)))
    rows[rng.random(rows.shape) < 0.4] = np.inf  # censored medians drop out of a fit
    rows[:5] = rows[5]  # repeated resamples
    rows[6] = 1000.0  # flat: E_min at 0, not ok
    rows[7] = E_MIN / SIZES  # perfect scaling: S_min at 0, not ok
    expected = []
    for row in rows:
        fit = fit_critical_batch(SIZES, row)
        expected.append(fit["b_crit"] if fit["ok"] else np.nan)
    got = resampled_b_crits(SIZES, rows)
    assert np.array_equal(got, expected, equal_nan=True)
    assert np.isnan(got[[6, 7]]).all() and np.isfinite(got).sum() > 20
    with pytest.raises(ValueError, match="distinct"):
        resampled_b_crits(np.array([4.0, 4.0, 8.0]), rows[:, :3])


def test_bootstrap_draws_are_successive_seed_resamples():
    # One (n_boot, n_seeds) draw is the stream of n_boot successive draws of n_seeds seeds.
    table = _per_seed_table(noise=0.1, seed=4)
    res = bootstrap_critical_batch(table, n_boot=40, seed=7)
    rng, draws = np.random.default_rng(7), []
    for _ in range(40):
        seeds = rng.integers(0, 10, size=10)
        steps = [np.median(table.query("batch_size == @b").steps.to_numpy()[seeds]) for b in SIZES]
        draws.append(fit_critical_batch(SIZES, steps)["b_crit"])
    assert [res["lo"], res["hi"]] == np.quantile(draws, [0.025, 0.975]).tolist()


def test_bootstrap_requires_columns():
    with pytest.raises(ValueError, match="steps"):
        bootstrap_critical_batch(pd.DataFrame({"seed": [0], "batch_size": [8]}), n_boot=5)


def test_regime_thresholds_follow_the_model():
    b_crit = 64.0
    low, high = PERFECT_SCALING_BELOW * b_crit, NO_FURTHER_GAIN_ABOVE * b_crit
    # At the lower threshold the examples are 25% above E_min and doubling B saves 5/3x steps;
    # at the upper one the steps are 25% above S_min.
    assert low * predicted_steps([low], S_MIN, E_MIN)[0] / E_MIN == pytest.approx(1.25)
    ratio = predicted_steps([low], S_MIN, E_MIN)[0] / predicted_steps([2 * low], S_MIN, E_MIN)[0]
    assert ratio == pytest.approx(5 / 3)
    assert predicted_steps([high], S_MIN, E_MIN)[0] / S_MIN == pytest.approx(1.25)


@pytest.mark.parametrize(
    ("batch", "regime"),
    [
        (8, "perfect scaling"),
        (15.9, "perfect scaling"),
        (16, "diminishing returns"),  # boundary counts as diminishing returns
        (64, "diminishing returns"),
        (256, "diminishing returns"),
        (257, "no further gain"),
        (512, "no further gain"),
    ],
)
def test_scaling_regime(batch, regime):
    assert scaling_regime(batch, 64.0) == regime


def test_scaling_regime_unusable_b_crit():
    assert scaling_regime(8, float("nan")) == "unknown"
    assert scaling_regime(8, float("inf")) == "perfect scaling"
    assert scaling_regime(8, 0.0) == "no further gain"


def test_perfect_scaling_line_anchored_at_smallest_batch():
    line = perfect_scaling_line([32, 8, 16, 8], [400.0, 1000.0, 600.0, 1200.0])
    # Anchor: median of the two B=8 entries, 1100 steps; doubling B halves the steps.
    np.testing.assert_allclose(line, [275.0, 1100.0, 550.0, 1100.0])
    assert perfect_scaling_line([], []).size == 0


def test_critical_batch_finding_names_fitted_range_not_reached_and_extrapolation():
    table = _per_seed_table(noise=0.3, n_seeds=5, seed=1)
    table["steps_to_target_95"] = table.pop("steps")
    table.loc[(table["batch_size"] == 512) & (table["seed"] >= 1), "steps_to_target_95"] = np.nan
    fit = critical_batch_finding(table, "steps_to_target_95", IntervalSettings(n_boot=300))
    assert fit["ok"]
    assert fit["not_reached"] == [512]
    assert fit["fitted_sizes"] == [4, 8, 16, 32, 64, 128, 256]
    assert "512" not in fit["regimes"]  # a batch size that never got there has no regime
    assert fit["extrapolated_low"] == (fit["lo"] < 4)
    assert 0 <= fit["rel_rmse"] < 0.5


def test_point_fit_is_the_fit_of_the_summary_medians():
    """The figure fits the summary's censored medians; the text's B_crit must be the same."""
    table = _per_seed_table(noise=0.2, n_seeds=6, seed=2)
    table.loc[(table["batch_size"] == 256) & (table["seed"] < 2), "steps"] = np.nan
    fit = critical_batch_finding(table, "steps", IntervalSettings(n_boot=50))
    medians = [
        censored_median_value(table.loc[table["batch_size"] == b, "steps"].to_numpy())
        for b in SIZES
    ]
    assert fit["b_crit"] == pytest.approx(fit_critical_batch(SIZES, medians)["b_crit"])


@pytest.mark.parametrize(
    ("kind", "target", "chance", "share", "standing"),
    [
        ("loss", 35.7, np.log(3), (np.log(3) - 35.7) / np.log(3), STANDING_AT_CHANCE),
        ("loss", np.log(3), np.log(3), 0.0, STANDING_AT_CHANCE),
        ("loss", 0.5, np.log(3), 1 - 0.5 / np.log(3), STANDING_CLEAR),
        ("loss", 0.95, np.log(3), 1 - 0.95 / np.log(3), STANDING_NEAR_CHANCE),
        ("accuracy", 0.38, 0.38, 0.0, STANDING_AT_CHANCE),
        ("accuracy", 0.504, 0.38, 0.2, STANDING_NEAR_CHANCE),
        ("accuracy", 0.8, 0.38, 0.42 / 0.62, STANDING_CLEAR),
        ("accuracy", 0.8, np.nan, np.nan, STANDING_CLEAR),
    ],
)
def test_a_targets_standing_against_chance(kind, target, chance, share, standing):
    got = chance_headroom(kind, target, chance)
    assert got == pytest.approx(share, nan_ok=True)
    assert target_standing(kind, target, chance) == standing


def test_the_near_chance_boundary_is_the_share_of_the_way_to_a_perfect_score():
    edge = 0.38 + NEAR_CHANCE_SHARE * 0.62
    assert target_standing("accuracy", edge + 1e-9, 0.38) == STANDING_CLEAR
    assert target_standing("accuracy", edge - 1e-9, 0.38) == STANDING_NEAR_CHANCE
    with pytest.raises(ValueError, match="unknown target kind"):
        chance_headroom("speed", 1.0, 0.5)


def test_a_b_crit_the_steps_do_not_place_is_below_the_tested_range():
    """Steps that barely fall over B = 4–512 (B_crit 0.06 fitted) put every fitted batch size
    in the no-further-gain regime: below the tested range, no estimate; the boundary B =
    4 B_crit is diminishing returns, so not below."""
    flat = pd.DataFrame(
        [
            {"seed": s, "batch_size": b, "steps": 1400.0 * (1 + 0.06 / b) * (1 + 0.001 * s)}
            for s in range(4)
            for b in SIZES
        ]
    )
    fit = critical_batch_finding(flat, "steps", IntervalSettings(n_boot=50))
    assert fit["ok"] and fit["b_crit"] < 1 and fit["below_range"]
    assert not critical_batch_finding(_per_seed_table(), "steps", IntervalSettings(n_boot=50))[
        "below_range"
    ]
    assert below_tested_range(0.99, 4.0) and not below_tested_range(1.0, 4.0)
    assert not below_tested_range(float("nan"), 4.0)
