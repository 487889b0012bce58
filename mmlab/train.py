"""The training loop: `fit`, `evaluate` and `predict`, the same for every model in mmlab.

Every model takes a batch dict (``{"id", "image", "text", "label", ...}``) and returns logits,
one score per class: (B, C), or (B, C, ...) for a model that classifies every cell of a picture or
every position of a sequence, with labels (B, ...); a label of -100 (`IGNORE`) is left out of the
loss and the accuracy, as in `torch.nn.functional.cross_entropy`.
Pretraining an encoder, training a fusion head, the grounding model of notebook 02 and the meme
classifier of notebook 04 all go through this one loop (notebook 04, sections 2 and 4, build it).

One epoch of `fit`:

- Training: for each batch, move its tensors to the device, compute the loss
  (``loss_fn(logits, batch)``, cross-entropy with ``batch["label"]`` by default; an extra term
  such as attention supervision is just another `loss_fn`), backpropagate, optionally clip the
  gradient norm, take an optimizer step and, with ``schedule="one_cycle"``, a learning-rate step.
- Validation: `evaluate` measures loss, accuracy and AUROC (the challenge's metric) on the
  validation loader. One row per epoch goes into the history, a pandas DataFrame.
- Best weights: the epoch with the best monitored metric (``val_auroc`` by default) is
  remembered, and its weights are loaded back into the model at the end. With ``patience``,
  training stops early after that many epochs without improvement.
- Checkpoints: with ``checkpoint_dir``, every epoch writes ``last.pt`` (everything needed to
  continue) and ``best.pt`` (the best weights so far), atomically, so Ctrl-C never leaves a
  half-written file. ``resume=True`` continues an interrupted run from the next epoch; because
  the random number generators are saved too, the result is the same as an uninterrupted run.

The probability of label 1 is ``proba = softmax(logits)[:, 1]``; the predicted label is the class
with the largest logit (for two classes: ``proba > 0.5``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler
from tqdm.auto import tqdm

from mmlab.errors import MmlabError
from mmlab.io import atomic_path
from mmlab.utils import choose_device, to_device

# The history of a run: a pandas DataFrame with one row per epoch and these columns. After `fit`,
# `history.attrs` also holds "monitor", "best_epoch", "best" (its value) and "stopped_early".
History = pd.DataFrame
HISTORY_COLUMNS = ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_auroc",
                   "seconds"]

# The metrics `fit` can monitor, and whether bigger ("max") or smaller ("min") is better.
MONITORS = {"val_auroc": "max", "val_accuracy": "max", "val_loss": "min", "train_loss": "min"}
SCHEDULES = ("constant", "one_cycle")
IGNORE = -100  # a label that counts nowhere (cross_entropy's default ignore_index)

CHECKPOINT_FORMAT = 2  # bump when the content of last.pt changes
RESUME_FIX = "use a new --out folder or drop --resume"

LossFn = Callable[[torch.Tensor, dict[str, Any]], torch.Tensor]


def classification_loss(logits: torch.Tensor, batch: dict[str, Any]) -> torch.Tensor:
    """The default loss: cross-entropy of logits (B, C, ...) with ``batch["label"]`` (B, ...)."""
    return F.cross_entropy(logits, batch["label"].long(), ignore_index=IGNORE)


def count_correct(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """How many labels equal the class with the largest logit, and how many labels count."""
    counted = labels != IGNORE  # (B, ...)
    return ((logits.argmax(dim=1) == labels) & counted).sum(), int(counted.sum())


def _already_a_batch(batch: dict[str, Any]) -> dict[str, Any]:
    """The collate function of batched indexing: the dataset already returned a whole batch."""
    return batch


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool, device: str | torch.device = "cpu",
                collate_fn: Callable[[list[Any]], Any] | None = None, seed: int = 0) -> DataLoader:
    """A DataLoader set up for mmlab: reproducible shuffling, no worker processes.

    - The shuffle order comes from its own generator seeded with `seed`, so the same seed gives
      the same batches, whatever else used the global random number generator.
    - ``num_workers=0``: on a 2-core laptop or Binder, worker processes cost more than they save.
    - ``pin_memory`` only when training on a GPU (page-locked memory speeds up the copy).
    - A dataset whose `batched_indexing` attribute is True (`mmlab.features.FeatureDataset`:
      tensors already in memory) is asked for a whole batch at once, `dataset[list_of_indices]`,
      instead of one sample at a time followed by a collate: for small models, the per-sample
      calls would cost more than the model.
    """
    generator = torch.Generator()
    generator.manual_seed(seed)
    pin_memory = choose_device(device).type == "cuda"
    if getattr(dataset, "batched_indexing", False):
        order = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        return DataLoader(dataset, batch_size=None, sampler=BatchSampler(order, batch_size, drop_last=False),
                          collate_fn=collate_fn or _already_a_batch, pin_memory=pin_memory,
                          generator=generator)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=collate_fn,
                      pin_memory=pin_memory, generator=generator)


def train_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer,
                loss_fn: LossFn = classification_loss, device: str | torch.device = "cpu",
                scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
                grad_clip: float | None = None, progress: bool = True,
                desc: str = "train") -> dict[str, float]:
    """One pass over `loader`, updating `model`: the only place where mmlab's optimisers step.

    Returns the mean loss per example and, when batches have labels, the accuracy (the share of
    labels equal to the class with the largest logit; NaN without labels). A progress bar shows
    the running numbers. They stay tensors on `device`: reading one as a Python number makes the
    CPU wait for the GPU, so that happens only when the bar is redrawn and at the end.
    """
    device = choose_device(device)
    model.train()
    total_loss = torch.zeros((), device=device)  # sum of per-example losses, on the device
    correct = torch.zeros((), dtype=torch.long, device=device)
    seen, labelled, next_update = 0, 0, time.monotonic()
    with tqdm(loader, desc=desc, leave=False, disable=not progress) as batches:
        for batch in batches:
            batch = to_device(batch, device)
            logits = model(batch)  # (B, C) or (B, C, cells)
            loss = loss_fn(logits, batch)  # mean over the batch
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()

            size = len(logits)
            total_loss += loss.detach() * size
            seen += size
            if "label" in batch:
                right, counted = count_correct(logits.detach(), batch["label"].long())
                correct += right
                labelled += counted
            if progress and time.monotonic() >= next_update:
                batches.set_postfix(loss=f"{total_loss.item() / seen:.4f}", refresh=False)
                next_update = time.monotonic() + 0.5
    if seen == 0:
        raise MmlabError("the training loader gave no batches (fix: check that the training "
                         "split has rows and that batch_size is at least 1)")
    accuracy = correct.item() / labelled if labelled else math.nan
    return {"loss": total_loss.item() / seen, "accuracy": accuracy}


@torch.no_grad()
def run_model(model: nn.Module, loader: DataLoader, device: str | torch.device = "auto",
              loss_fn: LossFn | None = None) -> dict[str, Any]:
    """Run `model` over `loader` in eval mode; everything comes back on the CPU, in loader order.

    Returns ``{"ids", "logits" (N, C, ...), "labels" (N, ...) or None, "loss"}``: labels are None
    for an unlabelled split; "loss" is the mean of `loss_fn` per example (None without one).
    """
    device = choose_device(device)
    model.to(device).eval()
    ids, logits, labels, total_loss, labelled = [], [], [], 0.0, True
    for batch in loader:
        batch = to_device(batch, device)
        batch_ids = batch.get("id", [])  # a tensor of numbers, or a list of strings
        ids += batch_ids.tolist() if isinstance(batch_ids, torch.Tensor) else list(batch_ids)
        batch_logits = model(batch)  # (B, C, ...)
        logits.append(batch_logits.float().cpu())
        labelled = labelled and "label" in batch
        if labelled:
            labels.append(batch["label"].long().cpu())
            if loss_fn is not None:
                total_loss += loss_fn(batch_logits, batch).item() * len(batch_logits)
    if not logits:
        raise MmlabError("the loader gave no batches (fix: check that the split has rows)")
    logits = torch.cat(logits)
    return {"ids": ids, "logits": logits, "labels": torch.cat(labels) if labelled else None,
            "loss": total_loss / len(logits) if labelled and loss_fn is not None else None}


def scores(labels: np.ndarray | torch.Tensor, proba: np.ndarray | torch.Tensor) -> dict[str, float]:
    """Accuracy (proba > 0.5 is label 1) and AUROC (scikit-learn) of binary predictions.

    AUROC is NaN when the labels hold one class only, where it is undefined.
    """
    labels, proba = np.asarray(labels), np.asarray(proba)
    auroc = float(roc_auc_score(labels, proba)) if len(np.unique(labels)) == 2 else math.nan
    return {"accuracy": float(((proba > 0.5) == labels).mean()), "auroc": auroc}


def evaluate(model: nn.Module, loader: DataLoader, device: str | torch.device = "auto",
             loss_fn: LossFn = classification_loss) -> dict[str, float]:
    """Loss, accuracy and AUROC of `model` on a labelled `loader`: the one evaluation of mmlab.

    Returns ``{"loss", "accuracy", "auroc"}``: the mean loss per example, the share of labels
    equal to the largest logit's class, and for two classes the area under the ROC curve of
    proba (otherwise NaN). Leaves the model in eval mode.
    """
    run = run_model(model, loader, device, loss_fn)
    logits, labels = run["logits"], run["labels"]
    if labels is None:
        raise MmlabError("cannot evaluate on a split without labels (fix: evaluate on a labelled "
                         "split, or use predict() to score an unlabelled test split)")
    right, counted = count_correct(logits, labels)
    result = {"loss": run["loss"], "accuracy": right.item() / max(counted, 1), "auroc": math.nan}
    if logits.dim() == 2 and logits.shape[1] == 2:
        result["auroc"] = scores(labels, logits.softmax(dim=1)[:, 1])["auroc"]
    return result


def predict(model: nn.Module, loader: DataLoader, device: str | torch.device = "auto") -> pd.DataFrame:
    """Predictions in the Hateful Memes submission format: columns ``id, proba, label``.

    `proba` is softmax(logits)[:, 1], the probability of label 1, and `label` the predicted class.
    Rows come in the loader's order (use a loader with shuffle=False). Works on unlabelled splits.
    """
    run = run_model(model, loader, device)
    return pd.DataFrame({"id": run["ids"], "proba": run["logits"].softmax(dim=1)[:, 1].numpy(),
                         "label": run["logits"].argmax(dim=1).numpy()})


def write_submission(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write predictions as a challenge submission CSV (``id,proba,label``), atomically."""
    missing = [column for column in ("id", "proba", "label") if column not in frame.columns]
    if missing:
        raise MmlabError(f"predictions lack the column(s) {', '.join(missing)} "
                         "(fix: pass the DataFrame that predict() returns)")
    path = Path(path)
    with atomic_path(path) as tmp:
        frame[["id", "proba", "label"]].to_csv(tmp, index=False)
    return path


