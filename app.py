"""FD-CMDIE multimodal sentiment lab: the Gradio app.

    HF_HUB_OFFLINE=1 .venv/bin/python app.py [--checkpoint DIR] [--compare-checkpoint DIR|none] [--data DIR]
                                             [--host 127.0.0.1] [--port 7860]

Tabs: sample explorer with what-if, upload (file / webcam / microphone / typed text), representation space (UMAP,
PCA or t-SNE of the decoupled features, with vs without contrastive learning; click a point to open it), case
studies, model card. The callbacks live in
fdcmdie/app/ (one module per tab); this file builds the page, wires the events and launches.
"""
import argparse
import logging
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))

import gradio as gr  # noqa: E402

from fdcmdie.app import AppContext, AppOptions  # noqa: E402
from fdcmdie.app import cases as cases_tab  # noqa: E402
from fdcmdie.app import compare as compare_tab  # noqa: E402
from fdcmdie.app import explorer, model_card, space, upload  # noqa: E402
from fdcmdie.app import links, why  # noqa: E402
from fdcmdie.app.common import note, safe  # noqa: E402
from fdcmdie.app.context import SPLITS  # noqa: E402

log = logging.getLogger("fdcmdie.app")

CSS = """
.howto { background: #f4f6fb; border-left: 4px solid #6a7fd1; padding: 6px 10px; margin: 2px 0 8px 0;
         font-size: 0.92em; color: #333; border-radius: 4px; }
#warmup-status { font-size: 0.92em; }
"""

EXAMPLE_CLIP = ROOT / "assets" / "example-review.mp4"
EXAMPLES = ([[str(EXAMPLE_CLIP), ""]] if EXAMPLE_CLIP.is_file() else []) + [
    [None, "i loved every minute of this film, the cast is brilliant"],
    [None, "what a waste of two hours, the plot makes no sense"],
    [None, "it was okay i guess, nothing special"]]

INTRO = ("# FD-CMDIE — multimodal sentiment lab\n"
         "What does a model that reads **words, voice and face** decide about a speaker's sentiment, and why? "
         "FD-CMDIE splits each modality into a *shared* and a *private* part, lets them interact, and fuses them with "
         "gated attention pooling (GAP), whose weights α say how much each modality counted.")


