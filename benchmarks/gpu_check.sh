#!/usr/bin/env bash
# The GPU check: a tiny study trained on the GPU through the workflow's GPU slots, with the
# Keras engine on the JAX and the PyTorch backend, each next to the same study on the CPU.
#
#   make gpu-wheels                      # here, once: wheels the GPU machine lacks -> .whl/
#   bash benchmarks/gpu_check.sh         # on the GPU machine, in the repository root
#   GPU_CHECK_CPU=1 bash benchmarks/gpu_check.sh   # dry mode: same steps, CPU only, JAX
#
# Made for a GPU machine with PyTorch and JAX (CUDA builds), no TensorFlow and no network:
# what it lacks (Keras, jsonschema, Snakemake and their small dependencies) is installed
# from .whl/ into a scratch folder. Budget: about 8 minutes. The study: the seed's blobs data,
# batch sizes 32 and 256, seeds 0 and 1, 5 epochs, engine keras, on the GPU
# (snakemake --resources gpu=1 --set-resources train:gpu=1) and on the CPU
# (--resources gpu=0). Everything goes to $OUT (GPU_CHECK_OUT, default benchmarks/out/gpu_check):
#   summary.txt      what ran, versions, notes, seconds per epoch by batch size: GPU vs CPU
#   nvidia-smi.txt   nvidia-smi before and after the runs
#   jobs.tsv         every study's jobs.tsv (columns study, backend, where first)
#   timing.tsv       every study's per-epoch timing.tsv (same leading columns)
#   report-<backend>-gpu.html   the GPU studies' reports
#   runs.tar.gz      the CPU reports, every job's log and run.json, snakemake's logs
# Environment: GPU_CHECK_BACKENDS (default "jax torch"; dry mode "jax"), GPU_CHECK_EPOCHS (5),
# GPU_CHECK_STUDY_TIMEOUT (150 s per study), GPU_CHECK_BUDGET (no study starts after 420 s).
# Order: JAX on the GPU, JAX on the CPU, then PyTorch likewise.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
T0=$SECONDS
CPU_ONLY="${GPU_CHECK_CPU:-0}"
OUT="${GPU_CHECK_OUT:-${OUT:-$ROOT/benchmarks/out/gpu_check}}"
EPOCHS="${GPU_CHECK_EPOCHS:-5}"
WORK="${GPU_CHECK_WORK:-$(mktemp -d /tmp/gpu_check.XXXXXX)}"
STUDY_TIMEOUT="${GPU_CHECK_STUDY_TIMEOUT:-150}"  # seconds one study may take
BUDGET="${GPU_CHECK_BUDGET:-420}"                 # no study starts after this many seconds
if [ "$CPU_ONLY" = 1 ]; then
  BACKENDS="${GPU_CHECK_BACKENDS:-jax}"
  PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
else
  BACKENDS="${GPU_CHECK_BACKENDS:-jax torch}"
  PYTHON="${PYTHON:-python3}"
fi

mkdir -p "$OUT" "$WORK"
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
say() { echo "[gpu_check $(date +%H:%M:%S) +$((SECONDS - T0))s] $*" | tee -a "$SUMMARY"; }
die() {
  say "FAILED: $*"
  exit 1
}

# ---- 1. what this machine has ---------------------------------------------------------
command -v "$PYTHON" >/dev/null || die "no $PYTHON on PATH (set PYTHON=...)"
PYTHON=$(command -v "$PYTHON")
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11)' ||
  die "$PYTHON is Python $("$PYTHON" -V 2>&1); the study needs 3.11 or newer"
say "python: $PYTHON ($("$PYTHON" -V 2>&1)); backends: $BACKENDS; epochs: $EPOCHS; mode:" \
  "$([ "$CPU_ONLY" = 1 ] && echo 'CPU dry run' || echo GPU)"
if [ "$CPU_ONLY" = 1 ]; then
  echo "CPU dry run (GPU_CHECK_CPU=1): nvidia-smi not called" >"$OUT/nvidia-smi.txt"
