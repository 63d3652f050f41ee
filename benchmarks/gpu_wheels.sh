#!/usr/bin/env bash
# Download into .whl/ (git-ignored) the wheels that the GPU machine lacks for
# benchmarks/gpu_check.sh: Keras and its small dependencies, jsonschema, and Snakemake with
# its dependencies. That machine has Python 3.12, PyTorch and JAX with CUDA, numpy, pandas,
# scipy, scikit-learn, matplotlib, jinja2, pyyaml and filelock, no TensorFlow and no network.
#
#   make gpu-wheels            (or: bash benchmarks/gpu_wheels.sh [PYTHON_VERSION])
#
# Versions come from requirements.txt (the one place they are pinned). A package published
# only as a source archive is built into a wheel here (pure Python, so it fits any machine).
set -euo pipefail
cd "$(dirname "$0")/.."
PYVER="${1:-3.12}"
DEST=.whl
PIP=(python3 -m pip)
[ -x .venv/bin/python ] && PIP=(.venv/bin/python -m pip)

# What the GPU machine lacks, by name (normalised as pip does); versions from requirements.txt.
NAMES=(
  keras namex optree
  jsonschema jsonschema-specifications referencing rpds-py
  snakemake snakemake-interface-common snakemake-interface-executor-plugins
  snakemake-interface-logger-plugins snakemake-interface-report-plugins
  snakemake-interface-scheduler-plugins snakemake-interface-storage-plugins
  annotated-types argparse-dataclass conda-inject configargparse connection-pool docutils
  dpath fastjsonschema gitdb gitpython greenlet humanfriendly immutables jupyter-core
  nbformat platformdirs pulp pydantic pydantic-core smart-open smmap sqlalchemy sqlmodel
  tenacity throttler traitlets typing-inspection yte
)

pin() {  # pin NAME -> NAME==VERSION from requirements.txt (names compared normalised)
  local want
  want=$(echo "$1" | tr 'A-Z_.' 'a-z--')
  awk -F'==' -v want="$want" '
    { name = tolower($1); gsub(/[_.]/, "-", name); sub(/[ \t].*/, "", $2) }
    name == want { print $1 "==" $2; found = 1 }
    END { if (!found) exit 1 }' requirements.txt ||
    { echo "gpu_wheels: $1 is not pinned in requirements.txt" >&2; exit 1; }
}

mkdir -p "$DEST"
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 \
  manylinux2014_x86_64 manylinux1_x86_64; do
  platforms+=(--platform "$p")
done
for name in "${NAMES[@]}"; do
  spec=$(pin "$name")
  if ! "${PIP[@]}" download -q --no-deps --only-binary=:all: --python-version "$PYVER" \
    --implementation cp "${platforms[@]}" -d "$DEST" "$spec" 2>/dev/null; then
    # No wheel for that machine: only a source archive. Build it here (pure Python).
    "${PIP[@]}" wheel -q --no-deps -w "$DEST" "$spec"
  fi
done
# A wheel built here must be pure Python, or it will not install on the GPU machine.
if ls "$DEST"/*.whl | grep -v -e 'none-any' -e "cp${PYVER/./}" -e 'abi3' >&2; then
  echo "gpu_wheels: the wheels above do not fit Python $PYVER on x86_64" >&2
  exit 1
fi
echo "gpu_wheels: $(ls "$DEST"/*.whl | wc -l) wheels, $(du -sh "$DEST" | cut -f1) in $DEST/"
