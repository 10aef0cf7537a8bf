"""Skeleton layouts: joint names, parents, left/right symmetry and the five joint groups.

Everything that depends on a joint index lives here, as data. The model, the flip augmentation, the plots and the
keypoint converters all read these tables instead of hard-coding indices.

Layouts follow VideoPose3D's conventions (``h36m`` with 17 joints, ``humaneva15`` with 15 joints); the raw 32-joint
Human3.6M mocap skeleton is reduced to 17 joints with :data:`H36M_32_TO_17`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "JointGroup",
    "Skeleton",
    "H36M_17",
    "HUMANEVA_15",
    "COCO_17",
    "H36M_32_TO_17",
    "SKELETONS",
    "get_skeleton",
]


@dataclass(frozen=True)
class JointGroup:
    """A named set of joints that the model encodes and decodes together (torso, one arm, one leg)."""

    name: str
    joints: tuple[int, ...]
    kind: str  # "torso" or "limb": the heterogeneous fusion picks its operator by kind

    def __len__(self) -> int:
        return len(self.joints)


@dataclass(frozen=True)
class Skeleton:
    """A joint layout: names, kinematic tree, left/right symmetry and (optionally) the five joint groups."""

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    joints_left: tuple[int, ...]
    joints_right: tuple[int, ...]
    groups: tuple[JointGroup, ...] = field(default=())

    def __post_init__(self) -> None:
        n = len(self.joint_names)
        if len(self.parents) != n:
            raise ValueError(f"{self.name}: {len(self.parents)} parents for {n} joints")
        if len(self.joints_left) != len(self.joints_right):
            raise ValueError(f"{self.name}: left and right joint lists differ in length")
        if self.groups:
            covered = sorted(j for g in self.groups for j in g.joints)
            if covered != list(range(n)):
                raise ValueError(f"{self.name}: joint groups must cover every joint exactly once, got {covered}")

    # ------------------------------------------------------------------ basic facts
    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def root(self) -> int:
        return self.parents.index(-1)

    def index(self, joint_name: str) -> int:
        """Index of a joint by name (case-insensitive)."""
        lowered = [n.lower() for n in self.joint_names]
        try:
            return lowered.index(joint_name.lower())
        except ValueError:
            raise KeyError(f"{self.name} has no joint {joint_name!r}; joints: {', '.join(self.joint_names)}") from None

    def bones(self) -> list[tuple[int, int]]:
        """(child, parent) pairs of the kinematic tree."""
        return [(j, p) for j, p in enumerate(self.parents) if p >= 0]

    def children(self, joint: int) -> list[int]:
        return [j for j, p in enumerate(self.parents) if p == joint]

    def side_of(self, joint: int) -> str:
        """'left', 'right' or 'centre' (used for colouring plots)."""
        if joint in self.joints_left:
            return "left"
        if joint in self.joints_right:
            return "right"
        return "centre"

    # ------------------------------------------------------------------ symmetry
    def flip_permutation(self) -> np.ndarray:
        """Index array ``perm`` such that ``pose[..., perm, :]`` swaps every left joint with its right twin."""
        perm = np.arange(self.num_joints)
        perm[list(self.joints_left)] = self.joints_right
        perm[list(self.joints_right)] = self.joints_left
        return perm

    def flip_group_permutation(self) -> np.ndarray:
        """Index array that maps each group to its mirror group (torso to itself, left arm to right arm...)."""
        perm = self.flip_permutation()
        lookup = {tuple(sorted(g.joints)): i for i, g in enumerate(self.groups)}
        out = []
        for g in self.groups:
            mirrored = tuple(sorted(int(perm[j]) for j in g.joints))
            if mirrored not in lookup:
                raise ValueError(f"{self.name}: group {g.name} has no mirror group")
            out.append(lookup[mirrored])
        return np.asarray(out)

    # ------------------------------------------------------------------ groups
    @property
    def group_names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.groups)

    def group_of(self, joint: int) -> int:
        for i, g in enumerate(self.groups):
            if joint in g.joints:
                return i
        raise KeyError(f"joint {joint} is in no group of {self.name}")

    def require_groups(self) -> None:
        if not self.groups:
            raise ValueError(
                f"layout {self.name!r} defines no joint groups, so EHFusion cannot be built for it; "
                f"use one of: {', '.join(k for k, s in SKELETONS.items() if s.groups)}"
            )


# ---------------------------------------------------------------------------------------------------------------------
# Human3.6M, 17 joints (VideoPose3D order)
H36M_17 = Skeleton(
    name="h36m",
    joint_names=(
        "Hip", "RHip", "RKnee", "RFoot", "LHip", "LKnee", "LFoot", "Spine", "Thorax", "Neck",
        "Head", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist",
    ),
    parents=(-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
    joints_left=(4, 5, 6, 11, 12, 13),
    joints_right=(1, 2, 3, 14, 15, 16),
    groups=(
        JointGroup("torso", (0, 7, 8, 9, 10), "torso"),
        JointGroup("right_leg", (1, 2, 3), "limb"),
        JointGroup("left_leg", (4, 5, 6), "limb"),
        JointGroup("left_arm", (11, 12, 13), "limb"),
        JointGroup("right_arm", (14, 15, 16), "limb"),
    ),
)

#: Indices of the 32-joint Human3.6M mocap skeleton that VideoPose3D keeps (it drops
#: 4, 5, 9, 10, 11, 16, 20, 21, 22, 23, 24, 28, 29, 30, 31 and re-parents both shoulders to the thorax).
H36M_32_TO_17 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)

# HumanEva-I, 15 joints (VideoPose3D order). Groups are ours: the torso is pelvis, thorax and head.
HUMANEVA_15 = Skeleton(
    name="humaneva15",
    joint_names=(
        "Pelvis", "Thorax", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist",
        "LHip", "LKnee", "LAnkle", "RHip", "RKnee", "RAnkle", "Head",
    ),
    parents=(-1, 0, 1, 2, 3, 1, 5, 6, 0, 8, 9, 0, 11, 12, 1),
    joints_left=(2, 3, 4, 8, 9, 10),
    joints_right=(5, 6, 7, 11, 12, 13),
    groups=(
        JointGroup("torso", (0, 1, 14), "torso"),
        JointGroup("right_leg", (11, 12, 13), "limb"),
        JointGroup("left_leg", (8, 9, 10), "limb"),
        JointGroup("left_arm", (2, 3, 4), "limb"),
        JointGroup("right_arm", (5, 6, 7), "limb"),
    ),
)

# COCO keypoint order (what most 2D detectors emit). Only used as an input layout: no groups.
COCO_17 = Skeleton(
    name="coco",
    joint_names=(
        "Nose", "LEye", "REye", "LEar", "REar", "LShoulder", "RShoulder", "LElbow", "RElbow",
        "LWrist", "RWrist", "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle",
    ),
    # COCO has no kinematic root; this tree (rooted at the nose) is only used for drawing.
    parents=(-1, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14),
    joints_left=(1, 3, 5, 7, 9, 11, 13, 15),
    joints_right=(2, 4, 6, 8, 10, 12, 14, 16),
)

SKELETONS: dict[str, Skeleton] = {s.name: s for s in (H36M_17, HUMANEVA_15, COCO_17)}


def get_skeleton(name: str | Skeleton) -> Skeleton:
    """Look a layout up by name (``'h36m'``, ``'humaneva15'``, ``'coco'``); a Skeleton passes through."""
    if isinstance(name, Skeleton):
        return name
    try:
        return SKELETONS[name]
    except KeyError:
        raise KeyError(f"unknown skeleton layout {name!r}; known layouts: {', '.join(SKELETONS)}") from None
