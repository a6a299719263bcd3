#!/usr/bin/env bash
# One chief and one worker per GPU on this host, all on the same experiment.
#
#   tools/workers_per_gpu.sh experiments/digits.yaml [PORT] [extra kerascnn search flags...]
#
# Each worker sees one GPU (CUDA_VISIBLE_DEVICES=i), so trials run side by side
# on separate cards. Logs go to runs/logs/. Stop everything with Ctrl-C.
# RECYCLE_AFTER=N restarts each worker process after N trials (same id, fresh
# memory: TensorFlow's XLA compilation cache, for one, only ever grows).
# On several machines, run the chief on one host and workers elsewhere with
#   kerascnn search CONFIG --worker CHIEF_HOST:PORT --worker-id N
set -euo pipefail
config=${1:?usage: tools/workers_per_gpu.sh CONFIG [PORT] [flags...]}
port=${2:-8000}
shift $(( $# >= 2 ? 2 : 1 ))
gpus=$(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null | wc -l)
if [ "$gpus" -eq 0 ]; then
  echo "No GPU found (nvidia-smi): nothing to spread. Run kerascnn search $config instead." >&2
  exit 1
fi
recycle=()
if [ -n "${RECYCLE_AFTER:-}" ]; then recycle=(--recycle-after "$RECYCLE_AFTER"); fi

worker() {  # run worker $1 on GPU $1, again and again while it asks to be recycled (status 75)
  local rc
  while true; do
    rc=0
    CUDA_VISIBLE_DEVICES=$1 kerascnn search "$config" --worker "127.0.0.1:$port" --worker-id "$1" \
      "${recycle[@]}" "${@:2}" >> "runs/logs/worker$1.log" 2>&1 || rc=$?
    [ "$rc" -eq 75 ] || return "$rc"
  done
}

mkdir -p runs/logs
trap 'kill 0' INT TERM
kerascnn search "$config" --chief "127.0.0.1:$port" "$@" > runs/logs/chief.log 2>&1 &
chief=$!
for ((i = 0; i < gpus; i++)); do
  worker "$i" "$@" &
done
echo "chief (pid $chief) and $gpus workers started; follow runs/logs/chief.log"
wait "$chief"
wait
