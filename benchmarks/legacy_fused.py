"""FROZEN COPY, for benchmarks/bench_engines.py only: the fused engine as it was before the
rewrite in `batchstudy.engines.fused` (hand-written gradients, one seed per replica, one
learning rate per job), adapted only to be callable with today's `TrainSpec` (it trains the
first learning-rate variant) and result type; its history keeps the old columns.

The fused engine: every seed of one training job in one compiled TensorFlow graph.

The replicas' parameters are stacked on a leading axis ``R = len(spec.seeds)`` (one flat
``[R, P]`` tensor, with Adam's or momentum's slots alike); each step is a handful of batched
matmuls over ``[R, batch, ...]`` tensors, and all epochs and steps run inside one
``tf.function`` (two nested ``tf.while_loop``s), so no Python runs per step or per epoch.
Per-epoch metrics are written into ``TensorArray``s and returned at the end.

Same mathematics as the Keras reference (`training.train_keras` with `models.build_mlp`):

- Dense layers ``x @ W + b`` with zero biases; hidden kernels drawn from ``spec.initializer``
  (Keras' VarianceScaling: he/glorot, uniform, or normal truncated at 2 sd with the stddev
  divided by 0.8796...), the softmax layer's kernel from glorot_uniform (Keras' Dense default,
  which `build_mlp` keeps).
- Categorical crossentropy of the softmax, computed from the logits as Keras 3 does when the
  model's output comes from a Softmax op (``softmax_cross_entropy_with_logits``, no clipping),
  averaged over the batch. Gradients are written out by hand: ``(softmax - onehot) / rows``,
  batched matmuls, and the activation's own TF gradient kernel.
- Adam and SGD (momentum, nesterov) with Keras 3's update formulas, op for op:
  ``alpha = lr*sqrt(1-b2^t)/(1-b1^t)``, ``m += (g-m)*(1-b1)``, ``v += (g^2-v)*(1-b2)``,
  ``w -= m*alpha/(sqrt(v)+eps)`` with ``t`` = iterations + 1; ``a = a*mu - g*lr`` then
  ``w += a`` (nesterov ``w += a*mu - g*lr``); plain ``w -= g*lr``. (TF's fused
  ``ResourceApplyAdam`` computes the same, but on 2 intra-op threads it hands every call to the
  thread pool and costs ~45 us for a 100-element tensor, 4 per step; plain elementwise ops
  cost ~1 us each.)
- Learning-rate warmup as `models.learning_rate`: ``lr * min(1, (iteration+1)/warm_steps)``.
- Reshuffle every epoch; the partial last batch is a smaller step of its own; a batch size
  above ``n_train`` means one full batch per epoch (as Keras does).
- Per-epoch train metrics as `Model.fit` reports them. Keras 3's loss tracker is a ``Mean``
  updated after every batch with the batch's mean loss and ``sample_weight`` = the batch's size
  (`backend/tensorflow/trainer.py`, ``train_step``), and ``accuracy`` is a
  ``MeanMetricWrapper`` over per-sample values; both are reset each epoch, and what ``fit``
  records is their value at the epoch's end. So train loss = (sum over the epoch's steps of
  each sample's loss, computed in that step's forward pass, i.e. with the weights *before* the
  step's update) / ``n_train``, and train accuracy = correct predictions in those forward
  passes / ``n_train``. (Accuracy takes the argmax of the logits: the softmax keeps their
  order.)
- Validation loss/accuracy over the whole test split after every epoch with the epoch's final
  weights, like ``validation_data``.

Randomness is stateless: replica ``r`` draws its initial kernels from seed pair
``(seed_r, -1 - layer)`` and its epoch-``e`` shuffle (``e`` from 0) from ``(seed_r, e)``
(`initial_params`, `epoch_order`), so a seed's curve does not depend on which other seeds share
the job, and reruns are bit-identical on the same machine and software.

A replica whose loss or weights become NaN/inf is marked diverged: its metrics are NaN from that
epoch on. No op reduces over the replica axis, so the other replicas are unaffected.

Timing. ``setup_seconds`` = tracing the graph (``get_concrete_function``) + one warm-up call of
the very same concrete function with one epoch whose step loop stops after one iteration (every
step of the epoch's tail and the validation still run once): this makes TensorFlow optimise and
instantiate the whole graph, both loop bodies included, and with ``jit_compile`` also runs the
XLA compilation; its results are discarded. The real call then takes ``tf.timestamp()`` inside
the graph once before epoch 1 (after the weights are initialised) and once at the end of every
epoch (after its validation): each epoch's seconds are in-graph clock differences, with no graph
building in them. The rest of the real call's wall time (argument passing, initialisation,
handing the results back) is in ``info`` as ``train_call_seconds`` minus
``in_graph_train_seconds``. TensorFlow's ``Timestamp`` kernel refuses to run while op
determinism is enabled, so the flag is lifted for the duration of the two calls only (see
`_timestamps_allowed`).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from batchstudy.data import Dataset
from batchstudy.engines.result import TrainResult
from batchstudy.io import EVAL_COLUMNS
from batchstudy.spec import ACTIVATIONS, INITIALIZERS, TrainSpec

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


def _draw_kernel(seed: Any, layer: int, initializer: str, fan_in: int, fan_out: int) -> Any:
    """One replica's kernel of `layer`; `seed` an int64 scalar (tensor or int)."""
    import tensorflow as tf

    dist, bound = init_scale(initializer, fan_in, fan_out)
    pair = tf.stack([tf.cast(seed, tf.int64), tf.constant(-1 - layer, tf.int64)])
    shape = [fan_in, fan_out]
    if dist == "uniform":
        return tf.random.stateless_uniform(shape, pair, -bound, bound, dtype=tf.float32)
    return tf.random.stateless_truncated_normal(shape, pair, 0.0, bound, dtype=tf.float32)


