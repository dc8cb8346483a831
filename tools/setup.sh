#!/usr/bin/env bash
# One-command setup for mmtobias: creates .venv/ at the repository root and installs
# the OpenMMLab stack that works together on a 2026 toolchain (see README, "Supported
# versions"), including mmcv 2.0.1 with its compiled ops.
#
# mmcv has no wheels on PyPI. Its source release is built once, with one patch
# (-std=c++14 -> -std=c++20, which torch >= 2.10 headers require), and the wheel is
# cached outside the repository in $MMTOBIAS_CACHE (default ~/.cache/mmtobias), so a
# second run or a second clone on the same machine reuses it.
#
# Usage: bash tools/setup.sh            (idempotent; a second run changes nothing)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
CACHE="${MMTOBIAS_CACHE:-$HOME/.cache/mmtobias}"
WHEELS="$CACHE/wheels"
MMCV_VERSION="2.0.1"
PYTHON="${PYTHON:-python3}"

step() { printf '\n[mmtobias setup] %s\n' "$*"; }
fail() { printf '\n[mmtobias setup] FAILED: %s\n' "$*" >&2; exit 1; }
trap 'fail "command on line $LINENO exited with status $? (see the output above)"' ERR

step "checking Python"
"$PYTHON" - <<'EOF' || fail "Python 3.11 is required (set PYTHON=/path/to/python3.11)"
import sys
sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)
EOF

if [ ! -x "$VENV/bin/python" ]; then
  step "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)

# A stamp of everything that decides what is installed: a second run with the same
# inputs only verifies that the packages import.
STAMP="$VENV/.mmtobias-setup-stamp"
want_stamp="$(cat "$ROOT"/requirements/*.txt "$ROOT/setup.py" "$0" | sha256sum | cut -c1-16)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_stamp" ]; then
  step "environment is up to date (stamp $want_stamp); checking imports"
  "$PY" -c "import mmcv.ops, mmdet, mmpretrain, mmtobias; print('mmcv', mmcv.__version__, 'ops ok')" \
    && { step "done: activate with 'source .venv/bin/activate'"; exit 0; }
  step "import check failed; reinstalling"
fi

step "installing torch and torchvision (CPU is enough; pip takes them from local disk when present)"
"${PIP[@]}" install -r "$ROOT/requirements/torch.txt" 'setuptools>=77.0.3,<81' wheel ninja 'numpy<2'

step "mmcv $MMCV_VERSION with compiled ops"
mkdir -p "$WHEELS"
wheel="$(ls "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n 1 || true)"
if [ -z "$wheel" ]; then
  step "no cached mmcv wheel in $WHEELS: building it from the source release (about 10 minutes on 2 cores)"
  build="$(mktemp -d "$CACHE/build.XXXXXX")"
  "${PIP[@]}" download --no-deps --no-binary :all: "mmcv==$MMCV_VERSION" -d "$build" \
    || fail "could not download the mmcv $MMCV_VERSION source release from PyPI"
  tar -xzf "$build"/mmcv-"$MMCV_VERSION".tar.gz -C "$build"
  src="$build/mmcv-$MMCV_VERSION"
  # torch >= 2.10 headers refuse anything older than C++20.
  grep -q -- "-std=c++14" "$src/setup.py" || fail "mmcv setup.py no longer has -std=c++14: the patch needs review"
  sed -i 's/-std=c++14/-std=c++20/g' "$src/setup.py"
  MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
    "${PIP[@]}" wheel --no-build-isolation --no-deps -w "$build/dist" "$src" \
    || fail "building mmcv $MMCV_VERSION failed (compiler output above)"
  built="$(ls "$build"/dist/mmcv-*.whl)"
  # Atomic publish: a half-copied wheel is never visible under its final name.
  cp "$built" "$WHEELS/.tmp-$(basename "$built")"
  mv "$WHEELS/.tmp-$(basename "$built")" "$WHEELS/$(basename "$built")"
  rm -rf "$build"
  wheel="$WHEELS/$(basename "$built")"
else
  step "reusing cached $wheel"
fi


step "installing the OpenMMLab stack"
# One resolver run, so mmcv's loose requirements cannot pull numpy 2 / opencv 5 first.
# mmselfsup is optional for users (mmtobias registers into it when present); the
# environment has it so that the mmselfsup/mmpretrain coexistence fix is tested.
"${PIP[@]}" install "$wheel" -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/optional.txt"

step "installing mmtobias (editable) with its test extras"
"${PIP[@]}" install --no-build-isolation --no-deps -e "$ROOT"
"${PIP[@]}" install -r "$ROOT/requirements/tests.txt"

step "verifying"
"$PY" - <<'EOF'
import torch, mmcv, mmengine, mmdet, mmpretrain
from mmcv.ops import RoIAlign, nms  # noqa: F401  (compiled ops)
import mmtobias  # noqa: F401
print(f'torch {torch.__version__}  mmcv {mmcv.__version__}  mmengine {mmengine.__version__}  '
      f'mmdet {mmdet.__version__}  mmpretrain {mmpretrain.__version__}')
EOF
echo "$want_stamp" > "$STAMP"
step "done: activate with 'source .venv/bin/activate'"
