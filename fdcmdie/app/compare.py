"""Compare A vs B tab: the two loaded checkpoints' metrics slice by slice (table + bars) and the samples where they
disagree most; a disagreement row opens in the sample explorer. The analysis is ``explain.slices``."""
from __future__ import annotations

import gradio as gr
import numpy as np
import pandas as pd

from ..data import DataError
from ..explain.slices import KIND_HELP, KINDS, align, disagreements, slice_table, slices
from .plots.slices import slice_figure
from ..metrics import METRIC_NAMES, compute_metrics
from .common import callback, fit_widths, note, placeholder_figure, short
from .context import SPLITS, AppContext
from .slots import PAIR
from .shared import Shared

METRICS = ("acc2_non0", "acc7", "mae", "corr")            # shown in the table (all of them, for both models)
METRIC_CHOICES = [(METRIC_NAMES[k], k) for k in METRICS]  # the bar chart's metric
TOP = 20


def _pair(ctx: AppContext, split: str):
    """(names, {name: view}, rows per model) of the two slots on the samples they share."""
    keys = [k for k in PAIR if k in ctx.slots]
    if len(keys) < 2:
        raise ValueError("only one checkpoint is loaded: start the app with --compare-checkpoint DIR to compare two")
    views = {k: ctx.split_view(k, split) for k in keys}
    ra, rb = align(views["main"].preds.ids, views["compare"].preds.ids)
    if len(ra) == 0:
        raise ValueError(f"the two checkpoints share no {split} samples (they were trained on different data or "
                         "splits), so they cannot be compared sample by sample")
    names = {k: "A" if k == "main" else "B" for k in keys}   # columns and bars say A / B; the text says who they are
    return names, views, {"main": ra, "compare": rb}


def compare_view(ctx: AppContext, split: str = "test", kind: str = "polarity", metric: str = "acc2_non0",
                 top: int = TOP):
    """(Markdown, slice table DataFrame, bar figure, disagreements DataFrame)."""
    if kind not in KINDS:
        raise ValueError(f"unknown slice kind {kind!r}; choose among {', '.join(KINDS)}")
    if metric not in METRIC_NAMES:
        raise ValueError(f"unknown metric {metric!r}")
    empty = pd.DataFrame(columns=["slice", "n"]), placeholder_figure("nothing to compare", 300), pd.DataFrame()
    try:
        names, views, rows = _pair(ctx, split)
    except (DataError, FileNotFoundError) as e:
        return (ctx.data_help(e), *empty)
    except ValueError as e:
        return (f"**Not available**: {e}", *empty)
    a = views["main"].preds
    ra = rows["main"]
    ids, texts, label = [a.ids[r] for r in ra], [a.texts[r] for r in ra], np.asarray(a.label)[ra]
    part = ctx.predictor("main").dataset(ctx.data_root()).split(split)
    video_ids = [part.video_ids[r] for r in ra] if part.video_ids and len(part.video_ids) == len(a.ids) else None
    preds = {names[k]: np.asarray(views[k].preds.pred)[rows[k]] for k in PAIR}
    sl = slices(ids, texts, label, video_ids, kinds=[kind])
    table = slice_table(sl, label, preds, metrics=METRICS)
    undefined = corr_undefined(sl, label, preds, table)
    df = pd.DataFrame(table).drop(columns=["kind"])
    for c in df.columns[2:]:
        df[c] = [metric_cell(c, v) for v in df[c]]
    fig = readable_bars(slice_figure(table, list(preds), kind=kind, metric=metric))
    dis = pd.DataFrame(disagreements(ids, texts, label, preds, top=top))
    if len(dis):
        dis["transcript"] = [short(t, 90) for t in dis["transcript"]]
    overall = {n: compute_metrics(p, label) for n, p in preds.items()}
    reading = [f"Slices by **{kind}**: {KIND_HELP[kind]}. Small slices are noisy (see n); Corr is the correlation "
               "within a slice."]
    if kind == "polarity":
        reading.append("The non-0 metrics (Acc-2, F1) leave out the samples labelled exactly 0, so they are n/a on "
                       "the neutral slice.")
    if undefined:
        reading.append(f"Corr is n/a on {', '.join(undefined)}: its labels (or a model's predictions) are all the "
                       "same value, and a correlation needs both to vary.")
    who = {names["main"]: ctx.slots["main"].short_label, names["compare"]: ctx.slots["compare"].short_label}
    lines = [f"**{len(ids)} {split} samples** scored by both checkpoints — "
             + "; ".join(f"**{n}** = `{who[n]}`: Acc-2 (non-0) {m['acc2_non0']:.2f}, MAE {m['mae']:.3f}"
                         for n, m in overall.items())
             + ".", "", " ".join(reading), "",
             f"Below: the {min(top, len(ids))} samples where A and B differ most — click one to open it in the explorer."]
    return "\n".join(lines), df, fig, dis


