"""Reader for the MMSA toolkit's ``aligned_50.pkl`` / ``unaligned_50.pkl`` files (CMU-MOSI, CMU-MOSEI).

These are the pickles real users download from MMSA (thuiar/MMSA). Each holds a dict with the
splits ``train``, ``valid`` and ``test``; every split is a dict of numpy arrays, one row per sample:

==================== ============================================================================
``id``               ``"<video_id>$_$<clip_id>"`` -> converted to our ``"<video_id>_<clip_id>"``
``raw_text``         the transcript; **the only text we use** (see below)
``audio``            (N, L_a, d_a) COVAREP frames, zero-padded at the end; contains ``-inf``
``vision``           (N, L_v, d_v) Facet frames, zero-padded at the end
``audio_lengths``    (N,) real number of audio frames (a 0 means the modality is missing)
``vision_lengths``   (N,) real number of visual frames
``regression_labels`` (N,) sentiment in [-3, 3]
``text``             (N, 50, 768) BERT features -- not used
``text_bert``        (N, 3, 50) BERT token ids / attention mask / segment ids -- only the mask is used,
                     to find the real length of aligned sequences
``annotations``,     not used
``classification_labels``
==================== ============================================================================

Dimensions: MOSI d_a = 5, d_v = 20; MOSEI d_a = 74, d_v = 35. Sequence lengths (text, audio, vision)
are 50/50/50 in aligned files; unaligned MOSI is 50/375/500, unaligned MOSEI 50/500/500.

What the reader does:

* cuts each padded sequence to its real length, so ``Split.audio`` / ``Split.vision`` hold one
  (l, d) float32 array per sample; a length of 0 gives an empty (0, d) array (modality missing);
* replaces ``-inf`` / ``+inf`` / ``NaN`` by 0 (as MMSA's own loader does for ``-inf``);
* in aligned files, where the length keys may be absent or all equal to the padded length, takes
  the real length from the ``text_bert`` attention mask (the features are aligned to the tokens),
  or the full length when that is unavailable;
* optionally shortens the acoustic/visual sequences (``frame_stride``: mean over windows of that many
  frames; ``max_frames``: keep the first frames up to that count), the way to train unaligned data on a
  small machine (docs/benchmarks/memory.md). Both are off by default: the paper uses the full sequences;
* keeps ``raw_text`` as ``Split.texts``. The engine re-tokenises raw text for whichever encoder
  is chosen, so MMSA's precomputed ``text`` / ``text_bert`` BERT features are ignored and
  ``Split.text_feats`` stays None.

Security: the file is read with :mod:`pickle`, which can run code. MMSA pickles are files the user
chose to download and pass in, i.e. trusted input; never point this reader at a file of unknown
origin. (Our own checkpoints never go through pickle.)

:func:`sha256_status` tells whether a file is one of the four releases MMSA publishes SHA-256 sums
for. :func:`load_mmsa` records the answer in ``Dataset.notes`` but accepts unknown sums, because our
own feature extractor writes this format too.

Pickles written by ``python -m fdcmdie extract`` carry a top-level ``"fdcmdie_extract"`` dict (format,
acoustic/visual column names, extraction settings) beside the splits. :func:`load_mmsa` puts it in
``Dataset.notes`` as one note ``"fdcmdie-extract features: {json}"`` (:data:`EXTRACT_NOTE`); the trainer
stores the notes in the checkpoint, and :func:`extract_marker` reads the dict back from them. That is
how a checkpoint knows an uploaded clip's extracted features are the kind it was trained on.
"""
from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from fdcmdie.data.base import DataError, Dataset, Split
from fdcmdie.facts import MODALITIES, SEQ_FIELD, SPLITS   # SEQ_FIELD: modality -> array key; lengths: f"{key}_lengths"


