"""Studies side by side: each study's summary file, the catalogue page of every study present,
and the comparison of two studies' headline numbers.

A study's report rule writes ``report/<study>/study.json`` (`study_summary`) next to its
report; the catalogue rule renders ``report/index.html`` from every such file present
(`batchstudy.report.render_catalogue`), so one study's run never rebuilds another's files.
``python -m batchstudy compare A B`` prints two studies' headline numbers side by side from
their ``results/<study>/analysis/findings.json`` (`compare_table`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import formatting as fmt
from . import scaling
from .config import config_hash
from .findings import bcrit_span, extrapolation_clauses
from .io import FormatError
from .layout import STUDY_REPORT, StudyDirs
from .stats import Effect

SUMMARY_VERSION = 1
#: Headline findings a catalogue entry shows (the study's report has them all).
CATALOGUE_HEADLINES = 2
#: A study's summary keys (every one is written; the catalogue reads every one).
SUMMARY_KEYS = (
    "study",
    "title",
    "date",
    "config_hash",
    "code_version",
    "n_conditions",
    "headline",
    "report",
)
#: Shown for a number one study of a comparison does not have.
ABSENT = "—"


def study_summary(
    cfg: dict[str, Any],
    found: dict[str, Any],
    date: str,
    code: dict[str, Any],
    tuning: str | None = None,
) -> dict[str, Any]:
    """What the catalogue lists of a study. `code` is `provenance.code_version`'s answer;
    ``report`` is the study's report relative to the catalogue's directory; `tuning`, the
    learning-rate tuning's one line (`tuning_findings.tuning_headline`), comes first among the
    headlines where the study has it."""
    lines = [h["text"] for h in found["headline"][:CATALOGUE_HEADLINES]]
    return {
        "format_version": SUMMARY_VERSION,
        "study": cfg["study"],
        "title": cfg["title"],
        "date": date,
        "config_hash": config_hash(cfg),
        "code_version": code,
        "n_conditions": len(found["conditions"]),
        "headline": [tuning, *lines] if tuning else lines,
        "report": f"{cfg['study']}/{STUDY_REPORT}",
    }


def read_summary(path: Path) -> dict[str, Any]:
    """One study's summary; a file missing a key is named in the error (no partial entry)."""
    try:
        summary = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise FormatError(f"study summary {path}: cannot be read ({exc})") from exc
    missing = [k for k in SUMMARY_KEYS if k not in summary]
    if missing:
        raise FormatError(f"study summary {path}: missing {missing}; re-run that study")
    return summary


def catalogue_context(paths: list[Path]) -> dict[str, Any]:
    """The catalogue's studies, sorted by name (one entry per summary file)."""
    studies = sorted((read_summary(p) for p in paths), key=lambda s: s["study"])
    studies = [
        s | {"conditions_text": fmt.counted(s["n_conditions"], "condition")} for s in studies
    ]
    return {
        "studies": studies,
        "n_studies": len(studies),
        "studies_text": fmt.counted(len(studies), "study report"),
    }


# --------------------------------------------------------------------------- comparison


def _effect(d: dict[str, Any] | None, kind: str) -> str:
    return ABSENT if d is None else fmt.interval(Effect.from_dict(d), kind)


def _b_crit(target: dict[str, Any]) -> str:
    """B_crit with its interval, flagged as the study report flags it where the interval
    leaves the fitted batch sizes (`batchstudy.findings.extrapolation_clauses`)."""
    fit = target["critical_batch"]
    if not fit.get("ok"):
        return "not estimable"
    if fit.get("below_range"):
        return f"B_crit {scaling.BELOW_RANGE_WORDS}"
    text = bcrit_span(fit)
    clauses = extrapolation_clauses(fit)
    return f"{text} ({'; '.join(clauses)})" if clauses else text


def headline_numbers(found: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Per condition label, the numbers a comparison shows, formatted: the best batch size
    with how it was chosen (`batchstudy.claims.best_choice`, as the findings word it), final
    test accuracy there and at the largest batch size, B_crit of the first accuracy target
    (flagged where it is extrapolation), and each claim's verdict. An empty study gives an
    empty mapping."""
    out: dict[str, dict[str, str]] = {}
    for c in found["conditions"]:
        cells = {cell["batch_size"]: cell for cell in c["cells"]}
        best, largest = c["accuracy"]["best"], max(cells)
        acc_target = next((t for t in c["targets"] if t["kind"] == "accuracy"), None)
        rows = {
            "best batch size": f"{best} ({c['accuracy']['chosen_on']})",
            "test accuracy at the best B": _effect(cells[best]["final_test_accuracy"], "accuracy"),
            "test accuracy at the largest B": (
                f"{_effect(cells[largest]['final_test_accuracy'], 'accuracy')} (B = {largest})"
            ),
            "B_crit (first accuracy target)": _b_crit(acc_target) if acc_target else ABSENT,
        }
        rows |= {f"claim: {v['claim']}": v["verdict"] for v in c["claims"]}
        out[c["label"]] = rows
    return out


def compare_rows(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(condition, quantity, value in A, value in B) for every condition of either study, in
    A's order then B's; a number one study lacks reads `ABSENT`."""
    na, nb = headline_numbers(a), headline_numbers(b)
    rows = []
    for label in list(na) + [k for k in nb if k not in na]:
        quantities = list(na.get(label, {})) + [
            q for q in nb.get(label, {}) if q not in na.get(label, {})
        ]
        for q in quantities:
            rows.append(
                (label, q, na.get(label, {}).get(q, ABSENT), nb.get(label, {}).get(q, ABSENT))
            )
    return rows


def findings_path(study: str, root: str | Path = ".") -> Path:
    return Path(root, StudyDirs(study).findings)


def read_findings(study: str, root: str | Path = ".") -> dict[str, Any]:
    path = findings_path(study, root)
    if not path.is_file():
        raise FormatError(
            f"study {study!r} has no findings ({path} is missing): run it first, e.g. "
            f"snakemake --configfile config/{study}.yaml"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def compare_table(a: str, b: str, root: str | Path = ".") -> str:
    """The two studies' headline numbers side by side, as aligned plain text."""
    rows = compare_rows(read_findings(a, root), read_findings(b, root))
    header = ("condition", "quantity", a, b)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])
