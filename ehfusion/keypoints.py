"""Your own 2D keypoints: load them, convert the joint layout, fill gaps, normalise, and pick camera intrinsics.

The lifter was trained on 2D keypoints in the Human3.6M 17-joint layout (:data:`ehfusion.skeleton.H36M_17`) in
normalised screen coordinates. Most 2D detectors emit the COCO 17-keypoint layout (:data:`ehfusion.skeleton.COCO_17`)
in pixels, with a confidence per keypoint and the odd missed joint or frame. This module turns such output into model
input in four steps, each a separate function:

1. **load** (:func:`load_keypoints`): a NumPy array, a ``.npy`` / ``.npz`` file or a COCO-style keypoint ``.json``
   file becomes a :class:`Keypoints2D` (pixels ``(N, K, 2)`` with ``NaN`` where missing, confidences ``(N, K)``);
2. **fill** (:func:`fill_missing`): joints that are missing or below a confidence threshold are replaced, joint by
   joint, by linear interpolation in time between the nearest confident frames (the first/last confident value is held
   before/after them); a :class:`FillReport` says how many were filled;
3. **convert** (:func:`convert_layout`): every target joint is a fixed weighted sum of source joints (a matrix, see
   :func:`conversion_matrix`), for example COCO to Human3.6M:

   ======================  ==============================================================================
   Human3.6M joint          from COCO
   ======================  ==============================================================================
   0 Hip (root)             :math:`(\\mathrm{LHip} + \\mathrm{RHip}) / 2`
   8 Thorax                 :math:`(\\mathrm{LShoulder} + \\mathrm{RShoulder}) / 2`
   7 Spine                  :math:`(\\mathrm{Hip} + \\mathrm{Thorax}) / 2`
   9 Neck/Nose              :math:`\\mathrm{Nose}` (Human3.6M's joint 9 sits at the nose / lower face)
   10 Head                  :math:`E + \\lambda (E - \\mathrm{Thorax})`
                            with :math:`E = (\\mathrm{LEye} + \\mathrm{REye}) / 2` and :math:`\\lambda` =
                            :data:`HEAD_EXTENSION` = 0.5: the top of the head continues the thorax-to-eyes line by
                            half its length (Human3.6M's thorax-to-head distance is about 1.5 times its
                            thorax-to-eyes distance). The ears are not used.
   hips, knees, shoulders,  the COCO joint of the same name (COCO ankles are Human3.6M feet)
   elbows, wrists, feet
   ======================  ==============================================================================

   The confidence of a derived joint is the **minimum** of the confidences of the joints it is made of. Because every
   row of the matrix sums to one, the conversion commutes with any shift and scale of the image (so it can be done in
   pixels or in normalised coordinates alike);
4. **normalise** (:func:`normalize_keypoints`): pixels to ``X / w * 2 - [1, h / w]`` (the VideoPose3D convention),
   and the 9-number camera vector from your intrinsics or, for an unknown camera, :func:`default_intrinsics`.

:func:`prepare_keypoints` runs the four steps and returns a :class:`PreparedKeypoints` ready for :mod:`ehfusion.lift`.
"""
from __future__ import annotations

import json
import math
import pickle
import re
import tokenize
import warnings
import zipfile
import zlib
from collections.abc import Mapping, Sequence as SequenceOf
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from . import geometry
from .errors import KeypointFileError, write_error
from .skeleton import COCO_17, H36M_17, HUMANEVA_15, Skeleton, get_skeleton

__all__ = [
    "HEAD_EXTENSION",
    "INPUT_LAYOUTS",
    "MIN_FRAMES",
    "Keypoints2D",
    "FillReport",
    "PreparedKeypoints",
    "load_keypoints",
    "keypoints_from_array",
    "read_coco_json",
    "write_coco_json",
    "conversion_matrix",
    "convert_layout",
    "fill_missing",
    "normalize_keypoints",
    "pixels_from_normalized",
    "check_image_size",
    "default_intrinsics",
    "camera_intrinsics",
    "prepare_keypoints",
]

#: How far the top of the head continues the thorax-to-eyes line, as a fraction of its length (see the module doc).
HEAD_EXTENSION = 0.5

#: Layouts that keypoints may come in (``coco`` from detectors; the model layouts when you already have them).
INPUT_LAYOUTS = ("coco", "h36m", "humaneva15")

#: Fewest frames a sequence may have (a temporal model and the gap filling need at least two).
MIN_FRAMES = 2

#: Keys of a per-frame JSON entry that may hold its frame number, in the order they are tried.
FRAME_KEYS = ("frame_index", "frame_id", "frame", "image_id", "idx")

#: Keys of a per-person JSON entry that may hold its detection score, in the order they are tried.
SCORE_KEYS = ("score", "bbox_score", "person_score")

#: Most frames a keypoint file may span (first to last frame number): about 5.5 hours at 50 fps.
MAX_FRAMES = 1_000_000

