"""Notebook 03's lessons, re-checked with two other base seeds.

The notebook asserts its lessons on the committed study (`notebooks/results/`, seeds 0-4). Here
each lesson is run again with seeds 100-102 and 200-202, at the learning rates the study chose
(the tuning is the study's; what is re-checked is that the differences are not luck of the
seeds). Three seeds per strategy keep this test under two minutes (107 s measured).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mmlab.compare import below, pick, run_strategy, summarise
from mmlab.experiment import prepare
from mmlab.utils import limit_threads

RESULTS = Path(__file__).resolve().parents[1] / "notebooks" / "results"
SEEDS = 3


@pytest.fixture(scope="module")
def study() -> pd.DataFrame:
    runs = pd.concat([pd.read_csv(RESULTS / name) for name in
                      ("fusion_study.csv", "fusion_heads.csv", "fusion_dropout.csv")])
    return summarise(runs)


def rerun(prepared, study, fusion, first_seed, head="mlp", modality_dropout=0.0, emap_n=0,
          metric="auroc") -> pd.Series:
    """The strategy at the study's learning rate with SEEDS new seeds: its summary row for `metric`."""
    lr = pick(study, prepared.name, fusion, head, modality_dropout)["lr"]
    rows = run_strategy(prepared, fusion, seeds=SEEDS, first_seed=first_seed, lrs=(lr,), head=head,
                        modality_dropout=modality_dropout, emap_n=emap_n, device="cpu")
    return summarise(pd.DataFrame(rows), metric).iloc[0]


@pytest.mark.parametrize("first_seed", [100, 200])
def test_the_lessons_hold_with_other_seeds(first_seed, study, monkeypatch):
    monkeypatch.delenv("MMLAB_HOME")  # the default home: the notebooks' data, encoders and features
    limit_threads()  # as the notebooks run: one thread is the fastest for these small models
    memes = prepare(task="memes", device="cpu", progress=False)
    grounding = prepare(task="grounding", device="cpu", progress=False)
    redundant = prepare(task="redundant", device="cpu", progress=False)

    # Section 5: late fusion below concatenation on the memes; grounding needs the cells.
    late, concat = rerun(memes, study, "late", first_seed), rerun(memes, study, "concat", first_seed)
    assert below(late, concat)
    film, pooled_concat = rerun(grounding, study, "film", first_seed), rerun(grounding, study, "concat", first_seed)
    assert film["ci_low"] > 0.99 and below(pooled_concat, film)

    # Section 6: an additive operator with a linear head is an additive model; the MLP head adds
    # the interaction; tensor fusion has it without one.
    concat_linear = rerun(memes, study, "concat", first_seed, head="linear", emap_n=200)
    assert abs(concat_linear["emap_gap"]) < 0.01
    assert below(concat_linear, concat)
    assert below(concat_linear, rerun(memes, study, "tensor", first_seed, head="linear"))

    # Section 7: with the picture missing, late fusion keeps its ranking and concat does not;
    # modality dropout gives concat that robustness.
    missing = dict(metric="auroc_no_image")
    late_alone = rerun(redundant, study, "late", first_seed, **missing)
    assert late_alone["ci_low"] > 0.98
    assert below(rerun(redundant, study, "concat", first_seed, **missing), late_alone)
    assert rerun(redundant, study, "concat", first_seed, modality_dropout=0.5, **missing)["ci_low"] > 0.98
