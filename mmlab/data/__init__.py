"""Data for mmlab: the SynthMemes generator and the Hateful-Memes-format loader."""

from mmlab.data.memes import MemeDataset, Problem, check_dataset, find_splits
from mmlab.data.store import (dataset_checksum, ensure_synthmemes, verify_manifest,
                              write_synthmemes)
from mmlab.data.synthmemes import TASKS

__all__ = ["MemeDataset", "Problem", "check_dataset", "find_splits", "dataset_checksum",
           "ensure_synthmemes", "verify_manifest", "write_synthmemes", "TASKS"]
