"""Notebook 05's checkers: right answers pass however they are written, each typical mistake gets
a message that names it, and an untouched exercise is "not attempted yet"."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmlab.exercises import contrastive as checkers


def out(capsys) -> str:
    return capsys.readouterr().out


# --- Exercise 1: the loss -----------------------------------------------------------------------

def loss_with_cross_entropy(image, text, logit_scale):
    image, text = F.normalize(image, dim=-1), F.normalize(text, dim=-1)
    logits = logit_scale * image @ text.T  # (B, B)
    labels = torch.arange(len(image))
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def loss_with_log_softmax(image, text, logit_scale):
    image = image / image.norm(dim=1, keepdim=True)
    text = text / text.norm(dim=1, keepdim=True)
    logits = logit_scale * text @ image.T  # captions in the rows this time
    rows = -logits.log_softmax(dim=1).diagonal().mean()
    columns = -logits.log_softmax(dim=0).diagonal().mean()
    return 0.5 * rows + 0.5 * columns


def loss_with_loops(image, text, logit_scale):
    image, text = F.normalize(image, dim=-1), F.normalize(text, dim=-1)
    B = len(image)
    total = torch.zeros(())
    for i in range(B):
        total = total - torch.log_softmax(logit_scale * text @ image[i], dim=0)[i]
        total = total - torch.log_softmax(logit_scale * image @ text[i], dim=0)[i]
    return total / (2 * B)


@pytest.mark.parametrize("fn", [loss_with_cross_entropy, loss_with_log_softmax, loss_with_loops])
def test_clip_loss_accepts_correct_versions(fn, capsys):
    assert checkers.check_clip_loss(fn) is True
    assert "matches" in out(capsys)


def test_clip_loss_not_attempted(capsys):
    assert checkers.check_clip_loss(None) is False
    assert "not attempted yet" in out(capsys)

    def untouched(image, text, logit_scale):
        ...  # your code here

    assert checkers.check_clip_loss(untouched) is False
    assert "not attempted yet" in out(capsys)


def _logits(image, text, scale):
    return scale * F.normalize(image, dim=-1) @ F.normalize(text, dim=-1).T


def one_sided(image, text, scale):
    return F.cross_entropy(_logits(image, text, scale), torch.arange(len(image)))


def columns_only(image, text, scale):
    return F.cross_entropy(_logits(image, text, scale).T, torch.arange(len(image)))


def same_direction_twice(image, text, scale):
    logits, labels = _logits(image, text, scale), torch.arange(len(image))
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits, labels)) / 2


def no_transpose(image, text, scale):
    logits = scale * F.normalize(image, dim=-1) @ F.normalize(text, dim=-1)  # (B, D) @ (B, D)
    return F.cross_entropy(logits, torch.arange(len(image)))


def summed(image, text, scale):
    logits, labels = _logits(image, text, scale), torch.arange(len(image))
    return F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)


def not_normalised(image, text, scale):
    logits, labels = scale * image @ text.T, torch.arange(len(image))
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def no_scale(image, text, scale):
    return loss_with_cross_entropy(image, text, 1.0)


def divided_scale(image, text, scale):
    return loss_with_cross_entropy(image, text, 1 / scale)


def log_scale(image, text, scale):
    return loss_with_cross_entropy(image, text, math.log(scale))


def zero_labels(image, text, scale):
    logits, labels = _logits(image, text, scale), torch.zeros(len(image), dtype=torch.long)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def per_example(image, text, scale):
    logits, labels = _logits(image, text, scale), torch.arange(len(image))
    return (F.cross_entropy(logits, labels, reduction="none")
            + F.cross_entropy(logits.T, labels, reduction="none")) / 2


@pytest.mark.parametrize("fn, words", [
    (one_sided, "only the rows"),
    (same_direction_twice, "only the rows"),
    (columns_only, "only the columns"),
    (no_transpose, "need a transpose"),
    (summed, "mean"),
    (not_normalised, "not L2-normalised"),
    (no_scale, "scale is missing"),
    (divided_scale, "divided by logit_scale"),
    (log_scale, "logarithm of logit_scale"),
    (zero_labels, "diagonal"),
    (per_example, "a scalar"),
    (lambda image, text, scale: 1 / 0, "ZeroDivisionError"),
    (lambda image, text, scale: torch.tensor(1.0), "Check each step"),
])
def test_clip_loss_names_each_mistake(fn, words, capsys):
    assert checkers.check_clip_loss(fn) is False
    assert words in out(capsys)


def test_clip_loss_wants_a_function(capsys):
    assert checkers.check_clip_loss(3.0) is False
    assert "expected a function" in out(capsys)


# --- Exercise 2: predict a larger batch ---------------------------------------------------------

MEASURED = {"batch_size": 1024, "loss_at_init": 7.03, "recall": 0.14,
            "sweep_recall": {32: 0.61, 128: 0.59, 512: 0.29}}


@pytest.mark.parametrize("prediction", [
    {"loss_at_init": math.log(1024), "recall": "lower"},
    {"loss_at_init": 7, "recall": "lower"},
    {"recall": "lower", "loss_at_init": np.float64(6.9)},
])
def test_batch_prediction_accepts_right_predictions(prediction, capsys):
    assert checkers.check_batch_prediction(prediction, MEASURED) is True
    assert "ln(1024)" in out(capsys)


def test_batch_prediction_not_attempted(capsys):
    assert checkers.check_batch_prediction(None, MEASURED) is False
    assert "not attempted yet" in out(capsys)
    assert checkers.check_batch_prediction({"loss_at_init": None, "recall": None}, MEASURED) is False
    assert "not attempted yet" in out(capsys)


@pytest.mark.parametrize("prediction, words", [
    ({"loss_at_init": 1024, "recall": "lower"}, "its logarithm"),
    ({"loss_at_init": 3.01, "recall": "lower"}, "natural logarithm"),
    ({"loss_at_init": 10.0, "recall": "lower"}, "natural logarithm"),
    ({"loss_at_init": 1 / 1024, "recall": "lower"}, "-ln of it"),
    ({"loss_at_init": 2.0, "recall": "lower"}, "about as likely"),
    ({"loss_at_init": 6.93, "recall": "higher"}, "how many optimiser steps"),
    ({"loss_at_init": 6.93, "recall": "about the same"}, "so lower"),
    ({"loss_at_init": 6.93, "recall": "worse"}, "one of higher"),
    ({"loss_at_init": "ln 1024", "recall": "lower"}, "should be a number"),
    ({"loss": 6.93, "recall": "lower"}, "keys"),
])
def test_batch_prediction_names_each_mistake(prediction, words, capsys):
    assert checkers.check_batch_prediction(prediction, MEASURED) is False
    assert words in out(capsys)


def test_batch_prediction_reads_the_measured_trend(capsys):
    flat = {**MEASURED, "recall": 0.60}  # within 0.02 of the best: about the same
    assert checkers.check_batch_prediction({"loss_at_init": 6.93, "recall": "about the same"}, flat)
    better = {**MEASURED, "recall": 0.70}
    assert checkers.check_batch_prediction({"loss_at_init": 6.93, "recall": "higher"}, better)
    assert checkers.check_batch_prediction({"loss_at_init": 6.93, "recall": "lower"}, None) is False
    assert "run the experiment cell first" in out(capsys)


# --- Exercise 3: design a held-out test ---------------------------------------------------------

@pytest.mark.parametrize("design", [
    {("red", "circle"), ("green", "square"), ("blue", "triangle"), ("yellow", "cross")},
    [("red", "cross"), ("green", "triangle"), ("blue", "square"), ("yellow", "circle")],
    {("yellow", "square"), ("blue", "circle"), ("red", "triangle"), ("green", "cross")},
])
def test_held_out_design_accepts_latin_squares(design, capsys):
    assert checkers.check_held_out_design(design) is True
    assert "exactly once" in out(capsys)


@pytest.mark.parametrize("design, words", [
    (None, "not attempted yet"),
    ({("red", "circle"), ("red", "square"), ("blue", "triangle"), ("yellow", "cross")}, "colour red"),
    ({("red", "circle"), ("green", "circle"), ("blue", "triangle"), ("yellow", "cross")}, "shape circle"),
    ({("red", "circle"), ("green", "square"), ("purple", "triangle"), ("yellow", "cross")}, "purple"),
    ({("red", "circle"), ("green", "square"), ("blue", "triangle")}, "3 different pairs"),
    ({("red", "circle"), ("green", "square"), ("blue", "triangle"), (None, "sun")}, "not a coloured shape"),
    ({"red circle", "green square", "blue triangle", "yellow cross"}, "one pair"),
    (42, "expected a set"),
])
def test_held_out_design_names_each_mistake(design, words, capsys):
    assert checkers.check_held_out_design(design) is False
    assert words in out(capsys)
