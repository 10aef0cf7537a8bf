"""Every course notebook is well formed, has answers kept apart, and both its versions execute headlessly."""
from __future__ import annotations

import json
import re

import nbformat
import pytest

from ehfusion.course import SOLUTION_TAG, build_versions, course_notebooks, execute_notebook, notebook_version

NOTEBOOKS = course_notebooks()
#: Words that state what an exercise costs.
COST = re.compile(r"\b(\d+\s*(s|sec|seconds?|min|minutes?|h|hours?)|seconds?|minutes?|hours?)\b", re.I)


def _tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def _heading_index(cells, heading: str) -> int:
    found = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and c.source.lstrip().startswith(heading)]
    assert len(found) == 1, f"expected one markdown cell starting with {heading!r}, found {len(found)}"
    return found[0]


def test_course_has_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no course notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_well_formed(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown"
    assert "what you will learn" in first.source.lower(), "the first cell must say what you will learn"
    assert "minute" in first.source.lower(), "the first cell must say how long it takes"
    tagged = [c for c in nb.cells if "parameters" in _tags(c)]
    assert len(tagged) == 1 and "fast" in tagged[0].source, "one papermill 'parameters' cell with a `fast` flag"
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit notebooks without outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_ends_with_summary_references_exercises_and_answers_kept_apart(path):
    cells = nbformat.read(path, as_version=4).cells
    summary, references, exercises, answers = (_heading_index(cells, h) for h in
                                               ("## Summary", "## References", "## Exercises", "## Answers"))
    assert summary < references < exercises < answers, "order: Summary, References, Exercises, Answers"
    assert "EHFusion" in cells[references].source, "the references name the EHFusion paper"
    # every exercise states what it costs
    items = re.split(r"\n(?=\d+\.\s)", "\n" + cells[exercises].source.split("\n", 1)[1])
    items = [item for item in items if re.match(r"\s*\d+\.\s", item)]
    assert items, "the exercises are a numbered list"
    for item in items:
        assert COST.search(item), f"exercise without a cost (minutes or hours): {item.strip()[:80]!r}"
    # the answers, and only they, are solution cells, at the end
    assert all(SOLUTION_TAG in _tags(c) for c in cells[answers:]), "every cell from '## Answers' on is a solution"
    assert not any(SOLUTION_TAG in _tags(c) for c in cells[:answers]), "no solution cell before '## Answers'"
    assert len(cells) - answers >= 2, "the answers section holds answers"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_version_drops_exactly_the_answers(path):
    answers, student = notebook_version(path, "answers"), notebook_version(path, "student")
    assert [c.source for c in student.cells] == [c.source for c in answers.cells if SOLUTION_TAG not in _tags(c)]
    assert not any("## Answers" in c.source for c in student.cells)
    assert student.cells[-1].source.lstrip().startswith("## Exercises")


def test_build_writes_both_versions(tmp_path):
    written = build_versions(tmp_path, NOTEBOOKS[:2])
    assert sorted(written) == ["answers", "student"]
    for version, files in written.items():
        assert [f.name for f in files] == [p.name for p in NOTEBOOKS[:2]]
        assert all(f.parent == tmp_path / version for f in files)
    student = nbformat.read(written["student"][0], as_version=4)
    assert not any(SOLUTION_TAG in _tags(c) for c in student.cells)


@pytest.mark.notebook
@pytest.mark.parametrize("version", ["student", "answers"])
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_in_fast_mode(path, version, tmp_path):
    run = execute_notebook(path, tmp_path / path.name, parameters={"fast": True}, timeout=600, version=version)
    assert run.error is None, f"{path.name} ({version}) failed: {run.error}"
    executed = json.loads((tmp_path / path.name).read_text())
    errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert sum(1 for c in executed["cells"] if c.get("outputs")) >= 3, "the notebook should show results"
    streams = "".join("".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", [])
                      if o.get("output_type") == "stream")
    assert "it/s]" not in streams and "s/it]" not in streams, "no progress bars in a headless run"
