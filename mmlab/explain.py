"""Explaining multimodal models, and scoring the explanations against the truth (notebook 06).

On real memes nobody can say whether an explanation is *right*: nothing records why a label holds.
SynthMemes rows do (`reason`, the deciding caption words `cue_positions`, the deciding icon's
`icon_box`), so every explanation here gets a score:

- **EMAP** (Hessel and Lee 2020; notebook 03 and notebook 06, section 4): does the model use the
  interaction of its modalities at all?

      f(t, v)          the model's score (logit of label 1 minus logit of label 0) for caption t
                       and picture v
      f_hat(t_i, v_i) = mean_j f(t_i, v_j) + mean_j f(t_j, v_i) - mean_jk f(t_j, v_k)

  `f_hat` is the best *additive* approximation of f on these examples: one function of the
  caption plus one of the picture. If f_hat scores as well as f, the model's cross-modal
  interactions do not matter for its predictions; the gap between the two measures how much they
  do. It costs N x N model evaluations, so it runs on a sample of N examples.
- **Inputs, not features** (section 2): a trained head reads standardised features. `FeatureMaker`
  redoes what `mmlab.experiment.prepare` did (frozen icon encoder, fastText, the training split's
  statistics), and `explainable` puts the encoders back in front of the head, so that gradients
  reach the picture's 8 x 8 cells and the caption's words, and noisy, blank or watermarked
  inputs are encoded exactly as the clean ones were.
- **Grad-CAM** (Selvaraju et al. 2017) on the image encoder's cells, scored by the **pointing
  game** (Zhang et al. 2016): does the map's peak fall on the deciding icon? (section 2)
- **Word attributions** (section 3): occlusion (replace one word by an average word, see how the
  score moves; Zeiler and Fergus 2014) and integrated gradients (Sundararajan et al. 2017),
  scored by **hit@k**: is a deciding word among the k words with the largest attribution?
  Scored against a random ranking and against the same model with random weights (the
  randomisation check of Adebayo et al. 2018, `randomised`), as the pointing game is.
- **Perceptual score** (Gat et al. 2021, section 4): the AUROC (or accuracy) lost when one
  modality is shuffled across the test set, so that it no longer belongs to its example.
- **Robustness** (MultiBench, Liang et al. 2021, section 5): noisy pictures, typos and dropped
  words; the area under the performance-noise curve (relative robustness) and the area between
  the curve and late fusion's shifted to the same clean performance (effective robustness);
  missing modalities, zeroed, mean-filled or dropped.
- **A planted shortcut** (section 6): a watermark that marks mean memes in training but not at
  test time, the groups it makes, and a mitigation: cover the corner where it sits.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from copy import deepcopy
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image, ImageDraw
from sklearn.metrics import auc

from mmlab.data.drawing import COLORS, draw_shape
from mmlab.data.memes import MemeDataset
from mmlab.data.text import train_fasttext
from mmlab.encoders import EncoderOutput, encode
from mmlab.errors import MmlabError
from mmlab.experiment import Prepared, frozen_image_encoder, score
from mmlab.features import FeatureDataset, Standardizer, meme_features, word_vectors
from mmlab.models import MultimodalClassifier, missing
from mmlab.pretrain import cell_owners
from mmlab.train import make_loader, run_model, scores
from mmlab.utils import to_device

# ---------------------------------------------------------------------------------------------
# EMAP: does the model use the interaction at all?


@torch.no_grad()
def pair_scores(model: nn.Module, data: FeatureDataset, rows: list[int]) -> torch.Tensor:
    """The model's score for every caption paired with every picture: (N, N), [i, j] = f(t_i, v_j).

    `data` holds encoded "image" and "text"; `rows` picks the N examples.
    """
    model.eval()
    device = next(model.parameters()).device
    pictures = data[rows]["image"]  # N pictures
    matrix = []
    for i in rows:
        batch = {"image": pictures, "text": data[[i] * len(rows)]["text"]}  # caption i with every picture
        logits = model(to_device(batch, device))  # (N, 2)
        matrix.append((logits[:, 1] - logits[:, 0]).cpu())
    return torch.stack(matrix)  # (N captions, N pictures)


def additive_projection(matrix: torch.Tensor) -> torch.Tensor:
    """EMAP's f_hat for the N matched pairs: caption mean + picture mean - grand mean, (N,)."""
    by_caption = matrix.mean(dim=1)  # (N,) mean over pictures, for each caption
    by_picture = matrix.mean(dim=0)  # (N,) mean over captions, for each picture
    return by_caption + by_picture - matrix.mean()


