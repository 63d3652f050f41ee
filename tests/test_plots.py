"""The plot stage: one read of the aggregate tables for every condition, each condition's figures
at its path, and fixed margins that keep every drawn text inside the figure and apart from the
others (no TensorFlow, no snakemake)."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from conftest import TINY_CONFIG, fake_condition, plot_keys, write_fake_job

from batchstudy import config, plots, scaling, stats
from batchstudy import formatting as fmt
from batchstudy.aggregate import aggregate
from batchstudy.io import FormatError, read_table, write_table
from batchstudy.metrics import CONDITION_KEYS

COND = ("blobs", "adam", "constant", "e6")


@pytest.fixture(autouse=True)
def _close_figures():
    """Figures kept open by a test (its `_save` replaced) are closed after it."""
    yield
    plt.close("all")


RATES = (0.001, 0.01)
SIZES = (4, 16, 64)


@pytest.fixture(scope="module")
def agg(tmp_path_factory) -> Path:
    """Aggregate tables of two conditions (two base rates of one job), three batch sizes."""
    root = tmp_path_factory.mktemp("plots")
    paths = [write_fake_job(root, COND, b, [0, 1, 2], 6, base_lr=lr) for lr in RATES for b in SIZES]
    metrics = config.validate(TINY_CONFIG)["metrics"]
    aggregate(sorted(set(paths)), root / "agg", metrics, log=lambda m: None)
    return root / "agg"


def conditions() -> list[dict[str, str]]:
    return [plot_keys(fake_condition(COND, lr)) for lr in RATES]


def test_every_condition_gets_its_figures_from_its_own_rows(agg, tmp_path, monkeypatch):
    drawn = {}
    draw = plots.draw_condition

    def spy(history, runs, summary, out_dir, settings, repeats=None, timing=True):
        tables = {"h": history, "r": runs, "s": summary}
        drawn[out_dir] = {t: set(df["base_lr"]) for t, df in tables.items()}
        assert repeats is None  # the fixture's study has no timing stage
        return draw(history, runs, summary, out_dir, settings, repeats, timing)

    monkeypatch.setattr(plots, "draw_condition", spy)
    paths = plots.plot_conditions(agg, tmp_path, conditions(), {"dpi": 40})
    assert len(paths) == len(RATES) * len(plots.PLOTS)
    for lr in RATES:
        out = tmp_path / fake_condition(COND, lr).path
        assert drawn[out] == {"h": {lr}, "r": {lr}, "s": {lr}}
        for name in plots.PLOTS:
            assert (out / f"{name}.png").stat().st_size > 1000


def test_the_tables_are_read_with_the_figures_columns_only(agg):
    history = plots.read_plot_table(agg, "history")
    (rows, *_) = history.values()
    assert set(rows.columns) == {*CONDITION_KEYS, *plots.PLOT_COLUMNS["history"][0]}
    (runs, *_) = plots.read_plot_table(agg, "runs").values()
    assert {"target_95", "target_99"} <= set(runs.columns)  # the targets the figures draw
    assert "final_test_accuracy" not in runs.columns
    (summary, *_) = plots.read_plot_table(agg, "summary").values()
    assert "steps_to_target_95_median" in summary.columns
    assert "final_val_accuracy_mean" not in summary.columns
    assert len(history) == len(RATES)


def test_a_column_the_figures_need_is_named_when_missing(agg, tmp_path):
    (tmp_path / "agg").mkdir()
    for name in plots.PLOT_COLUMNS:
        df = read_table(agg / f"{name}.tsv")
        if name == "runs":
            df = df.drop(columns="settling_epoch")
        write_table(tmp_path / "agg" / f"{name}.tsv", df)
    with pytest.raises(FormatError, match="settling_epoch"):
        plots.plot_conditions(tmp_path / "agg", tmp_path, conditions(), {})


def test_a_condition_without_rows_fails_before_any_figure(agg, tmp_path):
    other = plot_keys(fake_condition(COND, 0.1))
    with pytest.raises(ValueError, match="no rows for condition .*base lr 0.1"):
        plots.plot_conditions(agg, tmp_path / "out", [*conditions(), other], {})
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="lacks"):
        plots.plot_conditions(agg, tmp_path / "out", [{"dataset": "blobs"}], {})


def test_margins_are_inches():
    kw = plots.Margins(left=1, bottom=0.5, top=0.5, right=1, wspace=1).gridspec((5, 3), 1, 2)
    # axes 1 in wide each: a 1 in gap is one axes width
    assert kw == pytest.approx(
        {"left": 0.2, "right": 0.8, "bottom": 0.5 / 3, "top": 2.5 / 3, "wspace": 1.0, "hspace": 0}
    )
    with pytest.raises(ValueError, match="no room"):
        plots.Margins(left=3, bottom=0.5, top=0.5, right=3).gridspec((5, 3), 1, 1)


def drawn_texts(fig) -> list[tuple[str, object, object]]:
    """(text, window extent, its axes or None) of every text the figure draws: the tick labels
    within the view, offsets, axis labels, titles, legends, texts and the suptitle."""
    texts = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            texts += [(tick.label1, ax) for tick in axis._update_ticks()]
            texts += [(axis.label, ax), (axis.offsetText, ax)]
        texts += [(t, ax) for t in (ax.title, ax._left_title, ax._right_title, *ax.texts)]
        if ax.get_legend():
            texts += [(t, ax) for t in ax.get_legend().get_texts()]
    texts += [(t, None) for leg in fig.legends for t in leg.get_texts()]
    texts += [(fig._suptitle, None)] if fig._suptitle else []
    r = fig.canvas.get_renderer()
    return [
        (t.get_text(), t.get_window_extent(r), ax)
        for t, ax in texts
        if t.get_visible() and t.get_text().strip()
    ]


def layout_problems(fig) -> list:
    """Texts outside the figure, overlapping another text, or over another axes."""
    fig.canvas.draw()
    texts = drawn_texts(fig)
    box = fig.bbox
    bad = [s for s, b, _ in texts if not (box.x0 <= b.x0 and b.x1 <= box.x1)]
    bad += [s for s, b, _ in texts if not (box.y0 <= b.y0 and b.y1 <= box.y1)]
    bad += [
        (s, t) for i, (s, b, _) in enumerate(texts) for t, c, _ in texts[i + 1 :] if b.overlaps(c)
    ]
    bad += [
        (s, ax) for s, b, own in texts for ax in fig.axes if ax is not own and b.overlaps(ax.bbox)
    ]
    return bad


def test_every_text_is_inside_its_figure_and_apart_from_the_others(agg, tmp_path, monkeypatch):
    """What tight_layout used to see to, checked on the four figures as drawn."""
    problems = {}
    save = plots._save

    def check(fig, out, dpi):
        problems[Path(out).name] = layout_problems(fig)
        save(fig, out, dpi)

    monkeypatch.setattr(plots, "_save", check)
    plots.plot_conditions(agg, tmp_path, conditions()[:1], {"dpi": 40})
    assert sorted(problems) == sorted(f"{p}.png" for p in plots.PLOTS)
    assert problems == {name: [] for name in problems}


def test_learning_curve_bands_stay_inside_the_metric_range():
    """Three seeds, one far off: the raw t band of an accuracy passes 1; drawn, it is clipped
    to [0, 1] like the findings' intervals, and the mean is unchanged."""
    from batchstudy.plots import mean_band
    from batchstudy.stats import value_range

    acc = np.array([[0.99, 0.5], [0.97, 0.6], [0.7, 0.55]])
    mean, lo, hi = mean_band(acc)
    assert hi[0] > 1.0  # unbounded: the t band leaves the range
    mean_c, lo_c, hi_c = mean_band(acc, bounds=value_range("val_accuracy"))
    assert np.array_equal(mean, mean_c) and hi_c[0] == 1.0 and lo_c[0] == lo[0]
    assert np.array_equal(lo_c[1:], lo[1:]) and np.array_equal(hi_c[1:], hi[1:])


