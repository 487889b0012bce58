"""Pretraining on unimodal labels: pictures in memory, training, and the checkpoint cache."""

from __future__ import annotations

import json

import pytest
import torch

from mmlab.data import MemeDataset, write_synthmemes
from mmlab.encoders import EncoderOutput
from mmlab.errors import MmlabError
from mmlab.pretrain import (EncoderClassifier, Pretrained, load_images, negation_experiment,
                            pretrain_image_encoder, pretrain_text_encoder, train_classifier)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MMLAB_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def small_memes(tmp_path, seed=0, negation=0.0):
    out = tmp_path / f"memes-{seed}-{negation}"
    return write_synthmemes(out, n=64, seed=seed, size=32, negation=negation)


def test_load_images_keeps_every_picture_as_uint8(tmp_path):
    root = small_memes(tmp_path)
    dataset = MemeDataset(root, "test")
    pictures = load_images(dataset)
    assert pictures.shape == (len(dataset), 3, 32, 32) and pictures.dtype == torch.uint8
    first = (dataset[0]["image"] * 255).round().to(torch.uint8)  # ToTensor: float in [0, 1]
    assert torch.equal(pictures[0], first)
    assert load_images(dataset, size=16).shape == (len(dataset), 3, 16, 16)


def test_train_classifier_learns_and_is_reproducible():
    torch.manual_seed(0)
    x = torch.randn(256, 8)
    y = (x[:, 0] > 0).long()

    class Identity(torch.nn.Module):  # the smallest "encoder": pooled = its input
        dim = 8

        def forward(self, x):
            return EncoderOutput(x.unsqueeze(1), x, None)

    def run():
        torch.manual_seed(0)
        model = EncoderClassifier(Identity(), 2)
        losses = train_classifier(model, [x], y, epochs=5, batch_size=32, lr=0.05, progress=False)
        return model, losses

    model, losses = run()
    assert losses[-1] < 0.5 * losses[0]
    again, _ = run()
    assert torch.equal(model.head.weight, again.head.weight)


def test_image_pretraining_caches_by_dataset_and_config(tmp_path, home):
    root = small_memes(tmp_path)
    first = pretrain_image_encoder(root, epochs=1, progress=False)
    assert isinstance(first, Pretrained) and not first.from_cache
    assert not first.encoder.training and not first.head.training
    assert 0.0 <= first.accuracy <= 1.0
    assert first.classes == sorted(MemeDataset(root, "train").frame["image_concept"].unique())
    assert first.path.parent == home / "encoders" and first.path.name.startswith("small_cnn-image_concept-")
    stamp = first.path.stat().st_mtime_ns

    same = pretrain_image_encoder(root, epochs=1, progress=False)
    assert same.from_cache and same.path == first.path and same.accuracy == first.accuracy
    assert first.path.stat().st_mtime_ns == stamp  # loaded, not written again
    assert not same.encoder.training
    for (name, a), b in zip(first.encoder.state_dict().items(), same.encoder.state_dict().values()):
        assert torch.equal(a, b), name

    other_config = pretrain_image_encoder(root, epochs=1, lr=3e-3, progress=False)
    assert not other_config.from_cache and other_config.path != first.path
    other_data = pretrain_image_encoder(small_memes(tmp_path, seed=1), epochs=1, progress=False)
    assert not other_data.from_cache and other_data.path not in (first.path, other_config.path)
    assert len(list((home / "encoders").glob("*.pt"))) == 3
    checkpoint = torch.load(first.path, weights_only=True)  # plain tensors and values only
    assert checkpoint["config"]["epochs"] == 1


def test_damaged_cache_file_is_trained_again(tmp_path, home):
    root = small_memes(tmp_path)
    first = pretrain_text_encoder(root, "bow", epochs=1, progress=False)
    first.path.write_bytes(b"half a file")
    with pytest.warns(UserWarning, match="unreadable"):
        again = pretrain_text_encoder(root, "bow", epochs=1, progress=False)
    assert not again.from_cache and again.accuracy == first.accuracy  # same seed: same numbers
    torch.save({"encoder": {}, "head": {}, "classes": first.classes, "accuracy": 0.0,
                "vocab": first.vocab.tokens}, first.path)  # readable, but not these layers
    with pytest.warns(UserWarning, match="does not fit"):
        third = pretrain_text_encoder(root, "bow", epochs=1, progress=False)
    assert not third.from_cache and third.accuracy == first.accuracy


@pytest.mark.parametrize("name", ["bow", "gru", "transformer"])
def test_text_pretraining_returns_encoder_and_vocab(tmp_path, home, name):
    root = small_memes(tmp_path)
    trained = pretrain_text_encoder(root, name, dim=16, epochs=1, progress=False)
    assert not trained.from_cache and not trained.encoder.training
    assert trained.classes == sorted(MemeDataset(root, "train").frame["text_concept"].unique())
    loaded = pretrain_text_encoder(root, name, dim=16, epochs=1, progress=False)
    assert loaded.from_cache and loaded.vocab.tokens == trained.vocab.tokens
    ids, mask = loaded.vocab.encode_batch(["what a lovely day", "not an awful day"])
    device = next(loaded.encoder.parameters()).device  # the GPU when there is one (device="auto")
    ids, mask = ids.to(device), mask.to(device)
    assert torch.allclose(loaded.encoder(ids, mask).pooled, trained.encoder(ids, mask).pooled)
    assert loaded.encoder(ids, mask).pooled.shape == (2, 16)


def test_negation_experiment_reports_each_encoder(tmp_path, home):
    root = small_memes(tmp_path, negation=0.5)
    scores = negation_experiment(root, ("bow", "gru"), epochs=1, dim=16, progress=False)
    assert set(scores) == {"bow", "gru"} and all(0.0 <= s <= 1.0 for s in scores.values())


def test_data_without_concepts_is_a_clear_error(tmp_path, home):
    root = tmp_path / "plain"
    (root / "img").mkdir(parents=True)
    pixel = MemeDataset(small_memes(tmp_path), "train").image(0)
    for split in ("train", "test"):
        rows = []
        for i in range(4):
            name = f"img/{split}{i}.png"
            pixel.save(root / name)
            rows.append(json.dumps({"id": f"{split}{i}", "img": name, "text": "hello", "label": i % 2}))
        (root / f"{split}.jsonl").write_text("\n".join(rows) + "\n")
    with pytest.raises(MmlabError, match="image_concept"):
        pretrain_image_encoder(root, epochs=1, progress=False)
