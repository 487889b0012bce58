"""`MemeDataset`: read a meme dataset in the Hateful Memes layout, and check it thoroughly.

One loader serves SynthMemes, the real Hateful Memes and a learner's own memes, as long as the
folder looks like this::

    DIR/img/...                      pictures (any format Pillow reads)
    DIR/train.jsonl                  {"id": 42953, "img": "img/42953.png", "text": "...", "label": 0}
    DIR/dev.jsonl, DIR/test.jsonl    phase 1 names; phase 2 uses dev_seen, test_seen,
                                     dev_unseen and test_unseen. Test files may have no labels.

Every row becomes a dict sample ``{"id", "image", "text", "label"}`` (no "label" in an
unlabelled split). Extra fields are kept in ``dataset.frame`` but nothing requires them.

Validation reports each problem with its file, line and field and how to fix it: a missing
folder or split file, a line that is not JSON, a missing field, a label that is not 0 or 1, a
picture that is missing or not an image, an ``img`` path that leaves the folder, duplicate ids.
"""

from __future__ import annotations

import json
import random
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from mmlab.errors import DatasetError

KNOWN_SPLITS = ("train", "dev", "test", "dev_seen", "test_seen", "dev_unseen", "test_unseen")
REQUIRED_FIELDS = ("id", "img", "text")


@dataclass
class Problem:
    """One thing wrong with a dataset folder."""

    message: str
    fix: str
    file: str | None = None
    line: int | None = None
    field: str | None = None

    def as_error(self) -> DatasetError:
        return DatasetError(self.message, file=self.file, line=self.line, field=self.field, fix=self.fix)

    def __str__(self) -> str:
        return str(self.as_error())


