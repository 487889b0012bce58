"""Contrastive alignment: CLIP's symmetric InfoNCE loss, its two towers, and retrieval metrics.

CLIP (Radford et al. 2021) learns one space for pictures and captions from pairs alone: an image
tower and a text tower each end in a projection head and an L2 normalisation, and a batch of B
pairs gives a (B, B) matrix of cosine similarities times a learned scale. Row i should pick
column i (the caption of picture i) and column i should pick row i:

    logits = scale * image_emb @ text_embᵀ                           (B, B)
    loss   = ( cross_entropy(logits, diag) + cross_entropy(logitsᵀ, diag) ) / 2

The other B - 1 captions of the batch are the negatives. At initialisation every logit is about
the same, so each cross-entropy is ln(B). The scale (1 / temperature) starts at 1 / 0.07 and is
learned through its logarithm, clamped at 100 as in the paper. Templated captions repeat: when
a caption is also true of another picture of the batch, `targets` marks every true pair, and
each row (column) is scored on the probability of all its true pairs together.

Retrieval on a gallery: for each picture, rank all captions (image -> text), and for each
caption all pictures (text -> image); Recall@K is the share of queries with a right answer in
their top K. Notebook 05 (contrastive alignment) teaches all of this, section by section.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Sequence
from typing import Any

import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmlab.data.text import TokenBatch
from mmlab.encoders import EncoderOutput
from mmlab.features import FeatureDataset
from mmlab.train import make_loader
from mmlab.utils import to_device

INIT_SCALE = 1 / 0.07  # CLIP's initial temperature, 0.07
MAX_SCALE = 100.0  # CLIP clamps the scale here, so that the logits cannot grow without bound


def clip_logits(image_emb: torch.Tensor, text_emb: torch.Tensor,
                logit_scale: torch.Tensor | float) -> torch.Tensor:
    """Scaled cosine similarities: (B, D) and (M, D), both L2-normalised -> (B, M)."""
    return logit_scale * image_emb @ text_emb.T  # (B, M)


def symmetric_cross_entropy(logits: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
    """The mean of the image -> text (rows) and text -> image (columns) cross-entropies.

    `targets` (B, B) bool: the true pairs; None means the diagonal (pair i is picture i with
    caption i). With targets, each way is -log(the softmax probability of all true pairs
    together), so a model that ranks every true caption above every false one reaches 0 however
    it shares the probability among them (the multiple-positive loss of MIL-NCE).
    """
    if targets is None:
        diagonal = torch.arange(len(logits), device=logits.device)  # (B,)
        return (F.cross_entropy(logits, diagonal) + F.cross_entropy(logits.T, diagonal)) / 2

    def one_way(logits: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
        log_p = logits.log_softmax(dim=1)  # (B, B), each row sums to 1 in probability
        return -log_p.masked_fill(~positives, -math.inf).logsumexp(dim=1).mean()

    targets = targets.bool()
    return (one_way(logits, targets) + one_way(logits.T, targets.T)) / 2


def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: torch.Tensor | float,
              targets: torch.Tensor | None = None) -> torch.Tensor:
    """CLIP's loss for B pairs of L2-normalised embeddings (B, D): a scalar tensor."""
    return symmetric_cross_entropy(clip_logits(image_emb, text_emb, logit_scale), targets)


def caption_positives(truths: Sequence[Collection[str]], captions: Sequence[str]) -> torch.Tensor:
    """(N, M) bool: True where caption j is true of picture i (it is in truths[i])."""
    columns = defaultdict(list)  # caption -> the columns that hold it
    for j, caption in enumerate(captions):
        columns[caption].append(j)
    rows, cols = [], []  # one (row, column) per true pair
    for i, truth in enumerate(truths):
        for caption in truth:
            cols += columns.get(caption, [])
            rows += [i] * (len(cols) - len(rows))
    positives = torch.zeros(len(truths), len(captions), dtype=torch.bool)  # (N, M)
    positives[rows, cols] = True
    return positives


def batch_loss(logits: torch.Tensor, batch: dict[str, Any]) -> torch.Tensor:
    """The loss `mmlab.train.fit` calls: `logits` (B, B) from `CLIP`, positives from the batch.

    The batch holds "caption" (B captions) and "truths" (B sets: the captions true of each
    picture, `mmlab.data.scenes.all_captions`).
    """
    positives = caption_positives(batch["truths"], batch["caption"]).to(logits.device)  # (B, B)
    return symmetric_cross_entropy(logits, positives)


