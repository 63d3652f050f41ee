"""Bad input catalogue: every bad config or data file stops the study with a message that names
the key or file, the value and what is allowed, before any training job starts, and leaves
existing results as they were.

Most cases call the checks the workflow runs at parse time directly (`config.validate`,
`data.build_dataset`, `engines.models.load_builder`): they are fast. A few go through the real
snakemake CLI on a project that already has results (one module-scoped tiny study).

Fewer training rows than a batch size is *not* an error: that batch size trains full-batch
(one step per epoch over all rows), and the job's log says so in a NOTICE line. The tiny
study here has 100 training rows and batch sizes 16 and 128, so it proves that too.
"""

from __future__ import annotations

import copy
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import DEFAULT_STUDY as D
from conftest import TINY_CONFIG, make_project, snakemake, write_config

from batchstudy import config
from batchstudy.config import ConfigError
from batchstudy.data import DataError, build_dataset
from batchstudy.engines.models import ModelError, load_builder
from batchstudy.spec import steps_per_epoch

ALLOWED_TOP = str(sorted(config.load_schema()["properties"]))


def with_changes(**changes: Any) -> dict[str, Any]:
    """TINY_CONFIG with top-level keys replaced (a value of `...` deletes the key)."""
    cfg = copy.deepcopy(TINY_CONFIG)
    for key, value in changes.items():
        if value is ...:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    return cfg


def blobs(**extra: Any) -> dict[str, Any]:
    return {"blobs": {**TINY_CONFIG["datasets"]["blobs"], **extra}}


def adam(**settings: Any) -> dict[str, Any]:
    return {"adam": {"name": "adam", "learning_rate": 0.001, **settings}}


LR_FORMS = (
    "optimizers.adam.learning_rate must be a number > 0, a list of such numbers or a range "
    "{min, max, num}"
)

