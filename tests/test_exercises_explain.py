"""Notebook 06's checkers: right answers pass, each typical mistake gets its own message."""

from __future__ import annotations

import pytest
import torch

from mmlab.exercises import explain as checkers

MEASURED = {"watermark_follows_label": {"image": 0.224, "text": 0.162},
            "watermark_random": {"image": 0.073, "text": 0.175}}


@pytest.mark.parametrize("prediction", [
    {"watermark_follows_label": "image", "watermark_random": "text"},
    {"watermark_follows_label": " Image ", "watermark_random": "TEXT"},
    {"watermark_follows_label": "picture", "watermark_random": "caption"},
])
def test_reliance_accepts_the_measured_answer_however_it_is_written(prediction, capsys):
    assert checkers.check_reliance(prediction, MEASURED) is True
    assert "worth on this test set" in capsys.readouterr().out


@pytest.mark.parametrize("prediction, message", [
    ({"watermark_follows_label": "image", "watermark_random": "image"}, "not where the model looks"),
    ({"watermark_follows_label": "text", "watermark_random": "text"}, "carries the shortcut"),
    ({"watermark_follows_label": "text", "watermark_random": "image"}, "the other way round"),
    ({"watermark_follows_label": "both", "watermark_random": "text"}, "name the larger one"),
    ({"watermark_follows_label": "watermark", "watermark_random": "text"}, "part of the picture"),
    ({"follows": "image", "random": "text"}, "expected a dict with the keys"),
    ("image", "expected a dict with the keys"),
    ({"watermark_follows_label": 1, "watermark_random": "text"}, "is not a modality"),
])
def test_reliance_names_each_mistake(prediction, message, capsys):
    assert checkers.check_reliance(prediction, MEASURED) is False
    out = capsys.readouterr().out
    assert message in out and "❌" in out


def test_reliance_not_attempted_and_the_truth_comes_from_the_measurement(capsys):
    assert checkers.check_reliance(None, MEASURED) is False
    assert checkers.check_reliance({"watermark_follows_label": None, "watermark_random": ...}, MEASURED) is False
    assert capsys.readouterr().out.count("not attempted yet") == 2
    flipped = {"watermark_follows_label": {"image": 0.1, "text": 0.2}, "watermark_random": {"image": 0.3, "text": 0.1}}
    assert checkers.check_reliance({"watermark_follows_label": "text", "watermark_random": "image"}, flipped)
    capsys.readouterr()
    mixed = {"watermark_follows_label": "image", "watermark_random": "image"}
    one_off = {"watermark_follows_label": {"image": 0.3, "text": 0.1}, "watermark_random": {"image": 0.2, "text": 0.1}}
    assert checkers.check_reliance({"watermark_follows_label": "image", "watermark_random": "text"}, one_off) is False
    assert "Look again at watermark_random" in capsys.readouterr().out
    assert checkers.check_reliance(mixed, one_off) is True


@pytest.mark.parametrize("word", ["ngl", " NGL ", "'ngl'"])
def test_shortcut_accepts_the_planted_word(word, capsys):
    assert checkers.check_shortcut(word) is True
    assert "never names it" in capsys.readouterr().out


@pytest.mark.parametrize("word, message", [
    ("clown", "is an insult"),
    ("not", "flips a caption's mood"),
    ("lovely", "is a mood word"),
    ("lol", "is a filler"),
    ("watermark", "hides in the captions"),
    ("banana", "not among the words"),
    (42, "answer with one word"),
    ("ngl lol", "answer with one word"),
])
def test_shortcut_names_each_mistake(word, message, capsys):
    assert checkers.check_shortcut(word) is False
    out = capsys.readouterr().out
    assert message in out and "❌" in out


def test_shortcut_not_attempted(capsys):
    assert checkers.check_shortcut(None) is False
    assert checkers.check_shortcut(...) is False
    assert capsys.readouterr().out.count("not attempted yet") == 2


def test_plant_word_appends_to_the_marked_captions_only():
    texts = ["what a lovely day", "typical clown", "i am sad"]
    planted = checkers.plant_word(texts, torch.tensor([True, False, True]))
    assert planted == ["what a lovely day ngl", "typical clown", "i am sad ngl"]
    assert checkers.PLANTED_WORD in checkers.FILLERS  # a word the generator already uses