def corr_undefined(sl, label, preds: dict, table: list[dict]) -> list[str]:
    """Set Corr to NaN in ``table`` on slices where it is undefined (constant labels or predictions; ``metrics``
    reports 0 there) and return those slices' names."""
    names = []
    for s, row in zip(sl, table):
        flat_label = np.ptp(np.asarray(label)[s.rows]) == 0 if len(s.rows) else True
        for name, p in preds.items():
            if flat_label or np.ptp(np.asarray(p)[s.rows]) == 0:
                row[f"{METRIC_NAMES['corr']} · {name}"] = float("nan")
                if s.name not in names:
                    names.append(s.name)
    return names


def metric_cell(column: str, value: float) -> str:
    """A metric as the table shows it: 3 decimals for MAE and Corr, 2 for the others, "n/a" where undefined."""
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{value:.3f}" if "MAE" in column or "Corr" in column else f"{value:.2f}"


def readable_bars(fig):
    """Value labels turned upright-vertical, and hidden where a bar is too narrow for them, so neighbouring labels
    never run together ("97.097.0")."""
    fig.update_traces(textangle=-90, textposition="outside", textfont_size=11, constraintext="none")
    ys = [float(y) for t in fig.data for y in (t.y or ()) if y is not None and np.isfinite(y)]
    top, low = max(ys, default=1.0), min(ys + [0.0])
    # room above the tallest bar for its upright label (it was cut at the top); the legend above the plot area, left
    # of nothing, so it never covers a bar's value
    fig.update_layout(uniformtext=dict(minsize=9, mode="hide"), margin=dict(t=90),
                      yaxis=dict(range=[low * 1.25, top * 1.25 if top > 0 else 0.1]),
                      legend=dict(orientation="h", yanchor="bottom", y=1.08, x=0, xanchor="left"))
    return fig


def disagreement_id(table, row_index) -> str:
    """The sample id in row ``row_index`` of the displayed disagreement table."""
    if isinstance(row_index, (list, tuple)):
        row_index = row_index[0]
    df = table if isinstance(table, pd.DataFrame) else pd.DataFrame(table)
    if row_index is None or "id" not in df.columns or not 0 <= int(row_index) < len(df):
        raise ValueError("click a row of the disagreement table")
    return str(df.iloc[int(row_index)]["id"])


def open_disagreement(table, split: str, evt: gr.SelectData):
    """A click on a disagreement: (tabs, model, split, sample) that open it in the explorer (checkpoint A)."""
    return gr.Tabs(selected="explorer"), "main", split or "test", disagreement_id(table, evt.index)


def fitted_view(ctx: AppContext, split: str, kind: str, metric: str):
    """compare_view with both tables' column widths fitted to their words (no "mosi- std- ta-e5" headers, no
    transcript cut at the table's edge)."""
    md, df, fig, dis = compare_view(ctx, split, kind, metric)
    if not isinstance(df, pd.DataFrame) or not isinstance(dis, pd.DataFrame):
        return md, df, fig, dis
    return (md, gr.Dataframe(value=df, column_widths=fit_widths(df, {}) if len(df.columns) else None), fig,
            gr.Dataframe(value=dis, column_widths=fit_widths(dis, {"transcript": 1.0}) if len(dis.columns) else None))


def build(ctx: AppContext, shared: Shared) -> None:
    with gr.Tab("Compare A vs B", id="compare"):
        gr.HTML(note("compare"))
        with gr.Row():
            split = gr.Dropdown(choices=list(SPLITS), value="test", label="split", elem_id="compare-split", scale=1)
            kind = gr.Radio(choices=list(KINDS), value="polarity", label="slice by", elem_id="compare-kind", scale=3)
            metric = gr.Dropdown(choices=METRIC_CHOICES, value="acc2_non0", label="bar chart",
                                 elem_id="compare-metric", scale=1)
        md = gr.Markdown(elem_id="compare-md")
        plot = gr.Plot(label="metric per slice, A vs B", elem_id="compare-plot")
        table = gr.Dataframe(interactive=False, wrap=True, max_height=360, elem_id="compare-table",
                             label="metrics per slice (A and B)")
        dis = gr.Dataframe(interactive=False, wrap=True, max_height=420, elem_id="compare-disagree",
                           label="where A and B disagree most (click a row to open it in the explorer)")
    gr.on([shared.demo.load, split.change, kind.change, metric.change], callback(fitted_view, ctx),
          [split, kind, metric], [md, table, plot, dis], show_progress="minimal")
    dis.select(callback(open_disagreement), [dis, split], shared.open_sample)