def emap(model: nn.Module, data: FeatureDataset, n: int = 200, seed: int = 0) -> dict[str, float]:
    """The model's AUROC and accuracy on `n` labelled examples, and those of its additive projection.

    Returns {"auroc", "auroc_additive", "accuracy", "accuracy_additive"}; a model that uses no
    interaction has auroc == auroc_additive.
    """
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randperm(len(data), generator=generator)[:n].tolist()
    matrix = pair_scores(model, data, rows)  # (n, n)
    labels = data[rows]["label"].numpy()
    full = scores(labels, torch.sigmoid(matrix.diagonal()).numpy())
    additive = scores(labels, torch.sigmoid(additive_projection(matrix)).numpy())
    return {"auroc": full["auroc"], "auroc_additive": additive["auroc"],
            "accuracy": full["accuracy"], "accuracy_additive": additive["accuracy"]}


# ---------------------------------------------------------------------------------------------
# Inputs, not features: the encoders back in front of a trained head

CHUNK = 64  # pictures per pass of the frozen encoder: small passes keep the memory low


class Words(NamedTuple):
    """Captions as fastText word vectors, the input of `CaptionFeatures`."""

    vectors: torch.Tensor  # (B, T, D) fastText's vector of each word, zero at padding
    mask: torch.Tensor  # (B, T) bool, True at real words
    gates: torch.Tensor  # (B, T) float: 1 keeps a word, 0 replaces it by an average word


class ScaledImageEncoder(nn.Module):
    """The frozen image encoder, then `prepare`'s standardisation: pictures -> a head's features."""

    def __init__(self, encoder: nn.Module, pooled: Standardizer, tokens: Standardizer) -> None:
        super().__init__()
        self.encoder = encoder
        self.scale_pooled, self.scale_tokens = pooled, tokens
        self.dim = encoder.dim

    def forward(self, pictures: torch.Tensor) -> EncoderOutput:
        cells = self.encoder(pictures)  # tokens (B, N, D), pooled (B, D)
        return EncoderOutput(self.scale_tokens(cells.tokens), self.scale_pooled(cells.pooled),
                             cells.mask)


class CaptionFeatures(nn.Module):
    """fastText's caption features from word vectors, standardised as `prepare` did.

    Each word can be faded out by its gate, towards an *average word* (the training mean):

        pooled = mean over the n real words of  g_t * v_t / |v_t| + (1 - g_t) * mean_pooled
        tokens = g_t * v_t + (1 - g_t) * mean_token

    With every gate 1 this is fastText's sentence vector (the mean of the unit word vectors) and
    the word vectors; with every gate 0 it is the average caption, all zeros after
    standardisation. Gate 0 for one word replaces it by an average word (occlusion); gates that
    grow from 0 to 1 fade the caption in (integrated gradients).
    """

    def __init__(self, pooled: Standardizer, tokens: Standardizer) -> None:
        super().__init__()
        self.scale_pooled, self.scale_tokens = pooled, tokens

    def forward(self, words: Words) -> EncoderOutput:
        vectors, mask, gates = words  # (B, T, D), (B, T), (B, T)
        gate = (gates * mask).unsqueeze(-1)  # (B, T, 1), zero at padding
        unit = vectors / vectors.norm(dim=-1, keepdim=True).clamp_min(1e-12)  # (B, T, D)
        shares = (self.scale_pooled(unit) * gate).sum(dim=1)  # (B, D): pull away from the mean
        pooled = shares / mask.sum(dim=1, keepdim=True).clamp(min=1)  # (B, D), standardised
        tokens = self.scale_tokens(vectors) * gate  # (B, T, D), standardised, zero at padding
        return EncoderOutput(tokens, pooled, mask)


