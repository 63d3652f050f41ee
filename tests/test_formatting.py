"""The one formatter of the report's numbers: censored medians, missing values, labels."""

from __future__ import annotations

import json
import math
from dataclasses import replace

from batchstudy import formatting as fmt
from batchstudy.config import Condition
from batchstudy.stats import (
    EQUIVALENT,
    INCONCLUSIVE,
    METHOD_MEDIAN,
    METHOD_PAIRED_T,
    METHOD_T,
    Effect,
    IntervalSettings,
    judge,
)


def test_censored_median_above_the_budget_reads_in_words():
    e = Effect(math.inf, 40.0, math.inf, 10, METHOD_MEDIAN, n_censored=6)
    assert fmt.interval(e, "count") == "> budget (6 of 10 never reached)"
    assert fmt.interval(e, "count", "never settled") == "> budget (6 of 10 never settled)"


def test_open_upper_end_and_censored_count_are_shown():
    e = Effect(30.0, 20.0, math.inf, 10, METHOD_MEDIAN, n_censored=3)
    assert fmt.interval(e, "count") == "30 [20, > budget] (3 of 10 never reached)"


def test_a_loss_median_with_exploded_runs_reads_the_level_not_a_budget():
    above = Effect(math.inf, 0.9, math.inf, 10, METHOD_MEDIAN, n_censored=6)
    assert fmt.interval(above, "loss", "exploded") == "> 10× chance (6 of 10 exploded)"
    some = Effect(1.21, 0.95, math.inf, 10, METHOD_MEDIAN, n_censored=4)
    assert fmt.interval(some, "loss", "exploded") == "1.21 [0.950, > 10× chance] (4 of 10 exploded)"


def test_a_ratio_open_above_reads_so_not_as_a_budget():
    """A ratio whose numerator's censored median is above the budget has no upper end; a
    ratio is no budget, so its +inf end and estimate read "open above"."""
    e = Effect(6.52, 5.27, math.inf, 10, METHOD_MEDIAN, n_censored=4)
    assert fmt.interval(e, "ratio") == "6.52× [5.27×, open above] (4 of 10 never reached)"
    gone = Effect(math.inf, math.inf, math.inf, 10, METHOD_MEDIAN, n_censored=10)
    assert fmt.interval(gone, "ratio") == "open above (10 of 10 never reached)"
    assert fmt.end(math.inf, "ratio") == fmt.RATIO_OPEN
    assert fmt.end(math.inf, "seconds") == fmt.ABOVE_BUDGET


def test_effect_names_method_n_and_a_family_level():
    e = Effect(-0.185, -0.239, -0.142, 10, METHOD_PAIRED_T, level=1 - 0.05 / 7)
    assert fmt.effect(e, "difference") == "−0.185 [−0.239, −0.142] (paired t, n = 10, 99.29% level)"


def test_missing_numbers_never_read_nan():
    assert fmt.interval(Effect(0.8, math.nan, math.nan, 1, METHOD_PAIRED_T), "accuracy") == (
        "0.800 (one run, no interval)"
    )
    assert fmt.interval(Effect(math.nan, math.nan, math.nan, 0, METHOD_PAIRED_T), "count") == (
        fmt.NOT_ESTIMABLE
    )
    for f in (fmt.number, fmt.accuracy, fmt.signed, fmt.seconds, fmt.ratio, fmt.correlation):
        assert f(math.nan) == fmt.NOT_ESTIMABLE and f(math.inf) == fmt.NOT_ESTIMABLE


def test_numbers_and_labels():
    assert fmt.number(1234.5) == "1,230" and fmt.number(362) == "362"
    assert fmt.seconds(0.000573) == "0.573 ms" and fmt.seconds(2.5) == "2.50 s"
    keys = {
        "dataset": "blobs",
        "optimizer": "adam",
        "lr_scaling": "sqrt",
        "base_lr": 0.001,
        "budget": "s2000",
    }
    label = "blobs · adam · lr sqrt · base lr 0.001 · 2000 steps"
    assert fmt.condition(keys) == label == Condition.from_keys(keys).label
    # a table may hold the rate as text; a label leaves out what every line shares
    text_keys = keys | {"base_lr": "1e-05"}
    assert fmt.condition(text_keys, skip=("dataset", "budget")) == "adam · lr sqrt · base lr 1e-05"
    assert fmt.condition(keys, skip=tuple(keys)) == "all runs"
    assert fmt.sizes([4, 8]) == "B ∈ {4, 8}" and fmt.sizes([]) == "none"


