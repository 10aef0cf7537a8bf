"""The seed-compatible command lines: the release's commands parse to the right values; mistakes give clear errors."""
from __future__ import annotations

import re
import shlex

import pytest
import torch

from ehfusion.cli import build_parser, parse_args
from ehfusion.cli.options import default_checkpoint_name, requested_model_fields
from ehfusion.training import last_checkpoint_name


# tiny models run fastest on one thread (see conftest.one_torch_thread)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


# The commands of the release's README, verbatim after the script name.
SEED_COMMANDS = {
    "one-stage train": ("one-stage", "-k cpn_ft_h36m_dbb --stage 1 -lfd 512 -e 80"),
    "three-stage 1": ("three-stage", "-k cpn_ft_h36m_dbb --stage 1 -lfd 512 -e 80"),
    "three-stage 2": ("three-stage", "-k cpn_ft_h36m_dbb --stage 2 -lfd 512 -p stage_1_best_model.bin -e 80"),
    "three-stage 3": ("three-stage",
                      "-k cpn_ft_h36m_dbb --stage 3 -lfd 512 -ft stage_2_best_model.bin -lr 0.0005 -e 80"),
    "eval one-stage cpn": ("one-stage", "-k cpn_ft_h36m_dbb --evaluate cpn_one-stage_best_epoch.bin --stage 1 -lfd 512"),
    "eval three-stage cpn": ("three-stage",
                             "-k cpn_ft_h36m_dbb --evaluate cpn_three-stage_3_best_epoch.bin --stage 3 -lfd 512"),
    "eval one-stage gt": ("one-stage", "-k gt --evaluate gt_one-stage_best_epoch.bin --stage 1 -lfd 256"),
    "eval three-stage gt": ("three-stage", "-k gt --evaluate gt_three-stage_3_best_epoch.bin --stage 3 -lfd 256"),
}


def parse(strategy: str, command: str):
    return parse_args(strategy, shlex.split(command))


def test_seed_training_commands_parse_to_the_right_values():
    args = parse(*SEED_COMMANDS["one-stage train"])
    assert (args.keypoints, args.stage, args.latent_features_dim, args.epochs) == ("cpn_ft_h36m_dbb", 1, 512, 80)
    assert args.evaluate is None and args.resume is None
    assert args.learning_rate == 0.001 and args.lr_decay == 0.95 and args.batch_size == 1024
    assert args.data_augmentation and args.test_time_augmentation
    args = parse(*SEED_COMMANDS["three-stage 2"])
    assert (args.stage, args.pretrain, args.finetune) == (2, "stage_1_best_model.bin", None)
    args = parse(*SEED_COMMANDS["three-stage 3"])
    assert (args.stage, args.finetune, args.learning_rate, args.epochs) == (3, "stage_2_best_model.bin", 0.0005, 80)
    assert args.explicit == {"keypoints", "stage", "latent_features_dim", "finetune", "learning_rate", "epochs"}


@pytest.mark.parametrize("label", [k for k in SEED_COMMANDS if k.startswith("eval")])
def test_seed_evaluation_commands_parse(label):
    strategy, command = SEED_COMMANDS[label]
    args = parse(strategy, command)
    words = shlex.split(command)
    assert args.evaluate == words[words.index("--evaluate") + 1]
    assert args.keypoints == words[1]
    assert args.stage == int(words[words.index("--stage") + 1])
    assert args.latent_features_dim == int(words[words.index("-lfd") + 1])
    # only what was typed is checked against the checkpoint
    assert requested_model_fields(args) == {"latent": args.latent_features_dim}


def test_defaults_point_at_the_embedded_dataset():
    args = parse_args("one-stage", [])
    assert args.dataset == "embedded" and args.keypoints is None
    assert args.architecture == (3, 3, 3) and args.hidden == 1024 and args.fusion == "heterogeneous"
    assert args.model == "ehfusion" and args.seed == 0 and args.device == "auto" and args.subset == 1.0
    assert args.explicit == frozenset()
    assert default_checkpoint_name(args) == "det_one-stage_best_epoch.bin"


