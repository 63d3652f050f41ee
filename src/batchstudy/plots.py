"""Figures of each condition, drawn from the aggregate tables (matplotlib, no display).

`plot_conditions` reads the tables once (the columns of `PLOT_COLUMNS`) and draws every
condition it is given; each figure is laid out by fixed `Margins`, drawn once, by ``savefig``.

- ``curves.png``: the seed's grid of learning curves, one row per batch size, accuracy beside
  loss (train on the whole training split, validation), mean over seeds with a 95% t-band
  (mean ± t·SE per epoch), the seeds' n in the title; a loss panel where a seed's loss
  exploded (`exploded_panel`) draws the median over seeds on a log scale instead.
- ``accuracy.png``: final train (whole split) and test accuracy vs batch size, 95% t-intervals.
- ``timing.png``: seconds per epoch and per optimizer step (the epoch's seconds over its steps,
  so its evaluations included) vs batch size: the training jobs' own clocks and, where the
  study has a timing stage, its interleaved repeats that claims 1 and 4 rest on.
- ``scaling.png``: steps to each accuracy and loss target vs batch size (censored medians),
  with the perfect-scaling line and the fitted critical-batch-size curve (McCandlish et al.
  2018); seconds to the target.
- ``plot_overview``: the report's small multiples across conditions, from the findings.
"""

from __future__ import annotations

import base64
import concurrent.futures
import dataclasses
import functools
import io
import multiprocessing
import re
import shutil
import textwrap
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import LogFormatterSciNotation  # noqa: E402
from matplotlib.transforms import ScaledTranslation  # noqa: E402

from . import claims, scaling  # noqa: E402
from . import formatting as fmt  # noqa: E402
from .aggregate import TIMING_REPEATS_TABLE_COLUMNS  # noqa: E402
from .config import Condition  # noqa: E402
from .findings import job_rows  # noqa: E402
from .formatting import condition  # noqa: E402
from .io import read_table  # noqa: E402
from .layout import PLOT_NAMES as PLOTS  # noqa: E402
from .metrics import CONDITION_KEYS as KEYS  # noqa: E402
from .metrics import (  # noqa: E402
    EXPLODED_LOSS_FACTOR,
    exploded_losses,
    settled_below_target,
    target_suffixes,
)
from .stats import (  # noqa: E402
    LEVEL,
    Effect,
    IntervalSettings,
    censored_median_value,
    censored_medians,
    range_coverage,
    t_half_width,
    value_range,
)

#: The keys that name a condition's figure directory, in the order the plot stage takes them:
#: the condition keys. The directory itself is `batchstudy.config.Condition.path`
#: (``<dataset>/<optimizer>/<lr_scaling>/lr<base_lr>/<budget>``).
PLOT_PATH_KEYS = KEYS


def condition_dir(keys: dict[str, Any]) -> Path:
    """Where a condition's figures are, relative to the plot directory."""
    return Path(Condition.from_keys(keys).path)


@dataclass(frozen=True)
class Margins:
    """Fixed space around and between a figure's axes, in inches, set when the figure is made.

    They replace matplotlib's ``tight_layout``, which draws the whole figure once more before
    ``savefig`` draws it again. Each figure's margins are sized for its labels: one line of
    title, tick labels up to the width of ``9×10⁻⁴`` on log axes. The axes share what is left
    of the figure equally; a figure too small for its margins raises ValueError."""

    left: float
    bottom: float
    top: float
    right: float = 0.15
    wspace: float = 0.0  # between columns
    hspace: float = 0.0  # between rows

    def gridspec(self, size: tuple[float, float], nrows: int, ncols: int) -> dict[str, float]:
        """``plt.subplots``' ``gridspec_kw``: the margins as fractions of the figure, the gaps
        as fractions of an axes' width and height (matplotlib's units)."""
        width, height = size
        ax_w = (width - self.left - self.right - self.wspace * (ncols - 1)) / ncols
        ax_h = (height - self.bottom - self.top - self.hspace * (nrows - 1)) / nrows
        if ax_w <= 0 or ax_h <= 0:
            raise ValueError(f"a {width}x{height} in figure has no room for {self}")
        return {
            "left": self.left / width,
            "right": 1 - self.right / width,
            "bottom": self.bottom / height,
            "top": 1 - self.top / height,
            "wspace": self.wspace / ax_w,
            "hspace": self.hspace / ax_h,
        }


#: Inches between the top of a figure and its suptitle's top.
SUPTITLE_GAP = 0.1
#: Where an axes' title sits, in axes units: on its top edge (plus matplotlib's pad), where no
#: figure here has tick labels. Given explicitly, it spares matplotlib measuring every tick
#: label of the axes and its siblings to place the title at draw time.
TITLE_Y = 1.0
#: The four figures' margins (see `Margins`); a suptitle takes ~0.3 in of `top`.
CURVES_MARGINS = Margins(left=0.75, bottom=0.5, top=0.85, wspace=0.95, hspace=0.4)
ACCURACY_MARGINS = Margins(left=0.75, bottom=0.5, top=0.15)
# bottom: the x label and a two-line legend below it; wspace: the right panel's y label and
# its log tick labels (up to the width of 5×10⁻¹) clear of the left panel's.
TIMING_MARGINS = Margins(left=1.15, bottom=0.95, top=0.65, wspace=1.5)
TIMING_SIZE = (9.0, 4.3)
# top: a title of up to three lines (`steps_title`); the seconds panel's long y label (3.9 in),
# centred on the axes, stays inside the 4.4 in.
SCALING_MARGINS = Margins(left=1.15, bottom=0.5, top=0.75, wspace=1.6)
SCALING_SIZE = (10.0, 4.4)


#: Unicode superscripts of the characters of an exponent (`plain_tick_label`).
SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
_MATHDEFAULT = re.compile(r"^\$\\mathdefault\{(.*)\}\$$")
_POWER = re.compile(r"\^\{(-?\d+)\}")


def plain_tick_label(label: str) -> str:
    r"""A log axis' mathtext tick label in plain text: ``$\mathdefault{2\times10^{-1}}$`` ->
    ``2×10⁻¹``, ``$\mathdefault{2^{3}}$`` -> ``2³``, a sign as the minus sign; any other
    label (empty, or not of that form) unchanged."""
    match = _MATHDEFAULT.match(label)
    if match is None:
        return label
    body = match.group(1).replace(r"\times", "×")
    return _POWER.sub(lambda m: m.group(1).translate(SUPERSCRIPTS), body).replace("-", "−")


