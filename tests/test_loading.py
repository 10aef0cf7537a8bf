"""load_dataset: the Sequence contract, Human3.6M/HumanEva-style files made here, and every clear-error case."""
import numpy as np
import pytest

from ehfusion.cameras import h36m_cameras, humaneva_cameras
from ehfusion.data import (
    DATASETS,
    EMBEDDED_TEST_SUBJECTS,
    EMBEDDED_TRAIN_SUBJECTS,
    H36M_VALIDATION_SUBJECTS,
    load_dataset,
)
from ehfusion.data.loading import select_actions
from ehfusion.keypoints import coco_from_h36m, conversion_matrix
from ehfusion.skeleton import COCO_17, H36M_17, H36M_32_TO_17, HUMANEVA_15

H36M_META = {
    "layout_name": "h36m", "num_joints": 17, "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]
}


# ----------------------------------------------------------------------------------------------------- embedded
@pytest.fixture(scope="module")
def embedded_gt():
    return load_dataset("embedded", "gt")


def test_embedded_dataset_follows_the_contract(embedded_gt):
    ds = embedded_gt
    assert ds.skeleton is H36M_17 and ds.fps == 50.0
    assert ds.subjects == ["S1", "S5", "S6", "S7", "S8", "S9", "S11"]
    assert "walk" in ds.actions("S1") and "walk 1" in ds.actions("S1")
    assert len(ds.cameras["S9"]) == 4
    seqs = ds.sequences(subjects=["S9"], actions=["walk 1"], cameras=[2])
    assert len(seqs) == 1
    seq = seqs[0]
    n = len(ds.positions_world("S9", "walk 1"))
    assert (seq.subject, seq.action, seq.camera, seq.fps) == ("S9", "walk 1", 2, 50.0)
    assert seq.keypoints_2d.shape == (n, 17, 2) and seq.keypoints_2d.dtype == np.float32
    assert seq.poses_3d.shape == (n, 17, 3) and seq.poses_3d.dtype == np.float32
    assert seq.trajectory.shape == (n, 3) and seq.intrinsics.shape == (9,) and seq.intrinsics.dtype == np.float32
    assert np.all(seq.poses_3d[:, 0] == 0)
    cam = ds.cameras["S9"][2]
    # camera coordinates: root-relative pose + trajectory goes back to the world positions
    world = cam.camera_to_world(seq.poses_3d + seq.trajectory[:, None])
    np.testing.assert_allclose(world, ds.positions_world("S9", "walk 1"), atol=1e-4)
    # 2D is the normalised projection
    np.testing.assert_allclose(seq.keypoints_2d, cam.normalize(cam.project(world)), atol=1e-4)
    assert np.abs(seq.keypoints_2d).max() <= 1.0


def test_action_filter_by_base_name_and_splits(embedded_gt):
    seqs = embedded_gt.sequences(subjects=["S1"], actions=["walk"])
    assert sorted({s.action for s in seqs}) == ["walk", "walk 1"] and len(seqs) == 8
    assert set(EMBEDDED_TRAIN_SUBJECTS) | set(EMBEDDED_TEST_SUBJECTS) == set(embedded_gt.subjects)
    assert set(H36M_VALIDATION_SUBJECTS) <= set(EMBEDDED_TRAIN_SUBJECTS)
    assert embedded_gt.split_subjects("test") == ("S9", "S11")
    assert set(DATASETS) >= {"embedded", "h36m", "humaneva15"}


def test_embedded_detections_load(embedded_gt):
    det = load_dataset("embedded", "det")
    a = det.sequences(["S11"], ["kick"], [0])[0]
    b = embedded_gt.sequences(["S11"], ["kick"], [0])[0]
    np.testing.assert_array_equal(a.poses_3d, b.poses_3d)
    assert 0 < np.abs(a.keypoints_2d - b.keypoints_2d).mean() < 0.05