def build_demo(ctx: AppContext) -> gr.Blocks:
    opts = ctx.options
    with gr.Blocks(title="FD-CMDIE sentiment lab", analytics_enabled=False) as demo:
        selected = gr.State(None)       # {"model", "split", "id", "row"} of the explorer's sample
        upload_state = gr.State(None)   # {model key: {"decoupled": …}} of the latest upload
        shown_maps = gr.State(None)     # token of the maps last drawn

        gr.Markdown(INTRO)
        status = gr.Markdown(ctx.warmup.markdown(), elem_id="warmup-status")
        status_timer = gr.Timer(2.0, active=not ctx.warmup.done)

        with gr.Tabs(selected="explorer") as tabs:
            # ------------------------------------------------------------------------------ explorer
            with gr.Tab("Sample explorer", id="explorer"):
                gr.HTML(note("explorer"))
                with gr.Row():
                    model = gr.Dropdown(choices=[(slot.short_label, key) for key, slot in ctx.slots.items()],
                                        value="main", label="model · data it was trained on",
                                        elem_id="explorer-model", scale=3)
                    split = gr.Dropdown(choices=list(SPLITS), value="test", label="split", elem_id="explorer-split",
                                        scale=1)
                    label_min = gr.Slider(-3, 3, value=-3, step=0.1, label="label from", scale=2)
                    label_max = gr.Slider(-3, 3, value=3, step=0.1, label="label to", scale=2)
                with gr.Row():
                    polarity = gr.Dropdown(explorer.POLARITIES, value="any", label="polarity (truth)", scale=2)
                    large = gr.Checkbox(label=f"large error only (≥ {explorer.LARGE_ERROR})", scale=1)
                    disagree = gr.Checkbox(label="text-only vs full prediction differ in sign", scale=1)
                table_status = gr.Markdown(elem_id="table-status")
                table = gr.Dataframe(value=explorer.empty_table(), interactive=False, max_height=260, wrap=True,
                                     elem_id="sample-table", label="samples (click a row)",
                                     column_widths=["15%", "8%", "10%", "8%", "9%", "50%"])
                sample = gr.Dropdown(choices=[], value=None, label="sample id (or click a row above)",
                                     allow_custom_value=True, filterable=True, elem_id="sample-id")
                with gr.Row():
                    view_link = gr.Textbox(label="link to this view (copy it to share this sample)", buttons=["copy"],
                                           interactive=False, elem_id="view-link", scale=3)
                    export_csv = gr.Button("Download this split's predictions (CSV)", elem_id="export-csv", scale=1)
                    export_file = gr.File(label="predictions: id, transcript, label, prediction, α, Shapley",
                                          elem_id="export-file", scale=2, height=90)
                with gr.Row(equal_height=False):
                    with gr.Column(scale=1):
                        sample_md = gr.Markdown("Pick a sample in the table.", elem_id="sample-md")
                        sample_words = gr.HighlightedText(label=why.WORDS_LABEL, show_inline_category=False,
                                                          elem_id="sample-words")
                        sample_words_md = gr.Markdown(elem_id="sample-words-md")
                        sample_plot = gr.Plot(label="GAP weights of this sample", elem_id="sample-plot")
                    with gr.Column(scale=1):
                        gr.Markdown("### What if …")
                        gr.HTML(note("what_if"))
                        drop = gr.CheckboxGroup(choices=[], label="switch off", elem_id="whatif-drop")
                        edit = gr.Textbox(label="transcript (edit it)", lines=2, elem_id="whatif-text")
                        run_whatif = gr.Button("Run what-if", variant="primary", elem_id="whatif-run")
                        whatif_md = gr.Markdown(elem_id="whatif-md")
                        whatif_words = gr.HighlightedText(label="modified input: " + why.WORDS_LABEL,
                                                          show_inline_category=False, elem_id="whatif-words")
                        whatif_words_md = gr.Markdown(elem_id="whatif-words-md")
                        whatif_plot = gr.Plot(label="original vs modified", elem_id="whatif-plot")

            # -------------------------------------------------------------------------------- upload
            with gr.Tab("Upload", id="upload"):
                gr.HTML(note("upload"))
                with gr.Row(equal_height=False):
                    with gr.Column(scale=1):
                        video = gr.Video(sources=["upload", "webcam"], label="video: a file or the webcam",
                                         elem_id="upload-video", height=260)
                        audio = gr.Audio(sources=["upload", "microphone"], type="filepath",
                                         label="or audio: a file or the microphone", elem_id="upload-audio")
                        transcript = gr.Textbox(label="transcript (optional; filled by speech-to-text, edit it and "
                                                "analyse again) — or type a sentence alone", lines=2,
                                                elem_id="upload-transcript")
                        use_asr = gr.Checkbox(value=opts.asr, interactive=opts.asr,
                                              label="speech-to-text when the transcript box is empty")
                        analyse = gr.Button("Analyse", variant="primary", elem_id="upload-run")
                        gr.Examples(examples=EXAMPLES, inputs=[video, transcript],
                                    label="examples (click one, then Analyse)")
                        gr.Markdown(f"Limits: {opts.max_upload_mb:g} MB per file; the first "
                                    f"{opts.max_duration_s:g} s of a clip are analysed.")
                        upload_overview = gr.Markdown(elem_id="upload-overview")
                    with gr.Column(scale=1):
                        upload_pred = gr.Markdown(elem_id="upload-pred")
                        upload_words = gr.HighlightedText(label=why.WORDS_LABEL, show_inline_category=False,
                                                          elem_id="upload-words")
                        upload_words_md = gr.Markdown(elem_id="upload-words-md")
                        upload_gap = gr.Plot(label="GAP weights", elem_id="upload-gap")
                        upload_support = gr.Markdown(elem_id="upload-support")
                gr.Markdown("### What was extracted")
                with gr.Row(equal_height=False):
                    with gr.Column(scale=1):
                        upload_extracted = gr.Markdown(elem_id="upload-extracted")
                        upload_faces = gr.Gallery(label="face crops with landmarks", columns=4, height=180,
                                                  elem_id="upload-faces")
                    with gr.Column(scale=1):
                        upload_signal = gr.Plot(label="voice: waveform and pitch", elem_id="upload-signal")

            # ------------------------------------------------------------------------- representation
            with gr.Tab("Representation space", id="space"):
                gr.HTML(note("space"))
                with gr.Row():
                    space_split = gr.Dropdown(choices=list(SPLITS), value="test", label="split", scale=1)
                    space_method = gr.Radio(choices=space.METHOD_CHOICES, value="umap", label="projection",
                                            elem_id="space-method", scale=2)
                    color_by = gr.Radio(choices=space.COLOR_CHOICES, value="feature", label="colour by",
                                        elem_id="space-color", scale=5)
                with gr.Row():
                    space_query = gr.Textbox(label="highlight the samples whose transcript contains … (Enter)",
                                             placeholder="e.g. boring", elem_id="space-query", scale=4)
                    space_export = gr.Button("Export both maps: PNG, SVG, CSV", elem_id="space-export", scale=1)
                space_status = gr.Markdown(elem_id="space-status")
                with gr.Row():
                    map_main = gr.Plot(label="with contrastive learning", elem_id="map-main")
                    map_compare = gr.Plot(label="without contrastive learning", elem_id="map-compare")
                space_click = gr.Textbox(visible="hidden", elem_id="space-click")  # filled by space.CLICK_JS
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2):
                        space_sample = gr.Markdown(elem_id="space-sample")
                        space_open = gr.Button("Open in the Sample explorer tab", size="sm", elem_id="space-open")
                    with gr.Column(scale=3):
                        nn_shared = gr.Dataframe(value=space.empty_neighbours(), interactive=False, wrap=True,
                                                 max_height=260, elem_id="nn-shared",
                                                 label="nearest samples in the shared space (T_s, V_s, A_s)")
                        nn_private = gr.Dataframe(value=space.empty_neighbours(), interactive=False, wrap=True,
                                                  max_height=260, elem_id="nn-private",
                                                  label="nearest samples in the private space (T_d, V_d, A_d)")
                space_files = gr.File(label="exported maps", file_count="multiple", elem_id="space-files")
                space_hist = gr.Plot(label="per-sample cosines", elem_id="space-hist")
                cosines = gr.Markdown(elem_id="space-cosines")
                shown_effect = gr.State(None)
                space_timer = gr.Timer(3.0)

            # ----------------------------------------------------------------------------- case studies
            with gr.Tab("Case studies", id="cases"):
                gr.HTML(note("cases"))
                cases_model = gr.Dropdown(choices=[(slot.short_label, key) for key, slot in ctx.slots.items()],
                                          value="main", label="model · data it was trained on (MOSI or MOSEI)",
                                          elem_id="cases-model")
                cases_md = gr.Markdown()
                cases_table = gr.Dataframe(interactive=False, wrap=True, max_height=520, elem_id="cases-table",
                                           label="cases (click a row to open it in the explorer)")

            # ---------------------------------------------------------------------------- compare A vs B
            with gr.Tab("Compare A vs B", id="compare"):
                gr.HTML(note("compare"))
                with gr.Row():
                    cmp_split = gr.Dropdown(choices=list(SPLITS), value="test", label="split", elem_id="compare-split",
                                            scale=1)
                    cmp_kind = gr.Radio(choices=list(compare_tab.KINDS), value="polarity", label="slice by",
                                        elem_id="compare-kind", scale=3)
                    cmp_metric = gr.Dropdown(choices=compare_tab.METRIC_CHOICES, value="acc2_non0", label="bar chart",
                                             elem_id="compare-metric", scale=1)
                cmp_md = gr.Markdown(elem_id="compare-md")
                cmp_plot = gr.Plot(label="metric per slice, A vs B", elem_id="compare-plot")
                cmp_table = gr.Dataframe(interactive=False, wrap=True, max_height=360, elem_id="compare-table",
                                         label="metrics per slice (A and B)")
                cmp_dis = gr.Dataframe(interactive=False, wrap=True, max_height=420, elem_id="compare-disagree",
                                       label="where A and B disagree most (click a row to open it in the explorer)")

            # ------------------------------------------------------------------------------ model card
            with gr.Tab("Model card", id="card"):
                gr.HTML(note("card"))
                headline_md = gr.Markdown(elem_id="card-headline")
                card_plot = gr.Plot(label="average GAP weights", elem_id="card-plot")
                card_md = gr.Markdown(elem_id="card-md")
                robust_md = gr.Markdown(elem_id="card-robustness")
                robust_plot = gr.Plot(label="robustness: Acc-2 (non-0) as a modality is removed or noised, words dropped",
                                      elem_id="card-robustness-plot")
                with gr.Accordion("All results (docs/RESULTS.md)", open=False):
                    results_md = gr.Markdown(elem_id="card-results")

        # =================================================================================== events
        status_timer.tick(lambda: (ctx.warmup.markdown(), gr.Timer(active=not ctx.warmup.done)),
                          outputs=[status, status_timer], show_progress="hidden", queue=False, api_visibility="private")

        filters = [model, split, label_min, label_max, polarity, large, disagree]

        @safe
        def refresh_table(model_key, split_name, lo, hi, pol, big, dis, current):
            df, ids, msg = explorer.filter_samples(ctx, model_key, split_name, lo, hi, pol, big, dis)
            keep = current
            if current:
                try:
                    keep = current if current in ctx.split_view(model_key, split_name).row_of else None
                except (ValueError, FileNotFoundError):
                    keep = None
            return df, gr.update(choices=ids, value=keep), msg

        @safe
        def init_explorer(model_key, split_name, lo, hi, pol, big, dis, current, request: gr.Request):
            """The explorer on page load, opened at the view a deep link asks for (?tab=…&split=…&sample=…)."""
            choices = ctx.model_choices() or [("main checkpoint", "main")]
            keys = [k for _, k in choices]
            link, problems = links.parse_link(getattr(request, "query_params", None),
                                              tabs=[t.id for t in tabs.children if isinstance(t, gr.Tab)], models=keys)
            model_key, split_name = link.get("model", model_key), link.get("split", split_name)
            current = link.get("sample", current)
            df, sample_update, msg = refresh_table(model_key, split_name, lo, hi, pol, big, dis, current)
            if current and sample_update.get("value") != current:
                problems.append(f"the link's sample {current!r} is not in the {split_name} split")
            if problems:
                msg = f"{msg} ⚠ {'; '.join(problems)}."
            return (gr.update(choices=choices, value=model_key if model_key in keys else keys[0]), df, sample_update,
                    msg, split_name, gr.Tabs(selected=link["tab"]) if "tab" in link else gr.skip())

        demo.load(init_explorer, filters + [sample], [model, table, sample, table_status, split, tabs])

        @safe
        def make_link(model_key, split_name, sample_id, request: gr.Request):
            return links.view_link(links.page_url(request), model=model_key, split=split_name, sample=sample_id)

        gr.on([selected.change, model.change, split.change], make_link, [model, split, sample], [view_link],
              show_progress="hidden", api_visibility="private")

        @safe
        def export_predictions(model_key, split_name):
            import tempfile
            return explorer.export_csv(ctx, model_key or "main", split_name or "test",
                                       tempfile.mkdtemp(prefix="fdcmdie-predictions-"))

        export_csv.click(export_predictions, [model, split], [export_file])
        gr.on([c.change for c in filters[2:]], refresh_table, filters + [sample], [table, sample, table_status],
              show_progress="minimal")

        @safe
        def pick_row(df, evt: gr.SelectData):
            row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
            return str(df.iloc[int(row)]["id"])

        table.select(pick_row, [table], [sample])

        @safe
        def show_sample(model_key, split_name, sample_id):
            md, fig, sel = explorer.sample_view(ctx, model_key, split_name, sample_id)
            text, mods = explorer.what_if_defaults(ctx, model_key, split_name, sample_id) if sample_id else ("", [])
            return (md, fig, sel, text, gr.update(choices=mods, value=[]), "", None)

        sample_outputs = [sample_md, sample_plot, selected, edit, drop, whatif_md, whatif_plot]
        sample.change(show_sample, [model, split, sample], sample_outputs)

        @safe
        def show_sample_words(sel):
            """The words of the selected sample, coloured by attribution (after the sample view is up)."""
            if not sel:
                return [], "", [], ""
            value, caption = explorer.sample_words(ctx, sel["model"], sel["split"], sel["id"])
            return value, caption, [], ""

        selected.change(show_sample_words, [selected], [sample_words, sample_words_md, whatif_words, whatif_words_md],
                        show_progress="minimal")

        @safe
        def show_sample_if_there(model_key, split_name, sample_id):
            """After the model or split changed: redraw the sample when the new split has it."""
            try:
                there = bool(sample_id) and sample_id in ctx.split_view(model_key, split_name).row_of
            except (ValueError, FileNotFoundError):
                there = False
            return show_sample(model_key, split_name, sample_id if there else None)

        gr.on([model.change, split.change], refresh_table, filters + [sample], [table, sample, table_status],
              show_progress="minimal").then(show_sample_if_there, [model, split, sample], sample_outputs)

        @safe
        def run_what_if(model_key, split_name, sample_id, dropped, text):
            return explorer.what_if_view(ctx, model_key, split_name, sample_id, dropped, text)

        @safe
        def run_what_if_words(model_key, split_name, sample_id, dropped, text):
            return explorer.what_if_words(ctx, model_key, split_name, sample_id, dropped, text)

        run_whatif.click(run_what_if, [model, split, sample, drop, edit], [whatif_md, whatif_plot]).success(
            run_what_if_words, [model, split, sample, drop, edit], [whatif_words, whatif_words_md])

        @safe
        def run_upload(video_path, audio_path, text, asr):
            r = upload.analyse(ctx, video_path, audio_path, text, asr)
            return (r.extracted_md, r.signal_fig, r.faces, r.transcript, r.prediction_md, r.gap_fig, r.support_md,
                    r.state, r.words, r.words_md)

        analyse.click(run_upload, [video, audio, transcript, use_asr],
                      [upload_extracted, upload_signal, upload_faces, transcript, upload_pred, upload_gap,
                       upload_support, upload_state, upload_words, upload_words_md])  # extraction: one at a time

        space_outputs = [map_main, map_compare, space_status, cosines, shown_maps]

        space_inputs = [space_split, color_by, selected, upload_state, space_method, space_query]

        @safe
        def draw_maps(split_name, color, sel, up, method="umap", query=""):
            return space.projection_view(ctx, split_name, color, sel, up, method, query)

        @safe
        def poll_maps(split_name, color, sel, up, method, query, shown):
            return space.refresh_if_changed(ctx, split_name, color, sel, up, shown, method, query)

        demo.load(draw_maps, space_inputs, space_outputs)
        gr.on([space_split.change, color_by.change, space_method.change, space_query.submit, selected.change,
               upload_state.change], draw_maps, space_inputs, space_outputs, show_progress="minimal")
        space_timer.tick(poll_maps, space_inputs + [shown_maps], space_outputs, show_progress="hidden",
                         api_visibility="private")

        @safe
        def draw_effect(split_name):
            return space.effect_view(ctx, split_name)

        @safe
        def poll_effect(split_name, shown):
            return space.refresh_effect(ctx, split_name, shown)

        gr.on([demo.load, space_split.change], draw_effect, [space_split], [space_hist, shown_effect],
              api_visibility="private")
        space_timer.tick(poll_effect, [space_split, shown_effect], [space_hist, shown_effect], show_progress="hidden",
                         api_visibility="private")

        @safe
        def show_neighbours(sel):
            return space.neighbour_view(ctx, sel)

        gr.on([demo.load, selected.change], show_neighbours, [selected], [space_sample, nn_shared, nn_private],
              show_progress="hidden")

        @safe
        def open_clicked(value, split_name):
            """A click on a map point: that sample opens in the explorer (the constellation follows)."""
            hit = space.parse_click(value)
            if hit is None:
                return gr.skip(), gr.skip(), gr.skip()
            key, sample_id = hit
            return key, split_name or "test", sample_id

        space_click.change(open_clicked, [space_click, space_split], [model, split, sample], api_visibility="private")

        @safe
        def open_neighbour(df, sel, evt: gr.SelectData):
            key = (sel or {}).get("model") or "main"
            return key, (sel or {}).get("split") or "test", space.neighbour_id(df, evt.index)

        nn_shared.select(open_neighbour, [nn_shared, selected], [model, split, sample])
        nn_private.select(open_neighbour, [nn_private, selected], [model, split, sample])
        space_open.click(lambda: gr.Tabs(selected="explorer"), None, [tabs], api_visibility="private")

        @safe
        def export_maps(split_name, method, color, sel):
            import tempfile
            return space.export_maps(ctx, split_name, method, color, sel, tempfile.mkdtemp(prefix="fdcmdie-maps-"))

        space_export.click(export_maps, [space_split, space_method, color_by, selected], [space_files])
        demo.load(None, None, None, js=space.CLICK_JS)

        @safe
        def load_cases(model_key="main"):
            df, md = cases_tab.case_table(ctx, model_key or "main")
            n = len(df.columns)
            widths = (["9%", "10%", "24%"] + [f"{57 / (n - 3):.1f}%"] * (n - 3)) if n > 3 else None
            return gr.Dataframe(value=df, column_widths=widths), md

        @safe
        def init_cases(model_key):
            choices = ctx.model_choices() or [("main checkpoint", "main")]
            keys = [k for _, k in choices]
            key = model_key if model_key in keys else keys[0]
            return (gr.update(choices=choices, value=key), *load_cases(key))

        demo.load(init_cases, [cases_model], [cases_model, cases_table, cases_md])
        cases_model.input(load_cases, [cases_model], [cases_table, cases_md])

        @safe
        def open_case(df, model_key, evt: gr.SelectData):
            sample_id = cases_tab.case_id(df, evt.index)
            return gr.Tabs(selected="explorer"), model_key or "main", "test", sample_id

        cases_table.select(open_case, [cases_table, cases_model], [tabs, model, split, sample])

        @safe
        def load_compare(split_name, kind, metric):
            return compare_tab.compare_view(ctx, split_name, kind, metric)

        gr.on([demo.load, cmp_split.change, cmp_kind.change, cmp_metric.change], load_compare,
              [cmp_split, cmp_kind, cmp_metric], [cmp_md, cmp_table, cmp_plot, cmp_dis], show_progress="minimal")

        @safe
        def open_disagreement(df, split_name, evt: gr.SelectData):
            return gr.Tabs(selected="explorer"), "main", split_name, compare_tab.disagreement_id(df, evt.index)

        cmp_dis.select(open_disagreement, [cmp_dis, cmp_split], [tabs, model, split, sample])

        @safe
        def load_card():
            headline, full = model_card.results_markdown(ctx)
            return (headline, model_card.average_alpha_figure(ctx), model_card.checkpoints_markdown(ctx),
                    full or "*not generated yet*", *model_card.robustness_view(ctx))

        demo.load(load_card, None, [headline_md, card_plot, card_md, results_md, robust_md, robust_plot])
        demo.load(safe(lambda: upload.support_overview(ctx)), None, [upload_overview], api_visibility="private")
    return demo


