"""Notebook 01's checkers: right answers pass, each typical mistake gets its own hint."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mmlab.exercises import encoders


def test_standardise_feedback(capsys):
    assert encoders.check_standardise(None) is False
    assert "not attempted yet" in capsys.readouterr().out
    assert encoders.check_standardise(lambda train, x: (x - train.mean(0)) / train.std(0)) is True
    assert encoders.check_standardise(lambda train, x: (x - train.mean(0)) / train.std(0, unbiased=False)) is True
    assert encoders.check_standardise(lambda train, x: (x - x.mean(0)) / x.std(0)) is False
    assert "statistics of `features` itself" in capsys.readouterr().out
    assert encoders.check_standardise(lambda train, x: x - train.mean(0)) is False
    assert "divide by the training standard deviation" in capsys.readouterr().out
    assert encoders.check_standardise(lambda train, x: (x - train.mean()) / train.std()) is False
    assert "per feature" in capsys.readouterr().out
    assert encoders.check_standardise(lambda train, x: x.mean(1)) is False
    assert "expected shape (40, 5)" in capsys.readouterr().out
    assert encoders.check_standardise(lambda train, x: 1 / 0) is False
    assert "ZeroDivisionError" in capsys.readouterr().out
    assert encoders.check_standardise(lambda train, x: None) is False
    assert "returns nothing" in capsys.readouterr().out


def reference_nearest(features, index, k):
    unit = F.normalize(features, dim=1)
    similarity = unit @ unit[index]
    similarity[index] = float("-inf")
    return similarity.topk(k).indices


def test_nearest_neighbours_feedback(capsys):
    assert encoders.check_nearest_neighbours(...) is False
    assert "not attempted yet" in capsys.readouterr().out
    assert encoders.check_nearest_neighbours(reference_nearest) is True
    assert encoders.check_nearest_neighbours(lambda f, i, k: reference_nearest(f, i, k).tolist()) is True

    def with_itself(features, index, k):
        unit = F.normalize(features, dim=1)
        return (unit @ unit[index]).topk(k).indices

    assert encoders.check_nearest_neighbours(with_itself) is False
    assert "the query itself" in capsys.readouterr().out

    def euclidean(features, index, k):
        distance = torch.cdist(features[index:index + 1], features)[0]
        distance[index] = float("inf")
        return distance.topk(k, largest=False).indices

    assert encoders.check_nearest_neighbours(euclidean) is False
    assert "Euclidean" in capsys.readouterr().out
    assert encoders.check_nearest_neighbours(lambda f, i, k: reference_nearest(f, i, k).flip(0)) is False
    assert "wrong order" in capsys.readouterr().out
    assert encoders.check_nearest_neighbours(lambda f, i, k: reference_nearest(f, i, k)[:2]) is False
    assert "expected 5 indices" in capsys.readouterr().out
