# Config validation and the helpers that turn the config into job lists.
# The logic lives in the batchstudy package; this file only connects it to Snakemake.

import copy
import json
import os
import shlex
import sys
from dataclasses import fields
from pathlib import Path

from snakemake.exceptions import WorkflowError

# The batchstudy package ships with the workflow (src/ next to the Snakefile). The workflow
# and all its rules use that copy, found from the workflow's own directory, so it works
# from any working directory, installed or not, and inside the rules' conda environment
# (--sdm conda), which provides the dependencies only.
PACKAGE_SRC = Path(workflow.basedir) / "src"
if (PACKAGE_SRC / "batchstudy").is_dir() and str(PACKAGE_SRC) not in sys.path:
    sys.path.insert(0, str(PACKAGE_SRC))
try:
    from batchstudy import config as study_config
    from batchstudy.data import DataError, build_dataset, sha256_file
    from batchstudy.layout import (
        CATALOGUE,
        JOB_DIR,
        PLOT_NAMES,
        TIMING_KEY_DIR,
        StudyDirs,
        study_summaries,
    )
except ImportError as exc:
    raise WorkflowError(
        f"the study's package or its dependencies are missing ({exc}); run `make setup` or "
        "`pip install -r requirements.txt && pip install --no-deps -e .` (README)"
    ) from None

# Every shell rule runs `python -m batchstudy` with the workflow's own copy first on the
# path (PYTHONPATH set by the caller is kept after it), after bash's strict mode (Snakemake's
# default prefix, which this replaces). A prefix is not part of a rule's code, so moving the
# project re-runs nothing.
shell.prefix(
    "set -euo pipefail; export PYTHONPATH="
    + shlex.quote(str(PACKAGE_SRC)).replace("{", "{{").replace("}", "}}")
    + "${{PYTHONPATH:+:$PYTHONPATH}}; "
)

#: GPUs on this machine that training jobs may share out (one lock file each): Snakemake's
#: global `--resources gpu=N`, 0 when not given. A runtime setting, never in the config hash.
GPU_SLOTS = int(workflow.global_resources.get("gpu").value or 0)

BASE = Path.cwd()

if workflow.config_settings.configfiles:
    # A study file given with --configfile is the whole study: keys it leaves out take the
    # schema's defaults rather than merging in config/config.yaml (its datasets, say).
    config.clear()
    config.update(copy.deepcopy(workflow.config_settings.overwrite_config))
study_config.retype_overrides(config, dict(workflow.config_settings.config))
# The study is named after the config file (the last --configfile, else config/config.yaml)
# unless the file or --config sets `study`.
_CONFIG_FILE = (list(workflow.config_settings.configfiles) or ["config/config.yaml"])[
    -1
]
try:
    _validated = study_config.validate(
        study_config.with_study_name(config, _CONFIG_FILE), base=BASE
    )
except study_config.ConfigError as exc:
    raise WorkflowError(str(exc)) from None
config.clear()
config.update(_validated)

JOBS = study_config.job_keys(config)
CONDITIONS = study_config.conditions(config)
# Every path of this study starts with one of DIRS' directories (batchstudy.layout): results/
# <study>/{data,train,aggregate,analysis,plots,benchmarks}, logs/<study>, report/<study>. A
# rule names its files from these, never from a typed "results/..." prefix.
STUDY = config["study"]
DIRS = StudyDirs(STUDY)
TRAIN_DIR = f"{DIRS.train}/{JOB_DIR}"
TIMING_DIR = f"{DIRS.timing}/{TIMING_KEY_DIR}"
#: Root of the figures; a condition's are under PLOT_DIR/Condition.path (plot, report).
PLOT_DIR = DIRS.plots


def _check_data_files():
    """A user's data file is read now, so a bad one stops the run before any job."""
    for name, ds in config["datasets"].items():
        if ds["kind"] in ("csv", "npz"):
            try:
                build_dataset(ds, base=BASE)
            except DataError as exc:
                raise WorkflowError(f"dataset {name!r}: {exc}") from None


_check_data_files()


wildcard_constraints:
    dataset=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    optimizer=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    lr_scaling="constant|linear|sqrt",
    base_lr=r"[0-9][0-9.e+-]*",
    budget=r"[es]\d+",
    batch_size=r"\d+",


def job_of(wildcards):
    return study_config.JobKey(wildcards.dataset, wildcards.optimizer, wildcards.budget)


def train_spec_json(wildcards):
    """The job's full specification (every lr arm and base learning rate of its optimizer);
    a change to it is what re-runs the job."""
    job = job_of(wildcards)
    return study_config.train_spec(config, job, int(wildcards.batch_size)).to_json()


def dataset_json(wildcards):
    """The dataset's config entry without the analysis-only target (no rebuild when it changes)."""
    ds = config["datasets"][wildcards.dataset]
    return json.dumps({k: v for k, v in ds.items() if k != "target"}, sort_keys=True)


