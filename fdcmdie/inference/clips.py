"""Clip compatibility: which of an uploaded clip's extracted features a checkpoint can read, and why not the others.

A checkpoint can only use an uploaded clip's acoustic / visual frames when it was trained on the same kind of
features, i.e. on a pickle written by ``python -m fdcmdie extract``. That pickle carries a ``fdcmdie_extract`` record
(column names, extraction settings); ``load_mmsa`` passes it on in ``Dataset.notes``, the trainer stores the notes in
the checkpoint's meta, and :func:`clip_support` reads it back (:func:`fdcmdie.data.mmsa.extract_marker`). Every
other checkpoint (the MOSI bundle's openSMILE vectors, MMSA's COVAREP/Facet frames) predicts a clip from its
transcript and says why the rest was ignored.

The functions take the :class:`~fdcmdie.inference.Predictor` (``p``) whose checkpoint they judge.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..data.mmsa import extract_marker
from ..facts import MODALITIES, MODALITY_NAMES, SEQ_FIELD

if TYPE_CHECKING:  # the extractor pulls heavy media libraries (librosa, OpenCV, ...): imported where a clip is judged
    from ..extract import ClipFeatures, ExtractConfig


def names(mods) -> str:
    """"text, acoustic" for ["t", "a"]."""
    return ", ".join(MODALITY_NAMES[m] for m in mods)


def unused_reason(mods, m: str) -> str:
    """Why modality ``m`` is not used by a checkpoint reading ``mods``."""
    return f"this checkpoint does not use the {MODALITY_NAMES[m]} modality (it reads {names(mods)})"


def marker_of(meta: dict) -> dict | None:
    """The ``fdcmdie_extract`` record of the training data (None: not trained on this project's extractor)."""
    return extract_marker((meta or {}).get("notes", []))


def extract_config(meta: dict, **overrides) -> "ExtractConfig":
    """Extraction settings for uploads: those the training features were made with (when recorded), so an uploaded
    clip's frames are computed the same way. ``overrides`` (e.g. ``asr=False``) are applied on top."""
    from ..extract import ExtractConfig  # heavy media libraries: see TYPE_CHECKING above

    marker = marker_of(meta) or {}
    known = set(ExtractConfig.__dataclass_fields__)
    settings = {k: v for k, v in (marker.get("config") or {}).items() if k in known}
    settings.update(overrides)
    return ExtractConfig(**settings)


def clip_support(p) -> dict[str, str | None]:
    """Per modality t, v, a: None when an uploaded clip's extracted features can be fed to ``p``'s checkpoint, else
    the reason they cannot."""
    from ..extract import acoustic, visual  # heavy media libraries: see TYPE_CHECKING above

    mods, m_cfg = p.modalities, p.cfg.model
    marker = marker_of(p.meta)
    out: dict[str, str | None] = {}
    for m in MODALITIES:
        if m not in mods:
            out[m] = unused_reason(mods, m)
        elif m == "t":
            out[m] = None if p.cfg.data.text_source == "transcript" else (
                "this checkpoint reads the MOSI bundle's precomputed text-CNN vectors, which cannot be computed "
                "from a transcript")
        else:
            want = m_cfg.audio_dim if m == "a" else m_cfg.vision_dim
            if marker is None:
                ex = extract_config(p.meta)
                width = len(acoustic.columns(ex.acoustic_backend)) if m == "a" else len(visual.VISION_COLUMNS)
                out[m] = (f"this checkpoint was trained on {source_words(p.cfg, p.meta, m)}; an uploaded clip's "
                          f"{width}-d {_clip_kind(m, ex)} cannot stand in for them")
                continue
            recorded = list(marker.get(f"{SEQ_FIELD[m]}_columns") or [])
            if m == "a":
                backend = (marker.get("config") or {}).get("acoustic_backend", "librosa")
                try:
                    current = list(acoustic.columns(backend))
                except KeyError:
                    current = []
            else:
                current = list(visual.VISION_COLUMNS)
            if len(recorded) != want:
                out[m] = (f"the checkpoint's record of its training features lists {len(recorded)} "
                          f"{MODALITY_NAMES[m]} columns but the model reads {want}; the checkpoint is inconsistent")
            elif recorded != current:
                out[m] = (f"this checkpoint was trained on {MODALITY_NAMES[m]} features of an older extractor version "
                          f"(columns {recorded[:3]}...); today's extractor computes other columns, so re-extract "
                          "the training clips and retrain")
            else:
                out[m] = None
    return out


def clip_inputs(p, clip: "ClipFeatures", transcript: str | None = None):
    """(text, audio, vision, drop, reasons): what of ``clip`` goes to ``p``'s checkpoint, as
    :meth:`Predictor.predict` takes it, and why each modality left out was left out. ``transcript`` (typed) takes
    precedence over ``clip.transcript``. Frames beyond the training pickle's padded length (``--audio-len`` /
    ``--vision-len`` of the extract command) are cut, as they were there. ValueError when nothing can be used."""
    support = clip_support(p)
    mods = p.modalities
    text = transcript if transcript is not None and transcript.strip() else (clip.transcript or "")
    reasons: dict[str, str] = {}
    inputs: dict[str, np.ndarray | None] = {"a": None, "v": None}
    marker = marker_of(p.meta) or {}
    for m in ("a", "v"):
        seq = clip.audio if m == "a" else clip.vision
        if m not in mods or support[m] is not None:
            reasons[m] = support[m]
        elif seq is None or len(seq) == 0:
            reasons[m] = _clip_missing_reason(clip, m)
        else:
            mismatch = clip_mismatch(p.cfg, clip, m, marker)
            if mismatch:
                reasons[m] = mismatch
            else:  # cut like the training pickle was (MMSA's 500 acoustic / 375 visual frames by default)
                inputs[m] = seq[: marker.get(f"{SEQ_FIELD[m]}_len") or None]
    if "t" in mods:
        if support["t"] is not None:
            reasons["t"] = support["t"]
        elif not text.strip():
            reasons["t"] = ("no speech recognised — type what is said (the clip has no transcript: "
                            "speech-to-text found no words and none was typed)")
    else:
        reasons["t"] = support["t"]
    if all(m in reasons for m in mods):
        why = "; ".join(f"{MODALITY_NAMES[m]}: {reasons[m]}" for m in mods)
        raise ValueError(f"nothing in this clip can be fed to {p.name} ({why})")
    drop = {m for m in mods if m in reasons}
    return text, inputs["a"], inputs["v"], drop, reasons


def clip_mismatch(cfg, clip: "ClipFeatures", m: str, marker: dict) -> str | None:
    """Why this clip's frames of modality ``m`` differ from the training features (None: they match)."""
    want = cfg.model.audio_dim if m == "a" else cfg.model.vision_dim
    seq = clip.audio if m == "a" else clip.vision
    name = MODALITY_NAMES[m]
    if seq.ndim != 2 or seq.shape[1] != want:
        return (f"the clip's {name} frames are {seq.shape[-1]}-d but this checkpoint reads {want}-d; extract "
                "the clip with Predictor.extract_config()")
    cols = list(clip.audio_columns if m == "a" else clip.vision_columns)
    recorded = list(marker.get(f"{SEQ_FIELD[m]}_columns") or [])
    if cols and recorded and cols != recorded:
        return (f"the clip's {name} columns differ from the training features' (another extraction backend?); "
                "extract the clip with Predictor.extract_config()")
    hop = (marker.get("config") or {}).get("audio_hop_s")
    if m == "a" and hop and abs(float(clip.audio_hop_s) - float(hop)) > 1e-9:
        return (f"the clip's acoustic frames are {clip.audio_hop_s} s apart but the training features were "
                f"{hop} s apart; extract the clip with Predictor.extract_config()")
    return None


def source_words(cfg, meta: dict, m: str) -> str:
    """The training features of modality ``m``, in words (for reasons and error messages)."""
    m_cfg, meta = cfg.model, meta or {}
    dataset = str(meta.get("dataset") or "")
    if m == "t":
        if cfg.data.text_source != "transcript":
            return f"the MOSI bundle's {m_cfg.text_dim}-d text-CNN vectors"
        layer = "last layer" if m_cfg.text_finetune_layers == 0 else f"layer L-{m_cfg.text_finetune_layers}"
        return f"{m_cfg.text_dim}-d token states ({layer}) of the {m_cfg.text_encoder} encoder"
    width = m_cfg.audio_dim if m == "a" else m_cfg.vision_dim
    notes = [n for n in meta.get("notes", []) if isinstance(n, str)]
    source = cfg.data.source
    if source == "mosi" or dataset.startswith("mosi"):
        kind = "openSMILE utterance vectors" if m == "a" else "3D-CNN utterance vectors"
        return f"the MOSI bundle's {width}-d {kind}"
    if marker_of(meta) is not None:
        return f"{width}-d {MODALITY_NAMES[m]} frames from `python -m fdcmdie extract`"
    genuine = next((n.split("genuine MMSA ", 1)[1] for n in notes if "genuine MMSA " in n), None)
    if source == "mmsa" and genuine:
        kind = "COVAREP frames" if m == "a" else "Facet frames"
        return f"MMSA's {width}-d {kind} ({genuine})"
    where = dataset or Path(cfg.data.path).name or source
    return (f"{width}-d {MODALITY_NAMES[m]} features of {where} with no record of being made by `python -m fdcmdie "
            "extract` (features from it carry one)")


def readable_note(note: str) -> str:
    """A data note in words (the extractor's record summarised)."""
    marker = extract_marker([note])
    if marker is None:
        return note
    c = marker.get("config") or {}
    return (f"features made by `python -m fdcmdie extract`: {len(marker.get('audio_columns') or [])}-d "
            f"{c.get('acoustic_backend', '?')} acoustic frames every {c.get('audio_hop_s', '?')} s, "
            f"{len(marker.get('vision_columns') or [])}-d face geometry at {c.get('video_fps', '?')} frames/s "
            f"({c.get('visual_backend', '?')} backend); uploaded clips are extracted the same way")


def _clip_kind(m: str, ex) -> str:
    if m == "a":
        return f"{ex.acoustic_backend} frames"
    return "face-geometry frames"


def _clip_missing_reason(clip, m: str) -> str:
    tag = "acoustic modality marked missing" if m == "a" else "visual modality marked missing"
    for w in getattr(clip, "warnings", []) or []:
        if tag in w:
            return w
    return "the clip has no usable audio" if m == "a" else "no face was found in the clip"
