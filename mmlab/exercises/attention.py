"""Checkers for notebook 02, "Attention".

- `check_attention` (Exercise 1): scaled dot-product attention; a wrong scale is named (none,
  d instead of sqrt(d), the square root of another size, multiplied instead of divided).
- `check_masked_attention` (Exercise 2): the padding mask.
- `check_key_ranking` (Exercise 3, predict then run): which keys get the most weight.
- `check_twin` (Exercise 4, design a control): captions with the same words in another order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from mmlab.attention import scaled_dot_product_attention
from mmlab.data.text import simple_tokenize
from mmlab.exercises import call_learner, not_attempted, report, skipped, unanswered

TOLERANCE = 1e-5
# Exercise 1's inputs have sizes that differ from each other, so a wrong scale can be named.
SIZES = {"B": 2, "H": 3, "Tq": 5, "Tk": 7, "d": 16, "dv": 10}


def _inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    B, H, Tq, Tk, d, dv = SIZES.values()
    q = torch.randn(B, H, Tq, d, generator=generator)  # (B, H, Tq, d)
    k = torch.randn(B, H, Tk, d, generator=generator)  # (B, H, Tk, d)
    v = torch.randn(B, H, Tk, dv, generator=generator)  # (B, H, Tk, dv)
    return q, k, v


def _run(name: str, fn: Callable[..., Any], hint: str, *args: torch.Tensor) -> tuple[Any, bool | None]:
    """(output, weights) from the learner's function, or (None, verdict) when it cannot be checked."""
    ran, result = call_learner(name, fn, *args)
    if not ran:
        return None, False
    if result is None:
        return None, skipped(name, f"Your function returns nothing yet. {hint}")
    if not (isinstance(result, tuple) and len(result) == 2 and all(torch.is_tensor(t) for t in result)):
        return None, report(name, False, "return two tensors, `return output, weights`.")
    return result, None


def _implied_scale(weights: torch.Tensor, raw: torch.Tensor, real: torch.Tensor) -> float | None:
    """The s for which weights == softmax(raw / s) over the keys (only `real` keys), if there is one."""
    top = torch.where(real, raw, float("-inf")).argmax(dim=-1, keepdim=True)  # (..., Tq, 1)
    usable = real & (weights > 1e-30)
    log_ratio = (weights.clamp_min(1e-30).log() - weights.gather(-1, top).clamp_min(1e-30).log())[usable]
    raw_gap = (raw - raw.gather(-1, top))[usable]
    if raw_gap.abs().sum() == 0:
        return None
    inverse = float((log_ratio * raw_gap).sum() / (raw_gap * raw_gap).sum())  # least squares: 1 / s
    if inverse <= 0:
        return None
    refit = torch.where(real, raw * inverse, float("-inf")).softmax(dim=-1)
    return 1 / inverse if torch.allclose(refit, weights, atol=TOLERANCE) else None


def _name_scale(scale: float, d: int) -> str:
    """What the learner divided the scores by, in words, and what to divide by instead."""
    fix = f"divide by math.sqrt(d), with d = q.shape[-1] = {d} (the size the dot products add over)"
    named = {
        1.0: "you did not scale the scores",
        float(d): f"you divided by d = {d} instead of √d = {math.sqrt(d):g}",
        1 / math.sqrt(d): "you multiplied by √d instead of dividing by it",
        math.sqrt(SIZES["Tk"]): f"you divided by √{SIZES['Tk']}, the square root of the number of keys "
                                "(k.shape[-2]), not of their size",
        math.sqrt(SIZES["Tq"]): f"you divided by √{SIZES['Tq']}, the square root of the number of "
                                "queries (q.shape[-2]), not of their size",
        math.sqrt(SIZES["dv"]): f"you divided by √{SIZES['dv']}, the square root of the values' size "
                                "(v.shape[-1]); the scores come from q and k",
        math.sqrt(SIZES["B"]): f"you divided by √{SIZES['B']}, the square root of the batch size "
                               "(q.shape[0])",
        math.sqrt(SIZES["H"]): f"you divided by √{SIZES['H']}, the square root of the number of heads "
                               "(q.shape[1])",
    }
    for value, words in named.items():
        if math.isclose(scale, value, rel_tol=1e-3):
            return f"{words}: {fix}."
    return f"your scores are divided by about {scale:.3g}: {fix}, here √{d} = {math.sqrt(d):g}."


