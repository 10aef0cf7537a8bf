"""Matplotlib figures and animations of 2D keypoints and 3D poses.

Conventions (see ``docs/design.md``):

- 2D keypoints are normalised screen coordinates (``X / w * 2 - [1, h / w]``) unless ``units="pixels"``; they are drawn
  like an image: origin at the top left, **y pointing down**, equal aspect, the whole image as the axis extent.
- 3D poses are Human3.6M **camera coordinates** in metres (x right, y down, z forward). They are drawn upright: the plot's
  horizontal axes are camera x and depth z, its vertical axis is ``-y``. All three axes always span the same range.
- Colours come from the skeleton's tables (left / right / centre side, or joint group), never from joint indices.
- Every plotting function takes an optional ``ax`` (or ``fig``), creates one when it is missing, returns what it drew on,
  and never calls ``plt.show()``. Figures are drawn in the project's one style (:mod:`ehfusion.style`).

The reusable :class:`PoseFramePanel` (2D input | 3D ground truth | 3D prediction coloured by error | per-joint error
bars) updates its artists in place, so redrawing a frame is cheap; the pose explorer and :func:`animate_sequence` use it.
"""
from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence as SequenceType

import numpy as np

import matplotlib
from matplotlib import animation
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, NullFormatter

from . import geometry
from .metrics import joint_errors_mm  # re-exported: the figures colour joints by it (vis.joint_errors_mm)
from .skeleton import H36M_17, Skeleton, get_skeleton
from .style import SIDE_COLOURS, figure_style, group_colours, styled, use_style

__all__ = [
    "SIDE_COLOURS",
    "BoneStyle",
    "GROUND_TRUTH_STYLE",
    "PREDICTION_STYLE",
    "bone_colours",
    "joint_colours",
    "camera_to_plot",
    "set_axes_equal_3d",
    "plot_pose_2d",
    "plot_pose_3d",
    "plot_prediction_3d",
    "plot_joint_errors",
    "plot_camera_views",
    "joint_errors_mm",
    "Skeleton2DArtist",
    "Skeleton3DArtist",
    "PoseFramePanel",
    "animate_sequence",
    "save_animation",
    "save_figure",
    "figure_to_png",
    "frame_title",
    "error_colourbar",
    "zoom_on_person",
    "use_style",
    "figure_style",
    "DEFAULT_ELEVATION",
    "DEFAULT_AZIMUTH",
]

#: A camera-coordinate pose seen slightly from above and from the camera's left: upright, depth visible.
DEFAULT_ELEVATION = 15.0
DEFAULT_AZIMUTH = -70.0
#: Colour map for per-joint errors (mm): dark = small, bright = large.
ERROR_CMAP = "viridis"


@dataclass(frozen=True)
class BoneStyle:
    """How a skeleton's bones and joints are drawn (colours come from :func:`bone_colours`)."""

    linewidth: float = 2.5
    linestyle: str = "-"
    alpha: float = 1.0
    marker_size: float = 2.5
    colour: str | None = None  # one colour for every bone instead of the side / group colours


GROUND_TRUTH_STYLE = BoneStyle(linewidth=4.0, alpha=0.35)
PREDICTION_STYLE = BoneStyle(linewidth=2.0, linestyle="-")


# ----------------------------------------------------------------------------------------------------------- colours
def joint_colours(skeleton: Skeleton | str = H36M_17, by: str = "side") -> list:
    """One colour per joint: by body side (left / right / centre) or by joint group (``skeleton.groups``).

    Group colours are shades of the side colours (:func:`ehfusion.style.group_colours`): blue stays left and red
    right whichever way a figure is coloured.
    """
    skeleton = get_skeleton(skeleton)
    if by == "side":
        return [SIDE_COLOURS[skeleton.side_of(j)] for j in range(skeleton.num_joints)]
    if by == "group":
        if not skeleton.groups:
            raise ValueError(f"layout {skeleton.name!r} defines no joint groups; colour it with by='side'")
        palette = group_colours(skeleton)
        return [palette[skeleton.group_of(j)] for j in range(skeleton.num_joints)]
    raise ValueError(f"unknown colouring {by!r}; use by='side' or by='group'")


def bone_colours(skeleton: Skeleton | str = H36M_17, by: str = "side") -> list:
    """One colour per bone of ``skeleton.bones()``: the colour of the bone's child joint."""
    skeleton = get_skeleton(skeleton)
    per_joint = joint_colours(skeleton, by)
    return [per_joint[child] for child, _parent in skeleton.bones()]


