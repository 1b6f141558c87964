"""Modality contributions: the GAP weights α and gates g of each CMDIE layer (docs/MODEL.md §5.2; paper Fig. 6–7).

In layer i, GAP scores the three enhanced globals and mixes them with α = softmax(S_T, S_V, S_A): α_M is the share
modality M gets in the next global feature (a missing modality gets 0). The gate g_M in [0, 1] scales G_M before it
is scored. Averaged over a split, α is the "modality contribution" the paper plots (text dominates).

    avg = average_contributions(preds.alpha, preds.present)       # (k, M) mean α per layer
    weighing(avg, modalities)                                       # "GAP weighed text most (α …)" or None

The app draws the bars (:mod:`fdcmdie.app.plots.contributions`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import MOD_NAMES, and_list as _and


@dataclass
class GapEntry:
    """One set of bars: a label, α (k, M) and optionally the gates (k, M)."""

    label: str
    alpha: np.ndarray | None
    gates: np.ndarray | None = None


def average_contributions(alpha: np.ndarray | None, present: np.ndarray | None = None, *,
                          complete_only: bool = True) -> np.ndarray | None:
    """Mean α (k, M) over samples of ``alpha`` (N, k, M). With ``complete_only`` only samples that have every
    modality (``present`` (N, M) all True) are averaged, so a missing modality's α = 0 does not pull the mean down.
    None when the model has no GAP weights (w/o CMDIE)."""
    if alpha is None:
        return None
    alpha = np.asarray(alpha, np.float64)
    if alpha.ndim != 3:
        raise ValueError(f"alpha must be (N, k, M), got shape {alpha.shape}")
    if present is not None and complete_only:
        keep = np.asarray(present, bool).all(axis=1)
        if keep.any():
            alpha = alpha[keep]
    if len(alpha) == 0:
        raise ValueError("no samples to average")
    return alpha.mean(axis=0)


# Two modalities whose last-layer α differ by less than this are "weighed about equally": 0.51 vs 0.49 is a tie, not
# a preference (α comes out of a softmax over scores that differ by noise there).
ALPHA_TIE = 0.05


def alpha_number(a: float) -> str:
    """One α as every view writes it (tables, sentences, bar labels, lessons' ``{alpha_t:.2f}``): two decimals."""
    return f"{float(a):.2f}"


def alpha_text(alpha_last, modalities: list[str]) -> str:
    """"text 0.51, acoustic 0.49": the last layer's α per modality, in the model's order."""
    return ", ".join(f"{MOD_NAMES[m]} {alpha_number(a)}" for m, a in zip(modalities, np.asarray(alpha_last).ravel()))


def weighing(alpha: np.ndarray | None, modalities: list[str], *, tie: float = ALPHA_TIE) -> str | None:
    """The one sentence every view says about GAP's last-layer α (None without GAP): which modality it weighed most,
    or that it weighed several about equally (within ``tie``); a switched-off modality (α = 0) is said to be off. It
    says *weighed* (mixed into the next global feature), never *decided*: α is not how far a modality moved the
    prediction (that is the Shapley value; lesson 1)."""
    if alpha is None:
        return None
    last = np.atleast_2d(np.asarray(alpha, np.float64))[-1]
    names = [MOD_NAMES[m] for m in modalities]
    on = [j for j, a in enumerate(last) if a > 0]
    off = [names[j] for j, a in enumerate(last) if a <= 0]
    tail = f" ({' and '.join(off)} switched off: α = 0)" if off else ""
    if len(on) <= 1:
        only = names[on[0]] if on else "no modality"
        return f"GAP mixed in {only} alone{tail}."
    top = max(last[j] for j in on)
    near = [j for j in on if top - last[j] < tie]
    if len(near) == len(on):
        return (f"GAP weighed {_and([names[j] for j in on])} about equally (α within {tie:.2f} of each other){tail}.")
    if len(near) > 1:
        rest = _and([names[j] for j in on if j not in near])
        return f"GAP weighed {_and([names[j] for j in near])} about equally and more than {rest}{tail}."
    second = max(last[j] for j in on if j not in near)
    return (f"GAP weighed {names[near[0]]} most (α {alpha_number(top)} vs next {alpha_number(second)}){tail}.")


