"""Robustness curves, time per checkpoint (issue target: the test split in under 2 minutes on this CPU).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/robustness.py --checkpoint checkpoints/mosi-std-ta [--runs 1]

For each checkpoint: a *cold* run (a fresh text-feature cache: the split's transcripts and the five word-dropped
versions all go through the encoder) and a *warm* run (a new Predictor, the same cache: what a rerun of
``python -m fdcmdie robustness`` costs), each timed as wall-clock and process CPU time, with the load average at
start and end (the machine is shared). Writes docs/benchmarks/robustness.md.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fdcmdie.checkpoint import MINILM_CHECKPOINT  # noqa: E402
from machine import describe  # noqa: E402


def one_run(checkpoint: str, cache_dir: str, data_root: str | None, split: str) -> tuple[float, float, dict]:
    from fdcmdie.explain.robustness import robustness_curves
    from fdcmdie.inference import Predictor

    t0, c0 = time.perf_counter(), time.process_time()
    p = Predictor.load(checkpoint, threads=None)
    p.cfg.train.cache_dir = cache_dir  # split_samples and the word-dropped texts both use it
    r = robustness_curves(p, split, data_root)
    return time.perf_counter() - t0, time.process_time() - c0, r


def write(args, rows, load0: float, load1: float) -> None:
    tick = lambda s: "✓" if s < 120 else "✗"
    lines = ["# Robustness-curve benchmark", "",
             "Made by `benchmarks/robustness.py` (rerun it to refresh this file): "
             f"`HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/robustness.py --checkpoint {' '.join(args.checkpoint)} "
             f"--runs {args.runs}`.", "",
             f"- Machine: {describe()}; shared with other developers and training jobs: 1-min load average "
             f"{load0:.1f} at the start, {load1:.1f} at the end (on 2 cores: wall-clock times stretch accordingly; "
             "CPU time is the process's own).",
             f"- {args.split} split; conditions: each modality removed, Gaussian noise 0.5/1/2 σ per modality, words "
             "dropped with p = 0.1 … 0.5 (re-encoded). Torch's default threads.", "",
             "| checkpoint | samples | conditions | cold: wall | cold: CPU | warm: wall | warm: CPU | target < 2 min |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for ckpt, r, wall, cpu, w_wall, w_cpu in rows:
        lines.append(f"| `{ckpt}` | {r['n']} | {len(r['conditions'])} | {wall:.0f} s | {cpu:.0f} s | {w_wall:.0f} s | "
                     f"{w_cpu:.0f} s | cold {tick(wall)}, warm {tick(w_wall)} |")
    lines += ["", "Cold: a fresh text-feature cache (the transcripts and their five word-dropped versions go through "
              "the encoder). Warm: the same cache (a rerun). The word-dropped texts are seeded, so checkpoints with "
              "the same encoder layer and split share their encodings."]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", nargs="+", default=[MINILM_CHECKPOINT])
    ap.add_argument("--split", default="test")
    ap.add_argument("--data-root", default=os.environ.get("FDCMDIE_DATA"))
    ap.add_argument("--runs", type=int, default=1, help="warm runs per checkpoint (median reported)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "robustness.md"))
    args = ap.parse_args()

    load0 = os.getloadavg()[0]
    rows = []
    for ckpt in args.checkpoint:
        with tempfile.TemporaryDirectory(prefix="fdcmdie-bench-cache-") as cache:
            wall, cpu, r = one_run(ckpt, cache, args.data_root, args.split)
            print(f"{ckpt} cold: {wall:.1f} s wall, {cpu:.1f} s CPU ({len(r['conditions'])} conditions, n={r['n']})",
                  flush=True)
            warm = [one_run(ckpt, cache, args.data_root, args.split)[:2] for _ in range(max(1, args.runs))]
            w_wall, w_cpu = statistics.median(w for w, _ in warm), statistics.median(c for _, c in warm)
            print(f"{ckpt} warm: {w_wall:.1f} s wall, {w_cpu:.1f} s CPU", flush=True)
        rows.append((ckpt, r, wall, cpu, w_wall, w_cpu))
        write(args, rows, load0, os.getloadavg()[0])  # after each checkpoint: a stopped run keeps what it measured
    print(f"→ {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
