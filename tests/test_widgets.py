"""The pose explorer without a browser: change widget values, check what the observers computed."""
from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from browser_support import FakeDataset, OffsetModel, offset_predict  # noqa: E402
from ehfusion.visualisation import joint_errors_mm  # noqa: E402
from ehfusion.widgets import NO_CHECKPOINT, PoseExplorer, add_pixel_noise, split_subjects  # noqa: E402


@pytest.fixture
def dataset():
    return FakeDataset(frames=40)


@pytest.fixture
def model():
    return OffsetModel({"unfused": 0.04, "fused": 0.02})


@pytest.fixture
def explorer(dataset, model):
    return PoseExplorer(dataset, checkpoints={"toy": model}, predict_fn=offset_predict, dpi=40)


def expected_errors(explorer, frame):
    """Per-joint errors computed directly from the dataset and the offset model (not from the explorer)."""
    seq = explorer.dataset.sequences([explorer.subject], [explorer.action], [explorer.camera])[0]
    pred = offset_predict(OffsetModel(), seq, branch=explorer.branch)
    return joint_errors_mm(pred[frame], seq.poses_3d[frame])


def png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image


# --------------------------------------------------------------------------------------------------- initial state
def test_initial_state_is_the_first_test_sequence(explorer):
    assert (explorer.split, explorer.subject, explorer.camera, explorer.frame) == ("test", "S9", 0, 0)
    assert list(explorer.subject_dropdown.options) == ["S9", "S11"]
    assert explorer.checkpoint == "toy" and explorer.branch == "fused"      # the model's answer branch
    assert explorer.num_frames == 40 and explorer.frame_slider.max == 39 and explorer.play.max == 39
    np.testing.assert_allclose(explorer.current_errors, expected_errors(explorer, 0), rtol=1e-5)
    assert explorer.current_p1 == pytest.approx(expected_errors(explorer, 0).mean(), rel=1e-5)
    assert png(explorer.image_bytes).size[0] > 100
    assert explorer.prediction_calls == 1


def test_helpers():
    ds = FakeDataset(frames=5)
    assert split_subjects(ds, "train") == ["S1"] and split_subjects(ds, "test") == ["S9", "S11"]
    with pytest.raises(ValueError, match="'train' or 'test'"):
        split_subjects(ds, "validation")
    keypoints = np.zeros((2000, 17, 2), dtype=np.float32)
    noisy = add_pixel_noise(keypoints, 5.0, image_width=1000, seed=3)
    assert noisy.std() == pytest.approx(5.0 * 2 / 1000, rel=0.02)         # 5 px in normalised units
    np.testing.assert_array_equal(noisy, add_pixel_noise(keypoints, 5.0, 1000, seed=3))
    assert add_pixel_noise(keypoints, 0.0, 1000, seed=3) is not None
    with pytest.raises(ValueError, match=">= 0"):
        add_pixel_noise(keypoints, -1.0, 1000, seed=0)


# ------------------------------------------------------------------------------------------------------- observers
def test_frame_slider_updates_errors_label_and_image_without_predicting_again(explorer):
    before = explorer.image_bytes
    explorer.frame_slider.value = 7
    assert explorer.frame == 7
    np.testing.assert_allclose(explorer.current_errors, expected_errors(explorer, 7), rtol=1e-5)
    assert explorer.current_p1 == pytest.approx(float(np.mean(expected_errors(explorer, 7))), rel=1e-5)
    assert "frame 7 / 39" in explorer.frame_label.value
    assert f"{explorer.current_p1:.1f} mm" in explorer.frame_label.value
    assert explorer.image_bytes != before
    assert explorer.prediction_calls == 1                                   # indexed from the cached prediction


def test_subject_change_predicts_once_and_the_cache_is_reused(explorer, model):
    explorer.subject_dropdown.value = "S11"
    assert explorer.sequence.subject == "S11" and explorer.prediction_calls == 2
    assert model.calls[-1][:4] == ("S11", explorer.action, 0, "fused")
    np.testing.assert_allclose(explorer.current_errors, expected_errors(explorer, explorer.frame), rtol=1e-5)
    assert "The model toy lifted all 40 frames" in explorer.status.value
    explorer.subject_dropdown.value = "S9"
    explorer.subject_dropdown.value = "S11"
    assert explorer.prediction_calls == 2                                   # both came from the cache
    assert "Already computed" in explorer.status.value


