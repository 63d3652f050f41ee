"""Benchmark of the whole workflow: cold run of a study to its report, a no-op rerun, and the
peak memory of a training job (from Snakemake's benchmark files).

    python benchmarks/bench_workflow.py [--configfile config/config.yaml] [--cores 2]

It copies the workflow into a temporary project, so it never touches your results. Prints a
table; targets on 2 CPU cores for the default study: cold <= 60 s, no-op <= 5 s, peak RSS of
a training job <= 1.5 GiB.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from batchstudy import config
from batchstudy.layout import StudyDirs

ROOT = Path(__file__).resolve().parents[1]


def copy_project(dest: Path, configfile: Path) -> None:
    for name in ("Snakefile", "workflow", "profiles"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    shutil.copytree(ROOT / "config", dest / "config")
    shutil.copy2(configfile, dest / "config" / "config.yaml")


def timed_snakemake(project: Path, cores: int, *args: str) -> float:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", str(cores), "--quiet", "all", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"snakemake failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed


def machine() -> str:
    """The machine in a few words: architecture, CPU count and, on Linux, the CPU's model name."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            ln.split(":", 1)[1].strip()
            for ln in cpuinfo.read_text().splitlines()
            if ln.startswith("model name")
        ]
        model = f" ({names[0]})" if names else ""
    return f"{platform.machine()} {os.cpu_count()} CPUs{model}"


def onednn(project: Path) -> str:
    """Whether TensorFlow ran with oneDNN's kernels in the training jobs, as their logs say:
    TensorFlow turns them on by default on some CPUs and not on others."""
    logs = sorted(project.glob("logs/*/train/**/*.log"))
    if not logs:
        return "no training log"
    on = any("oneDNN custom operations are on" in f.read_text(errors="replace") for f in logs)
    return "on" if on else "off"


def job_seconds(project: Path, study: StudyDirs) -> dict[str, list[float]]:
    """Wall seconds of every job, by stage, from Snakemake's benchmark files (`benchmark:`)."""
    root = project / study.benchmarks
    stages: dict[str, list[float]] = {}
    for f in sorted(root.glob("**/*.tsv")):
        rel = f.relative_to(root)
        stage = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        stages.setdefault(stage, []).append(float(pd.read_csv(f, sep="\t")["s"].iloc[-1]))
    return stages


def peak_train_rss(project: Path, study: StudyDirs) -> tuple[float, float]:
    files = sorted((project / study.benchmarks / "train").glob("**/*.tsv"))
    rss = [float(pd.read_csv(f, sep="\t")["max_rss"].max()) for f in files]
    return max(rss), sum(rss) / len(rss)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--configfile", type=Path, default=ROOT / "config" / "config.yaml")
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-workflow-") as tmp:
        project = Path(tmp)
        copy_project(project, args.configfile.resolve())
        study = StudyDirs(config.load(project / "config" / "config.yaml")["study"])
        cold = timed_snakemake(project, args.cores)
        noop = timed_snakemake(project, args.cores)
        peak, mean = peak_train_rss(project, study)
        report = (project / study.report_html).stat().st_size
    rows = [
        ("cold end-to-end to the study's report", f"{cold:.1f} s", "<= 60 s"),
        ("no-op rerun", f"{noop:.1f} s", "<= 5 s"),
        ("peak RSS of a training job", f"{peak / 1024:.2f} GiB ({peak:.0f} MB)", "<= 1.5 GiB"),
        ("mean peak RSS of training jobs", f"{mean:.0f} MB", ""),
        ("report size", f"{report / 1024:.0f} KiB", ""),
    ]
    print(
        f"workflow benchmark: {args.configfile.name}, --cores {args.cores}, "
        f"{machine()}, {time.strftime('%Y-%m-%d')}"
    )
    width = max(len(r[0]) for r in rows)
    for name, value, target in rows:
        print(f"  {name:<{width}}  {value:>22}  {target}")


if __name__ == "__main__":
    main()