def _shuffle(seed: Any, epoch: Any, n: int) -> Any:
    """Replica `seed`'s order of the `n` training rows in `epoch` (0-based)."""
    import tensorflow as tf

    pair = tf.stack([tf.cast(seed, tf.int64), tf.cast(epoch, tf.int64)])
    return tf.random.experimental.stateless_shuffle(tf.range(n), pair)


def initial_params(spec: TrainSpec, seed: int, n_features: int, n_classes: int) -> list[np.ndarray]:
    """The initial ``[W0, b0, W1, b1, ...]`` the fused engine gives `seed` (for checks)."""
    widths = layer_widths(spec, n_features, n_classes)
    out = []
    for i in range(len(widths) - 1):
        init = spec.initializer if i < len(widths) - 2 else "glorot_uniform"
        out.append(_draw_kernel(seed, i, init, widths[i], widths[i + 1]).numpy())
        out.append(np.zeros(widths[i + 1], np.float32))
    return out


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The row order the fused engine uses for `seed` in `epoch` (0-based; for checks)."""
    return _shuffle(seed, epoch, n).numpy()


@contextlib.contextmanager
def _timestamps_allowed() -> Iterator[None]:
    """Lift TensorFlow's op-determinism flag while our graph runs, then restore it.

    TF's ``Timestamp`` kernel checks the flag at run time and fails while it is on, and the
    per-epoch clock readings must come from inside the graph. The flag changes nothing else
    in this graph on CPU: it holds stateless random ops, matmuls, reductions and elementwise
    ops only (no atomics, no unseeded random ops), so its numbers stay bit-reproducible, which
    the tests check.
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


