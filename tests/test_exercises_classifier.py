"""Notebook 04's checkers: right answers pass, each typical mistake gets its own hint."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from mmlab.exercises import classifier


def verdict(check, answer, capsys) -> tuple[bool, str]:
    ok = check(answer)
    return ok, capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# Exercise 1: pair accuracy


def loop_version(frame):
    groups = set(frame["group"])
    right = sum(bool(frame.loc[frame["group"] == group, "correct"].all()) for group in groups)
    return right / len(groups)


@pytest.mark.parametrize("pair_accuracy", [
    lambda f: f.groupby("group")["correct"].all().mean(),
    lambda f: f.groupby("group")["correct"].min().mean(),
    lambda f: f.groupby("group").all().mean(),  # a one-value Series: accepted as its value
    loop_version,
])
def test_pair_accuracy_accepts_correct_variants(pair_accuracy, capsys):
    ok, out = verdict(classifier.check_pair_accuracy, pair_accuracy, capsys)
    assert ok, out


@pytest.mark.parametrize("pair_accuracy, says", [
    (lambda f: f["correct"].mean(), "plain accuracy"),
    (lambda f: f.groupby("group")["correct"].any().mean(), "*any*"),
    (lambda f: f.groupby("group")["correct"].all().sum(), "number of all-right groups"),
    (lambda f: (~f.groupby("group")["correct"].all()).mean(), "opposite"),
    (lambda f: 100 * f.groupby("group")["correct"].all().mean(), "percentage"),
    (lambda f: f.groupby("group")["correct"].mean().mean(), "half a point"),
    (lambda f: f.groupby("group")["correct"].transform("all").mean(), "share of *rows*"),
    (lambda f: f.groupby("group").filter(lambda g: len(g) == 2).groupby("group")["correct"]
     .all().mean(), "two-member groups only"),
    (lambda f: f.drop_duplicates("group")["correct"].mean(), "first member"),
    (lambda f: f.groupby("group")["correct"].last().mean(), "last member"),
    (lambda f: f.groupby("group")["correct"].all(), "one value per group"),
    (lambda f: f["correct"].iloc[:4].all(), "expected one number"),
    (lambda f: f["nope"], "KeyError"),
    (lambda f: 0.5, "instead of"),
])
def test_pair_accuracy_names_each_mistake(pair_accuracy, says, capsys):
    ok, out = verdict(classifier.check_pair_accuracy, pair_accuracy, capsys)
    assert not ok
    assert says in out


def test_pair_accuracy_untouched_or_not_a_function(capsys):
    assert not classifier.check_pair_accuracy(None)
    assert "not attempted yet" in capsys.readouterr().out
    assert not classifier.check_pair_accuracy(lambda f: None)
    assert "returns nothing yet" in capsys.readouterr().out
    assert not classifier.check_pair_accuracy(0.6)
    assert "expected a function" in capsys.readouterr().out


def test_pair_frames_tell_every_mistake_apart():
    """On each frame, the right answer and every mistake are at least 0.02 apart."""
    for frame in classifier.pair_frames():
        values = [classifier._share_all_right(frame)]
        values += [mistake(frame) for mistake, _ in classifier.PAIR_MISTAKES]
        assert all(abs(a - b) > 0.02 for a, b in itertools.combinations(values, 2))


# ---------------------------------------------------------------------------------------------
# Exercise 2: a text-only model on same-caption pairs


@pytest.mark.parametrize("prediction", [0, 0.0, np.float64(0), "0 %", "0"])
def test_text_only_pairs_accepts_zero(prediction, capsys):
    ok, out = verdict(classifier.check_text_only_pairs, prediction, capsys)
    assert ok, out
    assert "same score" in out


@pytest.mark.parametrize("prediction, says", [
    (0.25, "coin flips"),
    (0.5, "*memes*"),
    (1, "opposite"),
    (0.7, "both modalities"),
    (50, "percentage"),
    ("25%", "percentage"),
    (-0.1, "between 0 and 1"),
    ("most of them", "expected a number"),
])
def test_text_only_pairs_names_each_mistake(prediction, says, capsys):
    ok, out = verdict(classifier.check_text_only_pairs, prediction, capsys)
    assert not ok
    assert says in out


def test_text_only_pairs_untouched(capsys):
    assert not classifier.check_text_only_pairs(...)
    assert "not attempted yet" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# Exercise 3: the double-softmax fix


@pytest.mark.parametrize("fix", ["b", " (B) ", "B", "(b)"])
def test_softmax_fix_accepts_b(fix, capsys):
    ok, out = verdict(classifier.check_softmax_fix, fix, capsys)
    assert ok, out


@pytest.mark.parametrize("fix, says", [
    ("a", "log_softmax"),
    ("c", "exactly the bug"),
    ("d", "0.313"),
    ("z", '"a" to "d"'),
    ("a and b", '"a" to "d"'),
    (2, '"a" to "d"'),
])
def test_softmax_fix_names_each_mistake(fix, says, capsys):
    ok, out = verdict(classifier.check_softmax_fix, fix, capsys)
    assert not ok
    assert says in out


def test_softmax_fix_untouched(capsys):
    assert not classifier.check_softmax_fix(None)
    assert "not attempted yet" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# Exercise 4: review an evaluation loop


def test_the_loop_has_the_lines_the_checker_talks_about():
    lines = classifier.EVALUATION_LOOP.splitlines()
    assert len(lines) == 9
    assert set(classifier.EVALUATION_BUGS) | set(classifier.EVALUATION_FINE) == set(range(1, 10))
    assert "model.train()" in lines[0] and "[:, 0]" in lines[4] and "proba > 0.5)" in lines[8]


@pytest.mark.parametrize("bugs", [{1, 5, 9}, [9, 5, 1], (1, 5, 9), "1, 5, 9"])
def test_evaluation_bugs_accepts_the_three(bugs, capsys):
    ok, out = verdict(classifier.check_evaluation_bugs, bugs, capsys)
    assert ok, out


@pytest.mark.parametrize("bugs, says", [
    ({5, 9}, "dropout"),
    ({1, 9}, "column"),
    ({1, 5}, "decisions or scores"),
    ({1, 5, 9, 8}, "line 8 is the right accuracy"),
    ({1, 4, 5, 9}, "torch.no_grad()"),
    ({1, 5, 12}, "no line 12"),
    ({"one", "five"}, "set of integers"),
])
def test_evaluation_bugs_names_each_mistake(bugs, says, capsys):
    ok, out = verdict(classifier.check_evaluation_bugs, bugs, capsys)
    assert not ok
    assert says in out


def test_evaluation_bugs_untouched(capsys):
    assert not classifier.check_evaluation_bugs(set())
    assert "not attempted yet" in capsys.readouterr().out


def test_checkers_never_raise_on_odd_answers(capsys):
    for check in (classifier.check_pair_accuracy, classifier.check_text_only_pairs,
                  classifier.check_softmax_fix, classifier.check_evaluation_bugs):
        for answer in (object(), [], [[1, 5]], pd.DataFrame(), float("nan")):
            assert check(answer) is False
