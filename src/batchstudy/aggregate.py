"""Collect every training job's files into the study's tables.

A job's directory is ``results/train/<dataset>/<optimizer>/<budget>/bs<B>/``; the job's keys
are read back from that path and each run's learning-rate arm, base rate and seed from the
job's history rows, so the aggregate needs no other manifest. Tables written (all TSV, see
README "File formats"):

- ``history.tsv``: condition keys, batch_size, seed, learning_rate, epoch and the per-epoch
  metrics (`batchstudy.io.EPOCH_METRICS`).
- ``timing.tsv``: job keys, seed, epoch, seconds, replicas, engine (one timing stream per job).
- ``jobs.tsv``: one row per job: engine, Keras backend and its version, device, replicas,
  epochs, steps per epoch, graph-building seconds, median seconds per model-epoch and per
  step, total seconds, and the job's TensorFlow version (empty on other backends), op
  determinism, whether oneDNN's CPU kernels ran (TensorFlow only), threads and GPU slot (the
  report's provenance).
- ``runs.tsv``: one row per run (condition, batch size, seed) with its convergence metrics.
- ``summary.tsv``: one row per (condition, batch size) with means, medians and 95% CIs.
- ``evals.tsv`` (`collect_evals`): condition keys, batch_size, seed, learning_rate, step,
  epoch and the validation/test metrics of every evaluation of every run.
- ``timing_repeats.tsv`` (`collect_timing_repeats`): job keys and the timing stage's
  repeats (`io.TIMING_REPEAT_COLUMNS`); no rows when the study has no timing stage.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import multiprocessing
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import metrics, stats
from .io import (
    EVAL_COLUMNS,
    HISTORY_COLUMNS,
    RUN_ID_COLUMNS,
    TIMING_COLUMNS,
    TIMING_REPEAT_COLUMNS,
    FormatError,
    read_table,
    write_table,
)
from .metrics import JOB_KEYS, RUN_KEYS
from .spec import TrainSpec, steps_per_epoch
from .stats import IntervalSettings

_JOB_DIR = re.compile(
    r"(?P<dataset>[^/]+)/(?P<optimizer>[^/]+)/(?P<budget>[es]\d+)/bs(?P<batch_size>\d+)$"
)
#: What tells the runs of one job apart in its history (the learning rate follows the arm).
_REPLICA_KEYS = ["lr_scaling", "base_lr", "seed"]


def job_keys(history_path: str | Path) -> dict[str, Any]:
    """Condition and batch size of a job, read from its directory."""
    parent = Path(history_path).parent.as_posix()
    m = _JOB_DIR.search(parent)
    if not m:
        raise FormatError(
            f"history file {history_path} is not in a job directory "
            "<dataset>/<optimizer>/<budget>/bs<B>/"
        )
    keys: dict[str, Any] = m.groupdict()
    keys["batch_size"] = int(keys["batch_size"])
    return keys


def _replica_ids(df: pd.DataFrame) -> list[tuple[str, float, int]]:
    return sorted(
        (str(a), float(lr), int(s)) for a, lr, s in df[_REPLICA_KEYS].drop_duplicates().to_numpy()
    )


def _check_history(df: pd.DataFrame, path: Path, epochs: int, spec: TrainSpec | None) -> None:
    """A truncated or foreign file must fail here, naming itself, not skew the report."""
    have = _replica_ids(df)
    if spec is not None:
        ran = sorted((v.lr_scaling, v.base_lr, s) for v, s in spec.replicas)
        if have != ran:
            raise FormatError(
                f"history file {path} has runs (lr arm, base lr, seed) {have}, its job ran {ran}"
            )
    counts = df.groupby(_REPLICA_KEYS)["epoch"].count()
    short = counts[counts != epochs]
    if len(short):
        raise FormatError(
            f"history file {path} is truncated: expected {epochs} epochs per run, "
            f"run(s) (lr arm, base lr, seed) {short.index.tolist()} have {short.tolist()}"
        )


def load_job(history_path: str | Path) -> dict[str, Any]:
    """Read one job's three files and check them against each other."""
    hp = Path(history_path)
    keys = job_keys(hp)
    meta_path = hp.parent / "run.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise FormatError(f"job metadata {meta_path} is missing or not JSON: {exc}") from exc
    hist = read_table(hp, HISTORY_COLUMNS, what="history")
    timing = read_table(hp.parent / "timing.tsv", TIMING_COLUMNS, what="timing")
    spec = TrainSpec(**meta["spec"]) if "spec" in meta else None
    epochs = int(spec.epochs if spec is not None and spec.epochs else hist["epoch"].max())
    _check_history(hist, hp, epochs, spec)
    return {"keys": keys, "meta": meta, "history": hist, "timing": timing, "epochs": epochs}


