"""The embedded dataset: the committed 3D file, its subjects, the derived 2D files and the detector noise."""
import shutil

import numpy as np
import pytest

from ehfusion.cameras import h36m_cameras
from ehfusion.data import embedded, load_positions_2d, load_positions_3d
from ehfusion.data.detector import DetectorNoise, error_stats
from ehfusion.paths import REPO_DIR
from ehfusion.skeleton import H36M_17

COMMITTED = REPO_DIR / "data" / "data_3d_embedded.npz"
SUBJECTS = ["S1", "S5", "S6", "S7", "S8", "S9", "S11"]
CLIPS = [
    "backflip", "cartwheel", "crawl", "dance_a", "dance_b", "getup_facedown", "getup_faceup", "jump", "kick",
    "punch", "roll", "run", "spin", "spinkick", "walk",
]


@pytest.fixture(scope="module")
def positions():
    return load_positions_3d(COMMITTED)


def bone_lengths(joints):
    return np.stack([np.linalg.norm(joints[:, c] - joints[:, p], axis=-1) for c, p in H36M_17.bones()], axis=1)


def test_committed_file_layout_and_size(positions):
    assert COMMITTED.stat().st_size <= 10 * 1024 * 1024
    assert sorted(positions, key=lambda s: int(s[1:])) == SUBJECTS
    expected_actions = sorted(CLIPS + [f"{c} 1" for c in CLIPS])
    for subject, actions in positions.items():
        assert sorted(actions) == expected_actions
        for pos in actions.values():
            assert pos.dtype == np.float32 and pos.ndim == 3 and pos.shape[1:] == (17, 3)
            assert pos.shape[0] >= 40
    lengths = [len(p) for a in positions.values() for name, p in a.items() if not name.startswith("run")]
    assert 180 <= np.median(lengths) <= 220  # about 4 s at 50 fps


def test_bone_lengths_constant_within_each_subject(positions):
    per_subject = {}
    for subject, actions in positions.items():
        lengths = np.concatenate([bone_lengths(p.astype(np.float64)) for p in actions.values()])
        assert np.abs(lengths - lengths[0]).max() < 1e-4, subject
        per_subject[subject] = lengths[0]
    # subjects differ in proportions, not just in overall size
    ratios = np.array([v / v.sum() for v in per_subject.values()])
    assert np.ptp(ratios, axis=0).max() > 0.005


def test_subjects_have_plausible_different_bodies():
    heights = embedded.SUBJECT_HEIGHTS
    assert set(heights) == set(SUBJECTS)
    assert 1.55 <= min(heights.values()) and max(heights.values()) <= 1.90
    for name, height in heights.items():
        subject = embedded.make_subject(name, height)
        assert embedded.stature(subject.body) == pytest.approx(height)
        hip_width = 2 * abs(subject.body.offsets["right_hip"][2])
        assert 0.22 <= hip_width <= 0.32  # widened to Human3.6M-like widths (the humanoid's is 0.17 m)


def test_feet_on_the_ground_and_every_joint_in_every_image(positions):
    cameras = h36m_cameras()
    for subject, actions in positions.items():
        for action, pos in actions.items():
            if action.split(" ")[0] in ("walk", "run", "kick", "punch", "jump"):
                ankles = pos[:, [H36M_17.index("RFoot"), H36M_17.index("LFoot")], 2]
                assert 0.0 <= ankles.min() <= 0.15, (subject, action)
            for cam in cameras[subject]:
                pixels = cam.project(pos)
                assert cam.in_image(pixels).all(), (subject, action, cam.id)
                assert (cam.world_to_camera(pos)[..., 2] > 1.0).all()


def test_builder_reproduces_the_committed_file(positions):
    pytest.importorskip("pybullet_data", reason="rebuilding needs the DeepMimic clips from the pybullet wheel")
    rebuilt = embedded.build_positions_3d(
        seed=0, subjects={"S9": embedded.SUBJECT_HEIGHTS["S9"]}, clips=["walk", "kick", "run"], progress=False
    )
    for action, pos in rebuilt["S9"].items():
        assert pos.shape == positions["S9"][action].shape
        np.testing.assert_allclose(pos, positions["S9"][action], atol=1e-6, err_msg=action)


