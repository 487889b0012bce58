"""Baselines on the realistic SynthMemes, seeds 0-4: does the task have the real benchmark's shape?

    python scripts/synthmemes_baselines.py [--seeds 0,1,2,3,4] [--models image,text,late,concat,...]
                                           [--pixel-epochs 4] [--out runs/synthmemes-baselines]
                                           [--negation P] [--knob NAME=VALUE ...]

1. Generate the realistic dataset (`ensure_synthmemes("memes")`, by default the default one;
   --negation and --knob change its settings, for calibrating them).
2. Pretrain the SmallCNN on the icon concept (train split; accuracy on test_seen), as
   `mmlab train` does; fastText on the training captions; standardised features.
3. For every model and seed, train as `mmlab train` does (Adam, lr 1e-3, batch 64, at most 20
   epochs, early stopping on dev_seen AUROC, patience 3) and score test_seen and test_unseen.
4. A picture-only model that can read the caption's *pixels*: the SmallCNN trained end to end
   on the meme label for a few epochs (`pixels`).
5. The noise ceiling: the AUROC of the clean label itself against the noisy label (`oracle`).

Besides the AUROC against the (noisy) labels, each run is scored per kind of mean meme: the
AUROC of telling the mean memes of one `reason` (text, image, interaction) from the benign
ones, with the clean labels. It shows *which* memes a model finds.

Writes `runs.csv` (one row per model, seed and split) and `table.md` (mean and 95 % t-interval
per model and split; mean per reason on test_seen) to --out, and prints the tables.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.stats
import torch
from sklearn.metrics import roc_auc_score

from mmlab.data import MemeDataset, ensure_synthmemes
from mmlab.data.realistic import Knobs
from mmlab.encoders import image_encoder
from mmlab.features import FeatureDataset, build_feature_datasets
from mmlab.models import build_model
from mmlab.pretrain import (EncoderClassifier, class_labels, evaluate_accuracy, load_images,
                            train_classifier)
from mmlab.train import fit, make_loader
from mmlab.utils import seed_everything

SPLITS = ("train", "dev_seen", "test_seen", "test_unseen")
SCORED = ("test_seen", "test_unseen")
REASONS = ("text", "image", "interaction")


def pretrain_icon_encoder(root: Path, epochs: int = 2) -> torch.nn.Module:
    """SmallCNN + linear head trained on `image_concept` (pretrain_image_encoder's recipe)."""
    train, test = MemeDataset(root, "train"), MemeDataset(root, "test_seen")
    concept = "image_concept"
    y_train, y_test, classes = class_labels(train.frame[concept], test.frame[concept])
    pictures, test_pictures = load_images(train), load_images(test)  # (N, 3, 64, 64) uint8
    torch.manual_seed(0)
    model = EncoderClassifier(image_encoder("small_cnn"), len(classes))
    train_classifier(model, [pictures], y_train, epochs=epochs, batch_size=128, lr=1e-2,
                     progress=False)
    print(f"icon encoder: {len(classes)} icons, test_seen accuracy "
          f"{evaluate_accuracy(model, [test_pictures], y_test):.3f}")
    return model.encoder.eval()


@torch.no_grad()
def scores(model: torch.nn.Module, data: FeatureDataset) -> np.ndarray:
    """proba of label 1 for every row of `data`."""
    model.eval()
    batch = data[list(range(len(data)))]
    return model(batch).softmax(dim=-1)[:, 1].numpy()  # (N,)


def train_feature_model(name: str, features: dict[str, FeatureDataset],
                        seed: int) -> tuple[torch.nn.Module, int]:
    """One model of `mmlab train --fusion NAME`, trained as `mmlab.run.train_run` trains it."""
    seed_everything(seed)
    train, dev = features["train"], features["dev_seen"]
    model = build_model(name, train.text.shape[1], train.image.shape[1])
    history = fit(model, make_loader(train, 64, True, "cpu", seed=seed),
                  make_loader(dev, 256, False, "cpu"), epochs=20, lr=1e-3, device="cpu", patience=3,
                  monitor="val_auroc", progress=False)
    return model, len(history)


def pixel_model_scores(root: Path, seed: int, epochs: int) -> dict[str, np.ndarray]:
    """A SmallCNN trained end to end on the meme label from pixels: proba per scored split."""
    train = MemeDataset(root, "train")
    labels = torch.tensor(train.frame["label"].to_numpy())  # (N,)
    torch.manual_seed(seed)
    model = EncoderClassifier(image_encoder("small_cnn"), 2)
    train_classifier(model, [load_images(train)], labels, epochs=epochs, batch_size=64, lr=3e-3,
                     seed=seed, progress=False)
    model.eval()
    out = {}
    with torch.no_grad():
        for split in SCORED:
            logits = model(load_images(MemeDataset(root, split)))  # (N, 2)
            out[split] = logits.softmax(dim=-1)[:, 1].numpy()
    return out


def score_row(model: str, seed: int, split: str, truth: pd.DataFrame, proba: np.ndarray,
              epochs: int, seconds: float) -> dict:
    """AUROC and accuracy against the labels, and AUROC per reason against the clean labels."""
    row = {"model": model, "seed": seed, "split": split,
           "auroc": roc_auc_score(truth["label"], proba),
           "accuracy": float(((proba >= 0.5) == truth["label"]).mean()), "epochs": epochs,
           "seconds": round(seconds, 2)}
    for reason in REASONS:
        keep = truth["reason"].isin([reason, "benign"]).to_numpy()
        row[f"auroc_{reason}"] = roc_auc_score(truth["label_clean"][keep], proba[keep])
    return row


def t_interval(values: pd.Series) -> str:
    """'mean [low, high]' with a 95 % t-interval over the seeds."""
    mean = values.mean()
    if len(values) < 2:
        return f"{mean:.3f}"
    half = scipy.stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return f"{mean:.3f} [{mean - half:.3f}, {mean + half:.3f}]"


def markdown(table: pd.DataFrame) -> str:
    """A DataFrame as a markdown table."""
    lines = [list(table.columns), ["---"] * len(table.columns),
             *table.astype(str).to_numpy().tolist()]
    return "".join("| " + " | ".join(map(str, line)) + " |\n" for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--models", default="image,text,late,concat,tensor,gmu")
    parser.add_argument("--pixel-epochs", type=int, default=4, help="0 skips the pixel model")
    parser.add_argument("--out", type=Path, default=Path("runs/synthmemes-baselines"))
    parser.add_argument("--negation", type=float, default=None, help="default: 0.2 (realistic)")
    parser.add_argument("--knob", action="append", default=[], help="e.g. noise=0.15 (see Knobs)")
    args = parser.parse_args()
    knobs = Knobs(**{name: float(value) for name, value in (knob.split("=") for knob in args.knob)})
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]

    started = time.perf_counter()
    root = ensure_synthmemes("memes", negation=args.negation, knobs=knobs)
    print(f"data: {root.name} ({time.perf_counter() - started:.1f} s)")
    truth = {split: MemeDataset(root, split).frame for split in SCORED}
    rows = [score_row("oracle", 0, split, f, f["label_clean"].to_numpy(dtype=float), 0, 0.0)
            for split, f in truth.items()]
    started = time.perf_counter()
    features = build_feature_datasets(root, pretrain_icon_encoder(root), SPLITS)
    print(f"features: {time.perf_counter() - started:.1f} s")

    for seed in seeds:
        for name in args.models.split(","):
            started = time.perf_counter()
            model, epochs = train_feature_model(name, features, seed)
            seconds = time.perf_counter() - started
            rows += [score_row(name, seed, split, truth[split], scores(model, features[split]),
                               epochs, seconds) for split in SCORED]
            print(f"seed {seed} {name:>8}: test_seen AUROC {rows[-2]['auroc']:.3f}, "
                  f"test_unseen {rows[-1]['auroc']:.3f}, {epochs} epochs, {seconds:.1f} s")
        if args.pixel_epochs:
            started = time.perf_counter()
            probas = pixel_model_scores(root, seed, args.pixel_epochs)
            seconds = time.perf_counter() - started
            rows += [score_row("pixels", seed, split, truth[split], proba, args.pixel_epochs,
                               seconds) for split, proba in probas.items()]
            print(f"seed {seed}   pixels: test_seen AUROC {rows[-2]['auroc']:.3f}, "
                  f"test_unseen {rows[-1]['auroc']:.3f}, {seconds:.1f} s")

    runs = pd.DataFrame(rows)
    table = runs.pivot_table(index="model", columns="split", values="auroc", aggfunc=t_interval,
                             sort=False)
    table["seconds per run"] = runs.groupby("model")["seconds"].mean().round(1)
    table = table.reset_index()
    by_reason = (runs[runs["split"] == "test_seen"].groupby("model", sort=False)
                 [[f"auroc_{reason}" for reason in REASONS]].mean().round(3).reset_index())
    args.out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(args.out / "runs.csv", index=False)
    (args.out / "table.md").write_text(markdown(table) + "\n" + markdown(by_reason))
    print(markdown(table) + "\n" + markdown(by_reason))


if __name__ == "__main__":
    main()
