"""Render the self-contained HTML report (Jinja2, autoescaped, figures inlined as base64).

The report computes nothing: its sentences, verdicts and numbers come from the analysis
stage's ``findings.json`` (`batchstudy.findings`), formatted by `batchstudy.formatting`.

The report opens with no other file present: every figure is a data URI and the only
styling is inline. Everything written in it that comes from the config or the data passes
through Jinja2's autoescape.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import platform
from dataclasses import fields
from importlib import metadata
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from . import formatting as fmt
from .aggregate import DRIFT_EPOCHS
from .catalogue import catalogue_context, study_summary
from .claims import untestable_words
from .config import JobKey, budget_label, budgets, config_hash, optimizer_settings
from .data import VAL_OWN
from .io import read_table, write_json, write_text
from .metrics import EVENT_UNITS, HIGH_LOSS_WORDS, JOB_KEYS
from .provenance import code_version, machine
from .spec import steps_per_epoch
from .stats import ABOVE_BUDGET, Effect, range_coverage
from .tuning_findings import TUNING_PLOT_DIR, tuning_headline

#: The workflow's own checkout (the rules run this copy of the package): its git commit is
#: the code version in provenance; outside a git checkout it reads "unknown".
WORKFLOW_ROOT = Path(__file__).resolve().parents[2]

PLOTS = {
    "curves": "Learning curves: accuracy beside loss (the original article's grid)",
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

#: Columns of a condition's table: (cell key, header, formatter kind, missing-word); a kind
#: that `batchstudy.formatting.KINDS` lacks names a plain formatter of its own.
TABLE_COLUMNS = [
    ("learning_rate", "learning rate", "learning_rate", ""),
    ("steps_per_epoch", "steps / epoch", "count", ""),
    ("final_test_accuracy", "final test acc", "accuracy", ""),
    ("final_end_train_accuracy", "final train acc (whole split)", "accuracy", ""),
    ("gap_accuracy", "gap (train − test)", "difference", ""),
    ("final_test_loss", "final test loss", "loss", HIGH_LOSS_WORDS),
    ("epochs_to_settle", "settling epoch", "count", "never settled"),
    ("steps_to_settle", "settling step", "count", "never settled"),
    ("seconds_per_epoch", "time / epoch (training job's clock)", "seconds", ""),
]
#: A time-to-target table's header per unit of `batchstudy.metrics.EVENT_UNITS`: seconds are
#: estimated from the training job's clock, not measured by the timing stage.
TARGET_HEADERS = {
    "seconds": "seconds, estimated (median; epochs × the training job's median s/epoch)",
}


def target_header(unit: str) -> str:
    return TARGET_HEADERS.get(unit, f"{unit} (median)")


def clock_gap(conditions: list[dict[str, Any]]) -> str:
    """The largest fold change, over conditions with a timing stage and their batch sizes,
    between a training job's median seconds per model-epoch (the summary table's) and the
    timing stage's geometric mean over repeats, in words ("3.57× (B = 4, the blobs · adam · 100
    epochs training job)": the job trains every lr arm and base rate of its condition's
    dataset, optimizer and budget); empty where no condition has both."""
    best: tuple[float, str] = (0.0, "")
    for c in conditions:
        per_b = (c.get("timing_repeats") or {}).get("seconds_per_epoch") or {}
        for cell in c.get("cells") or []:
            job, rep = cell.get("seconds_per_epoch"), per_b.get(str(cell["batch_size"]))
            if rep is None:
                continue
            job = Effect.from_dict(job).estimate if isinstance(job, dict) else job
            rep = Effect.from_dict(rep).estimate
            if not (_positive(job) and _positive(rep)):
                continue
            fold = max(job / rep, rep / job)
            if fold > best[0]:
                # the clock is the training job's, shared by every lr arm and base rate of it
                job = fmt.condition(c["keys"], skip=("lr_scaling", "base_lr"))
                best = (fold, f"B = {cell['batch_size']}, the {job} training job")
    return f"{fmt.ratio(best[0])} ({best[1]})" if best[1] else ""


def _positive(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(x) and x > 0


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def tsv_uri(table: pd.DataFrame) -> str:
    """A table as a tab-separated download inside the page (no file beside it)."""
    text = table.to_csv(sep="\t", index=False, na_rep="NA")
    return "data:text/tab-separated-values;charset=utf-8;base64," + base64.b64encode(
        text.encode("utf-8")
    ).decode("ascii")


#: What a value at +inf reads in a table's download where it is not "above budget": a
#: final test loss median or end above the exploded level (`batchstudy.metrics.loss_summary`).
ABOVE_WORDS = {"final_test_loss": fmt.LOSS_EXPLODED}


def _flat(cell: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """A findings cell's numbers as flat columns: an effect becomes ``<key>_<field>``
    (estimate, lo, hi, n, ...; above-budget medians read "above budget", a final test loss
    above the exploded level `ABOVE_WORDS`). An effect's verdict and verdict boundaries appear
    only where it has them (boundaries as numbers separated by spaces), so that no cell is
    empty and none reads "[]"; a column that only some rows have reads NA in the others."""
    out: dict[str, Any] = {}
    for key in keys:
        value = cell[key]
        if isinstance(value, dict):
            above = ABOVE_WORDS.get(key, ABOVE_BUDGET)
            for field, v in value.items():
                if field == "boundaries":
                    v = " ".join(f"{float(b):g}" for b in v or ())
                if field in ("verdict", "boundaries") and not v:
                    continue
                out[f"{key}_{field}"] = above if v == ABOVE_BUDGET else v
        else:
            out[key] = value
    return out


def condition_tsv(cells: list[dict[str, Any]]) -> str:
    """The condition's summary table as data: every interval's estimate, bounds and n."""
    keys = ["batch_size", *(k for k, *_ in TABLE_COLUMNS), "n_runs", "n_diverged"]
    return tsv_uri(pd.DataFrame([_flat(c, keys) for c in cells]))


def target_tsv(target: dict[str, Any]) -> str:
    keys = ["batch_size", *EVENT_UNITS]
    return tsv_uri(pd.DataFrame([_flat(c, keys) for c in target["cells"]]))


def runs_cell(c: dict[str, Any]) -> str:
    """A table row's run count; with diverged runs, that the means leave them out and rest on
    the rest: "10 (4 diverged, excluded from the means: n = 6)", "10 (all diverged)"."""
    k, n = int(c["n_diverged"]), int(c["n_runs"])
    if not k:
        return str(n)
    return (
        f"{n} (all diverged)"
        if k == n
        else f"{n} ({k} diverged, excluded from the means: n = {n - k})"
    )


def _below_target_note(cell: dict[str, Any], key: str) -> str:
    """For a settling column, how many of the cell's runs settled below the first accuracy
    target (counted as settled here, apart in claim 2); "" elsewhere or where none did."""
    k = int(cell.get("n_settled_below_target", 0))
    if not key.endswith("_to_settle") or not k:
        return ""
    return f" ({k} of {cell['n_runs']} settled below the target)"


def table_rows(cells: list[dict[str, Any]]) -> list[list[str]]:
    """The condition's table, every number through `batchstudy.formatting`."""
    rows = []
    for c in cells:
        row = [str(c["batch_size"])]
        for key, _, kind, missing in TABLE_COLUMNS:
            if kind not in fmt.KINDS:
                row.append(fmt.learning_rate(c[key]))
            elif not isinstance(c[key], dict):
                row.append(fmt.KINDS[kind][0](c[key]))
            else:
                text = fmt.interval(Effect.from_dict(c[key]), kind, missing or "never reached")
                row.append(text + _below_target_note(c, key))
        row.append(runs_cell(c))
        rows.append(row)
    return rows


