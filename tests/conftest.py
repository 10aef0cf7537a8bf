"""Shared test fixtures: small synthetic sequences that follow the data contract, and a quiet, seeded torch."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads its OpenMP runtime
# Everything the suite generates (executed notebooks' figures and runs, screenshots, experiment records) goes to a
# throw-away folder, never into the user's outputs/: set before ehfusion.paths is imported, inherited by the
# notebook kernels that papermill starts.
os.environ["EHFUSION_OUTPUT_DIR"] = tempfile.mkdtemp(prefix="ehfusion-test-outputs-")

REPO_DIR = Path(__file__).resolve().parents[1]
#: The user's folders that the suite must leave exactly as it found them (checked when the session ends).
PROTECTED_DIRS = (REPO_DIR / "outputs", REPO_DIR / "checkpoints")

import numpy as np
import pytest
import torch

from ehfusion.data.loading import Sequence
from ehfusion.skeleton import H36M_17

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


def make_sequence(n_frames: int = 40, seed: int = 0, subject: str = "S1", action: str = "walk", camera: int = 0,
                  num_joints: int = 17) -> Sequence:
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, n_frames)[:, None, None]
    base = rng.normal(scale=0.3, size=(1, num_joints, 3))
    poses = (base + 0.05 * np.sin(t + rng.uniform(0, 6, size=(1, num_joints, 3)))).astype(np.float32)
    poses -= poses[:, :1]
    keypoints = (poses[..., :2] / 4.0 + 0.01 * rng.normal(size=(n_frames, num_joints, 2))).astype(np.float32)
    intrinsics = np.array([2.29, 2.29, 0.025, 0.028, -0.2, 0.24, -0.003, -0.001, -0.0014], np.float32)
    return Sequence(subject, action, camera, keypoints, poses, np.zeros((n_frames, 3), np.float32), intrinsics,
                    fps=50.0)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models run fastest on one thread (and do not suffer when other processes share the CPU)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def h36m():
    return H36M_17


@pytest.fixture
def sequences():
    return [make_sequence(30 + 7 * i, seed=i, action=f"act{i}", camera=i % 4) for i in range(3)]


# ------------------------------------------------------------------------------------------- the user's folders
def folder_snapshot(folders=PROTECTED_DIRS) -> dict[str, tuple[int, int]]:
    """``{path: (size, modification time in ns)}`` of every file under ``folders``."""
    snapshot = {}
    for folder in folders:
        for path in Path(folder).rglob("*") if Path(folder).is_dir() else ():
            if path.is_file():
                stat = path.stat()
                snapshot[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return snapshot


def snapshot_changes(before: dict, after: dict) -> list[str]:
    """Human-readable differences between two :func:`folder_snapshot` results."""
    changes = [f"created {p}" for p in sorted(after.keys() - before.keys())]
    changes += [f"deleted {p}" for p in sorted(before.keys() - after.keys())]
    changes += [f"modified {p}" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]]
    return changes


def pytest_sessionstart(session):
    session.config._protected_snapshot = folder_snapshot()


def pytest_sessionfinish(session, exitstatus):
    before = getattr(session.config, "_protected_snapshot", None)
    if before is None:
        return
    changes = snapshot_changes(before, folder_snapshot())
    if changes:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = ["the test suite changed the user's outputs/ or checkpoints/ folders:", *changes[:20]]
        if reporter is not None:
            reporter.write_line("\n".join(lines), red=True)
        session.exitstatus = 1