# (id, config, fragments the message must contain: the key, the value, what is allowed)
CONFIG_CASES = [
    ("batch size 0", with_changes(batch_sizes=[16, 0]), ["batch_sizes[1] = 0: must be >= 1"]),
    ("batch size negative", with_changes(batch_sizes=[-8]), ["batch_sizes[0] = -8: must be >= 1"]),
    (
        "batch size non-integer",
        with_changes(batch_sizes=[16, 4.5]),
        ["batch_sizes[1] = 4.5: must be of type integer", "got a decimal number"],
    ),
    (
        "batch size string",
        with_changes(batch_sizes=["big"]),
        ["batch_sizes[0] = 'big': must be of type integer", "got a string"],
    ),
    (
        "batch size boolean",
        with_changes(batch_sizes=[True]),
        ["batch_sizes[0] = True: must be of type integer", "got a boolean"],
    ),
    (
        "batch sizes not a list",
        with_changes(batch_sizes="16,64"),
        ["batch_sizes = '16,64': must be of type array", "a list"],
    ),
    (
        "batch size duplicated",
        with_changes(batch_sizes=[16, 64, 16]),
        ["batch_sizes = [16, 64, 16]: values must be unique; duplicated: 16"],
    ),
    (
        "batch sizes empty",
        with_changes(batch_sizes=[]),
        ["batch_sizes = []: must have at least 1 item"],
    ),
    ("epochs 0", with_changes(epochs=0), ["epochs = 0: must be >= 1"]),
    ("epochs negative", with_changes(epochs=-5), ["epochs = -5: must be >= 1"]),
    (
        "epochs string",
        with_changes(epochs="100"),
        ["epochs = '100': must be of type integer", "got a string"],
    ),
    ("steps 0", with_changes(step_budgets=[0]), ["step_budgets[0] = 0: must be >= 1"]),
    (
        "steps negative",
        with_changes(step_budgets=[500, -100]),
        ["step_budgets[1] = -100: must be >= 1"],
    ),
    ("no seeds", with_changes(seeds=[]), ["seeds = []: must have at least 1 item"]),
    (
        "seeds 0 (a number, not a list)",
        with_changes(seeds=0),
        ["seeds = 0: must be of type array", "got an integer"],
    ),
    ("seed negative", with_changes(seeds=[0, -1]), ["seeds[1] = -1: must be >= 0"]),
    (
        "seed too large for Keras",
        with_changes(seeds=[2**32]),
        ["seeds[0] = 4294967296: must be <= 2**32 - 1"],
    ),
    ("seed duplicated", with_changes(seeds=[1, 1]), ["duplicated: 1"]),
    (
        "unknown optimizer",
        with_changes(optimizers={"adam": {"name": "adamw", "learning_rate": 1e-3}}),
        ["optimizers.adam.name = 'adamw': must be one of ['adam', 'sgd']"],
    ),
    (
        "setting of another optimizer",
        with_changes(optimizers=adam(momentum=0.9)),
        ["optimizers.adam.momentum: not a setting of 'adam'"],
    ),
    (
        "unknown lr arm",
        with_changes(lr_scaling={"arms": ["constant", "quadratic"]}),
        ["lr_scaling.arms[1] = 'quadratic': must be one of ['constant', 'linear', 'sqrt']"],
    ),
    (
        "unknown dataset kind",
        with_changes(datasets={"blobs": {"kind": "mnist"}}),
        [
            "datasets.blobs.kind = 'mnist': must be one of ['blobs', 'moons', 'circles', 'digits', "
            "'csv', 'npz']"
        ],
    ),
    (
        "unknown engine",
        with_changes(engine="jax"),
        ["engine = 'jax': must be one of ['fused', 'keras']"],
    ),
    (
        "learning rate 0",
        with_changes(optimizers=adam(learning_rate=0)),
        [LR_FORMS, "optimizers.adam.learning_rate = 0: must be > 0"],
    ),
    (
        "learning rate negative",
        with_changes(optimizers=adam(learning_rate=-0.01)),
        [LR_FORMS, "optimizers.adam.learning_rate = -0.01: must be > 0"],
    ),
    (
        "learning rate non-numeric",
        with_changes(optimizers=adam(learning_rate="fast")),
        ["optimizers.adam.learning_rate = 'fast': must be of type number", "got a string"],
    ),
    (
        "learning rate NaN",
        with_changes(optimizers=adam(learning_rate=math.nan)),
        ["optimizers.adam.learning_rate = nan: must be of type number", "not NaN or infinity"],
    ),
    (
        "learning rate inf",
        with_changes(optimizers=adam(learning_rate=math.inf)),
        ["optimizers.adam.learning_rate = inf: must be of type number", "not NaN or infinity"],
    ),
    (
        "learning rate missing",
        with_changes(optimizers={"adam": {"name": "adam"}}),
        ["optimizers.adam: missing required key(s) ['learning_rate']"],
    ),
    (
        "misspelled top-level key",
        {**TINY_CONFIG, "batch_size": [8]},
        [
            "unknown key 'batch_size' at the top level; did you mean 'batch_sizes'?",
            f"Allowed keys: {ALLOWED_TOP}",
        ],
    ),
    (
        "misspelled epochs",
        {**TINY_CONFIG, "epoch": 3},
        ["unknown key 'epoch' at the top level; did you mean 'epochs'?"],
    ),
    (
        "British spelling",
        {**TINY_CONFIG, "optimisers": {}},
        ["unknown key 'optimisers' at the top level; did you mean 'optimizers'?"],
    ),
    (
        "unknown key, nothing near",
        {**TINY_CONFIG, "colour": "red"},
        ["unknown key 'colour' at the top level. Allowed keys: "],
    ),
    (
        "misspelled nested key",
        with_changes(model={"hidden_layer": [50]}),
        ["unknown key 'hidden_layer' in model; did you mean 'hidden_layers'?"],
    ),
    ("title not text", with_changes(title=5), ["title = 5: must be of type string"]),
    (
        "model not a mapping",
        with_changes(model="mlp"),
        ["model = 'mlp': must be of type object", "got a string"],
    ),
    (
        "deterministic not boolean",
        with_changes(deterministic="yes"),
        ["deterministic = 'yes': must be of type boolean", "true or false"],
    ),
    (
        "datasets a list",
        with_changes(datasets=["blobs"]),
        ["datasets = ['blobs']: must be of type object", "got a list"],
    ),
    ("no datasets", with_changes(datasets={}), ["datasets is empty: must name at least 1"]),
    (
        "dataset name with <script>",
        with_changes(datasets={"<script>alert(1)</script>": {"kind": "blobs"}}),
        [
            "datasets: the name '<script>alert(1)</script>' is not allowed",
            "only letters, digits, '_', '.' and '-'",
        ],
    ),
    (
        "dataset name not text",
        with_changes(datasets={1: {"kind": "blobs"}}),
        ["datasets: the name 1 is not allowed"],
    ),
    (
        "setting of another dataset kind",
        with_changes(datasets=blobs(noise=0.2)),
        ["datasets.blobs.noise: not a setting of kind 'blobs'", "kind 'blobs' reads ["],
    ),
    (
        "learning rate in exponent form YAML reads as text",
        with_changes(optimizers=adam(learning_rate="1e-3")),
        ["learning_rate = '1e-3': must be of type number", "write it with a dot, e.g. 0.001"],
    ),
    (
        "learning-rate list with a zero",
        with_changes(optimizers=adam(learning_rate=[0.1, 0])),
        [LR_FORMS, "optimizers.adam.learning_rate[1] = 0: must be > 0"],
    ),
    (
        "learning-rate list with a duplicate",
        with_changes(optimizers=adam(learning_rate=[0.1, 0.01, 0.1])),
        [LR_FORMS, "values must be unique; duplicated: 0.1"],
    ),
    (
        "learning-rate list empty",
        with_changes(optimizers=adam(learning_rate=[])),
        [LR_FORMS, "optimizers.adam.learning_rate = []: must have at least 1 item(s)"],
    ),
    (
        "learning-rate range without num",
        with_changes(optimizers=adam(learning_rate={"min": 1e-4, "max": 0.1})),
        [LR_FORMS, "optimizers.adam.learning_rate: missing required key(s) ['num']"],
    ),
    (
        "learning-rate range of one value",
        with_changes(optimizers=adam(learning_rate={"min": 1e-4, "max": 0.1, "num": 1})),
        [LR_FORMS, "optimizers.adam.learning_rate.num = 1: must be >= 2"],
    ),
    (
        "learning-rate range with a misspelled key",
        with_changes(optimizers=adam(learning_rate={"min": 1e-4, "maxi": 0.1, "num": 3})),
        [LR_FORMS, "unknown key 'maxi' in optimizers.adam.learning_rate; did you mean 'max'?"],
    ),
    (
        "learning-rate range upside down",
        with_changes(optimizers=adam(learning_rate={"min": 0.1, "max": 1e-4, "num": 3})),
        [
            "optimizers.adam.learning_rate = {'min': 0.1, 'max': 0.0001, 'num': 3}: "
            "min must be < max"
        ],
    ),
    (
        "learning-rate range too fine to round",
        with_changes(optimizers=adam(learning_rate={"min": 1e-3, "max": 1.0001e-3, "num": 4})),
        ["values round to duplicates at 4 significant figures", "use fewer values"],
    ),
    (
        "warmup in steps and in epochs",
        with_changes(lr_scaling={"arms": ["linear"], "warmup_steps": 10, "warmup_epochs": 1}),
        ["lr_scaling: give either warmup_steps or warmup_epochs, not both"],
    ),
    (
        "warmup steps negative",
        with_changes(lr_scaling={"warmup_steps": -1}),
        ["lr_scaling.warmup_steps = -1: must be >= 0"],
    ),
    (
        "validation rows and fraction",
        with_changes(datasets=blobs(n_val=10, val_fraction=0.1)),
        ["datasets.blobs: give either n_val or val_fraction, not both"],
    ),
    (
        "validation rows not below the training rows",
        with_changes(datasets=blobs(n_val=100)),
        ["datasets.blobs.n_val = 100: must be < the training split's 100 rows"],
    ),
    (
        "validation rows beyond a test_fraction split",
        with_changes(datasets={"d": {"kind": "digits", "test_fraction": 0.5, "n_val": 898}}),
        ["datasets.d.n_val = 898: must be < the training split's 898 rows"],
    ),
    (
        "validation rows zero",
        with_changes(datasets=blobs(n_val=0)),
        ["datasets.blobs.n_val = 0: must be >= 1"],
    ),
    (
        "validation fraction of 1",
        with_changes(datasets=blobs(val_fraction=1.0)),
        ["datasets.blobs.val_fraction = 1.0: must be < 1"],
    ),
    (
        "n_train not below n_samples",
        with_changes(datasets=blobs(n_train=200)),
        ["datasets.blobs.n_train = 200: must be < n_samples (200)"],
    ),
    (
        "n_train above the default size",
        with_changes(datasets={"b": {"kind": "blobs", "n_train": 5000}}),
        ["datasets.b.n_train = 5000: must be < the default n_samples (1000)"],
    ),
    (
        "n_train above the digits",
        with_changes(datasets={"d": {"kind": "digits", "n_train": 1797}}),
        ["datasets.d.n_train = 1797: must be < the number of digits images (1797)"],
    ),
    (
        "csv without a path",
        with_changes(datasets={"mine": {"kind": "csv"}}),
        ["datasets.mine: kind 'csv' needs a 'path' to the data file"],
    ),
    (
        "data file missing",
        with_changes(datasets={"mine": {"kind": "csv", "path": "data/nope.csv"}}),
        ["datasets.mine.path = 'data/nope.csv': file not found (relative to"],
    ),
    (
        "data file path with a Snakemake path variable",
        with_changes(datasets={"mine": {"kind": "csv", "path": "data/<run>/x.csv"}}),
        ["datasets.mine.path = 'data/<run>/x.csv': '<run>' would be read by Snakemake as a path"],
    ),
    (
        "custom model not file:function",
        with_changes(model={"custom": "models/net.py"}),
        ["model.custom = 'models/net.py': must look like 'path/to/file.py:function'"],
    ),
    (
        "custom model file missing",
        with_changes(model={"custom": "models/nope.py:build"}),
        ["model.custom = 'models/nope.py:build': file 'models/nope.py' not found"],
    ),
    (
        "target fraction above 1",
        with_changes(metrics={"target_fractions": [0.9, 1.5]}),
        ["metrics.target_fractions[1] = 1.5: must be <= 1"],
    ),
]


