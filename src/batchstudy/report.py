"""Render the self-contained HTML report (Jinja2, autoescaped, figures inlined as base64).

The report opens with no other file present: every figure is a data URI and the only
styling is inline. Everything written in it that comes from the config or the data passes
through Jinja2's autoescape.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from . import claims, conclusions
from .config import Condition, config_hash
from .io import read_table, write_text
from .metrics import CONDITION_KEYS as KEYS
from .metrics import JOB_KEYS

PLOTS = {
    "curves": "Learning curves (the seed's grid)",
    "accuracy": "Final accuracy vs batch size",
    "timing": "Time per epoch and per step vs batch size",
    "scaling": "Steps and seconds to target vs batch size",
}
PACKAGES = (
    "tensorflow-cpu",
    "tensorflow",
    "jax",
    "jaxlib",
    "torch",
    "keras",
    "numpy",
    "pandas",
    "scikit-learn",
    "scipy",
    "matplotlib",
    "jinja2",
    "snakemake",
)

SUMMARY_COLUMNS = [
    ("batch_size", "batch size", "d"),
    ("steps_per_epoch", "steps / epoch", "d"),
    ("learning_rate", "learning rate", "g"),
    ("final_train_accuracy", "final train acc", "ci"),
    ("final_val_accuracy", "final test acc", "ci"),
    ("gap_accuracy", "gap (train − test)", "ci"),
    ("settling_epoch", "settling epoch", "ci_median"),
    ("seconds_per_epoch", "ms / epoch", "ci_median_ms"),
    ("seconds_per_step", "ms / step", "ms"),
    ("n_runs", "runs", "d"),
    ("n_diverged", "diverged", "d"),
]


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _num(x: Any, fmt: str = ".3g") -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    return "–" if v != v else format(v, fmt)


def summary_rows(summary: pd.DataFrame) -> list[list[str]]:
    rows = []
    for r in summary.sort_values("batch_size").to_dict("records"):
        cells = []
        for col, _, kind in SUMMARY_COLUMNS:
            if kind == "d":
                cells.append(str(int(r[col])))
            elif kind in ("g", "ms"):
                cells.append(_num(r[col] * (1e3 if kind == "ms" else 1)))
            else:
                stat = "median" if kind.startswith("ci_median") else "mean"
                k = 1e3 if kind.endswith("_ms") else 1
                est, lo, hi = (r[f"{col}_{x}"] * k for x in (stat, "lo", "hi"))
                cells.append(f"{_num(est)} [{_num(lo)}, {_num(hi)}]")
        rows.append(cells)
    return rows


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def condition_section(
    key: tuple[str, ...], runs: pd.DataFrame, summary: pd.DataFrame, plot_dir: Path, n_boot: int
) -> dict[str, Any]:
    cond = dict(zip(KEYS, key, strict=True))
    sub = Path(Condition(**cond).path)
    figures = [
        {"title": title, "uri": data_uri(plot_dir / sub / f"{name}.png"), "name": name}
        for name, title in PLOTS.items()
    ]
    diverged = runs[runs["diverged"].astype(bool)][["batch_size", "seed"]]
    return {
        "condition": cond,
        "label": Condition(**cond).label,
        "findings": conclusions.condition_findings(runs, summary, n_boot),
        "verdicts": claims.evaluate_claims(runs, summary, n_boot=n_boot),
        "table": summary_rows(summary),
        "figures": figures,
        "diverged": diverged.to_dict("records"),
    }


def _distinct(jobs: pd.DataFrame, column: str) -> list[str]:
    """The distinct values a column of jobs.tsv takes, as text (whole numbers without '.0')."""
    values = jobs[column].dropna().unique() if column in jobs else []
    return sorted(
        {str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in values}
    )


def _backends(jobs: pd.DataFrame) -> list[str]:
    """'<backend> <version>' of the jobs (jobs.tsv from before backends: TensorFlow's)."""
    if "backend" not in jobs:
        return [f"tensorflow {v}" for v in _distinct(jobs, "tensorflow")]
    pairs = jobs[["backend", "backend_version"]].astype(str).drop_duplicates()
    return sorted(f"{b} {v}" for b, v in pairs.itertuples(index=False))


def provenance(cfg: dict[str, Any], jobs: pd.DataFrame) -> dict[str, Any]:
    """What the jobs of this report ran with, from jobs.tsv: only the configured jobs, never
    stale files of batch sizes no longer in the config."""
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "config_hash": config_hash(cfg),
        "seeds": cfg["seeds"],
        "engines": sorted(jobs["engine"].astype(str).unique()),
        "backends": _backends(jobs),
        "devices": _distinct(jobs, "device"),
        "gpu_slots": _distinct(jobs, "gpu_slot"),
        "tensorflow": _distinct(jobs, "tensorflow"),
        "op_determinism": _distinct(jobs, "op_determinism"),
        "threads": _distinct(jobs, "threads"),
        "setup_seconds": float(jobs["setup_seconds"].sum()),
        "versions": versions(),
        "machine": f"{platform.system()} {platform.machine()}, {platform.processor() or ''}",
    }


def build_context(agg_dir: Path, plot_dir: Path, cfg: dict[str, Any]) -> dict[str, Any]:
    runs = read_table(agg_dir / "runs.tsv", KEYS, what="runs")
    summary = read_table(agg_dir / "summary.tsv", KEYS, what="summary")
    jobs = read_table(agg_dir / "jobs.tsv", JOB_KEYS, what="jobs")
    for df in (runs, summary):
        for k in KEYS:
            df[k] = df[k].astype(str)
    n_boot = int(cfg["metrics"]["bootstrap"])
    summaries = dict(iter(summary.groupby(list(KEYS), sort=True)))
    sections = [
        condition_section(key, runs_c, summaries[key], plot_dir, n_boot)
        for key, runs_c in runs.groupby(list(KEYS), sort=True)
    ]
    return {
        "overall": conclusions.overall_findings(runs, summary, n_boot),
        "title": cfg["title"],
        "config": cfg,
        "config_yaml": json.dumps(cfg, indent=2, sort_keys=True),
        "sections": sections,
        "summary_header": [label for _, label, _ in SUMMARY_COLUMNS],
        "provenance": provenance(cfg, jobs),
        "n_conditions": len(sections),
    }


def render(template: Path, context: dict[str, Any]) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template.parent)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(template.name).render(**context)


def render_report(
    aggregate_dir: Path, plot_dir: Path, config_path: Path, template: Path, out: Path
) -> None:
    cfg = json.loads(config_path.read_text(encoding="utf-8"))
    write_text(out, render(template, build_context(aggregate_dir, plot_dir, cfg)))
