"""Divergence: a learning rate that blows up (NaN/inf loss) marks those runs as diverged, keeps
every other seed, learning rate and batch size, and the report shows them as diverged: never as
accuracy 0, never as a crash.

End to end, a tiny study trains a healthy Adam beside SGD with two base learning rates in one
job per batch size: 0.01, and 1e30 (its first update overflows float32), so the diverging
replicas share their graph with healthy ones. Within one condition, a run that diverges mid-way
while its neighbours do not is built from synthetic histories and carried through the real
aggregate, plot and report stages (no TensorFlow).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import (
    DEFAULT_STUDY as D,
)
from conftest import (
    TINY_CONFIG,
    fake_condition,
    make_project,
    render_fake_report,
    snakemake,
    write_fake_job,
)

from batchstudy import config
from batchstudy.io import read_table, write_table
from batchstudy.metrics import EPOCH_METRICS
from batchstudy.plots import PLOTS

BOOM = f"{D.train}/blobs/boom/e4"
ADAM = f"{D.train}/blobs/adam/e4"
HUGE = 1e30

STUDY = copy.deepcopy(TINY_CONFIG)
STUDY["optimizers"] = {
    "adam": {"name": "adam", "learning_rate": 0.001},
    "boom": {"name": "sgd", "learning_rate": [0.01, HUGE]},
}


def section(html: str, optimizer: str, base_lr: float | None = None) -> str:
    """The report's section of one condition (from its heading to the next)."""
    parts = re.split(r"(?=<h2 id=\"c\d+\">)", html.split("<h2>Provenance</h2>")[0])
    lr = "" if base_lr is None else rf".* · base lr {re.escape(config.format_lr(base_lr))} ·"
    (found,) = [p for p in parts if re.match(rf'<h2 id="c\d+">blobs · {optimizer} ·{lr}', p)]
    return found


def summary_cells(sec: str) -> dict[int, list[str]]:
    """Rows of a section's summary table by batch size."""
    table = sec.split("<h3>Summary</h3>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>((?:<td>.*?</td>)+)</tr>", table)
    cells = [re.findall(r"<td>(.*?)</td>", r) for r in rows]
    return {int(c[0]): c for c in cells}


# ---- end to end ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    project = make_project(tmp_path_factory.mktemp("divergence"), STUDY)
    snakemake(project)
    return project


@pytest.mark.e2e
def test_diverged_runs_are_marked_and_the_others_kept(study):
    runs = pd.read_csv(study / f"{D.aggregate}/runs.tsv", sep="\t")
    boom = runs[(runs["optimizer"] == "boom") & (runs["base_lr"] == HUGE)]
    tame = runs[(runs["optimizer"] == "boom") & (runs["base_lr"] == 0.01)]
    adam = runs[runs["optimizer"] == "adam"]
    assert len(boom) == len(tame) == len(adam) == 2 * 2  # every batch size x seed has its row
    assert boom["diverged"].all()
    assert boom["final_val_accuracy"].isna().all()  # NaN, not 0
    for healthy in (adam, tame):  # trained in the same job as the diverging runs
        assert not healthy["diverged"].any()
        assert healthy["final_val_accuracy"].between(0.05, 1).all()

    summary = pd.read_csv(study / f"{D.aggregate}/summary.tsv", sep="\t")
    by = summary.set_index(["optimizer", "base_lr", "batch_size"])
    for b in (16, 64):
        assert by.loc[("boom", HUGE, b), "n_diverged"] == 2
        assert by.loc[("boom", HUGE, b), "n_runs"] == 2
        assert np.isnan(by.loc[("boom", HUGE, b), "final_val_accuracy_mean"])
        for healthy in (("adam", 0.001, b), ("boom", 0.01, b)):
            assert by.loc[healthy, "n_diverged"] == 0
            assert by.loc[healthy, "final_val_accuracy_mean"] > 0.05


@pytest.mark.e2e
def test_history_keeps_nan_and_the_log_says_diverged(study):
    hist = pd.read_csv(study / f"{BOOM}/bs16/history.tsv", sep="\t")
    assert len(hist) == 2 * 2 * 4  # base rates x seeds x epochs, one job
    huge = hist[hist["base_lr"] == HUGE]
    assert huge[["train_loss", "val_loss", "val_accuracy"]].isna().all().all()
    assert not (huge["val_accuracy"] == 0).any()
    tame = hist[hist["base_lr"] == 0.01]
    assert np.isfinite(tame[list(EPOCH_METRICS)].to_numpy()).all()
    log = (study / f"{D.logs}/train/blobs/boom/e4/bs16.log").read_text()
    assert "diverged (NaN/inf)" in log
    healthy = pd.read_csv(study / f"{ADAM}/bs16/history.tsv", sep="\t")
    assert np.isfinite(healthy[list(EPOCH_METRICS)].to_numpy()).all()


