"""The anatomy tab's drawings of one :class:`~fdcmdie.inference.trace.Trace` (the stages come from
:mod:`fdcmdie.explain.anatomy`): plotly heatmaps of the features, the shared / private cosines and each DIPU
attention, GAP's bars, the prediction in words and an SVG diagram of the architecture.

    features_figure(tr, "extracted");  decoupling_figure(tr);  attention_figure(tr, layer=0, which="cross1")
    architecture_svg(tr.modalities, len(tr.layers), stage="dipu")
"""
from __future__ import annotations

import numpy as np

from ...explain import MOD_NAMES
from ...explain.anatomy import ATTENTION, LETTER, MAX_DIMS, STAGES, Trace, decoupling_cosines, sequences
from ...explain.contributions import GapEntry
from ...render import MOD_COLORS
from ..common import class7_of, class7_text, signed
from .contributions import gap_figure


def _heatmap(z, x, y, *, title: str, zmin=None, zmax=None, colorscale="Viridis", height: int = 360,
             xtitle: str = "", ytitle: str = "", colorbar: str = ""):
    import plotly.graph_objects as go  # plotly: heavy, only for the figures

    z = np.asarray(z, np.float64)
    fig = go.Figure(go.Heatmap(z=z, x=list(range(len(x))), y=list(range(len(y))), zmin=zmin, zmax=zmax,
                               colorscale=colorscale, colorbar=dict(title=dict(text=colorbar, side="right"), thickness=12),
                               customdata=[[f"{yy} → {xx}" for xx in x] for yy in y],
                               hovertemplate="%{customdata}: %{z:.3f}<extra></extra>"))
    tick = lambda labels: dict(tickmode="array", tickvals=list(range(len(labels))), ticktext=[str(s) for s in labels],
                               tickfont=dict(size=10 if len(labels) < 30 else 8), automargin=True)
    fig.update_layout(height=height, title=dict(text=title, x=0.01, font=dict(size=14)), plot_bgcolor="white",
                      margin=dict(l=10, r=10, t=50, b=10),
                      xaxis=dict(tick(x), title=xtitle, tickangle=-60 if len(x) > 8 else 0),
                      yaxis=dict(tick(y), title=ytitle, autorange="reversed"))
    return fig


def features_figure(trace: Trace, group: str = "extracted", *, height: int = 420):
    """Heatmap of the step × dimension values of F_m ("extracted"), the shared or the private sequences: each
    modality's steps one after another (first ``MAX_DIMS`` dimensions)."""
    seqs = sequences(trace, group)
    rows, labels, steps = [], [], trace.steps
    for m in trace.modalities:
        rows.append(seqs[m][:, :MAX_DIMS])
        labels += [f"{LETTER[m]}·{s}" for s in steps[m]]
    z = np.concatenate(rows) if rows else np.zeros((0, 0))
    name = {"extracted": "unimodal features F_m (eq. 1–3)", "shared": "shared features X_s = E_s(F_m) (eq. 4–6)",
            "private": "private features X_d = E_d^m(F_m) (eq. 4–6)"}[group]
    lim = float(np.abs(z).max()) if z.size else 1.0
    return _heatmap(z, [str(j + 1) for j in range(z.shape[1])], labels, zmin=-lim, zmax=lim, colorscale="RdBu",
                    title=f"{name}: one row per step, first {z.shape[1]} of {seqs[trace.modalities[0]].shape[1]} dimensions",
                    xtitle="dimension", height=max(260, min(height, 120 + 14 * len(labels))), colorbar="value")


def decoupling_figure(trace: Trace):
    """Heatmap of the cosines between the pooled shared (X_s) and private (X_d) vectors of this sample: decoupling
    pushes X_s and X_d of one modality apart (low cosine); contrastive learning pulls the shared ones together."""
    names, cos = decoupling_cosines(trace)
    fig = _heatmap(cos, names, names, zmin=-1, zmax=1, colorscale="RdBu", height=330, colorbar="cosine",
                   title="cosine between the pooled shared (·_s) and private (·_d) features")
    fig.update_traces(text=[[f"{v:.2f}" for v in row] for row in cos], texttemplate="%{text}",
                      textfont=dict(size=12))
    return fig


