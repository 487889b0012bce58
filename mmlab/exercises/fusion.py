"""Checkers for notebook 03, "Fusion strategies: a fair experiment"."""

from __future__ import annotations

from typing import Any

import torch

from mmlab.encoders import EncoderOutput
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
        print(f"⏳ {name}: prediction noted ({prediction}); now run the measuring cell below.")
        return False
    if not isinstance(lost, dict):
        return report(name, False, f"`lost` should be a dict {{'picture': ..., 'caption': ...}}, got "
                                   f"{type(lost).__name__}.")
    lost = {synonyms.get(str(key).lower(), key): value for key, value in lost.items()}
    if set(lost) != {"picture", "caption"}:
        return report(name, False, f"`lost` should be {{'picture': ..., 'caption': ...}}, got {sorted(lost)}.")
    try:  # a NumPy number or a 0-d tensor is a number too; a string is not
        lost = {key: float(value) for key, value in lost.items() if not isinstance(value, str)}
    except (TypeError, ValueError):
        lost = {}
    if len(lost) != 2:
        return report(name, False, "the values of `lost` should be numbers: the AUROC lost without each modality.")
    if min(lost.values()) < 0:
        return report(name, False, f"`lost` holds {lost}: a negative loss. The AUROC lost is the AUROC with "
                                   "both minus the AUROC without one.")
    if max(lost.values()) > 0.5:
        return report(name, False, f"`lost` holds {lost}: it should hold the AUROC *lost* (with both minus "
                                   "without one), a number between 0 and 0.5, not the AUROC left.")
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


def _call(fusion: Any, image: torch.Tensor, text: torch.Tensor, tokens_seed: int = 0) -> torch.Tensor:
    """The fusion on pooled vectors (B, D), passed as the kit passes them: EncoderOutputs. Their
    tokens (3 per example) are random, drawn with `tokens_seed`: the exercise fuses `.pooled`."""
    def as_output(x: torch.Tensor, stream: int) -> EncoderOutput:
        generator = torch.Generator().manual_seed(2 * tokens_seed + stream)
        bank = torch.randn(8, 3, x.shape[1], generator=generator)  # row i's tokens, whatever the batch size
        return EncoderOutput(bank[:len(x)], x, None)

    return fusion({"image": as_output(image, 0), "text": as_output(text, 1)})


def _interaction(fusion: Any, a: tuple[torch.Tensor, torch.Tensor], b: tuple[torch.Tensor, torch.Tensor]) -> float:
    """f(a, b) - f(a, b') - f(a', b) + f(a', b'): zero for an additive fusion."""
    out = [_call(fusion, i, t) for i in a for t in b]
    return (out[0] - out[1] - out[2] + out[3]).abs().max().item()


def _affine(fusion: Any, a: torch.Tensor, a2: torch.Tensor, b: torch.Tensor, b2: torch.Tensor) -> bool:
    """Whether the midpoint of two pictures maps to the midpoint of their outputs, and the same
    for two captions: true of a product of two affine maps, false where something bends."""
    a, a2, b, b2 = 20 * a, 20 * a2, 20 * b, 20 * b2  # far from zero too, where a clamp would bend
    close = lambda x, y: torch.allclose(x, y, rtol=1e-4, atol=1e-4)
    ab = _call(fusion, a, b)
    return (close(_call(fusion, (a + a2) / 2, b), (ab + _call(fusion, a2, b)) / 2)
            and close(_call(fusion, a, (b + b2) / 2), (ab + _call(fusion, a, b2)) / 2))


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
        out = _call(fusion, image, text)
        mistake = None if not_attempted(out) else _product_mistake(fusion, out, image, text, hidden)
    except Exception as error:  # a learner's class may fail in any way
        where = ("; the features are EncoderOutputs: read each modality's vector with pooled(features[m])"
                 if isinstance(error, (TypeError, AttributeError)) else "")
        return report(name, False, f"building or calling it raised {type(error).__name__}: {error}{where}")
    if not_attempted(out):
        return skipped(name, "forward returns nothing yet: `return` the fused (B, hidden) tensor. " + hint)
    if mistake:
        return report(name, False, mistake)
    return report(name, True, "the output changes with the caption differently for each picture: a "
                              "multiplicative interaction in the operator itself (the idea behind MLB, "
                              "MFB and tensor fusion). Notebook 03's heads study shows what it buys.")


