"""Pretraining: teach each encoder its own modality first, on labels of that modality alone.

Trained end to end from scratch on the meme label (mean = picture and caption disagree), every
model stays at chance: the label is an XOR of two moods, and a network that does not yet know
what is in the picture gets no signal about it. The fix is the one ImageNet and BERT give the
real Hateful Memes models: first train each encoder on a unimodal task, then fuse.

SynthMemes rows carry the unimodal labels we need:

- `image_concept`: which of 8 icons is drawn (sun, heart, ..., bin) -> the image encoder.
- `text_concept`: topic and mood of the caption ("day/positive", ...) -> the text encoder.

Pretraining = encoder + a linear head on its pooled vector, trained with cross-entropy and Adam
for a few epochs. The result is cached under `MMLAB_HOME/encoders/<name>-<key>.pt`, where the
key hashes the dataset's checksum and the settings: the same call loads the weights in a blink,
a changed dataset or setting trains again.

The same machinery runs the negation experiment: classify `text_mood` on captions such as
"not an awful day" with a bag of embeddings (word order lost) and with a GRU (word order kept).
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from mmlab.data.memes import MemeDataset
from mmlab.data.store import dataset_checksum
from mmlab.data.text import Vocab
from mmlab.encoders import image_encoder, text_encoder
from mmlab.errors import MmlabError
from mmlab.io import atomic_path, mmlab_home
from mmlab.utils import choose_device

CACHE_VERSION = 1  # bump when training changes in a way the settings do not show


@dataclass
class Pretrained:
    """A trained encoder, its head, and how well they did on the test split."""

    encoder: nn.Module  # in eval mode
    head: nn.Linear  # pooled (B, D) -> logits (B, classes)
    classes: list[str]  # class index -> label value, e.g. "day/positive"
    accuracy: float  # on the test split, in [0, 1]
    from_cache: bool  # True when the weights were loaded, not trained
    path: Path  # the cached checkpoint
    seconds: float  # wall-clock time of the call (loading pictures, training, testing)
    vocab: Vocab | None = None  # for text encoders: the vocabulary their ids come from


class EncoderClassifier(nn.Module):
    """An encoder followed by a linear layer on its pooled vector: inputs -> logits (B, classes)."""

    def __init__(self, encoder: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.dim, num_classes)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(*inputs).pooled)  # (B, classes)


def load_images(dataset: MemeDataset, size: int | None = None, progress: bool = False) -> torch.Tensor:
    """Every picture of `dataset`, decoded once, as a uint8 tensor (N, 3, H, W).

    Decoding PNG files is the slow part of an epoch on a CPU; keeping the decoded pictures (4,000
    pictures of 64x64 px take 49 MB) makes each later epoch pure arithmetic. Pictures must share
    one size, unless `size` is given: then each is resized to `size` x `size`.
    """
    pictures = []
    for index in tqdm(range(len(dataset)), desc="loading pictures", disable=not progress, leave=False):
        picture = dataset.image(index)
        if size is not None and picture.size != (size, size):
            picture = picture.resize((size, size))
        pictures.append(np.asarray(picture))  # (H, W, 3) uint8
    shapes = {p.shape for p in pictures}
    if len(shapes) > 1:
        raise MmlabError(f"{dataset.root.name}/{dataset.split}: pictures have {len(shapes)} different "
                         "sizes (fix: pass size=... to resize them all)")
    return torch.from_numpy(np.stack(pictures)).permute(0, 3, 1, 2).contiguous()  # (N, 3, H, W)


def class_labels(train: pd.Series, test: pd.Series) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Class indices (0 .. C-1) of a train and a test column, and the class names, sorted."""
    classes = sorted(str(value) for value in train.unique())
    index = {name: i for i, name in enumerate(classes)}
    unseen = sorted(set(str(value) for value in test.unique()) - set(classes))
    if unseen:
        raise MmlabError(f"test labels {unseen} never occur in training "
                         "(fix: use a bigger training split)")
    train_labels = torch.tensor([index[str(value)] for value in train], dtype=torch.long)  # (N,)
    test_labels = torch.tensor([index[str(value)] for value in test], dtype=torch.long)
    return train_labels, test_labels, classes


def _labelled_splits(root: str | Path, label: str) -> tuple[MemeDataset, MemeDataset, torch.Tensor, torch.Tensor, list[str]]:
    """The train and test splits of `root`, their `label` column as class indices, and the class names."""
    train, test = MemeDataset(root, "train"), MemeDataset(root, "test")
    _require_column(train, label)
    y_train, y_test, classes = class_labels(train.frame[label], test.frame[label])
    return train, test, y_train, y_test, classes


def _require_column(dataset: MemeDataset, column: str) -> None:
    if column not in dataset.frame.columns:
        raise MmlabError(f"{dataset.root.name}/{dataset.split}.jsonl has no field {column!r} "
                         "(fix: pretraining needs SynthMemes metadata; generate data with mmlab data)")


