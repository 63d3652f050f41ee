"""Datasets of the study: generated (blobs, moons, circles), bundled (digits) or a user's file.

Every dataset becomes one `.npz` with a fixed train/test split, so that all batch sizes,
seeds and engines train on exactly the same numbers. Labels are stored one-hot because
the study's loss is categorical crossentropy, as in the seed experiment.

NPZ keys: ``x_train`` (n_train, d) float32, ``y_train`` (n_train, k) float32 one-hot,
``x_test``, ``y_test`` likewise, ``classes`` (k,) str, ``features`` (d,) str,
``meta`` a JSON string (kind, source checksum, sizes: n_train, n_test, n_features and n_val
when there is a validation split); ``x_val``, ``y_val`` only when the config asks for a
validation split (``n_val`` or ``val_fraction``), which is taken out of the training rows.
Without one the test split doubles as the validation split (`Dataset.validation`).

A user's file is checked when the workflow is parsed, before any job runs: it must exist,
be readable, hold numeric, finite features (also once stored as float32), a label for every
row, at least two classes, and at least two classes among the training rows. Every problem is
a `DataError` that names the file, the column or rows and what is allowed.

Fewer training rows than a batch size is allowed: that batch size trains full-batch (one
optimizer step per epoch over all training rows, as Keras does); the training job's log says
so in a NOTICE line and ``jobs.tsv`` shows one step per epoch.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

KINDS = ("blobs", "moons", "circles", "digits", "csv", "npz")

#: Rows of a generated dataset whose config gives no n_samples, and of the bundled digits.
DEFAULT_N_SAMPLES = 1000
DIGITS_ROWS = 1797


#: The seed article's dataset: make_blobs(1000, 3 centers, 2 features, std 2, random_state 2),
#: first 500 rows train, last 500 test (also the config schema's default).
SEED_BLOBS: dict[str, Any] = {
    "kind": "blobs",
    "n_samples": 1000,
    "centers": 3,
    "n_features": 2,
    "cluster_std": 2.0,
    "random_state": 2,
    "n_train": 500,
}


class DataError(ValueError):
    """The dataset as configured or as found on disk cannot be used."""


@dataclass(frozen=True)
class Dataset:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    features: tuple[str, ...]
    meta: dict[str, Any]
    #: A validation split apart from the test split; None means the test split doubles as the
    #: validation split (the seed's setup, where `fit` gets the test split as validation_data).
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    @property
    def validation(self) -> tuple[np.ndarray, np.ndarray]:
        """The rows learning curves, targets and learning-rate choices are measured on."""
        if self.x_val is None or self.y_val is None:
            return self.x_test, self.y_test
        return self.x_val, self.y_val

    @property
    def has_validation_split(self) -> bool:
        return self.x_val is not None

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def n_classes(self) -> int:
        return int(self.y_train.shape[1])


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def generated_rows(spec: dict[str, Any]) -> int | None:
    """Rows a generated or bundled dataset has (None for a user's file: read it to know)."""
    kind = spec.get("kind")
    if kind == "digits":
        return DIGITS_ROWS
    if kind in ("blobs", "moons", "circles"):
        return int(spec.get("n_samples", DEFAULT_N_SAMPLES))
    return None


def _rows_text(index: np.ndarray, total: int) -> str:
    """Data rows numbered from 1 (a CSV's first row after the header is row 1)."""
    shown = (index[:5] + 1).tolist()
    more = f" and {total - len(shown)} more" if total > len(shown) else ""
    return f"row(s) {shown}{more} (1 = the first data row)"


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    out = np.zeros((labels.shape[0], n_classes), dtype=np.float32)
    out[np.arange(labels.shape[0]), labels] = 1.0
    return out


def _generated(spec: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets as skd

    kind = spec["kind"]
    rs = spec.get("random_state", 0)
    n = spec.get("n_samples", DEFAULT_N_SAMPLES)
    if kind == "blobs":
        return skd.make_blobs(
            n_samples=n,
            centers=spec.get("centers", 3),
            n_features=spec.get("n_features", 2),
            cluster_std=spec.get("cluster_std", 2.0),
            random_state=rs,
        )
    if kind == "moons":
        return skd.make_moons(n_samples=n, noise=spec.get("noise", 0.2), random_state=rs)
    if kind == "circles":
        return skd.make_circles(
            n_samples=n,
            noise=spec.get("noise", 0.1),
            factor=spec.get("factor", 0.5),
            random_state=rs,
        )
    if kind == "digits":
        bunch = skd.load_digits()
        # Pixel intensities are 0..16; scale to 0..1 so the seed's optimizer settings fit.
        return bunch.data / 16.0, bunch.target
    raise DataError(f"dataset kind {kind!r} is not one of {list(KINDS)}")


def _data_path(spec: dict[str, Any], base: Path) -> Path:
    """The dataset's file (``path``, relative to ``base`` unless absolute); it must exist and
    not be empty."""
    path = (
        (base / spec["path"]).resolve()
        if not Path(spec["path"]).is_absolute()
        else Path(spec["path"])
    )
    if not path.is_file():
        raise DataError(f"data file {path} does not exist (dataset key 'path')")
    if path.stat().st_size == 0:
        raise DataError(f"data file {path} is empty")
    return path


def _read_csv(path: Path, label: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Features (every numeric column but ``label``), labels and feature names of a CSV file
    with a header; a `DataError` names what is wrong (no rows, no label column, a non-numeric
    or non-finite feature, an empty label)."""
    import pandas as pd

    try:
        df = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"data file {path} cannot be read as CSV: {str(exc).strip()}") from exc
    if df.empty:
        raise DataError(f"data file {path} has a header but no rows")
    if label not in df.columns:
        raise DataError(
            f"data file {path} has no label column {label!r} (label_column); "
            f"its columns are {list(df.columns)}"
        )
    feats = [c for c in df.columns if c != label]
    if not feats:
        raise DataError(f"data file {path} has no feature columns besides {label!r}")
    # pandas >= 3 reads text as StringDtype, which np.issubdtype cannot interpret.
    bad = [
        c
        for c in feats
        if not pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c])
    ]
    if bad:
        raise DataError(
            f"data file {path}: feature column(s) {bad} are not numeric; "
            "every column except the label must hold numbers"
        )
    missing = df[label].isna().to_numpy()
    if missing.any():
        raise DataError(
            f"data file {path}: label column {label!r} is empty in "
            f"{_rows_text(np.flatnonzero(missing), int(missing.sum()))}; "
            "every row needs a label"
        )
    x = df[feats].to_numpy(dtype=np.float64)
    _check_finite(x, f"data file {path}", [str(c) for c in feats])
    return x, df[label].to_numpy(), [str(c) for c in feats]


def _load_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Arrays ``X`` and ``y`` of an .npz archive (no pickles); a `DataError` when the file is
    no archive, cannot be read or lacks either array."""
    if not zipfile.is_zipfile(path):
        raise DataError(
            f"data file {path} is not an .npz archive (kind 'npz' needs a file written by "
            "numpy.savez with arrays 'X' and 'y')"
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            if "X" not in z or "y" not in z:
                raise DataError(
                    f"data file {path} must hold arrays 'X' and 'y'; it holds {z.files}"
                )
            return z["X"], z["y"]
    except (ValueError, OSError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"data file {path} cannot be read as NPZ: {exc}") from exc


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Features (float64), labels and feature names ``x0, x1, ...`` of an .npz archive; a
    `DataError` unless X is 2-D real numbers, finite, and y 1-D with X's rows and no NaN."""
    x, y = _load_npz(path)
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise DataError(
            f"data file {path}: X must be 2-D and y 1-D with the same rows; "
            f"got X {x.shape}, y {y.shape}"
        )
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise DataError(f"data file {path}: X is not real-valued numeric (dtype {x.dtype})")
    features = [f"x{i}" for i in range(x.shape[1])]
    x = x.astype(np.float64)
    _check_finite(x, f"data file {path}", features)
    if y.dtype.kind == "f" and np.isnan(y).any():
        missing = np.isnan(y)
        rows = _rows_text(np.flatnonzero(missing), int(missing.sum()))
        raise DataError(f"data file {path}: y is NaN in {rows}; every row needs a label")
    return x, y, features


def _read_file(spec: dict[str, Any], base: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Features, labels and feature names of a ``csv`` or ``npz`` dataset's file."""
    path = _data_path(spec, base)
    if spec["kind"] == "csv":
        return _read_csv(path, spec.get("label_column", "label"))
    return _read_npz(path)


def _check_finite(x: np.ndarray, what: str, features: list[str]) -> None:
    """Features must be finite numbers, also once stored as float32 (what training uses)."""
    bad = ~np.isfinite(x)
    problem = "NaN or inf features"
    if not bad.any():
        bad = np.abs(x) > np.finfo(np.float32).max
        problem = "feature values too large for float32 (|x| > 3.4e38, they would become inf)"
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        cols = [features[j] for j in np.flatnonzero(bad.any(axis=0))]
        raise DataError(
            f"{what} has {problem} in column(s) {cols}, {_rows_text(rows, len(rows))}; "
            "every feature value must be a finite number"
        )


def _split(
    x: np.ndarray, labels: np.ndarray, spec: dict[str, Any], what: str, classes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """First `n_train` rows train and the rest test (the seed's split), or a stratified
    shuffled split when `test_fraction` is given."""
    n = x.shape[0]
    if "test_fraction" in spec:
        from sklearn.model_selection import train_test_split

        counts = np.bincount(labels, minlength=len(classes))
        rare = [str(c) for c, k in zip(classes, counts, strict=True) if k < 2]
        if rare:
            raise DataError(
                f"{what}: cannot split with test_fraction = {spec['test_fraction']}: "
                f"class(es) {rare} have a single row, and a stratified split needs at least "
                "two rows of every class (one for each part); use n_train or add rows"
            )

        try:
            xtr, xte, ytr, yte = train_test_split(
                x,
                labels,
                test_size=spec["test_fraction"],
                random_state=spec.get("random_state", 0),
                stratify=labels,
            )
        except ValueError as exc:
            raise DataError(
                f"{what}: cannot split dataset with test_fraction = {spec['test_fraction']} "
                f"(a stratified split needs every class in both parts): {exc}"
            ) from exc
        return xtr, ytr, xte, yte
    n_train = spec.get("n_train", n // 2)
    if n < 2:
        raise DataError(f"{what} has {n} row(s): at least 2 are needed (train and test)")
    if not 1 <= n_train < n:
        raise DataError(
            f"{what}: n_train = {n_train}: must be between 1 and {n - 1} for data with {n} rows "
            "(the first n_train rows train, the rest are the test split)"
        )
    return x[:n_train], labels[:n_train], x[n_train:], labels[n_train:]


def _validation_split(
    x: np.ndarray, labels: np.ndarray, spec: dict[str, Any], what: str, classes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Take the validation split out of the training split: its last `n_val` rows, or a
    stratified shuffled `val_fraction` of it (`random_state`). The test split is never
    touched, so a config without these keys builds exactly the dataset it always did.
    Returns (x_train, labels_train, x_val, labels_val); the last two are None without one."""
    n = x.shape[0]
    if "val_fraction" in spec:
        from sklearn.model_selection import train_test_split

        frac = spec["val_fraction"]
        counts = np.bincount(labels, minlength=len(classes))
        rare = [str(c) for c, k in zip(classes, counts, strict=True) if 0 < k < 2]
        if rare:
            raise DataError(
                f"{what}: cannot take val_fraction = {frac} of the training split: class(es) "
                f"{rare} have a single training row, and a stratified split needs two; "
                "use n_val or add rows"
            )
        try:
            xtr, xva, ltr, lva = train_test_split(
                x, labels, test_size=frac, random_state=spec.get("random_state", 0), stratify=labels
            )
        except ValueError as exc:
            raise DataError(
                f"{what}: cannot take val_fraction = {frac} of the {n} training rows "
                f"(a stratified split needs every class in both parts): {exc}"
            ) from exc
        return xtr, ltr, xva, lva
    if "n_val" in spec:
        n_val = spec["n_val"]
        if not 1 <= n_val < n:
            raise DataError(
                f"{what}: n_val = {n_val}: must be between 1 and {n - 1}, the training split "
                f"has {n} rows (the validation split is its last n_val rows)"
            )
        return x[: n - n_val], labels[: n - n_val], x[n - n_val :], labels[n - n_val :]
    return x, labels, None, None


def build_dataset(spec: dict[str, Any], base: str | Path = ".") -> Dataset:
    """Make the dataset a config entry describes, checking it is fit to train on."""
    kind = spec.get("kind")
    if kind not in KINDS:
        raise DataError(f"dataset kind {kind!r} is not one of {list(KINDS)}")
    meta: dict[str, Any] = {"kind": kind}
    if kind in ("csv", "npz"):
        x, raw_labels, features = _read_file(spec, Path(base))
        meta["source"] = str(spec["path"])
        meta["sha256"] = sha256_file(Path(base) / spec["path"])
    else:
        x, raw_labels = _generated(spec)
        features = [f"x{i}" for i in range(x.shape[1])]
    what = f"dataset kind {kind!r}"
    if kind in ("csv", "npz"):
        what = f"data file {(Path(base) / spec['path']).resolve()}"
    _check_finite(x, what, list(features))
    try:
        classes, labels = np.unique(raw_labels, return_inverse=True)
    except TypeError as exc:  # labels of mixed types cannot be ordered
        raise DataError(f"{what}: labels mix types that cannot be compared ({exc})") from exc
    if len(classes) < 2:
        raise DataError(
            f"{what} has only one class ({classes.tolist()}) in its labels; "
            "a classifier needs at least two"
        )
    xtr, ltr, xte, lte = _split(x, labels, spec, what, classes)
    xtr, ltr, xva, lva = _validation_split(xtr, ltr, spec, what, classes)
    if len(np.unique(ltr)) < 2:
        how = f"the first n_train = {len(ltr)} rows" if "test_fraction" not in spec else "it"
        if xva is not None and "test_fraction" not in spec:
            how = f"the first {len(ltr)} rows, before the {len(xva)} validation rows"
        only = classes[ltr[:1]].tolist()[0]  # a plain Python value: 'a' or 3, not np.str_
        raise DataError(
            f"{what}: the training split ({how}) holds only class {only!r}; "
            "a classifier needs at least two classes to train on. "
            "Are the rows sorted by label? Shuffle the file or use test_fraction "
            "(a stratified shuffled split)"
        )
    k = len(classes)
    meta.update(n_train=int(len(xtr)), n_test=int(len(xte)), n_features=int(x.shape[1]))
    if xva is not None:
        meta["n_val"] = int(len(xva))
    return Dataset(
        x_train=xtr.astype(np.float32),
        y_train=one_hot(ltr, k),
        x_test=xte.astype(np.float32),
        y_test=one_hot(lte, k),
        classes=tuple(str(c) for c in classes),
        features=tuple(features),
        meta=meta,
        x_val=None if xva is None else xva.astype(np.float32),
        y_val=None if lva is None else one_hot(lva, k),
    )


def save_dataset(ds: Dataset, path: str | Path) -> None:
    from .io import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            x_train=ds.x_train,
            y_train=ds.y_train,
            x_test=ds.x_test,
            y_test=ds.y_test,
            classes=np.array(ds.classes),
            features=np.array(ds.features),
            meta=np.array(json.dumps(ds.meta, sort_keys=True)),
            **({"x_val": ds.x_val, "y_val": ds.y_val} if ds.has_validation_split else {}),
        )


def load_dataset(path: str | Path) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as z:
            return Dataset(
                x_train=z["x_train"],
                y_train=z["y_train"],
                x_test=z["x_test"],
                y_test=z["y_test"],
                classes=tuple(z["classes"].tolist()),
                features=tuple(z["features"].tolist()),
                meta=json.loads(str(z["meta"])),
                x_val=z.get("x_val"),
                y_val=z.get("y_val"),
            )
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"dataset file {path} is not a study dataset: {exc}") from exc


# --------------------------------------------------------------------------- split facts

#: Columns of ``results/<study>/data/splits.tsv`` (`split_facts`), one row per dataset.
SPLIT_COLUMNS: tuple[str, ...] = (
    "dataset",
    "n_classes",
    "n_train",
    "n_val",
    "val_split",
    "n_test",
    "chance_accuracy",
    "chance_loss",
)
#: ``val_split``: the dataset has a validation split of its own, or the test split serves as one.
VAL_OWN = "own"
VAL_TEST = "test"


def majority_share(y: np.ndarray) -> float:
    """Share of the most frequent class among one-hot rows ``y``: the accuracy of a constant
    predictor that always answers the majority class. NaN for no rows."""
    counts = np.asarray(y, dtype=float).sum(axis=0)
    total = counts.sum()
    return float(counts.max() / total) if total > 0 else float("nan")


def split_facts(name: str, ds: Dataset) -> dict[str, Any]:
    """One `SPLIT_COLUMNS` row of a dataset: split sizes and what chance scores on it.

    ``n_val`` is the validation split's rows: its own (``val_split`` 'own') or, without one,
    the test split's (``val_split`` 'test', ``n_val == n_test``), the rows learning curves and
    targets are measured on. ``chance_accuracy`` is the majority class's share of that
    validation split (a constant predictor's accuracy, at least 1 / n_classes);
    ``chance_loss`` is ln(n_classes), the crossentropy of the uniform prediction.
    """
    x_val, y_val = ds.validation
    return {
        "dataset": name,
        "n_classes": ds.n_classes,
        "n_train": ds.n_train,
        "n_val": int(x_val.shape[0]),
        "val_split": VAL_OWN if ds.has_validation_split else VAL_TEST,
        "n_test": int(ds.x_test.shape[0]),
        "chance_accuracy": majority_share(y_val),
        "chance_loss": float(np.log(ds.n_classes)),
    }


def chance_accuracies(splits: Any) -> dict[str, float]:
    """Dataset -> ``chance_accuracy`` from a splits table (a DataFrame of `SPLIT_COLUMNS`)."""
    return {
        str(d): float(c) for d, c in zip(splits["dataset"], splits["chance_accuracy"], strict=True)
    }


def chance_losses(splits: Any) -> dict[str, float]:
    """Dataset -> ``chance_loss`` from a splits table (a DataFrame of `SPLIT_COLUMNS`)."""
    return {str(d): float(c) for d, c in zip(splits["dataset"], splits["chance_loss"], strict=True)}
