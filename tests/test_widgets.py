"""The pose explorer's widget view without a browser: move a control, check that the state followed and the picture
was redrawn. The state itself is tested in ``test_explorer.py``."""
from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from ehfusion.errors import CheckpointError  # noqa: E402
from ehfusion.widgets import NO_CHECKPOINT, PoseExplorer  # noqa: E402
from explorer_support import FRAMES, checkpoints, dataset  # noqa: E402, F401 (fixtures)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def explorer(dataset, checkpoints):
    return PoseExplorer(dataset, checkpoint_dir=checkpoints, checkpoint="one-stage.bin", action="walk",
                        max_frames=FRAMES, dpi=40)


def png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image


# ------------------------------------------------------------------------------------------- controls and state
def test_the_controls_show_the_state(explorer, dataset):
    state = explorer.state
    assert explorer.split_dropdown.value == "test"
    assert list(explorer.subject_dropdown.options) == state.subjects == ["S9", "S11"]
    assert list(explorer.action_dropdown.options) == dataset.actions("S9") and explorer.action_dropdown.value == "walk"
    assert list(explorer.camera_dropdown.options) == [(f"camera {i}", i) for i in range(4)]
    assert explorer.checkpoint_dropdown.value == "one-stage.bin"
    assert list(explorer.branch_buttons.options) == ["unfused", "fused"] and explorer.branch_buttons.value == "fused"
    assert explorer.branch_box.layout.display is None                     # a choice: the control is shown
    assert explorer.frame_slider.max == explorer.play.max == FRAMES - 1
    assert f"frame 0 / {FRAMES - 1}" in explorer.frame_label.value
    assert f"P1 <b>{state.current_p1:.1f} mm</b>" in explorer.frame_label.value
    assert f"lifted all {FRAMES} frames" in explorer.status.value
    assert png(explorer.image_bytes).size[0] > 100 and explorer.render_count == 1


def test_the_frame_slider_selects_the_frame_and_only_redraws(explorer):
    before = explorer.image_bytes
    explorer.frame_slider.value = 7
    assert explorer.state.frame == explorer.frame == 7
    assert "frame 7 / 39" in explorer.frame_label.value
    assert f"{explorer.state.current_p1:.1f} mm" in explorer.frame_label.value
    assert explorer.image_bytes != before and explorer.state.prediction_calls == 1
    assert not explorer.frame_slider.readout                            # the label beside it says the frame, once
    title = explorer.panel.title.get_text()
    assert "frame" not in title and "P1" not in title and "one-stage.bin [fused branch]" in title


def test_the_sequence_controls_drive_the_state(explorer, dataset):
    explorer.camera_dropdown.value = 2
    explorer.subject_dropdown.value = "S11"
    assert explorer.state.selection.sequence_key == ("S11", "walk", 2)            # the action and camera stay
    np.testing.assert_array_equal(explorer.state.keypoints_2d, dataset.sequence("S11", "walk", 2).keypoints_2d[:FRAMES])
    explorer.action_dropdown.value = "walk 1"
    assert explorer.state.action == "walk 1"
    assert explorer.split_note.value == ""
    explorer.split_dropdown.value = "train"
    assert list(explorer.subject_dropdown.options) == list(dataset.split_subjects("train"))
    assert explorer.subject_dropdown.value == explorer.state.subject == "S1"
    assert "Training data" in explorer.split_note.value and "training data" in explorer.panel.title.get_text()


def test_the_branch_and_noise_controls_drive_the_state(explorer):
    explorer.branch_buttons.value = "unfused"
    assert explorer.state.branch == "unfused" and explorer.state.prediction_calls == 1   # both branches at once
    assert "Already computed" in explorer.status.value
    assert f"{explorer.state.current_p1:.1f} mm" in explorer.frame_label.value
    explorer.noise_slider.value = 5.0
    assert explorer.state.noise_px == 5.0 and explorer.state.prediction_calls == 2
    assert "with 5 px of added noise" in explorer.status.value
    explorer.noise_slider.value = 0.0
    assert explorer.state.prediction_calls == 2 and "Already computed" in explorer.status.value


def test_without_a_checkpoint_the_branch_control_is_hidden(explorer):
    explorer.frame_slider.value = 3
    explorer.checkpoint_dropdown.value = NO_CHECKPOINT
    assert explorer.state.prediction is None and explorer.current_p1 is None
    assert explorer.branch_buttons.disabled and explorer.branch_box.layout.display == "none"
    assert "P1" not in explorer.frame_label.value and "frame 3 / 39" in explorer.frame_label.value
    assert "recorded motion only" in explorer.status.value
    explorer.checkpoint_dropdown.value = "three-stage.bin"                # one branch: no choice, no control
    assert explorer.state.branch == "fused" and explorer.branch_box.layout.display == "none"


