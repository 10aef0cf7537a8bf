"""Quaternions, camera transforms, Human3.6M projection and screen normalisation."""
import numpy as np
import pytest
import torch

from ehfusion import geometry as geo
from ehfusion.cameras import h36m_cameras, humaneva_cameras


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def random_quats(rng, n):
    return geo.quat_normalize(rng.normal(size=(n, 4)))


def test_quaternion_inverse_and_identity(rng):
    q = random_quats(rng, 50)
    identity = geo.quat_multiply(q, geo.quat_inverse(q))
    np.testing.assert_allclose(identity, np.tile([1.0, 0, 0, 0], (50, 1)), atol=1e-12)
    np.testing.assert_allclose(geo.quat_inverse(q), geo.quat_conjugate(q), atol=1e-12)


def test_quaternion_product_composes_rotations(rng):
    a, b = random_quats(rng, 20), random_quats(rng, 20)
    v = rng.normal(size=(20, 3))
    np.testing.assert_allclose(
        geo.quat_rotate(geo.quat_multiply(a, b), v), geo.quat_rotate(a, geo.quat_rotate(b, v)), atol=1e-12
    )
    np.testing.assert_allclose(
        geo.quat_rotate(a, v), np.einsum("nij,nj->ni", geo.quat_to_matrix(a), v), atol=1e-12
    )
    # rotations keep lengths, and q and -q are the same rotation
    np.testing.assert_allclose(np.linalg.norm(geo.quat_rotate(a, v), axis=-1), np.linalg.norm(v, axis=-1))
    np.testing.assert_allclose(geo.quat_rotate(-a, v), geo.quat_rotate(a, v), atol=1e-12)


def test_axis_angle_follows_the_right_hand_rule():
    q = geo.quat_from_axis_angle([0, 0, 1], np.pi / 2)
    np.testing.assert_allclose(geo.quat_rotate(q, [1.0, 0, 0]), [0, 1, 0], atol=1e-12)
    assert geo.quat_angle(q) == pytest.approx(np.pi / 2)


def test_slerp_endpoints_midpoint_and_short_arc(rng):
    a = random_quats(rng, 10)
    axis = geo.quat_normalize(np.c_[np.zeros(10), rng.normal(size=(10, 3))])[:, 1:]
    b = geo.quat_multiply(geo.quat_from_axis_angle(axis, np.full(10, 1.2)), a)
    np.testing.assert_allclose(geo.quat_slerp(a, b, np.zeros(10)), a, atol=1e-12)
    np.testing.assert_allclose(np.abs(np.sum(geo.quat_slerp(a, b, np.ones(10)) * b, -1)), 1.0, atol=1e-12)
    mid = geo.quat_slerp(a, b, np.full(10, 0.5))
    rel = geo.quat_multiply(mid, geo.quat_conjugate(a))
    np.testing.assert_allclose(geo.quat_angle(rel), 0.6, atol=1e-9)
    # -b is the same rotation: slerp must still take the 1.2 rad arc, not the long way round
    mid_neg = geo.quat_slerp(a, -b, np.full(10, 0.5))
    np.testing.assert_allclose(np.abs(np.sum(mid_neg * mid, -1)), 1.0, atol=1e-12)


def test_world_camera_round_trip_keeps_dtype(rng):
    cam = h36m_cameras()["S1"][0]
    points = rng.normal(size=(30, 17, 3)).astype(np.float32)
    cam_pts = cam.world_to_camera(points)
    assert cam_pts.dtype == np.float32
    np.testing.assert_allclose(cam.camera_to_world(cam_pts), points, atol=1e-5)
    # X_cam = R^T (X_world - t)
    R = geo.quat_to_matrix(cam.orientation)
    np.testing.assert_allclose(cam_pts, (points - cam.translation) @ R, atol=1e-5)


def test_screen_normalisation_round_trip_and_convention(rng):
    w, h = 1000, 1002
    pix = rng.uniform(0, 1000, size=(7, 17, 2)).astype(np.float32)
    np.testing.assert_allclose(geo.image_coordinates(geo.normalize_screen_coordinates(pix, w, h), w, h), pix, rtol=1e-5)
    corners = geo.normalize_screen_coordinates(np.array([[0.0, 0.0], [w, h]]), w, h)
    np.testing.assert_allclose(corners, [[-1, -h / w], [1, h / w]])


def test_distortion_free_projection_is_pinhole(rng):
    points = np.c_[rng.uniform(-1, 1, (40, 2)), rng.uniform(3, 6, 40)]
    intr = np.array([1100.0, 1090.0, 500.0, 480.0, 0, 0, 0, 0, 0])
    expected = intr[:2] * points[:, :2] / points[:, 2:] + intr[2:4]
    np.testing.assert_allclose(geo.project_to_2d(points, intr), expected, atol=1e-9)


def test_projection_matches_distortion_formula_and_clamps():
    k1, k2, k3, p1, p2 = -0.2, 0.24, -0.003, -0.001, -0.0014
    intr = np.array([1145.0, 1143.0, 512.0, 515.0, k1, k2, k3, p1, p2])
    x, y = 0.2, -0.1
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    tan = p1 * x + p2 * y
    expected = [1145 * (x * (radial + tan) + p1 * r2) + 512, 1143 * (y * (radial + tan) + p2 * r2) + 515]
    np.testing.assert_allclose(geo.project_to_2d(np.array([x * 4, y * 4, 4.0]), intr), expected, atol=1e-9)
    # x / z beyond 1 is clamped to 1
    np.testing.assert_allclose(
        geo.project_to_2d(np.array([9.0, 0.0, 1.0]), intr), geo.project_to_2d(np.array([1.0, 0.0, 1.0]), intr)
    )


def test_normalised_intrinsics_project_to_normalised_coordinates_numpy_and_torch(rng):
    cam = h36m_cameras()["S9"][2]
    world = np.c_[rng.uniform(-0.5, 0.5, (5, 17, 2)), rng.uniform(0, 1.8, (5, 17, 1))]
    pts = cam.world_to_camera(world)
    pixels = cam.project(world)
    normalised = geo.project_to_2d(pts, cam.intrinsics.astype(np.float64))
    np.testing.assert_allclose(normalised, cam.normalize(pixels), atol=1e-6)
    batch = torch.as_tensor(np.repeat(cam.intrinsics[None], 5, 0))  # (B, 9) against (B, J, 3)
    out = geo.project_to_2d(torch.as_tensor(pts, dtype=torch.float32), batch)
    np.testing.assert_allclose(out.numpy(), normalised, atol=1e-5)


def test_camera_sets():
    h36m = h36m_cameras()
    assert sorted(h36m) == sorted(["S1", "S5", "S6", "S7", "S8", "S9", "S11"])
    assert all(len(c) == 4 for c in h36m.values())
    cam = h36m["S1"][0]
    assert cam.intrinsics.dtype == np.float32 and cam.intrinsics.shape == (9,)
    assert 1.0 < np.linalg.norm(cam.translation) < 10.0  # metres, not millimetres
    eva = humaneva_cameras()
    assert sorted(eva) == ["S1", "S2", "S3"]
    assert all(len(c) == 3 and c[0].res_w == 640 and c[0].res_h == 480 for c in eva.values())


def test_bad_shapes_raise_clear_errors():
    with pytest.raises(ValueError, match="last dimension of 4"):
        geo.quat_multiply(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="9 intrinsic numbers"):
        geo.project_to_2d(np.ones((2, 3)), np.ones(4))
