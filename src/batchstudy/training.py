"""The training engines' common front: select and set up the backend, pick an engine, write
the results.

The engines live in `batchstudy.engines` (`keras`: the reference, on any Keras 3 backend;
`fused`: every replica in one TensorFlow graph); this module imports them, and the backend
(TensorFlow, JAX or PyTorch), only inside functions, so importing it costs nothing. The
backend is chosen by `TrainSpec.backend`: `select_backend` sets ``KERAS_BACKEND`` and
`configure_backend` imports and sets up that backend alone, so a JAX or PyTorch job never
imports TensorFlow.

Outputs of one job (see README, "File formats"):
- ``history.tsv``: `io.HISTORY_COLUMNS`, one row per (learning-rate variant, seed, epoch) —
  byte-identical across reruns of the same config on the same machine and software.
- ``evals.tsv``: `io.EVAL_COLUMNS`, one row per (learning-rate variant, seed, evaluation):
  every ``eval_every_steps``-th optimizer step, or every epoch end when that is 0.
- ``timing.tsv``: seed, epoch, seconds, replicas — wall seconds of each epoch with graph
  building excluded; ``seed == -1`` means all ``replicas`` replicas trained together.
- ``run.json``: engine, backend, device, graph-building seconds, notices, versions.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .data import Dataset
from .engines.result import Log, TrainResult
from .io import EVAL_COLUMNS, HISTORY_COLUMNS, TIMING_COLUMNS, write_json, write_table
from .spec import BACKENDS, TrainSpec

__all__ = [
    "TrainResult",
    "choose_engine",
    "configure_backend",
    "configure_tensorflow",
    "select_backend",
    "train",
    "write_result",
]


#: Environment variable Keras 3 reads, once, at import, to pick its backend.
ENV_KERAS_BACKEND = "KERAS_BACKEND"

#: Environment variable TensorFlow reads, once, at import: "1" runs oneDNN's CPU kernels, "0"
#: TensorFlow's own (Eigen); unset, TensorFlow decides by the CPU. `configure_tensorflow`
#: sets `ONEDNN_DEFAULT` where the variable is unset.
ENV_ONEDNN = "TF_ENABLE_ONEDNN_OPTS"
ONEDNN_DEFAULT = "0"


def select_backend(backend: str) -> None:
    """Point Keras at `backend` (`spec.BACKENDS`) before Keras is imported.

    Call it after `gpu.gpu_slot` has pinned CUDA_VISIBLE_DEVICES and before anything imports
    Keras or the backend. Raises RuntimeError when Keras was already imported with another
    backend (setting the variable then would change nothing).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r} is not one of {list(BACKENDS)}")
    keras = sys.modules.get("keras")
    if keras is not None and keras.backend.backend() != backend:
        raise RuntimeError(
            f"Keras was imported with backend {keras.backend.backend()!r} before backend "
            f"{backend!r} was selected; select the backend first"
        )
    os.environ[ENV_KERAS_BACKEND] = backend


def configure_backend(
    backend: str, threads: int, deterministic: bool = True, keras: bool = True
) -> dict[str, Any]:
    """Set `backend` up for one job (`configure_tensorflow`, `configure_jax`,
    `configure_torch`) and say what it sees. ``keras=False`` (TensorFlow only: a job of the
    fused engine, which uses no Keras) imports TensorFlow without Keras (`_tensorflow_alone`).

    Every configurator returns the same keys: ``backend``, ``backend_version``, ``threads``,
    ``op_determinism`` (deterministic ops asked of the backend), ``gpus_visible_to_backend``
    (names of the GPUs the backend itself lists; what `gpu.check_gpu_used` needs) and
    ``device`` (the device the backend places new arrays on), plus the backend's own facts.
    """
    configure = {
        "tensorflow": configure_tensorflow,
        "jax": configure_jax,
        "torch": configure_torch,
    }
    if backend not in configure:
        raise ValueError(f"backend {backend!r} is not one of {list(BACKENDS)}")
    if backend == "tensorflow":
        return configure_tensorflow(threads, deterministic, keras)
    return configure[backend](threads, deterministic)


def _cpu_name() -> str:
    return f"CPU ({platform.processor() or platform.machine()})"


#: TensorFlow's switch between Keras 3 and Keras 2 (``tf_keras``) for ``tf.keras``.
_LEGACY_KERAS = "TF_USE_LEGACY_KERAS"


