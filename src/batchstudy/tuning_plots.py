"""Figures of the tuned learning-rate study (matplotlib, no display).

- ``lr_grid.png`` (`plot_lr_grid`): the (batch size x base_lr) grid of median steps to the
  target of one group as a heatmap (log colour scale), censored cells ("> budget") grey, the
  learning rate chosen for each batch size outlined.
- ``frontier.png`` (`plot_frontier`): steps and examples to the target vs batch size at the
  tuned learning rate, log-log, with the perfect-scaling line and the fitted McCandlish curve;
  examples as the fit counts them, B × steps (`EXAMPLES_LABEL`).
- ``noise_scale.png`` (`plot_noise_scale`): the measured B_simple over a reference run, beside
  the fitted B_crit and its interval.

Each function draws one group (one dataset, optimizer, lr_scaling, budget): filter the tables
of `batchstudy.tuning` first.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from . import formatting as fmt  # noqa: E402
from . import scaling  # noqa: E402
from .config import lr_text  # noqa: E402
from .tuning import LR_COLUMN, steps_label  # noqa: E402

CENSORED_COLOR = "0.8"
#: Frontier figure: horizontal space between its two panels (fraction of the axes width) and
#: the factor the log x axis extends beyond the smallest batch size (twice that beyond the
#: largest, where the rate labels sit).
FRONTIER_WSPACE = 0.35
FRONTIER_X_PAD = 1.4
#: Characters per line of the frontier figure's note under its title.
NOTE_WIDTH = 110
#: The frontier figure's height: its panels' and, on top, each title line's (inches).
FRONTIER_PANEL_INCHES = 4.0
TITLE_LINE_INCHES = 0.3
#: The heatmap's key, under any title.
GRID_KEY = "median steps to target (outlined: chosen rate; grey: > budget)"
#: Gap between a chosen cell's frame and the cell's edge, in cells.
FRAME_INSET = 0.06


def _save(fig: Any, out: Path, dpi: int) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return out


def _one_group(table: pd.DataFrame, what: str) -> None:
    if table.empty:
        raise ValueError(f"{what}: no rows to draw")
    if table.duplicated(["batch_size", LR_COLUMN]).any():
        raise ValueError(f"{what}: several rows per cell; filter the table to one group first")


def plot_lr_grid(grid: pd.DataFrame, out: Path, *, title: str = "", dpi: int = 120) -> Path:
    """Heatmap of one group's `tuning.lr_grid` rows: rows batch sizes, columns base_lr."""
    _one_group(grid, "lr grid")
    steps = grid.pivot(index="batch_size", columns=LR_COLUMN, values="median_steps")
    sizes, rates = steps.index.to_numpy(), steps.columns.to_numpy()
    values = steps.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * len(rates), 1.0 + 0.45 * len(sizes)))
    ax.set_facecolor(CENSORED_COLOR)
    norm = None
    if finite.size:
        norm = LogNorm(vmin=finite.min(), vmax=max(finite.max(), finite.min() * 1.01))
        shown = np.ma.masked_invalid(values)
        mesh = ax.imshow(shown, cmap="viridis_r", norm=norm, aspect="auto", origin="lower")
        fig.colorbar(mesh, ax=ax, label="median steps to target")
    _annotate_cells(ax, grid, sizes, rates, norm)
    ax.set_xticks(range(len(rates)), [lr_text(r) for r in rates], rotation=45)
    ax.set_yticks(range(len(sizes)), [str(b) for b in sizes])
    ax.set_xlim(-0.5, len(rates) - 0.5)
    ax.set_ylim(-0.5, len(sizes) - 0.5)
    ax.set_xlabel("base learning rate")
    ax.set_ylabel("batch size")
    ax.set_title("\n".join(filter(None, [title, GRID_KEY])), fontsize=9)
    return _save(fig, out, dpi)


