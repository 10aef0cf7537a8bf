import math

import pytest
import torch
from torch import nn

from benchmarks.release_style import release_style_from
from ehfusion.models import ModelConfig, build_model, stage_config
from ehfusion.models.blocks import CameraEmbedding, GroupedLinear, batch_norm_unfolded, count_real_parameters
from ehfusion.models.introspection import count_macs, model_table, parameter_counts, sequence_macs_per_frame
from ehfusion.models.ops import (SMALL_ROWS, bernoulli_keep_mask, grouped_matmul, grouped_matmul_keep_tap,
                                 leaky_relu_dropout)

SMALL = dict(channels=16, latent=16, hidden=32, angle_channels=8, angle_features=8, camera_features=8)
H36M_CAMERA = [2.29, 2.29, 0.025, 0.028, -0.2, 0.24, -0.003, -0.001, -0.0014]


def small(**changes) -> ModelConfig:
    return ModelConfig(**{**SMALL, **changes})


def inputs(cfg: ModelConfig, batch: int = 4, seed: int = 0, frames: int | None = None):
    g = torch.Generator().manual_seed(seed)
    joints = cfg.skeleton.num_joints
    window = 0.3 * torch.randn(batch, frames or cfg.receptive_field, joints, 2, generator=g)
    camera = torch.tensor(H36M_CAMERA).repeat(batch, 1)
    camera[:, 2:4] += 0.01 * torch.randn(batch, 2, generator=g)
    return window, camera


# ---------------------------------------------------------------------------------------------------------------------
# configuration


def test_config_round_trip_and_default_branches():
    cfg = ModelConfig(filter_widths=[3, 3, 3, 3], latent=512, causal=True)
    again = ModelConfig.from_dict(cfg.to_dict())
    assert again == cfg and again.filter_widths == (3, 3, 3, 3) and again.receptive_field == 81
    assert ModelConfig().branches == ("unfused", "fused") and ModelConfig().answer_branch == "fused"
    assert ModelConfig(fusion="none").branches == ("unfused",)
    assert ModelConfig(architecture="videopose3d").branches == ("pose",)
    assert ModelConfig(branches=("fused", "unfused")).branches == ("unfused", "fused")  # canonical order
    assert stage_config(ModelConfig(), "three-stage", 2).branches == ("fused",)


@pytest.mark.parametrize("changes, message", [
    (dict(filter_widths=(3, 4)), "odd"),
    (dict(fusion="none", branches=("unfused", "fused")), "fusion"),
    (dict(fusion="sum"), "fusion must be one of"),
    (dict(layout="coco"), "no joint groups"),
    (dict(architecture="videopose3d", branches=("fused",)), "single branch"),
    (dict(latent=30), "multiple of 4"),
    (dict(dropout=1.0), "dropout"),
])
def test_config_rejects_bad_values_with_a_hint(changes, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**changes)


def test_config_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown ModelConfig field"):
        ModelConfig.from_dict({"latnet": 256})


# ---------------------------------------------------------------------------------------------------------------------
# kernels


