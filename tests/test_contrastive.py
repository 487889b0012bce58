"""CLIP's loss, its model and the retrieval metrics (mmlab.contrastive)."""

from __future__ import annotations

import math
import random

import pytest
import torch
import torch.nn.functional as F

from mmlab.contrastive import (CLIP, INIT_SCALE, MAX_SCALE, LockedTower, batch_loss,
                               caption_positives, chance_recall_at_k, clip_loss, embed, recall_at_k,
                               retrieval_table, symmetric_cross_entropy)
from mmlab.data.scenes import all_captions, render_batch, scene_rows
from mmlab.data.text import Vocab
from mmlab.encoders import BagOfEmbeddings, SmallCNN
from mmlab.features import FeatureDataset
from mmlab.train import fit, make_loader


def unit_vectors(n: int, d: int, seed: int) -> torch.Tensor:
    return F.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=-1)


def direct_clip_loss(image: torch.Tensor, text: torch.Tensor, scale: float) -> float:
    """The loss written out with loops: -log of each pair's softmax share, both ways."""
    B = len(image)
    total = 0.0
    for i in range(B):
        row = [scale * float(image[i] @ text[j]) for j in range(B)]
        column = [scale * float(image[j] @ text[i]) for j in range(B)]
        total += -row[i] + math.log(sum(math.exp(x) for x in row))
        total += -column[i] + math.log(sum(math.exp(x) for x in column))
    return total / (2 * B)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clip_loss_agrees_with_a_direct_implementation(seed):
    image, text = unit_vectors(12, 16, seed), unit_vectors(12, 16, seed + 100)
    for scale in (1.0, INIT_SCALE, 50.0):
        expected = direct_clip_loss(image, text, scale)
        assert clip_loss(image, text, scale).item() == pytest.approx(expected, abs=1e-5)


def test_identity_targets_change_nothing_and_the_loss_is_not_symmetric_in_disguise():
    image, text = unit_vectors(10, 8, 3), unit_vectors(10, 8, 4)
    plain = clip_loss(image, text, INIT_SCALE)
    identity = torch.eye(10, dtype=torch.bool)
    assert torch.allclose(clip_loss(image, text, INIT_SCALE, identity), plain, atol=1e-6)
    logits = INIT_SCALE * image @ text.T
    one_sided = F.cross_entropy(logits, torch.arange(10))
    assert abs(one_sided.item() - plain.item()) > 1e-3  # the text -> image half matters


def test_loss_of_unaligned_embeddings_is_about_ln_batch_size():
    for B in (4, 32, 256):
        image, text = unit_vectors(B, 512, B), unit_vectors(B, 512, B + 1)  # nearly orthogonal
        assert clip_loss(image, text, 1.0).item() == pytest.approx(math.log(B), abs=0.05)
    same = unit_vectors(1, 8, 0).expand(16, 8)  # every picture and caption the same vector
    assert clip_loss(same, same, INIT_SCALE).item() == pytest.approx(math.log(16), abs=1e-5)


def test_perfect_alignment_drives_the_loss_to_zero_and_a_batch_of_one_is_always_zero():
    image = torch.eye(8)  # orthogonal unit vectors, caption i = picture i
    assert clip_loss(image, image, MAX_SCALE).item() < 1e-3
    one = unit_vectors(1, 8, 5).requires_grad_()
    loss = clip_loss(one, unit_vectors(1, 8, 6), INIT_SCALE)
    loss.backward()
    assert loss.item() == 0 and one.grad.abs().max() == 0  # nothing to learn from


def test_duplicate_captions_as_positives():
    image = torch.eye(4)
    image[1] = image[0]  # pictures 0 and 1 show the same thing ...
    text = image.clone()  # ... and their captions say it in the same words
    positives = torch.tensor([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]).bool()
    # as negatives, a perfect model still pays ln 2 on rows and columns 0 and 1: the two equal
    # captions cannot be told apart, and only one of them counts as right
    assert clip_loss(image, text, MAX_SCALE).item() == pytest.approx(math.log(2) / 2, abs=1e-4)
    assert clip_loss(image, text, MAX_SCALE, positives).item() < 1e-4  # as positives: no cost
    logits = torch.randn(4, 4, generator=torch.Generator().manual_seed(0))
    p_rows, p_cols = logits.softmax(dim=1), logits.softmax(dim=0)
    rows_right, cols_right = (p_rows * positives).sum(1), (p_cols * positives).sum(0)
    by_hand = -(rows_right.log().mean() + cols_right.log().mean()) / 2  # -log P(a true pair)
    loss = symmetric_cross_entropy(logits, positives)
    assert loss.item() == pytest.approx(by_hand.item(), abs=1e-6)