def _job_row(job: dict[str, Any]) -> dict[str, Any]:
    keys, meta, timing = job["keys"], job["meta"], job["timing"]
    n_train = int(meta["n_train"])
    spe = steps_per_epoch(n_train, keys["batch_size"])
    # One model's epoch: with the fused engine R seeds share each measured epoch.
    model_epoch = float((timing["seconds"] / timing["replicas"]).median())
    return {
        **keys,
        "engine": meta["engine"],
        # Jobs written before backends existed ran on TensorFlow.
        "backend": meta.get("backend", "tensorflow"),
        "backend_version": meta.get("backend_version", meta.get("tensorflow", "")),
        "device": meta.get("device", ""),
        "epochs": job["epochs"],
        "n_train": n_train,
        "steps_per_epoch": spe,
        "setup_seconds": float(meta.get("setup_seconds", np.nan)),
        "seconds_per_epoch": model_epoch,
        "seconds_per_step": model_epoch / spe,
        "train_seconds_total": float(timing["seconds"].sum()),
        "replicas": int(timing["replicas"].max()),
        "tensorflow": meta.get("tensorflow", ""),
        "op_determinism": meta.get("op_determinism", ""),
        "onednn": meta.get("onednn", ""),
        "threads": meta.get("threads", ""),
        "gpu_slot": meta.get("gpu_slot"),
    }


def collect(history_paths: Sequence[str | Path]) -> dict[str, pd.DataFrame]:
    """The long tables of all jobs, sorted so that equal inputs give equal bytes."""
    hist_parts, time_parts, job_rows = [], [], []
    for path in history_paths:
        job = load_job(path)
        k = job["keys"]
        hist_parts.append(job["history"].assign(**k))
        time_parts.append(job["timing"].assign(**k, engine=job["meta"]["engine"]))
        job_rows.append(_job_row(job))
    order = [*RUN_KEYS, "epoch"]
    history = pd.concat(hist_parts, ignore_index=True)
    history = history[list(metrics.HISTORY_COLUMNS)].sort_values(order).reset_index(drop=True)
    timing = pd.concat(time_parts, ignore_index=True)
    time_order = [*JOB_KEYS, "seed", "epoch"]
    timing = timing[[*time_order, "seconds", "replicas", "engine"]].sort_values(time_order)
    jobs = pd.DataFrame(job_rows).sort_values(list(JOB_KEYS)).reset_index(drop=True)
    return {"history": history, "timing": timing.reset_index(drop=True), "jobs": jobs}


def run_facts(history: pd.DataFrame, jobs: pd.DataFrame) -> pd.DataFrame:
    """Per-run facts the convergence metrics need (steps and seconds per epoch)."""
    runs = history[list(RUN_KEYS)].drop_duplicates()
    cols = [*JOB_KEYS, "n_train", "steps_per_epoch", "seconds_per_epoch"]
    return runs.merge(jobs[cols], on=list(JOB_KEYS), how="left")


#: Epochs at each end of a job's timing stream compared to show drift within the job.
DRIFT_EPOCHS = 10