@pytest.mark.parametrize("rows", [6, SMALL_ROWS + 3])  # one batched product / one product per (group, tap)
@pytest.mark.parametrize("shared", [False, True])
def test_grouped_matmul_matches_einsum_and_passes_gradcheck(shared, rows):
    g = torch.Generator().manual_seed(1)
    taps, groups, n_in, n_out = 3, 4, 5, 7
    base = torch.randn(rows, taps, groups + 1, n_in, generator=g, dtype=torch.float64)
    x = base[:, :, 1:].requires_grad_(False).clone().requires_grad_(True)  # strided input is exercised below
    weight = torch.randn(1 if shared else groups, taps, n_in, n_out, generator=g, dtype=torch.float64,
                         requires_grad=True)
    bias = torch.randn(weight.shape[0], n_out, generator=g, dtype=torch.float64, requires_grad=True)
    w_full = weight.expand(groups, -1, -1, -1)
    expected = torch.einsum("rjgi,gjio->rgo", x, w_full) + bias.expand(groups, -1)
    assert torch.allclose(grouped_matmul(x, weight, bias), expected)
    strided = base[:, :, 1:]  # non-contiguous view: no copy needed, same result
    assert torch.allclose(grouped_matmul(strided, weight, bias), torch.einsum("rjgi,gjio->rgo", strided, w_full)
                          + bias.expand(groups, -1))
    init = torch.randn(rows, groups, n_out, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.allclose(grouped_matmul(x, weight, None, init), torch.einsum("rjgi,gjio->rgo", x, w_full) + init)
    if rows <= SMALL_ROWS:  # the backward pass is the same for both forms; one gradcheck is enough (and fast)
        assert torch.autograd.gradcheck(lambda a, w, b: grouped_matmul(a, w, b), (x, weight, bias))
        assert torch.autograd.gradcheck(lambda a, w, i: grouped_matmul(a, w, None, i), (x, weight, init))


@pytest.mark.parametrize("tap", [0, 1, 2])
def test_grouped_matmul_keep_tap_equals_the_two_separate_computations(tap):
    g = torch.Generator().manual_seed(2)
    source = torch.randn(12, 4, 8, generator=g, requires_grad=True)  # (rows, groups, in): a layer's output
    weight = torch.randn(4, 3, 8, 5, generator=g, requires_grad=True)
    upstream_out, upstream_tap = torch.randn(4, 4, 5, generator=g), torch.randn(4, 4, 8, generator=g)

    def gradients(use_kernel):
        taps = (source * 1.0).view(4, 3, 4, 8)
        if use_kernel:
            out, residual = grouped_matmul_keep_tap(taps, weight, tap)
        else:
            out, residual = grouped_matmul(taps, weight), taps[:, tap]
        ((out * upstream_out).sum() + (residual * upstream_tap).sum()).backward()
        result = (out.detach(), residual.detach(), source.grad.clone(), weight.grad.clone())
        source.grad, weight.grad = None, None
        return result

    for fast, plain in zip(gradients(True), gradients(False)):
        assert torch.equal(fast, plain)  # bit-identical values and gradients
    x = torch.randn(4, 3, 2, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 3, 3, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: grouped_matmul_keep_tap(a, b, tap), (x, w))
    with pytest.raises(ValueError, match="0 <= tap < taps"):
        grouped_matmul_keep_tap(x, w, 3)


def test_keep_mask_has_the_requested_probability():
    torch.manual_seed(0)
    for keep in (0.75, 0.9, 0.5):  # 0.75/0.5: exact 8-bit path; 0.9: 16-bit path
        mask = bernoulli_keep_mask((400, 500), keep)
        assert mask.dtype == torch.bool and mask.shape == (400, 500)
        assert abs(mask.float().mean().item() - keep) < 0.005
    assert bernoulli_keep_mask((10,), 1.0).all() and not bernoulli_keep_mask((10,), 0.0).any()
    assert torch.equal(bernoulli_keep_mask((3,), 1.0, dtype=torch.float32), torch.ones(3))


def test_float_keep_mask_is_the_same_draw_as_the_boolean_one():
    for keep in (0.75, 0.9):
        torch.manual_seed(1)
        as_bool = bernoulli_keep_mask((70, 30), keep)
        torch.manual_seed(1)
        as_float = bernoulli_keep_mask((70, 30), keep, dtype=torch.float32)
        assert as_float.dtype == torch.float32 and as_float.shape == (70, 30)
        assert torch.equal(as_float, as_bool.float())


def test_leaky_relu_dropout_values_and_gradient():
    torch.manual_seed(0)
    z = torch.randn(300, 200, requires_grad=True)
    assert torch.equal(leaky_relu_dropout(z, 0.25, training=False), torch.nn.functional.leaky_relu(z, 0.2))
    y = leaky_relu_dropout(z, 0.25, training=True)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.75) < 0.01
    expected = torch.nn.functional.leaky_relu(z, 0.2) / 0.75
    assert torch.allclose(y[kept], expected[kept])
    y.sum().backward()
    slope = torch.where(z > 0, torch.tensor(1.0), torch.tensor(0.2)) / 0.75
    assert torch.allclose(z.grad, slope * kept)


