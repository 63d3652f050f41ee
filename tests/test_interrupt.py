"""Interrupted runs: a run killed with SIGKILL in the middle of a training job leaves no file
that passes for complete, and `snakemake --rerun-incomplete` (README, "Interrupted runs")
re-runs exactly the interrupted job.

To kill at the worst moment deterministically, the training job runs with a tiny
`sitecustomize` on PYTHONPATH that pauses it inside `io.atomic_path`, just before
`timing.tsv` is renamed into place: `history.tsv` is already complete, `timing.tsv` is written
to its temporary name and `run.json` does not exist yet. The test then SIGKILLs the whole run
(snakemake and the job), as a crash, an OOM kill or `kill -9` would.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import DEFAULT_STUDY as D
from conftest import RULES_AFTER_TRAINING, TINY_CONFIG, make_project, snakemake
from test_workflow import planned_jobs

from batchstudy.io import HISTORY_COLUMNS

JOB = f"{D.train}/blobs/adam/e4"
PAUSE_HOOK = textwrap.dedent(
    """
    # Test hook: pause a training job just before it renames one output into place.
    import os
    import time

    _target = os.environ.get("BATCHSTUDY_TEST_PAUSE_BEFORE")
    if _target:
        _replace = os.replace

        def _paused_replace(src, dst, *args, **kwargs):
            if os.fspath(dst).endswith(_target):
                with open(os.environ["BATCHSTUDY_TEST_PAUSED"], "w") as fh:
                    fh.write(str(os.getpid()))
                time.sleep(3600)
            return _replace(src, dst, *args, **kwargs)

        os.replace = _paused_replace
    """
)


def _files(project: Path, job: str) -> dict[str, tuple[bytes, int]]:
    d = project / job
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in d.iterdir() if p.is_file()}


def _kill_run(run: subprocess.Popen, job_pid: int) -> None:
    """SIGKILL the whole run: snakemake's process group first (so it cannot clean up), then
    the training job itself in case it runs in a session of its own."""
    os.killpg(run.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(job_pid, signal.SIGKILL)
    run.wait(timeout=30)
    deadline = time.time() + 30
    while Path(f"/proc/{job_pid}").exists() and time.time() < deadline:
        time.sleep(0.1)


@pytest.mark.e2e
def test_sigkill_mid_write_then_rerun_incomplete(tmp_path):
    (tmp_path / "project").mkdir()
    project = make_project(tmp_path / "project", TINY_CONFIG)
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(PAUSE_HOOK)
    paused = tmp_path / "paused"
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": f"{hook}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "BATCHSTUDY_TEST_PAUSE_BEFORE": f"{JOB}/bs64/timing.tsv",
        "BATCHSTUDY_TEST_PAUSED": str(paused),
    }
    out = open(tmp_path / "killed-run.log", "w")  # noqa: SIM115 - closed below
    run = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--cores", "2"],
        cwd=project,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log = tmp_path / "killed-run.log"
    try:
        # Both training jobs run side by side; bs16 must finish (snakemake records a job as
        # complete before it logs "Finished jobid") while bs64 waits in the middle of its writes.
        deadline = time.time() + 300
        while not (
            paused.exists() and re.search(r"Finished jobid: \d+ \(Rule: train\)", log.read_text())
        ):
            assert run.poll() is None, log.read_text()[-3000:]
            assert time.time() < deadline, "the training jobs never got there"
            time.sleep(0.1)
        time.sleep(0.2)  # the pid is written before the pause starts
        _kill_run(run, int(paused.read_text()))
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=30)
        out.close()
    assert run.returncode == -signal.SIGKILL
    done = _files(project, f"{JOB}/bs16")
    assert sorted(done) == ["evals.tsv", "history.tsv", "run.json", "timing.tsv"]

    # The interrupted job's state: what was renamed is whole, the rest is not there.
    job = project / JOB / "bs64"
    history = job / "history.tsv"
    assert history.is_file() and not (job / "timing.tsv").exists()
    assert not (job / "run.json").exists()
    assert list(job.glob(".timing.tsv.*.part")), "the kill did not land mid-write"
    killed_history = history.read_bytes()
    table = pd.read_csv(history, sep="\t")
    assert list(table.columns) == list(HISTORY_COLUMNS) and len(table) == 2 * 4
    assert not (project / f"{D.aggregate}/history.tsv").exists()

    # Without --rerun-incomplete snakemake refuses to take the job's files as complete.
    refused = snakemake(project, "--workflow-profile", "none", "-n", check=False)
    text = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert "incomplete" in text and f"{JOB}/bs64/history.tsv" in text
    assert "--rerun-incomplete" in text

    # With it (the README's command), exactly the interrupted job and what follows it re-run.
    plan = snakemake(project, "--workflow-profile", "none", "-n", "--rerun-incomplete")
    jobs = planned_jobs(plan.stdout + plan.stderr)
    assert jobs.pop("train") == 1 and jobs.pop("aggregate") == 1, jobs
    assert set(jobs) <= set(RULES_AFTER_TRAINING) - {"aggregate"}, jobs
    planned = plan.stdout + plan.stderr
    assert f"output: {JOB}/bs64/history.tsv" in planned
    assert f"output: {JOB}/bs16/history.tsv" not in planned

    # A SIGKILLed snakemake cannot release its lock on the directory: the next real run
    # says so and names --unlock (README, "Interrupted runs"), and then the run goes through.
    locked = snakemake(project, "--rerun-incomplete", check=False)
    assert locked.returncode != 0
    assert "LockException" in locked.stderr and "--unlock" in locked.stderr
    assert history.read_bytes() == killed_history  # the refused run touched nothing
    snakemake(project, "--unlock")
    snakemake(project, "--rerun-incomplete")
    assert _files(project, f"{JOB}/bs16") == done, "the finished job was touched"
    assert (job / "timing.tsv").is_file() and (job / "run.json").is_file()
    # Op determinism: the re-run reproduces the interrupted job's history byte for byte.
    assert history.read_bytes() == killed_history
    assert (project / D.report_html).is_file()
    log = (project / f"{D.logs}/train/blobs/adam/e4/bs64.log").read_text()
    assert "done:" in log
    assert "Nothing to be done" in (snakemake(project, "-n").stdout)


def test_atomic_write_killed_midway_leaves_the_old_file(tmp_path):
    """`io.atomic_path`: a writer SIGKILLed half-way leaves the previous content in place (or no
    file), never a truncated one."""
    target = tmp_path / "history.tsv"
    target.write_text("old, complete content\n")
    script = textwrap.dedent(
        f"""
        import os, signal
        from batchstudy.io import atomic_path
        with atomic_path({str(target)!r}) as tmp:
            with open(tmp, "w") as fh:
                fh.write("seed\\tepoch\\n0\\t1")
                fh.flush()
                os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert target.read_text() == "old, complete content\n"
    assert len(list(tmp_path.glob(".history.tsv.*.part"))) == 1
    fresh = tmp_path / "fresh.tsv"
    proc = subprocess.run(
        [sys.executable, "-c", script.replace(str(target), str(fresh))],
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL and not fresh.exists()