def test_learning_curve_band_is_the_findings_t_interval_per_column():
    """The band of every epoch is `stats.t_interval` of that epoch's seeds (one rule), NaN
    seeds left out; a column with one value has zero width, one with none stays NaN."""
    from batchstudy.plots import mean_band
    from batchstudy.stats import IntervalSettings, t_interval, value_range

    rng = np.random.default_rng(3)
    values = rng.normal(0.8, 0.1, size=(7, 5))
    values[[1, 4], 2] = np.nan
    values[1:, 3] = np.nan  # one seed only
    values[:, 4] = np.nan  # no seed
    for level in (0.95, 0.9):
        for bounds in ((-np.inf, np.inf), value_range("val_accuracy")):
            with warnings.catch_warnings():  # the empty column's nanmean warns
                warnings.simplefilter("ignore", RuntimeWarning)
                mean, lo, hi = mean_band(values, level, bounds)
            for j in range(3):
                e = t_interval(values[:, j], IntervalSettings(level=level), bounds=bounds)
                assert (mean[j], lo[j], hi[j]) == pytest.approx((e.estimate, e.lo, e.hi), 1e-12)
            assert lo[3] == hi[3] == mean[3] and np.isnan([mean[4], lo[4], hi[4]]).all()


def test_conditions_drawn_by_two_processes_give_the_same_files(agg, tmp_path):
    """`workers=2` draws the conditions in two forked processes: the same figures, byte for
    byte, as one process draws them."""
    one = plots.plot_conditions(agg, tmp_path / "one", conditions(), {"dpi": 40})
    two = plots.plot_conditions(agg, tmp_path / "two", conditions(), {"dpi": 40}, workers=2)
    assert [p.relative_to(tmp_path / "one") for p in one] == [
        p.relative_to(tmp_path / "two") for p in two
    ]
    for a, b in zip(one, two, strict=True):
        assert a.read_bytes() == b.read_bytes(), a


def test_conditions_of_one_job_share_one_drawing_of_the_timing_figure(agg, tmp_path, monkeypatch):
    """The fixture's two base rates are one job, so one clock: the timing figure is drawn once
    and copied, and the copy is the picture the second condition's own inputs give."""
    calls = []
    draw = plots.plot_timing

    def counted(summary, out, dpi, repeats=None):
        calls.append(out)
        return draw(summary, out, dpi, repeats)

    monkeypatch.setattr(plots, "plot_timing", counted)
    paths = plots.plot_conditions(agg, tmp_path / "both", conditions(), {"dpi": 40})
    timing = [p for p in paths if p.name == "timing.png"]
    assert len(timing) == 2 and len(calls) == 1
    assert timing[0].read_bytes() == timing[1].read_bytes()
    (alone,) = (
        p
        for p in plots.plot_conditions(agg, tmp_path / "alone", conditions()[1:], {"dpi": 40})
        if p.name == "timing.png"
    )
    assert alone.read_bytes() == timing[1].read_bytes()


