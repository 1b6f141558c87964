"""Sample explorer tab: filter a split, pick a sample, see truth vs prediction and the GAP weights; what-if beside it.

Plain functions of an AppContext (the tests call them); ``build`` lays the tab out and wires them as callbacks.
"""
from __future__ import annotations

import tempfile

import gradio as gr
import numpy as np
import pandas as pd

from ..data import DataError
from ..explain import MOD_NAMES
from ..facts import in_order
from ..explain.cases import keep_label, nonverbal_key, opposite_sign
from ..explain.contributions import GapEntry, alpha_text, weighing
from .plots.contributions import gap_figure
from ..explain.shapley import input_shapley
from . import why
from .common import (callback, class7_of, class7_text, md_escape, modality_list, note, placeholder_figure,
                     polarity_of, short, signed)
from .context import LIGHT, SPLITS, AppContext
from .shared import Shared

POLARITIES = ["any", "positive", "negative", "neutral (exactly 0)", "sign predicted wrong"]
LARGE_ERROR = 1.5
TABLE_COLUMNS = ["id", "label", "prediction", "error", "text only", "transcript"]


def empty_table() -> pd.DataFrame:
    return pd.DataFrame(columns=TABLE_COLUMNS)


def filter_samples(ctx: AppContext, model_key: str, split: str, label_min: float = -3.0, label_max: float = 3.0,
                   polarity: str = "any", large_error: bool = False, disagree: bool = False):
    """(table DataFrame, list of ids, status Markdown). Without the dataset: an empty table and how to point
    ``--data`` at MOSI."""
    try:
        view = ctx.split_view(model_key or "main", split or "test")
    except (DataError, FileNotFoundError) as e:
        return empty_table(), [], ctx.data_help(e)
    except ValueError as e:  # no checkpoint loaded, …
        return empty_table(), [], f"**Not available**: {e}"
    p = view.preds
    label, pred = np.asarray(p.label, np.float64), np.asarray(p.pred, np.float64)
    lo, hi = sorted((float(label_min), float(label_max)))
    keep = (label >= lo - 1e-6) & (label <= hi + 1e-6)
    if polarity == "positive":
        keep &= label > 0
    elif polarity == "negative":
        keep &= label < 0
    elif polarity.startswith("neutral"):
        keep &= label == 0
    elif polarity.startswith("sign"):
        keep &= opposite_sign(label, pred, zero_positive=True)
    elif polarity != "any":
        raise ValueError(f"unknown polarity filter {polarity!r}; choose one of {POLARITIES}")
    if large_error:
        keep &= view.error >= LARGE_ERROR
    if disagree:
        if "t" not in view.ablations:
            raise ValueError("this checkpoint has a single modality: there is no text-only prediction to compare")
        keep &= view.disagree
    rows = np.flatnonzero(keep)
    text_only = view.ablations.get("t")
    if text_only is None and ctx.predictor(model_key or "main").modalities == ["t"]:
        text_only = pred   # a checkpoint that reads the words alone: its prediction is its text-only prediction
    r2 = lambda x: [round(float(v), 2) for v in x]
    df = pd.DataFrame({
        "id": [p.ids[r] for r in rows],
        "label": r2(label[rows]),
        "prediction": r2(pred[rows]),
        "error": r2(view.error[rows]),
        "text only": r2(text_only[rows]) if text_only is not None else [None] * len(rows),
        "transcript": [short(p.texts[r], 80) for r in rows],
    }, columns=TABLE_COLUMNS)
    status = (f"{len(rows)} of {len(label)} {split} samples match"
              + ("" if len(rows) else " — widen the label range or untick a filter") + ".")
    return df, [p.ids[r] for r in rows], status


def _row(ctx: AppContext, model_key: str, split: str, sample_id: str) -> tuple:
    view = ctx.split_view(model_key, split)
    sample_id = (sample_id or "").strip()
    if sample_id not in view.row_of:
        raise ValueError(f"no sample {sample_id!r} in the {split} split; pick one from the table")
    return view, view.row_of[sample_id]