class CLIP(nn.Module):
    """Two towers, each encoder -> linear projection -> L2 normalisation, and a learned scale.

    forward(batch) -> logits (B, B): scale * cosine(picture i, caption j), from batch["image"]
    (B, 3, H, W) and batch["text"] (a TokenBatch). `learn_scale=False` keeps the scale fixed.
    """

    def __init__(self, image_encoder: nn.Module, text_encoder: nn.Module, embed_dim: int = 256,
                 init_scale: float = INIT_SCALE, learn_scale: bool = True) -> None:
        super().__init__()
        self.image_encoder, self.text_encoder = image_encoder, text_encoder
        self.image_projection = nn.Linear(image_encoder.dim, embed_dim, bias=False)
        self.text_projection = nn.Linear(text_encoder.dim, embed_dim, bias=False)
        self.log_scale = nn.Parameter(torch.tensor(math.log(init_scale)), requires_grad=learn_scale)

    def scale(self) -> torch.Tensor:
        """exp(log_scale), at most MAX_SCALE."""
        return self.log_scale.exp().clamp(max=MAX_SCALE)

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """Pictures (B, 3, H, W) -> unit vectors (B, embed_dim)."""
        features = self.image_encoder(images).pooled  # (B, D_image)
        return F.normalize(self.image_projection(features), dim=-1)  # (B, embed_dim)

    def embed_texts(self, text: TokenBatch) -> torch.Tensor:
        """Captions (a TokenBatch of B) -> unit vectors (B, embed_dim)."""
        features = self.text_encoder(text).pooled  # (B, D_text)
        return F.normalize(self.text_projection(features), dim=-1)  # (B, embed_dim)

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        image_emb = self.embed_images(batch["image"])  # (B, E)
        text_emb = self.embed_texts(batch["text"])  # (B, E)
        return clip_logits(image_emb, text_emb, self.scale())  # (B, B)


class LockedTower(nn.Module):
    """A tower trained beforehand and locked: the batch holds its pooled output (B, dim), computed
    once. Training the other tower against it is LiT (locked-image tuning, Zhai et al. 2022)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, features: torch.Tensor) -> EncoderOutput:
        return EncoderOutput(features.unsqueeze(1), features, None)  # one token: the pooled vector


@torch.no_grad()
def embed(model: CLIP, images: torch.Tensor, text: TokenBatch,
          batch_size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit vectors of every picture (N, E) and every caption (M, E), in eval mode, on the CPU.

    `images` is whatever the image tower takes: pictures (N, 3, H, W), or features (N, D) for a
    `LockedTower`.
    """
    model.eval()
    device = model.log_scale.device
    chunks = lambda entry: make_loader(FeatureDataset(x=entry), batch_size, shuffle=False)
    image_emb = [model.embed_images(to_device(batch["x"], device)).cpu() for batch in chunks(images)]
    text_emb = [model.embed_texts(to_device(batch["x"], device)).cpu() for batch in chunks(text)]
    return torch.cat(image_emb), torch.cat(text_emb)  # (N, E), (M, E)


def recall_at_k(similarity: torch.Tensor, positives: torch.Tensor, k: int) -> float:
    """The share of queries (rows) with a positive among their k most similar columns."""
    top = similarity.topk(k, dim=1).indices  # (N, k)
    return positives.gather(1, top).any(dim=1).float().mean().item()


def chance_recall_at_k(positives: torch.Tensor, k: int) -> float:
    """Recall@k of a random ranking: a query with P positives among M misses with C(M-P, k)/C(M, k)."""
    M = positives.shape[1]
    misses = [math.comb(M - int(p), k) / math.comb(M, k) for p in positives.sum(dim=1)]
    return 1 - sum(misses) / len(misses)


def retrieval_table(image_emb: torch.Tensor, text_emb: torch.Tensor, positives: torch.Tensor,
                    ks: Sequence[int] = (1, 5)) -> pd.DataFrame:
    """Recall@K both ways, and what chance would get, as a table.

    `positives` (N, M) bool: caption j is a right answer for picture i (and picture i for
    caption j). Rows "image -> text" and "text -> image"; columns "R@K" and "chance R@K".
    """
    similarity = image_emb @ text_emb.T  # (N, M) cosines
    rows = {}
    for direction, sim, pos in (("image -> text", similarity, positives),
                                ("text -> image", similarity.T, positives.T)):
        rows[direction] = {**{f"R@{k}": recall_at_k(sim, pos, k) for k in ks},
                           **{f"chance R@{k}": chance_recall_at_k(pos, k) for k in ks}}
    return pd.DataFrame(rows).T
