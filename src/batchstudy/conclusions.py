"""The report's written conclusions on convergence, accuracy and timing, computed from the
tables of one condition.

Each finding is a sentence with its numbers and uncertainty. A difference is called a
difference only where the paired bootstrap CI of the per-seed difference excludes zero;
otherwise the sentence says there is no detectable difference at the number of seeds run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import scaling
from .claims import format_seconds as _seconds
from .metrics import CONDITION_KEYS, paired_difference, target_suffixes


@dataclass
class Finding:
    topic: str
    text: str
    figures: dict[str, Any] = field(default_factory=dict)


def _fmt(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}g}"


def _ci_seconds(row: pd.Series, name: str) -> str:
    return (
        f"{_seconds(row[f'{name}_median'])} [{_seconds(row[f'{name}_lo'])}, "
        f"{_seconds(row[f'{name}_hi'])}]"
    )


def _ci(row: pd.Series, name: str, stat: str, digits: int = 3) -> str:
    return (
        f"{_fmt(row[f'{name}_{stat}'], digits)} "
        f"[{_fmt(row[f'{name}_lo'], digits)}, {_fmt(row[f'{name}_hi'], digits)}]"
    )


def _per_seed(runs: pd.DataFrame, column: str, batch_size: int) -> pd.Series:
    r = runs[runs["batch_size"] == batch_size]
    return r.set_index("seed")[column].astype(float)


def _paired_vs(
    runs: pd.DataFrame, column: str, ref: int, other: int, n_boot: int
) -> dict[str, Any]:
    return paired_difference(
        _per_seed(runs, column, other), _per_seed(runs, column, ref), n_boot=n_boot, seed=0
    )


def accuracy_finding(runs: pd.DataFrame, summary: pd.DataFrame, n_boot: int) -> Finding:
    s = summary.dropna(subset=["final_val_accuracy_mean"])
    if s.empty:
        return Finding("accuracy", "Every run diverged: no final accuracy to compare.")
    best = s.loc[s["final_val_accuracy_mean"].idxmax()]
    b0 = int(best["batch_size"])
    worse, same = [], []
    for b in sorted(s["batch_size"].astype(int)):
        if b == b0:
            continue
        d = _paired_vs(runs, "final_val_accuracy", b0, b, n_boot)
        (worse if d["detectable"] and d["hi"] < 0 else same).append((b, d))
    text = (
        f"Best final test accuracy: batch size {b0}, "
        f"{_ci(best, 'final_val_accuracy', 'mean')} (mean, 95% CI over seeds). "
    )
    if worse:
        parts = [
            f"B={b} ({d['mean_diff']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}])" for b, d in worse
        ]
        text += "Detectably lower (paired difference vs the best): " + ", ".join(parts) + ". "
    if same:
        n = min(d["n"] for _, d in same)
        text += (
            f"No detectable difference from the best at n = {n} seeds: "
            + ", ".join(f"B={b}" for b, _ in same)
            + "."
        )
    return Finding("accuracy", text.strip(), {"best": b0, "worse": [b for b, _ in worse]})


def settling_finding(runs: pd.DataFrame, summary: pd.DataFrame, n_boot: int) -> Finding:
    s = summary[summary["n_settled"] > 0].dropna(subset=["settling_epoch_median"])
    if s.empty:
        return Finding("settling", "No run settled within the budget.")
    fastest = s.loc[s["settling_epoch_median"].idxmin()]
    slowest = s.loc[s["settling_epoch_median"].idxmax()]
    bf, bs = int(fastest["batch_size"]), int(slowest["batch_size"])
    d = _paired_vs(runs, "settling_epoch", bf, bs, n_boot)
    text = (
        f"Settles in the fewest epochs: batch size {bf}, median "
        f"{_ci(fastest, 'settling_epoch', 'median')} epochs; the most: batch size {bs}, "
        f"{_ci(slowest, 'settling_epoch', 'median')}. "
    )
    if d["detectable"]:
        text += (
            f"The paired difference is {d['mean_diff']:+.1f} epochs "
            f"[{d['lo']:+.1f}, {d['hi']:+.1f}] (n = {d['n']} seeds)."
        )
    else:
        text += f"No detectable difference between them at n = {d['n']} seeds."
    unsettled = summary[summary["n_settled"] < summary["n_runs"]]
    if len(unsettled):
        text += (
            " Runs that never settled (counted, not averaged): "
            + ", ".join(
                f"B={int(r.batch_size)}: {int(r.n_runs - r.n_settled)}/{int(r.n_runs)}"
                for r in unsettled.itertuples()
            )
            + "."
        )
    return Finding("settling", text, {"fastest": bf, "slowest": bs})


def timing_finding(summary: pd.DataFrame) -> Finding:
    s = summary.dropna(subset=["seconds_per_epoch_median"])
    if s.empty:
        return Finding("timing", "No timing was recorded.")
    fast = s.loc[s["seconds_per_epoch_median"].idxmin()]
    slow = s.loc[s["seconds_per_epoch_median"].idxmax()]
    ratio = slow["seconds_per_epoch_median"] / fast["seconds_per_epoch_median"]
    apart = slow["seconds_per_epoch_lo"] > fast["seconds_per_epoch_hi"]
    total = s["seconds_per_epoch_median"] * s["epochs"]
    quickest = s.loc[total.idxmin()]
    step_fast = s.loc[s["seconds_per_step"].idxmin()]
    text = (
        f"Fastest per epoch: batch size {int(fast['batch_size'])}, "
        f"{_ci_seconds(fast, 'seconds_per_epoch')}; slowest: batch size "
        f"{int(slow['batch_size'])}, {_ci_seconds(slow, 'seconds_per_epoch')}, "
        f"{ratio:.1f}× longer"
        + ("" if apart else " (overlapping CIs: no detectable difference)")
        + f". Shortest total training time for the budget: batch size "
        f"{int(quickest['batch_size'])}, {_seconds(float(total.min()))} per model. "
        f"Cheapest optimizer step: batch size {int(step_fast['batch_size'])}, "
        f"{_seconds(step_fast['seconds_per_step'])} per step; steps per epoch range from "
        f"{int(s['steps_per_epoch'].min())} to {int(s['steps_per_epoch'].max())}."
    )
    return Finding(
        "timing", text, {"fastest_epoch": int(fast["batch_size"]), "ratio": float(ratio)}
    )


def target_findings(summary: pd.DataFrame) -> list[Finding]:
    out = []
    for sfx in target_suffixes(summary):
        s = summary[summary[f"n_reached_{sfx}"] > 0]
        tau = float(summary[f"target_{sfx}"].iloc[0])
        censored = summary[summary[f"n_censored_{sfx}"] > 0]
        cens = (
            (
                "; never reached it (censored, counted not averaged): "
                + ", ".join(
                    f"B={int(r.batch_size)} {int(getattr(r, f'n_censored_{sfx}'))}/{int(r.n_runs)}"
                    for r in censored.itertuples()
                )
            )
            if len(censored)
            else ""
        )
        if s.empty:
            out.append(
                Finding(
                    "target",
                    f"No run reached test accuracy {tau:.3f} ({sfx}% of the best plateau){cens}.",
                )
            )
            continue
        t = s.loc[s[f"seconds_to_target_{sfx}_median"].idxmin()]
        e = s.loc[s[f"epochs_to_target_{sfx}_median"].idxmin()]
        out.append(
            Finding(
                "target",
                f"Target {sfx}% of the best plateau (test accuracy {tau:.3f}): reached soonest in "
                f"wall time by batch size {int(t['batch_size'])} "
                f"({_ci_seconds(t, f'seconds_to_target_{sfx}')}), in epochs by batch size "
                f"{int(e['batch_size'])} ({_ci(e, f'epochs_to_target_{sfx}', 'median')} epochs)"
                f"{cens}.",
                {
                    "fastest_time": int(t["batch_size"]),
                    "fastest_epochs": int(e["batch_size"]),
                    "tau": tau,
                },
            )
        )
    return out


def scaling_finding(runs: pd.DataFrame, summary: pd.DataFrame, n_boot: int, sfx: str) -> Finding:
    col = f"steps_to_target_{sfx}"
    if f"{col}_median" not in summary:
        return Finding("scaling", "No target configured: no scaling view.")
    per_seed = runs[["batch_size", "seed", col]]
    fit = scaling.bootstrap_critical_batch(per_seed, n_boot=min(n_boot, 500), seed=0, steps_col=col)
    if not fit.get("ok"):
        return Finding("scaling", f"Critical batch size not estimated: {fit.get('reason')}.", fit)
    bc = fit["b_crit"]
    regimes = {
        int(b): scaling.scaling_regime(b, bc) for b in sorted(summary["batch_size"].astype(int))
    }
    groups: dict[str, list[int]] = {}
    for b, r in regimes.items():
        groups.setdefault(r, []).append(b)
    text = (
        f"Fitting (S/S_min − 1)(E/E_min − 1) = 1 to the median steps to the {sfx}% target "
        f"gives a critical batch size B_crit ≈ {_fmt(bc)} "
        f"[{_fmt(fit.get('lo'))}, {_fmt(fit.get('hi'))}] (bootstrap over "
        f"seeds), S_min ≈ {_fmt(fit['s_min'])} steps, E_min ≈ {_fmt(fit['e_min'])} examples. "
        + "Regimes: "
        + "; ".join(f"{r}: B = {', '.join(map(str, bs))}" for r, bs in groups.items())
        + "."
    )
    return Finding("scaling", text, {**fit, "regimes": regimes})


def condition_findings(
    runs: pd.DataFrame, summary: pd.DataFrame, n_boot: int = 2000
) -> list[Finding]:
    """All findings for one condition, in the order the report prints them."""
    sfx = target_suffixes(summary)
    out = [
        settling_finding(runs, summary, n_boot),
        accuracy_finding(runs, summary, n_boot),
        timing_finding(summary),
        *target_findings(summary),
    ]
    if sfx:
        out.append(scaling_finding(runs, summary, n_boot, sfx[0]))
    return out


def large_batch_gap(runs: pd.DataFrame, summary: pd.DataFrame, n_boot: int) -> dict[str, Any]:
    """Final test accuracy of the largest batch size minus the best other one, paired."""
    s = summary.dropna(subset=["final_val_accuracy_mean"])
    largest = int(summary["batch_size"].max())
    others = s[s["batch_size"] != largest]
    if others.empty or largest not in set(s["batch_size"].astype(int)):
        return {
            "largest": largest,
            "best": None,
            "mean_diff": np.nan,
            "lo": np.nan,
            "hi": np.nan,
            "detectable": False,
            "n": 0,
        }
    best = int(others.loc[others["final_val_accuracy_mean"].idxmax(), "batch_size"])
    d = _paired_vs(runs, "final_val_accuracy", best, largest, n_boot)
    return {"largest": largest, "best": best, **d}


def overall_findings(
    runs: pd.DataFrame, summary: pd.DataFrame, n_boot: int = 2000
) -> list[Finding]:
    """Across conditions: how each varied axis moves the large-batch accuracy gap.

    For every axis with more than one value, conditions that differ only in that axis are
    compared, e.g. "with linear lr scaling the gap at B=512 shrinks from … to …".
    """
    keys = [k for k in CONDITION_KEYS if k in runs.columns]
    gaps = {}
    for cond, r in runs.groupby(keys, sort=True):
        s = summary[(summary[keys] == pd.Series(cond, index=keys)).all(axis=1)]
        gaps[cond] = large_batch_gap(r, s, n_boot)
    out = []
    for i, axis in enumerate(keys):
        values = sorted({c[i] for c in gaps})
        if len(values) < 2:
            continue
        rest = sorted({c[:i] + c[i + 1 :] for c in gaps})
        for other in rest:
            parts = []
            for v in values:
                cond = other[:i] + (v,) + other[i:]
                g = gaps.get(cond)
                if g is None or g["best"] is None:
                    continue
                mark = "" if g["detectable"] else ", no detectable difference"
                parts.append(
                    f"{axis} {v}: {g['mean_diff']:+.3f} [{g['lo']:+.3f}, "
                    f"{g['hi']:+.3f}] (B={g['largest']} vs B={g['best']}{mark})"
                )
            if len(parts) < 2:
                continue
            fixed = ", ".join(
                f"{k} {x}" for k, x in zip([k for k in keys if k != axis], other, strict=True)
            )
            out.append(
                Finding(
                    f"{axis} effect",
                    f"Final test accuracy of the largest batch size minus the best other one, "
                    f"by {axis} ({fixed}): " + "; ".join(parts) + ".",
                    {"axis": axis, "fixed": other},
                )
            )
    return out
