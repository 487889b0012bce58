"""Notebook 00's checkers: right answers pass however they are written, each typical mistake
is rejected with a message that names it."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
import torch

from mmlab.exercises import welcome


@pytest.fixture
def splits():
    """Three small splits: train 36 % mean (30 % before the noise), dev and test balanced."""
    train = pd.DataFrame({"label": [1] * 36 + [0] * 64, "label_clean": [1] * 30 + [0] * 70})
    dev = pd.DataFrame({"label": [1, 0] * 10, "label_clean": [1, 0] * 10})
    test = pd.DataFrame({"label": [1, 0] * 20, "label_clean": [1, 0] * 20})
    return {"train": train, "dev_seen": dev, "test_seen": test}


def verdict(capsys) -> str:
    return capsys.readouterr().out


# Exercise 1 -----------------------------------------------------------------------------------

@pytest.mark.parametrize("answer", [0.36, 0.360, 36 / 100, np.float32(0.36), torch.tensor(0.36),
                                    Fraction(9, 25)])
def test_label_share_accepts_the_train_share_however_written(splits, answer, capsys):
    assert welcome.check_label_share(answer, splits) is True
    assert "not balanced" in verdict(capsys)


@pytest.mark.parametrize("answer, mistake", [
    (None, "not attempted yet"),
    (..., "not attempted yet"),
    (36, "percentage"),
    (0.64, "share of label 0"),
    (0.30, "label_clean"),
    (0.5, "share in dev_seen"),
    (0.25, "0.250 is not it"),
    ("0.36", "expected a number"),
    (True, "expected a number"),
])
def test_label_share_names_each_mistake(splits, answer, mistake, capsys):
    assert welcome.check_label_share(answer, splits) is False
    assert mistake in verdict(capsys)


def test_label_share_recognises_a_count(splits, capsys):
    splits["train"] = pd.concat([splits["train"]] * 2, ignore_index=True)  # 72 mean memes of 200
    assert welcome.check_label_share(72, splits) is False
    assert "number of mean memes" in verdict(capsys)


# Exercise 2 -----------------------------------------------------------------------------------

MEASURED = {"accuracy on train": 0.64, "accuracy on test_seen": 0.5, "AUROC on test_seen": 0.5}


def prediction(train=0.64, test=0.5, auroc=0.5) -> dict:
    return {"accuracy on train": train, "accuracy on test_seen": test, "AUROC on test_seen": auroc}


@pytest.mark.parametrize("answer", [
    prediction(),
    prediction(0.65, 0.52, 0.49),  # within 0.03: a good estimate
    prediction(Fraction(16, 25), np.float64(0.5), torch.tensor(0.5)),
    {"AUROC on test_seen": 1 / 2, "accuracy on test_seen": 1 / 2, "accuracy on train": 1 - 0.36},
])
def test_constant_model_accepts_right_predictions(answer, capsys):
    assert welcome.check_constant_model(answer, MEASURED) is True
    assert "a constant ranks nothing" in verdict(capsys)


@pytest.mark.parametrize("answer, mistake", [
    (None, "not attempted yet"),
    (prediction(None, None, None), "not attempted yet"),
    (prediction(auroc=None), "AUROC on test_seen still missing"),
    (prediction(train=0.5), "training split is not balanced"),
    (prediction(train=0.36), "is the share of mean memes"),
    (prediction(test=0.64), "the test splits are balanced"),
    (prediction(auroc=0.64), "AUROC does not depend on how many memes are benign"),
    (prediction(auroc=0.0), "perfect ranking upside down"),
    (prediction(train=64), "not a percentage"),
    (prediction(auroc="half"), "expected a number"),
    ([0.64, 0.5, 0.5], "expected the dict"),
])
def test_constant_model_names_each_mistake(answer, mistake, capsys):
    assert welcome.check_constant_model(answer, MEASURED) is False
    assert mistake in verdict(capsys)


# Exercise 3 -----------------------------------------------------------------------------------

def xor_with_if(image_mood, text_mood):
    if image_mood == text_mood:
        return 0
    return 1


@pytest.mark.parametrize("rule", [
    xor_with_if,
    lambda image, text: int(image != text),
    lambda image, text: image ^ text,
    lambda image, text: (image + text) % 2,
    lambda image, text: image != text,  # True and False count as 1 and 0
    lambda image, text: np.int64(abs(image - text)),
])
def test_mood_rule_accepts_every_way_of_writing_the_xor(rule, capsys):
    assert welcome.check_mood_rule(rule) is True
    assert "XOR" in verdict(capsys)


def untouched(image_mood, text_mood):
    ...  # your rule here


@pytest.mark.parametrize("rule, mistake", [
    (None, "not attempted yet"),
    (untouched, "not attempted yet"),
    (lambda image, text: int(image == text), "the opposite of the rule"),
    (lambda image, text: image, "the picture's mood alone"),
    (lambda image, text: text, "the caption's mood alone"),
    (lambda image, text: image and text, "an AND"),
    (lambda image, text: image or text, "an OR"),
    (lambda image, text: 1, "always answers 1"),
    (lambda image, text: int(image > text), "1 of the 4 cases are off"),
    (lambda image, text: "mean" if image != text else "benign", "return the label, 0"),
    (lambda image, text: 1 / 0, "ZeroDivisionError"),
    (42, "expected a function"),
])
def test_mood_rule_names_each_mistake(rule, mistake, capsys):
    assert welcome.check_mood_rule(rule) is False
    assert mistake in verdict(capsys)


# Exercise 4 -----------------------------------------------------------------------------------

@pytest.fixture
def test_seen():
    """A test split with every reason, and a caption model that finds only the insults."""
    reasons = ["benign"] * 40 + ["interaction"] * 30 + ["text"] * 20 + ["image"] * 10
    frame = pd.DataFrame({"reason": reasons})
    frame["label_clean"] = (frame["reason"] != "benign").astype(int)
    frame["label"] = frame["label_clean"]
    frame.loc[[0, 50], "label"] = 1 - frame.loc[[0, 50], "label"]  # some label noise
    rank_in_reason = frame.groupby("reason").cumcount().to_numpy()
    proba = 0.2 + 0.01 * (rank_in_reason % 10)  # the same scores for every reason...
    proba[frame["reason"] == "text"] += 0.5  # ...except the insults, which score high
    return frame, proba


@pytest.mark.parametrize("make_keep", [
    lambda f: f["reason"].isin(["benign", "interaction"]),
    lambda f: ((f["reason"] == "benign") | (f["reason"] == "interaction")).to_numpy(),
    lambda f: ~f["reason"].isin(["text", "image"]),
    lambda f: torch.tensor([reason in ("benign", "interaction") for reason in f["reason"]]),
    lambda f: np.flatnonzero(f["reason"].isin(["benign", "interaction"]).to_numpy()),  # positions
])
def test_sarcasm_control_accepts_every_way_of_choosing_the_rows(test_seen, make_keep, capsys):
    frame, proba = test_seen
    assert welcome.check_sarcasm_control(make_keep(frame), frame, proba) is True
    assert "chance: it does not find sarcasm" in verdict(capsys)


@pytest.mark.parametrize("make_keep, mistake", [
    (lambda f: None, "not attempted yet"),
    (lambda f: f["reason"] != "text", "symbol memes"),
    (lambda f: f["reason"] != "image", "you kept insults"),
    (lambda f: f["reason"].isin(["interaction", "text"]), "you kept insults"),
    (lambda f: f["reason"] == "interaction", "no benign memes left"),
    (lambda f: f["reason"] == "benign", "no sarcastic memes left"),
    (lambda f: f["label"] == 1, "by `label`"),
    (lambda f: f["label_clean"] == 1, "by `label_clean`"),
    (lambda f: np.ones(len(f), dtype=bool), "keeps every row"),
    (lambda f: (f["reason"] == "benign").to_numpy()[:50], "has 50 values"),
    (lambda f: "benign", "expected a boolean mask"),
])
def test_sarcasm_control_names_each_mistake(test_seen, make_keep, mistake, capsys):
    frame, proba = test_seen
    assert welcome.check_sarcasm_control(make_keep(frame), frame, proba) is False
    assert mistake in verdict(capsys)


def test_sarcasm_control_does_not_let_a_mask_change_the_data(test_seen):
    frame, proba = test_seen
    before = frame.copy()
    welcome.check_sarcasm_control(frame["reason"].isin(["benign", "interaction"]), frame, proba)
    pd.testing.assert_frame_equal(frame, before)
