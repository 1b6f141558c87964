"""Model anatomy tab: one sample (from the dataset, typed, or the latest upload) through every stage of the forward
pass as the paper names it — unimodal features, shared / private features and their cosines, each DIPU layer's
cross-attention (X→G and G→X), GAP's gates and weights per layer, the prediction — beside a diagram of the
architecture with the stage highlighted. Deep link: ``?tab=anatomy&split=test&sample=<id>[&model=…]``.

Plain functions of an AppContext (the tests call them); ``build`` lays the tab out and wires them. Problems are
said in place, in the status line (never an error toast): every callback returns a message instead of raising.
"""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import numpy as np

from ..explain import MOD_NAMES
from ..explain import anatomy as A
from ..explain.contributions import alpha_number, weighing
from . import links
from .common import class7_of, class7_text, md_escape, placeholder_figure, short, signed
from .context import SPLITS, AppContext
from .plots import anatomy as AP
from .shared import Shared

SOURCES = {"dataset": "a dataset sample", "typed": "a typed sentence", "upload": "the latest upload"}
STAGE_CHOICES = [(f"{i}. {A.STAGES[k][0]} ({A.STAGES[k][1]})", k) for i, k in enumerate(A.STAGES, start=1)]
ATTENTION_CHOICES = [(words, key) for key, (_, _, words) in A.ATTENTION.items()]
NOTE = ("<div class='howto'><b>How to read this.</b> One input goes through the model step by step. Pick a stage: "
        "the diagram lights it up and the plot shows what the model computed there for <i>this</i> input.  "
        "In the attention maps every row is a query step and sums to 1 over the columns (the keys it read); "
        "<b>X→G</b> is the global feature G reading a modality X (eq. 16), <b>G→X</b> the modality reading G "
        "(eq. 17).</div>")


@dataclass
class AnatomyView:
    """What the tab shows for one trace and stage."""

    diagram: str           # HTML (SVG)
    status: str            # Markdown: the input, its prediction, problems
    stage_md: str          # Markdown: what this stage is, with this input's numbers
    figure: object         # plotly figure


# ------------------------------------------------------------------------------------------------- tracing


def trace_of(ctx: AppContext, model_key: str, source: str, split: str | None, sample_id: str | None,
             text: str | None, upload: dict | None) -> A.Trace:
    """The trace of the chosen input; ValueError (said in place) when there is none. Dataset traces are cached."""
    p = ctx.predictor(model_key or "main")
    if source == "dataset":
        sample_id = (sample_id or "").strip()
        split = split or "test"
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        if not sample_id:     # Trace before a sample is picked: the split's first (the status line names it)
            sample_id = ctx.split_view(model_key or "main", split).preds.ids[0]
        return ctx._once(("anatomy", model_key, split, sample_id),
                         lambda: A.trace_sample(p, split, sample_id, data_root=ctx.data_root(model_key or "main")))
    if source == "typed":
        if not (text or "").strip():
            raise ValueError("type a sentence in the box above, then press Trace")
        return A.trace_input(p, text.strip())
    if source == "upload":
        inputs = ((upload or {}).get("inputs") or {}).get(model_key or "main")
        if not upload:
            raise ValueError("nothing uploaded yet: analyse a clip or a sentence in the Upload tab first")
        if not inputs:
            raise ValueError("the latest upload did not keep its inputs for this model; analyse it again in the "
                             "Upload tab")
        text, audio, vision = inputs
        return A.trace_input(p, text or "", audio, vision)
    raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")


def status_markdown(ctx: AppContext, model_key: str, trace: A.Trace) -> str:
    label = ctx.slots[model_key].label if model_key in ctx.slots else model_key
    head = f"### `{trace.sample_id}`" if trace.sample_id else "### your input"
    steps = ", ".join(f"{MOD_NAMES[m]} {len(trace.steps[m])} step{'s' * (len(trace.steps[m]) != 1)}"
                      if trace.steps[m] else f"{MOD_NAMES[m]} missing" for m in trace.modalities)
    lines = [f"{head} · {md_escape(label)}", f"> {md_escape(short(trace.text, 300)) or '*(no transcript)*'}", "",
             f"Prediction **{signed(trace.pred)}** ({class7_text(class7_of(trace.pred))})"
             + (f" · annotators **{signed(trace.label)}**" if trace.label is not None else "")
             + f" · input: {steps}; {len(trace.layers)} CMDIE layer{'s' * (len(trace.layers) != 1)}."]
    lines += [f"*{md_escape(n)}*" for n in trace.notes]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------- stages


