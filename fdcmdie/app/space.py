"""Representation-space tab: 2-D maps (UMAP, PCA or t-SNE) of the six decoupled feature sets, with-CL and without-CL
side by side (paper Fig. 8–9, live), the CL effect in numbers (fdcmdie.explain.geometry), one sample's constellation
and its nearest neighbours, word search, and export.

Maps, numbers and neighbour indexes come from the background (never computed in a request); the selected sample and
the latest upload are drawn on top, an upload placed by the map's ``transform`` (UMAP, PCA) or by its nearest map
points (t-SNE). A click on a point reaches Python through a small script (``CLICK_JS``): ``gr.Plot`` has only a
``change`` event, and the native ``gr.ScatterPlot``'s ``select`` gives a brushed x-range, not the clicked point.
"""
from __future__ import annotations

import tempfile

import gradio as gr
import numpy as np

from ..data import DataError
from ..explain.projections import METHODS, matching_rows
from ..facts import cl_label, in_order
from ..render.maps import COLOR_BY, export_map
from ..render.space import cl_effect_markdown
from .plots.projections import projection_figure
from .common import callback, note, placeholder_figure, signed
from .context import LIGHT, SPLITS, AppContext
from .slots import PAIR
from .shared import Shared

SLOTS = PAIR
MAP_IDS = {"main": "map-main", "compare": "map-compare"}
COLOR_CHOICES = [(label, key) for key, label in COLOR_BY.items()]
METHOD_CHOICES = [(label, key) for key, label in METHODS.items()]
K_NEIGHBOURS = 8
NEIGHBOUR_COLUMNS = ["#", "id", "similarity", "label", "prediction", "transcript"]
NEIGHBOUR_WIDTHS = ["5%", "20%", "15%", "9%", "15%", "36%"]   # headers and ids on one line at ~700 px

# plotly_click on either map → "<sample id>|<map>|<time>" into the hidden #space-click textbox (its change event
# then opens the sample). Re-binds whenever plotly re-creates a plot's event emitter (gd._ev).
CLICK_JS = """
() => {
  if (window.__fdcmdieMapClicks) return;
  window.__fdcmdieMapClicks = true;
  const send = (value) => {
    const box = document.querySelector("#space-click textarea, #space-click input");
    if (!box) return;
    box.value = value;
    box.dispatchEvent(new Event("input", {bubbles: true}));
  };
  const bind = () => {
    for (const id of ["map-main", "map-compare"]) {
      const gd = document.querySelector(`#${id} .js-plotly-plot`);
      if (!gd || !gd._ev || gd._ev.__fdcmdie) continue;
      gd._ev.__fdcmdie = true;
      gd.on("plotly_click", (ev) => {
        const pt = ev && ev.points && ev.points.find((p) => p.customdata);
        if (pt) send(`${pt.customdata}|${id}|${Date.now()}`);
      });
    }
  };
  setInterval(bind, 300);
}
"""


def map_states(ctx: AppContext, split: str, method: str = "umap") -> tuple:
    """A token of what the maps and numbers of ``split`` look like now (the timer redraws only when it changes)."""
    maps = tuple(ctx.projection_state(k, split, method) if k in ctx.slots else "absent" for k in SLOTS)
    numbers = tuple(ctx.ready(("geometry", k, split)) for k in SLOTS if k in ctx.slots)
    return maps + numbers + (method,)


def _selected_points(proj, view, selected: dict | None, split: str):
    if not (selected and selected.get("split") == split and selected.get("id") in view.row_of):
        return None
    row = view.row_of[selected["id"]]
    return proj.points_of(row) or proj.transform({f: v[row] for f, v in view.preds.features["decoupled"].items()})


