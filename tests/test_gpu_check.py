"""benchmarks/gpu_check.sh, as far as a machine without a GPU can check it: its syntax, that
it fails fast with a clear message, and its CPU dry mode (GPU_CHECK_CPU=1), which runs the
same steps on the CPU with the JAX backend."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT

SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


def _run(tmp: Path, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "GPU_CHECK_OUT": str(tmp / "out"), "GPU_CHECK_WORK": str(tmp / "w")}
    full["PYTHON"] = sys.executable
    full["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{full['PATH']}"
    full.update(env)
    return subprocess.run(
        ["bash", str(SCRIPT)], capture_output=True, text=True, env=full, timeout=900
    )


@pytest.mark.parametrize("script", ["gpu_check.sh", "gpu_wheels.sh"])
def test_scripts_parse(script):
    proc = subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / script)], capture_output=True)
    assert proc.returncode == 0, proc.stderr


def test_gpu_mode_fails_fast_without_nvidia_smi(tmp_path):
    """On a machine without NVIDIA's tools the GPU mode stops at once, saying why."""
    proc = _run(tmp_path, PATH=f"{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin")
    if proc.returncode == 0 or "nvidia-smi not found" not in proc.stdout:
        pytest.skip("nvidia-smi is on this machine's PATH")
    assert proc.returncode == 1
    assert "FAILED: nvidia-smi not found" in (tmp_path / "out" / "summary.txt").read_text()
    assert not (tmp_path / "w").exists() or not any((tmp_path / "w").glob("study-*"))


def test_an_unknown_backend_fails_fast(tmp_path):
    proc = _run(tmp_path, GPU_CHECK_CPU="1", GPU_CHECK_BACKENDS="mxnet")
    assert proc.returncode == 1 and "unknown backend 'mxnet'" in proc.stdout


def test_missing_packages_without_wheels_fail_fast(tmp_path):
    """Where Keras is missing and no wheels were carried, the message says what to do."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "keras.py").write_text("raise ImportError('keras is blocked in this test')\n")
    pythonpath = f"{blocker}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    wheels = ROOT / ".whl"
    if wheels.is_dir() and any(wheels.glob("*.whl")):
        pytest.skip(".whl/ holds wheels here, so the script would install them")
    proc = _run(tmp_path, GPU_CHECK_CPU="1", PYTHONPATH=pythonpath)
    assert proc.returncode == 1
    assert "missing keras and no wheels in .whl/: run 'make gpu-wheels'" in proc.stdout


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")
@pytest.mark.slow
@pytest.mark.e2e
def test_cpu_dry_mode_runs_the_study_on_jax(tmp_path):
    # A busy CI machine needs more than the GPU machine's 150 s per study.
    proc = _run(tmp_path, GPU_CHECK_CPU="1", GPU_CHECK_EPOCHS="3", GPU_CHECK_STUDY_TIMEOUT="600")
    out = tmp_path / "out"
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    summary = (out / "summary.txt").read_text()
    assert "all studies done" in summary and "weights on cpu" in summary
    assert "CPU dry run" in (out / "nvidia-smi.txt").read_text()
    jobs = pd.read_csv(out / "jobs.tsv", sep="\t")
    assert list(jobs.columns[:3]) == ["study", "backend", "where"]
    assert set(jobs["backend"]) == {"jax"} and sorted(jobs["batch_size"]) == [32, 256]
    assert (jobs["epochs"] == 3).all()
    timing = pd.read_csv(out / "timing.tsv", sep="\t")
    assert len(timing) == 2 * 2 * 3  # batch sizes x seeds x epochs
    assert "seconds per model-epoch" in summary
    assert (out / "runs.tar.gz").stat().st_size > 0