@dataclass
class FeatureMaker:
    """Turns pictures and captions into the features `prepare` made, for a trained head to read.

    `image` and `text` are the two encoders (modules: put them in front of a head with
    `explainable`); `fasttext` is the word-vector model trained on the training captions;
    `image_size` the picture size the image encoder wants.
    """

    image: ScaledImageEncoder
    text: CaptionFeatures
    fasttext: Any
    image_size: int

    @classmethod
    def of(cls, prepared: Prepared) -> FeatureMaker:
        """The encoders and statistics behind `prepared` (all cached: this takes a second)."""
        encoder, size = frozen_image_encoder(prepared.root, prepared.image_encoder, progress=False)
        splits = tuple(dict.fromkeys(prepared.splits.values()))  # the order `prepare` used
        train = meme_features(prepared.root, splits, encoder, image_size=size,
                              standardised=False)[prepared.splits["train"]]
        real_words = train.text.tokens[train.text.mask]  # (words, D)
        captions = MemeDataset(prepared.root, prepared.splits["train"]).frame["text"]
        fasttext = train_fasttext(list(captions), dim=train.text.pooled.shape[1])
        image = ScaledImageEncoder(encoder.eval(), Standardizer.fit(train.image.pooled),
                                   Standardizer.fit(train.image.tokens.flatten(0, 1)))
        text = CaptionFeatures(Standardizer.fit(train.text.pooled), Standardizer.fit(real_words))
        return cls(image, text, fasttext, size)

    def pictures(self, pictures: torch.Tensor, cells: bool = True) -> EncoderOutput:
        """Features of pictures (N, 3, H, W), as the head was trained on them.

        With `cells=False` only the pooled vector is kept, as the one token (N, 1, D): all that
        fusions of pooled vectors (concat, late) read, in 64 times less memory.
        """
        if cells:
            return encode(self.image, pictures, CHUNK)
        chunks = pictures.split(CHUNK)
        pooled = torch.cat([encode(self.image, chunk).pooled for chunk in chunks])  # (N, D)
        return EncoderOutput(pooled.unsqueeze(1), pooled, None)

    def words(self, texts: Sequence[str]) -> Words:
        """The captions' word vectors, every gate open."""
        vectors, mask = word_vectors(self.fasttext, list(texts))  # (N, T, D), (N, T)
        return Words(vectors, mask, mask.float())

    @torch.no_grad()
    def captions(self, texts: Sequence[str] | Words) -> EncoderOutput:
        """Features of captions (strings, or `Words` with some gates closed)."""
        words = texts if isinstance(texts, Words) else self.words(texts)
        device = self.text.scale_pooled.mean.device
        return to_device(self.text(to_device(words, device)), "cpu")


def join(*datasets: FeatureDataset) -> FeatureDataset:
    """One dataset holding the examples of several (say the seen and the unseen test splits).

    Token sequences of different lengths are padded with zeros to the longest (and masked out).
    """
    entries = {}
    for key, first in datasets[0].entries.items():
        values = [data.entries[key] for data in datasets]
        if isinstance(first, list):
            entries[key] = [item for value in values for item in value]
        elif isinstance(first, EncoderOutput):
            longest = max(value.tokens.shape[1] for value in values)
            tokens = torch.cat([_pad(v.tokens, longest) for v in values])  # (N, T, D)
            mask = None
            if first.mask is not None:
                mask = torch.cat([_pad(v.mask, longest) for v in values])  # (N, T)
            entries[key] = EncoderOutput(tokens, torch.cat([v.pooled for v in values]), mask)
        else:
            entries[key] = torch.cat(values)
    return FeatureDataset(**entries)


def _pad(x: torch.Tensor, length: int) -> torch.Tensor:
    """x (N, T, ...) padded with zeros along T to `length`."""
    return F.pad(x, [0, 0] * (x.dim() - 2) + [0, length - x.shape[1]])


