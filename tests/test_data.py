"""Datasets: the seed's blobs, the bundled ones, and a user's files."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from batchstudy.data import (
    SEED_BLOBS,
    SPLIT_COLUMNS,
    VAL_OWN,
    VAL_TEST,
    DataError,
    build_dataset,
    load_dataset,
    majority_share,
    save_dataset,
    split_facts,
)


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


def test_without_a_validation_split_the_test_split_doubles_as_it(tmp_path):
    ds = build_dataset(SEED_BLOBS)
    assert not ds.has_validation_split and "n_val" not in ds.meta
    assert ds.validation[0] is ds.x_test and ds.validation[1] is ds.y_test
    save_dataset(ds, tmp_path / "d.npz")
    with np.load(tmp_path / "d.npz") as z:
        assert "x_val" not in z.files and "y_val" not in z.files
    assert load_dataset(tmp_path / "d.npz").x_val is None


def test_validation_rows_come_from_the_end_of_the_training_split(tmp_path):
    seed, split = build_dataset(SEED_BLOBS), build_dataset({**SEED_BLOBS, "n_val": 100})
    np.testing.assert_array_equal(split.x_test, seed.x_test)  # the test split is untouched
    np.testing.assert_array_equal(split.x_train, seed.x_train[:400])
    np.testing.assert_array_equal(split.x_val, seed.x_train[400:])
    np.testing.assert_array_equal(split.y_val, seed.y_train[400:])
    assert split.meta["n_val"] == 100 and split.meta["n_train"] == 400
    assert split.validation[0] is split.x_val
    save_dataset(split, tmp_path / "d.npz")
    back = load_dataset(tmp_path / "d.npz")
    np.testing.assert_array_equal(back.x_val, split.x_val)
    np.testing.assert_array_equal(back.y_val, split.y_val)
    assert back.meta == split.meta


def test_validation_fraction_is_a_stratified_part_of_the_training_split():
    spec = {"kind": "digits", "test_fraction": 0.5, "random_state": 0}
    seed, split = build_dataset(spec), build_dataset({**spec, "val_fraction": 0.2})
    np.testing.assert_array_equal(split.x_test, seed.x_test)
    assert len(split.x_val) == round(0.2 * seed.n_train)
    assert split.n_train + len(split.x_val) == seed.n_train
    rows = {r.tobytes() for r in seed.x_train}
    assert all(r.tobytes() in rows for r in split.x_val)
    assert split.y_val.sum(0).min() >= 10  # every digit in the validation split
    again = build_dataset({**spec, "val_fraction": 0.2})
    np.testing.assert_array_equal(again.x_val, split.x_val)


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


def test_split_facts_with_and_without_a_validation_split():
    shared, own = build_dataset(SEED_BLOBS), build_dataset({**SEED_BLOBS, "n_val": 100})
    a, b = split_facts("blobs", shared), split_facts("blobs", own)
    assert (a["n_train"], a["n_val"], a["n_test"], a["val_split"]) == (500, 500, 500, VAL_TEST)
    assert (b["n_train"], b["n_val"], b["n_test"], b["val_split"]) == (400, 100, 500, VAL_OWN)
    assert a["n_classes"] == 3 and a["chance_loss"] == pytest.approx(np.log(3))
    # The majority class's share of the validation rows: at least a third, well below one.
    y = shared.y_test.argmax(axis=1)
    assert a["chance_accuracy"] == pytest.approx(np.bincount(y).max() / len(y))
    assert 1 / 3 <= b["chance_accuracy"] < 0.5
    assert list(a) == list(SPLIT_COLUMNS)


def test_majority_share_of_one_hot_rows():
    y = np.eye(3)[[0, 0, 0, 1, 2]]
    assert majority_share(y) == pytest.approx(0.6)
    assert np.isnan(majority_share(np.zeros((0, 3))))


def test_splits_command_writes_one_row_per_dataset_file(tmp_path):
    import pandas as pd

    from batchstudy.cli import main

    for name, spec in (("seed", SEED_BLOBS), ("held", {**SEED_BLOBS, "n_val": 100})):
        save_dataset(build_dataset(spec), tmp_path / f"{name}.npz")
    out = tmp_path / "splits.tsv"
    assert (
        main(["splits", "--out", str(out), str(tmp_path / "seed.npz"), str(tmp_path / "held.npz")])
        == 0
    )
    table = pd.read_csv(out, sep="\t")
    assert list(table.columns) == list(SPLIT_COLUMNS)
    assert table.set_index("dataset")["val_split"].to_dict() == {"seed": VAL_TEST, "held": VAL_OWN}