def test_timing_figures_are_shared_only_between_equal_inputs():
    summary = _timing_summary().assign(engine="fused", seconds_per_step=0.01, extra=1.0)
    key = plots.timing_figure_key(summary, None)
    assert plots.timing_figure_key(summary.assign(extra=2.0).iloc[::-1], None) == key
    slower = summary.assign(seconds_per_epoch_hi=summary["seconds_per_epoch_hi"] * (1 + 1e-12))
    assert plots.timing_figure_key(slower, None) != key
    assert plots.timing_figure_key(summary, _timing_repeats_rows()) != key
    assert plots.timing_leaders([key, "other", key]) == [0, 1, 0]


# --------------------------------------------------------------------------- the overview

ABOVE = "above budget"


def effect(estimate, lo=None, hi=None) -> dict:
    return {"estimate": estimate, "lo": lo, "hi": hi, "level": 0.95, "method": "m", "n": 3}


def overview_rows(lines: list[dict], sizes=SIZES, steps=None) -> list[dict]:
    """Overview rows of each line (condition keys): accuracy and steps that differ per line,
    unless `steps(i, b)` gives the steps effect."""
    rows = []
    for i, keys in enumerate(lines):
        for b in sizes:
            step = steps(i, b) if steps else effect(100.0 * (i + 1) / b, 50.0 / b, 200.0 * (i + 1))
            acc = 0.5 + 0.01 * i
            rows.append(
                {
                    "dataset": "blobs",
                    "panel": "blobs",
                    **keys,
                    "batch_size": b,
                    "test_accuracy": effect(acc, acc - 0.02, acc + 0.02),
                    "steps_to_target": step,
                    "target": "95",
                }
            )
    return rows


def tuning_lines() -> list[dict]:
    """14 lines: 2 optimizers x 7 base rates (partly shared), one arm, one budget."""
    rates = {"adam": np.logspace(-4, -1, 7), "sgd": np.logspace(-3, 0, 7)}
    return [
        {"optimizer": o, "lr_scaling": "constant", "base_lr": float(lr), "budget": "e6"}
        for o, lrs in rates.items()
        for lr in lrs
    ]


def scaling_lines() -> list[dict]:
    """12 lines: 2 optimizers (one base rate each) x 3 lr arms x 2 budgets."""
    return [
        {"optimizer": o, "lr_scaling": arm, "base_lr": lr, "budget": budget}
        for o, lr in (("adam", 0.001), ("sgd", 0.01))
        for arm in ("constant", "linear", "sqrt")
        for budget in ("e100", "s1000")
    ]


def drawn_overview(monkeypatch, rows) -> object:
    """The overview figure of `rows`, as `plot_overview` saves it."""
    figs = []
    monkeypatch.setattr(plots, "_save", lambda fig, out, dpi: figs.append(fig))
    plots.plot_overview(rows, None, 40)
    (fig,) = figs
    return fig


def connected(ax) -> list:
    """The lines through an axes' points (not the error bars' caps nor the open triangles)."""
    return [line for line in ax.get_lines() if line.get_linestyle() != "None"]


def line_looks(ax) -> list[tuple]:
    """(colour, line style, marker) of every line through an axes' points."""
    from matplotlib.colors import to_hex

    return [(to_hex(ln.get_color()), ln.get_linestyle(), ln.get_marker()) for ln in connected(ax)]


@pytest.mark.parametrize("lines", [tuning_lines(), scaling_lines()], ids=["tuning", "scaling"])
def test_no_two_overview_lines_look_alike(lines, monkeypatch):
    fig = drawn_overview(monkeypatch, overview_rows(lines))
    for ax in fig.axes:
        looks = line_looks(ax)
        assert len(looks) == len(lines)
        assert len(set(looks)) == len(lines), looks
    (legend,) = fig.legends
    assert len(legend.get_texts()) == len(lines)


def test_the_encoding_follows_the_keys():
    """Colour from the lr arm, marker from the optimizer, style from the budget; the base lr,
    fixed by the optimizer, is left to the labels. Base rates alone get a sequential ramp
    up to `LR_RAMP_MAX` rates, categorical colours beyond."""
    lines = pd.DataFrame(scaling_lines())
    enc = plots.line_encoding(lines, list(plots.LINE_KEYS))
    assert (enc.colour_keys, enc.marker_key, enc.style_key) == (
        ("lr_scaling",),
        "optimizer",
        "budget",
    )
    tuning = pd.DataFrame(tuning_lines())
    enc = plots.line_encoding(tuning, ["optimizer", "base_lr"])
    assert (enc.colour_keys, enc.marker_key, enc.style_key) == (("base_lr",), "optimizer", None)
    assert len(set(enc.colours.values())) == tuning["base_lr"].nunique() == 9
    few = tuning[tuning["base_lr"].isin(sorted(tuning["base_lr"].unique())[:3])]
    ramp = plots.line_encoding(few, ["optimizer", "base_lr"]).colours
    assert not any(str(c).startswith("C") for c in ramp.values())  # the sequential ramp
    one = plots.line_encoding(tuning[:1], [])
    assert one.style(tuning.iloc[0]) == {"color": "C0", "marker": "o", "ls": "-"}


def cielab(colour) -> np.ndarray:
    """A colour in CIELAB (D65), where a distance (ΔE) of ~2 is just noticeable."""
    from matplotlib.colors import to_rgb

    c = np.array(to_rgb(colour))
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = m @ c / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


