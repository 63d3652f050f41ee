"""The training engines (`batchstudy.engines`): result format, reproducibility, exact
mathematics of the fused engine against Keras `fit` itself and against an independent numpy
implementation, per-replica learning rates, divergence isolation, the Keras reference engine,
and (slow) statistical equivalence of the two engines on the seed's data.

One TensorFlow import per pytest process; `configure_tensorflow(2)` once per module."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from batchstudy.data import SEED_BLOBS, build_dataset
from batchstudy.engines.result import EVAL_METRICS, METRIC_COLUMNS
from batchstudy.io import FLOAT_FORMAT, HISTORY_COLUMNS, TIMING_COLUMNS
from batchstudy.spec import ACTIVATIONS, LrVariant, TrainSpec, steps_per_epoch

METRICS = list(METRIC_COLUMNS)
# n_train = 10 so that batch 4 gives steps of 4, 4 and a partial 2.
TINY_DATA = {**SEED_BLOBS, "n_samples": 30, "n_train": 10}
SMALL_DATA = {**SEED_BLOBS, "n_samples": 240, "n_train": 120}


def lr(rate: float, warmup_steps: int = 0, name: str = "constant") -> tuple[LrVariant, ...]:
    return (LrVariant(name, rate, rate, warmup_steps=warmup_steps),)


COMMON = {"batch_size": 16, "epochs": 4, "variants": lr(0.01)}


@pytest.fixture(scope="module")
def tf_ready():
    """Configure TensorFlow once (2 threads, op determinism), as a training job does."""
    pytest.importorskip("tensorflow")
    from batchstudy.training import configure_tensorflow

    try:
        configure_tensorflow(2)
    except RuntimeError:  # another module already started TensorFlow's runtime
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    from batchstudy.engines import fused

    return fused


@pytest.fixture(scope="module")
def tiny():
    return build_dataset(TINY_DATA)


@pytest.fixture(scope="module")
def small():
    return build_dataset(SMALL_DATA)


@pytest.fixture(scope="module")
def seed_data():
    return build_dataset(SEED_BLOBS)


@pytest.fixture(scope="module")
def three_seeds(tf_ready, small):
    """Seeds 0, 1, 2 at batch 16 for 4 epochs, with the log lines."""
    lines: list[str] = []
    spec = TrainSpec(seeds=(0, 1, 2), **COMMON)
    return tf_ready.train_fused(small, spec, lines.append), lines


def as_bytes(df: pd.DataFrame) -> str:
    return df.to_csv(sep="\t", index=False, float_format=FLOAT_FORMAT)


def runs(h: pd.DataFrame, learning_rate: float, seed: int) -> np.ndarray:
    """One run's metrics ``[epochs, len(METRICS)]``."""
    sel = (h.learning_rate == learning_rate) & (h.seed == seed)
    return h[sel].sort_values("epoch")[METRICS].to_numpy()


# ---- format -----------------------------------------------------------------------------


def test_result_format(three_seeds):
    res, lines = three_seeds
    h, t = res.history, res.timing
    assert list(h.columns) == list(HISTORY_COLUMNS)
    assert len(h) == 3 * 4
    assert h.seed.tolist() == [0] * 4 + [1] * 4 + [2] * 4  # replica order, then epoch
    assert (h.lr_scaling == "constant").all() and (h.learning_rate == 0.01).all()
    for _, g in h.groupby("seed"):
        assert g.epoch.tolist() == [1, 2, 3, 4]
    assert h[METRICS].notna().all().all()
    for split in ("train", "end_train", "val", "test"):
        acc = h[f"{split}_accuracy"]
        assert ((acc >= 0) & (acc <= 1)).all() and (h[f"{split}_loss"] > 0).all()
        # Accuracies are counts over the split's 120 rows.
        assert np.allclose(acc * 120, np.round(acc * 120), atol=1e-4)
    # No separate validation split: the test columns are the validation columns.
    assert h.test_loss.equals(h.val_loss) and h.test_accuracy.equals(h.val_accuracy)
    assert not np.allclose(h.end_train_loss, h.train_loss)

    assert list(t.columns) == list(TIMING_COLUMNS)
    assert t.seed.tolist() == [-1] * 4 and t.epoch.tolist() == [1, 2, 3, 4]
    assert (t.replicas == 3).all()
    assert (t.seconds > 0).all()
    info = res.info
    assert res.engine == "fused" and info["xla"] is False
    assert info["steps_per_epoch"] == steps_per_epoch(120, 16) == 8
    assert res.setup_seconds == pytest.approx(info["trace_seconds"] + info["warmup_call_seconds"])
    # Epoch seconds are in-graph clock differences; together they fit inside the call.
    assert t.seconds.sum() == pytest.approx(info["in_graph_train_seconds"], rel=1e-6)
    assert info["in_graph_train_seconds"] <= info["train_call_seconds"]
    assert any("graph built in" in s for s in lines)
    assert any("seeds [0, 1, 2] = 3 replicas x epochs 4" in s and "done in" in s for s in lines)


