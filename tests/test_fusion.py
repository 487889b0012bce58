"""The fusion zoo: the interface, the registry, the classifier, token features and the comparison."""

from __future__ import annotations

import pytest
import torch

from mmlab.data.store import write_synthmemes
from mmlab.encoders import SmallCNN
from mmlab.errors import MmlabError
from mmlab.exercises import fusion as exercises
from mmlab.fusion import FUSIONS, Fusion, build_fusion
from mmlab.models import MODELS, FusionClassifier, LanguageAndVisionConcat, build_model

DIMS = {"image": 6, "text": 5}


def pooled_inputs(batch: int = 4) -> dict[str, torch.Tensor]:
    return {"image": torch.randn(batch, 6, requires_grad=True), "text": torch.randn(batch, 5, requires_grad=True)}


def token_inputs(batch: int = 4) -> dict[str, torch.Tensor]:
    lengths = torch.tensor([3, 1, 4, 2])[:batch]
    return {"image": torch.randn(batch, 9, 6, requires_grad=True), "text": torch.randn(batch, 4, 5, requires_grad=True),
            "text_mask": torch.arange(4) < lengths.unsqueeze(1)}


def test_registry_has_at_least_ten_documented_strategies():
    assert len(FUSIONS) >= 10
    for name, spec in FUSIONS.items():
        assert spec.description and spec.source and spec.inputs in ("pooled", "tokens", "words"), name
        assert spec.make.__doc__, name


@pytest.mark.parametrize("name", list(FUSIONS))
@pytest.mark.parametrize("make_inputs", [pooled_inputs, token_inputs], ids=["pooled", "tokens"])
def test_every_fusion_takes_the_interface_and_gradients_reach_every_input(name, make_inputs):
    torch.manual_seed(0)
    fusion = build_fusion(name, DIMS, hidden=8)
    inputs = make_inputs()
    out = fusion(inputs)
    assert out.shape == (4, fusion.output_dim)
    assert torch.isfinite(out).all()
    out.pow(2).sum().backward()
    for modality in DIMS:
        grad = inputs[modality].grad
        assert grad is not None and grad.abs().sum() > 0, (name, modality)


@pytest.mark.parametrize("name", list(FUSIONS))
def test_padding_is_ignored(name):
    torch.manual_seed(0)
    fusion = build_fusion(name, DIMS, hidden=8).eval()
    inputs = {key: value.detach() for key, value in token_inputs().items()}
    changed = dict(inputs, text=inputs["text"].masked_fill(~inputs["text_mask"].unsqueeze(-1), 1e3))
    torch.testing.assert_close(fusion(inputs), fusion(changed))


def test_only_fusions_that_handle_missing_accept_one_modality():
    image_only = {"image": torch.randn(4, 6)}
    for name, spec in FUSIONS.items():
        fusion = build_fusion(name, DIMS, hidden=8).eval()
        if spec.make.handles_missing:
            assert fusion(image_only).shape == (4, fusion.output_dim)
        else:
            with pytest.raises(KeyError):
                fusion(image_only)


def interaction(fusion: Fusion) -> float:
    """f(a, b) - f(a, b') - f(a', b) + f(a', b'): zero for an additive fusion."""
    torch.manual_seed(1)
    a, a2, b, b2 = torch.randn(1, 6), torch.randn(1, 6), torch.randn(1, 5), torch.randn(1, 5)
    with torch.no_grad():
        out = [fusion({"image": i, "text": t}) for i in (a, a2) for t in (b, b2)]
    return (out[0] - out[1] - out[2] + out[3]).abs().max().item()


def test_late_fusion_is_additive_and_multiplicative_fusions_are_not():
    assert interaction(build_fusion("late", DIMS).eval()) < 1e-5
    for name in ("tensor", "low_rank", "bilinear", "film"):
        assert interaction(build_fusion(name, DIMS).eval()) > 1e-4, name


def test_late_fusion_modality_dropout_only_while_training():
    fusion = build_fusion("late", DIMS)
    inputs = {key: value.detach() for key, value in pooled_inputs(64).items()}
    fusion.eval()
    torch.testing.assert_close(fusion(inputs), fusion(inputs))
    fusion.train()
    assert not torch.allclose(fusion(inputs), fusion.eval()(inputs))


