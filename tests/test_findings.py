"""The findings' sentences across and within conditions, from hand-made findings dicts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from batchstudy import claims, findings, scaling, stats
from batchstudy import formatting as fmt
from batchstudy.stats import (
    DIFFERENT,
    EQUIVALENT,
    INCONCLUSIVE,
    METHOD_PAIRED_T,
    Effect,
    IntervalSettings,
)


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
        + " Each condition's test-accuracy comparisons are simultaneous within it (Bonferroni "
        "over the family its section names), not across the 6 conditions; every other interval "
        "is at its own stated level."
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
    assert "(square-root scaling, lr ∝ √B)" in findings._lr_note("sqrt")


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


def _target(fit: dict, standing: str = "", kind: str = "accuracy", value: float = 0.8) -> dict:
    chance = {"level": 0.38 if kind == "accuracy" else 1.0986, "share": 0.5, "standing": standing}
    return {"suffix": "95", "kind": kind, "value": value, "chance": chance, "critical_batch": fit}


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
        "reportable fits: 1 of 3 conditions; in 2 more the whole interval lies outside"
        in (head["text"])
    )
    (none,) = findings._critical_batch_headlines(conditions[:1])
    assert "No condition gives a reportable critical-batch-size fit" in none["text"]
    assert "its interval lies entirely below the tested range" in none["text"]
    # flagged below the range, its section prints no estimate nor interval: the Findings
    # count it as below the range, not as an interval outside it
    flagged = _fit(0.215, 1.72, 0.749, below_range=True)
    (head,) = findings._critical_batch_headlines(
        [{"label": "c0", "targets": [_target(flagged)]}, *conditions[2:]]
    )
    assert "whole interval" not in head["text"]
    assert f"in 1 more B_crit lies {scaling.BELOW_RANGE_WORDS}" in head["text"]


def test_the_bcrit_count_accounts_for_every_condition():
    """Reportable, outside, below the range and no fit made (grouped by why, in the words of
    `NO_FIT_WORDS`) add up to the number of conditions; a fit at a zero bound whose relative
    RMSE is poor counts as steps not of the model's form, whichever bound."""
    flat = scaling.fit_critical_batch([16, 32, 64, 128, 256, 512], [200, 39, 31.5, 54, 75, 75.5])
    falls = scaling.fit_critical_batch([4, 8, 16], [800, 400, 100])
    clean_flat = scaling.fit_critical_batch([4, 8, 16], [300, 300, 300])
    few = scaling.fit_critical_batch([4, 8, 16], [900, np.nan, np.inf])
    made = [_fit(10, 40, 20), _fit(0.215, 1.72, 0.749), _fit(0.01, 1.48, 2.7, below_range=True)]
    targets = [_target(f) for f in [*made, flat, falls, clean_flat, few, few]]
    targets.append(_target(dict(findings.AT_CHANCE_FIT), scaling.STANDING_AT_CHANCE))
    conditions = [{"label": f"c{i}", "targets": [t]} for i, t in enumerate(targets)]
    conditions.append({"label": "unset", "targets": []})
    causes = [findings.no_fit_cause(c) for c in conditions]
    assert causes == [None] * 3 + ["poor", "poor", "e_min", "few", "few", "chance", "unset"]
    (head,) = findings._critical_batch_headlines(conditions)
    words = findings.NO_FIT_WORDS
    assert (
        "reportable fits: 1 of 10 conditions; in 1 more the whole interval lies outside the "
        "tested range, which is not counted as reportable; in 1 more B_crit lies "
        f"{scaling.BELOW_RANGE_WORDS}; in 7 more no fit was made: 1 where {words['unset']}, "
        f"1 where {words['chance']}, 2 where {words['few']}, 2 where {words['poor']}, "
        f"1 where {words['e_min']}.)"
    ) in head["text"]
    assert "relative RMSE above 10%" in words["poor"]
    (none,) = findings._critical_batch_headlines(conditions[3:4])
    assert "in 1 more no fit was made: 1 where the steps do not follow" in none["text"]
    (one,) = findings._critical_batch_headlines(conditions[:1])
    assert "no fit was made" not in one["text"]
    # a reason of another kind is counted in its own words
    odd = {"label": "odd", "targets": [_target({"ok": False, "reason": "no runs"})]}
    assert findings._no_fit_counts([odd]) == "; in 1 more no fit was made: 1 where no runs"