def test_caption_positives_and_batch_loss():
    truths = [{"a red circle", "a picture of a red circle"}, {"a sun"}]
    captions = ["a picture of a red circle", "a sun", "a red circle"]
    assert caption_positives(truths, captions).tolist() == [[True, False, True],
                                                            [False, True, False]]
    logits = torch.randn(2, 2)
    batch = {"truths": truths, "caption": captions[:2]}  # each picture's own caption only
    diagonal = torch.arange(2)
    expected = (F.cross_entropy(logits, diagonal) + F.cross_entropy(logits.T, diagonal)) / 2
    assert batch_loss(logits, batch).item() == pytest.approx(expected.item(), abs=1e-6)


def test_recall_on_hand_made_similarities():
    similarity = torch.tensor([[0.9, 0.1, 0.0],
                               [0.8, 0.7, 0.1],
                               [0.3, 0.2, 0.1]])
    diagonal = torch.eye(3, dtype=torch.bool)
    assert recall_at_k(similarity, diagonal, 1) == pytest.approx(1 / 3)  # row 0 ranks its own first
    assert recall_at_k(similarity, diagonal, 2) == pytest.approx(2 / 3)  # row 2's own is third
    assert recall_at_k(similarity, diagonal, 3) == 1.0
    duplicates = diagonal.clone()
    duplicates[1, 0] = True  # caption 0 is also right for picture 1
    assert recall_at_k(similarity, duplicates, 1) == pytest.approx(2 / 3)


def test_chance_recall_matches_random_rankings():
    positives = torch.zeros(4, 10, dtype=torch.bool)
    positives[0, 0] = positives[1, :2] = positives[2, :5] = positives[3, 3] = True
    assert chance_recall_at_k(torch.eye(10, dtype=torch.bool), 1) == pytest.approx(0.1)
    rng = random.Random(0)
    trials = 20_000
    hits = sum(any(positives[q % 4, j] for j in rng.sample(range(10), 3)) for q in range(trials))
    assert chance_recall_at_k(positives, 3) == pytest.approx(hits / trials, abs=0.01)


def test_retrieval_table_reads_both_directions():
    image = torch.eye(3)
    text = torch.eye(3)[[0, 2, 1]]  # captions 1 and 2 swapped
    table = retrieval_table(image, text, torch.eye(3, dtype=torch.bool), ks=(1,))
    assert table.loc["image -> text", "R@1"] == pytest.approx(1 / 3)
    assert table.loc["text -> image", "R@1"] == pytest.approx(1 / 3)
    assert table.loc["image -> text", "chance R@1"] == pytest.approx(1 / 3)


def test_clip_model_scale_and_a_short_training_run():
    torch.manual_seed(0)
    rows = scene_rows(64, seed=0)
    captions = [row["text"] for row in rows]
    vocab = Vocab.build(captions)
    data = FeatureDataset(image=render_batch([row["scene"] for row in rows]),
                          text=vocab.encode_batch(captions), caption=captions,
                          truths=[all_captions(row["scene"]) for row in rows])
    model = CLIP(SmallCNN(), BagOfEmbeddings(len(vocab)), embed_dim=16)
    assert model.scale().item() == pytest.approx(INIT_SCALE)
    model.log_scale.data.fill_(10.0)
    assert model.scale().item() == MAX_SCALE  # clamped
    model.log_scale.data.fill_(math.log(INIT_SCALE))
    logits = model(data[list(range(8))])
    assert logits.shape == (8, 8)
    history = fit(model, make_loader(data, 16, True), epochs=4, lr=3e-3, loss_fn=batch_loss,
                  device="cpu", progress=False)
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0] - 0.3
    image_emb, text_emb = embed(model, data.image, data.text)
    assert image_emb.shape == text_emb.shape == (64, 16)
    assert torch.allclose(image_emb.norm(dim=1), torch.ones(64), atol=1e-5)
    fixed = CLIP(SmallCNN(), BagOfEmbeddings(len(vocab)), learn_scale=False, init_scale=1.0)
    assert not fixed.log_scale.requires_grad and fixed.scale().item() == pytest.approx(1.0)


def test_locked_tower_serves_precomputed_features():
    features = torch.randn(5, 8)  # (N, D), computed once
    out = LockedTower(8)(features)
    assert out.pooled is features and out.tokens.shape == (5, 1, 8) and out.mask is None
    vocab = Vocab.build(["a red circle", "a sun"])
    model = CLIP(LockedTower(8), BagOfEmbeddings(len(vocab)), embed_dim=4)
    image_emb, text_emb = embed(model, features, vocab.encode_batch(["a sun", "a red circle", "a sun"]))
    assert image_emb.shape == (5, 4) and text_emb.shape == (3, 4)
    assert torch.allclose(text_emb[0], text_emb[2])  # the same caption, the same vector
