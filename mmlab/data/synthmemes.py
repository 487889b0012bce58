"""SynthMemes: small synthetic memes that only a multimodal model can understand.

A SynthMeme is a small picture with a caption written on it (and also given as text) and a
label. The generator is deterministic: the same task, size and seed give the same bytes.

Tasks (one generator, several label rules):

- ``memes``: by default the *realistic* memes of `mmlab.data.realistic`, built to have the
  shape of the real Hateful Memes task (unimodal hate, sarcasm, some confounder pairs, an
  imbalanced train split, label noise, unseen splits). ``difficulty="clean"`` gives the clean
  memes below, made exactly as generator version 1 made them.
- ``memes``, clean: the picture is cheerful (sun, heart, flower, cake) or grim (storm, bomb,
  spider, bin) and so is the caption ("what a lovely day" / "what an awful day"). A meme is
  *mean* (label 1) when picture and caption disagree: a cheerful caption over a grim picture is
  sarcasm. Like Hateful Memes, memes come in **benign-confounder pairs**: the same caption over a
  picture of the other mood, or the same picture under a caption of the other mood, with the
  opposite label. So every caption and every picture is mean half of the time: each modality
  alone predicts the label at chance, and only the *combination* tells.
- ``grounding``: three coloured shapes; the caption names one ("there is a red circle"). Label 1
  when that exact object is in the picture. Negatives swap the binding: the colour and the shape
  are both there, but on different objects. Pairs share a picture and differ in the caption.
- ``redundant``: picture and caption always share their mood and the label is the mood
  (1 = grim), so either modality alone is enough.

Only ``memes`` has two difficulties; ``grounding`` and ``redundant`` are clean tasks.

The ``negation`` setting writes that share of captions the roundabout way: "not an awful day"
means a *positive* caption. A bag of words sees "awful"; a sequence model sees "not awful".
Its default is 0.2 for the realistic memes and 0 for the clean tasks.
"""

from __future__ import annotations

import random
from typing import Any

from PIL import Image, ImageDraw

from mmlab.data.drawing import (COLORS, ICONS, SHAPES, caption_band, draw_shape, icon_box,
                                 overlay_caption, pastel)
from mmlab.data.realistic import NEGATION, Knobs, make_realistic_rows

TASKS = ("memes", "grounding", "redundant")
DIFFICULTIES = ("realistic", "clean")
MOODS = ("positive", "negative")  # polarity 0 and 1, for pictures and captions alike

# Each caption topic has words of both moods and templates written plainly or negated.
TOPICS: dict[str, dict[str, Any]] = {
    "day": {
        "words": (["great", "lovely", "wonderful", "beautiful", "perfect"],
                  ["terrible", "awful", "horrible", "miserable", "dreadful"]),
        "plain": ["what a {w} day", "{w} day today", "such a {w} day", "today was {w}"],
        "negated": ["not a {w} day", "today was not {w}", "this is not a {w} day"],
    },
    "love": {
        "words": (["love", "adore", "enjoy", "like"], ["hate", "detest", "dislike", "loathe"]),
        "plain": ["i {w} this", "i {w} it so much", "we all {w} this"],
        "negated": ["i do not {w} this", "i never {w} this", "we do not {w} it"],
    },
    "mood": {
        "words": (["happy", "cheerful", "joyful", "glad", "excited"],
                  ["sad", "gloomy", "upset", "grumpy", "anxious"]),
        "plain": ["feeling {w}", "so {w} right now", "i am {w}"],
        "negated": ["not feeling {w}", "i am not {w}", "not so {w} right now"],
    },
    "news": {
        "words": (["good", "fantastic", "amazing", "brilliant"], ["bad", "grim", "tragic", "shocking"]),
        "plain": ["{w} news everyone", "this is {w} news", "what {w} news"],
        "negated": ["this is not {w} news", "not {w} news at all", "no {w} news today"],
    },
}
FILLERS_BEFORE = ["", "", "", "", "honestly", "well", "ok so", "lol", "tbh"]
FILLERS_AFTER = ["", "", "", "", "lol", "again", "for real", "haha", "today"]