def _diagnose(weights: torch.Tensor, q: torch.Tensor, k: torch.Tensor, real: torch.Tensor) -> str:
    """What is off in `weights` compared with softmax(q @ kᵀ / √d) over the real keys."""
    d = q.shape[-1]
    raw = q @ k.transpose(-2, -1)  # (..., Tq, Tk)
    scaled = (raw / math.sqrt(d)).masked_fill(~real, float("-inf"))
    if torch.allclose(weights, scaled.softmax(dim=-2).nan_to_num(), atol=TOLERANCE):
        return "the softmax runs over the queries: use .softmax(dim=-1), so each query's weights sum to 1."
    if torch.allclose(weights, (raw / math.sqrt(d)).masked_fill(~real, 0.0), atol=TOLERANCE):
        return "these are the scores; turn them into weights with .softmax(dim=-1)."
    if (weights < 0).any():
        return "some weights are negative: use .softmax(dim=-1) (not log_softmax), so weights are in [0, 1]."
    if not torch.allclose(weights.sum(dim=-1), torch.ones(()), atol=1e-4):
        return "each row of the weights (one query) should sum to 1: softmax over the last dimension."
    scale = _implied_scale(weights, raw, real)
    if scale is not None:
        return _name_scale(scale, d)
    return "the weights differ from softmax(q @ kᵀ / sqrt(d)); check each step against the formula."


def check_attention(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], Any] | None) -> bool:
    """Exercise 1: fn(q, k, v) -> (output, weights), scaled dot-product attention."""
    name = "Exercise 1 (scaled dot-product attention)"
    hint = "Hint: follow softmax(QKᵀ/√d)·V from section 1, one step per line, and return (output, weights)."
    if unanswered(name, fn, hint, "def my_attention(q, k, v): ..."):
        return False
    q, k, v = _inputs()
    result, verdict = _run(name, fn, hint, q, k, v)
    if result is None:
        return verdict
    output, weights = result
    expected_output, expected_weights = scaled_dot_product_attention(q, k, v)
    if weights.shape != expected_weights.shape:
        return report(name, False, f"weights have shape {tuple(weights.shape)}, expected "
                                   f"{tuple(expected_weights.shape)} (…, Tq, Tk): one row per query. "
                                   "Transpose k over its last two dimensions: k.transpose(-2, -1).")
    if output.shape != expected_output.shape:
        also = " (you multiplied by k, not v)" if output.shape[-1] == SIZES["d"] else ""
        return report(name, False, f"output has shape {tuple(output.shape)}, expected "
                                   f"{tuple(expected_output.shape)} (…, Tq, dv): weights @ v{also}.")
    if not torch.allclose(weights, expected_weights, atol=TOLERANCE):
        return report(name, False, _diagnose(weights, q, k, torch.ones_like(weights, dtype=torch.bool)))
    if not torch.allclose(output, expected_output, atol=TOLERANCE):
        return report(name, False, "the weights are right but the output is not: it is weights @ v.")
    return report(name, True, "your attention matches mmlab's (and so PyTorch's) to within 1e-5.")


