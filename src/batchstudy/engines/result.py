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

from ..io import EPOCH_METRICS, HISTORY_COLUMNS
from ..spec import TrainSpec

Log = Callable[[str], None]

#: The per-epoch metrics of a run, in `io.HISTORY_COLUMNS` order (everything after ``epoch``).
METRIC_COLUMNS: tuple[str, ...] = EPOCH_METRICS


@dataclass
class TrainResult:
    """One job's output: `history` in `io.HISTORY_COLUMNS`, `timing` in `io.TIMING_COLUMNS`,
    graph-building seconds apart from the epochs', and engine-specific facts in `info`."""

    history: pd.DataFrame
    timing: pd.DataFrame
    setup_seconds: float
    engine: str
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