@pytest.mark.parametrize("n_rates", [3, 4, 7, 9])
def test_overview_colours_of_base_rates_are_far_apart(n_rates):
    """The lr-tuning overview colours its lines by base rate alone: any two of its colours
    differ by ΔE ≥ 25 (CIELAB), where the plasma ramp's 7 rates differed by 16."""
    lines = pd.DataFrame(tuning_lines())
    rates = sorted(lines["base_lr"].unique())[:n_rates]
    enc = plots.line_encoding(lines[lines["base_lr"].isin(rates)], ["optimizer", "base_lr"])
    labs = [cielab(c) for c in enc.colours.values()]
    assert len(labs) == n_rates
    gaps = [np.linalg.norm(a - b) for i, a in enumerate(labs) for b in labs[i + 1 :]]
    assert min(gaps) >= 25


def test_overview_lines_with_the_same_values_are_shifted_apart(monkeypatch):
    lines = scaling_lines()[:2]
    same = overview_rows(lines, steps=lambda i, b: effect(100.0, 90.0, 110.0))
    fig = drawn_overview(monkeypatch, same)
    xs = [tuple(line.get_xdata()) for line in connected(fig.axes[1])]
    assert len(xs) == 2 and xs[0] != xs[1]
    ratio = np.array(xs[1]) / np.array(xs[0])
    assert np.allclose(ratio, ratio[0]) and 1 < ratio[0] < 2**plots.DODGE_SPAN


def test_overview_keeps_its_points_and_marks_open_intervals(monkeypatch):
    """A median above the budget has no point; an interval open above it an open triangle;
    the legend says so, below the axes; no text leaves the figure or overlaps another."""

    def steps(i, b):
        if b == SIZES[-1]:
            return effect(ABOVE, ABOVE, ABOVE)
        return effect(100.0 / b, 50.0 / b, ABOVE if b == SIZES[1] else 200.0 / b)

    fig = drawn_overview(monkeypatch, overview_rows(tuning_lines(), steps=steps))
    top, bottom = fig.axes
    marks = [line for line in bottom.get_lines() if line.get_marker() == "^"]
    assert len(marks) == 14 and all(len(m.get_xdata()) == 1 for m in marks)
    assert [len(line.get_xdata()) for line in connected(bottom)] == [len(SIZES) - 1] * 14
    assert [len(line.get_xdata()) for line in connected(top)] == [len(SIZES)] * 14
    (legend,) = fig.legends
    assert legend.get_texts()[-1].get_text() == "interval open above the budget"
    assert layout_problems(fig) == []
    box = legend.get_window_extent(fig.canvas.get_renderer())
    assert not any(box.overlaps(ax.get_window_extent()) for ax in (top, bottom))


def _scaling_tables(n_seeds: int, open_top: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A condition's summary (steps and seconds to one 95% accuracy target and its loss
    target) and runs with `n_seeds` per batch size; B = 64's upper end open where asked."""
    sizes = [4, 16, 64]
    summary = pd.DataFrame({"batch_size": sizes, "target_95": 0.9})
    for q in ("steps", "seconds"):
        for name in (f"{q}_to_target_95", f"{q}_to_loss_95"):
            est = np.array([400.0, 150.0, 80.0])
            summary[f"{name}_median"] = est
            summary[f"{name}_lo"] = est * 0.8
            summary[f"{name}_hi"] = [est[0] * 1.2, est[1] * 1.2, np.inf if open_top else 100.0]
    runs = pd.DataFrame({"batch_size": np.repeat(sizes, n_seeds), "target_95": 0.9})
    return summary, runs


def drawn_scaling(monkeypatch, summary, runs) -> object:
    figs = []
    monkeypatch.setattr(plots, "_save", lambda fig, out, dpi: figs.append(fig))
    plots.plot_scaling(summary, runs, None, 40)
    (fig,) = figs
    return fig


@pytest.mark.parametrize("open_top", [True, False])
def test_the_scaling_legend_names_the_open_triangle_where_one_is_drawn(monkeypatch, open_top):
    fig = drawn_scaling(monkeypatch, *_scaling_tables(10, open_top))
    for ax in fig.axes:
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert (plots.OPEN_LABEL in labels) == open_top
        assert "95% bootstrap" in ax.get_ylabel()


def test_median_intervals_below_six_seeds_are_labelled_as_the_seeds_range(monkeypatch):
    assert stats.range_coverage(5) == 0.9375 and stats.range_coverage(6) > 0.95
    assert plots.median_interval_words(6) == "nominal 95% bootstrap"
    fig = drawn_scaling(monkeypatch, *_scaling_tables(5, False))
    for ax in fig.axes:
        assert "95% bootstrap" not in ax.get_ylabel()
        assert "(median, ≤ range of 5 seeds, coverage ≤ 93.75%)" in ax.get_ylabel()


def test_a_loss_panel_that_exploded_draws_the_median_over_seeds():
    """One seed's loss at 1e28 makes the mean curve 1e27 and its band meaningless: by the
    summary's rule (a value above 10x chance, or non-finite) the panel draws the median, with
    non-finite values counted above the others and no point where half or more are."""
    from batchstudy.plots import exploded_panel, median_curve

    chance = np.log(3)
    calm = np.array([[0.9, 0.5, 0.4], [1.0, 0.6, 0.5], [1.1, 0.7, 0.6]])
    blown = calm.copy()
    blown[2, 1:] = [1e28, np.nan]
    assert not exploded_panel([calm], chance)
    assert exploded_panel([calm, blown], chance)
    assert exploded_panel([np.where(calm > 1, np.nan, calm)], np.nan)  # non-finite only
    assert not exploded_panel([blown[:, :1]], chance)
    from batchstudy.plots import EXPLODED_EARLY_TITLE, EXPLODED_TITLE, exploded_title

    assert exploded_title([calm, blown], chance) == EXPLODED_TITLE
    early = np.hstack([blown, calm[:, -1:]])  # exploded before, not at the last epoch
    assert exploded_panel([early], chance)
    assert exploded_title([early], chance) == EXPLODED_EARLY_TITLE
    np.testing.assert_allclose(median_curve(blown), [1.0, 0.6, 0.5])
    half = np.array([[0.5, np.nan], [np.inf, np.nan]])
    assert np.isnan(median_curve(half)).all()


