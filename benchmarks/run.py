"""mmlab's benchmarks: one command, results under benchmarks/results/.

    python -m benchmarks.run                          # everything (within 15 minutes on 2 cores)
    python -m benchmarks.run --parts loop,scaling     # some parts
    python -m benchmarks.run --device cuda            # the same on a GPU (results/cuda/)

Parts (see benchmarks/README.md for what each measures and how):

- notebooks: every notebook and solution notebook executed headless: seconds, peak kernel memory.
- tta:       time to accuracy, the kit's default `mmlab train` against the classic recipe, the
             same SynthMemes split and the same wall-clock budget each.
- loop:      training-loop efficiency, `mmlab.train.fit` against a bare loop.
- scaling:   generation time, training time and peak memory at 1k, 2k, 4k and 8k training memes.

Writes `results.csv` (one measurement per row), `results.md` (tables and the machine) and
`scaling.png`, each atomically. Cold-cache measurements run in subprocesses with a temporary
MMLAB_HOME, so the repository's datasets/ caches are neither used nor touched.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import torch

from mmlab.errors import MmlabError
from mmlab.io import atomic_path, atomic_write_text
from mmlab.utils import choose_device, seed_everything

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("notebooks", "tta", "loop", "scaling")
COLUMNS = ["part", "item", "metric", "value", "device", "load_1min", "flag", "note"]
NOTEBOOK_LIMITS = {"seconds": 60.0, "peak_mb": 1500.0}  # CONTRIBUTING.md: 60 s and 1.5 GB per notebook
LOOP_TARGET = 0.9  # fit may add at most 10 % over the bare loop
TOTAL_LIMIT_S = 15 * 60

Row = dict[str, Any]


def row(part: str, item: str, metric: str, value: float | str, device: str, flag: str = "",
        note: str = "") -> Row:
    """One measurement, stamped with the 1-minute load average when it was taken."""
    return {"part": part, "item": item, "metric": metric, "value": value, "device": device,
            "load_1min": round(os.getloadavg()[0], 2), "flag": flag, "note": note}


# ---------------------------------------------------------------------------------------------
# The machine, and measuring a subprocess


def describe_machine() -> dict[str, str]:
    """CPU model, cores, memory, GPU and software versions, for the results' header."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (no GPU on this machine)"
    return {"cpu": cpu, "cores": f"{os.cpu_count()} logical, {psutil.cpu_count(logical=False)} physical",
            "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB", "gpu": gpu,
            "os": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "torch_threads": str(torch.get_num_threads())}


@dataclass
class Measured:
    """What `run_measured` saw: wall time, peak resident memory, exit status and output."""

    seconds: float
    peak_mb: float
    returncode: int
    stdout: str
    stderr: str


# A tiny Python that forks the command and reports the child's peak RSS from `wait4`. Measuring
# from the benchmark process itself would be wrong on Linux: a child's peak RSS starts at its
# parent's RSS at fork time (hundreds of MB here), and survives exec. This launcher is small.
LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
kilobytes = usage.ru_maxrss / 1024 if sys.platform == "darwin" else usage.ru_maxrss  # macOS: bytes
open(sys.argv[1], "w").write(str(kilobytes))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(args: list[str], env: dict[str, str] | None = None) -> Measured:
    """Run a command to its end; measure its wall time and peak resident memory (RSS).

    The peak comes from the kernel's accounting of that process (`wait4`, through `LAUNCHER`), so
    no short spike is missed. Raises RuntimeError, with the last line of stderr, when it fails.
    """
    with tempfile.TemporaryDirectory(prefix="mmlab-measure-") as folder:
        report = Path(folder) / "peak_kb"
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", LAUNCHER, str(report), *args], capture_output=True,
                              text=True, errors="replace", env=env, cwd=ROOT)
        seconds = time.perf_counter() - started
        peak_kb = float(report.read_text()) if report.is_file() else float("nan")
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no output"
        raise RuntimeError(f"{' '.join(args[:5])} ... failed with status {done.returncode}: {last}")
    return Measured(seconds, peak_kb * 1024 / 1e6, done.returncode, done.stdout, done.stderr)


