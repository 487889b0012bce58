"""One experiment from data to results: the pipeline that `mmlab train`, `mmlab compare` and the
notebooks share.

    a dataset folder (the Hateful Memes layout), or a SynthMemes task
      -> frozen image encoder (pretrained on SynthMemes, or a weights file) and fastText
      -> cached, standardised features of every split                    (mmlab.features)
      -> a model: classic | image_only | text_only | fusion --fusion NAME  (mmlab.models)
      -> fit, with validation every epoch, early stopping, checkpoints      (mmlab.train)
      -> metrics on the test split (and the unseen one), predictions, history, curves

`prepare` does everything up to the features, `train_model` one model on them, `train_run` the
whole of `mmlab train` with its run folder: `config.json`, `metrics.json`, `history.csv`,
`predictions.csv` (`id, proba, label`), `curves.png` and `checkpoints/` (`last.pt`, `best.pt`).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch.nn as nn

from mmlab.data.memes import MemeDataset, find_splits, read_split
from mmlab.data.store import ensure_synthmemes
from mmlab.encoders import IMAGE_ENCODERS, image_encoder
from mmlab.errors import MmlabError
from mmlab.features import FeatureDataset, meme_features
from mmlab.io import atomic_path, atomic_write_json
from mmlab.models import build_model
from mmlab.pretrain import pretrain_cell_encoder, pretrain_image_encoder
from mmlab.train import History, evaluate, fit, make_loader, predict, write_submission
from mmlab.utils import choose_device, seed_everything

# (dev, test) names to look for, phase 1 first; an unseen test split is scored too when labelled.
SPLIT_NAMES = (("dev", "test"), ("dev_seen", "test_seen"))
UNSEEN = "test_unseen"


@dataclass
class Prepared:
    """A dataset's features, ready for training: what `prepare` returns."""

    name: str  # the task, or the folder's name
    root: Path  # the dataset folder
    splits: dict[str, str]  # role ("train", "dev", "test", "unseen") -> split name
    features: dict[str, FeatureDataset]  # role -> features (standardised with train's statistics)
    image_encoder: str
    image_size: int

    @property
    def dims(self) -> dict[str, int]:
        """The feature size of each modality: {"image": D_image, "text": D_text}."""
        train = self.features["train"]
        return {"image": train.image.pooled.shape[1], "text": train.text.pooled.shape[1]}


def pick_splits(root: Path, dev: str | None = None, test: str | None = None) -> dict[str, str]:
    """Split roles of a folder: train, dev and test (phase-1 names, else phase-2 "seen" ones).

    `dev` and `test` choose other splits (say "dev_unseen"). When the folder has a labelled
    `test_unseen` split that is not the test split, it is scored too, as "unseen".
    """
    found = find_splits(root)
    for default_dev, default_test in SPLIT_NAMES:
        if {"train", dev or default_dev, test or default_test} <= set(found):
            roles = {"train": "train", "dev": dev or default_dev, "test": test or default_test}
            break
    else:
        wanted = f" ({dev or 'dev'}, {test or 'test'})" if dev or test else ""
        raise MmlabError(f"{root} needs train, dev and test splits{wanted} (found: "
                         f"{', '.join(found) or 'none'}) (fix: add the missing .jsonl files, or "
                         "choose splits with --dev-split and --test-split; see datasets/README.md)")
    if UNSEEN in found and roles["test"] != UNSEEN and read_split(root, UNSEEN).labelled:
        roles["unseen"] = UNSEEN
    return roles


