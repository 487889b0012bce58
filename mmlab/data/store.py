"""Dataset folders on disk: the Hateful Memes layout, written atomically, with a manifest.

Layout (the same as the real Hateful Memes, so one loader reads both)::

    DIR/
      img/00001.png ...          the pictures
      train.jsonl dev_seen.jsonl test_seen.jsonl dev_unseen.jsonl test_unseen.jsonl
                                 realistic memes: the challenge's phase-2 splits; clean tasks
                                 have phase 1's train.jsonl dev.jsonl test.jsonl
                                 one JSON object per line: {"id", "img", "text", "label", ...}
      manifest.json              what made the folder, and the SHA-256 of every file

The whole folder is first written under a temporary name beside DIR and renamed into place at
the end, so an interrupted run never leaves a half-written dataset at DIR. The manifest lets
`verify_manifest` tell a pristine generated dataset from one that was cut short or edited by hand.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mmlab.data import synthmemes
from mmlab.data.realistic import Knobs
from mmlab.errors import MmlabError
from mmlab.io import atomic_write_json, mmlab_home, sha256_bytes, sha256_file

MANIFEST = "manifest.json"
GENERATOR_VERSION = 2  # 2: realistic memes (the new default), clean memes as version 1 made them
# Split sizes as shares of the training split: the challenge's 8.5k / 0.5k / 1k, scaled to n.
SPLIT_FRACTIONS = {
    "clean": {"train": 1.0, "dev": 1 / 8, "test": 1 / 4},
    "realistic": {"train": 1.0, "dev_seen": 1 / 8, "test_seen": 1 / 4, "dev_unseen": 1 / 8,
                  "test_unseen": 1 / 4},
}


def synthmemes_config(task: str = "memes", n: int = 4000, seed: int = 0, size: int = 64,
                      negation: float | None = None, difficulty: str | None = None,
                      knobs: Knobs | None = None) -> dict[str, Any]:
    """The settings that define a SynthMemes dataset (checked, so mistakes fail early).

    `difficulty`: "realistic" (the default for memes) or "clean" (the only one of the other
    tasks). `negation`: the share of negated captions (default 0.2 realistic, 0 clean).
    `knobs` tune the realistic memes (default `Knobs()`).
    """
    if task not in synthmemes.TASKS:
        raise MmlabError(f"unknown task {task!r} (fix: choose one of {', '.join(synthmemes.TASKS)})")
    try:
        difficulty = synthmemes.resolve_difficulty(task, difficulty)
    except ValueError as error:
        raise MmlabError(f"{error} (fix: choose --difficulty clean, or the memes task)") from None
    negation = synthmemes.default_negation(difficulty) if negation is None else negation
    if n < 8:
        raise MmlabError(f"--n {n} is too small (fix: ask for at least 8 training memes)")
    if not 16 <= size <= 1024:
        raise MmlabError(f"--size {size} is out of range (fix: choose 16 to 1024 pixels)")
    if not 0.0 <= negation <= 1.0:
        raise MmlabError(f"negation {negation} is not a share (fix: choose 0.0 to 1.0)")
    config = {"task": task, "n": n, "seed": seed, "size": size, "negation": negation,
              "difficulty": difficulty}
    if difficulty == "realistic":
        knobs = knobs or Knobs()
        knobs.check()
        config["knobs"] = asdict(knobs)
    elif knobs is not None:
        raise MmlabError("knobs tune the realistic memes only (fix: leave them out, or choose "
                         "difficulty='realistic')")
    return {**config, "version": GENERATOR_VERSION}


def split_sizes(n: int, difficulty: str = "realistic") -> dict[str, int]:
    """Split sizes for `n` training memes: dev n/8, test n/4 (seen and unseen when realistic)."""
    fractions = SPLIT_FRACTIONS[difficulty]
    return {split: max(2, round(n * fraction)) for split, fraction in fractions.items()}


def _checksum(files: dict[str, str]) -> str:
    """One SHA-256 over every file's name and hash: the dataset's fingerprint."""
    lines = "".join(f"{name} {digest}\n" for name, digest in sorted(files.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def read_manifest(root: str | Path) -> dict[str, Any] | None:
    """The folder's manifest, or None when it has none (a learner's own data, say)."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {"files": {}, "checksum": "unreadable"}


def verify_manifest(root: str | Path) -> list[str]:
    """Problems found when comparing the folder with its manifest (empty list: it is intact)."""
    root = Path(root)
    manifest = read_manifest(root)
    if manifest is None:
        return []
    if manifest.get("checksum") != _checksum(manifest.get("files", {})):
        return [f"{MANIFEST} is damaged or was edited"]
    problems = []
    for name, digest in sorted(manifest["files"].items()):
        path = root / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif sha256_file(path) != digest:
            problems.append(f"{name} differs from when it was generated")
    return problems


