"""The CMU-MOSI bundle (``<root>/mosi``; shipped in data/mosi, see data/README.md): transcripts, labels, standard
and Poria splits, and one real utterance-level feature vector per segment (openSMILE audio 73-d, 3D-CNN video
100-d, text-CNN 100-d).

Leakage rule (data README): the video and text-CNN vectors were trained with labels on Poria's train half, so
on the standard split only ``audio`` is allowed. On Poria's split the test half is leak-free, but on its train
half those vectors are fitted to the labels (far better there than on the test half), so a validation part carved
from the train half rewards trusting them: ``poria-honest`` and ``poria-test-cv`` select models on test-half videos.
Each utterance vector becomes a length-1 sequence, so the sLSTM/attention code is the same as for frames.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..facts import MOSI_SPLITS, SPLITS
from .base import DataError, Dataset, Split
from .location import data_file, resolve_root

LABEL_COLUMNS = ["id", "video_id", "clip_id", "text", "label", "split", "poria_split"]
FEATURE_KEYS = {"a": "audio", "v": "video"}


def read_labels(path: Path, columns: list[str]) -> pd.DataFrame:
    """The labels CSV at ``path`` (or ``path``.gz), checked for ``columns`` and numeric labels."""
    path = data_file(path, hint="point data.root (the app's --data) at the folder holding mosi/ and mosei/")
    try:
        df = pd.read_csv(path, dtype={"id": str, "video_id": str, "clip_id": str})
    except Exception as e:  # pandas raises many types for broken CSVs
        raise DataError(f"{path}: not a readable CSV ({e})") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}")
    if df["label"].isna().any() or not np.isfinite(df["label"].to_numpy(dtype=float)).all():
        raise DataError(f"{path}: column 'label' has empty or non-numeric values")
    df["text"] = df["text"].fillna("").astype(str)
    return df


def read_features(path: Path) -> dict[str, np.ndarray]:
    path = data_file(path, hint="point data.root (the app's --data) at the folder holding mosi/ and mosei/")
    try:
        z = np.load(path, allow_pickle=False)
        arrays = {k: z[k] for k in z.files}
    except Exception as e:
        raise DataError(f"{path}: not a readable .npz ({e})") from None
    for key, width in (("id", None), ("audio", 73), ("video", 100), ("text", 100)):
        if key not in arrays:
            raise DataError(f"{path}: missing array {key!r}")
        a = arrays[key]
        if width and (a.ndim != 2 or a.shape[1] != width or len(a) != len(arrays["id"])):
            raise DataError(f"{path}: array {key!r} has shape {a.shape}, expected ({len(arrays['id'])}, {width})")
    return arrays


def _carve_valid(df: pd.DataFrame, fraction: float, seed: int) -> pd.Series:
    """Poria's split has no validation part: move a seeded ``fraction`` of the train *videos* to valid."""
    split = df["poria_split"].copy()
    videos = sorted(df.loc[split == "train", "video_id"].unique())
    rng = np.random.default_rng(seed)
    n_valid = max(1, round(fraction * len(videos)))
    chosen = set(rng.choice(videos, size=n_valid, replace=False))
    split[df["video_id"].isin(chosen) & (split == "train")] = "valid"
    return split


def _honest_valid(df: pd.DataFrame, fraction: float, seed: int) -> pd.Series:
    """``poria-honest``: train on Poria's train half; a seeded ``fraction`` of the *test-half videos* is the
    validation part, the remaining test-half videos the test part (the only segments whose video and text-CNN
    vectors were not fitted with their labels, so model selection and test are both honest)."""
    split = df["poria_split"].copy()
    videos = sorted(df.loc[split == "test", "video_id"].unique())
    rng = np.random.default_rng(seed)
    chosen = set(rng.choice(videos, size=max(1, round(fraction * len(videos))), replace=False))
    split[df["video_id"].isin(chosen) & (split == "test")] = "valid"
    return split


def _test_half_folds(df: pd.DataFrame, fold: int, folds: int, seed: int) -> pd.Series:
    """``poria-test-cv``: only Poria's test half, its videos shuffled (seeded) into ``folds`` folds; fold ``fold``
    is the test part, the next fold the validation part, the rest train. Poria's train half is left out."""
    test_half = df["poria_split"] == "test"
    videos = np.array(sorted(df.loc[test_half, "video_id"].unique()))
    chunks = np.array_split(np.random.default_rng(seed).permutation(videos), folds)
    split = pd.Series(np.where(test_half, "train", "unused"), index=df.index, dtype=object)
    split[df["video_id"].isin(chunks[fold])] = "test"
    split[df["video_id"].isin(chunks[(fold + 1) % folds])] = "valid"
    return split


