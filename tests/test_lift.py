"""Lifting your own 2D keypoints: whole sequences, the frame-by-frame lifter and the command line."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from ehfusion.cameras import h36m_cameras
from ehfusion.checkpoints import save_checkpoint
from ehfusion.data import Sequence
from ehfusion.evaluation import predict_sequence
from ehfusion.keypoints import (
    coco_from_h36m,
    convert_layout,
    default_intrinsics,
    keypoints_from_array,
    normalize_keypoints,
)
from ehfusion.lift import LiftResult, StreamingLifter, lift
from ehfusion.lift.__main__ import main
from ehfusion.models import ModelConfig, build_model
from ehfusion.skeleton import COCO_17
from fakes import synthetic_motion

TINY = dict(filter_widths=(3, 3), channels=16, latent=8, hidden=16, angle_channels=8, angle_features=4,
            camera_features=4, camera_hidden=8)


def _checkpoint(path, causal: bool, seed: int):
    torch.manual_seed(seed)
    config = ModelConfig(causal=causal, **TINY)
    model = build_model(config)
    with torch.no_grad():  # non-trivial batch-norm statistics, so eval mode differs from the identity
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return save_checkpoint(path, model, model_config=config, strategy="one-stage", stage=1, dataset="embedded",
                           keypoints="det", epoch=1)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoints")
    return {"centred": _checkpoint(folder / "centred.bin", causal=False, seed=0),
            "causal": _checkpoint(folder / "causal.bin", causal=True, seed=1)}


@pytest.fixture(scope="module")
def camera():
    return h36m_cameras()["S11"][0]


@pytest.fixture(scope="module")
def native_px(camera):
    return camera.project(synthetic_motion(30, "Walking", seed=2)).astype(np.float32)


@pytest.fixture(scope="module")
def coco_px(native_px):
    return coco_from_h36m(native_px).astype(np.float32)


def _model(path):
    from ehfusion.checkpoints import load_checkpoint

    return load_checkpoint(path).model


# ----------------------------------------------------------------------------------------------------- whole sequences
def test_lift_feeds_the_converted_normalised_keypoints_to_predict_sequence(checkpoints, coco_px, camera):
    result = lift(coco_px, camera.res_w, camera.res_h, checkpoints["centred"])
    assert isinstance(result, LiftResult)
    assert result.poses_3d.shape == (30, 17, 3) and result.poses_3d.dtype == np.float32
    assert result.keypoints_px.shape == (30, 17, 2) and result.filled_mask.shape == (30, 17)
    assert result.layout == "h36m" and result.source_layout == "coco" and result.receptive_field == 9
    assert result.checkpoint == "centred.bin" and not result.filled_mask.any()
    h36m_px = convert_layout(keypoints_from_array(coco_px)).xy
    seq = Sequence("user", "keypoints", 0, normalize_keypoints(h36m_px, camera.res_w, camera.res_h), None, None,
                   default_intrinsics(camera.res_w, camera.res_h), 50.0)
    expected = predict_sequence(_model(checkpoints["centred"]), seq, flip_tta=True)
    np.testing.assert_allclose(result.poses_3d, expected, atol=1e-5)
    np.testing.assert_allclose(result.keypoints_px, h36m_px, atol=1e-3)
    no_tta = lift(coco_px, camera.res_w, camera.res_h, checkpoints["centred"], flip_tta=False)
    assert np.abs(no_tta.poses_3d - result.poses_3d).max() > 1e-4


def test_coco_and_native_h36m_inputs_give_nearly_the_same_poses(checkpoints, coco_px, native_px, camera):
    from_coco = lift(coco_px, camera.res_w, camera.res_h, checkpoints["centred"])
    native = lift(native_px, camera.res_w, camera.res_h, checkpoints["centred"], layout="h36m",
                  intrinsics=camera)
    np.testing.assert_allclose(native.intrinsics, camera.intrinsics, atol=1e-6)
    # same 2D up to sub-pixel midpoints, different camera vector (default vs calibrated): close, not equal
    assert np.abs(from_coco.poses_3d - native.poses_3d).mean() < 0.05


def test_lift_fills_dropped_joints_and_reports_them(checkpoints, coco_px, camera):
    noisy = np.concatenate((coco_px, np.ones((30, 17, 1), np.float32)), axis=-1)
    noisy[10:13, COCO_17.index("RWrist"), 2] = 0.05
    result = lift(noisy, camera.res_w, camera.res_h, checkpoints["centred"], min_confidence=0.3)
    assert result.report.filled_per_joint["RWrist"] == 3
    assert result.filled_mask[10:13, 16].all() and result.filled_mask.sum() == 3
    assert np.isfinite(result.poses_3d).all()


def test_lift_warns_for_sequences_shorter_than_the_receptive_field(checkpoints, coco_px, camera):
    with pytest.warns(UserWarning, match="padded by repeating"):
        result = lift(coco_px[:5], camera.res_w, camera.res_h, checkpoints["centred"])
    assert result.poses_3d.shape == (5, 17, 3)


# ----------------------------------------------------------------------------------------------------- streaming
def test_streaming_refuses_a_centred_checkpoint(checkpoints):
    with pytest.raises(ValueError, match="centred windows.*needs 4 future frames.*--causal"):
        StreamingLifter(checkpoints["centred"], 1000, 1000)
    with pytest.raises(ValueError, match="centred windows"):
        lift(np.zeros((10, 17, 2)) + 500, 1000, 1000, checkpoints["centred"], streaming=True)


def test_streaming_matches_whole_sequence_causal_inference(checkpoints, coco_px, camera):
    whole = lift(coco_px, camera.res_w, camera.res_h, checkpoints["causal"])
    streamer = StreamingLifter(checkpoints["causal"], camera.res_w, camera.res_h)
    assert streamer.receptive_field == 9
    poses = np.stack([streamer.push(frame) for frame in coco_px])
    np.testing.assert_allclose(poses, whole.poses_3d, atol=1e-5)
    replay = lift(coco_px, camera.res_w, camera.res_h, checkpoints["causal"], streaming=True)
    np.testing.assert_allclose(replay.poses_3d, whole.poses_3d, atol=1e-5)
    assert replay.report is None and not replay.filled_mask.any()
    streamer.reset()
    assert streamer.frames_seen == 0
    np.testing.assert_allclose(streamer.push(coco_px[0]), whole.poses_3d[0], atol=1e-5)  # a fresh start


def _counting_threads(streamer) -> list[int]:
    """Record the torch thread count each forward pass of ``streamer``'s model runs with."""
    counts, forward = [], streamer.model.forward
    streamer.model.forward = lambda *inputs: (counts.append(torch.get_num_threads()), forward(*inputs))[1]
    return counts


