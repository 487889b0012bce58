"""Every notebook follows the template in CONTRIBUTING.md, and is committed clean.

nbval (run by the same `pytest`) checks that the notebooks execute; these checks read the
committed files only, so they take well under a second.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ALL_NOTEBOOKS = NOTEBOOKS + sorted((ROOT / "notebooks" / "solutions").glob("*.ipynb"))


def markdown_headings(notebook: nbformat.NotebookNode) -> list[str]:
    return [line for cell in notebook.cells if cell.cell_type == "markdown"
            for line in cell.source.splitlines() if line.startswith("#")]


def test_the_series_is_there():
    assert len(NOTEBOOKS) >= 5
    numbers = [int(path.name[:2]) for path in NOTEBOOKS]
    assert numbers == list(range(len(NOTEBOOKS))), "notebooks are numbered 00, 01, ... without gaps"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_opens_with_title_objectives_run_time_and_place_in_the_series(path):
    first = nbformat.read(path, as_version=4).cells[0]
    assert first.cell_type == "markdown"
    assert re.match(rf"# {path.name[:2]} · \S", first.source), "title: '# NN · what it is about'"
    for part in ("**You will learn to**", "**Run time:**", "**Series:**"):
        assert part in first.source, f"the title cell lacks {part}"
    objectives = [line for line in first.source.splitlines() if line.startswith("- ")]
    assert 3 <= len(objectives) <= 5, "three to five learning objectives"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_has_setup_exercises_recap_and_a_solutions_twin(path):
    headings = markdown_headings(nbformat.read(path, as_version=4))
    for heading in ("## Setup", "## Exercises", "## Recap"):
        assert heading in headings
    assert headings.index("## Setup") < headings.index("## Exercises") < headings.index("## Recap")
    assert (path.parent / "solutions" / f"{path.stem}_solutions.ipynb").is_file()


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_is_committed_with_clean_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert any(cell.outputs for cell in code), "committed with the outputs of one run"
    for cell in code:
        for output in cell.outputs:
            assert output.output_type != "error", f"an error output in:\n{cell.source[:200]}"
            text = output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
            assert not re.search(r"/(home|work|root|Users|tmp)/", text), f"an absolute path in: {text[:200]}"