def _annotate_cells(
    ax: Any, grid: pd.DataFrame, sizes: np.ndarray, rates: np.ndarray, norm: Any
) -> None:
    """Each cell's steps label (white on the dark, slow end of the colour scale), and a frame
    around the chosen cell of each batch size."""
    row_of = {b: i for i, b in enumerate(sizes)}
    col_of = {r: j for j, r in enumerate(rates)}
    for cell in grid.itertuples(index=False):
        i, j = row_of[cell.batch_size], col_of[getattr(cell, LR_COLUMN)]
        text = steps_label(cell.median_steps, cell.budget_steps)
        dark = norm is not None and np.isfinite(cell.median_steps) and norm(cell.median_steps) > 0.6
        ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if dark else "k")
        if cell.chosen:
            # inset, so that the frames of chosen cells in adjacent rows stay apart
            side = 1 - 2 * FRAME_INSET
            frame = Rectangle(
                (j - 0.5 + FRAME_INSET, i - 0.5 + FRAME_INSET),
                side,
                side,
                fill=False,
                edgecolor="red",
                lw=2,
            )
            ax.add_patch(frame)


def _below_range(fit: Mapping[str, Any]) -> bool:
    """An ok fit flagged `scaling.below_tested_range` (a table row's flag may be NaN when the
    fit failed)."""
    flag = fit.get("below_range")
    return bool(fit.get("ok")) and isinstance(flag, bool | np.bool_) and bool(flag)


def _fit_text(fit: Mapping[str, Any] | None) -> str:
    if fit is None or not fit.get("ok"):
        reason = "" if fit is None else f": {fit.get('reason', '')}"
        return f"no B_crit fit{reason}"
    if _below_range(fit):
        return f"B_crit {scaling.BELOW_RANGE_WORDS}"
    interval = ""
    if np.isfinite(fit.get("lo", np.nan)):
        level = fit.get("level", 0.95)
        interval = (
            f" [{fmt.number(fit['lo'])}, {fmt.number(fit['hi'])}] (nominal "
            f"{fmt.confidence(level)} percentile bootstrap over seeds)"
        )
    return f"B_crit = {fmt.number(fit['b_crit'])}{interval}"


#: The frontier's examples panel: B × steps, the examples of the fit's model (E = B·S, of
#: which E_min is the limit at small B), not the examples seen (epochs × training rows, the
#: table's): it counts each epoch's last, partial batch (and a batch larger than the training
#: split) as B, so it exceeds the examples seen where B does not divide the training rows.
EXAMPLES_LABEL = "B × steps to target\n(the fit's E = B·S; partial batches counted as B)"


def _frontier_panel(ax: Any, b: np.ndarray, y: np.ndarray, budget: np.ndarray, what: str) -> None:
    """Measured medians (finite) and censored batch sizes (triangles at the budget) of one axis;
    `what`: its y label."""
    ok = np.isfinite(y)
    ax.loglog(b[ok], y[ok], "o-", color="C0", label="tuned rate (median over seeds)")
    if (~ok).any():
        ax.loglog(b[~ok], budget[~ok], "^", mfc="none", color="C3", label="> budget")
    ax.set_xlabel("batch size")
    ax.set_ylabel(what)
    ax.grid(alpha=0.3, which="both")


def plot_frontier(
    frontier: pd.DataFrame,
    out: Path,
    *,
    fit: Mapping[str, Any] | None = None,
    title: str = "",
    note: str = "",
    dpi: int = 120,
) -> Path:
    """Steps and examples to target vs batch size at the tuned rate (one group), log-log.

    Points: the frontier's ``median_steps`` and, in the examples panel, B × ``median_steps``:
    the examples of the fit's model E = B·S (`EXAMPLES_LABEL`), one definition for points and
    curve (the table's ``median_examples``, the examples seen, is smaller where B does not
    divide the training rows); censored batch sizes (median "> budget") are open triangles at
    their budget (in examples: budget × B). Perfect scaling: `scaling.perfect_scaling_line`
    anchored at the smallest batch size with a finite median, i.e. constant B·S. The fitted
    curve S = S_min + E_min/B (and B·S) is drawn when `fit` (a row of
    `tuning.tuned_critical_batch`) is ok. `note`, a second title line, says what the fit's
    interval leaves out and why it is indicative only (the caller's words).
    """
    return _save(frontier_figure(frontier, fit=fit, title=title, note=note), out, dpi)


