"""Build small pickles in the exact layout of MMSA's ``aligned_50.pkl`` / ``unaligned_50.pkl``.

MMSA's files are not shipped (data/README.md, "Bring your own data": users download them), so the
reader is tested on these: same keys, dtypes, feature widths and padded sequence lengths as the MMSA
release, random values, small N.

Layout per split (``train``, ``valid``, ``test``):

* ``id`` ``"<video_id>$_$<clip_id>"``, ``raw_text`` lowercase transcripts, ``annotations``
  ("Positive"/"Negative"/"Neutral") -- numpy str arrays;
* ``text`` (N, 50, 768) float32 and ``text_bert`` (N, 3, 50) float64 (token ids, mask, segment ids);
* ``audio`` (N, L_a, d_a) / ``vision`` (N, L_v, d_v) float32, zero-padded at the end; some real
  audio frames hold ``-inf`` (as COVAREP's log features do);
* ``audio_lengths`` / ``vision_lengths`` (N,) int64;
* ``regression_labels`` (N,) float32 in [-3, 3] (the first train label is exactly 0);
* MOSEI files also carry ``classification_labels`` (MMSA has them in some releases only).

Aligned files (L = 50 everywhere) are aligned to the BERT tokens: each sample's audio/vision real
length equals its number of tokens (the ``text_bert`` mask sum). The MOSI aligned fixture stores
uninformative lengths (all 50), the MOSEI aligned one stores none -- the two forms the reader must
handle. Unaligned files (text / audio / vision: MOSI 50 / 375 / 500, MOSEI 50 / 500 / 500, as MMSA's
seq_lens) have independent lengths, including 0 vision frames for one training sample and the full
padded length for another.
"""
from __future__ import annotations

import pickle
import string
from pathlib import Path

import numpy as np

DIMS = {"mosi": {"audio": 5, "vision": 20}, "mosei": {"audio": 74, "vision": 35}}
TEXT_DIM = 768
TEXT_LEN = 50
SEQ_LEN = {   # MMSA's padded acoustic/visual lengths, by dataset and `aligned` (text is always TEXT_LEN)
    "mosi": {True: {"audio": 50, "vision": 50}, False: {"audio": 375, "vision": 500}},
    "mosei": {True: {"audio": 50, "vision": 50}, False: {"audio": 500, "vision": 500}},
}

SENTENCES = [
    "i thought it was a really good movie",
    "the acting was just terrible and the plot made no sense",
    "um it was okay i guess",
    "i loved every minute of it",
    "honestly i would not recommend it to anyone",
    "the special effects were amazing but the story was weak",
    "it was kind of boring in the middle",
    "she did a fantastic job in that role",
    "i did not like the ending at all",
    "it is a fun movie to watch with friends",
    "the dialogue felt really forced",
    "overall i would give it a three out of five",
]

_VIDEO_CHARS = string.ascii_letters + string.digits + "-_"


def make_mmsa_pickle(path: str | Path, *, dataset: str = "mosi", aligned: bool = False,
                     n: tuple[int, int, int] = (12, 4, 6), seed: int = 0) -> Path:
    """Write an MMSA-layout pickle with ``n`` = (train, valid, test) samples to ``path``; return the path."""
    if dataset not in DIMS:
        raise ValueError(f"dataset must be one of {sorted(DIMS)}, got {dataset!r}")
    rng = np.random.default_rng(seed)
    data = {}
    for name, size in zip(("train", "valid", "test"), n):
        data[name] = _split(rng, size, dataset, aligned, first=(name == "train"))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pickle.dump(data, f, protocol=4)
    return path


