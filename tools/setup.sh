#!/usr/bin/env bash
# One-command setup for mmtobias: creates .venv/ at the repository root and installs
# the OpenMMLab stack that works together on a 2026 toolchain (see README, "Supported
# versions"), including mmcv 2.0.1 with its compiled ops, for CUDA where CUDA is usable.
#
# mmcv has no wheels on PyPI. Its source release is built once, with one patch
# (-std=c++14 -> -std=c++20, which torch >= 2.10 headers require), and the wheel is
# cached outside the repository in $MMTOBIAS_CACHE (default ~/.cache/mmtobias) under a
# key that names everything the binary depends on:
#     wheels/mmcv-2.0.1+cp311+torch2.14.1+cpu/          CPU ops only, for Python 3.11
#     wheels/mmcv-2.0.1+cp312+torch2.14.1+cu130+sm90/   CUDA 13.0 ops for compute capability 9.0
# so a second run or a second clone reuses it, and a CPU build made on a login node is
# never reused on a GPU node (nor a build for other GPUs, another torch or another Python).
#
# Python: 3.10, 3.11 or 3.12. PYTHON=/path/to/python chooses; by default an existing
# .venv keeps its Python, else the newest of python3.12, python3.11, python3.10 that runs.
#
# Which ops (MMTOBIAS_MMCV_OPS):
#   auto (default)  CUDA ops when torch is a CUDA build, an nvcc of the same CUDA major
#                   version is found and a GPU is visible; CPU ops otherwise, saying why
#   cuda            CUDA ops, or stop before compiling with what is missing
#   cpu             CPU ops only (fastest build; mmdet's RoIAlign/NMS then fail on CUDA
#                   tensors, while pretraining (MoCo v2, SimCLR, Tobias, InsLoc-C4) and
#                   mask generation need no compiled mmcv op at all)
# Other variables: TORCH_CUDA_ARCH_LIST (e.g. "8.0;9.0"; default: the visible GPUs'),
# CUDA_HOME (the toolkit; default: the nvcc on PATH, else /usr/local/cuda), MAX_JOBS
# (parallel compile jobs; default: the number of cores), PYTHON (the interpreter that
# creates .venv; see above).
#
# Usage: bash tools/setup.sh            (idempotent; a second run changes nothing)
#        bash tools/setup.sh --plan     (say which mmcv ops would be built, and why; no change)
#        MMTOBIAS_MMCV_OPS=cuda TORCH_CUDA_ARCH_LIST="9.0" bash tools/setup.sh
# Afterwards: .venv/bin/python tools/collect_env.py   (versions, GPUs, which mmcv ops)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
CACHE="${MMTOBIAS_CACHE:-$HOME/.cache/mmtobias}"
WHEELS="$CACHE/wheels"
MMCV_VERSION="2.0.1"
SUPPORTED_PYTHONS="3.12 3.11 3.10"  # newest first: the default is the first that runs
OPS_MODE="${MMTOBIAS_MMCV_OPS:-auto}"
PY="$VENV/bin/python"

step() { printf '\n[mmtobias setup] %s\n' "$*"; }
fail() { printf '\n[mmtobias setup] FAILED: %s\n' "$*" >&2; exit 1; }
trap 'fail "command on line $LINENO exited with status $? (see the output above)"' ERR

case "$OPS_MODE" in
  auto|cuda|cpu) ;;
  *) fail "MMTOBIAS_MMCV_OPS=$OPS_MODE is not one of auto, cuda, cpu" ;;
esac

# --- what the machine offers, and which mmcv ops that allows -----------------------
# The CUDA toolkit to compile with, looked for as torch's extension builder does
# (CUDA_HOME, CUDA_PATH, the nvcc on PATH, /usr/local/cuda), but only a folder that holds
# a toolkit (bin/nvcc and include/cuda_runtime.h): a wrapper script in /usr/local/bin is
# not one.
find_cuda_home() {
  local d nvcc
  for d in "${CUDA_HOME:-}" "${CUDA_PATH:-}"; do
    if [ -n "$d" ] && [ -x "$d/bin/nvcc" ]; then echo "$d"; return; fi
  done
  if nvcc="$(command -v nvcc 2>/dev/null)"; then
    d="$(dirname "$(dirname "$(readlink -f "$nvcc")")")"
    if [ -f "$d/include/cuda_runtime.h" ]; then echo "$d"; return; fi
  fi
  if [ -x /usr/local/cuda/bin/nvcc ]; then echo /usr/local/cuda; fi
}