H36M_LIKE = ["Walking", "Walking 1", "WalkDog", "WalkDog 1", "WalkTogether 1", "Sitting 1", "SittingDown"]
HUMANEVA_LIKE = ["Walking 1 chunk0", "Walking 1 chunk1", "Jog 1 chunk0", "Box 1 chunk0"]


@pytest.mark.parametrize(
    "available, requested, expected",
    [
        (H36M_LIKE, ["Walking"], {"Walking", "Walking 1"}),  # exact base name: never WalkDog / WalkTogether
        (H36M_LIKE, ["WalkDog 1"], {"WalkDog 1"}),
        (H36M_LIKE, ["Sitting", "WalkT"], {"Sitting 1", "WalkTogether 1"}),
        (H36M_LIKE, ["SittingD"], {"SittingDown"}),
        (HUMANEVA_LIKE, ["Walk", "Jog", "Box"], set(HUMANEVA_LIKE)),  # VideoPose3D's -a Walk,Jog,Box
        (HUMANEVA_LIKE, ["Walking 1 chunk1"], {"Walking 1 chunk1"}),
    ],
)
def test_select_actions(available, requested, expected):
    assert select_actions(available, requested) == expected


def test_select_actions_errors_name_the_choices():
    with pytest.raises(KeyError, match=r"ambiguous.*'Walk' could be WalkDog, WalkTogether, Walking"):
        select_actions(H36M_LIKE, ["Walk"])
    with pytest.raises(KeyError, match=r"'Sit' could be Sitting, SittingDown"):
        select_actions(H36M_LIKE, ["Sit"])
    unknown = r"unknown actions \['Run', ''\]; known actions \(base names\): Box, Jog, Walking;"
    with pytest.raises(KeyError, match=unknown):
        select_actions(HUMANEVA_LIKE, ["Walk", "Run", ""])
    with pytest.raises(KeyError, match="unknown actions"):
        select_actions(HUMANEVA_LIKE, ["walk"])  # case-sensitive


def test_lookup_errors_name_the_choices(embedded_gt):
    with pytest.raises(KeyError, match="subjects: S1"):
        embedded_gt.sequences(subjects=["S2"])
    with pytest.raises(KeyError, match="known actions"):
        embedded_gt.sequences(subjects=["S1"], actions=["Walking"])
    with pytest.raises(IndexError, match="4 cameras"):
        embedded_gt.sequence("S1", "walk", 7)


# ----------------------------------------------------------------------------------------------------- made-up files
def write_3d(path, positions):
    np.savez_compressed(path, positions_3d=np.array(positions, dtype=object))


def write_2d(path, positions, metadata=H36M_META):
    np.savez_compressed(path, positions_2d=np.array(positions, dtype=object), metadata=np.array(metadata))


def fake_world(rng, frames, joints):
    return (rng.normal(scale=0.3, size=(frames, joints, 3)) + [0.0, 0.3, 1.0]).astype(np.float32)


@pytest.fixture
def h36m_files(tmp_path):
    """A small Human3.6M-style pair: 32-joint 3D, 17-joint 2D a few frames longer, one view with a confidence."""
    rng = np.random.default_rng(0)
    cams = h36m_cameras()
    pos3d, pos2d = {}, {}
    for subject in ("S1", "S9"):
        for action in ("Walking", "Walking 1"):
            world = fake_world(rng, 20, 32)
            pos3d.setdefault(subject, {})[action] = world
            views = []
            for i, cam in enumerate(cams[subject]):
                longer = np.concatenate((world, world[-3:]))[:, list(H36M_32_TO_17)]
                view = cam.project(longer).astype(np.float32)
                if i == 1:
                    view = np.concatenate((view, np.ones_like(view[..., :1])), axis=-1)  # detector confidence
                views.append(view)
            pos2d.setdefault(subject, {})[action] = views
    write_3d(tmp_path / "data_3d_h36m.npz", pos3d)
    write_2d(tmp_path / "data_2d_h36m_cpn_ft_h36m_dbb.npz", pos2d)
    return tmp_path, pos3d, pos2d


