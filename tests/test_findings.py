"""The findings' sentences across and within conditions, from hand-made findings dicts."""

from __future__ import annotations

from batchstudy import claims, findings
from batchstudy.stats import DIFFERENT, EQUIVALENT, INCONCLUSIVE, METHOD_PAIRED_T, Effect


def _condition(gap: Effect, i: int = 0) -> dict:
    """A condition whose largest batch size is practically lower than the best one (claim 3a
    supported) with the given gap difference behind claim 3b."""
    drop = Effect(-0.05, -0.08, -0.02, 10, METHOD_PAIRED_T, verdict=DIFFERENT)
    return {
        "label": f"condition {i}",
        "claims": [
            claims.Verdict(
                claims.CLAIM_LOWER_ACCURACY, "", claims.SUPPORTED, "", {"test_accuracy": drop}
            ).to_dict(),
            claims.Verdict(
                claims.CLAIM_GAP,
                "",
                claims.directional(gap, +1),
                "",
                {"gap": gap, "train_accuracy": drop},
            ).to_dict(),
        ],
    }


GROWS = Effect(0.05, 0.03, 0.07, 10, METHOD_PAIRED_T, verdict=DIFFERENT)
SAME = Effect(0.001, -0.005, 0.007, 10, METHOD_PAIRED_T, verdict=EQUIVALENT)
SHRINKS = Effect(-0.03, -0.05, -0.02, 10, METHOD_PAIRED_T, verdict=DIFFERENT)
UNKNOWN = Effect(0.032, 0.009, 0.055, 10, METHOD_PAIRED_T, verdict=INCONCLUSIVE)


def test_the_headline_counts_each_gap_outcome_apart():
    gaps = [GROWS, SAME, SAME, UNKNOWN, UNKNOWN, UNKNOWN]
    conditions = [_condition(g, i) for i, g in enumerate(gaps)]
    assert findings.gap_counts(conditions) == (
        "In 1 of them a larger train-test gap is shown, in 2 the gap is shown not to grow "
        "(within ±0.01) and in 3 the gap comparison is inconclusive."
    )
    (lower, *_) = findings._accuracy_headlines(conditions)
    assert lower["text"].endswith(findings.gap_counts(conditions))
    assert "not explained" not in lower["text"]


def test_an_inconclusive_gap_is_never_counted_as_not_growing():
    """The referee's headline: 13 conditions lower, 8 gap comparisons inconclusive, 5 not
    supported; none may read as "the drop is not explained by a larger gap"."""
    conditions = [_condition(UNKNOWN, i) for i in range(8)]
    conditions += [_condition(SHRINKS, 8 + i) for i in range(5)]
    text = findings.gap_counts(conditions)
    assert text == (
        "In 0 of them a larger train-test gap is shown, in 5 the gap is shown to shrink and in "
        "8 the gap comparison is inconclusive."
    )


def test_the_learning_rate_sentence_claims_no_direction_for_a_tuned_b_crit():
    """Tuned B_crit was higher than the fixed-rate one in some conditions and lower in others:
    the sentence says only what is true in both."""
    for arm in ("constant", "sqrt", "linear"):
        note = findings._lr_note(arm)
        assert "likely lower" not in note and "usually need fewer steps" not in note
        assert "can move B_crit either way" in note
    assert "this optimizer at this rate" in findings._lr_note("constant")
    assert "(lr ∝ √B (square-root scaling))" in findings._lr_note("sqrt")


def test_the_conditional_on_note_names_the_draws_section_only_when_there_is_one():
    assert "pooled" not in findings.conditional_on(False)
    assert findings.conditional_on(False) == findings.CONDITIONAL_ON
    with_draws = findings.conditional_on(True)
    assert with_draws.startswith(findings.CONDITIONAL_ON)
    assert "pooled in the section across dataset draws" in with_draws
