"""Your own 2D keypoints: loading, COCO -> Human3.6M conversion, gap filling, normalisation, intrinsics, errors."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from ehfusion.cameras import h36m_cameras
from ehfusion.keypoints import (
    HEAD_EXTENSION,
    Keypoints2D,
    camera_intrinsics,
    check_image_size,
    coco_from_h36m,
    conversion_matrix,
    convert_layout,
    default_intrinsics,
    fill_missing,
    keypoints_from_array,
    load_keypoints,
    normalize_keypoints,
    pixels_from_normalized,
    prepare_keypoints,
    read_coco_json,
)
from ehfusion.skeleton import COCO_17, H36M_17, HUMANEVA_15
from fakes import synthetic_motion

C = COCO_17.index
H = H36M_17.index


@pytest.fixture(scope="module")
def camera():
    return h36m_cameras()["S9"][1]


@pytest.fixture(scope="module")
def native_px(camera):
    """Human3.6M-order 2D truth: a made-up motion projected by a real Human3.6M camera (pixels)."""
    return camera.project(synthetic_motion(80, "Walking", seed=4)).astype(np.float32)


def coco_with_confidence(coco_px, confidence=None):
    confidence = np.ones(coco_px.shape[:2]) if confidence is None else confidence
    return np.concatenate((coco_px, confidence[..., None]), axis=-1)


# ----------------------------------------------------------------------------------------------------- conversion
def test_each_h36m_joint_follows_its_documented_formula():
    rng = np.random.default_rng(0)
    coco = rng.uniform(0, 1000, size=(5, 17, 2)).astype(np.float32)
    out = convert_layout(keypoints_from_array(coco), "h36m").xy
    mid = lambda a, b: (coco[:, C(a)] + coco[:, C(b)]) / 2  # noqa: E731
    thorax, eyes = mid("LShoulder", "RShoulder"), mid("LEye", "REye")
    expected = {
        "Hip": mid("LHip", "RHip"),
        "Thorax": thorax,
        "Spine": (mid("LHip", "RHip") + thorax) / 2,
        "Neck": coco[:, C("Nose")],
        "Head": eyes + HEAD_EXTENSION * (eyes - thorax),
        "RFoot": coco[:, C("RAnkle")],
        "LFoot": coco[:, C("LAnkle")],
    }
    for name in ("RHip", "RKnee", "LHip", "LKnee", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist"):
        expected[name] = coco[:, C(name)]
    assert set(expected) == set(H36M_17.joint_names)
    for name, value in expected.items():
        np.testing.assert_allclose(out[:, H(name)], value, atol=1e-3, err_msg=name)


def test_conversion_rows_are_affine_so_it_commutes_with_normalisation():
    for source, target, shape in (("coco", "h36m", (17, 17)), ("h36m", "humaneva15", (15, 17)),
                                  ("coco", "humaneva15", (15, 17)), ("h36m", "h36m", (17, 17))):
        matrix = conversion_matrix(source, target)
        assert matrix.shape == shape
        np.testing.assert_allclose(matrix.sum(axis=1), 1.0)
    coco = np.random.default_rng(1).uniform(0, 640, size=(4, 17, 2)).astype(np.float32)
    converted_then_normalised = normalize_keypoints(convert_layout(keypoints_from_array(coco)).xy, 640, 480)
    normalised_then_converted = convert_layout(keypoints_from_array(normalize_keypoints(coco, 640, 480))).xy
    np.testing.assert_allclose(converted_then_normalised, normalised_then_converted, atol=1e-5)
    he = convert_layout(keypoints_from_array(coco), "humaneva15")
    h36 = convert_layout(keypoints_from_array(coco), "h36m")
    np.testing.assert_allclose(he.xy[:, HUMANEVA_15.index("Pelvis")], h36.xy[:, H("Hip")], atol=1e-4)
    np.testing.assert_allclose(he.xy[:, HUMANEVA_15.index("RAnkle")], coco[:, C("RAnkle")], atol=1e-4)
    with pytest.raises(ValueError, match="supported: coco -> h36m"):
        conversion_matrix("h36m", "coco")


def test_derived_confidence_is_the_minimum_of_its_sources():
    confidence = np.full((3, 17), 0.9)
    confidence[:, C("LEye")] = 0.4
    confidence[:, C("RHip")] = 0.2
    confidence[1, C("Nose")] = 0.0
    coco = coco_with_confidence(np.random.default_rng(2).uniform(0, 500, (3, 17, 2)), confidence)
    out = convert_layout(keypoints_from_array(coco), "h36m")
    np.testing.assert_allclose(out.confidence[:, H("Head")], 0.4, atol=1e-6)
    np.testing.assert_allclose(out.confidence[:, H("Hip")], 0.2, atol=1e-6)
    np.testing.assert_allclose(out.confidence[:, H("Spine")], 0.2, atol=1e-6)
    np.testing.assert_allclose(out.confidence[:, H("Thorax")], 0.9, atol=1e-6)
    assert out.confidence[1, H("Neck")] == 0 and out.missing(0.3)[1, H("Neck")]
    np.testing.assert_allclose(out.confidence[:, H("LWrist")], 0.9, atol=1e-6)


def test_clean_coco_made_from_h36m_converts_back_exactly(native_px):
    coco = coco_from_h36m(native_px)
    assert coco.shape == (80, 17, 2)
    back = convert_layout(keypoints_from_array(coco), "h36m").xy
    midpoints = [H("Hip"), H("Spine"), H("Thorax")]
    exact = [j for j in range(17) if j not in midpoints]
    np.testing.assert_allclose(back[:, exact], native_px[:, exact], atol=1e-3)
    # mid-hips / mid-shoulders hold in 3D; after perspective projection they are off by under a pixel
    assert 0 < np.abs(back[:, midpoints] - native_px[:, midpoints]).max() < 1.0


def test_the_head_extension_is_a_parameter_of_the_conversion_and_its_inverse(native_px):
    coco = coco_from_h36m(native_px, head_extension=0.8)
    default = convert_layout(keypoints_from_array(coco)).xy
    matched = convert_layout(keypoints_from_array(coco), head_extension=0.8).xy
    np.testing.assert_allclose(matched[:, H("Head")], native_px[:, H("Head")], atol=1e-3)
    assert np.abs(default[:, H("Head")] - native_px[:, H("Head")]).max() > 1.0   # another lambda, another head
    np.testing.assert_allclose(np.delete(default, H("Head"), axis=1), np.delete(matched, H("Head"), axis=1))
    prepared = prepare_keypoints(coco, 1000, 1002, head_extension=0.8)
    np.testing.assert_allclose(prepared.keypoints_px, matched, atol=1e-4)
    weights = conversion_matrix("coco", "h36m", head_extension=0.3)[H("Head")]
    assert weights[C("LEye")] == pytest.approx(0.65) and weights[C("LShoulder")] == pytest.approx(-0.15)


def test_coco_from_3d_then_projected_is_close(camera):
    """Placing the face in 3D and projecting (as a real detector sees it) stays within a few pixels after conversion."""
    motion = synthetic_motion(40, "Walking 1", seed=9)
    native = camera.project(motion)
    back = convert_layout(keypoints_from_array(camera.project(coco_from_h36m(motion)))).xy
    error = np.linalg.norm(back - native, axis=-1)
    assert error.max() < 3.0  # perspective: the projection of a midpoint is not exactly the midpoint of projections
    assert error[:, [H("LWrist"), H("RKnee"), H("Neck")]].max() < 1e-3


# ----------------------------------------------------------------------------------------------------- round trip
def test_noisy_coco_with_dropped_joints_round_trips_to_native_h36m(native_px, camera):
    rng = np.random.default_rng(3)
    n = len(native_px)
    coco = coco_from_h36m(native_px) + rng.normal(scale=1.5, size=(n, 17, 2))
    confidence = rng.uniform(0.6, 1.0, size=(n, 17))
    dropped = rng.random((n, 17)) < 0.08
    dropped[30] = True  # a whole frame without detection
    dropped[:, C("LEar")] = True  # ears are never needed by the conversion
    confidence[dropped] = rng.uniform(0.0, 0.25, size=int(dropped.sum()))
    coco[dropped & (rng.random((n, 17)) < 0.5)] = np.nan  # some missing, some merely unconfident
    confidence[np.isnan(coco).any(-1)] = 0.0
    prepared = prepare_keypoints(coco_with_confidence(coco, confidence), camera.res_w, camera.res_h,
                                 min_confidence=0.3)
    assert prepared.keypoints_px.shape == (n, 17, 2) and prepared.layout == "h36m"
    error = np.linalg.norm(prepared.keypoints_px - native_px, axis=-1)
    assert np.isfinite(prepared.keypoints_px).all()
    assert error[~prepared.filled].mean() < 2.5  # the noise (head: 1.5 x eyes noise)
    assert error[prepared.filled].mean() < 6.0  # interpolated over short gaps of smooth motion
    # the fill report counts the dropped joints the conversion uses; the mask marks their derived joints
    used = [j for j in range(17) if j not in (C("LEar"), C("REar"))]
    assert prepared.report.total == int(dropped[:, used].sum())
    assert prepared.report.filled_per_joint["LEye"] == int(dropped[:, C("LEye")].sum())
    assert "LEar" not in prepared.report.filled_per_joint
    np.testing.assert_array_equal(prepared.filled[:, H("Neck")], dropped[:, C("Nose")])
    np.testing.assert_array_equal(prepared.filled[:, H("Hip")], dropped[:, C("LHip")] | dropped[:, C("RHip")])
    assert prepared.filled[30].all()
    # normalisation round trip, the documented formula, and the camera's own normaliser agree
    np.testing.assert_allclose(pixels_from_normalized(prepared.keypoints, camera.res_w, camera.res_h),
                               prepared.keypoints_px, atol=1e-3)
    np.testing.assert_allclose(prepared.keypoints,
                               prepared.keypoints_px / camera.res_w * 2 - [1, camera.res_h / camera.res_w], atol=1e-6)
    np.testing.assert_allclose(prepared.keypoints, camera.normalize(prepared.keypoints_px), atol=1e-6)
    assert "filled" in str(prepared.report) and prepared.report.fraction > 0


def test_fill_is_linear_between_confident_frames_and_holds_at_the_ends():
    n = 10
    xy = np.zeros((n, 17, 2), np.float32)
    xy[..., 0] = np.arange(n)[:, None] * 3.0 + 100
    xy[..., 1] = 200.0
    confidence = np.ones((n, 17), np.float32)
    confidence[[0, 1, 4, 5, 9], C("LWrist")] = 0.1
    filled, mask, report = fill_missing(Keypoints2D(xy.copy(), confidence, "coco"), min_confidence=0.5)
    x = filled.xy[:, C("LWrist"), 0]
    np.testing.assert_allclose(x[[4, 5]], xy[[4, 5], 0, 0])  # linear motion is recovered exactly
    np.testing.assert_allclose(x[[0, 1]], xy[2, 0, 0])  # edge hold before the first confident frame
    np.testing.assert_allclose(x[9], xy[8, 0, 0])  # and after the last
    assert mask[:, C("LWrist")].sum() == 5 and mask.sum() == 5
    assert report.filled_per_joint["LWrist"] == 5 and report.total == 5
    assert filled.confidence[0, C("LWrist")] == pytest.approx(0.1)  # confidences are kept as given


# ----------------------------------------------------------------------------------------------------- loading
def _results(coco_px, frames, name=lambda f: f"frame_{f:06d}.jpg"):
    return [{"image_id": name(f), "category_id": 1, "score": 0.9,
             "keypoints": np.concatenate((coco_px[i], np.full((17, 1), 0.8)), axis=1).ravel().tolist()}
            for i, f in enumerate(frames)]


def test_coco_json_list_with_gaps_string_ids_and_two_people(tmp_path, native_px):
    coco = coco_from_h36m(native_px[:6])
    frames = [3, 4, 6, 7, 8]  # frame 5 has no detection
    results = _results(coco[[0, 1, 3, 4, 5]], frames)
    intruder = dict(results[1], score=0.2, keypoints=[7.0] * 51)  # a second, less likely person in frame 4
    results.insert(2, intruder)
    path = tmp_path / "detections.json"
    path.write_text(json.dumps(results))
    loaded = load_keypoints(path)
    assert loaded.layout == "coco" and loaded.xy.shape == (6, 17, 2)
    np.testing.assert_array_equal(loaded.frame_ids, np.arange(3, 9))
    np.testing.assert_allclose(loaded.xy[1], coco[1], atol=1e-4)  # the higher-score person was kept
    assert np.isnan(loaded.xy[2]).all() and (loaded.confidence[2] == 0).all()  # frame 5 missing
    np.testing.assert_allclose(loaded.confidence[0], 0.8)
    longer = read_coco_json(results, num_frames=9)
    assert longer.num_frames == 9 and np.isnan(longer.xy[6:]).all()


def test_coco_json_other_structures(native_px):
    coco = coco_from_h36m(native_px[:3])
    annotations = {"images": [{"id": 11}, {"id": 7}, {"id": 30}],
                   "annotations": [{"image_id": 7, "keypoints": np.c_[coco[1], np.ones(17)].ravel().tolist()},
                                   {"image_id": 30, "keypoints": np.c_[coco[2], np.ones(17)].ravel().tolist()}]}
    loaded = read_coco_json(annotations)
    assert loaded.num_frames == 3 and np.isnan(loaded.xy[0]).all()  # frames follow the order of "images"
    np.testing.assert_allclose(loaded.xy[1:], coco[1:], atol=1e-4)
    mmpose = [{"frame_id": i, "instances": [{"keypoints": coco[i].tolist(), "keypoint_scores": [0.7] * 17,
                                             "bbox_score": 0.9}]} for i in range(3)]
    loaded = read_coco_json(mmpose)
    np.testing.assert_allclose(loaded.xy, coco, atol=1e-4)
    np.testing.assert_allclose(loaded.confidence, 0.7)
    openpose_zeros = [{"keypoints": [0.0] * 51}, {"keypoints": np.c_[coco[1], np.ones(17)].ravel().tolist()}]
    loaded = read_coco_json(openpose_zeros)  # no frame keys: the list position is the frame; 0,0,0 = not detected
    assert np.isnan(loaded.xy[0]).all() and np.isfinite(loaded.xy[1]).all()


def test_npy_npz_and_videopose3d_custom_files(tmp_path, native_px):
    coco = coco_from_h36m(native_px[:5]).astype(np.float32)
    np.save(tmp_path / "k.npy", coco)
    np.testing.assert_allclose(load_keypoints(tmp_path / "k.npy").xy, coco)
    np.savez(tmp_path / "k.npz", keypoints=coco_with_confidence(coco), other=np.zeros(3))
    assert load_keypoints(tmp_path / "k.npz").confidence.shape == (5, 17)
    custom = {"myvideo.mp4": {"custom": [coco]}}
    meta = {"layout_name": "coco", "num_joints": 17, "keypoints_symmetry": [[1], [2]],
            "video_metadata": {"myvideo.mp4": {"w": 1280, "h": 720}}}
    np.savez_compressed(tmp_path / "data_2d_custom_mine.npz", positions_2d=custom, metadata=meta)
    with pytest.raises(ValueError, match="allow_pickle=True"):
        load_keypoints(tmp_path / "data_2d_custom_mine.npz")
    loaded = load_keypoints(tmp_path / "data_2d_custom_mine.npz", layout=None, allow_pickle=True)
    assert loaded.image_size == (1280, 720)
    np.testing.assert_allclose(loaded.xy, coco)
    with pytest.raises(ValueError, match="declares layout 'coco'"):
        load_keypoints(tmp_path / "data_2d_custom_mine.npz", layout="h36m", allow_pickle=True)


# ----------------------------------------------------------------------------------------------------- intrinsics
def test_default_and_user_intrinsics(camera):
    vector = default_intrinsics(1920, 1080)
    focal = np.mean([np.mean(c.focal_length) / c.res_w for c in h36m_cameras()["S1"]])
    np.testing.assert_allclose(vector, [2 * focal, 2 * focal, 0, 0, 0, 0, 0, 0, 0], atol=1e-6)
    assert 2.28 < vector[0] < 2.30
    np.testing.assert_allclose(camera_intrinsics(camera.res_w, camera.res_h, camera), camera.intrinsics, atol=1e-6)
    np.testing.assert_allclose(camera_intrinsics(camera.res_w, camera.res_h, camera.intrinsics_pixels),
                               camera.intrinsics, atol=1e-6)
    short = camera_intrinsics(640, 480, [800, 810, 300, 250])
    np.testing.assert_allclose(short[:4], [2.5, 810 / 320, 300 / 320 - 1, 250 / 320 - 0.75], atol=1e-6)
    as_dict = camera_intrinsics(640, 480, {"focal_length": 800})
    np.testing.assert_allclose(as_dict[:4], [2.5, 2.5, 0, 0], atol=1e-6)
    with pytest.raises(ValueError, match="focal lengths must be positive"):
        camera_intrinsics(640, 480, [0, 800, 320, 240])
    with pytest.raises(ValueError, match=r"\[fx, fy, cx, cy\]"):
        camera_intrinsics(640, 480, [800, 800, 320])
    with pytest.raises(ValueError, match="not 640x480"):
        camera_intrinsics(640, 480, camera)


# ----------------------------------------------------------------------------------------------------- errors
def test_clear_errors_for_bad_arrays_and_layouts(native_px):
    with pytest.raises(ValueError, match=r"\(frames, joints, 2\)"):
        keypoints_from_array(np.zeros((10, 17, 4)))
    with pytest.raises(ValueError, match="one frame"):
        keypoints_from_array(np.zeros((17, 2)))
    with pytest.raises(ValueError, match="has 17.*humaneva15 \\(15 joints\\)"):
        keypoints_from_array(np.zeros((10, 15, 2)), "coco")
    with pytest.raises(KeyError, match="known layouts"):
        keypoints_from_array(np.zeros((10, 17, 2)), "openpose25")
    with pytest.raises(ValueError, match="must be numeric"):
        keypoints_from_array([["a"]])
    with pytest.raises(FileNotFoundError):
        load_keypoints("/nonexistent/keypoints.json")


def test_clear_errors_for_missing_joints_nan_and_short_sequences(native_px):
    coco = coco_with_confidence(coco_from_h36m(native_px[:20]))
    no_wrist = coco.copy()
    no_wrist[:, C("RWrist"), 2] = 0.1
    with pytest.raises(ValueError, match=r"joint RWrist \(coco index 10\) is missing or below confidence 0.3 in all"):
        prepare_keypoints(no_wrist, 1000, 1000)
    broken = coco.copy()
    broken[5, C("LKnee"), :2] = np.nan
    with pytest.raises(ValueError, match="NaN/inf coordinates but a confidence >= 0.3, first LKnee in frame 5"):
        prepare_keypoints(broken, 1000, 1000)
    with pytest.raises(ValueError, match="at least 2 are needed"):
        prepare_keypoints(coco[:1], 1000, 1000)
    with pytest.warns(UserWarning, match="fewer than the model's receptive field of 27"):
        prepare_keypoints(coco[:10], 1000, 1000, receptive_field=27)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prepare_keypoints(coco, 1000, 1000, receptive_field=9)
    with pytest.raises(ValueError, match="look normalised already"):
        prepare_keypoints(normalize_keypoints(coco[..., :2], 1000, 1000), 1000, 1000)
    with pytest.raises(ValueError, match="far outside a 100x80 image"):
        prepare_keypoints(coco, 100, 80)
    with pytest.raises(ValueError, match="min_confidence must be in"):
        prepare_keypoints(coco, 1000, 1000, min_confidence=3)


@pytest.mark.parametrize("width,height,message", [
    (None, 480, "width is missing"), (640, 0, "positive whole number"), (-640, 480, "positive whole number"),
    ("wide", 480, "must be a number"), (640.5, 480, "positive whole number"), (float("nan"), 480, "positive whole"),
])
def test_image_size_is_checked(width, height, message):
    with pytest.raises(ValueError, match=message):
        check_image_size(width, height)
    assert check_image_size(640.0, "480") == (640, 480)


def test_json_errors_are_specific(tmp_path):
    body25 = [{"image_id": 0, "keypoints": [1.0] * 75}, {"image_id": 1, "keypoints": [1.0] * 75}]
    with pytest.raises(ValueError, match="75 numbers, expected 17 x 3 = 51.*looks like 25 joints"):
        read_coco_json(body25)
    with pytest.raises(ValueError, match="some entries have a frame number"):
        read_coco_json([{"image_id": 0, "keypoints": [1.0] * 51}, {"keypoints": [1.0] * 51}])
    with pytest.raises(ValueError, match="expected a list of per-frame results"):
        read_coco_json({"frames": []})
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_keypoints(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="not in 'images'"):
        read_coco_json({"images": [{"id": 1}], "annotations": [{"image_id": 2, "keypoints": [1.0] * 51}]})
    with pytest.raises(ValueError, match="cannot read keypoints from k.txt"):
        (tmp_path / "k.txt").write_text("1")
        load_keypoints(tmp_path / "k.txt")


def test_write_coco_json_round_trips_and_never_overwrites(tmp_path, camera):
    from ehfusion.data.detector import simulated_coco_detections
    from ehfusion.keypoints import write_coco_json

    rng = np.random.default_rng(5)
    motion = synthetic_motion(50, "Walking", seed=1)
    detections = simulated_coco_detections(motion, camera, rng, drop_fraction=0.1, missing_frames=3)
    assert detections.shape == (50, 17, 3)
    lost = np.isnan(detections[..., 0]).all(axis=1)
    assert lost.sum() == 3 and (detections[lost, :, 2] == 0).all()
    occluded = detections[~lost, :, 2] < 0.3
    assert 0.03 < occluded.mean() < 0.25 and (detections[~lost, :, 2][~occluded] >= 0.6).all()
    clean = camera.project(coco_from_h36m(motion))
    assert 1.0 < np.nanmedian(np.linalg.norm(detections[..., :2] - clean, axis=-1)) < 15.0  # detector-like noise
    path = write_coco_json(tmp_path / "det.json", detections)
    loaded = load_keypoints(path)
    assert loaded.num_frames <= 50 and loaded.frame_ids[0] == int(np.flatnonzero(~lost)[0])
    offset = loaded.frame_ids[0]
    kept = ~lost[offset:offset + loaded.num_frames]
    np.testing.assert_allclose(loaded.xy[kept], detections[offset:offset + loaded.num_frames][kept, :, :2], atol=1e-3)
    assert np.isnan(loaded.xy[~kept]).all()
    with pytest.raises(FileExistsError, match="already exists"):
        write_coco_json(path, detections)
