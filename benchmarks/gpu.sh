#!/usr/bin/env bash
# The GPU path measured, in one go on a CUDA machine (about 8 minutes of device time, 10 at most):
#   1. one adversarial generator step's rewards at the paper's sizes, the naive reference rollout
#      against the vectorized one, D in float32 and under bf16 autocast (benchmarks/rollout_step.py);
#   2. the paper's oracle schedule (preset paper-oracle: 120 MLE epochs, 50 D rounds, 200 adversarial
#      rounds) trained on the GPU for at most RUN_SECONDS (default 360): seconds per MLE epoch, per D
#      round and per adversarial round, and the whole run's time, measured if it finishes in time,
#      else projected from the units it did (benchmarks/gpu_run_table.py).
# Without CUDA it says so in one line and exits 0: nothing is measured, and nothing fails (so that a
# sweep of every benchmark can run it anywhere). The oracle is the reference's (ORACLE, default
# ../shared/oracle/seqgan_oracle.npz) where present, else a random one of the same shape (seed 0).
#
#   benchmarks/gpu.sh                      # PYTHON=.venv/bin/python RUN_SECONDS=360 ORACLE=... to change
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
RUN_SECONDS=${RUN_SECONDS:-360}
ORACLE=${ORACLE:-../shared/oracle/seqgan_oracle.npz}

if ! "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu.sh: no CUDA device here (torch.cuda.is_available() is False): nothing measured"
    exit 0
fi
"$PYTHON" -c 'import torch; print("GPU:", torch.cuda.get_device_name(0), "| torch", torch.__version__, "| CUDA", torch.version.cuda)'

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo
echo "== 1. one adversarial step's rewards: naive vs vectorized rollout (paper sizes) =="
timeout 150 "$PYTHON" benchmarks/rollout_step.py --device cuda --repeats 3 --chunks 1024,4096,all \
    || echo "(rollout benchmark stopped at its 150 s limit or failed: status $?)"

echo
echo "== 2. the paper-oracle schedule on the GPU (at most ${RUN_SECONDS} s) =="
if [ -f "$ORACLE" ]; then
    "$PYTHON" -m seqgan_music corpus build oracle --name oracle --params "$ORACLE" --home "$WORK" >/dev/null
else
    echo "($ORACLE not found: a random oracle, seed 0)"
    "$PYTHON" -m seqgan_music corpus build oracle --name oracle --seed 0 --home "$WORK" >/dev/null
fi
# SIGTERM at the limit: the run saves after its current unit and stops; the table projects the rest.
timeout --signal=TERM --kill-after=60 "$RUN_SECONDS" "$PYTHON" -m seqgan_music train oracle --preset paper-oracle \
    --device cuda --run gpu-paper-oracle --home "$WORK" >"$WORK/train.log" 2>&1 || true
tail -n 3 "$WORK/train.log"
echo
"$PYTHON" benchmarks/gpu_run_table.py "$WORK" gpu-paper-oracle
