"""Models: one composition for every classifier, encoders -> fusion -> head -> logits.

    batch ─► encoders (one per modality; none for features that are already encoded)
          ─► {modality: EncoderOutput}
          ─► fusion (any strategy of `mmlab.fusion`)
          ─► head (MLP, linear, or none for decision-level fusions)
          ─► logits (B, 2)

`MultimodalClassifier` is that composition (MultiBench's `MMDL(encoders, fusion, head)`,
TorchMultimodal's `LateFusion(encoders, fusion_module, head_module)`). Every model of the kit is
one: `LanguageAndVisionConcat`, the Hateful Memes tutorial's model (concatenation fusion and an
MLP head, notebook 04), the unimodal baselines (`SingleModality` in the fusion slot), and every
strategy of the fusion zoo (notebook 03). The models take the batch dict and return logits (B, 2),
the convention of `mmlab.train`; there is no softmax in them (the loss applies it once).

Modality dropout (Neverova et al. 2016, ModDrop) is part of the composition, so any fusion can be
trained with it: while training, each example loses each modality with probability
`modality_dropout` (its features become zeros, which after standardisation is the training
mean), never all of them. A model trained this way has learned to decide from what is left.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from mmlab.encoders import EncoderOutput
from mmlab.errors import MmlabError
from mmlab.fusion import FUSIONS, Features, build_fusion, pooled

HEADS = ("mlp", "linear")


def make_head(kind: str, in_dim: int, hidden: int = 64, num_classes: int = 2,
              dropout: float = 0.1) -> nn.Module:
    """A classifier head: "mlp" (Linear -> ReLU -> Dropout -> Linear) or "linear" (one Linear)."""
    if kind == "mlp":
        return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout),
                             nn.Linear(hidden, num_classes))
    if kind == "linear":
        return nn.Linear(in_dim, num_classes)
    raise MmlabError(f"unknown head {kind!r} (fix: choose one of {', '.join(HEADS)})")


def missing(x: EncoderOutput | torch.Tensor, rows: torch.Tensor | None = None) -> EncoderOutput | torch.Tensor:
    """A modality's features made "missing": zeros in `rows` (B,) bool, or in every row when None.

    After standardisation, zero is the training mean: the usual stand-in for an absent input.
    """
    x_pooled = pooled(x)
    keep = torch.zeros(len(x_pooled), device=x_pooled.device) if rows is None else (~rows).float()  # (B,)
    if isinstance(x, EncoderOutput):
        return EncoderOutput(x.tokens * keep.view(-1, 1, 1), x.pooled * keep.view(-1, 1), x.mask)
    return x * keep.view(-1, *([1] * (x.dim() - 1)))


class MultimodalClassifier(nn.Module):
    """encoders -> fusion -> head: batch dict in, logits (B, num_classes) out.

    - `fusion`: a `mmlab.fusion.Fusion` (or `SingleModality`); its `dims` say which modalities
      it reads from the batch.
    - `head`: "mlp", "linear", or a module; ignored (identity) when the fusion outputs logits.
    - `encoders`: optional {modality: encoder}; a modality without one must already be encoded
      in the batch (an `EncoderOutput` or a tensor, as `mmlab.features` provides).
    - `modality_dropout`: see the module docstring.
    """

    def __init__(self, fusion: nn.Module, head: str | nn.Module = "mlp", hidden: int = 64,
                 num_classes: int = 2, encoders: dict[str, nn.Module] | None = None,
                 modality_dropout: float = 0.0, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoders = nn.ModuleDict(encoders or {})
        self.fusion = fusion
        if getattr(fusion, "outputs_logits", False):
            self.head = nn.Identity()
        elif isinstance(head, str):
            self.head = make_head(head, fusion.output_dim, hidden, num_classes, dropout)
        else:
            self.head = head
        self.modality_dropout = modality_dropout

    def features(self, batch: dict) -> Features:
        """Each modality the fusion reads, encoded: {name: EncoderOutput or tensor}."""
        return {name: self.encoders[name](batch[name]) if name in self.encoders else batch[name]
                for name in self.fusion.dims if name in batch}

    def forward(self, batch: dict) -> torch.Tensor:
        features = self.features(batch)
        if self.training and self.modality_dropout > 0 and len(features) > 1:
            features = self.drop_modalities(features)
        return self.head(self.fusion(features))  # (B, num_classes)

    def drop_modalities(self, features: Features) -> Features:
        """ModDrop: each example loses each modality with probability p, but never all of them."""
        names = list(features)
        B = len(pooled(features[names[0]]))
        device = pooled(features[names[0]]).device
        dropped = torch.rand(B, len(names), device=device) < self.modality_dropout  # (B, M)
        everything = dropped.all(dim=1)  # (B,) these keep one modality, chosen at random
        keep = torch.randint(len(names), (B,), device=device)  # (B,)
        dropped[everything, keep[everything]] = False
        return {name: missing(x, dropped[:, m]) for m, (name, x) in enumerate(features.items())}


class SingleModality(nn.Module):
    """The fusion slot of a unimodal baseline: it passes one modality's pooled vector on."""

    def __init__(self, modality: str, dim: int) -> None:
        super().__init__()
        self.dims = {modality: dim}
        self.modality = modality
        self.output_dim = dim

    def forward(self, features: Features) -> torch.Tensor:
        return pooled(features[self.modality])  # (B, D)


