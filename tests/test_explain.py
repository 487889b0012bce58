"""mmlab.explain: EMAP finds no interaction in an additive model and finds one in an XOR model."""

from __future__ import annotations

import torch
import torch.nn as nn

from mmlab.explain import additive_projection, emap, pair_scores
from mmlab.features import FeatureDataset


class Scorer(nn.Module):
    """A hand-made model: logits (B, 2) = [0, score(image, text)] of the first features."""

    def __init__(self, rule):
        super().__init__()
        self.rule = rule
        self.dummy = nn.Parameter(torch.zeros(1))  # so that the model has a device

    def forward(self, batch):
        score = self.rule(batch["image"][:, 0], batch["text"][:, 0])  # (B,)
        return torch.stack([torch.zeros_like(score), score], dim=1)  # (B, 2)


def xor_data(n: int = 64) -> FeatureDataset:
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randint(0, 2, (2, n), generator=generator) * 2 - 1  # moods -1 or +1
    return FeatureDataset(image=a.float().unsqueeze(1), text=b.float().unsqueeze(1), label=(a != b).long())


def test_an_additive_model_equals_its_projection():
    data = xor_data()
    model = Scorer(lambda image, text: 2 * image - 3 * text)
    rows = list(range(32))
    matrix = pair_scores(model, data, rows)
    torch.testing.assert_close(additive_projection(matrix), matrix.diagonal())
    result = emap(model, data, n=32)
    assert result["auroc"] == result["auroc_additive"]


def test_a_model_of_the_interaction_loses_everything_when_projected():
    data = xor_data()
    model = Scorer(lambda image, text: -4 * image * text)  # mean when the moods disagree
    result = emap(model, data, n=64)
    assert result["auroc"] == 1.0 and abs(result["auroc_additive"] - 0.5) < 0.1
    assert result["accuracy"] == 1.0
