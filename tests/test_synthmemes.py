"""The SynthMemes generator: determinism, the label rules, and the folder it writes."""

from __future__ import annotations

import filecmp
import json
import re
from collections import Counter

import pandas as pd
import pytest
from PIL import Image

from mmlab.data import synthmemes
from mmlab.data.store import ensure_synthmemes, split_sizes, verify_manifest, write_synthmemes
from mmlab.errors import MmlabError


def rows_of(root, split="train"):
    return pd.read_json(root / f"{split}.jsonl", lines=True)


def test_same_seed_gives_identical_files(tmp_path):
    first = write_synthmemes(tmp_path / "a", n=40, seed=1)
    second = write_synthmemes(tmp_path / "b", n=40, seed=1)
    names = sorted(p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file())
    assert len(names) > 40
    match, mismatch, errors = filecmp.cmpfiles(first, second, names, shallow=False)
    assert mismatch == [] and errors == []


def test_another_seed_gives_other_memes(tmp_path):
    a = write_synthmemes(tmp_path / "a", n=40, seed=1)
    b = write_synthmemes(tmp_path / "b", n=40, seed=2)
    assert (a / "train.jsonl").read_bytes() != (b / "train.jsonl").read_bytes()


def test_layout_and_split_sizes(tmp_path):
    root = write_synthmemes(tmp_path / "d", n=80, seed=0, size=48)
    assert split_sizes(80) == {"train": 80, "dev": 10, "test": 20}
    for split, count in split_sizes(80).items():
        frame = rows_of(root, split)
        assert len(frame) == count
        assert {"id", "img", "text", "label"} <= set(frame.columns)
        for img in frame["img"]:  # the DrivenData benchmark's plain reader: Pillow on DIR/<img>
            with Image.open(root / img) as picture:
                assert picture.size == (48, 48) and picture.mode == "RGB"
    ids = pd.concat([rows_of(root, s) for s in split_sizes(80)])["id"]
    assert ids.is_unique


def test_memes_each_modality_alone_is_at_chance(tmp_path):
    frame = rows_of(write_synthmemes(tmp_path / "m", n=2000, seed=0))
    assert frame["label"].mean() == pytest.approx(0.5, abs=0.01)
    for column in ("image_mood", "text_mood", "image_concept", "text_concept"):
        share_mean = frame.groupby(column)["label"].mean()
        assert share_mean.between(0.4, 0.6).all(), (column, share_mean)
    # ... while the two moods together decide the label exactly
    assert (frame["label"] == (frame["image_mood"] != frame["text_mood"])).all()


def test_memes_come_in_confounder_pairs(tmp_path):
    frame = rows_of(write_synthmemes(tmp_path / "m", n=200, seed=0))
    for _, pair in frame.groupby("group"):
        assert len(pair) == 2
        assert set(pair["label"]) == {0, 1}
        shared = "text" if pair["confounder"].iloc[0] == "same_text" else "image_concept"
        assert pair[shared].nunique() == 1


def test_grounding_negatives_swap_the_binding(tmp_path):
    frame = rows_of(write_synthmemes(tmp_path / "g", task="grounding", n=100, seed=0))
    for row in frame.itertuples():
        named = tuple(row.text_concept.split())
        present = {(o["color"], o["shape"]) for o in row.objects}
        colours = {o["color"] for o in row.objects}
        shapes = {o["shape"] for o in row.objects}
        assert named[0] in colours and named[1] in shapes  # both attributes are always there
        assert (named in present) == bool(row.label)
        if row.label:
            target = row.objects[int(row.target)]
            assert (target["color"], target["shape"]) == named


def test_redundant_label_is_the_shared_mood(tmp_path):
    frame = rows_of(write_synthmemes(tmp_path / "r", task="redundant", n=100, seed=0))
    assert (frame["label"] == frame["image_mood"]).all()
    assert (frame["label"] == frame["text_mood"]).all()


