"""The readable per-group model computes exactly what the fast batched model computes.

For each configuration the batched :class:`EHFusionNet`'s weights are copied into :class:`ReferenceEHFusion` with
:func:`load_from_batched`; both then run in float64 and must agree on outputs (evaluation mode and training mode with
dropout 0), on every parameter's gradient and on the BatchNorm statistics a training step leaves behind.
"""
from __future__ import annotations

import pytest
import torch

from ehfusion.models import ENCODER_PARTS, ModelConfig, ReferenceEHFusion, build_model, load_from_batched, stage_config
from ehfusion.models.blocks import count_real_parameters
from ehfusion.models.reference import reference_state_from_batched

TINY = dict(channels=8, latent=8, hidden=12, angle_channels=6, angle_features=4, camera_features=4, camera_hidden=3,
            dropout=0.0)
H36M_CAMERA = [2.29, 2.29, 0.025, 0.028, -0.2, 0.24, -0.003, -0.001, -0.0014]
TOLERANCE = dict(rtol=1e-7, atol=1e-9)

#: (name, config changes, strategy, stage)
CASES = [
    ("27 frames, one-stage, heterogeneous", {}, "one-stage", 1),
    ("81 frames, one-stage", {"filter_widths": (3, 3, 3, 3)}, "one-stage", 1),
    ("three-stage, stage 1", {}, "three-stage", 1),
    ("three-stage, stage 2 (encoders frozen)", {}, "three-stage", 2),
    ("three-stage, stage 3", {}, "three-stage", 3),
    ("fusion fc", {"fusion": "fc"}, "one-stage", 1),
    ("fusion nddr", {"fusion": "nddr"}, "one-stage", 1),
    ("causal", {"causal": True}, "one-stage", 1),
    ("detached fusion input", {"detach_fusion_input": True}, "one-stage", 1),
    ("humaneva15", {"layout": "humaneva15"}, "one-stage", 1),
    ("humaneva15, fusion fc, 81 frames", {"layout": "humaneva15", "fusion": "fc", "filter_widths": (3, 3, 3, 3)},
     "one-stage", 1),
]


def case_config(changes: dict, strategy: str, stage: int) -> ModelConfig:
    return stage_config(ModelConfig(**{**TINY, **changes}), strategy, stage)