class PlainLogFormatter(LogFormatterSciNotation):
    """Matplotlib's log-axis labels (the same ticks labelled, the same numbers) as plain text
    (`plain_tick_label`): mathtext is parsed anew for every figure, ~1/8 of the figures'
    drawing time."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        return plain_tick_label(super().__call__(x, pos))


def log_scale(ax: Any, which: str, base: float = 10) -> None:
    """Put the ``"x"`` or ``"y"`` axis of `ax` on a log scale, labelled as matplotlib's default
    log scale labels it (decades; other ticks where few decades show), through
    `PlainLogFormatter`."""
    getattr(ax, f"set_{which}scale")("log", base=base)
    axis = getattr(ax, f"{which}axis")
    axis.set_major_formatter(PlainLogFormatter(base))
    axis.set_minor_formatter(PlainLogFormatter(base, labelOnlyBase=False))


def _figure(
    nrows: int, ncols: int, size: tuple[float, float], margins: Margins, **kw: Any
) -> tuple[Any, Any]:
    """A figure and its grid of axes, laid out by `margins` (``plt.subplots``' ``kw``)."""
    return plt.subplots(
        nrows, ncols, figsize=size, gridspec_kw=margins.gridspec(size, nrows, ncols), **kw
    )


def _suptitle(fig: Any, text: str) -> None:
    """The figure's title, `SUPTITLE_GAP` below its top edge whatever the figure's height."""
    fig.suptitle(text, fontsize=10, y=1 - SUPTITLE_GAP / fig.get_figheight(), va="top")


def _save(fig: Any, out: Any, dpi: int) -> None:
    fig.savefig(out, dpi=dpi, format="png")
    plt.close(fig)


def mean_band(
    values: np.ndarray, level: float = 0.95, bounds: tuple[float, float] = (-np.inf, np.inf)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over rows (seeds) and its t confidence band ``(lo, hi)``, per column, by the rule
    of `stats.t_interval` (`stats.t_half_width`); zero width where a column has one value. The
    band is clipped to `bounds`, the values' range (`stats.value_range`), as the findings'
    intervals are. A column without a finite value (every seed diverged) is NaN: a gap in
    the curve."""
    n = np.sum(np.isfinite(values), axis=0)
    with warnings.catch_warnings():  # numpy warns of the all-NaN columns' NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, axis=0)
        sd = np.nanstd(values, axis=0, ddof=1) if values.shape[0] > 1 else np.zeros_like(mean)
    half = np.where(n > 1, t_half_width(sd, n, level), 0.0)
    return mean, np.maximum(mean - half, bounds[0]), np.minimum(mean + half, bounds[1])


CURVE_PANELS = (
    (
        "accuracy",
        (("end_train_accuracy", "train (whole split)", "C0"), ("val_accuracy", "validation", "C1")),
    ),
    ("loss", (("end_train_loss", "train (whole split)", "C0"), ("val_loss", "validation", "C1"))),
)


#: The loss panel's y label and title where a loss exploded (`exploded_panel`); short
#: enough for the panel's width (a title starting "median" is what the suptitle refers to).
EXPLODED_LABEL = "loss (log scale)"
EXPLODED_TITLE = f"median, no band: a loss > {EXPLODED_LOSS_FACTOR:g}× chance"
#: The title where no run's final loss exploded, only earlier ones (`exploded_title`).
EXPLODED_EARLY_TITLE = (
    f"median, no band: a loss > {EXPLODED_LOSS_FACTOR:g}× chance before the last epoch"
)


def curves_title(n_seeds: int, any_exploded: bool, level: float = LEVEL) -> str:
    """The learning curves' suptitle, true of every panel: accuracy panels the mean with its
    t-band, loss panels the geometric mean with the t-band of the log loss (`log_mean_band`),
    and, where a loss panel exploded (`exploded_panel`), that those titled "median" are the
    median without a band."""
    pct = f"{level * 100:g}%"
    median = 'Loss panels titled "median": median over seeds, no band. ' if any_exploded else ""
    return (
        f"Learning curves, n = {n_seeds} seeds. Accuracy: mean, {pct} t-band. Loss: geometric "
        f"mean, {pct} t-band of log loss (stays above 0).\n{median}Dotted: median settling epoch."
    )


def exploded_title(wides: Sequence[np.ndarray], chance_loss: float) -> str:
    """An exploded loss panel's title: `EXPLODED_EARLY_TITLE` where the last epoch (column)
    holds no exploded value in any curve, else `EXPLODED_TITLE`."""
    last = [w[:, -1:] for w in wides if w.shape[1]]
    return EXPLODED_TITLE if exploded_panel(last, chance_loss) else EXPLODED_EARLY_TITLE


def exploded_panel(wides: Sequence[np.ndarray], chance_loss: float) -> bool:
    """Whether a loss panel's curves (seeds x epochs each) hold an exploded value, by the rule
    of the summary's final test loss (`batchstudy.metrics.exploded_losses`: non-finite, or
    above `EXPLODED_LOSS_FACTOR` x the chance loss; a NaN chance: non-finite only). A mean of
    such values says nothing, so the panel draws the median (`median_curve`) instead."""
    return any(bool(exploded_losses(w, chance_loss).any()) for w in wides)


def log_mean_band(
    values: np.ndarray, level: float = LEVEL
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Geometric mean over rows (seeds) of positive values (losses) and its band: `mean_band`
    of the logs, exponentiated, so that the band cannot reach 0 however skewed the seeds'
    values (early losses are); a value ≤ 0 (a loss of exactly 0) is left out like NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(values > 0, np.log(np.where(values > 0, values, 1.0)), np.nan)
    mean, lo, hi = mean_band(logs, level)
    return np.exp(mean), np.exp(lo), np.exp(hi)


def median_curve(values: np.ndarray) -> np.ndarray:
    """Per epoch (column) the median over seeds with non-finite values counted as above every
    other (`stats.censored_medians`); NaN (not drawn) where half or more are, or none is
    present."""
    x = np.asarray(values, dtype=float)
    med = censored_medians(np.where(np.isfinite(x), x, np.inf), axis=0)
    return np.where(np.isfinite(med), med, np.nan)


def _curve_panel(ax: Any, h: pd.DataFrame, series: tuple, chance_loss: float = np.nan) -> bool:
    """One panel's curves: accuracy the mean with its t band, loss the geometric mean with its
    band on the log scale (`log_mean_band`), or, for a loss panel that exploded
    (`exploded_panel`), the median over seeds on a log scale with its title (`exploded_title`);
    returns whether it did."""
    wides = [
        h.pivot(index="seed", columns="epoch", values=col).to_numpy(dtype=float)
        for col, _, _ in series
    ]
    loss = all(c.endswith("_loss") for c, _, _ in series)
    exploded = loss and exploded_panel(wides, chance_loss)
    for (col, label, color), wide in zip(series, wides, strict=True):
        epochs = np.arange(1, wide.shape[1] + 1)
        if exploded:
            ax.plot(epochs, median_curve(wide), color=color, label=label, lw=1.3)
            continue
        mean, lo, hi = log_mean_band(wide) if loss else mean_band(wide, bounds=value_range(col))
        ax.plot(epochs, mean, color=color, label=label, lw=1.3)
        ax.fill_between(epochs, lo, hi, color=color, alpha=0.25, lw=0)
    if exploded:
        log_scale(ax, "y")
        ax.set_title(exploded_title(wides, chance_loss), fontsize=8, loc="left", y=TITLE_Y)
    ax.grid(alpha=0.3)
    return exploded


def plot_curves(
    history: pd.DataFrame, runs: pd.DataFrame, out: Path, columns: int, dpi: int
) -> None:
    """One row per batch size: accuracy (left) beside loss (right) over seeds (`_curve_panel`,
    the suptitle `curves_title`); dotted: the censored median settling epoch (unsettled runs
    count as above the budget; no line where half or more never settled), the same number as
    the tables."""
    sizes = sorted(history["batch_size"].unique())
    fig, axes = _figure(
        len(sizes), 2, (9, 2.2 * len(sizes)), CURVES_MARGINS, sharex=True, squeeze=False
    )
    chance_loss = (
        float(runs["chance_loss"].iloc[0]) if "chance_loss" in runs.columns else float("nan")
    )
    any_exploded = False
    for row, b in zip(axes, sizes, strict=True):
        h = history[history["batch_size"] == b]
        for ax, (what, series) in zip(row, CURVE_PANELS, strict=True):
            exploded = _curve_panel(ax, h, series, chance_loss)
            any_exploded |= exploded
            ax.set_ylabel(EXPLODED_LABEL if exploded else what)
        settling = runs.loc[runs["batch_size"] == b, "settling_epoch"].to_numpy(dtype=float)
        median = censored_median_value(settling)  # the summary's number; +inf: not drawn
        if np.isfinite(median):
            row[0].axvline(median, color="0.4", ls=":", lw=1)
        n_div = int(runs.loc[runs["batch_size"] == b, "diverged"].sum())
        n_set = int(np.isfinite(settling).sum())
        n = int((runs["batch_size"] == b).sum())
        n_low = int(settled_below_target(runs.loc[runs["batch_size"] == b]).sum())
        title = (
            f"batch size {b}: {n_set} of {n} runs settled"
            + (f" ({n_low} below the target)" if n_low else "")
            + (f", {n_div} diverged" if n_div else "")
        )
        row[0].set_title(title, fontsize=9, loc="left", y=TITLE_Y)
    for ax in axes[-1, :]:
        ax.set_xlabel("epoch")
    axes[0, 0].legend(loc="lower right", fontsize=7)
    axes[0, 1].legend(loc="upper right", fontsize=7)
    _suptitle(fig, curves_title(int(history["seed"].nunique()), any_exploded))
    _save(fig, out, dpi)


def _errorbar(
    ax: Any,
    x: np.ndarray,
    est: pd.Series,
    lo: pd.Series,
    hi: pd.Series,
    open_mark: Mapping[str, Any] | None = None,
    **kw: Any,
) -> None:
    """Point and interval; an upper end above the budget (+inf) draws no upper bar and an
    open triangle at the point (`open_mark`: its style, default `OPEN_MARK`). `kw` go to
    ``errorbar`` over the default marker, caps and widths."""
    est, lo, hi = (np.asarray(v, dtype=float) for v in (est, lo, hi))
    open_top = np.isinf(hi)
    hi = np.where(open_top | np.isnan(hi), est, hi)
    lo = np.where(np.isnan(lo), est, lo)
    yerr = np.vstack([est - lo, hi - est]).clip(min=0)
    ax.errorbar(x, est, yerr=yerr, **{"marker": "o", "capsize": 3, "lw": 1.2, "ms": 4, **kw})
    if open_top.any():
        mark = dict(open_mark if open_mark is not None else OPEN_MARK)
        raise_pt = mark.pop("raise_pt", 0.0)
        offset = ScaledTranslation(0, raise_pt / 72, ax.figure.dpi_scale_trans)
        ax.plot(
            np.asarray(x)[open_top],
            est[open_top],
            ls="",
            color=kw.get("color"),
            transform=ax.transData + offset,
            **mark,
        )


#: The open triangle of an interval open above the budget (``raise_pt``: points above the
#: point it marks).
OPEN_MARK = {"marker": "^", "mfc": "none", "ms": 7}
#: What an open triangle marks, in every figure's legend and the overview's caption.
OPEN_LABEL = "interval open above the budget"


def median_interval_words(n: int, level: float = LEVEL) -> str:
    """A median's interval over `n` seeds in words: "nominal 95% bootstrap" (its coverage at
    these seed counts is not checked) where an interval of a median of `n` values can reach
    `level`; below that (n < 6 at 95%) the interval is at most
    the range of the seeds, and says so with that range's coverage (short: an axis label)."""
    if range_coverage(n) >= level:
        return f"nominal {level * 100:g}% bootstrap"
    return f"≤ range of {n} seeds, coverage ≤ {range_coverage(n) * 100:g}%"