def write_synthmemes(out: str | Path, task: str = "memes", n: int = 4000, seed: int = 0,
                     size: int = 64, negation: float | None = None, difficulty: str | None = None,
                     knobs: Knobs | None = None) -> Path:
    """Generate a SynthMemes dataset into folder `out`; reuse it if it is already there, intact.

    Returns `out`. A dataset made by an older generator version is made again (with a warning);
    refuses (with a clear error) to touch a folder that holds anything else.
    """
    config = synthmemes_config(task, n, seed, size, negation, difficulty, knobs)
    out = Path(out)
    if out.exists():
        manifest = read_manifest(out)
        old_config = (manifest or {}).get("generator", {}).get("config", {})
        if manifest is None:
            if out.is_dir() and not any(out.iterdir()):
                out.rmdir()  # an empty folder: fill it
            else:
                raise MmlabError(f"{out} already exists and is not a SynthMemes dataset "
                                 "(fix: choose another --out; mmlab never overwrites your files)")
        elif old_config.get("version") != GENERATOR_VERSION:
            warnings.warn(f"{out} was made by SynthMemes generator version "
                          f"{old_config.get('version')}; making it again with version "
                          f"{GENERATOR_VERSION}", stacklevel=2)
        elif old_config != config:
            raise MmlabError(f"{out} holds a SynthMemes dataset with other settings "
                             f"({_describe(manifest.get('generator', {}).get('config', {}))}) "
                             "(fix: choose another --out, or delete that folder)")
        elif problems := verify_manifest(out):
            raise MmlabError(f"{out} was changed after it was generated: {problems[0]} "
                             "(fix: delete the folder and generate it again)")
        else:
            return out  # the same dataset, intact: reuse it
    _generate_into(out, config)
    return out


def _describe(config: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in config.items() if k not in ("version", "knobs"))


def _generate_into(out: Path, config: dict[str, Any]) -> None:
    """Render every split into a temporary folder beside `out`, then rename it to `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "img").mkdir(parents=True)
    files: dict[str, str] = {}
    sizes = split_sizes(config["n"], config["difficulty"])
    knobs = Knobs(**config["knobs"]) if "knobs" in config else None
    width = max(5, len(str(sum(sizes.values()))))
    next_id = 1
    try:
        for split, count in sizes.items():
            rows = synthmemes.make_rows(config["task"], count, config["seed"], split,
                                        config["negation"], config["size"], config["difficulty"],
                                        knobs)
            lines = []
            for row in rows:
                row["id"] = next_id
                row["img"] = f"img/{next_id:0{width}d}.png"
                next_id += 1
                buffer = io.BytesIO()
                synthmemes.render(row, config["size"], config["seed"]).save(buffer, "PNG", compress_level=1)
                data = buffer.getvalue()
                (tmp / row["img"]).write_bytes(data)
                files[row["img"]] = sha256_bytes(data)
                first = {key: row.pop(key) for key in ("id", "img", "text", "label")}
                lines.append(json.dumps({**first, **row}) + "\n")
            text = "".join(lines).encode()
            (tmp / f"{split}.jsonl").write_bytes(text)
            files[f"{split}.jsonl"] = sha256_bytes(text)
        manifest = {"generator": {"name": "synthmemes", "config": config},
                    "splits": sizes, "files": files, "checksum": _checksum(files)}
        atomic_write_json(tmp / MANIFEST, manifest)  # written last: a folder without it is unfinished
        if out.exists():  # a dataset of an older generator version: replaced only now, when ready
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def dataset_checksum(root: str | Path) -> str:
    """A fingerprint of a dataset folder: changes whenever any split file or picture changes.

    Uses the manifest when there is one; otherwise hashes the split files and the picture names
    and sizes (cheap even for the real Hateful Memes).
    """
    root = Path(root)
    manifest = read_manifest(root)
    if manifest is not None:
        return manifest["checksum"]
    files = {p.name: sha256_file(p) for p in sorted(root.glob("*.jsonl"))}
    for picture in sorted((root / "img").glob("*")) if (root / "img").is_dir() else []:
        files[f"img/{picture.name}"] = str(picture.stat().st_size)
    return _checksum(files)


def synthmemes_path(task: str = "memes", n: int = 4000, seed: int = 0, size: int = 64,
                    negation: float | None = None, difficulty: str | None = None,
                    knobs: Knobs | None = None) -> Path:
    """Where `ensure_synthmemes` keeps this dataset under MMLAB_HOME.

    The name holds every setting that is not the default: "memes-n4000-seed0-64px" is the
    realistic default, "memes-n4000-seed0-64px-clean" the clean memes, "-noise0.2" a knob.
    """
    config = synthmemes_config(task, n, seed, size, negation, difficulty, knobs)
    name = f"{task}-n{n}-seed{seed}-{size}px"
    if config["negation"] != synthmemes.default_negation(config["difficulty"]):
        name += f"-neg{config['negation']:g}"
    if task == "memes" and config["difficulty"] == "clean":
        name += "-clean"
    defaults = asdict(Knobs())
    name += "".join(f"-{knob}{value:g}" for knob, value in config.get("knobs", {}).items()
                    if value != defaults[knob])
    return mmlab_home() / "synthmemes" / name


def ensure_synthmemes(task: str = "memes", n: int = 4000, seed: int = 0, size: int = 64,
                      negation: float | None = None, difficulty: str | None = None,
                      knobs: Knobs | None = None) -> Path:
    """The folder of this SynthMemes dataset under MMLAB_HOME, generating it on first use.

    `difficulty` and `knobs` as in `synthmemes_config`. A cached copy that is unfinished or was
    edited is generated afresh (with a warning).
    """
    out = synthmemes_path(task, n, seed, size, negation, difficulty, knobs)
    if out.exists() and (read_manifest(out) is None or verify_manifest(out)):
        warnings.warn(f"{out} is incomplete or was edited; generating it again", stacklevel=2)
        shutil.rmtree(out)
    return write_synthmemes(out, task, n, seed, size, negation, difficulty, knobs)
