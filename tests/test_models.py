"""mmlab.models: one composition (encoders -> fusion -> head), the classic model and the baselines."""

from __future__ import annotations

import pytest
import torch

from mmlab.data.text import Vocab
from mmlab.encoders import BagOfEmbeddings, EncoderOutput, SmallCNN
from mmlab.errors import MmlabError
from mmlab.fusion import FUSIONS, build_fusion
from mmlab.models import (MODELS, LanguageAndVisionConcat, MultimodalClassifier, SingleModality, build_model,
                          missing)

DIMS = {"image": 6, "text": 5}


def batch(n: int = 8) -> dict:
    torch.manual_seed(0)
    cells = torch.randn(n, 4, 6)
    return {"id": list(range(n)), "label": torch.zeros(n, dtype=torch.long),
            "image": EncoderOutput(cells, cells.mean(1), None), "text": torch.randn(n, 5)}


@pytest.mark.parametrize("model", list(MODELS))
def test_every_model_takes_the_batch_dict_and_returns_two_logits(model):
    assert build_model(model, DIMS, "gmu")(batch()).shape == (8, 2)


@pytest.mark.parametrize("fusion", list(FUSIONS))
def test_every_fusion_becomes_a_classifier(fusion):
    net = build_model("fusion", DIMS, fusion, hidden=8)
    assert net(batch()).shape == (8, 2)
    decision_level = FUSIONS[fusion].make.outputs_logits
    assert isinstance(net.head, torch.nn.Identity) == decision_level


def test_heads_and_the_classic_model():
    assert isinstance(build_model("fusion", DIMS, "concat", head="linear").head, torch.nn.Linear)
    classic = build_model("classic", DIMS)
    assert isinstance(classic, LanguageAndVisionConcat)
    # the tutorial's sizes: 256 per modality, concatenated, Linear(512, 256), ReLU, Dropout, Linear(256, 2)
    assert classic.fusion.output_dim == 512 and classic.head[0].in_features == 512
    assert classic.head[-1].out_features == 2
    with pytest.raises(MmlabError, match="fix"):
        build_model("fusion", DIMS, "magic")
    with pytest.raises(MmlabError, match="fix"):
        build_model("unimodal", DIMS)


def test_baselines_never_look_at_the_other_modality():
    net = build_model("image_only", DIMS).eval()
    assert isinstance(net.fusion, SingleModality)
    one = batch()
    other = dict(one, text=torch.randn(8, 5) * 100)
    torch.testing.assert_close(net(one), net(other))


def test_encoders_run_inside_the_composition_end_to_end():
    vocab = Vocab.build(["a red circle", "a blue square"])
    net = MultimodalClassifier(build_fusion("concat", {"image": 64, "text": 8}, hidden=8), hidden=8,
                               encoders={"image": SmallCNN(), "text": BagOfEmbeddings(len(vocab), 8)})
    data = {"image": torch.zeros(2, 3, 64, 64, dtype=torch.uint8),
            "text": vocab.encode_batch(["a red circle", "a blue square"])}
    logits = net(data)
    logits.sum().backward()
    assert logits.shape == (2, 2) and net.encoders["text"].embed.weight.grad is not None


def test_missing_features_are_zeros():
    x = batch()["image"]
    gone = missing(x)
    assert (gone.tokens == 0).all() and (gone.pooled == 0).all()
    some = missing(x, torch.tensor([True, False] * 4))
    assert (some.pooled[0] == 0).all() and torch.equal(some.pooled[1], x.pooled[1])


def test_modality_dropout_acts_only_while_training_and_never_drops_everything():
    net = build_model("fusion", DIMS, "concat", modality_dropout=0.9)
    torch.manual_seed(0)
    features = net.features(batch(2000))
    dropped = net.drop_modalities(features)
    gone = torch.stack([(dropped[m].pooled if m == "image" else dropped[m]).abs().sum(-1) == 0
                        for m in ("image", "text")], dim=1)  # (B, 2)
    assert not gone.all(dim=1).any()  # every example keeps at least one modality
    assert 0.4 < gone[:, 0].float().mean() < 0.6  # p = 0.9, then one of two restored when both went
    net.eval()
    torch.testing.assert_close(net(batch()), net(batch()))
    net.train()
    assert not torch.allclose(net(batch()), net.eval()(batch()))
