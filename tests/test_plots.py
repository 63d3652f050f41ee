"""The plot stage: one read of the aggregate tables for every condition, each condition's figures
at its path, and fixed margins that keep every drawn text inside the figure and apart from the
others (no TensorFlow, no snakemake)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_CONFIG, fake_condition, plot_keys, write_fake_job

from batchstudy import config, plots
from batchstudy.aggregate import aggregate
from batchstudy.io import FormatError, read_table, write_table
from batchstudy.metrics import CONDITION_KEYS

COND = ("blobs", "adam", "constant", "e6")
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

    def spy(history, runs, summary, out_dir, settings):
        tables = {"h": history, "r": runs, "s": summary}
        drawn[out_dir] = {t: set(df["base_lr"]) for t, df in tables.items()}
        return draw(history, runs, summary, out_dir, settings)

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
