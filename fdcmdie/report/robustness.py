"""``python -m fdcmdie robustness``: robustness curves of one or more checkpoints on a split
(:func:`fdcmdie.explain.robustness.robustness_curves`), written as ``<out>/<checkpoint>-<split>.json`` and ``.png``,
with a figure comparing them when there are several.

    python -m fdcmdie robustness --checkpoint checkpoints/mosi-std-ta --split test --out docs/robustness
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..explain.robustness import NOISE_LEVELS, SEED, WORD_DROP, robustness_curves
from ..inference import Predictor
from ..metrics import METRIC_KEYS
from ..render.robustness import save_figure


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, nargs="+",
                   help="checkpoint folder(s); with several, a figure comparing them is written too")
    p.add_argument("--split", default="test", choices=["train", "valid", "test"])
    p.add_argument("--out", default="docs/robustness", help="folder for <checkpoint>-<split>.json and .png")
    p.add_argument("--data-root", default=None, help="folder holding mosi/ and mosei/ (default: the checkpoint's)")
    p.add_argument("--noise-levels", default=",".join(f"{x:g}" for x in NOISE_LEVELS),
                   help="comma-separated noise σ in units of each feature's σ")
    p.add_argument("--word-drop", default=",".join(f"{x:g}" for x in WORD_DROP),
                   help="comma-separated probabilities of dropping each word")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--metric", default="acc2_non0", help="metric drawn in the figures")
    p.add_argument("--limit", type=int, default=0,
                   help="score only the first N samples of the split (a quick look; 0 = all, as the committed curves)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--reuse", action="store_true",
                   help="keep <out>/<checkpoint>-<split>.json when it was made with the same settings (e.g. to draw "
                        "another comparison figure)")


def _floats(text: str, what: str, hi: float | None = None) -> tuple[float, ...]:
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"{what} must be comma-separated numbers, got {text!r}") from None
    if any(v < 0 or (hi is not None and v >= hi) for v in values):
        raise ValueError(f"{what} must lie in [0, {hi if hi is not None else '∞'}), got {text!r}")
    return values


def main(args) -> int:
    if args.metric not in METRIC_KEYS:
        raise ValueError(f"--metric must be one of {', '.join(METRIC_KEYS)}, got {args.metric!r}")
    noise, words = _floats(args.noise_levels, "--noise-levels"), _floats(args.word_drop, "--word-drop", 1.0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for ckpt in args.checkpoint:
        p = Predictor.load(ckpt, device=args.device, threads=None)
        print(f"{p.name}: {args.split} split", flush=True)
        stem = out / f"{p.name}-{args.split}"
        if args.reuse and stem.with_suffix(".json").is_file():
            old = json.loads(stem.with_suffix(".json").read_text())
            same = (old.get("noise_levels") == list(noise) and old.get("word_drop") == list(words)
                    and old.get("seed") == args.seed and args.limit <= 0 and "recipe" in old
                    and old.get("n") == len(p.dataset(args.data_root).split(args.split)))
            if same:
                print(f"  kept {stem}.json (same settings)", flush=True)
                results.append(old)
                continue
        rows = None if args.limit <= 0 else np.arange(min(args.limit, len(p.dataset(args.data_root).split(args.split))))
        r = robustness_curves(p, args.split, args.data_root, noise_levels=noise, word_drop=words, seed=args.seed,
                              rows=rows, progress=lambda line: print("  " + line, flush=True))
        stem.with_suffix(".json").write_text(json.dumps(r, indent=1) + "\n")
        save_figure([r], stem.with_suffix(".png"), args.metric)
        print(f"  {r['seconds']:.0f} s → {stem}.json, {stem}.png", flush=True)
        results.append(r)
    if len(results) > 1:
        path = save_figure(results, out / f"compare-{'-vs-'.join(r['checkpoint'] for r in results)}-{args.split}.png",
                           args.metric)
        print(f"comparison figure → {path}")
    return 0