def explainable(net: MultimodalClassifier, maker: FeatureMaker,
                inputs: Sequence[str] = ("image", "text")) -> MultimodalClassifier:
    """`net`'s fusion and head behind the encoders of `inputs`, in eval mode.

    The model then takes pictures (B, 3, H, W) as "image" and `Words` as "text" (the other
    modality, if any, as features). It shares its weights with `net`.
    """
    encoders = {"image": maker.image, "text": maker.text}
    model = MultimodalClassifier(net.fusion, net.head, encoders={m: encoders[m] for m in inputs})
    return model.to(next(net.parameters()).device).eval()


def mean_score(model: nn.Module, batch: dict) -> torch.Tensor:
    """The model's score for "mean": logit of label 1 minus logit of label 0, (B,)."""
    logits = model(batch)  # (B, 2)
    return logits[:, 1] - logits[:, 0]


def randomised(model: MultimodalClassifier, seed: int = 0,
               encoders: bool = False) -> MultimodalClassifier:
    """A copy of `model` with fresh random weights in its fusion and head, and in its encoders
    too when `encoders` is True: the model randomisation test of Adebayo et al. 2018.

    An explanation that looks the same for this model as for the trained one does not explain
    what the training taught. (The standardisation statistics are data, not weights: they stay.)
    """
    copy = deepcopy(model)
    parts = [copy.fusion, copy.head, *(copy.encoders.values() if encoders else [])]
    with torch.random.fork_rng():  # the caller's random numbers stay as they were
        torch.manual_seed(seed)
        for module in (m for part in parts for m in part.modules()):
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    return copy.eval()


# ---------------------------------------------------------------------------------------------
# Grad-CAM and the pointing game


def grad_cam(model: MultimodalClassifier, batch: dict) -> torch.Tensor:
    """Grad-CAM of the score for "mean" on the image encoder's cells: (B, side, side), >= 0.

        A[n, d]   the frozen encoder's cells (B, N, D), before standardisation
        w[d]      = mean over cells of d score / d A[n, d]      how much feature d pushes to "mean"
        cam[n]    = ReLU(sum over d of w[d] * A[n, d])          where those features are

    `model` comes from `explainable` (pictures in). The gradient starts at the cells: the frozen
    encoder runs without one (in chunks, `mmlab.encoders.encode`), and its pooled vector is
    their mean (as in `SmallCNN`).
    """
    model.eval()
    device = next(model.parameters()).device
    scaled = model.encoders["image"]  # a ScaledImageEncoder: the frozen encoder, then the scaling
    cells = encode(scaled.encoder, batch["image"], CHUNK).tokens  # (B, N, D)
    cells = cells.to(device).requires_grad_()
    batch = to_device(batch, device)
    image = EncoderOutput(scaled.scale_tokens(cells), scaled.scale_pooled(cells.mean(dim=1)), None)
    others = model.features({name: x for name, x in batch.items() if name != "image"})
    logits = model.head(model.fusion({**others, "image": image}))  # (B, 2), as model(batch) gives
    gradients, = torch.autograd.grad((logits[:, 1] - logits[:, 0]).sum(), cells)  # (B, N, D)
    weights = gradients.mean(dim=1, keepdim=True)  # (B, 1, D)
    cam = torch.relu((cells * weights).sum(dim=-1))  # (B, N)
    side = math.isqrt(cam.shape[1])
    return cam.detach().view(-1, side, side).cpu()  # (B, side, side)


def box_cells(boxes: Sequence[Sequence[float]], size: int, grid: int) -> torch.Tensor:
    """Which cells of a grid x grid map have their centre inside each box: (B, grid * grid) bool.

    `boxes` are [x0, y0, x1, y1] in pixels of a size x size picture (SynthMemes' `icon_box`).
    """
    return cell_owners([[{"box": box}] for box in boxes], size, grid) == 0


