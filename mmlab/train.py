"""The training loop: `fit`, `evaluate`, `predict`, the same for every model in mmlab.

How the loop works, one epoch at a time:

- A model takes the whole batch dict ``{"id", "image", "text", "label", ...}`` and returns logits
  of shape (B, 2), one score per class, as the Hateful Memes tutorial does. The probability of
  "hateful" is ``proba = softmax(logits)[:, 1]`` and the predicted label is ``proba >= 0.5``.
- Training: for each batch, move its tensors to the device, compute the loss (cross-entropy by
  default), backpropagate, optionally clip the gradient norm, and take an optimizer step.
- Validation: after every epoch, `evaluate` measures loss, accuracy and AUROC (the challenge's
  metric) on the validation loader. One row per epoch goes into the history, a pandas DataFrame.
- Best weights: the epoch with the best monitored metric (``val_auroc`` by default) is
  remembered, and its weights are loaded back into the model at the end. With ``patience``,
  training stops early after that many epochs without improvement.
- Checkpoints: with ``checkpoint_dir``, every epoch writes ``last.pt`` (everything needed to
  continue) and ``best.pt`` (the best weights so far), atomically, so Ctrl-C never leaves a
  half-written file. ``resume=True`` continues an interrupted run from the next epoch; because
  the random number generators are saved too, the result is the same as an uninterrupted run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn as nn
from sklearn.metrics import roc_auc_score
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler
from tqdm.auto import tqdm

from mmlab.errors import MmlabError
from mmlab.io import atomic_path
from mmlab.utils import choose_device

# The history of a run: a pandas DataFrame with one row per epoch and these columns. After `fit`,
# `history.attrs` also holds "monitor", "best_epoch", "best" (its value) and "stopped_early".
History = pd.DataFrame
HISTORY_COLUMNS = ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_auroc",
                   "seconds"]

# The metrics `fit` can monitor, and whether bigger ("max") or smaller ("min") is better.
MONITORS = {"val_auroc": "max", "val_accuracy": "max", "val_loss": "min", "train_loss": "min"}

CHECKPOINT_FORMAT = 1  # bump when the content of last.pt changes
RESUME_FIX = "use a new --out folder or drop --resume"


def to_device(batch: dict[str, Any], device: str | torch.device) -> dict[str, Any]:
    """A copy of `batch` with every tensor moved to `device`.

    Nested dicts (say, tokenised text ``{"ids", "mask"}``) are moved too; anything else, such as a
    list of caption strings, is left as it is. Copies to a GPU are asynchronous (non_blocking).
    """
    device = torch.device(device)
    non_blocking = device.type == "cuda"  # pairs with pin_memory=True in make_loader
    moved = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            moved[key] = value.to(device, non_blocking=non_blocking)
        elif isinstance(value, dict):
            moved[key] = to_device(value, device)
        else:
            moved[key] = value
    return moved


def _already_a_batch(batch: dict[str, Any]) -> dict[str, Any]:
    """The collate function of batched indexing: the dataset already returned a whole batch."""
    return batch


def make_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool,
    device: str | torch.device,
    collate_fn: Callable[[list[Any]], Any] | None = None,
    seed: int = 0,
) -> DataLoader:
    """A DataLoader set up for mmlab: reproducible shuffling, no worker processes.

    - The shuffle order comes from its own generator seeded with `seed`, so the same seed gives
      the same batches, whatever else used the global random number generator.
    - ``num_workers=0``: on a 2-core laptop or Binder, worker processes cost more than they save.
    - ``pin_memory`` only when training on a GPU (page-locked memory speeds up the copy).
    - A dataset whose `batched_indexing` attribute is True (such as `mmlab.features.FeatureDataset`,
      tensors already in memory) is asked for a whole batch at once, `dataset[list_of_indices]`,
      instead of one sample at a time followed by a collate: PyTorch's "automatic batching
      disabled" mode. For small models, the per-sample calls would cost more than the model.
    """
    generator = torch.Generator()
    generator.manual_seed(seed)
    pin_memory = choose_device(device).type == "cuda"
    if getattr(dataset, "batched_indexing", False):
        order = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        return DataLoader(dataset, batch_size=None, sampler=BatchSampler(order, batch_size, drop_last=False),
                          collate_fn=collate_fn or _already_a_batch, num_workers=0, pin_memory=pin_memory,
                          generator=generator)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        collate_fn=collate_fn,
        num_workers=0,
        pin_memory=pin_memory,
        generator=generator,
    )


def predicted_labels(logits: torch.Tensor) -> torch.Tensor:
    """Labels from logits (B, 2): 1 where proba = softmax(logits)[:, 1] >= 0.5, else 0.

    With two classes, proba >= 0.5 exactly when logits[:, 1] >= logits[:, 0] (softmax keeps the
    order of the scores), so the comparison gives the label without computing the softmax. (In
    floating point the two can disagree only when the scores differ by less than about 1e-7.)
    """
    return (logits[:, 1] >= logits[:, 0]).long()  # (B,)


def train_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    device: str | torch.device,
    grad_clip: float | None = None,
    progress: bool = True,
    desc: str = "train",
) -> dict[str, float]:
    """One pass over `loader`, updating `model`. Returns the mean loss and accuracy per sample.

    With `progress`, a progress bar over the batches shows the running loss and accuracy.
    The running sums stay tensors on `device`: reading one as a Python number (`.item()`) makes
    the CPU wait for the GPU, so that happens only when the bar is updated (twice a second) and
    once at the end, not after every batch.
    """
    device = choose_device(device)
    model.train()
    total_loss = torch.zeros((), device=device)  # sum of per-sample losses, on the device
    correct = torch.zeros((), dtype=torch.long, device=device)
    seen, next_update = 0, time.monotonic()
    with tqdm(loader, desc=desc, leave=False, disable=not progress) as batches:
        for batch in batches:
            batch = to_device(batch, device)
            labels = batch["label"].long()  # (B,)
            logits = model(batch)  # (B, 2)
            loss = loss_fn(logits, labels)  # mean over the batch
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()

            size = len(labels)
            total_loss += loss.detach() * size
            correct += (predicted_labels(logits.detach()) == labels).sum()
            seen += size
            if progress and time.monotonic() >= next_update:
                batches.set_postfix(loss=f"{total_loss.item() / seen:.4f}", acc=f"{correct.item() / seen:.3f}",
                                    refresh=False)
                next_update = time.monotonic() + 0.5
    if seen == 0:
        raise MmlabError("the training loader gave no batches (fix: check that the training "
                         "split has rows and that batch_size is at least 1)")
    return {"loss": total_loss.item() / seen, "accuracy": correct.item() / seen}


def evaluate(
    model: nn.Module,
    loader: DataLoader,
    device: str | torch.device = "auto",
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, float]:
    """Loss, accuracy and AUROC of `model` on a labelled `loader`.

    Returns ``{"loss", "accuracy", "auroc"}``: the mean loss per sample (cross-entropy by default),
    the share of correct labels, and the area under the ROC curve of proba (NaN when the labels
    hold only one class, where AUROC is undefined). Leaves the model in eval mode.
    """
    device = choose_device(device)
    if loss_fn is None:
        loss_fn = nn.CrossEntropyLoss()
    model.to(device)
    model.eval()
    total_loss, correct = 0.0, 0
    all_proba, all_labels = [], []
    with torch.no_grad():
        for batch in loader:
            batch = to_device(batch, device)
            labels = batch["label"].long()  # (B,)
            logits = model(batch)  # (B, 2)
            total_loss += loss_fn(logits, labels).item() * len(labels)
            correct += (predicted_labels(logits) == labels).sum().item()
            all_proba += logits.softmax(dim=-1)[:, 1].tolist()
            all_labels += labels.tolist()
    if not all_labels:
        raise MmlabError("the evaluation loader gave no batches (fix: check that the split has rows)")
    if len(set(all_labels)) == 2:
        auroc = float(roc_auc_score(all_labels, all_proba))
    else:
        auroc = math.nan  # one class only: AUROC is undefined
    return {"loss": total_loss / len(all_labels), "accuracy": correct / len(all_labels),
            "auroc": auroc}


def predict(model: nn.Module, loader: DataLoader, device: str | torch.device = "auto") -> pd.DataFrame:
    """Predictions in the Hateful Memes submission format: columns ``id, proba, label``.

    `proba` is softmax(logits)[:, 1], the probability of label 1, and `label` is 1 where
    proba >= 0.5. Rows come in the loader's order (use a loader with shuffle=False). The loader
    needs no labels, so it works on an unlabelled test split.
    """
    device = choose_device(device)
    model.to(device)
    model.eval()
    ids, probas = [], []
    with torch.no_grad():
        for batch in loader:
            batch_ids = batch["id"]  # a tensor of numbers, or a list of strings
            ids += batch_ids.tolist() if isinstance(batch_ids, torch.Tensor) else list(batch_ids)
            logits = model(to_device(batch, device))  # (B, 2)
            probas += logits.softmax(dim=-1)[:, 1].tolist()
    frame = pd.DataFrame({"id": ids, "proba": probas})
    frame["label"] = (frame["proba"] >= 0.5).astype(int)
    return frame


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
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
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
    - `loss_fn(logits (B, 2), labels (B,))`: default cross-entropy.
    - `monitor`: the metric that picks the best epoch, one of val_auroc, val_accuracy, val_loss
      (train_loss when there is no `val_loader`). The best epoch's weights are loaded into the
      model at the end. `patience`: stop after this many epochs without improvement.
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
    if resume and checkpoint_dir is None:
        raise MmlabError("resume=True needs a checkpoint folder "
                         "(fix: pass checkpoint_dir, or --out on the command line)")
    model.to(device)
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    if loss_fn is None:
        loss_fn = nn.CrossEntropyLoss()
    last_path = Path(checkpoint_dir) / "last.pt" if checkpoint_dir is not None else None
    best_path = Path(checkpoint_dir) / "best.pt" if checkpoint_dir is not None else None

    # The state of the run, saved in last.pt and restored by resume.
    rows: list[dict[str, float]] = []
    best, best_epoch, bad_epochs = None, 0, 0
    best_state = None  # the best epoch's weights, on the CPU
    if resume and last_path.is_file():
        state = _load_checkpoint(last_path, model, optimizer, monitor)
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
            train = train_epoch(model, train_loader, optimizer, loss_fn, device, grad_clip,
                                progress, desc=f"epoch {epoch}")
            val = {"loss": math.nan, "accuracy": math.nan, "auroc": math.nan}
            if val_loader is not None:
                val = evaluate(model, val_loader, device, loss_fn)
            row = {"epoch": epoch, "train_loss": train["loss"], "train_accuracy": train["accuracy"],
                   "val_loss": val["loss"], "val_accuracy": val["accuracy"], "val_auroc": val["auroc"],
                   "seconds": time.perf_counter() - start}
            rows.append(row)

            if _improved(row[monitor], best, MONITORS[monitor]):
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
                              "optimizer": optimizer.state_dict(), "epoch": epoch, "history": rows,
                              "monitor": monitor, "best": best, "best_epoch": best_epoch,
                              "bad_epochs": bad_epochs, "rng": _get_rng_state(train_loader)}
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


def _improved(value: float, best: float | None, mode: str) -> bool:
    """Whether `value` beats `best` ("max": bigger is better, "min": smaller). NaN never beats."""
    if best is None:
        return True  # the first epoch is the best so far, even when its metric is NaN
    if math.isnan(best):
        return not math.isnan(value)
    return value > best if mode == "max" else value < best


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
                     monitor: str) -> dict[str, Any]:
    """Load last.pt into `model` and `optimizer`; raise MmlabError when it does not fit them."""
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
    except (RuntimeError, ValueError, KeyError) as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        reason = lines[1] if len(lines) > 1 else lines[0]  # torch's first specific complaint
        raise MmlabError(f"{path}: the checkpoint does not fit this model ({reason}) "
                         f"(fix: {RESUME_FIX})") from error
    return state
