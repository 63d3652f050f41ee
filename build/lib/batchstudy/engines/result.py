"""What an engine returns, and the long history table both engines build the same way.

Neutral: numpy and pandas only, no TensorFlow, so the dispatcher, the writer and the tests
can use it without paying for TensorFlow's import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..io import EPOCH_METRICS, EVAL_COLUMNS, HISTORY_COLUMNS, RUN_ID_COLUMNS
from ..spec import TrainSpec

Log = Callable[[str], None]

#: The per-epoch metrics of a run, in `io.HISTORY_COLUMNS` order (everything after ``epoch``).
METRIC_COLUMNS: tuple[str, ...] = EPOCH_METRICS
#: The metrics of one evaluation in `io.EVAL_COLUMNS` order (everything after ``epoch``).
EVAL_METRICS: tuple[str, ...] = EVAL_COLUMNS[len(RUN_ID_COLUMNS) + 2 :]


@dataclass
class TrainResult:
    """One job's output: `history` in `io.HISTORY_COLUMNS`, `timing` in `io.TIMING_COLUMNS`,
    `evals` in `io.EVAL_COLUMNS`, graph-building seconds apart from the epochs', and
    engine-specific facts in `info`."""

    history: pd.DataFrame
    timing: pd.DataFrame
    setup_seconds: float
    engine: str
    evals: pd.DataFrame
    notices: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


def replica_ids(spec: TrainSpec) -> list[dict[str, Any]]:
    """`io.RUN_ID_COLUMNS` values of every replica, in `TrainSpec.replicas` order."""
    return [
        {
            "lr_scaling": v.lr_scaling,
            "base_lr": v.base_lr,
            "learning_rate": v.learning_rate,
            "seed": seed,
        }
        for v, seed in spec.replicas
    ]


def history_frame(spec: TrainSpec, metrics: np.ndarray) -> pd.DataFrame:
    """The long history table from `metrics` ``[epochs, len(METRIC_COLUMNS), R]``.

    Rows are replica-major (`TrainSpec.replicas` order), then epoch from 1; metric values are
    widened to float64 so that the file shows float32 numbers exactly.
    """
    n_epochs, n_metrics, n_rep = metrics.shape
    ids = replica_ids(spec)
    if n_metrics != len(METRIC_COLUMNS) or n_rep != len(ids):
        raise ValueError(
            f"metrics of shape {metrics.shape}, expected [epochs, {len(METRIC_COLUMNS)}, "
            f"{len(ids)}]"
        )
    frames = []
    for r, run in enumerate(ids):
        cols = {name: metrics[:, m, r].astype(np.float64) for m, name in enumerate(METRIC_COLUMNS)}
        frames.append(pd.DataFrame({**run, "epoch": np.arange(1, n_epochs + 1), **cols}))
    return pd.concat(frames, ignore_index=True).loc[:, list(HISTORY_COLUMNS)]


def epoch_end_eval_table(history: pd.DataFrame, steps_per_epoch: int) -> pd.DataFrame:
    """`io.EVAL_COLUMNS` rows of the epoch-end evaluations in `history` (what ``evals.tsv``
    holds when the job evaluates once per epoch): step = epoch x `steps_per_epoch`."""
    out = history.loc[:, [*RUN_ID_COLUMNS, "epoch", *EVAL_METRICS]].copy()
    out.insert(len(RUN_ID_COLUMNS), "step", out["epoch"].astype(np.int64) * steps_per_epoch)
    out["epoch"] = out["epoch"].astype(np.float64)
    return out.reset_index(drop=True).loc[:, list(EVAL_COLUMNS)]


def step_eval_table(
    spec: TrainSpec,
    steps: np.ndarray,
    values: np.ndarray,
    history: pd.DataFrame,
    steps_per_epoch: int,
) -> pd.DataFrame:
    """The long ``evals`` table from evaluations at `steps` ``[n]`` with `values`
    ``[n, len(EVAL_METRICS), R]`` (float32 widened to float64).

    Rows are replica-major (`TrainSpec.replicas` order), then step. Divergence as in the
    history: a run's values are NaN from its first evaluation with a non-finite value on, and
    from the end of the first epoch its `history` row has a non-finite metric (so an
    evaluation at that epoch's last step agrees with the history row).
    """
    n, n_metrics, n_rep = values.shape
    ids = replica_ids(spec)
    if n_metrics != len(EVAL_METRICS) or n_rep != len(ids) or len(steps) != n:
        raise ValueError(
            f"evaluations of shape {values.shape} at {len(steps)} steps, expected "
            f"[{len(steps)}, {len(EVAL_METRICS)}, {len(ids)}]"
        )
    steps = np.asarray(steps, dtype=np.int64)
    frames = []
    for r, run in enumerate(ids):
        vals = values[:, :, r].astype(np.float64)
        dead = np.cumsum(~np.isfinite(vals).all(axis=1)) > 0
        sel = np.ones(len(history), bool)
        for key, value in run.items():
            sel &= (history[key] == value).to_numpy()
        bad = history[sel & ~np.isfinite(history[list(METRIC_COLUMNS)]).all(axis=1).to_numpy()]
        if len(bad):
            dead |= steps >= int(bad["epoch"].min()) * steps_per_epoch
        vals[dead] = np.nan
        cols = {name: vals[:, m] for m, name in enumerate(EVAL_METRICS)}
        epoch = steps / float(steps_per_epoch)
        frames.append(pd.DataFrame({**run, "step": steps, "epoch": epoch, **cols}))
    return pd.concat(frames, ignore_index=True).loc[:, list(EVAL_COLUMNS)]


def eval_steps(total_steps: int, every: int) -> np.ndarray:
    """The steps a run of `total_steps` is evaluated after when evaluating every `every`."""
    return np.arange(every, total_steps + 1, every, dtype=np.int64)
