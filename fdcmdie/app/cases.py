"""Case-studies tab: a table in the spirit of the paper's Table 8, chosen automatically from the test split; a row
opens in the sample explorer."""
from __future__ import annotations

import gradio as gr
import pandas as pd

from ..data import DataError
from ..explain.cases import case_rows, category_help, select_cases
from ..explain.shapley import NOTE as SHAPLEY_NOTE
from .common import callback, fit_widths, note
from .context import AppContext
from .shared import Shared


def case_table(ctx: AppContext, model_key: str = "main", split: str = "test", per_category: int = 2):
    """(DataFrame, Markdown legend). Without data: an empty table and how to point ``--data`` at MOSI."""
    try:
        view = ctx.split_view(model_key, split)
    except (DataError, FileNotFoundError) as e:
        return pd.DataFrame(columns=["case", "id", "transcript"]), ctx.data_help(e)
    except ValueError as e:
        return pd.DataFrame(columns=["case", "id", "transcript"]), f"**Not available**: {e}"
    p = ctx.predictor(model_key)
    shapley = ctx.shapley(model_key, split)
    cases = select_cases(view.preds, view.ablations, per_category=per_category, shapley=shapley)
    df = pd.DataFrame(case_rows(cases, view.preds, view.ablations, p.modalities, shapley=shapley))
    legend = "\n".join(f"- **{k}**: {v}" for k, v in category_help(p.modalities).items())
    legend += f"\n\n{SHAPLEY_NOTE}"
    return df, f"{len(df)} cases from the {split} split, predicted by {ctx.slots[model_key].label}.\n\n{legend}"


def case_id(table, row_index) -> str:
    """The sample id in row ``row_index`` of the displayed case table."""
    if isinstance(row_index, (list, tuple)):
        row_index = row_index[0]
    df = table if isinstance(table, pd.DataFrame) else pd.DataFrame(table)
    if row_index is None or not 0 <= int(row_index) < len(df) or "id" not in df.columns:
        raise ValueError("click a row of the case table")
    return str(df.iloc[int(row_index)]["id"])


# columns whose text wraps at spaces: they share what the others leave (transcript first)
FREE_COLUMNS = {"transcript": 0.64, "why chosen": 0.36}


def column_widths(df: pd.DataFrame) -> list[str] | None:
    """Widths that keep every header and id on whole words; the transcript and the reason share the rest."""
    return fit_widths(df, FREE_COLUMNS) if len(df.columns) > 3 else None


def load_cases(ctx: AppContext, model_key: str = "main"):
    """(table with its column widths, legend) of one checkpoint's cases."""
    df, md = case_table(ctx, model_key or "main")
    return gr.Dataframe(value=df, column_widths=column_widths(df)), md


def init_cases(ctx: AppContext, model_key: str):
    """On page load: the checkpoints that load as choices, and the cases of the chosen one."""
    choices = ctx.model_choices() or [("main checkpoint", "main")]
    keys = [k for _, k in choices]
    key = model_key if model_key in keys else keys[0]
    return (gr.update(choices=choices, value=key), *load_cases(ctx, key))


def open_case(table, model_key: str, evt: gr.SelectData):
    """A click on a case: (tabs, model, split, sample) that open it in the explorer."""
    return gr.Tabs(selected="explorer"), model_key or "main", "test", case_id(table, evt.index)


def build(ctx: AppContext, shared: Shared) -> None:
    with gr.Tab("Case studies", id="cases"):
        gr.HTML(note("cases"))
        model = gr.Dropdown(choices=[(slot.short_label, key) for key, slot in ctx.slots.items()], value="main",
                            label="model · data it was trained on (MOSI or MOSEI)", elem_id="cases-model")
        legend = gr.Markdown()
        table = gr.Dataframe(interactive=False, wrap=True, max_height=520, elem_id="cases-table",
                             label="cases (click a row to open it in the explorer)")
    shared.demo.load(callback(init_cases, ctx), [model], [model, table, legend])
    model.input(callback(load_cases, ctx), [model], [table, legend])
    table.select(callback(open_case), [table, model], shared.open_sample)