def stage_markdown(trace: A.Trace, stage: str, layer: int = 0) -> str:
    mods = trace.modalities
    L = A.LETTER
    if stage == "features":
        return ("**Unimodal features** (eq. 1–3). Each modality becomes a sequence of d-dimensional vectors F_m: the "
                "text encoder's token states through a linear map, the voice and face frames through a stacked LSTM. "
                "One row per step: " + "; ".join(f"{MOD_NAMES[m]}: {', '.join(md_escape(t) for t in trace.steps[m][:12])}"
                                                   + (" …" if len(trace.steps[m]) > 12 else "") for m in mods) + ".")
    if stage == "decoupling":
        names, cos = A.decoupling_cosines(trace)
        pairs = [f"cos({L[m]}_s, {L[m]}_d) = {cos[names.index(L[m] + '_s'), names.index(L[m] + '_d')]:+.2f}"
                 for m in mods if L[m] + "_s" in names and L[m] + "_d" in names]
        cross = [f"cos({L[a]}_s, {L[b]}_s) = {cos[names.index(L[a] + '_s'), names.index(L[b] + '_s')]:+.2f}"
                 for i, a in enumerate(mods) for b in mods[i + 1:] if L[a] + "_s" in names and L[b] + "_s" in names]
        return ("**Feature decoupling** (eq. 4–6). One shared encoder E_s (for all modalities) and one private encoder "
                "E_d^m per modality (LayerNorm → Linear → Tanh) split every F_m into a shared X_s and a private X_d. "
                "Contrastive learning pulls the shared parts of the modalities together and pushes shared and private "
                f"apart. Pooled over the steps, this input has {', '.join(pairs + cross)}. The global feature "
                f"G_s^[0] is the shared sequences one after another ({len(trace.global_steps)} steps).")
    if stage == "dipu":
        if not trace.layers:
            return "This model has no CMDIE layers (trained without CMDIE): the head reads the pooled decoupled features."
        return (f"**DIPU, layer {layer + 1} of {len(trace.layers)}** (eq. 13–24). For each modality X the global "
                "feature G and X's private feature X_d exchange information: G reads X (X→G, eq. 16) while X reads "
                "G (G→X, eq. 17), each then attends to itself (eq. 19–20) and reads the other's original input "
                "again (eq. 21–22) before a feed-forward layer (eq. 23–24). Bright cells: the key steps a query step "
                "took most from (heads averaged).")
    if stage == "gap":
        if not trace.layers:
            return "This model has no GAP (trained without CMDIE)."
        rows = "; ".join(f"layer {i + 1}: " + ", ".join(
            f"{MOD_NAMES[m]} off (α 0)" if lt.alpha[j] <= 0 else
            f"{MOD_NAMES[m]} g {lt.gates[j]:.2f} α {alpha_number(lt.alpha[j])}" if lt.gates is not None
            else f"{MOD_NAMES[m]} α {alpha_number(lt.alpha[j])}" for j, m in enumerate(mods)) for i, lt in enumerate(trace.layers))
        one = " With a single modality α is always 1: there is nothing to weigh." if len(mods) == 1 else ""
        return ("**Gated attention pooling** (eq. 25–29). After each layer the enhanced globals G_{X→G} are gated "
                "(g ∈ [0, 1], eq. 25–26), scored and mixed with weights α = softmax(S) (eq. 27–29) into the next "
                f"global G_s^[i+1]. {rows}.{one} In the last layer: {weighing(trace.layers[-1].alpha, mods)}")
    if stage == "prediction":
        return AP.prediction_markdown(trace)
    raise ValueError(f"stage must be one of {', '.join(A.STAGES)}, got {stage!r}")