def test_grouped_linear_padding_never_matters_and_is_not_counted():
    layer = GroupedLinear(3, in_features=5, out_features=4, taps=2, in_sizes=[5, 3, 2], out_sizes=[4, 4, 1])
    x = torch.randn(7, 2, 3, 5)
    before = layer(x)
    with torch.no_grad():
        layer.weight.add_(torch.randn_like(layer.weight) * (1 - layer.weight_mask))  # garbage in the padding only
        layer.bias.add_(torch.randn_like(layer.bias) * (1 - layer.out_mask))
    after = layer(x)
    assert torch.equal(before[:, :2], after[:, :2]) and torch.equal(before[:, 2, :1], after[:, 2, :1])
    assert torch.equal(after[:, 2, 1:], torch.zeros(7, 3))
    # real parameters = three separate per-group layers
    assert layer.real_parameter_count() == (2 * 5 * 4 + 4) + (2 * 3 * 4 + 4) + (2 * 2 * 1 + 1)
    x.requires_grad_(True)
    layer(x).sum().backward()
    assert torch.equal(layer.weight.grad * (1 - layer.weight_mask), torch.zeros_like(layer.weight))


# ---------------------------------------------------------------------------------------------------------------------
# shapes and variants


@pytest.mark.parametrize("layout", ["h36m", "humaneva15"])
@pytest.mark.parametrize("widths", [(3, 3, 3), (3, 3, 3, 3), (3, 3, 3, 3, 3)])
def test_output_shapes_for_27_81_243_frames_and_both_layouts(layout, widths):
    for architecture in ("ehfusion", "videopose3d"):
        cfg = small(layout=layout, filter_widths=widths, architecture=architecture)
        model = build_model(cfg)
        assert model.receptive_field == math.prod(widths)
        window, camera = inputs(cfg, batch=2)
        out = model(window, camera)
        assert tuple(out) == cfg.branches and model.answer_branch in out
        for value in out.values():
            assert value.shape == (2, cfg.skeleton.num_joints, 3) and torch.isfinite(value).all()


@pytest.mark.parametrize("fusion", ["heterogeneous", "fc", "nddr", "none"])
def test_every_fusion_variant_builds_and_runs(fusion):
    cfg = small(fusion=fusion)
    model = build_model(cfg)
    out = model(*inputs(cfg))
    assert set(out) == ({"unfused"} if fusion == "none" else {"unfused", "fused"})
    if fusion != "none":
        assert set(model.fusion.operators) == {"torso", "limb"}  # separate operators in every variant
        expected = {"heterogeneous": ("FCFusion", "NDDRFusion"), "fc": ("FCFusion", "FCFusion"),
                    "nddr": ("NDDRFusion", "NDDRFusion")}[fusion]
        assert (type(model.fusion.operators["torso"]).__name__, type(model.fusion.operators["limb"]).__name__) \
            == expected
        assert not torch.allclose(out["fused"], out["unfused"])
    else:
        assert model.fusion is None


@pytest.mark.parametrize("branches", [("unfused",), ("fused",), ("unfused", "fused")])
def test_a_model_has_only_the_modules_its_branches_use(branches):
    cfg = small(fusion="heterogeneous", branches=branches)
    model = build_model(cfg)
    assert (model.fusion is not None) == ("fused" in branches) == cfg.builds_fusion
    sum(v.sum() for v in model(*inputs(cfg)).values()).backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []  # every weight shapes the prediction
    if branches == ("unfused",):
        assert parameter_counts(model)["total"] == parameter_counts(build_model(small(fusion="none")))["total"]
        assert cfg.unbuilt_fields == ("fusion", "fusion_blocks", "detach_fusion_input")
        with pytest.raises(RuntimeError, match="no fusion module"):
            model.fuse(torch.zeros(1, model.num_groups, cfg.latent))


