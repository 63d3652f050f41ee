"""End-to-end: the real snakemake CLI on a tiny study in a temporary project."""

from __future__ import annotations

import copy
import itertools
import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import (
    BASE_LR,
    RULES_AFTER_TRAINING,
    TINY_CONFIG,
    make_project,
    planned_jobs,
    read_json,
    snakemake,
    write_config,
    write_fake_job,
)
from conftest import (
    DEFAULT_STUDY as D,
)

from batchstudy import config
from batchstudy import tuning_findings as tf
from batchstudy.data import SPLIT_COLUMNS
from batchstudy.layout import PLOT_NAMES
from batchstudy.metrics import CONDITION_KEYS

pytestmark = pytest.mark.e2e


def dry_run(project: Path, *args: str) -> dict[str, int]:
    proc = snakemake(project, "-n", *args)
    return planned_jobs(proc.stdout + proc.stderr)


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    project = make_project(tmp_path_factory.mktemp("study"), TINY_CONFIG)
    snakemake(project)
    return project


def test_report_and_tables(study):
    html = (study / D.report_html).read_text()
    # Four figures of the condition and the overview across conditions.
    assert "tiny study" in html and html.count("data:image/png;base64,") == 5
    hist = pd.read_csv(study / f"{D.aggregate}/history.tsv", sep="\t")
    assert sorted(hist["batch_size"].unique()) == [16, 64]
    assert len(hist) == 2 * 2 * 4
    assert hist["val_accuracy"].between(0, 1).all()
    summary = pd.read_csv(study / f"{D.aggregate}/summary.tsv", sep="\t")
    assert summary.set_index("batch_size")["steps_per_epoch"].to_dict() == {16: 7, 64: 2}
    meta = read_json(study / f"{D.train}/blobs/adam/e4/bs16/run.json")
    assert meta["engine"] == "fused" and meta["op_determinism"] is True
    jobs = pd.read_csv(study / f"{D.aggregate}/jobs.tsv", sep="\t")
    assert jobs["onednn"].tolist() == [meta["onednn"]] * len(jobs)  # recorded, job by job
    assert "oneDNN CPU kernels" in html
    log = (study / f"{D.logs}/train/blobs/adam/e4/bs16.log").read_text()
    assert "training batch size 16" in log
    bench = study / f"{D.benchmarks}/train/blobs/adam/e4/bs16.tsv"
    assert "max_rss" in bench.read_text()