else
  command -v nvidia-smi >/dev/null || die "nvidia-smi not found: is this the GPU machine?"
  nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || die "nvidia-smi failed: $(tail -3 "$OUT/nvidia-smi.txt")"
  nvidia-smi -L | grep -q GPU || die "nvidia-smi lists no GPU"
  say "GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader)"
fi
for b in $BACKENDS; do
  case $b in jax | torch | tensorflow) ;; *) die "unknown backend '$b' in GPU_CHECK_BACKENDS" ;; esac
  "$PYTHON" -c "import $b" 2>/dev/null || die "backend $b is not importable by $PYTHON"
done

# ---- 2. install what it lacks from the carried wheels -----------------------------------
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
NEEDED="keras snakemake jsonschema"
missing=$(for m in $NEEDED; do "$PYTHON" -c "import $m" 2>/dev/null || echo "$m"; done)
if [ -n "$missing" ]; then
  say "installing from .whl/ (missing: $(echo $missing))"
  compgen -G "$ROOT/.whl/*.whl" >/dev/null ||
    die "missing $(echo $missing) and no wheels in .whl/: run 'make gpu-wheels' and carry .whl"
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$WORK/site" "$ROOT"/.whl/*.whl >"$WORK/pip.log" 2>&1 ||
    die "pip install from .whl/ failed: $(tail -5 "$WORK/pip.log")"
  export PYTHONPATH="$ROOT/src:$WORK/site"
  for m in $NEEDED; do
    "$PYTHON" -c "import $m" 2>"$WORK/import.log" ||
      die "$m still not importable after the install: $(tail -3 "$WORK/import.log")"
  done
fi
# The rules call `python`: make it this interpreter (a wrapper, not a link: a link outside
# a virtual environment's folder would start Python without the environment's packages).
mkdir -p "$WORK/bin"
printf '#!/bin/sh\nexec "%s" "$@"\n' "$PYTHON" >"$WORK/bin/python"
chmod +x "$WORK/bin/python"
export PATH="$WORK/bin:$PATH"
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
"$PYTHON" -c 'import batchstudy, keras, snakemake' || die "the study's package does not import"
say "versions: $("$PYTHON" - "$BACKENDS" <<'EOF'
import sys
from importlib import metadata
names = ["keras", "snakemake", "numpy", *sys.argv[1].split()]
print(", ".join(f"{n} {metadata.version(n)}" for n in names))
EOF
)"

# ---- 3. the studies ------------------------------------------------------------------------
# write_project DIR BACKEND WHERE DETERMINISTIC: a throwaway project with the tiny study.
write_project() {
  local dir=$1 backend=$2 where=$3 det=$4
  rm -rf "$dir" && mkdir -p "$dir/config"
  cp -r "$ROOT/Snakefile" "$ROOT/workflow" "$dir/"
  cat >"$dir/config/config.yaml" <<EOF
title: "GPU check: Keras engine on $backend, $where"
datasets:
  blobs: {kind: blobs, n_samples: 1000, centers: 3, n_features: 2, cluster_std: 2.0,
          random_state: 2, n_train: 500}
batch_sizes: [32, 256]
seeds: [0, 1]
epochs: $EPOCHS
engine: keras
backend: $backend
deterministic: $det
metrics: {bootstrap: 200, plateau_last: 2, smoothing_window: 1}
EOF
}