#: The accuracy figure's series: the summary's mean and t-interval of each, and its legend.
ACCURACY_SERIES = (
    ("final_end_train_accuracy", "train (whole split)"),
    ("final_test_accuracy", "test"),
)


def plot_accuracy(summary: pd.DataFrame, out: Path, dpi: int) -> None:
    s = summary.sort_values("batch_size")
    fig, ax = _figure(1, 1, (5.5, 3.6), ACCURACY_MARGINS)
    for name, label in ACCURACY_SERIES:
        _errorbar(
            ax,
            s["batch_size"].to_numpy(),
            s[f"{name}_mean"],
            s[f"{name}_lo"],
            s[f"{name}_hi"],
            label=label,
        )
    log_scale(ax, "x", base=2)
    ax.set_xlabel("batch size")
    ax.set_ylabel("final accuracy (mean, 95% t-interval)")
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, out, dpi)


#: The timing figure's right panel: the epoch's seconds (its evaluations of the training,
#: validation and test splits included) over its optimizer steps, not a step's own time.
TIMING_STEP_LABEL = "seconds per epoch / steps per epoch\n(evaluations included)"
#: The timing figure's left panel with the timing stage's repeats (each series in the legend).
TIMING_REPEATS_EPOCH_LABEL = "seconds per epoch, one model"
#: The timing figure's two series: the timing stage's interleaved repeats (the evidence of
#: claims 1 and 4) and the training jobs' own clocks.
TIMING_REPEATS_LABEL = (
    "timing stage: geometric mean over {k} interleaved repeats, {level:g}% t-interval of log "
    "seconds (the evidence of claims 1 and 4)"
)
TIMING_JOBS_LABEL = (
    "training jobs' clocks: median over one job's epochs, bootstrap over those epochs"
)
#: The timing figure's second title line: which clock it shows and what rests on it.
TIMING_REPEATS_NOTE = (
    "filled: the timing stage's repeats (claims 1 and 4 rest on them); open: the training "
    "jobs' own clocks"
)
TIMING_JOBS_NOTE = (
    "the training jobs' own clocks (one job per batch size): no wall-time verdict rests on "
    "this figure"
)
#: The training jobs' series beside the repeats: open grey markers, dashed.
JOBS_STYLE = {"color": "0.45", "mfc": "none", "ls": "--"}


def condition_repeats(
    repeats: pd.DataFrame | None, cond: Condition, sizes: Sequence[int]
) -> pd.DataFrame | None:
    """The timing stage's repeats x batch sizes table of `cond`'s job key, as claims 1 and 4
    read it (`batchstudy.findings.job_rows`, `batchstudy.claims.repeat_table`); ``None``
    without a timing stage or where it timed none of `sizes`."""
    keys = dataclasses.asdict(cond)
    return claims.repeat_table(job_rows(repeats, keys), [int(b) for b in sizes])


