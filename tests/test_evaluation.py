"""Whole-sequence prediction, flip test-time augmentation and the per-action protocol numbers."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from ehfusion.data.augmentation import flip_pose
from ehfusion.data.loading import Sequence
from ehfusion.evaluation import (
    METRICS, compare_results, evaluate, evaluate_branches, predict_branches, predict_sequence, result_from_predictions,
)
from ehfusion.skeleton import H36M_17


# tiny models run fastest on one thread (see conftest.one_torch_thread)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


J = H36M_17.num_joints


def planar_sequence(n: int = 30, seed: int = 0, subject: str = "S9", action: str = "walk") -> Sequence:
    """A sequence whose 3D pose is exactly recoverable from its 2D keypoints: z = 0 and (x, y) = 4 * keypoints."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 3, n)[:, None, None]
    poses = rng.normal(scale=0.3, size=(1, J, 3)) + 0.1 * np.sin(2 * t + rng.uniform(0, 6, size=(1, J, 3)))
    poses[..., 2] = 0
    poses = (poses - poses[:, :1]).astype(np.float32)
    intrinsics = np.array([2.29, 2.29, 0.02, 0.03, 0, 0, 0, 0, 0], np.float32)
    return Sequence(subject, action, 0, poses[..., :2] / 4, poses, np.zeros((n, 3), np.float32), intrinsics, 50.0)


class WindowLifter(torch.nn.Module):
    """Test model with the common interface: ``4 * mean of the window's 2D keypoints`` (+ an optional x bias).

    With ``receptive_field == 1`` and no bias it recovers a planar sequence's 3D poses exactly; the bias breaks flip
    equivariance in a known way. ``constant`` replaces the output by a fixed pose (ignores the input).
    """

    def __init__(self, receptive_field: int = 1, x_bias: float = 0.0, constant: np.ndarray | None = None):
        super().__init__()
        self.receptive_field = receptive_field
        self.answer_branch = "fused"
        self.config = SimpleNamespace(layout="h36m", causal=False)
        self.x_bias = x_bias
        self.constant = None if constant is None else torch.as_tensor(constant, dtype=torch.float32)
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def _lift(self, kp: torch.Tensor) -> torch.Tensor:  # (..., J, 2) -> (..., J, 3)
        out = torch.cat([4 * kp, torch.zeros_like(kp[..., :1])], dim=-1)
        out[..., 0] += self.x_bias
        return out

    def forward_sequence(self, keypoints, camera):
        windows = keypoints.unfold(1, self.receptive_field, 1).mean(-1)  # (V, N, J, 2)
        out = self._lift(windows)
        if self.constant is not None:
            out = self.constant.expand_as(out).clone()
        return {"unfused": out + 0.01, "fused": out}


def test_model_that_outputs_the_truth_scores_zero():
    seqs = [planar_sequence(25, seed=i, action=a) for i, a in enumerate(["walk", "walk 1", "sit"])]
    result = evaluate(WindowLifter(), seqs, flip_tta=True)
    assert result.branch == "fused"
    for metric in METRICS:
        assert result.overall[metric] == pytest.approx(0.0, abs=1e-3)
    assert set(result.per_action["action"]) == {"walk", "sit"}  # "walk 1" is a take of "walk"
    assert result.per_action.set_index("action").loc["walk", "frames"] == 50


def test_other_branch_and_unknown_branch():
    seq = planar_sequence(20)
    unfused = evaluate(WindowLifter(), [seq], flip_tta=False, branch="unfused")
    # +1 cm on every coordinate: the error of each joint is sqrt(3) cm
    assert unfused.p1 == pytest.approx(10 * np.sqrt(3), rel=1e-4)
    with pytest.raises(KeyError, match="no branch 'nope'"):
        predict_sequence(WindowLifter(), seq, branch="nope")


def test_flip_tta_averages_the_unflipped_prediction():
    seq = planar_sequence(20)
    biased = WindowLifter(x_bias=0.1)
    # Without TTA the +10 cm x bias is the whole error; mirroring the flipped copy's output back turns the bias into
    # -10 cm, so the average is exact (a wrong un-flip would keep the bias or scramble left and right).
    assert evaluate(biased, [seq], flip_tta=False).p1 == pytest.approx(100.0, rel=1e-4)
    assert evaluate(biased, [seq], flip_tta=True).p1 == pytest.approx(0.0, abs=1e-3)


def test_flip_tta_formula_on_a_constant_model():
    constant = np.random.default_rng(3).normal(size=(J, 3)).astype(np.float32)
    pred = predict_sequence(WindowLifter(constant=constant), planar_sequence(12), flip_tta=True)
    perm = H36M_17.flip_permutation()
    expected = 0.5 * (constant + flip_pose(constant, H36M_17))
    assert np.allclose(pred, expected[None], atol=1e-6)
    # spelled out for one left/right pair: x is the half-difference, y and z the mean
    left, right = 4, 1
    assert perm[left] == right
    assert np.allclose(pred[0, left], [0.5 * (constant[left, 0] - constant[right, 0]),
                                       0.5 * (constant[left, 1] + constant[right, 1]),
                                       0.5 * (constant[left, 2] + constant[right, 2])], atol=1e-6)


def test_chunked_prediction_equals_one_pass():
    seq = planar_sequence(53, seed=5)
    model = WindowLifter(receptive_field=9)
    whole = predict_branches(model, seq, flip_tta=True, chunk_frames=10_000)
    chunked = predict_branches(model, seq, flip_tta=True, chunk_frames=7)
    assert whole["fused"].shape == (53, J, 3)
    for branch in whole:
        np.testing.assert_allclose(whole[branch], chunked[branch], rtol=0, atol=1e-6)  # float rounding only