def train_fused(
    data: Dataset,
    spec: TrainSpec,
    log: Callable[[str], None],
    *,
    jit_compile: bool | None = None,
    unroll: int = 1,
    weights_out: dict[str, Any] | None = None,
) -> TrainResult:
    """Train every seed of `spec` at once in one graph; see the module docstring.

    `jit_compile` compiles each epoch's work (steps and validation) with XLA inside the same
    graph; the clock readings stay outside, as XLA has no ``Timestamp``. Default: off, or
    ``spec.extra["fused_jit_compile"]`` when set. Measured on 2 CPU cores (seed's data, 8 batch
    sizes x 100 epochs, 3 runs): XLA trains 3.4-4x (1 seed) / 1.6-1.7x (10 seeds) faster but
    compiles for ~1.5-2 s per job, so the 8 jobs took 12-15 s / 15-21 s of wall time against
    4.3-5.1 s / 8.9-9.9 s without it: it pays off only from several hundred epochs per job
    (benchmarks/bench_engines.py).
    `unroll` puts that many optimizer steps in one iteration of the step loop (benchmark knob).
    `weights_out`, when given, receives ``initial`` and ``final`` lists (one per seed) of
    ``[W0, b0, W1, b1, ...]`` numpy arrays.
    """
    import tensorflow as tf

    if jit_compile is None:
        jit_compile = bool(spec.extra.get("fused_jit_compile", False))
    if spec.custom_model is not None:
        raise ValueError("the fused engine trains the MLP family only, not custom models")
    if spec.optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer {spec.optimizer!r} is not one of adam, sgd")
    if spec.initializer not in _INITIALIZERS:
        raise ValueError(f"initializer {spec.initializer!r} is not one of {list(_INITIALIZERS)}")
    if spec.activation not in ACTIVATIONS:
        raise ValueError(f"activation {spec.activation!r} is not one of {list(ACTIVATIONS)}")
    if not spec.seeds:
        raise ValueError("the spec has no seeds")
    unroll = max(1, int(unroll))

    seeds = tuple(int(s) for s in spec.seeds)
    n_rep = len(seeds)
    n_epochs = int(spec.epochs)
    n_train, n_feat = (int(v) for v in data.x_train.shape)
    n_test = int(data.x_test.shape[0])
    n_cls = data.n_classes
    batch = min(int(spec.batch_size), n_train)
    n_full, rem = divmod(n_train, batch)
    steps_per_epoch = n_full + (1 if rem else 0)
    variant = spec.resolved(n_train).variants[0]  # adapted: the first variant only
    warm_steps = variant.warmup_steps

    widths = layer_widths(spec, n_feat, n_cls)
    n_layers = len(widths) - 1
    inits = [spec.initializer] * (n_layers - 1) + ["glorot_uniform"]
    acts = [spec.activation] * (n_layers - 1)
    # Flat layout of one replica's parameters: W0, b0, W1, b1, ...
    sizes = []
    for i in range(n_layers):
        sizes += [widths[i] * widths[i + 1], widths[i + 1]]
    n_par = sum(sizes)

    f32 = tf.float32

    # Everything constant is made here, eagerly, and captured by the graph: a constant created
    # inside a loop body is a node that runs on every iteration, and this step is so small that
    # its node count matters.
    def const(value: Any, dtype: Any = tf.int32) -> Any:
        return tf.constant(value, dtype)

    x_tr = const(data.x_train, f32)
    y_tr = const(data.y_train, f32)
    l_tr = const(np.argmax(data.y_train, axis=1).astype(np.int32))
    x_te = const(data.x_test, f32)
    y_te_flat = const(np.tile(data.y_test, (n_rep, 1)), f32)
    l_te_flat = const(np.tile(np.argmax(data.y_test, axis=1).astype(np.int32), n_rep))
    ax0, ax1 = const(0), const(1)
    one = const(1.0, f32)
    lr0 = const(variant.learning_rate, f32)
    beta1, beta2 = const(spec.beta_1, f32), const(spec.beta_2, f32)
    # Keras multiplies by the Python float (1 - beta) converted to float32: the same here.
    c1, c2 = const(1 - spec.beta_1, f32), const(1 - spec.beta_2, f32)
    eps = const(spec.epsilon, f32)
    mom = const(spec.momentum, f32)
    warm_t = const(float(max(warm_steps, 1)), f32)
    split_sizes = const(sizes)
    w_shape = [const([n_rep, widths[i], widths[i + 1]]) for i in range(n_layers)]
    b_shape = [const([n_rep, 1, widths[i + 1]]) for i in range(n_layers)]
    g_shape = [const([n_rep, widths[i] * widths[i + 1]]) for i in range(n_layers)]
    rows_of = sorted({batch, rem} - {0})
    inv_rows = {r: const(1.0 / r, f32) for r in rows_of}
    flat2 = {r: const([n_rep * r, n_cls]) for r in [*rows_of, n_test]}
    back3 = {r: const([n_rep, r, n_cls]) for r in rows_of}
    per_rep = {r: const([2, n_rep, r]) for r in rows_of}
    val_shape = const([n_rep, n_test])
    nan = const(float("nan"), f32)

    def activate(z: Any, name: str) -> Any:
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
        return z  # linear

    def activation_grad(da: Any, z: Any, a: Any, name: str) -> Any:
        if name == "relu":
            return tf.raw_ops.ReluGrad(gradients=da, features=z)
        if name == "tanh":
            return tf.raw_ops.TanhGrad(y=a, dy=da)
        if name == "sigmoid":
            return tf.raw_ops.SigmoidGrad(y=a, dy=da)
        if name == "elu":
            return tf.raw_ops.EluGrad(gradients=da, outputs=a)
        if name == "gelu":
            cdf = 0.5 * (1.0 + tf.math.erf(z * (1.0 / math.sqrt(2.0))))
            pdf = tf.exp(-0.5 * tf.square(z)) * (1.0 / math.sqrt(2.0 * math.pi))
            return da * (cdf + z * pdf)
        return da  # linear

    def unpack(theta: Any) -> tuple[list[Any], list[Any]]:
        parts = tf.raw_ops.SplitV(
            value=theta, size_splits=split_sizes, axis=ax1, num_split=len(sizes)
        )
        ws = [tf.reshape(parts[2 * i], w_shape[i]) for i in range(n_layers)]
        bs = [tf.reshape(parts[2 * i + 1], b_shape[i]) for i in range(n_layers)]
        return ws, bs

    def forward(x: Any, ws: list[Any], bs: list[Any]) -> tuple[list[Any], list[Any]]:
        """Pre-activations and inputs of every layer; the last `z` is the logits."""
        zs, ins = [], [x]
        for i in range(n_layers):
            z = tf.linalg.matmul(ins[-1], ws[i]) + bs[i]
            zs.append(z)
            if i < n_layers - 1:
                ins.append(activate(z, acts[i]))
        return zs, ins

    def update(theta: Any, slots: tuple[Any, ...], g: Any, t1: Any) -> tuple[Any, tuple]:
        """One optimizer update with Keras 3's formulas; `t1` = iterations after it."""
        lr = lr0
        if warm_steps:
            lr = lr0 * tf.minimum(one, t1 / warm_t)
        if spec.optimizer == "adam":
            m, v = slots
            alpha = lr * tf.sqrt(one - tf.pow(beta2, t1)) / (one - tf.pow(beta1, t1))
            m = m + (g - m) * c1
            v = v + (tf.square(g) - v) * c2
            return theta - (m * alpha) / (tf.sqrt(v) + eps), (m, v)
        if spec.momentum != 0.0:
            (a,) = slots
            a = a * mom - g * lr
            if spec.nesterov:
                return theta + (a * mom - g * lr), (a,)
            return theta + a, (a,)
        return theta - g * lr, ()

    def train_step(
        xb: Any, yb: Any, lb: Any, rows: int, t: Any, theta: Any, slots: tuple[Any, ...]
    ) -> tuple[Any, Any, tuple[Any, ...], Any]:
        """One optimizer step on `rows` samples per replica.

        `xb` [R, rows, d]; `yb` [R*rows, k] one-hot; `lb` [R*rows] labels. Returns the
        iteration count, parameters and slots after the step, and [2, R*rows]: each sample's
        loss and whether it was predicted right, from this step's forward pass.
        """
        ws, bs = unpack(theta)
        zs, ins = forward(xb, ws, bs)
        logits = tf.reshape(zs[-1], flat2[rows])
        loss, back = tf.raw_ops.SoftmaxCrossEntropyWithLogits(features=logits, labels=yb)
        hit = tf.cast(tf.equal(tf.argmax(logits, axis=ax1, output_type=tf.int32), lb), f32)
        delta = tf.reshape(back, back3[rows]) * inv_rows[rows]  # d(mean loss)/d(logits)
        grads: list[Any] = [None] * (2 * n_layers)
        for i in reversed(range(n_layers)):
            dw = tf.linalg.matmul(ins[i], delta, transpose_a=True)
            grads[2 * i] = tf.reshape(dw, g_shape[i])
            grads[2 * i + 1] = tf.reduce_sum(delta, axis=ax1)
            if i > 0:
                da = tf.linalg.matmul(delta, ws[i], transpose_b=True)
                delta = activation_grad(da, zs[i - 1], ins[i], acts[i - 1])
        g = tf.concat(grads, axis=ax1)
        t1 = t + one
        theta, slots = update(theta, slots, g, t1)
        return t1, theta, slots, tf.stack([loss, hit])

    def epoch_core(
        perm: Any, t: Any, theta: Any, slots: tuple[Any, ...], loop_limit: Any
    ) -> tuple[Any, ...]:
        """One epoch on the row orders `perm` [R, n]: its steps, then validation.

        Returns t, theta, slots, the metrics row [4, R] and whether each replica is finite."""
        xg = tf.gather(x_tr, perm)  # [R, n, d]
        yg = tf.gather(y_tr, perm)
        lg = tf.gather(l_tr, perm)
        sums = tf.zeros([2, n_rep], f32)  # summed loss, correct count
        if n_full:
            cut = n_full * batch
            # [steps, R, batch, d] / [steps, R*batch, ...]: a step's batch is one gather.
            xs = tf.transpose(tf.reshape(xg[:, :cut], [n_rep, n_full, batch, n_feat]), [1, 0, 2, 3])
            ys = tf.reshape(
                tf.transpose(tf.reshape(yg[:, :cut], [n_rep, n_full, batch, n_cls]), [1, 0, 2, 3]),
                [n_full, n_rep * batch, n_cls],
            )
            ls = tf.reshape(
                tf.transpose(tf.reshape(lg[:, :cut], [n_rep, n_full, batch]), [1, 0, 2]),
                [n_full, n_rep * batch],
            )
            n_iter = tf.minimum(n_full // unroll, loop_limit)

            def take(a: Any, j: Any) -> Any:
                return tf.raw_ops.GatherV2(params=a, indices=j, axis=ax0)

            def step_body(s: Any, t: Any, theta: Any, slots: tuple, acc: Any) -> tuple:
                for u in range(unroll):
                    j = s * unroll + u if unroll > 1 else s
                    t, theta, slots, stats = train_step(
                        take(xs, j), take(ys, j), take(ls, j), batch, t, theta, slots
                    )
                    acc = acc + stats
                return s + 1, t, theta, slots, acc

            acc0 = tf.zeros([2, n_rep * batch], f32)
            _, t, theta, slots, acc = tf.while_loop(
                lambda s, *_: s < n_iter, step_body, (tf.constant(0), t, theta, slots, acc0)
            )
            for j in range(n_full - n_full % unroll, n_full):  # unroll's leftovers
                t, theta, slots, stats = train_step(xs[j], ys[j], ls[j], batch, t, theta, slots)
                acc = acc + stats
            sums += tf.reduce_sum(tf.reshape(acc, per_rep[batch]), axis=2)
        if rem:
            sl = slice(n_full * batch, None)
            yb = tf.reshape(yg[:, sl], flat2[rem])
            lb = tf.reshape(lg[:, sl], [n_rep * rem])
            t, theta, slots, stats = train_step(xg[:, sl], yb, lb, rem, t, theta, slots)
            sums += tf.reduce_sum(tf.reshape(stats, per_rep[rem]), axis=2)
        # Validation with the epoch's final weights, on the whole test split.
        zs, _ = forward(x_te, *unpack(theta))
        logits = tf.reshape(zs[-1], flat2[n_test])
        vloss, _ = tf.raw_ops.SoftmaxCrossEntropyWithLogits(features=logits, labels=y_te_flat)
        vhit = tf.cast(tf.equal(tf.argmax(logits, axis=1, output_type=tf.int32), l_te_flat), f32)
        vloss = tf.reduce_mean(tf.reshape(vloss, val_shape), axis=1)
        vacc = tf.reduce_mean(tf.reshape(vhit, val_shape), axis=1)
        row = tf.stack([sums[0] / float(n_train), sums[1] / float(n_train), vloss, vacc])
        finite = tf.logical_and(
            tf.reduce_all(tf.math.is_finite(row), axis=0),
            tf.reduce_all(tf.math.is_finite(theta), axis=1),
        )
        return t, theta, slots, row, finite

    core = tf.function(epoch_core, jit_compile=True, autograph=False) if jit_compile else epoch_core

    def run(seed_t: Any, epochs_t: Any, loop_limit: Any) -> dict[str, Any]:
        flat = []
        for i in range(n_layers):
            kern = [
                _draw_kernel(seed_t[r], i, inits[i], widths[i], widths[i + 1]) for r in range(n_rep)
            ]
            flat += [tf.reshape(tf.stack(kern), g_shape[i]), tf.zeros([n_rep, widths[i + 1]], f32)]
        theta0 = tf.concat(flat, axis=1)
        n_slots = {"adam": 2}.get(spec.optimizer, 1 if spec.momentum != 0.0 else 0)
        slots0 = tuple(tf.zeros([n_rep, n_par], f32) for _ in range(n_slots))
        with tf.control_dependencies([theta0]):
            t_start = tf.timestamp()
        with tf.control_dependencies([t_start]):  # no epoch work may start before the clock
            e0 = tf.identity(tf.constant(0))

        def epoch_body(e: Any, t: Any, theta: Any, slots: tuple, alive: Any, tas: tuple) -> tuple:
            perm = tf.stack([_shuffle(seed_t[r], e, n_train) for r in range(n_rep)])
            t, theta, slots, row, finite = core(perm, t, theta, slots, loop_limit)
            alive = tf.logical_and(alive, finite)
            row = tf.where(alive[None, :], row, nan)
            with tf.control_dependencies([row, theta]):
                stamp = tf.timestamp()
            return e + 1, t, theta, slots, alive, (tas[0].write(e, row), tas[1].write(e, stamp))

        tas = (
            tf.TensorArray(f32, size=epochs_t, element_shape=[4, n_rep]),
            tf.TensorArray(tf.float64, size=epochs_t, element_shape=[]),
        )
        init = (
            e0,
            tf.constant(0.0, f32),
            theta0,
            slots0,
            tf.ones([n_rep], tf.bool),
            tas,
        )
        _, t, theta, _, alive, tas = tf.while_loop(lambda e, *_: e < epochs_t, epoch_body, init)
        return {
            "metrics": tas[0].stack(),
            "stamps": tas[1].stack(),
            "start": t_start,
            "steps": t,
            "alive": alive,
            "theta0": theta0,
            "theta": theta,
        }

    fn = tf.function(run, autograph=False)
    seed_arg = tf.constant(seeds, tf.int64)
    t0 = time.perf_counter()
    concrete = fn.get_concrete_function(
        tf.TensorSpec([n_rep], tf.int64), tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32)
    )
    trace_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with _timestamps_allowed():
        warm = concrete(seed_arg, tf.constant(1), tf.constant(1))
        warm["metrics"].numpy()
    warm_s = time.perf_counter() - t0
    setup_s = trace_s + warm_s
    log(
        f"fused: graph built in {setup_s:.2f} s (trace {trace_s:.2f} s, warm-up call "
        f"{warm_s:.2f} s; xla {'on' if jit_compile else 'off'})"
    )

    t0 = time.perf_counter()
    with _timestamps_allowed():
        out = concrete(seed_arg, tf.constant(n_epochs), tf.constant(2**30))
        out = {k: v.numpy() for k, v in out.items()}
    call_s = time.perf_counter() - t0
    metrics = out["metrics"]  # [E, 4, R]
    stamps = out["stamps"]
    start = float(out["start"])
    steps_done = float(out["steps"])
    if steps_done != n_epochs * steps_per_epoch:
        raise RuntimeError(
            f"fused engine ran {steps_done:.0f} steps, expected {n_epochs * steps_per_epoch}"
        )
    seconds = np.diff(np.concatenate([[start], stamps]))
    in_graph = float(stamps[-1] - start) if n_epochs else 0.0
    diverged = [s for s, ok in zip(seeds, out["alive"], strict=True) if not ok]
    log(
        f"fused: seeds {list(seeds)} x epochs {n_epochs} (batch {batch}, {steps_per_epoch} "
        f"steps/epoch) done in {in_graph:.2f} s ({call_s:.2f} s call)"
    )
    if diverged:
        log(f"fused: seeds {diverged} diverged (NaN/inf); their metrics are NaN from then on")

    if weights_out is not None:
        cuts = np.cumsum(sizes)[:-1]
        for key, name in (("initial", "theta0"), ("final", "theta")):
            per_seed = []
            for r in range(n_rep):
                parts = np.split(out[name][r], cuts)
                per_seed.append(
                    [
                        p.reshape(widths[i // 2], widths[i // 2 + 1]) if i % 2 == 0 else p
                        for i, p in enumerate(parts)
                    ]
                )
            weights_out[key] = per_seed

    epochs_col = np.arange(1, n_epochs + 1)
    history = pd.concat(
        [
            pd.DataFrame(
                {
                    "seed": seed,
                    "epoch": epochs_col,
                    "train_loss": metrics[:, 0, r].astype(np.float64),
                    "train_accuracy": metrics[:, 1, r].astype(np.float64),
                    "val_loss": metrics[:, 2, r].astype(np.float64),
                    "val_accuracy": metrics[:, 3, r].astype(np.float64),
                }
            )
            for r, seed in enumerate(seeds)
        ],
        ignore_index=True,
    )
    timing = pd.DataFrame(
        {"seed": -1, "epoch": epochs_col, "seconds": seconds.astype(np.float64), "replicas": n_rep}
    )
    info = {
        "xla": bool(jit_compile),
        "replicas": n_rep,
        "batch_size_used": batch,
        "steps_per_epoch": steps_per_epoch,
        "unroll": unroll,
        "trace_seconds": trace_s,
        "warmup_call_seconds": warm_s,
        "train_call_seconds": call_s,
        "in_graph_train_seconds": in_graph,
        "diverged_seeds": diverged,
    }
    return TrainResult(
        history=history,
        timing=timing,
        setup_seconds=setup_s,
        engine="fused",
        evals=pd.DataFrame(columns=list(EVAL_COLUMNS)),  # the old engine had no such table
        info=info,
    )
