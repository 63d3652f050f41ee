"""Per-run training metrics and their uncertainty, from long-format training histories.

Everything here is plain numpy/pandas/scipy so that the analysis can be rerun (and tested)
without the training stack. Definitions follow the study references:

* **Settling point** -- smooth the validation-accuracy curve, take its plateau as the median of
  the last ``k_last`` smoothed values, and report the first epoch after which the smoothed curve
  *stays* within ``eps`` of the plateau. A curve that merely touches the plateau early and leaves
  again has not settled then, and a run whose smoothed accuracy or loss still moves over the
  plateau window (slope above ``max_slope``) has not settled at all: it is censored at the
  budget, like a run that never reached a target. Nor has a run whose curve enters its band
  only in the last ``k_last + window`` epochs (settling epoch above
  `latest_settling_epoch`): there a slow climb cannot be told from a plateau, so it is
  censored at the budget as *budget-limited*.
* **Steps to result** (Shallue et al. 2019, MLPerf) -- the first epoch whose raw validation
  accuracy reaches a fixed target (or whose raw validation loss falls to a target loss); runs
  that never reach it are *censored* (NaN, ``reached`` False) and are counted, never averaged
  as if they had converged. `batchstudy.stats.censored_median` turns them into medians.
* **Diverged runs** (any non-finite loss) keep their row with ``diverged`` True and NaN metrics.
* **Exploded loss** -- a run whose final test loss is non-finite (a diverged run included) or
  above `EXPLODED_LOSS_FACTOR` times its dataset's chance loss (ln n_classes, the uniform
  prediction's crossentropy; `batchstudy.data.split_facts`). Such values are heavy-tailed (up
  to 1e29): a condition's final test loss is then a median with exploded runs counted as
  above every other value (`loss_summary`), never a mean.
* **Collapsed to chance** -- a run whose plateau validation accuracy is at most the dataset's
  chance accuracy (majority class share of the validation split, `batchstudy.data.split_facts`)
  plus ``chance_margin`` has learnt nothing a constant predictor would not: it is never settled,
  and a condition whose best plateau is at chance gets no relative targets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from .config import Condition, JobKey
from .io import EPOCH_METRICS
from .stats import (
    LOSS_RANGE,
    Effect,
    IntervalSettings,
    censored_median,
    censored_median_columns,
    t_interval,
    value_range,
)

#: A condition is everything but the batch size and the seed: the learning-rate arm and base
#: rate are conditions too, although one training job trains all of them (replica axis).
#: The fields of `batchstudy.config.Condition`, in its path's order: (dataset, optimizer,
#: lr_scaling, base_lr, budget).
CONDITION_KEYS: tuple[str, ...] = tuple(f.name for f in fields(Condition))
RUN_KEYS: tuple[str, ...] = (*CONDITION_KEYS, "batch_size", "seed")
CELL_KEYS: tuple[str, ...] = (*CONDITION_KEYS, "batch_size")
#: One training job (one process, one timing stream): a `batchstudy.config.JobKey` (dataset,
#: optimizer, budget) and its batch size.
JOB_KEYS: tuple[str, ...] = (*(f.name for f in fields(JobKey)), "batch_size")
HISTORY_COLUMNS: tuple[str, ...] = (*RUN_KEYS, "learning_rate", "epoch", *EPOCH_METRICS)
FACT_COLUMNS: tuple[str, ...] = (*RUN_KEYS, "n_train", "steps_per_epoch", "seconds_per_epoch")
LOSS_COLUMNS: tuple[str, ...] = ("train_loss", "val_loss")
DEFAULT_TARGET_FRACTIONS: tuple[float, ...] = (0.95, 0.99)
CURVE_METRICS: tuple[str, ...] = (
    "final_train_accuracy",
    "final_end_train_accuracy",
    "final_val_accuracy",
    "final_test_accuracy",
    "final_test_loss",
    "final_train_loss",
    "final_val_loss",
    "best_val_accuracy",
    "best_val_loss",
    "gap_accuracy",
    "gap_loss",
    "plateau_val_accuracy",
    "plateau_val_loss",
    "settling_epoch",
)
#: Per-run columns of the run table between its keys and `CURVE_METRICS` (`run_metrics`).
RUN_INFO_COLUMNS: tuple[str, ...] = (
    "n_epochs",
    "diverged",
    "settle_status",
    "settles_after",
    "last_settle_epoch",
    "chance_accuracy",
    "chance_loss",
)
#: Time-to-event quantities derived from an epoch count: unit -> per-run factor column
#: (None: the epochs themselves). Examples are epochs x n_train, the examples actually seen.
EVENT_UNITS: dict[str, str | None] = {
    "epochs": None,
    "steps": "steps_per_epoch",
    "examples": "n_train",
    "seconds": "seconds_per_epoch",
}

#: ``settle_status`` of a run (`settle_status`): settled, or why not. "still moving": the smoothed
#: accuracy or loss moves by more than ``max_slope`` over the plateau window (or the last epoch is
#: outside the band) without the loss rising; "loss rising": the smoothed loss climbs by more than
#: ``max_slope`` of its plateau per epoch; "at chance": plateau accuracy at most chance
#: plus the margin; "budget-limited": flat and inside its band, but entered it only in the last
#: ``k_last + window`` epochs (`latest_settling_epoch`); "too short to settle": the budget has
#: no more epochs than ``k_last + window``, so no run can settle and no cause is observed;
#: "diverged": a non-finite loss.
SETTLED = "settled"
STILL_MOVING = "still moving"
LOSS_RISING = "loss rising"
BUDGET_LIMITED = "budget-limited"
TOO_SHORT = "too short to settle"
COLLAPSED = "at chance"
DIVERGED = "diverged"
SETTLE_STATUSES: tuple[str, ...] = (
    SETTLED,
    STILL_MOVING,
    LOSS_RISING,
    BUDGET_LIMITED,
    TOO_SHORT,
    COLLAPSED,
    DIVERGED,
)

#: A final test loss above this many times the dataset's chance loss has exploded
#: (`exploded_losses`): ten times the uniform prediction's crossentropy is a model that is
#: confidently wrong, far beyond any loss a working model reaches.
EXPLODED_LOSS_FACTOR = 10.0
#: How the summary tables count such runs: "(1 of 10 above 10× chance loss)" (diverged runs
#: among them). Not "exploded": a loss can be that high from the first epoch on.
HIGH_LOSS_WORDS = f"above {EXPLODED_LOSS_FACTOR:g}× chance loss"
#: How the summary's final test loss is chosen, in words (the report's Definitions).
LOSS_NOTE = (
    "In the summary tables, the final test loss is the mean over seeds with its t-interval "
    "where every run's final test loss is finite and at most "
    f"{EXPLODED_LOSS_FACTOR:g}× the dataset's chance loss (ln of the number of classes, the "
    "uniform prediction's loss; for a dataset whose number of classes is not known, only a "
    "non-finite loss counts). Where any run's loss exceeds that or the run diverged, such "
    "heavy-tailed values have no meaningful mean: the table gives the median instead, those "
    "runs counted as above every other value, with the censored-median bootstrap and "
    f"“(k of n {HIGH_LOSS_WORDS})” (whether such a loss blew up or was high from the start, "
    "the learning curves show); a median or interval end that reads "
    f"“> {EXPLODED_LOSS_FACTOR:g}× chance” lies above that level."
)

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


def slope(values: Sequence[float] | np.ndarray) -> float:
    """Least-squares slope per epoch of a curve; NaN when a value is non-finite or n < 2."""
    y = np.asarray(values, dtype=float).ravel()
    if y.size < 2 or not np.all(np.isfinite(y)):
        return float("nan")
    x = np.arange(y.size, dtype=float)
    return float(np.polyfit(x, y, 1)[0])


def tail_slope(smoothed: np.ndarray, k_last: int, relative: bool) -> float:
    """Slope per epoch of the last ``k_last`` smoothed values (NaN when one is non-finite).

    ``relative`` divides the slope by the plateau level (for losses, whose scale depends on the
    problem: 0.001 then means 0.1% of the plateau loss per epoch). A plateau of 0 has no
    relative slope; the absolute slope is returned then.
    """
    tail = np.asarray(smoothed, dtype=float)[-k_last:]
    rate = slope(tail)
    if relative and np.isfinite(rate):
        level = abs(plateau(tail, k_last))
        rate = rate / level if level > 0 else rate
    return rate


def is_flat(smoothed: np.ndarray, k_last: int, max_slope: float, relative: bool) -> bool:
    """Whether the last ``k_last`` smoothed values have |`tail_slope`| <= ``max_slope``;
    a non-finite tail is not flat."""
    rate = tail_slope(smoothed, k_last, relative)
    return bool(np.isfinite(rate) and abs(rate) <= max_slope + _WITHIN_TOL)


def is_collapsed(plateau_accuracy: float, chance: float, margin: float) -> bool:
    """Whether a plateau accuracy is at most ``chance + margin`` (boundary inclusive): no better
    than always answering the majority class. False when either number is NaN (unknown chance,
    diverged run): collapse is only called on evidence."""
    if not (np.isfinite(plateau_accuracy) and np.isfinite(chance)):
        return False
    return bool(plateau_accuracy <= chance + margin + _WITHIN_TOL)


def unsettled_status(
    val_loss: Sequence[float] | np.ndarray, *, window: int, k_last: int, max_slope: float | None
) -> str:
    """Why a finite run that did not settle (and did not collapse) has no settling point:
    `LOSS_RISING` when its smoothed validation loss climbs by more than ``max_slope`` of its
    plateau per epoch over the plateau window, `STILL_MOVING` otherwise (accuracy or loss still
    moving, or the last epoch outside the band). Without ``max_slope`` any rising loss counts."""
    rate = tail_slope(smooth(val_loss, window), k_last, relative=True)
    limit = 0.0 if max_slope is None else max_slope
    return LOSS_RISING if np.isfinite(rate) and rate > limit + _WITHIN_TOL else STILL_MOVING


def latest_settling_epoch(n_epochs: int, *, window: int, k_last: int) -> int:
    """The last 1-based epoch a run of ``n_epochs`` can settle at: ``n_epochs - k_last -
    window``, so that more than the plateau window plus the smoothing window lies between the
    settling point and the end of the budget. A curve entering its band later may still be
    climbing slowly (slope under the limit) and cannot be told from a plateau. Below 1 (a
    budget of at most ``k_last + window`` epochs) no run can settle."""
    return int(n_epochs) - int(k_last) - int(window)


def band_entry_epoch(
    val_acc: Sequence[float] | np.ndarray,
    *,
    window: int,
    k_last: int,
    eps: float,
    val_loss: Sequence[float] | np.ndarray | None = None,
    max_slope: float | None = None,
) -> int | None:
    """First 1-based epoch from which the smoothed curve stays within ``eps`` of its plateau,
    whenever in the budget that is (`settling_epoch` adds the budget rule).

    "Stays", not "touches": every epoch from the returned one to the end must be inside the band
    (``|smoothed - plateau| <= eps``, boundary inclusive), so an early excursion through the
    plateau does not count. ``None`` when the curve is non-finite among its last ``k_last``
    smoothed values (diverged), when even the last epoch is outside the band, or -- with
    ``max_slope`` -- when the smoothed accuracy or the smoothed ``val_loss`` (relative to its
    plateau) still moves by more than ``max_slope`` per epoch over the plateau window: a curve
    still climbing or falling has no plateau to settle on. A curve that oscillates by more
    than ``eps`` until the end enters its band only at its last epoch.
    """
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    smoothed = smooth(val_acc, window)
    level = plateau(smoothed, k_last)
    if not np.isfinite(level):
        return None
    if max_slope is not None:
        if not is_flat(smoothed, k_last, max_slope, relative=False):
            return None
        if val_loss is not None and not is_flat(
            smooth(val_loss, window), k_last, max_slope, relative=True
        ):
            return None
    with np.errstate(invalid="ignore"):
        inside = np.abs(smoothed - level) <= eps + _WITHIN_TOL
    if not inside[-1]:
        return None
    outside = np.flatnonzero(~inside)
    return 1 if outside.size == 0 else int(outside[-1]) + 2


def settling_point(
    val_acc: Sequence[float] | np.ndarray,
    *,
    window: int,
    k_last: int,
    eps: float,
    val_loss: Sequence[float] | np.ndarray | None = None,
    max_slope: float | None = None,
    chance: float = np.nan,
    chance_margin: float = 0.0,
) -> tuple[int | None, str]:
    """The settling rule in one place: ``(epoch, status)`` with status one of
    `SETTLE_STATUSES` and epoch ``None`` unless the status is `SETTLED`.

    In order: a budget of no more than ``k_last + window`` epochs is `TOO_SHORT` (its plateau
    is not even defined over the window); a plateau accuracy at most ``chance + chance_margin``
    is `COLLAPSED` (`is_collapsed`; never with a NaN ``chance``); a curve with no band entry
    (`band_entry_epoch` is ``None``) is `unsettled_status` of its ``val_loss``
    (`STILL_MOVING` without one); an entry later than `latest_settling_epoch` is
    `BUDGET_LIMITED`; otherwise the entry epoch is the settling point. A diverged run (a
    non-finite loss) is the caller's to mark (`_curve_metrics`): its curve is not read here.
    """
    entry = band_entry_epoch(
        val_acc, window=window, k_last=k_last, eps=eps, val_loss=val_loss, max_slope=max_slope
    )
    latest = latest_settling_epoch(len(np.ravel(val_acc)), window=window, k_last=k_last)
    if latest < 1:
        return None, TOO_SHORT
    if is_collapsed(plateau(val_acc, k_last), chance, chance_margin):
        return None, COLLAPSED
    if entry is None:
        if val_loss is None:
            return None, STILL_MOVING
        return None, unsettled_status(val_loss, window=window, k_last=k_last, max_slope=max_slope)
    if entry > latest:
        return None, BUDGET_LIMITED
    return entry, SETTLED


def settles_after(status: str, n_epochs: int, *, window: int, k_last: int) -> float:
    """The epoch an unsettled run's settling epoch, if it has one, is known to lie after:
    ``n_epochs`` (the budget) for a run `STILL_MOVING` or with its `LOSS_RISING`; for a
    `BUDGET_LIMITED` one only `latest_settling_epoch`, since it entered its band after that
    epoch but within the budget, where it may already have settled. NaN for a settled run and
    for those that have no settling epoch to bound (`COLLAPSED`, `DIVERGED`, `TOO_SHORT`)."""
    if status in (STILL_MOVING, LOSS_RISING):
        return float(n_epochs)
    if status == BUDGET_LIMITED:
        return float(latest_settling_epoch(n_epochs, window=window, k_last=k_last))
    return np.nan


def settling_epoch(
    val_acc: Sequence[float] | np.ndarray,
    *,
    window: int,
    k_last: int,
    eps: float,
    val_loss: Sequence[float] | np.ndarray | None = None,
    max_slope: float | None = None,
) -> int | None:
    """First 1-based epoch from which the smoothed curve stays within ``eps`` of its plateau
    (`band_entry_epoch`), provided that it leaves more than ``k_last + window`` epochs before
    the budget ends (at most `latest_settling_epoch`): the epoch of `settling_point`.

    ``None`` (not settled: censored at the budget) wherever `band_entry_epoch` is ``None``, and
    also when the band is entered only in the last ``k_last + window`` epochs (budget-limited):
    a curve still climbing more slowly than ``max_slope`` looks flat over the plateau window and
    "enters" its band just that far back from the end, whatever the budget, so such a point
    measures the budget, not the run. A curve that oscillates by more than ``eps`` until the
    end therefore never settles.
    """
    return settling_point(
        val_acc, window=window, k_last=k_last, eps=eps, val_loss=val_loss, max_slope=max_slope
    )[0]


def first_below(values: Sequence[float] | np.ndarray, tau: float) -> int | None:
    """First 1-based epoch whose value is <= ``tau`` (a loss target); ``None``: censored."""
    if not np.isfinite(tau):
        return None
    return first_reach(-np.asarray(values, dtype=float), -tau)


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
    return not all(np.isfinite(run[c].to_numpy(dtype=float)).all() for c in LOSS_COLUMNS)


#: The last epoch's values `_curve_metrics` reads.
_LAST_EPOCH_COLUMNS: tuple[str, ...] = (
    "train_accuracy",
    "end_train_accuracy",
    "val_accuracy",
    "test_accuracy",
    "test_loss",
    "train_loss",
    "end_train_loss",
    "val_loss",
)


def _curve_metrics(
    run: pd.DataFrame,
    *,
    window: int,
    k_last: int,
    eps: float,
    max_slope: float | None,
    chance: float = np.nan,
    chance_margin: float = 0.0,
) -> dict[str, Any]:
    """Final/best/gap/settling values of one run, sorted by epoch; NaN for a diverged run.

    ``gap_accuracy`` is the generalization gap: whole-training-split accuracy with the last
    epoch's weights (``end_train_accuracy``) minus test accuracy. Keras' running average over
    the epoch (``train_accuracy``) mixes weights from the whole epoch and is kept apart.
    ``settling_epoch`` and ``settle_status`` come from `settling_point` (a diverged run's
    status is `DIVERGED`): a run at ``chance`` has no settling point even where its
    curve is flat, and one whose band entry is later than `latest_settling_epoch` is
    budget-limited. ``last_settle_epoch`` is that epoch for the run's budget, for every run.
    """
    diverged = _is_diverged(run)
    last_settle = float(latest_settling_epoch(len(run), window=window, k_last=k_last))
    row: dict[str, Any] = {
        "n_epochs": len(run),
        "diverged": diverged,
        "last_settle_epoch": last_settle,
    }
    if diverged:
        return row | {"settle_status": DIVERGED} | dict.fromkeys(CURVE_METRICS, np.nan)
    last = {c: float(run[c].iloc[-1]) for c in _LAST_EPOCH_COLUMNS}
    val_acc = run["val_accuracy"].to_numpy(dtype=float)
    val_loss = run["val_loss"].to_numpy(dtype=float)
    settled, status = settling_point(
        val_acc,
        window=window,
        k_last=k_last,
        eps=eps,
        val_loss=val_loss,
        max_slope=max_slope,
        chance=chance,
        chance_margin=chance_margin,
    )
    level = plateau(val_acc, k_last)
    return row | {
        "settle_status": status,
        "settles_after": settles_after(status, len(run), window=window, k_last=k_last),
        "final_train_accuracy": last["train_accuracy"],
        "final_end_train_accuracy": last["end_train_accuracy"],
        "final_val_accuracy": last["val_accuracy"],
        "final_test_accuracy": last["test_accuracy"],
        "final_test_loss": last["test_loss"],
        "final_train_loss": last["train_loss"],
        "final_val_loss": last["val_loss"],
        "best_val_accuracy": float(np.nanmax(val_acc)),
        "best_val_loss": float(np.nanmin(val_loss)),
        "gap_accuracy": last["end_train_accuracy"] - last["test_accuracy"],
        "gap_loss": last["test_loss"] - last["end_train_loss"],
        "plateau_val_accuracy": level,
        "plateau_val_loss": plateau(val_loss, k_last),
        "settling_epoch": np.nan if settled is None else float(settled),
    }


def cell_plateaus(run_table: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Per cell of `keys`, over its non-diverged runs: ``plateau_val_accuracy``, the *mean* of
    the runs' plateau accuracies, and ``plateau_val_loss``, the *median* of their plateau losses.

    The two differ because accuracy is bounded (one run moves a mean of n by at most 1/n) and a
    validation loss is not: a run that exploded without going non-finite (so not diverged) can
    plateau at 1e29 and drag a mean, and the target made from it, far above chance loss. The
    median follows the typical run. A cell whose runs all diverged is absent.
    """
    ok = run_table.loc[~run_table["diverged"].astype(bool)]
    cells = ok.groupby(list(keys), dropna=False)
    return pd.DataFrame(
        {
            "plateau_val_accuracy": cells["plateau_val_accuracy"].mean(),
            "plateau_val_loss": cells["plateau_val_loss"].median(),
        }
    )