#: What numpy raises on damaged ``.npy`` / ``.npz`` bytes (zip layer, decompressor, header parser, unpickler).
_DAMAGED = (OSError, EOFError, zipfile.BadZipFile, zlib.error, pickle.UnpicklingError, tokenize.TokenError,
            SyntaxError, ValueError, TypeError, AttributeError, ImportError, KeyError, IndexError, OverflowError,
            MemoryError, RecursionError)


# ----------------------------------------------------------------------------------------------------- container
@dataclass
class Keypoints2D:
    """A 2D keypoint sequence of one person, in pixels.

    ``xy`` is ``(N, K, 2)`` float32 with ``NaN`` where a joint is missing; ``confidence`` is ``(N, K)`` float32 (0 where
    missing, 1 when the source gave no confidence); ``layout`` names the joint order; ``frame_ids`` are the source's
    frame numbers; ``image_size`` is ``(width, height)`` when the file declared it.
    """

    xy: np.ndarray
    confidence: np.ndarray
    layout: str
    frame_ids: np.ndarray | None = None
    image_size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        skeleton = get_skeleton(self.layout)
        if self.xy.ndim != 3 or self.xy.shape[-1] != 2:
            raise ValueError(f"Keypoints2D.xy must have shape (frames, joints, 2), got {self.xy.shape}")
        if self.confidence.shape != self.xy.shape[:2]:
            raise ValueError(f"confidence shape {self.confidence.shape} does not match keypoints {self.xy.shape[:2]}")
        if self.xy.shape[1] != skeleton.num_joints:
            raise ValueError(
                f"the {self.layout} layout has {skeleton.num_joints} joints but the keypoints have {self.xy.shape[1]}; "
                f"pass the right layout (known: {', '.join(INPUT_LAYOUTS)})"
            )
        if self.frame_ids is None:
            self.frame_ids = np.arange(len(self.xy))

    @property
    def skeleton(self) -> Skeleton:
        return get_skeleton(self.layout)

    @property
    def num_frames(self) -> int:
        return self.xy.shape[0]

    @property
    def num_joints(self) -> int:
        return self.xy.shape[1]

    def missing(self, min_confidence: float = 0.0) -> np.ndarray:
        """``(N, K)`` bool: joints without finite coordinates or with a confidence below ``min_confidence``."""
        finite = np.isfinite(self.xy).all(axis=-1)
        confident = np.nan_to_num(self.confidence, nan=-1.0) >= min_confidence
        return ~(finite & confident)


def _layout_name(layout: str | Skeleton) -> str:
    name = get_skeleton(layout).name
    if name not in INPUT_LAYOUTS:
        raise KeyError(f"unknown keypoint layout {name!r}; known layouts: {', '.join(INPUT_LAYOUTS)}")
    return name


# ----------------------------------------------------------------------------------------------------- loading
def keypoints_from_array(array, layout: str = "coco") -> Keypoints2D:
    """Wrap an array of pixel keypoints.

    ``array`` is ``(N, K, 2)`` (``NaN`` marks a missing joint, every other joint has confidence 1) or ``(N, K, 3)``
    (the third channel is the confidence in [0, 1]); ``K`` must match the layout (17 for ``coco`` and ``h36m``, 15 for
    ``humaneva15``).
    """
    layout = _layout_name(layout)
    try:
        array = np.asarray(array, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"keypoints must be numeric, got {type(array).__name__}: {error}") from None
    expected = get_skeleton(layout).num_joints
    if array.ndim == 2 and array.shape[-1] in (2, 3) and array.shape[0] == expected:
        raise ValueError(
            f"got one frame of keypoints {array.shape}; pass a sequence (frames, {expected}, 2 or 3), "
            f"e.g. array[None] for a single frame (at least {MIN_FRAMES} frames are needed)"
        )
    if array.ndim != 3 or array.shape[-1] not in (2, 3):
        raise ValueError(
            f"keypoints must have shape (frames, joints, 2) or (frames, joints, 3) with a confidence, got {array.shape}"
        )
    if array.shape[1] != expected:
        hint = ", ".join(f"{n} ({get_skeleton(n).num_joints} joints)" for n in INPUT_LAYOUTS)
        raise ValueError(
            f"keypoints have {array.shape[1]} joints but layout {layout!r} has {expected}; "
            f"choose the layout your detector uses (known: {hint})"
        )
    xy = array[..., :2]
    if array.shape[-1] == 3:
        confidence = array[..., 2]
    else:
        confidence = np.isfinite(xy).all(axis=-1).astype(np.float64)
    return Keypoints2D(xy.astype(np.float32), confidence.astype(np.float32), layout)


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
        except _DAMAGED as error:
            raise KeypointFileError(f"{path} cannot be read as a .npy array ({type(error).__name__}: "
                                    f"{_first_line(error)}); write it with np.save(path, keypoints)") from None
        try:
            return keypoints_from_array(array, layout or "coco")
        except ValueError as error:
            raise KeypointFileError(f"{path}: {error}") from None
    if suffix == ".npz":
        return _load_npz(path, layout, entry, allow_pickle)
    raise KeypointFileError(f"cannot read keypoints from {path.name} (in {path.parent}): found a "
                            f"{suffix or 'suffix-less'} file, expected a .json (COCO keypoints), .npy or .npz file; "
                            "convert it to one of those")


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [""])[0][:200]