def test_split_change_offers_the_train_subjects(explorer):
    assert explorer.split_note.value == ""
    explorer.split_dropdown.value = "train"
    assert list(explorer.subject_dropdown.options) == ["S1"]
    assert explorer.subject == "S1" and explorer.sequence.subject == "S1"
    assert "Training data" in explorer.split_note.value                 # the explorer says what is shown
    assert "training data" in explorer.panel.title.get_text()
    explorer.split_dropdown.value = "test"
    assert explorer.split_note.value == ""


def test_frame_and_p1_are_shown_once(explorer):
    explorer.frame_slider.value = 7
    assert not explorer.frame_slider.readout                            # the label beside the slider says it
    assert "frame 7 / 39" in explorer.frame_label.value
    title = explorer.panel.title.get_text()
    assert "frame" not in title and "P1" not in title and "toy" in title


def test_per_joint_axis_never_cuts_a_bar_off(dataset):
    far = OffsetModel({"unfused": 0.3, "fused": 0.2})                      # 200 mm on every joint but the root
    explorer = PoseExplorer(dataset, checkpoints={"toy": far}, predict_fn=offset_predict, dpi=30)
    assert explorer.current_errors.max() == pytest.approx(200.0, rel=1e-4)
    assert explorer.panel.ax_err.get_xlim()[1] >= explorer.current_errors.max()
    explorer.branch_buttons.value = "unfused"                               # 300 mm: the axis follows
    assert explorer.panel.ax_err.get_xlim()[1] >= explorer.current_errors.max() > 250.0


def test_per_joint_axis_keeps_the_colour_scale_when_errors_are_small(explorer):
    assert explorer.current_errors.max() < 150.0
    assert explorer.panel.ax_err.get_xlim()[1] == 150.0


def test_camera_change_loads_that_view_and_clamps_the_frame(explorer, dataset):
    explorer.camera_dropdown.value = 1
    assert explorer.sequence.camera == 1 and explorer.num_frames == 45   # the fake camera 1 has 5 more frames
    explorer.frame_slider.value = 44
    explorer.camera_dropdown.value = 0
    assert explorer.frame == 39 and explorer.frame_slider.max == 39
    np.testing.assert_allclose(explorer.keypoints_2d, dataset.sequences(["S9"], [explorer.action], [0])[0].keypoints_2d)


def test_action_change(explorer):
    other = [a for a in explorer.action_dropdown.options if a != explorer.action][0]
    explorer.action_dropdown.value = other
    assert explorer.sequence.action == other
    np.testing.assert_allclose(explorer.current_errors, expected_errors(explorer, 0), rtol=1e-5)


def test_other_branches_and_noise_levels_are_computed_without_touching_the_controls(explorer, model):
    explorer.frame_slider.value = 4
    renders, image = explorer.render_count, explorer.image_bytes
    unfused = explorer.sequence_errors(branch="unfused")
    noisy = explorer.sequence_errors(noise_px=5.0)
    assert (explorer.branch, explorer.noise_px, explorer.frame) == ("fused", 0.0, 4)
    assert explorer.render_count == renders and explorer.image_bytes == image
    np.testing.assert_allclose(unfused.mean(), 2 * explorer.sequence_errors().mean(), rtol=1e-5)
    assert noisy.shape == (40, 17)
    received = model.calls[-1][4]                                           # the model saw the noisy input
    assert np.std(received - explorer.keypoints_2d) == pytest.approx(5.0 * 2 / 1000, rel=0.1)
    assert explorer.predict(branch="unfused").shape == (40, 17, 3)
    explorer.branch_buttons.value = "unfused"                               # already computed: from the cache
    calls = explorer.prediction_calls
    explorer.noise_slider.value = 5.0
    assert explorer.prediction_calls == calls + 1                           # (unfused, 5 px) was not computed yet


def test_branch_toggle_switches_between_fused_and_unfused(explorer, model):
    assert list(explorer.branch_buttons.options) == ["unfused", "fused"]
    assert explorer.branch_box.layout.display is None                     # a choice: the control is shown
    fused_p1 = explorer.current_p1
    explorer.branch_buttons.value = "unfused"
    assert model.calls[-1][3] == "unfused"
    assert explorer.current_p1 == pytest.approx(2 * fused_p1, rel=1e-5)    # offsets 40 mm vs 20 mm
    assert explorer.current_p1 == pytest.approx(16 / 17 * 40.0, rel=1e-4)  # every joint but the root moved 40 mm
    explorer.branch_buttons.value = "fused"
    assert explorer.current_p1 == pytest.approx(fused_p1) and explorer.prediction_calls == 2


