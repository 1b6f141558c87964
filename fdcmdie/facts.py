"""Facts the whole project shares, each defined once: the modalities and their order, the names of the feature sets,
how a prediction reads as a polarity and a 7-class score, and how a checkpoint folder is named.

Nothing here imports the rest of the package (or torch), so every module may import it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

# ----------------------------------------------------------------------------------------------- modalities

MODALITIES = ("t", "v", "a")     # text, visual, acoustic: the paper's order T, V, A (every (.., M) array follows it)
MODALITY_NAMES = {"t": "text", "v": "visual", "a": "acoustic"}

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


# ------------------------------------------------------------------------------------------- checkpoints

CHECKPOINT_DIR = "checkpoint"   # what a training run writes its best weights to: runs/<name>/checkpoint/


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
