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

from collections.abc import Collection
from typing import Any

import numpy as np
import pandas as pd

from . import arms, claims, draws, scaling, stats
from . import formatting as fmt
from .config import DRAW_OF, Condition
from .metrics import CONDITION_KEYS, EVENT_UNITS, MEAN_METRICS, target_suffixes
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


def _job_rows(repeats: pd.DataFrame | None, keys: dict[str, Any]) -> pd.DataFrame | None:
    """The timing stage's rows of a condition's job key (dataset, optimizer, budget)."""
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


def _targets(runs: pd.DataFrame, summary: pd.DataFrame, settings: IntervalSettings) -> list:
    """Per target: its value, the cells' times to it and B_crit; none where `targets_unset`."""
    if targets_unset(runs):
        return []
    out = []
    for sfx in target_suffixes(summary):
        for kind, tau_col, steps_col in (
            ("accuracy", f"target_{sfx}", f"steps_to_target_{sfx}"),
            ("loss", f"loss_target_{sfx}", f"steps_to_loss_{sfx}"),
        ):
            out.append(
                {
                    "suffix": sfx,
                    "kind": kind,
                    "value": float(summary[tau_col].iloc[0]),
                    "cells": target_cells(summary, sfx, kind, settings),
                    "critical_batch": _critical_batch(runs, steps_col, settings),
                }
            )
    return out