def plain_labels(fig):
    """The figure with "<" and ">" in its tick labels and hover texts written as entities: plotly reads labels as
    its HTML subset, so the e5 tokenizer's "<s>" / "</s>" struck the rest through and broke automargin (the DIPU
    heatmaps squeezed into a corner of the plot)."""
    esc = lambda t: str(t).replace("<", "&lt;").replace(">", "&gt;") if isinstance(t, str) else t
    for name in list(fig.layout):
        axis = fig.layout[name]
        if name.startswith(("xaxis", "yaxis")) and getattr(axis, "ticktext", None):
            axis.ticktext = [esc(t) for t in axis.ticktext]
    for tr in fig.data:
        cd = getattr(tr, "customdata", None)
        if cd is not None and len(cd) and isinstance(cd[0], (list, tuple, np.ndarray)):
            tr.customdata = [[esc(v) for v in row] for row in cd]
    return fig


def stage_figure(trace: A.Trace, stage: str, layer: int = 0, which: str = "cross1", group: str = "extracted"):
    return plain_labels(_stage_figure(trace, stage, layer, which, group))


def _stage_figure(trace: A.Trace, stage: str, layer: int = 0, which: str = "cross1", group: str = "extracted"):
    if stage == "features":
        return AP.features_figure(trace, group)
    if stage == "decoupling":
        return AP.decoupling_figure(trace)
    if stage == "dipu":
        if not trace.layers:
            return placeholder_figure("no CMDIE layers in this model", 200)
        return AP.attention_figure(trace, min(max(0, layer), len(trace.layers) - 1), which)
    if stage == "gap":
        return AP.gap_stage_figure(trace)
    if stage == "prediction":
        return prediction_figure(trace)
    raise ValueError(f"stage must be one of {', '.join(A.STAGES)}, got {stage!r}")


def prediction_figure(trace: A.Trace):
    """The prediction on the −3…+3 scale, beside the label when known."""
    import plotly.graph_objects as go

    names, values, colors = ["prediction ŷ"], [trace.pred], ["#1f77b4"]
    if trace.label is not None:
        names.append("annotators")
        values.append(trace.label)
        colors.append("#7f7f7f")
    fig = go.Figure(go.Bar(x=values, y=names, orientation="h", marker_color=colors,
                           text=[signed(v) for v in values], textposition="outside", cliponaxis=False))
    fig.update_layout(height=200, xaxis=dict(range=[-3.4, 3.4], zeroline=True, zerolinecolor="#888", title="sentiment"),
                      plot_bgcolor="white", margin=dict(l=10, r=30, t=20, b=10))
    return fig


def view(ctx: AppContext, model_key: str, trace: A.Trace | None, stage: str = "features", layer: int = 1,
         which: str = "cross1", group: str = "extracted") -> AnatomyView:
    """The tab's outputs for a trace (layer counts from 1 as on screen)."""
    stage = stage if stage in A.STAGES else "features"
    if trace is None:
        slot = ctx.slots.get(model_key or "main")
        p = getattr(slot, "predictor", None)
        mods, k = (p.modalities, p.cfg.model.k) if p is not None else (["t"], 3)
        return AnatomyView(AP.architecture_svg(mods, k, stage),
                           "Pick a sample, type a sentence or use the latest upload, then press **Trace**.",
                           stage_markdown_empty(stage), placeholder_figure("nothing traced yet", 300))
    layer0 = int(layer or 1) - 1
    return AnatomyView(AP.architecture_svg(trace.modalities, len(trace.layers), stage),
                       status_markdown(ctx, model_key or "main", trace), stage_markdown(trace, stage, layer0),
                       stage_figure(trace, stage, layer0, which, group))


def stage_markdown_empty(stage: str) -> str:
    name, eqs = A.STAGES.get(stage, A.STAGES["features"])
    return f"**{name}** ({eqs})."


# ------------------------------------------------------------------------------------------------- callbacks


