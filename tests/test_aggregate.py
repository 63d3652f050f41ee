"""Aggregation of job files into the study's tables (synthetic jobs, no TensorFlow)."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import write_fake_job

from batchstudy import config, metrics
from batchstudy.aggregate import aggregate, job_keys
from batchstudy.io import FormatError

SETTINGS = config.validate({})["metrics"] | {"bootstrap": 200}


def test_tables_and_per_batch_size_summary(fake_study, tmp_path):
    out = tmp_path / "agg"
    tables = aggregate(fake_study["paths"], out, SETTINGS, log=lambda m: None)
    for name in ("history", "timing", "jobs", "runs", "summary"):
        assert (out / f"{name}.tsv").is_file()
    hist = tables["history"]
    assert len(hist) == 8 * 5 * 30
    assert list(hist.columns) == list(metrics.HISTORY_COLUMNS)
    assert list(hist.columns[:9]) == [
        "dataset",
        "optimizer",
        "lr_scaling",
        "base_lr",
        "budget",
        "batch_size",
        "seed",
        "learning_rate",
        "epoch",
    ]
    s = tables["summary"].set_index("batch_size")
    # iterations per epoch are ceil(500 / B): the partial batch is a step, 512 gives 1
    assert s.loc[4, "steps_per_epoch"] == 125
    assert s.loc[32, "steps_per_epoch"] == 16
    assert s.loc[512, "steps_per_epoch"] == 1
    assert (s["final_val_accuracy_lo"] <= s["final_val_accuracy_mean"]).all()
    assert (s["final_val_accuracy_mean"] <= s["final_val_accuracy_hi"]).all()
    # fused timing: joint epoch / replicas is the per-model epoch time
    assert s.loc[4, "seconds_per_step"] == pytest.approx(s.loc[4, "seconds_per_epoch_median"] / 125)


def test_same_inputs_same_bytes(fake_study, tmp_path):
    aggregate(fake_study["paths"], tmp_path / "a", SETTINGS, log=lambda m: None)
    aggregate(list(reversed(fake_study["paths"])), tmp_path / "b", SETTINGS, log=lambda m: None)
    for name in ("history", "runs", "summary"):
        assert (tmp_path / "a" / f"{name}.tsv").read_bytes() == (
            tmp_path / "b" / f"{name}.tsv"
        ).read_bytes()


def test_a_second_process_writes_the_same_bytes_and_its_errors_surface(fake_study, tmp_path):
    """`beside(2)`: the collected tables are written by a forked process while the metrics
    are computed; the files are those of one process, and a write that fails in the worker
    raises once the block ends."""
    from batchstudy.aggregate import beside, write_tables

    aggregate(fake_study["paths"], tmp_path / "one", SETTINGS, log=lambda m: None)
    with beside(2) as submit:
        aggregate(fake_study["paths"], tmp_path / "two", SETTINGS, log=print, submit=submit)
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "two").iterdir()) and len(names) == 5
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError), beside(2) as submit:  # a file where the directory must be
        submit(write_tables, tmp_path / "file" / "sub", {"x": pd.DataFrame({"a": [1]})})


def test_diverged_runs_are_kept_and_marked(tmp_path):
    cond = ("blobs", "sgd", "constant", "e10")
    paths = [
        write_fake_job(tmp_path, cond, b, [0, 1, 2], 10, diverged_seeds=(1,) if b == 8 else ())
        for b in (8, 32)
    ]
    t = aggregate(paths, tmp_path / "agg", SETTINGS, log=lambda m: None)
    runs = t["runs"].set_index(["batch_size", "seed"])
    assert bool(runs.loc[(8, 1), "diverged"]) is True
    assert pd.isna(runs.loc[(8, 1), "final_val_accuracy"])
    assert int(t["summary"].set_index("batch_size").loc[8, "n_diverged"]) == 1


def test_truncated_history_names_the_file(fake_study, tmp_path):
    p = fake_study["paths"][0]
    lines = p.read_text().splitlines()
    p.write_text("\n".join(lines[:-5]) + "\n")
    with pytest.raises(FormatError, match=rf"{p}.*truncated"):
        aggregate(fake_study["paths"], tmp_path / "agg", SETTINGS)


def test_a_bad_history_leaves_the_tables_of_an_earlier_run_as_they_were(fake_study, tmp_path):
    """The stage reads and checks every input before it writes a table, the extra tables
    (evaluations, timing repeats) included, also when a second process writes them."""
    import json

    from batchstudy import cli

    out = tmp_path / "agg"
    paths = [str(p) for p in fake_study["paths"]]
    argv = ["aggregate", "--out-dir", str(out), "--settings", json.dumps(SETTINGS)]
    argv += ["--threads", "2", *paths]
    assert cli.main(argv) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert len(before) == 7
    evals = fake_study["paths"][0].parent / "evals.tsv"  # new evaluations, a valid file ...
    rows = evals.read_text().splitlines()
    evals.write_text("\n".join([rows[0], *(r.rsplit("\t", 1)[0] + "\t0.5" for r in rows[1:])]))
    p = fake_study["paths"][-1]  # ... and a truncated history
    p.write_text("\n".join(p.read_text().splitlines()[:-5]) + "\n")
    assert cli.main(argv) == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_wrong_columns_name_the_file(fake_study, tmp_path):
    p = fake_study["paths"][1]
    p.write_text(p.read_text().replace("val_accuracy", "val_acc"))
    with pytest.raises(FormatError, match=rf"{p} lacks column"):
        aggregate(fake_study["paths"], tmp_path / "agg", SETTINGS)


def test_job_keys_come_from_the_path():
    k = job_keys("results/train/digits/sgd/s2000/bs64/history.tsv")
    assert k == {"dataset": "digits", "optimizer": "sgd", "budget": "s2000", "batch_size": 64}
    with pytest.raises(FormatError):
        job_keys("somewhere/else/history.tsv")


def test_several_learning_rate_variants_in_one_job(tmp_path):
    """Arms and base rates are runs of the same job; each becomes its own condition."""
    paths = set()
    for arm, lr in (("constant", 0.001), ("linear", 0.001), ("constant", 0.01)):
        for b in (8, 32):
            paths.add(
                write_fake_job(tmp_path, ("blobs", "adam", arm, "e10"), b, [0, 1], 10, base_lr=lr)
            )
    t = aggregate(sorted(paths), tmp_path / "agg", SETTINGS, log=lambda m: None)
    assert len(t["jobs"]) == 2
    conds = t["summary"][["lr_scaling", "base_lr"]].drop_duplicates()
    assert sorted(map(tuple, conds.to_numpy().tolist())) == [
        ("constant", 0.001),
        ("constant", 0.01),
        ("linear", 0.001),
    ]
    assert len(t["runs"]) == 3 * 2 * 2


def test_a_missing_variant_names_the_file(tmp_path):
    p = write_fake_job(tmp_path, ("blobs", "adam", "constant", "e5"), 8, [0, 1], 5)
    write_fake_job(tmp_path, ("blobs", "adam", "linear", "e5"), 8, [0, 1], 5)
    lines = p.read_text().splitlines()
    p.write_text("\n".join(line for line in lines if "linear" not in line) + "\n")
    with pytest.raises(FormatError, match=rf"{p} has runs"):
        aggregate([p], tmp_path / "agg", SETTINGS)


def test_evals_and_timing_repeats_tables(fake_study, tmp_path):
    """evals.tsv: every job's evaluations with the run keys; timing_repeats.tsv: every timing
    file with its keys from the path, and a header-only table when there are none."""
    from batchstudy.aggregate import (
        EVALS_TABLE_COLUMNS,
        TIMING_REPEATS_TABLE_COLUMNS,
        extra_tables,
        write_tables,
    )
    from batchstudy.io import TIMING_REPEAT_COLUMNS

    timing = tmp_path / "results/timing/blobs/adam/e30/timing_repeats.tsv"
    timing.parent.mkdir(parents=True)
    rows = [(b, r, o, 5, 0.01 * b, 0.001, 5) for r in (2, 1) for o, b in enumerate((8, 4), 1)]
    pd.DataFrame(rows, columns=list(TIMING_REPEAT_COLUMNS)).to_csv(timing, sep="\t", index=False)
    out = tmp_path / "agg"
    t = extra_tables(fake_study["paths"], [timing], log=lambda m: None)
    write_tables(out, t)
    e = pd.read_csv(out / "evals.tsv", sep="\t")
    assert list(e.columns) == list(EVALS_TABLE_COLUMNS) and len(e) == 8 * 5 * 30
    assert list(e.columns[:5]) == list(metrics.CONDITION_KEYS)
    b4 = e[(e.batch_size == 4) & (e.seed == 0)]
    assert b4.step.tolist() == [125 * k for k in range(1, 31)]
    r = pd.read_csv(out / "timing_repeats.tsv", sep="\t")
    assert list(r.columns) == list(TIMING_REPEATS_TABLE_COLUMNS)
    assert r[["repeat", "order"]].to_numpy().tolist() == [[1, 1], [1, 2], [2, 1], [2, 2]]
    assert (r.dataset == "blobs").all() and (r.budget == "e30").all()
    assert len(t["timing_repeats"]) == 4
    write_tables(out, extra_tables(fake_study["paths"], [], log=lambda m: None))
    empty = pd.read_csv(out / "timing_repeats.tsv", sep="\t")
    assert empty.empty and list(empty.columns) == list(TIMING_REPEATS_TABLE_COLUMNS)
