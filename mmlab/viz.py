"""Small plotting helpers: what the learner looks at.

Each function does one visible thing and returns the matplotlib figure, so a notebook can show
it and a test can check it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch


def meme_grid(dataset, indices: Sequence[int] | None = None, n: int = 16, ncol: int = 8,
              size: int | None = None) -> torch.Tensor:
    """A (3, H, W) tensor of memes side by side, made with torchvision's `make_grid`.

    Pictures of other sizes than the first (real memes come in every size) are resized to the
    first one's size, or to `size` x `size` when given.
    """
    from torchvision.transforms.functional import resize  # here: torchvision costs ~180 MB to import
    from torchvision.utils import make_grid

    indices = list(indices) if indices is not None else list(range(min(n, len(dataset))))
    images = [dataset[i]["image"] for i in indices]  # each (3, H_i, W_i)
    shape = [size, size] if size is not None else list(images[0].shape[-2:])
    images = torch.stack([resize(image, shape, antialias=True) if list(image.shape[-2:]) != shape else image
                          for image in images])  # (N, 3, H, W)
    return make_grid(images, nrow=ncol, padding=2, pad_value=1.0)


def show_memes(dataset, indices: Sequence[int] | None = None, n: int = 8, ncol: int = 4,
               titles: bool = True, scale: float = 1.6):
    """Plot memes in a grid with their caption and label underneath; returns the figure."""
    import matplotlib.pyplot as plt

    indices = list(indices) if indices is not None else list(range(min(n, len(dataset))))
    nrow = (len(indices) + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(ncol * scale, nrow * scale * 1.25), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, index in zip(axes.flat, indices):
        sample = dataset[index]
        ax.imshow(sample["image"].permute(1, 2, 0).numpy(), interpolation="nearest")  # (H, W, 3)
        if titles:
            label = f"label {sample['label']}" if "label" in sample else "no label"
            ax.set_title(f"{sample['text']}\n{label}", fontsize=7)
    fig.tight_layout()
    return fig


def save_meme_grid(dataset, path: str | Path, n: int = 32, ncol: int = 8, size: int = 128) -> Path:
    """Save the first `n` memes of `dataset`, each at most `size` px, as one PNG (written atomically)."""
    from torchvision.utils import save_image

    from mmlab.io import atomic_path

    first = dataset[0]["image"]
    grid = meme_grid(dataset, n=n, ncol=ncol, size=min(size, max(first.shape[-2:])))
    path = Path(path)
    with atomic_path(path) as tmp:
        save_image(grid, tmp, format="png")
    return path