def test_the_bcrit_headline_says_the_rate_was_not_tuned_and_gives_the_range():
    """With several usable fits the headline gives their range, and it always says each
    condition's B_crit describes one fixed (or rule-scaled) learning rate."""
    fits = [_fit(2.08, 4.1, 3.38), _fit(10, 40, 20), _fit(20, 60, 35)]
    conditions = [{"label": f"c{i}", "targets": [_target(f)]} for i, f in enumerate(fits)]
    (head,) = findings._critical_batch_headlines(conditions)
    # the headline shows a fit inside the fitted sizes; the range is over such fits only
    assert head["text"].startswith("B_crit for the 95% accuracy target ≈ 20 [10, 40]")
    assert (
        "Across the 2 reportable fits that stay inside their fitted batch sizes and are not "
        "flagged, B_crit ranges from 20 to 35. Left out: 1 whose estimate or interval reaches "
        "outside its fitted batch sizes." in head["text"]
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
    # on 3 points a relative RMSE above the limit is still a misfit: both caveats
    both = findings._fit_text(_target(few | {"rel_rmse": 0.246}))
    assert "3 points for 2 parameters: indicative only; the fit is poor: its interval" in both


def test_a_fit_at_a_zero_bound_is_labelled_by_the_side_it_puts_b_crit_unless_poor():
    """A flat best fit places B_crit below the fitted range, as a made fit below it does: both
    read "below the fitted range"; a poor one (steps off the model's form) is "not estimated"."""
    reason = scaling.bound_reason("e_min", 4, 16, 0.02)
    flat = scaling.failed_fit(reason, 3, rel_rmse=0.02)
    assert findings._fit_text(_target(flat)).startswith(
        f"B_crit for the 95% accuracy target: below the fitted range, no estimate ({reason})."
    )
    rising = scaling.failed_fit(scaling.bound_reason("s_min", 4, 16, 0.02), 3, rel_rmse=0.02)
    assert ": above the fitted range, no estimate (S_min fitted at 0" in findings._fit_text(
        _target(rising)
    )
    poor = scaling.failed_fit(scaling.bound_reason("e_min", 4, 16, 0.3), 3, rel_rmse=0.3)
    assert ": not estimated (E_min fitted at 0" in findings._fit_text(_target(poor))
    few = scaling.failed_fit("need ≥ 3 batch sizes with finite steps, got 2", 2)
    assert ": not estimated (need ≥ 3" in findings._fit_text(_target(few))


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
            "unsettled_causes": "3 budget-limited, 7 at chance",
        },
        {
            "batch_size": 64,
            "epochs_to_settle": settled.to_dict(),
            "steps_to_settle": settled.to_dict(),
            "n_settled_below_target": 9,
        },
    ]
    words = "a budget-limited one entered its band only in the budget's last epochs"
    text = findings.settling_text({"cells": cells, "beyond_budget": words})
    assert "B = 512: > budget (10 of 10 never settled: 3 budget-limited, 7 at chance)" in text
    assert "B = 64: 30 [28, 33] epochs = 30 [28, 33] steps (9 settled below the target)" in text
    assert f"rank above every settled run: {words}; causes as defined" in text
    assert "B = 8: 30 [28, 33] epochs" in text and "at chance;" not in text.split(";")[0]
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


def _wall_condition(holds: list[int], repeats: int | None, i: int = 0, budget: str = "") -> dict:
    """A condition whose claim 4 holds at ``holds``, timed by ``repeats`` timing repeats
    (``None``: by its training jobs' own clocks); its own budget (timing stage) unless
    ``budget`` is given."""
    verdict = claims.Verdict(claims.CLAIM_WALL_TIME, "", claims.PARTLY, "", holds_for=holds)
    return {
        "id": f"c{i + 1}",
        "label": f"condition {i}",
        "keys": {
            "dataset": "d",
            "optimizer": "adam",
            "lr_scaling": "constant",
            "budget": budget or f"e{i + 1}",
        },
        "batch_sizes": [4, 8, 64],
        "claims": [verdict.to_dict()],
        "targets": [{"suffix": "95"}],
        "timing_repeats": None if repeats is None else {"repeats": repeats},
    }


def test_claim_4_not_testable_is_counted_apart_in_the_findings():
    """lr-tuning: where the smallest batch size never trained, claim 4 is "inconclusive (not
    testable at this rate)" in the claims tally and left out of the "holds" count."""
    timed = [_wall_condition([8], 5, 0), _wall_condition([], 5, 1)]
    timed[1]["claims"][0] |= {
        "verdict": claims.INCONCLUSIVE,
        "evidence": f"{claims.NOT_TESTABLE}: more than half …",
    }
    (line,) = findings._wall_time_headlines(timed)
    assert (
        "in 1 of 1 condition timed by repeats where it could be tested (1 more: not testable at "
        "this rate, more than half the smallest batch size's runs at chance, diverged or settled "
        "below the target): condition 0: B = 8" in (line["text"])
    )
    tally = findings._claims_headlines(timed)[0]["text"]
    assert (
        "holds for part of the range in 1, inconclusive (not testable at this rate) in 1" in tally
    )


def test_the_wall_time_headline_counts_conditions_judged_against_an_unreached_reference():
    """A condition whose smallest batch size's median never reaches the target is judged by
    epochs alone (`claims.CENSORED_REFERENCE_RULE`): the holds count says in how many."""
    timed = [_wall_condition([8], 5, 0), _wall_condition([], 5, 1)]
    timed[1]["claims"][0] |= {
        "verdict": claims.NOT_SUPPORTED,
        "evidence": f"The smallest batch size B = 4 did not reach the target within the budget "
        f"(…): {claims.CENSORED_REFERENCE_RULE}. B = 8: fails (fewer epochs) (…).",
    }
    (line,) = findings._wall_time_headlines(timed)
    assert (
        "in 1 of 2 conditions timed by repeats (in 1 of the 2 the smallest batch size's median "
        "never reaches the target within its budget at that rate: there only epochs decide, "
        "against a batch size that may not have trained): condition 0: B = 8" in line["text"]
    )
    (plain,) = findings._wall_time_headlines(timed[:1])
    assert "never reaches the target within its budget" not in plain["text"]


