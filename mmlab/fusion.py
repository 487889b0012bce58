"""Fusion: every well-known way to combine modalities, behind one interface and one registry.

The interface (TorchMultimodal's idea of a dict of named modalities):

    fusion(features: dict[str, EncoderOutput | Tensor]) -> Tensor (B, fusion.output_dim)

- `features["image"]`, `features["text"]`: what each modality's encoder returned, an
  `EncoderOutput(tokens (B, N, D), pooled (B, D), mask (B, N) or None)`. A fusion reads the part
  it was designed for: `.pooled` for vector fusions, `.tokens` and `.mask` for token fusions.
  A bare tensor is accepted as shorthand for small examples: (B, D) is a pooled vector,
  (B, N, D) a token sequence without padding.
- Each module is built with `dims`, the feature size D of every modality, and knows its
  `output_dim`. Decision-level fusions (`outputs_logits`) already return class scores; every
  other fusion gets a head (see `mmlab.models.MultimodalClassifier`).
- `handles_missing`: the modality may be left out of the dict at test time (late, hybrid and
  attention-weighted fusion then use the others). Other modules need every modality.

The strategies, from the simplest to the most expressive (`FUSIONS` is the registry; notebook 03
prints their code and compares them):

    late            each modality -> its own classifier; average the logits  (MMF HM baseline)
    hybrid          late fusion plus a joint classifier on the concatenation (Atrey et al. 2010)
    sum             project each modality, add                               (MMF LinearSum)
    concat          project each modality, concatenate                        (the classic recipe)
    attention_sum   softmax weight per modality, weighted sum                 (TorchMultimodal)
    gmu             gated multimodal unit: a learned gate mixes the modalities (Arevalo 2017)
    film            the caption scales and shifts every image cell           (Perez 2018, FiLM)
    bilinear        factorised bilinear pooling, MFB                          (Yu 2017)
    tensor          outer product of [x_image, 1] and [x_text, 1]             (Zadeh 2017, TFN)
    low_rank        a rank-r version of the tensor fusion                     (Liu 2018, LMF)
    early           image cells and words in one shared Transformer           (VisualBERT, MMBT)
    cross_attention each stream's summary attends to the other's tokens       (after ViLBERT)

Which of them can model an *interaction* of the modalities (an XOR, "picture and caption
disagree") on their own, and which need the head's hidden layer for it, is measured in notebook 03.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmlab.encoders import EncoderOutput, masked_mean
from mmlab.errors import MmlabError

Features = dict[str, EncoderOutput | torch.Tensor]


def pooled(x: EncoderOutput | torch.Tensor) -> torch.Tensor:
    """One vector per example (B, D): the encoder's pooled vector (a bare (B, N, D) is averaged)."""
    if isinstance(x, EncoderOutput):
        return x.pooled
    return x if x.dim() == 2 else x.mean(dim=1)


