"""mmlab.explain: every measure on a model whose answer is known by construction."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
import torch.nn as nn

from mmlab import explain
from mmlab.data.memes import MemeDataset
from mmlab.encoders import EncoderOutput, SmallCNN
from mmlab.errors import MmlabError
from mmlab.experiment import prepare, train_model
from mmlab.explain import additive_projection, emap, pair_scores
from mmlab.features import FeatureDataset, Standardizer
from mmlab.fusion import build_fusion
from mmlab.models import MultimodalClassifier


class Scorer(nn.Module):
    """A hand-made model: logits (B, 2) = [0, score(image, text)] of the first features."""

    def __init__(self, rule):
        super().__init__()
        self.rule = rule
        self.dummy = nn.Parameter(torch.zeros(1))  # so that the model has a device

    def forward(self, batch):
        score = self.rule(batch["image"][:, 0], batch["text"][:, 0])  # (B,)
        return torch.stack([torch.zeros_like(score), score], dim=1)  # (B, 2)


def xor_data(n: int = 64) -> FeatureDataset:
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randint(0, 2, (2, n), generator=generator) * 2 - 1  # moods -1 or +1
    return FeatureDataset(image=a.float().unsqueeze(1), text=b.float().unsqueeze(1), label=(a != b).long())


def test_an_additive_model_equals_its_projection():
    data = xor_data()
    model = Scorer(lambda image, text: 2 * image - 3 * text)
    rows = list(range(32))
    matrix = pair_scores(model, data, rows)
    torch.testing.assert_close(additive_projection(matrix), matrix.diagonal())
    result = emap(model, data, n=32)
    assert result["auroc"] == result["auroc_additive"]


def test_a_model_of_the_interaction_loses_everything_when_projected():
    data = xor_data()
    model = Scorer(lambda image, text: -4 * image * text)  # mean when the moods disagree
    result = emap(model, data, n=64)
    assert result["auroc"] == 1.0 and abs(result["auroc_additive"] - 0.5) < 0.1
    assert result["accuracy"] == 1.0


# --- perceptual score -------------------------------------------------------------------------


def test_a_modality_the_model_ignores_has_a_perceptual_score_of_zero():
    generator = torch.Generator().manual_seed(1)
    image = torch.randn(200, 1, generator=generator)
    data = FeatureDataset(image=image, text=torch.randn(200, 1, generator=generator),
                          label=(image[:, 0] > 0).long())
    model = Scorer(lambda image, text: 5 * image)  # never reads the caption
    scores = explain.perceptual_scores(model, data, repeats=3, device="cpu")
    assert scores["text"] == 0.0
    assert scores["image"] > 0.4  # AUROC 1.0 falls to about 0.5 with the pictures shuffled
    unchanged = explain.shuffled(data, "text", seed=0)
    assert torch.equal(unchanged.image, data.image) and not torch.equal(unchanged.text, data.text)
    assert sorted(unchanged.text[:, 0].tolist()) == sorted(data.text[:, 0].tolist())  # a permutation


# --- Grad-CAM and the pointing game ------------------------------------------------------------


class CellColours(nn.Module):
    """A stand-in image encoder: each 8 x 8 px cell's mean red and green, (B, 64 cells, 2).

    With `sees` (cells,) bool, cells outside it are zero: an encoder that sees one region only.
    """

    def __init__(self, sees: torch.Tensor | None = None):
        super().__init__()
        self.register_buffer("sees", torch.ones(64, dtype=torch.bool) if sees is None else sees)
        self.unused = nn.Parameter(torch.zeros(1))  # `encode` finds the device from a parameter
        self.dim = 2

    def forward(self, pictures):
        x = pictures.float() / 255  # (B, 3, 64, 64)
        cells = nn.functional.avg_pool2d(x[:, :2], 8).flatten(2).transpose(1, 2)  # (B, 64, 2), row by row
        cells = cells * self.sees.view(1, -1, 1)
        return EncoderOutput(cells, cells.mean(dim=1), None)


class Redness(nn.Module):
    """A fusion slot that scores how red the picture is: logits (B, 2) = [0, 10 * red - 10 * green]."""

    outputs_logits = True

    def __init__(self):
        super().__init__()
        self.dims = {"image": 2}
        self.weight = nn.Parameter(torch.tensor([10.0, -10.0]))

    def forward(self, features):
        score = features["image"].pooled @ self.weight  # (B,)
        return torch.stack([torch.zeros_like(score), score], dim=1)


def identity_scaler(dim: int) -> Standardizer:
    return Standardizer(torch.zeros(dim), torch.ones(dim))


def pixel_model(sees: torch.Tensor | None = None) -> MultimodalClassifier:
    encoder = explain.ScaledImageEncoder(CellColours(sees), identity_scaler(2), identity_scaler(2))
    return MultimodalClassifier(Redness(), encoders={"image": encoder})


def squares(boxes: list[tuple[int, int, int, int, tuple[int, int, int]]]) -> torch.Tensor:
    """One 64 px grey picture with coloured squares (x0, y0, x1, y1, rgb): (1, 3, 64, 64) uint8."""
    picture = torch.full((1, 3, 64, 64), 128, dtype=torch.uint8)
    for x0, y0, x1, y1, rgb in boxes:
        picture[0, :, y0:y1, x0:x1] = torch.tensor(rgb, dtype=torch.uint8).view(3, 1, 1)
    return picture


def test_grad_cam_points_at_the_red_square_in_the_right_place():
    picture = squares([(40, 8, 56, 16, (255, 0, 0)), (8, 40, 24, 56, (0, 255, 0))])  # red top right
    cam = explain.grad_cam(pixel_model(), {"image": picture})  # (1, 8, 8)
    assert cam.shape == (1, 8, 8)
    row, column = divmod(cam.flatten().argmax().item(), 8)
    assert row == 1 and column in (5, 6)  # not transposed, not flipped
    assert cam[0, 5:7, 1:3].max() == 0  # the green square is evidence against: no heat
    assert explain.pointing_game(cam, [(40, 8, 56, 16)], 64).tolist() == [True]
    assert explain.pointing_game(cam, [(8, 40, 24, 56)], 64).tolist() == [False]


def test_grad_cam_of_a_model_that_sees_one_region_stays_in_it():
    top_right = torch.zeros(8, 8, dtype=torch.bool)
    top_right[:4, 4:] = True  # rows 0-3, columns 4-7
    picture = squares([(40, 8, 56, 16, (255, 0, 0)), (8, 40, 24, 56, (255, 0, 0))])  # red in both
    cam = explain.grad_cam(pixel_model(top_right.flatten()), {"image": picture})[0]  # (8, 8)
    assert cam[~top_right].max() == 0 and cam[top_right].max() > 0
    sees_all = explain.grad_cam(pixel_model(), {"image": picture})[0]
    assert sees_all[~top_right].max() > 0  # the other red square lights up when it can be seen


def test_pointing_game_chance_and_blank_maps():
    maps = torch.zeros(2, 8, 8)
    maps[0, 2, 3] = 1.0  # the cell of pixels x 24-31, y 16-23
    boxes = [(20, 14, 34, 30), (20, 14, 34, 30)]  # holds the cell centres x 20, 28 and y 20, 28
    assert explain.pointing_game(maps, boxes, 64).tolist() == [True, False]  # a blank map misses
    cells = explain.box_cells(boxes[:1], 64, 8).view(8, 8)  # centres at 4, 12, 20, ... px
    assert cells.sum() == 4 and cells[2:4, 2:4].all()
    assert explain.pointing_chance(boxes[:1], 64, 8).item() == pytest.approx(4 / 64)


# --- word attributions and hit@k ---------------------------------------------------------------


class ReadsDimension(nn.Module):
    """A fusion slot whose score is a function of one dimension of the caption's pooled vector."""

    outputs_logits = True

    def __init__(self, dim: int, squash=lambda x: x):
        super().__init__()
        self.dims = {"text": dim}
        self.squash = squash
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, features):
        score = self.squash(4 * features["text"].pooled[:, 0])  # (B,)
        return torch.stack([torch.zeros_like(score), score], dim=1)