def test_the_wall_time_headline_counts_holds_only_where_timing_repeats_judged_them():
    """Conditions timed by repeats are counted for where claim 4 holds; the others are
    counted apart as judged by no clock, with the reason; neither sentence without such
    conditions."""
    timed = [_wall_condition([8], 5, 0), _wall_condition([], 3, 1)]
    untimed = _wall_condition([], None, 2)
    (line,) = findings._wall_time_headlines([*timed, untimed])
    assert (
        "holds for at least one batch size in 1 of 2 conditions timed by repeats: "
        "condition 0: B = 8 (each condition's comparisons with its smallest batch size "
        f"{stats.FAMILY_BONFERRONI} at 95% within it, not adjusted across the 4 comparisons "
        "of the 2 conditions)." in line["text"]
    )
    (one,) = findings._wall_time_headlines(timed[:1])
    assert (
        "condition 0: B = 8 (the condition's 2 comparisons with its smallest batch size, "
        f"{stats.FAMILY_BONFERRONI} at 95%)." in one["text"]
    )
    assert (
        "Seconds per epoch come from 3–5 interleaved timing repeats per batch size."
        in (line["text"])
    )
    assert (
        "In 1 of 3 conditions wall time decides neither claim 1 nor claim 4: "
        f"{claims.NO_REPEATS_REASON}; claim 4 is judged there only on what the epochs decide "
        "alone." in line["text"]
    )
    assert line["anchor"] == "c1-claims"
    (only_timed,) = findings._wall_time_headlines(timed)
    assert claims.NO_REPEATS_REASON not in only_timed["text"]
    (only_untimed,) = findings._wall_time_headlines([untimed])
    assert only_untimed["text"].startswith("In 1 of 1 condition wall time decides neither")
    assert "holds for" not in only_untimed["text"] and only_untimed["anchor"] == "c3-claims"


def _summary_row(loss: tuple, method: str, n_exploded: int) -> pd.Series:
    from batchstudy.metrics import EVENT_UNITS, MEAN_METRICS

    row = {
        "batch_size": 4,
        "n_runs": 10,
        "n_diverged": n_exploded,
        "steps_per_epoch": 100,
        "learning_rate": 0.316,
        "seconds_per_epoch_median": 0.004,
        "seconds_per_epoch_lo": 0.0039,
        "seconds_per_epoch_hi": 0.0041,
        "epochs": 100,
        "timing_drift": 1.0,
        "n_settled": 0,
        "final_test_loss_estimate": loss[0],
        "final_test_loss_lo": loss[1],
        "final_test_loss_hi": loss[2],
        "final_test_loss_method": method,
        "n_loss_exploded": n_exploded,
    }
    for name in MEAN_METRICS:
        row |= {f"{name}_mean": 0.4, f"{name}_lo": 0.39, f"{name}_hi": 0.41}
    for unit in EVENT_UNITS:
        row |= {f"{unit}_to_settle_{k}": np.inf for k in ("median", "lo", "hi")}
    return pd.Series(row)


def test_the_summary_table_prints_a_median_loss_with_its_exploded_runs():
    """The loss cell of a batch size with exploded runs is the censored median over all its
    runs and says how many exploded; one without keeps the mean over its runs."""
    from batchstudy import report
    from batchstudy.stats import METHOD_MEDIAN, METHOD_T, IntervalSettings

    settings = IntervalSettings()
    column = [k for k, *_ in report.TABLE_COLUMNS].index("final_test_loss") + 1
    cell = findings.cell_effects(_summary_row((1.21, 0.95, np.inf), METHOD_MEDIAN, 4), settings)
    loss = Effect.from_dict(cell["final_test_loss"])
    assert (loss.n, loss.n_censored, loss.method) == (10, 4, METHOD_MEDIAN)
    text = report.table_rows([cell])[0][column]
    assert text == "1.21 [0.950, > 10× chance] (4 of 10 above 10× chance loss)"
    cell = findings.cell_effects(_summary_row((0.6, 0.5, 0.7), METHOD_T, 0), settings)
    assert Effect.from_dict(cell["final_test_loss"]).n == 10
    assert report.table_rows([cell])[0][column] == "0.600 [0.500, 0.700]"


