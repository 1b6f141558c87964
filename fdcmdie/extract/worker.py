"""Clip extraction in a worker process at low priority, so a class's light requests keep the cores.

    worker = ExtractWorker(nice=10, threads=1)          # nothing starts yet
    media, heard = worker.extract("clip.mp4", config, asr=True)   # clip.extract_parts in the worker; blocks
    worker.status()                                     # {"pid": …, "nice": 10, "threads": 1, "jobs": 1, "restarts": 0}

Decoding, the pitch tracker, the face mesh and speech-to-text bring their own thread pools and take every core; the
OS cannot tell that a typed sentence matters more than a clip. In one worker process (a
``concurrent.futures.ProcessPoolExecutor`` with one process, started on first use and kept) that lowers its own
priority (``os.nice``) and caps its threads (OpenMP / BLAS through threadpoolctl and the environment, OpenCV,
CTranslate2's ``cpu_threads``), an extraction runs when the server's requests leave a core free. Extractions queue
in the worker one at a time.

A worker that dies (out of memory, a decoder crash, killed) breaks the pool: the next call starts a new one. A job
that was running in it raises :class:`WorkerLost` (an ``ExtractionError`` whose message the app shows as it is:
analyse again); a job submitted to a pool found dead before it started is resubmitted to the new one. Nothing else is lost:
the server process and its caches are untouched.

``inline=True`` runs the same calls in the calling process, one at a time (``--extract-in-process``; tests that
stub the extractor).

The worker is started with the ``spawn`` method (a fresh interpreter: forking a server that runs torch and
Gradio threads is unsafe), with the parent's main script hidden while it starts: ``spawn`` would otherwise import
``app.py`` (Gradio, torch, ~400 MB and seconds of CPU at full priority) into a process that needs none of it.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import multiprocessing
import os
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from .common import ExtractionError

log = logging.getLogger("fdcmdie.extract")

NICE = 10      # added to the worker's nice value: the scheduler gives it ~1/10 of a core while the server is busy
THREADS = 1    # threads per library in the worker: one core stays with the server even before the scheduler helps
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
               "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


class WorkerLost(ExtractionError):
    """The worker process died while it ran this job (a new one has been started), or could not be started. An
    ExtractionError (a ValueError): the app shows its message as it is."""


def _init(nice: int, threads: int) -> None:
    """The worker's initializer: lower its priority, cap the thread pools of what it loads (now and later), and
    leave when the server does."""
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), name="parent-watch", daemon=True).start()
    if nice:
        os.nice(nice)
    for var in THREAD_VARS:
        os.environ[var] = str(threads)
    try:  # numpy's BLAS is already loaded (this module's imports): capped at run time
        from threadpoolctl import threadpool_limits
        threadpool_limits(threads)
    except ImportError:
        pass
    try:
        import cv2
        cv2.setNumThreads(threads)
    except ImportError:
        pass


def _exit_with_parent(parent: int, every_s: float = 1.0) -> None:
    """Exit once the server process is gone (this process is handed to another parent): a server stopped by a
    signal runs no clean-up, and the worker, waiting on a queue whose other end it holds too, would never notice."""
    while True:
        time.sleep(every_s)
        if os.getppid() != parent:
            os._exit(0)


def _status() -> dict:
    """What the worker process says about itself (run in it)."""
    return {"pid": os.getpid(), "nice": os.nice(0), "threads": int(os.environ.get("OMP_NUM_THREADS", "0") or 0)}


def _extract(path: str, config, asr: bool):
    from .clip import extract_parts
    return extract_parts(path, config, asr=asr)


def _warmup(config) -> None:
    from .clip import warmup
    warmup(config)


@contextlib.contextmanager
def _main_hidden():
    """``spawn`` imports the parent's ``__main__`` script by its path in the child (``multiprocessing.spawn``'s
    preparation data): hide the path while the worker starts (see the module's docstring)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path is None or getattr(getattr(main, "__spec__", None), "name", None):
        yield   # an interactive session, or ``python -m …`` (imported by name, where multiprocessing skips __main__)
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


class ExtractWorker:
    """One extraction process at a time (see the module's docstring). ``nice``: added to the worker's priority
    value; ``threads``: the cap on its thread pools; ``inline``: run the calls in this process instead."""

    def __init__(self, *, nice: int = NICE, threads: int = THREADS, inline: bool = False):
        self.nice, self.threads, self.inline = int(nice), max(1, int(threads)), inline
        self.jobs = 0          # calls run (extractions, warm-ups): the tests count extractions by it
        self.restarts = 0      # pools replaced after the worker died
        self._pool: cf.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()       # guards _pool
        self._inline_lock = threading.Lock()

    # ------------------------------------------------------------------------------------------------ calls

    def extract(self, path: str | Path, config, *, asr: bool = False):
        """``clip.extract_parts(path, config, asr=asr)`` in the worker: (media, heard). CTranslate2 gets at most
        ``threads`` threads. ExtractionError for a file that cannot be used; WorkerLost when the worker died."""
        config = replace(config, asr_threads=min(config.asr_threads, self.threads))
        return self.call(_extract, str(path), config, asr)

    def warmup(self, config) -> None:
        """Start the worker and pay the extractor's start-up costs there (extract.warmup)."""
        self.call(_warmup, replace(config, asr_threads=min(config.asr_threads, self.threads)))

    def status(self) -> dict:
        """{"pid", "nice", "threads"} as the worker reports them, plus "jobs" and "restarts"; starts the worker."""
        info = _status() if self.inline else self.call(_status, count=False)
        return {**info, "jobs": self.jobs, "restarts": self.restarts, "inline": self.inline}

    def call(self, fn: Callable, *args, count: bool = True):
        """``fn(*args)`` in the worker (``fn`` a module-level function, its arguments picklable)."""
        if count:
            with self._lock:
                self.jobs += 1
        if self.inline:
            with self._inline_lock:
                return fn(*args)
        for attempt in (1, 2):
            pool = self._live_pool()
            try:
                future = pool.submit(fn, *args)
            except cf.process.BrokenProcessPool:  # died while idle: the job never ran; once more in a new one
                self._replace(pool, "was found dead before a job")
                continue
            try:
                return future.result()
            except cf.process.BrokenProcessPool as e:
                self._replace(pool, f"died during a job ({e})")
                raise WorkerLost("the clip extractor's process stopped while it worked on this file (out of memory, "
                                 "or a decoder crash on it); a new one has been started: analyse again, or try a "
                                 "shorter or re-encoded clip if it happens again") from None
        raise WorkerLost("the clip extractor's process could not be started; see the server's log")

    # ------------------------------------------------------------------------------------------------ pool

    @property
    def pid(self) -> int | None:
        """The worker process's id (None: not started, or inline)."""
        procs = getattr(self._pool, "_processes", None) or {}
        return next(iter(procs), None)

    def alive(self) -> bool:
        """Whether the worker process is running (False: not started, inline, or dead)."""
        procs = getattr(self._pool, "_processes", None) or {}
        return bool(procs) and all(p.is_alive() for p in list(procs.values()))

    def _live_pool(self) -> cf.ProcessPoolExecutor:
        """The pool, started when there is none, replaced when its process is found dead."""
        if self._pool is not None and not self.alive():
            self._replace(self._pool, "was found dead")
        with self._lock:
            if self._pool is None:
                ctx = multiprocessing.get_context("spawn")
                pool = cf.ProcessPoolExecutor(1, mp_context=ctx, initializer=_init, initargs=(self.nice, self.threads))
                try:
                    with _main_hidden():   # the process starts in this submit (spawn starts workers on demand)
                        pool.submit(_status).result()
                except Exception as e:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise WorkerLost(f"the clip extractor's process could not be started ({type(e).__name__}: {e})")
                self._pool = pool
                log.info("clip extractor started in process %s (nice +%d, %d thread(s))", self.pid, self.nice,
                         self.threads)
            return self._pool

    def _replace(self, pool: cf.ProcessPoolExecutor, why: str) -> None:
        with self._lock:
            if self._pool is pool:
                log.warning("the clip extractor's process %s; starting a new one", why)
                self._pool = None
                self.restarts += 1
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
