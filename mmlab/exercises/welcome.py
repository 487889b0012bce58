"""Checkers for notebook 00, "Welcome, and the data".

- Exercise 1: the share of mean memes in the training split (not a balanced split).
- Exercise 2: predict, then measure, what a model that calls every meme benign scores.
- Exercise 3: the rule behind the labels of the clean memes (an XOR of the two moods).
- Exercise 4: design the control that asks whether the caption-only model finds sarcasm.

Every checker works on copies of what it is given, so a learner's function or mask cannot
change the data that the verdict is computed from.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from mmlab.data.synthmemes import meme_label
from mmlab.exercises import not_attempted, report, skipped, unanswered


def _number(answer: Any) -> float | None:
    """`answer` as a float (int, float, NumPy or 0-d tensor), or None when it is not a number."""
    if isinstance(answer, (bool, str)):
        return None
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def check_label_share(answer: Any, splits: dict[str, pd.DataFrame], split: str = "train") -> bool:
    """Exercise 1: the share of mean memes (label 1) in `splits[split]`, a number from 0 to 1.

    `splits` maps every split's name to its rows, so that an answer computed on the wrong split
    can be recognised.
    """
    name = "Exercise 1 (share of mean memes)"
    if not_attempted(answer):
        return skipped(name, f"Hint: the `label` column of {split} holds 0s and 1s; what does its "
                             "mean tell you?")
    value = _number(answer)
    if value is None:
        return report(name, False, f"expected a number such as 0.42, got {type(answer).__name__}.")
    frame = splits[split]
    expected = float(frame["label"].mean())
    close = lambda target: abs(value - target) < 0.005  # rounding to two decimals is fine
    if close(expected):
        return report(name, True, f"{expected:.3f} of the {len(frame)} {split} memes are mean: the "
                                  "classes are not balanced, as in the real challenge's train split.")
    if abs(value - 100 * expected) < 0.5:
        return report(name, False, "that looks like a percentage; give a share between 0 and 1.")
    if abs(value - frame["label"].sum()) < 0.5:
        return report(name, False, "that is the number of mean memes; divide by the number of rows.")
    if close(1 - expected):
        return report(name, False, "that is the share of label 0 (benign); the question asks for "
                                   "label 1 (mean).")
    if "label_clean" in frame and close(float(frame["label_clean"].mean())):
        return report(name, False, "that is the share of `label_clean`, the label before the noise "
                                   "was added; models learn from (and are scored on) `label`.")
    for other, rows in splits.items():
        if other != split and close(float(rows["label"].mean())):
            return report(name, False, f"that is the share in {other}; the question asks about "
                                       f"{split} (use that split's rows).")
    return report(name, False, f"{value:.3f} is not it. Count the {split} rows with label 1 and "
                               f"divide by {len(frame)}.")


CONSTANT_MODEL_KEYS = ("accuracy on train", "accuracy on test_seen", "AUROC on test_seen")


def check_constant_model(prediction: dict[str, Any] | None, measured: dict[str, float]) -> bool:
    """Exercise 2: predictions for a model that calls every meme benign, against the measurement.

    `prediction` and `measured` map each of `CONSTANT_MODEL_KEYS` to a number; a prediction is
    right within 0.03 of the measured value.
    """
    name = "Exercise 2 (predict: a model that says 'benign' to every meme)"
    if not_attempted(prediction) or (isinstance(prediction, dict)
                                     and all(not_attempted(v) for v in prediction.values())):
        return skipped(name, "Hint: the model is right exactly on the benign memes. How many of "
                             "those does each split hold? And what can a score that never changes "
                             "rank?")
    if not isinstance(prediction, dict):
        return report(name, False, "expected the dict of the exercise cell, with a number for each "
                                   f"of {', '.join(CONSTANT_MODEL_KEYS)}.")
    missing = [key for key in CONSTANT_MODEL_KEYS if not_attempted(prediction.get(key))]
    if missing:
        return report(name, False, f"predict every number before you run: {', '.join(missing)} "
                                   "still missing.")
    values = {key: _number(prediction[key]) for key in CONSTANT_MODEL_KEYS}
    bad = [key for key, value in values.items() if value is None]
    if bad:
        return report(name, False, f"{bad[0]}: expected a number, got {prediction[bad[0]]!r}.")
    wrong = [_constant_model_mistake(key, values[key], measured) for key in CONSTANT_MODEL_KEYS]
    wrong = [message for message in wrong if message]
    table = "; ".join(f"{key}: you said {values[key]:.2f}, measured {measured[key]:.2f}"
                      for key in CONSTANT_MODEL_KEYS)
    if not wrong:
        return report(name, True, f"{table}. Accuracy rewards saying 'benign' where most memes are "
                                  "benign; AUROC asks how well the scores rank mean memes above "
                                  "benign ones, and a constant ranks nothing (0.5).")
    return report(name, False, f"{table}. {' '.join(wrong)}")


def _constant_model_mistake(key: str, value: float, measured: dict[str, float]) -> str | None:
    """The mistake behind one wrong prediction, or None when it is right (within 0.03)."""
    truth = measured[key]
    if abs(value - truth) <= 0.03:
        return None
    if value > 1.5:
        return f"{key}: give a share between 0 and 1, not a percentage."
    if key.startswith("AUROC"):
        if abs(value - measured["accuracy on train"]) <= 0.03:
            return ("AUROC does not depend on how many memes are benign: a constant score puts "
                    "every meme at the same rank, and a tie counts as half right, so it is 0.5.")
        if value < 0.1:
            return ("AUROC 0 would mean every benign meme scored above every mean one, a perfect "
                    "ranking upside down; a constant score ties them all: 0.5.")
        return "AUROC is the chance that a random mean meme scores above a random benign one."
    benign_share = 1 - truth  # the share of mean memes, which the model always gets wrong
    if abs(value - benign_share) <= 0.03:
        return (f"{key}: {value:.2f} is the share of mean memes; the model says 'benign', so it "
                "is right on the others.")
    if key == "accuracy on train" and abs(value - 0.5) <= 0.03:
        return ("accuracy on train: the training split is not balanced (Exercise 1), so the "
                "majority answer is right more than half of the time.")
    if key == "accuracy on test_seen" and abs(value - measured["accuracy on train"]) <= 0.03:
        return ("accuracy on test_seen: the test splits are balanced, unlike train, so the same "
                "answer is right on exactly half of them.")
    return f"{key}: count the benign memes of the split; the model is right on those only."


def check_mood_rule(rule: Callable[[int, int], Any] | None) -> bool:
    """Exercise 3: a function (image_mood, text_mood) -> label that reproduces the clean memes' rule."""
    name = "Exercise 3 (the rule behind the labels)"
    hint = "Hint: look at the crosstab of image_mood, text_mood and label above."
    if unanswered(name, rule, hint, "def rule(image_mood, text_mood): ..."):
        return False
    cases = [(image_mood, text_mood) for image_mood in (0, 1) for text_mood in (0, 1)]
    outputs = {}
    for case in cases:
        try:
            outputs[case] = rule(*case)
        except Exception as error:  # a learner's function may fail in any way
            return report(name, False, f"rule{case} raised {type(error).__name__}: {error}")
    if all(output is None for output in outputs.values()):
        return skipped(name, "Your function returns nothing yet: make it `return` 0 or 1.")
    labels = {}
    for case, output in outputs.items():
        value = _number(output) if not isinstance(output, (bool, np.bool_)) else int(output)
        if value not in (0, 1):
            return report(name, False, f"rule{case} returned {output!r}; return the label, 0 (benign) "
                                       "or 1 (mean).")
        labels[case] = int(value)
    truth = {case: meme_label(*case) for case in cases}
    if labels == truth:
        return report(name, True, "mean exactly when picture and caption disagree: an XOR of the two "
                                  "moods. Neither mood alone says anything about the label.")
    return report(name, False, _mood_rule_mistake(labels, truth))


