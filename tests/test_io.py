"""Atomic writes and byte-stable tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batchstudy.io import FLOAT_FORMAT, FormatError, atomic_path, read_table, write_table


def test_failed_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "t.tsv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old\n"
    assert list(tmp_path.iterdir()) == [target]


def test_tables_are_byte_stable(tmp_path):
    df = pd.DataFrame({"a": [1, 2], "x": [0.1 + 0.2, 1 / 3]})
    write_table(tmp_path / "a.tsv", df)
    write_table(tmp_path / "b.tsv", df.copy())
    assert (tmp_path / "a.tsv").read_bytes() == (tmp_path / "b.tsv").read_bytes()
    assert (tmp_path / "a.tsv").read_text().splitlines() == ["a\tx", "1\t0.3", "2\t0.333333333"]
    assert read_table(tmp_path / "a.tsv", ["a", "x"])["x"].tolist() == pytest.approx([0.3, 1 / 3])


def test_tables_are_the_bytes_pandas_writes(tmp_path):
    """write_table's own writer keeps pandas' format: floats in FLOAT_FORMAT (float32 and
    nullable too), missing values empty, strings quoted where they hold a tab or a quote."""
    df = pd.DataFrame(
        {
            "s": ["a", "b\tc", None, 'q"x'],
            "f": [1.5, np.nan, -0.0, np.inf],
            "f32": np.array([0.1, 1 / 3, -2.5e-8, 7e12], dtype=np.float32),
            "i": [1, 2, 3, -4],
            "b": [True, False, True, False],
            "o": [1.25, "x", np.nan, None],
            "nf": pd.array([1.0, None, 2.0, 3.0], dtype="Float64"),
            "ni": pd.array([1, None, 2, 3], dtype="Int64"),
        }
    )
    write_table(tmp_path / "a.tsv", df)
    expected = df.to_csv(sep="\t", index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    assert (tmp_path / "a.tsv").read_text(encoding="utf-8") == expected


def test_read_table_names_the_file(tmp_path):
    p = tmp_path / "h.tsv"
    p.write_text("a\tb\n1\t2\n")
    with pytest.raises(FormatError, match=r"h.tsv lacks column\(s\) \['c'\]"):
        read_table(p, ["a", "c"])


def test_written_files_are_not_private(tmp_path):
    write_table(tmp_path / "a.tsv", pd.DataFrame({"a": [1]}))
    assert (tmp_path / "a.tsv").stat().st_mode & 0o044 == 0o044
