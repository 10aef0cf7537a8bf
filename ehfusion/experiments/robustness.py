r"""Robustness of a lifter to corrupted 2D inputs: Gaussian pixel noise and missing joints.

Two perturbations of the test set's 2D keypoints, each applied on its own (the other one off):

* **noise**: every 2D coordinate gets independent Gaussian noise of standard deviation :math:`\sigma` *pixels*. The
  model sees normalised screen coordinates :math:`x_n = 2 x_{px} / w - 1`, so a pixel offset becomes
  :math:`\Delta x_n = 2 \Delta x_{px} / w` (the same factor for y: :math:`y_n = 2 y_{px} / w - h / w`), i.e. the noise
  added in normalised units has :math:`\sigma_n = 2 \sigma / w`, with :math:`w` the width of the camera image.
* **dropout**: every (frame, joint) is missing with probability :math:`r`, independently. A real pipeline does not
  hand a network a hole: like :func:`ehfusion.keypoints.fill_missing` (which this module uses), a missing joint is
  filled by linear interpolation in time between the nearest frames where that joint was seen (held constant before
  the first / after the last such frame). A joint that would be missing in *every* frame of a sequence (only possible
  for very short sequences) keeps its first frame, so that it can be filled at all.

The random draws depend only on ``(seed, perturbation, level, sequence index)``, never on the model, so every model is
scored on exactly the same corrupted inputs (common random numbers: the differences between models are not noise of
the corruption).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence as SequenceOf

import numpy as np
import pandas as pd
import torch
from ..progress import progress_bar

from .. import geometry
from ..evaluation import evaluate, model_skeleton
from ..skeleton import Skeleton

__all__ = [
    "PERTURBATIONS",
    "DEFAULT_SIGMAS_PX",
    "DEFAULT_DROPOUT_RATES",
    "pixels_to_normalised",
    "image_width_of",
    "add_pixel_noise",
    "drop_joints",
    "fill_dropped",
    "perturb_sequence",
    "robustness_curves",
]

PERTURBATIONS = ("noise", "dropout")
DEFAULT_SIGMAS_PX = (0, 2, 5, 10, 15, 20)
DEFAULT_DROPOUT_RATES = (0, 0.05, 0.1, 0.2, 0.3)
#: Seed stream index of each perturbation (keeps the noise and dropout draws independent).
_STREAM = {"noise": 1, "dropout": 2}


# ---------------------------------------------------------------------------------------------------------- units
def pixels_to_normalised(pixels, image_width: float):
    """A length in pixels as a length in normalised screen units: ``pixels * 2 / image_width``.

    :func:`ehfusion.geometry.normalize_screen_length`, with the width checked.
    """
    if not np.isfinite(image_width) or image_width <= 0:
        raise ValueError(f"image width must be a positive number of pixels, got {image_width}")
    return geometry.normalize_screen_length(np.asarray(pixels, dtype=np.float64), float(image_width))


def image_width_of(seq, cameras: Mapping | None = None, image_width: float | None = None) -> float:
    """Width in pixels of the image a sequence's keypoints were normalised with.

    ``image_width`` (one width for every sequence) wins; else the sequence's camera in ``cameras`` (a dataset's
    ``ds.cameras``, ``{subject: [Camera, ...]}``); else the Human3.6M camera set (the embedded and Human3.6M data use
    it). The camera found must have the sequence's focal length (``intrinsics[0] = fx * 2 / w``), otherwise it is not
    the sequence's camera and a ``ValueError`` says to pass ``cameras=ds.cameras`` or ``image_width=``.
    """
    if image_width is not None:
        return float(image_width)
    if cameras is None:
        from ..cameras import get_cameras

        cameras = get_cameras("h36m")
    advice = "pass cameras=dataset.cameras or image_width=<pixels> to robustness_curves"
    try:
        camera = cameras[seq.subject][seq.camera]
    except (KeyError, IndexError):
        raise ValueError(f"no camera {seq.camera} of subject {seq.subject!r} in the camera set; {advice}") from None
    fx_normalised = float(np.asarray(seq.intrinsics)[0])
    expected = float(geometry.normalize_screen_length(camera.focal_length[0], camera.res_w))
    if not np.isclose(fx_normalised, expected, rtol=1e-3):
        raise ValueError(
            f"sequence {seq.subject}/{seq.action}/camera {seq.camera} has fx/w*2 = {fx_normalised:.4f} but camera "
            f"{camera.id} has {expected:.4f}: it is not this sequence's camera; {advice}"
        )
    return float(camera.res_w)


# ------------------------------------------------------------------------------------------------------ perturbations
def add_pixel_noise(keypoints: np.ndarray, sigma_px: float, image_width: float,
                    rng: np.random.Generator) -> np.ndarray:
    """Normalised keypoints ``(N, J, 2)`` plus Gaussian noise of ``sigma_px`` pixels on each coordinate."""
    if sigma_px < 0:
        raise ValueError(f"noise sigma must be >= 0 pixels, got {sigma_px}")
    keypoints = np.asarray(keypoints, dtype=np.float32)
    if sigma_px == 0:
        return keypoints.copy()
    sigma = float(pixels_to_normalised(sigma_px, image_width))
    return (keypoints + rng.normal(0.0, sigma, size=keypoints.shape)).astype(np.float32)


def drop_joints(num_frames: int, num_joints: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """``(N, J)`` bool mask of missing joints, each (frame, joint) missing with probability ``rate``.

    A joint that would be missing in every frame keeps its first frame (otherwise it could not be filled).
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout rate must lie in [0, 1), got {rate}")
    missing = rng.random((num_frames, num_joints)) < rate
    missing[0, missing.all(axis=0)] = False
    return missing