def repeat_effects(table: pd.DataFrame, sizes: Sequence[int]) -> list[Effect]:
    """Per batch size claim 1's seconds per model-epoch from the repeats
    (`batchstudy.claims.repeat_seconds`: geometric mean, t-interval of the log seconds at the
    analysis' level); NaN where a size was not re-timed, a NaN interval from one repeat."""
    settings = IntervalSettings()  # the level the analysis uses (its n_boot plays no part)
    return [claims.repeat_seconds(table, int(b), settings) for b in sizes]


def _timing_repeats_series(
    axes: Any, s: pd.DataFrame, table: pd.DataFrame, level: float = LEVEL
) -> None:
    """The repeats' seconds per model-epoch (left) and the same over the steps per epoch
    (right: a batch size's steps per epoch are fixed, so the interval divides exactly)."""
    b = s["batch_size"].to_numpy()
    effects = repeat_effects(table, b)
    est, lo, hi = (np.array([getattr(e, f) for e in effects]) for f in ("estimate", "lo", "hi"))
    label = TIMING_REPEATS_LABEL.format(k=claims.n_repeats(table), level=level * 100)
    _errorbar(axes[0], b, est, lo, hi, color="C0", label=label)
    spe = s["steps_per_epoch"].to_numpy(dtype=float)
    _errorbar(axes[1], b, est / spe, lo / spe, hi / spe, color="C0")


#: The summary columns the timing figure draws (`timing_inputs`): a job's clocks, the same
#: for every condition (lr arm, base rate) the job trained.
TIMING_FIGURE_COLUMNS = (
    "batch_size",
    "engine",
    "steps_per_epoch",
    "seconds_per_step",
    *(f"seconds_per_epoch_{s}" for s in ("median", "lo", "hi")),
)


def timing_inputs(summary: pd.DataFrame) -> pd.DataFrame:
    """All the timing figure reads of a condition's summary rows: `TIMING_FIGURE_COLUMNS`,
    by batch size (a column outside them raises KeyError in `plot_timing`)."""
    return summary[list(TIMING_FIGURE_COLUMNS)].sort_values("batch_size", kind="stable")


def timing_figure_key(summary: pd.DataFrame, repeats: pd.DataFrame | None) -> str:
    """Text that is equal for two conditions exactly when their timing figures are drawn from
    equal inputs (`timing_inputs` and the `condition_repeats` table, values in full
    precision), and so are the same picture."""
    rows = timing_inputs(summary).to_csv(index=False)
    return rows + ("no repeats" if repeats is None else repeats.to_csv())


def timing_leaders(keys: Sequence[str]) -> list[int]:
    """For each condition (its `timing_figure_key`), the index of the first condition with the
    same key: the one whose timing figure is drawn; the others get a copy of it."""
    first: dict[str, int] = {}
    return [first.setdefault(key, i) for i, key in enumerate(keys)]


def plot_timing(
    summary: pd.DataFrame, out: Path, dpi: int, repeats: pd.DataFrame | None = None
) -> None:
    """Seconds per model-epoch (left) and per optimizer step (right) vs batch size: the
    training jobs' own clocks and, where the condition has them (`repeats`: its
    `condition_repeats` table), the timing stage's repeats that claims 1 and 4 rest on, each
    a labelled series; the title says which is which, or, without repeats, that no wall-time
    verdict rests on the figure."""
    s = timing_inputs(summary)
    fig, (a1, a2) = _figure(1, 2, TIMING_SIZE, TIMING_MARGINS)
    b = s["batch_size"].to_numpy()
    style = JOBS_STYLE if repeats is not None else {"color": "C0"}
    _errorbar(
        a1,
        b,
        s["seconds_per_epoch_median"],
        s["seconds_per_epoch_lo"],
        s["seconds_per_epoch_hi"],
        label=TIMING_JOBS_LABEL,
        **style,
    )
    a2.plot(b, s["seconds_per_step"], marker="o", lw=1.2, ms=4, **style)
    if repeats is not None:
        _timing_repeats_series((a1, a2), s, repeats)
    a1.set_ylabel(TIMING_EPOCH_LABEL if repeats is None else TIMING_REPEATS_EPOCH_LABEL)
    a2.set_ylabel(TIMING_STEP_LABEL)
    for ax in (a1, a2):
        log_scale(ax, "x", base=2)
        log_scale(ax, "y")
        ax.set_xlabel("batch size")
        ax.grid(alpha=0.3, which="both")
    handles, labels = a1.get_legend_handles_labels()
    fig.legend(handles[::-1], labels[::-1], loc="lower center", fontsize=7, frameon=False)
    engine = ", ".join(sorted(s["engine"].astype(str).unique()))
    _suptitle(
        fig,
        f"Time per epoch and per step, evaluations included (engine: {engine}; graph building "
        f"excluded)\n{TIMING_JOBS_NOTE if repeats is None else TIMING_REPEATS_NOTE}",
    )
    _save(fig, out, dpi)


def _per_target(s: pd.DataFrame, quantity: str, targets: list[str]) -> Iterator[tuple]:
    """(colour index, label, batch sizes, median, lo, hi) of each accuracy and loss target
    some batch size reached, restricted to the batch sizes whose median is within the budget."""
    b = s["batch_size"].to_numpy(dtype=float)
    names = [(f"{quantity}_to_target_{k}", f"{k}% acc") for k in targets] + [
        (f"{quantity}_to_loss_{k}", f"{k}% loss") for k in targets
    ]
    for i, (name, k) in enumerate(names):
        est = s[f"{name}_median"]
        ok = np.isfinite(est.to_numpy(dtype=float))
        if ok.any():
            yield i, k, b[ok], est[ok], s[f"{name}_lo"][ok], s[f"{name}_hi"][ok]


def at_chance_targets(runs: pd.DataFrame, targets: list[str]) -> set[str]:
    """The labels (as `_per_target` names them: "95% acc", "95% loss") of the condition's
    targets no better than chance (`scaling.target_standing`), from the runs' ``target_<k>``,
    ``loss_target_<k>``, ``chance_accuracy`` and ``chance_loss`` columns; a column the table
    lacks leaves its targets unjudged."""
    out = set()
    for k in targets:
        for kind, col, label in (
            ("accuracy", f"target_{k}", f"{k}% acc"),
            ("loss", f"loss_target_{k}", f"{k}% loss"),
        ):
            chance_col = f"chance_{kind}"
            if col not in runs.columns or chance_col not in runs.columns or runs.empty:
                continue
            value, level = float(runs[col].iloc[0]), float(runs[chance_col].iloc[0])
            if scaling.target_standing(kind, value, level) == scaling.STANDING_AT_CHANCE:
                out.add(label)
    return out


