"""The fusion study: every strategy on every task, treated alike, with seeds and intervals.

    for each task (memes, grounding, redundant):
        prepare it once: frozen encoders -> cached features          (mmlab.experiment.prepare)
        for each strategy (and head, and modality-dropout setting):
            tune: train at each learning rate of a small grid (seed 0), early stopping on dev;
                  keep the rate with the best dev AUROC
            run:  train with that rate for each seed; score the test split once
                  -> AUROC and accuracy, with the picture missing too, the unseen split when there
                     is one, EMAP's gap (what the interactions add), parameters and CPU seconds

Every strategy gets the same budget (grid, epochs, patience, width), the inputs it was designed
for (the encoders' tokens and pooled vectors; each fusion reads what it needs), and the same
regularisation: modality dropout is a factor applied to all of them or to none. `summarise` turns
the runs into one row per (task, strategy, head, dropout) with a mean and a 95 % t-interval over
seeds. The strategies run in parallel worker processes, one per CPU. Notebook 03 runs a small
version live and loads the full study (`mmlab compare`).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np
import pandas as pd
import torch.nn as nn
from scipy import stats
from tqdm.auto import tqdm

from mmlab.experiment import Prepared, prepare, score, train_model
from mmlab.explain import emap
from mmlab.fusion import FUSIONS
from mmlab.models import missing
from mmlab.train import improved
from mmlab.utils import limit_threads

LEARNING_RATES = (3e-4, 1e-3, 3e-3)
METRIC = "auroc"
STUDY_TASKS = ("memes", "grounding")  # the tasks that tell strategies apart; redundant is for missing inputs
SLOWEST = ("early", "cross_attention", "film")  # started first, so that no worker is left alone at the end


def interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and a `confidence` t-interval of the mean: (mean, low, high). One value: no interval."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, math.nan, math.nan
    half = stats.t.ppf((1 + confidence) / 2, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def run_strategy(prepared: Prepared, fusion: str, *, seeds: int = 5, first_seed: int = 0,
                 lrs: Sequence[float] = LEARNING_RATES, head: str = "mlp", modality_dropout: float = 0.0,
                 hidden: int = 64, epochs: int = 20, patience: int = 3, emap_n: int = 200,
                 device: str = "auto") -> list[dict]:
    """Tune the learning rate of one strategy on dev, then train and test it with `seeds` seeds.

    The seeds are first_seed, first_seed + 1, ...; the tuning runs use the first of them. Each
    seed also draws its own `emap_n` test examples for EMAP, so the spread of the gap over seeds
    includes the luck of the sample.
    """
    settings = {"head": head, "hidden": hidden, "modality_dropout": modality_dropout, "epochs": epochs,
                "patience": patience, "device": device, "progress": False}

    def train(lr: float, seed: int) -> tuple[nn.Module, dict, float]:
        started = time.process_time()  # CPU seconds: the cost, whatever else the machine is doing
        net, history = train_model(prepared, "fusion", fusion, lr=lr, seed=seed, **settings)
        best_epoch = history.iloc[history.attrs["best_epoch"] - 1].to_dict()
        return net, best_epoch, time.process_time() - started

    tuned = {lr: train(lr, first_seed) for lr in lrs}  # the best rate's run is also the first seed's
    lr = lrs[0]
    for rate in lrs[1:]:  # judged as early stopping judges epochs: dev AUROC, a tie by dev loss
        if improved(tuned[rate][1], tuned[lr][1], "val_auroc"):
            lr = rate
    rows = []
    for seed in range(first_seed, first_seed + seeds):
        net, _, seconds = tuned[lr] if seed == first_seed else train(lr, seed)
        test = prepared.features["test"]
        row = {"task": prepared.name, "fusion": fusion, "head": head, "modality_dropout": modality_dropout,
               "seed": seed, "lr": lr, **score(net, test, device),
               "auroc_no_image": score(net, test.replace(image=missing(test.image)), device)["auroc"],
               "params": sum(p.numel() for p in net.parameters() if p.requires_grad),
               "seconds": seconds}
        if "unseen" in prepared.features:
            row["auroc_unseen"] = score(net, prepared.features["unseen"], device)["auroc"]
        if emap_n:
            projected = emap(net, test, n=emap_n, seed=seed)  # both AUROCs on this seed's sample
            row["emap_gap"] = projected["auroc"] - projected["auroc_additive"]
        rows.append(row)
    return rows


def _run_job(job: tuple) -> list[dict]:
    """One (task, fusion, head, dropout) of the study, in a worker process (features come cached)."""
    task, n, fusion, options = job
    limit_threads()
    prepared = prepare(task=task, n=n, device=options["device"], progress=False)
    return run_strategy(prepared, fusion, **options)


def compare_fusions(tasks: Sequence[str] = STUDY_TASKS, fusions: Sequence[str] | None = None, *, seeds: int = 5,
                    lrs: Sequence[float] = LEARNING_RATES, heads: Sequence[str] = ("mlp",),
                    modality_dropout: Sequence[float] = (0.0,), hidden: int = 64, epochs: int = 20,
                    n: int | None = None, emap_n: int = 200, device: str = "auto", jobs: int | None = None,
                    progress: bool = True) -> pd.DataFrame:
    """Run the study; one row per (task, fusion, head, modality dropout, seed). See `summarise`.

    `n`: training memes per task (default: each task's default dataset). `jobs`: worker processes
    (default: one per CPU this process may use; each strategy's runs stay in one process, so the
    numbers do not depend on `jobs`).
    """
    fusions = list(FUSIONS) if fusions is None else list(fusions)
    settings = {"seeds": seeds, "lrs": tuple(lrs), "hidden": hidden, "epochs": epochs, "emap_n": emap_n,
                "device": device}
    work = [(task, n, fusion, {**settings, "head": head, "modality_dropout": dropout})
            for task in tasks for fusion in fusions for head in heads for dropout in modality_dropout]
    for task in tasks:  # once, here: the data, encoders and features are then cached for the workers
        prepare(task=task, n=n, device=device, progress=False)
    jobs = min(len(work), jobs or len(os.sched_getaffinity(0)))
    with tqdm(total=len(work), desc="fusion study", disable=not progress) as bar:
        if jobs == 1:
            results = []
            for job in work:
                results.append(_run_job(job))
                bar.update(1)
        else:
            rank = {fusion: place for place, fusion in enumerate(SLOWEST)}
            slowest_first = sorted(range(len(work)), key=lambda i: rank.get(work[i][2], len(SLOWEST)))
            with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = {i: pool.submit(_run_job, work[i]) for i in slowest_first}
                for future in as_completed(futures.values()):
                    bar.update(1)
                results = [futures[i].result() for i in range(len(work))]  # in the order of `work`
    return pd.DataFrame([row for rows in results for row in rows])


def summarise(runs: pd.DataFrame, metric: str = METRIC) -> pd.DataFrame:
    """One row per (task, fusion, head, modality_dropout): the mean of `metric` over seeds and its
    95 % interval (ci_low, ci_high), n_seeds, params, the mean CPU seconds of one training run,
    and the means of the other measured columns (accuracy, no-image, unseen, EMAP gap)."""
    keys = ["task", "fusion", "head", "modality_dropout"]
    extra = [c for c in ("accuracy", "auroc_no_image", "auroc_unseen", "emap_gap") if c in runs]
    rows = []
    for key, group in runs.groupby(keys, sort=False):
        mean, low, high = interval(group[metric])
        rows.append({**dict(zip(keys, key)), "metric": metric, "mean": mean, "ci_low": low, "ci_high": high,
                     "n_seeds": len(group), "lr": group["lr"].iloc[0], "params": int(group["params"].iloc[0]),
                     "seconds": float(group["seconds"].mean()),
                     **{column: float(group[column].mean()) for column in extra}})
    return pd.DataFrame(rows)


def pick(table: pd.DataFrame, task: str, fusion: str, head: str = "mlp",
         modality_dropout: float = 0.0) -> pd.Series:
    """One row of a `summarise` table."""
    rows = table[(table["task"] == task) & (table["fusion"] == fusion) & (table["head"] == head)
                 & (table["modality_dropout"] == modality_dropout)]
    if len(rows) != 1:
        raise KeyError(f"{len(rows)} rows for {task}, {fusion}, {head}, dropout {modality_dropout}")
    return rows.iloc[0]


def below(a: pd.Series, b: pd.Series) -> bool:
    """Whether a's 95 % interval lies entirely below b's: a difference the seeds support."""
    return bool(a["ci_high"] < b["ci_low"])
