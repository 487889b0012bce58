"""mmlab.features: in-memory datasets served a batch at a time, standardisation, the feature cache."""

from __future__ import annotations

import warnings

import pytest
import torch

from mmlab.data.text import Vocab
from mmlab.encoders import EncoderOutput, SmallCNN
from mmlab.features import FeatureDataset, Standardizer, meme_features, standardise
from mmlab.train import make_loader


def test_feature_datasets_are_served_a_whole_batch_at_a_time():
    n = 50
    data = FeatureDataset(id=[f"m{i}" for i in range(n)], image=torch.arange(n * 3.0).view(n, 3),
                          text=torch.zeros(n, 2), label=torch.arange(n) % 2)
    assert data[[4, 1]]["id"] == ["m4", "m1"] and data[[4, 1]]["image"].shape == (2, 3)
    batches = list(make_loader(data, 16, True, "cpu", seed=1))
    assert [len(b["id"]) for b in batches] == [16, 16, 16, 2]
    seen = [i for b in batches for i in b["id"]]
    assert sorted(seen) == sorted(data.id) and seen != data.id  # every sample once, shuffled
    for batch in batches:  # ids, features and labels still belong together
        rows = torch.tensor([int(i[1:]) for i in batch["id"]])
        assert torch.equal(batch["image"][:, 0], rows * 3.0) and torch.equal(batch["label"], rows % 2)
    again = [i for b in make_loader(data, 16, True, "cpu", seed=1) for i in b["id"]]
    assert again == seen  # the same seed gives the same order
    assert [i for b in make_loader(data, 16, False, "cpu") for i in b["id"]] == data.id


def test_named_tuples_are_indexed_field_by_field():
    tokens, mask = torch.randn(5, 3, 2), torch.rand(5, 3) > 0.3
    words = Vocab.build(["a b", "c"]).encode_batch(["a b", "c", "a", "b", "c a"])
    data = FeatureDataset(image=EncoderOutput(tokens, tokens.mean(1), None),
                          text=EncoderOutput(tokens, tokens[:, 0], mask), words=words)
    batch = data[[3, 0]]
    assert batch["image"].mask is None and torch.equal(batch["image"].tokens, tokens[[3, 0]])
    assert torch.equal(batch["text"].mask, mask[[3, 0]]) and torch.equal(batch["words"].ids, words.ids[[3, 0]])
    assert torch.equal(data[2]["text"].pooled, tokens[2, 0])
    assert len(data) == 5 and data.replace(words=None).entries.keys() == {"image", "text"}


def test_standardise_uses_the_training_statistics_and_keeps_padding_zero():
    torch.manual_seed(0)
    mask = torch.tensor([[True, True, False], [True, False, False]] * 4)  # (8, 3)

    def split(shift: float) -> FeatureDataset:
        words = (torch.randn(8, 3, 4) * 3 + shift) * mask.unsqueeze(-1)
        cells = torch.randn(8, 5, 4) + shift
        return FeatureDataset(image=EncoderOutput(cells, cells.mean(1), None),
                              text=EncoderOutput(words, words.sum(1), mask))

    raw = {"train": split(0.0), "dev": split(5.0)}
    scaled = standardise(raw)
    train = scaled["train"]
    assert torch.allclose(train.image.pooled.mean(0), torch.zeros(4), atol=1e-5)
    assert torch.allclose(train.text.tokens[mask].mean(0), torch.zeros(4), atol=1e-5)
    assert (train.text.tokens[~mask] == 0).all() and (scaled["dev"].text.tokens[~mask] == 0).all()
    dev_pooled = raw["dev"].image.pooled  # dev is scaled with train's statistics, not its own
    assert torch.equal(scaled["dev"].image.pooled, Standardizer.fit(raw["train"].image.pooled)(dev_pooled))
    assert scaled["dev"].image.pooled.mean() > 2


def test_meme_features_are_computed_once_then_loaded(tiny_memes, home):
    torch.manual_seed(0)
    encoder = SmallCNN()
    splits = ("train", "dev")
    first = meme_features(tiny_memes, splits, encoder, text_dim=8)
    cached = list((home / "features").glob("*.pt"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    again = meme_features(tiny_memes, splits, encoder, text_dim=8)
    assert cached[0].stat().st_mtime_ns == stamp  # read, not written again
    for split in splits:
        for name in ("image", "text"):
            for a, b in zip(first[split].entries[name], again[split].entries[name]):
                assert (a is None and b is None) or torch.equal(a, b)
        assert first[split].id == again[split].id
    train = first["train"]
    assert train.image.tokens.shape == (48, 64, 64) and train.text.pooled.shape == (48, 8)
    assert train.text.tokens.shape[:2] == train.text.mask.shape
    raw = meme_features(tiny_memes, splits, encoder, text_dim=8, standardised=False)
    assert not torch.allclose(raw["train"].image.pooled, train.image.pooled)
    with torch.no_grad():
        encoder.features[0].weight.mul_(2)  # other weights: other features, another cache file
    meme_features(tiny_memes, splits, encoder, text_dim=8)
    assert len(list((home / "features").glob("*.pt"))) == 2
    assert isinstance(again["train"].image, EncoderOutput) and torch.equal(again["train"].label, train.label)


def test_a_damaged_feature_cache_is_computed_again(tiny_memes, home):
    encoder = SmallCNN()
    first = meme_features(tiny_memes, ("train", "dev"), encoder, text_dim=8)
    (cached,) = (home / "features").glob("*.pt")
    cached.write_bytes(cached.read_bytes()[:100])  # a truncated file, as after a full disk
    with pytest.warns(UserWarning, match="unreadable"):
        again = meme_features(tiny_memes, ("train", "dev"), encoder, text_dim=8)
    assert torch.equal(first["dev"].image.pooled, again["dev"].image.pooled)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the file was written again: it loads without a warning
        meme_features(tiny_memes, ("train", "dev"), encoder, text_dim=8)