# ------------------------------------------------------------------------------------------------------ coordinates
def _check_pose(pose, skeleton: Skeleton, dims: int, what: str) -> np.ndarray:
    pose = np.asarray(pose, dtype=np.float64)
    if pose.shape != (skeleton.num_joints, dims):
        raise ValueError(
            f"{what} must have shape ({skeleton.num_joints}, {dims}) for layout {skeleton.name!r}, got {pose.shape}; "
            f"pass one frame (index the sequence first, e.g. poses[frame])"
        )
    return pose


def _in_pixels(keypoints, image_size) -> np.ndarray:
    """Normalised keypoints in pixels of an image of ``image_size`` (1000 x 1000 when ``None``), float64."""
    width, height = image_size if image_size is not None else (1000.0, 1000.0)
    return geometry.image_coordinates(np.asarray(keypoints, dtype=np.float64), width, height)


def camera_to_plot(pose) -> np.ndarray:
    """Camera coordinates (x right, y down, z forward) -> plot coordinates (x, depth z, up = -y)."""
    pose = np.asarray(pose, dtype=np.float64)
    return np.stack([pose[..., 0], pose[..., 2], -pose[..., 1]], axis=-1)


def _to_plot_coordinates(pose: np.ndarray, coordinates: str) -> np.ndarray:
    if coordinates == "camera":
        return camera_to_plot(pose)
    if coordinates == "world":  # Human3.6M world: z is already up
        return np.asarray(pose, dtype=np.float64)
    raise ValueError(f"unknown coordinates {coordinates!r}; use 'camera' (x right, y down, z forward) or 'world' (z up)")


def set_axes_equal_3d(ax, centre=(0.0, 0.0, 0.0), radius: float = 1.0, zoom: float = 1.0) -> None:
    """Make a 3D axis a cube: every axis spans ``centre ± radius`` and the box aspect is 1:1:1 (``zoom`` enlarges
    the box inside its axes)."""
    if radius <= 0:
        raise ValueError(f"radius must be positive, got {radius}")
    cx, cy, cz = (float(c) for c in centre)
    ax.set_xlim3d(cx - radius, cx + radius)
    ax.set_ylim3d(cy - radius, cy + radius)
    ax.set_zlim3d(cz - radius, cz + radius)
    ax.set_box_aspect((1, 1, 1), zoom=zoom)


def _auto_radius(points: np.ndarray, margin: float = 1.1, minimum: float = 0.5) -> float:
    extent = np.nanmax(points, axis=0) - np.nanmin(points, axis=0)
    return float(max(minimum, margin * np.nanmax(extent) / 2.0))


# ------------------------------------------------------------------------------------------------------------ artists
class Skeleton2DArtist:
    """The bones (one ``Line2D`` each) and joints of one 2D skeleton on an axis; :meth:`update` moves them."""

    def __init__(self, ax, skeleton: Skeleton | str = H36M_17, *, colour_by: str = "side",
                 style: BoneStyle = PREDICTION_STYLE, label: str | None = None):
        self.ax = ax
        self.skeleton = get_skeleton(skeleton)
        self.bones = self.skeleton.bones()
        colours = [style.colour] * len(self.bones) if style.colour else bone_colours(self.skeleton, colour_by)
        self.lines: list[Line2D] = []
        for (child, parent), colour in zip(self.bones, colours):
            (line,) = ax.plot([], [], color=colour, linewidth=style.linewidth, linestyle=style.linestyle,
                              alpha=style.alpha, solid_capstyle="round")
            line.set_gid(f"bone:{child}-{parent}")
            self.lines.append(line)
        rim = style.colour or "#333333"   # small white dots with a thin rim: the bones' colours stay visible
        (self.joints,) = ax.plot([], [], "o", markerfacecolor="white", markeredgecolor=rim, markeredgewidth=0.6,
                                 color=style.colour or "#333333", markersize=style.marker_size, alpha=style.alpha,
                                 linestyle="none", zorder=3)
        self.joints.set_gid("joints")
        if label:  # the legend shows a bone in this style (thick and faint for a ground truth, thin for a prediction)
            ax.plot([], [], color=style.colour or SIDE_COLOURS["centre"], linewidth=style.linewidth,
                    linestyle=style.linestyle, alpha=style.alpha, label=label)

    def update(self, keypoints) -> None:
        keypoints = _check_pose(keypoints, self.skeleton, 2, "keypoints")
        for line, (child, parent) in zip(self.lines, self.bones):
            line.set_data(keypoints[[child, parent], 0], keypoints[[child, parent], 1])
        self.joints.set_data(keypoints[:, 0], keypoints[:, 1])