def _npz_entries(path: Path, allow_pickle: bool, keys=None) -> tuple[list[str], dict]:
    """The entry names and arrays (only ``keys`` when given) of an ``.npz``; damaged: a :class:`KeypointFileError`."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head not in (b"PK\x03\x04", b"PK\x05\x06"):
        found = "an empty file" if not head else f"a file starting with {head!r}"
        raise KeypointFileError(f"{path} is not an .npz archive: found {found}, expected a zip archive (np.savez); "
                                "write it with np.savez(path, keypoints=array)")
    try:
        with np.load(path, allow_pickle=allow_pickle) as archive:
            return list(archive.files), {k: archive[k] for k in archive.files if keys is None or k in keys}
    except _DAMAGED as error:
        raise KeypointFileError(f"{path} is a damaged or truncated .npz archive ({type(error).__name__}: "
                                f"{_first_line(error)}); write it again") from None


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
    elif declared and get_skeleton(declared).name != _layout_name(layout):
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


# ----------------------------------------------------------------------------------------------------- COCO JSON
def read_coco_json(source, layout: str = "coco", *, num_frames: int | None = None) -> Keypoints2D:
    """Read COCO-style keypoint results (one person per frame) from a ``.json`` path or the parsed object.

    Accepted structures (``K`` = 17 for COCO):

    * a list of per-frame results, each a dict with ``"keypoints"`` = ``[x1, y1, c1, x2, y2, c2, ...]`` (``K * 3``
      numbers) or ``[[x, y, c], ...]`` or ``[[x, y], ...]`` plus ``"keypoint_scores"`` (mmpose), and the frame number in
      one of :data:`FRAME_KEYS` (an integer, or a string whose last number is used, e.g. ``"frame_000123.jpg"``);
      without any frame key the list position is the frame;
    * a list of per-frame dicts with several people under ``"instances"`` / ``"people"`` / ``"persons"`` (mmpose,
      OpenPose converted to COCO order; OpenPose's own ``"pose_keypoints_2d"`` is read when it holds ``K * 3``
      numbers), or a list of per-frame lists of people;
    * a COCO results file ``{"annotations": [...], "images": [...]}``: each image (in the order listed) is one frame,
      annotations attach to frames through ``image_id``.

    When a frame has several people, the one with the highest detection score (one of :data:`SCORE_KEYS`) is kept, or
    else the one with the highest mean keypoint confidence. The sequence covers every frame number from the first to
    the last (or ``num_frames`` frames from the first); frames with no result have all joints missing. A keypoint with
    confidence 0 (OpenPose and COCO write ``0, 0, 0`` for "not detected") is missing; COCO ground-truth visibility flags
    (0 = not labelled, 1 = occluded, 2 = visible) therefore work as confidences too.
    """
    layout = _layout_name(layout)
    name = "keypoint JSON"
    if isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"keypoint file {path} not found")
        try:
            source = json.loads(path.read_bytes().decode("utf-8"))
        except UnicodeDecodeError as error:
            raise KeypointFileError(f"{path} is not UTF-8 text (byte {error.start}); a keypoint JSON file is "
                                    "expected: check that this is the detector's .json output") from None
        except json.JSONDecodeError as error:
            raise KeypointFileError(f"{path} is not valid JSON: {error}; write it again or fix that line") from None
        except RecursionError:
            raise KeypointFileError(f"{path} is nested too deeply to be keypoint JSON") from None
        name = str(path)
    num_joints = get_skeleton(layout).num_joints
    frames = _frames_of(source, name)
    people_by_frame: dict[int, list] = {}
    for frame, people in frames:
        people_by_frame.setdefault(frame, []).extend(people)
    if not people_by_frame:
        raise KeypointFileError(f"{name} holds no frames; expected a list with one entry per frame")
    first = min(people_by_frame)
    last = max(people_by_frame)
    if last - first + 1 > MAX_FRAMES:
        raise KeypointFileError(f"{name}: frame numbers run from {first} to {last}, more than {MAX_FRAMES} frames; "
                                "check the frame numbers (or split the file)")
    count = last - first + 1 if num_frames is None else int(num_frames)
    if count < last - first + 1:
        raise ValueError(f"num_frames={num_frames} is shorter than the frames in {name} ({first}..{last})")
    array = np.full((count, num_joints, 3), np.nan)
    array[..., 2] = 0.0
    for frame, people in people_by_frame.items():
        parsed = [_person_keypoints(p, num_joints, name, frame) for p in people]
        parsed = [(score, kp) for score, kp in parsed if kp is not None]
        if parsed:
            array[frame - first] = max(parsed, key=lambda item: item[0])[1]
    keypoints = keypoints_from_array(array, layout)
    keypoints.frame_ids = np.arange(first, first + count)
    return keypoints


def _frame_number(value, name: str) -> int:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    numbers = re.findall(r"\d+", str(value)) if isinstance(value, str) else []
    if not numbers:
        raise KeypointFileError(f"{name}: cannot read a frame number from {value!r}; "
                                f"use integers or names like 'frame_12.jpg'")
    return int(numbers[-1])


def _frames_of(source, name: str) -> list[tuple[int, list]]:
    """``[(frame number, [person, ...]), ...]`` from any accepted JSON structure."""
    if isinstance(source, Mapping) and "annotations" in source:
        annotations = source["annotations"]
        images = source.get("images")
        if not isinstance(annotations, list) or not all(isinstance(a, Mapping) for a in annotations):
            raise KeypointFileError(f"{name}: 'annotations' must be a list of dicts (one per detected person), "
                                    f"got {type(annotations).__name__}")
        if images is not None:
            if not isinstance(images, list) or not all(isinstance(i, Mapping) and "id" in i for i in images):
                raise KeypointFileError(f"{name}: 'images' must be a list of dicts with an 'id' (one per frame), "
                                        f"got {type(images).__name__}")
            try:
                position = {image["id"]: i for i, image in enumerate(images)}
            except TypeError:  # an unhashable id
                raise KeypointFileError(f"{name}: image ids must be numbers or strings") from None
            frames = [(i, []) for i in range(len(images))]
            for ann in annotations:
                if not isinstance(ann.get("image_id"), (int, float, str)) or ann.get("image_id") not in position:
                    raise KeypointFileError(f"{name}: annotation refers to image_id {ann.get('image_id')!r} not in "
                                            "'images'")
                frames[position[ann["image_id"]]][1].append(ann)
            return frames
        source = annotations
    if not isinstance(source, list):
        raise KeypointFileError(
            f"{name}: expected a list of per-frame results or a COCO file with 'annotations', "
            f"got {type(source).__name__}" + (f" with keys {list(source)[:8]}" if isinstance(source, Mapping) else "")
        )
    keyed = [isinstance(e, Mapping) and any(k in e for k in FRAME_KEYS) for e in source]
    if any(keyed) and not all(keyed):
        raise KeypointFileError(f"{name}: some entries have a frame number ({'/'.join(FRAME_KEYS)}) and some do not")
    frames = []
    for position, entry in enumerate(source):
        frame = position
        if keyed[position]:
            key = next(k for k in FRAME_KEYS if k in entry)
            frame = _frame_number(entry[key], name)
        if isinstance(entry, list):
            people = entry
        elif isinstance(entry, Mapping):
            group = next((entry[k] for k in ("instances", "people", "persons") if k in entry), None)
            if group is not None and not isinstance(group, list):
                raise KeypointFileError(f"{name}: entry {position} lists its people as a {type(group).__name__}, "
                                        "expected a list of dicts")
            people = list(group) if group is not None else [entry]
        else:
            raise KeypointFileError(f"{name}: entry {position} is a {type(entry).__name__}, expected a dict or a list")
        frames.append((frame, people))
    if frames and min(f for f, _ in frames) < 0:
        raise KeypointFileError(f"{name}: negative frame numbers; number frames from 0")
    return frames


def _person_keypoints(person, num_joints: int, name: str, frame: int):
    """(score, (K, 3) array) of one detected person, or (score, None) when it carries no keypoints."""
    if not isinstance(person, Mapping):
        raise KeypointFileError(f"{name}, frame {frame}: a person must be a dict with 'keypoints', "
                                f"got {type(person).__name__}")
    raw = person.get("keypoints", person.get("pose_keypoints_2d"))
    if raw is None or (isinstance(raw, list) and len(raw) == 0):
        return -math.inf, None
    try:
        if not isinstance(raw, list) or (isinstance(raw[0], list) and not all(isinstance(r, list) for r in raw)):
            raise TypeError
        values = np.asarray([[np.nan if v is None else _number(v) for v in row] for row in raw]
                            if isinstance(raw[0], list) else [np.nan if v is None else _number(v) for v in raw],
                            dtype=np.float64)
    except (TypeError, ValueError):
        raise KeypointFileError(
            f"{name}, frame {frame}: 'keypoints' is {str(raw)[:80]}, expected numbers [x1, y1, c1, x2, y2, c2, ...] "
            f"or [[x, y, c], ...]; check the detector's output format"
        ) from None
    if values.ndim == 1:
        if values.size != num_joints * 3:
            raise KeypointFileError(
                f"{name}, frame {frame}: 'keypoints' has {values.size} numbers, expected {num_joints} x 3 = "
                f"{num_joints * 3} ([x, y, confidence] per joint"
                + (f"; it looks like {values.size // 3} joints: convert to COCO-17 order first)" if values.size % 3 == 0
                   else ")")
            )
        values = values.reshape(num_joints, 3)
    elif values.shape == (num_joints, 2):
        scores = person.get("keypoint_scores")
        if scores is None:
            scores = np.isfinite(values).all(axis=-1).astype(np.float64)
        try:
            scores = np.asarray([_number(v) for v in scores], dtype=np.float64).reshape(num_joints, 1)
        except (TypeError, ValueError):
            raise KeypointFileError(f"{name}, frame {frame}: 'keypoint_scores' is {str(scores)[:80]}, expected "
                                    f"{num_joints} numbers") from None
        values = np.concatenate((values, scores), axis=-1)
    elif values.shape != (num_joints, 3):
        raise KeypointFileError(f"{name}, frame {frame}: 'keypoints' has shape {values.shape}, expected "
                                f"({num_joints}, 3)")
    missing = ~(values[:, 2] > 0)
    values[missing, :2] = np.nan
    values[missing, 2] = 0.0
    try:
        score = next((_number(person[k]) for k in SCORE_KEYS if person.get(k) is not None), None)
    except (TypeError, ValueError):
        raise KeypointFileError(f"{name}, frame {frame}: the detection score must be a number, got "
                                f"{next(person[k] for k in SCORE_KEYS if person.get(k) is not None)!r}") from None
    if score is None:
        score = float(values[:, 2].mean())
    return score, values


def _number(value) -> float:
    """A JSON number as a float; anything else (a string, a list, ``True``) raises ``TypeError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"not a number: {value!r}")
    return float(value)