def _mood_rule_mistake(labels: dict[tuple[int, int], int], truth: dict[tuple[int, int], int]) -> str:
    """What a wrong truth table computes, in words."""
    known = {
        "the opposite of the rule (mean when the moods agree)": {c: 1 - v for c, v in truth.items()},
        "the picture's mood alone": {c: c[0] for c in truth},
        "the caption's mood alone": {c: c[1] for c in truth},
        "an AND (mean when both are negative)": {c: int(c[0] and c[1]) for c in truth},
        "an OR (mean when either is negative)": {c: int(c[0] or c[1]) for c in truth},
    }
    for description, table in known.items():
        if labels == table:
            return f"your rule is {description}. Look again at which pairs of moods have label 1."
    if len(set(labels.values())) == 1:
        return f"your rule always answers {labels[(0, 0)]}; the label depends on both moods."
    wrong = [f"rule{case} gave {labels[case]}, expected {truth[case]}" for case in truth
             if labels[case] != truth[case]]
    return f"{len(wrong)} of the 4 cases are off; first: {wrong[0]}."


def _as_mask(keep: Any, n: int) -> np.ndarray | str:
    """`keep` as a boolean array of length n, or a message saying why it is not one."""
    try:
        values = np.asarray(keep.cpu() if hasattr(keep, "cpu") else keep)
    except Exception:  # an object NumPy cannot read
        return f"expected a boolean mask (one True/False per row), got {type(keep).__name__}."
    if values.dtype == bool and values.shape == (n,):
        return values
    if values.ndim == 1 and values.dtype.kind in "iu":
        if len(values) == n and set(np.unique(values)) <= {0, 1}:
            return values.astype(bool)
        if len(values) and values.min() >= 0 and values.max() < n:  # row positions
            mask = np.zeros(n, dtype=bool)
            mask[values] = True
            return mask
    if values.ndim == 1 and values.dtype == bool:
        return f"your mask has {len(values)} values; test_seen has {n} rows (one per row)."
    return "expected a boolean mask over test_seen's rows, e.g. `test_seen['reason'] == ...`."