def parse_args(argv=None) -> argparse.Namespace:
    d = AppOptions()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=d.checkpoint, help=f"checkpoint folder (default {d.checkpoint})")
    p.add_argument("--compare-checkpoint", default=d.compare_checkpoint,
                   help=f"second checkpoint shown beside the first, e.g. trained without contrastive learning "
                        f"(default {d.compare_checkpoint}; 'none' to leave out)")
    p.add_argument("--browse-checkpoint", action="append", default=None, metavar="DIR",
                   help=f"more checkpoints the explorer and case studies offer, e.g. one trained on MOSEI (repeatable; "
                        f"default {', '.join(d.browse_checkpoints)} when there; 'none' for none)")
    p.add_argument("--data", default=d.data, help=f"folder holding mosi/ and mosei/ (default {d.data})")
    p.add_argument("--host", default=None, help="address to listen on (0.0.0.0 for every interface; default "
                   "$GRADIO_SERVER_NAME, else 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default $GRADIO_SERVER_PORT, else 7860)")
    p.add_argument("--cache-dir", default=d.cache_dir, help="where fitted UMAP maps are kept (<dir>/umap)")
    p.add_argument("--results", default=d.results, help="results page shown on the model card")
    p.add_argument("--umap-max-samples", type=int, default=d.umap_max_samples,
                   help="samples per split on a map (0 = all)")
    p.add_argument("--umap-epochs", type=int, default=d.umap_epochs)
    p.add_argument("--max-upload-mb", type=float, default=d.max_upload_mb)
    p.add_argument("--max-duration", type=float, default=d.max_duration_s, help="seconds of a clip analysed")
    p.add_argument("--no-asr", action="store_true", help="no speech-to-text for uploads (type the transcript)")
    p.add_argument("--no-warmup", action="store_true", help="no background warm-up at start")
    p.add_argument("--no-extract-warmup", action="store_true", help="warm up everything but the clip extractor")
    p.add_argument("--concurrency", type=int, default=2, help="requests served at once per event (CPU-bound)")
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads for inference (0 = torch's default; 1 is often faster on a busy small CPU)")
    p.add_argument("--device", default="cpu")
    return p.parse_args(argv)


def options_from(args: argparse.Namespace) -> AppOptions:
    compare = args.compare_checkpoint
    if compare is not None and str(compare).lower() in ("", "none"):
        compare = None
    browse = AppOptions.browse_checkpoints if args.browse_checkpoint is None else tuple(
        b for b in args.browse_checkpoint if str(b).lower() not in ("", "none"))
    return AppOptions(checkpoint=args.checkpoint, compare_checkpoint=compare, browse_checkpoints=browse, data=args.data,
                      cache_dir=args.cache_dir, results=args.results,
                      umap_max_samples=args.umap_max_samples or None, umap_epochs=args.umap_epochs,
                      max_upload_mb=args.max_upload_mb, max_duration_s=args.max_duration, asr=not args.no_asr,
                      warm_up=not args.no_warmup, warm_up_extract=not args.no_extract_warmup, device=args.device)


def server_address(args: argparse.Namespace, environ=os.environ) -> tuple[str, int]:
    """(host, port): --host / --port when given, else Gradio's GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, else
    127.0.0.1:7860. ValueError for a port that is not a number in 1…65535."""
    host = args.host or environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    port, source = args.port, "--port"
    if port is None:
        raw, source = environ.get("GRADIO_SERVER_PORT", "").strip(), "GRADIO_SERVER_PORT"
        try:
            port = int(raw) if raw else 7860
        except ValueError:
            raise ValueError(f"GRADIO_SERVER_PORT={raw!r} is not a port number; set it to e.g. 7860 or pass --port")
    if not 0 < port < 65536:
        raise ValueError(f"{source} {port} is not a port number (1–65535)")
    return host, port


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        host, port = server_address(args)
    except ValueError as e:
        print(f"app.py: {e}", file=sys.stderr)
        return 2
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    ctx = AppContext(options_from(args))
    if ctx.options.warm_up:
        ctx.start_warmup()
    demo = build_demo(ctx)
    demo.queue(default_concurrency_limit=max(1, args.concurrency), max_size=64)
    demo.launch(server_name=host, server_port=port, max_file_size=int(args.max_upload_mb * 1e6),
                css=CSS, ssr_mode=False, show_error=False, footer_links=["api"], quiet=False,
                allowed_paths=[str(ROOT / "assets")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
