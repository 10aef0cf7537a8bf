"""``python -m ehfusion COMMAND``: one entry point that passes its arguments on to each command."""
from __future__ import annotations

import pytest

from ehfusion.__main__ import COMMANDS, main


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)
    assert main([]) == 2


def test_unknown_command_and_missing_arguments_are_one_line_errors(capsys):
    assert main(["trian"]) == 2
    assert "unknown command 'trian'" in capsys.readouterr().err
    assert main(["train"]) == 2 and "usage: python -m ehfusion train" in capsys.readouterr().err
    assert main(["evaluate"]) == 2 and "usage: python -m ehfusion evaluate FILE" in capsys.readouterr().err


@pytest.mark.slow
def test_evaluate_any_shipped_checkpoint(capsys):
    # the three-stage file through the generic command, on one action and subject to stay quick
    assert main(["evaluate", "det_three-stage_3_best_epoch.bin", "-a", "walk", "-ste", "S9", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "three-stage stage 3" in out and "Average (1 actions)" in out


def test_the_other_commands_reach_their_parsers(capsys):
    for name in ("lift", "experiments", "course", "checkpoints"):
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        assert "usage:" in capsys.readouterr().out
