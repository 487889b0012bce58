"""Encoders: one network per modality, turning raw input into features that fusion can combine.

Every encoder returns the same three things, an `EncoderOutput`:

- `tokens` (B, N, D): one feature vector per part of the input -- a cell of the image's last
  feature map, or a word of the caption. Attention and cross-modal fusion work on these.
- `pooled` (B, D): one vector for the whole input -- what simple fusion (concatenation, late
  fusion) works on.
- `mask` (B, N) bool or None: True where a token is real, False where it is padding (captions in a
  batch have different lengths). None means every token is real (image cells always are).

Each encoder has a `dim` attribute: D, the size of its feature vectors.

Every encoder is called with one argument, its modality's input, and returns an `EncoderOutput`.
`encode` runs a frozen encoder over a whole split in chunks (the features that `mmlab.features`
caches). Notebook 01 teaches all of this (sections 1-5).

Image encoders take pictures (B, 3, H, W), float in [0, 1] or uint8 in [0, 255]:

- `SmallCNN`: three convolution blocks, each halving the picture (64 px -> an 8x8 map), then one
  more block that keeps the size: 64 tokens of 64 features. Each token sees a 31x31-pixel window
  of the picture (its receptive field), around its 8x8-pixel cell (3.5 px up and left of the
  cell's centre). Trains in seconds on a CPU.
- `image_encoder("resnet18")`, `image_encoder("resnet152")`: torchvision's ResNets without their
  classifier; the tokens are the cells of the last feature map (2x2 at 64 px, 7x7 at 224 px).
  Random weights by default (`weights=None`); pretrained ImageNet weights come from a local file
  or, with internet, by name.

Text encoders take a `TokenBatch(ids, mask)` from `mmlab.data.text.Vocab.encode_batch`:

- `BagOfEmbeddings`: the fastText classifier's idea: pooled = the mean of the word embeddings.
  Word order is lost ("not awful" and "awful, not" look the same).
- `GRUEncoder`: a recurrent network reads the words in order; pooled = its last real state.
- `TransformerTextEncoder`: self-attention over the words plus learned positions;
  pooled = the mean of the real tokens.
"""

from __future__ import annotations

import urllib.error
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from mmlab.data.text import TokenBatch
from mmlab.errors import MmlabError
from mmlab.utils import to_device


class EncoderOutput(NamedTuple):
    """What every encoder returns (see the module docstring)."""

    tokens: torch.Tensor  # (B, N, D)
    pooled: torch.Tensor  # (B, D)
    mask: torch.Tensor | None  # (B, N) bool, True = real token; None = all real


torch.serialization.add_safe_globals([EncoderOutput])  # cached features load with weights_only=True


def as_float_images(images: torch.Tensor) -> torch.Tensor:
    """Pictures as floats in [0, 1]: uint8 (0..255) is divided by 255, floats pass unchanged."""
    if images.dtype == torch.uint8:
        return images.float() / 255
    return images


