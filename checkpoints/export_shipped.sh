#!/usr/bin/env bash
# Copies the best epochs of checkpoints/train_shipped.sh into checkpoints/, without optimiser state and with float16
# weights (a quarter of the training file's size). The numbers in checkpoints/README.md come from these files.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
NAMES="det_one-stage_best_epoch.bin det_three-stage_3_best_epoch.bin det_videopose3d_best_epoch.bin
       det_one-stage_causal_best_epoch.bin gt_one-stage_best_epoch.bin gt_three-stage_3_best_epoch.bin
       gt_videopose3d_best_epoch.bin"
for name in $NAMES; do
  if [ -f "checkpoints/runs/$name" ]; then
    $PY -c "import sys; from ehfusion.checkpoints import strip_training_state as s; s(sys.argv[1], sys.argv[2], half=True)" \
        "checkpoints/runs/$name" "checkpoints/$name"
    echo "checkpoints/$name ($(du -h "checkpoints/$name" | cut -f1))"
  else
    echo "missing checkpoints/runs/$name (run checkpoints/train_shipped.sh first)" >&2
  fi
done