def test_learning_rate_forms_read_as_rates():
    assert fmt.learning_rates(0.001) == "base lr 0.001"
    assert fmt.learning_rates([0.001, 1e-05]) == "base lr grid 0.001, 1e-05"
    assert fmt.learning_rates({"min": 1e-4, "max": 1e-2, "num": 3}) == (
        "base lr 3 values log-spaced from 0.0001 to 0.01 (0.0001, 0.001, 0.01)"
    )
    assert fmt.warmup({"arms": ["constant"]}) == "no warmup"
    over = "scaled arms warm up linearly over"
    assert fmt.warmup({"warmup_steps": 50}) == f"{over} 50 optimizer steps"
    assert fmt.warmup({"warmup_epochs": 2}) == f"{over} 2 epochs"


def test_a_value_that_rounds_to_zero_prints_unsigned_also_inside_intervals():
    for f, zero in ((fmt.signed, "0.000"), (fmt.signed_count, "0.0"), (fmt.correlation, "0.00")):
        assert f(-0.0001) == f(0.0001) == f(-0.0) == zero
    assert fmt.number(-0.0) == "0" and fmt.accuracy(-0.0001) == "0.000"
    assert fmt.percent(-0.0001) == "0.0%"
    e = Effect(-0.0002, -0.0134, 0.0121, 10, METHOD_PAIRED_T)
    # a signed estimate that rounds to zero shows its sign's digit too
    assert fmt.interval(e, "difference") == "−0.0002 [−0.013, +0.012]"
    e = Effect(-0.022, -0.044, -0.0003, 10, METHOD_PAIRED_T)
    # an end that rounds to zero shows the digit of its sign, never "−0.000"
    assert fmt.interval(e, "difference") == "−0.022 [−0.044, −0.0003]"
    # the sign convention stays for everything else
    assert fmt.signed(-0.0006) == "−0.001" and fmt.signed(0.003) == "+0.003"
    assert fmt.number(-0.5) == "-0.500"


def test_huge_magnitudes_print_in_scientific_form_never_as_long_integers():
    assert fmt.number(5.12e28) == "5.12×10²⁸" and fmt.number(-4.32e28) == "-4.32×10²⁸"
    assert fmt.number(fmt.SCIENTIFIC_FROM) == "1.00×10⁶"
    assert fmt.number(999_999.7) == "1.00×10⁶"  # rounds up to the threshold
    assert fmt.number(999_400.4) == "999,000" and fmt.number(999.7) == "1,000"
    assert fmt.number(999_400) == "999,400"  # a whole number prints exactly
    assert fmt.signed(5.12e28) == "+5.12×10²⁸" and fmt.signed(-5.12e28) == "−5.12×10²⁸"
    assert fmt.ratio(2.5e7) == "2.50×10⁷×" and fmt.percent(1e5) == "1.00×10⁷%"
    e = Effect(5.12e28, 1.1e27, 1.43e29, 10, METHOD_PAIRED_T)
    assert fmt.interval(e, "loss") == "5.12×10²⁸ [1.10×10²⁷, 1.43×10²⁹]"
    for f in (fmt.number, fmt.signed, fmt.signed_count, fmt.seconds, fmt.ratio, fmt.accuracy):
        assert len(f(5.12e28)) < 14


def test_counts_take_the_number_of_their_noun():
    assert fmt.counted(1, "condition") == "1 condition"
    assert fmt.counted(28, "condition") == "28 conditions"


def test_numbers_from_a_thousand_keep_a_half_that_survives_rounding():
    """A median of 1822.5 steps printed with enough digits keeps its .5 (no half-to-even
    rounding to 1,822); at three significant digits it is 1,820; whole numbers stay whole."""
    assert fmt.number(1822.5, 6) == "1,822.5"
    assert fmt.number(1822.5) == "1,820"
    assert fmt.number(2000.0, 6) == "2,000"


def test_an_end_that_would_print_as_the_margin_shows_its_side():
    settings = IntervalSettings()
    inside = judge(Effect(-0.003, -0.00996, 0.004, 10, METHOD_PAIRED_T), 0.01, settings)
    outside = judge(Effect(-0.003, -0.01004, 0.004, 10, METHOD_PAIRED_T), 0.01, settings)
    assert (inside.verdict, outside.verdict) == (EQUIVALENT, INCONCLUSIVE)
    # at the default precision both would read "[−0.010, +0.004]"
    bare = [fmt.interval(replace(e, boundaries=()), "difference") for e in (inside, outside)]
    assert bare[0] == bare[1] == "−0.003 [−0.010, +0.004]"
    assert fmt.interval(inside, "difference") == "−0.003 [−0.00996, +0.004]"
    assert fmt.interval(outside, "difference") == "−0.003 [−0.01004, +0.004]"
    # the fewest extra digits that separate; an end exactly on the margin stays as it was
    assert fmt.end(-0.0098, "difference", (-0.01, 0.01)) == "−0.0098"
    assert fmt.end(0.01, "difference", (-0.01, 0.01)) == "+0.010"
    assert fmt.end(0.0123, "difference", (-0.01, 0.01)) == "+0.012"
    # a ratio against its margin 1.1, a count difference against ±5 epochs
    assert fmt.end(1.0996, "ratio", (1 / 1.1, 1.1)) == "1.0996×"
    assert fmt.end(1 / 1.1 + 1e-4, "ratio", (1 / 1.1, 1.1)) == "0.9092×"
    assert fmt.end(-4.97, "count_difference", (-5.0, 5.0)) == "−4.97"


