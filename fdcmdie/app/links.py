"""Deep links: ``?tab=explorer&split=test&sample=<id>[&model=compare]`` opens that view, and "link to this view" gives
the URL of what is on screen (the Embedding Projector / LIT habit of keeping the state in the URL)."""
from __future__ import annotations

from typing import Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit

from .context import SPLITS

KEYS = ("tab", "model", "split", "sample")


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
              sample: str | None = None) -> str:
    """``base`` + the query that reopens this view (model only when not the main checkpoint)."""
    query = {"tab": tab}
    if model and model != "main":
        query["model"] = model
    if split:
        query["split"] = split
    if sample:
        query["sample"] = sample
    return f"{base}?{urlencode(query)}"
