"""Benchmark: the seed article's Keras loop, the old fused engine and the new one, side by side.

    python benchmarks/bench_engines.py --quick         # 3 batch sizes x 10 epochs, a few minutes
    python benchmarks/bench_engines.py                 # 8 batch sizes x 100 epochs, ~10 min
    python benchmarks/bench_engines.py --equivalence --eq-seeds 10 --eq-epochs 100  # +~25 min

All on the seed's data (`data.SEED_BLOBS`), Adam at 1e-3, Dense(50, relu) -> softmax:

1. One seed. The seed's loop as published (a fresh model per batch size,
   ``model.fit(..., validation_data=..., verbose=0)``), wall time of the whole loop, against the
   old fused engine (`legacy_fused.py`, a frozen copy of the engine before its rewrite) and the
   new one (`batchstudy.engines.fused`) doing the same work, one job (call) per batch size:
   wall time of the calls (graph building included) and training time alone (sum of the
   in-graph epoch times). Target: new engine, wall, >= 20x the seed loop.
2. Ten seeds: model-epochs per second (one model trained for one epoch, evaluations included)
   of both fused engines against the seed loop's rate from part 1 (its models train one after
   another, so its rate does not depend on the number of seeds). Target: new >= 100x.
3. Replica axis: the new engine with 8 learning rates x 10 seeds = 80 replicas per job against
   1 x 10: seconds per model-epoch at 80 over that at 10. Target: <= 1/4. Measured twice: in
   this process (wall of the calls, and training alone), and (3b) as the workflow runs it, one
   ``python -m batchstudy train`` process per batch size (``--job-threads``, default 1 as in
   the workflow), whose wall time includes what every job pays once: the interpreter, the
   imports (TensorFlow ~4 s), the graph and writing the files.
4. Per step: new engine's training seconds over the old one's for the same steps, at batch
   sizes 4 and 32 with 1 and 10 seeds, engines alternating, fastest of 3 calls each. Target:
   the tape costs <= 15% (ratio <= 1.15). Parts 1 and 2 show whole sweeps, where the new
   engine also evaluates the whole training split after every epoch (``end_train_*``), which
   the old one did not: at large batch sizes (1-2 steps per epoch) that doubles the epoch's
   evaluation work.
5. ``--variants``: new-engine knobs, XLA (``jit_compile``) on/off and step-loop unrolling.
6. ``--equivalence``: Keras reference engine (`engines.keras.train_keras`) against the new
   fused engine, every batch size, ``--eq-seeds`` seeds, ``--eq-epochs`` epochs: final val
   accuracy with 95% CIs, and the largest gap between the mean learning curves in units of its
   standard error.

Prints tables; no assertions. Results also go to benchmarks/out/bench_engines.json. The load
average is printed with every measurement: other work on the machine slows every engine and
makes ratios noisy, so run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))  # legacy_fused.py beside this script

BATCH_SIZES = [4, 8, 16, 32, 64, 128, 256, 512]
QUICK_BATCH_SIZES = [8, 64, 512]
#: Part 3's learning rates: 8 values around Adam's default 1e-3, a factor 2 apart.
LR_GRID = tuple(1e-3 * 2.0**k for k in range(-3, 5))
#: The two times of a fused run: the calls' wall time, and the in-graph epoch times alone.
MEASURES = {"wall": "wall incl. graph building", "train": "training only"}


def load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def quiet(_: str) -> None:
    pass


def seed_loop(ds: Any, batch_sizes: list[int], epochs: int, seed: int = 0) -> dict[str, Any]:
    """The article's loop, as published (one seed)."""
    import keras

    keras.utils.set_random_seed(seed)
    per_bs, final_acc = {}, {}
    t_all = time.perf_counter()
    for bs in batch_sizes:
        t0 = time.perf_counter()
        model = keras.Sequential()
        model.add(keras.Input(shape=(ds.x_train.shape[1],)))
        model.add(keras.layers.Dense(50, activation="relu", kernel_initializer="he_uniform"))
        model.add(keras.layers.Dense(ds.n_classes, activation="softmax"))
        model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
        hist = model.fit(
            ds.x_train,
            ds.y_train,
            validation_data=(ds.x_test, ds.y_test),
            epochs=epochs,
            verbose=0,
            batch_size=bs,
        )
        per_bs[bs] = time.perf_counter() - t0
        final_acc[bs] = float(hist.history["val_accuracy"][-1])
        print(f"  keras  bs {bs:4d}: {per_bs[bs]:7.2f} s  val_acc {final_acc[bs]:.3f}  ({load()})")
    return {"seconds": time.perf_counter() - t_all, "per_bs": per_bs, "val_acc": final_acc}


