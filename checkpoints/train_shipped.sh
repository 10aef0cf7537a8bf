#!/usr/bin/env bash
# Trains the checkpoints shipped in checkpoints/ on the embedded dataset, on a CPU.
#   bash checkpoints/train_shipped.sh det    # detector-like keypoints (plus the causal model)
#   bash checkpoints/train_shipped.sh gt     # ground-truth keypoints
# Runs go to checkpoints/runs/ (git-ignored); checkpoints/export_shipped.sh copies the best epochs into checkpoints/.
# Every model gets the same budget: 10 epochs over half of the training windows each (fresh half every epoch), in
# batches of 256 windows; three-stage splits it 5 + 3 + 2. The best epoch is chosen on the validation subject S8
# (stages 1 and 2 keep their last epoch), never on the test subjects S9/S11.
set -euo pipefail
cd "$(dirname "$0")/.."
K=${1:?usage: train_shipped.sh det|gt}
PY=${PYTHON:-.venv/bin/python}
RUNS=checkpoints/runs
THREADS=${THREADS:-1}
SMALL="-arc 3,3,3 -ch 148 -lfd 148 -hid 148 --angle-channels 64 --angle-features 32 --camera-features 32"
COMMON="-b 256 --subset 0.5 --seed 0 --threads $THREADS --no-progress -c $RUNS"

$PY -m ehfusion.run_onestage   -k "$K" --stage 1 $SMALL $COMMON -e 10
$PY -m ehfusion.run_threestage -k "$K" --stage 1 $SMALL $COMMON -e 5 --no-val --no-eval
$PY -m ehfusion.run_threestage -k "$K" --stage 2 $SMALL $COMMON -e 3 --no-val --no-eval -p "${K}_three-stage_1_best_epoch.bin"
$PY -m ehfusion.run_threestage -k "$K" --stage 3 $SMALL $COMMON -e 2 -lr 0.0005 -ft "${K}_three-stage_2_best_epoch.bin"
$PY -m ehfusion.run_onestage   -k "$K" --model videopose3d -arc 3,3,3 -ch 512 $COMMON -e 10
if [ "$K" = det ]; then
  # a causal model (the output frame is the last of its window) for streaming / real-time lifting
  $PY -m ehfusion.run_onestage -k det --stage 1 --causal $SMALL $COMMON -e 10 --name det_one-stage_causal_best_epoch.bin
fi