def test_all_short_flags_of_the_release():
    args = parse("one-stage", "-d h36m -k gt -str S1,S5 -ste S9 -a Walking,Eating -c somewhere -arc 3,3,3,3,3 -ch 512 "
                              "-lfd 128 -hid 256 -b 256 -drop 0.1 -lr 0.002 -lrd 0.9 -no-da -no-tta --causal "
                              "--subset 0.5 --no-eval --no-val --seed 7 --device cpu --val-subjects S5 --fusion nddr "
                              "--model videopose3d --name mine.bin -e 3 --threads 2")
    assert args.dataset == "h36m" and args.subjects_train == "S1,S5" and args.subjects_test == "S9"
    assert args.actions == "Walking,Eating" and args.checkpoint == "somewhere"
    assert args.architecture == (3, 3, 3, 3, 3) and args.channels == 512 and args.latent_features_dim == 128
    assert args.hidden == 256 and args.batch_size == 256 and args.dropout == 0.1
    assert args.learning_rate == 0.002 and args.lr_decay == 0.9
    assert not args.data_augmentation and not args.test_time_augmentation and args.causal
    assert args.subset == 0.5 and args.no_eval and args.no_val and args.seed == 7 and args.device == "cpu"
    assert args.val_subjects == "S5" and args.fusion == "nddr" and args.model == "videopose3d"
    assert args.name == "mine.bin" and args.threads == 2
    assert parse("one-stage", "--no-tta").test_time_augmentation is False


def test_resume_with_and_without_a_file():
    assert parse_args("one-stage", []).resume is None
    assert parse("one-stage", "--resume").resume == ""
    assert parse("one-stage", "--resume -e 5").resume == ""
    assert parse("one-stage", "-r old_last_epoch.bin").resume == "old_last_epoch.bin"


def test_default_names_follow_the_release():
    assert default_checkpoint_name(parse("one-stage", "-k cpn_ft_h36m_dbb")) == "cpn_one-stage_best_epoch.bin"
    assert default_checkpoint_name(parse("three-stage", "-k gt --stage 1")) == "gt_three-stage_1_best_epoch.bin"
    assert default_checkpoint_name(parse("three-stage", "-k gt --stage 3 -ft x.bin")) == "gt_three-stage_3_best_epoch.bin"
    assert default_checkpoint_name(parse("one-stage", "--model videopose3d")) == "det_videopose3d_best_epoch.bin"
    assert last_checkpoint_name("gt_one-stage_best_epoch.bin") == "gt_one-stage_last_epoch.bin"
    assert last_checkpoint_name("mine.bin") == "mine_last.bin"


