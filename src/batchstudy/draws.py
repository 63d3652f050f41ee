"""Pooling over dataset draws: final test accuracy across draws of one configured dataset.

A dataset whose ``random_state`` is a list is trained once per draw (`batchstudy.config.
expand_draws`), and every per-condition finding holds for one draw: its intervals cover the
seeds. Here each draw contributes one number per (optimizer, lr arm, base lr, budget, batch
size), the mean over its seeds of the final test accuracy, and the intervals are over draws
(n = number of draws): a Student-t interval of the mean, and paired by draw the difference of
every batch size from the smallest one, as a Bonferroni family (`batchstudy.stats`).

Edge cases: a draw whose runs all lack a final accuracy (every seed diverged) has no mean and
drops out of that batch size's interval and of its pairs (n counts the draws used); fewer than
`stats.MIN_N` draws give an interval but always the verdict *inconclusive*; one draw gives no
interval ("one run, no interval" in the report). Datasets that are not draws are left out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from . import formatting as fmt
from .claims import ACCURACY_MARGIN
from .config import DRAW, DRAW_OF
from .stats import FAMILY_BONFERRONI, IntervalSettings, judge, t_interval, value_range

#: The quantity pooled: each run's final test accuracy, averaged over a draw's seeds.
METRIC = "final_test_accuracy"
#: What a pooled group is, besides its base dataset (the condition keys but the dataset).
GROUP_KEYS = ("optimizer", "lr_scaling", "base_lr", "budget")
METHOD_DRAWS = "t-interval over dataset draws (each draw: the mean over its seeds)"
METHOD_PAIRED_DRAWS = "paired t-interval over dataset draws (each draw: the mean over its seeds)"
#: Fewest draws of a dataset for it to be pooled at all.
MIN_DRAWS = 2


def statement(base: str, states: list[int]) -> str:
    """The sentence saying what the pooled intervals cover (printed with every group)."""
    return (
        f"These intervals cover dataset draws: n = {len(states)} draws of {base} "
        f"(random_state {', '.join(map(str, states))}), each draw counted once by the mean of "
        "its seeds. The per-condition sections cover seeds within one draw."
    )


def draw_means(runs: pd.DataFrame, draws: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Per draw, condition and batch size: the mean over seeds of `METRIC` (non-finite values
    skipped) and the seeds it rests on. Columns: `DRAW_OF`, `GROUP_KEYS`, batch_size, `DRAW`,
    dataset, mean, n_seeds. Only datasets named in `draws` (`config.dataset_draws`) count."""
    cols = [DRAW_OF, *GROUP_KEYS, "batch_size", DRAW, "dataset"]
    sub = runs[runs["dataset"].astype(str).isin(draws)].copy()
    if sub.empty:
        return pd.DataFrame(columns=[*cols, "mean", "n_seeds"])
    sub["dataset"] = sub["dataset"].astype(str)
    sub[DRAW_OF] = sub["dataset"].map(lambda d: draws[d][DRAW_OF])
    sub[DRAW] = sub["dataset"].map(lambda d: int(draws[d][DRAW]))
    sub["base_lr"] = sub["base_lr"].astype(float)
    sub["value"] = pd.to_numeric(sub[METRIC], errors="coerce").where(
        lambda v: np.isfinite(v.astype(float))
    )
    grouped = sub.groupby(cols, sort=True)["value"]
    return grouped.agg(mean="mean", n_seeds="count").reset_index()


def pooled_group(table: pd.DataFrame, settings: IntervalSettings) -> dict[str, Any]:
    """One (base dataset, optimizer, lr arm, base lr, budget): `table` holds its rows of
    `draw_means`. Per batch size the mean over draws with its t-interval; every larger batch
    size minus the smallest, paired by draw, as one Bonferroni family with verdicts."""
    wide = table.pivot(index=DRAW, columns="batch_size", values="mean").sort_index(axis=1)
    sizes = [int(b) for b in wide.columns]
    ref = sizes[0]
    family = settings.family(len(sizes) - 1)
    lo, hi = value_range(METRIC)  # the means' range; their differences lie in [lo-hi, hi-lo]
    cells = [
        {
            "batch_size": b,
            METRIC: t_interval(wide[b], settings, METHOD_DRAWS, (lo, hi)).to_dict(),
            "per_draw": [
                {DRAW: int(r), "mean": float(v)} for r, v in wide[b].items() if np.isfinite(v)
            ],
        }
        for b in sizes
    ]
    comparisons = {
        str(b): judge(
            t_interval(wide[b] - wide[ref], family, METHOD_PAIRED_DRAWS, (lo - hi, hi - lo)),
            ACCURACY_MARGIN,
            family,
        ).to_dict()
        for b in sizes[1:]
    }
    first = table.iloc[0]
    states = [int(r) for r in wide.index]
    keys = {k: (float(first[k]) if k == "base_lr" else str(first[k])) for k in GROUP_KEYS}
    return {
        DRAW_OF: str(first[DRAW_OF]),
        "keys": keys,
        "label": fmt.condition({"dataset": first[DRAW_OF], **keys}),
        "draws": states,
        "datasets": sorted(set(table["dataset"].astype(str))),
        "n_draws": len(states),
        "reference_batch_size": ref,
        "margin": ACCURACY_MARGIN,
        "family": f"{FAMILY_BONFERRONI}: the {len(comparisons)} comparison(s) with B = {ref}",
        "statement": statement(str(first[DRAW_OF]), states),
        "cells": cells,
        "comparisons": comparisons,
    }


def pooled(
    runs: pd.DataFrame, draws: dict[str, dict[str, Any]], settings: IntervalSettings
) -> list[dict[str, Any]]:
    """Every pooled group of the study (`pooled_group`), for base datasets with at least
    `MIN_DRAWS` draws in `runs`; empty when the config has no dataset draws."""
    means = draw_means(runs, draws)
    out = []
    for _, table in means.groupby([DRAW_OF, *GROUP_KEYS], sort=True):
        if table[DRAW].nunique() >= MIN_DRAWS:
            out.append(pooled_group(table, settings))
    return out
