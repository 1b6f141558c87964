"""What a class would otherwise wait for on first use, made after "Ready" at low priority (issue 32).

The warm-up (AppContext.warmup_steps) makes what the first page shows before "Ready", then the comparison
checkpoint, the maps the space opens on and the pair's Shapley values. ``class_steps`` adds, after those, what a
teacher's first clicks would otherwise compute while the class waits:

- each browse checkpoint in the explorer: its test-split predictions and ablations, its Shapley values (the "how much
  each modality carries" note) and the sample view of the samples its table lists first;
- the representation space's other projections (UMAP and t-SNE when it opens on PCA), with their hover texts,
  neighbour index and geometry numbers;
- compare's first open (its slices on the test split);
- every lesson step's "Show me": the step's filled text and what its view draws (the explorer's sample view and
  words, the anatomy's trace, the map).

Each result goes through the context's cache (fdcmdie/cache.py), so what is kept on disk there (split predictions,
Shapley values, words, maps, geometry numbers) is read back on the next start instead of recomputed. Each step runs
in a thread of its own whose nice value is raised (``LOW_NICE``; on Linux a thread's priority is its own and the
threads it starts inherit it, so torch's OpenMP team for that thread runs at the same low priority): a typed
sentence or a sample view, served by the request threads at normal priority, keeps the cores. A user who asks for
one of these before the warm-up reaches it computes it in the request (the cache's per-key lock: once, shared); one
who asks while the warm-up is making it waits for that computation, at the warm-up's priority (a thread's nice value
cannot be lowered again without privileges), with the step named on the status line and the view's own progress.
"""
from __future__ import annotations

import logging
import os
import threading
import time

log = logging.getLogger("fdcmdie.app")

LOW_NICE = 10      # added to the server's nice value for the class warm-up's threads (19 at most)


def at_low_priority(fn, *, nice: int = LOW_NICE):
    """``fn()`` run in a new thread whose nice value is ``nice`` above the caller's, waited for; its result or its
    exception. Where a thread's priority cannot be set (not Linux, not allowed), it runs at the caller's."""
    box: dict = {}

    def run():
        try:
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
        except (OSError, AttributeError) as e:
            log.info("class warm-up at the server's priority (%s)", e)
        try:
            box["value"] = fn()
        except BaseException as e:   # re-raised in the caller (the warm-up marks the step failed, with its reason)
            box["error"] = e

    t = threading.Thread(target=run, name="fdcmdie-class-warmup", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def class_steps(ctx) -> list[tuple[str, object, bool]]:
    """(name, function, runs after "Ready") of each class warm-up step (see the module's docstring); each function
    runs at low priority."""
    from ..explain.projections import METHODS

    steps = []

    def low(fn, name):
        def run():
            t0 = time.perf_counter()
            at_low_priority(fn)
            log.info("class warm-up: %s in %.1f s", name, time.perf_counter() - t0)   # benchmarks/app.py reads these
        return run

    browse = [k for k in ctx.slots if k not in ctx.map_keys()]
    for k in browse:
        name = f"the explorer on {ctx.slots[k].short_label}"
        steps.append((name, low(lambda k=k: explorer_first_use(ctx, k), name), True))
    others = [m for m in ("umap", "tsne") if m != ctx.options.projection]
    if ctx.map_keys():
        for m in others:
            name = f"{METHODS[m]} maps of the test split"
            steps.append((name, low(lambda m=m: maps_first_use(ctx, m), name), True))
    if "compare" in ctx.slots and "main" in ctx.slots:
        steps.append(("compare's slices", low(lambda: compare_first_use(ctx), "compare's slices"), True))
    steps.append(("the lessons' steps", low(lambda: lessons_first_use(ctx), "the lessons' steps"), True))
    return steps


def explorer_first_use(ctx, key: str, split: str = "test") -> None:
    """What the explorer shows when switched to ``key``: the split's predictions (its table), the split's Shapley
    values (the modality-share note) and the sample view and words of the first samples it lists."""
    from . import explorer

    view = ctx.split_view(key, split)
    if len(ctx.predictor(key).modalities) > 1:
        ctx.shapley(key, split)
    first = explorer.first_sample(ctx, key, split)
    ids = [first[0]] if first else []
    ids += [view.preds.ids[r] for r in ctx.first_rows(key, split) if view.preds.ids[r] not in ids]
    for sample_id in ids:
        explorer.sample_view(ctx, key, split, sample_id)
        explorer.sample_words(ctx, key, split, sample_id)


def maps_first_use(ctx, method: str, split: str = "test") -> None:
    """The mapped pair's ``method`` maps of ``split`` with what a drawn map needs (AppContext._prepare_map)."""
    for key in ctx.map_keys():
        ctx._prepare_map(key, split, method)


def compare_first_use(ctx, split: str = "test") -> None:
    """Compare's first view (its default slices of ``split``)."""
    from .compare import compare_view
    compare_view(ctx, split)


def lessons_first_use(ctx) -> int:
    """Every step of every lesson in lessons/: its filled text, then what its Show me draws. Returns the steps made;
    a step that cannot be made here is left to say so when opened."""
    from . import lesson_files as L
    from . import anatomy, explorer
    from .lessons import step_view

    lessons, _ = L.load_lessons(L.LESSON_DIR)
    made = 0
    for lesson in lessons:
        for i in range(len(lesson.steps)):
            try:
                view = step_view(ctx, lessons, lesson.key, i).view
                model, split, sample = view.get("model") or "main", view.get("split") or "test", view.get("sample")
                if view.get("tab") == "anatomy" and sample:
                    anatomy.trace_of(ctx, model, "dataset", split, sample, None, None)
                elif view.get("tab") == "space" and view.get("map"):
                    maps_first_use(ctx, view["map"], split)
                elif sample:
                    explorer.sample_view(ctx, model, split, sample)
                    explorer.sample_words(ctx, model, split, sample)
                made += 1
            except (ValueError, KeyError, FileNotFoundError) as e:
                log.info("class warm-up: lesson %s step %d left for later: %s", lesson.key, i + 1, e)
    return made