@dataclass
class SplitRows:
    """The rows of one split file that passed validation, and the problems found."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # line number of each row, for messages
    problems: list[Problem] = field(default_factory=list)
    empty_text_lines: list[int] = field(default_factory=list)

    @property
    def labelled(self) -> bool:
        return any("label" in row for row in self.rows)


def find_splits(root: str | Path) -> list[str]:
    """The split names in `root` (from its `*.jsonl` files), known names first."""
    names = [p.stem for p in Path(root).glob("*.jsonl")]
    return sorted(names, key=lambda s: (KNOWN_SPLITS.index(s) if s in KNOWN_SPLITS else 99, s))


def _check_root(root: Path) -> None:
    if not root.exists():
        raise DatasetError("dataset folder not found", file=root,
                           fix="check the path, or make one with `mmlab data --out DIR`")
    if not root.is_dir():
        raise DatasetError("is a file, expected a dataset folder", file=root,
                           fix="pass the folder that holds train.jsonl and img/")


def read_split(root: str | Path, split: str) -> SplitRows:
    """Parse and validate `root/<split>.jsonl` without opening any picture."""
    root = Path(root)
    _check_root(root)
    path = root / f"{split}.jsonl"
    name = f"{root.name}/{path.name}"
    out = SplitRows()
    if not path.is_file():
        found = ", ".join(find_splits(root)) or "none"
        out.problems.append(Problem(f"split file not found (splits here: {found})", file=name,
                                    fix=f"add {path.name} or choose one of the splits found"))
        return out
    root_resolved = root.resolve()
    seen_ids: dict[Any, int] = {}
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: a byte-order mark (Windows editors) is skipped
    except UnicodeDecodeError:
        out.problems.append(Problem("is not UTF-8 text", file=name, fix="save the file as UTF-8"))
        return out
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue  # blank lines (a trailing newline, say) are harmless
        where = {"file": name, "line": number}
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            out.problems.append(Problem(f"not valid JSON ({error.msg} at column {error.colno})",
                                        fix="write one JSON object per line", **where))
            continue
        if not isinstance(row, dict):
            out.problems.append(Problem("expected a JSON object {...}",
                                        fix="write one JSON object per line", **where))
            continue
        missing = [f for f in REQUIRED_FIELDS if f not in row]
        if missing:
            out.problems.append(Problem(f"missing field '{missing[0]}'", field=missing[0],
                                        fix=f"every row needs {', '.join(REQUIRED_FIELDS)}", **where))
            continue
        problem = _check_row(row, root, root_resolved, seen_ids, number, where)
        if problem:
            out.problems.append(problem)
            continue
        seen_ids[row["id"]] = number
        if not row["text"].strip():
            out.empty_text_lines.append(number)
        out.rows.append(row)
        out.lines.append(number)
    if out.labelled:  # a labelled split needs a label on every row
        for row, number in zip(list(out.rows), list(out.lines)):
            if "label" not in row:
                out.problems.append(Problem("missing field 'label' in a labelled split", file=name,
                                            line=number, field="label", fix="add \"label\": 0 or 1"))
    return out


def _check_row(row: dict[str, Any], root: Path, root_resolved: Path, seen_ids: dict[Any, int],
               number: int, where: dict[str, Any]) -> Problem | None:
    """The first problem with one parsed row, or None."""
    if not isinstance(row["id"], (int, str)) or isinstance(row["id"], bool):
        return Problem(f"id {row['id']!r} is not a number or string", field="id",
                       fix="use a unique number or string", **where)
    if row["id"] in seen_ids:
        return Problem(f"duplicate id {row['id']!r} (first on line {seen_ids[row['id']]})",
                       field="id", fix="give every row its own id", **where)
    if not isinstance(row["text"], str):
        return Problem(f"text is {type(row['text']).__name__}, expected a string", field="text",
                       fix='write the caption in quotes, e.g. "text": "hello"', **where)
    if "label" in row and (row["label"] not in (0, 1) or isinstance(row["label"], bool)):
        return Problem(f"label is {row['label']!r}, expected 0 or 1", field="label",
                       fix="use 1 for the positive class (hateful, mean) and 0 otherwise", **where)
    img = row["img"]
    if not isinstance(img, str) or not img:
        return Problem("img must be a relative path such as \"img/42953.png\"", field="img",
                       fix="write the picture's path relative to the dataset folder", **where)
    picture = (root / img).resolve()
    if not picture.is_relative_to(root_resolved):
        return Problem(f"img path {img!r} leads outside the dataset folder", field="img",
                       fix="copy the picture into the dataset folder and use a relative path", **where)
    if not picture.is_file():
        return Problem(f"picture {img!r} not found", field="img",
                       fix="add the picture, or correct the path", **where)
    return None


def load_image(path: str | Path) -> Image.Image:
    """Open a picture as RGB. Transparent parts become white; grey and palette images become colour.

    Raises `DatasetError` when the file is not a picture Pillow can read.
    """
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                rgba = image.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                return Image.alpha_composite(white, rgba).convert("RGB")
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DatasetError(f"not a readable picture ({type(error).__name__})", file=path,
                           fix="replace it with a PNG or JPEG file") from None


def to_tensor(picture: Image.Image) -> torch.Tensor:
    """An RGB picture as a float tensor (3, H, W) in [0, 1], like torchvision's `ToTensor()`.

    Written out here so that reading a dataset does not import torchvision (about 180 MB).
    """
    return torch.from_numpy(np.array(picture)).permute(2, 0, 1).float() / 255  # (3, H, W)


class MemeDataset(Dataset):
    """Memes from a folder in the Hateful Memes layout, as dict samples.

    Args:
        root: the dataset folder (holds `img/` and the `*.jsonl` split files).
        split: "train", "dev", "test", or a phase-2 name such as "dev_seen".
        image_transform: applied to each RGB PIL picture; default `to_tensor`, which does what
            torchvision's `transforms.ToTensor()` does: a float tensor (3, H, W) in [0, 1].
        text_transform: applied to each caption string (default: none).
        balance: keep as many label-0 rows as label-1 rows, dropping the extra rows of the
            larger class at random (the DrivenData benchmark's `balance=True`).
        limit: keep only this many rows, chosen at random (for quick experiments).
        seed: the random seed for `balance` and `limit`.

    `dataset[i]` is ``{"id", "image", "text", "label"}``; `dataset.frame` is every row, with
    any extra fields, as a pandas DataFrame.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        image_transform: Callable[[Image.Image], Any] | None = None,
        text_transform: Callable[[str], Any] | None = None,
        balance: bool = False,
        limit: int | None = None,
        seed: int = 0,
    ) -> None:
        self.root = Path(root)
        self.split = split
        parsed = read_split(self.root, split)
        if parsed.problems:
            problem, more = parsed.problems[0], len(parsed.problems) - 1
            fix = problem.fix + (f"; {more} more problem(s): run `mmlab check {self.root}`" if more else "")
            raise DatasetError(problem.message, file=problem.file, line=problem.line,
                               field=problem.field, fix=fix)
        if parsed.empty_text_lines:
            lines = parsed.empty_text_lines
            warnings.warn(f"{self.root.name}/{split}.jsonl: {len(lines)} row(s) have empty text "
                          f"(first on line {lines[0]}); they are used with an empty caption",
                          stacklevel=2)
        rows, lines = parsed.rows, parsed.lines
        self.labelled = parsed.labelled
        rng = random.Random(seed)
        keep = list(range(len(rows)))
        if balance and self.labelled:
            by_label = {0: [i for i in keep if rows[i]["label"] == 0], 1: [i for i in keep if rows[i]["label"] == 1]}
            smaller = min(len(by_label[0]), len(by_label[1]))
            keep = sorted(rng.sample(by_label[0], smaller) + rng.sample(by_label[1], smaller))
        if limit is not None and limit < len(keep):
            keep = sorted(rng.sample(keep, limit))
        self.frame = pd.DataFrame([rows[i] for i in keep])
        self._lines = [lines[i] for i in keep]
        self.image_transform = image_transform if image_transform is not None else to_tensor
        self.text_transform = text_transform

    def __len__(self) -> int:
        return len(self.frame)

    def image(self, index: int) -> Image.Image:
        """The RGB picture of row `index`, before any transform."""
        img = self.frame["img"].iloc[index]
        try:
            return load_image(self.root / img)
        except DatasetError as error:
            raise DatasetError(f"picture {img!r} is not a readable image",
                               file=f"{self.root.name}/{self.split}.jsonl", line=self._lines[index],
                               field="img", fix=error.fix) from None

    def pictures(self, size: int | None = None, progress: bool = False) -> torch.Tensor:
        """Every picture of the split, decoded once, as a uint8 tensor (N, 3, H, W).

        Decoding PNG files is the slow part of an epoch on a CPU; keeping the decoded pictures
        (4,000 pictures of 64x64 px take 49 MB as uint8, four times that as floats) makes each
        later pass pure arithmetic. With `size`, each picture is resized to `size` x `size`;
        without, the pictures must share one size.
        """
        pictures = []
        for index in tqdm(range(len(self)), desc="loading pictures", disable=not progress, leave=False):
            picture = self.image(index)
            if size is not None and picture.size != (size, size):
                picture = picture.resize((size, size), Image.Resampling.BILINEAR)
            pictures.append(np.asarray(picture))  # (H, W, 3) uint8
        shapes = {p.shape for p in pictures}
        if len(shapes) > 1:
            raise DatasetError(f"pictures have {len(shapes)} different sizes",
                               file=f"{self.root.name}/{self.split}.jsonl",
                               fix="pass size=... to resize them all to one size")
        if not pictures:
            return torch.zeros(0, 3, size or 0, size or 0, dtype=torch.uint8)
        return torch.from_numpy(np.stack(pictures)).permute(0, 3, 1, 2).contiguous()  # (N, 3, H, W)

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self.frame.iloc[index]
        text = row["text"]
        sample = {
            "id": row["id"].item() if hasattr(row["id"], "item") else row["id"],
            "image": self.image_transform(self.image(index)),
            "text": self.text_transform(text) if self.text_transform else text,
        }
        if self.labelled:
            sample["label"] = int(row["label"])
        return sample

    def __repr__(self) -> str:
        counts = self.frame["label"].value_counts().to_dict() if self.labelled else "unlabelled"
        return f"MemeDataset({self.root.name!r}, split={self.split!r}, rows={len(self)}, labels={counts})"


