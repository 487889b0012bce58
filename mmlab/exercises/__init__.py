"""Checkers for the notebooks' exercises: friendly, specific feedback, never a crash.

Each notebook has its own module of checkers (`mmlab.exercises.welcome` for notebook 00, ...).
A checker takes the learner's answer, prints what is right or what to look at next, and returns
True or False. An untouched exercise (the answer is still `None` or `...`) gets "not attempted
yet", so the learner's copy of a notebook runs top to bottom before anything is filled in.

Reference solutions live in `notebooks/solutions/`; the tests run them and assert that every
checker accepts them.
"""

from __future__ import annotations

from collections.abc import Callable
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


def unanswered(name: str, answer: Any, hint: str, signature: str) -> bool:
    """Whether a function exercise cannot be checked yet: not attempted (prints the hint) or not a
    function (prints the `signature` expected). The checker then returns False."""
    if not_attempted(answer):
        skipped(name, hint)
    elif not callable(answer):
        report(name, False, f"expected a function, e.g. `{signature}`.")
    else:
        return False
    return True


def call_learner(name: str, function: Callable, *args: Any) -> tuple[bool, Any]:
    """Run the learner's function; on an exception, report it and return (False, None)."""
    try:
        return True, function(*args)
    except Exception as error:  # a learner's function may fail in any way
        report(name, False, f"your function raised {type(error).__name__}: {error}")
        return False, None