def sample_view(ctx: AppContext, model_key: str, split: str, sample_id: str | None):
    """(Markdown, GAP figure, selection dict) for one dataset sample, from the cached split predictions."""
    if not sample_id:
        return ("Pick a sample in the table (or type its id) to see what the model made of it.",
                placeholder_figure("no sample selected", 300), None)
    view, r = _row(ctx, model_key, split, sample_id)
    p, pred_obj = view.preds, ctx.predictor(model_key)
    label, pred = float(p.label[r]), float(p.pred[r])
    mods = pred_obj.modalities
    lines = [f"### `{sample_id}` · {split} split · {ctx.slots[model_key].label}",
             f"> {md_escape(p.texts[r]) or '*(empty transcript)*'}", "",
             "| | score | polarity | 7-class |", "|---|---:|---|---|",
             f"| **truth** (annotators) | {signed(label)} | {polarity_of(label)} | {class7_text(class7_of(label))} |",
             f"| **prediction** | {signed(pred)} | {polarity_of(pred)} | {class7_text(class7_of(pred))} |"]
    for other in ctx.model_keys():
        if other == model_key or not ctx.ready(("split", other, split)):
            continue  # the other checkpoint's predictions are shown once computed (never waited for here)
        try:
            ov = ctx.split_view(other, split)
        except (ValueError, FileNotFoundError):
            continue
        if sample_id in ov.row_of:
            o = float(ov.preds.pred[ov.row_of[sample_id]])
            lines.append(f"| {ctx.slots[other].label} | {signed(o)} | {polarity_of(o)} | {class7_text(class7_of(o))} |")
    lines.append("")
    extra = [f"error {abs(pred - label):.2f}"]
    for keep, values in view.ablations.items():
        if keep == "t" or keep == nonverbal_key(view.ablations):
            extra.append(f"{keep_label(keep)}: {signed(float(values[r]))}")
    lines.append(" · ".join(extra))
    if p.alpha is not None:
        lines.append(f"\nLast fusion layer: α = {alpha_text(p.alpha[r, -1], mods)}. {weighing(p.alpha[r], mods)}")
    sv = sample_shapley(ctx, model_key, split, r)
    lines += ["", "#### How far each modality moved the prediction",
              why.contributions_markdown(mods, None if p.alpha is None else p.alpha[r, -1], sv.phi[0],
                                         float(sv.baseline[0]), float(sv.pred[0]), present=p.present[r])]
    share = ctx.share_note(model_key, split)
    if share:
        lines += ["", share]
    fig = why.readable_gap(gap_figure([GapEntry("this sample", p.alpha[r] if p.alpha is not None else None,
                                                p.gates[r] if p.gates is not None else None)], mods,
                                      title="How GAP mixed the modalities (α) and gated them (g)"))
    return "\n".join(lines), fig, {"model": model_key, "split": split, "id": sample_id, "row": int(r)}


def sample_shapley(ctx: AppContext, model_key: str, split: str, row: int):
    """Shapley values of one dataset sample (ModalityShapley of one row): from the split's, when computed, else
    for this sample alone (one batch of 2^M coalitions)."""
    return ctx.sample_shapley(model_key, split, row)


def sample_words(ctx: AppContext, model_key: str, split: str, sample_id: str | None):
    """(HighlightedText value, caption) of a dataset sample's transcript: which words pushed its prediction."""
    if not sample_id:
        return [], ""
    view, r = _row(ctx, model_key, split, sample_id)
    try:
        return why.describe_words(ctx.sample_words(model_key, split, r))   # cached (memory and disk)
    except ValueError as e:
        return why.no_words(e)