def pointing_game(maps: torch.Tensor, boxes: Sequence[Sequence[float]], size: int) -> torch.Tensor:
    """Whether each map's peak cell lies on its box: (B,) bool. A map that is all zero misses."""
    inside = box_cells(boxes, size, maps.shape[-1])  # (B, cells)
    flat = maps.flatten(1)  # (B, cells)
    peak = flat.argmax(dim=1)  # (B,)
    return inside[torch.arange(len(flat)), peak] & (flat.amax(dim=1) > 0)


def pointing_chance(boxes: Sequence[Sequence[float]], size: int, grid: int) -> torch.Tensor:
    """The pointing game of a map that peaks on a random cell: the box's share of cells, (B,)."""
    return box_cells(boxes, size, grid).float().mean(dim=1)


# ---------------------------------------------------------------------------------------------
# Word attributions and hit@k


def with_gates(batch: dict, gates: torch.Tensor) -> dict:
    """The batch with the caption's gates replaced: (B, T), 1 keeps a word, 0 averages it out."""
    return {**batch, "text": batch["text"]._replace(gates=gates)}


@torch.no_grad()
def word_occlusion(model: nn.Module, batch: dict) -> torch.Tensor:
    """How much the score for "mean" falls when each word becomes an average word: (B, T).

    NaN at padding.

    `model` comes from `explainable(..., inputs=["text"])`; `batch["text"]` is `Words`.
    """
    model.eval()
    words = batch["text"]
    full = mean_score(model, batch)  # (B,)
    drops = []
    for t in range(words.mask.shape[1]):
        gates = words.gates.clone()
        gates[:, t] = 0
        drops.append(full - mean_score(model, with_gates(batch, gates)))  # (B,)
    return torch.stack(drops, dim=1).masked_fill(~words.mask, math.nan)  # (B, T)


def integrated_gradients(model: nn.Module, batch: dict, steps: int = 16) -> torch.Tensor:
    """Integrated gradients of the score for "mean" for each word: (B, T), NaN at padding.

    The path fades every word in together, from the average caption (all gates 0) to the caption
    (all gates 1); each word's attribution is the mean gradient of the score with respect to its
    gate along the path (a midpoint sum of `steps` points). They add up to
    score(caption) - score(average caption): the completeness of integrated gradients.
    """
    model.eval()
    words = batch["text"]
    real = words.mask.float()  # (B, T)
    total = torch.zeros_like(real)
    for k in range(steps):
        gates = ((k + 0.5) / steps * real).requires_grad_()  # (B, T)
        score = mean_score(model, with_gates(batch, gates))  # (B,)
        total += torch.autograd.grad(score.sum(), gates)[0]
    return (total / steps).masked_fill(~words.mask, math.nan)  # (B, T)


def hit_at_k(attributions: torch.Tensor, cue_positions: Sequence[Sequence[int]],
             k: int) -> torch.Tensor:
    """Whether a deciding word is among the k words with the largest attribution: (B,) bool."""
    ranked = attributions.nan_to_num(-math.inf).argsort(dim=1, descending=True)[:, :k]  # (B, k)
    pairs = zip(ranked.tolist(), cue_positions)
    return torch.tensor([bool(set(top) & set(cues)) for top, cues in pairs])  # (B,)


def hit_chance(lengths: Sequence[int], cue_positions: Sequence[Sequence[int]],
               k: int) -> torch.Tensor:
    """hit@k of a random ranking: 1 - C(n - c, k) / C(n, k) for c deciding words of n, (B,)."""
    return torch.tensor([1 - math.comb(n - len(set(cues)), k) / math.comb(n, k) if k <= n else 1.0
                         for n, cues in zip(lengths, cue_positions)])


# ---------------------------------------------------------------------------------------------
# Perceptual score


def shuffled(data: FeatureDataset, modality: str, seed: int = 0) -> FeatureDataset:
    """`data` with `modality` permuted across the examples (every other entry stays in place)."""
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed)).tolist()
    return data.replace(**{modality: data[order][modality]})