def test_a_failed_change_is_reported_and_the_controls_go_back(dataset, checkpoints, tmp_path):
    (tmp_path / "broken.bin").write_bytes(b"not a checkpoint")
    (tmp_path / "one-stage.bin").write_bytes((checkpoints / "one-stage.bin").read_bytes())
    explorer = PoseExplorer(dataset, checkpoint_dir=tmp_path, checkpoints=["one-stage.bin", "broken.bin"],
                            checkpoint="one-stage.bin", max_frames=FRAMES, dpi=30)
    with pytest.raises(CheckpointError, match="broken.bin"):
        explorer.checkpoint_dropdown.value = "broken.bin"
    assert "CheckpointError" in explorer.status.value and "broken.bin" in explorer.status.value
    assert explorer.checkpoint_dropdown.value == explorer.state.checkpoint == "one-stage.bin"


def test_rotating_redraws_without_predicting(explorer):
    before, renders = explorer.image_bytes, explorer.render_count
    explorer.azimuth_slider.value = 30.0
    explorer.elevation_slider.value = 45.0
    assert (explorer.panel.ax_gt.azim, explorer.panel.ax_gt.elev) == (30.0, 45.0)
    assert explorer.image_bytes != before and explorer.render_count == renders + 2
    assert explorer.state.prediction_calls == 1


def test_play_is_linked_to_the_frame_slider(explorer):
    link = explorer._play_link
    assert link.source == (explorer.play, "value") and link.target == (explorer.frame_slider, "value")


def test_the_per_joint_axis_never_cuts_a_bar_off(explorer):
    # untrained models are hundreds of mm off: the axis widens beyond the colour scale's 150 mm
    for frame in (0, 20):
        explorer.frame_slider.value = frame
        assert explorer.panel.ax_err.get_xlim()[1] >= explorer.state.current_errors.max() > 150.0


def test_queries_for_notebooks_leave_the_controls_alone(explorer):
    renders, image = explorer.render_count, explorer.image_bytes
    noisy = explorer.sequence_errors(noise_px=5.0)
    assert noisy.shape == (FRAMES, 17) and explorer.noise_slider.value == 0.0
    assert explorer.render_count == renders and explorer.image_bytes == image
    np.testing.assert_array_equal(explorer.sequence_errors(), explorer.state.errors)


def test_a_dataset_name_is_loaded():
    explorer = PoseExplorer("embedded", keypoints="gt", checkpoints=[], max_frames=5, dpi=30)
    assert explorer.state.dataset.keypoints == "gt" and explorer.num_frames == 5


# ------------------------------------------------------------------------------------------------ display, export
def test_the_display_bundle_has_the_widget_and_a_static_png(explorer):
    explorer.frame_slider.value = 3
    bundle = explorer._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.widget.model_id
    assert png(base64.b64decode(bundle["image/png"])).size == png(explorer.image_bytes).size
    assert "S9" in bundle["text/plain"] and "P1" in bundle["text/plain"]
    assert "frame" not in explorer.panel.title.get_text()                   # the live widget's title is restored


def test_show_displays_the_explorer_bundle(explorer, monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    explorer.show()
    assert shown == [explorer]


def test_the_static_summary_plots_the_frame_and_the_per_frame_p1(explorer):
    explorer.frame_slider.value = 5
    fig = explorer.static_summary()
    curves = [ax for ax in fig.axes if ax.get_xlabel() == "frame"]
    assert len(curves) == 1
    np.testing.assert_allclose(curves[0].get_lines()[0].get_ydata(), explorer.state.errors.mean(axis=1))
    assert curves[0].get_lines()[1].get_xdata()[0] == 5                    # the current frame is marked
    assert any(ax.name == "3d" for ax in fig.axes)                           # and drawn above
    assert f"P1 {explorer.current_p1:.1f} mm" in fig._suptitle.get_text()
    explorer.checkpoint_dropdown.value = NO_CHECKPOINT
    assert not [ax for ax in explorer.static_summary().axes if ax.get_xlabel() == "frame"]


def test_save_gif_and_png(explorer, tmp_path):
    gif = explorer.save_gif(tmp_path / "explorer.gif", frames=range(0, FRAMES, 10), fps=4)
    with Image.open(gif) as image:
        assert image.n_frames == 4
    png_path = explorer.save_png(tmp_path / "frame.png")
    assert png_path.read_bytes() == explorer.image_bytes
