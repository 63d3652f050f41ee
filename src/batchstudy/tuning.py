"""The tuned learning-rate frontier: steps to target with the learning rate chosen per batch size.

Shallue et al. (2019) compare batch sizes at the learning rate that is best *for each batch
size*; McCandlish et al. (2018) fit the critical batch size to that frontier. From the per-run
table (``runs.tsv``: one row per dataset, optimizer, lr_scaling, base_lr, budget, batch size
and seed, with ``steps_to_target_<sfx>``, ``examples_to_target_<sfx>``, ``n_epochs`` and
``steps_per_epoch``) this module computes, per group of `GROUP_KEYS`:

* **The grid** (`lr_grid`): every (batch size, base_lr) cell's median steps and examples to the
  target over seeds. A run that never reached the target (NaN: censored, or diverged) counts
  as slower than any run that did (+inf), as MLPerf counts non-converged runs; the median of
  the values so ranked is finite while fewer than half the runs are censored, +inf
  ("> budget") when half or more are, never the budget itself.
* **The choice** (`select_lr`): per batch size, the base_lr with the lowest median steps. Ties
  (equal medians, e.g. all censored) go to the cell with more runs that reached the target,
  then to the smaller learning rate (the more conservative choice: large rates are the ones
  that diverge). Cells without runs are never chosen.
* **The frontier** (`tuned_frontier`): the chosen cell of every batch size.
* **B_crit** (`tuned_critical_batch`): `scaling.fit_critical_batch` on the frontier, with a
  percentile-bootstrap CI that resamples whole seeds (the same drawn seeds for every cell, so
  the pairing across batch sizes and learning rates is kept) and *re-selects* the learning
  rate inside every resample, so that the CI carries the noise of the selection too instead of
  the optimism of choosing and measuring on the same seeds.

The learning rate is identified by ``base_lr`` (the optimizer's configured rate; within one
lr_scaling arm it fixes the rate each batch size used).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from . import formatting, scaling
from .metrics import CONDITION_KEYS
from .stats import censored_medians

#: What a learning rate is chosen within: a condition without its base_lr.
GROUP_KEYS: tuple[str, ...] = tuple(k for k in CONDITION_KEYS if k != "base_lr")
LR_COLUMN = "base_lr"
#: Columns of `lr_grid` (and of `tuned_frontier`, which keeps the chosen rows).
GRID_COLUMNS: tuple[str, ...] = (
    *GROUP_KEYS,
    "batch_size",
    LR_COLUMN,
    "median_steps",
    "median_examples",
    "n_reached",
    "n_runs",
    "budget_steps",
    "chosen",
)
#: Columns of `tuned_critical_batch` besides `GROUP_KEYS`.
FIT_COLUMNS: tuple[str, ...] = (
    "s_min",
    "e_min",
    "b_crit",
    "rel_rmse",
    "ok",
    "reason",
    "n_points",
    "in_range",
    "below_range",
    "lo",
    "hi",
    "level",
    "n_boot",
    "n_boot_ok",
    "share_ok",
    "lr_changed_share",
    "n_seeds",
)


def steps_column(sfx: str) -> str:
    """The per-run column of steps to the target with suffix `sfx` (see metrics.target_suffix)."""
    return f"steps_to_target_{sfx}"


def examples_column(sfx: str) -> str:
    return f"examples_to_target_{sfx}"


def _cube(group: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(batch sizes, learning rates, seeds x sizes x rates array) of one group's `column`.

    Both axes sorted ascending. +inf = run present but censored (NaN in the table), NaN = no
    such run. Two rows for one (batch size, rate, seed) are an error, not something to average.
    """
    keys = ["seed", "batch_size", LR_COLUMN]
    if group.duplicated(keys).any():
        raise ValueError(f"runs table has several rows for one {keys} within a group")
    values = group[column].astype(float).fillna(np.inf)
    wide = (
        pd.Series(values.to_numpy(), index=pd.MultiIndex.from_frame(group[keys]))
        .unstack(["batch_size", LR_COLUMN])
        .sort_index()
    )
    sizes = np.sort(group["batch_size"].unique())
    rates = np.sort(group[LR_COLUMN].unique())
    full = pd.MultiIndex.from_product([sizes, rates], names=["batch_size", LR_COLUMN])
    cube = wide.reindex(columns=full).to_numpy(dtype=float)
    return sizes, rates, cube.reshape(len(wide), sizes.size, rates.size)


