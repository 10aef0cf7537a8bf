"""Trainer: schedule, validation split, frozen parameters, checkpoints, exact resume, and a real short training run."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import make_sequence
from ehfusion.checkpoints import read_checkpoint
from ehfusion.evaluation import evaluate
from ehfusion.models import ModelConfig, build_model
from ehfusion.skeleton import H36M_17
from ehfusion.training import TrainConfig, Trainer, resolve_device, seed_everything, split_validation


# tiny models run fastest on one thread (see conftest.one_torch_thread)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


TINY = dict(filter_widths=(3, 3), channels=8, latent=8, hidden=16, angle_channels=4, angle_features=4,
            camera_features=4, camera_hidden=4, dropout=0.1)


def tiny_model(seed: int = 0, **changes) -> torch.nn.Module:
    seed_everything(seed)
    return build_model(ModelConfig(**(TINY | changes)))


@pytest.fixture(scope="module")
def tiny_data():
    train = [make_sequence(30 + 5 * i, seed=i, subject=s, action=f"act{i % 2}", camera=i % 4)
             for i, s in enumerate(["S1", "S1", "S5", "S8"])]
    return split_validation(train, ["S8"])


def tiny_config(**changes) -> TrainConfig:
    return TrainConfig(**(dict(epochs=3, batch_size=32, seed=3, device="cpu") | changes))


def test_schedule_and_config():
    cfg = TrainConfig(epochs=80)
    assert cfg.bn_momentum(0) == pytest.approx(0.1)
    assert cfg.bn_momentum(40) == pytest.approx(0.01)
    assert cfg.bn_momentum(80) == pytest.approx(0.001)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.to_dict()["val_subjects"] == ["S8"]
    with pytest.raises(ValueError, match="subset"):
        TrainConfig(subset=0)
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)


def test_device_resolution():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("abacus")


def test_validation_subjects_are_held_out_of_training():
    seqs = [make_sequence(20, seed=i, subject=s) for i, s in enumerate(["S1", "S5", "S8", "S8"])]
    train, val = split_validation(seqs, ["S8"])
    assert {s.subject for s in train} == {"S1", "S5"} and [s.subject for s in val] == ["S8", "S8"]
    with pytest.raises(ValueError, match="S9 are not among the training subjects"):
        split_validation(seqs, ["S9"])
    with pytest.raises(ValueError, match="leave at least one subject"):
        split_validation(seqs, ["S1", "S5", "S8"])


def run_trainer(model, data, directory, config=None, **kwargs) -> Trainer:
    train, val = data
    return Trainer(model, config or tiny_config(), train, val, skeleton=H36M_17, checkpoint_dir=directory,
                   name="tiny_best_epoch.bin", progress=False, **kwargs)


def test_kill_and_resume_ends_bit_identical(tiny_data, tmp_path):
    reference = run_trainer(tiny_model(), tiny_data, tmp_path / "a")
    reference.fit()

    class Killed(Exception):
        pass

    def kill_in_second_epoch(trainer, epoch, step):
        if epoch == 1 and step == 1:
            raise Killed

    victim = run_trainer(tiny_model(), tiny_data, tmp_path / "b", on_batch_end=kill_in_second_epoch)
    with pytest.raises(Killed):
        victim.fit()
    assert read_checkpoint(victim.last_path)["epoch"] == 1

    # a new process: other random state, other initial weights; everything must come from the checkpoint
    torch.manual_seed(12345), np.random.seed(12345)
    resumed = run_trainer(tiny_model(seed=99), tiny_data, tmp_path / "b")
    assert resumed.resume() == 1
    summary = resumed.fit()

    for key, value in reference.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    strip = lambda history: [{k: v for k, v in h.items() if k != "seconds"} for h in history]  # noqa: E731
    assert strip(summary.history) == strip(reference.history) and len(summary.history) == 3
    assert (summary.best_epoch, summary.best_metric) == (reference.best_epoch, reference.best_metric)
    best_a = read_checkpoint(reference.best_path)["model_state"]
    best_b = read_checkpoint(resumed.best_path)["model_state"]
    assert all(torch.equal(best_a[k], best_b[k]) for k in best_a)


def test_checkpoints_written_by_training(tiny_data, tmp_path):
    trainer = run_trainer(tiny_model(), tiny_data, tmp_path, run_info={"strategy": "one-stage", "stage": 1,
                                                                       "dataset": "synthetic", "keypoints": "gt"})
    summary = trainer.fit()
    best, last = read_checkpoint(summary.best_path), read_checkpoint(summary.last_path)
    assert best["optimizer_state"] is None and best["rng_state"] is None           # small: evaluate / fine-tune
    assert last["optimizer_state"] is not None and last["epoch"] == 3              # resumable
    assert best["epoch"] == summary.best_epoch
    assert best["best_metric"] == pytest.approx(min(h["val_p1_fused"] for h in summary.history))
    assert best["dataset"] == "synthetic" and best["train_config"]["batch_size"] == 32
    assert best["model_config"]["channels"] == 8 and best["receptive_field"] == 9
    history = summary.frame
    assert list(history.index) == [1, 2, 3]
    assert {"train_unfused", "train_fused", "val_p1_unfused", "val_p1_fused", "lr", "seconds"} <= set(history)
    assert history["lr"].tolist() == pytest.approx([1e-3, 0.95e-3, 0.95**2 * 1e-3])
    with pytest.raises(ValueError, match="cannot be resumed exactly"):
        run_trainer(tiny_model(), tiny_data, tmp_path).resume(summary.best_path)
    with pytest.raises(ValueError, match="already completed 3 epochs"):
        run_trainer(tiny_model(), tiny_data, tmp_path).resume()


def test_without_validation_the_last_epoch_is_kept(tiny_data, tmp_path):
    trainer = run_trainer(tiny_model(), tiny_data, tmp_path, tiny_config(epochs=2, validate=False))
    summary = trainer.fit()
    assert summary.best_epoch == 2 and summary.best_metric is None
    assert not any(k.startswith("val_") for k in summary.history[-1])
    best = read_checkpoint(summary.best_path)["model_state"]
    assert all(torch.equal(best[k], v) for k, v in trainer.model.state_dict().items())


def test_frozen_parameters_stay_out_of_the_optimiser(tiny_data):
    model = tiny_model()
    frozen = [p for name, p in model.named_parameters() if name.startswith(next(iter(model.state_dict())).split(".")[0])]
    for p in frozen:
        p.requires_grad_(False)
    before = [p.detach().clone() for p in frozen]
    trainer = Trainer(model, tiny_config(epochs=1), *tiny_data, skeleton=H36M_17, progress=False)
    in_optimiser = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert frozen and not any(id(p) in in_optimiser for p in frozen)
    trainer.fit()
    assert all(torch.equal(a, b) for a, b in zip(before, frozen))


def test_a_short_real_training_run_reduces_the_error():
    from ehfusion.data import load_dataset

    ds = load_dataset("embedded", keypoints="gt")
    train, val = split_validation(ds.sequences(subjects=["S1", "S8"], actions=["walk", "run"]), ["S8"])
    model = tiny_model(channels=16, latent=16, hidden=32, dropout=0.0)
    before = evaluate(model, val, flip_tta=True).p1
    trainer = Trainer(model, tiny_config(epochs=4, batch_size=128, lr=3e-3), train, val, skeleton=ds.skeleton,
                      progress=False)
    summary = trainer.fit()
    losses = summary.frame["train_fused"]
    assert losses.iloc[-1] < 0.7 * losses.iloc[0]
    assert summary.best_metric < 0.8 * before