def test_unknown_fusion_says_how_to_fix():
    with pytest.raises(MmlabError, match="fix: choose one of late"):
        build_fusion("magic", DIMS)


def test_models_cover_every_fusion_and_keep_the_classic_concat():
    assert set(FUSIONS) <= set(MODELS) and {"image", "text"} <= set(MODELS)
    assert isinstance(build_model("concat", 5, 6), LanguageAndVisionConcat)
    batch = {"id": list(range(4)), "label": torch.zeros(4, dtype=torch.long), **pooled_inputs()}
    for name in MODELS:
        assert build_model(name, 5, 6)(batch).shape == (4, 2), name


def test_fusion_classifier_head_matches_the_fusion_level():
    assert isinstance(FusionClassifier(build_fusion("late", DIMS)).head, torch.nn.Identity)
    assert isinstance(FusionClassifier(build_fusion("concat", DIMS)).head, torch.nn.Sequential)


def test_split_features_have_pooled_and_token_views(tiny_memes):
    from mmlab.tokens import build_split_features

    torch.manual_seed(0)
    features = build_split_features(tiny_memes, SmallCNN().eval(), ("train", "test"))
    train = features["train"]
    assert train.pooled["image"].shape == (48, 64) and train.pooled["text"].shape == (48, 64)
    assert train.tokens["image"].shape == (48, 64, 64)
    T = train.tokens["text_mask"].shape[1]
    assert train.tokens["text"].shape == (48, T, 64)
    assert (train.tokens["text"][~train.tokens["text_mask"]] == 0).all()  # padding stays zero
    assert train.inputs("words")["image"].dim() == 2 and train.inputs("words")["text"].dim() == 3
    assert abs(float(train.pooled["image"].mean())) < 1e-4  # standardised on the training split


def test_cell_labels_follow_the_drawn_objects(tmp_path):
    from mmlab.data.memes import MemeDataset
    from mmlab.tokens import cell_attribute_labels

    data = MemeDataset(write_synthmemes(tmp_path / "g", "grounding", n=8, seed=1), "train")
    labels = cell_attribute_labels(data)
    assert labels.shape == (8, 2, 64)
    first = data.frame["objects"][0]
    assert set(labels[0, 0].unique().tolist()) <= {0, 1, 2, 3, 4}
    assert len(set(labels[0, 0].unique().tolist()) - {0}) == len(first)  # every object covers a cell centre


def test_compare_fusions_runs_and_reports_every_column():
    from mmlab.compare import compare_fusions

    table = compare_fusions(tasks=("grounding",), fusions=("late", "cross_attention"), n=24, epochs=1,
                            progress=False)
    assert list(table["fusion"]) == ["late", "cross_attention"]
    assert {"accuracy", "auroc", "parameters", "train_seconds", "accuracy_no_image"} <= set(table.columns)
    assert table["accuracy"].between(0, 1).all()


def test_exercise_checkers_accept_the_solutions_and_explain_mistakes(capsys):
    class ProductFusion(Fusion):
        def __init__(self, dims, hidden=32):
            super().__init__(dims)
            self.project = torch.nn.ModuleDict({n: torch.nn.Linear(d, hidden) for n, d in self.dims.items()})
            self.output_dim = hidden

        def forward(self, features):
            return self.project["image"](features["image"]) * self.project["text"](features["text"])

    class SumFusion(ProductFusion):
        def forward(self, features):
            return self.project["image"](features["image"]) + self.project["text"](features["text"])

    class Unfinished(ProductFusion):
        def forward(self, features):
            ...

    assert exercises.check_product_fusion(ProductFusion)
    assert not exercises.check_product_fusion(SumFusion)
    assert "additive" in capsys.readouterr().out
    assert not exercises.check_product_fusion(Unfinished)
    assert "not attempted" in capsys.readouterr().out
    assert exercises.check_fusion_choice({"no_audio": "late", "describes": "cross_attention", "sarcasm": "concat"})
    assert not exercises.check_fusion_choice({"no_audio": "concat", "describes": "cross_attention", "sarcasm": "late"})
    assert "no_audio" in capsys.readouterr().out
    assert not exercises.check_fusion_choice({"no_audio": None, "describes": None, "sarcasm": None})
    assert "not attempted" in capsys.readouterr().out
