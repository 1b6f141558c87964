"""Inputs as the model reads them: checks, missing-modality masks, one ``Batch`` for a list of inputs.

Texts go through :func:`fdcmdie.data.text_inputs` with the checkpoint's config (frozen encoder or the cached states
below the fine-tuned top layers). Acoustic / visual inputs are (l, d) frame arrays (a (d,) vector is one frame),
un-normalised by default (``raw=True``: the checkpoint's train statistics are applied). ``None``, an empty array, an
empty text or a modality named in ``drop`` is *missing*: its mask is all False, exactly as in training, so GAP gives
it the weight α = 0. User-input problems raise ``ValueError`` with a plain message.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import torch

from ..config import model_dims
from ..data import collate, text_inputs
from ..facts import MODALITIES, MODALITY_NAMES, SEQ_FIELD
from .clips import source_words, unused_reason

MAX_STEPS = 4096  # the positional encoding's length: text + visual + acoustic steps of one sample


def check_keep(keep) -> set[str] | None:
    """The modalities to keep (None: all); ValueError for anything but t, v, a."""
    if keep is None:
        return None
    keep = set(keep)
    bad = sorted(keep - set(MODALITIES))
    if bad:
        raise ValueError(f"keep must name modalities among t, v, a; got {bad}")
    return keep


def build_batch(p, texts: list, audio, vision, drops: list[set], *, raw: bool, labels=None):
    """(Batch, sample dicts, reasons per input) of inputs as :meth:`Predictor.predict` takes them (``p`` the
    Predictor; ``drops``: the modalities to mark missing, per input); ValueError for unusable inputs."""
    n = len(texts)
    mods = p.modalities
    m_cfg = p.cfg.model
    label = (lambda i: labels[i]) if labels else (lambda i: f"input {i + 1}" if n > 1 else "the input")
    columns = {"a": per_row(audio, n, "audio"), "v": per_row(vision, n, "vision")}
    reasons: list[dict[str, str]] = [{} for _ in range(n)]
    for i in range(n):
        for m in MODALITIES:
            if m not in mods:
                reasons[i][m] = unused_reason(mods, m)
    samples = [{"id": str(i), "text": "", "label": 0.0} for i in range(n)]

    # text: a string goes through the encoder; an array is taken as the text features themselves
    text_missing = np.zeros(n, bool)
    for i, t in enumerate(texts):
        if torch.is_tensor(t):
            texts[i] = t = t.detach().cpu().numpy()
        if t is not None and not isinstance(t, (str, np.ndarray)):
            raise ValueError(f"{label(i)}: text must be a string (or an array of text features), "
                             f"got {type(t).__name__}")
        samples[i]["text"] = t if isinstance(t, str) else ""
    if "t" in mods:
        cnn = p.cfg.data.text_source != "transcript"
        key = "text_ids" if m_cfg.text_finetune_layers < 0 and not cnn else "text_feats"
        placeholder = np.zeros(1, np.int64) if key == "text_ids" else np.zeros((1, m_cfg.text_dim), np.float32)
        source = source_words(p.cfg, p.meta, "t")
        to_encode: dict[int, str] = {}
        for i, t in enumerate(texts):
            if "t" in drops[i]:
                text_missing[i], reasons[i]["t"] = True, "dropped (what-if)"
            elif isinstance(t, np.ndarray):
                if key == "text_ids":
                    raise ValueError(f"{label(i)}: this checkpoint fine-tunes the whole text encoder from token "
                                     "ids; give the text as a string")
                samples[i][key] = frames(t, m_cfg.text_dim, "t", label(i), source)
                if samples[i][key] is None:
                    text_missing[i], reasons[i]["t"] = True, "the text features are empty"
            elif cnn:
                raise ValueError(f"{label(i)}: {p.name} reads the MOSI bundle's precomputed "
                                 f"{m_cfg.text_dim}-d text-CNN vectors, which cannot be computed for typed text; "
                                 "pass a sample's vector (its split's text_feats) instead of a string")
            elif not (t or "").strip():
                text_missing[i], reasons[i]["t"] = True, "the text is empty"
            else:
                to_encode[i] = t.strip()
        if to_encode:
            cols = text_inputs(list(to_encode.values()), p.text_cfg)
            for i, s in zip(to_encode, cols[key]):
                samples[i][key] = s
        for i in range(n):
            if samples[i].get(key) is None:
                samples[i][key] = placeholder  # masked below: what it holds never reaches the output

    # acoustic / visual
    for m in ("a", "v"):
        if m not in mods:
            continue
        want, source = (m_cfg.audio_dim if m == "a" else m_cfg.vision_dim), source_words(p.cfg, p.meta, m)
        seqs = []
        for i, x in enumerate(columns[m]):
            arr = frames(x, want, m, label(i), source)
            if m in drops[i]:
                arr, reasons[i][m] = None, "dropped (what-if)"
            elif arr is None:
                name = MODALITY_NAMES[m]
                reasons[i][m] = f"no {name} input was given" if x is None else f"the {name} input is empty"
            seqs.append(arr)
        if raw:
            seqs = [None if s is None else p.normalizer.apply([s], m)[0] for s in seqs]
        for i, s in enumerate(seqs):
            samples[i][SEQ_FIELD[m]] = s

    # nothing left, too long
    for i in range(n):
        if all(m in reasons[i] for m in mods):
            if mods == ["t"] and reasons[i]["t"] == "the text is empty":
                raise ValueError(f"{label(i)}: the text is empty and this checkpoint reads text only; "
                                 "type what is said")
            why = "; ".join(f"{MODALITY_NAMES[m]}: {reasons[i][m]}" for m in mods)
            raise ValueError(f"{label(i)}: nothing left to predict from ({why})")
        steps = sum(len(samples[i].get(k) if samples[i].get(k) is not None else ())
                    for k in ("text_feats", "text_ids", "audio", "vision"))
        if steps > MAX_STEPS:
            raise ValueError(f"{label(i)}: {steps} time steps in all; the model reads at most {MAX_STEPS} "
                             "(shorten the clip or subsample its frames)")

    batch = collate(samples, model_dims(p.cfg))
    if "t" in mods and text_missing.any():
        batch = batch.drop("t", torch.from_numpy(text_missing))
    return batch, samples, reasons


def check_drop(drop: Iterable[str]) -> set[str]:
    if isinstance(drop, str):
        drop = {drop}
    drop = set(drop or ())
    bad = sorted(drop - set(MODALITIES))
    if bad:
        raise ValueError(f"drop must name modalities among t, v, a; got {bad}")
    return drop


def per_row(values, n: int, what: str) -> list:
    if values is None:
        return [None] * n
    if isinstance(values, np.ndarray) or torch.is_tensor(values):
        raise ValueError(f"{what} must be a list with one array (or None) per text, not a single array")
    values = list(values)
    if len(values) != n:
        raise ValueError(f"{what}: got {len(values)} entries for {n} text(s); give one array (or None) per text")
    return values


def frames(x, want: int, m: str, label: str, source: str) -> np.ndarray | None:
    """A (l, want) float32 array, None when missing; ValueError for anything else."""
    if x is None:
        return None
    if torch.is_tensor(x):
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{label}: the {MODALITY_NAMES[m]} input is not a numeric array ({e})") from None
    if arr.ndim == 1:
        arr = arr.reshape(0, want) if arr.size == 0 else arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{label}: the {MODALITY_NAMES[m]} input has shape {arr.shape}; expected (frames, {want})")
    if arr.shape[0] == 0:
        return None
    if arr.shape[1] != want:
        raise ValueError(f"{label}: the {MODALITY_NAMES[m]} features are {arr.shape[1]}-d but this checkpoint expects "
                         f"{want}-d (it was trained on {source})")
    bad = ~np.isfinite(arr)
    if bad.any():  # as the data loaders do (COVAREP's -inf)
        arr = np.where(bad, 0.0, arr).astype(np.float32)
    return arr
