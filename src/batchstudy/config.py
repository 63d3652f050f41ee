"""Load, check and expand the study's config.

The workflow calls `validate` before it builds its DAG, so a bad value stops the run with
a message that names the key, the value and what is allowed — before any job starts and
without touching existing results. The same function serves the CLI and the tests.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .schema import SCHEMA_PATH, load_schema
from .spec import LrVariant, TrainSpec

__all__ = ["SCHEMA_PATH", "load_schema"]  # re-exported: the CLI and tests read them here

#: Where each setting of the former `resources:` section of a study config is set now: they
#: decide how jobs run, not what the study computes, so they are Snakemake settings (profiles,
#: command line) and never part of the config hash or of a job's rerun key.
MOVED_RUNTIME_SETTINGS = {
    "gpu_slots": "snakemake --resources gpu=N (GPUs on this machine)",
    "train.gpu": "--set-resources train:gpu=1 (profiles/slurm sets it)",
    "train.gpu_model": "--set-resources train:gpu_model=MODEL (SLURM; see profiles/slurm)",
    "train.threads": "--set-threads train=N",
    "train.mem_mb": "--set-resources train:mem_mb=N",
    "train.runtime": "--set-resources train:runtime=MINUTES",
}


class ConfigError(ValueError):
    """The config cannot be run; the message lists every problem found."""


def _strict_types() -> Any:
    """'integer' means a real int (not 4.0, not True) and 'number' excludes booleans:
    a YAML `true` or `4.5` batch size is a mistake, not something to coerce."""
    base = jsonschema.Draft202012Validator.TYPE_CHECKER

    def is_int(_: Any, x: Any) -> bool:
        return isinstance(x, int) and not isinstance(x, bool)

    def is_num(_: Any, x: Any) -> bool:
        # NaN and infinity are YAML numbers (.nan, .inf) but never a usable setting.
        if isinstance(x, bool) or not isinstance(x, int | float):
            return False
        return isinstance(x, int) or math.isfinite(x)

    return base.redefine_many({"integer": is_int, "number": is_num})


def _validator_with_defaults(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    base = jsonschema.validators.extend(
        jsonschema.Draft202012Validator, type_checker=_strict_types()
    )
    validate_props = base.VALIDATORS["properties"]

    def set_defaults(validator: Any, properties: Any, instance: Any, schema: Any) -> Iterator[Any]:
        if isinstance(instance, dict):
            for prop, sub in properties.items():
                if "default" in sub and prop not in instance:
                    instance[prop] = copy.deepcopy(sub["default"])
        yield from validate_props(validator, properties, instance, schema)

    cls = jsonschema.validators.extend(base, {"properties": set_defaults})
    return cls(schema)


def _where(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


_TYPE_NAMES = {
    "integer": "a whole number",
    "number": "a number",
    "string": "text",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping of keys to values",
    "null": "null",
}


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a non-finite number" if not math.isfinite(value) else "a decimal number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _explain_type(key: str, value: Any, wanted: Any) -> str:
    names = wanted if isinstance(wanted, list) else [wanted]
    shown = wanted if isinstance(wanted, str) else " or ".join(names)
    what = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
    if isinstance(value, float) and not math.isfinite(value):
        return f"{key} = {value!r}: must be of type {shown} ({what}; not NaN or infinity)"
    hint = ""
    if isinstance(value, str) and "number" in names and _EXPONENT_FLOAT.fullmatch(value):
        hint = f" (YAML reads {value} as text: write it with a dot, e.g. {float(value)!r})"
    return f"{key} = {value!r}: must be of type {shown} ({what}), got {_type_name(value)}{hint}"


_NAME_RULE = (
    "a name must start with a letter or digit and use only letters, digits, '_', '.' and '-' "
    "(it becomes part of file paths and of the report)"
)


def _explain(err: jsonschema.ValidationError) -> str:
    key = _where(err.absolute_path)
    value = err.instance
    v = err.validator
    if v == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(value) - set(allowed)) if isinstance(value, dict) else []
        parts = []
        for name in extra:
            near = difflib.get_close_matches(str(name), allowed, n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]!r}?" if near else "."
            where = "at the top level" if key == "(top level)" else f"in {key}"
            parts.append(f"unknown key {name!r} {where}{hint} Allowed keys: {allowed}")
        return "\n".join(parts)
    if v == "enum":
        return f"{key} = {value!r}: must be one of {err.validator_value}"
    if v == "type":
        return _explain_type(key, value, err.validator_value)
    if v in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[v]
        return f"{key} = {value!r}: must be {op} {err.validator_value}"
    if v == "uniqueItems":
        dup = sorted(str(x) for x, n in Counter(map(json.dumps, value)).items() if n > 1)
        return f"{key} = {value!r}: values must be unique; duplicated: {', '.join(dup)}"
    if v == "minItems" and key.endswith(".random_state"):
        return (
            f"{key} = {value!r}: a list of dataset draws needs at least {err.validator_value} "
            "distinct seeds (for one draw give the integer)"
        )
    if v == "minItems":
        return f"{key} = {value!r}: must have at least {err.validator_value} item(s)"
    if v == "minProperties":
        return f"{key} is empty: must name at least {err.validator_value} entry"
    if v == "required":
        missing = [k for k in err.validator_value if isinstance(value, dict) and k not in value]
        return f"{key}: missing required key(s) {missing}"
    if v == "pattern" and "propertyNames" in err.relative_schema_path:
        return f"{key}: the name {value!r} is not allowed: {_NAME_RULE}"
    if v == "pattern" and key == "model.custom":
        return (
            f"{key} = {value!r}: must look like 'path/to/file.py:function' "
            "(a Python file, a colon, then the name of a function in it)"
        )
    if v == "pattern" and key == "study":
        return (
            f"study = {value!r}: not a usable study name; use letters, digits, '_' and '-' "
            "(at most 64, starting with a letter or digit). Left out, the study is named after "
            "the config file, so a file whose name is not one needs `study:` set in it"
        )
    if v == "oneOf" and err.context:
        return _explain_one_of(key, value, err)
    if v in ("pattern", "propertyNames"):
        return f"{key} = {value!r}: {err.message}"
    return f"{key} = {value!r}: {err.message}"


#: The forms a `oneOf` key (an optimizer's learning_rate) takes, in the schema's order.
_ONE_OF_FORMS = ("a number > 0", "a list of such numbers", "a range {min, max, num}")


def _explain_one_of(key: str, value: Any, err: jsonschema.ValidationError) -> str:
    """Name the forms allowed, then what is wrong with the value in the form it is closest to
    (a mapping is judged as a range, a list as a list, anything else as a number)."""
    branch = 2 if isinstance(value, dict) else 1 if isinstance(value, list) else 0
    subs = [e for e in err.context if e.schema_path and e.schema_path[0] == branch]
    detail = "; ".join(dict.fromkeys(_explain(e) for e in subs)) or err.message
    return f"{key} must be {', '.join(_ONE_OF_FORMS[:-1])} or {_ONE_OF_FORMS[-1]}: {detail}"


def _retyped(value: Any) -> Any:
    """A scalar string as YAML would type it ("16" -> 16, "1e-3" -> 0.001, "adam" stays)."""
    if isinstance(value, list):
        return [_retyped(v) for v in value]
    if isinstance(value, dict):
        return {k: _retyped(v) for k, v in value.items()}
    if isinstance(value, str):
        try:
            typed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        if typed is None or isinstance(typed, bool | int | float):
            return typed
        if _EXPONENT_FLOAT.fullmatch(value):  # YAML 1.1 (PyYAML) reads "1e-3" as text
            return float(value)
    return value


#: A number with an exponent and no dot, which YAML 1.2 reads as a float and PyYAML does not.
_EXPONENT_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def retype_overrides(cfg: dict[str, Any], overrides: dict[str, Any]) -> None:
    """Give `--config key=value` values the types YAML would give them, in place.

    Snakemake parses values nested in a `--config` list or mapping as strings
    ("batch_sizes=[16,64]" gives ["16", "64"]); a value from a config file is left alone,
    so a quoted "16" there is still reported as the wrong type.
    """
    for key, value in overrides.items():
        if key not in cfg:
            continue
        if isinstance(value, dict) and isinstance(cfg[key], dict):
            retype_overrides(cfg[key], value)
        else:
            cfg[key] = _retyped(cfg[key])


def validate(
    config: dict[str, Any], schema_path: str | Path | None = None, base: str | Path = "."
) -> dict[str, Any]:
    """Return the config with defaults filled, or raise ConfigError listing every problem."""
    cfg = copy.deepcopy(config) if config is not None else {}
    if not isinstance(cfg, dict):
        raise ConfigError(f"config must be a mapping of keys to values, got {type(cfg).__name__}")
    if "resources" in cfg:
        raise ConfigError(_moved_resources_message())
    validator = _validator_with_defaults(load_schema(schema_path))
    errors = sorted(validator.iter_errors(cfg), key=lambda e: list(map(str, e.absolute_path)))
    messages = [_explain(e) for e in errors]
    if not messages:
        messages = _semantic_problems(cfg, Path(base))
    if messages:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(messages))
    return expand_draws(cfg)


def _moved_resources_message() -> str:
    moves = "\n".join(f"    resources.{k}: {v}" for k, v in MOVED_RUNTIME_SETTINGS.items())
    return (
        "invalid config:\n  - resources: no longer a config setting; delete the section. "
        "Threads, memory, runtime and GPUs are set the Snakemake way (README, GPUs and HPC):\n"
        f"{moves}"
    )


#: The settings each dataset kind reads besides 'kind'; any other key would be ignored.
#: 'target' is read by the tuning analysis, not by the dataset builder.
_SPLIT_KEYS = ("n_train", "test_fraction", "n_val", "val_fraction", "random_state", "target")
DATASET_KEYS = {
    "blobs": ("n_samples", "centers", "n_features", "cluster_std", *_SPLIT_KEYS),
    "moons": ("n_samples", "noise", *_SPLIT_KEYS),
    "circles": ("n_samples", "noise", "factor", *_SPLIT_KEYS),
    "digits": _SPLIT_KEYS,
    "csv": ("path", "label_column", *_SPLIT_KEYS),
    "npz": ("path", *_SPLIT_KEYS),
}

#: Seeds and random states feed NumPy/Keras seeding, which takes 0 .. 2**32 - 1.
MAX_SEED = 2**32 - 1


def _semantic_problems(cfg: dict[str, Any], base: Path) -> list[str]:
    """What a schema cannot say: files that must exist, keys that depend on each other."""
    out = []
    for section in ("datasets", "optimizers"):
        for name in cfg[section]:
            if not isinstance(name, str):
                out.append(f"{section}: the name {name!r} is not allowed: {_NAME_RULE}")
    for name, ds in cfg["datasets"].items():
        out += _dataset_problems(name, ds, cfg["datasets"], base)
    for i, seed in enumerate(cfg["seeds"]):
        if seed > MAX_SEED:
            out.append(f"seeds[{i}] = {seed}: must be <= 2**32 - 1 ({MAX_SEED})")
    out += _lr_problems(cfg)
    for name, opt in cfg["optimizers"].items():
        out += _optimizer_problems(name, opt)
    return out + _engine_problems(cfg, base)


#: What Snakemake 9 reads as a path variable in any file path ("<name>", lower case), so a data
#: file path must not contain it.
PATH_VARIABLE = re.compile(r"<[a-z][a-z0-9_]*>")


def _dataset_problems(
    name: str, ds: dict[str, Any], datasets: dict[str, Any], base: Path
) -> list[str]:
    """One dataset's keys for its kind, its data file, and its row counts."""
    from .data import generated_rows

    kind = ds["kind"]
    out = [
        f"datasets.{name}.{key}: not a setting of kind {kind!r}; "
        f"kind {kind!r} reads {list(DATASET_KEYS[kind])}"
        for key in ds
        if key != "kind" and key not in DATASET_KEYS[kind]
    ]
    if kind in ("csv", "npz"):
        if "path" not in ds:
            out.append(f"datasets.{name}: kind {kind!r} needs a 'path' to the data file")
        elif PATH_VARIABLE.search(ds["path"]):
            out.append(
                f"datasets.{name}.path = {ds['path']!r}: "
                f"{PATH_VARIABLE.search(ds['path']).group(0)!r} would be read by Snakemake as a "
                "path variable; rename the file or folder"
            )
        elif not (base / ds["path"]).is_file():
            out.append(
                f"datasets.{name}.path = {ds['path']!r}: file not found "
                f"(relative to {base.resolve()})"
            )
    if "n_train" in ds and "test_fraction" in ds:
        out.append(f"datasets.{name}: give either n_train or test_fraction, not both")
    rows = generated_rows(ds)
    if rows is not None and ds.get("n_train", 0) >= rows:
        given = "n_samples" if "n_samples" in ds else "the default n_samples"
        if kind == "digits":
            given = "the number of digits images"
        out.append(
            f"datasets.{name}.n_train = {ds['n_train']}: must be < {given} ({rows}), "
            "so that rows remain for the test split"
        )
    return out + _validation_problems(name, ds, rows) + _random_state_problems(name, ds, datasets)


