"""A detector-like 2D noise model: what ground-truth 2D keypoints look like after a real 2D pose detector.

Real detectors (e.g. CPN fine-tuned on Human3.6M, mean error about 5-6 px on 1000 px images) are not white noise:
their errors are larger at the extremities, correlated in time, slightly biased per sequence, and have heavy tails
(occasional gross outliers and left/right confusions). :class:`DetectorNoise` reproduces these traits:

* per-joint standard deviation (pixels) from a table keyed by joint name, larger at wrists and ankles;
* temporally correlated jitter: an AR(1) process ``e_t = rho e_{t-1} + sqrt(1 - rho^2) sigma eps_t`` per joint/axis;
* a constant per-sequence bias per joint;
* rare outliers (a joint jumps by tens of pixels for a few frames);
* rare left/right swaps of a whole limb (arm or leg) for a few frames, found from ``skeleton.groups``;
* everything scales with the person's apparent size (median bounding-box height / ``reference_height_px``).

The noise is deterministic given a ``numpy.random.Generator``. :func:`simulated_coco_detections` uses it to play a
COCO-17 detector on a known 3D motion (with occluded joints and lost frames), so that a lifted result can be compared
with the truth.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ehfusion.keypoints.layouts import coco_from_h36m
from ehfusion.skeleton import COCO_17, H36M_17, Skeleton

__all__ = ["DetectorNoise", "error_stats", "simulated_coco_detections"]

#: Standard deviation of the jitter per joint (pixels, for a person ``reference_height_px`` tall in the image).
DEFAULT_JOINT_SIGMA_PX = {
    "Hip": 4.5, "RHip": 4.5, "LHip": 4.5, "Spine": 4.5, "Thorax": 3.5, "Neck": 3.5, "Head": 4.0,
    "RKnee": 5.0, "LKnee": 5.0, "RShoulder": 3.5, "LShoulder": 3.5, "RElbow": 5.0, "LElbow": 5.0,
    "RFoot": 6.5, "LFoot": 6.5, "RWrist": 7.5, "LWrist": 7.5,
}


@dataclass(frozen=True)
class DetectorNoise:
    """Parameters of the detector-like noise (pixels are for a person ``reference_height_px`` tall)."""

    joint_sigma_px: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_JOINT_SIGMA_PX))
    default_sigma_px: float = 5.0  # joints missing from the table
    temporal_correlation: float = 0.8  # AR(1) coefficient per frame
    bias_sigma_px: float = 2.0  # constant per-sequence offset per joint
    outlier_rate: float = 0.002  # chance per joint and frame that an outlier starts
    outlier_px: tuple[float, float] = (15.0, 50.0)  # outlier displacement range
    outlier_frames: tuple[int, int] = (1, 6)  # outlier duration range (frames)
    swap_rate: float = 0.002  # chance per frame that a left/right limb swap starts
    swap_frames: tuple[int, int] = (2, 10)
    reference_height_px: float = 400.0

    def sigmas(self, skeleton: Skeleton) -> np.ndarray:
        """Per-joint standard deviations (J,) for ``skeleton``."""
        return np.array([self.joint_sigma_px.get(name, self.default_sigma_px) for name in skeleton.joint_names])

    def apply(self, keypoints, rng: np.random.Generator, skeleton: Skeleton = H36M_17) -> np.ndarray:
        """Noisy copy (float32) of ground-truth pixel keypoints ``(N, J, 2)``."""
        keypoints = np.asarray(keypoints, dtype=np.float64)
        if keypoints.ndim != 3 or keypoints.shape[1:] != (skeleton.num_joints, 2):
            raise ValueError(
                f"expected keypoints of shape (N, {skeleton.num_joints}, 2) for layout {skeleton.name}, "
                f"got {keypoints.shape}"
            )
        n, j, _ = keypoints.shape
        heights = keypoints[..., 1].max(axis=1) - keypoints[..., 1].min(axis=1)
        scale = float(np.median(heights)) / self.reference_height_px if n else 1.0
        sigma = self.sigmas(skeleton)[None, :, None] * scale

        # temporally correlated jitter (stationary AR(1)) plus a constant bias
        rho = self.temporal_correlation
        innovations = rng.standard_normal((n, j, 2)) * sigma
        jitter = np.empty_like(innovations)
        jitter[0] = innovations[0]
        gain = np.sqrt(1.0 - rho * rho)
        for t in range(1, n):
            jitter[t] = rho * jitter[t - 1] + gain * innovations[t]
        noisy = keypoints + jitter + rng.standard_normal((1, j, 2)) * self.bias_sigma_px * scale

        # left/right confusions of whole limbs (mirror groups from the skeleton's joint groups)
        noisy = self._swap_limbs(noisy, rng, skeleton)

        # gross outliers lasting a few frames
        starts = np.argwhere(rng.random((n, j)) < self.outlier_rate)
        for t, joint in starts:
            length = rng.integers(self.outlier_frames[0], self.outlier_frames[1] + 1)
            angle = rng.uniform(0.0, 2.0 * np.pi)
            radius = rng.uniform(*self.outlier_px) * scale
            noisy[t:t + length, joint] += radius * np.array([np.cos(angle), np.sin(angle)])
        return noisy.astype(np.float32)

    def _swap_limbs(self, noisy: np.ndarray, rng: np.random.Generator, skeleton: Skeleton) -> np.ndarray:
        """Report a whole limb at its mirror limb's position (and vice versa) for a few frames, now and then."""
        if not skeleton.groups:
            return noisy
        mirror = skeleton.flip_group_permutation()
        limbs = [g for g, m in enumerate(mirror) if g < m]  # one of each mirror pair: an arm and a leg
        if not limbs:
            return noisy
        twin = skeleton.flip_permutation()
        for t in np.flatnonzero(rng.random(len(noisy)) < self.swap_rate):
            joints = np.asarray(skeleton.groups[limbs[rng.integers(len(limbs))]].joints)
            length = rng.integers(self.swap_frames[0], self.swap_frames[1] + 1)
            window = noisy[t:t + length]
            window[:, np.concatenate((joints, twin[joints]))] = window[:, np.concatenate((twin[joints], joints))]
        return noisy


