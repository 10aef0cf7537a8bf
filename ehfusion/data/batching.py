"""Batches of receptive-field windows for training, and padded whole sequences for evaluation.

Training (:class:`WindowBatcher`): every frame of every sequence is one sample, the window of ``T`` 2D frames around it
(centred, or ending at it when causal) with the sequence's first/last frame repeated at the edges ("edge padding"), its
root-relative 3D pose and its camera's intrinsic vector. All sequences are padded once and concatenated, so a batch is
a single fancy-indexing gather: no Python loop per sample.

Evaluation (:func:`sequence_inputs`): one sequence, padded so that the model's whole-sequence mode returns exactly one
output per frame, optionally with a mirrored copy for flip test-time augmentation.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence as SequenceOf
from dataclasses import dataclass

import numpy as np
import torch

from ..skeleton import Skeleton
from .augmentation import flip_camera, flip_pose

__all__ = ["Batch", "SequenceInputs", "WindowBatcher", "sequence_inputs", "window_padding"]


def window_padding(receptive_field: int, causal: bool = False) -> tuple[int, int]:
    """Frames to pad (before, after) a sequence so that every frame gets a full window."""
    if receptive_field < 1:
        raise ValueError(f"receptive field must be at least 1 frame, got {receptive_field}")
    if causal:
        return receptive_field - 1, 0
    if receptive_field % 2 == 0:
        raise ValueError(f"a centred window needs an odd receptive field, got {receptive_field}")
    half = receptive_field // 2
    return half, half


def _edge_pad(array: np.ndarray, before: int, after: int) -> np.ndarray:
    return np.pad(array, [(before, after)] + [(0, 0)] * (array.ndim - 1), mode="edge")


@dataclass
class Batch:
    """One training batch (tensors on the CPU; the trainer moves them)."""

    camera: torch.Tensor  # (B, 9)
    target: torch.Tensor  # (B, J, 3) root-relative metres of each window's output frame
    window: torch.Tensor  # (B, T, J, 2) normalised 2D keypoints

    def __len__(self) -> int:
        return self.window.shape[0]


class WindowBatcher:
    """Shuffled batches of receptive-field windows over many sequences.

    Parameters
    ----------
    sequences: the :class:`~ehfusion.data.loading.Sequence` objects to draw from (they need ``poses_3d``).
    receptive_field: window length ``T`` (odd unless ``causal``).
    batch_size: windows per batch (the last batch may be smaller).
    shuffle: reshuffle every epoch, deterministically from ``(seed, epoch)`` (see :meth:`set_epoch`).
    flip_augment: mirror a random half of the windows every epoch (2D, 3D and camera vector). VideoPose3D enumerates
        every window both ways; drawing the flip at random gives the same expectation at half the cost per epoch.
    subset: fraction of the windows used per epoch, drawn afresh each epoch (1.0 = all).
    rank, world_size: shard the epoch's windows between data-parallel processes (every rank gets the same count).
    """

    def __init__(
        self,
        sequences: SequenceOf,
        receptive_field: int,
        batch_size: int = 1024,
        *,
        skeleton: Skeleton,
        shuffle: bool = True,
        flip_augment: bool = True,
        seed: int = 0,
        causal: bool = False,
        subset: float = 1.0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if not sequences:
            raise ValueError("WindowBatcher got no sequences: check the subjects/actions you selected")
        if batch_size < 1:
            raise ValueError(f"batch size must be positive, got {batch_size}")
        if not 0.0 < subset <= 1.0:
            raise ValueError(f"subset must be a fraction in (0, 1], got {subset}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world size {world_size}")
        self.receptive_field = receptive_field
        self.batch_size = batch_size
        self.skeleton = skeleton
        self.shuffle = shuffle
        self.flip_augment = flip_augment
        self.seed = seed
        self.causal = causal
        self.subset = subset
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

        before, after = window_padding(receptive_field, causal)
        padded_2d, poses, cameras, starts, owners = [], [], [], [], []
        offset = 0
        for index, seq in enumerate(sequences):
            if seq.poses_3d is None:
                raise ValueError(f"sequence {seq.subject}/{seq.action}/camera {seq.camera} has no 3D poses to train on")
            n = len(seq.keypoints_2d)
            if len(seq.poses_3d) != n:
                raise ValueError(
                    f"sequence {seq.subject}/{seq.action}/camera {seq.camera}: {n} 2D frames but "
                    f"{len(seq.poses_3d)} 3D frames"
                )
            padded_2d.append(_edge_pad(np.asarray(seq.keypoints_2d, np.float32), before, after))
            poses.append(np.asarray(seq.poses_3d, np.float32))
            cameras.append(np.asarray(seq.intrinsics, np.float32))
            starts.append(offset + np.arange(n))  # window of frame f starts at padded index offset + f
            owners.append(np.full(n, index))
            offset += n + before + after
        self._keypoints = np.concatenate(padded_2d)
        self._poses = np.concatenate(poses)
        self._cameras = np.stack(cameras)
        self._window_starts = np.concatenate(starts)
        self._owner = np.concatenate(owners)
        self._offsets = np.arange(receptive_field)
        self._flip_perm = skeleton.flip_permutation()

    # ------------------------------------------------------------------ sizes
    @property
    def num_windows(self) -> int:
        """Windows available (all frames of all sequences)."""
        return len(self._window_starts)

    @property
    def windows_per_epoch(self) -> int:
        """Windows this rank sees per epoch."""
        return int(math.floor(self.num_windows * self.subset)) // self.world_size

    def __len__(self) -> int:
        return math.ceil(self.windows_per_epoch / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose shuffle and flips are drawn next (so a resumed run repeats the same batches)."""
        self.epoch = int(epoch)

    # ------------------------------------------------------------------ iteration
    def _epoch_plan(self) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(self.num_windows) if self.shuffle else np.arange(self.num_windows)
        flips = rng.random(self.num_windows) < 0.5 if self.flip_augment else np.zeros(self.num_windows, bool)
        total = self.windows_per_epoch * self.world_size
        order = order[:total]
        mine = order[self.rank :: self.world_size][: self.windows_per_epoch]
        return mine, flips[mine]

    def gather(self, indices: np.ndarray, flips: np.ndarray | None = None) -> Batch:
        """The batch made of the given window indices (flipping those marked in ``flips``)."""
        indices = np.asarray(indices)
        window = self._keypoints[self._window_starts[indices][:, None] + self._offsets]  # (B, T, J, 2)
        target = self._poses[indices].copy()
        camera = self._cameras[self._owner[indices]].copy()
        if flips is not None and flips.any():
            window[flips] = flip_pose(window[flips], self.skeleton)
            target[flips] = flip_pose(target[flips], self.skeleton)
            camera[flips] = flip_camera(camera[flips])
        return Batch(torch.from_numpy(camera), torch.from_numpy(target), torch.from_numpy(np.ascontiguousarray(window)))

    def __iter__(self) -> Iterator[Batch]:
        order, flips = self._epoch_plan()
        for start in range(0, len(order), self.batch_size):
            stop = start + self.batch_size
            yield self.gather(order[start:stop], flips[start:stop])


