"""Tests of mmlab.train on a toy task small enough to train in a fraction of a second.

The toy task: 3x8x8 random "images" whose first channel is shifted up for label 1 and down for
label 0, so a linear model can learn it; the model takes the whole batch dict, like mmlab's.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import Dataset

from mmlab.errors import MmlabError
from mmlab.train import HISTORY_COLUMNS, evaluate, fit, make_loader, predict, scores, write_submission
from mmlab.utils import seed_everything


class ToyMemes(Dataset):
    """`n` dict samples {id, image (3, 8, 8), label}; the label is learnable from the image."""

    def __init__(self, n: int, seed: int, flip_labels: bool = False, string_ids: bool = False):
        generator = torch.Generator().manual_seed(seed)
        self.labels = torch.randint(0, 2, (n,), generator=generator)  # (n,)
        self.images = torch.randn(n, 3, 8, 8, generator=generator)  # (n, 3, 8, 8)
        self.images[:, 0] += (2 * self.labels - 1).float().view(n, 1, 1)  # +1 for label 1, -1 for 0
        if flip_labels:
            self.labels = 1 - self.labels
        self.ids = [f"m{i}" for i in range(n)] if string_ids else list(range(100, 100 + n))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        return {"id": self.ids[index], "image": self.images[index], "label": int(self.labels[index])}


class TinyModel(nn.Module):
    """Batch dict in, logits (B, 2) out."""

    def __init__(self, hidden: int = 8):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def forward(self, batch: dict) -> torch.Tensor:
        return self.net(batch["image"])  # (B, 2)


class LogitsAsImage(nn.Module):
    """Returns the batch's "image" as the logits, to check metrics on hand-made numbers."""

    def forward(self, batch: dict) -> torch.Tensor:
        return batch["image"]


class HandMade(Dataset):
    def __init__(self, logits: list[list[float]], labels: list[int]):
        self.logits, self.labels = torch.tensor(logits), labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        return {"id": index, "image": self.logits[index], "label": self.labels[index]}


def toy_loaders(seed: int = 0, flip_val: bool = False):
    train = make_loader(ToyMemes(96, seed=1), batch_size=16, shuffle=True, device="cpu", seed=seed)
    val = make_loader(ToyMemes(32, seed=2, flip_labels=flip_val), batch_size=16, shuffle=False, device="cpu")
    return train, val


def tmp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_make_loader_is_reproducible_and_does_not_pin_on_cpu():
    def first_ids(seed: int) -> list[int]:
        loader = make_loader(ToyMemes(40, seed=0), batch_size=8, shuffle=True, device="cpu", seed=seed)
        assert loader.pin_memory is False and loader.num_workers == 0
        return next(iter(loader))["id"].tolist()

    assert first_ids(3) == first_ids(3)
    assert first_ids(3) != first_ids(4)


def test_fit_learns_the_toy_task():
    seed_everything(0)
    train, val = toy_loaders()
    history = fit(TinyModel(), train, val, epochs=6, lr=1e-2, progress=True)
    assert list(history.columns) == HISTORY_COLUMNS
    assert history["epoch"].tolist() == [1, 2, 3, 4, 5, 6]
    assert history["train_loss"].iloc[-1] < 0.5 * history["train_loss"].iloc[0]
    assert history["val_accuracy"].max() >= 0.9
    assert history["val_auroc"].max() >= 0.95
    assert (history["seconds"] > 0).all()


def test_fit_without_validation_monitors_train_loss():
    seed_everything(0)
    train, _ = toy_loaders()
    history = fit(TinyModel(), train, epochs=2, lr=1e-2, progress=False)
    assert history.attrs["monitor"] == "train_loss"
    assert history["val_loss"].isna().all()


def test_evaluate_on_hand_made_logits():
    # proba = softmax(logits)[:, 1] is about 0.88, 0.12, 0.73, 0.27: predicted labels 1, 0, 1, 0.
    logits = [[0.0, 2.0], [2.0, 0.0], [0.0, 1.0], [1.0, 0.0]]
    labels = [1, 0, 0, 1]  # right, right, wrong, wrong
    loader = make_loader(HandMade(logits, labels), batch_size=3, shuffle=False, device="cpu")
    metrics = evaluate(LogitsAsImage(), loader, device="cpu")
    assert set(metrics) == {"loss", "accuracy", "auroc"}
    assert metrics["accuracy"] == 0.5
    assert metrics["auroc"] == pytest.approx(0.75)  # 3 of the 4 (positive, negative) pairs ordered right
    expected_loss = F.cross_entropy(torch.tensor(logits), torch.tensor(labels)).item()
    assert metrics["loss"] == pytest.approx(expected_loss)


