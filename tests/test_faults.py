"""Faults at every boundary: each bad input is one clear error (type, file, fix), nothing half-written, nothing lost.

The cases are the ones a new user runs into: damaged VideoPose3D files, malformed checkpoints, a full disk, a read-only
data folder, paths of the wrong kind on the command lines, bad keypoint files and notebook parameters. Generated cases
over the same file structures are in ``test_faults_fuzz.py``.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from ehfusion import checkpoints, paths, shipping
from ehfusion.checkpoints import list_checkpoints, load_checkpoint, read_checkpoint, save_checkpoint
from ehfusion.cli.checkpoints import main as checkpoints_command
from ehfusion.data import loading
from ehfusion.errors import (
    CheckpointError, DataFileError, EHFusionError, KeypointFileError, OutputPathError, ParameterError,
)
from ehfusion.keypoints import load_keypoints, write_coco_json
from ehfusion.models import ModelConfig, build_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REPO = Path(__file__).resolve().parents[1]
EMBEDDED_3D = REPO / "data" / "data_3d_embedded.npz"
TINY = ModelConfig(filter_widths=(3,), channels=8, latent=8, hidden=8, angle_channels=8, angle_features=8,
                   camera_features=8, camera_hidden=8)


# ----------------------------------------------------------------------------------------------------- helpers
def snapshot(folder: Path) -> dict[Path, str]:
    """SHA-256 of every file under ``folder`` (hidden temporaries included)."""
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in Path(folder).rglob("*") if p.is_file()}


def assert_nothing_lost(before: dict[Path, str], folder: Path, allowed_new: tuple[str, ...] = ()) -> None:
    """Every file of ``before`` is unchanged and no new file (a half-written temporary) appeared in ``folder``."""
    after = snapshot(folder)
    assert {p: after.get(p) for p in before} == before, "an existing file changed or disappeared"
    new = sorted(p.name for p in set(after) - set(before) if p.name not in allowed_new)
    assert not new, f"files left behind: {new}"


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def pickled(value) -> np.ndarray:
    """``value`` as the 0-d object array VideoPose3D stores its dicts in."""
    array = np.empty((), dtype=object)
    array[()] = value
    return array


GOOD_3D = npz_bytes(positions_3d=pickled({"S1": {"walk": np.zeros((5, 17, 3))}}))
GOOD_2D = npz_bytes(positions_2d=pickled({"S1": {"walk": [np.zeros((5, 17, 2))] * 4}}), metadata=pickled({}))


def h36m_folder(folder: Path, content_3d: bytes = GOOD_3D, content_2d: bytes = GOOD_2D) -> Path:
    """A data folder with ``data_3d_h36m.npz`` and ``data_2d_h36m_x.npz`` holding the given bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data_3d_h36m.npz").write_bytes(content_3d)
    (folder / "data_2d_h36m_x.npz").write_bytes(content_2d)
    return folder


def load_h36m(folder: Path):
    return loading.load_dataset("h36m", "x", data_dir=folder)


