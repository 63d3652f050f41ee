"""Pooling over dataset draws: the statistics on a synthetic runs table with a known answer."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import DEFAULT_STUDY as D
from conftest import TINY_CONFIG, make_project, read_json, snakemake
from scipy import stats as sps

from batchstudy import config, draws
from batchstudy.claims import ACCURACY_MARGIN
from batchstudy.data import load_dataset
from batchstudy.stats import DIFFERENT, INCONCLUSIVE, Effect, IntervalSettings

SETTINGS = IntervalSettings(n_boot=200)
KEYS = {"optimizer": "adam", "lr_scaling": "constant", "base_lr": 0.001, "budget": "e5"}


def runs_table(states: list[int], accuracy, sizes=(16, 64, 256), seeds=(0, 1)) -> pd.DataFrame:
    """One runs row per draw, batch size and seed; the draws of base dataset `blobs` (named as
    the config names them) plus an undrawn dataset `moons` that pooling must ignore."""
    rows = []
    for name, r in [(config.draw_name("blobs", r), r) for r in states] + [("moons", 0)]:
        for b in sizes:
            for s in seeds:
                acc = accuracy(r, b) + (0.01 if s % 2 else -0.01)
                rows.append(
                    {
                        "dataset": name,
                        **KEYS,
                        "batch_size": b,
                        "seed": s,
                        "final_test_accuracy": acc,
                    }
                )
    return pd.DataFrame(rows)


def drawn(states: list[int]) -> dict:
    return config.dataset_draws(
        config.validate(
            {
                "datasets": {
                    "blobs": {"kind": "blobs", "random_state": states},
                    "moons": {"kind": "moons"},
                }
            }
        )
    )


def _accuracy(r: int, b: int) -> float:
    # Draw means: 0.8 + 0.01 r at B = 16, shrinking by (0.04 + 0.005 r) per factor 4 in B.
    return 0.8 + 0.01 * r - (0.04 + 0.005 * r) * math.log(b / 16, 4)


def test_means_over_draws_and_paired_differences_match_the_t_formulas():
    states = [1, 2, 3, 4]
    (group,) = draws.pooled(runs_table(states, _accuracy), drawn(states), SETTINGS)
    assert group["draw_of"] == "blobs" and group["draws"] == states and group["n_draws"] == 4
    assert group["keys"] == KEYS and group["reference_batch_size"] == 16
    mean16 = Effect.from_dict(group["cells"][0]["final_test_accuracy"])
    per_draw = np.array([0.8 + 0.01 * r for r in states])  # seeds' offsets cancel
    half = sps.t.ppf(0.975, 3) * per_draw.std(ddof=1) / 2
    assert mean16.n == 4 and mean16.method == draws.METHOD_DRAWS
    assert mean16.estimate == pytest.approx(0.825)
    assert (mean16.lo, mean16.hi) == pytest.approx((0.825 - half, 0.825 + half))
    assert [d["mean"] for d in group["cells"][0]["per_draw"]] == pytest.approx(per_draw)
    # B = 256 minus B = 16, paired by draw: -2 (0.04 + 0.005 r), a family of two comparisons.
    diff = Effect.from_dict(group["comparisons"]["256"])
    d = np.array([-2 * (0.04 + 0.005 * r) for r in states])
    half = sps.t.ppf(1 - 0.05 / 4, 3) * d.std(ddof=1) / 2
    assert diff.estimate == pytest.approx(d.mean())
    assert (diff.lo, diff.hi) == pytest.approx((d.mean() - half, d.mean() + half))
    assert diff.level == pytest.approx(0.975) and diff.method == draws.METHOD_PAIRED_DRAWS
    assert diff.verdict == DIFFERENT and diff.hi < -ACCURACY_MARGIN
    assert "n = 4 draws of blobs" in group["statement"]
    assert "seeds within one draw" in group["statement"]


def test_two_draws_give_an_interval_but_no_verdict():
    states = [5, 9]
    (group,) = draws.pooled(runs_table(states, _accuracy), drawn(states), SETTINGS)
    diff = Effect.from_dict(group["comparisons"]["256"])
    assert diff.n == 2 and np.isfinite(diff.lo) and diff.verdict == INCONCLUSIVE


def test_a_draw_whose_seeds_all_diverged_drops_out_of_its_batch_size():
    states = [1, 2, 3]
    runs = runs_table(states, _accuracy)
    gone = (runs["dataset"] == "blobs-rs2") & (runs["batch_size"] == 64)
    runs.loc[gone, "final_test_accuracy"] = np.nan
    runs.loc[(runs["dataset"] == "blobs-rs3") & (runs["seed"] == 0), "final_test_accuracy"] = np.nan
    (group,) = draws.pooled(runs, drawn(states), SETTINGS)
    cells = {c["batch_size"]: c for c in group["cells"]}
    assert Effect.from_dict(cells[64]["final_test_accuracy"]).n == 2
    assert Effect.from_dict(group["comparisons"]["64"]).n == 2
    assert Effect.from_dict(group["comparisons"]["256"]).n == 3
    # Draw 3's mean rests on its one remaining seed (offset +0.01).
    by_draw = {d["draw"]: d["mean"] for d in cells[16]["per_draw"]}
    assert by_draw[3] == pytest.approx(0.8 + 0.03 + 0.01)


def test_no_draws_no_pooled_groups():
    runs = runs_table([1, 2], _accuracy)
    assert draws.pooled(runs, {}, SETTINGS) == []


@pytest.mark.e2e
def test_the_workflow_trains_every_draw_and_pools_them(tmp_path):
    """The real snakemake CLI on two draws of a tiny blobs dataset: two datasets with
    different data, each trained and reported, and one pooled group in findings and report."""
    cfg = {**TINY_CONFIG, "epochs": 2}
    cfg["datasets"] = {"blobs": {**TINY_CONFIG["datasets"]["blobs"], "random_state": [1, 2]}}
    project = make_project(tmp_path, cfg)
    snakemake(project)
    names = ["blobs-rs1", "blobs-rs2"]
    data = [load_dataset(project / D.data / f"{n}.npz").x_train for n in names]
    assert not np.array_equal(data[0], data[1])
    found = read_json(project / D.findings)
    assert sorted({c["keys"]["dataset"] for c in found["conditions"]}) == names
    (group,) = found["pooled_draws"]
    assert (group["draw_of"], group["draws"], group["datasets"]) == ("blobs", [1, 2], names)
    assert [c["batch_size"] for c in group["cells"]] == cfg["batch_sizes"]
    assert Effect.from_dict(group["comparisons"]["64"]).n == 2
    html = (project / D.report_html).read_text()
    assert 'id="draws"' in html and "n = 2 draws of blobs" in html
    assert "The per-condition sections cover seeds within one draw." in html
