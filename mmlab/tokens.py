"""Token features: what every fusion strategy reads, computed once per dataset from frozen encoders.

Pooled vectors are enough for most fusions; early and cross-modal fusion need *token sequences*:

- image tokens: the 8 x 8 cells of a pretrained `SmallCNN`'s last feature map, (N, 64, D);
  image pooled: their mean, as in `mmlab.features`;
- text tokens: the fastText vector of each word, (N, T, D) with a mask (N, T), True at real words;
  text pooled: the fastText sentence vector, as in `mmlab.features`;
- every one standardised per feature with statistics of the training split (the scale fix).

Computing them once makes training a fusion head a matter of seconds: the encoders never run again.

Which encoder? Pictures of the `memes` and `redundant` tasks show icons, and the encoder
pretrained on the icon concept (`mmlab.pretrain.pretrain_image_encoder`) describes them. The
`grounding` task draws three coloured shapes; its encoder is pretrained to name the colour and
the shape under each cell of its 8 x 8 feature map (`pretrain_attribute_encoder`, a tiny
segmentation task). Each token then describes the object found there, so which colour sits on
which shape survives in the tokens, while averaging the cells loses it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from mmlab.data.drawing import COLORS, SHAPES
from mmlab.data.memes import MemeDataset
from mmlab.data.text import sentence_vectors, simple_tokenize, train_fasttext
from mmlab.encoders import SmallCNN
from mmlab.errors import MmlabError
from mmlab.features import Standardizer
from mmlab.io import atomic_path
from mmlab.pretrain import encoder_cache_path, load_images, train_classifier
from mmlab.utils import choose_device


# ---------------------------------------------------------------------------------------------
# An image encoder for the grounding task

ATTRIBUTE_CLASSES = 1 + len(COLORS)  # background or one of 4 colours; likewise 1 + 4 shapes


def cell_attribute_labels(dataset: MemeDataset, grid: int = 8) -> torch.Tensor:
    """For each grounding picture and each cell of a `grid` x `grid` map, its colour and its shape.

    Returns (N, 2, grid * grid) long: row 0 the colour, row 1 the shape of the object whose box
    holds the cell's centre, 1..4 in the order of `COLORS` and `SHAPES`; 0 for background.
    """
    if "objects" not in dataset.frame.columns:
        raise MmlabError(f"{dataset.root.name}/{dataset.split}.jsonl has no field 'objects' "
                         "(fix: generate the data with `mmlab data --task grounding`)")
    colours, shapes = list(COLORS), list(SHAPES)
    size = dataset.image(0).size[0]
    centres = (torch.arange(grid) + 0.5) * size / grid  # (grid,) pixel coordinates
    cy, cx = torch.meshgrid(centres, centres, indexing="ij")  # (grid, grid) each, row-major like the tokens
    labels = torch.zeros(len(dataset), 2, grid * grid, dtype=torch.long)
    for i, objects in enumerate(dataset.frame["objects"]):
        for obj in objects:
            x0, y0, x1, y1 = obj["box"]
            inside = ((cx >= x0) & (cx < x1) & (cy >= y0) & (cy < y1)).flatten()  # (grid * grid,)
            labels[i, 0, inside] = 1 + colours.index(obj["color"])
            labels[i, 1, inside] = 1 + shapes.index(obj["shape"])
    return labels  # (N, 2, cells)


class CellClassifier(nn.Module):
    """An image encoder plus a linear layer on every token: pictures -> (B, classes, 2, cells) logits."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.dim, 2 * ATTRIBUTE_CLASSES)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        tokens = self.encoder(images).tokens  # (B, cells, D)
        B, N, _ = tokens.shape
        logits = self.head(tokens).view(B, N, 2, ATTRIBUTE_CLASSES)  # (B, cells, 2, classes)
        return logits.permute(0, 3, 2, 1)  # (B, classes, 2, cells): the layout cross_entropy expects


@dataclass
class AttributeEncoder:
    """A `SmallCNN` pretrained to name each cell's colour and shape, and its test accuracy."""

    encoder: SmallCNN  # in eval mode
    accuracy: float  # share of object cells of the test pictures whose colour and shape are both right
    from_cache: bool
    seconds: float


@torch.no_grad()
def cell_accuracy(model: CellClassifier, pictures: torch.Tensor, labels: torch.Tensor) -> float:
    """The share of object cells (not background) whose colour and shape are both predicted right."""
    model.eval()
    predicted = torch.cat([model(pictures[i:i + 256]).argmax(dim=1) for i in range(0, len(pictures), 256)])  # (N, 2, cells)
    on_object = labels[:, 0] > 0  # (N, cells)
    both_right = (predicted == labels).all(dim=1)  # (N, cells)
    return float(both_right[on_object].float().mean())


