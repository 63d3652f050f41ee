"""The noise-scale reference run: per-example gradients, checkpoints and its CLI stage."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from batchstudy.cli import main
from batchstudy.data import build_dataset, save_dataset
from batchstudy.engines import models
from batchstudy.io import read_table
from batchstudy.spec import LrVariant, TrainSpec

noise = pytest.importorskip("batchstudy.engines.noise")

TINY_BLOBS = {
    "kind": "blobs",
    "n_samples": 120,
    "centers": 3,
    "n_features": 2,
    "cluster_std": 2.0,
    "random_state": 2,
    "n_train": 60,
}


def test_checkpoint_steps_start_at_zero_and_end_at_the_last_step():
    assert noise.checkpoint_steps(8, 3) == [0, 3, 6, 8]
    assert noise.checkpoint_steps(6, 3) == [0, 3, 6]
    assert noise.checkpoint_steps(0, 5) == [0]
    with pytest.raises(ValueError):
        noise.checkpoint_steps(8, 0)


def test_examples_seen_counts_the_partial_last_batch_once():
    # 60 rows at B = 16: 4 steps per epoch of 16, 16, 16, 12 rows.
    assert [noise.examples_seen(s, 60, 16) for s in (0, 1, 3, 4, 5, 8)] == [
        0,
        16,
        48,
        60,
        76,
        120,
    ]


def test_segments_end_at_checkpoints_and_epoch_ends():
    seg = noise.Segment
    # 4 steps per epoch, 2 epochs; checkpoint 6 inside the second epoch, 8 at its end
    assert noise.segments(4, 2, [3, 6, 8]) == [
        seg(True, 3, True),
        seg(False, 1, False),
        seg(True, 2, True),
        seg(False, 2, True),
    ]
    # step 0 and steps past the end are not segment ends; a checkpoint at an epoch's end
    # makes one segment, not two
    assert noise.segments(3, 2, [0, 3, 9]) == [seg(True, 3, True), seg(True, 3, False)]
    assert noise.segments(5, 0, [0]) == []
    with pytest.raises(ValueError):
        noise.segments(0, 2, [])


def _weights(model) -> np.ndarray:
    return np.concatenate([np.ravel(v.numpy()) for v in model.trainable_variables])


def test_reference_loop_reproduces_keras_fit_bit_for_bit():
    """`train_reference` takes the same batches and steps as ``fit``: the weights at every
    checkpoint (one mid-epoch, one at an epoch's end, one across the partial last batch) are
    the same bits, with warmup and Adam's state carried across segments."""
    import keras

    from batchstudy.engines.models import build_mlp, make_optimizer

    ds = build_dataset(TINY_BLOBS)  # 60 rows at B = 16: 4 steps per epoch, the last of 12
    spec = TrainSpec(batch_size=16, epochs=3, seeds=(5,), optimizer="adam")
    variant = LrVariant("constant", 1e-2, 1e-2, warmup_steps=3)
    checkpoints = [3, 4, 6, 12]

    def compiled():
        keras.utils.set_random_seed(5)
        model = build_mlp(spec, 2, ds.n_classes)
        model.compile(loss="categorical_crossentropy", optimizer=make_optimizer(spec, variant))
        return model

    by_fit, model = {}, compiled()

    class Record(keras.callbacks.Callback):
        step = 0

        def on_train_batch_end(self, batch, logs=None):
            self.step += 1
            if self.step in checkpoints:
                by_fit[self.step] = _weights(model)

    model.fit(ds.x_train, ds.y_train, epochs=3, batch_size=16, verbose=0, callbacks=[Record()])
    by_loop, model = {}, compiled()
    noise.train_reference(
        model, ds, 16, 3, checkpoints, lambda step: by_loop.__setitem__(step, _weights(model))
    )
    assert list(by_loop) == checkpoints
    for step in checkpoints:
        assert np.array_equal(by_loop[step], by_fit[step]), step
    assert not np.array_equal(by_loop[3], by_loop[12])  # training moved the weights


def test_per_example_gradients_average_to_the_full_batch_gradient():
    """The jacobian rows are real per-example gradients: their mean is the gradient of the
    mean loss from one ordinary tape, and a row is the gradient of that example alone."""
    from batchstudy.engines.models import build_mlp

    ds = build_dataset(TINY_BLOBS)
    model = build_mlp(TrainSpec(batch_size=8, epochs=1, seeds=(0,)), 2, ds.n_classes)
    # more rows than one jacobian chunk, so the chunking is exercised too
    x = np.concatenate([ds.x_train] * 5)
    y = np.concatenate([ds.y_train] * 5)
    assert len(x) > noise.PER_EXAMPLE_CHUNK
    grads = noise.gradient_probe(model)(x, y)
    n_params = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    assert grads.shape == (len(x), n_params)
    full = noise.full_batch_gradient(model, x, y)
    assert np.allclose(grads.mean(axis=0), full, rtol=1e-4, atol=1e-6)
    single = noise.full_batch_gradient(model, x[7:8], y[7:8])
    assert np.allclose(grads[7], single, rtol=1e-4, atol=1e-6)
    assert not np.allclose(grads[7], grads[8])  # rows differ: not one gradient repeated


def test_cli_rejects_a_non_positive_interval(tmp_path):
    with pytest.raises(SystemExit):
        main(["noise-scale", "--data", "x", "--spec", "{}", "--every", "0", "--out", "y"])


def test_cli_writes_the_documented_table(tmp_path):
    data = tmp_path / "blobs.npz"
    save_dataset(build_dataset(TINY_BLOBS), data)
    spec = TrainSpec(
        batch_size=16,
        epochs=2,
        seeds=(3, 4),
        variants=(LrVariant("constant", 1e-2, 1e-2, warmup_steps=2), LrVariant("x", 1, 1)),
    )
    out = tmp_path / "noise_scale.tsv"
    argv = ["noise-scale", "--data", str(data), "--spec", spec.to_json(), "--every", "3"]
    # a fresh process: the stage pins TensorFlow's threads, which only works before TF starts
    run = subprocess.run(
        [sys.executable, "-m", "batchstudy", *argv, "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    table = read_table(out, noise.NOISE_TABLE_COLUMNS)
    assert list(table.columns) == list(noise.NOISE_TABLE_COLUMNS)
    # 60 rows at B = 16: 4 steps per epoch, 8 in all
    assert table["step"].tolist() == [0, 3, 6, 8]
    assert table["epoch"].tolist() == [0.0, 0.75, 1.5, 2.0]
    assert np.all(np.isfinite(table["b_simple"])) and np.all(table["b_simple"] > 0)
    ratio = table["trace_sigma"] / table["grad_norm_sq"]
    assert np.allclose(table["b_simple"], ratio, rtol=1e-6)
    assert set(table["n_examples"]) == {60}
    # the first variant and the first seed ran, and the weights moved between checkpoints
    assert set(table["learning_rate"]) == {1e-2} and set(table["seed"]) == {3}
    assert table["train_loss"].nunique() == len(table)


def test_optimizer_warms_up_linearly_over_the_variants_steps():
    schedule = models.learning_rate(LrVariant("constant", 0.1, 0.4, warmup_steps=4))
    assert [float(schedule(i)) for i in (0, 1, 3, 10)] == pytest.approx([0.1, 0.2, 0.4, 0.4])
    spec = TrainSpec(batch_size=8, epochs=1, seeds=(0,), optimizer="sgd", momentum=0.9)
    opt = models.make_optimizer(spec, LrVariant("constant", 0.1, 0.4, warmup_steps=4))
    assert float(opt.learning_rate) == pytest.approx(0.1)  # at iteration 0
    assert float(opt.momentum) == pytest.approx(0.9)
    plain = models.make_optimizer(spec, LrVariant("constant", 0.1, 0.4))
    assert float(plain.learning_rate) == pytest.approx(0.4)
