import numpy as np
import pytest
import torch

from ehfusion import metrics


def random_pose(seed, frames=5, joints=17):
    return np.random.default_rng(seed).normal(size=(frames, joints, 3))


def rotation(axis_angle):
    theta = np.linalg.norm(axis_angle)
    k = axis_angle / theta
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(theta) * K + (1 - np.cos(theta)) * K @ K


def test_mpjpe_hand_worked_case():
    target = np.zeros((1, 2, 3))
    predicted = np.array([[[3.0, 4.0, 0.0], [0.0, 0.0, 1.0]]])  # distances 5 and 1
    assert metrics.mpjpe(predicted, target) == pytest.approx(3.0)
    assert metrics.per_joint_errors(predicted, target) == pytest.approx([5.0, 1.0])


def test_mpjpe_loss_matches_numpy_and_has_gradient():
    p, t = random_pose(0), random_pose(1)
    pt = torch.tensor(p, requires_grad=True)
    loss = metrics.mpjpe_loss(pt, torch.tensor(t))
    assert loss.item() == pytest.approx(metrics.mpjpe(p, t))
    loss.backward()
    assert torch.isfinite(pt.grad).all() and pt.grad.abs().sum() > 0


def test_p_mpjpe_ignores_a_similarity_transform():
    target = random_pose(2)
    predicted = 1.7 * target @ rotation(np.array([0.3, -1.1, 0.5])).T + np.array([0.4, -2.0, 1.0])
    assert metrics.p_mpjpe(predicted, target) == pytest.approx(0.0, abs=1e-9)
    assert metrics.mpjpe(predicted, target) > 0.5


def test_p_mpjpe_does_not_allow_a_reflection():
    target = random_pose(3)
    mirrored = target * np.array([-1.0, 1.0, 1.0])
    assert metrics.p_mpjpe(mirrored, target) > 0.1
    aligned = metrics.procrustes_align(mirrored, target)
    for frame_pred, frame_src in zip(aligned, mirrored):
        # the alignment is a proper similarity: distances between joints scale uniformly, no mirror
        a = np.linalg.norm(frame_pred[:, None] - frame_pred[None], axis=-1)
        b = np.linalg.norm(frame_src[:, None] - frame_src[None], axis=-1)
        ratio = a[b > 0] / b[b > 0]
        assert np.allclose(ratio, ratio[0])


def test_p_mpjpe_never_exceeds_mpjpe():
    p, t = random_pose(4), random_pose(5)
    assert metrics.p_mpjpe(p, t) <= metrics.mpjpe(p, t) + 1e-12


def test_n_mpjpe_fixes_scale_only():
    target = random_pose(6)
    assert metrics.n_mpjpe(0.5 * target, target) == pytest.approx(0.0, abs=1e-12)
    rotated = target @ rotation(np.array([0.0, 0.0, 0.4])).T
    assert metrics.n_mpjpe(rotated, target) > 0.01


def test_mpjve_is_zero_for_a_constant_offset_and_hand_worked():
    target = random_pose(7, frames=10)
    assert metrics.mpjve(target + 3.0, target) == pytest.approx(0.0, abs=1e-12)
    predicted = target.copy()
    predicted[5:] += np.array([0.0, 0.0, 2.0])  # one jump of 2 between frames 4 and 5 on every joint
    assert metrics.per_frame_mpjve(predicted, target) == pytest.approx([0, 0, 0, 0, 2, 0, 0, 0, 0])


def test_errors_on_bad_shapes():
    with pytest.raises(ValueError, match="differs"):
        metrics.mpjpe(np.zeros((2, 17, 3)), np.zeros((2, 16, 3)))
    with pytest.raises(ValueError, match="at least 2 frames"):
        metrics.mpjve(np.zeros((1, 17, 3)), np.zeros((1, 17, 3)))


def test_average_over_actions_pools_takes_then_averages_actions():
    errors = {"Walking": np.array([1.0, 1.0]), "Walking 1": np.array([4.0]), "Eating": np.array([10.0])}
    per_action, overall = metrics.average_over_actions(errors)
    assert per_action == {"Eating": 10.0, "Walking": 2.0}
    assert overall == pytest.approx(6.0)
    with pytest.raises(ValueError):
        metrics.average_over_actions({})