def test_fused_features_of_a_group_ignore_its_own_local_features():
    cfg = small(dropout=0.0)
    model = build_model(cfg).eval()
    local = torch.randn(3, 5, cfg.latent)
    changed = local.clone()
    changed[:, 2] += 1.0  # group 2's own features
    a, b = model.fuse(local), model.fuse(changed)
    assert torch.allclose(a[:, 2], b[:, 2]) and not torch.allclose(a[:, 0], b[:, 0])


def test_wrong_inputs_raise_clear_errors():
    cfg = small()
    model = build_model(cfg)
    window, camera = inputs(cfg)
    with pytest.raises(ValueError, match="receptive field 27"):
        model(window[:, :9], camera)
    with pytest.raises(ValueError, match="camera must have shape"):
        model(window, camera[:2])
    with pytest.raises(ValueError, match="pad it"):
        model.forward_sequence(window[:1, :5], camera[:1])


# ---------------------------------------------------------------------------------------------------------------------
# execution modes


@pytest.mark.parametrize("architecture", ["ehfusion", "videopose3d"])
@pytest.mark.parametrize("causal", [False, True])
def test_whole_sequence_mode_equals_training_mode_on_every_frame(architecture, causal):
    torch.manual_seed(0)
    cfg = small(architecture=architecture, causal=causal, filter_widths=(3, 3))
    model = build_model(cfg)
    model.set_bn_momentum(1.0)
    model(*inputs(cfg, batch=32, seed=3))  # give every BatchNorm non-trivial running statistics
    model.eval()
    g = torch.Generator().manual_seed(1)
    keypoints = 0.3 * torch.randn(2, 30, 17, 2, generator=g)
    camera = torch.tensor([H36M_CAMERA, H36M_CAMERA])
    camera[1, 2] *= -1
    with torch.no_grad():
        sequence = model.forward_sequence(keypoints, camera)
        frames = 30 - cfg.receptive_field + 1
        for branch, value in sequence.items():
            assert value.shape == (2, frames, 17, 3)
        windows = keypoints.unfold(1, cfg.receptive_field, 1).permute(0, 1, 4, 2, 3)
        for v in range(2):
            single = model(windows[v], camera[v : v + 1].expand(frames, -1))
            for branch in sequence:
                assert torch.allclose(sequence[branch][v], single[branch], atol=1e-5), branch
        if architecture == "ehfusion":
            chunked = model.forward_sequence(keypoints, camera, chunk_windows=5)
            assert all(torch.allclose(chunked[b], sequence[b], atol=1e-6) for b in sequence)


# ---------------------------------------------------------------------------------------------------------------------
# release-style model: same function


@pytest.mark.parametrize("layout", ["h36m", "humaneva15"])
@pytest.mark.parametrize("fusion", ["heterogeneous", "fc", "nddr"])
def test_release_style_model_computes_the_same_function(layout, fusion):
    torch.manual_seed(0)
    cfg = small(layout=layout, fusion=fusion, dropout=0.0)
    model = build_model(cfg)
    window, camera = inputs(cfg, batch=16)
    release = release_style_from(model)
    assert count_real_parameters(model) == sum(p.numel() for p in release.parameters())
    out, ref = model(window, camera), release(window, camera)  # training mode: batch statistics
    for branch in cfg.branches:
        assert torch.allclose(out[branch], ref[branch], atol=1e-5)
    sum(v.square().sum() for v in out.values()).backward()
    sum(v.square().sum() for v in ref.values()).backward()
    # gradients agree too (the grouped kernels' hand-written backward)
    g_batched = model.local_encoders.expand.weight.grad[1, :, :18]  # group 1 (a limb, 18 real input channels)
    g_release = release.local_encoders[1].expand_conv.weight.grad.permute(2, 1, 0)
    assert torch.allclose(g_batched, g_release, rtol=1e-4, atol=1e-4)
    assert torch.allclose(model.decoders["fused"].output_layer.bias.grad[0, :15],
                          release.decoders["fused"][0].fc_out.bias.grad, rtol=1e-4, atol=1e-4)
    # running statistics were updated identically; evaluation mode agrees as well
    assert torch.allclose(model.local_encoders.expand_bn.running_mean[:16],
                          release.local_encoders[0].expand_bn.running_mean, atol=1e-6)
    model.eval()
    release = release_style_from(model).eval()
    out, ref = model(window, camera), release(window, camera)
    for branch in cfg.branches:
        assert torch.allclose(out[branch], ref[branch], atol=1e-5)


