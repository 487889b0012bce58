"""A tiny vision-language model (VLM) that captions pictures and answers questions about them.

Today's open VLMs (LLaVA, nanoVLM, SmolVLM) share one simple design, which this module builds at
toy size (under 1M parameters; notebook 07 trains it on a CPU in seconds):

    picture (B, 3, 64, 64)
      -> image encoder (the kit's SmallCNN)          cells   (B, 64, 64): an 8 x 8 grid, 64 features
      -> projector: pixel shuffle (optional)          (B, 64 / f^2, 64 f^2): f x f cells -> 1 token
                    + a linear layer                  image tokens (B, K, dim)
      -> a causal Transformer decoder reads
            [image tokens] <bos> question words <answer> answer words <eos>
         and predicts every next word                 logits (B, V, T) over the text positions

- **Image tokens.** The projector turns the encoder's cells into K "words" the decoder can read,
  with the decoder's width `dim`. Pixel shuffle (nanoVLM's name for it) stacks each f x f square
  of neighbouring cells into one token of f^2 times the features: fewer tokens, so a shorter
  sequence and faster attention, and no information thrown away (the linear layer mixes it).
- **Next-token prediction on the answer only.** The decoder sees the question, but is trained to
  predict only the answer's words and the final <eos>: the labels of the question and of the
  padding are -100 (`IGNORE`), which `F.cross_entropy` and `mmlab.train.fit` leave out. A caption
  is the answer to the question "describe the picture".
- **Several questions per picture in one row.** A picture's questions are packed one after the
  other after its image tokens (`conversation_dataset`); a turn mask lets each word see only the
  picture and its own turn, and each turn's positions restart after the picture, so a packed row
  gives exactly the logits of each question alone (tested), for one pass of the encoder.
- **Greedy decoding with a key/value cache.** To answer, the model reads the image tokens and the
  question once, then appends the most likely word, one at a time, until <eos>. Each step feeds
  only the new word; the keys and values of everything before it are kept in a cache instead of
  recomputed. The cached and uncached decoders give exactly the same words (tests/test_vlm.py).

The model's `forward(batch)` returns logits (B, V, T), the layout `mmlab.train.fit` and
`F.cross_entropy` expect, so it trains with the kit's one loop (notebook 07, section 3).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import pandas as pd
import torch
import torch.nn as nn
from scipy import stats
from sklearn.metrics import precision_score, recall_score
from sklearn.preprocessing import MultiLabelBinarizer

from mmlab.attention import scaled_dot_product_attention
from mmlab.data.drawing import COLORS, SHAPES
from mmlab.data.scenes import Scene
from mmlab.data.text import PAD, UNK, Vocab, simple_tokenize
from mmlab.data.vqa import VQAData
from mmlab.encoders import SmallCNN
from mmlab.errors import MmlabError
from mmlab.features import FeatureDataset
from mmlab.pretrain import CellClassifier, cell_attributes, cell_owners
from mmlab.train import IGNORE, fit, make_loader

BOS, ANSWER, EOS = "<bos>", "<answer>", "<eos>"  # start, "the answer follows", end of the answer
SPECIALS = (BOS, ANSWER, EOS)

KVCache = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: keys and values (B, heads, T, dim/heads)


# ---------------------------------------------------------------------------------------------
# Words <-> ids


def build_vocab(texts: Iterable[str]) -> Vocab:
    """A `Vocab` of the words in `texts`, after <pad> <unk> and the decoder's <bos> <answer> <eos>."""
    words = Vocab.build(texts).tokens[2:]  # without <pad> and <unk>
    return Vocab([PAD, UNK, *SPECIALS, *words])


def encode_turn(vocab: Vocab, question: str, answer: str) -> tuple[list[int], list[bool]]:
    """The ids of ``<bos> question <answer> answer <eos>``, and which of them the model must say.

    >>> vocab = build_vocab(["what colour is the square", "red"])
    >>> ids, said = encode_turn(vocab, "what colour is the square?", "red")
    >>> vocab.decode(ids)
    ['<bos>', 'what', 'colour', 'is', 'the', 'square', '<answer>', 'red', '<eos>']
    >>> said
    [False, False, False, False, False, False, False, True, True]
    """
    prompt = [vocab.index[BOS], *vocab.encode(question), vocab.index[ANSWER]]
    answer_ids = [*vocab.encode(answer), vocab.index[EOS]]
    return prompt + answer_ids, [False] * len(prompt) + [True] * len(answer_ids)


