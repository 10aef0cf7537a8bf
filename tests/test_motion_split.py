"""The unseen-motion split: whole clips held out of training and validation, and the whole test set."""
from __future__ import annotations

import pytest

from ehfusion.data import load_dataset
from ehfusion.data.loading import dataset_spec
from ehfusion.data.splits import EMBEDDED_UNSEEN_MOTIONS
from ehfusion.experiments.runner import ExperimentConfig, default_results_path, load_experiment_data, motion_split


def _base(action: str) -> str:
    return action.split(" ")[0]


@pytest.fixture(scope="module")
def embedded():
    return load_dataset("embedded", keypoints="gt")


def test_the_held_out_clips_are_fixed_in_the_dataset_spec():
    assert dataset_spec("embedded").unseen_motions == EMBEDDED_UNSEEN_MOTIONS
    assert EMBEDDED_UNSEEN_MOTIONS == ("run", "spinkick", "cartwheel", "getup_facedown")
    assert dataset_spec("h36m").unseen_motions == ()


def test_motion_split_separates_seen_and_unseen_motions(embedded):
    seen, unseen = motion_split(embedded)
    assert sorted(unseen) == sorted(EMBEDDED_UNSEEN_MOTIONS)
    assert len(seen) == 11 and not set(seen) & set(unseen)
    with pytest.raises(ValueError, match="needs seen and unseen"):
        motion_split(embedded, actions=["walk", "jump"])


def test_experiment_data_of_the_motion_split(embedded):
    data = load_experiment_data(ExperimentConfig(split="motions", robustness=False), dataset=embedded)
    unseen = set(EMBEDDED_UNSEEN_MOTIONS)
    assert {_base(s.action) for s in data.test} == unseen
    assert not {_base(s.action) for s in data.train + data.validation} & unseen
    assert {s.subject for s in data.test} == {"S9", "S11"} and {s.subject for s in data.validation} == {"S8"}
    standard = load_experiment_data(ExperimentConfig(robustness=False), dataset=embedded)
    assert len(data.train) < len(standard.train) and len(data.test) < len(standard.test)


def test_the_split_has_its_own_results_file_and_checkpoints():
    assert default_results_path("det").name == "experiments_det.json"
    assert default_results_path("det", "motions").name == "experiments_det_motions.json"
    assert ExperimentConfig(split="motions").training_key() != ExperimentConfig().training_key()
    with pytest.raises(ValueError, match="split must be one of"):
        ExperimentConfig(split="clips")
