"""The checkers of notebook 03: right answers of several kinds pass, each plausible mistake is named."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from mmlab.exercises import fusion as exercises
from mmlab.fusion import Fusion, pooled


class Projected(Fusion):
    """A base for the learners' answers: one projection per modality."""

    def __init__(self, dims, hidden=32):
        super().__init__(dims)
        self.project = nn.ModuleDict({name: nn.Linear(dim, hidden) for name, dim in self.dims.items()})
        self.output_dim = hidden

    def parts(self, features):
        return self.project["image"](pooled(features["image"])), self.project["text"](pooled(features["text"]))


class Product(Projected):
    def forward(self, features):
        image, text = self.parts(features)
        return image * text


class ProductMul(Projected):
    def forward(self, features):
        return torch.mul(*self.parts(features))


class ProductEinsum(Projected):
    def forward(self, features):
        image, text = self.parts(features)
        return torch.einsum("bh,bh->bh", image, text)


class ProductLoop(Projected):
    def forward(self, features):
        out = 1.0
        for name in self.dims:  # works for any number of modalities
            out = out * self.project[name](pooled(features[name]))
        return out


class NoBias(Fusion):
    def __init__(self, dims, hidden=32):
        super().__init__(dims)
        self.u = nn.Linear(dims["image"], hidden, bias=False)
        self.v = nn.Linear(dims["text"], hidden, bias=False)
        self.output_dim = hidden

    def forward(self, features):
        return self.u(features["image"].pooled) * self.v(features["text"].pooled)  # EncoderOutputs


class Outer(Projected):
    """The outer product, flattened, with output_dim set to match: tensor fusion, not this exercise."""

    def __init__(self, dims, hidden=32):
        super().__init__(dims, hidden)
        self.output_dim = hidden * hidden

    def forward(self, features):
        image, text = self.parts(features)
        return torch.einsum("bi,bj->bij", image, text).flatten(1)


class NoPooled(Projected):
    """Forgets that the kit passes EncoderOutputs, not tensors."""

    def forward(self, features):
        return self.project["image"](features["image"]) * self.project["text"](features["text"])


class Dot(Projected):
    """A dot product, with output_dim set to match: one number per example."""

    def __init__(self, dims, hidden=32):
        super().__init__(dims, hidden)
        self.output_dim = 1

    def forward(self, features):
        image, text = self.parts(features)
        return (image * text).sum(dim=-1, keepdim=True)


class FiveOnly(Projected):
    """Works for a batch of 5 only."""

    def forward(self, features):
        image, text = self.parts(features)
        return torch.stack([image[b] * text[b] for b in range(5)])


class FreshLayer(Projected):
    """Builds a new (randomly initialised) layer at every call."""

    def forward(self, features):
        image, text = self.parts(features)
        return nn.Linear(image.shape[1], image.shape[1])(image) * text


class TokensMean(Projected):
    """Averages the tokens instead of reading the pooled vector."""

    def forward(self, features):
        image = self.project["image"](features["image"].tokens.mean(dim=1))
        return image * self.project["text"](features["text"].tokens.mean(dim=1))


class FirstToken(Projected):
    def forward(self, features):
        return self.project["image"](features["image"].tokens[:, 0]) * self.project["text"](features["text"].tokens[:, 0])


class ZerosForFive(Projected):
    """Fills a tensor made for 5 examples."""

    def forward(self, features):
        image, text = self.parts(features)
        out = torch.zeros(5, image.shape[1])
        for b in range(len(image)):
            out[b] = image[b] * text[b]
        return out


def wrong(body):
    class Wrong(Projected):
        def forward(self, features):
            image, text = self.parts(features)
            return body(image, text)
    return Wrong


WRONG_PRODUCTS = [
    (wrong(lambda i, t: i + t), "additive"),
    (wrong(lambda i, t: torch.relu(i + t)), "bends"),
    (wrong(lambda i, t: torch.sigmoid(i + t)), "bends"),
    (wrong(lambda i, t: (i - t).abs()), "bends"),
    (wrong(lambda i, t: torch.maximum(i, t)), "bends"),
    (wrong(lambda i, t: i * t.mean(dim=0, keepdim=True)), "other examples"),
    (wrong(lambda i, t: torch.cat([i, t], dim=-1)), "no concatenation"),
    (wrong(lambda i, t: i * torch.sigmoid(t)), "bends"),  # bent on the caption's side only
    (wrong(lambda i, t: i * torch.relu(t)), "bends"),
    (wrong(lambda i, t: i * 2), "does not change with the caption"),
    (wrong(lambda i, t: torch.tanh(i) * torch.tanh(t)), "bends"),
    (wrong(lambda i, t: (i * t).clamp(-1, 1)), "bends"),
    (wrong(lambda i, t: (i * t).detach()), "no gradient reaches"),
    (wrong(lambda i, t: torch.from_numpy(i.detach().numpy() * t.detach().numpy())), "no gradient reaches"),
    (Outer, "outer product"),
    (NoPooled, "pooled(features[m])"),
    (Dot, "keeps hidden"),
    (FiveOnly, "raised IndexError"),
    (FreshLayer, "with every call"),
    (TokensMean, "changes with the tokens"),
    (FirstToken, "changes with the tokens"),
    (ZerosForFive, "batch of 7"),
    (wrong(lambda i, t: i * t[:5]), "batch of 7"),
]