def attention_figure(trace: Trace, layer: int = 0, which: str = "cross1"):
    """For one CMDIE layer: per modality X, X→G (the global's steps attend to X's steps) beside G→X (X's steps attend
    to the global's steps), heads averaged. Rows are queries, columns keys; each row sums to 1."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    if not trace.layers:
        raise ValueError("this model has no CMDIE layers (trained w/o CMDIE): there is no DIPU attention to show")
    if not 0 <= layer < len(trace.layers):
        raise ValueError(f"layer must be 1…{len(trace.layers)}, got {layer + 1}")
    if which not in ATTENTION:
        raise ValueError(f"attention must be one of {', '.join(ATTENTION)}, got {which!r}")
    att = trace.layers[layer].attention
    steps, global_steps = trace.steps, trace.global_steps
    mods = [m for m in trace.modalities if which in att.get(m, {}) and steps[m]]
    missing = [MOD_NAMES[m] for m in trace.modalities if not steps[m]]
    if not mods:
        raise ValueError(f"the {ATTENTION[which][2]} of layer {layer + 1} is not available for this input")
    g_name = "G'" if which == "self" else "G"
    titles = []
    for m in mods:
        X = LETTER[m]
        if which == "self":
            titles += [f"{g_name} over itself (DIPU of {X})", f"{X}' over itself"]
        else:
            titles += [f"{X}→G: the global reads {MOD_NAMES[m]}", f"G→{X}: {MOD_NAMES[m]} reads the global"]
    # each panel is coloured from 0 (white) to its own largest weight (dark), written in its title: one colour bar
    # for all of them stopped at the first panel's maximum (0.16) while a one-step voice panel was all 1.0
    panels = []
    for m in mods:
        to_global, to_mod = att[m][which]
        xs = steps[m]
        panels += [(m, to_global, global_steps if which == "self" else xs, global_steps),
                   (m, to_mod, xs if which == "self" else global_steps, xs)]
    top = [float(max(1e-6, np.max(z))) if np.size(z) else 1.0 for _, z, _, _ in panels]
    titles = [f"{t}<br><span style='font-size:10px'>white 0 … dark {zmax:.2f}</span>" for t, zmax in zip(titles, top)]
    fig = make_subplots(rows=len(mods), cols=2, subplot_titles=titles, horizontal_spacing=0.14,
                        vertical_spacing=0.3 / max(1, len(mods)))    # room for the slanted key labels

    def tick(labels):
        """Every label up to 40 steps; beyond, every k-th one, at a readable size (no 7-px labels)."""
        step = max(1, int(np.ceil(len(labels) / 40)))
        return dict(tickmode="array", tickvals=list(range(0, len(labels), step)), ticktext=list(labels)[::step],
                    tickfont=dict(size=10 if len(labels) < 30 else 9), automargin=True)

    for i, ((m, z, cols, rows), zmax) in enumerate(zip(panels, top)):
        r, c = i // 2 + 1, i % 2 + 1
        fig.add_trace(go.Heatmap(z=z, x=list(range(len(cols))), y=list(range(len(rows))), zmin=0,
                                 zmax=zmax, colorscale="Blues", showscale=False,
                                 customdata=[[f"{q} → {k}" for k in cols] for q in rows],
                                 hovertemplate="query %{customdata}: %{z:.3f}<extra></extra>"), row=r, col=c)
        if len(cols) == 1:   # one key: softmax gives it the whole weight, every row is 1.0 (a solid block)
            fig.add_annotation(text=f"one {MOD_NAMES[m]} step: every query<br>gives it all its weight (1.0)",
                               x=0, y=(len(rows) - 1) / 2, showarrow=False, font=dict(size=11, color="white"),
                               bgcolor="rgba(0,0,0,0.35)", row=r, col=c)
        # no x-axis title: under slanted labels it ran into the next row's subplot title (the figure's title
        # says rows are queries, columns keys)
        fig.update_xaxes(tick(cols), tickangle=-60 if len(cols) > 6 else 0, row=r, col=c)
        fig.update_yaxes(tick(rows), autorange="reversed", row=r, col=c)
    side = max(len(global_steps), max(len(steps[m]) for m in mods))
    fig.update_layout(height=min(1400, len(mods) * max(300, 120 + 13 * side)) + 40, plot_bgcolor="white",
                      margin=dict(l=10, r=10, t=60, b=10),
                      title=dict(text=f"layer {layer + 1}: {ATTENTION[which][2]}, heads averaged; rows: queries, "
                                      "columns: keys"
                                 + (f" ({', '.join(missing)} missing in this input)" if missing else ""), x=0.01,
                                 font=dict(size=14)))
    fig.update_annotations(font=dict(size=12))
    return fig


def gap_stage_figure(trace: Trace):
    """GAP's α and gates g of every layer of this sample (the bars the explorer shows)."""
    if not trace.layers:
        return gap_figure([], trace.modalities)
    return gap_figure([GapEntry("this sample", trace.alpha, trace.gates)], trace.modalities,
                      title="GAP per layer: gate g (eq. 25) and weight α (eq. 28)")


