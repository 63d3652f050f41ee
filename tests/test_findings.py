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
        "In 1 of them a train-test gap larger by more than 0.01 is shown, in 2 the gap is shown "
        "not to grow by more than 0.01 (the upper end of its interval is below +0.01) and in 3 "
        "the seeds cannot say whether the gap grows by more than 0.01."
    )
    (lower, *_) = findings._accuracy_headlines(conditions)
    assert lower["text"].endswith(
        findings.gap_counts(conditions)
        + " Each condition's intervals are simultaneous within it, not across the 6 conditions."
    )
    assert "not explained" not in lower["text"] and "condition(s)" not in lower["text"]
    assert "in 6 of 6 conditions;" in lower["text"]


def test_an_inconclusive_gap_is_never_counted_as_not_growing():
    """The referee's headline: 13 conditions lower, 8 gap comparisons inconclusive, 5 not
    supported; none may read as "the drop is not explained by a larger gap"."""
    conditions = [_condition(UNKNOWN, i) for i in range(8)]
    conditions += [_condition(SHRINKS, 8 + i) for i in range(5)]
    text = findings.gap_counts(conditions)
    assert text == (
        "In 0 of them a train-test gap larger by more than 0.01 is shown, in 5 the gap is shown "
        "to shrink by more than 0.01 and in 8 the seeds cannot say whether the gap grows by more "
        "than 0.01."
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


def _fit(lo: float, hi: float, b_crit: float, **extra) -> dict:
    fitted = [4, 8, 16, 32, 64]
    return {
        "ok": True,
        "b_crit": b_crit,
        "lo": lo,
        "hi": hi,
        "n_boot": 200,
        "n_boot_ok": 200,
        "fitted_sizes": fitted,
        "rel_rmse": 0.05,
        "extrapolated_low": lo < fitted[0],
        "extrapolated_high": hi > fitted[-1],
        **extra,
    }


def _target(fit: dict) -> dict:
    return {"suffix": "95", "kind": "accuracy", "critical_batch": fit}


def test_a_fit_wholly_below_or_above_the_tested_range_says_so_and_is_not_usable():
    below, above = _fit(0.215, 1.72, 0.749), _fit(80, 300, 120, not_reached=[128])
    reaches, inside = _fit(2.08, 4.1, 3.38), _fit(10, 40, 20)
    text = findings._fit_text(_target(below))
    assert "The interval lies entirely below the tested range (the smallest fitted B = 4)" in text
    assert "reaches below" not in text
    # B = 128 was tested but never reached: above the fitted range, not the tested one
    assert "lies entirely above the fitted range (the largest fitted B = 64)" in (
        findings._fit_text(_target(above))
    )
    # 3.38 [2.08, 4.1]: the estimate itself lies below the smallest fitted B
    assert "The estimate itself lies below the smallest fitted B = 4: extrapolation." in (
        findings._fit_text(_target(reaches))
    )
    assert "The interval reaches below the smallest fitted B = 4: extrapolation." in (
        findings._fit_text(_target(_fit(3.5, 6.0, 4.5)))
    )
    assert "extrapolation" not in findings._fit_text(_target(inside))
    assert [findings.usable_fit(f) for f in (below, above, reaches, inside)] == [
        False,
        False,
        True,
        True,
    ]
    conditions = [
        {"label": f"c{i}", "targets": [_target(f)]} for i, f in enumerate((below, above, reaches))
    ]
    (head,) = findings._critical_batch_headlines(conditions)
    assert head["anchor"] == "c3-targets" and head["text"].startswith("B_crit for the 95%")
    assert (
        "usable fits: 1 of 3 conditions; in 2 more the whole interval lies outside"
        in (head["text"])
    )
    (none,) = findings._critical_batch_headlines(conditions[:1])
    assert "No condition gives a usable critical-batch-size fit" in none["text"]
    assert "its interval lies entirely below the tested range" in none["text"]


def test_the_bcrit_headline_says_the_rate_was_not_tuned_and_gives_the_range():
    """With several usable fits the headline gives their range, and it always says each
    condition's B_crit describes one fixed (or rule-scaled) learning rate."""
    fits = [_fit(2.08, 4.1, 3.38), _fit(10, 40, 20), _fit(20, 60, 35)]
    conditions = [{"label": f"c{i}", "targets": [_target(f)]} for i, f in enumerate(fits)]
    (head,) = findings._critical_batch_headlines(conditions)
    # the headline shows a fit inside the fitted sizes; the range is over such fits only
    assert head["text"].startswith("B_crit for the 95% accuracy target ≈ 20 [10, 40]")
    assert (
        "Across the 2 usable fits whose interval stays inside the fitted batch sizes, B_crit "
        "ranges from 20 to 35; 1 other extrapolates." in head["text"]
    )
    assert findings.FIXED_RATE_NOTE in head["text"]
    (one,) = findings._critical_batch_headlines(conditions[:1])
    assert "ranges from" not in one["text"] and findings.FIXED_RATE_NOTE in one["text"]


def test_the_accuracy_sentence_says_which_split_chose_the_best_batch_size():
    cell = Effect(0.83, 0.82, 0.84, 10, "t-interval over seeds").to_dict()
    diff = Effect(-0.05, -0.08, -0.02, 10, METHOD_PAIRED_T, verdict=DIFFERENT).to_dict()
    for own, words in (
        (True, "chosen on the final validation accuracy; the test split only reports"),
        (False, "chosen on the test split, which serves as validation"),
    ):
        found = {
            "cells": [{"batch_size": 4, "final_test_accuracy": cell}],
            "accuracy": {
                "best": 4,
                "chosen_on": claims.best_choice(own),
                "margin": 0.01,
                "family": "family",
                "comparisons": {"64": diff},
            },
        }
        text = findings.accuracy_text(found)
        assert text.startswith(
            f"Best batch size: B = 4 ({words}; ties go to the smaller batch size); its mean "
            "final test accuracy 0.830 [0.820, 0.840]"
        )


def test_a_three_point_fit_and_a_partly_refitted_interval_are_flagged():
    few = _fit(2.08, 4.1, 3.38)
    few["fitted_sizes"], few["n_boot_ok"], few["n_boot"] = [4, 8, 16], 1245, 2000
    text = findings._fit_text(_target(few))
    assert "3 points for 2 parameters: indicative only" in text
    assert (
        "the interval covers only the 62.3% of resamples that could be refitted, so its coverage "
        "is unknown, not 95%" in text
    )
    many = _fit(10, 40, 20)
    assert "indicative only" not in findings._fit_text(_target(many))
    poor = _fit(10, 40, 20) | {"rel_rmse": 0.172}
    assert "the fit is poor: its interval covers the seeds' noise" in (
        findings._fit_text(_target(poor))
    )


# --------------------------------------------------------------------------- chance


def _full(gap: Effect, i: int, unset: str | None = None) -> dict:
    """A condition with everything `findings.headline` reads; ``unset``: its targets_unset."""
    c = _condition(gap, i)
    c["claims"].append(
        claims.Verdict(claims.CLAIM_WALL_TIME, "", claims.NOT_SUPPORTED, "", {}, []).to_dict()
    )
    keys = {"dataset": f"d{i}", "optimizer": "adam", "lr_scaling": "constant", "base_lr": 0.001}
    return c | {
        "id": f"c{i + 1}",
        "keys": keys | {"budget": "e100"},
        "batch_sizes": [4, 512],
        "targets": [],
        "targets_unset": unset,
        "timing_repeats": None,
    }


def test_conditions_at_chance_are_named_apart_and_left_out_of_the_counts():
    why = "targets not set: the best plateau validation accuracy 0.340 is at chance (0.338, …)"
    conditions = [_full(GROWS, 0, why), _full(GROWS, 1), _full(SAME, 2)]
    head = findings.headline(conditions)
    first = head[0]
    assert first["text"].startswith("In 1 of 3 conditions no batch size's plateau validation")
    assert "accuracy is clearly above chance, so no targets were set" in first["text"]
    assert "condition 0" in first["text"] and first["anchor"] == "c1-targets"
    lower = next(h for h in head if "practically lower" in h["text"])
    assert "in 2 of 2 conditions;" in lower["text"]  # the condition at chance is not counted
    assert lower["anchor"] in {"c2-claims", "c3-claims"}
    assert all("nan" not in h["text"] and "None" not in h["text"] for h in head)
    assert findings._chance_headlines(conditions[1:]) == []


def test_targets_unset_says_why_in_numbers():
    import numpy as np
    import pandas as pd

    runs = pd.DataFrame(
        {
            "best_plateau": [0.34, 0.34],
            "chance_accuracy": [0.338, 0.338],
            "target_95": [np.nan, np.nan],
        }
    )
    why = findings.targets_unset(runs)
    assert why.startswith("targets not set: the best plateau validation accuracy 0.340 is at")
    assert "chance (0.338" in why
    assert findings.targets_unset(runs.assign(target_95=0.323)) is None
    # All runs diverged (no plateau) or chance unknown: no claim about chance is made.
    assert findings.targets_unset(runs.assign(best_plateau=np.nan)) is None
    assert findings.targets_unset(runs.assign(chance_accuracy=np.nan)) is None
    assert findings.targets_unset(runs.drop(columns="chance_accuracy")) is None


def test_settling_text_counts_runs_collapsed_to_chance():
    never = Effect(float("inf"), float("inf"), float("inf"), 10, "median", n_censored=10)
    settled = Effect(30.0, 28.0, 33.0, 10, "median")
    cells = [
        {
            "batch_size": 8,
            "epochs_to_settle": settled.to_dict(),
            "steps_to_settle": settled.to_dict(),
            "n_collapsed": 0,
        },
        {
            "batch_size": 512,
            "epochs_to_settle": never.to_dict(),
            "steps_to_settle": never.to_dict(),
            "n_collapsed": 7,
            "n_budget_limited": 3,
            "unsettled_causes": "3 budget-limited, 7 collapsed to chance",
        },
        {
            "batch_size": 64,
            "epochs_to_settle": settled.to_dict(),
            "steps_to_settle": settled.to_dict(),
            "n_settled_below_target": 9,
        },
    ]
    text = findings.settling_text({"cells": cells})
    assert (
        "B = 512: > budget (10 of 10 never settled) (3 budget-limited, 7 collapsed to chance)"
        in text
    )
    assert "B = 64: 30 [28, 33] epochs = 30 [28, 33] steps (9 settled below the target)" in text
    assert claims.BEYOND_BUDGET in text
    assert "B = 8: 30 [28, 33] epochs" in text and "collapsed to chance;" not in text.split(";")[0]
    assert "nan" not in text


def _compared(fit: dict, own_validation: bool) -> dict:
    """A findings document of one condition, as `compare` reads it."""
    acc = Effect(0.8, 0.79, 0.81, 5, "t-interval over seeds").to_dict()
    return {
        "conditions": [
            {
                "label": "blobs",
                "cells": [{"batch_size": b, "final_test_accuracy": acc} for b in (4, 64)],
                "accuracy": {"best": 4, "chosen_on": claims.best_choice(own_validation)},
                "targets": [_target(fit)],
                "claims": [],
            }
        ]
    }


def test_compare_says_how_the_best_was_chosen_and_flags_an_extrapolated_b_crit():
    from batchstudy.catalogue import compare_rows

    below, reaches, inside = _fit(0.215, 1.72, 0.749), _fit(2.08, 4.1, 3.38), _fit(10, 40, 20)
    rows = {
        (q, a, b) for _, q, a, b in compare_rows(_compared(below, True), _compared(reaches, False))
    }
    best = next(r for r in rows if r[0].startswith("best batch size"))
    assert best[0] == "best batch size" and "test accuracy)" not in best[0]
    assert best[1] == f"4 ({claims.best_choice(True)})"
    assert best[2] == f"4 ({claims.best_choice(False)})"
    assert claims.CHOICE_WORDS[True] in best[1] and claims.CHOICE_WORDS[False] in best[2]
    b_crit = next(r for r in rows if r[0].startswith("B_crit"))
    assert b_crit[1] == (
        "0.749 [0.215, 1.72] (the interval lies entirely below the tested range (the smallest "
        "fitted B = 4): extrapolation, not a critical batch size the tested batch sizes show)"
    )
    assert b_crit[2].endswith(
        "(the estimate itself lies below the smallest fitted B = 4: extrapolation)"
    )
    plain = compare_rows(_compared(inside, True), _compared(inside, True))
    assert ("blobs", "B_crit (first accuracy target)", "20 [10, 40]", "20 [10, 40]") in plain


def _wall_condition(holds: list[int], repeats: int | None, i: int = 0) -> dict:
    """A condition whose claim 4 holds at ``holds``, timed by ``repeats`` timing repeats
    (``None``: by its training jobs' own clocks)."""
    verdict = claims.Verdict(claims.CLAIM_WALL_TIME, "", claims.PARTLY, "", holds_for=holds)
    return {
        "id": f"c{i + 1}",
        "label": f"condition {i}",
        "keys": {"dataset": "d", "optimizer": "adam", "lr_scaling": "constant"},
        "batch_sizes": [4, 8, 64],
        "claims": [verdict.to_dict()],
        "targets": [{"suffix": "95"}],
        "timing_repeats": None if repeats is None else {"repeats": repeats},
    }


def test_the_wall_time_headline_counts_holds_only_where_timing_repeats_judged_them():
    """Conditions timed by repeats are counted for where claim 4 holds; the others are
    counted apart as judged by no clock, with the reason; neither sentence without such
    conditions."""
    timed = [_wall_condition([8], 5, 0), _wall_condition([], 3, 1)]
    untimed = _wall_condition([], None, 2)
    (line,) = findings._wall_time_headlines([*timed, untimed])
    assert (
        "holds for at least one batch size in 1 of 2 conditions timed by repeats: "
        "condition 0: B = 8." in line["text"]
    )
    assert (
        "Seconds per epoch come from 3–5 interleaved timing repeats per batch size."
        in (line["text"])
    )
    assert (
        "In 1 of 3 conditions wall time decides neither claim 1 nor claim 4: "
        f"{claims.NO_REPEATS_REASON}." in line["text"]
    )
    assert line["anchor"] == "c1-claims"
    (only_timed,) = findings._wall_time_headlines(timed)
    assert claims.NO_REPEATS_REASON not in only_timed["text"]
    (only_untimed,) = findings._wall_time_headlines([untimed])
    assert only_untimed["text"].startswith("In 1 of 1 condition wall time decides neither")
    assert "holds for" not in only_untimed["text"] and only_untimed["anchor"] == "c3-claims"
