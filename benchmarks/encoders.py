"""Latency of one typed sentence through a checkpoint (text encoder + FD-CMDIE), MiniLM vs multilingual-e5-small.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/encoders.py [--checkpoint DIR ...] [--repeats 30] [--write]

Each checkpoint is loaded with ``Predictor.load`` (one CPU thread for single inputs, the app's setting), warmed up,
then ``predict([sentence])`` is timed ``--repeats`` times per sentence; the report gives the median and the 90th
percentile in milliseconds, the machine and its load. ``--write`` writes docs/benchmarks/encoders.md. Target of
issue 22: < 150 ms for a typed sentence with e5.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from fdcmdie.checkpoint import DEFAULT_PAIR, MINILM_CHECKPOINT  # noqa: E402
from fdcmdie.inference import Predictor  # noqa: E402

from machine import describe  # noqa: E402  (benchmarks/machine.py)

SENTENCES = ("i absolutely loved this movie the acting was wonderful",
             "it was not bad actually pretty good",
             "honestly the plot made no sense and i was bored for most of the two hours that it dragged on")
DEFAULTS = (MINILM_CHECKPOINT, DEFAULT_PAIR[0])   # MiniLM (frozen) vs the app's default, e5 (top 2 tuned), T+A


def time_one(path: str, repeats: int) -> dict:
    t = time.perf_counter()
    p = Predictor.load(ROOT / path)
    p.warmup()
    load_s = time.perf_counter() - t
    times = []
    for s in SENTENCES:
        for _ in range(repeats):
            t = time.perf_counter()
            p.predict([s])
            times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {"checkpoint": path, "encoder": p.cfg.model.text_encoder, "modalities": "+".join(p.modalities).upper(),
            "load_s": load_s, "median_ms": statistics.median(times), "p90_ms": times[int(0.9 * (len(times) - 1))]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", action="append", help=f"checkpoint folders (default: {', '.join(DEFAULTS)})")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    rows = [time_one(c, args.repeats) for c in (args.checkpoint or DEFAULTS) if (ROOT / c).is_dir()]
    lines = ["# Typed-sentence latency by text encoder", "",
             f"Made by `HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/encoders.py "
             f"{''.join(f'--checkpoint {c} ' for c in args.checkpoint or [])}--repeats {args.repeats} --write`. "
             f"Machine: {describe()}; 1-min load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
             "(other jobs share the cores: times are upper bounds).", "",
             f"{len(SENTENCES)} sentences x {args.repeats} repeats each, `Predictor.predict([sentence])` after a warm-up.", "",
             "| checkpoint | text encoder | modalities | load + warm-up (s) | median (ms) | p90 (ms) |",
             "|---|---|---|---:|---:|---:|"]
    lines += [f"| `{r['checkpoint']}` | {r['encoder']} | {r['modalities']} | {r['load_s']:.1f} | {r['median_ms']:.0f} | "
              f"{r['p90_ms']:.0f} |" for r in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        (ROOT / "docs" / "benchmarks" / "encoders.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
