"""Intra-op CPU threads for a few inputs: one thread is fastest for one sample (several threads on tiny matrices
mostly wait for each other, badly so on a busy machine). The setting is process-wide, so concurrent users share
it and the last one to leave restores the old value."""
from __future__ import annotations

import threading
from contextlib import contextmanager

import torch

SMALL_BATCH = 8   # up to this many inputs run with Predictor.threads intra-op threads

_lock = threading.Lock()
_users = 0
_saved = 0


@contextmanager
def threads(n: int | None):
    """Run the block with ``n`` intra-op threads (None or 0: leave torch's setting alone)."""
    global _users, _saved
    if not n:
        yield
        return
    with _lock:
        if _users == 0:
            _saved = torch.get_num_threads()
            if _saved != n:
                torch.set_num_threads(n)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and torch.get_num_threads() != _saved:
                torch.set_num_threads(_saved)