def test_the_table_download_writes_an_exploded_loss_median_as_the_level_not_a_budget():
    import base64
    import io

    from batchstudy import report
    from batchstudy.stats import METHOD_MEDIAN, IntervalSettings

    row = _summary_row((np.inf, 5.0, np.inf), METHOD_MEDIAN, 6)
    cell = findings.cell_effects(row, IntervalSettings()) | {"unsettled_causes": ""}
    uri = report.condition_tsv([cell])
    text = base64.b64decode(uri.split("base64,", 1)[1]).decode("utf-8")
    table = pd.read_csv(io.StringIO(text), sep="\t")
    assert table.at[0, "final_test_loss_estimate"] == "> 10× chance"
    assert table.at[0, "final_test_loss_hi"] == "> 10× chance"
    assert table.at[0, "final_test_loss_n_censored"] == 6
    assert table.at[0, "epochs_to_settle_estimate"] == "above budget"


def test_a_settling_cell_counts_the_runs_that_settled_below_the_target():
    from batchstudy import report
    from batchstudy.stats import METHOD_MEDIAN, IntervalSettings

    row = _summary_row((0.6, 0.5, 0.7), METHOD_MEDIAN, 0)
    cell = findings.cell_effects(row, IntervalSettings()) | {"unsettled_causes": ""}
    settle = [h for _, h, *_ in report.TABLE_COLUMNS].index("settling epoch") + 1
    assert "below the target" not in report.table_rows([cell])[0][settle]
    cell["n_settled_below_target"] = 8
    row = report.table_rows([cell])[0]
    assert row[settle].endswith(f"(8 of {cell['n_runs']} settled below the target)")
    assert "below the target" not in row[settle - 1]  # the loss column is not a settling one


MINOR = Effect(0.002, -0.0105, 0.015, 10, METHOD_PAIRED_T, verdict=INCONCLUSIVE)


def test_a_gap_that_explains_less_than_half_the_drop_is_counted_apart():
    """Against a drop of −0.05 [−0.08, −0.02] (half its smallest size, 0.01, is below the
    gap's upper end 0.015) the gap stays open; against the digits drop of at least 0.064 the
    gap's upper end is less than half of it and is counted as such, not as "cannot say"."""
    open_case = _condition(MINOR)
    assert "cannot say" in findings.gap_counts([open_case])
    big = Effect(-0.075, -0.086, -0.064, 10, METHOD_PAIRED_T, verdict=DIFFERENT)
    minor = _condition(MINOR)
    minor["claims"][0]["effects"]["test_accuracy"] = big.to_dict()
    text = findings.gap_counts([minor])
    assert "cannot say" not in text
    assert text.endswith(
        "in 1 a larger gap could explain less than half of the test-accuracy drop (the upper "
        "end of its interval is below half the drop's smallest size)."
    )


def _accuracy_condition(comparisons: dict[int, Effect], best: int, **extra) -> dict:
    """A condition's findings with an accuracy family and claim 3a inconclusive."""
    sizes = sorted([*comparisons, best])
    cell = Effect(0.83, 0.82, 0.84, 10, "t-interval over seeds").to_dict()
    return {
        "label": "cond",
        "batch_sizes": sizes,
        "n_seeds": 10,
        "cells": [
            {"batch_size": b, "final_test_accuracy": cell, "n_runs": 10, "n_diverged": 0}
            for b in sizes
        ],
        "accuracy": {
            "best": best,
            "chosen_on": claims.best_choice(True),
            "margin": 0.01,
            "family": "family",
            "comparisons": {str(b): e.to_dict() for b, e in comparisons.items()},
        }
        | extra,
        "claims": [
            claims.Verdict(claims.CLAIM_LOWER_ACCURACY, "", claims.INCONCLUSIVE, "").to_dict()
        ],
    }


def test_the_inconclusive_headline_gives_each_condition_its_own_reason():
    straddles = Effect(-0.05, -0.141, 0.041, 5, METHOD_PAIRED_T, 0.9833, INCONCLUSIVE)
    none = Effect(float("nan"), float("nan"), float("nan"), 0, METHOD_PAIRED_T)
    up = Effect(-0.147, -0.305, 0.011, 10, METHOD_PAIRED_T, verdict=INCONCLUSIVE)
    low = Effect(-0.2, -0.3, -0.1, 10, METHOD_PAIRED_T, verdict=DIFFERENT)
    first = _accuracy_condition({32: low, 128: straddles}, 8)
    second = _accuracy_condition({4: none, 8: none, 16: up, 32: low}, 512, all_diverged=[4, 8])
    second["label"] = "other"
    (head,) = findings._accuracy_headlines([first, second])
    text = head["text"]
    # its evidence is the first listed condition's claim 3a, not the overview figure
    assert head["anchor"] == f"{findings._anchor(first, 0)}-claims"
    assert "the interval straddles the margin, too few runs" not in text
    assert (
        "cond (B = 128 − B = 8: −0.050 [−0.141, +0.041] (paired t, n = 5, 98.33% level) "
        "straddles the −0.01 and +0.01 margins; n = 5 of 10 seeds: 5 with a missing run "
        "excluded)" in text
    )
    assert "cannot rule out that B = 16 is practically higher" in text
    assert "B ∈ {4, 8}: diverged (all seeds), not compared" in text


