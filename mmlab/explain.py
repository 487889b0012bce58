"""Explaining multimodal models: does a model use the interaction of its modalities at all?

EMAP, the empirical multimodally-additive function projection (Hessel and Lee 2020, "Does my
multimodal model learn cross-modal interactions? It's harder to tell than you might think!"):

    f(t, v)          the model's score (logit of label 1 minus logit of label 0) for caption t
                     and picture v
    f_hat(t_i, v_i) = mean_j f(t_i, v_j) + mean_j f(t_j, v_i) - mean_jk f(t_j, v_k)

`f_hat` is the best *additive* approximation of f on these examples: one function of the
caption plus one of the picture. If f_hat scores as well as f, the model's cross-modal
interactions do not matter for its predictions; the gap between the two measures how much they
do. It costs N x N model evaluations, so it runs on a sample of N examples (notebook 03).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from mmlab.features import FeatureDataset
from mmlab.train import scores
from mmlab.utils import to_device


@torch.no_grad()
def pair_scores(model: nn.Module, data: FeatureDataset, rows: list[int]) -> torch.Tensor:
    """The model's score for every caption paired with every picture: (N, N), [i, j] = f(t_i, v_j).

    `data` holds encoded "image" and "text"; `rows` picks the N examples.
    """
    model.eval()
    device = next(model.parameters()).device
    pictures = data[rows]["image"]  # N pictures
    matrix = []
    for i in rows:
        batch = {"image": pictures, "text": data[[i] * len(rows)]["text"]}  # caption i with every picture
        logits = model(to_device(batch, device))  # (N, 2)
        matrix.append((logits[:, 1] - logits[:, 0]).cpu())
    return torch.stack(matrix)  # (N captions, N pictures)


def additive_projection(matrix: torch.Tensor) -> torch.Tensor:
    """EMAP's f_hat for the N matched pairs: caption mean + picture mean - grand mean, (N,)."""
    by_caption = matrix.mean(dim=1)  # (N,) mean over pictures, for each caption
    by_picture = matrix.mean(dim=0)  # (N,) mean over captions, for each picture
    return by_caption + by_picture - matrix.mean()


def emap(model: nn.Module, data: FeatureDataset, n: int = 200, seed: int = 0) -> dict[str, float]:
    """The model's AUROC and accuracy on `n` labelled examples, and those of its additive projection.

    Returns {"auroc", "auroc_additive", "accuracy", "accuracy_additive"}; a model that uses no
    interaction has auroc == auroc_additive.
    """
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randperm(len(data), generator=generator)[:n].tolist()
    matrix = pair_scores(model, data, rows)  # (n, n)
    labels = data[rows]["label"].numpy()
    full = scores(labels, torch.sigmoid(matrix.diagonal()).numpy())
    additive = scores(labels, torch.sigmoid(additive_projection(matrix)).numpy())
    return {"auroc": full["auroc"], "auroc_additive": additive["auroc"],
            "accuracy": full["accuracy"], "accuracy_additive": additive["accuracy"]}