def test_rerun_is_a_no_op(study):
    proc = snakemake(study, "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_adding_a_batch_size_trains_only_that_one(study):
    jobs = dry_run(study, "--config", "batch_sizes=[16,64,32]")
    assert jobs.get("train") == 1
    assert jobs.get("generate_data") is None


def test_plot_settings_retrain_nothing(study):
    jobs = dry_run(study, "--config", "plots={'dpi': 120, 'columns': 2}")
    assert "train" not in jobs and "aggregate" not in jobs
    assert jobs.get("plot") == 1 and jobs.get("report") == 1
    assert "analyze" not in jobs  # the findings do not depend on figure settings


def test_changing_epochs_retrains_everything(study):
    jobs = dry_run(study, "--config", "epochs=5")
    assert jobs.get("train") == 2


def test_bad_config_fails_before_any_job_and_keeps_results(study):
    before = (study / f"{D.aggregate}/history.tsv").read_bytes()
    proc = snakemake(study, "--config", "batch_sizes=[16,0]", check=False)
    assert proc.returncode != 0
    assert "batch_sizes[1] = 0: must be >= 1" in proc.stdout + proc.stderr
    assert (study / f"{D.aggregate}/history.tsv").read_bytes() == before


def test_same_config_gives_identical_metric_files(study, tmp_path):
    again = make_project(tmp_path, TINY_CONFIG)
    snakemake(again, f"{D.aggregate}/history.tsv")
    for job in ("bs16", "bs64"):
        rel = f"{D.train}/blobs/adam/e4/{job}/history.tsv"
        assert (study / rel).read_bytes() == (again / rel).read_bytes()
    assert (study / f"{D.aggregate}/history.tsv").read_bytes() == (
        again / f"{D.aggregate}/history.tsv"
    ).read_bytes()


def test_configfile_override(study, tmp_path):
    cfg = copy.deepcopy(TINY_CONFIG)
    cfg["seeds"] = [0, 1, 2]
    path = tmp_path / "other.yaml"
    write_config(path, cfg)
    # the same study (by name) with other seeds: the seed list is part of every job
    jobs = dry_run(study, "--configfile", str(path), "--config", f"study={D.study}")
    assert jobs.get("train") == 2


def test_snakemake_report(study):
    snakemake(study, "--report", "report/snakemake-report.html")
    text = (study / "report" / "snakemake-report.html").read_text(errors="replace")
    for name in ("curves.png", "accuracy.png", "timing.png", "scaling.png", "index.html"):
        assert name in text


def test_adding_an_lr_arm_retrains_the_jobs_of_its_optimizer(study):
    """Arms are replicas inside a job: a new arm re-runs every job of that (dataset, optimizer,
    budget), and plots one more condition."""
    jobs = dry_run(study, "--config", "lr_scaling={'arms': ['constant', 'linear']}")
    assert jobs.get("train") == 2  # both batch sizes of the one (dataset, optimizer, budget)
    assert jobs.get("plot") == 1  # one job re-plots every condition from the new aggregate
    assert "generate_data" not in jobs


def test_a_learning_rate_grid_is_one_job_per_batch_size(study):
    grid = "optimizers={'adam': {'name': 'adam', 'learning_rate': [0.001, 0.01, 1e-4]}}"
    jobs = dry_run(study, "--config", grid)
    assert jobs.get("train") == 2 and jobs.get("plot") == 1  # one job plots all 3 conditions


TUNING_TARGET = {"val_accuracy": 0.6, "val_loss": 0.9}
LR_GRID = {
    **TINY_CONFIG,
    "datasets": {
        "blobs": {**TINY_CONFIG["datasets"]["blobs"], "n_val": 30, "target": TUNING_TARGET}
    },
    "noise_scale": {"batch_size": 16, "every": 5},
    "optimizers": {
        "adam": {"name": "adam", "learning_rate": [0.001, 0.01]},
        "sgd": {"name": "sgd", "learning_rate": {"min": 0.01, "max": 0.1, "num": 2}},
    },
    "lr_scaling": {"arms": ["constant", "sqrt"], "warmup_steps": 3},
}


@pytest.fixture(scope="module")
def grid_study(tmp_path_factory) -> Path:
    project = make_project(tmp_path_factory.mktemp("grid"), LR_GRID)
    snakemake(project)
    return project


def test_one_job_writes_one_history_row_per_run_and_epoch(grid_study):
    hist = pd.read_csv(grid_study / f"{D.train}/blobs/sgd/e4/bs64/history.tsv", sep="\t")
    runs = hist.groupby(["lr_scaling", "base_lr", "seed"])["epoch"].count()
    assert len(runs) == 2 * 2 * 2 and (runs == 4).all()  # arms x base rates x seeds, 4 epochs
    sqrt = hist[hist["lr_scaling"] == "sqrt"].groupby("base_lr")["learning_rate"].first()
    assert sqrt.to_dict() == pytest.approx({0.01: 0.01 * 2**0.5, 0.1: 0.1 * 2**0.5})
    meta = read_json(grid_study / f"{D.train}/blobs/sgd/e4/bs64/run.json")
    assert len(meta["spec"]["variants"]) == 4


def test_every_condition_is_aggregated_plotted_and_reported(grid_study):
    conds = config.conditions(config.validate(LR_GRID))
    assert len(conds) == 2 * 2 * 2  # optimizers x base rates x arms
    summary = pd.read_csv(grid_study / f"{D.aggregate}/summary.tsv", sep="\t")
    assert len(summary.groupby(list(CONDITION_KEYS))) == len(conds)
    for c in conds:
        assert (grid_study / D.plots / c.path / "curves.png").stat().st_size > 1000
    html = (grid_study / D.report_html).read_text()
    assert html.count('<h2 id="c') == len(conds)
    # The overview, and per (optimizer, arm) the lr grid, the frontier and the noise scale.
    assert html.count("data:image/png;base64,") == 4 * len(conds) + 1 + 3 * 4
    jobs = pd.read_csv(grid_study / f"{D.aggregate}/jobs.tsv", sep="\t")
    assert len(jobs) == 2 * 2 and (jobs["replicas"] == 2 * 2 * 2).all()


def test_workflow_on_written_training_outputs_without_training(tmp_path):
    """Aggregate, plot and report run on job directories in the train layout (synthetic
    histories; `--allowed-rules` keeps snakemake from training): each condition's figures land
    where the report looks for them."""
    cfg = {**TINY_CONFIG, "lr_scaling": {"arms": ["constant", "linear"]}, "seeds": [0, 1, 2]}
    cfg["optimizers"] = {"adam": {"name": "adam", "learning_rate": [BASE_LR, 0.01]}}
    project = make_project(tmp_path, cfg)
    for arm, lr, b in itertools.product(["constant", "linear"], [BASE_LR, 0.01], [16, 64]):
        write_fake_job(project, ("blobs", "adam", arm, "e4"), b, [0, 1, 2], 4, base_lr=lr)
    snakemake(project, "--allowed-rules", *RULES_AFTER_TRAINING)
    conds = config.conditions(config.validate(cfg))
    assert len(conds) == 4
    for c in conds:
        for name in PLOT_NAMES:
            assert (project / D.plots / c.path / f"{name}.png").is_file()
    html = (project / D.report_html).read_text()
    assert html.count('<h2 id="c') == 4 and "base lr 0.01" in html and "lr linear" in html
    # The overview, and per lr arm (two base rates each) the lr grid and the frontier.
    assert html.count("data:image/png;base64,") == 4 * 4 + 1 + 2 * 2
    assert (project / D.analysis / "frontier.tsv").is_file()
    # The datasets' split sizes, read from the dataset files, reach the report.
    splits = pd.read_csv(project / D.splits, sep="\t")
    assert list(splits.columns) == list(SPLIT_COLUMNS) and splits["dataset"].tolist() == ["blobs"]
    assert "Rows per split: blobs: " in html


def test_the_tuning_stage_tables_figures_and_report(grid_study):
    """Every (optimizer, arm) has two base rates: a grid, a frontier and two B_crit fits each,
    absolute targets from the config, a noise-scale run per optimizer."""
    analysis = grid_study / D.analysis
    grid = pd.read_csv(analysis / "lr_grid.tsv", sep="\t")
    assert len(grid) == 4 * 2 * 2 * 2  # groups x batch sizes x rates x target kinds
    per_size = grid.groupby(["optimizer", "lr_scaling", "target", "batch_size"])["chosen"]
    assert (per_size.sum() == 1).all()
    front = pd.read_csv(analysis / "frontier.tsv", sep="\t")
    assert len(front) == 4 * 2 and front["regime"].notna().all()
    assert front["test_accuracy_mean"].between(0, 1).all()
    bcrit = pd.read_csv(analysis / "tuned_bcrit.tsv", sep="\t")
    assert sorted(bcrit["lr_choice"].value_counts().to_dict().items()) == [
        ("reference", 4),
        ("tuned", 4),
    ]
    for opt in ("adam", "sgd"):
        noise = pd.read_csv(grid_study / D.noise / f"blobs/{opt}/noise_scale.tsv", sep="\t")
        assert noise["step"].iloc[0] == 0 and (noise["batch_size"] == 16).all()
        assert (noise["b_simple"] > 0).all()
    doc = read_json(analysis / "tuning.json")
    assert len(doc["groups"]) == 4 and "epoch resolution" in doc["resolution"]
    assert all("absolute target" in g["target"] for g in doc["groups"])
    html = (grid_study / D.report_html).read_text()
    text = re.sub(r'data:image/png;base64,[^"]+', "", html)
    assert (
        "The learning rate tuned per batch size" in text
        and "B_simple is measured along one reference run" in text
    )
    assert not re.search(r"\b(nan|inf)\b", text, re.IGNORECASE)
    first = read_json(grid_study / D.summary)["headline"][0]  # the catalogue's first line
    moves = [g["move"] for g in doc["groups"]]
    assert first.startswith("The learning rate tuned per batch size in 4 groups") and all(
        tf.MOVE_WORDS[m] in first for m in moves
    ), first


RUNTIME_SETTINGS = (
    "--set-threads", "train=3",
    "--set-resources", "train:mem_mb=4321", "train:runtime=7", "train:cpu_fallback=1",
    "--resources", "gpu=2",
)  # fmt: skip


def test_runtime_settings_rerun_nothing(study):
    """Threads, memory, runtime, GPU slots are how jobs run, not what they compute."""
    proc = snakemake(study, "-n", *RUNTIME_SETTINGS)
    assert "Nothing to be done" in proc.stdout + proc.stderr
    assert "resources" not in read_json(study / D.results / "config.json")


def test_runtime_settings_rerun_nothing_without_training(tmp_path):
    """The same on written training outputs (no TensorFlow): the config snapshot and the
    report, which depend on the whole config, stay up to date when only runtime changes."""
    project = make_project(tmp_path, TINY_CONFIG)
    for b in TINY_CONFIG["batch_sizes"]:
        write_fake_job(project, ("blobs", "adam", "constant", "e4"), b, [0, 1], 4)
    allowed = ("--allowed-rules", *RULES_AFTER_TRAINING)
    snakemake(project, *allowed)
    proc = snakemake(project, "-n", *allowed, *RUNTIME_SETTINGS)
    assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout
    # and the check can fail: a science setting does re-run them
    assert planned_jobs(snakemake(project, "-n", *allowed, "--config", "title=x").stdout)


def test_step_evaluations_and_timing_stage(tmp_path):
    """eval_every_steps and timing_repeats end to end: each job's evals.tsv and the timing
    stage's file reach the aggregate; changing k re-runs training but not the timing stage."""
    cfg = {**TINY_CONFIG, "eval_every_steps": 3, "timing_repeats": 2, "timing_epochs": 1}
    project = make_project(tmp_path, cfg)
    snakemake(project, D.aggregate + "/evals.tsv")
    evals = pd.read_csv(project / D.aggregate / "evals.tsv", sep="\t")
    steps = {16: 4 * 7 // 3, 64: 4 * 2 // 3}  # 100 training rows: 7 and 2 steps per epoch
    assert evals.groupby(["batch_size", "seed"]).size().to_dict() == {
        (b, s): n for b, n in steps.items() for s in (0, 1)
    }
    assert list(evals.columns[:5]) == list(CONDITION_KEYS)
    assert (evals.step % 3 == 0).all() and evals.val_accuracy.between(0, 1).all()
    rep = pd.read_csv(project / D.aggregate / "timing_repeats.tsv", sep="\t")
    assert len(rep) == 2 * 2 and set(rep.batch_size) == {16, 64}
    assert (rep.seconds_per_epoch > 0).all()
    assert (project / D.logs / "timing/blobs/adam/e4.log").is_file()
    assert (project / D.benchmarks / "timing/blobs/adam/e4.tsv").is_file()
    jobs = dry_run(project, D.aggregate + "/evals.tsv", "--config", "eval_every_steps=2")
    assert jobs.get("train") == 2 and "time_training" not in jobs
