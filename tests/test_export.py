"""Shipping a run: the exported best-epoch file keeps the whole run's history and the earlier stages' histories."""
from __future__ import annotations

import torch

from ehfusion.cli.checkpoints import main as checkpoints_main
from ehfusion.checkpoints import read_checkpoint, save_checkpoint
from ehfusion.models import ModelConfig, build_model, stage_config

SMALL = ModelConfig(filter_widths=(3,), channels=8, latent=8, hidden=8, angle_channels=4, angle_features=4,
                    camera_features=4)


def _history(stage: int, epochs: int) -> list[dict]:
    return [{"epoch": e, "stage": stage, "val_p1_fused": 100.0 - e} for e in range(1, epochs + 1)]


def _save(path, stage: int, epoch: int, history: list[dict]):
    config = stage_config(SMALL, "three-stage", stage)
    torch.manual_seed(stage)
    return save_checkpoint(path, build_model(config), model_config=config, strategy="three-stage", stage=stage,
                           dataset="embedded", keypoints="det", epoch=epoch, best_epoch=epoch,
                           best_metric=history[epoch - 1]["val_p1_fused"], history=history[:epoch],
                           train_config={"epochs": len(history)})


def test_export_keeps_run_and_stage_histories(tmp_path, capsys):
    runs = tmp_path / "runs"
    _save(runs / "det_three-stage_1_last_epoch.bin", 1, 5, _history(1, 5))
    _save(runs / "det_three-stage_2_last_epoch.bin", 2, 3, _history(2, 3))
    _save(runs / "det_three-stage_3_best_epoch.bin", 3, 1, _history(3, 2))   # best epoch 1 of 2
    _save(runs / "det_three-stage_3_last_epoch.bin", 3, 2, _history(3, 2))
    shipped = tmp_path / "det_three-stage_3_best_epoch.bin"

    assert checkpoints_main(["export", str(shipped), str(runs / "det_three-stage_3_best_epoch.bin")]) == 0
    payload = read_checkpoint(shipped)
    assert [r["epoch"] for r in payload["history"]] == [1]              # up to the kept epoch
    assert [r["epoch"] for r in payload["run_history"]] == [1, 2]       # the whole run
    assert {k: len(v) for k, v in payload["stage_histories"].items()} == {"1": 5, "2": 3}
    assert payload["optimizer_state"] is None
    assert all(t.dtype == torch.float16 for t in payload["model_state"].values() if t.is_floating_point())
    assert "stage(s) 1, 2" in capsys.readouterr().out


def test_export_of_a_single_stage_run_has_no_stage_histories(tmp_path):
    config = stage_config(SMALL, "one-stage")
    path = save_checkpoint(tmp_path / "det_one-stage_best_epoch.bin", build_model(config), model_config=config,
                           strategy="one-stage", stage=1, dataset="embedded", keypoints="det", epoch=1,
                           best_epoch=1, best_metric=90.0, history=_history(1, 1), train_config={"epochs": 1})
    assert checkpoints_main(["export", str(tmp_path / "shipped.bin"), str(path)]) == 0
    payload = read_checkpoint(tmp_path / "shipped.bin")
    assert "stage_histories" not in payload and "run_history" not in payload