def test_evaluate_gives_nan_auroc_for_one_class():
    loader = make_loader(HandMade([[0.0, 1.0], [1.0, 0.0]], [0, 0]), batch_size=2, shuffle=False, device="cpu")
    metrics = evaluate(LogitsAsImage(), loader, device="cpu")
    assert math.isnan(metrics["auroc"]) and metrics["accuracy"] == 0.5


def test_predict_and_write_submission(tmp_path):
    seed_everything(0)
    loader = make_loader(ToyMemes(20, seed=3, string_ids=True), batch_size=8, shuffle=False, device="cpu")
    frame = predict(TinyModel(), loader, device="cpu")
    assert list(frame.columns) == ["id", "proba", "label"]
    assert frame["id"].tolist() == [f"m{i}" for i in range(20)]
    assert frame["proba"].between(0, 1).all()
    assert (frame["label"] == (frame["proba"] > 0.5).astype(int)).all()

    path = write_submission(frame, tmp_path / "submission.csv")
    assert path.read_text().splitlines()[0] == "id,proba,label"
    assert pd.read_csv(path)["label"].tolist() == frame["label"].tolist()
    assert tmp_files(tmp_path) == []
    with pytest.raises(MmlabError):
        write_submission(frame.drop(columns="label"), tmp_path / "bad.csv")


def test_early_stopping_stops_when_patience_runs_out():
    seed_everything(0)
    model = TinyModel()
    train, val = toy_loaders()
    frozen = torch.optim.SGD(model.parameters(), lr=0.0)  # the val loss never improves after epoch 1
    history = fit(model, train, val, epochs=10, optimizer=frozen, monitor="val_loss", patience=2,
                  progress=False)
    assert history["epoch"].tolist() == [1, 2, 3]
    assert history.attrs["stopped_early"] and history.attrs["best_epoch"] == 1


def test_checkpoints_are_written_and_best_weights_restored(tmp_path):
    seed_everything(0)
    model = TinyModel()
    train, val = toy_loaders(flip_val=True)  # training makes the flipped validation set worse
    history = fit(model, train, val, epochs=4, lr=1e-2, monitor="val_loss", checkpoint_dir=tmp_path,
                  progress=False)
    best_epoch = int(history.loc[history["val_loss"].idxmin(), "epoch"])
    assert history.attrs["best_epoch"] == best_epoch < 4

    last = torch.load(tmp_path / "last.pt", weights_only=True)
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    assert last["epoch"] == 4 and len(last["history"]) == 4 and last["best_epoch"] == best_epoch
    weights = {name: value.cpu() for name, value in model.state_dict().items()}  # fit may have used a GPU
    for name, value in weights.items():
        assert torch.equal(value, best[name])
    assert not all(torch.equal(value, last["model"][name].cpu()) for name, value in weights.items())
    assert tmp_files(tmp_path) == []


def run_toy(folder: Path, resume: bool = False, stop_after: int | None = None, model_seed: int = 0):
    """Train TinyModel for 4 epochs with checkpoints in `folder`; return history and epochs run."""
    seed_everything(model_seed)
    model = TinyModel()
    train, val = toy_loaders()
    epochs_run = []

    def on_epoch_end(row: dict) -> None:
        epochs_run.append(row["epoch"])
        if row["epoch"] == stop_after:
            raise KeyboardInterrupt  # like Ctrl-C

    history = fit(model, train, val, epochs=4, lr=1e-2, checkpoint_dir=folder, resume=resume,
                  progress=False, on_epoch_end=on_epoch_end)
    return history, epochs_run


def test_resume_continues_an_interrupted_run(tmp_path):
    whole, _ = run_toy(tmp_path / "whole")

    with pytest.raises(KeyboardInterrupt):
        run_toy(tmp_path / "cut", stop_after=2)
    assert torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["epoch"] == 2
    # A different seed: the model's start and the global RNG differ, the checkpoint must win.
    resumed, epochs_run = run_toy(tmp_path / "cut", resume=True, model_seed=1)

    assert epochs_run == [3, 4]
    assert resumed["epoch"].tolist() == [1, 2, 3, 4]
    metrics = [c for c in HISTORY_COLUMNS if c != "seconds"]
    pd.testing.assert_frame_equal(resumed[metrics], whole[metrics])  # same numbers as without Ctrl-C
    assert tmp_files(tmp_path / "cut") == []


