"""The compare tab's bars: a metric per slice (fdcmdie.explain.slices.slice_table), one bar per model."""
from __future__ import annotations

import numpy as np

from ...metrics import METRIC_NAMES


def slice_figure(table: list[dict], models: list[str], *, kind: str = "polarity", metric: str = "acc2_non0",
                 height: int = 360):
    """Plotly grouped bars: ``metric`` per slice of ``kind``, one bar per model (slices with an undefined value are
    left empty)."""
    import plotly.graph_objects as go  # plotly: heavy, only for the figure

    rows = [r for r in table if r["kind"] == kind]
    label = METRIC_NAMES[metric]
    colors = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
    fig = go.Figure()
    for i, name in enumerate(models):
        col = f"{label} · {name}"
        ys = [r.get(col, float("nan")) for r in rows]
        fig.add_trace(go.Bar(x=[f"{r['slice']} (n={r['n']})" for r in rows], y=ys, name=name,
                             marker_color=colors[i % len(colors)],
                             text=["" if not np.isfinite(y) else f"{y:.2f}" if metric in ("mae", "corr") else f"{y:.1f}"
                                   for y in ys], textposition="outside", cliponaxis=False,
                             hovertemplate=f"{name}<br>%{{x}}<br>{label}: %{{y:.3f}}<extra></extra>"))
    fig.update_layout(barmode="group", height=height, plot_bgcolor="white",
                      title=dict(text=f"{label} per {kind} slice", x=0.01, font=dict(size=15)),
                      margin=dict(l=10, r=10, t=50, b=10), yaxis=dict(title=label, gridcolor="#eee"),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1, xanchor="right"))
    return fig
