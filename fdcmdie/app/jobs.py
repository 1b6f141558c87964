"""What the app runs in the background and says on its status line: computations started on request (``background``,
``on_request``: a map, a browse checkpoint's predictions) and the warm-up.

The warm-up (``warmup_steps``) prepares what the first page shows — the main checkpoint, its test-split predictions,
and the Shapley values and word attributions of the explorer's first samples — and says "Ready" (a restart reads them
from the cache in seconds); then, in the background, the comparison checkpoint, the pair's maps in the projection the
space opens on, the browse checkpoints, the pair's whole-split Shapley values (case studies, export) and the clip
extractor (in its worker process) warm up; last, at low priority, what a class's first clicks would wait for (each
browse checkpoint's explorer view, the UMAP and t-SNE maps, compare's slices, the lessons' steps: app/warmup.py).
Other splits are computed when first asked for."""
from __future__ import annotations

import contextlib
import logging
import threading
import time
import traceback
from dataclasses import dataclass, field

log = logging.getLogger("fdcmdie.app")


@dataclass
class Step:
    name: str
    state: str = "pending"   # pending | running | done | failed | skipped
    detail: str = ""
    seconds: float = 0.0
    t0: float = 0.0          # when it started
    after_ready: bool = False  # runs after "Ready" (background extras)


@dataclass
class WarmUp:
    steps: list[Step] = field(default_factory=list)
    started: float = 0.0
    ready_at: float | None = None      # when the steps before the background extras finished
    finished: float | None = None
    thread: threading.Thread | None = None
    ready_note: str = ""               # what is ready, in words (set by the context)

    @property
    def done(self) -> bool:
        return self.finished is not None or not self.steps

    @property
    def ready(self) -> bool:
        return self.ready_at is not None or not self.steps

    def failures(self) -> str:
        """The failed steps, one entry per distinct reason (the same missing file is said once)."""
        by_reason: dict[str, list[str]] = {}
        for s in self.steps:
            if s.state == "failed":
                by_reason.setdefault(s.detail, []).append(s.name)
        return "; ".join(f"{reason} ({', '.join(names)})" for reason, names in by_reason.items())

    def markdown(self) -> str:
        if not self.steps:
            return "Warm-up is off: each result is computed when first asked for."
        failed = self.failures()
        tail = f" Not available: {failed}." if failed else ""
        if self.ready:
            text = f"**Ready** in {self.ready_at - self.started:.0f} s{self.ready_note}."
            extras = [s for s in self.steps if s.after_ready]
            running = next((s for s in extras if s.state == "running"), None)
            if running is not None:
                left = sum(s.state in ("pending", "running") for s in extras)
                text += f" In the background ({left} left): {running.name} … {time.time() - running.t0:.0f} s."
            return text + tail
        before = [s for s in self.steps if not s.after_ready]
        n_done = sum(s.state in ("done", "failed", "skipped") for s in before)
        cur = next((s for s in before if s.state == "running"), None)
        now = f"{cur.name} … {time.time() - cur.t0:.0f} s" if cur else "starting"
        return (f"**Getting ready** ({n_done}/{len(before)} steps, {time.time() - self.started:.0f} s): {now}. "
                f"Typed text and uploads already work.{tail}")


@dataclass
class Job:
    """A computation started on request in the background (a map, a browse checkpoint's predictions)."""

    name: str
    t0: float = field(default_factory=time.time)


