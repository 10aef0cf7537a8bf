"""Qualisys ``.qca.txt`` calibrations (an XML file) read into :class:`ehfusion.cameras.Camera` objects.

Each ``<camera serial=...>`` element holds:

* ``<fov_video left right top bottom>``: the image window in pixels (width ``right - left + 1``);
* ``<intrinsic focalLengthU/V centerPointU/V radialDistortion1-3 tangentalDistortion1-2>`` in Qualisys' sensor
  units of 1/64 pixel: focal length :math:`f = \\mathrm{focalLength}/64`, principal point
  :math:`c = \\mathrm{centerPoint}/64 - (\\mathrm{left}, \\mathrm{top})`; the distortion coefficients are divided by
  64 as well (the convention of Pose2Sim, whose demo calibration this reader was checked on);
* ``<transform x y z r11 ... r33>``: the camera centre :math:`\\mathbf C` in the world (millimetres) and a rotation
  :math:`M` (``r11 r12 r13`` its first row). A world point :math:`\\mathbf X` has camera coordinates
  :math:`R_x(\\pi)\\,M\\,(\\mathbf X - \\mathbf C)` with the usual axes (x right, y down, z forward): Qualisys' camera
  looks along its -z axis with y up, hence the half turn :math:`R_x(\\pi)` about x.

The cameras are returned in their serial's natural order (cam01, cam02, ...).
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np

from ..cameras import Camera

__all__ = ["read_qualisys", "matrix_to_quaternion", "projection_matrix"]

_HALF_TURN_X = np.diag([1.0, -1.0, -1.0])


def matrix_to_quaternion(matrix) -> np.ndarray:
    """Unit quaternion (w, x, y, z) of a 3 x 3 rotation matrix (Shepperd's method, the sign with w >= 0)."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (3, 3) or not np.allclose(m @ m.T, np.eye(3), atol=1e-5) or np.linalg.det(m) < 0:
        raise ValueError(f"not a rotation matrix: {m.tolist()}")
    trace = np.trace(m)
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k])
        q = np.empty(4)
        q[0] = (m[k, j] - m[j, k]) / s
        q[1 + i] = 0.25 * s
        q[1 + j] = (m[j, i] + m[i, j]) / s
        q[1 + k] = (m[k, i] + m[i, k]) / s
    q = np.asarray(q, dtype=np.float64)
    return q / np.linalg.norm(q) * (1.0 if q[0] >= 0 else -1.0)


def _number(element, name: str, path: Path) -> float:
    value = element.get(name)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{path}: camera {element.get('serial', '?')}: attribute {name!r} is missing or not a "
                         f"number ({value!r}); is this a Qualisys .qca.txt calibration?") from None


def _natural_key(text: str):
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def read_qualisys(path) -> dict[str, Camera]:
    """Cameras of a Qualisys ``.qca.txt`` file by serial (``translation`` in metres), in natural order."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"calibration file {path} not found")
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise ValueError(f"{path} is not a Qualisys calibration (XML): {error}") from None
    cameras = {}
    for element in root.findall("cameras/camera"):
        serial = element.get("serial") or f"camera{len(cameras) + 1}"
        window, intrinsic, transform = (element.find(tag) for tag in ("fov_video", "intrinsic", "transform"))
        if window is None or intrinsic is None or transform is None:
            raise ValueError(f"{path}: camera {serial} lacks <fov_video>, <intrinsic> or <transform>")
        left, top = _number(window, "left", path), _number(window, "top", path)
        width = int(round(_number(window, "right", path) - left + 1))
        height = int(round(_number(window, "bottom", path) - top + 1))
        f = lambda name: _number(intrinsic, name, path) / 64.0  # noqa: E731 (sensor units of 1/64 pixel)
        rows = np.array([[_number(transform, f"r{i}{j}", path) for j in (1, 2, 3)] for i in (1, 2, 3)])
        world_to_camera = _HALF_TURN_X @ rows
        centre = np.array([_number(transform, axis, path) for axis in "xyz"]) / 1000.0
        cameras[serial] = Camera(
            id=serial, res_w=width, res_h=height,
            focal_length=np.array([f("focalLengthU"), f("focalLengthV")]),
            center=np.array([f("centerPointU") - left, f("centerPointV") - top]),
            radial_distortion=np.array([f("radialDistortion1"), f("radialDistortion2"), f("radialDistortion3")]),
            tangential_distortion=np.array([f("tangentalDistortion1"), f("tangentalDistortion2")]),
            orientation=matrix_to_quaternion(world_to_camera.T), translation=centre,
        )
    if not cameras:
        raise ValueError(f"{path} holds no <cameras><camera> elements; is this a Qualisys .qca.txt calibration?")
    return {name: cameras[name] for name in sorted(cameras, key=_natural_key)}


def projection_matrix(camera: Camera) -> np.ndarray:
    """The ``3 x 4`` pinhole projection ``K [R | -R C]`` of a camera (world metres to homogeneous pixels)."""
    from ..geometry import quat_to_matrix

    rotation = quat_to_matrix(camera.orientation).T  # world -> camera
    k = np.array([[camera.focal_length[0], 0.0, camera.center[0]],
                  [0.0, camera.focal_length[1], camera.center[1]],
                  [0.0, 0.0, 1.0]])
    return k @ np.hstack((rotation, -rotation @ np.asarray(camera.translation)[:, None]))