@pytest.mark.parametrize(
    "cfg, needles", [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES]
)
def test_bad_config_is_named(cfg, needles, tmp_path):
    with pytest.raises(ConfigError) as exc:
        config.validate(cfg, base=tmp_path)
    message = str(exc.value)
    assert message.startswith("invalid config:")
    for needle in needles:
        assert needle in message, f"{needle!r} not in:\n{message}"


def test_catalogue_is_large_enough():
    assert len(CONFIG_CASES) + len(DATA_CASES) >= 25


def test_every_problem_is_reported_at_once(tmp_path):
    cfg = with_changes(epochs=0, batch_sizes=[16, 16], engine="jax")
    with pytest.raises(ConfigError) as exc:
        config.validate(cfg, base=tmp_path)
    assert str(exc.value).count("\n  - ") == 3


# ---- data files ---------------------------------------------------------------------

ROWS = "".join(f"{i * 0.1:.1f},{(i * 7) % 5},{'ab'[i % 2]}\n" for i in range(20))
GOOD_CSV = "a,b,label\n" + ROWS


def _npz(path: Path, **arrays: Any) -> None:
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _write(name: str, content: str | bytes | None = None, **arrays: Any):
    def make(d: Path) -> Path:
        p = d / name
        if arrays:
            _npz(p, **arrays)
        elif isinstance(content, bytes):
            p.write_bytes(content)
        elif content is not None:
            p.write_text(content)
        return p

    return make