@contextlib.contextmanager
def mmlab_home_at(home: Path) -> Iterator[None]:
    """Set MMLAB_HOME to `home` in this process for the duration of the block."""
    before = os.environ.get("MMLAB_HOME")
    os.environ["MMLAB_HOME"] = str(home)
    try:
        yield
    finally:
        if before is None:
            del os.environ["MMLAB_HOME"]
        else:
            os.environ["MMLAB_HOME"] = before


def mmlab_command(*args: str) -> list[str]:
    """`python -m mmlab ARGS` with this interpreter."""
    return [sys.executable, "-m", "mmlab", *args]


def home_env(home: Path) -> dict[str, str]:
    """The environment with MMLAB_HOME set to `home`: caches there, not in datasets/."""
    return {**os.environ, "MMLAB_HOME": str(home)}


# ---------------------------------------------------------------------------------------------
# The parts


def bench_notebooks(paths: list[Path], device: str) -> list[Row]:
    """Execute each notebook headless; its seconds and peak kernel memory, flagged over the limits."""
    sys.path.insert(0, str(ROOT))  # tools/ is a folder of scripts, not an installed package
    from tools.run_notebooks import run

    rows = []
    for path in paths:
        name = str(path.relative_to(ROOT / "notebooks"))
        try:
            result = run(path)
            seconds, peak_mb = result.seconds, result.peak_mb
        except Exception as error:  # a failing cell: record it, go on with the other notebooks
            rows.append(row("notebooks", name, "seconds", float("nan"), device,
                            flag=f"error: {type(error).__name__}"))
            continue
        for metric, value in (("seconds", seconds), ("peak_mb", peak_mb)):
            over = value > NOTEBOOK_LIMITS[metric]
            rows.append(row("notebooks", name, metric, round(value, 1), device,
                            flag=f"over {NOTEBOOK_LIMITS[metric]:g}" if over else ""))
        print(f"  {name}: {seconds:.1f} s, peak {peak_mb:.0f} MB", flush=True)
    return rows


def subset_metrics(predictions: pd.DataFrame, labels: pd.Series) -> dict[str, float]:
    """Accuracy and AUROC of `predictions` (id, proba, label) on the memes whose ids index `labels`."""
    from sklearn.metrics import roc_auc_score

    chosen = predictions.set_index("id").loc[labels.index]
    return {"accuracy": float((chosen["label"] == labels).mean()),
            "auroc": float(roc_auc_score(labels, chosen["proba"]))}


