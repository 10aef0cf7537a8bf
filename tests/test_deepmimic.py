"""DeepMimic clips: parsing, forward kinematics (checked against pybullet), retargeting, resampling and looping."""
import numpy as np
import pytest

pytest.importorskip("pybullet_data", reason="the DeepMimic clips ship in the pybullet wheel")

from ehfusion import geometry as geo  # noqa: E402
from ehfusion.data import deepmimic as dm  # noqa: E402
from ehfusion.skeleton import H36M_17  # noqa: E402

FRAMES = {
    "backflip": 29, "cartwheel": 164, "crawl": 177, "dance_a": 98, "dance_b": 153, "getup_facedown": 183,
    "getup_faceup": 227, "jump": 107, "kick": 47, "punch": 65, "roll": 121, "run": 25, "spin": 107,
    "spinkick": 78, "walk": 39,
}


@pytest.fixture(scope="module")
def walk():
    return dm.load_clip("walk")


def bone_lengths(joints):
    return np.stack([np.linalg.norm(joints[:, c] - joints[:, p], axis=-1) for c, p in H36M_17.bones()], axis=1)


def test_all_clips_parse_with_documented_frame_counts():
    assert dm.clip_names() == sorted(FRAMES)
    for name, frames in FRAMES.items():
        clip = dm.load_clip(name)
        assert clip.num_frames == frames
        assert clip.rotations.shape == (frames, len(dm.LINKS), 4)
        np.testing.assert_allclose(np.linalg.norm(clip.rotations, axis=-1), 1.0, atol=1e-9)
        assert np.all(np.diff(clip.times) > 0)


def test_parse_rejects_wrong_frame_size():
    with pytest.raises(ValueError, match="44 numbers"):
        dm.parse_clip("bad", '{"Loop": "none", "Frames": [[1, 2, 3]]}')


def test_unknown_clip_lists_the_available_ones():
    with pytest.raises(FileNotFoundError, match="available: backflip"):
        dm.load_clip("moonwalk")


def test_forward_kinematics_matches_pybullet():
    p = pytest.importorskip("pybullet")
    import pybullet_data

    client = p.connect(p.DIRECT)
    try:
        body_id = p.loadURDF(
            f"{pybullet_data.getDataPath()}/humanoid/humanoid.urdf", globalScaling=0.25,
            flags=p.URDF_MAINTAIN_LINK_ORDER, physicsClientId=client,
        )
        index = {p.getJointInfo(body_id, j, physicsClientId=client)[1].decode(): j
                 for j in range(p.getNumJoints(body_id, physicsClientId=client))}
        for name, frame in (("cartwheel", 50), ("backflip", 12), ("crawl", 100)):
            clip = dm.load_clip(name)
            pose = dm.PoseStream(clip.root_position[frame:frame + 1], clip.rotations[frame:frame + 1])
            positions, _ = dm.forward_kinematics(pose, dm.default_body())
            xyzw = lambda q: [q[1], q[2], q[3], q[0]]  # noqa: E731 - pybullet orders quaternions (x, y, z, w)
            p.resetBasePositionAndOrientation(body_id, pose.root_position[0].tolist(), xyzw(pose.rotations[0, 0]),
                                              physicsClientId=client)
            for i, link in enumerate(dm.LINKS[1:], 1):
                q = pose.rotations[0, i]
                if p.getJointInfo(body_id, index[link], physicsClientId=client)[2] == p.JOINT_SPHERICAL:
                    p.resetJointStateMultiDof(body_id, index[link], xyzw(q), physicsClientId=client)
                else:
                    p.resetJointState(body_id, index[link], 2 * np.arctan2(q[3], q[0]), physicsClientId=client)
            for i, link in enumerate(dm.LINKS[1:], 1):
                state = p.getLinkState(body_id, index[link], computeForwardKinematics=True, physicsClientId=client)
                np.testing.assert_allclose(state[4], positions[0, i], atol=1e-5, err_msg=f"{name} {link}")
    finally:
        p.disconnect(client)


