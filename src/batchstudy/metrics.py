"""Per-run training metrics and their uncertainty, from long-format training histories.

Everything here is plain numpy/pandas/scipy so that the analysis can be rerun (and tested)
without the training stack. Definitions follow the study references:

* **Settling point** -- smooth the validation-accuracy curve, take its plateau as the median of
  the last ``k_last`` smoothed values, and report the first epoch after which the smoothed curve
  *stays* within ``eps`` of the plateau. A curve that merely touches the plateau early and leaves
  again has not settled then.
* **Steps to result** (Shallue et al. 2019, MLPerf) -- the first epoch whose raw validation
  accuracy reaches a fixed target; runs that never reach it are *censored* (NaN, ``reached``
  False) and are counted, never averaged as if they had converged.
* **Diverged runs** (any non-finite loss) keep their row with ``diverged`` True and NaN metrics.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

#: A condition is everything but the batch size and the seed: the learning-rate arm and base
#: rate are conditions too, although one training job trains all of them (replica axis).
CONDITION_KEYS: tuple[str, ...] = ("dataset", "optimizer", "lr_scaling", "base_lr", "budget")
RUN_KEYS: tuple[str, ...] = (*CONDITION_KEYS, "batch_size", "seed")
CELL_KEYS: tuple[str, ...] = (*CONDITION_KEYS, "batch_size")
#: One training job (one process, one timing stream): a (dataset, optimizer, budget, batch size).
JOB_KEYS: tuple[str, ...] = ("dataset", "optimizer", "budget", "batch_size")
#: Per-epoch measurements of a run (see `batchstudy.io.HISTORY_COLUMNS` for their meaning).
EPOCH_METRICS: tuple[str, ...] = (
    "train_loss",
    "train_accuracy",
    "end_train_loss",
    "end_train_accuracy",
    "val_loss",
    "val_accuracy",
    "test_loss",
    "test_accuracy",
)
HISTORY_COLUMNS: tuple[str, ...] = (*RUN_KEYS, "learning_rate", "epoch", *EPOCH_METRICS)
FACT_COLUMNS: tuple[str, ...] = (*RUN_KEYS, "n_train", "steps_per_epoch", "seconds_per_epoch")
LOSS_COLUMNS: tuple[str, ...] = ("train_loss", "val_loss")
DEFAULT_TARGET_FRACTIONS: tuple[float, ...] = (0.95, 0.99)
CURVE_METRICS: tuple[str, ...] = (
    "final_train_accuracy",
    "final_val_accuracy",
    "final_train_loss",
    "final_val_loss",
    "best_val_accuracy",
    "best_val_loss",
    "gap_accuracy",
    "gap_loss",
    "plateau_val_accuracy",
    "settling_epoch",
)
# Fewest paired seeds for which a bootstrap CI can say anything about spread.
MIN_PAIRS = 3

# Float slack for "within eps": a value exactly eps away counts as inside, and an eps that is
# hit up to rounding (0.85 - 0.80 != 0.05 in binary) must not flip the answer.
_WITHIN_TOL = 1e-12

Stat = Literal["mean", "median"]


# --------------------------------------------------------------------------- curve primitives


def smooth(values: Sequence[float] | np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average, so that the value at epoch e uses only epochs <= e.

    Trailing (not centred) keeps the smoothed curve causal: a settling point read off it is one
    that could have been detected at that epoch. The first ``window - 1`` epochs average over the
    epochs available so far. Any non-finite value (NaN, +-inf) inside a window makes that
    smoothed value NaN, so a diverged stretch is never averaged away into a plausible number;
    the NaN clears once the window has moved past it. ``window == 1`` returns the input (with
    non-finite values as NaN).
    """
    if int(window) != window or window < 1:
        raise ValueError(f"window must be a positive integer, got {window!r}")
    window = int(window)
    x = np.asarray(values, dtype=float).ravel()
    bad = ~np.isfinite(x)
    if window == 1 or x.size == 0:
        return np.where(bad, np.nan, x)
    pad = window - 1
    vals = sliding_window_view(np.concatenate([np.zeros(pad), np.where(bad, 0.0, x)]), window)
    is_pad = sliding_window_view(
        np.concatenate([np.ones(pad, bool), np.zeros(x.size, bool)]), window
    )
    is_bad = sliding_window_view(np.concatenate([np.zeros(pad, bool), bad]), window)
    out = vals.sum(axis=1) / (~is_pad).sum(axis=1)
    out[is_bad.any(axis=1)] = np.nan
    return out


