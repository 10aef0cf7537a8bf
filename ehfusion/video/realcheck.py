"""A check on real footage: Pose2Sim's four calibrated, synchronised views of one person (``data/pose2sim_demo``).

No ground-truth 3D comes with the clip, so a reference is **triangulated**: BlazePose runs on every view, the
landmarks are triangulated with the calibration (confidence-weighted DLT,
:func:`ehfusion.video.triangulation.triangulate`; its reprojection error in pixels says how consistent the views and
the calibration are), and the Human3.6M joints are formed from the triangulated landmarks with the same weights as
in 2D (:func:`ehfusion.video.blazepose.blazepose_to_h36m_matrix`). Then every view is lifted **on its own** and
compared with the reference expressed in that camera, root-relative:

* **P2** (Procrustes-aligned MPJPE, the primary figure): BlazePose's hips and head are not the marker-based joints the
  lifter was trained on, and the subject's size is not a Human3.6M actor's, so rotation and scale are aligned first;
* **P1** (MPJPE after root alignment only): adds the errors of scale, global tilt and joint definitions.

Bone-length stability: for every bone, the standard deviation of its length over time divided by its mean (a rigid
skeleton gives 0); the reference's own value shows how much of it comes from the 2D detections.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import metrics
from ..cameras import Camera
from ..paths import DATA_DIR
from ..skeleton import COCO_17, H36M_17, Skeleton
from .blazepose import COCO_FROM_BLAZEPOSE, blazepose_to_h36m_matrix
from .calibration import projection_matrix, read_qualisys
from .triangulation import fix_left_right, reprojection_errors, triangulate

__all__ = ["DEMO_DIR", "DEMO_VIEWS", "BASELINE_CHECKPOINT", "demo_files", "triangulate_reference",
           "bone_length_variation", "compare_to_reference", "RealFootageCheck", "run_check"]

DEMO_DIR = DATA_DIR / "pose2sim_demo"
DEMO_VIEWS = ("cam01", "cam02", "cam03", "cam04")
#: The VideoPose3D baseline trained like EHFusion (checkpoints/README.md).
BASELINE_CHECKPOINT = "det_videopose3d_best_epoch.bin"


def demo_files(folder=None) -> tuple[dict[str, Path], Path]:
    """``({view: video path}, calibration path)`` of the Pose2Sim demo, checked to exist."""
    folder = Path(folder) if folder is not None else DEMO_DIR
    videos = {view: folder / f"{view}.mp4" for view in DEMO_VIEWS}
    calibration = folder / "Calib.qca.txt"
    missing = [p.name for p in (*videos.values(), calibration) if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} lacks {', '.join(missing)}; see data/pose2sim_demo/README.md for where "
                                f"they come from (pip download pose2sim==0.10.49 --no-deps)")
    return videos, calibration


def triangulate_reference(landmarks: dict[str, np.ndarray], cameras: dict[str, Camera],
                          min_confidence: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(reference (N, 17, 3) world metres in the Human3.6M layout, reprojection errors (V, N, 17) px, swapped
    (V, N))``: left/right swaps of a view are undone first (:func:`~ehfusion.video.triangulation.fix_left_right`).

    ``landmarks``: per view ``(N, 33, 3)`` BlazePose pixels + confidence of the same frames. The errors are those of
    the 17 COCO landmarks the conversion uses (``NaN`` where a view was not used).
    """
    views = list(landmarks)
    n = min(len(landmarks[v]) for v in views)
    used = list(COCO_FROM_BLAZEPOSE)
    stacked = np.stack([landmarks[v][:n, used] for v in views])  # (V, N, 17, 3)
    projections = np.stack([projection_matrix(cameras[v]) for v in views])
    xy, confidence, swapped = fix_left_right(stacked[..., :2], stacked[..., 2], projections,
                                             COCO_17.flip_permutation(), min_confidence)
    points = triangulate(xy, confidence, projections, min_confidence)  # (N, 17, 3) COCO order
    errors = reprojection_errors(points, xy, confidence, projections, min_confidence)
    full = np.zeros((n, 33, 3))
    full[:, used] = points
    reference = np.einsum("jk,nkc->njc", blazepose_to_h36m_matrix(), full)
    reference[~np.isfinite(points).all(axis=-1).all(axis=-1)] = np.nan
    return reference, errors, swapped


def bone_length_variation(poses, skeleton: Skeleton = H36M_17) -> np.ndarray:
    """Per bone: standard deviation over time of its length divided by its mean length, ``(bones,)``."""
    poses = np.asarray(poses, dtype=np.float64)
    lengths = np.stack([np.linalg.norm(poses[:, j] - poses[:, p], axis=-1) for j, p in skeleton.bones()], axis=1)
    return lengths.std(axis=0) / lengths.mean(axis=0)


