"""Shared setup of the app tests (test_app*.py, test_explain*.py, test_e2e_browser.py): a pair of tiny checkpoints on
the real MOSI Poria split, selected and tested on its test half (``data.split=poria-honest``; t, v, a; frozen MiniLM;
d = 32, k = 1; one epoch; with and without contrastive learning), or the shipped ``checkpoints/mosi-honest-tav-ft`` pair
when both are there.

Import the fixtures into a test module (``from test_app_support import app_checkpoints, app_context``); the trained
pair is built once per pytest process whichever module asks first.
"""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from fdcmdie.config import load_config

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = (ROOT / "checkpoints" / "mosi-honest-tav-ft", ROOT / "checkpoints" / "mosi-honest-tav-ft-nocl")
TINY = ["data.split=poria-honest", "data.valid_fraction=0.3", "model.modalities=[t,v,a]", "model.text_finetune_layers=0", "model.d=32",
        "model.n_heads=2", "model.k=1", "model.lstm_layers=1", "loss.members_per_step=1", "train.epochs=1",
        "train.batch_size=64", "train.lr=0.002", "train.device=cpu"]
LIMIT_TRAIN = 320  # training samples per tiny run
UMAP_SMALL = {"umap_max_samples": 120, "umap_epochs": 40}

_built: dict = {}
_lock = threading.Lock()


def shipped_pair() -> tuple[Path, Path] | None:
    ok = all((p / "config.json").is_file() and (p / "model.safetensors").is_file() for p in SHIPPED)
    return SHIPPED if ok else None


def train_tiny(out: Path, data_root: Path, contrastive: bool) -> Path:
    import torch

    from fdcmdie.checkpoint import save_checkpoint
    from fdcmdie.train import Run

    sets = TINY + [f"data.root={data_root}", f"loss.contrastive={'true' if contrastive else 'false'}",
                   f"train.limit_train={LIMIT_TRAIN}"]
    cfg = load_config(str(ROOT / "configs" / "mosi.yaml"), sets)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is faster on a busy 2-core machine
    try:
        run = Run(cfg, progress=False)
        result = run.fit()
    finally:
        torch.set_num_threads(threads)
    return save_checkpoint(out / "checkpoint", run.model, cfg, run.normalizer,
                           meta={"dataset": run.dataset.name, "notes": run.dataset.notes,
                                 "best_epoch": result["best_epoch"], "valid": result["valid"], "test": result["test"]})


def checkpoint_pair(base: Path, data_root: Path) -> tuple[Path, Path]:
    """(with CL, without CL) checkpoint folders: shipped ones if present, else trained once into ``base``."""
    with _lock:
        if "pair" not in _built:
            _built["pair"] = shipped_pair() or (train_tiny(base / "tiny-cl", data_root, True),
                                                train_tiny(base / "tiny-nocl", data_root, False))
        return _built["pair"]


@pytest.fixture(scope="session")
def app_checkpoints(tmp_path_factory, data_root) -> tuple[Path, Path]:
    return checkpoint_pair(tmp_path_factory.getbasetemp() / "app-checkpoints", data_root)


@pytest.fixture(scope="session")
def app_context(app_checkpoints, data_root, tmp_path_factory):
    """An AppContext on the pair, with small UMAP settings and its own map cache; no warm-up thread."""
    from fdcmdie.app import AppContext, AppOptions

    with _lock:
        if "ctx" not in _built:
            cl, nocl = app_checkpoints
            opts = AppOptions(checkpoint=str(cl), compare_checkpoint=str(nocl), data=str(data_root),
                              cache_dir=str(tmp_path_factory.getbasetemp() / "app-cache"), asr=False,
                              warm_up=False, browse_checkpoints=(), **UMAP_SMALL)
            _built["ctx"] = AppContext(opts)
        return _built["ctx"]