def frontier_figure(
    frontier: pd.DataFrame,
    *,
    fit: Mapping[str, Any] | None = None,
    title: str = "",
    note: str = "",
) -> Any:
    """The figure `plot_frontier` saves (open; the caller closes it)."""
    _one_group(frontier, "frontier")
    front = frontier.sort_values("batch_size")
    b = front["batch_size"].to_numpy(dtype=float)
    steps = front["median_steps"].to_numpy(dtype=float)
    examples = b * steps  # the fit's E = B·S (a median of B·S is B × the median of S)
    budget = front["budget_steps"].to_numpy(dtype=float)
    fig, axes = plt.subplots(1, 2, figsize=(10.5, FRONTIER_PANEL_INCHES))
    # room between the panels for the right panel's y label and its log tick labels
    fig.subplots_adjust(wspace=FRONTIER_WSPACE)
    _frontier_panel(axes[0], b, steps, budget, "steps to target")
    _frontier_panel(axes[1], b, examples, budget * b, EXAMPLES_LABEL)
    ok = np.isfinite(steps)
    if ok.any():
        axes[0].loglog(b[ok], scaling.perfect_scaling_line(b[ok], steps[ok]), "--", color="0.4")
        axes[1].loglog(b[ok], np.full(ok.sum(), examples[ok][0]), "--", color="0.4")
        axes[0].lines[-1].set_label("perfect scaling")
    if fit is not None and fit.get("ok"):
        grid = np.geomspace(b.min(), b.max(), 100)
        curve = scaling.predicted_steps(grid, fit["s_min"], fit["e_min"])
        axes[0].loglog(grid, curve, color="C1", label="fit S = S_min + E_min/B")
        axes[1].loglog(grid, curve * grid, color="C1")
    for bi, si, lr in zip(b, steps, front[LR_COLUMN], strict=True):
        if np.isfinite(si):
            axes[0].annotate(
                lr_text(lr),
                (bi, si),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
                annotation_clip=False,
            )
    for ax in axes:  # head room on the log x axis for the rate labels right of the points
        ax.set_xlim(b.min() / FRONTIER_X_PAD, b.max() * FRONTIER_X_PAD**2)
    axes[0].legend(fontsize=8)
    head = f"{title}  {_fit_text(fit)}".strip()
    lines = "\n".join(filter(None, [head, textwrap.fill(note, NOTE_WIDTH)]))
    title_inches = TITLE_LINE_INCHES * (lines.count("\n") + 1)
    fig.set_figheight(FRONTIER_PANEL_INCHES + title_inches)
    fig.subplots_adjust(top=1 - title_inches / fig.get_figheight())
    fig.suptitle(lines, fontsize=10)
    return fig


def plot_noise_scale(
    noise: pd.DataFrame,
    out: Path,
    *,
    fit: Mapping[str, Any] | None = None,
    title: str = "",
    dpi: int = 120,
) -> Path:
    """B_simple over the reference run's steps (``noise_scale.tsv``), with B_crit beside it.

    Non-finite B_simple (G = 0, diverged) is left out. With an ok `fit`, B_crit is a horizontal
    line and its interval a band. The caption's caveat: the theory is derived for SGD.
    """
    if noise.empty:
        raise ValueError("noise scale: no rows to draw")
    fig, ax = plt.subplots(figsize=(6, 4))
    keep = np.isfinite(noise["b_simple"].to_numpy(dtype=float)) & (noise["b_simple"] > 0)
    ax.semilogy(noise.loc[keep, "step"], noise.loc[keep, "b_simple"], "o-", label="B_simple")
    if fit is not None and fit.get("ok") and not _below_range(fit):
        ax.axhline(fit["b_crit"], color="C1", label="B_crit (tuned frontier)")
        if np.isfinite(fit.get("lo", np.nan)):
            ax.axhspan(fit["lo"], fit["hi"], color="C1", alpha=0.2, lw=0)
    ax.set_xlabel("optimizer step of the reference run")
    ax.set_ylabel("batch size")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title(title or "gradient noise scale (theory for SGD; a heuristic for Adam)", fontsize=9)
    return _save(fig, out, dpi)