def test_determinism_flag_restored(three_seeds):
    from tensorflow.python.framework import config as tf_config

    assert tf_config.is_op_determinism_enabled()


def test_learns(three_seeds):
    h = three_seeds[0].history
    first, last = h[h.epoch == 1], h[h.epoch == 4]
    assert last.val_loss.mean() < first.val_loss.mean()
    assert last.val_accuracy.mean() > 0.6  # three blobs, chance is 1/3


# ---- reproducibility and independence of replicas ---------------------------------------


def test_rerun_is_identical(tf_ready, small, three_seeds):
    again = tf_ready.train_fused(small, TrainSpec(seeds=(0, 1, 2), **COMMON), print)
    assert as_bytes(again.history) == as_bytes(three_seeds[0].history)


def test_seed_subset_gives_same_curves(tf_ready, small, three_seeds):
    """A seed's curve depends on its own seed only, not on which seeds share the job."""
    sub = tf_ready.train_fused(small, TrainSpec(seeds=(1, 0), **COMMON), print)
    full = three_seeds[0].history
    for seed in (0, 1):
        # Bit-identical here; batched kernels could in principle round a last bit differently
        # for another stack height, so allow float32 rounding, not a different trajectory.
        np.testing.assert_allclose(
            runs(sub.history, 0.01, seed), runs(full, 0.01, seed), rtol=1e-6, atol=1e-7
        )
    assert not np.allclose(runs(full, 0.01, 2), runs(full, 0.01, 0))


def test_variants_share_seeds_and_stay_apart(tf_ready, small, three_seeds):
    """Two learning rates in one job: each variant's runs are those of a job with that rate
    alone, and the variants of one seed start from the same weights."""
    variants = (*lr(0.01), LrVariant("linear", 0.01, 0.05, warmup_steps=3))
    spec = dataclasses.replace(TrainSpec(seeds=(0, 1), **COMMON), variants=variants)
    wo: dict = {}
    both = tf_ready.train_fused(small, spec, print, weights_out=wo)
    h = both.history
    assert both.info["replicas"] == 4 and (both.timing.replicas == 4).all()
    assert h.groupby(["lr_scaling", "learning_rate", "seed"]).size().to_dict() == {
        ("constant", 0.01, 0): 4,
        ("constant", 0.01, 1): 4,
        ("linear", 0.05, 0): 4,
        ("linear", 0.05, 1): 4,
    }
    alone = tf_ready.train_fused(
        small, dataclasses.replace(spec, variants=variants[1:]), print
    ).history
    for seed in (0, 1):
        np.testing.assert_allclose(
            runs(h, 0.01, seed), runs(three_seeds[0].history, 0.01, seed), rtol=1e-6, atol=1e-7
        )
        np.testing.assert_allclose(runs(h, 0.05, seed), runs(alone, 0.05, seed), rtol=1e-6)
        assert not np.allclose(runs(h, 0.05, seed), runs(h, 0.01, seed))
    for r in (0, 1):  # replica r (variant 0) and r + 2 (variant 1) share seed r
        for a, b in zip(wo["initial"][r], wo["initial"][r + 2], strict=True):
            np.testing.assert_array_equal(a, b)


# ---- exact mathematics against Keras ----------------------------------------------------


