"""Checkers for notebook 03, "Fusion strategies: a fair experiment"."""

from __future__ import annotations

from typing import Any

import torch

from mmlab.exercises import not_attempted, report, skipped

def check_missing_prediction(prediction: Any, lost: dict[str, float] | None = None) -> bool:
    """Exercise 1: which missing modality costs concat more AUROC on the memes, "picture" or "caption".

    `lost` is what the exercise's cell measured: {"picture": AUROC lost, "caption": AUROC lost}.
    """
    name = "Exercise 1 (predict, then run)"
    if not_attempted(prediction):
        return skipped(name, 'Hint: write "picture" or "caption" before you run the measuring cell.')
    synonyms = {"picture": "picture", "image": "picture", "caption": "caption", "text": "caption"}
    if not isinstance(prediction, str) or prediction.strip().lower() not in synonyms:
        return report(name, False, f'{prediction!r}: answer "picture" or "caption" (which one goes missing).')
    prediction = synonyms[prediction.strip().lower()]
    if not lost:
        print(f"⏳ {name}: prediction noted ({prediction}); now run the measuring cell below, then this "
              "checker again.")
        return False
    lost = {synonyms.get(str(key).lower(), key): value for key, value in lost.items()}
    if set(lost) != {"picture", "caption"}:
        return report(name, False, f"`lost` should be {{'picture': ..., 'caption': ...}}, got {sorted(lost)}.")
    worse = max(lost, key=lost.get)
    said = f"without the picture it lost {lost['picture']:.3f} AUROC, without the caption {lost['caption']:.3f}"
    if prediction == worse and worse == "caption":
        return report(name, True, f"{said}. The caption carries more of the signal: the insults (about a "
                                  "third of the mean memes) need only the caption, the symbols (about one "
                                  "in eight) only the picture.")
    if prediction == worse:
        return report(name, True, f"{said}: here the picture carried more of the signal.")
    return report(name, False, f"{said}. Think of notebook 00's recipe: which kind of mean meme is more "
                               "common, the insults (caption alone) or the symbols (picture alone)?")


def _interaction(fusion: Any, a: tuple[torch.Tensor, torch.Tensor], b: tuple[torch.Tensor, torch.Tensor]) -> float:
    """f(a, b) - f(a, b') - f(a', b) + f(a', b'): zero for an additive fusion."""
    out = [fusion({"image": i, "text": t}) for i in a for t in b]
    return (out[0] - out[1] - out[2] + out[3]).abs().max().item()