def check_masked_attention(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], Any]
                           | None) -> bool:
    """Exercise 2: fn(q, k, v, mask) -> (output, weights); masked keys (mask False) get weight 0."""
    name = "Exercise 2 (padding mask)"
    hint = "Hint: a masked key must get a weight of exactly 0 after the softmax. Which score s gives exp(s) = 0?"
    if unanswered(name, fn, hint, "def my_masked_attention(q, k, v, mask): ..."):
        return False
    q, k, v = _inputs(seed=1)
    lengths = torch.tensor([3, 5])  # some padding in each row, and some real keys
    mask = (torch.arange(SIZES["Tk"]) < lengths[:, None])[:, None, None, :]  # (B, 1, 1, Tk): True = real
    result, verdict = _run(name, fn, hint, q, k, v, mask)
    if result is None:
        return verdict
    output, weights = result
    expected_output, expected_weights = scaled_dot_product_attention(q, k, v, mask)
    if weights.shape != expected_weights.shape:
        return report(name, False, f"weights have shape {tuple(weights.shape)}, expected "
                                   f"{tuple(expected_weights.shape)} (…, Tq, Tk).")
    real = mask.expand_as(weights)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, Tq, Tk)
    if torch.allclose(weights, scaled_dot_product_attention(q, k, v, ~mask)[1], atol=TOLERANCE):
        return report(name, False, "you hid the real keys and kept the padding: True in the mask means "
                                   "'real', so fill where ~mask.")
    if torch.isnan(weights).any():
        return report(name, False, "the weights contain NaN: is every score of some query masked? "
                                   "Fill with float('-inf') only where ~mask.")
    if torch.allclose(weights, scores.masked_fill(~mask, 0.0).softmax(dim=-1), atol=TOLERANCE):
        return report(name, False, "you set the hidden scores to 0, but exp(0) = 1: padding still gets "
                                   "weight. Fill them with float('-inf'), whose exp is exactly 0.")
    if torch.allclose(weights, scores.softmax(dim=-1) * mask, atol=TOLERANCE):
        return report(name, False, "you zeroed the weights after the softmax, so the real keys' weights "
                                   "no longer sum to 1. Hide the scores before the softmax.")
    if not torch.isfinite(weights).all():
        return report(name, False, "the weights contain -inf: these are the masked scores; turn them into "
                                   "weights with .softmax(dim=-1).")
    leaked = weights[~real].abs().max().item()
    if leaked > 0:
        tiny = " It is tiny but not zero: exp of a large negative number is not 0." if leaked < 1e-6 else ""
        return report(name, False, f"masked keys still get weight (up to {leaked:.2g}); it must be exactly "
                                   f"0.{tiny} Fill the masked scores with float('-inf'), then take the softmax.")
    if not torch.allclose(weights, expected_weights, atol=TOLERANCE):
        return report(name, False, "masked keys get 0, but the other weights are off: "
                                   + _diagnose(weights, q, k, real))
    if not torch.allclose(output, expected_output, atol=TOLERANCE):
        return report(name, False, "the weights are right but the output is not: it is weights @ v.")
    return report(name, True, "padding gets exactly zero weight, and the rest matches to within 1e-5.")


def _ranking_by(values: torch.Tensor) -> list[int]:
    """Indices from the largest value to the smallest."""
    return values.argsort(descending=True, stable=True).tolist()


def check_key_ranking(prediction: Sequence[int] | None, query: torch.Tensor, keys: torch.Tensor) -> bool:
    """Exercise 3 (predict, then run): the keys' indices from most to least attention weight.

    query (1, d), keys (N, d); the measured ranking comes from `scaled_dot_product_attention`.
    """
    name = "Exercise 3 (predict the ranking)"
    if not_attempted(prediction):
        return skipped(name, "Hint: write your prediction first, e.g. `[0, 1, 2, 3, 4]`, then run the cell. "
                             "What does a dot product measure besides the angle?")
    try:
        predicted = [int(i) for i in torch.as_tensor(prediction).flatten().tolist()]
    except (TypeError, ValueError, RuntimeError):
        return report(name, False, "expected a list of key indices, most weight first, e.g. [0, 1, 2, 3, 4].")
    n = len(keys)
    if sorted(predicted) != list(range(n)):
        return report(name, False, f"give each key index 0 to {n - 1} exactly once, most weight first "
                                   f"(got {predicted}).")
    weights = scaled_dot_product_attention(query, keys, keys)[1][0]  # (N,)
    measured = _ranking_by(weights)
    shown = ", ".join(f"key {i}: {weights[i]:.3f}" for i in measured)
    if predicted == measured:
        return report(name, True, f"measured weights {shown}. A dot product is length × cosine: a long key "
                                  "at an angle can beat a short key that points the same way.")
    cosine = F.cosine_similarity(keys, query, dim=-1)  # (N,)
    mistakes = {
        tuple(_ranking_by(cosine)): "you ranked by angle (cosine similarity). Attention scores are dot "
                                    "products, which grow with the key's length too",
        tuple(measured[::-1]): "you ranked from least to most weight; the first index should get the most",
        tuple(_ranking_by(keys.norm(dim=-1))): "you ranked by length alone; a dot product is length × "
                                               "cosine, so a long key at right angles scores 0",
        tuple(_ranking_by(-(keys - query).norm(dim=-1))): "you ranked by distance to the query; attention "
                                                          "compares with a dot product, not a distance",
    }
    mistake = mistakes.get(tuple(predicted))
    if mistake is None:
        right = sum(p == m for p, m in zip(predicted, measured))
        mistake = f"{right} of {n} places right. Compute q · k for each key: that score decides"
    return report(name, False, f"{mistake}. Measured weights: {shown}.")