def one_hot_words(positions: list[list[int]], length: int = 5, dim: int = 4) -> explain.Words:
    """Captions whose word t is the unit vector along dimension positions[i][t] (padding beyond)."""
    vectors = torch.zeros(len(positions), length, dim)
    mask = torch.zeros(len(positions), length, dtype=torch.bool)
    for i, dims in enumerate(positions):
        for t, d in enumerate(dims):
            vectors[i, t, d] = 1.0
            mask[i, t] = True
    return explain.Words(vectors, mask, mask.float())


def caption_model(squash=lambda x: x) -> MultimodalClassifier:
    text = explain.CaptionFeatures(identity_scaler(4), identity_scaler(4))
    return MultimodalClassifier(ReadsDimension(4, squash), encoders={"text": text}).eval()


def test_caption_features_with_open_gates_are_fasttexts_sentence_vector():
    generator = torch.Generator().manual_seed(0)
    vectors = torch.randn(2, 3, 4, generator=generator)
    mask = torch.tensor([[True, True, True], [True, True, False]])
    vectors[1, 2] = 0  # padding
    pooled_scale = Standardizer(torch.randn(4, generator=generator), torch.rand(4, generator=generator) + 0.5)
    token_scale = Standardizer(torch.randn(4, generator=generator), torch.rand(4, generator=generator) + 0.5)
    out = explain.CaptionFeatures(pooled_scale, token_scale)(explain.Words(vectors, mask, mask.float()))
    unit = vectors / vectors.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    sentence = torch.stack([unit[0].mean(dim=0), unit[1, :2].mean(dim=0)])  # fastText's mean of unit vectors
    torch.testing.assert_close(out.pooled, pooled_scale(sentence))
    torch.testing.assert_close(out.tokens[1, :2], token_scale(vectors[1, :2]))
    assert out.tokens[1, 2].abs().sum() == 0  # padding stays zero
    closed = explain.CaptionFeatures(pooled_scale, token_scale)(explain.Words(vectors, mask, torch.zeros(2, 3)))
    assert closed.pooled.abs().max() == 0 and closed.tokens.abs().max() == 0  # the average caption