def test_boundaries_travel_with_the_effect_through_json():
    e = judge(Effect(-0.003, -0.01004, 0.004, 10, METHOD_PAIRED_T), 0.01, IntervalSettings())
    back = Effect.from_dict(json.loads(json.dumps(e.to_dict())))
    assert back == e and back.boundaries == (-0.01, 0.0, 0.01)
    old = {k: v for k, v in e.to_dict().items() if k != "boundaries"}  # written before them
    assert Effect.from_dict(old).boundaries == ()


def test_integer_valued_quantities_print_exactly_with_their_interval_ends():
    """Steps, examples and epochs (and medians of them, a whole number or a half) are exact:
    37 epochs × 125 steps = 4,625 steps, never "4,620"; an interval end of 1,125 or 6,075
    too; a .5 median stays."""
    e = Effect(4625.0, 1625.0, 5125.0, 5, "percentile bootstrap over seeds of the censored median")
    assert fmt.interval(e, "count") == "4,625 [1,625, 5,125]"
    e = Effect(900.0, 787.5, 1125.0, 10, "percentile bootstrap over seeds of the censored median")
    assert fmt.interval(e, "count") == "900 [787.5, 1,125]"
    assert fmt.count(1822.5) == "1,822.5" and fmt.count(3465) == "3,465"
    assert fmt.count(12.3456) == "12.3"  # not a count: as a measured number
    assert fmt.number(4625) == "4,625" and fmt.number(5125.0) == "5,125"


def test_measured_numbers_keep_their_trailing_zeros_constants_print_as_given():
    """Three significant digits everywhere, zeros kept (0.120, 13.0×, 3.10×); a configured
    margin reads as configured (0.01, 1.1×)."""
    assert fmt.number(0.11996) == "0.120" and fmt.ratio(12.97) == "13.0×"
    assert fmt.ratio(3.1) == "3.10×" and fmt.number(0.93) == "0.930"
    e = Effect(0.116, 0.112, 0.11996, 10, "t-interval over seeds")
    assert fmt.interval(e, "loss") == "0.116 [0.112, 0.120]"
    assert fmt.exact(0.01) == "0.01" and fmt.exact(1.1) == "1.1" and fmt.exact(5.0) == "5"
    assert fmt.exact(35.0) == "35" and fmt.exact(2000) == "2,000"


def test_learning_rates_print_one_way_in_tables_labels_and_text():
    rate = 0.3162
    label = Condition.from_keys(
        {
            "dataset": "d",
            "optimizer": "sgd",
            "lr_scaling": "constant",
            "base_lr": rate,
            "budget": "e10",
        }
    ).label
    assert f"base lr {fmt.learning_rate(rate)}" in label and fmt.learning_rate(rate) == "0.3162"
    assert fmt.learning_rate(0.0003162 * 4 / 32) == "3.952e-05"
    assert fmt.learning_rate(0.1 * 3) == "0.3"  # no float noise (0.30000000000000004)


def test_a_value_compared_with_a_boundary_shows_the_digits_that_place_it():
    """A B_crit of 3.998 "below the smallest fitted B = 4" must not print as 4 (or 4.00); an
    R² of 0.796 "below the 0.80 needed" not as 0.80; an RMSE of 9.96% beside a 10% limit
    not as 10.0%."""
    assert fmt.end(3.998, "size", (4, 128)) == "3.998"
    assert fmt.end(3.997, "size", (4, 128)) == "3.997"
    assert fmt.end(9.29, "size", (4, 128)) == "9.29"
    assert fmt.end(4.0, "size", (4, 128)) == "4"
    assert fmt.end(0.796, "correlation", (0.8,)) == "0.796"
    assert fmt.end(0.0996, "percent", (0.10,)) == "9.96%"
    e = Effect(3.998, 3.16, 6.93, 10, "bootstrap", boundaries=(4.0, 128.0))
    assert fmt.interval(e, "size") == "3.998 [3.16, 6.93]"


