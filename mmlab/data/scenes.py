"""Scenes: small pictures whose captions say exactly what is drawn, and where.

SynthMemes pictures carry a label; a scene carries its own description. Each scene holds one to
three *things* -- coloured shapes ("a red circle") or icons ("a spider") from
`mmlab.data.drawing` -- on a pastel background, each in its own third of the picture (left,
middle, right), so a caption such as "a red circle on the left and a spider on the right" is
true of the picture and nothing else. Notebook 05 (contrastive alignment, section 1) trains a
CLIP on these pairs; notebook 07 asks a small vision-language model questions about them.

    rng ─► sample_scene ─► Scene(things, size, background)
                              ├─► render ──► PIL picture (no caption drawn into it)
                              └─► describe ─► "there is a yellow cross on the left"

Everything is deterministic in the `random.Random` it is given: `scene_rows(n, seed)` gives the
same scenes and captions every time, row i from its own stream (so a longer list starts with the
same rows). `exclude` holds (colour, shape) combinations that are never drawn, for a test of a
combination the model never saw. `render_batch` turns many scenes into a uint8 tensor
(N, 3, size, size), a few thousand scenes per second on one core.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from mmlab.data.drawing import COLORS, ICONS, SHAPES, draw_shape, pastel

KINDS = ("shape", "icon")
COLUMNS = ("left", "middle", "right")  # each thing gets its own third of the picture
ROWS = ("top", "middle", "bottom")
PLACE_WORDS = {"left": "on the left", "middle": "in the middle", "right": "on the right"}

# Caption templates; {things} is a list such as "a red circle and a spider".
LIST_TEMPLATES = ("{things}", "a picture of {things}", "there is {things}", "i see {things}")
PLACED_TEMPLATES = ("{things}", "there is {things}")  # here each thing says where it is

Combination = tuple[str | None, str]  # (colour, shape), or (None, icon)


@dataclass(frozen=True)
class Thing:
    """One drawn object: a coloured shape (color set) or an icon (color None), and its box."""

    kind: str  # "shape" or "icon"
    name: str  # the shape ("circle", ...) or the icon ("sun", ...)
    color: str | None  # the shape's colour ("red", ...); None for an icon (icons have their own)
    box: tuple[int, int, int, int]  # (x0, y0, x1, y1) in pixels

    @property
    def phrase(self) -> str:
        """What a caption calls it: "red circle", "spider", "broken heart" (for broken_heart)."""
        return f"{self.color} {self.name}" if self.color else self.name.replace("_", " ")


@dataclass
class Scene:
    """Things on a plain background, left to right; `size` is the picture's side in pixels."""

    things: list[Thing]
    size: int
    background: tuple[int, int, int] = (255, 255, 255)

    def where(self, thing: Thing) -> str:
        """"left", "middle" or "right": the third of the picture that holds the thing's centre."""
        x0, _, x1, _ = thing.box
        return COLUMNS[min(2, int((x0 + x1) / 2 * 3 // self.size))]

    def level(self, thing: Thing) -> str:
        """"top", "middle" or "bottom": the third of the picture that holds the thing's centre."""
        _, y0, _, y1 = thing.box
        return ROWS[min(2, int((y0 + y1) / 2 * 3 // self.size))]


def combinations(kinds: Sequence[str] = ("shape",),
                 exclude: Collection[Combination] = frozenset()) -> list[tuple[str, str, str | None]]:
    """Every (kind, name, colour) that a scene of these kinds may draw, less the `exclude`d ones."""
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown kinds {sorted(unknown)}; choose from {KINDS}")
    allowed = []
    if "shape" in kinds:
        allowed += [("shape", shape, color) for color in COLORS for shape in SHAPES
                    if (color, shape) not in exclude]
    if "icon" in kinds:
        allowed += [("icon", icon, None) for icon in ICONS if (None, icon) not in exclude]
    return allowed


def sample_scene(rng: random.Random, size: int = 64, n_things: tuple[int, int] = (1, 3),
                 kinds: Sequence[str] = ("shape",),
                 exclude: Collection[Combination] = frozenset()) -> Scene:
    """A random scene of n_things[0] to n_things[1] different things that do not overlap.

    Each thing sits in its own third of the picture (so at most three), at a random height, with a
    side of 65 % to 100 % of a third. `exclude`: (colour, shape) pairs, or (None, icon), never drawn.
    """
    low, high = n_things
    if not 1 <= low <= high <= len(COLUMNS):
        raise ValueError(f"n_things must be (low, high) with 1 <= low <= high <= 3, got {n_things}")
    allowed = combinations(kinds, exclude)
    count = rng.randint(low, high)
    if len(allowed) < count:
        raise ValueError(f"only {len(allowed)} combinations are left after `exclude`; {count} needed")
    slot = size / len(COLUMNS)
    columns = sorted(rng.sample(range(len(COLUMNS)), count))  # left to right
    things = []
    for column, (kind, name, color) in zip(columns, rng.sample(allowed, count)):
        side = rng.uniform(0.65, 1.0) * slot
        x0 = column * slot + rng.uniform(0, slot - side)
        y0 = rng.uniform(0, size - side)
        box = (round(x0), round(y0), round(x0 + side) - 1, round(y0 + side) - 1)  # inclusive
        things.append(Thing(kind, name, color, box))
    return Scene(things, size, pastel(rng))


def render(scene: Scene) -> Image.Image:
    """The scene's picture (RGB, scene.size pixels square); no caption is drawn into it."""
    image = Image.new("RGB", (scene.size, scene.size), scene.background)
    draw = ImageDraw.Draw(image)
    for thing in scene.things:
        if thing.kind == "shape":
            draw_shape(draw, thing.name, thing.box, COLORS[thing.color])
        else:
            ICONS[thing.name][1](draw, thing.box)
    return image


def render_batch(scenes: Sequence[Scene]) -> torch.Tensor:
    """Pictures of many scenes as one uint8 tensor (N, 3, size, size), ready for an encoder."""
    stacked = np.stack([np.asarray(render(scene)) for scene in scenes])  # (N, size, size, 3)
    return torch.from_numpy(stacked).permute(0, 3, 1, 2).contiguous()  # (N, 3, size, size)


def with_article(phrase: str) -> str:
    """ "a red circle", "an apple"."""
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def join_words(parts: Sequence[str]) -> str:
    """ "x", "x and y", "x, y and z"."""
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def listed(scene: Scene) -> str:
    """The things, left to right: "a red circle and a spider"."""
    return join_words([with_article(thing.phrase) for thing in scene.things])


def placed(scene: Scene) -> str:
    """The things with their places: "a red circle on the left and a spider on the right"."""
    return join_words([f"{with_article(thing.phrase)} {PLACE_WORDS[scene.where(thing)]}"
                       for thing in scene.things])


def describe(scene: Scene, rng: random.Random) -> str:
    """A caption naming every thing in the scene (colour and name), half the time with its place.

    "a red circle and a blue square", "a picture of a spider",
    "there is a yellow cross on the left", "a sun in the middle and a green triangle on the right".
    """
    if rng.random() < 0.5:
        return rng.choice(LIST_TEMPLATES).format(things=listed(scene))
    return rng.choice(PLACED_TEMPLATES).format(things=placed(scene))


def all_captions(scene: Scene) -> frozenset[str]:
    """Every caption `describe` can give for this scene: the captions that are true of it.

    Two scenes with the same things in the same places share all their captions; with the same
    things elsewhere, only the captions without places. Notebook 05 counts a caption as a right
    answer for a picture when it is in this set.
    """
    return frozenset([template.format(things=listed(scene)) for template in LIST_TEMPLATES]
                     + [template.format(things=placed(scene)) for template in PLACED_TEMPLATES])


def scene_rows(n: int, seed: int = 0, size: int = 64, n_things: tuple[int, int] = (1, 3),
               kinds: Sequence[str] = ("shape",),
               exclude: Collection[Combination] = frozenset()) -> list[dict[str, Any]]:
    """`n` scenes and their captions: [{"id": i, "scene": Scene, "text": caption}, ...].

    Row i comes from its own random stream (seeded by `seed` and i), so the same arguments give
    the same rows and a larger `n` only adds rows. Pictures: `render_batch([r["scene"] ...])`.
    """
    rows = []
    for i in range(n):
        rng = random.Random(f"scenes/{seed}/{i}")
        scene = sample_scene(rng, size, n_things, kinds, exclude)
        rows.append({"id": i, "scene": scene, "text": describe(scene, rng)})
    return rows