def _optimizer_problems(name: str, opt: dict[str, Any]) -> list[str]:
    """An optimizer's reference rate and the settings that belong to another optimizer."""
    out = []
    if "reference_lr" in opt:
        try:
            reference_lr(base_learning_rates(opt["learning_rate"]), opt["reference_lr"])
        except ValueError as exc:
            out.append(f"optimizers.{name}.reference_lr: {exc}")
    for other, keys in OPTIMIZER_SETTINGS.items():
        for key in keys:
            if other != opt["name"] and key in opt:
                out.append(f"optimizers.{name}.{key}: not a setting of {opt['name']!r}")
    return out


def _engine_problems(cfg: dict[str, Any], base: Path) -> list[str]:
    """Engine, backend, custom model file and timing stage that do not go together."""
    out = []
    if cfg["engine"] == "fused" and cfg["backend"] != "tensorflow":
        out.append(
            f"backend = {cfg['backend']!r} needs engine = 'keras': the fused engine runs on "
            "TensorFlow only (set engine: keras, or backend: tensorflow)"
        )
    custom = cfg["model"].get("custom")
    if custom and not (base / custom.rsplit(":", 1)[0]).is_file():
        out.append(
            f"model.custom = {custom!r}: file {custom.rsplit(':', 1)[0]!r} not found "
            f"(relative to {base.resolve()})"
        )
    if cfg["timing_repeats"] and (cfg["engine"] != "fused" or custom):
        out.append(
            f"timing_repeats = {cfg['timing_repeats']}: the timing stage times the fused engine; "
            f"it needs engine: fused and no model.custom (got engine {cfg['engine']!r}, "
            f"model.custom {custom!r})"
        )
    return out


