"""Decode an uploaded audio or video file with PyAV (FFmpeg inside the wheel; no system ffmpeg needed).

``open_media`` checks the file and reads its header; the returned :class:`MediaReader` then gives the audio
track as 16 kHz mono float32 (:meth:`MediaReader.audio`) and the video as RGB frames sampled at a fixed rate
(:meth:`MediaReader.frames`, a generator, so a long clip never sits in memory as a whole). Only the first
``max_duration_s`` seconds are read. Problems that leave nothing usable raise :class:`ExtractionError`;
problems that leave something usable (a truncated file, a missing track) are reported in ``warnings``.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .common import SAMPLE_RATE, ExtractConfig, ExtractionError

# FFmpeg demuxers that "open" things that are not clips: still images and text rendered as a video.
_NOT_CLIP_FORMATS = {"image2", "tty", "gif", "webp_pipe", "apng"}
# Leading bytes of common containers: a file that starts like one but does not decode is corrupt, not alien.
_SIGNATURES = (
    (4, b"ftyp", "MP4/QuickTime"),
    (0, b"RIFF", "RIFF (WAV/AVI)"),
    (0, b"\x1aE\xdf\xa3", "Matroska/WebM"),
    (0, b"OggS", "Ogg"),
    (0, b"fLaC", "FLAC"),
    (0, b"ID3", "MP3"),
)
_TRUNCATION_TOLERANCE = 0.8  # decoded less than this share of the promised duration: warn that the file is cut short


@dataclass
class MediaInfo:
    """What the container header says."""

    path: Path
    format: str                   # FFmpeg demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2" or "wav"
    size_mb: float
    duration: float | None        # seconds, from the header (None when unknown)
    has_audio: bool
    has_video: bool
    sample_rate: int | None       # of the original audio track
    fps: float | None             # of the original video track
    width: int | None
    height: int | None
    n_frames: int | None          # frames in the video track according to the header (None when unknown)
    audio_duration: float | None = None  # per-track lengths from the header, used to spot truncated files
    video_duration: float | None = None
    audio_index: int | None = None       # container stream indices of the tracks used
    video_index: int | None = None       # (a cover picture of an audio file is not a video track)


@dataclass
class MediaReader:
    """An opened, checked media file. Read each track once with :meth:`audio` / :meth:`frames`."""

    info: MediaInfo
    config: ExtractConfig
    warnings: list[str] = field(default_factory=list)
    truncated: bool = False             # the clip is longer than max_duration_s and was cut
    audio_seconds: float = 0.0          # decoded audio length (after the cap)
    video_seconds: float = 0.0          # time of the last decoded video frame (after the cap)
    frames_decoded: int = 0             # video frames decoded (all of them, not only the sampled ones)

    @property
    def limit_s(self) -> float:
        return self.config.max_duration_s

    def audio(self) -> np.ndarray | None:
        """The audio track as 16 kHz mono float32 in [-1, 1], cut at ``max_duration_s``; None without a track."""
        if not self.info.has_audio:
            return None
        import av

        chunks: list[np.ndarray] = []
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        error = None
        with _open(self.info.path) as container:
            stream = container.streams[self.info.audio_index]
            stream.thread_type = "AUTO"
            start = _start_time(stream)
            try:
                for frame in container.decode(stream):
                    for out in resampler.resample(frame):
                        chunks.append(out.to_ndarray().reshape(-1))
                    if frame.time is not None and frame.time - start >= self.limit_s:
                        break
                for out in resampler.resample(None):  # flush
                    chunks.append(out.to_ndarray().reshape(-1))
            except av.error.FFmpegError as e:
                error = e
        y = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
        y = y[: int(round(self.limit_s * SAMPLE_RATE))]
        self.audio_seconds = len(y) / SAMPLE_RATE
        self._check_complete("audio", self.audio_seconds, self.info.audio_duration, error)
        if len(y) == 0:
            self.warnings.append("the audio track holds no samples: acoustic modality marked missing")
            return None
        return np.clip(np.nan_to_num(y), -1.0, 1.0)

    def frames(self) -> Iterator[tuple[float, np.ndarray]]:
        """Yield ``(time_s, rgb)`` for frames sampled at ``config.video_fps``, downscaled to ``max_frame_side``."""
        if not self.info.has_video:
            return
        import av

        step = 1.0 / self.config.video_fps
        size = _scaled_size(self.info.width, self.info.height, self.config.max_frame_side)
        next_t = 0.0
        error = None
        with _open(self.info.path) as container:
            stream = container.streams[self.info.video_index]
            stream.thread_type = "AUTO"
            start = _start_time(stream)
            try:
                for frame in container.decode(stream):
                    t = (frame.time - start) if frame.time is not None else self.frames_decoded / (self.info.fps or 25.0)
                    if t >= self.limit_s:
                        break
                    self.frames_decoded += 1
                    self.video_seconds = t + 1.0 / (self.info.fps or 25.0)
                    if t + 1e-6 < next_t:
                        continue
                    while next_t <= t + 1e-6:
                        next_t += step
                    w, h = size or (frame.width, frame.height)
                    yield t, _upright(frame.reformat(width=w, height=h, format="rgb24").to_ndarray(), frame)
            except av.error.FFmpegError as e:
                error = e
        self._check_complete("video", self.video_seconds, self.info.video_duration, error)

    def _check_complete(self, what: str, seconds: float, promised: float | None, error: Exception | None) -> None:
        """Warn when a track stops well before the header says it should (truncated / corrupt file)."""
        expected = min(promised or self.info.duration or 0.0, self.limit_s)
        cut_short = expected > 0 and seconds < _TRUNCATION_TOLERANCE * expected
        if error is not None or cut_short:
            why = f" ({_short(error)})" if error is not None else ""
            self.warnings.append(
                f"the {what} track stops at {seconds:.1f} s of {expected:.1f} s: the file looks truncated or "
                f"corrupt{why}; using what could be decoded")


def open_media(path: str | Path, config: ExtractConfig | None = None) -> MediaReader:
    """Check ``path`` (exists, not empty, not too big, a real audio/video file) and read its header.

    Raises :class:`ExtractionError` with a plain-words reason when the file cannot be used at all.
    """
    import av

    config = config or ExtractConfig()
    path = Path(path)
    if not path.exists():
        raise ExtractionError(f"{path.name}: file not found ({path})")
    if not path.is_file():
        raise ExtractionError(f"{path.name}: not a file")
    size = path.stat().st_size
    if size == 0:
        raise ExtractionError(f"{path.name}: the file is empty (0 bytes)")
    size_mb = size / 2**20
    if size_mb > config.max_file_mb:
        raise ExtractionError(
            f"{path.name}: the file is {size_mb:.1f} MB, above the {config.max_file_mb:g} MB limit; "
            "trim or re-encode the clip and upload it again")
    try:
        container = _open(path)
    except (av.error.FFmpegError, UnicodeDecodeError) as e:
        raise ExtractionError(_unreadable_message(path, e)) from None
    with container:
        fmt = container.format.name
        if fmt in _NOT_CLIP_FORMATS or fmt.endswith("_pipe"):
            raise ExtractionError(f"{path.name}: this is an image or text file ({fmt}), not an audio or video clip")
        audio = container.streams.audio[0] if container.streams.audio else None
        videos = [s for s in container.streams.video if not _is_cover_art(s)]
        video = videos[0] if videos else None
        if audio is None and video is None:
            raise ExtractionError(f"{path.name}: the file has neither an audio nor a video track")
        info = MediaInfo(
            path=path, format=fmt, size_mb=size_mb, duration=_duration(container, audio, video),
            has_audio=audio is not None, has_video=video is not None,
            sample_rate=audio.codec_context.sample_rate if audio is not None else None,
            fps=float(video.average_rate) if video is not None and video.average_rate else None,
            width=video.codec_context.width if video is not None else None,
            height=video.codec_context.height if video is not None else None,
            n_frames=(video.frames or None) if video is not None else None,
            audio_duration=_stream_duration(audio), video_duration=_stream_duration(video),
            audio_index=audio.index if audio is not None else None,
            video_index=video.index if video is not None else None,
        )
    if info.has_video and not (info.width and info.height):
        raise ExtractionError(f"{path.name}: the video track has no picture size; the file looks corrupt")
    reader = MediaReader(info=info, config=config)
    if info.duration is not None and info.duration > config.max_duration_s:
        reader.truncated = True
        reader.warnings.append(
            f"the clip is {info.duration:.1f} s long; only the first {config.max_duration_s:g} s were processed")
    return reader


def _open(path: Path):
    import av

    return av.open(str(path), mode="r", metadata_errors="ignore")


def _is_cover_art(stream) -> bool:
    """An mp3/m4a cover picture shows up as a one-frame video stream."""
    import av

    try:
        return bool(stream.disposition & av.stream.Disposition.attached_pic)
    except (AttributeError, TypeError):
        return False


def _start_time(stream) -> float:
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return max(float(stream.start_time * stream.time_base), 0.0)


def _stream_duration(stream) -> float | None:
    if stream is None or not stream.duration or stream.time_base is None:
        return None
    return float(stream.duration * stream.time_base)


def _duration(container, audio, video) -> float | None:
    import av

    if container.duration:
        return float(container.duration / av.time_base)
    lengths = [d for d in (_stream_duration(audio), _stream_duration(video)) if d]
    return max(lengths) if lengths else None


def _upright(rgb: np.ndarray, frame) -> np.ndarray:
    """Apply the container's display rotation (phones store portrait video sideways plus a rotation tag)."""
    quarter_turns = int(round((getattr(frame, "rotation", 0) or 0) / 90)) % 4  # FFmpeg: degrees counter-clockwise
    return np.ascontiguousarray(np.rot90(rgb, quarter_turns)) if quarter_turns else rgb


def _scaled_size(width: int | None, height: int | None, max_side: int) -> tuple[int, int] | None:
    """Output size keeping the aspect ratio with the longer side <= max_side (even numbers), or None to keep it."""
    if not width or not height or max(width, height) <= max_side:
        return None
    scale = max_side / max(width, height)
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


def _sniff(path: Path) -> str | None:
    head = path.open("rb").read(16)
    for offset, magic, name in _SIGNATURES:
        if head[offset:offset + len(magic)] == magic:
            return name
    return None


def _unreadable_message(path: Path, error: Exception) -> str:
    kind = _sniff(path)
    if kind is not None:
        return (f"{path.name}: looks like a file in {kind} format but cannot be decoded; it is probably truncated or "
                f"corrupt ({_short(error)})")
    return f"{path.name}: not an audio or video file that can be read ({_short(error)})"


def _short(error: Exception | None) -> str:
    text = str(error or "").strip()
    text = text.split(": '", 1)[0]  # PyAV appends the file name; keep the FFmpeg reason
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", text)
    return text[:160] or type(error).__name__
