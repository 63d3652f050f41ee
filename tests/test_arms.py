"""The largest batch size side by side across learning-rate arms and budgets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batchstudy import arms
from batchstudy import formatting as fmt
from batchstudy.claims import CLAIM_LOWER_ACCURACY, NOT_SUPPORTED
from batchstudy.stats import (
    DIFFERENT,
    EQUIVALENT,
    INCONCLUSIVE,
    Effect,
    IntervalSettings,
    paired_mean_difference,
)


def _condition(arm: str, budget: str, effect: Effect | None, *, optimizer="adam", sizes=(4, 512)):
    effects = {} if effect is None else {"test_accuracy": effect.to_dict()}
    verdict = NOT_SUPPORTED if effect is None else ""
    return {
        "keys": {
            "dataset": "blobs",
            "optimizer": optimizer,
            "lr_scaling": arm,
            "base_lr": 0.001,
            "budget": budget,
        },
        "batch_sizes": list(sizes),
        "claims": [{"claim": CLAIM_LOWER_ACCURACY, "effects": effects, "verdict": verdict}],
    }


def _e(est: float, lo: float, hi: float, verdict: str) -> Effect:
    return Effect(est, lo, hi, 10, "paired t-interval over seeds", 0.99, verdict)


def test_arms_that_disagree_are_set_side_by_side_with_what_that_shows():
    conditions = [
        _condition("constant", "e100", _e(-0.185, -0.276, -0.094, DIFFERENT)),
        _condition("linear", "e100", _e(-0.002, -0.008, 0.004, EQUIVALENT)),
        _condition("constant", "s1000", None),  # B = 512 is the best itself
        _condition("sqrt", "e100", _e(-0.012, -0.018, -0.005, INCONCLUSIVE)),
    ]
    ((first, text),) = arms.arm_findings(conditions)
    assert text.startswith("blobs · adam · base lr 0.001: B = 512 minus each condition's own")
    assert "lr constant · 100 epochs: −0.185 [−0.276, −0.094]" in text
    assert "(practically lower)" in text and "(equivalent)" in text and "(inconclusive)" in text
    assert "lr constant · 1000 steps: the largest batch size is the best itself" in text
    assert (
        "shown in 1 of the 4 arm · budget conditions (lr constant · 100 epochs) and absent in 2"
        in (text)
    )
    assert "or the best itself: lr linear · 100 epochs; lr constant · 1000 steps):" in text
    assert "sqrt · 100 epochs and" not in text  # inconclusive is neither shown nor absent
    assert first == 0
    assert text.endswith(arms.SCALED_WARMUP)  # scaled arms beside the constant one
    budgets = [
        _condition("constant", b, _e(-0.1, -0.2, -0.05, DIFFERENT)) for b in ("e100", "s1000")
    ]
    ((_, text),) = arms.arm_findings(budgets)
    assert arms.SCALED_WARMUP not in text


def test_no_conclusion_where_the_arms_agree_or_nothing_varies():
    agree = [
        _condition("constant", "e100", _e(-0.1, -0.2, -0.05, DIFFERENT)),
        _condition("linear", "e100", _e(-0.1, -0.2, -0.05, DIFFERENT)),
    ]
    ((_, text),) = arms.arm_findings(agree)
    assert "depends on the learning-rate arm" not in text
    single = [_condition("constant", "e100", _e(-0.1, -0.2, -0.05, DIFFERENT))]
    assert arms.arm_findings(single) == []
    other_optimizers = [*single, _condition("constant", "e100", None, optimizer="sgd")]
    assert arms.arm_findings(other_optimizers) == []


def test_groups_whose_largest_batch_sizes_differ_are_not_compared():
    conditions = [
        _condition("constant", "e100", _e(-0.1, -0.2, -0.05, DIFFERENT)),
        _condition("linear", "e100", _e(0.0, -0.005, 0.005, EQUIVALENT), sizes=(4, 256)),
    ]
    assert arms.groups(conditions) == []


def _with_seeds(found: dict, values: dict[int, float | None]) -> dict:
    return found | {"accuracy": {arms.BY_SEED: {str(s): v for s, v in values.items()}}}


def test_the_change_between_arms_is_a_paired_t_interval_over_shared_seeds():
    """Per seed, (largest − best) in an arm minus the reference arm's; a shared seed shift
    (seed 2 lower in both arms) cancels in the pairs, so the paired interval is far narrower
    than the two arms' own spreads; a diverged seed in one arm drops from that pair only."""
    ref = {0: -0.20, 1: -0.18, 2: -0.30, 3: -0.19, 4: -0.21}
    other = {s: v + 0.18 + 0.002 * s for s, v in ref.items()}
    third = dict(other) | {4: None}
    conditions = [
        _with_seeds(_condition("constant", "e100", _e(-0.2, -0.3, -0.1, DIFFERENT)), ref),
        _with_seeds(_condition("linear", "e100", _e(-0.01, -0.02, 0.0, INCONCLUSIVE)), other),
        _with_seeds(_condition("sqrt", "e100", _e(-0.01, -0.02, 0.0, INCONCLUSIVE)), third),
    ]
    settings = IntervalSettings()
    (linear, e), (_, e3) = arms.arm_changes(conditions, [0, 1, 2], settings)
    diffs = np.array([other[s] - ref[s] for s in ref])
    expected = paired_mean_difference(pd.Series(other), pd.Series(ref), settings.family(2))
    assert linear == "lr linear · 100 epochs"
    assert e.estimate == pytest.approx(diffs.mean()) and e.n == 5 and e.level == 0.975
    assert (e.lo, e.hi) == pytest.approx((expected.lo, expected.hi))
    assert e.hi - e.lo < 0.02  # the seeds' shared shift of 0.1 cancels
    assert e3.n == 4
    ((_, text),) = arms.arm_findings(conditions, settings)
    assert "Change in that difference from lr constant · 100 epochs, paired by seed" in text
    assert "family: the 2 changes, Bonferroni-simultaneous intervals" in text
    assert f"lr linear · 100 epochs: {fmt.effect(e, 'difference')}" in text


