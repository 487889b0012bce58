"""Checkers for notebook 04, "The meme classifier, end to end"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from mmlab.exercises import call_learner, not_attempted, report, skipped


def check_pair_accuracy(pair_accuracy: Callable[[pd.DataFrame], float] | None) -> bool:
    """Exercise 1: `pair_accuracy(frame)` -> share of `group`s whose rows are all `correct`."""
    name = "Exercise 1 (confounder pairs both right)"
    if not_attempted(pair_accuracy):
        return skipped(name, "Hint: first decide, for each group, whether all of its memes are right; "
                             "then take the share of groups.")
    if not callable(pair_accuracy):
        return report(name, False, "expected a function, e.g. `def pair_accuracy(frame): ...`.")
    # 5 groups: 3 all right, 1 half right, 1 all wrong. Expected 3/5 = 0.6; row accuracy is 8/11,
    # groups with any right row 4/5, groups with a mistake 2/5, all-right groups counted 3.
    frame = pd.DataFrame({"group": [7, 7, 3, 3, 5, 5, 5, 9, 9, 2, 2],
                          "correct": [True, True, True, False, True, True, True, False, False, True, True]})
    ran, got = call_learner(name, pair_accuracy, frame.copy())
    if not ran:
        return False
    if got is None:
        return skipped(name, "Your function returns nothing yet: `return` the share as a number.")
    try:
        value = float(got)
    except (TypeError, ValueError):
        return report(name, False, f"expected one number between 0 and 1, got {type(got).__name__}.")
    if abs(value - 0.6) < 1e-9:
        return report(name, True, "3 of these 5 groups have every member right. On real confounders this is "
                                  "the number that tells reading both modalities from guessing.")
    if abs(value - 8 / 11) < 1e-9:
        return report(name, False, "that is the share of correct rows (plain accuracy). Count a group as "
                                   "right only when all its rows are.")
    if abs(value - 0.8) < 1e-9:
        return report(name, False, "that counts groups with *any* right row; use `.all()` (every member right).")
    if abs(value - 0.4) < 1e-9:
        return report(name, False, "that is the share of groups with a mistake: the opposite of what is asked.")
    if abs(value - 3) < 1e-9:
        return report(name, False, "that is the number of all-right groups; divide by how many groups there are.")
    return report(name, False, f"{value:.3f} is not it: here 3 of 5 groups are all right.")


def check_softmax_fix(fix: Any) -> bool:
    """Exercise 2: which single change fixes softmax followed by CrossEntropyLoss?"""
    name = "Exercise 2 (the double-softmax fix)"
    if not_attempted(fix):
        return skipped(name, 'Hint: read what `CrossEntropyLoss` expects as its input. Answer "a" to "d".')
    answer = str(fix).strip().lower().strip("()")
    feedback = {
        "a": (False, "`NLLLoss` expects *log*-probabilities: it would need `log_softmax`, not `softmax`. "
                     "Two changes, then; which single change keeps everything else as it is?"),
        "b": (True, "return logits and let `CrossEntropyLoss` apply its (log-)softmax once. For probabilities "
                    "at prediction time, apply `softmax` outside the loss, as `mmlab.train.predict` does."),
        "c": (False, "a softmax in the loss is exactly the bug: the loss already applies one."),
        "d": (False, "the loss cannot reach 0 at any learning rate: its floor is log(1 + e^-1) = 0.313."),
    }
    if answer not in feedback:
        return report(name, False, f'answer with one letter, "a" to "d" (got {fix!r}).')
    ok, message = feedback[answer]
    return report(name, ok, message)