def run_main(main, argv) -> tuple[int, str]:
    """Exit status and stderr of a command line's ``main``."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = main(argv)
        except SystemExit as exc:
            status = exc.code
    return status, err.getvalue()


def assert_one_line_error(status: int, stderr: str, *needles: str) -> None:
    assert status == 2
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def tiny_checkpoint(path: Path, **overrides) -> Path:
    """A real checkpoint of a tiny model; ``overrides`` replace entries of the stored dict."""
    save_checkpoint(path, build_model(TINY), model_config=TINY, strategy="one-stage", stage=1, dataset="embedded",
                    keypoints="gt", epoch=1, best_epoch=1, best_metric=50.0)
    if overrides:
        payload = torch.load(path, weights_only=True)
        for key, value in overrides.items():
            if key.startswith("model_config."):
                payload["model_config"][key.split(".", 1)[1]] = value
            else:
                payload[key] = value
        torch.save(payload, path)
    return path


# ----------------------------------------------------------------------------------------------------- data files
def _flipped(data: bytes) -> bytes:
    out = bytearray(data)
    for i in range(200, len(out), 997):
        out[i] ^= 0x10
    return bytes(out)


DAMAGED_3D = {
    "truncated": (lambda: EMBEDDED_3D.read_bytes()[:100_000], "damaged or truncated"),
    "empty": (lambda: b"", "found an empty file"),
    "random bytes": (lambda: np.random.default_rng(0).bytes(4000), "is not an .npz archive"),
    "bit-flipped": (lambda: _flipped(GOOD_3D), "damaged or truncated"),
}


@pytest.mark.parametrize("kind", list(DAMAGED_3D))
def test_a_damaged_3d_file_is_a_data_file_error(tmp_path, kind):
    make, words = DAMAGED_3D[kind]
    folder = h36m_folder(tmp_path / "data", make())
    before = snapshot(folder)
    with pytest.raises(DataFileError, match=words) as err:
        load_h36m(folder)
    assert str(folder / "data_3d_h36m.npz") in str(err.value) and "re-create it" in str(err.value)
    assert_nothing_lost(before, folder)


@pytest.mark.parametrize("positions, words", [
    (np.array(5), "positions_3d is an array of shape ()"),
    (np.zeros(10), r"positions_3d is an array of shape \(10,\)"),
    (pickled({"S1": [1, 2]}), r"positions_3d\['S1'\] is a value of type list"),
    (pickled({3: {"walk": np.zeros((5, 17, 3))}}), "expected string keys"),
    (pickled({"S1": {"walk": np.array([["a"]])}}), "S1/walk holds <U1 values"),
    (pickled({}), "positions_3d is empty"),
])
def test_a_3d_file_of_the_wrong_structure_says_what_it_found(tmp_path, positions, words):
    folder = h36m_folder(tmp_path, npz_bytes(positions_3d=positions))
    with pytest.raises(DataFileError, match=words) as err:
        load_h36m(folder)
    assert "data_3d_h36m.npz" in str(err.value) and "expected" in str(err.value)


@pytest.mark.parametrize("content, words", [
    (EMBEDDED_3D.read_bytes()[:900], "damaged or truncated"),
    (npz_bytes(positions_2d=pickled({"S1": {"walk": 3}}), metadata=pickled({})), "S1/walk is a value of type int"),
    (npz_bytes(positions_2d=pickled({"S1": {"walk": [np.zeros((5, 17, 2))] * 4}}), metadata=pickled([1])),
     "metadata is a value of type list"),
    (npz_bytes(positions_2d=pickled({"S1": {"walk": [np.full((5, 17, 2), "x")] * 4}})), "expected an array of numbers"),
    (npz_bytes(positions_2d=pickled({"S1": {"walk": [np.zeros((5, 17, 2))] * 4}}),
               metadata=pickled({"keypoints_symmetry": 5})), "keypoints_symmetry is 5"),
])
def test_a_bad_2d_file_is_a_data_file_error(tmp_path, content, words):
    folder = h36m_folder(tmp_path, GOOD_3D, content)
    with pytest.raises(DataFileError, match=words) as err:
        load_h36m(folder)
    assert "data_2d_h36m_x.npz" in str(err.value)


def test_a_damaged_embedded_3d_file_is_refused_before_deriving_2d_files(tmp_path):
    (tmp_path / EMBEDDED_3D.name).write_bytes(EMBEDDED_3D.read_bytes()[:5000])
    before = snapshot(tmp_path)
    with pytest.raises(DataFileError, match="data_3d_embedded.npz is a damaged or truncated .npz archive"):
        loading.load_dataset("embedded", "gt", data_dir=tmp_path)
    assert_nothing_lost(before, tmp_path)  # no derived 2D file from a broken 3D file


def _refuse_writes_in(monkeypatch, folder: Path, error: int) -> None:
    """Make every temporary file created in ``folder`` fail with ``error`` (root can write to a chmod-ed folder)."""
    real = tempfile.mkstemp

    def mkstemp(*args, **kwargs):
        if Path(kwargs.get("dir") or ".").resolve() == folder.resolve():
            raise OSError(error, "simulated", str(folder))
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


def test_a_read_only_data_folder_puts_the_derived_2d_file_in_the_cache(tmp_path, monkeypatch):
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir()
    shutil.copy(EMBEDDED_3D, data / EMBEDDED_3D.name)
    monkeypatch.setattr(paths, "CACHE_DIR", cache)
    _refuse_writes_in(monkeypatch, data, errno.EROFS)
    before = snapshot(data)
    with pytest.warns(UserWarning, match=f"data folder {data} is read-only.*goes to the cache folder {cache}"):
        ds = loading.load_dataset("embedded", "gt", data_dir=data)
    assert len(ds.sequences(subjects=["S1"])) > 0
    assert (cache / "data_2d_embedded_gt.npz").is_file()
    assert_nothing_lost(before, data)
    cached = snapshot(cache)
    _refuse_writes_in(monkeypatch, cache, errno.EACCES)  # the second time the cached file is reused, not rewritten
    with pytest.warns(UserWarning, match="read-only"):
        loading.load_dataset("embedded", "gt", data_dir=data)
    assert snapshot(cache) == cached


def test_a_read_only_data_folder_and_cache_say_how_to_fix_it(tmp_path, monkeypatch):
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir()
    shutil.copy(EMBEDDED_3D, data / EMBEDDED_3D.name)
    monkeypatch.setattr(paths, "CACHE_DIR", cache)
    cache.mkdir()
    _refuse_writes_in(monkeypatch, data, errno.EACCES)
    real = tempfile.mkstemp
    monkeypatch.setattr(tempfile, "mkstemp", lambda *a, **k: (_ for _ in ()).throw(
        PermissionError(errno.EACCES, "Permission denied")) if Path(k.get("dir")).resolve() in (
        data.resolve(), cache.resolve()) else real(*a, **k))
    with pytest.warns(UserWarning), pytest.raises(OutputPathError, match="EHFUSION_CACHE_DIR") as err:
        loading.load_dataset("embedded", "gt", data_dir=data)
    assert "data_2d_embedded_gt.npz" in str(err.value)
    assert sorted(p.name for p in data.iterdir()) == [EMBEDDED_3D.name] and not list(cache.iterdir())


def test_a_full_disk_in_the_data_folder_is_an_output_path_error(tmp_path, monkeypatch):
    shutil.copy(EMBEDDED_3D, tmp_path / EMBEDDED_3D.name)
    _refuse_writes_in(monkeypatch, tmp_path, errno.ENOSPC)
    before = snapshot(tmp_path)
    with pytest.raises(OutputPathError, match="data_2d_embedded_det.npz.*free some space"):
        loading.load_dataset("embedded", "det", data_dir=tmp_path)
    assert_nothing_lost(before, tmp_path)


# ----------------------------------------------------------------------------------------------------- checkpoints
@pytest.mark.parametrize("overrides, words", [
    ({"format_version": "1"}, "format_version is str '1', expected an integer >= 1"),
    ({"format_version": 0}, "format_version is int 0"),
    ({"model_config": "channels=8"}, "model_config is str 'channels=8', expected a dict"),
    ({"stage": "one"}, "stage is str 'one', expected an integer 1, 2 or 3"),
    ({"best_metric": "fifty"}, "best_metric is str 'fifty'"),
    ({"history": [1, 2]}, "history is list, expected a list of dicts"),
    ({"model_state": {"w": 3}}, "model_state is dict, expected a dict {name: tensor}"),
    ({"model_config.channels": 10 ** 9}, r"model_config\['channels'\] is int 1000000000, expected an integer in"),
    ({"model_config.channels": 8000, "model_config.hidden": 8000}, "billion parameters"),
    ({"model_config.filter_widths": []}, r"model_config\['filter_widths'\] is list"),
    ({"model_config.dropout": 2.0}, r"model_config\['dropout'\] is float 2.0, expected a number in \[0, 1\)"),
    ({"model_config.fusion": "magic"}, "its model_config is not a valid model .*fusion must be one of"),
    ({"model_config.layout": "h36m-99"}, "its model_config is not a valid model"),
])
def test_a_malformed_checkpoint_is_refused_before_a_model_is_built(tmp_path, monkeypatch, overrides, words):
    path = tiny_checkpoint(tmp_path / "model.bin", **overrides)
    before = snapshot(tmp_path)
    import ehfusion.models

    def no_build(config):
        raise AssertionError("a model was built from a malformed checkpoint")

    monkeypatch.setattr(ehfusion.models, "build_model", no_build)
    with pytest.raises(CheckpointError, match=words) as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)
    with pytest.warns(UserWarning, match="skipped model.bin"):
        assert list_checkpoints(tmp_path)["model.bin"].startswith("(unreadable: ")
    assert_nothing_lost(before, tmp_path)


def test_weights_that_do_not_fit_the_config_are_a_checkpoint_error(tmp_path):
    path = tiny_checkpoint(tmp_path / "model.bin", **{"model_config.channels": 16})
    with pytest.raises(CheckpointError, match="stored weights do not fit"):
        load_checkpoint(path)


def test_a_truncated_checkpoint_is_a_checkpoint_error(tmp_path):
    path = tiny_checkpoint(tmp_path / "model.bin")
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(CheckpointError, match="could not be read as an ehfusion checkpoint"):
        read_checkpoint(path)


def test_the_list_command_skips_a_malformed_file_with_a_warning(tmp_path):
    tiny_checkpoint(tmp_path / "good.bin")
    tiny_checkpoint(tmp_path / "bad.bin", model_config="channels=8")
    before = snapshot(tmp_path)
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        status = checkpoints_command(["list", str(tmp_path)])
    assert status == 0
    assert out.getvalue().startswith("good.bin: one-stage on embedded/gt") and "bad.bin" not in out.getvalue()
    assert err.getvalue().strip() == (f"warning: skipped bad.bin: {tmp_path / 'bad.bin'}: model_config is str "
                                      "'channels=8', expected a dict of model options (ModelConfig.to_dict()); the "
                                      "file is damaged or was not written by ehfusion; use another checkpoint or "
                                      "train one")
    assert_nothing_lost(before, tmp_path)


def test_show_and_evaluate_print_one_line_and_debug_shows_the_traceback(tmp_path):
    from ehfusion.cli import run

    path = tiny_checkpoint(tmp_path / "model.bin", format_version="1")
    assert_one_line_error(*run_main(checkpoints_command, ["show", str(path)]), "model.bin", "format_version")
    assert_one_line_error(*run_main(lambda a: run("one-stage", a), ["--evaluate", str(path)]), "format_version")
    with pytest.raises(EHFusionError, match="format_version"):
        run("one-stage", ["--evaluate", str(path), "--debug"])
    with pytest.raises(CheckpointError):
        checkpoints_command(["--debug", "show", str(path)])


def _disk_full(monkeypatch, module) -> None:
    def failing_save(obj, handle, *args, **kwargs):
        handle.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(module.torch, "save", failing_save)


def test_a_full_disk_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tiny_checkpoint(tmp_path / "model.bin")
    before = snapshot(tmp_path)
    _disk_full(monkeypatch, checkpoints)
    with pytest.raises(OutputPathError, match="No space left on device.*previous version is unchanged.*-c FOLDER"):
        save_checkpoint(path, build_model(TINY), model_config=TINY, strategy="one-stage", stage=1,
                        dataset="embedded", keypoints="gt", epoch=2)
    with pytest.raises(OSError):  # still an OSError for code that guards writes that way
        shipping.strip_training_state(path, tmp_path / "small.bin")
    assert_nothing_lost(before, tmp_path)


# ----------------------------------------------------------------------------------------------------- command-line paths
def test_a_checkpoint_folder_that_is_a_file_is_refused_before_training(tmp_path, monkeypatch):
    from ehfusion import cli
    from ehfusion.cli import train

    (tmp_path / "afile").write_text("x")
    before = snapshot(tmp_path)
    monkeypatch.setattr(train, "load_data", lambda *a: pytest.fail("data loaded before the folder was checked"))
    status, err = run_main(lambda a: cli.run("one-stage", a), ["-c", str(tmp_path / "afile"), "-e", "1"])
    assert_one_line_error(status, err, f"{tmp_path / 'afile'} (-c) is an existing file")
    assert_nothing_lost(before, tmp_path)
    with pytest.raises(OutputPathError):
        cli.run("one-stage", ["-c", str(tmp_path / "afile"), "--debug"])


def test_experiment_paths_of_the_wrong_kind_are_one_line_errors(tmp_path):
    from ehfusion.experiments.__main__ import main

    (tmp_path / "results").mkdir()
    (tmp_path / "afile").write_text("x")
    before = snapshot(tmp_path)
    for argv in (["summary", "--results", str(tmp_path / "results")],
                 ["figures", "--results", str(tmp_path / "results")],
                 ["run", "--results", str(tmp_path / "results"), "--no-progress"],
                 ["merge", str(tmp_path / "results"), "--results", str(tmp_path / "r.json")]):
        assert_one_line_error(*run_main(main, argv), "results", "is a folder, but a results file is expected")
    assert_one_line_error(*run_main(main, ["run", "--results", str(tmp_path / "r.json"), "--checkpoint-dir",
                                           str(tmp_path / "afile")]), "--checkpoint-dir", "is an existing file")
    assert_nothing_lost(before, tmp_path)
    with pytest.raises(OutputPathError):
        main(["--debug", "summary", "--results", str(tmp_path / "results")])


def test_a_full_disk_keeps_the_previous_results_file(tmp_path, monkeypatch):
    from ehfusion.experiments import results

    store = results.ResultStore(tmp_path / "r.json", {"epochs": 1})
    store.add({"model": "videopose3d", "seed": 0})
    before = snapshot(tmp_path)
    monkeypatch.setattr(results.json, "dump", lambda *a, **k: (_ for _ in ()).throw(
        OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(OutputPathError, match="results file .*r.json.*previous version is unchanged"):
        store.add({"model": "videopose3d", "seed": 1})
    assert_nothing_lost(before, tmp_path)


def test_course_out_that_is_a_file_is_a_one_line_error(tmp_path):
    from ehfusion import course

    (tmp_path / "afile").write_text("x")
    before = snapshot(tmp_path)
    assert_one_line_error(*run_main(course.main, ["run", "--only", "01", "--out", str(tmp_path / "afile")]),
                          "afile is an existing file")
    assert_one_line_error(*run_main(course.main, ["build", "--out", str(tmp_path / "afile")]), "afile")
    assert_nothing_lost(before, tmp_path)


# ----------------------------------------------------------------------------------------------------- keypoint files
@pytest.mark.parametrize("name, content, words", [
    ("k.json", bytes(range(256)), "is not UTF-8 text"),
    ("k.json", b"{not json", "is not valid JSON"),
    ("k.json", json.dumps([{"keypoints": 5}]), "'keypoints' is 5, expected numbers"),
    ("k.json", json.dumps({"annotations": [], "images": [{"file": 1}]}), "'images' must be a list of dicts with an"),
    ("k.json", json.dumps([{"keypoints": [1.0] * 51, "score": "high"}]), "the detection score must be a number"),
    ("k.json", json.dumps([{"keypoints": ["a"] * 51}]), "expected numbers"),
    ("k.json", json.dumps([{"frame": 0, "keypoints": [1.0] * 51}, {"frame": 10 ** 12, "keypoints": [1.0] * 51}]),
     "more than 1000000 frames"),
    ("k.json", json.dumps([{"frame": [1], "keypoints": [1.0] * 51}]), "cannot read a frame number"),
    ("k.npz", EMBEDDED_3D.read_bytes()[:700], "damaged or truncated .npz"),
    ("k.npz", b"", "found an empty file"),
    ("k.npy", b"\x93NUMPY\x01\x00v\x00{'descr'", "cannot be read as a .npy array"),
    ("k.csv", "x,y\n1,2\n", "found a .csv file, expected a .json"),
])
def test_a_bad_keypoint_file_is_a_keypoint_file_error(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = snapshot(tmp_path)
    with pytest.raises(KeypointFileError, match=words) as err:
        load_keypoints(path)
    assert name in str(err.value)
    assert_nothing_lost(before, tmp_path)


def test_the_lift_command_prints_one_line_for_a_bad_keypoint_file(tmp_path):
    from ehfusion.lift.__main__ import main

    (tmp_path / "k.json").write_bytes(b"\xff\xfe garbage")
    checkpoint = tiny_checkpoint(tmp_path / "model.bin")
    before = snapshot(tmp_path)
    status, err = run_main(main, ["--keypoints", str(tmp_path / "k.json"), "--width", "100", "--height", "100",
                                  "--checkpoint", str(checkpoint), "--out", str(tmp_path / "o.npz")])
    assert_one_line_error(status, err, "k.json is not UTF-8 text")
    assert_nothing_lost(before, tmp_path)


def test_a_full_disk_keeps_the_previous_keypoint_file(tmp_path, monkeypatch):
    from ehfusion.keypoints import coco_json

    path = write_coco_json(tmp_path / "k.json", np.ones((3, 17, 3)))
    before = snapshot(tmp_path)
    monkeypatch.setattr(coco_json.json, "dump", lambda obj, handle: (handle.write("[{"), (_ for _ in ()).throw(
        OSError(errno.ENOSPC, "No space left on device"))))
    with pytest.raises(OutputPathError, match="keypoint file .*k.json"):
        write_coco_json(path, np.ones((3, 17, 3)), overwrite=True)
    assert_nothing_lost(before, tmp_path)


# ----------------------------------------------------------------------------------------------------- notebook parameters
@pytest.mark.parametrize("parameters, words", [
    ({"epochz": 3}, "has no parameter epochz; its parameters: fast, "),
    ({"seed": "five"}, "parameter seed is 'five' \\(str\\), expected a value like its default 0 \\(int\\)"),
    ({"fast": 1}, "parameter fast is 1 \\(int\\), expected a value like its default False"),
    (["fast"], "must be a dict"),
])
def test_bad_notebook_parameters_are_refused_before_anything_runs(tmp_path, monkeypatch, parameters, words):
    import papermill

    from ehfusion import course

    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: pytest.fail("the notebook ran"))
    notebook = course.course_notebooks(only="03")[0]
    with pytest.raises(ParameterError, match=words) as err:
        course.execute_notebook(notebook, tmp_path / "out.ipynb", parameters)
    assert "03_one_stage_training.ipynb" in str(err.value)
    assert not list(tmp_path.iterdir())


def test_good_notebook_parameters_pass():
    from ehfusion import course

    notebook = course.course_notebooks(only="03")[0]
    assert course.check_parameters(notebook, {"fast": True, "seed": 3, "keypoints": "gt"}) == \
        {"fast": True, "seed": 3, "keypoints": "gt"}


def test_every_error_type_is_a_value_error_with_one_base():
    for error in (DataFileError, KeypointFileError, CheckpointError, OutputPathError, ParameterError):
        assert issubclass(error, EHFusionError) and issubclass(error, ValueError)
    assert issubclass(OutputPathError, OSError)


@pytest.mark.parametrize("config", [
    TINY, ModelConfig(), ModelConfig(architecture="videopose3d", channels=512),
    ModelConfig(filter_widths=(3, 3, 3, 3, 3), latent=512, fusion="fc"), ModelConfig(fusion="none", hidden=64),
], ids=["tiny", "default", "videopose3d", "243 frames", "no fusion"])
def test_the_size_estimate_is_an_upper_bound(config):
    """The checkpoint size limit never refuses a model smaller than it: the estimate is at least the real count."""
    actual = sum(p.numel() for p in build_model(config).parameters())
    assert actual <= checkpoints.estimated_parameters(config.to_dict()) <= 50 * actual