def masked_mean(tokens: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The mean of the real tokens: (B, N, D) and (B, N) -> (B, D)."""
    if mask is None:
        return tokens.mean(dim=1)
    weights = mask.unsqueeze(-1).to(tokens.dtype)  # (B, N, 1)
    return (tokens * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)  # (B, D)


# ---------------------------------------------------------------------------------------------
# Image encoders


class SmallCNN(nn.Module):
    """Blocks of (3x3 convolution, BatchNorm, ReLU): three with stride 2, then one with stride 1.

    The strided blocks halve the height and width, so a 64 px picture becomes an 8x8 map; the last
    block lets each cell see its neighbours (a receptive field of 31x31 pixels instead of 15x15:
    enough to tell the shape of an object that spans two cells). pooled = the mean of the cells.
    """

    def __init__(self, channels: tuple[int, ...] = (16, 32, 64, 64)) -> None:
        super().__init__()
        blocks = []
        in_channels = 3
        for index, out_channels in enumerate(channels):
            stride = 2 if index < 3 else 1  # three halvings: 64 px -> 8x8 cells
            blocks += [nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
                       nn.BatchNorm2d(out_channels),
                       nn.ReLU(inplace=True)]
            in_channels = out_channels
        self.features = nn.Sequential(*blocks)
        self.dim = channels[-1]

    def forward(self, images: torch.Tensor) -> EncoderOutput:
        x = as_float_images(images)  # (B, 3, H, W)
        x = self.features(x)  # (B, D, H/8, W/8)
        tokens = x.flatten(2).transpose(1, 2)  # (B, N, D) with N = H/8 * W/8 cells
        return EncoderOutput(tokens, tokens.mean(dim=1), None)


class ResNetEncoder(nn.Module):
    """A torchvision ResNet without its average pooling and classifier.

    The input is normalised with ImageNet's mean and standard deviation (what pretrained weights
    expect). tokens = the cells of the last feature map (B, h*w, C), optionally projected to `dim`
    by a linear layer; pooled = their mean.
    """

    def __init__(self, resnet: nn.Module, dim: int | None = None) -> None:
        super().__init__()
        self.body = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool,
                                  resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4)
        channels = resnet.fc.in_features  # 512 for ResNet-18, 2048 for ResNet-152
        self.project = nn.Linear(channels, dim) if dim is not None else nn.Identity()
        self.dim = dim if dim is not None else channels
        # not part of the state dict: constants, not weights
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> EncoderOutput:
        x = (as_float_images(images) - self.mean) / self.std  # (B, 3, H, W)
        x = self.body(x)  # (B, C, H/32, W/32)
        tokens = self.project(x.flatten(2).transpose(1, 2))  # (B, N, D)
        return EncoderOutput(tokens, tokens.mean(dim=1), None)


def _load_state_dict(arch: str, weights: str | Path, progress: bool) -> dict[str, torch.Tensor]:
    """The state dict for `weights`: a local file, or a torchvision weights name to download."""
    import torchvision

    path = Path(weights)
    if path.is_file():
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # a truncated or foreign file: say which and how to fix it
            raise MmlabError(f"{path}: cannot read {arch} weights ({type(error).__name__}) "
                             "(fix: download the file again)") from None
    enum = torchvision.models.get_model_weights(arch)  # e.g. ResNet18_Weights
    name = str(weights).removeprefix(f"{enum.__name__}.")
    if name not in enum.__members__:
        if path.suffix in (".pt", ".pth") or len(path.parts) > 1:
            raise MmlabError(f"weights file {weights} not found (fix: check the path)")
        raise MmlabError(f"unknown {arch} weights {str(weights)!r} "
                         f"(fix: pass a file path or one of {', '.join(enum.__members__)})")
    url = enum[name].url
    try:
        return torch.hub.load_state_dict_from_url(url, progress=progress, check_hash=True, weights_only=True)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise MmlabError(f"cannot download {arch} weights {name} ({reason}); mmlab runs offline "
                         f"(fix: on a machine with internet download {url}, copy it here and pass "
                         f"its path: image_encoder('{arch}', weights='path/to/{Path(url).name}'), or "
                         f"`mmlab train --image-encoder {arch} --weights path/to/{Path(url).name}`)") from None


IMAGE_ENCODERS = ("small_cnn", "resnet18", "resnet152")


def image_encoder(name: str = "small_cnn", weights: str | Path | None = None, dim: int | None = None,
                  progress: bool = True) -> nn.Module:
    """An image encoder by name: "small_cnn", "resnet18" (D = 512) or "resnet152" (D = 2048, the
    Hateful Memes benchmark's; slow on a CPU). `dim` gives a ResNet a projection to that size.

    `weights`: None for random weights; a local file (a saved `SmallCNN` state dict, or
    torchvision's weights file for a ResNet); or, for a ResNet, a torchvision weights name such
    as "IMAGENET1K_V1" (downloaded, so it needs internet once).
    """
    if name == "small_cnn":
        encoder = SmallCNN()
        if weights is not None:
            if not Path(weights).is_file():
                raise MmlabError(f"weights file {weights} not found (fix: check the path; small_cnn "
                                 "has no published weights, pretrain it with mmlab.pretrain)")
            encoder.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        return encoder
    if name not in IMAGE_ENCODERS:
        raise MmlabError(f"unknown image encoder {name!r} (fix: choose one of {', '.join(IMAGE_ENCODERS)})")
    # torchvision is imported here, not at the top: importing it costs about 180 MB of memory,
    # which the notebooks that only use SmallCNN need not pay.
    import torchvision

    resnet = getattr(torchvision.models, name)(weights=None)  # random weights, no download
    if weights is not None:
        state = _load_state_dict(name, weights, progress)
        try:
            resnet.load_state_dict(state)
        except RuntimeError as error:
            first = str(error).splitlines()[1].strip() if "\n" in str(error) else str(error)
            raise MmlabError(f"{weights}: these are not {name} weights ({first}) "
                             f"(fix: pass the torchvision {name} weights file)") from None
    return ResNetEncoder(resnet, dim)


# ---------------------------------------------------------------------------------------------
# Text encoders: each takes a TokenBatch: ids (B, T) long and mask (B, T) bool, from Vocab.encode_batch


class BagOfEmbeddings(nn.Module):
    """Word embeddings, averaged: the fastText classifier without its n-grams.

    tokens = the embeddings of the words; pooled = their mean over the real words.
    """

    def __init__(self, vocab_size: int, dim: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.dim = dim

    def forward(self, text: TokenBatch) -> EncoderOutput:
        ids, mask = text  # (B, T) each
        tokens = self.embed(ids)  # (B, T, D), zeros at padding
        return EncoderOutput(tokens, masked_mean(tokens, mask), mask)


class GRUEncoder(nn.Module):
    """Embeddings read in order by a GRU, bidirectional by default.

    The padded positions are skipped (a packed sequence), so each caption's last state is the
    state after its last real word. tokens = the GRU's output at each word (B, T, D), zero at
    padding; pooled = the last state of each direction, concatenated. Bidirectional: each direction
    has D/2 units, so D must be even.
    """

    def __init__(self, vocab_size: int, dim: int = 64, bidirectional: bool = True,
                 num_layers: int = 1) -> None:
        super().__init__()
        if bidirectional and dim % 2:
            raise ValueError(f"a bidirectional GRU needs an even dim, got {dim}")
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        hidden = dim // 2 if bidirectional else dim
        self.gru = nn.GRU(dim, hidden, num_layers=num_layers, batch_first=True, bidirectional=bidirectional)
        self.dim = dim

    def forward(self, text: TokenBatch) -> EncoderOutput:
        ids, mask = text  # (B, T) each
        B, T = ids.shape
        x = self.embed(ids)  # (B, T, D)
        lengths = mask.sum(dim=1).clamp(min=1).cpu()  # (B,) real words per caption
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, last = self.gru(packed)  # last: (layers * directions, B, D / directions)
        tokens, _ = pad_packed_sequence(out, batch_first=True, total_length=T)  # (B, T, D)
        directions = 2 if self.gru.bidirectional else 1
        pooled = torch.cat(list(last[-directions:]), dim=-1)  # (B, D): each direction's last state
        return EncoderOutput(tokens, pooled, mask)


class TransformerTextEncoder(nn.Module):
    """A small Transformer encoder: word embeddings + learned positions, then self-attention.

    Padding is hidden from attention with a key padding mask. tokens = the last layer's outputs
    (B, T, D), zero at padding; pooled = their mean over the real words.
    """

    def __init__(self, vocab_size: int, dim: int = 64, num_layers: int = 2, num_heads: int = 4,
                 max_len: int = 64, dropout: float = 0.1) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.position = nn.Embedding(max_len, dim)  # one learned vector per position
        layer = nn.TransformerEncoderLayer(dim, num_heads, dim_feedforward=2 * dim, dropout=dropout,
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.max_len = max_len
        self.dim = dim

    def forward(self, text: TokenBatch) -> EncoderOutput:
        ids, mask = text  # (B, T) each
        B, T = ids.shape
        if T > self.max_len:
            raise ValueError(f"captions of {T} tokens are longer than max_len={self.max_len}; "
                             f"use Vocab.encode_batch(texts, max_len={self.max_len})")
        positions = torch.arange(T, device=ids.device)  # (T,)
        x = self.embed(ids) + self.position(positions)  # (B, T, D)
        x = self.blocks(x, src_key_padding_mask=~mask)  # (B, T, D); True in the mask = ignore
        tokens = self.norm(x) * mask.unsqueeze(-1)  # (B, T, D), zero at padding
        return EncoderOutput(tokens, masked_mean(tokens, mask), mask)


TEXT_ENCODERS = {"bow": BagOfEmbeddings, "gru": GRUEncoder, "transformer": TransformerTextEncoder}


def text_encoder(name: str, vocab_size: int, dim: int = 64) -> nn.Module:
    """A text encoder by name: "bow" (bag of embeddings), "gru" or "transformer"."""
    if name not in TEXT_ENCODERS:
        raise MmlabError(f"unknown text encoder {name!r} (fix: choose one of {', '.join(TEXT_ENCODERS)})")
    return TEXT_ENCODERS[name](vocab_size, dim=dim)


# ---------------------------------------------------------------------------------------------
# Running a frozen encoder over a whole split


@torch.no_grad()
def encode(encoder: nn.Module, inputs: torch.Tensor | TokenBatch, batch_size: int = 256) -> EncoderOutput:
    """A frozen encoder's output for every example of `inputs`, computed in chunks, on the CPU.

    `inputs` are pictures (N, 3, H, W) or a `TokenBatch` of N captions. The encoder is put in eval
    mode (BatchNorm then uses its running statistics). Returns EncoderOutput with N rows.
    """
    encoder.eval()
    device = next(encoder.parameters()).device
    n = len(inputs.ids) if isinstance(inputs, TokenBatch) else len(inputs)
    chunks = []
    for start in range(0, n, batch_size):
        rows = slice(start, start + batch_size)
        chunk = TokenBatch(*(x[rows] for x in inputs)) if isinstance(inputs, TokenBatch) else inputs[rows]
        chunks.append(to_device(encoder(to_device(chunk, device)), "cpu"))
    mask = None if chunks[0].mask is None else torch.cat([c.mask for c in chunks])
    return EncoderOutput(torch.cat([c.tokens for c in chunks]), torch.cat([c.pooled for c in chunks]), mask)
