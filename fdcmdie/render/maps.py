"""The feature maps (:class:`~fdcmdie.explain.projections.Projection`) drawn with matplotlib, for the report's figures
and the app's PNG / SVG / CSV download (plotly's own static export needs kaleido, which needs a Chrome install), and
the point groups of each colouring that the app's plotly map (:mod:`fdcmdie.app.plots.projections`) draws the same
way.

    fig = static_figure(proj, title="…", color_by="feature")
    export_map(proj, "out/", "map", ids=ids, texts=texts, labels=labels, preds=preds)   # .png, .svg, .csv
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..explain.projections import FEATURE_LABELS, MODALITY, Projection, coordinates_table
from ..explain.slices import video_of
from ..facts import PRIVATE_SETS as PRIVATE, SHARED_SETS as SHARED
from . import MOD_COLORS

FEATURE_COLORS = {"Ts": "#1f4e9c", "Vs": "#1b7d3a", "As": "#c45a00",   # shared: dark shades
                  "Td": "#7fb2f0", "Vd": "#8fd694", "Ad": "#ffbb66"}   # private: light shades
COLOR_BY = {"feature": "feature set (T_s … A_d)", "type": "shared / private", "modality": "modality",
            "label": "sentiment label", "error": "prediction error |pred − label|", "video": "video"}
VIDEO_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
                 "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354",
                 "#756bb1", "#636363", "#6baed6", "#fd8d3c", "#74c476", "#9e9ac8"]
CONSTELLATION = [("Ts", "Vs"), ("Vs", "As"), ("As", "Ts"), ("Td", "Vd"), ("Vd", "Ad"), ("Ad", "Td"),
                 ("Ts", "Td"), ("Vs", "Vd"), ("As", "Ad")]  # shared triangle, private triangle, X_s–X_d


def point_groups(proj: Projection, color_by: str, ids, labels, preds) -> list[dict]:
    """The point groups of one colouring: [{"mask", "name", "color" (str or per-point values), "symbol", ...}]."""
    kinds, rows = proj.kinds, proj.rows
    symbol = lambda f: "circle" if f in SHARED else "diamond"
    out = []
    if color_by == "feature":
        out = [dict(mask=kinds == f, name=FEATURE_LABELS[f], color=FEATURE_COLORS[f], symbol=symbol(f))
               for f in proj.names]
    elif color_by == "type":
        is_shared = np.isin(kinds, SHARED)
        sets = lambda group: ", ".join(f"{f[0]}_{f[1]}" for f in proj.names if (f in SHARED) == group)  # Ts -> T_s
        out = [dict(mask=is_shared, name=f"shared ({sets(True)})", color="#6a3d9a", symbol="circle"),
               dict(mask=~is_shared, name=f"private ({sets(False)})", color="#9e9e9e", symbol="diamond")]
    elif color_by == "modality":
        out = [dict(mask=kinds == f, name=FEATURE_LABELS[f], color=MOD_COLORS[MODALITY[f]], symbol=symbol(f))
               for f in proj.names]
    elif color_by == "video":
        if ids is None:
            raise ValueError("color_by='video' needs the sample ids")
        videos = np.asarray([video_of(ids[int(r)]) for r in rows])
        order = {v: i for i, v in enumerate(sorted(set(videos.tolist())))}
        # a palette index per point on a stepless scale whose stops are the palette (numbers draw much faster than
        # one colour string per point)
        index = np.asarray([order[v] % len(VIDEO_PALETTE) for v in videos], np.float32)
        last = len(VIDEO_PALETTE) - 1
        scale = dict(colorscale=[[i / last, c] for i, c in enumerate(VIDEO_PALETTE)], cmin=0, cmax=last,
                     title="video")
        for group, sym, name in ((SHARED, "circle", "shared"), (PRIVATE, "diamond", "private")):
            m = np.isin(kinds, group)
            out.append(dict(mask=m, name=f"{name} (colour = video, {len(order)} videos)", color=index[m],
                            symbol=sym, scale=scale, colorbar=False))
    else:  # continuous: label or error
        if labels is None or (color_by == "error" and preds is None):
            raise ValueError(f"color_by={color_by!r} needs labels{' and predictions' if color_by == 'error' else ''}")
        lab = np.asarray(labels, np.float32)
        value = (np.abs(np.asarray(preds, np.float32) - lab) if color_by == "error" else lab)[rows]
        scale = (dict(colorscale="RdBu", cmin=-3, cmax=3, title="label") if color_by == "label" else
                 dict(colorscale="YlOrRd", cmin=0, cmax=float(max(1.0, np.percentile(value, 98))), title="|error|"))
        for group, sym, name in ((SHARED, "circle", "shared"), (PRIVATE, "diamond", "private")):
            m = np.isin(kinds, group)
            out.append(dict(mask=m, name=f"{name} (colour = {scale['title']})", color=value[m], symbol=sym,
                            scale=scale, colorbar=group == SHARED))
    return [g for g in out if g["mask"].any()]


def static_figure(proj: Projection, *, title: str = "", color_by: str = "feature", ids=None, labels=None,
                  preds=None, selected: dict[str, np.ndarray] | None = None, figsize=(5.5, 4.5), dpi: int = 110):
    """The map as a matplotlib Figure (the report's figures and the app's PNG / SVG export: plotly's own static
    export needs kaleido, which needs a Chrome install)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgba

    fig, ax = plt.subplots(figsize=figsize, dpi=dpi)
    mpl_marker = {"circle": "o", "diamond": "D"}
    for g in point_groups(proj, color_by, ids, labels, preds):
        xy = proj.embedding[g["mask"]]
        kw = dict(s=5 if g["symbol"] == "circle" else 4, alpha=0.7, marker=mpl_marker[g["symbol"]], linewidths=0)
        if "scale" in g:
            sc = g["scale"]
            from matplotlib.colors import ListedColormap
            cmap = (ListedColormap([c for _, c in sc["colorscale"]]) if isinstance(sc["colorscale"], list)
                    else sc["colorscale"])  # "RdBu", "YlOrRd": the same names in matplotlib
            pts = ax.scatter(*xy.T, c=g["color"], cmap=cmap, vmin=sc["cmin"], vmax=sc["cmax"], label=g["name"], **kw)
            if g["colorbar"]:
                fig.colorbar(pts, ax=ax, shrink=0.6, label=sc["title"])
        else:
            color = g["color"] if isinstance(g["color"], str) else [to_rgba(c) for c in g["color"]]
            ax.scatter(*xy.T, c=[color] if isinstance(color, str) else color, label=g["name"], **kw)
    if selected:
        for a, b in CONSTELLATION:
            if a in selected and b in selected:
                ax.plot(*np.stack([selected[a], selected[b]]).T, color="black", lw=1,
                        ls=":" if a[0] == b[0] else "-")
        for f, p in selected.items():
            ax.scatter([p[0]], [p[1]], s=60, facecolors="white", edgecolors="black", linewidths=1.5, zorder=5)
            ax.annotate(f"{f[0]}$_{f[1]}$", p, textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, markerscale=2, loc="best")
    ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    return fig


def export_map(proj: Projection, out_dir: str | Path, stem: str, *, ids, texts=None, labels=None, preds=None,
               color_by: str = "feature", selected=None, title: str = "") -> dict[str, Path]:
    """Write ``<stem>.png``, ``<stem>.svg`` (matplotlib) and ``<stem>.csv`` (``coordinates_table``) into ``out_dir``;
    returns {"png": path, "svg": path, "csv": path}."""
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fig = static_figure(proj, title=title, color_by=color_by, ids=ids, labels=labels, preds=preds, selected=selected,
                        figsize=(7, 5.5), dpi=150)
    paths = {ext: out_dir / f"{stem}.{ext}" for ext in ("png", "svg", "csv")}
    fig.savefig(paths["png"])
    fig.savefig(paths["svg"])
    plt.close(fig)
    coordinates_table(proj, ids=ids, texts=texts, labels=labels, preds=preds).to_csv(paths["csv"], index=False)
    return paths
