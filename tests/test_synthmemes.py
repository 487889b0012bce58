"""The SynthMemes generator: determinism, the label rules, and the folder it writes."""

from __future__ import annotations

import filecmp
import json
import re
import time
from collections import Counter

import pandas as pd
import pytest
from PIL import Image
from scipy.stats import chi2_contingency

from mmlab.cli import main
from mmlab.data import realistic, synthmemes
from mmlab.data.drawing import ICONS, SYMBOLS, caption_band
from mmlab.data.realistic import Knobs
from mmlab.data.store import (ensure_synthmemes, read_manifest, split_sizes, synthmemes_path,
                              verify_manifest, write_synthmemes)
from mmlab.errors import MmlabError

REALISTIC_SPLITS = ("train", "dev_seen", "test_seen", "dev_unseen", "test_unseen")


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


@pytest.mark.parametrize("difficulty", ["realistic", "clean"])
def test_layout_and_split_sizes(tmp_path, difficulty):
    root = write_synthmemes(tmp_path / "d", n=80, seed=0, size=48, difficulty=difficulty)
    sizes = split_sizes(80, difficulty)
    expected = ({"train": 80, "dev_seen": 10, "test_seen": 20, "dev_unseen": 10, "test_unseen": 20}
                if difficulty == "realistic" else {"train": 80, "dev": 10, "test": 20})
    assert sizes == expected
    assert sorted(p.stem for p in root.glob("*.jsonl")) == sorted(expected)
    for split, count in sizes.items():
        frame = rows_of(root, split)
        assert len(frame) == count
        assert list(frame.columns[:4]) == ["id", "img", "text", "label"]
        for img in frame["img"]:  # the DrivenData benchmark's plain reader: Pillow on DIR/<img>
            with Image.open(root / img) as picture:
                assert picture.size == (48, 48) and picture.mode == "RGB"
    ids = pd.concat([rows_of(root, s) for s in sizes])["id"]
    assert ids.is_unique


def test_memes_each_modality_alone_is_at_chance():
    frame = pd.DataFrame(synthmemes.make_rows("memes", 2000, 0, "train", difficulty="clean"))
    assert frame["label"].mean() == pytest.approx(0.5, abs=0.01)
    for column in ("image_mood", "text_mood", "image_concept", "text_concept"):
        share_mean = frame.groupby(column)["label"].mean()
        assert share_mean.between(0.4, 0.6).all(), (column, share_mean)
    # ... while the two moods together decide the label exactly
    assert (frame["label"] == (frame["image_mood"] != frame["text_mood"])).all()


def test_memes_come_in_confounder_pairs(tmp_path):
    frame = rows_of(write_synthmemes(tmp_path / "m", n=200, seed=0, difficulty="clean"))
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
    plain = rows_of(write_synthmemes(tmp_path / "p", n=200, seed=0, difficulty="clean"))
    negated = rows_of(write_synthmemes(tmp_path / "n", n=200, seed=0, negation=0.5,
                                       difficulty="clean"))
    assert not plain["negated"].any()
    assert 0.35 < negated["negated"].mean() < 0.65
    negation_words = re.compile(r"\b(?:not|never|no)\b")
    assert negated.loc[negated["negated"], "text"].str.contains(negation_words).all()
    # a negated caption uses a word of the *opposite* mood: "not a terrible day" is positive
    row = negated[negated["negated"]].iloc[0]
    topic = row["text_concept"].split("/")[0]
    opposite_words = synthmemes.TOPICS[topic]["words"][1 - row["text_mood"]]
    assert any(word in row["text"].split() for word in opposite_words)


@pytest.mark.parametrize("difficulty", ["realistic", "clean"])
def test_vocabulary_is_varied(difficulty):
    frame = pd.DataFrame(synthmemes.make_rows("memes", 1000, 0, "train", difficulty=difficulty))
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
    (root / "dev_seen.jsonl").write_text("")
    with pytest.warns(UserWarning, match="generating it again"):
        again = ensure_synthmemes(n=40, seed=0)
    assert verify_manifest(again) == []
    assert json.loads((again / "manifest.json").read_text())["splits"]["dev_seen"] == 5


