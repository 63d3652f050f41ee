"""Keras 3 backends for the Keras engine: the config option, the device pinned before the
backend is imported, no TensorFlow on the JAX/PyTorch path, a tiny study end to end on JAX,
and agreement with the TensorFlow backend.

Every training run here happens in a subprocess: Keras picks its backend once per process.
JAX comes from requirements-test.txt (a CPU build); PyTorch is not a test requirement, so
its tests run where it is installed and are skipped elsewhere.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import DEFAULT_STUDY as D
from conftest import ROOT, TINY_CONFIG, make_project, read_json, snakemake

from batchstudy import config
from batchstudy.data import build_dataset, save_dataset
from batchstudy.spec import BACKENDS, TrainSpec
from batchstudy.training import choose_engine

sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_backends  # noqa: E402

NEEDS_JAX = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None,
    reason="JAX is not installed: pip install -r requirements-test.txt (make setup does)",
)
NEEDS_TORCH = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="PyTorch is not installed: it is not a test requirement (a large download); "
    "these tests run where it is, e.g. on the GPU machine (benchmarks/gpu_check.sh)",
)


def _env() -> dict[str, str]:
    src = str(ROOT / "src")
    return {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


# ---- config -------------------------------------------------------------------------


def test_backend_defaults_to_tensorflow_and_reaches_the_job_spec():
    cfg = config.validate({})
    assert cfg["backend"] == "tensorflow"
    cfg = config.validate({"engine": "keras", "backend": "jax"})
    spec = config.train_spec(cfg, config.job_keys(cfg)[0], 16)
    assert spec.backend == "jax" and TrainSpec.from_json(spec.to_json()) == spec


def test_schema_lists_the_backends_of_the_spec():
    assert tuple(config.load_schema()["properties"]["backend"]["enum"]) == BACKENDS


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_fused_engine_with_another_backend_is_a_config_error(backend):
    with pytest.raises(config.ConfigError, match=rf"backend = '{backend}' needs engine = 'keras'"):
        config.validate({"engine": "fused", "backend": backend})
    spec = TrainSpec(batch_size=8, epochs=1, seeds=(0,), engine="fused", backend=backend)
    with pytest.raises(ValueError, match="fused engine runs on TensorFlow only"):
        choose_engine(spec)


def test_unknown_backend_is_refused():
    with pytest.raises(config.ConfigError, match=r"backend = 'mxnet': must be one of"):
        config.validate({"engine": "keras", "backend": "mxnet"})


# ---- one job in a subprocess: device order, no TensorFlow ------------------------------

#: Runs `batchstudy train` with TensorFlow made unimportable and records CUDA_VISIBLE_DEVICES
#: at the moment each backend module is first imported.
_WATCHED_CLI = """
import json, os, sys
seen = {}
class Watch:
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top == "tensorflow":
            raise ImportError("tensorflow is blocked in this test")
        if top in ("jax", "torch", "keras") and top not in seen:
            seen[top] = os.environ.get("CUDA_VISIBLE_DEVICES")
        return None
