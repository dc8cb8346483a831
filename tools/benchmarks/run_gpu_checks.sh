#!/usr/bin/env bash
# The GPU checks of mmtobias in one prepared run: environment report, the GPU tests
# (tests/test_gpu/) and the GPU benchmark (tools/benchmarks/gpu_benchmark.py). Results go
# to OUT_DIR (default $OUT, else work_dirs/gpu_checks), at most 8 files, one level deep:
#   collect_env.json  gpu_tests.log  gpu_tests.xml  gpu_benchmark.json
#   gpu_benchmark.log  mmcv_build.log  summary.txt
#
# For a machine that has Python 3.12 with torch (CUDA), torchvision, numpy, OpenCV and
# pytest but no OpenMMLab package and no registry: when mmengine does not import, the
# wheels of WHEELHOUSE (default .gpu_wheelhouse/, made beforehand where a registry is
# reachable by tools/benchmarks/make_gpu_wheelhouse.sh) are installed into /tmp, and
# mmcv's CPU ops are compiled there in the background from the patched source in the
# wheelhouse (16 cores: a few minutes) while the pretraining tests run, so that mmdet,
# hence InsLoc-FPN, imports. mmcv's CUDA ops are not compiled (far too long for a short
# GPU lease): the detection test then skips and says why. In an environment made by
# tools/setup.sh nothing is installed.
#
# Usage: bash tools/benchmarks/run_gpu_checks.sh [OUT_DIR]
# Variables: PYTHON (default python3), WHEELHOUSE, BENCH_ARGS (extra gpu_benchmark.py
# arguments, e.g. "--num-images 20000"), BUILD_MMCV_OPS=auto|0 (default auto),
# BUILD_DEADLINE (seconds from the start after which an unfinished mmcv build is stopped,
# default 330; with the benchmark after it the run is estimated at 8 minutes on a
# 16-core H200 machine, not yet measured: give the device call timeout_s=600).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT_DIR="${1:-${OUT:-$ROOT/work_dirs/gpu_checks}}"
WHEELHOUSE="${WHEELHOUSE:-$ROOT/.gpu_wheelhouse}"
PY="${PYTHON:-python3}"
SITE=/tmp/mmtobias_site
OPS_SITE=/tmp/mmtobias_site_ops
MMCV_VERSION=2.0.1
BUILD_DEADLINE="${BUILD_DEADLINE:-330}"
mkdir -p "$OUT_DIR"
SUMMARY="$OUT_DIR/summary.txt"
: > "$SUMMARY"
T0=$(date +%s)
say() { printf '[gpu checks +%ss] %s\n' "$(( $(date +%s) - T0 ))" "$*" | tee -a "$SUMMARY"; }
export PYTHONUNBUFFERED=1
cd "$ROOT"

say "$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -n 1 || echo 'nvidia-smi: none')"
say "python: $("$PY" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "CUDA", torch.version.cuda, "GPU", torch.cuda.is_available())')"

