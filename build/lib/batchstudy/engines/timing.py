"""The timing stage: re-time a job key's training at every batch size, `repeats` times,
interleaved, so that timing intervals can come from independent repeats.

A training job times its epochs once, in one process, with all its seeds sharing one clock;
epochs of one job are neither independent nor free of load drift. Here every batch size's
fused graph (`engines.fused`, the very graph its training job runs, without step evaluations)
is built once, then for repeat ``r = 1..repeats`` the batch sizes are visited in an order
shuffled per repeat (`timing_order`), and each visit runs `epochs` epochs of all the job's
replicas from their initial weights and reads the in-graph clock of each epoch (the steps and
the end-of-epoch evaluations, as ``timing.tsv``; graph building excluded). One row per (batch
size, repeat) in `io.TIMING_REPEAT_COLUMNS`; its ``seconds_per_epoch`` is the median of the
visit's epochs divided by the replicas (one model's share, as ``jobs.tsv`` states it).

TensorFlow is imported inside `time_batch_sizes` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from ..data import Dataset
from ..io import TIMING_REPEAT_COLUMNS
from ..spec import TrainSpec
from .result import Log

#: Seed of the per-repeat visiting orders (`timing_order`).
ORDER_SEED = 0


def timing_order(batch_sizes: Sequence[int], repeat: int, seed: int = ORDER_SEED) -> list[int]:
    """The order repeat `repeat` (from 1) visits `batch_sizes` in: a permutation drawn from
    ``(seed, repeat)``, so every repeat visits every batch size once and no batch size's
    repeats run back to back unless it is the only one (or ends one repeat and starts the
    next)."""
    rng = np.random.default_rng([seed, repeat])
    return [int(batch_sizes[i]) for i in rng.permutation(len(batch_sizes))]


def time_batch_sizes(
    data: Dataset, specs: Sequence[TrainSpec], repeats: int, epochs: int, log: Log
) -> pd.DataFrame:
    """Time `epochs` epochs of every spec (one per batch size) `repeats` times, interleaved;
    returns `io.TIMING_REPEAT_COLUMNS` rows in the order they were timed."""
    from .fused import check_spec, compile_graph, make_graph, train_call

    if repeats < 1 or epochs < 1:
        raise ValueError(f"repeats and epochs must be positive, got {repeats}, {epochs}")
    graphs = {}
    for spec in specs:
        check_spec(spec)
        spec = replace(spec.resolved(data.n_train), eval_every_steps=0)
        g = make_graph(data, spec)
        jit = bool(spec.extra.get("fused_jit_compile", False))
        concrete, trace_s, warm_s = compile_graph(g, jit, 1)
        graphs[spec.batch_size] = (g, concrete)
        log(f"timing: batch size {spec.batch_size} graph built in {trace_s + warm_s:.2f} s")
    rows = []
    for r in range(1, repeats + 1):
        for pos, b in enumerate(timing_order(list(graphs), r), start=1):
            g, concrete = graphs[b]
            out, _ = train_call(concrete, epochs)
            seconds = np.diff(np.concatenate([[float(out["start"])], out["stamps"]]))
            per_epoch = float(np.median(seconds)) / g.n_rep
            rows.append((b, r, pos, epochs, per_epoch, per_epoch / g.steps_per_epoch, g.n_rep))
        log(f"timing: repeat {r}/{repeats} done")
    return pd.DataFrame(rows, columns=list(TIMING_REPEAT_COLUMNS))