def _replace_row(row: int, text: str) -> str:
    lines = GOOD_CSV.splitlines(keepends=True)
    lines[row] = text
    return "".join(lines)


RNG = np.random.default_rng(0)
X = RNG.normal(size=(20, 2))
Y = np.arange(20) % 2

# (id, file maker, spec extras, fragments the message must contain)
DATA_CASES = [
    ("missing file", _write("gone.csv"), {}, ["gone.csv does not exist (dataset key 'path')"]),
    ("empty file", _write("empty.csv", ""), {}, ["empty.csv is empty"]),
    ("header only", _write("head.csv", "a,b,label\n"), {}, ["head.csv has a header but no rows"]),
    (
        "not CSV at all",
        _write("bin.csv", bytes(range(256)) * 4),
        {},
        ["bin.csv cannot be read as CSV"],
    ),
    (
        "non-numeric feature",
        _write("text.csv", _replace_row(3, "0.3,three,b\n")),
        {},
        [
            "text.csv: feature column(s) ['b'] are not numeric",
            "every column except the label must hold numbers",
        ],
    ),
    (
        "NaN feature",
        _write("nan.csv", _replace_row(3, "nan,1,b\n")),
        {},
        [
            "nan.csv has NaN or inf features in column(s) ['a'], row(s) [3]",
            "every feature value must be a finite number",
        ],
    ),
    (
        "empty feature cell",
        _write("hole.csv", _replace_row(5, ",1,a\n")),
        {},
        ["hole.csv has NaN or inf features in column(s) ['a'], row(s) [5]"],
    ),
    (
        "inf feature",
        _write("inf.csv", _replace_row(2, "0.1,inf,a\n")),
        {},
        ["inf.csv has NaN or inf features in column(s) ['b'], row(s) [2]"],
    ),
    (
        "too large for float32",
        _write("big.csv", _replace_row(2, "1e39,1,a\n")),
        {},
        ["big.csv has feature values too large for float32", "column(s) ['a'], row(s) [2]"],
    ),
    (
        "one class only",
        _write("one.csv", GOOD_CSV.replace(",b\n", ",a\n")),
        {},
        ["one.csv has only one class (['a'])", "a classifier needs at least two"],
    ),
    (
        "label column does not exist",
        _write("d.csv", GOOD_CSV),
        {"label_column": "species"},
        ["d.csv has no label column 'species' (label_column); its columns are ['a', 'b', 'label']"],
    ),
    (
        "label missing in a row",
        _write("nolabel.csv", _replace_row(4, "0.3,1,\n")),
        {},
        ["nolabel.csv: label column 'label' is empty in row(s) [4]", "every row needs a label"],
    ),
    (
        "no feature columns",
        _write("lab.csv", "label\na\nb\na\nb\n"),
        {},
        ["lab.csv has no feature columns besides 'label'"],
    ),
    (
        "training rows hold one class",
        _write(
            "sorted.csv",
            "a,label\n" + "".join(f"{i},{'a' if i < 10 else 'b'}\n" for i in range(20)),
        ),
        {"n_train": 10},
        [
            "sorted.csv: the training split (the first n_train = 10 rows) holds only class 'a'",
            "use test_fraction",
        ],
    ),
    (
        "n_train beyond the file",
        _write("d.csv", GOOD_CSV),
        {"n_train": 50},
        ["d.csv: n_train = 50: must be between 1 and 19 for data with 20 rows"],
    ),
    (
        "test_fraction leaves a class out",
        _write("rare.csv", "a,label\n" + "".join(f"{i},{'a' if i else 'b'}\n" for i in range(10))),
        {"test_fraction": 0.5},
        ["rare.csv: cannot split with test_fraction = 0.5: class(es) ['b'] have a single row"],
    ),
    (
        "validation rows take the whole training split",
        _write("d.csv", GOOD_CSV),
        {"n_train": 10, "n_val": 10},
        ["d.csv: n_val = 10: must be between 1 and 9, the training split has 10 rows"],
    ),
    (
        "validation rows leave one class to train on",
        _write(
            "half.csv",
            "a,label\n" + "".join(f"{i},{'a' if i < 10 or i > 15 else 'b'}\n" for i in range(20)),
        ),
        {"n_train": 16, "n_val": 6},
        [
            "half.csv: the training split (the first 10 rows, before the 6 validation rows) "
            "holds only class 'a'"
        ],
    ),
    (
        "validation fraction of a class with one training row",
        _write(
            "vrare.csv", "a,label\n" + "".join(f"{i},{'b' if i == 0 else 'a'}\n" for i in range(20))
        ),
        {"n_train": 10, "val_fraction": 0.3},
        [
            "vrare.csv: cannot take val_fraction = 0.3 of the training split: class(es) ['b'] "
            "have a single training row"
        ],
    ),
    (
        "npz that is not an archive",
        _write("text.npz", "X,y\n1,2\n"),
        {"kind": "npz"},
        ["text.npz is not an .npz archive", "arrays 'X' and 'y'"],
    ),
    (
        "npz without X and y",
        _write("keys.npz", features=X, labels=Y),
        {"kind": "npz"},
        ["keys.npz must hold arrays 'X' and 'y'; it holds ['features', 'labels']"],
    ),
    (
        "npz X not 2-D",
        _write("flat.npz", X=X.ravel(), y=Y),
        {"kind": "npz"},
        ["flat.npz: X must be 2-D and y 1-D with the same rows; got X (40,), y (20,)"],
    ),
    (
        "npz X with NaN",
        _write("xnan.npz", X=np.where(np.arange(20)[:, None] == 7, np.nan, X), y=Y),
        {"kind": "npz"},
        ["xnan.npz has NaN or inf features in column(s) ['x0', 'x1'], row(s) [8]"],
    ),
    (
        "npz y with NaN",
        _write("ynan.npz", X=X, y=np.where(np.arange(20) == 2, np.nan, Y)),
        {"kind": "npz"},
        ["ynan.npz: y is NaN in row(s) [3]"],
    ),
    (
        "npz training rows hold one class",
        _write("sorted.npz", X=X, y=np.repeat([3, 5], 10)),
        {"kind": "npz", "n_train": 10},
        ["sorted.npz: the training split (the first n_train = 10 rows) holds only class 3;"],
    ),
]


