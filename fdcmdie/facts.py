"""Facts the whole project shares, each defined once: the splits, the modalities and their order and the batch field
each is read from, the names of the feature sets, how a prediction reads as a polarity and a 7-class score, how a
checkpoint's contrastive learning is said, and how a checkpoint folder is named (the shipped checkpoints' own paths
live with the checkpoints: fdcmdie/checkpoint.py ``DEFAULT_PAIR``, ``MOSEI_CHECKPOINT``, ``FACE_PAIR``).

Nothing here imports the rest of the package (or torch), so every module may import it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

# --------------------------------------------------------------------------------------------------- splits

SPLITS = ("train", "valid", "test")   # every dataset's splits, in the order they are made and written
VIEW_SPLITS = SPLITS[::-1]            # the order the app and the lessons offer them: test first
# how a MOSI run splits the bundle (config data.split; fdcmdie/data/mosi.py makes each): the standard CMU split,
# Poria's, Poria's train half with valid/test from its test half, and cross-validation inside the test half
MOSI_SPLITS = ("standard", "poria", "poria-honest", "poria-test-cv")


def check_split(name: str) -> str:
    """``name`` when it is one of ``SPLITS``, else ValueError saying which are."""
    if name not in SPLITS:
        raise ValueError(f"split must be train, valid or test, got {name!r}")
    return name


# ----------------------------------------------------------------------------------------------- modalities

MODALITIES = ("t", "v", "a")     # text, visual, acoustic: the paper's order T, V, A (every (.., M) array follows it)
MODALITY_NAMES = {"t": "text", "v": "visual", "a": "acoustic"}
# the data field each modality is read from: Batch.text / .vision / .audio (masks: f"{field}_mask"), the sample
# dicts and MMSA pickles' "audio" / "vision" arrays, and the extractor record's f"{field}_columns" / f"{field}_len"
BATCH_FIELD = {"t": "text", "v": "vision", "a": "audio"}
SEQ_FIELD = {m: BATCH_FIELD[m] for m in ("v", "a")}   # the frame-sequence modalities (text is tokens or vectors)


def in_order(modalities) -> list[str]:
    """``modalities`` (any iterable of t / v / a) in the paper's order T, V, A."""
    chosen = set(modalities)
    return [m for m in MODALITIES if m in chosen]


# ------------------------------------------------------------------------------------------- feature sets

SHARED = {"t": "Ts", "v": "Vs", "a": "As"}       # T_s, V_s, A_s: outputs of the shared encoder E_s (MODEL.md §3)
PRIVATE = {"t": "Td", "v": "Vd", "a": "Ad"}      # T_d, V_d, A_d: outputs of the private encoders E_d^m (MODEL.md §3)
ENHANCED = {"t": "G_T", "v": "G_V", "a": "G_A"}  # G_{X→G}^[k]: the global enhanced by modality X (MODEL.md §5)
SHARED_SETS = tuple(SHARED.values())             # ("Ts", "Vs", "As")
PRIVATE_SETS = tuple(PRIVATE.values())           # ("Td", "Vd", "Ad")
FEATURE_SETS = SHARED_SETS + PRIVATE_SETS        # the six pooled decoupled feature sets, in this order everywhere

# ------------------------------------------------------------------------------------------------ labels


def polarity(pred: float) -> str:
    """"positive" | "negative" | "neutral" (exactly 0)."""
    return "positive" if pred > 0 else "negative" if pred < 0 else "neutral"


def class7(pred: float) -> int:
    """The 7-class score -3..3 of a prediction: round(clip(pred, -3, 3)) with np.round, as Acc-7 counts it."""
    return int(np.round(np.clip(pred, -3.0, 3.0))) + 0  # + 0 turns -0 into 0



def cl_label(contrastive: bool, *, words: bool = False) -> str:
    """How a checkpoint's training is said beside its name: "with CL" / "without CL"; ``words``: "with contrastive
    learning" / "without contrastive learning"."""
    return ("with" if contrastive else "without") + (" contrastive learning" if words else " CL")


# ------------------------------------------------------------------------------------------- checkpoints

CHECKPOINT_DIR = "checkpoint"   # what a training run writes its best weights to: runs/<name>/checkpoint/
SHIPPED_DIR = "checkpoints"     # where the repository ships checkpoints: checkpoints/<experiment name>/ (ship: true)


def shipped_path(name: str) -> str:
    """The shipped checkpoint folder of the experiment ``name`` (configs/experiments.yaml), relative to the repository."""
    return f"{SHIPPED_DIR}/{name}"


def checkpoint_folder(path: str | Path) -> Path:
    """The folder holding ``config.json``: ``path`` itself, or ``path/checkpoint`` for a run folder."""
    path = Path(path)
    if not (path / "config.json").is_file() and (path / CHECKPOINT_DIR / "config.json").is_file():
        return path / CHECKPOINT_DIR
    return path


def checkpoint_name(path: str | Path) -> str:
    """A checkpoint's display name: its folder's name, or its run's name for a ``checkpoint/`` folder."""
    path = Path(path)
    return path.resolve().parent.name if path.name == CHECKPOINT_DIR else path.name
