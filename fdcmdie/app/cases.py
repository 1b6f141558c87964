"""Case-studies tab: a table in the spirit of the paper's Table 8, chosen automatically from the test split; a row
opens in the sample explorer."""
from __future__ import annotations

import pandas as pd

from ..data import DataError
from ..explain.cases import CATEGORY_HELP, case_rows, select_cases
from ..explain.shapley import NOTE as SHAPLEY_NOTE
from .context import AppContext


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
    legend = "\n".join(f"- **{k}**: {v}" for k, v in CATEGORY_HELP.items())
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
