"""The one in-memory form every data source is read into, and the one Batch the model consumes.

Masks are the single source of truth for what is there: a modality missing for a sample has an
all-False mask (its features are a single zero frame so LSTMs still run), and ``present`` is derived.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ..facts import BATCH_FIELD, check_split


class DataError(ValueError):
    """A data file is missing or malformed; the message names the file and what is wrong."""


@dataclass
class Split:
    """One split of a dataset. Sequences are lists of float32 arrays, one (length, dim) array per sample."""
    ids: list[str]
    texts: list[str]
    labels: np.ndarray                          # (n,) float32 sentiment in [-3, 3]
    audio: list[np.ndarray] | None = None       # acoustic frames, each (l_a, d_a)
    vision: list[np.ndarray] | None = None      # visual frames, each (l_v, d_v)
    text_feats: list[np.ndarray] | None = None  # text features (cached encoder states or CNN vectors), each (l_t, d_t)
    video_ids: list[str] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, idx) -> "Split":
        idx = list(idx)
        pick = lambda xs: None if xs is None else [xs[i] for i in idx]
        return Split(ids=pick(self.ids), texts=pick(self.texts), labels=self.labels[idx].copy(),
                     audio=pick(self.audio), vision=pick(self.vision), text_feats=pick(self.text_feats),
                     video_ids=pick(self.video_ids))

    def with_(self, **kw) -> "Split":
        return replace(self, **kw)


@dataclass
class Dataset:
    """train/valid/test splits plus what the model needs to know about them."""
    name: str
    train: Split
    valid: Split
    test: Split
    dims: dict = field(default_factory=dict)    # {"a": d_a, "v": d_v} of the modalities present
    notes: list[str] = field(default_factory=list)

    def split(self, name: str) -> Split:
        return getattr(self, check_split(name))


@dataclass
class Batch:
    """A padded batch. Masks are (n, l) bool, True = a real time step."""
    ids: list[str]
    texts: list[str]
    label: torch.Tensor                     # (n,)
    text: torch.Tensor | None = None        # (n, l_t, d_t) cached text features, or None when token ids are used
    text_ids: torch.Tensor | None = None    # (n, l_t) token ids (full fine-tuning)
    text_mask: torch.Tensor | None = None   # (n, l_t)
    audio: torch.Tensor | None = None       # (n, l_a, d_a)
    audio_mask: torch.Tensor | None = None  # (n, l_a)
    vision: torch.Tensor | None = None      # (n, l_v, d_v)
    vision_mask: torch.Tensor | None = None # (n, l_v)

    def to(self, device) -> "Batch":
        moved = {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in self.__dict__.items()}
        return Batch(**moved)

    def __len__(self) -> int:
        return len(self.ids)

    def mask(self, m: str) -> torch.Tensor:
        return getattr(self, f"{BATCH_FIELD[m]}_mask")

    def present(self, modalities) -> torch.Tensor:
        """(n, len(modalities)) bool: which modalities each sample has."""
        return torch.stack([self.mask(m).any(1) for m in modalities], dim=1)

    def drop(self, m: str, rows: torch.Tensor) -> "Batch":
        """A copy with modality ``m`` marked missing for the rows where ``rows`` (n,) is True."""
        key = f"{BATCH_FIELD[m]}_mask"
        new = Batch(**self.__dict__)
        setattr(new, key, getattr(self, key) & ~rows[:, None])
        return new


def pad(seqs: list[np.ndarray | None], dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad variable-length (l, dim) arrays to (n, L, dim); a None or empty sequence becomes one masked zero frame."""
    lengths = [0 if s is None else len(s) for s in seqs]
    L = max(1, max(lengths))
    out = torch.zeros(len(seqs), L, dim)
    mask = torch.zeros(len(seqs), L, dtype=torch.bool)
    for i, s in enumerate(seqs):
        if lengths[i]:
            out[i, : lengths[i]] = torch.as_tensor(np.asarray(s, dtype=np.float32))
            mask[i, : lengths[i]] = True
    return out, mask


def collate(samples: list[dict], dims: dict) -> Batch:
    """Samples are dicts with id, text, label and optional text_feats/text_ids/audio/vision arrays."""
    b = Batch(ids=[s["id"] for s in samples], texts=[s["text"] for s in samples],
              label=torch.tensor([s["label"] for s in samples], dtype=torch.float32))
    if "text_feats" in samples[0]:
        b.text, b.text_mask = pad([s["text_feats"] for s in samples], dims["t"])
    elif "text_ids" in samples[0]:
        ids = [np.asarray(s["text_ids"]) for s in samples]
        L = max(len(x) for x in ids)
        b.text_ids = torch.zeros(len(ids), L, dtype=torch.long)
        b.text_mask = torch.zeros(len(ids), L, dtype=torch.bool)
        for i, x in enumerate(ids):
            b.text_ids[i, : len(x)] = torch.as_tensor(x)
            b.text_mask[i, : len(x)] = True
    if "audio" in samples[0]:
        b.audio, b.audio_mask = pad([s["audio"] for s in samples], dims["a"])
    if "vision" in samples[0]:
        b.vision, b.vision_mask = pad([s["vision"] for s in samples], dims["v"])
    return b
