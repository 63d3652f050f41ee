"""The code version recorded in provenance: commit and dirty state, or an honest "unknown"."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from batchstudy.provenance import code_version, machine_words

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(root, *args):
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def test_commit_and_dirty_state(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "Snakefile").write_text("rule all:\n")
    _git(tmp_path, "add", "Snakefile")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    clean = code_version(tmp_path)
    assert len(clean["commit"]) == 40 and clean["dirty"] is False
    assert clean["describe"] == clean["commit"][:12]
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "x.tsv").write_text("generated\n")
    assert code_version(tmp_path)["dirty"] is False  # outputs are not code
    (tmp_path / "Snakefile").write_text("rule all:\n    input: []\n")
    dirty = code_version(tmp_path)
    assert dirty["dirty"] is True and dirty["describe"].endswith("(uncommitted changes)")


def test_outside_a_checkout_is_unknown(tmp_path):
    v = code_version(tmp_path)
    assert v["commit"] == "unknown" and v["dirty"] is None
    assert v["describe"].startswith("not a git checkout")


def test_machine_words_have_no_empty_field():
    assert machine_words("Linux", "x86_64", "") == "Linux x86_64"
    assert machine_words("Linux", "x86_64", "  ") == "Linux x86_64"
    assert machine_words("Darwin", "arm64", "arm") == "Darwin arm64, arm"
    assert machine_words("", "", "") == "unknown"
