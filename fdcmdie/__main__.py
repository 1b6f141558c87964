"""Command line: ``python -m fdcmdie {train,evaluate,extract,experiments,report,robustness} --help``.

Each sub-command lives in its own module exposing ``add_arguments(parser)`` and ``main(args) -> int``;
modules are imported only when their command runs, so ``--help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "train": ("fdcmdie.train", "train FD-CMDIE from a YAML config"),
    "evaluate": ("fdcmdie.evaluate", "evaluate a checkpoint folder on a split"),
    "extract": ("fdcmdie.extract.batch", "turn a folder of raw clips into an MMSA-format feature pickle"),
    "experiments": ("fdcmdie.experiments", "train the missing runs of configs/experiments.yaml (resumable)"),
    "report": ("fdcmdie.report", "build docs/RESULTS.md from run logs"),
    "robustness": ("fdcmdie.report.robustness", "metrics as modalities are removed or noised and words dropped"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m fdcmdie", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(COMMANDS) + "}")
    for name, (_, help_) in COMMANDS.items():
        sub.add_parser(name, help=help_, add_help=False)
    if not argv or argv[0] not in COMMANDS:
        parser.print_help() if not argv or argv[0] in ("-h", "--help") else parser.error(f"unknown command {argv[0]!r}")
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    module_name, help_ = COMMANDS[argv[0]]
    module = importlib.import_module(module_name)
    cmd = argparse.ArgumentParser(prog=f"python -m fdcmdie {argv[0]}", description=help_)
    module.add_arguments(cmd)
    args = cmd.parse_args(argv[1:])
    try:
        return int(module.main(args) or 0)
    except (FileNotFoundError, ValueError) as e:  # user errors: one clear line, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
