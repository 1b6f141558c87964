"""Word attributions and modality Shapley values over a split: the deletion sanity check and their speed.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/attributions.py [--data data] [--split test]
        [--runs ckpt:method ...] [--limit N] [--speed-runs 20]

Deletion check (fdcmdie.explain.attributions.deletion_check): for every sample of the split, the k = 1, 2, 3 words
with the largest |attribution| are deleted from the transcript, and separately k words drawn at random (seed 0); the
mean |change of the prediction| of the two is compared (ratio > 1: the attributions find the words the prediction
rests on). Each run is a checkpoint and a method (``ig``: integrated gradients; ``occlusion``: leave-one-word-out).

Speed (medians, one thread as the app's Predictor uses for single inputs): word attributions of a dataset sample and
of a typed sentence; Shapley values of one dataset sample (from its model-ready inputs) and of a typed sentence (text
encoder included). Targets: attributions < 300 ms, Shapley < 100 ms.

Writes docs/benchmarks/attributions.md and docs/benchmarks/attributions.json (read by `python -m fdcmdie report`).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from machine import describe, median_s  # noqa: E402

from fdcmdie.checkpoint import DEFAULT_PAIR, MINILM_CHECKPOINT  # noqa: E402

ATTRIBUTION_TARGET_S, SHAPLEY_TARGET_S = 0.300, 0.100
DEFAULT_RUNS = [f"{DEFAULT_PAIR[0]}:ig", f"{MINILM_CHECKPOINT}:ig"]   # the app's default (e5) vs MiniLM frozen
TEXTS = ["i loved every minute of this film", "what a waste of two hours", "it was okay i guess",
         "the acting was great but the story was weak", "honestly one of the worst movies this year"]


def split_inputs(p, data: str, split: str, limit: int | None):
    part = p.dataset(data).split(split)
    pick = lambda xs, i: None if xs is None else xs[i]
    n = len(part) if not limit else min(limit, len(part))
    return [(part.texts[i], pick(part.audio, i), pick(part.vision, i)) for i in range(n)]


def speed(p, data: str, split: str, runs: int, rng) -> list[tuple[str, float, float]]:
    from fdcmdie.explain.attributions import word_attributions
    from fdcmdie.explain.shapley import input_shapley, split_shapley

    inputs = split_inputs(p, data, split, None)
    pick = lambda: int(rng.integers(len(inputs)))
    rows = [(f"{p.name}: reference — typed sentence → prediction (Predictor.predict; benchmarks/app.py's row)",
             median_s(lambda: p.predict([TEXTS[int(rng.integers(len(TEXTS)))]]), runs), None),
            (f"{p.name}: word attributions (IG) of a dataset sample", median_s(
                lambda: word_attributions(p, *inputs[pick()]), runs), ATTRIBUTION_TARGET_S),
            (f"{p.name}: word attributions (IG) of a typed sentence", median_s(
                lambda: word_attributions(p, TEXTS[int(rng.integers(len(TEXTS)))]), runs), ATTRIBUTION_TARGET_S),
            (f"{p.name}: Shapley values of a dataset sample (2^M coalitions, one batch)", median_s(
                lambda: split_shapley(p, split, data, rows=[pick()]), runs), SHAPLEY_TARGET_S),
            (f"{p.name}: Shapley values of a typed sentence (text encoder included)", median_s(
                lambda: input_shapley(p, TEXTS[int(rng.integers(len(TEXTS)))]), runs), SHAPLEY_TARGET_S)]
    return rows


def write(args, command: str, load0: float, results: list[dict], speeds: list, speed_note: str = "") -> None:
    """docs/benchmarks/attributions.md and .json from what has been measured so far."""
    load1 = os.getloadavg()[0]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = len(results) == len(args.runs)
    payload = {"command": command, "machine": describe(), "load_average": [load0, load1], "split": args.split,
               "data": "CMU-MOSI (shared bundle)", "complete": done, "limit": args.limit, "speed_note": speed_note,
               "deletion": results,
               "speed": [{"what": w, "median_s": s, "target_s": tgt} for w, s, tgt in speeds]}
    out.with_suffix(".json").write_text(json.dumps(payload, indent=1) + "\n")
    lines = ["# Word attributions and modality Shapley values", "",
             f"Made by `benchmarks/attributions.py` (rerun it to refresh this file and `attributions.json`): `{command}`.",
             "", f"- Machine: {describe()}; 1-min load average {load0:.1f} at the start, {load1:.1f} at the end "
             "(other developers' jobs share the CPU).",
             f"- Data: CMU-MOSI, {args.split} split of each checkpoint's own data (standard split for mosi-std-*)"
             + ("" if not args.limit else f", first {args.limit} samples") + ".",
             "" if done else f"- Partial: {len(results)} of {len(args.runs)} runs done so far.",
             "- Attributions: integrated gradients (Captum, 16 Gauss–Legendre steps) over the word embeddings, the "
             "frozen bottom of MiniLM run in the graph before the checkpoint's own top layers (so the gradient "
             "reaches the words for frozen and fine-tuned checkpoints alike); occlusion: leave one word out "
             "(`fdcmdie/explain/attributions.py`).",
             "", "## Deletion check", "",
             "Mean |change of the prediction| when the k most attributed words are deleted vs k random words (seed 0), "
             "over the samples with more than k words. ratio = top / random.", "",
             "| checkpoint | method | k | samples | top-k deleted | random k deleted | ratio |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in results:
        method = "integrated gradients" if r["method"] in ("ig", "auto") else "occlusion (leave one word out)"
        for j, k in enumerate(r["k"]):
            lines.append(f"| {r['name']} | {method} | {k} | {r['n'][j]} | {r['top'][j]:.3f} | {r['random'][j]:.3f} "
                         f"| {r['ratio'][j]:.2f} |")
    lines += ["", "## Speed", "", f"Medians of {args.speed_runs} calls after one warm-up call, one torch thread"
              + (f"; {speed_note}, load average {load0:.1f} → {load1:.1f}" if speed_note else "") + ".", "",
              "| what | median | target |", "|---|---:|---|"]
    for w, s, tgt in speeds:
        target = "" if tgt is None else f"< {tgt * 1000:.0f} ms {'✓' if s < tgt else '✗'}"
        lines.append(f"| {w} | {s * 1000:.0f} ms | {target} |")
    lines += [""] + [f"- {r['name']} ({r['method']}): attribution inside the deletion check, median "
                     f"{r['median_attribution_s'] * 1000:.0f} ms per sample; whole check {r['wall_s']:.0f} s."
                     for r in results]
    out.write_text("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / "data"))
    ap.add_argument("--split", default="test")
    ap.add_argument("--runs", nargs="+", default=DEFAULT_RUNS, help="checkpoint:method pairs (method ig|occlusion)")
    ap.add_argument("--limit", type=int, default=None, help="first N samples of the split only (a quick look)")
    ap.add_argument("--speed-runs", type=int, default=20)
    ap.add_argument("--speed-only", action="store_true",
                    help="measure the speeds again and keep the deletion results of the existing JSON (a quieter moment)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "attributions.md"))
    args = ap.parse_args()
    torch.set_num_threads(1)

    from fdcmdie.explain.attributions import deletion_check
    from fdcmdie.inference import Predictor

    load0 = os.getloadavg()[0]
    command = "HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/attributions.py" + (
        "" if args.runs == DEFAULT_RUNS else " --runs " + " ".join(args.runs)) + (
        f" --limit {args.limit}" if args.limit else "")
    predictors = {}
    for run in args.runs:
        ckpt = run.rsplit(":", 1)[0]
        if ckpt not in predictors:
            predictors[ckpt] = Predictor.load(ROOT / ckpt if not Path(ckpt).is_absolute() else ckpt)
    rng = np.random.default_rng(0)
    speeds = [row for p in predictors.values() for row in speed(p, args.data, args.split, args.speed_runs, rng)]
    if args.speed_only:
        old = json.loads(Path(args.out).with_suffix(".json").read_text())
        args.limit = args.limit or old.get("limit")
        write(args, old["command"], load0, old["deletion"], speeds,
              speed_note=f"speeds measured again by `{command} --speed-only`")
        print(Path(args.out).read_text())
        return 0
    results = []
    write(args, command, load0, results, speeds)
    for run in args.runs:  # the files are rewritten after each run: a long check leaves what it has done
        ckpt, method = run.rsplit(":", 1)
        p = predictors[ckpt]
        t = time.perf_counter()
        check = deletion_check(p, split_inputs(p, args.data, args.split, args.limit), method=method, progress=True)
        results.append({"checkpoint": ckpt, "name": p.name, "method": method, "split": args.split,
                        "text_finetune_layers": p.cfg.model.text_finetune_layers, **check.to_dict(),
                        "median_attribution_s": statistics.median(check.seconds), "wall_s": time.perf_counter() - t})
        print(json.dumps(results[-1]), flush=True)
        write(args, command, load0, results, speeds)
    print(Path(args.out).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
