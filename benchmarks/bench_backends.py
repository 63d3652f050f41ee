"""Benchmark: the Keras engine on its Keras 3 backends, against TensorFlow, on the seed's setup.

    python benchmarks/bench_backends.py                  # 10 seeds x 8 batch sizes x 100 epochs
    python benchmarks/bench_backends.py --backends jax torch --seeds 5 --epochs 20

The seed's data (`data.SEED_BLOBS`), Adam at 1e-3, Dense(50, relu) -> softmax, plain
``model.fit`` (`engines.keras`), deterministic ops, one thread. Each backend trains in its own
process (Keras picks its backend once, at import), on the CPU (``CUDA_VISIBLE_DEVICES=""``);
the backends' processes run side by side. The full run trains 80 models per backend, one
after another: long (an hour or more on a small machine); the test suite runs a reduced
version (tests/test_backends.py).

For every batch size: each backend's mean final validation accuracy over the seeds and the
Welch t-interval of the difference to TensorFlow (`agreement`). The seeds give the same
*kind* of run on every backend, not the same numbers: each backend draws its own initial
weights and row orders from a seed, so the samples are independent and unpaired. A backend
agrees when every interval contains 0. Results also go to benchmarks/out/bench_backends.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = "tensorflow"
#: The seed's batch sizes.
SEED_BATCH_SIZES = (4, 8, 16, 32, 64, 128, 256, 512)
#: Family-wise error rate of the per-batch-size intervals (Bonferroni over batch sizes).
FAMILY_ALPHA = 0.05


def agreement(
    reference: dict[int, list[float]], other: dict[int, list[float]], alpha: float = FAMILY_ALPHA
) -> pd.DataFrame:
    """Per batch size: both means, their difference (other - reference) and its Welch
    t-interval at level ``1 - alpha / k`` (k batch sizes, Bonferroni), ``agree`` when the
    interval contains 0.

    Edge cases: a batch size with fewer than 2 values on either side has no interval (NaN
    bounds) and does not agree; when both samples have zero spread the interval is the
    difference itself, so only identical means agree.
    """
    sizes = sorted(reference)
    if sorted(other) != sizes:
        raise ValueError(f"batch sizes differ: {sizes} vs {sorted(other)}")
    level = 1 - alpha / len(sizes)
    rows = []
    for b in sizes:
        a, o = np.asarray(reference[b], float), np.asarray(other[b], float)
        diff = float(o.mean() - a.mean()) if len(a) and len(o) else np.nan
        lo = hi = np.nan
        if len(a) >= 2 and len(o) >= 2:
            va, vo = a.var(ddof=1) / len(a), o.var(ddof=1) / len(o)
            se = float(np.sqrt(va + vo))
            if se == 0:
                lo = hi = diff
            else:
                dof = (va + vo) ** 2 / (va**2 / (len(a) - 1) + vo**2 / (len(o) - 1))
                half = float(stats.t.ppf(0.5 + level / 2, dof)) * se
                lo, hi = diff - half, diff + half
        rows.append(
            {
                "batch_size": b,
                "mean_reference": float(a.mean()) if len(a) else np.nan,
                "mean_other": float(o.mean()) if len(o) else np.nan,
                "difference": diff,
                "lo": lo,
                "hi": hi,
                "level": level,
                "agree": bool(lo <= 0 <= hi),
            }
        )
    return pd.DataFrame(rows)


def _worker(backend: str, batch_sizes: list[int], seeds: list[int], epochs: int) -> None:
    """Train every (batch size, seed) on `backend` in this process; print one JSON line."""
    from batchstudy.data import SEED_BLOBS, build_dataset
    from batchstudy.spec import TrainSpec
    from batchstudy.training import configure_backend, select_backend, train

    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    select_backend(backend)
    info = configure_backend(backend, threads=1)
    data = build_dataset(SEED_BLOBS)
    finals: dict[int, list[float]] = {}
    t0 = time.perf_counter()
    for b in batch_sizes:
        spec = TrainSpec(
            batch_size=b, epochs=epochs, seeds=tuple(seeds), engine="keras", backend=backend
        )
        hist = train(data, spec, log=lambda msg: None).history
        last = hist[hist["epoch"] == epochs].sort_values("seed")
        finals[b] = [float(v) for v in last["val_accuracy"]]
    out = {
        "backend": backend,
        "version": info["backend_version"],
        "seconds": time.perf_counter() - t0,
        "final_val_accuracy": finals,
    }
    print(json.dumps(out), flush=True)


def final_accuracies(
    backends: list[str], batch_sizes: list[int], seeds: list[int], epochs: int
) -> dict[str, dict[str, Any]]:
    """Run `_worker` for every backend, each in its own process, all at once; each backend's
    output with its final accuracies keyed by batch size (int)."""
    path = f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    env = {**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "2"}
    procs = {}
    for backend in backends:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", backend]
        cmd += ["--batch-sizes", *map(str, batch_sizes), "--seeds", str(len(seeds))]
        cmd += ["--first-seed", str(seeds[0]), "--epochs", str(epochs)]
        procs[backend] = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
    results = {}
    for backend, proc in procs.items():
        stdout, stderr = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"{backend} worker failed ({proc.returncode}):\n{stderr[-3000:]}")
        out = json.loads(stdout.strip().splitlines()[-1])
        out["final_val_accuracy"] = {int(k): v for k, v in out["final_val_accuracy"].items()}
        results[backend] = out
    return results


def installed(backend: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(backend) is not None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--backends", nargs="+", default=["jax", "torch"], help="compared to TF")
    p.add_argument("--batch-sizes", nargs="+", type=int, default=list(SEED_BATCH_SIZES))
    p.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (from --first-seed)")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    if args.worker:
        _worker(args.worker, args.batch_sizes, seeds, args.epochs)
        return
    skipped = [b for b in args.backends if not installed(b)]
    for backend in skipped:
        print(f"{backend}: not installed, skipped")
    others = [b for b in args.backends if b not in skipped and b != REFERENCE]
    runs = final_accuracies([REFERENCE, *others], args.batch_sizes, seeds, args.epochs)
    ref = runs[REFERENCE]
    print(f"{REFERENCE} {ref['version']}: {ref['seconds']:.0f} s")
    report: dict[str, Any] = {REFERENCE: ref}
    for backend in others:
        got = runs[backend]
        table = agreement(ref["final_val_accuracy"], got["final_val_accuracy"])
        print(f"\n{backend} {got['version']}: {got['seconds']:.0f} s; vs {REFERENCE}:")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        print(f"agrees on every batch size: {bool(table['agree'].all())}")
        report[backend] = {**got, "agreement": table.to_dict("records")}
    out = ROOT / "benchmarks" / "out" / "bench_backends.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
