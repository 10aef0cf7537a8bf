"""Joint layout conversion: every target joint is a fixed weighted sum of source joints (:func:`conversion_matrix`).

COCO-17 (what detectors emit) to Human3.6M-17 (what the lifter was trained on):

======================  ==============================================================================
Human3.6M joint          from COCO
======================  ==============================================================================
0 Hip (root)             :math:`(\\mathrm{LHip} + \\mathrm{RHip}) / 2`
8 Thorax                 :math:`(\\mathrm{LShoulder} + \\mathrm{RShoulder}) / 2`
7 Spine                  :math:`(\\mathrm{Hip} + \\mathrm{Thorax}) / 2`
9 Neck/Nose              :math:`\\mathrm{Nose}` (Human3.6M's joint 9 sits at the nose / lower face)
10 Head                  :math:`E + \\lambda (E - \\mathrm{Thorax})`
                         with :math:`E = (\\mathrm{LEye} + \\mathrm{REye}) / 2` and :math:`\\lambda` =
                         ``head_extension``, by default :data:`HEAD_EXTENSION` = 0.5: the top of the head continues
                         the thorax-to-eyes line by half its length (Human3.6M's thorax-to-head distance is about 1.5
                         times its thorax-to-eyes distance). The ears are not used.
hips, knees, shoulders,  the COCO joint of the same name (COCO ankles are Human3.6M feet)
elbows, wrists, feet
======================  ==============================================================================

The confidence of a derived joint is the **minimum** of the confidences of the joints it is made of. Because every
row of the matrix sums to one, the conversion commutes with any shift and scale of the image (so it can be done in
pixels or in normalised coordinates alike). :func:`coco_from_h36m` goes the other way, for poses whose Human3.6M joints
are known (a COCO face is placed on them).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..skeleton import COCO_17, H36M_17, HUMANEVA_15, Skeleton, get_skeleton
from .keypoints2d import Keypoints2D

__all__ = ["HEAD_EXTENSION", "conversion_matrix", "source_joints_used", "convert_layout", "converted_mask",
           "coco_from_h36m"]

#: How far the top of the head continues the thorax-to-eyes line, as a fraction of its length (see the module doc).
HEAD_EXTENSION = 0.5


def _coco_to_h36m_weights(head_extension: float) -> dict[str, dict[str, float]]:
    """Each Human3.6M joint as a weighted sum of COCO joints (the table of the module docstring)."""
    mid_hips = {"LHip": 0.5, "RHip": 0.5}
    thorax = {"LShoulder": 0.5, "RShoulder": 0.5}
    eyes = 0.5 * (1.0 + head_extension)
    rows = {
        "Hip": mid_hips,
        "Spine": {k: 0.5 * v for k, v in {**mid_hips, **thorax}.items()},
        "Thorax": thorax,
        "Neck": {"Nose": 1.0},
        "Head": {"LEye": eyes, "REye": eyes, **{k: -head_extension * v for k, v in thorax.items()}},
        "RFoot": {"RAnkle": 1.0},
        "LFoot": {"LAnkle": 1.0},
    }
    for name in H36M_17.joint_names:  # the rest keep their names
        rows.setdefault(name, {name: 1.0})
    return rows


def _h36m_to_humaneva_weights() -> dict[str, dict[str, float]]:
    rename = {"Pelvis": "Hip", "LAnkle": "LFoot", "RAnkle": "RFoot"}
    return {name: {rename.get(name, name): 1.0} for name in HUMANEVA_15.joint_names}


def _matrix(rows: Mapping[str, Mapping[str, float]], source: Skeleton, target: Skeleton) -> np.ndarray:
    matrix = np.zeros((target.num_joints, source.num_joints))
    for name, weights in rows.items():
        for source_name, weight in weights.items():
            matrix[target.index(name), source.index(source_name)] += weight
    return matrix


def conversion_matrix(source: str | Skeleton, target: str | Skeleton, *,
                      head_extension: float = HEAD_EXTENSION) -> np.ndarray:
    """``(K_target, K_source)`` weights: ``target_joints = W @ source_joints`` (every row sums to 1).

    Supported: ``coco -> h36m`` (module docstring; ``head_extension`` is its :math:`\\lambda`), ``h36m -> humaneva15``
    (pelvis = hip, ankles = feet, the rest by name), ``coco -> humaneva15`` (the two composed) and any layout to
    itself (identity).
    """
    source, target = get_skeleton(source), get_skeleton(target)
    if source.name == target.name:
        return np.eye(source.num_joints)
    coco_h36m = _matrix(_coco_to_h36m_weights(head_extension), COCO_17, H36M_17)
    h36m_he = _matrix(_h36m_to_humaneva_weights(), H36M_17, HUMANEVA_15)
    known = {("coco", "h36m"): coco_h36m, ("h36m", "humaneva15"): h36m_he, ("coco", "humaneva15"): h36m_he @ coco_h36m}
    try:
        return known[source.name, target.name]
    except KeyError:
        raise ValueError(
            f"no conversion from layout {source.name!r} to {target.name!r}; supported: "
            + ", ".join(f"{a} -> {b}" for a, b in known) + " (and any layout to itself)"
        ) from None


def _uses(matrix: np.ndarray) -> np.ndarray:
    return matrix != 0


def source_joints_used(source: str | Skeleton, target: str | Skeleton, *,
                       head_extension: float = HEAD_EXTENSION) -> np.ndarray:
    """Indices of the source joints that the conversion to ``target`` uses (COCO's ears, for example, are not)."""
    return np.flatnonzero(_uses(conversion_matrix(source, target, head_extension=head_extension)).any(axis=0))


def convert_layout(keypoints: Keypoints2D, target: str | Skeleton = "h36m", *,
                   head_extension: float = HEAD_EXTENSION) -> Keypoints2D:
    """Re-express a sequence in another joint layout with :func:`conversion_matrix`.

    Derived joints take the **minimum** confidence of their sources; a derived joint is missing (``NaN``) when any of
    its sources is.
    """
    target = get_skeleton(target)
    matrix = conversion_matrix(keypoints.layout, target, head_extension=head_extension)
    uses = _uses(matrix)
    source_xy = keypoints.xy.astype(np.float64)
    finite = np.isfinite(source_xy).all(axis=-1)
    xy = np.einsum("ts,nsc->ntc", matrix, np.where(finite[..., None], source_xy, 0.0))
    xy[(~finite[:, None, :] & uses[None]).any(axis=-1)] = np.nan
    confidence = np.where(uses[None], keypoints.confidence[:, None, :], np.inf).min(axis=-1)
    return Keypoints2D(xy.astype(np.float32), confidence.astype(np.float32), target.name,
                       frame_ids=keypoints.frame_ids, image_size=keypoints.image_size)


def converted_mask(mask: np.ndarray, source: str | Skeleton, target: str | Skeleton, *,
                   head_extension: float = HEAD_EXTENSION) -> np.ndarray:
    """A per-joint boolean ``(N, K_source)`` mask in the target layout: true where any source joint is true."""
    uses = _uses(conversion_matrix(source, target, head_extension=head_extension))
    return (mask[:, None, :] & uses[None]).any(axis=-1)


def coco_from_h36m(points, *, head_extension: float = HEAD_EXTENSION) -> np.ndarray:
    """Human3.6M-17 points ``(..., 17, C)`` (2D or 3D) in the COCO-17 layout (float64): the inverse conversion.

    Limbs map by name (Human3.6M feet are COCO ankles) and the nose is Human3.6M's joint 9. COCO's eyes and ears have
    no Human3.6M joint, so a face is **placed**: with ``T`` the mid-shoulders and ``H`` the head, the mid-eyes
    ``E = T + (H - T) / (1 + head_extension)``, so that :func:`conversion_matrix` with the same ``head_extension``
    gives the head back exactly; the eyes sit at ``E`` plus/minus 20 % of the shoulder vector, the ears at plus/minus
    25 % of it, slightly below the eyes (the ears are not used by the conversion). Human3.6M's hip, spine and thorax
    are not COCO joints; converting back to Human3.6M makes them from the hips and shoulders again.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.shape[-2] != H36M_17.num_joints:
        raise ValueError(f"expected Human3.6M points (..., 17, C), got shape {points.shape}")
    h = H36M_17.index
    out = np.zeros(points.shape[:-2] + (COCO_17.num_joints, points.shape[-1]))
    direct = {"Nose": "Neck", "LAnkle": "LFoot", "RAnkle": "RFoot"}
    for name in COCO_17.joint_names:
        source = direct.get(name, name)
        if source in H36M_17.joint_names:
            out[..., COCO_17.index(name), :] = points[..., h(source), :]
    left, right = points[..., h("LShoulder"), :], points[..., h("RShoulder"), :]
    thorax, across = (left + right) / 2, left - right
    eyes = thorax + (points[..., h("Head"), :] - thorax) / (1 + head_extension)
    below = 0.1 * (thorax - eyes)
    out[..., COCO_17.index("LEye"), :] = eyes + 0.2 * across
    out[..., COCO_17.index("REye"), :] = eyes - 0.2 * across
    out[..., COCO_17.index("LEar"), :] = eyes + 0.25 * across + below
    out[..., COCO_17.index("REar"), :] = eyes - 0.25 * across + below
    return out