def inputs(cfg: ModelConfig, batch: int = 6, frames: int | None = None, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    window = 0.3 * torch.randn(batch, frames or cfg.receptive_field, cfg.skeleton.num_joints, 2, generator=g,
                               dtype=torch.float64)
    camera = torch.tensor(H36M_CAMERA, dtype=torch.float64).repeat(batch, 1)
    camera[:, 2:4] += 0.01 * torch.randn(batch, 2, generator=g, dtype=torch.float64)
    if cfg.layout == "humaneva15":
        camera[::2] = 0.0  # unknown intrinsics, as HumanEva-I has
    return window, camera


def trained_fast_model(cfg: ModelConfig, stage: int):
    """A batched model with non-trivial BatchNorm statistics and affine parameters (float64)."""
    torch.manual_seed(0)
    fast = build_model(cfg).double()
    with torch.no_grad():
        for name, p in fast.named_parameters():
            if "bn" in name:  # BatchNorm scales and shifts away from 1 and 0
                p.add_(0.1 * torch.randn_like(p))
        for seed in (1, 2):
            fast.train()(*inputs(cfg, seed=seed))
    if stage == 2:
        fast.set_frozen_parts(ENCODER_PARTS)
    return fast


def reference_of(fast) -> ReferenceEHFusion:
    reference = ReferenceEHFusion(fast.config).double()
    load_from_batched(reference, fast.state_dict())
    reference.set_frozen_parts(fast.frozen_parts)
    return reference.train(fast.training)


def assert_same_outputs(fast_out: dict, reference_out: dict) -> None:
    assert fast_out.keys() == reference_out.keys()
    for branch in fast_out:
        torch.testing.assert_close(reference_out[branch], fast_out[branch], **TOLERANCE)


@pytest.mark.parametrize("changes, strategy, stage", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_reference_model_equals_the_batched_model(changes, strategy, stage):
    cfg = case_config(changes, strategy, stage)
    fast = trained_fast_model(cfg, stage)
    window, camera = inputs(cfg, seed=3)

    # the padding is gone: the reference has exactly the parameters that influence the batched model's outputs
    reference = reference_of(fast.eval())
    assert sum(p.numel() for p in reference.parameters()) == count_real_parameters(fast)
    assert sorted(reference.decoders) == sorted(cfg.branches) and bool(reference.fusion) == cfg.builds_fusion

    # evaluation mode: running statistics
    with torch.no_grad():
        assert_same_outputs(fast(window, camera), reference(window, camera))

    # training mode (dropout 0): batch statistics, then the same gradients and the same updated statistics
    fast.train()
    reference = reference_of(fast)
    fast_out, reference_out = fast(window, camera), reference(window, camera)
    assert_same_outputs(fast_out, reference_out)
    target = torch.randn_like(fast_out[cfg.answer_branch])
    for outputs in (fast_out, reference_out):
        sum(((out - target) ** 2).mean() for out in outputs.values()).backward()

    gradients = {name: p.grad for name, p in fast.named_parameters() if p.grad is not None}
    expected = reference_state_from_batched(cfg, {**fast.state_dict(), **gradients})
    for name, p in reference.named_parameters():
        frozen = name.split(".")[0] in reference.frozen_parts
        assert p.requires_grad != frozen, name
        if frozen:
            assert p.grad is None, name
        else:
            assert p.grad is not None, name
            torch.testing.assert_close(p.grad, expected[name], **TOLERANCE, msg=lambda m: f"{name}: {m}")

    after_step = reference_state_from_batched(cfg, fast.state_dict())
    for name, value in reference.state_dict().items():
        torch.testing.assert_close(value, after_step[name], **TOLERANCE, msg=lambda m: f"{name}: {m}")


def test_whole_sequence_mode_equals_the_batched_model():
    cfg = case_config({"causal": True}, "one-stage", 1)
    fast = trained_fast_model(cfg, 1).eval()
    reference = reference_of(fast)
    keypoints, camera = inputs(cfg, batch=2, frames=cfg.receptive_field + 5)
    with torch.no_grad():
        fast_out = fast.forward_sequence(keypoints, camera)
        reference_out = reference.forward_sequence(keypoints, camera)
    assert reference_out["fused"].shape == (2, 6, cfg.skeleton.num_joints, 3)
    assert_same_outputs(fast_out, reference_out)


def test_reference_model_keeps_the_model_contract():
    cfg = case_config({}, "one-stage", 1)
    reference = ReferenceEHFusion(cfg)
    assert reference.answer_branch == "fused" and reference.receptive_field == 27
    reference.set_bn_momentum(0.01)
    assert {m.momentum for m in reference.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)} == {0.01}
    with pytest.raises(ValueError, match="window must have shape"):
        reference(torch.zeros(2, 9, 17, 2), torch.zeros(2, 9))
    with pytest.raises(ValueError, match="architecture='ehfusion'"):
        ReferenceEHFusion(cfg.replace(architecture="videopose3d"))


def test_loading_rejects_another_configuration_and_accepts_an_old_stage1_file_with_fusion_weights():
    one_stage = case_config({}, "one-stage", 1)
    state = build_model(one_stage).state_dict()
    for other in (one_stage.replace(layout="humaneva15"), one_stage.replace(fusion="fc"), one_stage.replace(latent=12)):
        with pytest.raises(ValueError, match="not that of an EHFusionNet of this configuration"):
            load_from_batched(ReferenceEHFusion(other), state)
    with pytest.raises(ValueError, match=r"unexpected \['extra.weight'\]"):
        load_from_batched(ReferenceEHFusion(one_stage), {**state, "extra.weight": torch.ones(1)})
    # a stage-1 file from before 'build only what runs' also carries the (unused) fusion module
    stage1 = case_config({}, "three-stage", 1)
    old_file = {k: v for k, v in state.items() if not k.startswith("decoders.fused")}
    reference = ReferenceEHFusion(stage1)
    load_from_batched(reference, old_file)
    assert torch.equal(reference.decoders["unfused"][0].fc_out.bias, state["decoders.unfused.output_layer.bias"][0])
