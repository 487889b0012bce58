"""Reproducibility and device choice, the two lines at the top of every notebook."""

from __future__ import annotations

import os
import random

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
