"""Pretraining: teach each encoder its own modality first, on labels of that modality alone.

Real Hateful Memes models start from encoders trained on ImageNet or on a web's worth of text.
The kit's stand-in is a few seconds of pretraining on what SynthMemes rows record about each
modality (notebook 01, section 4):

- `pretrain_image_encoder`: which icon is drawn (`image_concept`), for the meme pictures.
- `pretrain_text_encoder`: the caption's topic and mood (`text_concept`), or any other column.
- `pretrain_cell_encoder`: for the `grounding` pictures, the colour and the shape of the object
  under each of the 8 x 8 cells (a tiny segmentation task), so that every image token describes
  what lies beneath it. `cell_owners` says which object covers each cell: it labels the cells
  here, and tells notebook 02 where the named object is.

Each is an encoder plus a linear head, trained with `mmlab.train.fit` (Adam, one-cycle learning
rate) and tested on the held-out split. The weights are cached under
`MMLAB_HOME/encoders/<name>-<key>.pt`, where the key hashes the dataset's checksum and the
settings: the same call loads them in a blink, a changed dataset or setting trains again.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn as nn

from mmlab.data.drawing import COLORS, SHAPES
from mmlab.data.memes import MemeDataset, find_splits
from mmlab.data.store import dataset_checksum
from mmlab.data.text import Vocab
from mmlab.encoders import SmallCNN, image_encoder, text_encoder
from mmlab.errors import MmlabError
from mmlab.features import FeatureDataset
from mmlab.io import atomic_path, cache_file, load_cached
from mmlab.train import evaluate, fit, make_loader
from mmlab.utils import choose_device

CACHE_VERSION = 2  # bump when training changes in a way the settings do not show
GRID = 8  # SmallCNN turns a picture into GRID x GRID cells


@dataclass
class Pretrained:
    """A trained encoder, its head, and how well they did on the held-out split."""

    encoder: nn.Module  # in eval mode
    head: nn.Module  # the encoder's output -> logits
    classes: list[str]  # class index -> label value, e.g. "day/positive"
    accuracy: float  # on the held-out split, in [0, 1]
    from_cache: bool  # True when the weights were loaded, not trained
    path: Path  # the cached checkpoint
    seconds: float  # wall-clock time of the call (loading pictures, training, testing)
    vocab: Vocab | None = None  # for text encoders: the vocabulary their ids come from


class EncoderClassifier(nn.Module):
    """An encoder and a linear layer on its pooled vector: batch[modality] -> logits (B, classes)."""

    def __init__(self, encoder: nn.Module, num_classes: int, modality: str = "image") -> None:
        super().__init__()
        self.encoder, self.modality = encoder, modality
        self.head = nn.Linear(encoder.dim, num_classes)

    def forward(self, batch: dict) -> torch.Tensor:
        return self.head(self.encoder(batch[self.modality]).pooled)  # (B, classes)


class CellClassifier(nn.Module):
    """An image encoder and a linear layer on every token: colour and shape of each cell.

    batch["image"] (B, 3, H, W) -> logits (B, classes, 2, cells): for each cell, scores for its
    colour (row 0) and its shape (row 1); class 0 is "no object here".
    """

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.classes = 1 + max(len(COLORS), len(SHAPES))
        self.head = nn.Linear(encoder.dim, 2 * self.classes)

    def forward(self, batch: dict) -> torch.Tensor:
        cells = self.encoder(batch["image"]).tokens  # (B, N, D)
        B, N, _ = cells.shape
        logits = self.head(cells).view(B, N, 2, self.classes)  # (B, N, 2, classes)
        return logits.permute(0, 3, 2, 1)  # (B, classes, 2, N): the layout cross_entropy expects


def cell_owners(objects: Sequence[list[dict[str, Any]]], size: int, grid: int = GRID) -> torch.Tensor:
    """Which object covers each cell: (N, grid * grid) long, the object's index, or -1 for none.

    objects[i] is a row's list of {color, shape, box}; a cell belongs to the object whose box
    holds the cell's centre (cells are numbered row by row, like the encoder's tokens).
    """
    centres = (torch.arange(grid) + 0.5) * size / grid  # (grid,) pixel coordinates
    cy, cx = (c.flatten() for c in torch.meshgrid(centres, centres, indexing="ij"))  # (cells,)
    owners = torch.full((len(objects), grid * grid), -1, dtype=torch.long)
    for i, row in enumerate(objects):
        for k, obj in enumerate(row):
            x0, y0, x1, y1 = obj["box"]
            owners[i, (cx >= x0) & (cx < x1) & (cy >= y0) & (cy < y1)] = k
    return owners


def cell_attributes(objects: Sequence[list[dict[str, Any]]], owners: torch.Tensor) -> torch.Tensor:
    """Colour and shape class of every cell: (N, 2, cells) long; 0 = no object, then 1, 2, ..."""
    colours, shapes = list(COLORS), list(SHAPES)
    labels = torch.zeros(owners.shape[0], 2, owners.shape[1], dtype=torch.long)
    for i, row in enumerate(objects):
        for k, obj in enumerate(row):
            labels[i, 0, owners[i] == k] = 1 + colours.index(obj["color"])
            labels[i, 1, owners[i] == k] = 1 + shapes.index(obj["shape"])
    return labels


def class_labels(train: pd.Series, test: pd.Series) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Class indices (0 .. C-1) of a train and a test column, and the class names, sorted."""
    classes = sorted(str(value) for value in train.unique())
    index = {name: i for i, name in enumerate(classes)}
    unseen = sorted(set(str(value) for value in test.unique()) - set(classes))
    if unseen:
        raise MmlabError(f"test labels {unseen} never occur in training (fix: use a bigger training split)")
    as_tensor = lambda column: torch.tensor([index[str(value)] for value in column], dtype=torch.long)
    return as_tensor(train), as_tensor(test), classes  # (N_train,), (N_test,)