def target_rows(target: dict[str, Any]) -> list[list[str]]:
    return [
        [str(c["batch_size"])]
        + [
            fmt.interval(Effect.from_dict(c[u]), "seconds" if u == "seconds" else "count")
            for u in EVENT_UNITS
        ]
        for c in target["cells"]
    ]


def repeat_rows(timing: dict[str, Any] | None) -> list[list[str]]:
    """A condition's timing-stage seconds per model-epoch (findings' ``timing_repeats``):
    per batch size (ascending) the estimate with its interval, method and n; no rows
    without repeats."""
    if not timing:
        return []
    per_b = timing["seconds_per_epoch"]
    return [[b, fmt.effect(Effect.from_dict(per_b[b]), "seconds")] for b in sorted(per_b, key=int)]


def repeat_tsv(timing: dict[str, Any] | None) -> str:
    """The timing-stage table as data: per batch size (ascending) the seconds per model-epoch
    over repeats as ``seconds_per_epoch_<field>`` (estimate, lo, hi, n, method, ...); empty
    without repeats (no table, no download)."""
    if not timing:
        return ""
    per_b = timing["seconds_per_epoch"]
    rows = [
        {"batch_size": int(b)} | _flat({"seconds_per_epoch": per_b[b]}, ["seconds_per_epoch"])
        for b in sorted(per_b, key=int)
    ]
    return tsv_uri(pd.DataFrame(rows))