#: Published SHA-256 sums of the MMSA releases -> which file each one is.
MMSA_SHA256: dict[str, str] = {
    "78e0f8b5ef8ff71558e7307848fc1fa929ecb078203f565ab22b9daab2e02524": "MOSI unaligned_50.pkl",
    "d3994fd25681f9c7ad6e9c6596a6fe9b4beb85ff7d478ba978b124139002e5f9": "MOSI aligned_50.pkl",
    "ad8b23d50557045e7d47959ce6c5b955d8d983f2979c7d9b7b9226f6dd6fec1f": "MOSEI unaligned_50.pkl",
    "45eccfb748a87c80ecab9bfac29582e7b1466bf6605ff29d3b338a75120bf791": "MOSEI aligned_50.pkl",
}

_CHUNK = 1 << 20   # 1 MiB reads when hashing

EXTRACT_KEY = "fdcmdie_extract"            # top-level key written by fdcmdie.extract.batch
EXTRACT_NOTE = "fdcmdie-extract features: "  # prefix of the Dataset note that carries it (JSON after the prefix)
LAYOUT_NOTE = "layout: "                     # prefix of the note saying aligned / unaligned and the padded lengths


# --------------------------------------------------------------------------------------------- public

def sha256_status(path: str | Path) -> str | None:
    """``"genuine MMSA <DATASET> <file>"`` if the file's SHA-256 is a published MMSA sum, else None.

    The file is hashed in 1 MiB chunks, so multi-GB files need no extra memory.
    """
    path = Path(path)
    _check_file(path)
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                digest.update(chunk)
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e})") from e
    name = MMSA_SHA256.get(digest.hexdigest())
    return None if name is None else f"genuine MMSA {name}"


