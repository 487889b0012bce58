"""The tiny VLM: token reduction, answer-only labels, packed turns, cached greedy decoding."""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

from mmlab.data.scenes import Scene, Thing
from mmlab.data.vqa import ANSWERS, QUESTION_KINDS, ask, make_vqa
from mmlab.errors import MmlabError
from mmlab.train import IGNORE, fit, make_loader
from mmlab.vlm import (EOS, TinyVLM, answer_labels, answer_questions, build_vocab, caption_scores,
                       conversation_dataset, count_parameters, encode_conversations, encode_prompts,
                       named_things, pixel_shuffle, turn_mask, turn_positions)


@pytest.fixture(scope="module")
def data():
    return make_vqa(12, seed=3)


@pytest.fixture(scope="module")
def vocab(data):
    return build_vocab(list(data.questions["question"]) + list(data.questions["answer"]))


def small_model(vocab, **kwargs) -> TinyVLM:
    torch.manual_seed(0)
    return TinyVLM(len(vocab), dim=32, num_heads=2, **kwargs).eval()


def test_pixel_shuffle_stacks_each_square_of_cells_into_one_token():
    cells = torch.arange(64.0).view(1, 64, 1)  # an 8 x 8 grid, cell value = its index
    tokens = pixel_shuffle(cells, 2)  # (1, 16, 4)
    assert tokens.shape == (1, 16, 4)
    assert tokens[0, 0].tolist() == [0, 1, 8, 9]  # the top-left 2 x 2 square
    assert tokens[0, 5].tolist() == [18, 19, 26, 27]  # row 1, column 1 of the 4 x 4 tokens
    assert torch.equal(pixel_shuffle(cells, 1), cells)
    assert pixel_shuffle(cells, 8).shape == (1, 1, 64)
    with pytest.raises(MmlabError, match="factor"):
        pixel_shuffle(cells, 3)


def test_projector_token_counts_and_size_under_a_million(vocab):
    for factor, tokens in [(1, 64), (2, 16), (4, 4), (8, 1)]:
        model = TinyVLM(len(vocab), factor=factor)
        assert model.image_tokens(torch.zeros(2, 3, 64, 64)).shape == (2, tokens, 128)
        assert count_parameters(model) < 1_000_000


def test_answer_labels_shift_by_one_and_ignore_question_and_padding():
    ids = torch.tensor([[2, 7, 8, 3, 9, 4, 0, 0]])  # <bos> q q <answer> a <eos> <pad> <pad>
    is_answer = torch.tensor([[0, 0, 0, 0, 1, 1, 0, 0]], dtype=torch.bool)
    labels = answer_labels(ids, is_answer)
    assert labels.tolist() == [[IGNORE, IGNORE, IGNORE, 9, 4, IGNORE, IGNORE, IGNORE]]


def test_encoded_conversations_label_only_the_answers(data, vocab):
    turns = [[("what colour is the square?", "red"), ("how many things are there?", "two")]]
    packed = encode_conversations(vocab, turns)
    said = [vocab.tokens[i] for i in packed.label[0].tolist() if i != IGNORE]
    assert said == ["red", EOS, "two", EOS]
    assert packed.turn[0].tolist() == [1] * 9 + [2] * 9


def test_turn_mask_and_positions_make_each_turn_look_like_a_lone_question():
    turn = torch.tensor([[0, 0, 1, 1, 2, 2, -1]])  # two image tokens, two turns, padding
    mask = turn_mask(turn)[0]
    assert mask[4].tolist() == [True, True, False, False, True, False, False]  # not turn 1
    assert mask[3].tolist() == [True, True, True, True, False, False, False]  # causal
    assert turn_positions(turn, 2)[0].tolist() == [0, 1, 2, 3, 2, 3, 0]


def test_a_packed_row_gives_the_same_logits_as_each_question_alone(data, vocab):
    model = small_model(vocab)
    dataset = conversation_dataset(data, vocab)
    batch = dataset[[0]]
    packed = model(batch)  # (1, V, T)
    rows = data.questions[data.questions["scene"] == 0]
    for number, (question, answer) in enumerate(zip(rows["question"], rows["answer"]), start=1):
        alone = encode_conversations(vocab, [[(question, answer)]])
        logits = model({"image": batch["image"], "ids": alone.ids, "turn": alone.turn})
        in_turn = batch["turn"][0] == number
        torch.testing.assert_close(packed[0][:, in_turn], logits[0], atol=1e-5, rtol=1e-5)


def test_loss_ignores_question_and_padding_tokens(data, vocab):
    model = small_model(vocab)
    batch = conversation_dataset(data, vocab)[[0, 1, 2]]
    logits = model(batch).detach().requires_grad_(True)  # (B, V, T)
    loss = F.cross_entropy(logits, batch["label"])
    loss.backward()
    counted = batch["label"] != IGNORE  # (B, T)
    assert (logits.grad.abs().sum(dim=1)[~counted] == 0).all()  # no gradient there at all
    assert (logits.grad.abs().sum(dim=1)[counted] > 0).all()
    scrambled = torch.where(counted[:, None], logits, torch.randn_like(logits) * 10)
    assert F.cross_entropy(scrambled, batch["label"]).item() == pytest.approx(loss.item())
    # other words in the padding change nothing either: a token only sees the tokens before it
    padding = batch["turn"] < 0
    other_words = torch.randint_like(batch["ids"], len(vocab))
    noisy = {**batch, "ids": torch.where(padding, other_words, batch["ids"])}
    assert F.cross_entropy(model(noisy), batch["label"]).item() == pytest.approx(loss.item(), abs=1e-6)


