"""The real-dataset code paths (Human3.6M with 32 joints, HumanEva-I), exercised on made-up files in the exact
formats: loading through ehfusion.data.load_dataset, and training and evaluating through the command line."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ehfusion import geometry
from ehfusion.data import load_dataset
from ehfusion.keypoints import coco_from_h36m, conversion_matrix
from ehfusion.skeleton import H36M_17, H36M_32_TO_17, HUMANEVA_15
from fakes import (
    H36M_SUBJECTS,
    HUMANEVA_SUBJECTS,
    h36m_17_to_32,
    synthetic_motion,
    write_fake_h36m,
    write_fake_humaneva,
)

ACTIONS = ("Directions", "Walking", "Walking 1")


@pytest.fixture(scope="module")
def h36m_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("h36m")
    write_fake_h36m(folder, actions=ACTIONS, frames=40)
    return folder


@pytest.fixture(scope="module")
def humaneva_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("humaneva")
    write_fake_humaneva(folder, frames=40, detections=True)
    return folder


def _reprojected(seq) -> np.ndarray:
    """The sequence's 3D (root-relative + trajectory) projected with its normalised intrinsics."""
    camera_points = seq.poses_3d + seq.trajectory[:, None]
    return geometry.project_to_2d(camera_points.astype(np.float64), seq.intrinsics.astype(np.float64))