def test_no_bcrit_is_drawn_on_a_target_no_better_than_chance():
    """The figure fits what the text fits: nothing on a loss target at or above ln(n_classes)
    or an accuracy target at or below chance; unjudged without the chance columns."""
    runs = pd.DataFrame(
        {
            "target_95": [0.504],
            "loss_target_95": [35.7],
            "target_99": [0.38],
            "loss_target_99": [0.5],
            "chance_accuracy": [0.38],
            "chance_loss": [np.log(3)],
        }
    )
    assert plots.at_chance_targets(runs, ["95", "99"]) == {"95% loss", "99% acc"}
    assert plots.at_chance_targets(runs.drop(columns="chance_loss"), ["95", "99"]) == {"99% acc"}


def test_the_timing_and_curve_figures_say_what_their_numbers_are(agg, tmp_path, monkeypatch):
    """The per-step panel is the epoch's seconds over its steps, evaluations included, not a
    step's own time; the learning curves' band is a t-band over the condition's n seeds."""
    figs = {}
    monkeypatch.setattr(plots, "_save", lambda fig, out, dpi: figs.update({Path(out).stem: fig}))
    plots.plot_conditions(agg, tmp_path, conditions()[:1], {"dpi": 40})
    per_step = figs["timing"].axes[1].get_ylabel()
    assert "evaluations included" in per_step and "steps per epoch" in per_step
    assert "evaluations included" in figs["timing"]._suptitle.get_text()
    assert "training jobs' clocks" in figs["timing"].axes[0].get_ylabel()
    assert plots.TIMING_JOBS_NOTE in figs["timing"]._suptitle.get_text()
    title = figs["curves"]._suptitle.get_text()
    assert title == plots.curves_title(3, any_exploded=False)
    assert "n = 3 seeds. Accuracy: mean, 95% t-band. Loss: geometric mean" in title
    assert "median" not in title.replace("median settling", "")


def test_the_scaling_legends_sit_below_the_points(monkeypatch):
    """Eight batch sizes whose points zigzag over the whole height of the panels (as the
    seed study's wall times do): each panel's legend sits in room below the data, over none
    of the drawn points."""
    sizes = [4, 8, 16, 32, 64, 128, 256, 512]
    zigzag = {
        "target_95": np.array([10.0, 1e3, 10.0, 1e3, 10.0, 1e3, 10.0, 1e3]),
        "loss_95": np.array([1e3, 10.0, 1e3, 10.0, 1e3, 10.0, 1e3, 10.0]),
        "target_99": np.array([30.0, 300.0, 30.0, 300.0, 30.0, 300.0, 30.0, 300.0]),
        "loss_99": np.array([300.0, 30.0, 300.0, 30.0, 300.0, 30.0, 300.0, 30.0]),
    }
    summary = pd.DataFrame({"batch_size": sizes, "target_95": 0.9, "target_99": 0.95})
    for q in ("steps", "seconds"):
        for name, est in zigzag.items():
            summary[f"{q}_to_{name}_median"] = est
            summary[f"{q}_to_{name}_lo"] = est * 0.8
            summary[f"{q}_to_{name}_hi"] = est * 1.2
    runs = pd.DataFrame({"batch_size": np.repeat(sizes, 10), "target_95": 0.9, "target_99": 0.95})
    fig = drawn_scaling(monkeypatch, summary, runs)
    fig.canvas.draw()
    checked = 0
    for ax in fig.axes:
        box = ax.get_legend().get_window_extent()
        # the points only (lines with markers): the guide lines (perfect scaling, the fit, an
        # axvline) may run into the legend's room, the axis being kept to the data
        drawn = [line for line in ax.lines if line.get_marker() not in ("None", "", None)]
        points = ax.transData.transform(np.vstack([line.get_xydata() for line in drawn]))
        points = points[np.isfinite(points).all(axis=1)]
        # every point drawn above the legend's columns lies above the legend
        above = points[(points[:, 0] >= box.x0) & (points[:, 0] <= box.x1)]
        assert (above[:, 1] > box.y1).all()
        checked += len(above)
    assert checked  # the wall-time panel has points over its legend's columns


def test_the_seconds_to_target_panel_says_it_is_estimated_on_the_training_jobs_clocks(
    monkeypatch,
):
    """Seconds to target are epochs × the training job's median s/epoch, not the timing
    stage's repeats that claims 1 and 4 use: the panel says so."""
    fig = drawn_scaling(monkeypatch, *_scaling_tables(10, False))
    seconds = fig.axes[1]
    assert "epochs × job's median s/epoch" in seconds.get_ylabel()
    assert "estimated (the training jobs' clocks)" in seconds.get_title()


def _timing_summary(per_epoch=(0.52, 0.37, 0.28), sizes=(8, 32, 128)) -> pd.DataFrame:
    """A condition's timing rows with the own-csv study's long tick labels (5×10⁻¹, 2×10⁻²)."""
    est = np.array(per_epoch)
    spe = np.array([63, 16, 4])
    return pd.DataFrame(
        {
            "batch_size": sizes,
            "engine": "keras",
            "steps_per_epoch": spe,
            "seconds_per_epoch_median": est,
            "seconds_per_epoch_lo": est * 0.95,
            "seconds_per_epoch_hi": est * 1.05,
            "seconds_per_step": est / spe,
        }
    )