#: Header of a pooled-draws table (`pooled_rows`); {ref} is the smallest batch size.
POOLED_HEADER = (
    "batch size",
    "final test acc, mean over draws",
    "difference from B = {ref}, paired by draw",
    "verdict",
)


def pooled_rows(group: dict[str, Any]) -> list[list[str]]:
    """One pooled group's table (findings' ``pooled_draws``, `batchstudy.draws`): per batch
    size the mean over draws and, beside every batch size but the smallest, its paired
    difference from the smallest with the verdict."""
    ref = group["reference_batch_size"]
    rows = []
    for c in group["cells"]:
        b = c["batch_size"]
        mean = fmt.effect(Effect.from_dict(c["final_test_accuracy"]), "accuracy")
        if b == ref:
            rows.append([str(b), mean, "reference", "reference"])
            continue
        diff = Effect.from_dict(group["comparisons"][str(b)])
        rows.append([str(b), mean, fmt.effect(diff, "difference"), diff.verdict])
    return rows


def pooled_sections(found: dict[str, Any]) -> list[dict[str, Any]]:
    """The pooled-draws groups with their rendered tables (none without dataset draws)."""
    return [
        g
        | {
            "rows": pooled_rows(g),
            "header": [h.format(ref=g["reference_batch_size"]) for h in POOLED_HEADER],
            "tsv": pooled_tsv(g),
        }
        for g in found.get("pooled_draws", [])
    ]


def pooled_tsv(group: dict[str, Any]) -> str:
    """One pooled group's table as data: per batch size the mean over draws and the paired
    difference from the smallest batch size (``<key>_<field>`` columns, as `_flat`)."""
    rows = []
    for c in group["cells"]:
        b = c["batch_size"]
        diff = group["comparisons"].get(str(b))
        cell = {"final_test_accuracy": c["final_test_accuracy"]}
        cell |= {"difference_from_reference": diff} if diff else {}
        rows.append({"batch_size": b} | _flat(cell, list(cell)))
    return tsv_uri(pd.DataFrame(rows))


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


#: The timing figure's caption after its title: which clock it shows (`figure_title`).
TIMING_CAPTIONS = {
    True: (
        "the timing stage's interleaved repeats (filled: geometric mean over repeats with the "
        "t-interval of log seconds, the numbers claims 1 and 4 rest on) beside the training "
        "jobs' own clocks (open, dashed)"
    ),
    False: (
        "the training jobs' own clocks, one job per batch size (no timing stage): no "
        "wall-time verdict rests on this figure"
    ),
}


def figure_title(name: str, timing_repeats: Any, sharing: int = 1) -> str:
    """A condition figure's caption: its `PLOTS` title; the timing figure's says which clock
    it shows, by whether the condition has the timing stage's repeats (its findings'
    ``timing_repeats``), and, where `sharing` > 1 conditions share its training jobs (their
    lr arms and rates train on one job's replica axis), that it is the same figure in all."""
    title = PLOTS[name]
    if name != "timing":
        return title
    shared = (
        f" (the same figure in all {sharing} conditions that share these training jobs)"
        if sharing > 1
        else ""
    )
    return f"{title}: {TIMING_CAPTIONS[bool(timing_repeats)]}{shared}"


def job_sharing(conditions: list[dict[str, Any]]) -> list[int]:
    """Per condition, how many conditions share its training jobs (`config.JobKey`: dataset,
    optimizer, budget): they share the jobs' clocks and timing stage, so one timing figure."""
    keys = [tuple(c["keys"][f.name] for f in fields(JobKey)) for c in conditions]
    return [keys.count(k) for k in keys]