# --- the clean memes stay exactly as generator version 1 made them ------------------------------

# The fingerprint (manifest "checksum": every file's SHA-256) of datasets made by generator
# version 1 (commit 6c41fa4), before the realistic memes existed.
VERSION_1_CHECKSUMS = {
    ("memes", 0.0): "4d0c40f9700e67d045f2fa222153d9f644d22bc9aff9c1d16bdb47b156dd2e67",
    ("memes", 0.5): "64428d809a38fa0a82d6d49ef172becab6e1c6ccdc8996b05aae55c81e71a5a2",
    ("grounding", 0.0): "262f3a188266606c95333a350ccf7a3a3ef92a9d946b33f8cd30fb8b224c0483",
    ("redundant", 0.0): "ed935537ad08f9f58e6685bca444a8528bd3e97502b07ebbdd7f6550120d7db1",
}


@pytest.mark.parametrize("task, negation", list(VERSION_1_CHECKSUMS))
def test_clean_tasks_are_byte_identical_to_generator_version_1(tmp_path, task, negation):
    root = write_synthmemes(tmp_path / "d", task=task, n=40, seed=1, negation=negation,
                            difficulty="clean")
    assert read_manifest(root)["checksum"] == VERSION_1_CHECKSUMS[(task, negation)]


# --- the realistic memes -----------------------------------------------------------------------

# The fingerprint of the realistic memes of generator version 2 (n=40, seed=1). When a change to
# the generator alters them, bump GENERATOR_VERSION (cached datasets are then made again), re-run
# scripts/synthmemes_baselines.py for datasets/synthmemes.md, and update this value.
VERSION_2_REALISTIC_CHECKSUM = "eb36ebf02c79689bb8fed0a82157df3ff280825eca08dd042071228e78550128"


def test_realistic_memes_are_those_of_generator_version_2(tmp_path):
    root = write_synthmemes(tmp_path / "d", n=40, seed=1)
    assert read_manifest(root)["checksum"] == VERSION_2_REALISTIC_CHECKSUM


@pytest.fixture(scope="module")
def realistic_rows():
    """Rows (no pictures) of every realistic split for n = 2000 training memes."""
    return {split: pd.DataFrame(synthmemes.make_rows("memes", count, seed=0, split=split))
            for split, count in split_sizes(2000).items()}


def test_train_is_imbalanced_and_dev_test_balanced(realistic_rows):
    knobs = Knobs()
    assert realistic_rows["train"]["label"].mean() == pytest.approx(knobs.train_mean, abs=0.01)
    for split in REALISTIC_SPLITS[1:]:
        assert realistic_rows[split]["label"].mean() == 0.5
        assert realistic_rows[split]["label_clean"].mean() == 0.5


def test_noise_flips_the_asked_share_of_each_class(realistic_rows):
    noise = Knobs().noise
    for frame in realistic_rows.values():
        assert (frame["label"] == frame["label_clean"] ^ frame["flipped"]).all()
        for _, members in frame.groupby("label_clean"):
            assert members["flipped"].sum() == round(noise * len(members))
    no_noise = pd.DataFrame(synthmemes.make_rows("memes", 200, 0, "train", knobs=Knobs(noise=0.0)))
    assert not no_noise["flipped"].any() and (no_noise["label"] == no_noise["label_clean"]).all()


def test_unimodal_shares_follow_the_knobs(realistic_rows):
    knobs = Knobs()
    mean = realistic_rows["test_seen"].query("label_clean == 1")
    shares = mean["reason"].value_counts(normalize=True)
    assert shares["text"] == pytest.approx(knobs.text_share, abs=0.01)
    assert shares["image"] == pytest.approx(knobs.image_share, abs=0.01)
    assert shares["interaction"] == pytest.approx(1 - knobs.text_share - knobs.image_share, abs=0.01)
    assert set(realistic_rows["test_seen"].query("label_clean == 0")["reason"]) == {"benign"}


