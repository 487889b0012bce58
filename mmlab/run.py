"""`mmlab train`: the kit's main job, from a dataset folder to a run folder with every result.

    data (SynthMemes or a folder in the Hateful Memes layout)
      -> frozen image encoder (--image-encoder, --weights) and fastText
         -> standardised features                                 (see mmlab.features)
      -> a model chosen by --fusion (concat, image, text, or any    (see mmlab.models,
         strategy of the fusion zoo, fed pooled features)           mmlab.fusion)
      -> fit with validation every epoch, early stopping, checkpoints, --resume
      -> test metrics, predictions in the challenge's format, history and curves

The run folder holds `config.json`, `metrics.json`, `history.csv`, `predictions.csv`
(`id, proba, label`), `curves.png` and `checkpoints/` (`last.pt`, `best.pt`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from mmlab.data.memes import MemeDataset, find_splits
from mmlab.data.store import ensure_synthmemes
from mmlab.errors import MmlabError
from mmlab.io import atomic_path, atomic_write_json
from mmlab.models import MODELS, build_model
from mmlab.utils import choose_device, seed_everything


def _pick_splits(root: Path) -> tuple[str, str, str]:
    """(train, validation, test) split names: phase-1 names, else phase-2 "seen" ones."""
    found = find_splits(root)
    for val, test in (("dev", "test"), ("dev_seen", "test_seen")):
        if {"train", val, test} <= set(found):
            return "train", val, test
    raise MmlabError(f"{root} needs train, dev and test splits (found: {', '.join(found) or 'none'}) "
                     "(fix: add the missing .jsonl files; see datasets/README.md)")


def save_curves(history, path: Path) -> None:
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


def frozen_image_encoder(name: str = "small_cnn", weights: str | Path | None = None, device: str = "auto",
                         progress: bool = True) -> tuple[torch.nn.Module, int]:
    """The image encoder whose features `mmlab train` uses, and the picture size it wants.

    - With `weights` (a local file, e.g. torchvision's ImageNet ResNet-152), the encoder is used
      as those weights make it, at 224 px: the real Hateful Memes setting.
    - Without, it is pretrained on SynthMemes' picture concepts (cached after the first run), at
      64 px: random weights would give features that say nothing.
    """
    from mmlab.encoders import image_encoder
    from mmlab.pretrain import pretrain_image_encoder

    if weights is not None:
        return image_encoder(name, weights).to(choose_device(device)), 224
    pretrained = pretrain_image_encoder(ensure_synthmemes("memes"), encoder=name, device=device, progress=progress)
    return pretrained.encoder, 64


def train_run(data: str | Path | None = None, task: str = "memes", fusion: str = "concat", epochs: int = 20,
              seed: int = 0, device: str = "auto", out: str | Path | None = None, resume: bool = False,
              progress: bool = True, batch_size: int = 64, lr: float = 1e-3, image_encoder: str = "small_cnn",
              weights: str | Path | None = None) -> dict[str, Any]:
    """Train and evaluate one model; write the run folder; return the metrics dict.

    `image_encoder` ("small_cnn", "resnet18", "resnet152") and `weights` choose the frozen image
    encoder (see `frozen_image_encoder`).
    """
    from mmlab.encoders import IMAGE_ENCODERS
    from mmlab.features import build_feature_datasets
    from mmlab.train import evaluate, fit, make_loader, predict, write_submission

    if fusion not in MODELS:
        raise MmlabError(f"unknown fusion {fusion!r} (fix: choose one of {', '.join(MODELS)})")
    if image_encoder not in IMAGE_ENCODERS:
        raise MmlabError(f"unknown image encoder {image_encoder!r} (fix: choose one of {', '.join(IMAGE_ENCODERS)})")
    started = time.perf_counter()
    seed_everything(seed)
    torch_device = choose_device(device)
    root = Path(data) if data is not None else ensure_synthmemes(task)
    name = root.name if data is not None else task
    out = Path(out) if out is not None else Path("runs") / f"{name}-{fusion}-seed{seed}"
    if out.is_dir() and any(out.iterdir()) and not (out / "config.json").is_file():
        raise MmlabError(f"{out} exists and is not an mmlab run folder (fix: choose another --out)")
    splits = _pick_splits(root)
    for split in splits:  # validate every split now, before minutes of pretraining
        MemeDataset(root, split)

    encoder, image_size = frozen_image_encoder(image_encoder, weights, str(torch_device), progress)
    features = build_feature_datasets(root, encoder, splits, image_size=image_size)
    train_set, val_set, test_set = (features[s] for s in splits)
    model = build_model(fusion, train_set.text.shape[1], train_set.image.shape[1])
    config = {"data": str(root), "task": name, "fusion": fusion, "image_encoder": image_encoder,
              "weights": None if weights is None else str(weights), "image_size": image_size,
              "epochs": epochs, "seed": seed,
              "device": str(torch_device), "batch_size": batch_size, "lr": lr, "splits": list(splits)}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "config.json", config)

    fit_started = time.perf_counter()
    history = fit(model, make_loader(train_set, batch_size, True, torch_device, seed=seed),
                  make_loader(val_set, 256, False, torch_device), epochs=epochs, lr=lr, device=torch_device,
                  patience=3, monitor="val_auroc", checkpoint_dir=out / "checkpoints", resume=resume,
                  progress=progress)
    train_seconds = time.perf_counter() - fit_started
    test_loader = make_loader(test_set, 256, False, torch_device)
    metrics = evaluate(model, test_loader, device=torch_device) if test_set.label is not None else {}
    predictions = predict(model, test_loader, device=torch_device)
    write_submission(predictions, out / "predictions.csv")
    with atomic_path(out / "history.csv") as tmp:
        history.to_csv(tmp, index=False)
    save_curves(history, out / "curves.png")
    result = {"task": name, "fusion": fusion, "accuracy": metrics.get("accuracy"), "auroc": metrics.get("auroc"),
              "loss": metrics.get("loss"), "train_seconds": round(train_seconds, 2),
              "total_seconds": round(time.perf_counter() - started, 2), "epochs_run": len(history),
              "best_epoch": history.attrs.get("best_epoch"), "n_train": len(train_set), "n_test": len(test_set),
              "device": str(torch_device), "out": str(out)}
    atomic_write_json(out / "metrics.json", result)
    return result
