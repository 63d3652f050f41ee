"""The tuning stage: one target per group, steps to it at evaluation resolution, the tuned
frontier and what tuning changed.

Inputs are the aggregate tables: ``runs.tsv`` (per-run facts and end-of-training metrics),
``history.tsv`` (one evaluation per epoch) and, when the engines write it, ``evals.tsv``
(`EVALS_COLUMNS`: one row per evaluation every k optimizer steps). Definitions:

* **Targets** (`group_targets`): one validation-accuracy target and one validation-loss target
  per group (`tuning.GROUP_KEYS`: dataset, optimizer, lr_scaling, budget), the same for every
  batch size and learning rate. *Absolute* when the config gives ``datasets.<name>.target``;
  otherwise *relative*: fraction x the best mean plateau validation accuracy over the group's
  (batch size, base_lr) cells (loss: the lowest median plateau loss / fraction; a loss is
  unbounded, so one exploded run would move a mean without limit), a rule that
  depends on the runs themselves. Only validation numbers enter; test numbers are reported
  for the selected cells only.
* **Steps to target** (`steps_to_targets`): the step of the first evaluation whose raw
  validation accuracy is >= the target (loss: <=). From ``evals.tsv`` that is the evaluation's
  own step (resolution k steps); from ``history.tsv`` it is epoch x steps_per_epoch (resolution
  one epoch, coarser at small batch sizes). Examples: training rows those steps used.
  Diverged runs and runs that never reach are censored (NaN), as in `batchstudy.metrics`.
* **Reference rate** (`batchstudy.config.reference_lr`): the constant-lr comparison uses one
  grid rate for every batch size: the optimizer's configured ``reference_lr``, else the middle
  of the sorted grid (the lower middle for an even count).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from . import claims, stats, tuning
from .aggregate import EVALS_TABLE_COLUMNS as EVALS_COLUMNS
from .engines.noise import examples_seen
from .metrics import RUN_KEYS, cell_plateaus
from .stats import IntervalSettings

#: Target kinds: the validation metric each races on, and whether larger is better.
TARGET_METRICS: dict[str, tuple[str, bool]] = {
    "accuracy": ("val_accuracy", True),
    "loss": ("val_loss", False),
}
#: The target the frontier, B_crit and the comparison use (the loss target gets a grid too).
MAIN_TARGET = "accuracy"
ABSOLUTE = "absolute"
RELATIVE = "relative"
RESOLUTION_STEPS = "steps"
RESOLUTION_EPOCHS = "epochs"
#: A median steps to target at or before this evaluation is called coarsely resolved.
COARSE_EVALUATIONS = 3
#: Columns `group_targets` adds to the group keys.
TARGET_COLUMNS: tuple[str, ...] = ("target_accuracy", "target_loss", "target_kind")
_CURVE_COLUMNS = (*RUN_KEYS, "step", "examples", "val_accuracy", "val_loss")


def target_column(kind: str) -> str:
    return f"target_{kind}"


def curves_from_history(history: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per-epoch evaluations as (run, step, examples, val metrics); step = epoch x steps/epoch."""
    facts = runs[[*RUN_KEYS, "steps_per_epoch", "n_train"]]
    out = history.merge(facts, on=list(RUN_KEYS), how="inner", validate="many_to_one")
    out["step"] = out["epoch"] * out["steps_per_epoch"]
    out["examples"] = out["epoch"] * out["n_train"]
    return out[list(_CURVE_COLUMNS)]


