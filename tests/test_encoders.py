"""Encoders and text utilities: output shapes, masks, weights loading (offline), fastText cache."""

from __future__ import annotations

import urllib.error

import pytest
import torch
import torchvision

from mmlab.data.text import Vocab, sentence_vectors, simple_tokenize, train_fasttext
from mmlab.encoders import (IMAGE_ENCODERS, TEXT_ENCODERS, EncoderOutput, GRUEncoder, SmallCNN, encode,
                            TransformerTextEncoder, image_encoder, text_encoder)
from mmlab.errors import MmlabError

CAPTIONS = ["what a lovely day", "not an awful day lol", "i hate it so much", "",
            "honestly this is not good news", "feeling happy"]


# --- text utilities ---------------------------------------------------------------------------

def test_simple_tokenize_lowercases_and_keeps_apostrophes_inside_words():
    assert simple_tokenize("Don't PANIC!! it\u2019s 'fine' ok_now 42") == \
        ["don't", "panic", "it's", "fine", "ok", "now", "42"]
    assert simple_tokenize("   ") == []


def test_vocab_ids_padding_and_mask():
    vocab = Vocab.build(CAPTIONS)
    assert vocab.tokens[:2] == ["<pad>", "<unk>"]
    assert vocab.encode("lovely zebra") == [vocab.index["lovely"], vocab.unk_id]
    ids, mask = vocab.encode_batch(CAPTIONS)
    longest = max(len(simple_tokenize(c)) for c in CAPTIONS)
    assert ids.shape == mask.shape == (len(CAPTIONS), longest)
    assert ids.dtype == torch.long and mask.dtype == torch.bool
    assert mask.sum(dim=1).tolist() == [4, 5, 5, 1, 6, 2]  # the empty caption gets one <unk>
    assert ids[3, 0].item() == vocab.unk_id
    assert (ids[~mask] == vocab.pad_id).all() and (ids[mask] != vocab.pad_id).all()
    ids, mask = vocab.encode_batch(CAPTIONS, max_len=3)
    assert ids.shape == (len(CAPTIONS), 3)


def test_vocab_min_freq_save_and_load(tmp_path):
    vocab = Vocab.build(CAPTIONS, min_freq=2)
    assert set(vocab.tokens[2:]) == {"day", "not"}
    vocab.save(tmp_path / "vocab.json")
    assert Vocab.load(tmp_path / "vocab.json").tokens == vocab.tokens
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(MmlabError, match="bad.json"):
        Vocab.load(tmp_path / "bad.json")


def test_fasttext_trains_on_real_lines_caches_and_is_deterministic(tmp_path, monkeypatch):
    import fasttext

    texts = [c for c in CAPTIONS if c] * 10
    seen = {}
    real_train = fasttext.train_unsupervised

    def spy(**kwargs):
        with open(kwargs["input"], encoding="utf-8") as file:
            seen["corpus"] = file.read()
        return real_train(**kwargs)

    monkeypatch.setattr(fasttext, "train_unsupervised", spy)
    model = train_fasttext(texts, dim=16, cache_dir=tmp_path / "a")
    assert seen["corpus"].count("\n") == len(texts) and "/n" not in seen["corpus"]
    vectors = sentence_vectors(model, ["what a lovely day", "feeling happy"])
    assert vectors.shape == (2, 16) and vectors.dtype == torch.float32
    assert len(list((tmp_path / "a").glob("*.bin"))) == 1

    def fail(**kwargs):
        raise AssertionError("should have loaded the cached model")

    monkeypatch.setattr(fasttext, "train_unsupervised", fail)
    again = sentence_vectors(train_fasttext(texts, dim=16, cache_dir=tmp_path / "a"), ["what a lovely day"])
    assert torch.equal(again[0], vectors[0])
    monkeypatch.setattr(fasttext, "train_unsupervised", real_train)
    fresh = sentence_vectors(train_fasttext(texts, dim=16, cache_dir=tmp_path / "b"), ["what a lovely day"])
    assert torch.equal(fresh[0], vectors[0])  # retrained from scratch: the same numbers
    other = train_fasttext(texts[:-1], dim=16, cache_dir=tmp_path / "a")  # other texts: other file
    assert other.get_dimension() == 16 and len(list((tmp_path / "a").glob("*.bin"))) == 2


# --- image encoders ---------------------------------------------------------------------------

def check_image_output(out: EncoderOutput, batch: int, tokens: int, dim: int) -> None:
    assert isinstance(out, EncoderOutput)
    assert out.tokens.shape == (batch, tokens, dim)
    assert out.pooled.shape == (batch, dim)
    assert out.mask is None
    assert torch.allclose(out.pooled, out.tokens.mean(dim=1), atol=1e-5)


def test_each_small_cnn_cell_sees_a_31_pixel_window_around_its_cell():
    encoder = SmallCNN().eval()
    pictures = torch.rand(1, 3, 64, 64, requires_grad=True)
    encoder(pictures).tokens[0, 3 * 8 + 3].sum().backward()  # the cell in row 3, column 3
    seen = pictures.grad.abs().sum(dim=(0, 1)) > 0  # (64, 64): pixels that change this cell
    rows, cols = seen.any(dim=1).nonzero().flatten(), seen.any(dim=0).nonzero().flatten()
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (9, 39, 9, 39)  # 31 x 31 px
    # the cell itself covers pixels 24..31; its window reaches 15 px before and 8 px after it