GROUNDING_TEMPLATES = ["a {c} {s}", "there is a {c} {s}", "i see a {c} {s}",
                       "look at the {c} {s}", "find the {c} {s}"]

# The clean memes' icons (the realistic memes have more: mmlab.data.realistic).
ICONS_BY_MOOD = (("sun", "heart", "flower", "cake"), ("storm", "bomb", "spider", "bin"))


def resolve_difficulty(task: str, difficulty: str | None) -> str:
    """The difficulty to make: `difficulty`, or by default "realistic" for memes, else "clean"."""
    if difficulty is None:
        return "realistic" if task == "memes" else "clean"
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"unknown difficulty {difficulty!r}; "
                         f"choose one of {', '.join(DIFFICULTIES)}")
    if difficulty == "realistic" and task != "memes":
        raise ValueError(f"the {task} task has only the clean difficulty")
    return difficulty


def default_negation(difficulty: str) -> float:
    """The share of negated captions when none is asked for: 0.2 realistic, 0 clean."""
    return NEGATION if difficulty == "realistic" else 0.0


def meme_label(image_mood: int, text_mood: int) -> int:
    """The ``memes`` rule: 1 (mean) when picture and caption disagree in mood, else 0."""
    return int(image_mood != text_mood)


def make_caption(topic: str, mood: int, negated: bool, rng: random.Random) -> str:
    """A caption about `topic` with the given mood (0 positive, 1 negative).

    A negated caption says the opposite word with "not": mood 0 becomes "not a terrible day".
    """
    spec = TOPICS[topic]
    word_mood = 1 - mood if negated else mood
    word = rng.choice(spec["words"][word_mood])
    template = rng.choice(spec["negated" if negated else "plain"])
    phrase = template.format(w=word).replace(" a a", " an a")  # "an awful day", not "a awful day"
    words = [rng.choice(FILLERS_BEFORE), phrase, rng.choice(FILLERS_AFTER)]
    return " ".join(w for w in words if w)


def _caption_fields(mood: int, negation: float, rng: random.Random) -> dict[str, Any]:
    topic = rng.choice(list(TOPICS))
    negated = rng.random() < negation
    return {"text": make_caption(topic, mood, negated, rng), "text_concept": f"{topic}/{MOODS[mood]}",
            "text_mood": mood, "negated": negated}


def _picture_fields(mood: int, rng: random.Random) -> dict[str, Any]:
    return {"image_concept": rng.choice(ICONS_BY_MOOD[mood]), "image_mood": mood}


