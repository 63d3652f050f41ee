"""Coverage of the study's intervals at the seed counts it ships, and the verdict rule."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from batchstudy.stats import (
    DIFFERENT,
    EQUIVALENT,
    INCONCLUSIVE,
    Effect,
    IntervalSettings,
    censored_median,
    censored_median_columns,
    censored_median_rows,
    censored_median_value,
    censored_medians,
    judge,
    paired_mean_difference,
    paired_ratio,
    t_interval,
    value_range,
)

SETTINGS = IntervalSettings(n_boot=200)
REPS = 4000


def _coverage(draw, truth: float, interval, n: int) -> float:
    rng = np.random.default_rng(n)
    hits = 0
    for _ in range(REPS):
        a, b = draw(rng, n)
        e = interval(a, b, SETTINGS)
        hits += e.lo <= truth <= e.hi
    return hits / REPS


def _normal(rng, n):
    seed_effect = rng.normal(0.8, 0.05, n)  # shared by both arms (paired design)
    return seed_effect + 0.01 + rng.normal(0, 0.01, n), seed_effect + rng.normal(0, 0.01, n)


def _skewed_difference(rng, n):
    # Per-seed differences from a shifted gamma(8): skewness 0.71, true mean 0.02. (At
    # skewness 1.4, gamma(2), the t-interval covers about 0.91 at n = 5: the README says so.)
    base = rng.normal(0.8, 0.05, n)
    return base + 0.02 + 0.01 * (rng.gamma(8, 1, n) - 8), base


def _lognormal_arms(rng, n):
    # Skewed arms (log-normal, sigma 0.5) with a shared per-seed factor; mean difference 0.
    shared = rng.lognormal(0, 0.3, n)
    return shared * rng.lognormal(0, 0.5, n), shared * rng.lognormal(0, 0.5, n)


def _lognormal_ratio(rng, n):
    # Right-skewed times: a per-seed factor shared by both arms, a true ratio of 0.5.
    base = rng.lognormal(5, 0.5, n)
    return 0.5 * base * rng.lognormal(0, 0.3, n), base * rng.lognormal(0, 0.3, n)


@pytest.mark.parametrize("n", [5, 10])
@pytest.mark.parametrize(
    ("draw", "truth", "interval"),
    [
        (_normal, 0.01, paired_mean_difference),
        (_skewed_difference, 0.02, paired_mean_difference),
        (_lognormal_arms, 0.0, paired_mean_difference),
        (_lognormal_ratio, 0.5, paired_ratio),
    ],
    ids=["normal-difference", "skewed-difference", "lognormal-arms-difference", "lognormal-ratio"],
)
def test_nominal_95_intervals_cover_93_to_97_percent(draw, truth, interval, n):
    assert 0.93 <= _coverage(draw, truth, interval, n) <= 0.97


def test_percentile_bootstrap_would_undercover_at_five_seeds():
    """The reason for the t-interval: the bootstrap of a mean covers far less at n = 5."""
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(2000):
        x = rng.normal(0, 1, 5)
        boot = x[rng.integers(0, 5, size=(400, 5))].mean(axis=1)
        lo, hi = np.quantile(boot, [0.025, 0.975])
        hits += lo <= 0 <= hi
    assert hits / 2000 < 0.9


def test_censored_median_counts_never_reached_runs_as_above_the_budget():
    # Reached-only median would be 15; with the two censored runs above every value it is 25.
    assert censored_median_value(np.array([10, 10, 20, 30, np.nan, np.nan])) == 25
    assert censored_median_value(np.array([10, 20, 30, np.nan, np.nan, np.nan])) == np.inf
    assert censored_median_value(np.array([10, 10, 20, 30, 40, np.nan, np.nan])) == 30
    assert censored_median_value(np.array([10, 20, np.nan])) == 20
    e = censored_median([10, 20, 30, np.nan, np.nan], SETTINGS)
    assert e.estimate == 30 and e.n == 5 and e.n_censored == 2
    assert e.hi == np.inf and e.lo >= 10


def test_verdict_rule_with_margin_and_minimum_n():
    s = SETTINGS
    assert judge(Effect(0.0, -0.005, 0.005, 10, "m"), 0.01, s).verdict == EQUIVALENT
    assert judge(Effect(-0.1, -0.15, -0.05, 10, "m"), 0.01, s).verdict == DIFFERENT
    # Detectably non-zero but not beyond the margin: neither equivalent nor different.
    assert judge(Effect(-0.01, -0.02, -0.001, 10, "m"), 0.01, s).verdict == INCONCLUSIVE
    assert judge(Effect(-0.1, -0.15, -0.05, 2, "m"), 0.01, s).verdict == INCONCLUSIVE
    assert judge(Effect(0.5, 0.45, 0.55, 10, "m"), 0.1, s, null=0.5).verdict == EQUIVALENT


def test_family_widens_each_interval():
    a = np.array([0.1, 0.2, 0.15, 0.3, 0.25])
    b = np.zeros(5)
    one = paired_mean_difference(a, b, SETTINGS)
    seven = paired_mean_difference(a, b, SETTINGS.family(7))
    assert seven.lo < one.lo and seven.hi > one.hi
    assert seven.level == pytest.approx(1 - 0.05 / 7)


def test_bounded_intervals_are_clipped_to_the_range():
    acc = np.array([0.99, 0.97, 0.7])  # three seeds, one far off: the raw interval passes 1
    raw = t_interval(acc, SETTINGS)
    assert raw.hi > 1
    clipped = t_interval(acc, SETTINGS, bounds=value_range("final_test_accuracy"))
    assert (clipped.estimate, clipped.lo) == (raw.estimate, raw.lo)
    assert clipped.hi == 1.0
    # A difference of two accuracies lies in [-1, 1], whatever the raw t-interval says.
    diff = paired_mean_difference([0.9, 0.1], [0.1, 0.8], SETTINGS, value_range("test_accuracy"))
    assert (diff.lo, diff.hi) == (-1.0, 1.0)
    assert paired_mean_difference([0.9, 0.1], [0.1, 0.8], SETTINGS).lo < -1


def test_value_range_from_the_column_name():
    assert value_range("final_end_train_accuracy") == (0.0, 1.0)
    assert value_range("gap_accuracy") == (-1.0, 1.0)
    assert value_range("final_test_loss") == (0.0, np.inf)
    assert value_range("seconds_per_epoch") == (-np.inf, np.inf)


def test_censored_medians_along_an_axis_are_nanmedian_bit_for_bit():
    rng = np.random.default_rng(3)
    for shape, axis in [((10, 8), 0), ((200, 10, 8), 1), ((7, 6, 5), 2), ((9,), 0)]:
        x = rng.lognormal(5, 1, size=shape)
        x[rng.random(shape) < 0.3] = np.inf  # censored
        x[rng.random(shape) < 0.2] = np.nan  # absent
        x[(0,) * len(shape)] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices
            expected = np.nanmedian(x, axis=axis)
        got = censored_medians(x, axis=axis)
        assert got.shape == expected.shape
        assert np.array_equal(got, expected, equal_nan=True)
    assert np.isnan(censored_medians(np.ones((3, 0)), axis=1)).tolist() == [True] * 3


def _censored_median_by_definition(x: np.ndarray) -> float:
    """+inf when half or more are censored (NaN), else np.median with censored ones as +inf."""
    x = np.where(np.isnan(x), np.inf, x)
    return np.inf if 2 * np.isinf(x).sum() >= x.size else float(np.median(x))


def test_censored_median_rows_follow_the_censoring_convention_row_by_row():
    rng = np.random.default_rng(4)
    for n in (1, 2, 5, 6, 10):
        x = rng.lognormal(3, 1, size=(300, n)).round(1)
        x[rng.random(x.shape) < 0.35] = np.nan
        assert censored_median_rows(x).tolist() == [_censored_median_by_definition(r) for r in x]
    assert np.isnan(censored_median_value(np.array([])))


def test_censored_median_columns_bootstrap_each_column_over_the_same_seed_resamples():
    rng = np.random.default_rng(8)
    x = rng.integers(10, 60, size=(7, 3)).astype(float)
    x[[0, 3], 1] = np.nan
    x[:4, 2] = np.nan  # mostly censored: median above the budget
    settings = IntervalSettings(n_boot=300, seed=2)
    draws = np.random.default_rng(2).integers(0, 7, size=(300, 7))
    for col, e in zip(x.T, censored_median_columns(x, settings), strict=True):
        meds = [_censored_median_by_definition(col[r]) for r in draws]
        lo, hi = np.quantile(meds, [0.025, 0.975], method="inverted_cdf")
        assert (e.estimate, e.lo, e.hi) == (_censored_median_by_definition(col), lo, hi)
        assert e.n == 7 and e.n_censored == int(np.isnan(col).sum())
    assert censored_median_columns(x, settings)[2].estimate == np.inf