def test_encode_runs_a_frozen_encoder_in_chunks():
    torch.manual_seed(0)
    encoder = SmallCNN()
    pictures = torch.randint(0, 256, (10, 3, 32, 32), dtype=torch.uint8)
    whole = encoder.eval()(pictures)
    chunked = encode(encoder.train(), pictures, batch_size=3)  # switched to eval mode by encode
    assert torch.allclose(chunked.tokens, whole.tokens, atol=1e-6) and chunked.mask is None
    vocab = Vocab.build(CAPTIONS)
    words = encode(text_encoder("bow", len(vocab), dim=8), vocab.encode_batch(CAPTIONS), batch_size=4)
    assert words.tokens.shape[:2] == words.mask.shape and len(words.pooled) == len(CAPTIONS)


def test_small_cnn_gives_an_8x8_grid_of_tokens_at_64px():
    torch.manual_seed(0)
    encoder = SmallCNN().eval()
    pictures = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)
    out = encoder(pictures)
    check_image_output(out, 2, 64, 64)
    assert encoder.dim == 64
    assert torch.allclose(encoder(pictures.float() / 255).pooled, out.pooled)  # uint8 == float/255


def test_resnets_tokens_are_the_last_feature_map_cells():
    torch.manual_seed(0)
    pictures = torch.rand(2, 3, 64, 64)
    check_image_output(image_encoder("resnet18").eval()(pictures), 2, 4, 512)  # 64 px / 32 = a 2x2 map
    check_image_output(image_encoder("resnet18", dim=32).eval()(pictures), 2, 4, 32)
    big = image_encoder("resnet152").eval()
    check_image_output(big(pictures[:1, :, :32, :32]), 1, 1, 2048)


def test_image_encoder_names():
    assert set(IMAGE_ENCODERS) == {"small_cnn", "resnet18", "resnet152"}
    with pytest.raises(MmlabError, match="small_cnn"):
        image_encoder("vgg")


def test_pretrained_weights_offline_give_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no cached download to fall back on

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(MmlabError) as caught:
        image_encoder("resnet18", weights="IMAGENET1K_V1")
    message = str(caught.value)
    assert "\n" not in message
    assert "cannot download" in message and "resnet18-f37072fd.pth" in message
    assert "fix:" in message and "weights='path/to/" in message
    with pytest.raises(MmlabError, match="IMAGENET1K_V1"):
        image_encoder("resnet18", weights="IMAGENET_SUPER")  # a typo lists the valid names
    with pytest.raises(MmlabError, match="not found"):
        image_encoder("resnet18", weights=tmp_path / "missing.pth")


def test_local_weights_file_loads(tmp_path):
    torch.manual_seed(1)
    reference = torchvision.models.resnet18(weights=None)
    torch.save(reference.state_dict(), tmp_path / "resnet18.pth")
    encoder = image_encoder("resnet18", weights=tmp_path / "resnet18.pth")
    assert torch.equal(encoder.body[0].weight, reference.conv1.weight)
    torch.save(SmallCNN().state_dict(), tmp_path / "small.pt")
    with pytest.raises(MmlabError, match="not resnet18 weights"):
        image_encoder("resnet18", weights=tmp_path / "small.pt")
    small = image_encoder("small_cnn", weights=tmp_path / "small.pt")
    assert isinstance(small, SmallCNN)


# --- text encoders ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(TEXT_ENCODERS))
def test_text_encoder_shapes_and_padding(name):
    torch.manual_seed(0)
    vocab = Vocab.build(CAPTIONS)
    encoder = text_encoder(name, len(vocab), dim=32).eval()
    words = vocab.encode_batch(CAPTIONS)  # TokenBatch: ids and mask, (6, 6) each
    out = encoder(words)
    mask = words.mask
    assert out.tokens.shape == (6, 6, 32) and out.pooled.shape == (6, 32)
    assert torch.equal(out.mask, mask)
    assert (out.tokens[~mask] == 0).all()  # padding positions carry nothing
    # A caption encoded alone (no padding) gives the same result as inside the padded batch.
    alone = encoder(vocab.encode_batch([CAPTIONS[0]]))
    assert torch.allclose(alone.pooled[0], out.pooled[0], atol=1e-5)
    assert torch.allclose(alone.tokens[0], out.tokens[0, :4], atol=1e-5)
    assert not torch.allclose(out.pooled[0], out.pooled[1])


def test_gru_variants_and_bad_settings():
    vocab = Vocab.build(CAPTIONS)
    words = vocab.encode_batch(CAPTIONS)
    ids, mask = words  # a TokenBatch unpacks like a pair
    for encoder in (GRUEncoder(len(vocab), dim=15, bidirectional=False), GRUEncoder(len(vocab), dim=16)):
        out = encoder.eval()(words)
        assert out.tokens.shape == (6, 6, encoder.dim) and out.pooled.shape == (6, encoder.dim)
    # Unidirectional, last state: the pooled vector is the output at the last real word.
    gru = GRUEncoder(len(vocab), dim=8, bidirectional=False).eval()
    out = gru(words)
    last = mask.sum(dim=1) - 1
    assert torch.allclose(out.pooled, out.tokens[torch.arange(6), last], atol=1e-6)
    with pytest.raises(ValueError, match="even"):
        GRUEncoder(10, dim=15)
    with pytest.raises(ValueError, match="max_len"):
        TransformerTextEncoder(len(vocab), dim=16, max_len=4)(words)
    with pytest.raises(MmlabError, match="bow"):
        text_encoder("lstm", 10)
