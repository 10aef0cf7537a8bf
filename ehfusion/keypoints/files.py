"""Reading keypoint files: :func:`load_keypoints` takes an array, a ``.npy`` / ``.npz`` file (also a VideoPose3D 2D
file) or COCO-style JSON (:mod:`ehfusion.keypoints.coco_json`) and returns a :class:`Keypoints2D` in pixels.

Damaged bytes become a :class:`~ehfusion.errors.KeypointFileError` that names the file and how to write it again.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..cameras import check_image_size
from ..errors import KeypointFileError
from ..io import DAMAGED_ARCHIVE_ERRORS, first_line, read_npz
from ..skeleton import get_skeleton
from .coco_json import read_coco_json
from .keypoints2d import INPUT_LAYOUTS, Keypoints2D, check_input_layout, keypoints_from_array

__all__ = ["load_keypoints"]

def load_keypoints(source, layout: str | None = "coco", *, num_frames: int | None = None, entry=None,
                   allow_pickle: bool = False) -> Keypoints2D:
    """Load one person's 2D keypoint sequence (pixels) from an array or a file.

    Accepted sources:

    * a NumPy array or a ``.npy`` file: ``(N, K, 2)`` or ``(N, K, 3)``, see :func:`keypoints_from_array`;
    * a ``.npz`` file holding such an array under the key ``keypoints`` (or as its only array); or a VideoPose3D 2D
      file (key ``positions_2d``, e.g. ``data_2d_custom_myvideos.npz``) with ``entry`` naming the video (custom files)
      or ``(subject, action, camera)`` (dataset files). Those files are pickles, so they are only read with
      ``allow_pickle=True``: **only for files you trust**, unpickling can run code;
    * a ``.json`` file (or the parsed object) in COCO keypoint style, see :func:`read_coco_json`.

    ``layout`` is the joint order (``coco``, ``h36m``, ``humaneva15``); ``None`` takes it from a VideoPose3D file's
    metadata. ``num_frames`` extends a JSON sequence with missing frames up to that length.
    """
    if isinstance(source, (list, dict)):
        return read_coco_json(source, layout or "coco", num_frames=num_frames)
    if not isinstance(source, (str, Path)):
        return keypoints_from_array(source, layout or "coco")
    path = Path(source).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"keypoint file {path} not found")
    suffix = path.suffix.lower()
    if suffix == ".json":
        return read_coco_json(path, layout or "coco", num_frames=num_frames)
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except DAMAGED_ARCHIVE_ERRORS as error:
            raise KeypointFileError(f"{path} cannot be read as a .npy array ({type(error).__name__}: "
                                    f"{first_line(error)}); write it with np.save(path, keypoints)") from None
        try:
            return keypoints_from_array(array, layout or "coco")
        except ValueError as error:
            raise KeypointFileError(f"{path}: {error}") from None
    if suffix == ".npz":
        return _load_npz(path, layout, entry, allow_pickle)
    raise KeypointFileError(f"cannot read keypoints from {path.name} (in {path.parent}): found a "
                            f"{suffix or 'suffix-less'} file, expected a .json (COCO keypoints), .npy or .npz file; "
                            "convert it to one of those")


def _npz_entries(path: Path, allow_pickle: bool, keys=None) -> tuple[list[str], dict]:
    """The entry names and arrays (only ``keys`` when given) of an ``.npz``; damaged: a :class:`KeypointFileError`."""
    return read_npz(path, KeypointFileError, "write it with np.savez(path, keypoints=array)", allow_pickle=allow_pickle,
                    keys=keys)


def _load_npz(path: Path, layout: str | None, entry, allow_pickle: bool) -> Keypoints2D:
    keys, _ = _npz_entries(path, allow_pickle=False, keys=())
    if "positions_2d" not in keys:
        _, arrays = _npz_entries(path, allow_pickle=False)
        if "keypoints" in keys:
            key = "keypoints"
        elif len(keys) == 1:
            key = keys[0]
        else:
            raise KeypointFileError(f"{path} holds arrays {keys}; store the keypoints under the key 'keypoints'")
        try:
            return keypoints_from_array(arrays[key], layout or "coco")
        except ValueError as error:
            raise KeypointFileError(f"{path}[{key!r}]: {error}") from None
    if not allow_pickle:
        raise ValueError(
            f"{path} is a VideoPose3D 2D file (pickled dictionaries). Unpickling can execute code, so it is only read "
            f"with allow_pickle=True: pass it only for files you trust"
        )
    _, content = _npz_entries(path, allow_pickle=True, keys=("positions_2d", "metadata"))
    positions, metadata = (content[k].item() if k in content and content[k].shape == () else content.get(k, {})
                           for k in ("positions_2d", "metadata"))
    for what, value in (("positions_2d", positions), ("metadata", metadata)):
        if not isinstance(value, Mapping):
            raise KeypointFileError(f"{path}: {what} is a {type(value).__name__}, expected a dict (VideoPose3D's "
                                    f"layout); write the file as VideoPose3D's prepare_data_2d_custom does")
    declared = metadata.get("layout_name")
    if declared is not None and declared not in INPUT_LAYOUTS:
        raise KeypointFileError(f"{path}: metadata layout_name is {declared!r}, expected one of "
                                f"{', '.join(INPUT_LAYOUTS)}; correct it or drop that metadata entry")
    if layout is None:
        layout = declared or "coco"
    elif declared and get_skeleton(declared).name != check_input_layout(layout):
        raise ValueError(f"{path} declares layout {declared!r} but layout={layout!r} was requested; pass layout=None")
    array, video = _select_entry(path, positions, entry)
    try:
        keypoints = keypoints_from_array(array, layout)
    except ValueError as error:
        raise KeypointFileError(f"{path}[{video or entry!r}]: {error}") from None
    videos = metadata.get("video_metadata", {})
    sizes = videos.get(video) if video is not None and isinstance(videos, Mapping) else None
    if sizes:
        try:
            keypoints.image_size = check_image_size(sizes["w"], sizes["h"])
        except (TypeError, KeyError, ValueError):
            raise KeypointFileError(f"{path}: video_metadata[{video!r}] is {sizes!r}, expected {{'w': width, "
                                    "'h': height}} in pixels; correct it or pass width and height") from None
    return keypoints


def _select_entry(path: Path, positions: Mapping, entry):
    """Pick one array out of a VideoPose3D ``positions_2d`` dict (custom: video -> 'custom' -> [array])."""
    if entry is None:
        if len(positions) != 1:
            raise ValueError(f"{path} holds several videos/subjects ({', '.join(map(str, list(positions)[:8]))}); "
                             f"pass entry=<video name> or entry=(subject, action, camera)")
        entry = next(iter(positions))
    if isinstance(entry, str):
        if entry not in positions:
            raise KeyError(f"{path} has no entry {entry!r}; entries: {', '.join(map(str, list(positions)[:20]))}")
        value = positions[entry]
        if isinstance(value, Mapping) and "custom" in value:
            try:
                return value["custom"][0], entry
            except (TypeError, IndexError, KeyError):
                raise KeypointFileError(f"{path}[{entry!r}]['custom'] is not a list of arrays; write the file as "
                                        "VideoPose3D's prepare_data_2d_custom does") from None
        raise ValueError(f"{path}[{entry!r}] is a subject, not a video: pass entry=(subject, action, camera)")
    try:
        subject, action, camera = entry
        return positions[subject][action][int(camera)], None
    except (KeyError, IndexError, TypeError, ValueError):
        raise KeyError(f"{path} has no entry {entry!r}; subjects: {', '.join(map(str, positions))}") from None
