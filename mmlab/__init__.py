"""mmlab: a hands-on kit for learning multimodal deep learning.

One pipeline, one module per step; the notebooks import their plumbing from here:

    mmlab.data         SynthMemes generator, MemeDataset (Hateful Memes layout), checks  (notebook 00)
    mmlab.data.scenes  pictures of shapes and icons with captions that describe them      (05)
    mmlab.encoders     image and text encoders; every one returns EncoderOutput(tokens, pooled, mask)  (01)
    mmlab.pretrain     pretraining encoders on unimodal labels, cached                     (01)
    mmlab.features     frozen features of every split, cached and standardised; FeatureDataset  (01)
    mmlab.attention    attention from scratch: scaled dot-product, multi-head, cross-attention  (02)
    mmlab.grounding    a caption's query attending over picture cells                      (02)
    mmlab.fusion       every fusion strategy behind one interface, and their registry      (03)
    mmlab.models       encoders -> fusion -> head: MultimodalClassifier, LanguageAndVisionConcat  (03, 04)
    mmlab.train        the one training loop (fit), evaluate, predict                       (04)
    mmlab.experiment   data -> features -> model -> fit -> results: what `mmlab train` runs  (04)
    mmlab.compare      the fusion study: seeds, intervals, tuned per strategy               (03)
    mmlab.explain      what a model relies on: EMAP                                          (03)
    mmlab.contrastive  CLIP: the symmetric contrastive loss, two towers, retrieval metrics  (05)
    mmlab.viz, mmlab.widgets   what the learner looks at
    mmlab.exercises    checkers for the notebooks' exercises
    mmlab.utils        seed_everything, limit_threads, choose_device
"""

from mmlab.utils import choose_device, limit_threads, seed_everything

__version__ = "0.2.0"
__all__ = ["choose_device", "limit_threads", "seed_everything", "__version__"]
