"""mmlab.attention against PyTorch's own attention; self-attention with and without positions."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmlab.attention import (CrossAttentionBlock, MultiHeadAttention, SelfAttentionClassifier, padding_mask,
                             scaled_dot_product_attention, word_order_captions, word_order_label)
from mmlab.data.text import Vocab, simple_tokenize
from mmlab.features import FeatureDataset
from mmlab.train import evaluate, fit, make_loader
from mmlab.utils import seed_everything


def random_qkv(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(3, 4, 6, 16, generator=generator)  # (B, H, Tq, d)
    k = torch.randn(3, 4, 9, 16, generator=generator)  # (B, H, Tk, d)
    v = torch.randn(3, 4, 9, 8, generator=generator)  # (B, H, Tk, dv)
    return q, k, v


def test_sdpa_matches_pytorch_unmasked():
    q, k, v = random_qkv()
    output, weights = scaled_dot_product_attention(q, k, v)
    assert output.shape == (3, 4, 6, 8) and weights.shape == (3, 4, 6, 9)
    assert (output - F.scaled_dot_product_attention(q, k, v)).abs().max() < 1e-5
    assert torch.allclose(weights.sum(-1), torch.ones(3, 4, 6))


@pytest.mark.parametrize("shape", [(3, 1, 1, 9), (3, 1, 6, 9)])  # a padding mask, a mask per query
def test_sdpa_matches_pytorch_masked_and_masked_keys_get_exact_zeros(shape):
    q, k, v = random_qkv(1)
    mask = torch.rand(shape, generator=torch.Generator().manual_seed(2)) > 0.4
    mask[..., 0] = True  # every query sees at least one key
    output, weights = scaled_dot_product_attention(q, k, v, mask)
    assert (output - F.scaled_dot_product_attention(q, k, v, attn_mask=mask)).abs().max() < 1e-5
    assert (weights[~mask.expand_as(weights)] == 0).all()  # exactly zero, not just small


def test_fully_masked_query_gets_zero_weights_not_nan():
    q, k, v = random_qkv()
    mask = torch.ones(3, 4, 6, 9, dtype=torch.bool)
    mask[0, 0, 0] = False
    output, weights = scaled_dot_product_attention(q, k, v, mask)
    assert not torch.isnan(output).any()
    assert (weights[0, 0, 0] == 0).all() and (output[0, 0, 0] == 0).all()


def test_padding_mask():
    assert padding_mask(torch.tensor([2, 3])).tolist() == [[True, True, False], [True, True, True]]
    assert padding_mask(torch.tensor([1]), max_len=3).tolist() == [[True, False, False]]


def copy_into_pytorch(ours: MultiHeadAttention) -> nn.MultiheadAttention:
    dim = ours.out.in_features
    theirs = nn.MultiheadAttention(dim, ours.num_heads, batch_first=True)
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat([ours.query.weight, ours.key.weight, ours.value.weight]))
        theirs.in_proj_bias.copy_(torch.cat([ours.query.bias, ours.key.bias, ours.value.bias]))
        theirs.out_proj.weight.copy_(ours.out.weight)
        theirs.out_proj.bias.copy_(ours.out.bias)
    return theirs


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("self_attention", [False, True])
def test_multi_head_matches_nn_multihead_attention(masked, self_attention):
    torch.manual_seed(0)
    ours = MultiHeadAttention(dim=32, num_heads=4)
    theirs = copy_into_pytorch(ours)
    x = torch.randn(5, 7, 32)
    context = x if self_attention else torch.randn(5, 11, 32)
    mask = padding_mask(torch.tensor([1, 3, 5, 7, 7] if self_attention else [1, 4, 11, 8, 2]),
                        max_len=context.shape[1]) if masked else None
    with torch.no_grad():
        out_ours, w_ours = ours(x, context, mask)
        out_theirs, w_theirs = theirs(x, context, context, average_attn_weights=False,
                                      key_padding_mask=None if mask is None else ~mask)
    assert w_ours.shape == (5, 4, 7, context.shape[1])
    assert (out_ours - out_theirs).abs().max() < 1e-5
    assert (w_ours - w_theirs).abs().max() < 1e-5
    if masked:
        assert (w_ours[~mask[:, None, None, :].expand_as(w_ours)] == 0).all()


def test_multi_head_rejects_indivisible_dim():
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(10, num_heads=3)


def test_cross_attention_block_shapes_and_gradients():
    torch.manual_seed(0)
    block = CrossAttentionBlock(dim=16, context_dim=24, num_heads=2)
    words, cells = torch.randn(3, 5, 16, requires_grad=True), torch.randn(3, 64, 24)
    out, weights = block(words, cells)
    assert out.shape == (3, 5, 16) and weights.shape == (3, 2, 5, 64)
    assert torch.allclose(weights.sum(-1), torch.ones(3, 2, 5))
    out.sum().backward()
    assert words.grad is not None and block.attention.key.weight.grad is not None


def test_word_order_captions_come_in_pairs_of_the_same_words_with_opposite_labels():
    frame = word_order_captions(200, seed=1)
    assert len(frame) == 200 and frame["label"].mean() == 0.5
    for _, pair in frame.groupby("pair"):
        first, second = pair["text"]
        assert sorted(simple_tokenize(first)) == sorted(simple_tokenize(second)) and first != second
        assert set(pair["label"]) == {0, 1}
    assert [word_order_label(text) for text in frame["text"]] == frame["label"].tolist()


@pytest.mark.parametrize("caption, label", [
    ("not awful but lovely", 0), ("lol not lovely but awful today", 1), ("sad and not happy", 1),
    ("lovely but awful not", None), ("not awful but not lovely", None), ("not awful but terrible", None),
    ("a lovely day", None),
])
def test_word_order_label_reads_the_word_that_not_does_not_deny(caption, label):
    assert word_order_label(caption) == label


def order_data(n: int, seed: int):
    frame = word_order_captions(n, seed)
    return frame, FeatureDataset(text=VOCAB.encode_batch(list(frame["text"])), label=torch.tensor(frame["label"]))


VOCAB = Vocab.build(word_order_captions(400, seed=0)["text"])


def test_without_positions_any_reordering_gives_the_same_logits():
    seed_everything(0)
    model = SelfAttentionClassifier(len(VOCAB), positions=False).eval()
    captions = ["not awful but lovely", "not lovely but awful", "lovely but not awful", "awful lovely not but"]
    logits = model({"text": VOCAB.encode_batch(captions)})
    assert torch.allclose(logits, logits[:1].expand(4, 2), atol=1e-6)
    with_positions = SelfAttentionClassifier(len(VOCAB)).eval()({"text": VOCAB.encode_batch(captions[:2])})
    assert not torch.allclose(with_positions[0], with_positions[1], atol=1e-3)


def test_captions_longer_than_the_positions_are_refused():
    model = SelfAttentionClassifier(len(VOCAB), max_len=3)
    with pytest.raises(ValueError, match="max_len"):
        model({"text": VOCAB.encode_batch(["not awful but lovely"])})


def test_only_the_model_with_positions_learns_the_word_order_task():
    _, train = order_data(400, seed=0)
    _, test = order_data(200, seed=1)
    accuracy = {}
    for positions in (False, True):
        seed_everything(0)
        model = SelfAttentionClassifier(len(VOCAB), positions=positions)
        fit(model, make_loader(train, 32, True), epochs=8, lr=1e-2, schedule="one_cycle", progress=False)
        accuracy[positions] = evaluate(model, make_loader(test, 256, False))["accuracy"]
    assert accuracy[False] == 0.5  # each pair gets the same answer twice: one right, one wrong
    assert accuracy[True] > 0.8