# run_study BACKEND WHERE -> 0 when the report was written
run_study() {
  local backend=$1 where=$2 det=true dir="$WORK/study-$1-$2" rc slots=1 gpu=1
  [ "$where" = cpu ] && slots=0 gpu=0
  for det in true false; do
    write_project "$dir" "$backend" "$where" "$det"
    say "study $backend on $where (deterministic: $det) in $dir"
    rc=0
    (cd "$dir" && timeout "$STUDY_TIMEOUT" "$PYTHON" -m snakemake --cores 4 \
      --resources gpu=$slots --set-resources train:gpu=$gpu --set-threads train=2 \
      >"$dir/snakemake.log" 2>&1) || rc=$?
    if [ "$rc" = 0 ]; then
      say "study $backend on $where: done ($(grep -c . "$dir/results/default/aggregate/jobs.tsv") lines in jobs.tsv)"
      (cd "$dir/logs/default/train" && grep -r -e "backend .* ready" -e "weights on" -e NOTICE .) |
        sed 's/^/    /' | tee -a "$SUMMARY"
      return 0
    fi
    [ "$rc" = 124 ] && say "study $backend on $where cut at ${STUDY_TIMEOUT} s (GPU_CHECK_STUDY_TIMEOUT)"
    say "study $backend on $where failed (exit $rc); the end of its logs:"
    tail -n 15 "$dir/snakemake.log" | sed 's/^/    /' | tee -a "$SUMMARY"
    tail -n 15 "$dir"/logs/default/train/*/*/*/*.log 2>/dev/null | sed 's/^/    /' | tee -a "$SUMMARY"
    if [ "$det" = true ] && grep -q -e "deterministic implementation" -e "Unknown flag" \
      "$dir/snakemake.log" "$dir"/logs/default/train/*/*/*/*.log 2>/dev/null; then
      say "NOTE: $backend failed with deterministic ops; once more without (recorded)"
      continue
    fi
    return 1
  done
  return 1
}

failed=""
wheres="gpu cpu"
[ "$CPU_ONLY" = 1 ] && wheres="cpu"
for b in $BACKENDS; do
  for w in $wheres; do
    if [ $((SECONDS - T0)) -gt "$BUDGET" ]; then
      say "SKIPPED: study $b on $w: past the ${BUDGET} s budget (GPU_CHECK_BUDGET)"
      failed="$failed $b-$w(skipped)"
      continue
    fi
    run_study "$b" "$w" || failed="$failed $b-$w"
  done
done
[ "$CPU_ONLY" = 1 ] || nvidia-smi >>"$OUT/nvidia-smi.txt" 2>&1 || true

# ---- 4. collect ------------------------------------------------------------------------------
"$PYTHON" - "$WORK" "$OUT" <<'EOF' | tee -a "$SUMMARY"
import sys
from pathlib import Path

import pandas as pd

work, out = Path(sys.argv[1]), Path(sys.argv[2])
jobs, timing = [], []
for d in sorted(work.glob("study-*-*")):
    agg = d / "results" / "default" / "aggregate"
    if not (agg / "jobs.tsv").is_file():
        continue
    _, backend, where = d.name.split("-")
    lead = {"study": d.name, "backend": backend, "where": where}
    jobs.append(pd.read_csv(agg / "jobs.tsv", sep="\t").assign(**lead))
    timing.append(pd.read_csv(agg / "timing.tsv", sep="\t").assign(**lead))
    report = d / "report" / "default" / "index.html"
    if where == "gpu" and report.is_file():
        (out / f"report-{backend}-gpu.html").write_bytes(report.read_bytes())
if not jobs:
    print("no study finished: no tables")
    sys.exit(0)
lead = ["study", "backend", "where"]
j = pd.concat(jobs, ignore_index=True)
j = j[lead + [c for c in j.columns if c not in lead]]
j.to_csv(out / "jobs.tsv", sep="\t", index=False)
t = pd.concat(timing, ignore_index=True)
t[lead + [c for c in t.columns if c not in lead]].to_csv(out / "timing.tsv", sep="\t", index=False)
table = j.pivot_table(
    index=["backend", "batch_size"], columns="where", values="seconds_per_epoch", aggfunc="first"
)
if {"gpu", "cpu"} <= set(table.columns):
    table["cpu_over_gpu"] = table["cpu"] / table["gpu"]
print("seconds per model-epoch (median over epochs; graph building excluded):")
print(table.to_string(float_format=lambda v: f"{v:.4f}"))
print("devices:", "; ".join(sorted(set(j["study"] + ": " + j["device"].astype(str)))))
EOF
tar -czf "$OUT/runs.tar.gz" -C "$WORK" --exclude='*.npz' --exclude='site' --exclude='bin' \
  --exclude='.snakemake' --exclude='plots' --exclude='workflow' --exclude='Snakefile' . 2>/dev/null || true
say "outputs in $OUT: $(ls "$OUT" | tr '\n' ' ')"
[ -z "$failed" ] || die "studies that failed:$failed (see summary.txt and runs.tar.gz)"
say "all studies done in $((SECONDS - T0)) s"
