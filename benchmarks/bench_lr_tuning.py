"""Benchmark of the shipped learning-rate study's blobs part: a cold run to the report.

    python benchmarks/bench_lr_tuning.py [--dataset blobs] [--cores 2] [--keep DIR]

It copies the workflow into a temporary project with config/lr-tuning.yaml restricted to one
dataset (blobs by default: 8 batch sizes x 7 learning rates x 10 seeds, Adam and SGD with
momentum, the noise-scale runs), runs it cold to report/index.html and prints the wall seconds
against the target of 3 minutes on 2 CPU cores, with the machine's load average before and
after (other processes on the machine slow the run down). --keep copies the project's results,
report, job logs and Snakemake's own log to DIR afterwards.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import yaml
from bench_workflow import ROOT, copy_project, job_seconds, machine, onednn, timed_snakemake

from batchstudy import config
from batchstudy.layout import StudyDirs

TARGET_SECONDS = 180.0
STUDY = ROOT / "config" / "lr-tuning.yaml"


def one_dataset(dest: Path, dataset: str) -> dict:
    """The shipped study with only `dataset`, written to `dest`."""
    cfg = yaml.safe_load(STUDY.read_text(encoding="utf-8"))
    if dataset not in cfg["datasets"]:
        raise SystemExit(f"{STUDY.name} has no dataset {dataset!r}: {list(cfg['datasets'])}")
    cfg["datasets"] = {dataset: cfg["datasets"][dataset]}
    dest.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return cfg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dataset", default="blobs")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--keep", type=Path, default=None)
    args = ap.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-lr-tuning-") as tmp:
        project = Path(tmp)
        cfg = one_dataset(project / "study.yaml", args.dataset)
        copy_project(project, project / "study.yaml")
        cold = timed_snakemake(project, args.cores)
        study = StudyDirs(config.load(project / "config" / "config.yaml")["study"])
        jobs = job_seconds(project, study)
        kernels = onednn(project)
        if args.keep is not None:
            for name in ("results", "report", "logs", ".snakemake/log"):
                shutil.copytree(project / name, args.keep / name, dirs_exist_ok=True)
    load_after = os.getloadavg()
    n_rates = {
        name: o["learning_rate"].get("num") if isinstance(o["learning_rate"], dict) else 1
        for name, o in cfg["optimizers"].items()
    }
    verdict = "within" if cold <= TARGET_SECONDS else "over"
    print(
        f"lr-tuning benchmark: {args.dataset}, {len(cfg['batch_sizes'])} batch sizes x "
        f"{n_rates} learning rates x {len(cfg['seeds'])} seeds, --cores {args.cores}, "
        f"{machine()}, {time.strftime('%Y-%m-%d %H:%M')}"
    )
    target = f"target <= {TARGET_SECONDS:.0f} s ({verdict})"
    print(f"  cold run to report/index.html  {cold:8.1f} s   {target}")
    print(f"  load average (1, 5, 15 min) before {load_before}, after {load_after}")
    print(f"  TensorFlow's oneDNN kernels in the training jobs: {kernels}")
    print("  jobs' wall seconds (Snakemake benchmark files), by stage:")
    for stage, seconds in jobs.items():
        spread = f" ({min(seconds):.1f}-{max(seconds):.1f} each)" if len(seconds) > 1 else ""
        print(f"    {stage:<10} {len(seconds):3d} job(s) {sum(seconds):7.1f} s{spread}")


if __name__ == "__main__":
    main()
