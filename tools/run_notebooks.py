"""Execute notebooks top to bottom, report wall time and peak kernel memory, optionally save.

    python tools/run_notebooks.py                      # every notebook, report only
    python tools/run_notebooks.py --write notebooks/00_welcome_and_data.ipynb

`--write` saves the executed notebook with its outputs (what we commit: one clean run, plots
visible on GitHub). Peak memory is the largest resident set size of the kernel process and its
children, sampled every 50 ms.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def _watch_memory(client: NotebookClient, peak: list[int], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            pid = client.km.provisioner.process.pid
            process = psutil.Process(pid)
            rss = process.memory_info().rss + sum(c.memory_info().rss for c in process.children(recursive=True))
            peak[0] = max(peak[0], rss)
        except (AttributeError, psutil.Error):
            pass
        stop.wait(0.05)


def run(path: Path, write: bool, timeout: int = 600) -> tuple[float, float]:
    """Execute `path`; return (seconds, peak memory in MB)."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    peak, stop = [0], threading.Event()
    start = time.perf_counter()
    with client.setup_kernel():
        watcher = threading.Thread(target=_watch_memory, args=(client, peak, stop), daemon=True)
        watcher.start()
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)
        seconds = time.perf_counter() - start
        stop.set()
    if write:
        nbformat.write(notebook, path)
    return seconds, peak[0] / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--write", action="store_true", help="save the outputs into the notebook")
    args = parser.parse_args()
    paths = args.notebooks or sorted((ROOT / "notebooks").rglob("*.ipynb"))
    worst = 0
    for path in paths:
        seconds, megabytes = run(path, args.write)
        print(f"{path.name}: {seconds:.1f} s, peak {megabytes:.0f} MB")
        worst = max(worst, int(seconds > 60 or megabytes > 1500))
    return worst


if __name__ == "__main__":
    sys.exit(main())