# "8.0;9.0+PTX" or "8.0 9.0" -> "sm80_90ptx" (part of the cache key)
arch_tag() {
  echo "sm$(echo "$1" | tr ' ,' ';;' | tr -s ';' | sed 's/^;//; s/;$//; s/\.//g; s/+PTX/ptx/gI; s/;/_/g')"
}

# Sets TORCH_VERSION TORCH_CUDA GPUS GPU_CAPS GPU_NAMES CUDA_DIR NVCC NVCC_VERSION, and
# the decision: OPS (cuda|cpu) ARCH_LIST KEY PLAN WHY.
plan_ops() {
  local info toolchain_why=""
  info="$("$PY" - <<'EOF'
import sys
import torch
n = torch.cuda.device_count() if torch.cuda.is_available() else 0
caps = sorted({'%d.%d' % torch.cuda.get_device_capability(i) for i in range(n)})
names = sorted({torch.cuda.get_device_name(i) for i in range(n)})
print(torch.__version__, torch.version.cuda or 'none', n, ';'.join(caps) or 'none',
      ', '.join(names) or 'none', 'cp%d%d' % sys.version_info[:2], sep='\n')
EOF
)" || fail "torch does not import in $VENV (see above); delete $VENV and run again"
  { read -r TORCH_VERSION; read -r TORCH_CUDA; read -r GPUS; read -r GPU_CAPS; read -r GPU_NAMES
    read -r PYTAG; } <<<"$info"
  CUDA_DIR="$(find_cuda_home || true)"
  NVCC="${CUDA_DIR:+$CUDA_DIR/bin/nvcc}"
  if [ -z "$NVCC" ] && command -v nvcc >/dev/null 2>&1; then NVCC="$(command -v nvcc)"; fi
  NVCC_VERSION="none"
  if [ -n "$NVCC" ]; then
    NVCC_VERSION="$("$NVCC" --version 2>/dev/null | sed -n 's/.*release \([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' | head -n 1)"
    NVCC_VERSION="${NVCC_VERSION:-unknown}"
  fi

  if [ "$TORCH_CUDA" = "none" ]; then
    toolchain_why="torch $TORCH_VERSION is a CPU-only build: install a CUDA build of torch for CUDA ops"
  elif [ -z "$NVCC" ]; then
    toolchain_why="no nvcc found (CUDA_HOME, CUDA_PATH, PATH, /usr/local/cuda) and torch $TORCH_VERSION is built for CUDA $TORCH_CUDA: install the CUDA ${TORCH_CUDA%%.*}.x toolkit and set CUDA_HOME to it"
  elif [ "${NVCC_VERSION%%.*}" != "${TORCH_CUDA%%.*}" ]; then
    toolchain_why="nvcc $NVCC_VERSION found ($NVCC), but torch $TORCH_VERSION is built for CUDA $TORCH_CUDA and torch's extension builder refuses another major version: install the CUDA ${TORCH_CUDA%%.*}.x toolkit and set CUDA_HOME to it"
  elif [ -z "$CUDA_DIR" ]; then
    toolchain_why="nvcc $NVCC_VERSION ($NVCC) is not inside a CUDA toolkit folder (bin/nvcc, include/cuda_runtime.h): set CUDA_HOME to the toolkit"
  fi
  ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-}"
  if [ -z "$ARCH_LIST" ] && [ "$GPUS" -gt 0 ]; then ARCH_LIST="$GPU_CAPS"; fi

  OPS=cpu
  WHY=""
  case "$OPS_MODE" in
    cuda)
      [ -z "$toolchain_why" ] || fail "MMTOBIAS_MMCV_OPS=cuda cannot be met: $toolchain_why; or set MMTOBIAS_MMCV_OPS=cpu."
      [ -n "$ARCH_LIST" ] || fail "MMTOBIAS_MMCV_OPS=cuda cannot be met: no GPU is visible to take the compute capabilities from: set TORCH_CUDA_ARCH_LIST (\"8.0\" A100, \"8.6\" A40/RTX 30xx, \"8.9\" L40/RTX 40xx, \"9.0\" H100/H200, \"10.0\" B200; several with ';')."
      OPS=cuda ;;
    auto)
      if [ -z "$toolchain_why" ] && [ "$GPUS" -gt 0 ]; then
        OPS=cuda
      elif [ -n "$toolchain_why" ]; then
        WHY="$toolchain_why"
        if [ "$GPUS" -eq 0 ]; then WHY="$WHY (and no GPU is visible here)"; fi
      else
        WHY="nvcc $NVCC_VERSION matches torch's CUDA $TORCH_CUDA, but no GPU is visible here. Run this script on a GPU node (its CUDA build is cached apart), or build CUDA ops here, which takes far longer: MMTOBIAS_MMCV_OPS=cuda TORCH_CUDA_ARCH_LIST=\"9.0\" bash tools/setup.sh (your GPUs' compute capabilities)"
      fi ;;
    cpu)
      WHY="MMTOBIAS_MMCV_OPS=cpu" ;;
  esac
  if [ "$OPS" = cuda ]; then
    KEY="mmcv-$MMCV_VERSION+$PYTAG+torch${TORCH_VERSION%%+*}+cu${TORCH_CUDA//./}+$(arch_tag "$ARCH_LIST")"
    PLAN="CUDA $TORCH_CUDA ops for compute capability $ARCH_LIST, and CPU ops"
  else
    KEY="mmcv-$MMCV_VERSION+$PYTAG+torch${TORCH_VERSION%%+*}+cpu"
    PLAN="CPU ops only"
  fi
}