def _timing_repeats_rows(sizes=(8, 32, 128), k=5) -> pd.DataFrame:
    """The aggregate ``timing_repeats.tsv`` rows of two job keys: the condition's (its times
    fall with B) and another budget's (ten times slower), which must not be drawn."""
    rng = np.random.default_rng(0)
    rows = []
    for budget, scale in (("e6", 1.0), ("e60", 10.0)):
        for r in range(k):
            for i, b in enumerate(sizes):
                rows.append(
                    {
                        "dataset": "blobs",
                        "optimizer": "adam",
                        "budget": budget,
                        "batch_size": b,
                        "repeat": r,
                        "seconds_per_epoch": scale * 0.2 / (i + 1) * rng.lognormal(0, 0.1),
                    }
                )
    return pd.DataFrame(rows)


def drawn_timing(monkeypatch, summary, repeats) -> object:
    figs = []
    monkeypatch.setattr(plots, "_save", lambda fig, out, dpi: figs.append(fig))
    plots.plot_timing(summary, None, 40, repeats)
    (fig,) = figs
    return fig


def test_the_timing_figure_draws_claim_1s_repeats_beside_the_training_jobs_clocks(monkeypatch):
    """With a timing stage the left panel's first series is claim 1's numbers (geometric mean
    and t-interval of the log seconds over the condition's job key's repeats, the same
    `claims.repeat_seconds`), labelled as the evidence of claims 1 and 4; the training jobs'
    clocks are a second, labelled series; the title says which is which."""
    from batchstudy import claims
    from batchstudy.stats import IntervalSettings

    cond = fake_condition(COND, 0.01)
    rows = _timing_repeats_rows()
    table = plots.condition_repeats(rows, cond, [8, 32, 128])
    assert table.shape == (5, 3) and table.to_numpy().max() < 1.0  # its own job key only
    fig = drawn_timing(monkeypatch, _timing_summary(), table)
    left = fig.axes[0]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert len(labels) == 2
    assert "claims 1 and 4" in labels[0] and "5 interleaved repeats" in labels[0]
    assert "training jobs' clocks" in labels[1]
    assert plots.TIMING_REPEATS_NOTE in fig._suptitle.get_text()
    repeat_line = next(line for line in left.lines if line.get_color() == "C0")
    expected = [claims.repeat_seconds(table, b, IntervalSettings()) for b in (8, 32, 128)]
    np.testing.assert_allclose(repeat_line.get_ydata(), [e.estimate for e in expected])
    # the error bars: the exponentiated t-interval of the log seconds
    bars = [c for c in left.collections if len(c.get_segments()) == 3]
    ends = {tuple(np.round(seg[:, 1], 12)) for c in bars for seg in c.get_segments()}
    assert {(round(e.lo, 12), round(e.hi, 12)) for e in expected} <= ends
    # per step: the same over the steps per epoch
    step_line = next(line for line in fig.axes[1].lines if line.get_color() == "C0")
    np.testing.assert_allclose(
        step_line.get_ydata(), [e.estimate / s for e, s in zip(expected, [63, 16, 4], strict=True)]
    )
    assert layout_problems(fig) == []


def test_without_a_timing_stage_the_timing_figure_says_no_verdict_rests_on_it(monkeypatch):
    assert plots.condition_repeats(None, fake_condition(COND), [8, 32, 128]) is None
    fig = drawn_timing(monkeypatch, _timing_summary(), None)
    assert plots.TIMING_JOBS_NOTE in fig._suptitle.get_text()
    assert "no wall-time verdict" in fig._suptitle.get_text()
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [plots.TIMING_JOBS_LABEL]
    assert layout_problems(fig) == []  # the right panel's label clear of the left's ticks


def test_the_plot_stage_reads_the_timing_repeats_of_each_conditions_job(agg, tmp_path, monkeypatch):
    """`plot_conditions` reads ``timing_repeats.tsv`` beside the tables and hands each
    condition its job key's repeats; a header-only table (no timing stage) gives none."""
    import shutil

    copy = tmp_path / "agg"
    shutil.copytree(agg, copy)
    seen = {}

    def spy(history, runs, summary, out_dir, settings, repeats=None, timing=True):
        seen[out_dir] = repeats
        return [out_dir / f"{name}.png" for name in plots.PLOTS]

    monkeypatch.setattr(plots, "draw_condition", spy)
    rows = _timing_repeats_rows(SIZES).assign(order=1, epochs=2, seconds_per_step=0.1, replicas=3)
    write_table(copy / "timing_repeats.tsv", rows)
    plots.plot_conditions(copy, tmp_path / "out", conditions()[:1], {"dpi": 40})
    (table,) = seen.values()
    assert list(table.columns) == list(SIZES) and table.shape[0] == 5
    assert table.to_numpy().max() < 1.0
    write_table(copy / "timing_repeats.tsv", rows.iloc[:0])
    plots.plot_conditions(copy, tmp_path / "out", conditions()[:1], {"dpi": 40})
    assert list(seen.values()) == [None]


