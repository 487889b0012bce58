"""Checkers for notebook 01, "Unimodal encoders".

- Exercise 1: standardise a modality with the training split's statistics.
- Exercise 2: the k nearest neighbours of a row by cosine similarity.
- Exercise 3: predict, then measure, the receptive field of a CNN with three strided blocks.
- Exercise 4: design a control for word order: scramble the words, keep the bag.

Every checker hands the learner's function copies of its inputs, so a function that edits its
arguments in place cannot change the data that the verdict is computed from.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mmlab.exercises import call_learner, not_attempted, report, skipped, unanswered


def _as_tensor(value: Any) -> torch.Tensor | None:
    """A float32 tensor from a tensor or a NumPy array (e.g. scikit-learn's output), else None."""
    if isinstance(value, torch.Tensor):
        return value.detach().float()
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiu":
        return torch.from_numpy(value).float()
    return None


def check_standardise(standardise: Callable[[torch.Tensor, torch.Tensor], Any] | None) -> bool:
    """Exercise 1: `standardise(train, features)` scales `features` with the training statistics."""
    name = "Exercise 1 (standardise a modality)"
    hint = ("Hint: dev and test must be scaled exactly like train, with one mean and one "
            "standard deviation per feature (per column).")
    if unanswered(name, standardise, hint, "def standardise(train, features): ..."):
        return False
    generator = torch.Generator().manual_seed(0)
    train = torch.randn(200, 5, generator=generator) * torch.tensor([1.0, 5, 20, 0.1, 3]) + 7  # (200, 5)
    features = torch.randn(40, 5, generator=generator) * 4 - 2  # (40, 5): other statistics on purpose
    ran, got = call_learner(name, standardise, train.clone(), features.clone())  # copies: see above
    if not ran:
        return False
    if got is None:
        return skipped(name, "Your function returns nothing yet: `return` the standardised tensor.")
    result = _as_tensor(got)
    if result is None:
        return report(name, False, f"expected a tensor (N, D) of numbers, got {type(got).__name__}.")
    if result.shape != features.shape:
        if result.shape == train.shape:
            return report(name, False, f"you returned {tuple(result.shape)}, the shape of `train`: "
                                       "standardise `features` (with train's statistics).")
        return report(name, False, f"expected shape {tuple(features.shape)} (one row per sample, one column "
                                   f"per feature), got {tuple(result.shape)}. Did you reduce over dim=1?")
    mean, std = train.mean(dim=0), train.std(dim=0)
    close = lambda target: torch.allclose(result, target, atol=1e-4, rtol=1e-2)
    if close((features - mean) / std):
        note = "" if isinstance(got, torch.Tensor) else (
            f" (you returned a {type(got).__name__}; the kit's models want tensors: torch.as_tensor)")
        return report(name, True, "every feature now has mean 0 and standard deviation 1 on the training "
                                  f"split, whatever its original scale{note}.")
    if close((features - features.mean(dim=0)) / features.std(dim=0)):
        return report(name, False, "you used the statistics of `features` itself. Use the training split's "
                                   "mean and std, so dev and test are scaled exactly like train.")
    if close(features - mean):
        return report(name, False, "centred, but not scaled: divide by the training standard deviation too.")
    if close(features / std):
        return report(name, False, "scaled, but not centred: subtract the training mean first.")
    if close((features - mean) / train.var(dim=0)):
        return report(name, False, "you divided by the variance; divide by the standard deviation, its "
                                   "square root.")
    if close((features - train.mean()) / train.std()):
        return report(name, False, "one mean and std for the whole tensor; compute them per feature "
                                   "(per column) with `dim=0`.")
    low, high = train.min(dim=0).values, train.max(dim=0).values
    if close((features - low) / (high - low)):
        return report(name, False, "that is min-max scaling to [0, 1]; standardising subtracts the mean "
                                   "and divides by the standard deviation.")
    return report(name, False, "not yet: centre each feature (column) on the training split's mean, then "
                               "divide it by the training split's standard deviation.")


def _neighbour_cases() -> tuple[torch.Tensor, list[tuple[int, int]]]:
    """Rows whose lengths differ (so cosine is not distance), and (index, k) queries to ask.

    The last query asks for every other row, so some neighbours are dissimilar (cosine below 0):
    a query masked with 0 instead of -inf would then rank above them.
    """
    generator = torch.Generator().manual_seed(1)
    directions = F.normalize(torch.randn(30, 8, generator=generator), dim=1)
    lengths = torch.rand(30, 1, generator=generator) * 9 + 1  # norms from 1 to 10
    return directions * lengths, [(4, 5), (0, 3), (17, 29)]  # features (30, 8)


def check_nearest_neighbours(nearest: Callable[[torch.Tensor, int, int], Any] | None) -> bool:
    """Exercise 2: `nearest(features, index, k)` -> the k rows most cosine-similar to row `index`."""
    name = "Exercise 2 (nearest neighbours)"
    hint = ("Hint: cosine similarity compares directions, not lengths: give every row "
            "length 1 first, and one matrix product then scores all rows against the query. "
            "Leave the query itself out.")
    if unanswered(name, nearest, hint, "def nearest(features, index, k): ..."):
        return False
    features, queries = _neighbour_cases()
    for index, k in queries:
        ran, got = call_learner(name, nearest, features.clone(), index, k)  # a copy: see above
        if not ran:
            return False
        if got is None:
            return skipped(name, "Your function returns nothing yet: `return` the k indices.")
        message = _neighbour_mistake(got, features, index, k)
        if message:
            return report(name, False, message)
    return report(name, True, "cosine similarity ignores the length of a vector and compares its "
                              "direction; best match first, the query left out.")


def _neighbour_mistake(got: Any, features: torch.Tensor, index: int, k: int) -> str | None:
    """What is wrong with one answer of `nearest`, or None when it is right."""
    try:
        values = torch.as_tensor(got).flatten()
    except (TypeError, ValueError, RuntimeError):
        return f"expected k indices (a list or tensor of ints), got {type(got).__name__}."
    if values.is_floating_point() and not torch.equal(values, values.round()):
        return ("those look like similarity scores; return the indices of the rows (`topk(...).indices`), "
                "not their values.")
    got = [int(i) for i in values.tolist()]
    unit = F.normalize(features, dim=1)
    similarity = unit @ unit[index]  # (N,) cosine similarity to the query
    similarity[index] = -math.inf  # the query is not its own neighbour
    expected = similarity.topk(k).indices.tolist()
    if got == expected:
        return None
    if len(got) != k:
        return f"expected {k} indices, got {len(got)}."
    if index in got:
        return (f"the query itself (row {index}) is in your list. Give it a similarity no row can have, "
                "-inf (cosine similarity lies between -1 and 1, so 0 is not low enough), before `topk`.")
    if sorted(got) == sorted(expected):
        return "the right neighbours, in the wrong order: best match first."
    if [i + (i >= index) for i in got] == expected:
        return (f"the rows after row {index} are off by one: removing the query's row shifts every row "
                "below it. Keep all rows and give the query the similarity -inf instead.")
    by_dot = features @ features[index]  # (N,) unnormalised dot products
    by_dot[index] = -math.inf
    if got == by_dot.topk(k).indices.tolist():
        return ("that ranks by the dot product, which long vectors win; give every row length 1 first "
                "(F.normalize(features, dim=1)).")
    distance = torch.cdist(features[index:index + 1], features)[0]  # (N,)
    distance[index] = math.inf
    if got == distance.topk(k, largest=False).indices.tolist():
        return ("that is the nearest by Euclidean distance, which long vectors dominate. Normalise the "
                "rows first (cosine similarity).")
    by_columns = F.normalize(features, dim=0)
    column_similarity = by_columns @ by_columns[index]
    column_similarity[index] = -math.inf
    if got == column_similarity.topk(k).indices.tolist():
        return "you normalised each column (dim=0); normalise each row (dim=1): a row is a vector."
    return f"not yet: for row {index}, the {k} most similar rows are not {got}."


def check_receptive_field(prediction: Any, measured: Any) -> bool:
    """Exercise 3: the predicted side (pixels) of one cell's receptive field against the measurement.

    The CNN of the exercise has three 3x3 blocks of stride 2 and no stride-1 block: 15 pixels.
    """
    name = "Exercise 3 (predict: the receptive field of three strided blocks)"
    if not_attempted(prediction):
        return skipped(name, "Hint: each 3x3 convolution widens the window by 2 steps of the layer below "
                             "it; after a stride-2 layer, one step is 2 pixels, then 4, ...")
    if isinstance(prediction, tuple) and len(prediction) == 2 and prediction[0] == prediction[1]:
        prediction = prediction[0]  # (height, width) of a square window
    if isinstance(prediction, bool) or not isinstance(prediction, (int, float, np.integer, np.floating)):
        return report(name, False, f"expected one number of pixels, such as 20, got {prediction!r}.")
    if not_attempted(measured):
        return report(name, False, "run the measurement line of the cell, so there is something to "
                                   "compare your prediction with.")
    measured = int(measured)
    if round(prediction) == measured:
        return report(name, True, f"you predicted {prediction}, measured {measured} px: 3, then 3 + 2x2 = 7, "
                                  "then 7 + 2x4 = 15. SmallCNN's fourth block (stride 1, steps of 8 px) "
                                  "adds 2x8 = 16 more: 31.")
    hints = {
        31: "that is SmallCNN with its fourth, stride-1 block; this CNN stops after the three "
            "strided blocks.",
        8: "8 px is the stride of the last map, the distance between neighbouring cells; each cell sees "
           "more than its own 8x8 patch.",
        9: "3 + 3 + 3 adds the kernel sizes; each layer widens the window by (3 - 1) steps of the layer "
           "below, and after each stride-2 layer a step is twice as many pixels.",
        7: "7 px is what two blocks see; the third adds (3 - 1) x 4 px.",
        27: "3 x 3 x 3 multiplies the kernel sizes; windows grow by adding, not multiplying.",
        64: "the whole picture: only a much deeper network would see all 64 px from one cell.",
    }
    hint = hints.get(round(prediction), "add up, block by block, (3 - 1) times the pixel step of the "
                                        "layer below: 1, then 2, then 4.")
    return report(name, False, f"you predicted {prediction}, measured {measured} px. {hint}")


SAMPLE_CAPTIONS = (
    "not a terrible day", "i do not hate this at all", "what a lovely day today", "you are such a clown",
    "honestly i never like this", "this food is not rotten lol", "our trip was delayed again",
    "well feeling cheerful", "no good news today for real", "me when the meeting is hectic",
)


def check_word_order_control(scramble: Callable[[str], str] | None,
                             train_and_score: Callable[[Callable[[str], str]], float] | None = None,
                             with_order: float | None = None) -> bool:
    """Exercise 4: `scramble(caption)` keeps a caption's words and loses their order.

    When the function is a good control, `train_and_score(scramble)` (the notebook's own experiment:
    train on scrambled captions, return the accuracy on negated test captions) runs it, and the
    result is compared with `with_order`, the same experiment on captions in order.
    """
    name = "Exercise 4 (a control for word order)"
    hint = ("Hint: a control changes one thing only. Keep every word of the caption (the "
            "same bag of words) and take away their order.")
    if unanswered(name, scramble, hint, "def scramble(caption): ..."):
        return False
    outputs = []
    for caption in SAMPLE_CAPTIONS:
        ran, got = call_learner(name, scramble, caption)
        if not ran:
            return False
        outputs.append(got)
    if all(output is None for output in outputs):
        return skipped(name, "Your function returns nothing yet: `return` the scrambled caption.")
    message = _scramble_mistake(outputs)
    if message:
        return report(name, False, message)
    if train_and_score is None:
        return report(name, True, "the same words, in another order: a control for word order.")
    ran, without_order = call_learner(name, train_and_score, scramble)
    if not ran:
        return False
    change = "stays" if abs(without_order - with_order) < 0.05 else "falls" if without_order < with_order else "rises"
    meaning = ("order is not what the model needed: a nonlinear function of the bag of words is enough"
               if change != "falls" else "this model does use the order of the words")
    return report(name, True, f"without word order the accuracy on negated captions {change}: "
                              f"{without_order:.3f}, against {with_order:.3f} in order. So {meaning}.")


def _scramble_mistake(outputs: list[Any]) -> str | None:
    """What is wrong with a word-order control, or None when it is a good one."""
    if not all(isinstance(output, str) for output in outputs):
        wrong = next(output for output in outputs if not isinstance(output, str))
        if isinstance(wrong, (list, tuple)):
            return "return a string: join the words with spaces (' '.join(words))."
        return f"expected a string, got {type(wrong).__name__}."
    pairs = list(zip(SAMPLE_CAPTIONS, outputs))
    for caption, output in pairs:
        if sorted(output.split()) != sorted(caption.split()):
            if sorted(output.replace(" ", "")) == sorted(caption.replace(" ", "")):
                return ("the letters are all there but the words changed; move whole words, keep each "
                        "word's letters as they are.")
            if len(output.split()) < len(caption.split()):
                return (f"{caption!r} became {output!r}: words were lost. The control must keep the "
                        "same bag of words and change only their order.")
            return (f"{caption!r} became {output!r}: the words changed. Keep exactly the same words "
                    "(the same bag); change only their order.")
    if all(output.split() == caption.split() for caption, output in pairs):
        return "the order never changes: the control must take the order away."
    if all(output.split() == caption.split()[::-1] for caption, output in pairs):
        return ("reversing keeps every pair of neighbours ('not' still sits beside its word), and a "
                "bidirectional GRU reads a caption both ways: reversal hides nothing from it. Shuffle "
                "or sort the words.")
    kept_neighbours = sum(_kept_pairs(caption.split(), output.split()) for caption, output in pairs)
    all_neighbours = sum(len(caption.split()) - 1 for caption in SAMPLE_CAPTIONS)
    if kept_neighbours > 0.6 * all_neighbours:
        return (f"{kept_neighbours} of {all_neighbours} pairs of neighbouring words stay together (a "
                "rotation?), so 'not' mostly still sits beside its word. Shuffle or sort the words.")
    return None


def _kept_pairs(before: list[str], after: list[str]) -> int:
    """How many neighbouring word pairs of `before` are still neighbours, in order, in `after`."""
    pairs = set(zip(after, after[1:]))
    return sum(pair in pairs for pair in zip(before, before[1:]))

