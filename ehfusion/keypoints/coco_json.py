"""COCO-style keypoint JSON (what most 2D detectors write): :func:`read_coco_json` and :func:`write_coco_json`."""
from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import KeypointFileError, write_error
from ..io import atomic_write
from ..skeleton import get_skeleton
from .keypoints2d import Keypoints2D, check_input_layout, keypoints_from_array

__all__ = ["FRAME_KEYS", "SCORE_KEYS", "MAX_FRAMES", "read_coco_json", "write_coco_json"]

#: Keys of a per-frame JSON entry that may hold its frame number, in the order they are tried.
FRAME_KEYS = ("frame_index", "frame_id", "frame", "image_id", "idx")

#: Keys of a per-person JSON entry that may hold its detection score, in the order they are tried.
SCORE_KEYS = ("score", "bbox_score", "person_score")

#: Most frames a keypoint file may span (first to last frame number): about 5.5 hours at 50 fps.
MAX_FRAMES = 1_000_000


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
    layout = check_input_layout(layout)
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
