"""Plots and the HTML report from synthetic aggregate tables (no TensorFlow)."""

from __future__ import annotations

import base64
import io
import itertools
import json
import re
from html import unescape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import BASE_LR, ROOT, fake_condition, render_fake_report, write_fake_job
from conftest import DEFAULT_STUDY as D

from batchstudy import catalogue, claims, config, findings, report
from batchstudy.aggregate import aggregate
from batchstudy.data import SPLIT_COLUMNS
from batchstudy.io import read_table, write_json, write_table
from batchstudy.plots import PLOTS
from batchstudy.report import NO_TARGET, render_catalogue, render_report, target_value
from batchstudy.stats import IntervalSettings

TEMPLATE = ROOT / "workflow" / "report" / "index.html.j2"


def build(
    root: Path,
    cfg: dict,
    conds: list[tuple[str, ...]],
    base_lrs: tuple[float, ...] = (BASE_LR,),
    **fake,
) -> Path:
    """Fake jobs for every (dataset, optimizer, lr arm, budget) in `conds` x base rate x batch
    size -> aggregate -> analyze -> plots (at each `Condition.path`) -> report, as the workflow
    chains them."""
    paths = sorted(
        {
            write_fake_job(root, c, b, cfg["seeds"], cfg["epochs"], base_lr=lr, **fake)
            for c in conds
            for lr in base_lrs
            for b in cfg["batch_sizes"]
        }
    )
    conditions = [fake_condition(c, lr) for c, lr in itertools.product(conds, base_lrs)]
    return render_fake_report(root, cfg, paths, conditions)


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
    assert len(imgs) == len(PLOTS) + 1  # the condition's figures and the overview
    assert all(src.startswith("data:image/png;base64,") for src in imgs)
    # nothing to fetch; the one other link is the way back to the catalogue of studies
    assert re.findall(r'(?:src|href)="(?!data:|#)([^"]*)"', html) == ["../index.html"]
    # Findings come first, each linking to an anchor that exists.
    assert html.index('id="findings"') < html.index("<h2>The experiment</h2>")
    for anchor in re.findall(r'<a href="#([^"]+)">Evidence</a>', html):
        assert f'id="{anchor}"' in html
    assert "Best batch size: B = " in html
    assert "chosen on the test split, which serves as validation" in html
    assert "B = 256: 1.15 ms" not in html  # the synthetic timing, in ms per model-epoch
    for claim in (
        "Larger batches take less time per epoch",
        "Small batches stabilise in fewer epochs",
        "Large batches end with lower test accuracy",
        "because of a generalization gap",
    ):
        assert claim in html
    assert "one draw of each dataset and one split of its rows" in html
    assert "Bounded quantities: intervals are clipped to the quantity" in html
    assert "<dt>Final test loss</dt>" in html and "have no meaningful mean" in html
    assert "above 10× chance loss (nor diverged) and a median where any is" in html
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
    for arm in ("constant", "linear"):  # headings are the conditions' labels
        label = config.Condition("blobs", "adam", arm, BASE_LR, "e20").label
        assert f">{label}</h2>" in html


def test_one_section_per_base_learning_rate(tmp_path, cfg):
    cfg = config.validate(
        {**cfg, "optimizers": {"adam": {"name": "adam", "learning_rate": [1e-3, 1e-2]}}}
    )
    html = build(tmp_path, cfg, [("blobs", "adam", "constant", "e20")], (1e-3, 1e-2)).read_text()
    assert html.count('<h2 id="c') == 2
    assert "base lr 0.001 · 20 epochs</h2>" in html and "base lr 0.01 · 20 epochs</h2>" in html
    assert len(re.findall(r'<img src="data:image/png', html)) == 2 * len(PLOTS) + 1
    # The grid reads as rates, not as the config's list; "adam" is named once.
    assert "<code>adam</code>, base lr grid 0.001, 0.01" in html
    assert not re.search(r"\[0\.001|'min'|\{'", _visible_text(html))
    # With the tuning stage's document, each learning-rate sentence points to its section.
    pointer = 'This study also tunes the rate per batch size: see <a href="#tuning">'
    assert pointer not in html
    assert "learning rate tuned per batch size (chosen for speed" not in html
    html = _render_with_tuning(tmp_path, cfg).read_text()
    assert 'id="tuning"' in html and html.count(pointer) == 2
    # The Findings open with the tuned results, and say the per-condition ones are untuned.
    findings_part = html[html.index('<h2 id="findings">') : html.index('<h2 id="overview">')]
    assert "learning rate tuned per batch size (chosen for speed to the target" in findings_part
    assert "at the reference rate; " in findings_part and "at the speed-chosen rates" in (
        findings_part
    )
    assert "treat each rate of the grid as its own condition, used for every batch" in findings_part
    # The tuned claims table names the target of each verdict column and says both are one.
    tuned_part = html[html.index('id="tuning"') :]
    assert "<th>speed-chosen rates (claim 4 to validation accuracy ≥" in tuned_part
    assert "Both verdict columns judge claim 4 on the same target" in tuned_part