def train_classifier(model: nn.Module, inputs: Sequence[torch.Tensor], labels: torch.Tensor, *,
                     epochs: int, batch_size: int, lr: float, seed: int = 0,
                     device: torch.device | str = "cpu", progress: bool = True,
                     desc: str = "training") -> list[float]:
    """Train `model` with Adam, a one-cycle learning rate and cross-entropy on tensors in memory.

    `inputs` are the model's arguments for all N examples (e.g. pictures (N, 3, H, W), or
    ids and mask (N, T)); `labels` (N,) class indices. Each epoch visits the examples in a new
    random order (from `seed`). Returns the mean loss of each epoch.
    """
    device = torch.device(device)
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    n = len(labels)
    batches_per_epoch = (n + batch_size - 1) // batch_size
    # "One cycle": the learning rate warms up to `lr`, then anneals towards 0 by the last step.
    # Large steps early learn fast; small steps at the end settle the weights, so the final
    # model does not depend on where the last few large steps happened to land.
    steps = epochs * batches_per_epoch
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    losses = []
    with tqdm(total=epochs * batches_per_epoch, desc=desc, disable=not progress, leave=False) as bar:
        for _ in range(epochs):
            permutation = torch.randperm(n, generator=order)
            total = 0.0
            for start in range(0, n, batch_size):
                batch = permutation[start:start + batch_size]
                logits = model(*(x[batch].to(device) for x in inputs))  # (b, classes)
                loss = F.cross_entropy(logits, labels[batch].to(device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                total += loss.item() * len(batch)
                bar.update(1)
            losses.append(total / n)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
    return losses


@torch.no_grad()
def evaluate_accuracy(model: nn.Module, inputs: Sequence[torch.Tensor], labels: torch.Tensor,
                      batch_size: int = 256, device: torch.device | str = "cpu") -> float:
    """The share of examples whose largest logit is the right class (model put in eval mode)."""
    device = torch.device(device)
    model.to(device).eval()
    correct = 0
    for start in range(0, len(labels), batch_size):
        logits = model(*(x[start:start + batch_size].to(device) for x in inputs))  # (b, classes)
        correct += (logits.argmax(dim=-1).cpu() == labels[start:start + batch_size]).sum().item()
    return correct / len(labels)


def encoder_cache_path(name: str, root: str | Path, config: dict[str, Any]) -> Path:
    """Where the weights trained with `config` on the dataset at `root` are cached.

    `MMLAB_HOME/encoders/<name>-<key>.pt`; the key is a hash of the dataset's checksum and the
    config, so changing either gives another file (and trains again).
    """
    recipe = json.dumps({"dataset": dataset_checksum(root), "config": config, "version": CACHE_VERSION},
                        sort_keys=True)
    key = hashlib.sha256(recipe.encode("utf-8")).hexdigest()[:16]
    return mmlab_home() / "encoders" / f"{name}-{key}.pt"


def _load_checkpoint(path: Path) -> dict[str, Any] | None:
    """The cached checkpoint at `path`, or None when there is none or it cannot be read."""
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a damaged cache file is not fatal: train again and replace it
        warnings.warn(f"{path} is unreadable ({type(error).__name__}); training again", stacklevel=3)
        return None


def _restore(model: EncoderClassifier, checkpoint: dict[str, Any], path: Path) -> bool:
    """Put the cached weights into `model`; False (with a warning) when they do not fit it."""
    try:
        model.encoder.load_state_dict(checkpoint["encoder"])
        model.head.load_state_dict(checkpoint["head"])
    except (RuntimeError, KeyError) as error:  # e.g. saved by an older mmlab with other layer sizes
        warnings.warn(f"{path} does not fit this encoder ({type(error).__name__}); training again",
                      stacklevel=3)
        return False
    return True


def _save_checkpoint(path: Path, model: EncoderClassifier, classes: list[str], accuracy: float,
                     config: dict[str, Any], vocab: Vocab | None) -> None:
    checkpoint = {"encoder": {k: v.cpu() for k, v in model.encoder.state_dict().items()},
                  "head": {k: v.cpu() for k, v in model.head.state_dict().items()},
                  "classes": classes, "accuracy": accuracy, "config": config,
                  "vocab": vocab.tokens if vocab is not None else None}
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)


def _finish(model: EncoderClassifier, classes: list[str], accuracy: float, from_cache: bool,
            path: Path, started: float, vocab: Vocab | None) -> Pretrained:
    model.eval()
    return Pretrained(model.encoder, model.head, classes, accuracy, from_cache, path,
                      time.perf_counter() - started, vocab)


def pretrain_image_encoder(root: str | Path, encoder: str = "small_cnn", label: str = "image_concept", *,
                           epochs: int = 2, batch_size: int = 128, lr: float = 1e-2, seed: int = 0,
                           device: str = "auto", progress: bool = True, cache: bool = True) -> Pretrained:
    """Train image encoder `encoder` (see `mmlab.encoders.image_encoder`) to predict `label`.

    Trains on the "train" split of the dataset at `root`, tests on "test", and caches the
    weights (see `encoder_cache_path`); with `cache=False` it always trains (and still saves).
    """
    started = time.perf_counter()
    device = choose_device(device)
    config = {"modality": "image", "encoder": encoder, "label": label, "epochs": epochs,
              "batch_size": batch_size, "lr": lr, "seed": seed}
    path = encoder_cache_path(f"{encoder}-{label}", root, config)
    checkpoint = _load_checkpoint(path) if cache else None
    if checkpoint is not None:
        model = EncoderClassifier(image_encoder(encoder), len(checkpoint["classes"]))
        if _restore(model, checkpoint, path):
            return _finish(model.to(device), checkpoint["classes"], checkpoint["accuracy"], True,
                           path, started, None)

    train, test, y_train, y_test, classes = _labelled_splits(root, label)
    train_images = load_images(train, progress=progress)  # (N, 3, H, W) uint8
    test_images = load_images(test, progress=progress)
    torch.manual_seed(seed)  # the same initial weights every time
    model = EncoderClassifier(image_encoder(encoder), len(classes))
    train_classifier(model, [train_images], y_train, epochs=epochs, batch_size=batch_size, lr=lr,
                     seed=seed, device=device, progress=progress, desc=f"pretraining {encoder}")
    accuracy = evaluate_accuracy(model, [test_images], y_test, device=device)
    _save_checkpoint(path, model, classes, accuracy, config, None)
    return _finish(model, classes, accuracy, False, path, started, None)


def pretrain_text_encoder(root: str | Path, encoder: str = "gru", label: str = "text_concept", *,
                          dim: int = 64, epochs: int = 5, batch_size: int = 64, lr: float = 3e-3,
                          seed: int = 0, device: str = "auto", progress: bool = True,
                          cache: bool = True) -> Pretrained:
    """Train text encoder `encoder` ("bow", "gru" or "transformer") to predict `label`.

    The vocabulary is built from the training captions and returned in `Pretrained.vocab`.
    Trains on "train", tests on "test", caches like `pretrain_image_encoder`.
    """
    started = time.perf_counter()
    device = choose_device(device)
    config = {"modality": "text", "encoder": encoder, "label": label, "dim": dim, "epochs": epochs,
              "batch_size": batch_size, "lr": lr, "seed": seed}
    path = encoder_cache_path(f"{encoder}-{label}", root, config)
    checkpoint = _load_checkpoint(path) if cache else None
    if checkpoint is not None:
        vocab = Vocab(checkpoint["vocab"])
        model = EncoderClassifier(text_encoder(encoder, len(vocab), dim), len(checkpoint["classes"]))
        if _restore(model, checkpoint, path):
            return _finish(model.to(device), checkpoint["classes"], checkpoint["accuracy"], True,
                           path, started, vocab)

    train, test, y_train, y_test, classes = _labelled_splits(root, label)
    vocab = Vocab.build(train.frame["text"])
    train_ids, train_mask = vocab.encode_batch(list(train.frame["text"]), max_len=64)  # (N, T) each
    test_ids, test_mask = vocab.encode_batch(list(test.frame["text"]), max_len=64)
    torch.manual_seed(seed)
    model = EncoderClassifier(text_encoder(encoder, len(vocab), dim), len(classes))
    train_classifier(model, [train_ids, train_mask], y_train, epochs=epochs, batch_size=batch_size,
                     lr=lr, seed=seed, device=device, progress=progress, desc=f"pretraining {encoder}")
    accuracy = evaluate_accuracy(model, [test_ids, test_mask], y_test, device=device)
    _save_checkpoint(path, model, classes, accuracy, config, vocab)
    return _finish(model, classes, accuracy, False, path, started, vocab)


def negation_experiment(root: str | Path, encoders: Sequence[str] = ("bow", "gru"), label: str = "text_mood",
                        progress: bool = True, **settings: Any) -> dict[str, float]:
    """Test accuracy of each text encoder (+ linear head) at predicting `label` (the caption's mood).

    On captions with negation ("not an awful day" is positive), the mood is "awful" flipped by
    "not": an XOR, which a linear head on the *mean* of the word embeddings cannot compute in
    general. A GRU reads the words in order, so it can learn that "not" flips what follows.
    `settings` go to `pretrain_text_encoder` (epochs, dim, seed, ...).
    """
    return {name: pretrain_text_encoder(root, name, label, progress=progress, **settings).accuracy
            for name in encoders}
