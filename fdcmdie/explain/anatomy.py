"""The model's anatomy: every stage of one forward pass as the paper names it (the app draws them:
:mod:`fdcmdie.app.plots.anatomy`).

    unimodal features F_m (§2, eq. 1–3) → shared T_s V_s A_s / private T_d V_d A_d (§3, eq. 4–6)
    → G_s^[0] = the shared sequences one after another → per CMDIE layer i and modality X: DIPU (eq. 13–24),
      whose cross-attentions are read here: X→G (the global's steps query X's steps, eq. 16 and 21) and
      G→X (X's steps query the global's steps, eq. 17 and 22), heads averaged
    → GAP gates g and weights α of the layer (eq. 25–29) → ŷ = MLP(pooled G_s^[k], pooled X_d^[k]) (eq. 30)

The stages come from :meth:`Predictor.trace <fdcmdie.inference.Predictor.trace>` (the one inference path: one
forward pass of the checkpoint's own model, read off with hooks, so what is drawn is what the model computed), as
the one :class:`~fdcmdie.inference.trace.Trace` with its labelled steps.

    tr = trace_sample(predictor, "test", "03bSnISJMiM_1")      # a dataset sample (label known)
    tr = trace_input(predictor, "i loved it")                  # a typed sentence (and optional frames)
    decoupling_cosines(tr)                                       # (names, cosine matrix of T_s … A_d)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..inference.trace import LETTER, LayerTrace, Trace  # noqa: F401  (the one Trace; LayerTrace: one CMDIE layer)
from .geometry import unit

STAGES = {  # stage key -> (name in the paper, equations)
    "features": ("unimodal features F_m", "eq. 1–3"),
    "decoupling": ("shared / private features (feature decoupling)", "eq. 4–6"),
    "dipu": ("DIPU: cross-modal deep interaction", "eq. 13–24"),
    "gap": ("GAP: gated attention pooling", "eq. 25–29"),
    "prediction": ("prediction ŷ", "eq. 30"),
}
ATTENTION = {  # which attention of DIPU -> (module name of the G side, of the X side, words)
    "cross1": ("cross1_g", "cross1_x", "first cross-attention (eq. 16–17)"),
    "self": ("self_g", "self_x", "self-attention (eq. 19–20)"),
    "cross2": ("cross2_g", "cross2_x", "second cross-attention, re-reading the original inputs (eq. 21–22)"),
}
GROUPS = {"extracted": "unimodal", "shared": "shared", "private": "private"}   # feature group -> Trace field
MAX_DIMS = 64        # feature heatmaps show the first MAX_DIMS of the d dimensions


def trace_sample(predictor, split: str, sample_id: str, data_root: str | Path | None = None) -> Trace:
    """The trace of one dataset sample (its label attached); ValueError for an id not in the split."""
    return predictor.trace(split=split, row=str(sample_id), data_root=data_root)


def trace_input(predictor, text: str, audio=None, vision=None) -> Trace:
    """The trace of a typed sentence (and optional raw acoustic / visual frames), as Predictor.predict reads it."""
    return predictor.trace(text, audio, vision)


# ------------------------------------------------------------------------------------------------- numbers


def cosine_matrix(vectors: dict[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
    """(names, pairwise cosine matrix) of named vectors; a zero vector has cosine 0 with everything."""
    names = list(vectors)
    x = unit(np.stack([np.asarray(vectors[n], np.float64) for n in names]))
    return names, x @ x.T


def decoupling_cosines(trace: Trace) -> tuple[list[str], np.ndarray]:
    """Cosines between the pooled shared and private vectors T_s, V_s, A_s, T_d, V_d, A_d of the trace."""
    shared, private = trace.pooled("shared"), trace.pooled("private")
    vectors = {f"{LETTER[m]}_s": shared[m] for m in trace.modalities if len(trace.shared[m])}
    vectors.update({f"{LETTER[m]}_d": private[m] for m in trace.modalities if len(trace.private[m])})
    return cosine_matrix(vectors)


def sequences(trace: Trace, group: str) -> dict[str, np.ndarray]:
    """{m: (l_m, d)} of a feature group: "extracted" (F_m, the trace's ``unimodal``), "shared" or "private"."""
    if group not in GROUPS:
        raise ValueError(f"group must be extracted, shared or private, got {group!r}")
    return getattr(trace, GROUPS[group])
