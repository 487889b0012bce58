"""Notebook 01's checkers: right answers pass however they are written, each typical mistake
is rejected with a message that names it."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.preprocessing import StandardScaler

from mmlab.exercises import encoders


def verdict(capsys) -> str:
    return capsys.readouterr().out


# Exercise 1 -----------------------------------------------------------------------------------

def standardise_in_place(train, features):
    features -= train.mean(dim=0)  # edits the caller's tensor: the checker must not mind
    features /= train.std(dim=0)
    return features


def standardise_with_sklearn(train, features):
    return StandardScaler().fit(train.numpy()).transform(features.numpy())  # a NumPy array


@pytest.mark.parametrize("standardise", [
    lambda train, x: (x - train.mean(0)) / train.std(0),
    lambda train, x: (x - train.mean(0, keepdim=True)) / train.std(0, unbiased=False),
    lambda train, x: torch.as_tensor(StandardScaler().fit(train).transform(x), dtype=torch.float32),
    standardise_with_sklearn,
    standardise_in_place,
])
def test_standardise_accepts_every_correct_variant(standardise, capsys):
    assert encoders.check_standardise(standardise) is True
    assert "mean 0 and standard deviation 1" in verdict(capsys)


def test_standardise_says_a_numpy_answer_works_but_models_want_tensors(capsys):
    assert encoders.check_standardise(standardise_with_sklearn) is True
    assert "torch.as_tensor" in verdict(capsys)


def own_statistics_in_place(train, features):
    features -= features.mean(dim=0)  # wrong, and in place: the diagnosis must still be right
    return features / features.std(dim=0)


@pytest.mark.parametrize("standardise, mistake", [
    (None, "not attempted yet"),
    (lambda train, x: None, "returns nothing"),
    (lambda train, x: (x - x.mean(0)) / x.std(0), "statistics of `features` itself"),
    (own_statistics_in_place, "statistics of `features` itself"),
    (lambda train, x: x - train.mean(0), "divide by the training standard deviation"),
    (lambda train, x: x / train.std(0), "not centred"),
    (lambda train, x: (x - train.mean(0)) / train.var(0), "divided by the variance"),
    (lambda train, x: (x - train.mean()) / train.std(), "per feature"),
    (lambda train, x: (x - train.min(0).values) / (train.max(0).values - train.min(0).values), "min-max"),
    (lambda train, x: x.mean(1), "expected shape (40, 5)"),
    (lambda train, x: (train - train.mean(0)) / train.std(0), "the shape of `train`"),
    (lambda train, x: ((x - train.mean(0)) / train.std(0)).tolist(), "expected a tensor"),
    (lambda train, x: 1 / 0, "ZeroDivisionError"),
    ("standardise", "expected a function"),
])
def test_standardise_names_each_mistake(standardise, mistake, capsys):
    assert encoders.check_standardise(standardise) is False
    assert mistake in verdict(capsys)


# Exercise 2 -----------------------------------------------------------------------------------

def reference_nearest(features, index, k):
    unit = F.normalize(features, dim=1)
    similarity = unit @ unit[index]
    similarity[index] = float("-inf")
    return similarity.topk(k).indices


def nearest_by_sorting(features, index, k):
    norms = features.norm(dim=1, keepdim=True)
    similarity = (features / norms) @ (features[index] / norms[index])
    order = similarity.argsort(descending=True).tolist()
    return [i for i in order if i != index][:k]


def nearest_with_a_low_mask(features, index, k):
    similarity = F.cosine_similarity(features, features[index:index + 1], dim=1)
    similarity[index] = -2.0  # below any cosine similarity: as good as -inf
    return np.argsort(-similarity.numpy())[:k]


@pytest.mark.parametrize("nearest", [
    reference_nearest,
    lambda f, i, k: reference_nearest(f, i, k).tolist(),
    nearest_by_sorting,
    nearest_with_a_low_mask,
])
def test_nearest_neighbours_accepts_every_correct_variant(nearest, capsys):
    assert encoders.check_nearest_neighbours(nearest) is True
    assert "best match first" in verdict(capsys)


def with_itself(features, index, k):
    unit = F.normalize(features, dim=1)
    return (unit @ unit[index]).topk(k).indices


def masked_with_zero(features, index, k):
    unit = F.normalize(features, dim=1)
    similarity = unit @ unit[index]
    similarity[index] = 0.0  # not low enough: dissimilar rows have negative cosine similarity
    return similarity.topk(k).indices


def euclidean(features, index, k):
    distance = torch.cdist(features[index:index + 1], features)[0]
    distance[index] = float("inf")
    return distance.topk(k, largest=False).indices


def dot_product(features, index, k):
    similarity = features @ features[index]
    similarity[index] = float("-inf")
    return similarity.topk(k).indices


def normalised_columns(features, index, k):
    unit = F.normalize(features, dim=0)
    similarity = unit @ unit[index]
    similarity[index] = float("-inf")
    return similarity.topk(k).indices


def query_row_removed(features, index, k):
    others = torch.cat([features[:index], features[index + 1:]])
    unit = F.normalize(others, dim=1)
    return (unit @ F.normalize(features[index], dim=0)).topk(k).indices


def similarity_values(features, index, k):
    unit = F.normalize(features, dim=1)
    similarity = unit @ unit[index]
    similarity[index] = float("-inf")
    return similarity.topk(k).values


@pytest.mark.parametrize("nearest, mistake", [
    (None, "not attempted yet"),
    (lambda f, i, k: None, "returns nothing"),
    (with_itself, "the query itself"),
    (masked_with_zero, "so 0 is not low enough"),
    (euclidean, "Euclidean"),
    (dot_product, "dot product"),
    (normalised_columns, "each column (dim=0)"),
    (query_row_removed, "off by one"),
    (similarity_values, "similarity scores"),
    (lambda f, i, k: reference_nearest(f, i, k).flip(0), "wrong order"),
    (lambda f, i, k: reference_nearest(f, i, k)[:2], "expected 5 indices"),
    (lambda f, i, k: "row 3", "expected k indices"),
])
def test_nearest_neighbours_names_each_mistake(nearest, mistake, capsys):
    assert encoders.check_nearest_neighbours(nearest) is False
    assert mistake in verdict(capsys)


# Exercise 3 -----------------------------------------------------------------------------------

@pytest.mark.parametrize("prediction", [15, 15.0, np.int64(15), (15, 15), 3 + 2 * 2 + 2 * 4])
def test_receptive_field_accepts_the_right_prediction(prediction, capsys):
    assert encoders.check_receptive_field(prediction, 15) is True
    assert "fourth block" in verdict(capsys)


@pytest.mark.parametrize("prediction, mistake", [
    (None, "not attempted yet"),
    (31, "fourth, stride-1 block"),
    (8, "distance between neighbouring cells"),
    (9, "adds the kernel sizes"),
    (7, "what two blocks see"),
    (27, "multiplies the kernel sizes"),
    (64, "the whole picture"),
    (20, "add up, block by block"),
    ("15 px", "expected one number"),
])
def test_receptive_field_names_each_mistake(prediction, mistake, capsys):
    assert encoders.check_receptive_field(prediction, 15) is False
    assert mistake in verdict(capsys)


def test_receptive_field_asks_for_the_measurement_first(capsys):
    assert encoders.check_receptive_field(15, None) is False
    assert "run the measurement" in verdict(capsys)


# Exercise 4 -----------------------------------------------------------------------------------

def shuffled(caption):
    words = caption.split()
    random.Random(caption).shuffle(words)
    return " ".join(words)


def sorted_words(caption):
    return " ".join(sorted(caption.split()))


def shuffled_with_numpy(caption):
    words = np.array(caption.split())
    return " ".join(np.random.default_rng(len(caption)).permutation(words))


@pytest.mark.parametrize("scramble", [shuffled, sorted_words, shuffled_with_numpy])
def test_word_order_control_accepts_every_way_of_losing_the_order(scramble, capsys):
    assert encoders.check_word_order_control(scramble) is True
    assert "the same words, in another order" in verdict(capsys)


@pytest.mark.parametrize("scramble, mistake", [
    (None, "not attempted yet"),
    (lambda caption: None, "returns nothing"),
    (lambda caption: caption, "the order never changes"),
    (lambda caption: " ".join(caption.split()[::-1]), "reversing keeps every pair of neighbours"),
    (lambda caption: " ".join(caption.split()[1:] + caption.split()[:1]), "a rotation?"),
    (lambda caption: caption.split()[::-1], "return a string"),
    (lambda caption: " ".join(sorted(caption.split()))[:-3], "the words changed"),
    (lambda caption: " ".join(shuffled(caption).split()[1:]), "words were lost"),
    (lambda caption: "".join(sorted(caption)), "move whole words"),
    (lambda caption: 1 / 0, "ZeroDivisionError"),
    (42, "expected a function"),
])
def test_word_order_control_names_each_mistake(scramble, mistake, capsys):
    assert encoders.check_word_order_control(scramble) is False
    assert mistake in verdict(capsys)


@pytest.mark.parametrize("scrambled_accuracy, reading", [
    (0.99, "stays: 0.990, against 1.000 in order. So order is not what the model needed"),
    (0.60, "falls: 0.600, against 1.000 in order. So this model does use the order"),
])
def test_word_order_control_runs_the_experiment_and_reads_its_result(scrambled_accuracy, reading, capsys):
    ran = []

    def train_and_score(scramble):
        ran.append(scramble("not a terrible day"))
        return scrambled_accuracy

    assert encoders.check_word_order_control(shuffled, train_and_score, 1.0) is True
    assert ran == [shuffled("not a terrible day")]
    assert reading in verdict(capsys)


def test_word_order_control_skips_the_experiment_for_a_bad_control():
    def train_and_score(scramble):
        raise AssertionError("a bad control must not be run")

    assert encoders.check_word_order_control(lambda c: c, train_and_score, 1.0) is False
