"""A small grounding model: a caption's query attends over the cells of a picture.

The SynthMemes `grounding` task draws three coloured shapes and names one ("there is a red
circle"); the label says whether that exact object is there. Negatives swap the binding: red and
circle are both in the picture, but on different objects. The model:

- **cells**: a `SmallCNN` turns a 64 px picture into an 8x8 map of 64 feature vectors. It is
  pretrained once, "bottom-up", to tell the colour and the shape of the object under each cell
  (`pretrain_cell_encoder`), then frozen, like the object detectors behind ViLBERT's regions.
- **query**: the caption's words are embedded and averaged into one vector.
- **cross-attention**: the query attends over the cells (`mmlab.attention.CrossAttentionBlock`);
  a linear head reads the result and says match / no match.

`train_grounding` fits it on the label. With `attention_weight > 0` it also asks the attention to
put its mass on the cells of the named object (known for the training memes: "supervised
attention"); without it, this little model solves little and looks wherever it likes.
`peak_hits` measures where the attention's peak falls on new pictures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmlab.attention import CrossAttentionBlock
from mmlab.data.drawing import COLORS, SHAPES
from mmlab.encoders import SmallCNN, masked_mean

GRID = 8  # SmallCNN turns 64 px into 8 x 8 cells of 8 x 8 px


def cell_objects(images: torch.Tensor, objects: Sequence[list[dict[str, Any]]],
                 min_share: float = 0.25) -> torch.Tensor:
    """Which object covers each cell: (N, GRID*GRID) long, the object's index or -1 for none.

    images (N, 3, H, W) uint8; objects[i] the row's [{color, shape, box}]. A cell belongs to the
    object whose colour fills the largest share of its pixels, if that share is >= `min_share`.
    """
    n, _, size, _ = images.shape
    cell = size // GRID
    owner = torch.full((n, GRID * GRID), -1)
    best = torch.zeros(n, GRID * GRID)
    for i, row_objects in enumerate(objects):
        for k, obj in enumerate(row_objects):
            x0, y0, x1, y1 = obj["box"]
            color = torch.tensor(COLORS[obj["color"]], dtype=torch.uint8).view(3, 1, 1)
            painted = torch.zeros(size, size)
            painted[y0:y1 + 1, x0:x1 + 1] = (images[i, :, y0:y1 + 1, x0:x1 + 1] == color).all(0).float()
            share = F.avg_pool2d(painted[None, None], cell).flatten()  # (GRID*GRID,)
            wins = (share > best[i]) & (share >= min_share)
            owner[i, wins] = k
            best[i] = torch.maximum(best[i], share)
    return owner


def attribute_labels(owner: torch.Tensor, objects: Sequence[list[dict[str, Any]]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Colour and shape class of each cell from `cell_objects`: (N, cells) each; the last class is "none"."""
    colors, shapes = list(COLORS), list(SHAPES)
    color = torch.full_like(owner, len(colors))
    shape = torch.full_like(owner, len(shapes))
    for i, row_objects in enumerate(objects):
        for k, obj in enumerate(row_objects):
            color[i, owner[i] == k] = colors.index(obj["color"])
            shape[i, owner[i] == k] = shapes.index(obj["shape"])
    return color, shape