# ---------------------------------------------------------------------------------------------------------------------
# gradients, options


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    cfg = small()
    model = build_model(cfg)
    out = model(*inputs(cfg, batch=8))
    sum(v.square().mean() for v in out.values()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


def test_detach_fusion_input_stops_the_fused_branch_at_the_encoders():
    torch.manual_seed(0)
    grads = {}
    for detach in (False, True):
        cfg = small(detach_fusion_input=detach, dropout=0.0)
        torch.manual_seed(0)
        model = build_model(cfg)
        model.local_encoders.register_forward_hook(lambda m, i, o: o.retain_grad() or None)
        features = model.encode(*inputs(cfg))
        fused = model.fuse(features["local"])
        fused.square().sum().backward()  # only the fusion path
        grads[detach] = features["local"].grad
    assert grads[False] is not None and grads[False].abs().sum() > 0
    assert grads[True] is None


def test_set_bn_momentum_reaches_every_batchnorm():
    model = build_model(small())
    model.set_bn_momentum(0.003)
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert len(norms) > 20 and all(m.momentum == 0.003 for m in norms)
    with pytest.raises(ValueError):
        model.set_bn_momentum(2.0)


def test_camera_embedding_handles_unknown_cameras_and_sees_flips():
    embedding = CameraEmbedding(8, 16, dropout=0.0).eval()
    known = torch.tensor([H36M_CAMERA])
    flipped = known.clone()
    flipped[:, 2] *= -1
    unknown = torch.stack([torch.zeros(9), torch.full((9,), float("nan"))])
    features = embedding(torch.cat([known, flipped, unknown]))
    assert torch.isfinite(features).all()
    assert not torch.allclose(features[0], features[1])
    assert torch.allclose(features[2], features[3])  # both unknown: the same learned "unknown camera" embedding
    x = embedding.camera_inputs(torch.cat([known, unknown]))
    assert torch.allclose(x[0], torch.tensor([math.log(2.29), math.log(2.29), 0.025, 0.028, 1.0]))
    assert torch.equal(x[1:], torch.zeros(2, 5))


def test_humaneva_model_runs_without_intrinsics():
    cfg = small(layout="humaneva15")
    model = build_model(cfg)
    window, _ = inputs(cfg)
    out = model(window, torch.zeros(4, 9))
    assert all(torch.isfinite(v).all() for v in out.values())


# ---------------------------------------------------------------------------------------------------------------------
# introspection


def test_macs_counted_by_hand_for_a_tiny_videopose3d():
    model = build_model(ModelConfig(architecture="videopose3d", filter_widths=(3, 3), channels=4))
    # expand: 3 rows x (3 taps x 34 in x 4 out); block conv: 1 x 3x4x4; 1x1: 1 x 4x4; shrink: 1 x 4x51
    assert count_macs(model) == 3 * 3 * 34 * 4 + 3 * 4 * 4 + 4 * 4 + 4 * 51
    # whole-sequence mode computes every layer once per frame
    assert sequence_macs_per_frame(model) == 3 * 34 * 4 + 3 * 4 * 4 + 4 * 4 + 4 * 51


def test_macs_and_parameters_agree_with_the_per_group_modules():
    model = build_model(small(layout="humaneva15"))
    release = release_style_from(model)
    assert count_macs(model) == count_macs(release)
    counts = parameter_counts(model)
    assert counts["total"] == sum(p.numel() for p in release.parameters())
    assert set(counts) == {"local_encoders", "angle_encoders", "global_encoder", "camera_embedding", "fusion.torso",
                           "fusion.limb", "decoders.unfused", "decoders.fused", "total"}
    assert counts["local_encoders"] == sum(p.numel() for p in release.local_encoders.parameters())


def test_videopose3d_parameter_count_matches_the_paper():
    model = build_model(ModelConfig(architecture="videopose3d", channels=1024, filter_widths=(3, 3, 3, 3, 3)))
    assert parameter_counts(model)["total"] == 16_952_371  # VideoPose3D, 243 frames: 16.95M


def test_model_table_lists_every_config():
    table = model_table({"a": small(), "b": small(filter_widths=(3, 3, 3, 3)),
                         "vp3d": small(architecture="videopose3d")})
    assert list(table["name"]) == ["a", "b", "vp3d"]
    assert list(table["frames"]) == [27, 81, 27]
    assert (table["macs_per_frame"] > 0).all()
    assert list(table["params.total"]) == [parameter_counts(build_model(c))["total"]
                                           for c in (small(), small(filter_widths=(3, 3, 3, 3)),
                                                     small(architecture="videopose3d"))]
    assert table.loc[2, "params.local_encoders"] == 0 and table.loc[2, "params.network"] > 0


def test_norm_act_folds_the_dropout_scale_into_batchnorm_exactly():
    from ehfusion.models.blocks import GroupedFCBlock

    torch.manual_seed(0)
    block = GroupedFCBlock(3, 4, 64, 2, blocks=0, dropout=0.25).train()
    x = torch.randn(500, 3, 64, requires_grad=True)
    reference = torch.nn.functional.leaky_relu(
        torch.nn.functional.batch_norm(x.reshape(500, -1), None, None, block.input_bn.weight, block.input_bn.bias,
                                       True), 0.2).view(500, 3, 64) / 0.75
    y = block._norm_act(block.input_bn, x.clone())
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.75) < 0.02
    assert torch.allclose(y[kept], reference[kept], atol=1e-5)
    weights = torch.randn(500, 3, 64)
    (y * weights).sum().backward()
    grad_y = x.grad.clone()
    x.grad = None
    # same gradient as the unfused reference with the same mask
    z = torch.nn.functional.batch_norm(x.reshape(500, -1), None, None, block.input_bn.weight, block.input_bn.bias,
                                       True).view(500, 3, 64)
    (torch.nn.functional.leaky_relu(z, 0.2) * kept / 0.75 * weights).sum().backward()
    assert torch.allclose(grad_y, x.grad, atol=1e-4)
    block.eval()
    assert torch.equal(block._norm_act(block.input_bn, x.detach()),
                       torch.nn.functional.leaky_relu(block.input_bn(x.detach()), 0.2))


