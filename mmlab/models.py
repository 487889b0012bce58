"""Models that put encoders, fusion and a head together: the classic meme classifier and baselines.

`LanguageAndVisionConcat` follows the Hateful Memes benchmark tutorial's design:

    text  ─► language_module ─► ReLU ─┐
                                      ├─► concat ─► fusion Linear ─► ReLU ─► Dropout ─► fc ─► logits (B, 2)
    image ─► vision_module   ─► ReLU ─┘

with one deliberate change: the tutorial applied a softmax and then `CrossEntropyLoss`, which
applies softmax again; here the model returns **logits** and the loss does the softmax once.

`mmlab train` feeds it features from frozen pretrained encoders (see `mmlab.features`), so
`vision_module` and `language_module` are small linear layers over those features. Each model
takes the batch dict and returns logits (B, 2), the convention of `mmlab.train`.

`FusionClassifier` turns any strategy of the fusion zoo (`mmlab.fusion.FUSIONS`) into such a
model: the batch's modality entries go into the fusion module, a small MLP head makes logits
(decision-level fusions already output logits and get no head).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmlab.fusion import FUSIONS, Fusion, build_fusion


class LanguageAndVisionConcat(nn.Module):
    """Mid-level concatenation: both modalities projected, concatenated, then classified."""

    def __init__(self, language_module: nn.Module, vision_module: nn.Module, language_feature_dim: int,
                 vision_feature_dim: int, fusion_output_size: int = 256, num_classes: int = 2,
                 dropout_p: float = 0.1) -> None:
        super().__init__()
        self.language_module = language_module
        self.vision_module = vision_module
        self.fusion = nn.Linear(language_feature_dim + vision_feature_dim, fusion_output_size)
        self.fc = nn.Linear(fusion_output_size, num_classes)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, batch: dict) -> torch.Tensor:
        text_features = F.relu(self.language_module(batch["text"]))  # (B, language_feature_dim)
        image_features = F.relu(self.vision_module(batch["image"]))  # (B, vision_feature_dim)
        combined = torch.cat([text_features, image_features], dim=1)  # (B, L + V)
        fused = self.dropout(F.relu(self.fusion(combined)))  # (B, fusion_output_size)
        return self.fc(fused)  # (B, num_classes): logits, no softmax here


class UnimodalClassifier(nn.Module):
    """A baseline that looks at one modality only: `batch[modality]` -> MLP -> logits (B, 2)."""

    def __init__(self, modality: str, input_dim: int, hidden: int = 256, num_classes: int = 2,
                 dropout_p: float = 0.1) -> None:
        super().__init__()
        self.modality = modality
        self.mlp = nn.Sequential(nn.Linear(input_dim, hidden), nn.ReLU(), nn.Dropout(dropout_p),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, batch: dict) -> torch.Tensor:
        return self.mlp(batch[self.modality])  # (B, num_classes)


def concat_classifier(text_dim: int, image_dim: int, hidden: int = 256, dropout_p: float = 0.1) -> LanguageAndVisionConcat:
    """The classic recipe over feature vectors: a linear language and vision module each."""
    return LanguageAndVisionConcat(nn.Linear(text_dim, hidden), nn.Linear(image_dim, hidden),
                                   hidden, hidden, fusion_output_size=hidden, dropout_p=dropout_p)


class FusionClassifier(nn.Module):
    """A fusion module of `mmlab.fusion` plus a head: batch dict -> logits (B, num_classes).

        batch["image"], batch["text"], batch["text_mask"], ... -> fusion -> MLP head -> logits

    Keys of the batch that the fusion does not know (id, label) are ignored. A decision-level
    fusion (late, hybrid) already returns logits, so its head is the identity.
    """

    def __init__(self, fusion: Fusion, num_classes: int = 2, hidden: int = 64, dropout_p: float = 0.1) -> None:
        super().__init__()
        self.fusion = fusion
        if fusion.outputs_logits:
            self.head = nn.Identity()
        else:
            self.head = nn.Sequential(nn.Linear(fusion.output_dim, hidden), nn.ReLU(), nn.Dropout(dropout_p),
                                      nn.Linear(hidden, num_classes))

    def forward(self, batch: dict) -> torch.Tensor:
        features = {key: value for key, value in batch.items()
                    if key in self.fusion.dims or key.removesuffix("_mask") in self.fusion.dims}
        return self.head(self.fusion(features))  # (B, num_classes)


MODELS = {
    "concat": "mid-level concatenation, the classic LanguageAndVisionConcat recipe",
    "image": "image only: a baseline that never reads the caption",
    "text": "text only: a baseline that never looks at the picture",
    **{name: spec.description for name, spec in FUSIONS.items() if name != "concat"},
}


def build_model(fusion: str, text_dim: int, image_dim: int) -> nn.Module:
    """The model for `mmlab train --fusion NAME` over features of the given sizes.

    `concat` is the classic `LanguageAndVisionConcat`; every other name of `mmlab.fusion.FUSIONS`
    becomes a `FusionClassifier`.
    """
    if fusion == "concat":
        return concat_classifier(text_dim, image_dim)
    if fusion == "image":
        return UnimodalClassifier("image", image_dim)
    if fusion == "text":
        return UnimodalClassifier("text", text_dim)
    return FusionClassifier(build_fusion(fusion, {"image": image_dim, "text": text_dim}))