def write_coco_json(path, keypoints, *, overwrite: bool = False) -> Path:
    """Write keypoints as a COCO-style results list (what many detectors emit), readable by :func:`read_coco_json`.

    ``keypoints`` is a :class:`Keypoints2D` or an array ``(N, 17, 2|3)``. Each frame with at least one detected joint
    becomes ``{"image_id": frame, "category_id": 1, "keypoints": [x1, y1, c1, ...], "score": mean confidence}``;
    missing joints are written as ``0, 0, 0`` and frames without any joint are left out. The file is written atomically
    and an existing file is kept unless ``overwrite``.
    """
    from .io import atomic_write

    if not isinstance(keypoints, Keypoints2D):
        keypoints = keypoints_from_array(keypoints, "coco")
    path = Path(path).expanduser()
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; choose another name or pass overwrite=True")
    missing = keypoints.missing(0.0) | (keypoints.confidence <= 0)
    results = []
    for index, frame in enumerate(keypoints.frame_ids):
        if missing[index].all():
            continue
        values = np.concatenate((keypoints.xy[index], keypoints.confidence[index, :, None]), axis=-1)
        values[missing[index]] = 0.0
        results.append({"image_id": int(frame), "category_id": 1,
                        "keypoints": [round(float(v), 3) for v in values.ravel()],
                        "score": round(float(values[:, 2].mean()), 4)})
    try:
        with atomic_write(path, "w") as handle:
            json.dump(results, handle)
    except OSError as err:
        raise write_error(path, "keypoint file", err) from err
    return path


