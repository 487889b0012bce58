"""Fusion: every well-known way to combine modalities, behind one interface and one registry.

The interface (the same idea as TorchMultimodal's fusion modules):

    fusion(features: dict[str, Tensor]) -> Tensor (B, fusion.output_dim)

- `features["image"]`, `features["text"]`, ...: one entry per modality, either a pooled vector
  (B, D) or a token sequence (B, N, D). A token sequence may come with a mask,
  `features["text_mask"]` (B, N) bool, True where a token is real (False = padding).
- Each module is built with `dims`, the feature size D of every modality it fuses, and knows its
  `output_dim`. Modules that need tokens treat a pooled vector as a sequence of one token;
  modules that need vectors average a token sequence over its real tokens.
- `outputs_logits`: True for decision-level fusions (late, hybrid), whose output already is the
  class scores; a classifier puts a small MLP head on every other fusion's output.
- `handles_missing`: True when a modality may be left out of the dict at test time (the model is
  then told which one is absent, and uses the others). Other modules need every modality.

The strategies, from the simplest to the most expressive (`FUSIONS` is the registry):

    late            each modality -> its own classifier; average the logits   (MMF HM baseline)
    hybrid          late fusion plus a joint classifier on the concatenation  (Atrey et al. 2010)
    concat          project each modality, concatenate                         (the classic recipe)
    attention_sum   softmax weight per modality, weighted sum                  (TorchMultimodal)
    gmu             gated multimodal unit: a learned gate mixes the modalities (Arevalo 2017)
    film            text predicts a scale and shift for the image features     (Perez 2018, FiLM)
    bilinear        factorised bilinear pooling, MFB                           (Yu 2017; MLB: Kim 2017)
    tensor          outer product of [x_image, 1] and [x_text, 1]              (Zadeh 2017, TFN)
    low_rank        the same outer product in low-rank factors                 (Liu 2018, LMF)
    early           image and word tokens in one shared Transformer            (VisualBERT, Li 2019)
    cross_attention co-attention: each stream's summary attends to the other   (ViLBERT, Lu 2019)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmlab.encoders import masked_mean
from mmlab.errors import MmlabError

Features = dict[str, torch.Tensor]


# ---------------------------------------------------------------------------------------------
# Reading the features dict


def modality_names(features: Features) -> list[str]:
    """The modalities present in `features`, sorted: every key that is not a `<name>_mask`."""
    return sorted(key for key in features if not key.endswith("_mask"))


def as_pooled(features: Features, name: str) -> torch.Tensor:
    """Modality `name` as one vector per example: (B, D) as is, (B, N, D) averaged over real tokens."""
    x = features[name]
    if x.dim() == 2:
        return x  # (B, D)
    return masked_mean(x, features.get(f"{name}_mask"))  # (B, D)


def as_tokens(features: Features, name: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Modality `name` as a token sequence and its mask: (B, N, D) as is, (B, D) as one token."""
    x = features[name]
    if x.dim() == 2:
        return x.unsqueeze(1), None  # (B, 1, D), the one token is real
    return x, features.get(f"{name}_mask")  # (B, N, D), (B, N) or None


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
        """The modalities of `self.dims` found in `features`; all of them unless `handles_missing`."""
        names = [name for name in self.dims if name in features]
        if not names or (len(names) < len(self.dims) and not self.handles_missing):
            raise KeyError(f"{type(self).__name__} needs features {list(self.dims)}, got {modality_names(features)}")
        return names


def mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    """Linear -> ReLU -> Linear: the small network used for per-modality heads."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))


# ---------------------------------------------------------------------------------------------
# The registry


@dataclass(frozen=True)
class FusionSpec:
    """One registered strategy: how to build it, what it is, what it reads."""

    name: str
    make: Callable[..., Fusion]
    description: str  # one line, shown by `mmlab fusions`
    source: str  # the paper or project it comes from
    inputs: str  # what `mmlab.compare` feeds it: "pooled", "tokens" or "words" (see mmlab.tokens.SplitFeatures)


FUSIONS: dict[str, FusionSpec] = {}


def register(name: str, description: str, source: str, inputs: str = "pooled") -> Callable[[type], type]:
    """Class decorator: add a fusion module to `FUSIONS` under `name`."""

    def add(cls: type) -> type:
        FUSIONS[name] = FusionSpec(name, cls, description, source, inputs)
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


@register("late", "one classifier per modality, logits averaged (cannot model interactions)",
          "Kiela et al. 2020, the MMF Hateful Memes 'Late Fusion' baseline")
class LateFusion(Fusion):
    """Late fusion: each modality decides alone; the decisions are averaged.

        image -> MLP -> logits_image ─┐
                                      ├─> mean -> logits
        text  -> MLP -> logits_text  ─┘

    The score is a *sum* of one function of the image and one of the text, so it cannot express
    "picture and caption disagree" (an XOR): of the 4 mood combinations, at most 3 come out right.
    Robust to a missing modality: leave it out of the dict and the others decide.
    """

    outputs_logits = True
    handles_missing = True

    def __init__(self, dims: dict[str, int], hidden: int = 64, num_classes: int = 2,
                 modality_dropout: float = 0.5) -> None:
        super().__init__(dims)
        self.heads = nn.ModuleDict({name: mlp(dim, hidden, num_classes) for name, dim in self.dims.items()})
        self.modality_dropout = modality_dropout
        self.output_dim = num_classes

    def forward(self, features: Features) -> torch.Tensor:
        logits = torch.stack([self.heads[name](as_pooled(features, name)) for name in self.present(features)], dim=1)  # (B, M, C)
        if not self.training or self.modality_dropout == 0 or logits.shape[1] == 1:
            return logits.mean(dim=1)  # (B, C)
        # Modality dropout (ModDrop, Neverova et al. 2016): some training examples keep the vote of
        # one random modality only, so each head learns to decide alone, as it must when the other
        # modality is missing. Without it, the head of the easier modality does all the work.
        B, M, _ = logits.shape
        alone = torch.rand(B, 1, device=logits.device) < self.modality_dropout  # (B, 1)
        chosen = F.one_hot(torch.randint(M, (B,), device=logits.device), M).bool()  # (B, M)
        keep = (~alone | chosen).unsqueeze(-1).to(logits.dtype)  # (B, M, 1)
        return (logits * keep).sum(dim=1) / keep.sum(dim=1)  # (B, C)


@register("hybrid", "late fusion plus a joint classifier on the concatenated features",
          "Atrey et al. 2010, 'Multimodal fusion for multimedia analysis: a survey' (hybrid fusion)")
class HybridFusion(Fusion):
    """Hybrid fusion: per-modality decisions and a mid-level joint decision, averaged.

        image ─> MLP ───────────────> logits_image ─┐
          └──────┐                                  │
                 ├─> concat -> MLP -> logits_joint ─┼─> mean -> logits
          ┌──────┘                                  │
        text  ─> MLP ───────────────> logits_text  ─┘

    The joint classifier can model interactions; the unimodal ones keep working when a modality is
    missing (then the joint classifier, which needs both, is left out too).
    """

    outputs_logits = True
    handles_missing = True

    def __init__(self, dims: dict[str, int], hidden: int = 64, num_classes: int = 2) -> None:
        super().__init__(dims)
        self.heads = nn.ModuleDict({name: mlp(dim, hidden, num_classes) for name, dim in self.dims.items()})
        self.joint = mlp(sum(self.dims.values()), hidden, num_classes)
        self.output_dim = num_classes

    def forward(self, features: Features) -> torch.Tensor:
        names = self.present(features)
        pooled = {name: as_pooled(features, name) for name in names}  # each (B, D_name)
        logits = [self.heads[name](x) for name, x in pooled.items()]  # each (B, C)
        if len(names) == len(self.dims):
            logits.append(self.joint(torch.cat(list(pooled.values()), dim=-1)))  # (B, C)
        return torch.stack(logits).mean(dim=0)  # (B, C)


# ---------------------------------------------------------------------------------------------
# Feature-level fusion of pooled vectors


@register("concat", "mid-level concatenation of projected features (the classic meme recipe)",
          "Kiela et al. 2020 (Concat BoW/BERT); the DrivenData Hateful Memes benchmark")
class ConcatFusion(Fusion):
    """Mid-level concatenation: project each modality, concatenate.

        image -> Linear -> ReLU ─┐
                                 ├─> [image ; text]  (B, 2 * hidden)
        text  -> Linear -> ReLU ─┘

    With an MLP head on top, any interaction of the two can be learned.
    """

    def __init__(self, dims: dict[str, int], hidden: int = 64) -> None:
        super().__init__(dims)
        self.project = nn.ModuleDict({name: nn.Linear(dim, hidden) for name, dim in self.dims.items()})
        self.output_dim = hidden * len(self.dims)

    def forward(self, features: Features) -> torch.Tensor:
        self.present(features)
        parts = [F.relu(self.project[name](as_pooled(features, name))) for name in self.dims]  # each (B, hidden)
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
        self.project = nn.ModuleDict({name: nn.Linear(dim, hidden) for name, dim in self.dims.items()})
        self.score = nn.Linear(hidden, 1, bias=False)
        self.output_dim = hidden

    def forward(self, features: Features) -> torch.Tensor:
        names = self.present(features)
        projected = torch.stack([self.project[name](as_pooled(features, name)) for name in names], dim=1)  # (B, M, hidden)
        weights = self.score(torch.tanh(projected)).softmax(dim=1)  # (B, M, 1)
        return (weights * projected).sum(dim=1)  # (B, hidden)


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
        self.project = nn.ModuleDict({name: nn.Linear(dim, hidden) for name, dim in self.dims.items()})
        self.gate = nn.Linear(sum(self.dims.values()), len(self.dims) * hidden)
        self.output_dim = hidden

    def forward(self, features: Features) -> torch.Tensor:
        self.present(features)
        pooled = [as_pooled(features, name) for name in self.dims]  # each (B, D_m)
        h = torch.stack([torch.tanh(self.project[name](x)) for name, x in zip(self.dims, pooled)], dim=1)  # (B, M, hidden)
        B, M, H = h.shape
        z = self.gate(torch.cat(pooled, dim=-1)).view(B, M, H).softmax(dim=1)  # (B, M, hidden)
        return (z * h).sum(dim=1)  # (B, hidden)


@register("film", "feature-wise linear modulation: the text scales and shifts the image features",
          "Perez et al. 2018, 'FiLM: Visual Reasoning with a General Conditioning Layer'")
class FiLMFusion(Fusion):
    """FiLM: one modality (the text) conditions the other (the image).

        gamma, beta = Linear(x_text)                      (B, hidden) each
        out = ReLU(gamma * (W x_image) + beta)            (B, hidden)

    The product gamma * (W x_image) is a multiplicative interaction. Given image *tokens*, every
    token is modulated and then the tokens are averaged, as FiLM modulates every cell of a
    feature map.
    """

    def __init__(self, dims: dict[str, int], hidden: int = 64, condition: str = "text") -> None:
        super().__init__(dims)
        if len(self.dims) != 2 or condition not in self.dims:
            raise ValueError(f"FiLM fuses two modalities, one of them {condition!r}; got {list(self.dims)}")
        self.condition = condition
        self.modulated = next(name for name in self.dims if name != condition)
        self.film = nn.Linear(self.dims[condition], 2 * hidden)
        self.project = nn.Linear(self.dims[self.modulated], hidden)
        self.output_dim = hidden

    def forward(self, features: Features) -> torch.Tensor:
        self.present(features)
        gamma, beta = self.film(as_pooled(features, self.condition)).chunk(2, dim=-1)  # (B, hidden) each
        tokens, mask = as_tokens(features, self.modulated)  # (B, N, D)
        modulated = F.relu(gamma.unsqueeze(1) * self.project(tokens) + beta.unsqueeze(1))  # (B, N, hidden)
        return masked_mean(modulated, mask)  # (B, hidden)


@register("bilinear", "factorised bilinear pooling (MFB): elementwise product of two projections",
          "Yu et al. 2017 (MFB); Kim et al. 2017 (MLB); the MMF bilinear fusions")
class BilinearFusion(Fusion):
    """Multi-modal factorised bilinear pooling (MFB) of two modalities.

        joint = (U x_image) * (V x_text)                  (B, hidden * k)  every pair of features multiplied
        out   = sum over the k factors of joint           (B, hidden)      a rank-k bilinear form per output
        out   = sign(out) sqrt(|out|), then L2-normalised (MFB's power and L2 normalisation)

    With k = 1 and tanh before the product this is MLB (Kim et al. 2017).
    """

    def __init__(self, dims: dict[str, int], hidden: int = 64, factors: int = 4) -> None:
        super().__init__(dims)
        if len(self.dims) != 2:
            raise ValueError(f"bilinear pooling fuses two modalities, got {list(self.dims)}")
        self.project = nn.ModuleDict({name: nn.Linear(dim, hidden * factors) for name, dim in self.dims.items()})
        self.factors = factors
        self.output_dim = hidden

    def forward(self, features: Features) -> torch.Tensor:
        self.present(features)
        first, second = (self.project[name](as_pooled(features, name)) for name in self.dims)  # (B, hidden * k) each
        joint = (first * second).view(len(first), self.output_dim, self.factors).sum(dim=-1)  # (B, hidden)
        joint = torch.sign(joint) * torch.sqrt(joint.abs() + 1e-8)  # power normalisation
        return F.normalize(joint, dim=-1) * self.output_dim ** 0.5  # (B, hidden), unit RMS per feature


@register("tensor", "tensor fusion: the outer product of [x, 1] for each modality",
          "Zadeh et al. 2017, 'Tensor Fusion Network for Multimodal Sentiment Analysis'")
class TensorFusion(Fusion):
    """Tensor Fusion Network (TFN): every product of one feature from each modality.

        z_m = [ReLU(W_m x_m), 1]                (B, r + 1) per modality, r small
        out = flatten(z_image (outer) z_text)   (B, (r + 1) ** M)

    The appended 1 keeps the unimodal features (z_m times 1) next to all bimodal products.
    The size grows as (r + 1) ** M, so each modality is first projected to r = `rank_dim` features.
    """

    def __init__(self, dims: dict[str, int], hidden: int = 64, rank_dim: int = 16) -> None:
        super().__init__(dims)
        self.project = nn.ModuleDict({name: nn.Linear(dim, rank_dim) for name, dim in self.dims.items()})
        self.output_dim = (rank_dim + 1) ** len(self.dims)

    def forward(self, features: Features) -> torch.Tensor:
        self.present(features)
        fused = None
        for name in self.dims:
            z = F.relu(self.project[name](as_pooled(features, name)))  # (B, r)
            z = torch.cat([z, torch.ones_like(z[:, :1])], dim=-1)  # (B, r + 1)
            fused = z if fused is None else torch.einsum("bi,bj->bij", fused, z).flatten(1)  # (B, prod)
        return fused  # (B, (r + 1) ** M)


@register("low_rank", "low-rank tensor fusion (LMF): the tensor product computed in rank-r factors",
          "Liu et al. 2018, 'Efficient Low-rank Multimodal Fusion with Modality-Specific Factors'")
class LowRankFusion(Fusion):
    """Low-rank Multimodal Fusion (LMF): TFN's output without building the outer product.

        z_m = [x_m, 1] @ W_m                    (B, rank, hidden) per modality: r factors each
        out = sum over rank of prod_m z_m       (B, hidden)

    A linear layer on TFN's outer product whose weight tensor has rank r equals this product of
    per-modality factors, with far fewer parameters.
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
            x = as_pooled(features, name)  # (B, D)
            x = torch.cat([x, torch.ones_like(x[:, :1])], dim=-1)  # (B, D + 1)
            z = torch.einsum("bd,rdh->brh", x, self.factors[name])  # (B, rank, hidden)
            fused = z if fused is None else fused * z
        return fused.sum(dim=1)  # (B, hidden)


# ---------------------------------------------------------------------------------------------
# Token-level fusion


def _joint_tokens(features: Features, dims: dict[str, int], project: nn.ModuleDict,
                  kind: nn.Embedding) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Each modality's tokens projected to a shared size plus a learned modality embedding, and masks."""
    tokens, masks = [], []
    for index, name in enumerate(dims):
        x, mask = as_tokens(features, name)  # (B, N, D), (B, N) or None
        x = project[name](x) + kind.weight[index]  # (B, N, hidden)
        tokens.append(x)
        masks.append(mask if mask is not None else torch.ones(x.shape[:2], dtype=torch.bool, device=x.device))
    return tokens, masks


@register("early", "single-stream: image and word tokens in one shared Transformer layer",
          "Li et al. 2019, 'VisualBERT'; Kiela et al. 2019, 'Supervised Multimodal Bitransformers' (MMBT)",
          inputs="words")
class EarlyFusion(Fusion):
    """Early fusion, single stream (VisualBERT): one Transformer reads all tokens together.

        [CLS] + (image tokens + e_image) + (word tokens + e_text) -> self-attention -> [CLS] (B, hidden)

    `e_image`, `e_text` are learned modality ("segment") embeddings, so attention knows which
    token came from where. Every token can attend to every other, across modalities, from the
    first layer on. Any number of image tokens works: VisualBERT reads region features, MMBT
    one to nine pooled grid features; `mmlab.compare` gives it the pooled picture as one token
    (the 64 grid cells would make it the slowest strategy by far on a CPU).
    """

    def __init__(self, dims: dict[str, int], hidden: int = 64, num_heads: int = 4, num_layers: int = 1) -> None:
        super().__init__(dims)
        self.project = nn.ModuleDict({name: nn.Linear(dim, hidden) for name, dim in self.dims.items()})
        self.kind = nn.Embedding(len(self.dims), hidden)  # one "segment" embedding per modality
        self.cls = nn.Parameter(torch.zeros(1, 1, hidden))
        layer = nn.TransformerEncoderLayer(hidden, num_heads, dim_feedforward=2 * hidden, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden)
        self.output_dim = hidden

    def forward(self, features: Features) -> torch.Tensor:
        self.present(features)
        tokens, masks = _joint_tokens(features, self.dims, self.project, self.kind)
        B = tokens[0].shape[0]
        x = torch.cat([self.cls.expand(B, -1, -1), *tokens], dim=1)  # (B, 1 + N_image + N_text, hidden)
        real = torch.cat([torch.ones(B, 1, dtype=torch.bool, device=x.device), *masks], dim=1)  # (B, 1 + N)
        x = self.blocks(x, src_key_padding_mask=~real)  # (B, 1 + N, hidden)
        return self.norm(x[:, 0])  # (B, hidden): the [CLS] token


@register("cross_attention", "co-attention: the caption attends to image regions, the picture to words",
          "Lu et al. 2019, 'ViLBERT' (co-attention, [CLS] x [IMG] alignment); Lu et al. 2016 (co-attention)",
          inputs="tokens")
class CrossAttentionFusion(Fusion):
    """Cross-modal co-attention between the two streams, with ViLBERT's summary tokens.

        t = mean of the word tokens, i = mean of the image tokens      (B, hidden)   the [CLS], [IMG] summaries
        v = Attention(query=t, keys/values=image tokens)               (B, hidden)   the caption looks at regions
        w = Attention(query=i, keys/values=word tokens)                (B, hidden)   the picture looks at words
        out = [t, v, t * v, i, w, i * w]                               (B, 6 * hidden)

    The products t * v and i * w are ViLBERT's alignment features (it multiplies its [CLS] and
    [IMG] outputs to decide whether caption and picture match). Attention keeps *where*: the
    caption "red circle" picks out the cells that are both red and round, which averaged
    (pooled) features have lost. ViLBERT stacks several multi-head layers, with feed-forward
    blocks, over every token of both streams; one single-head layer with summary queries keeps
    this one fast.
    """

    def __init__(self, dims: dict[str, int], hidden: int = 64) -> None:
        super().__init__(dims)
        if len(self.dims) != 2:
            raise ValueError(f"co-attention fuses two modalities, got {list(self.dims)}")
        self.query = nn.ModuleDict({name: nn.Linear(dim, hidden) for name, dim in self.dims.items()})
        self.key = nn.ModuleDict({name: nn.Linear(dim, hidden) for name, dim in self.dims.items()})
        self.value = nn.ModuleDict({name: nn.Linear(dim, hidden) for name, dim in self.dims.items()})
        self.output_dim = 6 * hidden

    def forward(self, features: Features) -> torch.Tensor:
        self.present(features)
        parts = []
        for name, other in zip(self.dims, reversed(self.dims)):
            summary = self.query[name](as_pooled(features, name))  # (B, hidden): the stream's [CLS] / [IMG]
            tokens, mask = as_tokens(features, other)  # (B, N, D) of the other stream
            keys, values = self.key[other](tokens), self.value[other](tokens)  # (B, N, hidden) each
            scores = torch.einsum("bh,bnh->bn", summary, keys) / keys.shape[-1] ** 0.5  # (B, N)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))  # padding gets no attention
            seen = torch.einsum("bn,bnh->bh", scores.softmax(dim=-1), values)  # (B, hidden)
            parts += [summary, seen, summary * seen]
        return torch.cat(parts, dim=-1)  # (B, 6 * hidden)
