"""Shared fixtures: every test gets its own MMLAB_HOME, so tests never touch datasets/."""

from __future__ import annotations

import pytest

from mmlab.data.store import write_synthmemes


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """A fresh MMLAB_HOME for each test."""
    path = tmp_path / "mmlab_home"
    monkeypatch.setenv("MMLAB_HOME", str(path))
    return path


@pytest.fixture(scope="session")
def tiny_memes(tmp_path_factory):
    """A small SynthMemes `memes` dataset (48 train / 6 dev / 12 test), generated once."""
    return write_synthmemes(tmp_path_factory.mktemp("data") / "tiny", n=48, seed=3)
