"""Notebook 07's checkers accept the solutions and name the usual mistakes."""

from __future__ import annotations

import pytest
import torch

from mmlab.data.vqa import make_vqa
from mmlab.exercises import vlm as exercises
from mmlab.train import IGNORE
from mmlab.vlm import TinyVLM, build_vocab


def shifted(ids, is_answer):  # the reference solution
    labels = torch.full_like(ids, IGNORE)
    labels[:, :-1] = torch.where(is_answer[:, 1:], ids[:, 1:], IGNORE)
    return labels


def with_a_loop(ids, is_answer):
    labels = torch.full_like(ids, -100)
    for b in range(ids.shape[0]):
        for t in range(ids.shape[1] - 1):
            if is_answer[b, t + 1]:
                labels[b, t] = ids[b, t + 1]
    return labels


def with_masked_fill(ids, is_answer):
    next_words = torch.cat([ids[:, 1:], torch.zeros_like(ids[:, :1])], dim=1)
    next_is_answer = torch.cat([is_answer[:, 1:], torch.zeros_like(is_answer[:, :1])], dim=1)
    return next_words.masked_fill(~next_is_answer, -100)


def rolled(ids, is_answer):  # right too: the first token (<bos>) is never an answer word
    return torch.roll(torch.where(is_answer, ids, IGNORE), -1, dims=1)


def mask_not_shifted(ids, is_answer):
    labels = torch.full_like(ids, IGNORE)
    labels[:, :-1] = torch.where(is_answer[:, :-1], ids[:, 1:], IGNORE)
    return labels


@pytest.mark.parametrize("solution", [shifted, with_a_loop, with_masked_fill, rolled])
def test_answer_labels_accepts_correct_variants(solution, capsys):
    assert exercises.check_answer_labels(solution) is True
    assert "✅" in capsys.readouterr().out


def test_answer_labels_untouched(capsys):
    assert exercises.check_answer_labels(None) is False
    assert "not attempted yet" in capsys.readouterr().out

    def untouched(ids, is_answer):
        ...  # your code here

    assert exercises.check_answer_labels(untouched) is False
    assert "not attempted yet" in capsys.readouterr().out


def unshifted(ids, is_answer):
    return torch.where(is_answer, ids, IGNORE)


def backwards(ids, is_answer):
    labels = torch.full_like(ids, IGNORE)
    labels[:, 1:] = torch.where(is_answer[:, :-1], ids[:, :-1], IGNORE)
    return labels


def every_next_word(ids, is_answer):
    labels = torch.full_like(ids, IGNORE)
    labels[:, :-1] = ids[:, 1:]
    return labels


def zeros_elsewhere(ids, is_answer):
    return shifted(ids, is_answer).clamp(min=0)


def without_eos(ids, is_answer):
    labels = shifted(ids, is_answer)
    return labels.masked_fill(labels == 4, IGNORE)


@pytest.mark.parametrize("wrong, message", [
    (unshifted, "shift the labels"),
    (backwards, "wrong way"),
    (mask_not_shifted, "the mask is not"),
    (every_next_word, "predict the question"),
    (zeros_elsewhere, "<pad>"),
    (without_eos, "never learn to stop"),
    (lambda ids, is_answer: shifted(ids, is_answer)[:, :-1], "shape"),
    (lambda ids, is_answer: shifted(ids, is_answer).tolist(), "tensor"),
    (lambda ids, is_answer: 1 / 0, "ZeroDivisionError"),
])
def test_answer_labels_names_the_mistake(wrong, message, capsys):
    assert exercises.check_answer_labels(wrong) is False
    assert message in capsys.readouterr().out


@pytest.mark.parametrize("prediction, ok, message", [
    (None, False, "not attempted yet"),
    (0.34, True, "three"),
    (0.30, True, "three"),
    (0.25, False, "chance"),
    (34, False, "percentage"),
    (0.9, False, "too high"),
    (0.1, False, "too low"),
    ("about a third", False, "expected a number"),
])
def test_prior_prediction(prediction, ok, message, capsys):
    assert exercises.check_prior_prediction(prediction, measured=0.34, chance=0.25) is ok
    assert message in capsys.readouterr().out


@pytest.fixture(scope="module")
def setup():
    data = make_vqa(40, seed=5)
    vocab = build_vocab(list(data.questions["question"]) + list(data.questions["answer"]))
    torch.manual_seed(0)
    return TinyVLM(len(vocab), dim=32, num_heads=2).eval(), vocab, data


@pytest.mark.parametrize("control", [
    lambda pictures: pictures.roll(1, dims=0),
    lambda pictures: pictures.flip(0),
    lambda pictures: pictures[torch.randperm(len(pictures), generator=torch.Generator().manual_seed(1))],
])
def test_control_accepts_other_scenes_pictures(control, setup, capsys):
    assert exercises.check_control(control, *setup) is True
    assert "'where' accuracy" in capsys.readouterr().out


@pytest.mark.parametrize("control, message", [
    (None, "not attempted yet"),
    (lambda pictures: pictures, "still get their own picture"),
    (lambda pictures: torch.zeros_like(pictures), "not scenes at all"),
    (lambda pictures: torch.randint_like(pictures, 256), "not scenes at all"),
    (lambda pictures: pictures.flip(-1), "mirrored"),
    (lambda pictures: pictures[:10], "shape"),
    (lambda pictures: pictures.float() / 255, "uint8"),
])
def test_control_names_the_mistake(control, message, setup, capsys):
    assert exercises.check_control(control, *setup) is False
    assert message in capsys.readouterr().out