def test_occlusion_and_integrated_gradients_find_the_only_word_the_model_reads():
    words = one_hot_words([[1, 2, 0, 3], [0, 1, 2], [3, 3, 1, 0, 2]])  # dimension 0 at positions 2, 0, 3
    batch = {"text": words}
    model = caption_model()
    occlusion = explain.word_occlusion(model, batch)  # (3, 5)
    integrated = explain.integrated_gradients(model, batch)
    for attributions in (occlusion, integrated):
        ranked = attributions.nan_to_num(-math.inf).argmax(dim=1).tolist()
        assert ranked == [2, 0, 3]
        assert torch.isnan(attributions[1, 3:]).all() and not torch.isnan(attributions[2]).any()
    torch.testing.assert_close(occlusion.nan_to_num(0), integrated.nan_to_num(0))  # linear: they agree
    assert occlusion[0, 2].item() == pytest.approx(4 / 4)  # 4 * (1 / n words), n = 4
    cues = [[2], [1], [3, 4]]
    assert explain.hit_at_k(occlusion, cues, 1).tolist() == [True, False, True]
    assert explain.hit_at_k(occlusion, cues, 5).tolist() == [True, True, True]


def test_integrated_gradients_are_complete_for_a_curved_model():
    words = one_hot_words([[0, 0, 1], [0, 2, 3, 1]])
    model = caption_model(squash=torch.tanh)
    integrated = explain.integrated_gradients(model, {"text": words}, steps=64)
    full = explain.mean_score(model, {"text": words})
    blank = explain.mean_score(model, explain.with_gates({"text": words}, torch.zeros(2, 5)))
    torch.testing.assert_close(integrated.nan_to_num(0).sum(dim=1), (full - blank).detach(), atol=1e-3, rtol=0)


def test_hit_chance_is_the_share_of_rankings_with_a_deciding_word_on_top():
    assert explain.hit_chance([4], [[1]], 1).item() == pytest.approx(0.25)
    assert explain.hit_chance([4], [[1]], 2).item() == pytest.approx(0.5)
    assert explain.hit_chance([5], [[0, 3]], 2).item() == pytest.approx(1 - 3 / 10)
    assert explain.hit_chance([2], [[0]], 3).item() == 1.0


# --- randomisation -----------------------------------------------------------------------------


def test_randomised_gives_fresh_seeded_weights_and_leaves_the_original_alone():
    torch.manual_seed(0)
    net = MultimodalClassifier(build_fusion("concat", {"image": 3, "text": 3}, hidden=4), head="linear")
    original = {name: value.clone() for name, value in net.state_dict().items()}
    before = torch.get_rng_state()
    copy = explain.randomised(net, seed=1)
    assert torch.equal(torch.get_rng_state(), before)  # the caller's random numbers are untouched
    assert all(torch.equal(value, original[name]) for name, value in net.state_dict().items())
    assert not torch.equal(copy.head.weight, net.head.weight)
    assert not torch.equal(copy.fusion.project["image"].weight, net.fusion.project["image"].weight)
    assert torch.equal(copy.head.weight, explain.randomised(net, seed=1).head.weight)  # seeded
    assert not copy.training