def check_sarcasm_control(keep: Any, frame: pd.DataFrame, text_proba: np.ndarray) -> bool:
    """Exercise 4: the rows that ask "does the caption-only model tell sarcasm from benign memes?"

    `keep` is a boolean mask over the rows of `frame` (test_seen, with `reason` and `label_clean`)
    or a list of row positions; `text_proba` (N,) are the caption-only model's scores. The control
    keeps sarcastic memes (reason "interaction") and benign ones, and nothing else.
    """
    name = "Exercise 4 (a control: does the caption model find sarcasm?)"
    if not_attempted(keep):
        return skipped(name, "Hint: the `reason` column says why each meme is mean; which rows hold "
                             "the two kinds of meme the question compares?")
    mask = _as_mask(keep, len(frame))
    if isinstance(mask, str):
        return report(name, False, mask)
    reasons = frame["reason"].to_numpy()
    kept = set(reasons[mask])
    counts = {reason: int((reasons[mask] == reason).sum()) for reason in sorted(kept)}
    if mask.all():
        return report(name, False, "that keeps every row: the caption model then finds the insults "
                                   "as before. Keep only the memes the question compares.")
    if kept == {"benign"}:
        return report(name, False, "no sarcastic memes left (reason 'interaction'): keep them, they "
                                   "are what the question is about.")
    if kept == {"interaction"}:
        return report(name, False, "no benign memes left: AUROC compares mean memes with benign "
                                   "ones, so keep the benign rows too.")
    for column in ("label", "label_clean"):
        for value in (0, 1):
            if column in frame and np.array_equal(mask, frame[column].to_numpy() == value):
                return report(name, False, f"you selected rows by `{column}`; select them by `reason`, "
                                           "which says *why* a meme is mean.")
    if "text" in kept:
        return report(name, False, "you kept insults (reason 'text'): they are what the caption model "
                                   "finds, so they would hide whether it finds sarcasm. Leave them out.")
    if "image" in kept:
        return report(name, False, "you kept the symbol memes (reason 'image'): they are neither "
                                   "sarcastic nor benign. Keep only the two kinds you compare.")
    if "benign" not in kept:
        return report(name, False, "no benign memes left: AUROC compares mean memes with benign "
                                   "ones, so keep the benign rows too.")
    if "interaction" not in kept:
        return report(name, False, "no sarcastic memes left (reason 'interaction'): keep them, they "
                                   "are what the question is about.")
    if min(counts.values()) < 20:
        return report(name, False, f"only {counts} rows: too few for a reliable AUROC; keep all of "
                                   "the benign and the sarcastic memes.")
    labels = frame["label_clean"].to_numpy()[mask]
    auroc = roc_auc_score(labels, np.asarray(text_proba, dtype=float)[mask])
    verdict = ("chance: it does not find sarcasm, which needs the picture too; its AUROC on the "
               "whole split comes from the insults." if abs(auroc - 0.5) < 0.06 else
               f"not chance: the captions alone rank sarcastic memes "
               f"{'above' if auroc > 0.5 else 'below'} benign ones more often than not.")
    return report(name, True, f"on {counts['interaction']} sarcastic and {counts['benign']} benign "
                              f"memes the caption-only model scores AUROC {auroc:.3f}, {verdict}")
