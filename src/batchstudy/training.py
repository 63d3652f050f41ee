"""The training engines' common front: set TensorFlow up, pick an engine, write the results.

The engines live in `batchstudy.engines` (`keras`: the reference, `fused`: every replica in
one graph); this module imports them, and TensorFlow, only inside functions, so importing it
costs nothing.

Outputs of one job (see README, "File formats"):
- ``history.tsv``: `io.HISTORY_COLUMNS`, one row per (learning-rate variant, seed, epoch) —
  byte-identical across reruns of the same config on the same machine and software.
- ``evals.tsv``: `io.EVAL_COLUMNS`, one row per (learning-rate variant, seed, evaluation):
  every ``eval_every_steps``-th optimizer step, or every epoch end when that is 0.
- ``timing.tsv``: seed, epoch, seconds, replicas — wall seconds of each epoch with graph
  building excluded; ``seed == -1`` means all ``replicas`` replicas trained together.
- ``run.json``: engine, device, graph-building seconds, notices, versions.
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .data import Dataset
from .engines.result import Log, TrainResult
from .io import EVAL_COLUMNS, HISTORY_COLUMNS, TIMING_COLUMNS, write_json, write_table
from .spec import TrainSpec

__all__ = ["TrainResult", "choose_engine", "configure_tensorflow", "train", "write_result"]


def configure_tensorflow(threads: int, deterministic: bool = True) -> dict[str, Any]:
    """Pin TensorFlow's thread pools to the job's `threads` before any op runs, so parallel
    jobs share the cores instead of each assuming it owns the machine."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(max(1, threads))
    tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, threads)))
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return {
        "tensorflow": tf.__version__,
        "threads": threads,
        "op_determinism": deterministic,
        "gpus_visible_to_tensorflow": gpus,
        "device": ", ".join(gpus)
        if gpus
        else f"CPU ({platform.processor() or platform.machine()})",
    }


def choose_engine(spec: TrainSpec) -> tuple[str, list[str]]:
    """The fused engine runs every model it can express; anything else falls back to Keras."""
    if spec.engine == "fused" and not spec.fused_capable:
        return "keras", [
            f"custom model {spec.custom_model!r} cannot run on the fused engine; "
            "training it with the Keras engine"
        ]
    return spec.engine, []


def train(data: Dataset, spec: TrainSpec, log: Log, base: str | Path = ".") -> TrainResult:
    """Train every replica of `spec` (resolved for `data`) on the engine it asks for."""
    spec = spec.resolved(data.n_train)
    if spec.epochs < 1:
        raise ValueError(f"a training job needs at least one epoch, got {spec.epochs}")
    if spec.batch_size >= data.n_train:
        log(
            f"NOTICE: batch size {spec.batch_size} >= {data.n_train} training rows: "
            "full-batch gradient descent, one step per epoch"
        )
    engine, notices = choose_engine(spec)
    for n in notices:
        log(f"NOTICE: {n}")
    if engine == "fused":
        from .engines.fused import train_fused

        result = train_fused(data, spec, log)
    else:
        from .engines.keras import train_keras

        result = train_keras(data, spec, log, base)
    result.notices.extend(notices)
    return result


def write_result(
    result: TrainResult,
    spec: TrainSpec,
    history: Path,
    timing: Path,
    meta: Path,
    extra: dict[str, Any],
    evals: Path,
) -> None:
    """history.tsv and evals.tsv in the engines' replica order (`TrainSpec.replicas`, then
    epoch or step), timing.tsv and run.json, each written atomically."""
    hist = result.history.loc[:, list(HISTORY_COLUMNS)]
    write_table(history, hist.astype({"seed": int, "epoch": int}))
    write_table(evals, result.evals.loc[:, list(EVAL_COLUMNS)].astype({"seed": int, "step": int}))
    write_table(timing, result.timing.loc[:, list(TIMING_COLUMNS)])
    write_json(
        meta,
        {
            "engine": result.engine,
            "setup_seconds": result.setup_seconds,
            "notices": result.notices,
            "spec": asdict(spec),
            **result.info,
            **extra,
        },
    )
