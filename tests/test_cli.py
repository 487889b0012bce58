"""mmlab.cli: every command as a learner types it, and how user mistakes end."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

from mmlab.cli import main


def run(*args, cwd=None):
    """Run `python -m mmlab ARGS` in a real process, as a learner would."""
    return subprocess.run([sys.executable, "-m", "mmlab", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def assert_user_error(result, *words):
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mmlab: error: ")
    assert "Traceback" not in result.stderr + result.stdout
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_data_twice_gives_identical_files(tmp_path):
    first = run("data", "--out", tmp_path / "a", "--n", 40, "--seed", 1, "--difficulty", "clean")
    assert first.returncode == 0 and "wrote 55 memes" in first.stdout
    run("data", "--out", tmp_path / "b", "--n", 40, "--seed", 1, "--difficulty", "clean")
    for name in ["train.jsonl", "dev.jsonl", "test.jsonl", "img/00001.png", "img/00055.png"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    again = run("data", "--out", tmp_path / "a", "--n", 40, "--seed", 1, "--difficulty", "clean")
    assert "reused" in again.stdout


def test_check_a_good_dataset(tiny_memes, capsys):
    assert main(["check", str(tiny_memes)]) == 0
    out = capsys.readouterr().out
    assert "no problems found" in out and "train" in out


def test_check_a_broken_dataset_names_file_line_and_fix(tiny_memes, tmp_path):
    import shutil

    broken = shutil.copytree(tiny_memes, tmp_path / "broken")
    lines = (broken / "dev.jsonl").read_text().splitlines()
    lines[2] = lines[2].replace('"label": 0', '"label": 5').replace('"label": 1', '"label": 5')
    (broken / "dev.jsonl").write_text("\n".join(lines) + "\n")
    result = run("check", broken)
    assert_user_error(result, "broken/dev.jsonl line 3", "field 'label'", "fix:")
    assert "problem(s)" in result.stdout  # the full list goes to stdout


def test_missing_folder_and_bad_arguments_are_one_line_errors(tmp_path):
    assert_user_error(run("check", tmp_path / "nowhere"), "nowhere", "not found", "fix:")
    assert_user_error(run("data", "--out", tmp_path / "x", "--task", "cats"), "invalid choice", "fix:")
    assert_user_error(run("data", "--out", tmp_path / "x", "--n", "lots"), "invalid int value")
    assert_user_error(run("frobnicate"), "invalid choice")
    assert_user_error(run("data"), "--out")


def test_data_refuses_to_overwrite_someone_elses_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("x")
    assert_user_error(run("data", "--out", tmp_path / "mine"), "not a SynthMemes dataset")
    assert (tmp_path / "mine" / "keep.txt").read_text() == "x"


def test_grid_saves_a_picture(tiny_memes, tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["grid", str(tiny_memes), "--n", "8", "--out", str(out)]) == 0
    with Image.open(out) as grid:
        assert grid.width > 4 * 64 and grid.height >= 64


def test_version_and_help():
    result = run("--help")
    assert result.returncode == 0 and "data" in result.stdout and "check" in result.stdout


def test_train_on_a_broken_folder_is_one_line_error(tiny_memes, tmp_path):
    import shutil

    broken = shutil.copytree(tiny_memes, tmp_path / "broken")
    with open(broken / "train.jsonl", "a") as f:
        f.write("{oops\n")
    assert_user_error(run("train", "--data", broken, "--json"), "broken/train.jsonl line 49", "not valid JSON")
    (broken / "test.jsonl").unlink()
    assert_user_error(run("train", "--data", broken), "needs train, dev and test splits")
    assert_user_error(run("train", "--fusion", "magic"), "invalid choice", "cross_attention")


def test_train_with_a_local_weights_file_writes_a_whole_run_folder(tiny_memes, tmp_path):
    import pandas as pd
    import torch
    import torchvision

    weights = tmp_path / "resnet18.pth"  # stands in for torchvision's ImageNet file
    torch.save(torchvision.models.resnet18().state_dict(), weights)
    out = tmp_path / "run"
    result = run("train", "--data", tiny_memes, "--image-encoder", "resnet18", "--weights", weights,
                 "--epochs", "2", "--json", "--out", out)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("task", "fusion", "accuracy", "auroc", "train_seconds", "n_train", "n_test"):
        assert key in metrics
    assert (metrics["n_train"], metrics["n_test"]) == (48, 12)
    config = json.loads((out / "config.json").read_text())
    assert (config["image_encoder"], config["image_size"]) == ("resnet18", 224)
    predictions = pd.read_csv(out / "predictions.csv")
    assert list(predictions.columns) == ["id", "proba", "label"] and len(predictions) == 12
    for name in ("metrics.json", "history.csv", "curves.png", "checkpoints/best.pt", "checkpoints/last.pt"):
        assert (out / name).is_file(), name
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]  # no half-written file left behind


def test_train_image_encoder_mistakes_are_one_line_errors(tiny_memes, tmp_path):
    assert_user_error(run("train", "--data", tiny_memes, "--image-encoder", "vgg"), "invalid choice")
    assert_user_error(run("train", "--data", tiny_memes, "--image-encoder", "resnet18", "--weights",
                          tmp_path / "missing.pth"), "missing.pth not found")


def test_fusions_lists_every_strategy_with_a_description():
    from mmlab.fusion import FUSIONS

    result = run("fusions")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    for name, spec in FUSIONS.items():
        assert any(line.split()[:1] == [name] and spec.description in line for line in lines), name


@pytest.mark.parametrize("args, words", [
    (("compare", "--fusions", "late,magic"), ["--fusions", "'magic'", "fix:"]),
    (("compare", "--tasks", "cats"), ["--tasks", "'cats'", "fix:"]),
    (("compare", "--heads", "deep"), ["--heads", "'deep'", "fix:"]),
    (("compare", "--lrs", "fast"), ["--lrs fast", "not numbers", "fix:"]),
    (("train", "--model", "fusion", "--fusion", "magic"), ["invalid choice", "fix:"]),
    (("train", "--model", "text_only", "--fusion", "late"), ["--model fusion", "fix:"]),
    (("compare", "--seed", "3"), ["unrecognized arguments: --seed 3", "fix:"]),  # not --seeds 3
])
def test_unknown_names_are_one_line_errors(args, words):
    assert_user_error(run(*args), *words)


def test_compare_prints_the_table_as_json_on_its_last_line(capsys):
    assert main(["compare", "--tasks", "grounding", "--fusions", "late,concat", "--seeds", "2", "--n", "24",
                 "--epochs", "1", "--lrs", "0.002", "--jobs", "1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [row["fusion"] for row in rows] == ["late", "concat"]
    for row in rows:
        assert row["lr"] == 0.002
        assert row["task"] == "grounding" and row["metric"] == "auroc" and row["n_seeds"] == 2
        assert row["ci_low"] <= row["mean"] <= row["ci_high"] and row["params"] > 0


@pytest.mark.parametrize("args, model, fusion", [
    ([], "classic", "concat"),
    (["--fusion", "cross_attention"], "fusion", "cross_attention"),
    (["--model", "text_only"], "text_only", None),
])
def test_train_builds_the_model_asked_for(args, model, fusion, tiny_memes, tmp_path, capsys):
    assert main(["train", "--data", str(tiny_memes), *args, "--epochs", "1", "--out", str(tmp_path / "run"),
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (result["model"], result["fusion"]) == (model, fusion) and 0 <= result["accuracy"] <= 1


def test_old_spellings_still_work_with_a_note(tiny_memes, tmp_path):
    result = run("train", "--data", tiny_memes, "--fusion", "image", "--epochs", "1", "--json",
                 "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert "--fusion image is now --model image_only" in result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["model"] == "image_only"


def test_grid_of_pictures_of_every_size_and_mode(real_phase_2, tmp_path):
    out = tmp_path / "grid.png"
    result = run("grid", real_phase_2, "--n", "12", "--out", out)
    assert result.returncode == 0, result.stderr
    with Image.open(out) as grid:
        assert grid.mode == "RGB" and grid.width > 4 * 100


def test_train_on_the_real_layout_reports_dev_metrics_when_test_has_no_labels(real_phase_1, real_phase_2,
                                                                             tmp_path):
    import torch
    import torchvision

    weights = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), weights)
    encoder = ["--image-encoder", "resnet18", "--weights", weights, "--epochs", "1"]
    result = run("train", "--data", real_phase_1, *encoder, "--json", "--out", tmp_path / "p1")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["splits"]["test"] == "test" and metrics["accuracy"] is None  # no labels in test
    assert 0 <= metrics["dev_auroc"] <= 1
    text = run("train", "--data", real_phase_2, *encoder, "--test-split", "test_unseen", "--out", tmp_path / "p2")
    assert text.returncode == 0, text.stderr
    assert "test_unseen accuracy" in text.stdout and "(no labels)" in text.stdout
    assert "dev_seen AUROC" in text.stdout
