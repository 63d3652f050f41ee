"""End-to-end: the study's axes (datasets, optimizers, lr arms, budgets, own data and model),
each a wildcard of the DAG, on tiny configs through the real snakemake CLI."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from conftest import DEFAULT_STUDY as D
from conftest import ROOT, make_project, read_json, snakemake
from test_workflow import dry_run

from batchstudy import config

pytestmark = pytest.mark.e2e

AXES_CONFIG = {
    "title": "axes",
    "datasets": {
        "moons": {
            "kind": "moons",
            "n_samples": 120,
            "noise": 0.2,
            "random_state": 0,
            "n_train": 80,
        },
        "mine": {
            "kind": "csv",
            "path": "data/mine.csv",
            "label_column": "species",
            "test_fraction": 0.5,
            "random_state": 0,
        },
    },
    "optimizers": {"sgd": {"name": "sgd", "learning_rate": 0.05, "momentum": 0.9}},
    "lr_scaling": {"arms": ["constant", "linear"], "reference_batch_size": 32},
    "batch_sizes": [8, 32],
    "epochs": 3,
    "step_budgets": [12],
    "seeds": [0, 1],
    "metrics": {"bootstrap": 200, "plateau_last": 2, "smoothing_window": 1},
}


@pytest.fixture(scope="module")
def axes(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("axes"), AXES_CONFIG)
    (project / "data").mkdir()
    shutil.copy2(ROOT / "config" / "data" / "example.csv", project / "data" / "mine.csv")
    snakemake(project)
    return project


def test_every_condition_is_trained_and_reported(axes):
    jobs = pd.read_csv(axes / f"{D.aggregate}/jobs.tsv", sep="\t")
    assert len(jobs) == 2 * 1 * 2 * 2  # datasets x optimizers x budgets x sizes
    assert (jobs["replicas"] == 2 * 2).all()  # arms x seeds, inside each job
    html = (axes / D.report_html).read_text()
    assert html.count('<h2 id="c') == 2 * 1 * 2 * 2  # datasets x optimizers x arms x budgets
    assert "Across conditions" in html
    for c in config.conditions(read_json(axes / f"{D.results}/config.json")):
        assert f">{c.label}</h2>" in html  # one section per condition, headed by its label


def test_linear_arm_scales_the_learning_rate(axes):
    summary = pd.read_csv(axes / f"{D.aggregate}/summary.tsv", sep="\t")
    lr = summary.set_index(["dataset", "lr_scaling", "budget", "batch_size"])["learning_rate"]
    assert lr[("moons", "constant", "e3", 8)] == pytest.approx(0.05)
    assert lr[("moons", "linear", "e3", 8)] == pytest.approx(0.05 * 8 / 32)
    assert lr[("moons", "linear", "e3", 32)] == pytest.approx(0.05)


def test_step_budget_gives_equal_updates(axes):
    jobs = pd.read_csv(axes / f"{D.aggregate}/jobs.tsv", sep="\t")
    moons = jobs[(jobs["dataset"] == "moons") & (jobs["budget"] == "s12")]
    got = moons.set_index("batch_size")[["epochs", "steps_per_epoch"]].drop_duplicates()
    # 80 training rows: B=8 has 10 steps/epoch -> 2 epochs; B=32 has 3 -> 4 epochs
    assert got.loc[8].tolist() == [2, 10]
    assert got.loc[32].tolist() == [4, 3]
    assert ((got["epochs"] * got["steps_per_epoch"]) >= 12).all()


def test_csv_dataset_keeps_its_labels(axes):
    meta = read_json(axes / f"{D.train}/mine/sgd/e3/bs8/run.json")
    assert meta["n_train"] == 200
    hist = pd.read_csv(axes / f"{D.aggregate}/history.tsv", sep="\t")
    assert set(hist["dataset"]) == {"moons", "mine"}


def test_adding_an_lr_arm_retrains_the_jobs_it_joins(axes):
    """An arm is a replica inside every job of its (dataset, optimizer, budget): adding one
    re-runs those jobs (with every arm), not the data."""
    jobs = dry_run(axes, "--config", "lr_scaling={'arms': ['constant', 'linear', 'sqrt']}")
    assert jobs.get("train") == 2 * 2 * 2  # datasets x budgets x batch sizes
    assert (
        jobs.get("plot") == 1
    )  # one job draws the 2 * 3 * 2 conditions (datasets x arms x budgets)
    assert "generate_data" not in jobs


def test_adding_a_batch_size_trains_only_that_batch_size(axes):
    jobs = dry_run(axes, "--config", "batch_sizes=[8,32,16]")
    assert jobs.get("train") == 2 * 2  # datasets x budgets, B=16 only
    assert "generate_data" not in jobs


def test_editing_the_csv_reruns_what_depends_on_it(axes):
    csv = axes / "data" / "mine.csv"
    original = csv.read_bytes()
    try:
        lines = original.decode().splitlines()
        lines[1], lines[2] = lines[2], lines[1]
        csv.write_text("\n".join(lines) + "\n")
        jobs = dry_run(axes)
        assert jobs.get("generate_data") == 1  # only the CSV dataset
        assert jobs.get("train") == 2 * 2  # the CSV's budgets x batch sizes
    finally:
        csv.write_bytes(original)


def test_custom_model_runs_on_the_keras_engine(tmp_path):
    cfg = {
        "datasets": {"blobs": {"kind": "blobs", "n_samples": 120, "n_train": 60}},
        "model": {"custom": "config/models/dropout_mlp.py:build"},
        "batch_sizes": [16, 64],
        "epochs": 3,
        "seeds": [0, 1],
        "metrics": {"bootstrap": 200, "plateau_last": 2, "smoothing_window": 1},
    }
    project = make_project(tmp_path, cfg)
    (project / "config" / "models").mkdir()
    shutil.copy2(ROOT / "config/models/dropout_mlp.py", project / "config/models")
    snakemake(project)
    meta = read_json(project / f"{D.train}/blobs/adam/e3/bs16/run.json")
    assert meta["engine"] == "keras"
    assert any("cannot run on the fused engine" in n for n in meta["notices"])
    check = read_json(project / f"{D.results}/model_check.json")
    assert check["custom_model"] == "config/models/dropout_mlp.py:build"
    # the output layer's initializer is Keras' default, named as any other
    layers = ["Dense(64, relu, he_uniform)", "Dropout(0.2)", "Dense(3, softmax, glorot_uniform)"]
    assert list(check["layers"].values()) == [layers]
    html = (project / D.report_html).read_text()
    (params,) = check["parameters"].values()
    assert f"{' → '.join(layers)}, {params} parameters" in html and params == 2 * 64 + 64 + 195
    hist = pd.read_csv(project / f"{D.aggregate}/history.tsv", sep="\t")
    assert len(hist) == 2 * 2 * 3


def test_run_json_records_the_resolved_epochs(axes):
    meta = read_json(axes / f"{D.train}/moons/sgd/s12/bs32/run.json")
    assert meta["spec"]["epochs"] == 4 and meta["spec"]["extra"] == {"budget_steps": 12}
