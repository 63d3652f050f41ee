"""The largest batch size's test accuracy across learning-rate arms and budgets.

A study with several learning-rate arms (constant / linear / sqrt) or budgets (epochs /
steps) trains the same batch sizes under each. Whether "large batches end with lower test
accuracy" is a property of the batch size or of the rate and budget it was given shows only
when the arms are set side by side: per (dataset, optimizer, base learning rate), the largest
batch size's difference from its own condition's best batch size (claim 3a's effect, the
accuracy finding's family interval) in every arm and budget.

The arms share their seeds, and a seed fixes the initial weights and the data order in every
arm (both engines), so the change in that difference between two arms is paired by seed: per
seed, (largest - best) in one arm minus (largest - best) in the reference arm (the group's
first), with a paired t-interval over the seeds both have (`arm_changes`; each arm's best batch
size taken as chosen). The changes of one group against its reference form one family with
Bonferroni-simultaneous intervals. Arms that ran different seeds are not paired: the text says
so and gives no interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import claims, stats
from . import formatting as fmt
from .config import Condition
from .stats import DIFFERENT, EQUIVALENT, Effect, IntervalSettings

#: Condition keys that identify a group whose arms and budgets are set side by side.
GROUP_KEYS: tuple[str, ...] = ("dataset", "optimizer", "base_lr")
#: Condition keys that vary inside a group.
ARM_KEYS: tuple[str, ...] = ("lr_scaling", "budget")
#: The key, under a condition's findings ``accuracy``, of its per-seed largest-minus-best test
#: accuracy (`largest_minus_best_by_seed`): seed (as text) -> value, null where a run is missing.
BY_SEED = "largest_minus_best_by_seed"


def _arm_label(keys: Mapping[str, Any]) -> str:
    parts = Condition.from_keys(keys).label_parts()
    return " · ".join(parts[k] for k in ARM_KEYS)


def _group_label(keys: Mapping[str, Any]) -> str:
    parts = Condition.from_keys(keys).label_parts()
    return " · ".join(parts[k] for k in GROUP_KEYS)


def groups(conditions: Sequence[dict[str, Any]]) -> list[list[int]]:
    """Indices of the conditions per (dataset, optimizer, base lr), in first-seen order,
    keeping only groups with two or more arms/budgets that share their largest batch size."""
    found: dict[tuple, list[int]] = {}
    for i, c in enumerate(conditions):
        found.setdefault(tuple(c["keys"][k] for k in GROUP_KEYS), []).append(i)
    return [
        idx
        for idx in found.values()
        if len(idx) > 1 and len({conditions[i]["batch_sizes"][-1] for i in idx}) == 1
    ]


def largest_vs_best(found: dict[str, Any]) -> tuple[Effect | None, str]:
    """Claim 3a's effect (largest B minus the best, family interval) and its verdict in words:
    ``lower`` (different, negative), ``equivalent``, ``higher`` (different, positive),
    ``inconclusive``; ``(None, "best")`` when the largest batch size is the best itself and
    no other can be practically higher (claim 3a not supported), ``(None, "inconclusive")``
    when it is the best by its mean only."""
    entry = claims.claim_entry(found, claims.CLAIM_LOWER_ACCURACY)
    d = entry["effects"].get("test_accuracy")
    if d is None:  # the largest is the best: shown only where no other can be practically higher
        return None, "best" if entry["verdict"] == claims.NOT_SUPPORTED else "inconclusive"
    e = Effect.from_dict(d)
    if e.verdict == DIFFERENT:
        return e, "lower" if e.estimate < 0 else "higher"
    return e, "equivalent" if e.verdict == EQUIVALENT else "inconclusive"


def largest_minus_best_by_seed(runs: pd.DataFrame, best: int | None) -> dict[str, float | None]:
    """Per seed of one condition's runs, the largest batch size's final test accuracy minus the
    ``best`` batch size's (0 where the largest is the best); None where either run is missing
    or diverged; empty without a best batch size."""
    if best is None:
        return {}
    sizes = claims.batch_sizes(runs)
    table = claims.per_seed(runs, "final_test_accuracy", sizes)
    diff = table[sizes[-1]] - table[best]
    return {str(int(s)): (float(v) if np.isfinite(v) else None) for s, v in diff.items()}


def _by_seed(found: Mapping[str, Any]) -> pd.Series | None:
    """A condition's `BY_SEED` values as a Series over seeds (NaN: missing); None without."""
    values = found.get("accuracy", {}).get(BY_SEED)
    if not values:
        return None
    return pd.Series(
        {int(k): np.nan if v is None else float(v) for k, v in values.items()}, dtype=float
    ).sort_index()


def largest_is_best(series: pd.Series) -> bool:
    """Whether an arm's per-seed largest-minus-best values are identically 0: its best batch
    size is the largest itself, so its difference is 0 by construction, not measured."""
    values = series.dropna()
    return len(values) > 0 and bool((values == 0).all())


def arm_changes(
    conditions: Sequence[dict[str, Any]], idx: list[int], settings: IntervalSettings
) -> list[tuple[str, Effect | None]] | None:
    """Per arm after the group's first (the reference), the change in its largest-minus-best
    test accuracy from the reference's: the mean over seeds of the per-seed change, with a
    paired t-interval at the family level of the group's estimable changes (Bonferroni),
    judged against the accuracy margin (`batchstudy.stats.judge`). Seeds missing in either arm
    drop. An arm whose best batch size is the largest (`largest_is_best`) has no change
    (``None``); where the reference's is, none has. ``None`` where an arm lacks per-seed
    values or the arms' seeds differ: no pairing is invented. Each arm's best batch size is
    taken as chosen: the intervals are not adjusted for that choice."""
    series = [_by_seed(conditions[i]) for i in idx]
    if any(s is None for s in series) or not seeds_shared(conditions, idx):
        return None
    blank = largest_is_best(series[0])
    estimable = [not blank and not largest_is_best(s) for s in series[1:]]
    member = settings.family(max(1, sum(estimable)))
    return [
        (
            _arm_label(conditions[i]["keys"]),
            stats.judge(
                stats.paired_mean_difference(s, series[0], member, stats.GAP_RANGE),
                claims.ACCURACY_MARGIN,
                settings,
            )
            if ok
            else None,
        )
        for i, s, ok in zip(idx[1:], series[1:], estimable, strict=True)
    ]


