import math

import pytest
import torch

from ehfusion.models.encodings import (
    encode_window,
    motion_angle,
    motion_angle_encoding,
    positional_encoding,
    reference_index,
    temporal_encoding,
)
from ehfusion.skeleton import H36M_17, HUMANEVA_15


def _flip(x: torch.Tensor, skeleton) -> torch.Tensor:
    out = x[..., torch.as_tensor(skeleton.flip_permutation()), :].clone()
    out[..., 0] *= -1
    return out


def test_reference_frame_is_centre_or_last():
    assert reference_index(27, causal=False) == 13
    assert reference_index(27, causal=True) == 26
    assert reference_index(1, causal=False) == 0
    with pytest.raises(ValueError, match="at least one frame"):
        reference_index(0, causal=False)


def test_positional_and_temporal_values_by_hand():
    x = torch.zeros(1, 3, 2, 2)
    x[0, :, 0] = torch.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])  # root moves
    x[0, :, 1] = torch.tensor([[1.0, 2.0], [2.0, 4.0], [3.0, 7.0]])
    pos = positional_encoding(x, root=0)
    assert torch.equal(pos[0, :, 0], torch.zeros(3, 2))
    assert torch.equal(pos[0, :, 1], torch.tensor([[0.0, 1.0], [0.0, 2.0], [0.0, 4.0]]))
    temp = temporal_encoding(x, reference=1)
    assert torch.equal(temp[0, :, 1], torch.tensor([[-1.0, -2.0], [0.0, 0.0], [1.0, 3.0]]))


def test_motion_angle_matches_clamped_acos_for_nonzero_vectors():
    g = torch.Generator().manual_seed(0)
    u, v = torch.randn(1000, 2, generator=g), torch.randn(1000, 2, generator=g)
    u64, v64 = u.double(), v.double()  # float32 acos loses ~1e-4 near cos = +-1; compare with float64
    cos = (u64 * v64).sum(-1) / (u64.norm(dim=-1) * v64.norm(dim=-1))
    reference = torch.acos(cos.clamp(-1, 1))
    assert torch.allclose(motion_angle(u, v).double(), reference, atol=1e-5)
    # exact special cases: same direction, opposite, perpendicular
    e = torch.tensor([[1.0, 0.0]])
    assert motion_angle(e, 3 * e).item() == 0.0
    assert motion_angle(e, -e).item() == pytest.approx(math.pi)
    assert motion_angle(e, torch.tensor([[0.0, 2.0]])).item() == pytest.approx(math.pi / 2)


def test_motion_angle_is_nan_free_with_finite_gradients_at_root_zero_vectors_and_reference():
    x = torch.randn(2, 9, 17, 2)
    x[:, :, 5] = x[:, :, 0]  # a joint on top of the root: zero root-relative vector
    x = x.requires_grad_(True)
    enc = motion_angle_encoding(x, root=0, reference=4)
    assert torch.isfinite(enc).all()
    # root and zero vectors: cosine 0 -> angle pi/2
    assert torch.allclose(enc[:, :, 0], torch.full_like(enc[:, :, 0], math.exp(-math.pi / 2)))
    assert torch.allclose(enc[:, :, 5], torch.full_like(enc[:, :, 5], math.exp(-math.pi / 2)))
    # at the reference frame every angle is 0 (vector compared with itself)
    assert torch.allclose(enc[:, 4, 1:5], torch.full_like(enc[:, 4, 1:5], math.exp(-math.pi)))
    enc.sum().backward()
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0
    zeros = torch.zeros(3, 2, requires_grad=True)
    motion_angle(zeros, zeros).sum().backward()
    assert torch.equal(zeros.grad, torch.zeros(3, 2))


def test_encode_window_matches_per_joint_loop():
    x = torch.randn(3, 9, 17, 2)
    for causal in (False, True):
        enc = encode_window(x, root=0, causal=causal)
        ref = 8 if causal else 4
        for j in (0, 3, 16):
            pos = x[:, :, j] - x[:, :, 0]
            assert torch.allclose(enc.positional[:, :, j], pos)
            assert torch.allclose(enc.temporal[:, :, j], x[:, :, j] - x[:, ref : ref + 1, j])
            expected = torch.exp(motion_angle(pos, pos[:, ref : ref + 1]) - math.pi)
            assert torch.allclose(enc.angle[:, :, j], expected)
        assert enc.stacked().shape == (3, 9, 17, 3, 2)
        assert torch.equal(enc.stacked()[:, :, :, 0], x)
        values = enc.angle
        assert values.min() >= math.exp(-math.pi) - 1e-6 and values.max() <= 1.0 + 1e-6


@pytest.mark.parametrize("skeleton", [H36M_17, HUMANEVA_15])
@pytest.mark.parametrize("causal", [False, True])
def test_encodings_are_flip_equivariant(skeleton, causal):
    x = torch.randn(2, 9, skeleton.num_joints, 2)
    perm = torch.as_tensor(skeleton.flip_permutation())
    plain = encode_window(x, skeleton.root, causal)
    flipped = encode_window(_flip(x, skeleton), skeleton.root, causal)
    for name in ("raw", "positional", "temporal"):
        assert torch.allclose(getattr(flipped, name), _flip(getattr(plain, name), skeleton), atol=1e-6), name
    assert torch.allclose(flipped.angle, plain.angle[:, :, perm], atol=1e-5)


def test_bad_window_shape_is_reported():
    with pytest.raises(ValueError, match=r"\(batch, frames, joints, 2\)"):
        encode_window(torch.zeros(2, 9, 17), root=0, causal=False)


def test_encoding_selected_joints_equals_selecting_from_all_joints():
    x = torch.randn(2, 9, 17, 2)
    joints = torch.tensor([0, 7, 8, 9, 10, 1, 2, 3, 1, 1])  # repeats allowed (padding slots)
    full = encode_window(x, root=0, causal=False)
    some = encode_window(x, root=0, causal=False, joints=joints)
    for name in ("raw", "positional", "temporal", "angle"):
        assert torch.allclose(getattr(some, name), getattr(full, name)[:, :, joints]), name
