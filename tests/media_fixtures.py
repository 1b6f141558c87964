"""Build test clips on the fly: espeak-ng speech, scikit-image's astronaut photo as the face, PyAV muxing.

Nothing is downloaded. ``skimage.data.astronaut()`` (Eileen Collins, NASA; public domain) is shipped inside
scikit-image. Each builder writes into a folder the caller gives (pytest's ``tmp_path``) and returns the path.
"""
from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

ESPEAK = shutil.which("espeak-ng")
SPEECH_TEXT = "I really love this movie, the acting is wonderful."


def espeak_available() -> bool:
    return ESPEAK is not None


def speech(text: str = SPEECH_TEXT) -> tuple[np.ndarray, int]:
    """Synthesize ``text`` with espeak-ng; returns (mono float32 samples, sample rate)."""
    import soundfile as sf

    if ESPEAK is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "speech.wav"
        subprocess.run([ESPEAK, "-w", str(out), text], check=True, capture_output=True)
        y, sr = sf.read(out, dtype="float32", always_2d=True)
    return y.mean(axis=1), sr


def face_patch(side: int = 180) -> np.ndarray:
    """The astronaut's head and shoulders, resized to side x side RGB uint8."""
    import cv2
    from skimage import data

    img = data.astronaut()[0:300, 80:380]  # face around the middle of this crop
    return cv2.resize(img, (side, side), interpolation=cv2.INTER_AREA)


def frames(n: int, size: tuple[int, int] = (320, 240), face: bool = True, seed: int = 0) -> Iterator[np.ndarray]:
    """Yield ``n`` RGB frames: a grey backdrop with a drifting disc, and the face moving a few pixels when ``face``."""
    import cv2

    w, h = size
    patch = face_patch(int(0.75 * min(w, h))) if face else None
    rng = np.random.default_rng(seed)
    grain = rng.integers(-3, 4, (h, w, 3), dtype=np.int16)  # a little sensor noise (fixed: cheap for big frames)
    for i in range(n):
        img = np.full((h, w, 3), 90, np.uint8)
        cv2.circle(img, (int(20 + (i * 7) % (w - 40)), h - 25), 12, (200, 80, 40), -1)
        if patch is not None:
            ph, pw = patch.shape[:2]
            x = int((w - pw) / 2 + 6 * np.sin(i / 5))
            y = int((h - ph) / 2 + 3 * np.cos(i / 7))
            img[y:y + ph, x:x + pw] = patch
        yield np.clip(img.astype(np.int16) + np.roll(grain, i, axis=1), 0, 255).astype(np.uint8)


def audio_track(kind: str, seconds: float, text: str = SPEECH_TEXT) -> tuple[np.ndarray, int]:
    """``kind`` = "speech" (espeak-ng, padded/cut to ``seconds``), "silence" or "tone" (a 220 Hz hum)."""
    if kind == "speech":
        y, sr = speech(text)
        n = int(seconds * sr)
        y = np.pad(y, (int(0.2 * sr), 0))[:n]
        return np.pad(y, (0, n - len(y))).astype(np.float32), sr
    sr = 16000
    t = np.arange(int(seconds * sr)) / sr
    if kind == "silence":
        return np.zeros_like(t, dtype=np.float32), sr
    if kind == "tone":
        return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr
    raise ValueError(f"unknown audio kind {kind!r}")


def make_clip(path: Path, seconds: float = 3.0, *, face: bool = True, audio: str | None = "speech",
              fps: int = 10, size: tuple[int, int] = (320, 240), codec: str = "libx264",
              faststart: bool = False, text: str = SPEECH_TEXT, phone_portrait: bool = False) -> Path:
    """Write an mp4 (``codec`` video + AAC audio unless ``audio`` is None).

    ``phone_portrait``: like a phone held upright, the ``size`` frames are stored turned a quarter turn
    counter-clockwise and the track header asks players to turn them back (rotation metadata, -90 in FFmpeg).
    """
    import av

    path = Path(path)
    options = {"movflags": "faststart"} if faststart else {}
    stored = (size[1], size[0]) if phone_portrait else size
    with av.open(str(path), "w", options=options) as out:
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = stored[0], stored[1], "yuv420p"
        if codec == "libx264":
            vs.options = {"preset": "ultrafast"}
        aud = None
        if audio is not None:  # every stream must exist before the first packet is written
            y, sr = audio_track(audio, seconds, text)
            aud = _audio_stream(out, sr, "aac")
        for img in frames(int(round(seconds * fps)), size, face):
            if phone_portrait:
                img = np.ascontiguousarray(np.rot90(img, 1))
            for packet in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if aud is not None:
            _encode_audio(out, aud, y, sr)
    if phone_portrait:
        _set_display_matrix(path, (0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000))
    return path


def _set_display_matrix(path: Path, matrix: tuple[int, ...]) -> None:
    """Overwrite the transformation matrix in the first track header (the video track's) of an mp4."""
    data = bytearray(path.read_bytes())
    at = data.index(b"tkhd") + 44  # box type, version/flags, 5 x 4-byte fields, 8 reserved, 4 x 2-byte fields
    if data[at - 40] != 0:  # version byte just after "tkhd": version 1 has 64-bit times
        raise ValueError("tkhd version 1 is not handled")
    data[at:at + 36] = struct.pack(">9i", *matrix)
    path.write_bytes(bytes(data))


def make_wav(path: Path, seconds: float = 3.0, kind: str = "speech") -> Path:
    """An audio-only WAV file (16-bit PCM)."""
    import soundfile as sf

    y, sr = audio_track(kind, seconds)
    sf.write(str(path), y, sr, subtype="PCM_16")
    return Path(path)


def make_truncated(src: Path, dst: Path, keep: float = 0.5) -> Path:
    """Copy the first ``keep`` share of the bytes of ``src``: a download or upload cut short."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: int(len(data) * keep)])
    return Path(dst)


def make_not_media(path: Path) -> Path:
    Path(path).write_text("This is a shopping list, not a video.\nmilk\neggs\n" * 20)
    return Path(path)


def make_empty(path: Path) -> Path:
    Path(path).write_bytes(b"")
    return Path(path)


def _audio_stream(container, sr: int, codec: str):
    stream = container.add_stream(codec, rate=sr)
    stream.layout = "mono"
    stream.time_base = Fraction(1, sr)
    return stream


def _encode_audio(container, stream, y: np.ndarray, sr: int) -> None:
    import av

    chunk = 1024
    for start in range(0, len(y), chunk):
        piece = np.ascontiguousarray(y[start:start + chunk], dtype=np.float32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(piece, format="flt", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = sr, start, Fraction(1, sr)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
