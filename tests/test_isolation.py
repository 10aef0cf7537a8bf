"""The suite never writes into the user's outputs/ or checkpoints/ (conftest also re-checks both when it ends)."""
from __future__ import annotations

import os
from pathlib import Path

from conftest import PROTECTED_DIRS, REPO_DIR, folder_snapshot, snapshot_changes


def test_generated_outputs_go_to_a_temporary_folder():
    from ehfusion import paths

    assert paths.OUTPUT_DIR == Path(os.environ["EHFUSION_OUTPUT_DIR"]).resolve()
    assert REPO_DIR not in paths.OUTPUT_DIR.parents, "tests must not write under the repository"


def test_snapshot_sees_created_modified_and_deleted_files(tmp_path):
    kept, changed, removed = (tmp_path / n for n in ("kept.txt", "changed.txt", "removed.txt"))
    for path in (kept, changed, removed):
        path.write_text("x")
    before = folder_snapshot([tmp_path])
    changed.write_text("longer")
    removed.unlink()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "new.txt").write_text("y")
    changes = snapshot_changes(before, folder_snapshot([tmp_path]))
    assert changes == [f"created {tmp_path / 'sub' / 'new.txt'}", f"deleted {removed}", f"modified {changed}"]


def test_protected_folders_are_the_users():
    assert {p.name for p in PROTECTED_DIRS} == {"outputs", "checkpoints"}
    assert all(p.parent == REPO_DIR for p in PROTECTED_DIRS)
