"""Measure the acceptance numbers of issue 3 (encoders and pretraining) and print them.

    python scripts/measure_issue3.py

Trains from scratch (ignoring the cache) on the default SynthMemes datasets under MMLAB_HOME:
- the image encoder (SmallCNN) and the text encoder (GRU) on their concept labels: test
  accuracy >= 0.95 each, image in well under 20 s and text in well under 10 s;
- on captions with negation (negation=0.5): a GRU beats a bag of embeddings at predicting the
  caption's mood by >= 15 accuracy points;
- for information: the other text encoders, a second (cached) call, and fastText sentence vectors
  with a logistic-regression probe.
Timings are wall-clock seconds; CPU seconds are printed too, since other work on a shared machine
slows the wall clock. Exits with status 1 when a target is missed.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import torch
from sklearn.linear_model import LogisticRegression

from mmlab.data import MemeDataset, ensure_synthmemes
from mmlab.data.text import sentence_vectors, train_fasttext
from mmlab.pretrain import load_images, negation_experiment, pretrain_image_encoder, pretrain_text_encoder

failures: list[str] = []


def report(what: str, value: float, seconds: float | None = None, cpu: float | None = None,
           target: str | None = None, ok: bool | None = None) -> None:
    line = f"{what:<48} {value:7.3f}"
    if seconds is not None:
        line += f"   {seconds:6.1f} s wall"
    if cpu is not None:
        line += f"  {cpu:6.1f} s cpu"
    if target is not None:
        line += f"   target {target}: {'PASS' if ok else 'FAIL'}"
        if not ok:
            failures.append(what)
    print(line, flush=True)


def timed(function, *args, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    root, wall, cpu = timed(ensure_synthmemes, "memes")
    print(f"dataset {root.name}: ready in {wall:.1f} s", flush=True)

    train, test = MemeDataset(root, "train"), MemeDataset(root, "test")
    _, wall, cpu = timed(lambda: (load_images(train), load_images(test)))
    print(f"decoding {len(train)} + {len(test)} pictures (part of the image time below): "
          f"{wall:.1f} s wall, {cpu:.1f} s cpu", flush=True)

    image, wall, cpu = timed(pretrain_image_encoder, root, "small_cnn", progress=False, cache=False)
    report("image small_cnn -> image_concept accuracy", image.accuracy, wall, cpu, ">= 0.95 in < 20 s",
           image.accuracy >= 0.95 and wall < 20)
    cached, wall, cpu = timed(pretrain_image_encoder, root, "small_cnn", progress=False)
    report(f"  same call again (from_cache={cached.from_cache})", cached.accuracy, wall, cpu)

    text, wall, cpu = timed(pretrain_text_encoder, root, "gru", progress=False, cache=False)
    report("text gru -> text_concept accuracy", text.accuracy, wall, cpu, ">= 0.95 in < 10 s",
           text.accuracy >= 0.95 and wall < 10)
    for name in ("bow", "transformer"):
        other, wall, cpu = timed(pretrain_text_encoder, root, name, progress=False, cache=False)
        report(f"text {name} -> text_concept accuracy", other.accuracy, wall, cpu)

    negated = ensure_synthmemes("memes", negation=0.5)
    scores, wall, cpu = timed(negation_experiment, negated, ("bow", "gru", "transformer"),
                              progress=False, cache=False)
    for name, accuracy in scores.items():
        report(f"negation=0.5: {name} -> text_mood accuracy", accuracy)
    gap = 100 * (scores["gru"] - scores["bow"])
    report("negation=0.5: gru minus bow (points)", gap, wall, cpu, ">= 15", gap >= 15)

    texts = list(train.frame["text"])
    with tempfile.TemporaryDirectory() as cache_dir:
        for dim in (64, 150):
            model, wall, cpu = timed(train_fasttext, texts, dim=dim, cache_dir=cache_dir)
            probe = LogisticRegression(max_iter=2000)
            probe.fit(sentence_vectors(model, texts), train.frame["text_concept"])
            accuracy = probe.score(sentence_vectors(model, list(test.frame["text"])), test.frame["text_concept"])
            report(f"fastText cbow {dim}d + logistic probe, text_concept", accuracy, wall, cpu)

    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    if failures:
        print("MISSED: " + "; ".join(failures))
        return 1
    print("all targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
