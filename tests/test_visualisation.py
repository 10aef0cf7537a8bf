"""Figures and animations: geometry of the drawings, colours from the skeleton tables, colour bars, GIF frames."""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib import animation  # noqa: E402
from PIL import Image  # noqa: E402

from browser_support import make_sequence, walking_poses  # noqa: E402
from ehfusion import geometry  # noqa: E402
from ehfusion import visualisation as vis  # noqa: E402
from ehfusion.skeleton import COCO_17, H36M_17, HUMANEVA_15  # noqa: E402
from ehfusion.style import STYLE  # noqa: E402

# Tests that check input errors build animations they never save; matplotlib warns when those are collected.
pytestmark = pytest.mark.filterwarnings("ignore:Animation was deleted without rendering")


@pytest.fixture(autouse=True)
def _no_show_and_close(monkeypatch):
    """No function may call plt.show(); every figure is closed after each test."""
    def forbidden(*args, **kwargs):
        raise AssertionError("visualisation functions must not call plt.show()")

    monkeypatch.setattr(plt, "show", forbidden)
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def sequence():
    return make_sequence(n=24)


def bone_lines(ax):
    return [line for line in ax.get_lines() if (line.get_gid() or "").startswith("bone:")]


def axis_ranges(ax):
    return [hi - lo for lo, hi in (ax.get_xlim3d(), ax.get_ylim3d(), ax.get_zlim3d())]


# ------------------------------------------------------------------------------------------------------------ colours
@pytest.mark.parametrize("skeleton", [H36M_17, HUMANEVA_15, COCO_17])
def test_side_colours_follow_the_symmetry_tables(skeleton):
    colours = vis.bone_colours(skeleton, by="side")
    assert len(colours) == len(skeleton.bones())
    for (child, _parent), colour in zip(skeleton.bones(), colours):
        expected = "left" if child in skeleton.joints_left else "right" if child in skeleton.joints_right else "centre"
        assert colour == vis.SIDE_COLOURS[expected]


@pytest.mark.parametrize("skeleton", [H36M_17, HUMANEVA_15])
def test_group_colours_are_shared_within_and_differ_between_groups(skeleton):
    colours = vis.joint_colours(skeleton, by="group")
    for group in skeleton.groups:
        assert len({tuple(colours[j]) for j in group.joints}) == 1
    assert len({tuple(colours[g.joints[0]]) for g in skeleton.groups}) == len(skeleton.groups)


def test_bad_colouring_requests_raise_clear_errors():
    with pytest.raises(ValueError, match="no joint groups"):
        vis.joint_colours(COCO_17, by="group")
    with pytest.raises(ValueError, match="by='side' or by='group'"):
        vis.bone_colours(H36M_17, by="rainbow")


# -------------------------------------------------------------------------------------------------------- coordinates
def test_camera_to_plot_shows_camera_poses_upright():
    pose = walking_poses(1)[0]
    points = vis.camera_to_plot(pose)
    head, foot = H36M_17.index("Head"), H36M_17.index("RFoot")
    assert points[head, 2] > points[foot, 2] + 1.0          # the head is up (camera y points down)
    np.testing.assert_allclose(points[:, 1], pose[:, 2])    # depth is the second horizontal axis
    np.testing.assert_allclose(points[:, 0], pose[:, 0])


def test_joint_errors_mm_of_a_known_offset():
    gt = walking_poses(3)
    pred = gt.copy()
    pred[..., 2] += 0.025
    np.testing.assert_allclose(vis.joint_errors_mm(pred, gt), np.full((3, 17), 25.0), rtol=1e-5)
    with pytest.raises(ValueError, match="differ in shape"):
        vis.joint_errors_mm(pred[:, :5], gt)


