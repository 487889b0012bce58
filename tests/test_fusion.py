"""mmlab.fusion: the interface every strategy shares, the registry, and what each operator computes."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch

import mmlab.fusion
from mmlab.encoders import EncoderOutput
from mmlab.errors import MmlabError
from mmlab.fusion import FUSIONS, Fusion, build_fusion, pooled, tokens

DIMS = {"image": 6, "text": 5}


def encoded(batch: int = 4, requires_grad: bool = True) -> dict[str, EncoderOutput]:
    """What the encoders give: image cells (no padding) and caption words (with padding)."""
    torch.manual_seed(0)
    lengths = torch.tensor([3, 1, 4, 2])[:batch]
    mask = torch.arange(4) < lengths.unsqueeze(1)  # (B, 4)
    cells = torch.randn(batch, 9, 6, requires_grad=requires_grad)
    words = torch.randn(batch, 4, 5, requires_grad=requires_grad)
    return {"image": EncoderOutput(cells, cells.mean(dim=1), None),
            "text": EncoderOutput(words, (words * mask.unsqueeze(-1)).sum(1) / lengths.unsqueeze(1), mask)}


def test_registry_has_every_strategy_documented():
    assert len(FUSIONS) >= 11
    for name, spec in FUSIONS.items():
        assert spec.description and spec.source and spec.make.__doc__, name


def test_the_source_that_notebook_03_prints_has_short_lines():
    lines = Path(inspect.getsourcefile(mmlab.fusion)).read_text().splitlines()
    assert max(len(line) for line in lines) <= 100


@pytest.mark.parametrize("name", list(FUSIONS))
def test_every_fusion_takes_encoder_outputs_and_gradients_reach_both_modalities(name):
    fusion = build_fusion(name, DIMS, hidden=8)
    inputs = encoded()
    out = fusion(inputs)
    assert out.shape == (4, fusion.output_dim) and torch.isfinite(out).all()
    out.pow(2).sum().backward()
    for modality, x in inputs.items():
        assert x.tokens.grad is not None and x.tokens.grad.abs().sum() > 0, (name, modality)


@pytest.mark.parametrize("name", list(FUSIONS))
def test_bare_pooled_tensors_are_accepted_as_shorthand(name):
    fusion = build_fusion(name, DIMS, hidden=8).eval()
    out = fusion({"image": torch.randn(3, 6), "text": torch.randn(3, 5)})
    assert out.shape == (3, fusion.output_dim)


@pytest.mark.parametrize("name", list(FUSIONS))
def test_padding_is_ignored(name):
    fusion = build_fusion(name, DIMS, hidden=8).eval()
    inputs = encoded(requires_grad=False)
    text = inputs["text"]
    noisy = text.tokens.masked_fill(~text.mask.unsqueeze(-1), 1e3)  # garbage where there are no words
    changed = dict(inputs, text=EncoderOutput(noisy, text.pooled, text.mask))
    torch.testing.assert_close(fusion(inputs), fusion(changed))


@pytest.mark.parametrize("name", ["film", "early", "cross_attention"])
def test_token_fusions_read_the_tokens_not_only_the_pooled_vector(name):
    fusion = build_fusion(name, DIMS, hidden=8).eval()
    inputs = encoded(requires_grad=False)
    image = inputs["image"]
    shuffled = EncoderOutput(image.tokens.flip(1) * torch.linspace(0, 2, 9).view(1, 9, 1), image.pooled, None)
    assert not torch.allclose(fusion(inputs), fusion(dict(inputs, image=shuffled)))


def test_pooled_and_tokens_read_encoder_outputs_and_bare_tensors():
    x = torch.randn(2, 3, 4)
    out = EncoderOutput(x, x[:, 0], None)
    assert torch.equal(pooled(out), x[:, 0]) and torch.equal(pooled(x), x.mean(1))
    assert tokens(torch.randn(2, 4))[0].shape == (2, 1, 4) and tokens(out)[0] is x


def test_only_fusions_that_handle_missing_accept_one_modality():
    image_only = {"image": torch.randn(4, 6)}
    for name, spec in FUSIONS.items():
        fusion = build_fusion(name, DIMS, hidden=8).eval()
        if spec.make.handles_missing:
            assert fusion(image_only).shape == (4, fusion.output_dim), name
        else:
            with pytest.raises(KeyError):
                fusion(image_only)


def interaction(fusion: Fusion) -> float:
    """f(a, b) - f(a, b') - f(a', b) + f(a', b'): zero for every output of an additive fusion."""
    torch.manual_seed(1)
    a, a2, b, b2 = torch.randn(1, 6), torch.randn(1, 6), torch.randn(1, 5), torch.randn(1, 5)
    with torch.no_grad():
        out = [fusion({"image": i, "text": t}) for i in (a, a2) for t in (b, b2)]
    return (out[0] - out[1] - out[2] + out[3]).abs().max().item()


def test_additive_fusions_have_no_interaction_and_multiplicative_ones_do():
    for name in ("late", "sum"):
        assert interaction(build_fusion(name, DIMS).eval()) < 1e-5, name
    for name in ("tensor", "low_rank", "bilinear", "film", "gmu", "cross_attention", "early"):
        assert interaction(build_fusion(name, DIMS).eval()) > 1e-4, name


def test_cross_attention_keeps_its_attention_maps_and_puts_the_image_block_first():
    fusion = build_fusion("cross_attention", DIMS, hidden=8).eval()
    inputs = encoded(requires_grad=False)
    out = fusion(inputs)
    assert fusion.weights["image"].shape == (4, 9) and fusion.weights["text"].shape == (4, 4)
    torch.testing.assert_close(fusion.weights["image"].sum(-1), torch.ones(4))
    assert (fusion.weights["text"][~inputs["text"].mask] == 0).all()
    image_summary = fusion.query["image"](inputs["image"].pooled)
    torch.testing.assert_close(out[:, :8], image_summary)


def test_unknown_fusion_says_how_to_fix():
    with pytest.raises(MmlabError, match="fix: choose one of late"):
        build_fusion("magic", DIMS)


def test_early_fusion_pools_a_grid_of_cells_into_regions():
    fusion = build_fusion("early", {"image": 2, "text": 5}, hidden=8)
    cells = torch.arange(64.0).repeat_interleave(2).view(1, 64, 2)  # each cell holds its own index
    regions = fusion.regions(cells)  # (1, 16, 2)
    assert regions.shape == (1, 16, 2)
    assert regions[0, 0, 0] == (0 + 1 + 8 + 9) / 4  # the top-left 2 x 2 cells
    assert fusion.regions(torch.randn(1, 9, 2)).shape == (1, 9, 2)  # 3 x 3 is small enough already