def run_trace(ctx: AppContext, model_key: str, source: str, split: str, sample_id: str | None, text: str | None,
              upload: dict | None, stage: str, layer: int, which: str, group: str = "extracted"):
    """Trace button / a new sample: (diagram, status, stage text, figure, trace state, layer slider)."""
    try:
        trace = trace_of(ctx, model_key, source, split, sample_id, text, upload)
        v = view(ctx, model_key, trace, stage, min(int(layer or 1), max(1, len(trace.layers))), which, group)
    except (ValueError, FileNotFoundError, KeyError) as e:
        msg = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        return (gr.skip(), f"**Cannot trace this input**: {md_escape(msg)}", gr.skip(), gr.skip(), gr.skip(),
                gr.skip())
    k = max(1, len(trace.layers))
    return (v.diagram, v.status, v.stage_md, v.figure, trace,
            gr.update(maximum=k, value=min(int(layer or 1), k), interactive=k > 1))


def restage(ctx: AppContext, model_key: str, trace: A.Trace | None, stage: str, layer: int, which: str,
            group: str = "extracted", sample_id: str | None = None, source: str = "dataset"):
    """Stage / layer / attention changed: (diagram, stage text, figure) from the kept trace (no forward pass). While
    no trace is kept, or the kept one is not the chosen dataset sample (its trace is on its way and will draw the
    stage), only the diagram follows."""
    stale = trace is None or (source == "dataset" and sample_id and trace.sample_id != sample_id)
    try:
        if stale:
            return view(ctx, model_key, None, stage).diagram, gr.skip(), gr.skip()
        v = view(ctx, model_key, trace, stage, layer, which, group)
    except (ValueError, KeyError) as e:
        return gr.skip(), f"**Not available**: {md_escape(str(e))}", gr.skip()
    return v.diagram, v.stage_md, v.figure


def sample_ids(ctx: AppContext, model_key: str, split: str):
    """The sample chooser's ids for a model and split (empty, with a reason, when the data is not there)."""
    try:
        view_ = ctx.split_view(model_key or "main", split or "test")
    except (ValueError, FileNotFoundError) as e:
        return gr.update(choices=[], value=None), f"**The dataset is not available**: {md_escape(str(e))}"
    return gr.update(choices=list(view_.preds.ids)), gr.skip()


def link_of(model_key: str, split: str, sample_id: str | None, source: str, stage: str, layer,
            request: gr.Request) -> str:
    """The link that reopens this view: the sample, the stage and the layer (a typed sentence has none)."""
    if source != "dataset" or not sample_id:
        return ""
    return links.view_link(links.page_url(request), tab="anatomy", model=model_key, split=split, sample=sample_id,
                           stage=stage if stage in A.STAGES else None, layer=int(layer or 1))


def open_link(ctx: AppContext, tab_ids: list[str], model_key: str, split: str, sample_id: str | None,
              request: gr.Request):
    """On page load: a link ``?tab=anatomy&split=…&sample=…`` fills the tab's model, split and sample (the trace
    follows from the sample's change event); any other link leaves the tab alone."""
    keys = [k for _, k in ctx.model_choices()] or ["main"]
    link, _ = links.parse_link(getattr(request, "query_params", None), tabs=tab_ids, models=keys)
    choices = gr.update(choices=ctx.model_choices() or [("main checkpoint", "main")])
    if link.get("tab") != "anatomy" or "sample" not in link:
        return choices, gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
    stage = link.get("stage") if link.get("stage") in A.STAGES else gr.skip()
    try:
        layer = max(1, int(link.get("layer") or 1))
    except ValueError:
        layer = 1
    return (gr.update(choices=ctx.model_choices() or [("main checkpoint", "main")], value=link.get("model", model_key)),
            link.get("split", split), gr.update(value=link["sample"]), "dataset", stage,
            gr.update(value=layer, maximum=max(3, layer)))


# ------------------------------------------------------------------------------------------------- layout


@dataclass
class Controls:
    """The components a lesson sets to open a sample here."""

    model: gr.Dropdown
    source: gr.Radio
    split: gr.Dropdown
    sample: gr.Dropdown
    stage: gr.Radio
    layer: gr.Slider


