"""The pose explorer's state, without widgets: the selection, the cached predictions and the errors they give.

:class:`ExplorerState` holds one :class:`Selection` of a :class:`~ehfusion.data.PoseDataset` (split, subject, action,
camera, checkpoint, output branch, added 2D noise, frame) and what follows from it: the sequence, the 2D input the
model sees (the sequence's keypoints plus the noise), the whole sequence's prediction and its per-joint errors.

* :meth:`ExplorerState.select` changes any part of the selection and the rest follows: a new split or subject keeps
  the subject, action and camera where they still exist, a new checkpoint shows its answer branch, the frame stays
  inside the sequence. A value asked for must exist. A change that fails (a bad value, a checkpoint that cannot be
  read or does not fit the dataset) raises and leaves the state as it was.
* The model runs once per (sequence, checkpoint, noise level), on the whole sequence with flip test-time augmentation
  as in the evaluation, and every branch is kept; frames, branches and earlier settings are then only looked up.
* The noise of a (sequence, level) is drawn from ``noise_seed`` alone with
  :func:`ehfusion.experiments.robustness.add_pixel_noise` (sigma in pixels of the camera's image), so a setting shows
  the same noisy input every time it is chosen.

The widget view, :class:`ehfusion.widgets.PoseExplorer`, forwards its controls here and draws what this holds.

    >>> state = ExplorerState(load_dataset("embedded"), subject="S9", action="walk")   # doctest: +SKIP
    >>> state.select(noise_px=5.0, frame=40)                                            # doctest: +SKIP
    >>> state.current_p1                                                                # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import time
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence as SequenceOf

import numpy as np

from .checkpoint_choice import best_checkpoint
from .checkpoints import Checkpoint, list_checkpoints, load_checkpoint
from .data import PoseDataset, Sequence
from .evaluation import predict_branches
from .experiments.robustness import add_pixel_noise
from .metrics import joint_errors_mm

__all__ = ["ExplorerState", "Selection", "NO_CHECKPOINT", "SPLITS"]

#: The checkpoint choice that shows the recorded motion only.
NO_CHECKPOINT = "none"
#: The splits the explorer offers (their subjects come from the dataset: ``PoseDataset.split_subjects``).
SPLITS = ("test", "train")


@dataclasses.dataclass(frozen=True)
class Selection:
    """What the explorer shows: one camera view of one take, one model output on it, one frame."""

    split: str
    subject: str
    action: str
    camera: int
    checkpoint: str        # a checkpoint file name, or NO_CHECKPOINT
    branch: str | None     # the output branch shown; None without a checkpoint
    noise_px: float        # sigma of the Gaussian noise added to every 2D coordinate, pixels
    frame: int

    @property
    def sequence_key(self) -> tuple[str, str, int]:
        """(subject, action, camera): which sequence."""
        return self.subject, self.action, self.camera


FIELDS = tuple(field.name for field in dataclasses.fields(Selection))


class LRUCache(OrderedDict):
    """A small least-recently-used cache (sequences, noisy inputs, predictions and loaded checkpoints)."""

    def __init__(self, capacity: int):
        super().__init__()
        self.capacity = capacity

    def get_or_compute(self, key, compute: Callable[[], Any]):
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = compute()
        self[key] = value
        while len(self) > self.capacity:
            self.popitem(last=False)
        return value


class ExplorerState:
    """One selection of a dataset's sequences, checkpoints and frames, and the predictions and errors it gives.

    Parameters
    ----------
    dataset:
        A :class:`~ehfusion.data.PoseDataset` (:func:`ehfusion.data.load_dataset`).
    split, subject, action, camera, checkpoint, branch, noise_px, frame:
        The first selection; what is left out is the first choice (the checkpoint: the most accurate one for the
        dataset's keypoints, :func:`ehfusion.checkpoint_choice.best_checkpoint`; the branch: the model's answer).
    checkpoints, checkpoint_dir:
        The checkpoint names offered (default: every file in ``checkpoint_dir``) and the folder they are read from
        (default ``CHECKPOINT_DIR``). Checkpoints are loaded when first chosen.
    max_frames:
        Keep only the first ``max_frames`` frames of each sequence (quick demos, CI).
    flip_tta:
        Average with the horizontally flipped prediction (the evaluation protocol).
    noise_seed:
        The seed every noise draw is derived from (with the sequence and the noise level).
    """

    def __init__(self, dataset: PoseDataset, *, split: str = "test", subject: str | None = None,
                 action: str | None = None, camera: int | None = None, checkpoint: str | None = None,
                 branch: str | None = None, noise_px: float = 0.0, frame: int = 0,
                 checkpoints: Iterable[str] | None = None, checkpoint_dir: str | Path | None = None,
                 max_frames: int | None = None, flip_tta: bool = True, noise_seed: int = 0, cache_size: int = 32):
        if not isinstance(dataset, PoseDataset):
            raise TypeError(f"dataset must be a PoseDataset (ehfusion.data.load_dataset), got {type(dataset).__name__}")
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be at least 1 (or None for whole sequences), got {max_frames}")
        if int(noise_seed) < 0:
            raise ValueError(f"noise_seed must be a non-negative integer, got {noise_seed}")
        self.dataset = dataset
        self.skeleton = dataset.skeleton
        self.max_frames = max_frames
        self.flip_tta = flip_tta
        self.noise_seed = int(noise_seed)
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.checkpoint_names = list(list_checkpoints(self.checkpoint_dir) if checkpoints is None else checkpoints)
        self.prediction_calls = 0          # forward passes over a whole sequence (cache misses)
        self.prediction_seconds = None     # how long the latest of them took
        self._sequences = LRUCache(cache_size)
        self._inputs = LRUCache(cache_size)
        self._predictions = LRUCache(cache_size)
        self._checkpoints = LRUCache(4)
        self._selection: Selection | None = None
        if checkpoint is None:
            checkpoint = self._default_checkpoint()
        first = {"split": split, "subject": subject, "action": action, "camera": camera, "checkpoint": checkpoint,
                 "branch": branch, "noise_px": noise_px, "frame": frame}
        self.select(**{name: value for name, value in first.items() if value is not None})

    # ================================================================== changing the selection
    def select(self, **changes) -> None:
        """Change parts of the selection (``subject="S11"``, ``noise_px=5.0``, ``frame=12``...); the rest follows.

        ``branch=None`` asks for the model's answer branch. The prediction of the new selection is computed (or found
        in the cache) before anything changes, so a failure raises and leaves the state as it was.
        """
        selection = self._resolve(changes)
        self._outputs(selection.sequence_key, selection.noise_px, selection.checkpoint)
        self._selection = selection

    def _resolve(self, changes: dict) -> Selection:
        """The selection after ``changes``: asked-for values checked, the others kept where possible."""
        unknown = sorted(set(changes) - set(FIELDS))
        if unknown:
            raise TypeError(f"cannot select {', '.join(unknown)}; the selection has {', '.join(FIELDS)}")
        old = self._selection

        def choose(name: str, options: SequenceOf, where: str):
            if name in changes:
                if changes[name] not in options:
                    raise ValueError(f"{name} {changes[name]!r} is not {where}; choose one of: "
                                     f"{', '.join(map(str, options)) or '(none)'}")
                return changes[name]
            kept = getattr(old, name, None)
            if kept in options:
                return kept
            if not options:
                raise ValueError(f"there is no {name} {where}")
            return options[0]

        split = choose("split", SPLITS, "a split of the explorer")
        subject = choose("subject", self.split_subjects(split), f"in the {split} split of {self.dataset.name!r}")
        action = choose("action", self.dataset.actions(subject), f"an action of subject {subject}")
        camera = choose("camera", self.dataset.available_cameras(subject, action),
                        f"a camera with 2D keypoints of {subject} / {action}")
        checkpoint = choose("checkpoint", self.checkpoint_options, "an offered checkpoint (a file in "
                            f"{self.checkpoint_dir or 'ehfusion.paths.CHECKPOINT_DIR'}, or pass checkpoint_dir=...)")
        if changes.get("branch") is not None:
            branch = choose("branch", self.branches_of(checkpoint), f"an output branch of {checkpoint}")
        elif "branch" not in changes and old is not None and old.checkpoint == checkpoint:
            branch = old.branch
        else:
            branch = self.answer_branch_of(checkpoint)
        noise_px = float(changes.get("noise_px", 0.0 if old is None else old.noise_px))
        if not np.isfinite(noise_px) or noise_px < 0:
            raise ValueError(f"noise_px must be a number of pixels >= 0, got {noise_px}")
        frames = len(self._sequence((subject, action, camera)))
        if "frame" in changes and not 0 <= int(changes["frame"]) < frames:
            raise ValueError(f"frame must be in 0 .. {frames - 1} for {subject} / {action} / camera {camera}, "
                             f"got {changes['frame']}")
        frame = int(changes["frame"]) if "frame" in changes else min(0 if old is None else old.frame, frames - 1)
        return Selection(split, subject, action, int(camera), checkpoint, branch, noise_px, frame)

    # ================================================================== the options of each part
    def split_subjects(self, split: str) -> list[str]:
        """The subjects of ``split`` present in the dataset, in its order (the splits are the dataset's own)."""
        members = set(self.dataset.split_subjects(split))
        return [subject for subject in self.dataset.subjects if subject in members]

    @property
    def subjects(self) -> list[str]:
        return self.split_subjects(self.split)

    @property
    def actions(self) -> list[str]:
        return self.dataset.actions(self.subject)

    @property
    def cameras(self) -> list[int]:
        """The camera indices with 2D keypoints for the selected take."""
        return self.dataset.available_cameras(self.subject, self.action)

    @property
    def checkpoint_options(self) -> list[str]:
        return [NO_CHECKPOINT, *self.checkpoint_names]

    @property
    def branches(self) -> list[str]:
        """The selected checkpoint's output branches (none without a checkpoint)."""
        return self.branches_of(self.checkpoint)

    def branches_of(self, checkpoint: str) -> list[str]:
        return [] if checkpoint == NO_CHECKPOINT else list(self.load(checkpoint).config.branches)

    def answer_branch_of(self, checkpoint: str) -> str | None:
        return None if checkpoint == NO_CHECKPOINT else self.load(checkpoint).config.answer_branch

    # ================================================================== the selection, part by part
    @property
    def selection(self) -> Selection:
        return self._selection

    split = property(lambda self: self._selection.split)
    subject = property(lambda self: self._selection.subject)
    action = property(lambda self: self._selection.action)
    camera = property(lambda self: self._selection.camera)
    checkpoint = property(lambda self: self._selection.checkpoint)
    branch = property(lambda self: self._selection.branch)
    noise_px = property(lambda self: self._selection.noise_px)
    frame = property(lambda self: self._selection.frame)

    # ================================================================== what the selection shows
    @property
    def sequence(self) -> Sequence:
        """The selected sequence (its first ``max_frames`` frames), without added noise."""
        return self._sequence(self._selection.sequence_key)

    @property
    def num_frames(self) -> int:
        return len(self.sequence)

    @property
    def image_size(self) -> tuple[float, float]:
        """(width, height) in pixels of the selected camera's image."""
        camera = self.dataset.cameras[self.subject][self.camera]
        return float(camera.res_w), float(camera.res_h)

    @property
    def keypoints_2d(self) -> np.ndarray:
        """(N, J, 2) the model's input: the sequence's normalised keypoints plus the selected noise."""
        return self._input(self._selection.sequence_key, self.noise_px)

    @property
    def ground_truth(self) -> np.ndarray | None:
        """(N, J, 3) root-relative camera coordinates in metres, or ``None`` without 3D data."""
        return self.sequence.poses_3d

    @property
    def prediction(self) -> np.ndarray | None:
        """(N, J, 3) the selected branch's prediction in metres, or ``None`` without a checkpoint."""
        return self.predict()

    @property
    def errors(self) -> np.ndarray | None:
        """(N, J) the prediction's error per frame and joint in mm, or ``None`` (no prediction or no 3D data)."""
        return self.sequence_errors()

    @property
    def current_errors(self) -> np.ndarray | None:
        """(J,) the errors of the selected frame in mm, or ``None``."""
        if self.prediction is None or self.ground_truth is None:
            return None
        return joint_errors_mm(self.prediction[self.frame], self.ground_truth[self.frame])

    @property
    def current_p1(self) -> float | None:
        """The selected frame's P1 (MPJPE, mm): the mean of :attr:`current_errors`, or ``None``."""
        errors = self.current_errors
        return None if errors is None else float(errors.mean())

    def predict(self, branch: str | None = None, noise_px: float | None = None) -> np.ndarray | None:
        """The whole sequence's prediction (N, J, 3) in metres for ``branch`` and ``noise_px`` (default: the selected
        ones), computed once and cached; the selection stays as it is. ``None`` without a checkpoint."""
        noise_px = self.noise_px if noise_px is None else float(noise_px)
        outputs = self._outputs(self._selection.sequence_key, noise_px, self.checkpoint)
        if outputs is None:
            return None
        branch = self.branch if branch is None else branch
        if branch not in outputs:
            raise ValueError(f"checkpoint {self.checkpoint} has no branch {branch!r}; its branches: "
                             f"{', '.join(outputs)}")
        return outputs[branch]

    def sequence_errors(self, branch: str | None = None, noise_px: float | None = None) -> np.ndarray | None:
        """(N, J) errors in mm of the selected prediction, or of another ``branch`` / ``noise_px`` (the selection
        stays as it is); ``None`` without a prediction or a 3D ground truth."""
        prediction = self.predict(branch, noise_px)
        if prediction is None or self.ground_truth is None:
            return None
        return joint_errors_mm(prediction, self.ground_truth)

    def load(self, checkpoint: str) -> Checkpoint:
        """The loaded checkpoint called ``checkpoint`` (loaded once; it must work in the dataset's joint layout)."""
        def load() -> Checkpoint:
            directories = None if self.checkpoint_dir is None else [self.checkpoint_dir]
            loaded = load_checkpoint(checkpoint, directories=directories)
            if loaded.config.layout != self.skeleton.name:
                raise ValueError(f"checkpoint {checkpoint!r} was trained on the {loaded.config.layout!r} joint layout "
                                 f"but dataset {self.dataset.name!r} uses {self.skeleton.name!r}; choose a checkpoint "
                                 f"trained on {self.dataset.name!r}")
            return loaded

        return self._checkpoints.get_or_compute(checkpoint, load)

    # ================================================================== computed once, then cached
    def _default_checkpoint(self) -> str:
        """The most accurate offered checkpoint for the dataset's keypoints; the first when none stores an error."""
        if not self.checkpoint_names:
            return NO_CHECKPOINT
        best = best_checkpoint(self.checkpoint_names, self.dataset.keypoints, self.checkpoint_dir)
        return best or self.checkpoint_names[0]

    def _sequence(self, key: tuple[str, str, int]) -> Sequence:
        def load() -> Sequence:
            sequence = self.dataset.sequence(*key)
            return sequence if self.max_frames is None else _first_frames(sequence, self.max_frames)

        return self._sequences.get_or_compute(key, load)

    def _input(self, key: tuple[str, str, int], noise_px: float) -> np.ndarray:
        def draw() -> np.ndarray:
            subject, _, camera = key
            width = self.dataset.cameras[subject][camera].res_w
            return add_pixel_noise(self._sequence(key).keypoints_2d, noise_px, width,
                                   _noise_generator(self.noise_seed, key, noise_px))

        return self._inputs.get_or_compute(key + (noise_px,), draw)

    def _outputs(self, key: tuple[str, str, int], noise_px: float, checkpoint: str) -> dict[str, np.ndarray] | None:
        """Every branch's prediction for a sequence, noise level and checkpoint (``None`` for NO_CHECKPOINT)."""
        if checkpoint == NO_CHECKPOINT:
            return None

        def run() -> dict[str, np.ndarray]:
            model = self.load(checkpoint).model
            noisy = dataclasses.replace(self._sequence(key), keypoints_2d=self._input(key, noise_px))
            started = time.perf_counter()
            outputs = predict_branches(model, noisy, flip_tta=self.flip_tta)
            self.prediction_seconds = time.perf_counter() - started
            self.prediction_calls += 1
            return {branch: np.asarray(values, dtype=np.float32) for branch, values in outputs.items()}

        return self._predictions.get_or_compute(key + (noise_px, checkpoint), run)


def _noise_generator(seed: int, key: tuple[str, str, int], noise_px: float) -> np.random.Generator:
    """The random numbers of one sequence and noise level: from the explorer's seed and a hash of the two."""
    label = "|".join(map(str, (*key, repr(noise_px))))
    return np.random.default_rng([seed, zlib.crc32(label.encode())])


def _first_frames(sequence: Sequence, n: int) -> Sequence:
    """The sequence cut to its first ``n`` frames."""
    def head(values):
        return None if values is None else values[:n]

    return dataclasses.replace(sequence, keypoints_2d=sequence.keypoints_2d[:n], poses_3d=head(sequence.poses_3d),
                               trajectory=head(sequence.trajectory))
