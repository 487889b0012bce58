"""Text for the models: words to ids, and fastText sentence vectors.

A neural network reads numbers, not strings. Two ways to turn a caption into numbers:

- **Token ids** for encoders that learn their own word embeddings (bag of embeddings, GRU,
  Transformer, in `mmlab.encoders`):

      "What a LOVELY day!"  --simple_tokenize-->  ["what", "a", "lovely", "day"]
                            --Vocab.encode----->  [7, 4, 23, 5]

  A batch of captions of different lengths is padded with `<pad>` (id 0) to the longest one,
  and a boolean mask says which positions hold real words (True) and which are padding (False).
  Words never seen while building the vocabulary become `<unk>` (id 1).

- **fastText sentence vectors** (the Hateful Memes benchmark's text features): train word
  vectors on the training captions with fastText's CBOW model, then average the (normalised)
  word vectors of a caption into one vector of size `dim`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from mmlab.errors import MmlabError
from mmlab.io import atomic_path, atomic_write_json, mmlab_home

PAD, UNK = "<pad>", "<unk>"


class TokenBatch(NamedTuple):
    """A batch of captions as numbers: what every text encoder takes.

    `ids` (B, T) long, padded with 0; `mask` (B, T) bool, True where a real word is.
    Unpacks like a pair: `ids, mask = vocab.encode_batch(texts)`.
    """

    ids: torch.Tensor  # (B, T)
    mask: torch.Tensor  # (B, T)

# A word is a run of letters or digits ([^\W_] is \w without the underscore), possibly joined by
# apostrophes inside it: "don't" and "it's" stay whole, a quote 'like this' loses its marks.
WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def simple_tokenize(text: str) -> list[str]:
    """Lowercase `text` and split it into words: "Don't PANIC!!" -> ["don't", "panic"]."""
    text = text.lower().replace("\u2019", "'")  # a typographic apostrophe counts as "'"
    return WORD.findall(text)


class Vocab:
    """A word <-> id table. Id 0 is `<pad>`, id 1 is `<unk>`, then words by falling frequency.

    >>> vocab = Vocab.build(["a lovely day", "an awful day"])
    >>> vocab.encode("a lovely night")
    [3, 6, 1]
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        if list(tokens[:2]) != [PAD, UNK]:
            raise ValueError(f"a vocabulary starts with {PAD!r} and {UNK!r}, got {list(tokens[:2])}")
        self.tokens = list(tokens)  # id -> word
        self.index = {token: i for i, token in enumerate(self.tokens)}  # word -> id
        self.pad_id, self.unk_id = 0, 1

    @classmethod
    def build(cls, texts: Iterable[str], min_freq: int = 1, max_size: int | None = None) -> Vocab:
        """The vocabulary of `texts`: every word seen at least `min_freq` times.

        Words are ordered by falling count, ties alphabetically, so the same texts always give
        the same ids. `max_size` (counting `<pad>` and `<unk>`) keeps only the most frequent.
        """
        counts = Counter(token for text in texts for token in simple_tokenize(text))
        words = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
        if max_size is not None:
            words = words[: max(0, max_size - 2)]
        return cls([PAD, UNK, *words])

    def __len__(self) -> int:
        return len(self.tokens)

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens: {', '.join(self.tokens[:8])}, ...)"

    def encode(self, text: str) -> list[int]:
        """The ids of the words of `text` (unknown words -> `<unk>`)."""
        return [self.index.get(token, self.unk_id) for token in simple_tokenize(text)]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The words of `ids`, padding left out."""
        return [self.tokens[i] for i in ids if i != self.pad_id]

    def encode_batch(self, texts: Sequence[str], max_len: int | None = None) -> TokenBatch:
        """Ids and mask of a batch of captions, padded to the longest (at most `max_len` words).

        Returns a `TokenBatch`: `ids` (B, T) long and `mask` (B, T) bool, True at real words.
        A caption with no words gets one `<unk>`, so that every row has at least one real token
        (a row of padding only would leave attention and "the last word" undefined).
        """
        rows = [self.encode(text)[:max_len] or [self.unk_id] for text in texts]
        longest = max((len(row) for row in rows), default=1)
        ids = torch.full((len(rows), longest), self.pad_id, dtype=torch.long)  # (B, T)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask = ids != self.pad_id  # (B, T)
        return TokenBatch(ids, mask)

    def save(self, path: str | Path) -> None:
        """Write the vocabulary as JSON (atomically)."""
        atomic_write_json(path, {"tokens": self.tokens})

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        """Read a vocabulary written by `save`."""
        try:
            return cls(json.loads(Path(path).read_text(encoding="utf-8"))["tokens"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise MmlabError(f"{path}: not a vocabulary file ({type(error).__name__}: {error}) "
                             "(fix: pass a file written by Vocab.save)") from None


# ---------------------------------------------------------------------------------------------
# fastText sentence vectors

FASTTEXT_VERSION = 1  # bump when the training recipe below changes, so old caches are not reused


def fasttext_settings(dim: int = 64, epoch: int = 5, min_count: int = 1, lr: float = 0.05) -> dict[str, Any]:
    """The settings `train_fasttext` passes to fastText (and hashes into the cache key).

    CBOW as in the Hateful Memes benchmark, with fastText's default 5 epochs (on the clean
    SynthMemes captions, a linear probe on the sentence vectors told their 8 concepts apart less
    well after 10 to 100 epochs than after 5; notebook 01 probes them on the realistic captions).
    One thread makes the result deterministic (fastText always seeds with 0).
    Subwords of 3 to 6 letters give unseen words a vector; a small hash table (`bucket`) keeps
    the model file to a few MB instead of fastText's default 800 MB.
    """
    return {"model": "cbow", "dim": dim, "epoch": epoch, "minCount": min_count, "lr": lr,
            "minn": 3, "maxn": 6, "bucket": 20_000, "thread": 1, "verbose": 0}


def _clean_line(text: str) -> str:
    """One caption as one line of fastText input: lowercase words separated by single spaces."""
    return " ".join(simple_tokenize(text))


def train_fasttext(texts: Sequence[str], dim: int = 64, epoch: int = 5, min_count: int = 1,
                   lr: float = 0.05, cache_dir: str | Path | None = None) -> Any:
    """Train fastText CBOW word vectors on `texts` (the *training* captions only), with a cache.

    The model is saved under `cache_dir` (default `MMLAB_HOME/fasttext`) in a file named by a
    hash of the texts and the settings, so the same call loads it instead of training again.
    The classic benchmark recipe uses `dim=150`. Returns a `fasttext` model; turn captions into
    vectors with `sentence_vectors`.
    """
    import fasttext  # imported here: only this function needs the compiled library

    settings = fasttext_settings(dim, epoch, min_count, lr)
    lines = [_clean_line(text) for text in texts]
    recipe = json.dumps({"version": FASTTEXT_VERSION, "settings": settings, "texts": lines})
    key = hashlib.sha256(recipe.encode("utf-8")).hexdigest()[:16]
    folder = Path(cache_dir) if cache_dir is not None else mmlab_home() / "fasttext"
    path = folder / f"cbow-{dim}d-{key}.bin"
    if path.is_file():
        return fasttext.load_model(str(path))
    folder.mkdir(parents=True, exist_ok=True)
    # fastText reads its training text from a file: one caption per line ("\n", a real newline).
    fd, corpus = tempfile.mkstemp(prefix=".captions-", suffix=".txt", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write("".join(line + "\n" for line in lines))
        model = fasttext.train_unsupervised(input=corpus, **settings)
    finally:
        os.unlink(corpus)
    with atomic_path(path) as tmp:
        model.save_model(str(tmp))
    return model


def sentence_vectors(model: Any, texts: Sequence[str]) -> torch.Tensor:
    """fastText sentence vectors of `texts`: a float tensor (B, dim).

    Each is the mean of the caption's word vectors, each word vector first divided by its norm.
    """
    vectors = [model.get_sentence_vector(_clean_line(text)) for text in texts]
    if not vectors:
        return torch.zeros(0, model.get_dimension())
    return torch.from_numpy(np.stack(vectors))  # (B, dim)