# ------------------------------------------------------------------------------------------------------------ 3D plots
def test_plot_pose_3d_draws_every_bone_with_equal_axes(sequence):
    pose = sequence.poses_3d[5]
    ax = vis.plot_pose_3d(pose)
    lines = bone_lines(ax)
    assert len(lines) == len(H36M_17.bones())
    ranges = axis_ranges(ax)
    assert ranges[0] == pytest.approx(ranges[1]) == pytest.approx(ranges[2])
    assert tuple(np.round(ax.get_box_aspect() / ax.get_box_aspect()[0], 6)) == (1.0, 1.0, 1.0)
    # each line joins the bone's two joints, in plot coordinates
    points = vis.camera_to_plot(pose)
    for line, (child, parent) in zip(lines, H36M_17.bones()):
        xs, ys, zs = line.get_data_3d()
        np.testing.assert_allclose(np.stack([xs, ys, zs], axis=1), points[[child, parent]], atol=1e-9)
    # the whole pose is inside the cube
    for k, lim in enumerate((ax.get_xlim3d(), ax.get_ylim3d(), ax.get_zlim3d())):
        assert lim[0] <= points[:, k].min() and points[:, k].max() <= lim[1]


def test_plot_pose_3d_uses_the_given_axis_and_radius(sequence):
    fig = plt.figure()
    ax = fig.add_subplot(projection="3d")
    returned = vis.plot_pose_3d(sequence.poses_3d[0], ax=ax, radius=1.5, elev=30, azim=40)
    assert returned is ax
    assert axis_ranges(ax) == pytest.approx([3.0, 3.0, 3.0])
    assert (ax.elev, ax.azim) == (30, 40)


def test_plot_pose_3d_rejects_bad_input(sequence):
    with pytest.raises(ValueError, match=r"shape \(17, 3\)"):
        vis.plot_pose_3d(sequence.poses_3d)          # a whole sequence instead of one frame
    flat_ax = plt.figure().add_subplot()
    with pytest.raises(ValueError, match="projection='3d'"):
        vis.plot_pose_3d(sequence.poses_3d[0], ax=flat_ax)
    with pytest.raises(ValueError, match="coordinates"):
        vis.plot_pose_3d(sequence.poses_3d[0], coordinates="image")


def test_prediction_overlay_colours_joints_by_error_with_a_colour_bar(sequence):
    gt = sequence.poses_3d[3]
    pred = gt + np.linspace(0, 0.1, 17)[:, None] * np.array([1.0, 0.0, 0.0])
    ax = vis.plot_prediction_3d(gt, pred, max_error_mm=120)
    assert len(bone_lines(ax)) == 2 * len(H36M_17.bones())   # ground truth and prediction
    scatter = ax.collections[-1]
    np.testing.assert_allclose(scatter.get_array(), vis.joint_errors_mm(pred, gt))
    assert scatter.norm.vmax == 120
    colour_bars = [a for a in ax.figure.axes if a is not ax]
    assert len(colour_bars) == 1 and colour_bars[0].get_ylabel() == "joint error (mm)"
    assert f"{vis.joint_errors_mm(pred, gt).mean():.1f} mm" in ax.get_title()
    ranges = axis_ranges(ax)
    assert ranges[0] == pytest.approx(ranges[1]) == pytest.approx(ranges[2])


def test_joint_error_bars_have_one_bar_per_joint(sequence):
    errors = np.arange(17, dtype=float) * 3
    ax = vis.plot_joint_errors(errors)
    widths = [patch.get_width() for patch in ax.patches]
    np.testing.assert_allclose(widths, errors)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(H36M_17.joint_names)
    with pytest.raises(ValueError, match="17 per-joint errors"):
        vis.plot_joint_errors(errors[:5])


# ------------------------------------------------------------------------------------------------------------ 2D plots
def test_plot_pose_2d_in_pixels_has_the_image_extent_with_y_down(sequence):
    keypoints = sequence.keypoints_2d[0]
    ax = vis.plot_pose_2d(keypoints, units="pixels", image_size=(1000, 1002))
    assert ax.get_xlim() == (0, 1000)
    assert ax.get_ylim() == (1002, 0)                       # y points down like an image
    lines = bone_lines(ax)
    assert len(lines) == len(H36M_17.bones())
    pixels = geometry.image_coordinates(keypoints.astype(np.float64), 1000, 1002)
    child, parent = H36M_17.bones()[0]
    np.testing.assert_allclose(np.stack(lines[0].get_data(), axis=1), pixels[[child, parent]])