def test_greedy_decoding_with_the_cache_equals_without_it_and_teacher_forcing(data, vocab):
    model = small_model(vocab)
    rows = data.questions[data.questions["kind"] == "colour"]
    prompts = encode_prompts(vocab, list(rows["question"]))  # (N, P)
    images = data.pictures[torch.tensor(rows["scene"].values)]
    eos = vocab.index[EOS]
    cached = model.generate(images, prompts, eos, max_new_tokens=6)
    uncached = model.generate(images, prompts, eos, max_new_tokens=6, use_cache=False)
    assert torch.equal(cached, uncached)
    assert len(set(cached.flatten().tolist())) > 1  # not one word over and over
    # teacher forcing on the model's own output: the argmax at each step is what it generated
    ids = torch.cat([prompts, cached], dim=1)  # (N, P + steps)
    turn = torch.ones_like(ids)
    predicted = model({"image": images, "ids": ids, "turn": turn}).argmax(dim=1)  # (N, P + steps)
    steps = cached.shape[1]
    before_eos = torch.cumsum(cached == eos, dim=1) - (cached == eos).long() == 0  # up to <eos>
    forced = predicted[:, prompts.shape[1] - 1: prompts.shape[1] - 1 + steps]
    assert torch.equal(forced[before_eos], cached[before_eos])


def test_fit_trains_the_model_and_answers_come_back_as_text(data, vocab):
    model = small_model(vocab)
    loader = make_loader(conversation_dataset(data, vocab), batch_size=4, shuffle=True)
    history = fit(model, loader, epochs=4, lr=3e-3, schedule="one_cycle", progress=False, device="cpu")
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    rows = data.questions.head(7)
    answers = answer_questions(model, vocab, data.pictures[torch.tensor(rows["scene"].values)],
                               list(rows["question"]))
    assert len(answers) == 7 and all(isinstance(answer, str) for answer in answers)


def test_question_only_model_has_no_image_tokens(data, vocab):
    model = small_model(vocab, use_image=False)
    batch = conversation_dataset(data, vocab)[[0, 1]]
    assert model(batch).shape == (2, len(vocab), batch["ids"].shape[1])
    shuffled = {**batch, "image": batch["image"].flip(0)}
    assert torch.equal(model(batch), model(shuffled))  # it cannot see the picture


def scene_of(*things: tuple[str, str, int]) -> Scene:
    """A scene with (colour, shape, column) things, each a 16-pixel box in its column."""
    return Scene([Thing("shape", shape, color, (col * 21 + 2, 10, col * 21 + 18, 26))
                  for color, shape, col in things], 64)


def test_questions_have_the_right_answers():
    rng = random.Random(0)
    scene = scene_of(("red", "circle", 0), ("blue", "circle", 1), ("green", "cross", 2))
    assert ask(scene, "colour", rng) == [("what colour is the cross?", "green")]  # the one cross
    assert ask(scene, "where", rng) == [("where is the cross?", "right")]
    assert ask(scene, "count", rng) == [("how many things are there?", "three")]
    assert ask(scene_of(("red", "circle", 0), ("blue", "circle", 1)), "colour", rng) == []  # which?
    for _ in range(20):
        (present, yes), (absent, no) = ask(scene, "exists", rng)
        assert (yes, no) == ("yes", "no")
        assert present.split()[-2] in ("red", "blue", "green") and absent == "is there a yellow thing?"


def test_make_vqa_is_deterministic_and_respects_held_out_combinations():
    held_out = {("red", "circle"), ("blue", "square")}
    first, again = make_vqa(30, seed=1, exclude=held_out), make_vqa(30, seed=1, exclude=held_out)
    assert first.questions.equals(again.questions) and torch.equal(first.pictures, again.pictures)
    drawn = {(t.color, t.name) for scene in first.scenes for t in scene.things}
    assert not drawn & held_out
    assert set(first.questions["kind"]) == set(QUESTION_KINDS)
    for kind, answers in ANSWERS.items():
        assert set(first.questions.loc[first.questions["kind"] == kind, "answer"]) <= set(answers)
    test = make_vqa(10, seed=2, only_with=held_out)
    assert all(any((t.color, t.name) in held_out for t in scene.things) for scene in test.scenes)


def test_caption_scores_count_made_up_and_missing_things():
    scenes = [scene_of(("red", "circle", 0), ("blue", "cross", 1)), scene_of(("green", "square", 2))]
    named = named_things("a red circle on the left and a blue cross")
    assert named == {("red", "circle"), ("blue", "cross")}
    perfect = caption_scores(["a red circle and a blue cross", "there is a green square"], scenes)
    assert perfect == {"precision": 1.0, "recall": 1.0}
    partial = caption_scores(["a red circle and a yellow cross", "a green square"], scenes)
    assert partial["precision"] == pytest.approx(2 / 3) and partial["recall"] == pytest.approx(2 / 3)
