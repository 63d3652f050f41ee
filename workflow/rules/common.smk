# Config validation and the helpers that turn the config into job lists.
# The logic lives in the batchstudy package; this file only connects it to Snakemake.

import copy
import json
from pathlib import Path

from snakemake.exceptions import WorkflowError

try:
    from batchstudy import config as study_config
    from batchstudy.data import DataError, build_dataset, sha256_file
except ImportError as exc:
    raise WorkflowError(
        f"the study's package is not installed ({exc}); run `make setup` or "
        "`pip install -r requirements.txt && pip install --no-deps -e .` (README)"
    ) from None

BASE = Path.cwd()

if workflow.config_settings.configfiles:
    # A study file given with --configfile is the whole study: keys it leaves out take the
    # schema's defaults rather than merging in config/config.yaml (its datasets, say).
    config.clear()
    config.update(copy.deepcopy(workflow.config_settings.overwrite_config))
study_config.retype_overrides(config, dict(workflow.config_settings.config))
try:
    _validated = study_config.validate(
        config, workflow.source_path("../schemas/config.schema.yaml"), base=BASE
    )
except study_config.ConfigError as exc:
    raise WorkflowError(str(exc)) from None
config.clear()
config.update(_validated)

JOBS = study_config.job_keys(config)
CONDITIONS = study_config.conditions(config)
TRAIN_DIR = "results/train/{dataset}/{optimizer}/{budget}/bs{batch_size}"
# Condition.path as a wildcard pattern (the base rate's level is LR_PATH_PREFIX + format_lr).
CONDITION_DIR = (
    "{dataset}/{optimizer}/{lr_scaling}/"
    + study_config.LR_PATH_PREFIX
    + "{base_lr}/{budget}"
)


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
    return ["results/model_check.json"] if config["model"]["custom"] else []


def all_train_files(name):
    return [
        f"results/train/{j.path}/bs{b}/{name}"
        for j in JOBS
        for b in config["batch_sizes"]
    ]


TIMING_DIR = "results/timing/{dataset}/{optimizer}/{budget}"


def all_timing_repeats():
    """The timing stage's files, one per job key; none when timing_repeats is 0."""
    if not config["timing_repeats"]:
        return []
    return [f"results/timing/{j.path}/timing_repeats.tsv" for j in JOBS]


def timing_specs_json(wildcards):
    """Every batch size's spec of a job key, as the timing stage times them."""
    specs = study_config.timing_specs(config, job_of(wildcards))
    return "[" + ",".join(s.to_json() for s in specs) + "]"


PLOT_NAMES = ["curves", "accuracy", "timing", "scaling"]


def all_plots():
    return [f"results/plots/{c.path}/{p}.png" for c in CONDITIONS for p in PLOT_NAMES]


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


def settings_json(section):
    return json.dumps(config[section], sort_keys=True)