def test_the_accuracy_sentence_lists_always_diverged_sizes_apart_and_says_what_n_excludes():
    none = Effect(float("nan"), float("nan"), float("nan"), 0, METHOD_PAIRED_T)
    six = Effect(-0.329, -0.442, -0.217, 6, METHOD_PAIRED_T, verdict=DIFFERENT)
    found = _accuracy_condition({4: none, 8: six}, 512, all_diverged=[4])
    found["cells"][1]["n_diverged"] = 4
    text = findings.accuracy_text(found)
    assert "not estimable" not in text and "inconclusive" not in text
    assert "diverged (all seeds): B = 4" in text
    assert "B = 8 (−0.329 [−0.442, −0.217]; n = 6 of 10 seeds: 4 with a diverged run excluded)" in (
        text
    )


def test_the_findings_and_claim_3a_quote_an_open_interval_with_the_same_seed_words():
    """B = 16's family interval (n = 8 of 10 seeds, 2 with a diverged run) reaches +0.01:
    the Findings' reason and the accuracy sentence both say how many seeds it rests on."""
    up = Effect(-0.147, -0.305, 0.011, 8, METHOD_PAIRED_T, 0.9929, INCONCLUSIVE)
    low = Effect(-0.2, -0.3, -0.1, 10, METHOD_PAIRED_T, verdict=DIFFERENT)
    found = _accuracy_condition({16: up, 32: low}, 512)
    found["cells"][0]["n_diverged"] = 2  # B = 16
    reason = findings.lower_reason(found)
    words = "; n = 8 of 10 seeds: 2 with a diverged run excluded)"
    assert f"B = 16 ({fmt.effect(up, 'difference')}{words}" in reason
    assert f"B = 16 ({fmt.interval(up, 'difference')}{words}" in findings.accuracy_text(found)
    assert "B = 32 (" not in reason


def test_a_target_no_better_than_chance_gets_no_bcrit_and_is_said_once():
    """A loss target at or above ln(n_classes) (or an accuracy at or below chance) is reached
    by a trivial predictor: no B_crit sentence for it, one note for the condition."""
    fit = dict(findings.AT_CHANCE_FIT)
    targets = [
        _target(fit, scaling.STANDING_AT_CHANCE, "loss", 35.7) | {"suffix": "95"},
        _target(fit, scaling.STANDING_AT_CHANCE, "loss", 34.2) | {"suffix": "99"},
    ]
    assert findings._fit_text(targets[0]) == ""
    note = findings.chance_text(targets)
    assert note.count("no B_crit is fitted") == 1
    assert note.startswith("The 95% and 99% loss targets (35.7 and 34.2) are at or above the")
    assert "ln 3 = 1.099" in note
    assert not findings.usable_fit(fit)
    assert findings.chance_text([_target(_fit(10, 40, 20))]) == ""


def test_the_targets_are_judged_against_the_splits_chance_levels():
    splits = pd.DataFrame(
        {"dataset": ["blobs"], "chance_accuracy": [0.38], "chance_loss": [np.log(3)]}
    )
    chance = findings.chance_levels(splits)["blobs"]
    assert findings._chance_facts("loss", 1.97, chance)["standing"] == scaling.STANDING_AT_CHANCE
    near = findings._chance_facts("accuracy", 0.504, chance)
    assert near["standing"] == scaling.STANDING_NEAR_CHANCE and near["share"] == pytest.approx(0.2)
    assert findings._chance_facts("accuracy", 0.8, chance)["standing"] == scaling.STANDING_CLEAR
    assert findings.chance_levels(None) == {}


def test_the_bcrit_range_leaves_out_flagged_fits_and_counts_them():
    """Poor fits (relative RMSE above the limit) and fits on a near-chance target are shown in
    their sections, flagged, but the Findings' range is over unflagged fits only."""
    clean = [_target(_fit(10, 40, 20)), _target(_fit(20, 60, 35))]
    wide = {"fitted_sizes": [4, 8, 16, 32, 64, 128, 256, 512], "extrapolated_high": False}
    poor = _target(_fit(100, 400, 274) | wide)
    poor["critical_batch"]["rel_rmse"] = 0.161
    near = _target(
        _fit(67, 366, 197) | wide | {"fitted_sizes": [16, 32, 64, 128, 256, 512]},
        scaling.STANDING_NEAR_CHANCE,
        value=0.504,
    )
    assert findings.fit_flags(poor) == [findings.FLAG_POOR]
    assert findings.fit_flags(near) == [findings.FLAG_NEAR_CHANCE]
    assert "its target is near chance (see Targets and chance): indicative only" in (
        findings._fit_text(near)
    )
    conditions = [{"label": f"c{i}", "targets": [t]} for i, t in enumerate([poor, *clean, near])]
    (head,) = findings._critical_batch_headlines(conditions)
    # the first condition's fit is poor: the headline shows the first unflagged one
    assert head["text"].startswith("B_crit for the 95% accuracy target ≈ 20 [10, 40]")
    assert (
        "Shown: the first condition in the report's order whose fit is reportable, stays "
        in (head["text"])
    )
    assert (
        "B_crit ranges from 20 to 35. Left out: 2 flagged (1 with a relative RMSE above "
        in (head["text"])
    )
    assert "1 on a target near chance)" in head["text"]
    assert "274" not in head["text"] and "197" not in head["text"]