def test_randomising_the_encoder_too_only_when_asked_and_the_statistics_stay():
    scaled = explain.ScaledImageEncoder(SmallCNN(), Standardizer(torch.full((64,), 0.5), torch.ones(64)),
                                        identity_scaler(64))
    model = MultimodalClassifier(build_fusion("concat", {"image": 64, "text": 3}, hidden=4), head="linear",
                                 encoders={"image": scaled})
    first_conv = lambda m: m.encoders["image"].encoder.features[0].weight
    assert torch.equal(first_conv(explain.randomised(model, seed=0)), first_conv(model))
    everything = explain.randomised(model, seed=0, encoders=True)
    assert not torch.equal(first_conv(everything), first_conv(model))
    assert (everything.encoders["image"].scale_pooled.mean == 0.5).all()  # statistics are data


# --- robustness --------------------------------------------------------------------------------


def test_noise_helpers_are_seeded_and_do_what_they_say():
    pictures = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    assert torch.equal(explain.noisy_pictures(pictures, 0.0), pictures)
    noisy = explain.noisy_pictures(pictures, 0.2, seed=3)
    assert noisy.dtype == torch.uint8 and torch.equal(noisy, explain.noisy_pictures(pictures, 0.2, seed=3))
    assert 30 < (noisy.float() - pictures.float()).abs().mean() < 60  # about 0.8 x 0.2 x 255, clipped
    texts = ["what a lovely day", "you are such a clown"]
    assert explain.typos(texts, 0.0) == texts
    misspelt = explain.typos(texts, 1.0, seed=1)
    for before, after in zip(texts, misspelt):
        pairs = list(zip(before.split(), after.split()))
        assert len(pairs) == len(before.split())
        assert all(sum(a != b for a, b in zip(old, new)) == 1 for old, new in pairs)  # one letter each
    assert explain.drop_words(texts, 0.0) == texts
    assert [len(t.split()) for t in explain.drop_words(texts, 1.0)] == [1, 1]  # one word is kept


def test_relative_and_effective_robustness():
    levels = [0, 0.1, 0.2, 0.4]
    assert explain.relative_robustness(levels, [0.7, 0.7, 0.7, 0.7]) == pytest.approx(0.7)
    assert explain.relative_robustness(levels, [1.0, 0.75, 0.5, 0.0]) == pytest.approx(0.5)
    late = [0.6, 0.55, 0.5, 0.4]
    assert explain.effective_robustness(levels, [0.7, 0.65, 0.6, 0.5], late) == pytest.approx(0.0)
    assert explain.effective_robustness(levels, [0.7, 0.7, 0.7, 0.7], late) > 0  # loses less
    assert explain.effective_robustness(levels, [0.8, 0.6, 0.5, 0.3], late) < 0  # loses more


# --- the features of real inputs ---------------------------------------------------------------


@pytest.fixture
def tiny(tiny_memes):
    """The prepared tiny clean memes and their FeatureMaker."""
    prepared = prepare(tiny_memes, progress=False)
    return prepared, explain.FeatureMaker.of(prepared)


def test_feature_maker_reproduces_the_prepared_features(tiny):
    prepared, maker = tiny
    split = MemeDataset(prepared.root, prepared.splits["test"])
    expected = prepared.features["test"]
    pictures = maker.pictures(split.pictures())
    torch.testing.assert_close(pictures.tokens, expected.image.tokens)
    torch.testing.assert_close(pictures.pooled, expected.image.pooled)
    pooled_only = maker.pictures(split.pictures(), cells=False)
    torch.testing.assert_close(pooled_only.pooled, expected.image.pooled)
    assert pooled_only.tokens.shape == (len(split), 1, expected.image.pooled.shape[1])
    captions = maker.captions(list(split.frame["text"]))
    torch.testing.assert_close(captions.pooled, expected.text.pooled, atol=1e-4, rtol=0)
    torch.testing.assert_close(captions.tokens, expected.text.tokens)
    torch.testing.assert_close(captions.mask, expected.text.mask)


