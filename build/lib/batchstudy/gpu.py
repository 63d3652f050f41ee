"""Give each training job its own GPU on a machine that has several.

Snakemake's `gpu` resource (`--resources gpu=N`) only caps how many GPU jobs run at
once; it does not tell a job *which* GPU to use, so without help every job would pile
onto GPU 0. `gpu_slot` closes that gap: a job takes one of `n_slots` lock files
(`lock_dir/gpu<i>.lock`) with `fcntl.flock(LOCK_EX | LOCK_NB)` and sets
`CUDA_VISIBLE_DEVICES` to that slot's device for as long as it holds the lock.

* The lock belongs to the open file, so the kernel drops it when the process ends in
  any way, SIGKILL and OOM kills included: a crashed job never leaves a slot taken.
  The lock file stays behind on purpose (it holds the last holder's pid, for humans);
  its existence means nothing, only the kernel lock does.
* The descriptor is not inherited by `subprocess` children (Python opens files
  non-inheritable), but a `fork()`ed child (e.g. multiprocessing's fork start method)
  shares it and keeps the slot until it exits too.
* `lock_dir` must be on a file system whose `flock` works between the processes that
  compete for the GPUs: a local directory on the one machine is what this is for.

**Order matters: enter `gpu_slot` before the backend (TensorFlow, JAX or PyTorch) is
imported.** CUDA reads `CUDA_VISIBLE_DEVICES` once, when the backend initialises its GPU
support; setting it later has no effect. The caller therefore imports its training code inside the
`with` block::

    with gpu_slot(n_slots, "results/.gpu-locks") as slot:
        if slot is None:
            log("NOTICE: no GPU slot: training on the CPU")   # the caller logs this
        log(f"device: {describe_devices()}")
        from batchstudy.training import train                  # imports nothing heavy
        select_backend(spec.backend); configure_backend(...)   # imports the backend
        ...

Device selection, first match wins:

1. **Under SLURM with GPUs allocated** (`SLURM_JOB_ID` is set, SLURM's gres plugin set
   `SLURM_JOB_GPUS`/`SLURM_STEP_GPUS`/`GPU_DEVICE_ORDINAL`, and `CUDA_VISIBLE_DEVICES`
   is set): SLURM already gave this job its own device(s) and isolated them, so no slot
   is taken and `CUDA_VISIBLE_DEVICES` is left exactly as SLURM set it, whatever
   `n_slots` says. The context yields SLURM's first device id as an int (0 when SLURM
   names devices by UUID). A SLURM job *without* GPUs falls through to the rules below
   (with `n_slots == 0`, the usual case there, it trains on the CPU).
2. **`n_slots == 0`**: no GPU for this job. `CUDA_VISIBLE_DEVICES` is set to `""` so
   the backend stays on the CPU even where GPUs exist, and the context yields `None`.
3. **`n_slots > 0`**: the first free slot `i` in `0..n_slots-1` is taken (polling every
   `poll` seconds until `timeout`) and the context yields `i`. Slot `i` means device
   `i`, unless `BATCHSTUDY_GPU_IDS` lists the devices to use (e.g. `"2,3"`: slot 0 is
   device 2, slot 1 is device 3), for a machine shared with other work.

On exit the slot is released and `CUDA_VISIBLE_DEVICES` is restored to what it was.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

ENV_VISIBLE = "CUDA_VISIBLE_DEVICES"
ENV_GPU_IDS = "BATCHSTUDY_GPU_IDS"
# Set by SLURM's gres/gpu plugin in jobs (and steps) that were allocated GPUs.
_SLURM_GPU_VARS = ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "GPU_DEVICE_ORDINAL")
#: Modules that read CUDA_VISIBLE_DEVICES when they start CUDA (the Keras backends).
_BACKEND_MODULES = ("tensorflow", "jax", "torch")


def gpu_ids(n_slots: int) -> list[str]:
    """Device id of each slot: `0..n_slots-1`, or the first n_slots of BATCHSTUDY_GPU_IDS."""
    raw = os.environ.get(ENV_GPU_IDS, "").strip()
    if not raw:
        return [str(i) for i in range(n_slots)]
    ids = [part.strip() for part in raw.split(",")]
    if any(not part for part in ids):
        raise ValueError(f"{ENV_GPU_IDS}={raw!r} has an empty entry; expected e.g. '2,3'")
    if len(ids) < n_slots:
        raise ValueError(
            f"{ENV_GPU_IDS}={raw!r} lists {len(ids)} device(s) but {n_slots} GPU slot(s) "
            "were asked for; list one device per slot or lower the slot count"
        )
    return ids[:n_slots]


def slurm_gpus() -> str | None:
    """SLURM's CUDA_VISIBLE_DEVICES for this job, or None when SLURM gave it no GPU."""
    if not os.environ.get("SLURM_JOB_ID"):
        return None
    if not any(os.environ.get(var) for var in _SLURM_GPU_VARS):
        return None  # a CUDA_VISIBLE_DEVICES here was inherited, not assigned by SLURM
    visible = os.environ.get(ENV_VISIBLE)
    return visible if visible else None


