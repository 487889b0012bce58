"""The `mmlab` command line.

    mmlab data  --out DIR [--task T] [--difficulty realistic|clean] [--n N] [--seed S] [--size PX]
                [--negation P] [--noise E]
    mmlab check DIR
    mmlab grid  DIR [--split S] [--out FILE.png]
    mmlab train [--data DIR | --task T] [--fusion NAME] [--image-encoder NAME] [--weights FILE]
                [--epochs N] [--seed S] [--device auto|cpu|cuda] [--out RUN_DIR] [--resume] [--json]
    mmlab fusions
    mmlab compare [--tasks T,T] [--fusions NAME,NAME] [--n N] [--epochs N] [--seed S] [--json]

Mistakes a user can make (a wrong path, a broken jsonl line, an unknown name) end with exit
status 2 and one line on stderr, `mmlab: error: ...`, that says where and how to fix it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from mmlab.errors import MmlabError


class _Parser(argparse.ArgumentParser):
    """argparse, but usage mistakes print one line (no usage block) like every other error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise MmlabError(f"{message} (fix: see `{self.prog} --help`)")


def _add_data_command(commands: argparse._SubParsersAction) -> None:
    from mmlab.data.synthmemes import DIFFICULTIES, TASKS

    data = commands.add_parser("data", help="generate a SynthMemes dataset folder")
    data.add_argument("--out", required=True, type=Path, help="folder to write (Hateful Memes layout)")
    data.add_argument("--task", default="memes", choices=TASKS, help="label rule (default: memes)")
    data.add_argument("--difficulty", choices=DIFFICULTIES, default=None,
                      help="memes only: realistic (default; phase-2 splits, noise, unseen memes) or "
                           "clean (one XOR rule, no noise)")
    data.add_argument("--n", type=int, default=4000, help="training memes; dev gets n/8, test n/4 (default: 4000)")
    data.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    data.add_argument("--size", type=int, default=64, help="picture size in pixels (default: 64)")
    data.add_argument("--negation", type=float, default=None,
                      help='share of captions written with "not" (default: 0.2 realistic, 0 clean)')
    data.add_argument("--noise", type=float, default=None,
                      help="realistic memes: share of labels flipped (default: 0.15)")
    data.set_defaults(run=_run_data)


def _run_data(args: argparse.Namespace) -> int:
    from mmlab.data.realistic import Knobs
    from mmlab.data.store import read_manifest, write_synthmemes

    start = time.perf_counter()
    before = read_manifest(args.out)
    knobs = Knobs(noise=args.noise) if args.noise is not None else None
    out = write_synthmemes(args.out, args.task, args.n, args.seed, args.size, args.negation,
                           args.difficulty, knobs)
    splits = read_manifest(out)["splits"]
    total = sum(splits.values())
    seconds = time.perf_counter() - start
    counts = ", ".join(f"{name} {count}" for name, count in splits.items())
    if before == read_manifest(out):
        print(f"{out}: already there and intact, reused ({counts})")
    else:
        print(f"{out}: wrote {total} memes ({counts}) in {seconds:.1f} s, {total / seconds:,.0f} memes/s")
    return 0


def _add_check_command(commands: argparse._SubParsersAction) -> None:
    check = commands.add_parser("check", help="validate a dataset folder (yours, SynthMemes or Hateful Memes)")
    check.add_argument("dir", type=Path, help="the dataset folder")
    check.add_argument("--no-images", action="store_true", help="skip opening every picture (faster)")
    check.set_defaults(run=_run_check)


def _run_check(args: argparse.Namespace) -> int:
    from mmlab.data.memes import check_dataset

    report = check_dataset(args.dir, check_images=not args.no_images)
    print(f"{args.dir}")
    if report.counts:
        print(report.table().to_string())
    for note in report.warnings:
        print(f"warning: {note}")
    if report.ok:
        print("no problems found")
        return 0
    print(f"{len(report.problems)} problem(s):")
    for problem in report.problems:
        print(f"  - {problem}")
    more = f" ({len(report.problems) - 1} more listed above)" if len(report.problems) > 1 else ""
    print(f"mmlab: error: {report.problems[0]}{more}", file=sys.stderr)
    return 2


def _add_grid_command(commands: argparse._SubParsersAction) -> None:
    grid = commands.add_parser("grid", help="save a picture grid of a dataset's first memes")
    grid.add_argument("dir", type=Path, help="the dataset folder")
    grid.add_argument("--split", default="train", help="which split (default: train)")
    grid.add_argument("--n", type=int, default=32, help="how many memes (default: 32)")
    grid.add_argument("--out", type=Path, default=None, help="PNG file (default: DIR/grid-SPLIT.png)")
    grid.set_defaults(run=_run_grid)


def _run_grid(args: argparse.Namespace) -> int:
    from mmlab.data.memes import MemeDataset
    from mmlab.viz import save_meme_grid

    dataset = MemeDataset(args.dir, args.split)
    out = args.out or args.dir / f"grid-{args.split}.png"
    save_meme_grid(dataset, out, n=args.n)
    print(f"{out}: a grid of the first {min(args.n, len(dataset))} {args.split} memes")
    return 0


