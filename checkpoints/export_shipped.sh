#!/usr/bin/env bash
# Writes the shipped checkpoints into checkpoints/: the best epoch of each checkpoints/train_shipped.sh run (seed 0),
# without optimiser state and with float16 weights (a quarter of the training file's size). The numbers in
# checkpoints/README.md come from these files.
#
#   bash checkpoints/export_shipped.sh                 # what is shipped: the seed-0 runs of train_shipped.sh
#   WITH_SEEDS=1 bash checkpoints/export_shipped.sh    # for each model, its best seed by validation P1 (subject S8)
#
# WITH_SEEDS=1 also considers the runs of the same model and budget made by the experiments
# (python -m ehfusion.experiments run -k det --seeds 1 2, in outputs/experiments/embedded_<keypoints>_*/).
# `python -m ehfusion checkpoints export` ranks the candidates by validation error only (never the test subjects) and
# refuses candidates whose model or budget differ.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}

# shipped name -> the experiments' name of the same model
experiment_name() {
  case "$1" in
    *_one-stage_best_epoch.bin) echo one-stage ;;
    *_three-stage_3_best_epoch.bin) echo heterogeneous ;;
    *_videopose3d_best_epoch.bin) echo videopose3d ;;
    *) echo "" ;;   # e.g. the causal model: no experiment runs
  esac
}

for name in det_one-stage_best_epoch.bin det_three-stage_3_best_epoch.bin det_videopose3d_best_epoch.bin \
            det_one-stage_causal_best_epoch.bin gt_one-stage_best_epoch.bin gt_three-stage_3_best_epoch.bin \
            gt_videopose3d_best_epoch.bin; do
  if [ ! -f "checkpoints/runs/$name" ]; then
    echo "missing checkpoints/runs/$name (run checkpoints/train_shipped.sh first)" >&2
    continue
  fi
  candidates=("checkpoints/runs/$name")
  model=$(experiment_name "$name")
  if [ -n "$model" ] && [ "${WITH_SEEDS:-0}" = 1 ]; then
    keypoints=${name%%_*}
    for extra in outputs/experiments/embedded_"${keypoints}"_*/"${model}"_seed*_best_epoch.bin; do
      case "$extra" in *_seed0_*|*\**) continue ;; esac   # seed 0 is the train_shipped.sh run
      candidates+=("$extra")
    done
  fi
  echo "$name:"
  $PY -m ehfusion checkpoints export "checkpoints/$name" "${candidates[@]}"
done