def export_csv(ctx: AppContext, model_key: str, split: str, folder: str) -> str:
    """Write the predictions of a split (id, transcript, label, prediction, last-layer α and Shapley value per
    modality, Shapley baseline) to ``folder``; returns the file's path."""
    from pathlib import Path

    view = ctx.split_view(model_key, split)
    p, sv, mods = view.preds, ctx.shapley(model_key, split), ctx.predictor(model_key).modalities
    df = pd.DataFrame({"id": p.ids, "transcript": p.texts, "label": np.round(p.label, 4),
                       "prediction": np.round(p.pred, 4)})
    if p.alpha is not None:
        for j, m in enumerate(mods):
            df[f"alpha_{MOD_NAMES[m]}"] = np.round(p.alpha[:, -1, j], 4)
    for j, m in enumerate(sv.modalities):
        df[f"shapley_{MOD_NAMES[m]}"] = np.round(sv.phi[:, j], 4)
    df["shapley_baseline"] = np.round(sv.baseline, 4)
    path = Path(folder) / f"predictions-{ctx.slots[model_key].short_label}-{split}.csv"
    df.to_csv(path, index=False)
    return str(path)


def what_if_defaults(ctx: AppContext, model_key: str, split: str, sample_id: str | None):
    """(transcript to edit, modality choices) when a sample is picked."""
    if not sample_id:
        return "", []
    view, r = _row(ctx, model_key, split, sample_id)
    return view.preds.texts[r], [MOD_NAMES[m] for m in ctx.predictor(model_key).modalities]


def dropped(drop_names) -> set[str]:
    """The modality keys of the what-if's "switch off" names; ValueError for a name that is not a modality."""
    by_name = {v: k for k, v in MOD_NAMES.items()}
    unknown = [n for n in drop_names or [] if n not in by_name]
    if unknown:
        raise ValueError(f"unknown modality {unknown[0]!r}")
    return {by_name[n] for n in drop_names or []}


def nothing_left(ctx: AppContext, model_key: str, sample_id: str | None, drop_names) -> str | None:
    """The in-place answer when every modality the checkpoint reads is switched off (None otherwise)."""
    p = ctx.predictor(model_key)
    if not sample_id or not dropped(drop_names) >= set(p.modalities):
        return None
    reads = modality_list(p.modalities)
    return (f"**Nothing left to predict from**: {ctx.slots[model_key].short_label} reads {reads} only, and "
            f"{'it is' if len(p.modalities) == 1 else 'all of them are'} switched off. Untick "
            f"{'it' if len(p.modalities) == 1 else 'one'} to see a prediction.")


def _what_if_inputs(ctx: AppContext, model_key: str, split: str, sample_id: str | None, drop_names, edited_text):
    """(view, row, text, audio, vision, drop set, edited text or None) of a what-if request; ValueError if empty."""
    if not sample_id:
        raise ValueError("pick a sample first")
    view, r = _row(ctx, model_key, split, sample_id)
    drop = dropped(drop_names)
    text, audio, vision = ctx.raw_inputs(model_key, split, r)
    edited = (edited_text or "").strip()  # an empty box means "unchanged" (switch text off to remove it)
    edited = None if not edited or edited == text.strip() else edited
    if not drop and edited is None:
        raise ValueError("nothing to compare yet: tick a modality to switch off or edit the transcript, then run")
    return view, r, text, audio, vision, drop, edited


def what_if_words(ctx: AppContext, model_key: str, split: str, sample_id: str | None, drop_names: list[str] | None,
                  edited_text: str | None):
    """(HighlightedText value, caption) of the modified input's words."""
    if nothing_left(ctx, model_key, sample_id, drop_names):
        return [], ""
    _, _, text, audio, vision, drop, edited = _what_if_inputs(ctx, model_key, split, sample_id, drop_names, edited_text)
    return why.words(ctx.predictor(model_key), edited if edited is not None else text, audio, vision, drop=drop)