def projection_view(ctx: AppContext, split: str, color_by: str = "feature", selected: dict | None = None,
                    upload: dict | None = None, method: str = "umap", query: str = ""):
    """(figure with CL, figure without CL, status Markdown, numbers Markdown, state token). Starts the maps in the
    background when they are not there yet and returns placeholders meanwhile."""
    split = split or "test"
    method = method or "umap"
    query = (query or "").strip()   # the search box is None until the tab is opened
    if method not in METHODS:
        raise ValueError(f"projection must be one of {list(METHODS)}, got {method!r}")
    name = METHODS[method]
    figs, notes, placement, matches = [], [], None, None
    for key in SLOTS:
        if key not in ctx.slots:
            figs.append(placeholder_figure("no comparison checkpoint (start the app with --compare-checkpoint)"))
            continue
        try:
            p = ctx.predictor(key)
        except ValueError as e:
            figs.append(placeholder_figure("checkpoint not loaded"))
            notes.append(str(e))
            continue
        label = ctx.slots[key].label
        try:
            view = ctx.split_view(key, split)  # seconds at most (predictions); the map itself is never made here
        except (DataError, FileNotFoundError) as e:
            figs.append(placeholder_figure("no dataset: the map needs MOSI (see the explorer tab)"))
            notes.append(ctx.data_help(e))
            continue
        state = ctx.request_projection(key, split, method)
        if state != "ready":
            if state.startswith("failed"):
                figs.append(placeholder_figure(f"the map could not be computed: {state[8:]}"))
                notes.append(f"{label}: {state}")
            else:
                figs.append(placeholder_figure(f"computing the {name} map of the {split} split for {label} …<br>"
                                               "it appears here by itself when ready"))
                notes.append(f"{label}: {name} map of the {split} split is being computed in the background.")
            continue
        proj = ctx.projection(key, split, method)
        P = view.preds
        sel = _selected_points(proj, view, selected, split)
        up = None
        if upload and upload.get(key, {}).get("decoupled"):
            up = proj.transform(upload[key]["decoupled"])
        hits = matching_rows(P.texts, query) if query else None
        if hits is not None:
            matches = len(hits)
        placement = proj.placement
        figs.append(projection_figure(
            proj, ids=P.ids, texts=P.texts, labels=P.label, preds=P.pred, color_by=color_by or "feature",
            selected=sel, selected_name=f"sample {selected['id']}" if sel else "selected sample", upload=up,
            highlight=hits, highlight_name=f"contains “{query}” ({0 if hits is None else len(hits)})",
            hover=ctx.hover(key, split, method),
            title=map_title(label, cl_label(p.cfg.loss.contrastive, words=True), name, proj.n_samples, split)))
        figs[-1].update_layout(margin=dict(t=62))   # room for the title's two lines
    if notes:
        status = "\n\n".join(notes)
    else:
        status = (f"{name} maps of the {split} split. Select a sample in the explorer or upload a clip to see where "
                  "it lands; click a point to open its sample in the explorer and join its feature sets on both maps. "
                  f"{placement_sentence(placement)}")
        if matches is not None:
            status += f" **{matches}** samples contain “{query}” (pink rings)."
    return figs[0], figs[1], status, effect_markdown(ctx, split), map_states(ctx, split, method)


def map_title(label: str, cl: str, method_name: str, n: int, split: str) -> str:
    """Two short lines, so half the page's width holds them: the checkpoint, then CL (facts.cl_label in words),
    method and samples."""
    return f"{label}<br><sup>{cl} ({method_name}, {n} {split} samples)</sup>"


def placement_sentence(placement: str | None) -> str:
    """``Projection.placement`` ("placed with …" or "t-SNE has no transform: …") as a sentence of its own."""
    if not placement:
        return ""
    text = f"New inputs are {placement}" if placement.startswith("placed") else placement  # "t-SNE has no …"
    return text.rstrip(".") + "."


def refresh_if_changed(ctx: AppContext, split: str, color_by: str, selected: dict | None, upload: dict | None,
                       shown: tuple | None, method: str = "umap", query: str = ""):
    """Timer callback: redraw when a map or the numbers finished since the last draw, else skip (``gr.skip()``)."""
    import gradio as gr

    token = map_states(ctx, split or "test", method or "umap")
    if shown is not None and tuple(shown) == token:
        return (gr.skip(),) * 5
    return projection_view(ctx, split, color_by, selected, upload, method, query)


# ---------------------------------------------------------------------------------------------- numbers


def _reports(ctx: AppContext, split: str) -> list[tuple[str, object]]:
    out = []
    for key in SLOTS:
        if key in ctx.slots and ctx.ready(("geometry", key, split)):
            out.append((ctx.slots[key].label, ctx.geometry(key, split)))
    return out


def effect_markdown(ctx: AppContext, split: str) -> str:
    """The CL effect in numbers, one column per checkpoint, each block with its two-line "how to read this"."""
    reps = _reports(ctx, split)
    if not reps:
        return "*The numbers appear with the maps (computed in the background).*"
    one_modality = (
        "*These checkpoints read one modality, so there are no cross-modal shared pairs and the rows about them stay "
        "empty (–): contrastive learning here only pulls together the shared features of similar samples (§2.3.2's "
        "across-sample pairs). To see it align text with voice (and face), open a multimodal pair: "
        "`python app.py` (the default pair, T+A) or `python app.py --checkpoint checkpoints/mosi-honest-tav-e5 --compare-checkpoint checkpoints/mosi-honest-tav-e5-nocl` "
        "(T+V+A).*")
    return cl_effect_markdown(reps, split, one_modality_note=one_modality)


