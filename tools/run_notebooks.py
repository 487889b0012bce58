"""Execute notebooks top to bottom; report wall time and kernel memory; optionally save them.

    python tools/run_notebooks.py                          # every notebook, report only
    python tools/run_notebooks.py --cold notebooks/01_unimodal_encoders.ipynb
    python tools/run_notebooks.py --write notebooks/00_welcome_and_data.ipynb
    taskset -c 0 python tools/run_notebooks.py --cold     # as Binder runs it: one CPU
    python tools/run_notebooks.py --workshop               # a student who never shuts a kernel down

- `--cold` gives each notebook its own empty MMLAB_HOME, so it generates its data and pretrains
  its encoders as on a learner's first run.
- `--write` saves the executed notebook (atomically) with its outputs, cleaned by
  `tools/clean_notebooks.py` (no widget state, no progress-bar text): what we commit.
- `--workshop` plays a student in a workshop: it runs the notebooks in series order, one kernel
  each, and keeps every kernel alive after its last cell, as students do. It reports each
  kernel's peak and its resident memory once finished, and the worst total of any three
  consecutive kernels still open (Binder gives about 2 GB for all of them).

Memory: the resident set size (RSS) of the kernel process and its children, sampled every
50 ms (peak), and once a notebook has finished (RSS, and USS, the memory that only this kernel
holds, which closing it would give back).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import psutil
from jupyter_core.utils import run_sync
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from clean_notebooks import clean  # noqa: E402  (a script beside this one)

LIMIT_S, LIMIT_MB = 60, 1500


@dataclass
class Run:
    """What one notebook's execution took."""

    name: str
    seconds: float
    peak_mb: float
    rss_mb: float  # resident memory of the kernel after the last cell
    uss_mb: float  # of which only this kernel holds


def _kernel_processes(client: NotebookClient) -> list[psutil.Process]:
    process = psutil.Process(client.km.provisioner.process.pid)
    return [process, *process.children(recursive=True)]


def _memory(client: NotebookClient, field: str = "rss") -> int:
    try:
        if field == "rss":
            return sum(p.memory_info().rss for p in _kernel_processes(client))
        return sum(getattr(p.memory_full_info(), field) for p in _kernel_processes(client))
    except (AttributeError, psutil.Error):
        return 0


def _watch_memory(client: NotebookClient, peak: list[int], stop: threading.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], _memory(client))
        stop.wait(0.05)


def start(path: Path, env: dict[str, str] | None = None, timeout: int = 600) -> tuple[NotebookClient, nbformat.NotebookNode]:
    """A client with a running kernel for the notebook at `path` (its folder is the working dir)."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.km = client.create_kernel_manager()
    client.start_new_kernel(env=env or dict(os.environ))
    client.start_new_kernel_client()
    return client, notebook


def execute(client: NotebookClient, notebook: nbformat.NotebookNode, name: str) -> Run:
    """Run every cell; measure the time, the peak memory and the memory held at the end."""
    peak, stop = [0], threading.Event()
    watcher = threading.Thread(target=_watch_memory, args=(client, peak, stop), daemon=True)
    started = time.perf_counter()
    watcher.start()
    try:
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)
    finally:
        seconds = time.perf_counter() - started
        stop.set()
        watcher.join()
    time.sleep(0.5)  # let the kernel settle (garbage collection, figures closed) before reading it
    return Run(name, seconds, peak[0] / 1e6, _memory(client) / 1e6, _memory(client, "uss") / 1e6)


def shutdown(client: NotebookClient) -> None:
    client.kc.stop_channels()
    run_sync(client.km.shutdown_kernel)(now=True)  # the kernel manager is asynchronous


def run(path: Path, write: bool = False, home: str | None = None) -> Run:
    """Execute one notebook in a fresh kernel (with MMLAB_HOME=`home` when given), then shut it down."""
    env = dict(os.environ, **({"MMLAB_HOME": home} if home else {}))
    client, notebook = start(path, env)
    try:
        result = execute(client, notebook, str(path.relative_to(ROOT / "notebooks")))
    finally:
        shutdown(client)
    if write:
        clean(notebook)
        tmp = path.with_name(f".{path.name}.tmp")
        nbformat.write(notebook, tmp)
        os.replace(tmp, path)
    return result


def workshop(paths: list[Path], window: int = 3) -> list[Run]:
    """Run the notebooks in order, each in its own kernel kept alive; print the memory they hold."""
    clients, runs = [], []
    try:
        for path in paths:
            client, notebook = start(path)
            clients.append(client)
            runs.append(execute(client, notebook, path.name))
            print(f"{path.name}: {runs[-1].seconds:.1f} s, peak {runs[-1].peak_mb:.0f} MB, after the "
                  f"last cell {runs[-1].rss_mb:.0f} MB resident ({runs[-1].uss_mb:.0f} MB its own); "
                  f"{len(clients)} kernels open hold {sum(_memory(c) for c in clients) / 1e6:.0f} MB",
                  flush=True)
    finally:
        for client in clients:
            shutdown(client)
    totals = [(sum(r.rss_mb for r in runs[i:i + window]), i) for i in range(max(1, len(runs) - window + 1))]
    total, first = max(totals)
    names = ", ".join(r.name[:2] for r in runs[first:first + window])
    print(f"worst {window} consecutive kernels ({names}): {total:.0f} MB resident together "
          f"(each counted whole, shared libraries included: an upper bound)")
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--write", action="store_true", help="save the cleaned outputs into the notebook")
    parser.add_argument("--cold", action="store_true", help="each notebook with its own empty MMLAB_HOME")
    parser.add_argument("--workshop", action="store_true", help="keep every kernel alive, in series order")
    args = parser.parse_args()
    series = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    paths = [p.resolve() for p in args.notebooks] or (series if args.workshop else
                                                       series + sorted((ROOT / "notebooks" / "solutions").glob("*.ipynb")))
    if args.workshop:
        workshop(paths)
        return 0
    worst = 0
    for path in paths:
        with tempfile.TemporaryDirectory(prefix="mmlab-cold-") as home:
            result = run(path, args.write, home if args.cold else None)
        print(f"{result.name}: {result.seconds:.1f} s, peak {result.peak_mb:.0f} MB, after the last cell "
              f"{result.rss_mb:.0f} MB ({result.uss_mb:.0f} MB its own)", flush=True)
        worst = max(worst, int(result.seconds > LIMIT_S or result.peak_mb > LIMIT_MB))
    return worst


if __name__ == "__main__":
    sys.exit(main())
