"""What the browser tests need, and the one line that says how to get it where it is missing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")  # Debian's; Playwright's own browser download is not used
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREEN = {"width": 1366, "height": 768}  # a common laptop screen
HOW_TO_ENABLE = ("browser tests need Chromium and Playwright: apt-get install chromium && "
                 "pip install playwright (or pip install -e '.[dev]')")


def missing_requirement() -> str | None:
    """Why the browser tests cannot run here (None when they can)."""
    if not CHROMIUM.exists() or importlib.util.find_spec("playwright") is None:
        return HOW_TO_ENABLE
    return None