@pytest.mark.parametrize("answer", [Product, ProductMul, ProductEinsum, ProductLoop, NoBias])
def test_product_fusion_accepts_every_right_variant(answer, capsys):
    assert exercises.check_product_fusion(answer)
    assert "✅" in capsys.readouterr().out


@pytest.mark.parametrize("answer, mistake", WRONG_PRODUCTS)
def test_product_fusion_names_each_mistake(answer, mistake, capsys):
    assert not exercises.check_product_fusion(answer)
    assert mistake in capsys.readouterr().out


def test_product_fusion_not_attempted_and_unfinished(capsys):
    assert not exercises.check_product_fusion(None)
    assert "not attempted" in capsys.readouterr().out

    class Unfinished(Projected):
        def forward(self, features):
            ...

    assert not exercises.check_product_fusion(Unfinished)
    assert "returns nothing yet" in capsys.readouterr().out


LOST = {"picture": 0.12, "caption": 0.21}


@pytest.mark.parametrize("answer", ["caption", " Caption ", "TEXT", "text"])
def test_missing_prediction_accepts_the_measured_answer_in_any_spelling(answer, capsys):
    assert exercises.check_missing_prediction(answer, LOST)
    assert "0.210" in capsys.readouterr().out


@pytest.mark.parametrize("answer, words", [
    ("picture", "symbols"), ("image", "symbols"), ("both", "answer"), ("neither", "answer"), (0, "answer"),
    (["caption"], "answer")])
def test_missing_prediction_names_the_mistake(answer, words, capsys):
    assert not exercises.check_missing_prediction(answer, LOST)
    assert words in capsys.readouterr().out


def test_missing_prediction_follows_the_measurement_and_waits_for_it(capsys):
    assert exercises.check_missing_prediction("picture", {"picture": 0.3, "caption": 0.1})
    assert not exercises.check_missing_prediction("caption", None)
    assert "run the measuring cell" in capsys.readouterr().out
    assert not exercises.check_missing_prediction(None, LOST)
    assert "not attempted" in capsys.readouterr().out


@pytest.mark.parametrize("answer", ["c", "C", " c "])
def test_early_control_accepts_the_budget_experiment(answer, capsys):
    assert exercises.check_early_control(answer)


@pytest.mark.parametrize("answer, words", [
    ("a", "more seeds"), ("b", "head"), ("d", "regions"), ("e", "not one of"), (3, "not one of")])
def test_early_control_explains_each_wrong_choice(answer, words, capsys):
    assert not exercises.check_early_control(answer)
    assert words in capsys.readouterr().out


def test_missing_prediction_wants_the_auroc_lost_not_left(capsys):
    assert not exercises.check_missing_prediction("caption", {"picture": 0.61, "caption": 0.57})
    assert "AUROC *lost*" in capsys.readouterr().out


@pytest.mark.parametrize("lost, words", [
    ([0.04, 0.2], "should be a dict"),
    (0.041, "should be a dict"),
    ({"picture": "0.04", "caption": "0.2"}, "should be numbers"),
    ({"picture": -0.04, "caption": -0.2}, "negative loss"),
])
def test_missing_prediction_names_a_badly_shaped_measurement(lost, words, capsys):
    assert not exercises.check_missing_prediction("caption", lost)
    assert words in capsys.readouterr().out


def test_missing_prediction_accepts_numpy_and_tensor_numbers(capsys):
    import numpy as np

    assert exercises.check_missing_prediction("caption", {"picture": np.float32(0.04), "caption": np.float32(0.2)})
    assert exercises.check_missing_prediction("caption", {"picture": torch.tensor(0.04), "caption": torch.tensor(0.2)})


def test_early_control_accepts_a_trailing_full_stop(capsys):
    assert exercises.check_early_control("c.")
