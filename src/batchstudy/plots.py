"""Figures of one condition, drawn from the aggregate tables (matplotlib, no display).

- ``curves.png``: the seed's grid of learning curves, one row per batch size, accuracy beside
  loss (train on the whole training split, validation), mean over seeds with a 95% band
  (mean ± t·SE per epoch).
- ``accuracy.png``: final train (whole split) and test accuracy vs batch size, 95% t-intervals.
- ``timing.png``: seconds per epoch and per optimizer step vs batch size.
- ``scaling.png``: steps to each accuracy and loss target vs batch size (censored medians),
  with the perfect-scaling line and the fitted critical-batch-size curve (McCandlish et al.
  2018); seconds to the target.
- ``plot_overview``: the report's small multiples across conditions, from the findings.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from . import scaling  # noqa: E402
from .config import Condition  # noqa: E402
from .formatting import condition  # noqa: E402
from .io import read_table  # noqa: E402
from .layout import PLOT_NAMES as PLOTS  # noqa: E402
from .metrics import CONDITION_KEYS as KEYS  # noqa: E402
from .metrics import target_suffixes  # noqa: E402
from .stats import Effect, censored_median_value  # noqa: E402

#: The keys that name a condition's figure directory, in the order the plot stage takes them:
#: the condition keys. The directory itself is `batchstudy.config.Condition.path`
#: (``<dataset>/<optimizer>/<lr_scaling>/lr<base_lr>/<budget>``).
PLOT_PATH_KEYS = KEYS


def condition_dir(keys: dict[str, Any]) -> Path:
    """Where a condition's figures are, relative to the plot directory."""
    return Path(Condition.from_keys(keys).path)


def select(df: pd.DataFrame, condition: dict[str, str]) -> pd.DataFrame:
    mask = np.ones(len(df), dtype=bool)
    for k, v in condition.items():
        if k == "base_lr":  # a number: '0.001' and '1e-3' are one rate, a table may print '1'
            mask &= df[k].astype(float).to_numpy() == float(v)
        else:
            mask &= df[k].astype(str).to_numpy() == v
    return df.loc[mask]


