"""What the benchmarks train: the classic Hateful Memes recipe, and the loop-efficiency probe.

The classic recipe (the DrivenData benchmark's, which the kit's notebooks teach):

    caption ─► fastText CBOW, 150 dims ─► Linear(150, 300) ─┐
                                                            ├─► LanguageAndVisionConcat ─► logits (B, 2)
    picture ─► resize 224 px ─► ResNet-152 ─► Linear(2048, 300) ┘   (fusion 256, dropout 0.1)

trained end to end with AdamW (lr 5e-5), batches of 4, gradients accumulated over 16 batches
(one optimizer step per 64 memes) and clipped to norm 1. It starts from random ResNet-152
weights: the benchmark used ImageNet weights, which cannot be downloaded here.

`train_for` trains it until a wall-clock budget runs out; `loop_efficiency` times
`mmlab.train.fit` against a bare loop over preloaded tensors with the same model and batch size.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import transforms

from mmlab.data.memes import MemeDataset
from mmlab.data.store import split_sizes
from mmlab.data.text import sentence_vectors, train_fasttext
from mmlab.encoders import SmallCNN, image_encoder
from mmlab.features import FeatureDataset
from mmlab.pretrain import held_out_split
from mmlab.models import LanguageAndVisionConcat
from mmlab.train import fit, make_loader
from mmlab.utils import to_device

# The DrivenData benchmark's hyperparameters.
CLASSIC = {"image_size": 224, "text_dim": 150, "feature_dim": 300, "fusion_output_size": 256,
           "dropout_p": 0.1, "lr": 5e-5, "batch_size": 4, "accumulation": 16, "grad_clip": 1.0}


def classic_model() -> LanguageAndVisionConcat:
    """LanguageAndVisionConcat over fastText vectors (150) and a randomly initialised ResNet-152.

    The ResNet-152 is the model's image encoder, trained end to end; the fusion's projections are
    the tutorial's Linear(150, 300) language module and the Linear(2048, 300) that replaced the
    ResNet's classifier.
    """
    return LanguageAndVisionConcat(CLASSIC["text_dim"], 2048, feature_dim=CLASSIC["feature_dim"],
                                   fusion_output_size=CLASSIC["fusion_output_size"],
                                   dropout=CLASSIC["dropout_p"], encoders={"image": image_encoder("resnet152")})


def classic_datasets(root: str | Path, eval_n: int | None, cache_dir: str | Path,
                     seed: int = 0) -> tuple[MemeDataset, MemeDataset]:
    """The train split and `eval_n` test memes (all when None, from test or test_seen), transformed
    as the benchmark does.

    Pictures: resized to 224 x 224 and turned into floats in [0, 1] (ResNetEncoder applies the
    ImageNet normalisation). Captions: fastText sentence vectors (150 dims), the fastText model
    trained on the training captions and cached under `cache_dir`.
    """
    image_transform = transforms.Compose([transforms.Resize((CLASSIC["image_size"],) * 2),
                                          transforms.ToTensor()])
    train = MemeDataset(root, "train", image_transform=image_transform)
    words = train_fasttext(list(train.frame["text"]), dim=CLASSIC["text_dim"], cache_dir=cache_dir)

    def caption_vector(text: str) -> torch.Tensor:
        return sentence_vectors(words, [text])[0]  # (150,)

    train.text_transform = caption_vector
    test = MemeDataset(root, held_out_split(root), image_transform=image_transform,
                       text_transform=caption_vector, limit=eval_n, seed=seed)
    return train, test


def train_for(model: nn.Module, loader: DataLoader, budget_s: float, device: torch.device,
              started: float | None = None) -> dict[str, float]:
    """Train `model` with the classic optimiser settings until `budget_s` seconds have passed.

    The clock starts at `started` (a `time.perf_counter()` value; default now), so setup such as
    training fastText can count against the budget. A batch is not started when the last one
    suggests it would end after the deadline. Returns memes seen, optimizer steps and the seconds
    spent in the loop.
    """
    started = time.perf_counter() if started is None else started
    deadline = started + budget_s
    optimizer = torch.optim.AdamW(model.parameters(), lr=CLASSIC["lr"])
    model.to(device).train()
    loop_started = previous = time.perf_counter()
    seen, batches, steps, last_batch_s = 0, 0, 0, 0.0
    while True:  # epochs; the budget ends long before the first one does on a CPU
        for batch in loader:  # loading a batch (PNG decode, resize) counts in its time
            now = time.perf_counter()
            if now + last_batch_s > deadline:
                return {"seen": seen, "steps": steps, "seconds": now - loop_started}
            batch = to_device(batch, device)
            loss = F.cross_entropy(model(batch), batch["label"].long()) / CLASSIC["accumulation"]
            loss.backward()
            batches += 1
            seen += len(batch["label"])
            if batches % CLASSIC["accumulation"] == 0:  # one step per 4 x 16 = 64 memes
                nn.utils.clip_grad_norm_(model.parameters(), CLASSIC["grad_clip"])
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                steps += 1
            if device.type == "cuda":
                torch.cuda.synchronize()  # so that the clock sees the work
            now = time.perf_counter()
            last_batch_s, previous = now - previous, now


# ---------------------------------------------------------------------------------------------
# Training-loop efficiency


def kit_features(n: int, seed: int = 0) -> FeatureDataset:
    """Random stand-ins for the kit's features: image (n, 64) like SmallCNN's, text (n, 64) like fastText's.

    The loop's cost depends on the shapes, not the values, so random numbers measure it fairly.
    """
    generator = torch.Generator().manual_seed(seed)
    image_dim, text_dim = SmallCNN().dim, 64  # text: meme_features' default fastText size
    return FeatureDataset(id=list(range(n)), image=torch.randn(n, image_dim, generator=generator),
                          text=torch.randn(n, text_dim, generator=generator),
                          label=torch.randint(0, 2, (n,), generator=generator))


def bare_loop(data: FeatureDataset, batch_size: int, epochs: int, device: torch.device,
              seed: int = 0) -> float:
    """Seconds to train the kit's model with plain tensor slicing: no DataLoader, no extras.

    Same model, optimizer (Adam, lr 1e-3), loss and batch size as `fit`; the tensors are moved to
    `device` before the clock starts.
    """
    torch.manual_seed(seed)
    image, text, label = data.image.to(device), data.text.to(device), data.label.to(device)
    model = LanguageAndVisionConcat(text.shape[1], image.shape[1]).to(device).train()
    started = time.perf_counter()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        order = torch.randperm(len(label), device=device)
        for start in range(0, len(label), batch_size):
            rows = order[start:start + batch_size]
            logits = model({"image": image[rows], "text": text[rows]})  # (B, 2)
            loss = F.cross_entropy(logits, label[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def fit_loop(data: FeatureDataset, batch_size: int, epochs: int, device: torch.device,
             val_data: FeatureDataset | None = None, seed: int = 0) -> float:
    """Seconds that `mmlab.train.fit` takes to train the same model on the same data.

    Without `val_data`: the same work as `bare_loop`, plus what fit adds to every batch (the
    DataLoader, moving the batch, running loss and accuracy). With `val_data`: fit as `mmlab
    train` runs it, validating and writing checkpoints after every epoch, progress bars on
    (rendered into a string, so they cost what they cost but print nothing).
    """
    torch.manual_seed(seed)
    model = LanguageAndVisionConcat(data.text.shape[1], data.image.shape[1])
    train_loader = make_loader(data, batch_size, True, device, seed=seed)
    with tempfile.TemporaryDirectory(prefix="mmlab-fit-") as checkpoints, \
            contextlib.redirect_stderr(io.StringIO()):
        started = time.perf_counter()
        if val_data is None:
            fit(model, train_loader, epochs=epochs, device=device, progress=False)
        else:
            fit(model, train_loader, make_loader(val_data, 256, False, device), epochs=epochs,
                device=device, checkpoint_dir=checkpoints, progress=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - started


def loop_efficiency(n: int = 4000, batch_size: int = 64, epochs: int = 1, repeats: int = 10,
                    device: str | torch.device = "cpu") -> dict[str, Any]:
    """Training samples per second of the bare loop, of fit (same work) and of fit as `mmlab train` runs it.

    Each variant runs `repeats` times, interleaved (bare, fit, fit as mmlab train, then again).
    Samples per second come from each variant's fastest run (the usual way to time code on a
    shared machine: other work can only slow a run down). The ratios are medians over the
    repeats of bare time / fit time within one round: a slow spell of the machine hits both
    runs of a round, so it cancels out, where a ratio of two fastest runs taken seconds apart
    swings by 10 % either way on a busy 2-core machine. Returns the samples per second, the ratios
    and the settings.
    """
    device = torch.device(device)
    data = kit_features(n)
    val_data = kit_features(split_sizes(n)["dev_seen"], seed=1)
    bare_loop(data, batch_size, 1, device)  # warm-up, untimed: first calls allocate and initialise
    seconds: dict[str, list[float]] = {"bare": [], "fit_same_work": [], "fit_as_mmlab_train": []}
    for _ in range(repeats):
        seconds["bare"].append(bare_loop(data, batch_size, epochs, device))
        seconds["fit_same_work"].append(fit_loop(data, batch_size, epochs, device))
        seconds["fit_as_mmlab_train"].append(fit_loop(data, batch_size, epochs, device, val_data))
    samples = n * epochs
    result: dict[str, Any] = {f"{name}_samples_per_s": samples / min(times) for name, times in seconds.items()}
    for variant, name in (("fit_same_work", "ratio_same_work"), ("fit_as_mmlab_train", "ratio_as_mmlab_train")):
        result[name] = statistics.median(bare / fit for bare, fit in zip(seconds["bare"], seconds[variant]))
    result.update(n=n, batch_size=batch_size, epochs=epochs, repeats=repeats, device=str(device))
    return result
