"""The representation-space tab's map: a plotly scatter of a :class:`~fdcmdie.explain.projections.Projection`,
coloured as :func:`fdcmdie.render.maps.point_groups` groups the points (the report's matplotlib figures draw the same
groups), with hover texts, the selected sample's constellation, an upload and word-search rings.

    fig = projection_figure(proj, ids=..., texts=..., labels=..., preds=..., color_by="feature")
"""
from __future__ import annotations

import numpy as np

from ...explain.projections import FEATURE_LABELS, Projection
from ...explain.slices import video_of
from ...facts import FEATURE_SETS as FEATURES
from ...render.maps import COLOR_BY, CONSTELLATION, point_groups


def _hover(i: int, f: str, ids, texts, labels, preds) -> str:
    text = str(texts[i]) if texts is not None else ""
    text = text if len(text) <= 90 else text[:87] + "…"
    parts = [f"<b>{ids[i]}</b> · {FEATURE_LABELS[f]}" if ids is not None else FEATURE_LABELS[f]]
    if labels is not None:
        parts.append(f"label {float(labels[i]):+.2f}" + (f" · prediction {float(preds[i]):+.2f}" if preds is not None else ""))
    if text:
        parts.append(_wrap(text))
    return "<br>".join(parts)


def _wrap(text: str, width: int = 45) -> str:
    words, lines, cur = text.split(), [], ""
    for w in words:
        if cur and len(cur) + len(w) + 1 > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    if cur:
        lines.append(cur)
    return "<br>".join(lines)


def projection_figure(proj: Projection, *, ids=None, texts=None, labels=None, preds=None, color_by: str = "feature",
                      selected: dict[str, np.ndarray] | None = None, selected_name: str = "selected sample",
                      upload: dict[str, np.ndarray] | None = None, highlight=None, highlight_name: str = "matches",
                      title: str = "", height: int = 520, hover: np.ndarray | None = None):
    """A plotly scatter of the map. ``ids/texts/labels/preds`` are the split's per-sample arrays (indexed by
    ``proj.rows``) for the hover text; every point carries its sample id as ``customdata`` (the app's click bridge
    reads it). ``selected`` / ``upload`` are {feature set: (2,)} points drawn on top, the selected sample's joined by
    lines (its constellation: shared triangle, private triangle, dotted X_s–X_d); ``highlight`` rows (a word search)
    get a ring. ``hover``: precomputed hover strings of the points (``hover_texts``), else built here."""
    import plotly.graph_objects as go

    if color_by not in COLOR_BY:
        raise ValueError(f"color_by must be one of {list(COLOR_BY)}, got {color_by!r}")
    fig = go.Figure()
    emb, rows = proj.embedding, proj.rows
    if hover is None:
        hover = hover_texts(proj, ids=ids, texts=texts, labels=labels, preds=preds)
    custom = np.asarray([ids[int(r)] for r in rows], dtype=object) if ids is not None else None
    for g in point_groups(proj, color_by, ids, labels, preds):
        m = g["mask"]
        mk = dict(size=5, opacity=0.7, line=dict(width=0), color=g["color"], symbol=g["symbol"])
        if "scale" in g:
            sc = g["scale"]
            mk.update(colorscale=sc["colorscale"], cmin=sc["cmin"], cmax=sc["cmax"], showscale=g["colorbar"],
                      colorbar=dict(title=sc["title"], thickness=10, len=0.6) if g["colorbar"] else None)
        fig.add_trace(go.Scatter(x=emb[m, 0], y=emb[m, 1], mode="markers", name=g["name"], text=hover[m],
                                   hoverinfo="text", marker=mk, customdata=None if custom is None else custom[m]))
    if highlight is not None and len(highlight):
        m = np.isin(rows, np.asarray(highlight, int))
        if m.any():
            fig.add_trace(go.Scatter(x=emb[m, 0], y=emb[m, 1], mode="markers", name=highlight_name, text=hover[m],
                                       hoverinfo="text", customdata=None if custom is None else custom[m],
                                       marker=dict(size=10, color="rgba(0,0,0,0)", line=dict(color="#e6007e", width=2))))
    if selected:
        xs, ys, dash_x, dash_y = [], [], [], []
        for a, b in CONSTELLATION:
            if a in selected and b in selected:
                tx, ty = (dash_x, dash_y) if a[0] == b[0] else (xs, ys)
                tx += [float(selected[a][0]), float(selected[b][0]), None]
                ty += [float(selected[a][1]), float(selected[b][1]), None]
        for x, y, dash in ((xs, ys, "solid"), (dash_x, dash_y, "dot")):
            if x:
                fig.add_trace(go.Scatter(x=x, y=y, mode="lines", hoverinfo="skip", showlegend=False,
                                         line=dict(color="black", width=1.5, dash=dash)))
    # the sample's labels above its rings, the upload's below its stars: the two never print over each other when a
    # sample and an upload land close together (issue 32)
    for points, name, style, where in ((selected, selected_name, dict(color="rgba(255,255,255,0.6)", size=15,
                                                                        line=dict(color="black", width=2.5)), "top center"),
                                       (upload, "your upload", dict(color="#e41a1c", size=16, symbol="star",
                                                                    line=dict(color="black", width=1)), "bottom center")):
        if points:
            names = [f for f in FEATURES if f in points]
            xy = np.stack([points[f] for f in names])
            fig.add_trace(go.Scatter(x=xy[:, 0], y=xy[:, 1], mode="markers+text", name=name,
                                     text=[f"{f[0]}<sub>{f[1]}</sub>" for f in names], textposition=where,
                                     hovertext=[f"{name}: {FEATURE_LABELS[f]}" for f in names], hoverinfo="text",
                                     marker=style, textfont=dict(size=13, color="black")))
    fig.update_layout(title=dict(text=title, x=0.01, font=dict(size=15)), height=height,
                      margin=dict(l=10, r=10, t=40 if title else 10, b=10), plot_bgcolor="white",
                      legend=dict(orientation="h", yanchor="top", y=-0.02, x=0, font=dict(size=11)),
                      hoverlabel=dict(align="left"), clickmode="event", hovermode="closest")
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, title=None)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, title=None, scaleanchor=None)
    return fig


def hover_texts(proj: Projection, *, ids=None, texts=None, labels=None, preds=None) -> np.ndarray:
    """The hover text of every point of a map (object array, in the order of ``proj.embedding``)."""
    vid = (lambda r: f"<br>video {video_of(ids[r])}") if ids is not None else (lambda r: "")
    out = [_hover(int(r), str(k), ids, texts, labels, preds) + vid(int(r)) for r, k in zip(proj.rows, proj.kinds)]
    return np.asarray(out, dtype=object)


