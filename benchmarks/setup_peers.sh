#!/usr/bin/env bash
# Create the peer-library venvs used by `make bench` (see benchmarks/peers/README.md).
#
#   .bench/venv-pydvl : torch==2.13.0 (local CPU wheel) + pydvl[influence]==0.10.0
#   .bench/venv-odv   : torch==2.13.0 + OpenDataVal 1.3.0's pinned stack + opendataval==1.3.0
#                       (installed --no-deps) + a torchvision stub package
#
# Idempotent: a venv whose import check already passes is left alone. Never installs into
# the project's own .venv. torch is always installed pinned first: an unpinned torch would
# pull a multi-GB CUDA build.
#
# Environment overrides: PYTHON (default python3, must be 3.11), BENCH_DIR (default
# <repo>/.bench), FORCE=1 to recreate both venvs.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="${BENCH_DIR:-$REPO_ROOT/.bench}"
PYTHON="${PYTHON:-python3}"
TORCH_PIN="torch==2.13.0"

PYDVL_VENV="$BENCH_DIR/venv-pydvl"
ODV_VENV="$BENCH_DIR/venv-odv"

PYDVL_CHECK='import warnings; warnings.simplefilter("ignore")
import torch, sklearn, pydvl, pydvl.influence.torch, pydvl.valuation
assert pydvl.__version__ == "0.10.0", pydvl.__version__
assert torch.__version__.startswith("2.13.0"), torch.__version__'

ODV_CHECK='import warnings; warnings.simplefilter("ignore")
import torch, sklearn, opendataval, torchvision
from opendataval.dataval import LeaveOneOut, InfluenceFunction, KNNShapley, DataOob
from opendataval.dataloader import DataFetcher
from opendataval.model import ClassifierSkLearnWrapper
assert opendataval.__version__ == "1.3.0", opendataval.__version__
assert torch.__version__.startswith("2.13.0"), torch.__version__'

# OpenDataVal 1.3.0's pinned dependencies (the set that resolved on this machine, PEERS.md).
ODV_DEPS=(
  "numpy==1.25.2" "pandas==1.5.3" "scipy~=1.11.0" "scikit-learn~=1.3.0"
  "matplotlib~=3.8.0" "tqdm~=4.64.1" "pandera~=0.15.1" "typer~=0.9.0" "requests"
  "geomloss~=0.2.6" "torcheval~=0.0.7" "transformers~=4.35"
)

log() { printf '[setup_peers] %s\n' "$*" >&2; }

venv_ok() {  # venv_ok DIR CHECK_CODE
  [[ -x "$1/bin/python" ]] && "$1/bin/python" -c "$2" >/dev/null 2>&1
}

make_venv() {  # make_venv DIR
  if [[ "${FORCE:-0}" == "1" && -d "$1" ]]; then
    log "FORCE=1: removing $1"
    rm -rf "$1"
  fi
  if [[ ! -x "$1/bin/python" ]]; then
    log "creating venv $1 with $PYTHON"
    "$PYTHON" -m venv "$1"
  fi
  local ver
  ver="$("$1/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  if [[ "$ver" != "3.11" ]]; then
    log "WARNING: $1 uses Python $ver; the peers were measured with 3.11"
  fi
}

pipq() {  # pipq VENV ARGS... (quiet pip, without the mirror's noisy 'Location ignored' lines)
  local venv="$1"; shift
  "$venv/bin/python" -m pip install --disable-pip-version-check -q "$@" 2>&1 \
    | { grep -v "^WARNING: Location '.*' is ignored" || true; }
  return "${PIPESTATUS[0]}"
}