def condition_targets(
    run_table: pd.DataFrame, fractions: Sequence[float], chance_margin: float = 0.0
) -> pd.DataFrame:
    """Target accuracy and target loss per condition, from the best batch size's plateau.

    One target per condition (not per batch size) so that every batch size races to the same
    finish line. The plateau of a batch size is `cell_plateaus`' over its non-diverged seeds
    of each run's raw plateau (median of the last ``k_last`` values): the mean accuracy and the
    median loss (a loss is unbounded; one exploded run would move a mean without limit). The
    best batch size is the one with the highest such accuracy (for the loss, the lowest median
    loss, possibly another batch size). Target accuracy = fraction x best plateau accuracy
    (``target_<sfx>``); target loss = best plateau loss / fraction (``loss_target_<sfx>``), so
    0.95 allows a loss about 5% above the best plateau. A condition whose runs all diverged
    gets NaN targets, and so does one whose best plateau accuracy is not above its
    ``chance_accuracy`` column (when the table has one) plus ``chance_margin``
    (`is_collapsed`): a fraction of chance is no target. ``best_plateau`` is kept beside them.
    A loss target at or above chance loss is still set here; `batchstudy.scaling` fits no
    B_crit on it.
    """
    per_size = cell_plateaus(run_table, CELL_KEYS)
    level = list(CONDITION_KEYS)
    best = pd.DataFrame(
        {
            "best_plateau": per_size["plateau_val_accuracy"].groupby(level=level).max(),
            "best_plateau_loss": per_size["plateau_val_loss"].groupby(level=level).min(),
        }
    )
    conditions = run_table[list(CONDITION_KEYS)].drop_duplicates()
    targets = conditions.merge(best.reset_index(), on=list(CONDITION_KEYS), how="left")
    chance = (
        run_table.groupby("dataset")["chance_accuracy"].first()
        if "chance_accuracy" in run_table.columns
        else pd.Series(dtype=float)
    )
    at_chance = np.array(
        [
            is_collapsed(b, float(chance.get(d, np.nan)), chance_margin)
            for b, d in zip(targets["best_plateau"], targets["dataset"], strict=True)
        ],
        dtype=bool,
    )
    for fraction in fractions:
        sfx = target_suffix(fraction)
        targets[f"target_{sfx}"] = np.where(at_chance, np.nan, fraction * targets["best_plateau"])
        targets[f"loss_target_{sfx}"] = np.where(
            at_chance, np.nan, targets["best_plateau_loss"] / fraction
        )
    return targets.reset_index(drop=True)


