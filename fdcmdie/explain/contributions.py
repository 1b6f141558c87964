"""Modality contributions: the GAP weights α and gates g of each CMDIE layer (docs/MODEL.md §5.2; paper Fig. 6–7).

In layer i, GAP scores the three enhanced globals and mixes them with α = softmax(S_T, S_V, S_A): α_M is the share
modality M gets in the next global feature (a missing modality gets 0). The gate g_M in [0, 1] scales G_M before it
is scored. Averaged over a split, α is the "modality contribution" the paper plots (text dominates).

    avg = average_contributions(preds.alpha, preds.present)       # (k, M) mean α per layer
    fig = gap_figure([GapEntry("original", e.alpha, e.gates), GapEntry("modified", m.alpha, m.gates)], e.modalities)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import MOD_COLORS, MOD_NAMES

PATTERNS = ("", "/", ".", "x", "-", "+")


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


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def gap_figure(entries: list[GapEntry], modalities: list[str], *, title: str = "", height: int = 330,
               show_gates: bool = True):
    """Grouped bars of α per (layer, modality), one bar per entry (solid, hatched, …), colour = modality; beside
    them the gates g the same way when ``show_gates`` and the entries have gates. An entry whose α is None (a model
    without GAP) is skipped; a figure with a note is returned when none is left."""
    import plotly.graph_objects as go  # plotly: heavy, only for the figures

    entries = [e for e in entries if e.alpha is not None]
    if not entries:
        fig = go.Figure()
        fig.add_annotation(text="this model has no GAP weights (trained without CMDIE or without GAP)",
                           showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
        fig.update_layout(height=120, xaxis_visible=False, yaxis_visible=False, margin=dict(l=10, r=10, t=10, b=10))
        return fig
    gates = show_gates and all(e.gates is not None for e in entries)
    k = np.atleast_2d(entries[0].alpha).shape[0]
    layers = [f"layer {i + 1}" for i in range(k)]
    traces = []  # built as one list and axes laid out by hand: make_subplots/add_trace(row=…) cost ~50 ms
    for j, e in enumerate(entries):
        for axis, values in (("", e.alpha), ("2", e.gates if gates else None)):
            if values is None:
                continue
            values = np.atleast_2d(np.asarray(values, np.float64))
            off = np.atleast_2d(np.asarray(e.alpha, np.float64)) <= 0   # a switched-off modality: α = 0, no gate
            for mi, m in enumerate(modalities):
                shown = np.where(off[:, mi], 0.0, values[:, mi]) if axis else values[:, mi]
                labels = ["off" if axis and o else alpha_number(v) for v, o in zip(values[:, mi], off[:, mi])]
                traces.append(go.Bar(
                    x=layers, y=shown, xaxis=f"x{axis}", yaxis=f"y{axis}",
                    name=f"{MOD_NAMES[m]} · {e.label}" if len(entries) > 1 else MOD_NAMES[m],
                    legendgroup=f"{m}-{j}", showlegend=not axis, offsetgroup=f"{mi}-{j}",
                    marker=dict(color=MOD_COLORS[m], pattern=dict(shape=PATTERNS[j % len(PATTERNS)], solidity=0.45),
                                line=dict(color="black", width=0.6 if j else 0)),
                    text=labels, textposition="outside", textfont=dict(size=10),
                    cliponaxis=False,
                    hovertemplate=f"{e.label}<br>%{{x}} · {MOD_NAMES[m]}: %{{y:.3f}}<extra></extra>"))
    axis = dict(range=[0, 1.12], gridcolor="#eee", zeroline=False)
    layout = dict(barmode="group", height=height, title=dict(text=title, x=0.01, font=dict(size=15)),
                  margin=dict(l=10, r=10, t=60 if title else 30, b=10), plot_bgcolor="white",
                  legend=dict(orientation="h", yanchor="bottom", y=-0.32, x=0, font=dict(size=11)),
                  bargap=0.25, bargroupgap=0.05, yaxis=dict(axis, anchor="x"),
                  xaxis=dict(domain=[0, 0.58] if gates else [0, 1], anchor="y"))
    heading = lambda text, x: dict(text=text, x=x, y=1.0, xref="paper", yref="paper", xanchor="center",
                                   yanchor="bottom", showarrow=False, font=dict(size=14))
    if gates:
        layout.update(xaxis2=dict(domain=[0.66, 1], anchor="y2"), yaxis2=dict(axis, anchor="x2"),
                      annotations=[heading("GAP weight α (how it mixed the modalities)", 0.29),
                                   heading("gate g (off: switched off)", 0.83)])
    return go.Figure(data=traces, layout=layout)


def average_figure(averages: dict[str, np.ndarray | None], modalities: list[str], *, title: str = ""):
    """Bars of the split-average α per layer for one or more checkpoints ({label: (k, M)})."""
    return gap_figure([GapEntry(label, a) for label, a in averages.items()], modalities, title=title, show_gates=False)
