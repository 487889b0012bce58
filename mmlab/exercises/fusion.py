"""Checkers for notebook 03, "Fusion strategies: a fair experiment"."""

from __future__ import annotations

from typing import Any

import pandas as pd
import torch

from mmlab.exercises import not_attempted, report, skipped
from mmlab.fusion import FUSIONS

SHORTLIST = ("late", "concat", "gmu", "cross_attention")


def missing_picture_losses(table: pd.DataFrame, task: str = "redundant", dropout: float = 0.0) -> pd.Series:
    """AUROC lost when the picture goes missing, per fusion (from `mmlab.compare.summarise`)."""
    rows = table[(table["task"] == task) & (table["modality_dropout"] == dropout) & (table["head"] == "mlp")]
    return (rows["mean"] - rows["auroc_no_image"]).set_axis(rows["fusion"]).loc[list(SHORTLIST)]


def check_missing_prediction(prediction: Any, table: pd.DataFrame) -> bool:
    """Exercise 1: which of SHORTLIST, trained without modality dropout, loses least with no picture."""
    name = "Exercise 1 (predict, then run)"
    if not_attempted(prediction):
        return skipped(name, f"Hint: write one name of {SHORTLIST} before you look at the table.")
    if prediction not in SHORTLIST:
        return report(name, False, f"{prediction!r} is not one of the four candidates {SHORTLIST}.")
    losses = missing_picture_losses(table)
    best = losses.idxmin()
    said = ", ".join(f"{fusion} {loss:+.3f}" for fusion, loss in losses.items())
    if prediction == best:
        return report(name, True, f"{best} loses least ({said} AUROC lost). Ask why before you read on: "
                                  "which part of it still decides when the picture's features are zeros?")
    return report(name, False, f"you predicted {prediction}, but {best} lost least ({said}). What does "
                               f"{prediction} do with an all-zero picture that {best} does not?")


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
    try:
        torch.manual_seed(0)
        fusion = fusion_class({"image": 6, "text": 4}, hidden=8).eval()
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
    with torch.no_grad():
        alone = fusion({"image": image[:1], "text": text[:1]})
        if not torch.allclose(alone[0], out[0], atol=1e-5):
            return report(name, False, "example 0's output changes with the other examples of the batch: "
                                       "fuse each example on its own (no mean or sum over dim 0).")
        a, a2, b, b2 = image[:1], image[1:2], text[:1], text[1:2]
        if _interaction(fusion, (a, a2), (b, b2)) < 1e-5:
            return report(name, False, "your fusion is additive: changing the caption shifts the output by "
                                       "the same amount whatever the picture. Multiply the projections.")
        mix = fusion({"image": (a + a2) / 2, "text": b})  # affine in the picture: the middle maps to the middle
        middle = (fusion({"image": a, "text": b}) + fusion({"image": a2, "text": b})) / 2
        if not torch.allclose(mix, middle, atol=1e-4):
            return report(name, False, "your output is not the plain product of two projections: it bends "
                                       "(a ReLU, sigmoid, abs or max somewhere?), so it is not affine in each "
                                       "modality. Return project_image(x) * project_text(y) and nothing else.")
    return report(name, True, "the output changes with the caption differently for each picture: a "
                              "multiplicative interaction in the operator itself (the idea behind MLB, "
                              "MFB and tensor fusion). Notebook 03's heads study shows what it buys.")


def check_control(design: Any, table: pd.DataFrame) -> bool:
    """Exercise 3: a control that tells whether concat's interaction is in the operator or the head.

    `design` is {"fusion": name, "heads": (head, head), "task": task, "conclusion": "head"|"operator"}.
    """
    name = "Exercise 3 (design the control)"
    if not_attempted(design) or (isinstance(design, dict) and all(not_attempted(v) for v in design.values())):
        return skipped(name, "Hint: keep everything fixed but one thing; which one?")
    if not isinstance(design, dict) or set(design) != {"fusion", "heads", "task", "conclusion"}:
        return report(name, False, "expected a dict with keys fusion, heads, task and conclusion.")
    if design["fusion"] != "concat":
        return report(name, False, f"the question is about concat; comparing {design['fusion']!r} answers "
                                   "another question.")
    heads = tuple(design["heads"]) if isinstance(design["heads"], (list, tuple)) else (design["heads"],)
    if sorted(heads) != ["linear", "mlp"]:
        return report(name, False, f"heads {heads}: vary the head and only the head, one run with a linear "
                                   "head and one with the MLP head, same fusion, same task.")
    if design["task"] != "memes":
        return report(name, False, f"on {design['task']!r} no interaction is needed (grounding needs tokens, "
                                   "redundant needs nothing): use the task whose sarcasm is an XOR, memes.")
    rows = table[(table["task"] == "memes") & (table["fusion"] == "concat") & (table["modality_dropout"] == 0)]
    by_head = rows.set_index("head")
    linear, mlp = by_head.loc["linear"], by_head.loc["mlp"]
    found = "head" if linear["ci_high"] < mlp["ci_low"] else "operator"
    said = (f"concat with a linear head {linear['mean']:.3f} [{linear['ci_low']:.3f}, {linear['ci_high']:.3f}], "
            f"with the MLP head {mlp['mean']:.3f} [{mlp['ci_low']:.3f}, {mlp['ci_high']:.3f}]")
    if design["conclusion"] != found:
        return report(name, False, f"the design is right, but read the result again: {said}.")
    return report(name, True, f"{said}: the interaction lives in the {found}.")


def fusion_names() -> list[str]:
    """The registered strategies (for the notebook's prompts)."""
    return list(FUSIONS)
