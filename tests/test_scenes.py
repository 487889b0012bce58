"""The scene generator: deterministic, non-overlapping things, captions true of the picture."""

from __future__ import annotations

import random
import time

import pytest
import torch

from mmlab.data.drawing import COLORS, ICONS, SHAPES
from mmlab.data.scenes import (Scene, Thing, all_captions, combinations, describe, render,
                               render_batch, sample_scene, scene_rows)
from mmlab.data.text import simple_tokenize


def overlap(a: Thing, b: Thing) -> bool:
    ax0, ay0, ax1, ay1 = a.box
    bx0, by0, bx1, by1 = b.box
    return ax0 <= bx1 and bx0 <= ax1 and ay0 <= by1 and by0 <= ay1  # boxes include their edges


def test_same_seed_same_scenes_and_pictures_other_seed_others():
    first = scene_rows(50, seed=3, kinds=("shape", "icon"))
    again = scene_rows(50, seed=3, kinds=("shape", "icon"))
    assert [r["text"] for r in first] == [r["text"] for r in again]
    assert [r["scene"] for r in first] == [r["scene"] for r in again]
    pictures = render_batch([r["scene"] for r in first])
    assert torch.equal(pictures, render_batch([r["scene"] for r in again]))
    other = scene_rows(50, seed=4, kinds=("shape", "icon"))
    assert [r["scene"] for r in first] != [r["scene"] for r in other]
    shorter = scene_rows(20, seed=3, kinds=("shape", "icon"))
    assert [r["scene"] for r in shorter] == [r["scene"] for r in first[:20]]  # same first rows


def test_things_do_not_overlap_stay_inside_and_are_different():
    rng = random.Random(0)
    for _ in range(500):
        scene = sample_scene(rng, size=64, n_things=(1, 3), kinds=("shape", "icon"))
        assert 1 <= len(scene.things) <= 3
        for i, thing in enumerate(scene.things):
            x0, y0, x1, y1 = thing.box
            assert 0 <= x0 < x1 < 64 and 0 <= y0 < y1 < 64
            assert all(not overlap(thing, other) for other in scene.things[i + 1:])
        assert len({(t.color, t.name) for t in scene.things}) == len(scene.things)
        assert len({scene.where(t) for t in scene.things}) == len(scene.things)  # one per third


def test_exclude_is_never_drawn():
    held_out = {("red", "circle"), ("blue", "square"), (None, "spider")}
    rows = scene_rows(600, seed=1, kinds=("shape", "icon"), exclude=held_out)
    drawn = {(t.color, t.name) for row in rows for t in row["scene"].things}
    assert not drawn & held_out
    assert ("red", "square") in drawn and ("blue", "circle") in drawn  # the parts still occur
    every = len(COLORS) * len(SHAPES) + len(ICONS)
    assert len(combinations(("shape", "icon"), held_out)) == every - 3


def test_captions_name_every_thing_with_its_colour():
    for row in scene_rows(300, seed=2, kinds=("shape", "icon")):
        words = simple_tokenize(row["text"])
        for thing in row["scene"].things:
            assert all(part in words for part in thing.name.split("_")), row["text"]
            if thing.kind == "shape":
                assert f"{thing.color} {thing.name}" in row["text"], row["text"]
            else:
                assert thing.color is None
        if " on the " in row["text"] or " in the middle" in row["text"]:  # a placed caption
            for thing in row["scene"].things:
                where = {"left": "on the left", "middle": "in the middle", "right": "on the right"}
                assert f"{thing.phrase} {where[row['scene'].where(thing)]}" in row["text"]


def test_where_and_level_read_the_box():
    scene = Scene([], size=60)
    assert scene.where(Thing("shape", "circle", "red", (0, 0, 10, 10))) == "left"
    assert scene.where(Thing("shape", "circle", "red", (25, 0, 35, 10))) == "middle"
    assert scene.where(Thing("shape", "circle", "red", (50, 50, 59, 59))) == "right"
    assert scene.level(Thing("shape", "circle", "red", (50, 50, 59, 59))) == "bottom"
    assert scene.level(Thing("icon", "sun", None, (0, 0, 10, 10))) == "top"


def test_describe_uses_articles_and_lists():
    scene = Scene([Thing("shape", "circle", "red", (0, 0, 15, 15)),
                   Thing("icon", "sun", None, (22, 0, 40, 18))], size=64)
    captions = {describe(scene, random.Random(seed)) for seed in range(40)}
    assert "a red circle and a sun" in captions
    assert "a red circle on the left and a sun in the middle" in captions
    assert captions == all_captions(scene)  # describe picks one of the true captions


def test_all_captions_are_shared_by_scenes_with_the_same_things():
    circle = Thing("shape", "circle", "red", (0, 0, 15, 15))
    moved = Thing("shape", "circle", "red", (44, 10, 59, 25))
    here, there = Scene([circle], size=64), Scene([moved], size=64)
    assert all_captions(here) == all_captions(Scene([circle], size=64, background=(1, 2, 3)))
    shared = all_captions(here) & all_captions(there)
    assert shared == {"a red circle", "a picture of a red circle", "there is a red circle",
                      "i see a red circle"}  # the captions that do not say where
    assert "there is a red circle on the left" in all_captions(here) - shared


def test_render_draws_the_things_on_the_background():
    square = Thing("shape", "square", "blue", (10, 10, 40, 40))
    scene = Scene([square], size=64, background=(200, 200, 200))
    picture = render(scene)
    assert picture.mode == "RGB" and picture.size == (64, 64)
    assert picture.getpixel((2, 2)) == (200, 200, 200)
    assert picture.getpixel((25, 25)) == COLORS["blue"]


def test_bad_arguments_fail_clearly():
    with pytest.raises(ValueError, match="n_things"):
        sample_scene(random.Random(0), n_things=(1, 4))
    with pytest.raises(ValueError, match="kinds"):
        sample_scene(random.Random(0), kinds=("animal",))
    every_shape = {(color, shape) for color in COLORS for shape in SHAPES}
    with pytest.raises(ValueError, match="combinations"):
        sample_scene(random.Random(0), n_things=(3, 3), exclude=every_shape - {("red", "cross")})


def test_fast_enough_on_one_core():
    torch.set_num_threads(1)
    start = time.perf_counter()
    rows = scene_rows(1000, seed=0, kinds=("shape", "icon"))
    pictures = render_batch([row["scene"] for row in rows])  # (N, 3, 64, 64)
    seconds = time.perf_counter() - start
    assert pictures.shape == (1000, 3, 64, 64) and pictures.dtype == torch.uint8
    assert seconds < 1.0, f"{1000 / seconds:.0f} scenes/s, wanted >= 1,000"