# ----------------------------------------------------------------------------------------------------- conversion
def _coco_to_h36m_weights() -> dict[str, dict[str, float]]:
    """Each Human3.6M joint as a weighted sum of COCO joints (the table of the module docstring)."""
    mid_hips = {"LHip": 0.5, "RHip": 0.5}
    thorax = {"LShoulder": 0.5, "RShoulder": 0.5}
    eyes = 0.5 * (1.0 + HEAD_EXTENSION)
    rows = {
        "Hip": mid_hips,
        "Spine": {k: 0.5 * v for k, v in {**mid_hips, **thorax}.items()},
        "Thorax": thorax,
        "Neck": {"Nose": 1.0},
        "Head": {"LEye": eyes, "REye": eyes, **{k: -HEAD_EXTENSION * v for k, v in thorax.items()}},
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


def conversion_matrix(source: str | Skeleton, target: str | Skeleton) -> np.ndarray:
    """``(K_target, K_source)`` weights: ``target_joints = W @ source_joints`` (every row sums to 1).

    Supported: ``coco -> h36m`` (module docstring), ``h36m -> humaneva15`` (pelvis = hip, ankles = feet, the rest by
    name), ``coco -> humaneva15`` (the two composed) and any layout to itself (identity).
    """
    source, target = get_skeleton(source), get_skeleton(target)
    if source.name == target.name:
        return np.eye(source.num_joints)
    coco_h36m = _matrix(_coco_to_h36m_weights(), COCO_17, H36M_17)
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


def convert_layout(keypoints: Keypoints2D, target: str | Skeleton = "h36m") -> Keypoints2D:
    """Re-express a sequence in another joint layout with :func:`conversion_matrix`.

    Derived joints take the **minimum** confidence of their sources; a derived joint is missing (``NaN``) when any of
    its sources is.
    """
    target = get_skeleton(target)
    matrix = conversion_matrix(keypoints.layout, target)
    uses = _uses(matrix)
    source_xy = keypoints.xy.astype(np.float64)
    finite = np.isfinite(source_xy).all(axis=-1)
    xy = np.einsum("ts,nsc->ntc", matrix, np.where(finite[..., None], source_xy, 0.0))
    xy[(~finite[:, None, :] & uses[None]).any(axis=-1)] = np.nan
    confidence = np.where(uses[None], keypoints.confidence[:, None, :], np.inf).min(axis=-1)
    return Keypoints2D(xy.astype(np.float32), confidence.astype(np.float32), target.name,
                       frame_ids=keypoints.frame_ids, image_size=keypoints.image_size)


def converted_mask(mask: np.ndarray, source: str | Skeleton, target: str | Skeleton) -> np.ndarray:
    """A per-joint boolean ``(N, K_source)`` mask in the target layout: true where any source joint is true."""
    uses = _uses(conversion_matrix(source, target))
    return (mask[:, None, :] & uses[None]).any(axis=-1)


# ----------------------------------------------------------------------------------------------------- filling
@dataclass
class FillReport:
    """How many joints :func:`fill_missing` replaced, per joint of the filled layout."""

    layout: str
    num_frames: int
    min_confidence: float
    filled_per_joint: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.filled_per_joint.values())

    @property
    def fraction(self) -> float:
        """Filled share of all (frame, joint) entries that were checked."""
        checked = self.num_frames * max(1, len(self.filled_per_joint))
        return self.total / checked

    def __str__(self) -> str:
        lines = [f"filled {self.total} of {self.num_frames} x {len(self.filled_per_joint)} joint positions "
                 f"({100 * self.fraction:.1f} %) below confidence {self.min_confidence:g} or missing"]
        lines += [f"  {name:<10} {count:6d} frames" for name, count in self.filled_per_joint.items() if count]
        return "\n".join(lines)


