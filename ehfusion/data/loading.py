"""Read VideoPose3D-format pose files into a :class:`PoseDataset` of per-camera :class:`Sequence` objects.

Files (in ``data_dir``, default :data:`ehfusion.paths.DATA_DIR`):

* ``data_3d_<name>.npz`` with ``positions_3d[subject][action]`` (N, J, 3) world coordinates in metres;
* ``data_2d_<name>_<keypoints>.npz`` with ``positions_2d[subject][action]`` = list over cameras of (N, K, 2) pixels
  (or (N, K, 3) with a detector confidence, which is dropped) and ``metadata``.

Keypoints in another layout than the dataset's (HumanEva-I's ``detectron_pt_coco`` file is COCO, its 3D is
``humaneva15``) are converted with :func:`ehfusion.keypoints.conversion_matrix` when that pair is supported. A camera
that has no video is ``None`` in VideoPose3D's detector files: that view is left out (with one warning).

.. warning::
   These files store pickled Python objects and are read with ``np.load(..., allow_pickle=True)``. Unpickling can run
   arbitrary code: only load files you trust (your own, the ones built here, or ones from the dataset authors).

Each dataset is a registered :class:`DatasetSpec` (layout, frame rate, camera set, subject splits, where the files
come from), so adding one is adding a spec, not another branch.
"""
from __future__ import annotations

import errno
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Mapping
from typing import Callable, Iterable

import numpy as np

from ehfusion import paths
from ehfusion.errors import DataFileError, write_error
from ehfusion.io import read_npz
from ehfusion.cameras import Camera, get_cameras
from ehfusion.data.sequence import Sequence
from ehfusion.data import splits
from ehfusion.keypoints import conversion_matrix
from ehfusion.skeleton import H36M_17, H36M_32_TO_17, HUMANEVA_15, Skeleton, get_skeleton

__all__ = [
    "Sequence",
    "PoseDataset",
    "DatasetSpec",
    "DATASETS",
    "register_dataset",
    "dataset_spec",
    "load_dataset",
    "load_positions_3d",
    "load_positions_2d",
    "select_actions",
]

# ----------------------------------------------------------------------------------------------------- records
@dataclass(frozen=True)
class DatasetSpec:
    """What ehfusion needs to know about one dataset in VideoPose3D format."""

    name: str  # files are data_3d_<name>.npz and data_2d_<name>_<keypoints>.npz
    skeleton: Skeleton
    fps: float
    camera_source: str  # a name for ehfusion.cameras.get_cameras
    train_subjects: tuple[str, ...]
    test_subjects: tuple[str, ...]
    validation_subjects: tuple[str, ...]
    how_to_get: str  # shown when the files are missing
    unseen_motions: tuple[str, ...] = ()  # clips held out of training in the unseen-motion split (none: no such split)
    raw_joint_maps: dict[int, tuple[int, ...]] = field(default_factory=dict)  # joints in file -> kept indices
    keypoint_sources: tuple[str, ...] | None = None  # fixed choices (None: whatever 2D files exist)
    prepare_2d: Callable[[Path, str], Path | None] | None = None  # creates derived 2D files; returns their folder
    camera_subject: Callable[[str], str] = field(default=lambda subject: subject)  # file subject -> camera subject

    def path_3d(self, data_dir: Path) -> Path:
        return data_dir / f"data_3d_{self.name}.npz"

    def path_2d(self, data_dir: Path, keypoints: str) -> Path:
        return data_dir / f"data_2d_{self.name}_{keypoints}.npz"

    def available_keypoints(self, data_dir: Path) -> list[str]:
        """Keypoint sources that can be loaded: the fixed choices, or those with a file in ``data_dir``."""
        if self.keypoint_sources is not None:
            return list(self.keypoint_sources)
        prefix = f"data_2d_{self.name}_"
        return sorted(p.name[len(prefix):-len(".npz")] for p in data_dir.glob(f"{prefix}*.npz"))


DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add a dataset to :data:`DATASETS` (replacing one of the same name)."""
    DATASETS[spec.name] = spec
    return spec


def dataset_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}") from None


#: ``errno`` values of a write refused because the folder is read-only (the derived files then go to the cache).
_READ_ONLY = (errno.EACCES, errno.EPERM, errno.EROFS)


def _prepare_embedded_2d(data_dir: Path, keypoints: str) -> Path:
    """Derive the 2D file beside the 3D file; if the data folder refuses the write, in :data:`paths.CACHE_DIR`."""
    from ehfusion.data.embedded import ensure_embedded_2d

    name = f"data_2d_embedded_{keypoints}.npz"
    try:
        ensure_embedded_2d(data_dir, keypoints)
        return data_dir
    except OSError as err:
        if err.errno not in _READ_ONLY:
            raise write_error(data_dir / name, "the derived 2D file", err) from err
        reason = err.strerror or str(err)
    cache = paths.CACHE_DIR
    warnings.warn(
        f"the data folder {data_dir} is read-only ({reason}), so the derived 2D file {name} goes to the cache "
        f"folder {cache} instead (set EHFUSION_CACHE_DIR to choose another)",
        stacklevel=3,
    )
    try:
        ensure_embedded_2d(data_dir, keypoints, out_dir=cache)
    except OSError as err:
        raise write_error(cache / name, "the derived 2D file", err,
                          fix="make the data folder writable or set EHFUSION_CACHE_DIR to a writable folder") from err
    return cache


register_dataset(
    DatasetSpec(
        name="embedded",
        skeleton=H36M_17,
        fps=50.0,
        camera_source="h36m",
        train_subjects=splits.EMBEDDED_TRAIN_SUBJECTS,
        test_subjects=splits.EMBEDDED_TEST_SUBJECTS,
        validation_subjects=splits.EMBEDDED_VALIDATION_SUBJECTS,
        how_to_get="it ships with the repository as data/data_3d_embedded.npz; rebuild it with "
        "`python -m ehfusion.data.embedded --out data/` (needs `pip install pybullet==3.2.7`)",
        keypoint_sources=("gt", "det"),
        prepare_2d=_prepare_embedded_2d,
        unseen_motions=splits.EMBEDDED_UNSEEN_MOTIONS,
    )
)
register_dataset(
    DatasetSpec(
        name="h36m",
        skeleton=H36M_17,
        fps=50.0,
        camera_source="h36m",
        train_subjects=splits.H36M_TRAIN_SUBJECTS,
        test_subjects=splits.H36M_TEST_SUBJECTS,
        validation_subjects=splits.H36M_VALIDATION_SUBJECTS,
        how_to_get="Human3.6M is licensed: prepare data_3d_h36m.npz and data_2d_h36m_<keypoints>.npz as in "
        "VideoPose3D's DATASETS.md and put them in the data folder (or point EHFUSION_DATA_DIR at theirs)",
        raw_joint_maps={32: H36M_32_TO_17},
    )
)
register_dataset(
    DatasetSpec(
        name="humaneva15",
        skeleton=HUMANEVA_15,
        fps=60.0,
        camera_source="humaneva",
        train_subjects=splits.HUMANEVA_TRAIN_SUBJECTS,
        test_subjects=splits.HUMANEVA_TEST_SUBJECTS,
        validation_subjects=splits.HUMANEVA_VALIDATION_SUBJECTS,
        how_to_get="HumanEva-I is licensed: prepare data_3d_humaneva15.npz and data_2d_humaneva15_<keypoints>.npz "
        "as in VideoPose3D's DATASETS.md and put them in the data folder (or point EHFUSION_DATA_DIR at theirs)",
        camera_subject=lambda subject: subject.split("/")[-1],  # 'Train/S1' -> 'S1'

    )
)


# ----------------------------------------------------------------------------------------------------- file readers
def _load_pickled(path: Path, key: str, what: str) -> dict:
    """Every entry of a VideoPose3D ``.npz`` (0-d object arrays unwrapped); :class:`DataFileError` if unreadable."""
    files, content = read_npz(path, DataFileError, "re-create it (or download it again)", allow_pickle=True)
    if key not in files:
        raise DataFileError(f"{path} is not a VideoPose3D {what} file: it has no {key!r} entry (found {files}); "
                            f"write it with np.savez_compressed(path, {key}=...)")
    return {k: v.item() if v.dtype == object and v.shape == () else v for k, v in content.items()}


def _found(value) -> str:
    """What a value is, for messages: ``an array of shape (10,)`` or ``a value of type int``."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    return f"a value of type {type(value).__name__}"