def perceptual_scores(net: nn.Module, data: FeatureDataset,
                      modalities: Sequence[str] = ("image", "text"), metric: str = "auroc",
                      repeats: int = 2, seed: int = 0, device: str = "auto") -> dict[str, float]:
    """The `metric` ("auroc" or "accuracy") lost when each modality is shuffled (Gat et al. 2021).

    {modality: the mean loss over `repeats` permutations}. Zero: the model ignores the modality
    (or it is worth nothing on this split). Gat et al. also divide it by the unshuffled metric.
    """
    full = score(net, data, device)[metric]
    lost = {m: [full - score(net, shuffled(data, m, seed + r), device)[metric]
                for r in range(repeats)] for m in modalities}
    return {modality: float(np.mean(values)) for modality, values in lost.items()}


# ---------------------------------------------------------------------------------------------
# Robustness: noise, and missing modalities


def noisy_pictures(pictures: torch.Tensor, std: float, seed: int = 0) -> torch.Tensor:
    """Pictures (N, 3, H, W) uint8 with Gaussian noise of `std` (pixel values in [0, 1]) added."""
    generator = torch.Generator().manual_seed(seed)
    noisy = torch.randn(pictures.shape, generator=generator).mul_(std * 255)  # (N, 3, H, W)
    noisy.add_(pictures)
    return noisy.round_().clamp_(0, 255).to(torch.uint8)


