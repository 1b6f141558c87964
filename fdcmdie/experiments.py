"""The experiment plan (``configs/experiments.yaml``) and the ``experiments`` command that trains its missing runs.

A run is finished when ``runs/<name>-s<seed>/log.jsonl`` ends with its test record; finished runs are skipped,
so the command can be stopped and started again; a run stopped mid-way goes on from its last finished epoch
(``runs/<name>-s<seed>/resume.pt``, fdcmdie/train.py). ``ship: true`` copies seed 1's checkpoint to ``checkpoints/<name>``.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .facts import shipped_path


@dataclass
class Experiment:
    name: str
    group: str
    config: str
    label: str
    seeds: list[int]
    set: list[str] = field(default_factory=list)
    ship: bool = False
    paper: str | None = None
    gpu: bool = False          # the paper's recipe: run on a GPU (scripts/gpu_paper_recipe.py), not in a plain sweep

    def run_name(self, seed: int) -> str:
        return f"{self.name}-s{seed}"

    def command(self, seed: int, runs_dir: str) -> list[str]:
        cmd = ["python", "-m", "fdcmdie", "train", "--config", self.config]
        for s in [*self.set, f"train.seed={seed}"]:
            cmd += ["--set", s]
        return cmd + ["--out", f"{runs_dir}/{self.run_name(seed)}"]


def load_plan(path: str | Path = "configs/experiments.yaml") -> tuple[str, list[Experiment]]:
    raw = yaml.safe_load(Path(path).read_text())
    return raw.get("runs_dir", "runs"), [Experiment(**e) for e in raw["experiments"]]


def parse_log(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def read_log(path: Path) -> list[dict]:
    return parse_log(path.read_text()) if path.is_file() else []


def finished(log: list[dict]) -> dict | None:
    return log[-1] if log and log[-1].get("event") == "test" else None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plan", default="configs/experiments.yaml")
    p.add_argument("--group", action="append", help="only these groups (repeatable); default all")
    p.add_argument("--name", action="append", help="only these experiments (repeatable)")
    p.add_argument("--seeds", default=None, help="comma-separated seeds to run (default: the plan's)")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")


def main(args) -> int:
    runs_dir, plan = load_plan(args.plan)
    only_seeds = {int(s) for s in args.seeds.split(",")} if args.seeds else None
    for exp in plan:
        if (args.group and exp.group not in args.group) or (args.name and exp.name not in args.name):
            continue
        if exp.gpu and not (args.group or args.name):
            print(f"skip     {exp.name}: a GPU run (scripts/gpu_paper_recipe.py); select it with --group {exp.group}")
            continue
        for seed in exp.seeds:
            if only_seeds and seed not in only_seeds:
                continue
            out = Path(runs_dir) / exp.run_name(seed)
            cmd = exp.command(seed, runs_dir)
            if finished(read_log(out / "log.jsonl")):
                print(f"done     {' '.join(cmd)}")
            elif args.dry_run:
                print(f"to run   {' '.join(cmd)}")
            else:
                print(f"running  {' '.join(cmd)}", flush=True)
                rc = subprocess.call([sys.executable, *cmd[1:], "--no-progress"])
                if rc != 0:
                    print(f"failed ({rc}): {exp.run_name(seed)}", file=sys.stderr)
                    continue
            if exp.ship and seed == 1 and (out / "checkpoint").is_dir() and not args.dry_run:
                dest = Path(shipped_path(exp.name))
                shutil.rmtree(dest, ignore_errors=True)
                shutil.copytree(out / "checkpoint", dest)
                print(f"shipped  {dest}")
    return 0