def check_product_fusion(fusion_class: Any) -> bool:
    """Exercise 2: a Fusion whose output is the elementwise product of one projection per modality.

    A product of two affine maps is affine in the picture for a fixed caption (and the reverse),
    but not additive. The checker probes exactly that, example by example.
    """
    name = "Exercise 2 (a product fusion)"
    hint = "Hint: self.project[m] maps modality m to (B, hidden); the title says how to combine the two."
    if not_attempted(fusion_class):
        return skipped(name, hint)
    hidden = 8
    try:
        torch.manual_seed(0)
        fusion = fusion_class({"image": 6, "text": 4}, hidden=hidden).eval()
        image, text = torch.randn(5, 6), torch.randn(5, 4)
        out = fusion({"image": image, "text": text})
    except Exception as error:  # a learner's class may fail in any way
        return report(name, False, f"building or calling it raised {type(error).__name__}: {error}")
    if not_attempted(out):
        return skipped(name, "forward returns nothing yet: `return` the fused (B, hidden) tensor. " + hint)
    expected = (5, getattr(fusion, "output_dim", None))
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        return report(name, False, f"expected a tensor of shape (5, output_dim) = {expected}, got {shape}; "
                                   "set self.output_dim to the size of what forward returns.")
    if out.shape[1] == hidden * hidden:
        return report(name, False, "your output has hidden * hidden features: every pair of features, the "
                                   "outer product (tensor fusion). Multiply feature k of the picture's "
                                   "projection with feature k of the caption's only: (B, hidden).")
    with torch.no_grad():
        alone = fusion({"image": image[:1], "text": text[:1]})
        if not torch.allclose(alone[0], out[0], atol=1e-5):
            return report(name, False, "example 0's output changes with the other examples of the batch: "
                                       "fuse each example on its own (no mean or sum over dim 0).")
        a, a2, b, b2 = image[:1], image[1:2], text[:1], text[1:2]
        if torch.allclose(fusion({"image": a, "text": b}), fusion({"image": a, "text": b2}), atol=1e-6):
            return report(name, False, "your output does not change with the caption: use both projections.")
        if torch.allclose(fusion({"image": a, "text": b}), fusion({"image": a2, "text": b}), atol=1e-6):
            return report(name, False, "your output does not change with the picture: use both projections.")
    if out.requires_grad:
        out.sum().backward()
    frozen = [param for param, p in fusion.named_parameters() if p.grad is None or not p.grad.any()]
    if frozen:
        return report(name, False, f"no gradient reaches {', '.join(frozen)}: a `.detach()`, `torch.no_grad()` "
                                   "or a round trip through NumPy cuts the graph, and training could never "
                                   "change those weights.")
    with torch.no_grad():
        if _interaction(fusion, (a, a2), (b, b2)) < 1e-5:
            return report(name, False, "your fusion is additive: changing the caption shifts the output by "
                                       "the same amount whatever the picture. Multiply the projections.")
        a, a2 = 20 * a, 20 * a2  # far from zero too, where a clamp would bend
        mix = fusion({"image": (a + a2) / 2, "text": b})  # affine in the picture: the middle maps to the middle
        middle = (fusion({"image": a, "text": b}) + fusion({"image": a2, "text": b})) / 2
        if not torch.allclose(mix, middle, rtol=1e-4, atol=1e-4):
            return report(name, False, "your output is not the plain product of two projections: it bends "
                                       "(a ReLU, sigmoid, clamp, abs or max somewhere?), so it is not affine in "
                                       "each modality. Return project_image(x) * project_text(y) and nothing else.")
    return report(name, True, "the output changes with the caption differently for each picture: a "
                              "multiplicative interaction in the operator itself (the idea behind MLB, "
                              "MFB and tensor fusion). Notebook 03's heads study shows what it buys.")


EARLY_OPTIONS = {
    "a": "run early fusion with 10 seeds instead of 5",
    "b": "give it a linear head instead of the MLP head",
    "c": "train it longer (e.g. 100 epochs) and on more memes, and watch the dev AUROC per epoch",
    "d": "feed it the pooled picture instead of the 16 regions",
}


def check_early_control(choice: Any) -> bool:
    """Exercise 3: which experiment tells "early fusion cannot bind" from "not within this budget"."""
    name = "Exercise 3 (design the control)"
    if not_attempted(choice):
        return skipped(name, f"Hint: pick one of {sorted(EARLY_OPTIONS)}; which one changes the budget?")
    why_not = {
        "a": "more seeds shrink the interval around chance; every seed was at chance already, and the "
             "question is whether *any* run learns, not how sure we are of the mean",
        "b": "the head sits after the fusion; at chance the fused [CLS] vector carries no binding for any "
             "head to read",
        "d": "that removes what grounding needs (which colour is on which shape is only in the regions): "
             "it would fail for a known reason and tell nothing about the regions",
    }
    if not isinstance(choice, str):
        return report(name, False, f"{choice!r} is not one of {sorted(EARLY_OPTIONS)}: answer with one letter, "
                                   "as a string.")
    choice = choice.strip().strip("()").strip().lower()
    if choice not in EARLY_OPTIONS:
        return report(name, False, f"{choice!r} is not one of {sorted(EARLY_OPTIONS)}.")
    if choice != "c":
        return report(name, False, f"({choice}) {why_not[choice]}.")
    return report(name, True, "the claim was about a budget (4,000 memes, 20 epochs); only a bigger budget "
                              "can refute it. If the dev AUROC starts to climb after epoch 20, or with more "
                              "memes, the failure was the budget; if it stays flat, look at the model.")
