#!/usr/bin/env bash
# Collect the Python packages that .dev_scripts/gpu_lease/run_gpu_checks.sh needs on a GPU
# machine that has Python 3.12, torch (CUDA), torchvision, numpy 2, OpenCV, scipy,
# matplotlib, rich, pytest ... but no OpenMMLab package and no package registry.
#
# Writes wheels for CPython 3.12 / manylinux x86_64 into WHEELHOUSE (default
# .gpu_wheelhouse/ at the repository root, kept out of git through .git/info/exclude):
#   - the OpenMMLab stack at the versions of requirements/runtime.txt (pure Python), and
#     the few pure-Python or prebuilt packages they import that such a machine lacks;
#   - mmcv 2.0.1 *without* compiled ops, built here as a pure-Python wheel
#     (MMCV_WITH_OPS=0 names it mmcv-lite; it holds the same `mmcv` package). That is
#     all pretraining needs: mmtobias uses torchvision's RoIAlign / NMS;
#   - the mmcv 2.0.1 source release with the -std=c++20 patch (for the build below);
#   - with OPS_PYTHON=/path/to/python3.12 (a Python with the GPU machine's torch, e.g.
#     torch==2.11.0 from PyPI): mmcv 2.0.1 with CPU ops compiled here for that torch, in
#     mmcv-ops-torch<version>-cpu/ (about 30 minutes on 2 cores). run_gpu_checks.sh
#     compiles nothing: it installs this wheel if it loads with the torch there, so
#     that mmdet imports (InsLoc-FPN and the detection test); without it they skip;
#   - photos/: ~300 real photos packed by .dev_scripts/gpu_lease/pack_photos.py from
#     ../shared/data (when present), for the mask benchmark and the GPU mask test.
# On that machine, install with --no-deps (mmcv-lite does not satisfy mmdet's `mmcv`
# requirement by name):
#   python3 -m pip install --no-index --no-deps --target /tmp/site WHEELHOUSE/*.whl
#
# Usage: bash .dev_scripts/gpu_lease/make_gpu_wheelhouse.sh [WHEELHOUSE]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:-$ROOT/.gpu_wheelhouse}"
MMCV_VERSION="2.0.1"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || PY=python3
say() { printf '[gpu wheelhouse] %s\n' "$*"; }

pin() {  # the version requirements/runtime.txt pins for a package
  sed -n "s/^$1==\([^ #]*\).*/\1/p" "$ROOT/requirements/runtime.txt"
}

mkdir -p "$OUT"
if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
  case "$OUT" in
    "$ROOT"/*)
      rel="${OUT#"$ROOT"/}"
      if ! git -C "$ROOT" check-ignore -q "$rel/x.whl"; then
        echo "/$rel/" >> "$(git -C "$ROOT" rev-parse --git-dir)/info/exclude"
        say "added /$rel/ to .git/info/exclude (wheels are carried, never committed)"
      fi ;;
  esac
fi

# Pure-Python packages, and prebuilt ones for cp312 (pycocotools, shapely).
PACKAGES=(
  "mmengine==$(pin mmengine)" "mmpretrain==$(pin mmpretrain)" "mmdet==$(pin mmdet)"
  addict termcolor yapf platformdirs            # mmengine
  mat4py model-index markdown einops ordered-set 'importlib-metadata<9'  # mmpretrain (`modelindex` comes
  # from model-index: PyPI's modelindex is empty; importlib-metadata 9+ needs lazy_importer)
  terminaltables pycocotools shapely            # mmdet
  'setuptools>=77.0.3,<81'                      # pkg_resources, used by mmengine's configs
  pytest-timeout                                # setup.cfg's --timeout, the GPU tests' limits
)
say "downloading ${#PACKAGES[@]} packages for CPython 3.12 into $OUT"
"$PY" -m pip download --disable-pip-version-check --no-deps --only-binary=:all: \
  --python-version 3.12 --implementation cp --abi cp312 --abi abi3 --abi none \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any \
  -d "$OUT" "${PACKAGES[@]}"

if ! ls "$OUT"/mmcv_lite-"$MMCV_VERSION"-*.whl >/dev/null 2>&1 \
    || [ ! -f "$OUT/mmcv-$MMCV_VERSION-cxx20.tar.gz" ]; then
  build="$(mktemp -d)"
  trap 'rm -rf "$build"' EXIT
  "$PY" -m pip download --disable-pip-version-check --no-deps --no-binary :all: \
    "mmcv==$MMCV_VERSION" -d "$build"
  tar -xzf "$build/mmcv-$MMCV_VERSION.tar.gz" -C "$build"
  sed -i 's/-std=c++14/-std=c++20/g' "$build/mmcv-$MMCV_VERSION/setup.py"
  tar -czf "$OUT/mmcv-$MMCV_VERSION-cxx20.tar.gz" -C "$build" "mmcv-$MMCV_VERSION"
  say "building mmcv $MMCV_VERSION without ops (pure Python)"
  MMCV_WITH_OPS=0 "$PY" -m pip wheel --disable-pip-version-check --no-deps \
    --no-build-isolation -w "$OUT" "$build/mmcv-$MMCV_VERSION" -q
fi

if [ -n "${OPS_PYTHON:-}" ]; then
  tv="$("$OPS_PYTHON" -c 'import torch; print(torch.__version__)')"
  ops_dir="$OUT/mmcv-ops-torch$tv-cpu"
  if ! ls "$ops_dir"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
    say "compiling mmcv $MMCV_VERSION CPU ops for torch $tv with $OPS_PYTHON (long)"
    b="$(mktemp -d)"
    tar -xzf "$OUT/mmcv-$MMCV_VERSION-cxx20.tar.gz" -C "$b"
    # build needs: setuptools with pkg_resources (the wheelhouse's), wheel
    PYTHONPATH="$(mktemp -d)" && "$OPS_PYTHON" -m pip install -q --no-index --no-deps \
      --target "$PYTHONPATH" "$OUT"/setuptools-*.whl && export PYTHONPATH
    CUDA_VISIBLE_DEVICES="" MMCV_WITH_OPS=1 FORCE_CUDA=0 CFLAGS=-g0 \
      MAX_JOBS="${MAX_JOBS:-$(nproc)}" "$OPS_PYTHON" -m pip wheel -q --no-deps \
      --no-build-isolation -w "$ops_dir" "$b/mmcv-$MMCV_VERSION"
    unset PYTHONPATH
    rm -rf "$b"
  fi
fi

if [ ! -d "$OUT/photos" ] && [ -d "$ROOT/../shared/data" ]; then
  "$PY" "$ROOT/.dev_scripts/gpu_lease/pack_photos.py" --out "$OUT/photos"
fi

ls -1R "$OUT" > "$OUT/MANIFEST.txt"
say "$(wc -l < "$OUT/MANIFEST.txt") files, $(du -sh "$OUT" | cut -f1) in $OUT:"
sed 's/^/  /' "$OUT/MANIFEST.txt"
say "carry it to the GPU machine with the repository (device run: carry=['${OUT#"$ROOT"/}'])"