def answer_labels(ids: torch.Tensor, is_answer: torch.Tensor) -> torch.Tensor:
    """Next-token labels that train on the answers only: ids (B, T), is_answer (B, T) -> (B, T).

    The logit at position t predicts token t + 1, so labels[t] = ids[t + 1] where token t + 1 is
    an answer word or its <eos>, and `IGNORE` (-100) elsewhere: before a question word, before
    padding, and at the last position, which has nothing to predict.
    """
    labels = torch.full_like(ids, IGNORE)  # (B, T)
    labels[:, :-1] = torch.where(is_answer[:, 1:], ids[:, 1:], IGNORE)  # shifted by one
    return labels


class Conversations(NamedTuple):
    """Questions and answers about pictures, several turns packed into one row per picture.

    ids (B, T): ``<bos> q1 <answer> a1 <eos> <bos> q2 <answer> a2 <eos> ... <pad>``;
    turn (B, T): 1, 2, ... for each turn's tokens and -1 for padding; label (B, T): answer-only
    next-token labels (`answer_labels`).
    """

    ids: torch.Tensor
    turn: torch.Tensor
    label: torch.Tensor


def encode_conversations(vocab: Vocab,
                         conversations: Sequence[Sequence[tuple[str, str]]]) -> Conversations:
    """Each conversation, a list of (question, answer) turns, as one padded row of `Conversations`."""
    rows = []
    for conversation in conversations:
        ids, turn, said = [], [], []
        for number, (question, answer) in enumerate(conversation, start=1):
            turn_ids, turn_said = encode_turn(vocab, question, answer)
            ids += turn_ids
            said += turn_said
            turn += [number] * len(turn_ids)
        rows.append((ids, turn, said))
    width = max(len(ids) for ids, _, _ in rows)
    ids = torch.full((len(rows), width), vocab.pad_id, dtype=torch.long)  # (B, T)
    turn = torch.full((len(rows), width), -1, dtype=torch.long)  # (B, T): -1 = padding
    is_answer = torch.zeros(len(rows), width, dtype=torch.bool)  # (B, T)
    for i, (row_ids, row_turn, row_said) in enumerate(rows):
        ids[i, : len(row_ids)] = torch.tensor(row_ids)
        turn[i, : len(row_ids)] = torch.tensor(row_turn)
        is_answer[i, : len(row_ids)] = torch.tensor(row_said)
    return Conversations(ids, turn, answer_labels(ids, is_answer))


def turn_mask(turn: torch.Tensor) -> torch.Tensor:
    """Who may look at whom in a packed row: turn (B, T) -> mask (B, T, T), True = may look.

    A token sees the tokens before it (causal) that are the picture's (turn 0) or its own turn's:
    each question is answered from the picture alone, never from another question's answer.
    """
    T = turn.shape[1]
    causal = torch.ones(T, T, dtype=torch.bool, device=turn.device).tril()  # (T, T)
    same_turn = turn[:, :, None] == turn[:, None, :]  # (B, T, T)
    picture = (turn == 0)[:, None, :]  # (B, 1, T): the image tokens
    return causal & (same_turn | picture)  # (B, T, T)


def turn_positions(turn: torch.Tensor, num_image_tokens: int) -> torch.Tensor:
    """Position of each token: the image tokens 0 .. K-1, then each turn starts again at K.

    turn (B, T) -> positions (B, T). So every turn sits where a lone question would, right after
    the picture, and a packed row teaches exactly what one question at a time would. Padding: 0.
    """
    index = torch.arange(turn.shape[1], device=turn.device).expand_as(turn)  # (B, T)
    starts_turn = torch.ones_like(turn, dtype=torch.bool)
    starts_turn[:, 1:] = turn[:, 1:] != turn[:, :-1]
    turn_start = torch.where(starts_turn, index, 0).cummax(dim=1).values  # (B, T)
    positions = index - turn_start + num_image_tokens * (turn > 0)  # (B, T)
    return positions.masked_fill(turn < 0, 0)


