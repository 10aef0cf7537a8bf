"""Generated bad inputs (Hypothesis) over the file structures: each ends in a correct result or one clear error.

Every property writes a generated file into a fresh folder, reads it through the public loader and checks: either the
result is usable, or the error is the boundary's type (``DataFileError``, ``CheckpointError``, ``KeypointFileError``,
``ParameterError``) and names the file; and the folder is exactly as it was (nothing rewritten, nothing half-written).
The number of generated cases is counted and must reach :data:`MIN_GENERATED` over the module.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ehfusion.checkpoints import list_checkpoints, load_checkpoint, save_checkpoint
from ehfusion.data import loading
from ehfusion.errors import CheckpointError, DataFileError, KeypointFileError, ParameterError
from ehfusion.keypoints import Keypoints2D, load_keypoints
from ehfusion.models import ModelConfig, build_model

from test_faults import GOOD_2D, GOOD_3D, assert_nothing_lost, h36m_folder, npz_bytes, pickled, snapshot

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: Examples per property (EHFUSION_FUZZ_EXAMPLES=500 for a deeper search); the module runs >= MIN_GENERATED in all.
EXAMPLES = int(os.environ.get("EHFUSION_FUZZ_EXAMPLES", 30))
MIN_GENERATED = 150
DEEP = EXAMPLES > 30
GENERATED: dict[str, int] = {}
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not DEEP, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def counted(name: str) -> None:
    GENERATED[name] = GENERATED.get(name, 0) + 1


# ----------------------------------------------------------------------------------------------------- strategies
scalars = st.one_of(st.none(), st.booleans(), st.sampled_from([-1, 0, 3, 17, 10 ** 9, 2 ** 62]),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4))
arrays = st.builds(lambda shape, dtype: np.zeros(shape, dtype=dtype),
                   st.lists(st.integers(0, 4), max_size=3).map(tuple), st.sampled_from(["f4", "i8", "?", "U2", "O"]))
poses = st.builds(lambda n, j, c, fill: np.full((n, j, c), fill), st.integers(0, 6), st.sampled_from([5, 15, 17, 32]),
                  st.sampled_from([2, 3]), st.sampled_from([0.1, np.nan, np.inf]))
keys = st.one_of(st.sampled_from(["S1", "S9", "walk", "Walk 1"]), st.integers(0, 3))
trees = st.recursive(scalars | arrays | poses,
                     lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=3),
                     max_leaves=8)


def _fresh_folder():
    return tempfile.TemporaryDirectory(prefix="ehfusion-fuzz-")


def _check_data(folder: Path) -> None:
    """Load the h36m files in ``folder``: a usable dataset or a DataFileError naming a file; nothing changed."""
    before = snapshot(folder)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = loading.load_dataset("h36m", "x", data_dir=folder)
        for sequence in ds.sequences():
            assert np.isfinite(sequence.keypoints_2d).all() and np.isfinite(sequence.poses_3d).all()
    except DataFileError as err:
        assert "data_3d_h36m.npz" in str(err) or "data_2d_h36m_x.npz" in str(err), str(err)
    assert_nothing_lost(before, folder)


# ----------------------------------------------------------------------------------------------------- data files
@FUZZ
@given(positions=st.one_of(trees, st.dictionaries(keys, st.dictionaries(keys, trees | poses, max_size=2), max_size=2)))
def test_generated_3d_structures(positions):
    counted("3d structure")
    with _fresh_folder() as name:
        _check_data(h36m_folder(Path(name), npz_bytes(positions_3d=pickled(positions))))


@FUZZ
@given(views=st.one_of(trees, st.lists(poses | scalars, min_size=4, max_size=4)), metadata=trees)
def test_generated_2d_structures(views, metadata):
    counted("2d structure")
    content = npz_bytes(positions_2d=pickled({"S1": {"walk": views}}), metadata=pickled(metadata))
    with _fresh_folder() as name:
        _check_data(h36m_folder(Path(name), GOOD_3D, content))


@FUZZ
@given(cut=st.integers(0, len(GOOD_3D)), flips=st.lists(st.tuples(st.integers(0, len(GOOD_3D) - 1),
                                                                  st.integers(0, 7)), max_size=6),
       which=st.sampled_from(["3d", "2d"]))
def test_generated_damaged_bytes(cut, flips, which):
    counted("damaged npz bytes")
    data = bytearray((GOOD_3D if which == "3d" else GOOD_2D)[:cut] if cut % 3 == 0 else
                     (GOOD_3D if which == "3d" else GOOD_2D))
    for position, bit in flips:
        if position < len(data):
            data[position] ^= 1 << bit
    with _fresh_folder() as name:
        if which == "3d":
            folder = h36m_folder(Path(name), bytes(data))
        else:
            folder = h36m_folder(Path(name), GOOD_3D, bytes(data))
        _check_data(folder)


# ----------------------------------------------------------------------------------------------------- checkpoints
TINY = ModelConfig(filter_widths=(3,), channels=8, latent=8, hidden=8, angle_channels=8, angle_features=8,
                   camera_features=8, camera_hidden=8)


def _tiny_payload() -> dict:
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory() as name:
        path = save_checkpoint(Path(name) / "m.bin", build_model(TINY), model_config=TINY, strategy="one-stage",
                               stage=1, dataset="embedded", keypoints="gt", epoch=1)
        buffer.write(path.read_bytes())
    return torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)


BASE = _tiny_payload()
config_values = st.one_of(scalars, st.sampled_from([8, 16, 1, (3, 3), [3], [2], "h36m", "humaneva15", "fc", "none",
                                                    "videopose3d", 0.5, ["fused"]]))


@FUZZ
@given(top=st.dictionaries(st.sampled_from(sorted(BASE)), trees, max_size=2),
       config=st.dictionaries(st.sampled_from(sorted(BASE["model_config"]) + ["extra"]), config_values, max_size=3))
def test_generated_checkpoint_dicts(top, config):
    counted("checkpoint dict")
    payload = {**BASE, "model_config": {**BASE["model_config"], **config}, **top}
    with _fresh_folder() as name:
        path = Path(name) / "model.bin"
        torch.save(payload, path)
        before = snapshot(Path(name))
        try:
            ckpt = load_checkpoint(path)
            assert ckpt.model is not None and ckpt.describe()
        except CheckpointError as err:
            assert str(path) in str(err)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert list(list_checkpoints(Path(name))) == ["model.bin"]  # listed or skipped, never a crash
        assert_nothing_lost(before, Path(name))


# ----------------------------------------------------------------------------------------------------- keypoint files
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10 ** 13) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(
        st.sampled_from(["keypoints", "image_id", "frame", "score", "annotations", "images", "id", "people",
                         "keypoint_scores"]) | st.text(max_size=3), children, max_size=4),
    max_leaves=12)
people = st.fixed_dictionaries({"keypoints": st.one_of(
    st.lists(st.floats(0, 500) | st.none(), min_size=51, max_size=51),
    st.lists(st.lists(st.floats(0, 500), min_size=3, max_size=3), min_size=17, max_size=17),
    json_values)}, optional={"image_id": st.integers(0, 40) | json_values, "score": st.floats(0, 1) | json_values})


@FUZZ
@given(document=st.one_of(json_values, st.lists(people, max_size=4),
                          st.fixed_dictionaries({"annotations": st.lists(people, max_size=3),
                                                 "images": json_values})))
def test_generated_keypoint_json(document):
    counted("keypoint json")
    with _fresh_folder() as name:
        path = Path(name) / "k.json"
        path.write_text(json.dumps(document))
        before = snapshot(Path(name))
        try:
            assert isinstance(load_keypoints(path), Keypoints2D)
        except KeypointFileError as err:
            assert "k.json" in str(err)
        assert_nothing_lost(before, Path(name))


@FUZZ
@given(content=st.one_of(st.binary(max_size=300), st.text(max_size=200).map(str.encode)),
       suffix=st.sampled_from([".npz", ".npy", ".json", ".csv"]),
       array=st.one_of(arrays, poses))
def test_generated_keypoint_files(content, suffix, array):
    counted("keypoint file bytes")
    with _fresh_folder() as name:
        path = Path(name) / f"k{suffix}"
        if suffix == ".npz" and len(content) % 2:
            content = npz_bytes(keypoints=array)
        elif suffix == ".npy" and len(content) % 2:
            buffer = io.BytesIO()
            np.save(buffer, array, allow_pickle=True)
            content = buffer.getvalue()
        path.write_bytes(content)
        before = snapshot(Path(name))
        try:
            assert isinstance(load_keypoints(path), Keypoints2D)
        except KeypointFileError as err:
            assert path.name in str(err)
        assert_nothing_lost(before, Path(name))


# ----------------------------------------------------------------------------------------------------- notebook parameters
@FUZZ
@given(parameters=st.one_of(json_values, st.dictionaries(st.sampled_from(["fast", "seed", "keypoints", "retrain",
                                                                          "threads", "epochz"]), json_values,
                                                         max_size=3)))
def test_generated_notebook_parameters(parameters):
    from ehfusion import course

    counted("notebook parameters")
    notebook = course.course_notebooks(only="03")[0]
    try:
        assert course.check_parameters(notebook, parameters) == dict(parameters or {})
    except ParameterError as err:
        assert "03_one_stage_training.ipynb" in str(err)


def test_enough_cases_were_generated():
    """Runs last in this module: at least MIN_GENERATED generated cases in all (when every property ran)."""
    if len(GENERATED) < 7:
        pytest.skip("only part of the module ran")
    total = sum(GENERATED.values())
    print(f"\ngenerated cases: {total} ({', '.join(f'{k} {v}' for k, v in GENERATED.items())})")
    assert total >= MIN_GENERATED
