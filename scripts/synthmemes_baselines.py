"""Baselines on the realistic SynthMemes, seeds 0-4: does the task have the real benchmark's shape?

    python scripts/synthmemes_baselines.py [--seeds 0,1,2,3,4] [--models ...] [--out DIR]
                                           [--negation P] [--knob NAME=VALUE ...]

1. Generate the realistic dataset (the default one; --negation and --knob change its settings,
   for calibrating them) and prepare it as `mmlab train` does (`mmlab.experiment.prepare`: the
   SmallCNN pretrained on the icon concept, fastText on the training captions, standardised
   features of train, dev_seen, test_seen and test_unseen).
2. For every model and seed, train as `mmlab train` does (`mmlab.experiment.train_model`: Adam,
   lr 1e-3, batch 64, at most 20 epochs, early stopping on dev_seen AUROC) and score test_seen and
   test_unseen. Models: `image_only`, `text_only`, `classic` (concat, the tutorial's model) and
   fusions of the zoo by name.
3. Two models trained end to end on the meme label, from pixels and words, with no pretraining:
   `pixels` (the SmallCNN alone: a picture-only model that can read the caption's pixels) and
   `end_to_end` (SmallCNN + bag of word embeddings + concat + MLP head), each for as many epochs
   as --end-to-end-epochs.
4. The noise ceiling: the AUROC of the clean label itself against the noisy label (`oracle`).

Each run is also scored per kind of mean meme: the AUROC of telling the mean memes of one
`reason` (text, image, interaction) from the benign ones, with the clean labels. It shows
*which* memes a model finds. Writes `runs.csv` and `table.md` to --out and prints the tables.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from mmlab.compare import interval
from mmlab.data import MemeDataset, ensure_synthmemes
from mmlab.data.realistic import Knobs
from mmlab.data.text import Vocab
from mmlab.encoders import BagOfEmbeddings, SmallCNN
from mmlab.experiment import prepare, train_model
from mmlab.features import FeatureDataset
from mmlab.fusion import build_fusion
from mmlab.models import MultimodalClassifier, SingleModality
from mmlab.train import fit, make_loader, run_model
from mmlab.utils import limit_threads, seed_everything

REASONS = ("text", "image", "interaction")
ROLES = {"test": "test_seen", "unseen": "test_unseen"}


def proba(net: torch.nn.Module, data: FeatureDataset) -> torch.Tensor:
    """P(label 1) for every row of `data`."""
    return run_model(net, make_loader(data, 256, False))["logits"].softmax(dim=1)[:, 1]


def end_to_end(root: Path, seed: int, epochs: int, words: bool) -> tuple[torch.nn.Module, dict]:
    """A model trained from scratch on the meme label: pixels only, or pixels and words."""
    splits = {"train": "train", "dev": "dev_seen", **ROLES}
    frames = {role: MemeDataset(root, split) for role, split in splits.items()}
    vocab = Vocab.build(frames["train"].frame["text"])
    data = {role: FeatureDataset(image=m.pictures(), label=torch.tensor(m.frame["label"].to_numpy()),
                                 text=vocab.encode_batch(list(m.frame["text"])) if words else None)
            for role, m in frames.items()}
    seed_everything(seed)
    if words:
        net = MultimodalClassifier(build_fusion("concat", {"image": 64, "text": 64}), encoders={
            "image": SmallCNN(), "text": BagOfEmbeddings(len(vocab), 64)})
    else:
        net = MultimodalClassifier(SingleModality("image", 64), encoders={"image": SmallCNN()})
    fit(net, make_loader(data["train"], 64, True, seed=seed), make_loader(data["dev"], 256, False),
        epochs=epochs, lr=3e-3, schedule="one_cycle", progress=False)
    return net, data


def score_rows(model: str, seed: int, truth: dict[str, pd.DataFrame], probas: dict[str, torch.Tensor],
               seconds: float) -> list[dict]:
    """AUROC against the labels, and AUROC per reason against the clean labels, per scored split."""
    rows = []
    for role, split in ROLES.items():
        frame, p = truth[role], probas[role].numpy()
        row = {"model": model, "seed": seed, "split": split, "auroc": roc_auc_score(frame["label"], p),
               "seconds": round(seconds, 2)}
        for reason in REASONS:
            keep = frame["reason"].isin([reason, "benign"]).to_numpy()
            row[f"auroc_{reason}"] = roc_auc_score(frame["label_clean"][keep], p[keep])
        rows.append(row)
    return rows


def markdown(table: pd.DataFrame) -> str:
    lines = [list(table.columns), ["---"] * len(table.columns), *table.astype(str).to_numpy().tolist()]
    return "".join("| " + " | ".join(map(str, line)) + " |\n" for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--models", default="image_only,text_only,late,classic,concat,tensor,gmu,film,"
                                            "cross_attention")
    parser.add_argument("--end-to-end-epochs", type=int, default=8, help="0 skips the end-to-end models")
    parser.add_argument("--out", type=Path, default=Path("runs/synthmemes-baselines"))
    parser.add_argument("--negation", type=float, default=None, help="default: 0.2 (realistic)")
    parser.add_argument("--knob", action="append", default=[], help="e.g. noise=0.15 (see Knobs)")
    args = parser.parse_args()
    limit_threads()
    knobs = Knobs(**{name: float(value) for name, value in (knob.split("=") for knob in args.knob)})
    seeds = [int(s) for s in args.seeds.split(",")]

    root = ensure_synthmemes("memes", negation=args.negation, knobs=knobs)
    started = time.perf_counter()
    prepared = prepare(root, progress=False)
    print(f"{root.name}: prepared in {time.perf_counter() - started:.1f} s")
    truth = {role: MemeDataset(root, split).frame for role, split in ROLES.items()}
    rows = score_rows("oracle", 0, truth, {r: torch.tensor(f["label_clean"].to_numpy(), dtype=torch.float)
                                           for r, f in truth.items()}, 0.0)
    for seed in seeds:
        for name in args.models.split(","):
            model = name if name in ("image_only", "text_only", "classic") else "fusion"
            started = time.perf_counter()
            net, _ = train_model(prepared, model, name, seed=seed, progress=False)
            seconds = time.perf_counter() - started
            rows += score_rows(name, seed, truth, {r: proba(net, prepared.features[r]) for r in ROLES}, seconds)
            print(f"seed {seed} {name:>15}: test_seen {rows[-2]['auroc']:.3f}, test_unseen "
                  f"{rows[-1]['auroc']:.3f}, {seconds:.1f} s", flush=True)
        for name, words in (("pixels", False), ("end_to_end", True))[: 2 if args.end_to_end_epochs else 0]:
            started = time.perf_counter()
            net, data = end_to_end(root, seed, args.end_to_end_epochs, words)
            seconds = time.perf_counter() - started
            rows += score_rows(name, seed, truth, {r: proba(net, data[r]) for r in ROLES}, seconds)
            print(f"seed {seed} {name:>15}: test_seen {rows[-2]['auroc']:.3f}, test_unseen "
                  f"{rows[-1]['auroc']:.3f}, {seconds:.1f} s", flush=True)

    runs = pd.DataFrame(rows)
    show = lambda values: "{:.3f} [{:.3f}, {:.3f}]".format(*interval(values)) if len(values) > 1 else f"{values.mean():.3f}"
    table = runs.pivot_table(index="model", columns="split", values="auroc", aggfunc=show, sort=False)
    table["seconds per run"] = runs.groupby("model", sort=False)["seconds"].mean().round(1)
    by_reason = (runs[runs["split"] == "test_seen"].groupby("model", sort=False)
                 [[f"auroc_{reason}" for reason in REASONS]].mean().round(3).reset_index())
    args.out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(args.out / "runs.csv", index=False)
    text = markdown(table.reset_index()) + "\n" + markdown(by_reason)
    (args.out / "table.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
