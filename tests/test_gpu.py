"""GPU slots: real processes compete for fake slots through kernel file locks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from batchstudy.gpu import describe_devices, gpu_slot

SRC = Path(__file__).resolve().parents[1] / "src"
ENV_VARS = (
    "CUDA_VISIBLE_DEVICES",
    "BATCHSTUDY_GPU_IDS",
    "SLURM_JOB_ID",
    "SLURM_JOB_GPUS",
    "SLURM_STEP_GPUS",
    "GPU_DEVICE_ORDINAL",
)

# A worker takes one of N slots, notes when it held it and which device it was shown.
WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    from batchstudy.gpu import gpu_slot
    n_slots, lock_dir, out, hold = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
    with gpu_slot(n_slots, lock_dir, timeout=30, poll=0.01) as slot:
        start = time.time()
        visible = os.environ["CUDA_VISIBLE_DEVICES"]
        open(out + ".held", "w").close()
        time.sleep(hold)
        end = time.time()
    with open(out, "w") as f:
        json.dump({"slot": slot, "visible": visible, "start": start, "end": end}, f)
    """
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


def worker_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    return env


def start_worker(n_slots: int, lock_dir: Path, out: Path, hold: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(n_slots), str(lock_dir), str(out), str(hold)],
        env=worker_env(),
    )


def wait_for(path: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout} s"
        time.sleep(0.01)