@dataclass
class CheckReport:
    """What `check_dataset` found: per-split counts and every problem."""

    root: Path
    counts: dict[str, dict[str, int]]
    problems: list[Problem]
    warnings: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def table(self) -> pd.DataFrame:
        """Counts per split (rows, label 0, label 1, share of label 1) as a DataFrame."""
        return pd.DataFrame.from_dict(self.counts, orient="index")


def check_dataset(root: str | Path, check_images: bool = True) -> CheckReport:
    """Validate every split of a dataset folder, opening every picture when `check_images`.

    Never raises for problems in the data: they are all collected in the report.
    """
    from mmlab.data.store import verify_manifest

    root = Path(root)
    _check_root(root)
    splits = find_splits(root)
    problems: list[Problem] = []
    notes: list[str] = []
    counts: dict[str, dict[str, int]] = {}
    if not splits:
        problems.append(Problem("no split files (*.jsonl) found", file=root.name,
                                fix="add train.jsonl, dev.jsonl and test.jsonl (see datasets/README.md)"))
    for split in splits:
        parsed = read_split(root, split)
        problems.extend(parsed.problems)
        if check_images:
            for row, number in zip(parsed.rows, parsed.lines):
                try:
                    load_image(root / row["img"])
                except DatasetError as error:
                    problems.append(Problem(f"picture {row['img']!r} is not a readable image",
                                            file=f"{root.name}/{split}.jsonl", line=number,
                                            field="img", fix=error.fix))
        if parsed.empty_text_lines:
            notes.append(f"{split}.jsonl: {len(parsed.empty_text_lines)} row(s) with empty text "
                         f"(first on line {parsed.empty_text_lines[0]})")
        labels = [row["label"] for row in parsed.rows if "label" in row]
        counts[split] = {"rows": len(parsed.rows), "label_0": labels.count(0), "label_1": labels.count(1)}
        if split == "train" and not parsed.rows and not parsed.problems:
            problems.append(Problem("the training split has no rows", file=f"{root.name}/train.jsonl",
                                    fix="add one JSON object per line for each training meme"))
    for problem in verify_manifest(root):  # after the row problems, which say more
        problems.append(Problem(problem, file=f"{root.name}/manifest.json",
                                fix="regenerate the dataset with `mmlab data`, or delete manifest.json "
                                    "if you edited it on purpose"))
    return CheckReport(root, counts, problems, notes)
