"""Strip from executed notebooks what only the live run could show: widgets, progress bars and
execution timestamps.

    python tools/clean_notebooks.py                                  # every notebook in notebooks/
    python tools/clean_notebooks.py notebooks/02_attention.ipynb     # just these

Run it after executing a notebook and before committing it. A committed notebook has no kernel
behind it, so a widget's saved view cannot be drawn: JupyterLab and GitHub show its text stand-in
instead (`VBox(children=(HBox(...` for the attention explorer, a bar frozen at `0%` for a tqdm bar).
The tool removes

- the notebook's saved widget state (`metadata.widgets`),
- every widget-view output (`application/vnd.jupyter.widget-view+json`, with its text stand-in),
- the lines of tqdm's text bars (`45%|####5     |` or `[00:01, 12.3it/s]`) in stream and text
  outputs; an output left empty is removed;
- nbclient's execution timestamps (each cell's `metadata.execution`), which change at every run
  and would make every re-run a diff of every cell.

Figures, tables and every other line of printed text stay. tests/test_clean_notebooks.py checks
that committed notebooks need no cleaning.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

from mmlab.io import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# tqdm's text bar: "desc:  45%|####5     | 1800/4000 [00:01<00:01, 1500.00it/s]"; without a
# total it has no percentage, only the rate: "desc: 1800it [00:01, 1500.00it/s]".
PROGRESS_BAR = re.compile(r"\d%\||(it/s|s/it)\]")


def strip_progress_bars(text: str) -> str:
    """`text` without the lines (and carriage-return redraws) that are tqdm bars."""
    kept = []
    for line in text.split("\n"):
        if not PROGRESS_BAR.search(line):
            kept.append(line)
            continue
        pieces = line.split("\r")  # a bar redraws itself after a carriage return
        rest = [piece for piece in pieces if piece.strip() and not PROGRESS_BAR.search(piece)]
        if rest:  # text printed on the same line as a bar, e.g. "epoch 1\r  0%|..."
            kept.append("\r".join(rest))
    return "\n".join(kept)


def clean_outputs(outputs: list, where: str) -> tuple[list, list[str]]:
    """The outputs to keep, and one line for each removal or change."""
    kept, removed = [], []
    for output in outputs:
        data = output.get("data", {})
        if WIDGET_VIEW in data:
            removed.append(f"{where}: a widget view ({str(data.get('text/plain', ''))[:40]!r})")
            continue
        if output.output_type == "stream":
            text, place = output.text, "stream"
        elif "text/plain" in data:
            text, place = data["text/plain"], "text/plain"
        else:
            kept.append(output)  # a figure, or HTML with no text stand-in
            continue
        stripped = strip_progress_bars(text)
        if stripped != text:
            removed.append(f"{where}: progress-bar text in {place} ({text.strip()[:40]!r})")
        if not stripped.strip() and (place == "stream" or len(data) == 1):
            continue  # nothing left to show
        if place == "stream":
            output.text = stripped
        else:
            data["text/plain"] = stripped
        kept.append(output)
    return kept, removed


def clean(notebook: nbformat.NotebookNode) -> list[str]:
    """Remove widget state, widget views, progress bars and timestamps from `notebook`, in place.

    Returns one line for each thing removed (empty when the notebook was already clean).
    """
    removed = []
    if "widgets" in notebook.metadata:
        del notebook.metadata["widgets"]
        removed.append("metadata: saved widget state")
    timed = 0
    for index, cell in enumerate(notebook.cells):
        timed += cell.metadata.pop("execution", None) is not None
        if cell.cell_type == "code":
            cell.outputs, cell_removed = clean_outputs(cell.outputs, f"cell {index}")
            removed += cell_removed
    if timed:
        removed.append(f"metadata: execution timestamps of {timed} cell(s)")
    return removed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to clean (default: every notebook in notebooks/)")
    args = parser.parse_args()
    for path in args.notebooks or sorted((ROOT / "notebooks").rglob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        removed = clean(notebook)
        if removed:
            atomic_write_text(path, nbformat.writes(notebook) + "\n")
            print(f"{path}: removed", *removed, sep="\n  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
