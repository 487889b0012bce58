"""mmlab.pretrain: encoders trained on unimodal labels through the one loop, and their cache."""

from __future__ import annotations

import json

import pytest
import torch

from mmlab.data import MemeDataset, write_synthmemes
from mmlab.errors import MmlabError
from mmlab.pretrain import (CellClassifier, Pretrained, cell_attributes, cell_owners,
                            pretrain_cell_encoder, pretrain_image_encoder, pretrain_text_encoder)
from mmlab.utils import to_device


def small_memes(tmp_path, seed=0, negation=0.0):
    out = tmp_path / f"memes-{seed}-{negation}"
    return write_synthmemes(out, n=64, seed=seed, size=32, negation=negation, difficulty="clean")


def test_cells_belong_to_the_object_whose_box_holds_their_centre():
    objects = [[{"color": "red", "shape": "circle", "box": [0, 0, 16, 16]},
                {"color": "blue", "shape": "cross", "box": [40, 40, 64, 64]}]]
    owners = cell_owners(objects, size=64)  # 8 x 8 cells of 8 px, centres at 4, 12, ..., 60
    grid = owners.view(8, 8)
    assert (grid[:2, :2] == 0).all() and (grid[5:, 5:] == 1).all()
    assert (owners == -1).sum() == 64 - 4 - 9
    labels = cell_attributes(objects, owners)  # (1, 2, 64): colour and shape, 0 for no object
    assert labels.shape == (1, 2, 64)
    assert labels[0, 0, 0] == 1 and labels[0, 1, 0] == 1  # red (1st colour), circle (1st shape)
    assert labels[0, 0, 63] == 3 and labels[0, 1, 63] == 4  # blue, cross
    assert (labels[0, :, owners[0] == -1] == 0).all()


def test_cell_encoder_learns_the_colour_and_shape_under_each_cell(tmp_path, home):
    root = write_synthmemes(tmp_path / "g", "grounding", n=96, seed=2)
    trained = pretrain_cell_encoder(root, epochs=3, progress=False)
    assert trained.accuracy > 0.75  # background is most cells; colours and shapes must be learned too
    assert not trained.encoder.training and trained.path.name.startswith("small_cnn-cell_attributes-")
    again = pretrain_cell_encoder(root, epochs=3, progress=False)
    assert again.from_cache and again.accuracy == trained.accuracy
    model = CellClassifier(trained.encoder)
    assert model({"image": torch.zeros(2, 3, 64, 64, dtype=torch.uint8)}).shape == (2, 5, 2, 64)


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
    torch.save({"model": {}, "extra": {"classes": first.classes, "vocab": first.vocab.tokens},
                "accuracy": 0.0}, first.path)  # readable, but not these layers
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
    words = loaded.vocab.encode_batch(["what a lovely day", "not an awful day"])
    device = next(loaded.encoder.parameters()).device  # the GPU when there is one (device="auto")
    words = to_device(words, device)
    assert torch.allclose(loaded.encoder(words).pooled, trained.encoder(words).pooled)
    assert loaded.encoder(words).pooled.shape == (2, 16)


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