def build(ctx: AppContext, shared: Shared) -> Controls:
    with gr.Tab("Model anatomy", id="anatomy"):
        gr.HTML(NOTE)
        with gr.Row():   # the model's chooser label is long ("… · CMU-MOSI, standard split · T+A"): half the row
            model = gr.Dropdown(choices=[(slot.short_label, key) for key, slot in ctx.slots.items()], value="main",
                                label="model", elem_id="anatomy-model", scale=4)
            split = gr.Dropdown(choices=list(SPLITS), value="test", label="split", elem_id="anatomy-split", scale=1)
            sample = gr.Dropdown(choices=[], value=None, label="sample id", allow_custom_value=True, filterable=True,
                                 elem_id="anatomy-sample", scale=3)
        with gr.Row():
            source = gr.Radio(choices=[(v, k) for k, v in SOURCES.items()], value="dataset", label="input",
                              elem_id="anatomy-source", scale=3)
            text = gr.Textbox(label="or type a sentence (input: a typed sentence)", lines=1, elem_id="anatomy-text",
                              scale=4)
            go_button = gr.Button("Trace", variant="primary", elem_id="anatomy-run", scale=1)
        status = gr.Markdown(elem_id="anatomy-status")
        diagram = gr.HTML(AP.architecture_svg(["t"], 3, "features"), elem_id="anatomy-diagram")
        with gr.Row():
            stage = gr.Radio(choices=STAGE_CHOICES, value="features", label="stage", elem_id="anatomy-stage", scale=4)
            layer = gr.Slider(1, 3, value=1, step=1, label="CMDIE layer", elem_id="anatomy-layer", scale=1)
        with gr.Row():
            which = gr.Radio(choices=ATTENTION_CHOICES, value="cross1", label="DIPU attention",
                             elem_id="anatomy-attention", scale=3)
            group = gr.Radio(choices=[("F_m", "extracted"), ("shared X_s", "shared"), ("private X_d", "private")],
                             value="extracted", label="feature heatmap", elem_id="anatomy-group", scale=2)
        stage_md = gr.Markdown(elem_id="anatomy-stage-md")
        figure = gr.Plot(label="this stage", elem_id="anatomy-plot")
        link = gr.Textbox(label="link to this view", buttons=["copy"], interactive=False, elem_id="anatomy-link")
        trace = gr.State(None)

    trace_inputs = [model, source, split, sample, text, shared.upload, stage, layer, which, group]
    trace_outputs = [diagram, status, stage_md, figure, trace, layer]
    run = _callback(run_trace, ctx)
    go_button.click(run, trace_inputs, trace_outputs, api_name="anatomy_trace")
    text.submit(lambda: "typed", None, [source], queue=False, api_visibility="private").then(
        run, trace_inputs, trace_outputs)
    sample.change(lambda s: "dataset" if s else gr.skip(), [sample], [source], queue=False,
                  api_visibility="private").then(run, trace_inputs, trace_outputs, show_progress="minimal")
    gr.on([model.change, split.change], _callback(sample_ids, ctx), [model, split], [sample, status],
          show_progress="hidden", api_visibility="private")
    # layer.input: a number typed in the slider's box redraws too (issue 32: it stayed on layer 1); the last of a
    # drag's values wins
    gr.on([stage.change, layer.release, layer.input, which.change, group.change], _callback(restage, ctx),
          [model, trace, stage, layer, which, group, sample, source], [diagram, stage_md, figure], show_progress="hidden",
          trigger_mode="always_last", api_visibility="private")
    gr.on([sample.change, split.change, model.change, source.change, stage.change, layer.change], _callback(link_of),
          [model, split, sample, source, stage, layer], [link], show_progress="hidden", api_visibility="private")
    controls = Controls(model=model, source=source, split=split, sample=sample, stage=stage, layer=layer)

    def wire_link():
        shared.demo.load(_callback(open_link, ctx, list(shared.tab_ids)), [model, split, sample],
                         [model, split, sample, source, stage, layer], api_visibility="private")
        shared.demo.load(_callback(sample_ids, ctx), [model, split], [sample, status], api_visibility="private")

    shared.after(wire_link)
    shared.anatomy = controls   # the lessons tab opens samples here
    return controls


def _callback(fn, *bound):
    from .common import callback
    return callback(fn, *bound)
