"""End-to-end on a real SLURM cluster: the workflow with the SLURM profile.

`tests/slurm/cluster.sh` installs Debian's SLURM (slurmctld, slurmd, slurm-client, munge)
when it is missing and starts a throw-away single-node cluster on 127.0.0.1 with two fake
GPUs. The workflow then runs with `profiles/slurm` (its placeholders filled in for this
cluster) on a tiny study, and the test checks that every training job was a SLURM job that
got a GPU from SLURM, that the cheap rules ran locally, and that the report was written.
The daemons are stopped by their recorded PIDs whatever happens.

The test is skipped, with the reason, only where SLURM cannot be installed (no root, no
apt-get, or apt-get failing); with BATCHSTUDY_REQUIRE_SLURM=1 that is a failure instead.
Takes about a minute once the packages are installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, TINY_CONFIG, make_project, planned_jobs

pytestmark = pytest.mark.e2e

CLUSTER_SH = ROOT / "tests" / "slurm" / "cluster.sh"
N_FAKE_GPUS = 2
TINY_STUDY = {**TINY_CONFIG, "epochs": 3}
LOCAL_RULES = ("aggregate", "analyze", "plot", "report")
SUBMITTED = re.compile(
    r"Job (?P<job>\d+) has been submitted with SLURM jobid (?P<slurm>\d+) \(log: (?P<log>[^)]*)\)"
)


def _tail(text: str, n: int = 3000) -> str:
    return text[-n:]


def _run(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 60, **kw):
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, **kw)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.fixture
def cluster():
    """A running single-node cluster: yields the environment its clients need."""
    if shutil.which("bash") is None:
        pytest.skip("SLURM test needs bash")
    install = _run(["bash", str(CLUSTER_SH), "install"], timeout=900)
    if install.returncode != 0:
        reason = (
            f"SLURM cannot be installed here (cluster.sh install exit {install.returncode}): "
            f"{_tail(install.stderr, 500).strip()}"
        )
        if install.returncode == 3 and not os.environ.get("BATCHSTUDY_REQUIRE_SLURM"):
            pytest.skip(reason)
        pytest.fail(reason)
    if os.geteuid() != 0:
        reason = "SLURM is installed, but slurmd must run as root to start jobs"
        if os.environ.get("BATCHSTUDY_REQUIRE_SLURM"):
            pytest.fail(reason)
        pytest.skip(reason)

    # A short path: munge's socket lives in here and Unix socket paths are limited to 108 bytes.
    state = Path(tempfile.mkdtemp(prefix="bs-slurm-"))
    pids: dict[str, int] = {}
    try:
        start = _run(["bash", str(CLUSTER_SH), "start", str(state), str(N_FAKE_GPUS)], timeout=180)
        for name in ("munged", "slurmctld", "slurmd"):
            pidfile = state / f"{name}.pid"
            if pidfile.exists():
                pids[name] = int(pidfile.read_text().strip())
        assert start.returncode == 0, f"cluster did not start:\n{_tail(start.stderr)}"
        env = {
            **os.environ,
            "SLURM_CONF": str(state / "slurm.conf"),
            "PATH": os.pathsep.join(
                [str(Path(sys.executable).parent), os.environ["PATH"], "/usr/sbin", "/sbin"]
            ),
            "PYTHONUNBUFFERED": "1",
        }
        node = (state / "nodename").read_text().strip()
        yield {"env": env, "state": state, "node": node, "pids": pids}
    finally:
        stop = _run(["bash", str(CLUSTER_SH), "stop", str(state)], timeout=120)
        survivors = {name: pid for name, pid in pids.items() if _alive(pid)}
        if not survivors:
            shutil.rmtree(state, ignore_errors=True)
        assert stop.returncode == 0, f"cluster.sh stop failed:\n{stop.stderr}"
        assert not survivors, f"daemons still running after stop: {survivors}"
        etc_conf = Path("/etc/slurm/slurm.conf")
        assert not (etc_conf.is_symlink() and str(state) in os.readlink(etc_conf)), (
            f"{etc_conf} still points into the stopped cluster"
        )


def _probe_gpu_job(cluster: dict) -> None:
    """The fake GPU is real enough for SLURM: a --gpus=1 job gets CUDA_VISIBLE_DEVICES."""
    env = cluster["env"]
    out = cluster["state"] / "gpu-probe.out"
    sub = _run(
        [
            "sbatch",
            "--parsable",
            "--gpus=1",
            "--mem=100",
            "-o",
            str(out),
            "--wrap",
            "echo CVD=$CUDA_VISIBLE_DEVICES JOB_GPUS=$SLURM_JOB_GPUS",
        ],
        env=env,
    )
    assert sub.returncode == 0, sub.stderr
    jobid = sub.stdout.strip().split(";")[0]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = _run(["squeue", "-h", "-t", "all", "-j", jobid, "-o", "%T"], env=env).stdout
        if state.strip() in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL"):
            break
        time.sleep(0.2)
    assert state.strip() == "COMPLETED", f"probe job {jobid}: {state!r}"
    assert re.fullmatch(r"CVD=\d JOB_GPUS=\d\n", out.read_text()), out.read_text()


def _slurm_test_profile(project: Path) -> Path:
    """profiles/slurm with its placeholders filled in for the test cluster, as a user would."""
    shipped = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    assert shipped["executor"] == "slurm"
    defaults = shipped["default-resources"]
    assert {"slurm_partition", "slurm_account"} <= set(defaults), "placeholders are gone"
    train = shipped["set-resources"]["train"]
    assert train["gpu"] == 1
    assert {"cpus_per_gpu", "mem_mb", "runtime"} <= set(train)

    defaults.update(slurm_partition="debug", slurm_account="batchstudy", mem_mb=500)
    # The test node may have only 2 CPUs: one CPU per job lets two training jobs run side
    # by side, one per fake GPU. A real GPU node grants the shipped cpus_per_gpu.
    train.update(cpus_per_gpu=1, mem_mb=1000, runtime=15)
    shipped["set-threads"]["train"] = train["cpus_per_gpu"]
    profile = project / "profiles" / "slurm-test"
    profile.mkdir(parents=True)
    (profile / "config.yaml").write_text(yaml.safe_dump(shipped, sort_keys=False))
    return profile


def test_slurm_profile_plans_one_gpu_per_training_job(tmp_path):
    """Without a cluster: what the shipped profile asks for, as snakemake resolves it.

    Guards the profile layering: profiles/default/ is loaded too and wins key by key, so a
    `resources: gpu=0` there would silently submit the training jobs without a GPU.
    """
    (tmp_path / "project").mkdir()
    project = make_project(tmp_path / "project")
    (project / "tiny.yaml").write_text(yaml.safe_dump(TINY_STUDY, sort_keys=False))
    shipped = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    proc = _run(
        [sys.executable, "-m", "snakemake", "-n", "--profile", "profiles/slurm",
         "--configfile", "tiny.yaml"],
        cwd=project,
        timeout=300,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, _tail(output)
    assert "workflow specific profile profiles/default" in output
    blocks = re.findall(r"^rule (\w+):\n(.*?)(?=^\S)", output, flags=re.M | re.S)
    train = [body for rule, body in blocks if rule == "train"]
    assert len(train) == planned_jobs(output)["train"] > 0
    want = shipped["set-resources"]["train"]
    for body in train:
        resources = re.search(r"^\s+resources: (.*)$", body, flags=re.M).group(1)
        for key in ("gpu", "cpus_per_gpu", "mem_mb", "runtime"):
            assert f" {key}={want[key]}," in f" {resources},", (key, resources)
        assert "slurm_partition=" in resources and "slurm_account=" in resources


def _scontrol_job(jobid: str, env: dict[str, str]) -> dict[str, str]:
    out = _run(["scontrol", "show", "job", "-o", jobid], env=env)
    assert out.returncode == 0, f"scontrol show job {jobid}: {out.stderr}"
    return dict(field.split("=", 1) for field in out.stdout.split() if "=" in field)


@pytest.mark.slurm
@pytest.mark.slow
def test_workflow_on_slurm(cluster, tmp_path):
    env = cluster["env"]
    _probe_gpu_job(cluster)
    (tmp_path / "project").mkdir()
    project = make_project(tmp_path / "project")
    (project / "tiny.yaml").write_text(yaml.safe_dump(TINY_STUDY, sort_keys=False))
    profile = _slurm_test_profile(project)

    cmd = [
        sys.executable, "-m", "snakemake",
        "--profile", str(profile.relative_to(project)),
        "--configfile", "tiny.yaml",
        # No slurmdbd here: sacct fails, and the plugin would poll it forever.
        "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "2",
        "--slurm-keep-successful-logs",
    ]  # fmt: skip
    t0 = time.monotonic()
    proc = _run(cmd, env=env, cwd=project, timeout=900)
    elapsed = time.monotonic() - t0
    output = proc.stdout + proc.stderr
    (tmp_path / "snakemake.log").write_text(output)
    assert proc.returncode == 0, (
        f"snakemake on SLURM failed ({proc.returncode}) after {elapsed:.0f} s:\n"
        f"{_tail(output, 8000)}\n--- slurmctld.log:\n"
        f"{_tail((cluster['state'] / 'log' / 'slurmctld.log').read_text())}"
    )
    print(f"workflow on SLURM took {elapsed:.0f} s")

    planned = planned_jobs(output)
    assert planned.get("train", 0) == len(TINY_STUDY["batch_sizes"]), planned

    # Which rule each SLURM job ran: the plugin files its log under .../rule_<name>/...
    submitted = {m["slurm"]: m["log"] for m in SUBMITTED.finditer(output)}
    by_rule: dict[str, list[str]] = {}
    for slurm_id, log in submitted.items():
        rule = re.search(r"/rule_([A-Za-z0-9_]+?)(?:/|$)", log)
        assert rule, f"unexpected SLURM log path {log}"
        by_rule.setdefault(rule.group(1), []).append(slurm_id)
    train_ids = sorted(by_rule.get("train", []), key=int)
    assert len(train_ids) == planned["train"], (
        f"{planned['train']} train jobs planned but {len(train_ids)} submitted to SLURM: {by_rule}"
    )
    assert "localrule train" not in output, "a training job ran outside SLURM"
    for rule in LOCAL_RULES:
        assert rule not in by_rule, f"rule {rule} should be a localrule, went to SLURM"
        if planned.get(rule):
            assert f"localrule {rule}:" in output, f"rule {rule} did not run locally"

    # SLURM's own records: each train job completed on our node with one GPU.
    jobcomp = (cluster["state"] / "jobcomp.log").read_text()
    for jobid in train_ids:
        job = _scontrol_job(jobid, env)
        assert job["JobState"] == "COMPLETED", job
        assert job["NodeList"] == cluster["node"], job
        assert job.get("TresPerJob", "").endswith("gpu:1"), job
        assert job["Comment"].startswith("rule_train"), job
        record = [line for line in jobcomp.splitlines() if line.startswith(f"JobId={jobid} ")]
        assert len(record) == 1 and "JobState=COMPLETED" in record[0], (jobid, record)

    # The training process itself saw the GPU SLURM assigned (and batchstudy.gpu kept it).
    metas = sorted((project / "results" / "train").rglob("run.json"))
    assert len(metas) == len(train_ids), metas
    seen_jobs = set()
    for path in metas:
        meta = json.loads(path.read_text())
        device = meta["device_env"]
        m = re.fullmatch(
            r"GPU (\d) \(CUDA_VISIBLE_DEVICES=\d assigned by SLURM\) in SLURM job (\d+)", device
        )
        assert m, (path, device)
        assert int(m.group(1)) < N_FAKE_GPUS and meta["gpu_slot"] == int(m.group(1)), meta
        seen_jobs.add(m.group(2))
    assert seen_jobs == set(train_ids)

    report = project / "report" / "index.html"
    assert report.is_file() and report.stat().st_size > 0