def plateau(values: Sequence[float] | np.ndarray, k_last: int) -> float:
    """Median of the last ``k_last`` values: robust to one noisy final evaluation.

    NaN when any of those values is non-finite, because a run that ends diverged has no plateau.
    """
    if k_last < 1:
        raise ValueError(f"k_last must be >= 1, got {k_last}")
    x = np.asarray(values, dtype=float).ravel()
    tail = x[-k_last:]
    if tail.size == 0 or not np.all(np.isfinite(tail)):
        return float("nan")
    return float(np.median(tail))


def settling_epoch(
    val_acc: Sequence[float] | np.ndarray, *, window: int, k_last: int, eps: float
) -> int | None:
    """First 1-based epoch from which the smoothed curve stays within ``eps`` of its plateau.

    "Stays", not "touches": every epoch from the returned one to the end must be inside the band
    (``|smoothed - plateau| <= eps``, boundary inclusive), so an early excursion through the
    plateau does not count. ``None`` when the curve is non-finite among its last ``k_last``
    smoothed values (diverged) or when even the last epoch is outside the band (not settled).
    A curve that oscillates by more than ``eps`` until the end settles only at its last epoch,
    which reads as "not before the end of the budget" and is kept (not None) so that such runs
    count as slow rather than vanish from comparisons.
    """
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    smoothed = smooth(val_acc, window)
    level = plateau(smoothed, k_last)
    if not np.isfinite(level):
        return None
    with np.errstate(invalid="ignore"):
        inside = np.abs(smoothed - level) <= eps + _WITHIN_TOL
    if not inside[-1]:
        return None
    outside = np.flatnonzero(~inside)
    return 1 if outside.size == 0 else int(outside[-1]) + 2


def first_reach(values: Sequence[float] | np.ndarray, tau: float) -> int | None:
    """First 1-based epoch whose value is >= ``tau``; ``None`` means censored (never reached).

    The raw curve is used, as benchmarks (MLPerf, DAWNBench) count the first evaluation at the
    target; smoothing would add a lag of about half the window. NaN never reaches, and a NaN
    target is never reached.
    """
    if not np.isfinite(tau):
        return None
    x = np.asarray(values, dtype=float).ravel()
    with np.errstate(invalid="ignore"):
        hits = np.flatnonzero(x >= tau)
    return int(hits[0]) + 1 if hits.size else None


def target_suffix(fraction: float) -> str:
    """Column suffix for a target fraction (0.95 -> '95', 0.995 -> '99p5'), stable in names."""
    if not 0 < fraction <= 1:
        raise ValueError(f"target fraction must be in (0, 1], got {fraction}")
    return f"{round(fraction * 100, 6):g}".replace(".", "p")


# --------------------------------------------------------------------------- per-run table


