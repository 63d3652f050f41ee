"""What tuning the learning rate per batch size changed: the tuning stage's tables, figures and
the report's sentences (``results/analysis/tuning.json``).

For every group with at least two base learning rates (`tuning_study.tuned_groups`) and the
main (validation-accuracy) target:

* the (batch size x lr) grid with the chosen cells (`tuning.lr_grid`), the frontier with each
  batch size's regime and the mean test accuracy at the chosen rate;
* B_crit fitted twice, to the tuned frontier (bootstrap re-selecting the rate per resample)
  and to the reference rate's steps (`batchstudy.config.reference_lr`, fixed: the constant-lr
  result), each with its percentile-bootstrap interval over seeds;
* the seed's claims (`batchstudy.claims`) judged at the reference rate and at the tuned rates;
* the largest batch size against the best one on validation, in test accuracy, at both;
* the measured gradient noise scale of the group's (dataset, optimizer), when configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import claims, scaling, tuning
from . import formatting as fmt
from . import tuning_study as ts
from .config import budget_label, lr_text, reference_lr
from .findings import POOR_FIT_CAVEAT, extrapolation_clauses, job_rows, jsonable
from .metrics import CELL_KEYS
from .stats import Effect, IntervalSettings

#: Files the tuning stage writes into its table directory.
GRID_FILE = "lr_grid.tsv"
FRONTIER_FILE = "frontier.tsv"
BCRIT_FILE = "tuned_bcrit.tsv"
DOC_FILE = "tuning.json"
#: The figures' directory beside the stage's tables (``results/analysis/figures``).
TUNING_PLOT_DIR = "figures"
LR_CHOICES = ("tuned", "reference")
#: Keys of a group's fits and columns of ``tuned_bcrit.tsv``: the lowest and highest B_crit
#: over every placement of the fitted median crossings at either end of their evaluation
#: intervals (`tuning.spacing_bcrit_range`); 0 or inf where such a refit put a parameter at
#: zero, NaN where the range was not computed.
SPACING_LO = "b_crit_spacing_lo"
SPACING_HI = "b_crit_spacing_hi"
SPACING_COLUMNS = (SPACING_LO, SPACING_HI)
#: How the range of `SPACING_COLUMNS` reads after its two ends.
SPACING_WORDS = "over every placement of the crossings within their evaluation intervals"
#: Columns of ``tuned_bcrit.tsv``: one row per group and lr choice.
BCRIT_COLUMNS = (
    *tuning.GROUP_KEYS,
    "lr_choice",
    "reference_lr",
    *tuning.FIT_COLUMNS,
    *SPACING_COLUMNS,
)
SGD_CAVEAT = (
    "With Adam, whose update is the gradient rescaled per parameter by running moments, "
    "B_simple of the raw gradient is only a heuristic for where the critical batch size lies."
)


def group_path(keys: dict[str, Any]) -> str:
    return "/".join(str(keys[k]) for k in tuning.GROUP_KEYS)


def _label(keys: dict[str, Any]) -> str:
    return " · ".join(
        [str(keys["dataset"]), str(keys["optimizer"]), fmt.arm(keys["lr_scaling"])]
        + [budget_label(str(keys["budget"]))]
    )


#: Why no B_crit is fitted on a group's target at chance (`scaling.target_standing`).
AT_CHANCE_REASON = "the target is no better than chance accuracy, so no B_crit is fitted on it"


def _fits(
    group: pd.DataFrame, ref: float, settings: IntervalSettings, standing: str = ""
) -> dict[str, dict]:
    """B_crit of the tuned frontier and of the reference rate's steps, same bootstrap draws;
    none on a target at chance (`standing`, `scaling.target_standing` of the group's accuracy
    target); each fit keeps ``standing`` so its text can flag a target near chance."""
    kw = {"n_boot": settings.n_boot, "seed": settings.seed, "level": settings.level}
    if standing == scaling.STANDING_AT_CHANCE:
        none = scaling.failed_fit(AT_CHANCE_REASON, 0, lo=np.nan, hi=np.nan)
        return {k: none | {"standing": standing} for k in LR_CHOICES}
    at_ref = group.loc[np.isclose(group[tuning.LR_COLUMN], ref)]
    return {
        "tuned": tuning.critical_batch_of_group(group, ts.MAIN_TARGET, **kw)
        | {"standing": standing},
        "reference": tuning.critical_batch_of_group(at_ref, ts.MAIN_TARGET, **kw)
        | {"standing": standing},
    }


def fit_cells(grid: pd.DataFrame, spacing: pd.DataFrame, ref: float) -> dict[str, pd.DataFrame]:
    """The cells each of a group's B_crit is fitted on, one row per batch size, sorted by it:
    ``tuned`` the chosen cells, ``reference`` those at the reference rate `ref`. From `grid`
    (the group's main-target rows of `tuning.lr_grid`) with the ``eval_spacing`` of `spacing`
    (the group's rows of `ts.evaluation_grid`; NaN for a batch size it lacks)."""
    sp = spacing[["batch_size", "eval_spacing"]]
    pick = {
        "tuned": grid["chosen"].astype(bool),
        "reference": np.isclose(grid[tuning.LR_COLUMN].astype(float), ref),
    }
    return {
        k: grid.loc[m]
        .merge(sp, on="batch_size", how="left")
        .sort_values("batch_size")
        .reset_index(drop=True)
        for k, m in pick.items()
    }


#: Where each fit's cells come from, for `left_out_text`.
FIT_WHERE = {"tuned": "at any rate of the grid", "reference": "at this rate"}


def with_resolution(fit: dict[str, Any], cells: pd.DataFrame, where: str) -> dict[str, Any]:
    """`fit` (made on `cells`, see `fit_cells`) with `SPACING_COLUMNS` (NaN where `fit` is not
    ok), ``left_out`` (`left_out_text` of `cells`, `where` naming the rate), ``fitted_sizes``
    (the batch sizes with a point) and ``extrapolated_low``/``_high`` (its interval reaching
    below / above them, `scaling.fitted_extent`, as in the condition sections' fits)."""
    lo = hi = np.nan
    if fit.get("ok"):
        lo, hi = tuning.spacing_bcrit_range(
            cells["batch_size"], cells["median_steps"], cells["eval_spacing"]
        )
    fitted = sorted(int(b) for b in _fitted(cells)["batch_size"])
    return (
        fit
        | {SPACING_LO: lo, SPACING_HI: hi, "left_out": left_out_text(cells, where)}
        | scaling.fitted_extent(fit, fitted)
    )


def _fitted(cells: pd.DataFrame) -> pd.DataFrame:
    """The cells of `cells` that carry a point of the B_crit fit: a finite median."""
    return cells.loc[np.isfinite(cells["median_steps"].astype(float))]


def left_out_text(cells: pd.DataFrame, where: str) -> str:
    """Which batch sizes of `cells` (`fit_cells`: ``batch_size``, ``median_steps``,
    ``n_reached``, ``n_runs``) a B_crit fit leaves out and why, `where` naming the rate ("at
    this rate"): a median "> budget" (half or more of the runs censored) or no runs carries no
    point. Empty when every batch size is fitted."""
    fitted = _fitted(cells)["batch_size"]
    out = cells.drop(index=fitted.index)
    if out.empty:
        return ""
    reasons = {
        f"no run reached the target within the budget {where}": (out["n_runs"] > 0)
        & (out["n_reached"] == 0),
        f"half or more of the runs did not reach the target within the budget {where}": (
            out["n_reached"] > 0
        ),
        "no runs": out["n_runs"] == 0,
    }
    parts = [
        f"{fmt.sizes(sorted(int(b) for b in out.loc[m, 'batch_size']))} left out: {why}"
        for why, m in reasons.items()
        if m.any()
    ]
    on = fmt.sizes(sorted(int(b) for b in fitted))
    return f"fitted on {len(fitted)} batch sizes, {on}; " + "; ".join(parts)


def resolution_range(fit: dict[str, Any]) -> tuple[float, float] | None:
    """(low, high) of a fit's `SPACING_COLUMNS`: where B_crit may lie given only that each
    median crossing is known to one evaluation interval. ``None`` where either is NaN (not
    computed); 0 and inf (a parameter at zero) are ends like any other."""
    lo, hi = float(fit.get(SPACING_LO, np.nan)), float(fit.get(SPACING_HI, np.nan))
    if np.isnan(lo) or np.isnan(hi):
        return None
    return lo, hi


def widened_range(fit: dict[str, Any]) -> tuple[float, float] | None:
    """The union of a fit's bootstrap interval and its `resolution_range`, as (low, high):
    where B_crit may lie given the seeds' noise and the evaluation spacing. Both contain the
    fitted B_crit whenever the bootstrap interval does, so the union is one range; were they
    ever disjoint, (low, high) would also cover the gap between them. ``None`` where the
    interval or the range is missing."""
    r = resolution_range(fit)
    lo, hi = float(fit.get("lo", np.nan)), float(fit.get("hi", np.nan))
    if r is None or np.isnan(lo) or np.isnan(hi):
        return None
    return min(lo, r[0]), max(hi, r[1])


def resolved_move(tuned: dict[str, Any], reference: dict[str, Any]) -> str:
    """Which way B_crit moved with tuning once the evaluation spacing is counted: "up" when
    the tuned fit's `widened_range` lies wholly above the reference fit's, "down" when wholly
    below, "" (no move shown) when the two overlap or either is unknown.

    A target crossed within the first evaluations is known only to one evaluation interval,
    and placing each median crossing at either end of its interval
    (`tuning.spacing_bcrit_range`) can move B_crit by more than its bootstrap interval
    (which covers the seeds' noise only): a move that vanishes inside the unions is not
    shown by the data."""
    t, r = widened_range(tuned), widened_range(reference)
    if t is None or r is None:
        return ""
    if t[0] > r[1]:
        return "up"
    if t[1] < r[0]:
        return "down"
    return ""


def resolution_words(fit: dict[str, Any]) -> str:
    """``5.29–22.5 over every placement of the crossings within their evaluation intervals``
    (`resolution_range`, `SPACING_WORDS`); empty for a fit without `SPACING_COLUMNS`."""
    if SPACING_LO not in fit:
        return ""
    r = resolution_range(fit)
    if r is None:
        return (
            "no range over the placements of the crossings within their evaluation intervals: "
            "an evaluation spacing is unknown, a refit failed or too many batch sizes are fitted"
        )
    if np.isinf(r[1]):
        return f"from {fmt.number(r[0])} up, no upper end, {SPACING_WORDS}"
    return f"{fmt.number(r[0])}–{fmt.number(r[1])} {SPACING_WORDS}"


def _one_arm(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs (or summary rows) of several base rates as one pseudo-condition for the claims."""
    return runs.drop(columns=[tuning.LR_COLUMN, "learning_rate"], errors="ignore")


def _claims(
    runs: pd.DataFrame,
    summary: pd.DataFrame,
    settings: IntervalSettings,
    own_validation: bool,
    repeats: pd.DataFrame | None = None,
) -> list:
    """Claims 1-4 on one set of cells; claim 4 races to the group's validation target; claim 3
    picks its best batch size on validation when the dataset has its own validation split.
    ``repeats``: the timing stage's rows of the group's job key (`findings.job_rows`), which
    judge claims 1 and 4 in wall time at every rate as in the condition sections; ``None``
    without a timing stage."""
    r, s = _one_arm(runs), _one_arm(summary)
    wall = claims.claim_wall_time_not_epochs(r, settings, ts.MAIN_TARGET, repeats)
    wall = replace(
        wall,
        statement="against the smallest batch size, each larger B reaches the group's "
        "validation-accuracy target in less wall time but not in fewer epochs",
    )
    return [
        claims.claim_time_per_epoch(s, settings, repeats),
        claims.claim_small_batches_settle_sooner(r, settings),
        *claims.claim_large_batches_generalize_worse(r, settings, own_validation),
        wall,
    ]


def _cells(summary: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    cells = runs[list(CELL_KEYS)].drop_duplicates()
    return summary.merge(cells, on=list(CELL_KEYS), how="inner")


def _at(v: claims.Verdict, where: str) -> str:
    """A verdict at one choice of rate, with the batch sizes where it holds when only some:
    "holds for part of the range at the reference rate (B = 8)", or, for claim 2 "not
    supported" by loss-rising small-batch runs, `claims.LOSS_RISING_TALLY`."""
    some = f" ({fmt.sizes(sorted(v.holds_for))})" if v.verdict == claims.PARTLY else ""
    if claims.under_definition(v.to_dict()):
        some = f" ({claims.LOSS_RISING_TALLY})"
    return f"{v.verdict} at {where}{some}"


#: What became of a claim supported at the reference rate, at the rates chosen for speed:
#: supported again, not supported, or neither (inconclusive, or holding for part of the range).
#: `FATE_NOT_SHOWN` is also the fate of a claim not supported at the reference rate that is
#: inconclusive at the speed-chosen rates: any definite verdict that turns inconclusive.
FATE_SURVIVES = "survives at the speed-chosen rates"
FATE_FAILS = "does not survive at the speed-chosen rates"
FATE_NOT_SHOWN = "not shown at the speed-chosen rates"
#: A claim refuted at the reference rate that the speed-chosen rates leave open.
FATE_REFUTATION_OPEN = "the refutation is not shown at the speed-chosen rates"
#: Claim 1 where both columns rest on the same timing stage (seconds per epoch do not depend on
#: the learning rate): printed once, `FATE_ONE_TIMING` in the fate's column, its evidence
#: opened by `TIMING_EVIDENCE`.
RATE_INDEPENDENT = "rate-independent (one timing stage)"
FATE_ONE_TIMING = "— (one timing stage)"
TIMING_EVIDENCE = "The timing stage's evidence, the same at both choices of rate: "
#: What the tuned claims do not answer: no rate was chosen for accuracy.
CLAIMS_SCOPE = (
    "The rates were chosen for the fewest steps to the target, not for final accuracy: claims "
    "3a and 3b are judged at those speed-chosen rates; this report does not compare batch "
    "sizes at rates chosen for accuracy (the grid holds the runs for it), so whether large "
    "batches lose test accuracy at a rate tuned for accuracy is not answered here."
)


def _fate_of_supported(tuned: str) -> str:
    """What became of a claim supported at the reference rate, given its `tuned` verdict."""
    if tuned == claims.SUPPORTED:
        return FATE_SURVIVES
    return FATE_FAILS if tuned == claims.NOT_SUPPORTED else FATE_NOT_SHOWN


def _fate(ref: str, tuned: str, same_sizes: bool) -> str:
    """What became of a claim from its `ref` verdict to its `tuned` one (`same_sizes`: the
    batch sizes where it holds agree): `_fate_of_supported` from supported;
    `FATE_REFUTATION_OPEN` from not supported to inconclusive (a refutation the tuned runs
    cannot repeat);
    otherwise "unchanged", or "changed" naming both verdicts where they differ ("changed:
    inconclusive → not supported")."""
    if ref == claims.SUPPORTED:
        return _fate_of_supported(tuned)
    if ref == claims.NOT_SUPPORTED and tuned == claims.INCONCLUSIVE:
        return FATE_REFUTATION_OPEN
    if ref == tuned:
        return "unchanged" if same_sizes else "changed"
    return f"changed: {ref} → {tuned}"


def claims_change(ref: list, tuned: list, timed: bool = False) -> list[dict[str, Any]]:
    """Per claim: the verdict at the reference rate, the tuned one, and what became of it.

    "unchanged" needs the same verdict *and* the same batch sizes where the claim holds
    (`claims.Verdict.holds_for`); whenever those sets differ, the fate names both. A claim
    supported at the reference rate `FATE_SURVIVES` (supported again), `FATE_FAILS` (not
    supported) or is `FATE_NOT_SHOWN` (inconclusive or holding for part of the range) at the
    speed-chosen rates (never "survives tuning": no rate was chosen for accuracy,
    `CLAIMS_SCOPE`); one not supported that turns inconclusive is `FATE_NOT_SHOWN` too
    (`_fate`). With `timed` (the group's timing stage judges claim 1), claim 1 rests on the
    same repeats in both columns: where its two verdicts and evidence agree it is
    ``rate_independent``, summarised once as `RATE_INDEPENDENT`, with `FATE_ONE_TIMING` for
    a fate and its evidence opened by `TIMING_EVIDENCE`."""
    rows = []
    for a, b in zip(ref, tuned, strict=True):
        ref_at, tuned_at = sorted(a.holds_for or []), sorted(b.holds_for or [])
        once = (
            timed
            and a.claim == claims.CLAIM_TIME_PER_EPOCH
            and (a.verdict, a.evidence, ref_at) == (b.verdict, b.evidence, tuned_at)
        )
        if once:
            rows.append(
                {
                    "claim": a.claim,
                    "number": claims.CLAIM_NUMBERS.get(a.claim, ""),
                    "summary": f"{a.verdict}, {RATE_INDEPENDENT}",
                    "reference": a.verdict,
                    "tuned": b.verdict,
                    "fate": FATE_ONE_TIMING,
                    "rate_independent": True,
                    "evidence": TIMING_EVIDENCE + b.evidence,
                }
            )
            continue
        fate = _fate(a.verdict, b.verdict, ref_at == tuned_at)
        if ref_at != tuned_at:
            fate += (
                f" (holds for {fmt.sizes(ref_at)} at the reference rate, for "
                f"{fmt.sizes(tuned_at)} at the speed-chosen rates)"
            )
        rows.append(
            {
                "claim": a.claim,
                "number": claims.CLAIM_NUMBERS.get(a.claim, ""),
                "summary": f"{_at(a, 'the reference rate')}; {_at(b, 'the speed-chosen rates')}",
                "reference": a.verdict,
                "tuned": b.verdict,
                "fate": fate,
                "rate_independent": False,
                "evidence": b.evidence,
            }
        )
    return rows


def claims_header(t: pd.Series, ref: str) -> list[str]:
    """The tuned claims table's columns, each verdict column naming the target its claim 4
    races to (`t`: the group's target row; the same in both columns)."""
    acc = fmt.accuracy(t["target_accuracy"])
    whose = "the config's absolute target" if t["target_kind"] == ts.ABSOLUTE else "the group's"
    return [
        "claim",
        f"reference rate {ref} (claim 4 to validation accuracy ≥ {acc}, {whose})",
        f"speed-chosen rates (claim 4 to validation accuracy ≥ {acc}, the same target)",
        "from the reference rate to the speed-chosen rates",
        "evidence (at the speed-chosen rates unless the row says otherwise)",
    ]


def claims_target_text(t: pd.Series, ref: str) -> str:
    """Which finish line each claim of the tuned table is judged on: claim 4 races to the
    group's accuracy target in both columns (`t`: the group's target row), unlike the
    condition section of the reference rate `ref`, whose claim 4 races to a fraction of that
    condition's own best plateau; claims 1-3b race to no target."""
    acc = fmt.accuracy(t["target_accuracy"])
    return (
        f"Both verdict columns judge claim 4 on the same target, validation accuracy ≥ {acc} "
        "(the group's target above), so a change between them is not a change of finish "
        f"line; the section of the condition at base lr {ref} races its claim 4 to a fraction "
        "of that condition's own best plateau instead, so its verdict there can differ from "
        "this table's reference column. Claims 1–3b race to no target (claim 2 counts a run "
        "that settled below its own condition's first target as not settled, in both columns)."
    )


def _changed_text(fit: dict[str, Any]) -> str:
    if not fit.get("ok"):
        return ""
    share = fmt.percent(fit["lr_changed_share"])
    return f"The chosen rate differed at some batch size in {share} of the resamples."


def bcrit_text(fit: dict[str, Any]) -> str:
    """``4.7 [2.1, 9.8] (bootstrap over 10 seeds, 1990 of 2000 resamples fit)`` or why not."""
    if not fit.get("ok"):
        return f"{scaling.no_fit_label(fit)} ({fit.get('reason') or 'fit failed'})"
    if fit.get("below_range"):
        return (
            f"{scaling.BELOW_RANGE_WORDS}: fitted on {fit['n_points']} batch sizes, "
            f"{scaling.BELOW_RANGE_WHY} (see Definitions)"
        )
    e = Effect(fit["b_crit"], fit["lo"], fit["hi"], int(fit["n_seeds"]), "bootstrap")
    spacing = resolution_words(fit)
    spacing = f"{spacing}; " if spacing else ""
    points = fit.get("left_out") or f"{fit['n_points']} batch sizes"
    said = fit_flags(fit)
    near = f"; {'; '.join(said)}; indicative only" if said else ""
    beyond = extrapolation_clauses(fit) if fit.get("fitted_sizes") else []
    beyond_words = "".join(f"; {c}" for c in beyond)
    return (
        f"{fmt.interval(e, 'size')} ({spacing}{fmt.percent(fit['level'])} percentile "
        f"bootstrap over {fit['n_seeds']} seeds, "
        f"{fit['n_boot_ok']} of {fit['n_boot']} resamples fit, {points}; relative RMSE of the "
        f"fitted steps {fmt.percent(fit.get('rel_rmse'))}{beyond_words}{near})"
    )


def fit_flags(fit: dict[str, Any]) -> list[str]:
    """Why a made fit is indicative only: a poor fit (`poor_fit`), a target near chance."""
    flags = {
        POOR_FIT_CAVEAT: poor_fit(fit),
        "its target is near chance (see the group's target)": fit.get("standing")
        == scaling.STANDING_NEAR_CHANCE,
    }
    return [words for words, on in flags.items() if on]


def frontier_note(fit: dict[str, Any]) -> str:
    """The frontier figure's second title line: what the bootstrap interval leaves out of a
    made fit (the range over the crossings' placements, `resolution_words`) and why it is
    indicative only (`fit_flags`); empty for a fit that was not made or lies below the range."""
    if not fit.get("ok") or fit.get("below_range"):
        return ""
    flags = fit_flags(fit)
    parts = [resolution_words(fit), *flags, "indicative only" if flags else ""]
    words = "; ".join(p for p in parts if p)
    return f"B_crit {words}" if words else ""


def poor_fit(fit: dict[str, Any]) -> bool:
    """A made fit whose relative RMSE exceeds `scaling.POOR_FIT_RMSE`."""
    rmse = fit.get("rel_rmse", np.nan)
    return bool(fit.get("ok")) and np.isfinite(rmse) and rmse > scaling.POOR_FIT_RMSE


def bcrit_target_text(t: pd.Series, ref: str) -> str:
    """Why this section's reference-rate B_crit differs from the one in the condition section
    of the reference rate: the two race to different targets (`t`: the group's target row)."""
    if t["target_kind"] == ts.ABSOLUTE:
        acc, loss = fmt.accuracy(t["target_accuracy"]), fmt.number(t["target_loss"])
        here = (
            f"the config's absolute target (validation accuracy {acc}; its loss target {loss} is "
            "not used for B_crit), the same for every rate"
        )
    else:
        here = "one relative target for the whole group, set by the best cell over all its rates"
    return (
        f"B_crit here is fitted to steps to {here}, while each condition's section fits it to "
        "fractions of that condition's own best mean plateau; so the reference-rate B_crit here "
        f"differs from the one in the section of the condition at base lr {ref}."
    )


#: `move_kind`'s values in the order the catalogue's tuning line gives them, with their words.
MOVE_WORDS = {
    "up": "B_crit moved up with tuning",
    "down": "moved down",
    "none": "no move shown",
    "unknown": "whether it moved is not known",
}


def move_kind(fits: dict[str, dict]) -> str:
    """`moved_text` as one word of `MOVE_WORDS`: "up"/"down" where it states a move, "none"
    where the intervals (or their unions with the crossings' placements) overlap, "unknown"
    where a fit failed, lies below the range or lacks an interval."""
    t, r = fits["tuned"], fits["reference"]
    if not (t.get("ok") and r.get("ok")) or t.get("below_range") or r.get("below_range"):
        return "unknown"
    if not all(np.isfinite([t["lo"], t["hi"], r["lo"], r["hi"]])):
        return "unknown"
    if t["hi"] >= r["lo"] and t["lo"] <= r["hi"]:
        return "none"
    return resolved_move(t, r) or "none"


def tuning_headline(groups: list[dict[str, Any]]) -> str:
    """One line of the study's tuning groups for the catalogue: how many, and where B_crit
    moved (`move_kind`, stored per group as ``move``; ``move_poor``: a move `moved_text` calls
    indicative only, for a poor fit); empty without groups."""
    if not groups:
        return ""
    by: dict[str, list[str]] = {}
    for g in groups:
        by.setdefault(g.get("move", "unknown"), []).append(g["label"])
    parts = [
        f"{words} in {len(by[k])} ({'; '.join(by[k])})"
        for k, words in MOVE_WORDS.items()
        if k in by
    ]
    n = len(groups)
    poor = [g["label"] for g in groups if g.get("move_poor")]
    caveat = f" A poor fit makes the move indicative only in {'; '.join(poor)}." if poor else ""
    return (
        f"The learning rate tuned per batch size in {n} group{'s' if n > 1 else ''} (the "
        f"report's tuning section): {', '.join(parts)}.{caveat}"
    )


def moved_text(fits: dict[str, dict]) -> str:
    """Where B_crit moved: a direction only when the two intervals are disjoint."""
    t, r = fits["tuned"], fits["reference"]
    failed = [name for name, f in (("tuned", t), ("reference-rate", r)) if not f.get("ok")]
    if failed:
        fits = "fits" if len(failed) > 1 else "fit"
        return f"Whether B_crit moved is not known: the {' and '.join(failed)} {fits} failed."
    below = [name for name, f in (("tuned", t), ("reference-rate", r)) if f.get("below_range")]
    if below:
        puts = "fits put" if len(below) > 1 else "fit puts"
        return (
            f"Whether B_crit moved is not known: the {' and '.join(below)} {puts} it "
            f"{scaling.BELOW_RANGE_WORDS}."
        )
    if not all(np.isfinite([t["lo"], t["hi"], r["lo"], r["hi"]])):
        return "B_crit cannot be compared: an interval is missing."
    went = f"B_crit went from {fmt.number(r['b_crit'])} to {fmt.number(t['b_crit'])}"
    if t["hi"] >= r["lo"] and t["lo"] <= r["hi"]:
        return f"{went}; the intervals overlap, so no move is shown at this number of seeds."
    ranges = _ranges_words(t, r)
    way = resolved_move(t, r)
    if not way:
        known = widened_range(t) is not None and widened_range(r) is not None
        return (
            f"{went}; the intervals do not overlap, but no move is shown once the evaluation "
            f"spacing is counted (the union of each bootstrap interval and its range "
            f"{SPACING_WORDS}, a heuristic, not a joint interval: {ranges}"
            f"{'; these overlap' if known else ''})."
        )
    poor = [name for name, f in (("tuned", t), ("reference-rate", r)) if poor_fit(f)]
    caveat = (
        f" The {' and '.join(poor)} {'fits are' if len(poor) > 1 else 'fit is'} poor (relative "
        f"RMSE above {scaling.POOR_FIT_RMSE:.0%}), so the move is indicative only."
        if poor
        else ""
    )
    return (
        f"B_crit moved {way} with tuning, from {fmt.number(r['b_crit'])} to "
        f"{fmt.number(t['b_crit'])} (the intervals do not overlap, nor do the unions of each "
        f"bootstrap interval and its range {SPACING_WORDS}, a heuristic, not a joint interval: "
        f"{ranges}).{caveat}"
    )


def _ranges_words(t: dict[str, Any], r: dict[str, Any]) -> str:
    """Both fits' `widened_range` in words, or why one is unknown."""
    parts = []
    for name, f in (("reference rate", r), ("speed-chosen rates", t)):
        w = widened_range(f)
        span = (
            "unknown (no range over the crossings' placements)"
            if w is None
            else f"{fmt.number(w[0])}–{fmt.number(w[1]) if np.isfinite(w[1]) else 'no upper end'}"
        )
        parts.append(f"{name} {span}")
    return ", ".join(parts)


def large_batch_text(found: dict[str, Any], where: str) -> str:
    best, largest, e = found["best"], found["largest"], found["effect"]
    if best is None:
        return f"{where}: no batch size has a finite validation accuracy."
    if e is None:
        return f"{where}: the largest batch size (B = {largest}) is also the best on validation."
    eff = Effect.from_dict(e)
    tag = fmt.METHOD_TAGS.get(eff.method, eff.method)
    return (
        f"{where}: test accuracy of B = {largest} minus B = {best} (best on validation) is "
        f"{fmt.interval(eff, 'difference')} ({fmt.percent(eff.level)} {tag}-interval, "
        f"n = {eff.n}): {claims.margin_words(eff.verdict)} (one comparison; the "
        "claims below judge the same difference within the family of every batch size against "
        "the best, at a wider level)."
    )


def chance_note(t: pd.Series, chance: float) -> str:
    """Where the group's accuracy target is at or near chance accuracy `chance`
    (`scaling.target_standing`), what that does to B_crit; empty where it is clear of chance
    or chance is unknown."""
    target = float(t["target_accuracy"])
    standing = scaling.target_standing("accuracy", target, chance)
    level = (
        f"chance accuracy {fmt.accuracy(chance)} (the majority class's share of the validation "
        "split)"
    )
    if standing == scaling.STANDING_AT_CHANCE:
        return f" The target is at or below {level}: no B_crit is fitted on it."
    if standing == scaling.STANDING_NEAR_CHANCE:
        share = fmt.percent(scaling.chance_headroom("accuracy", target, chance))
        return (
            f" The target asks for only {share} of the way from {level} to a perfect score, "
            f"less than the {scaling.NEAR_CHANCE_SHARE:.0%} a target needs to be clear of "
            "chance: its B_crit is indicative only."
        )
    return ""


def target_text(t: pd.Series, fraction: float, chance: float = np.nan) -> str:
    """The group's targets, with `chance_note` against the dataset's chance accuracy."""
    return _target_words(t, fraction) + "." + chance_note(t, chance)


def findings_target_text(t: pd.Series, fraction: float) -> str:
    """For the Findings: the target both of a group's B_crit race to, and that the
    per-condition B_crit race to other targets (so the numbers differ)."""
    acc = fmt.accuracy(t["target_accuracy"])
    whose = (
        "the config's absolute target for the dataset"
        if t["target_kind"] == ts.ABSOLUTE
        else f"{fraction:g} × the best mean plateau over all the group's (batch size, lr) cells"
    )
    return (
        f"Both B_crit values are fitted to the steps to validation accuracy ≥ {acc} ({whose}, "
        "one target for every batch size and rate); each condition's B_crit further down is "
        "fitted to a fraction of that condition's own best plateau instead, so those values "
        "differ."
    )


def _target_words(t: pd.Series, fraction: float) -> str:
    acc, loss = fmt.accuracy(t["target_accuracy"]), fmt.number(t["target_loss"])
    if t["target_kind"] == ts.ABSOLUTE:
        return (
            f"absolute target from the config: validation accuracy ≥ {acc}, validation loss "
            f"≤ {loss}, the same for every batch size and learning rate"
        )
    return (
        f"relative target (no datasets.<name>.target configured): validation accuracy ≥ {acc} "
        f"= {fraction:g} × the best mean plateau over this group's (batch size, lr) cells; "
        f"validation loss ≤ {loss} = the lowest median plateau loss over those cells / "
        f"{fraction:g}"
    )


SPLIT_TEXT = {
    True: "Targets and the choice of rate use this dataset's validation split; the test split "
    "only reports.",
    False: "This dataset has no separate validation split: the test split served as validation "
    "for the targets and the choice of rate, so the test accuracies at the chosen rates are "
    "optimistic (configure n_val or val_fraction).",
}


def criterion_text(frontier: pd.DataFrame, target: float) -> str:
    """What choosing for speed did to the final accuracy: the batch sizes whose chosen rate ends
    (mean final validation accuracy over seeds) below the accuracy target it was chosen to
    reach first, each with the best mean any rate of the grid ended at there. Frontier rows
    need ``val_accuracy_mean``, ``best_val_accuracy`` and ``best_val_lr``; NaN accuracies are
    never listed. When no batch size falls below, one sentence says so."""
    front = frontier.sort_values("batch_size")
    below = front.loc[front["val_accuracy_mean"] < target]
    if below.empty:
        return (
            f"At every batch size the chosen rate's mean final validation accuracy is at or "
            f"above the target {fmt.accuracy(target)}."
        )
    parts = []
    for _, f in below.iterrows():
        reached = (
            f"its median steps to target {tuning.steps_label(f['median_steps'], 0)}; "
            if np.isfinite(f["median_steps"])
            else ""
        )
        parts.append(
            f"at B = {int(f['batch_size'])} the chosen rate {lr_text(f[tuning.LR_COLUMN])} "
            f"ends at {fmt.accuracy(f['val_accuracy_mean'])} ({reached}the best mean any rate "
            f"ended at there: {fmt.accuracy(f['best_val_accuracy'])}, lr "
            f"{lr_text(f['best_val_lr'])})"
        )
    return (
        "The rate is chosen for the fewest steps to the first evaluation at the target, not "
        "for the final accuracy, and a run that crosses the target may fall back below it. "
        f"Mean final validation accuracy below the target {fmt.accuracy(target)}: "
        + "; ".join(parts)
        + "."
    )


def edge_text(frontier: pd.DataFrame, rates: list[float], grid: pd.DataFrame | None = None) -> str:
    """The batch sizes whose chosen rate is the grid's smallest or largest (`rates`: the
    group's grid), where the fastest rate may lie outside the grid, and, given the group's
    main-target `grid` rows, those where an edge rate ties the chosen one (the same finite
    median steps: the tie rule chose the other); empty when none is. A choice whose median
    never reached the target (the tie rule's, not a measured optimum) is not flagged; nor is
    anything when the grid has a single rate."""
    if len(rates) < 2:
        return ""
    front = frontier.loc[np.isfinite(frontier["median_steps"].astype(float))]
    edges = [
        (f"the grid's {name} ({lr_text(e)})", e)
        for name, e in zip(("smallest", "largest"), (min(rates), max(rates)), strict=True)
    ]
    at = {
        w: sorted(front.loc[np.isclose(front[tuning.LR_COLUMN], e), "batch_size"]) for w, e in edges
    }
    chosen = [f"{w} at {fmt.sizes(at[w])}" for w, _ in edges if at[w]]
    it = "it" if chosen else "the chosen rate"
    tied = [
        f"{w} ties {it} at {fmt.sizes(ties)}"
        for w, e in edges
        if (ties := _edge_ties(front, grid, e))
    ]
    parts = ([f"the chosen rate is {' and '.join(chosen)}"] if chosen else []) + tied
    if not parts:
        return ""
    text = "; ".join(parts)
    return f"{text[0].upper()}{text[1:]}: there the optimum may lie outside the grid."


def _edge_ties(front: pd.DataFrame, grid: pd.DataFrame | None, edge: float) -> list[int]:
    """Batch sizes of `front` (finite chosen medians) whose chosen rate is not `edge` but
    whose `grid` cell at `edge` has the same median steps."""
    if grid is None:
        return []
    cells = grid.loc[np.isclose(grid[tuning.LR_COLUMN], edge), ["batch_size", "median_steps"]]
    at_edge = dict(zip(cells["batch_size"].astype(int), cells["median_steps"], strict=True))
    return sorted(
        int(b)
        for b, lr, m in zip(
            front["batch_size"], front[tuning.LR_COLUMN], front["median_steps"], strict=True
        )
        if not np.isclose(lr, edge) and at_edge.get(int(b)) == m
    )


def regime_text(fit: dict[str, Any]) -> str:
    """How the frontier table's regime column is defined (`scaling.scaling_regime` with the
    tuned fit's B_crit), with the group's thresholds; says so when there is no fit."""
    rule = (
        f"perfect scaling where B < {scaling.PERFECT_SCALING_BELOW:g} × B_crit, no further gain "
        f"where B > {scaling.NO_FURTHER_GAIN_ABOVE:g} × B_crit, diminishing returns between"
    )
    if not fit.get("ok") or not np.isfinite(fit.get("b_crit", np.nan)):
        return f"Regime: {rule}; without a tuned B_crit fit every batch size reads 'unknown'."
    if fit.get("below_range"):
        return (
            f"Regime: {rule}; the tuned fit puts B_crit {scaling.BELOW_RANGE_WORDS}, so every "
            f"fitted batch size reads '{scaling.REGIME_NO_GAIN}'."
        )
    b = fit["b_crit"]
    lo, hi = scaling.PERFECT_SCALING_BELOW * b, scaling.NO_FURTHER_GAIN_ABOVE * b
    return (
        f"Regime: read off the fitted curve S = S_min + E_min/B, not off each batch size's own "
        f"measured steps: {rule} (here B < {fmt.number(lo)}, B > {fmt.number(hi)}, with the "
        f"tuned B_crit {fmt.number(b)})."
        + (
            " Where a batch size's regime changes within B_crit's range (its bootstrap "
            f"interval joined with its range {SPACING_WORDS}), the table says it is not "
            "resolved and gives the regimes at the range's upper and lower end, in that order."
            if widened_range(fit) is not None
            else ""
        )
    )


def coarse_sizes(frontier: pd.DataFrame) -> list[int]:
    """The batch sizes whose median steps to target lies within the first
    `ts.COARSE_EVALUATIONS` evaluations (frontier rows with ``kth_eval_step``)."""
    coarse = frontier.loc[frontier["median_steps"] <= frontier["kth_eval_step"], "batch_size"]
    return sorted(int(b) for b in coarse)


def selection_text(fit: dict[str, Any], n_rates: int, frontier: pd.DataFrame) -> str:
    """Under the tuned claims table: what its speed-chosen column's intervals leave out. They
    hold each batch size's chosen rate fixed, though the rate was chosen on the same runs
    (`fit`'s ``lr_changed_share``: how often the bootstrap that redoes the choice changed it);
    claim 4 races to the target that chose the rates, each chosen cell picked from `n_rates`
    for the fewest median steps on the same runs (biased low); where the smallest batch
    size's steps lie within the first evaluations (`coarse_sizes`), its ratios carry that
    resolution too."""
    share = (
        f" (redone in each of B_crit's bootstrap resamples, the choice differed at some batch "
        f"size in {fmt.percent(fit['lr_changed_share'])} of them)"
        if fit.get("ok")
        else ""
    )
    smallest = int(frontier["batch_size"].min())
    coarse = (
        f" The smallest batch size's (B = {smallest}) steps lie within its first "
        f"{ts.COARSE_EVALUATIONS} evaluations: claim 4's ratios against it also carry one "
        "evaluation interval's uncertainty, which no interval includes."
        if smallest in coarse_sizes(frontier)
        else ""
    )
    return (
        "Intervals in the evidence column at the speed-chosen rates hold each batch size's "
        "chosen rate fixed: they "
        f"cover the seeds at those rates, not the choice, which was made on these same runs{share}"
        ". Claim 4 races to the very target that chose the rates: each chosen cell was picked "
        f"from {n_rates} rates for the fewest median steps to it on the same runs, so its "
        "median is biased low." + coarse
    )


def resolution_caveat(frontier: pd.DataFrame) -> str:
    """The Findings' one-sentence warning where the tuned B_crit rests on steps known only to
    the evaluation grid (`frontier`: the speed-chosen cells, so the sentence holds at those
    rates only); empty where no batch size is that coarse."""
    coarse = coarse_sizes(frontier)
    if not coarse:
        return ""
    return (
        f"At the speed-chosen rates, steps to target at {fmt.sizes(coarse)} lie within the "
        f"first {ts.COARSE_EVALUATIONS} evaluations, known only to one evaluation interval; "
        "the tuned B_crit's interval does not include that uncertainty, its range "
        f"{SPACING_WORDS} does."
    )


def evaluation_text(frontier: pd.DataFrame, resolution: str, n_train: int) -> str:
    """The evaluation spacing per batch size and the batch sizes whose median steps to target
    lies within the first `ts.COARSE_EVALUATIONS` evaluations (frontier rows need
    ``eval_spacing`` and ``kth_eval_step`` of `ts.evaluation_grid`); there the first crossing
    is known only to within one evaluation interval, at least a third of the median."""
    front = frontier.sort_values("batch_size")
    spacing = ", ".join(
        f"B = {int(f['batch_size'])}: {fmt.number(f['eval_spacing'], 6)}"
        for _, f in front.iterrows()
    )
    what = (
        f"one evaluation per epoch = ceil(training rows / B) optimizer steps, with {n_train} "
        "training rows"
        if resolution == ts.RESOLUTION_EPOCHS
        else "evaluations at the steps of evals.tsv"
    )
    text = f"Resolution of steps to target ({what}); steps between evaluations: {spacing}."
    k = ts.COARSE_EVALUATIONS
    coarse = coarse_sizes(front)
    if len(coarse):
        text += (
            f" At the speed-chosen rates the median steps to target lies within the first {k} "
            f"evaluations at {fmt.sizes(coarse)}: there the first crossing is known only to within "
            f"one evaluation interval, at least 1/{k} of the median itself."
        )
    return text


def tie_text(grid: pd.DataFrame, spacing: Mapping[int, float] | None = None) -> str:
    """The batch sizes where another rate has the same finite median steps as the chosen one
    (`grid`: one group's main-target rows), so the tie rule decided, and, given ``spacing``
    (batch size -> steps between evaluations, `ts.evaluation_grid`), the near-ties (`near_ties`);
    empty when there are none."""
    tied = []
    for b, cells in grid.groupby("batch_size", sort=True):
        chosen = cells.loc[cells["chosen"].astype(bool), "median_steps"].astype(float)
        same = cells["median_steps"].astype(float) == (chosen.iloc[0] if len(chosen) else np.nan)
        if len(chosen) and np.isfinite(chosen.iloc[0]) and same.sum() > 1:
            tied.append(int(b))
    text = (
        f"At {fmt.sizes(tied)} another rate has the same median steps as the chosen one; the "
        "tie rule (more runs reached, then the smaller rate) chose."
        if tied
        else ""
    )
    near = near_ties(grid, spacing or {})
    if near:
        parts = [
            f"B = {n['batch_size']} ({lr_text(n['lr'])}: {tuning.steps_label(n['steps'], 0)} "
            f"steps, runner-up {lr_text(n['runner_lr'])}: "
            f"{tuning.steps_label(n['runner_steps'], 0)}; evaluations "
            f"{fmt.number(n['spacing'])} steps apart)"
            for n in near
        ]
        text += (
            f"{' ' if text else ''}At {_and(parts)} the chosen rate's median beats the "
            "runner-up's by at most one evaluation interval: the choice there rests on a "
            "difference the evaluations barely resolve."
        )
    return text


def _and(items: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


#: Relative float tolerance of "at most one evaluation interval" (`near_ties`).
NEAR_TIE_TOLERANCE = 1e-9


def near_ties(grid: pd.DataFrame, spacing: Mapping[int, float]) -> list[dict[str, Any]]:
    """Per batch size with a finite chosen median and a spacing: the runner-up (the other rate
    with the lowest finite median) when it is slower by more than 0 and at most one
    evaluation interval (exactly one included, within `NEAR_TIE_TOLERANCE`: adjacent
    evaluations); exact ties are `tie_text`'s. Sorted by batch size."""
    out = []
    for b, cells in grid.groupby("batch_size", sort=True):
        steps = cells["median_steps"].astype(float)
        is_chosen = cells["chosen"].astype(bool)
        others = cells.loc[~is_chosen & np.isfinite(steps)]
        gap = spacing.get(int(b), np.nan)
        if not is_chosen.any() or others.empty or not np.isfinite(gap):
            continue
        mine = float(steps[is_chosen].iloc[0])
        runner = others.loc[others["median_steps"].astype(float).idxmin()]
        delta = float(runner["median_steps"]) - mine
        if np.isfinite(mine) and 0 < delta <= gap * (1 + NEAR_TIE_TOLERANCE):
            out.append(
                {
                    "batch_size": int(b),
                    "lr": float(cells.loc[is_chosen, tuning.LR_COLUMN].iloc[0]),
                    "steps": mine,
                    "runner_lr": float(runner[tuning.LR_COLUMN]),
                    "runner_steps": float(runner["median_steps"]),
                    "spacing": float(gap),
                }
            )
    return out


def _chosen_label(cell: pd.Series) -> str:
    """The chosen rate; when its median is above the budget no rate reached the target in
    half the runs, and the choice is only the tie rule's (most runs reached, then smallest)."""
    lr = lr_text(cell[tuning.LR_COLUMN])
    return lr if np.isfinite(cell["median_steps"]) else f"{lr} (no rate's median reached)"


def regime_cell(batch_size: int, regime: str, fit: dict[str, Any]) -> str:
    """A batch size's regime as the frontier table prints it: the regime at the tuned B_crit,
    and, where the regime changes within the fit's `widened_range` (B_crit's bootstrap
    interval and its range over the crossings' placements), the regimes at its two ends:
    "perfect scaling (not resolved: perfect scaling to diminishing returns within B_crit's
    range)"."""
    span = widened_range(fit) if fit.get("ok") and not fit.get("below_range") else None
    if span is None:
        return regime
    high, low = (scaling.scaling_regime(batch_size, c) for c in (span[1], span[0]))
    if high == low == regime:
        return regime
    return f"{regime} (not resolved: {high} to {low} within B_crit's range)"


def frontier_rows(frontier: pd.DataFrame, fit: dict[str, Any] | None = None) -> list[list[str]]:
    """The report's frontier table: B, chosen lr, steps, examples, reached, regime (with
    `regime_cell`'s qualifier given the tuned `fit`), test accuracy."""
    rows = []
    for _, f in frontier.sort_values("batch_size").iterrows():
        test = Effect(
            f["test_accuracy_mean"],
            f["test_accuracy_lo"],
            f["test_accuracy_hi"],
            int(f["n_seeds"]),
            "t-interval over seeds",
        )
        rows.append(
            [
                str(int(f["batch_size"])),
                _chosen_label(f),
                tuning.steps_label(f["median_steps"], f["budget_steps"]),
                tuning.steps_label(f["median_examples"], f["budget_steps"] * f["batch_size"]),
                fmt.share(int(f["n_reached"]), int(f["n_runs"])),
                regime_cell(int(f["batch_size"]), str(f["regime"]), fit or {}),
                fmt.interval(test, "accuracy"),
            ]
        )
    return rows


FRONTIER_HEADER = [
    "batch size",
    "chosen base lr",
    "median steps to target",
    "median examples seen to target",
    "runs reached",
    "regime",
    "final test accuracy at the speed-chosen rate (t, over seeds)",
]
#: What the examples column counts, per resolution of steps to target
#: (`tuning_study.curves_from_history`, `tuning_study.curves_from_evals`); ``{n}``: the
#: group's training rows. Not the frontier figure's B × steps (`FIGURE_TITLES`).
EXAMPLES_HEADER = {
    ts.RESOLUTION_EPOCHS: "median examples seen to target (epochs × {n} training rows)",
    ts.RESOLUTION_STEPS: "median examples seen to target (training rows used, {n} per full "
    "epoch; a partial last batch counts the rows it holds)",
}


def frontier_header(resolution: str, n_train: int) -> list[str]:
    """`FRONTIER_HEADER` with its examples column saying what it counts at `resolution`
    (`EXAMPLES_HEADER`), with the group's `n_train` training rows."""
    i = FRONTIER_HEADER.index("median examples seen to target")
    head = list(FRONTIER_HEADER)
    head[i] = EXAMPLES_HEADER[resolution].format(n=n_train)
    return head


def noise_summary(noise: pd.DataFrame | None) -> dict[str, Any] | None:
    """B_simple at the first and last checkpoint and its median, with the run's settings."""
    if noise is None or noise.empty:
        return None
    b = noise.sort_values("step")["b_simple"].to_numpy(dtype=float)
    finite = b[np.isfinite(b)]
    first = noise.iloc[0]
    return {
        "n_checkpoints": len(noise),
        "first": float(finite[0]) if finite.size else np.nan,
        "last": float(finite[-1]) if finite.size else np.nan,
        "median": float(np.median(finite)) if finite.size else np.nan,
        "batch_size": int(first["batch_size"]),
        "learning_rate": float(first["learning_rate"]),
        "seed": int(first["seed"]),
        "n_seeds": int(noise["seed"].nunique()),
        "max_step": int(noise["step"].max()),
    }


def noise_at_target(noise: pd.DataFrame, median_steps: float) -> dict[str, Any]:
    """B_simple at the checkpoint nearest `median_steps` (the earlier one on a tie), and how
    many checkpoints lie after that step; empty when the median is not finite."""
    if not np.isfinite(median_steps):
        return {}
    table = noise.loc[np.isfinite(noise["b_simple"].astype(float))].sort_values("step")
    if table.empty:
        return {}
    steps = table["step"].to_numpy(dtype=float)
    i = int(np.argmin(np.abs(steps - median_steps)))
    return {
        "target_steps": float(median_steps),
        "step": int(steps[i]),
        "b_simple": float(table["b_simple"].iloc[i]),
        "n_after": int((noise["step"] > median_steps).sum()),
    }


def _comparable(fit: dict[str, Any]) -> str:
    """Why B_simple is not compared with the tuned fit `fit`; empty where it is."""
    if not fit.get("ok") or not fit.get("b_crit"):
        return "Without a tuned B_crit fit, B_simple is not compared with it."
    if fit.get("below_range"):
        return (
            f"The tuned B_crit lies {scaling.BELOW_RANGE_WORDS}, so B_simple is not compared "
            "with it."
        )
    return ""


def noise_vs_bcrit_text(
    n: dict[str, Any],
    at: dict[str, Any],
    fit: dict[str, Any],
    ref: str,
    optimizer: tuple[str, float] = ("sgd", 0.0),
) -> str:
    """The run's median B_simple (`n` from `noise_summary`) against the tuned B_crit of `fit`,
    then B_simple at the checkpoint nearest the median steps to target of the run's cell (its
    batch size at the reference rate `ref`; `at` from `noise_at_target`), then the theory's
    reading of the median's ratio (`theory_text`, `optimizer`: its kind and momentum, poor-fit
    flag from `fit`). Why not, where the two are not compared (`_comparable`)."""
    if why := _comparable(fit):
        return why
    b = fit["b_crit"]
    ratio = n["median"] / b if np.isfinite(n.get("median", np.nan)) else np.nan
    lead = (
        f"The run's median B_simple is {fmt.ratio(ratio)} the tuned B_crit."
        if np.isfinite(ratio)
        else "The run has no finite B_simple."
    )
    cell = f"B = {n['batch_size']} at the reference rate {ref}"
    if not at:
        near = f" The median run of {cell} did not reach the target within the budget."
    else:
        near = (
            f" The median steps to target of {cell} over seeds is "
            f"{tuning.steps_label(at['target_steps'], 0)}; at the checkpoint nearest it (step "
            f"{at['step']}) B_simple is {fmt.number(at['b_simple'])}, "
            f"{fmt.ratio(at['b_simple'] / b)} the tuned B_crit; {at['n_after']} of the "
            f"{n['n_checkpoints']} checkpoints lie after that median."
        )
    kind, momentum = optimizer
    return lead + near + theory_text(ratio, kind, momentum, poor_fit(fit))


#: B_simple and B_crit "agree in order of magnitude" when their ratio lies within this factor
#: either way (`theory_text`).
ORDER_OF_MAGNITUDE = 10.0
#: Optimizer kinds (config ``optimizers.<name>.name``) the noise-scale theory is derived for
#: (without momentum).
THEORY_KINDS = ("sgd",)
#: How the noise-scale theory's expectation reads (McCandlish et al. 2018).
THEORY_WORDS = (
    "the theory expects B_crit ≈ B_noise, which B_simple approximates (exactly when the "
    "loss's curvature is the same in every direction)"
)


def theory_text(ratio: float, kind: str = "sgd", momentum: float = 0.0, poor: bool = False) -> str:
    """The theory's reading (`THEORY_WORDS`) beside the run's median ratio `ratio` (median
    B_simple / tuned B_crit), without a verdict: one seed and one run give no interval, the
    median mixes checkpoints before and after the target, while the theory speaks of the noise
    near it, and the run trains at the reference rate, not the speed-chosen ones. Only for
    plain SGD (`kind` in `THEORY_KINDS`, `momentum` 0) does the theory apply as derived; SGD
    with momentum is named as not the plain SGD of the theory, another optimizer as a
    heuristic reading (`SGD_CAVEAT`). Whether the two agree within
    `ORDER_OF_MAGNITUDE` is stated as a fact of the numbers only. `poor` (the tuned fit's flag)
    repeats that the tuned B_crit is indicative only. Empty when `ratio` is not finite."""
    if not np.isfinite(ratio) or ratio <= 0:
        return ""
    agree = 1 / ORDER_OF_MAGNITUDE <= ratio <= ORDER_OF_MAGNITUDE
    within = "within" if agree else "more than"
    fact = (
        f"the run's median B_simple is {within} an order of magnitude "
        f"{'' if agree else ('above ' if ratio > 1 else 'below ')}"
        f"{'of ' if agree else ''}the tuned B_crit"
    )
    if kind in THEORY_KINDS and not momentum:
        theory = f" For plain SGD {THEORY_WORDS}."
    elif kind in THEORY_KINDS:
        theory = (
            f" For plain SGD {THEORY_WORDS}. This optimizer is SGD with momentum {momentum:g}, "
            "not the plain SGD of the theory."
        )
    else:
        theory = f" For plain SGD {THEORY_WORDS}. {SGD_CAVEAT}"
    flag = (
        f" The tuned fit is poor (relative RMSE above {scaling.POOR_FIT_RMSE:.0%}), so this "
        "comparison is indicative only."
        if poor
        else ""
    )
    return (
        f"{theory} On this one seed {fact}; the median mixes checkpoints before and after the "
        "target, the theory speaks of the noise near it, the run trains at the reference rate "
        "while the tuned B_crit comes from each batch size's speed-chosen rate, and one run "
        f"gives no interval, so this neither confirms nor refutes the theory.{flag}"
    )


def noise_text(n: dict[str, Any] | None, fit: dict[str, Any], compare: str = "") -> str:
    """The noise paragraph: what the reference run is (its batch size, rate, one seed and
    checkpoints) and its B_simple, the tuned B_crit and `compare` (`noise_vs_bcrit_text`, which
    says what the theory is derived for)."""
    if n is None:
        return ""
    seeds = (
        "one seed, so no interval"
        if n.get("n_seeds", 1) == 1
        else (f"{n['n_seeds']} seeds pooled, no interval")
    )
    return (
        (
            f"B_simple is measured along one reference run (B = {n['batch_size']}, "
            f"lr {lr_text(n['learning_rate'])}, seed {n['seed']}: {seeds}; "
            f"{n['n_checkpoints']} checkpoints over {n['max_step']} steps): "
            f"{fmt.number(n['first'])} at the start, {fmt.number(n['last'])} at the end, median "
            f"{fmt.number(n['median'])}; the tuned frontier's B_crit is {bcrit_text(fit)}. "
            f"{compare}"
        )
        .replace("  ", " ")
        .strip()
    )


def evaluation_gaps(curves: pd.DataFrame) -> pd.Series:
    """Per (dataset, batch size): the median distance in optimizer steps between the run's
    consecutive evaluation steps (NaN with a single evaluation step)."""
    return (
        curves.sort_values("step")
        .groupby(["dataset", "batch_size"])["step"]
        .apply(lambda s: float(np.median(np.diff(np.unique(s)))) if s.nunique() > 1 else np.nan)
    )


def resolution_text(resolution: str, curves: pd.DataFrame, runs: pd.DataFrame) -> str:
    """How finely steps to target are resolved, from the evaluation steps themselves, per
    dataset: one dataset's spacing is never read as another's."""
    gaps = evaluation_gaps(curves)
    source = {
        ts.RESOLUTION_STEPS: "at the evaluation steps of evals.tsv",
        ts.RESOLUTION_EPOCHS: "at epoch resolution (one evaluation per epoch)",
    }[resolution]
    parts, varies = [], False
    for dataset, g in gaps.groupby(level="dataset", sort=True):
        lo, hi = g.min(), g.max()
        varies |= bool(lo != hi)
        span = fmt.number(lo) if lo == hi else f"{fmt.number(lo)} to {fmt.number(hi)}"
        parts.append(f"{dataset}: {span}")
    text = f"Steps to target are read {source}; optimizer steps between evaluations, " + "; ".join(
        parts
    )
    if varies:
        text += (
            " (depending on the batch size), so steps to target are known less finely where "
            "evaluations are sparser"
        )
    return text + "."


def _group_doc(
    keys: dict[str, Any],
    group: pd.DataFrame,
    summary: pd.DataFrame,
    frontier: pd.DataFrame,
    extra: dict[str, Any],
    settings: IntervalSettings,
) -> dict[str, Any]:
    """One group's findings for the report (`extra`: its grid, target row, reference rate, the
    two B_crit fits of `_fits`, noise table)."""
    ref, fits = extra["reference_lr"], extra["fits"]
    move = move_kind(fits)
    at_ref = group.loc[np.isclose(group[tuning.LR_COLUMN], ref)]
    chosen = ts.selected_runs(group, extra["grid"])
    verdicts = {
        k: _claims(r, _cells(summary, r), settings, extra["own_validation"], extra["repeats"])
        for k, r in (("reference", at_ref), ("tuned", chosen))
    }
    large = {
        k: ts.large_vs_best(r, settings) for k, r in (("reference", at_ref), ("tuned", chosen))
    }
    rates = sorted(float(r) for r in group[tuning.LR_COLUMN].unique())
    doc = {
        "keys": keys,
        "label": _label(keys),
        "path": group_path(keys),
        "rates": [lr_text(r) for r in rates],
        "reference_lr": lr_text(ref),
        "target": target_text(extra["target"], extra["fraction"], extra["chance_accuracy"]),
        "findings_target": findings_target_text(extra["target"], extra["fraction"]),
        "claims_scope": CLAIMS_SCOPE,
        "split": SPLIT_TEXT[bool(extra["own_validation"])],
        **_frontier_doc(frontier, rates, extra, int(group["n_train"].max()), settings),
        "claims_levels": (
            f"Intervals in the evidence are at the {fmt.percent(settings.level)} level unless "
            "another level is named."
        ),
        "bcrit": {k: bcrit_text(f) for k, f in fits.items()},
        "lr_changed": _changed_text(fits["tuned"]),
        "moved": moved_text(fits),
        "move": move,
        "move_poor": move in ("up", "down") and any(poor_fit(f) for f in fits.values()),
        "bcrit_target": bcrit_target_text(extra["target"], lr_text(ref)),
        "claims": claims_change(
            verdicts["reference"], verdicts["tuned"], extra["repeats"] is not None
        ),
        "claims_header": claims_header(extra["target"], lr_text(ref)),
        "claims_target": claims_target_text(extra["target"], lr_text(ref)),
        "claims_selection": selection_text(fits["tuned"], len(rates), frontier),
        "large": {
            "reference": large_batch_text(large["reference"], f"At the reference rate {ref:g}"),
            "tuned": large_batch_text(large["tuned"], "At the speed-chosen rates"),
        },
        "noise": _noise_doc(extra, fits["tuned"]),
    }
    return doc


def _frontier_doc(
    frontier: pd.DataFrame,
    rates: list[float],
    extra: dict[str, Any],
    n_train: int,
    settings: IntervalSettings,
) -> dict[str, Any]:
    """A group's tuned frontier for the report (`_group_doc`): its table, the grid-edge and tie
    notes, the regimes, the evaluation resolution and the selection criterion."""
    main = extra["grid"].loc[extra["grid"]["target"] == ts.MAIN_TARGET]
    spacing = dict(zip(frontier["batch_size"].astype(int), frontier["eval_spacing"], strict=True))
    return {
        "edge": edge_text(frontier, rates, main),
        "ties": tie_text(main, spacing),
        "regime": regime_text(extra["fits"]["tuned"]),
        "levels": (
            f"The test-accuracy intervals in the table are {fmt.percent(settings.level)} "
            "t-intervals over seeds."
        ),
        "evaluations": evaluation_text(frontier, extra["resolution"], n_train),
        "resolution_caveat": resolution_caveat(frontier),
        "criterion": criterion_text(frontier, float(extra["target"]["target_accuracy"])),
        "frontier_rows": frontier_rows(frontier, extra["fits"]["tuned"]),
        "frontier_header": frontier_header(extra["resolution"], n_train),
    }


def _noise_doc(extra: dict[str, Any], fit: dict[str, Any]) -> str:
    """The noise-scale paragraph of one group, compared with its tuned B_crit."""
    n = noise_summary(extra["noise"])
    if n is None:
        return ""
    grid = extra["grid"]
    cell = grid.loc[
        (grid["target"] == ts.MAIN_TARGET)
        & (grid["batch_size"] == n["batch_size"])
        & np.isclose(grid[tuning.LR_COLUMN], extra["reference_lr"])
    ]
    median = float(cell["median_steps"].iloc[0]) if len(cell) else np.nan
    at = noise_at_target(extra["noise"], median)
    optimizer = (extra["kind"], float(extra["momentum"]))
    compare = noise_vs_bcrit_text(n, at, fit, lr_text(extra["reference_lr"]), optimizer)
    return noise_text(n, fit, compare)


def _fit_rows(keys: dict[str, Any], fits: dict[str, dict], ref: float) -> list[dict[str, Any]]:
    return [
        keys
        | {"lr_choice": choice, "reference_lr": ref}
        | {c: fits[choice].get(c, np.nan) for c in (*tuning.FIT_COLUMNS, *SPACING_COLUMNS)}
        for choice in LR_CHOICES
    ]


def _of_group(frame: pd.DataFrame, keys: dict[str, Any]) -> pd.DataFrame:
    """The rows of ``frame`` whose `tuning.GROUP_KEYS` equal ``keys``."""
    cols = list(keys)
    return frame.loc[(frame[cols] == pd.Series(keys)).all(axis=1)]


def _no_groups(doc: dict[str, Any]) -> dict[str, Any]:
    """`analyze_tuning`'s result for a study without a group of >= 2 base rates: empty tables
    with their columns."""
    return {
        "grid": pd.DataFrame(columns=[*tuning.GRID_COLUMNS, "target"]),
        "frontier": pd.DataFrame(columns=[*tuning.GRID_COLUMNS, "target", "b_crit"]),
        "bcrit": pd.DataFrame(columns=list(BCRIT_COLUMNS)),
        "doc": doc,
    }


def _group_extra(
    gk: dict[str, Any],
    group: pd.DataFrame,
    grid: pd.DataFrame,
    fraction: float,
    settings: IntervalSettings,
    ctx: dict[str, Any],
) -> dict[str, Any]:
    """What one group's document needs besides its runs (`analyze_tuning`'s arguments, in
    ``ctx``, narrowed to the group ``gk``): its grid and target, noise run, timing repeats,
    optimizer kind, reference rate, chance level, and its B_crit fits with the range the
    evaluation spacing leaves them in (`with_resolution`: every placement of the crossings)."""
    dataset, optimizer = str(gk["dataset"]), str(gk["optimizer"])
    extra = {
        "grid": _of_group(grid, gk),
        "target": _of_group(ctx["targets"], gk).iloc[0],
        "fraction": fraction,
        "noise": ctx["noise"].get((dataset, optimizer)),
        "own_validation": dataset not in ctx["shared_validation"],
        "resolution": ctx["resolution"],
        "repeats": job_rows(ctx["repeats"], gk),
        "kind": (ctx["kinds"] or {}).get(optimizer, optimizer),
        "momentum": (ctx["momenta"] or {}).get(optimizer, 0.0),
    }
    extra["reference_lr"] = reference_lr(group[tuning.LR_COLUMN], ctx["references"].get(optimizer))
    level = (ctx["chance"] or {}).get(dataset, {}).get("accuracy", np.nan)
    extra["chance_accuracy"] = float(level)
    standing = scaling.target_standing(
        "accuracy", float(extra["target"]["target_accuracy"]), float(level)
    )
    cells = fit_cells(
        extra["grid"].loc[extra["grid"]["target"] == ts.MAIN_TARGET],
        _of_group(ctx["spacing"], gk),
        extra["reference_lr"],
    )
    extra["fits"] = {
        k: with_resolution(f, cells[k], FIT_WHERE[k])
        for k, f in _fits(group, extra["reference_lr"], settings, standing).items()
    }
    return extra


def analyze_tuning(
    runs: pd.DataFrame,
    summary: pd.DataFrame,
    curves: pd.DataFrame,
    resolution: str,
    *,
    absolute: dict[str, dict[str, float]],
    fraction: float,
    noise: dict[tuple[str, str], pd.DataFrame],
    settings: IntervalSettings,
    references: dict[str, float] | None = None,
    shared_validation: tuple[str, ...] = (),
    chance: Mapping[str, Mapping[str, float]] | None = None,
    repeats: pd.DataFrame | None = None,
    kinds: Mapping[str, str] | None = None,
    momenta: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Tables (``grid``, ``frontier``, ``bcrit``: the files of the stage) and the report's
    document (``doc``: plain JSON types) of every group with >= 2 base learning rates.
    `references`: optimizer -> configured reference rate (else the grid's middle);
    `shared_validation`: datasets whose validation split is their test split; `chance`:
    dataset -> {"accuracy": chance accuracy, ...} (`batchstudy.findings.chance_levels`),
    against which each group's accuracy target is judged (`scaling.target_standing`);
    `repeats`: the aggregate ``timing_repeats.tsv`` (no rows or ``None`` without a timing
    stage), whose rows of a group's (dataset, optimizer, budget) judge its claims 1 and 4;
    `kinds`: optimizer name -> its kind (config ``optimizers.<name>.name``; the name itself
    where missing), and `momenta`: optimizer name -> its momentum (0 where missing), which
    decide how B_simple is read against the theory of plain SGD (`theory_text`)."""
    references = references or {}
    targets = ts.group_targets(runs, absolute, fraction)
    truns = ts.steps_to_targets(ts.tuned_groups(runs), curves, targets)
    doc: dict[str, Any] = {
        "resolution": resolution_text(resolution, curves, runs) if len(truns) else "",
        "groups": [],
    }
    if truns.empty:
        return _no_groups(doc)
    grid = ts.grids(truns)
    main = grid.loc[grid["target"] == ts.MAIN_TARGET]
    tested = ts.test_accuracy_at(ts.selected_runs(truns, grid), settings)
    spacing = ts.evaluation_grid(curves)
    for more in (ts.best_final_val(truns), spacing):
        tested = tested.merge(more, on=[*tuning.GROUP_KEYS, "batch_size"], how="left")
    keys = list(tuning.GROUP_KEYS)
    fronts, fit_rows = [], []
    for k, group in truns.groupby(keys, sort=True, dropna=False):
        gk = dict(zip(keys, k, strict=True))
        shared = {"targets": targets, "spacing": spacing, "noise": noise, "repeats": repeats}
        context = {"references": references, "shared_validation": shared_validation}
        context |= {"chance": chance, "kinds": kinds, "resolution": resolution}
        context |= {"momenta": momenta}
        extra = _group_extra(gk, group, grid, fraction, settings, shared | context)
        fits = extra["fits"]
        front = tuning.add_regimes(
            tuning.tuned_frontier(_of_group(main, gk)), pd.DataFrame([gk | fits["tuned"]])
        ).merge(tested, on=[*keys, "batch_size"], how="left")
        doc["groups"].append(_group_doc(gk, group, summary, front, extra, settings))
        fronts.append(front)
        fit_rows += _fit_rows(gk, fits, extra["reference_lr"])
    return {
        "grid": grid,
        "frontier": pd.concat(fronts, ignore_index=True),
        "bcrit": pd.DataFrame(fit_rows, columns=list(BCRIT_COLUMNS)),
        "doc": jsonable(doc),
    }


FIGURE_TITLES = {
    "lr_grid": "Median steps to the validation-accuracy target over the (batch size × lr) grid; "
    "chosen lr outlined, grey: > budget",
    "frontier": "Steps and B × steps (the fit's examples E = B·S, partial batches counted as "
    "full: above the table's examples seen where B does not divide the training rows) to "
    "target vs batch size at the tuned lr (log–log), perfect-scaling line and fitted curve",
    "noise_scale": "Measured gradient noise scale B_simple over the reference run, beside the "
    "tuned B_crit (theory for SGD)",
}


def _rows_of(table: pd.DataFrame, keys: dict[str, Any]) -> pd.DataFrame:
    return table.loc[(table[list(keys)] == pd.Series(keys)).all(axis=1)]


def draw(
    result: dict[str, Any],
    noise: dict[tuple[str, str], pd.DataFrame],
    plot_dir: Path,
    dpi: int,
) -> None:
    """Every group's figures under ``plot_dir/<group path>/``; their file names (relative to
    ``plot_dir``) and titles go into the group's ``figures`` in the document."""
    from . import tuning_plots

    plot_dir.mkdir(parents=True, exist_ok=True)  # the stage's output, even without groups
    for group in result["doc"]["groups"]:
        keys, out = group["keys"], plot_dir / group["path"]
        grid = _rows_of(result["grid"], keys)
        fit = _rows_of(result["bcrit"], keys | {"lr_choice": "tuned"}).iloc[0].to_dict()
        title = group["label"]
        tuning_plots.plot_lr_grid(
            grid.loc[grid["target"] == ts.MAIN_TARGET], out / "lr_grid.png", title=title, dpi=dpi
        )
        front = _rows_of(result["frontier"], keys)
        tuning_plots.plot_frontier(
            front, out / "frontier.png", fit=fit, title=title, note=frontier_note(fit), dpi=dpi
        )
        names = ["lr_grid", "frontier"]
        table = noise.get((str(keys["dataset"]), str(keys["optimizer"])))
        if table is not None and not table.empty:
            tuning_plots.plot_noise_scale(table, out / "noise_scale.png", fit=fit, dpi=dpi)
            names.append("noise_scale")
        group["figures"] = [
            {"name": n, "file": f"{group['path']}/{n}.png", "title": FIGURE_TITLES[n]}
            for n in names
        ]