def test_resume_with_a_checkpoint_of_another_model_is_a_clear_error(tmp_path):
    train, val = toy_loaders()
    fit(TinyModel(hidden=8), train, val, epochs=1, checkpoint_dir=tmp_path, progress=False)
    with pytest.raises(MmlabError, match="drop --resume") as error:
        fit(TinyModel(hidden=5), train, val, epochs=2, checkpoint_dir=tmp_path, resume=True, progress=False)
    assert "\n" not in str(error.value)


def test_resume_needs_a_checkpoint_folder():
    train, val = toy_loaders()
    with pytest.raises(MmlabError, match="checkpoint"):
        fit(TinyModel(), train, val, epochs=1, resume=True, progress=False)


def test_scores_are_scikit_learns_accuracy_and_auroc():
    result = scores([1, 0, 0, 1], [0.9, 0.1, 0.7, 0.3])
    assert result == {"accuracy": 0.5, "auroc": 0.75}
    assert math.isnan(scores([1, 1], [0.2, 0.9])["auroc"])


class CellModel(nn.Module):
    """Logits for every 'cell': (B, 3 classes, 4 cells), from a per-cell linear layer."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(3, 3)

    def forward(self, batch: dict) -> torch.Tensor:
        return self.layer(batch["image"]).transpose(1, 2)  # (B, 4, 3) -> (B, 3, 4)


def test_fit_trains_models_with_many_classes_per_cell_with_a_one_cycle_schedule():
    from mmlab.features import FeatureDataset

    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (256, 4), generator=generator)  # (N, cells)
    noise = 0.1 * torch.randn(256, 4, 3, generator=generator)
    data = FeatureDataset(image=F.one_hot(labels, 3).float() + noise, label=labels)  # image (N, 4, 3)
    seed_everything(0)
    model = CellModel()
    history = fit(model, make_loader(data, 32, True, seed=0), make_loader(data, 64, False), epochs=8,
                  lr=0.1, schedule="one_cycle", monitor="val_accuracy", progress=False)
    assert history["train_accuracy"].iloc[-1] > 0.9  # accuracy counts every (example, cell) label
    assert math.isnan(history["val_auroc"].iloc[-1])  # AUROC only for two classes
    with pytest.raises(MmlabError, match="schedule"):
        fit(model, make_loader(data, 32, True), epochs=1, schedule="cosine", progress=False)


def test_a_custom_loss_sees_the_whole_batch():
    seen = []

    def loss_fn(logits, batch):
        seen.append(set(batch))
        return F.cross_entropy(logits, batch["label"].long()) + 0.0 * batch["image"].sum()

    train, val = toy_loaders()
    fit(TinyModel(), train, val, epochs=1, loss_fn=loss_fn, progress=False)
    assert seen and all({"id", "image", "label"} <= keys for keys in seen)


def test_labels_of_minus_100_count_nowhere():
    logits = [[0.0, 2.0], [2.0, 0.0], [0.0, 1.0]]
    loader = make_loader(HandMade(logits, [1, 0, -100]), batch_size=3, shuffle=False, device="cpu")
    metrics = evaluate(LogitsAsImage(), loader, device="cpu")
    assert metrics["accuracy"] == 1.0  # the third example is ignored, not wrong
    expected = F.cross_entropy(torch.tensor(logits[:2]), torch.tensor([1, 0])).item()
    assert metrics["loss"] == pytest.approx(expected)


def test_a_tie_on_a_saturated_score_goes_to_the_lower_validation_loss():
    from mmlab.train import improved

    best = {"val_auroc": 1.0, "val_loss": 0.30}
    assert improved({"val_auroc": 1.0, "val_loss": 0.20}, best, "val_auroc")
    assert not improved({"val_auroc": 1.0, "val_loss": 0.40}, best, "val_auroc")
    assert not improved({"val_auroc": 0.99, "val_loss": 0.01}, best, "val_auroc")
    assert improved({"val_loss": 0.2}, {"val_loss": 0.3}, "val_loss")
    assert improved({"val_auroc": 0.5}, {"val_auroc": math.nan}, "val_auroc")