# ----------------------------------------------------------------------------------------------------- file format
def test_made_up_h36m_files_have_the_videopose3d_structure(h36m_dir):
    with np.load(h36m_dir / "data_3d_h36m.npz", allow_pickle=True) as archive:
        assert archive.files == ["positions_3d"]
        positions_3d = archive["positions_3d"].item()
    with np.load(h36m_dir / "data_2d_h36m_cpn_ft_h36m_dbb.npz", allow_pickle=True) as archive:
        assert sorted(archive.files) == ["metadata", "positions_2d"]
        positions_2d, metadata = archive["positions_2d"].item(), archive["metadata"].item()
    assert list(positions_3d) == list(H36M_SUBJECTS)
    assert set(positions_2d) == set(H36M_SUBJECTS) | {"S2", "S3", "S4"}  # 2D-only subjects, as in the real file
    assert metadata == {"layout_name": "h36m", "num_joints": 17,
                        "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
    walking = positions_3d["S9"]["Walking 1"]
    assert walking.dtype == np.float32 and walking.shape[1:] == (32, 3)
    views = positions_2d["S9"]["Walking 1"]
    assert len(views) == 4 and all(v.dtype == np.float32 and v.shape[1:] == (17, 2) for v in views)
    assert all(len(v) > len(walking) for v in views)  # 2D a few frames longer than 3D
    assert 1.2 < walking[..., 2].max() < 2.0 and walking[..., 2].min() > 0  # world metres, z up, on the floor


def test_32_joint_layout_keeps_the_17_and_fills_the_rest():
    motion = synthetic_motion(20, "Walking")
    full = h36m_17_to_32(motion)
    np.testing.assert_array_equal(full[:, list(H36M_32_TO_17)], motion)
    dropped = [j for j in range(32) if j not in H36M_32_TO_17]
    assert np.isfinite(full[:, dropped]).all()
    hands = np.linalg.norm(full[:, 21] - motion[:, H36M_17.index("LWrist")], axis=-1)
    assert np.all((hands > 0.05) & (hands < 0.2))  # hand points near the wrist, not at the origin
    np.testing.assert_allclose(full[:, 16], motion[:, H36M_17.index("Thorax")])


def test_writers_refuse_to_replace_files(h36m_dir, humaneva_dir):
    before = (h36m_dir / "data_3d_h36m.npz").read_bytes()
    with pytest.raises(FileExistsError, match="refusing to replace"):
        write_fake_h36m(h36m_dir, actions=ACTIONS)
    with pytest.raises(FileExistsError, match="MADE-UP"):
        write_fake_humaneva(humaneva_dir)
    assert (h36m_dir / "data_3d_h36m.npz").read_bytes() == before


# ----------------------------------------------------------------------------------------------------- Human3.6M
def test_h36m_loads_with_32_joints_and_longer_2d(h36m_dir):
    ds = load_dataset("h36m", keypoints="gt", data_dir=h36m_dir)
    assert ds.subjects == list(H36M_SUBJECTS) and ds.fps == 50.0 and ds.skeleton is H36M_17
    assert ds.actions("S9") == sorted(ACTIONS)
    assert ds.actions("S11") == ["Walking", "Walking 1"]  # S11's "Directions" is missing, as in the real file
    raw = np.load(h36m_dir / "data_3d_h36m.npz", allow_pickle=True)["positions_3d"].item()
    np.testing.assert_array_equal(ds.positions_world("S5", "Walking"), raw["S5"]["Walking"][:, list(H36M_32_TO_17)])
    seqs = ds.sequences(subjects=["S9", "S11"], actions=["Walking"])
    assert len(seqs) == 2 * 2 * 4  # two subjects, "Walking" and "Walking 1", four cameras
    directions = ds.sequences(subjects=["S9", "S11"], actions=["Directions"])
    assert {s.subject for s in directions} == {"S9"}
    for seq in seqs:
        assert seq.keypoints_2d.shape == seq.poses_3d.shape[:2] + (2,)  # 2D trimmed to the 3D length
        assert np.all(seq.poses_3d[:, 0] == 0)
        np.testing.assert_allclose(seq.keypoints_2d, _reprojected(seq), atol=1e-4)  # 2D and 3D belong together


def test_h36m_detections_and_confidence_channel(h36m_dir, tmp_path):
    gt = load_dataset("h36m", keypoints="gt", data_dir=h36m_dir).sequence("S9", "Walking", 2)
    det = load_dataset("h36m", keypoints="cpn_ft_h36m_dbb", data_dir=h36m_dir).sequence("S9", "Walking", 2)
    error_px = np.linalg.norm(det.keypoints_2d - gt.keypoints_2d, axis=-1) * 1000 / 2  # normalised -> pixels
    assert 2.0 < np.median(error_px) < 8.0  # detector-like noise
    write_fake_h36m(tmp_path, subjects=("S1", "S9"), actions=("Walking",), frames=20, keypoints=("sh_ft_h36m",),
                    unlabeled_subjects=(), with_confidence=True)
    raw = np.load(tmp_path / "data_2d_h36m_sh_ft_h36m.npz", allow_pickle=True)["positions_2d"].item()
    assert raw["S1"]["Walking"][0].shape[-1] == 3
    seq = load_dataset("h36m", keypoints="sh_ft_h36m", data_dir=tmp_path).sequence("S1", "Walking", 0)
    assert seq.keypoints_2d.shape[-1] == 2  # the loader drops the confidence channel


def test_h36m_action_names_select_only_their_own_action(tmp_path):
    write_fake_h36m(tmp_path, subjects=("S1", "S9"), actions=("Walking", "Walking 1", "WalkDog", "WalkDog 1",
                                                              "WalkTogether 1"), frames=12, keypoints=("gt",))
    ds = load_dataset("h36m", keypoints="gt", data_dir=tmp_path)
    walking = ds.sequences(subjects=["S9"], actions=["Walking"], cameras=[0])
    assert [s.action for s in walking] == ["Walking", "Walking 1"]  # not WalkDog / WalkTogether
    assert {s.action for s in ds.sequences(subjects=["S9"], actions=["WalkT"], cameras=[0])} == {"WalkTogether 1"}
    with pytest.raises(KeyError, match="'Walk' could be WalkDog, WalkTogether, Walking"):
        ds.sequences(actions=["Walk"])


def test_h36m_detector_file_with_a_camera_without_video(tmp_path):
    write_fake_h36m(tmp_path, subjects=("S1", "S11"), actions=("Walking",), frames=12, keypoints=("cpn_ft_h36m_dbb",))
    path = tmp_path / "data_2d_h36m_cpn_ft_h36m_dbb.npz"
    with np.load(path, allow_pickle=True) as archive:
        positions, metadata = archive["positions_2d"].item(), archive["metadata"].item()
    positions["S11"]["Walking"][1] = None  # VideoPose3D's detector files hold None for a camera with no video
    np.savez_compressed(path, positions_2d=np.array(positions, dtype=object), metadata=np.array(metadata))
    with pytest.warns(UserWarning, match=r"None: no video.*: S11/Walking camera 1$"):
        ds = load_dataset("h36m", keypoints="cpn_ft_h36m_dbb", data_dir=tmp_path)
    assert [s.camera for s in ds.sequences(subjects=["S11"])] == [0, 2, 3]
    with pytest.raises(KeyError, match="S11/Walking camera 1"):
        ds.sequences(subjects=["S11"], cameras=[1])


def test_h36m_missing_keypoints_file_is_reported(h36m_dir):
    with pytest.raises(KeyError, match="available: cpn_ft_h36m_dbb, gt"):
        load_dataset("h36m", keypoints="detectron_ft_h36m", data_dir=h36m_dir)


# ----------------------------------------------------------------------------------------------------- HumanEva-I
def test_humaneva_loads_with_split_prefixed_subjects(humaneva_dir):
    ds = load_dataset("humaneva15", keypoints="gt", data_dir=humaneva_dir)
    assert ds.subjects == sorted(HUMANEVA_SUBJECTS) or set(ds.subjects) == set(HUMANEVA_SUBJECTS)
    assert ds.fps == 60.0 and ds.skeleton is HUMANEVA_15
    assert ds.actions("Validate/S2") == sorted(["Walking 1 chunk0", "Jog 1 chunk0", "Box 1 chunk0"])
    assert len(ds.cameras["Train/S1"]) == 3
    seqs = ds.sequences(subjects=["Validate/S1"], actions=["Walking"])  # base name selects "Walking 1 chunk0"
    assert len(seqs) == 3
    for seq in seqs:
        assert seq.keypoints_2d.shape[1:] == (15, 2) and seq.poses_3d.shape[1:] == (15, 3)
        np.testing.assert_allclose(seq.keypoints_2d, _reprojected(seq), atol=1e-4)


def test_humaneva_actions_selected_as_videopose3d_spells_them(humaneva_dir):
    ds = load_dataset("humaneva15", keypoints="gt", data_dir=humaneva_dir)
    seqs = ds.sequences(subjects=["Train/S2"], actions=["Walk", "Jog", "Box"])  # VideoPose3D's -a Walk,Jog,Box
    assert sorted({s.action for s in seqs}) == ["Box 1 chunk0", "Jog 1 chunk0", "Walking 1 chunk0"]
    assert len(seqs) == 3 * 3
    assert {s.action for s in ds.sequences(subjects=["Train/S2"], actions=["Walk"])} == {"Walking 1 chunk0"}
    with pytest.raises(KeyError, match=r"unknown actions \['Run'\]; known actions \(base names\): Box, Jog, Walking"):
        ds.sequences(actions=["Walk", "Run"])


def test_humaneva_coco_detections_are_converted_to_15_joints(humaneva_dir):
    raw = np.load(humaneva_dir / "data_2d_humaneva15_detectron_pt_coco.npz", allow_pickle=True)
    positions, metadata = raw["positions_2d"].item(), raw["metadata"].item()
    assert metadata["layout_name"] == "coco" and "Unlabeled/Train/S1" in positions
    assert positions["Train/S1"]["Jog 1 chunk0"][0].shape[1:] == (17, 2)
    with pytest.warns(UserWarning, match="from layout 'coco' \\(17 joints\\) to the dataset's 'humaneva15'") as caught:
        det = load_dataset("humaneva15", keypoints="detectron_pt_coco", data_dir=humaneva_dir)
    assert len(caught) == 1
    assert set(det.subjects) == set(HUMANEVA_SUBJECTS)  # the 2D-only Unlabeled/... subject is ignored
    assert det.metadata["layout_name"] == "humaneva15" and det.metadata["converted_from"] == "coco"
    gt = load_dataset("humaneva15", keypoints="gt", data_dir=humaneva_dir)
    errors = []
    for seq in det.sequences(actions=["Walk", "Jog", "Box"]):
        assert seq.keypoints_2d.shape == seq.poses_3d.shape[:2] + (2,) == (len(seq), 15, 2)
        reference = gt.sequence(seq.subject, seq.action, seq.camera)
        np.testing.assert_array_equal(seq.poses_3d, reference.poses_3d)
        width = det.cameras[seq.subject][seq.camera].res_w
        errors.append(np.linalg.norm(seq.keypoints_2d - reference.keypoints_2d, axis=-1) * width / 2)  # pixels
    assert len(errors) == len(HUMANEVA_SUBJECTS) * 3 * 3
    assert 1.0 < np.median(np.concatenate(errors)) < 6.0  # the made-up detector noise (3 px), joints in the right slots


def test_coco_placement_matches_the_humaneva_conversion():
    motion = synthetic_motion(10, "Jog 1 chunk0")
    he_from_coco = np.einsum("ts,nsc->ntc", conversion_matrix("coco", "humaneva15"), coco_from_h36m(motion))
    he_direct = np.einsum("ts,nsc->ntc", conversion_matrix("h36m", "humaneva15"), motion)
    np.testing.assert_allclose(he_from_coco, he_direct, atol=1e-5)


# ----------------------------------------------------------------------------------------------------- command line
def _run_cli(module: str, args: list[str], data_dir: Path, checkpoint_dir: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, EHFUSION_DATA_DIR=str(data_dir), EHFUSION_CHECKPOINT_DIR=str(checkpoint_dir),
               EHFUSION_OUTPUT_DIR=str(checkpoint_dir / "outputs"), OMP_NUM_THREADS="2")
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, env=env, timeout=300)


