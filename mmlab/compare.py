"""The fusion comparison: every strategy of `mmlab.fusion` on every SynthMemes task, in one table.

    for each task (memes, grounding, redundant):
        a small dataset (n training memes) and the frozen image encoder that suits its pictures
        -> pooled and token features of the train and test splits, computed once (mmlab.tokens)
        for each fusion:
            train a FusionClassifier head on the frozen features (Adam, one-cycle, fixed epochs)
            -> test accuracy, AUROC, parameter count, training seconds,
               and accuracy with the picture missing at test time

The tasks are built to separate the strategies: `memes` needs an interaction of the two moods
(an XOR), `grounding` needs to know which colour sits on which shape, `redundant` can be solved
by either modality alone.

A missing picture: a fusion that `handles_missing` is told so (the image entry is left out of
the features dict); any other gets the image features filled with zeros, which after
standardisation is the training mean: the usual fallback when a model needs every input.

`mmlab compare` prints the same table.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import pandas as pd
import torch
import torch.nn as nn
from sklearn.metrics import roc_auc_score
from tqdm.auto import tqdm

from mmlab.data.store import ensure_synthmemes
from mmlab.data.synthmemes import TASKS
from mmlab.fusion import FUSIONS, build_fusion
from mmlab.models import FusionClassifier
from mmlab.pretrain import pretrain_image_encoder, train_classifier
from mmlab.tokens import SplitFeatures, build_split_features, pretrain_attribute_encoder
from mmlab.utils import choose_device

SPLITS = ("train", "test")  # a fixed recipe, no early stopping: the dev split is not needed


def image_encoder_for(task: str, n: int = 1000, seed: int = 0, device: str = "auto") -> nn.Module:
    """The frozen image encoder for `task`'s pictures (pretrained the first time, then cached).

    Icons (`memes`, `redundant`): a `SmallCNN` pretrained on the icon concept of `memes` pictures.
    Coloured shapes (`grounding`): one pretrained on which colours and shapes are drawn.
    """
    if task == "grounding":
        return pretrain_attribute_encoder(ensure_synthmemes("grounding", n=n, seed=seed), device=device).encoder
    return pretrain_image_encoder(ensure_synthmemes("memes", n=n, seed=seed), epochs=3, batch_size=32, lr=1e-2,
                                  device=device, progress=False).encoder


def task_features(task: str, n: int = 1000, seed: int = 0, device: str = "auto") -> dict[str, SplitFeatures]:
    """Train and test features of a SynthMemes `task` with `n` training memes."""
    encoder = image_encoder_for(task, n, seed, device)
    return build_split_features(ensure_synthmemes(task, n=n, seed=seed), encoder, SPLITS)


class _Positional(nn.Module):
    """Adapter: `train_classifier` calls model(*tensors); a FusionClassifier wants a dict."""

    def __init__(self, model: nn.Module, keys: list[str]) -> None:
        super().__init__()
        self.model, self.keys = model, keys

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.model(dict(zip(self.keys, tensors)))


def train_fusion(name: str, train: SplitFeatures, epochs: int = 12, batch_size: int = 128, lr: float = 2e-2,
                 hidden: int = 32, seed: int = 0, device: str = "auto") -> FusionClassifier:
    """A FusionClassifier with fusion `name`, trained on `train`'s frozen features."""
    spec = FUSIONS[name]
    inputs = train.inputs(spec.inputs)
    dims = {key: value.shape[-1] for key, value in inputs.items() if not key.endswith("_mask")}
    torch.manual_seed(seed)  # the same initial weights every time
    model = FusionClassifier(build_fusion(name, dims, hidden=hidden), hidden=hidden)
    keys = list(inputs)
    train_classifier(_Positional(model, keys), [inputs[key] for key in keys], train.label, epochs=epochs,
                     batch_size=batch_size, lr=lr, seed=seed, device=choose_device(device), progress=False)
    return model.eval()


def without(inputs: dict[str, torch.Tensor], modality: str, told: bool) -> dict[str, torch.Tensor]:
    """`inputs` with `modality` missing: left out when the model is `told`, else zero-filled."""
    if told:
        return {key: value for key, value in inputs.items() if key.removesuffix("_mask") != modality}
    return {key: torch.zeros_like(value) if key == modality else value for key, value in inputs.items()}


@torch.no_grad()
def predict_proba(model: FusionClassifier, inputs: dict[str, torch.Tensor], batch_size: int = 512) -> torch.Tensor:
    """P(label 1) for every example of `inputs`: (N,)."""
    model.eval()
    device = next(model.parameters()).device
    n = len(next(iter(inputs.values())))
    chunks = [model({key: value[i:i + batch_size].to(device) for key, value in inputs.items()}).softmax(dim=-1)[:, 1]
              for i in range(0, n, batch_size)]
    return torch.cat(chunks).cpu()  # (N,)


def score(model: FusionClassifier, split: SplitFeatures, kind: str, missing: str | None = None) -> dict[str, float]:
    """Accuracy and AUROC of `model` on `split`, optionally with modality `missing` absent."""
    inputs = split.inputs(kind)
    if missing is not None:
        inputs = without(inputs, missing, told=model.fusion.handles_missing)
    proba = predict_proba(model, inputs)
    labels = split.label.numpy()
    return {"accuracy": float(((proba >= 0.5).long().numpy() == labels).mean()),
            "auroc": float(roc_auc_score(labels, proba.numpy()))}


def compare_fusions(tasks: Sequence[str] = TASKS, fusions: Sequence[str] | None = None, n: int = 1000,
                    epochs: int = 12, hidden: int = 32, seed: int = 0, device: str = "auto",
                    progress: bool = True) -> pd.DataFrame:
    """Train and test every fusion on every task; one row per (task, fusion).

    Columns: task, fusion, inputs (pooled, tokens or words), accuracy, auroc, parameters (trainable, of
    the fusion and its head), train_seconds, and accuracy_no_image (the picture missing at test).
    """
    fusions = list(FUSIONS) if fusions is None else list(fusions)
    rows = []
    with tqdm(total=len(tasks) * len(fusions), desc="fusion zoo", disable=not progress, leave=False) as bar:
        for task in tasks:
            features = task_features(task, n, seed, device)
            for name in fusions:
                bar.set_postfix(task=task, fusion=name)
                kind = FUSIONS[name].inputs
                started = time.perf_counter()
                model = train_fusion(name, features["train"], epochs=epochs, hidden=hidden, seed=seed, device=device)
                seconds = time.perf_counter() - started
                rows.append({"task": task, "fusion": name, "inputs": kind,
                             **score(model, features["test"], kind),
                             "parameters": sum(p.numel() for p in model.parameters()),
                             "train_seconds": round(seconds, 2),
                             "accuracy_no_image": score(model, features["test"], kind, missing="image")["accuracy"]})
                bar.update(1)
    return pd.DataFrame(rows)
