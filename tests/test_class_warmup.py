"""What a class would wait for on first use is made after "Ready" at low priority and kept in the result cache
(fdcmdie/app/warmup.py, issue 32): each browse checkpoint's explorer view, the UMAP and t-SNE maps, compare's slices,
every lesson step's Show me. Counted through the cache's hit and miss counters, never timed."""
from __future__ import annotations

import dataclasses
import os
import threading

import pytest

from fdcmdie.app import AppContext
from fdcmdie.app import warmup
from test_app_mosei import mosei_ctx  # noqa: F401  (the MOSEI browse checkpoint fixture)


def thread_nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_low_priority_thread_is_niced_and_the_caller_is_not():
    before = thread_nice()
    seen = warmup.at_low_priority(thread_nice, nice=5)
    assert seen == min(19, before + 5) and thread_nice() == before
    with pytest.raises(ValueError, match="said why"):
        warmup.at_low_priority(lambda: (_ for _ in ()).throw(ValueError("said why")))


def test_browse_checkpoint_explorer_view_is_made_after_ready(mosei_ctx):  # noqa: F811
    ctx, part = mosei_ctx
    names = [name for name, _, late in warmup.class_steps(ctx)]
    assert names[0] == "the explorer on mosei-tiny"
    warmup.explorer_first_use(ctx, "mosei-tiny")
    view = ctx.split_view("mosei-tiny", "test")
    assert ctx.ready(("split", "mosei-tiny", "test")) and len(view.preds.ids) == 30
    first = view.preds.ids[0]
    assert ctx.ready(("words", "mosei-tiny", "test", first, "auto"))


@pytest.mark.slow   # over 10 s of a quiet 2-core machine (the quick set: README)
def test_class_steps_run_at_low_priority_and_fill_the_disk_cache_a_restart_reads(ctx, tmp_path, monkeypatch):
    # every step goes through at_low_priority; here it runs in the test's thread (at nice 19 behind the machine's
    # other jobs a step would take as long as they leave it)
    lowered = []
    monkeypatch.setattr(warmup, "at_low_priority", lambda fn, **k: (lowered.append(fn), fn())[1])
    opts = dataclasses.replace(ctx.options, cache_dir=str(tmp_path / "cache"), warm_up=False)
    preds = {k: ctx.predictor(k) for k in ("main", "compare")}
    fresh = AppContext(opts, predictors=preds)
    steps = warmup.class_steps(fresh)
    assert [n for n, _, late in steps if late] == [n for n, _, _ in steps] == [
        "UMAP maps of the test split", "t-SNE maps of the test split", "compare's slices", "the lessons' steps"]
    for _, fn, _ in steps:
        fn()
    assert len(lowered) == len(steps)
    for key in ("main", "compare"):
        assert fresh.projection_state(key, "test", "umap") == fresh.projection_state(key, "test", "tsne") == "ready"
    from fdcmdie.app import lesson_files as L
    lessons, _ = L.load_lessons(L.LESSON_DIR)
    assert warmup.lessons_first_use(fresh) == sum(len(lesson.steps) for lesson in lessons)   # each one made
    # a restart on the same cache folder reads the maps, predictions and Shapley values from disk: nothing recomputed
    again = AppContext(opts, predictors=preds)
    for _, fn, _ in warmup.class_steps(again):
        fn()
    for kind in ("split", "shapley", "projection"):   # each result the first start computed is read back, none again
        made = fresh.cache.misses.get(kind, 0)
        assert made >= 1 and again.cache.hits.get(kind, 0) == made and kind not in again.cache.misses, \
            (kind, made, again.cache.hits, again.cache.misses)