def _steps_panel(
    ax: Any, s: pd.DataFrame, targets: list[str], words: str, unfit: frozenset[str] = frozenset()
) -> bool:
    """Steps to each target with the perfect-scaling line and the critical-batch fit, drawn
    from the summary's censored medians (a batch size whose median is above the budget has
    no point), the same numbers the report's text fits; no fit on the targets in `unfit`
    (`at_chance_targets`), as the text fits none. A B_crit within the tested range is a
    dotted line, its value in its target's legend label (so lines at nearly one value stay
    told apart; `bcrit_flags` after it as the text flags the fit); the title (`steps_title`)
    names the dotted line only where one is drawn.
    `words`: the medians' interval (`median_interval_words`)."""
    drew, b_crit_drawn, fit_drawn = False, False, False
    for i, k, b, est, lo, hi in _per_target(s, "steps", targets):
        drew = True
        steps = est.to_numpy(dtype=float)
        fit = scaling.fit_critical_batch(b, steps) if k not in unfit else {}
        label = f"target {k}"
        if fit.get("ok") and not scaling.below_tested_range(fit["b_crit"], float(b.min())):
            b_crit_drawn = True
            label += f", B_crit {fmt.number(fit['b_crit'])}"
            # the flags on a line of their own, so that the legend stays inside its panel
            label += f"\n{flags}" if (flags := bcrit_flags(fit).strip()) else ""
            ax.axvline(fit["b_crit"], color=f"C{i}", ls=":", lw=0.8)
        _errorbar(ax, b, est, lo, hi, label=label, color=f"C{i}")
        ax.plot(
            b, scaling.perfect_scaling_line(b, steps), ls="--", color=f"C{i}", lw=0.8, alpha=0.7
        )
        if fit.get("ok"):
            fit_drawn = True
            grid = np.geomspace(b.min(), b.max(), 50)
            pred = scaling.predicted_steps(grid, fit["s_min"], fit["e_min"])
            ax.plot(grid, pred, color=f"C{i}", lw=0.8, alpha=0.5)
    ax.set_ylabel(f"optimizer steps to target\n(median, {words})")
    ax.set_title(steps_title(b_crit_drawn, sorted(unfit), fit_drawn), fontsize=9, y=TITLE_Y)
    return drew


#: After a B_crit in a legend label: what the text flags it for (`bcrit_flags`).
POOR_FIT_FLAG = "poor fit"
FEW_POINTS_FLAG = f"{scaling.MIN_BATCH_SIZES} points"
#: The legend shows no interval: its flag is of the estimate only (the text also says where the
#: interval leaves the fitted batch sizes).
EXTRAPOLATED_FLAG = "estimate extrapolated"


def bcrit_flags(fit: Mapping[str, Any]) -> str:
    """ " (poor fit: indicative)", " (3 points: indicative)", " (estimate extrapolated)" or several,
    after a drawn B_crit: a relative RMSE above `scaling.POOR_FIT_RMSE`, two parameters on at
    most three points, an estimate outside the fitted batch sizes, as the text flags them;
    empty for a fit with none of these."""
    indicative = [
        w
        for w, on in (
            (POOR_FIT_FLAG, fit["rel_rmse"] > scaling.POOR_FIT_RMSE),
            (FEW_POINTS_FLAG, fit["n_points"] <= scaling.MIN_BATCH_SIZES),
        )
        if on
    ]
    flags = [f"{', '.join(indicative)}: indicative"] if indicative else []
    flags += [] if fit["in_range"] else [EXTRAPOLATED_FLAG]
    return f" ({'; '.join(flags)})" if flags else ""


#: Characters per line of the scaling panels' titles (9 pt in a 3.6 in wide panel).
SCALING_TITLE_WIDTH = 60


def steps_title(b_crit_drawn: bool, unfit: Sequence[str], fit_drawn: bool = True) -> str:
    """The steps panel's title, wrapped to `SCALING_TITLE_WIDTH`: what its dashed lines are,
    the thin fitted curve only where one is drawn (`fit_drawn`; else "no fit"), the dotted
    B_crit line only where one is drawn, the targets not fitted."""
    thin = ", thin: fit" if fit_drawn else "; no fit drawn"
    dotted = ", dotted: B_crit (value in the legend)" if b_crit_drawn else ""
    none = f"; no fit on {', '.join(unfit)} (targets at chance)" if unfit else ""
    text = f"Steps; dashed: perfect scaling{thin}{dotted}{none}"
    return "\n".join(textwrap.wrap(text, SCALING_TITLE_WIDTH))


def data_limits(ax: Any, pad: float = 1.25) -> tuple[float, float] | None:
    """The log y range of the points and finite interval ends `_errorbar` drew on `ax`
    (its error bar segments and markers), widened by the factor `pad` each way; ``None``
    where nothing positive is drawn. Lines that only guide the eye (perfect scaling, the
    fit) are left out, so they do not stretch the axis beyond the data."""
    ys = [seg[:, 1] for c in ax.collections for seg in c.get_segments()] if ax.collections else []
    ys += [line.get_ydata() for line in ax.lines if line.get_marker() not in ("None", "", None)]
    y = np.concatenate([np.asarray(v, dtype=float).ravel() for v in ys]) if ys else np.array([])
    y = y[np.isfinite(y) & (y > 0)]
    return (float(y.min()) / pad, float(y.max()) * pad) if y.size else None


#: The scaling figure's seconds panel: estimated, not timed (the timing stage's repeats are
#: what claims 1 and 4 use).
SECONDS_TITLE = "Wall time to target, estimated (the training jobs' clocks)"
#: The timing figure's left panel: the training jobs' clocks, not the timing stage's.
TIMING_EPOCH_LABEL = "seconds per epoch, one model\n(training jobs' clocks)"


def _seconds_panel(ax: Any, s: pd.DataFrame, targets: list[str], words: str) -> bool:
    drew = False
    for i, k, b, est, lo, hi in _per_target(s, "seconds", targets):
        drew = True
        _errorbar(ax, b, est, lo, hi, label=f"target {k}", color=f"C{i}")
    ax.set_ylabel(
        "seconds to target, one model, estimated:\nepochs × job's median s/epoch\n"
        f"(median, {words})"
    )
    ax.set_title(SECONDS_TITLE, fontsize=9, y=TITLE_Y)
    return drew


def seeds_per_batch_size(runs: pd.DataFrame) -> int:
    """The fewest runs (seeds) any batch size of a condition has; 0 without runs."""
    return int(runs.groupby("batch_size").size().min()) if len(runs) else 0


#: The scaling panels' log y-range is widened downward by this power of its span (the data
#: keep the top 1 / (1 + LEGEND_ROOM) of the axis), the legend sits in the room below.
LEGEND_ROOM = 0.7


