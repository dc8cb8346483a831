#!/usr/bin/env bash
# The GPU checks of mmtobias in one prepared run, budgeted for a short GPU lease (~15
# minutes of device time, machine start included): at most 7 minutes, so that a second
# run fits. Results go to OUT_DIR (default $OUT, else work_dirs/gpu_checks):
#   summary.txt  collect_env.json  masks.json  masks.log  gpu_tests.log  gpu_tests.xml
#   steps.json  steps.log
#
# Phases, in this order, each under its own time limit (`timeout`), so that one hang
# costs its phase only:
#   preflight  40 s   import mmtobias, mmpretrain.models (and mmdet when mmcv has ops);
#                     on failure the traceback goes to summary.txt and the run stops
#   env        40 s   tools/collect_env.py --json
#   masks      90 s   tools/benchmarks/mask_decode_benchmark.py on the carried photos
#                     (.gpu_wheelhouse/photos, .dev_scripts/gpu_lease/pack_photos.py): decode-only,
#                     model-only and end-to-end images/s per decoding path
#   tests     160 s   tests/test_gpu, at most 150 s per test
#   steps      90 s   tools/benchmarks/gpu_benchmark.py: pretraining step times
# 420 s of limits (7 minutes), plus the wheelhouse install and its bytecode (~15 s on 16 cores).
#
# Nothing is compiled here. For a machine with Python, torch (CUDA), torchvision, numpy,
# OpenCV and pytest but no OpenMMLab package and no registry, the wheels of WHEELHOUSE
# (default .gpu_wheelhouse/, made beforehand by .dev_scripts/gpu_lease/make_gpu_wheelhouse.sh)
# are installed into /tmp; mmcv with CPU ops comes from the wheelhouse when it was
# prebuilt for this torch (make_gpu_wheelhouse.sh OPS_PYTHON=..., matched by torch's
# version without its local tag, and tried before use); without it, mmdet does not
# import and the InsLoc-FPN and detection tests skip, saying why. In an environment made
# by tools/setup.sh nothing is installed.
#
# Without CUDA (the rehearsal on a CPU machine) every phase runs in its CPU or smoke
# mode and every CUDA step is skipped and named, so the whole script can be tried here.
#
# Usage: bash .dev_scripts/gpu_lease/run_gpu_checks.sh [OUT_DIR]
# Variables: PYTHON (default python3), WHEELHOUSE, PHOTOS (default
# WHEELHOUSE/photos), MASK_ARGS / STEP_ARGS (extra arguments of the two benchmarks).
# A device run: run(command="bash .dev_scripts/gpu_lease/run_gpu_checks.sh $OUT",
#                   carry=[".gpu_wheelhouse"], timeout_s=480)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT_DIR="${1:-${OUT:-$ROOT/work_dirs/gpu_checks}}"
WHEELHOUSE="${WHEELHOUSE:-$ROOT/.gpu_wheelhouse}"
PHOTOS="${PHOTOS:-$WHEELHOUSE/photos}"
PY="${PYTHON:-python3}"
SITE=/tmp/mmtobias_site
OPS_SITE=/tmp/mmtobias_site_ops
MMCV_VERSION=2.0.1
mkdir -p "$OUT_DIR"
SUMMARY="$OUT_DIR/summary.txt"
: > "$SUMMARY"
T0=$(date +%s)
say() { printf '[gpu checks +%ss] %s\n' "$(( $(date +%s) - T0 ))" "$*" | tee -a "$SUMMARY"; }
# phase NAME SECONDS LOG COMMAND...: run under a time limit, say how it ended
phase() {
  local name="$1" limit="$2" log="$3" start rc
  shift 3
  start=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" > "$log" 2>&1
  rc=$?
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    say "$name: STOPPED at its ${limit}-s limit (see $(basename "$log"))"
  elif [ "$rc" != 0 ]; then
    say "$name: FAILED with status $rc after $(( $(date +%s) - start )) s (see $(basename "$log"))"
  else
    say "$name: done in $(( $(date +%s) - start )) s"
  fi
  return "$rc"
}
export PYTHONUNBUFFERED=1
cd "$ROOT"

say "$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -n 1 || echo 'nvidia-smi: none')"
read -r CUDA_OK TORCH_VERSION <<<"$("$PY" -c 'import torch; print(int(torch.cuda.is_available()), torch.__version__)' 2>/dev/null || echo '0 none')"
say "python $("$PY" -c 'import sys; print(sys.version.split()[0])'), torch $TORCH_VERSION, CUDA available: $CUDA_OK"
[ "$CUDA_OK" = 1 ] || say "no CUDA: a rehearsal; every CUDA step is skipped and named below"

