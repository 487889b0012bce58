"""Features from frozen encoders: computed once per dataset and encoder, then trained on in seconds.

Fine-tuning a CNN on every batch is what makes the classic recipe take hours on a CPU. When the
encoders stay frozen, their output for a meme never changes, so we compute it **once**, keep it
on disk, and train only what comes after (fusion and head):

- pictures -> frozen image encoder -> `EncoderOutput`: tokens (N, cells, D) and pooled (N, D);
- captions -> fastText, trained on the training captions -> `EncoderOutput`: one vector per
  word as tokens (N, T, D) with a mask, and the sentence vector as pooled (N, D);
- each is then **standardised** (zero mean, unit variance per feature, with statistics of the
  training split): the "dimensionality and scale disparity" fix (notebook 01, section 8).

`FeatureDataset` serves any such in-memory data as dict samples ``{"id", "image", "text",
"label", ...}``, a whole batch at a time, so `mmlab.train.fit` and every model use it unchanged.
`meme_features` is the cached store that `mmlab train`, `mmlab compare` and the notebooks share.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import Dataset

from mmlab.data.memes import MemeDataset
from mmlab.data.store import dataset_checksum
from mmlab.data.text import (FASTTEXT_VERSION, TokenBatch, sentence_vectors, simple_tokenize,
                             train_fasttext)
from mmlab.encoders import EncoderOutput, encode
from mmlab.io import atomic_path, cache_file, load_cached

FEATURES_VERSION = 2  # bump when the recipe below changes, so that old caches are not reused

Entry = torch.Tensor | EncoderOutput | TokenBatch | list


class FeatureDataset(Dataset):
    """Dict samples over data held in memory: ``{"id", "image", "text", "label", ...}``.

    Each entry holds N examples: a tensor (N, ...), a named tuple of such tensors (an
    `EncoderOutput`, a `TokenBatch`), or a list. `dataset[i]` is one example; `dataset[[i, j, ...]]` a whole batch, which
    `mmlab.train.make_loader` asks for because `batched_indexing` is True: one tensor lookup per
    batch instead of one per example.

    >>> data = FeatureDataset(id=[7, 8], image=torch.zeros(2, 5), label=torch.tensor([0, 1]))
    >>> data[[1]]["image"].shape
    torch.Size([1, 5])
    """

    batched_indexing = True

    def __init__(self, **entries: Entry | None) -> None:
        self.entries = {key: value for key, value in entries.items() if value is not None}
        sizes = {key: _length(value) for key, value in self.entries.items()}
        if len(set(sizes.values())) > 1:
            raise ValueError(f"entries of different lengths: {sizes}")
        self.n = next(iter(sizes.values()), 0)

    def __len__(self) -> int:
        return self.n

    def __getattr__(self, name: str) -> Entry:
        entries = self.__dict__.get("entries", {})
        if name in entries:
            return entries[name]
        raise AttributeError(name)

    def __getitem__(self, index: int | list[int]) -> dict[str, Any]:
        if isinstance(index, list):
            # One index tensor for the whole batch. Through NumPy, because torch.as_tensor converts
            # a Python list one int at a time (about 30 us for 64 ints, against 5 us).
            rows = torch.from_numpy(np.asarray(index, dtype=np.int64))
            return {key: _select(value, rows, index) for key, value in self.entries.items()}
        return {key: _select(value, index, index) for key, value in self.entries.items()}

    def replace(self, **entries: Entry | None) -> FeatureDataset:
        """A new dataset with some entries replaced (or removed, with None); others are shared."""
        return FeatureDataset(**{**self.entries, **entries})


def _length(value: Entry) -> int:
    return len(value[0]) if isinstance(value, tuple) else len(value)


def _select(value: Entry, rows: torch.Tensor | int, index: list[int] | int) -> Any:
    if isinstance(value, tuple):  # a NamedTuple of tensors (EncoderOutput, TokenBatch)
        return type(value)(*(None if part is None else part[rows] for part in value))
    if isinstance(value, list):
        return [value[i] for i in index] if isinstance(index, list) else value[index]
    return value[rows]


class Standardizer(nn.Module):
    """Per-feature mean and standard deviation, from the training split: x -> (x - mean) / std.

    A module, so that a model that starts from pictures or words (`mmlab.explain`) can carry it,
    statistics and all, onto its device.
    """

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean)  # (D,)
        self.register_buffer("std", std)  # (D,)

    @classmethod
    def fit(cls, features: torch.Tensor) -> Standardizer:
        """Statistics of `features` (N, D): one mean and one standard deviation per feature."""
        return cls(features.mean(dim=0), features.std(dim=0).clamp_min(1e-6))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.mean) / self.std  # (..., D)


def standardise(splits: dict[str, FeatureDataset], modalities: tuple[str, ...] = ("image", "text"),
                fit_on: str = "train") -> dict[str, FeatureDataset]:
    """The same datasets with each modality standardised, with statistics of split `fit_on`.

    Pooled vectors and tokens each get their own statistics; tokens over the real tokens only,
    and padding stays exactly zero.
    """
    scalers = {}
    for name in modalities:
        train = splits[fit_on].entries[name]
        real = train.tokens[train.mask] if train.mask is not None else train.tokens.flatten(0, 1)
        scalers[name] = (Standardizer.fit(train.pooled), Standardizer.fit(real))  # (D,) each
    out = {}
    for split, data in splits.items():
        changed = {}
        for name, (pooled_scale, token_scale) in scalers.items():
            x = data.entries[name]
            tokens = token_scale(x.tokens)  # (N, T, D)
            if x.mask is not None:
                tokens = tokens * x.mask.unsqueeze(-1)  # padding stays zero
            changed[name] = EncoderOutput(tokens, pooled_scale(x.pooled), x.mask)
        out[split] = data.replace(**changed)
    return out


def word_vectors(fasttext_model: Any, texts: list[str], max_len: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """fastText's vector of every word: tokens (N, T, D), zero at padding, and mask (N, T) bool."""
    words = [simple_tokenize(text)[:max_len] or ["<empty>"] for text in texts]
    longest = max((len(w) for w in words), default=1)
    tokens = torch.zeros(len(texts), longest, fasttext_model.get_dimension())  # (N, T, D)
    mask = torch.zeros(len(texts), longest, dtype=torch.bool)  # (N, T)
    for i, caption in enumerate(words):
        vectors = np.stack([fasttext_model.get_word_vector(word) for word in caption])  # (T_i, D)
        tokens[i, :len(caption)] = torch.from_numpy(vectors)
        mask[i, :len(caption)] = True
    return tokens, mask