say_plan() {
  step "mmcv ops: $PLAN (MMTOBIAS_MMCV_OPS=$OPS_MODE)"
  printf '  torch %s (CUDA %s); nvcc %s%s; GPUs: %s%s\n' "$TORCH_VERSION" "$TORCH_CUDA" \
    "$NVCC_VERSION" "${NVCC:+ at $NVCC}" "$GPUS" \
    "$( [ "$GPUS" -gt 0 ] && echo " ($GPU_NAMES, compute capability $GPU_CAPS)" )"
  printf '  cache key: %s\n' "$KEY"
  if [ "$OPS" = cpu ] && [ -n "$WHY" ]; then
    printf '  why not CUDA: %s.\n' "$WHY"
    printf '  With CPU ops, mmdet (detection transfer) runs its RoIAlign/NMS on CPU tensors only;\n'
    printf '  pretraining (MoCo v2, SimCLR, Tobias, InsLoc-C4) and mask generation use no mmcv op.\n'
    printf '  Force a choice with MMTOBIAS_MMCV_OPS=cuda or MMTOBIAS_MMCV_OPS=cpu.\n'
  fi
}

# mmcv in the venv: "cuda", "cpu", or "missing"
installed_ops() {
  "$PY" - <<'EOF' 2>/dev/null || echo missing
import mmcv.ops
from mmcv.ops import get_compiling_cuda_version
print('cpu' if get_compiling_cuda_version() == 'not available' else 'cuda')
EOF
}

verify() {  # the packages import, and mmcv has the ops wanted ("cpu" accepts CUDA ones)
  local want="$1" got
  got="$("$PY" -c 'import mmcv.ops, mmdet, mmpretrain, mmtobias
from mmcv.ops import get_compiling_cuda_version
print("cpu" if get_compiling_cuda_version() == "not available" else "cuda")' 2>/dev/null)" \
    || return 1
  if [ "$want" = cuda ] && [ "$got" != cuda ]; then return 1; fi
  if [ "$OPS_MODE" = cpu ] && [ "$got" != cpu ]; then return 1; fi
  echo "mmcv $MMCV_VERSION with $got ops, mmdet, mmpretrain, mmtobias: ok"
}

if [ "${1:-}" = "--plan" ]; then  # say what would be built, change nothing
  "$PY" -c 'import torch' 2>/dev/null \
    || fail "--plan needs torch in $VENV: run bash tools/setup.sh once first"
  plan_ops
  say_plan
  exit 0