def condition_findings(
    runs: pd.DataFrame,
    summary: pd.DataFrame,
    settings: IntervalSettings,
    repeats: pd.DataFrame | None = None,
    own_validation: bool = False,
) -> dict[str, Any]:
    """Findings of one condition: cells, accuracy family, targets with B_crit, claims, text.
    ``repeats``: the aggregate ``timing_repeats.tsv`` (any job keys; this condition's are
    picked), or ``None``/empty when the study has no timing stage. ``own_validation``: the
    dataset has a validation split of its own, on which the best batch size is chosen
    (`batchstudy.claims.best_batch_size`)."""
    keys = {k: runs[k].iloc[0] for k in CONDITION_KEYS}
    summary = summary.sort_values("batch_size")
    best, family = claims.accuracy_vs_best(runs, settings, own_validation=own_validation)
    targets = _targets(runs, summary, settings)
    job_repeats = _job_rows(repeats, keys)
    verdicts = claims.evaluate_claims(
        runs, summary, settings, repeats=job_repeats, own_validation=own_validation
    )
    found = {
        "keys": {k: (float(v) if k == "base_lr" else str(v)) for k, v in keys.items()},
        "label": Condition.from_keys(keys).label,
        "batch_sizes": claims.batch_sizes(runs),
        "n_seeds": int(runs["seed"].nunique()),
        "lr_note": _lr_note(str(keys["lr_scaling"])),
        "cells": [
            cell_effects(r, settings)
            | {"unsettled_causes": claims.unsettled_causes(runs, int(r["batch_size"]))[1]}
            for _, r in summary.iterrows()
        ],
        "accuracy": {
            "best": best,
            "chosen_on": claims.best_choice(own_validation),
            "margin": claims.ACCURACY_MARGIN,
            "family": claims.family_words(len(claims.batch_sizes(runs)), best, own_validation),
            "comparisons": {str(b): e.to_dict() for b, e in family.items()},
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


def accuracy_text(found: dict[str, Any]) -> str:
    acc = found["accuracy"]
    if acc["best"] is None:
        return "Every run diverged: no final test accuracy to compare."
    cells = {c["batch_size"]: c for c in found["cells"]}
    best = Effect.from_dict(cells[acc["best"]]["final_test_accuracy"])
    groups: dict[str, list[str]] = {}
    for b, d in acc["comparisons"].items():
        e = Effect.from_dict(d)
        groups.setdefault(e.verdict, []).append(f"B = {b} ({fmt.interval(e, 'difference')})")
    picked = (
        " (the highest of the batch sizes' means on this split, so it reads high; this interval "
        "is not adjusted for that choice)"
        if claims.CHOICE_WORDS[False] in acc["chosen_on"]
        else ""
    )
    text = (
        f"Best batch size: B = {acc['best']} ({acc['chosen_on']}); its mean final test "
        f"accuracy {fmt.effect(best, 'accuracy')}{picked}. Against it, in final test accuracy "
        f"({acc['family']}, margin ±{fmt.number(acc['margin'])}): "
    )
    words = {
        DIFFERENT: "different",
        EQUIVALENT: "equivalent",
        stats.INCONCLUSIVE: "inconclusive",
    }
    text += "; ".join(f"{words[v]}: {', '.join(items)}" for v, items in groups.items()) + "."
    return text


def _fit_text(t: dict[str, Any]) -> str:
    fit = t["critical_batch"]
    name = f"{t['suffix']}% {'accuracy' if t['kind'] == 'accuracy' else 'loss'} target"
    not_reached = fit.get("not_reached") or []
    tail = (
        f" Not reached (median above the budget): {fmt.sizes(not_reached)}." if not_reached else ""
    )
    if not fit.get("ok"):
        return f"B_crit for the {name}: not estimated ({fit.get('reason')}).{tail}"
    lo, hi = fit.get("lo"), fit.get("hi")
    span = (
        f"[{fmt.number(lo)}, {fmt.number(hi)}]"
        if lo is not None and hi is not None
        else "(no bootstrap interval)"
    )
    fitted = fit["fitted_sizes"]
    text = (
        f"B_crit for the {name} ≈ {fmt.number(fit['b_crit'])} {span} (percentile bootstrap "
        f"over seeds, {fit['n_boot_ok']} of {fit['n_boot']} refits usable), fitted on "
        f"B = {fitted[0]}–{fitted[-1]} ({len(fitted)} batch sizes), relative RMSE of the fit "
        f"{fmt.percent(fit['rel_rmse'])}{_fit_caveats(fit, len(fitted))}."
    )
    return text + _extrapolation_text(fit) + tail


#: A B_crit fit whose relative RMSE exceeds this is flagged as poor (`_fit_caveats`).
POOR_FIT_RMSE = 0.10


def _fit_caveats(fit: dict[str, Any], n_points: int) -> str:
    """What limits a B_crit fit beyond its interval: two parameters on three points leave one
    residual degree of freedom (the RMSE checks little); an interval over the usable refits
    only, when fewer than 95% of the resamples gave one, has unknown coverage."""
    out = []
    if n_points <= 3:
        out.append(f"{n_points} points for 2 parameters: indicative only")
    elif fit.get("rel_rmse", 0.0) > POOR_FIT_RMSE:
        out.append(
            "the fit is poor: its interval covers the seeds' noise, not the curve's misfit; "
            "indicative only"
        )
    if fit["n_boot_ok"] < 0.95 * fit["n_boot"]:
        share = fmt.percent(fit["n_boot_ok"] / fit["n_boot"])
        out.append(
            f"the interval covers only the {share} of resamples that could be refitted, so its "
            "coverage is unknown, not 95%"
        )
    return "".join(f"; {c}" for c in out)


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
            "extrapolation, not a critical batch size the tested batch sizes show"
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


def _others_extrapolate(k: int) -> str:
    return "1 other extrapolates" if k == 1 else f"{k} others extrapolate"


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
    """A B_crit fit the Findings count: estimated, and its interval not wholly outside the
    fitted batch sizes (`fit_outside`)."""
    return bool(fit.get("ok")) and fit_outside(fit) is None


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
        + ". "
        + _fit_text(t)
    )


def _settling_notes(c: dict[str, Any]) -> str:
    """A cell's runs that never settled, by cause (``unsettled_causes``), and those that
    settled below the target."""
    notes = [c["unsettled_causes"]] if c.get("unsettled_causes") else []
    if c.get("n_settled_below_target", 0):
        notes.append(f"{c['n_settled_below_target']} settled below the target")
    return f" ({'; '.join(notes)})" if notes else ""


def settling_text(found: dict[str, Any]) -> str:
    """The Settling paragraph: per batch size the median settling point in epochs and steps,
    and how many runs collapsed to chance, were budget-limited (entered their band only in the
    last plateau-plus-smoothing epochs) or settled at a plateau below the condition's first
    accuracy target (counted as settled all the same)."""
    parts = []
    for c in found["cells"]:
        ep = Effect.from_dict(c["epochs_to_settle"])
        st = Effect.from_dict(c["steps_to_settle"])
        parts.append(
            f"B = {c['batch_size']}: "
            + (
                f"{fmt.interval(ep, 'count', 'never settled')} epochs = "
                f"{fmt.interval(st, 'count', 'never settled')} steps"
                if np.isfinite(ep.estimate)
                else fmt.interval(ep, "count", "never settled")
            )
            + _settling_notes(c)
        )
    below = (
        "; runs settled below the target settled at a plateau under the first accuracy target"
        if any(c.get("n_settled_below_target", 0) for c in found["cells"])
        else ""
    )
    return (
        "Median settling point (runs that never settled within the budget rank above every "
        f"settled run: {claims.BEYOND_BUDGET}; causes as defined under Settling point{below}): "
        + "; ".join(parts)
        + "."
    )


def condition_text(found: dict[str, Any]) -> list[dict[str, str]]:
    """The condition's sentences, in the order the report prints them."""
    out = [{"topic": "accuracy", "text": accuracy_text(found)}]
    out.append({"topic": "settling", "text": settling_text(found)})
    if found.get("targets_unset"):
        why = found["targets_unset"]
        out.append({"topic": "targets", "text": f"{why[0].upper()}{why[1:]}."})
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


def headline(conditions: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The few findings that matter, in plain words, each with the anchor of its evidence:
    the large-batch accuracy verdicts (and, with several learning-rate arms or budgets, the
    largest batch size's in each: `batchstudy.arms`), the critical batch size, and where claim
    4 holds. Conditions whose best plateau is at chance (no targets, `targets_unset`) are left
    out of those counts and named apart (`_chance_headlines`)."""
    learnt = [c for c in conditions if not c.get("targets_unset")]
    return [
        *_chance_headlines(conditions),
        *_accuracy_headlines(learnt),
        *(
            {"text": text, "anchor": f"{_anchor(learnt[i], i)}-claims"}
            for i, text in arms.arm_findings(learnt)
        ),
        *_critical_batch_headlines(learnt),
        *_wall_time_headlines(learnt),
    ]


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
                    f"±{fmt.number(claims.ACCURACY_MARGIN)}), or it is the best itself and no "
                    "other batch size is practically higher: "
                    + "; ".join(c["label"] for c in same)
                    + "."
                ),
                "anchor": "overview",
            }
        )
    if unclear := [c for _, c in by_verdict.get(claims.INCONCLUSIVE, [])]:
        out.append(
            {
                "text": (
                    f"In {len(unclear)} {of_n} these seeds cannot tell whether the largest "
                    "batch size's test accuracy differs from the best one's by more than the "
                    "margin (inconclusive: the interval straddles the margin, too few runs "
                    "trained, or the largest batch size is the best by its mean but a practically "
                    "higher batch size is not ruled out): "
                    + "; ".join(c["label"] for c in unclear)
                    + "."
                ),
                "anchor": "overview",
            }
        )
    if out and len(conditions) > 1:
        out[0]["text"] += (
            f" Each condition's intervals are simultaneous within it, not across the "
            f"{len(conditions)} conditions."
        )
    return out


def _lower_headline(lower: list[tuple[int, dict[str, Any]]], of_n: str) -> dict[str, str]:
    """How many conditions lose accuracy at the largest batch size, the largest drop, and the
    gap comparisons behind them (`gap_counts`)."""

    def drop(c: dict[str, Any]) -> dict[str, Any]:
        return _claim(c, claims.CLAIM_LOWER_ACCURACY)["effects"]["test_accuracy"]

    worst_i, worst = min(lower, key=lambda ic: drop(ic[1])["estimate"])
    e = Effect.from_dict(drop(worst))
    return {
        "text": (
            f"The largest batch size ends with practically lower test accuracy than the "
            f"best batch size in {len(lower)} {of_n}; the largest drop is "
            f"{fmt.effect(e, 'difference')} ({worst['label']}). "
            + gap_counts([c for _, c in lower])
        ),
        "anchor": f"{_anchor(worst, worst_i)}-claims",
    }


def gap_counts(conditions: list[dict[str, Any]]) -> str:
    """How the train-test gap compares (largest B minus best, `claims.gap_outcome`) in these
    conditions, each outcome counted apart: shown larger, shown not to grow by more than the
    margin, shown smaller, inconclusive. An outcome with no condition is left out, except
    "larger", which is always counted."""
    outcomes = [
        claims.gap_outcome(Effect.from_dict(_claim(c, claims.CLAIM_GAP)["effects"]["gap"]))
        for c in conditions
    ]
    n = {o: outcomes.count(o) for o in (claims.GAP_GROWS, claims.GAP_SAME, claims.GAP_SHRINKS)}
    n[claims.GAP_UNKNOWN] = len(outcomes) - sum(n.values())
    margin = fmt.number(claims.ACCURACY_MARGIN)
    parts = [
        f"in {n[claims.GAP_GROWS]} of them a train-test gap larger by more than {margin} is shown"
    ]
    words = {
        claims.GAP_SAME: (
            f"the gap is shown not to grow by more than {margin} (the upper end of its "
            f"interval is below +{margin})"
        ),
        claims.GAP_SHRINKS: f"the gap is shown to shrink by more than {margin}",
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
    outside = sum(
        fit_outside(t["critical_batch"]) is not None for c in conditions for t in c["targets"][:1]
    )
    beyond = (
        f"; in {outside} more the whole interval lies outside the tested range, which is not "
        "counted as usable"
        if outside
        else ""
    )
    if not fits and conditions and conditions[0]["targets"]:
        t = conditions[0]["targets"][0]
        fit = t["critical_batch"]
        why = (
            fit.get("reason")
            if not fit.get("ok")
            else (f"its interval lies entirely {fit_outside(fit)} the tested range")
        )
        out.append(
            {
                "text": (
                    f"No condition gives a usable critical-batch-size fit for the "
                    f"{t['suffix']}% accuracy target{beyond}; in {conditions[0]['label']}: "
                    f"{why}."
                ),
                "anchor": f"{_anchor(conditions[0], 0)}-targets",
            }
        )
    if fits:
        central = [f for f in fits if central_fit(f[2]["critical_batch"])]
        i, c, t = (central or fits)[0]
        # the shown fit's own extrapolation is in its text; count the other extrapolating ones
        n_other = len(fits) - len(central) - (0 if central else 1)
        values = [f["critical_batch"]["b_crit"] for _, _, f in central]
        spread = (
            f" Across the {len(central)} usable fits whose interval stays inside the fitted batch "
            f"sizes, B_crit ranges from {fmt.number(min(values))} to {fmt.number(max(values))}"
            + (f"; {_others_extrapolate(n_other)}." if n_other else ".")
            if len(central) > 1
            else (
                f" Of the usable fits, {_others_extrapolate(n_other)} (its estimate or interval "
                "reaches outside the fitted batch sizes)."
                if n_other
                else ""
            )
        )
        out.append(
            {
                "text": _fit_text(t)
                + f" ({c['label']}; usable fits: {len(fits)} {of_n}{beyond}.){spread} "
                + FIXED_RATE_NOTE,
                "anchor": f"{_anchor(c, i)}-targets",
            }
        )
    return out


#: What a per-condition B_crit describes: every condition trains one learning rate (or one
#: rule) for all its batch sizes, as McCandlish et al. and Shallue et al. did not.
FIXED_RATE_NOTE = (
    "Each condition uses one learning rate (or one scaling rule) for every batch size, not a "
    "rate tuned per batch size, so each B_crit describes that optimizer at that rate."
)


def _wall_time_headlines(conditions: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Where claim 4 holds in the conditions timed by the timing stage's repeats, and how many
    conditions get no wall-time verdict for want of them (`claims.NO_REPEATS_REASON`);
    nothing without conditions."""
    if not conditions:
        return []
    timed = [c for c in conditions if c.get("timing_repeats")]
    untimed = len(conditions) - len(timed)
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
                ": "
                + "; ".join(
                    f"{c['label']}: {fmt.sizes(_claim(c, claims.CLAIM_WALL_TIME)['holds_for'])}"
                    for c in partly
                )
                if partly
                else ""
            )
            + f". {_wall_clock(timed)} "
        )
    if untimed:
        text += (
            f"In {untimed} of {fmt.counted(len(conditions), 'condition')} wall time decides "
            f"neither claim 1 nor claim 4: {claims.NO_REPEATS_REASON}."
        )
    first = timed[0] if timed else conditions[0]
    return [{"text": text.strip(), "anchor": f"{_anchor(first, conditions.index(first))}-claims"}]


def _wall_clock(timed: list[dict[str, Any]]) -> str:
    """Where claim 4's wall times come from in the conditions timed by repeats, in words."""
    k = [c["timing_repeats"]["repeats"] for c in timed]
    return (
        f"Seconds per epoch come from {min(k)}"
        + (f"–{max(k)}" if max(k) != min(k) else "")
        + " interleaved timing repeats per batch size."
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
            "draws_mean": draws.METHOD_DRAWS,
            "draws_difference": draws.METHOD_PAIRED_DRAWS,
        },
        "conditional_on": conditional_on(pooled),
        "no_repeats_reason": claims.NO_REPEATS_REASON,
        "no_repeats_claim_4": claims.EPOCHS_ONLY,
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
    kept as ``splits`` (one record per dataset; empty without it) for the report.
    """
    keys = list(CONDITION_KEYS)
    summaries = dict(iter(summary.groupby(keys, sort=True)))
    conditions = [
        condition_findings(
            r,
            summaries[k],
            settings,
            timing_repeats,
            own_validation=str(r["dataset"].iloc[0]) in set(own_validation),
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
            "headline": headline(conditions),
            "overview": overview(conditions, dataset_draws),
            "conditions": conditions,
            "pooled_draws": pooled,
            "splits": [] if splits is None else splits.to_dict("records"),
        }
    )
