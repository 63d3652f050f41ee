"""The training engines' common front: set TensorFlow up, pick an engine, write the results.

This is the only part of the package (with `models` and `fused`) that imports
TensorFlow, and it does so inside functions, so the rest of the study never pays for it.

Outputs of one job (see README, "File formats"):
- ``history.tsv``: seed, epoch, train_loss, train_accuracy, val_loss, val_accuracy —
  byte-identical across reruns of the same config on the same machine and software.
- ``timing.tsv``: seed, epoch, seconds, replicas — wall seconds of each epoch with graph
  building excluded; ``seed == -1`` means all ``replicas`` seeds trained together.
- ``run.json``: engine, device, graph-building seconds, notices, versions.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .data import Dataset
from .io import HISTORY_COLUMNS, TIMING_COLUMNS, write_json, write_table
from .spec import TrainSpec

Log = Callable[[str], None]


@dataclass
class TrainResult:
    history: pd.DataFrame
    timing: pd.DataFrame
    setup_seconds: float
    engine: str
    notices: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


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


def train_keras(data: Dataset, spec: TrainSpec, log: Log, base: str | Path = ".") -> TrainResult:
    """The reference engine: the seed's plain `model.fit`, one seed after another."""
    import keras

    from .models import build_custom, build_mlp, make_optimizer

    histories, timings, setups = [], [], []
    n_features, n_classes = data.x_train.shape[1], data.n_classes
    for seed in spec.seeds:
        keras.utils.set_random_seed(seed)
        if spec.custom_model:
            model = build_custom(spec, n_features, n_classes, base)
        else:
            model = build_mlp(spec, n_features, n_classes)
        model.compile(
            loss="categorical_crossentropy",
            optimizer=make_optimizer(spec, data.n_train),
            metrics=["accuracy"],
        )
        timer = _EpochTimer(seed, spec.epochs, log)
        hist = model.fit(
            data.x_train,
            data.y_train,
            validation_data=(data.x_test, data.y_test),
            epochs=spec.epochs,
            batch_size=spec.batch_size,
            verbose=0,
            shuffle=True,
            callbacks=[timer.callback()],
        )
        h = hist.history
        histories.append(
            pd.DataFrame(
                {
                    "seed": seed,
                    "epoch": np.arange(1, spec.epochs + 1),
                    "train_loss": h["loss"],
                    "train_accuracy": h["accuracy"],
                    "val_loss": h["val_loss"],
                    "val_accuracy": h["val_accuracy"],
                }
            )
        )
        timings.append(timer.table())
        setups.append(timer.setup_seconds)
    return TrainResult(
        history=pd.concat(histories, ignore_index=True),
        timing=pd.concat(timings, ignore_index=True),
        setup_seconds=float(np.sum(setups)),
        engine="keras",
    )


class _EpochTimer:
    """Times each epoch of `fit`; the first train step and the first validation step of
    epoch 1, where Keras traces its graphs, are counted as setup, not as epoch time."""

    def __init__(self, seed: int, epochs: int, log: Log) -> None:
        self.seed, self.epochs, self.log = seed, epochs, log
        self.seconds: list[float] = []
        self.setup_seconds = 0.0
        self._t0 = self._b0 = 0.0
        self._first_train = self._first_test = True

    def callback(self) -> Any:
        import keras

        timer = self

        class _CB(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
                timer._t0 = time.perf_counter()

            def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
                if timer._first_train:
                    timer._b0 = time.perf_counter()

            def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
                if timer._first_train:
                    timer.setup_seconds += time.perf_counter() - timer._b0
                    timer._first_train = False

            def on_test_batch_begin(self, batch: int, logs: Any = None) -> None:
                if timer._first_test:
                    timer._b0 = time.perf_counter()

            def on_test_batch_end(self, batch: int, logs: Any = None) -> None:
                if timer._first_test:
                    timer.setup_seconds += time.perf_counter() - timer._b0
                    timer._first_test = False

            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                elapsed = time.perf_counter() - timer._t0
                if epoch == 0:
                    elapsed -= timer.setup_seconds
                timer.seconds.append(elapsed)
                k = epoch + 1
                if k == 1 or k == timer.epochs or k % max(1, timer.epochs // 10) == 0:
                    timer.log(f"seed {timer.seed}: epoch {k}/{timer.epochs}")

        return _CB()

    def table(self) -> pd.DataFrame:
        n = len(self.seconds)
        return pd.DataFrame(
            {
                "seed": self.seed,
                "epoch": np.arange(1, n + 1),
                "seconds": self.seconds,
                "replicas": 1,
            }
        )


def choose_engine(spec: TrainSpec) -> tuple[str, list[str]]:
    """The fused engine runs every model it can express; anything else falls back to Keras."""
    if spec.engine == "fused" and not spec.fused_capable:
        return "keras", [
            f"custom model {spec.custom_model!r} cannot run on the fused engine; "
            "training it with the Keras engine"
        ]
    return spec.engine, []


def train(data: Dataset, spec: TrainSpec, log: Log, base: str | Path = ".") -> TrainResult:
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
        from .fused import train_fused

        result = train_fused(data, spec, log)
    else:
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
) -> None:
    hist = result.history.loc[:, list(HISTORY_COLUMNS)].sort_values(["seed", "epoch"])
    write_table(history, hist.astype({"seed": int, "epoch": int}))
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
