"""Plots and the HTML report from synthetic aggregate tables (no TensorFlow)."""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import asdict
from pathlib import Path

import pytest
from conftest import BASE_LR, ROOT, write_fake_job

from batchstudy import config
from batchstudy.aggregate import aggregate
from batchstudy.plots import PLOTS, plot_condition
from batchstudy.report import render_report

TEMPLATE = ROOT / "workflow" / "report" / "index.html.j2"


def build(
    root: Path, cfg: dict, conds: list[tuple[str, ...]], base_lrs: tuple[float, ...] = (BASE_LR,)
) -> Path:
    """Fake jobs for every (dataset, optimizer, lr arm, budget) in `conds` x base rate x batch
    size, then the aggregate, each condition's plots (where the workflow puts them) and the
    report."""
    paths = {
        write_fake_job(root, c, b, cfg["seeds"], cfg["epochs"], base_lr=lr)
        for c in conds
        for lr in base_lrs
        for b in cfg["batch_sizes"]
    }
    agg = root / "results" / "aggregate"
    aggregate(sorted(paths), agg, cfg["metrics"], log=lambda m: None)
    for (dataset, optimizer, arm, budget), lr in itertools.product(conds, base_lrs):
        cond = config.Condition(dataset, optimizer, arm, lr, budget)
        plot_condition(
            agg,
            root / "results" / "plots" / cond.path,
            {**asdict(cond), "base_lr": config.format_lr(lr)},
            cfg["plots"],
        )
    (root / "results" / "config.json").write_text(json.dumps(cfg))
    out = root / "report" / "index.html"
    render_report(agg, root / "results" / "plots", root / "results" / "config.json", TEMPLATE, out)
    return out


@pytest.fixture
def cfg():
    return config.validate(
        {
            "epochs": 20,
            "seeds": [0, 1, 2, 3],
            "batch_sizes": [4, 16, 64, 256],
            "metrics": {"bootstrap": 200},
        }
    )


def test_report_is_self_contained_with_computed_conclusions(tmp_path, cfg):
    html = build(tmp_path, cfg, [("blobs", "adam", "constant", "e20")]).read_text()
    imgs = re.findall(r'<img src="([^"]+)"', html)
    assert len(imgs) == len(PLOTS)
    assert all(src.startswith("data:image/png;base64,") for src in imgs)
    assert not re.search(r'(src|href)="(?!data:|#)', html)  # nothing to fetch
    assert "Settles in the fewest epochs: batch size" in html
    assert "Fastest per epoch: batch size 256" in html  # the synthetic timing's fastest
    for claim in (
        "Larger batches take less time per epoch",
        "Small batches stabilise in fewer epochs",
    ):
        assert claim in html
    assert re.search(r'class="verdict (supported|not-supported|inconclusive)"', html)
    assert "config " + config.config_hash(cfg) in html


def test_strings_from_config_are_escaped(tmp_path, cfg):
    cfg = dict(cfg, title="<script>alert(1)</script> study")
    html = build(tmp_path, cfg, [("blobs", "adam", "constant", "e20")]).read_text()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; study" in html


def test_one_section_per_condition(tmp_path, cfg):
    conds = [("blobs", "adam", "constant", "e20"), ("blobs", "adam", "linear", "e20")]
    html = build(tmp_path, cfg, conds).read_text()
    assert html.count('<h2 id="c') == 2
    assert "lr linear" in html


def test_one_section_per_base_learning_rate(tmp_path, cfg):
    html = build(tmp_path, cfg, [("blobs", "adam", "constant", "e20")], (1e-3, 1e-2)).read_text()
    assert html.count('<h2 id="c') == 2
    assert "base lr 0.001" in html and "base lr 0.01" in html
    assert len(re.findall(r'<img src="data:image/png', html)) == 2 * len(PLOTS)


def test_provenance_comes_from_the_aggregated_jobs_only(tmp_path, cfg):
    cond = ("blobs", "adam", "constant", "e20")
    out = build(tmp_path, cfg, [cond])
    stale = write_fake_job(tmp_path, cond, 999, cfg["seeds"], cfg["epochs"]).parent / "run.json"
    stale.write_text(stale.read_text().replace("CPU (test)", "stale-device"))
    render_report(
        tmp_path / "results/aggregate",
        tmp_path / "results/plots",
        tmp_path / "results/config.json",
        TEMPLATE,
        out,
    )
    html = out.read_text()
    assert "<th>devices</th><td>CPU (test)</td>" in html
    assert "stale-device" not in html
    assert "<th>TensorFlow of the training jobs</th><td>test</td>" in html