def engines() -> dict[str, Callable[..., Any]]:
    """The two fused engines by name: ``old`` (frozen copy) and ``new``."""
    import legacy_fused

    from batchstudy.engines.fused import train_fused

    return {"old": legacy_fused.train_fused, "new": train_fused}


def lr_job_spec(bs: int, epochs: int, seeds: tuple[int, ...], lrs: tuple[float, ...]) -> Any:
    """One job's spec: `lrs` as constant learning-rate variants (replicas = len(lrs) *
    len(seeds))."""
    from batchstudy.spec import LrVariant, TrainSpec

    variants = tuple(LrVariant("constant", r, r) for r in lrs)
    return TrainSpec(batch_size=bs, epochs=epochs, seeds=seeds, variants=variants)


def fused_sweep(
    train: Callable[..., Any],
    ds: Any,
    batch_sizes: list[int],
    epochs: int,
    seeds: tuple[int, ...],
    lrs: tuple[float, ...] = (1e-3,),
    **kw: Any,
) -> dict[str, Any]:
    """A fused engine on every batch size, one job (call) per batch size; `lrs` become
    learning-rate variants of each job (`lr_job_spec`)."""
    train_s = setup = 0.0
    per_bs = {}
    t_all = time.perf_counter()
    for bs in batch_sizes:
        t0 = time.perf_counter()
        res = train(ds, lr_job_spec(bs, epochs, seeds, lrs), quiet, **kw)
        dt = time.perf_counter() - t0
        tr = float(res.timing.seconds.sum())
        per_bs[bs] = {"wall": dt, "train": tr, "setup": res.setup_seconds}
        train_s += tr
        setup += res.setup_seconds
    wall = time.perf_counter() - t_all
    models = len(lrs) * len(seeds) * len(batch_sizes) * epochs
    return {
        "wall": wall,
        "train": train_s,
        "setup": setup,
        "model_epochs": models,
        "per_model_epoch_wall": wall / models,
        "per_model_epoch_train": train_s / models,
        "per_bs": per_bs,
    }


def equivalence(ds: Any, batch_sizes: list[int], n_seeds: int, epochs: int) -> list[dict]:
    from scipy import stats

    from batchstudy.engines.fused import train_fused
    from batchstudy.engines.keras import train_keras
    from batchstudy.spec import TrainSpec

    seeds = tuple(range(n_seeds))
    rows = []
    for bs in batch_sizes:
        spec = TrainSpec(batch_size=bs, epochs=epochs, seeds=seeds)
        t0 = time.perf_counter()
        kr = train_keras(ds, spec, quiet).history
        tk = time.perf_counter() - t0
        t0 = time.perf_counter()
        fz = train_fused(ds, spec, quiet).history
        tf_ = time.perf_counter() - t0
        row: dict[str, Any] = {"batch_size": bs, "keras_s": tk, "fused_s": tf_}
        finals = {}
        for name, h in (("keras", kr), ("fused", fz)):
            v = h[h.epoch == epochs].val_accuracy.to_numpy()
            half = stats.t.ppf(0.975, n_seeds - 1) * v.std(ddof=1) / math.sqrt(n_seeds)
            row[f"{name}_acc"], row[f"{name}_ci"] = float(v.mean()), float(half)
            finals[name] = v
        d = stats.ttest_ind(finals["fused"], finals["keras"], equal_var=False)
        row["diff"] = float(finals["fused"].mean() - finals["keras"].mean())
        ci = d.confidence_interval(0.95)
        row["diff_ci"] = [float(ci.low), float(ci.high)]
        for metric in ("val_loss", "val_accuracy", "train_loss"):
            f = fz.pivot(index="epoch", columns="seed", values=metric)
            k = kr.pivot(index="epoch", columns="seed", values=metric)
            se = np.sqrt(f.var(axis=1, ddof=1) / n_seeds + k.var(axis=1, ddof=1) / n_seeds)
            z = ((f.mean(axis=1) - k.mean(axis=1)).abs() / se.replace(0, np.nan)).max()
            row[f"max_gap_se_{metric}"] = float(z)
        rows.append(row)
        print(
            f"  bs {bs:4d}: keras {row['keras_acc']:.3f}±{row['keras_ci']:.3f}  "
            f"fused {row['fused_acc']:.3f}±{row['fused_ci']:.3f}  diff {row['diff']:+.3f} "
            f"CI [{ci.low:+.3f}, {ci.high:+.3f}]  max curve gap/SE: val_loss "
            f"{row['max_gap_se_val_loss']:.2f}, val_acc {row['max_gap_se_val_accuracy']:.2f}, "
            f"train_loss {row['max_gap_se_train_loss']:.2f}  (keras {tk:.0f} s, fused "
            f"{tf_:.1f} s; {load()})"
        )
    return rows


