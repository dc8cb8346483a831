#!/usr/bin/env bash
# Usage: bash tools/dist_generate_masks.sh IMAGE_DIR|CONFIG NUM_PROCESSES [generate_masks.py arguments ...]
# Each process computes a share of the mask shards; the maps are gathered through
# torch.distributed and rank 0 writes the mask file (holding OUT.lock), so on several
# nodes (NNODES, NODE_RANK, MASTER_ADDR) the work dir need not be shared: the file
# lands on rank 0's node. One process per GPU; without CUDA the processes use gloo.
SOURCE=$1
NPROC=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29510}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$(cd "$(dirname "$0")" && pwd)/find_python.sh"

PYTHONPATH="$ROOT:$PYTHONPATH" \
"$PYTHON" -m torch.distributed.run \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$NPROC \
    --master_port=$PORT \
    "$ROOT/tools/generate_masks.py" \
    "$SOURCE" \
    --launcher pytorch "${@:3}"