def what_if_view(ctx: AppContext, model_key: str, split: str, sample_id: str | None, drop_names: list[str] | None,
                 edited_text: str | None):
    """(Markdown, figure): the sample as recorded vs with ``drop_names`` switched off and/or the edited transcript."""
    if message := nothing_left(ctx, model_key, sample_id, drop_names):
        return message, placeholder_figure("every modality is switched off: no prediction", 300)
    view, r, text, audio, vision, drop, edited = _what_if_inputs(ctx, model_key, split, sample_id, drop_names,
                                                                 edited_text)
    p = ctx.predictor(model_key)
    original, modified = p.what_if(text, audio, vision, drop=drop, edited_text=edited)
    changes = []
    if drop:
        changes.append("switched off: " + ", ".join(MOD_NAMES[m] for m in in_order(drop)))
    if edited is not None:
        changes.append(f"transcript edited to “{md_escape(short(edited, 120))}”")
    rows = ["| | score | polarity | 7-class | modalities used |", "|---|---:|---|---|---|"]
    for name, e in (("original", original), ("**modified**", modified)):
        rows.append(f"| {name} | {signed(e.pred)} | {e.polarity} | {class7_text(e.class7)} | "
                    f"{', '.join(MOD_NAMES[m] for m in e.used) or 'none'} |")
    delta = modified.pred - original.pred
    verdict = ("the polarity flips" if original.polarity != modified.polarity else
               "a small change" if abs(delta) < 0.25 else "the same polarity, different strength")
    sv = input_shapley(p, edited if edited is not None else text, audio, vision, drop=drop)
    md = "\n".join([f"**What if** — {'; '.join(changes)}", "", *rows, "",
                    f"Change in prediction: **{signed(delta)}** ({verdict}); truth {signed(float(view.preds.label[r]))}.",
                    "", "**Modified input**, how far each modality moved it:",
                    why.contributions_markdown(p.modalities, None if modified.alpha is None else modified.alpha[-1],
                                               sv.phi[0], float(sv.baseline[0]), float(sv.pred[0]),
                                               present=modified.present)])
    fig = gap_figure([GapEntry("original", original.alpha, original.gates),
                      GapEntry("modified", modified.alpha, modified.gates)], p.modalities,
                     title="GAP weights: original (solid) vs modified (hatched)")
    return md, why.readable_gap(fig, stacked=True)



# ------------------------------------------------------------------------------------------ callbacks


def refresh_table(ctx: AppContext, model_key: str, split: str, label_min: float, label_max: float, polarity: str,
                  large_error: bool, disagree: bool, current: str | None):
    """(table, sample chooser update, status) after a filter changed; the current sample stays chosen when the
    split still has it."""
    df, ids, msg = filter_samples(ctx, model_key, split, label_min, label_max, polarity, large_error, disagree)
    return df, gr.update(choices=ids, value=current if has_sample(ctx, model_key, split, current) else None), msg


def pending_view(ctx: AppContext, model_key: str, split: str, sample_id: str | None):
    """The instant answer to a model or split change, before its predictions are read: when they are not in memory
    (the first use of a checkpoint computes them, minutes for MOSEI's 4,653 test samples on two cores), the previous
    checkpoint's table is cleared and the sample view says it is being redrawn, so nothing stale looks current.
    When they are in memory the table is refilled in a moment: only the status line says so, and the table and the
    sample view are left to the refill (clearing them too made every page load draw its first view twice, and the
    page's first seconds unresponsive). Returns (table, table status, sample Markdown, sample figure)."""
    key, split = model_key or "main", split or "test"
    slot = ctx.slots.get(key)
    name = slot.short_label if slot is not None else key
    if ctx.ready(("split", key, split)):   # at hand: the table is refilled in a moment
        return gr.skip(), f"⏳ Reading the {split}-split predictions of **{md_escape(name)}** …", gr.skip(), gr.skip()
    msg = (f"⏳ Reading the {split}-split predictions of **{md_escape(name)}** — computed once on first use, then "
           "kept (the line at the top of the page counts the seconds). The table fills when they are ready.")
    sample = (f"⏳ *Redrawing sample `{md_escape(sample_id)}` with {md_escape(name)} once its predictions are ready.*"
              if sample_id else "Pick a sample in the table once it is filled.")
    return empty_table(), msg, sample, placeholder_figure(f"waiting for the predictions of {name}", 300)