def test_arms_with_different_seeds_are_not_paired():
    conditions = [
        _with_seeds(_condition("constant", "e100", _e(-0.2, -0.3, -0.1, DIFFERENT)), {0: -0.2}),
        _with_seeds(_condition("linear", "e100", _e(0.0, -0.01, 0.01, EQUIVALENT)), {1: 0.0}),
    ]
    assert arms.arm_changes(conditions, [0, 1], IntervalSettings()) is None
    ((_, text),) = arms.arm_findings(conditions)
    assert "ran different seeds, so the change between them has no paired interval" in text
    assert "Change in that difference" not in text


def test_largest_minus_best_by_seed_pairs_the_two_batch_sizes_runs_by_seed():
    runs = pd.DataFrame(
        {
            "seed": [0, 0, 0, 1, 1, 1],
            "batch_size": [4, 64, 512, 4, 64, 512],
            "final_test_accuracy": [0.8, 0.9, 0.7, 0.82, np.nan, 0.75],
        }
    )
    assert arms.largest_minus_best_by_seed(runs, 64) == {"0": pytest.approx(-0.2), "1": None}
    assert arms.largest_minus_best_by_seed(runs, 512) == {"0": 0.0, "1": 0.0}
    assert arms.largest_minus_best_by_seed(runs, None) == {}


def test_an_arm_whose_best_is_the_largest_has_no_change_and_the_others_a_margin_verdict():
    """An arm whose best batch size is the largest has a per-seed difference of 0 by
    construction: it reads "B = 512 is the best itself (…; no change computed)", is left out of the
    family, and every other change carries its verdict against the accuracy margin and says
    it is not adjusted for each arm's choice of best."""
    ref = {0: -0.20, 1: -0.18, 2: -0.30, 3: -0.19, 4: -0.21}
    best = {s: 0.0 for s in ref}
    near = {0: -0.199, 1: -0.181, 2: -0.298, 3: -0.19, 4: -0.212}
    conditions = [
        _with_seeds(_condition("constant", "e100", _e(-0.2, -0.3, -0.1, DIFFERENT)), ref),
        _with_seeds(_condition("linear", "e100", None), best),
        _with_seeds(_condition("sqrt", "e100", _e(-0.2, -0.3, -0.1, DIFFERENT)), near),
    ]
    settings = IntervalSettings()
    (_, none), (_, e) = arms.arm_changes(conditions, [0, 1, 2], settings)
    assert none is None and e.level == 0.95  # a family of one estimable change
    assert e.verdict == EQUIVALENT and e.boundaries == (-0.01, 0.0, 0.01)
    ((_, text),) = arms.arm_findings(conditions, settings)
    assert (
        "lr linear · 100 epochs: B = 512 is the best itself (its difference is 0 by how the best "
        "is chosen; no change computed)" in text
    )
    assert f"lr sqrt · 100 epochs: {fmt.effect(e, 'difference')} (equivalent)" in text
    assert "not adjusted for that choice" in text and "family:" not in text
    swapped = [conditions[1], conditions[0]]
    ((_, text),) = arms.arm_findings(swapped, settings)
    assert "B = 512 is the best itself: no change from it is estimable" in text
