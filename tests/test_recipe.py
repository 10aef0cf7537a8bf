"""The training recipe of one stage: reuse a finished run, resume an unfinished one exactly, hand over stages."""
from __future__ import annotations

import pytest
import torch

from conftest import make_sequence
from ehfusion import recipe
from ehfusion.checkpoints import read_checkpoint
from ehfusion.experiments import runner
from ehfusion.models import ENCODER_PARTS, ModelConfig, stage_config
from ehfusion.recipe import build_stage_model, stage_hand_over, train_stage
from ehfusion.skeleton import H36M_17
from ehfusion.training import TrainConfig, Trainer, split_validation

# tiny models run fastest on one thread (see conftest.one_torch_thread)
pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = ModelConfig(filter_widths=(3, 3), channels=8, latent=8, hidden=16, angle_channels=4, angle_features=4,
                   camera_features=4, camera_hidden=4, dropout=0.1)
NAME = "tiny_best_epoch.bin"


@pytest.fixture(scope="module")
def tiny_data():
    sequences = [make_sequence(30 + 5 * i, seed=i, subject=s, action=f"act{i % 2}", camera=i % 4)
                 for i, s in enumerate(["S1", "S1", "S5", "S8"])]
    return split_validation(sequences, ["S8"])


def tiny_train_config(epochs: int = 3) -> TrainConfig:
    return TrainConfig(epochs=epochs, batch_size=32, seed=3, device="cpu")


def run_stage(data, directory, model_config=TINY, train_config=None, initialise=None, stage: int = 1):
    train, validation = data
    return train_stage(stage_config(model_config, "three-stage", stage), train_config or tiny_train_config(), train,
                       validation, skeleton=H36M_17, directory=directory, name=NAME,
                       run_info={"strategy": "three-stage", "stage": stage}, initialise=initialise, progress=False)


