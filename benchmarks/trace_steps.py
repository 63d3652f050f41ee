"""Where a step's time goes: per-op-type counts and times of the old and the new fused engine.

    python benchmarks/trace_steps.py [--epochs 5] [--batch-size 4] [--seeds 1 10]

The tape-built graph of the new engine (`batchstudy.engines.fused`) and the hand-written-gradient
graph of the old one (`legacy_fused.py`) are each imported into a TensorFlow 1 session and run
for `--epochs` epochs of the seed's data (Adam at 1e-3, Dense(50, relu) -> softmax) once with
``RunOptions.FULL_TRACE``: the step stats give every executed node's op type and time. Printed
per op type: executions and microseconds per optimizer step, for both engines, and the two
graphs' untraced run times (the same graphs run again without tracing, so tracing's own cost
is not in the ratio). Node execution counts are exact; times are noisy on a loaded machine.
"""

from __future__ import annotations

import argparse
import collections
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))  # legacy_fused.py beside this script


def op_times(concrete: Any, args: list[Any]) -> tuple[float, dict[str, list[float]]]:
    """Untraced seconds of one run of `concrete` on `args`, and {op type: [executions,
    microseconds]} from one traced run, in a TF1 session over the function's graph."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(concrete.graph.as_graph_def(), name="")
    names = [t.name for t in concrete.inputs]
    values = [*args, *(c.numpy() for c in concrete.captured_inputs)]
    feeds = dict(zip(names, values, strict=True))
    fetches = [t.name for t in tf.nest.flatten(concrete.structured_outputs)]
    session = tf.compat.v1.Session(graph=graph)
    session.run(fetches, feeds)  # warm-up
    t0 = time.perf_counter()
    session.run(fetches, feeds)
    plain = time.perf_counter() - t0
    options = tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE)
    meta = tf.compat.v1.RunMetadata()
    session.run(fetches, feeds, options=options, run_metadata=meta)
    per: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
    for dev in meta.step_stats.dev_stats:
        for node in dev.node_stats:
            label = node.timeline_label
            op = label.split("=")[-1].split("(")[0].strip() if "=" in label else node.node_name
            per[op][0] += 1
            per[op][1] += node.all_end_rel_micros
    return plain, per


def old_concrete(ds: Any, spec: Any) -> Any:
    """The old engine's concrete function: its `train_fused` builds it inside; catch the
    `tf.function` it makes during a one-epoch call."""
    import legacy_fused
    import tensorflow as tf

    made = []
    real = tf.function

    def catch(*a: Any, **k: Any) -> Any:
        made.append(real(*a, **k))
        return made[-1]

    tf.function = catch
    try:
        legacy_fused.train_fused(ds, spec, lambda _: None)
    finally:
        tf.function = real
    return made[-1].get_concrete_function(
        tf.TensorSpec([len(spec.seeds)], tf.int64),
        tf.TensorSpec([], tf.int32),
        tf.TensorSpec([], tf.int32),
    )


def compare(ds: Any, batch_size: int, n_seeds: int, epochs: int, top: int = 25) -> None:
    from batchstudy.engines import fused
    from batchstudy.spec import TrainSpec

    spec = TrainSpec(batch_size=batch_size, epochs=epochs, seeds=tuple(range(n_seeds)))
    graph = fused.make_graph(ds, spec.resolved(ds.n_train))
    new_fn, _, _ = fused.compile_graph(graph, False, 1)
    new = op_times(new_fn, [epochs, 2**30])
    old = op_times(old_concrete(ds, spec), [np.arange(n_seeds, dtype=np.int64), epochs, 2**30])
    steps = epochs * math.ceil(ds.n_train / batch_size)
    print(
        f"\nB = {batch_size}, {n_seeds} seed(s), {epochs} epochs = {steps} steps: untraced "
        f"old {old[0]:.3f} s, new {new[0]:.3f} s, new/old {new[0] / old[0]:.2f}"
    )
    print("| op | old executions | old us/step | new executions | new us/step |")
    print("|---|--:|--:|--:|--:|")
    ops = sorted(set(old[1]) | set(new[1]), key=lambda k: -new[1].get(k, [0, 0.0])[1])
    for op in ops[:top]:
        o, n = old[1].get(op, [0, 0.0]), new[1].get(op, [0, 0.0])
        print(f"| {op} | {o[0]} | {o[1] / steps:.1f} | {n[0]} | {n[1] / steps:.1f} |")
    total = [sum(v[0] for v in d[1].values()) for d in (old, new)]
    print(f"| all nodes | {total[0]} | | {total[1]} | |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 10])
    args = ap.parse_args()
    from batchstudy.data import SEED_BLOBS, build_dataset
    from batchstudy.training import configure_tensorflow

    configure_tensorflow(2, deterministic=False, keras=False)
    ds = build_dataset(SEED_BLOBS)
    for n_seeds in args.seeds:
        compare(ds, args.batch_size, n_seeds, args.epochs)


if __name__ == "__main__":
    main()
