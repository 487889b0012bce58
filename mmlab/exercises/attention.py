"""Checkers for notebook 02, "Attention from scratch"."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from mmlab.attention import scaled_dot_product_attention
from mmlab.exercises import not_attempted, report, skipped

TOLERANCE = 1e-5


def _inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(2, 3, 5, 8, generator=generator)  # (B, H, Tq, d)
    k = torch.randn(2, 3, 7, 8, generator=generator)  # (B, H, Tk, d)
    v = torch.randn(2, 3, 7, 4, generator=generator)  # (B, H, Tk, dv)
    return q, k, v


def _call(fn: Callable[..., Any], *args: torch.Tensor) -> tuple[Any, str | None]:
    """fn(*args), or a message saying what went wrong (None when it worked)."""
    try:
        result = fn(*args)
    except Exception as error:  # a learner's function may fail in any way
        return None, f"calling it raised {type(error).__name__}: {error}"
    if result is None:
        return None, "skip"
    if not (isinstance(result, tuple) and len(result) == 2 and all(torch.is_tensor(t) for t in result)):
        return None, "return two tensors, `return output, weights`."
    return result, None


def _diagnose(weights: torch.Tensor, q: torch.Tensor, k: torch.Tensor) -> str:
    """A hint about what is off in `weights` compared with the reference."""
    raw = q @ k.transpose(-2, -1)  # (..., Tq, Tk)
    if torch.allclose(weights, raw.softmax(dim=-1), atol=TOLERANCE):
        return "the weights are the softmax of q @ kᵀ without the scaling: divide the scores by math.sqrt(d)."
    scaled = raw / math.sqrt(q.shape[-1])
    if torch.allclose(weights, scaled.softmax(dim=-2), atol=TOLERANCE):
        return "the softmax runs over the queries: use .softmax(dim=-1), so each query's weights sum to 1."
    if torch.allclose(weights, scaled, atol=TOLERANCE):
        return "these are the scores; turn them into weights with .softmax(dim=-1)."
    if not torch.allclose(weights.sum(dim=-1), torch.ones(()), atol=1e-4):
        return "each row of the weights (one query) should sum to 1: softmax over the last dimension."
    return "the weights differ from softmax(q @ kᵀ / sqrt(d)); check each step against the formula."


def check_attention(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], Any] | None) -> bool:
    """Exercise 1: fn(q, k, v) -> (output, weights), scaled dot-product attention."""
    name = "Exercise 1 (scaled dot-product attention)"
    hint = "Hint: follow softmax(QKᵀ/√d)·V from section 1, one step per line, and return (output, weights)."
    if not_attempted(fn):
        return skipped(name, hint)
    if not callable(fn):
        return report(name, False, "expected a function, `def my_attention(q, k, v): ...`.")
    q, k, v = _inputs()
    result, problem = _call(fn, q, k, v)
    if problem == "skip":
        return skipped(name, f"Your function returns nothing yet. {hint}")
    if problem:
        return report(name, False, problem)
    output, weights = result
    expected_output, expected_weights = scaled_dot_product_attention(q, k, v)
    if weights.shape != expected_weights.shape:
        return report(name, False, f"weights have shape {tuple(weights.shape)}, expected "
                                   f"{tuple(expected_weights.shape)} (…, Tq, Tk): one row per query.")
    if output.shape != expected_output.shape:
        return report(name, False, f"output has shape {tuple(output.shape)}, expected "
                                   f"{tuple(expected_output.shape)} (…, Tq, dv): weights @ v.")
    if not torch.allclose(weights, expected_weights, atol=TOLERANCE):
        return report(name, False, _diagnose(weights, q, k))
    if not torch.allclose(output, expected_output, atol=TOLERANCE):
        return report(name, False, "the weights are right but the output is not: it is weights @ v.")
    return report(name, True, "your attention matches mmlab's (and so PyTorch's) to within 1e-5.")


def check_masked_attention(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], Any] | None) -> bool:
    """Exercise 2: fn(q, k, v, mask) -> (output, weights); masked keys (mask False) get weight 0."""
    name = "Exercise 2 (padding mask)"
    hint = "Hint: a masked key must get a weight of exactly 0 after the softmax. Which score s gives exp(s) = 0?"
    if not_attempted(fn):
        return skipped(name, hint)
    if not callable(fn):
        return report(name, False, "expected a function, `def my_masked_attention(q, k, v, mask): ...`.")
    q, k, v = _inputs(seed=1)
    lengths = torch.tensor([3, 5])  # some padding in each row, and some real keys
    mask = (torch.arange(7) < lengths[:, None])[:, None, None, :]  # (B, 1, 1, Tk): True = real key
    result, problem = _call(fn, q, k, v, mask)
    if problem == "skip":
        return skipped(name, f"Your function returns nothing yet. {hint}")
    if problem:
        return report(name, False, problem)
    output, weights = result
    expected_output, expected_weights = scaled_dot_product_attention(q, k, v, mask)
    if weights.shape != expected_weights.shape:
        return report(name, False, f"weights have shape {tuple(weights.shape)}, expected {tuple(expected_weights.shape)}.")
    hidden = ~mask.expand_as(weights)
    if torch.allclose(weights, scaled_dot_product_attention(q, k, v, ~mask)[1], atol=TOLERANCE):
        return report(name, False, "you hid the real keys and kept the padding: True in the mask means "
                                   "'real', so fill where ~mask.")
    if torch.isnan(weights).any():
        return report(name, False, "the weights contain NaN: is every score of some query masked? "
                                   "Fill with float('-inf') only where ~mask.")
    if not (weights[hidden] == 0).all():
        largest = weights[hidden].abs().max().item()
        return report(name, False, f"masked keys still get weight (up to {largest:.2g}); it must be exactly "
                                   "0. Fill the masked scores with float('-inf'), then take the softmax.")
    if not torch.allclose(weights, expected_weights, atol=TOLERANCE):
        return report(name, False, "masked keys get 0, but the other weights are off: "
                                   "softmax(q @ kᵀ / sqrt(d)) over the last dimension.")
    if not torch.allclose(output, expected_output, atol=TOLERANCE):
        return report(name, False, "the weights are right but the output is not: it is weights @ v.")
    return report(name, True, "padding gets exactly zero weight, and the rest matches to within 1e-5.")