def _product_mistake(fusion: Any, out: Any, image: torch.Tensor, text: torch.Tensor, hidden: int) -> str | None:
    """What is wrong with a learner's product fusion (its output `out` on `image`, `text`), or None."""
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or len(out) != len(image):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        return f"expected a tensor of shape (5, hidden) = (5, {hidden}) for 5 examples, got {shape}."
    if out.shape[1] == hidden * hidden:
        return ("your output has hidden * hidden features: every pair of features, the outer product "
                "(tensor fusion). Multiply feature k of the picture's projection with feature k of the "
                "caption's only: (B, hidden).")
    if out.shape[1] != hidden:
        return (f"your output has {out.shape[1]} features per example; an elementwise product of two "
                f"(B, hidden) projections keeps hidden = {hidden} (no sum, no concatenation).")
    if getattr(fusion, "output_dim", None) != hidden:
        return f"forward returns {hidden} features but self.output_dim is {getattr(fusion, 'output_dim', None)}."
    a, a2, b, b2 = image[:1], image[1:2], text[:1], text[1:2]
    with torch.no_grad():
        ab = _call(fusion, a, b)  # example 0 alone
        if not torch.allclose(ab[0], out[0], atol=1e-5):
            return ("example 0's output changes with the other examples of the batch (or with every call): "
                    "fuse each example on its own, with layers built in __init__.")
        if not torch.allclose(out, _call(fusion, image, text, tokens_seed=1), atol=1e-6):
            return ("your output changes with the tokens (the cells or words): fuse each modality's pooled "
                    "vector, pooled(features[m]).")
        try:
            seven = _call(fusion, torch.randn(7, image.shape[1]), torch.randn(7, text.shape[1]))
        except Exception as error:  # e.g. an index or a shape that assumes 5 examples
            seven = f"an error ({type(error).__name__}: {error})"
        if not isinstance(seven, torch.Tensor) or tuple(seven.shape) != (7, hidden):
            shape = f"shape {tuple(seven.shape)}" if isinstance(seven, torch.Tensor) else seven
            return (f"for a batch of 7 examples your fusion gives {shape}, not shape (7, {hidden}): "
                    "work for any batch size (no 5 written into the code).")
        if torch.allclose(ab, _call(fusion, a, b2), atol=1e-6):
            return "your output does not change with the caption: use both projections."
        if torch.allclose(ab, _call(fusion, a2, b), atol=1e-6):
            return "your output does not change with the picture: use both projections."
    if out.requires_grad:
        out.sum().backward()
    frozen = [param for param, p in fusion.named_parameters() if p.grad is None or not p.grad.any()]
    if frozen:
        return (f"no gradient reaches {', '.join(frozen)}: a `.detach()`, `torch.no_grad()` or a round trip "
                "through NumPy cuts the graph (or forward never uses that layer), and training could never "
                "change those weights.")
    with torch.no_grad():
        if _interaction(fusion, (a, a2), (b, b2)) < 1e-5:
            return ("your fusion is additive: changing the caption shifts the output by the same amount "
                    "whatever the picture. Multiply the projections.")
        if not _affine(fusion, a, a2, b, b2):
            return ("your output is not the plain product of two projections: it bends (a ReLU, sigmoid, "
                    "clamp, abs or max somewhere?), so it is not affine in each modality. Return "
                    "project_image(x) * project_text(y) and nothing else.")
    return None


EARLY_OPTIONS = {
    "a": "run early fusion with 10 seeds instead of 5",
    "b": "give it a linear head instead of the MLP head",
    "c": "give it a bigger budget: 100 epochs without early stopping, more training pictures, and "
         "watch the dev AUROC per epoch",
    "d": "feed it the pooled picture instead of the 16 regions",
}


def check_early_control(choice: Any) -> bool:
    """Exercise 3: which experiment tells "early fusion cannot bind" from "not within this budget"."""
    name = "Exercise 3 (design the control)"
    if not_attempted(choice):
        return skipped(name, f"Hint: pick one of {sorted(EARLY_OPTIONS)}; which one changes the budget?")
    why_not = {
        "a": "more seeds on the same budget could find a lucky run, but the claim is about the budget: "
             "five seeds at chance leave it untested either way, and ten more at the same budget still would",
        "b": "a head swap changes the model and, through the tuning, its learning rate; it does not change "
             "the budget (data, epochs, patience) the claim is about",
        "d": "that removes what grounding needs (which colour is on which shape is only in the regions): "
             "it would fail for a known reason and tell nothing about the regions",
    }
    if not isinstance(choice, str):
        return report(name, False, f"{choice!r} is not one of {sorted(EARLY_OPTIONS)}: answer with one letter, "
                                   "as a string.")
    choice = choice.strip().strip("().").strip().lower()
    if choice not in EARLY_OPTIONS:
        return report(name, False, f"{choice!r} is not one of {sorted(EARLY_OPTIONS)}.")
    if choice != "c":
        return report(name, False, f"({choice}) {why_not[choice]}.")
    return report(name, True, "the claim was about a budget (4,000 pictures, at most 20 epochs, early "
                              "stopping after 3 epochs without progress); only a bigger budget can test "
                              "it. If the dev AUROC starts to climb late, or with more pictures, the "
                              "failure was the budget; if it stays flat, look at the model.")