sys.meta_path.insert(0, Watch())
from batchstudy.cli import main
rc = main(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.partition(".")[0] == "tensorflow")
print("WATCH=" + json.dumps({"seen": seen, "tensorflow_modules": loaded}))
sys.exit(rc)
"""


def _train_job(tmp: Path, backend: str, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    data = tmp / "d.npz"
    if not data.exists():
        spec = {"kind": "blobs", "n_samples": 120, "centers": 3, "n_features": 2}
        save_dataset(build_dataset({**spec, "random_state": 2, "n_train": 60}), data)
    spec = TrainSpec(batch_size=16, epochs=2, seeds=(0,), engine="keras", backend=backend)
    cmd = [sys.executable, "-c", _WATCHED_CLI, "train", "--data", str(data)]
    cmd += ["--spec", spec.to_json(), "--lock-dir", str(tmp / "locks"), *args]
    for name in ("history", "timing", "meta", "evals"):
        cmd += [f"--{name}", str(tmp / f"{name}.out")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=600)
    watch = [line for line in proc.stdout.splitlines() if line.startswith("WATCH=")]
    return proc, json.loads(watch[-1][len("WATCH=") :]) if watch else {}


def _check_job_on_held_gpu_slot(tmp: Path, backend: str, name: str) -> None:
    """A job holding GPU slot 0 (on this GPU-less machine: CPU fallback allowed) imports its
    backend only after CUDA_VISIBLE_DEVICES points at the slot's device, never TensorFlow,
    and logs and records the device its weights were on."""
    proc, watch = _train_job(tmp, backend, "--gpu", "1", "--gpu-slots", "1")
    assert proc.returncode == 2, proc.stdout + proc.stderr  # held GPU, backend sees none
    assert f"{name} sees no GPU" in proc.stderr and "nvidia-smi" in proc.stderr
    assert not (tmp / "history.out").exists()

    proc, watch = _train_job(
        tmp, backend, "--gpu", "1", "--gpu-slots", "1", "--allow-cpu-fallback", "1"
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert watch["seen"] == {backend: "0", "keras": "0"}  # pinned before either import
    assert watch["tensorflow_modules"] == []
    assert f"{name} sees no GPU; training on the CPU" in proc.stdout
    assert "Keras 3" in proc.stdout and f"on backend {backend}: weights on" in proc.stdout
    meta = read_json(tmp / "meta.out")
    assert (meta["backend"], meta["keras_backend"], meta["spec"]["backend"]) == (backend,) * 3
    assert meta["gpu_slot"] == 0 and meta["gpus_visible_to_backend"] == []
    assert "cpu" in meta["device_used"].lower()
    assert len(pd.read_csv(tmp / "history.out", sep="\t")) == 2


@NEEDS_JAX
@pytest.mark.slow
def test_jax_job_pins_its_gpu_before_jax_and_never_imports_tensorflow(tmp_path):
    _check_job_on_held_gpu_slot(tmp_path, "jax", "JAX")


@NEEDS_TORCH
@pytest.mark.slow
def test_torch_job_pins_its_gpu_before_torch_and_never_imports_tensorflow(tmp_path):
    _check_job_on_held_gpu_slot(tmp_path, "torch", "PyTorch")


@pytest.mark.parametrize(
    ("backend", "name", "hint"),
    [("jax", "JAX", "jax[cuda12]"), ("torch", "PyTorch", "CUDA build of PyTorch")],
)
def test_a_held_gpu_names_the_backend_that_cannot_see_it(monkeypatch, backend, name, hint):
    from batchstudy.gpu import GpuUnavailableError, check_gpu_used

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with pytest.raises(GpuUnavailableError, match=rf"{name} sees no GPU") as err:
        check_gpu_used(0, [], False, backend)
    assert hint in str(err.value) and "tensorflow" not in str(err.value).lower()
    assert f"{name} sees no GPU; training on the CPU" in check_gpu_used(0, [], True, backend)


@NEEDS_JAX
@pytest.mark.slow
def test_custom_model_check_runs_on_jax_without_tensorflow(tmp_path):
    """The check_model stage builds the user's model on the config's backend, on the CPU."""
    data = tmp_path / "d.npz"
    save_dataset(build_dataset({"kind": "blobs", "n_samples": 60, "n_train": 30}), data)
    out = tmp_path / "check.json"
    cmd = [sys.executable, "-c", _WATCHED_CLI, "check-model", "--backend", "jax"]
    cmd += ["--custom", "config/models/dropout_mlp.py:build", "--data", str(data)]
    cmd += ["--out", str(out), "--base", str(ROOT)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    watch = json.loads(proc.stdout.strip().splitlines()[-1][len("WATCH=") :])
    assert watch == {"seen": {"keras": "", "jax": ""}, "tensorflow_modules": []}
    got = read_json(out)
    dense_64, dense_out = 2 * 64 + 64, 64 * 3 + 3  # 2 features, 3 classes
    assert got["backend"] == "jax" and list(got["parameters"].values()) == [dense_64 + dense_out]


@NEEDS_JAX
def test_jax_sees_only_the_cpu_when_the_job_has_no_gpu():
    """`gpu_slot(0)` sets CUDA_VISIBLE_DEVICES="" before JAX loads; JAX then lists no GPU
    (even a CUDA build would fall back to the CPU) and names the CPU as its device."""
    code = (
        "import json, os\n"
        "from batchstudy.gpu import gpu_slot\n"
        "from batchstudy.training import configure_backend, select_backend\n"
        "with gpu_slot(0, '.'):\n"
        "    select_backend('jax')\n"
        "    info = configure_backend('jax', 1)\n"
        "    import jax\n"
        "    print(json.dumps({'env': os.environ['CUDA_VISIBLE_DEVICES'], 'gpus': "
        "info['gpus_visible_to_backend'], 'device': info['device'], "
        "'platforms': sorted({d.platform for d in jax.devices()})}))\n"
    )
    env = {k: v for k, v in _env().items() if k != "CUDA_VISIBLE_DEVICES"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["env"] == "" and got["gpus"] == [] and got["platforms"] == ["cpu"]
    assert got["device"].startswith("CPU")


def test_keras_imported_with_another_backend_is_refused():
    code = (
        "import os; os.environ['KERAS_BACKEND'] = 'tensorflow'; import keras\n"
        "from batchstudy.training import select_backend\n"
        "select_backend('jax')\n"
    )
    env = {**_env(), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode != 0 and "select the backend first" in proc.stderr


# ---- a tiny study end to end on JAX ------------------------------------------------------


@NEEDS_JAX
@pytest.mark.e2e
def test_tiny_study_on_the_jax_backend(tmp_path):
    project = make_project(tmp_path, {**TINY_CONFIG, "engine": "keras", "backend": "jax"})
    snakemake(project)
    jobs = pd.read_csv(project / D.aggregate / "jobs.tsv", sep="\t")
    assert set(jobs["backend"]) == {"jax"} and set(jobs["engine"]) == {"keras"}
    version = importlib.import_module("jax").__version__
    assert set(jobs["backend_version"].astype(str)) == {version}
    meta = read_json(project / D.train / "blobs/adam/e4/bs16/run.json")
    assert meta["backend"] == "jax" and meta["spec"]["backend"] == "jax"
    assert meta["replicas"] == 2 and "jax" in meta
    log = (project / D.logs / "train/blobs/adam/e4/bs16.log").read_text()
    assert "backend jax" in log and "on backend jax: weights on cpu" in log.lower()
    html = (project / D.report_html).read_text()
    assert f"jax {version}" in html
    hist = pd.read_csv(project / D.aggregate / "history.tsv", sep="\t")
    assert len(hist) == 2 * 2 * 4 and hist["val_accuracy"].between(0, 1).all()


# ---- agreement with TensorFlow -----------------------------------------------------------


def test_agreement_flags_a_shifted_backend_and_passes_an_equal_one():
    """The statistic the backend check rests on can fail: a 5-point shift with 1-point
    seed noise is outside every interval; a sample against a reshuffled copy of itself is
    inside; zero spread agrees only on equal means; too few seeds never agree."""
    ref = {16: [0.80, 0.81, 0.79, 0.82, 0.80], 64: [0.70, 0.72, 0.71, 0.69, 0.70]}
    shifted = {b: [v + 0.05 for v in vs] for b, vs in ref.items()}
    same = {b: vs[::-1] for b, vs in ref.items()}
    assert not bench_backends.agreement(ref, shifted)["agree"].any()
    table = bench_backends.agreement(ref, same)
    assert table["agree"].all() and (table["level"] == 1 - 0.05 / 2).all()
    flat = {16: [0.8] * 3}
    assert bench_backends.agreement(flat, {16: [0.8] * 3})["agree"].all()
    assert not bench_backends.agreement(flat, {16: [0.81] * 3})["agree"].any()
    assert not bench_backends.agreement({16: [0.8]}, {16: [0.8]})["agree"].any()


#: The reduced check: seeds, batch sizes (small, middle, large) and epochs.
AGREE_SEEDS, AGREE_SIZES, AGREE_EPOCHS = [0, 1, 2, 3, 4], [16, 64, 256], 8


def _agreement_with_tensorflow(backend: str) -> pd.DataFrame:
    """Final validation accuracy per batch size on TensorFlow and on `backend`, seed's setup,
    reduced from the benchmark's 10 seeds x 8 batch sizes x 100 epochs (bench_backends.py)
    to 5 seeds x 3 batch sizes x 8 epochs, so that it fits a test run (two processes side by
    side, 15 ``fit`` calls each, about two minutes on two idle cores).

    What the reduction keeps: each backend's own seeds, the Welch t-interval of the difference
    per batch size at a Bonferroni-corrected 95 % family level, and a batch-size range from
    32 steps per epoch down to 2. What it loses: power (5 seeds give wide intervals, and the
    large batch sizes, still far from trained after 8 epochs, vary most between seeds: a
    difference of several points can pass there) and the converged regime the seed's
    comparison is about. A backend that trains differently in kind (a wrong learning rate,
    a loss that does not match) still fails it at the small batch size, where the interval
    is a few points wide (see the benchmark for the full check).
    """
    runs = bench_backends.final_accuracies(
        ["tensorflow", backend], AGREE_SIZES, AGREE_SEEDS, AGREE_EPOCHS
    )
    return bench_backends.agreement(
        runs["tensorflow"]["final_val_accuracy"], runs[backend]["final_val_accuracy"]
    )


def _check_agreement(table: pd.DataFrame) -> None:
    assert list(table["batch_size"]) == AGREE_SIZES
    assert table["agree"].all(), table.to_string()
    smallest = table.iloc[0]
    assert smallest["mean_reference"] > 0.6 and smallest["mean_other"] > 0.6  # chance: 1/3


@NEEDS_JAX
@pytest.mark.slow
def test_jax_backend_agrees_with_tensorflow_on_the_seed_setup():
    _check_agreement(_agreement_with_tensorflow("jax"))


@NEEDS_TORCH
@pytest.mark.slow
def test_torch_backend_agrees_with_tensorflow_on_the_seed_setup():
    _check_agreement(_agreement_with_tensorflow("torch"))


@NEEDS_JAX
def test_tensorflow_jobs_import_tensorflow_without_jax():
    """With JAX installed, a TensorFlow job's import of TensorFlow leaves JAX out (TFLite's
    optional ``from jax import jit``), with and without Keras; JAX can be imported later."""
    code = (
        "import json, sys\n"
        "from batchstudy.training import configure_tensorflow\n"
        "configure_tensorflow(1, keras=KERAS)\n"
        "got = {'jax': sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib'))}\n"
        "import jax\n"
        "got['later'] = float(jax.numpy.ones(2).sum())\n"
        "print(json.dumps(got))\n"
    )
    env = {**_env(), "TF_CPP_MIN_LOG_LEVEL": "2", "JAX_PLATFORMS": "cpu"}
    for keras in (False, True):
        got = _import_probe(code, keras, env)
        assert got == {"jax": [], "later": 2.0}, got


def _import_probe(code: str, keras: bool, env: dict[str, str]) -> dict:
    """Run `code` (its ``KERAS`` set to `keras`) in a fresh Python, so that its imports start
    from nothing; its last line of output, JSON, as a dict."""
    proc = subprocess.run(
        [sys.executable, "-c", code.replace("KERAS", str(keras))],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_fused_jobs_import_tensorflow_without_keras():
    """A fused-engine job imports TensorFlow without its eager Keras import (and so without
    scikit-learn and SciPy); the switch that does it is gone from the environment afterwards,
    TensorFlow works, and Keras 3 can still be imported; a Keras-engine job gets Keras."""
    code = (
        "import json, os, sys\n"
        "from batchstudy.training import configure_tensorflow\n"
        "configure_tensorflow(1, keras=KERAS)\n"
        "import tensorflow as tf\n"
        "got = {'keras': 'keras' in sys.modules, 'sklearn': 'sklearn' in sys.modules,\n"
        "       'env': 'TF_USE_LEGACY_KERAS' in os.environ,\n"
        "       'sum': float(tf.reduce_sum(tf.ones([3])))}\n"
        "import keras\n"
        "got['keras_backend'] = keras.backend.backend()\n"
        "print(json.dumps(got))\n"
    )
    env = {k: v for k, v in _env().items() if k != "TF_USE_LEGACY_KERAS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    for keras in (False, True):
        got = _import_probe(code, keras, env)
        assert got["keras"] is keras and got["sklearn"] is keras, got
        assert not got["env"] and got["sum"] == 3.0 and got["keras_backend"] == "tensorflow"


def test_tensorflow_jobs_run_without_onednn_unless_asked():
    """TensorFlow jobs leave oneDNN's CPU kernels off where ``TF_ENABLE_ONEDNN_OPTS`` is unset
    (TensorFlow's own default depends on the CPU, and the kernels change the metrics' last
    digits), honour the variable where it is set, and say which in their result."""
    code = (
        "import json, os\n"
        "from batchstudy.training import configure_tensorflow\n"
        "info = configure_tensorflow(1, keras=KERAS)\n"
        "print(json.dumps({'onednn': info['onednn'],\n"
        "                  'env': os.environ.get('TF_ENABLE_ONEDNN_OPTS')}))\n"
    )
    env = {k: v for k, v in _env().items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    assert _import_probe(code, False, env) == {"onednn": False, "env": "0"}
    asked = _import_probe(code, False, {**env, "TF_ENABLE_ONEDNN_OPTS": "1"})
    assert asked["env"] == "1"
    if platform.machine() in ("x86_64", "AMD64"):  # TensorFlow's x86 wheels carry oneDNN
        assert asked["onednn"] is True
