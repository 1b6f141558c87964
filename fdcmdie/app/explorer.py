"""Sample explorer tab: filter a split, pick a sample, see truth vs prediction and the GAP weights; what-if beside it.

Plain functions of an AppContext; app.py wires them to components and wraps them with ``common.safe``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import DataError
from ..explain import MOD_NAMES
from ..explain.cases import keep_label, nonverbal_key
from ..explain.contributions import GapEntry, dominant_modality, gap_figure
from ..explain.shapley import input_shapley
from . import why
from .common import class7_of, class7_text, md_escape, placeholder_figure, polarity_of, short, signed
from .context import AppContext

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
        keep &= (label >= 0) != (pred >= 0)
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
        dom = dominant_modality(p.alpha[r], mods)
        weights = ", ".join(f"{MOD_NAMES[m]} {a:.2f}" for m, a in zip(mods, p.alpha[r, -1]))
        lines.append(f"\nLast fusion layer: α = {weights} — the model leaned most on **{dom}**.")
    sv = sample_shapley(ctx, model_key, split, r)
    lines += ["", "#### How far each modality moved the prediction",
              why.contributions_markdown(mods, None if p.alpha is None else p.alpha[r, -1], sv.phi[0],
                                         float(sv.baseline[0]), float(sv.pred[0]), present=p.present[r])]
    fig = gap_figure([GapEntry("this sample", p.alpha[r] if p.alpha is not None else None,
                               p.gates[r] if p.gates is not None else None)], mods,
                     title="How much each modality counted (GAP)")
    return "\n".join(lines), fig, {"model": model_key, "split": split, "id": sample_id, "row": int(r)}


def sample_shapley(ctx: AppContext, model_key: str, split: str, row: int):
    """Shapley values of one dataset sample (ModalityShapley of one row): from the split's, when computed, else
    for this sample alone (one batch of 2^M coalitions)."""
    from ..evaluate import model_dims
    from ..explain.shapley import ModalityShapley, shapley_batch

    if ctx.ready(("shapley", model_key, split)):
        sv = ctx.shapley(model_key, split)
        return ModalityShapley(sv.modalities, sv.phi[row: row + 1], sv.baseline[row: row + 1], sv.pred[row: row + 1])
    p = ctx.predictor(model_key)
    batch = p.split_samples(split, ctx.data_root()).batch([row], model_dims(p.cfg))
    return shapley_batch(p.model, batch, p.modalities, device=p.device)


def sample_words(ctx: AppContext, model_key: str, split: str, sample_id: str | None):
    """(HighlightedText value, caption) of a dataset sample's transcript: which words pushed its prediction."""
    if not sample_id:
        return [], ""
    view, r = _row(ctx, model_key, split, sample_id)
    text, audio, vision = ctx.raw_inputs(model_key, split, r)
    return why.words(ctx.predictor(model_key), text, audio, vision)


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


def _what_if_inputs(ctx: AppContext, model_key: str, split: str, sample_id: str | None, drop_names, edited_text):
    """(view, row, text, audio, vision, drop set, edited text or None) of a what-if request; ValueError if empty."""
    if not sample_id:
        raise ValueError("pick a sample first")
    view, r = _row(ctx, model_key, split, sample_id)
    by_name = {v: k for k, v in MOD_NAMES.items()}
    drop = set()
    for name in drop_names or []:
        if name not in by_name:
            raise ValueError(f"unknown modality {name!r}")
        drop.add(by_name[name])
    text, audio, vision = ctx.raw_inputs(model_key, split, r)
    edited = (edited_text or "").strip()  # an empty box means "unchanged" (switch text off to remove it)
    edited = None if not edited or edited == text.strip() else edited
    if not drop and edited is None:
        raise ValueError("nothing to compare yet: tick a modality to switch off or edit the transcript, then run")
    return view, r, text, audio, vision, drop, edited


def what_if_words(ctx: AppContext, model_key: str, split: str, sample_id: str | None, drop_names: list[str] | None,
                  edited_text: str | None):
    """(HighlightedText value, caption) of the modified input's words."""
    _, _, text, audio, vision, drop, edited = _what_if_inputs(ctx, model_key, split, sample_id, drop_names, edited_text)
    return why.words(ctx.predictor(model_key), edited if edited is not None else text, audio, vision, drop=drop)


def what_if_view(ctx: AppContext, model_key: str, split: str, sample_id: str | None, drop_names: list[str] | None,
                 edited_text: str | None):
    """(Markdown, figure): the sample as recorded vs with ``drop_names`` switched off and/or the edited transcript."""
    view, r, text, audio, vision, drop, edited = _what_if_inputs(ctx, model_key, split, sample_id, drop_names,
                                                                 edited_text)
    p = ctx.predictor(model_key)
    original, modified = p.what_if(text, audio, vision, drop=drop, edited_text=edited)
    changes = []
    if drop:
        changes.append("switched off: " + ", ".join(MOD_NAMES[m] for m in sorted(drop, key="tva".index)))
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
    return md, fig
