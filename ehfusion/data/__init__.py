"""Pose data: loading VideoPose3D-format files, the embedded DeepMimic dataset and the detector-like noise model.

>>> from ehfusion.data import load_dataset
>>> ds = load_dataset("embedded", keypoints="gt")        # doctest: +SKIP
>>> seqs = ds.sequences(subjects=["S1", "S5"])            # doctest: +SKIP

Building the embedded set (``ehfusion.data.embedded``) needs pybullet; nothing imported here does.
"""
from ehfusion.data.loading import (
    DATASETS,
    DatasetSpec,
    PoseDataset,
    dataset_spec,
    load_dataset,
    load_positions_2d,
    load_positions_3d,
    register_dataset,
    select_actions,
)
from ehfusion.data.sequence import Sequence
from ehfusion.data.splits import (
    EMBEDDED_TEST_SUBJECTS,
    EMBEDDED_TRAIN_SUBJECTS,
    EMBEDDED_VALIDATION_SUBJECTS,
    H36M_TEST_SUBJECTS,
    H36M_TRAIN_SUBJECTS,
    H36M_VALIDATION_SUBJECTS,
    HUMANEVA_TEST_SUBJECTS,
    HUMANEVA_TRAIN_SUBJECTS,
    HUMANEVA_VALIDATION_SUBJECTS,
)

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "PoseDataset",
    "Sequence",
    "dataset_spec",
    "load_dataset",
    "load_positions_2d",
    "load_positions_3d",
    "register_dataset",
    "select_actions",
    "H36M_TRAIN_SUBJECTS",
    "H36M_TEST_SUBJECTS",
    "H36M_VALIDATION_SUBJECTS",
    "EMBEDDED_TRAIN_SUBJECTS",
    "EMBEDDED_TEST_SUBJECTS",
    "EMBEDDED_VALIDATION_SUBJECTS",
    "HUMANEVA_TRAIN_SUBJECTS",
    "HUMANEVA_TEST_SUBJECTS",
    "HUMANEVA_VALIDATION_SUBJECTS",
]