# --- packages ----------------------------------------------------------------------
BUILD_PID=""
rm -rf "$OPS_SITE"
if ! "$PY" -c 'import mmengine, mmpretrain' 2>/dev/null; then
  ls "$WHEELHOUSE"/*.whl >/dev/null 2>&1 \
    || { say "FAILED: no OpenMMLab packages and no wheels in $WHEELHOUSE (make them with tools/benchmarks/make_gpu_wheelhouse.sh)"; exit 1; }
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SITE" "$WHEELHOUSE"/*.whl || { say "FAILED: installing the wheelhouse"; exit 1; }
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
  say "installed $(ls "$WHEELHOUSE"/*.whl | wc -l) wheels into $SITE (mmcv without compiled ops)"

  # mmcv with CPU ops prebuilt for exactly this torch (make_gpu_wheelhouse.sh OPS_PYTHON=...)
  torch_version="$("$PY" -c 'import torch; print(torch.__version__)')"
  prebuilt="$(ls "$WHEELHOUSE/mmcv-ops-torch$torch_version-cpu"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n 1)"
  if [ -n "$prebuilt" ] && "$PY" -m pip install -q --no-index --no-deps --no-compile \
      --target "$OPS_SITE" "$prebuilt" && PYTHONPATH="$OPS_SITE:$PYTHONPATH" "$PY" -c \
      'import torch; from mmcv.ops import RoIAlign; RoIAlign((7, 7), 1 / 16)(torch.rand(1, 4, 8, 8), torch.tensor([[0., 0., 0., 64., 64.]]))' \
      >/dev/null 2>&1; then
    export PYTHONPATH="$OPS_SITE:$PYTHONPATH"
    say "mmcv with CPU ops (prebuilt for torch $torch_version) installed into $OPS_SITE"
    BUILD_MMCV_OPS=0
  elif [ -n "$prebuilt" ]; then
    rm -rf "$OPS_SITE"
    say "the prebuilt mmcv CPU ops do not load with this torch: compiling them instead"
  fi
  src="$WHEELHOUSE/mmcv-$MMCV_VERSION-cxx20.tar.gz"
  has_headers="$("$PY" -c 'import os, sysconfig; print(int(os.path.isfile(os.path.join(sysconfig.get_paths()["include"], "Python.h"))))' 2>/dev/null || echo 0)"
  if [ "${BUILD_MMCV_OPS:-auto}" != 0 ] && [ -f "$src" ] && command -v g++ >/dev/null \
      && [ "$has_headers" = 1 ]; then
    jobs=$(( $(nproc) > 4 ? $(nproc) - 2 : 2 ))
    say "compiling mmcv's CPU ops in the background ($jobs jobs; log mmcv_build.log)"
    cat > /tmp/mmtobias_mmcv_build.sh <<EOF
set -e
b=/tmp/mmcv_build; rm -rf "\$b"; mkdir -p "\$b"; tar -xzf "$src" -C "\$b"
# CUDA_VISIBLE_DEVICES="": mmcv's setup.py compiles CUDA ops whenever it sees a GPU;
# CFLAGS=-g0: no debug info (a 2 MB wheel instead of 32 MB, faster to link and zip)
CUDA_VISIBLE_DEVICES="" MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=$jobs CFLAGS=-g0 nice -n 5 \\
  "$PY" -m pip wheel -q --no-index --no-deps --no-build-isolation -w "\$b/dist" \\
  "\$b/mmcv-$MMCV_VERSION"
"$PY" -m pip install -q --no-index --no-deps --no-compile --target "$OPS_SITE" "\$b"/dist/mmcv-*.whl
EOF
    # its own session, so that the whole compiler tree can be stopped at the deadline
    setsid bash /tmp/mmtobias_mmcv_build.sh > "$OUT_DIR/mmcv_build.log" 2>&1 &
    BUILD_PID=$!
  elif [ ! -d "$OPS_SITE" ]; then
    say "not compiling mmcv's CPU ops (BUILD_MMCV_OPS=${BUILD_MMCV_OPS:-auto}, source $( [ -f "$src" ] && echo present || echo missing), g++ $(command -v g++ >/dev/null && echo present || echo missing), Python.h $has_headers): InsLoc-FPN and detection tests will skip"
  fi
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

"$PY" tools/collect_env.py --json "$OUT_DIR/collect_env.json" > "$OUT_DIR/collect_env.txt" 2>&1 \
  || say "collect_env failed (see collect_env.txt)"
grep -E '^(GPU 0|mmcv ops|WARNING)' "$OUT_DIR/collect_env.txt" | while read -r line; do say "env: $line"; done
rm -f "$OUT_DIR/collect_env.txt"  # the JSON holds the same

# --- GPU tests ---------------------------------------------------------------------
PYTEST=("$PY" -m pytest -p no:cacheprovider -rs -v --timeout 900)
say "GPU tests (all but InsLoc-FPN and detection)"
"${PYTEST[@]}" tests/test_gpu -k 'not insloc_fpn and not detection' \
  --junitxml "$OUT_DIR/gpu_tests.xml" > "$OUT_DIR/gpu_tests.log" 2>&1
say "  $(tail -n 1 "$OUT_DIR/gpu_tests.log")"

if [ -n "$BUILD_PID" ]; then
  say "waiting for the mmcv CPU-ops build (at most until +${BUILD_DEADLINE}s)"
  while kill -0 "$BUILD_PID" 2>/dev/null && [ $(( $(date +%s) - T0 )) -lt "$BUILD_DEADLINE" ]; do
    sleep 5
  done
  if kill -0 "$BUILD_PID" 2>/dev/null; then
    kill -- -"$BUILD_PID" 2>/dev/null
    say "mmcv CPU-ops build stopped at the deadline: InsLoc-FPN and detection tests will skip"
  elif wait "$BUILD_PID"; then
    export PYTHONPATH="$OPS_SITE:$PYTHONPATH"
    say "mmcv with CPU ops installed into $OPS_SITE"
  else
    say "mmcv CPU-ops build failed (mmcv_build.log): InsLoc-FPN and detection tests will skip"
  fi
fi
say "GPU tests: InsLoc-FPN and detection"
"${PYTEST[@]}" tests/test_gpu -k 'insloc_fpn or detection' \
  --junitxml "$OUT_DIR/gpu_tests_2.xml" >> "$OUT_DIR/gpu_tests.log" 2>&1
say "  $(tail -n 1 "$OUT_DIR/gpu_tests.log")"
rm -f "$OUT_DIR/gpu_tests_2.xml"  # gpu_tests.log has both parts

# --- benchmark (last: nothing else competes for the CPUs) ---------------------------
say "GPU benchmark"
# shellcheck disable=SC2086
"$PY" tools/benchmarks/gpu_benchmark.py --out "$OUT_DIR/gpu_benchmark.json" \
  --work-dir /tmp/mmtobias_gpu_bench ${BENCH_ARGS:-} > "$OUT_DIR/gpu_benchmark.log" 2>&1 \
  || say "benchmark failed (gpu_benchmark.log)"
sed -n '/^summary on/,$p' "$OUT_DIR/gpu_benchmark.log" | while read -r line; do say "$line"; done
say "done; results in $OUT_DIR"
