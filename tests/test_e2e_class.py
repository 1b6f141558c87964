"""In front of a class (issue 32; issue 30, item 4), in headless Chromium on the session's served app
(tests/conftest.py): the first page opens on a sample with its plots filled; every lesson step's quoted numbers and
its sentence on GAP's weights agree with what the page shows for that sample (read from the page, not from the
server); switching the explorer to every checkpoint it offers never leaves the previous checkpoint's table on screen
and never adds a second tab; the anatomy's typed layer redraws the view and its link carries stage and layer.

Each check is a function of (page, url) so the same walk runs against any served app (``python app.py``):

    python -c "import sys; sys.path.insert(0, 'tests'); import test_e2e_class as t; t.run_all('http://127.0.0.1:7860/')"

Screenshots go to tests/_artifacts/class-*.png.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml

from test_app_support import (ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, TOAST_RECORDER_JS, no_error_toasts, settle, text_of,
                               wait_tab, wait_text)

ROOT = Path(__file__).resolve().parents[1]

SLOW = 900   # seconds a first use may take on a fresh cache (a split's predictions and Shapley values, two cores)
NUMBER = re.compile(r"(?<![\w.])[+\-−]?\d+\.\d\d(?![\d%])")


def numbers(text: str) -> set[str]:
    """The two-decimal numbers of a text, written one way ("−0.73" and "-0.73" alike; "±0.00" as "0.00")."""
    out = set()
    for n in NUMBER.findall(text):
        n = n.replace("−", "-")
        out.add("0.00" if n.lstrip("+-") == "0.00" else n)
    return out


def screenshot(page, name: str) -> None:
    """A full-page screenshot to tests/_artifacts/ (a page still laying out a plot may take a minute on busy cores)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True, timeout=180_000)


def visible_tabs(page) -> list[str]:
    return page.evaluate("() => [...document.querySelectorAll('button[role=tab]')]"
                         ".filter(e => e.offsetParent !== null).map(e => e.innerText.trim())")


def tab_bar(page) -> list[str]:
    """Every button of the tab bar, shown or not (a duplicate hidden by CSS or in the overflow menu counts), as
    "label=data-tab-id"."""
    return page.evaluate("() => [...document.querySelectorAll('button[role=tab]')]"
                         ".map(e => e.innerText.trim() + '=' + (e.dataset.tabId || ''))")


def open_every_tab(page, tabs: list[str]) -> None:
    """Open each tab in turn and wait for its content: the bar stays the same, no second button of any name or id."""
    for name in tabs:
        page.get_by_role("tab", name=name, exact=True).click(timeout=120_000)
        wait_tab(page, name, 300)      # a tab's first opening draws its content (minutes on busy cores)
        page.wait_for_timeout(1500)
        assert visible_tabs(page) == tabs, (name, visible_tabs(page))
        bar = tab_bar(page)
        assert len(bar) == len(set(bar)) == len(tabs), (name, bar)


def choose(page, selector: str, option: str) -> None:
    """Pick ``option`` in the Gradio dropdown ``selector`` (force: the status line above it redraws every 2 s, so
    Playwright never finds the page "stable" for a normal click)."""
    page.locator(f"{selector} input").click(force=True, timeout=120_000)
    item = page.locator("ul[role=listbox] li").filter(has_text=option).first
    item.wait_for(timeout=120_000)
    item.click(force=True, timeout=120_000)


def options(page, elem_id: str) -> list[str]:
    """The labels of a dropdown's choices, from the page's Gradio config (opening the list to read it left it in
    the way of the next click)."""
    return page.evaluate("(id) => window.gradio_config.components.find(c => c.props.elem_id === id)"
                         ".props.choices.map(c => c[0])", elem_id)


# ------------------------------------------------------------------------------------------------- the checks


def first_page(page, url: str) -> None:
    """Issue 30, item 4: a fresh page shows a sample, its prediction, its word colours and its GAP bars."""
    page.goto(url)
    page.evaluate(TOAST_RECORDER_JS)
    wait_text(page, "#table-status", "Opened on", SLOW)
    wait_text(page, "#sample-md", "prediction", SLOW)
    sample_id = re.search(r"Opened on (\S+):", text_of(page, "#table-status")).group(1)
    assert sample_id in text_of(page, "#sample-md")
    page.wait_for_selector("#sample-plot .js-plotly-plot .bars", timeout=SLOW * 1000)
    wait_text(page, "#sample-words-md", "Strongest words", SLOW)
    assert len(visible_tabs(page)) == len(set(visible_tabs(page)))
    no_error_toasts(page)
    screenshot(page, "class-first-page")


