"""Checkpoint format: round trip, atomic writes, safe loading, name resolution, compatibility checks, RNG states."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from ehfusion import checkpoints
from ehfusion import shipping
from ehfusion.checkpoints import check_compatible, list_checkpoints, read_checkpoint, resolve_checkpoint, save_checkpoint
from ehfusion.random_state import capture_rng_state, restore_rng_state

CONFIG = {"layout": "h36m", "filter_widths": (3, 3), "channels": 8, "latent": 16, "fusion": "heterogeneous",
          "architecture": "ehfusion", "causal": False, "branches": ("unfused", "fused")}


class Tiny(torch.nn.Module):
    receptive_field = 9

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)
        self.norm = torch.nn.BatchNorm1d(3)


def save(path, model=None, **overrides):
    model = model or Tiny()
    fields = dict(model_config=CONFIG, strategy="one-stage", stage=1, dataset="embedded", keypoints="gt", epoch=3,
                  best_epoch=2, best_metric=51.5, metrics={"val_p1_fused": np.float32(51.5)},
                  history=[{"epoch": 1, "train_fused": 80.0}], train_config={"lr": 1e-3, "val_subjects": ["S8"]})
    fields.update(overrides)
    return save_checkpoint(path, model, **fields)


def test_round_trip_keeps_weights_and_metadata(tmp_path):
    model = Tiny()
    optimizer = torch.optim.AdamW(model.parameters(), amsgrad=True)
    loss = model.norm(model.linear(torch.randn(5, 4))).sum()
    loss.backward()
    optimizer.step()
    path = save(tmp_path / "a.bin", model, optimizer=optimizer, rng_state=capture_rng_state())
    payload = read_checkpoint(path)
    assert payload["format_version"] == checkpoints.FORMAT_VERSION
    for key, value in model.state_dict().items():
        assert torch.equal(payload["model_state"][key], value)
    assert payload["receptive_field"] == 9 and payload["layout"] == "h36m"
    assert tuple(payload["model_config"]["filter_widths"]) == (3, 3)
    assert payload["metrics"]["val_p1_fused"] == pytest.approx(51.5)  # numpy scalar stored as a float
    assert payload["history"][0]["train_fused"] == 80.0 and payload["best_epoch"] == 2
    assert payload["optimizer_state"]["param_groups"][0]["amsgrad"] is True
    restored = torch.optim.AdamW(Tiny().parameters(), amsgrad=True)
    restored.load_state_dict(payload["optimizer_state"])
    assert payload["created"].endswith("+00:00")


def test_files_hold_only_safe_types(tmp_path):
    with pytest.raises(TypeError, match="weights_only"):
        save(tmp_path / "bad.bin", metrics={"when": object()})
    assert not (tmp_path / "bad.bin").exists()


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    path = save(tmp_path / "model.bin")
    before = path.read_bytes()

    def broken_save(obj, handle):
        handle.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoints.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save(path, epoch=99)
    with pytest.raises(OSError):
        save(tmp_path / "new.bin")
    assert path.read_bytes() == before               # the old file is untouched
    assert not (tmp_path / "new.bin").exists()       # no half-written new file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.bin"]  # and no temporary left behind


def test_unreadable_and_foreign_files_are_refused(tmp_path):
    (tmp_path / "junk.bin").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="could not be read as an ehfusion checkpoint"):
        read_checkpoint(tmp_path / "junk.bin")
    torch.save({"epoch": 3, "model_pos": {}}, tmp_path / "release.bin")  # the release's keys
    with pytest.raises(ValueError, match="not an ehfusion checkpoint.*format_version"):
        read_checkpoint(tmp_path / "release.bin")
    path = save(tmp_path / "future.bin")
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = checkpoints.FORMAT_VERSION + 1
    torch.save(payload, path)
    with pytest.raises(ValueError, match="newer than this ehfusion"):
        read_checkpoint(path)


def test_resolve_by_path_by_name_and_listing(tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    save(first / "gt_one-stage_best_epoch.bin")
    save(second / "det_one-stage_best_epoch.bin", keypoints="det")
    assert resolve_checkpoint(first / "gt_one-stage_best_epoch.bin") == (first / "gt_one-stage_best_epoch.bin").resolve()
    assert resolve_checkpoint("det_one-stage_best_epoch.bin", [first, second]).parent == second.resolve()
    assert resolve_checkpoint("det_one-stage_best_epoch", [second]).name == "det_one-stage_best_epoch.bin"
    with pytest.raises(FileNotFoundError) as err:
        resolve_checkpoint("missing.bin", [first, second])
    assert "gt_one-stage_best_epoch.bin" in str(err.value) and "det_one-stage_best_epoch.bin" in str(err.value)
    (first / "broken.bin").write_bytes(b"x")
    with pytest.warns(UserWarning, match="skipped broken.bin"):
        listing = list_checkpoints(first)
    assert list(listing) == ["broken.bin", "gt_one-stage_best_epoch.bin"]
    assert "unreadable" in listing["broken.bin"]
    assert "one-stage on embedded/gt" in listing["gt_one-stage_best_epoch.bin"]
    assert "51.5 mm" in listing["gt_one-stage_best_epoch.bin"]
    assert list_checkpoints(tmp_path / "nowhere") == {}


def test_mismatch_names_every_differing_field_with_both_values(tmp_path):
    meta = read_checkpoint(save(tmp_path / "a.bin"))
    check_compatible(meta, {"stage": 1, "latent": 16, "filter_widths": [3, 3], "layout": "h36m"})  # lists == tuples
    with pytest.raises(ValueError) as err:
        check_compatible(meta, {"stage": 3, "latent": 512, "channels": 8, "causal": True},
                         labels={"latent": "latent size (-lfd)"}, source="checkpoint a.bin")
    message = str(err.value)
    assert "checkpoint a.bin does not match" in message
    assert "stage: checkpoint a.bin has 1, requested 3" in message
    assert "latent size (-lfd): checkpoint a.bin has 16, requested 512" in message
    assert "causal: checkpoint a.bin has False, requested True" in message
    assert "channels" not in message
    with pytest.raises(ValueError, match="filter_widths: the checkpoint has 3,3, requested 3,3,3"):
        check_compatible(meta, {"filter_widths": (3, 3, 3)})


def test_rng_state_round_trip_through_a_file(tmp_path):
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    state = capture_rng_state()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    path = save(tmp_path / "rng.bin", rng_state=state)
    torch.manual_seed(9), np.random.seed(9), random.seed(9)
    restore_rng_state(read_checkpoint(path)["rng_state"])
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1]) and expected[2] == again[2]


def test_strip_training_state_makes_a_small_file(tmp_path):
    model = Tiny()
    optimizer = torch.optim.AdamW(model.parameters(), amsgrad=True)
    model.norm(model.linear(torch.randn(5, 4))).sum().backward()
    optimizer.step()
    path = save(tmp_path / "full.bin", model, optimizer=optimizer, rng_state=capture_rng_state())
    small = shipping.strip_training_state(path, tmp_path / "small.bin")
    payload = read_checkpoint(small)
    assert payload["optimizer_state"] is None and payload["rng_state"] is None
    assert small.stat().st_size < path.stat().st_size


def test_load_checkpoint_rebuilds_the_model_in_eval_mode(tmp_path, monkeypatch):
    from ehfusion import paths
    from ehfusion.checkpoints import load_checkpoint
    from ehfusion.models import ModelConfig, build_model

    config = ModelConfig(filter_widths=(3,), channels=8, latent=8, hidden=8, angle_channels=4, angle_features=4,
                         camera_features=4, branches=("unfused",))
    model = build_model(config)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)  # not the initial weights
    monkeypatch.setattr(paths, "CHECKPOINT_DIR", tmp_path)
    save(tmp_path / "gt_three-stage_1_best_epoch.bin", model, model_config=config, strategy="three-stage")
    ckpt = load_checkpoint("gt_three-stage_1_best_epoch.bin")         # a bare name, found in CHECKPOINT_DIR
    assert ckpt.config == config and not ckpt.model.training
    assert all(torch.equal(ckpt.model.state_dict()[k], v) for k, v in model.state_dict().items())
    assert ckpt.meta["strategy"] == "three-stage" and "model_state" not in ckpt.meta
    assert "three-stage stage 1 on embedded/gt" in ckpt.describe()
    assert load_checkpoint(ckpt.path, build=False).model is None
    other = ModelConfig(filter_widths=(3,), channels=16, latent=8, hidden=8, angle_channels=4, angle_features=4,
                        camera_features=4, branches=("unfused",))
    save(tmp_path / "wrong.bin", model, model_config=other)               # weights that do not fit the config
    with pytest.raises(ValueError, match="do not fit the model"):
        load_checkpoint(tmp_path / "wrong.bin")


def test_a_stage1_file_with_the_old_unused_fusion_module_loads_and_resumes(tmp_path, monkeypatch, sequences):
    """Stage-1 models used to build a fusion module they never called; files written then drop it when read."""
    from ehfusion.checkpoints import load_checkpoint
    from ehfusion.models import ModelConfig, build_model
    from ehfusion.skeleton import H36M_17
    from ehfusion.training import TrainConfig, Trainer, last_checkpoint_name

    config = ModelConfig(filter_widths=(3,), channels=8, latent=8, hidden=8, angle_channels=4, angle_features=4,
                         camera_features=4, branches=("unfused",))
    train = dict(skeleton=H36M_17, name="old_best_epoch.bin", progress=False)
    with monkeypatch.context() as old_rule:  # how models were built then: a fusion module whenever fusion != "none"
        old_rule.setattr(ModelConfig, "builds_fusion", property(lambda cfg: cfg.fusion != "none"))
        old = build_model(config)
        trainer = Trainer(old, TrainConfig(epochs=1, batch_size=16, device="cpu"), sequences[:2], sequences[2:],
                          checkpoint_dir=tmp_path / "old", **train)
        trainer.fit()
    last = tmp_path / "old" / last_checkpoint_name("old_best_epoch.bin")
    stored = torch.load(last, weights_only=True)["model_state"]
    assert old.fusion is not None and any(name.startswith("fusion.") for name in stored)

    loaded = load_checkpoint(last)
    assert loaded.model.fusion is None
    assert sorted(loaded.model.state_dict()) == sorted(k for k in stored if not k.startswith("fusion."))
    window, camera = torch.randn(3, 3, 17, 2) * 0.3, torch.randn(3, 9)
    with torch.no_grad():
        assert torch.equal(loaded.model(window, camera)["unfused"], old.eval()(window, camera)["unfused"])

    resumed = Trainer(build_model(config), TrainConfig(epochs=2, batch_size=16, device="cpu"), sequences[:2],
                      sequences[2:], checkpoint_dir=tmp_path / "new", **train)
    assert resumed.resume(last) == 1
    old_moments = {n: trainer.optimizer.state[p] for n, p in old.named_parameters() if p in trainer.optimizer.state}
    new_moments = {n: resumed.optimizer.state[p] for n, p in resumed.model.named_parameters()}
    assert sorted(old_moments) == sorted(new_moments)  # the fusion weights never had a gradient
    for name, moments in new_moments.items():
        assert all(torch.equal(moments[k], old_moments[name][k]) for k in ("exp_avg", "exp_avg_sq")), name
    resumed.fit()
    assert resumed.epoch == 2


def test_half_precision_shipping_copy_loads_and_predicts_like_the_original(tmp_path):
    from ehfusion.checkpoints import load_checkpoint, save_checkpoint
    from ehfusion.shipping import strip_training_state
    from ehfusion.models import ModelConfig, build_model

    config = ModelConfig(channels=16, latent=16, hidden=16, angle_channels=8, angle_features=8, camera_features=8)
    model = build_model(config).eval()
    full = save_checkpoint(tmp_path / "full.bin", model, model_config=config, strategy="one-stage", stage=1,
                           dataset="embedded", keypoints="det", epoch=1)
    small = strip_training_state(full, tmp_path / "small.bin", half=True)
    assert small.stat().st_size < 0.7 * full.stat().st_size
    restored = load_checkpoint(small)
    assert all(p.dtype == torch.float32 for p in restored.model.parameters())
    window, camera = torch.randn(4, 27, 17, 2) * 0.3, torch.randn(4, 9)
    with torch.no_grad():
        a, b = model(window, camera)["fused"], restored.model(window, camera)["fused"]
    assert torch.allclose(a, b, atol=1e-2) and not torch.equal(a, b)  # rounded weights, nearly the same output


def test_select_by_validation_ranks_seeds_and_refuses_unlike_runs(tmp_path):
    seeds = {0: 53.0, 1: 49.5, 2: 51.0}
    paths = [save(tmp_path / f"seed{s}.bin", best_metric=m, train_config={"lr": 1e-3, "seed": s, "epochs": 10})
             for s, m in seeds.items()]
    ranked = shipping.select_by_validation(paths)
    assert [p.name for p, _ in ranked] == ["seed1.bin", "seed2.bin", "seed0.bin"]
    assert [m for _, m in ranked] == [49.5, 51.0, 53.0]

    longer = save(tmp_path / "longer.bin", train_config={"lr": 1e-3, "seed": 3, "epochs": 20})
    with pytest.raises(ValueError, match="differ in train_config.epochs"):
        shipping.select_by_validation([*paths, longer])
    stage3 = save(tmp_path / "stage3.bin", strategy="three-stage", stage=3, train_config={"lr": 1e-3, "epochs": 10})
    with pytest.raises(ValueError, match="differ in strategy, stage"):
        shipping.select_by_validation([paths[0], stage3])
    unvalidated = save(tmp_path / "noval.bin", best_metric=None)
    with pytest.raises(ValueError, match="no validation error"):
        shipping.select_by_validation([unvalidated])
