"""Checkers for the notebooks' exercises: friendly, specific feedback, never a crash.

Each notebook has its own module of checkers (`mmlab.exercises.welcome` for notebook 00, ...).
A checker takes the learner's answer, prints what is right or what to look at next, and returns
True or False. An untouched exercise (the answer is still `None` or `...`) gets "not attempted
yet", so the learner's copy of a notebook runs top to bottom before anything is filled in.

Reference solutions live in `notebooks/solutions/`; the tests run them and assert that every
checker accepts them.
"""

from __future__ import annotations

from typing import Any


def not_attempted(answer: Any) -> bool:
    """True when the learner has not filled in the exercise yet."""
    return answer is None or answer is Ellipsis


def report(name: str, ok: bool, message: str) -> bool:
    """Print one checker's verdict and return `ok`."""
    mark = "✅" if ok else "❌"
    print(f"{mark} {name}: {message}")
    return ok


def skipped(name: str, hint: str) -> bool:
    """Print the "not attempted yet" message, with a hint to get started; returns False."""
    print(f"⏳ {name}: not attempted yet. {hint}")
    return False