def pretrain_cell_encoder(images: torch.Tensor, color: torch.Tensor, shape: torch.Tensor, *,
                          epochs: int = 3, batch_size: int = 64, lr: float = 1e-2,
                          seed: int = 0) -> SmallCNN:
    """Train a SmallCNN so that each of its 8x8 cells tells the colour and shape beneath it.

    images (N, 3, 64, 64) uint8; color, shape (N, 64) class indices from `attribute_labels`.
    Two linear heads read every cell; the loss is their cross-entropy summed. Returns the
    encoder, frozen (eval mode, no gradients).
    """
    torch.manual_seed(seed)
    encoder = SmallCNN()
    color_head = nn.Linear(encoder.dim, len(COLORS) + 1)
    shape_head = nn.Linear(encoder.dim, len(SHAPES) + 1)
    parameters = [*encoder.parameters(), *color_head.parameters(), *shape_head.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=lr)
    steps = epochs * ((len(images) + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch in torch.randperm(len(images), generator=order).split(batch_size):
            cells = encoder(images[batch]).tokens  # (b, 64, D)
            loss = (F.cross_entropy(color_head(cells).transpose(1, 2), color[batch])  # (b, C, 64) vs (b, 64)
                    + F.cross_entropy(shape_head(cells).transpose(1, 2), shape[batch]))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    return encoder.eval().requires_grad_(False)


@torch.no_grad()
def cell_features(encoder: nn.Module, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """The encoder's cell tokens for all pictures: (N, 3, H, W) -> (N, 64, D)."""
    encoder.eval()
    return torch.cat([encoder(chunk).tokens for chunk in images.split(batch_size)])


class GroundingModel(nn.Module):
    """Caption query -> cross-attention over picture cells -> match logits.

    forward(cells (B, N, D), ids (B, T), mask (B, T)) returns (logits (B, 2), weights (B, H, N)).
    """

    def __init__(self, vocab_size: int, dim: int = 64, num_heads: int = 1) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.cross = CrossAttentionBlock(dim, num_heads=num_heads)
        self.head = nn.Linear(dim, 2)

    def query(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The caption as one query: the mean of its word embeddings, (B, 1, D)."""
        return masked_mean(self.embed(ids), mask).unsqueeze(1)

    def forward(self, cells: torch.Tensor, ids: torch.Tensor,
                mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, weights = self.cross(self.query(ids, mask), cells)  # (B, 1, D), (B, H, 1, N)
        return self.head(x[:, 0]), weights[:, :, 0]  # (B, 2), (B, H, N)


def train_grounding(model: GroundingModel, cells: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor,
                    labels: torch.Tensor, named: torch.Tensor | None = None, *,
                    attention_weight: float = 0.0, epochs: int = 10, batch_size: int = 64,
                    lr: float = 3e-3, seed: int = 0) -> list[float]:
    """Fit `model` on match labels (N,); returns the mean loss of each epoch.

    `named` (N, cells) bool marks the cells of the named object (all False when it is absent).
    With `attention_weight` > 0 the loss adds attention_weight * -log(attention mass on those
    cells), averaged over the memes whose named object is present.
    """
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((len(labels) + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    order = torch.Generator().manual_seed(seed)
    model.train()
    losses = []
    for _ in range(epochs):
        total = 0.0
        for batch in torch.randperm(len(labels), generator=order).split(batch_size):
            logits, weights = model(cells[batch], ids[batch], mask[batch])  # (b, 2), (b, H, N)
            loss = F.cross_entropy(logits, labels[batch])
            if attention_weight > 0:
                on_target = named[batch]  # (b, N)
                present = on_target.any(dim=1)  # (b,)
                if present.any():
                    mass = (weights.mean(dim=1) * on_target).sum(dim=1)  # (b,) share of attention on it
                    loss = loss + attention_weight * -mass[present].clamp_min(1e-6).log().mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(batch)
        losses.append(total / len(labels))
    return losses


def peak_cells(weights: torch.Tensor) -> torch.Tensor:
    """The cell with the largest weight, averaged over heads: (B, H, N) or (B, N) -> (B,)."""
    if weights.dim() == 3:
        weights = weights.mean(dim=1)  # (B, N)
    return weights.argmax(dim=-1)


def cell_box(cell: int, size: int = 64) -> tuple[int, int, int, int]:
    """Pixel box (x0, y0, x1, y1) of cell number `cell` (row-major) in a size x size picture."""
    side = size // GRID
    row, col = divmod(int(cell), GRID)
    return col * side, row * side, (col + 1) * side, (row + 1) * side


def peak_hits(weights: torch.Tensor, boxes: Sequence[Sequence[float]], size: int = 64) -> torch.Tensor:
    """Whether each picture's attention peak falls on its box: (B,) bool.

    weights (B, H, N) or (B, N); boxes[b] the named object's (x0, y0, x1, y1). A hit is a peak
    cell that overlaps the box.
    """
    hits = []
    for cell, (bx0, by0, bx1, by1) in zip(peak_cells(weights).tolist(), boxes):
        x0, y0, x1, y1 = cell_box(cell, size)
        hits.append(x0 < bx1 and bx0 < x1 and y0 < by1 and by0 < y1)
    return torch.tensor(hits)