write_torchvision_stub() {  # write_torchvision_stub VENV
  # OpenDataVal imports torchvision eagerly (opendataval/dataloader/datasets/imagesets.py:
  # transforms, transforms.functional, datasets.{MNIST,...,VisionDataset}, and lazily
  # models.resnet). PyPI's torchvision does not import beside the CPU torch 2.13 wheel, so this
  # benchmark-only venv gets a stub that satisfies those imports; using any image data set raises.
  local site
  site="$("$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  local pkg="$site/torchvision"
  rm -rf "$pkg"
  mkdir -p "$pkg/transforms" "$pkg/datasets" "$pkg/models"
  cat >"$pkg/__init__.py" <<'EOF'
"""Stub of torchvision for samplescope's benchmark venv (NOT the real package).

It only provides the names OpenDataVal 1.3.0 imports at module load so that `import opendataval`
works; every callable raises. Created by benchmarks/setup_peers.sh.
"""
__version__ = "0.0.0+samplescope.stub"
IS_SAMPLESCOPE_STUB = True


def _unavailable(name):
    def _raise(*args, **kwargs):
        raise RuntimeError(f"torchvision.{name} is a stub in this benchmark venv")
    _raise.__name__ = name.rsplit(".", 1)[-1]
    return _raise


from . import datasets, models, transforms  # noqa: E402,F401
EOF
  cat >"$pkg/transforms/__init__.py" <<'EOF'
from torchvision import _unavailable
from . import functional  # noqa: F401


class _StubTransform:
    def __init__(self, *args, **kwargs):
        raise RuntimeError(f"torchvision.transforms.{type(self).__name__} is a stub")


class Compose(_StubTransform): pass
class Resize(_StubTransform): pass
class ToTensor(_StubTransform): pass
class Normalize(_StubTransform): pass
class ToPILImage(_StubTransform): pass
EOF
  cat >"$pkg/transforms/functional.py" <<'EOF'
from torchvision import _unavailable

to_pil_image = _unavailable("transforms.functional.to_pil_image")
to_tensor = _unavailable("transforms.functional.to_tensor")
EOF
  cat >"$pkg/datasets/__init__.py" <<'EOF'
from torch.utils.data import Dataset


class VisionDataset(Dataset):
    def __init__(self, *args, **kwargs):
        raise RuntimeError(f"torchvision.datasets.{type(self).__name__} is a stub")


class MNIST(VisionDataset): pass
class FashionMNIST(MNIST): pass
class CIFAR10(VisionDataset): pass
class CIFAR100(CIFAR10): pass
class STL10(VisionDataset): pass
class SVHN(VisionDataset): pass
EOF
  cat >"$pkg/models/__init__.py" <<'EOF'
from . import resnet  # noqa: F401
EOF
  cat >"$pkg/models/resnet.py" <<'EOF'
from torchvision import _unavailable

resnet50 = _unavailable("models.resnet.resnet50")


class ResNet50_Weights:
    DEFAULT = None
    IMAGENET1K_V1 = None
    IMAGENET1K_V2 = None
EOF
}

setup_pydvl() {
  if [[ "${FORCE:-0}" != "1" ]] && venv_ok "$PYDVL_VENV" "$PYDVL_CHECK"; then
    log "venv-pydvl already works: skipping"; return 0
  fi
  make_venv "$PYDVL_VENV"
  log "venv-pydvl: installing $TORCH_PIN"
  pipq "$PYDVL_VENV" "$TORCH_PIN"
  log "venv-pydvl: installing pydvl[influence]==0.10.0"
  # keep torch pinned while resolving pydvl's dependencies
  pipq "$PYDVL_VENV" "$TORCH_PIN" "pydvl[influence]==0.10.0"
  if ! "$PYDVL_VENV/bin/python" -c "$PYDVL_CHECK"; then
    log "ERROR: venv-pydvl import check failed"; return 1
  fi
  log "venv-pydvl ready"
}

setup_odv() {
  if [[ "${FORCE:-0}" != "1" ]] && venv_ok "$ODV_VENV" "$ODV_CHECK"; then
    log "venv-odv already works: skipping"; return 0
  fi
  make_venv "$ODV_VENV"
  log "venv-odv: installing $TORCH_PIN"
  pipq "$ODV_VENV" "$TORCH_PIN"
  log "venv-odv: installing OpenDataVal's pinned dependencies"
  pipq "$ODV_VENV" "$TORCH_PIN" "${ODV_DEPS[@]}"
  log "venv-odv: installing opendataval==1.3.0 --no-deps"
  pipq "$ODV_VENV" --no-deps "opendataval==1.3.0"
  if ! "$ODV_VENV/bin/python" -c 'import torchvision' >/dev/null 2>&1 \
     || "$ODV_VENV/bin/python" -c 'import torchvision, sys; sys.exit(0 if getattr(torchvision, "IS_SAMPLESCOPE_STUB", False) else 1)' >/dev/null 2>&1; then
    log "venv-odv: writing torchvision stub"
    write_torchvision_stub "$ODV_VENV"
  fi
  if ! "$ODV_VENV/bin/python" -c "$ODV_CHECK"; then
    log "ERROR: venv-odv import check failed"; return 1
  fi
  log "venv-odv ready"
}

mkdir -p "$BENCH_DIR"
setup_pydvl
setup_odv
log "done: $PYDVL_VENV/bin/python and $ODV_VENV/bin/python"