def keras_reference(fused, ds, spec: TrainSpec, variant: LrVariant, seed: int) -> tuple:
    """Keras itself, given the fused engine's initial weights and row orders: one `fit` per
    epoch (shuffle off, optimizer state kept) for train_* and val_*, `model.evaluate` on the
    training and test splits for end_train_* and test_*. Returns metrics and final weights."""
    import keras

    from batchstudy.engines.models import build_mlp, make_optimizer

    keras.utils.set_random_seed(0)
    model = build_mlp(spec, ds.x_train.shape[1], ds.n_classes)
    model.compile(
        loss="categorical_crossentropy",
        optimizer=make_optimizer(spec, variant),
        metrics=["accuracy"],
    )
    model.set_weights(fused.initial_params(spec, seed, ds.x_train.shape[1], ds.n_classes))
    rows = []
    for epoch in range(spec.epochs):
        order = fused.epoch_order(seed, epoch, ds.n_train)
        hist = model.fit(
            ds.x_train[order],
            ds.y_train[order],
            validation_data=ds.validation,
            epochs=1,
            batch_size=spec.batch_size,
            shuffle=False,
            verbose=0,
        )
        got = {k: v[0] for k, v in hist.history.items()}
        for name, (x, y) in (
            ("end_train", (ds.x_train, ds.y_train)),
            ("test", (ds.x_test, ds.y_test)),
        ):
            ev = model.evaluate(x, y, batch_size=len(x), verbose=0, return_dict=True)
            got[f"{name}_loss"], got[f"{name}_accuracy"] = ev["loss"], ev["accuracy"]
        got["train_loss"], got["train_accuracy"] = got["loss"], got["accuracy"]
        rows.append([got[c] for c in METRICS])
    return np.array(rows), model.get_weights()


def with_validation_split(ds):
    """`ds` with its test split's first half as a separate validation split."""
    half = len(ds.x_test) // 2
    return dataclasses.replace(
        ds,
        x_val=ds.x_test[:half],
        y_val=ds.y_test[:half],
        x_test=ds.x_test[half:],
        y_test=ds.y_test[half:],
    )


KERAS_CASES = {
    **{f"adam-{a}": {"activation": a} for a in ACTIVATIONS},
    "sgd": {"optimizer": "sgd", "variants": lr(0.1)},
    "momentum": {"optimizer": "sgd", "momentum": 0.9, "variants": lr(0.05)},
    "nesterov": {"optimizer": "sgd", "momentum": 0.9, "nesterov": True, "variants": lr(0.05)},
    "sgd-warmup": {"optimizer": "sgd", "variants": lr(0.2, warmup_steps=5)},
    "adam-warmup-he_normal": {"variants": lr(0.01, 4), "initializer": "he_normal"},
    "tanh-2layers-glorot_normal": {
        "activation": "tanh",
        "initializer": "glorot_normal",
        "hidden_layers": (7, 5),
    },
    "fullbatch": {"batch_size": 64},  # > n_train: one full batch per epoch
    "two-lrs": {
        "optimizer": "sgd",
        "momentum": 0.5,
        "variants": (*lr(0.05), LrVariant("linear", 0.05, 0.2, warmup_steps=4)),
    },
    "validation-split": {"activation": "elu", "validation": True},
}


@pytest.mark.parametrize("case", list(KERAS_CASES))
def test_matches_keras_fit_exactly(tf_ready, tiny, case):
    """Every activation and optimizer setting, warmup, a partial last batch (10 rows, batch 4:
    steps of 4, 4, 2), two learning rates in one job and a separate validation split: from the
    same initial weights and row orders, Keras' `fit` and `evaluate` report the same history and
    end with the same weights. This pins the gradients (TF's own, through the tape), Keras'
    optimizer formulas and defaults, warmup, and fit's train-metric definition."""
    kw = dict(KERAS_CASES[case])
    ds = with_validation_split(tiny) if kw.pop("validation", False) else tiny
    spec = TrainSpec(**{"batch_size": 4, "epochs": 3, "seeds": (3,), "variants": lr(0.01), **kw})
    wo: dict = {}
    res = tf_ready.train_fused(ds, spec, lambda _: None, weights_out=wo)
    assert res.info["steps_per_epoch"] == math.ceil(10 / min(spec.batch_size, 10))
    for r, (variant, seed) in enumerate(spec.replicas):
        want, weights = keras_reference(tf_ready, ds, spec, variant, seed)
        got = runs(res.history, variant.learning_rate, seed)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        for g, w in zip(wo["final"][r], weights, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)
    if ds is not tiny:
        h = res.history
        assert not np.allclose(h.test_loss, h.val_loss)


# ---- exact mathematics against numpy ----------------------------------------------------


