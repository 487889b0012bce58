"""The `mmlab` command line: data, check, grid, train, fusions, compare.

Each command has its options added by an `_add_...` function (`mmlab COMMAND --help` lists them)
and is carried out by `_run_<command>`, mostly a call into the library.

Mistakes a user can make (a wrong path, a broken jsonl line, an unknown name) end with exit
status 2 and one line on stderr, `mmlab: error: ...`, that says where and how to fix it.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

from mmlab.errors import MmlabError


class _Parser(argparse.ArgumentParser):
    """argparse, but usage mistakes print one line (no usage block) like every other error, and
    an option must be spelled out: `mmlab compare --seed 3` is an error, not `--seeds 3`."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, allow_abbrev=False, **kwargs)

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
    from mmlab.fusion import FUSIONS
    from mmlab.models import MODELS

    train = commands.add_parser("train", help="train and evaluate a meme classifier (the kit's main job)")
    source = train.add_mutually_exclusive_group()
    source.add_argument("--data", type=Path, help="a dataset folder in the Hateful Memes layout")
    source.add_argument("--task", default="memes", choices=TASKS, help="SynthMemes task (default: memes)")
    train.add_argument("--model", choices=list(MODELS), default=None,
                       help="classic (LanguageAndVisionConcat, the default), image_only, text_only, or "
                            "fusion (a strategy of `mmlab fusions`, chosen with --fusion)")
    train.add_argument("--fusion", choices=[*FUSIONS, *OLD_FUSION_NAMES], default=None, metavar="NAME",
                       help="a fusion strategy (see `mmlab fusions`); implies --model fusion")
    train.add_argument("--image-encoder", default="small_cnn", choices=IMAGE_ENCODERS,
                       help="frozen image encoder (default: small_cnn, pretrained on SynthMemes)")
    train.add_argument("--weights", help="local weights file for the image encoder (e.g. torchvision's "
                                         "ImageNet ResNet-152); pictures then go in at 224 px")
    train.add_argument("--dev-split", help="validation split (default: dev, or dev_seen)")
    train.add_argument("--test-split", help="test split (default: test, or test_seen)")
    train.add_argument("--epochs", type=int, default=20, help="most epochs; early stopping may end sooner")
    train.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    train.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    train.add_argument("--out", type=Path, help="run folder (default: runs/<task>-<model>-seed<S>)")
    train.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    train.add_argument("--json", action="store_true", help="no progress bars; print the result as one JSON line")
    train.set_defaults(run=_run_train)


# Spellings of earlier versions, still accepted: `--fusion image` and `--fusion text` were baselines.
OLD_FUSION_NAMES = {"image": "image_only", "text": "text_only"}


def _model_and_fusion(args: argparse.Namespace) -> tuple[str, str]:
    """The model to build from --model and --fusion (a --fusion alone means --model fusion)."""
    if args.fusion in OLD_FUSION_NAMES:
        model = OLD_FUSION_NAMES[args.fusion]
        print(f"mmlab: note: --fusion {args.fusion} is now --model {model}", file=sys.stderr)
        return model, "concat"
    if args.model is None:
        return ("fusion", args.fusion) if args.fusion else ("classic", "concat")
    if args.fusion and args.model != "fusion":
        raise MmlabError(f"--fusion {args.fusion} goes with --model fusion, not --model {args.model} "
                         "(fix: drop one of the two)")
    return args.model, args.fusion or "concat"


def _run_train(args: argparse.Namespace) -> int:
    import json

    from mmlab.experiment import train_run
    from mmlab.utils import limit_threads

    limit_threads()
    model, fusion = _model_and_fusion(args)
    result = train_run(args.data, args.task, model, fusion, args.epochs, args.seed, args.device, args.out,
                       args.resume, progress=not args.json, image_encoder=args.image_encoder,
                       weights=args.weights, dev_split=args.dev_split, test_split=args.test_split)
    if args.json:
        print(json.dumps(result))
        return 0
    what = f"fusion {result['fusion']}" if model == "fusion" else f"model {model}"
    print(f"\n{result['task']}, {what}, on {result['device']}: {result['epochs_run']} epochs "
          f"(best {result['best_epoch']}), {result['n_train']} training memes")
    splits = result["splits"]
    rows = [(f"{splits['test']} accuracy", result["accuracy"], ".3f"),
            (f"{splits['test']} AUROC", result["auroc"], ".3f")]
    if "auroc_unseen" in result:
        rows += [(f"{splits['unseen']} accuracy", result["accuracy_unseen"], ".3f"),
                 (f"{splits['unseen']} AUROC", result["auroc_unseen"], ".3f")]
    rows += [(f"{splits['dev']} AUROC", result["dev_auroc"], ".3f"), ("test memes", result["n_test"], "d"),
             ("training seconds", result["train_seconds"], ".1f"),
             ("total seconds", result["total_seconds"], ".1f")]
    width = max(len(row[0]) for row in rows)
    for name, value, spec in rows:
        shown = "- (no labels)" if value is None else format(value, spec)
        print(f"  {name:<{width}} {shown:>7}")
    print(f"run folder: {result['out']} (config.json, metrics.json, history.csv, predictions.csv, "
          "curves.png, checkpoints/)")
    return 0


