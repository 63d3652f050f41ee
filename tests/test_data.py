"""Datasets: the seed's blobs, the bundled ones, and a user's files."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from batchstudy.data import SEED_BLOBS, DataError, build_dataset, load_dataset, save_dataset


def test_blobs_is_the_seed_split():
    ds = build_dataset(SEED_BLOBS)
    x, y = make_blobs(n_samples=1000, centers=3, n_features=2, cluster_std=2, random_state=2)
    np.testing.assert_allclose(ds.x_train, x[:500].astype(np.float32))
    np.testing.assert_allclose(ds.x_test, x[500:].astype(np.float32))
    assert ds.y_train.shape == (500, 3)
    np.testing.assert_array_equal(ds.y_train.argmax(1), y[:500])
    assert ds.y_train.sum(1).tolist() == [1.0] * 500


@pytest.mark.parametrize(
    "spec, k",
    [
        ({"kind": "moons", "n_samples": 300, "n_train": 200}, 2),
        ({"kind": "circles", "n_samples": 300, "n_train": 200}, 2),
        ({"kind": "digits", "test_fraction": 0.5, "random_state": 0}, 10),
    ],
)
def test_other_datasets(spec, k):
    ds = build_dataset(spec)
    assert ds.n_classes == k
    assert np.isfinite(ds.x_train).all()


def test_round_trip(tmp_path):
    ds = build_dataset(SEED_BLOBS)
    save_dataset(ds, tmp_path / "d.npz")
    back = load_dataset(tmp_path / "d.npz")
    np.testing.assert_array_equal(back.x_train, ds.x_train)
    assert back.meta == ds.meta and back.classes == ds.classes


def test_csv_with_string_labels(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text(
        "a,b,species\n" + "".join(f"{i},{i % 3},{'x' if i % 2 else 'y'}\n" for i in range(20))
    )
    ds = build_dataset({"kind": "csv", "path": str(p), "label_column": "species", "n_train": 10})
    assert ds.classes == ("x", "y") and ds.features == ("a", "b")
    assert len(ds.meta["sha256"]) == 64


def test_csv_problems_are_named(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,label\n1,0\nnan,1\n2,0\n3,1\n")
    with pytest.raises(DataError, match="NaN or inf"):
        build_dataset({"kind": "csv", "path": str(p), "n_train": 2})
    with pytest.raises(DataError, match="no label column 'y'"):
        build_dataset({"kind": "csv", "path": str(p), "label_column": "y", "n_train": 2})