def fit(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader | None = None,
    *,
    epochs: int = 10,
    lr: float = 1e-3,
    optimizer: torch.optim.Optimizer | None = None,
    schedule: str = "constant",
    loss_fn: LossFn = classification_loss,
    device: str | torch.device = "auto",
    patience: int | None = None,
    monitor: str = "val_auroc",
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    grad_clip: float | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[dict[str, float]], None] | None = None,
) -> History:
    """Train `model` for up to `epochs` epochs and return the history, one row per epoch.

    - `optimizer`: default Adam with learning rate `lr` (`lr` is ignored when you pass one).
    - `schedule`: "constant", or "one_cycle" (the learning rate warms up to `lr`, then anneals
      towards 0 by the last step: large steps learn fast, small ones at the end settle the weights).
    - `loss_fn(logits, batch)`: default cross-entropy with ``batch["label"]``.
    - `monitor`: the metric that picks the best epoch, one of val_auroc, val_accuracy, val_loss
      (train_loss when there is no `val_loader`); a tie goes to the lower validation loss. The best
      epoch's weights are loaded into the model at the end. `patience`: stop after this many
      epochs without improvement.
    - `checkpoint_dir`: write ``last.pt`` and ``best.pt`` there after every epoch; with
      `resume=True` and an existing ``last.pt``, continue from the epoch after it.
    - `grad_clip`: clip the gradient norm to this value. `progress`: show progress bars.
    - `on_epoch_end(row)`: called with each epoch's history row, after the checkpoint is saved.
    """
    device = choose_device(device)
    if val_loader is None:
        monitor = "train_loss"  # nothing else to judge the epochs by
    if monitor not in MONITORS:
        raise MmlabError(f"unknown monitor {monitor!r} (fix: use one of {', '.join(MONITORS)})")
    if schedule not in SCHEDULES:
        raise MmlabError(f"unknown schedule {schedule!r} (fix: use one of {', '.join(SCHEDULES)})")
    if resume and checkpoint_dir is None:
        raise MmlabError("resume=True needs a checkpoint folder "
                         "(fix: pass checkpoint_dir, or --out on the command line)")
    model.to(device)
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = None
    if schedule == "one_cycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=[group["lr"] for group in optimizer.param_groups],
            total_steps=max(1, epochs * len(train_loader)))
    last_path = Path(checkpoint_dir) / "last.pt" if checkpoint_dir is not None else None
    best_path = Path(checkpoint_dir) / "best.pt" if checkpoint_dir is not None else None

    # The state of the run, saved in last.pt and restored by resume.
    rows: list[dict[str, float]] = []
    best, best_epoch, bad_epochs = None, 0, 0
    best_state = None  # the best epoch's weights, on the CPU
    if resume and last_path.is_file():
        state = _load_checkpoint(last_path, model, optimizer, scheduler, monitor)
        rows, best, best_epoch = state["history"], state["best"], state["best_epoch"]
        bad_epochs = state["bad_epochs"]
        if not best_path.is_file():
            raise MmlabError(f"{best_path}: missing, but {last_path.name} is there (fix: {RESUME_FIX})")
        best_state = torch.load(best_path, map_location="cpu", weights_only=True)
        _set_rng_state(state["rng"], train_loader)

    stopped_early = patience is not None and bad_epochs >= patience
    with tqdm(total=epochs, initial=min(len(rows), epochs), desc="epochs", disable=not progress) as epoch_bar:
        for epoch in range(len(rows) + 1, epochs + 1):
            if stopped_early:
                break
            start = time.perf_counter()
            train = train_epoch(model, train_loader, optimizer, loss_fn, device, scheduler, grad_clip,
                                progress, desc=f"epoch {epoch}")
            val = {"loss": math.nan, "accuracy": math.nan, "auroc": math.nan}
            if val_loader is not None:
                val = evaluate(model, val_loader, device, loss_fn)
            row = {"epoch": epoch, "train_loss": train["loss"], "train_accuracy": train["accuracy"],
                   "val_loss": val["loss"], "val_accuracy": val["accuracy"], "val_auroc": val["auroc"],
                   "seconds": time.perf_counter() - start}
            rows.append(row)

            if improved(row, rows[best_epoch - 1] if best_epoch else None, monitor):
                best, best_epoch, bad_epochs = row[monitor], epoch, 0
                best_state = {name: value.detach().cpu().clone()  # a copy: training goes on
                              for name, value in model.state_dict().items()}
                if best_path is not None:
                    with atomic_path(best_path) as tmp:
                        torch.save(best_state, tmp)
            else:
                bad_epochs += 1
            stopped_early = patience is not None and bad_epochs >= patience

            if last_path is not None:  # written after best.pt, so a last.pt always has its best.pt
                checkpoint = {"format": CHECKPOINT_FORMAT, "model": model.state_dict(),
                              "optimizer": optimizer.state_dict(),
                              "scheduler": scheduler.state_dict() if scheduler is not None else None,
                              "epoch": epoch, "history": rows, "monitor": monitor, "best": best,
                              "best_epoch": best_epoch, "bad_epochs": bad_epochs,
                              "rng": _get_rng_state(train_loader)}
                with atomic_path(last_path) as tmp:
                    torch.save(checkpoint, tmp)

            epoch_bar.update(1)
            epoch_bar.set_postfix({"train_loss": f"{row['train_loss']:.4f}", monitor: f"{row[monitor]:.4f}"})
            if on_epoch_end is not None:
                on_epoch_end(row)

    if best_state is not None:
        model.load_state_dict(best_state)
    history = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    history.attrs.update(monitor=monitor, best_epoch=best_epoch, best=best, stopped_early=stopped_early)
    return history