def cosine_histograms(ctx: AppContext, split: str):
    """Histograms of the per-sample cosines, one panel per checkpoint: shared·shared of the same sample against
    random pairs of samples, and shared·private of the same sample."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    reps = _reports(ctx, split or "test")
    if not reps:
        return placeholder_figure("the numbers are computed in the background …")
    fig = make_subplots(rows=1, cols=len(reps), subplot_titles=[label for label, _ in reps], shared_yaxes=True)
    series = (("cos_same", "shared · shared, same sample", dict(color="#6a3d9a")),
              ("cos_shared_private", "shared · private, same sample", dict(color="#e08214")),
              # outlined on top: where it covers the same-sample bars, pairing by sample adds nothing
              ("cos_random", "shared · shared, random pairs (outline)",
               dict(color="rgba(0,0,0,0)", line=dict(color="#222", width=1.2))))
    for c, (_, rep) in enumerate(reps, 1):
        for attr, name, marker in series:
            fig.add_trace(go.Histogram(x=getattr(rep, attr), name=name, legendgroup=name, showlegend=c == 1,
                                       xbins=dict(start=-1, end=1, size=0.04), marker=marker,
                                       opacity=1.0 if attr == "cos_random" else 0.6), row=1, col=c)
        fig.update_xaxes(range=[-1.02, 1.02], title_text="cosine", row=1, col=c)
    fig.update_yaxes(title_text="samples", row=1, col=1)
    fig.update_layout(barmode="overlay", height=320, margin=dict(l=10, r=10, t=40, b=10), plot_bgcolor="white",
                      legend=dict(orientation="h", yanchor="top", y=-0.25, x=0, font=dict(size=11)))
    return fig


def effect_view(ctx: AppContext, split: str):
    """(histogram figure, token) for the numbers block: the figure only changes when the numbers do."""
    return cosine_histograms(ctx, split), tuple(ctx.ready(("geometry", k, split or "test")) for k in SLOTS)


def refresh_effect(ctx: AppContext, split: str, shown: tuple | None):
    import gradio as gr

    token = tuple(ctx.ready(("geometry", k, split or "test")) for k in SLOTS)
    if shown is not None and tuple(shown) == token:
        return gr.skip(), gr.skip()
    return effect_view(ctx, split)


# ------------------------------------------------------------------------------------ one sample, neighbours


def empty_neighbours():
    import pandas as pd
    return pd.DataFrame(columns=NEIGHBOUR_COLUMNS)


def neighbour_view(ctx: AppContext, selected: dict | None, k: int = K_NEIGHBOURS):
    """(Markdown about the selected sample, shared-space neighbours, private-space neighbours) of the explorer's
    sample, in the space of the model the explorer shows."""
    import pandas as pd

    if not selected or not selected.get("id"):
        return ("Click a point on a map (or pick a sample in the explorer) to see its six feature sets joined on both "
                "maps and its nearest samples here.", empty_neighbours(), empty_neighbours())
    key = selected.get("model") or "main"
    if key not in SLOTS or key not in ctx.slots:
        return (f"Sample **{selected['id']}** is from `{key}`, which the maps do not show (they map the with-CL / "
                "without-CL pair). Pick that pair in the explorer, or click a point on a map.",
                empty_neighbours(), empty_neighbours())
    split = selected.get("split") or "test"
    view = ctx.split_view(key, split)
    sid = selected["id"]
    if sid not in view.row_of:
        raise ValueError(f"sample {sid!r} is not in the {split} split")
    row = view.row_of[sid]
    P = view.preds
    lines = [f"**{sid}** ({split} split, video {sid.rsplit('_', 1)[0]}) — “{P.texts[row]}”", "",
             f"label {signed(P.label[row])}"]
    for k2 in SLOTS:
        if k2 in ctx.slots:
            try:
                v2 = ctx.split_view(k2, split)
            except (ValueError, FileNotFoundError):
                continue
            if sid in v2.row_of:
                lines[-1] += f" · {ctx.slots[k2].label}: prediction {signed(v2.preds.pred[v2.row_of[sid]])}"
    lines += ["", f"It is open in the **Sample explorer** tab. Nearest samples in {ctx.slots[key].label}'s space "
              "(cosine, averaged over modalities; click a row to open that sample):"]
    if not ctx.ready(("neighbours", key, split)):
        return "\n".join(lines + ["", "*the neighbour index is being built in the background …*"]), \
            empty_neighbours(), empty_neighbours()
    space = ctx.sample_space(key, split)
    tables = []
    for part in ("shared", "private"):
        rows, sims = space.neighbours(row, k, part)
        tables.append(pd.DataFrame({"#": np.arange(1, len(rows) + 1), "id": [P.ids[r] for r in rows],
                                    "similarity": np.round(sims, 3),
                                    "label": np.round(P.label[rows].astype(np.float64), 2),  # float32 shows 0.6000000238
                                    "prediction": np.round(P.pred[rows].astype(np.float64), 2),
                                    "transcript": [P.texts[r] for r in rows]},
                                   columns=NEIGHBOUR_COLUMNS))
    return "\n".join(lines), tables[0], tables[1]


def parse_click(value: str | None) -> tuple[str, str] | None:
    """(model key, sample id) from the click bridge's "<id>|<map element id>|<time>"; None for an empty value."""
    if not value or "|" not in value:
        return None
    parts = value.split("|")
    if len(parts) < 3 or not parts[0]:
        raise ValueError(f"unexpected map click {value!r}")
    sid = "|".join(parts[:-2])
    key = {v: k for k, v in MAP_IDS.items()}.get(parts[-2], "main")
    return key, sid