def bench_time_to_accuracy(home: Path, budget_s: float, eval_n: int, device: str) -> list[Row]:
    """The kit's default `mmlab train` (cold caches) and the classic recipe, `budget_s` seconds each."""
    from mmlab.data.store import synthmemes_path
    from mmlab.train import evaluate, make_loader

    from benchmarks.training import CLASSIC, classic_datasets, classic_model, train_for

    part, rows = "tta", []
    # The kit: the whole job in a fresh process with an empty MMLAB_HOME (generate the data,
    # pretrain the image encoder, fastText, features, fit, test).
    kit = run_measured(mmlab_command("train", "--json", "--device", device, "--out", str(home / "kit-run")),
                       home_env(home))
    metrics = json.loads(kit.stdout.strip().splitlines()[-1])
    print(f"  kit: whole job {kit.seconds:.1f} s, fit {metrics['train_seconds']:.1f} s, "
          f"accuracy {metrics['accuracy']:.3f}", flush=True)

    # The classic recipe on the same split; its clock includes training fastText and building the model.
    with mmlab_home_at(home):
        root = synthmemes_path("memes")  # the data the kit's job just generated
    seed_everything(0)
    torch_device = choose_device(device)
    started = time.perf_counter()
    train, test = classic_datasets(root, eval_n, cache_dir=home / "fasttext")
    model = classic_model()
    trained = train_for(model, make_loader(train, CLASSIC["batch_size"], True, torch_device), budget_s,
                        torch_device, started=started)
    classic_seconds = time.perf_counter() - started
    eval_started = time.perf_counter()
    classic = evaluate(model, make_loader(test, 16, False, torch_device), device=torch_device)
    eval_seconds = time.perf_counter() - eval_started
    print(f"  classic: {trained['seen']} memes in {trained['seconds']:.1f} s, "
          f"accuracy {classic['accuracy']:.3f}, evaluation {eval_seconds:.1f} s", flush=True)

    # Both judged on the same test memes.
    labels = pd.Series(test.frame["label"].to_numpy(), index=test.frame["id"])
    kit_subset = subset_metrics(pd.read_csv(home / "kit-run" / "predictions.csv"), labels)
    kit_rate = metrics["n_train"] * metrics["epochs_run"] / metrics["train_seconds"]
    classic_rate = trained["seen"] / trained["seconds"]
    on = f"on {len(test)} test memes"
    kit_item, fit_item, classic_item = ("kit default: whole job, cold caches", "kit default: fit alone",
                                        "classic recipe (random init)")
    late = kit.seconds > budget_s
    rows += [row(part, kit_item, "seconds", round(kit.seconds, 1), device,
                 flag=f"over the {budget_s:g} s budget" if late else ""),
             row(part, kit_item, "peak_mb", round(kit.peak_mb), device),
             row(part, kit_item, "accuracy", round(kit_subset["accuracy"], 3), device, note=on),
             row(part, kit_item, "auroc", round(kit_subset["auroc"], 3), device, note=on),
             row(part, fit_item, "seconds", metrics["train_seconds"], device,
                 note=f"{metrics['epochs_run']} epochs (early stopping), best epoch {metrics['best_epoch']}"),
             row(part, fit_item, "samples_per_s", round(kit_rate, 1), device),
             row(part, fit_item, "accuracy", round(metrics["accuracy"], 3), device,
                 note=f"on all {metrics['n_test']} test memes"),
             row(part, fit_item, "auroc", round(metrics["auroc"], 3), device,
                 note=f"on all {metrics['n_test']} test memes"),
             row(part, classic_item, "seconds", round(classic_seconds, 1), device,
                 note="fastText, model build and training; evaluation excluded"),
             row(part, classic_item, "samples_per_s", round(classic_rate, 2), device,
                 note=f"{trained['seen']} memes seen, {trained['steps']} optimizer steps"),
             row(part, classic_item, "accuracy", round(classic["accuracy"], 3), device, note=on),
             row(part, classic_item, "auroc", round(classic["auroc"], 3), device, note=on),
             row(part, classic_item, "eval_seconds", round(eval_seconds, 1), device, note=on)]
    # Ratios: training throughput, and time to the kit's accuracy (a lower bound when the
    # classic recipe never gets there within its budget).
    rows.append(row(part, "ratio kit / classic", "samples_per_s", round(kit_rate / classic_rate, 1), device))
    reached = classic["accuracy"] >= kit_subset["accuracy"]
    rows.append(row(part, "ratio kit / classic", "time_to_accuracy",
                    round(budget_s / kit.seconds, 2), device,
                    note=("classic reached the kit's accuracy within its budget: ratio is at most this"
                          if reached else
                          f"classic stayed below the kit's accuracy for its whole {budget_s:g} s: "
                          "the true ratio is larger than this")))
    memes_needed = metrics["n_train"] * metrics["best_epoch"]
    rows.append(row(part, "classic recipe (random init)", "projected_hours", round(memes_needed / classic_rate / 3600, 1),
                    device, note=f"to see the {memes_needed} memes the kit's fit trained on up to its best "
                                 "epoch, at the measured rate (a projection, not a measurement)"))
    return rows