def test_no_checkpoint_shows_ground_truth_only(explorer):
    explorer.frame_slider.value = 3
    before = explorer.image_bytes
    explorer.checkpoint_dropdown.value = NO_CHECKPOINT
    assert explorer.prediction is None and explorer.current_errors is None and explorer.current_p1 is None
    assert explorer.branch_buttons.disabled and explorer.branch is None
    assert explorer.branch_box.layout.display == "none"                   # no choice, no control
    assert "P1" not in explorer.frame_label.value and "frame 3 / 39" in explorer.frame_label.value
    assert explorer.image_bytes != before
    explorer.checkpoint_dropdown.value = "toy"
    assert explorer.branch == "fused" and explorer.prediction_calls == 1


def test_noise_slider_feeds_the_model_noisy_input_deterministically(explorer, model, dataset):
    clean = dataset.sequences(["S9"], [explorer.action], [0])[0].keypoints_2d
    explorer.noise_slider.value = 5.0
    assert explorer.prediction_calls == 2
    received = model.calls[-1][4]
    np.testing.assert_array_equal(received, explorer.keypoints_2d)
    assert np.std(received - clean) == pytest.approx(5.0 * 2 / 1000, rel=0.1)   # 5 px on a 1000 px wide image
    first_draw = explorer.keypoints_2d.copy()
    explorer.noise_slider.value = 0.0
    np.testing.assert_array_equal(explorer.keypoints_2d, clean)
    explorer.noise_slider.value = 5.0
    np.testing.assert_array_equal(explorer.keypoints_2d, first_draw)
    assert explorer.prediction_calls == 2                                   # (sequence, noise) predictions cached
    np.testing.assert_array_equal(np.asarray(clean), dataset.sequences(["S9"], [explorer.action], [0])[0].keypoints_2d)


def test_rotating_redraws_without_predicting(explorer):
    before, renders = explorer.image_bytes, explorer.render_count
    explorer.azimuth_slider.value = 30.0
    explorer.elevation_slider.value = 45.0
    assert (explorer.panel.ax_gt.azim, explorer.panel.ax_gt.elev) == (30.0, 45.0)
    assert explorer.image_bytes != before and explorer.render_count == renders + 2
    assert explorer.prediction_calls == 1


def test_play_is_linked_to_the_frame_slider(explorer):
    link = explorer._play_link
    assert link.source == (explorer.play, "value") and link.target == (explorer.frame_slider, "value")


# ------------------------------------------------------------------------------------------------------ options
def test_max_frames_trims_sequences(dataset, model):
    explorer = PoseExplorer(dataset, checkpoints={"toy": model}, predict_fn=offset_predict, max_frames=12, dpi=30)
    assert explorer.num_frames == 12 and explorer.prediction.shape == (12, 17, 3)
    assert explorer.ground_truth.shape == (12, 17, 3)


def test_bad_selections_raise_clear_errors(dataset, model):
    with pytest.raises(ValueError, match="unknown checkpoint 'missing.bin'"):
        PoseExplorer(dataset, checkpoints={"toy": model}, checkpoint="missing.bin", predict_fn=offset_predict)
    with pytest.raises(ValueError, match="not in the test split"):
        PoseExplorer(dataset, checkpoints={}, subject="S1")
    with pytest.raises(ValueError, match="no action 'Dancing'"):
        PoseExplorer(dataset, checkpoints={}, action="Dancing")
    with pytest.raises(ValueError, match="camera must be in 0 .. 1"):
        PoseExplorer(dataset, checkpoints={}, camera=3)
    with pytest.raises(TypeError, match="PoseDataset"):
        PoseExplorer(object(), checkpoints={})


def test_a_model_with_the_wrong_layout_is_reported(dataset):
    def predict_15_joints(model, seq, flip_tta=True, branch=None):
        return np.zeros((len(seq.keypoints_2d), 15, 3), dtype=np.float32)

    with pytest.raises(ValueError, match="trained on the 'h36m' layout"):
        PoseExplorer(dataset, checkpoints={"he": OffsetModel()}, predict_fn=predict_15_joints)


