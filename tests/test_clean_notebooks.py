"""Committed notebooks carry no widget state, widget views, progress bars or execution timestamps.

tools/clean_notebooks.py removes them; these tests check the tool, and that no committed notebook
needs it.
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))
_spec = importlib.util.spec_from_file_location("clean_notebooks", ROOT / "tools/clean_notebooks.py")
clean_notebooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(clean_notebooks)

VIEW = "application/vnd.jupyter.widget-view+json"
FIGURE = new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})
TABLE = new_output("execute_result", execution_count=1,
                   data={"text/html": "<table></table>", "text/plain": "   a\n0  1"})
EXPLORER = new_output("execute_result", execution_count=2, data={
    VIEW: {"model_id": "f00", "version_major": 2, "version_minor": 0},
    "text/plain": "VBox(children=(HBox(children=(IntSlider(value=0, description='meme', max=374),"})
FROZEN_BAR = new_output("display_data", data={
    VIEW: {"model_id": "ba4", "version_major": 2, "version_minor": 0},
    "text/plain": "loading pictures:   0%|          | 0/4000 [00:00<?, ?it/s]"})
TEXT_BARS = new_output("stream", name="stderr", text=(
    "pretraining gru:   0%|          | 0/315 [00:00<?, ?it/s]\r"
    "pretraining gru:  50%|#####     | 158/315 [00:01<00:01, 120.31it/s]\n"
    "1800it [00:01, 1500.00it/s]\n"))
PRINTED_AND_BARS = new_output("stream", name="stdout", text=(
    "accuracy 0.93\nepoch 1\r 10%|#         | 1/10 [00:00<00:05, 1.80it/s]\ndone: 100% of memes\n"))


def executed_notebook() -> nbformat.NotebookNode:
    outputs = copy.deepcopy([[FIGURE, FROZEN_BAR], [TEXT_BARS, TABLE], [EXPLORER],
                             [PRINTED_AND_BARS]])
    sources = ["plot()", "table", "explorer.widget()", "train()"]
    notebook = new_notebook(cells=[new_code_cell(source, outputs=cell_outputs)
                                   for source, cell_outputs in zip(sources, outputs)])
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    for cell in notebook.cells[:2]:  # as nbclient records them
        cell.metadata["execution"] = {"iopub.execute_input": "2026-11-27T18:20:01.123Z",
                                      "shell.execute_reply": "2026-11-27T18:20:02.456Z"}
    notebook.cells[0].metadata["tags"] = ["keep"]
    return notebook


def test_clean_removes_widgets_and_bars_and_keeps_figures_tables_and_text():
    notebook = executed_notebook()
    removed = clean_notebooks.clean(notebook)
    assert len(removed) == 6 and removed[0] == "metadata: saved widget state"
    assert removed[-1] == "metadata: execution timestamps of 2 cell(s)"
    assert "widgets" not in notebook.metadata
    assert [cell.metadata for cell in notebook.cells] == [{"tags": ["keep"]}, {}, {}, {}]
    first, second, third, fourth = (cell.outputs for cell in notebook.cells)
    assert first == [FIGURE] and second == [TABLE] and third == []
    assert fourth[0].text == "accuracy 0.93\nepoch 1\ndone: 100% of memes\n"
    nbformat.validate(notebook)
    assert clean_notebooks.clean(notebook) == []  # cleaning twice changes nothing


def test_strip_progress_bars_keeps_text_that_only_mentions_percentages():
    text = "train: 4000 memes, 50% mean\nscores | 0.5 | 0.9 |\n"
    assert clean_notebooks.strip_progress_bars(text) == text


def test_the_tool_rewrites_only_notebooks_that_need_it(tmp_path, monkeypatch, capsys):
    dirty, clean = tmp_path / "dirty.ipynb", tmp_path / "clean.ipynb"
    nbformat.write(executed_notebook(), dirty)
    nbformat.write(new_notebook(cells=[new_code_cell("1", outputs=[TABLE])]), clean)
    before = clean.stat().st_mtime_ns
    monkeypatch.setattr("sys.argv", ["clean_notebooks.py", str(dirty), str(clean)])
    assert clean_notebooks.main() == 0
    assert clean_notebooks.clean(nbformat.read(dirty, as_version=4)) == []
    assert clean.stat().st_mtime_ns == before
    printed = capsys.readouterr().out
    assert "dirty.ipynb: removed" in printed and "clean.ipynb" not in printed


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_committed_notebook_has_nothing_only_a_live_run_can_show(path):
    removed = clean_notebooks.clean(nbformat.read(path, as_version=4))
    fix = f"python tools/clean_notebooks.py {path.relative_to(ROOT).as_posix()}"
    assert not removed, (f"{path.name} was committed with what only a live run can show "
                         f"(fix: {fix}):\n" + "\n".join(removed))