def bench_loop(device: str, n: int, epochs: int, repeats: int) -> list[Row]:
    """`mmlab.train.fit` against a bare loop; flags a same-work ratio below LOOP_TARGET."""
    from benchmarks.training import loop_efficiency

    result = loop_efficiency(n=n, epochs=epochs, repeats=repeats, device=choose_device(device))
    part = "loop"
    setting = f"{n} memes, batch {result['batch_size']}, {epochs} epoch(s) per timing, fastest of {repeats}"
    paired = f"median over {repeats} rounds of bare seconds / fit seconds, timed back to back"
    rows = [row(part, "bare loop over preloaded tensors", "samples_per_s",
                round(result["bare_samples_per_s"], 1), device, note=setting),
            row(part, "fit, same work (no validation, no checkpoints, no bars)", "samples_per_s",
                round(result["fit_same_work_samples_per_s"], 1), device, note=setting),
            row(part, "fit as mmlab train runs it (validation, checkpoints, bars)", "samples_per_s",
                round(result["fit_as_mmlab_train_samples_per_s"], 1), device, note=setting)]
    low = result["ratio_same_work"] < LOOP_TARGET
    rows.append(row(part, "ratio fit / bare, same work", "ratio", round(result["ratio_same_work"], 3), device,
                    flag=f"below {LOOP_TARGET}" if low else "", note=paired))
    rows.append(row(part, "ratio fit / bare, as mmlab train", "ratio",
                    round(result["ratio_as_mmlab_train"], 3), device,
                    note=paired + "; fit also validates on n/8 memes each epoch, which the bare loop does not do"))
    print(f"  fit / bare: {result['ratio_same_work']:.3f} (same work), "
          f"{result['ratio_as_mmlab_train']:.3f} (as mmlab train)", flush=True)
    return rows


WARM_UP = ("from mmlab.data.store import ensure_synthmemes; from mmlab.pretrain import pretrain_image_encoder; "
           "pretrain_image_encoder(ensure_synthmemes('memes'), progress=False)")


GENERATE = ("import sys, time; from mmlab.data.store import write_synthmemes; started = time.perf_counter(); "
            "write_synthmemes(sys.argv[1], n=int(sys.argv[2])); print(time.perf_counter() - started)")


def bench_scaling(home: Path, sizes: list[int], device: str) -> list[Row]:
    """Generation and `mmlab train` at each training-set size: seconds and peak memory.

    `mmlab train` always uses the image encoder pretrained on the default dataset; it is made
    (or found) once first, so every size measures data, features and fit, not pretraining.
    """
    part, rows = "scaling", []
    warm = run_measured([sys.executable, "-c", WARM_UP], home_env(home))
    rows.append(row(part, "pretraining (once, default dataset)", "seconds", round(warm.seconds, 1), device,
                    note="a cache hit when the tta part ran first"))
    for n in sizes:
        data = home / "scaling" / f"memes-n{n}"
        made = run_measured([sys.executable, "-c", GENERATE, str(data), str(n)], home_env(home))
        generation_s = float(made.stdout.strip().splitlines()[-1])
        trained = run_measured(mmlab_command("train", "--data", str(data), "--json", "--device", device,
                                             "--out", str(home / "scaling-runs" / f"n{n}")), home_env(home))
        metrics = json.loads(trained.stdout.strip().splitlines()[-1])
        item = f"{n} memes"
        rows += [row(part, item, "generation_seconds", round(generation_s, 1), device,
                     note="write_synthmemes alone, without starting Python"),
                 row(part, item, "generation_peak_mb", round(made.peak_mb), device),
                 row(part, item, "train_job_seconds", round(trained.seconds, 1), device,
                     note="the whole mmlab train process: features, fit, test"),
                 row(part, item, "fit_seconds", metrics["train_seconds"], device),
                 row(part, item, "epochs_run", metrics["epochs_run"], device),
                 row(part, item, "train_peak_mb", round(trained.peak_mb), device),
                 row(part, item, "accuracy", round(metrics["accuracy"], 3), device)]
        print(f"  {n}: generation {generation_s:.1f} s, train {trained.seconds:.1f} s "
              f"(fit {metrics['train_seconds']:.1f} s), peak {trained.peak_mb:.0f} MB", flush=True)
    return rows


# ---------------------------------------------------------------------------------------------
# Writing the results