def fill_missing(keypoints: Keypoints2D, min_confidence: float = 0.3, joints: SequenceOf[int] | None = None
                 ) -> tuple[Keypoints2D, np.ndarray, FillReport]:
    """Replace missing / low-confidence joints by linear interpolation in time, joint by joint.

    A joint is missing in a frame when its coordinates are not finite or its confidence is below ``min_confidence``.
    Between two confident frames ``a < f < b`` the value is ``x_a + (f - a) / (b - a) (x_b - x_a)``; before the first
    (after the last) confident frame the first (last) confident value is held. Only ``joints`` are checked (default:
    all). Returns the filled keypoints (filled entries keep their original confidence), the ``(N, K)`` mask of filled
    entries and a :class:`FillReport`.

    Raises ``ValueError`` when a checked joint is never confident (the error names it), when a joint has non-finite
    coordinates but a confidence at or above the threshold (a broken file), or for fewer than :data:`MIN_FRAMES` frames.
    """
    if not 0.0 <= min_confidence <= 1.0 or not math.isfinite(min_confidence):
        raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
    n = keypoints.num_frames
    if n < MIN_FRAMES:
        raise ValueError(
            f"the sequence has {n} frame(s); at least {MIN_FRAMES} are needed (the model is temporal; for a single "
            f"image, repeat it with np.repeat(keypoints, 2, axis=0), knowing that the model then sees a frozen pose)"
        )
    skeleton = keypoints.skeleton
    joints = list(range(keypoints.num_joints)) if joints is None else list(joints)
    finite = np.isfinite(keypoints.xy).all(axis=-1)
    confident = np.nan_to_num(keypoints.confidence, nan=-1.0) >= min_confidence
    broken = ~finite & confident & (keypoints.confidence > 0)
    broken[:, [j for j in range(keypoints.num_joints) if j not in joints]] = False
    if broken.any():
        frame, joint = np.argwhere(broken)[0]
        raise ValueError(
            f"{int(broken.sum())} joint position(s) have NaN/inf coordinates but a confidence >= {min_confidence}, "
            f"first {skeleton.joint_names[joint]} in frame {int(keypoints.frame_ids[frame])}: set their confidence "
            f"to 0 to mark them missing"
        )
    missing = ~(finite & confident)
    xy = keypoints.xy.astype(np.float64).copy()
    filled = np.zeros_like(missing)
    report = FillReport(skeleton.name, n, float(min_confidence))
    frames = np.arange(n)
    for j in joints:
        gaps = missing[:, j]
        if gaps.all():
            raise ValueError(
                f"joint {skeleton.joint_names[j]} ({skeleton.name} index {j}) is missing or below confidence "
                f"{min_confidence:g} in all {n} frames, so it cannot be filled; lower min_confidence, or check the "
                f"layout (got {skeleton.name!r}; known: {', '.join(INPUT_LAYOUTS)})"
            )
        if gaps.any():
            for axis in range(2):
                xy[gaps, j, axis] = np.interp(frames[gaps], frames[~gaps], xy[~gaps, j, axis])
            filled[:, j] = gaps
        report.filled_per_joint[skeleton.joint_names[j]] = int(gaps.sum())
    out = Keypoints2D(xy.astype(np.float32), keypoints.confidence.copy(), keypoints.layout,
                      frame_ids=keypoints.frame_ids, image_size=keypoints.image_size)
    return out, filled, report


