"""Checkers for notebook 03, "The fusion zoo"."""

from __future__ import annotations

from typing import Any

import torch

from mmlab.exercises import not_attempted, report, skipped
from mmlab.fusion import FUSIONS

SCENARIOS = {
    "no_audio": "A video classifier must keep working on clips that have no audio track.",
    "describes": "Decide whether a caption such as 'the red car is left of the blue house' describes the photo.",
    "sarcasm": "Flag memes where a cheerful caption sits on a grim picture (and only then).",
}


def check_product_fusion(fusion_class: Any) -> bool:
    """Exercise 1: a Fusion subclass whose output is the elementwise product of two projections."""
    name = "Exercise 1 (a product fusion)"
    hint = ("Hint: self.project[name] maps each modality to (B, hidden); the exercise's title says how to "
            "combine the two.")
    if not_attempted(fusion_class):
        return skipped(name, hint)
    try:
        torch.manual_seed(0)
        fusion = fusion_class({"image": 6, "text": 4}, hidden=8)
        image = torch.randn(5, 6, requires_grad=True)
        text = torch.randn(5, 4, requires_grad=True)
        out = fusion({"image": image, "text": text})
    except Exception as error:  # a learner's class may fail in any way
        return report(name, False, f"building or calling it raised {type(error).__name__}: {error}")
    if not_attempted(out):
        return skipped(name, "forward returns nothing yet: `return` the fused (B, hidden) tensor. " + hint)
    if not isinstance(out, torch.Tensor) or out.shape != (5, getattr(fusion, "output_dim", -1)):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        return report(name, False, f"expected a tensor of shape (5, output_dim) = (5, {getattr(fusion, 'output_dim', '?')}), got {shape}.")
    out.sum().backward()
    if image.grad is None or text.grad is None or image.grad.abs().sum() == 0 or text.grad.abs().sum() == 0:
        return report(name, False, "the output must depend on both the image and the text features.")
    with torch.no_grad():  # the "interaction": how much the effect of the text depends on the image
        image_1, image_2, text_1, text_2 = torch.randn(1, 6), torch.randn(1, 6), torch.randn(1, 4), torch.randn(1, 4)
        outputs = [fusion({"image": i, "text": t}) for i in (image_1, image_2) for t in (text_1, text_2)]
        interaction = (outputs[0] - outputs[1] - outputs[2] + outputs[3]).abs().max().item()
    if interaction < 1e-5:
        return report(name, False, "your fusion is additive: changing the caption shifts the output by the "
                                   "same amount whatever the picture. Like late fusion, it cannot learn an XOR. "
                                   "Multiply the projections instead of adding them.")
    return report(name, True, "the output changes with the text *differently for each picture*: a "
                              "multiplicative interaction, the idea behind FiLM, MLB/MFB and tensor fusion.")


def check_fusion_choice(answers: Any) -> bool:
    """Exercise 2: a dict scenario -> fusion name, for the scenarios in `SCENARIOS`."""
    name = "Exercise 2 (choose the fusion)"
    if not_attempted(answers) or (isinstance(answers, dict) and all(not_attempted(v) for v in answers.values())):
        return skipped(name, "Hint: fill in a fusion name (a key of FUSIONS) for each scenario.")
    if not isinstance(answers, dict) or set(answers) != set(SCENARIOS):
        return report(name, False, f"expected a dict with the keys {sorted(SCENARIOS)}.")
    problems = []
    for scenario, choice in answers.items():
        if choice not in FUSIONS:
            problems.append(f"{scenario}: {choice!r} is not a registered fusion (see FUSIONS)")
            continue
        module = FUSIONS[choice].make
        if scenario == "no_audio" and not module.handles_missing:
            problems.append(f"no_audio: {choice} needs every modality; pick one that `handles_missing` "
                            "(the redundant task's 'image missing' column shows which ones survive)")
        if scenario == "describes" and FUSIONS[choice].inputs != "tokens":
            problems.append(f"describes: {choice} reads pooled vectors, which have lost which colour sits on "
                            "which object; the grounding column shows what keeps it")
        if scenario == "sarcasm" and choice == "late":
            problems.append("sarcasm: late fusion adds one score per modality and cannot represent "
                            "'caption and picture disagree' (an XOR); see the memes column")
    if problems:
        return report(name, False, f"{len(problems)} of 3 to rethink; first: {problems[0]}.")
    return report(name, True, "each choice matches what the table measured: robustness to a missing "
                              "modality, grounding with tokens, and an interaction for the confounded memes.")