elif [ -n "${1:-}" ]; then
  fail "unknown argument '$1' (usage: bash tools/setup.sh [--plan])"
fi

# "3.11" when $1 is a supported Python that runs, else nothing
python_version() {
  "$1" - "$SUPPORTED_PYTHONS" 2>/dev/null <<'EOF' || true
import sys
version = '%d.%d' % sys.version_info[:2]
if version in sys.argv[1].split():
    print(version)
EOF
}

step "choosing Python (supported: ${SUPPORTED_PYTHONS// /, })"
if [ -n "${PYTHON:-}" ]; then
  PY_VERSION="$(python_version "$PYTHON")"
  [ -n "$PY_VERSION" ] || fail "PYTHON=$PYTHON is not a Python ${SUPPORTED_PYTHONS// / or } that runs here; set PYTHON to one (e.g. PYTHON=python3.12)"
  if [ -x "$PY" ] && [ "$(python_version "$PY")" != "$PY_VERSION" ]; then
    fail "$VENV has Python $(python_version "$PY"), not the $PY_VERSION of PYTHON=$PYTHON: delete $VENV to change its Python, or leave PYTHON unset"
  fi
elif [ -x "$PY" ] && [ -n "$(python_version "$PY")" ]; then
  PYTHON="$PY"  # an existing venv keeps its Python
  PY_VERSION="$(python_version "$PY")"
elif [ -x "$PY" ]; then
  fail "$VENV has a Python that is not ${SUPPORTED_PYTHONS// / or }: delete $VENV and run again"
else
  PY_VERSION=""
  for v in $SUPPORTED_PYTHONS; do
    PY_VERSION="$(python_version "python$v")"
    if [ -n "$PY_VERSION" ]; then PYTHON="python$v"; break; fi
  done
  [ -n "$PY_VERSION" ] || fail "none of python${SUPPORTED_PYTHONS// /, python} runs here: install one, or set PYTHON=/path/to/python3.X"
fi
printf '  Python %s (%s)\n' "$PY_VERSION" "$PYTHON"

if [ ! -x "$VENV/bin/python" ]; then
  step "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$PY" -m pip --disable-pip-version-check)

# A stamp of everything that decides what is installed: a second run with the same
# inputs only verifies that the packages import.
STAMP="$VENV/.mmtobias-setup-stamp"
inputs="$(cat "$ROOT"/requirements/*.txt "$ROOT/setup.py" "$ROOT/tools/setup.sh" | sha256sum | cut -c1-16)"
if [ -f "$STAMP" ] && "$PY" -c 'import torch' 2>/dev/null; then
  plan_ops
  have="$(cat "$STAMP")"
  keep=""
  if [ "$have" = "$inputs $KEY" ]; then
    keep="$KEY"
  elif [ "$OPS_MODE" = auto ] && [ "$OPS" = cpu ] && \
      [[ "$have" == "$inputs mmcv-$MMCV_VERSION+torch${TORCH_VERSION%%+*}+cu"* ]]; then
    # A CUDA build (made on a GPU node sharing this venv) also runs everything on CPU.
    keep="${have#* }"
  fi
  if [ -n "$keep" ]; then
    step "environment is up to date (stamp $inputs, $keep); checking imports"
    verify "$( [[ "$keep" == *+cpu ]] && echo cpu || echo cuda )" && {
      step "done: activate with 'source .venv/bin/activate'; report: .venv/bin/python tools/collect_env.py"
      exit 0; }
    step "import check failed; reinstalling"
  fi
fi

step "installing torch and torchvision (pip takes them from local disk when present)"
"${PIP[@]}" install -r "$ROOT/requirements/torch.txt" 'setuptools>=77.0.3,<81' wheel ninja 'numpy<2'

plan_ops
say_plan   # before anything is compiled