def test_missing_modalities_three_ways(tiny):
    prepared, maker = tiny
    test = prepared.features["test"]
    mean = explain.missing_modality(test, "image", "mean", maker)
    assert mean.image.pooled.abs().max() == 0 and torch.equal(mean.text.pooled, test.text.pooled)
    assert "text" not in explain.missing_modality(test, "text", "dropped", maker).entries
    zeroed = explain.missing_modality(test, "image", "zeroed", maker)
    black = maker.pictures(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))
    torch.testing.assert_close(zeroed.image.pooled, black.pooled.expand(len(test), -1))
    blank = explain.missing_modality(test, "text", "zeroed", maker).text
    expected = -maker.text.scale_pooled.mean / maker.text.scale_pooled.std  # raw zeros, standardised
    torch.testing.assert_close(blank.pooled, expected.expand(len(test), -1))
    assert blank.tokens[~blank.mask].abs().max() == 0
    with pytest.raises(MmlabError, match="zeroed, mean, dropped"):
        explain.missing_modality(test, "image", "blurred", maker)


def test_join_pads_the_tokens_of_two_splits(tiny):
    prepared, _ = tiny
    dev, test = prepared.features["dev"], prepared.features["test"]
    both = explain.join(dev, test)
    assert len(both) == len(dev) + len(test) and both.id == dev.id + test.id
    length = max(dev.text.tokens.shape[1], test.text.tokens.shape[1])
    assert both.text.tokens.shape[1] == both.text.mask.shape[1] == length
    torch.testing.assert_close(both.text.mask.sum(dim=1), torch.cat([dev.text.mask.sum(dim=1), test.text.mask.sum(dim=1)]))
    torch.testing.assert_close(both[len(dev)]["image"].pooled, test[0]["image"].pooled)


def test_explainable_models_take_pictures_and_words_and_agree_with_the_head(tiny):
    prepared, maker = tiny
    net, _ = train_model(prepared, "classic", epochs=1, progress=False, device="cpu")
    test = prepared.features["test"]
    split = MemeDataset(prepared.root, prepared.splits["test"])
    expected = net.eval()(test[list(range(len(test)))])
    model = explain.explainable(net, maker)
    got = model({"image": split.pictures(), "text": maker.words(split.frame["text"])})
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)
    assert explain.grad_cam(explain.explainable(net, maker, ["image"]),
                            {"image": split.pictures(), "text": test.text}).shape == (len(test), 8, 8)


# --- the planted shortcut ----------------------------------------------------------------------


def test_plant_cue_marks_the_asked_share_of_each_label():
    labels = torch.tensor([1] * 40 + [0] * 60)
    marked = explain.plant_cue(labels, 0.9, seed=0)
    assert marked[:40].sum() == 36 and marked[40:].sum() == 6
    assert torch.equal(marked, explain.plant_cue(labels, 0.9, seed=0))
    even = explain.plant_cue(labels, 0.5, seed=1)
    assert even[:40].sum() == 20 and even[40:].sum() == 30
    groups = explain.cue_groups(labels, marked)
    assert groups.value_counts().to_dict() == {"label 0, no cue": 54, "label 1, cue": 36,
                                               "label 1, no cue": 4, "label 0, cue": 6}


def test_watermark_and_cover_change_only_the_box():
    pictures = torch.randint(0, 256, (3, 3, 64, 64), dtype=torch.uint8)
    marked = torch.tensor([True, False, True])
    stamped = explain.watermark(pictures, marked)
    x0, y0, x1, y1 = explain.WATERMARK_BOX
    inside = torch.zeros(64, 64, dtype=torch.bool)
    inside[y0:y1, x0:x1] = True
    assert torch.equal(stamped[1], pictures[1])
    assert torch.equal(stamped[:, :, ~inside], pictures[:, :, ~inside])
    assert torch.equal(stamped[0, :, inside], stamped[2, :, inside])  # the same logo on both
    assert (stamped[0, 2, inside] > 200).float().mean() > 0.9  # white and blue: much blue light
    covered = explain.cover(stamped)
    assert (covered[:, :, inside] == 255).all() and torch.equal(covered[:, :, ~inside], pictures[:, :, ~inside])


def test_group_scores_of_a_model_that_follows_the_cue():
    labels = torch.tensor([1, 1, 1, 0, 0, 0, 1, 0])
    cue = torch.tensor([1.0, 1, 0, 1, 0, 0, 1, 0])
    data = FeatureDataset(image=cue.unsqueeze(1), text=torch.zeros(8, 1), label=labels)
    model = Scorer(lambda image, text: 4 * image - 2)  # says "mean" exactly when the cue is there
    groups = explain.cue_groups(labels, cue.bool())
    accuracy = explain.group_scores(model, data, groups, device="cpu")
    assert accuracy.to_dict() == {"label 0, cue": 0.0, "label 0, no cue": 1.0, "label 1, cue": 1.0,
                                  "label 1, no cue": 0.0}
    assert isinstance(accuracy, pd.Series)
