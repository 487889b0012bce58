"""Checkers for notebook 06, "Explanations, robustness and a planted bias"."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd
import torch

from mmlab.data.memes import MemeDataset
from mmlab.data.realistic import FILLERS_AFTER, FILLERS_BEFORE, INSULTS, NEGATORS, TOPICS
from mmlab.exercises import not_attempted, report, skipped
from mmlab.experiment import Prepared
from mmlab.explain import FeatureMaker, plant_cue
from mmlab.features import FeatureDataset

# --- Exercise 1: which modality does the watermark model rely on? -----------------------------

SETTINGS = ("watermark_follows_label", "watermark_random")
ALIASES = {"image": "image", "picture": "image", "pictures": "image", "text": "text",
           "caption": "text", "captions": "text"}
UNDECIDED = ("both", "equal", "same", "neither")


def _modality(answer: Any) -> str | None:
    """"image" or "text" for an answer that names one (in any case, or by an alias), else None."""
    return ALIASES.get(answer.strip().lower()) if isinstance(answer, str) else None


def check_reliance(prediction: Any, measured: dict[str, dict[str, float]]) -> bool:
    """Exercise 1: for each test setting, the modality with the larger perceptual score.

    `prediction` maps each of `SETTINGS` to "image" or "text"; `measured` maps each setting to
    the perceptual scores {"image": ..., "text": ...} that the notebook computed afterwards.
    """
    name = "Exercise 1 (predict the reliance)"
    if not_attempted(prediction) or (isinstance(prediction, dict)
                                     and all(not_attempted(v) for v in prediction.values())):
        return skipped(name, 'Hint: write "image" or "text" for each setting *before* you run the '
                             "cell that measures them.")
    if not isinstance(prediction, dict) or set(prediction) != set(SETTINGS):
        return report(name, False, f"expected a dict with the keys {list(SETTINGS)}, each "
                                   '"image" or "text".')
    for setting, answer in prediction.items():
        if isinstance(answer, str) and answer.strip().lower() in UNDECIDED:
            return report(name, False, f"{setting}: {answer!r} is not a modality. The two scores "
                                       "differ in each setting; name the larger one.")
        if _modality(answer) is None:
            return report(name, False, f"{setting}: {answer!r} is not a modality of these memes. "
                                       "The watermark is part of the picture: answer "
                                       '"image" or "text".')
    truth = {setting: max(scores, key=scores.get) for setting, scores in measured.items()}
    guessed = {setting: _modality(answer) for setting, answer in prediction.items()}
    follows, random = (measured[s] for s in SETTINGS)
    numbers = (f"measured: image {follows['image']:.3f} vs text {follows['text']:.3f} where the "
               f"watermark follows the label, image {random['image']:.3f} vs text "
               f"{random['text']:.3f} where it is random")
    if guessed == truth:
        return report(name, True, f"{numbers}. The perceptual score measures what a modality is "
                                  "*worth on this test set*: the shortcut shows only on a test "
                                  "set that still carries it.")
    if guessed == {s: "image" for s in SETTINGS}:
        return report(name, False, f"{numbers}. Where the watermark is random it is worth "
                                   "nothing, so shuffling the pictures costs little: the score "
                                   "measures what a modality is worth on a test set, not where "
                                   "the model looks.")
    if guessed == {s: "text" for s in SETTINGS}:
        return report(name, False, f"{numbers}. Where the watermark follows the label, the picture "
                                   "carries the shortcut, and shuffling it breaks the shortcut.")
    if guessed == {s: "text" if t == "image" else "image" for s, t in truth.items()}:
        return report(name, False, f"{numbers}: the other way round. Which test set still holds "
                                   "the watermark's link to the label?")
    wrong = next(s for s in SETTINGS if guessed[s] != truth[s])
    return report(name, False, f"{numbers}. Look again at {wrong}.")


# --- Exercise 2: find the planted word from explanations alone ---------------------------------

PLANTED_WORD = "ngl"  # a filler the generator already uses, so the word itself looks innocent
MOOD_WORDS = {word for topic in TOPICS.values() for words in topic.words for word in words}
FILLERS = {word for phrase in FILLERS_BEFORE + FILLERS_AFTER for word in phrase.split()}


def plant_word(texts: list[str], marked: torch.Tensor, word: str = PLANTED_WORD) -> list[str]:
    """The captions with `word` appended to the `marked` (N,) ones."""
    return [f"{text} {word}" if mark else text for text, mark in zip(texts, marked.tolist())]


def mystery_memes(prepared: Prepared, maker: FeatureMaker, agree: float = 0.95,
                  seed: int = 0) -> tuple[Prepared, FeatureDataset, list[str], pd.DataFrame]:
    """Memes with a word planted in the captions: in most mean memes of train and dev, at random
    in test. Only the caption text gets the word (the pictures stay as they were).

    Returns the prepared data to train on, the test split's features, its captions (with the
    word where it was planted) and its rows (the generator's truth).
    """
    features, captions = {}, {}
    for offset, (role, share) in enumerate((("train", agree), ("dev", agree), ("test", 0.5))):
        data = prepared.features[role]
        texts = list(MemeDataset(prepared.root, prepared.splits[role]).frame["text"])
        captions[role] = plant_word(texts, plant_cue(data.label, share, seed + offset))
        features[role] = data.replace(text=maker.captions(captions[role]))
    planted = dataclasses.replace(prepared, features={**prepared.features, **features})
    rows = MemeDataset(prepared.root, prepared.splits["test"]).frame
    return planted, features["test"], captions["test"], rows


def check_shortcut(word: Any) -> bool:
    """Exercise 2: the caption word planted as a shortcut in the mystery memes."""
    name = "Exercise 2 (find the planted word)"
    if not_attempted(word):
        return skipped(name, "Hint: average each word's occlusion over the test memes that the "
                             "generator calls benign: there no word should push towards 'mean'.")
    if not isinstance(word, str) or len(word.split()) != 1:
        return report(name, False, f"answer with one word, as a string (got {word!r}).")
    answer = word.strip().strip("'\"").lower()
    if answer == PLANTED_WORD:
        return report(name, True, f"{PLANTED_WORD!r} pushes benign memes towards 'mean', yet the "
                                  "generator never names it as a reason: a filler that the "
                                  "training data tied to the label.")
    if answer in INSULTS:
        return report(name, False, f"{answer!r} is an insult: by the generator's rule an insulting "
                                   "caption is mean (reason 'text'), a real cue. Look for a word "
                                   "that pushes towards 'mean' on memes that are benign.")
    if answer in NEGATORS:
        return report(name, False, f"{answer!r} flips a caption's mood ('not a terrible day'): "
                                   "it is one of the deciding words of negated captions.")
    if answer in MOOD_WORDS:
        return report(name, False, f"{answer!r} is a mood word: with the picture it decides "
                                   "sarcasm (reason 'interaction'), so its attribution is earned.")
    if answer in FILLERS:
        return report(name, False, f"{answer!r} is a filler, but it occurs as often in benign as "
                                   "in mean memes; compare its mean attribution with the others'.")
    if answer in ("watermark", "logo", "cross", "corner", "picture", "image"):
        return report(name, False, "this time the shortcut hides in the captions; the mystery "
                                   "memes' pictures have no watermark.")
    return report(name, False, f"{answer!r} is not among the words whose attribution stands out; "
                               "rank the words by their mean attribution on benign memes.")