def first_sample(ctx: AppContext, model_key: str, split: str) -> tuple[str, str] | None:
    """(id, why in words) of the sample the explorer opens on without a link: the first "strong positive" case study
    (the most positive opinion, the model's closest prediction first), else the first "strong negative" — a clear
    sentence whose prediction, words and GAP bars a class reads at a glance. None without data."""
    from ..explain.cases import select_cases
    try:
        view = ctx.split_view(model_key or "main", split or "test")
    except (DataError, FileNotFoundError, ValueError):
        return None
    cases = select_cases(view.preds, None, per_category=1)
    for case in cases:
        if case.category in ("strong positive", "strong negative"):
            most = "positive" if case.category == "strong positive" else "negative"
            return case.id, (f"a clear example — the split's most {most} label ({signed(case.label)}), the one of those "
                             f"the model reads closest ({signed(case.pred)})")
    return (view.preds.ids[0], "the split's first sample") if len(view.preds.ids) else None


def has_sample(ctx: AppContext, model_key: str, split: str, sample_id: str | None) -> bool:
    try:
        return bool(sample_id) and sample_id in ctx.split_view(model_key or "main", split or "test").row_of
    except (ValueError, FileNotFoundError):
        return False


def pick_row(table, evt: gr.SelectData) -> str:
    """The id of the clicked table row."""
    row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    return str(table.iloc[int(row)]["id"])


def show_sample(ctx: AppContext, model_key: str, split: str, sample_id: str | None):
    """(Markdown, GAP figure, selection, what-if transcript, what-if modality choices, what-if Markdown, what-if
    figure) for a picked sample: the what-if side is reset."""
    md, fig, sel = sample_view(ctx, model_key, split, sample_id)
    text, mods = what_if_defaults(ctx, model_key, split, sample_id)
    return md, fig, sel, text, gr.update(choices=mods, value=[]), "", None


def show_sample_if_there(ctx: AppContext, model_key: str, split: str, sample_id: str | None):
    """After the model or split changed: the sample redrawn when the new split has it, else the empty view."""
    return show_sample(ctx, model_key, split, sample_id if has_sample(ctx, model_key, split, sample_id) else None)


def show_sample_words(ctx: AppContext, selected: dict | None):
    """(words, caption, what-if words, what-if caption) of the selected sample, after the sample view is up."""
    if not selected:
        return [], "", [], ""
    value, caption = sample_words(ctx, selected["model"], selected["split"], selected["id"])
    return value, caption, [], ""


def export_predictions(ctx: AppContext, model_key: str, split: str) -> str:
    return export_csv(ctx, model_key or "main", split or "test", tempfile.mkdtemp(prefix="fdcmdie-predictions-"))


# --------------------------------------------------------------------------------------------- layout


