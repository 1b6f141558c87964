"""GAP's bars (the explorer, the upload, the anatomy tab and the model card): α and the gates g of each CMDIE layer
per modality, one bar per entry (fdcmdie.explain.contributions.GapEntry).

    fig = gap_figure([GapEntry("original", e.alpha, e.gates), GapEntry("modified", m.alpha, m.gates)], e.modalities)
"""
from __future__ import annotations

import numpy as np

from ...explain import MOD_NAMES
from ...explain.contributions import GapEntry, alpha_number
from ...render import MOD_COLORS

PATTERNS = ("", "/", ".", "x", "-", "+")


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
