"""Every course notebook is well formed and executes headlessly (papermill, fast mode) without an error."""
from __future__ import annotations

import json

import nbformat
import pytest

from ehfusion.course import course_notebooks, execute_notebook

NOTEBOOKS = course_notebooks()


def test_course_has_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no course notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_well_formed(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown"
    assert "what you will learn" in first.source.lower(), "the first cell must say what you will learn"
    assert "minute" in first.source.lower(), "the first cell must say how long it takes"
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1 and "fast" in tagged[0].source, "one papermill 'parameters' cell with a `fast` flag"
    assert any(c.cell_type == "markdown" and "exercise" in c.source.lower() for c in nb.cells[-4:]), \
        "the notebook must end with exercises"
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit notebooks without outputs"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_in_fast_mode(path, tmp_path):
    run = execute_notebook(path, tmp_path / path.name, parameters={"fast": True}, timeout=600)
    assert run.error is None, f"{path.name} failed: {run.error}"
    executed = json.loads((tmp_path / path.name).read_text())
    errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert sum(1 for c in executed["cells"] if c.get("outputs")) >= 3, "the notebook should show results"