def encode_prompts(vocab: Vocab, questions: Sequence[str]) -> torch.Tensor:
    """``<bos> question <answer>`` for questions with the same number of words: (N, P) ids."""
    rows = [[vocab.index[BOS], *vocab.encode(q), vocab.index[ANSWER]] for q in questions]
    if len({len(row) for row in rows}) > 1:
        raise MmlabError("encode_prompts needs questions of equal length (fix: group them with "
                         "prompt_groups, as answer_questions does)")
    return torch.tensor(rows, dtype=torch.long)


# ---------------------------------------------------------------------------------------------
# The projector: image cells -> image tokens


def pixel_shuffle(cells: torch.Tensor, factor: int) -> torch.Tensor:
    """Stack each `factor` x `factor` square of neighbouring cells into one token.

    cells (B, N, D) on a square grid (N = side * side, row by row) -> (B, N / factor^2, D * factor^2),
    still row by row. factor 1 changes nothing; 8x8 cells with factor 2 give 4x4 tokens.
    """
    B, N, D = cells.shape
    side = math.isqrt(N)
    if side * side != N or side % factor:
        raise MmlabError(f"pixel shuffle needs a square grid whose side divides by {factor}, "
                         f"got {N} cells (fix: pick a factor that divides {side})")
    small = side // factor
    grid = cells.view(B, small, factor, small, factor, D)  # (B, row, dy, col, dx, D)
    grid = grid.permute(0, 1, 3, 2, 4, 5)  # (B, row, col, dy, dx, D)
    return grid.reshape(B, small * small, factor * factor * D)  # (B, N / f^2, f^2 D)


class Projector(nn.Module):
    """Pixel shuffle by `factor`, then a linear layer: cells (B, N, D) -> tokens (B, N/f^2, dim)."""

    def __init__(self, cell_dim: int, dim: int, factor: int = 2) -> None:
        super().__init__()
        self.factor = factor
        self.linear = nn.Linear(cell_dim * factor * factor, dim)

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        return self.linear(pixel_shuffle(cells, self.factor))  # (B, K, dim)


# ---------------------------------------------------------------------------------------------
# The decoder: a small GPT


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where each position sees itself and the positions before it.

    With a cache (the keys and values of the earlier positions), `x` holds only the new
    positions: their queries look at the cached keys and at their own.
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim={dim} must be divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)  # queries, keys and values in one matrix product
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                past: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
        """x (B, T, dim) -> (output (B, T, dim), (keys, values) so far, weights (B, heads, T, T_all)).

        `mask` (B, T, T_all), True where a position may look; None: causal.
        """
        B, T, dim = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.num_heads, dim // self.num_heads).unbind(dim=2)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, heads, T, dim/heads)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)  # (B, heads, T_all, dim/heads)
            v = torch.cat([past[1], v], dim=2)
        if mask is None:  # query i sits at position T_all - T + i and sees the keys up to there
            T_all = k.shape[2]
            mask = torch.ones(T, T_all, dtype=torch.bool, device=x.device).tril(diagonal=T_all - T)
        else:
            mask = mask[:, None]  # (B, 1, T, T_all): the same for every head
        heads, weights = scaled_dot_product_attention(q, k, v, mask)  # (B, heads, T, dim/heads)
        merged = heads.transpose(1, 2).reshape(B, T, dim)  # (B, T, dim)
        return self.out(merged), (k, v), weights


