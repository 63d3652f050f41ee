"""Datasets of the study: generated (blobs, moons, circles), bundled (digits) or the user's own file.

Every dataset becomes one `.npz` with a fixed train/test split, so that all batch sizes,
seeds and engines train on exactly the same numbers. Labels are stored one-hot because
the study's loss is categorical crossentropy, as in the seed experiment.

NPZ keys: ``x_train`` (n_train, d) float32, ``y_train`` (n_train, k) float32 one-hot,
``x_test``, ``y_test`` likewise, ``classes`` (k,) str, ``features`` (d,) str,
``meta`` a JSON string (kind, source checksum, sizes).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

KINDS = ("blobs", "moons", "circles", "digits", "csv", "npz")


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


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    out = np.zeros((labels.shape[0], n_classes), dtype=np.float32)
    out[np.arange(labels.shape[0]), labels] = 1.0
    return out


def _generated(spec: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets as skd

    kind = spec["kind"]
    rs = spec.get("random_state", 0)
    n = spec.get("n_samples", 1000)
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


def _read_file(spec: dict[str, Any], base: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    path = (
        (base / spec["path"]).resolve()
        if not Path(spec["path"]).is_absolute()
        else Path(spec["path"])
    )
    if not path.is_file():
        raise DataError(f"data file {path} does not exist (dataset key 'path')")
    if path.stat().st_size == 0:
        raise DataError(f"data file {path} is empty")
    label = spec.get("label_column", "label")
    if spec["kind"] == "csv":
        import pandas as pd

        try:
            df = pd.read_csv(path)
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise DataError(f"data file {path} cannot be read as CSV: {exc}") from exc
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
        bad = [c for c in feats if not np.issubdtype(df[c].dtype, np.number)]
        if bad:
            raise DataError(
                f"data file {path}: feature column(s) {bad} are not numeric; "
                "every column except the label must hold numbers"
            )
        return df[feats].to_numpy(dtype=np.float64), df[label].to_numpy(), [str(c) for c in feats]
    try:
        with np.load(path, allow_pickle=False) as z:
            if "X" not in z or "y" not in z:
                raise DataError(
                    f"data file {path} must hold arrays 'X' and 'y'; it holds {z.files}"
                )
            x, y = z["X"], z["y"]
    except (ValueError, OSError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"data file {path} cannot be read as NPZ: {exc}") from exc
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise DataError(
            f"data file {path}: X must be 2-D and y 1-D with the same rows; "
            f"got X {x.shape}, y {y.shape}"
        )
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"data file {path}: X is not numeric (dtype {x.dtype})")
    return x.astype(np.float64), y, [f"x{i}" for i in range(x.shape[1])]


def _split(
    x: np.ndarray, labels: np.ndarray, spec: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """First `n_train` rows train and the rest test (the seed's split), or a stratified
    shuffled split when `test_fraction` is given."""
    n = x.shape[0]
    if "test_fraction" in spec:
        from sklearn.model_selection import train_test_split

        try:
            xtr, xte, ytr, yte = train_test_split(
                x,
                labels,
                test_size=spec["test_fraction"],
                random_state=spec.get("random_state", 0),
                stratify=labels,
            )
        except ValueError as exc:
            raise DataError(f"cannot split dataset with test_fraction: {exc}") from exc
        return xtr, ytr, xte, yte
    n_train = spec.get("n_train", n // 2)
    if not 1 <= n_train < n:
        raise DataError(f"n_train={n_train} must be between 1 and {n - 1} for {n} rows")
    return x[:n_train], labels[:n_train], x[n_train:], labels[n_train:]


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
    if not np.all(np.isfinite(x)):
        rows = np.where(~np.all(np.isfinite(x), axis=1))[0][:5].tolist()
        raise DataError(f"dataset {spec.get('path', kind)} has NaN or inf features (rows {rows})")
    if len(raw_labels) and isinstance(raw_labels[0], float) and np.isnan(raw_labels).any():
        raise DataError(f"dataset {spec.get('path', kind)} has missing labels")
    classes, labels = np.unique(raw_labels, return_inverse=True)
    if len(classes) < 2:
        raise DataError(
            f"dataset {spec.get('path', kind)} has only one class ({classes.tolist()}); "
            "a classifier needs at least two"
        )
    xtr, ltr, xte, lte = _split(x, labels, spec)
    k = len(classes)
    meta.update(n_train=int(len(xtr)), n_test=int(len(xte)), n_features=int(x.shape[1]))
    return Dataset(
        x_train=xtr.astype(np.float32),
        y_train=one_hot(ltr, k),
        x_test=xte.astype(np.float32),
        y_test=one_hot(lte, k),
        classes=tuple(str(c) for c in classes),
        features=tuple(features),
        meta=meta,
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
            )
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"dataset file {path} is not a study dataset: {exc}") from exc