def test_streaming_runs_its_forward_on_one_thread_and_restores_the_count(checkpoints, coco_px, camera):
    from ehfusion.lift import torch_threads

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        one = StreamingLifter(checkpoints["causal"], camera.res_w, camera.res_h)
        one_counts = _counting_threads(one)
        one_thread = np.stack([one.push(frame) for frame in coco_px[:12]])
        assert set(one_counts) == {1} and torch.get_num_threads() == 2
        inherited = StreamingLifter(checkpoints["causal"], camera.res_w, camera.res_h, threads=None)
        inherited_counts = _counting_threads(inherited)
        two_threads = np.stack([inherited.push(frame) for frame in coco_px[:12]])
        assert set(inherited_counts) == {2} and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    np.testing.assert_allclose(one_thread, two_threads, atol=1e-6)
    with torch_threads(3):
        assert torch.get_num_threads() == 3
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads must be at least 1"):
        StreamingLifter(checkpoints["causal"], camera.res_w, camera.res_h, threads=0)


def test_streaming_holds_missing_joints_and_waits_until_every_joint_was_seen(checkpoints, coco_px, camera):
    streamer = StreamingLifter(checkpoints["causal"], camera.res_w, camera.res_h, flip_tta=False)
    frames = np.concatenate((coco_px, np.ones((30, 17, 1), np.float32)), axis=-1)
    frames[0, COCO_17.index("LEye"), 2] = 0.0
    assert streamer.push(frames[0]) is None  # the head needs the left eye, never seen yet
    frames[2, COCO_17.index("LHip")] = np.nan
    first = streamer.push(frames[1])
    assert first is not None and first.shape == (17, 3)
    streamer.push(frames[2])
    hip = 0  # Human3.6M hip = mid-hips, made from the held left hip
    assert streamer.last_filled[hip] and streamer.last_filled.sum() == 3  # hip, left hip, spine
    np.testing.assert_allclose(streamer.last_keypoints_px[4], frames[1, COCO_17.index("LHip"), :2], atol=1e-4)
    with pytest.raises(ValueError, match=r"shape \(17, 2\) or \(17, 3\)"):
        streamer.push(np.zeros((15, 2)))


# ----------------------------------------------------------------------------------------------------- command line
def _write_json(path, coco_px, confidence=0.9):
    results = [{"image_id": i, "keypoints": np.c_[frame, np.full(17, confidence)].ravel().tolist(), "score": 1.0}
               for i, frame in enumerate(coco_px)]
    path.write_text(json.dumps(results))
    return path


def test_cli_writes_the_npz_and_refuses_to_overwrite(tmp_path, checkpoints, coco_px, camera, capsys):
    keypoints = _write_json(tmp_path / "detections.json", coco_px)
    out = tmp_path / "poses.npz"
    argv = ["--keypoints", str(keypoints), "--width", str(camera.res_w), "--height", str(camera.res_h),
            "--checkpoint", str(checkpoints["centred"]), "--out", str(out)]
    assert main(argv) == 0
    assert "lifted 30 frames (coco -> h36m)" in capsys.readouterr().out
    with np.load(out) as saved:  # plain arrays: no pickle needed
        assert saved["poses_3d"].shape == (30, 17, 3)
        assert str(saved["layout"]) == "h36m" and list(saved["joint_names"])[10] == "Head"
        assert int(saved["width"]) == camera.res_w and saved["filled"].dtype == bool
        expected = lift(coco_px, camera.res_w, camera.res_h, checkpoints["centred"]).poses_3d
        np.testing.assert_allclose(saved["poses_3d"], expected, atol=1e-5)
    before = out.read_bytes()
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert main(argv + ["--overwrite", "--no-tta"]) == 0
    assert out.read_bytes() != before
    assert main(argv[:2] + argv[6:] + ["--overwrite"]) == 2  # no image size
    assert "width is missing" in capsys.readouterr().err
    assert main(argv[:-1] + [str(tmp_path / "poses.txt")]) == 2
    assert "must end in .npz" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_runs_as_a_module_and_writes_a_gif(tmp_path, checkpoints, coco_px, camera):
    keypoints = _write_json(tmp_path / "detections.json", coco_px[:12])
    command = [sys.executable, "-m", "ehfusion.lift", "--keypoints", str(keypoints), "--width", str(camera.res_w),
               "--height", str(camera.res_h), "--checkpoint", str(checkpoints["causal"]), "--out",
               str(tmp_path / "p.npz"), "--gif", str(tmp_path / "p.gif"), "--streaming"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "p.gif").read_bytes()[:6] in (b"GIF87a", b"GIF89a")
    assert np.load(tmp_path / "p.npz")["poses_3d"].shape == (12, 17, 3)