#: Kinds whose data come from a generator seeded by random_state: every draw differs.
GENERATED_KINDS = ("blobs", "moons", "circles")
#: Split settings that shuffle with random_state (any kind): with one, draws differ in the split.
SHUFFLED_SPLIT_KEYS = ("test_fraction", "val_fraction")


def _random_state_problems(name: str, ds: dict[str, Any], datasets: Mapping[str, Any]) -> list[str]:
    """Range of the random state(s); a list (dataset draws) only where random_state changes the
    data, and expanded names (`draw_name`) that no configured dataset already has."""
    rs = ds.get("random_state", 0)
    states = rs if isinstance(rs, list) else [rs]
    key = f"datasets.{name}.random_state"
    out = [f"{key} = {rs}: must be <= 2**32 - 1 ({MAX_SEED})" for r in states if r > MAX_SEED][:1]
    if not isinstance(rs, list):
        return out
    if ds["kind"] not in GENERATED_KINDS and not any(k in ds for k in SHUFFLED_SPLIT_KEYS):
        out.append(
            f"{key} = {rs}: a list of draws needs data that random_state changes: kind "
            f"{ds['kind']!r} is not generated, and without test_fraction or val_fraction its "
            "split is fixed (the first rows train), so every draw would be the same data; "
            "give one integer, or a test_fraction / val_fraction to draw splits"
        )
    taken = sorted(draw_name(name, r) for r in states if draw_name(name, r) in datasets)
    if taken:
        out.append(
            f"{key} = {rs}: its draws are named <name>-rs<seed>, and {taken} is already the name "
            "of a configured dataset; rename that dataset"
        )
    return out


