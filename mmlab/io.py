"""Where mmlab keeps files, and how it writes them safely.

- `mmlab_home()` is the folder for generated datasets and cached encoders: `$MMLAB_HOME` when set,
  else the repository's `datasets/` folder when mmlab runs from a checkout, else a per-user cache.
- `cache_file` names a cached result (features, pretrained weights) after a hash of its recipe,
  and `load_cached` reads one back, or says why it cannot and returns None (compute it again).
- Every file that matters (datasets, checkpoints, predictions) is written *atomically*: first to a
  temporary name in the same folder, then renamed into place. A rename within one folder is atomic
  on every operating system we support, so a crash or Ctrl-C leaves either the old file or the
  new one, never half of one that a later run would read as whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]


def mmlab_home() -> Path:
    """The folder for generated datasets and cached models (created if missing)."""
    if os.environ.get("MMLAB_HOME"):
        home = Path(os.environ["MMLAB_HOME"]).expanduser()
    elif (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "datasets").is_dir():
        home = REPO_ROOT / "datasets"  # running from a clone of the repository
    else:
        cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        home = Path(cache) / "mmlab"
    home.mkdir(parents=True, exist_ok=True)
    return home


def _new_file_mode() -> int:
    """The mode `open(path, "w")` would give a new file: 0o666 without the bits the umask removes."""
    umask = os.umask(0)  # reading the umask means setting it; put it straight back
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success rename it to `path`, else delete it.

    >>> with atomic_path("model.pt") as tmp:   # doctest: +SKIP
    ...     torch.save(state, tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _new_file_mode())  # mkstemp makes it private (0o600); give it a normal file's mode
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write `obj` as indented JSON to `path` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    return sha256_bytes(Path(path).read_bytes())


def cache_file(folder: str, name: str, recipe: dict[str, Any]) -> Path:
    """`MMLAB_HOME/<folder>/<name>-<key>.pt`: the key hashes `recipe` (say, the dataset's checksum
    and the settings), so a changed recipe gets another file and is computed again."""
    key = sha256_bytes(json.dumps(recipe, sort_keys=True).encode("utf-8"))[:16]
    return mmlab_home() / folder / f"{name}-{key}.pt"


def load_cached(path: Path) -> Any | None:
    """What `torch.save` wrote at `path`, or None when there is no such file or it cannot be
    read (with a warning: a damaged cache is not fatal, the caller computes it again)."""
    import torch

    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or foreign file can fail in many ways inside torch.load
        warnings.warn(f"{path} is unreadable ({type(error).__name__}); computing it again", stacklevel=3)
        return None
