"""The shipped checkpoints evaluate, through the command line, to the numbers checkpoints/README.md states."""
from __future__ import annotations

import re

import pytest

from ehfusion import run_onestage, run_threestage
from ehfusion.checkpoints import load_checkpoint
from ehfusion.paths import CHECKPOINT_DIR

README = CHECKPOINT_DIR / "README.md"
ROW = re.compile(r"^\|\s*`(?P<name>[^`]+\.bin)`\s*\|(?P<cells>.*)\|\s*(?P<p1>\d+\.\d)\s*\|\s*(?P<p2>\d+\.\d)\s*\|\s*$")
AVERAGE = re.compile(r"^Average \(\d+ actions\)\s+\d+\s+(?P<p1>\d+\.\d+)\s+(?P<p2>\d+\.\d+)", re.MULTILINE)


def documented_rows():
    if not README.exists():
        return []
    return [m.groupdict() for line in README.read_text().splitlines() if (m := ROW.match(line))]


ROWS = documented_rows()


def test_every_shipped_checkpoint_is_documented_and_small():
    shipped = sorted(p.name for p in CHECKPOINT_DIR.glob("*.bin"))
    assert shipped, "checkpoints/ ships no checkpoint"
    assert sorted(r["name"] for r in ROWS) == shipped
    total = sum(p.stat().st_size for p in CHECKPOINT_DIR.glob("*.bin"))
    assert total < 40 * 2**20, f"shipped checkpoints take {total / 2**20:.1f} MB, the limit is 40 MB"


@pytest.mark.slow
@pytest.mark.parametrize("row", ROWS, ids=[r["name"] for r in ROWS])
def test_evaluate_prints_the_documented_p1(row, capsys):
    meta = load_checkpoint(row["name"], build=False).meta
    argv = ["-k", meta["keypoints"], "--evaluate", row["name"], "--no-progress"]
    if meta["strategy"] == "three-stage":
        run_threestage.main(argv + ["--stage", str(meta["stage"])])
    else:
        run_onestage.main(argv)
    printed = capsys.readouterr().out
    found = AVERAGE.search(printed)
    assert found, f"no per-action table in the output:\n{printed[-2000:]}"
    assert "walk" in printed and "backflip" in printed  # one row per action
    assert float(found["p1"]) == pytest.approx(float(row["p1"]), abs=0.1)
    assert float(found["p2"]) == pytest.approx(float(row["p2"]), abs=0.1)