def _open_legend(ax: Any) -> None:
    """The panel's legend, with an entry for the open triangle where one is drawn (a line
    of markers only, as `_errorbar` draws it)."""
    handles, labels = ax.get_legend_handles_labels()
    if any(getattr(line, "get_marker", lambda: None)() == OPEN_MARK["marker"] for line in ax.lines):
        handles.append(Line2D([], [], ls="", color="k", **OPEN_MARK))
        labels.append(OPEN_LABEL)
    # the data's range (not the guide lines'), and room below it on the log axis, so that
    # the legend covers no point
    limits = data_limits(ax)
    if limits is not None and ax.get_yscale() == "log":
        ax.set_ylim(*limits)
    lo, hi = ax.get_ylim()
    if ax.get_yscale() == "log" and 0 < lo < hi:
        ax.set_ylim(lo / (hi / lo) ** LEGEND_ROOM, hi)
    ax.legend(handles, labels, fontsize=8, loc="lower left", framealpha=0.8)


def plot_scaling(summary: pd.DataFrame, runs: pd.DataFrame, out: Path, dpi: int) -> None:
    s = summary.sort_values("batch_size")
    targets = target_suffixes(runs)
    words = median_interval_words(seeds_per_batch_size(runs))
    fig, axes = _figure(1, 2, SCALING_SIZE, SCALING_MARGINS)
    steps = functools.partial(_steps_panel, unfit=frozenset(at_chance_targets(runs, targets)))
    for ax, panel in zip(axes, (steps, _seconds_panel), strict=True):
        drew = panel(ax, s, targets, words)
        log_scale(ax, "x", base=2)
        log_scale(ax, "y")
        ax.set_xlabel("batch size")
        ax.grid(alpha=0.3, which="both")
        if drew:
            _open_legend(ax)
        else:
            ax.text(0.5, 0.5, "no batch size reached a target", transform=ax.transAxes, ha="center")
    _save(fig, out, dpi)


#: The columns each aggregate table's figures read besides the condition keys (checked when the
#: table is read), and the prefixes of the per-target columns they read (the runs' ``target_*``
#: name the targets, `batchstudy.metrics.target_suffixes`; the summary's ``steps_to_*`` and
#: ``seconds_to_*`` are their medians and intervals). The other columns are never parsed.
PLOT_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "history": (
        ("batch_size", "seed", "epoch", *(c for _, series in CURVE_PANELS for c, _, _ in series)),
        (),
    ),
    "runs": (
        ("batch_size", "settling_epoch", "diverged", "plateau_val_accuracy"),
        ("target_", "loss_target_", "chance_"),
    ),
    "summary": (
        (
            "batch_size",
            "engine",
            "seconds_per_step",
            "steps_per_epoch",
            *(f"seconds_per_epoch_{s}" for s in ("median", "lo", "hi")),
            *(f"{name}_{s}" for name, _ in ACCURACY_SERIES for s in ("mean", "lo", "hi")),
        ),
        ("steps_to_", "seconds_to_"),
    ),
}


def read_plot_table(agg_dir: Path, name: str) -> dict[Condition, pd.DataFrame]:
    """The aggregate table `name` (``<name>.tsv``), read once, only the columns of
    `PLOT_COLUMNS`, split by condition. The base rate is matched as a number, so a table
    printing ``0.001`` and a path reading ``1e-3`` name one condition; rows with an empty
    condition key belong to none."""
    columns, prefixes = PLOT_COLUMNS[name]
    wanted = {*KEYS, *columns}
    df = read_table(
        agg_dir / f"{name}.tsv",
        (*KEYS, *columns),
        what=name,
        keep=lambda c: c in wanted or c.startswith(prefixes),
    )
    groups = df.groupby(list(KEYS), sort=False)
    return {
        Condition.from_keys({k: str(v) for k, v in zip(KEYS, key, strict=True)}): rows
        for key, rows in groups
    }


def _condition(keys: Mapping[str, Any]) -> Condition:
    missing = [k for k in PLOT_PATH_KEYS if k not in keys]
    if missing:
        raise ValueError(f"condition {dict(keys)} lacks {missing}: a figure is of one condition")
    return Condition.from_keys({k: str(keys[k]) for k in PLOT_PATH_KEYS})