step "mmcv $MMCV_VERSION: $PLAN"
mkdir -p "$WHEELS/$KEY"
pytag="$("$PY" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')"
wheel="$(ls "$WHEELS/$KEY"/mmcv-"$MMCV_VERSION"-"$pytag"-*.whl 2>/dev/null | head -n 1 || true)"
if [ -z "$wheel" ]; then
  if [ "$OPS" = cuda ]; then
    step "no cached wheel in $WHEELS/$KEY: building it from the source release (CUDA ops: 30 minutes to hours, depending on cores and architectures)"
  else
    step "no cached wheel in $WHEELS/$KEY: building it from the source release (CPU ops: about 15 minutes on 2 cores)"
  fi
  build="$(mktemp -d "$CACHE/build.XXXXXX")"
  "${PIP[@]}" download --no-deps --no-binary :all: "mmcv==$MMCV_VERSION" -d "$build" \
    || fail "could not download the mmcv $MMCV_VERSION source release from PyPI"
  tar -xzf "$build"/mmcv-"$MMCV_VERSION".tar.gz -C "$build"
  src="$build/mmcv-$MMCV_VERSION"
  # torch >= 2.10 headers refuse anything older than C++20.
  grep -q -- "-std=c++14" "$src/setup.py" || fail "mmcv setup.py no longer has -std=c++14: the patch needs review"
  sed -i 's/-std=c++14/-std=c++20/g' "$src/setup.py"
  if [ "$OPS" = cuda ]; then
    # mmcv compiles CUDA ops when FORCE_CUDA=1 (or a GPU is visible).
    MMCV_WITH_OPS=1 FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$ARCH_LIST" CUDA_HOME="$CUDA_DIR" \
      MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
      "${PIP[@]}" wheel --no-build-isolation --no-deps -w "$build/dist" "$src" \
      || fail "building mmcv $MMCV_VERSION with CUDA ops failed (compiler output above); MMTOBIAS_MMCV_OPS=cpu builds the CPU ops only"
  else
    # mmcv's setup.py also compiles CUDA ops whenever torch sees a GPU: hide them.
    CUDA_VISIBLE_DEVICES="" MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
      "${PIP[@]}" wheel --no-build-isolation --no-deps -w "$build/dist" "$src" \
      || fail "building mmcv $MMCV_VERSION failed (compiler output above)"
  fi
  built="$(ls "$build"/dist/mmcv-*.whl)"
  # Atomic publish: a half-copied wheel is never visible under its final name.
  cp "$built" "$WHEELS/$KEY/.tmp-$(basename "$built")"
  mv "$WHEELS/$KEY/.tmp-$(basename "$built")" "$WHEELS/$KEY/$(basename "$built")"
  rm -rf "$build"
  wheel="$WHEELS/$KEY/$(basename "$built")"
else
  step "reusing cached $wheel"
fi

step "installing the OpenMMLab stack"
# One resolver run, so mmcv's loose requirements cannot pull numpy 2 / opencv 5 first.
# mmselfsup is optional for users (mmtobias registers into it when present); the
# environment has it so that the mmselfsup/mmpretrain coexistence fix is tested.
"${PIP[@]}" install "$wheel" -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/optional.txt"
if [ "$(installed_ops)" != "$OPS" ]; then  # the same version with other ops was in
  "${PIP[@]}" install --force-reinstall --no-deps "$wheel"
fi

step "installing mmtobias (editable) with its test extras"
"${PIP[@]}" install --no-build-isolation --no-deps -e "$ROOT"
"${PIP[@]}" install -r "$ROOT/requirements/tests.txt"

step "verifying"
"$PY" - <<'EOF'
import torch, mmcv, mmengine, mmdet, mmpretrain
from mmcv.ops import RoIAlign, nms, get_compiling_cuda_version  # noqa: F401  (compiled ops)
import mmtobias  # noqa: F401
print(f'torch {torch.__version__}  mmcv {mmcv.__version__}  mmengine {mmengine.__version__}  '
      f'mmdet {mmdet.__version__}  mmpretrain {mmpretrain.__version__}  '
      f'mmcv ops for CUDA: {get_compiling_cuda_version()}')
EOF
[ "$(installed_ops)" = "$OPS" ] || fail "the installed mmcv has $(installed_ops) ops, expected $OPS"
echo "$inputs $KEY" > "$STAMP"
step "done: activate with 'source .venv/bin/activate'; report: .venv/bin/python tools/collect_env.py"
