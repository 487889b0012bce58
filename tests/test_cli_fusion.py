"""The fusion commands: `mmlab fusions`, `mmlab compare`, and `mmlab train --fusion NAME` for every name."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mmlab.cli import main
from mmlab.fusion import FUSIONS
from mmlab.models import MODELS


def run(*args):
    return subprocess.run([sys.executable, "-m", "mmlab", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def test_fusions_lists_every_strategy_with_a_description():
    result = run("fusions")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    for name, spec in FUSIONS.items():
        assert any(line.split()[0] == name and spec.description in line for line in lines), name


@pytest.mark.parametrize("args, words", [
    (("compare", "--fusions", "late,magic"), ["--fusions", "'magic'", "fix:"]),
    (("compare", "--tasks", "cats"), ["--tasks", "'cats'", "fix:"]),
    (("train", "--fusion", "magic"), ["invalid choice", "cross_attention", "fix:"]),
])
def test_unknown_names_are_one_line_errors(args, words):
    result = run(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mmlab: error: ")
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


def test_compare_prints_json_rows(capsys):
    assert main(["compare", "--tasks", "memes", "--fusions", "late,concat", "--n", "24", "--epochs", "1",
                 "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["fusion"] for row in rows] == ["late", "concat"]
    assert all(0 <= row["accuracy"] <= 1 and row["task"] == "memes" for row in rows)


@pytest.mark.parametrize("fusion", list(MODELS))
def test_train_works_for_every_registered_name(fusion, tiny_memes, tmp_path, monkeypatch, capsys):
    import torch

    from mmlab.encoders import SmallCNN

    torch.manual_seed(0)
    # a random frozen encoder instead of minutes of pretraining: this test is about the plumbing
    monkeypatch.setattr("mmlab.run.frozen_image_encoder", lambda *args, **kwargs: (SmallCNN().eval(), 64))
    assert main(["train", "--data", str(tiny_memes), "--fusion", fusion, "--epochs", "1",
                 "--out", str(tmp_path / fusion), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["fusion"] == fusion and 0 <= result["accuracy"] <= 1