def pretrain_attribute_encoder(root: str | Path, *, epochs: int = 6, batch_size: int = 32, lr: float = 1e-2,
                               seed: int = 0, device: str = "auto", progress: bool = False,
                               cache: bool = True) -> AttributeEncoder:
    """Pretrain a `SmallCNN` on the grounding pictures at `root` to name every cell's colour and shape.

    Like a tiny segmentation network: each of the 8 x 8 tokens is classified on its own, so each
    token learns to describe what lies under it. Trained on "train", tested on "test", cached
    under `MMLAB_HOME/encoders/` like the other pretrained encoders (the key hashes the dataset
    and these settings).
    """
    started = time.perf_counter()
    device = choose_device(device)
    config = {"modality": "image", "encoder": "small_cnn", "label": "cell_attributes", "epochs": epochs,
              "batch_size": batch_size, "lr": lr, "seed": seed}
    path = encoder_cache_path("small_cnn-cell_attributes", root, config)
    torch.manual_seed(seed)  # the same initial weights every time
    model = CellClassifier(SmallCNN())
    if cache and path.is_file():
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(checkpoint["model"])
        return AttributeEncoder(model.encoder.to(device).eval(), checkpoint["accuracy"], True,
                                time.perf_counter() - started)
    train, test = MemeDataset(root, "train"), MemeDataset(root, "test")
    train_classifier(model, [load_images(train)], cell_attribute_labels(train), epochs=epochs,
                     batch_size=batch_size, lr=lr, seed=seed, device=device, progress=progress,
                     desc="pretraining on cell colours and shapes")
    accuracy = cell_accuracy(model, load_images(test).to(device), cell_attribute_labels(test).to(device))
    with atomic_path(path) as tmp:
        torch.save({"model": {k: v.cpu() for k, v in model.state_dict().items()}, "accuracy": accuracy,
                    "config": config}, tmp)
    return AttributeEncoder(model.encoder.eval(), accuracy, False, time.perf_counter() - started)


# ---------------------------------------------------------------------------------------------
# Token features of every split


@dataclass
class SplitFeatures:
    """One split's features: pooled vectors and token sequences of each modality, and labels."""

    ids: list
    pooled: dict[str, torch.Tensor]  # {"image": (N, D), "text": (N, D)}
    tokens: dict[str, torch.Tensor]  # {"image": (N, 64, D), "text": (N, T, D), "text_mask": (N, T)}
    label: torch.Tensor | None  # (N,), None for an unlabelled split

    def inputs(self, kind: str) -> dict[str, torch.Tensor]:
        """The features a fusion reads (see `FusionSpec.inputs`): "pooled" vectors, "tokens" of both
        modalities, or "words": word tokens and the pooled picture as a single image token."""
        if kind == "pooled":
            return self.pooled
        if kind == "words":
            return {"image": self.pooled["image"], "text": self.tokens["text"], "text_mask": self.tokens["text_mask"]}
        return self.tokens

    def __len__(self) -> int:
        return len(self.ids)


@torch.no_grad()
def image_tokens(encoder: nn.Module, pictures: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """The frozen encoder's tokens for `pictures` (N, 3, H, W): (N, cells, D)."""
    encoder.eval()
    device = next(encoder.parameters()).device
    chunks = [encoder(pictures[i:i + batch_size].to(device)).tokens.cpu() for i in range(0, len(pictures), batch_size)]
    return torch.cat(chunks)  # (N, cells, D)


def word_vectors(fasttext_model, texts: list[str], max_len: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """fastText's vector of every word: tokens (N, T, D), zero at padding, and mask (N, T) bool."""
    words = [simple_tokenize(text)[:max_len] for text in texts]
    T = max(1, max(len(w) for w in words))
    tokens = torch.zeros(len(texts), T, fasttext_model.get_dimension())  # (N, T, D)
    mask = torch.zeros(len(texts), T, dtype=torch.bool)  # (N, T)
    for i, caption in enumerate(words):
        for j, word in enumerate(caption):
            tokens[i, j] = torch.from_numpy(fasttext_model.get_word_vector(word))
            mask[i, j] = True
    return tokens, mask


def standardise_tokens(train: torch.Tensor, train_mask: torch.Tensor | None) -> Standardizer:
    """A `Standardizer` with per-feature statistics over the real tokens of `train` (N, T, D)."""
    real = train[train_mask] if train_mask is not None else train.flatten(0, 1)  # (tokens, D)
    return Standardizer.fit(real)


def build_split_features(root: str | Path, image_encoder: nn.Module, splits: tuple[str, ...] = ("train", "dev", "test"),
                         text_dim: int = 64, image_size: int = 64) -> dict[str, SplitFeatures]:
    """Pooled and token features of each split, standardised with statistics from `splits[0]`."""
    datasets = {split: MemeDataset(root, split) for split in splits}
    fasttext_model = train_fasttext(list(datasets[splits[0]].frame["text"]), dim=text_dim)
    raw = {}
    for split, data in datasets.items():
        texts = list(data.frame["text"])
        cells = image_tokens(image_encoder, load_images(data, size=image_size))  # (N, 64, D)
        words, mask = word_vectors(fasttext_model, texts)  # (N, T, D), (N, T)
        raw[split] = {"image": cells.mean(dim=1), "text": sentence_vectors(fasttext_model, texts),
                      "image_tokens": cells, "text_tokens": words, "text_mask": mask}
    first = raw[splits[0]]
    scale = {"image": Standardizer.fit(first["image"]), "text": Standardizer.fit(first["text"]),
             "image_tokens": standardise_tokens(first["image_tokens"], None),
             "text_tokens": standardise_tokens(first["text_tokens"], first["text_mask"])}
    out = {}
    for split, data in datasets.items():
        r = raw[split]
        label = torch.tensor(data.frame["label"].to_numpy()) if data.labelled else None
        pooled = {"image": scale["image"](r["image"]), "text": scale["text"](r["text"])}
        tokens = {"image": scale["image_tokens"](r["image_tokens"]),
                  "text": scale["text_tokens"](r["text_tokens"]) * r["text_mask"].unsqueeze(-1),  # zero at padding
                  "text_mask": r["text_mask"]}
        out[split] = SplitFeatures(data.frame["id"].tolist(), pooled, tokens, label)
    return out