def part1(ds: Any, bss: list[int], epochs: int, eng: dict) -> dict[str, Any]:
    print(f"\n## 1. one seed, {len(bss)} batch sizes x {epochs} epochs")
    keras_run = seed_loop(ds, bss, epochs)
    runs = {name: fused_sweep(fn, ds, bss, epochs, (0,)) for name, fn in eng.items()}
    loop_s = keras_run["seconds"]
    print()
    print("| engine, same work (1 seed)            | seconds | seed loop / this |")
    print("|---------------------------------------|--------:|-----------------:|")
    print(f"| Keras seed loop (wall)                | {loop_s:7.1f} |             1.0x |")
    for name, r in runs.items():
        for what in ("wall", "train"):
            label = f"{name} fused, {MEASURES[what]}"
            print(f"| {label:37s} | {r[what]:7.2f} | {loop_s / r[what]:15.1f}x |")
    print(f"  (graph building: old {runs['old']['setup']:.2f} s, new {runs['new']['setup']:.2f} s")
    print(f"   over {len(bss)} jobs; {load()}; target: new wall >= 20x)")
    return {
        "keras": keras_run,
        **runs,
        "ratio_new_wall": loop_s / runs["new"]["wall"],
        "ratio_new_train": loop_s / runs["new"]["train"],
    }


def part2(ds: Any, bss: list[int], epochs: int, n_seeds: int, eng: dict, keras_s: float) -> dict:
    seeds = tuple(range(n_seeds))
    print(f"\n## 2. throughput, {n_seeds} seeds x {len(bss)} batch sizes x {epochs} epochs")
    runs = {name: fused_sweep(fn, ds, bss, epochs, seeds) for name, fn in eng.items()}
    keras_rate = len(bss) * epochs / keras_s
    print()
    print("| engine                                  | model-epochs/s | / seed loop |")
    print("|-----------------------------------------|---------------:|------------:|")
    print(f"| Keras seed loop (part 1, 1 seed)        | {keras_rate:14.1f} |        1.0x |")
    out: dict[str, Any] = {"keras_rate": keras_rate}
    for name, r in runs.items():
        for what in ("wall", "train"):
            rate = 1.0 / r[f"per_model_epoch_{what}"]
            label = f"{name} fused, {MEASURES[what]}"
            print(f"| {label:39s} | {rate:14.1f} | {rate / keras_rate:10.1f}x |")
            out[f"{name}_rate_{what}"] = rate
    print(f"  ({load()}; target: new wall >= 100x)")
    return {**out, **runs}


