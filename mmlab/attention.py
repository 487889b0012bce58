"""Attention from scratch: how a model decides which words and which parts of a picture matter.

Attention is a soft lookup in a table. Each *query* is compared with every *key*; the scores,
turned into weights that sum to 1 by a softmax, say how much of each *value* to take:

    weights = softmax(q @ k^T / sqrt(d))     # (..., Tq, Tk), each row sums to 1
    output  = weights @ v                    # (..., Tq, Dv), a weighted average of the values

- Dividing by sqrt(d) keeps the scores' spread near 1 whatever the size d of the vectors: the dot
  product of two random d-dimensional vectors grows like sqrt(d), and a softmax of large scores
  saturates (one weight near 1, the rest near 0, and almost no gradient).
- A mask hides keys a query must not see, such as the padding at the end of a short caption:
  their scores become -inf, so their weights are exactly 0.
- Multi-head attention runs several attentions side by side, each on its own learned projection
  of the inputs (a smaller slice of size d / heads), and mixes their outputs with one more linear
  layer. Different heads are free to look for different things.
- Self-attention takes queries, keys and values from the same sequence (the words of a caption).
  Cross-attention takes the queries from one modality and the keys and values from the other:
  here the words of a caption look at the cells of a picture's feature map.

Masks follow PyTorch's boolean `attn_mask` and mmlab's encoders: **True means "real, may be
attended to"**, False means "hidden". (`nn.MultiheadAttention`'s `key_padding_mask` is the
opposite: True there means "ignore"; pass it `~mask`.)

Attention itself has no notion of order: shuffle the keys and values together and the output
does not change. `SelfAttentionClassifier` adds a learned vector per position, or not, and
`word_order_captions` makes a task where only the order of the words decides the label, so that
notebook 02 (section 5) can measure what the position vectors buy.
"""

from __future__ import annotations

import math
import random

import pandas as pd
import torch
import torch.nn as nn