def caption_meaning(row):
    """(is an insult, mood) of a caption, read from its words alone (not from the row's fields)."""
    words = row.text.split()
    cue = [words[i] for i in row.cue_positions]
    assert cue == list(row.cue_words)
    key = cue[-1]
    if key in realistic.INSULTS:
        return True, 1
    (mood,) = [m for topic in realistic.TOPICS.values() for m in (0, 1) if key in topic.words[m]]
    negated = (len(cue) == 2 and cue[0] in realistic.NEGATORS
               and row.cue_positions[0] < row.cue_positions[1])
    assert negated == row.negated
    return False, 1 - mood if negated else mood


def test_every_label_follows_the_rule_from_what_is_drawn_and_written(realistic_rows):
    """The rule from the words and the icon: mean = insult, or symbol, or moods that disagree."""
    for frame in realistic_rows.values():
        for row in frame.itertuples():
            insult, text_mood = caption_meaning(row)
            symbol, image_mood = row.image_concept in SYMBOLS, ICONS[row.image_concept][0]
            expected = ("text" if insult else "image" if symbol
                        else "interaction" if image_mood != text_mood else "benign")
            assert row.reason == expected, row
            assert row.label_clean == int(expected != "benign")


def test_icon_boxes_lie_between_the_caption_bands(realistic_rows):
    band = caption_band(64)
    boxes = pd.DataFrame(realistic_rows["train"]["icon_box"].tolist(),
                         columns=["x0", "y0", "x1", "y1"])
    assert (boxes.x0 >= 0).all() and (boxes.x1 <= 64).all()
    assert (boxes.y0 >= band - 1).all() and (boxes.y1 <= 64 - band + 1).all()
    assert ((boxes.x1 - boxes.x0) - (boxes.y1 - boxes.y0)).abs().max() <= 1  # squares, up to rounding


def test_confounder_pairs_share_one_modality_and_differ_in_label(realistic_rows):
    frame = realistic_rows["train"]
    pairs = frame[frame["confounder"] != "none"]
    assert 0.1 < len(pairs) / len(frame) < 0.4  # a part of the data, not all of it
    for kind, pair in pairs.groupby("group"):
        assert len(pair) == 2 and set(pair["label_clean"]) == {0, 1}
        if pair["confounder"].iloc[0] == "same_text":
            assert pair["text"].nunique() == 1
        else:
            assert pair["image_concept"].nunique() == 1
            assert pair["icon_box"].map(tuple).nunique() == 1


def test_unseen_splits_hold_combinations_and_words_never_in_training(realistic_rows):
    held_out = realistic.held_out_pairs(seed=0, holdout=Knobs().holdout)
    training_words = {word for split in REALISTIC_SPLITS[:3]
                      for text in realistic_rows[split]["text"] for word in text.split()}
    for split, frame in realistic_rows.items():
        topical = frame[frame["text_concept"] != realistic.INSULT]
        pairs = set(zip(topical["image_concept"], topical["text_concept"].str.split("/").str[0]))
        if split.endswith("_unseen"):
            assert pairs <= held_out
            novel = frame[frame["novel_word"]]
            assert 0.35 < len(novel) / len(frame) < 0.65
            assert not set(novel["cue_words"].str[-1]) & training_words
        else:
            assert not pairs & held_out
            assert not frame["novel_word"].any()
    every_icon = {icon for icon, _ in held_out}
    seen_icons = set(realistic_rows["train"]["image_concept"])
    assert every_icon == seen_icons == set(ICONS)  # each icon is held out with some topics only


