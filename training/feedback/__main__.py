"""``python -m training.feedback export|retrain [options]``: see training/README.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli import setup_logging
from settings import load_settings
from training.feedback import dataset, export, retrain
from training.feedback.gate import Rules


def parser() -> argparse.ArgumentParser:
    """The command line of both subcommands."""
    main = argparse.ArgumentParser(prog="python -m training.feedback", description=__doc__)
    commands = main.add_subparsers(dest="command", required=True)
    out = commands.add_parser("export", help="labelled predictions of the store -> dataset file")
    out.add_argument("--out", type=Path, default=dataset.DEFAULT_DIR, help="output folder")
    out.add_argument("--ranges", type=int, default=export.DEFAULT_RANGES,
                     help="ranges the table is cut into (the unit of resumption)")  # fmt: skip
    out.add_argument("--workers", type=int, default=export.DEFAULT_WORKERS)
    out.add_argument("--fetch-size", type=int, default=export.DEFAULT_FETCH_SIZE)
    out.add_argument("--restart", action="store_true", help="ignore an interrupted export")
    run = commands.add_parser("retrain", help="fine-tune on the feedback, gate, promote")
    defaults = retrain.RetrainConfig()
    run.add_argument("--dataset", type=Path, help="feedback file (default: the newest)")
    run.add_argument("--report-dir", type=Path, default=defaults.report_dir)
    for name in ("epochs", "weight", "replay", "realistic", "per_condition", "seed"):
        run.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    run.add_argument("--holdout", type=float, default=defaults.holdout)
    run.add_argument("--peak-lr", type=float, default=defaults.peak_lr)
    run.add_argument("--no-promote", action="store_true", help="gate and report only")
    return main


def main(argv: list[str] | None = None) -> int:
    """Run a subcommand; prints the dataset path (export) or the candidate's tag (retrain).

    Exits 0 whether or not the candidate was promoted (see the log and reports/retrain/).
    """
    args = parser().parse_args(argv)
    settings = load_settings()
    setup_logging(settings.log_level)
    if args.command == "export":
        source = export.open_source(settings)
        try:
            result = export.export(
                source, args.out, ranges=args.ranges, workers=args.workers,
                fetch_size=args.fetch_size, restart=args.restart,
            )  # fmt: skip
        finally:
            source.close()
        print(result.path)
        return 0
    config = retrain.RetrainConfig(
        dataset=args.dataset, report_dir=args.report_dir, epochs=args.epochs,
        weight=args.weight, holdout=args.holdout, replay=args.replay,
        realistic=args.realistic, per_condition=args.per_condition, peak_lr=args.peak_lr,
        seed=args.seed, promote=not args.no_promote, rules=Rules(),
    )  # fmt: skip
    outcome = retrain.retrain(config, settings)
    print(outcome.candidate)  # stored either way; promoted only if the gate accepted it
    return 0


if __name__ == "__main__":
    sys.exit(main())