def neighbour_id(df, index) -> str:
    """The sample id of a clicked neighbour-table row."""
    row = index[0] if isinstance(index, (list, tuple)) else index
    if df is None or len(df) == 0 or not 0 <= int(row) < len(df):
        raise ValueError("click a row of the neighbour table")
    return str(df.iloc[int(row)]["id"])


# ---------------------------------------------------------------------------------------------- export


def export_maps(ctx: AppContext, split: str, method: str, color_by: str, selected: dict | None, out_dir) -> list[str]:
    """PNG, SVG and CSV (2-D coordinates with ids, feature set and labels) of both maps as shown; the file paths."""
    split, method = split or "test", method or "umap"
    files = []
    for key in SLOTS:
        if key not in ctx.slots or ctx.projection_state(key, split, method) != "ready":
            continue
        view = ctx.split_view(key, split)
        proj = ctx.projection(key, split, method)
        P = view.preds
        name = ctx.slots[key].short_label
        paths = export_map(proj, out_dir, f"{name}-{split}-{method}", ids=P.ids, texts=P.texts, labels=P.label,
                           preds=P.pred, color_by=color_by or "feature",
                           selected=_selected_points(proj, view, selected, split),
                           title=f"{ctx.slots[key].label} — {METHODS[method]}, {split} split")
        files += [str(paths[e]) for e in ("png", "svg", "csv")]
    if not files:
        raise ValueError("no map is ready to export yet: wait until the maps appear")
    return files


def mapped_modalities(ctx: AppContext) -> set[str]:
    """The modalities the mapped pair reads (ModelSlot.config: from the checkpoints' config.json when not loaded yet;
    {} if unreadable)."""
    configs = [slot.config for slot in map(ctx.slots.get, SLOTS) if slot is not None]
    return {m for cfg in configs if cfg is not None for m in cfg.model.modalities}


def part_label(ctx: AppContext, part: str) -> str:
    """The neighbour table's label with the mapped pair's own feature sets: "… shared space (T_s, A_s)" for T+A."""
    mods = mapped_modalities(ctx)
    suffix = "s" if part == "shared" else "d"
    names = ", ".join(f"{m.upper()}_{suffix}" for m in in_order(mods)) if mods else f"T_{suffix}, V_{suffix}, A_{suffix}"
    return f"nearest samples in the {part} space ({names})"


def space_note(ctx: AppContext) -> str:
    """The tab's "how to read this": the cross-modal one, or the one-modality one for a pair that reads one."""
    return note("space_one_modality" if len(mapped_modalities(ctx)) == 1 else "space")


def export_view(ctx: AppContext, split: str, method: str, color_by: str, selected: dict | None) -> list[str]:
    return export_maps(ctx, split, method, color_by, selected, tempfile.mkdtemp(prefix="fdcmdie-maps-"))


# ------------------------------------------------------------------------------------------- clicks, layout


def open_click(value: str | None, split: str):
    """A click on a map point: (model, split, sample) that open it in the explorer (the constellation follows)."""
    hit = parse_click(value)
    if hit is None:
        return gr.skip(), gr.skip(), gr.skip()
    key, sample_id = hit
    return key, split or "test", sample_id


