"""mmlab.compare: the fusion study's intervals, tuning and summary."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mmlab import compare
from mmlab.compare import below, compare_fusions, interval, pick, run_strategy, summarise
from mmlab.experiment import prepare


def test_interval_is_the_t_interval_of_the_mean():
    values = [0.6, 0.7, 0.65, 0.72, 0.68]
    mean, low, high = interval(values)
    expected = stats.t.interval(0.95, 4, loc=np.mean(values), scale=stats.sem(values))
    assert mean == pytest.approx(np.mean(values))
    assert (low, high) == pytest.approx(expected)
    assert all(math.isnan(x) for x in interval([0.5])[1:])


def test_summarise_gives_one_row_per_strategy_with_its_interval():
    runs = pd.DataFrame({"task": ["t"] * 6, "fusion": ["a"] * 3 + ["b"] * 3, "head": "mlp",
                         "modality_dropout": 0.0, "seed": [0, 1, 2] * 2, "lr": 1e-3,
                         "auroc": [0.6, 0.62, 0.64, 0.8, 0.8, 0.8], "accuracy": 0.5, "params": 10,
                         "seconds": 1.0})
    table = summarise(runs)
    assert list(table["fusion"]) == ["a", "b"] and (table["n_seeds"] == 3).all()
    a = table.iloc[0]
    assert a["mean"] == pytest.approx(0.62) and a["ci_low"] < 0.62 < a["ci_high"]
    assert table.iloc[1]["ci_low"] == pytest.approx(0.8)  # no spread, no width
    assert set(["task", "fusion", "metric", "mean", "ci_low", "ci_high", "n_seeds", "params",
                "seconds"]) <= set(table.columns)


def test_a_small_study_tunes_on_dev_and_reports_every_column(home):
    runs = compare_fusions(("grounding",), ("late", "cross_attention"), seeds=2, lrs=(1e-3, 3e-3),
                           epochs=2, n=32, emap_n=8, jobs=1, progress=False)
    assert len(runs) == 4 and list(runs["seed"]) == [0, 1, 0, 1]
    assert set(runs["lr"]) <= {1e-3, 3e-3}
    for column in ("auroc", "accuracy", "auroc_no_image", "emap_gap", "params", "seconds"):
        assert runs[column].notna().all(), column
    assert (runs.groupby("fusion")["lr"].nunique() == 1).all()  # one tuned rate per strategy


def test_each_seed_draws_its_own_emap_sample(home, monkeypatch):
    drawn = []

    def recording_emap(net, data, n, seed):
        drawn.append((n, seed))
        return {"auroc": 0.75, "auroc_additive": 0.5}

    monkeypatch.setattr(compare, "emap", recording_emap)
    prepared = prepare(task="redundant", n=24, device="cpu", progress=False)
    rows = run_strategy(prepared, "late", seeds=2, first_seed=3, lrs=(1e-3,), epochs=1, emap_n=8,
                        device="cpu")
    assert drawn == [(8, 3), (8, 4)]  # one sample per seed, not one sample for every run
    assert [row["emap_gap"] for row in rows] == [0.25, 0.25]


def test_worker_processes_give_the_same_numbers(home):
    settings = dict(seeds=1, lrs=(1e-3,), epochs=1, n=24, emap_n=0, progress=False)
    alone = compare_fusions(("redundant",), ("late", "sum"), jobs=1, **settings)
    parallel = compare_fusions(("redundant",), ("late", "sum"), jobs=2, **settings)
    columns = ["task", "fusion", "lr", "auroc", "accuracy", "auroc_no_image", "params"]
    pd.testing.assert_frame_equal(alone[columns], parallel[columns])


def test_pick_and_below_read_a_summary():
    table = pd.DataFrame({"task": ["t", "t"], "fusion": ["a", "b"], "head": "mlp", "modality_dropout": 0.0,
                          "mean": [0.6, 0.8], "ci_low": [0.55, 0.7], "ci_high": [0.65, 0.9]})
    a, b = pick(table, "t", "a"), pick(table, "t", "b")
    assert below(a, b) and not below(b, a)
    assert not below(a, b.copy().replace({0.7: 0.6}))  # overlapping intervals: no difference
    with pytest.raises(KeyError):
        pick(table, "t", "c")