def test_plot_pose_2d_in_normalised_units(sequence):
    ax = vis.plot_pose_2d(sequence.keypoints_2d[0], image_size=(1000, 500))
    assert ax.get_xlim() == (-1.0, 1.0)
    assert ax.get_ylim() == (0.5, -0.5)
    with pytest.raises(ValueError, match="units"):
        vis.plot_pose_2d(sequence.keypoints_2d[0], units="inches")


def test_camera_views_draw_one_panel_per_camera():
    views = [make_sequence(camera=c, n=10) for c in range(4)]
    fig = vis.plot_camera_views(views, frame=4, image_sizes=[(1000, 1002)] * 4)
    assert len(fig.axes) == 4
    for camera, ax in enumerate(fig.axes):
        assert len(bone_lines(ax)) == len(H36M_17.bones())
        assert ax.get_title() == f"camera {camera}"
        joints = next(line for line in ax.get_lines() if line.get_gid() == "joints")
        pixels = geometry.image_coordinates(views[camera].keypoints_2d[4].astype(np.float64), 1000, 1002)
        np.testing.assert_allclose(np.stack(joints.get_data(), axis=1), pixels)
    with pytest.raises(ValueError, match="frame="):
        vis.plot_camera_views(views)


# ------------------------------------------------------------------------------------------------------- frame panel
def test_frame_panel_update_returns_the_errors_and_renders_png(sequence):
    panel = vis.PoseFramePanel(image_size=(1000, 1002), figsize=(10, 3), dpi=50)
    gt = sequence.poses_3d[2]
    pred = gt + 0.01
    errors = panel.update(sequence.keypoints_2d[2], gt, pred)
    np.testing.assert_allclose(errors, vis.joint_errors_mm(pred, gt))
    np.testing.assert_allclose([bar.get_width() for bar in panel.error_bars], errors)
    image = Image.open(io.BytesIO(panel.to_png()))
    assert image.format == "PNG" and image.size == (500, 150)
    assert panel.colorbar is not None
    ranges = axis_ranges(panel.ax_gt)
    assert ranges[0] == pytest.approx(ranges[1]) == pytest.approx(ranges[2]) == pytest.approx(2 * panel.radius)


def test_frame_panel_without_prediction_hides_it(sequence):
    panel = vis.PoseFramePanel(dpi=40)
    assert panel.update(sequence.keypoints_2d[0], sequence.poses_3d[0], None) is None
    assert not any(line.get_visible() for line in panel.artist_pred.lines)
    assert "no prediction" in panel.message_pred.get_text()
    assert all(bar.get_width() == 0 for bar in panel.error_bars)
    panel.set_view(elev=40, azim=10)
    assert (panel.ax_pred.elev, panel.ax_pred.azim) == (40, 10)


# -------------------------------------------------------------------------------------------------------- animations
def test_gif_has_one_frame_per_animated_frame(sequence, tmp_path):
    pred = sequence.poses_3d + 0.02
    anim = vis.animate_sequence(sequence.keypoints_2d, sequence.poses_3d, pred, frames=range(0, 24, 4), fps=5,
                                figsize=(8, 2.5), dpi=40)
    path = vis.save_animation(anim, tmp_path / "walk.gif")
    with Image.open(path) as gif:
        assert gif.n_frames == 6
        assert gif.size == (320, 100)
        assert gif.info["duration"] == 200
    assert sorted(p.name for p in tmp_path.iterdir()) == ["walk.gif"]   # no temporary file left behind


def test_animation_input_errors(sequence, tmp_path):
    with pytest.raises(ValueError, match="outside the sequence"):
        vis.animate_sequence(sequence.keypoints_2d, frames=[0, 99])
    with pytest.raises(ValueError, match="frames but keypoints_2d"):
        vis.animate_sequence(sequence.keypoints_2d, sequence.poses_3d[:5])
    anim = vis.animate_sequence(sequence.keypoints_2d[:2], dpi=30)
    with pytest.raises(ValueError, match=".gif"):
        vis.save_animation(anim, tmp_path / "walk.avi")


def test_mp4_needs_ffmpeg(sequence, tmp_path, monkeypatch):
    anim = vis.animate_sequence(sequence.keypoints_2d[:3], dpi=30)
    if animation.writers.is_available("ffmpeg"):
        path = vis.save_animation(anim, tmp_path / "walk.mp4")
        assert path.stat().st_size > 0
    monkeypatch.setattr(animation.writers, "is_available", lambda name: False)
    with pytest.raises(ValueError, match="ffmpeg is not installed"):
        vis.save_animation(anim, tmp_path / "other.mp4")