def predictions(model, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    window = 0.3 * torch.randn(6, model.receptive_field, 17, 2, generator=g)
    camera = torch.tensor([2.29, 2.29, 0.025, 0.028, 0, 0, 0, 0, 0]).repeat(6, 1)
    with torch.no_grad():
        return model.eval()(window, camera)


def test_the_runner_trains_with_the_recipe():
    assert runner.train_stage is recipe.train_stage and runner.StageRun is recipe.StageRun


def test_a_finished_run_is_reused_without_training(tiny_data, tmp_path, monkeypatch):
    first = run_stage(tiny_data, tmp_path)
    assert not first.reused and first.epochs == 3
    monkeypatch.setattr(recipe, "Trainer", lambda *a, **k: pytest.fail("a finished run was trained again"))
    again = run_stage(tiny_data, tmp_path)
    assert again.reused and again.epochs == 3 and again.best_epoch == first.best_epoch
    assert again.seconds == pytest.approx(first.seconds)
    for key, value in first.checkpoint.state["model_state"].items():
        assert torch.equal(again.checkpoint.state["model_state"][key], value), key
    with pytest.raises(ValueError, match="another schedule"):  # the same name with another budget is refused
        run_stage(tiny_data, tmp_path, train_config=tiny_train_config(epochs=4))


def test_an_unfinished_run_resumes_exactly(tiny_data, tmp_path, monkeypatch):
    reference = run_stage(tiny_data, tmp_path / "whole")

    class Killed(Exception):
        pass

    def kill_in_second_epoch(trainer, epoch, step):
        if epoch == 1 and step == 1:
            raise Killed

    # the same run, interrupted in its second epoch
    model_config, train_config = stage_config(TINY, "three-stage", 1), tiny_train_config()
    train, validation = tiny_data
    victim = Trainer(build_stage_model(model_config, train_config.seed), train_config, train, validation,
                     skeleton=H36M_17, checkpoint_dir=tmp_path / "cut", name=NAME, model_config=model_config,
                     run_info={"strategy": "three-stage", "stage": 1}, progress=False,
                     on_batch_end=kill_in_second_epoch)
    with pytest.raises(Killed):
        victim.fit()
    assert read_checkpoint(victim.last_path)["epoch"] == 1

    trained_epochs = []
    train_epoch = Trainer.train_epoch
    monkeypatch.setattr(Trainer, "train_epoch",
                        lambda trainer, epoch: trained_epochs.append(epoch) or train_epoch(trainer, epoch))
    torch.manual_seed(12345)  # other random state: everything must come from the checkpoint
    resumed = run_stage(tiny_data, tmp_path / "cut")
    assert trained_epochs == [1, 2]  # continued after epoch 1, not trained again from the start
    assert not resumed.reused and resumed.epochs == 3 and resumed.best_epoch == reference.best_epoch
    for key, value in reference.checkpoint.state["model_state"].items():
        assert torch.equal(resumed.checkpoint.state["model_state"][key], value), key


def test_stage_two_starts_at_stage_one_predictions_and_stage_three_at_stage_two(tiny_data, tmp_path):
    first = run_stage(tiny_data, tmp_path / "stage1", train_config=tiny_train_config(epochs=1))
    stage1_answer = predictions(first.checkpoint.model)["unfused"]

    stage2 = build_stage_model(stage_config(TINY, "three-stage", 2), seed=7,
                               initialise=stage_hand_over(2, first.checkpoint.state["model_state"]))
    assert torch.allclose(predictions(stage2)["fused"], stage1_answer, atol=1e-6)
    assert not any(p.requires_grad for n, p in stage2.named_parameters() if n.startswith(ENCODER_PARTS))

    second = run_stage(tiny_data, tmp_path / "stage2", train_config=tiny_train_config(epochs=1), stage=2,
                       initialise=stage_hand_over(2, first.checkpoint.state["model_state"]))
    stage3 = build_stage_model(stage_config(TINY, "three-stage", 3), seed=8,
                               initialise=stage_hand_over(3, second.checkpoint.state["model_state"]))
    assert torch.equal(predictions(stage3)["fused"], predictions(second.checkpoint.model)["fused"])
    assert all(p.requires_grad for p in stage3.parameters())  # stage 3 fine-tunes everything

    with pytest.raises(ValueError, match="stages 2 and 3"):
        stage_hand_over(1, first.checkpoint.state["model_state"])


def test_the_command_line_policies_refuse_replace_and_resume(tiny_data, tmp_path):
    from ehfusion.errors import CheckpointError, OutputPathError
    from ehfusion.recipe import RunPolicy

    train, validation = tiny_data
    seen = []

    def run(policy, epochs=2):
        return train_stage(TINY, tiny_train_config(epochs), train, validation, skeleton=H36M_17, directory=tmp_path,
                           name=NAME, run_info={"strategy": "one-stage", "stage": 1}, progress=False, policy=policy)

    first = run(RunPolicy(earlier_run="refuse", announce=lambda trainer: seen.append(trainer.epoch)))
    assert seen == [0] and first.epochs == 2 and len(first.history) == 2 and first.best_metric is not None
    with pytest.raises(OutputPathError, match="already exists; continue it with --resume"):
        run(RunPolicy(earlier_run="refuse"))
    with pytest.raises(CheckpointError, match="already completed 2 epochs"):  # resume asks for more epochs
        run(RunPolicy(earlier_run="resume"))
    resumed = run(RunPolicy(earlier_run="resume", announce=lambda trainer: seen.append(trainer.epoch)), epochs=3)
    assert seen[-1] == 2 and resumed.epochs == 3 and not resumed.reused  # another schedule: allowed when resuming
    replaced = run(RunPolicy(earlier_run="replace"))
    assert replaced.epochs == 2 and read_checkpoint(tmp_path / "tiny_last_epoch.bin")["epoch"] == 2
    with pytest.raises(ValueError, match="earlier_run must be one of"):
        RunPolicy(earlier_run="maybe")