def test_bone_lengths_are_constant_and_follow_the_body_scale(walk):
    poses = dm.sample_clip(walk, np.arange(0, 3, 0.02))
    base = bone_lengths(dm.h36m_joints(poses, dm.default_body()))
    np.testing.assert_allclose(base, base[:1].repeat(len(base), 0), atol=1e-9)
    scaled_body = dm.default_body().scaled({"right_knee": 1.2, "left_knee": 1.2})
    scaled = bone_lengths(dm.h36m_joints(poses, scaled_body))
    np.testing.assert_allclose(scaled, scaled[:1].repeat(len(scaled), 0), atol=1e-9)
    thigh = [i for i, (c, _) in enumerate(H36M_17.bones()) if H36M_17.joint_names[c] in ("RKnee", "LKnee")]
    np.testing.assert_allclose(scaled[0, thigh], 1.2 * base[0, thigh])


def test_left_joints_are_on_the_left_of_the_body(walk):
    joints = dm.to_z_up(dm.h36m_joints(dm.sample_clip(walk, np.arange(0, 1.2, 0.02)), dm.default_body()))
    poses = dm.sample_clip(walk, np.arange(0, 1.2, 0.02))
    # the body's left axis: the root's -z (data axes, z is the character's right), in the z-up world
    left = dm.to_z_up(geo.quat_rotate(poses.rotations[:, 0], np.array([0.0, 0.0, -1.0])))
    for left_joint, right_joint in zip(H36M_17.joints_left, H36M_17.joints_right):
        across = joints[:, left_joint] - joints[:, right_joint]
        if H36M_17.joint_names[left_joint] in ("LHip", "LShoulder"):
            assert np.all(np.sum(across * left, -1) > 0.1)
    # standing upright and facing +x, the left hip has the larger world y (right-handed, z up)
    upright = dm.to_z_up(dm.h36m_joints(dm.PoseStream(np.zeros((1, 3)), np.tile([1.0, 0, 0, 0], (1, 13, 1))),
                                        dm.default_body()))[0]
    assert upright[H36M_17.index("LHip"), 1] > upright[H36M_17.index("RHip"), 1]
    assert upright[H36M_17.index("Head"), 2] > upright[H36M_17.index("Hip"), 2] > upright[H36M_17.index("LFoot"), 2]
    assert upright[H36M_17.index("Neck"), 0] > upright[H36M_17.index("Thorax"), 0]  # the nose is in front


def test_z_up_conversion_is_a_proper_rotation():
    m = dm.to_z_up(np.eye(3))
    np.testing.assert_allclose(m @ m.T, np.eye(3))
    assert np.linalg.det(m) == pytest.approx(1.0)
    np.testing.assert_allclose(dm.to_z_up([0.0, 1.0, 0.0]), [0, 0, 1])  # y up -> z up


def test_sampling_at_keyframe_times_reproduces_the_keyframes():
    kick = dm.load_clip("kick")  # a "none" clip, durations 1/30 s
    poses = dm.sample_clip(kick, kick.times)
    np.testing.assert_allclose(poses.root_position, kick.root_position, atol=1e-9)
    np.testing.assert_allclose(np.abs(np.sum(poses.rotations * kick.rotations, -1)), 1.0, atol=1e-9)
    # outside the clip the first and last poses are held
    held = dm.sample_clip(kick, [-1.0, kick.duration + 1.0])
    np.testing.assert_allclose(held.root_position, kick.root_position[[0, -1]])


def test_resampling_interpolates_between_keyframes(walk):
    t = 0.5 * (walk.times[3] + walk.times[4])
    pose = dm.sample_clip(walk, [t])
    np.testing.assert_allclose(pose.root_position[0], walk.root_position[3:5].mean(0), atol=1e-9)


def test_looping_travels_on_and_is_smooth_through_the_seam(walk):
    dt = 0.004
    t = np.arange(0, 3 * walk.duration, dt)
    joints = dm.h36m_joints(dm.sample_clip(walk, t), dm.default_body())
    speed = np.linalg.norm(np.diff(joints, axis=0), axis=-1).max(1) / dt
    assert speed.max() < 4.0  # m/s: no jump at the seams (unblended seams reach > 10 m/s)
    step = walk.root_position[-1, [0, 2]] - walk.root_position[0, [0, 2]]
    travelled = joints[-1, 0, [0, 2]] - joints[0, 0, [0, 2]]
    assert np.linalg.norm(travelled) > 2.5 * np.linalg.norm(step)  # keeps walking, cycle after cycle
