"""The timing stage (`batchstudy.engines.timing`, config `timing_repeats`): the visiting
orders interleave batch sizes, and the stage writes its documented table."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from batchstudy.data import SEED_BLOBS, build_dataset
from batchstudy.engines.timing import time_batch_sizes, timing_order
from batchstudy.io import TIMING_REPEAT_COLUMNS
from batchstudy.spec import LrVariant, TrainSpec, steps_per_epoch

SIZES = [4, 8, 16, 32, 64, 128, 256, 512]


def test_orders_interleave_batch_sizes():
    """Every repeat visits every batch size once, the orders differ between repeats, are
    reproducible, and no batch size has its repeats back to back."""
    orders = [timing_order(SIZES, r) for r in range(1, 6)]
    assert all(sorted(o) == SIZES for o in orders)
    assert len({tuple(o) for o in orders}) == 5
    assert orders == [timing_order(SIZES, r) for r in range(1, 6)]
    sequence = [b for o in orders for b in o]
    for b in SIZES:
        at = [i for i, x in enumerate(sequence) if x == b]
        assert np.diff(at).max() > 1, f"all repeats of batch size {b} in a row"


def test_stage_output_format():
    """One row per (batch size, repeat) in visiting order; seconds per step = seconds per
    epoch / steps per epoch; one model's share of the job's replicas."""
    pytest.importorskip("tensorflow")
    from batchstudy.training import configure_tensorflow

    with contextlib.suppress(RuntimeError):  # TensorFlow's runtime already started
        configure_tensorflow(2)
    data = build_dataset({**SEED_BLOBS, "n_samples": 60, "n_train": 30})
    variants = (LrVariant("constant", 0.01, 0.01), LrVariant("linear", 0.01, 0.02))
    specs = [
        TrainSpec(batch_size=b, epochs=100, seeds=(0, 1), variants=variants, eval_every_steps=1)
        for b in (4, 16, 64)
    ]
    lines: list[str] = []
    t = time_batch_sizes(data, specs, repeats=3, epochs=2, log=lines.append)
    assert list(t.columns) == list(TIMING_REPEAT_COLUMNS) and len(t) == 9
    assert t.repeat.tolist() == [1] * 3 + [2] * 3 + [3] * 3
    assert t.order.tolist() == [1, 2, 3] * 3
    for r, g in t.groupby("repeat"):
        assert g.batch_size.tolist() == timing_order([4, 16, 64], r)
    assert (t.epochs == 2).all() and (t.replicas == 4).all()
    assert (t.seconds_per_epoch > 0).all()
    spe = t.batch_size.map(lambda b: steps_per_epoch(30, b))
    np.testing.assert_allclose(t.seconds_per_step * spe, t.seconds_per_epoch)
    assert sum("graph built" in s for s in lines) == 3


def test_stage_refuses_repeats_below_one():
    with pytest.raises(ValueError, match="positive"):
        time_batch_sizes(None, [], repeats=0, epochs=1, log=print)