def part3(ds: Any, bss: list[int], epochs: int, n_seeds: int, ten: dict) -> dict[str, Any]:
    from batchstudy.engines.fused import train_fused

    seeds = tuple(range(n_seeds))
    print(f"\n## 3. replica axis: {len(LR_GRID)} learning rates x {n_seeds} seeds per job")
    many = fused_sweep(train_fused, ds, bss, epochs, seeds, LR_GRID)
    print()
    print("| replicas per job | s per model-epoch, wall | training only |")
    print("|-----------------:|------------------------:|--------------:|")
    for n, r in ((n_seeds, ten), (len(LR_GRID) * n_seeds, many)):
        print(
            f"| {n:16d} | {r['per_model_epoch_wall']:23.6f} | {r['per_model_epoch_train']:13.6f} |"
        )
    ratio = {
        w: many[f"per_model_epoch_{w}"] / ten[f"per_model_epoch_{w}"] for w in ("wall", "train")
    }
    print(
        f"  cost at {len(LR_GRID) * n_seeds} / cost at {n_seeds}: wall {ratio['wall']:.2f}, "
        f"training {ratio['train']:.2f} (target <= 0.25; {load()})"
    )
    return {"many": many, "ratio": ratio}


def train_job_seconds(data: Path, spec: Any, threads: int, work: Path) -> float:
    """Wall seconds of one ``python -m batchstudy train`` process on `spec`, as the workflow
    runs a training job: interpreter start, imports, TensorFlow, graph, training, files."""
    files = {f: str(work / f"{f}.tsv") for f in ("history", "timing", "evals")}
    cmd = [sys.executable, "-m", "batchstudy", "train", "--data", str(data)]
    cmd += ["--spec", spec.to_json(), "--meta", str(work / "run.json"), "--threads", str(threads)]
    cmd += [x for f, path in files.items() for x in (f"--{f}", path)]
    t0 = time.perf_counter()
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return time.perf_counter() - t0


def part3_jobs(ds: Any, bss: list[int], epochs: int, n_seeds: int, threads: int) -> dict:
    """Part 3 as the workflow pays it: one training job (process) per batch size, at
    1 x `n_seeds` and at len(LR_GRID) x `n_seeds` replicas, alternating; wall seconds of the
    processes per model-epoch."""
    from batchstudy.data import save_dataset

    seeds = tuple(range(n_seeds))
    grids = {n_seeds: (1e-3,), len(LR_GRID) * n_seeds: LR_GRID}
    seconds = dict.fromkeys(grids, 0.0)
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as tmp:
        data = Path(tmp) / "blobs.npz"
        save_dataset(ds, data)
        for bs in bss:
            for n, lrs in grids.items():
                spec = lr_job_spec(bs, epochs, seeds, lrs)
                seconds[n] += train_job_seconds(data, spec, threads, Path(tmp))
    per_model = {n: seconds[n] / (n * len(bss) * epochs) for n in grids}
    few, many = grids
    ratio = per_model[many] / per_model[few]
    print(f"\n## 3b. as workflow jobs: a `batchstudy train` per batch size, {threads} thread")
    print("| replicas per job | processes' wall s | s per model-epoch |")
    print("|-----------------:|------------------:|------------------:|")
    for n in grids:
        print(f"| {n:16d} | {seconds[n]:17.1f} | {per_model[n]:17.6f} |")
    print(f"  cost at {many} / cost at {few}: {ratio:.2f} (target <= 0.25; {load()})")
    return {"seconds": {str(n): s for n, s in seconds.items()}, "ratio": ratio, "threads": threads}