def dataset_inputs(wildcards):
    ds = config["datasets"][wildcards.dataset]
    return [ds["path"]] if ds["kind"] in ("csv", "npz") else []


def dataset_checksum(wildcards):
    """Content hash of a user's data file: editing it re-runs what depends on it."""
    ds = config["datasets"][wildcards.dataset]
    return sha256_file(BASE / ds["path"]) if ds["kind"] in ("csv", "npz") else ""


def model_check_inputs(wildcards):
    return [f"{DIRS.results}/model_check.json"] if config["model"]["custom"] else []


def all_train_files(name):
    return [
        f"{TRAIN_DIR}/{name}".format(
            dataset=j.dataset, optimizer=j.optimizer, budget=j.budget, batch_size=b
        )
        for j in JOBS
        for b in config["batch_sizes"]
    ]


def all_timing_repeats():
    """The timing stage's files, one per job key; none when timing_repeats is 0."""
    if not config["timing_repeats"]:
        return []
    return [
        f"{TIMING_DIR}/timing_repeats.tsv".format(
            dataset=j.dataset, optimizer=j.optimizer, budget=j.budget
        )
        for j in JOBS
    ]


def timing_specs_json(wildcards):
    """Every batch size's spec of a job key, as the timing stage times them."""
    specs = study_config.timing_specs(config, job_of(wildcards))
    return "[" + ",".join(s.to_json() for s in specs) + "]"


def all_plots():
    return [f"{PLOT_DIR}/{c.path}/{p}.png" for c in CONDITIONS for p in PLOT_NAMES]


def plot_subcategory(c):
    """A condition's figures' subcategory in Snakemake's report (the dataset is the category)."""
    lr = study_config.format_lr(c.base_lr)
    return f"{c.optimizer} / lr {c.lr_scaling} / base lr {lr} / {c.budget}"


def plot_condition_args():
    """The plot stage's `--condition` arguments, one per condition: its keys in the order of
    `Condition`'s fields (the CLI's order), the base rate as its paths print it."""
    args = []
    for c in CONDITIONS:
        keys = {f.name: getattr(c, f.name) for f in fields(c)}
        keys["base_lr"] = study_config.format_lr(c.base_lr)
        args.append(
            "--condition " + " ".join(shlex.quote(str(v)) for v in keys.values())
        )
    return " ".join(args)


def figures_root(figures):
    """PLOT_DIR as a rule's list of figures names it: the list starts, as `all_plots()`
    does, with the first condition's first figure, so the directory is that path less the
    condition's part."""
    first = Path(figures[0]).parts
    rel = Path(CONDITIONS[0].path, f"{PLOT_NAMES[0]}.png").parts
    if first[-len(rel) :] != rel:
        raise WorkflowError(f"{figures[0]!r} is not a figure {rel!r}")
    return str(Path(*first[: -len(rel)]))


def plot_dir_of(wildcards, input):
    """PLOT_DIR as the report rule's inputs (`all_plots()`) name it."""
    return figures_root(input.plots)


def catalogue_inputs(wildcards):
    """Every study's summary present in the project, and this study's (the catalogue lists
    them all; a summary of another study is read, never rebuilt)."""
    present = {p.relative_to(BASE).as_posix() for p in study_summaries(BASE)}
    return sorted(present | {DIRS.summary})


def noise_files(pattern):
    """One noise-scale reference run per (dataset, optimizer) when noise_scale.batch_size is
    set: `pattern` formatted with each dataset and optimizer."""
    if config["noise_scale"]["batch_size"] is None:
        return []
    return [
        pattern.format(dataset=d, optimizer=o)
        for d in config["datasets"]
        for o in config["optimizers"]
    ]


def noise_spec_json(wildcards):
    return study_config.noise_spec(
        config, wildcards.dataset, wildcards.optimizer
    ).to_json()


def dataset_targets_json():
    """Absolute targets of the datasets that configure one (datasets.<name>.target)."""
    targets = {n: d["target"] for n, d in config["datasets"].items() if "target" in d}
    return json.dumps(targets, sort_keys=True)


def shared_validation():
    """Datasets without a validation split of their own (the test split doubles as one)."""
    return [
        n
        for n, d in config["datasets"].items()
        if "n_val" not in d and "val_fraction" not in d
    ]


def own_validation():
    """Datasets with a validation split of their own (`shared_validation`'s complement)."""
    shared = shared_validation()
    return [n for n in config["datasets"] if n not in shared]


def settings_json(section):
    return json.dumps(config[section], sort_keys=True)


def directory_of(name):
    """A params function: the directory of the rule's input or output `name` ("output.history",
    "input.0"), so that a
    rule passes directories taken from its own paths rather than retyping them."""
    kind, key = name.split(".")
    key = int(key) if key.isdigit() else key
    return lambda wildcards, input, output: os.path.dirname(
        (input if kind == "input" else output)[key]
    )
