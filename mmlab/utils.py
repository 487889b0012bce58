"""Reproducibility, threads and devices: what the setup cell of every notebook calls.

- `seed_everything(seed)`: the same numbers on every rerun.
- `limit_threads()`: how many CPU threads PyTorch uses (one place decides it for the whole kit).
- `choose_device("auto")`: the GPU when there is one, else the CPU; `to_device` moves a batch.
"""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch

from mmlab.errors import MmlabError


def seed_everything(seed: int = 0) -> int:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) so that a rerun gives the same numbers.

    Also asks cuDNN for deterministic kernels. Returns the seed, for printing.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device too
    os.environ["PYTHONHASHSEED"] = str(seed)  # for subprocesses such as DataLoader workers
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    return seed


def choose_device(device: str | torch.device = "auto") -> torch.device:
    """Turn `"auto"`, `"cpu"` or `"cuda"` into a `torch.device`.

    `"auto"` picks CUDA when a GPU is present and the CPU otherwise. Asking for `"cuda"` on a
    machine without a GPU raises a clear error instead of failing later inside a model.
    """
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise MmlabError("--device cuda was asked for but PyTorch sees no GPU here "
                         "(fix: use --device auto or --device cpu)")
    if name != "cpu" and not name.startswith("cuda"):
        raise MmlabError(f"unknown device {name!r} (fix: use auto, cpu or cuda)")
    return torch.device(name)


def limit_threads(threads: int | None = None) -> int:
    """Set how many CPU threads PyTorch uses, and return that number.

    Default: `$MMLAB_THREADS` when set, else 1. Measured on a 2-core machine: the kit's small
    models ran fastest on one thread, and PyTorch's default (one thread per core it sees) made
    notebooks 3 to 7 times slower when the machine was busy, or on Binder, which gives about one
    CPU while PyTorch sees all the host's cores.
    """
    if threads is None:
        threads = int(os.environ.get("MMLAB_THREADS", "1"))
    torch.set_num_threads(max(1, threads))
    return torch.get_num_threads()


def to_device(batch: Any, device: str | torch.device) -> Any:
    """`batch` with every tensor in it moved to `device`.

    Tensors move; named tuples (`EncoderOutput`, `TokenBatch`) and dicts are rebuilt with their
    contents moved; anything else (a list of captions, an id) is returned as it is. Copies to a GPU
    are asynchronous (`non_blocking`), which pairs with pinned memory in `mmlab.train.make_loader`.
    """
    device = torch.device(device)
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=device.type == "cuda")
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a NamedTuple
        return type(batch)(*(to_device(value, device) for value in batch))
    if isinstance(batch, dict):
        return {key: to_device(value, device) for key, value in batch.items()}
    return batch
