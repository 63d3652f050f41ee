"""The analysis stage: findings and verdicts computed from the aggregate tables, as one JSON file.

`analyze` reads ``runs.tsv``, ``summary.tsv`` and, when the study has a timing stage,
``timing_repeats.tsv``, and returns the findings document that
``python -m batchstudy analyze`` writes (``results/analysis/findings.json``; its layout is in
README "File formats"). The report only renders it. Every number in it is a
`batchstudy.stats.Effect` (estimate, lo, hi, n, method, level, verdict, n_censored) or a plain
count; every sentence in it is built with `batchstudy.formatting`, so the text, the tables and
the figures print the same numbers.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from . import arms, claims, draws, scaling, stats
from . import formatting as fmt
from .config import DRAW_OF, Condition
from .metrics import CONDITION_KEYS, EVENT_UNITS, LOSS_NOTE, MEAN_METRICS, target_suffixes
from .stats import DIFFERENT, EQUIVALENT, Effect, IntervalSettings

FORMAT_VERSION = 1
#: What the intervals are conditional on (printed with the methods).
CONDITIONAL_ON = (
    "Intervals cover the randomness of initialisation and data order (the seeds) for one "
    "draw of each dataset and one split of its rows (training, test, and validation where the "
    "dataset has its own); they say nothing about other draws or splits of the data."
)
#: Added to `CONDITIONAL_ON` only when the study has a section across dataset draws.
CONDITIONAL_ON_DRAWS = (
    " A dataset whose random_state lists several draws is trained once per draw, and its "
    "draws are pooled in the section across dataset draws."
)
#: The per-condition "Learning rate" sentence; true whichever way a tuned rate would move
#: B_crit (tuning moves it up in some conditions and down in others). Where the study tunes
#: the rate, the report points to its tuned-learning-rate section after this sentence.
LR_NOTES = {
    "constant": (
        "The learning rate was fixed at the base rate for every batch size, not tuned per batch "
        "size as in McCandlish et al. and Shallue et al.: the steps-to-target curve and B_crit "
        "describe this optimizer at this rate. Tuning the rate per batch size can move B_crit "
        "either way."
    ),
    "scaled": (
        "The learning rate was scaled with the batch size by a fixed rule ({arm}), not tuned "
        "per batch size as in McCandlish et al. and Shallue et al.: the steps-to-target curve "
        "and B_crit describe this optimizer under this rule. Tuning the rate per batch size can "
        "move B_crit either way."
    ),
}
#: The topic under which `LR_NOTES` is printed in a condition's findings; its entry carries
#: ``points_to_tuning`` (the report adds the pointer when the study has a tuning section).
LR_TOPIC = "learning rate"


# --------------------------------------------------------------------------- effects from tables


def _mean_effect(row: pd.Series, name: str, settings: IntervalSettings) -> Effect:
    n = int(row["n_runs"] - row["n_diverged"])
    return Effect(
        float(row[f"{name}_mean"]),
        float(row[f"{name}_lo"]),
        float(row[f"{name}_hi"]),
        n,
        stats.METHOD_T,
        settings.level,
    )


def _median_effect(row: pd.Series, name: str, n_done: int, settings: IntervalSettings) -> Effect:
    n = int(row["n_runs"])
    return Effect(
        float(row[f"{name}_median"]),
        float(row[f"{name}_lo"]),
        float(row[f"{name}_hi"]),
        n,
        stats.METHOD_MEDIAN,
        settings.level,
        n_censored=n - int(n_done),
    )


def _loss_effect(row: pd.Series, settings: IntervalSettings) -> Effect:
    """The final test loss as `batchstudy.metrics.loss_summary` chose it: a mean over the
    runs (none exploded) or a censored median over all of them, the exploded runs censored."""
    median = row["final_test_loss_method"] == stats.METHOD_MEDIAN
    n_exploded = int(row["n_loss_exploded"])
    return Effect(
        float(row["final_test_loss_estimate"]),
        float(row["final_test_loss_lo"]),
        float(row["final_test_loss_hi"]),
        int(row["n_runs"]) if median else int(row["n_runs"] - n_exploded),
        str(row["final_test_loss_method"]),
        settings.level,
        n_censored=n_exploded if median else 0,
    )


def _timing_effect(row: pd.Series, settings: IntervalSettings) -> Effect:
    return Effect(
        float(row["seconds_per_epoch_median"]),
        float(row["seconds_per_epoch_lo"]),
        float(row["seconds_per_epoch_hi"]),
        int(row["epochs"]),
        stats.METHOD_EPOCHS,
        settings.level,
    )


def repeat_timing(
    repeats: pd.DataFrame | None, sizes: list[int], settings: IntervalSettings
) -> dict[str, Any] | None:
    """The timing stage's seconds per model-epoch of one condition: per batch size the
    geometric mean over repeats with its t-interval, and the unit of replication in words;
    ``None`` without repeats (timing intervals are then over one job's epochs)."""
    table = claims.repeat_table(repeats, sizes)
    if table is None:
        return None
    return {
        "repeats": claims.n_repeats(table),
        "unit": claims.repeat_unit(table),
        "seconds_per_epoch": {
            str(b): claims.repeat_seconds(table, b, settings).to_dict() for b in sizes
        },
    }


def job_rows(repeats: pd.DataFrame | None, keys: Mapping[str, Any]) -> pd.DataFrame | None:
    """The timing stage's rows of a condition's job key (dataset, optimizer, budget): one
    timing stage serves every arm and learning rate of that key, as seconds per model-epoch
    do not depend on the rate."""
    if repeats is None or repeats.empty:
        return None
    job = [k for k in ("dataset", "optimizer", "budget") if k in repeats.columns]
    mask = np.logical_and.reduce([repeats[k].astype(str) == str(keys[k]) for k in job])
    return repeats.loc[mask]


def cell_effects(row: pd.Series, settings: IntervalSettings) -> dict[str, Any]:
    """Everything the report's table shows for one (condition, batch size), from summary.tsv."""
    out: dict[str, Any] = {
        "batch_size": int(row["batch_size"]),
        "n_runs": int(row["n_runs"]),
        "n_diverged": int(row["n_diverged"]),
        "steps_per_epoch": int(row["steps_per_epoch"]),
        "learning_rate": float(row["learning_rate"]),
        "seconds_per_epoch": _timing_effect(row, settings).to_dict(),
        "timing_drift": float(row["timing_drift"]),
        "n_collapsed": int(row.get("n_collapsed", 0)),
        "n_budget_limited": int(row.get("n_budget_limited", 0)),
        "n_settled_below_target": int(row.get("n_settled_below_target", 0)),
    }
    for name in MEAN_METRICS:
        out[name] = _mean_effect(row, name, settings).to_dict()
    out["final_test_loss"] = _loss_effect(row, settings).to_dict()
    for unit in EVENT_UNITS:
        name = f"{unit}_to_settle"
        out[name] = _median_effect(row, name, row["n_settled"], settings).to_dict()
    return out


def target_cells(summary: pd.DataFrame, sfx: str, kind: str, settings: IntervalSettings) -> list:
    """Per batch size: epochs/steps/examples/seconds to one target (censored medians)."""
    event, reached = (
        (f"to_target_{sfx}", f"n_reached_{sfx}") if kind == "accuracy" else (f"to_loss_{sfx}", None)
    )
    out = []
    for _, row in summary.iterrows():
        done = row[reached] if reached else None
        cell = {"batch_size": int(row["batch_size"])}
        for unit in EVENT_UNITS:
            name = f"{unit}_{event}"
            n_done = done if done is not None else row[f"n_reached_loss_{sfx}"]
            cell[unit] = _median_effect(row, name, n_done, settings).to_dict()
        out.append(cell)
    return out


# --------------------------------------------------------------------------- per condition


def _lr_note(arm: str) -> str:
    if arm == "constant":
        return LR_NOTES["constant"]
    return LR_NOTES["scaled"].format(arm=fmt.arm(arm))


def _critical_batch(runs: pd.DataFrame, col: str, settings: IntervalSettings) -> dict[str, Any]:
    fit = scaling.critical_batch_finding(runs, col, settings)
    return {k: (v if not isinstance(v, float) or np.isfinite(v) else None) for k, v in fit.items()}


def targets_unset(runs: pd.DataFrame) -> str | None:
    """Why a condition has no relative targets, or None where it has them (or the run table
    says nothing about chance): its best plateau is at chance
    (`batchstudy.metrics.condition_targets`)."""
    if "best_plateau" not in runs.columns or "chance_accuracy" not in runs.columns:
        return None
    best = float(runs["best_plateau"].iloc[0])
    chance = float(runs["chance_accuracy"].iloc[0])
    suffixes = target_suffixes(runs)
    unset = bool(suffixes) and runs[f"target_{suffixes[0]}"].isna().all()
    if not (unset and np.isfinite(best) and np.isfinite(chance)):
        return None
    return (
        f"targets not set: the best plateau validation accuracy {fmt.accuracy(best)} is at "
        f"chance ({fmt.accuracy(chance)}, the majority class's share of the validation split)"
    )


def _chance_facts(kind: str, value: float, chance: Mapping[str, float]) -> dict[str, Any]:
    """A target's chance level (``chance[kind]``; None where unknown), the share of the way
    from it to a perfect score the target asks for, and its `scaling.target_standing`."""
    level = chance.get(kind)
    level = float(level) if level is not None and np.isfinite(level) else None
    share = scaling.chance_headroom(kind, value, np.nan if level is None else level)
    return {
        "level": level,
        "share": float(share) if np.isfinite(share) else None,
        "standing": scaling.target_standing(kind, value, np.nan if level is None else level),
    }


#: The fit of a target at chance (`scaling.STANDING_AT_CHANCE`): none is made.
AT_CHANCE_FIT = {
    "ok": False,
    "reason": "the target is no better than chance, so no B_crit is fitted on it",
    "fitted_sizes": [],
    "not_reached": [],
}


def _targets(
    runs: pd.DataFrame,
    summary: pd.DataFrame,
    settings: IntervalSettings,
    chance: Mapping[str, float] | None = None,
) -> list:
    """Per target: its value, the cells' times to it, its standing against chance (``chance``:
    kind -> the dataset's chance accuracy / loss, `_chance_facts`) and B_crit, which is not
    fitted on a target at chance; none where `targets_unset`."""
    if targets_unset(runs):
        return []
    out = []
    for sfx in target_suffixes(summary):
        for kind, tau_col, steps_col in (
            ("accuracy", f"target_{sfx}", f"steps_to_target_{sfx}"),
            ("loss", f"loss_target_{sfx}", f"steps_to_loss_{sfx}"),
        ):
            value = float(summary[tau_col].iloc[0])
            facts = _chance_facts(kind, value, chance or {})
            at_chance = facts["standing"] == scaling.STANDING_AT_CHANCE
            out.append(
                {
                    "suffix": sfx,
                    "kind": kind,
                    "value": value,
                    "chance": facts,
                    "cells": target_cells(summary, sfx, kind, settings),
                    "critical_batch": (
                        dict(AT_CHANCE_FIT)
                        if at_chance
                        else _critical_batch(runs, steps_col, settings)
                    ),
                }
            )
    return out


def condition_findings(
    runs: pd.DataFrame,
    summary: pd.DataFrame,
    settings: IntervalSettings,
    repeats: pd.DataFrame | None = None,
    own_validation: bool = False,
    chance: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Findings of one condition: cells, accuracy family, targets with B_crit, claims, text.
    ``repeats``: the aggregate ``timing_repeats.tsv`` (any job keys; this condition's are
    picked), or ``None``/empty when the study has no timing stage. ``own_validation``: the
    dataset has a validation split of its own, on which the best batch size is chosen
    (`batchstudy.claims.best_batch_size`). ``chance``: the dataset's chance levels by target
    kind (`chance_levels`); without them no target is judged against chance."""
    keys = {k: runs[k].iloc[0] for k in CONDITION_KEYS}
    summary = summary.sort_values("batch_size")
    best, family = claims.accuracy_vs_best(runs, settings, own_validation=own_validation)
    targets = _targets(runs, summary, settings, chance)
    job_repeats = job_rows(repeats, keys)
    verdicts = claims.evaluate_claims(
        runs, summary, settings, repeats=job_repeats, own_validation=own_validation
    )
    found = {
        "keys": {k: (float(v) if k == "base_lr" else str(v)) for k, v in keys.items()},
        "label": Condition.from_keys(keys).label,
        "batch_sizes": claims.batch_sizes(runs),
        "n_seeds": int(runs["seed"].nunique()),
        "lr_note": _lr_note(str(keys["lr_scaling"])),
        "beyond_budget": claims.beyond_budget(runs),
        "cells": [
            cell_effects(r, settings)
            | {"unsettled_causes": claims.unsettled_causes(runs, int(r["batch_size"]))[1]}
            for _, r in summary.iterrows()
        ],
        "accuracy": {
            "best": best,
            "chosen_on": claims.best_choice(own_validation),
            "margin": claims.ACCURACY_MARGIN,
            "family": claims.family_words(
                len(claims.batch_sizes(runs)), best, own_validation, claims.all_diverged(runs)
            ),
            "comparisons": {str(b): e.to_dict() for b, e in family.items()},
            arms.BY_SEED: arms.largest_minus_best_by_seed(runs, best),
            "all_diverged": claims.all_diverged(runs),
        },
        "targets": targets,
        "targets_unset": targets_unset(runs),
        "claims": [v.to_dict() for v in verdicts],
        "timing_repeats": repeat_timing(job_repeats, claims.batch_sizes(runs), settings),
        "diverged": [
            {"batch_size": int(r.batch_size), "seed": int(r.seed)}
            for r in runs.loc[runs["diverged"].astype(bool)].itertuples()
        ],
    }
    found["text"] = condition_text(found)
    return found


# --------------------------------------------------------------------------- sentences


def _comparison_words(e: Effect, b: int, found: dict[str, Any]) -> str:
    """One comparison with the best: "B = 4 (−0.329 [−0.442, −0.217]; n = 6 of 10 seeds: 4
    with a diverged run excluded)" (`claims.SeedCounts.excluded` where seeds drop out)."""
    excluded = claims.SeedCounts.from_found(found).excluded(e, b, found["accuracy"]["best"])
    return f"B = {b} ({fmt.interval(e, 'difference')}{excluded})"


def accuracy_text(found: dict[str, Any]) -> str:
    """The Accuracy sentence: the best batch size and every other one against it, grouped by
    verdict; batch sizes whose every run diverged listed apart (`claims.ALL_DIVERGED`)."""
    acc = found["accuracy"]
    if acc["best"] is None:
        return "Every run diverged: no final test accuracy to compare."
    cells = {c["batch_size"]: c for c in found["cells"]}
    best = Effect.from_dict(cells[acc["best"]]["final_test_accuracy"])
    diverged = set(acc.get("all_diverged") or [])
    groups: dict[str, list[str]] = {}
    for b, d in acc["comparisons"].items():
        e = Effect.from_dict(d)
        if int(b) in diverged:
            groups.setdefault(claims.ALL_DIVERGED, []).append(f"B = {b}")
            continue
        groups.setdefault(e.verdict, []).append(_comparison_words(e, int(b), found))
    picked = (
        " (the highest of the batch sizes' means on this split, so it reads high; this interval "
        "is not adjusted for that choice)"
        if claims.CHOICE_WORDS[False] in acc["chosen_on"]
        else ""
    )
    text = (
        f"Best batch size: B = {acc['best']} ({acc['chosen_on']}); its mean final test "
        f"accuracy {fmt.effect(best, 'accuracy')}{picked}. Against it, in final test accuracy "
        f"({acc['family']}, margin ±{fmt.exact(acc['margin'])}): "
    )
    words = {
        DIFFERENT: "different",
        EQUIVALENT: "equivalent",
        stats.INCONCLUSIVE: "inconclusive",
        claims.ALL_DIVERGED: claims.ALL_DIVERGED,
    }
    text += "; ".join(f"{words[v]}: {', '.join(items)}" for v, items in groups.items()) + "."
    return text


def _fit_text(t: dict[str, Any]) -> str:
    """B_crit of one target, with its caveats; empty for a target at chance, on which none is
    fitted (`chance_text` says so once for the condition)."""
    if _standing(t) == scaling.STANDING_AT_CHANCE:
        return ""
    fit = t["critical_batch"]
    name = f"{t['suffix']}% {'accuracy' if t['kind'] == 'accuracy' else 'loss'} target"
    not_reached = fit.get("not_reached") or []
    tail = (
        f" Not reached (median above the budget): {fmt.sizes(not_reached)}." if not_reached else ""
    )
    if not fit.get("ok"):
        return f"B_crit for the {name}: {scaling.no_fit_label(fit)} ({fit.get('reason')}).{tail}"
    fitted = fit["fitted_sizes"]
    if fit.get("below_range"):
        return (
            f"B_crit for the {name}: {scaling.BELOW_RANGE_WORDS}; fitted on B = {fitted[0]}–"
            f"{fitted[-1]} ({len(fitted)} batch sizes), {scaling.BELOW_RANGE_WHY} (see "
            f"Definitions){_below_range_misfit(fit)}.{tail}"
        )
    text = (
        f"B_crit for the {name} ≈ {bcrit_span(fit)} (percentile bootstrap "
        f"over seeds, {fit['n_boot_ok']} of {fit['n_boot']} refits usable), fitted on "
        f"B = {fitted[0]}–{fitted[-1]} ({len(fitted)} batch sizes), {_rmse_words(fit)}"
        f"{_fit_caveats(t)}."
    )
    return text + _extrapolation_text(fit) + tail


def _rmse_words(fit: dict[str, Any]) -> str:
    """The relative RMSE of a made fit, as every B_crit sentence prints it."""
    return f"relative RMSE of the fit {fmt.end(fit['rel_rmse'], 'percent', (POOR_FIT_RMSE,))}"


def _below_range_misfit(fit: dict[str, Any]) -> str:
    """After a B_crit below the fitted range: its relative RMSE and `POOR_FIT_WORDS` where the
    fit is poor (above `POOR_FIT_RMSE`), so that even its placing B_crit there is indicative
    only; empty otherwise."""
    if not (fit.get("rel_rmse") or 0.0) > POOR_FIT_RMSE:
        return ""
    return f"; {_rmse_words(fit)}; {POOR_FIT_WORDS}, so even its placing B_crit there is uncertain"


def bcrit_span(fit: dict[str, Any]) -> str:
    """``estimate [lo, hi]`` of a B_crit fit; each number that the text compares with the
    smallest or largest fitted batch size (`extrapolation_clauses`) shows the digits that place
    it (3.998, not 4.00, below B = 4)."""
    fitted = fit.get("fitted_sizes") or []
    edges = (float(fitted[0]), float(fitted[-1])) if fitted else ()
    lo, hi = fit.get("lo"), fit.get("hi")
    text = fmt.end(fit["b_crit"], "size", edges)
    if lo is None or hi is None:
        return f"{text} (no bootstrap interval)"
    return f"{text} [{fmt.end(lo, 'size', edges)}, {fmt.end(hi, 'size', edges)}]"


#: A B_crit fit whose relative RMSE exceeds this is flagged as poor (`_fit_caveats`).
POOR_FIT_RMSE = scaling.POOR_FIT_RMSE
#: How a poor fit (`FLAG_POOR`) is said, after its relative RMSE (`_fit_caveats`,
#: `_below_range_misfit`).
POOR_FIT_WORDS = "the fit is poor"
#: ... and why that matters for its interval (`_fit_caveats`, the tuning section's fits).
POOR_FIT_CAVEAT = f"{POOR_FIT_WORDS}: its interval covers the seeds' noise, not the curve's misfit"


#: Why a B_crit fit is flagged (`fit_flags`); a flagged fit is indicative only, and the
#: Findings' range of B_crit leaves it out, counted by flag (`FLAG_COUNTS`).
FLAG_FEW_POINTS = "few points"
FLAG_POOR = "poor fit"
FLAG_REFITS = "few refits"
FLAG_NEAR_CHANCE = "near chance"
#: A flag in the Findings' count of fits left out: "<k> <words>".
FLAG_COUNTS = {
    FLAG_FEW_POINTS: "on 3 points for 2 parameters",
    FLAG_POOR: f"with a relative RMSE above {POOR_FIT_RMSE:.0%}",
    FLAG_REFITS: "with fewer than 95% of their refits usable",
    FLAG_NEAR_CHANCE: "on a target near chance",
}
#: The flags that make a fit indicative only (the other, `FLAG_REFITS`, leaves its
#: interval's coverage unknown).
INDICATIVE_FLAGS = (FLAG_FEW_POINTS, FLAG_POOR, FLAG_NEAR_CHANCE)


def _standing(t: dict[str, Any]) -> str:
    return str((t.get("chance") or {}).get("standing") or scaling.STANDING_CLEAR)


def fit_flags(t: dict[str, Any]) -> list[str]:
    """What limits one target's B_crit fit beyond its interval (none for a fit not made):
    two parameters on three points leave one residual degree of freedom (the RMSE checks
    little, but one above the limit still shows a misfit); a relative RMSE above
    `POOR_FIT_RMSE` is a misfit the interval does not cover; an
    interval over the usable refits only, when fewer than 95% of the resamples gave one, has
    unknown coverage; a target near chance (`scaling.target_standing`)."""
    fit = t["critical_batch"]
    if not fit.get("ok"):
        return []
    out = []
    if len(fit["fitted_sizes"]) <= 3:
        out.append(FLAG_FEW_POINTS)
    if (fit.get("rel_rmse") or 0.0) > POOR_FIT_RMSE:
        out.append(FLAG_POOR)
    if fit["n_boot_ok"] < 0.95 * fit["n_boot"]:
        out.append(FLAG_REFITS)
    if _standing(t) == scaling.STANDING_NEAR_CHANCE:
        out.append(FLAG_NEAR_CHANCE)
    return out


def _fit_caveats(t: dict[str, Any]) -> str:
    """`fit_flags` of one target in words, each after a semicolon; "indicative only" is said
    once, after the first of `INDICATIVE_FLAGS`."""
    fit = t["critical_batch"]
    words = {
        FLAG_FEW_POINTS: f"{len(fit.get('fitted_sizes') or [])} points for 2 parameters: ",
        FLAG_POOR: f"{POOR_FIT_CAVEAT}; ",
        FLAG_NEAR_CHANCE: f"its target is near chance (see {CHANCE_TOPIC.capitalize()}): ",
        FLAG_REFITS: "the interval covers only the "
        f"{fmt.percent(fit.get('n_boot_ok', 0) / max(fit.get('n_boot', 1), 1))} of resamples "
        "that could be refitted, so its coverage is unknown, not 95%",
    }
    flags = fit_flags(t)
    out = [words[f] for f in INDICATIVE_FLAGS if f in flags]
    out = [out[0] + "indicative only", *(w[:-2] for w in out[1:])] if out else []
    out += [words[FLAG_REFITS]] if FLAG_REFITS in flags else []
    return "".join(f"; {w}" for w in out)


#: The Definitions' statement of `scaling.target_standing`, printed once.
CHANCE_RULE = (
    "A target no better than chance (a loss target at or above ln n_classes, the crossentropy "
    "of a uniform guess; an accuracy target at or below the majority class's share of the "
    "validation split) is already reached by a trivial predictor (the uniform guess, or always "
    "answering the majority class): no B_crit is fitted on it. A target that asks for less than "
    f"{scaling.NEAR_CHANCE_SHARE:.0%} of the way from chance to a perfect score (accuracy 1, "
    "loss 0) is near chance: its B_crit is flagged, indicative only."
)
#: The trivial predictor that reaches a target at chance, by target kind.
TRIVIAL = {
    "accuracy": "always answering the majority class",
    "loss": "the uniform guess",
}
#: The topic of `chance_text` in a condition's sentences.
CHANCE_TOPIC = "targets and chance"


def chance_text(targets: list[dict[str, Any]]) -> str:
    """Once per condition: its targets at chance (no B_crit fitted on them) and near chance
    (B_crit flagged, left out of the Findings' range), with the chance levels and the rule
    (`scaling.target_standing`); empty when every target is clear of chance or chance is
    unknown."""
    parts = []
    for standing in (scaling.STANDING_AT_CHANCE, scaling.STANDING_NEAR_CHANCE):
        for kind in ("accuracy", "loss"):
            these = [t for t in targets if t["kind"] == kind and _standing(t) == standing]
            if these:
                parts.append(_chance_sentence(these, kind, standing))
    return " ".join(parts)


def _chance_sentence(targets: list[dict[str, Any]], kind: str, standing: str) -> str:
    names = " and ".join(f"{t['suffix']}%" for t in targets)
    plural = len(targets) > 1
    show = fmt.accuracy if kind == "accuracy" else fmt.number
    values = " and ".join(show(t["value"]) for t in targets)
    level = targets[0]["chance"]["level"]
    chance = (
        f"chance accuracy {fmt.accuracy(level)} (the majority class's share of the validation "
        "split)"
        if kind == "accuracy"
        else f"the chance loss ln {round(np.exp(level))} = {fmt.accuracy(level)} (the "
        "crossentropy of a uniform guess over the classes)"
    )
    head = f"The {names} {kind} target{'s' if plural else ''} ({values})"
    if standing == scaling.STANDING_AT_CHANCE:
        worse = "at or below" if kind == "accuracy" else "at or above"
        return (
            f"{head} {'are' if plural else 'is'} {worse} {chance}: "
            f"{TRIVIAL[kind]} already reaches "
            f"{'them' if plural else 'it'}, so steps to "
            f"{'them' if plural else 'it'} say nothing about learning and no B_crit is fitted "
            f"on {'them' if plural else 'it'}."
        )
    shares = " and ".join(fmt.percent(t["chance"]["share"]) for t in targets)
    return (
        f"{head} {'ask' if plural else 'asks'} for only {shares} of the way from {chance} to a "
        f"perfect score, less than the {scaling.NEAR_CHANCE_SHARE:.0%} a target needs to be "
        "clear of chance: "
        + (
            "their B_crit values are indicative only and the Findings leave them out."
            if plural
            else "its B_crit is indicative only and the Findings leave it out."
        )
    )


def _extrapolation_text(fit: dict[str, Any]) -> str:
    """`extrapolation_clauses` as sentences; empty inside the fitted batch sizes."""
    return "".join(f" {c[0].upper()}{c[1:]}." for c in extrapolation_clauses(fit))


def extrapolation_clauses(fit: dict[str, Any]) -> list[str]:
    """Where a fit's interval leaves the fitted batch sizes, in the words the report and the
    catalogue's comparison both print: wholly outside them (`fit_outside`: extrapolation, not
    usable), or reaching below the smallest / above the largest; none inside."""
    fitted = fit["fitted_sizes"]
    edges = {
        "below": f"the smallest fitted B = {fitted[0]}",
        "above": f"the largest fitted B = {fitted[-1]}",
    }
    outside = fit_outside(fit)
    if outside:
        tested = sorted([*fitted, *(fit.get("not_reached") or [])])
        edge = fitted[0] if outside == "below" else fitted[-1]
        which = "tested" if edge in (tested[0], tested[-1]) else "fitted"
        return [
            f"the interval lies entirely {outside} the {which} range ({edges[outside]}): "
            f"extrapolation, not a critical batch size the {which} batch sizes show"
        ]
    flags = {"below": fit.get("extrapolated_low"), "above": fit.get("extrapolated_high")}
    estimate = fit.get("b_crit")
    return [
        (
            f"the estimate itself lies {side} {edges[side]}: extrapolation"
            if estimate is not None
            and (estimate < fitted[0] if side == "below" else estimate > fitted[-1])
            else f"the interval reaches {side} {edges[side]}: extrapolation"
        )
        for side, flag in flags.items()
        if flag
    ]


def central_fit(fit: dict[str, Any]) -> bool:
    """A usable fit (`usable_fit`) whose interval stays inside the fitted batch sizes: no
    extrapolation clause. The headline shows such a fit first."""
    return usable_fit(fit) and not extrapolation_clauses(fit)


def fit_outside(fit: dict[str, Any]) -> str | None:
    """Where a B_crit fit's whole bootstrap interval lies: "below" the smallest fitted batch
    size, "above" the largest, else ``None`` (also for a fit without an interval or not
    estimated). Such a fit is extrapolation and never counts as usable (`usable_fit`)."""
    lo, hi, fitted = fit.get("lo"), fit.get("hi"), fit.get("fitted_sizes") or []
    if not fit.get("ok") or lo is None or hi is None or not fitted:
        return None
    if hi < fitted[0]:
        return "below"
    return "above" if lo > fitted[-1] else None


def usable_fit(fit: dict[str, Any]) -> bool:
    """A B_crit fit the Findings count: estimated, its interval not wholly outside the fitted
    batch sizes (`fit_outside`), and its estimate not below the tested range (``below_range``,
    `scaling.below_tested_range`: printed as no estimate)."""
    return bool(fit.get("ok")) and fit_outside(fit) is None and not fit.get("below_range")


def _target_text(t: dict[str, Any]) -> str:
    what = (
        f"validation accuracy {fmt.accuracy(t['value'])}"
        if t["kind"] == "accuracy"
        else f"validation loss {fmt.number(t['value'])}"
    )
    steps = []
    for c in t["cells"]:
        e = Effect.from_dict(c["steps"])
        steps.append(f"B = {c['batch_size']}: {fmt.interval(e, 'count')}")
    return (
        f"Optimizer steps to the {t['suffix']}% {t['kind']} target ({what}; median, runs "
        f"that never reached it count as above the budget): "
        + "; ".join(steps)
        + "."
        + (f" {fit}" if (fit := _fit_text(t)) else "")
    )


def _settling_notes(c: dict[str, Any], ep: Effect) -> str:
    """A cell's runs that never settled, once, with their causes (``unsettled_causes``), and
    those that settled below the target: "(1 of 10 never settled: 1 loss rising)"."""
    notes = []
    if ep.n_censored:
        causes = f": {c['unsettled_causes']}" if c.get("unsettled_causes") else ""
        notes.append(f"{fmt.share(ep.n_censored, ep.n)} never settled{causes}")
    if c.get("n_settled_below_target", 0):
        notes.append(f"{c['n_settled_below_target']} settled below the target")
    return f" ({'; '.join(notes)})" if notes else ""


def settling_text(found: dict[str, Any]) -> str:
    """The Settling paragraph: per batch size the median settling point in epochs and steps,
    and how many runs were at chance, were budget-limited (entered their band only in the
    last plateau-plus-smoothing epochs) or settled at a plateau below the condition's first
    accuracy target (counted as settled all the same)."""
    parts = []
    for c in found["cells"]:
        ep = Effect.from_dict(c["epochs_to_settle"])
        st = Effect.from_dict(c["steps_to_settle"])
        # the censored count is said once, in the notes, not after each interval
        ep_, st_ = replace(ep, n_censored=0), replace(st, n_censored=0)
        parts.append(
            f"B = {c['batch_size']}: "
            + (
                f"{fmt.interval(ep_, 'count')} epochs = {fmt.interval(st_, 'count')} steps"
                if np.isfinite(ep.estimate)
                else fmt.above("count")
                if ep.estimate == np.inf
                else fmt.interval(ep, "count")  # not estimable
            )
            + _settling_notes(c, ep)
        )
    below = (
        "; runs settled below the target settled at a plateau under the first accuracy target"
        if any(c.get("n_settled_below_target", 0) for c in found["cells"])
        else ""
    )
    beyond = found.get("beyond_budget")
    return (
        "Median settling point (runs that never settled within the budget rank above every "
        f"settled run{f': {beyond}; causes' if beyond else '; causes'} as defined under "
        f"Settling point{below}): " + "; ".join(parts) + "."
    )


def condition_text(found: dict[str, Any]) -> list[dict[str, str]]:
    """The condition's sentences, in the order the report prints them."""
    out = [{"topic": "accuracy", "text": accuracy_text(found)}]
    out.append({"topic": "settling", "text": settling_text(found)})
    if found.get("targets_unset"):
        why = found["targets_unset"]
        out.append({"topic": "targets", "text": f"{why[0].upper()}{why[1:]}."})
    if chance := chance_text(found["targets"]):
        out.append({"topic": CHANCE_TOPIC, "text": chance})
    out += [
        {"topic": f"{t['suffix']}% {t['kind']} target", "text": _target_text(t)}
        for t in found["targets"]
    ]
    out.append({"topic": LR_TOPIC, "text": found["lr_note"], "points_to_tuning": True})
    return out


# --------------------------------------------------------------------------- across conditions


_claim = claims.claim_entry


def _anchor(found: dict[str, Any], i: int) -> str:
    """A condition's section id (``c<k>``), by its position `i` where it has none yet."""
    return str(found.get("id", f"c{i + 1}"))


def headline(
    conditions: list[dict[str, Any]], settings: IntervalSettings | None = None
) -> list[dict[str, str]]:
    """The few findings that matter, in plain words, each with the anchor of its evidence:
    the large-batch accuracy verdicts (and, with several learning-rate arms or budgets, the
    largest batch size's in each: `batchstudy.arms`), the critical batch size, and where claim
    4 holds. Conditions whose best plateau is at chance (no targets, `targets_unset`) are left
    out of those counts and named apart (`_chance_headlines`). ``settings``: the study's
    interval settings, for the arms' paired intervals."""
    learnt = [c for c in conditions if not c.get("targets_unset")]
    return [
        *_chance_headlines(conditions),
        *_accuracy_headlines(learnt),
        *(
            {"text": text, "anchor": f"{_anchor(learnt[i], i)}-claims"}
            for i, text in arms.arm_findings(learnt, settings)
        ),
        *_critical_batch_headlines(learnt),
        *_wall_time_headlines(learnt, (settings or IntervalSettings()).level),
        *_claims_headlines(learnt),
    ]


#: Per claim number, the effect that carries its verdict in a Findings line: (effects key,
#: formatter kind, what it compares).
CLAIM_HEADLINE_EFFECTS = {
    "2": ("difference", "count_difference", "small − large median settling epoch (epochs)"),
    "3a": ("test_accuracy", "difference", "test accuracy of the largest − the best batch size"),
    "3b": ("gap", "difference", "train−test gap of the largest − the best batch size"),
}


def _interval_decides(effect_verdict: str, verdict: str) -> bool:
    """Whether a claim's verdict is what its headline interval says on its own: different
    gives supported or not supported, equivalent not supported, inconclusive inconclusive."""
    return (
        (effect_verdict == stats.DIFFERENT and verdict in (claims.SUPPORTED, claims.NOT_SUPPORTED))
        or (effect_verdict == stats.EQUIVALENT and verdict == claims.NOT_SUPPORTED)
        or (effect_verdict == stats.INCONCLUSIVE and verdict == claims.INCONCLUSIVE)
    )


def _claim_verdict(c: dict[str, Any], v: dict[str, Any]) -> str:
    """One claim's verdict in one condition, with the effect that carries it where it has one
    (`CLAIM_HEADLINE_EFFECTS`) and, for claim 4, the batch sizes where it holds."""
    text = f"{v['number']} “{v['claim']}”: {v['verdict']}"
    if claims.under_definition(v):
        text += f" ({claims.LOSS_RISING_TALLY})"
    key, kind, what = CLAIM_HEADLINE_EFFECTS.get(v["number"], (None, "", ""))
    if why := claims.untestable_words(str(v.get("evidence", ""))):
        text += f" ({why})"
    elif key and key in v.get("effects", {}):
        e = Effect.from_dict(v["effects"][key])
        text += f" — {what}: {fmt.effect(e, kind)}"
        if not _interval_decides(e.verdict, v["verdict"]):
            text += (
                " (the verdict goes beyond this interval's own three-way reading: see claim "
                f"{v['number']})"
            )
    elif v.get("holds_for"):
        text += f" — holds for {fmt.sizes(v['holds_for'])}"
    return text


def _verdict_counts(entries: list[dict[str, Any]]) -> str:
    """How many conditions gave each of a claim's verdicts as shown (`claims.shown_verdict`):
    "inconclusive in 14, not supported in 4 (all 4 under this definition of settling: …)", the
    "not supported" count naming those that rest on loss-rising small-batch runs
    (`claims.under_definition`, `claims.loss_rising_tally`)."""
    verdicts = [claims.shown_verdict(e) for e in entries]
    rising = sum(claims.under_definition(e) for e in entries)
    return ", ".join(
        f"{w} in {verdicts.count(w)}"
        + (claims.loss_rising_tally(rising, verdicts.count(w)) if w == claims.NOT_SUPPORTED else "")
        for w in dict.fromkeys(verdicts)
    )


def _claims_headlines(conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The article's claims, each verdict with its evidence's link: with one condition each
    claim's verdict and the effect behind it, with several how many conditions gave each
    verdict; and, per condition, batch sizes other than the largest whose test accuracy is
    practically lower than the best one's (the claims test only the largest)."""
    if not conditions:
        return []
    first = _anchor(conditions[0], 0)
    links = [
        {"label": f"claim {v['number']}", "anchor": f"{first}-claim-{v['number']}"}
        for v in conditions[0]["claims"]
    ]
    if len(conditions) == 1:
        c = conditions[0]
        text = f"The seed article's claims in {c['label']}: " + "; ".join(
            _claim_verdict(c, v) for v in c["claims"]
        )
    else:
        parts = []
        for v in conditions[0]["claims"]:
            counts = _verdict_counts([_claim(c, v["claim"]) for c in conditions])
            parts.append(f"{v['number']} “{v['claim']}”{_stages(conditions, v)}: {counts}")
        text = (
            f"The seed article's claims over the {len(conditions)} conditions (the evidence "
            f"links go to the first): " + "; ".join(parts)
        )
    out = [{"text": text + ".", "anchor": f"{first}-claims", "links": links}]
    lower = [(i, c, _lower_than_best(c)) for i, c in enumerate(conditions)]
    if lower := [(i, c, w) for i, c, w in lower if w]:
        i, c, _ = lower[0]
        out.append(
            {
                "text": "Besides the largest batch size, test accuracy practically lower than "
                "the best batch size's (different, beyond the margin; each interval a member "
                "of its condition's Bonferroni-simultaneous family of comparisons with the "
                "best, at the level it names), by condition: "
                + "; ".join(f"{c['label']}: {w}" for _, c, w in lower)
                + ".",
                "anchor": f"{_anchor(c, i)}-findings",
            }
        )
    return out


def _lower_than_best(c: dict[str, Any]) -> str:
    """The batch sizes below the largest whose family comparison with the best is different
    and lower, each with its interval, method, n and level (and the seeds left out,
    `claims.SeedCounts.excluded`); empty where none is."""
    acc = c.get("accuracy") or {}
    largest = max(c["batch_sizes"]) if c.get("batch_sizes") else None
    counts = claims.SeedCounts.from_found(c)
    items = []
    for b, d in sorted((acc.get("comparisons") or {}).items(), key=lambda kv: int(kv[0])):
        e = Effect.from_dict(d)
        if int(b) != largest and e.verdict == DIFFERENT and e.estimate < 0:
            items.append(claims.quoted(int(b), acc.get("best"), e, counts))
    return ", ".join(items)


def _chance_headlines(conditions: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The conditions whose best plateau is at chance, which the other headlines leave out."""
    at_chance = [(i, c) for i, c in enumerate(conditions) if c.get("targets_unset")]
    if not at_chance:
        return []
    i, first = at_chance[0]
    return [
        {
            "text": (
                f"In {len(at_chance)} of {fmt.counted(len(conditions), 'condition')} no batch "
                "size's plateau validation accuracy is clearly above chance, so no targets were "
                "set and the findings below leave them out: "
                + "; ".join(c["label"] for _, c in at_chance)
                + "."
            ),
            "anchor": f"{_anchor(first, i)}-targets",
        }
    ]


def _first_claims(pairs: list[tuple[int, dict[str, Any]]]) -> str:
    """The anchor of the claims of the first (index, condition) listed, whose claim 3a is
    the evidence of a headline that counts conditions by that claim's verdict."""
    i, c = pairs[0]
    return f"{_anchor(c, i)}-claims"


def _accuracy_headlines(conditions: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Where the largest batch size is lower than, equivalent to, or not told from the best."""
    by_verdict: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for i, c in enumerate(conditions):
        by_verdict.setdefault(_claim(c, claims.CLAIM_LOWER_ACCURACY)["verdict"], []).append((i, c))
    of_n = f"of {fmt.counted(len(conditions), 'condition')}"
    out = []
    if lower := by_verdict.get(claims.SUPPORTED):
        out.append(_lower_headline(lower, of_n))
    if same := [c for _, c in by_verdict.get(claims.NOT_SUPPORTED, [])]:
        out.append(
            {
                "text": (
                    f"In {len(same)} {of_n} the largest batch size's test accuracy is "
                    "equivalent to the best batch size's (within "
                    f"±{fmt.exact(claims.ACCURACY_MARGIN)}), or it is the best itself and no "
                    "other batch size is practically higher: "
                    + "; ".join(c["label"] for c in same)
                    + "."
                ),
                "anchor": _first_claims(by_verdict[claims.NOT_SUPPORTED]),
            }
        )
    if unclear := [c for _, c in by_verdict.get(claims.INCONCLUSIVE, [])]:
        out.append(
            {
                "text": (
                    f"In {len(unclear)} {of_n} these seeds cannot tell whether the largest "
                    "batch size's test accuracy differs from the best one's by more than the "
                    "margin: " + "; ".join(_unclear_words(c) for c in unclear) + "."
                ),
                "anchor": _first_claims(by_verdict[claims.INCONCLUSIVE]),
            }
        )
    if out and len(conditions) > 1:
        out[0]["text"] += (
            f" Each condition's test-accuracy comparisons are simultaneous within it "
            "(Bonferroni over the family its section names), not across the "
            f"{len(conditions)} conditions; "
            "every other interval is at its own stated level."
        )
    return out


def lower_reason(c: dict[str, Any]) -> str:
    """Why a condition's claim 3a is inconclusive, with its numbers
    (`claims.lower_accuracy_reason` on the condition's accuracy family)."""
    acc = c["accuracy"]
    family = {int(b): Effect.from_dict(d) for b, d in acc["comparisons"].items()}
    largest = max(c["batch_sizes"])
    own_validation = acc.get("chosen_on") == claims.best_choice(True)
    counts = claims.SeedCounts.from_found(c)
    return claims.lower_accuracy_reason(
        largest, acc["best"], family, acc.get("all_diverged", []), own_validation, counts
    )


def _unclear_words(c: dict[str, Any]) -> str:
    """A condition whose claim 3a is inconclusive, with the reason that applies."""
    reason = lower_reason(c)
    return f"{c['label']} ({reason})" if reason else c["label"]


def _lower_headline(lower: list[tuple[int, dict[str, Any]]], of_n: str) -> dict[str, str]:
    """How many conditions lose accuracy at the largest batch size, the largest drop, and the
    gap comparisons behind them (`gap_counts`)."""

    def drop(c: dict[str, Any]) -> dict[str, Any]:
        return _claim(c, claims.CLAIM_LOWER_ACCURACY)["effects"]["test_accuracy"]

    worst_i, worst = min(lower, key=lambda ic: drop(ic[1])["estimate"])
    e = Effect.from_dict(drop(worst))
    which = (
        "the most negative difference (largest batch size − best) is"
        if len(lower) > 1
        else "the difference (largest batch size − best) is"
    )
    return {
        "text": (
            f"The largest batch size ends with practically lower test accuracy than the "
            f"best batch size in {len(lower)} {of_n}; {which} "
            f"{fmt.effect(e, 'difference')} ({worst['label']}{budget_caveat(worst)}). "
            + gap_counts([c for _, c in lower])
        ),
        "anchor": f"{_anchor(worst, worst_i)}-claims",
    }


def still_moving_from(found: dict[str, Any]) -> tuple[int, str] | None:
    """The smallest batch size from which, up to the largest, no run of a condition settled
    within the budget, with the causes of the largest's (``unsettled_causes``); ``None`` when
    the largest batch size has a settled run."""
    first, cells = None, found.get("cells") or []
    for c in sorted(cells, key=lambda c: -int(c["batch_size"])):
        e = Effect.from_dict(c["epochs_to_settle"]) if c.get("epochs_to_settle") else None
        if not (e and e.n and e.n_censored == e.n):
            break
        first = c
    if first is None:
        return None
    largest = max(cells, key=lambda c: int(c["batch_size"]))
    return int(first["batch_size"]), str(largest.get("unsettled_causes") or "")


def budget_caveat(found: dict[str, Any]) -> str:
    """Where the largest batch size's runs had not settled by the end of the budget, a drop
    in its final accuracy is measured at a budget that stopped them early: "; at the
    60-epoch budget, where no run at B ≥ 32 had settled: at the largest, 10 still moving"
    ("at any batch size" where that is the smallest too); empty otherwise."""
    moving = still_moving_from(found)
    if moving is None:
        return ""
    b, causes = moving
    sizes = found.get("batch_sizes") or []
    if sizes and b == max(sizes):
        where = f"B = {b}"
    else:
        where = "any batch size" if sizes and b == min(sizes) else f"B ≥ {b}"
    budget = fmt.budget_attributive(str(found["keys"]["budget"]))
    why = f": at the largest, {causes}" if causes else ""
    return f"; at the {budget} budget, where no run at {where} had settled{why}"


def gap_counts(conditions: list[dict[str, Any]]) -> str:
    """How the train-test gap compares (largest B minus best, `claims.gap_outcome` against the
    condition's test-accuracy drop) in these conditions, each outcome counted apart: shown
    larger, shown not to grow by more than the margin, shown smaller, too small to explain half
    the drop, inconclusive. An outcome with no condition is left out, except "larger", which is
    always counted."""
    outcomes = [
        claims.gap_outcome(
            Effect.from_dict(_claim(c, claims.CLAIM_GAP)["effects"]["gap"]),
            Effect.from_dict(_claim(c, claims.CLAIM_LOWER_ACCURACY)["effects"]["test_accuracy"]),
        )
        for c in conditions
    ]
    shown = (claims.GAP_GROWS, claims.GAP_SAME, claims.GAP_SHRINKS, claims.GAP_MINOR)
    n = {o: outcomes.count(o) for o in shown}
    n[claims.GAP_UNKNOWN] = len(outcomes) - sum(n.values())
    margin = fmt.exact(claims.ACCURACY_MARGIN)
    parts = [
        f"in {n[claims.GAP_GROWS]} of them a train-test gap larger by more than {margin} is shown"
    ]
    words = {
        claims.GAP_SAME: (
            f"the gap is shown not to grow by more than {margin} (the upper end of its "
            f"interval is below +{margin})"
        ),
        claims.GAP_SHRINKS: f"the gap is shown to shrink by more than {margin}",
        claims.GAP_MINOR: (
            "a larger gap could explain less than half of the test-accuracy drop (the upper end "
            "of its interval is below half the drop's smallest size)"
        ),
        claims.GAP_UNKNOWN: f"the seeds cannot say whether the gap grows by more than {margin}",
    }
    parts += [f"in {n[o]} {w}" for o, w in words.items() if n[o]]
    text = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
    return text[0].upper() + text[1:] + "."


def _critical_batch_headlines(conditions: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The first condition with a usable B_crit fit, or why none has one."""
    n = len(conditions)
    of_n = f"of {fmt.counted(n, 'condition')}"
    out = []
    fits = [
        (i, c, t)
        for i, c in enumerate(conditions)
        for t in c["targets"][:1]
        if usable_fit(t["critical_batch"])
    ]
    # a fit below the tested range prints no estimate nor interval: counted as such only
    below = sum(
        bool(t["critical_batch"].get("below_range")) for c in conditions for t in c["targets"][:1]
    )
    outside = sum(
        fit_outside(t["critical_batch"]) is not None and not t["critical_batch"].get("below_range")
        for c in conditions
        for t in c["targets"][:1]
    )
    beyond = (
        f"; in {outside} more the whole interval lies outside the tested range, which is not "
        "counted as reportable"
        if outside
        else ""
    ) + (f"; in {below} more B_crit lies {scaling.BELOW_RANGE_WORDS}" if below else "")
    beyond += _no_fit_counts(conditions)
    if not fits and conditions and conditions[0]["targets"]:
        t = conditions[0]["targets"][0]
        fit = t["critical_batch"]
        why = (
            fit.get("reason")
            if not fit.get("ok")
            else f"B_crit {scaling.BELOW_RANGE_WORDS}"
            if fit.get("below_range")
            else (f"its interval lies entirely {fit_outside(fit)} the tested range")
        )
        out.append(
            {
                "text": (
                    f"No condition gives a reportable critical-batch-size fit for the "
                    f"{t['suffix']}% accuracy target{beyond}; in {conditions[0]['label']}: "
                    f"{why}."
                ),
                "anchor": f"{_anchor(conditions[0], 0)}-targets",
            }
        )
    if fits:
        out.append(_shown_fit_headline(fits, of_n, beyond))
    return out


#: Why a condition's first target has no B_crit fit (`no_fit_cause`), in the Findings' count:
#: "<k> where <words>".
NO_FIT_WORDS = {
    "unset": "no target was set (no plateau clearly above chance)",
    "chance": "the target is no better than chance",
    "few": f"fewer than {scaling.MIN_BATCH_SIZES} batch sizes reached the target",
    "poor": f"the steps do not follow {scaling.MODEL_WORDS} (relative RMSE above "
    f"{POOR_FIT_RMSE:.0%} at its best fit, which has S_min or E_min at 0)",
    "e_min": "the model's best fit is flat (B_crit below the fitted batch sizes)",
    "s_min": "the model's best fit falls like 1/B throughout (B_crit above the fitted batch sizes)",
}


def no_fit_cause(c: dict[str, Any]) -> str | None:
    """Why a condition's first target has no B_crit fit, as a key of `NO_FIT_WORDS` (a fit at
    a zero bound whose relative RMSE exceeds `POOR_FIT_RMSE` is "poor", whichever bound) or,
    for a reason of another kind, the reason itself; None where a fit was made."""
    if not c["targets"]:
        return "unset"
    fit = c["targets"][0]["critical_batch"]
    if fit.get("ok"):
        return None
    if _standing(c["targets"][0]) == scaling.STANDING_AT_CHANCE:
        return "chance"
    cause = scaling.failure_cause(fit)
    if cause in ("e_min", "s_min") and (fit.get("rel_rmse") or 0.0) > POOR_FIT_RMSE:
        return "poor"
    return cause or str(fit.get("reason"))


def _no_fit_counts(conditions: list[dict[str, Any]]) -> str:
    """ "; in 2 more no fit was made: 1 where …, 1 where …": the conditions whose first target
    got no B_crit fit, grouped by `no_fit_cause` in `NO_FIT_WORDS`' order; empty if none."""
    causes = [k for k in (no_fit_cause(c) for c in conditions) if k is not None]
    if not causes:
        return ""
    order = [*NO_FIT_WORDS, *sorted(set(causes) - set(NO_FIT_WORDS))]
    groups = [f"{causes.count(k)} where {NO_FIT_WORDS.get(k, k)}" for k in order if k in causes]
    return f"; in {len(causes)} more no fit was made: {', '.join(groups)}"


def _shown_fit_headline(fits: list[tuple[int, dict[str, Any], dict]], of_n: str, beyond: str):
    """The headline's B_crit: the first usable fit (conditions in the report's order) that
    stays inside its fitted batch sizes and is not flagged (`fit_flags`), else the first inside
    them, else the first usable one; the rule that chose it, its target, and the range over
    the unflagged fits inside their batch sizes, with the fits left out counted by reason."""
    central = [f for f in fits if central_fit(f[2]["critical_batch"])]
    clean = [f for f in central if not fit_flags(f[2])]
    i, c, t = (clean or central or fits)[0]
    rule = (
        "reportable, stays inside its fitted batch sizes and is not flagged"
        if clean
        else "reportable and stays inside its fitted batch sizes (at this target every such fit "
        "is flagged)"
        if central
        else "reportable (at this target the interval of every reportable fit reaches beyond "
        "its fitted batch sizes)"
    )
    first = (
        "the study's only condition, whose fit is"
        if len(fits) == 1 and of_n.endswith(" 1 condition")
        else "the first condition in the report's order whose fit is"
    )
    shown = (
        f" Shown: {first} {rule}; its target, "
        f"validation accuracy {fmt.accuracy(t['value'])}, is {t['suffix']}% of that "
        "condition's own best mean plateau, so each condition races to its own target."
    )
    # the shown fit's own extrapolation is in its text; count the other extrapolating ones
    n_other = len(fits) - len(central) - (0 if central else 1)
    return {
        "text": _fit_text(t)
        + f" ({c['label']}; reportable fits: {len(fits)} {of_n}{beyond}.)"
        + shown
        + " "
        + _fit_basis(c, t)
        + _fit_range(clean, [f for f in central if f[0] != i], n_other)
        + ("" if clean else _clean_other_target(c, t))
        + " "
        + FIXED_RATE_NOTE,
        "anchor": f"{_anchor(c, i)}-targets",
    }


def _clean_other_target(c: dict[str, Any], shown: dict[str, Any]) -> str:
    """Where the shown fit is flagged, the condition's other targets whose fit is reportable,
    stays inside its fitted batch sizes and is not flagged, with their B_crit; "" if none."""
    good = [
        t
        for t in c["targets"]
        if t is not shown
        and usable_fit(t["critical_batch"])
        and central_fit(t["critical_batch"])
        and not fit_flags(t)
    ]
    words = [
        f"B_crit for the {t['suffix']}% {t['kind']} target ≈ {bcrit_span(t['critical_batch'])}"
        for t in good
    ]
    if not words:
        return ""
    return f" In the same condition, fits that are not flagged: {'; '.join(words)}."


def _fit_range(clean: list, central: list, n_other: int) -> str:
    """The range of B_crit over the unflagged fits inside their batch sizes (from two of
    them), and how many usable fits it leaves out: flagged ones by `FLAG_COUNTS` (a fit can
    carry several flags) and those whose estimate or interval extrapolates. ``central`` and
    ``n_other`` exclude the shown fit (its own flags are in its text), so where it is the
    only usable fit nothing is said of others."""
    flagged = [f for f in central if fit_flags(f[2])]
    counts = {flag: sum(flag in fit_flags(f[2]) for f in flagged) for flag in FLAG_COUNTS}
    reasons = [f"{k} {FLAG_COUNTS[flag]}" for flag, k in counts.items() if k]
    several = "; a fit can carry several flags" if sum(counts.values()) > len(flagged) else ""
    left = [f"{len(flagged)} flagged ({', '.join(reasons)}{several})"] if flagged else []
    if n_other:
        left.append(f"{n_other} whose estimate or interval reaches outside its fitted batch sizes")
    left_text = f" Left out: {' and '.join(left)}." if left else ""
    if len(clean) > 1:
        values = [f[2]["critical_batch"]["b_crit"] for f in clean]
        return (
            f" Across the {len(clean)} reportable fits that stay inside their fitted batch sizes "
            f"and are not flagged, B_crit ranges from {fmt.number(min(values))} to "
            f"{fmt.number(max(values))}.{left_text}"
        )
    return f" Other reportable fits: {' and '.join(left)}." if left else ""


def _fit_basis(c: dict[str, Any], t: dict[str, Any]) -> str:
    """What the headline's B_crit rests on: the seeds per batch size, the fitted batch sizes
    whose median steps count runs that never reached the target, that the bootstrap
    interval's coverage is not checked and that it leaves out the choice of the fitted batch
    sizes (`FITTED_RANGE_NOTE`)."""
    fitted = set(t["critical_batch"].get("fitted_sizes") or [])
    censored = [
        (int(x["batch_size"]), Effect.from_dict(x["steps"]))
        for x in t.get("cells") or []
        if int(x["batch_size"]) in fitted and Effect.from_dict(x["steps"]).n_censored
    ]
    points = (
        "; fitted medians that count runs that never reached the target (as above the "
        "budget): " + ", ".join(f"B = {b} ({fmt.share(e.n_censored, e.n)})" for b, e in censored)
        if censored
        else "; every fitted batch size's runs reached the target"
        if t.get("cells")
        else ""
    )
    seeds = f"{c['n_seeds']} seeds per batch size" if c.get("n_seeds") else "the seeds"
    return (
        f"It rests on {seeds}{points}; the bootstrap interval's coverage at these seed counts "
        f"is not checked. {FITTED_RANGE_NOTE}"
    )


#: What a B_crit interval leaves out: the choice of the batch sizes fitted (`_fit_basis`).
FITTED_RANGE_NOTE = (
    "The interval covers the seeds' noise at the fitted batch sizes, not the choice of those "
    "batch sizes: where S = S_min + E_min/B does not describe the whole curve, a fit on other "
    "batch sizes (a budget under which others reach the target) moves B_crit, possibly "
    "outside this interval."
)


#: What a per-condition B_crit describes: every condition trains one learning rate (or one
#: rule) for all its batch sizes, as McCandlish et al. and Shallue et al. did not.
FIXED_RATE_NOTE = (
    "Each condition uses one learning rate (or one scaling rule) for every batch size, not a "
    "rate tuned per batch size, so each B_crit describes that optimizer at that rate."
)


def _wall_time_headlines(
    conditions: list[dict[str, Any]], level: float = stats.LEVEL
) -> list[dict[str, str]]:
    """Where claim 4 holds in the conditions timed by the timing stage's repeats, and how many
    conditions get no wall-time verdict for want of them (`claims.NO_REPEATS_REASON`);
    nothing without conditions."""
    if not conditions:
        return []
    timed = [c for c in conditions if c.get("timing_repeats")]
    untimed = len(conditions) - len(timed)
    untestable = [
        c
        for c in timed
        if _claim(c, claims.CLAIM_WALL_TIME)["evidence"].startswith(claims.NOT_TESTABLE)
    ]
    timed = [c for c in timed if c not in untestable]
    text = ""
    if timed:
        partly = [c for c in timed if _claim(c, claims.CLAIM_WALL_TIME)["holds_for"]]
        target = timed[0]["targets"][0]["suffix"] if timed[0]["targets"] else "first"
        text += (
            f"Claim 4 (larger batches reach the {target}% accuracy target in "
            "less wall time but not in fewer epochs than the smallest batch size) holds for "
            f"at least one batch size in {len(partly)} of "
            f"{fmt.counted(len(timed), 'condition')} timed by repeats"
            + (
                f" where it could be tested ({len(untestable)} more: {NOT_TESTABLE_WORDS})"
                if untestable
                else ""
            )
            + _censored_reference_count(timed)
            + (
                ": "
                + "; ".join(
                    f"{c['label']}: {fmt.sizes(_claim(c, claims.CLAIM_WALL_TIME)['holds_for'])}"
                    for c in partly
                )
                if partly
                else ""
            )
            + (f" ({_holds_multiplicity(timed, level)})" if partly else "")
            + f". {_wall_clock(timed)} "
        )
    if untimed:
        text += (
            f"In {untimed} of {fmt.counted(len(conditions), 'condition')} wall time decides "
            f"neither claim 1 nor claim 4: {claims.NO_REPEATS_REASON}; claim 4 is judged there "
            "only on what the epochs decide alone."
        )
    first = timed[0] if timed else conditions[0]
    return [{"text": text.strip(), "anchor": f"{_anchor(first, conditions.index(first))}-claims"}]


def _censored_reference_count(timed: list[dict[str, Any]]) -> str:
    """How many of the tested conditions judge claim 4 against a smallest batch size whose
    median never reaches the target (`claims.CENSORED_REFERENCE_RULE`): there it does not hold
    anywhere and only epochs decide; "" where none does."""
    k = sum(
        claims.CENSORED_REFERENCE_RULE in _claim(c, claims.CLAIM_WALL_TIME)["evidence"]
        for c in timed
    )
    if not k:
        return ""
    return (
        f" (in {k} of the {len(timed)} the smallest batch size's median never reaches the target "
        "within its budget at that rate: there only epochs decide, against a batch size that "
        "may not have trained)"
    )


def _holds_multiplicity(timed: list[dict[str, Any]], level: float) -> str:
    """What a count of claim 4 "holds" rests on: each condition's comparisons of its batch
    sizes with the smallest are one Bonferroni family at ``level`` (`claims.wall_family`), not
    adjusted across the conditions."""
    k = sum(len(c["batch_sizes"]) - 1 for c in timed)
    family = f"{stats.FAMILY_BONFERRONI} at {fmt.confidence(level)}"
    if len(timed) == 1:
        return f"the condition's {k} comparisons with its smallest batch size, {family}"
    return (
        f"each condition's comparisons with its smallest batch size {family} within it, not "
        f"adjusted across the {k} comparisons of the {len(timed)} conditions"
    )


#: Why a condition is left out of claim 4's "holds" count (`claims._reference_untrained`).
NOT_TESTABLE_WORDS = f"not testable at this rate, {claims.REFERENCE_FAILED}"


def _wall_clock(timed: list[dict[str, Any]]) -> str:
    """Where claim 4's wall times come from in the conditions timed by repeats, in words."""
    k = [c["timing_repeats"]["repeats"] for c in timed]
    n = len(timing_stages(timed))
    return (
        f"Seconds per epoch come from {min(k)}"
        + (f"–{max(k)}" if max(k) != min(k) else "")
        + " interleaved timing repeats per batch size"
        + (f", in {fmt.counted(n, 'timing stage')} ({STAGE_SHARED})" if n < len(timed) else "")
        + "."
    )


#: Which conditions share one timing stage (`batchstudy.findings.job_rows`).
STAGE_SHARED = "one per dataset, optimizer and budget, shared by its arms and rates"


def timing_stages(conditions: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """The timing stages (dataset, optimizer, budget) behind the conditions timed by repeats."""
    return {
        tuple(str(c["keys"][k]) for k in ("dataset", "optimizer", "budget"))
        for c in conditions
        if c.get("timing_repeats")
    }


def _stages(conditions: list[dict[str, Any]], v: dict[str, Any]) -> str:
    """For the claims timed by the clock (1 and 4), where the conditions share timing stages,
    how many stages the count rests on, in parentheses after the claim."""
    if v["claim"] not in (claims.CLAIM_TIME_PER_EPOCH, claims.CLAIM_WALL_TIME):
        return ""
    timed = [c for c in conditions if c.get("timing_repeats")]
    n = len(timing_stages(timed))
    if not timed or n == len(timed):
        return ""
    return (
        f" (the seconds per epoch of {fmt.counted(len(timed), 'condition')} rest on "
        f"{fmt.counted(n, 'timing stage')}, {STAGE_SHARED})"
    )


def overview(
    conditions: list[dict[str, Any]], dataset_draws: dict[str, dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Rows of the small-multiples figure: per condition and batch size, the final test
    accuracy and the steps to the first accuracy target (the same effects as the sections).
    ``panel`` is the figure's column: the dataset, or for a draw its configured dataset
    (`batchstudy.config.dataset_draws`), so that the draws of one dataset share a column."""
    draw_of = {name: d[DRAW_OF] for name, d in (dataset_draws or {}).items()}
    rows = []
    for c in conditions:
        first = c["targets"][0] if c["targets"] else None
        steps = {x["batch_size"]: x["steps"] for x in first["cells"]} if first else {}
        for cell in c["cells"]:
            rows.append(
                {
                    **c["keys"],
                    "panel": draw_of.get(c["keys"]["dataset"], c["keys"]["dataset"]),
                    "batch_size": cell["batch_size"],
                    "test_accuracy": cell["final_test_accuracy"],
                    "steps_to_target": steps.get(cell["batch_size"]),
                    "target": first["suffix"] if first else None,
                }
            )
    return rows


def conditional_on(pooled: bool) -> str:
    """What the intervals are conditional on; the section across dataset draws is named only
    when the study has one (``pooled``)."""
    return CONDITIONAL_ON + (CONDITIONAL_ON_DRAWS if pooled else "")


def jsonable(obj: Any) -> Any:
    """Plain JSON types: numpy scalars to Python, non-finite floats outside effects to null."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def settings_doc(settings: IntervalSettings, pooled: bool) -> dict[str, Any]:
    """The findings' ``settings``: interval settings, margins, every method's name, what the
    intervals are conditional on (``pooled``: the study pools dataset draws), and why the wall
    time decides no claim without a timing stage (``no_repeats_reason``) and what claim 4 then
    judges (``no_repeats_claim_4``)."""
    return {
        "level": settings.level,
        "n_boot": settings.n_boot,
        "seed": settings.seed,
        "min_n": settings.min_n,
        "large_batch_min": claims.LARGE_BATCH_MIN,
        "margins": {
            "accuracy": claims.ACCURACY_MARGIN,
            "time_ratio": claims.TIME_RATIO_MARGIN,
            "settling_epochs": claims.SETTLING_MARGIN_EPOCHS,
        },
        "methods": {
            "mean": stats.METHOD_T,
            "paired_difference": stats.METHOD_PAIRED_T,
            "median": stats.METHOD_MEDIAN,
            "timing": stats.METHOD_EPOCHS,
            "timing_repeats": claims.METHOD_REPEAT_MEAN,
            "timing_repeat_ratio": claims.METHOD_REPEAT_RATIO,
            "family": stats.FAMILY_BONFERRONI,
            "bounded": stats.BOUNDED_NOTE,
            "final_test_loss": LOSS_NOTE,
            "draws_mean": draws.METHOD_DRAWS,
            "draws_difference": draws.METHOD_PAIRED_DRAWS,
            "pooled_median": claims.METHOD_POOLED,
            "pooled_difference": claims.METHOD_POOLED_DIFFERENCE,
        },
        "conditional_on": conditional_on(pooled),
        "chance_rule": CHANCE_RULE,
        "pooled_coverage": claims.pooled_coverage_words(),
        "below_range_rule": scaling.BELOW_RANGE_RULE,
        "no_repeats_reason": claims.NO_REPEATS_REASON,
        "no_repeats_claim_4": claims.EPOCHS_ONLY,
    }


def chance_levels(splits: pd.DataFrame | None) -> dict[str, dict[str, float]]:
    """Dataset -> {"accuracy": chance accuracy, "loss": chance loss} of a splits table
    (`batchstudy.data.SPLIT_COLUMNS`); empty without one."""
    if splits is None:
        return {}
    return {
        str(d): {"accuracy": float(a), "loss": float(lo)}
        for d, a, lo in zip(
            splits["dataset"], splits["chance_accuracy"], splits["chance_loss"], strict=True
        )
    }


def analyze(
    runs: pd.DataFrame,
    summary: pd.DataFrame,
    settings: IntervalSettings,
    timing_repeats: pd.DataFrame | None = None,
    dataset_draws: dict[str, dict[str, Any]] | None = None,
    own_validation: Collection[str] = (),
    splits: pd.DataFrame | None = None,
) -> dict:
    """The findings document of the whole study (plain JSON types, see `jsonable`).
    ``timing_repeats``: the aggregate ``timing_repeats.tsv`` (no rows without a timing stage).
    ``dataset_draws``: `batchstudy.config.dataset_draws` of the study; its draws are pooled
    (`batchstudy.draws`) into ``pooled_draws`` (empty without draws). ``own_validation``: the
    datasets with a validation split of their own (the others' test split serves as one).
    ``splits``: the datasets' split sizes and chance levels (`batchstudy.data.SPLIT_COLUMNS`),
    kept as ``splits`` (one record per dataset; empty without it) for the report; its chance
    levels judge the targets (`scaling.target_standing`).
    """
    keys = list(CONDITION_KEYS)
    summaries = dict(iter(summary.groupby(keys, sort=True)))
    chance = chance_levels(splits)
    conditions = [
        condition_findings(
            r,
            summaries[k],
            settings,
            timing_repeats,
            own_validation=str(r["dataset"].iloc[0]) in set(own_validation),
            chance=chance.get(str(r["dataset"].iloc[0])),
        )
        for k, r in runs.groupby(keys, sort=True)
    ]
    for i, c in enumerate(conditions):
        c["id"] = f"c{i + 1}"
    pooled = draws.pooled(runs, dataset_draws or {}, settings)
    return jsonable(
        {
            "format_version": FORMAT_VERSION,
            "settings": settings_doc(settings, bool(pooled)),
            "headline": headline(conditions, settings),
            "overview": overview(conditions, dataset_draws),
            "conditions": conditions,
            "pooled_draws": pooled,
            "splits": [] if splits is None else splits.to_dict("records"),
        }
    )
