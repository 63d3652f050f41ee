"""End-to-end on a real SLURM cluster: the workflow with the SLURM profile.

`tests/slurm/cluster.sh` installs Debian's SLURM (slurmctld, slurmd, slurm-client, munge)
when it is missing and starts a throw-away single-node cluster on 127.0.0.1 with two fake
GPUs. The workflow then runs with `profiles/slurm` (its placeholders filled in for this
cluster) on a tiny study, and the test checks that every training job was a SLURM job that
got a GPU from SLURM, that the training jobs went in fewer submissions than there are jobs
(the profile groups them: one GPU per submission, members in series), that the cheap rules
ran locally, and that the report was written. The fake GPUs are invisible to TensorFlow, so
the test profile allows CPU fallback explicitly (without it a job fails at once, see
`test_a_job_given_a_gpu_tensorflow_cannot_see_fails`). The daemons are stopped by their
recorded PIDs whatever happens.

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

from batchstudy.layout import StudyDirs

pytestmark = pytest.mark.e2e

CLUSTER_SH = ROOT / "tests" / "slurm" / "cluster.sh"
N_FAKE_GPUS = 2
TINY_STUDY = {**TINY_CONFIG, "epochs": 3, "batch_sizes": [16, 32, 64]}
#: Training jobs per submission in the test profile: 3 jobs -> 2 submissions.
TEST_GROUP_SIZE = 2
LOCAL_RULES = ("aggregate", "analyze", "plot", "report", "catalogue")
SUBMITTED = re.compile(
    r"Job (?P<job>\S+) has been submitted with SLURM jobid (?P<slurm>\d+) \(log: (?P<log>[^)]*)\)"
)
SHIPPED = ROOT / "profiles" / "slurm" / "config.yaml"
#: The study of tiny.yaml, the config these tests run.
TINY = StudyDirs("tiny")


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
    shipped = yaml.safe_load(SHIPPED.read_text())
    assert shipped["executor"] == "slurm"
    defaults = shipped["default-resources"]
    assert {"slurm_partition", "slurm_account"} <= set(defaults), "placeholders are gone"
    train = shipped["set-resources"]["train"]
    assert train["gpu"] == 1
    assert {"cpus_per_gpu", "mem_mb", "runtime"} <= set(train)
    assert "cpu_fallback" not in train, "the shipped profile must not hide a missing GPU build"

    defaults.update(slurm_partition="debug", slurm_account="batchstudy", mem_mb=500)
    # The test node may have only 2 CPUs: one CPU per job lets two submissions run side by
    # side, one per fake GPU. A real GPU node grants the shipped cpus_per_gpu. The fake GPUs
    # are invisible to TensorFlow: allowing CPU fallback is this test's explicit choice.
    train.update(cpus_per_gpu=1, mem_mb=1000, runtime=15, cpu_fallback=1)
    shipped["set-threads"]["train"] = train["cpus_per_gpu"]
    shipped["group-components"]["train_batch"] = TEST_GROUP_SIZE
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
    shipped = yaml.safe_load(SHIPPED.read_text())
    proc = _run(
        [sys.executable, "-m", "snakemake", "-n", "--profile", "profiles/slurm",
         "--configfile", "tiny.yaml"],
        cwd=project,
        timeout=300,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, _tail(output)
    assert "workflow specific profile profiles/default" in output
    blocks = re.findall(r"^ *rule (\w+):\n(.*?)(?=^ *\[|\Z)", output, flags=re.M | re.S)
    train = [body for rule, body in blocks if rule == "train"]
    assert len(train) == planned_jobs(output)["train"] == len(TINY_STUDY["batch_sizes"])
    want = shipped["set-resources"]["train"]
    for body in train:
        resources = re.search(r"^\s+resources: (.*)$", body, flags=re.M).group(1)
        for key in ("gpu", "cpus_per_gpu", "mem_mb", "runtime"):
            assert f" {key}={want[key]}," in f" {resources},", (key, resources)
        assert "slurm_partition=" in resources and "slurm_account=" in resources
        assert " cpu_fallback=0," in f" {resources},", resources
    # Grouped: all of them in one group job (the shipped group size exceeds this study's).
    assert shipped["groups"] == {"train": "train_batch"}
    assert shipped["group-components"]["train_batch"] >= len(train)
    assert output.count("Group job train_batch") == 1, _tail(output)


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
    n_train = len(TINY_STUDY["batch_sizes"])
    assert planned.get("train", 0) == n_train, planned

    # What each SLURM job ran: the plugin files its log under .../group_<group>/... for a
    # group job and .../rule_<name>/... otherwise.
    submitted = {m["slurm"]: m["log"] for m in SUBMITTED.finditer(output)}
    by_unit: dict[str, list[str]] = {}
    for slurm_id, log in submitted.items():
        unit = re.search(r"/((?:rule|group)_[A-Za-z0-9_]+?)(?:/|$)", log)
        assert unit, f"unexpected SLURM log path {log}"
        by_unit.setdefault(unit.group(1), []).append(slurm_id)
    # A group job is named <group>_<its rules>: group_train_batch_train.
    (train_unit,) = [u for u in by_unit if u.startswith("group_train_batch")] or [None]
    assert train_unit, f"no grouped training submission: {by_unit}"
    train_ids = sorted(by_unit[train_unit], key=int)
    want_submissions = -(-n_train // TEST_GROUP_SIZE)
    print(f"{n_train} training jobs in {len(train_ids)} SLURM submissions: {by_unit}")
    assert len(train_ids) == want_submissions < n_train, (
        f"{n_train} train jobs in groups of {TEST_GROUP_SIZE} should be {want_submissions} "
        f"submissions: {by_unit}"
    )
    assert set(by_unit) == {train_unit}, by_unit
    assert "localrule train" not in output, "a training job ran outside SLURM"
    for rule in LOCAL_RULES:
        if planned.get(rule):
            assert f"localrule {rule}:" in output, f"rule {rule} did not run locally"

    # SLURM's own records: each submission completed on our node holding one GPU.
    jobcomp = (cluster["state"] / "jobcomp.log").read_text()
    for jobid in train_ids:
        job = _scontrol_job(jobid, env)
        assert job["JobState"] == "COMPLETED", job
        assert job["NodeList"] == cluster["node"], job
        assert job.get("TresPerJob", "").endswith("gpu:1"), job
        assert job["Comment"].startswith("rule_train_batch"), job  # the group job's name
        record = [line for line in jobcomp.splitlines() if line.startswith(f"JobId={jobid} ")]
        assert len(record) == 1 and "JobState=COMPLETED" in record[0], (jobid, record)

    # The training process itself saw the GPU SLURM assigned (and batchstudy.gpu kept it).
    metas = sorted((project / TINY.train).rglob("run.json"))
    assert len(metas) == n_train, metas
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
    for log in (project / TINY.logs / "train").rglob("*.log"):
        assert "but TensorFlow sees no GPU; training on the CPU" in log.read_text(), log

    report = project / TINY.report_html
    assert report.is_file() and report.stat().st_size > 0


def test_a_job_given_a_gpu_tensorflow_cannot_see_fails(tmp_path):
    """A SLURM job that was allocated a GPU, on a machine whose TensorFlow (the pinned CPU
    build) sees none, stops before training with advice, unless CPU fallback is allowed."""
    from batchstudy.data import build_dataset, save_dataset
    from batchstudy.spec import TrainSpec

    data = tmp_path / "blobs.npz"
    save_dataset(build_dataset(TINY_CONFIG["datasets"]["blobs"]), data)
    env = {
        **os.environ,
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_GPUS": "0",
        "CUDA_VISIBLE_DEVICES": "0",
    }
    outputs = {name: tmp_path / f"out.{name}" for name in ("history", "evals", "timing", "meta")}
    proc = _run(
        [sys.executable, "-m", "batchstudy", "train", "--data", str(data),
         "--spec", TrainSpec(batch_size=16, epochs=1, seeds=(0,)).to_json(),
         *[arg for name, path in outputs.items() for arg in (f"--{name}", str(path))],
         "--gpu", "1", "--lock-dir", str(tmp_path / "locks")],
        env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, _tail(proc.stdout + proc.stderr)
    assert "TensorFlow sees no GPU" in proc.stderr, proc.stderr
    assert "tensorflow[and-cuda]" in proc.stderr and "train:cpu_fallback=1" in proc.stderr
    assert "assigned by SLURM" in proc.stderr  # it names the GPU it holds
    assert not any(path.exists() for path in outputs.values())


def test_gpu_model_in_the_profile_becomes_the_sbatch_gpu_request():
    """`gpu_model` (commented in the shipped profile) is the slurm plugin's resource: with the
    profile's `gpu: 1` it asks SLURM for one GPU of that model."""
    from types import SimpleNamespace

    from snakemake_executor_plugin_slurm.utils import set_gres_string

    text = SHIPPED.read_text()
    line = re.search(r"^(\s+)# (gpu_model: .*?)\s+#", text, flags=re.M)
    assert line, "the profile no longer shows how to pick a GPU model"
    uncommented = text.replace(line.group(0), f"{line.group(1)}{line.group(2)}  #")
    train = yaml.safe_load(uncommented)["set-resources"]["train"]

    class Resources(dict):
        __getattr__ = dict.__getitem__

    job = SimpleNamespace(resources=Resources(train))
    assert set_gres_string(job).strip() == f"--gpus={train['gpu_model']}:1"
    del train["gpu_model"]
    assert set_gres_string(SimpleNamespace(resources=Resources(train))).strip() == "--gpus=1"


