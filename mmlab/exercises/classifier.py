"""Checkers for notebook 04, "The meme classifier, end to end".

- Exercise 1 `check_pair_accuracy`: the learner's `pair_accuracy(frame)` is run on two small
  frames built so that every typical mistake (plain accuracy, "any" instead of "all", a count,
  a percentage, two-member groups only, the first member only, ...) gives its own number; the
  mistake whose numbers match on both frames is named.
- Exercise 2 `check_text_only_pairs`: predict, before running, how many same-caption pairs a
  text-only model gets both right (against the clean labels).
- Exercise 3 `check_softmax_fix`: which single change fixes softmax + `CrossEntropyLoss`.
- Exercise 4 `check_evaluation_bugs`: which lines of an evaluation loop (`EVALUATION_LOOP`) are
  bugs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from mmlab.exercises import call_learner, not_attempted, report, skipped, unanswered

# ---------------------------------------------------------------------------------------------
# Exercise 1: the share of groups with every member right


def pair_frames() -> list[pd.DataFrame]:
    """The two frames the pair-accuracy checker tries: groups of 1 to 4 rows, in shuffled order.

    Chosen (by a search) so that the right answer and every mistake in `PAIR_MISTAKES` give
    numbers at least 0.02 apart on each frame: a wrong function cannot pass, and the message
    names the mistake that was made.
    """
    first = pd.DataFrame({
        "group": ["a", "c", "f", "f", "g", "d", "f", "a", "a", "c", "e", "d", "a", "b", "b"],
        "correct": [True, False, True, False, True, True, True, True, False, True, True, False,
                    False, True, False],
    }, index=range(100, 115))  # an index that is not 0, 1, 2, ...: positions must not matter
    second = pd.DataFrame({
        "group": [17, 13, 11, 15, 12, 12, 16, 17, 15, 14, 11, 13, 11, 16],
        "correct": [False, True, True, True, True, True, True, True, True, True, True, True,
                    False, False],
    })
    return [first, second]


def _share_all_right(frame: pd.DataFrame) -> float:
    return float(frame.groupby("group")["correct"].all().mean())


# (what the learner computed, how to put it right): each is a plausible wrong answer
PAIR_MISTAKES: list[tuple[Callable[[pd.DataFrame], float], str]] = [
    (lambda f: 100 * _share_all_right(f),
     "that is a percentage. Return the share as a number between 0 and 1 (0.25, not 25), as the "
     "notebook's tables do."),
    (lambda f: float(f["correct"].mean()),
     "that is the share of correct rows (plain accuracy). Count a group as right only when all its "
     "rows are."),
    (lambda f: float(f.groupby("group")["correct"].any().mean()),
     "that counts groups with *any* right row; use `.all()` (every member right)."),
    (lambda f: 1 - _share_all_right(f),
     "that is the share of groups with a mistake: the opposite of what is asked."),
    (lambda f: float(f.groupby("group")["correct"].all().sum()),
     "that is the number of all-right groups; divide by how many groups there are."),
    (lambda f: float(f.groupby("group")["correct"].mean().mean()),
     "that is the mean of each group's accuracy, which gives half a point to a half-right pair. "
     "A group counts only when all its rows are right."),
    (lambda f: float(f.groupby("group")["correct"].transform("all").mean()),
     "that is the share of *rows* that sit in all-right groups, so big groups count more. Take "
     "one True/False per group, then the share of groups."),
    (lambda f: _share_all_right(f.groupby("group").filter(lambda g: len(g) == 2)),
     "that counts two-member groups only. Section 5 kept pairs because SynthMemes' confounders "
     "come in pairs; your function should work for groups of any size (some here have 1, 3 or 4)."),
    (lambda f: float(f.groupby("group")["correct"].first().mean()),
     "that looks at the first member of each group only; every member must be right."),
    (lambda f: float(f.groupby("group")["correct"].last().mean()),
     "that looks at the last member of each group only; every member must be right."),
]


def _as_number(value: Any) -> float | None:
    """A learner's answer as a float, or None (a pandas object with one value counts as it)."""
    if isinstance(value, (pd.Series, pd.DataFrame)) and value.size == 1:
        value = value.to_numpy().item()
    if isinstance(value, (bool, np.bool_)):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def check_pair_accuracy(pair_accuracy: Callable[[pd.DataFrame], float] | None) -> bool:
    """Exercise 1: `pair_accuracy(frame)` -> share of `group`s whose rows are all `correct`."""
    name = "Exercise 1 (confounder pairs both right)"
    hint = ("Hint: first decide, for each group, whether all of its memes are "
            "right; then take the share of groups.")
    if unanswered(name, pair_accuracy, hint, "def pair_accuracy(frame): ..."):
        return False
    frames = pair_frames()
    values = []
    for frame in frames:
        ran, got = call_learner(name, pair_accuracy, frame.copy())
        if not ran:
            return False
        if got is None:
            return skipped(name, "Your function returns nothing yet: `return` the share as a "
                                 "number.")
        if isinstance(got, pd.Series) and len(got) == frame["group"].nunique():
            return report(name, False, "you returned one value per group (a Series); now take the "
                                       "share of groups whose value is True, e.g. with `.mean()`.")
        value = _as_number(got)
        if value is None:
            return report(name, False, "expected one number between 0 and 1, got "
                                       f"{type(got).__name__}.")
        values.append(value)
    expected = [_share_all_right(frame) for frame in frames]
    if all(math.isclose(v, e, abs_tol=1e-9) for v, e in zip(values, expected)):
        return report(name, True, "on both test frames you counted the groups with every "
                                  "member right. On confounder pairs this is the number that "
                                  "tells reading both modalities from guessing.")
    for mistake, message in PAIR_MISTAKES:
        if all(math.isclose(v, mistake(frame), abs_tol=1e-9) for v, frame in zip(values, frames)):
            return report(name, False, message)
    first = frames[0]
    groups, right = first["group"].nunique(), int(first.groupby("group")["correct"].all().sum())
    return report(name, False, f"on a frame with {groups} groups, {right} of them all right, your "
                               f"function returned {values[0]:.3f} instead of {expected[0]:.3f}.")