def exploded_losses(final_loss: Any, chance_loss: Any) -> np.ndarray:
    """Per run, whether its final test loss exploded: non-finite (a diverged run's loss is
    NaN in the run table) or above `EXPLODED_LOSS_FACTOR` x its dataset's chance loss. A NaN
    chance loss (unknown: no splits table) flags only the non-finite losses."""
    loss = np.asarray(final_loss, dtype=float)
    limit = EXPLODED_LOSS_FACTOR * np.asarray(chance_loss, dtype=float)
    with np.errstate(invalid="ignore"):
        return ~np.isfinite(loss) | (loss > limit)


def _epochs_or_nan(epoch: int | None) -> float:
    return np.nan if epoch is None else float(epoch)


def event_columns(table: pd.DataFrame, name: str, epochs: np.ndarray) -> pd.DataFrame:
    """``<unit>_<name>`` for every unit of `EVENT_UNITS` from an epoch count (NaN: censored)."""
    for unit, factor in EVENT_UNITS.items():
        scale = 1.0 if factor is None else table[factor].astype(float)
        table[f"{unit}_{name}"] = epochs * scale
    return table


def _add_target_columns(
    table: pd.DataFrame, curves: list[np.ndarray], losses: list[np.ndarray], fraction: float
) -> pd.DataFrame:
    """Epochs/steps/examples/seconds to one accuracy target (``*_to_target_<sfx>``) and to
    one loss target (``*_to_loss_<sfx>``); censored and diverged runs stay NaN."""
    sfx = target_suffix(fraction)
    for name, tau_col, series, reach in (
        (f"to_target_{sfx}", f"target_{sfx}", curves, first_reach),
        (f"to_loss_{sfx}", f"loss_target_{sfx}", losses, first_below),
    ):
        tau = table[tau_col].to_numpy(dtype=float)
        epochs = np.array(
            [
                _epochs_or_nan(None if diverged else reach(curve, t))
                for curve, t, diverged in zip(series, tau, table["diverged"], strict=True)
            ],
            dtype=float,
        )
        table = event_columns(table, name, epochs)
    table[f"reached_{sfx}"] = np.isfinite(table[f"epochs_to_target_{sfx}"])
    table[f"reached_loss_{sfx}"] = np.isfinite(table[f"epochs_to_loss_{sfx}"])
    return table