def _memes_rows(n: int, rng: random.Random, negation: float, size: int) -> list[dict[str, Any]]:
    """Benign-confounder pairs: one modality shared, the other flipped, so the label flips."""
    rows = []
    for group in range((n + 1) // 2):
        if rng.random() < 0.5:  # same caption, pictures of both moods
            caption = _caption_fields(rng.randint(0, 1), negation, rng)
            pair = [{**caption, **_picture_fields(mood, rng)} for mood in (0, 1)]
            kind = "same_text"
        else:  # same picture, captions of both moods
            picture = _picture_fields(rng.randint(0, 1), rng)
            pair = [{**picture, **_caption_fields(mood, negation, rng)} for mood in (0, 1)]
            kind = "same_image"
        rng.shuffle(pair)
        for row in pair:
            row["label"] = meme_label(row["image_mood"], row["text_mood"])
            row.update(group=group, confounder=kind)
            rows.append(row)
    return rows[:n]


def _redundant_rows(n: int, rng: random.Random, negation: float, size: int) -> list[dict[str, Any]]:
    """Picture and caption share one mood, and the label is that mood: either modality suffices."""
    rows = []
    for i in range(n):
        mood = rng.randint(0, 1)
        rows.append({**_picture_fields(mood, rng), **_caption_fields(mood, negation, rng),
                     "label": mood, "group": i, "confounder": "none"})
    return rows


def _grounding_rows(n: int, rng: random.Random, negation: float, size: int) -> list[dict[str, Any]]:
    """Three coloured shapes; the caption names one object, truly (label 1) or with swapped binding."""
    band = caption_band(size)
    slot = size / 3
    rows = []
    for group in range((n + 1) // 2):
        colors = rng.sample(list(COLORS), 3)
        shapes = rng.sample(SHAPES, 3)
        objects = []
        for k in range(3):  # left, middle, right, each jittered inside its third of the picture
            side = rng.uniform(0.55, 0.8) * slot
            x0 = k * slot + rng.uniform(0, slot - side)
            y0 = rng.uniform(band, size - band - side)
            box = [round(x0), round(y0), round(x0 + side), round(y0 + side)]
            objects.append({"color": colors[k], "shape": shapes[k], "box": box})
        target = rng.randrange(3)
        other = rng.choice([k for k in range(3) if k != target])
        true_name = (colors[target], shapes[target])
        swapped_name = (colors[target], shapes[other])  # both attributes present, never together
        template = rng.choice(GROUNDING_TEMPLATES)
        pair = [(true_name, 1, target), (swapped_name, 0, None)]
        rng.shuffle(pair)
        for (color, shape), label, named in pair:
            rows.append({
                "text": template.format(c=color, s=shape),
                "label": label,
                "image_concept": ", ".join(f"{o['color']} {o['shape']}" for o in objects),
                "text_concept": f"{color} {shape}",
                "objects": objects,
                "target": named,  # index of the named object in `objects`, or None when absent
                "group": group,
                "confounder": "same_image",
            })
    return rows[:n]


ROW_MAKERS = {"memes": _memes_rows, "grounding": _grounding_rows, "redundant": _redundant_rows}


def make_rows(task: str, n: int, seed: int, split: str, negation: float | None = None,
              size: int = 64, difficulty: str | None = None,
              knobs: Knobs | None = None) -> list[dict[str, Any]]:
    """The rows (text, label and metadata, no picture yet) of one split.

    Each split has its own random stream, so the test split does not change when you ask for a
    bigger training split, and confounder pairs never straddle two splits. `difficulty`,
    `negation` and `knobs`: see `resolve_difficulty`, `default_negation` and
    `mmlab.data.realistic.Knobs`.
    """
    if task not in ROW_MAKERS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    difficulty = resolve_difficulty(task, difficulty)
    negation = default_negation(difficulty) if negation is None else negation
    if difficulty == "realistic":
        rows = make_realistic_rows(n, seed, split, negation, size, knobs)
    else:
        rng = random.Random(f"synthmemes/{task}/{seed}/{split}")
        rows = ROW_MAKERS[task](n, rng, negation, size)
    for row in rows:
        row["task"] = task
    return rows


def render(row: dict[str, Any], size: int, seed: int) -> Image.Image:
    """Draw the picture of one row (deterministic in `seed` and the row's id) with its caption."""
    rng = random.Random(f"render/{seed}/{row['id']}")
    image = Image.new("RGB", (size, size), pastel(rng))
    draw = ImageDraw.Draw(image)
    if row["task"] == "grounding":
        for obj in row["objects"]:
            draw_shape(draw, obj["shape"], tuple(obj["box"]), COLORS[obj["color"]])
    else:
        # Realistic rows chose their icon's box when they were made (it explains their label);
        # clean rows draw it here, as generator version 1 did, so they keep their exact bytes.
        box = row["icon_box"] if "icon_box" in row else icon_box(rng, size)
        ICONS[row["image_concept"]][1](draw, box)
    overlay_caption(image, row["text"])
    return image