def mean_band(values: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Mean over rows (seeds) and the half-width of its t confidence interval, per column."""
    n = np.sum(np.isfinite(values), axis=0)
    mean = np.nanmean(values, axis=0)
    sd = np.nanstd(values, axis=0, ddof=1) if values.shape[0] > 1 else np.zeros_like(mean)
    t = stats.t.ppf(0.5 + level / 2, np.maximum(n - 1, 1))
    half = np.where(n > 1, t * sd / np.sqrt(np.maximum(n, 1)), 0.0)
    return mean, half


CURVE_PANELS = (
    (
        "accuracy",
        (("end_train_accuracy", "train (whole split)", "C0"), ("val_accuracy", "validation", "C1")),
    ),
    ("loss", (("end_train_loss", "train (whole split)", "C0"), ("val_loss", "validation", "C1"))),
)


def _curve_panel(ax: Any, h: pd.DataFrame, series: tuple) -> None:
    for col, label, color in series:
        wide = h.pivot(index="seed", columns="epoch", values=col).to_numpy(dtype=float)
        mean, half = mean_band(wide)
        epochs = np.arange(1, wide.shape[1] + 1)
        ax.plot(epochs, mean, color=color, label=label, lw=1.3)
        ax.fill_between(epochs, mean - half, mean + half, color=color, alpha=0.25, lw=0)
    ax.grid(alpha=0.3)


def plot_curves(
    history: pd.DataFrame, runs: pd.DataFrame, out: Path, columns: int, dpi: int
) -> None:
    """One row per batch size: accuracy (left) beside loss (right), mean over seeds with a 95%
    t band; dotted: the censored median settling epoch (unsettled runs count as above the
    budget; no line where half or more never settled), the same number as the tables."""
    sizes = sorted(history["batch_size"].unique())
    fig, axes = plt.subplots(
        len(sizes), 2, figsize=(9, 2.2 * len(sizes)), sharex=True, squeeze=False
    )
    for row, b in zip(axes, sizes, strict=True):
        h = history[history["batch_size"] == b]
        for ax, (what, series) in zip(row, CURVE_PANELS, strict=True):
            _curve_panel(ax, h, series)
            ax.set_ylabel(what)
        settling = runs.loc[runs["batch_size"] == b, "settling_epoch"].to_numpy(dtype=float)
        median = censored_median_value(settling)  # the summary's number; +inf: not drawn
        if np.isfinite(median):
            row[0].axvline(median, color="0.4", ls=":", lw=1)
        n_div = int(runs.loc[runs["batch_size"] == b, "diverged"].sum())
        n_set = int(np.isfinite(settling).sum())
        n = int((runs["batch_size"] == b).sum())
        title = f"batch size {b}: {n_set} of {n} runs settled" + (
            f", {n_div} diverged" if n_div else ""
        )
        row[0].set_title(title, fontsize=9, loc="left")
    for ax in axes[-1, :]:
        ax.set_xlabel("epoch")
    axes[0, 0].legend(loc="lower right", fontsize=7)
    axes[0, 1].legend(loc="upper right", fontsize=7)
    fig.suptitle(
        "Learning curves: mean over seeds, 95% band; dotted: median settling epoch",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(out, dpi=dpi)
    plt.close(fig)


def _errorbar(
    ax: Any, x: np.ndarray, est: pd.Series, lo: pd.Series, hi: pd.Series, **kw: Any
) -> None:
    """Point and interval; an upper end above the budget (+inf) draws no upper bar and an
    open triangle above the point."""
    est, lo, hi = (np.asarray(v, dtype=float) for v in (est, lo, hi))
    open_top = np.isinf(hi)
    hi = np.where(open_top | np.isnan(hi), est, hi)
    lo = np.where(np.isnan(lo), est, lo)
    yerr = np.vstack([est - lo, hi - est]).clip(min=0)
    ax.errorbar(x, est, yerr=yerr, marker="o", capsize=3, lw=1.2, ms=4, **kw)
    if open_top.any():
        ax.plot(
            np.asarray(x)[open_top],
            est[open_top],
            ls="",
            marker="^",
            mfc="none",
            color=kw.get("color"),
            ms=7,
        )


def plot_accuracy(summary: pd.DataFrame, out: Path, dpi: int) -> None:
    s = summary.sort_values("batch_size")
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, label in (
        ("final_end_train_accuracy", "train (whole split)"),
        ("final_test_accuracy", "test"),
    ):
        _errorbar(
            ax,
            s["batch_size"].to_numpy(),
            s[f"{name}_mean"],
            s[f"{name}_lo"],
            s[f"{name}_hi"],
            label=label,
        )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size")
    ax.set_ylabel("final accuracy (mean, 95% t-interval)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=dpi)
    plt.close(fig)


def plot_timing(summary: pd.DataFrame, out: Path, dpi: int) -> None:
    s = summary.sort_values("batch_size")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.6))
    b = s["batch_size"].to_numpy()
    _errorbar(
        a1, b, s["seconds_per_epoch_median"], s["seconds_per_epoch_lo"], s["seconds_per_epoch_hi"]
    )
    a1.set_ylabel("seconds per epoch (one model)")
    a2.plot(b, s["seconds_per_step"], marker="o", lw=1.2)
    a2.set_ylabel("seconds per optimizer step")
    for ax in (a1, a2):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.grid(alpha=0.3, which="both")
    engine = ", ".join(sorted(s["engine"].astype(str).unique()))
    fig.suptitle(
        f"Time per epoch and per step (engine: {engine}; graph building excluded)", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(out, dpi=dpi)
    plt.close(fig)


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


def _steps_panel(ax: Any, s: pd.DataFrame, targets: list[str]) -> bool:
    """Steps to each target with the perfect-scaling line and the critical-batch fit, drawn
    from the summary's censored medians (a batch size whose median is above the budget has
    no point), the same numbers the report's text fits."""
    drew = False
    for i, k, b, est, lo, hi in _per_target(s, "steps", targets):
        drew = True
        _errorbar(ax, b, est, lo, hi, label=f"target {k}", color=f"C{i}")
        steps = est.to_numpy(dtype=float)
        ax.plot(
            b, scaling.perfect_scaling_line(b, steps), ls="--", color=f"C{i}", lw=0.8, alpha=0.7
        )
        fit = scaling.fit_critical_batch(b, steps)
        if fit.get("ok"):
            grid = np.geomspace(b.min(), b.max(), 50)
            pred = scaling.predicted_steps(grid, fit["s_min"], fit["e_min"])
            ax.plot(grid, pred, color=f"C{i}", lw=0.8, alpha=0.5)
            ax.axvline(fit["b_crit"], color=f"C{i}", ls=":", lw=0.8)
    ax.set_ylabel("optimizer steps to target (median, 95% bootstrap)")
    ax.set_title("Steps; dashed: perfect scaling, thin: fit, dotted: B_crit", fontsize=9)
    return drew


def _seconds_panel(ax: Any, s: pd.DataFrame, targets: list[str]) -> bool:
    drew = False
    for i, k, b, est, lo, hi in _per_target(s, "seconds", targets):
        drew = True
        _errorbar(ax, b, est, lo, hi, label=f"target {k}", color=f"C{i}")
    ax.set_ylabel("seconds to target, one model (median, 95% bootstrap)")
    ax.set_title("Wall time to target (one timing stream per job)", fontsize=9)
    return drew


