"""Training speed of the text-path recipes on this machine; writes docs/benchmarks/train.md.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/train_speed.py [--steps 3] [--threads 1] [--write]
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/train_speed.py --encoder multilingual-e5-small --write   # train-e5.md

One subprocess per recipe (so peak RSS is the recipe's own), text-only FD-CMDIE on the MOSI standard split, d = 256,
batch 32, one similar + one different member per anchor and step (``configs/mosi-ft.yaml``'s value):
frozen MiniLM (cached states), top-2 layers fine-tuned (cached layer-4 states), whole encoder (token ids), each with
the contrastive members passed through the model at every step (``loss.member_source=forward``) and taken from the
per-epoch bank (``bank``). Each subprocess times the per-epoch refresh of the sample sets (and bank) over the whole
training set, one warm-up step, then ``--steps`` training steps (median), and one validation pass; seconds per epoch
= refresh + steps per epoch x median step + validation, extrapolated, not a full epoch.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

RECIPES = {  # name -> --set overrides on configs/mosi-ft.yaml
    "frozen": ["model.text_finetune_layers=0"],
    "top-2": ["model.text_finetune_layers=2"],
    "top-4": ["model.text_finetune_layers=4"],
    "whole": ["model.text_finetune_layers=-1"],
}
COMMON = ["model.modalities=[t]", "model.d=256", "loss.members_per_step=1"]


def measure(recipe: str, source: str, steps: int, threads: int, data_root: str, encoder: str) -> dict:
    """Runs inside the subprocess: time one recipe, return its numbers."""
    import torch

    from fdcmdie.config import load_config
    from fdcmdie.evaluate import predict
    from fdcmdie.train import Run

    cfg = load_config("configs/mosi-ft.yaml", COMMON + RECIPES[recipe] + [
        f"loss.member_source={source}", f"train.threads={threads}", f"data.root={data_root}",
        f"model.text_encoder={encoder}"])
    t = time.perf_counter()
    run = Run(cfg, progress=False)
    setup_s = time.perf_counter() - t
    t, c = time.perf_counter(), time.process_time()
    similar, different = run.sample_sets()
    refresh_s, refresh_cpu = time.perf_counter() - t, time.process_time() - c
    run.model.train()
    order = run.rng.permutation(len(run.sets["train"]))
    bs = cfg.train.batch_size
    times, cpu = [], []
    for i in range(steps + 1):                         # step 0 is the warm-up
        t, c = time.perf_counter(), time.process_time()
        run.train_step(order[i * bs:(i + 1) * bs], similar, different)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    t, c = time.perf_counter(), time.process_time()
    predict(run.model, run.sets["valid"], cfg, device=run.device, keep_features=False)
    valid_s, valid_cpu = time.perf_counter() - t, time.process_time() - c
    step_s, step_cpu = statistics.median(times[1:]), statistics.median(cpu[1:])
    epoch_s = refresh_s + run.steps_per_epoch * step_s + valid_s
    epoch_cpu = refresh_cpu + run.steps_per_epoch * step_cpu + valid_cpu   # CPU seconds: what a free core would take
    return {"recipe": recipe, "source": source, "setup_s": setup_s, "refresh_s": refresh_s, "step_s": step_s,
            "steps": steps, "steps_per_epoch": run.steps_per_epoch, "valid_s": valid_s, "epoch_s": epoch_s,
            "step_cpu_s": step_cpu, "epoch_cpu_s": epoch_cpu,
            "samples_per_s": len(run.sets["train"]) / epoch_s, "train_samples_per_s": bs / step_s,
            "trainable": sum(p.numel() for p in run.model.parameters() if p.requires_grad),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "threads": torch.get_num_threads()}


def table(rows: list[dict]) -> list[str]:
    out = ["| recipe | members | trainable params | refresh (s) | step (s, median) | valid pass (s) | s / epoch | "
           "samples / s (epoch) | CPU s / step | CPU s / epoch | CPU min / 10 epochs | peak RSS (MB) |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['recipe']} | {r['source']} | failed: {r['error']} | | | | | | | | | |")
            continue
        out.append(f"| {r['recipe']} | {r['source']} | {r['trainable']:,} | {r['refresh_s']:.1f} | {r['step_s']:.2f} | "
                   f"{r['valid_s']:.1f} | {r['epoch_s']:.0f} | {r['samples_per_s']:.1f} | {r['step_cpu_s']:.2f} | "
                   f"{r['epoch_cpu_s']:.0f} | {r['epoch_cpu_s'] / 6:.0f} | "
                   f"{r['peak_rss_mb']:.0f} |")
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=3, help="timed training steps per recipe (after one warm-up step)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per subprocess (training jobs here use 1)")
    p.add_argument("--data-root", default=os.environ.get("FDCMDIE_DATA", str(ROOT / "data")))
    p.add_argument("--encoder", default="minilm", help="model.text_encoder (minilm, multilingual-e5-small, …)")
    p.add_argument("--only", action="append", help="recipe/source pairs to run, e.g. top-2/bank (default: all)")
    p.add_argument("--write", action="store_true", help="write docs/benchmarks/train.md")
    p.add_argument("--child", nargs=2, metavar=("RECIPE", "SOURCE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child, args.steps, args.threads, args.data_root, args.encoder)))
        return 0
    from machine import describe

    load0 = os.getloadavg()[0]
    rows = []
    for recipe in RECIPES:
        for source in ("forward", "bank"):
            if args.only and f"{recipe}/{source}" not in args.only:
                continue
            cmd = [sys.executable, __file__, "--child", recipe, source, "--steps", str(args.steps),
                   "--threads", str(args.threads), "--data-root", args.data_root, "--encoder", args.encoder]
            env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
            if proc.returncode:
                rows.append({"recipe": recipe, "source": source, "error": proc.stderr.strip().splitlines()[-1][:120]})
            else:
                rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(table(rows)[-1], flush=True)
    lines = ["# Training-speed benchmark", "",
             "Made by `benchmarks/train_speed.py` (rerun it to refresh this file): "
             f"`HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/train_speed.py --steps {args.steps} --threads {args.threads} "
             f"--encoder {args.encoder}{''.join(f' --only {o}' for o in args.only or [])} --write`.", "",
             f"- Machine: {describe()}; shared with other agents' jobs: 1-min load average {load0:.1f} at the start, "
             f"{os.getloadavg()[0]:.1f} at the end, so absolute times are upper bounds.",
             f"- Text encoder `{args.encoder}`. Text-only FD-CMDIE, MOSI standard split (1284 training samples), d = 256, k = 3, batch 32, "
             f"{args.threads} torch thread(s), one similar + one different member per anchor and step.",
             "- Each recipe in its own process: the refresh (sample sets + bank over the training set, once per epoch), "
             f"one warm-up step, the median of {args.steps} steps, one validation pass (229 samples); "
             "s / epoch = refresh + steps per epoch x step + validation (extrapolated), in wall seconds and in CPU "
             "seconds of the process (CPU s is what the recipe costs on a core of its own: with the machine shared, "
             "wall time mostly measures the queue). Peak RSS of the process.", "",
             *table(rows), ""]
    text = "\n".join(lines)
    print(text)
    if args.write:
        tag = "" if args.encoder == "minilm" else ("-e5" if "e5" in args.encoder else "-" + Path(args.encoder).name)
        out = ROOT / "docs" / "benchmarks" / f"train{tag}.md"
        out.write_text(text)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