TINY_MODEL = ["-arc", "3,3", "-ch", "32", "-lfd", "16", "-hid", "32", "--angle-channels", "16", "--angle-features",
              "8", "--camera-features", "8", "-e", "1", "-b", "256", "--no-progress", "--threads", "2"]


def _cli_ready() -> bool:
    try:
        import ehfusion.models  # noqa: F401
        import ehfusion.training  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _cli_ready(), reason="the models and training modules are not available")
def test_cli_trains_and_evaluates_on_made_up_h36m(h36m_dir, tmp_path):
    trained = _run_cli("ehfusion.run_onestage", ["-d", "h36m", "-k", "cpn_ft_h36m_dbb", *TINY_MODEL],
                       h36m_dir, tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    best = tmp_path / "runs" / "cpn_one-stage_best_epoch.bin"
    assert best.is_file()
    assert "S9" in trained.stdout and "Walking" in trained.stdout
    evaluated = _run_cli("ehfusion.run_onestage", ["-d", "h36m", "-k", "cpn_ft_h36m_dbb", "--evaluate", str(best),
                                                   "--no-progress", "--threads", "2"], h36m_dir, tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert "Walking" in evaluated.stdout and "Directions" in evaluated.stdout
    again = _run_cli("ehfusion.run_onestage", ["-d", "h36m", "-k", "cpn_ft_h36m_dbb", *TINY_MODEL], h36m_dir, tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr


@pytest.mark.slow
@pytest.mark.skipif(not _cli_ready(), reason="the models and training modules are not available")
def test_cli_trains_and_evaluates_on_made_up_humaneva(humaneva_dir, tmp_path):
    trained = _run_cli("ehfusion.run_onestage", ["-d", "humaneva15", "-k", "gt", "-a", "Walk,Jog,Box",
                                                 *TINY_MODEL], humaneva_dir, tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    best = tmp_path / "runs" / "gt_one-stage_best_epoch.bin"
    assert best.is_file()
    assert "Validate/S1" in trained.stdout and "Train/S3" in trained.stdout
    evaluated = _run_cli("ehfusion.run_onestage", ["-d", "humaneva15", "--evaluate", str(best), "--no-progress",
                                                   "--threads", "2"], humaneva_dir, tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert "Jog" in evaluated.stdout