def test_negation_knob(tmp_path):
    plain = rows_of(write_synthmemes(tmp_path / "p", n=200, seed=0))
    negated = rows_of(write_synthmemes(tmp_path / "n", n=200, seed=0, negation=0.5))
    assert not plain["negated"].any()
    assert 0.35 < negated["negated"].mean() < 0.65
    negation_words = re.compile(r"\b(?:not|never|no)\b")
    assert negated.loc[negated["negated"], "text"].str.contains(negation_words).all()
    # a negated caption uses a word of the *opposite* mood: "not a terrible day" is positive
    row = negated[negated["negated"]].iloc[0]
    topic = row["text_concept"].split("/")[0]
    opposite_words = synthmemes.TOPICS[topic]["words"][1 - row["text_mood"]]
    assert any(word in row["text"].split() for word in opposite_words)


def test_vocabulary_is_varied(tmp_path):
    frame = rows_of(write_synthmemes(tmp_path / "v", n=1000, seed=0))
    words = Counter(word for text in frame["text"] for word in text.split())
    assert len(words) >= 60
    assert frame["text"].nunique() >= 300


def test_unknown_task_and_bad_settings_are_user_errors(tmp_path):
    with pytest.raises(MmlabError, match="unknown task"):
        write_synthmemes(tmp_path / "x", task="cats")
    with pytest.raises(MmlabError, match="--size"):
        write_synthmemes(tmp_path / "x", size=4)
    with pytest.raises(MmlabError, match="negation"):
        write_synthmemes(tmp_path / "x", negation=2.0)


def test_generating_again_reuses_the_folder(tmp_path):
    root = write_synthmemes(tmp_path / "d", n=40, seed=0)
    stamp = (root / "train.jsonl").stat().st_mtime_ns
    assert write_synthmemes(root, n=40, seed=0) == root
    assert (root / "train.jsonl").stat().st_mtime_ns == stamp


def test_other_settings_into_the_same_folder_are_refused(tmp_path):
    root = write_synthmemes(tmp_path / "d", n=40, seed=0)
    with pytest.raises(MmlabError, match="other settings"):
        write_synthmemes(root, n=40, seed=1)


def test_a_folder_that_is_not_a_dataset_is_never_overwritten(tmp_path):
    mine = tmp_path / "my_notes"
    mine.mkdir()
    (mine / "notes.txt").write_text("precious")
    with pytest.raises(MmlabError, match="not a SynthMemes dataset"):
        write_synthmemes(mine, n=40)
    assert (mine / "notes.txt").read_text() == "precious"


def test_interrupted_generation_leaves_nothing_that_looks_whole(tmp_path, monkeypatch):
    calls = {"n": 0}
    real_render = synthmemes.render

    def render_then_crash(row, size, seed):
        calls["n"] += 1
        if calls["n"] == 30:
            raise KeyboardInterrupt
        return real_render(row, size, seed)

    monkeypatch.setattr(synthmemes, "render", render_then_crash)
    with pytest.raises(KeyboardInterrupt):
        write_synthmemes(tmp_path / "d", n=40, seed=0)
    assert not (tmp_path / "d").exists()
    assert list(tmp_path.iterdir()) == []  # the temporary folder is cleaned up too
    monkeypatch.setattr(synthmemes, "render", real_render)
    assert verify_manifest(write_synthmemes(tmp_path / "d", n=40, seed=0)) == []


def test_manifest_detects_edits_and_missing_files(tmp_path):
    root = write_synthmemes(tmp_path / "d", n=40, seed=0)
    assert verify_manifest(root) == []
    lines = (root / "train.jsonl").read_text().splitlines()
    (root / "train.jsonl").write_text("\n".join(lines[:-1]) + "\n")  # cut short
    (root / "img" / "00002.png").unlink()
    problems = verify_manifest(root)
    assert "train.jsonl differs from when it was generated" in problems
    assert "img/00002.png is missing" in problems
    with pytest.raises(MmlabError, match="changed after it was generated"):
        write_synthmemes(root, n=40, seed=0)


def test_ensure_synthmemes_lives_under_mmlab_home_and_heals_edits(home):
    root = ensure_synthmemes(n=40, seed=0)
    assert root.is_relative_to(home)
    (root / "dev.jsonl").write_text("")
    with pytest.warns(UserWarning, match="generating it again"):
        again = ensure_synthmemes(n=40, seed=0)
    assert verify_manifest(again) == []
    assert json.loads((again / "manifest.json").read_text())["splits"]["dev"] == 5