def test_architecture_figures_draw_every_group_and_the_receptive_field():
    import matplotlib

    matplotlib.use("Agg")
    from ehfusion import model_figures as figures

    for layout in ("h36m", "humaneva15"):
        ax = figures.draw_architecture(layout)
        texts = " ".join(t.get_text() for t in ax.texts)
        for group in ModelConfig(layout=layout).skeleton.groups:
            assert group.name in texts
        assert "NDDR layer (shared)" in texts and "FC block" in texts
    assert not any(t.get_text().startswith("fusion") for t in figures.draw_architecture("h36m", "none").texts)
    window = 0.3 * torch.randn(27, 17, 2)
    fig = figures.plot_encodings(window, "h36m")
    assert len(fig.axes) == 8  # four heat maps and their colour bars
    ax = figures.draw_receptive_field((3, 3, 3))
    reds = [c for c in ax.collections if len(c.get_offsets()) == 1]  # the output frame
    assert reds and float(reds[-1].get_offsets()[0][0]) == 13.0
    causal = figures.draw_receptive_field((3, 3), causal=True)
    assert float([c for c in causal.collections if len(c.get_offsets()) == 1][-1].get_offsets()[0][0]) == 8.0
    with pytest.raises(ValueError, match="window must be"):
        figures.plot_encodings(torch.zeros(27, 15, 2), "h36m")


