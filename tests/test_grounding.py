"""mmlab.grounding: the caption's query over picture cells, named cells, supervised attention, peaks."""

from __future__ import annotations

import pandas as pd
import torch

from mmlab.data.text import Vocab
from mmlab.encoders import EncoderOutput
from mmlab.features import FeatureDataset
from mmlab.grounding import attention_loss, attention_maps, grounding_model, named_cells, peak_hits
from mmlab.train import fit, make_loader
from mmlab.utils import seed_everything


def toy_cells(n: int = 256):
    """Pictures of 4 cells of 2 features; the caption names a colour (0 or 1); a cell of that
    colour is the named object, and the label says whether one is there."""
    generator = torch.Generator().manual_seed(0)
    colours = torch.randint(0, 3, (n, 4), generator=generator)  # 2 = background
    named_colour = torch.randint(0, 2, (n,), generator=generator)
    cells = torch.nn.functional.one_hot(colours, 3)[..., :2].float()  # (n, 4, 2)
    named = colours == named_colour.unsqueeze(1)  # (n, 4)
    vocab = Vocab.build(["red", "blue"])
    words = vocab.encode_batch([["red", "blue"][c] for c in named_colour])
    return vocab, FeatureDataset(image=EncoderOutput(cells, cells.mean(1), None), text=words,
                                 named=named, label=named.any(dim=1).long())


def test_the_model_attends_over_cells_and_the_supervised_loss_moves_attention_to_the_named_cells():
    vocab, data = toy_cells()
    seed_everything(0)
    model = grounding_model(len(vocab), cell_dim=2, dim=8)
    batch = data[list(range(8))]
    assert model(batch).shape == (8, 2) and model.fusion.weights.shape == (8, 1, 4)

    def share_on_named(net) -> float:
        _, weights = attention_maps(net, data[list(range(len(data)))])  # (n, heads, cells)
        hits = peak_hits(weights, data.named)
        return hits[data.named.any(dim=1)].float().mean().item()

    fit(model, make_loader(data, 32, True), epochs=15, lr=3e-2, loss_fn=attention_loss(model, 1.0),
        progress=False)
    assert share_on_named(model) > 0.9


def test_peak_hits_read_the_peak_cell():
    weights = torch.tensor([[[0.1, 0.7, 0.2]], [[0.5, 0.2, 0.3]]])  # (B, heads, cells)
    named = torch.tensor([[False, True, False], [False, True, True]])
    assert peak_hits(weights, named).tolist() == [True, False]


def test_named_cells_are_the_cells_of_the_named_object_and_none_for_negatives():
    objects = [{"color": "red", "shape": "circle", "box": [0, 0, 16, 16]},  # the top-left 2 x 2 cells
               {"color": "blue", "shape": "cross", "box": [40, 40, 56, 56]}]
    frame = pd.DataFrame({"objects": [objects, objects, objects], "target": [0, 1, None]})
    named = named_cells(frame, size=64)  # (3, 64)
    assert named.shape == (3, 64) and named.dtype == torch.bool
    assert named[0].nonzero().flatten().tolist() == [0, 1, 8, 9]
    assert named[1].nonzero().flatten().tolist() == [45, 46, 53, 54]
    assert not named[2].any()  # label 0: the named object is not in the picture


def test_attention_maps_leave_the_model_in_eval_mode_and_give_one_map_per_head():
    vocab, data = toy_cells(8)
    model = grounding_model(len(vocab), cell_dim=2, dim=8, num_heads=2).train()
    logits, weights = attention_maps(model, data[list(range(8))])
    assert logits.shape == (8, 2) and weights.shape == (8, 2, 4) and not model.training
    assert torch.allclose(weights.sum(dim=-1), torch.ones(8, 2))
