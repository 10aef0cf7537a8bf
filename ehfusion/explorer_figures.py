"""Figures of an explorer state without widgets: its title, the whole-sequence summary and the animation.

They read an :class:`~ehfusion.explorer.ExplorerState` and change nothing in it. The widget view
(:mod:`ehfusion.widgets`) uses them for the picture's title, for what a frontend without widgets keeps (papermill,
a static HTML export) and for the exported GIF.
"""
from __future__ import annotations

from matplotlib.animation import FuncAnimation
from matplotlib.figure import Figure

from .explorer import NO_CHECKPOINT, ExplorerState
from .visualisation import DEFAULT_AZIMUTH, DEFAULT_ELEVATION, PoseFramePanel, animate_sequence, frame_title

__all__ = ["selection_title", "summary_figure", "selection_animation"]


def selection_title(state: ExplorerState, frame: int | None = None, errors=None) -> str:
    """What is shown: sequence, model (and branch when it has several), noise; with ``frame``, also the frame and its
    P1 (from ``errors``, mm per joint), for pictures seen without the widget's frame label."""
    prefix = f"{state.subject} {state.action}, camera {state.camera}"
    if state.split == "train":
        prefix += " (training data)"
    if state.checkpoint != NO_CHECKPOINT:
        prefix += f" | {state.checkpoint}" + (f" [{state.branch} branch]" if len(state.branches) > 1 else "")
    if state.noise_px:
        prefix += f" | +{state.noise_px:g} px noise"
    return prefix if frame is None else frame_title(frame, state.num_frames, errors, prefix=prefix)


def summary_figure(state: ExplorerState, *, elev: float = DEFAULT_ELEVATION, azim: float = DEFAULT_AZIMUTH,
                   max_error_mm: float = 150.0, dpi: int = 80) -> Figure:
    """The selected frame and, when there is a prediction, the P1 of every frame of the sequence (frame marked)."""
    errors = state.errors
    fig = Figure(figsize=(13.0, 6.4 if errors is not None else 3.6), dpi=dpi)
    grid = fig.add_gridspec(2 if errors is not None else 1, 1, height_ratios=[3.6, 2.2] if errors is not None
                            else [1.0], left=0.06, right=0.97, bottom=0.08, top=0.9, hspace=0.3)
    panel = PoseFramePanel(state.skeleton, image_size=state.image_size, max_error_mm=max_error_mm, elev=elev,
                           azim=azim, subplot_spec=grid[0])
    panel.zoom_2d(state.sequence.keypoints_2d)
    frame = state.frame
    frame_errors = panel.update(state.keypoints_2d[frame],
                                None if state.ground_truth is None else state.ground_truth[frame],
                                None if state.prediction is None else state.prediction[frame])
    panel.title.set_text(selection_title(state, frame, frame_errors))
    if errors is not None:
        curve = fig.add_subplot(grid[1])
        curve.plot(errors.mean(axis=1), color="#1f77b4", lw=1.5, label="P1 per frame")
        curve.axvline(frame, color="#d62728", lw=1, ls="--", label=f"frame {frame}")
        curve.set_xlabel("frame")
        curve.set_ylabel("P1 (mm)")
        curve.set_xlim(0, max(len(errors) - 1, 1))
        curve.set_title(f"whole sequence: mean P1 {errors.mean():.1f} mm", fontsize=10)
        curve.legend(loc="upper right", fontsize=8)
    return fig


def selection_animation(state: ExplorerState, frames=None, fps: float = 10.0, *, elev: float = DEFAULT_ELEVATION,
                        azim: float = DEFAULT_AZIMUTH, max_error_mm: float = 150.0, dpi: int = 80) -> FuncAnimation:
    """An animation of the selected sequence (noise and branch included); save it with
    :func:`ehfusion.visualisation.save_animation`."""
    return animate_sequence(state.keypoints_2d, state.ground_truth, state.prediction, state.skeleton,
                            frames=frames, fps=fps, image_size=state.image_size,
                            title=f"{state.subject} {state.action} cam {state.camera}", elev=elev, azim=azim,
                            max_error_mm=max_error_mm, dpi=dpi)