@pytest.mark.parametrize("strategy, command, message", [
    ("three-stage", "--stage 2", "stage 2 starts from a stage-1 checkpoint: add -p"),
    ("three-stage", "--stage 3", "stage 3 fine-tunes a stage-2 checkpoint: add -ft"),
    ("three-stage", "--stage 1 -p a.bin", "-p .* only applies to --stage 2"),
    ("one-stage", "--stage 2", "invalid choice: 2"),
    ("one-stage", "--evaluate a.bin --resume", "--resume and --evaluate cannot be used together"),
    ("one-stage", "-arc 3,x", "expected filter widths like 3,3,3"),
    ("one-stage", "--subset 1.5", r"expected a fraction in \(0, 1\]"),
    ("one-stage", "--fusion magic", "invalid choice: 'magic'"),
    ("one-stage", "--bn-momentum 0.001,0.1", r"0 < END <= START <= 1"),
    ("three-stage", "--bn-momentum x", r"expected START\[,END\]"),
])
def test_mistakes_are_reported_without_a_traceback(strategy, command, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse(strategy, command)
    assert exit_info.value.code == 2
    assert re.search(message, capsys.readouterr().err)


def test_bn_momentum_schedule_from_the_command_line():
    from ehfusion.cli.options import train_config_from_args

    default = train_config_from_args(parse("one-stage", ""), ["S8"])  # 80 epochs: VideoPose3D's decay
    assert (default.bn_momentum(0), default.bn_momentum_end) == (0.1, 0.001)
    short = train_config_from_args(parse("one-stage", "-e 10"), ["S8"])  # a short run: constant
    assert short.bn_momentum(0) == short.bn_momentum(9) == short.bn_momentum_end == 0.1
    baseline = train_config_from_args(parse("one-stage", "--model videopose3d -e 10"), ["S8"])  # its own decay
    assert (baseline.bn_momentum_start, baseline.bn_momentum_end) == (0.1, 0.001)
    constant = train_config_from_args(parse("one-stage", "--bn-momentum 0.05 -e 10"), ["S8"])
    assert constant.bn_momentum(0) == constant.bn_momentum(9) == pytest.approx(0.05)
    decaying = train_config_from_args(parse("one-stage", "--bn-momentum 0.1,0.01 -e 2"), ["S8"])
    assert decaying.bn_momentum(1) == pytest.approx(0.1 * 0.1 ** 0.5)
    # a resumed run keeps its schedule unless the flag is typed again
    resumed = train_config_from_args(parse("one-stage", "-e 2"), ["S8"], base=decaying.to_dict())
    assert (resumed.bn_momentum_start, resumed.bn_momentum_end) == (0.1, 0.01)
    retyped = train_config_from_args(parse("one-stage", "--bn-momentum 0.2"), ["S8"], base=decaying.to_dict())
    assert (retyped.bn_momentum_start, retyped.bn_momentum_end) == (0.2, 0.2)


def test_help_explains_every_flag():
    for strategy in ("one-stage", "three-stage"):
        parser = build_parser(strategy)
        for action in parser._actions:
            assert action.help, f"{action.option_strings} has no help text"
        text = parser.format_help()
        for flag in ("-lfd", "-arc", "-ch", "-hid", "--evaluate", "--resume", "--val-subjects", "--no-tta"):
            assert flag in text
    assert "-ft" in build_parser("three-stage").format_help()
    assert "--model" in build_parser("one-stage").format_help()


# ------------------------------------------------------------------------------------------------ end to end (tiny)
TINY_RUN = ("-k gt -a walk -str S1,S8 -ste S9 --val-subjects S8 -e 1 -ch 8 -lfd 8 -hid 16 --angle-channels 4 "
            "--angle-features 4 --camera-features 4 -b 512 --no-progress")


def cli(strategy: str, command: str, directory) -> int:
    from ehfusion.run_onestage import main as onestage
    from ehfusion.run_threestage import main as threestage

    return (onestage if strategy == "one-stage" else threestage)(shlex.split(f"{command} -c {directory}"))


@pytest.fixture(scope="module")
def one_stage_run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("runs")
    assert cli("one-stage", TINY_RUN, directory) == 0
    return directory


def test_training_writes_the_release_names_and_evaluates_on_test(one_stage_run, capsys):
    assert (one_stage_run / "gt_one-stage_best_epoch.bin").is_file()
    assert (one_stage_run / "gt_one-stage_last_epoch.bin").is_file()
    assert cli("one-stage", "--evaluate gt_one-stage_best_epoch.bin -a walk -ste S9,S11 --by-subject",
               one_stage_run) == 0
    out = capsys.readouterr().out
    assert "Test evaluation: 16 sequences of S9, S11" in out
    assert "Average (1 actions)" in out and "branch 'unfused': P1" in out and "S11" in out


def test_a_mismatched_checkpoint_is_refused_with_the_field_named(one_stage_run, capsys):
    code = cli("one-stage", "--evaluate gt_one-stage_best_epoch.bin --stage 1 -lfd 512 -arc 3,3,3,3,3", one_stage_run)
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "latent size (-lfd): checkpoint gt_one-stage_best_epoch.bin has 8, requested 512" in err
    assert "filter widths (-arc): checkpoint gt_one-stage_best_epoch.bin has 3,3, requested 3,3,3,3,3".replace(
        "3,3, ", "3,3,3, ") in err


def test_either_script_evaluates_any_checkpoint(one_stage_run, capsys):
    # the checkpoint knows its strategy, so run_threestage --evaluate works on a one-stage file too
    assert cli("three-stage", "--evaluate gt_one-stage_best_epoch.bin -a walk -ste S9", one_stage_run) == 0
    out = capsys.readouterr().out
    assert "one-stage" in out and "Average (1 actions)" in out


def test_missing_files_and_existing_outputs_are_clear_errors(one_stage_run, capsys):
    assert cli("one-stage", "--evaluate nothing.bin", one_stage_run) == 2
    err = capsys.readouterr().err
    assert "checkpoint 'nothing.bin' not found" in err and "gt_one-stage_best_epoch.bin" in err
    assert cli("one-stage", TINY_RUN, one_stage_run) == 2
    assert "already exists; continue it with --resume" in capsys.readouterr().err
    assert cli("three-stage", "--stage 2 -p stage_1_best_model.bin " + TINY_RUN, one_stage_run) == 2
    assert "stage_1_best_model.bin' not found" in capsys.readouterr().err


def test_resume_continues_exactly(one_stage_run, tmp_path):
    from ehfusion.checkpoints import read_checkpoint

    # the 1-epoch run above, continued to 2 epochs, equals a 2-epoch run from scratch
    assert cli("one-stage", TINY_RUN.replace("-e 1", "-e 2") + " --resume --no-eval", one_stage_run) == 0
    assert cli("one-stage", TINY_RUN.replace("-e 1", "-e 2") + " --no-eval", tmp_path) == 0
    resumed = read_checkpoint(one_stage_run / "gt_one-stage_last_epoch.bin")
    straight = read_checkpoint(tmp_path / "gt_one-stage_last_epoch.bin")
    assert resumed["epoch"] == straight["epoch"] == 2
    assert all(torch.equal(resumed["model_state"][k], v) for k, v in straight["model_state"].items())
    assert resumed["data"]["train_subjects"] == ["S1", "S8"] and resumed["data"]["actions"] == ["walk"]


def test_three_stages_chain_through_the_release_names(tmp_path, capsys):
    from ehfusion.checkpoints import read_checkpoint

    assert cli("three-stage", "--stage 1 --no-eval " + TINY_RUN, tmp_path) == 0
    stage1 = read_checkpoint(tmp_path / "gt_three-stage_1_best_epoch.bin")
    assert not any(name.startswith("fusion.") for name in stage1["model_state"])  # stage 1 has no fusion module
    # stage 2 chooses the fusion (stage 1 has none); stage 3 keeps stage 2's
    assert cli("three-stage", "--stage 2 -p stage_1_best_model.bin --fusion nddr --no-eval " + TINY_RUN,
               tmp_path) == 0
    assert "frozen modules   : local_encoders" in capsys.readouterr().out
    code = cli("three-stage", "--stage 3 -ft stage_2_best_model.bin --fusion fc --name other.bin " + TINY_RUN,
               tmp_path)
    assert code == 2 and "fusion (--fusion): checkpoint gt_three-stage_2_best_epoch.bin has 'nddr', requested 'fc'" \
        in capsys.readouterr().err
    assert cli("three-stage", "--stage 3 -ft stage_2_best_model.bin -lr 0.0005 " + TINY_RUN, tmp_path) == 0
    stage3 = read_checkpoint(tmp_path / "gt_three-stage_3_best_epoch.bin")
    assert stage3["stage"] == 3 and stage3["model_config"]["branches"] == ["fused"]
    assert stage3["model_config"]["fusion"] == "nddr"
    assert stage3["train_config"]["lr"] == 0.0005
    assert "Test evaluation of the best epoch" in capsys.readouterr().out
    # -ft must name a stage-2 checkpoint
    code = cli("three-stage", "--stage 3 -ft stage_1_best_model.bin --name other.bin " + TINY_RUN, tmp_path)
    assert code == 2 and "-ft expects a three-stage stage-2 checkpoint" in capsys.readouterr().err


def test_the_videopose3d_baseline_trains_through_run_onestage(tmp_path, capsys):
    from ehfusion.checkpoints import read_checkpoint

    command = "--model videopose3d -k gt -a walk -str S1,S8 -ste S9 -e 1 -ch 16 -b 512 --no-progress"
    assert cli("one-stage", command, tmp_path) == 0
    meta = read_checkpoint(tmp_path / "gt_videopose3d_best_epoch.bin")
    assert meta["strategy"] == "baseline" and meta["model_config"]["architecture"] == "videopose3d"
    assert "Evaluation of branch 'pose'" in capsys.readouterr().out
    assert cli("one-stage", "--evaluate gt_videopose3d_best_epoch.bin -a walk -ste S9", tmp_path) == 0
    assert cli("one-stage", "--evaluate gt_videopose3d_best_epoch.bin --model ehfusion", tmp_path) == 2
    assert "architecture (--model): checkpoint gt_videopose3d_best_epoch.bin has 'videopose3d', requested 'ehfusion'" \
        in capsys.readouterr().err


def test_only_user_errors_become_one_line_messages(monkeypatch, capsys):
    from ehfusion.cli import evaluate

    def broken(args):
        raise KeyError("a bug")

    monkeypatch.setattr(evaluate, "evaluate_command", broken)
    with pytest.raises(KeyError, match="a bug"):  # a bug keeps its traceback
        parse_and_run("--evaluate x.bin")
    assert parse_and_run("-d nowhere") == 2 and "invalid choice: 'nowhere'" in capsys.readouterr().err


def parse_and_run(command: str):
    from ehfusion.cli import run

    try:
        return run("one-stage", shlex.split(command))
    except SystemExit as exit_info:
        return exit_info.code


def test_unknown_actions_are_a_one_line_error(one_stage_run, capsys):
    assert cli("one-stage", "--evaluate gt_one-stage_best_epoch.bin -a nosuchaction", one_stage_run) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nosuchaction" in err and "Traceback" not in err