def test_a_value_on_a_boundary_up_to_float_noise_prints_at_the_normal_precision():
    """−0.010000026 is −0.01 in float noise, −5.9e-9 is 0: such an estimate decides nothing
    against the boundary and prints "−0.010", "0.000"; a value genuinely near the boundary
    still gets the digits that place it."""
    e = Effect(-0.010000026, -0.019, -0.001, 10, METHOD_PAIRED_T, boundaries=(-0.01, 0.01))
    assert fmt.interval(e, "difference") == "−0.010 [−0.019, −0.001]"
    zero = Effect(-5.9e-9, -0.005, 0.005, 10, METHOD_PAIRED_T, boundaries=(-0.01, 0.01))
    assert fmt.interval(zero, "difference") == "0.000 [−0.005, +0.005]"
    assert fmt.end(1.1 + 1e-12, "ratio", (1 / 1.1, 1.1)) == "1.10×"
    assert fmt.end(-0.01004, "difference", (-0.01, 0.01)) == "−0.01004"
    assert fmt.end(-1e-4, "difference", (-0.01, 0.01)) == "−0.0001"


def test_a_whole_number_ratio_keeps_three_significant_digits():
    """A measured ratio of 13 reads 13.0×, of 2 reads 2.00×; the exact whole-number rule is
    for counts (`number`, `count`)."""
    assert fmt.ratio(13.0) == "13.0×" and fmt.ratio(2) == "2.00×" and fmt.ratio(1.0) == "1.00×"
    e = Effect(15.0, 12.1, math.inf, 10, "percentile bootstrap over seeds of the censored median")
    assert fmt.interval(e, "ratio") == "15.0× [12.1×, open above]"
    assert fmt.interval(Effect(2.0, 2.0, 2.6, 10, METHOD_PAIRED_T), "ratio") == (
        "2.00× [2.00×, 2.60×]"
    )
    assert fmt.number(13.0) == "13" and fmt.count(2.0) == "2"


def test_arm_labels_nest_in_parentheses_without_parentheses_of_their_own():
    """The text puts an arm's label in parentheses ("by a fixed rule (…)"): the label has
    none of its own, so no "(lr ∝ B (linear scaling))"."""
    for name in fmt.ARM_LABELS:
        assert "(" not in fmt.arm(name) and ")" not in fmt.arm(name)
    assert fmt.arm("linear") == "linear scaling, lr ∝ B"


def test_a_budget_before_a_noun_is_hyphenated():
    assert fmt.budget_attributive("e60") == "60-epoch"
    assert fmt.budget_attributive("s1000") == "1,000-step"


def test_a_t_interval_of_identical_values_says_so_instead_of_a_zero_width_interval():
    same = Effect(1.0, 1.0, 1.0, 10, METHOD_T)
    assert fmt.interval(same, "accuracy") == "1.000 (all 10 equal: no spread, no interval)"
    assert fmt.effect(same, "accuracy") == fmt.interval(same, "accuracy")  # no "(t, n = 10)"
    boot = Effect(6.0, 6.0, 6.0, 10, METHOD_MEDIAN)
    assert fmt.interval(boot, "count") == "6 [6, 6]"  # a percentile bootstrap's own ends


def test_a_lower_bound_number_is_rounded_down_so_it_stays_a_bound():
    """A mean of lower bounds of 79.95 is "≥ 79.9", not "≥ 80.0" (above the data); values the
    usual rounding already prints below or at themselves, and whole numbers, are unchanged."""
    assert fmt.number_at_least(79.95) == "79.9" and fmt.number(79.95) == "80.0"
    assert fmt.number_at_least(89.85) == "89.8" and fmt.number_at_least(86.9) == "86.9"
    assert fmt.number_at_least(88.0) == "88" and fmt.number_at_least(9.999) == "9.99"
    assert fmt.number_at_least(1234.56) == "1,230" and fmt.number_at_least(0.1234) == "0.123"


def test_an_accuracy_bound_rounds_away_from_what_it_bounds():
    # where the usual rounding (the printed interval end) would cross the bound, one digit
    # more: "at least 0.0636" beside an interval end printed −0.064, never 0.063 nor 0.064
    assert fmt.accuracy_bound(0.06367, "lower") == "0.0636"
    assert fmt.accuracy_bound(0.0632, "lower") == "0.063"
    assert fmt.accuracy_bound(0.0147, "upper") == "0.015"
    assert fmt.accuracy_bound(0.0141, "upper") == "0.0141"
    assert fmt.accuracy_bound(0.064, "lower") == "0.064"  # an exact value stays