def plot_scaling(results: pd.DataFrame, path: Path) -> None:
    """Seconds and peak memory against training-set size, as a PNG (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scaling = results[results["part"] == "scaling"]
    scaling = scaling[scaling["item"].str.endswith(" memes")]
    table = scaling.pivot(index="item", columns="metric", values="value").astype(float)
    table.index = [int(item.split()[0]) for item in table.index]
    table = table.sort_index()
    fig, (time_ax, memory_ax) = plt.subplots(1, 2, figsize=(8, 3))
    for metric, label in (("generation_seconds", "generate data"), ("train_job_seconds", "mmlab train"),
                          ("fit_seconds", "fit alone")):
        time_ax.plot(table.index, table[metric], marker="o", label=label)
    for metric, label in (("generation_peak_mb", "generate data"), ("train_peak_mb", "mmlab train")):
        memory_ax.plot(table.index, table[metric], marker="o", label=label)
    time_ax.set(xlabel="training memes", ylabel="seconds", title="time")
    memory_ax.set(xlabel="training memes", ylabel="peak MB", title="peak memory", ylim=(0, None))
    for ax in (time_ax, memory_ax):
        ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)


def shown(value: Any, flag: str) -> str:
    """A value as a table cell: numbers without trailing zeros, flagged ones in bold with a "!"."""
    text = f"{value:g}" if isinstance(value, (int, float)) and not pd.isna(value) else str(value)
    return f"**{text} !**" if flag else text


def markdown_table(frame: pd.DataFrame) -> str:
    """A pandas frame of strings as a GitHub markdown table (index included)."""
    header = [frame.index.name or ""] + [str(column) for column in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, values in frame.iterrows():
        cells = ["" if pd.isna(value) else str(value) for value in values]
        lines.append("| " + " | ".join([str(index), *cells]) + " |")
    return "\n".join(lines)


def results_markdown(results: pd.DataFrame, machine: dict[str, str], run_info: dict[str, str]) -> str:
    """The results as markdown: the machine, one table per part, then every flag."""
    lines = ["# mmlab benchmark results", "",
             f"Made by `{run_info['command']}` on {run_info['date']}; the whole command took "
             f"{run_info['total_seconds']} s.", "", "Machine:", ""]
    lines += [f"- {key}: {value}" for key, value in {**machine, **run_info["load"]}.items()]
    for part in PARTS:
        rows = results[results["part"] == part]
        if rows.empty:
            continue
        cells = rows.assign(cell=[shown(r.value, r.flag) for r in rows.itertuples()])
        table = cells.pivot_table(index="item", columns="metric", values="cell", aggfunc="first", sort=False)
        table.index.name = part
        lines += ["", f"## {part}", "", markdown_table(table)]
        notes = rows[rows["note"] != ""]
        shared = notes.groupby(["metric", "note"], sort=False)["item"].nunique()  # one note, many items
        said = set()
        for r in notes.itertuples():
            if (r.metric, r.note) in said:
                continue
            said.add((r.metric, r.note))
            where = r.metric if shared[(r.metric, r.note)] > 1 else f"{r.item}, {r.metric}"
            lines.append(("\n" if len(said) == 1 else "") + f"- {where}: {r.note}")
    flags = results[results["flag"] != ""]
    lines += ["", "## Flags", ""]
    lines += [f"- {r.part} / {r.item} / {r.metric} = {r.value}: {r.flag}" for r in flags.itertuples()] or ["- none"]
    return "\n".join(lines) + "\n"


def write_results(rows: list[Row], out: Path, machine: dict[str, str], run_info: dict[str, Any]) -> pd.DataFrame:
    """Write results.csv, results.md and (when the scaling part ran) scaling.png, each atomically."""
    results = pd.DataFrame(rows, columns=COLUMNS).fillna({"flag": "", "note": ""})
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "results.csv") as tmp:
        results.to_csv(tmp, index=False)
    atomic_write_text(out / "results.md", results_markdown(results, machine, run_info))
    if ((results["part"] == "scaling") & results["item"].str.endswith(" memes")).any():
        plot_scaling(results, out / "scaling.png")
    return results


# ---------------------------------------------------------------------------------------------
# The command


def run_info(command: str, seconds: float, load_start: tuple[float, float, float],
             parts_done: list[str] | None = None) -> dict[str, Any]:
    """The run's header: command, date, total seconds (flagged over 15 minutes), load averages.

    `parts_done` names the parts finished so far while the run is still going, None at its end.
    """
    total = f"{seconds:.0f}" + (f" (over the {TOTAL_LIMIT_S} s target)" if seconds > TOTAL_LIMIT_S else "")
    if parts_done is not None:
        total += f" so far (unfinished: only {', '.join(parts_done)} done)"
    return {"command": command, "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "total_seconds": total,
            "load": {"load average at start (1, 5, 15 min)": ", ".join(f"{x:.2f}" for x in load_start),
                     "load average at end (1, 5, 15 min)": ", ".join(f"{x:.2f}" for x in os.getloadavg())}}


def notebook_paths() -> list[Path]:
    """Every notebook in notebooks/ and notebooks/solutions/, in order."""
    folder = ROOT / "notebooks"
    return sorted(folder.glob("*.ipynb")) + sorted((folder / "solutions").glob("*.ipynb"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, from {', '.join(PARTS)}")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    parser.add_argument("--budget", type=float, default=120, help="tta: seconds for each recipe (default: 120)")
    parser.add_argument("--eval-n", type=int, default=100,
                        help="tta: test memes both recipes are judged on (default: 100; ResNet-152 is slow)")
    parser.add_argument("--sizes", default="1000,2000,4000,8000", help="scaling: training-set sizes")
    parser.add_argument("--loop-n", type=int, default=4000, help="loop: training memes (default: 4000)")
    parser.add_argument("--loop-epochs", type=int, default=1, help="loop: epochs per timing (default: 1)")
    parser.add_argument("--loop-repeats", type=int, default=10,
                        help="loop: rounds of timings (fastest for samples/s, median ratio; default: 10)")
    parser.add_argument("--out", type=Path, help="results folder (default: benchmarks/results, "
                                                 "benchmarks/results/cuda on a GPU)")
    args = parser.parse_args(argv)
    args.parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    if not args.parts:
        parser.error(f"--parts names no part (choose from {', '.join(PARTS)})")
    unknown = sorted(set(args.parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)} (choose from {', '.join(PARTS)})")
    args.sizes = [int(size) for size in args.sizes.split(",")]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        device = str(choose_device(args.device))
    except MmlabError as error:
        print(f"benchmarks: error: {error}", file=sys.stderr)
        return 2
    out = args.out or ROOT / "benchmarks" / "results" / ("cuda" if device.startswith("cuda") else "")
    machine = describe_machine()
    load_start = os.getloadavg()
    started = time.perf_counter()
    command = " ".join(["python -m benchmarks.run", *(argv if argv is not None else sys.argv[1:])])
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="mmlab-bench-") as tmp:
        home = Path(tmp) / "home"  # a cold MMLAB_HOME shared by tta and scaling
        for done, part in enumerate(args.parts, start=1):
            print(f"{part} ...", flush=True)
            if part == "notebooks":
                rows += bench_notebooks(notebook_paths(), str(choose_device("auto")))
            elif part == "tta":
                rows += bench_time_to_accuracy(home, args.budget, args.eval_n, device)
            elif part == "loop":
                rows += bench_loop(device, args.loop_n, args.loop_epochs, args.loop_repeats)
            elif part == "scaling":
                rows += bench_scaling(home, args.sizes, device)
            # Written after every part, so an interrupted run keeps what it measured.
            finished = done == len(args.parts)
            info = run_info(command, time.perf_counter() - started, load_start,
                            None if finished else args.parts[:done])
            results = write_results(rows, out, machine, info)
    total = time.perf_counter() - started
    print(f"wrote {out}/results.csv and results.md in {total:.0f} s; flags: {int((results['flag'] != '').sum())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