def _medians(cube: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-cell censored median over the seed ``axis``, runs that reached, runs present.

    `stats.censored_medians` skips absent runs (NaN) and keeps +inf, so a cell with half or
    more of its runs censored has median +inf; a cell without runs has median NaN.
    """
    present = ~np.isnan(cube)
    return censored_medians(cube, axis=axis), np.isfinite(cube).sum(axis=axis), present.sum(axis)


def select_lr(median: np.ndarray, reached: np.ndarray) -> np.ndarray:
    """Index of the chosen rate per batch size (row) of sizes x rates arrays; -1 if none.

    Rates must be sorted ascending along the columns. Lowest median first, then most runs
    reached, then the smallest rate; cells with NaN median (no runs) are never chosen.
    Leading axes (resamples) carry through: (..., sizes, rates) arrays give (..., sizes).
    """
    present = ~np.isnan(median)
    rate_index = np.broadcast_to(np.arange(median.shape[-1]), median.shape)
    order = np.lexsort((rate_index, -reached, np.where(present, median, np.inf), ~present), axis=-1)
    return np.where(present.any(axis=-1), order[..., 0], -1)


def _frontier_steps(median: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Median steps of the chosen cell per batch size (NaN where no cell could be chosen);
    leading axes of ``median`` (..., sizes, rates) and ``chosen`` (..., sizes) carry through."""
    picked = np.take_along_axis(median, np.maximum(chosen, 0)[..., None], axis=-1)[..., 0]
    return np.where(chosen >= 0, picked, np.nan)


def _group_grid(group: pd.DataFrame, sfx: str) -> pd.DataFrame:
    """`lr_grid`'s rows of one group, without the group's key columns."""
    sizes, rates, steps = _cube(group, steps_column(sfx))
    _, _, examples = _cube(group, examples_column(sfx))
    median, reached, present = _medians(steps)
    chosen = select_lr(median, reached)
    budget = (
        (group["n_epochs"] * group["steps_per_epoch"])
        .groupby([group["batch_size"], group[LR_COLUMN]])
        .max()
    )
    b_idx, r_idx = np.meshgrid(np.arange(sizes.size), np.arange(rates.size), indexing="ij")
    cells = pd.MultiIndex.from_arrays([sizes[b_idx.ravel()], rates[r_idx.ravel()]])
    return pd.DataFrame(
        {
            "batch_size": sizes[b_idx.ravel()],
            LR_COLUMN: rates[r_idx.ravel()],
            "median_steps": median.ravel(),
            "median_examples": _medians(examples)[0].ravel(),
            "n_reached": reached.ravel(),
            "n_runs": present.ravel(),
            "budget_steps": budget.reindex(cells).to_numpy(dtype=float),
            "chosen": (chosen[b_idx] == r_idx).ravel(),
        }
    )


def _require(runs: pd.DataFrame, sfx: str) -> None:
    needed = [
        *GROUP_KEYS,
        "batch_size",
        LR_COLUMN,
        "seed",
        "n_epochs",
        "steps_per_epoch",
        steps_column(sfx),
        examples_column(sfx),
    ]
    if missing := [c for c in needed if c not in runs.columns]:
        raise ValueError(f"runs table lacks columns {missing}")


def lr_grid(runs: pd.DataFrame, sfx: str) -> pd.DataFrame:
    """The (batch size x base_lr) grid of every group, one row per cell (`GRID_COLUMNS`).

    ``median_steps`` / ``median_examples``: censored medians over seeds (+inf = "> budget",
    see the module docstring); ``n_reached`` / ``n_runs``: runs that reached the target / runs
    in the cell; ``budget_steps``: ``n_epochs * steps_per_epoch`` of the cell's runs (the
    largest, should they differ); ``chosen``: the cell `select_lr` picks for its batch size
    (exactly one per group and batch size). Cells are sorted by batch size, then rate.
    """
    _require(runs, sfx)
    parts = []
    for keys, group in runs.groupby(list(GROUP_KEYS), sort=True, dropna=False):
        grid = _group_grid(group, sfx)
        for name, value in zip(GROUP_KEYS, keys, strict=True):
            grid[name] = value
        parts.append(grid)
    if not parts:
        return pd.DataFrame(columns=list(GRID_COLUMNS))
    return pd.concat(parts, ignore_index=True)[list(GRID_COLUMNS)]


def tuned_frontier(grid: pd.DataFrame) -> pd.DataFrame:
    """The chosen cell of every group and batch size: the steps at the tuned learning rate.

    Same columns as the grid (``chosen`` is all True). A batch size whose chosen median is
    +inf never reached the target at any rate within the budget.
    """
    return grid.loc[grid["chosen"].astype(bool)].reset_index(drop=True)


def _bootstrap(sizes: np.ndarray, cube: np.ndarray, n_boot: int, seed: int) -> dict[str, Any]:
    """Fits over seed resamples, re-selecting the rate in each; same draws as scaling's (one
    (n_boot, n_seeds) draw of ``default_rng(seed).integers``). ``draws``: the ok fits' B_crit."""
    median, reached, _ = _medians(cube)
    chosen = select_lr(median, reached)
    sizes = sizes.astype(float)
    point = scaling.fit_critical_batch(sizes, _frontier_steps(median, chosen))
    n_seeds = cube.shape[0]
    rows = np.random.default_rng(seed).integers(0, n_seeds, size=(n_boot, n_seeds))
    med, hit, _ = _medians(cube[rows], axis=1)
    pick = select_lr(med, hit)
    b_crits = scaling.resampled_b_crits(sizes, _frontier_steps(med, pick))
    changed = int(np.any(pick != chosen, axis=-1).sum())
    return point | {"draws": b_crits[~np.isnan(b_crits)], "changed": changed, "n_seeds": n_seeds}


def critical_batch_of_group(
    group: pd.DataFrame, sfx: str, *, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, Any]:
    """B_crit of one group's tuned frontier with its re-selecting bootstrap CI.

    The point estimate fits the frontier chosen on all seeds. Each of `n_boot` resamples draws
    the group's seeds with replacement (one draw for all cells), recomputes every cell's
    censored median, re-chooses the rate per batch size and refits; ``lo``/``hi`` are the
    percentile interval over the resamples whose fit was ``ok`` (``n_boot_ok`` of them,
    ``share_ok`` = n_boot_ok / n_boot; NaN when none was). ``lr_changed_share``: the share of
    resamples in which the choice differed from the point estimate's at some batch size (0
    means the CI equals one computed at fixed rates). The draws are those of
    `scaling.bootstrap_critical_batch` for the same `seed`.
    """
    sizes, _, cube = _cube(group, steps_column(sfx))
    boot = _bootstrap(sizes, cube, n_boot, seed)
    draws = boot.pop("draws")
    alpha = (1 - level) / 2
    lo, hi = np.quantile(draws, [alpha, 1 - alpha]) if draws.size else (np.nan, np.nan)
    return {k: boot[k] for k in FIT_COLUMNS if k in boot} | {
        "lo": float(lo),
        "hi": float(hi),
        "level": level,
        "n_boot": n_boot,
        "n_boot_ok": len(draws),
        "share_ok": len(draws) / n_boot if n_boot else np.nan,
        "lr_changed_share": boot["changed"] / n_boot if n_boot else np.nan,
    }


def tuned_critical_batch(
    runs: pd.DataFrame, sfx: str, *, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> pd.DataFrame:
    """One row per group: `GROUP_KEYS` then `FIT_COLUMNS` (see `critical_batch_of_group`)."""
    _require(runs, sfx)
    rows = [
        dict(zip(GROUP_KEYS, keys, strict=True))
        | critical_batch_of_group(group, sfx, n_boot=n_boot, seed=seed, level=level)
        for keys, group in runs.groupby(list(GROUP_KEYS), sort=True, dropna=False)
    ]
    return pd.DataFrame(rows, columns=[*GROUP_KEYS, *FIT_COLUMNS])


def earliest_crossings(median_steps: Any, spacing: Any) -> np.ndarray:
    """Each median steps to target moved one evaluation earlier: the earliest the true crossing
    can lie. A run's steps to target is the first evaluation at the target, so the curve
    crossed it after the evaluation before (`spacing` optimizer steps earlier) and the median
    of such steps moves by the same `spacing`. Floored at one optimizer step (a crossing at
    the first evaluation can lie just after step 0, never before the first update). +inf
    ("> budget") and NaN (no runs, or no spacing) stay as they are."""
    s = np.asarray(median_steps, dtype=float)
    g = np.asarray(spacing, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(s), np.maximum(s - g, 1.0), s)


#: The most fitted batch sizes whose crossings `spacing_bcrit_range` places every way
#: (2^k refits); beyond it the range is not computed.
MAX_PLACED_SIZES = 12


def crossing_placements(median_steps: Any, spacing: Any) -> np.ndarray:
    """Every placement of the median crossings at the ends of their evaluation intervals:
    shape (2^k, n) for the k finite medians of the n given, each row putting every finite
    median either as observed or one evaluation earlier (`earliest_crossings`), independently
    of the others; the first row is the medians as observed. +inf and NaN stay as they are
    in every row."""
    s = np.asarray(median_steps, dtype=float)
    early = earliest_crossings(s, spacing)
    finite = np.flatnonzero(np.isfinite(s))
    rows = np.repeat(s[None, :], 2**finite.size, axis=0)
    bits = (np.arange(2**finite.size)[:, None] >> np.arange(finite.size)[None, :]) & 1
    rows[:, finite] = np.where(bits == 1, early[finite], s[finite])
    return rows


def spacing_bcrit_range(batch_sizes: Any, median_steps: Any, spacing: Any) -> tuple[float, float]:
    """(lowest, highest) B_crit of `scaling.fit_critical_batch` over every
    `crossing_placements` of the medians: where B_crit may lie given only that each median
    crossing is known to one evaluation interval. The medians as observed are one placement,
    so their B_crit lies in the range. Only the interval ends are placed, not the points
    between them. A refit with a parameter at zero gives 0 or inf (an end like any other).
    (NaN, NaN) where a finite median's spacing is not finite (its interval is unknown), a
    refit gives no B_crit, or more than `MAX_PLACED_SIZES` medians are finite."""
    s = np.asarray(median_steps, dtype=float)
    g = np.asarray(spacing, dtype=float)
    finite = np.isfinite(s)
    if finite.sum() > MAX_PLACED_SIZES or not np.isfinite(g[finite]).all():
        return np.nan, np.nan
    made = np.array(
        [
            scaling.fit_critical_batch(batch_sizes, row)["b_crit"]
            for row in crossing_placements(s, g)
        ],
        dtype=float,
    )
    if np.isnan(made).any():
        return np.nan, np.nan
    return float(made.min()), float(made.max())


def add_regimes(frontier: pd.DataFrame, fits: pd.DataFrame) -> pd.DataFrame:
    """The frontier with its group's ``b_crit`` and each batch size's ``regime``.

    Regimes as `scaling.scaling_regime` defines them; a group whose fit failed for lack of
    points (B_crit NaN) gets 'unknown', one whose S_min or E_min sat at zero gets the regime
    its B_crit of inf or 0 implies.
    """
    out = frontier.merge(fits[[*GROUP_KEYS, "b_crit"]], on=list(GROUP_KEYS), how="left")
    out["regime"] = [
        scaling.scaling_regime(b, c) for b, c in zip(out["batch_size"], out["b_crit"], strict=True)
    ]
    return out


def steps_label(median_steps: float, budget_steps: float) -> str:
    """How a censored-aware median reads: '23.5', '1,234', '> 2,000' (censored), '' (no runs)."""
    if np.isnan(median_steps):
        return ""
    if np.isinf(median_steps):
        return f"> {_whole(budget_steps)}" if np.isfinite(budget_steps) else "> budget"
    return _whole(median_steps)


def _whole(x: float) -> str:
    """A count or a median of counts in full: every integer digit and the .5 of a median of an
    even number of runs (23.5, 1,822.5), via `formatting.count`."""
    return formatting.count(x)
