import numpy as np
import pytest

from ehfusion.io import atomic_savez, atomic_write
from ehfusion.skeleton import COCO_17, H36M_17, H36M_32_TO_17, HUMANEVA_15, Skeleton, get_skeleton


@pytest.mark.parametrize("skeleton", [H36M_17, HUMANEVA_15])
def test_groups_cover_joints_and_mirror(skeleton):
    assert skeleton.root == 0
    assert len(skeleton.groups) == 5 and skeleton.groups[0].kind == "torso"
    assert sorted(j for g in skeleton.groups for j in g.joints) == list(range(skeleton.num_joints))
    perm = skeleton.flip_permutation()
    assert np.array_equal(perm[perm], np.arange(skeleton.num_joints))
    group_perm = skeleton.flip_group_permutation()
    assert group_perm[0] == 0 and sorted(group_perm) == list(range(5))
    for child, parent in skeleton.bones():
        assert skeleton.side_of(child) in ("left", "right", "centre")
        assert parent < skeleton.num_joints


def test_h36m_facts():
    assert H36M_17.group_names == ("torso", "right_leg", "left_leg", "left_arm", "right_arm")
    assert H36M_17.groups[0].joints == (0, 7, 8, 9, 10)
    assert H36M_17.index("lwrist") == 13 and H36M_17.side_of(13) == "left"
    assert len(H36M_32_TO_17) == 17
    assert get_skeleton("coco") is COCO_17 and not COCO_17.groups
    with pytest.raises(ValueError, match="no joint groups"):
        COCO_17.require_groups()
    with pytest.raises(KeyError, match="known layouts"):
        get_skeleton("smpl")
    with pytest.raises(ValueError, match="cover every joint"):
        Skeleton("bad", ("a", "b"), (-1, 0), (), (), groups=(H36M_17.groups[0],))


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "result.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as handle:
            handle.write(b"partial")
            raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]
    with atomic_write(target) as handle:
        handle.write(b"new")
    assert target.read_bytes() == b"new"
    atomic_savez(tmp_path / "a.npz", x=np.arange(3))
    assert np.load(tmp_path / "a.npz")["x"].tolist() == [0, 1, 2]