def timing_summary(timing: pd.DataFrame, settings: IntervalSettings) -> pd.DataFrame:
    """Per job: median seconds per model-epoch with an interval over the job's epochs, the
    number of independent timing streams, and the drift within the job.

    With the fused engine all replicas of a job share one clock (``seed = -1``): one timing
    stream per job, so the interval is over that job's epochs, which are not independent
    replicates (load and clock drift are shared). ``timing_drift`` is the median of the last
    `DRIFT_EPOCHS` epochs over the median of the first ones (1 = no drift).
    """
    rows = []
    for keys, t in timing.groupby(list(JOB_KEYS), sort=True):
        per_model = (t.sort_values("epoch")["seconds"] / t["replicas"]).to_numpy(dtype=float)
        e = stats.epoch_median(per_model, settings)
        k = max(1, min(DRIFT_EPOCHS, per_model.size // 2))
        drift = float(np.median(per_model[-k:]) / np.median(per_model[:k]))
        rows.append(
            dict(zip(JOB_KEYS, keys, strict=True))
            | {
                "seconds_per_epoch_median": e.estimate,
                "seconds_per_epoch_lo": e.lo,
                "seconds_per_epoch_hi": e.hi,
                "timing_streams": int(t["seed"].nunique()),
                "timing_drift": drift,
            }
        )
    return pd.DataFrame(rows)


#: Runs ``fn(*args, **kwargs)``, at once or beside the caller (`beside`).
Submit = Callable[..., None]


def _now(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    fn(*args, **kwargs)


@contextlib.contextmanager
def beside(workers: int) -> Iterator[Submit]:
    """A `Submit` for the aggregate's writing: with `workers` > 1 each call runs in one forked
    process beside the caller (its arguments pickled over), else at once. Leaving the block
    waits for every call and raises the first one's error, so no table is missing or partial
    (each is written through `write_table`'s atomic rename) when it returns."""
    if workers <= 1:
        yield _now
        return
    context = multiprocessing.get_context("fork")  # the worker inherits the imports
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        calls: list[concurrent.futures.Future] = []
        yield lambda fn, *a, **k: calls.append(pool.submit(fn, *a, **k))
        for call in calls:
            call.result()


def write_tables(out_dir: Path, tables: Mapping[str, pd.DataFrame]) -> None:
    """Each table as ``out_dir/<name>.tsv`` (`write_table`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        write_table(out_dir / f"{name}.tsv", df)


def aggregate(
    history_paths: Sequence[str | Path],
    out_dir: Path,
    settings: dict[str, Any],
    chance: Mapping[str, float] | None = None,
    log: Callable[[str], None] = print,
    chance_loss: Mapping[str, float] | None = None,
    submit: Submit = _now,
    extra: Mapping[str, pd.DataFrame] | None = None,
) -> dict[str, pd.DataFrame]:
    """Every job's files into the aggregate tables; ``chance``: dataset -> chance accuracy
    (`batchstudy.data.chance_accuracies`), which marks collapsed runs, and ``chance_loss``:
    dataset -> chance loss (`batchstudy.data.chance_losses`), which marks exploded losses
    (`metrics.run_metrics`). Nothing is written before every history is read and checked;
    then the collected history, timing and jobs tables, and `extra` (tables the caller has
    read, `extra_tables`), are written through `submit` (`beside`: while the run metrics
    are computed), the runs and the summary after them."""
    tables = collect(history_paths)
    submit(write_tables, out_dir, {**tables, **(extra or {})})
    facts = run_facts(tables["history"], tables["jobs"])
    runs = metrics.run_metrics(
        tables["history"],
        facts,
        window=settings["smoothing_window"],
        k_last=settings["plateau_last"],
        eps=settings["epsilon"],
        max_slope=settings["settling_max_slope"],
        target_fractions=settings["target_fractions"],
        chance=chance,
        chance_margin=settings["chance_margin"],
        chance_loss=chance_loss,
    )
    interval = IntervalSettings.from_metrics(settings)
    summary = metrics.summarize(runs, interval)
    summary = summary.merge(
        timing_summary(tables["timing"], interval), on=list(JOB_KEYS), how="left"
    )
    job_cols = [
        "engine",
        "epochs",
        "n_train",
        "steps_per_epoch",
        "setup_seconds",
        "seconds_per_epoch",
        "seconds_per_step",
        "train_seconds_total",
        "replicas",
    ]
    summary = summary.merge(tables["jobs"][[*JOB_KEYS, *job_cols]], on=list(JOB_KEYS), how="left")
    rates = tables["history"].groupby(list(metrics.CELL_KEYS))["learning_rate"].first()
    summary = summary.merge(rates.reset_index(), on=list(metrics.CELL_KEYS), how="left")
    write_tables(out_dir, {"runs": runs, "summary": summary})
    tables.update(runs=runs, summary=summary)
    n_div = int(runs["diverged"].sum())
    log(f"aggregated {len(history_paths)} job(s), {len(runs)} run(s), {n_div} diverged")
    return tables


# ---- step evaluations and timing repeats (tables of their own) ---------------------------

#: Columns of the aggregate ``evals.tsv``.
EVALS_TABLE_COLUMNS: tuple[str, ...] = (
    *RUN_KEYS,
    "learning_rate",
    *EVAL_COLUMNS[len(RUN_ID_COLUMNS) :],
)
#: Columns of the aggregate ``timing_repeats.tsv``.
TIMING_REPEATS_TABLE_COLUMNS: tuple[str, ...] = (
    *(k for k in JOB_KEYS if k != "batch_size"),
    *TIMING_REPEAT_COLUMNS,
)
_TIMING_DIR = re.compile(r"(?P<dataset>[^/]+)/(?P<optimizer>[^/]+)/(?P<budget>[es]\d+)$")


def collect_evals(history_paths: Sequence[str | Path]) -> pd.DataFrame:
    """Every job's ``evals.tsv`` (beside its history) with its job keys, sorted by run and
    step: `EVALS_TABLE_COLUMNS`."""
    parts = []
    for path in history_paths:
        hp = Path(path)
        evals = read_table(hp.parent / "evals.tsv", EVAL_COLUMNS, what="evals")
        parts.append(evals.assign(**job_keys(hp)))
    if not parts:
        return pd.DataFrame(columns=list(EVALS_TABLE_COLUMNS))
    out = pd.concat(parts, ignore_index=True).loc[:, list(EVALS_TABLE_COLUMNS)]
    return out.sort_values([*RUN_KEYS, "step"]).reset_index(drop=True)


def collect_timing_repeats(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Every timing-stage file ``results/timing/<dataset>/<optimizer>/<budget>/
    timing_repeats.tsv`` with its keys read from the path: `TIMING_REPEATS_TABLE_COLUMNS`,
    sorted by job, repeat and order (the order the batch sizes were timed in)."""
    parts = []
    for path in paths:
        p = Path(path)
        m = _TIMING_DIR.search(p.parent.as_posix())
        if not m:
            raise FormatError(
                f"timing-repeats file {p} is not in a directory <dataset>/<optimizer>/<budget>/"
            )
        table = read_table(p, TIMING_REPEAT_COLUMNS, what="timing-repeats")
        parts.append(table.assign(**m.groupdict()))
    if not parts:
        return pd.DataFrame(columns=list(TIMING_REPEATS_TABLE_COLUMNS))
    out = pd.concat(parts, ignore_index=True).loc[:, list(TIMING_REPEATS_TABLE_COLUMNS)]
    keys = [k for k in JOB_KEYS if k != "batch_size"]
    return out.sort_values([*keys, "repeat", "order"]).reset_index(drop=True)


def extra_tables(
    history_paths: Sequence[str | Path],
    timing_repeat_paths: Sequence[str | Path],
    log: Callable[[str], None] = print,
) -> dict[str, pd.DataFrame]:
    """The ``evals`` and ``timing_repeats`` tables, read and checked (not written)."""
    tables = {
        "evals": collect_evals(history_paths),
        "timing_repeats": collect_timing_repeats(timing_repeat_paths),
    }
    log(
        f"evaluations: {len(tables['evals'])} row(s); timing repeats: "
        f"{len(tables['timing_repeats'])} row(s) from {len(timing_repeat_paths)} file(s)"
    )
    return tables
