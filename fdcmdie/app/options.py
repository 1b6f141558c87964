"""The app's settings (``AppOptions``, what app.py's command line fills) and the Gradio concurrency groups its events
queue in."""
from __future__ import annotations

from dataclasses import dataclass

from ..checkpoint import BROWSE_CHECKPOINTS, DEFAULT_PAIR

# Gradio concurrency groups (the events' concurrency_id / concurrency_limit): what takes seconds of every core (clip
# extraction, speech-to-text, the attributions of an upload) queues apart from what a class clicks through (sample
# views, typed text, maps, tables), so a typed sentence never waits behind a clip
HEAVY = {"concurrency_id": "heavy", "concurrency_limit": 1}
LIGHT = {"concurrency_id": "light", "concurrency_limit": 4}
# a typed sentence's word attributions (integrated gradients through the text encoder, ~0.7 s of a core with e5) follow
# its prediction as an event of their own, one at a time, so a class's predictions and sample views never queue
# behind them
WORDS = {"concurrency_id": "words", "concurrency_limit": 1}


@dataclass
class AppOptions:
    """Command-line settings of the app (see app.py)."""

    # default pair (fdcmdie/checkpoint.py DEFAULT_PAIR): MOSI standard split, text + voice, e5-small top-2 layers
    # fine-tuned, d = 128, with / without CL. For the face too pass the face-channel pair (checkpoint.py FACE_PAIR;
    # T+V+A, selected and tested on Poria's test half, where the 3D-CNN video vectors carry almost no signal) as
    # --checkpoint/--compare-checkpoint
    checkpoint: str = DEFAULT_PAIR[0]
    compare_checkpoint: str | None = DEFAULT_PAIR[1]
    # more checkpoints the explorer and case studies offer (MOSEI: the paper's second dataset); a folder that is not
    # there is left out. Only the main/compare pair is drawn in the representation space.
    browse_checkpoints: tuple[str, ...] = BROWSE_CHECKPOINTS
    # --data: None = each checkpoint reads the data it was trained on (MOSI/MOSEI: $FDCMDIE_DATA, else the shipped
    # data/ folder; an MMSA-trained one: the pickle it stored). A folder holding mosi/ and mosei/, or an MMSA pickle
    # (or its folder), replaces it for the checkpoints it fits (fdcmdie/data/location.py data_override)
    data: str | None = None
    # where computed results are kept between restarts (fdcmdie/cache.py): None = $FDCMDIE_CACHE, else
    # ~/.cache/fdcmdie/results. Safe to delete; "" keeps them in memory only
    cache_dir: str | None = None
    # the projection the representation space opens on: PCA fits in milliseconds and needs no compiling, so the lab is
    # ready in seconds; UMAP (30–120 s of numba compiling in a fresh process) and t-SNE are made when first asked for
    projection: str = "pca"
    first_rows: int = 5                  # samples of the explorer's first page whose Shapley values and words warm up
    results: str = "docs/RESULTS.md"
    umap_max_samples: int | None = 800   # samples per split on a map (test splits are smaller: all of them)
    umap_epochs: int = 200
    max_upload_mb: float = 50.0
    max_duration_s: float = 30.0         # longer clips: only the first seconds are analysed (with a warning)
    asr: bool = True
    warm_up: bool = True
    warm_up_extract: bool = True         # also pay the clip extractor's start-up costs in the background
    # uploads are extracted in one worker process (fdcmdie/extract/worker.py) that adds extract_nice to its nice value
    # and caps its thread pools at extract_threads, so typed text and sample views keep the cores; False: in the
    # server process (one at a time)
    extract_worker: bool = True
    extract_nice: int = 10
    extract_threads: int = 1
    device: str = "cpu"