def max_concurrency(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    # At equal times an end (-1) sorts before a start (+1): touching is not overlapping.
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def test_six_processes_share_two_slots_without_overlap(tmp_path):
    lock_dir = tmp_path / "locks"
    outs = [tmp_path / f"w{i}.json" for i in range(6)]
    procs = [start_worker(2, lock_dir, out, hold=0.5) for out in outs]
    for p in procs:
        assert p.wait(timeout=60) == 0
    records = [json.loads(out.read_text()) for out in outs]

    assert sorted({r["slot"] for r in records}) == [0, 1], "both slots should be used"
    for r in records:
        assert r["visible"] == str(r["slot"]), "CUDA_VISIBLE_DEVICES must name the slot's GPU"
    for slot in (0, 1):
        held = sorted((r["start"], r["end"]) for r in records if r["slot"] == slot)
        for (_, end), (start, _) in zip(held, held[1:], strict=False):
            assert start >= end, f"two processes held slot {slot} at once: {held}"
    assert max_concurrency([(r["start"], r["end"]) for r in records]) <= 2
    # Six holds of 0.5 s on two slots cannot finish in under 1.5 s unless slots were shared.
    span = max(r["end"] for r in records) - min(r["start"] for r in records)
    assert span >= 1.5 - 0.05
    assert sorted(p.name for p in lock_dir.iterdir()) == ["gpu0.lock", "gpu1.lock"]


def test_sigkilled_holder_frees_its_slot(tmp_path):
    lock_dir, out = tmp_path / "locks", tmp_path / "holder.json"
    holder = start_worker(1, lock_dir, out, hold=120)
    try:
        wait_for(Path(f"{out}.held"))
        # The slot is really held: nobody else gets it while the holder lives.
        with pytest.raises(TimeoutError), gpu_slot(1, lock_dir, timeout=0.3):
            pass
        os.kill(holder.pid, signal.SIGKILL)
        assert holder.wait(timeout=10) == -signal.SIGKILL
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    # No cleanup ran in the killed process; the kernel dropped its lock.
    t0 = time.monotonic()
    with gpu_slot(1, lock_dir, timeout=5) as slot:
        assert slot == 0
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "0"
    assert time.monotonic() - t0 < 2
    assert not out.exists(), "the holder must have died inside its slot"


def test_slot_is_released_on_exit_and_on_error(tmp_path):
    with gpu_slot(1, tmp_path, timeout=0) as slot:
        assert slot == 0
    with pytest.raises(RuntimeError), gpu_slot(1, tmp_path, timeout=0):
        raise RuntimeError("training failed")
    with gpu_slot(1, tmp_path, timeout=0) as slot:
        assert slot == 0


def test_timeout_names_lock_dir_and_slot_count(tmp_path):
    lock_dir = tmp_path / "busy-locks"
    with gpu_slot(2, lock_dir), gpu_slot(2, lock_dir):
        t0 = time.monotonic()
        with pytest.raises(TimeoutError) as err, gpu_slot(2, lock_dir, timeout=0.3, poll=0.02):
            pytest.fail("a third holder must not get one of two slots")
        waited = time.monotonic() - t0
    assert 0.3 <= waited < 3
    msg = str(err.value)
    assert str(lock_dir) in msg
    assert "2 slot(s)" in msg
    assert f"pid {os.getpid()}" in msg  # who holds them, read from the lock files


def test_zero_slots_means_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    lock_dir = tmp_path / "locks"
    with gpu_slot(0, lock_dir) as slot:
        assert slot is None
        assert os.environ["CUDA_VISIBLE_DEVICES"] == ""
        assert describe_devices().startswith("CPU only")
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3", "the old value comes back on exit"
    assert not lock_dir.exists(), "no slot, no lock"


def test_gpu_ids_map_slots_to_devices(tmp_path, monkeypatch):
    monkeypatch.setenv("BATCHSTUDY_GPU_IDS", "2, 3")
    with gpu_slot(2, tmp_path) as first:
        assert (first, os.environ["CUDA_VISIBLE_DEVICES"]) == (0, "2")
        with gpu_slot(2, tmp_path) as second:
            assert (second, os.environ["CUDA_VISIBLE_DEVICES"]) == (1, "3")
            assert describe_devices() == "GPU 3 (CUDA_VISIBLE_DEVICES=3)"
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "2"
    assert "CUDA_VISIBLE_DEVICES" not in os.environ


def test_gpu_ids_in_another_process(tmp_path):
    """The mapping also reaches a real worker through its environment."""
    out = tmp_path / "w.json"
    env = {**worker_env(), "BATCHSTUDY_GPU_IDS": "7"}
    proc = subprocess.run(
        [sys.executable, "-c", WORKER, "1", str(tmp_path / "locks"), str(out), "0"], env=env
    )
    assert proc.returncode == 0
    assert json.loads(out.read_text())["visible"] == "7"


@pytest.mark.parametrize(
    ("ids", "n_slots", "match"),
    [("2", 2, "lists 1 device"), ("2,,3", 2, "empty entry")],
)
def test_bad_gpu_ids(tmp_path, monkeypatch, ids, n_slots, match):
    monkeypatch.setenv("BATCHSTUDY_GPU_IDS", ids)
    with pytest.raises(ValueError, match=match), gpu_slot(n_slots, tmp_path):
        pass


@pytest.mark.parametrize("n_slots", [-1, 1.5, True])
def test_bad_slot_count(tmp_path, n_slots):
    with pytest.raises(ValueError, match="n_slots"), gpu_slot(n_slots, tmp_path):
        pass


def test_slurm_assignment_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv("SLURM_JOB_GPUS", "1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    lock_dir = tmp_path / "locks"
    for n_slots in (0, 2):
        with gpu_slot(n_slots, lock_dir) as slot:
            assert slot == 1
            assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
            assert describe_devices() == (
                "GPU 1 (CUDA_VISIBLE_DEVICES=1 assigned by SLURM) in SLURM job 42"
            )
    assert not lock_dir.exists(), "under SLURM no local slot is taken"


def test_slurm_job_without_gpus_ignores_inherited_devices(tmp_path, monkeypatch):
    """A CUDA_VISIBLE_DEVICES copied from the submit host (sbatch --export=ALL) is not SLURM's."""
    monkeypatch.setenv("SLURM_JOB_ID", "43")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with gpu_slot(0, tmp_path) as slot:
        assert slot is None
        assert os.environ["CUDA_VISIBLE_DEVICES"] == ""
        assert describe_devices() == "CPU only (CUDA_VISIBLE_DEVICES='') in SLURM job 43"


def test_describe_devices_without_tensorflow(monkeypatch):
    assert "unset" in describe_devices()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert describe_devices() == "GPUs 0,1 (CUDA_VISIBLE_DEVICES=0,1)"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert describe_devices().startswith("CPU only")
    code = (
        "import sys; from batchstudy.gpu import describe_devices, gpu_slot; describe_devices(); "
        "assert 'tensorflow' not in sys.modules, 'batchstudy.gpu imported TensorFlow'"
    )
    subprocess.run([sys.executable, "-c", code], env=worker_env(), check=True)


def test_a_held_gpu_that_the_backend_cannot_see_fails(monkeypatch):
    from batchstudy.gpu import GpuUnavailableError, check_gpu_used

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with pytest.raises(GpuUnavailableError, match=r"holds GPU 0 .*tensorflow\[and-cuda\]"):
        check_gpu_used(0, [], allow_cpu=False)
    assert "training on the CPU" in check_gpu_used(0, [], allow_cpu=True)
    assert check_gpu_used(0, ["/physical_device:GPU:0"], allow_cpu=False) == ""
    assert check_gpu_used(None, [], allow_cpu=False) == ""  # no GPU held: the CPU is right
