"""Show that PyTorch's thread count changes a pretrained encoder, and what that does downstream.

    python scripts/thread_count_encoder.py        # about 70 s on 2 cores

In two fresh, temporary MMLAB_HOMEs, pretrains the `grounding` task's cell encoder on one thread
(as `mmlab` and the notebooks do) and on two threads, and prints how far apart the weights are.
Then, on one thread, trains tensor fusion on each encoder's features as the fusion study does for
seed 2 (learning rate 0.003) and prints its test AUROC. The same recipe and seed give other
weights on another thread count, because floating-point sums run in another order; this is why
notebooks/results/README.md asks for an empty MMLAB_HOME and one thread when regenerating.
"""

from __future__ import annotations

import os
import tempfile

import torch

from mmlab.data import ensure_synthmemes
from mmlab.experiment import prepare, score, train_model
from mmlab.pretrain import pretrain_cell_encoder
from mmlab.utils import limit_threads


def run(threads: int, home: str) -> tuple[dict[str, torch.Tensor], float]:
    """The cell encoder's weights when pretrained on `threads` threads, and tensor fusion's test AUROC."""
    os.environ["MMLAB_HOME"] = home
    limit_threads(threads)
    encoder = pretrain_cell_encoder(ensure_synthmemes("grounding"), progress=False).encoder  # cached
    limit_threads(1)  # the features and the fusion as in the study
    prepared = prepare(task="grounding", progress=False)  # finds the cached encoder
    net, _ = train_model(prepared, "fusion", "tensor", lr=0.003, seed=2, progress=False)
    return encoder.state_dict(), score(net, prepared.features["test"])["auroc"]


def main() -> None:
    with tempfile.TemporaryDirectory() as one_home, tempfile.TemporaryDirectory() as two_home:
        one, auroc_one = run(1, one_home)
        two, auroc_two = run(2, two_home)
    distance = max((one[name].float() - two[name].float()).abs().max().item() for name in one)
    print(f"cell encoder, one thread vs two: largest weight difference {distance:.3g}")
    print(f"tensor fusion on grounding, seed 2, test AUROC: {auroc_one:.3f} (one-thread encoder), "
          f"{auroc_two:.3f} (two-thread encoder)")


if __name__ == "__main__":
    main()
