"""First use on a fresh start (issue 32): what a class waits for the first time it opens each view, timed over HTTP
on ``python app.py`` started on an empty result cache. Used by benchmarks/app.py (its "First use" section).

Two rounds, each a fresh start on a new, empty cache folder:
- *right after Ready*: the first-use calls start as soon as the log says "warm-up ready" (a teacher who clicks at
  once: a call waits for what the background warm-up is still making, or makes it);
- *once the background is done*: the calls start when the log says "warm-up finished" (the class warm-up of
  fdcmdie/app/warmup.py made them at low priority); the seconds from Ready to then are reported.

The calls, in this order: each browse checkpoint in the explorer (its table, /refresh_table, then the sample it opens
on, /show_sample), the first UMAP and t-SNE maps (/draw_maps polled until the maps replace "being computed"; a map
is never made in a request), compare's first open (/fitted_view), and the first step of each lesson with its Show
me as the page runs it (/lesson_step, /lesson_show, then the view it opens: /show_sample or /run_trace).
"""
from __future__ import annotations

import re
import time
from pathlib import Path

GOAL_S = 5.0
CLASS_STEP = re.compile(r"class warm-up: (.+) in ([0-9.]+) s")
SAMPLE = re.compile(r"Sample `?([^`\s]+)`? \((\w+) split")   # the id as the step writes it (in Markdown backticks)


def browse_keys(app_args: str) -> list[str]:
    """The browse checkpoints the app offers with these arguments (its default list where they do not say)."""
    from fdcmdie.app import AppOptions
    given = re.findall(r"--browse-checkpoint[ =](\S+)", app_args or "")
    paths = [p for p in given if p.lower() not in ("", "none")] if given else list(AppOptions.browse_checkpoints)
    return [Path(p).name for p in paths if (Path(p) / "config.json").is_file()]


def until_drawn(call, timeout: float = 3600.0, poll: float = 0.5):
    """``call()`` repeated until its answer no longer says a map is being computed; the last answer."""
    t0 = time.perf_counter()
    while True:
        out = call()
        if "being computed" not in str(out) or time.perf_counter() - t0 > timeout:
            return out
        time.sleep(poll)


def calls(url: str, app_args: str = "") -> list[tuple[str, float, str]]:
    """(what, seconds, note) of each first-use call, in order, on the app at ``url``."""
    from gradio_client import Client

    from fdcmdie.app import lesson_files as L

    client = Client(url, verbose=False)
    rows = []

    def timed(what, fn, note=""):
        t = time.perf_counter()
        try:
            out = fn()
        except Exception as e:   # said in the report, the other calls still run
            rows.append((what, time.perf_counter() - t, f"error: {str(e)[:120]}"))
            return None
        rows.append((what, time.perf_counter() - t, note))
        return out

    for key in browse_keys(app_args):
        def open_checkpoint(key=key):
            table = client.predict(key, "test", -3, 3, "any", False, False, None, api_name="/refresh_table")
            sample = table[1] if isinstance(table[1], str) else (table[1] or {}).get("value")
            return client.predict(key, "test", sample, api_name="/show_sample") if sample else table
        timed(f"the explorer on {key} (its table, then its first sample)", open_checkpoint)
    for method, name in (("umap", "UMAP"), ("tsne", "t-SNE")):
        timed(f"first {name} maps (both, until drawn)", lambda m=method: until_drawn(
            lambda: client.predict("test", "feature", m, "", api_name="/draw_maps")))
    timed("compare's first open (slices by polarity)", lambda: client.predict("test", "polarity", "acc2_non0",
                                                                              api_name="/fitted_view"))
    lessons, _ = L.load_lessons(L.LESSON_DIR)
    for lesson in lessons:
        def show_me(lesson=lesson):
            body = client.predict(lesson.key, 0, api_name="/lesson_step")
            shown = client.predict(api_name="/lesson_show")
            m = SAMPLE.search(str(body))
            if m is None:
                return shown
            tab = "anatomy" if "Model anatomy" in str(shown) else "explorer"
            model = next((k for k in ("main", "compare") if f"'{k}'" in str(shown[:3])), "main")
            if tab == "anatomy":
                return client.predict(model, "dataset", m.group(2), m.group(1), "", "features", 1, "cross1", "extracted",
                                      api_name="/run_trace")
            return client.predict(model, m.group(2), m.group(1), api_name="/show_sample")
        timed(f"lesson “{lesson.title}”: step 1, Show me", show_me)
    return rows


def run_round(serve, stop, wait_ready, tmp: Path, when: str, app_args: str = "", cache: Path | None = None) -> dict:
    """One fresh start on an empty cache (``cache``: on that folder instead, e.g. a smoke run on a filled one);
    ``when``: "ready" or "done" (see the module's docstring)."""
    cache = cache or tmp / f"results-first-use-{when}"
    proc, url, log, _, t0 = serve(cache)
    try:
        ready = wait_ready(log, t0)
        waited = None
        if when == "done":
            t = time.perf_counter()
            while "warm-up finished" not in log.read_text() and time.perf_counter() - t0 < 7200:
                time.sleep(1)
            waited = time.perf_counter() - t
        rows = calls(url, app_args)
    finally:
        stop(proc)
    steps = [(m.group(1), float(m.group(2))) for m in CLASS_STEP.finditer(log.read_text())]
    return {"ready": ready, "waited": waited, "rows": rows, "steps": steps}


def report(rounds: dict, fmt_s) -> tuple[list[str], list[tuple[str, str, bool | None]]]:
    """(Markdown lines of the section, goals (goal, measured, met) for the summary)."""
    lines = ["## First use (issue 32)", "",
             "What a class waits for the first time it opens each view, on a fresh start (`python app.py` on an "
             "empty result cache), over HTTP (`benchmarks/first_use.py`). *Right after Ready*: the calls start at "
             "the log's \"warm-up ready\"; *background done*: at its \"warm-up finished\", once the class warm-up "
             "(fdcmdie/app/warmup.py, at low priority) has made them. A map is never made in a request: its time is "
             f"until /draw_maps returns it. Goal: each < {fmt_s(GOAL_S)}, or the page shows progress.", ""]
    names = [r[0] for r in next(iter(rounds.values()))["rows"]] if rounds else []
    cols = [w for w in ("ready", "done") if w in rounds]
    head = {"ready": "right after Ready", "done": "background done"}
    lines += ["| first use | " + " | ".join(head[c] for c in cols) + " | goal |",
              "|---|" + "---:|" * len(cols) + "---|"]
    goals = []
    for i, name in enumerate(names):
        cells = []
        for c in cols:
            what, sec, note = rounds[c]["rows"][i]
            cells.append(f"{fmt_s(sec)}{' (' + note + ')' if note else ''}")
        best = rounds[cols[-1]]["rows"][i]
        met = best[1] < GOAL_S and not best[2]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | < {fmt_s(GOAL_S)} {'✓' if met else '✗'} |")
        goals.append((f"first use: {name} < {fmt_s(GOAL_S)} ({head[cols[-1]]})", fmt_s(best[1]), met))
    for c in cols:
        r = rounds[c]
        ready = r["ready"]
        lines += ["", f"*{head[c]}*: ready {fmt_s(ready and ready[0])} after `python app.py`"
                  + (f"; the background (warm-up finished) {fmt_s(r['waited'])} after that" if r["waited"] else "")
                  + ("; class warm-up steps from the log: " + "; ".join(f"{n} {fmt_s(s)}" for n, s in r["steps"])
                     if r["steps"] else "") + "."]
    return lines + [""], goals