def numpy_train(fused, ds, spec: TrainSpec, seed: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Independent float64 implementation of the engine's contract for a ReLU MLP with one
    learning rate: the engine's initial weights and row orders, Keras' optimizer formulas, and
    train_*, end_train_*, val_* as defined in the module docstring of `engines.fused`."""
    d, k, n = ds.x_train.shape[1], ds.n_classes, ds.n_train
    params = [p.astype(np.float64) for p in fused.initial_params(spec, seed, d, k)]
    slot1 = [np.zeros_like(p) for p in params]
    slot2 = [np.zeros_like(p) for p in params]
    b = min(spec.batch_size, n)
    steps = math.ceil(n / b)
    (variant,) = spec.resolved(n).variants
    warm = variant.warmup_steps
    it = 0

    def forward(x, ps):
        zs, ins = [], [x]
        for i in range(0, len(ps), 2):
            zs.append(ins[-1] @ ps[i] + ps[i + 1])
            ins.append(np.maximum(zs[-1], 0.0))
        return zs, ins

    def xent(z, y):
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return -(y * logp).sum(axis=1), np.exp(logp)

    def evaluate(x, y):
        zs, _ = forward(x.astype(np.float64), params)
        return [xent(zs[-1], y)[0].mean(), (zs[-1].argmax(1) == y.argmax(1)).mean()]

    rows = []
    for epoch in range(spec.epochs):
        order = fused.epoch_order(seed, epoch, n)
        x, y = ds.x_train[order].astype(np.float64), ds.y_train[order]
        loss_sum = hits = 0.0
        for s in range(steps):
            xb, yb = x[s * b : (s + 1) * b], y[s * b : (s + 1) * b]
            zs, ins = forward(xb, params)
            loss, prob = xent(zs[-1], yb)
            loss_sum += loss.sum()
            hits += (zs[-1].argmax(1) == yb.argmax(1)).sum()
            delta = (prob - yb) / len(xb)
            grads = [None] * len(params)
            for i in reversed(range(len(params) // 2)):
                grads[2 * i], grads[2 * i + 1] = ins[i].T @ delta, delta.sum(0)
                if i:
                    delta = (delta @ params[2 * i].T) * (zs[i - 1] > 0)
            rate = variant.learning_rate * (min(1.0, (it + 1) / warm) if warm else 1.0)
            it += 1
            for i, g in enumerate(grads):
                if spec.optimizer == "adam":
                    alpha = rate * math.sqrt(1 - spec.beta_2**it) / (1 - spec.beta_1**it)
                    slot1[i] += (g - slot1[i]) * (1 - spec.beta_1)
                    slot2[i] += (g * g - slot2[i]) * (1 - spec.beta_2)
                    params[i] -= slot1[i] * alpha / (np.sqrt(slot2[i]) + spec.epsilon)
                elif spec.momentum:
                    slot1[i] = slot1[i] * spec.momentum - g * rate
                    step = slot1[i] * spec.momentum - g * rate if spec.nesterov else slot1[i]
                    params[i] += step
                else:
                    params[i] -= g * rate
        rows.append(
            [
                loss_sum / n,
                hits / n,
                *evaluate(ds.x_train, ds.y_train),
                *evaluate(ds.x_test, ds.y_test),
            ]
        )
    return np.array(rows), params


@pytest.mark.parametrize(
    "kw",
    [
        {"optimizer": "sgd", "variants": lr(0.1)},
        {"optimizer": "sgd", "variants": lr(0.05), "momentum": 0.9, "nesterov": True},
        {"optimizer": "sgd", "variants": (LrVariant("constant", 0.2, 0.2, warmup_epochs=2),)},
        {"optimizer": "adam", "variants": lr(0.01), "hidden_layers": (8, 6)},
    ],
    ids=["sgd", "nesterov", "warmup-epochs", "adam-2layers"],
)
def test_exact_math_against_numpy(tf_ready, tiny, kw):
    """The same contract computed without TensorFlow (float64 numpy, gradients by hand), step
    by step from the same initial weights and orders; warmup given in epochs is resolved."""
    spec = TrainSpec(**{"batch_size": 4, "epochs": 3, "seeds": (5, 7), **kw})
    wo: dict = {}
    res = tf_ready.train_fused(tiny, spec, lambda _: None, weights_out=wo)
    for r, seed in enumerate(spec.seeds):
        want, want_params = numpy_train(tf_ready, tiny, spec, seed)
        got = res.history[res.history.seed == seed][METRICS[:6]].to_numpy()
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)
        for g, w in zip(wo["final"][r], want_params, strict=True):
            np.testing.assert_allclose(g, w, rtol=2e-4, atol=2e-6)
        for g, w in zip(wo["initial"][r], tf_ready.initial_params(spec, seed, 2, 3), strict=True):
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("name", ["he_uniform", "he_normal", "glorot_uniform", "glorot_normal"])
def test_initializers_match_keras(tf_ready, name):
    """Hidden kernels follow `spec.initializer` and the softmax kernel glorot_uniform, with
    Keras' bounds and spread; biases start at zero."""
    import keras

    spec = TrainSpec(batch_size=8, epochs=1, seeds=(0,), initializer=name, hidden_layers=(300,))
    w0, b0, w1, b1 = tf_ready.initial_params(spec, 11, 200, 40)
    assert w0.shape == (200, 300) and w1.shape == (300, 40)
    assert not b0.any() and not b1.any()
    for w, init in ((w0, name), (w1, "glorot_uniform")):
        ref = keras.initializers.get(init)(w.shape).numpy()
        assert np.std(w) == pytest.approx(np.std(ref), rel=0.03)
        assert np.abs(w).max() <= np.abs(ref).max() * 1.01 + 1e-7
        assert np.abs(w).max() >= np.abs(ref).max() * 0.9
        assert abs(np.mean(w)) < 0.05 * np.std(w)
    other = tf_ready.initial_params(spec, 12, 200, 40)[0]
    assert not np.array_equal(w0, other)


def test_epoch_orders_are_permutations(tf_ready):
    a = tf_ready.epoch_order(0, 0, 50)
    assert sorted(a.tolist()) == list(range(50))
    assert not np.array_equal(a, tf_ready.epoch_order(0, 1, 50))
    assert not np.array_equal(a, tf_ready.epoch_order(1, 0, 50))
    assert np.array_equal(a, tf_ready.epoch_order(0, 0, 50))


def test_xla_and_unrolled_variants_agree(tf_ready, small):
    """The benchmark knobs change speed, not results: step-loop unrolling is bit-identical,
    XLA (its own fusion and rounding) agrees to float32 noise."""
    spec = TrainSpec(
        batch_size=16, epochs=3, seeds=(0, 1), optimizer="sgd", momentum=0.9, variants=lr(0.01)
    )
    base = tf_ready.train_fused(small, spec, lambda _: None)
    unrolled = tf_ready.train_fused(small, spec, lambda _: None, unroll=3)
    assert as_bytes(unrolled.history) == as_bytes(base.history)
    xla = tf_ready.train_fused(small, spec, lambda _: None, jit_compile=True)
    assert xla.info["xla"] is True and len(xla.timing) == 3
    np.testing.assert_allclose(
        xla.history[METRICS].to_numpy(), base.history[METRICS].to_numpy(), rtol=1e-3, atol=1e-4
    )


# ---- divergence -------------------------------------------------------------------------


def test_divergence_is_isolated(tf_ready, small, monkeypatch):
    """A replica that blows up gets NaN metrics from then on; the others are unaffected."""
    import tensorflow as tf

    sgd = {"batch_size": 16, "epochs": 3, "optimizer": "sgd", "variants": lr(0.5)}
    clean = tf_ready.train_fused(small, TrainSpec(seeds=(0, 1), **sgd), print).history
    real = tf_ready._draw_kernel

    def exploding(seed, layer, *args):  # seed 99 starts with absurd weights
        k = real(seed, layer, *args)
        return tf.where(tf.equal(tf.cast(seed, tf.int64), 99), k * 1e30, k)

    monkeypatch.setattr(tf_ready, "_draw_kernel", exploding)
    lines: list[str] = []
    res = tf_ready.train_fused(small, TrainSpec(seeds=(0, 99, 1), **sgd), lines.append)
    h = res.history
    assert h[h.seed == 99][METRICS].isna().all().all()
    assert [d["seed"] for d in res.info["diverged"]] == [99]
    assert any("diverged" in s for s in lines)
    for seed in (0, 1):
        np.testing.assert_allclose(runs(h, 0.5, seed), runs(clean, 0.5, seed), rtol=1e-6, atol=1e-7)


def test_huge_learning_rate_is_isolated(tf_ready, small):
    """A learning rate that blows up diverges alone: the sane rate's runs in the same job
    stay finite."""
    variants = (*lr(1e3), LrVariant("linear", 1e3, 0.01))
    spec = TrainSpec(batch_size=32, epochs=4, seeds=(0, 1), optimizer="sgd", variants=variants)
    h = tf_ready.train_fused(small, spec, lambda _: None).history
    assert len(h) == 16
    for _, g in h.groupby(["learning_rate", "seed"]):
        bad = g[METRICS].isna().any(axis=1).to_numpy()
        # Once diverged, a run stays NaN (no finite metrics from NaN weights).
        assert not bad.any() or bad[bad.argmax() :].all()
    assert h[h.learning_rate == 1e3][METRICS].isna().any().any()
    assert h[h.learning_rate == 0.01][METRICS].notna().all().all()


# ---- evaluation every k steps ------------------------------------------------------------


def keras_step_evals(fused, ds, spec: TrainSpec, variant: LrVariant, seed: int) -> np.ndarray:
    """Keras itself from the fused engine's initial weights and row orders (one `fit` per
    epoch, shuffle off), with a callback that runs `model.evaluate` on the validation and test
    splits after every k-th batch of the whole run: ``[n, 4]`` rows in `EVAL_METRICS` order."""
    import keras

    from batchstudy.engines.models import build_mlp, make_optimizer

    model = build_mlp(spec, ds.x_train.shape[1], ds.n_classes)
    model.compile(
        loss="categorical_crossentropy",
        optimizer=make_optimizer(spec, variant),
        metrics=["accuracy"],
    )
    model.set_weights(fused.initial_params(spec, seed, ds.x_train.shape[1], ds.n_classes))
    splits = [ds.validation, (ds.x_test, ds.y_test)]
    rows: list[list[float]] = []
    count = [0]

    class EveryK(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            count[0] += 1
            if count[0] % spec.eval_every_steps == 0:
                row = []
                for x, y in splits:
                    got = self.model.evaluate(x, y, batch_size=len(x), verbose=0, return_dict=True)
                    row += [got["loss"], got["accuracy"]]
                rows.append(row)

    for epoch in range(spec.epochs):
        order = fused.epoch_order(seed, epoch, ds.n_train)
        model.fit(
            ds.x_train[order],
            ds.y_train[order],
            epochs=1,
            batch_size=spec.batch_size,
            shuffle=False,
            verbose=0,
            callbacks=[EveryK()],
        )
    return np.array(rows)


def evals_of(e: pd.DataFrame, learning_rate: float, seed: int) -> pd.DataFrame:
    return e[(e.learning_rate == learning_rate) & (e.seed == seed)].sort_values("step")


STEP_EVAL_CASES = {
    "every-step": {"eval_every_steps": 1},
    # 3 steps per epoch (4, 4, 2 rows): k = 2 evaluates mid-epoch, after partial batches and
    # across epoch boundaries; k = 5 skips most epoch ends.
    "every-2-adam-warmup": {"eval_every_steps": 2, "variants": lr(0.01, 4), "validation": True},
    "every-5-two-lrs": {
        "eval_every_steps": 5,
        "optimizer": "sgd",
        "momentum": 0.9,
        "variants": (*lr(0.05), LrVariant("linear", 0.05, 0.2)),
    },
}


@pytest.mark.parametrize("case", list(STEP_EVAL_CASES))
def test_step_evaluations_match_keras(tf_ready, tiny, case):
    """Evaluations after every k-th optimizer step (global count, crossing epochs) equal
    Keras' `evaluate` from a callback after every k-th batch; the steps, fractional epochs and
    the history do not depend on k, and at an epoch's last step they equal its history row."""
    from batchstudy.io import EVAL_COLUMNS

    kw = dict(STEP_EVAL_CASES[case])
    ds = with_validation_split(tiny) if kw.pop("validation", False) else tiny
    spec = TrainSpec(**{"batch_size": 4, "epochs": 4, "seeds": (3, 7), "variants": lr(0.01), **kw})
    k, spe = spec.eval_every_steps, 3
    res = tf_ready.train_fused(ds, spec, lambda _: None)
    once = tf_ready.train_fused(ds, dataclasses.replace(spec, eval_every_steps=0), print)
    assert as_bytes(res.history) == as_bytes(once.history)
    e = res.evals
    assert list(e.columns) == list(EVAL_COLUMNS)
    assert len(e) == len(spec.replicas) * (spec.epochs * spe // k)
    for variant, seed in spec.replicas:
        got = evals_of(e, variant.learning_rate, seed)
        assert got.step.tolist() == list(range(k, spec.epochs * spe + 1, k))
        np.testing.assert_allclose(got.epoch, got.step / spe)
        want = keras_step_evals(tf_ready, ds, spec, variant, seed)
        np.testing.assert_allclose(got[list(EVAL_METRICS)], want, rtol=1e-5, atol=1e-6)
        ends = got[got.step % spe == 0]
        hist = res.history[(res.history.learning_rate == variant.learning_rate)]
        hist = hist[hist.seed == seed].set_index("epoch").loc[ends.step // spe]
        np.testing.assert_array_equal(ends[list(EVAL_METRICS)], hist[list(EVAL_METRICS)])
    if ds is tiny:
        assert e.test_loss.equals(e.val_loss)
    else:
        assert not np.allclose(e.test_loss, e.val_loss)


def test_epoch_end_evaluations_when_off(three_seeds):
    """k = 0: evals holds the history's epoch-end evaluations, step = epoch x steps/epoch."""
    res, _ = three_seeds
    e, h, spe = res.evals, res.history, res.info["steps_per_epoch"]
    assert len(e) == len(h) and (e.step == h.epoch * spe).all() and (e.epoch == h.epoch).all()
    assert e[list(EVAL_METRICS)].equals(h[list(EVAL_METRICS)])


def test_step_evaluations_xla_and_unrolled(tf_ready, small):
    """Unrolling keeps the step evaluations bit-identical; XLA agrees to float32 noise."""
    spec = TrainSpec(batch_size=16, epochs=3, seeds=(0, 1), variants=lr(0.01), eval_every_steps=3)
    base = tf_ready.train_fused(small, spec, lambda _: None)
    assert len(base.evals) == 2 * (3 * 8 // 3)
    unrolled = tf_ready.train_fused(small, spec, lambda _: None, unroll=2)
    assert as_bytes(unrolled.evals) == as_bytes(base.evals)
    xla = tf_ready.train_fused(small, spec, lambda _: None, jit_compile=True)
    assert xla.evals.step.equals(base.evals.step)
    np.testing.assert_allclose(
        xla.evals[list(EVAL_METRICS)], base.evals[list(EVAL_METRICS)], rtol=1e-3, atol=1e-4
    )


def test_step_evaluations_of_a_diverged_run(tf_ready, small):
    """A diverging learning rate's evaluations are NaN from its first non-finite one on and
    from the epoch its history marks it diverged; the sane rate's stay finite."""
    variants = (*lr(1e3), LrVariant("linear", 1e3, 0.01))
    spec = TrainSpec(
        batch_size=32, epochs=4, seeds=(0,), optimizer="sgd", variants=variants, eval_every_steps=1
    )
    res = tf_ready.train_fused(small, spec, lambda _: None)
    bad = evals_of(res.evals, 1e3, 0)[list(EVAL_METRICS)].isna().any(axis=1).to_numpy()
    assert bad.any() and bad[bad.argmax() :].all()
    assert evals_of(res.evals, 0.01, 0)[list(EVAL_METRICS)].notna().all().all()


def test_keras_engine_step_evaluations(tf_ready, tiny):
    """The Keras engine evaluates every k steps without touching fit's running train
    averages: its history equals the run without step evaluations."""
    from batchstudy.engines.keras import train_keras

    spec = TrainSpec(batch_size=4, epochs=2, seeds=(0,), variants=lr(0.01), engine="keras")
    with_k = train_keras(tiny, dataclasses.replace(spec, eval_every_steps=2), lambda _: None)
    without = train_keras(tiny, spec, lambda _: None)
    assert as_bytes(with_k.history) == as_bytes(without.history)
    e = with_k.evals
    assert e.step.tolist() == [2, 4, 6] and e[list(EVAL_METRICS)].notna().all().all()
    assert without.evals.step.tolist() == [3, 6]
    # At an epoch's last step the full-batch evaluation matches fit's batched val_* closely.
    end = e[e.step == 6][list(EVAL_METRICS)].to_numpy()
    np.testing.assert_allclose(end, without.evals[list(EVAL_METRICS)].to_numpy()[-1:], rtol=1e-5)


# ---- the Keras reference engine ---------------------------------------------------------


def test_keras_engine_format(tf_ready, tiny):
    """Every (variant, seed) replica trained with `fit`; all contract columns filled; the test
    columns copy the validation columns unless the dataset has its own validation split."""
    from batchstudy.engines.keras import train_keras

    variants = (*lr(0.01), LrVariant("sqrt", 0.01, 0.03, warmup_steps=2))
    spec = TrainSpec(batch_size=4, epochs=2, seeds=(0, 1), variants=variants, engine="keras")
    res = train_keras(tiny, spec, lambda _: None)
    h = res.history
    assert list(h.columns) == list(HISTORY_COLUMNS) and len(h) == 2 * 2 * 2
    assert h[["learning_rate", "seed"]].drop_duplicates().values.tolist() == [
        [0.01, 0],
        [0.01, 1],
        [0.03, 0],
        [0.03, 1],
    ]
    assert h[METRICS].notna().all().all()
    assert h.test_loss.equals(h.val_loss)
    assert list(res.timing.columns) == list(TIMING_COLUMNS) and (res.timing.replicas == 1).all()
    assert len(res.timing) == 8
    split = train_keras(with_validation_split(tiny), spec, lambda _: None).history
    assert not np.allclose(split.test_loss, split.val_loss)
    # The learning rate reaches the optimizer: the two variants of a seed differ.
    assert not np.allclose(runs(h, 0.01, 0), runs(h, 0.03, 0))


# ---- statistical equivalence with the Keras reference -----------------------------------


def _t95(df: float) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.975, df))


@pytest.mark.slow
def test_equivalent_to_keras_reference(tf_ready, seed_data):
    """Both engines on the seed's data, 10 seeds, batch sizes 8 and 128, 12 epochs.

    Shuffles and initial draws differ between the engines (Keras' RNG vs stateless draws),
    so the curves can agree only in distribution. Criteria, per batch size:
    - final val accuracy: the 95% Welch CI of the difference of the engines' means contains 0;
    - mean learning curves (val loss, train loss, end-of-epoch train loss) at every epoch:
      |difference of the means| <= 3.5 standard errors of that difference + 1e-3, the SE from
      both engines' between-seed spread (sqrt(s_f^2/n + s_k^2/n)). So the tolerance is what 10
      seeds can resolve: for equal distributions one epoch exceeds it with probability ~0.3%
      (t, ~18 df), and it shrinks where the seeds agree. The exact tests above pin the
      mathematics; this test checks the whole engine (real shuffles, initialisation, Keras
      data pipeline) against the reference.
    """
    from batchstudy.engines.keras import train_keras

    seeds, epochs = tuple(range(10)), 12
    n = len(seeds)
    for bs in (8, 128):
        spec = TrainSpec(batch_size=bs, epochs=epochs, seeds=seeds)
        fz = tf_ready.train_fused(seed_data, spec, lambda _: None).history
        kr = train_keras(seed_data, spec, lambda _: None).history
        for frame in (fz, kr):
            assert frame[METRICS].notna().all().all()
        last_f = fz[fz.epoch == epochs].val_accuracy.to_numpy()
        last_k = kr[kr.epoch == epochs].val_accuracy.to_numpy()
        vf, vk = last_f.var(ddof=1) / n, last_k.var(ddof=1) / n
        diff, se = last_f.mean() - last_k.mean(), math.sqrt(vf + vk)
        df = (vf + vk) ** 2 / ((vf**2 + vk**2) / (n - 1)) if se > 0 else n - 1
        half = _t95(df) * se + 1e-9
        assert abs(diff) <= half, f"bs {bs}: final val acc differs by {diff:.4f} (CI ±{half:.4f})"
        for metric in ("val_loss", "train_loss", "end_train_loss"):
            f = fz.pivot(index="epoch", columns="seed", values=metric)
            k = kr.pivot(index="epoch", columns="seed", values=metric)
            gap = (f.mean(axis=1) - k.mean(axis=1)).abs()
            tol = 3.5 * np.sqrt(f.var(axis=1, ddof=1) / n + k.var(axis=1, ddof=1) / n) + 1e-3
            worst = (gap / tol).idxmax()
            assert (gap <= tol).all(), (
                f"bs {bs} {metric}: epoch {worst} mean gap {gap[worst]:.4f} > {tol[worst]:.4f}"
            )
