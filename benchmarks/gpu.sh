#!/usr/bin/env bash
# The GPU path measured, in one go on a CUDA machine (under 10 minutes of device time):
#   1. one adversarial generator step's rewards at the paper's sizes: the naive reference rollout
#      against the vectorized one, D in float32 and under bf16 autocast (benchmarks/rollout_step.py,
#      at most 150 s);
#   2. seconds per MLE epoch, per D pre-training round and per adversarial round: the paper-oracle
#      preset on the oracle, 3 units of each phase (at most 120 s), and the full schedule's time
#      projected from them (benchmarks/gpu_run_table.py);
#   3. the full paper-oracle run (120 MLE epochs, 50 D rounds, 200 adversarial rounds) for at most
#      RUN_SECONDS (default 240): its time, measured if it finishes, else how far it got.
# Without CUDA it says so in one line and exits 0: nothing is measured, and nothing fails (so that a
# sweep of every benchmark can run it anywhere). The oracle is the reference's (ORACLE, default
# ../shared/oracle/seqgan_oracle.npz) where present, else a random one of the same shape (seed 0).
#
#   benchmarks/gpu.sh            # PYTHON=.venv/bin/python RUN_SECONDS=240 ORACLE=... to change them
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
RUN_SECONDS=${RUN_SECONDS:-240}
ORACLE=${ORACLE:-../shared/oracle/seqgan_oracle.npz}

if ! "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu.sh: no CUDA device here (torch.cuda.is_available() is False): nothing measured"
    exit 0
fi
"$PYTHON" -c 'import torch; print("GPU:", torch.cuda.get_device_name(0), "| torch", torch.__version__, "| CUDA", torch.version.cuda)'

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

train() {  # RUN SECONDS [--set ...]: the paper-oracle preset on the GPU; SIGTERM at the limit saves and stops it
    local run=$1 seconds=$2
    shift 2
    timeout --signal=TERM --kill-after=30 "$seconds" "$PYTHON" -m seqgan_music train oracle --preset paper-oracle \
        --device cuda --run "$run" --home "$WORK" "$@" >"$WORK/$run.log" 2>&1 || true
    tail -n 2 "$WORK/$run.log"
}

echo
echo "== 1. one adversarial step's rewards: naive vs vectorized rollout (paper sizes) =="
timeout 150 "$PYTHON" benchmarks/rollout_step.py --device cuda --repeats 3 --chunks 1024,4096,all \
    || echo "(rollout benchmark stopped at its 150 s limit or failed: status $?)"

if [ -f "$ORACLE" ]; then
    "$PYTHON" -m seqgan_music corpus build oracle --name oracle --params "$ORACLE" --home "$WORK" >/dev/null
else
    echo "($ORACLE not found: a random oracle, seed 0)"
    "$PYTHON" -m seqgan_music corpus build oracle --name oracle --seed 0 --home "$WORK" >/dev/null
fi

echo
echo "== 2. seconds per unit: 3 of each phase, the full schedule projected from them =="
train gpu-units 120 --set mle.epochs=3 --set pretrain_d.rounds=3 --set adversarial.rounds=3 \
    --set mle.eval_every=3 --set adversarial.eval_every=3
"$PYTHON" benchmarks/gpu_run_table.py "$WORK" gpu-units paper-oracle

echo
echo "== 3. the full paper-oracle run (at most ${RUN_SECONDS} s) =="
train gpu-paper-oracle "$RUN_SECONDS"
"$PYTHON" benchmarks/gpu_run_table.py "$WORK" gpu-paper-oracle