def test_human36m_32_joint_file_loads_as_17_joints(h36m_files):
    folder, pos3d, _ = h36m_files
    ds = load_dataset("h36m", "cpn_ft_h36m_dbb", data_dir=folder)
    assert ds.subjects == ["S1", "S9"] and ds.skeleton.num_joints == 17
    np.testing.assert_array_equal(ds.positions_world("S1", "Walking"), pos3d["S1"]["Walking"][:, list(H36M_32_TO_17)])
    seqs = ds.sequences()
    assert len(seqs) == 2 * 2 * 4
    for seq in seqs:
        assert seq.keypoints_2d.shape == (20, 17, 2)  # trimmed to the 3D length, confidence dropped
        assert seq.poses_3d.shape == (20, 17, 3)
        cam = ds.cameras[seq.subject][seq.camera]
        world = ds.positions_world(seq.subject, seq.action)
        np.testing.assert_allclose(seq.keypoints_2d, cam.normalize(cam.project(world)), atol=1e-4)


def test_humaneva_style_file_loads_with_three_cameras(tmp_path):
    rng = np.random.default_rng(1)
    cams = humaneva_cameras()
    pos3d = {
        "Train/S1": {"Walk 1 chunk0": fake_world(rng, 12, 15)},
        "Validate/S2": {"Box 1 chunk0": fake_world(rng, 9, 15)},
    }
    pos2d = {s: {a: [c.project(p).astype(np.float32) for c in cams[s.split("/")[1]]] for a, p in acts.items()}
             for s, acts in pos3d.items()}
    write_3d(tmp_path / "data_3d_humaneva15.npz", pos3d)
    meta = {"layout_name": "humaneva15", "num_joints": 15,
            "keypoints_symmetry": [list(HUMANEVA_15.joints_left), list(HUMANEVA_15.joints_right)]}
    write_2d(tmp_path / "data_2d_humaneva15_gt.npz", pos2d, meta)
    ds = load_dataset("humaneva15", "gt", data_dir=tmp_path)
    assert ds.fps == 60.0 and ds.skeleton is HUMANEVA_15
    seqs = ds.sequences()
    assert len(seqs) == 6 and seqs[0].keypoints_2d.shape[1:] == (15, 2)


# ----------------------------------------------------------------------------------------------------- clear errors
def test_unknown_dataset_and_keypoints_list_the_choices(h36m_files):
    folder, _, _ = h36m_files
    with pytest.raises(KeyError, match="known datasets: embedded"):
        load_dataset("mpi_inf_3dhp")
    with pytest.raises(KeyError, match="available: gt, det"):
        load_dataset("embedded", "cpn")
    with pytest.raises(KeyError, match="available: cpn_ft_h36m_dbb"):
        load_dataset("h36m", "detectron_ft_h36m", data_dir=folder)


