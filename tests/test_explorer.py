"""The pose explorer's state without widgets, on the real embedded dataset and tiny real checkpoints."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from ehfusion import explorer as explorer_module
from ehfusion.checkpoint_choice import best_checkpoint, validation_p1
from ehfusion.checkpoints import load_checkpoint
from ehfusion.errors import CheckpointError
from ehfusion.explorer import NO_CHECKPOINT, ExplorerState, Selection
from ehfusion.metrics import joint_errors_mm
from explorer_support import (FRAMES, checkpoints, dataset, direct_prediction, first_frames,  # noqa: F401 (fixtures)
                              save_tiny_checkpoint)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def state(dataset, checkpoints):
    return ExplorerState(dataset, checkpoint_dir=checkpoints, checkpoint="one-stage.bin", action="walk",
                         max_frames=FRAMES)


# ------------------------------------------------------------------------------------------------ the selection
def test_the_first_selection_is_the_first_test_sequence_with_the_most_accurate_checkpoint(dataset, checkpoints):
    state = ExplorerState(dataset, checkpoint_dir=checkpoints, max_frames=FRAMES)
    first_action = dataset.actions("S9")[0]
    assert state.selection == Selection("test", "S9", first_action, 0, "three-stage.bin", "fused", 0.0, 0)
    assert state.subjects == list(dataset.split_subjects("test")) == ["S9", "S11"]
    assert state.checkpoint_options == [NO_CHECKPOINT, "one-stage.bin", "three-stage.bin"]
    assert state.cameras == dataset.available_cameras("S9", first_action) == [0, 1, 2, 3]
    camera = dataset.cameras["S9"][0]
    assert state.image_size == (camera.res_w, camera.res_h)
    assert state.num_frames == FRAMES and state.prediction.shape == (FRAMES, 17, 3)
    assert state.prediction_calls == 1


def test_a_change_carries_the_rest_of_the_selection_along(state, dataset):
    state.select(subject="S11", action="walk 1", camera=2, frame=10)
    assert state.selection.sequence_key == ("S11", "walk 1", 2) and state.frame == 10
    state.select(subject="S9")                                    # S9 has this take and this camera too
    assert state.selection.sequence_key == ("S9", "walk 1", 2) and state.frame == 10
    state.select(split="train")                                   # S9 is no training subject: the first one is
    assert state.subject == dataset.split_subjects("train")[0] == "S1" and state.action == "walk 1"
    assert state.subjects == list(dataset.split_subjects("train"))

    state.select(branch="unfused")
    state.select(subject="S5")                                    # the branch stays with its checkpoint
    assert state.branch == "unfused"
    state.select(checkpoint="three-stage.bin")                    # another model shows its answer
    assert (state.branch, state.branches) == ("fused", ["fused"])
    state.select(checkpoint=NO_CHECKPOINT)
    assert (state.branch, state.branches) == (None, [])


def test_the_frame_stays_inside_a_shorter_sequence(dataset, checkpoints):
    state = ExplorerState(dataset, checkpoints=[], subject="S9", action="walk")
    lengths = {action: len(dataset.sequence("S9", action, 0)) for action in dataset.actions("S9")}
    short = min(lengths, key=lengths.get)
    state.select(frame=lengths["walk"] - 1)
    state.select(action=short)
    assert state.frame == lengths[short] - 1 == state.num_frames - 1


def test_bad_selections_raise_and_leave_the_state_as_it_was(state):
    before = state.selection
    for changes, message in [({"subject": "S1"}, "'S1' is not in the test split"),
                             ({"action": "Dancing"}, "'Dancing' is not an action of subject S9"),
                             ({"camera": 7}, "camera 7 is not a camera with 2D keypoints"),
                             ({"checkpoint": "missing.bin"}, "'missing.bin' is not an offered checkpoint"),
                             ({"branch": "pose"}, "'pose' is not an output branch of one-stage.bin"),
                             ({"noise_px": -1.0}, "noise_px must be a number of pixels >= 0"),
                             ({"frame": FRAMES}, f"frame must be in 0 .. {FRAMES - 1}"),
                             ({"split": "validation"}, "'validation' is not a split")]:
        with pytest.raises(ValueError, match=message):
            state.select(**changes)
        assert state.selection == before
    with pytest.raises(TypeError, match="cannot select zoom"):
        state.select(zoom=2)


def test_a_checkpoint_that_cannot_be_used_is_refused_and_the_selection_stays(dataset, checkpoints, tmp_path):
    (tmp_path / "broken.bin").write_bytes(b"not a checkpoint")
    save_tiny_checkpoint(tmp_path / "humaneva.bin", layout="humaneva15")
    (tmp_path / "one-stage.bin").write_bytes((checkpoints / "one-stage.bin").read_bytes())
    state = ExplorerState(dataset, checkpoint_dir=tmp_path, checkpoints=["one-stage.bin", "broken.bin", "humaneva.bin"],
                          checkpoint="one-stage.bin", max_frames=FRAMES)
    before, calls = state.selection, state.prediction_calls
    with pytest.raises(CheckpointError, match="broken.bin"):
        state.select(checkpoint="broken.bin")
    with pytest.raises(ValueError, match="'humaneva15' joint layout but dataset 'embedded' uses 'h36m'"):
        state.select(checkpoint="humaneva.bin")
    assert state.selection == before and state.prediction_calls == calls


def test_a_dataset_must_be_a_pose_dataset():
    with pytest.raises(TypeError, match="PoseDataset"):
        ExplorerState(object(), checkpoints=[])


# ------------------------------------------------------------------------------------------------- predictions
def test_the_errors_of_every_frame_are_those_of_a_direct_prediction(state, dataset, checkpoints):
    state.select(subject="S11", action="walk 1", camera=2, frame=12)
    sequence = first_frames(dataset.sequence("S11", "walk 1", 2))
    np.testing.assert_array_equal(state.ground_truth, sequence.poses_3d)
    np.testing.assert_array_equal(state.keypoints_2d, sequence.keypoints_2d)
    for branch in ("fused", "unfused"):
        state.select(branch=branch)
        direct = direct_prediction(checkpoints / "one-stage.bin", sequence, branch=branch)
        np.testing.assert_allclose(state.prediction, direct, atol=1e-5)
        expected = joint_errors_mm(direct, sequence.poses_3d)
        np.testing.assert_allclose(state.errors, expected, rtol=1e-4)
        np.testing.assert_allclose(state.current_errors, expected[12], rtol=1e-4)
        assert state.current_p1 == pytest.approx(expected[12].mean(), rel=1e-4)
    assert state.prediction_calls == 2            # walk on S9, then one forward pass gave both branches here


def test_predictions_and_checkpoints_are_computed_once(dataset, checkpoints, monkeypatch):
    loads = []

    def counting_load(name, *args, **kwargs):
        loads.append(name)
        return load_checkpoint(name, *args, **kwargs)

    monkeypatch.setattr(explorer_module, "load_checkpoint", counting_load)
    state = ExplorerState(dataset, checkpoint_dir=checkpoints, checkpoints=["one-stage.bin"], checkpoint=NO_CHECKPOINT,
                          action="walk", max_frames=FRAMES)
    assert (state.prediction_calls, loads) == (0, [])           # loaded when first chosen
    state.select(checkpoint="one-stage.bin")
    for frame in (3, 20, 39):
        state.select(frame=frame)
    state.select(branch="unfused")
    assert state.prediction_calls == 1
    state.select(subject="S11")
    state.select(subject="S9")
    state.select(checkpoint=NO_CHECKPOINT)
    state.select(checkpoint="one-stage.bin")
    assert state.prediction_calls == 2 and loads == ["one-stage.bin"]
    state.select(noise_px=5.0)
    state.select(noise_px=0.0)
    state.select(noise_px=5.0)
    assert state.prediction_calls == 3


def test_the_noise_is_reproducible_from_its_seed(dataset):
    def noisy_input(seed, **selection):
        return ExplorerState(dataset, checkpoints=[], action="walk", max_frames=FRAMES, noise_seed=seed,
                             **selection).keypoints_2d

    clean = dataset.sequence("S9", "walk", 0).keypoints_2d[:FRAMES]
    first = noisy_input(3, noise_px=5.0)
    np.testing.assert_array_equal(first, noisy_input(3, noise_px=5.0))
    assert not np.allclose(first, noisy_input(4, noise_px=5.0))
    assert not np.allclose(first - clean, noisy_input(3, noise_px=5.0, camera=1) - dataset.sequence(
        "S9", "walk", 1).keypoints_2d[:FRAMES])                           # each view gets its own draw
    width = dataset.cameras["S9"][0].res_w
    assert np.std(first - clean) == pytest.approx(5.0 * 2 / width, rel=0.1)   # 5 px in normalised units
    np.testing.assert_array_equal(noisy_input(3), clean)


def test_the_model_sees_the_noisy_input_and_going_back_shows_the_same_draw(state, dataset, checkpoints):
    state.select(noise_px=5.0)
    noisy = state.keypoints_2d.copy()
    sequence = first_frames(dataset.sequence("S9", "walk", 0))
    direct = direct_prediction(checkpoints / "one-stage.bin", sequence, keypoints_2d=noisy)
    np.testing.assert_allclose(state.prediction, direct, atol=1e-5)
    state.select(noise_px=0.0)
    np.testing.assert_array_equal(state.keypoints_2d, sequence.keypoints_2d)
    state.select(noise_px=5.0)
    np.testing.assert_array_equal(state.keypoints_2d, noisy)


def test_other_branches_and_noise_levels_are_computed_without_changing_the_selection(state):
    state.select(frame=4)
    before = state.selection
    unfused = state.sequence_errors(branch="unfused")
    noisy = state.sequence_errors(noise_px=5.0)
    assert state.selection == before
    assert unfused.shape == noisy.shape == (FRAMES, 17)
    assert not np.allclose(unfused, state.errors) and not np.allclose(noisy, state.errors)
    np.testing.assert_array_equal(state.predict(branch="unfused"), state.predict(branch="unfused"))
    with pytest.raises(ValueError, match="no branch 'pose'"):
        state.predict(branch="pose")


def test_without_a_checkpoint_there_is_nothing_to_predict(dataset):
    state = ExplorerState(dataset, checkpoints=[], subject="S11", action="walk 1", camera=2, max_frames=FRAMES)
    assert state.checkpoint == NO_CHECKPOINT and state.checkpoint_options == [NO_CHECKPOINT]
    assert state.prediction is None and state.errors is None
    assert state.current_errors is None and state.current_p1 is None
    assert state.sequence_errors(noise_px=5.0) is None and state.prediction_calls == 0
    np.testing.assert_array_equal(state.keypoints_2d, dataset.sequence("S11", "walk 1", 2).keypoints_2d[:FRAMES])


def test_the_state_needs_no_widgets():
    code = "import sys, ehfusion.explorer; print('ipywidgets' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# ------------------------------------------------------------------------------------------ the best checkpoint
def test_the_best_checkpoint_is_the_most_accurate_for_the_keypoints(dataset, tmp_path):
    save_tiny_checkpoint(tmp_path / "a_det_weak.bin", keypoints="det", val_p1=85.0)
    save_tiny_checkpoint(tmp_path / "b_det_best.bin", keypoints="det", val_p1=79.0, branches=("fused",))
    save_tiny_checkpoint(tmp_path / "c_gt_best.bin", keypoints="gt", val_p1=82.0, branches=("fused",))
    (tmp_path / "d_broken.bin").write_bytes(b"not a checkpoint")
    names = ["a_det_weak.bin", "b_det_best.bin", "c_gt_best.bin", "d_broken.bin"]
    assert validation_p1(load_checkpoint(tmp_path / "a_det_weak.bin", build=False)) == 85.0   # the answer, fused
    assert best_checkpoint(names, "det", tmp_path) == "b_det_best.bin"      # not the first alphabetically
    assert best_checkpoint(names, "gt", tmp_path) == "c_gt_best.bin"        # errors on other inputs do not count
    assert best_checkpoint(names, None, tmp_path) == "b_det_best.bin"
    assert best_checkpoint(["d_broken.bin"], "gt", tmp_path) is None
    state = ExplorerState(dataset, checkpoint_dir=tmp_path, checkpoints=names, action="walk", max_frames=FRAMES)
    assert state.checkpoint == "c_gt_best.bin"                               # the dataset's keypoints are gt