def test_the_shown_fit_is_not_counted_among_the_other_usable_fits():
    """Where the only usable fit is flagged and shown, no "Other usable fits" count names it;
    a second flagged fit is counted alone."""
    wide = {"fitted_sizes": [4, 8, 16, 32, 64, 128, 256, 512], "extrapolated_high": False}
    poor = _target(_fit(100, 400, 274) | wide)
    poor["critical_batch"]["rel_rmse"] = 0.161
    (head,) = findings._critical_batch_headlines([{"label": "c0", "targets": [poor]}])
    assert head["text"].startswith("B_crit for the 95% accuracy target ≈ 274")
    assert "Other reportable fits" not in head["text"] and "flagged (" not in head["text"]
    other = _target(_fit(100, 400, 250) | wide)
    other["critical_batch"]["rel_rmse"] = 0.2
    conditions = [{"label": f"c{i}", "targets": [t]} for i, t in enumerate([poor, other])]
    (head,) = findings._critical_batch_headlines(conditions)
    assert "Other reportable fits: 1 flagged (1 with a relative RMSE above 10%)." in head["text"]
    assert "not flagged:" not in head["text"]
    good = _target(_fit(100, 400, 180) | wide) | {"suffix": "99"}
    (head,) = findings._critical_batch_headlines([{"label": "c0", "targets": [poor, good]}])
    assert "at this target every such fit is flagged" in head["text"]
    assert "Shown: the study's only condition, whose fit is reportable" in head["text"]
    assert (
        "In the same condition, fits that are not flagged: B_crit for the 99% accuracy target ≈ 180"
        in (head["text"])
    )


def test_the_chance_rule_is_stated_once_with_the_near_chance_share():
    doc = findings.settings_doc(IntervalSettings(), False)
    assert doc["chance_rule"] == findings.CHANCE_RULE
    assert "less than 25% of the way from chance" in findings.CHANCE_RULE
    near = _target(_fit(10, 40, 20), scaling.STANDING_NEAR_CHANCE, value=0.504)
    near["chance"]["share"] = 0.2
    one = findings.chance_text([near])
    assert one.endswith("its B_crit is indicative only and the Findings leave it out.")


def test_the_settings_name_the_pooled_methods_and_their_simulated_coverage():
    doc = findings.settings_doc(IntervalSettings(), False)
    assert doc["pooled_coverage"] == claims.pooled_coverage_words()
    assert doc["methods"]["pooled_median"] == claims.METHOD_POOLED
    assert doc["methods"]["pooled_difference"] == claims.METHOD_POOLED_DIFFERENCE


def test_settling_text_says_how_many_never_settled_once():
    """B = 8 at digits: a finite median with 1 of 10 runs counted at the budget reads
    "19.5 [18, 29] epochs = 2,200 [2,030, 3,280] steps (1 of 10 never settled: 1 loss rising)",
    the count once, not after each of the two intervals."""
    method = "percentile bootstrap over seeds of the censored median"
    cell = {
        "batch_size": 8,
        "epochs_to_settle": Effect(19.5, 18.0, 29.0, 10, method, n_censored=1).to_dict(),
        "steps_to_settle": Effect(2203.5, 2034.0, 3277.0, 10, method, n_censored=1).to_dict(),
        "unsettled_causes": "1 loss rising",
    }
    text = findings.settling_text({"cells": [cell]})
    assert (
        "B = 8: 19.5 [18, 29] epochs = 2,203.5 [2,034, 3,277] steps (1 of 10 never settled: "
        "1 loss rising)" in text
    )
    assert text.count("never settled") == 2  # the preamble's and the cell's


def _settling_cell(b: int, censored: int, causes: str = "") -> dict:
    e = Effect(math.inf if censored >= 5 else 30.0, 20.0, math.inf, 10, "m", n_censored=censored)
    return {"batch_size": b, "epochs_to_settle": e.to_dict(), "unsettled_causes": causes}


def test_one_conditions_drop_is_not_the_largest_and_carries_the_budget_caveat():
    """digits: one condition, its largest batch sizes never settled within 60 epochs: the
    headline says "the difference", not "the most negative", and that it is measured at a budget
    where no run at B ≥ 32 had settled."""
    c = _condition(SAME) | {
        "keys": {"dataset": "d", "optimizer": "sgd", "lr_scaling": "constant", "budget": "e60"},
        "batch_sizes": [4, 32, 64],
        "cells": [
            _settling_cell(4, 1),
            _settling_cell(32, 10, "10 still moving"),
            _settling_cell(64, 10, "10 still moving"),
        ],
    }
    (lower, *_) = findings._accuracy_headlines([c])
    assert (
        "in 1 of 1 condition; the difference (largest batch size − best) is −0.050" in lower["text"]
    )
    assert "largest drop" not in lower["text"]
    assert (
        "(condition 0; at the 60-epoch budget, where no run at B ≥ 32 had settled: at the "
        "largest, 10 still moving)" in lower["text"]
    )
    c["cells"][-1] = _settling_cell(64, 2, "2 still moving")
    assert findings.budget_caveat(c) == ""


