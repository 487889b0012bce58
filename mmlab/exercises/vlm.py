"""Checkers for notebook 07, "A vision-language model from scratch"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from mmlab.data.vqa import VQAData
from mmlab.exercises import call_learner, not_attempted, report, skipped, unanswered
from mmlab.train import IGNORE
from mmlab.data.text import Vocab
from mmlab.vlm import TinyVLM, answer_labels, answer_questions


def _label_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """Two packed rows: ids (2, 10) and is_answer (2, 10); row 1 has two turns, row 2 padding."""
    ids = torch.tensor([[2, 7, 8, 3, 11, 4, 2, 9, 3, 12],  # <bos> q q <answer> a <eos> <bos> q ...
                        [2, 7, 9, 8, 3, 13, 14, 4, 0, 0]])  # <bos> q q q <answer> a a <eos> <pad> <pad>
    is_answer = torch.tensor([[0, 0, 0, 0, 1, 1, 0, 0, 0, 1],
                              [0, 0, 0, 0, 0, 1, 1, 1, 0, 0]], dtype=torch.bool)
    return ids, is_answer


def _diagnose_labels(labels: torch.Tensor, ids: torch.Tensor, is_answer: torch.Tensor) -> str:
    """What is off in the learner's labels, compared with the usual mistakes."""
    expected = answer_labels(ids, is_answer)
    unshifted = torch.where(is_answer, ids, IGNORE)
    if torch.equal(labels, unshifted):
        return ("the labels sit on the answer words themselves. The logit at position t predicts "
                "the word at t + 1: shift the labels one step to the left.")
    backwards = torch.full_like(ids, IGNORE)
    backwards[:, 1:] = torch.where(is_answer[:, :-1], ids[:, :-1], IGNORE)
    if torch.equal(labels, backwards):
        return "the shift goes the wrong way: labels[t] should be ids[t + 1], the word that comes next."
    mask_not_shifted = torch.full_like(ids, IGNORE)
    mask_not_shifted[:, :-1] = torch.where(is_answer[:, :-1], ids[:, 1:], IGNORE)
    if torch.equal(labels, mask_not_shifted):
        return ("the words are shifted but the mask is not: keep ids[t + 1] where the *next* word "
                "is an answer word (is_answer[:, 1:]), not where the current one is.")
    everything = torch.full_like(ids, IGNORE)
    everything[:, :-1] = ids[:, 1:]
    if torch.equal(labels, everything) or torch.equal(labels[:, :-1], ids[:, 1:]):
        return ("every next word is a label, so the model is also trained to predict the question "
                "(and the padding). Keep only the positions whose next word is an answer word.")
    counted = expected != IGNORE
    if torch.equal(labels[counted], expected[counted]) and (labels[~counted] == 0).all():
        return ("the right words are labelled, but the other positions hold 0, which is the id of "
                "<pad>: cross_entropy would train the model to say <pad> there. Use IGNORE (-100).")
    if torch.equal(labels[counted], expected[counted]):
        return "the answer labels are right, but some other positions are not IGNORE (-100)."
    eos = torch.tensor(4)
    without_eos = expected.masked_fill(expected == eos, IGNORE)
    if torch.equal(labels, without_eos):
        return ("the answer words are labelled but their <eos> is not: the model would never learn "
                "to stop. is_answer already marks the <eos>; keep it.")
    return ("some labels differ from ids[t + 1] at the answer positions and IGNORE elsewhere; "
            "print your labels next to the ids and compare row by row.")


def check_answer_labels(fn: Callable[[torch.Tensor, torch.Tensor], Any] | None) -> bool:
    """Exercise 1: fn(ids, is_answer) -> labels (B, T), answer-only next-token labels."""
    name = "Exercise 1 (answer-only labels)"
    hint = ("Hint: the logit at position t predicts the word at t + 1; keep that word only where "
            "it is an answer word (is_answer), and put IGNORE (-100) everywhere else.")
    if unanswered(name, fn, hint, "def my_answer_labels(ids, is_answer): ..."):
        return False
    ids, is_answer = _label_inputs()
    ran, labels = call_learner(name, fn, ids.clone(), is_answer.clone())
    if not ran:
        return False
    if labels is None:
        return skipped(name, f"Your function returns nothing yet. {hint}")
    if not torch.is_tensor(labels):
        return report(name, False, f"return a tensor of labels, got {type(labels).__name__}.")
    if labels.shape != ids.shape:
        return report(name, False, f"labels have shape {tuple(labels.shape)}; they need the shape of "
                                   f"ids, {tuple(ids.shape)}: one label per position.")
    if torch.equal(labels.long(), answer_labels(ids, is_answer)):
        return report(name, True, "each answer word (and its <eos>) is the label of the position "
                                  "before it, and the question and padding count nowhere.")
    return report(name, False, _diagnose_labels(labels.long(), ids, is_answer))