@pytest.mark.parametrize(
    "make, extra, needles", [c[1:] for c in DATA_CASES], ids=[c[0] for c in DATA_CASES]
)
def test_bad_data_file_is_named(make, extra, needles, tmp_path):
    path = make(tmp_path)
    spec = {"kind": "csv", "path": path.name, **extra}
    with pytest.raises(DataError) as exc:
        build_dataset(spec, base=tmp_path)
    message = str(exc.value)
    for needle in needles:
        assert needle in message, f"{needle!r} not in:\n{message}"


def test_a_readable_data_file_passes(tmp_path):
    (tmp_path / "d.csv").write_text(GOOD_CSV)
    ds = build_dataset({"kind": "csv", "path": "d.csv", "n_train": 10}, base=tmp_path)
    assert ds.features == ("a", "b") and ds.classes == ("a", "b") and ds.n_train == 10
    _npz(tmp_path / "d.npz", X=X, y=Y)
    assert build_dataset({"kind": "npz", "path": "d.npz"}, base=tmp_path).n_classes == 2
    assert zipfile.is_zipfile(tmp_path / "d.npz")


def test_fewer_rows_than_the_largest_batch_size_is_full_batch(tmp_path):
    """Documented choice: not an error. The batch size trains full-batch, one step per epoch
    (the seed's own batch size 512 on 500 training rows is this case)."""
    (tmp_path / "d.csv").write_text(GOOD_CSV)
    cfg = with_changes(
        datasets={"mine": {"kind": "csv", "path": "d.csv", "n_train": 10}}, batch_sizes=[4, 512]
    )
    cfg = config.validate(cfg, base=tmp_path)
    ds = build_dataset(cfg["datasets"]["mine"], base=tmp_path)
    assert ds.n_train == 10
    assert steps_per_epoch(ds.n_train, 512) == 1
    assert config.validate({}, base=tmp_path)["batch_sizes"][-1] == 512  # seed: 500 rows