def _expect_mapping(value, path: Path, where: str, expected: str, allow_empty: bool = True) -> Mapping:
    """``value`` if it is a dict with string keys, else a :class:`DataFileError` saying what was found."""
    if not isinstance(value, Mapping):
        raise DataFileError(f"{path}: {where} is {_found(value)}, expected {expected} (the VideoPose3D layout); "
                            f"re-create the file in that layout")
    bad = [k for k in value if not isinstance(k, str)]
    if bad:
        raise DataFileError(f"{path}: {where} has key {bad[0]!r} ({type(bad[0]).__name__}), expected string keys "
                            f"(subject and action names); re-create the file in the VideoPose3D layout")
    if not value and not allow_empty:
        raise DataFileError(f"{path}: {where} is empty, expected {expected}; re-create the file")
    return value


def _numeric_array(value, path: Path, where: str) -> np.ndarray:
    """``value`` as an array of numbers, else a :class:`DataFileError` naming ``where``."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):  # ragged nested lists
        array = None
    if array is None or array.dtype.kind not in "iuf":
        found = type(value).__name__ if array is None else f"{array.dtype} values of shape {array.shape}"
        raise DataFileError(f"{path}: {where} holds {found}, expected an array of numbers; re-create the file")
    return array


def load_positions_3d(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """``positions_3d`` of a VideoPose3D 3D file (pickle: only for trusted files).

    Raises :class:`ehfusion.errors.DataFileError` for a damaged file or one without ``{subject: {action: array}}``.
    """
    path = Path(path)
    positions = _load_pickled(path, "positions_3d", "3D")["positions_3d"]
    expected = "a dict {subject: {action: (frames, joints, 3) array}}"
    for subject, actions in _expect_mapping(positions, path, "positions_3d", expected, allow_empty=False).items():
        _expect_mapping(actions, path, f"positions_3d[{subject!r}]", "a dict {action: (frames, joints, 3) array}")
    return positions


def load_positions_2d(path: str | Path) -> tuple[dict[str, dict[str, list[np.ndarray]]], dict]:
    """``positions_2d`` and ``metadata`` of a VideoPose3D 2D file (pickle: only for trusted files).

    Raises :class:`ehfusion.errors.DataFileError` for a damaged file or one without
    ``{subject: {action: [array per camera]}}`` and a metadata dict.
    """
    path = Path(path)
    content = _load_pickled(path, "positions_2d", "2D")
    positions = content["positions_2d"]
    expected = "a dict {subject: {action: [(frames, joints, 2) array per camera]}}"
    for subject, actions in _expect_mapping(positions, path, "positions_2d", expected).items():
        _expect_mapping(actions, path, f"positions_2d[{subject!r}]", "a dict {action: [array per camera]}")
    metadata = content.get("metadata", {})
    if not isinstance(metadata, Mapping):
        raise DataFileError(f"{path}: metadata is {_found(metadata)}, expected a dict (e.g. "
                            "{'layout_name': 'h36m', 'num_joints': 17}); re-create the file or drop its metadata")
    return positions, metadata


def _natural_key(text: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _first_bad_frame(array: np.ndarray) -> int | None:
    bad = ~np.isfinite(array).reshape(len(array), -1).all(axis=1)
    return int(np.argmax(bad)) if bad.any() else None


# ----------------------------------------------------------------------------------------------------- dataset
class PoseDataset:
    """A dataset in memory: world 3D poses, 2D keypoints in pixels and the cameras, per subject and action.

    Build it with :func:`load_dataset`. :meth:`sequences` turns it into per-camera :class:`Sequence` objects.
    ``metadata`` describes the 2D keypoints as loaded (after a layout conversion it names the dataset's layout and
    ``converted_from`` the file's).
    """

    def __init__(
        self,
        spec: DatasetSpec,
        keypoints: str,
        positions_3d: dict[str, dict[str, np.ndarray]],
        positions_2d: dict[str, dict[str, list[np.ndarray]]],
        cameras: dict[str, list[Camera]],
        metadata: dict | None = None,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.keypoints = keypoints
        self.skeleton = spec.skeleton
        self.fps = spec.fps
        self.cameras = cameras
        self.metadata = metadata or {}
        self._positions_3d = positions_3d
        self._positions_2d = positions_2d

    def __repr__(self) -> str:
        n = sum(len(a) for a in self._positions_3d.values())
        return (
            f"PoseDataset({self.name!r}, keypoints={self.keypoints!r}, {len(self.subjects)} subjects, "
            f"{n} subject/action pairs, {self.num_frames()} frames, {self.skeleton.num_joints} joints, {self.fps} fps)"
        )

    @property
    def subjects(self) -> list[str]:
        """Subjects present in the files, naturally sorted (S1, S5, ..., S9, S11)."""
        return sorted(self._positions_3d, key=_natural_key)

    def actions(self, subject: str) -> list[str]:
        """Sorted action names of ``subject``."""
        return sorted(self._require_subject(subject))

    def num_frames(self, subjects: Iterable[str] | None = None) -> int:
        """Number of 3D frames (each seen by the subject's cameras)."""
        subjects = self.subjects if subjects is None else subjects
        return int(sum(len(p) for s in subjects for p in self._require_subject(s).values()))

    def positions_world(self, subject: str, action: str) -> np.ndarray:
        """World 3D poses (N, J, 3), metres."""
        return self._require_action(subject, action)

    def keypoints_pixels(self, subject: str, action: str, camera: int) -> np.ndarray:
        """2D keypoints (N, J, 2) in pixels of one camera, trimmed to the 3D length."""
        return self._require_view(subject, action, camera)

    def available_cameras(self, subject: str, action: str) -> list[int]:
        """Indices of the cameras with 2D keypoints for ``subject``/``action`` (a camera without video has none)."""
        self._require_action(subject, action)
        return [i for i, view in enumerate(self._positions_2d[subject][action]) if view is not None]

    def split_subjects(self, split: str) -> tuple[str, ...]:
        """Subjects of ``'train'``, ``'test'`` or ``'validation'`` for this dataset."""
        splits = {
            "train": self.spec.train_subjects,
            "test": self.spec.test_subjects,
            "validation": self.spec.validation_subjects,
        }
        try:
            return splits[split]
        except KeyError:
            raise KeyError(f"unknown split {split!r}; choose one of {', '.join(splits)}") from None

    def sequences(
        self,
        subjects: Iterable[str] | None = None,
        actions: Iterable[str] | None = None,
        cameras: Iterable[int] | None = None,
    ) -> list[Sequence]:
        """Per-camera sequences of the chosen subjects (default all), actions and camera indices.

        Actions are selected as by :func:`select_actions`: an entry of ``actions`` names an action in full
        (``'Walking 1'``), by its base name (the first word: ``'Walking'`` selects ``'Walking'`` and ``'Walking 1'``
        but never ``'WalkDog'``), or, when nothing has that exact name, by an unambiguous prefix of the base name
        (``'Walk'`` selects HumanEva-I's ``'Walking 1 chunk0'``, as VideoPose3D's ``-a Walk,Jog,Box`` does).

        With ``cameras=None`` camera views without 2D keypoints (``None`` in the file) are skipped; asking for such a
        camera explicitly is an error.
        """
        subjects = self.subjects if subjects is None else list(subjects)
        selected = None
        if actions is not None:
            selected = select_actions({a for s in subjects for a in self._require_subject(s)}, actions)
        out: list[Sequence] = []
        for subject in subjects:
            for action in self.actions(subject):
                if selected is not None and action not in selected:
                    continue
                indices = self.available_cameras(subject, action) if cameras is None else cameras
                for index in indices:
                    out.append(self.sequence(subject, action, index))
        return out

    def sequence(self, subject: str, action: str, camera: int) -> Sequence:
        """One :class:`Sequence` (2D normalised, 3D root-relative in the camera's coordinates)."""
        world = self._require_action(subject, action)
        index = self._require_camera(subject, camera)
        pixels = self._require_view(subject, action, index)
        cam = self.cameras[subject][index]
        pos_cam = cam.world_to_camera(world).astype(np.float32)
        trajectory = pos_cam[:, self.skeleton.root].copy()
        poses = pos_cam - trajectory[:, None]
        poses[:, self.skeleton.root] = 0.0
        return Sequence(
            subject=subject,
            action=action,
            camera=index,
            keypoints_2d=cam.normalize(pixels).astype(np.float32),
            poses_3d=poses,
            trajectory=trajectory,
            intrinsics=cam.intrinsics,
            fps=self.fps,
        )

    # ------------------------------------------------------------------ lookups with clear errors
    def _require_subject(self, subject: str) -> dict[str, np.ndarray]:
        try:
            return self._positions_3d[subject]
        except KeyError:
            raise KeyError(
                f"dataset {self.name!r} has no subject {subject!r}; subjects: {', '.join(self.subjects)}"
            ) from None

    def _require_action(self, subject: str, action: str) -> np.ndarray:
        actions = self._require_subject(subject)
        try:
            return actions[action]
        except KeyError:
            raise KeyError(
                f"subject {subject} of dataset {self.name!r} has no action {action!r}; "
                f"actions: {', '.join(sorted(actions))}"
            ) from None

    def _require_camera(self, subject: str, camera: int) -> int:
        count = len(self.cameras[subject])
        if not 0 <= int(camera) < count:
            raise IndexError(f"subject {subject} has {count} cameras (indices 0-{count - 1}); got camera {camera}")
        return int(camera)

    def _require_view(self, subject: str, action: str, camera: int) -> np.ndarray:
        self._require_action(subject, action)
        index = self._require_camera(subject, camera)
        view = self._positions_2d[subject][action][index]
        if view is None:
            raise KeyError(
                f"dataset {self.name!r} ({self.keypoints!r} keypoints) has no 2D keypoints for {subject}/{action} "
                f"camera {index} (the file holds None: that camera has no video); cameras with keypoints: "
                f"{self.available_cameras(subject, action)}; leave camera {index} out or pass cameras=None"
            )
        return view


def _base_action(action: str) -> str:
    """``'walk 1'`` -> ``'walk'``; ``'Walking 1 chunk0'`` -> ``'Walking'`` (the first word: no take or chunk)."""
    return action.split(" ")[0]


def select_actions(available: Iterable[str], requested: Iterable[str]) -> set[str]:
    """The names in ``available`` that the ``requested`` names select.

    A requested name selects every action whose full name or base name (the first word, :func:`_base_action`)
    equals it: ``'Walking'`` selects ``'Walking'`` and ``'Walking 1'``, never ``'WalkDog 1'``. Only when no action
    matches exactly is the name taken as a prefix of base names, and that prefix must then point at a single base
    name: ``'Walk'`` selects HumanEva-I's ``'Walking 1 chunk0'`` and ``'Walking 2 chunk1'`` (VideoPose3D's
    ``-a Walk,Jog,Box``), but among Human3.6M's Walking / WalkDog / WalkTogether it is ambiguous.

    Raises ``KeyError`` naming the available base names for a name that matches nothing, and the candidates for an
    ambiguous prefix. Matching is case-sensitive.
    """
    available = set(available)
    bases = sorted({_base_action(a) for a in available}, key=_natural_key)
    selected: set[str] = set()
    unknown: list[str] = []
    ambiguous: list[str] = []
    for name in requested:
        exact = {a for a in available if name in (a, _base_action(a))}
        if exact:
            selected |= exact
            continue
        candidates = [b for b in bases if name and b.startswith(name)]
        if len(candidates) == 1:
            selected |= {a for a in available if _base_action(a) == candidates[0]}
        elif candidates:
            ambiguous.append(f"{name!r} could be {', '.join(candidates)}")
        else:
            unknown.append(name)
    if unknown:
        raise KeyError(
            f"unknown actions {unknown}; known actions (base names): {', '.join(bases)}; name an action in full, "
            f"by its base name or by an unambiguous prefix of one"
        )
    if ambiguous:
        raise KeyError(f"ambiguous action names: {'; '.join(ambiguous)}; write the base name in full")
    return selected


# ----------------------------------------------------------------------------------------------------- validation
def _reduce_3d(spec: DatasetSpec, positions_3d, path: Path) -> dict[str, dict[str, np.ndarray]]:
    """Check layout and values of the 3D poses; reduce raw skeletons (32 joints) to the dataset layout."""
    expected = spec.skeleton.num_joints
    out: dict[str, dict[str, np.ndarray]] = {}
    for subject, actions in positions_3d.items():
        for action, pos in actions.items():
            pos = _numeric_array(pos, path, f"{subject}/{action}").astype(np.float32)
            if pos.ndim != 3 or pos.shape[-1] != 3 or not len(pos):
                raise DataFileError(f"{path}: {subject}/{action} has shape {pos.shape}; expected (frames, joints, 3) "
                                    f"with at least one frame")
            joints = pos.shape[1]
            if joints in spec.raw_joint_maps:
                pos = pos[:, list(spec.raw_joint_maps[joints])]
            elif joints != expected:
                accepted = " or ".join(str(n) for n in [expected, *spec.raw_joint_maps])
                raise DataFileError(
                    f"{path}: {subject}/{action} has {joints} joints but dataset {spec.name!r} (layout "
                    f"{spec.skeleton.name}) needs {accepted}; use a file in the {spec.skeleton.name} layout"
                )
            bad = _first_bad_frame(pos)
            if bad is not None:
                raise DataFileError(
                    f"{path}: 3D poses of {subject}/{action} contain NaN or inf at frame {bad}; "
                    f"repair or drop that sequence"
                )
            out.setdefault(subject, {})[action] = pos
    return out


def _layout_conversion(spec: DatasetSpec, metadata: dict, path: Path) -> tuple[Skeleton, np.ndarray | None]:
    """The layout of the 2D file and the ``(J, K)`` matrix to the dataset's layout (``None``: same layout).

    Checks the metadata (joint count, left/right symmetry) against the file's layout; a layout that
    :func:`ehfusion.keypoints.conversion_matrix` cannot convert to the dataset's is an error.
    """
    target = spec.skeleton
    layout = metadata.get("layout_name")
    source, matrix = target, None
    if layout is not None and not isinstance(layout, str):
        raise DataFileError(f"{path}: metadata layout_name is {layout!r}, expected a layout name such as "
                            f"{target.name!r}; correct or drop that metadata entry")
    if layout is not None and layout != target.name:
        try:
            source = get_skeleton(layout)
            matrix = conversion_matrix(source, target)
        except (KeyError, ValueError):
            raise DataFileError(
                f"{path}: keypoints are in layout {layout!r} but dataset {spec.name!r} needs {target.name!r} "
                f"({target.num_joints} joints: {', '.join(target.joint_names)}), and "
                f"ehfusion.keypoints.conversion_matrix({layout!r}, {target.name!r}) does not support that pair; "
                f"convert them to that joint order first"
            ) from None
    num = metadata.get("num_joints")
    if num is not None and (not isinstance(num, (int, np.integer)) or int(num) != source.num_joints):
        raise DataFileError(f"{path}: metadata says {num!r} joints but layout {source.name!r} has "
                            f"{source.num_joints}; correct or drop the num_joints entry")
    symmetry = metadata.get("keypoints_symmetry")
    if symmetry is not None:
        try:
            left, right = (sorted(int(i) for i in side) for side in symmetry)
        except (TypeError, ValueError):
            raise DataFileError(f"{path}: metadata keypoints_symmetry is {symmetry!r}, expected two lists of joint "
                                f"indices [left, right]; correct or drop that entry") from None
        if (left, right) != (sorted(source.joints_left), sorted(source.joints_right)):
            raise DataFileError(
                f"{path}: keypoints_symmetry {symmetry} does not match layout {source.name!r} "
                f"(left {list(source.joints_left)}, right {list(source.joints_right)}); "
                f"the file uses another joint order"
            )
    return source, matrix


def _loaded_metadata(spec: DatasetSpec, metadata: dict, source: Skeleton) -> dict:
    """The metadata of the keypoints as loaded: the file's, or the dataset's layout after a conversion."""
    if source is spec.skeleton:
        return metadata
    target = spec.skeleton
    return {**metadata, "layout_name": target.name, "num_joints": target.num_joints,
            "keypoints_symmetry": [list(target.joints_left), list(target.joints_right)],
            "converted_from": source.name}


def _match_2d(spec: DatasetSpec, positions_3d, positions_2d, cameras, path_2d: Path,
              source: Skeleton | None = None, conversion: np.ndarray | None = None):
    """Check that 2D covers every 3D subject/action with one entry per camera; trim 2D to the 3D length.

    2D of other subjects (2D-only ones) is ignored. Keypoints in layout ``source`` are converted to the dataset's
    layout with ``conversion`` (``None``: already in it). A ``None`` entry (a camera without video) stays ``None``.
    Returns the checked 2D and the ``subject/action camera i`` names of the ``None`` entries.
    """
    source = source or spec.skeleton
    expected = source.num_joints
    out: dict[str, dict[str, list[np.ndarray | None]]] = {}
    absent: list[str] = []
    for subject, actions in positions_3d.items():
        if subject not in positions_2d:
            raise DataFileError(
                f"{path_2d} has no 2D keypoints for subject {subject} of the 3D file (its subjects: "
                f"{', '.join(sorted(positions_2d, key=_natural_key))}); the 2D and 3D files do not belong together"
            )
        missing = sorted(set(actions) - set(positions_2d[subject]))
        if missing:
            raise DataFileError(
                f"{path_2d} lacks 2D keypoints for subject {subject}, actions {missing} of the 3D file; "
                f"the 2D and 3D files do not belong together"
            )
        n_cams = len(cameras[subject])
        for action, pos in actions.items():
            views = positions_2d[subject][action]
            if not isinstance(views, (list, tuple)):
                raise DataFileError(f"{path_2d}: {subject}/{action} is {_found(views)}, expected a list with one (frames, "
                                    f"joints, 2) array per camera; re-create the file in the VideoPose3D layout")
            if len(views) != n_cams:
                raise DataFileError(
                    f"{path_2d}: {subject}/{action} has {len(views)} camera views but subject {subject} has "
                    f"{n_cams} cameras; the 2D file must list one array per camera, in camera order"
                )
            trimmed = []
            for index, view in enumerate(views):
                if view is None:
                    absent.append(f"{subject}/{action} camera {index}")
                    trimmed.append(None)
                    continue
                view = _numeric_array(view, path_2d, f"{subject}/{action} camera {index}")
                if view.ndim != 3 or view.shape[-1] not in (2, 3):
                    raise DataFileError(
                        f"{path_2d}: {subject}/{action} camera {index} has shape {view.shape}; expected "
                        f"(frames, joints, 2) or (frames, joints, 3) with a confidence"
                    )
                view = view[..., :2]  # drop a detector confidence channel
                if conversion is None and view.shape[1] in spec.raw_joint_maps:
                    view = view[:, list(spec.raw_joint_maps[view.shape[1]])]
                if view.shape[1] != expected:
                    raise DataFileError(
                        f"{path_2d}: {subject}/{action} camera {index} has {view.shape[1]} keypoints but layout "
                        f"{source.name!r} has {expected}; use keypoints in that layout"
                    )
                if conversion is not None:  # only the joints the conversion uses (a NaN ear must not spread)
                    used = np.flatnonzero(conversion.any(axis=0))
                    view = np.einsum("jk,nkc->njc", conversion[:, used], view[:, used].astype(np.float64))
                if len(view) < len(pos):
                    raise DataFileError(
                        f"{path_2d}: {subject}/{action} camera {index} has {len(view)} frames, fewer than the "
                        f"{len(pos)} frames of the 3D sequence; the 2D and 3D files do not belong together"
                    )
                view = np.ascontiguousarray(view[: len(pos)], dtype=np.float32)
                bad = _first_bad_frame(view)
                if bad is not None:
                    raise DataFileError(
                        f"{path_2d}: 2D keypoints of {subject}/{action} camera {index} contain NaN or inf at frame "
                        f"{bad}; fill the gap (e.g. interpolate) or drop that sequence"
                    )
                trimmed.append(view)
            out.setdefault(subject, {})[action] = trimmed
    return out, absent


# ----------------------------------------------------------------------------------------------------- entry point
def load_dataset(name: str = "embedded", keypoints: str = "gt", data_dir: str | Path | None = None) -> PoseDataset:
    """Load a dataset in VideoPose3D format.

    ``name``: ``'embedded'`` (ships with the repository), ``'h36m'`` or ``'humaneva15'`` (bring your own files).
    ``keypoints``: the 2D source, e.g. ``'gt'`` or ``'det'`` for the embedded set, ``'cpn_ft_h36m_dbb'`` for
    Human3.6M, ``'detectron_pt_coco'`` for HumanEva-I (COCO keypoints, converted to ``humaneva15`` with a warning).
    ``data_dir`` defaults to :data:`ehfusion.paths.DATA_DIR`. Camera views that are ``None`` in the 2D file (no video)
    are left out, with one warning naming them.

    The files hold pickles and are read with ``allow_pickle=True``: only load files you trust.
    """
    spec = dataset_spec(name)
    data_dir = Path(data_dir) if data_dir is not None else paths.DATA_DIR
    path_3d = spec.path_3d(data_dir)
    if not path_3d.is_file():
        raise FileNotFoundError(f"3D file {path_3d} not found for dataset {name!r}: {spec.how_to_get}")
    choices = spec.available_keypoints(data_dir)
    if keypoints not in choices:
        listed = ", ".join(choices) or f"none (no data_2d_{spec.name}_*.npz in {data_dir}; {spec.how_to_get})"
        raise KeyError(f"unknown keypoints {keypoints!r} for dataset {name!r}; available: {listed}")
    positions_3d = _reduce_3d(spec, load_positions_3d(path_3d), path_3d)  # checked before deriving 2D from it
    folder_2d = data_dir
    if spec.prepare_2d is not None:
        folder_2d = spec.prepare_2d(data_dir, keypoints) or data_dir
    path_2d = spec.path_2d(folder_2d, keypoints)
    if not path_2d.is_file():
        raise FileNotFoundError(f"2D file {path_2d} not found for dataset {name!r}: {spec.how_to_get}")

    positions_2d, metadata = load_positions_2d(path_2d)
    source, conversion = _layout_conversion(spec, metadata, path_2d)
    all_cameras = get_cameras(spec.camera_source)
    cameras: dict[str, list[Camera]] = {}
    for subject in positions_3d:
        key = spec.camera_subject(subject)
        if key not in all_cameras:
            raise DataFileError(
                f"{path_3d}: no calibrated cameras for subject {subject!r} in the {spec.camera_source} camera set "
                f"(calibrated: {', '.join(all_cameras)}); drop that subject from the file"
            )
        cameras[subject] = all_cameras[key]
    positions_2d, absent = _match_2d(spec, positions_3d, positions_2d, cameras, path_2d, source, conversion)
    if conversion is not None:
        warnings.warn(
            f"{path_2d.name}: converting the 2D keypoints from layout {source.name!r} ({source.num_joints} joints) "
            f"to the dataset's {spec.skeleton.name!r} ({spec.skeleton.num_joints} joints) with "
            f"ehfusion.keypoints.conversion_matrix",
            stacklevel=2,
        )
    if absent:
        warnings.warn(
            f"{path_2d.name} has no 2D keypoints (None: no video) for {len(absent)} camera view(s), left out of the "
            f"sequences: {', '.join(absent)}",
            stacklevel=2,
        )
    metadata = _loaded_metadata(spec, metadata, source)
    return PoseDataset(spec, keypoints, positions_3d, positions_2d, cameras, metadata)