def _training_rows(ds: dict[str, Any], rows: int | None) -> int | None:
    """Rows of the train split before validation is taken out (None: unknown until the
    user's file is read). Mirrors `batchstudy.data` and scikit-learn's rounding."""
    if "n_train" in ds:
        return ds["n_train"]
    if rows is None:
        return None
    if "test_fraction" in ds:
        return rows - math.ceil(rows * ds["test_fraction"])
    return rows // 2


def _validation_problems(name: str, ds: dict[str, Any], rows: int | None) -> list[str]:
    """The validation split comes out of the training rows; say when it cannot."""
    if "n_val" in ds and "val_fraction" in ds:
        return [f"datasets.{name}: give either n_val or val_fraction, not both"]
    n_train = _training_rows(ds, rows)
    if "n_val" in ds and n_train is not None and ds["n_val"] >= n_train:
        return [
            f"datasets.{name}.n_val = {ds['n_val']}: must be < the training split's {n_train} "
            "rows, so that rows remain for training (validation rows come out of the training "
            "split)"
        ]
    return []


def _lr_problems(cfg: dict[str, Any]) -> list[str]:
    """Learning-rate ranges that cannot be spaced, and warmups given twice."""
    out = []
    for name, opt in cfg["optimizers"].items():
        lr = opt["learning_rate"]
        if isinstance(lr, dict) and lr["min"] >= lr["max"]:
            out.append(
                f"optimizers.{name}.learning_rate = {lr!r}: min must be < max "
                "(for a single rate give a number)"
            )
        elif isinstance(lr, dict):
            values = base_learning_rates(lr)
            if len(set(values)) < len(values):
                out.append(
                    f"optimizers.{name}.learning_rate = {lr!r}: its {lr['num']} values round to "
                    f"duplicates at {LR_RANGE_DIGITS} significant figures ({list(values)}); "
                    "use fewer values or a wider range"
                )
    lrs = cfg["lr_scaling"]
    if lrs["warmup_steps"] and lrs["warmup_epochs"]:
        out.append(
            "lr_scaling: give either warmup_steps or warmup_epochs, not both "
            f"(got warmup_steps = {lrs['warmup_steps']}, warmup_epochs = {lrs['warmup_epochs']})"
        )
    return out


