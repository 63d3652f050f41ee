"""The largest batch size's test accuracy across learning-rate arms and budgets.

A study with several learning-rate arms (constant / linear / sqrt) or budgets (epochs /
steps) trains the same batch sizes under each. Whether "large batches end with lower test
accuracy" is a property of the batch size or of the rate and budget it was given shows only
when the arms are set side by side: per (dataset, optimizer, base learning rate), the largest
batch size's difference from its own condition's best batch size (claim 3a's effect, the
accuracy finding's family interval) in every arm and budget.

The comparison is between conditions that share seeds but not their best batch size, so it
reads verdicts side by side; it forms no interval of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import claims
from . import formatting as fmt
from .config import Condition
from .stats import DIFFERENT, EQUIVALENT, Effect

#: Condition keys that identify a group whose arms and budgets are set side by side.
GROUP_KEYS: tuple[str, ...] = ("dataset", "optimizer", "base_lr")
#: Condition keys that vary inside a group.
ARM_KEYS: tuple[str, ...] = ("lr_scaling", "budget")


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


def arm_sentence(conditions: Sequence[dict[str, Any]], idx: list[int]) -> str:
    """The side-by-side sentence of one group, and what it shows where the arms disagree."""
    items = [_arm_item(conditions[i]) for i in idx]
    largest = conditions[idx[0]]["batch_sizes"][-1]
    text = (
        f"{_group_label(conditions[idx[0]]['keys'])}: B = {largest} minus each condition's own "
        f"best batch size, in final test accuracy — " + "; ".join(item for item, _ in items) + "."
    )
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
    return text


def arm_findings(conditions: Sequence[dict[str, Any]]) -> list[tuple[int, str]]:
    """One finding per group with several arms or budgets (`groups`), as (index of the group's
    first condition, sentence); none otherwise."""
    return [(idx[0], arm_sentence(conditions, idx)) for idx in groups(conditions)]