def part4(ds: Any, epochs: int, eng: dict, repeats: int = 3) -> dict[str, float]:
    """Training seconds of the same steps, new engine over old, where steps dominate (batch
    sizes 4 and 32; the new engine's extra end-of-epoch evaluation of the training split is
    worth ~2 steps of 125 / 16). Engines alternate, `repeats` calls each, the fastest counts:
    a load spike from other work then hits one call, not the ratio."""
    from batchstudy.spec import TrainSpec

    print(f"\n## 4. per step: new engine's training seconds / old engine's ({epochs} epochs)")
    out = {}
    for bs, n_seeds in ((4, 1), (4, 10), (32, 1), (32, 10)):
        spec = TrainSpec(batch_size=bs, epochs=epochs, seeds=tuple(range(n_seeds)))
        best = {name: math.inf for name in eng}
        for _ in range(repeats):
            for name, train in eng.items():
                seconds = float(train(ds, spec, quiet).timing.seconds.sum())
                best[name] = min(best[name], seconds)
        key = f"bs {bs}, {n_seeds} seed(s)"
        out[key] = best["new"] / best["old"]
        steps = epochs * math.ceil(ds.n_train / bs)
        print(
            f"  {key:20s}: {out[key]:.2f}  (old {best['old'] / steps * 1e6:.0f} us/step, new "
            f"{best['new'] / steps * 1e6:.0f} us/step; target <= 1.15; {load()})"
        )
    return out


def part5(ds: Any, bss: list[int], epochs: int, n_seeds: int) -> list[dict]:
    from batchstudy.engines.fused import train_fused

    print("\n## 5. new-engine knobs, all batch sizes: wall incl. building, training, building")
    print("| seeds | variant          | wall s | train s | build s |")
    print("|------:|------------------|-------:|--------:|--------:|")
    rows = []
    for seeds in ((0,), tuple(range(n_seeds))):
        for name, kw in (
            ("default", {}),
            ("unroll 4", {"unroll": 4}),
            ("xla", {"jit_compile": True}),
            ("xla + unroll 4", {"jit_compile": True, "unroll": 4}),
        ):
            r = fused_sweep(train_fused, ds, bss, epochs, seeds, **kw)
            rows.append({"seeds": len(seeds), "variant": name, **r})
            print(
                f"| {len(seeds):5d} | {name:16s} | {r['wall']:6.2f} | {r['train']:7.2f} | "
                f"{r['setup']:7.2f} |  {load()}"
            )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_BATCH_SIZES}, 10 epochs")
    ap.add_argument("--epochs", type=int, default=None, help="default 100 (--quick: 10)")
    ap.add_argument("--seeds", type=int, default=10, help="seeds for parts 2 and 3")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--job-threads", type=int, default=1, help="part 3b's --threads (the workflow's default)"
    )
    ap.add_argument("--variants", action="store_true", help="run part 5")
    ap.add_argument("--equivalence", action="store_true", help="run part 6 (slow)")
    ap.add_argument("--eq-seeds", type=int, default=10)
    ap.add_argument("--eq-epochs", type=int, default=100)
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "bench_engines.json"))
    args = ap.parse_args()

    from batchstudy.training import configure_tensorflow

    env = configure_tensorflow(args.threads)
    from batchstudy.data import SEED_BLOBS, build_dataset

    ds = build_dataset(SEED_BLOBS)
    bss = args.batch_sizes or (QUICK_BATCH_SIZES if args.quick else BATCH_SIZES)
    epochs = args.epochs or (10 if args.quick else 100)
    out: dict[str, Any] = {"env": env, "epochs": epochs, "batch_sizes": bss, "cpus": os.cpu_count()}
    print(f"# {env['device']}, TF {env['tensorflow']}, {args.threads} threads, {load()}")
    eng = engines()
    out["part1"] = part1(ds, bss, epochs, eng)
    out["part2"] = part2(ds, bss, epochs, args.seeds, eng, out["part1"]["keras"]["seconds"])
    out["part3"] = part3(ds, bss, epochs, args.seeds, out["part2"]["new"])
    out["part3_jobs"] = part3_jobs(ds, bss, epochs, args.seeds, args.job_threads)
    out["part4"] = part4(ds, epochs, eng)
    if args.variants:
        out["part5"] = part5(ds, bss, epochs, args.seeds)
    if args.equivalence:
        print(
            f"\n## 6. equivalence: Keras reference vs new fused, {args.eq_seeds} seeds, "
            f"{args.eq_epochs} epochs (final val accuracy mean ± 95% CI half-width)"
        )
        out["part6"] = equivalence(ds, bss, args.eq_seeds, args.eq_epochs)

    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