# --- packages: installed, never compiled ---------------------------------------------
rm -rf "$OPS_SITE"
if ! "$PY" -c 'import mmengine, mmpretrain' 2>/dev/null; then
  ls "$WHEELHOUSE"/*.whl >/dev/null 2>&1 \
    || { say "FAILED: no OpenMMLab packages and no wheels in $WHEELHOUSE (make them with .dev_scripts/gpu_lease/make_gpu_wheelhouse.sh)"; exit 1; }
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SITE" "$WHEELHOUSE"/*.whl || { say "FAILED: installing the wheelhouse"; exit 1; }
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
  # bytecode on every core now, not module by module at the first import
  "$PY" -m compileall -q -j 0 "$SITE" > /dev/null 2>&1
  say "installed $(ls "$WHEELHOUSE"/*.whl | wc -l) wheels into $SITE (mmcv without compiled ops)"
  # mmcv with CPU ops prebuilt for this torch: the folder names torch's version, with or
  # without its local tag (2.11.0+cu130 and 2.11.0 match alike); tried before use
  base="${TORCH_VERSION%%+*}"
  prebuilt="$(ls "$WHEELHOUSE"/mmcv-ops-torch"$base"*-cpu/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n 1)"
  if [ -n "$prebuilt" ] && "$PY" -m pip install -q --no-index --no-deps --no-compile \
      --target "$OPS_SITE" "$prebuilt" && PYTHONPATH="$OPS_SITE:$PYTHONPATH" timeout 60 "$PY" -c \
      'import torch; from mmcv.ops import RoIAlign; RoIAlign((7, 7), 1 / 16)(torch.rand(1, 4, 8, 8), torch.tensor([[0., 0., 0., 64., 64.]]))' \
      >/dev/null 2>&1; then
    export PYTHONPATH="$OPS_SITE:$PYTHONPATH"
    say "mmcv with CPU ops ($(basename "$(dirname "$prebuilt")")) installed into $OPS_SITE"
  else
    rm -rf "$OPS_SITE"
    say "no mmcv ops: $( [ -n "$prebuilt" ] && echo "the prebuilt $(basename "$prebuilt") does not load with torch $TORCH_VERSION" || echo "none prebuilt for torch $base in $WHEELHOUSE (make_gpu_wheelhouse.sh OPS_PYTHON=...)" ); mmdet does not import, InsLoc-FPN and detection tests will skip"
  fi
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

# --- preflight: the imports everything below needs, with the traceback ---------------
cat > /tmp/mmtobias_preflight.py <<'EOF'
import importlib.util
import mmtobias  # noqa: F401  (compatibility fixes)
import mmpretrain.models  # noqa: F401
from mmtobias.utils.compat import mmpretrain_multimodal_status
try:
    import mmcv.ops  # noqa: F401
    ops = True
except ImportError:
    ops = False
if ops:
    import mmdet.models  # noqa: F401
    import mmtobias.det  # noqa: F401
import pytest  # noqa: F401
on, why = mmpretrain_multimodal_status()
print(f'imports ok; mmcv ops: {"yes, mmdet imports" if ops else "no (mmdet skipped)"}; '
      f'mmpretrain multimodal: {"on" if on else "off"} ({why})')
EOF
if ! phase preflight 40 "$OUT_DIR/preflight.log" "$PY" /tmp/mmtobias_preflight.py; then
  sed 's/^/    /' "$OUT_DIR/preflight.log" | tail -n 40 | tee -a "$SUMMARY"
  exit 1
fi
say "  $(tail -n 1 "$OUT_DIR/preflight.log")"
rm -f "$OUT_DIR/preflight.log"

# --- environment report ---------------------------------------------------------------
phase env 40 "$OUT_DIR/collect_env.txt" "$PY" tools/collect_env.py --json "$OUT_DIR/collect_env.json"
grep -E '^(GPU 0|mmcv ops|transformers|mmpretrain multimodal|WARNING)' "$OUT_DIR/collect_env.txt" \
  | while read -r line; do say "  env: $line"; done
rm -f "$OUT_DIR/collect_env.txt"  # the JSON holds the same

# --- mask generation: decoding paths on real photos -----------------------------------
if [ -d "$PHOTOS" ]; then
  if [ "$CUDA_OK" = 1 ]; then mask_mode=(--num-images 20000); else mask_mode=(--smoke); fi
  # shellcheck disable=SC2086
  phase masks 90 "$OUT_DIR/masks.log" "$PY" tools/benchmarks/mask_decode_benchmark.py \
    --images "$PHOTOS" "${mask_mode[@]}" --work-dir /tmp/mmtobias_masks \
    --out "$OUT_DIR/masks.json" ${MASK_ARGS:-}
  grep -E 'images/s|1\.28 M|agree|skipped|GPU|CPU' "$OUT_DIR/masks.log" | tail -n 20 \
    | while read -r line; do say "  masks: $line"; done
else
  say "masks: SKIPPED: no photos in $PHOTOS (python .dev_scripts/gpu_lease/pack_photos.py packs them)"
fi

# --- GPU tests ------------------------------------------------------------------------
phase tests 160 "$OUT_DIR/gpu_tests.log" "$PY" -m pytest -p no:cacheprovider -rs -v \
  --timeout 150 tests/test_gpu --junitxml "$OUT_DIR/gpu_tests.xml"
grep -E '^(SKIPPED|FAILED|ERROR)|(passed|failed|skipped) in ' "$OUT_DIR/gpu_tests.log" \
  | cut -c1-240 | while read -r line; do say "  tests: $line"; done

# --- pretraining step times -----------------------------------------------------------
if [ "$CUDA_OK" = 1 ]; then step_mode=(--warmup 5 --iters 20); else step_mode=(--smoke); fi
# shellcheck disable=SC2086
phase steps 90 "$OUT_DIR/steps.log" "$PY" tools/benchmarks/gpu_benchmark.py "${step_mode[@]}" \
  --skip masks decode --out "$OUT_DIR/steps.json" --work-dir /tmp/mmtobias_steps ${STEP_ARGS:-}
sed -n '/^summary on/,$p' "$OUT_DIR/steps.log" | while read -r line; do say "  steps: $line"; done
say "done in $(( $(date +%s) - T0 )) s; results in $OUT_DIR"
