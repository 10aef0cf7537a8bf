"""The video frame (with the 2D keypoints the lifter saw) beside the lifted 3D skeleton, as an animated GIF."""
from __future__ import annotations

from pathlib import Path

from .. import visualisation as vis

__all__ = ["animate_video_lift", "write_video_gif"]


def animate_video_lift(video_lift, *, fps: float = 10.0, title: str | None = None, progress=None):
    """A Matplotlib animation of the frames kept by :func:`~ehfusion.video.pipeline.detect_video` (``thumbnails``):
    left the frame with the 2D input (filled joints hollow), right the 3D pose (root-relative, camera axes).
    ``progress``: a progress bar advanced once per frame drawn."""
    import matplotlib.pyplot as plt
    from matplotlib import animation

    detections, result = video_lift.detections, video_lift.result
    frames = sorted(detections.thumbnails)
    if not frames:
        raise ValueError("no video frames were kept for the animation: run lift_video(..., thumbnails=50)")
    scale = detections.thumbnail_scale
    skeleton = result.skeleton
    fig = plt.figure(figsize=(7.0, 4.4), dpi=80)
    image_ax = fig.add_subplot(1, 2, 1)
    pose_ax = fig.add_subplot(1, 2, 2, projection="3d")
    first = detections.thumbnails[frames[0]]
    image = image_ax.imshow(first)
    image_ax.set_axis_off()
    artist_2d = vis.Skeleton2DArtist(image_ax, skeleton)
    (filled,) = image_ax.plot([], [], "o", markersize=6, markerfacecolor="none", markeredgecolor="red",
                              label="filled in")
    artist_3d = vis.Skeleton3DArtist(pose_ax, skeleton)
    vis._setup_3d_axes(pose_ax, vis.DEFAULT_ELEVATION, vis.DEFAULT_AZIMUTH, "camera", compact=True)
    points = vis.camera_to_plot(result.poses_3d[frames])
    radius = vis._auto_radius(points.reshape(-1, 3))
    vis.set_axes_equal_3d(pose_ax, radius=radius)
    pose_ax.set_title("3D, root-relative (no trajectory)", fontsize=9)
    heading = fig.suptitle("", fontsize=10)
    name = title if title is not None else f"{detections.info.path.name}  |  {result.checkpoint}"

    def draw(i: int):
        frame = frames[i]
        image.set_data(detections.thumbnails[frame])
        keypoints = result.keypoints_px[frame] * scale
        artist_2d.update(keypoints)
        filled.set_data(keypoints[result.filled_mask[frame], 0], keypoints[result.filled_mask[frame], 1])
        artist_3d.update(result.poses_3d[frame])
        heading.set_text(f"{name}  |  frame {frame} / {result.num_frames - 1}  ({frame / video_lift.fps:.2f} s)")
        if progress is not None and progress.n < len(frames):
            progress.update(1)
        return []

    draw(0)
    fig.tight_layout()
    if progress is not None:
        progress.reset()
    anim = animation.FuncAnimation(fig, draw, frames=len(frames), interval=1000.0 / fps, blit=False)
    anim.fps = fps
    anim.video_figure = fig
    return anim


def write_video_gif(video_lift, path, *, fps: float = 10.0, overwrite: bool = False, progress: bool = False) -> Path:
    """Write :func:`animate_video_lift` to ``path`` (``.gif``) atomically; an existing file is kept unless
    ``overwrite``; ``progress`` shows a progress bar."""
    import matplotlib.pyplot as plt
    from ..progress import progress_bar

    from ..lift import checked_output_path

    path = checked_output_path(path, ".gif", overwrite)
    bar = progress_bar(total=len(video_lift.detections.thumbnails), enabled=progress, desc="draw the GIF", unit="frame")
    anim = animate_video_lift(video_lift, fps=fps, progress=bar)
    try:
        return vis.save_animation(anim, path)
    finally:
        bar.close()
        plt.close(anim.video_figure)
