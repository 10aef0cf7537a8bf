"""Experiments: robustness perturbations (units, filling, determinism), result records, summary, the ablation runner."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import make_sequence
from ehfusion.evaluation import evaluate
from ehfusion.experiments import (
    ExperimentConfig,
    ResultStore,
    add_pixel_noise,
    drop_joints,
    fill_dropped,
    image_width_of,
    load_results,
    merge_results,
    paired_differences,
    pixels_to_normalised,
    robustness_curves,
    robustness_frame,
    run_experiments,
    runs_frame,
    stage_epochs,
    summarise,
)
from ehfusion.experiments import robustness as robustness_module
from ehfusion.experiments import runner as runner_module
from ehfusion.experiments.__main__ import main as experiments_main
from ehfusion.models import ModelConfig, build_model
from ehfusion.skeleton import H36M_17


# tiny models run fastest on one thread (see conftest.one_torch_thread)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_model(seed: int = 0):
    torch.manual_seed(seed)
    return build_model(ModelConfig(architecture="videopose3d", filter_widths=(3,), channels=8)).eval()


# ---------------------------------------------------------------------------------------------------- units and noise
def test_pixels_become_normalised_units_by_two_over_the_width():
    assert pixels_to_normalised(10, 1000) == pytest.approx(0.02)
    assert pixels_to_normalised(5, 1920) == pytest.approx(10 / 1920)
    with pytest.raises(ValueError, match="image width"):
        pixels_to_normalised(1, 0)


def test_noise_of_ten_pixels_has_the_expected_std_in_normalised_units():
    keypoints = np.zeros((4000, 17, 2), np.float32)
    noisy = add_pixel_noise(keypoints, 10.0, image_width=1000, rng=np.random.default_rng(0))
    assert noisy.dtype == np.float32 and noisy.shape == keypoints.shape
    assert noisy.std() == pytest.approx(0.02, rel=0.01)           # 10 px * 2 / 1000 px
    assert abs(noisy.mean()) < 1e-3
    for axis in range(2):                                           # x and y scale alike (both divided by w)
        assert noisy[..., axis].std() == pytest.approx(0.02, rel=0.02)
    assert np.array_equal(add_pixel_noise(keypoints + 1, 0, 1000, np.random.default_rng(0)), keypoints + 1)


def test_image_width_comes_from_the_sequences_camera():
    seq = make_sequence(10, subject="S9", camera=0)
    seq.intrinsics = np.array([1145.0494 * 2 / 1000, 1143.7811 * 2 / 1000, 0.02, 0.03, 0, 0, 0, 0, 0], np.float32)
    assert image_width_of(seq) == 1000.0                            # Human3.6M camera 0 of S9
    assert image_width_of(seq, image_width=640) == 640.0            # an explicit width wins
    seq.intrinsics = seq.intrinsics * 1.5                           # not the camera's focal length
    with pytest.raises(ValueError, match="not this sequence's camera"):
        image_width_of(seq)
    seq = make_sequence(10, subject="nobody")
    with pytest.raises(ValueError, match="image_width"):
        image_width_of(seq)


# ------------------------------------------------------------------------------------------------ dropout and filling
def test_dropout_mask_rate_and_every_joint_keeps_a_frame():
    rng = np.random.default_rng(1)
    assert not drop_joints(50, 17, 0.0, rng).any()
    mask = drop_joints(5000, 17, 0.2, rng)
    assert mask.shape == (5000, 17) and mask.mean() == pytest.approx(0.2, abs=0.01)
    nearly_all = drop_joints(3, 17, 0.99, np.random.default_rng(2))
    assert (~nearly_all).any(axis=0).all()
    with pytest.raises(ValueError, match="dropout rate"):
        drop_joints(5, 17, 1.0, rng)


def test_filled_joints_are_interpolated_in_time_and_held_at_the_ends():
    n = 12
    t = np.arange(n, dtype=np.float32)
    keypoints = np.stack([np.stack([0.01 * t * (j + 1), -0.02 * t + j], axis=-1) for j in range(17)], axis=1)
    missing = np.zeros((n, 17), bool)
    missing[3:6, 2] = True                                          # an interior gap: linear motion is recovered
    missing[0:2, 5] = True                                          # a gap at the start: held at the first seen value
    missing[-1, 7] = True                                           # a gap at the end: held at the last seen value
    filled = fill_dropped(keypoints, missing, H36M_17)
    np.testing.assert_allclose(filled[:, 2], keypoints[:, 2], atol=1e-6)
    np.testing.assert_allclose(filled[0:2, 5], np.repeat(keypoints[2:3, 5], 2, axis=0), atol=1e-6)
    np.testing.assert_allclose(filled[-1, 7], keypoints[-2, 7], atol=1e-6)
    untouched = ~missing
    np.testing.assert_array_equal(filled[untouched], keypoints[untouched])
    with pytest.raises(ValueError, match="mask shape"):
        fill_dropped(keypoints, missing[:-1], H36M_17)


# ---------------------------------------------------------------------------------------------------- curves
@pytest.fixture(scope="module")
def test_sequences():
    return [make_sequence(40 + 5 * i, seed=i, subject="S9", action=f"act{i}", camera=i % 4) for i in range(3)]


def test_clean_levels_equal_the_clean_evaluation_and_corruption_changes_the_error(test_sequences):
    model = tiny_model()
    curves = robustness_curves(model, test_sequences, image_width=1000)
    assert list(curves.columns) == ["perturbation", "level", "P1", "P2"]
    assert curves["perturbation"].tolist() == ["noise"] * 6 + ["dropout"] * 5
    assert curves["level"].tolist() == [0, 2, 5, 10, 15, 20, 0, 0.05, 0.1, 0.2, 0.3]
    clean = evaluate(model, test_sequences, flip_tta=True)
    zero = curves[curves["level"] == 0]
    assert zero["P1"].tolist() == pytest.approx([clean.p1, clean.p1])
    assert zero["P2"].tolist() == pytest.approx([clean.p2, clean.p2])
    corrupted = curves[curves["level"] > 0]
    assert (corrupted["P1"] != clean.p1).all()


def test_curves_are_deterministic_from_the_seed(test_sequences):
    model = tiny_model()
    kwargs = dict(sigmas_px=(0, 10), dropout_rates=(0, 0.3), image_width=1000)
    first = robustness_curves(model, test_sequences, seed=3, **kwargs)
    again = robustness_curves(model, test_sequences, seed=3, **kwargs)
    other = robustness_curves(model, test_sequences, seed=4, **kwargs)
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["P1"].to_numpy()[[1, 3]], other["P1"].to_numpy()[[1, 3]])


def test_every_model_sees_the_same_corrupted_inputs(test_sequences, monkeypatch):
    seen = []

    def spy(model, sequences, flip_tta=True, **kwargs):
        seen.append([np.array(s.keypoints_2d) for s in sequences])
        return evaluate(model, sequences, flip_tta, **kwargs)

    monkeypatch.setattr(robustness_module, "evaluate", spy)
    for seed in (0, 1):  # two different models
        robustness_curves(tiny_model(seed), test_sequences, sigmas_px=(5,), dropout_rates=(0.2,), image_width=1000)
    assert len(seen) == 4
    for a, b in zip(seen[:2], seen[2:]):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    noise_inputs = seen[0]
    residual = np.concatenate([(x - s.keypoints_2d).ravel() for x, s in zip(noise_inputs, test_sequences)])
    assert residual.std() == pytest.approx(0.01, rel=0.15)            # 5 px * 2 / 1000 px


def test_bad_levels_are_refused_before_any_work(test_sequences):
    with pytest.raises(ValueError, match="rates in"):
        robustness_curves(tiny_model(), test_sequences, sigmas_px=(), dropout_rates=(1.5,), image_width=1000)
    with pytest.raises(ValueError, match="no sequences"):
        robustness_curves(tiny_model(), [], image_width=1000)


# ------------------------------------------------------------------------------------------------ records and summary
def record(model: str, seed: int, p1: float, p2: float = 40.0, params: int = 1000) -> dict:
    return {"model": model, "seed": seed, "source": "trained",
            "metrics": {"P1": p1, "P2": p2, "N-MPJPE": p1 - 1, "MPJVE": 2.0},
            "params": params, "macs_per_frame": 10 * params, "budget": {"epochs": 4},
            "robustness": [{"perturbation": "noise", "level": 0.0, "P1": p1, "P2": p2},
                           {"perturbation": "noise", "level": 10.0, "P1": p1 + 5, "P2": p2 + 3}],
            "per_joint": [{"joint": "Hip", "group": "torso", "side": "centre", "P1": 0.0}],
            "per_action": [{"action": "walk", "frames": 10, "P1": p1, "P2": p2, "N-MPJPE": p1, "MPJVE": 2.0}]}


def test_summary_gives_mean_and_sample_std_over_seeds_in_model_order():
    records = [record("heterogeneous", 0, 50.0), record("heterogeneous", 1, 54.0), record("heterogeneous", 2, 52.0),
               record("videopose3d", 0, 60.0, params=500)]
    summary = summarise(records)
    assert summary["model"].tolist() == ["videopose3d", "heterogeneous"]
    het = summary.set_index("model").loc["heterogeneous"]
    assert het["seeds"] == 3
    assert het["P1 mean"] == pytest.approx(52.0)
    assert het["P1 std"] == pytest.approx(2.0)                      # sample std of 50, 54, 52
    assert het["P2 std"] == pytest.approx(0.0)
    assert math.isnan(summary.set_index("model").loc["videopose3d", "P1 std"])   # one seed: no spread
    assert summary.set_index("model").loc["videopose3d", "params"] == 500
    frame = robustness_frame(records)
    assert len(frame) == 8 and set(frame["level"]) == {0.0, 10.0}
    with pytest.raises(ValueError, match="no result records"):
        summarise([])


def test_paired_differences_over_seeds_with_a_t_interval():
    records = [record("heterogeneous", s, p) for s, p in [(0, 50.0), (1, 51.0), (2, 49.0)]]
    records += [record("no-fusion", s, p) for s, p in [(0, 53.0), (1, 54.5), (2, 51.5)]]   # d = -3, -3.5, -2.5
    records += [record("fc", s, p) for s, p in [(0, 50.0), (1, 52.0), (2, 48.5)]]          # d = 0, -1, 0.5
    records += [record("videopose3d", 0, 60.0)]
    diffs = paired_differences(records).set_index("model")
    assert list(diffs.index) == ["videopose3d", "no-fusion", "fc"]
    nf = diffs.loc["no-fusion"]
    assert nf["per_seed"] == pytest.approx({0: -3.0, 1: -3.5, 2: -2.5})
    assert nf["mean"] == pytest.approx(-3.0) and nf["std"] == pytest.approx(0.5)
    assert nf["ci95"] == pytest.approx(4.303 * 0.5 / math.sqrt(3))
    assert nf["verdict"] == "lower"
    assert diffs.loc["fc", "verdict"] == "unclear"
    assert diffs.loc["videopose3d", "verdict"] == "one seed" and diffs.loc["videopose3d", "mean"] == -10.0
    with pytest.raises(ValueError, match="no runs of 'nddr'"):
        paired_differences(records, reference="nddr")


def test_result_store_writes_atomically_replaces_by_key_and_guards_the_configuration(tmp_path):
    path = tmp_path / "results" / "experiments_det.json"
    store = ResultStore(path, {"epochs": 4})
    store.add(record("fc", 1, 50.0))
    store.add(record("videopose3d", 0, 60.0))
    rec = record("fc", 1, 48.0)
    rec["metrics"]["MPJVE"] = float("nan")                         # NaN is stored as null (valid JSON)
    store.add(rec)
    text = path.read_text()
    assert "NaN" not in text
    data = json.loads(text)
    assert [(r["model"], r["seed"]) for r in data["records"]] == [("videopose3d", 0), ("fc", 1)]
    assert data["records"][1]["metrics"]["P1"] == 48.0 and data["records"][1]["metrics"]["MPJVE"] is None
    assert not list(path.parent.glob("*.tmp"))

    again = ResultStore(path, {"epochs": 4})
    assert again.has("fc", 1) and not again.has("fc", 0)
    assert math.isnan(runs_frame(again).set_index("model").loc["fc", "MPJVE"])
    with pytest.raises(ValueError, match="different experiment configuration.*epochs"):
        ResultStore(path, {"epochs": 8})
    assert ResultStore(path, {"epochs": 8}, overwrite=True).records == []
    assert load_results(path)["experiment"] == {"epochs": 4}       # nothing written until a record is added


def test_merge_joins_seeds_from_other_files_and_refuses_conflicts(tmp_path, capsys):
    target = tmp_path / "experiments_det.json"
    ResultStore(target, {"epochs": 4}).add(record("fc", 0, 50.0))
    seed1, seed2 = tmp_path / "seed1.json", tmp_path / "seed2.json"
    ResultStore(seed1, {"epochs": 4}).add(record("fc", 1, 52.0))
    ResultStore(seed2, {"epochs": 4}).add(record("fc", 2, 54.0))
    ResultStore(seed2, {"epochs": 4}).add(record("fc", 0, 50.0))          # an identical copy of seed 0: skipped
    assert experiments_main(["merge", "--results", str(target), str(seed1), str(seed2)]) == 0
    assert "1 -> 3 records" in capsys.readouterr().out
    merged = ResultStore(target, {"epochs": 4})
    assert [(r["model"], r["seed"]) for r in merged.records] == [("fc", 0), ("fc", 1), ("fc", 2)]
    assert summarise(merged).set_index("model").loc["fc", "P1 mean"] == pytest.approx(52.0)
    assert (tmp_path / "experiments_det_summary.csv").is_file()
    assert experiments_main(["summary", "--markdown", "--results", str(target)]) == 0
    assert "| EHFusion, FC fusion | 3 | 52.0 ± 2.0 | 40.0 ± 0.0 |" in capsys.readouterr().out

    clash = tmp_path / "clash.json"
    ResultStore(clash, {"epochs": 4}).add(record("fc", 1, 60.0))
    with pytest.raises(ValueError, match="already holds fc seed 1"):
        merge_results(target, [clash])
    assert ResultStore(target, {"epochs": 4}).get("fc", 1)["metrics"]["P1"] == 52.0   # nothing lost
    assert merge_results(target, [clash], replace=True).get("fc", 1)["metrics"]["P1"] == 60.0

    other = tmp_path / "other.json"
    ResultStore(other, {"epochs": 8}).add(record("fc", 3, 50.0))
    with pytest.raises(ValueError, match="different experiment configuration.*epochs"):
        merge_results(target, [other])
    fresh = merge_results(tmp_path / "new.json", [seed1])                   # a missing target is created
    assert fresh.experiment == {"epochs": 4} and fresh.has("fc", 1)


def test_stage_epochs_split_the_budget_exactly():
    assert stage_epochs(10) == (5, 3, 2)                             # the shipped checkpoints' split
    assert stage_epochs(20, (0.5, 0.25, 0.25)) == (10, 5, 5)
    assert stage_epochs(3) == (1, 1, 1)
    for epochs in range(3, 30):
        split = stage_epochs(epochs, (0.6, 0.2, 0.2))
        assert sum(split) == epochs and min(split) >= 1
    with pytest.raises(ValueError, match="at least 3 epochs"):
        stage_epochs(2)


# ---------------------------------------------------------------------------------------------------- the runner
TINY = dict(epochs=3, batch_size=256, subset=0.5, channels=8, latent=8, hidden=16, angle_channels=8,
            angle_features=4, camera_features=4, videopose3d_channels=16, actions=("walk",), cameras=(0,),
            sigmas_px=(0, 10), dropout_rates=(0, 0.2), threads=1)


@pytest.fixture(scope="module")
def embedded():
    from ehfusion.data import load_dataset

    return load_dataset("embedded", keypoints="det")


def test_runner_trains_records_and_resumes(tmp_path, embedded, monkeypatch):
    config = ExperimentConfig(models=("videopose3d", "heterogeneous"), **TINY)
    results = tmp_path / "experiments_det.json"
    store = run_experiments(config, results_path=results, checkpoint_dir=tmp_path / "ckpt", dataset=embedded,
                            progress=False, log=lambda *_: None)
    records = {r["model"]: r for r in store.records}
    assert set(records) == {"videopose3d", "heterogeneous"}
    het = records["heterogeneous"]
    assert het["budget"]["stage_epochs"] == [1, 1, 1] and het["budget"]["epochs"] == config.epochs
    assert records["videopose3d"]["budget"]["stage_epochs"] == [3]
    assert het["model_config"]["fusion"] == "heterogeneous" and het["model_config"]["branches"] == ["fused"]
    assert (tmp_path / "ckpt" / "stage1_seed0_best_epoch.bin").is_file()
    for r in store.records:
        assert set(r["metrics"]) == {"P1", "P2", "N-MPJPE", "MPJVE"} and r["metrics"]["P1"] > 0
        assert r["params"] > 0 and r["macs_per_frame"] > 0
        assert r["validation_P1"] > 0                                 # the selection criterion is recorded
        assert len(r["per_joint"]) == 17 and r["per_action"][0]["action"] == "walk"
        assert [(c["perturbation"], c["level"]) for c in r["robustness"]] == \
            [("noise", 0.0), ("noise", 10.0), ("dropout", 0.0), ("dropout", 0.2)]
    for table in ("summary", "runs", "robustness", "per_joint", "per_action"):
        assert (tmp_path / f"experiments_det_{table}.csv").is_file()
    assert records["heterogeneous"]["params"] > records["videopose3d"]["params"]

    # a second run with one more seed-0 model reuses what exists: no training for the recorded runs
    trained = []
    real_train_stage = runner_module.train_stage
    monkeypatch.setattr(runner_module, "train_stage",
                        lambda *a, **k: trained.append(k["name"]) or real_train_stage(*a, **k))
    config2 = ExperimentConfig(models=("videopose3d", "heterogeneous", "fc"), **TINY)
    store2 = run_experiments(config2, results_path=results, checkpoint_dir=tmp_path / "ckpt", dataset=embedded,
                             progress=False, log=lambda *_: None)
    assert {r["model"] for r in store2.records} == {"videopose3d", "heterogeneous", "fc"}
    assert trained == ["stage1_seed0_best_epoch.bin", "fc_stage2_seed0_best_epoch.bin", "fc_seed0_best_epoch.bin"]
    assert store2.get("videopose3d", 0) == records["videopose3d"]   # untouched
    # the shared stage 1 was reused, not retrained (its file is older than fc's stage 2)
    assert (tmp_path / "ckpt" / "stage1_seed0_best_epoch.bin").stat().st_mtime <= \
        (tmp_path / "ckpt" / "fc_stage2_seed0_best_epoch.bin").stat().st_mtime

    # a different budget may not be mixed into the same file
    with pytest.raises(ValueError, match="different experiment configuration"):
        run_experiments(ExperimentConfig(models=("fc",), **(TINY | {"epochs": 4})), results_path=results,
                        dataset=embedded, progress=False, log=lambda *_: None)

    # the checkpoints of another schedule are not silently reused
    with pytest.raises(ValueError, match="another schedule.*epochs"):
        run_experiments(ExperimentConfig(models=("videopose3d",), **(TINY | {"epochs": 4})),
                        results_path=tmp_path / "other.json", checkpoint_dir=tmp_path / "ckpt", dataset=embedded,
                        progress=False, log=lambda *_: None)

    # a trained checkpoint stands in for the seed-0 run, and must be the right kind of model
    mapped = run_experiments(ExperimentConfig(models=("videopose3d",), **TINY), results_path=tmp_path / "m.json",
                             checkpoints={"videopose3d": str(tmp_path / "ckpt" / "videopose3d_seed0_best_epoch.bin")},
                             dataset=embedded, progress=False, log=lambda *_: None)
    rec = mapped.get("videopose3d", 0)
    assert rec["source"] == "checkpoint" and rec["differs_from_experiment"] == {}
    assert rec["metrics"] == pytest.approx(records["videopose3d"]["metrics"])
    with pytest.raises(ValueError, match="is not a 'one-stage' model"):
        run_experiments(ExperimentConfig(models=("one-stage",), **TINY), results_path=tmp_path / "x.json",
                        checkpoints={"one-stage": str(tmp_path / "ckpt" / "videopose3d_seed0_best_epoch.bin")},
                        dataset=embedded, progress=False, log=lambda *_: None)

    # the command line summarises the file
    assert experiments_main(["summary", "--results", str(results)]) == 0


def test_command_line_reports_a_missing_results_file(tmp_path, capsys):
    assert experiments_main(["summary", "--results", str(tmp_path / "none.json")]) == 2
    assert "no results file" in capsys.readouterr().err


def test_training_key_follows_what_shapes_the_weights():
    base = ExperimentConfig()
    assert base.training_key() == ExperimentConfig(seeds=(0, 1, 2), sigmas_px=(0, 5), models=("fc",)).training_key()
    assert base.training_key() != ExperimentConfig(epochs=21).training_key()
    assert base.training_key() != ExperimentConfig(channels=32).training_key()
    assert runner_module.default_checkpoint_dir(base).name == f"embedded_det_{base.training_key()}"


def test_configuration_errors_are_clear():
    with pytest.raises(ValueError, match="unknown model"):
        ExperimentConfig(models=("transformer",))
    with pytest.raises(ValueError, match="three positive fractions"):
        ExperimentConfig(stage_split=(1.0, 0.0, 0.5))
    cfg = ExperimentConfig()
    assert cfg.model_config("no-fusion").branches == ("unfused",)
    assert cfg.model_config("nddr", 2).branches == ("fused",) and cfg.model_config("nddr", 2).fusion == "nddr"
    assert cfg.model_config("one-stage").branches == ("unfused", "fused")
    assert cfg.model_config("videopose3d").architecture == "videopose3d"
    # a stage-1 model has no fusion module, whichever fusion its config names
    stage1 = build_model(cfg.ehfusion_config("heterogeneous").replace(branches=("unfused",)))
    without = build_model(cfg.model_config("no-fusion"))
    assert sum(p.numel() for p in stage1.parameters()) == sum(p.numel() for p in without.parameters())


def test_figures_are_drawn_from_records(tmp_path):
    from ehfusion.experiments import plots

    records = [record(m, s, 50.0 + i + s) for i, m in enumerate(("videopose3d", "fc", "heterogeneous"))
               for s in (0, 1)]
    fig = plots.plot_accuracy_vs_parameters(records, path=tmp_path / "acc.png")
    assert (tmp_path / "acc.png").stat().st_size > 0 and len(fig.axes[0].get_legend().get_texts()) == 3
    narrower = [record(m, s, 52.0 + i + s, params=600 if m == "videopose3d" else 800)
                for i, m in enumerate(("videopose3d", "fc", "heterogeneous")) for s in (0, 1)]
    narrower[0]["params"] = narrower[1]["params"] = 1000                 # the baseline is the same at both sizes
    fig = plots.plot_accuracy_vs_parameters(records, compare=narrower, compare_label="narrower")
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert len(texts) == 4 and "narrower" in texts
    joins = [line for line in fig.axes[0].lines if line.get_linestyle() == ":"]
    assert len(joins) == 2                             # fc and heterogeneous are joined; the baseline did not change
    fig = plots.plot_robustness(records)
    assert [ax.get_title() for ax in fig.axes] == ["robustness to noise"]
    assert len(plots.plot_per_joint(records).axes) == 1
    assert len(plots.plot_per_action(records).axes) == 1
    import matplotlib.pyplot as plt

    plt.close("all")


def test_the_detached_one_stage_model_differs_only_in_its_gradient_path():
    from ehfusion.experiments.runner import MODELS, ExperimentConfig

    config = ExperimentConfig()
    detached, plain = config.model_config("one-stage-detached"), config.model_config("one-stage")
    assert "one-stage-detached" in MODELS
    assert detached.detach_fusion_input and not plain.detach_fusion_input
    assert {k: v for k, v in vars(detached).items() if k != "detach_fusion_input"} == \
        {k: v for k, v in vars(plain).items() if k != "detach_fusion_input"}


def test_a_given_checkpoint_records_its_whole_training_budget_not_the_epoch_it_kept():
    from ehfusion.experiments.runner import checkpoint_budget

    stage3 = {"epoch": 2, "train_config": {"epochs": 2, "batch_size": 256, "subset": 0.5},
              "stage_histories": {"1": [{}] * 5, "2": [{}] * 3}}
    budget = checkpoint_budget(stage3)
    assert budget["stage_epochs"] == [5, 3, 2] and budget["epochs"] == 10 and budget["batch_size"] == 256
    one_stage = {"epoch": 9, "train_config": {"epochs": 10}}
    assert checkpoint_budget(one_stage)["epochs"] == 10
    assert checkpoint_budget({"epoch": 3})["epochs"] is None          # no training configuration stored: unknown