def draw_condition(
    history: pd.DataFrame,
    runs: pd.DataFrame,
    summary: pd.DataFrame,
    out_dir: Path,
    settings: Mapping[str, Any],
    repeats: pd.DataFrame | None = None,
    timing: bool = True,
) -> list[Path]:
    """One condition's figures (`PLOTS`, in that order) from its rows of the three tables and
    its timing stage's repeats (`condition_repeats`; ``None`` without). ``timing=False``
    leaves the timing figure out of the drawing (not out of the paths returned): the caller
    copies it from a condition with the same `timing_figure_key`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    dpi = int(settings.get("dpi", 90))
    paths = [out_dir / f"{p}.png" for p in PLOTS]
    plot_curves(history, runs, paths[0], int(settings.get("columns", 2)), dpi)
    plot_accuracy(summary, paths[1], dpi)
    if timing:
        plot_timing(summary, paths[2], dpi, repeats)
    plot_scaling(summary, runs, paths[3], dpi)
    return paths


def plot_conditions(
    agg_dir: Path,
    plot_dir: Path,
    conditions: Sequence[Mapping[str, Any]],
    settings: Mapping[str, Any],
    workers: int = 1,
    chance: Mapping[str, Mapping[str, float]] | None = None,
) -> list[Path]:
    """The figures of every condition in `conditions` (keys as `PLOT_PATH_KEYS`, values text
    or numbers), each condition's under ``plot_dir / Condition.path``, from one read of the
    aggregate tables. A condition without rows in each table raises ValueError before any
    figure is drawn. ``workers`` > 1 draws the conditions in that many forked processes
    (each figure is drawn by one process alone, so the files are the same as drawn in one).
    ``chance``: dataset -> {"accuracy": ..., "loss": ...} chance levels
    (`batchstudy.findings.chance_levels`), set as the runs' ``chance_<kind>`` columns so that
    no B_crit is drawn on a target no better than chance. The timing stage's repeats are read
    from ``timing_repeats.tsv`` (`read_repeats`) and drawn in each condition's timing figure;
    conditions whose timing figures would be drawn from equal inputs (`timing_figure_key`: the
    conditions of one training job) share one drawing, copied to each."""
    conds = [_condition(c) for c in conditions]
    tables = {name: read_plot_table(agg_dir, name) for name in PLOT_COLUMNS}
    repeats = read_repeats(agg_dir)
    for c, rows in tables["runs"].items():
        levels = (chance or {}).get(str(c.dataset), {})
        tables["runs"][c] = rows.assign(**{f"chance_{k}": v for k, v in levels.items()})
    for c in conds:
        absent = [name for name, rows in tables.items() if c not in rows]
        if absent:
            raise ValueError(f"no rows for condition {c.label} in {agg_dir} ({', '.join(absent)})")
    jobs = [
        (
            *(tables[name][c] for name in ("history", "runs", "summary")),
            plot_dir / c.path,
            condition_repeats(repeats, c, tables["summary"][c]["batch_size"].unique()),
        )
        for c in conds
    ]
    leaders = timing_leaders([timing_figure_key(job[2], job[4]) for job in jobs])
    jobs = [(*job, lead == i) for i, (job, lead) in enumerate(zip(jobs, leaders, strict=True))]
    draw = functools.partial(_draw_job, settings=settings)
    if workers <= 1 or len(jobs) <= 1:
        paths = [draw(job) for job in jobs]
    else:
        context = multiprocessing.get_context("fork")  # the workers inherit the imports
        with concurrent.futures.ProcessPoolExecutor(min(workers, len(jobs)), context) as pool:
            paths = list(pool.map(draw, jobs))
    timing = PLOTS.index("timing")
    for own, lead in zip(paths, leaders, strict=True):
        if own[timing] != paths[lead][timing]:
            shutil.copyfile(paths[lead][timing], own[timing])  # the same picture, drawn once
    return [p for condition_paths in paths for p in condition_paths]


def _draw_job(job: tuple[Any, ...], settings: Mapping[str, Any]) -> list[Path]:
    """`draw_condition` of one ``(history, runs, summary, out_dir, repeats, timing)``
    (picklable for a pool)."""
    return draw_condition(*job[:4], settings, job[4], job[5])


def read_repeats(agg_dir: Path) -> pd.DataFrame | None:
    """The aggregate ``timing_repeats.tsv`` (`TIMING_REPEATS_TABLE_COLUMNS`); ``None`` where
    the directory has no such table or it holds no rows (``timing_repeats`` = 0)."""
    path = agg_dir / "timing_repeats.tsv"
    if not path.exists():
        return None
    table = read_table(path, TIMING_REPEATS_TABLE_COLUMNS, what="timing-repeats")
    return None if table.empty else table


# --------------------------------------------------------------------------- across conditions

#: Condition keys that may vary between the lines of one overview panel.
LINE_KEYS = ("optimizer", "lr_scaling", "base_lr", "budget")
#: Line markers by optimizer, line styles by budget (`line_styles`); no "^", the open
#: triangle of a censored interval.
LINE_MARKERS = ("o", "s", "D", "v", "P", "X", "p", "h")
LINE_STYLES = ("-", "--", ":", "-.")
MARKER_KEY = "optimizer"
STYLE_KEY = "budget"
#: The order in which a key that the other varying keys already determine (e.g. the base lr
#: when each optimizer has one) is left out of the encoding (it stays in the labels).
REDUNDANT_FIRST = ("base_lr", "dataset", "lr_scaling", "budget", "optimizer")
#: Colour ramp of the base learning rate when it alone is coloured: the rank of each rate,
#: spread over this part of plasma (its pale yellow end left out) ...
LR_COLORMAP = ("plasma", 0.0, 0.85)
#: ... for at most this many rates: neighbours on the ramp then differ by ΔE ≥ 30 (CIELAB);
#: at 7 rates they differ by 16, too little to tell lines apart, and more rates take the
#: categorical colours (tab10: ΔE ≥ 27 between any two).
LR_RAMP_MAX = 4
#: Lines of one panel are shifted apart along x (log2 batch size) by this many octaves
#: each, at most `DODGE_SPAN` octaves in all, so that lines with the same values stay visible.
DODGE_STEP = 0.04
DODGE_SPAN = 0.4
#: The overview's censored mark: larger than the line markers, above the point it marks.
OVERVIEW_OPEN_MARK = {"marker": "^", "mfc": "none", "ms": 8, "mew": 1.5, "raise_pt": 6.0}
#: Overview layout in inches: one panel's axes, the figure's least width, the margins
#: around the axes (the legend's height is added below them), the legend's font size.
PANEL_SIZE = (4.4, 2.6)
OVERVIEW_MIN_WIDTH = 6.5
OVERVIEW_MARGINS = Margins(left=0.85, bottom=0.55, top=0.35, right=0.2, wspace=0.95, hspace=0.6)
LEGEND_FONTSIZE = 7
LEGEND_GAP = 0.1


@dataclass(frozen=True)
class LineEncoding:
    """How the overview tells its lines apart: colour from the `colour_keys` (together), marker
    from `marker_key`, line style from `style_key`, each a map from the key's values."""

    colour_keys: tuple[str, ...]
    colours: dict[tuple, Any]
    marker_key: str | None
    markers: dict[Any, str]
    style_key: str | None
    styles: dict[Any, str]

    def style(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """``color``, ``marker`` and ``ls`` of the line of `row` (its condition keys)."""
        colour = self.colours.get(tuple(row[k] for k in self.colour_keys), "C0")
        marker = self.markers[row[self.marker_key]] if self.marker_key else LINE_MARKERS[0]
        ls = self.styles[row[self.style_key]] if self.style_key else LINE_STYLES[0]
        return {"color": colour, "marker": marker, "ls": ls}


def _essential_keys(lines: pd.DataFrame, varying: Sequence[str]) -> list[str]:
    """The `varying` keys less those the others determine (in `REDUNDANT_FIRST` order): the
    kept keys still tell every line of `lines` apart."""
    keep = list(varying)
    n = len(lines.drop_duplicates(keep)) if keep else 1
    for k in REDUNDANT_FIRST:
        rest = [x for x in keep if x != k]
        if k in keep and rest and len(lines.drop_duplicates(rest)) == n:
            keep = rest
    return keep


def _colours(keys: tuple[str, ...], levels: list[tuple]) -> dict[tuple, Any]:
    """One colour per level: a sequential ramp by rank for the base lr alone (at most
    `LR_RAMP_MAX` rates), else tab10 in the levels' order (tab20, then an even spread of
    turbo, when there are more levels)."""
    n = len(levels)
    if keys == ("base_lr",) and n <= LR_RAMP_MAX:
        name, lo, hi = LR_COLORMAP
        cmap = matplotlib.colormaps[name]
        return {v: cmap(x) for v, x in zip(levels, np.linspace(lo, hi, n), strict=True)}
    if n <= 10:
        return {v: f"C{i}" for i, v in enumerate(levels)}
    cmap = matplotlib.colormaps["tab20" if n <= 20 else "turbo"]
    xs = np.arange(n) / 20 if n <= 20 else np.linspace(0.05, 0.95, n)
    return {v: cmap(x) for v, x in zip(levels, xs, strict=True)}


def line_encoding(lines: pd.DataFrame, varying: Sequence[str]) -> LineEncoding:
    """The encoding of the lines (one row each, condition keys as columns) that differ in the
    `varying` keys. Of the keys that tell them apart (`_essential_keys`), the optimizer takes
    the marker and the budget the line style when their values fit `LINE_MARKERS` /
    `LINE_STYLES`; the others take the colour together (or, when none is left, the colour
    repeats the marker's or style's key). Every key kept maps one to one, so no two lines
    share colour, marker and style. One line: C0, solid, circles."""
    keep = _essential_keys(lines, varying)

    def channel(key: str, values: tuple) -> str | None:
        return key if key in keep and lines[key].nunique() <= len(values) else None

    marker_key, style_key = channel(MARKER_KEY, LINE_MARKERS), channel(STYLE_KEY, LINE_STYLES)
    colour_keys = tuple(k for k in keep if k not in (marker_key, style_key))
    colour_keys = colour_keys or tuple(k for k in (marker_key, style_key) if k)[:1]
    levels = sorted(set(lines[list(colour_keys)].itertuples(index=False, name=None)))
    return LineEncoding(
        colour_keys=colour_keys,
        colours=_colours(colour_keys, levels) if colour_keys else {},
        marker_key=marker_key,
        markers=_level_map(lines, marker_key, LINE_MARKERS),
        style_key=style_key,
        styles=_level_map(lines, style_key, LINE_STYLES),
    )


def _level_map(lines: pd.DataFrame, key: str | None, values: tuple) -> dict[Any, str]:
    return dict(zip(sorted(lines[key].unique()), values, strict=False)) if key else {}


def dodge(n: int) -> np.ndarray:
    """The x factors of `n` lines of one panel: centred shifts of `DODGE_STEP` octaves each
    (less when `n` lines would span more than `DODGE_SPAN`); 1 for a single line."""
    step = min(DODGE_STEP, DODGE_SPAN / max(n - 1, 1))
    return 2.0 ** (step * (np.arange(n) - (n - 1) / 2))


def _line_label(row: dict[str, Any], varying: list[str]) -> str:
    return condition(row, skip=[k for k in ("dataset", *LINE_KEYS) if k not in varying])


def _overview_panel(
    axes: Any, part: pd.DataFrame, enc: LineEncoding, labels: list[str], handles: dict
) -> bool:
    """One column of the overview: the lines of `part` (one per condition), each labelled by
    `labels`' keys; fills `handles` (label: legend proxy). True when a censored mark is drawn."""
    groups = list(part.groupby(["dataset", *LINE_KEYS], sort=True))
    censored = False
    for (_, g), shift in zip(groups, dodge(len(groups)), strict=True):
        g = g.sort_values("batch_size")
        row = g.iloc[0].to_dict()
        label = _line_label(row, labels) if labels else row["panel"]
        style = enc.style(row)
        b = g["batch_size"].to_numpy(dtype=float) * shift
        for ax, key in zip(axes, ("test_accuracy", "steps_to_target"), strict=True):
            effects = [Effect.from_dict(e) if e else None for e in g[key]]
            est = np.array([e.estimate if e else np.nan for e in effects], dtype=float)
            lo = np.array([e.lo if e else np.nan for e in effects], dtype=float)
            hi = np.array([e.hi if e else np.nan for e in effects], dtype=float)
            ok = np.isfinite(est)
            if ok.any():
                _errorbar(ax, b[ok], est[ok], lo[ok], hi[ok], OVERVIEW_OPEN_MARK, ms=5, **style)
                handles.setdefault(label, Line2D([], [], ms=5, lw=1.2, **style))
                censored |= bool(np.isinf(hi[ok]).any())
    return censored


def _label_axes(axes: Any, title: str, target: pd.Series) -> None:
    axes[0].set_title(title, fontsize=10, y=TITLE_Y)
    axes[0].set_ylabel("final test accuracy (mean, 95% t)", fontsize=9)
    tgt = f"{target.iloc[0]}% " if len(target) else ""
    axes[1].set_ylabel(f"steps to the {tgt}accuracy target (median)", fontsize=9)
    log_scale(axes[1], "y")
    for ax in axes:
        log_scale(ax, "x", base=2)
        ax.set_xlabel("batch size", fontsize=9)
        ax.grid(alpha=0.3, which="both")


def _legend_below(fig: Any, handles: dict, width: float) -> float:
    """The figure's legend, centred below the axes in as many columns as fit `width` inches;
    returns its height in inches (the figure is laid out around it afterwards)."""
    r = fig.canvas.get_renderer()
    font = matplotlib.font_manager.FontProperties(size=LEGEND_FONTSIZE)
    em = LEGEND_FONTSIZE / 72
    text_w = max(r.get_text_width_height_descent(t, font, ismath=False)[0] for t in handles)
    entry = text_w / fig.dpi + em * (2.0 + 0.8 + 2.0)  # handle, pad, column spacing
    ncol = int(max(1, min(len(handles), (width - 0.2) // entry)))
    leg = fig.legend(
        list(handles.values()),
        list(handles),
        loc="lower center",
        ncol=ncol,
        fontsize=LEGEND_FONTSIZE,
        frameon=False,
    )
    return leg.get_window_extent(r).height / fig.dpi


def plot_overview(rows: list[dict[str, Any]], out: Any, dpi: int) -> None:
    """Small multiples across conditions: final test accuracy (top) and steps to the first
    accuracy target (bottom) vs batch size, one column per panel (a row's ``panel``: its
    dataset, or the configured dataset its draw came from), one line per combination of
    dataset (draw), optimizer, lr arm, base lr and budget. Points are the findings' effects
    (mean with t-interval; censored median with bootstrap interval, absent when above the
    budget). Rows without ``panel`` (findings from before dataset draws) use the dataset.

    The lines are told apart by `line_encoding` (the same throughout the figure) and shifted
    apart along x by `dodge`; one legend below the axes names every line (and the open
    triangle, when drawn), the figure growing to hold it."""
    df = pd.DataFrame(rows)
    if "panel" not in df:
        df["panel"] = df["dataset"]
    panels = sorted(df["panel"].unique())
    draws = bool((df.groupby("panel")["dataset"].nunique() > 1).any())
    varying = (["dataset"] if draws else []) + [k for k in LINE_KEYS if df[k].nunique() > 1]
    enc = line_encoding(df.drop_duplicates(["dataset", *LINE_KEYS]), varying)
    m = OVERVIEW_MARGINS
    width = max(OVERVIEW_MIN_WIDTH, m.left + m.right + len(panels) * (PANEL_SIZE[0] + m.wspace))
    fig, axes = plt.subplots(2, len(panels), figsize=(width, 6), squeeze=False)
    handles: dict[str, Any] = {}
    censored = False
    for col, ds in enumerate(panels):
        part = df[df["panel"] == ds]
        labels = (["dataset"] if part["dataset"].nunique() > 1 else []) + varying
        labels = list(dict.fromkeys(labels))
        censored |= _overview_panel(axes[:, col], part, enc, labels, handles)
        _label_axes(axes[:, col], ds, part["target"].dropna())
    if censored:
        mark = {k: v for k, v in OVERVIEW_OPEN_MARK.items() if k != "raise_pt"}
        handles[OPEN_LABEL] = Line2D([], [], ls="", color="k", **mark)
    legend_h = _legend_below(fig, handles, width) if handles else 0.0
    bottom = m.bottom + LEGEND_GAP + legend_h + LEGEND_GAP
    height = m.top + bottom + 2 * PANEL_SIZE[1] + m.hspace
    fig.set_size_inches(width, height)
    margins = dataclasses.replace(m, bottom=bottom)
    fig.subplots_adjust(**margins.gridspec((width, height), 2, len(panels)))
    if fig.legends:
        fig.legends[0].set_bbox_to_anchor((0.5, LEGEND_GAP / height), fig.transFigure)
    _save(fig, out, dpi)


def overview_uri(rows: list[dict[str, Any]], dpi: int) -> str:
    """The overview figure as a data URI, for the self-contained report."""
    buf = io.BytesIO()
    plot_overview(rows, buf, dpi)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
