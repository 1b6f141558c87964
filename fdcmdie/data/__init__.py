"""Data sources → one ``Dataset`` of ``Split``s → model-ready samples → ``Batch``.

``load_dataset(cfg)`` reads the configured source; ``prepare(dataset, cfg)`` adds text features (cached
encoder states, or token ids for full fine-tuning) and z-scores acoustic/visual features with train statistics.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..config import Config
from ..facts import SPLITS
from .base import Batch, DataError, Dataset, Split, collate

__all__ = ["Batch", "DataError", "Dataset", "Split", "collate", "load_dataset", "prepare", "Normalizer",
           "SampleSet", "text_inputs"]


def load_dataset(cfg: Config) -> Dataset:
    """The configured source; with ``data.extra_train`` its training split gains the other dataset's transcripts."""
    ds = _load_source(cfg)
    if cfg.data.extra_train:
        ds = with_extra_train(ds, cfg)
    return ds


def with_extra_train(ds: Dataset, cfg: Config) -> Dataset:
    """MOSEI's training transcripts appended to ``ds.train`` (labels on the same −3…+3 scale). Their voice and face
    are absent (empty frame sequences, masked like a dropped modality), so a T+A model reads them through the words.
    Validation and test are untouched: MOSEI never chooses or scores anything for the source."""
    from .mosei import load_mosei
    if cfg.data.text_source != "transcript":
        raise DataError("data.extra_train adds transcripts: it needs data.text_source=transcript")
    extra = load_mosei(cfg.data.root).train
    if cfg.data.extra_train_limit:
        extra = extra.subset(range(min(cfg.data.extra_train_limit, len(extra))))
    tr = ds.train
    absent = lambda seqs, m: None if seqs is None else seqs + [np.zeros((0, ds.dims[m]), np.float32)] * len(extra)
    train = Split(ids=tr.ids + [f"mosei:{i}" for i in extra.ids], texts=tr.texts + extra.texts,
                  labels=np.concatenate([tr.labels, extra.labels]),
                  audio=absent(tr.audio, "a"), vision=absent(tr.vision, "v"),
                  video_ids=None if tr.video_ids is None else tr.video_ids + [f"mosei:{v}" for v in extra.video_ids])
    note = (f"training split: {len(tr)} {ds.name} samples + {len(extra)} MOSEI training transcripts "
            "(text only; validation and test are the source's alone)")
    return Dataset(name=ds.name, train=train, valid=ds.valid, test=ds.test, dims=ds.dims, notes=ds.notes + [note])


def _load_source(cfg: Config) -> Dataset:
    d, mods = cfg.data, cfg.model.modalities
    if d.source == "mosi":
        from .mosi import load_mosi
        return load_mosi(d.root, split=d.split, modalities=mods, text_source=d.text_source,
                         valid_fraction=d.valid_fraction, fold=d.fold, folds=d.folds)
    if d.source == "mosei":
        if set(mods) - {"t"}:
            raise DataError("MOSEI here has transcripts only: set model.modalities=[t]")
        from .mosei import load_mosei
        return load_mosei(d.root)
    from .mmsa import load_mmsa
    if not d.path:
        raise DataError("data.source=mmsa needs data.path pointing at aligned_50.pkl or unaligned_50.pkl")
    return load_mmsa(d.path, modalities=mods, frame_stride=d.frame_stride, max_frames=d.max_frames)


@dataclass
class Normalizer:
    """Per-feature z-scoring of acoustic/visual frames with train statistics (stored in checkpoints)."""
    stats: dict  # {"a": (mean, std), "v": (mean, std)} as lists

    @classmethod
    def fit(cls, split: Split) -> "Normalizer":
        stats = {}
        for m, seqs in (("a", split.audio), ("v", split.vision)):
            if seqs:
                frames = np.concatenate([s for s in seqs if len(s)]) if any(len(s) for s in seqs) else None
                if frames is not None:
                    std = frames.std(0)
                    stats[m] = (frames.mean(0).tolist(), np.where(std > 1e-6, std, 1.0).tolist())
        return cls(stats)

    def apply(self, seqs: list[np.ndarray] | None, m: str) -> list[np.ndarray] | None:
        if seqs is None or m not in self.stats:
            return seqs
        mean, std = (np.asarray(x, np.float32) for x in self.stats[m])
        return [((s - mean) / std).astype(np.float32) if len(s) else s for s in seqs]

    def to_dict(self) -> dict:
        return {m: {"mean": mu, "std": sd} for m, (mu, sd) in self.stats.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "Normalizer":
        return cls({m: (v["mean"], v["std"]) for m, v in d.items()})


def text_inputs(texts: list[str], cfg: Config, *, progress: bool = False) -> dict:
    """What the model's text branch consumes for these texts: cached states (key ``text_feats``) or ids."""
    from .. import text_encoder as te
    m = cfg.model
    texts = [m.text_prefix + t for t in texts] if m.text_prefix else list(texts)
    if m.text_finetune_layers < 0:
        return {"text_ids": te.tokenize(m.text_encoder, texts, m.max_text_len)}
    upto = None if m.text_finetune_layers == 0 else te.num_layers(m.text_encoder) - m.text_finetune_layers
    return {"text_feats": te.encode_texts(m.text_encoder, texts, max_len=m.max_text_len, upto_layer=upto,
                                          cache_dir=cfg.train.cache_dir, progress=progress)}


def prepare(ds: Dataset, cfg: Config, *, normalizer: Normalizer | None = None, progress: bool = False):
    """Returns ({split name: SampleSet}, normalizer). Text: transcripts through the encoder unless the split
    already holds text vectors (text-CNN); a/v: z-scored."""
    mods = cfg.model.modalities
    norm = normalizer or (Normalizer.fit(ds.train) if cfg.data.normalize else Normalizer({}))
    sets = {}
    for name in SPLITS:
        sp = ds.split(name)
        cols: dict = {}
        if "t" in mods:
            cols = {"text_feats": sp.text_feats} if sp.text_feats is not None else text_inputs(sp.texts, cfg, progress=progress)
        if "a" in mods:
            if sp.audio is None:
                raise DataError(f"{ds.name}: the config uses acoustic features but the data has none")
            cols["audio"] = norm.apply(sp.audio, "a")
        if "v" in mods:
            if sp.vision is None:
                raise DataError(f"{ds.name}: the config uses visual features but the data has none")
            cols["vision"] = norm.apply(sp.vision, "v")
        sets[name] = SampleSet(sp, cols)
    return sets, norm


class SampleSet(torch.utils.data.Dataset):
    """Index → sample dict (id, text, label and the model's input columns)."""

    def __init__(self, split: Split, columns: dict):
        self.split, self.columns = split, columns

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int) -> dict:
        s = {"id": self.split.ids[i], "text": self.split.texts[i], "label": float(self.split.labels[i])}
        s.update({k: v[i] for k, v in self.columns.items()})
        return s

    def batch(self, idx, dims: dict) -> Batch:
        return collate([self[int(i)] for i in idx], dims)