# ---------------------------------------------------------------------------------------------
# Exercise 2: predict, then run: a text-only model on same-caption pairs


def _prediction_as_share(prediction: Any) -> tuple[float | None, bool]:
    """The learner's prediction as a share, and whether it was written as a percentage."""
    if isinstance(prediction, str):
        text = prediction.strip()
        match = re.fullmatch(r"(-?\d+(?:\.\d+)?)\s*%", text)
        if match:
            return float(match.group(1)) / 100, True
        prediction = text
    value = _as_number(prediction)
    if value is not None and value > 1:
        return value / 100, True
    return value, False


TEXT_ONLY_ANSWER = (
    "none. The two memes of a same_text pair have the same caption, so a model that reads only the "
    "caption gives both the same score and the same answer, while their clean labels are opposite: "
    "exactly one is right, always.")
TEXT_ONLY_HINTS = {  # a plausible wrong prediction -> what to think about
    0.25: "0.25 treats the two answers as independent coin flips. Are they? Both memes of a pair "
          "have the same caption, and the model reads nothing else.",
    0.5: "0.5 is the share of *memes* such a model gets right in these pairs. The question asks "
         "for pairs with *both* right: what does the model answer for two memes with the same "
         "caption?",
    1.0: "both right needs different answers for the two memes (their labels are opposite), and "
         "the model sees the same caption twice.",
}


def check_text_only_pairs(prediction: Any) -> bool:
    """Exercise 2: the share of same_text pairs a text-only model gets both right (clean labels)."""
    name = "Exercise 2 (a text-only model on same-caption pairs)"
    if not_attempted(prediction):
        return skipped(name, "Hint: write your prediction as a share between 0 and 1 before you "
                             "run the cell below it.")
    share, percentage = _prediction_as_share(prediction)
    if share is None:
        return report(name, False, f"expected a number between 0 and 1, got {prediction!r}.")
    if percentage and share != 0:
        return report(name, False, f"{prediction!r} reads as a percentage ({share:.2f} as a "
                                   "share); write a share between 0 and 1, and think again about "
                                   "what the model can tell apart.")
    if not 0 <= share <= 1:
        return report(name, False, "a share lies between 0 and 1.")
    if share == 0:
        return report(name, True, TEXT_ONLY_ANSWER)
    for wrong, hint in TEXT_ONLY_HINTS.items():
        if math.isclose(share, wrong):
            return report(name, False, hint)
    return report(name, False, f"{share:.2f} is what you might expect of a model that sees both "
                               "modalities. This one reads only the caption, and both memes of a "
                               "pair share it.")


# ---------------------------------------------------------------------------------------------
# Exercise 3: the double-softmax fix