#: Runs snakemake with the slurm executor but, instead of calling sbatch, prints what each
#: submission would ask SLURM for (pinned plugin version; only its entry points are replaced).
_SUBMISSION_PROBE = """
import json, os, sys
import snakemake_executor_plugin_slurm as plugin
from snakemake_executor_plugin_slurm.utils import set_gres_string
from snakemake.cli import main

def report(self, jobs):
    for job in jobs:
        members = [j.wildcards["batch_size"] for j in job.jobs] if job.is_group() else []
        print("SUBMISSION " + json.dumps({"group": job.is_group(), "members": sorted(members),
              "resources": {k: v for k, v in job.resources.items() if not k.startswith("_")},
              "gres": set_gres_string(job).strip()}), flush=True)
    os._exit(0)

plugin.Executor.run_jobs = report
plugin.Executor.__post_init__ = lambda self, *a, **k: None
sys.argv = ["snakemake", *sys.argv[1:]]
main()
"""


def test_grouped_training_jobs_hold_one_gpu_and_run_in_series(tmp_path):
    """What the shipped profile submits, without a cluster: training jobs in groups of
    group-components, each submission one GPU, the largest member's memory and CPUs and the
    sum of the members' runtimes (they run one after another on that GPU)."""
    (tmp_path / "project").mkdir()
    project = make_project(tmp_path / "project")
    study = {**TINY_STUDY, "batch_sizes": [4, 8, 16, 32, 64]}
    (project / "tiny.yaml").write_text(yaml.safe_dump(study, sort_keys=False))
    (project / TINY.data).mkdir(parents=True)
    (project / TINY.data / "blobs.npz").write_bytes(b"")  # training never starts
    shipped = yaml.safe_load(SHIPPED.read_text())
    per_group = 2
    targets = [f"{TINY.train}/blobs/adam/e3/bs{b}/history.tsv" for b in study["batch_sizes"]]
    proc = _run(
        [sys.executable, "-c", _SUBMISSION_PROBE, *targets, "--profile", "profiles/slurm",
         "--configfile", "tiny.yaml", "--allowed-rules", "train", "--slurm-no-account",
         "--group-components", f"train_batch={per_group}", "--jobs", "100"],
        cwd=project, timeout=300,
    )  # fmt: skip
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("SUBMISSION ")]
    assert lines, _tail(proc.stdout + proc.stderr)
    subs = [json.loads(ln.split(" ", 1)[1]) for ln in lines]
    members = sorted(b for s in subs for b in s["members"])
    assert members == sorted(str(b) for b in study["batch_sizes"]), subs
    assert len(subs) == -(-len(study["batch_sizes"]) // per_group) == 3, subs
    train = shipped["set-resources"]["train"]
    for sub in subs:
        assert sub["group"] and sub["gres"] == "--gpus=1", sub
        res = sub["resources"]
        assert res["gpu"] == 1 and res["mem_mb"] == train["mem_mb"], res
        assert res["cpus_per_gpu"] == train["cpus_per_gpu"], res
        assert res["runtime"] == train["runtime"] * len(sub["members"]), res