def fill_dropped(keypoints: np.ndarray, missing: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """Fill the ``missing`` entries of ``(N, J, 2)`` keypoints by linear interpolation in time, joint by joint.

    Uses :func:`ehfusion.keypoints.fill_missing` (the filler of the keypoint pipeline); the units do not matter since
    interpolation is linear.
    """
    from ..keypoints import Keypoints2D, fill_missing

    keypoints = np.asarray(keypoints, dtype=np.float32)
    missing = np.asarray(missing, dtype=bool)
    if missing.shape != keypoints.shape[:2]:
        raise ValueError(f"missing mask shape {missing.shape} does not match keypoints {keypoints.shape[:2]}")
    if not missing.any():
        return keypoints.copy()
    xy = np.where(missing[..., None], np.nan, keypoints).astype(np.float32)
    confidence = (~missing).astype(np.float32)
    filled, _, _ = fill_missing(Keypoints2D(xy, confidence, skeleton.name), min_confidence=0.5)
    return filled.xy


def perturb_sequence(seq, perturbation: str, level: float, rng: np.random.Generator, *, skeleton: Skeleton,
                     image_width: float):
    """A copy of ``seq`` with corrupted 2D keypoints (``level``: sigma in pixels, or the dropout rate)."""
    keypoints = np.asarray(seq.keypoints_2d, dtype=np.float32)
    if perturbation == "noise":
        corrupted = add_pixel_noise(keypoints, level, image_width, rng)
    elif perturbation == "dropout":
        missing = drop_joints(len(keypoints), keypoints.shape[1], level, rng)
        corrupted = fill_dropped(keypoints, missing, skeleton)
    else:
        raise ValueError(f"unknown perturbation {perturbation!r}; choose one of {PERTURBATIONS}")
    return dataclasses.replace(seq, keypoints_2d=corrupted)


def _level_rng(seed: int, perturbation: str, level_index: int, seq_index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), _STREAM[perturbation], level_index, seq_index])


# ---------------------------------------------------------------------------------------------------------- curves
def robustness_curves(
    model: torch.nn.Module,
    sequences: SequenceOf,
    sigmas_px: SequenceOf[float] = DEFAULT_SIGMAS_PX,
    dropout_rates: SequenceOf[float] = DEFAULT_DROPOUT_RATES,
    seed: int = 0,
    flip_tta: bool = True,
    *,
    cameras: Mapping | None = None,
    image_width: float | None = None,
    skeleton: Skeleton | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Protocol errors (mm) of ``model`` under each noise level and each dropout rate.

    Returns a tidy DataFrame, one row per (perturbation, level): ``perturbation`` (``"noise"`` or ``"dropout"``),
    ``level`` (sigma in pixels, or the fraction of joints missing), ``P1`` and ``P2`` in mm (means over actions, as
    :func:`ehfusion.evaluation.evaluate` reports them). Level 0 of either perturbation is the clean input (evaluated
    once). Deterministic for a given ``seed`` (see the module docstring); ``cameras`` / ``image_width`` give the image
    width that converts pixels to normalised units (:func:`image_width_of`).
    """
    sequences = list(sequences)
    if not sequences:
        raise ValueError("robustness_curves got no sequences: select the test subjects first")
    skeleton = skeleton or model_skeleton(model, np.shape(sequences[0].keypoints_2d)[1])
    widths = [image_width_of(s, cameras, image_width) for s in sequences]
    plan = [("noise", i, float(v)) for i, v in enumerate(sigmas_px)] + \
        [("dropout", i, float(v)) for i, v in enumerate(dropout_rates)]
    for perturbation, _, level in plan:  # fail before any work
        if level < 0 or (perturbation == "dropout" and level >= 1):
            raise ValueError(f"bad {perturbation} level {level}: sigmas must be >= 0 px, rates in [0, 1)")

    clean = None
    rows = []
    for perturbation, index, level in progress_bar(plan, enabled=progress, desc="robustness", unit="level", leave=False):
        if level == 0:
            if clean is None:
                clean = evaluate(model, sequences, flip_tta, skeleton=skeleton)
            result = clean
        else:
            corrupted = [
                perturb_sequence(s, perturbation, level, _level_rng(seed, perturbation, index, k), skeleton=skeleton,
                                 image_width=w)
                for k, (s, w) in enumerate(zip(sequences, widths))
            ]
            result = evaluate(model, corrupted, flip_tta, skeleton=skeleton)
        rows.append({"perturbation": perturbation, "level": level, "P1": result.p1, "P2": result.p2})
    return pd.DataFrame(rows, columns=["perturbation", "level", "P1", "P2"])
