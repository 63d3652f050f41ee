"""The largest batch size side by side across learning-rate arms and budgets."""

from __future__ import annotations

from batchstudy import arms
from batchstudy.claims import CLAIM_LOWER_ACCURACY, NOT_SUPPORTED
from batchstudy.stats import DIFFERENT, EQUIVALENT, INCONCLUSIVE, Effect


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
