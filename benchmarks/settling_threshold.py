"""Calibration check of `metrics.settling_max_slope` on a finished study's learning curves.

    python benchmarks/settling_threshold.py results/default/aggregate/history.tsv
    python benchmarks/settling_threshold.py HISTORY --at 40 60 80 --n-val 100

Out of sample: every finite run is cut at epoch T (``--at``) and judged there as the analysis
judges a run at its budget (the slope over the plateau window of the smoothed validation
accuracy, and of the smoothed validation loss relative to its plateau, `batchstudy.metrics`);
the rest of the run then shows whether it had really stopped moving: its plateau at the last
epoch against its plateau at T (accuracy by more than ``--acc-move``, loss by more than the
fraction ``--loss-move``). Per threshold: how many runs are called flat, the share of them
that still moved, and how many runs that did not move are called not flat. The noise floor is
the slope of a truly flat curve of validation accuracy on ``--n-val`` examples (binomial
noise at the runs' median plateau), smoothed as the analysis smooths. Results also go to
benchmarks/out/settling_threshold.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from batchstudy.metrics import RUN_KEYS, plateau, slope, smooth

OUT = Path(__file__).parent / "out" / "settling_threshold.json"
THRESHOLDS = (0.001, 0.002, 0.003, 0.005, 0.01)


def plateau_slopes(acc: np.ndarray, loss: np.ndarray, k_last: int) -> tuple[float, float]:
    """|slope| per epoch over the last ``k_last`` smoothed values: accuracy absolute, loss
    relative to its plateau (as `batchstudy.metrics.is_flat` reads them)."""
    level = abs(plateau(loss[-k_last:], k_last))
    rate = slope(loss[-k_last:])
    return abs(slope(acc[-k_last:])), abs(rate / level if level > 0 else rate)


def judge_at(acc: np.ndarray, loss: np.ndarray, t: int, k_last: int) -> dict[str, float]:
    """Slopes of smoothed curves cut at epoch ``t``, and how far their plateaus moved from
    there to the last epoch (accuracy in points, loss relative to its plateau at ``t``)."""
    slope_acc, slope_loss = plateau_slopes(acc[:t], loss[:t], k_last)
    acc_t, loss_t = plateau(acc[:t], k_last), plateau(loss[:t], k_last)
    return {
        "slope_acc": slope_acc,
        "slope_loss": slope_loss,
        "acc_moved": abs(plateau(acc, k_last) - acc_t),
        "loss_moved": abs(plateau(loss, k_last) - loss_t) / abs(loss_t),
    }


def cut_runs(history: pd.DataFrame, at: list[int], window: int, k_last: int) -> pd.DataFrame:
    """One row per finite run (no non-finite smoothed value) and cut epoch in ``at``."""
    rows = []
    for _, run in history.sort_values("epoch").groupby(list(RUN_KEYS), dropna=False):
        acc = smooth(run["val_accuracy"].to_numpy(), window)
        loss = smooth(run["val_loss"].to_numpy(), window)
        if not (np.all(np.isfinite(acc)) and np.all(np.isfinite(loss))):
            continue
        for t in at:
            if k_last <= t < acc.size:
                rows.append({"t": t, **judge_at(acc, loss, t, k_last)})
    return pd.DataFrame(rows)


def classify(
    cuts: pd.DataFrame, thresholds: tuple[float, ...], acc_move: float, loss_move: float
) -> list[dict[str, Any]]:
    """Per cut epoch and threshold: runs called flat, the share of those that still moved,
    and the runs that did not move but are called not flat."""
    out = []
    for t, g in cuts.groupby("t"):
        moved = (g["acc_moved"] > acc_move) | (g["loss_moved"] > loss_move)
        score = np.maximum(g["slope_acc"], g["slope_loss"])
        for thr in thresholds:
            flat = score <= thr
            out.append(
                {
                    "t": int(t),
                    "threshold": thr,
                    "runs": len(g),
                    "moved": int(moved.sum()),
                    "flat": int(flat.sum()),
                    "flat_but_moved": float((flat & moved).sum() / max(int(flat.sum()), 1)),
                    "stayed_not_flat": int((~flat & ~moved).sum()),
                }
            )
    return out


def noise_floor(n_val: int, p: float, window: int, k_last: int, reps: int = 4000) -> dict:
    """|slope| quantiles of a flat validation-accuracy curve with binomial noise on ``n_val``
    examples at accuracy ``p``, and the share above each threshold."""
    rng = np.random.default_rng(0)
    draws = rng.binomial(n_val, p, size=(reps, 3 * k_last)) / n_val
    s = np.array([abs(slope(smooth(d, window)[-k_last:])) for d in draws])
    return {
        "quantiles": {q: float(np.quantile(s, float(q) / 100)) for q in ("50", "90", "95")},
        "share_above": {str(thr): float((s > thr).mean()) for thr in THRESHOLDS},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("history", type=Path, help="a study's aggregate history.tsv")
    ap.add_argument("--at", type=int, nargs="+", default=[40, 60, 80])
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--plateau-last", type=int, default=10)
    ap.add_argument("--acc-move", type=float, default=0.03)
    ap.add_argument("--loss-move", type=float, default=0.10)
    ap.add_argument("--n-val", type=int, default=100)
    args = ap.parse_args(argv)
    history = pd.read_csv(args.history, sep="\t")
    cuts = cut_runs(history, args.at, args.window, args.plateau_last)
    final = history.loc[history["epoch"] == history["epoch"].max(), "val_accuracy"]
    result = {
        "classified": classify(cuts, THRESHOLDS, args.acc_move, args.loss_move),
        "noise_floor": noise_floor(
            args.n_val, float(final.median()), args.window, args.plateau_last
        ),
    }
    print(pd.DataFrame(result["classified"]).to_string(index=False))
    print("noise floor:", json.dumps(result["noise_floor"]))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