def test_save_figure_writes_a_readable_png(sequence, tmp_path):
    ax = vis.plot_pose_3d(sequence.poses_3d[0])
    path = vis.save_figure(ax.figure, tmp_path / "figures" / "pose.png", dpi=50)
    with Image.open(path) as image:
        assert image.format == "PNG"
    with pytest.raises(ValueError, match="suffix"):
        vis.save_figure(ax.figure, tmp_path / "pose")


# -------------------------------------------------------------------------------------------------- one figure style
@pytest.mark.parametrize("skeleton", [H36M_17, HUMANEVA_15])
def test_group_colours_keep_the_side_meaning(skeleton):
    """A group is drawn in a shade of its side's colour: blue stays left and red right in every figure."""
    from matplotlib.colors import to_rgb

    by_group, by_side = vis.joint_colours(skeleton, by="group"), vis.joint_colours(skeleton, by="side")
    for j in range(skeleton.num_joints):
        side = skeleton.side_of(j)
        red, _green, blue = to_rgb(by_group[j])
        if side == "left":
            assert blue > red
        elif side == "right":
            assert red > blue
        else:
            assert by_group[j] == by_side[j]


def test_figures_are_drawn_in_the_project_style(sequence):
    with matplotlib.rc_context({"font.size": 20.0, "axes.spines.top": True}):
        ax = vis.plot_pose_2d(sequence.keypoints_2d[0])
        assert ax.title.get_fontsize() == STYLE["axes.titlesize"]
        assert not ax.spines["top"].get_visible()
        assert matplotlib.rcParams["font.size"] == 20.0                  # the caller's settings are left alone


def test_group_colouring_names_the_groups_and_zoom_frames_the_person(sequence):
    keypoints = sequence.keypoints_2d[0]
    ax = vis.plot_pose_2d(keypoints, units="pixels", image_size=(1000, 1000), colour_by="group", zoom=True)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [g.name.replace("_", " ") for g in H36M_17.groups]
    pixels = geometry.image_coordinates(keypoints.astype(np.float64), 1000, 1000)
    (x0, x1), (y1, y0) = ax.get_xlim(), ax.get_ylim()
    assert x0 < pixels[:, 0].min() and pixels[:, 0].max() < x1 and y0 < pixels[:, 1].min() and pixels[:, 1].max() < y1
    assert x1 - x0 < 1000                                                # closer than the whole image
    assert vis.plot_pose_2d(keypoints).get_legend() is None              # side colours: no legend by default


def test_joint_dots_do_not_hide_the_bone_colours(sequence):
    ax = vis.plot_pose_2d(sequence.keypoints_2d[0])
    joints = next(line for line in ax.get_lines() if line.get_gid() == "joints")
    assert joints.get_markerfacecolor() == "white"


def test_frame_panel_error_axis_is_never_clipped(sequence):
    panel = vis.PoseFramePanel(dpi=30, max_error_mm=150.0)
    gt = sequence.poses_3d[0]
    errors = panel.update(sequence.keypoints_2d[0], gt, gt + 0.3)       # about 300-500 mm per joint
    assert panel.ax_err.get_xlim()[1] >= errors.max() > 150.0
    panel.set_error_limit(0.0)
    assert panel.ax_err.get_xlim()[1] == 150.0                          # never below the colour scale


def test_parameter_breakdown_names_every_part():
    import pandas as pd

    from ehfusion.model_figures import plot_parameter_breakdown

    table = pd.DataFrame({"name": ["a", "b"], "architecture": ["ehfusion", "ehfusion"],
                          "params.local_encoders": [3e6, 4e6], "params.camera_embedding": [2304, 2304],
                          "params.network": [0, 0], "params.total": [3.0023e6, 4.0023e6]})
    ax = plot_parameter_breakdown(table)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == "local encoders" and labels[1].startswith("camera embedding (2.3 k")
    assert len(labels) == 2 and ax.get_ylabel() == ""                    # no empty part, no pandas "name" label