def error_stats(ground_truth, detections) -> dict[str, float]:
    """2D error statistics (pixels) of ``detections`` against ``ground_truth`` (arrays or lists of (..., 2) arrays).

    Returns mean, median, 95th and 99th percentile of the per-joint Euclidean error, and the number of joints.
    """
    if isinstance(ground_truth, (list, tuple)):
        ground_truth = np.concatenate([np.asarray(g).reshape(-1, 2) for g in ground_truth])
        detections = np.concatenate([np.asarray(d)[..., :2].reshape(-1, 2) for d in detections])
    ground_truth = np.asarray(ground_truth, dtype=np.float64)
    detections = np.asarray(detections, dtype=np.float64)[..., :2]
    if ground_truth.shape != detections.shape:
        raise ValueError(f"ground truth {ground_truth.shape} and detections {detections.shape} differ in shape")
    errors = np.linalg.norm(detections - ground_truth, axis=-1).reshape(-1)
    return {
        "mean_px": float(errors.mean()),
        "median_px": float(np.median(errors)),
        "p95_px": float(np.percentile(errors, 95)),
        "p99_px": float(np.percentile(errors, 99)),
        "count": int(errors.size),
    }


def simulated_coco_detections(points_world: np.ndarray, camera, rng: np.random.Generator, *, noise=None,
                              drop_fraction: float = 0.05, missing_frames: int = 0) -> np.ndarray:
    """What a COCO-17 detector might report for a known 3D motion: ``(N, 17, 3)`` pixels and confidences.

    ``points_world`` ``(N, 17, 3)`` Human3.6M joints in metres get a face (:func:`ehfusion.keypoints.coco_from_h36m`,
    in 3D), are projected by ``camera`` and receive detector-like noise (``noise``, default :class:`DetectorNoise`).
    Confident joints get confidences in [0.6, 1]. About ``drop_fraction`` of the joints are "occluded" in runs of 1-6
    frames (confidence below 0.2, coordinates kept), and ``missing_frames`` random frames have no detection at all
    (``NaN`` coordinates, confidence 0).
    """
    if not 0.0 <= drop_fraction < 1.0:
        raise ValueError(f"drop_fraction must be in [0, 1), got {drop_fraction}")
    pixels = camera.project(coco_from_h36m(np.asarray(points_world, dtype=np.float64)))
    pixels = (noise or DetectorNoise()).apply(pixels, rng, COCO_17).astype(np.float64)
    n, k = pixels.shape[:2]
    occluded = np.zeros((n, k), bool)
    run = 3.5  # mean run length of an occlusion
    for frame, joint in np.argwhere(rng.random((n, k)) < drop_fraction / run):
        occluded[frame:frame + rng.integers(1, 7), joint] = True
    confidence = np.where(occluded, rng.uniform(0.0, 0.2, (n, k)), rng.uniform(0.6, 1.0, (n, k)))
    lost = rng.choice(n, size=min(int(missing_frames), n), replace=False)
    pixels[lost] = np.nan
    confidence[lost] = 0.0
    return np.concatenate((pixels, confidence[..., None]), axis=-1).astype(np.float32)
