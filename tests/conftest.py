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
    """A small clean SynthMemes `memes` dataset (48 train / 6 dev / 12 test), generated once."""
    return write_synthmemes(tmp_path_factory.mktemp("data") / "tiny", n=48, seed=3, difficulty="clean")


def write_real_layout(root, phase: int = 2, n_train: int = 40, seed: int = 0):
    """A folder shaped like the real Hateful Memes release, with its awkward corners.

    Phase 1: train, dev, test; phase 2: train, dev_seen, test_seen, dev_unseen, test_unseen.
    Integer ids; 5-digit zero-padded picture names; test files without labels; pictures of many
    sizes and modes (RGB, grey, palette, transparent), some JPEG bytes under a .png name; captions
    with emoji, Chinese and Arabic. Labels follow the picture's brightness, so a model can learn.
    """
    import json
    import random

    from PIL import Image

    rng = random.Random(seed)
    root.mkdir(parents=True)
    (root / "img").mkdir()
    names = {1: {"train": n_train, "dev": 10, "test": 12},
             2: {"train": n_train, "dev_seen": 10, "test_seen": 12, "dev_unseen": 8, "test_unseen": 12}}[phase]
    captions = ["when the coffee kicks in ☕😂", "周末快乐", "صباح الخير يا أصدقاء", "that moment when...",
                "me: *exists* / everyone:", "LOL"]
    next_id = 1
    for split, count in names.items():
        rows = []
        for _ in range(count):
            label = rng.randint(0, 1)
            size = (rng.choice([120, 250, 333]), rng.choice([90, 200, 410]))
            shade = 200 if label else 60
            picture = Image.new("RGB", size, (shade, rng.randint(0, 255), 100))
            mode = rng.choice(["RGB", "L", "P", "RGBA"])
            picture = picture.convert(mode)
            name = f"img/{next_id:05d}.png"
            if mode in ("RGB", "L") and rng.random() < 0.5:
                picture.save(root / name, format="JPEG")  # JPEG bytes under a .png name
            else:
                picture.save(root / name, format="PNG")
            row = {"id": next_id, "img": name, "text": rng.choice(captions)}
            if not split.startswith("test") or phase == 2:
                row["label"] = label
            rows.append(row)
            next_id += 1
        if split == "test_unseen":  # the real phase-2 release shipped the unseen test unlabelled too
            rows = [{k: v for k, v in row.items() if k != "label"} for row in rows]
        (root / f"{split}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                             encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def real_phase_1(tmp_path_factory):
    """A small phase-1 folder in the real release's shape (see `write_real_layout`)."""
    return write_real_layout(tmp_path_factory.mktemp("real") / "hateful_memes_p1", phase=1)


@pytest.fixture(scope="session")
def real_phase_2(tmp_path_factory):
    """A small phase-2 folder in the real release's shape (see `write_real_layout`)."""
    return write_real_layout(tmp_path_factory.mktemp("real") / "hateful_memes_p2", phase=2)
