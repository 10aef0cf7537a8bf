"""Support code for the explorer tests: tiny real checkpoints, and predictions computed without the explorer."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from ehfusion.checkpoints import load_checkpoint, save_checkpoint
from ehfusion.data import load_dataset
from ehfusion.evaluation import predict_sequence
from ehfusion.models import ModelConfig, build_model

#: The frames each test sequence keeps (``max_frames``): enough for a 3-frame model, quick to draw.
FRAMES = 40


def save_tiny_checkpoint(path: Path, *, keypoints: str = "gt", val_p1: float = 80.0,
                         branches: tuple[str, ...] = ("unfused", "fused"), layout: str = "h36m", seed: int = 0) -> Path:
    """An untrained, very small model written with ``save_checkpoint``; its answer branch stores ``val_p1`` (mm)
    as its validation error, any other branch 10 mm more."""
    torch.manual_seed(seed)
    config = ModelConfig(layout=layout, filter_widths=(3,), channels=8, latent=8, hidden=8, angle_channels=4,
                         angle_features=4, camera_features=4, branches=branches)
    metrics = {f"val_p1_{branch}": val_p1 + (0.0 if branch == config.answer_branch else 10.0) for branch in branches}
    return save_checkpoint(path, build_model(config), model_config=config, strategy="one-stage", stage=1,
                           dataset="embedded", keypoints=keypoints, epoch=1, metrics=metrics)


def checkpoint_folder(folder: Path) -> Path:
    """``one-stage.bin`` (branches unfused and fused, validation P1 75 mm) and ``three-stage.bin`` (fused only,
    70 mm: the most accurate), both trained on ``gt`` keypoints."""
    save_tiny_checkpoint(folder / "one-stage.bin", val_p1=75.0, seed=1)
    save_tiny_checkpoint(folder / "three-stage.bin", val_p1=70.0, branches=("fused",), seed=2)
    return folder


def first_frames(sequence, n: int = FRAMES):
    """The sequence cut to its first ``n`` frames (as the explorer does with ``max_frames``)."""
    return dataclasses.replace(sequence, keypoints_2d=sequence.keypoints_2d[:n], poses_3d=sequence.poses_3d[:n],
                               trajectory=sequence.trajectory[:n])


def direct_prediction(path: Path, sequence, branch: str | None = None, keypoints_2d=None) -> np.ndarray:
    """The checkpoint's prediction for ``sequence`` (with ``keypoints_2d`` instead of its own, when given), computed
    with ``predict_sequence`` and flip test-time augmentation, as the evaluation does."""
    if keypoints_2d is not None:
        sequence = dataclasses.replace(sequence, keypoints_2d=keypoints_2d)
    return predict_sequence(load_checkpoint(path).model, sequence, flip_tta=True, branch=branch)


# ---------------------------------------------------------------------------------------- fixtures of both test files
@pytest.fixture(scope="module")
def dataset():
    """The real embedded dataset with ground-truth 2D keypoints."""
    return load_dataset("embedded", keypoints="gt")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A folder with the two tiny checkpoints of :func:`checkpoint_folder`."""
    return checkpoint_folder(tmp_path_factory.mktemp("checkpoints"))