def _render_with_tuning(root: Path, cfg: dict) -> Path:
    """The report of `build` again, with the tuning stage's document of its aggregate tables
    (no tuning figures)."""
    from batchstudy import tuning_findings, tuning_study

    agg = root / D.aggregate
    runs, summary, history = (read_table(agg / f"{n}.tsv") for n in ("runs", "summary", "history"))
    doc = tuning_findings.analyze_tuning(
        runs,
        summary,
        tuning_study.curves_from_history(history, runs),
        tuning_study.RESOLUTION_EPOCHS,
        absolute={},
        fraction=0.95,
        noise={},
        settings=IntervalSettings(n_boot=50),
    )["doc"]
    for g in doc["groups"]:
        g["figures"] = []
    write_json(root / "tuning.json", doc)
    out = root / D.report_html
    render_report(
        root / D.findings,
        agg / "jobs.tsv",
        root / D.plots,
        root / D.results / "config.json",
        TEMPLATE,
        out,
        tuning=root / "tuning.json",
    )
    return out


def test_provenance_comes_from_the_aggregated_jobs_only(tmp_path, cfg):
    cond = ("blobs", "adam", "constant", "e20")
    out = build(tmp_path, cfg, [cond])
    stale = write_fake_job(tmp_path, cond, 999, cfg["seeds"], cfg["epochs"]).parent / "run.json"
    stale.write_text(stale.read_text().replace("CPU (test)", "stale-device"))
    render_report(
        tmp_path / f"{D.analysis}/findings.json",
        tmp_path / f"{D.aggregate}/jobs.tsv",
        tmp_path / D.plots,
        tmp_path / f"{D.results}/config.json",
        TEMPLATE,
        out,
    )
    html = out.read_text()
    assert "<th>devices</th><td>CPU (test)</td>" in html
    assert "stale-device" not in html
    assert "<th>TensorFlow of the training jobs</th><td>test</td>" in html