def open_neighbour(table, selected: dict | None, evt: gr.SelectData):
    """A click on a neighbour row: (model, split, sample) of that neighbour."""
    selected = selected or {}
    return selected.get("model") or "main", selected.get("split") or "test", neighbour_id(table, evt.index)


def to_explorer():
    return gr.Tabs(selected="explorer")


def build(ctx: AppContext, shared: Shared) -> None:
    with gr.Tab("Representation space", id="space"):
        gr.HTML(space_note(ctx), elem_id="space-note")
        with gr.Row():
            split = gr.Dropdown(choices=list(SPLITS), value="test", label="split", scale=1)
            method = gr.Radio(choices=METHOD_CHOICES, value=ctx.options.projection, label="projection", elem_id="space-method", scale=2)
            color_by = gr.Radio(choices=COLOR_CHOICES, value="feature", label="colour by", elem_id="space-color",
                                scale=5)
        with gr.Row():
            query = gr.Textbox(label="highlight the samples whose transcript contains … (Enter)",
                               placeholder="e.g. boring", elem_id="space-query", scale=4)
            export = gr.Button("Export both maps: PNG, SVG, CSV", elem_id="space-export", scale=1)
        status = gr.Markdown(elem_id="space-status")
        with gr.Row():
            map_main = gr.Plot(label=cl_label(True, words=True), elem_id="map-main")
            map_compare = gr.Plot(label=cl_label(False, words=True), elem_id="map-compare")
        click = gr.Textbox(visible="hidden", elem_id="space-click")  # filled by CLICK_JS
        with gr.Row(equal_height=False):
            with gr.Column(scale=2):
                sample_md = gr.Markdown(elem_id="space-sample")
                open_button = gr.Button("Open in the Sample explorer tab", size="sm", elem_id="space-open")
            with gr.Column(scale=3):
                nn_shared = gr.Dataframe(value=empty_neighbours(), interactive=False, wrap=True, max_height=260,
                                         elem_id="nn-shared", column_widths=NEIGHBOUR_WIDTHS,
                                         label=part_label(ctx, "shared"))
                nn_private = gr.Dataframe(value=empty_neighbours(), interactive=False, wrap=True, max_height=260,
                                          elem_id="nn-private", column_widths=NEIGHBOUR_WIDTHS,
                                          label=part_label(ctx, "private"))
        files = gr.File(label="exported maps", file_count="multiple", elem_id="space-files")
        hist = gr.Plot(label="per-sample cosines", elem_id="space-hist")
        cosines = gr.Markdown(elem_id="space-cosines")
        shown_maps = gr.State(None)     # token of the maps last drawn
        shown_effect = gr.State(None)   # token of the numbers last drawn
        timer = gr.Timer(3.0)

    demo, selected, upload = shared.demo, shared.selected, shared.upload
    inputs = [split, color_by, selected, upload]
    outputs = [map_main, map_compare, status, cosines, shown_maps]
    draw = callback(projection_view, ctx)
    demo.load(draw, inputs + [method, query], outputs, api_name="draw_maps", **LIGHT)
    gr.on([split.change, color_by.change, method.change, query.submit, selected.change, upload.change], draw,
          inputs + [method, query], outputs, show_progress="minimal", **LIGHT)
    timer.tick(callback(refresh_if_changed, ctx), inputs + [shown_maps, method, query], outputs, show_progress="hidden",
               api_visibility="private")
    gr.on([demo.load, split.change], callback(effect_view, ctx), [split], [hist, shown_effect],
          api_visibility="private")
    timer.tick(callback(refresh_effect, ctx), [split, shown_effect], [hist, shown_effect], show_progress="hidden",
               api_visibility="private")
    gr.on([demo.load, selected.change], callback(neighbour_view, ctx), [selected], [sample_md, nn_shared, nn_private],
          show_progress="hidden", **LIGHT)
    explorer_view = [shared.model, shared.split, shared.sample]
    click.change(callback(open_click), [click, split], explorer_view, api_visibility="private", **LIGHT)
    for table in (nn_shared, nn_private):
        table.select(callback(open_neighbour), [table, selected], explorer_view)
    open_button.click(callback(to_explorer), None, [shared.tabs], api_visibility="private")
    export.click(callback(export_view, ctx), [split, method, color_by, selected], [files])
    demo.load(None, None, None, js=CLICK_JS)
