"""What the app holds between requests: the loaded checkpoints and every computed result (split predictions and
ablations, Shapley values, word attributions, maps, geometry numbers), the background warm-up that prepares what the
first page shows, and the status line that says what is ready. ``AppContext`` puts together one module per job, and
every tab reaches them through it:

- options.py: ``AppOptions`` (the command line) and the events' concurrency groups (``HEAVY``, ``LIGHT``, ``WORDS``)
- slots.py: the checkpoints offered (``ModelSlot``: labels and config from config.json, loading on first use) and
  the data each reads (``Models``)
- results.py: what is computed over the splits, through the one cache (``Results``, ``SplitView``)
- jobs.py: background computations, the status line and the warm-up (``Jobs``, ``WarmUp``)
- clip_cache.py: uploaded clips, extracted once per content and settings (``Clips``)

One cache layer (fdcmdie/cache.py ``ResultCache``, ``AppContext.cache``): every result is computed once per key behind a
per-key lock (the warm-up thread and a user's request asking for the same thing share one computation), the expensive
ones also kept on disk so a restart reads them back in milliseconds; the predictors the app loads keep their datasets
and split predictions in it too (``Predictor.cache``).
"""
from __future__ import annotations

import threading

from ..cache import ResultCache
from ..facts import VIEW_SPLITS
from .clip_cache import Clips
from .jobs import Job, Jobs, Step, WarmUp  # noqa: F401  (the names the tabs and tests import from here)
from .options import HEAVY, LIGHT, WORDS, AppOptions  # noqa: F401
from .results import Results, SplitView  # noqa: F401
from .slots import ModelSlot, Models, make_slots  # noqa: F401

SPLITS = VIEW_SPLITS   # the order the app offers them (test first)


class AppContext(Models, Results, Jobs, Clips):
    """The app's state. ``predictors`` may be given directly (tests; they keep the cache they were made with);
    otherwise checkpoints load on first use, keeping their datasets and split predictions in ``self.cache``."""

    def __init__(self, options: AppOptions | None = None, *, predictors: dict | None = None):
        self.options = options or AppOptions()
        self.slots: dict[str, ModelSlot] = make_slots(self.options, predictors)
        self._loaded = set(predictors or {})
        cache_dir = self.options.cache_dir
        self.cache = ResultCache(cache_dir or None, disk=cache_dir != "")   # the one cache layer
        self.jobs: dict[tuple, Job] = {}     # background computations asked for, by key (status line)
        self._bg_errors: dict = {}
        self.warmup = WarmUp()
        from ..extract.worker import ExtractWorker   # light: the extraction libraries load in the worker
        self.extractor = ExtractWorker(nice=self.options.extract_nice, threads=self.options.extract_threads,
                                       inline=not self.options.extract_worker)
        self._fit_lock = threading.Lock()            # UMAP fits one at a time (CPU-bound; numba compiles once)