def lesson_steps(page) -> list[str]:
    steps = page.locator("#lesson-step label")
    return [steps.nth(i).inner_text().strip() for i in range(steps.count())]


def walk_lessons(page, url: str) -> int:
    """Every step of every lesson: Show me, then each number the step quotes for an explorer sample is on the
    explorer's sample view, its sentence on GAP's weights is the explorer's, and an anatomy step's gate and α are
    the anatomy's. Returns how many steps were walked."""
    page.goto(url)
    page.evaluate(TOAST_RECORDER_JS)
    settle(page, SLOW)
    page.get_by_role("tab", name="Lessons").click()
    wait_text(page, "#lesson-summary", "steps", 120)
    walked = 0
    for lesson in options(page, "lesson-choice"):
        page.get_by_role("tab", name="Lessons").click()
        choose(page, "#lesson-choice", lesson)
        wait_text(page, "#lesson-body", "Step 1 of", SLOW)
        count = len(lesson_steps(page))
        for i in range(count):
            page.get_by_role("tab", name="Lessons").click()
            if i:
                page.locator("#lesson-next").click()
            wait_text(page, "#lesson-body", f"Step {i + 1} of {count}", SLOW)
            body = text_of(page, "#lesson-body")
            page.get_by_text("Reveal the answer").click()
            page.wait_for_timeout(300)
            answer = text_of(page, "#lesson-answer")
            sample = re.search(r"Sample (\S+) \(test split", body).group(1)
            said = body.split("Sample " + sample)[0] + "\n" + answer      # the step's own text, not the footnote
            page.locator("#lesson-show").click()
            wait_text(page, "#lesson-status", "Opened", 120)
            status = text_of(page, "#lesson-status")
            if "Sample explorer" in status:
                wait_tab(page, "Sample explorer")
                wait_text(page, "#sample-md", sample, SLOW)
                wait_text(page, "#sample-md", "Baseline", SLOW)
                shown = text_of(page, "#sample-md")
                missing = numbers(said) - numbers(shown) - numbers(text_of(page, "#whatif-md"))
                assert not missing, (lesson, i + 1, sorted(missing), said, shown)
                for sentence in re.findall(r"GAP (?:weighed|mixed in) [^.]*\.", said):   # the weighing rule's
                    assert sentence in shown, (lesson, i + 1, sentence, shown)
            elif "Model anatomy" in status:
                wait_tab(page, "Model anatomy")
                wait_text(page, "#anatomy-status", sample, SLOW)
                stage_md = text_of(page, "#anatomy-stage-md")
                if "GAP stage" in said or "gate" in said:
                    wait_text(page, "#anatomy-stage-md", "Gated attention pooling", 120)
                    stage_md = text_of(page, "#anatomy-stage-md")
                    quoted = numbers(said.split("In the last layer")[-1]) if "In the last layer" in said else set()
                    last = re.split(r"layer \d+:", stage_md.split("In the last layer")[0])[-1]   # the last layer's
                    assert quoted <= numbers(last), (lesson, i + 1, quoted, stage_md)
                assert stage_md
            elif "Representation space" in status:
                wait_tab(page, "Representation space")
                wait_text(page, "#map-main", "PCA", SLOW)
            no_error_toasts(page)
            screenshot(page, f"class-lesson-{lesson[:12].replace(' ', '-')}-{i + 1}")
            walked += 1
    return walked