@contextlib.contextmanager
def _tensorflow_alone() -> Iterator[None]:
    """Make a first ``import tensorflow`` inside the block skip its eager import of Keras.

    TensorFlow's ``__init__`` imports ``keras.src.optimizers`` (Keras 3, and through its
    scikit-learn wrapper scikit-learn and SciPy), ~3.5 s of the ~10 s import on one core,
    unless ``TF_USE_LEGACY_KERAS`` is set, in which case it tries ``tf_keras`` instead and
    ignores its ImportError. So, when TensorFlow is not imported yet and ``tf_keras`` is not
    installed, the variable is set for the import only; ``tf.keras`` then stays unusable in
    this process (``import keras`` itself still works). Used for the fused engine's jobs,
    which build their graph from TensorFlow ops alone.
    """
    import importlib.util

    skip = "tensorflow" not in sys.modules and importlib.util.find_spec("tf_keras") is None
    skip = skip and _LEGACY_KERAS not in os.environ
    if skip:
        os.environ[_LEGACY_KERAS] = "1"
    try:
        yield
    finally:
        if skip:
            del os.environ[_LEGACY_KERAS]


@contextlib.contextmanager
def _tensorflow_without_jax() -> Iterator[None]:
    """Make a first ``import tensorflow`` inside the block skip importing JAX.

    TensorFlow's ``__init__`` imports its TFLite converter's utilities, which try
    ``from jax import jit`` (for converting JAX functions) and set it to None on ImportError;
    with JAX installed (the study's jax backend) that import is ~0.9 s of every TensorFlow
    job's start. So, when neither TensorFlow nor JAX is imported yet, ``sys.modules["jax"]``
    is None for the import only, which makes ``import jax`` raise ImportError there; only
    TFLite's conversion of JAX functions, which no job uses, is left without JAX, and a later
    ``import jax`` in the process still works.
    """
    skip = "tensorflow" not in sys.modules and "jax" not in sys.modules
    if skip:
        sys.modules["jax"] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if skip and "jax" in sys.modules and sys.modules["jax"] is None:
            del sys.modules["jax"]


def configure_tensorflow(
    threads: int, deterministic: bool = True, keras: bool = True
) -> dict[str, Any]:
    """Pin TensorFlow's thread pools to the job's `threads` before any op runs, so parallel
    jobs share the cores instead of each assuming it owns the machine. TensorFlow is imported
    without JAX (`_tensorflow_without_jax`); ``keras=False``: without Keras either
    (`_tensorflow_alone`).

    oneDNN's CPU kernels stay off unless ``TF_ENABLE_ONEDNN_OPTS`` asks for them
    (`ONEDNN_DEFAULT`): TensorFlow itself turns them on by default on some x86 CPUs and not on
    others, and they change the metrics in their last digits, so under TensorFlow's default two
    machines with the same software could differ for this reason alone. Off is also the faster
    choice for these small models (README, Speed). ``onednn`` in the result says whether they
    are on in this process (set before TensorFlow was imported; a process that imported it
    earlier keeps what it had).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault(ENV_ONEDNN, ONEDNN_DEFAULT)
    with (
        _tensorflow_without_jax(),
        _tensorflow_alone() if not keras else contextlib.nullcontext(),
    ):
        import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(max(1, threads))
    tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, threads)))
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return {
        "backend": "tensorflow",
        "backend_version": tf.__version__,
        "tensorflow": tf.__version__,
        "threads": threads,
        "op_determinism": deterministic,
        "onednn": _onednn_on(),
        "gpus_visible_to_backend": gpus,
        "device": ", ".join(gpus) if gpus else _cpu_name(),
    }


def _onednn_on() -> bool | None:
    """Whether TensorFlow runs oneDNN's CPU kernels in this process (None: it cannot say)."""
    try:
        from tensorflow.python.util import _pywrap_util_port  # TF's own check, no public API
    except ImportError:
        return None
    return bool(_pywrap_util_port.IsMklEnabled())