def check_softmax_fix(fix: Any) -> bool:
    """Exercise 3: which single change fixes softmax followed by CrossEntropyLoss?"""
    name = "Exercise 3 (the double-softmax fix)"
    if not_attempted(fix):
        return skipped(name, 'Hint: read what `CrossEntropyLoss` expects as its input. Answer "a" '
                             'to "d".')
    answer = str(fix).strip().lower().strip("()").strip()
    feedback = {
        "a": (False, "`NLLLoss` expects *log*-probabilities: it would need `log_softmax`, not "
                     "`softmax`. Two changes, then; which single change keeps everything else "
                     "as it is?"),
        "b": (True, "return logits and let `CrossEntropyLoss` apply its (log-)softmax once. For "
                    "probabilities at prediction time, apply `softmax` outside the loss, as "
                    "`mmlab.train.predict` does."),
        "c": (False, "a softmax in the loss is exactly the bug: the loss already applies one."),
        "d": (False, "the loss cannot reach 0 at any learning rate: its floor is log(1 + e^-1) = "
                     "0.313."),
    }
    if answer not in feedback:
        return report(name, False, f'answer with one letter, "a" to "d" (got {fix!r}).')
    ok, message = feedback[answer]
    return report(name, ok, message)


# ---------------------------------------------------------------------------------------------
# Exercise 4: review an evaluation loop

EVALUATION_LOOP = """\
model.train()
probabilities, labels = [], []
for batch in dev_loader:
    logits = model(batch)
    probabilities.append(logits.softmax(dim=1)[:, 0])
    labels.append(batch["label"])
proba, labels = torch.cat(probabilities), torch.cat(labels)
accuracy = ((proba > 0.5) == labels).float().mean()
auroc = roc_auc_score(labels, proba > 0.5)"""

EVALUATION_BUGS = {
    1: "Line 1 leaves the model in training mode, so dropout still drops features while it is "
       "scored: `model.eval()`.",
    5: "Line 5 takes column 0, the probability of *harmless*; the probability of mean is column 1.",
    9: "Line 9 gives roc_auc_score 0/1 decisions; AUROC ranks memes by a score, so pass the "
       "probabilities (`proba`), not `proba > 0.5`.",
}
EVALUATION_FINE = {
    2: "line 2 only makes two empty lists.",
    3: "line 3 loops over the dev batches, as it should.",
    4: "line 4 is how every mmlab model is called: the batch dict in, logits out (without "
       "`torch.no_grad()` it also keeps what backward would need, which costs memory but changes "
       "no number).",
    6: "line 6 keeps the labels next to the probabilities, batch by batch.",
    7: "line 7 joins the batches into one tensor each.",
    8: "line 8 is the right accuracy for a probability of *mean* (once line 5 takes column 1).",
}


def _line_numbers(answer: Any) -> set[int] | None:
    """A learner's lines as a set of ints: from a set, list or tuple of ints, or a string "1, 5"."""
    if isinstance(answer, str):
        return {int(number) for number in re.findall(r"\d+", answer)}
    if isinstance(answer, int) and not isinstance(answer, bool):
        return {answer}
    if not isinstance(answer, (set, frozenset, list, tuple)):
        return None
    try:
        lines = set(answer)
    except TypeError:  # unhashable items, e.g. [[1, 5]]
        return None
    if all(isinstance(line, int) and not isinstance(line, bool) for line in lines):
        return lines
    return None


def check_evaluation_bugs(bugs: Any) -> bool:
    """Exercise 4: the set of line numbers of `EVALUATION_LOOP` that are bugs."""
    name = "Exercise 4 (review an evaluation loop)"
    if not_attempted(bugs) or (isinstance(bugs, (set, frozenset, list, tuple, str)) and not bugs):
        return skipped(name, "Hint: for each line, ask what it computes on a model that has "
                             "dropout, and what roc_auc_score needs.")
    lines = _line_numbers(bugs)
    if lines is None:
        return report(name, False, "expected the line numbers as a set of integers, e.g. {2, 7}.")
    unknown = sorted(lines - set(EVALUATION_BUGS) - set(EVALUATION_FINE))
    if unknown:
        return report(name, False, f"the loop has lines 1 to 9; there is no line {unknown[0]}.")
    wrongly_flagged = sorted(lines - set(EVALUATION_BUGS))
    missed = sorted(set(EVALUATION_BUGS) - lines)
    if wrongly_flagged:
        return report(name, False, f"{EVALUATION_FINE[wrongly_flagged[0]]} Look again at the "
                                   "others.")
    if missed:
        found = f"{len(lines)} of the {len(EVALUATION_BUGS)} bugs found. " if lines else ""
        hints = {1: "Hint: what does dropout do while the model is being scored?",
                 5: "Hint: which column of the softmax is the probability of *mean* (label 1)?",
                 9: "Hint: what does AUROC need, decisions or scores?"}
        return report(name, False, found + hints[missed[0]])
    return report(name, True, "all three. " + " ".join(EVALUATION_BUGS.values()) + " None of "
                              "them raises an error; each quietly changes the numbers, which is "
                              "why mmlab has one evaluation (`mmlab.train.evaluate`) that every "
                              "notebook shares.")