def test_the_curves_title_names_median_panels_only_where_one_is_drawn():
    plain, exploded = (plots.curves_title(10, e) for e in (False, True))
    assert "t-band of log loss" in plain and 'titled "median"' not in plain
    assert 'Loss panels titled "median": median over seeds, no band.' in exploded
    assert plots.EXPLODED_TITLE.startswith("median") and plots.EXPLODED_EARLY_TITLE.startswith(
        "median"
    )


def test_the_loss_band_is_a_geometric_mean_band_that_stays_above_zero():
    """Five seeds with one skewed early loss: the plain t band of the loss runs below 0; the
    band of the log loss, exponentiated, stays above 0 and brackets the geometric mean; it is
    `stats.t_interval` of the logs per epoch, a loss ≤ 0 left out."""
    from batchstudy.plots import log_mean_band, mean_band
    from batchstudy.stats import IntervalSettings, t_interval

    loss = np.array([[9.0, 0.5], [0.6, 0.4], [0.5, 0.45], [0.7, 0.42], [0.55, 0.0]])
    assert mean_band(loss)[1][0] < 0
    gm, lo, hi = log_mean_band(loss)
    assert (lo > 0).all() and (lo <= gm).all() and (gm <= hi).all()
    e = t_interval(np.log(loss[:, 0]), IntervalSettings())
    assert (gm[0], lo[0], hi[0]) == pytest.approx(np.exp([e.estimate, e.lo, e.hi]))
    assert gm[1] == pytest.approx(np.exp(np.log(loss[:4, 1]).mean()))


