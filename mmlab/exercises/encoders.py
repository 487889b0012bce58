"""Checkers for notebook 01, "Unimodal encoders"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from mmlab.exercises import call_learner, not_attempted, report, skipped


def check_standardise(standardise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None) -> bool:
    """Exercise 1: `standardise(train, features)` scales `features` with the training statistics."""
    name = "Exercise 1 (standardise a modality)"
    if not_attempted(standardise):
        return skipped(name, "Hint: dev and test must be scaled exactly like train, with one mean and one "
                             "standard deviation per feature (per column).")
    if not callable(standardise):
        return report(name, False, "expected a function, e.g. `def standardise(train, features): ...`.")
    generator = torch.Generator().manual_seed(0)
    train = torch.randn(200, 5, generator=generator) * torch.tensor([1.0, 5, 20, 0.1, 3]) + 7  # (200, 5)
    features = torch.randn(40, 5, generator=generator) * 4 - 2  # (40, 5): other statistics on purpose
    ran, got = call_learner(name, standardise, train, features)
    if not ran:
        return False
    if got is None:
        return skipped(name, "Your function returns nothing yet: `return` the standardised tensor.")
    if not isinstance(got, torch.Tensor):
        return report(name, False, f"expected a tensor, got {type(got).__name__}.")
    if got.shape != features.shape:
        return report(name, False, f"expected shape {tuple(features.shape)} (one row per sample, one column "
                                   f"per feature), got {tuple(got.shape)}. Did you reduce over dim=1?")
    mean, std = train.mean(dim=0), train.std(dim=0)
    if torch.allclose(got, (features - mean) / std, atol=1e-4, rtol=1e-2):
        return report(name, True, "every feature now has mean 0 and standard deviation 1 on the training "
                                  "split, whatever its original scale.")
    own = (features - features.mean(dim=0)) / features.std(dim=0)
    if torch.allclose(got, own, atol=1e-4, rtol=1e-2):
        return report(name, False, "you used the statistics of `features` itself. Use the training split's "
                                   "mean and std, so dev and test are scaled exactly like train.")
    if torch.allclose(got, features - mean, atol=1e-4):
        return report(name, False, "centred, but not scaled: divide by the training standard deviation too.")
    if torch.allclose(got, (features - train.mean()) / train.std(), atol=1e-4, rtol=1e-2):
        return report(name, False, "one mean and std for the whole tensor; compute them per feature "
                                   "(per column) with `dim=0`.")
    return report(name, False, "not yet: centre each feature (column) on the training split's mean, then "
                               "divide it by the training split's standard deviation.")


def check_nearest_neighbours(nearest: Callable[[torch.Tensor, int, int], Any] | None) -> bool:
    """Exercise 2: `nearest(features, index, k)` -> the k rows most cosine-similar to row `index`."""
    name = "Exercise 2 (nearest neighbours)"
    if not_attempted(nearest):
        return skipped(name, "Hint: cosine similarity compares directions, not lengths: give every row "
                             "length 1 first, and one matrix product then scores all rows against the query. "
                             "Leave the query itself out.")
    if not callable(nearest):
        return report(name, False, "expected a function, e.g. `def nearest(features, index, k): ...`.")
    generator = torch.Generator().manual_seed(1)
    directions = torch.nn.functional.normalize(torch.randn(30, 8, generator=generator), dim=1)
    lengths = torch.rand(30, 1, generator=generator) * 9 + 1  # norms from 1 to 10: cosine != distance
    features = directions * lengths  # (30, 8)
    index, k = 4, 5
    ran, got = call_learner(name, nearest, features, index, k)
    if not ran:
        return False
    if got is None:
        return skipped(name, "Your function returns nothing yet: `return` the k indices.")
    try:
        got = [int(i) for i in torch.as_tensor(got).flatten().tolist()]
    except (TypeError, ValueError):
        return report(name, False, f"expected k indices (a list or tensor of ints), got {type(got).__name__}.")
    similarity = directions @ directions[index]  # (30,) cosine similarity to the query
    similarity[index] = -2  # the query is not its own neighbour
    expected = similarity.topk(k).indices.tolist()
    if got == expected:
        return report(name, True, "cosine similarity ignores the length of a vector and compares its "
                                  "direction; best match first, the query left out.")
    if len(got) != k:
        return report(name, False, f"expected {k} indices, got {len(got)}.")
    if index in got:
        return report(name, False, "the query itself is in your list: it is always its own best match. "
                                   "Leave it out (e.g. set its similarity to -inf before `topk`).")
    if sorted(got) == sorted(expected):
        return report(name, False, "the right neighbours, in the wrong order: best match first.")
    distance = torch.cdist(features[index:index + 1], features)[0]  # (30,)
    distance[index] = float("inf")
    if got == distance.topk(k, largest=False).indices.tolist():
        return report(name, False, "that is the nearest by Euclidean distance, which long vectors dominate. "
                                   "Normalise the rows first (cosine similarity).")
    return report(name, False, f"not yet: for row {index}, the {k} most similar rows are not {got}.")
