"""mmlab: a hands-on kit for learning multimodal deep learning.

One pipeline, one module per step; the notebooks import their plumbing from here
(the notebook that teaches each module in brackets):

    mmlab.data          SynthMemes, MemeDataset (the Hateful Memes layout), checks         [00]
    mmlab.data.scenes   shapes and icons with captions that describe them                  [05]
    mmlab.data.vqa      questions and answers about the scenes                             [07]
    mmlab.encoders      image and text encoders -> EncoderOutput(tokens, pooled, mask)     [01]
    mmlab.pretrain      encoders pretrained on unimodal labels, cached                     [01]
    mmlab.features      frozen features of every split, cached, standardised              [01]
    mmlab.attention     attention from scratch: dot products, heads, cross-attention       [02]
    mmlab.grounding     a caption's query attending over a picture's cells                 [02]
    mmlab.fusion        every fusion strategy behind one interface, and the registry       [03]
    mmlab.models        encoders -> fusion -> head: MultimodalClassifier                   [03, 04]
    mmlab.train         the one training loop (fit), evaluate, predict                     [04]
    mmlab.experiment    data -> features -> model -> fit -> results (`mmlab train`)        [04]
    mmlab.compare       the fusion study: tuned per strategy, seeds, intervals             [03]
    mmlab.contrastive   CLIP: the symmetric contrastive loss, two towers, retrieval        [05]
    mmlab.explain       EMAP, Grad-CAM, word attributions, robustness, shortcuts           [03, 06]
    mmlab.vlm           a tiny vision-language model: image tokens -> decoder -> answers   [07]
    mmlab.viz, widgets  what the learner looks at
    mmlab.exercises     checkers for the notebooks' exercises
    mmlab.utils         seed_everything, limit_threads, choose_device
    mmlab.cli           the `mmlab` command: data, check, grid, train, fusions, compare
    mmlab.io, errors    where files go (MMLAB_HOME), atomic writes; MmlabError, one-line errors
"""

from mmlab.utils import choose_device, limit_threads, seed_everything

__version__ = "0.2.0"
__all__ = ["choose_device", "limit_threads", "seed_everything", "__version__"]