def text_features(fasttext_model: Any, texts: list[str]) -> EncoderOutput:
    """A caption's fastText features: word vectors as tokens, the sentence vector as pooled."""
    tokens, mask = word_vectors(fasttext_model, texts)  # (N, T, D), (N, T)
    return EncoderOutput(tokens, sentence_vectors(fasttext_model, texts), mask)


def encoder_fingerprint(encoder: nn.Module) -> str:
    """A short hash of an encoder's class and weights: it names the cached features it made."""
    digest = hashlib.sha256(type(encoder).__name__.encode())
    for name, value in sorted(encoder.state_dict().items()):
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def meme_features(root: str | Path, splits: tuple[str, ...], image_encoder: nn.Module, *,
                  image_size: int = 64, text_dim: int = 64, standardised: bool = True,
                  cache: bool = True) -> dict[str, FeatureDataset]:
    """Image and text features of each split of the dataset at `root`, as FeatureDatasets.

    The first split is the training split: fastText learns its word vectors from its captions
    and the standardisation uses its statistics. Every dataset holds "id", "image" and "text"
    (EncoderOutputs) and "label" when the split is labelled. Computed once, then cached under
    `MMLAB_HOME/features/` (the file name hashes the dataset, the encoder's weights and these
    settings); `standardised=False` gives the features as the encoders made them.
    """
    recipe = {"dataset": dataset_checksum(root), "encoder": encoder_fingerprint(image_encoder),
              "splits": list(splits), "image_size": image_size, "text_dim": text_dim,
              "fasttext": FASTTEXT_VERSION, "version": FEATURES_VERSION}
    path = cache_file("features", Path(root).name, recipe)
    saved = load_cached(path) if cache else None
    if saved is not None:
        raw = {split: FeatureDataset(**entries) for split, entries in saved.items()}
    else:
        raw = _compute_features(root, splits, image_encoder, image_size, text_dim)
        with atomic_path(path) as tmp:
            torch.save({split: data.entries for split, data in raw.items()}, tmp)
    return standardise(raw, fit_on=splits[0]) if standardised else raw


def _compute_features(root: str | Path, splits: tuple[str, ...], image_encoder: nn.Module,
                      image_size: int, text_dim: int) -> dict[str, FeatureDataset]:
    datasets = {split: MemeDataset(root, split) for split in splits}
    fasttext_model = train_fasttext(list(datasets[splits[0]].frame["text"]), dim=text_dim)
    out = {}
    for split, data in datasets.items():
        label = torch.tensor(data.frame["label"].to_numpy()) if data.labelled else None
        image = encode(image_encoder, data.pictures(size=image_size))  # tokens (N, cells, D)
        out[split] = FeatureDataset(id=data.frame["id"].tolist(), image=image,
                                    text=text_features(fasttext_model, list(data.frame["text"])),
                                    label=label)
    return out