def _require(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks columns {missing}")


def _is_diverged(run: pd.DataFrame) -> bool:
    """Any non-finite loss: once a loss blows up, later accuracies describe a broken model."""
    losses = run[list(LOSS_COLUMNS)].to_numpy(dtype=float)
    return bool(not np.all(np.isfinite(losses)))


def _curve_metrics(run: pd.DataFrame, *, window: int, k_last: int, eps: float) -> dict[str, Any]:
    """Final/best/gap/settling values of one run, sorted by epoch; NaN for a diverged run."""
    diverged = _is_diverged(run)
    row: dict[str, Any] = {"n_epochs": len(run), "diverged": diverged}
    if diverged:
        return row | dict.fromkeys(CURVE_METRICS, np.nan)
    last = run.iloc[-1]
    val_acc = run["val_accuracy"].to_numpy(dtype=float)
    settled = settling_epoch(val_acc, window=window, k_last=k_last, eps=eps)
    return row | {
        "final_train_accuracy": float(last["train_accuracy"]),
        "final_val_accuracy": float(last["val_accuracy"]),
        "final_train_loss": float(last["train_loss"]),
        "final_val_loss": float(last["val_loss"]),
        "best_val_accuracy": float(np.nanmax(val_acc)),
        "best_val_loss": float(run["val_loss"].min()),
        "gap_accuracy": float(last["train_accuracy"] - last["val_accuracy"]),
        "gap_loss": float(last["val_loss"] - last["train_loss"]),
        "plateau_val_accuracy": plateau(val_acc, k_last),
        "settling_epoch": np.nan if settled is None else float(settled),
    }


def condition_targets(run_table: pd.DataFrame, fractions: Sequence[float]) -> pd.DataFrame:
    """Target accuracy per condition: each fraction times the best batch size's mean plateau.

    One target per condition (not per batch size) so that every batch size races to the same
    finish line. The plateau of a batch size is the mean over its non-diverged seeds of each
    run's raw plateau (median of the last ``k_last`` val accuracies); the best batch size is the
    one with the highest such mean. A condition whose runs all diverged gets a NaN target.
    """
    ok = run_table.loc[~run_table["diverged"].astype(bool)]
    per_size = ok.groupby(list(CELL_KEYS), dropna=False)["plateau_val_accuracy"].mean()
    best = per_size.groupby(level=list(CONDITION_KEYS), dropna=False).max()
    conditions = run_table[list(CONDITION_KEYS)].drop_duplicates()
    targets = conditions.merge(
        best.rename("best_plateau").reset_index(), on=list(CONDITION_KEYS), how="left"
    )
    for fraction in fractions:
        targets[f"target_{target_suffix(fraction)}"] = fraction * targets["best_plateau"]
    return targets.reset_index(drop=True)


def _epochs_or_nan(epoch: int | None) -> float:
    return np.nan if epoch is None else float(epoch)


def _add_target_columns(
    table: pd.DataFrame, curves: list[np.ndarray], fraction: float
) -> pd.DataFrame:
    """Epochs/steps/examples/seconds to one target; censored and diverged runs stay NaN.

    Examples are epochs x n_train (the examples actually seen), not steps x batch_size, which
    would count the partial last batch of every epoch as a full one.
    """
    sfx = target_suffix(fraction)
    tau = table[f"target_{sfx}"].to_numpy(dtype=float)
    epochs = np.array(
        [
            _epochs_or_nan(None if diverged else first_reach(curve, t))
            for curve, t, diverged in zip(curves, tau, table["diverged"], strict=True)
        ],
        dtype=float,
    )
    table[f"epochs_to_target_{sfx}"] = epochs
    table[f"steps_to_target_{sfx}"] = epochs * table["steps_per_epoch"].astype(float)
    table[f"examples_to_target_{sfx}"] = epochs * table["n_train"].astype(float)
    table[f"seconds_to_target_{sfx}"] = epochs * table["seconds_per_epoch"].astype(float)
    table[f"reached_{sfx}"] = np.isfinite(epochs)
    return table


def run_metrics(
    history: pd.DataFrame,
    facts: pd.DataFrame,
    *,
    window: int,
    k_last: int,
    eps: float,
    target_fractions: Sequence[float] = DEFAULT_TARGET_FRACTIONS,
) -> pd.DataFrame:
    """One row per run with end-of-training, settling and time-to-target metrics.

    Every run in ``history`` gets a row (diverged ones too, with NaN metrics) so that failure
    counts survive into the summary. Facts are joined on the run keys; a run without facts
    keeps NaN steps/examples/seconds rather than being dropped.
    """
    _require(history, HISTORY_COLUMNS, "history")
    _require(facts, FACT_COLUMNS, "facts")
    ordered = history.sort_values([*RUN_KEYS, "epoch"], kind="stable")
    rows: list[dict[str, Any]] = []
    curves: list[np.ndarray] = []
    for keys, run in ordered.groupby(list(RUN_KEYS), sort=True, dropna=False):
        rows.append(
            dict(zip(RUN_KEYS, keys, strict=True))
            | _curve_metrics(run, window=window, k_last=k_last, eps=eps)
        )
        curves.append(run["val_accuracy"].to_numpy(dtype=float))
    table = pd.DataFrame(rows, columns=[*RUN_KEYS, "n_epochs", "diverged", *CURVE_METRICS])
    table["diverged"] = table["diverged"].astype(bool)
    table = table.merge(
        facts[list(FACT_COLUMNS)], on=list(RUN_KEYS), how="left", validate="one_to_one"
    )
    table["settling_step"] = table["settling_epoch"] * table["steps_per_epoch"].astype(float)
    targets = condition_targets(table, target_fractions).drop(columns="best_plateau")
    table = table.merge(targets, on=list(CONDITION_KEYS), how="left", validate="many_to_one")
    for fraction in target_fractions:
        table = _add_target_columns(table, curves, fraction)
    return table


# --------------------------------------------------------------------------- uncertainty


def _statistic(stat: Stat):
    if stat == "mean":
        return np.mean
    if stat == "median":
        return np.median
    raise ValueError(f"stat must be 'mean' or 'median', got {stat!r}")


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    *,
    stat: Stat = "mean",
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Percentile-bootstrap (estimate, lo, hi) over seeds, reproducible for a given ``seed``.

    Non-finite values are dropped first: here they mean censored or diverged runs, which callers
    count separately rather than average. One value gives a zero-width interval (there is no
    spread to resample); no values give NaNs.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    func = _statistic(stat)
    x = np.asarray(values, dtype=float).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        return (float("nan"),) * 3
    estimate = float(func(x))
    if x.size == 1:
        return estimate, estimate, estimate
    rng = np.random.default_rng(seed)
    resampled = func(x[rng.integers(0, x.size, size=(n_boot, x.size))], axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(resampled, [alpha, 1 - alpha])
    return estimate, float(lo), float(hi)


def _ci_columns(name: str, values: pd.Series, stat: Stat, n_boot: int, seed: int) -> dict:
    est, lo, hi = bootstrap_ci(values.to_numpy(dtype=float), stat=stat, n_boot=n_boot, seed=seed)
    return {f"{name}_{stat}": est, f"{name}_lo": lo, f"{name}_hi": hi}


def target_suffixes(table: pd.DataFrame) -> list[str]:
    """Target suffixes present in a run or summary table, read from its ``target_*`` columns
    (both tables carry the target value; ``steps_to_target_*`` and the like do not match)."""
    return [c.removeprefix("target_") for c in table.columns if c.startswith("target_")]


def _summarize_cell(cell: pd.DataFrame, suffixes: list[str], n_boot: int, seed: int) -> dict:
    """Summary of one (condition, batch size); the same bootstrap seed in every cell keeps each
    cell reproducible on its own, whatever else is in the table."""
    settled = cell["settling_epoch"].dropna()
    row: dict[str, Any] = {
        "n_runs": len(cell),
        "n_diverged": int(cell["diverged"].sum()),
        **_ci_columns("final_val_accuracy", cell["final_val_accuracy"], "mean", n_boot, seed),
        **_ci_columns("final_train_accuracy", cell["final_train_accuracy"], "mean", n_boot, seed),
        **_ci_columns("gap_accuracy", cell["gap_accuracy"], "mean", n_boot, seed),
        **_ci_columns("seconds_per_epoch", cell["seconds_per_epoch"], "median", n_boot, seed),
        "n_settled": len(settled),
        **_ci_columns("settling_epoch", settled, "median", n_boot, seed),
    }
    for sfx in suffixes:
        reached = cell.loc[cell[f"reached_{sfx}"].astype(bool)]
        row[f"target_{sfx}"] = float(cell[f"target_{sfx}"].iloc[0])
        row[f"n_reached_{sfx}"] = len(reached)
        row[f"n_censored_{sfx}"] = len(cell) - len(reached)
        for quantity in ("epochs", "steps", "seconds"):
            name = f"{quantity}_to_target_{sfx}"
            row |= _ci_columns(name, reached[name], "median", n_boot, seed)
    return row


def summarize(run_table: pd.DataFrame, *, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per (condition, batch size): run counts and point estimates with 95% bootstrap CIs.

    Means for accuracies (roughly symmetric over seeds); medians for epochs/steps/seconds, which
    are skewed. Settling and time-to-target statistics use only runs that settled/reached, and
    the counts of the others (``n_settled``, ``n_censored_*``, which include diverged runs) sit
    beside them, so censored runs are never averaged as if they had converged.
    """
    suffixes = target_suffixes(run_table)
    rows = [
        dict(zip(CELL_KEYS, keys, strict=True)) | _summarize_cell(cell, suffixes, n_boot, seed)
        for keys, cell in run_table.groupby(list(CELL_KEYS), sort=True, dropna=False)
    ]
    return pd.DataFrame(rows)


def paired_difference(
    a: Sequence[float] | np.ndarray | pd.Series,
    b: Sequence[float] | np.ndarray | pd.Series,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Mean of per-seed differences ``a - b`` with a bootstrap CI over seeds.

    Pairing by seed removes the seed-to-seed variation shared by both arms, which is why the
    study reuses seeds across batch sizes. Two Series are aligned on their index (the seed);
    plain arrays must already be in the same seed order. Pairs with a NaN on either side are
    dropped and counted. ``detectable`` needs the CI to exclude 0 *and* at least
    ``MIN_PAIRS`` pairs, since a bootstrap over one or two seeds cannot show spread.
    """
    if isinstance(a, pd.Series) and isinstance(b, pd.Series):
        a, b = a.align(b)
    x = np.asarray(a, dtype=float).ravel()
    y = np.asarray(b, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"paired values need equal lengths, got {x.size} and {y.size}")
    keep = np.isfinite(x) & np.isfinite(y)
    diff = x[keep] - y[keep]
    mean, lo, hi = bootstrap_ci(diff, stat="mean", n_boot=n_boot, level=level, seed=seed)
    detectable = bool(diff.size >= MIN_PAIRS and (lo > 0 or hi < 0))
    return {
        "mean_diff": mean,
        "lo": lo,
        "hi": hi,
        "detectable": detectable,
        "n": int(diff.size),
        "n_dropped": int(x.size - diff.size),
        "level": level,
    }
