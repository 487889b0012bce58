"""Checkers for notebook 05, "Contrastive alignment: CLIP from scratch"."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from mmlab.contrastive import INIT_SCALE, clip_loss
from mmlab.data.drawing import COLORS, SHAPES
from mmlab.exercises import not_attempted, report, skipped, unanswered

TOLERANCE = 1e-5
DIRECTIONS = ("higher", "about the same", "lower")
SAME_BAND = 0.02  # recall differences smaller than this count as "about the same"


def _features(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Projected features of 6 pictures and their 6 captions, not normalised (norms 0.5 to 3)."""
    generator = torch.Generator().manual_seed(seed)
    image = torch.randn(6, 8, generator=generator) * torch.linspace(0.5, 3, 6).unsqueeze(1)
    text = torch.randn(6, 8, generator=generator) * torch.linspace(3, 0.5, 6).unsqueeze(1)
    return image, text  # (6, 8) each


def _wrong_versions(image: torch.Tensor, text: torch.Tensor, scale: float) -> dict[str, float]:
    """What the usual mistakes compute, each with the message that names it."""
    i, t = F.normalize(image, dim=-1), F.normalize(text, dim=-1)
    diagonal = torch.arange(len(image))
    logits = scale * i @ t.T  # (B, B)
    rows, columns = F.cross_entropy(logits, diagonal), F.cross_entropy(logits.T, diagonal)
    return {
        "it reads only the rows (image -> text): either the text -> image half is missing or it "
        "reads logits instead of logits.T; add F.cross_entropy(logits.T, labels) and take the mean":
            rows.item(),
        "it reads only the columns (text -> image): add the image -> text half, "
        "F.cross_entropy(logits, labels), and take the mean": columns.item(),
        "the sum of the two halves: CLIP takes their mean, (a + b) / 2": (rows + columns).item(),
        "the features were not L2-normalised: F.normalize(x, dim=-1) first, so that the dot "
        "product is a cosine": clip_loss(image, text, scale).item(),
        "the scale is missing: multiply the cosines by logit_scale": clip_loss(i, t, 1.0).item(),
        "the cosines were divided by logit_scale; logit_scale = 1 / temperature multiplies them":
            clip_loss(i, t, 1 / scale).item(),
        "the logarithm of logit_scale was used; it is already exp(log_scale), multiply by it as it is":
            clip_loss(i, t, math.log(scale)).item(),
        "the targets are not the diagonal: picture i goes with caption i, labels = torch.arange(B)":
            ((F.cross_entropy(logits, torch.zeros_like(diagonal))
              + F.cross_entropy(logits.T, torch.zeros_like(diagonal))) / 2).item(),
    }


def check_clip_loss(fn: Callable[[torch.Tensor, torch.Tensor, float], Any] | None) -> bool:
    """Exercise 1: fn(image_features, text_features, logit_scale) -> CLIP's loss, a scalar tensor."""
    name = "Exercise 1 (CLIP's loss)"
    hint = ("Hint: normalise both, logits = logit_scale * image @ text.T, then the mean of two "
            "cross-entropies with labels torch.arange(B): one over the rows, one over the columns.")
    if unanswered(name, fn, hint, "def my_clip_loss(image, text, logit_scale): ..."):
        return False
    for seed, scale in ((0, INIT_SCALE), (1, 3.0)):
        image, text = _features(seed)  # (6, 8): 6 pairs, 8 features
        try:
            result = fn(image.clone(), text.clone(), scale)
        except RuntimeError as error:
            if "cannot be multiplied" in str(error):
                return report(name, False, "image @ text cannot be multiplied: (B, D) @ (B, D). The "
                                           "text features need a transpose: image @ text.T is (B, B).")
            return report(name, False, f"your function raised RuntimeError: {error}")
        except Exception as error:  # a learner's function may fail in any way
            return report(name, False, f"your function raised {type(error).__name__}: {error}")
        if not_attempted(result):
            return skipped(name, f"Your function returns nothing yet. {hint}")
        if not torch.is_tensor(result) or result.numel() != 1:
            shape = tuple(result.shape) if torch.is_tensor(result) else type(result).__name__
            return report(name, False, f"return one number as a tensor (a scalar), got {shape}: "
                                       "the mean over the batch, averaged over the two directions.")
        expected = clip_loss(F.normalize(image, dim=-1), F.normalize(text, dim=-1), scale).item()
        value = result.item()
        if abs(value - expected) <= TOLERANCE:
            continue
        for mistake, wrong in _wrong_versions(image, text, scale).items():
            if abs(value - wrong) <= TOLERANCE:
                return report(name, False, f"your loss is {value:.4f}, mmlab's {expected:.4f}: "
                                           f"{mistake}.")
        return report(name, False, f"your loss is {value:.4f}, mmlab's {expected:.4f} (logit_scale "
                                   f"{scale:.3g}). Check each step against the formula in section 2.")
    return report(name, True, "your loss matches mmlab.contrastive.clip_loss to within 1e-5, "
                              "with two scales and on unnormalised features.")


