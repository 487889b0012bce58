"""Tests of the benchmark code's pieces on tiny data: timings are sane, results are written whole."""

from __future__ import annotations

import math
import sys

import pandas as pd
import pytest
import torch
import torch.nn as nn

from benchmarks import run as bench
from benchmarks.training import CLASSIC, classic_datasets, loop_efficiency, train_for
from mmlab.train import make_loader

MACHINE = {"cpu": "test cpu", "gpu": "none (no GPU on this machine)"}
RUN_INFO = {"command": "python -m benchmarks.run", "date": "today", "total_seconds": "1",
            "load": {"load average at start (1, 5, 15 min)": "0.00, 0.00, 0.00"}}


def test_loop_efficiency_gives_sane_numbers():
    result = loop_efficiency(n=256, batch_size=64, epochs=1, repeats=1, device="cpu")
    for name in ("bare", "fit_same_work", "fit_as_mmlab_train"):
        assert 0 < result[f"{name}_samples_per_s"] < math.inf
    # fit does at least the bare loop's work, so it cannot be many times faster; nor absurdly slower
    assert 0.05 < result["ratio_same_work"] < 3
    assert result["ratio_as_mmlab_train"] < result["ratio_same_work"] * 3
    assert result["n"] == 256 and result["epochs"] == 1


class TinyMemes(torch.utils.data.Dataset):
    """Dict samples {image (3,), text (2,), label} for a tiny concat-free model."""

    def __init__(self, n: int) -> None:
        self.x = torch.randn(n, 3)
        self.label = torch.randint(0, 2, (n,))

    def __len__(self) -> int:
        return len(self.label)

    def __getitem__(self, index: int) -> dict:
        return {"image": self.x[index], "label": self.label[index]}


class Linear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(3, 2)

    def forward(self, batch: dict) -> torch.Tensor:
        return self.layer(batch["image"])  # (B, 2)


def test_train_for_keeps_the_budget_and_accumulates_16_batches_per_step():
    loader = make_loader(TinyMemes(40), CLASSIC["batch_size"], True, "cpu")
    trained = train_for(Linear(), loader, budget_s=1.5, device=torch.device("cpu"))
    # It never starts a batch it expects to end late, but a batch slower than the one before it
    # (a busy machine) can end after the deadline: allow that one batch.
    assert trained["seconds"] <= 1.5 + 0.5
    assert trained["seen"] > 0 and trained["seen"] % CLASSIC["batch_size"] == 0
    batches = trained["seen"] // CLASSIC["batch_size"]
    assert trained["steps"] == batches // CLASSIC["accumulation"]
    assert train_for(Linear(), loader, budget_s=0.0, device=torch.device("cpu"))["seen"] == 0


def test_classic_datasets_follow_the_recipe(tiny_memes, tmp_path):
    train, test = classic_datasets(tiny_memes, eval_n=5, cache_dir=tmp_path)
    sample = train[0]
    assert sample["image"].shape == (3, 224, 224)
    assert sample["text"].shape == (CLASSIC["text_dim"],)
    assert len(test) == 5 and len(train) == 48


def test_run_measured_sees_the_child_memory_and_failures():
    grow = "x = bytearray(200_000_000); x[::4096] = b'1' * len(x[::4096]); print('done')"
    measured = bench.run_measured([sys.executable, "-c", grow])
    assert measured.stdout.strip() == "done"
    assert measured.peak_mb > 200 and measured.seconds > 0
    ballast = bytearray(300_000_000)  # a big parent must not inflate a small child's peak
    ballast[::4096] = b"1" * len(ballast[::4096])
    assert bench.run_measured([sys.executable, "-c", "print(1)"]).peak_mb < 100
    with pytest.raises(RuntimeError, match="ValueError: broken"):
        bench.run_measured([sys.executable, "-c", "raise ValueError('broken')"])