def _split(rng: np.random.Generator, size: int, dataset: str, aligned: bool, first: bool) -> dict:
    tokens = _token_counts(rng, size)
    text_bert = _text_bert(rng, tokens)
    if aligned:
        lengths = {"audio": tokens.copy(), "vision": tokens.copy()}
    else:
        lengths = {key: _free_lengths(rng, size, SEQ_LEN[dataset][False][key], zero=(key == "vision" and first))
                   for key in ("audio", "vision")}
    audio = _padded(rng, lengths["audio"], SEQ_LEN[dataset][aligned]["audio"], DIMS[dataset]["audio"])
    vision = _padded(rng, lengths["vision"], SEQ_LEN[dataset][aligned]["vision"], DIMS[dataset]["vision"])
    _add_neg_inf(rng, audio, lengths["audio"])

    labels = np.round(rng.uniform(-3, 3, size), 4).astype(np.float32)
    if first and size:
        labels[0] = 0.0
    split = {
        "raw_text": np.array([SENTENCES[(i * 5 + rng.integers(3)) % len(SENTENCES)] for i in range(size)]),
        "audio": audio,
        "vision": vision,
        "id": np.array(_ids(rng, size)),
        "text": (rng.standard_normal((size, TEXT_LEN, TEXT_DIM)) * 0.1).astype(np.float32),
        "text_bert": text_bert,
        "annotations": np.array([_annotation(x) for x in labels]),
        "regression_labels": labels,
    }
    if not aligned:
        split["audio_lengths"], split["vision_lengths"] = lengths["audio"], lengths["vision"]
    elif dataset == "mosi":      # present but uninformative, as in some aligned releases
        split["audio_lengths"] = np.full(size, TEXT_LEN, dtype=np.int64)
        split["vision_lengths"] = np.full(size, TEXT_LEN, dtype=np.int64)
    if dataset == "mosei":
        split["classification_labels"] = np.sign(labels).astype(np.float32) + 1   # 0 neg, 1 neu, 2 pos
    return split


def _token_counts(rng: np.random.Generator, size: int) -> np.ndarray:
    """BERT tokens per sample incl. [CLS]/[SEP]; the first sample fills all 50 positions."""
    counts = rng.integers(5, 30, size).astype(np.int64)
    if size:
        counts[0] = TEXT_LEN
    return counts


def _text_bert(rng: np.random.Generator, tokens: np.ndarray) -> np.ndarray:
    """(N, 3, 50): token ids ([CLS] ... [SEP], then 0), attention mask, segment ids (all 0)."""
    out = np.zeros((len(tokens), 3, TEXT_LEN), dtype=np.float64)
    for i, k in enumerate(tokens):
        out[i, 0, :k] = rng.integers(1000, 30000, k)
        out[i, 0, 0], out[i, 0, k - 1] = 101, 102
        out[i, 1, :k] = 1
    return out


def _free_lengths(rng: np.random.Generator, size: int, max_len: int, zero: bool) -> np.ndarray:
    """Unaligned lengths in [1, max_len]; sample 0 gets max_len, sample 1 gets 0 when ``zero``."""
    lengths = rng.integers(1, max_len + 1, size).astype(np.int64)
    if size:
        lengths[0] = max_len
    if zero and size > 1:
        lengths[1] = 0
    return lengths


def _padded(rng: np.random.Generator, lengths: np.ndarray, max_len: int, dim: int) -> np.ndarray:
    """(N, max_len, dim) float32: random frames up to each length, zeros after."""
    out = np.zeros((len(lengths), max_len, dim), dtype=np.float32)
    for i, length in enumerate(lengths):
        out[i, :length] = rng.standard_normal((length, dim))
    return out


def _add_neg_inf(rng: np.random.Generator, audio: np.ndarray, lengths: np.ndarray) -> None:
    """Put ``-inf`` into a few real frames of every other sample."""
    for i in range(0, len(audio), 2):
        if lengths[i]:
            frames = rng.integers(0, lengths[i], 3)
            audio[i, frames, rng.integers(0, audio.shape[2])] = -np.inf


def _ids(rng: np.random.Generator, size: int) -> list[str]:
    """``"<video_id>$_$<clip_id>"`` with 11-char YouTube-like video ids (one contains ``_``), 1-3 clips each."""
    ids: list[str] = []
    while len(ids) < size:
        video = "".join(rng.choice(list(_VIDEO_CHARS), 11))
        if not ids:
            video = video[:4] + "_" + video[5:]
        ids += [f"{video}$_${clip}" for clip in range(1, int(rng.integers(1, 4)) + 1)]
    return ids[:size]


def _annotation(label: float) -> str:
    return "Positive" if label > 0 else "Negative" if label < 0 else "Neutral"
