"""seed_everything, choose_device, MMLAB_HOME and atomic writes."""

from __future__ import annotations

import pytest
import torch

from mmlab import choose_device, seed_everything
from mmlab.errors import MmlabError
from mmlab.io import atomic_path, atomic_write_text, mmlab_home


def test_seed_everything_repeats_random_numbers():
    seed_everything(7)
    first = torch.rand(3)
    seed_everything(7)
    assert torch.equal(first, torch.rand(3))


def test_choose_device():
    assert choose_device("cpu") == torch.device("cpu")
    assert choose_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(MmlabError, match="unknown device"):
        choose_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(MmlabError, match="no GPU"):
            choose_device("cuda")


def test_mmlab_home_follows_the_environment(home):
    assert mmlab_home() == home and home.is_dir()


def test_mmlab_home_outside_a_checkout_is_a_user_cache(monkeypatch, tmp_path):
    import mmlab.io

    monkeypatch.delenv("MMLAB_HOME")
    monkeypatch.setattr(mmlab.io, "REPO_ROOT", tmp_path / "site-packages")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert mmlab_home() == tmp_path / "cache" / "mmlab"


def test_an_interrupted_atomic_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "model.pt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half of the new")
            raise RuntimeError("power cut")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_atomic_writes_get_the_mode_of_a_normal_new_file(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "shared.txt", "hello")
        (tmp_path / "plain.txt").write_text("hello")
    finally:
        os.umask(umask)
    assert (tmp_path / "shared.txt").stat().st_mode & 0o777 == (tmp_path / "plain.txt").stat().st_mode & 0o777 == 0o644


def test_the_module_map_names_every_module():
    import pathlib
    import re

    import mmlab

    listed = set(re.findall(r"mmlab\.(\w+)", mmlab.__doc__)) | set(re.findall(r", (\w+) ", mmlab.__doc__))
    modules = {path.stem for path in pathlib.Path(mmlab.__file__).parent.glob("*.py")} - {"__init__", "__main__"}
    assert modules <= listed, f"add {sorted(modules - listed)} to the map in mmlab/__init__.py"