def _bag(text: str) -> list[str]:
    """The words of `text`, sorted: what a model without positions sees."""
    return sorted(simple_tokenize(text))


def check_twin(twin: Callable[[str], str] | None, captions: Sequence[str],
               label_of: Callable[[str], int | None],
               models: dict[str, Callable[[list[str]], torch.Tensor]]) -> bool:
    """Exercise 4 (design a control): twin(caption) keeps the words and flips the meaning.

    `label_of(caption)` is the task's rule (None: not a caption of the task); `models` maps a
    name to a function from captions to predicted labels (N,). Once the twins are a valid
    control, the checker runs every model on the captions and their twins and reports how often
    each changes its answer.
    """
    name = "Exercise 4 (design a control: twin captions)"
    hint = ("Hint: the control must keep everything but the order of the words, and the "
            "order must change the label.")
    if unanswered(name, twin, hint, "def twin(caption): ..."):
        return False
    twins = []
    for caption in captions:
        ran, made = call_learner(name, twin, caption)
        if not ran:
            return False
        if made is None:
            return skipped(name, "Your function returns nothing yet: `return` the twin caption.")
        if not isinstance(made, str):
            return report(name, False, f"expected a caption (a string), got {type(made).__name__}.")
        twins.append(made)
    pairs = list(zip(captions, twins))
    other_words = [(c, t) for c, t in pairs if _bag(t) != _bag(c)]
    if other_words:
        caption, made = other_words[0]
        return report(name, False, f"'{caption}' -> '{made}' changes the words, so a bag of words could "
                                   "tell the two apart: the control must keep exactly the same words.")
    outside = [t for _, t in pairs if label_of(t) is None]
    if outside:
        return report(name, False, f"'{outside[0]}' is not a caption of the task (the rule gives it no "
                                   "label), so no answer on it is right or wrong. Keep the task's grammar.")
    same = [(c, t) for c, t in pairs if simple_tokenize(t) == simple_tokenize(c)]
    if len(same) == len(pairs):
        return report(name, False, f"'{twins[0]}' is the caption itself: every model answers the same on "
                                   "it, so it tests nothing. Change the order of the words.")
    kept = [(c, t) for c, t in pairs if label_of(t) == label_of(c)]
    if kept:
        caption, made = next((pair for pair in kept if pair not in same), kept[0])
        return report(name, False, f"'{caption}' -> '{made}' keeps the meaning, so a model that ignores "
                                   "order is right on both: the twin must flip the label.")
    changed = {}
    for model_name, predict in models.items():
        first, second = torch.as_tensor(predict(list(captions))), torch.as_tensor(predict(twins))  # (N,) each
        changed[model_name] = (first != second).float().mean().item()
    shown = "; ".join(f"{model_name} changed its answer on {share:.0%} of the pairs"
                      for model_name, share in changed.items())
    return report(name, True, f"{len(twins)} twins, each with the same words and the opposite label: {shown}. "
                              "A model that never changes is at chance on these pairs.")
