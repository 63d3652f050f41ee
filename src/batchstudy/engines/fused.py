"""The fused engine: every replica of one training job in one compiled TensorFlow graph.

A job's ``R = len(spec.variants) * len(spec.seeds)`` replicas (`TrainSpec.replicas`,
variant-major) have their parameters stacked on a leading axis: one flat ``[R, P]`` tensor, and
Adam's or momentum's slots alike. Each step is a handful of batched matmuls over
``[R, batch, ...]`` tensors; all epochs and steps run inside one ``tf.function`` (two nested
``tf.while_loop``s), so no Python runs per step or per epoch. Per-epoch metrics go into
``TensorArray``s and come back at the end. Read top to bottom: `Graph` (the constants),
`forward`, `train_step`, `update`, `full_batches`, `record`, `epoch`, `run`, `train_fused`.

Same mathematics as the Keras reference (`engines.keras`, with `models.build_mlp`):

- Dense layers ``x @ W + b`` with zero biases; hidden kernels drawn from ``spec.initializer``
  (Keras' VarianceScaling: he/glorot, uniform, or normal truncated at 2 sd with the stddev
  divided by 0.8796...), the softmax layer's kernel from glorot_uniform (Keras' Dense default).
- Categorical crossentropy of the softmax computed from the logits, as Keras 3 does when the
  model's output comes from a Softmax op (``softmax_cross_entropy_with_logits``, no clipping),
  averaged over the batch.
- Gradients from ``tf.GradientTape``, of the sum over replicas of each replica's mean loss. No
  op mixes replicas (batched matmuls, per-row softmax, reductions within a replica), so replica
  ``r``'s gradient is exactly the gradient of its own mean loss, computed by TensorFlow's own
  registered gradients (the same kernels Keras' ``fit`` differentiates through). The mean's
  ``1/rows`` enters as the tape's output gradient of the per-sample losses, which is the same
  derivative without reduction ops to differentiate in every step.
- The optimizer update is `update`, one short pure function with Keras 3's Adam and SGD
  formulas op for op. It is not Keras' optimizer applied to the stacked variables because
  (1) the learning rate and warmup are per replica, ``[R, 1]`` tensors, while a Keras optimizer
  holds one scalar rate; (2) Keras' optimizers update ``tf.Variable``s by assignment, while the
  loops here carry plain tensors (a pure step is what lets a diverged replica stay isolated and
  the warm-up call leave no state behind); (3) the stacked update is ~10 elementwise ops on one
  ``[R, P]`` tensor. The exactness tests compare the result with Keras' ``fit`` itself.
- Per-replica learning rates: replica ``r`` uses ``lr[r] * min(1, t / warmup_steps[r])`` at
  iteration ``t`` (from 1), with ``warmup_steps`` 0 meaning none (`spec.LrVariant`).
- Reshuffle every epoch; the partial last batch is a smaller step of its own; a batch size
  above ``n_train`` means one full batch per epoch (as Keras does).
- Per-epoch metrics in `result.METRIC_COLUMNS` order. ``train_*`` as ``fit`` reports them:
  Keras 3's loss tracker is a ``Mean`` updated after every batch with the batch's mean loss and
  ``sample_weight`` = the batch's size, and ``accuracy`` a mean over per-sample values, both
  reset each epoch; so train loss = (sum over the epoch's steps of each sample's loss in that
  step's forward pass, i.e. before the step's update) / ``n_train``, and train accuracy likewise.
  ``end_train_*`` / ``val_*`` / ``test_*``: the whole training / validation / test split with the
  epoch's final weights (``test_*`` is copied from ``val_*`` when the dataset has no separate
  validation split, so the graph evaluates it only once).

Randomness is stateless: a replica with seed ``s`` draws its initial kernels from seed pair
``(s, -1 - layer)`` and its epoch-``e`` shuffle (``e`` from 0) from ``(s, e)`` (`initial_params`,
`epoch_order`). Replicas of different learning-rate variants with the same seed thus start from
the same weights and see the same row orders (as Keras does with that seed), a seed's curve
does not depend on which other replicas share the job, and reruns are bit-identical on the same
machine and software. Each seed is drawn once and gathered onto its replicas.

Step evaluations (``spec.eval_every_steps`` = k > 0): inside the step loop, after every
optimizer step whose global count ``t`` (from 1, crossing epoch boundaries) is a multiple of k,
a ``tf.cond`` evaluates the validation split (and the test split when it is separate) with the
weights after that step and writes loss and accuracy into a per-epoch buffer of
``ceil(steps_per_epoch / k)`` slots (the most multiples of k one epoch can hold); the epoch loop
stacks the buffers in ``TensorArray``s. With k = 0 none of these ops exist.

A replica whose metrics or weights become NaN/inf is marked diverged: its metrics are NaN from
that epoch on. No op reduces over the replica axis, so the other replicas are unaffected.

Timing. ``setup_seconds`` = tracing the graph (``get_concrete_function``) + one warm-up call of
the very same concrete function with one epoch whose step loop stops after one iteration (the
epoch's remaining steps and the evaluations still run once): this makes TensorFlow optimise and
instantiate the whole graph, both loop bodies included, and with ``jit_compile`` also runs the
XLA compilation; its results are discarded. The real call takes ``tf.timestamp()`` inside the
graph once before epoch 1 (after the weights are initialised) and once at the end of every
epoch (after its evaluations): each epoch's seconds are in-graph clock differences, with no
graph building in them. They include the epoch's evaluations: the end-of-epoch ones always,
and the step evaluations when ``eval_every_steps`` > 0 (which make small batch sizes' epochs
markedly slower: time batch sizes with the timing stage, `engines.timing`, which never
evaluates per step). The rest of the real call's wall time is ``train_call_seconds`` minus
``in_graph_train_seconds`` in ``info``. TensorFlow's ``Timestamp`` kernel refuses to run while
op determinism is enabled, so the flag is lifted for the duration of the calls only
(`_timestamps_allowed`).
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf

from ..data import Dataset
from ..spec import ACTIVATIONS, INITIALIZERS, OPTIMIZERS, TrainSpec
from .result import (
    Log,
    TrainResult,
    epoch_end_eval_table,
    eval_steps,
    history_frame,
    replica_ids,
    step_eval_table,
)

#: Keras' VarianceScaling: the stddev of a normal truncated at 2 sd is divided by this.
_TRUNC_NORMAL_STD = 0.87962566103423978

#: (scale, mode, distribution) of Keras' named initializers.
_INITIALIZERS: dict[str, tuple[float, str, str]] = {
    "he_uniform": (2.0, "fan_in", "uniform"),
    "he_normal": (2.0, "fan_in", "truncated_normal"),
    "glorot_uniform": (1.0, "fan_avg", "uniform"),
    "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
}
assert set(INITIALIZERS) <= set(_INITIALIZERS)

#: Rows of the in-graph metrics: train loss/accuracy summed over the epoch's steps, then loss
#: and accuracy of each evaluated split (end_train, val, and test when it is separate).
_TRAIN_ROWS = 2
#: `run`'s outputs of the step evaluations (`new_record`), when there are any.
_REC_NAMES = ("eval_values", "eval_steps", "eval_counts")


# ---- initial weights and row orders (stateless, per seed) --------------------------------


def init_scale(name: str, fan_in: int, fan_out: int) -> tuple[str, float]:
    """Distribution and its limit (uniform) or stddev (truncated normal), as Keras computes."""
    scale, mode, dist = _INITIALIZERS[name]
    denom = fan_in if mode == "fan_in" else (fan_in + fan_out) / 2.0
    scale /= max(1.0, denom)
    if dist == "uniform":
        return dist, math.sqrt(3.0 * scale)
    return dist, math.sqrt(scale) / _TRUNC_NORMAL_STD


def layer_widths(spec: TrainSpec, n_features: int, n_classes: int) -> list[int]:
    return [n_features, *spec.hidden_layers, n_classes]


def layer_initializers(spec: TrainSpec) -> list[str]:
    """Hidden layers use ``spec.initializer``; the softmax layer Keras' Dense default."""
    return [spec.initializer] * len(spec.hidden_layers) + ["glorot_uniform"]