class Skeleton3DArtist:
    """The bones (one ``Line3D`` each) and joints of one 3D skeleton on a 3D axis; :meth:`update` moves them."""

    def __init__(self, ax, skeleton: Skeleton | str = H36M_17, *, colour_by: str = "side",
                 style: BoneStyle = PREDICTION_STYLE, coordinates: str = "camera", label: str | None = None):
        self.ax = ax
        self.skeleton = get_skeleton(skeleton)
        self.bones = self.skeleton.bones()
        self.coordinates = coordinates
        _to_plot_coordinates(np.zeros((1, 3)), coordinates)  # validate early
        colours = [style.colour] * len(self.bones) if style.colour else bone_colours(self.skeleton, colour_by)
        self.lines = []
        for (child, parent), colour in zip(self.bones, colours):
            (line,) = ax.plot([0, 0], [0, 0], [0, 0], color=colour, linewidth=style.linewidth,
                              linestyle=style.linestyle, alpha=style.alpha, solid_capstyle="round")
            line.set_gid(f"bone:{child}-{parent}")
            self.lines.append(line)
        self.label = label
        self.plot_points: np.ndarray | None = None

    def update(self, pose) -> np.ndarray:
        """Move the skeleton to ``pose`` (J, 3); returns the pose in plot coordinates."""
        pose = _check_pose(pose, self.skeleton, 3, "pose")
        points = _to_plot_coordinates(pose, self.coordinates)
        for line, (child, parent) in zip(self.lines, self.bones):
            segment = points[[child, parent]]
            line.set_data_3d(segment[:, 0], segment[:, 1], segment[:, 2])
        self.plot_points = points
        return points

    def set_visible(self, visible: bool) -> None:
        for line in self.lines:
            line.set_visible(visible)


# ------------------------------------------------------------------------------------------------------ axes set-up
def _new_axes(ax, projection: str | None = None, figsize=(5, 5)):
    if ax is not None:
        if projection == "3d" and getattr(ax, "name", "") != "3d":
            raise ValueError("this plot needs a 3D axis: create it with fig.add_subplot(projection='3d')")
        return ax
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=figsize)
    return fig.add_subplot(projection=projection)


def _setup_image_axes(ax, image_size, units: str) -> None:
    """Axis extent of the camera image, y pointing down, equal aspect."""
    width, height = image_size if image_size is not None else (1000.0, 1000.0)
    if units == "pixels":
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)
        ax.set_xlabel("u (pixels)")
        ax.set_ylabel("v (pixels)")
    elif units == "normalised":
        ax.set_xlim(-1.0, 1.0)
        ax.set_ylim(height / width, -height / width)
        ax.set_xlabel("x (normalised)")
        ax.set_ylabel("y (normalised)")
    else:
        raise ValueError(f"unknown units {units!r}; use 'normalised' (screen coordinates in [-1, 1]) or 'pixels'")
    ax.set_aspect("equal", adjustable="box")


def _setup_3d_axes(ax, elev: float, azim: float, coordinates: str, compact: bool = False) -> None:
    """View angles and axis labels; ``compact`` hides the tick labels (small panels, animations).

    Three ticks per axis at most, small tick labels close to the axis and the axis names pushed clear of them, so
    neither overlaps the other even in a panel a few centimetres wide.
    """
    ax.view_init(elev=elev, azim=azim)
    names = ("x", "depth z", "up -y") if coordinates == "camera" else ("x", "y", "z")
    size, pad = (7, -12) if compact else (7, -4)
    ax.set_xlabel(f"{names[0]} (m)", labelpad=pad, fontsize=size)
    ax.set_ylabel(f"{names[1]} (m)", labelpad=pad, fontsize=size)
    ax.set_zlabel(f"{names[2]} (m)", labelpad=pad, fontsize=size)
    if compact:
        for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
            axis.set_major_formatter(NullFormatter())
    else:
        for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
            axis.set_major_locator(MaxNLocator(3))
        ax.tick_params(labelsize=6, pad=-3)


