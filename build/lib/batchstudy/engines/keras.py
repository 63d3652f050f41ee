"""The reference engine: plain Keras ``model.fit``, one replica after another.

Every (learning-rate variant, seed) of `TrainSpec.replicas` gets a fresh model built after
``keras.utils.set_random_seed(seed)`` (so the variants of one seed start from the same weights
and see the same row orders), its own optimizer with the variant's rate and warmup
(`models.make_optimizer`), and one ``fit`` over all epochs with ``shuffle=True`` and the
dataset's validation split as ``validation_data``. The history columns come from:

- ``train_*``: ``fit``'s own per-epoch ``loss``/``accuracy`` (running averages over the epoch);
- ``val_*``: ``fit``'s ``val_loss``/``val_accuracy``;
- ``end_train_*``: ``model.evaluate`` on the whole training split at the end of each epoch;
- ``test_*``: ``model.evaluate`` on the test split, or the ``val_*`` numbers when the dataset
  has no validation split apart from its test split.

With ``spec.eval_every_steps`` = k > 0 a callback also evaluates the validation split (and a
separate test split) with ``model.evaluate`` in one batch after every k-th optimizer step of
the replica's run (global steps, crossing epochs), saving and restoring the compiled metrics'
state around it so that ``fit``'s running train averages are untouched (`_StepEvaluation`).

Per-epoch seconds include those evaluations (as the fused engine's do); the first train and
test steps, where Keras traces its graphs, count as setup. Keras is imported inside the
functions, with whatever backend ``KERAS_BACKEND`` names (`training.select_backend`); nothing
here is TensorFlow-specific, so the engine runs on TensorFlow, JAX and PyTorch alike.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data import Dataset
from ..spec import LrVariant, TrainSpec, steps_per_epoch
from .models import build_custom, build_mlp, make_optimizer, weights_device
from .result import (
    EVAL_METRICS,
    METRIC_COLUMNS,
    Log,
    TrainResult,
    epoch_end_eval_table,
    eval_steps,
    history_frame,
    step_eval_table,
)


def train_keras(data: Dataset, spec: TrainSpec, log: Log, base: str | Path = ".") -> TrainResult:
    """Train every replica of `spec` with ``model.fit``, one after another."""
    import keras

    metrics, step_values, timings, setups, devices = [], [], [], [], []
    for variant, seed in spec.replicas:
        rows, steps, timer, device = _train_one(data, spec, variant, seed, log, base)
        metrics.append(rows)
        step_values.append(steps)
        timings.append(timer.table())
        setups.append(timer.setup_seconds)
        devices.append(device)
    used = ", ".join(dict.fromkeys(devices))
    log(f"Keras {keras.__version__} on backend {keras.backend.backend()}: weights on {used}")
    history = history_frame(spec, np.stack(metrics, axis=2))
    spe = steps_per_epoch(data.n_train, spec.batch_size)
    if spec.eval_every_steps:
        at = eval_steps(spec.epochs * spe, spec.eval_every_steps)
        evals = step_eval_table(spec, at, np.stack(step_values, axis=2), history, spe)
    else:
        evals = epoch_end_eval_table(history, spe)
    return TrainResult(
        history=history,
        evals=evals,
        timing=pd.concat(timings, ignore_index=True),
        setup_seconds=float(np.sum(setups)),
        engine="keras",
        info={
            "replicas": len(spec.replicas),
            "eval_every_steps": spec.eval_every_steps,
            "keras": keras.__version__,
            "keras_backend": keras.backend.backend(),
            "device_used": used,
        },
    )


def _train_one(
    data: Dataset, spec: TrainSpec, variant: LrVariant, seed: int, log: Log, base: str | Path
) -> tuple[np.ndarray, np.ndarray, _EpochTimer, str]:
    """One replica's ``fit``; returns its metrics ``[epochs, len(METRIC_COLUMNS)]``, its step
    evaluations ``[n, len(EVAL_METRICS)]`` (no rows when ``eval_every_steps`` is 0), its timer
    and the device that held its weights (`models.weights_device`)."""
    import keras

    keras.utils.set_random_seed(seed)
    n_features, n_classes = data.x_train.shape[1], data.n_classes
    if spec.custom_model:
        model = build_custom(spec, n_features, n_classes, base)
    else:
        model = build_mlp(spec, n_features, n_classes)
    model.compile(
        loss="categorical_crossentropy",
        optimizer=make_optimizer(spec, variant),
        metrics=["accuracy"],
    )
    ends = _EndOfEpochEvaluation(data)
    steps = _StepEvaluation(data, spec.eval_every_steps)
    timer = _EpochTimer(seed, f"lr {variant.learning_rate:g} seed {seed}", spec.epochs, log)
    hist = model.fit(
        data.x_train,
        data.y_train,
        validation_data=data.validation,
        epochs=spec.epochs,
        batch_size=spec.batch_size,
        verbose=0,
        shuffle=True,
        # the step evaluations run first after a step; the timer's epoch end comes last
        callbacks=[steps.callback(), ends.callback(), timer.callback()],
    )
    h = hist.history
    cols = {
        "train_loss": h["loss"],
        "train_accuracy": h["accuracy"],
        "val_loss": h["val_loss"],
        "val_accuracy": h["val_accuracy"],
        **ends.columns(),
    }
    if not data.has_validation_split:
        cols["test_loss"], cols["test_accuracy"] = h["val_loss"], h["val_accuracy"]
    rows = np.array([cols[c] for c in METRIC_COLUMNS], dtype=np.float64).T
    return rows, steps.table(), timer, weights_device(model)


class _EndOfEpochEvaluation:
    """``model.evaluate`` on the whole training split (and a separate test split) after every
    epoch, in one batch each, with the epoch's final weights."""

    def __init__(self, data: Dataset) -> None:
        self.splits = {"end_train": (data.x_train, data.y_train)}
        if data.has_validation_split:
            self.splits["test"] = (data.x_test, data.y_test)
        self.values: dict[str, list[float]] = {
            f"{name}_{m}": [] for name in self.splits for m in ("loss", "accuracy")
        }

    def callback(self) -> Any:
        import keras

        outer = self

        class _CB(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                for name, (x, y) in outer.splits.items():
                    got = self.model.evaluate(x, y, batch_size=len(x), verbose=0, return_dict=True)
                    outer.values[f"{name}_loss"].append(float(got["loss"]))
                    outer.values[f"{name}_accuracy"].append(float(got["accuracy"]))

        return _CB()

    def columns(self) -> dict[str, list[float]]:
        return self.values


class _StepEvaluation:
    """``model.evaluate`` of the validation split (and a separate test split), in one batch
    each, after every `every`-th optimizer step of a ``fit`` (global count; 0: never).

    ``evaluate`` resets the compiled metrics, which ``fit`` also uses for its running train
    averages, so their variables are saved before and restored after.
    """

    def __init__(self, data: Dataset, every: int) -> None:
        self.every = every
        self.splits = [data.validation]
        if data.has_validation_split:
            self.splits.append((data.x_test, data.y_test))
        self.steps = 0
        self.rows: list[list[float]] = []

    def callback(self) -> Any:
        import keras

        outer = self

        class _CB(keras.callbacks.Callback):
            def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
                outer.steps += 1
                if outer.every and outer.steps % outer.every == 0:
                    outer.rows.append(outer.evaluate(self.model))

        return _CB()

    def evaluate(self, model: Any) -> list[float]:
        saved = [v.numpy() for v in model.metrics_variables]
        row = []
        for x, y in self.splits:
            got = model.evaluate(x, y, batch_size=len(x), verbose=0, return_dict=True)
            row += [float(got["loss"]), float(got["accuracy"])]
        for v, value in zip(model.metrics_variables, saved, strict=True):
            v.assign(value)
        return row * (len(EVAL_METRICS) // len(row))  # test_* = val_* without a test split

    def table(self) -> np.ndarray:
        return np.array(self.rows, dtype=np.float64).reshape(len(self.rows), len(EVAL_METRICS))


class _EpochTimer:
    """Times each epoch of `fit`; the first train step and the first validation step of
    epoch 1, where Keras traces its graphs, are counted as setup, not as epoch time."""

    def __init__(self, seed: int, label: str, epochs: int, log: Log) -> None:
        self.seed, self.label, self.epochs, self.log = seed, label, epochs, log
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
                    timer.log(f"{timer.label}: epoch {k}/{timer.epochs}")

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