def test_prediction_restores_training_mode():
    model = WindowLifter().train()
    predict_sequence(model, planar_sequence(10))
    assert model.training


def shifted(seq: Sequence, metres: float) -> np.ndarray:
    pred = seq.poses_3d.copy()
    pred[..., 0] += metres
    return pred


def test_overall_is_the_mean_over_actions_not_over_frames():
    walk_a = planar_sequence(10, seed=1, subject="S9", action="walk")
    walk_b = planar_sequence(30, seed=2, subject="S11", action="walk 1")
    sit = planar_sequence(20, seed=3, subject="S9", action="sit")
    pairs = [(walk_a, shifted(walk_a, 0.010)), (walk_b, shifted(walk_b, 0.030)), (sit, shifted(sit, 0.050))]
    result = result_from_predictions(pairs, H36M_17)
    per_action = result.per_action.set_index("action")["P1"]
    assert per_action["walk"] == pytest.approx((10 * 10 + 30 * 30) / 40)   # frames of the takes pooled: 25 mm
    assert per_action["sit"] == pytest.approx(50)
    assert result.p1 == pytest.approx(37.5)                                # not the frame-weighted 35 mm
    assert result.overall["MPJVE"] == pytest.approx(0.0, abs=1e-6)        # a constant shift has no velocity error
    assert result.overall["P2"] == pytest.approx(0.0, abs=1e-3)           # nor a Procrustes error
    # by subject: S9 = mean of its actions (walk 10, sit 50), S11 = walk 30
    by_subject = result.by_subject.set_index("subject")["P1"]
    assert by_subject["S9"] == pytest.approx(30.0) and by_subject["S11"] == pytest.approx(30.0)
    # per joint: the shift hits every joint equally; the joint average equals P1
    assert np.allclose(result.per_joint["P1"], 37.5)
    assert result.per_joint["P1"].mean() == pytest.approx(result.p1)
    assert list(result.per_joint["joint"]) == list(H36M_17.joint_names)


def test_n_mpjpe_forgives_scale_and_p2_forgives_rotation():
    seq = planar_sequence(15)
    scaled = 1.2 * seq.poses_3d
    result = result_from_predictions([(seq, scaled)], H36M_17)
    assert result.overall["N-MPJPE"] == pytest.approx(0.0, abs=1e-3)
    assert result.overall["P2"] == pytest.approx(0.0, abs=1e-3)
    assert result.p1 > 10


def test_tables_and_text():
    seqs = [planar_sequence(20, seed=i, subject=s, action=a)
            for i, (s, a) in enumerate([("S9", "walk"), ("S9", "sit"), ("S11", "walk 1")])]
    results = evaluate_branches(WindowLifter(x_bias=0.02), seqs, flip_tta=False)
    assert set(results) == {"unfused", "fused"}
    fused = results["fused"]
    assert list(fused.per_action.columns) == ["action", "frames", *METRICS]
    assert isinstance(fused.per_sequence, pd.DataFrame) and len(fused.per_sequence) == 3
    text = fused.format_table(by_subject=True)
    assert "Average (2 actions)" in text and "walk" in text and "S11" in text
    assert f"{fused.p1:.1f}" in text
    table = compare_results(results)
    assert list(table.columns) == ["unfused", "fused"]
    assert table.loc["Average", "fused"] == pytest.approx(fused.p1)
    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluate(WindowLifter(), [])


# ------------------------------------------------------------------------------------------------------ report plots
def test_report_plots_draw_one_bar_per_action_and_joint(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from ehfusion import report_plots

    seqs = [planar_sequence(20, seed=i, action=a) for i, a in enumerate(["walk", "sit", "jump"])]
    results = evaluate_branches(WindowLifter(x_bias=0.02), seqs, flip_tta=False)
    fig = report_plots.plot_per_action(results, path=tmp_path / "actions.png")
    bars = [p for p in fig.axes[0].patches if p.get_height() > 0]
    assert len(bars) == 2 * (3 + 1)  # two branches x (three actions + the average)
    assert (tmp_path / "actions.png").stat().st_size > 1000
    fig = report_plots.plot_per_joint(results["fused"])
    assert len([p for p in fig.axes[0].patches if p.get_height() > 0]) == J
    history = [{"epoch": e, "lr": 1e-3 * 0.95 ** (e - 1), "train_unfused": 90.0 / e, "train_fused": 80.0 / e,
                "val_p1_unfused": 70.0 + (e - 2) ** 2, "val_p1_fused": 60.0 + (e - 2) ** 2} for e in (1, 2, 3)]
    fig = report_plots.plot_training_curves(history)
    assert len(fig.axes[0].lines) == 2 and len(fig.axes[1].lines) == 3  # two branches + the best-epoch marker
    assert fig.axes[1].lines[-1].get_xdata()[0] == 2                      # best epoch by validation P1
    fig = report_plots.plot_stage_curves({"stage 1": history, "stage 2": history[:2]})
    assert max(max(line.get_xdata()) for line in fig.axes[0].lines) == 5   # epochs continue across stages
    from ehfusion.training import TrainConfig

    fig = report_plots.plot_schedules(TrainConfig(epochs=10))
    assert fig.axes[1].lines[0].get_ydata()[0] == pytest.approx(0.1)
    with pytest.raises(KeyError, match="unknown metric"):
        report_plots.plot_per_action(results, metric="P9")
    import matplotlib.pyplot as plt

    plt.close("all")
