"""The gradient noise scale measured along one reference run (imports TensorFlow).

A reference run trains the study's MLP as Keras ``fit`` would at the spec's batch size
(`train_reference`: the same batches and the same compiled ``train_step``, without ``fit``'s
per-step Python overhead), with the spec's first learning-rate variant (its rate and warmup)
and first seed. At step 0 and then every `every` optimizer steps (and at the last step) it
takes the per-example gradients of the loss over the whole training split, one jacobian of
the vector of per-example losses, and turns them into B_simple, tr(Sigma) and |G|^2 with the
estimator of `batchstudy.noise_scale` (documented there).

Output ``noise_scale.tsv`` (`NOISE_TABLE_COLUMNS`), one row per checkpoint:

- ``step``: optimizer steps taken (0 = the initial weights); ``epoch``: step / steps per epoch
  (fractional); ``examples``: training examples seen (a partial last batch counts its rows);
- ``b_simple``, ``trace_sigma``, ``grad_norm_sq``: see `batchstudy.noise_scale`;
- ``train_loss``, ``train_accuracy``: the whole training split at these weights (train_loss is
  the mean of the per-example losses whose gradients were taken); ``val_loss``,
  ``val_accuracy``: the validation split (the test split when the dataset has none);
- ``n_examples``, ``n_params``: the gradient matrix's shape; ``batch_size``, ``optimizer``,
  ``learning_rate``, ``warmup_steps``, ``seed``: the run's settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ..data import Dataset
from ..io import write_table
from ..noise_scale import NOISE_COLUMNS, noise_scale_stats
from ..spec import TrainSpec, steps_per_epoch

Log = Callable[[str], None]

#: (x, y) -> n x P per-example gradient matrix, see `gradient_probe`.
Probe = Callable[[np.ndarray, np.ndarray], np.ndarray]

#: Rows per jacobian call: bounds the memory of one call to chunk x n_params floats.
PER_EXAMPLE_CHUNK = 256


class Segment(NamedTuple):
    """Consecutive optimizer steps of the reference run, within one epoch (`segments`)."""

    new_epoch: bool  # the first steps of an epoch: a fresh pass over the batches
    steps: int
    checkpoint: bool  # a checkpoint follows its last step


RUN_COLUMNS: tuple[str, ...] = ("batch_size", "optimizer", "learning_rate", "warmup_steps", "seed")
NOISE_TABLE_COLUMNS: tuple[str, ...] = (
    "step",
    "epoch",
    "examples",
    *NOISE_COLUMNS,
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "n_examples",
    "n_params",
    *RUN_COLUMNS,
)


def checkpoint_steps(total_steps: int, every: int) -> list[int]:
    """0, every, 2*every, ... and always the last step; `every` must be a positive integer."""
    if every < 1 or total_steps < 0:
        raise ValueError(f"every must be >= 1 and total_steps >= 0, got {every}, {total_steps}")
    steps = list(range(0, total_steps + 1, every))
    return steps if steps[-1] == total_steps else [*steps, total_steps]


def examples_seen(step: int, n_train: int, batch_size: int) -> int:
    """Training rows the first `step` optimizer steps used (Keras' partial last batch)."""
    epochs, within = divmod(step, steps_per_epoch(n_train, batch_size))
    return epochs * n_train + min(within * batch_size, n_train)


def per_example_losses(model: Any, x: Any, y: Any) -> Any:
    """Categorical crossentropy of every row: the loss `fit` averages over a batch."""
    import keras

    return keras.losses.categorical_crossentropy(y, model(x, training=False))


def gradient_probe(model: Any) -> Probe:
    """A function (x, y) -> n x P matrix: row i is the gradient of example i's loss w.r.t.
    all of `model`'s trainable weights at their current values.

    One reverse-mode jacobian of the loss vector per chunk of `PER_EXAMPLE_CHUNK` rows,
    vectorized by pfor inside one traced ``tf.function`` (traced once per model, reused at
    every checkpoint). The weights are flattened variable by variable in
    ``model.trainable_variables`` order, the same order as `full_batch_gradient`.
    """
    import tensorflow as tf

    n_features, n_classes = model.inputs[0].shape[-1], model.outputs[0].shape[-1]

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, n_features], tf.float32),
            tf.TensorSpec([None, n_classes], tf.float32),
        ]
    )
    def chunk_jacobian(xb: Any, yb: Any) -> Any:
        with tf.GradientTape() as tape:
            losses = per_example_losses(model, xb, yb)
        jac = tape.jacobian(losses, model.trainable_variables, experimental_use_pfor=True)
        rows = tf.shape(xb)[0]
        return tf.concat([tf.reshape(j, (rows, -1)) for j in jac], axis=1)

    def probe(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        blocks = [
            chunk_jacobian(x[i : i + PER_EXAMPLE_CHUNK], y[i : i + PER_EXAMPLE_CHUNK]).numpy()
            for i in range(0, len(x), PER_EXAMPLE_CHUNK)
        ]
        return np.concatenate(blocks, axis=0).astype(np.float64)

    return probe


def full_batch_gradient(model: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Gradient of the mean loss over all rows, from one tape (flattened like the jacobian)."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(per_example_losses(model, tf.constant(x), tf.constant(y)))
    grads = tape.gradient(loss, model.trainable_variables)
    return np.concatenate([np.ravel(g.numpy()) for g in grads])


def _loss_accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean crossentropy and accuracy of the rows at the current weights."""
    import keras

    probs = model(x, training=False)
    losses = keras.losses.categorical_crossentropy(y, probs).numpy()
    hits = np.argmax(probs.numpy(), axis=1) == np.argmax(y, axis=1)
    return float(np.mean(losses)), float(np.mean(hits))


def checkpoint_row(
    model: Any, probe: Probe, data: Dataset, step: int, batch_size: int
) -> dict[str, Any]:
    """One row of `NOISE_TABLE_COLUMNS` (without the run's settings) at the current weights;
    `probe` is `gradient_probe(model)`."""
    grads = probe(data.x_train, data.y_train)
    train_loss, train_acc = _loss_accuracy(model, data.x_train, data.y_train)
    val_loss, val_acc = _loss_accuracy(model, *data.validation)
    return {
        "step": step,
        "epoch": step / steps_per_epoch(data.n_train, batch_size),
        "examples": examples_seen(step, data.n_train, batch_size),
        **noise_scale_stats(grads),
        "train_loss": train_loss,
        "train_accuracy": train_acc,
        "val_loss": val_loss,
        "val_accuracy": val_acc,
    }


def segments(steps_per_epoch: int, epochs: int, checkpoints: Iterable[int]) -> list[Segment]:
    """The reference run's ``steps_per_epoch * epochs`` optimizer steps cut into `Segment`s
    that end at every epoch's end and at every checkpoint step in that range (step 0, before
    any segment, and steps outside it are ignored), so that none crosses an epoch boundary.

    E.g. 4 steps per epoch, 2 epochs, checkpoints 3, 6 and 8: (new epoch, 3 steps,
    checkpoint), (1 step), (new epoch, 2 steps, checkpoint), (2 steps, checkpoint). No epochs:
    no segments; a non-positive `steps_per_epoch` or negative `epochs` raises ValueError.
    """
    if steps_per_epoch < 1 or epochs < 0:
        raise ValueError(f"need steps_per_epoch >= 1, epochs >= 0: {steps_per_epoch}, {epochs}")
    total = steps_per_epoch * epochs
    wanted = {s for s in checkpoints if 0 < s <= total}
    ends = sorted(wanted | set(range(steps_per_epoch, total + 1, steps_per_epoch)))
    starts = [0, *ends[:-1]] if ends else []
    return [
        Segment(a % steps_per_epoch == 0, b - a, b in wanted)
        for a, b in zip(starts, ends, strict=True)
    ]


def fit_batches(data: Dataset, batch_size: int) -> Any:
    """The ``tf.data`` pipeline Keras ``fit(x, y, batch_size, shuffle=True)`` draws its batches
    from (its array adapter's; iterated afresh every epoch, as ``fit`` does). Built after the
    model and the seed, like ``fit``'s, it yields the same batches in the same order."""
    from keras.src.trainers.data_adapters import get_data_adapter  # Keras pinned in requirements

    adapter = get_data_adapter(data.x_train, data.y_train, batch_size=batch_size, shuffle=True)
    return adapter.get_tf_dataset()


def step_runner(model: Any) -> Callable[[Any, int], None]:
    """A function (iterator, n) that runs `n` optimizer steps of the compiled `model`, each its
    ``train_step`` compiled as ``fit`` compiles it (XLA where the model's ``jit_compile`` says
    so), on the iterator's next batch, in one traced loop."""
    import tensorflow as tf

    @tf.function(jit_compile=bool(model.jit_compile))
    def one_step(batch: Any) -> Any:
        return model.train_step(batch)

    @tf.function
    def run(iterator: Any, n: Any) -> None:
        for _ in tf.range(n):
            one_step(next(iterator))

    return lambda iterator, n: run(iterator, tf.constant(n, dtype=tf.int32))


def train_reference(
    model: Any,
    data: Dataset,
    batch_size: int,
    epochs: int,
    checkpoints: Iterable[int],
    at_checkpoint: Callable[[int], None],
) -> None:
    """Train the compiled `model` for `epochs` epochs as ``fit(x_train, y_train, batch_size,
    epochs, shuffle=True)`` would (the same batches and ``train_step``, so the same weights
    bit for bit), calling ``at_checkpoint(step)`` after every optimizer step listed in
    `checkpoints` (step 0, before training, is the caller's).

    ``fit`` with a per-step callback pays Python and a host sync at every step (~6 ms each
    here); this runs each `segments` stretch, up to the next checkpoint or epoch end, as one
    traced loop."""
    spe = steps_per_epoch(data.n_train, batch_size)
    model.optimizer.build(model.trainable_variables)
    batches, run = fit_batches(data, batch_size), step_runner(model)
    step, iterator = 0, None
    for seg in segments(spe, epochs, checkpoints):
        if seg.new_epoch:
            iterator = iter(batches)
        run(iterator, seg.steps)
        step += seg.steps
        if seg.checkpoint:
            at_checkpoint(step)


def run_noise_scale(data: Dataset, spec: TrainSpec, every: int, log: Log = print) -> pd.DataFrame:
    """Train the reference run of `spec` and measure the noise scale at its checkpoints.

    The spec is resolved for the training split first (a step budget becomes epochs, warmup
    epochs become steps). Only the configurable MLP family is supported (no custom model).
    """
    import keras

    from .models import ModelError, build_mlp, make_optimizer

    if spec.custom_model is not None:
        raise ModelError("the noise-scale run supports the configured MLP, not a custom model")
    spec = spec.resolved(data.n_train)
    variant, seed = spec.variants[0], spec.seeds[0]
    total = spec.epochs * steps_per_epoch(data.n_train, spec.batch_size)
    steps = checkpoint_steps(total, every)
    keras.utils.set_random_seed(seed)
    model = build_mlp(spec, data.x_train.shape[1], data.n_classes)
    model.compile(loss="categorical_crossentropy", optimizer=make_optimizer(spec, variant))
    probe = gradient_probe(model)
    rows = [checkpoint_row(model, probe, data, 0, spec.batch_size)]
    log(
        f"noise scale: {len(steps)} checkpoints over {total} steps, B_simple(0) = "
        f"{rows[0]['b_simple']:.4g}"
    )
    train_reference(
        model,
        data,
        spec.batch_size,
        spec.epochs,
        steps[1:],
        lambda step: rows.append(checkpoint_row(model, probe, data, step, spec.batch_size)),
    )
    settings = {
        "batch_size": spec.batch_size,
        "optimizer": spec.optimizer,
        "learning_rate": variant.learning_rate,
        "warmup_steps": variant.warmup_steps,
        "seed": seed,
    }
    return pd.DataFrame([row | settings for row in rows], columns=list(NOISE_TABLE_COLUMNS))


def write_noise_scale(table: pd.DataFrame, path: str | Path) -> None:
    """Write `noise_scale.tsv` atomically in the study's table format."""
    write_table(path, table[list(NOISE_TABLE_COLUMNS)])