class Jobs:
    """AppContext's background work (a mixin over ``jobs``, ``_bg_errors``, ``warmup``, ``cache``, ``options``,
    ``slots``, ``extractor`` and the Models, Results and Clips mixins' methods)."""

    def background(self, key, name: str, fn) -> str:
        """Run ``fn()`` in a daemon thread, listed in ``jobs`` (the status line) while it runs; its error is kept
        in ``_bg_errors[key]``. Returns "computing"."""
        with self.cache.lock(("job", key)):
            if key in self.jobs:
                return "computing"
            self._bg_errors.pop(key, None)
            self.jobs[key] = Job(name)

        def job():
            try:
                fn()
            except Exception as e:
                self._bg_errors[key] = _short(e)
                log.warning("%s failed: %s\n%s", name, e, traceback.format_exc())
            finally:
                self.jobs.pop(key, None)

        threading.Thread(target=job, name=f"job-{name}", daemon=True).start()
        return "computing"

    @contextlib.contextmanager
    def on_request(self, key, name: str):
        """List a computation a request waits for on the status line while it runs (not the warm-up's own: the
        mapped pair's test split)."""
        listed = not (key[1] in self.map_keys() and key[2] == "test") and key not in self.jobs
        if listed:
            self.jobs[key] = Job(name)
        try:
            yield
        finally:
            if listed:
                self.jobs.pop(key, None)

    # ---------------------------------------------------------------------------------- status line

    def status_markdown(self) -> str:
        """The status line: the warm-up's state, then what is being computed on request (each said once)."""
        text = self.warmup.markdown()
        jobs = sorted(self.jobs.values(), key=lambda j: j.t0)
        if jobs:
            now = time.time()
            text += " Computing on request: " + "; ".join(f"{j.name} … {now - j.t0:.0f} s" for j in jobs) + "."
        return text

    # --------------------------------------------------------------------------------------- warm-up

    def first_rows(self, key: str = "main", split: str = "test") -> list[int]:
        """The rows of the samples the explorer's first page lists first (its table in split order)."""
        return list(range(min(self.options.first_rows, len(self.split_view(key, split).preds.ids))))

    def warmup_steps(self) -> list[tuple[str, object, bool]]:
        """(name, function, runs after "Ready") of each warm-up step. Before "Ready", what the first page (the
        explorer on the main checkpoint's test split) shows: the main checkpoint loads, its test-split predictions, and
        the Shapley values and words of the explorer's first samples. After it, in the background: the comparison
        checkpoint and its test-split predictions, the pair's maps in the projection the space opens on, the browse
        checkpoints, the pair's whole-split Shapley values (case studies, export) and the clip extractor's start-up.
        A view that needs what is not ready yet computes it (or, for a map, says it is on its way)."""
        from ..explain.projections import METHODS
        keys = self.map_keys()
        first, later = keys[:1], keys[1:]
        browse = [k for k in self.slots if k not in keys]
        method = self.options.projection
        steps: list[tuple[str, object, bool]] = []
        if first:
            steps += [("loading the checkpoint", lambda: self.load_models(first), False),
                      (f"test-split predictions ({first[0]})", lambda: self.split_view(first[0], "test"), False),
                      ("Shapley values and word attributions of the first samples", self._warm_first_page, False)]
        if later:
            steps += [("loading the comparison checkpoint", lambda: self.load_models(later), True)]
            steps += [(f"test-split predictions ({key})", lambda k=key: self.split_view(k, "test"), True)
                      for key in later]
        if keys:
            steps.append((f"{METHODS[method]} maps of the test split", lambda: [self._prepare_map(k, "test", method)
                                                                             for k in keys], True))
        if browse:
            steps.append(("loading the browse checkpoints", lambda: self.load_models(browse), True))
        steps += [(f"test-split Shapley values ({key})", lambda k=key: self.shapley(k, "test"), True) for key in keys]
        if self.options.warm_up_extract:
            steps.append(("clip extractor start-up (pitch tracker, face mesh, speech-to-text)", self._warm_extract,
                          True))
        from .warmup import class_steps   # then, at low priority, what a class's first clicks would wait for
        return steps + class_steps(self)

    def start_warmup(self) -> WarmUp:
        """Run the warm-up steps in a daemon thread; ``self.warmup`` reports progress."""
        steps = self.warmup_steps()
        self.warmup = w = WarmUp(steps=[Step(name, after_ready=late) for name, _, late in steps], started=time.time())

        def run():
            for step, (_, fn, _late) in zip(w.steps, steps):
                if step.after_ready and w.ready_at is None:
                    self._mark_ready(w)
                step.state, step.t0 = "running", time.time()
                try:
                    fn()
                    step.state = "done"
                except Exception as e:
                    step.state, step.detail = "failed", _short(e)
                    log.info("warm-up step %r failed: %s", step.name, e)
                    log.debug(traceback.format_exc())
                step.seconds = time.time() - step.t0
            if w.ready_at is None:
                self._mark_ready(w)
            w.finished = time.time()
            log.info("warm-up finished in %.1f s", w.finished - w.started)

        w.thread = threading.Thread(target=run, name="fdcmdie-warmup", daemon=True)
        w.thread.start()
        return w

    def _mark_ready(self, w: WarmUp) -> None:
        read = sum(self.cache.hits.values())
        made = sum(self.cache.misses.values())
        from ..explain.projections import METHODS
        w.ready_note = (f": the explorer's test split and its first samples' Shapley values and words ({read} results "
                        f"read from the cache, {made} computed and cached); the comparison checkpoint and the "
                        f"{METHODS[self.options.projection]} maps follow")
        w.ready_at = time.time()
        log.info("warm-up ready in %.1f s (%d results from the cache, %d computed)", w.ready_at - w.started, read,
                 made)

    def _warm_first_page(self) -> None:
        """The Shapley values and words of the first samples the explorer lists (main checkpoint, test split)."""
        key = "main" if "main" in self.slots else self.map_keys()[0]
        for row in self.first_rows(key, "test"):
            self.sample_shapley(key, "test", row)
            try:
                self.sample_words(key, "test", row)
            except ValueError:  # a checkpoint without words (precomputed text vectors): nothing to attribute
                return

    def _warm_umap(self) -> None:
        from ..explain.projections import warm_up_umap
        self._once(("umap-compiled",), warm_up_umap)

    def _warm_extract(self) -> None:
        self.extractor.warmup(self.extract_config())


def _short(e: Exception) -> str:
    text = str(e).split("\n")[0]
    return text if len(text) < 200 else text[:197] + "…"