def encoder_cache_path(name: str, root: str | Path, config: dict[str, Any]) -> Path:
    """Where the weights trained with `config` on the dataset at `root` are cached:
    `MMLAB_HOME/encoders/<name>-<key>.pt`, the key a hash of the dataset's checksum and `config`."""
    recipe = {"dataset": dataset_checksum(root), "config": config, "version": CACHE_VERSION}
    return cache_file("encoders", name, recipe)


def held_out_split(root: str | Path) -> str:
    """The split pretraining is tested on: test, else test_seen (the phase-2 name)."""
    found = find_splits(root)
    for name in ("test", "test_seen"):
        if name in found:
            return name
    raise MmlabError(f"{root} has no test split (found: {', '.join(found) or 'none'}) "
                     "(fix: add test.jsonl or test_seen.jsonl)")


def _require_column(dataset: MemeDataset, column: str) -> None:
    if column not in dataset.frame.columns:
        raise MmlabError(f"{dataset.root.name}/{dataset.split}.jsonl has no field {column!r} "
                         "(fix: pretraining needs SynthMemes metadata; generate data with mmlab data)")


def _pretrain(name: str, root: str | Path, config: dict[str, Any], build: Callable[[dict], nn.Module],
              data: Callable[[MemeDataset, MemeDataset], tuple[FeatureDataset, FeatureDataset, dict]],
              device: str, progress: bool, cache: bool) -> Pretrained:
    """Load the cached model (an encoder and a head), or train it with `fit`, test it, cache it.

    `data(train, test)` gives the training and test FeatureDatasets and `extra`: what `build`
    needs to make the model (the class names, the vocabulary), kept in the checkpoint too.
    """
    started = time.perf_counter()
    device = choose_device(device)
    path = encoder_cache_path(name, root, config)
    checkpoint = load_cached(path) if cache else None
    model = _restore(build, checkpoint, path) if checkpoint is not None else None
    if model is not None:
        extra, accuracy, from_cache = checkpoint["extra"], checkpoint["accuracy"], True
    else:
        train, test = MemeDataset(root, "train"), MemeDataset(root, held_out_split(root))
        train_data, test_data, extra = data(train, test)
        torch.manual_seed(config["seed"])  # the same initial weights every time
        model = build(extra)
        fit(model, make_loader(train_data, config["batch_size"], True, device, seed=config["seed"]),
            epochs=config["epochs"], lr=config["lr"], schedule="one_cycle", device=device,
            progress=progress)
        accuracy = evaluate(model, make_loader(test_data, 256, False, device), device)["accuracy"]
        from_cache = False
        with atomic_path(path) as tmp:
            torch.save({"model": {k: v.cpu() for k, v in model.state_dict().items()}, "extra": extra,
                        "accuracy": accuracy, "config": config}, tmp)
    model.to(device).eval()
    vocab = Vocab(extra["vocab"]) if extra.get("vocab") else None
    return Pretrained(model.encoder, model.head, extra.get("classes", []), accuracy, from_cache, path,
                      time.perf_counter() - started, vocab)


