"""Questions about scenes, with answers we know: the data of the tiny VLM (notebook 07).

Every scene of `mmlab.data.scenes` knows what it holds, so questions about it come with exact
answers. Five kinds of question, each decided by the picture:

    kind      question                          answers
    colour    what colour is the square?        red, green, blue, yellow
    count     how many things are there?        one, two, three
    where     where is the circle?              left, middle, right
    exists    is there a cross?                 yes, no (half the time the shape is absent)
    caption   describe the picture              "a red circle on the left and a blue square"

Colour and "where" questions name a shape the scene holds once ("the square" when there is one
square). "exists" asks half the time about a shape that is not there, as the POPE benchmark of
object hallucination does. `exclude` takes (colour, shape) combinations that appear in no
training picture and so in no training text: a test of whether the model can name a combination
it never saw. A `VQAData` holds the pictures once and a table of questions that point at them;
`mmlab.vlm.conversation_dataset` packs them into rows for `mmlab.train.fit`.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import pandas as pd
import torch

from mmlab.data.drawing import COLORS, SHAPES
from mmlab.data.scenes import Combination, Scene, describe, render_batch, sample_scene

QUESTION_KINDS = ("colour", "count", "where", "exists", "caption")
COUNTS = {1: "one", 2: "two", 3: "three"}
CAPTION_PROMPT = "describe the picture"
ANSWERS = {  # every possible answer of the one-word kinds: chance is 1 / len(...)
    "colour": tuple(COLORS), "count": tuple(COUNTS.values()),
    "where": ("left", "middle", "right"), "exists": ("yes", "no"),
}


def ask(scene: Scene, kind: str, rng: random.Random) -> tuple[str, str] | None:
    """One question of `kind` about `scene` and its answer, or None when the scene cannot say.

    Colour and "where" questions name a shape the scene holds once. "exists" asks about a shape
    that is there or, half the time, one that is not (when some shape is missing).
    """
    things = [thing for thing in scene.things if thing.kind == "shape"]
    if kind in ("colour", "where"):
        single = [t for t in things if sum(u.name == t.name for u in things) == 1]
        if not single:
            return None
        thing = rng.choice(single)
        if kind == "colour":
            return f"what colour is the {thing.name}?", thing.color
        return f"where is the {thing.name}?", scene.where(thing)
    if kind == "count":
        return "how many things are there?", COUNTS[len(scene.things)]
    if kind == "exists":
        present = sorted({t.name for t in things})
        absent = [shape for shape in SHAPES if shape not in present]
        if rng.random() < 0.5 or not absent:
            return f"is there a {rng.choice(present)}?", "yes"
        return f"is there a {rng.choice(absent)}?", "no"
    if kind == "caption":
        return CAPTION_PROMPT, describe(scene, rng)
    raise ValueError(f"unknown question kind {kind!r}; choose from {QUESTION_KINDS}")


@dataclass
class VQAData:
    """Scenes, their pictures, and questions about them.

    `pictures` (N_scenes, 3, 64, 64) uint8; `questions` a DataFrame with one row per question:
    ``scene`` (an index into `scenes` and `pictures`), ``kind``, ``question``, ``answer``.
    """

    scenes: list[Scene]
    pictures: torch.Tensor
    questions: pd.DataFrame


def make_vqa(n_scenes: int, seed: int = 0, kinds: Sequence[str] = QUESTION_KINDS,
             exclude: Collection[Combination] = frozenset(),
             only_with: Collection[Combination] = frozenset()) -> VQAData:
    """`n_scenes` fresh scenes with one question of each kind in `kinds` (when the scene can say).

    Deterministic in `seed`. `exclude`: (colour, shape) combinations never drawn. `only_with`:
    keep only scenes that hold at least one of these combinations (a test of held-out ones).
    """
    rng = random.Random(f"vqa/{seed}")
    scenes, rows = [], []
    while len(scenes) < n_scenes:
        scene = sample_scene(rng, exclude=exclude)
        if only_with and not any((t.color, t.name) in only_with for t in scene.things):
            continue
        for kind in kinds:
            asked = ask(scene, kind, rng)
            if asked is not None:
                rows.append({"scene": len(scenes), "kind": kind, "question": asked[0],
                             "answer": asked[1]})
        scenes.append(scene)
    return VQAData(scenes, render_batch(scenes), pd.DataFrame(rows))