def _visible_text(html: str) -> str:
    """What a reader sees: no figure data, no config dump, no markup."""
    html = re.sub(r'data:image/png;base64,[^"]+', "", html)
    html = re.sub(r"<pre>.*?</pre>", "", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def test_no_nan_inf_or_empty_value_in_prose_or_tables(tmp_path, cfg):
    """Censored, diverged and short runs: every number still reads as a number or in words."""
    cfg = dict(cfg, epochs=5, batch_sizes=[4, 64, 512])
    conds = [("blobs", "adam", "constant", "e5"), ("blobs", "adam", "linear", "e5")]
    out = build(tmp_path, cfg, conds, diverged_seeds=(1,))
    html = out.read_text()
    text = _visible_text(html)
    for word in ("nan", "inf", "null", "undefined"):
        assert not re.search(rf"\b{word}\b", text, flags=re.I), word
    assert not re.search(r"\bNone\b", text)
    assert not re.search(r"<td>\s*</td>", html)
    assert "> budget (" in html or "&gt; budget (" in html  # censored medians said in words
    findings = (tmp_path / D.results / "analysis" / "findings.json").read_text()

    def strict(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    json.loads(findings, parse_constant=strict)


def test_split_sizes_and_a_condition_at_chance_read_in_words(tmp_path, cfg):
    """The experiment lists every dataset's rows per split; a dataset whose chance level
    (0.82) is as high as its best plateau (about 0.83) gets no targets, said in words, and is
    left out of the findings' counts."""
    cfg = dict(cfg, epochs=5, batch_sizes=[4, 64, 512])
    conds = [("blobs", "adam", "constant", "e5"), ("moons", "adam", "constant", "e5")]
    paths = sorted(
        {write_fake_job(tmp_path, c, b, cfg["seeds"], 5) for c in conds for b in cfg["batch_sizes"]}
    )
    splits = pd.DataFrame(
        [
            ["blobs", 3, 500, 500, "test", 500, 0.34, 1.0986],
            ["moons", 2, 400, 100, "own", 500, 0.82, 0.6931],
        ],
        columns=list(SPLIT_COLUMNS),
    )
    out = render_fake_report(
        tmp_path, cfg, paths, [fake_condition(c) for c in conds], splits=splits
    )
    html = out.read_text()
    text = unescape(" ".join(_visible_text(html).split()))
    assert (
        "Rows per split: blobs: 500 train / 500 test (the test split serves as validation), "
        "3 classes (chance: the majority class's share of the validation split, 0.340); "
        "moons: 400 train / 100 validation / 500 test, 2 classes (chance: the majority "
        "class's share of the validation split, 0.820)." in text
    )
    # B = 512 against 500 and 400 training rows: full batch, named with the rows it takes
    assert (
        "B = 512 exceeds the 500 training rows of blobs: it trains full-batch (one step of "
        "500 rows per epoch). An epoch on the 500 training rows of blobs ends with a partial "
        "batch at 1 batch size (full batches × B + the last batch's rows): B = 64: 7 × 64 + 52 "
        "rows. B = 512 exceeds the 400 training rows of moons" in text
    )
    assert "Batch sizes and fits use the nominal B." in text
    assert "Targets not set: the best plateau validation accuracy 0.8" in text
    assert "is at chance (0.820" in text
    assert "In 1 of 2 conditions no batch size" in text
    assert "plateau validation accuracy is clearly above chance, so no targets were set" in text
    assert "at chance" in text  # the moons runs, in the Settling text
    for word in ("nan", "inf", "None"):
        assert not re.search(rf"\b{word}\b", text), word


def test_under_training_at_large_batch_is_not_called_a_generalization_gap(tmp_path, cfg):
    """At B = 256 test and train accuracy both drop and the gap shrinks: under-training."""
    cond = ("blobs", "adam", "constant", "e20")
    paths = [
        write_fake_job(tmp_path, cond, b, cfg["seeds"], cfg["epochs"]) for b in cfg["batch_sizes"]
    ]
    hist = read_table(paths[-1])
    hist[["val_accuracy", "test_accuracy"]] -= 0.15
    hist["end_train_accuracy"] -= 0.18  # the gap shrinks by 0.03, as in the seed study
    write_table(paths[-1], hist)
    out = render_fake_report(tmp_path, cfg, paths, [fake_condition(cond)])
    found = json.loads((tmp_path / D.results / "analysis" / "findings.json").read_text())
    verdicts = {c["claim"]: c for c in found["conditions"][0]["claims"]}
    lower = verdicts["Large batches end with lower test accuracy than the best batch size"]
    gap = verdicts["… because of a generalization gap"]
    assert lower["verdict"] == "supported"
    assert gap["verdict"] == "not supported" and "under-training" in gap["evidence"]
    assert (
        "In 0 of them a train-test gap larger by more than 0.01 is shown and in 1 the gap is "
        "shown to shrink by more than 0.01." in (found["headline"][0]["text"])
    )
    assert found["headline"][0]["anchor"] == "c1-claims"
    html = out.read_text()
    assert (
        'id="c1-claims"' in html
        and "consistent with under-training under this budget and learning rate more than" in html
    )


def test_fit_text_states_range_quality_and_extrapolation():
    rng = np.random.default_rng(0)
    sizes = [4, 8, 16, 32, 64, 128, 256, 512]
    runs = pd.DataFrame(
        [
            {"batch_size": b, "seed": s, "steps": (100 + 6400 / b) * np.exp(rng.normal(0, 0.3))}
            for s in range(5)
            for b in sizes
        ]
    )
    runs.loc[runs["batch_size"] == 512, "steps"] = np.nan  # never reached
    fit = findings._critical_batch(runs, "steps", IntervalSettings(n_boot=200))
    text = findings._fit_text({"suffix": "95", "kind": "accuracy", "critical_batch": fit})
    assert text.startswith("B_crit for the 95% accuracy target ≈ ")
    assert "fitted on B = 4–256 (7 batch sizes)" in text and "relative RMSE" in text
    assert "Not reached (median above the budget): B = 512." in text
    assert ("extrapolation" in text) == bool(fit["extrapolated_low"] or fit["extrapolated_high"])
    assert not re.search(r"\b(nan|inf|None)\b", text)


def test_every_table_downloads_as_data_from_the_page(tmp_path, cfg):
    """Each table (summary, time to target, provenance) has a TSV download inside the page
    whose numbers are the findings' (estimates and bounds as plain numbers)."""
    html = build(tmp_path, cfg, [("blobs", "adam", "constant", "e20")]).read_text()
    links = re.findall(r'<a download="([^"]+)" href="data:text/tab-separated-values;'
                       r'charset=utf-8;base64,([^"]+)"', html)  # fmt: skip
    found = json.loads((tmp_path / D.findings).read_text())["conditions"][0]
    assert len(links) == html.count("<table>") == 1 + len(found["targets"]) + 1
    tables = {name: base64.b64decode(data).decode() for name, data in links}
    summary = pd.read_csv(io.StringIO(tables["default-c1-summary.tsv"]), sep="\t")
    assert list(summary["batch_size"]) == cfg["batch_sizes"]
    assert np.allclose(
        summary["final_test_accuracy_estimate"],
        [c["final_test_accuracy"]["estimate"] for c in found["cells"]],
    )
    prov = pd.read_csv(io.StringIO(tables["default-provenance.tsv"]), sep="\t")
    assert {"config_hash", "code_commit", "code_dirty"} <= set(prov["key"])


def test_timing_repeats_set_the_timing_unit_and_are_rendered(tmp_path, cfg):
    """With a timing stage the Timing definition names repeats as the unit and each condition
    shows its per-batch-size seconds over repeats with method and n; no nan/inf/empty cell."""
    cond = ("blobs", "adam", "constant", "e20")
    out = build(tmp_path, cfg, [cond])
    html = out.read_text()
    assert "in interleaved repeats" not in html and "one timing stream per job" in html
    assert report.figure_title("timing", None) in unescape(html)
    assert "no wall-time verdict rests on this figure" in report.figure_title("timing", None)
    assert "same figure" not in report.figure_title("timing", None)
    assert report.figure_title("timing", None, 3).endswith(
        " (the same figure in all 3 conditions that share these training jobs)"
    )
    assert report.figure_title("curves", None, 3) == report.PLOTS["curves"]
    assert "-timing-repeats" not in html
    # the Timing definition defines the drift and why the wall time decides no claim here
    timing = re.search(r"<dt>Timing</dt>\s*<dd>(.*?)</dd>", html, re.S).group(1)
    timing = " ".join(unescape(timing).split())
    assert "median seconds of its last epochs over the median of its first ones" in timing
    assert "fold change of at least 1" in timing
    assert f"the wall time gives no verdict: {claims.NO_REPEATS_REASON};" in timing
    assert f"in claim 4 {claims.EPOCHS_ONLY}." in timing
    rng = np.random.default_rng(0)
    repeats = pd.DataFrame(
        {
            "dataset": "blobs",
            "optimizer": "adam",
            "budget": "e20",
            "batch_size": b,
            "repeat": r,
            "order": i,
            "epochs": 1,
            "seconds_per_epoch": 0.4 / b**0.5 * np.exp(rng.normal(0, 0.05)),
            "seconds_per_step": 0.001,
            "replicas": len(cfg["seeds"]),
        }
        for r in range(5)
        for i, b in enumerate(cfg["batch_sizes"])
    )
    agg = tmp_path / D.aggregate
    tables = aggregate(
        sorted((tmp_path / D.train).rglob("history.tsv")),
        agg,
        cfg["metrics"],
        log=lambda m: None,
    )
    found = tmp_path / D.findings
    settings = IntervalSettings.from_metrics(cfg["metrics"])
    write_json(found, findings.analyze(tables["runs"], tables["summary"], settings, repeats))
    render_report(
        found,
        agg / "jobs.tsv",
        tmp_path / D.plots,
        tmp_path / D.results / "config.json",
        TEMPLATE,
        out,
    )
    html = out.read_text()
    text = " ".join(_visible_text(html).split())
    assert (
        "In every condition a timing stage re-timed every batch size in interleaved repeats" in text
    )
    assert (
        "intervals (t-interval of log seconds over timing repeats (geometric mean)) are over"
        in text
    )
    assert "Unit of replication: one timing repeat (5 interleaved timing repeats," in text
    assert claims.NO_REPEATS_REASON not in text  # every condition timed: the wall time decides
    # the timing figure's caption names the repeats beside the training jobs' clocks
    assert report.figure_title("timing", {"repeats": 5}) in unescape(text)
    assert "the numbers claims 1 and 4 rest on" in report.figure_title("timing", {"repeats": 5})
    rows = re.findall(r"<tr><td>(\d+)</td><td>[^<]*over repeats, n = 5\)</td></tr>", html)
    assert rows == [str(b) for b in sorted(cfg["batch_sizes"])]
    for b in cfg["batch_sizes"]:
        assert re.search(
            rf"<td>{b}</td><td>[\d.]+ ms \[[\d.]+ ms, [\d.]+ ms\] "
            r"\(log-t over repeats, n = 5\)</td>",
            html,
        ), b
    assert "paired log-t over repeats, n = 5" in text  # claim 1's evidence, tagged
    for word in ("nan", "inf", "null", "undefined"):
        assert not re.search(rf"\b{word}\b", text, flags=re.I), word
    assert not re.search(r"\bNone\b", text)
    assert not re.search(r"<td>\s*</td>", html)
    # The repeats table downloads as data like every other table, with the same numbers.
    links = dict(re.findall(r'<a download="([^"]+)" href="data:text/tab-separated-values;'
                            r'charset=utf-8;base64,([^"]+)"', html))  # fmt: skip
    assert len(links) == html.count("<table>")
    tsv = pd.read_csv(
        io.StringIO(base64.b64decode(links["default-c1-timing-repeats.tsv"]).decode()), sep="\t"
    )
    per_b = json.loads(found.read_text())["conditions"][0]["timing_repeats"]["seconds_per_epoch"]
    assert list(tsv["batch_size"]) == sorted(cfg["batch_sizes"])
    for field in ("estimate", "lo", "hi", "n"):
        assert np.allclose(
            tsv[f"seconds_per_epoch_{field}"], [per_b[str(b)][field] for b in tsv["batch_size"]]
        ), field


def test_a_missing_target_reads_as_a_phrase_not_none_or_nan():
    """A condition whose runs all diverged has no target value: a phrase, never None/nan."""
    assert target_value(0.4567) == "0.457"
    for missing in (None, float("nan"), float("inf")):
        assert target_value(missing) == NO_TARGET


@pytest.mark.parametrize("states", [[1, 2, 3], [1, 2]])
def test_dataset_draws_are_pooled_in_a_section_of_their_own(tmp_path, cfg, states):
    """Three (or two: no verdict) draws of one dataset: their own sections, and one pooled
    table whose sentence says the intervals cover draws; no nan/inf/empty cell."""
    cfg = config.validate(
        {
            "datasets": {"blobs": {"kind": "blobs", "random_state": states}},
            "epochs": 5,
            "seeds": [0, 1, 2],
            "batch_sizes": [4, 64],
            "metrics": {"bootstrap": 200},
        }
    )
    conds = [(d, "adam", "constant", "e5") for d in cfg["datasets"]]
    html = build(tmp_path, cfg, conds).read_text()
    found = json.loads((tmp_path / D.findings).read_text())
    (group,) = found["pooled_draws"]
    assert group["n_draws"] == len(states) and group["datasets"] == sorted(cfg["datasets"])
    assert html.index('id="draws"') < html.index("<h2>The experiment</h2>")
    assert f"n = {len(states)} draws of blobs" in html
    assert "The per-condition sections cover seeds within one draw." in html
    assert "pooled in the section across dataset draws" in html
    assert "t over draws" in html and "paired t over draws" in html
    verdict = group["comparisons"]["64"]["verdict"]
    assert verdict in html and (verdict == "inconclusive") == (len(states) < 3)
    text = _visible_text(html)
    for word in ("nan", "inf", "null", "undefined"):
        assert not re.search(rf"\b{word}\b", text, flags=re.I), word
    assert not re.search(r"<td>\s*</td>", html)
    links = dict(re.findall(r'<a download="([^"]+)" href="data:text/tab-separated-values;'
                            r'charset=utf-8;base64,([^"]+)"', html))  # fmt: skip
    pooled = pd.read_csv(io.StringIO(base64.b64decode(links["default-draws-1.tsv"]).decode()),
                         sep="\t")  # fmt: skip
    assert list(pooled["batch_size"]) == [4, 64]
    assert np.allclose(
        pooled["final_test_accuracy_estimate"],
        [c["final_test_accuracy"]["estimate"] for c in group["cells"]],
    )
    diff = group["comparisons"]["64"]
    assert pooled["difference_from_reference_estimate"].iloc[1] == pytest.approx(diff["estimate"])


def test_a_study_without_draws_has_no_pooled_section(tmp_path, cfg):
    html = build(tmp_path, cfg, [("blobs", "adam", "constant", "e20")]).read_text()
    assert json.loads((tmp_path / D.findings).read_text())["pooled_draws"] == []
    assert 'id="draws"' not in html
    # no sentence points to sections this report does not have
    assert "across dataset draws" not in _visible_text(html)
    assert 'href="#tuning"' not in html and "This study also tunes" not in html
    # an optimizer named like its kind is named once
    assert "<code>adam</code>, base lr" in html and "= adam" not in html


def test_layer_words_name_what_defines_each_layer():
    from batchstudy.engines.models import layer_words

    he = {"module": "keras.initializers", "class_name": "HeUniform", "config": {"seed": None}}
    dense = {"name": "d", "units": 64, "activation": "relu", "kernel_initializer": he}
    assert layer_words("Dense", dense) == "Dense(64, relu, he_uniform)"
    assert layer_words("Dropout", {"name": "x", "rate": 0.2, "seed": None}) == "Dropout(0.2)"
    assert layer_words("Dense", dense | {"activation": "linear", "units": 3}) == (
        "Dense(3, he_uniform)"
    )
    assert layer_words("Conv2D", {"filters": 8, "kernel_size": (3, 3)}) == "Conv2D(8, 3×3)"
    assert layer_words("Flatten", {"name": "f", "data_format": "channels_last"}) == "Flatten"


def test_a_custom_model_is_described_and_the_unused_mlp_keys_are_marked(tmp_path):
    """The Experiment section gives the custom model's layers and parameters from the
    check_model stage's file; the config dump marks the MLP keys (all defaults here) as not
    used instead of showing them as if they shaped the model."""
    import html as html_lib

    from batchstudy.report import NOT_USED_BY_CUSTOM, custom_model_words, shown_config

    cfg = config.validate(
        {
            "epochs": 6,
            "seeds": [0, 1, 2],
            "batch_sizes": [8, 32, 128],
            "metrics": {"bootstrap": 100},
            "model": {"custom": "config/models/dropout_mlp.py:build"},
        }
    )
    layers = ["Dense(64, relu, he_uniform)", "Dropout(0.2)", "Dense(3, softmax)"]
    check = tmp_path / "model_check.json"
    data = f"{D.data}/blobs.npz"
    write_json(check, {"layers": {data: layers}, "parameters": {data: 515}})
    cond = ("blobs", "adam", "constant", "e6")
    paths = [write_fake_job(tmp_path, cond, b, cfg["seeds"], cfg["epochs"]) for b in (8, 32, 128)]
    out = render_fake_report(tmp_path, cfg, paths, [fake_condition(cond)], model_check=check)
    text = html_lib.unescape(out.read_text())
    described = "Dense(64, relu, he_uniform) → Dropout(0.2) → Dense(3, softmax), 515 parameters"
    assert f"custom config/models/dropout_mlp.py:build: {described}" in re.sub(r"<[^>]+>", "", text)
    assert "MLP, hidden layers" not in text
    dump = text[text.index("The validated config") :]
    for key in ("hidden_layers", "activation", "initializer"):
        assert f'"{key}": "{NOT_USED_BY_CUSTOM}"' in dump
    assert '"custom": "config/models/dropout_mlp.py:build"' in dump
    # an MLP config is dumped as it is; a check file without layers says so
    mlp = config.validate({"epochs": 6})
    assert shown_config(mlp) is mlp and shown_config(cfg)["model"]["custom"]
    assert "not recorded" in custom_model_words({"parameters": {data: 515}})
    two = {"layers": {"a.npz": layers, "b.npz": layers[:2] + ["Dense(10, softmax)"]}}
    assert custom_model_words(two).startswith("on a: Dense(64")


def test_experiment_words_follow_the_config():
    """Number agreement, kinds said only where they add something, hidden layers in words,
    the reference batch size only for scaled arms, and a custom model's engine override."""
    assert report.hidden_layer_words([50]) == "one hidden layer of 50 units"
    assert report.hidden_layer_words([64, 32]) == "hidden layers of 64 and 32 units"
    assert report.hidden_layer_words([8, 4, 2]) == "hidden layers of 8, 4 and 2 units"
    assert report.dataset_words("blobs", {"kind": "blobs"}) == ""
    assert report.dataset_words("toy", {"kind": "moons"}) == "moons"
    assert report.dataset_words("example", {"kind": "csv", "path": "a.csv"}) == "csv, a.csv"
    scaling = {"reference_batch_size": 32, "warmup_steps": 0, "warmup_epochs": 0}
    constant = report.arms_words(scaling | {"arms": ["constant"]})
    assert "reference batch size" not in constant and "warmup" not in constant
    scaled = report.arms_words(scaling | {"arms": ["constant", "linear"]})
    assert scaled.endswith("(reference batch size 32; no warmup)")
    mlp = {"engine": "fused", "model": {"custom": None}}
    custom = {"engine": "fused", "model": {"custom": "m.py:build"}}
    fused = f"fused ({report.ENGINE_HOW['fused']})"
    keras = f"Keras ({report.ENGINE_HOW['keras']})"
    assert report.engine_words(mlp, ["fused"]) == f"Training engine: {fused}"
    assert report.engine_words(mlp, ["fused", "keras"]) == f"Training engines: {fused}, {keras}"
    assert report.setting_words("beta_1", 0.9) == "β₁ = 0.9"
    assert report.setting_words("nesterov", False) == "no Nesterov momentum"
    assert report.engine_words(custom, ["keras"]) == (
        f"Training engine: {keras} (custom models train with the Keras engine; the configured "
        "engine 'fused' does not apply)"
    )
    assert "does not apply" not in report.engine_words(custom | {"engine": "keras"}, ["keras"])


def _split(name, n_train, n_val, own):
    val = "own" if own else "test"
    return {"dataset": name, "n_train": n_train, "n_val": n_val, "val_split": val}


def test_batch_sizes_that_do_not_fit_the_training_rows_are_named():
    splits = [_split("blobs", 400, 100, True), _split("digits", 898, 899, False)]
    notes = report.batch_size_notes(splits, [4, 256, 512])
    assert notes == [
        "B = 512 exceeds the 400 training rows of blobs: it trains full-batch (one step of 400 "
        "rows per epoch)",
        "an epoch on the 400 training rows of blobs ends with a partial batch at 1 batch size "
        "(full batches × B + the last batch's rows): B = 256: 1 × 256 + 144 rows",
        "an epoch on the 898 training rows of digits ends with a partial batch at 3 batch sizes "
        "(full batches × B + the last batch's rows): B = 4: 224 × 4 + 2 rows; B = 256: 3 × 256 "
        "+ 130 rows; B = 512: 1 × 512 + 386 rows",
    ]
    assert report.batch_size_notes(splits[:1], [4, 8]) == []
    both = report.batch_size_notes([_split("blobs", 400, 100, True)], [400, 512])
    assert both[0].startswith("B ∈ {400, 512} are at least the 400 training rows of blobs")
    assert report.batch_size_notes([_split("b", 400, 1, True)], [400])[0].startswith(
        "B = 400 equals"
    )
    datasets = {"blobs": {"n_train": 500, "n_val": 100}, "digits": {"test_fraction": 0.5}}
    assert report.config_n_train_notes(splits, datasets) == [
        "the config's n_train = 500 of blobs counts training and validation rows "
        "(400 train + 100 validation)"
    ]
    assert report.sentences([], report.NOMINAL_B) == ""
    assert report.sentences(["a b", "c"], "D.") == "A b. C. D."


def test_median_intervals_below_six_seeds_are_named_as_the_seeds_range():
    assert report.interval_note(6, 0.95).startswith("Point estimate [95% interval] over seeds")
    five = report.interval_note(5, 0.95)
    assert "[95% interval]" not in five
    assert "at most the range of the seeds (coverage ≤ 93.75%, not 95%)" in five
    # the overview's steps bars: the method named, at five seeds as the seeds' range
    assert report.overview_bars(6, 0.95) == (
        "bars: censored-median percentile bootstrap over seeds, nominal 95% (its coverage at "
        "6 seeds not checked)"
    )
    assert report.overview_bars(5, 0.95).endswith(
        "at 5 seeds at most the seeds' range (coverage ≤ 93.75%, not 95%)"
    )


def test_the_overview_caption_names_its_steps_bars_method(tmp_path, cfg):
    html = build(tmp_path, cfg, [("blobs", "adam", "constant", "e20")]).read_text()
    caption = re.search(r"<h2 id=\"overview\">.*?<figcaption>(.*?)</figcaption>", html, re.S)
    words = " ".join(unescape(caption.group(1)).split())
    assert report.overview_bars(len(cfg["seeds"]), 0.95) in words
    assert "coverage ≤ 87.5%" in words  # four seeds


def test_catalogue_counts_read_in_the_number_they_take(tmp_path):
    summary = {
        "study": "one",
        "title": "One",
        "report": "one/index.html",
        "date": "d",
        "config_hash": "h",
        "code_version": {"describe": "c"},
        "n_conditions": 1,
        "headline": ["x"],
    }
    paths = []
    for name, n in (("one", 1), ("two", 3)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(summary | {"study": name, "n_conditions": n}))
        paths.append(path)
    template = ROOT / "workflow" / "report" / "catalogue.html.j2"
    assert set(summary) == set(catalogue.SUMMARY_KEYS)
    render_catalogue(paths, template, tmp_path / "index.html")
    html = (tmp_path / "index.html").read_text()
    assert "2 study reports in this project" in html
    assert "· 1 condition</p>" in html and "· 3 conditions</p>" in html
    assert "(s)" not in html and "(ies)" not in html


def test_the_runs_cell_says_the_means_leave_diverged_runs_out():
    assert report.runs_cell({"n_runs": 10, "n_diverged": 0}) == "10"
    assert report.runs_cell({"n_runs": 10, "n_diverged": 4}) == (
        "10 (4 diverged, excluded from the means: n = 6)"
    )
    assert report.runs_cell({"n_runs": 10, "n_diverged": 10}) == "10 (all diverged)"


def _tsv(uri: str) -> str:
    return base64.b64decode(uri.split("base64,", 1)[1]).decode("utf-8")


def test_downloads_have_no_empty_cells_and_say_no_gpu_as_the_page_does():
    """An effect without a verdict (a mean, a median) adds no empty verdict column and no "[]"
    boundaries; a judged one keeps both; the provenance's empty GPU list reads as on the page."""
    from batchstudy.stats import Effect

    mean = Effect(0.8, 0.7, 0.9, 5, "t-interval over seeds").to_dict()
    judged = Effect(-0.1, -0.2, -0.05, 5, "paired", verdict="different", boundaries=(-0.01, 0.01))
    cells = [{"batch_size": 4, "m": mean, "d": judged.to_dict()}, {"batch_size": 8, "m": mean}]
    text = _tsv(report.tsv_uri(pd.DataFrame([report._flat(c, list(c)) for c in cells])))
    header, *rows = [line.split("\t") for line in text.splitlines()]
    assert "m_verdict" not in header and "m_boundaries" not in header
    assert "d_verdict" in header and rows[0][header.index("d_boundaries")] == "-0.01 0.01"
    assert all(cell != "" and cell != "[]" for row in rows for cell in row)
    prov = {"study": "s", "gpu_slots": [], "versions": {}, "code_version": {"commit": "c"}}
    prov["code_version"]["dirty"] = False
    assert "gpu_slots\tnone (CPU)" in _tsv(report.provenance_tsv(prov))


def test_definitions_speak_of_few_seeds_only_where_a_section_has_them():
    assert report.few_seeds([10, 10], 0.95) is None
    few = report.few_seeds([10, 5], 0.95)
    assert few == {"n": 5, "enough": 6, "coverage": "93.75%", "level": "95%"}


def test_the_training_jobs_clock_is_named_and_compared_with_the_timing_stage():
    """Seconds to target are estimated on the training jobs' clocks; the largest fold change
    between that clock and the timing stage's repeats is given where both exist."""
    assert report.target_header("seconds").startswith("seconds, estimated")
    assert "training job's median s/epoch" in report.target_header("seconds")
    assert report.target_header("steps") == "steps (median)"

    def cond(label, job, rep):
        cells = [
            {
                "batch_size": b,
                "seconds_per_epoch": {"estimate": j, "lo": j, "hi": j, "n": 100, "method": "m"},
            }
            for b, j in job.items()
        ]
        per_b = {
            str(b): {"estimate": r, "lo": r, "hi": r, "n": 5, "method": "m"} for b, r in rep.items()
        }
        keys = {"dataset": label, "optimizer": "adam", "lr_scaling": "linear", "base_lr": 0.01}
        return {
            "label": label,
            "keys": keys | {"budget": "e100"},
            "cells": cells,
            "timing_repeats": {"seconds_per_epoch": per_b},
        }

    conditions = [
        cond("a", {4: 0.01, 8: 0.002}, {4: 0.011, 8: 0.008}),
        cond("b", {4: 0.03}, {4: 0.01}),
        {"label": "c", "cells": [], "timing_repeats": None},
    ]
    # the clock is the training job's: named without the lr arm and rate it trains with others
    assert report.clock_gap(conditions) == "4.00× (B = 8, the a · adam · 100 epochs training job)"
    assert report.clock_gap(conditions[2:]) == ""


def test_the_drift_within_a_job_names_its_window():
    """Claim 1's drift note says over how many epochs at each end the drift is measured, and
    the Definitions give the same number."""
    from batchstudy.aggregate import DRIFT_EPOCHS

    s = pd.DataFrame(
        {"batch_size": [4, 128], "timing_drift": [1.0, 0.826], "timing_streams": [1, 1]}
        | {"seed": [-1, -1]}
    )
    text = claims._stream_note(s, [4, 128])
    assert f"the median of its last {DRIFT_EPOCHS} epochs took 0.826× the time of its first" in text
    template = (ROOT / "workflow" / "report" / "index.html.j2").read_text(encoding="utf-8")
    assert "{{ drift_epochs }}\n  epochs at each end" in template


def test_a_step_budget_says_it_is_rounded_up_to_whole_epochs_with_the_steps_run():
    """A job trains whole epochs: 1000 steps at 500 training rows run 1,008 steps at B = 8
    (16 epochs of 63) and 1,024 at B = 16 (32 of 32); an epoch budget reads as configured."""
    splits = [{"dataset": "blobs", "n_train": 500}]
    text = report.budget_words("s1000", splits, [4, 8, 16])
    assert text == (
        "1000 steps, rounded up to whole epochs (blobs: 1,000 to 1,024 steps run over the "
        "batch sizes)"
    )
    assert report.budget_words("s1000", splits, [4]) == (
        "1000 steps, rounded up to whole epochs (blobs: 1,000 steps run over the batch sizes)"
    )
    assert report.budget_words("e100", splits, [4, 8]) == "100 epochs"


def test_the_definitions_define_the_critical_batch_size_and_print_no_ascii_minus():
    from batchstudy.stats import BOUNDED_NOTE

    template = (ROOT / "workflow" / "report" / "index.html.j2").read_text(encoding="utf-8")
    assert "S(B) = S_min · (1 + B_crit / B) = S_min + E_min / B" in template
    assert "B_crit = E_min / S_min" in template and "common budget" not in template
    assert "[-1, 1]" not in BOUNDED_NOTE and "[−1, 1]" in BOUNDED_NOTE


def test_the_definitions_state_the_pooled_bootstraps_simulated_coverage():
    template = (ROOT / "workflow" / "report" / "index.html.j2").read_text(encoding="utf-8")
    claim_2 = template.split("<dt>Claim 2's comparison</dt>")[1].split("</dd>")[0]
    assert "{{ findings.settings.pooled_coverage }}" in claim_2
    assert "not\n  checked" not in claim_2 and "not checked" not in claim_2


def test_conditions_that_share_training_jobs_are_counted_for_the_shared_timing_figure():
    """Rates and lr arms of one (dataset, optimizer, budget) train in the same jobs; another
    budget or optimizer is another job."""

    def cond(**keys):
        base = {"dataset": "a", "optimizer": "adam", "budget": "e100", "lr_scaling": "constant"}
        return {"keys": base | keys}

    conditions = [
        cond(base_lr=0.001),
        cond(base_lr=0.01),
        cond(base_lr=0.001, lr_scaling="linear"),
        cond(base_lr=0.001, budget="s1000"),
        cond(base_lr=0.001, optimizer="sgd"),
    ]
    assert report.job_sharing(conditions) == [3, 3, 3, 1, 1]
