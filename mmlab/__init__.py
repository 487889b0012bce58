"""mmlab: a hands-on kit for learning multimodal deep learning.

The notebooks in `notebooks/` import their plumbing from here:

- `mmlab.data`: SynthMemes (synthetic memes) and `MemeDataset` (Hateful Memes layout).
- `mmlab.utils`: `seed_everything`, `choose_device`.
- `mmlab.exercises`: checkers for the notebooks' exercises.
- `mmlab.viz`: small plotting helpers.
"""

from mmlab.utils import choose_device, seed_everything

__version__ = "0.1.0"
__all__ = ["choose_device", "seed_everything", "__version__"]