def frozen_image_encoder(root: Path, name: str = "small_cnn", weights: str | Path | None = None,
                         device: str = "auto", progress: bool = True,
                         icons: Path | None = None) -> tuple[nn.Module, int]:
    """The frozen image encoder for the pictures at `root`, and the picture size it wants.

    - With `weights` (a local file, e.g. torchvision's ImageNet ResNet-152), the encoder is used as
      those weights make it, at 224 px: the real Hateful Memes setting.
    - Otherwise it is pretrained on SynthMemes (cached after the first run), at 64 px: on the
      cells' colours and shapes for `grounding` pictures, else on which icon is drawn. A folder
      without SynthMemes metadata (real memes) borrows the icon encoder of the SynthMemes folder
      `icons` (default: the default dataset), with a warning: it knows icons, not real pictures.
    """
    if name not in IMAGE_ENCODERS:
        raise MmlabError(f"unknown image encoder {name!r} (fix: choose one of {', '.join(IMAGE_ENCODERS)})")
    if weights is not None:
        return image_encoder(name, weights).to(choose_device(device)), 224
    columns = MemeDataset(root, "train").frame.columns
    if "objects" in columns:
        return pretrain_cell_encoder(root, device=device, progress=progress).encoder, 64
    if "image_concept" not in columns:
        warnings.warn(f"{root.name} is not SynthMemes: its pictures go through an encoder pretrained "
                      "on SynthMemes icons at 64 px, which knows nothing of real pictures (fix: pass "
                      "--image-encoder resnet152 --weights FILE with ImageNet weights)", stacklevel=2)
        root = icons if icons is not None else ensure_synthmemes("memes")
    return pretrain_image_encoder(root, encoder=name, device=device, progress=progress).encoder, 64


def prepare(data: str | Path | None = None, task: str = "memes", *, n: int | None = None,
            dev_split: str | None = None, test_split: str | None = None, image_encoder: str = "small_cnn",
            weights: str | Path | None = None, device: str = "auto", progress: bool = True) -> Prepared:
    """Everything before training: the data, its splits, the frozen encoders and the features.

    `data` is a dataset folder; without one, the SynthMemes `task` (with `n` training memes, or
    the default size) is generated on first use.
    """
    sizes = {} if n is None else {"n": n}
    root = Path(data) if data is not None else ensure_synthmemes(task, **sizes)
    roles = pick_splits(root, dev_split, test_split)
    for split in roles.values():  # validate every split now, before minutes of pretraining
        MemeDataset(root, split)
    encoder, size = frozen_image_encoder(root, image_encoder, weights, device, progress)
    order = list(dict.fromkeys(roles.values()))  # train first: fastText and the scaling learn from it
    features = meme_features(root, tuple(order), encoder, image_size=size)
    return Prepared(root.name if data is not None else task, root, roles,
                    {role: features[split] for role, split in roles.items()}, image_encoder, size)


def train_model(prepared: Prepared, model: str = "classic", fusion: str = "concat", *, head: str = "mlp",
                hidden: int = 64, modality_dropout: float = 0.0, epochs: int = 20, lr: float = 1e-3,
                batch_size: int = 64, patience: int | None = 3, seed: int = 0, device: str = "auto",
                checkpoint_dir: Path | None = None, resume: bool = False,
                progress: bool = True) -> tuple[nn.Module, History]:
    """Build a model (see `mmlab.models.build_model`) and fit it on the prepared features.

    The best epoch by dev AUROC is kept (early stopping after `patience` epochs without
    improvement). The same seed on the same data and device gives the same numbers.
    """
    seed_everything(seed)  # the same initial weights, dropout and batches every time
    net = build_model(model, prepared.dims, fusion, head, hidden, modality_dropout)
    device = choose_device(device)
    history = fit(net, make_loader(prepared.features["train"], batch_size, True, device, seed=seed),
                  make_loader(prepared.features["dev"], 256, False, device), epochs=epochs, lr=lr,
                  device=device, patience=patience, monitor="val_auroc", checkpoint_dir=checkpoint_dir,
                  resume=resume, progress=progress)
    return net, history


def score(net: nn.Module, features: FeatureDataset, device: str = "auto") -> dict[str, float]:
    """Accuracy and AUROC of a trained model on a labelled split's features."""
    metrics = evaluate(net, make_loader(features, 256, False, device), device)
    return {"accuracy": metrics["accuracy"], "auroc": metrics["auroc"]}