def prediction_markdown(trace: Trace) -> str:
    """The prediction (eq. 30) beside the label, in words."""
    lines = [f"**ŷ = {signed(trace.pred)}** ({class7_text(class7_of(trace.pred))}), from the pooled last global "
             f"G_s^[{len(trace.layers)}] and the pooled private features "
             f"{', '.join(LETTER[m] + '_d' for m in trace.modalities)} through the head MLP (eq. 30)."]
    if trace.label is not None:
        lines.append(f"The annotators said **{signed(trace.label)}** ({class7_text(class7_of(trace.label))}); "
                     f"error {abs(trace.pred - trace.label):.2f}.")
    return "  \n".join(lines)


# ------------------------------------------------------------------------------------------------- diagram

_BOX = dict(w=118, h=44)


def architecture_svg(modalities: list[str], k: int, stage: str | None = None) -> str:
    """An SVG diagram of FD-CMDIE for these modalities and k CMDIE layers, the boxes of ``stage`` (a STAGES key)
    highlighted. Plain SVG in a <div>, for gr.HTML."""
    if stage is not None and stage not in STAGES:
        raise ValueError(f"stage must be one of {', '.join(STAGES)}, got {stage!r}")
    mods = list(modalities)
    n = len(mods)
    row_h, top = 62, 30
    height = top + max(n, 1) * row_h + 40
    cy = lambda j: top + j * row_h + _BOX["h"] / 2
    mid = top + (n * row_h) / 2 - 8
    parts: list[str] = []

    def box(x, y, text, key, sub="", color="#555"):
        on = key == stage
        fill, stroke, width = ("#ffe9a8", "#d08b00", 3) if on else ("#f6f7fb", color, 1.2)
        parts.append(f'<rect x="{x}" y="{y}" width="{_BOX["w"]}" height="{_BOX["h"]}" rx="7" fill="{fill}" '
                     f'stroke="{stroke}" stroke-width="{width}"/>')
        parts.append(f'<text x="{x + _BOX["w"] / 2}" y="{y + 19}" text-anchor="middle" font-size="12.5" '
                     f'font-weight="{"bold" if on else "normal"}">{text}</text>')
        if sub:
            parts.append(f'<text x="{x + _BOX["w"] / 2}" y="{y + 35}" text-anchor="middle" font-size="10.5" '
                         f'fill="#555">{sub}</text>')

    def arrow(x1, y1, x2, y2):
        parts.append(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#777" stroke-width="1.3" '
                     'marker-end="url(#arr)"/>')

    col = [10, 150, 290, 450, 610, 770]
    for j, m in enumerate(mods):
        y = cy(j) - _BOX["h"] / 2
        box(col[0], y, MOD_NAMES[m], "input", "input", MOD_COLORS[m])
        box(col[1], y, f"F_{LETTER[m]}", "features", "encoder" if m == "t" else "sLSTM", MOD_COLORS[m])
        box(col[2], y, f"{LETTER[m]}_s | {LETTER[m]}_d", "decoupling", "E_s | E_d", MOD_COLORS[m])
        arrow(col[0] + _BOX["w"], cy(j), col[1], cy(j))
        arrow(col[1] + _BOX["w"], cy(j), col[2], cy(j))
        arrow(col[2] + _BOX["w"], cy(j), col[3], mid + _BOX["h"] / 2)
    box(col[3], mid, f"DIPU × {n}", "dipu", "G ⇄ X_d")
    box(col[4], mid, "GAP", "gap", "g, α")
    box(col[5], mid, "ŷ", "prediction", "head MLP")
    arrow(col[3] + _BOX["w"], mid + _BOX["h"] / 2, col[4], mid + _BOX["h"] / 2)
    arrow(col[4] + _BOX["w"], mid + _BOX["h"] / 2, col[5], mid + _BOX["h"] / 2)
    # the layer loop: GAP's G_s^[i+1] goes back into DIPU k times
    lx1, lx2, ly = col[3] + _BOX["w"] / 2, col[4] + _BOX["w"] / 2, mid - 14
    parts.append(f'<path d="M {lx2} {mid} L {lx2} {ly} L {lx1} {ly} L {lx1} {mid}" fill="none" stroke="#777" '
                 'stroke-width="1.3" stroke-dasharray="4 3" marker-end="url(#arr)"/>')
    parts.append(f'<text x="{(lx1 + lx2) / 2}" y="{ly - 5}" text-anchor="middle" font-size="11" fill="#444">'
                 f'× {k} layers (G_s^[i] → G_s^[i+1])</text>')
    width = col[5] + _BOX["w"] + 12
    svg = (f'<svg viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px" '
           'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" role="img" '
           'aria-label="FD-CMDIE architecture">'
           '<defs><marker id="arr" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#777"/></marker></defs>'
           + "".join(parts) + "</svg>")
    return f'<div class="anatomy-diagram" data-stage="{stage or ""}">{svg}</div>'
