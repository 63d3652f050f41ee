"""Figures of one condition, drawn from the aggregate tables (matplotlib, no display).

- ``curves.png``: the seed's grid of learning curves, one panel per batch size, mean train
  and validation accuracy over seeds with a 95% band (mean ± t·SE per epoch).
- ``accuracy.png``: final train and validation accuracy vs batch size, bootstrap 95% CIs.
- ``timing.png``: seconds per epoch and per optimizer step vs batch size.
- ``scaling.png``: steps to the target vs batch size, with the perfect-scaling line and
  the fitted critical-batch-size curve (McCandlish et al. 2018); seconds to the target.
"""

from __future__ import annotations

import math
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
from .io import read_table  # noqa: E402
from .layout import PLOT_NAMES as PLOTS  # noqa: E402
from .metrics import CONDITION_KEYS as KEYS  # noqa: E402
from .metrics import target_suffixes  # noqa: E402


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


def plot_curves(
    history: pd.DataFrame, runs: pd.DataFrame, out: Path, columns: int, dpi: int
) -> None:
    sizes = sorted(history["batch_size"].unique())
    rows = math.ceil(len(sizes) / columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(4.2 * columns, 2.6 * rows), sharey=True, squeeze=False
    )
    for ax, b in zip(axes.flat, sizes, strict=False):
        h = history[history["batch_size"] == b]
        for col, label, color in (
            ("train_accuracy", "train", "C0"),
            ("val_accuracy", "test", "C1"),
        ):
            wide = h.pivot(index="seed", columns="epoch", values=col).to_numpy(dtype=float)
            mean, half = mean_band(wide)
            epochs = np.arange(1, wide.shape[1] + 1)
            ax.plot(epochs, mean, color=color, label=label, lw=1.3)
            ax.fill_between(epochs, mean - half, mean + half, color=color, alpha=0.25, lw=0)
        settled = runs.loc[runs["batch_size"] == b, "settling_epoch"].dropna()
        if len(settled):
            ax.axvline(float(settled.median()), color="0.4", ls=":", lw=1)
        n_div = int(runs.loc[runs["batch_size"] == b, "diverged"].sum())
        title = f"batch size {b}" + (f" ({n_div} diverged)" if n_div else "")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(sizes) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy")
    for ax in axes[-1, :]:
        ax.set_xlabel("epoch")
    axes.flat[0].legend(loc="lower right", fontsize=8)
    fig.suptitle(
        "Learning curves: mean over seeds, 95% band; dotted = median settling epoch", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(out, dpi=dpi)
    plt.close(fig)


def _errorbar(
    ax: Any, x: np.ndarray, est: pd.Series, lo: pd.Series, hi: pd.Series, **kw: Any
) -> None:
    yerr = np.vstack([est - lo, hi - est]).clip(min=0)
    ax.errorbar(x, est, yerr=yerr, marker="o", capsize=3, lw=1.2, ms=4, **kw)


def plot_accuracy(summary: pd.DataFrame, out: Path, dpi: int) -> None:
    s = summary.sort_values("batch_size")
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, label in (("final_train_accuracy", "train"), ("final_val_accuracy", "test")):
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
    ax.set_ylabel("final accuracy (mean, 95% CI)")
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
    """(colour index, target, batch sizes, median, lo, hi) of each target some batch size
    reached, restricted to the batch sizes that reached it."""
    b = s["batch_size"].to_numpy(dtype=float)
    for i, k in enumerate(targets):
        name = f"{quantity}_to_target_{k}"
        est = s[f"{name}_median"]
        ok = np.isfinite(est.to_numpy(dtype=float))
        if ok.any():
            yield i, k, b[ok], est[ok], s[f"{name}_lo"][ok], s[f"{name}_hi"][ok]


def _steps_panel(ax: Any, s: pd.DataFrame, targets: list[str]) -> bool:
    """Steps to each target with the perfect-scaling line and the critical-batch fit."""
    drew = False
    for i, k, b, est, lo, hi in _per_target(s, "steps", targets):
        drew = True
        _errorbar(ax, b, est, lo, hi, label=f"target {k}%", color=f"C{i}")
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
    ax.set_ylabel("optimizer steps to target (median, 95% CI)")
    ax.set_title("Steps; dashed: perfect scaling, thin: fit, dotted: B_crit", fontsize=9)
    return drew


def _seconds_panel(ax: Any, s: pd.DataFrame, targets: list[str]) -> bool:
    drew = False
    for i, k, b, est, lo, hi in _per_target(s, "seconds", targets):
        drew = True
        _errorbar(ax, b, est, lo, hi, label=f"target {k}%", color=f"C{i}")
    ax.set_ylabel("seconds to target, one model (median, 95% CI)")
    ax.set_title("Wall time to target on this hardware", fontsize=9)
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