def test_the_budget_caveat_says_any_batch_size_where_none_settled():
    """lr-tuning: no run at any batch size settled; "B ≥ 4" (the smallest) reads as if larger
    batch sizes were singled out."""
    c = {
        "keys": {"dataset": "d", "optimizer": "sgd", "lr_scaling": "constant", "budget": "e60"},
        "batch_sizes": [4, 32, 64],
        "cells": [_settling_cell(b, 10, "10 still moving") for b in (4, 32, 64)],
    }
    text = findings.budget_caveat(c)
    assert "where no run at any batch size had settled: at the largest, 10 still moving" in text
    assert "B ≥" not in text


def test_the_findings_give_each_claims_verdict_with_its_evidence_link():
    """seed: claim 2 supported with its interval; each claim links to its own evidence; a
    batch size below the largest that is practically lower than the best is named."""
    settle = Effect(-56.4, -66.5, -46.3, 5, METHOD_PAIRED_T, verdict=DIFFERENT)
    c = _condition(SAME) | {"id": "c1", "batch_sizes": [32, 256, 512]}
    c["claims"].insert(
        0,
        claims.Verdict(
            claims.CLAIM_SETTLING, "", claims.SUPPORTED, "", {"difference": settle}
        ).to_dict(),
    )
    lower = Effect(-0.108, -0.195, -0.022, 5, METHOD_PAIRED_T, verdict=DIFFERENT)
    c["accuracy"] = {"comparisons": {"256": lower.to_dict(), "512": lower.to_dict()}}
    verdicts, others = findings._claims_headlines([c])
    assert (
        "2 “Small batches stabilise in fewer epochs than large ones”: supported — small − large "
        "median settling epoch (epochs): −56.4 [−66.5, −46.3] (paired t, n = 5)" in verdicts["text"]
    )
    numbers = [v["number"] for v in c["claims"]]
    assert [x["anchor"] for x in verdicts["links"]] == [f"c1-claim-{n}" for n in numbers]
    assert others["text"].endswith(
        "condition 0: B = 256 (−0.108 [−0.195, −0.022] (paired t, n = 5))."
    )
    many = findings._claims_headlines([c, c | {"id": "c2"}])[0]["text"]
    assert "2 “Small batches stabilise in fewer epochs than large ones”: supported in 2" in many


def test_a_findings_verdict_that_its_interval_does_not_give_says_so():
    """default: claim 2 inconclusive beside a "different" interval (the runs counted at the
    budget withhold it); seed: claim 2 not testable, said in the line."""
    settle = Effect(-55.0, -69.0, -40.9, 10, METHOD_PAIRED_T, verdict=DIFFERENT)
    c = _condition(SAME) | {"id": "c1", "batch_sizes": [32, 256, 512]}
    c["claims"].insert(
        0,
        claims.Verdict(
            claims.CLAIM_SETTLING, "", claims.INCONCLUSIVE, "", {"difference": settle}
        ).to_dict(),
    )
    text = findings._claims_headlines([c])[0]["text"]
    assert (
        "(paired t, n = 10) (the verdict goes beyond this interval's own three-way reading: see "
        "claim 2)" in text
    )
    c["claims"][0] = claims.Verdict(
        claims.CLAIM_SETTLING, "", claims.INCONCLUSIVE, f"{claims.NOT_TESTABLE} (B = 4: …)", {}
    ).to_dict()
    text = findings._claims_headlines([c])[0]["text"]
    assert "than large ones”: inconclusive (not testable at this rate);" in text
    c["claims"][0] = claims.Verdict(
        claims.CLAIM_SETTLING, "", claims.INCONCLUSIVE, f"{claims.NOT_TESTABLE_BUDGET}: …", {}
    ).to_dict()
    text = findings._claims_headlines([c])[0]["text"]
    assert "than large ones”: inconclusive (not testable under this budget);" in text
    many = findings._claims_headlines([c, c | {"id": "c2"}])[0]["text"]
    assert "ones”: inconclusive (not testable under this budget) in 2;" in many


def test_the_findings_name_reversals_that_rest_on_loss_rising_small_batch_runs():
    """Claim 2 not supported by a reversal whose evidence carries the loss-rising caveat: the
    line of one condition says so, and the tally says how many of its "not supported" do."""
    c = _condition(SAME) | {"id": "c1", "batch_sizes": [4, 8, 64, 512]}
    caveated = f"Only a one-sided comparison … {claims.LOSS_RISING_REVERSAL}: 17 of 20 …"
    c["claims"].insert(
        0, claims.Verdict(claims.CLAIM_SETTLING, "", claims.NOT_SUPPORTED, caveated).to_dict()
    )
    text = findings._claims_headlines([c])[0]["text"]
    assert f"than large ones”: not supported ({claims.LOSS_RISING_TALLY});" in text
    reversed_ = c["claims"][0] | {"evidence": "Paired difference … Reversed: the small …"}
    plain = c | {"id": "c2", "claims": [reversed_, *c["claims"][1:]]}
    assert "(under this" not in findings._claims_headlines([plain])[0]["text"]
    many = findings._claims_headlines([c, c | {"id": "c2"}, plain])[0]["text"]
    assert f"than large ones”: not supported in 3 (2 of the 3 {claims.LOSS_RISING_TALLY});" in many
    every = findings._claims_headlines([c, c | {"id": "c2"}])[0]["text"]
    assert f"not supported in 2 (all 2 {claims.LOSS_RISING_TALLY});" in every