def _restore(build: Callable[[dict], nn.Module], checkpoint: dict[str, Any], path: Path) -> nn.Module | None:
    """The cached model, or None (with a warning) when the file was written for other layers."""
    try:
        model = build(checkpoint["extra"])
        model.load_state_dict(checkpoint["model"])
        return model
    except (KeyError, RuntimeError) as error:  # e.g. saved by an older mmlab with other layer sizes
        warnings.warn(f"{path} does not fit this encoder ({type(error).__name__}); training again", stacklevel=4)
        return None


def pretrain_image_encoder(root: str | Path, encoder: str = "small_cnn", label: str = "image_concept", *,
                           epochs: int = 3, batch_size: int = 64, lr: float = 1e-2, seed: int = 0,
                           device: str = "auto", progress: bool = True, cache: bool = True) -> Pretrained:
    """Train image encoder `encoder` (see `mmlab.encoders.image_encoder`) to predict column `label`.

    Trains on the "train" split of the dataset at `root`, tests on its test split, and caches
    the weights (see `encoder_cache_path`); with `cache=False` it always trains (and still saves).
    """
    config = {"modality": "image", "encoder": encoder, "label": label, "epochs": epochs,
              "batch_size": batch_size, "lr": lr, "seed": seed}

    def data(train: MemeDataset, test: MemeDataset) -> tuple[FeatureDataset, FeatureDataset, dict]:
        _require_column(train, label)
        y_train, y_test, classes = class_labels(train.frame[label], test.frame[label])
        return (FeatureDataset(image=train.pictures(progress=progress), label=y_train),
                FeatureDataset(image=test.pictures(), label=y_test), {"classes": classes})

    build = lambda extra: EncoderClassifier(image_encoder(encoder), len(extra["classes"]))
    return _pretrain(f"{encoder}-{label}", root, config, build, data, device, progress, cache)


def pretrain_text_encoder(root: str | Path, encoder: str = "gru", label: str = "text_concept", *,
                          dim: int = 64, epochs: int = 5, batch_size: int = 64, lr: float = 3e-3,
                          seed: int = 0, device: str = "auto", progress: bool = True,
                          cache: bool = True) -> Pretrained:
    """Train text encoder `encoder` ("bow", "gru" or "transformer") to predict column `label`.

    The vocabulary is built from the training captions and returned in `Pretrained.vocab`.
    Trains on "train", tests on the test split, caches like `pretrain_image_encoder`.
    """
    config = {"modality": "text", "encoder": encoder, "label": label, "dim": dim, "epochs": epochs,
              "batch_size": batch_size, "lr": lr, "seed": seed}

    def data(train: MemeDataset, test: MemeDataset) -> tuple[FeatureDataset, FeatureDataset, dict]:
        _require_column(train, label)
        y_train, y_test, classes = class_labels(train.frame[label], test.frame[label])
        vocab = Vocab.build(train.frame["text"])
        text = lambda split: vocab.encode_batch(list(split.frame["text"]), max_len=64)  # (N, T) each
        return (FeatureDataset(text=text(train), label=y_train), FeatureDataset(text=text(test), label=y_test),
                {"classes": classes, "vocab": vocab.tokens})

    build = lambda extra: EncoderClassifier(text_encoder(encoder, len(extra["vocab"]), dim),
                                            len(extra["classes"]), "text")
    return _pretrain(f"{encoder}-{label}", root, config, build, data, device, progress, cache)


def pretrain_cell_encoder(root: str | Path, *, epochs: int = 6, batch_size: int = 32, lr: float = 1e-2,
                          seed: int = 0, device: str = "auto", progress: bool = True,
                          cache: bool = True) -> Pretrained:
    """Pretrain a `SmallCNN` on `grounding` pictures to name the colour and shape under every cell.

    Like a tiny segmentation network: each of the 8 x 8 tokens is classified on its own, so each
    token learns to describe what lies under it. `accuracy` is the share of (cell, attribute)
    pairs named right on the test pictures, background cells included.
    """
    config = {"modality": "image", "encoder": "small_cnn", "label": "cell_attributes", "epochs": epochs,
              "batch_size": batch_size, "lr": lr, "seed": seed}

    def cells(split: MemeDataset) -> FeatureDataset:
        pictures, objects = split.pictures(progress=progress), split.frame["objects"]
        return FeatureDataset(image=pictures, label=cell_attributes(objects, cell_owners(objects, pictures.shape[-1])))

    def data(train: MemeDataset, test: MemeDataset) -> tuple[FeatureDataset, FeatureDataset, dict]:
        _require_column(train, "objects")
        return cells(train), cells(test), {}

    return _pretrain("small_cnn-cell_attributes", root, config, lambda extra: CellClassifier(SmallCNN()),
                     data, device, progress, cache)
