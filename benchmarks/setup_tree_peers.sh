#!/usr/bin/env bash
# Create the venv with tree-influence (Brophy et al.'s BoostIn / LeafInfluence) used by
# `make bench-trees` for the fidelity comparison (benchmarks/peers/run_tree_influence.py).
#
#   .bench/venv-treeinf : torch==2.13.0 (local CPU wheel; tree-influence declares torch>=1.9 and
#                         imports it at package import for its TREX explainer) + numpy<2, scikit-learn,
#                         lightgbm, xgboost + tree-influence==0.1.7 built from its sdist
#
# Why the build is not a plain `pip install tree-influence`: every tree-influence sdist on PyPI
# (0.1.1 ... 0.1.7) ships the Cython-generated _tree32.c / _tree64.c but not the .pyx sources its
# setup.py names, and there is no wheel. pip therefore cannot even read its metadata. We let pip
# download and unpack the sdist (`--no-clean` keeps the unpacked tree), add empty placeholder .pyx
# files dated 2000-01-01 (older than the shipped .c files), and install that tree with
# --no-build-isolation with Cython==3.0.10 in the venv: the version that generated the shipped .c files,
# so cythonize keeps them (any other Cython version regenerates them from the empty placeholders);
# that C code uses numpy 1.x's struct layout (PyArray_Descr.subarray), hence numpy<2 in this venv.
#
# Idempotent: a venv whose import check already passes is left alone. Never installs into the
# project's own .venv. torch is always pinned (an unpinned torch would pull a multi-GB CUDA build).
# Environment overrides: PYTHON (default python3), BENCH_DIR (default <repo>/.bench), FORCE=1.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="${BENCH_DIR:-$REPO_ROOT/.bench}"
PYTHON="${PYTHON:-python3}"
TORCH_PIN="torch==2.13.0"
TI_PIN="tree-influence==0.1.7"
VENV="$BENCH_DIR/venv-treeinf"

CHECK='import warnings; warnings.simplefilter("ignore")
import torch, sklearn, lightgbm, xgboost, numpy
from tree_influence.explainers import BoostIn, LeafInfluence
from tree_influence.explainers.parsers import _tree32, _tree64
assert torch.__version__.startswith("2.13.0"), torch.__version__'

log() { printf '[setup_tree_peers] %s\n' "$*" >&2; }

pipq() {  # pipq ARGS... (quiet pip, without the mirror's noisy 'Location ignored' lines)
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q "$@" 2>&1 \
    | { grep -v "^WARNING: Location '.*' is ignored" || true; }
  return "${PIPESTATUS[0]}"
}

if [[ "${FORCE:-0}" != "1" && -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c "$CHECK" >/dev/null 2>&1; then
  log "venv-treeinf already works: skipping"
  exit 0
fi
if [[ "${FORCE:-0}" == "1" && -d "$VENV" ]]; then
  log "FORCE=1: removing $VENV"
  rm -rf "$VENV"
fi
mkdir -p "$BENCH_DIR"
[[ -x "$VENV/bin/python" ]] || { log "creating $VENV with $PYTHON"; "$PYTHON" -m venv "$VENV"; }

log "installing $TORCH_PIN (pinned first)"
pipq "$TORCH_PIN"
log "installing numpy, scipy, scikit-learn, joblib, pandas, lightgbm, xgboost and the build tools"
pipq "$TORCH_PIN" "numpy<2" scipy scikit-learn joblib pandas lightgbm xgboost "Cython==3.0.10" setuptools wheel

WORK="$(mktemp -d "$BENCH_DIR/treeinf-build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
log "fetching the $TI_PIN sdist (its metadata step fails by design; the unpacked tree is kept)"
TMPDIR="$WORK" "$VENV/bin/python" -m pip download --disable-pip-version-check --no-clean --no-deps \
  --no-build-isolation "$TI_PIN" -d "$WORK/dl" >/dev/null 2>&1 || true
SRC="$(find "$WORK" -maxdepth 3 -type f -name setup.py -path '*tree-influence*' -printf '%h\n' | head -n1)"
if [[ -z "$SRC" || ! -f "$SRC/tree_influence/explainers/parsers/_tree32.c" ]]; then
  log "ERROR: could not unpack the $TI_PIN sdist (expected tree_influence/explainers/parsers/_tree32.c)"
  exit 1
fi
for n in 32 64; do
  pyx="$SRC/tree_influence/explainers/parsers/_tree$n.pyx"
  [[ -f "$pyx" ]] || { printf '# placeholder: the sdist ships only _tree%s.c\n' "$n" >"$pyx"; touch -d 2000-01-01 "$pyx"; }
done
log "building $TI_PIN from $SRC"
pipq "$TORCH_PIN" "numpy<2" --no-build-isolation "$SRC"

if ! "$VENV/bin/python" -c "$CHECK"; then
  log "ERROR: venv-treeinf import check failed"
  exit 1
fi
log "venv-treeinf ready: $VENV/bin/python"
