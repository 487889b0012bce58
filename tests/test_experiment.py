"""mmlab.experiment: the one pipeline from a dataset folder to results, as `mmlab train` runs it."""

from __future__ import annotations

import json
import shutil

import pytest

from mmlab.errors import MmlabError
from mmlab.experiment import frozen_image_encoder, pick_splits, prepare, score, train_model, train_run


def as_phase_2(source, out, unseen_labels: bool = True):
    """A copy of a train/dev/test folder under the real release's phase-2 split names."""
    out.mkdir()
    shutil.copytree(source / "img", out / "img")
    shutil.copy(source / "train.jsonl", out / "train.jsonl")
    for old, new in (("dev", "dev_seen"), ("test", "test_seen"), ("dev", "dev_unseen"), ("test", "test_unseen")):
        rows = [json.loads(line) for line in (source / f"{old}.jsonl").read_text().splitlines()]
        if new == "test_unseen" and not unseen_labels:
            rows = [{k: v for k, v in row.items() if k != "label"} for row in rows]
        (out / f"{new}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return out


def test_splits_are_found_for_both_phases_and_can_be_chosen(tiny_memes, tmp_path):
    assert pick_splits(tiny_memes) == {"train": "train", "dev": "dev", "test": "test"}
    phase_2 = as_phase_2(tiny_memes, tmp_path / "p2")
    assert pick_splits(phase_2) == {"train": "train", "dev": "dev_seen", "test": "test_seen",
                                    "unseen": "test_unseen"}
    assert pick_splits(phase_2, dev="dev_unseen", test="test_unseen") == {
        "train": "train", "dev": "dev_unseen", "test": "test_unseen"}
    unlabelled = as_phase_2(tiny_memes, tmp_path / "p2u", unseen_labels=False)
    assert "unseen" not in pick_splits(unlabelled)  # nothing to score it against
    with pytest.raises(MmlabError, match="--dev-split"):
        pick_splits(tiny_memes, dev="dev_unseen")


def test_prepare_then_train_a_model_from_the_registry(tiny_memes):
    prepared = prepare(tiny_memes, progress=False)
    assert prepared.dims == {"image": 64, "text": 64} and prepared.image_size == 64
    assert set(prepared.features) == {"train", "dev", "test"}
    net, history = train_model(prepared, "fusion", "cross_attention", epochs=2, progress=False)
    assert len(history) >= 1 and 0 <= score(net, prepared.features["test"])["accuracy"] <= 1
    again, _ = train_model(prepared, "fusion", "cross_attention", epochs=2, progress=False)
    for a, b in zip(net.state_dict().values(), again.state_dict().values()):
        assert a.equal(b)  # same seed, same data, same device: same numbers


def test_train_run_writes_a_run_folder_and_scores_the_unseen_split(tiny_memes, tmp_path):
    folder = as_phase_2(tiny_memes, tmp_path / "p2")
    out = tmp_path / "run"
    result = train_run(folder, epochs=2, out=out, progress=False)
    for key in ("task", "fusion", "model", "accuracy", "auroc", "dev_auroc", "accuracy_unseen",
                "auroc_unseen", "train_seconds", "n_train", "n_test"):
        assert key in result, key
    assert result["model"] == "classic" and result["fusion"] == "concat"
    for name in ("config.json", "metrics.json", "history.csv", "predictions.csv", "curves.png",
                 "checkpoints/best.pt", "checkpoints/last.pt"):
        assert (out / name).is_file(), name
    assert json.loads((out / "config.json").read_text())["splits"]["test"] == "test_seen"
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]


def test_unlabelled_test_split_still_gives_dev_metrics_and_predictions(tiny_memes, tmp_path):
    folder = as_phase_2(tiny_memes, tmp_path / "p2", unseen_labels=False)
    result = train_run(folder, epochs=1, out=tmp_path / "run", test_split="test_unseen", progress=False)
    assert result["accuracy"] is None and result["auroc"] is None
    assert 0 <= result["dev_auroc"] <= 1
    assert len((tmp_path / "run" / "predictions.csv").read_text().splitlines()) == 1 + result["n_test"]


def test_real_memes_without_synthmemes_metadata_get_a_warning_naming_the_fix(tiny_memes, tmp_path):
    plain = tmp_path / "plain"
    shutil.copytree(tiny_memes / "img", plain / "img")
    for split in ("train", "dev", "test"):
        rows = [json.loads(line) for line in (tiny_memes / f"{split}.jsonl").read_text().splitlines()]
        keep = [{k: row[k] for k in ("id", "img", "text", "label")} for row in rows]
        (plain / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in keep))
    with pytest.warns(UserWarning, match="--image-encoder resnet152 --weights"):
        encoder, size = frozen_image_encoder(plain, icons=tiny_memes, progress=False)
    assert size == 64 and not encoder.training
