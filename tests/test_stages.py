import pytest
import torch

from ehfusion.models import (
    ENCODER_PARTS,
    ModelConfig,
    build_model,
    freeze_encoders,
    load_stage1_into_stage2,
    load_stage2_into_stage3,
    stage_config,
    unfreeze_all,
)

SMALL = ModelConfig(channels=16, latent=16, hidden=32, angle_channels=8, angle_features=8, camera_features=8)


def batch(seed: int = 0, size: int = 16):
    g = torch.Generator().manual_seed(seed)
    window = 0.3 * torch.randn(size, 27, 17, 2, generator=g)
    camera = torch.tensor([2.29, 2.29, 0.025, 0.028, 0, 0, 0, 0, 0]).repeat(size, 1)
    target = 0.2 * torch.randn(size, 17, 3, generator=g)
    return window, camera, target


def train_steps(model, steps: int, seed: int = 0) -> None:
    model.train()
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for i in range(steps):
        window, camera, target = batch(seed + i)
        out = model(window, camera)
        loss = sum((v - target).norm(dim=-1).mean() for v in out.values())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()


def encoder_state(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if k.startswith(ENCODER_PARTS)}


def trained_stage1():
    torch.manual_seed(0)
    stage1 = build_model(stage_config(SMALL, "three-stage", 1))
    train_steps(stage1, 3)
    return stage1


def test_stage_configs():
    assert stage_config(SMALL, "one-stage").branches == ("unfused", "fused")
    assert stage_config(SMALL, "three-stage", 1).branches == ("unfused",)
    assert stage_config(SMALL, "three-stage", 3).branches == ("fused",)
    with pytest.raises(ValueError, match="stages 1, 2, 3"):
        stage_config(SMALL, "three-stage", 4)
    with pytest.raises(ValueError, match="strategy"):
        stage_config(SMALL, "two-stage", 1)


def test_freezing_is_by_module_and_keeps_batchnorm_in_eval_mode():
    model = build_model(stage_config(SMALL, "three-stage", 2))
    assert freeze_encoders(model) == ENCODER_PARTS
    model.train()  # must not wake the frozen BatchNorms up
    for name in ENCODER_PARTS:
        part = getattr(model, name)
        assert not part.training and all(not m.training for m in part.modules())
        assert all(not p.requires_grad for p in part.parameters())
    assert model.training and model.decoders.training and model.fusion.training
    assert all(p.requires_grad for p in model.decoders.parameters())
    before = encoder_state(model)
    train_steps(model, 2)
    after = encoder_state(model)
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights *and* running statistics unchanged
    unfreeze_all(model)
    model.train()
    assert model.local_encoders.training and all(p.requires_grad for p in model.parameters())


def test_stage2_starts_exactly_at_stage1_accuracy_and_reports_what_it_did():
    stage1 = trained_stage1()
    stage2 = build_model(stage_config(SMALL, "three-stage", 2))
    report = load_stage1_into_stage2(stage2, stage1.state_dict())
    window, camera, _ = batch(seed=99)
    stage1.eval()
    stage2.eval()
    with torch.no_grad():
        assert torch.allclose(stage2(window, camera)["fused"], stage1(window, camera)["unfused"], atol=1e-6)
    # every encoder tensor loaded (angle encoders and camera embedding included), fusion new, decoders initialised
    assert any(k.startswith("angle_encoders.") for k in report.loaded)
    assert any(k.startswith("camera_embedding.") for k in report.loaded)
    assert {k.split(".")[0] for k in report.loaded} == set(ENCODER_PARTS)
    assert report.new and all(k.startswith("fusion.") for k in report.new)
    assert report.initialised_from["decoders.fused.input_layer.weight"] == "decoders.unfused.input_layer.weight"
    assert report.frozen == ENCODER_PARTS
    text = str(report)
    assert "loaded unchanged" in text and "frozen modules" in text and "fusion.operators" in text
    fused_rows = stage2.decoders["fused"].input_layer.weight[:, :, SMALL.latent + SMALL.angle_features:]
    assert torch.equal(fused_rows, torch.zeros_like(fused_rows))


def test_stage2_gradients_skip_frozen_parts_and_reach_fusion_after_one_step():
    stage2 = build_model(stage_config(SMALL, "three-stage", 2))
    load_stage1_into_stage2(stage2, trained_stage1().state_dict())
    stage2.train()
    window, camera, target = batch(seed=5)
    (stage2(window, camera)["fused"] - target).square().mean().backward()
    for name, p in stage2.named_parameters():
        if name.startswith(ENCODER_PARTS):
            assert p.grad is None, name
        elif name.startswith("decoders."):
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        else:  # fusion: its output meets zero decoder weights at first
            assert p.grad is None or p.grad.abs().sum() == 0, name
    train_steps(stage2, 1)
    stage2.zero_grad()
    (stage2(window, camera)["fused"] - target).square().mean().backward()
    for name, p in stage2.named_parameters():
        if name.startswith("fusion."):
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_stage1_to_stage2_to_stage3_keeps_encoders_bit_identical():
    stage1 = trained_stage1()
    encoders = encoder_state(stage1)
    stage2 = build_model(stage_config(SMALL, "three-stage", 2))
    load_stage1_into_stage2(stage2, stage1.state_dict())
    train_steps(stage2, 3, seed=10)
    assert all(torch.equal(encoders[k], v) for k, v in encoder_state(stage2).items())
    stage3 = build_model(stage_config(SMALL, "three-stage", 3))
    report = load_stage2_into_stage3(stage3, stage2.state_dict())
    assert len(report.loaded) == len(stage2.state_dict()) and not report.frozen
    assert all(torch.equal(encoders[k], v) for k, v in encoder_state(stage3).items())
    assert all(p.requires_grad for p in stage3.parameters())
    for a, b in zip(stage2.state_dict().values(), stage3.state_dict().values()):
        assert torch.equal(a, b)
    train_steps(stage3, 1, seed=20)
    assert not torch.equal(encoders["local_encoders.expand.weight"], stage3.local_encoders.expand.weight)


def test_hand_over_errors_are_clear():
    stage1 = build_model(stage_config(SMALL, "three-stage", 1))
    wrong = build_model(stage_config(SMALL, "one-stage"))
    with pytest.raises(ValueError, match="branches"):
        load_stage1_into_stage2(wrong, stage1.state_dict())
    stage2 = build_model(stage_config(SMALL, "three-stage", 2))
    with pytest.raises(ValueError, match="stage-1 checkpoint"):
        load_stage1_into_stage2(stage2, stage2.state_dict())
    bigger = build_model(stage_config(SMALL.replace(channels=32), "three-stage", 1))
    with pytest.raises(ValueError, match="same ModelConfig|ModelConfig"):
        load_stage1_into_stage2(stage2, bigger.state_dict())
    with pytest.raises(ValueError, match="does not match"):
        load_stage2_into_stage3(build_model(stage_config(SMALL, "three-stage", 3)), stage1.state_dict())
