"""Checkers for notebook 00, "Welcome, and the data"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from mmlab.data.synthmemes import meme_label
from mmlab.exercises import not_attempted, report, skipped


def check_label_share(answer: Any, frame: pd.DataFrame) -> bool:
    """Exercise 1: the share of mean memes (label 1) in `frame`, as a number between 0 and 1."""
    name = "Exercise 1 (share of mean memes)"
    if not_attempted(answer):
        return skipped(name, "Hint: `frame['label']` is a column of 0s and 1s; what does its mean tell you?")
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return report(name, False, f"expected a number such as 0.42, got {type(answer).__name__}.")
    expected = float(frame["label"].mean())
    if abs(value - expected) < 1e-6:
        return report(name, True, f"{value:.3f} of these memes are mean: the classes are balanced.")
    if abs(value - 100 * expected) < 1e-4:
        return report(name, False, "that looks like a percentage; give a share between 0 and 1.")
    if abs(value - frame["label"].sum()) < 1e-6:
        return report(name, False, "that is the number of mean memes; divide by the number of rows.")
    if abs(value - (1 - expected)) < 1e-6:
        return report(name, False, "that is the share of label 0; the question asks for label 1.")
    return report(name, False, f"{value:.3f} is not it. Count the rows with label 1 and divide by {len(frame)}.")


def check_mood_rule(rule: Callable[[int, int], int] | None) -> bool:
    """Exercise 2: a function (image_mood, text_mood) -> label that reproduces the memes rule."""
    name = "Exercise 2 (the rule behind the labels)"
    if not_attempted(rule):
        return skipped(name, "Hint: look at the crosstab of image_mood, text_mood and label above.")
    if not callable(rule):
        return report(name, False, "expected a function, e.g. `def rule(image_mood, text_mood): ...`.")
    if all(_quietly(rule, image_mood, text_mood) is None for image_mood in (0, 1) for text_mood in (0, 1)):
        return skipped(name, "Your function returns nothing yet: make it `return` 0 or 1.")
    wrong = []
    for image_mood in (0, 1):
        for text_mood in (0, 1):
            try:
                got = rule(image_mood, text_mood)
            except Exception as error:  # a learner's function may fail in any way
                return report(name, False, f"rule({image_mood}, {text_mood}) raised {type(error).__name__}: {error}")
            if got != meme_label(image_mood, text_mood):
                wrong.append(f"rule({image_mood}, {text_mood}) gave {got!r}, "
                             f"expected {meme_label(image_mood, text_mood)}")
    if not wrong:
        return report(name, True, "mean exactly when picture and caption disagree: an XOR of the two moods. "
                                  "Neither mood alone says anything about the label.")
    return report(name, False, f"{len(wrong)} of the 4 cases are off; first: {wrong[0]}.")


def _quietly(rule: Callable[[int, int], int], image_mood: int, text_mood: int) -> Any:
    """rule(image_mood, text_mood), or the exception it raised (so that is not None)."""
    try:
        return rule(image_mood, text_mood)
    except Exception as error:  # reported properly by the caller
        return error