# ---- custom models ------------------------------------------------------------------


def test_custom_model_that_does_not_import(tmp_path):
    (tmp_path / "net.py").write_text("def build(n_features, n_classes)\n    return None\n")
    with pytest.raises(ModelError, match=r"net\.py failed to import: SyntaxError"):
        load_builder("net.py:build", base=tmp_path)


def test_custom_model_whose_import_raises(tmp_path):
    (tmp_path / "net.py").write_text("import not_a_module_anywhere\n")
    with pytest.raises(ModelError, match=r"failed to import: ModuleNotFoundError"):
        load_builder("net.py:build", base=tmp_path)


def test_custom_model_without_the_function(tmp_path):
    (tmp_path / "net.py").write_text("def make(n_features, n_classes):\n    return None\n")
    with pytest.raises(ModelError, match=r"'net.py:build': .*net\.py has no function 'build'"):
        load_builder("net.py:build", base=tmp_path)


def test_custom_model_whose_builder_raises(tmp_path):
    from batchstudy.engines.models import build_custom
    from batchstudy.spec import TrainSpec

    (tmp_path / "net.py").write_text("def build(n_features, n_classes):\n    return 1 / 0\n")
    spec = TrainSpec(batch_size=4, epochs=1, seeds=(0,), custom_model="net.py:build")
    with pytest.raises(ModelError, match=r"model.custom 'net.py:build' raised ZeroDivisionError"):
        build_custom(spec, 2, 3, base=tmp_path)


# ---- through the real snakemake CLI, on a project that has results -------------------

STUDY = with_changes(batch_sizes=[16, 128])  # 100 training rows: 128 is full-batch


def _snapshot(project: Path) -> dict[str, bytes]:
    """Every result, training log and report file, by content."""
    out = {}
    for top in ("results", f"{D.logs}/train", "report"):
        for p in sorted((project / top).rglob("*")):
            if p.is_file():
                out[str(p.relative_to(project))] = p.read_bytes()
    return out


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    project = make_project(tmp_path_factory.mktemp("bad_inputs"), STUDY)
    snakemake(project)
    return project


