"""MemeDataset and check_dataset: reading the Hateful Memes layout and every validation case."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import torch
from PIL import Image
from torchvision import transforms

from mmlab.data.memes import MemeDataset, check_dataset, find_splits
from mmlab.errors import DatasetError


def make_folder(root, rows_by_split, pictures=None):
    """Write a dataset folder: jsonl files from dicts (or raw strings) and small pictures."""
    (root / "img").mkdir(parents=True, exist_ok=True)
    for name, image in (pictures or {}).items():
        image.save(root / "img" / name)
    for split, rows in rows_by_split.items():
        lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
        (root / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    return root


def rgb(color=(200, 10, 10)):
    return Image.new("RGB", (8, 8), color)


def good_rows(n=4, labelled=True):
    rows = [{"id": i, "img": f"img/{i}.png", "text": f"caption {i}"} for i in range(n)]
    if labelled:
        for row in rows:
            row["label"] = row["id"] % 2
    return rows


@pytest.fixture
def folder(tmp_path):
    pictures = {f"{i}.png": rgb() for i in range(4)}
    return make_folder(tmp_path / "memes", {"train": good_rows()}, pictures)


def problem_in(root, split="train"):
    """The one-line error MemeDataset raises for `root`, as text."""
    with pytest.raises(DatasetError) as caught:
        MemeDataset(root, split)
    return str(caught.value)


def test_samples_are_dicts_with_tensors(folder):
    dataset = MemeDataset(folder)
    sample = dataset[1]
    assert set(sample) == {"id", "image", "text", "label"}
    assert sample["image"].shape == (3, 8, 8) and sample["image"].dtype == torch.float32
    assert sample == {**sample, "id": 1, "text": "caption 1", "label": 1}
    batch = torch.utils.data.default_collate([dataset[0], dataset[1]])
    assert batch["image"].shape == (2, 3, 8, 8) and batch["label"].tolist() == [0, 1]


def test_transforms_are_applied(folder):
    dataset = MemeDataset(folder, image_transform=transforms.Compose([transforms.Resize((16, 16)),
                                                                      transforms.ToTensor()]),
                          text_transform=str.upper)
    assert dataset[0]["image"].shape == (3, 16, 16)
    assert dataset[0]["text"] == "CAPTION 0"


def test_synthmemes_folder_reads_with_metadata(tiny_memes):
    dataset = MemeDataset(tiny_memes, "dev")
    assert len(dataset) == 6
    assert {"image_concept", "text_concept", "group"} <= set(dataset.frame.columns)
    assert dataset[0]["image"].shape == (3, 64, 64)


def test_plain_pandas_and_pillow_read_every_row(tiny_memes):
    for split in find_splits(tiny_memes):
        frame = pd.read_json(tiny_memes / f"{split}.jsonl", lines=True)
        for img in frame["img"]:
            Image.open(tiny_memes / img).load()
    assert find_splits(tiny_memes) == ["train", "dev", "test"]


def test_phase_two_names_and_unlabelled_test(tmp_path):
    pictures = {f"{i}.png": rgb() for i in range(4)}
    root = make_folder(tmp_path / "hm", {"dev_seen": good_rows(), "test_unseen": good_rows(labelled=False),
                                          "train": good_rows()}, pictures)
    assert find_splits(root) == ["train", "dev_seen", "test_unseen"]
    unlabelled = MemeDataset(root, "test_unseen")
    assert not unlabelled.labelled and "label" not in unlabelled[0]
    assert check_dataset(root).ok


def test_balance_undersamples_the_larger_class(tmp_path):
    rows = good_rows(10)
    for row in rows:
        row["label"] = int(row["id"] < 3)  # 3 of label 1, 7 of label 0
    root = make_folder(tmp_path / "b", {"train": rows}, {f"{i}.png": rgb() for i in range(10)})
    balanced = MemeDataset(root, balance=True, seed=1)
    assert balanced.frame["label"].value_counts().to_dict() == {0: 3, 1: 3}
    assert len(MemeDataset(root, limit=4)) == 4


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "CMYK"])
def test_other_picture_modes_become_rgb(tmp_path, mode):
    picture = Image.new("RGBA", (8, 8), (255, 0, 0, 0)).convert(mode) if mode != "RGBA" \
        else Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    ext = "jpg" if mode == "CMYK" else "png"
    rows = [{"id": 1, "img": f"img/x.{ext}", "text": "t", "label": 0}]
    root = make_folder(tmp_path / mode, {"train": rows}, {f"x.{ext}": picture})
    image = MemeDataset(root).image(0)
    assert image.mode == "RGB"
    if mode == "RGBA":  # fully transparent pixels become white, not black
        assert image.getpixel((0, 0)) == (255, 255, 255)


def test_extra_fields_are_kept_and_empty_text_warns(tmp_path):
    rows = good_rows(2)
    rows[0]["source"] = "my phone"
    rows[1]["text"] = ""
    root = make_folder(tmp_path / "e", {"train": rows}, {"0.png": rgb(), "1.png": rgb()})
    with pytest.warns(UserWarning, match="1 row\\(s\\) have empty text"):
        dataset = MemeDataset(root)
    assert dataset.frame.loc[0, "source"] == "my phone"
    assert dataset[1]["text"] == ""


# --- every validation case gives file, line, field and a fix ---------------------------------


def test_missing_folder(tmp_path):
    message = problem_in(tmp_path / "nowhere")
    assert "dataset folder not found" in message and "fix:" in message


def test_missing_split_lists_the_splits_found(folder):
    message = problem_in(folder, "dev")
    assert "dev.jsonl" in message and "splits here: train" in message


def test_malformed_json_line(folder):
    with open(folder / "train.jsonl", "a") as f:
        f.write('{"id": 9, "img": "img/0.png", "text": "oops"\n')
    message = problem_in(folder)
    assert "memes/train.jsonl line 5" in message and "not valid JSON" in message


def test_missing_field(tmp_path):
    rows = good_rows(2)
    del rows[1]["text"]
    root = make_folder(tmp_path / "m", {"train": rows}, {"0.png": rgb(), "1.png": rgb()})
    message = problem_in(root)
    assert "line 2, field 'text': missing field 'text'" in message


def test_label_must_be_0_or_1(tmp_path):
    rows = good_rows(2)
    rows[0]["label"] = "hateful"
    root = make_folder(tmp_path / "m", {"train": rows}, {"0.png": rgb(), "1.png": rgb()})
    assert "line 1, field 'label': label is 'hateful', expected 0 or 1" in problem_in(root)


def test_label_missing_in_a_labelled_split(tmp_path):
    rows = good_rows(2)
    del rows[1]["label"]
    root = make_folder(tmp_path / "m", {"train": rows}, {"0.png": rgb(), "1.png": rgb()})
    assert "line 2, field 'label'" in problem_in(root)


def test_missing_picture(tmp_path):
    root = make_folder(tmp_path / "m", {"train": good_rows(2)}, {"0.png": rgb()})
    assert "line 2, field 'img': picture 'img/1.png' not found" in problem_in(root)


def test_picture_that_is_not_an_image(folder):
    (folder / "img" / "2.png").write_text("this is not a png")
    report = check_dataset(folder)
    assert not report.ok
    assert "line 3, field 'img': picture 'img/2.png' is not a readable image" in str(report.problems[0])
    with pytest.raises(DatasetError, match="line 3"):
        MemeDataset(folder)[2]


def test_img_path_escaping_the_folder(tmp_path):
    outside = tmp_path / "secret.png"
    rgb().save(outside)
    rows = good_rows(1)
    rows[0]["img"] = "../secret.png"
    root = make_folder(tmp_path / "m", {"train": rows})
    assert "leads outside the dataset folder" in problem_in(root)
    rows[0]["img"] = str(outside)  # an absolute path escapes too
    root = make_folder(tmp_path / "m2", {"train": rows})
    assert "leads outside the dataset folder" in problem_in(root)


def test_duplicate_ids(tmp_path):
    rows = good_rows(3)
    rows[2]["id"] = 0
    root = make_folder(tmp_path / "m", {"train": rows}, {f"{i}.png": rgb() for i in range(3)})
    assert "line 3, field 'id': duplicate id 0 (first on line 1)" in problem_in(root)


def test_check_collects_every_problem_and_counts(folder):
    with open(folder / "train.jsonl", "a") as f:
        f.write("not json\n")
        f.write(json.dumps({"id": 7, "img": "img/0.png", "text": "x", "label": 3}) + "\n")
    report = check_dataset(folder)
    assert len(report.problems) == 2
    assert report.counts["train"] == {"rows": 4, "label_0": 2, "label_1": 2}
    message = problem_in(folder)
    assert "1 more problem(s): run `mmlab check" in message


def test_check_notices_an_edited_synthmemes_folder(tiny_memes, tmp_path):
    copy = shutil.copytree(tiny_memes, tmp_path / "copy")
    assert check_dataset(copy).ok
    Image.new("RGB", (64, 64)).save(copy / "img" / "00003.png")
    report = check_dataset(copy)
    assert [str(p) for p in report.problems] == [
        "copy/manifest.json: img/00003.png differs from when it was generated (fix: regenerate the "
        "dataset with `mmlab data`, or delete manifest.json if you edited it on purpose)"]


def test_pictures_are_decoded_once_as_uint8(tiny_memes):
    dataset = MemeDataset(tiny_memes, "test")
    pictures = dataset.pictures()
    assert pictures.shape == (len(dataset), 3, 64, 64) and pictures.dtype == torch.uint8
    first = (dataset[0]["image"] * 255).round().to(torch.uint8)  # ToTensor: float in [0, 1]
    assert torch.equal(pictures[0], first)
    assert dataset.pictures(size=16).shape == (len(dataset), 3, 16, 16)


def test_a_byte_order_mark_is_read_and_an_empty_train_split_is_a_problem(tiny_memes, tmp_path):
    folder = shutil.copytree(tiny_memes, tmp_path / "bom")
    (folder / "manifest.json").unlink()
    text = (folder / "dev.jsonl").read_text(encoding="utf-8")
    (folder / "dev.jsonl").write_text("\ufeff" + text, encoding="utf-8")  # as Windows editors save it
    assert len(MemeDataset(folder, "dev")) == len(text.splitlines())
    assert check_dataset(folder).ok
    (folder / "train.jsonl").write_text("")
    report = check_dataset(folder)
    assert not report.ok and "training split has no rows" in str(report.problems[0])


def test_folders_shaped_like_the_real_release_check_clean(real_phase_1, real_phase_2):
    for folder in (real_phase_1, real_phase_2):
        report = check_dataset(folder)
        assert report.ok, report.problems
    assert find_splits(real_phase_2) == ["train", "dev_seen", "test_seen", "dev_unseen", "test_unseen"]
    unlabelled = MemeDataset(real_phase_1, "test")
    assert not unlabelled.labelled and "label" not in unlabelled[0]
    assert unlabelled.pictures(size=32).shape == (len(unlabelled), 3, 32, 32)


def test_the_default_transform_is_torchvisions_to_tensor(tiny_memes):
    from mmlab.data.memes import to_tensor

    picture = MemeDataset(tiny_memes, "dev").image(0)
    assert torch.equal(to_tensor(picture), transforms.ToTensor()(picture))