def test_missing_files_say_where_they_go(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data_3d_embedded\.npz.*python -m ehfusion\.data\.embedded"):
        load_dataset("embedded", "gt", data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"data_3d_h36m\.npz.*DATASETS\.md"):
        load_dataset("h36m", "gt", data_dir=tmp_path)


def test_missing_2d_file_for_a_fixed_source(tmp_path, h36m_files):
    folder, _, _ = h36m_files
    (folder / "data_2d_h36m_cpn_ft_h36m_dbb.npz").unlink()
    with pytest.raises(KeyError, match=r"none \(no data_2d_h36m_\*\.npz"):
        load_dataset("h36m", "cpn_ft_h36m_dbb", data_dir=folder)


def test_wrong_joint_count_in_3d(h36m_files):
    folder, pos3d, _ = h36m_files
    pos3d["S1"]["Walking"] = pos3d["S1"]["Walking"][:, :25]
    write_3d(folder / "data_3d_h36m.npz", pos3d)
    with pytest.raises(ValueError, match="S1/Walking has 25 joints.*needs 17 or 32"):
        load_dataset("h36m", "cpn_ft_h36m_dbb", data_dir=folder)


@pytest.mark.parametrize("layout", ["humaneva15", "mpii"])
def test_wrong_layout_in_2d_without_a_conversion(h36m_files, layout):
    folder, _, pos2d = h36m_files
    write_2d(folder / "data_2d_h36m_cpn_ft_h36m_dbb.npz", pos2d, {"layout_name": layout})
    with pytest.raises(ValueError, match=f"layout '{layout}'.*needs 'h36m'.*does not support that pair"):
        load_dataset("h36m", "cpn_ft_h36m_dbb", data_dir=folder)


def test_metadata_is_checked_against_the_files_own_layout(h36m_files):
    folder, _, pos2d = h36m_files
    coco = {"layout_name": "coco", "num_joints": 17, "keypoints_symmetry": [[1, 3], [2, 4]]}
    write_2d(folder / "data_2d_h36m_cpn_ft_h36m_dbb.npz", pos2d, coco)
    with pytest.raises(ValueError, match=r"keypoints_symmetry \[\[1, 3\], \[2, 4\]\] does not match layout 'coco'"):
        load_dataset("h36m", "cpn_ft_h36m_dbb", data_dir=folder)


def test_coco_keypoints_are_converted_to_the_dataset_layout(h36m_files):
    folder, _, pos2d = h36m_files
    coco_views = {s: {a: [coco_from_h36m(v[..., :2]) for v in views] for a, views in acts.items()}
                  for s, acts in pos2d.items()}
    coco_views["S9"]["Walking"][0][:, COCO_17.index("LEar")] = np.nan  # unused by the conversion: harmless
    meta = {"layout_name": "coco", "num_joints": 17,
            "keypoints_symmetry": [list(COCO_17.joints_left), list(COCO_17.joints_right)]}
    write_2d(folder / "data_2d_h36m_coco_det.npz", coco_views, meta)
    with pytest.warns(UserWarning, match="from layout 'coco' .*to the dataset's 'h36m'") as caught:
        ds = load_dataset("h36m", "coco_det", data_dir=folder)
    assert len([w for w in caught if "converting" in str(w.message)]) == 1
    assert ds.metadata["layout_name"] == "h36m" and ds.metadata["converted_from"] == "coco"
    reference = load_dataset("h36m", "cpn_ft_h36m_dbb", data_dir=folder)
    matrix = conversion_matrix("coco", "h36m")
    by_name = [H36M_17.index(n) for n in ("LShoulder", "RElbow", "LWrist", "RHip", "LKnee")]
    for seq in ds.sequences():
        assert seq.keypoints_2d.shape == seq.poses_3d.shape[:2] + (2,)
        cam = ds.cameras[seq.subject][seq.camera]
        coco = coco_views[seq.subject][seq.action][seq.camera][: len(seq)]
        converted = np.einsum("jk,nkc->njc", matrix, np.nan_to_num(coco))
        np.testing.assert_allclose(seq.keypoints_2d, cam.normalize(converted), atol=1e-5)
        limbs = reference.sequence(seq.subject, seq.action, seq.camera).keypoints_2d[:, by_name]
        np.testing.assert_allclose(seq.keypoints_2d[:, by_name], limbs, atol=1e-5)  # limbs keep their names


def test_wrong_keypoint_count_in_2d(h36m_files):
    folder, _, pos2d = h36m_files
    pos2d["S9"]["Walking"][0] = pos2d["S9"]["Walking"][0][:, :16]
    write_2d(folder / "data_2d_h36m_cpn_ft_h36m_dbb.npz", pos2d, {"layout_name": "h36m"})
    with pytest.raises(ValueError, match="S9/Walking camera 0 has 16 keypoints"):
        load_dataset("h36m", "cpn_ft_h36m_dbb", data_dir=folder)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda p: p.pop("S9"), "no 2D keypoints for subject S9"),
        (lambda p: p["S1"].pop("Walking 1"), r"actions \['Walking 1'\]"),
        (lambda p: p["S1"]["Walking"].pop(), "3 camera views but subject S1 has 4 cameras"),
        (lambda p: p["S1"]["Walking"].__setitem__(2, p["S1"]["Walking"][2][:10]), "10 frames, fewer than the 20"),
    ],
    ids=["subject", "action", "cameras", "frames"],
)
def test_2d_and_3d_files_that_do_not_match(h36m_files, change, message):
    folder, _, pos2d = h36m_files
    change(pos2d)
    write_2d(folder / "data_2d_h36m_cpn_ft_h36m_dbb.npz", pos2d)
    with pytest.raises(ValueError, match=message):
        load_dataset("h36m", "cpn_ft_h36m_dbb", data_dir=folder)


