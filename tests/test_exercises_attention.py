"""Notebook 02's checkers: right answers written in several ways pass, each typical mistake is named."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mmlab.attention import word_order_captions, word_order_label
from mmlab.data.text import simple_tokenize
from mmlab.exercises import attention as exercises


def attention_scaled_by(scale):
    """Attention that divides the scores by scale(q, k, v) instead of sqrt(d)."""

    def attention(q, k, v):
        weights = (q @ k.transpose(-2, -1) / scale(q, k, v)).softmax(dim=-1)
        return weights @ v, weights

    return attention


def reference(q, k, v):
    weights = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(dim=-1)
    return weights @ v, weights


def with_einsum(q, k, v):
    scores = torch.einsum("...qd,...kd->...qk", q, k) * q.size(-1) ** -0.5
    weights = F.softmax(scores, dim=-1)
    return torch.einsum("...qk,...kv->...qv", weights, v), weights


def with_matmul(q, k, v):
    weights = torch.softmax(torch.matmul(q, k.mT) / torch.tensor(q.shape[-1]).sqrt(), -1)
    return torch.matmul(weights, v), weights


def via_exp(q, k, v):
    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    exp = (scores - scores.amax(dim=-1, keepdim=True)).exp()
    weights = exp / exp.sum(dim=-1, keepdim=True)
    return weights @ v, weights


@pytest.mark.parametrize("answer", [reference, with_einsum, with_matmul, via_exp])
def test_attention_accepts_correct_answers_written_differently(answer, capsys):
    assert exercises.check_attention(answer) is True
    assert "✅" in capsys.readouterr().out


@pytest.mark.parametrize("scale, named", [
    (lambda q, k, v: 1.0, "did not scale"),
    (lambda q, k, v: q.shape[-1], "divided by d = 16 instead of √d"),
    (lambda q, k, v: 1 / math.sqrt(q.shape[-1]), "multiplied by √d"),
    (lambda q, k, v: math.sqrt(k.shape[-2]), "number of keys"),
    (lambda q, k, v: math.sqrt(q.shape[-2]), "number of queries"),
    (lambda q, k, v: math.sqrt(v.shape[-1]), "values' size"),
    (lambda q, k, v: math.sqrt(q.shape[0]), "batch size"),
    (lambda q, k, v: math.sqrt(q.shape[1]), "number of heads"),
    (lambda q, k, v: 3.7, "divided by about 3.7"),
])
def test_attention_names_the_scale_factor_used(scale, named, capsys):
    assert exercises.check_attention(attention_scaled_by(scale)) is False
    assert named in capsys.readouterr().out


def softmax_over_queries(q, k, v):
    weights = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(dim=-2)
    return weights @ v, weights


def scores_not_weights(q, k, v):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return scores @ v, scores


def log_softmax(q, k, v):
    weights = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).log_softmax(dim=-1)
    return weights @ v, weights


def times_keys(q, k, v):
    weights = reference(q, k, v)[1]
    return weights @ k, weights


def untransposed(q, k, v):
    weights = (q @ k / math.sqrt(q.shape[-1])).softmax(dim=-1)
    return weights @ v, weights


@pytest.mark.parametrize("answer, named", [
    (softmax_over_queries, "over the queries"),
    (scores_not_weights, "these are the scores"),
    (log_softmax, "negative"),
    (times_keys, "multiplied by k, not v"),
    (untransposed, "RuntimeError"),
    (lambda q, k, v: reference(q, k, v)[0], "two tensors"),
    (lambda q, k, v: (reference(q, k, v)[0] * 2, reference(q, k, v)[1]), "output is not"),
    (lambda q, k, v: 1 / 0, "ZeroDivisionError"),
])
def test_attention_names_other_mistakes(answer, named, capsys):
    assert exercises.check_attention(answer) is False
    assert named in capsys.readouterr().out


def test_attention_untouched_is_not_attempted(capsys):
    def untouched(q, k, v):
        ...  # your code here

    for answer in (None, ..., untouched):
        assert exercises.check_attention(answer) is False
        assert "not attempted yet" in capsys.readouterr().out
    assert exercises.check_attention("attention") is False
    assert "expected a function" in capsys.readouterr().out


# --- Exercise 2: the padding mask -----------------------------------------------------------------


def scaled_scores(q, k):
    return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])


def masked_reference(q, k, v, mask):
    weights = scaled_scores(q, k).masked_fill(~mask, float("-inf")).softmax(dim=-1)
    return weights @ v, weights


def masked_with_where(q, k, v, mask):
    weights = torch.where(mask, scaled_scores(q, k), -torch.inf).softmax(dim=-1)
    return weights @ v, weights


def masked_by_renormalising(q, k, v, mask):
    weights = scaled_scores(q, k).softmax(dim=-1) * mask
    weights = weights / weights.sum(dim=-1, keepdim=True)
    return weights @ v, weights


def masked_with_log(q, k, v, mask):
    weights = (scaled_scores(q, k) + mask.float().log()).softmax(dim=-1)  # log 0 = -inf
    return weights @ v, weights


@pytest.mark.parametrize("answer", [masked_reference, masked_with_where, masked_by_renormalising,
                                    masked_with_log])
def test_masked_attention_accepts_correct_answers_written_differently(answer, capsys):
    assert exercises.check_masked_attention(answer) is True
    assert "✅" in capsys.readouterr().out


def masked_fill_with(value):
    def attention(q, k, v, mask):
        weights = scaled_scores(q, k).masked_fill(~mask, value).softmax(dim=-1)
        return weights @ v, weights

    return attention


def zeroed_after_softmax(q, k, v, mask):
    weights = scaled_scores(q, k).softmax(dim=-1) * mask
    return weights @ v, weights


def masked_but_unscaled(q, k, v, mask):
    weights = (q @ k.transpose(-2, -1)).masked_fill(~mask, float("-inf")).softmax(dim=-1)
    return weights @ v, weights


def masked_scores_returned(q, k, v, mask):
    scores = scaled_scores(q, k).masked_fill(~mask, float("-inf"))
    return scores.softmax(dim=-1) @ v, scores


@pytest.mark.parametrize("answer, named", [
    (lambda q, k, v, mask: reference(q, k, v), "masked keys still get weight"),
    (lambda q, k, v, mask: masked_reference(q, k, v, ~mask), "True in the mask means"),
    (masked_fill_with(0.0), "exp(0) = 1"),
    (masked_fill_with(-100.0), "tiny but not zero"),
    (zeroed_after_softmax, "zeroed the weights after the softmax"),
    (masked_but_unscaled, "did not scale"),
    (masked_scores_returned, "these are the masked scores"),
    (masked_fill_with(float("nan")), "NaN"),
    (lambda q, k, v, mask: masked_reference(q, k, v, mask.transpose(-2, -1)), "RuntimeError"),
])
def test_masked_attention_names_each_mistake(answer, named, capsys):
    assert exercises.check_masked_attention(answer) is False
    assert named in capsys.readouterr().out


def test_masked_attention_untouched_is_not_attempted(capsys):
    assert exercises.check_masked_attention(...) is False
    assert "not attempted yet" in capsys.readouterr().out


# --- Exercise 3: predict the ranking --------------------------------------------------------------

QUERY = torch.tensor([[1.0, 0.0]])
KEYS = torch.tensor([[1.0, 0.0], [2.0, 2.0], [0.0, 3.0], [-1.0, 0.5], [0.5, -0.1]])
MEASURED = [1, 0, 4, 2, 3]  # dot products 2, 1, 0.5, 0, -1


@pytest.mark.parametrize("prediction", [MEASURED, tuple(MEASURED), torch.tensor(MEASURED),
                                        torch.tensor(MEASURED).numpy()])
def test_ranking_accepts_the_measured_order_in_any_container(prediction, capsys):
    assert exercises.check_key_ranking(prediction, QUERY, KEYS) is True
    assert "length × cosine" in capsys.readouterr().out


@pytest.mark.parametrize("prediction, named", [
    ([0, 4, 1, 2, 3], "ranked by angle"),
    ([3, 2, 4, 0, 1], "from least to most"),
    ([2, 1, 3, 0, 4], "by length alone"),
    ([0, 4, 3, 1, 2], "by distance"),
    ([1, 0, 2, 4, 3], "3 of 5 places right"),
    ([1, 0, 4, 2], "exactly once"),
    ([1, 1, 4, 2, 3], "exactly once"),
    ("key 1 first", "list of key indices"),
])
def test_ranking_names_each_mistake(prediction, named, capsys):
    assert exercises.check_key_ranking(prediction, QUERY, KEYS) is False
    out = capsys.readouterr().out
    assert named in out


def test_ranking_shows_the_measurement_after_a_wrong_prediction(capsys):
    exercises.check_key_ranking([0, 4, 1, 2, 3], QUERY, KEYS)
    assert "Measured weights: key 1:" in capsys.readouterr().out
    assert exercises.check_key_ranking(None, QUERY, KEYS) is False
    assert "not attempted yet" in capsys.readouterr().out


# --- Exercise 4: twin captions --------------------------------------------------------------------

CAPTIONS = list(word_order_captions(40, seed=3)["text"])


def bag_model(captions):
    """Stands in for a model without positions: its answer depends on the set of words only."""
    return torch.tensor([hash(tuple(sorted(simple_tokenize(c)))) % 2 for c in captions])


def order_model(captions):
    """Stands in for a model that reads order perfectly."""
    return torch.tensor([word_order_label(c) for c in captions])


MODELS = {"without positions": bag_model, "with positions": order_model}


def exercises_words():
    from mmlab.attention import NEGATIVE_WORDS, POSITIVE_WORDS

    return set(POSITIVE_WORDS) | set(NEGATIVE_WORDS)


def swap_by_replace(caption):
    words = caption.split()
    first, second = [w for w in words if w in exercises_words()]
    return caption.replace(first, "\0").replace(second, first).replace("\0", second)


def swap_with_regex(caption):
    import re

    pattern = "|".join(sorted(exercises_words()))
    first, second = re.findall(rf"\b({pattern})\b", caption)
    return re.sub(rf"\b({first}|{second})\b", lambda m: second if m.group(0) == first else first, caption)


def swap_around_not(caption):
    words = caption.split()
    after_not = words.index("not") + 1
    other = next(i for i, w in enumerate(words) if w in exercises_words() and i != after_not)
    words[after_not], words[other] = words[other], words[after_not]
    return " ".join(words)


@pytest.mark.parametrize("twin", [swap_by_replace, swap_with_regex, swap_around_not])
def test_twin_accepts_controls_written_differently(twin, capsys):
    assert exercises.check_twin(twin, CAPTIONS, word_order_label, MODELS) is True
    out = capsys.readouterr().out
    assert "with positions changed its answer on 100% of the pairs" in out
    assert "without positions changed its answer on 0% of the pairs" in out


def reversed_words(caption):
    return " ".join(reversed(caption.split()))


def fillers_moved_to_the_end(caption):
    words = caption.split()
    task = exercises_words() | {"not", "but", "and"}
    return " ".join([w for w in words if w in task] + [w for w in words if w not in task])


def mood_word_replaced(caption):
    return caption.replace("not", "truly")


def not_dropped(caption):
    return caption.replace("not ", "")


def denied_word_moved_after_not_only(caption):
    words = caption.split()
    after_not = words.index("not") + 1
    moved = words[after_not]
    rest = words[:after_not] + words[after_not + 1:]
    return " ".join([moved] + rest)


@pytest.mark.parametrize("twin, named", [
    (lambda caption: caption, "the caption itself"),
    (lambda caption: " " + caption.upper() + " ", "the caption itself"),
    (reversed_words, "not a caption of the task"),
    (fillers_moved_to_the_end, "keeps the meaning"),
    (mood_word_replaced, "changes the words"),
    (not_dropped, "changes the words"),
    (denied_word_moved_after_not_only, "not a caption of the task"),
    (lambda caption: caption.split(), "expected a caption (a string)"),
    (lambda caption: 1 / 0, "ZeroDivisionError"),
])
def test_twin_names_each_mistake(twin, named, capsys):
    assert exercises.check_twin(twin, CAPTIONS, word_order_label, MODELS) is False
    assert named in capsys.readouterr().out


def test_twin_untouched_is_not_attempted(capsys):
    def untouched(caption):
        ...  # your code here

    for answer in (None, untouched):
        assert exercises.check_twin(answer, CAPTIONS, word_order_label, MODELS) is False
        assert "not attempted yet" in capsys.readouterr().out
