"""Deep links: ``?tab=explorer&split=test&sample=<id>[&model=compare]`` opens that view, and "link to this view" gives
the URL of what is on screen (the Embedding Projector / LIT habit of keeping the state in the URL). ``build`` wires
both once every tab is built (a link may name any tab)."""
from __future__ import annotations

from typing import Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit

import gradio as gr

from . import explorer
from .common import callback
from .context import SPLITS, AppContext
from .shared import Shared

KEYS = ("tab", "model", "split", "sample", "stage", "layer")


def parse_link(query: Mapping[str, str] | None, *, tabs: list[str], models: list[str]) -> tuple[dict, list[str]]:
    """(the view a link asks for, problems in words). Unknown tabs, models and splits are left out and reported; the
    sample id is checked by the explorer (it depends on the split)."""
    query = dict(query or {})
    view, problems = {}, []
    for key, allowed in (("tab", tabs), ("model", models), ("split", list(SPLITS))):
        value = (query.get(key) or "").strip()
        if not value:
            continue
        if value in allowed:
            view[key] = value
        else:
            problems.append(f"the link's {key} {value!r} is not one of {', '.join(allowed)}")
    sample = (query.get("sample") or "").strip()
    if sample:
        view["sample"] = sample
        view.setdefault("tab", "explorer")
    for key in ("stage", "layer"):   # the anatomy's; checked there (they depend on the model)
        if (query.get(key) or "").strip():
            view[key] = query[key].strip()
    return view, problems


def page_url(request) -> str:
    """The page's address without its query: the browser's Referer of this request (what the user sees, proxies
    included), else the Host header."""
    headers = getattr(request, "headers", None) or {}
    referer = headers.get("referer") or ""
    if referer.startswith(("http://", "https://")):
        parts = urlsplit(referer)
        return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", ""))
    host = headers.get("host") or "127.0.0.1:7860"
    return f"http://{host}/"


def view_link(base: str, *, tab: str = "explorer", model: str | None = None, split: str | None = None,
              sample: str | None = None, **more) -> str:
    """``base`` + the query that reopens this view (model only when not the main checkpoint; ``more``: a tab's own
    state, e.g. the anatomy's stage and layer)."""
    query = {"tab": tab}
    if model and model != "main":
        query["model"] = model
    if split:
        query["split"] = split
    if sample:
        query["sample"] = sample
    query.update({k: str(v) for k, v in more.items() if v not in (None, "")})
    return f"{base}?{urlencode(query)}"


def open_view(ctx: AppContext, tab_ids: list[str], model_key: str, split: str, label_min: float, label_max: float,
              polarity: str, large_error: bool, disagree: bool, current: str | None, request: gr.Request):
    """On page load: the explorer filled, opened at the view the link asks for; what the link got wrong is said in
    the table's status line. Returns (model chooser, table, sample chooser, status, split, tabs)."""
    choices = ctx.model_choices() or [("main checkpoint", "main")]
    keys = [k for _, k in choices]
    link, problems = parse_link(getattr(request, "query_params", None), tabs=tab_ids, models=keys)
    model_key, split = link.get("model", model_key), link.get("split", split)
    current = link.get("sample", current)
    chosen = None
    if not current:   # no link to a sample: the page opens on one chosen on purpose, its plots filled (issue 30)
        chosen = explorer.first_sample(ctx, model_key, split)
        current = chosen[0] if chosen else None
    df, sample_update, msg = explorer.refresh_table(ctx, model_key, split, label_min, label_max, polarity, large_error,
                                                    disagree, current)
    if chosen and sample_update.get("value") == current:
        msg = f"{msg} Opened on `{current}`: {chosen[1]} — click any row to see another."
    elif current and sample_update.get("value") != current:
        problems.append(f"the link's sample {current!r} is not in the {split} split")
    if problems:
        msg = f"{msg} ⚠ {'; '.join(problems)}."
    return (gr.update(choices=choices, value=model_key if model_key in keys else keys[0]), df, sample_update, msg,
            split, gr.Tabs(selected=link["tab"]) if "tab" in link else gr.skip())


def make_link(model_key: str, split: str, sample_id: str | None, request: gr.Request) -> str:
    return view_link(page_url(request), model=model_key, split=split, sample=sample_id)


def build(ctx: AppContext, shared: Shared) -> None:
    """Open the linked view on page load; keep "link to this view" up to date."""
    s = shared
    s.demo.load(callback(open_view, ctx, list(s.tab_ids)), s.filters + [s.sample],
                [s.model, s.table_outputs[0], s.sample, s.table_outputs[2], s.split, s.tabs])
    gr.on([s.selected.change, s.model.change, s.split.change], callback(make_link), [s.model, s.split, s.sample],
          [s.view_link], show_progress="hidden", api_visibility="private")
