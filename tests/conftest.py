"""Shared fixtures: synthetic job directories (no TensorFlow) and throwaway project copies
for end-to-end runs of the real snakemake CLI."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from batchstudy.engines.result import epoch_end_eval_table
from batchstudy.io import write_json, write_table
from batchstudy.layout import JOB_DIR, StudyDirs
from batchstudy.spec import steps_per_epoch

ROOT = Path(__file__).resolve().parents[1]
#: The rules after training: with `--allowed-rules`, they run a study on written (fake) jobs.
RULES_AFTER_TRAINING = (
    "generate_data",
    "dataset_splits",
    "config_snapshot",
    "aggregate",
    "analyze",
    "tune",
    "plot",
    "report",
    "catalogue",
    "all",
)
#: The directories of the study config/config.yaml runs (its study name is the schema's
#: default), where the fake jobs and reports below go unless told otherwise.
DEFAULT_STUDY = StudyDirs("default")

TINY_CONFIG = {
    "title": "tiny study",
    "datasets": {
        "blobs": {
            "kind": "blobs",
            "n_samples": 200,
            "centers": 3,
            "n_features": 2,
            "cluster_std": 2.0,
            "random_state": 2,
            "n_train": 100,
        }
    },
    "batch_sizes": [16, 64],
    "seeds": [0, 1],
    "epochs": 4,
    "metrics": {"bootstrap": 200, "plateau_last": 2, "smoothing_window": 1},
}


def synthetic_curve(batch_size: int, seed: int, epochs: int) -> dict[str, np.ndarray]:
    """A plausible learning curve: small batches rise faster per epoch, seeds add noise."""
    rng = np.random.default_rng(1000 * batch_size + seed)
    e = np.arange(1, epochs + 1)
    rate = 8.0 / np.log2(batch_size + 1)
    val = 0.33 + 0.5 * (1 - np.exp(-e / rate)) + rng.normal(0, 0.005, epochs)
    train = val + 0.02
    return {
        "train_loss": 1.1 - val,
        "train_accuracy": train,
        "end_train_loss": 1.09 - val,
        "end_train_accuracy": train + 0.005,
        "val_loss": 1.12 - val,
        "val_accuracy": val,
        "test_loss": 1.12 - val,
        "test_accuracy": val,
    }


BASE_LR = 0.001


def write_fake_job(
    root: Path,
    cond: tuple[str, str, str, str],
    batch_size: int,
    seeds: list[int],
    epochs: int,
    n_train: int = 500,
    engine: str = "fused",
    diverged_seeds: tuple[int, ...] = (),
    base_lr: float = BASE_LR,
    study: StudyDirs = DEFAULT_STUDY,
) -> Path:
    """A job directory exactly as `batchstudy train` writes it, with synthetic numbers.

    `cond` is (dataset, optimizer, lr_scaling, budget). A job trains every learning-rate
    variant of its (dataset, optimizer, budget, batch size), so a second call for another arm
    or base rate of the same job adds that variant's runs to the job's files.
    """
    dataset, optimizer, arm, budget = cond
    job_dir = JOB_DIR.format(
        dataset=dataset, optimizer=optimizer, budget=budget, batch_size=batch_size
    )
    d = root / study.train / job_dir
    rows = []
    for s in seeds:
        c = synthetic_curve(batch_size, s, epochs)
        if s in diverged_seeds:
            c = {k: np.full(epochs, np.nan) for k in c}
        ids = {"lr_scaling": arm, "base_lr": base_lr, "learning_rate": base_lr, "seed": s}
        rows.append(pd.DataFrame({**ids, "epoch": np.arange(1, epochs + 1), **c}))
    history = pd.concat(rows, ignore_index=True)
    variants = [{"lr_scaling": arm, "base_lr": base_lr, "learning_rate": base_lr}]
    if (d / "run.json").is_file():
        history = pd.concat([pd.read_csv(d / "history.tsv", sep="\t"), history])
        variants = json.loads((d / "run.json").read_text())["spec"]["variants"] + variants
    write_table(d / "history.tsv", history)
    spe = steps_per_epoch(n_train, batch_size)
    write_table(d / "evals.tsv", epoch_end_eval_table(history, spe))
    write_table(
        d / "timing.tsv",
        pd.DataFrame(
            {
                "seed": -1,
                "epoch": np.arange(1, epochs + 1),
                "seconds": 0.001 * spe * len(seeds) * (1 + 0.01 * np.arange(epochs)),
                "replicas": len(seeds) * len(variants),
            }
        ),
    )
    write_json(
        d / "run.json",
        {
            "engine": engine,
            "setup_seconds": 1.5,
            "notices": [],
            "device": "CPU (test)",
            "n_train": n_train,
            "tensorflow": "test",
            "op_determinism": True,
            "threads": 1,
            "gpu_slot": None,
            "spec": {
                "batch_size": batch_size,
                "epochs": epochs,
                "seeds": seeds,
                "variants": variants,
            },
        },
    )
    return d / "history.tsv"


def fake_condition(cond: tuple[str, str, str, str], base_lr: float = BASE_LR):
    """The analysis condition of a fake job's (dataset, optimizer, lr arm, budget) and base
    learning rate (see `write_fake_job`)."""
    from batchstudy.config import Condition

    dataset, optimizer, arm, budget = cond
    return Condition(dataset, optimizer, arm, base_lr, budget)


def plot_keys(cond) -> dict[str, str]:
    """The plot stage's `--condition` values of a `Condition`, as text, as the CLI passes them
    (the base rate as `format_lr` writes it in wildcards)."""
    from batchstudy.config import format_lr
    from batchstudy.plots import PLOT_PATH_KEYS

    keys = {k: str(getattr(cond, k)) for k in PLOT_PATH_KEYS}
    return keys | {"base_lr": format_lr(cond.base_lr)}


def render_fake_report(
    root: Path,
    cfg: dict,
    paths: list[Path],
    conds: list,
    splits: pd.DataFrame | None = None,
    model_check: Path | None = None,
) -> Path:
    """Fake job files through the real aggregate, analyze, plot and report code, chained as
    the workflow chains them (no TensorFlow, no snakemake). `conds` are `config.Condition`s;
    each one's figures go to its `Condition.path`. ``splits``: a splits.tsv table
    (`batchstudy.data.SPLIT_COLUMNS`) whose chance levels the aggregate stage applies;
    `model_check` is the check_model stage's file of a config with a custom model."""
    from batchstudy.aggregate import aggregate
    from batchstudy.config import dataset_draws
    from batchstudy.data import chance_accuracies, chance_losses
    from batchstudy.findings import analyze
    from batchstudy.plots import plot_conditions
    from batchstudy.report import render_report
    from batchstudy.stats import IntervalSettings

    d = DEFAULT_STUDY
    agg = root / d.aggregate
    chance = None if splits is None else chance_accuracies(splits)
    chance_loss = None if splits is None else chance_losses(splits)
    tables = aggregate(
        paths, agg, cfg["metrics"], chance=chance, log=lambda m: None, chance_loss=chance_loss
    )
    findings = root / d.findings
    settings = IntervalSettings.from_metrics(cfg["metrics"])
    draws = dataset_draws(cfg)
    found = analyze(tables["runs"], tables["summary"], settings, None, draws, splits=splits)
    write_json(findings, found)
    plot_conditions(agg, root / d.plots, [plot_keys(c) for c in conds], cfg["plots"])
    (root / d.results / "config.json").write_text(json.dumps({"study": d.study, **cfg}))
    out = root / d.report_html
    template = ROOT / "workflow" / "report" / "index.html.j2"
    render_report(
        findings,
        agg / "jobs.tsv",
        root / d.plots,
        root / d.results / "config.json",
        template,
        out,
        summary=root / d.summary,
        model_check=model_check,
    )
    return out


