"""mmlab.attention against PyTorch's own attention, and the notebook 02 checkers."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmlab.attention import CrossAttentionBlock, MultiHeadAttention, padding_mask, scaled_dot_product_attention
from mmlab.exercises import attention as exercises


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


# --- the exercise checkers -----------------------------------------------------------------------


def reference(q, k, v):
    weights = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(dim=-1)
    return weights @ v, weights


def reference_masked(q, k, v, mask):
    scores = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    return weights @ v, weights


def test_check_attention(capsys):
    assert exercises.check_attention(None) is False
    assert "not attempted yet" in capsys.readouterr().out

    def untouched(q, k, v):
        ...  # your code here

    assert exercises.check_attention(untouched) is False
    assert "not attempted yet" in capsys.readouterr().out
    assert exercises.check_attention(reference) is True

    def unscaled(q, k, v):
        weights = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        return weights @ v, weights

    assert exercises.check_attention(unscaled) is False
    assert "math.sqrt(d)" in capsys.readouterr().out

    def wrong_dim(q, k, v):
        weights = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(dim=-2)
        return weights @ v, weights

    assert exercises.check_attention(wrong_dim) is False
    assert "dim=-1" in capsys.readouterr().out
    assert exercises.check_attention(lambda q, k, v: reference(q, k, v)[0]) is False
    assert "two tensors" in capsys.readouterr().out
    assert exercises.check_attention(lambda q, k, v: (reference(q, k, v)[1], reference(q, k, v)[1])) is False
    assert "output has shape" in capsys.readouterr().out
    assert exercises.check_attention(lambda q, k, v: 1 / 0) is False
    assert "ZeroDivisionError" in capsys.readouterr().out
    assert exercises.check_attention("attention") is False


def test_check_masked_attention(capsys):
    assert exercises.check_masked_attention(...) is False
    assert "not attempted yet" in capsys.readouterr().out
    assert exercises.check_masked_attention(reference_masked) is True
    assert exercises.check_masked_attention(lambda q, k, v, mask: reference(q, k, v)) is False
    assert "exactly" in capsys.readouterr().out
    assert exercises.check_masked_attention(lambda q, k, v, mask: reference_masked(q, k, v, ~mask)) is False
    assert "True in the mask means" in capsys.readouterr().out

    def after_softmax(q, k, v, mask):
        weights = reference(q, k, v)[1].masked_fill(~mask, 0.0)  # zeros, but rows no longer sum to 1
        return weights @ v, weights

    assert exercises.check_masked_attention(after_softmax) is False
    assert "other weights are off" in capsys.readouterr().out
