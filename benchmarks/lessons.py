"""Time the lessons and anatomy tabs (issue 21) on this machine and write docs/benchmarks/lessons.md.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/lessons.py [--data DIR] [--runs 20]

In-process, on an AppContext of the default pair (text + voice, with and without CL), after the app's warm-up work
(split predictions and Shapley values) is done, as in a served app:
- anatomy of one dataset sample: the tab's Trace callback (Predictor.trace + the stage's figure + diagram),
  a different uncached sample each run, for every stage; a typed sentence (text encoding included); switching the
  stage on a kept trace. Target < 500 ms.
- a lesson step's state change: choosing a step (its rule applied to the cached predictions, texts filled), first
  time and again, and "Show me" (the view updates). Target < 1 s.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from machine import describe  # noqa: E402

from fdcmdie.checkpoint import DEFAULT_PAIR  # noqa: E402

ANATOMY_TARGET_S, STEP_TARGET_S = 0.5, 1.0


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="as the app's --data (default: each checkpoint's own data)")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--threads", type=int, default=1, help="torch threads (the app's single-input setting)")
    p.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "lessons.md"))
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from fdcmdie.app import AppContext, AppOptions
    from fdcmdie.app import anatomy as anatomy_tab
    from fdcmdie.app import lessons as lessons_tab
    from fdcmdie.explain import anatomy as A
    from fdcmdie.app import lesson_files as L

    os.chdir(ROOT)
    ctx = AppContext(AppOptions(checkpoint=DEFAULT_PAIR[0], compare_checkpoint=DEFAULT_PAIR[1], data=args.data,
                                browse_checkpoints=(), warm_up=False, asr=False))
    t0 = time.perf_counter()
    for key in ctx.model_keys():                      # what the app's warm-up prepares before anyone clicks
        ctx.split_view(key, "test")
        ctx.shapley(key, "test")
    warm = time.perf_counter() - t0
    ids = ctx.split_view("main", "test").preds.ids
    rows: list[tuple[str, float, float, float]] = []   # (what, median s, max s, target s)

    def record(what, times, target):
        rows.append((what, statistics.median(times), max(times), target))
        print(f"{what}: median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms", flush=True)

    # ---- anatomy
    anatomy_tab.run_trace(ctx, "main", "dataset", "test", ids[0], "", None, "features", 1, "cross1")  # model copy
    for stage in A.STAGES:
        times = []
        for i in range(args.runs):
            sid = ids[1 + (i + args.runs * list(A.STAGES).index(stage)) % (len(ids) - 1)]   # uncached sample
            times.append(timed(lambda: anatomy_tab.run_trace(ctx, "main", "dataset", "test", sid, "", None, stage,
                                                             1, "cross1")))
        record(f"anatomy of a dataset sample, stage {stage} (default model)", times, ANATOMY_TARGET_S)
    times = [timed(lambda i=i: anatomy_tab.run_trace(ctx, "compare", "dataset", "test", ids[-1 - i], "", None,
                                                     "dipu", 1, "cross1")) for i in range(args.runs)]
    record("anatomy of a dataset sample, stage dipu (default pair's model without CL)", times, ANATOMY_TARGET_S)
    sentences = ["i loved every minute of this film", "what a waste of two hours", "it was okay i guess"]
    times = [timed(lambda i=i: anatomy_tab.run_trace(ctx, "main", "typed", "test", None, f"{sentences[i % 3]} {i}",
                                                     None, "dipu", 1, "cross1")) for i in range(args.runs)]
    record("anatomy of a typed sentence, stage dipu (text encoding included)", times, ANATOMY_TARGET_S)
    trace = anatomy_tab.run_trace(ctx, "main", "dataset", "test", ids[0], "", None, "features", 1, "cross1")[4]
    times = [timed(lambda i=i: anatomy_tab.restage(ctx, "main", trace, list(A.STAGES)[i % 5], 1 + i % 3, "cross1"))
             for i in range(args.runs)]
    record("anatomy: switching stage / layer on a kept trace", times, ANATOMY_TARGET_S)

    # ---- lessons
    lessons, problems = L.load_lessons()
    if problems:
        print("lesson problems:", problems)
    first, again, show = [], [], []
    for lesson in lessons:
        for i in range(len(lesson.steps)):
            first.append(timed(lambda: lessons_tab.show_step(ctx, lessons, lesson.key, i)))
            again.append(timed(lambda: lessons_tab.show_step(ctx, lessons, lesson.key, i)))
            view = lessons_tab.show_step(ctx, lessons, lesson.key, i)[4]
            show.append(timed(lambda: lessons_tab.apply_view(view)))
    record(f"lesson step chosen, first time ({len(first)} steps of {len(lessons)} lessons)", first, STEP_TARGET_S)
    record("lesson step chosen again (cached)", again, STEP_TARGET_S)
    record("lesson 'Show me' (view updates)", show, STEP_TARGET_S)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Lessons and model anatomy: timings", "",
             f"Machine: {describe()}; torch threads {args.threads}. `python benchmarks/lessons.py --runs {args.runs}` "
             f"(default pair {DEFAULT_PAIR[0]} + {DEFAULT_PAIR[1]}; test split). Split predictions and "
             f"Shapley values computed first, as the app's warm-up does ({warm:.0f} s here).", "",
             "The lesson step's state change in the browser also includes what the opened tab then draws (the "
             "explorer's sample view, the anatomy trace), timed in docs/benchmarks/app.md and above.", "",
             "| what | median | max | target | |", "|---|---:|---:|---:|---|"]
    for what, med, worst, target in rows:
        lines.append(f"| {what} | {med * 1000:.0f} ms | {worst * 1000:.0f} ms | < {target * 1000:.0f} ms | "
                     f"{'✓' if med < target else '✗'} |")
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
