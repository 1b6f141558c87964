"""From an uploaded video or audio file to the three model inputs (acoustic frames, visual frames, transcript).

    from fdcmdie.extract import extract_clip, ExtractConfig
    clip = extract_clip("clip.mp4")                 # transcript by speech-to-text
    clip = extract_clip("clip.mp4", "typed words")  # transcript given, no ASR
    clip.audio   # (l_a, AUDIO_DIM) float32 or None     clip.vision  # (l_v, VISION_DIM) float32 or None

Modules: ``media`` (PyAV decoding and input checks), ``acoustic`` (librosa / openSMILE frames), ``visual``
(mediapipe FaceMesh geometry, Haar fallback), ``transcript`` (faster-whisper), ``batch`` (a folder of raw clips
to an MMSA-format pickle: ``python -m fdcmdie extract``). Heavy libraries are imported only when used.
See docs/EXTRACT.md for the feature layout and how bad inputs are handled.
"""
from __future__ import annotations

from .acoustic import LIBROSA_COLUMNS, OPENSMILE_COLUMNS
from .clip import ClipFeatures, extract_clip, warmup
from .common import NO_AUDIO_TRACK, ExtractConfig, ExtractionError, NoAudioTrack, PitchTrack
from .visual import VISION_COLUMNS

AUDIO_COLUMNS = LIBROSA_COLUMNS      # the default backend's columns
AUDIO_DIM = len(AUDIO_COLUMNS)       # 22 (librosa backend; the opensmile backend gives len(OPENSMILE_COLUMNS) = 25)
VISION_DIM = len(VISION_COLUMNS)     # 15 (same width for the mediapipe and haar backends)


def audio_dim(config: ExtractConfig | None = None) -> int:
    """Acoustic feature width for ``config`` (its acoustic backend)."""
    backend = (config or ExtractConfig()).acoustic_backend
    return len(OPENSMILE_COLUMNS if backend == "opensmile" else LIBROSA_COLUMNS)


__all__ = [
    "extract_clip", "warmup", "ClipFeatures", "ExtractConfig", "ExtractionError", "NoAudioTrack", "NO_AUDIO_TRACK",
    "PitchTrack",
    "AUDIO_DIM", "VISION_DIM", "AUDIO_COLUMNS", "VISION_COLUMNS", "LIBROSA_COLUMNS", "OPENSMILE_COLUMNS",
    "audio_dim",
]