def compare_to_reference(poses, reference_camera) -> dict[str, float]:
    """P1 (root-aligned) and P2 (Procrustes-aligned) in mm of root-relative poses against a reference in the same
    camera (``(N, 17, 3)`` metres; the reference is made root-relative here)."""
    poses = np.asarray(poses, dtype=np.float64)
    reference = np.asarray(reference_camera, dtype=np.float64)
    reference = reference - reference[:, :1]
    keep = np.isfinite(reference).all(axis=(1, 2))
    return {"P1": 1000 * metrics.mpjpe(poses[keep] - poses[keep, :1], reference[keep]),
            "P2": 1000 * metrics.p_mpjpe(poses[keep], reference[keep])}


@dataclass
class RealFootageCheck:
    cameras: dict[str, Camera]
    detections: dict  # view -> VideoDetections
    reference: np.ndarray  # (N, 17, 3) world metres, Human3.6M layout
    reprojection_px: np.ndarray  # (V, N, 17)
    swapped: np.ndarray  # (V, N) bool: the view's left and right were swapped back before triangulating
    lifts: dict = field(default_factory=dict)  # (view, checkpoint) -> VideoLift

    def reference_in(self, view: str) -> np.ndarray:
        return self.cameras[view].world_to_camera(self.reference)

    def table(self):
        """A DataFrame: per view and checkpoint P2, P1 (mm) and the mean bone-length variation (%)."""
        import pandas as pd

        rows = []
        for (view, name), lifted in self.lifts.items():
            poses = lifted.result.poses_3d
            errors = compare_to_reference(poses, self.reference_in(view)[: len(poses)])
            rows.append({"view": view, "checkpoint": name, "P2 (mm)": errors["P2"], "P1 (mm)": errors["P1"],
                         "bone length variation (%)": 100 * bone_length_variation(poses).mean()})
        return pd.DataFrame(rows)

    @property
    def detection_rates(self) -> dict[str, float]:
        return {view: d.detection_rate for view, d in self.detections.items()}

    @property
    def mean_reprojection_px(self) -> float:
        return float(np.nanmean(self.reprojection_px))


def run_check(checkpoints=("det_three-stage_3_best_epoch.bin", BASELINE_CHECKPOINT), *, folder=None,
              max_frames: int | None = None, min_confidence: float = 0.5, use_calibration: bool = True,
              detections: dict | None = None, progress: bool = False) -> RealFootageCheck:
    """Detect every view, triangulate the reference and lift every view with every checkpoint.

    ``use_calibration=False`` lifts with the default intrinsics instead of the calibrated ones (the triangulation
    always uses the calibration); ``detections`` reuses an earlier run's ``{view: VideoDetections}``.
    """
    from .pipeline import detect_video, lift_video

    videos, calibration = demo_files(folder)
    cameras = read_qualisys(calibration)
    if detections is None:
        detections = {view: detect_video(path, max_frames=max_frames, progress=progress)
                      for view, path in videos.items()}
    reference, errors, swapped = triangulate_reference({v: d.landmarks for v, d in detections.items()}, cameras,
                                                       min_confidence)
    check = RealFootageCheck(cameras, detections, reference, errors, swapped)
    for view in detections:
        for name in checkpoints:
            check.lifts[view, name] = lift_video(videos[view], name, detections=detections[view],
                                                 camera=cameras[view] if use_calibration else None,
                                                 min_confidence=min_confidence, progress=progress)
    return check


def main(argv=None) -> int:
    """``python -m ehfusion.video.realcheck``: the real-footage check's figures, as the README quotes them."""
    import argparse

    import pandas as pd

    parser = argparse.ArgumentParser(prog="python -m ehfusion.video.realcheck", description=main.__doc__)
    parser.add_argument("--max-frames", type=int, default=None, help="frames per view (default: all)")
    args = parser.parse_args(argv)
    check = run_check(max_frames=args.max_frames, progress=True)
    rates = ", ".join(f"{view} {100 * rate:.0f} %" for view, rate in check.detection_rates.items())
    print(f"person found in: {rates}")
    print(f"reprojection error of the triangulated reference: mean {check.mean_reprojection_px:.1f} px, "
          f"median {np.nanmedian(check.reprojection_px):.1f} px; left/right swapped back in "
          + ", ".join(f"{v} {int(n)}" for v, n in zip(check.detections, check.swapped.sum(axis=1))) + " frames")
    table = check.table()
    wide = table.pivot(index="view", columns="checkpoint", values=["P2 (mm)", "P1 (mm)", "bone length variation (%)"])
    wide.loc["mean"] = wide.mean()
    with pd.option_context("display.width", 160):
        print(wide.round(1).to_string())
    print(f"bone length variation of the reference: {100 * bone_length_variation(check.reference).mean():.1f} %")
    for (view, name), lifted in check.lifts.items():
        swapped = check.swapped[list(check.detections).index(view)][: len(lifted.result.poses_3d)]
        if swapped.any():
            poses, reference = lifted.result.poses_3d, check.reference_in(view)[: len(swapped)]
            inside, outside = (compare_to_reference(poses[m], reference[m])["P2"] for m in (swapped, ~swapped))
            print(f"{view}, {name}: P2 {outside:.1f} mm in the frames where BlazePose kept left and right, "
                  f"{inside:.1f} mm in the {int(swapped.sum())} frames where it swapped them")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