def test_a_column_where_every_seed_diverged_is_a_gap_without_a_warning():
    values = np.array([[0.5, np.nan, 0.7], [0.6, np.nan, np.nan]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mean, lo, hi = plots.mean_band(values)
    assert mean[0] == pytest.approx(0.55) and lo[0] < 0.55 < hi[0]
    assert np.isnan([mean[1], lo[1], hi[1]]).all()
    assert (mean[2], lo[2], hi[2]) == (0.7, 0.7, 0.7)


def _history(losses: np.ndarray, sizes=(32, 64)) -> tuple[pd.DataFrame, pd.DataFrame]:
    """History and runs of one condition: `losses` (seeds x epochs) for every curve."""
    n_seeds, n_epochs = losses.shape
    rows = [
        {
            "batch_size": b,
            "seed": s,
            "epoch": e + 1,
            "end_train_accuracy": 0.8,
            "val_accuracy": 0.8,
            "end_train_loss": losses[s, e],
            "val_loss": losses[s, e] * 1.1,
        }
        for b in sizes
        for s in range(n_seeds)
        for e in range(n_epochs)
    ]
    runs = pd.DataFrame(
        {
            "batch_size": np.repeat(sizes, n_seeds),
            "settling_epoch": np.nan,
            "diverged": False,
            "plateau_val_accuracy": 0.8,
            "chance_loss": np.log(3),
        }
    )
    return pd.DataFrame(rows), runs


def test_the_curves_titles_fit_where_a_loss_exploded_early(monkeypatch):
    """One seed's loss above 10× chance in an early epoch: the loss panels say "median" in a
    title that fits the panel, and the suptitle names such panels."""
    losses = np.tile(np.linspace(1.2, 0.4, 20), (10, 1))
    losses[3, 1] = 50.0
    figs = []
    monkeypatch.setattr(plots, "_save", lambda fig, out, dpi: figs.append(fig))
    plots.plot_curves(*_history(losses), None, 2, 90)
    (fig,) = figs
    assert fig.axes[1].get_title(loc="left") == plots.EXPLODED_EARLY_TITLE
    assert fig._suptitle.get_text() == plots.curves_title(10, any_exploded=True)
    assert layout_problems(fig) == []


def _steps_rows(series: dict[str, np.ndarray], sizes) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Summary and runs of one condition whose steps (and seconds) to each target in
    `series` (``target_95`` / ``loss_95`` ...) are the given medians, ±20%."""
    summary = pd.DataFrame({"batch_size": sizes})
    for q in ("steps", "seconds"):
        for name, est in series.items():
            summary[f"{q}_to_{name}_median"] = est
            summary[f"{q}_to_{name}_lo"] = est * 0.8
            summary[f"{q}_to_{name}_hi"] = est * 1.2
    runs = pd.DataFrame({"batch_size": np.repeat(sizes, 10), "target_95": 0.9})
    return summary, runs


def test_the_steps_panel_names_bcrit_only_where_drawn_and_labels_near_equal_lines(monkeypatch):
    """Two targets whose fits give nearly one B_crit (≈ 64, within the tested range): each
    dotted line's value is in its target's legend label, and the title names the dotted line;
    steps that barely fall with B (B_crit below the range): no line, and no word of one."""
    sizes = np.array([8, 16, 32, 64, 128, 256])
    curve = 100 + 6400 / sizes
    fig = drawn_scaling(
        monkeypatch, *_steps_rows({"target_95": curve, "loss_95": curve * 1.02}, sizes)
    )
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert [lb.split(",")[0] for lb in labels[:2]] == ["target 95% acc", "target 95% loss"]
    assert all("B_crit 64" in lb for lb in labels[:2])
    assert all("indicative" not in lb for lb in labels[:2])  # the fit is exact, 6 points
    assert "dotted: B_crit" in ax.get_title()
    assert len([line for line in ax.lines if line.get_linestyle() == ":"]) == 2
    flat = np.full(len(sizes), 100.0) + 1 / sizes
    none = np.full(len(sizes), np.nan)  # the loss target: never reached
    fig = drawn_scaling(monkeypatch, *_steps_rows({"target_95": flat, "loss_95": none}, sizes))
    ax = fig.axes[0]
    assert "B_crit" not in ax.get_title()
    assert not [line for line in ax.lines if line.get_linestyle() == ":"]
    assert all("B_crit" not in t.get_text() for t in ax.get_legend().get_texts())


def test_a_poor_bcrit_fit_is_flagged_in_its_legend_label(monkeypatch):
    """Steps with a bend no S_min + E_min/B curve follows (relative RMSE above
    `scaling.POOR_FIT_RMSE`): the drawn B_crit's label says the fit is poor."""
    sizes = np.array([8, 16, 32, 64, 128, 256])
    zigzag = (100 + 6400 / sizes) * np.array([1.0, 1.6, 0.7, 1.5, 0.7, 1.4])
    fit = scaling.fit_critical_batch(sizes, zigzag)
    assert fit["ok"] and fit["rel_rmse"] > scaling.POOR_FIT_RMSE
    assert not scaling.below_tested_range(fit["b_crit"], 8.0)
    never = np.full(len(sizes), np.nan)  # the loss target: never reached
    fig = drawn_scaling(monkeypatch, *_steps_rows({"target_95": zigzag, "loss_95": never}, sizes))
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[0].endswith(f"B_crit {fmt.number(fit['b_crit'])}\n(poor fit: indicative)")
    assert plots.bcrit_flags(fit | {"n_points": 3, "in_range": False}) == (
        " (poor fit, 3 points: indicative; estimate extrapolated)"
    )
    assert plots.bcrit_flags(fit | {"rel_rmse": 0.01}) == ""


def test_the_steps_title_names_the_fitted_curve_only_where_one_is_drawn(monkeypatch):
    """Every target reached by fewer than 3 batch sizes: no fit, so no thin curve; the title
    says so instead of naming one."""
    sizes = np.array([16, 32, 64, 128, 256, 512])
    never = np.full(len(sizes), np.nan)
    two = np.array([100.0, 60.0, *never[2:]])
    fig = drawn_scaling(monkeypatch, *_steps_rows({"target_95": two, "loss_95": never}, sizes))
    title = fig.axes[0].get_title().replace("\n", " ")
    assert "thin: fit" not in title and "no fit drawn" in title
    assert "thin: fit" in plots.steps_title(False, [])


def test_the_steps_title_wraps_to_fit_with_targets_at_chance(monkeypatch):
    """Two targets at chance lengthen the title: wrapped, it stays inside the figure."""
    sizes = np.array([16, 32, 64, 128, 256, 512])
    summary, runs = _steps_rows(
        {"target_95": 50 * 16 / sizes + 4, "loss_95": 10 * 64 / sizes + 1}, sizes
    )
    runs = runs.assign(loss_target_95=2.0, chance_loss=np.log(3))
    fig = drawn_scaling(monkeypatch, summary, runs)
    title = fig.axes[0].get_title()
    assert "no fit on 95% loss (targets at chance)" in title.replace("\n", " ")
    assert max(len(line) for line in title.split("\n")) <= plots.SCALING_TITLE_WIDTH
    assert layout_problems(fig) == []


def test_the_steps_axis_is_limited_to_the_data_not_the_guide_lines(monkeypatch):
    """Steps that stop falling at large B: the perfect-scaling line runs two decades below
    the points; the axis keeps to the points (and the legend's room), not to that line."""
    sizes = np.array([4, 8, 16, 32, 64, 128, 256])
    fig = drawn_scaling(
        monkeypatch,
        *_steps_rows(
            {
                "target_95": np.array([900, 700, 450, 380, 350, 400, 210.0]),
                "loss_95": np.full(len(sizes), np.nan),
            },
            sizes,
        ),
    )
    lo, hi = fig.axes[0].get_ylim()
    data_lo, data_hi = 210 * 0.8, 900 * 1.2
    assert hi == pytest.approx(data_hi * 1.25)
    # below the data: only the legend's room (a share of the data's own span)
    span = np.log10(data_hi * 1.25) - np.log10(data_lo / 1.25)
    assert np.log10(data_lo / 1.25) - np.log10(lo) == pytest.approx(span * plots.LEGEND_ROOM)
    assert np.log10(data_lo) - np.log10(lo) < 1.0  # was three decades


def test_log_axes_label_the_same_ticks_as_matplotlib_in_plain_text():
    """`log_scale` labels a log axis' ticks as matplotlib's own log scale does, the mathtext
    written as plain text (2×10⁻¹, 10⁰, 2³); other labels are kept as they are."""
    assert plots.plain_tick_label(r"$\mathdefault{2\times10^{-1}}$") == "2×10⁻¹"
    assert plots.plain_tick_label(r"$\mathdefault{2^{3}}$") == "2³"
    assert plots.plain_tick_label(r"$\mathdefault{-10^{0}}$") == "−10⁰"
    assert plots.plain_tick_label("") == "" and plots.plain_tick_label("0.5") == "0.5"
    for base, values in ((10, [0.3, 0.5, 2.0]), (2, [4, 64, 512]), (10, [1e-5, 1e-2])):
        labels = []
        for plain in (False, True):
            fig, ax = plt.subplots()
            ax.plot(values, values)
            if plain:
                plots.log_scale(ax, "y", base=base)
            else:
                ax.set_yscale("log", base=base)
            fig.canvas.draw()
            ticks = [*ax.yaxis.get_majorticklabels(), *ax.yaxis.get_minorticklabels()]
            labels.append([t.get_text() for t in ticks])
            plt.close(fig)
        assert any(labels[0]) and labels[1] == [plots.plain_tick_label(t) for t in labels[0]]