def _try_lock(path: Path) -> int | None:
    """An fd holding an exclusive flock on path, or None if another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise
    return fd


def _note_holder(fd: int) -> None:
    """Write who holds the slot into the lock file (for humans; the lock is the truth)."""
    note = f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')}\n"
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, note.encode(), 0)


def _holders(lock_dir: Path, n_slots: int) -> str:
    notes = []
    for i in range(n_slots):
        try:
            text = (lock_dir / f"gpu{i}.lock").read_text().strip()
        except OSError:
            text = ""
        notes.append(f"gpu{i}: {text or '?'}")
    return "; ".join(notes)


def _acquire(n_slots: int, lock_dir: Path, timeout: float, poll: float) -> tuple[int, int]:
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    while True:
        for i in range(n_slots):
            fd = _try_lock(lock_dir / f"gpu{i}.lock")
            if fd is not None:
                _note_holder(fd)
                return i, fd
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"no GPU slot became free within {timeout:g} s: all {n_slots} slot(s) in "
                f"lock_dir {str(lock_dir)!r} are held ({_holders(lock_dir, n_slots)}). "
                "The workflow runs at most N GPU jobs for `--resources gpu=N`, so another "
                "process (another snakemake run here, say) holds slots: wait for it, give "
                "the runs disjoint devices (BATCHSTUDY_GPU_IDS), or raise the timeout."
            )
        time.sleep(max(0.0, min(poll, deadline - time.monotonic())))


@contextlib.contextmanager
def _visible_devices(value: str | None) -> Iterator[None]:
    """Set (or keep, with None) CUDA_VISIBLE_DEVICES; restore the old value on exit."""
    old = os.environ.get(ENV_VISIBLE)
    if value is not None:
        if loaded := [m for m in _BACKEND_MODULES if m in sys.modules]:
            warnings.warn(
                f"{ENV_VISIBLE} is set after {', '.join(loaded)} was imported; it may have no "
                "effect. Enter gpu_slot() before importing the training backend.",
                RuntimeWarning,
                stacklevel=5,
            )
        os.environ[ENV_VISIBLE] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(ENV_VISIBLE, None)
        else:
            os.environ[ENV_VISIBLE] = old


@contextlib.contextmanager
def gpu_slot(
    n_slots: int,
    lock_dir: str | Path,
    *,
    timeout: float = 600.0,
    poll: float = 0.05,
) -> Iterator[int | None]:
    """Hold one of `n_slots` GPU slots and point CUDA_VISIBLE_DEVICES at its device.

    Yields the slot index, None when the job trains on the CPU (`n_slots == 0`), or
    under SLURM with allocated GPUs SLURM's first device id (see the module doc for the
    rules). Raises TimeoutError when no slot frees within `timeout` seconds and
    ValueError on a bad `n_slots` or BATCHSTUDY_GPU_IDS. Must be entered before
    the backend is imported.
    """
    if isinstance(n_slots, bool) or not isinstance(n_slots, int) or n_slots < 0:
        raise ValueError(f"n_slots must be an integer >= 0, got {n_slots!r}")
    if timeout < 0 or poll <= 0:
        raise ValueError(f"need timeout >= 0 and poll > 0, got {timeout!r}, {poll!r}")

    assigned = slurm_gpus()
    if assigned is not None:
        first = assigned.split(",")[0].strip()
        with _visible_devices(None):
            yield int(first) if first.isdigit() else 0
        return

    if n_slots == 0:
        with _visible_devices(""):
            yield None
        return

    ids = gpu_ids(n_slots)
    slot, fd = _acquire(n_slots, Path(lock_dir), timeout, poll)
    try:
        with _visible_devices(ids[slot]):
            yield slot
    finally:
        os.close(fd)  # closing the last fd of the open file releases the flock


def describe_devices() -> str:
    """One line on what this process will train on, from the environment alone.

    Never imports a backend (so it can run before the backend is configured); the
    training job adds the backend's own view of the devices later.
    """
    visible = os.environ.get(ENV_VISIBLE)
    job = os.environ.get("SLURM_JOB_ID")
    where = f" in SLURM job {job}" if job else ""
    if visible is None:
        return f"{ENV_VISIBLE} unset{where}: the backend uses every GPU it finds, else the CPU"
    ids = [part.strip() for part in visible.split(",") if part.strip()]
    if not ids or ids == ["-1"]:
        return f"CPU only ({ENV_VISIBLE}={visible!r}){where}"
    source = " assigned by SLURM" if slurm_gpus() is not None else ""
    noun = "GPU" if len(ids) == 1 else "GPUs"
    return f"{noun} {','.join(ids)} ({ENV_VISIBLE}={visible}{source}){where}"


class GpuUnavailableError(RuntimeError):
    """The job was given a GPU, but the training backend sees none."""


#: What to install so that each training backend sees a GPU (the pinned CPU builds never do).
GPU_INSTALL_HINTS = {
    "tensorflow": "install TensorFlow's GPU build in this environment in place of the pinned "
    "CPU build (`pip uninstall -y tensorflow-cpu && pip install 'tensorflow[and-cuda]==2.21.0'`)",
    "jax": "install JAX's CUDA build in place of the CPU one (`pip install 'jax[cuda12]'` at "
    "the pinned jax version)",
    "torch": "install a CUDA build of PyTorch (see pytorch.org for the index URL of your CUDA)",
}
_BACKEND_NAMES = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}


def check_gpu_used(
    slot: int | None, visible_to_backend: list[str], allow_cpu: bool, backend: str = "tensorflow"
) -> str:
    """Fail at once when a job holds a GPU (slot or SLURM allocation) that its backend cannot
    see, instead of training on the CPU while the allocation idles.

    Returns "" when all is well, or the NOTICE to log when the job holds a GPU, the backend
    sees none and `allow_cpu` is set (the user's explicit choice, e.g. for a test cluster
    with fake GPUs). A job that holds no GPU never fails here. `backend` (`spec.BACKENDS`)
    names the backend whose GPU list `visible_to_backend` is, for the message and its fix.
    """
    if slot is None or visible_to_backend:
        return ""
    held = f"GPU {slot} ({describe_devices()})"
    name = _BACKEND_NAMES[backend]
    if allow_cpu:
        return f"NOTICE: this job holds {held} but {name} sees no GPU; training on the CPU"
    raise GpuUnavailableError(
        f"this job holds {held}, but {name} sees no GPU, so it would train on the CPU "
        f"while the GPU idles. To use the GPU, {GPU_INSTALL_HINTS[backend]}, and check the "
        "node's NVIDIA driver with `nvidia-smi`. To train on the CPU "
        "anyway, allow it: `--set-resources train:cpu_fallback=1` (see README, GPUs)"
    )