def build(ctx: AppContext, shared: Shared) -> None:
    """The explorer tab; sets ``shared.model`` / ``split`` / ``sample`` (other tabs open samples through them)."""
    with gr.Tab("Sample explorer", id="explorer"):
        gr.HTML(note("explorer"))
        with gr.Row():   # the model chooser wide enough for its longest name ("… · CMU-MOSI, standard split · T+V+A")
            model = gr.Dropdown(choices=[(slot.short_label, key) for key, slot in ctx.slots.items()], value="main",
                                label="model · data it was trained on", elem_id="explorer-model", scale=4,
                                min_width=560)
            split = gr.Dropdown(choices=list(SPLITS), value="test", label="split", elem_id="explorer-split", scale=1)
        with gr.Row():
            label_min = gr.Slider(-3, 3, value=-3, step=0.1, label="label from", scale=2)
            label_max = gr.Slider(-3, 3, value=3, step=0.1, label="label to", scale=2)
            polarity = gr.Dropdown(POLARITIES, value="any", label="polarity (truth)", scale=2)
            large = gr.Checkbox(label=f"large error only (≥ {LARGE_ERROR})", scale=1)
            disagree = gr.Checkbox(label="text-only vs full prediction differ in sign", scale=1)
        table_status = gr.Markdown(elem_id="table-status")
        table = gr.Dataframe(value=empty_table(), interactive=False, max_height=260, wrap=True, elem_id="sample-table",
                             label="samples (click a row)", column_widths=["15%", "8%", "10%", "8%", "9%", "50%"])
        sample = gr.Dropdown(choices=[], value=None, label="sample id (or click a row above)", allow_custom_value=True,
                             filterable=True, elem_id="sample-id")
        with gr.Row():
            shared.view_link = gr.Textbox(label="link to this view (copy it to share this sample)", buttons=["copy"],
                                          interactive=False, elem_id="view-link", scale=3)
            export = gr.Button("Download this split's predictions (CSV)", elem_id="export-csv", scale=1)
            export_file = gr.File(label="predictions: id, transcript, label, prediction, α, Shapley",
                                  elem_id="export-file", scale=2, height=90)
        with gr.Row(equal_height=False):
            with gr.Column(scale=1):
                sample_md = gr.Markdown("Pick a sample in the table.", elem_id="sample-md")
                sample_words_box = gr.HighlightedText(label=why.WORDS_LABEL, show_inline_category=False,
                                                      elem_id="sample-words")
                sample_words_md = gr.Markdown(elem_id="sample-words-md")
                sample_plot = gr.Plot(label="GAP weights of this sample", elem_id="sample-plot")
            with gr.Column(scale=1):
                gr.Markdown("### What if …")
                gr.HTML(note("what_if"))
                drop = gr.CheckboxGroup(choices=[], label="switch off", elem_id="whatif-drop")
                edit = gr.Textbox(label="transcript (edit it)", lines=2, elem_id="whatif-text")
                run = gr.Button("Run what-if", variant="primary", elem_id="whatif-run")
                whatif_md = gr.Markdown(elem_id="whatif-md")
                whatif_words_box = gr.HighlightedText(label="modified input: " + why.WORDS_LABEL,
                                                      show_inline_category=False, elem_id="whatif-words")
                whatif_words_md = gr.Markdown(elem_id="whatif-words-md")
                whatif_plot = gr.Plot(label="original vs modified", elem_id="whatif-plot")

    shared.model, shared.split, shared.sample = model, split, sample
    shared.filters = filters = [model, split, label_min, label_max, polarity, large, disagree]
    shared.table_outputs = [table, sample, table_status]
    sample_outputs = [sample_md, sample_plot, shared.selected, edit, drop, whatif_md, whatif_plot]

    export.click(callback(export_predictions, ctx), [model, split], [export_file])
    gr.on([c.change for c in filters[2:]], callback(refresh_table, ctx), filters + [sample], shared.table_outputs,
          show_progress="minimal", **LIGHT)
    table.select(callback(pick_row), [table], [sample])
    sample.change(callback(show_sample, ctx), [model, split, sample], sample_outputs, **LIGHT)
    shared.selected.change(callback(show_sample_words, ctx), [shared.selected],
                           [sample_words_box, sample_words_md, whatif_words_box, whatif_words_md],
                           show_progress="minimal", **LIGHT)
    # a model or split change: the old table cleared at once (no queue) when the new predictions must be computed,
    # then the table and the sample redrawn (issue 32: the previous checkpoint's table stayed up for minutes)
    gr.on([model.change, split.change], callback(pending_view, ctx), [model, split, sample],
          [table, table_status, sample_md, sample_plot], queue=False, show_progress="hidden",
          api_visibility="private").then(
        callback(refresh_table, ctx), filters + [sample], shared.table_outputs, show_progress="minimal",
        **LIGHT).then(callback(show_sample_if_there, ctx), [model, split, sample], sample_outputs, **LIGHT)
    whatif_inputs = [model, split, sample, drop, edit]
    run.click(callback(what_if_view, ctx), whatif_inputs, [whatif_md, whatif_plot], api_name="run_what_if",
              **LIGHT).success(callback(what_if_words, ctx), whatif_inputs, [whatif_words_box, whatif_words_md],
                               api_name="run_what_if_words", **LIGHT)