class Block(nn.Module):
    """A pre-norm Transformer block: x + attention(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.norm_attention = nn.LayerNorm(dim)
        self.attention = CausalSelfAttention(dim, num_heads)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(),
                                 nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                past: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
        attended, cache, weights = self.attention(self.norm_attention(x), mask, past)
        x = x + attended  # (B, T, dim)
        x = x + self.mlp(self.norm_mlp(x))  # (B, T, dim)
        return x, cache, weights


# ---------------------------------------------------------------------------------------------
# The whole model


class TinyVLM(nn.Module):
    """Image encoder -> projector -> image tokens, read before the text by a causal decoder.

    - `vocab_size`: the decoder's words (`build_vocab`); `max_text`: the longest text it reads.
    - `factor`: the projector's pixel shuffle (1: 64 image tokens, 2: 16, 4: 4, 8: 1).
    - `image_encoder`: default a new `SmallCNN`; `freeze_encoder=True` keeps its weights and
      its BatchNorm statistics as they are (a pretrained encoder, as in LLaVA's first stage).
    - `use_image=False` gives the question-only baseline: the same decoder, no image tokens.
    - `dim`, `num_layers`, `num_heads`, `mlp_ratio`: the decoder's size.

    `forward(batch)` takes ``batch["image"]`` (B, 3, 64, 64) and ``batch["ids"]`` (B, T) and
    returns logits (B, V, T): at text position t, scores for the word at t + 1.
    """

    def __init__(self, vocab_size: int, *, image_encoder: nn.Module | None = None,
                 freeze_encoder: bool = False, factor: int = 2, use_image: bool = True,
                 dim: int = 128, num_layers: int = 2, num_heads: int = 4, mlp_ratio: int = 4,
                 max_text: int = 32) -> None:
        super().__init__()
        self.use_image, self.freeze_encoder = use_image, freeze_encoder
        self.encoder = (image_encoder or SmallCNN()) if use_image else None
        if self.encoder is not None and freeze_encoder:
            self.encoder.requires_grad_(False)
        self.projector = Projector(self.encoder.dim, dim, factor) if use_image else None
        self.num_image_tokens = 64 // factor**2 if use_image else 0  # SmallCNN: 8 x 8 cells
        self.word_embedding = nn.Embedding(vocab_size, dim)
        self.position_embedding = nn.Embedding(self.num_image_tokens + max_text, dim)
        self.blocks = nn.ModuleList(Block(dim, num_heads, mlp_ratio) for _ in range(num_layers))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab_size)
        self.max_text = max_text

    def train(self, mode: bool = True) -> TinyVLM:
        """Train mode for everything but a frozen encoder, which stays in eval mode."""
        super().train(mode)
        if self.encoder is not None and self.freeze_encoder:
            self.encoder.eval()  # BatchNorm keeps the statistics it was pretrained with
        return self

    def image_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Pictures (B, 3, H, W) -> image tokens (B, K, dim); (B, 0, dim) without the image."""
        if not self.use_image:
            return self.word_embedding.weight.new_zeros(len(images), 0, self.head.in_features)
        return self.projector(self.encoder(images).tokens)  # (B, 64, 64) cells -> (B, K, dim)

    def decode(self, x: torch.Tensor, positions: torch.Tensor | None = None,
               mask: torch.Tensor | None = None, cache: KVCache | None = None
               ) -> tuple[torch.Tensor, KVCache, list[torch.Tensor]]:
        """Run the decoder on new positions x (B, T, dim), after the `cache`'s positions.

        `positions` (B, T) and `mask` (B, T, T) for packed rows (`turn_positions`, `turn_mask`);
        None: the positions after the cache's, and causal attention. Position embeddings are
        added here, once, to the new positions only. Returns the logits of the new positions
        (B, T, V), the cache extended by them, and each layer's attention weights.
        """
        if positions is None:
            start = cache[0][0].shape[2] if cache else 0  # how many positions came before
            positions = torch.arange(start, start + x.shape[1], device=x.device)  # (T,)
        if int(positions.max()) >= self.position_embedding.num_embeddings:
            raise MmlabError(f"a turn is longer than the model's {self.max_text} text positions "
                             "(fix: build the model with a larger max_text)")
        x = x + self.position_embedding(positions)  # (B, T, dim)
        new_cache, weights = [], []
        for i, block in enumerate(self.blocks):
            x, layer_cache, layer_weights = block(x, mask, cache[i] if cache else None)
            new_cache.append(layer_cache)
            weights.append(layer_weights)  # (B, heads, T, T_all)
        return self.head(self.norm(x)), new_cache, weights  # (B, T, V)

    def forward(self, batch: dict) -> torch.Tensor:
        """Teacher forcing on packed rows: picture and all turns at once -> logits (B, V, T_text).

        batch: "image" (B, 3, H, W) and the `Conversations` fields "ids", "turn" (B, T).
        """
        image = self.image_tokens(batch["image"])  # (B, K, dim)
        words = self.word_embedding(batch["ids"])  # (B, T, dim)
        B, K = image.shape[:2]
        turn = torch.cat([batch["turn"].new_zeros(B, K), batch["turn"]], dim=1)  # (B, K + T)
        logits, _, _ = self.decode(torch.cat([image, words], dim=1),  # (B, K + T, V)
                                   turn_positions(turn, K), turn_mask(turn))
        return logits[:, K:].transpose(1, 2)  # (B, V, T): the text positions only

    @torch.no_grad()
    def generate(self, images: torch.Tensor, prompts: torch.Tensor, eos_id: int,
                 max_new_tokens: int = 12, use_cache: bool = True) -> torch.Tensor:
        """Greedy decoding: the most likely next word, again and again, until every row said <eos>.

        images (B, 3, H, W) and prompts (B, P) ids (``<bos> question <answer>``, same length) ->
        new ids (B, steps), padded with 0 after each row's <eos>. `use_cache=False` runs the whole
        sequence through the decoder at every step (slower; the same words).
        """
        self.eval()
        sequence = torch.cat([self.image_tokens(images), self.word_embedding(prompts)], dim=1)
        logits, cache, _ = self.decode(sequence)  # the prompt, once: (B, K + P, V)
        steps: list[torch.Tensor] = []
        finished = torch.zeros(len(prompts), dtype=torch.bool, device=prompts.device)  # (B,)
        for _ in range(max_new_tokens):
            word = logits[:, -1].argmax(dim=-1)  # (B,): the most likely next word
            steps.append(word.masked_fill(finished, 0))
            finished |= word == eos_id
            if finished.all() or len(steps) == max_new_tokens:
                break
            new = self.word_embedding(word[:, None])  # (B, 1, dim)
            if use_cache:
                logits, cache, _ = self.decode(new, cache=cache)  # only the new position: (B, 1, V)
            else:
                sequence = torch.cat([sequence, new], dim=1)
                logits, _, _ = self.decode(sequence)  # everything again: (B, K + P + step, V)
        return torch.stack(steps, dim=1)  # (B, steps)

    @torch.no_grad()
    def image_attention(self, images: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Where each text position looks in the picture: the last layer's attention, mean over heads.

        images (B, 3, H, W), ids (B, T) one turn (prompt and answer) -> (B, T, K): row t is the
        attention of the position that predicts word t + 1, over the K image tokens. (Greedy
        decoding gives the same words as this teacher-forced pass, so these are the looks that
        chose the generated words.)
        """
        self.eval()
        image = self.image_tokens(images)  # (B, K, dim)
        _, _, weights = self.decode(torch.cat([image, self.word_embedding(ids)], dim=1))
        K = image.shape[1]
        return weights[-1].mean(dim=1)[:, K:, :K]  # (B, T, K)


def count_parameters(model: nn.Module) -> int:
    """How many numbers the model learns."""
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------------------------
# Training data, a pretrained encoder, and answering


def pretrain_encoder(data: VQAData, epochs: int = 2, batch_size: int = 16, lr: float = 1e-2,
                     seed: int = 0, progress: bool = True) -> tuple[SmallCNN, pd.DataFrame]:
    """A `SmallCNN` trained briefly to name the colour and the shape under each of its 8x8 cells.

    The task of `mmlab.pretrain.pretrain_cell_encoder` (a `CellClassifier`), on the pictures of
    `data`, with `fit`. Returns the encoder (in eval mode) and fit's history.
    """
    objects = [[{"color": t.color, "shape": t.name, "box": t.box} for t in scene.things]
               for scene in data.scenes]
    labels = cell_attributes(objects, cell_owners(objects, data.scenes[0].size))  # (N, 2, 64)
    torch.manual_seed(seed)
    model = CellClassifier(SmallCNN())
    loader = make_loader(FeatureDataset(image=data.pictures, label=labels), batch_size, True, seed=seed)
    history = fit(model, loader, epochs=epochs, lr=lr, schedule="one_cycle", progress=progress)
    return model.encoder.eval(), history


def conversation_dataset(data: VQAData, vocab: Vocab) -> FeatureDataset:
    """Every scene of `data`, all its questions packed in one row: {"image", "ids", "turn", "label"}.

    One row per picture, so each picture goes through the image encoder once per epoch, however
    many questions it has (LLaVA also trains on several turns about one picture per sequence).
    """
    turns: list[list[tuple[str, str]]] = [[] for _ in data.scenes]
    rows = data.questions[["scene", "question", "answer"]].itertuples(index=False)
    for scene, question, answer in rows:
        turns[scene].append((question, answer))
    if not all(turns):
        raise MmlabError("some scenes have no question (fix: make the data with at least one "
                         "question kind that every scene can answer, such as count or caption)")
    return FeatureDataset(image=data.pictures, **encode_conversations(vocab, turns)._asdict())


def answer_questions(model: TinyVLM, vocab: Vocab, pictures: torch.Tensor, questions: Sequence[str],
                     max_new_tokens: int = 24, batch_size: int = 128) -> list[str]:
    """The model's greedy answer to questions[i] about pictures[i], as text, for every i.

    Questions are batched by their number of words (`encode_prompts` needs equal lengths).
    """
    answers = [""] * len(questions)
    eos_id = vocab.index[EOS]
    by_length: dict[int, list[int]] = {}
    for i, question in enumerate(questions):
        by_length.setdefault(len(vocab.encode(question)), []).append(i)
    for rows in by_length.values():
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            prompts = encode_prompts(vocab, [questions[i] for i in chunk])  # (b, P)
            new = model.generate(pictures[chunk], prompts, eos_id, max_new_tokens)  # (b, steps)
            for i, ids in zip(chunk, new.tolist()):
                words = vocab.decode(ids)
                answers[i] = " ".join(words[: words.index(EOS)] if EOS in words else words)
    return answers


def majority_answers(train: pd.DataFrame, questions: Sequence[str]) -> list[str]:
    """The language prior: for each question, the answer given most often to it in `train`.

    `train` has columns "question" and "answer" (ties: the first in alphabetical order). A
    question never seen in training gets the most frequent answer overall.
    """
    counts = train.groupby(["question", "answer"]).size().reset_index(name="n")
    best = counts.sort_values(["n", "answer"], ascending=[False, True]).drop_duplicates("question")
    prior = dict(zip(best["question"], best["answer"]))
    fallback = train["answer"].value_counts().index[0]
    return [prior.get(question, fallback) for question in questions]


# ---------------------------------------------------------------------------------------------
# Measuring: answers, captions, hallucination


def accuracy_table(frame: pd.DataFrame, right: str = "right", by: str = "kind") -> pd.DataFrame:
    """Accuracy per group of `by`, with a 95 % Wilson interval over the questions.

    frame: one row per question, with a bool column `right`. Returns one row per group:
    n, accuracy, low, high.
    """
    rows = []
    for group, answers in frame.groupby(by, sort=False):
        k, n = int(answers[right].sum()), len(answers)
        interval = stats.binomtest(k, n).proportion_ci(method="wilson")
        rows.append({by: group, "n": n, "accuracy": k / n, "low": interval.low, "high": interval.high})
    return pd.DataFrame(rows).set_index(by)


def named_things(caption: str) -> set[tuple[str, str]]:
    """The (colour, shape) pairs a caption names: "a red circle and a spider" -> {(red, circle)}."""
    words = simple_tokenize(caption)
    return {(first, second) for first, second in zip(words, words[1:])
            if first in COLORS and second in SHAPES}


def caption_scores(captions: Sequence[str], scenes: Sequence[Scene]) -> dict[str, float]:
    """Precision and recall of the things the captions name, against what the scenes hold.

    Precision: the share of named (colour, shape) pairs that are in the picture (1 - precision
    is made-up things); recall: the share of the pictures' things that are named. Micro-averaged
    over all captions (scikit-learn on multi-label indicator rows, one column per pair).
    """
    named = [named_things(caption) for caption in captions]
    truth = [{(t.color, t.name) for t in scene.things if t.kind == "shape"} for scene in scenes]
    binarizer = MultiLabelBinarizer(classes=[(c, s) for c in COLORS for s in SHAPES])
    y_true, y_pred = binarizer.fit_transform(truth), binarizer.transform(named)
    return {"precision": precision_score(y_true, y_pred, average="micro", zero_division=0.0),
            "recall": recall_score(y_true, y_pred, average="micro", zero_division=0.0)}