@pytest.mark.e2e
def test_report_shows_diverged_not_zero(study):
    html = (study / D.report_html).read_text()
    # The overview, and the tuning section's lr grid and frontier of boom's two base rates.
    assert html.count("data:image/png;base64,") == 3 * len(PLOTS) + 1 + 2
    boom, adam = section(html, "boom", HUGE), section(html, "adam")
    tame = section(html, "boom", 0.01)
    diverged = "B = 16 seed 0, B = 16 seed 1, B = 64 seed 0, B = 64 seed 1."
    assert f"<strong>Diverged runs:</strong> {diverged}" in boom
    assert "Every run diverged" in boom
    assert "Diverged runs" not in adam and "Diverged runs" not in tame
    header = re.findall(r"<th>(.*?)</th>", html.split("<h3>Summary</h3>", 1)[1])
    acc, runs_col = header.index("final test acc"), header.index("runs")
    for b, cells in summary_cells(boom).items():
        assert cells[acc] == "not estimable", (b, cells)  # no number, certainly not 0
        assert cells[runs_col] == "2 (all diverged)"
    for cells in [*summary_cells(adam).values(), *summary_cells(tame).values()]:
        assert re.match(r"0\.\d+ (\[|\(all 2 equal)", cells[acc]) and cells[runs_col] == "2"


# ---- one run diverging among healthy ones (synthetic histories, real stages) ---------

COND = ("blobs", "sgd", "constant", "e20")
SIZES, SEEDS, EPOCHS = [16, 64, 256], [0, 1, 2], 20


def diverge_from(history: Path, seed: int, epoch: int) -> None:
    """Make one run of a job's history diverge as the fused engine writes it: an inf loss at
    `epoch`, and NaN metrics from there on."""
    hist = read_table(history)
    rows = (hist["seed"] == seed) & (hist["epoch"] >= epoch)
    hist.loc[rows, list(EPOCH_METRICS)] = np.nan
    hist.loc[rows & (hist["epoch"] == epoch), "train_loss"] = np.inf
    write_table(history, hist)


def plot_path(cond: tuple) -> str:
    return fake_condition(cond).path


def build_report(
    root: Path, cfg: dict, diverge: dict[tuple[int, int], int], cond: tuple = COND
) -> Path:
    """Fake jobs for `cond` through the real aggregate, plot and report code. `diverge` maps
    (batch size, seed) to the epoch from which that run diverges (see `diverge_from`)."""
    paths = []
    for b in SIZES:
        path = write_fake_job(root, cond, b, SEEDS, EPOCHS)
        for (bs, seed), epoch in diverge.items():
            if bs == b:
                diverge_from(path, seed, epoch)
        paths.append(path)
    return render_fake_report(root, cfg, paths, [fake_condition(cond)])


def test_one_diverged_run_keeps_the_other_seeds_and_batch_sizes(tmp_path):
    cfg = config.validate(
        {
            "epochs": EPOCHS,
            "seeds": SEEDS,
            "batch_sizes": SIZES,
            "optimizers": {"sgd": {"name": "sgd", "learning_rate": 0.5}},
            "metrics": {"bootstrap": 200},
        }
    )
    html = build_report(tmp_path, cfg, {(64, 1): 8}).read_text()
    agg = tmp_path / D.results / "aggregate"
    runs = pd.read_csv(agg / "runs.tsv", sep="\t").set_index(["batch_size", "seed"])
    assert runs["diverged"].sum() == 1 and runs.loc[(64, 1), "diverged"]
    assert np.isnan(runs.loc[(64, 1), "final_val_accuracy"])
    kept = runs.drop(index=(64, 1))
    assert kept["final_val_accuracy"].notna().all() and len(kept) == 8

    summary = pd.read_csv(agg / "summary.tsv", sep="\t").set_index("batch_size")
    assert summary["n_diverged"].to_dict() == {16: 0, 64: 1, 256: 0}
    assert summary["n_runs"].to_dict() == {16: 3, 64: 3, 256: 3}
    # The mean is over the two runs that trained, not a zero averaged in.
    healthy = runs.loc[[(64, 0), (64, 2)], "final_val_accuracy"].mean()
    assert summary.loc[64, "final_val_accuracy_mean"] == pytest.approx(healthy, abs=1e-6)

    for name in PLOTS:
        assert (tmp_path / D.plots / plot_path(COND) / f"{name}.png").stat().st_size > 1000
    assert "<strong>Diverged runs:</strong> B = 64 seed 1." in html
    sec = section(html, "sgd")
    header = re.findall(r"<th>(.*?)</th>", html.split("<h3>Summary</h3>", 1)[1])
    acc, runs_col = header.index("final test acc"), header.index("runs")
    cells = summary_cells(sec)
    assert (
        cells[64][runs_col] == "3 (1 diverged, excluded from the means: n = 2)"
        and cells[16][runs_col] == "3"
    )
    assert cells[64][acc].startswith(f"{healthy:.3f} [")