def load_mmsa(path: str | Path, *, modalities: Iterable[str] = MODALITIES, frame_stride: int = 1,
              max_frames: int = 0) -> Dataset:
    """Read an MMSA ``aligned_50.pkl`` / ``unaligned_50.pkl`` into a :class:`Dataset`.

    ``modalities`` picks which of ``"t"``, ``"v"``, ``"a"`` to read; the keys of the others are not
    required. Text (``raw_text``) is always read, since every split carries its transcripts.
    ``frame_stride`` / ``max_frames`` shorten the acoustic and visual sequences (see :func:`shorten`).
    Raises :class:`DataError` naming the file and the problem when it is missing or malformed.
    """
    path = Path(path)
    mods = _check_modalities(modalities)
    _check_file(path)
    data = _unpickle(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a dict of splits, found {type(data).__name__}")

    notes: list[str] = []
    splits, widths = {}, {}
    for name in SPLITS:
        splits[name], widths[name] = _read_split(path, name, _get_split(path, data, name), mods, notes)
        for key in SEQ_FIELD.values():
            if getattr(splits[name], key) is not None:
                setattr(splits[name], key, shorten(getattr(splits[name], key), stride=frame_stride, max_frames=max_frames))
    if frame_stride != 1 or max_frames:
        notes.append(f"acoustic/visual frames shortened: mean over windows of {frame_stride}, "
                     f"at most {max_frames or 'all'} frames (data.frame_stride / data.max_frames)")
    dims = _common_dims(path, widths)

    status = sha256_status(path)
    notes.insert(0, f"sha256: {status}" if status else
                 "sha256: not a published MMSA release (self-made or modified file)")
    notes.insert(1, LAYOUT_NOTE + _layout(data["train"]))
    marker = data.get(EXTRACT_KEY)
    if isinstance(marker, dict):
        notes.append(EXTRACT_NOTE + json.dumps(marker, sort_keys=True, default=str))
    return Dataset(name=f"mmsa:{path.name}", dims=dims, notes=list(dict.fromkeys(notes)), **splits)


def shorten(seqs: list[np.ndarray], *, stride: int = 1, max_frames: int = 0) -> list[np.ndarray]:
    """Shorter frame sequences [choice, off by default]: the mean of each window of ``stride`` consecutive frames
    (a last, partial window is averaged over what it has), then the first ``max_frames`` of those (0: all).
    A (l, d) array becomes (min(ceil(l / stride), max_frames), d); an empty one stays empty."""
    if stride < 1 or max_frames < 0:
        raise ValueError(f"stride must be >= 1 and max_frames >= 0, got {stride} and {max_frames}")
    out = []
    for seq in seqs:
        if stride > 1 and len(seq):
            starts = np.arange(0, len(seq), stride)
            seq = (np.add.reduceat(seq, starts, axis=0) / np.diff(np.append(starts, len(seq)))[:, None]).astype(np.float32)
        out.append(seq[:max_frames] if max_frames else seq)
    return out


def layout(notes: Iterable[str], name: str = "") -> str | None:
    """"aligned" | "unaligned" from a Dataset's (or a checkpoint's meta) notes, else from its name (older checkpoints
    carry only ``mmsa:aligned_50.pkl``); None when neither tells."""
    for note in notes or ():
        if isinstance(note, str) and note.startswith(LAYOUT_NOTE):
            return note[len(LAYOUT_NOTE):].split(" ", 1)[0]
    stem = Path(str(name).split(":", 1)[-1]).stem
    return stem.split("_", 1)[0] if stem.split("_", 1)[0] in ("aligned", "unaligned") else None


def layout_mismatch(trained_notes: Iterable[str], trained_name: str, ds: Dataset) -> str | None:
    """Why scoring a checkpoint trained on aligned (unaligned) MMSA data on unaligned (aligned) data ``ds`` measures
    something else, or None when the two agree or either is unknown."""
    was, now = layout(trained_notes, trained_name), layout(ds.notes, ds.name)
    if not was or not now or was == now:
        return None
    shape = next((n[len(LAYOUT_NOTE):] for n in ds.notes if n.startswith(LAYOUT_NOTE)), now)
    return (f"this checkpoint was trained on {was} MMSA data but {ds.name} is {shape}: its acoustic and visual "
            "sequences have other lengths and timing than the model learned from (aligned: one frame per word "
            "token; unaligned: every COVAREP/Facet frame), so these metrics are not the model's on its own kind of "
            f"data. Evaluate it on the {was} file")


def extract_marker(notes: Iterable[str]) -> dict | None:
    """The ``fdcmdie_extract`` record of a Dataset's (or a checkpoint's ``meta["notes"]``) notes, or None."""
    for note in notes or ():
        if isinstance(note, str) and note.startswith(EXTRACT_NOTE):
            try:
                marker = json.loads(note[len(EXTRACT_NOTE):])
            except json.JSONDecodeError:
                return None
            return marker if isinstance(marker, dict) else None
    return None


# --------------------------------------------------------------------------------------- file level

def _check_modalities(modalities: Iterable[str]) -> tuple[str, ...]:
    mods = tuple(modalities)
    unknown = [m for m in mods if m not in MODALITIES]
    if unknown or not mods:
        raise ValueError(f"modalities must be a non-empty subset of {MODALITIES}, got {mods!r}")
    return mods


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file")


class _NumpyUnpickler(pickle.Unpickler):
    """Plain unpickler that also reads pickles written by numpy 2 (``numpy._core``) under numpy 1."""

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("numpy._core") and not hasattr(np, "_core"):
            module = "numpy.core" + module[len("numpy._core"):]
        return super().find_class(module, name)


def _unpickle(path: Path) -> Any:
    """Load the pickle; any failure (truncated, not a pickle, unreadable) becomes a DataError."""
    try:
        with path.open("rb") as f:
            return _NumpyUnpickler(f).load()
    except MemoryError:
        raise
    except Exception as e:   # a corrupt pickle can raise almost anything (EOFError, KeyError, ...)
        raise DataError(f"{path}: not a readable MMSA pickle ({type(e).__name__}: {e})") from e


def _get_split(path: Path, data: dict, name: str) -> dict:
    if name not in data:
        raise DataError(f"{path}: missing split '{name}' (found {sorted(map(str, data))})")
    split = data[name]
    if not isinstance(split, dict):
        raise DataError(f"{path}: split '{name}' is a {type(split).__name__}, expected a dict")
    return split


def _common_dims(path: Path, widths: dict[str, dict[str, int]]) -> dict[str, int]:
    """``{"a": d_a, "v": d_v}`` from the per-split feature widths, checked to agree across splits."""
    dims = {}
    for m, key in SEQ_FIELD.items():
        per_split = {name: w[m] for name, w in widths.items() if m in w}
        if len(set(per_split.values())) > 1:
            raise DataError(f"{path}: '{key}' feature width differs between splits {per_split}")
        if per_split:
            dims[m] = next(iter(per_split.values()))
    return dims


# -------------------------------------------------------------------------------------- split level

class _SplitReader:
    """Validates one split's arrays; every error message names the file and the split."""

    def __init__(self, path: Path, name: str, raw: dict):
        self.path, self.name, self.raw = path, name, raw
        self.n: int | None = None

    def fail(self, what: str) -> DataError:
        return DataError(f"{self.path}: split '{self.name}' {what}")

    def has(self, key: str) -> bool:
        return key in self.raw and self.raw[key] is not None

    def array(self, key: str, ndim: int | tuple[int, ...]) -> np.ndarray:
        """The array under ``key``, checked for presence, ndim and a row count equal to the split's N."""
        if not self.has(key):
            raise self.fail(f"lacks key '{key}'")
        try:
            arr = np.asarray(self.raw[key])
        except Exception as e:
            raise self.fail(f"key '{key}' is not an array ({e})") from e
        ndims = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in ndims:
            want = " or ".join(map(str, ndims))
            raise self.fail(f"key '{key}' has {arr.ndim} dimensions {arr.shape}, expected {want}")
        if self.n is None:
            self.n = len(arr)
        elif len(arr) != self.n:
            raise self.fail(f"key '{key}' has {len(arr)} rows but 'id' has {self.n}")
        return arr

    def numeric(self, key: str, ndim: int | tuple[int, ...]) -> np.ndarray:
        arr = self.array(key, ndim)
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise self.fail(f"key '{key}' holds {arr.dtype}, expected numbers")
        return arr


def _read_split(path: Path, name: str, raw: dict, mods: tuple[str, ...],
                notes: list[str]) -> tuple[Split, dict[str, int]]:
    """One split as a :class:`Split`, plus the feature width of each sequence modality read."""
    r = _SplitReader(path, name, raw)
    ids, video_ids = _ids(r)
    texts = [_to_str(x) for x in r.array("raw_text", 1)]
    labels = _labels(r)

    seqs: dict[str, list[np.ndarray] | None] = {"audio": None, "vision": None}
    widths: dict[str, int] = {}
    aligned = _is_aligned(raw)
    for m, key in SEQ_FIELD.items():
        if m not in mods:
            continue
        padded = r.numeric(key, 3)
        lengths = _lengths(r, key, padded.shape[1], aligned, notes)
        seqs[key], n_bad = _cut(padded, lengths)
        widths[m] = padded.shape[2]
        if n_bad:
            notes.append(f"{name}: replaced {n_bad} non-finite {key} values by 0")
    split = Split(ids=ids, texts=texts, labels=labels, video_ids=video_ids, **seqs)
    return split, widths


def _ids(r: _SplitReader) -> tuple[list[str], list[str]]:
    """Our sample ids and their video ids, from MMSA's ``id`` column."""
    pairs = [_convert_id(_to_str(x)) for x in r.array("id", 1)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _labels(r: _SplitReader) -> np.ndarray:
    labels = r.numeric("regression_labels", (1, 2))
    if labels.ndim == 2:
        if labels.shape[1] != 1:
            raise r.fail(f"key 'regression_labels' has shape {labels.shape}, expected (N,) or (N, 1)")
        labels = labels[:, 0]
    labels = labels.astype(np.float32)
    if not np.isfinite(labels).all():
        raise r.fail("key 'regression_labels' holds non-finite values")
    return labels


def _to_str(x: Any) -> str:
    return x.decode("utf-8") if isinstance(x, bytes) else str(x)


def _convert_id(mmsa_id: str) -> tuple[str, str]:
    """``"vid$_$3"`` -> (``"vid_3"``, ``"vid"``). Ids already in our form are split at the last ``_``."""
    if "$_$" in mmsa_id:
        video, clip = mmsa_id.split("$_$", 1)
        return f"{video}_{clip}", video
    video = mmsa_id.rsplit("_", 1)[0] if "_" in mmsa_id else mmsa_id
    return mmsa_id, video


def _text_len(raw: dict) -> int | None:
    """Padded text length, from ``text_bert`` (N, 3, L) or ``text`` (N, L, d), if either is there."""
    for key, axis in (("text_bert", 2), ("text", 1)):
        if raw.get(key) is not None and np.ndim(raw[key]) == 3:
            return np.shape(raw[key])[axis]
    return None


def _layout(raw: dict) -> str:
    """"aligned (text/audio/vision padded to 50/50/50 steps)" or "unaligned (…50/375/500…)" of one split."""
    lens = [str(_text_len(raw) or "?")] + [str(np.shape(raw[k])[1]) if raw.get(k) is not None and np.ndim(raw[k]) == 3
                                          else "-" for k in ("audio", "vision")]
    return f"{'aligned' if _is_aligned(raw) else 'unaligned'} (text/audio/vision padded to {'/'.join(lens)} steps)"


def _is_aligned(raw: dict) -> bool:
    """True when text, audio and vision (those present) are padded to one common length."""
    lens = {np.shape(raw[k])[1] for k in ("audio", "vision") if raw.get(k) is not None and np.ndim(raw[k]) == 3}
    t = _text_len(raw)
    if t is not None:
        lens.add(t)
    return len(lens) == 1


def _lengths(r: _SplitReader, key: str, pad_len: int, aligned: bool, notes: list[str]) -> np.ndarray:
    """Real length of each sample's ``key`` sequence, clipped to the padded length."""
    len_key = f"{key}_lengths"
    if r.has(len_key):
        lengths = r.numeric(len_key, 1)
        if (lengths < 0).any():
            raise r.fail(f"key '{len_key}' holds negative lengths")
        lengths = np.minimum(lengths.astype(np.int64), pad_len)
        if not aligned or (lengths != pad_len).any():
            return lengths
    elif not aligned:
        raise r.fail(f"lacks key '{len_key}'")
    mask = _bert_mask(r, pad_len)
    if mask is None:
        notes.append(f"aligned {key}: no usable lengths, kept all {pad_len} steps")
        return np.full(r.n, pad_len, dtype=np.int64)
    notes.append(f"aligned {key}: lengths taken from the text_bert attention mask")
    lengths = (mask != 0).sum(axis=1)
    return np.where(lengths > 0, lengths, pad_len)   # an all-zero mask tells nothing: keep everything


def _bert_mask(r: _SplitReader, pad_len: int) -> np.ndarray | None:
    """The (N, L) attention mask of ``text_bert`` when its length matches ``pad_len``, else None."""
    if not r.has("text_bert"):
        return None
    bert = r.numeric("text_bert", 3)
    if bert.shape[1] < 2 or bert.shape[2] != pad_len:
        return None
    return bert[:, 1, :]


def _cut(padded: np.ndarray, lengths: np.ndarray) -> tuple[list[np.ndarray], int]:
    """Per-sample float32 copies of the real frames, non-finite values set to 0; and how many were."""
    out, n_bad = [], 0
    for row, length in zip(padded, lengths):
        seq = np.array(row[: int(length)], dtype=np.float32)   # a copy, not a view into the padded block
        bad = ~np.isfinite(seq)
        if bad.any():
            n_bad += int(bad.sum())
            seq[bad] = 0.0
        out.append(seq)
    return out, n_bad