def configure_jax(threads: int, deterministic: bool = True) -> dict[str, Any]:
    """JAX (XLA) for one job; must run before JAX initialises its devices.

    XLA reads ``XLA_FLAGS`` once: with ``threads == 1`` its CPU matrix kernels run
    single-threaded (``--xla_cpu_multi_thread_eigen=false``); XLA offers no cap for other
    counts, so ``threads > 1`` leaves its own pool as it is (recorded as ``xla_threads``).
    `deterministic` adds ``--xla_gpu_deterministic_ops=true`` (XLA on the CPU is
    deterministic already). GPU memory is allocated as needed
    (``XLA_PYTHON_CLIENT_PREALLOCATE=false``) instead of 75 % of the device up front.
    """
    flags = os.environ.get("XLA_FLAGS", "").split()
    if threads == 1:
        flags.append("--xla_cpu_multi_thread_eigen=false")
    if deterministic:
        flags.append("--xla_gpu_deterministic_ops=true")
    os.environ["XLA_FLAGS"] = " ".join(dict.fromkeys(flags))
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    import jax

    try:
        gpus = [f"{d.platform}:{d.id} ({d.device_kind})" for d in jax.devices("gpu")]
    except RuntimeError:  # no GPU backend: a CPU build, or CUDA_VISIBLE_DEVICES=""
        gpus = []
    first = jax.devices()[0]
    return {
        "backend": "jax",
        "backend_version": jax.__version__,
        "jax": jax.__version__,
        "threads": threads,
        "xla_threads": "1" if threads == 1 else "XLA default (not capped)",
        "op_determinism": deterministic,
        "gpus_visible_to_backend": gpus,
        "device": gpus[0] if first.platform == "gpu" and gpus else _cpu_name(),
    }


def configure_torch(threads: int, deterministic: bool = True) -> dict[str, Any]:
    """PyTorch for one job: `threads` intra-op threads, deterministic algorithms (with the
    cuBLAS workspace setting they need on a GPU) and no cuDNN autotuning."""
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import torch

    torch.set_num_threads(max(1, threads))
    with contextlib.suppress(RuntimeError):  # only settable before inter-op work started
        torch.set_num_interop_threads(max(1, min(2, threads)))
    torch.use_deterministic_algorithms(deterministic)
    torch.backends.cudnn.benchmark = not deterministic
    n_gpu = torch.cuda.device_count() if torch.cuda.is_available() else 0
    gpus = [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(n_gpu)]
    return {
        "backend": "torch",
        "backend_version": torch.__version__,
        "torch": torch.__version__,
        "threads": threads,
        "op_determinism": deterministic,
        "gpus_visible_to_backend": gpus,
        "device": gpus[0] if gpus else _cpu_name(),
    }


def choose_engine(spec: TrainSpec) -> tuple[str, list[str]]:
    """The fused engine runs every model it can express; anything else falls back to Keras.
    The fused engine is TensorFlow only: asking it for another backend is an error (the
    config check says so before any job runs)."""
    if spec.engine == "fused" and spec.backend != "tensorflow":
        raise ValueError(
            f"the fused engine runs on TensorFlow only, not backend {spec.backend!r}: "
            "use engine 'keras'"
        )
    if spec.engine == "fused" and not spec.fused_capable:
        return "keras", [
            f"custom model {spec.custom_model!r} cannot run on the fused engine; "
            "training it with the Keras engine"
        ]
    return spec.engine, []


def train(data: Dataset, spec: TrainSpec, log: Log, base: str | Path = ".") -> TrainResult:
    """Train every replica of `spec` (resolved for `data`) on the engine it asks for."""
    spec = spec.resolved(data.n_train)
    if spec.epochs < 1:
        raise ValueError(f"a training job needs at least one epoch, got {spec.epochs}")
    if spec.batch_size >= data.n_train:
        log(
            f"NOTICE: batch size {spec.batch_size} >= {data.n_train} training rows: "
            "full-batch gradient descent, one step per epoch"
        )
    engine, notices = choose_engine(spec)
    for n in notices:
        log(f"NOTICE: {n}")
    if engine == "fused":
        from .engines.fused import train_fused

        result = train_fused(data, spec, log)
    else:
        from .engines.keras import train_keras

        result = train_keras(data, spec, log, base)
    result.notices.extend(notices)
    return result


def write_result(
    result: TrainResult,
    spec: TrainSpec,
    history: Path,
    timing: Path,
    meta: Path,
    extra: dict[str, Any],
    evals: Path,
) -> None:
    """history.tsv and evals.tsv in the engines' replica order (`TrainSpec.replicas`, then
    epoch or step), timing.tsv and run.json, each written atomically."""
    hist = result.history.loc[:, list(HISTORY_COLUMNS)]
    write_table(history, hist.astype({"seed": int, "epoch": int}))
    write_table(evals, result.evals.loc[:, list(EVAL_COLUMNS)].astype({"seed": int, "step": int}))
    write_table(timing, result.timing.loc[:, list(TIMING_COLUMNS)])
    write_json(
        meta,
        {
            "engine": result.engine,
            "setup_seconds": result.setup_seconds,
            "notices": result.notices,
            "spec": asdict(spec),
            **result.info,
            **extra,
        },
    )
