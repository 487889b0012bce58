"""Questions about scenes, with answers we know: the data of the tiny VLM (notebook 07).

Every scene of `mmlab.data.scenes` knows what it holds, so questions about it come with exact
answers. Five kinds of question, each decided by the picture:

    kind      question                          answers
    colour    what colour is the square?        red, green, blue, yellow
    count     how many things are there?        one, two, three
    where     where is the circle?              left, middle, right
    exists    is there a green thing?           yes, no (asked in pairs: one of each)
    caption   describe the picture              "a red circle on the left and a blue square"

Colour and "where" questions name a shape the scene holds once ("the square" when there is one
square). "exists" asks, as the POPE benchmark of object hallucination does, about a thing that is
there and about one that is not (of a colour the picture does not hold). `exclude` takes (colour,
shape) combinations that appear in no training picture and so in no training text: a test of
whether the model can name a combination it never saw. A `VQAData` holds the pictures once and a
table of questions that point at them; `mmlab.vlm.conversation_dataset` packs them into rows for
`mmlab.train.fit`.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import pandas as pd
import torch

from mmlab.data.drawing import COLORS
from mmlab.data.scenes import Combination, Scene, describe, render_batch, sample_scene

QUESTION_KINDS = ("colour", "count", "where", "exists", "caption")
COUNTS = {1: "one", 2: "two", 3: "three"}
CAPTION_PROMPT = "describe the picture"
ANSWERS = {  # every possible answer of the one-word kinds: chance is 1 / len(...)
    "colour": tuple(COLORS), "count": tuple(COUNTS.values()),
    "where": ("left", "middle", "right"), "exists": ("yes", "no"),
}


def ask(scene: Scene, kind: str, rng: random.Random) -> list[tuple[str, str]]:
    """Questions of `kind` about `scene` with their answers: one, none or (for "exists") two.

    Colour and "where" questions name a shape the scene holds once (none when every shape is
    there twice). "exists" asks a minimal pair: about a colour that is there ("yes") and one that
    is not ("no"), so the question alone never decides the answer (scenes hold at most three
    things of four colours, so some colour is always missing).
    """
    things = [thing for thing in scene.things if thing.kind == "shape"]
    if kind in ("colour", "where"):
        single = [t for t in things if sum(u.name == t.name for u in things) == 1]
        if not single:
            return []
        thing = rng.choice(single)
        if kind == "colour":
            return [(f"what colour is the {thing.name}?", thing.color)]
        return [(f"where is the {thing.name}?", scene.where(thing))]
    if kind == "count":
        return [("how many things are there?", COUNTS[len(scene.things)])]
    if kind == "exists":
        present = sorted({t.color for t in things})
        absent = [color for color in COLORS if color not in present]
        return [(f"is there a {rng.choice(present)} thing?", "yes"),
                (f"is there a {rng.choice(absent)} thing?", "no")]
    if kind == "caption":
        return [(CAPTION_PROMPT, describe(scene, rng))]
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
    """`n_scenes` fresh scenes with the questions of each kind in `kinds` (see `ask`).

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
            rows += [{"scene": len(scenes), "kind": kind, "question": question, "answer": answer}
                     for question, answer in ask(scene, kind, rng)]
        scenes.append(scene)
    return VQAData(scenes, render_batch(scenes), pd.DataFrame(rows))
