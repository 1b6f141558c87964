"""CMU-MOSEI transcripts and labels (``<root>/mosei/labels.csv``): text only, 16274/1861/4653 segments.
No acoustic or visual features exist for MOSEI here."""
from __future__ import annotations

from pathlib import Path

from ..facts import SPLITS
from .base import Dataset, Split
from .location import resolve_root
from .mosi import read_labels


def load_mosei(root: str | Path | None = None) -> Dataset:
    """``<root>/mosei/labels.csv`` (or .csv.gz); ``root`` None or "" is the default data (location.py)."""
    path = resolve_root(root) / "mosei" / "labels.csv"
    df = read_labels(path, ["id", "video_id", "text", "label", "split"])

    def make(name: str) -> Split:
        part = df[df["split"] == name]
        return Split(ids=part["id"].tolist(), texts=part["text"].tolist(), labels=part["label"].to_numpy("float32"),
                     video_ids=part["video_id"].tolist())

    parts = {n: make(n) for n in SPLITS}
    return Dataset(name="mosei", notes=["CMU-MOSEI transcripts and labels only: no audio/visual features here"], **parts)