def test_fusion_picks_the_operator_by_kind_whatever_the_group_order():
    from ehfusion.models.fusion import GroupFusion
    from ehfusion.skeleton import JointGroup

    groups = [JointGroup("arm", (0,), "limb"), JointGroup("body", (1,), "torso"), JointGroup("leg", (2,), "limb")]
    fusion = GroupFusion(groups, "heterogeneous", latent=8, hidden=16, blocks=1, dropout=0.0).eval()
    local = torch.randn(6, 3, 8)
    fused = fusion(local)
    inputs = fusion.fusion_inputs(local)
    assert torch.allclose(inputs[:, 1], torch.cat([local[:, 0], local[:, 2]], dim=1))
    limbs = fusion.operators["limb"](inputs[:, [0, 2]])
    assert torch.allclose(fused[:, [0, 2]], limbs, atol=1e-6)
    assert torch.allclose(fused[:, 1:2], fusion.operators["torso"](inputs[:, 1:2]), atol=1e-6)


# ---------------------------------------------------------------------------------------------------------------------
# evaluation without gradients: BatchNorm folded into the products


def _with_trained_statistics(model, cfg, seed=0):
    """Give every BatchNorm non-trivial running statistics and affine parameters (a fresh one is the identity)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                for name in ("weight", "bias", "shared_weight", "shared_bias"):
                    tensor = getattr(module, name, None)
                    if isinstance(tensor, torch.Tensor):
                        tensor.copy_(torch.randn_like(tensor) * 0.3 + (1.0 if "weight" in name else 0.0))
        model.train()
        for k in range(3):
            model(*inputs(cfg, batch=16, seed=seed + k))
    return model.eval()


@pytest.mark.parametrize("changes", [
    {},                                                           # one-stage: unfused and fused (heterogeneous)
    {"branches": ("fused",), "fusion": "fc"},
    {"branches": ("fused",), "fusion": "nddr"},
    {"causal": True},
    {"architecture": "videopose3d"},
], ids=["one-stage", "fc", "nddr", "causal", "videopose3d"])
def test_evaluation_without_gradients_folds_batch_norm_and_gives_the_same_poses(changes):
    cfg = small(**changes)
    torch.manual_seed(3)
    model = _with_trained_statistics(build_model(cfg), cfg)
    window, camera = inputs(cfg, seed=7)
    with torch.no_grad(), batch_norm_unfolded():                  # every BatchNorm runs as itself
        plain = model(window, camera)
    with torch.inference_mode():                                  # folded into the preceding products
        folded = model(window, camera)
    for branch in plain:
        assert torch.allclose(plain[branch], folded[branch], rtol=1e-5, atol=1e-6), branch
    keypoints, camera1 = inputs(cfg, batch=1, seed=8, frames=cfg.receptive_field + 20)
    with torch.no_grad(), batch_norm_unfolded():
        plain_sequence = model.forward_sequence(keypoints, camera1)
    with torch.no_grad():
        folded_sequence = model.forward_sequence(keypoints, camera1)
    for branch in plain_sequence:
        assert torch.allclose(plain_sequence[branch], folded_sequence[branch], rtol=1e-5, atol=1e-6), branch


def test_macs_are_counted_also_for_a_model_built_in_inference_mode():
    cfg = small()
    expected = count_macs(build_model(cfg))
    with torch.inference_mode():
        model = build_model(cfg).eval()
        assert count_macs(model) == expected > 0


def test_folded_weights_follow_new_weights_and_statistics():
    cfg = small()
    torch.manual_seed(4)
    model = _with_trained_statistics(build_model(cfg), cfg, seed=1)
    window, camera = inputs(cfg, seed=9)
    with torch.inference_mode():
        before = model(window, camera)["fused"]
    other = _with_trained_statistics(build_model(cfg), cfg, seed=2)
    model.load_state_dict(other.state_dict())                      # new weights and running statistics
    with torch.inference_mode():
        after = model(window, camera)["fused"]
    with torch.no_grad(), batch_norm_unfolded():
        expected = other(window, camera)["fused"]
    assert not torch.allclose(before, after)
    assert torch.allclose(after, expected, rtol=1e-5, atol=1e-6)
