"""``extract_clip``: one uploaded file in, the three model inputs (and what the app shows) out."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import acoustic, visual
from .common import (NO_AUDIO_TRACK, SAMPLE_RATE, AcousticResult, ExtractConfig, ExtractionError, NoAudioTrack,
                     PitchTrack, VisualResult)
from .media import MediaReader, open_media
from .transcript import Transcript, load_model, transcribe

NO_FACE = "no face found: visual modality marked missing"
NO_SPEECH = "no speech detected: acoustic features were computed but the clip seems silent"
NO_AUDIO = f"{NO_AUDIO_TRACK}: acoustic modality marked missing"
NO_VIDEO = "the file has no video track: visual modality marked missing"


@dataclass
class ClipFeatures:
    """Model inputs of one clip plus what was found in it. ``None`` for a modality means "missing"."""

    audio: np.ndarray | None                  # (l_a, d_a) float32 acoustic frames, one per audio_hop_s
    vision: np.ndarray | None                 # (l_v, d_v) float32, one row per sampled frame showing a face
    transcript: str
    words: list[tuple[str, float, float]]     # (word, start_s, end_s); empty when the transcript was typed
    duration: float                           # seconds of the file (header, or decoded length)
    processed_duration: float                 # seconds actually analysed (<= max_duration_s)
    sample_rate: int | None                   # of the file's audio track (features are computed at 16 kHz)
    n_frames: int                             # video frames decoded in the analysed part
    fps: float | None                         # of the file's video track
    frames_sampled: int                       # frames looked at (video_fps per second)
    faces_seen: int                           # of which showed a face
    asr_used: bool
    speech_detected: bool
    warnings: list[str] = field(default_factory=list)
    audio_columns: tuple[str, ...] = ()
    vision_columns: tuple[str, ...] = ()
    audio_hop_s: float = 0.1
    vision_times: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # (l_v,) seconds
    visual_backend: str = ""                  # "mediapipe" | "haar" | "" (no video)
    # for display
    waveform: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # mono, at waveform_sr
    waveform_sr: int = SAMPLE_RATE
    pitch: PitchTrack = field(default_factory=PitchTrack.empty)
    face_images: list[np.ndarray] = field(default_factory=list)  # up to n_face_images RGB uint8 crops
    audio_track: bool = True                  # the file has an audio stream (False: a video without sound)

    @property
    def has_audio(self) -> bool:
        return self.audio is not None

    @property
    def has_vision(self) -> bool:
        return self.vision is not None

    def summary(self) -> dict:
        """A small JSON-friendly description for logs and the app."""
        return {
            "duration_s": round(self.duration, 2), "processed_s": round(self.processed_duration, 2),
            "audio_frames": 0 if self.audio is None else int(self.audio.shape[0]),
            "vision_frames": 0 if self.vision is None else int(self.vision.shape[0]),
            "frames_sampled": self.frames_sampled, "faces_seen": self.faces_seen,
            "speech_detected": self.speech_detected, "asr_used": self.asr_used,
            "transcript": self.transcript, "warnings": list(self.warnings),
        }


def extract_clip(path: str | Path, transcript: str | None = None, *, config: ExtractConfig | None = None,
                 asr: bool | None = None, require_audio: bool = False) -> ClipFeatures:
    """Decode ``path`` and compute acoustic frames, visual frames and the transcript.

    ``transcript``: the words typed by the user; when empty, speech-to-text runs (unless ``asr=False`` or
    ``config.asr`` is False). Raises :class:`ExtractionError` for files that cannot be used; everything that
    only degrades the result (no face, no speech, no audio track, cut to max_duration_s) is in ``warnings``.
    ``require_audio``: a file without an audio track raises :class:`NoAudioTrack` ("<name>: this file has no audio
    track …") before anything is decoded, instead of going on with the video alone (the warning :data:`NO_AUDIO`).
    """
    config = config or ExtractConfig()
    use_asr = config.asr if asr is None else asr
    typed = (transcript or "").strip()
    media, y = _media_stage(path, config, require_audio)
    return with_transcript(media, transcript_of(media, typed, use_asr and not typed, config, y))


def extract_parts(path: str | Path, config: ExtractConfig | None = None, *,
                  asr: bool = False) -> tuple[ClipFeatures, Transcript | None]:
    """(media, heard): the clip's features without a transcript (``media.transcript`` empty, its warnings those of
    the decoding and the acoustic / visual analysis) and, with ``asr``, what speech-to-text heard (None without).
    ``with_transcript(media, heard or Transcript(typed))`` is the ``extract_clip`` result. The app caches the two
    parts apart (fdcmdie/app/context.py ``AppContext.clip``): a clip analysed again with an edited transcript reuses
    the media part."""
    config = config or ExtractConfig()
    media, y = _media_stage(path, config, False)
    return media, (transcript_of(media, "", True, config, y) if asr else None)


def with_transcript(media: ClipFeatures, text: Transcript) -> ClipFeatures:
    """``media`` (an ``extract_parts`` result) with the transcript ``text`` and its warnings."""
    return replace(media, transcript=text.text, words=list(text.words), asr_used=text.asr_used,
                   warnings=list(dict.fromkeys([*media.warnings, *text.warnings])))


def transcript_of(media: ClipFeatures, typed: str, asr: bool, config: ExtractConfig,
                  y: np.ndarray | None = None) -> Transcript:
    """The transcript of a clip whose media part is ``media``: the ``typed`` words when given, else speech-to-text
    of ``y`` (the 16 kHz waveform) when ``asr``, else an empty one with a warning saying why."""
    text = (typed or "").strip()
    if text:
        return Transcript(text)
    if not asr:
        return Transcript("", warnings=["no transcript given and speech-to-text is off: text is empty"])
    if not media.audio_track:
        return Transcript("", warnings=[f"no transcript given and {NO_AUDIO_TRACK} to transcribe: text is empty"])
    if not media.speech_detected:
        return Transcript("", warnings=["no transcript given and no speech to transcribe: text is empty"])
    if y is None:
        raise ValueError("speech-to-text needs the clip's waveform: extract it with extract_parts(asr=True)")
    return transcribe(y, config)


def _media_stage(path: str | Path, config: ExtractConfig, require_audio: bool) -> tuple[ClipFeatures, np.ndarray | None]:
    """(the clip's features with no transcript, its 16 kHz mono waveform or None without an audio track)."""
    reader = open_media(path, config)
    info = reader.info
    if require_audio and not info.has_audio:
        raise NoAudioTrack(f"{info.path.name}: {NO_AUDIO_TRACK} (a video without sound), so there is no voice and no "
                           "speech to recognise: type what is said, or upload a file with sound")
    warnings = reader.warnings  # the reader appends decode problems as it goes

    y = reader.audio() if info.has_audio else None
    if not info.has_audio:
        warnings.append(NO_AUDIO)
    sound = _acoustic_stage(y, config, warnings)
    if info.has_video:
        vis = _visual_stage(reader, config, warnings)
    else:
        vis = None
        warnings.append(NO_VIDEO)
    if y is None and reader.frames_decoded == 0:
        raise ExtractionError(f"{info.path.name}: no audio or video could be decoded from it; "
                              "the file looks truncated or corrupt")
    processed = max(reader.audio_seconds, reader.video_seconds)
    media = ClipFeatures(
        audio=sound.features if sound else None, vision=vis.features if vis else None,
        transcript="", words=[],
        duration=float(info.duration) if info.duration else processed, processed_duration=processed,
        sample_rate=info.sample_rate, n_frames=reader.frames_decoded, fps=info.fps,
        frames_sampled=vis.frames_sampled if vis else 0, faces_seen=vis.faces_seen if vis else 0,
        asr_used=False, speech_detected=bool(sound and sound.speech_detected),
        warnings=list(dict.fromkeys(warnings)),
        audio_columns=sound.columns if sound else acoustic.columns(config.acoustic_backend),
        vision_columns=visual.VISION_COLUMNS, audio_hop_s=config.audio_hop_s,
        vision_times=vis.times if vis else np.zeros(0, np.float32), visual_backend=vis.backend if vis else "",
        waveform=_display_waveform(y, config.waveform_sr), waveform_sr=config.waveform_sr,
        pitch=sound.pitch if sound else PitchTrack.empty(), face_images=vis.face_images if vis else [],
        audio_track=info.has_audio,
    )
    return media, y


def _acoustic_stage(y: np.ndarray | None, config: ExtractConfig, warnings: list[str]) -> AcousticResult | None:
    if y is None:
        return None
    try:
        result = acoustic.acoustic_features(y, config)
    except Exception as e:  # a library failure on odd audio: lose the modality, not the clip
        warnings.append(f"acoustic analysis failed ({type(e).__name__}: {e}): acoustic modality marked missing")
        return None
    if not result.speech_detected:
        warnings.append(NO_SPEECH)
    return result


def _visual_stage(reader: MediaReader, config: ExtractConfig, warnings: list[str]) -> VisualResult | None:
    try:
        result = visual.visual_features(reader.frames(), config)
    except ExtractionError:
        raise
    except Exception as e:  # a library failure on odd frames: lose the modality, not the clip
        warnings.append(f"face analysis failed ({type(e).__name__}: {e}): visual modality marked missing")
        return None
    warnings.extend(result.warnings)
    if result.frames_sampled == 0:
        warnings.append("no video frame could be decoded: visual modality marked missing")
    elif result.features is None:
        warnings.append(NO_FACE)
    return result


def warmup(config: ExtractConfig | None = None) -> None:
    """Pay the one-off start-up costs (numba compiling librosa.yin, loading FaceMesh / whisper) up front.

    The app can call this in a background thread at start so the first upload is not slow.
    """
    config = config or ExtractConfig()
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    y = (0.3 * np.sin(2 * np.pi * 140 * t)).astype(np.float32)
    acoustic.acoustic_features(y, config)
    blank = np.full((120, 160, 3), 127, np.uint8)
    visual.visual_features([(0.0, blank)], config)
    if config.asr:
        try:
            load_model(config.asr_model, config.asr_compute_type, config.asr_threads)
        except Exception:  # reported properly on the first real transcription
            pass


def _display_waveform(y: np.ndarray | None, sr: int) -> np.ndarray:
    """A light copy of the 16 kHz waveform for plotting (block peaks keep the envelope visible)."""
    if y is None or len(y) == 0:
        return np.zeros(0, np.float32)
    k = max(1, SAMPLE_RATE // sr)
    n = len(y) // k * k
    if k == 1 or n == 0:
        return y.astype(np.float32)
    blocks = y[:n].reshape(-1, k)
    idx = np.abs(blocks).argmax(axis=1)
    return blocks[np.arange(len(blocks)), idx].astype(np.float32)