def _add_fusion_commands(commands: argparse._SubParsersAction) -> None:
    fusions = commands.add_parser("fusions", help="list the fusion strategies (each works with `mmlab train --fusion`)")
    fusions.set_defaults(run=_run_fusions)
    compare = commands.add_parser("compare", help="the fusion study: every strategy on the SynthMemes tasks, "
                                                   "several seeds, 95 %% intervals (notebook 03)")
    compare.add_argument("--tasks", help="comma-separated tasks: memes, grounding, "
                         "redundant (default: memes,grounding; redundant, where every strategy scores 1, is for "
                         "--modality-dropout)")
    compare.add_argument("--fusions", default=None, help="comma-separated fusion names (default: all)")
    compare.add_argument("--seeds", type=int, default=5, help="seeds per strategy (default: 5)")
    compare.add_argument("--lrs", help="comma-separated learning rates, tuned on "
                         "dev per strategy (default: 0.0003,0.001,0.003)")
    compare.add_argument("--heads", default="mlp", help="comma-separated heads, mlp and/or linear (default: mlp)")
    compare.add_argument("--modality-dropout", default="0", help="comma-separated rates applied to every "
                                                                 "strategy (default: 0)")
    compare.add_argument("--n", type=int, default=None, help="training memes per task (default: each task's "
                                                             "default dataset)")
    compare.add_argument("--epochs", type=int, default=20, help="most epochs per run (default: 20)")
    compare.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    compare.add_argument("--jobs", type=int, default=None, help="worker processes (default: one per CPU)")
    compare.add_argument("--out", type=Path, help="write every run to this CSV file (summarise it with "
                                                  "mmlab.compare.summarise)")
    compare.add_argument("--json", action="store_true", help="no progress bar; the last line is the table as "
                                                             "JSON, one object per task and strategy")
    compare.set_defaults(run=_run_compare)


def _run_fusions(args: argparse.Namespace) -> int:
    from mmlab.fusion import FUSIONS

    width = max(map(len, FUSIONS))
    for name, spec in FUSIONS.items():
        print(f"{name:<{width}}  {spec.description}")
    print("\nEach one trains with `mmlab train --fusion NAME` (the model gets the encoders' tokens and "
          "pooled vectors and reads what the strategy was designed for); the baselines are "
          "`mmlab train --model image_only` and `--model text_only`.")
    return 0


def _names(value: str | None, known: tuple[str, ...] | list[str], option: str,
           default: tuple[str, ...] | None = None) -> list[str]:
    """Comma-separated names from `option`, each checked against `known`; when the option is not
    given, `default` (or every known name)."""
    if value is None:
        return list(known if default is None else default)
    names = [name.strip() for name in value.split(",") if name.strip()]
    for name in names:
        if name not in known:
            raise MmlabError(f"{option}: unknown name {name!r} (fix: choose from {', '.join(known)})")
    return names


def _numbers(text: str | None, option: str, example: str, default: tuple[float, ...] = ()) -> list[float]:
    """A comma-separated list of numbers given to `option`; `default` when it is not given."""
    if text is None:
        return list(default)
    try:
        return [float(value) for value in text.split(",")]
    except ValueError:
        raise MmlabError(f"{option} {text}: not numbers (fix: e.g. {example})") from None


def _run_compare(args: argparse.Namespace) -> int:
    import json

    from mmlab.compare import LEARNING_RATES, STUDY_TASKS, compare_fusions, summarise
    from mmlab.data.synthmemes import TASKS
    from mmlab.fusion import FUSIONS
    from mmlab.io import atomic_path
    from mmlab.models import HEADS
    from mmlab.utils import limit_threads

    limit_threads()
    tasks = _names(args.tasks, TASKS, "--tasks", default=STUDY_TASKS)
    fusions = _names(args.fusions, list(FUSIONS), "--fusions")
    heads = _names(args.heads, HEADS, "--heads")
    dropout = _numbers(args.modality_dropout, "--modality-dropout", "0,0.3")
    lrs = _numbers(args.lrs, "--lrs", "0.001,0.003", default=LEARNING_RATES)
    started = time.perf_counter()
    runs = compare_fusions(tasks, fusions, seeds=args.seeds, lrs=lrs, heads=heads, modality_dropout=dropout,
                           epochs=args.epochs, n=args.n, device=args.device, jobs=args.jobs,
                           progress=not args.json)
    if args.out is not None:
        with atomic_path(args.out) as tmp:
            runs.to_csv(tmp, index=False)
    table = summarise(runs)
    print(f"{len(runs)} runs in {time.perf_counter() - started:.0f} s; {table['metric'].iloc[0]} on the "
          "test split, mean and 95 % interval over seeds", file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(table.to_dict(orient="records")))
    else:
        print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    return 0


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings from mmlab reach the user as one line, like errors."""
    print(f"mmlab: warning: {message}", file=sys.stderr)


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
    warnings.showwarning = _one_line_warning
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