def test_nan_keypoints_name_subject_action_camera_and_frame(h36m_files):
    folder, pos3d, pos2d = h36m_files
    pos2d["S9"]["Walking 1"][3][7, 5, 0] = np.nan
    write_2d(folder / "data_2d_h36m_cpn_ft_h36m_dbb.npz", pos2d)
    with pytest.raises(ValueError, match="S9/Walking 1 camera 3 contain NaN or inf at frame 7"):
        load_dataset("h36m", "cpn_ft_h36m_dbb", data_dir=folder)
    pos3d["S1"]["Walking"][4, 0, 2] = np.inf
    write_3d(folder / "data_3d_h36m.npz", pos3d)
    with pytest.raises(ValueError, match="3D poses of S1/Walking contain NaN or inf at frame 4"):
        load_dataset("h36m", "cpn_ft_h36m_dbb", data_dir=folder)


def test_subject_without_cameras(h36m_files):
    folder, pos3d, pos2d = h36m_files
    pos3d["S2"] = pos3d["S1"]
    pos2d["S2"] = pos2d["S1"]
    write_3d(folder / "data_3d_h36m.npz", pos3d)
    write_2d(folder / "data_2d_h36m_cpn_ft_h36m_dbb.npz", pos2d)
    with pytest.raises(ValueError, match="no calibrated cameras for subject 'S2'"):
        load_dataset("h36m", "cpn_ft_h36m_dbb", data_dir=folder)


def test_camera_without_video_is_skipped_with_one_warning(h36m_files):
    folder, _, pos2d = h36m_files
    pos2d["S9"]["Walking 1"][2] = None  # as VideoPose3D's detector files hold for a camera with no video
    pos2d["S1"]["Walking"][0] = None
    write_2d(folder / "data_2d_h36m_cpn_ft_h36m_dbb.npz", pos2d)
    with pytest.warns(UserWarning, match="2 camera view.*S1/Walking camera 0, S9/Walking 1 camera 2") as caught:
        ds = load_dataset("h36m", "cpn_ft_h36m_dbb", data_dir=folder)
    assert len(caught) == 1
    seqs = ds.sequences()
    assert len(seqs) == 2 * 2 * 4 - 2
    assert ("S9", "Walking 1", 2) not in {(s.subject, s.action, s.camera) for s in seqs}
    assert ds.available_cameras("S9", "Walking 1") == [0, 1, 3]
    assert ds.available_cameras("S9", "Walking") == [0, 1, 2, 3]
    assert len(ds.sequences(subjects=["S9"], cameras=[1, 3])) == 4
    with pytest.raises(KeyError, match=r"for S9/Walking 1 camera 2 .*cameras with keypoints: \[0, 1, 3\]"):
        ds.sequences(subjects=["S9"], cameras=[2])
    with pytest.raises(KeyError, match="S1/Walking camera 0"):
        ds.sequence("S1", "Walking", 0)
    with pytest.raises(KeyError, match="S1/Walking camera 0"):
        ds.keypoints_pixels("S1", "Walking", 0)


def test_not_a_videopose3d_file(h36m_files):
    folder, _, _ = h36m_files
    np.savez(folder / "data_3d_h36m.npz", poses=np.zeros(3))
    with pytest.raises(ValueError, match="no 'positions_3d' entry"):
        load_dataset("h36m", "cpn_ft_h36m_dbb", data_dir=folder)
