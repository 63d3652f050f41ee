"""Studies side by side: each under its own name, one catalogue of all, a comparison.

End-to-end through the real snakemake CLI: two tiny studies in one project directory, the
second run after the first, must leave every file of the first byte for byte as it was.
"""

from __future__ import annotations

import subprocess
import sys
from html import unescape
from pathlib import Path

import pytest
from conftest import (
    DEFAULT_STUDY,
    TINY_CONFIG,
    make_project,
    planned_jobs,
    read_json,
    snakemake,
    write_config,
)

from batchstudy import claims, config
from batchstudy.layout import CATALOGUE, StudyDirs

pytestmark = pytest.mark.e2e

FIRST = {**TINY_CONFIG, "epochs": 3}
SECOND = {**FIRST, "title": "second tiny study", "batch_sizes": [16, 32]}
OTHER = StudyDirs("second")  # the stem of config/second.yaml


def _files(project: Path, study: StudyDirs) -> dict[str, bytes]:
    """Every file of one study (results, logs, report), by content."""
    out = {}
    for top in (study.results, study.logs, study.report):
        for p in sorted((project / top).rglob("*")):
            if p.is_file():
                out[str(p.relative_to(project))] = p.read_bytes()
    return out


@pytest.fixture(scope="module")
def two_studies(tmp_path_factory) -> dict:
    project = make_project(tmp_path_factory.mktemp("studies"), FIRST)
    snakemake(project)
    first = _files(project, DEFAULT_STUDY)
    write_config(project / "config" / "second.yaml", SECOND)
    planned = planned_jobs(snakemake(project, "-n", "--configfile", "config/second.yaml").stdout)
    snakemake(project, "--configfile", "config/second.yaml")
    return {"project": project, "first": first, "planned": planned}


def test_the_second_study_trains_its_own_jobs_and_leaves_the_first_untouched(two_studies):
    project = two_studies["project"]
    assert two_studies["planned"]["train"] == len(SECOND["batch_sizes"])
    assert any(k.startswith(f"{DEFAULT_STUDY.train}/") for k in two_studies["first"])
    assert _files(project, DEFAULT_STUDY) == two_studies["first"]
    assert (project / OTHER.train / "blobs/adam/e3/bs32/history.tsv").is_file()
    assert not (project / DEFAULT_STUDY.train / "blobs/adam/e3/bs32").exists()
    # and neither study has anything left to do once both ran
    for args in ((), ("--configfile", "config/second.yaml")):
        proc = snakemake(project, "-n", *args)
        assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout


def test_each_study_has_its_report_and_the_catalogue_lists_both(two_studies):
    project = two_studies["project"]
    for study, cfg in ((DEFAULT_STUDY, FIRST), (OTHER, SECOND)):
        html = (project / study.report_html).read_text()
        assert cfg["title"] in html and "../index.html" in html
        summary = read_json(project / study.summary)
        validated = config.validate({**cfg, "study": study.study})
        assert summary["config_hash"] == config.config_hash(validated)
        assert summary["study"] == study.study and summary["headline"]
    catalogue = unescape((project / CATALOGUE).read_text())  # headlines' apostrophes
    for study, cfg in ((DEFAULT_STUDY, FIRST), (OTHER, SECOND)):
        summary = read_json(project / study.summary)
        assert f'href="{study.study}/index.html"' in catalogue
        assert cfg["title"] in catalogue and summary["config_hash"] in catalogue
        assert summary["headline"][0][:40] in catalogue
        assert summary["code_version"]["describe"] in catalogue


def test_compare_prints_both_studies_side_by_side(two_studies):
    proc = subprocess.run(
        [sys.executable, "-m", "batchstudy", "compare", "default", "second"],
        cwd=two_studies["project"],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["condition", "quantity", "default", "second"]
    # how the best was chosen, in the findings' words: neither study's dataset has its own
    # validation split, so both chose on the test split
    best = [line for line in lines if claims.CHOICE_WORDS[False] in line]
    assert len(best) == 1 and "—" not in best[0] and "(test accuracy)" not in best[0]
    assert best[0].count(claims.CHOICE_WORDS[False]) == 2
    largest = [line for line in lines if "at the largest B" in line]
    assert len(largest) == 1 and "(B = 64)" in largest[0] and "(B = 32)" in largest[0]
    missing = subprocess.run(
        [sys.executable, "-m", "batchstudy", "compare", "default", "nosuch"],
        cwd=two_studies["project"],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "'nosuch' has no findings" in missing.stderr