def condition_section(found: dict[str, Any], plot_dir: Path, sharing: int = 1) -> dict[str, Any]:
    from . import plots  # matplotlib: imported by the report, not by the catalogue

    sub = plots.condition_dir(found["keys"])
    figures = [
        {
            "title": figure_title(name, found.get("timing_repeats"), sharing),
            "uri": data_uri(plot_dir / sub / f"{name}.png"),
            "name": name,
        }
        for name in PLOTS
    ]
    return found | {
        "table": table_rows(found["cells"]),
        "table_tsv": condition_tsv(found["cells"]),
        "repeat_rows": repeat_rows(found.get("timing_repeats")),
        "repeat_tsv": repeat_tsv(found.get("timing_repeats")),
        "targets_rendered": [
            t
            | {
                "rows": target_rows(t),
                "name": f"{t['suffix']}% {t['kind']} target",
                "value_text": target_value(t.get("value")),
                "tsv": target_tsv(t),
            }
            for t in found["targets"]
        ],
        "figures": figures,
    }


#: A target without a value: no run of the condition has a plateau to take a fraction of.
NO_TARGET = "no target: every run of the condition diverged"


def target_value(value: Any) -> str:
    """A condition's target as text; `NO_TARGET` when it is missing or not finite (every run
    of the condition diverged)."""
    text = fmt.number(value)
    return NO_TARGET if text == fmt.NOT_ESTIMABLE else text


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
        "study": cfg["study"],
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "config_hash": config_hash(cfg),
        "code_version": code_version(WORKFLOW_ROOT),
        "seeds": cfg["seeds"],
        "engines": sorted(jobs["engine"].astype(str).unique()),
        "backends": _backends(jobs),
        "devices": _distinct(jobs, "device"),
        "gpu_slots": _distinct(jobs, "gpu_slot"),
        "tensorflow": _distinct(jobs, "tensorflow"),
        "op_determinism": _distinct(jobs, "op_determinism"),
        "onednn": _distinct(jobs, "onednn"),
        "threads": _distinct(jobs, "threads"),
        "setup_seconds": float(jobs["setup_seconds"].sum()),
        "versions": versions(),
        "machine": machine(),
    }


#: How the config dump marks the model keys a custom model leaves unused.
NOT_USED_BY_CUSTOM = "not used: custom model"


def shown_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """The validated config as the report prints it: with a custom model, the model section's
    other keys (the MLP family's, defaults included) read `NOT_USED_BY_CUSTOM`."""
    if not cfg["model"].get("custom"):
        return cfg
    model = {k: (v if k == "custom" else NOT_USED_BY_CUSTOM) for k, v in cfg["model"].items()}
    return cfg | {"model": model}


def custom_model_words(check: dict[str, Any] | None) -> str:
    """A custom model's layers and parameter count per dataset, from the check_model stage's
    ``model_check.json`` (``layers`` and ``parameters`` keyed by data file, whose stem is the
    dataset); datasets with the same layers share one entry. Says so when the file has no
    layers (written by an older check)."""
    if not check or not check.get("layers"):
        return "its layers are not recorded (model_check.json predates layer records)"
    by_layers: dict[str, list[str]] = {}
    for path, layers in check["layers"].items():
        params = check.get("parameters", {}).get(path)
        text = " → ".join(layers) + (f", {params:,} parameters" if params is not None else "")
        by_layers.setdefault(text, []).append(Path(path).stem)
    if len(by_layers) == 1:
        return next(iter(by_layers))
    return "; ".join(f"on {', '.join(names)}: {text}" for text, names in by_layers.items())


#: How the report names an optimizer setting (`batchstudy.config.OPTIMIZER_SETTINGS`).
SETTING_NAMES = {"beta_1": "β₁", "beta_2": "β₂", "epsilon": "ε", "momentum": "momentum"}


def setting_words(key: str, value: Any) -> str:
    """One optimizer setting in words: "β₁ = 0.9", "momentum = 0.9", "Nesterov momentum" or
    "no Nesterov momentum"."""
    if key == "nesterov":
        return "Nesterov momentum" if value else "no Nesterov momentum"
    return f"{SETTING_NAMES.get(key, key)} = {value}"