def _change_item(label: str, e: Effect | None, largest: int) -> str:
    if e is None:
        return (
            f"{label}: B = {largest} is the best itself (its difference is 0 by how the best "
            "is chosen; no change computed)"
        )
    return f"{label}: {fmt.effect(e, 'difference')} ({e.verdict})"


def seeds_shared(conditions: Sequence[dict[str, Any]], idx: list[int]) -> bool:
    """Whether every arm of the group ran the same seeds (their `BY_SEED` keys agree)."""
    keys = [set(conditions[i].get("accuracy", {}).get(BY_SEED) or ()) for i in idx]
    return all(k == keys[0] for k in keys)


def change_sentence(
    conditions: Sequence[dict[str, Any]], idx: list[int], settings: IntervalSettings
) -> str:
    """The group's changes against its reference arm (`arm_changes`) in one sentence; where
    the arms ran different seeds, that there is no paired interval; empty where the findings
    hold no per-seed values."""
    if any(_by_seed(conditions[i]) is None for i in idx):
        return ""
    if not seeds_shared(conditions, idx):
        return " The arms ran different seeds, so the change between them has no paired interval."
    reference = _arm_label(conditions[idx[0]]["keys"])
    largest = conditions[idx[0]]["batch_sizes"][-1]
    if largest_is_best(_by_seed(conditions[idx[0]])):
        return f" In {reference}, B = {largest} is the best itself: no change from it is estimable."
    changes = arm_changes(conditions, idx, settings) or []
    items = "; ".join(_change_item(label, e, largest) for label, e in changes)
    n = sum(e is not None for _, e in changes)
    family = f"; family: the {n} changes, {stats.FAMILY_BONFERRONI} intervals" if n > 1 else ""
    return (
        f" Change in that difference from {reference}, paired by seed (a seed fixes the initial "
        f"weights and data order in every arm; each arm's best batch size taken as chosen, not "
        f"adjusted for that choice{family}; margin ±{fmt.exact(claims.ACCURACY_MARGIN)}): "
        f"{items}."
    )


def _arm_item(found: dict[str, Any]) -> tuple[str, str]:
    """One arm's part of the sentence, and its outcome word."""
    e, outcome = largest_vs_best(found)
    label = _arm_label(found["keys"])
    if e is None and outcome == "best":
        return f"{label}: the largest batch size is the best itself", outcome
    if e is None:
        return f"{label}: best by its mean, a practically higher batch size not ruled out", outcome
    words = {"lower": "practically lower", "higher": "practically higher"}
    return f"{label}: {fmt.effect(e, 'difference')} ({words.get(outcome, outcome)})", outcome


#: What a scaled arm changes besides the rate (`batchstudy.config`: only scaled arms warm up).
SCALED_WARMUP = (
    "The scaled arms also warm up where the config sets a warm-up (see The experiment), the "
    "constant arm never does: a scaled arm's effect is its rule together with that warm-up."
)


def arm_sentence(
    conditions: Sequence[dict[str, Any]], idx: list[int], settings: IntervalSettings
) -> str:
    """The side-by-side sentence of one group, the change from its reference arm with paired
    intervals (`change_sentence`), and what it shows where the arms disagree."""
    items = [_arm_item(conditions[i]) for i in idx]
    largest = conditions[idx[0]]["batch_sizes"][-1]
    text = (
        f"{_group_label(conditions[idx[0]]['keys'])}: B = {largest} minus each condition's own "
        f"best batch size, in final test accuracy — " + "; ".join(item for item, _ in items) + "."
    )
    text += change_sentence(conditions, idx, settings)
    outcome = {_arm_label(conditions[i]["keys"]): o for (_, o), i in zip(items, idx, strict=True)}
    lower = [label for label, o in outcome.items() if o == "lower"]
    same = [label for label, o in outcome.items() if o in ("equivalent", "higher", "best")]
    if lower and same:
        text += (
            f" So the practically lower accuracy at B = {largest} is shown in "
            f"{len(lower)} of the {len(idx)} arm · budget conditions ({'; '.join(lower)}) and "
            f"absent in {len(same)} (equivalent within "
            f"±{fmt.exact(claims.ACCURACY_MARGIN)}, or the best itself: "
            f"{'; '.join(same)}): with the same seeds, it depends on the learning-rate arm and "
            "budget, not on the batch size alone."
        )
    arms = {str(conditions[i]["keys"].get("lr_scaling")) for i in idx}
    if arms - {"constant"} and "constant" in arms:
        text += f" {SCALED_WARMUP}"
    return text


def arm_findings(
    conditions: Sequence[dict[str, Any]], settings: IntervalSettings | None = None
) -> list[tuple[int, str]]:
    """One finding per group with several arms or budgets (`groups`), as (index of the group's
    first condition, sentence); none otherwise. ``settings``: the study's interval settings
    (the default ones without)."""
    settings = settings or IntervalSettings()
    return [(idx[0], arm_sentence(conditions, idx, settings)) for idx in groups(conditions)]
