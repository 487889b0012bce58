"""A grounding model: the caption's query attends over the cells of a picture (notebook 02, sec. 6).

The SynthMemes `grounding` task draws three coloured shapes and names one ("there is a red
circle"); the label says whether that exact object is there. Negatives swap the binding: red and
circle are both in the picture, but on different objects. The model is the kit's usual
composition, encoders -> fusion -> head (`mmlab.models.MultimodalClassifier`):

- image: the cells of the frozen cell encoder (`mmlab.pretrain.pretrain_cell_encoder`), computed
  once with `mmlab.encoders.encode`; each cell describes the colour and shape of the object under it;
- text: a bag of word embeddings, trained here; its mean is the caption's query;
- fusion: `CaptionLooksAtCells`, one cross-attention block (`mmlab.attention`) whose query is the
  caption and whose keys and values are the cells;
- head: a linear layer: match or no match.

`named_cells` says which cells the named object covers (from the generator's boxes, via
`mmlab.pretrain.cell_owners`). `attention_loss` adds "supervised attention" to the loop's loss: a
term that asks the attention to put its mass on those cells (known for the training memes).
`attention_maps` runs a trained model and returns its maps; `peak_hits` measures where their
peaks fall on new pictures.
"""

from __future__ import annotations

import pandas as pd
import torch
import torch.nn.functional as F

from mmlab.attention import CrossAttentionBlock
from mmlab.encoders import BagOfEmbeddings
from mmlab.fusion import Features, Fusion, pooled, tokens
from mmlab.models import MultimodalClassifier
from mmlab.pretrain import cell_owners
from mmlab.train import LossFn


class CaptionLooksAtCells(Fusion):
    """The caption's pooled vector queries the picture's cells: (B, dim) out.

    `weights` keeps the last attention maps (B, heads, cells), for drawing and supervision.
    """

    def __init__(self, dims: dict[str, int], num_heads: int = 1) -> None:
        super().__init__(dims)
        self.block = CrossAttentionBlock(dims["text"], dims["image"], num_heads=num_heads)
        self.output_dim = dims["text"]
        self.weights = torch.empty(0)

    def forward(self, features: Features) -> torch.Tensor:
        query = pooled(features["text"]).unsqueeze(1)  # (B, 1, D): one query per caption
        cells, mask = tokens(features["image"])  # (B, cells, D_image)
        x, weights = self.block(query, cells, mask)  # (B, 1, D), (B, heads, 1, cells)
        self.weights = weights[:, :, 0]  # (B, heads, cells)
        return x[:, 0]  # (B, D)


def grounding_model(vocab_size: int, cell_dim: int, dim: int = 64, num_heads: int = 1) -> MultimodalClassifier:
    """Caption words -> bag of embeddings -> query over the cells -> linear head -> logits (B, 2)."""
    fusion = CaptionLooksAtCells({"image": cell_dim, "text": dim}, num_heads=num_heads)
    return MultimodalClassifier(fusion, head="linear", encoders={"text": BagOfEmbeddings(vocab_size, dim)})


def named_cells(frame: pd.DataFrame, size: int) -> torch.Tensor:
    """The cells the caption's object covers: (N, cells) bool, all False when it is absent.

    `frame` holds a `grounding` split's rows ("objects", and "target": the named object's index,
    missing for label-0 memes); `size` is the pictures' side in pixels.
    """
    owners = cell_owners(frame["objects"], size)  # (N, cells): object index, or -1 for none
    target = torch.tensor(frame["target"].fillna(-1).to_numpy(), dtype=torch.long)  # (N,)
    return (owners == target[:, None]) & (target[:, None] >= 0)  # (N, cells)


def attention_loss(model: MultimodalClassifier, weight: float) -> LossFn:
    """Cross-entropy plus `weight` * -log(attention mass on the named object's cells).

    The batch must hold "named" (B, cells) bool, True on the named object's cells (all False when
    that object is absent: those memes only get the cross-entropy).
    """

    def loss(logits: torch.Tensor, batch: dict) -> torch.Tensor:
        total = F.cross_entropy(logits, batch["label"].long())
        named = batch["named"]  # (B, cells)
        present = named.any(dim=1)  # (B,)
        if weight > 0 and present.any():
            mass = (model.fusion.weights.mean(dim=1) * named).sum(dim=1)  # (B,) share on the object
            total = total + weight * -mass[present].clamp_min(1e-6).log().mean()
        return total

    return loss


@torch.no_grad()
def attention_maps(model: MultimodalClassifier, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's logits (B, 2) and attention maps (B, heads, cells) on `batch`, in eval mode."""
    model.eval()
    logits = model(batch)  # (B, 2)
    return logits, model.fusion.weights


def peak_hits(weights: torch.Tensor, named: torch.Tensor) -> torch.Tensor:
    """Whether each attention map's peak falls on the named object: (B,) bool.

    weights (B, heads, cells) or (B, cells), averaged over heads; named (B, cells) bool.
    """
    if weights.dim() == 3:
        weights = weights.mean(dim=1)  # (B, cells)
    peak = weights.argmax(dim=-1, keepdim=True)  # (B, 1)
    return named.gather(1, peak).squeeze(1)  # (B,)