def save_curves(history: History, path: Path) -> None:
    """Loss and accuracy per epoch, train and validation, as a PNG (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(8, 3))
    history.plot(x="epoch", y=["train_loss", "val_loss"], ax=loss_ax, title="loss", marker="o")
    history.plot(x="epoch", y=["train_accuracy", "val_accuracy", "val_auroc"], ax=acc_ax,
                 title="accuracy and AUROC", marker="o")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)


def train_run(data: str | Path | None = None, task: str = "memes", model: str = "classic",
              fusion: str = "concat", epochs: int = 20, seed: int = 0, device: str = "auto",
              out: str | Path | None = None, resume: bool = False, progress: bool = True,
              image_encoder: str = "small_cnn", weights: str | Path | None = None,
              dev_split: str | None = None, test_split: str | None = None) -> dict[str, Any]:
    """`mmlab train`: train and evaluate one model, write the run folder, return the metrics.

    The result holds accuracy and AUROC on the test split (None when it has no labels), on the
    dev split, and on the unseen test split when the folder has a labelled one.
    """
    started = time.perf_counter()
    label = fusion if model == "fusion" else model
    root = Path(data) if data is not None else None
    name = root.name if root is not None else task
    out = Path(out) if out is not None else Path("runs") / f"{name}-{label}-seed{seed}"
    if out.is_dir() and any(out.iterdir()) and not (out / "config.json").is_file():
        raise MmlabError(f"{out} exists and is not an mmlab run folder (fix: choose another --out)")
    build_model(model, {"image": 1, "text": 1}, fusion)  # a wrong name fails now, not after pretraining
    prepared = prepare(data, task, dev_split=dev_split, test_split=test_split, image_encoder=image_encoder,
                       weights=weights, device=device, progress=progress)
    torch_device = choose_device(device)
    config = {"data": str(prepared.root), "task": prepared.name, "model": model, "fusion": fusion,
              "image_encoder": image_encoder, "weights": None if weights is None else str(weights),
              "image_size": prepared.image_size, "epochs": epochs, "seed": seed, "device": str(torch_device),
              "splits": prepared.splits}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "config.json", config)

    fit_started = time.perf_counter()
    net, history = train_model(prepared, model, fusion, epochs=epochs, seed=seed, device=device,
                               checkpoint_dir=out / "checkpoints", resume=resume, progress=progress)
    train_seconds = time.perf_counter() - fit_started
    test = prepared.features["test"]
    write_submission(predict(net, make_loader(test, 256, False, torch_device), torch_device),
                     out / "predictions.csv")
    with atomic_path(out / "history.csv") as tmp:
        history.to_csv(tmp, index=False)
    save_curves(history, out / "curves.png")
    used_fusion = {"classic": "concat", "fusion": fusion}.get(model)  # None for a unimodal baseline
    result = {"task": prepared.name, "model": model, "fusion": used_fusion, "accuracy": None, "auroc": None}
    if "label" in test.entries:
        result.update(score(net, test, device))
    result.update({f"dev_{key}": value for key, value in score(net, prepared.features["dev"], device).items()})
    if "unseen" in prepared.features:
        unseen = score(net, prepared.features["unseen"], device)
        result.update(accuracy_unseen=unseen["accuracy"], auroc_unseen=unseen["auroc"])
    result.update({"train_seconds": round(train_seconds, 2),
                   "total_seconds": round(time.perf_counter() - started, 2), "epochs_run": len(history),
                   "best_epoch": history.attrs.get("best_epoch"), "n_train": len(prepared.features["train"]),
                   "n_test": len(test), "splits": prepared.splits, "device": str(torch_device),
                   "out": str(out)})
    atomic_write_json(out / "metrics.json", result)
    return result