from mmlab.data.text import simple_tokenize
from mmlab.encoders import masked_mean


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention (Vaswani et al., 2017), written out.

    q (..., Tq, D), k (..., Tk, D), v (..., Tk, Dv); `mask` bool, broadcastable to (..., Tq, Tk),
    True where a query may look at a key. Returns (output (..., Tq, Dv), weights (..., Tq, Tk)).
    A masked key gets a weight of exactly 0; a query whose keys are all masked gets all-zero
    weights and a zero output.
    """
    d = q.size(-1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # (..., Tq, Tk)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))  # exp(-inf) = 0: no weight at all
    weights = scores.softmax(dim=-1)  # (..., Tq, Tk), each row sums to 1
    if mask is not None:
        weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)  # all hidden: 0, not NaN
    return weights @ v, weights  # (..., Tq, Dv), (..., Tq, Tk)


def padding_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """A (B, T) bool mask, True at the first lengths[b] positions of each row: [2, 3] -> [[T, T, F], [T, T, T]]."""
    max_len = int(lengths.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lengths.device) < lengths.unsqueeze(-1)  # (B, T)


class MultiHeadAttention(nn.Module):
    """Multi-head attention: project, split into heads, attend in each head, merge, project.

    Queries (B, Tq, dim); keys and values (B, Tk, context_dim) (context_dim defaults to dim, which
    is self-attention's case). Its parameters match `nn.MultiheadAttention(dim, num_heads)` one to
    one, so the tests can copy weights across and compare the outputs.
    """

    def __init__(self, dim: int, num_heads: int = 1, context_dim: int | None = None) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim={dim} must be divisible by num_heads={num_heads}")
        context_dim = dim if context_dim is None else context_dim
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(context_dim, dim)
        self.value = nn.Linear(context_dim, dim)
        self.out = nn.Linear(dim, dim)  # mixes the heads' outputs
        self.num_heads = num_heads
        self.head_dim = dim // num_heads

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        return x.view(B, T, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, T, D/H)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, Tq, dim) asks; context (B, Tk, context_dim) answers (default: x itself).

        `mask`: (B, Tk) bool, True at real keys (a padding mask), or (B, Tq, Tk) for a mask per
        query. Returns (output (B, Tq, dim), weights (B, H, Tq, Tk)).
        """
        context = x if context is None else context
        B, Tq, dim = x.shape
        q = self._split(self.query(x))  # (B, H, Tq, D/H)
        k = self._split(self.key(context))  # (B, H, Tk, D/H)
        v = self._split(self.value(context))  # (B, H, Tk, D/H)
        if mask is not None:
            mask = mask[:, None, None, :] if mask.dim() == 2 else mask[:, None]  # (B, 1, Tq or 1, Tk)
        heads, weights = scaled_dot_product_attention(q, k, v, mask)  # (B, H, Tq, D/H), (B, H, Tq, Tk)
        merged = heads.transpose(1, 2).reshape(B, Tq, dim)  # (B, Tq, dim): heads side by side
        return self.out(merged), weights


class CrossAttentionBlock(nn.Module):
    """One modality looks at another: a Transformer block whose keys and values come from outside.

        x = x + attention(norm(x), norm(context))   # each query gathers what it needs
        x = x + mlp(norm(x))                         # and thinks about it on its own

    x (B, Tq, dim) are the queries (e.g. words), context (B, Tk, context_dim) the keys and values
    (e.g. picture cells). Returns (x (B, Tq, dim), weights (B, H, Tq, Tk)) so the weights can be
    drawn over the picture.
    """

    def __init__(self, dim: int, context_dim: int | None = None, num_heads: int = 1,
                 mlp_ratio: int = 2) -> None:
        super().__init__()
        context_dim = dim if context_dim is None else context_dim
        self.norm_query = nn.LayerNorm(dim)
        self.norm_context = nn.LayerNorm(context_dim)
        self.attention = MultiHeadAttention(dim, num_heads, context_dim)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x: torch.Tensor, context: torch.Tensor,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        attended, weights = self.attention(self.norm_query(x), self.norm_context(context), mask)
        x = x + attended  # (B, Tq, dim)
        x = x + self.mlp(self.norm_mlp(x))  # (B, Tq, dim)
        return x, weights


class SelfAttentionClassifier(nn.Module):
    """Word embeddings (+ positions) -> one self-attention layer -> mean over the words -> logits.

        x = embed(words) + position(0, 1, 2, ...)   # positions=False: no position vectors
        x = x + attention(x)                         # residual: each word keeps itself, adds context
        logits = linear(mean of x over the real words)

    batch["text"] is a `TokenBatch` (ids, mask) (B, T); returns logits (B, 2). `weights` keeps
    the last attention maps (B, heads, T, T). Without positions the model sees a *set* of words:
    any reordering of a caption gives the same logits. attention=False leaves a bag of embeddings.
    """

    def __init__(self, vocab_size: int, dim: int = 32, num_heads: int = 2, max_len: int = 16,
                 positions: bool = True, attention: bool = True) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.position = nn.Embedding(max_len, dim) if positions else None  # one vector per place
        self.attention = MultiHeadAttention(dim, num_heads) if attention else None
        self.head = nn.Linear(dim, 2)
        self.weights = torch.empty(0)

    def forward(self, batch: dict) -> torch.Tensor:
        ids, mask = batch["text"]  # (B, T) each
        if self.position is not None and ids.shape[1] > self.position.num_embeddings:
            raise ValueError(f"captions of {ids.shape[1]} tokens are longer than max_len="
                             f"{self.position.num_embeddings}; pass a larger max_len")
        x = self.embed(ids)  # (B, T, D)
        if self.position is not None:
            x = x + self.position(torch.arange(ids.shape[1], device=ids.device))  # (B, T, D)
        if self.attention is not None:
            attended, self.weights = self.attention(x, mask=mask)  # (B, T, D), (B, H, T, T)
            x = x + attended  # (B, T, D)
        return self.head(masked_mean(x, mask))  # (B, 2)


# A caption task where only word order decides (notebook 02, section 5). Each caption denies one
# mood word and means the other: "not awful but lovely" is positive, "not lovely but awful" is
# negative. Both use the same words, so a model that sees a set of words cannot tell them apart.
POSITIVE_WORDS = ("great", "lovely", "wonderful", "happy", "cheerful", "good", "brilliant", "amazing")
NEGATIVE_WORDS = ("terrible", "awful", "horrible", "sad", "gloomy", "bad", "grim", "tragic")
ORDER_TEMPLATES = ("not {denied} but {meant}", "{meant} and not {denied}")
FILLERS_BEFORE = ("", "", "honestly", "well", "ok so", "tbh")
FILLERS_AFTER = ("", "", "lol", "again", "haha", "today")


def word_order_captions(n: int, seed: int = 0) -> pd.DataFrame:
    """`n` captions in pairs: the same words in two orders, with opposite labels.

    Columns: text, label (1 = the caption means the negative word, 0 = the positive one), pair
    (the two captions of a pair share it).
    """
    rng = random.Random(f"word-order/{seed}")
    rows = []
    for pair in range((n + 1) // 2):
        good, bad = rng.choice(POSITIVE_WORDS), rng.choice(NEGATIVE_WORDS)
        template = rng.choice(ORDER_TEMPLATES)
        before, after = rng.choice(FILLERS_BEFORE), rng.choice(FILLERS_AFTER)
        for denied, meant, label in ((good, bad, 1), (bad, good, 0)):
            phrase = template.format(denied=denied, meant=meant)
            rows.append({"text": " ".join(w for w in (before, phrase, after) if w), "label": label,
                         "pair": pair})
    return pd.DataFrame(rows[:n])


def word_order_label(caption: str) -> int | None:
    """The label `word_order_captions` gives `caption` (1 negative, 0 positive), or None when it
    is not a caption of the task: one positive and one negative word, exactly one right after "not".
    """
    words = simple_tokenize(caption)
    moods = [(i, word in NEGATIVE_WORDS) for i, word in enumerate(words)
             if word in POSITIVE_WORDS or word in NEGATIVE_WORDS]  # (position, is negative)
    if len(moods) != 2 or moods[0][1] == moods[1][1]:
        return None
    denied = [i > 0 and words[i - 1] == "not" for i, _ in moods]
    if sum(denied) != 1:
        return None
    meant_is_negative = moods[denied.index(False)][1]
    return int(meant_is_negative)