def optimizers(cfg: dict[str, Any]) -> list[dict[str, str]]:
    """Each configured optimizer with its base learning rate(s) and its settings in words
    (`batchstudy.config.optimizer_settings`: Adam's betas and epsilon, SGD's momentum)."""
    return [
        {
            "name": name,
            "kind": o["name"],
            "learning_rate": fmt.learning_rates(o["learning_rate"])
            + "".join(f", {setting_words(k, v)}" for k, v in optimizer_settings(o).items()),
        }
        for name, o in cfg["optimizers"].items()
    ]


def tuning_context(tuning_path: Path | None) -> dict[str, Any]:
    """The tuning stage's document (`batchstudy.tuning_findings`) with its figures (in the
    `TUNING_PLOT_DIR` beside it) inlined; no groups when the stage did not run."""
    if tuning_path is None:
        return {"groups": [], "resolution": ""}
    doc = json.loads(tuning_path.read_text(encoding="utf-8"))
    plot_dir = tuning_path.parent / TUNING_PLOT_DIR
    for g in doc["groups"]:
        for f in g.get("figures", []):
            f["uri"] = data_uri(plot_dir / f["file"])
    return doc


def budget_words(budget: str, splits: list[dict[str, Any]], batch_sizes: list[int]) -> str:
    """A budget in words; a step budget with the steps actually run, since a job trains whole
    epochs (the budget rounded up to a whole number of `steps_per_epoch`): "1000 steps, rounded
    up to whole epochs (blobs: 1,000 to 1,024 steps run over the batch sizes)"."""
    label = budget_label(budget)
    if not budget.startswith("s") or not splits:
        return label
    n = int(budget[1:])
    parts = []
    for s in splits:
        per_b = [steps_per_epoch(int(s["n_train"]), int(b)) for b in batch_sizes]
        run = [-(-n // spe) * spe for spe in per_b]
        span = (
            fmt.count(min(run))
            if min(run) == max(run)
            else (f"{fmt.count(min(run))} to {fmt.count(max(run))}")
        )
        parts.append(f"{s['dataset']}: {span} steps run over the batch sizes")
    return f"{label}, rounded up to whole epochs ({'; '.join(parts)})"


def split_sizes(splits: list[dict[str, Any]]) -> list[str]:
    """One phrase per dataset of the findings' ``splits`` (`batchstudy.data.SPLIT_COLUMNS`):
    its rows per split, saying where the test split serves as validation, and chance."""
    out = []
    for s in splits:
        own = s["val_split"] == VAL_OWN
        val = f"{s['n_val']} validation / " if own else ""
        shared = "" if own else " (the test split serves as validation)"
        out.append(
            f"{s['dataset']}: {s['n_train']} train / {val}{s['n_test']} test{shared}, "
            f"{int(s['n_classes'])} classes (chance: the majority class's share of the "
            f"validation split, {fmt.accuracy(s['chance_accuracy'])})"
        )
    return out


def _batch_list(sizes: list[int]) -> str:
    return f"B = {sizes[0]}" if len(sizes) == 1 else f"B ∈ {{{', '.join(map(str, sizes))}}}"


def batch_size_notes(splits: list[dict[str, Any]], batch_sizes: list[int]) -> list[str]:
    """Per dataset of the findings' ``splits``, the batch sizes that do not cut its training
    rows into full batches of B: B ≥ n_train trains full-batch (one step of n_train rows per
    epoch); every smaller B that does not divide n_train ends each epoch with a partial batch,
    all of them named with their full batches and the partial one's rows ("B = 512: 1 × 512 +
    386 rows"). Empty when every batch size divides the training rows."""
    out = []
    for s in splits:
        n, name = int(s["n_train"]), s["dataset"]
        full = sorted(b for b in batch_sizes if b >= n)
        if full:
            verb = ("exceeds" if full[0] > n else "equals") if len(full) == 1 else "are at least"
            who = "it trains" if len(full) == 1 else "they train"
            out.append(
                f"{_batch_list(full)} {verb} the {n} training rows of {name}: {who} full-batch "
                f"(one step of {n} rows per epoch)"
            )
        partial = sorted(b for b in batch_sizes if b < n and n % b)
        if partial:
            each = "; ".join(f"B = {b}: {n // b} × {b} + {n % b} rows" for b in partial)
            out.append(
                f"an epoch on the {n} training rows of {name} ends with a partial batch at "
                f"{fmt.counted(len(partial), 'batch size')} (full batches × B + the last "
                f"batch's rows): {each}"
            )
    return out


#: Closes the batch-size notes: what the tables and fits take B to be.
NOMINAL_B = "Batch sizes and fits use the nominal B."


def sentences(phrases: list[str], closing: str) -> str:
    """Phrases as sentences (first letter capitalised, full stop) followed by `closing`;
    empty without phrases."""
    if not phrases:
        return ""
    return " ".join([*(f"{p[0].upper()}{p[1:]}." for p in phrases), closing])


def config_n_train_notes(splits: list[dict[str, Any]], datasets: dict[str, Any]) -> list[str]:
    """Datasets whose config gives ``n_train`` together with a validation split of their own
    (``n_val`` or ``val_fraction``): `batchstudy.data` takes the validation rows out of the
    first ``n_train`` rows, so the config's ``n_train`` counts training and validation rows.
    Datasets named in ``splits`` but not in the config (draws) are left out."""
    out = []
    for s in splits:
        spec = datasets.get(s["dataset"], {})
        if "n_train" in spec and s["val_split"] == VAL_OWN:
            out.append(
                f"the config's n_train = {spec['n_train']} of {s['dataset']} counts training "
                f"and validation rows ({s['n_train']} train + {s['n_val']} validation)"
            )
    return out


def dataset_words(name: str, spec: dict[str, Any]) -> str:
    """What a dataset is beside its name: its kind where that differs from the name, and its
    file; empty for a generated dataset named after its kind ("blobs")."""
    kind = spec.get("kind")
    return ", ".join(str(p) for p in (kind if kind != name else None, spec.get("path")) if p)


def hidden_layer_words(widths: list[int]) -> str:
    """The MLP's hidden layers in words: "one hidden layer of 50 units", "hidden layers of
    64 and 32 units" (the schema asks for at least one)."""
    if len(widths) == 1:
        return f"one hidden layer of {widths[0]} units"
    return f"hidden layers of {', '.join(map(str, widths[:-1]))} and {widths[-1]} units"


def arms_words(lr_scaling: dict[str, Any]) -> str:
    """The learning-rate arms in words; the reference batch size and warmup only where an arm
    scales the rate (a constant arm uses neither)."""
    arms = lr_scaling["arms"]
    text = f"{', '.join(arms)}, each applied to every base learning rate"
    if all(a == "constant" for a in arms):
        return text
    ref = lr_scaling["reference_batch_size"]
    return f"{text} (reference batch size {ref}; {fmt.warmup(lr_scaling)})"


#: How the report names a training engine (`batchstudy.training.choose_engine`'s values).
ENGINE_NAMES = {"keras": "Keras", "fused": "fused"}
#: What each engine does, said once where the report names it.
ENGINE_HOW = {
    "keras": "Keras `fit`, one replica after another",
    "fused": (
        "every replica of a job, its seeds × learning rates, trained together in one compiled "
        "graph, so they share the job's clock"
    ),
}


def engine_words(cfg: dict[str, Any], engines: list[str]) -> str:
    """The engine(s) the jobs trained on, in the number they take; where a custom model made
    them differ from the configured engine (the fused engine cannot express one), says so."""
    names = [ENGINE_NAMES.get(e, e) for e in engines]
    how = [
        f"{n} ({ENGINE_HOW[e]})" if e in ENGINE_HOW else n
        for n, e in zip(names, engines, strict=True)
    ]
    text = f"Training engine{'' if len(names) == 1 else 's'}: {', '.join(how)}"
    if cfg["model"].get("custom") and cfg["engine"] not in engines:
        text += (
            f" (custom models train with the {' and '.join(names)} engine; the configured "
            f"engine '{cfg['engine']}' does not apply)"
        )
    return text


#: The summary tables' footnote on the final test loss column (`batchstudy.metrics.LOSS_NOTE`).
LOSS_SENTENCE = (
    f"The final test loss is a mean where no run's loss is {HIGH_LOSS_WORDS} (nor diverged) "
    "and a median where any is, with how many (see Definitions)."
)


def interval_note(n_seeds: int, level: float) -> str:
    """The summary tables' footnote on their intervals: at `level` throughout, or, where a
    median of `n_seeds` values cannot reach it (`plots.median_interval_words`), the medians'
    intervals named as at most the range of the seeds."""
    pct = f"{level * 100:g}%"
    if range_coverage(n_seeds) >= level:
        return (
            f"Point estimate [{pct} interval] over seeds: means with t-intervals, medians with "
            f"the censored-median bootstrap (nominal {pct}, its coverage at {n_seeds} seeds not "
            "checked)"
        )
    return (
        f"Point estimate [interval] over seeds: means with {pct} t-intervals, medians with the "
        f"censored-median bootstrap, whose interval at {n_seeds} seeds is at most the range of "
        f"the seeds (coverage ≤ {range_coverage(n_seeds) * 100:g}%, not {pct})"
    )


def overview_bars(n_seeds: int, level: float) -> str:
    """The overview caption's words on its steps panel's error bars: the censored-median
    percentile bootstrap over seeds, nominal `level`, or, where a median of `n_seeds` values
    cannot reach it (`stats.range_coverage`, as in `interval_note`), at most the seeds'
    range with that range's coverage."""
    pct = f"{level * 100:g}%"
    words = "bars: censored-median percentile bootstrap over seeds"
    if range_coverage(n_seeds) >= level:
        return f"{words}, nominal {pct} (its coverage at {n_seeds} seeds not checked)"
    return (
        f"{words}, at {n_seeds} seeds at most the seeds' range (coverage ≤ "
        f"{range_coverage(n_seeds) * 100:g}%, not {pct})"
    )


def few_seeds(n_seeds: list[int], level: float) -> dict[str, Any] | None:
    """Where a section has too few seeds for a median's interval to reach ``level``
    (`range_coverage`): the fewest seeds ``n``, the range's coverage there, and the
    seed count from which it can (``enough``), for the Definitions; ``None`` otherwise, so
    that a study with enough seeds is not told about fewer."""
    n = min(n_seeds)
    if range_coverage(n) >= level:
        return None
    enough = next(k for k in range(n, n + 64) if range_coverage(k) >= level)
    return {
        "n": n,
        "enough": enough,
        "coverage": f"{range_coverage(n) * 100:g}%",
        "level": f"{level * 100:g}%",
    }


def experiment_context(
    cfg: dict[str, Any], splits: list, prov: dict[str, Any], model_check: Path | None
) -> dict[str, Any]:
    """The Experiment section's parts: model, optimizers, budgets, splits, batch-size notes,
    datasets, learning-rate arms and engines. ``model_check``: the check_model stage's file,
    read only where the config has a custom model."""
    checked = cfg["model"].get("custom") and model_check is not None and model_check.is_file()
    return {
        "custom_model": custom_model_words(
            json.loads(model_check.read_text(encoding="utf-8")) if checked else None
        ),
        "optimizers": optimizers(cfg),
        "budgets": [budget_words(b, splits, cfg["batch_sizes"]) for b in budgets(cfg)],
        "split_sizes": split_sizes(splits),
        "batch_notes": sentences(
            batch_size_notes(splits, cfg["batch_sizes"])
            + config_n_train_notes(splits, cfg["datasets"]),
            NOMINAL_B,
        ),
        "datasets": [
            {"name": n, "detail": dataset_words(n, d)} for n, d in cfg["datasets"].items()
        ],
        "hidden_layers": hidden_layer_words(cfg["model"]["hidden_layers"]),
        "arms": arms_words(cfg["lr_scaling"]),
        "engines": engine_words(cfg, prov["engines"]),
    }


def build_context(
    findings_path: Path,
    jobs_path: Path,
    plot_dir: Path,
    cfg: dict[str, Any],
    tuning_path: Path | None = None,
    model_check: Path | None = None,
) -> dict[str, Any]:
    """Everything the template renders (`experiment_context` for the Experiment section)."""
    from . import plots  # matplotlib: imported by the report, not by the catalogue

    found = json.loads(findings_path.read_text(encoding="utf-8"))
    jobs = read_table(jobs_path, JOB_KEYS, what="jobs")
    sharing = job_sharing(found["conditions"])
    sections = [
        condition_section(c, plot_dir, k) for c, k in zip(found["conditions"], sharing, strict=True)
    ]
    prov = provenance(cfg, jobs)
    return {
        "findings": found,
        "headline": found["headline"],
        "overview_uri": plots.overview_uri(found["overview"], int(cfg["plots"]["dpi"])),
        "title": cfg["title"],
        "config": cfg,
        "config_yaml": json.dumps(shown_config(cfg), indent=2, sort_keys=True),
        **experiment_context(cfg, found.get("splits", []), prov, model_check),
        "sections": sections,
        "interval_note": interval_note(len(cfg["seeds"]), found["settings"]["level"]),
        "loss_note": LOSS_SENTENCE,
        "few_seeds": few_seeds(
            [s["n_seeds"] for s in sections] or [len(cfg["seeds"])], found["settings"]["level"]
        ),
        "open_label": plots.OPEN_LABEL,
        "overview_bars": overview_bars(
            min([s["n_seeds"] for s in sections] or [len(cfg["seeds"])]),
            found["settings"]["level"],
        ),
        "pooled": pooled_sections(found),
        "table_header": ["batch size"] + [h for _, h, _, _ in TABLE_COLUMNS] + ["runs"],
        "target_header": ["batch size"] + [target_header(u) for u in EVENT_UNITS],
        "clock_gap": clock_gap(found["conditions"]),
        "drift_epochs": DRIFT_EPOCHS,
        "provenance": prov,
        "provenance_tsv": provenance_tsv(prov),
        "empty_provenance": EMPTY_PROVENANCE,
        "n_conditions": len(sections),
        "counts": [
            fmt.counted(len(sections), "condition"),
            fmt.counted(len(cfg["batch_sizes"]), "batch size"),
            fmt.counted(len(cfg["seeds"]), "paired seed"),
        ],
        "tuning": tuning_context(tuning_path),
    }


def render(template: Path, context: dict[str, Any]) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template.parent)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["untestable"] = untestable_words
    return env.get_template(template.name).render(**context)


#: What an empty list of the provenance reads as, on the page and in its TSV alike.
EMPTY_PROVENANCE = {"gpu_slots": "none (CPU)", "onednn": "not recorded"}


def provenance_tsv(prov: dict[str, Any]) -> str:
    """The provenance table as data (one row per entry, lists joined as the page shows them,
    an empty one in the page's words, `EMPTY_PROVENANCE`)."""
    flat = {k: v for k, v in prov.items() if k not in ("versions", "code_version")}
    flat |= {"code_commit": prov["code_version"]["commit"]}
    flat |= {"code_dirty": prov["code_version"]["dirty"]}
    flat |= {f"version_{k}": v for k, v in prov["versions"].items()}
    rows = [
        {
            "key": k,
            "value": ("; ".join(map(str, v)) or EMPTY_PROVENANCE.get(k, "none"))
            if isinstance(v, list)
            else v,
        }
        for k, v in flat.items()
    ]
    return tsv_uri(pd.DataFrame(rows))


def render_report(
    findings: Path,
    jobs: Path,
    plot_dir: Path,
    config_path: Path,
    template: Path,
    out: Path,
    tuning: Path | None = None,
    summary: Path | None = None,
    model_check: Path | None = None,
) -> None:
    """The study's report at `out` and, given `summary`, its catalogue entry (the same date,
    config hash and code version as the report's provenance)."""
    cfg = json.loads(config_path.read_text(encoding="utf-8"))
    context = build_context(findings, jobs, plot_dir, cfg, tuning, model_check)
    write_text(out, render(template, context))
    if summary is not None:
        prov = context["provenance"]
        tuned = tuning_headline(context["tuning"]["groups"])
        entry = study_summary(
            cfg, context["findings"], prov["date"], prov["code_version"], tuned or None
        )
        write_json(summary, entry)


def render_catalogue(summaries: list[Path], template: Path, out: Path) -> None:
    """The catalogue page of every study whose summary file is given."""
    write_text(out, render(template, catalogue_context(summaries)))