def check_prior_prediction(prediction: Any, measured: float, chance: float) -> bool:
    """Exercise 2: the learner's prediction of the prior's accuracy on colour questions."""
    name = "Exercise 2 (predict the language prior)"
    if not_attempted(prediction):
        return skipped(name, "Write your prediction (a number between 0 and 1) *before* running "
                             "section 4, then run this cell again.")
    try:
        value = float(prediction)
    except (TypeError, ValueError):
        return report(name, False, f"expected a number between 0 and 1, got {prediction!r}.")
    if value > 1:
        return report(name, False, f"{value} looks like a percentage; write it as a share, "
                                   f"{value / 100:.2f}.")
    if abs(value - measured) <= 0.07:
        return report(name, True, f"the prior measured {measured:.2f}: above chance ({chance:.2f}). "
                                  "Each shape never comes in its held-out colour in training, so the "
                                  "prior picks among three colours, not four.")
    if abs(value - chance) <= 0.03:
        return report(name, False, f"that is chance (1 in {round(1 / chance)} colours). The prior "
                                   f"measured {measured:.2f}: look at which colours each shape comes "
                                   "in during training (HELD_OUT).")
    if value > measured + 0.07:
        return report(name, False, f"too high: the prior measured {measured:.2f}. Without the picture, "
                                   "nothing tells the colours a shape does come in apart.")
    return report(name, False, f"too low: the prior measured {measured:.2f}, better than chance "
                               f"({chance:.2f}). Which colours can each shape have in training?")


def _where_accuracy(model: TinyVLM, vocab: Vocab, data: VQAData, pictures: torch.Tensor) -> float:
    rows = data.questions[data.questions["kind"] == "where"]
    scenes = torch.tensor(rows["scene"].values)
    answers = answer_questions(model, vocab, pictures[scenes], list(rows["question"]))
    return sum(a == b for a, b in zip(answers, rows["answer"])) / len(rows)


def check_control(make_control: Callable[[torch.Tensor], Any] | None, model: TinyVLM, vocab: Vocab,
                  data: VQAData) -> bool:
    """Exercise 3: make_control(pictures) -> pictures that keep the questions but break the link
    between each question and its picture, without showing the model anything unusual."""
    name = "Exercise 3 (a control for 'where')"
    hint = ("Hint: give each question the picture of *another* scene: every picture stays a real "
            "scene, but no longer the one the question is about.")
    if unanswered(name, make_control, hint, "def make_control(pictures): ..."):
        return False
    pictures = data.pictures
    ran, control = call_learner(name, make_control, pictures.clone())
    if not ran:
        return False
    if control is None:
        return skipped(name, f"Your function returns nothing yet. {hint}")
    if not (torch.is_tensor(control) and control.shape == pictures.shape
            and control.dtype == pictures.dtype):
        return report(name, False, f"return pictures like the input: a {pictures.dtype} tensor of shape "
                                   f"{tuple(pictures.shape)}.")
    same = (control == pictures).flatten(1).all(dim=1)  # (N,) picture unchanged
    if same.float().mean() > 0.5:
        return report(name, False, "most questions still get their own picture: nothing is controlled.")
    real = {bytes(p.numpy()) for p in pictures}
    if not all(bytes(p.numpy()) in real for p in control):
        flipped = torch.equal(control, pictures.flip(-1))
        if flipped:
            return report(name, False, "a mirrored picture still answers the question, just the other "
                                       "way round (left becomes right): the link is not broken.")
        return report(name, False, "some of these pictures are not scenes at all (blank, noise or "
                                   "changed): the model would see something it never saw in training, "
                                   "so a drop in accuracy could come from that. Use real scenes, "
                                   "each for another question.")
    own = _where_accuracy(model, vocab, data, pictures)
    other = _where_accuracy(model, vocab, data, control)
    verdict = ("so the answers came from the right picture" if own > other + 0.1 else
               "no clear drop: this model's answers do not depend much on the picture")
    return report(name, True, f"a fair control: every picture is a real scene, but another one. "
                              f"'where' accuracy {own:.2f} with the right pictures, {other:.2f} with "
                              f"other scenes' pictures: {verdict}.")