def test_picture_and_topic_alone_carry_no_label_beyond_symbols_and_insults():
    """Apart from symbols and insults, an icon or a topic says nothing about the label."""
    rows = synthmemes.make_rows("memes", 8000, seed=0, split="train", knobs=Knobs(noise=0))
    frame = pd.DataFrame(rows)
    symbol, insult = frame["image_concept"].isin(SYMBOLS), frame["text_concept"] == realistic.INSULT
    plain = frame[~symbol & ~insult]
    for column in ("image_concept", "text_concept"):
        table = pd.crosstab(plain[column], plain["label"])
        assert chi2_contingency(table).pvalue > 0.001, table
    icons = frame[~symbol]
    assert chi2_contingency(pd.crosstab(icons["image_concept"], icons["label"])).pvalue > 0.001


def test_knobs_and_difficulty_are_checked(tmp_path):
    with pytest.raises(MmlabError, match="noise"):
        write_synthmemes(tmp_path / "x", knobs=Knobs(noise=0.6))
    with pytest.raises(MmlabError, match="text_share"):
        write_synthmemes(tmp_path / "x", knobs=Knobs(text_share=0.7, image_share=0.5))
    with pytest.raises(MmlabError, match="realistic memes only"):
        write_synthmemes(tmp_path / "x", difficulty="clean", knobs=Knobs())
    with pytest.raises(MmlabError, match="only the clean difficulty"):
        write_synthmemes(tmp_path / "x", task="grounding", difficulty="realistic")
    assert not (tmp_path / "x").exists()


def test_dataset_names_show_the_settings_that_are_not_defaults(home):
    assert synthmemes_path().name == "memes-n4000-seed0-64px"
    assert synthmemes_path(difficulty="clean").name == "memes-n4000-seed0-64px-clean"
    clean_negated = synthmemes_path(negation=0.5, difficulty="clean")
    assert clean_negated.name == "memes-n4000-seed0-64px-neg0.5-clean"
    assert synthmemes_path(knobs=Knobs(noise=0.2)).name == "memes-n4000-seed0-64px-noise0.2"
    assert synthmemes_path(negation=0.0).name == "memes-n4000-seed0-64px-neg0"
    assert synthmemes_path("grounding").name == "grounding-n4000-seed0-64px"


def test_a_dataset_of_an_older_generator_is_made_again(tmp_path):
    root = write_synthmemes(tmp_path / "d", n=40, seed=0)
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["generator"]["config"]["version"] = 1
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.warns(UserWarning, match="generator version 1"):
        write_synthmemes(root, n=40, seed=0)
    assert read_manifest(root)["generator"]["config"]["version"] == 2
    assert verify_manifest(root) == []


def test_data_command_takes_the_difficulty_and_the_noise(tmp_path, capsys):
    assert main(["data", "--out", str(tmp_path / "c"), "--n", "40", "--difficulty", "clean"]) == 0
    assert (tmp_path / "c" / "dev.jsonl").is_file()
    assert main(["data", "--out", str(tmp_path / "r"), "--n", "40", "--noise", "0.25"]) == 0
    assert read_manifest(tmp_path / "r")["generator"]["config"]["knobs"]["noise"] == 0.25
    assert "wrote 70 memes" in capsys.readouterr().out
    assert main(["data", "--out", str(tmp_path / "x"), "--difficulty", "clean",
                 "--noise", "0.2"]) == 2


def test_generation_is_fast_enough(tmp_path):
    """The aim is 1,000 memes/s on one core; measured: about 1,700 on the quiet 2-core VM, 650
    to 1,200 while other jobs ran. The floor here, 400 per second of CPU time, catches a real
    slowdown without failing on a busy machine."""
    write_synthmemes(tmp_path / "warm-up", n=8, seed=0)  # loads the font and Pillow's PNG plugin
    started = time.process_time()
    root = write_synthmemes(tmp_path / "d", n=400, seed=0)
    seconds = time.process_time() - started
    total = sum(read_manifest(root)["splits"].values())
    assert total / seconds >= 400, f"{total / seconds:.0f} memes/s"