def plot_scaling(summary: pd.DataFrame, runs: pd.DataFrame, out: Path, dpi: int) -> None:
    s = summary.sort_values("batch_size")
    targets = target_suffixes(runs)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, panel in zip(axes, (_steps_panel, _seconds_panel), strict=True):
        drew = panel(ax, s, targets)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.grid(alpha=0.3, which="both")
        if drew:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "no batch size reached a target", transform=ax.transAxes, ha="center")
    fig.tight_layout()
    fig.savefig(out, dpi=dpi)
    plt.close(fig)


def plot_condition(
    agg_dir: Path, out_dir: Path, condition: dict[str, str], settings: dict[str, Any]
) -> list[Path]:
    missing = [k for k in PLOT_PATH_KEYS if k not in condition]
    if missing:
        raise ValueError(f"condition {condition} lacks {missing}: a figure is of one condition")
    history = select(read_table(agg_dir / "history.tsv", KEYS, what="history"), condition)
    runs = select(read_table(agg_dir / "runs.tsv", KEYS, what="runs"), condition)
    summary = select(read_table(agg_dir / "summary.tsv", KEYS, what="summary"), condition)
    if history.empty:
        raise ValueError(f"no rows for condition {condition} in {agg_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    dpi = int(settings.get("dpi", 90))
    paths = [out_dir / f"{p}.png" for p in PLOTS]
    plot_curves(history, runs, paths[0], int(settings.get("columns", 2)), dpi)
    plot_accuracy(summary, paths[1], dpi)
    plot_timing(summary, paths[2], dpi)
    plot_scaling(summary, runs, paths[3], dpi)
    return paths


# --------------------------------------------------------------------------- across conditions

#: Condition keys that may vary between the lines of one overview panel.
LINE_KEYS = ("optimizer", "lr_scaling", "base_lr", "budget")


def _line_label(row: dict[str, Any], varying: list[str]) -> str:
    return condition(row, skip=[k for k in ("dataset", *LINE_KEYS) if k not in varying])


def plot_overview(rows: list[dict[str, Any]], out: Any, dpi: int) -> None:
    """Small multiples across conditions: final test accuracy (top) and steps to the first
    accuracy target (bottom) vs batch size, one column per panel (a row's ``panel``: its
    dataset, or the configured dataset its draw came from), one line per combination of
    dataset (draw), optimizer, lr arm, base lr and budget. Points are the findings' effects
    (mean with t-interval; censored median with bootstrap interval, absent when above the
    budget). Rows without ``panel`` (findings from before dataset draws) use the dataset."""
    df = pd.DataFrame(rows)
    if "panel" not in df:
        df["panel"] = df["dataset"]
    panels = sorted(df["panel"].unique())
    varying = [k for k in LINE_KEYS if df[k].nunique() > 1]
    fig, axes = plt.subplots(2, len(panels), figsize=(5.2 * len(panels), 6.4), squeeze=False)
    for col, ds in enumerate(panels):
        part = df[df["panel"] == ds]
        lines = (["dataset"] if part["dataset"].nunique() > 1 else []) + varying
        groups = part.groupby(["dataset", *LINE_KEYS], sort=True)
        for i, (_, g) in enumerate(groups):
            g = g.sort_values("batch_size")
            label = _line_label(g.iloc[0].to_dict(), lines) if lines else ds
            b = g["batch_size"].to_numpy(dtype=float)
            for ax, key in zip(axes[:, col], ("test_accuracy", "steps_to_target"), strict=True):
                effects = [Effect.from_dict(e) if e else None for e in g[key]]
                est = np.array([e.estimate if e else np.nan for e in effects], dtype=float)
                lo = np.array([e.lo if e else np.nan for e in effects], dtype=float)
                hi = np.array([e.hi if e else np.nan for e in effects], dtype=float)
                ok = np.isfinite(est)
                if ok.any():
                    _errorbar(ax, b[ok], est[ok], lo[ok], hi[ok], color=f"C{i}", label=label)
        target = part["target"].dropna()
        axes[0, col].set_title(ds, fontsize=10)
        axes[0, col].set_ylabel("final test accuracy (mean, 95% t)")
        tgt = f"{target.iloc[0]}% " if len(target) else ""
        axes[1, col].set_ylabel(f"steps to the {tgt}accuracy target (median)")
        axes[1, col].set_yscale("log")
        for ax in axes[:, col]:
            ax.set_xscale("log", base=2)
            ax.set_xlabel("batch size")
            ax.grid(alpha=0.3, which="both")
        axes[0, col].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=dpi, format="png")
    plt.close(fig)


def overview_uri(rows: list[dict[str, Any]], dpi: int) -> str:
    """The overview figure as a data URI, for the self-contained report."""
    buf = io.BytesIO()
    plot_overview(rows, buf, dpi)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