def run_metrics(
    history: pd.DataFrame,
    facts: pd.DataFrame,
    *,
    window: int,
    k_last: int,
    eps: float,
    max_slope: float | None = None,
    target_fractions: Sequence[float] = DEFAULT_TARGET_FRACTIONS,
    chance: Mapping[str, float] | None = None,
    chance_margin: float = 0.0,
    chance_loss: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """One row per run with end-of-training, settling and time-to-target metrics.

    ``chance``: dataset -> chance accuracy (`batchstudy.data.split_facts`), kept per run as
    ``chance_accuracy`` (NaN for a dataset it lacks, or without it); runs at most
    ``chance_margin`` above it have collapsed (``settle_status``) and are not settled, and a
    condition whose ``best_plateau`` is at chance gets NaN targets (`condition_targets`).
    ``chance_loss``: dataset -> chance loss (ln n_classes), kept per run as ``chance_loss``;
    ``loss_exploded`` marks the runs whose final test loss exploded (`exploded_losses`).

    Settling is also given in steps, examples and seconds (``<unit>_to_settle``), because
    fewer epochs at a small batch size are also many more optimizer updates. Every run in
    ``history`` gets a row (diverged ones too, with NaN metrics) so that failure
    counts survive into the summary. Facts are joined on the run keys; a run without facts
    keeps NaN steps/examples/seconds rather than being dropped.
    """
    _require(history, HISTORY_COLUMNS, "history")
    _require(facts, FACT_COLUMNS, "facts")
    ordered = history.sort_values([*RUN_KEYS, "epoch"], kind="stable")
    rows: list[dict[str, Any]] = []
    curves: list[np.ndarray] = []
    losses: list[np.ndarray] = []
    settle = {"window": window, "k_last": k_last, "eps": eps, "max_slope": max_slope}
    levels, loss_levels = dict(chance or {}), dict(chance_loss or {})
    for keys, run in ordered.groupby(list(RUN_KEYS), sort=True, dropna=False):
        key = dict(zip(RUN_KEYS, keys, strict=True))
        level = float(levels.get(str(key["dataset"]), np.nan))
        loss_level = float(loss_levels.get(str(key["dataset"]), np.nan))
        metrics = _curve_metrics(run, **settle, chance=level, chance_margin=chance_margin)
        rows.append(key | {"chance_accuracy": level, "chance_loss": loss_level} | metrics)
        curves.append(run["val_accuracy"].to_numpy(dtype=float))
        losses.append(run["val_loss"].to_numpy(dtype=float))
    table = pd.DataFrame(rows, columns=[*RUN_KEYS, *RUN_INFO_COLUMNS, *CURVE_METRICS])
    table["diverged"] = table["diverged"].astype(bool)
    table["loss_exploded"] = exploded_losses(table["final_test_loss"], table["chance_loss"])
    table = table.merge(
        facts[list(FACT_COLUMNS)], on=list(RUN_KEYS), how="left", validate="one_to_one"
    )
    table = event_columns(table, "to_settle", table["settling_epoch"].to_numpy(dtype=float))
    targets = condition_targets(table, target_fractions, chance_margin)
    targets = targets.drop(columns=["best_plateau_loss"])
    table = table.merge(targets, on=list(CONDITION_KEYS), how="left", validate="many_to_one")
    for fraction in target_fractions:
        table = _add_target_columns(table, curves, losses, fraction)
    return table


# --------------------------------------------------------------------------- summary


def target_suffixes(table: pd.DataFrame) -> list[str]:
    """Target suffixes present in a run or summary table, read from its ``target_*`` columns
    (both tables carry the target value; ``steps_to_target_*`` and the like do not match)."""
    return [c.removeprefix("target_") for c in table.columns if c.startswith("target_")]


def settled_below_target(run_table: pd.DataFrame) -> pd.Series:
    """Per run, whether it settled at a plateau below its condition's first accuracy target
    (``plateau_val_accuracy < target_<sfx>`` for the first of `target_suffixes`): a flat curve
    at a degraded level, which counts as settled all the same. False where the run did not
    settle, where the target is NaN (no targets: at chance), and everywhere in a table without
    target or ``plateau_val_accuracy`` columns."""
    suffixes = target_suffixes(run_table)
    if not suffixes or "plateau_val_accuracy" not in run_table.columns:
        return pd.Series(False, index=run_table.index)
    target = run_table[f"target_{suffixes[0]}"].astype(float)
    level = run_table["plateau_val_accuracy"].astype(float)
    return run_table["settling_epoch"].notna() & (level < target).fillna(False)


#: Per-run means summarised with a t-interval over seeds (the final test loss is summarised
#: by `loss_summary`).
MEAN_METRICS: tuple[str, ...] = (
    "final_train_accuracy",
    "final_end_train_accuracy",
    "final_val_accuracy",
    "final_test_accuracy",
    "gap_accuracy",
)


#: The summary's columns of the final test loss (`loss_summary`), which the analysis reads.
LOSS_SUMMARY_COLUMNS: tuple[str, ...] = (
    "final_test_loss_estimate",
    "final_test_loss_lo",
    "final_test_loss_hi",
    "final_test_loss_method",
    "n_loss_exploded",
)


def loss_summary(loss: Any, exploded: Any, settings: IntervalSettings) -> Effect:
    """A cell's final test loss (`LOSS_NOTE`): the mean with its t-interval (clipped at 0)
    where no run exploded (`exploded_losses`); otherwise the censored median over every run,
    exploded runs set above every other value (``n_censored`` = the exploded runs), with the
    percentile bootstrap of that median (``+inf`` where half or more exploded). No runs: NaN.
    """
    x = np.asarray(loss, dtype=float).ravel()
    flags = np.asarray(exploded, dtype=bool).ravel()
    if not flags.any():
        return t_interval(x, settings, bounds=LOSS_RANGE)
    return censored_median(np.where(flags, np.nan, x), settings)


def event_names(suffixes: Sequence[str]) -> list[str]:
    """Every time-to-event quantity summarised as a censored median: settling, then per target
    the accuracy and the loss target."""
    events = ["to_settle"] + [
        f"{kind}_{sfx}" for sfx in suffixes for kind in ("to_target", "to_loss")
    ]
    return [f"{unit}_{event}" for event in events for unit in EVENT_UNITS]


def _summarize_cell(cell: pd.DataFrame, suffixes: list[str], settings: IntervalSettings) -> dict:
    """Summary of one (condition, batch size); the same bootstrap seed in every cell keeps each
    cell reproducible on its own, whatever else is in the table."""
    row: dict[str, Any] = {"n_runs": len(cell), "n_diverged": int(cell["diverged"].sum())}
    for name in MEAN_METRICS:
        e = t_interval(cell[name], settings, bounds=value_range(name))
        row |= {f"{name}_mean": e.estimate, f"{name}_lo": e.lo, f"{name}_hi": e.hi}
    exploded = (
        cell["loss_exploded"]
        if "loss_exploded" in cell.columns
        else exploded_losses(cell["final_test_loss"], cell.get("chance_loss", np.nan))
    )
    e = loss_summary(cell["final_test_loss"], exploded, settings)
    n_exploded = int(np.asarray(exploded, dtype=bool).sum())
    values = (e.estimate, e.lo, e.hi, e.method, n_exploded)
    row |= dict(zip(LOSS_SUMMARY_COLUMNS, values, strict=True))
    row["n_settled"] = int(cell["settling_epoch"].notna().sum())
    row["n_collapsed"] = int((cell["settle_status"] == COLLAPSED).sum())
    row["n_budget_limited"] = int((cell["settle_status"] == BUDGET_LIMITED).sum())
    row["n_settled_below_target"] = int(settled_below_target(cell).sum())
    for sfx in suffixes:
        row[f"target_{sfx}"] = float(cell[f"target_{sfx}"].iloc[0])
        row[f"loss_target_{sfx}"] = float(cell[f"loss_target_{sfx}"].iloc[0])
        row[f"n_reached_{sfx}"] = int(cell[f"reached_{sfx}"].astype(bool).sum())
        row[f"n_censored_{sfx}"] = len(cell) - row[f"n_reached_{sfx}"]
        row[f"n_reached_loss_{sfx}"] = int(cell[f"reached_loss_{sfx}"].astype(bool).sum())
    names = event_names(suffixes)
    for name, e in zip(names, censored_median_columns(cell[names], settings), strict=True):
        row |= {f"{name}_median": e.estimate, f"{name}_lo": e.lo, f"{name}_hi": e.hi}
    return row


def summarize(run_table: pd.DataFrame, settings: IntervalSettings) -> pd.DataFrame:
    """Per (condition, batch size): run counts and point estimates with 95% intervals.

    Means with t-intervals over seeds for accuracies; the final test loss by `loss_summary`
    (``final_test_loss_estimate``/``_lo``/``_hi``, its ``_method`` and ``n_loss_exploded``);
    censored medians (runs that
    never settled or reached a target count as above the budget; +inf when half or more did)
    with percentile-bootstrap intervals for every time-to-event quantity. See
    `batchstudy.stats` for the methods.
    """
    suffixes = target_suffixes(run_table)
    rows = [
        dict(zip(CELL_KEYS, keys, strict=True)) | _summarize_cell(cell, suffixes, settings)
        for keys, cell in run_table.groupby(list(CELL_KEYS), sort=True, dropna=False)
    ]
    return pd.DataFrame(rows)
