"""Features from frozen pretrained encoders: computed once per split, then trained on in seconds.

Fine-tuning a CNN on every batch is what makes the classic recipe take hours on a CPU. When the
encoders stay frozen, their output for a picture never changes, so we compute it **once**:

- pictures -> pretrained image encoder (SynthMemes-pretrained `SmallCNN`) -> pooled (N, D_img);
- captions -> fastText sentence vectors trained on the training captions -> (N, D_txt);
- each modality is then **standardised** (zero mean, unit variance per feature, with statistics
  from the training split). Without this, CNN features (norm ~18) drown fastText vectors (norm ~1)
  in a concatenation: the "dimensionality and scale disparity" challenge.

`FeatureDataset` serves the result as dict samples `{id, image, text, label}` whose image and
text are feature vectors, so `mmlab.train.fit` and every model work on them unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from mmlab.data.memes import MemeDataset
from mmlab.data.text import sentence_vectors, train_fasttext
from mmlab.pretrain import load_images


class FeatureDataset(Dataset):
    """Dict samples over precomputed tensors: {"id", "image", "text", "label"}.

    `dataset[i]` is one sample; `dataset[[i, j, ...]]` is a whole batch at once (the tensors
    gain a batch dimension, "id" becomes a list), which `mmlab.train.make_loader` uses because
    `batched_indexing` is True: one tensor lookup per batch instead of one per sample.
    """

    batched_indexing = True

    def __init__(self, ids: list, image: torch.Tensor, text: torch.Tensor,
                 label: torch.Tensor | None) -> None:
        self.ids, self.image, self.text, self.label = ids, image, text, label

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int | list[int]) -> dict:
        if isinstance(index, list):
            # One index tensor for the whole batch. Through NumPy, because torch.as_tensor converts
            # a Python list one int at a time (about 30 us for 64 ints, against 5 us).
            ids, rows = [self.ids[i] for i in index], torch.from_numpy(np.asarray(index, dtype=np.int64))
        else:
            ids, rows = self.ids[index], index
        sample = {"id": ids, "image": self.image[rows], "text": self.text[rows]}  # (D,) or (B, D)
        if self.label is not None:
            sample["label"] = self.label[rows]
        return sample


@dataclass
class Standardizer:
    """Per-feature mean and standard deviation from the training split."""

    mean: torch.Tensor  # (D,)
    std: torch.Tensor  # (D,)

    @classmethod
    def fit(cls, features: torch.Tensor) -> Standardizer:
        return cls(features.mean(dim=0), features.std(dim=0).clamp_min(1e-6))

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.mean) / self.std  # (N, D)


@torch.no_grad()
def image_features(encoder: torch.nn.Module, dataset: MemeDataset, batch_size: int = 256,
                   size: int = 64) -> torch.Tensor:
    """Pooled features (N, D) of every picture of `dataset`, resized to `size` px, from a frozen encoder."""
    encoder.eval()
    device = next(encoder.parameters()).device
    pictures = load_images(dataset, size=size)  # (N, 3, size, size) uint8
    chunks = [encoder(pictures[i:i + batch_size].to(device)).pooled.cpu()
              for i in range(0, len(pictures), batch_size)]
    return torch.cat(chunks)  # (N, D)


def raw_features(root: str | Path, image_encoder: torch.nn.Module, splits: tuple[str, ...],
                 text_dim: int = 64, image_size: int = 64) -> dict[str, FeatureDataset]:
    """A FeatureDataset per split whose features are as the encoders give them, not standardised.

    Pictures go through the frozen `image_encoder` -> image (N, D_img); captions become fastText
    sentence vectors -> text (N, text_dim), with fastText trained on the captions of `splits[0]`
    (train).
    """
    datasets = {split: MemeDataset(root, split) for split in splits}
    fasttext_model = train_fasttext(list(datasets[splits[0]].frame["text"]), dim=text_dim)
    out = {}
    for split, data in datasets.items():
        label = torch.tensor(data.frame["label"].to_numpy()) if data.labelled else None
        out[split] = FeatureDataset(data.frame["id"].tolist(), image_features(image_encoder, data, size=image_size),
                                    sentence_vectors(fasttext_model, list(data.frame["text"])), label)
    return out


def standardised_datasets(raw: dict[str, FeatureDataset]) -> dict[str, FeatureDataset]:
    """The same FeatureDatasets with each modality standardised, using the first split's statistics."""
    first = next(iter(raw.values()))
    image_scale, text_scale = Standardizer.fit(first.image), Standardizer.fit(first.text)
    return {split: FeatureDataset(data.ids, image_scale(data.image), text_scale(data.text), data.label)
            for split, data in raw.items()}


def build_feature_datasets(root: str | Path, image_encoder: torch.nn.Module, splits: tuple[str, ...],
                           text_dim: int = 64, image_size: int = 64) -> dict[str, FeatureDataset]:
    """Standardised image and text features for each split; statistics from `splits[0]` (train).

    The two steps, `raw_features` then `standardised_datasets`, in one call.
    """
    return standardised_datasets(raw_features(root, image_encoder, splits, text_dim, image_size))