def load_mosi(root: str | Path | None = None, *, split: str = "standard", modalities=("t", "a"), text_source: str = "transcript",
              valid_fraction: float = 0.1, fold: int = 0, folds: int = 5, seed: int = 0) -> Dataset:
    """Read the bundle under ``root`` (data.root: None or "" is the default, see location.py) into a Dataset.
    ``modalities`` ⊆ {t, v, a}; text comes from transcripts unless
    ``text_source="cnn"`` (the bundle's text-CNN vectors). ``split``: "standard", "poria" (validation carved
    from Poria's train half), "poria-honest" (validation and test from Poria's test half, by video) or
    "poria-test-cv" (fold ``fold`` of ``folds`` by video inside Poria's test half)."""
    root = resolve_root(root) / "mosi"
    uses_video = "v" in modalities
    uses_cnn = "t" in modalities and text_source == "cnn"
    if split == "standard" and (uses_video or uses_cnn):
        what = " and ".join(w for w, u in (("video", uses_video), ("text-CNN", uses_cnn)) if u)
        raise DataError(f"the bundle's {what} vectors leak on the standard split: they were trained with labels on "
                        "Poria's train half, which holds 558 of the 686 standard test segments. Use split=poria, or "
                        "model.modalities=[t, a] with text_source=transcript on the standard split.")
    df = read_labels(root / "labels.csv", LABEL_COLUMNS)
    feats = read_features(root / "utterance_features.npz")
    row = {k: i for i, k in enumerate(feats["id"].tolist())}
    missing = [i for i in df["id"] if i not in row]
    if missing:
        raise DataError(f"{root / 'utterance_features.npz'}: no features for {len(missing)} ids, e.g. {missing[:3]}")
    order = np.array([row[i] for i in df["id"]])
    if split == "standard":
        column = df["split"]
    elif split == "poria":
        column = _carve_valid(df, valid_fraction, seed)
    elif split == "poria-honest":
        column = _honest_valid(df, valid_fraction, seed)
    elif split == "poria-test-cv":
        if not 0 <= fold < folds:
            raise DataError(f"fold must be in 0..{folds - 1}, got {fold}")
        column = _test_half_folds(df, fold, folds, seed)
    else:
        raise DataError(f"unknown MOSI split {split!r}: use one of {', '.join(MOSI_SPLITS)}")

    def make(name: str) -> Split:
        sel = np.flatnonzero((column == name).to_numpy())
        vec = lambda key: [feats[key][order[i]][None, :].astype(np.float32) for i in sel]  # (1, dim) sequences
        return Split(ids=df["id"].iloc[sel].tolist(), texts=df["text"].iloc[sel].tolist(),
                     labels=df["label"].iloc[sel].to_numpy(np.float32), video_ids=df["video_id"].iloc[sel].tolist(),
                     audio=vec("audio") if "a" in modalities else None,
                     vision=vec("video") if uses_video else None,
                     text_feats=vec("text") if uses_cnn else None)

    parts = {name: make(name) for name in SPLITS}
    notes = [f"CMU-MOSI, {split} split ({'/'.join(str(len(p)) for p in parts.values())} train/valid/test); "
             "features: utterance-level openSMILE audio (73-d)"
             + (", 3D-CNN video (100-d)" if uses_video else "") + (", text-CNN (100-d)" if uses_cnn else "")]
    if split == "poria":
        notes.append(f"validation carved from Poria's train by video ({valid_fraction:.0%} of videos, seed {seed})")
    elif split == "poria-honest":
        notes.append(f"train: Poria's train half; validation: {valid_fraction:.0%} of the videos of Poria's test half "
                     f"(seed {seed}); test: the other test-half videos")
    elif split == "poria-test-cv":
        notes.append(f"inside Poria's test half only, fold {fold} of {folds} by video (seed {seed}): test = fold "
                     f"{fold}, validation = fold {(fold + 1) % folds}, train = the other folds")
    name = f"mosi-{split}" + (f"-f{fold}" if split == "poria-test-cv" else "")
    return Dataset(name=name, dims={"a": 73, "v": 100}, notes=notes, **parts)