def improved(row: dict[str, float], best_row: dict[str, float] | None, monitor: str) -> bool:
    """Whether this epoch's `monitor` beats the best epoch's (also how `mmlab compare` picks a
    learning rate from each rate's best epoch). NaN never beats.

    A tie on a score (an AUROC stuck at 1.0, say) goes to the lower validation loss: the score
    has stopped telling the epochs apart, the loss has not.
    """
    if best_row is None:
        return True  # the first epoch is the best so far, even when its metric is NaN
    value, best = row[monitor], best_row[monitor]
    if math.isnan(best):
        return not math.isnan(value)
    if value == best and monitor.startswith("val_") and monitor != "val_loss":
        return row["val_loss"] < best_row["val_loss"]
    return value > best if MONITORS[monitor] == "max" else value < best


def _get_rng_state(train_loader: DataLoader) -> dict[str, Any]:
    """The random number generator states that decide what happens in the next epochs."""
    return {
        "torch": torch.get_rng_state(),  # dropout, and loaders without their own generator
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "loader": train_loader.generator.get_state() if train_loader.generator is not None else None,
    }


def _set_rng_state(rng: dict[str, Any], train_loader: DataLoader) -> None:
    """Restore what `_get_rng_state` saved, so a resumed run draws the same numbers."""
    torch.set_rng_state(rng["torch"])
    if torch.cuda.is_available() and len(rng["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(rng["cuda"])
    if rng["loader"] is not None and train_loader.generator is not None:
        train_loader.generator.set_state(rng["loader"])


def _load_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                     scheduler: torch.optim.lr_scheduler.LRScheduler | None,
                     monitor: str) -> dict[str, Any]:
    """Load last.pt into `model`, `optimizer` and `scheduler`; MmlabError when it does not fit."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a damaged file can fail in many ways inside torch.load
        raise MmlabError(f"{path}: cannot read the checkpoint ({type(error).__name__}) "
                         f"(fix: {RESUME_FIX})") from error
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise MmlabError(f"{path}: not a checkpoint written by this version of mmlab.train.fit "
                         f"(fix: {RESUME_FIX})")
    if state["monitor"] != monitor:
        raise MmlabError(f"{path}: the run monitored {state['monitor']}, not {monitor} "
                         f"(fix: pass monitor={state['monitor']!r}, or {RESUME_FIX})")
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state["scheduler"] is not None:
            scheduler.load_state_dict(state["scheduler"])
    except (RuntimeError, ValueError, KeyError) as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        reason = lines[1] if len(lines) > 1 else lines[0]  # torch's first specific complaint
        raise MmlabError(f"{path}: the checkpoint does not fit this model ({reason}) "
                         f"(fix: {RESUME_FIX})") from error
    return state