# ----------------------------------------------------------------------------------------------------- normalising
def check_image_size(width, height) -> tuple[int, int]:
    """Validate an image size in pixels; returns ``(width, height)`` as ints."""
    values = []
    for label, value in (("width", width), ("height", height)):
        if value is None:
            raise ValueError(f"image {label} is missing: pass the size in pixels of the frames the keypoints come from")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"image {label} must be a number of pixels, got {value!r}") from None
        if not math.isfinite(number) or number < 1 or not number.is_integer():
            raise ValueError(f"image {label} must be a positive whole number of pixels, got {value!r}")
        values.append(int(number))
    return values[0], values[1]


def normalize_keypoints(xy_pixels, width, height) -> np.ndarray:
    """Pixels to normalised screen coordinates ``X / w * 2 - [1, h / w]`` (x in [-1, 1], y in [-h/w, h/w])."""
    width, height = check_image_size(width, height)
    return geometry.normalize_screen_coordinates(np.asarray(xy_pixels, dtype=np.float32), width, height)


def pixels_from_normalized(xy_normalized, width, height) -> np.ndarray:
    """Inverse of :func:`normalize_keypoints`."""
    width, height = check_image_size(width, height)
    return geometry.image_coordinates(np.asarray(xy_normalized, dtype=np.float32), width, height)


@lru_cache(maxsize=1)
def _h36m_focal_per_width() -> float:
    """Mean focal length of the four Human3.6M cameras divided by their image width (about 1.147)."""
    from .cameras import h36m_cameras

    cams = next(iter(h36m_cameras().values()))
    return float(np.mean([np.mean(c.focal_length) / c.res_w for c in cams]))


def default_intrinsics(width, height) -> np.ndarray:
    """The 9-number camera vector for an unknown camera.

    Focal length: the Human3.6M cameras' mean focal length scaled to this image width,
    :math:`f = 1.147\\,w` pixels (a horizontal field of view of about 47 degrees), principal point at the image centre
    (normalised ``(0, 0)``), no lens distortion: ``[2 f / w, 2 f / w, 0, 0, 0, 0, 0, 0, 0]``.
    """
    width, height = check_image_size(width, height)
    focal = _h36m_focal_per_width() * width
    return camera_intrinsics(width, height, [focal, focal, width / 2.0, height / 2.0])


def camera_intrinsics(width, height, intrinsics=None) -> np.ndarray:
    """The normalised 9-number vector ``[fx/w*2, fy/w*2, cx_n, cy_n, k1, k2, k3, p1, p2]`` of a camera.

    ``intrinsics`` may be ``None`` (:func:`default_intrinsics`), an :class:`ehfusion.cameras.Camera`, a dict with
    ``focal_length`` (one number or ``[fx, fy]``) and optionally ``center``, ``radial_distortion``,
    ``tangential_distortion`` (pixels, Human3.6M model), or pixel numbers ``[fx, fy, cx, cy]`` /
    ``[fx, fy, cx, cy, k1, k2, k3, p1, p2]``.
    """
    width, height = check_image_size(width, height)
    if intrinsics is None:
        return default_intrinsics(width, height)
    if hasattr(intrinsics, "intrinsics_pixels"):
        if (intrinsics.res_w, intrinsics.res_h) != (width, height):
            raise ValueError(f"camera {intrinsics.id} has images of {intrinsics.res_w}x{intrinsics.res_h}, "
                             f"not {width}x{height}")
        intrinsics = intrinsics.intrinsics_pixels
    if isinstance(intrinsics, Mapping):
        focal = np.broadcast_to(np.asarray(intrinsics["focal_length"], dtype=np.float64), (2,))
        centre = intrinsics.get("center", (width / 2.0, height / 2.0))
        radial = intrinsics.get("radial_distortion", (0.0, 0.0, 0.0))
        tangential = intrinsics.get("tangential_distortion", (0.0, 0.0))
        intrinsics = np.concatenate((focal, centre, radial, tangential))
    values = np.asarray(intrinsics, dtype=np.float64).ravel()
    if values.size == 4:
        values = np.concatenate((values, np.zeros(5)))
    if values.size != 9 or not np.isfinite(values).all():
        raise ValueError(
            f"intrinsics must be [fx, fy, cx, cy] or [fx, fy, cx, cy, k1, k2, k3, p1, p2] in pixels, got {intrinsics!r}"
        )
    if (values[:2] <= 0).any():
        raise ValueError(f"focal lengths must be positive pixels, got fx={values[0]}, fy={values[1]}")
    centre = geometry.normalize_screen_coordinates(values[2:4], width, height)
    return np.concatenate((values[:2] / width * 2, centre, values[4:])).astype(np.float32)