def _add_train_command(commands: argparse._SubParsersAction) -> None:
    from mmlab.data.synthmemes import TASKS
    from mmlab.encoders import IMAGE_ENCODERS
    from mmlab.models import MODELS

    train = commands.add_parser("train", help="train and evaluate a meme classifier (the kit's main job)")
    source = train.add_mutually_exclusive_group()
    source.add_argument("--data", type=Path, help="a dataset folder in the Hateful Memes layout")
    source.add_argument("--task", default="memes", choices=TASKS, help="SynthMemes task (default: memes)")
    train.add_argument("--fusion", default="concat", choices=list(MODELS),
                       help="model: concat, image, text or any of `mmlab fusions` (default: concat)")
    train.add_argument("--image-encoder", default="small_cnn", choices=IMAGE_ENCODERS,
                       help="frozen image encoder (default: small_cnn, pretrained on SynthMemes)")
    train.add_argument("--weights", help="local weights file for the image encoder (e.g. torchvision's "
                                         "ImageNet ResNet-152); pictures then go in at 224 px")
    train.add_argument("--epochs", type=int, default=20, help="most epochs; early stopping may end sooner")
    train.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    train.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    train.add_argument("--out", type=Path, help="run folder (default: runs/<task>-<fusion>-seed<S>)")
    train.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    train.add_argument("--json", action="store_true", help="no progress bars; print the result as one JSON line")
    train.set_defaults(run=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    import json

    from mmlab.run import train_run

    result = train_run(args.data, args.task, args.fusion, args.epochs, args.seed, args.device, args.out,
                       args.resume, progress=not args.json, image_encoder=args.image_encoder,
                       weights=args.weights)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"\n{result['task']}, fusion {result['fusion']}, on {result['device']}: "
          f"{result['epochs_run']} epochs (best {result['best_epoch']}), {result['n_train']} training memes")
    rows = [("test accuracy", result["accuracy"], ".3f"), ("test AUROC", result["auroc"], ".3f"),
            ("test memes", result["n_test"], "d"), ("training seconds", result["train_seconds"], ".1f"),
            ("total seconds", result["total_seconds"], ".1f")]
    for name, value, spec in rows:
        shown = "-" if value is None else format(value, spec)  # None: a test split without labels
        print(f"  {name:<17} {shown:>7}")
    print(f"run folder: {result['out']} (config.json, metrics.json, history.csv, predictions.csv, "
          "curves.png, checkpoints/)")
    return 0


def _add_fusion_commands(commands: argparse._SubParsersAction) -> None:
    fusions = commands.add_parser("fusions", help="list the fusion strategies (each works with `mmlab train --fusion`)")
    fusions.set_defaults(run=_run_fusions)
    compare = commands.add_parser("compare", help="train every fusion on every SynthMemes task; print one table")
    compare.add_argument("--tasks", default="memes,grounding,redundant", help="comma-separated tasks (default: all)")
    compare.add_argument("--fusions", default=None, help="comma-separated fusion names (default: all)")
    compare.add_argument("--n", type=int, default=1000, help="training memes per task (default: 1000)")
    compare.add_argument("--epochs", type=int, default=12, help="epochs per fusion head (default: 12)")
    compare.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    compare.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    compare.add_argument("--json", action="store_true", help="print the table as JSON lines, one row each")
    compare.set_defaults(run=_run_compare)


def _run_fusions(args: argparse.Namespace) -> int:
    from mmlab.fusion import FUSIONS

    width = max(map(len, FUSIONS))
    for name, spec in FUSIONS.items():
        print(f"{name:<{width}}  {spec.description}")
    print(f"{'image':<{width}}  baseline for `mmlab train`: the picture only")
    print(f"{'text':<{width}}  baseline for `mmlab train`: the caption only")
    return 0


def _names(value: str | None, known: tuple[str, ...] | list[str], option: str) -> list[str]:
    """Comma-separated names from `option`, each checked against `known`."""
    if value is None:
        return list(known)
    names = [name.strip() for name in value.split(",") if name.strip()]
    for name in names:
        if name not in known:
            raise MmlabError(f"{option}: unknown name {name!r} (fix: choose from {', '.join(known)})")
    return names


def _run_compare(args: argparse.Namespace) -> int:
    import json

    import torch

    from mmlab.compare import compare_fusions
    from mmlab.data.synthmemes import TASKS
    from mmlab.fusion import FUSIONS

    tasks = _names(args.tasks, TASKS, "--tasks")
    fusions = _names(args.fusions, list(FUSIONS), "--fusions")
    torch.set_num_threads(1)  # measured: faster for these small heads on a 2-core CPU
    table = compare_fusions(tasks, fusions, n=args.n, epochs=args.epochs, seed=args.seed, device=args.device,
                            progress=not args.json)
    if args.json:
        for row in table.to_dict(orient="records"):
            print(json.dumps(row))
    else:
        print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from mmlab import __version__

    parser = _Parser(prog="mmlab", description="mmlab: a hands-on kit for multimodal deep learning")
    parser.add_argument("--version", action="version", version=f"mmlab {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_data_command(commands)
    _add_check_command(commands)
    _add_grid_command(commands)
    _add_train_command(commands)
    _add_fusion_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 user mistake)."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "run", None):
            parser.print_help()
            return 2
        return args.run(args)
    except MmlabError as error:
        print(f"mmlab: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mmlab: interrupted", file=sys.stderr)
        return 130