def _draw_kernel(seed: Any, layer: int, initializer: str, fan_in: int, fan_out: int) -> Any:
    """One seed's kernel of `layer`; `seed` an int64 scalar (tensor or int)."""
    dist, bound = init_scale(initializer, fan_in, fan_out)
    pair = tf.stack([tf.cast(seed, tf.int64), tf.constant(-1 - layer, tf.int64)])
    shape = [fan_in, fan_out]
    if dist == "uniform":
        return tf.random.stateless_uniform(shape, pair, -bound, bound, dtype=tf.float32)
    return tf.random.stateless_truncated_normal(shape, pair, 0.0, bound, dtype=tf.float32)


def _shuffle(seed: Any, epoch: Any, n: int) -> Any:
    """Seed `seed`'s order of the `n` training rows in `epoch` (0-based)."""
    pair = tf.stack([tf.cast(seed, tf.int64), tf.cast(epoch, tf.int64)])
    return tf.random.experimental.stateless_shuffle(tf.range(n), pair)


def initial_params(spec: TrainSpec, seed: int, n_features: int, n_classes: int) -> list[np.ndarray]:
    """The initial ``[W0, b0, W1, b1, ...]`` the fused engine gives `seed` (for checks)."""
    widths = layer_widths(spec, n_features, n_classes)
    out = []
    for i, init in enumerate(layer_initializers(spec)):
        out.append(_draw_kernel(seed, i, init, widths[i], widths[i + 1]).numpy())
        out.append(np.zeros(widths[i + 1], np.float32))
    return out


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The row order the fused engine uses for `seed` in `epoch` (0-based; for checks)."""
    return _shuffle(seed, epoch, n).numpy()


# ---- the graph's constants ---------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """A split evaluated after every epoch: `x` ``[n, d]`` shared by all replicas, one-hot `y`
    ``[R*n, k]`` and `labels` ``[R*n]`` tiled once per replica (the loss op's flat layout)."""

    x: Any
    y: Any
    labels: Any
    n: int


@dataclass(frozen=True)
class Graph:
    """Everything the graph is built from, fixed when it is traced.

    Python values fix shapes and which ops exist; tensors (the data, the per-replica rates,
    the mean's weights) are made once, eagerly, and captured by the graph instead of being
    rebuilt inside the loop bodies. `seeds` are the job's distinct seeds; replica ``r`` uses
    ``seeds[rep_seed[r]]``.
    """

    seeds: tuple[int, ...]
    rep_seed: tuple[int, ...]
    widths: tuple[int, ...]
    initializers: tuple[str, ...]
    activation: str
    optimizer: str
    beta_1: float
    beta_2: float
    epsilon: float
    momentum: float
    nesterov: bool
    warmup: bool  # does any replica warm up?
    n_train: int
    batch: int  # min(batch size, n_train)
    n_full: int  # full batches per epoch
    rem: int  # rows of the partial last batch (0: none)
    lr: Any  # [R, 1] float32
    warmup_steps: Any  # [R, 1] float32, max(1, warmup_steps)
    x_train: Any  # [n, d]
    y_train: Any  # [n, k]
    labels_train: Any  # [n] int32
    evals: tuple[Split, ...]  # end_train, val, and test when it is separate
    eval_every: int  # evaluate val (and test) after every eval_every-th step; 0: never
    mean_weights: dict[int, Any]  # batch rows -> [R*rows] filled with 1/rows

    @property
    def n_rep(self) -> int:
        return len(self.rep_seed)

    @property
    def n_classes(self) -> int:
        return self.widths[-1]

    @property
    def n_layers(self) -> int:
        return len(self.widths) - 1

    def layer_shapes(self, layer: int) -> tuple[list[int], list[int]]:
        """Stacked kernel ``[R, in, out]`` and bias ``[R, 1, out]`` shapes of `layer`."""
        w_in, w_out = self.widths[layer], self.widths[layer + 1]
        return [self.n_rep, w_in, w_out], [self.n_rep, 1, w_out]

    @property
    def sizes(self) -> list[int]:
        """Flat layout of one replica's parameters: W0, b0, W1, b1, ..."""
        out = []
        for w_in, w_out in zip(self.widths, self.widths[1:], strict=False):
            out += [w_in * w_out, w_out]
        return out

    @property
    def n_slots(self) -> int:
        if self.optimizer == "adam":
            return 2
        return 1 if self.momentum != 0.0 else 0

    @property
    def steps_per_epoch(self) -> int:
        return self.n_full + (1 if self.rem else 0)

    @property
    def step_evals(self) -> tuple[Split, ...]:
        """The splits evaluated every `eval_every` steps: validation, and a separate test."""
        return self.evals[1:]

    @property
    def eval_slots(self) -> int:
        """The most step evaluations one epoch can hold: ``ceil(steps_per_epoch / k)``."""
        return -(-self.steps_per_epoch // self.eval_every) if self.eval_every else 0


def _split(x: np.ndarray, y: np.ndarray, n_rep: int) -> Split:
    labels = np.argmax(y, axis=1).astype(np.int32)
    return Split(
        x=tf.constant(x, tf.float32),
        y=tf.constant(np.tile(y, (n_rep, 1)), tf.float32),
        labels=tf.constant(np.tile(labels, n_rep)),
        n=int(x.shape[0]),
    )


def make_graph(data: Dataset, spec: TrainSpec) -> Graph:
    """The constants of `spec`'s graph on `data` (`spec` resolved: warmups in steps)."""
    seeds = tuple(dict.fromkeys(spec.seeds))
    replicas = spec.replicas
    n_train = data.n_train
    batch = min(int(spec.batch_size), n_train)
    evals = [(data.x_train, data.y_train), data.validation]
    if data.has_validation_split:
        evals.append((data.x_test, data.y_test))
    col = (len(replicas), 1)
    return Graph(
        seeds=seeds,
        rep_seed=tuple(seeds.index(s) for _, s in replicas),
        widths=tuple(layer_widths(spec, data.x_train.shape[1], data.n_classes)),
        initializers=tuple(layer_initializers(spec)),
        activation=spec.activation,
        optimizer=spec.optimizer,
        beta_1=spec.beta_1,
        beta_2=spec.beta_2,
        epsilon=spec.epsilon,
        momentum=spec.momentum,
        nesterov=spec.nesterov,
        warmup=any(v.warmup_steps > 0 for v, _ in replicas),
        n_train=n_train,
        batch=batch,
        n_full=n_train // batch,
        rem=n_train % batch,
        lr=tf.constant(np.reshape([v.learning_rate for v, _ in replicas], col), tf.float32),
        warmup_steps=tf.constant(
            np.reshape([max(1, v.warmup_steps) for v, _ in replicas], col), tf.float32
        ),
        x_train=tf.constant(data.x_train, tf.float32),
        y_train=tf.constant(data.y_train, tf.float32),
        labels_train=tf.constant(np.argmax(data.y_train, axis=1).astype(np.int32)),
        evals=tuple(_split(x, y, len(replicas)) for x, y in evals),
        eval_every=int(spec.eval_every_steps),
        mean_weights={
            rows: tf.fill([len(replicas) * rows], np.float32(1.0 / rows))
            for rows in {batch, n_train % batch} - {0}
        },
    )


# ---- one step ----------------------------------------------------------------------------


def activate(z: Any, name: str) -> Any:
    """The activations of `spec.ACTIVATIONS`, with the ops Keras 3 uses on TensorFlow."""
    if name == "relu":
        return tf.nn.relu(z)
    if name == "tanh":
        return tf.tanh(z)
    if name == "sigmoid":
        return tf.sigmoid(z)
    if name == "elu":
        return tf.nn.elu(z)
    if name == "gelu":
        return tf.nn.gelu(z, approximate=False)
    if name == "linear":
        return z
    raise ValueError(f"activation {name!r} is not one of {list(ACTIVATIONS)}")


def forward(g: Graph, x: Any, theta: Any) -> Any:
    """Logits ``[R, rows, k]`` of every replica for `x` (``[R, rows, d]``, or ``[rows, d]``
    shared by all replicas) from the flat parameters `theta` ``[R, P]``."""
    parts = tf.split(theta, g.sizes, axis=1)
    a = x
    for i in range(g.n_layers):
        w_shape, b_shape = g.layer_shapes(i)
        z = tf.linalg.matmul(a, tf.reshape(parts[2 * i], w_shape))
        z = z + tf.reshape(parts[2 * i + 1], b_shape)
        a = activate(z, g.activation) if i < g.n_layers - 1 else z
    return a


def sample_losses(g: Graph, logits: Any, y: Any, labels: Any) -> tuple[Any, Any]:
    """Each sample's crossentropy and whether its argmax is right, flat ``[R*rows]``."""
    flat = tf.reshape(logits, [-1, g.n_classes])
    loss, _ = tf.raw_ops.SoftmaxCrossEntropyWithLogits(features=flat, labels=y)
    hit = tf.cast(tf.equal(tf.argmax(flat, axis=1, output_type=tf.int32), labels), tf.float32)
    return loss, hit


def train_step(
    g: Graph, xb: Any, yb: Any, lb: Any, t: Any, theta: Any, slots: tuple[Any, ...]
) -> tuple[Any, Any, tuple[Any, ...], Any]:
    """One optimizer step of every replica on its batch of ``rows`` samples.

    `xb` ``[R, rows, d]``, `yb` ``[R*rows, k]`` one-hot, `lb` ``[R*rows]`` labels, `t` the
    iterations so far. Returns the iterations, parameters and slots after the step, and
    ``[2, R*rows]``: each sample's loss and hit from this step's forward pass.
    """
    with tf.GradientTape() as tape:
        tape.watch(theta)
        loss, hit = sample_losses(g, forward(g, xb, theta), yb, lb)
    # d(sum over replicas of each replica's mean loss) = the per-sample losses' gradient
    # weighted 1/rows each: given to the tape as output gradients (no reduction ops to
    # differentiate; the same 1/rows as Keras' mean, see `Graph.mean_weights`).
    grad = tape.gradient(loss, theta, output_gradients=g.mean_weights[int(xb.shape[1])])
    t1 = t + 1.0
    theta, slots = update(g, theta, slots, grad, t1)
    return t1, theta, slots, tf.stack([loss, hit])


def update(
    g: Graph, theta: Any, slots: tuple[Any, ...], grad: Any, t1: Any
) -> tuple[Any, tuple[Any, ...]]:
    """One optimizer update of the stacked ``[R, P]`` parameters, `t1` = iterations after it.

    Keras 3's formulas op for op (``keras/src/optimizers/adam.py`` and ``sgd.py``,
    ``update_step``), with the replica's rate ``lr = lr_r * min(1, t1 / warmup_steps_r)``:
    Adam ``alpha = lr * sqrt(1 - b2^t1) / (1 - b1^t1)``, ``m += (g - m) * (1 - b1)``,
    ``v += (g^2 - v) * (1 - b2)``, ``w -= m * alpha / (sqrt(v) + eps)``; SGD with momentum
    ``a = a * mu - g * lr`` then ``w += a`` (nesterov ``w += a * mu - g * lr``); plain SGD
    ``w -= g * lr``. ``(1 - b)`` is taken in Python and rounded to float32, as Keras does.
    """
    lr = g.lr * tf.minimum(1.0, t1 / g.warmup_steps) if g.warmup else g.lr
    if g.optimizer == "adam":
        m, v = slots
        alpha = lr * tf.sqrt(1.0 - tf.pow(g.beta_2, t1)) / (1.0 - tf.pow(g.beta_1, t1))
        m = m + (grad - m) * (1.0 - g.beta_1)
        v = v + (tf.square(grad) - v) * (1.0 - g.beta_2)
        return theta - (m * alpha) / (tf.sqrt(v) + g.epsilon), (m, v)
    if g.momentum != 0.0:
        (a,) = slots
        a = a * g.momentum - grad * lr
        if g.nesterov:
            return theta + (a * g.momentum - grad * lr), (a,)
        return theta + a, (a,)
    return theta - grad * lr, ()


# ---- one epoch ---------------------------------------------------------------------------


def _steps_first(g: Graph, a: Any) -> Any:
    """Rows ``[R, n, ...]`` in epoch order -> the full batches ``[n_full, R, batch, ...]``."""
    inner = list(a.shape[2:])
    a = tf.reshape(a[:, : g.n_full * g.batch], [g.n_rep, g.n_full, g.batch, *inner])
    return tf.transpose(a, [1, 0, 2, *range(3, 3 + len(inner))])


def full_batches(
    g: Graph,
    unroll: int,
    rows: tuple[Any, Any, Any],
    t: Any,
    theta: Any,
    slots: tuple,
    loop_limit: Any,
    rec: tuple,
) -> tuple[Any, Any, tuple, Any, tuple]:
    """The epoch's full batches: a while loop of `unroll` steps per iteration (stopped after
    `loop_limit` iterations), then unroll's leftover steps. `rows` are x, y, labels
    ``[R, n, ...]`` in epoch order; `rec` the step evaluations so far (`record`). Returns t,
    theta, slots, ``[2, R]`` summed loss, hits, and `rec`."""
    xs = _steps_first(g, rows[0])
    ys = tf.reshape(_steps_first(g, rows[1]), [g.n_full, g.n_rep * g.batch, g.n_classes])
    ls = tf.reshape(_steps_first(g, rows[2]), [g.n_full, g.n_rep * g.batch])

    def step(j: Any, t: Any, theta: Any, slots: tuple, acc: Any, rec: tuple) -> tuple:
        take = functools.partial(tf.gather, indices=j)
        t, theta, slots, stats = train_step(g, take(xs), take(ys), take(ls), t, theta, slots)
        return t, theta, slots, acc + stats, record(g, t, theta, rec)

    def body(s: Any, t: Any, theta: Any, slots: tuple, acc: Any, rec: tuple) -> tuple:
        for u in range(unroll):
            t, theta, slots, acc, rec = step(s * unroll + u, t, theta, slots, acc, rec)
        return (s + 1, t, theta, slots, acc, rec)

    n_iter = tf.minimum(g.n_full // unroll, loop_limit)
    acc = tf.zeros([2, g.n_rep * g.batch])
    _, t, theta, slots, acc, rec = tf.while_loop(
        lambda s, *_: s < n_iter, body, (tf.constant(0), t, theta, slots, acc, rec)
    )
    for j in range(g.n_full - g.n_full % unroll, g.n_full):
        t, theta, slots, acc, rec = step(tf.constant(j), t, theta, slots, acc, rec)
    sums = tf.reduce_sum(tf.reshape(acc, [2, g.n_rep, g.batch]), axis=2)
    return t, theta, slots, sums, rec


def evaluate(g: Graph, theta: Any, split: Split) -> Any:
    """Mean loss and accuracy ``[2, R]`` of every replica on the whole `split`."""
    loss, hit = sample_losses(g, forward(g, split.x, theta), split.y, split.labels)
    return tf.reduce_mean(tf.reshape(tf.stack([loss, hit]), [2, g.n_rep, split.n]), axis=2)


def new_record(g: Graph) -> tuple:
    """An epoch's empty step-evaluation record: values ``[eval_slots, 2 * len(step_evals),
    R]``, the step of each ``[eval_slots]`` and how many are filled; ``()`` when off."""
    if not g.eval_every:
        return ()
    rows = 2 * len(g.step_evals)
    return (
        tf.zeros([g.eval_slots, rows, g.n_rep]),
        tf.zeros([g.eval_slots]),
        tf.constant(0),
    )


def record(g: Graph, t: Any, theta: Any, rec: tuple) -> tuple:
    """After the step that made `t` iterations: when `t` is a multiple of `Graph.eval_every`,
    evaluate `Graph.step_evals` with `theta` into the next slot of `rec`."""
    if not rec:
        return rec
    values, at, n = rec

    def write() -> tuple:
        got = tf.concat([evaluate(g, theta, s) for s in g.step_evals], 0)
        slot = tf.reshape(n, [1, 1])
        return (
            tf.tensor_scatter_nd_update(values, slot, got[None]),
            tf.tensor_scatter_nd_update(at, slot, tf.reshape(t, [1])),
            n + 1,
        )

    due = tf.equal(tf.math.floormod(t, float(g.eval_every)), 0.0)
    return tf.cond(due, write, lambda: rec)


def epoch(
    g: Graph, unroll: int, perm: Any, t: Any, theta: Any, slots: tuple, loop_limit: Any
) -> tuple[Any, ...]:
    """One epoch on the row orders `perm` ``[R, n]``: its steps, then the evaluations.

    Returns t, theta, slots, the metrics ``[rows, R]`` (train loss/accuracy, then loss and
    accuracy of each of `Graph.evals`), whether each replica is still finite, and the epoch's
    step evaluations (`new_record`).
    """
    rows = tuple(tf.gather(a, perm) for a in (g.x_train, g.y_train, g.labels_train))
    sums = tf.zeros([2, g.n_rep])
    rec = new_record(g)
    if g.n_full:
        t, theta, slots, sums, rec = full_batches(g, unroll, rows, t, theta, slots, loop_limit, rec)
    if g.rem:
        cut = g.n_full * g.batch
        yb = tf.reshape(rows[1][:, cut:], [g.n_rep * g.rem, g.n_classes])
        lb = tf.reshape(rows[2][:, cut:], [g.n_rep * g.rem])
        t, theta, slots, stats = train_step(g, rows[0][:, cut:], yb, lb, t, theta, slots)
        sums += tf.reduce_sum(tf.reshape(stats, [2, g.n_rep, g.rem]), axis=2)
        rec = record(g, t, theta, rec)
    metrics = tf.concat([sums / float(g.n_train), *(evaluate(g, theta, s) for s in g.evals)], 0)
    finite = tf.logical_and(
        tf.reduce_all(tf.math.is_finite(metrics), axis=0),
        tf.reduce_all(tf.math.is_finite(theta), axis=1),
    )
    return t, theta, slots, metrics, finite, rec


# ---- all epochs --------------------------------------------------------------------------


def initial_theta(g: Graph) -> Any:
    """``[R, P]``: each distinct seed's initial parameters, gathered onto its replicas."""
    flat = []
    for i, init in enumerate(g.initializers):
        w_in, w_out = g.widths[i], g.widths[i + 1]
        kernels = tf.stack([_draw_kernel(s, i, init, w_in, w_out) for s in g.seeds])
        flat += [tf.reshape(kernels, [len(g.seeds), -1]), tf.zeros([len(g.seeds), w_out])]
    return tf.gather(tf.concat(flat, axis=1), g.rep_seed)


def run(g: Graph, core: Callable[..., tuple], epochs_t: Any, loop_limit: Any) -> dict[str, Any]:
    """Initialise, then `epochs_t` epochs of `core` (`epoch` bound to `g`), with a clock
    reading before the first and after every epoch. Diverged replicas' metrics become NaN."""
    theta0 = initial_theta(g)
    slots0 = tuple(tf.zeros_like(theta0) for _ in range(g.n_slots))
    with tf.control_dependencies([theta0]):
        t_start = tf.timestamp()
    with tf.control_dependencies([t_start]):  # no epoch work may start before the clock
        e0 = tf.identity(tf.constant(0))
    n_rows = _TRAIN_ROWS + 2 * len(g.evals)

    def body(e: Any, t: Any, theta: Any, slots: tuple, alive: Any, tas: tuple) -> tuple:
        orders = tf.stack([_shuffle(s, e, g.n_train) for s in g.seeds])
        t, theta, slots, metrics, finite, rec = core(
            tf.gather(orders, g.rep_seed), t, theta, slots, loop_limit
        )
        alive = tf.logical_and(alive, finite)
        metrics = tf.where(alive[None, :], metrics, float("nan"))
        with tf.control_dependencies([metrics, theta, *rec]):
            stamp = tf.timestamp()
        written = (metrics, stamp, *rec)
        return (
            e + 1,
            t,
            theta,
            slots,
            alive,
            tuple(a.write(e, x) for a, x in zip(tas, written, strict=True)),
        )

    rec_shapes = [[g.eval_slots, 2 * len(g.step_evals), g.n_rep], [g.eval_slots], []]
    rec_shapes = rec_shapes if g.eval_every else []
    tas = (
        tf.TensorArray(tf.float32, size=epochs_t, element_shape=[n_rows, g.n_rep]),
        tf.TensorArray(tf.float64, size=epochs_t, element_shape=[]),
        *(
            tf.TensorArray(x.dtype, size=epochs_t, element_shape=shape)
            for x, shape in zip(new_record(g), rec_shapes, strict=True)
        ),
    )
    init = (e0, tf.constant(0.0), theta0, slots0, tf.ones([g.n_rep], tf.bool), tas)
    _, t, theta, _, alive, tas = tf.while_loop(lambda e, *_: e < epochs_t, body, init)
    recs = {name: ta.stack() for name, ta in zip(_REC_NAMES, tas[2:], strict=False)}
    return {
        **recs,
        "metrics": tas[0].stack(),
        "stamps": tas[1].stack(),
        "start": t_start,
        "steps": t,
        "alive": alive,
        "theta0": theta0,
        "theta": theta,
    }


@contextlib.contextmanager
def _timestamps_allowed() -> Iterator[None]:
    """Lift TensorFlow's op-determinism flag while our graph runs, then restore it.

    TF's ``Timestamp`` kernel checks the flag at run time and fails while it is on, and the
    per-epoch clock readings must come from inside the graph. The flag changes nothing else
    in this graph on CPU: it holds stateless random ops, matmuls, reductions, elementwise ops
    and their gradients only (no atomics, no unseeded random ops), so its numbers stay
    bit-reproducible, which the tests check.
    """
    from tensorflow.python.framework import config as tf_config

    was_on = tf_config.is_op_determinism_enabled()
    if was_on:
        tf_config.disable_op_determinism()
    try:
        yield
    finally:
        if was_on:
            tf_config.enable_op_determinism()


def compile_graph(g: Graph, jit_compile: bool, unroll: int) -> tuple[Any, float, float]:
    """Trace `run` and warm it up (see the module docstring, "Timing").

    Returns the concrete function (arguments: epochs, step-loop limit), trace seconds and
    warm-up call seconds."""
    core = functools.partial(epoch, g, unroll)
    if jit_compile:
        core = tf.function(core, jit_compile=True, autograph=False)
    fn = tf.function(functools.partial(run, g, core), autograph=False)
    t0 = time.perf_counter()
    concrete = fn.get_concrete_function(tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32))
    trace_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with _timestamps_allowed():
        concrete(tf.constant(1), tf.constant(1))["metrics"].numpy()
    return concrete, trace_s, time.perf_counter() - t0


# ---- the engine --------------------------------------------------------------------------


def check_spec(spec: TrainSpec) -> None:
    """Refuse what the fused engine cannot express, naming the value."""
    if spec.custom_model is not None:
        raise ValueError("the fused engine trains the MLP family only, not custom models")
    for what, value, allowed in (
        ("optimizer", spec.optimizer, OPTIMIZERS),
        ("initializer", spec.initializer, tuple(_INITIALIZERS)),
        ("activation", spec.activation, ACTIVATIONS),
    ):
        if value not in allowed:
            raise ValueError(f"{what} {value!r} is not one of {list(allowed)}")
    if not spec.seeds:
        raise ValueError("the spec has no seeds")


def train_fused(
    data: Dataset,
    spec: TrainSpec,
    log: Log,
    *,
    jit_compile: bool | None = None,
    unroll: int = 1,
    weights_out: dict[str, Any] | None = None,
) -> TrainResult:
    """Train every replica of `spec` at once in one graph; see the module docstring.

    `jit_compile` compiles each epoch's work with XLA inside the same graph (the clock readings
    stay outside, as XLA has no ``Timestamp``); default off, or
    ``spec.extra["fused_jit_compile"]``. It trains faster per epoch on the CPU but compiles for
    seconds per job, so it pays off only from several hundred epochs per job
    (benchmarks/bench_engines.py). `unroll` puts that many optimizer steps in one iteration of
    the step loop (a benchmark knob; results are bit-identical). `weights_out`, when given,
    receives ``initial`` and ``final`` lists (one per replica) of ``[W0, b0, W1, b1, ...]``.
    """
    check_spec(spec)
    spec = spec.resolved(data.n_train)
    if jit_compile is None:
        jit_compile = bool(spec.extra.get("fused_jit_compile", False))
    g = make_graph(data, spec)
    concrete, trace_s, warm_s = compile_graph(g, jit_compile, max(1, int(unroll)))
    log(
        f"fused: graph built in {trace_s + warm_s:.2f} s (trace {trace_s:.2f} s, warm-up call "
        f"{warm_s:.2f} s; xla {'on' if jit_compile else 'off'})"
    )
    out, call_s = train_call(concrete, spec.epochs)
    if float(out["steps"]) != spec.epochs * g.steps_per_epoch:
        raise RuntimeError(
            f"fused engine ran {float(out['steps']):.0f} steps, expected "
            f"{spec.epochs * g.steps_per_epoch}"
        )
    if weights_out is not None:
        weights_out["initial"] = unflatten(g, out["theta0"])
        weights_out["final"] = unflatten(g, out["theta"])
    seconds = np.diff(np.concatenate([[float(out["start"])], out["stamps"]]))
    info = {
        "xla": bool(jit_compile),
        "replicas": g.n_rep,
        "batch_size_used": g.batch,
        "steps_per_epoch": g.steps_per_epoch,
        "unroll": max(1, int(unroll)),
        "trace_seconds": trace_s,
        "warmup_call_seconds": warm_s,
        "train_call_seconds": call_s,
        "in_graph_train_seconds": float(seconds.sum()),
        "diverged": [
            run_id for run_id, ok in zip(replica_ids(spec), out["alive"], strict=True) if not ok
        ],
    }
    _log_done(log, spec, g, info)
    return _result(g, spec, out, seconds, info)


def _result(
    g: Graph, spec: TrainSpec, out: dict[str, np.ndarray], seconds: np.ndarray, info: dict
) -> TrainResult:
    """The graph's outputs as the engine-neutral `TrainResult`: per-epoch history, the
    evaluations every `eval_every` steps (or at each epoch's end), one timing stream."""
    history = history_frame(spec, _all_metric_rows(g, out["metrics"]))
    if g.eval_every:
        evals = step_eval_table(
            spec, *_step_eval_rows(g, out, spec.epochs), history, g.steps_per_epoch
        )
    else:
        evals = epoch_end_eval_table(history, g.steps_per_epoch)
    info["eval_every_steps"] = g.eval_every
    epochs = np.arange(1, spec.epochs + 1)
    return TrainResult(
        history=history,
        evals=evals,
        timing=pd.DataFrame({"seed": -1, "epoch": epochs, "seconds": seconds, "replicas": g.n_rep}),
        setup_seconds=info["trace_seconds"] + info["warmup_call_seconds"],
        engine="fused",
        info=info,
    )


def train_call(concrete: Any, epochs: int) -> tuple[dict[str, np.ndarray], float]:
    """The real call: all epochs, no step limit; its outputs as numpy and its wall seconds."""
    t0 = time.perf_counter()
    with _timestamps_allowed():
        out = concrete(tf.constant(epochs), tf.constant(2**30))
        out = {k: v.numpy() for k, v in out.items()}
    return out, time.perf_counter() - t0


def _step_eval_rows(g: Graph, out: dict[str, Any], epochs: int) -> tuple[np.ndarray, np.ndarray]:
    """Steps ``[n]`` and values ``[n, 4, R]`` (val loss/accuracy, test loss/accuracy) of the
    real call's step evaluations, checked to be every `Graph.eval_every`-th step."""
    counts = out["eval_counts"]
    steps = np.concatenate([out["eval_steps"][e, :c] for e, c in enumerate(counts)])
    values = np.concatenate([out["eval_values"][e, :c] for e, c in enumerate(counts)])
    want = eval_steps(epochs * g.steps_per_epoch, g.eval_every)
    if not np.array_equal(steps.astype(np.int64), want):
        raise RuntimeError(f"fused engine evaluated after steps {steps}, expected {want}")
    if len(g.step_evals) == 1:  # no separate test split: test_* = val_*
        values = np.concatenate([values, values], axis=1)
    return want, values


def _all_metric_rows(g: Graph, metrics: np.ndarray) -> np.ndarray:
    """The graph's ``[E, rows, R]`` with test rows copied from val when the test split is the
    validation split: ``[E, len(METRIC_COLUMNS), R]``."""
    if len(g.evals) == 2:
        return np.concatenate([metrics, metrics[:, 4:6]], axis=1)
    return metrics


def unflatten(g: Graph, theta: np.ndarray) -> list[list[np.ndarray]]:
    """Per replica ``[W0, b0, W1, b1, ...]`` from flat ``[R, P]`` parameters."""
    cuts = np.cumsum(g.sizes)[:-1]
    shapes = [s for i in range(g.n_layers) for s in (g.widths[i : i + 2], g.widths[i + 1 : i + 2])]
    return [
        [p.reshape(s) for p, s in zip(np.split(row, cuts), shapes, strict=True)] for row in theta
    ]


def _log_done(log: Log, spec: TrainSpec, g: Graph, info: dict[str, Any]) -> None:
    log(
        f"fused: {len(spec.variants)} learning rate(s) x seeds {list(spec.seeds)} = {g.n_rep} "
        f"replicas x epochs {spec.epochs} (batch {g.batch}, {g.steps_per_epoch} steps/epoch) "
        f"done in {info['in_graph_train_seconds']:.2f} s ({info['train_call_seconds']:.2f} s "
        "call)"
    )
    if info["diverged"]:
        log(
            f"fused: replicas {info['diverged']} diverged (NaN/inf); their metrics are NaN "
            "from then on"
        )