@pytest.fixture
def fake_study(tmp_path: Path) -> dict:
    """Eight batch sizes x 5 seeds of synthetic histories for one condition."""
    cond = ("blobs", "adam", "constant", "e30")
    sizes, seeds, epochs = [4, 8, 16, 32, 64, 128, 256, 512], [0, 1, 2, 3, 4], 30
    paths = [write_fake_job(tmp_path, cond, b, seeds, epochs) for b in sizes]
    return {
        "root": tmp_path,
        "paths": paths,
        "cond": cond,
        "sizes": sizes,
        "seeds": seeds,
        "epochs": epochs,
    }


# ---- end-to-end helpers -------------------------------------------------------------


def make_project(dest: Path, config: dict | None = None) -> Path:
    """A throwaway copy of the workflow (not of results) with its own config."""
    for name in ("Snakefile", "workflow", "src", "profiles"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    (dest / "config").mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "config" / "config.yaml", dest / "config" / "config.yaml")
    if config is not None:
        write_config(dest / "config" / "config.yaml", config)
    return dest


def write_config(path: Path, config: dict) -> None:
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def snakemake(
    project: Path, *args: str, check: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run the real snakemake CLI of this interpreter's environment in `project`."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def planned_jobs(output: str) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a dry run (empty: nothing to do)."""
    counts: dict[str, int] = {}
    block = output.split("Job stats:", 1)
    if len(block) < 2:
        return counts
    for line in block[1].splitlines()[3:]:
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not m:
            break
        if m.group(1) != "total":
            counts[m.group(1)] = int(m.group(2))
    return counts


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())
