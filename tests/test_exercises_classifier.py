"""Notebook 04's checkers: right answers pass, each typical mistake gets its own hint."""

from __future__ import annotations

from mmlab.exercises import classifier


def test_pair_accuracy_feedback(capsys):
    assert classifier.check_pair_accuracy(None) is False
    assert "not attempted yet" in capsys.readouterr().out
    assert classifier.check_pair_accuracy(lambda f: f.groupby("group")["correct"].all().mean()) is True
    assert classifier.check_pair_accuracy(lambda f: f["correct"].mean()) is False
    assert "plain accuracy" in capsys.readouterr().out
    assert classifier.check_pair_accuracy(lambda f: f.groupby("group")["correct"].all().sum()) is False
    assert "number of all-right groups" in capsys.readouterr().out
    assert classifier.check_pair_accuracy(lambda f: f.groupby("group")["correct"].any().mean()) is False
    assert "*any*" in capsys.readouterr().out
    assert classifier.check_pair_accuracy(lambda f: (~f.groupby("group")["correct"].all()).mean()) is False
    assert "opposite" in capsys.readouterr().out
    assert classifier.check_pair_accuracy(lambda f: f["nope"]) is False
    assert "KeyError" in capsys.readouterr().out
    assert classifier.check_pair_accuracy(lambda f: "half") is False
    assert "one number" in capsys.readouterr().out


def test_softmax_fix_feedback(capsys):
    assert classifier.check_softmax_fix(None) is False
    assert "not attempted yet" in capsys.readouterr().out
    assert classifier.check_softmax_fix("b") is True
    assert classifier.check_softmax_fix(" (B) ") is True
    assert classifier.check_softmax_fix("a") is False
    assert "log_softmax" in capsys.readouterr().out
    assert classifier.check_softmax_fix("d") is False
    assert "0.313" in capsys.readouterr().out
    assert classifier.check_softmax_fix("z") is False
    assert '"a" to "d"' in capsys.readouterr().out