class LanguageAndVisionConcat(MultimodalClassifier):
    """The Hateful Memes tutorial's model: concatenation fusion and an MLP head.

        text  ─► Linear ─► ReLU ─┐  (feature_dim each)
                                 ├─► concat ─► Linear ─► ReLU ─► Dropout ─► Linear ─► logits (B, 2)
        image ─► Linear ─► ReLU ─┘              (fusion_output_size)

    The tutorial's `language_module` and `vision_module` are the fusion's two projections (its
    ResNet-152, when trained end to end, goes in `encoders`), its `fusion` layer and `fc` the head.
    One deliberate change: the tutorial applied a softmax and then `CrossEntropyLoss`, which applies
    softmax again; this model returns logits and the loss does the softmax once.
    """

    def __init__(self, text_dim: int, image_dim: int, feature_dim: int = 256, fusion_output_size: int = 256,
                 dropout: float = 0.1, num_classes: int = 2, encoders: dict[str, nn.Module] | None = None,
                 modality_dropout: float = 0.0) -> None:
        fusion = build_fusion("concat", {"image": image_dim, "text": text_dim}, hidden=feature_dim)
        super().__init__(fusion, "mlp", fusion_output_size, num_classes, encoders, modality_dropout, dropout)


#: What `mmlab train --model` builds (a `--fusion NAME` picks the strategy for "fusion").
MODELS = {
    "classic": "LanguageAndVisionConcat, the Hateful Memes tutorial's concat model (hidden 256)",
    "fusion": "a strategy of the fusion zoo (--fusion NAME) with an MLP head",
    "image_only": "a baseline that never reads the caption: the picture's features and an MLP",
    "text_only": "a baseline that never looks at the picture: the caption's features and an MLP",
}


def build_model(model: str, dims: dict[str, int], fusion: str = "concat", head: str = "mlp",
                hidden: int = 64, modality_dropout: float = 0.0) -> MultimodalClassifier:
    """A classifier over features of sizes `dims` ({"image": D_image, "text": D_text}).

    `model` is one of `MODELS`; for "fusion", `fusion` names the strategy (see `mmlab fusions`).
    """
    if model == "classic":
        return LanguageAndVisionConcat(dims["text"], dims["image"], modality_dropout=modality_dropout)
    if model in ("image_only", "text_only"):
        modality = model.removesuffix("_only")
        return MultimodalClassifier(SingleModality(modality, dims[modality]), head, hidden)
    if model == "fusion":
        if fusion not in FUSIONS:
            raise MmlabError(f"unknown fusion {fusion!r} (fix: choose one of {', '.join(FUSIONS)}; "
                             "`mmlab fusions` describes them)")
        return MultimodalClassifier(build_fusion(fusion, dims, hidden), head, hidden,
                                    modality_dropout=modality_dropout)
    raise MmlabError(f"unknown model {model!r} (fix: choose one of {', '.join(MODELS)})")