def test_the_bcrit_headline_says_what_it_rests_on():
    fit = _fit(10, 40, 20) | {"fitted_sizes": [4, 8, 16]}
    cells = [
        {"batch_size": b, "steps": Effect(100.0, 90.0, 120.0, 10, "m", n_censored=k).to_dict()}
        for b, k in ((4, 0), (8, 2), (16, 0))
    ]
    c = {"label": "c", "n_seeds": 10, "targets": [_target(fit) | {"cells": cells}]}
    (head,) = findings._critical_batch_headlines([c])
    assert (
        "It rests on 10 seeds per batch size; fitted medians that count runs that never reached "
        "the target (as above the budget): B = 8 (2 of 10); the bootstrap interval's coverage "
        "at these seed counts is not checked." in head["text"]
    )


def test_a_b_crit_below_the_tested_range_prints_no_estimate_and_is_not_usable():
    """A fit the steps do not place (`scaling.below_tested_range`) prints no number or
    interval, says where it was fitted, and is not counted as usable; the rule is in the
    Definitions' settings."""
    fit = _fit(0.01, 1.48, 0.0601, below_range=True, not_reached=[128])
    text = findings._fit_text(_target(fit))
    assert text.startswith(f"B_crit for the 95% accuracy target: {scaling.BELOW_RANGE_WORDS};")
    assert "0.0601" not in text and "1.48" not in text
    assert "fitted on B = 4–64 (5 batch sizes)" in text and "Not reached" in text
    assert "RMSE" not in text and findings.POOR_FIT_WORDS not in text  # rel_rmse 5%: not poor
    assert not findings.usable_fit(_fit(0.01, 5.0, 0.5, below_range=True))
    assert findings.usable_fit(_fit(0.01, 5.0, 0.5))
    settings = findings.settings_doc(IntervalSettings(n_boot=10), False)
    assert settings["below_range_rule"] == scaling.BELOW_RANGE_RULE


def test_a_poor_fit_below_the_tested_range_gives_its_relative_rmse_and_flag():
    """The lr-tuning study's blobs · sgd · lr 0.1 loss target: steps 1425, 123.5, 147, 154 put
    B_crit below the range with a relative RMSE near 46%; the sentence says the fit is poor in
    the words the other fits use."""
    fit = _fit(0.01, 1.48, 2.7, below_range=True, rel_rmse=0.458)
    text = findings._fit_text(_target(fit))
    assert text.startswith(f"B_crit for the 95% accuracy target: {scaling.BELOW_RANGE_WORDS};")
    assert text.endswith(
        "(see Definitions); relative RMSE of the fit 45.8%; the fit is poor, so even its placing "
        "B_crit there is uncertain."
    )
    assert f"{findings.POOR_FIT_WORDS}: its interval covers" in findings._fit_text(
        _target(_fit(10, 40, 20, rel_rmse=0.458))
    )


def test_claim_1_and_4_counts_say_how_many_timing_stages_they_rest_on():
    """Conditions of one dataset, optimizer and budget share one timing stage: the Findings'
    counts of claims 1 and 4 and the wall-time line say how many stages there are, when fewer
    than the timed conditions; nothing when each condition has its own."""
    shared = [_wall_condition([8], 5, i, budget="e20") for i in range(3)]
    for c in shared:
        c["claims"].insert(
            0, claims.Verdict(claims.CLAIM_TIME_PER_EPOCH, "", claims.SUPPORTED, "").to_dict()
        )
    (line, *_) = findings._claims_headlines(shared)
    assert (
        f"“Larger batches take less time per epoch” (the seconds per epoch of 3 conditions rest "
        f"on 1 timing stage, {findings.STAGE_SHARED}): supported in 3" in line["text"]
    )
    assert line["text"].count("rest on 1 timing stage") == 2  # claims 1 and 4
    (wall,) = findings._wall_time_headlines(shared)
    assert f"per batch size, in 1 timing stage ({findings.STAGE_SHARED})." in wall["text"]
    untimed = _wall_condition([], None, 3, budget="e20")
    claim_1 = shared[0]["claims"][0]
    assert findings._stages([*shared, untimed], claim_1) == (
        f" (the seconds per epoch of 3 conditions rest on 1 timing stage, {findings.STAGE_SHARED})"
    )
    own = [_wall_condition([8], 5, i) for i in range(3)]
    assert findings._stages(own, claim_1) == ""
    assert "timing stage" not in findings._wall_time_headlines(own)[0]["text"]