def typos(texts: Sequence[str], rate: float, seed: int = 0) -> list[str]:
    """Each word, with probability `rate`, gets one letter replaced by a random other letter."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"

    def misspell(word: str) -> str:
        i = rng.randrange(len(word))
        return word[:i] + rng.choice(letters.replace(word[i], "")) + word[i + 1:]

    return [" ".join(misspell(w) if rng.random() < rate else w for w in text.split())
            for text in texts]


def drop_words(texts: Sequence[str], rate: float, seed: int = 0) -> list[str]:
    """Each word is left out with probability `rate`; a caption keeps at least one word."""
    rng = random.Random(seed)
    out = []
    for text in texts:
        words = text.split()
        kept = [w for w in words if rng.random() >= rate]
        out.append(" ".join(kept or [rng.choice(words)]))
    return out


def relative_robustness(levels: Sequence[float], performance: Sequence[float]) -> float:
    """MultiBench's relative robustness: the area under performance against noise level.

    The levels are rescaled to [0, 1], so this is the mean performance over the noise range.
    (MultiBench also min-max normalises it across the methods it compares.)
    """
    levels = np.asarray(levels, dtype=float)
    return float(auc((levels - levels[0]) / (levels[-1] - levels[0]), np.asarray(performance)))


def effective_robustness(levels: Sequence[float], performance: Sequence[float],
                         reference: Sequence[float]) -> float:
    """MultiBench's effective robustness: performance above the `reference` (late fusion) curve
    shifted to the same clean performance, as an area over levels rescaled to [0, 1].

    Positive: the model loses less than the reference does as the noise grows.
    """
    performance = np.asarray(performance, dtype=float)
    reference = np.asarray(reference, dtype=float)
    shifted = reference - reference[0] + performance[0]
    return relative_robustness(levels, performance - shifted)


MISSING = ("zeroed", "mean", "dropped")


def missing_modality(data: FeatureDataset, modality: str, how: str,
                     maker: FeatureMaker) -> FeatureDataset:
    """`data` with `modality` missing at test time, in one of three ways (`MISSING`):

    - "zeroed": a blank input, a black picture or a caption whose features are zero, encoded
      and standardised as usual: what a pipeline that fills a missing input with zeros gives;
    - "mean": the training mean of the features (zero after standardisation, as
      `mmlab.models.missing` makes it);
    - "dropped": left out; only fusions that `handles_missing` (late, hybrid, attention_sum) run.
    """
    if how == "mean":
        return data.replace(**{modality: missing(data.entries[modality])})
    if how == "dropped":
        return data.replace(**{modality: None})
    if how != "zeroed":
        raise MmlabError(f"unknown way {how!r} of making a modality missing (fix: choose one of "
                         f"{', '.join(MISSING)})")
    x = data.entries[modality]
    if modality == "image":
        size = maker.image_size
        black = maker.pictures(torch.zeros(1, 3, size, size, dtype=torch.uint8))  # a black picture
        n = len(x.pooled)
        image = EncoderOutput(black.tokens.expand(n, -1, -1), black.pooled.expand(n, -1), None)
        return data.replace(image=image)
    scale = maker.text
    zero = torch.zeros(x.pooled.shape[1], device=scale.scale_pooled.mean.device)  # (D,) no caption
    pooled, token = scale.scale_pooled(zero).cpu(), scale.scale_tokens(zero).cpu()  # (D,) each
    tokens = token.expand_as(x.tokens) * x.mask.unsqueeze(-1)  # (N, T, D), padding stays zero
    return data.replace(text=EncoderOutput(tokens, pooled.expand_as(x.pooled), x.mask))


# ---------------------------------------------------------------------------------------------
# A planted shortcut: a watermark, the groups it makes, and covering it

WATERMARK_BOX = (52, 52, 63, 63)  # [x0, y0, x1, y1] px of a 64 px picture: the bottom-right corner


def stamp(pictures: torch.Tensor, rows: torch.Tensor, patch: torch.Tensor,
          box: Sequence[int] = WATERMARK_BOX) -> torch.Tensor:
    """A copy of `pictures` (N, 3, H, W) uint8, `patch` (3, h, w) pasted into `box` on `rows`."""
    x0, y0, x1, y1 = box
    out = pictures.clone()
    out[rows, :, y0:y1, x0:x1] = patch
    return out


def watermark(pictures: torch.Tensor, marked: torch.Tensor,
              box: Sequence[int] = WATERMARK_BOX) -> torch.Tensor:
    """`pictures` with a small blue cross on white in `box` on the `marked` (N,) rows, drawn with
    the generator's own `draw_shape`, over the caption: a meme site's logo, say."""
    x0, y0, x1, y1 = box
    logo = Image.new("RGB", (x1 - x0, y1 - y0), (255, 255, 255))
    draw_shape(ImageDraw.Draw(logo), "cross", (0, 0, x1 - x0, y1 - y0), COLORS["blue"])
    patch = torch.from_numpy(np.array(logo)).permute(2, 0, 1)  # (3, h, w) uint8
    return stamp(pictures, marked, patch, box)


def cover(pictures: torch.Tensor, box: Sequence[int] = WATERMARK_BOX) -> torch.Tensor:
    """`pictures` with `box` painted white on every row: the watermark, wherever it was, is gone."""
    x0, y0, x1, y1 = box
    white = torch.full((3, y1 - y0, x1 - x0), 255, dtype=torch.uint8)
    return stamp(pictures, torch.ones(len(pictures), dtype=torch.bool), white, box)


def plant_cue(labels: torch.Tensor, agree: float, seed: int = 0) -> torch.Tensor:
    """Which rows get the cue, (N,) bool: a share `agree` of the label-1 rows and `1 - agree` of
    the label-0 rows (drawn at random). agree = 0.5: the cue says nothing about the label."""
    generator = torch.Generator().manual_seed(seed)
    marked = torch.zeros(len(labels), dtype=torch.bool)
    for label, share in ((1, agree), (0, 1 - agree)):
        rows = (labels == label).nonzero().flatten()  # (n_label,)
        chosen = rows[torch.randperm(len(rows), generator=generator)[:round(share * len(rows))]]
        marked[chosen] = True
    return marked


def cue_groups(labels: torch.Tensor, marked: torch.Tensor) -> pd.Series:
    """Each row's group: its label and whether it carries the cue, e.g. "label 1, cue"."""
    names = [f"label {int(y)}, {'cue' if m else 'no cue'}" for y, m in zip(labels, marked)]
    return pd.Series(names)


def group_scores(net: nn.Module, data: FeatureDataset, groups: pd.Series,
                 device: str = "auto") -> pd.Series:
    """Accuracy of `net` on each group of `data` (rows in data order): a Series indexed by group."""
    run = run_model(net, make_loader(data, 256, False, device), device)
    correct = (run["logits"].argmax(dim=1) == run["labels"]).numpy()  # (N,)
    return pd.Series(correct).groupby(groups.to_numpy()).mean()