def test_a_different_seed_gives_different_takes():
    pytest.importorskip("pybullet_data")
    a = embedded.build_positions_3d(seed=0, subjects={"S1": 1.62}, clips=["walk"], takes=1, progress=False)
    b = embedded.build_positions_3d(seed=1, subjects={"S1": 1.62}, clips=["walk"], takes=1, progress=False)
    assert a["S1"]["walk"].shape != b["S1"]["walk"].shape or not np.allclose(a["S1"]["walk"], b["S1"]["walk"])


@pytest.fixture(scope="module")
def derived(tmp_path_factory):
    folder = tmp_path_factory.mktemp("embedded")
    shutil.copy(COMMITTED, folder / COMMITTED.name)
    return folder, embedded.ensure_embedded_2d(folder)


def test_ground_truth_2d_is_the_projection_of_3d(derived, positions):
    _, files = derived
    gt, metadata = load_positions_2d(files["gt"])
    assert metadata["layout_name"] == "h36m" and metadata["num_joints"] == 17
    assert metadata["keypoints_symmetry"] == [list(H36M_17.joints_left), list(H36M_17.joints_right)]
    cameras = h36m_cameras()
    for subject in ("S1", "S11"):
        for action in ("walk", "crawl 1"):
            views = gt[subject][action]
            assert len(views) == 4
            for cam, view in zip(cameras[subject], views):
                assert view.dtype == np.float32
                np.testing.assert_allclose(view, cam.project(positions[subject][action]), atol=1e-3)


def test_detections_are_noisy_deterministic_and_cached(derived):
    folder, files = derived
    gt, _ = load_positions_2d(files["gt"])
    det, meta = load_positions_2d(files["det"])
    views_gt = [v for a in gt.values() for views in a.values() for v in views]
    views_det = [v for a in det.values() for views in a.values() for v in views]
    stats = error_stats(views_gt, views_det)
    assert 3.0 < stats["mean_px"] < 8.0  # a few pixels, like a fine-tuned detector
    assert stats["p99_px"] > 2.5 * stats["mean_px"]  # heavier tails than the bulk
    # a second call keeps the cached files; the same derivation gives the same numbers
    stamp = files["det"].stat().st_mtime_ns
    embedded.ensure_embedded_2d(folder)
    assert files["det"].stat().st_mtime_ns == stamp
    walk = load_positions_3d(folder / COMMITTED.name)["S1"]["walk"]
    again = embedded.derive_positions_2d({"S1": {"walk": walk}}, "det")
    np.testing.assert_array_equal(again["S1"]["walk"][2], det["S1"]["walk"][2])


def test_a_stale_derived_file_is_refreshed_but_a_foreign_file_is_kept(tmp_path):
    shutil.copy(COMMITTED, tmp_path / COMMITTED.name)
    embedded.save_positions_2d(tmp_path / "data_2d_embedded_gt.npz", {}, {"derived_from": "sha256=old"})
    embedded.save_positions_2d(tmp_path / "data_2d_embedded_det.npz", {"mine": {}})  # not derived here
    embedded.ensure_embedded_2d(tmp_path)
    refreshed, _ = load_positions_2d(tmp_path / "data_2d_embedded_gt.npz")
    kept, _ = load_positions_2d(tmp_path / "data_2d_embedded_det.npz")
    assert set(refreshed) == set(SUBJECTS)
    assert kept == {"mine": {}}


def test_missing_3d_file_says_how_to_build_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m ehfusion.data.embedded"):
        embedded.ensure_embedded_2d(tmp_path)


def test_detector_noise_traits():
    rng = np.random.default_rng(0)
    clean = np.tile(np.linspace(100, 500, 17)[:, None] * [0.3, 1.0], (4000, 1, 1))  # a 400 px tall person
    noisy = DetectorNoise().apply(clean, rng)
    error = noisy - clean
    per_joint = np.median(np.linalg.norm(error, axis=-1), axis=0)
    wrist, thorax = H36M_17.index("LWrist"), H36M_17.index("Thorax")
    assert per_joint[wrist] > 1.5 * per_joint[thorax]  # extremities are noisier
    lag1 = np.corrcoef(error[1:, thorax, 0], error[:-1, thorax, 0])[0, 1]
    assert lag1 > 0.5  # temporally correlated jitter, not white noise
    half = DetectorNoise().apply(clean * 0.5 + 50, np.random.default_rng(0))
    assert np.abs(half - (clean * 0.5 + 50)).mean() < 0.7 * np.abs(error).mean()  # scales with the person
    with pytest.raises(ValueError, match="shape"):
        DetectorNoise().apply(np.zeros((5, 16, 2)), rng)