def measured_trend(sweep_recall: dict[int, float], big_recall: float) -> str:
    """ "higher", "about the same" or "lower": the big batch's R@1 against the sweep's best."""
    best = max(sweep_recall.values())
    if abs(big_recall - best) < SAME_BAND:
        return "about the same"
    return "higher" if big_recall > best else "lower"


def check_batch_prediction(prediction: dict[str, Any] | None,
                           measured: dict[str, Any] | None = None) -> bool:
    """Exercise 2: a prediction {"loss_at_init", "recall"} for a batch far larger than the sweep's.

    `measured` holds "batch_size", "loss_at_init" and "recall" of the run, and "sweep_recall"
    {batch size: R@1} of the notebook's sweep (same temperature, same epochs).
    """
    name = "Exercise 2 (predict a larger batch)"
    hint = ('Hint: fill in prediction = {"loss_at_init": a number, "recall": "higher", '
            '"about the same" or "lower"} before you run the next cell.')
    if not_attempted(prediction) or (isinstance(prediction, dict)
                                     and all(not_attempted(v) for v in prediction.values())):
        return skipped(name, hint)
    if not isinstance(prediction, dict) or set(prediction) != {"loss_at_init", "recall"}:
        return report(name, False, 'expected a dict with the keys "loss_at_init" and "recall".')
    if measured is None:
        return report(name, False, "run the experiment cell first, then pass its result: "
                                   "check_batch_prediction(prediction, measured).")
    B, loss0 = measured["batch_size"], measured["loss_at_init"]
    guess, direction = prediction["loss_at_init"], prediction["recall"]
    problems = []
    if not isinstance(guess, numbers.Real) or isinstance(guess, bool):
        problems.append(f"loss_at_init should be a number, got {guess!r}")
    elif abs(guess - loss0) > 0.1 * loss0:
        if abs(guess - B) < 0.5:
            why = "that is the number of captions each picture chooses from; the loss is its logarithm"
        elif abs(guess - math.log10(B)) < 0.05 or abs(guess - math.log2(B)) < 0.05:
            why = "cross-entropy uses the natural logarithm, ln"
        elif abs(guess - 1 / B) < 0.01:
            why = "1/B is the probability of the right caption at init; the loss is -ln of it"
        else:
            why = "at init every caption is about as likely as the others"
        problems.append(f"loss at init: you said {guess:g}, measured {loss0:.2f} ({why})")
    if direction not in DIRECTIONS:
        problems.append(f"recall should be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    else:
        truth = measured_trend(measured["sweep_recall"], measured["recall"])
        if direction != truth:
            best_B = max(measured["sweep_recall"], key=measured["sweep_recall"].get)
            problems.append(f"recall: you said {direction}, but R@1 was {measured['recall']:.3f} at "
                            f"B = {B} against {measured['sweep_recall'][best_B]:.3f} at B = {best_B}, "
                            f"so {truth}. The same epochs mean the same pictures: with B = {B}, how "
                            "many optimiser steps is that?")
    if problems:
        return report(name, False, "; ".join(problems) + ".")
    return report(name, True, f"loss at init ≈ ln({B}) = {math.log(B):.2f}, and R@1 was "
                              f"{measured['recall']:.3f}: more negatives per step, but fewer steps "
                              "for the same epochs.")


def check_held_out_design(held_out: Any) -> bool:
    """Exercise 3: four (colour, shape) pairs to hold out, so that every colour and every shape
    is still drawn with three of the four others during training."""
    name = "Exercise 3 (design a held-out test)"
    hint = ('Hint: a set of four pairs such as {("red", "circle"), ...}; draw the 4 x 4 grid of '
            "colours and shapes and mark the pairs you hold out.")
    if not_attempted(held_out):
        return skipped(name, hint)
    try:
        pairs = {tuple(pair) for pair in held_out}
    except TypeError:
        return report(name, False, 'expected a set of (colour, shape) pairs, e.g. '
                                   '{("red", "circle"), ...}.')
    if any(len(pair) != 2 for pair in pairs):
        return report(name, False, 'each item is one pair ("colour", "shape"); write "red circle" '
                                   'as ("red", "circle").')
    unknown = sorted(" ".join(map(str, pair)) for pair in pairs
                     if pair[0] not in COLORS or pair[1] not in SHAPES)
    if unknown:
        return report(name, False, f"{', '.join(unknown)}: not a coloured shape of the scenes; the "
                                   f"colours are {', '.join(COLORS)}, the shapes {', '.join(SHAPES)}.")
    if len(pairs) != 4:
        return report(name, False, f"{len(pairs)} different pairs; the design asks for 4.")
    for position, kind, partners in ((0, "colour", "shapes"), (1, "shape", "colours")):
        values = [pair[position] for pair in pairs]
        repeated = sorted({value for value in values if values.count(value) > 1})
        if repeated:
            value = repeated[0]
            times = values.count(value)
            return report(name, False, f"the {kind} {value} is held out {times} times, so training "
                                       f"shows it with only {4 - times} {partners} while another {kind} "
                                       "keeps all 4: a failure on it could come from seeing it less. "
                                       f"Hold out each {kind} once.")
    return report(name, True, "each colour and each shape is held out exactly once (a diagonal of the "
                              "4 x 4 grid): training still shows every colour with three shapes and "
                              "every shape in three colours, so each held-out pair is equally new.")