def switch_checkpoints(page, url: str) -> int:
    """Every tab opened; then the explorer on every checkpoint it offers: within a few seconds of the switch the
    previous table is gone (or the new one is up); then the new table fills; then every tab opened again. There is
    never a second tab of any name. Returns how many checkpoints were visited."""
    page.goto(url)
    page.evaluate(TOAST_RECORDER_JS)
    wait_text(page, "#table-status", "samples match", SLOW)
    settle(page, SLOW)
    tabs = visible_tabs(page)
    assert len(tabs) == len(set(tabs)) >= 8, tabs
    open_every_tab(page, tabs)        # issue 32: opening the model card added a second "Model card" button
    page.get_by_role("tab", name="Sample explorer", exact=True).click()
    wait_tab(page, "Sample explorer")
    models = options(page, "explorer-model")
    first_rows = lambda: page.evaluate("() => [...document.querySelectorAll('#sample-table .body-cell')]"
                                       ".slice(0, 30).map(r => r.innerText).join('|')")
    for name in models[1:] + models[:1]:
        before = first_rows()
        choose(page, "#explorer-model", name)
        t0, fresh = time.time(), False
        # within 5 s the old table is cleared, or marked as being replaced (the status line above it says which
        # checkpoint's predictions are being read: the class warm-up may have them in memory already, and then the
        # table is left up for its refill), or the new one is there
        while time.time() - t0 < 5 and not fresh:
            status, rows = text_of(page, "#table-status"), first_rows()
            fresh = "Reading the" in status or ("samples match" in status and rows != before)
            page.wait_for_timeout(200)
        assert fresh, (name, text_of(page, "#table-status"), before[:200], first_rows()[:200])
        wait_text(page, "#table-status", "samples match", SLOW)
        assert "Reading the" not in text_of(page, "#table-status") and first_rows() != before, name
        assert visible_tabs(page) == tabs, (name, visible_tabs(page))
        no_error_toasts(page)
        screenshot(page, f"class-explorer-{len(name)}")
    open_every_tab(page, tabs)        # and again with every checkpoint's predictions made
    wait_text(page, "#card-md", "Checkpoints", 300)
    return len(models)


def anatomy_layer_and_link(page, url: str) -> None:
    """A layer typed in the anatomy's box redraws the DIPU view at that layer; the link carries stage and layer and
    reopens them."""
    page.goto(url)
    page.evaluate(TOAST_RECORDER_JS)
    wait_text(page, "#table-status", "samples match", SLOW)
    sample = re.search(r"Opened on (\S+):", text_of(page, "#table-status")).group(1)
    page.goto(f"{url}?tab=anatomy&split=test&sample={sample}&stage=dipu")
    wait_tab(page, "Model anatomy")
    wait_text(page, "#anatomy-status", sample, SLOW)
    wait_text(page, "#anatomy-stage-md", "DIPU, layer 1", 120)
    box = page.locator("#anatomy-layer input[type=number]")
    page.wait_for_function("() => { const e = document.querySelector('#anatomy-layer input[type=number]');"
                           " return e && !e.disabled && Number(e.max) >= 2; }", timeout=SLOW * 1000)
    box.fill("2", timeout=120_000)
    box.press("Enter")
    wait_text(page, "#anatomy-stage-md", "DIPU, layer 2", 120)
    link = page.locator("#anatomy-link textarea, #anatomy-link input").first
    page.wait_for_function("() => { const e = document.querySelector('#anatomy-link textarea, #anatomy-link input');"
                           " return e && e.value.includes('layer=2'); }", timeout=60_000)
    value = link.input_value()
    assert "stage=dipu" in value and "layer=2" in value and f"sample={sample}" in value, value
    page.goto(value)
    wait_tab(page, "Model anatomy")
    wait_text(page, "#anatomy-stage-md", "DIPU, layer 2", SLOW)
    no_error_toasts(page)
    screenshot(page, "class-anatomy-link")


def run_all(url: str) -> None:
    """The walk against any served app (development: ``python app.py`` and this URL)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        first_page(page, url)
        print("first page: ok")
        anatomy_layer_and_link(page, url)
        print("anatomy: ok")
        print("checkpoints:", switch_checkpoints(page, url))
        print("lesson steps:", walk_lessons(page, url))
        browser.close()


# ------------------------------------------------------------------------------------------------- the tests


@pytest.mark.slow
def test_first_page_shows_a_sample(served_app, page):
    mark = served_app.mark()
    first_page(page, served_app.url)
    assert "Traceback" not in served_app.log_since(mark)


@pytest.mark.slow
def test_every_lesson_step_quotes_what_the_page_shows(served_app, page):
    mark = served_app.mark()
    steps = sum(len(yaml.safe_load(f.read_text())["steps"]) for f in (ROOT / "lessons").glob("*.yaml"))
    assert walk_lessons(page, served_app.url) == steps
    assert "Traceback" not in served_app.log_since(mark)


@pytest.mark.slow
def test_explorer_switches_checkpoints_without_a_stale_table_or_a_second_tab(served_app, page):
    mark = served_app.mark()
    assert switch_checkpoints(page, served_app.url) >= 2
    assert "Traceback" not in served_app.log_since(mark)


@pytest.mark.slow
def test_anatomy_typed_layer_and_link(served_app, page):
    mark = served_app.mark()
    anatomy_layer_and_link(page, served_app.url)
    assert "Traceback" not in served_app.log_since(mark)
