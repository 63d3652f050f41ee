"""The rules' conda environment (snakemake --sdm conda) works by construction.

Conda channels are unreachable here, so the environment file's content is what is checked:
it pins exactly requirements.txt and nothing in it depends on the directory conda runs from.
That the rules find the package from the workflow's own directory is checked by running one.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import DEFAULT_STUDY as D
from conftest import ROOT, TINY_CONFIG, make_project

STUDY_ENV = ROOT / "workflow" / "envs" / "study.yaml"


def _pins(lines: list[str]) -> dict[str, str]:
    """name -> version of `name==version` lines (names compared as pip does)."""
    out = {}
    for line in lines:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", line.split("#")[0].strip())
        if m:
            out[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
    return out


def test_rule_environment_pins_exactly_the_requirements():
    env = yaml.safe_load(STUDY_ENV.read_text())
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    requirements = (ROOT / "requirements.txt").read_text().splitlines()
    want = _pins(requirements)
    assert len(want) == len([r for r in requirements if r.strip() and not r.startswith("#")])
    assert _pins(pip) == want, "workflow/envs/study.yaml and requirements.txt differ"
    assert len(pip) == len(want), [p for p in pip if "==" not in p]


def test_rule_environment_depends_on_no_working_directory():
    env = yaml.safe_load(STUDY_ENV.read_text())
    entries = [d for d in env["dependencies"] if isinstance(d, str)]
    entries += [p for d in env["dependencies"] if isinstance(d, dict) for p in d["pip"]]
    for entry in entries:
        assert not entry.startswith(("-r", "-e", "-c", ".", "/", "file:")), entry
    top = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"] and "python=3.11" in top["dependencies"]


def test_every_rule_uses_the_environment():
    for smk in (ROOT / "workflow" / "rules").glob("*.smk"):
        text = smk.read_text()
        shell_rules = len(re.findall(r"^    shell:", text, flags=re.M))
        assert text.count('conda:\n        "../envs/study.yaml"') == shell_rules, smk.name


@pytest.mark.e2e
def test_rules_run_the_workflows_own_package_from_any_directory(tmp_path):
    """Without PYTHONPATH, from another working directory: the workflow's planning and its
    rules import batchstudy from the workflow's src/ (as inside a conda environment, which
    does not install the package)."""
    (tmp_path / "project").mkdir()
    project = make_project(tmp_path / "project", TINY_CONFIG)
    marker = tmp_path / "imported-from.txt"
    init = project / "src" / "batchstudy" / "__init__.py"
    init.write_text(
        init.read_text()
        + "\nimport os as _os\n"
        + "if _os.environ.get('BS_MARKER'):\n"
        + "    with open(_os.environ['BS_MARKER'], 'a') as _fh:\n"
        + "        _fh.write(__file__ + '\\n')\n"
    )
    workdir = tmp_path / "elsewhere"
    (workdir / "config").mkdir(parents=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(TINY_CONFIG))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(BS_MARKER=str(marker), PATH=f"{Path(sys.executable).parent}:{env['PATH']}")
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "-s", str(project / "Snakefile"),
         "--directory", str(workdir), f"{D.data}/blobs.npz"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (workdir / D.results / "data" / "blobs.npz").is_file()
    imported = marker.read_text().splitlines()
    assert len(imported) >= 2, imported  # the workflow's planning, then the rule's process
    assert set(imported) == {str(init)}, imported