# ------------------------------------------------------------------------------------------------------ static plots
def zoom_on_person(ax, points, margin: float = 0.25, image_size: tuple[float, float] | None = None) -> None:
    """Frame a 2D axis (y down) on a person: a square around ``points`` (J, 2) in the axis' units, ``margin`` of the
    person's size on every side. With ``image_size`` (pixels) the image border is drawn as a thin grey frame, so the
    zoomed view still shows where the picture ends."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    points = points[np.isfinite(points).all(axis=1)]
    for patch in [p for p in ax.patches if p.get_gid() == "image-border"]:
        patch.remove()
    if not len(points):
        return
    low, high = points.min(axis=0), points.max(axis=0)
    centre, half = (low + high) / 2.0, max(float((high - low).max()) / 2.0, 1e-6) * (1.0 + 2.0 * margin)
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] + half, centre[1] - half)
    if image_size is not None:
        from matplotlib.patches import Rectangle

        border = Rectangle((0, 0), image_size[0], image_size[1], fill=False, edgecolor="0.6", linewidth=0.8,
                           linestyle="--", zorder=0)
        border.set_gid("image-border")
        ax.add_patch(border)


def _group_legend(ax, skeleton: Skeleton, colour_by: str) -> None:
    if colour_by == "group":
        colours = group_colours(skeleton)
        names = [g.name.replace("_", " ") for g in skeleton.groups]
    else:
        colours = [SIDE_COLOURS[side] for side in ("left", "right", "centre")]
        names = ["left", "right", "centre"]
    handles = [Line2D([], [], color=c, lw=2.5, label=n) for c, n in zip(colours, names)]
    ax.legend(handles=handles, loc="best", fontsize=7, handlelength=1.5, framealpha=0.8)


@styled
def plot_pose_2d(keypoints, skeleton: Skeleton | str = H36M_17, ax=None, *, units: str = "normalised",
                 image_size: tuple[float, float] | None = None, colour_by: str = "side",
                 style: BoneStyle = PREDICTION_STYLE, title: str | None = None, label: str | None = None,
                 legend: bool | None = None, zoom: bool = False):
    """Draw one frame of 2D keypoints ``(J, 2)`` on the camera image plane (y down) and return the axis.

    ``units="normalised"`` expects normalised screen coordinates (the axis spans ``[-1, 1] x [-h/w, h/w]``);
    ``units="pixels"`` converts them to pixels with ``image_size = (width, height)`` (default 1000 x 1000).
    ``legend`` names the colours (default: only when colouring by group); ``zoom`` frames the axis on the person
    (:func:`zoom_on_person`) instead of the whole image.
    """
    skeleton = get_skeleton(skeleton)
    keypoints = _check_pose(keypoints, skeleton, 2, "keypoints")
    ax = _new_axes(ax)
    _setup_image_axes(ax, image_size, units)
    if units == "pixels":
        keypoints = _in_pixels(keypoints, image_size)
    Skeleton2DArtist(ax, skeleton, colour_by=colour_by, style=style, label=label).update(keypoints)
    if zoom:
        zoom_on_person(ax, keypoints, image_size=image_size if units == "pixels" else None)
    if legend if legend is not None else colour_by == "group":
        _group_legend(ax, skeleton, colour_by)
    if title:
        ax.set_title(title)
    return ax


@styled
def plot_pose_3d(pose, skeleton: Skeleton | str = H36M_17, ax=None, *, coordinates: str = "camera",
                 colour_by: str = "side", style: BoneStyle = PREDICTION_STYLE, elev: float = DEFAULT_ELEVATION,
                 azim: float = DEFAULT_AZIMUTH, radius: float | None = None, centre=None, title: str | None = None):
    """Draw one 3D pose ``(J, 3)`` upright with equal axes and return the 3D axis.

    ``radius`` (metres) fixes the half-width of the cube (default: fitted to the pose); ``centre`` defaults to the root.
    """
    skeleton = get_skeleton(skeleton)
    ax = _new_axes(ax, "3d")
    points = Skeleton3DArtist(ax, skeleton, colour_by=colour_by, style=style, coordinates=coordinates).update(pose)
    _setup_3d_axes(ax, elev, azim, coordinates)
    centre = points[skeleton.root] if centre is None else _to_plot_coordinates(np.asarray(centre), coordinates)
    set_axes_equal_3d(ax, centre, radius or _auto_radius(points), zoom=1.2)
    if title:
        ax.set_title(title)
    return ax


def _error_colourbar(fig, ax, norm: Normalize, cmap: str, label: str = "joint error (mm)", **options):
    mappable = ScalarMappable(norm=norm, cmap=cmap)
    mappable.set_array([])
    settings = dict(label=label, extend="max") if "cax" in options else dict(shrink=0.7, pad=0.08, label=label,
                                                                             extend="max")
    settings.update(options)
    return fig.colorbar(mappable, ax=None if "cax" in options else ax, **settings)


def error_colourbar(fig, axes, max_error_mm: float, cmap: str = ERROR_CMAP, **options):
    """One colour bar of joint errors (0 .. ``max_error_mm``, larger errors in the top colour) for one or several
    axes drawn with :func:`plot_prediction_3d` (``colorbar=False``) and the same ``max_error_mm``; ``cax=`` puts it
    into an axis of its own (e.g. ``fig.add_axes([0.92, 0.2, 0.012, 0.6])``) instead of taking room from ``axes``."""
    return _error_colourbar(fig, axes, Normalize(0.0, max_error_mm), cmap, **options)


@styled
def plot_prediction_3d(ground_truth, prediction, skeleton: Skeleton | str = H36M_17, ax=None, *,
                       coordinates: str = "camera", colour_errors: bool = True, max_error_mm: float | None = None,
                       cmap: str = ERROR_CMAP, colorbar: bool = True, elev: float = DEFAULT_ELEVATION,
                       azim: float = DEFAULT_AZIMUTH, radius: float | None = None, title: str | None = None):
    """Overlay a prediction on the ground truth (both ``(J, 3)``, metres) and return the 3D axis.

    The ground truth is drawn thick and translucent, the prediction thin; with ``colour_errors`` the predicted joints are
    coloured by their error in mm (``cmap``, ``0 .. max_error_mm``) and a colour bar is added.
    """
    skeleton = get_skeleton(skeleton)
    ax = _new_axes(ax, "3d", figsize=(6, 5))
    gt_points = Skeleton3DArtist(ax, skeleton, style=GROUND_TRUTH_STYLE, coordinates=coordinates).update(ground_truth)
    pred_points = Skeleton3DArtist(ax, skeleton, style=PREDICTION_STYLE, coordinates=coordinates).update(prediction)
    errors = joint_errors_mm(prediction, ground_truth)
    if colour_errors:
        norm = Normalize(0.0, max_error_mm or max(float(errors.max()), 1.0))
        ax.scatter(pred_points[:, 0], pred_points[:, 1], pred_points[:, 2], c=errors, cmap=cmap, norm=norm,
                   s=28, depthshade=False, edgecolors="black", linewidths=0.4)
        if colorbar:
            _error_colourbar(ax.figure, ax, norm, cmap)
    _setup_3d_axes(ax, elev, azim, coordinates)
    both = np.concatenate([gt_points, pred_points])
    set_axes_equal_3d(ax, gt_points[skeleton.root], radius or _auto_radius(both), zoom=1.2)
    ax.legend(handles=[Line2D([], [], color="#4d4d4d", lw=4, alpha=0.35, label="ground truth"),
                       Line2D([], [], color="#4d4d4d", lw=2, label="prediction")],
              loc="upper left", fontsize=7, frameon=False)
    ax.set_title(title or f"MPJPE {errors.mean():.1f} mm")
    return ax


@styled
def plot_joint_errors(errors_mm, skeleton: Skeleton | str = H36M_17, ax=None, *, max_error_mm: float | None = None,
                      cmap: str = ERROR_CMAP, title: str | None = None):
    """Horizontal bar chart of per-joint errors (mm), one bar per joint, coloured like the 3D error plot."""
    skeleton = get_skeleton(skeleton)
    errors = np.asarray(errors_mm, dtype=np.float64)
    if errors.shape != (skeleton.num_joints,):
        raise ValueError(f"expected {skeleton.num_joints} per-joint errors, got shape {errors.shape}")
    ax = _new_axes(ax, figsize=(4, 5))
    norm = Normalize(0.0, max_error_mm or max(float(errors.max()), 1.0))
    colours = matplotlib.colormaps[cmap](norm(errors))
    positions = np.arange(skeleton.num_joints)
    ax.barh(positions, errors, color=colours)
    ax.set_xlim(0, _nice_limit(max(float(errors.max()), max_error_mm or 0.0)))   # never cut a bar off
    ax.set_yticks(positions, skeleton.joint_names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("error (mm)")
    ax.set_title(title or f"mean {errors.mean():.1f} mm")
    return ax


@styled
def plot_camera_views(views, skeleton: Skeleton | str = H36M_17, *, frame: int | None = None,
                      image_sizes: SequenceType[tuple[float, float]] | None = None, units: str = "pixels",
                      titles: SequenceType[str] | None = None, fig=None, colour_by: str = "side",
                      zoom: bool = True):
    """One frame seen by every camera: a row of 2D plots; returns the figure.

    ``views`` is a list of ``(J, 2)`` normalised keypoints, or of ``(N, J, 2)`` arrays / objects with a
    ``keypoints_2d`` attribute (e.g. :class:`ehfusion.data.Sequence`) together with ``frame``. ``zoom`` (default)
    frames each panel on the person, with the image border dashed; ``zoom=False`` shows the whole images.
    """
    skeleton = get_skeleton(skeleton)
    keypoints = []
    for view in views:
        array = np.asarray(getattr(view, "keypoints_2d", view))
        if array.ndim == 3:
            if frame is None:
                raise ValueError("views hold whole sequences: pass frame=<index> to choose the frame to draw")
            array = array[frame]
        keypoints.append(array)
    if not keypoints:
        raise ValueError("no views to draw: pass at least one camera's keypoints")
    if image_sizes is not None and len(image_sizes) != len(keypoints):
        raise ValueError(f"{len(image_sizes)} image sizes for {len(keypoints)} views")
    if fig is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(3.2 * len(keypoints), 3.4))
    axes = fig.subplots(1, len(keypoints), squeeze=False)[0]
    for i, (ax, kp) in enumerate(zip(axes, keypoints)):
        size = image_sizes[i] if image_sizes is not None else None
        title = titles[i] if titles is not None else f"camera {i}"
        plot_pose_2d(kp, skeleton, ax, units=units, image_size=size, colour_by=colour_by, title=title, zoom=zoom,
                     legend=i == 0)
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    return fig


def _nice_limit(value: float, step: float = 50.0) -> float:
    """``value`` rounded up to a multiple of ``step`` (axis limits that never cut a bar off)."""
    return float(step * np.ceil(max(value, step) / step))


# ------------------------------------------------------------------------------------------------------ frame panel
class PoseFramePanel:
    """A figure that shows one frame and can be updated in place (used by the explorer and the animations).

    Panels: the 2D input on the image plane | the 3D ground truth | the prediction over the ground truth, joints
    coloured by their error | per-joint error bars. The prediction and error panels say so when there is nothing to
    show (no checkpoint, or no 3D ground truth). The figure is a bare :class:`matplotlib.figure.Figure`, outside
    pyplot, so notebooks never display it by accident.
    """

    @styled
    def __init__(self, skeleton: Skeleton | str = H36M_17, *, image_size: tuple[float, float] | None = None,
                 units: str = "pixels", max_error_mm: float = 150.0, radius: float = 0.95,
                 elev: float = DEFAULT_ELEVATION, azim: float = DEFAULT_AZIMUTH, colour_by: str = "side",
                 figsize=(13.0, 3.6), dpi: int = 80, cmap: str = ERROR_CMAP, subplot_spec=None):
        """``subplot_spec`` places the panel inside an existing figure (one cell of its grid) instead of a new one."""
        self.skeleton = get_skeleton(skeleton)
        self.units = units
        self.image_size = image_size
        self.radius = radius
        self.dpi = dpi
        self.cmap = cmap
        self.norm = Normalize(0.0, max_error_mm)
        widths = [1.0, 1.1, 1.3, 0.9]
        if subplot_spec is None:
            self.figure = Figure(figsize=figsize, dpi=dpi)
            grid = self.figure.add_gridspec(1, 4, width_ratios=widths, left=0.04, right=0.97, bottom=0.12, top=0.84,
                                            wspace=0.25)
        else:
            self.figure = subplot_spec.get_gridspec().figure
            grid = subplot_spec.subgridspec(1, 4, width_ratios=widths, wspace=0.25)
        self.ax_2d = self.figure.add_subplot(grid[0])
        self.ax_gt = self.figure.add_subplot(grid[1], projection="3d")
        self.ax_pred = self.figure.add_subplot(grid[2], projection="3d")
        self.ax_err = self.figure.add_subplot(grid[3])

        _setup_image_axes(self.ax_2d, image_size, units)
        self.ax_2d.set_title("2D input", fontsize=9)
        self.ax_2d.tick_params(labelsize=6)
        self.artist_2d = Skeleton2DArtist(self.ax_2d, self.skeleton, colour_by=colour_by)

        self.artist_gt = Skeleton3DArtist(self.ax_gt, self.skeleton, colour_by=colour_by)
        self.ax_gt.set_title("3D ground truth", fontsize=9)
        self.artist_pred_gt = Skeleton3DArtist(self.ax_pred, self.skeleton, style=GROUND_TRUTH_STYLE)
        self.artist_pred = Skeleton3DArtist(self.ax_pred, self.skeleton, colour_by=colour_by)
        self.error_points = None
        self.colorbar = _error_colourbar(self.figure, self.ax_pred, self.norm, cmap)
        self.colorbar.ax.tick_params(labelsize=6)
        self.colorbar.set_label("joint error (mm)", fontsize=8)
        for ax in (self.ax_gt, self.ax_pred):
            _setup_3d_axes(ax, elev, azim, "camera", compact=True)
            set_axes_equal_3d(ax, (0, 0, 0), radius)
        self.message_pred = self.ax_pred.text2D(0.5, 0.5, "", transform=self.ax_pred.transAxes, ha="center",
                                                va="center", fontsize=9, color="#555555")
        self.message_gt = self.ax_gt.text2D(0.5, 0.5, "", transform=self.ax_gt.transAxes, ha="center",
                                            va="center", fontsize=9, color="#555555")

        positions = np.arange(self.skeleton.num_joints)
        self.error_bars = self.ax_err.barh(positions, np.zeros(len(positions)), color="#cccccc")
        self.ax_err.set_yticks(positions, self.skeleton.joint_names, fontsize=6)
        self.ax_err.invert_yaxis()
        self.ax_err.set_xlim(0, max_error_mm)
        self.ax_err.set_xlabel("error (mm)", fontsize=7)
        self.ax_err.tick_params(axis="x", labelsize=6)
        self.ax_err.set_title("per-joint error", fontsize=9)
        self.ax_err.grid(axis="x", alpha=0.3)
        self.title = self.figure.suptitle("", fontsize=10)

    def set_error_limit(self, max_error_mm: float) -> None:
        """Let the per-joint error axis reach ``max_error_mm`` (rounded up to 50 mm; never below the colour scale's
        top), e.g. the largest error of a whole sequence, so that no bar is cut off while scrubbing."""
        self.ax_err.set_xlim(0, _nice_limit(max(float(max_error_mm), float(self.norm.vmax))))

    def set_view(self, elev: float, azim: float) -> None:
        """Rotate both 3D panels."""
        for ax in (self.ax_gt, self.ax_pred):
            ax.view_init(elev=elev, azim=azim)

    def set_image_size(self, image_size: tuple[float, float] | None) -> None:
        self.image_size = image_size
        _setup_image_axes(self.ax_2d, image_size, self.units)

    def zoom_2d(self, keypoints_2d=None, margin: float = 0.1) -> None:
        """Frame the 2D panel on the person in every frame of ``keypoints_2d`` (``(N, J, 2)`` normalised, e.g. a whole
        sequence, so the view stays put while scrubbing), the image border dashed; ``None`` shows the whole image."""
        _setup_image_axes(self.ax_2d, self.image_size, self.units)
        if keypoints_2d is None:
            zoom_on_person(self.ax_2d, np.empty((0, 2)))
            return
        points = np.asarray(keypoints_2d, dtype=np.float64).reshape(-1, 2)
        if self.units == "pixels":
            points = _in_pixels(points, self.image_size)
        border = self.image_size if self.units == "pixels" else None
        zoom_on_person(self.ax_2d, points, margin=margin, image_size=border)

    def update(self, keypoints_2d, ground_truth=None, prediction=None, title: str = "") -> np.ndarray | None:
        """Show one frame; returns the per-joint errors (mm) when both 3D poses are given, else ``None``."""
        keypoints_2d = _check_pose(keypoints_2d, self.skeleton, 2, "keypoints_2d")
        if self.units == "pixels":
            keypoints_2d = _in_pixels(keypoints_2d, self.image_size)
        self.artist_2d.update(keypoints_2d)

        errors = None
        if ground_truth is not None:
            gt_points = self.artist_gt.update(ground_truth)
            self.artist_pred_gt.update(ground_truth)
            centre = gt_points[self.skeleton.root]
        else:
            centre = np.zeros(3)
        self.artist_gt.set_visible(ground_truth is not None)
        self.artist_pred_gt.set_visible(ground_truth is not None)
        self.message_gt.set_text("" if ground_truth is not None else "no 3D ground truth")

        if self.error_points is not None:
            self.error_points.remove()
            self.error_points = None
        if prediction is not None:
            pred_points = self.artist_pred.update(prediction)
            if ground_truth is None:
                centre = pred_points[self.skeleton.root]
            else:
                errors = joint_errors_mm(prediction, ground_truth)
                self.error_points = self.ax_pred.scatter(
                    pred_points[:, 0], pred_points[:, 1], pred_points[:, 2], c=errors, cmap=self.cmap,
                    norm=self.norm, s=22, depthshade=False, edgecolors="black", linewidths=0.3)
        self.artist_pred.set_visible(prediction is not None)
        self.message_pred.set_text("" if prediction is not None else "no prediction\n(choose a checkpoint)")
        self.ax_pred.set_title("prediction over ground truth" if ground_truth is not None else "prediction",
                               fontsize=9)
        for ax in (self.ax_gt, self.ax_pred):
            set_axes_equal_3d(ax, centre, self.radius, zoom=1.15)

        if errors is not None and float(errors.max()) > self.ax_err.get_xlim()[1]:
            self.set_error_limit(float(errors.max()))
        colours = matplotlib.colormaps[self.cmap](self.norm(errors)) if errors is not None else None
        for j, bar in enumerate(self.error_bars):
            bar.set_width(0.0 if errors is None else float(errors[j]))
            if colours is not None:
                bar.set_color(colours[j])
        self.ax_err.set_title("per-joint error" if errors is not None else "per-joint error (needs a prediction)",
                              fontsize=9)
        self.title.set_text(title)
        return errors

    def to_png(self) -> bytes:
        """The figure rendered as PNG bytes."""
        return figure_to_png(self.figure, dpi=self.dpi)


# ------------------------------------------------------------------------------------------------------- animations
def animate_sequence(keypoints_2d, poses_3d=None, predictions=None, skeleton: Skeleton | str = H36M_17, *,
                     frames: Iterable[int] | None = None, fps: float = 10.0, image_size=None,
                     title: str = "", **panel_options) -> animation.FuncAnimation:
    """An animation of a sequence through :class:`PoseFramePanel` (2D input, 3D ground truth, prediction, errors).

    ``keypoints_2d`` is ``(N, J, 2)`` normalised; ``poses_3d`` / ``predictions`` are ``(N, J, 3)`` metres or ``None``.
    ``frames`` picks the frames (default: all); ``fps`` is the playback rate of the saved file.
    Save it with :func:`save_animation`.
    """
    keypoints_2d = np.asarray(keypoints_2d)
    n = len(keypoints_2d)
    for name, array in (("poses_3d", poses_3d), ("predictions", predictions)):
        if array is not None and len(array) != n:
            raise ValueError(f"{name} has {len(array)} frames but keypoints_2d has {n}")
    frames = list(range(n)) if frames is None else [int(f) for f in frames]
    if not frames:
        raise ValueError("no frames to animate")
    bad = [f for f in frames if not 0 <= f < n]
    if bad:
        raise ValueError(f"frames {bad[:5]} are outside the sequence (0 .. {n - 1})")
    panel = PoseFramePanel(skeleton, image_size=image_size, **panel_options)
    panel.zoom_2d(keypoints_2d[frames])   # the person in every animated frame, the same view throughout

    def draw(i: int):
        frame = frames[i]
        errors = panel.update(keypoints_2d[frame],
                              None if poses_3d is None else poses_3d[frame],
                              None if predictions is None else predictions[frame])
        panel.title.set_text(frame_title(frame, n, errors, prefix=title))
        return []

    anim = animation.FuncAnimation(panel.figure, draw, frames=len(frames), interval=1000.0 / fps, blit=False)
    anim.fps = fps  # remembered for save_animation
    anim.panel = panel
    return anim


def frame_title(frame: int, n: int, errors=None, prefix: str = "") -> str:
    """``'<prefix>  frame 12 / 99  |  P1 45.2 mm'`` (the P1 part only when per-joint errors are given)."""
    text = f"{prefix}  frame {frame} / {n - 1}".strip()
    if errors is not None:
        text += f"  |  P1 {float(np.mean(errors)):.1f} mm"
    return text


def save_animation(anim: animation.Animation, path: str | os.PathLike, fps: float | None = None,
                   dpi: int | None = None) -> Path:
    """Write an animation atomically: ``.gif`` with Pillow (always available), ``.mp4`` with ffmpeg when installed."""
    path = Path(path)
    suffix = path.suffix.lower()
    fps = fps or getattr(anim, "fps", 10.0)
    if suffix == ".gif":
        writer = animation.PillowWriter(fps=fps)
    elif suffix == ".mp4":
        if not animation.writers.is_available("ffmpeg"):
            raise ValueError(f"cannot write {path}: ffmpeg is not installed; install it or save a .gif instead")
        writer = animation.FFMpegWriter(fps=fps)
    else:
        raise ValueError(f"unsupported animation format {suffix!r} for {path}; use .gif (Pillow) or .mp4 (ffmpeg)")
    # The writers need a file name with the right suffix, so this is atomic_write's recipe with a named temporary file.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the permissions a plain open() would
    try:
        anim.save(tmp, writer=writer, dpi=dpi)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


# ---------------------------------------------------------------------------------------------------- saving figures
def figure_to_png(fig, dpi: int | None = None) -> bytes:
    """Render a figure to PNG bytes (works for pyplot figures and bare ``Figure`` objects alike)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi or fig.dpi)
    return buffer.getvalue()


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Save a figure atomically (format from the suffix, e.g. ``.png``, ``.pdf``); the folder is created."""
    from .io import atomic_write

    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if not fmt:
        raise ValueError(f"{path} has no suffix: add .png, .pdf or .svg so the format is known")
    with atomic_write(path) as handle:
        fig.savefig(handle, format=fmt, dpi=dpi, bbox_inches="tight")
    return path