def _run_bad_config(project: Path, cfg: dict[str, Any], tmp_path: Path) -> tuple[str, list[str]]:
    """Run snakemake on a bad study file: its output, and the files it added, removed or
    changed under results/, logs/train/ and report/."""
    before = _snapshot(project)
    assert any(k.startswith(f"{D.logs}/train/") for k in before)
    path = tmp_path / "bad.yaml"
    # The bad file is the existing study's (not a new study named "bad"), so that a failure
    # has that study's results to protect.
    write_config(path, {"study": D.study, **cfg})
    proc = snakemake(project, "--configfile", str(path), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "rule train:" not in out, "a training job started"
    after = _snapshot(project)
    touched = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert not [k for k in touched if k.startswith(f"{D.logs}/train/")], "a training job started"
    return out, touched


@pytest.mark.e2e
def test_full_batch_notice_in_the_job_log(study):
    log = (study / f"{D.logs}/train/blobs/adam/e4/bs128.log").read_text()
    assert "NOTICE: batch size 128 >= 100 training rows: full-batch" in log
    jobs = pd.read_csv(study / f"{D.aggregate}/jobs.tsv", sep="\t")
    assert jobs.set_index("batch_size")["steps_per_epoch"].to_dict() == {16: 7, 128: 1}


@pytest.mark.e2e
def test_cli_misspelled_key(study, tmp_path):
    out, touched = _run_bad_config(study, {**STUDY, "batch_size": [32]}, tmp_path)
    assert touched == []
    assert "unknown key 'batch_size' at the top level; did you mean 'batch_sizes'?" in out


@pytest.mark.e2e
def test_cli_script_in_dataset_name(study, tmp_path):
    cfg = with_changes(datasets={"<script>x</script>": TINY_CONFIG["datasets"]["blobs"]})
    out, touched = _run_bad_config(study, cfg, tmp_path)
    assert touched == []
    assert "datasets: the name '<script>x</script>' is not allowed" in out


@pytest.mark.e2e
def test_cli_bad_data_file(study, tmp_path):
    (study / "data").mkdir(exist_ok=True)
    (study / "data" / "bad.csv").write_text(_replace_row(6, "0.5,inf,a\n"))
    cfg = with_changes(datasets={"mine": {"kind": "csv", "path": "data/bad.csv", "n_train": 10}})
    out, touched = _run_bad_config(study, cfg, tmp_path)
    assert touched == []
    assert "dataset 'mine': data file" in out
    assert "bad.csv has NaN or inf features in column(s) ['b'], row(s) [6]" in out


@pytest.mark.e2e
def test_cli_custom_model_not_a_keras_model(study, tmp_path):
    """A custom model is built once by the check_model rule, which every training job waits
    for: a broken one fails there, and no training job starts."""
    (study / "models").mkdir(exist_ok=True)
    (study / "models" / "net.py").write_text(
        "def build(n_features, n_classes):\n    return {'layers': [50]}\n"
    )
    cfg = {**STUDY, "model": {"custom": "models/net.py:build"}}
    out, touched = _run_bad_config(study, cfg, tmp_path)
    assert "Error in rule check_model" in out
    log = (study / D.logs / "model_check.log").read_text()
    assert "model.custom 'models/net.py:build' returned dict, not a keras.Model" in log
    assert touched == [], touched


def test_the_module_entry_point_passes_the_status_on_and_lets_a_profiler_write(tmp_path):
    """``python -m batchstudy`` leaves with os._exit (no teardown) with the stage's status and
    its output flushed; under cProfile it exits the normal way, so the profile is written (with
    os._exit it would not be)."""
    import subprocess
    import sys

    argv = ["-m", "batchstudy", "compare", "nosuch", "other"]
    plain = subprocess.run([sys.executable, *argv], cwd=tmp_path, capture_output=True, text=True)
    assert plain.returncode == 2 and "'nosuch' has no findings" in plain.stderr
    out = tmp_path / "stage.prof"
    profiled = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(out), *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    # (cProfile itself swallows the stage's SystemExit, so its own status is 0)
    assert "'nosuch' has no findings" in profiled.stderr and out.stat().st_size > 0