def load(path: str | Path, schema_path: str | Path | None = None) -> dict[str, Any]:
    """Read a YAML config file and validate it (the CLI's and tests' entry point)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {p} is not valid YAML: {exc}") from exc
    raw = with_study_name(raw or {}, p)
    return validate(
        raw, schema_path, base=p.parent.parent if p.parent.name == "config" else p.parent
    )


#: A config file of this stem names no study: its study is the schema's default (`default`).
UNNAMED_CONFIG_STEM = "config"


def with_study_name(cfg: Any, path: str | Path | None) -> Any:
    """`cfg` with ``study`` set to the config file's stem when the file does not set it.

    A file named config.yaml (the workflow's own config) leaves it to the schema's default;
    so does no file. A stem that is not a valid study name fails validation with a message
    that says so (`_explain`). A non-mapping `cfg` is returned as it is, for `validate` to
    reject.
    """
    if not isinstance(cfg, dict) or "study" in cfg or path is None:
        return cfg
    stem = Path(path).stem
    return cfg if stem == UNNAMED_CONFIG_STEM else {"study": stem, **cfg}


# ---- expanding the config into jobs -------------------------------------------------

#: Keys an expanded dataset draw carries (`expand_draws`): the configured dataset it was drawn
#: from and its random_state. A user cannot set them (they are not dataset settings).
DRAW_OF, DRAW = "draw_of", "draw"


def draw_name(name: str, random_state: int) -> str:
    """The dataset name of one draw: ``blobs`` drawn with random_state 3 is ``blobs-rs3``
    (valid wherever a dataset name is: paths, wildcards, labels)."""
    return f"{name}-rs{random_state}"


def expand_draws(cfg: dict[str, Any]) -> dict[str, Any]:
    """`cfg` with every dataset whose random_state is a list replaced, in place of it and in the
    list's order, by one dataset per draw (`draw_name`), each with its integer random_state and
    the `DRAW_OF` / `DRAW` record; other datasets are unchanged. Run once, by `validate`: an
    expanded config is not a config a user writes, so validating it again is an error."""
    datasets: dict[str, Any] = {}
    for name, ds in cfg["datasets"].items():
        states = ds.get("random_state")
        if not isinstance(states, list):
            datasets[name] = ds
            continue
        for r in states:
            datasets[draw_name(name, r)] = {**ds, "random_state": r, DRAW_OF: name, DRAW: r}
    return {**cfg, "datasets": datasets}


def dataset_draws(cfg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The expanded config's dataset draws: name -> {`DRAW_OF`: base name, `DRAW`: random
    state}; empty when no dataset lists several random states."""
    return {
        name: {DRAW_OF: ds[DRAW_OF], DRAW: ds[DRAW]}
        for name, ds in cfg["datasets"].items()
        if DRAW_OF in ds
    }


#: Significant figures a log-spaced learning-rate range is rounded to, so that its values read
#: well in labels and paths (1e-4 .. 1e-1 in 7 steps gives 0.0001, 0.0003162, 0.001, ...).
LR_RANGE_DIGITS = 4


def base_learning_rates(learning_rate: Any) -> tuple[float, ...]:
    """An optimizer's configured base learning rates, in config order.

    `learning_rate` is a number, a list of numbers, or ``{min, max, num}``: `num` values
    spaced evenly on a log scale from `min` to `max`, both ends included, each rounded to
    `LR_RANGE_DIGITS` significant figures (so an end given with more digits is rounded too).
    """
    if isinstance(learning_rate, dict):
        lo, hi, num = learning_rate["min"], learning_rate["max"], learning_rate["num"]
        step = (math.log(hi) - math.log(lo)) / (num - 1)
        values = [math.exp(math.log(lo) + i * step) for i in range(num)]
        return tuple(float(f"{v:.{LR_RANGE_DIGITS}g}") for v in values)
    if isinstance(learning_rate, list):
        return tuple(float(v) for v in learning_rate)
    return (float(learning_rate),)


def format_lr(base_lr: float) -> str:
    """A learning rate as text for paths, wildcards and labels: Python's shortest round-trip
    form of the float (0.001 -> '0.001', 1e-05 -> '1e-05'), the same as pandas prints it."""
    return repr(float(base_lr))


def lr_text(lr: float) -> str:
    """A learning rate, base or scaled, as the report prints it everywhere (labels, tables,
    text): `LR_RANGE_DIGITS` significant digits, no trailing zeros (0.001, 0.0003162, 1e-05).
    A log-spaced range is rounded to that precision when expanded (`base_learning_rates`), so
    its labels name each rate exactly; paths keep `format_lr`."""
    return f"{float(lr):.{LR_RANGE_DIGITS}g}"


#: Prefix of the path level that holds one base learning rate ('lr0.001').
LR_PATH_PREFIX = "lr"


def budgets(cfg: dict[str, Any]) -> list[str]:
    """Budget wildcard values: 'e<epochs>' (fixed epochs) then 's<steps>' (fixed updates)."""
    return [f"e{cfg['epochs']}"] + [f"s{s}" for s in cfg["step_budgets"]]


def budget_label(budget: str) -> str:
    kind, n = budget[0], int(budget[1:])
    return f"{n} epochs" if kind == "e" else f"{n} steps"


@dataclass(frozen=True)
class JobKey:
    """What one training job is, besides its batch size: every lr arm and base learning rate
    of its optimizer, for every seed, trains inside the job (on the replica axis)."""

    dataset: str
    optimizer: str
    budget: str

    @property
    def path(self) -> str:
        return f"{self.dataset}/{self.optimizer}/{self.budget}"


@dataclass(frozen=True)
class Condition:
    """What an analysis compares batch sizes within: everything but the batch size and seed
    (`batchstudy.metrics.CONDITION_KEYS`). Several conditions share one training job."""

    dataset: str
    optimizer: str
    lr_scaling: str
    base_lr: float
    budget: str

    def __post_init__(self) -> None:
        # Read back from a path or a table, the base rate may arrive as text.
        object.__setattr__(self, "base_lr", float(self.base_lr))

    @property
    def job(self) -> JobKey:
        return JobKey(self.dataset, self.optimizer, self.budget)

    @property
    def path(self) -> str:
        lr = f"{LR_PATH_PREFIX}{format_lr(self.base_lr)}"
        return f"{self.dataset}/{self.optimizer}/{self.lr_scaling}/{lr}/{self.budget}"

    @classmethod
    def from_keys(cls, keys: Mapping[str, Any]) -> Condition:
        """The condition of a table row, a findings entry or a plot stage's keys (other keys
        are ignored; base_lr may be text or a number)."""
        return cls(**{f.name: keys[f.name] for f in fields(cls)})

    def label_parts(self) -> dict[str, str]:
        """The words of `label`, one per condition key, for labels that leave some out."""
        return {
            "dataset": self.dataset,
            "optimizer": self.optimizer,
            "lr_scaling": f"lr {self.lr_scaling}",
            "base_lr": f"base lr {lr_text(self.base_lr)}",
            "budget": budget_label(self.budget),
        }

    @property
    def label(self) -> str:
        """Always names the base learning rate: a condition is then identified by its label
        alone, whether or not its optimizer has a learning-rate grid."""
        return " · ".join(self.label_parts().values())


def job_keys(cfg: dict[str, Any]) -> list[JobKey]:
    """Every training job's key; each runs once per batch size."""
    return [
        JobKey(d, o, b) for d in cfg["datasets"] for o in cfg["optimizers"] for b in budgets(cfg)
    ]


def conditions(cfg: dict[str, Any]) -> list[Condition]:
    """Every analysis condition: job keys x lr arms x the optimizer's base learning rates."""
    return [
        Condition(job.dataset, job.optimizer, arm, lr, job.budget)
        for job in job_keys(cfg)
        for arm in cfg["lr_scaling"]["arms"]
        for lr in base_learning_rates(cfg["optimizers"][job.optimizer]["learning_rate"])
    ]


def scaled_learning_rate(base_lr: float, arm: str, batch_size: int, reference: int) -> float:
    if arm == "constant":
        return base_lr
    ratio = batch_size / reference
    return base_lr * (ratio if arm == "linear" else math.sqrt(ratio))


def _warmup(lr_scaling: dict[str, Any], arm: str) -> dict[str, int]:
    """Warmup of one arm: only the scaled arms warm up; a config gives steps or epochs (never
    both nonzero, see `validate`); 0, the schema's default, means no warmup."""
    if arm == "constant":
        return {"warmup_steps": 0, "warmup_epochs": 0}
    return {
        "warmup_steps": lr_scaling["warmup_steps"],
        "warmup_epochs": lr_scaling["warmup_epochs"],
    }


def lr_variants(cfg: dict[str, Any], optimizer: str, batch_size: int) -> tuple[LrVariant, ...]:
    """Every (lr arm, base learning rate) of an optimizer at one batch size, arm-major."""
    lrs = cfg["lr_scaling"]
    return tuple(
        LrVariant(
            lr_scaling=arm,
            base_lr=base,
            learning_rate=scaled_learning_rate(base, arm, batch_size, lrs["reference_batch_size"]),
            **_warmup(lrs, arm),
        )
        for arm in lrs["arms"]
        for base in base_learning_rates(cfg["optimizers"][optimizer]["learning_rate"])
    )


#: The hyperparameters each optimizer reads (their defaults are the schema's, filled by
#: `validate`); the other optimizer's keys are rejected there.
OPTIMIZER_SETTINGS = {"adam": ("beta_1", "beta_2", "epsilon"), "sgd": ("momentum", "nesterov")}


def optimizer_settings(opt: dict[str, Any]) -> dict[str, Any]:
    """A validated optimizer's hyperparameters as `TrainSpec` fields."""
    return {key: opt[key] for key in OPTIMIZER_SETTINGS[opt["name"]]}


def train_spec(cfg: dict[str, Any], job: JobKey, batch_size: int) -> TrainSpec:
    """The exact job a (job key, batch size) pair runs; its JSON is the job's rerun key."""
    opt = cfg["optimizers"][job.optimizer]
    kind, n = job.budget[0], int(job.budget[1:])
    extra: dict[str, Any] = {"budget_steps": n} if kind == "s" else {}
    return TrainSpec(
        batch_size=batch_size,
        epochs=n if kind == "e" else 0,
        seeds=tuple(cfg["seeds"]),
        variants=lr_variants(cfg, job.optimizer, batch_size),
        hidden_layers=tuple(cfg["model"]["hidden_layers"]),
        activation=cfg["model"]["activation"],
        initializer=cfg["model"]["initializer"],
        optimizer=opt["name"],
        **optimizer_settings(opt),
        engine=cfg["engine"],
        eval_every_steps=cfg["eval_every_steps"],
        backend=cfg["backend"],
        custom_model=cfg["model"]["custom"],
        extra=extra,
    )


def reference_lr(rates: Any, given: float | None = None) -> float:
    """The reference rate of a grid: `given` (an optimizer's ``reference_lr``, which must be
    one of the rates) or else the middle of the sorted rates (the lower middle for an even
    count). The tuning analysis's constant-lr comparison and the noise-scale run use it."""
    ordered = sorted({float(r) for r in rates})
    if not ordered:
        raise ValueError("no learning rates")
    if given is None:
        return ordered[(len(ordered) - 1) // 2]
    match = [r for r in ordered if math.isclose(r, given, rel_tol=1e-6)]
    if not match:
        raise ValueError(f"reference rate {given} is not one of the rates {ordered}")
    return match[0]


def optimizer_reference(cfg: dict[str, Any], optimizer: str) -> float:
    """`reference_lr` of one configured optimizer."""
    opt = cfg["optimizers"][optimizer]
    return reference_lr(base_learning_rates(opt["learning_rate"]), opt.get("reference_lr"))


def noise_spec(cfg: dict[str, Any], dataset: str, optimizer: str) -> TrainSpec:
    """The noise-scale reference run of (dataset, optimizer): the first budget, the configured
    noise batch size, the first lr arm at the reference rate, the first seed."""
    batch_size = cfg["noise_scale"]["batch_size"]
    if batch_size is None:
        raise ConfigError("noise_scale.batch_size is not set: the noise scale is not measured")
    spec = train_spec(cfg, JobKey(dataset, optimizer, budgets(cfg)[0]), batch_size)
    ref = optimizer_reference(cfg, optimizer)
    arm = cfg["lr_scaling"]["arms"][0]
    chosen = [v for v in spec.variants if v.lr_scaling == arm and v.base_lr == ref]
    return replace(
        spec, variants=tuple(chosen[:1]), seeds=tuple(cfg["seeds"][:1]), eval_every_steps=0
    )


def timing_specs(cfg: dict[str, Any], job: JobKey) -> list[TrainSpec]:
    """The specs the timing stage of `job` times, one per batch size: the training jobs'
    own, without step evaluations (which the stage never runs, so changing them does not
    re-run it)."""
    return [
        dataclasses.replace(train_spec(cfg, job, b), eval_every_steps=0) for b in cfg["batch_sizes"]
    ]


def study_size(cfg: dict[str, Any]) -> dict[str, int]:
    """Counts `batchstudy check` prints: jobs (processes), conditions, and runs (models
    trained: every job trains its optimizer's variants for every seed)."""
    n_b, n_seeds = len(cfg["batch_sizes"]), len(cfg["seeds"])
    return {
        "jobs": len(job_keys(cfg)) * n_b,
        "conditions": len(conditions(cfg)),
        "batch_sizes": n_b,
        "seeds": n_seeds,
        "runs": len(conditions(cfg)) * n_b * n_seeds,
    }


#: Config keys that name or label the study rather than say what it computes: not hashed.
UNHASHED_KEYS = ("study",)


def config_hash(cfg: dict[str, Any]) -> str:
    """Short hash of the validated config's science settings (everything but the study's
    name), for provenance: the same study under two names has one hash."""
    science = {k: v for k, v in cfg.items() if k not in UNHASHED_KEYS}
    text = json.dumps(science, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