@dataclass
class SequenceInputs:
    """A padded sequence ready for a model's whole-sequence mode."""

    keypoints: torch.Tensor  # (V, N + T - 1, J, 2); V = 2 when a flipped copy is included (second)
    camera: torch.Tensor  # (V, 9)
    num_frames: int  # N, the number of output frames

    @property
    def has_flipped_copy(self) -> bool:
        return self.keypoints.shape[0] == 2


def sequence_inputs(seq, receptive_field: int, *, skeleton: Skeleton, causal: bool = False,
                    flip: bool = False) -> SequenceInputs:
    """Edge-pad one sequence's 2D keypoints for whole-sequence inference, optionally with a mirrored copy."""
    keypoints = np.asarray(seq.keypoints_2d, np.float32)
    if keypoints.ndim != 3 or keypoints.shape[-1] != 2:
        raise ValueError(f"keypoints must have shape (frames, joints, 2), got {keypoints.shape}")
    before, after = window_padding(receptive_field, causal)
    padded = _edge_pad(keypoints, before, after)
    camera = np.asarray(seq.intrinsics, np.float32)
    views, cams = [padded], [camera]
    if flip:
        views.append(flip_pose(padded, skeleton))
        cams.append(flip_camera(camera))
    return SequenceInputs(torch.from_numpy(np.stack(views)), torch.from_numpy(np.stack(cams)), len(keypoints))
