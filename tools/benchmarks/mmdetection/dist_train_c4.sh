#!/usr/bin/env bash
# Detection transfer on a cluster node: convert PRETRAIN for C4, fine-tune and test.
# Usage: bash tools/benchmarks/mmdetection/dist_train_c4.sh CONFIG PRETRAIN GPUS [det_train.py args]
#   e.g. bash tools/benchmarks/mmdetection/dist_train_c4.sh \
#          configs/benchmarks/mmdetection/voc0712/faster-rcnn_r50-c4_ms-24k_voc0712.py \
#          work_dirs/tobias/epoch_200.pth 8 --data-root data/VOCdevkit/
# The work dir defaults to work_dirs/<config>_<checkpoint>; the last line is AP50=.. AP=.. AP75=..
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 CONFIG PRETRAIN GPUS [tools/det_train.py arguments]" >&2; exit 2
fi
CONFIG=$1
PRETRAIN=$2
GPUS=$3
ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
source "$(cd "$(dirname "$0")/../.." && pwd)/find_python.sh"
PORT=${PORT:-29500}
WORK_DIR=${WORK_DIR:-work_dirs/$(basename "$CONFIG" .py)_$(basename "$PRETRAIN" | sed 's/\.[^.]*$//')}
case "$CONFIG" in
  *c4*) ;;
  *) echo "warning: $CONFIG does not look like a C4 config" >&2 ;;
esac

PYTHONPATH="$ROOT:${PYTHONPATH:-}" \
"$PYTHON" -m torch.distributed.run --nproc_per_node="$GPUS" --master_port="$PORT" \
    "$ROOT/tools/det_train.py" "$CONFIG" --pretrained "$PRETRAIN" --work-dir "$WORK_DIR" \
    --launcher pytorch "${@:4}"