def curves_from_evals(evals: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Evaluations at their own steps; examples as the engines count them (partial batches)."""
    if missing := [c for c in EVALS_COLUMNS if c not in evals.columns]:
        raise ValueError(f"evals table lacks columns {missing}")
    facts = runs[[*RUN_KEYS, "n_train"]]
    out = evals.merge(facts, on=list(RUN_KEYS), how="inner", validate="many_to_one")
    out["examples"] = [
        examples_seen(int(s), int(n), int(b))
        for s, n, b in zip(out["step"], out["n_train"], out["batch_size"], strict=True)
    ]
    return out[list(_CURVE_COLUMNS)]


def _relative_targets(runs: pd.DataFrame, fraction: float) -> pd.DataFrame:
    """fraction x best mean plateau accuracy over a group's cells; loss: the lowest median
    plateau loss / fraction (`batchstudy.metrics.cell_plateaus`)."""
    plateaus = cell_plateaus(runs, [*tuning.GROUP_KEYS, "batch_size", tuning.LR_COLUMN])
    best = plateaus.groupby(level=list(tuning.GROUP_KEYS), dropna=False)
    return pd.DataFrame(
        {
            "target_accuracy": best["plateau_val_accuracy"].max() * fraction,
            "target_loss": best["plateau_val_loss"].min() / fraction,
        }
    ).reset_index()


def group_targets(
    runs: pd.DataFrame, absolute: Mapping[str, Mapping[str, float]], fraction: float
) -> pd.DataFrame:
    """One accuracy and one loss target per group (`TARGET_COLUMNS`, see the module docstring).

    `absolute` maps dataset name -> {"val_accuracy": a, "val_loss": l}; datasets without an
    entry get relative targets with `fraction`. A group whose runs all diverged has NaN
    relative targets (nothing reaches them).
    """
    groups = runs[list(tuning.GROUP_KEYS)].drop_duplicates()
    rel = groups.merge(_relative_targets(runs, fraction), on=list(tuning.GROUP_KEYS), how="left")
    is_abs = rel["dataset"].isin(list(absolute))
    for kind, (metric, _) in TARGET_METRICS.items():
        given = rel["dataset"].map(lambda d, m=metric: absolute.get(d, {}).get(m, np.nan))
        rel[target_column(kind)] = np.where(is_abs, given, rel[target_column(kind)])
    rel["target_kind"] = np.where(is_abs, ABSOLUTE, RELATIVE)
    return rel[[*tuning.GROUP_KEYS, *TARGET_COLUMNS]].reset_index(drop=True)


def _first_hits(curves: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Step and examples of each run's first evaluation at its target (runs that reach)."""
    metric, larger = TARGET_METRICS[kind]
    value, tau = curves[metric].astype(float), curves[target_column(kind)].astype(float)
    with np.errstate(invalid="ignore"):
        hit = value >= tau if larger else value <= tau
    first = curves.loc[hit].sort_values("step").groupby(list(RUN_KEYS), dropna=False).first()
    return first[["step", "examples"]].rename(
        columns={
            "step": tuning.steps_column(kind),
            "examples": tuning.examples_column(kind),
        }
    )


def steps_to_targets(
    runs: pd.DataFrame, curves: pd.DataFrame, targets: pd.DataFrame
) -> pd.DataFrame:
    """`runs` with the group's targets and, per target kind, ``steps_to_target_<kind>``,
    ``examples_to_target_<kind>``, ``epochs_to_target_<kind>`` (steps / steps per epoch,
    fractional at step resolution) and ``seconds_to_target_<kind>`` (epochs x seconds per
    epoch). NaN: censored (never reached within the budget, or diverged)."""
    out = runs.merge(targets, on=list(tuning.GROUP_KEYS), how="left", validate="many_to_one")
    marked = curves.merge(out[[*RUN_KEYS, *TARGET_COLUMNS]], on=list(RUN_KEYS), how="inner")
    for kind in TARGET_METRICS:
        out = out.merge(_first_hits(marked, kind).reset_index(), on=list(RUN_KEYS), how="left")
        for col in (tuning.steps_column(kind), tuning.examples_column(kind)):
            out.loc[out["diverged"].astype(bool), col] = np.nan
        epochs = out[tuning.steps_column(kind)] / out["steps_per_epoch"]
        out[f"epochs_to_target_{kind}"] = epochs
        out[f"seconds_to_target_{kind}"] = epochs * out["seconds_per_epoch"]
    return out


def tuned_groups(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs of the groups with at least two base learning rates (the ones a choice exists in)."""
    n_rates = runs.groupby(list(tuning.GROUP_KEYS), dropna=False)[tuning.LR_COLUMN].transform(
        "nunique"
    )
    return runs.loc[n_rates >= 2].reset_index(drop=True)


def grids(truns: pd.DataFrame) -> pd.DataFrame:
    """`tuning.lr_grid` for every target kind, with a ``target`` column naming the kind."""
    parts = [tuning.lr_grid(truns, kind).assign(target=kind) for kind in TARGET_METRICS]
    return pd.concat(parts, ignore_index=True)


def selected_runs(truns: pd.DataFrame, grid: pd.DataFrame) -> pd.DataFrame:
    """The runs of every group's chosen cells (the main target's choice)."""
    chosen = grid.loc[grid["chosen"].astype(bool) & (grid["target"] == MAIN_TARGET)]
    keys = [*tuning.GROUP_KEYS, "batch_size", tuning.LR_COLUMN]
    return truns.merge(chosen[keys], on=keys, how="inner")


def test_accuracy_at(selected: pd.DataFrame, settings: IntervalSettings) -> pd.DataFrame:
    """Mean final test (and validation) accuracy with a t-interval per selected cell."""
    rows = []
    keys = [*tuning.GROUP_KEYS, "batch_size"]
    test_col, val_col = "final_test_accuracy", "final_val_accuracy"
    for k, cell in selected.groupby(keys, sort=True, dropna=False):
        test = stats.t_interval(cell[test_col], settings, bounds=stats.value_range(test_col))
        val = stats.t_interval(cell[val_col], settings, bounds=stats.value_range(val_col))
        rows.append(
            dict(zip(keys, k, strict=True))
            | {"test_accuracy_mean": test.estimate, "test_accuracy_lo": test.lo}
            | {"test_accuracy_hi": test.hi, "val_accuracy_mean": val.estimate, "n_seeds": test.n}
        )
    return pd.DataFrame(rows)


def evaluation_grid(curves: pd.DataFrame, k: int = COARSE_EVALUATIONS) -> pd.DataFrame:
    """Per group and batch size: ``eval_spacing``, the median distance in optimizer steps
    between consecutive evaluations (the resolution of steps to target; at epoch resolution
    one epoch = ceil(n_train / B) steps), and ``kth_eval_step``, the step of the `k`-th
    evaluation after the start (NaN when there are fewer). Step 0 (before training) is not
    an evaluation a target can be first reached at, so it is not counted."""
    keys = [*tuning.GROUP_KEYS, "batch_size"]
    rows = []
    for k_vals, c in curves.groupby(keys, sort=True, dropna=False):
        steps = np.unique(c["step"].to_numpy(dtype=float))
        steps = steps[steps > 0]
        rows.append(
            dict(zip(keys, k_vals, strict=True))
            | {
                "eval_spacing": float(np.median(np.diff(np.r_[0.0, steps])))
                if steps.size
                else np.nan,
                "kth_eval_step": float(steps[k - 1]) if steps.size >= k else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=[*keys, "eval_spacing", "kth_eval_step"])


def best_final_val(truns: pd.DataFrame) -> pd.DataFrame:
    """Per group and batch size, the highest mean final validation accuracy over seeds that any
    rate of the grid ended at (``best_val_accuracy``) and that rate (``best_val_lr``; ties to
    the smaller rate). Diverged runs' NaN accuracies are skipped by the mean; a batch size
    whose every cell is NaN has NaN and no rate."""
    keys = [*tuning.GROUP_KEYS, "batch_size"]
    means = (
        truns.groupby([*keys, tuning.LR_COLUMN], dropna=False)["final_val_accuracy"]
        .mean()
        .reset_index()
        .sort_values(tuning.LR_COLUMN, kind="stable")
        .reset_index(drop=True)
    )
    best = means.loc[means.groupby(keys, dropna=False)["final_val_accuracy"].idxmax().dropna()]
    out = means[keys].drop_duplicates().merge(best, on=keys, how="left")
    return out.rename(
        columns={"final_val_accuracy": "best_val_accuracy", tuning.LR_COLUMN: "best_val_lr"}
    ).reset_index(drop=True)


def large_vs_best(runs: pd.DataFrame, settings: IntervalSettings) -> dict[str, Any]:
    """Largest batch size minus the best on validation, in final test accuracy, paired by seed.

    The best batch size is the one with the highest mean final *validation* accuracy (ties to
    the smaller); the test split played no part in that choice (nor in the learning rate's),
    so the paired t-interval of the test difference is not optimistic. Judged with
    `claims.ACCURACY_MARGIN`. When the largest batch size is the best, no comparison is made.
    """
    sizes = claims.batch_sizes(runs)
    means = claims.per_seed(runs, "final_val_accuracy", sizes).mean(axis=0).dropna()
    if means.empty:
        return {"best": None, "largest": sizes[-1] if sizes else None, "effect": None}
    best = int(means[means == means.max()].index.min())
    largest = sizes[-1]
    out: dict[str, Any] = {"best": best, "largest": largest, "effect": None}
    if largest != best:
        test = claims.per_seed(runs, "final_test_accuracy", sizes)
        diff = stats.paired_mean_difference(
            test[largest], test[best], settings, stats.value_range("final_test_accuracy")
        )
        out["effect"] = stats.judge(diff, claims.ACCURACY_MARGIN, settings).to_dict()
    return out