# ----------------------------------------------------------------------------------------------------- pipeline
@dataclass
class PreparedKeypoints:
    """Keypoints ready for a lifter: target layout, gaps filled, normalised, with a camera vector."""

    keypoints_px: np.ndarray  # (N, J, 2) pixels, target layout, filled
    keypoints: np.ndarray  # (N, J, 2) normalised screen coordinates
    confidence: np.ndarray  # (N, J) the original confidence (derived joints: min of their sources)
    filled: np.ndarray  # (N, J) bool: the joint was filled (or made from a filled source joint)
    intrinsics: np.ndarray  # (9,)
    width: int
    height: int
    layout: str
    source_layout: str
    report: FillReport
    frame_ids: np.ndarray

    @property
    def num_frames(self) -> int:
        return len(self.keypoints)

    def to_sequence(self, subject: str = "user", action: str = "keypoints", fps: float = 50.0):
        """An :class:`ehfusion.data.Sequence` without 3D (for :func:`ehfusion.evaluation.predict_sequence`)."""
        from .data.sequence import Sequence

        return Sequence(subject=subject, action=action, camera=0, keypoints_2d=self.keypoints, poses_3d=None,
                        trajectory=None, intrinsics=self.intrinsics, fps=fps)


def _check_pixel_range(keypoints: Keypoints2D, width: int, height: int, min_confidence: float) -> None:
    valid = ~keypoints.missing(min_confidence)
    if not valid.any():
        return
    xy = keypoints.xy[valid]
    if max(width, height) > 8 and np.abs(xy).max() <= 1.5:
        raise ValueError(
            "the keypoints all lie within [-1.5, 1.5]: they look normalised already, but pixels are expected; "
            "convert them back with pixels_from_normalized(xy, width, height)"
        )
    inside = ((xy[:, 0] >= -0.5 * width) & (xy[:, 0] <= 1.5 * width)
              & (xy[:, 1] >= -0.5 * height) & (xy[:, 1] <= 1.5 * height))
    if inside.mean() < 0.5:
        raise ValueError(
            f"most keypoints lie far outside a {width}x{height} image (x in [{xy[:, 0].min():.0f}, "
            f"{xy[:, 0].max():.0f}], y in [{xy[:, 1].min():.0f}, {xy[:, 1].max():.0f}] pixels): check the image size "
            f"(width first, then height) and that the keypoints are pixels of that image"
        )


def prepare_keypoints(source, width=None, height=None, *, layout: str | None = "coco", target: str = "h36m",
                      min_confidence: float = 0.3, intrinsics=None, receptive_field: int | None = None,
                      **load_options: Any) -> PreparedKeypoints:
    """Load, fill, convert and normalise one person's keypoints (the whole pipeline of this module).

    ``source`` is anything :func:`load_keypoints` accepts, or a :class:`Keypoints2D`. ``width``/``height`` are the image
    size in pixels (taken from a VideoPose3D custom file when omitted). Gaps are filled in the *source* layout, only for
    the joints the conversion uses (COCO ears, for example, are never needed), so a derived joint loses nothing when
    just one of its sources was missing. With ``receptive_field``, a sequence shorter than it triggers a warning: its
    windows are padded by repeating the first and last frames.
    """
    keypoints = source if isinstance(source, Keypoints2D) else load_keypoints(source, layout, **load_options)
    if width is None and height is None and keypoints.image_size is not None:
        width, height = keypoints.image_size
    width, height = check_image_size(width, height)
    target_skeleton = get_skeleton(target)
    matrix = conversion_matrix(keypoints.layout, target_skeleton)
    used = np.flatnonzero(_uses(matrix).any(axis=0))
    if keypoints.num_frames >= MIN_FRAMES:
        _check_pixel_range(keypoints, width, height, min_confidence)
    filled_source, filled_mask, report = fill_missing(keypoints, min_confidence, joints=used)
    converted = convert_layout(filled_source, target_skeleton)
    filled = converted_mask(filled_mask, keypoints.layout, target_skeleton)
    if receptive_field is not None and keypoints.num_frames < receptive_field:
        warnings.warn(
            f"the sequence has {keypoints.num_frames} frames, fewer than the model's receptive field of "
            f"{receptive_field}: its windows are padded by repeating the first and last frames, which lowers accuracy",
            stacklevel=2,
        )
    return PreparedKeypoints(
        keypoints_px=converted.xy,
        keypoints=normalize_keypoints(converted.xy, width, height),
        confidence=converted.confidence,
        filled=filled,
        intrinsics=camera_intrinsics(width, height, intrinsics),
        width=width,
        height=height,
        layout=target_skeleton.name,
        source_layout=keypoints.layout,
        report=report,
        frame_ids=np.asarray(keypoints.frame_ids),
    )