def test_a_failing_observer_reports_in_the_status_line(dataset, model):
    def predict_clean_only(model, seq, flip_tta=True, branch=None):
        if not np.array_equal(seq.keypoints_2d, dataset.sequences([seq.subject], [seq.action], [seq.camera])[0]
                              .keypoints_2d):
            raise RuntimeError("this model refuses noisy input")
        return offset_predict(model, seq, flip_tta, branch)

    explorer = PoseExplorer(dataset, checkpoints={"toy": model}, predict_fn=predict_clean_only, dpi=30)
    with pytest.raises(RuntimeError, match="refuses noisy input"):
        explorer.noise_slider.value = 3.0
    assert "RuntimeError: this model refuses noisy input" in explorer.status.value


def test_checkpoint_names_are_loaded_lazily_once(dataset, model):
    loads = []

    def loader(name):
        loads.append(name)
        return model

    explorer = PoseExplorer(dataset, checkpoints=["a.bin", "b.bin"], checkpoint=NO_CHECKPOINT,
                            checkpoint_loader=loader, predict_fn=offset_predict, dpi=30)
    assert loads == []
    explorer.checkpoint_dropdown.value = "b.bin"
    explorer.frame_slider.value = 2
    explorer.checkpoint_dropdown.value = NO_CHECKPOINT
    explorer.checkpoint_dropdown.value = "b.bin"
    assert loads == ["b.bin"]


# ------------------------------------------------------------------------------------------------ display, export
def test_display_bundle_has_the_widget_and_a_static_png(explorer):
    explorer.frame_slider.value = 3
    bundle = explorer._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.widget.model_id
    assert png(base64.b64decode(bundle["image/png"])).size == png(explorer.image_bytes).size
    assert "S9" in bundle["text/plain"] and "P1" in bundle["text/plain"]
    assert "frame" not in explorer.panel.title.get_text()                   # the live widget's title is restored


def test_static_summary_plots_the_frame_and_the_per_frame_p1(explorer):
    explorer.frame_slider.value = 5
    fig = explorer.static_summary()
    curves = [ax for ax in fig.axes if ax.get_xlabel() == "frame"]
    assert len(curves) == 1
    per_frame = curves[0].get_lines()[0].get_ydata()
    np.testing.assert_allclose(per_frame, explorer.sequence_errors().mean(axis=1))
    assert curves[0].get_lines()[1].get_xdata()[0] == 5                    # the current frame is marked
    assert any(ax.name == "3d" for ax in fig.axes)                           # and drawn above
    assert f"P1 {explorer.current_p1:.1f} mm" in fig._suptitle.get_text()
    explorer.checkpoint_dropdown.value = NO_CHECKPOINT
    assert not [ax for ax in explorer.static_summary().axes if ax.get_xlabel() == "frame"]


def test_save_gif_and_png(explorer, tmp_path):
    gif = explorer.save_gif(tmp_path / "explorer.gif", frames=range(0, 40, 10), fps=4)
    with Image.open(gif) as image:
        assert image.n_frames == 4
    png_path = explorer.save_png(tmp_path / "frame.png")
    assert png_path.read_bytes() == explorer.image_bytes


# ------------------------------------------------------------------------------------------- the embedded dataset
def test_explorer_on_the_embedded_dataset():
    from ehfusion.data import load_dataset

    dataset = load_dataset("embedded", keypoints="gt")
    explorer = PoseExplorer(dataset, checkpoints={}, subject="S11", action="walk 1", camera=2, max_frames=20, dpi=30)
    assert list(explorer.subject_dropdown.options) == list(dataset.split_subjects("test"))
    expected = dataset.sequence("S11", "walk 1", 2)
    assert (explorer.sequence.action, explorer.sequence.camera) == ("walk 1", 2)   # not the other take, "walk"
    np.testing.assert_array_equal(explorer.keypoints_2d, expected.keypoints_2d[:20])
    camera = dataset.cameras["S11"][2]
    assert explorer.image_size == (camera.res_w, camera.res_h)
    explorer.split_dropdown.value = "train"
    assert list(explorer.subject_dropdown.options) == list(dataset.split_subjects("train"))
    assert explorer.sequence.subject == explorer.subject == dataset.split_subjects("train")[0]


def test_changing_subject_keeps_action_and_camera_when_possible(dataset, model):
    dataset.cameras["S11"] = dataset.cameras["S11"][:1]          # S11 was filmed by one camera only
    explorer = PoseExplorer(dataset, checkpoints={"toy": model}, predict_fn=offset_predict, camera=1,
                            action="Walking", dpi=30)
    explorer.subject_dropdown.value = "S11"
    assert (explorer.action, explorer.camera) == ("Walking", 0)
    assert list(explorer.camera_dropdown.options) == [("camera 0", 0)]
    assert (explorer.sequence.subject, explorer.sequence.camera) == ("S11", 0)


