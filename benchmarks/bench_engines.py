"""Benchmark: the seed article's Keras loop against the fused engine, on the seed's data.

    python benchmarks/bench_engines.py                 # parts 1-3, ~5 min on 2 cores
    python benchmarks/bench_engines.py --equivalence --eq-seeds 10 --eq-epochs 100  # +~25 min

1. The seed's loop as published: one seed, batch sizes 4..512, 100 epochs each, a fresh
   Dense(50, relu, he_uniform) -> Dense(3, softmax) model with Adam per batch size,
   ``model.fit(..., validation_data=..., verbose=0)``; wall time of the whole loop. Against it
   the fused engine doing the same work (one seed, the 8 batch sizes as 8 jobs): wall time of
   the 8 calls (graph building included) and their training time alone (sum of the in-graph
   epoch times).
2. Throughput in model-epochs per second (one model trained for one epoch, validation
   included) with 10 seeds: fused (10 seeds x 8 batch sizes x 100 epochs) against the seed
   loop's rate from part 1 (its models train one after another, so its rate does not depend
   on the number of seeds).
3. Fused-engine variants: XLA (``jit_compile``) on/off, step-loop unrolling.
4. ``--equivalence``: Keras reference engine (`train_keras`) against fused, every batch size,
   ``--eq-seeds`` seeds, ``--eq-epochs`` epochs: final val accuracy with 95% CIs, and the
   largest gap between the mean learning curves in units of its standard error.

Prints tables; no assertions. Results also go to benchmarks/out/bench_engines.json.
The load average is printed with every measurement: other work on the machine slows both
engines and makes ratios noisy.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

BATCH_SIZES = [4, 8, 16, 32, 64, 128, 256, 512]


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


def fused_sweep(
    ds: Any, batch_sizes: list[int], epochs: int, seeds: tuple[int, ...], **kw: Any
) -> dict[str, Any]:
    """The fused engine on every batch size, one job (call) per batch size."""
    from batchstudy.fused import train_fused

    from batchstudy.spec import TrainSpec

    wall = train = setup = 0.0
    per_bs = {}
    t_all = time.perf_counter()
    for bs in batch_sizes:
        spec = TrainSpec(batch_size=bs, epochs=epochs, seeds=seeds)
        t0 = time.perf_counter()
        res = train_fused(ds, spec, quiet, **kw)
        dt = time.perf_counter() - t0
        tr = float(res.timing.seconds.sum())
        per_bs[bs] = {"wall": dt, "train": tr, "setup": res.setup_seconds}
        train += tr
        setup += res.setup_seconds
    wall = time.perf_counter() - t_all
    return {"wall": wall, "train": train, "setup": setup, "per_bs": per_bs}


def equivalence(ds: Any, batch_sizes: list[int], n_seeds: int, epochs: int) -> list[dict]:
    from batchstudy.fused import train_fused
    from scipy import stats

    from batchstudy.spec import TrainSpec
    from batchstudy.training import train_keras

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=10, help="seeds for the throughput part")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=BATCH_SIZES)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-variants", action="store_true", help="skip part 3")
    ap.add_argument("--equivalence", action="store_true", help="run part 4 (slow)")
    ap.add_argument("--eq-seeds", type=int, default=10)
    ap.add_argument("--eq-epochs", type=int, default=100)
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "bench_engines.json"))
    args = ap.parse_args()

    from batchstudy.training import configure_tensorflow

    env = configure_tensorflow(args.threads)
    from batchstudy.data import SEED_BLOBS, build_dataset

    ds = build_dataset(SEED_BLOBS)
    bss, epochs = args.batch_sizes, args.epochs
    seeds10 = tuple(range(args.seeds))
    out: dict[str, Any] = {"env": env, "epochs": epochs, "batch_sizes": bss, "cpus": os.cpu_count()}
    print(f"# {env['device']}, TF {env['tensorflow']}, {args.threads} threads, {load()}")

    print(f"\n## 1. seed loop (Keras fit, 1 seed, {len(bss)} batch sizes x {epochs} epochs)")
    keras_run = seed_loop(ds, bss, epochs)
    fused1 = fused_sweep(ds, bss, epochs, (0,))
    ratio_wall = keras_run["seconds"] / fused1["wall"]
    ratio_train = keras_run["seconds"] / fused1["train"]
    print()
    print("| engine, same work (1 seed)        | seconds | seed loop / this |")
    print("|-----------------------------------|--------:|-----------------:|")
    print(f"| Keras seed loop (wall)            | {keras_run['seconds']:7.1f} |             1.0x |")
    print(f"| fused, wall incl. graph building  | {fused1['wall']:7.2f} | {ratio_wall:15.1f}x |")
    print(f"| fused, training only (epoch sums) | {fused1['train']:7.2f} | {ratio_train:15.1f}x |")
    print(f"  (fused graph building: {fused1['setup']:.2f} s over {len(bss)} jobs; {load()})")
    out["part1"] = {
        "keras": keras_run,
        "fused": fused1,
        "ratio_wall": ratio_wall,
        "ratio_train": ratio_train,
    }

    n_models = len(bss) * epochs
    keras_rate = n_models / keras_run["seconds"]
    print(f"\n## 2. throughput, {len(seeds10)} seeds x {len(bss)} batch sizes x {epochs} epochs")
    fused10 = fused_sweep(ds, bss, epochs, seeds10)
    rate_wall = len(seeds10) * n_models / fused10["wall"]
    rate_train = len(seeds10) * n_models / fused10["train"]
    print()
    print("| engine                             | model-epochs/s | / seed loop |")
    print("|------------------------------------|---------------:|------------:|")
    print(f"| Keras seed loop (part 1, 1 seed)   | {keras_rate:14.1f} |        1.0x |")
    for label, rate in (("wall incl. graph building", rate_wall), ("training only", rate_train)):
        print(f"| fused, {label:27s} | {rate:14.1f} | {rate / keras_rate:10.1f}x |")
    print(f"  (fused: {fused10['wall']:.1f} s wall, {fused10['setup']:.1f} s graph building;")
    print(f"   {load()})")
    out["part2"] = {
        "fused": fused10,
        "keras_rate": keras_rate,
        "fused_rate_wall": rate_wall,
        "fused_rate_train": rate_train,
    }

    if not args.no_variants:
        print("\n## 3. fused variants, all batch sizes: wall incl. building, training, building")
        print("| seeds | variant          | wall s | train s | build s |")
        print("|------:|------------------|-------:|--------:|--------:|")
        variants = []
        for seeds in ((0,), seeds10):
            for name, kw in (
                ("default", {}),
                ("unroll 4", {"unroll": 4}),
                ("xla", {"jit_compile": True}),
                ("xla + unroll 4", {"jit_compile": True, "unroll": 4}),
            ):
                r = fused1 if (name == "default" and len(seeds) == 1) else None
                r = fused10 if (name == "default" and len(seeds) > 1) else r
                r = r or fused_sweep(ds, bss, epochs, seeds, **kw)
                variants.append({"seeds": len(seeds), "variant": name, **r})
                print(
                    f"| {len(seeds):5d} | {name:16s} | {r['wall']:6.2f} | {r['train']:7.2f} | "
                    f"{r['setup']:7.2f} |  {load()}"
                )
        out["part3"] = variants

    if args.equivalence:
        print(
            f"\n## 4. equivalence: Keras reference vs fused, {args.eq_seeds} seeds, "
            f"{args.eq_epochs} epochs (final val accuracy mean ± 95% CI half-width)"
        )
        out["part4"] = equivalence(ds, bss, args.eq_seeds, args.eq_epochs)

    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