def tokens(x: EncoderOutput | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A token sequence (B, N, D) and its mask (B, N) or None (a bare (B, D) is one token)."""
    if isinstance(x, EncoderOutput):
        return x.tokens, x.mask
    return (x.unsqueeze(1) if x.dim() == 2 else x), None


class Fusion(nn.Module):
    """Base class: `dims` maps each modality to its feature size; subclasses set `output_dim`."""

    outputs_logits = False
    handles_missing = False

    def __init__(self, dims: dict[str, int]) -> None:
        super().__init__()
        if len(dims) < 2:
            raise ValueError(f"fusion needs at least two modalities, got {sorted(dims)}")
        self.dims = dict(sorted(dims.items()))
        self.output_dim = 0

    def present(self, features: Features) -> list[str]:
        """The modalities of `self.dims` in `features` (all of them unless `handles_missing`)."""
        names = [name for name in self.dims if name in features]
        if not names or (len(names) < len(self.dims) and not self.handles_missing):
            raise KeyError(f"{type(self).__name__} needs {list(self.dims)}, got {sorted(features)}")
        return names


def mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    """Linear -> ReLU -> Linear: a small two-layer network."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))


def projections(dims: dict[str, int], out: int) -> nn.ModuleDict:
    """One linear layer per modality, each to size `out`."""
    return nn.ModuleDict({name: nn.Linear(dim, out) for name, dim in dims.items()})


# ---------------------------------------------------------------------------------------------
# The registry


@dataclass(frozen=True)
class FusionSpec:
    """One registered strategy: how to build it and what it is."""

    name: str
    make: Callable[..., Fusion]
    description: str  # one line, shown by `mmlab fusions`
    source: str  # the paper or project it comes from


FUSIONS: dict[str, FusionSpec] = {}


def register(name: str, description: str, source: str) -> Callable[[type], type]:
    """Class decorator: add a fusion module to `FUSIONS` under `name`."""

    def add(cls: type) -> type:
        FUSIONS[name] = FusionSpec(name, cls, description, source)
        return cls

    return add


def build_fusion(name: str, dims: dict[str, int], hidden: int = 64, num_classes: int = 2) -> Fusion:
    """The fusion module registered as `name`, for modalities of sizes `dims`."""
    if name not in FUSIONS:
        raise MmlabError(f"unknown fusion {name!r} (fix: choose one of {', '.join(FUSIONS)}; "
                         "`mmlab fusions` describes them)")
    make = FUSIONS[name].make
    if make.outputs_logits:
        return make(dims, hidden=hidden, num_classes=num_classes)
    return make(dims, hidden=hidden)


# ---------------------------------------------------------------------------------------------
# Decision-level fusion


@register("late", "one classifier per modality, logits averaged (an additive score)",
          "Kiela et al. 2020, the MMF Hateful Memes 'Late Fusion' baseline")
class LateFusion(Fusion):
    """Late fusion: each modality decides alone; the decisions are averaged.

        image -> MLP -> logits_image ─┐
                                      ├─> mean -> logits
        text  -> MLP -> logits_text  ─┘

    The score is a *sum* of one function of the picture and one of the caption, so it cannot
    express "picture and caption disagree" (an XOR). Leave a modality out of the dict and the
    others decide.
    """

    outputs_logits = True
    handles_missing = True

    def __init__(self, dims: dict[str, int], hidden: int = 64, num_classes: int = 2) -> None:
        super().__init__(dims)
        self.heads = nn.ModuleDict({m: mlp(d, hidden, num_classes) for m, d in self.dims.items()})
        self.output_dim = num_classes

    def forward(self, features: Features) -> torch.Tensor:
        votes = [self.heads[name](pooled(features[name])) for name in self.present(features)]
        return torch.stack(votes).mean(dim=0)  # (B, C)


@register("hybrid", "late fusion plus a joint classifier on the concatenated features",
          "Atrey et al. 2010, 'Multimodal fusion for multimedia analysis: a survey'")
class HybridFusion(Fusion):
    """Hybrid fusion: per-modality decisions and a joint decision, averaged.

        image ─> MLP ───────────────> logits_image ─┐
          └──────┐                                  │
                 ├─> concat -> MLP -> logits_joint ─┼─> mean -> logits
          ┌──────┘                                  │
        text  ─> MLP ───────────────> logits_text  ─┘

    The joint classifier can model interactions. With a modality missing, the joint classifier
    (which needs both) is left out and the unimodal ones decide.
    """

    outputs_logits = True
    handles_missing = True

    def __init__(self, dims: dict[str, int], hidden: int = 64, num_classes: int = 2) -> None:
        super().__init__(dims)
        self.heads = nn.ModuleDict({m: mlp(d, hidden, num_classes) for m, d in self.dims.items()})
        self.joint = mlp(sum(self.dims.values()), hidden, num_classes)
        self.output_dim = num_classes

    def forward(self, features: Features) -> torch.Tensor:
        names = self.present(features)
        vectors = {name: pooled(features[name]) for name in names}  # each (B, D_name)
        votes = [self.heads[name](x) for name, x in vectors.items()]  # each (B, C)
        if len(names) == len(self.dims):
            votes.append(self.joint(torch.cat(list(vectors.values()), dim=-1)))  # (B, C)
        return torch.stack(votes).mean(dim=0)  # (B, C)


# ---------------------------------------------------------------------------------------------
# Feature-level fusion of pooled vectors


@register("sum", "project each modality to one size and add (additive, like late fusion)",
          "MMF's LinearSum fusion; the additive baseline of Hessel and Lee 2020")
class SumFusion(Fusion):
    """Sum: project each modality to the same size and add.

        out = W x_image + V x_text      (B, hidden)

    A purely additive operator: with a linear head the score is additive in the two modalities.
    """

    def __init__(self, dims: dict[str, int], hidden: int = 64) -> None:
        super().__init__(dims)
        self.project = projections(self.dims, hidden)
        self.output_dim = hidden

    def forward(self, features: Features) -> torch.Tensor:
        self.present(features)
        return sum(self.project[name](pooled(features[name])) for name in self.dims)  # (B, hidden)


@register("concat", "project each modality, concatenate (the classic meme recipe)",
          "Kiela et al. 2020 (Concat BoW/BERT); the DrivenData Hateful Memes benchmark")
class ConcatFusion(Fusion):
    """Mid-level concatenation: project each modality, concatenate.

        image -> Linear -> ReLU ─┐
                                 ├─> [image ; text]  (B, 2 * hidden)
        text  -> Linear -> ReLU ─┘
    """

    def __init__(self, dims: dict[str, int], hidden: int = 64) -> None:
        super().__init__(dims)
        self.project = projections(self.dims, hidden)
        self.output_dim = hidden * len(self.dims)

    def forward(self, features: Features) -> torch.Tensor:
        self.present(features)
        parts = [F.relu(self.project[name](pooled(features[name]))) for name in self.dims]
        return torch.cat(parts, dim=-1)  # (B, M * hidden)


@register("attention_sum", "a softmax weight per modality, then a weighted sum of the projections",
          "TorchMultimodal AttentionFusionModule")
class AttentionSumFusion(Fusion):
    """Attention-weighted sum: each example decides how much to trust each modality.

        p_m = W_m x_m                      (B, hidden) per modality
        s_m = v . tanh(p_m)                (B,) a score per modality
        a   = softmax over m of s_m        (B, M) one weight per modality, summing to 1
        out = sum_m a_m p_m                (B, hidden)

    A missing modality simply drops out of the softmax.
    """

    handles_missing = True

    def __init__(self, dims: dict[str, int], hidden: int = 64) -> None:
        super().__init__(dims)
        self.project = projections(self.dims, hidden)
        self.score = nn.Linear(hidden, 1, bias=False)
        self.output_dim = hidden

    def forward(self, features: Features) -> torch.Tensor:
        names = self.present(features)
        p = torch.stack([self.project[m](pooled(features[m])) for m in names], dim=1)  # (B, M, h)
        weights = self.score(torch.tanh(p)).softmax(dim=1)  # (B, M, 1)
        return (weights * p).sum(dim=1)  # (B, hidden)


@register("gmu", "gated multimodal unit: a learned gate mixes tanh projections of each modality",
          "Arevalo et al. 2017, 'Gated Multimodal Units for Information Fusion'")
class GatedFusion(Fusion):
    """Gated multimodal unit (GMU), for any number of modalities.

        h_m = tanh(W_m x_m)                               (B, hidden) per modality
        z   = softmax over m of W_z [x_image ; x_text]    (B, M, hidden) gates
        out = sum_m z_m * h_m                             (B, hidden)

    With two modalities the softmax gate is the paper's sigmoid z and 1 - z. Each hidden unit
    chooses, per example, which modality to listen to.
    """

    def __init__(self, dims: dict[str, int], hidden: int = 64) -> None:
        super().__init__(dims)
        self.project = projections(self.dims, hidden)
        self.gate = nn.Linear(sum(self.dims.values()), len(self.dims) * hidden)
        self.output_dim = hidden

    def forward(self, features: Features) -> torch.Tensor:
        self.present(features)
        x = [pooled(features[name]) for name in self.dims]  # each (B, D_m)
        h = torch.stack([torch.tanh(self.project[name](v)) for name, v in zip(self.dims, x)], dim=1)
        B, M, H = h.shape  # (B, M, hidden)
        z = self.gate(torch.cat(x, dim=-1)).view(B, M, H).softmax(dim=1)  # (B, M, hidden)
        return (z * h).sum(dim=1)  # (B, hidden)


@register("film", "feature-wise linear modulation: the caption scales and shifts every image cell",
          "Perez et al. 2018, 'FiLM: Visual Reasoning with a General Conditioning Layer'")
class FiLMFusion(Fusion):
    """FiLM: the caption conditions the picture, cell by cell.

        gamma, beta = Linear(x_text)                            (B, hidden) each
        out = mean over cells of ReLU(gamma * (W cell) + beta)  (B, hidden)

    The product gamma * (W cell) is multiplicative, and it happens *before* the cells are
    averaged, so the caption can pick out cells with some property (FiLM modulates every cell of
    a feature map). Given a pooled picture, it modulates that one vector.
    """

    def __init__(self, dims: dict[str, int], hidden: int = 64, condition: str = "text") -> None:
        super().__init__(dims)
        if len(self.dims) != 2 or condition not in self.dims:
            raise ValueError(f"FiLM fuses two modalities, one of them {condition!r}: {list(dims)}")
        self.condition = condition
        self.modulated = next(name for name in self.dims if name != condition)
        self.film = nn.Linear(self.dims[condition], 2 * hidden)
        self.project = nn.Linear(self.dims[self.modulated], hidden)
        self.output_dim = hidden

    def forward(self, features: Features) -> torch.Tensor:
        self.present(features)
        condition = pooled(features[self.condition])  # (B, D_text)
        gamma, beta = self.film(condition).chunk(2, dim=-1)  # (B, hidden) each
        cells, mask = tokens(features[self.modulated])  # (B, N, D)
        h = F.relu(gamma.unsqueeze(1) * self.project(cells) + beta.unsqueeze(1))  # (B, N, hidden)
        return masked_mean(h, mask)  # (B, hidden)


@register("bilinear", "factorised bilinear pooling (MFB): elementwise product of two projections",
          "Yu et al. 2017 (MFB); Kim et al. 2017 (MLB); the MMF bilinear fusions")
class BilinearFusion(Fusion):
    """Multi-modal factorised bilinear pooling (MFB) of two modalities.

        joint = (U x_image) * (V x_text)          (B, hidden * k)  products of projected features
        out   = sum over the k factors of joint   (B, hidden)      a rank-k bilinear form each
        out   = sign(out) sqrt(|out|), L2-normalised           (MFB's power and L2 normalisation)

    With k = 1 and tanh before the product this is MLB (Kim et al. 2017).
    """

    def __init__(self, dims: dict[str, int], hidden: int = 64, factors: int = 4) -> None:
        super().__init__(dims)
        if len(self.dims) != 2:
            raise ValueError(f"bilinear pooling fuses two modalities, got {list(self.dims)}")
        self.project = projections(self.dims, hidden * factors)
        self.factors = factors
        self.output_dim = hidden

    def forward(self, features: Features) -> torch.Tensor:
        self.present(features)
        first, second = (self.project[name](pooled(features[name])) for name in self.dims)
        joint = (first * second).view(len(first), self.output_dim, self.factors)  # (B, hidden, k)
        joint = joint.sum(dim=-1)  # (B, hidden)
        joint = torch.sign(joint) * torch.sqrt(joint.abs() + 1e-8)  # power normalisation
        return F.normalize(joint, dim=-1) * self.output_dim ** 0.5  # (B, hidden), unit RMS


@register("tensor", "tensor fusion: the outer product of [x, 1] for each modality",
          "Zadeh et al. 2017, 'Tensor Fusion Network for Multimodal Sentiment Analysis'")
class TensorFusion(Fusion):
    """Tensor Fusion Network (TFN): every product of one feature from each modality.

        z_m = [ReLU(W_m x_m), 1]                (B, r + 1) per modality, r small
        out = flatten(z_image (outer) z_text)   (B, (r + 1) ** M)

    The appended 1 keeps the unimodal features (z_m times 1) next to all the bimodal products.
    The size grows as (r + 1) ** M, so each modality is first projected to r = `rank_dim` features.
    """

    def __init__(self, dims: dict[str, int], hidden: int = 64, rank_dim: int = 16) -> None:
        super().__init__(dims)
        self.project = projections(self.dims, rank_dim)
        self.output_dim = (rank_dim + 1) ** len(self.dims)

    def forward(self, features: Features) -> torch.Tensor:
        self.present(features)
        fused = None
        for name in self.dims:
            z = F.relu(self.project[name](pooled(features[name])))  # (B, r)
            z = torch.cat([z, torch.ones_like(z[:, :1])], dim=-1)  # (B, r + 1)
            fused = z if fused is None else torch.einsum("bi,bj->bij", fused, z).flatten(1)
        return fused  # (B, (r + 1) ** M)


@register("low_rank", "low-rank multimodal fusion (LMF): a rank-r version of the tensor product",
          "Liu et al. 2018, 'Efficient Low-rank Multimodal Fusion with Modality-Specific Factors'")
class LowRankFusion(Fusion):
    """Low-rank Multimodal Fusion (LMF): a linear layer on the outer product, with a rank-r weight.

        z_m = [x_m, 1] @ W_m                    (B, rank, hidden) per modality: r factors each
        out = sum over rank of prod_m z_m       (B, hidden)

    A linear layer on the outer product of the [x_m, 1] has one weight per pair of features. LMF
    *constrains* that weight tensor to rank r, which makes it cheap (no outer product is ever
    built) at the price of expressiveness: it approximates a full tensor layer, it is not the same.
    """

    def __init__(self, dims: dict[str, int], hidden: int = 64, rank: int = 4) -> None:
        super().__init__(dims)
        self.factors = nn.ParameterDict({
            name: nn.Parameter(torch.randn(rank, dim + 1, hidden) * (dim + 1) ** -0.5)
            for name, dim in self.dims.items()})
        self.output_dim = hidden

    def forward(self, features: Features) -> torch.Tensor:
        self.present(features)
        fused = None
        for name in self.dims:
            x = pooled(features[name])  # (B, D)
            x = torch.cat([x, torch.ones_like(x[:, :1])], dim=-1)  # (B, D + 1)
            z = torch.einsum("bd,rdh->brh", x, self.factors[name])  # (B, rank, hidden)
            fused = z if fused is None else fused * z
        return fused.sum(dim=1)  # (B, hidden)


# ---------------------------------------------------------------------------------------------
# Token-level fusion


@register("early", "single stream: image cells and words in one shared Transformer layer",
          "Li et al. 2019, 'VisualBERT'; Kiela et al. 2019, 'Supervised Multimodal Bitransformers'")
class EarlyFusion(Fusion):
    """Early fusion, single stream: one Transformer reads the tokens of both modalities together.

        [CLS] + (image cells + e_image) + (words + e_text) -> self-attention -> [CLS] (B, hidden)

    `e_image` and `e_text` are learned modality ("segment") embeddings, so attention knows which
    token came from where. Every token can attend to every other, across modalities, from the
    first layer on. VisualBERT reads region features; like MMBT, which pools a ResNet's grid into
    a few tokens, this one averages a square grid of cells into `grid` x `grid` regions (8 x 8
    cells -> 4 x 4 regions of 16 x 16 px): 16 image tokens instead of 64, a few times faster.
    With one layer the [CLS] query is a constant and cannot ask about the caption, so it takes two.
    """

    def __init__(self, dims: dict[str, int], hidden: int = 64, num_heads: int = 4,
                 num_layers: int = 2, grid: int = 4) -> None:
        super().__init__(dims)
        self.grid = grid
        self.project = projections(self.dims, hidden)
        self.segment = nn.Embedding(len(self.dims), hidden)  # one embedding per modality
        self.cls = nn.Parameter(torch.zeros(1, 1, hidden))
        layer = nn.TransformerEncoderLayer(hidden, num_heads, dim_feedforward=2 * hidden,
                                           dropout=0.0, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden)
        self.output_dim = hidden

    def forward(self, features: Features) -> torch.Tensor:
        self.present(features)
        parts, real = [], []
        for index, name in enumerate(self.dims):
            x, mask = tokens(features[name])  # (B, N, D), (B, N) or None
            x = self.regions(x) if mask is None else x  # cells pooled; words are not
            parts.append(self.project[name](x) + self.segment.weight[index])  # (B, N, hidden)
            real.append(mask if mask is not None else x.new_ones(x.shape[:2], dtype=torch.bool))
        x = torch.cat(parts, dim=1)  # (B, N_image + N_text, hidden)
        B = x.shape[0]
        x = torch.cat([self.cls.expand(B, -1, -1), x], dim=1)  # (B, 1 + N, hidden)
        real = torch.cat([x.new_ones(B, 1, dtype=torch.bool), *real], dim=1)  # (B, 1 + N)
        x = self.blocks(x, src_key_padding_mask=~real)  # (B, 1 + N, hidden); True = padding
        return self.norm(x[:, 0])  # (B, hidden): the [CLS] token

    def regions(self, cells: torch.Tensor) -> torch.Tensor:
        """A square grid of cells (B, side * side, D) averaged into (B, grid * grid, D) regions."""
        B, N, D = cells.shape
        side = round(N ** 0.5)
        if side * side != N or side <= self.grid:
            return cells  # not a square grid, or small enough already
        square = cells.transpose(1, 2).reshape(B, D, side, side)  # (B, D, side, side)
        return F.adaptive_avg_pool2d(square, self.grid).flatten(2).transpose(1, 2)  # (B, grid^2, D)


@register("cross_attention",
          "co-attention: the caption attends to image cells, the picture to words",
          "after Lu et al. 2019, 'ViLBERT' (co-attention); Lu et al. 2016 (co-attention)")
class CrossAttentionFusion(Fusion):
    """Co-attention between the two streams, one layer of it, in the spirit of ViLBERT.

        t = W_q summary of the caption, i = W_q summary of the picture    (B, hidden) each
        v = attention(query=t, keys/values=image tokens)   (B, hidden): the caption looks at cells
        w = attention(query=i, keys/values=word tokens)    (B, hidden): the picture looks at words
        out = [i, w, i * w, t, v, t * v]                   (B, 6 * hidden), image block first

    Attention keeps *where*: the caption "red circle" can pick out the cells that are both red and
    round, which an average of the cells has lost. The products compare each summary with what
    it found (ViLBERT multiplies its [CLS] and [IMG] outputs to score a match). ViLBERT itself
    stacks many multi-head layers over every token of both streams; this is one single-head
    layer with one query per stream. `weights` keeps the last attention maps, for drawing.
    """

    def __init__(self, dims: dict[str, int], hidden: int = 64) -> None:
        super().__init__(dims)
        if len(self.dims) != 2:
            raise ValueError(f"co-attention fuses two modalities, got {list(self.dims)}")
        self.query, self.key, self.value = (projections(self.dims, hidden) for _ in range(3))
        self.output_dim = 6 * hidden
        self.weights: dict[str, torch.Tensor] = {}  # modality looked at -> (B, N) attention

    def forward(self, features: Features) -> torch.Tensor:
        self.present(features)
        parts = []
        for name, other in zip(self.dims, reversed(self.dims)):  # image looks at text, then back
            summary = self.query[name](pooled(features[name]))  # (B, hidden)
            x, mask = tokens(features[other])  # (B, N, D): the other stream's tokens
            keys, values = self.key[other](x), self.value[other](x)  # (B, N, hidden) each
            scores = torch.einsum("bh,bnh->bn", summary, keys) / keys.shape[-1] ** 0.5  # (B, N)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))  # padding gets no attention
            self.weights[other] = scores.softmax(dim=-1)  # (B, N)
            seen = torch.einsum("bn,bnh->bh", self.weights[other], values)  # (B, hidden)
            parts += [summary, seen, summary * seen]
        return torch.cat(parts, dim=-1)  # (B, 6 * hidden)