# ------------------------------------------------------------------------------ a real checkpoint, end to end
def test_explorer_with_a_saved_one_stage_checkpoint(tmp_path):
    """A tiny untrained one-stage model written with save_checkpoint, found through checkpoint_dir."""
    import dataclasses

    import torch

    from ehfusion.checkpoints import save_checkpoint
    from ehfusion.data import load_dataset
    from ehfusion.evaluation import predict_sequence
    from ehfusion.models import ModelConfig, build_model

    torch.manual_seed(0)
    config = ModelConfig(filter_widths=(3, 3), channels=16, latent=16, hidden=32, angle_channels=8, angle_features=8,
                         camera_features=8, branches=("unfused", "fused"))
    model = build_model(config).eval()
    save_checkpoint(tmp_path / "tiny_one-stage.bin", model, model_config=config, strategy="one-stage", stage=1,
                    dataset="embedded", keypoints="gt", epoch=0)
    dataset = load_dataset("embedded", keypoints="gt")
    explorer = PoseExplorer(dataset, checkpoint_dir=tmp_path, action="walk", max_frames=30, dpi=30)

    assert explorer.checkpoint == "tiny_one-stage.bin"
    assert list(explorer.branch_buttons.options) == ["unfused", "fused"] and explorer.branch == "fused"
    sequence = dataset.sequence("S9", "walk", 0)
    sequence = dataclasses.replace(sequence, keypoints_2d=sequence.keypoints_2d[:30], poses_3d=sequence.poses_3d[:30],
                                   trajectory=sequence.trajectory[:30])
    for branch in ("fused", "unfused"):
        explorer.branch_buttons.value = branch
        explorer.frame_slider.value = 12
        direct = predict_sequence(model, sequence, flip_tta=True, branch=branch)
        np.testing.assert_allclose(explorer.prediction, direct, atol=1e-5)
        np.testing.assert_allclose(explorer.current_errors, joint_errors_mm(direct[12], sequence.poses_3d[12]),
                                   rtol=1e-4)
    assert explorer.prediction_calls == 1            # one forward pass gave both branches
    explorer.noise_slider.value = 4.0
    assert explorer.prediction_calls == 2 and explorer.branch == "unfused"
    assert not np.allclose(explorer.prediction, direct)


def test_show_displays_the_explorer_bundle(explorer, monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    explorer.show()
    assert shown == [explorer]


# ------------------------------------------------------------------------------------------ the default checkpoint
def _save_tiny(path, keypoints, val_p1, branches=("fused",)):
    from ehfusion.checkpoints import save_checkpoint
    from ehfusion.models import ModelConfig, build_model

    config = ModelConfig(filter_widths=(3,), channels=8, latent=8, hidden=8, angle_channels=4, angle_features=4,
                         camera_features=4, branches=branches)
    metrics = {f"val_p1_{b}": val_p1 + 10.0 * i for i, b in enumerate(reversed(branches))}
    save_checkpoint(path, build_model(config), model_config=config, strategy="one-stage", stage=1,
                    dataset="embedded", keypoints=keypoints, epoch=1, metrics=metrics)


def test_the_default_checkpoint_is_the_most_accurate_for_the_keypoints(tmp_path):
    from ehfusion.data import load_dataset
    from ehfusion.widgets import best_checkpoint

    _save_tiny(tmp_path / "a_det_weak.bin", "det", 85.0, branches=("unfused", "fused"))
    _save_tiny(tmp_path / "b_det_best.bin", "det", 79.0)
    _save_tiny(tmp_path / "c_gt_best.bin", "gt", 70.0)
    names = ["a_det_weak.bin", "b_det_best.bin", "c_gt_best.bin"]
    assert best_checkpoint(names, "det", tmp_path) == "b_det_best.bin"      # not the first alphabetically
    assert best_checkpoint(names, "gt", tmp_path) == "c_gt_best.bin"
    assert best_checkpoint(names, None, tmp_path) == "c_gt_best.bin"
    dataset = load_dataset("embedded", keypoints="det")
    explorer = PoseExplorer(dataset, checkpoint_dir=tmp_path, action="walk", max_frames=10, dpi=30)
    assert explorer.checkpoint == "b_det_best.bin"
    assert explorer.branch_box.layout.display == "none"                   # a single branch: no control