def test_subset_metrics_uses_only_the_chosen_memes():
    predictions = pd.DataFrame({"id": [1, 2, 3, 4], "proba": [0.9, 0.1, 0.8, 0.2], "label": [1, 0, 1, 0]})
    labels = pd.Series([1, 1, 0], index=[1, 2, 4])
    assert bench.subset_metrics(predictions, labels) == {"accuracy": pytest.approx(2 / 3), "auroc": 0.5}  # positives 0.9, 0.1 vs negative 0.2


def sample_rows() -> list[dict]:
    return [bench.row("notebooks", "00.ipynb", "seconds", 75.0, "cpu", flag="over 60"),
            bench.row("notebooks", "00.ipynb", "peak_mb", 400.0, "cpu"),
            bench.row("loop", "ratio fit / bare, same work", "ratio", 0.97, "cpu", note="best of 3")]


def test_write_results_writes_the_expected_columns_and_tables(tmp_path):
    bench.write_results(sample_rows(), tmp_path, MACHINE, RUN_INFO)
    csv = pd.read_csv(tmp_path / "results.csv")
    assert list(csv.columns) == bench.COLUMNS
    assert len(csv) == 3 and csv["load_1min"].notna().all()
    markdown = (tmp_path / "results.md").read_text()
    assert "- cpu: test cpu" in markdown and "no GPU on this machine" in markdown
    assert "| notebooks | seconds | peak_mb |" in markdown and "| 00.ipynb | **75 !** | 400 |" in markdown
    assert "notebooks / 00.ipynb / seconds = 75.0: over 60" in markdown
    assert not (tmp_path / "scaling.png").exists()  # no scaling rows, no plot


def test_write_results_is_atomic(tmp_path, monkeypatch):
    (tmp_path / "results.csv").write_text("old\n")

    def half_then_crash(self, path, **kwargs):
        open(path, "w").write("part,ite")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_crash)
    with pytest.raises(OSError):
        bench.write_results(sample_rows(), tmp_path, MACHINE, RUN_INFO)
    assert (tmp_path / "results.csv").read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv"]  # no temporary files left


def test_scaling_plot_is_written(tmp_path):
    rows = [bench.row("scaling", f"{n} memes", metric, value * n / 1000, "cpu")
            for n in (1000, 2000) for metric, value in
            (("generation_seconds", 1.0), ("train_job_seconds", 5.0), ("fit_seconds", 3.0),
             ("generation_peak_mb", 200.0), ("train_peak_mb", 500.0))]
    bench.write_results(rows, tmp_path, MACHINE, RUN_INFO)
    assert (tmp_path / "scaling.png").read_bytes()[:4] == b"\x89PNG"


def test_command_line_rejects_bad_parts_and_a_missing_gpu(capsys):
    with pytest.raises(SystemExit) as stop:
        bench.parse_args(["--parts", "loop,speed"])
    assert stop.value.code == 2
    if not torch.cuda.is_available():
        assert bench.main(["--parts", "loop", "--device", "cuda"]) == 2
        assert "no GPU" in capsys.readouterr().err


def test_an_interrupted_run_keeps_the_parts_it_finished(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "bench_loop", lambda *args: [bench.row("loop", "ratio", "ratio", 0.95, "cpu")])

    def crash(*args):
        raise KeyboardInterrupt  # the user presses Ctrl-C during the scaling part

    monkeypatch.setattr(bench, "bench_scaling", crash)
    with pytest.raises(KeyboardInterrupt):
        bench.main(["--parts", "loop,scaling", "--device", "cpu", "--out", str(tmp_path)])
    assert pd.read_csv(tmp_path / "results.csv")["value"].tolist() == [0.95]
    assert "unfinished: only loop done" in (tmp_path / "results.md").read_text()


def test_command_line_needs_at_least_one_part():
    with pytest.raises(SystemExit) as stop:
        bench.parse_args(["--parts", ","])
    assert stop.value.code == 2
