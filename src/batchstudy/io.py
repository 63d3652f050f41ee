"""File formats and atomic writes.

Every intermediate of the study is written through these helpers so that a killed
job never leaves a half-written file that looks complete: data goes to a temporary
file in the same directory and is renamed into place only when it is whole.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

#: Float format of metric files: enough digits to round-trip float32, and fixed, so the
#: same numbers always give the same bytes.
FLOAT_FORMAT = "%.9g"

#: What tells the runs of one job apart: the learning-rate variant and the seed.
RUN_ID_COLUMNS = ("lr_scaling", "base_lr", "learning_rate", "seed")
#: One row per run and epoch. ``train_*``: Keras' running average over the epoch's batches
#: (what ``fit`` reports); ``end_train_*``: the whole training split evaluated with the
#: epoch's final weights; ``val_*``: the validation split; ``test_*``: the test split (the same
#: numbers as ``val_*`` when the dataset has no separate validation split).
EPOCH_METRICS = (
    "train_loss",
    "train_accuracy",
    "end_train_loss",
    "end_train_accuracy",
    "val_loss",
    "val_accuracy",
    "test_loss",
    "test_accuracy",
)
HISTORY_COLUMNS = (*RUN_ID_COLUMNS, "epoch", *EPOCH_METRICS)
TIMING_COLUMNS = ("seed", "epoch", "seconds", "replicas")
#: One row per run and evaluation (``evals.tsv``): after every ``eval_every_steps``-th optimizer
#: step of the run, or at every epoch end when that is 0. ``step``: optimizer steps taken so far
#: (the weights evaluated are those after it); ``epoch``: ``step / steps_per_epoch``
#: (fractional between epoch ends); ``val_*`` / ``test_*`` as in `HISTORY_COLUMNS`.
EVAL_COLUMNS = (
    *RUN_ID_COLUMNS,
    "step",
    "epoch",
    "val_loss",
    "val_accuracy",
    "test_loss",
    "test_accuracy",
)
#: One row per (batch size, repeat) of the timing stage (``timing_repeats.tsv``): ``order``
#: is the batch size's position (from 1) within its repeat; ``seconds_per_epoch`` the median
#: over the repeat's ``epochs`` timed epochs of one model's share (job epoch seconds /
#: ``replicas``), ``seconds_per_step`` that divided by the steps per epoch.
TIMING_REPEAT_COLUMNS = (
    "batch_size",
    "repeat",
    "order",
    "epochs",
    "seconds_per_epoch",
    "seconds_per_step",
    "replicas",
)


class FormatError(ValueError):
    """A study file exists but does not have the documented format."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes the file private; give it the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_table(path: str | os.PathLike[str], df: pd.DataFrame) -> None:
    """Tab-separated, fixed float format, no index: byte-stable for equal data.

    The bytes are those of ``df.to_csv(sep="\\t", index=False, float_format=FLOAT_FORMAT,
    lineterminator="\\n")`` (tested), written by the `csv` module from columns turned into
    text (`table_cells`): pandas formats floats value by value through its formatter
    objects, several times slower, which matters for the aggregate's 10^5-row tables."""
    columns = [table_cells(col) for _, col in df.items()]
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow([str(name) for name in df.columns])
        writer.writerows(zip(*columns, strict=True))


def table_cells(col: pd.Series) -> list[str]:
    """A column as `write_table` writes it: floats in `FLOAT_FORMAT`, missing values
    (NaN, None, NA) empty, everything else ``str``."""
    if col.dtype.kind == "f":
        values = col.to_numpy(dtype=float, na_value=float("nan")).tolist()
        return [FLOAT_FORMAT % v if v == v else "" for v in values]
    missing = col.isna().to_numpy()
    if not missing.any():
        return [str(v) for v in col.tolist()]
    missing = missing.tolist()
    return ["" if m else str(v) for v, m in zip(col.tolist(), missing, strict=True)]


def read_table(
    path: str | os.PathLike[str],
    required: Sequence[str] = (),
    *,
    what: str = "table",
    keep: Callable[[str], bool] | None = None,
) -> pd.DataFrame:
    """Read a study TSV and check it has the columns it must have, naming the file if not.

    `keep`, when given, picks the columns to parse by name (the others are skipped, which is
    what makes a wide table cheap to read); the required columns are checked among the kept
    ones, so `keep` must accept them."""
    p = Path(path)
    if not p.is_file():
        raise FormatError(f"{what} file {p} does not exist")
    if p.stat().st_size == 0:
        raise FormatError(f"{what} file {p} is empty")
    try:
        df = pd.read_csv(p, sep="\t", usecols=keep)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise FormatError(f"{what} file {p} cannot be parsed as TSV: {exc}") from exc
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise FormatError(f"{what} file {p} lacks column(s) {missing}; it has {list(df.columns)}")
    return df
