"""End-to-end: the real snakemake CLI on a tiny study in a temporary project."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest
from conftest import TINY_CONFIG, make_project, planned_jobs, read_json, snakemake, write_config

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
    html = (study / "report" / "index.html").read_text()
    # Four figures of the condition and the overview across conditions.
    assert "tiny study" in html and html.count("data:image/png;base64,") == 5
    hist = pd.read_csv(study / "results/aggregate/history.tsv", sep="\t")
    assert sorted(hist["batch_size"].unique()) == [16, 64]
    assert len(hist) == 2 * 2 * 4
    assert hist["val_accuracy"].between(0, 1).all()
    summary = pd.read_csv(study / "results/aggregate/summary.tsv", sep="\t")
    assert summary.set_index("batch_size")["steps_per_epoch"].to_dict() == {16: 7, 64: 2}
    meta = read_json(study / "results/train/blobs/adam/constant/e4/bs16/run.json")
    assert meta["engine"] == "fused" and meta["op_determinism"] is True
    log = (study / "logs/train/blobs/adam/constant/e4/bs16.log").read_text()
    assert "training batch size 16" in log
    bench = study / "results/benchmarks/train/blobs/adam/constant/e4/bs16.tsv"
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
    before = (study / "results/aggregate/history.tsv").read_bytes()
    proc = snakemake(study, "--config", "batch_sizes=[16,0]", check=False)
    assert proc.returncode != 0
    assert "batch_sizes[1] = 0: must be >= 1" in proc.stdout + proc.stderr
    assert (study / "results/aggregate/history.tsv").read_bytes() == before


def test_same_config_gives_identical_metric_files(study, tmp_path):
    again = make_project(tmp_path, TINY_CONFIG)
    snakemake(again, "results/aggregate/history.tsv")
    for job in ("bs16", "bs64"):
        rel = f"results/train/blobs/adam/constant/e4/{job}/history.tsv"
        assert (study / rel).read_bytes() == (again / rel).read_bytes()
    assert (study / "results/aggregate/history.tsv").read_bytes() == (
        again / "results/aggregate/history.tsv"
    ).read_bytes()


def test_configfile_override(study, tmp_path):
    cfg = copy.deepcopy(TINY_CONFIG)
    cfg["seeds"] = [0, 1, 2]
    path = tmp_path / "other.yaml"
    write_config(path, cfg)
    jobs = dry_run(study, "--configfile", str(path))
    assert jobs.get("train") == 2  # the seed list is part of every job


def test_snakemake_report(study):
    snakemake(study, "--report", "report/snakemake-report.html")
    text = (study / "report" / "snakemake-report.html").read_text(errors="replace")
    for name in ("curves.png", "accuracy.png", "timing.png", "scaling.png", "index.html"):
        assert name in text
