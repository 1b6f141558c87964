"""A new user's walk through the whole page in headless Chromium (issue 21, item 4; the session's one served app and
page, tests/conftest.py): every tab visited, a sample picked, what-if run (and every modality switched off), a typed
sentence analysed, the maps switched between projections, a map point clicked, the case studies, the A-vs-B slices,
the model card, a lesson's step opened and the model's anatomy of a sample. It fails on any error
toast the page showed (recorded as they appear: toasts vanish) and on any traceback in the server log. Screenshots
of every step go to tests/_artifacts/walk-*.png.

The walk is the list ``WALK``: one (name, function of the page) per step; a new tab adds its steps there.
"""
from __future__ import annotations

import pytest

from test_app_support import ISOLATED_POINT_JS, TOAST_RECORDER_JS, screenshot, text_of, wait_tab, wait_text


def tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    wait_tab(page, name)


def explorer(page):
    wait_text(page, "#table-status", "samples match", 900)   # the first page pays the split's predictions
    first = page.locator("#sample-table .body-cell").first
    sample_id = first.inner_text().strip()
    first.click()
    wait_text(page, "#sample-md", sample_id, 120)
    wait_text(page, "#sample-words-md", "Strongest words", 180)
    page.wait_for_selector("#sample-plot .js-plotly-plot .bars", timeout=60_000)


def what_if(page):
    boxes = page.locator("#whatif-drop label")
    names = [boxes.nth(i).inner_text().strip() for i in range(boxes.count())]
    for name in names[1:]:                                  # everything but the words off
        boxes.filter(has_text=name).click()
    page.locator("#whatif-run").click()
    wait_text(page, "#whatif-md", "switched off", 120)
    page.wait_for_selector("#whatif-plot .js-plotly-plot .bars", timeout=60_000)
    page.locator("#whatif-words-md").scroll_into_view_if_needed()


def nothing_left(page):
    boxes = page.locator("#whatif-drop label")
    boxes.first.click()                                     # now every modality is off: said in place, no toast
    page.locator("#whatif-run").click()
    wait_text(page, "#whatif-md", "Nothing left to predict from", 60)
    boxes.first.click()


def upload_text(page):
    tab(page, "Upload")
    page.locator("#upload-transcript textarea").fill("what a dull and boring film, i almost fell asleep")
    page.locator("#upload-run").click()
    wait_text(page, "#upload-pred", "Prediction:", 180)
    wait_text(page, "#upload-words-md", "Strongest words", 120)


def space_projections(page):
    tab(page, "Representation space")
    wait_text(page, "#map-main", "test samples)", 600)     # the projection the tab opens on (--projection)
    wait_text(page, "#map-compare", "test samples)", 120)
    page.locator("#space-method label").filter(has_text="t-SNE").click()
    wait_text(page, "#map-main", "t-SNE,", 600)
    wait_text(page, "#map-compare", "t-SNE,", 120)
    status = text_of(page, "#space-status")
    assert "t-SNE has no transform" in status
    assert "are t-SNE" not in status


def space_click(page):
    page.locator("#space-method label").filter(has_text="PCA").click()
    wait_text(page, "#map-main", "PCA,", 120)
    page.wait_for_selector("#map-main .js-plotly-plot .scatterlayer .point", timeout=60_000)
    target = page.evaluate(ISOLATED_POINT_JS, "#map-main")
    page.mouse.move(target["x"], target["y"])
    page.wait_for_timeout(300)
    page.mouse.click(target["x"], target["y"])
    wait_text(page, "#space-sample", target["id"], 120)
    page.wait_for_selector("#nn-shared .body-cell", timeout=60_000)
    wait_text(page, "#space-cosines", "shared · shared", 300)


def cases(page):
    tab(page, "Case studies")
    page.locator("#cases-table .body-cell").first.wait_for(timeout=180_000)


def compare(page):
    tab(page, "Compare A vs B")
    wait_text(page, "#compare-md", "scored by both checkpoints", 180)
    page.locator("#compare-kind label").filter(has_text="polarity").click()
    wait_text(page, "#compare-md", "neutral slice", 60)
    page.wait_for_selector("#compare-plot .js-plotly-plot .bars", timeout=60_000)


def model_card(page):
    tab(page, "Model card")
    wait_text(page, "#card-md", "Checkpoints", 120)
    page.wait_for_selector("#card-plot .js-plotly-plot", timeout=60_000)


def lessons(page):
    tab(page, "Lessons")
    wait_text(page, "#lesson-summary", "choose one to begin", 120)   # nothing is computed until a step is chosen
    page.locator("#lesson-step label").first.click()
    wait_text(page, "#lesson-body", "Step 1 of", 900)      # the lesson's rule reads the split's Shapley values
    page.get_by_text("Reveal the answer").click()
    page.locator("#lesson-show").click()                    # the live view set to the step's state
    page.wait_for_timeout(3000)


def anatomy(page):
    tab(page, "Model anatomy")
    page.locator("#anatomy-run").click()
    page.wait_for_selector("#anatomy-plot .js-plotly-plot", timeout=300_000)


# (name, step): the screenshot of each is tests/_artifacts/walk-<nn>-<name>.png; a new tab adds its steps here
WALK = [("explorer", explorer), ("what-if", what_if), ("what-if-nothing-left", nothing_left),
        ("upload-typed", upload_text), ("space-tsne", space_projections), ("space-pca-click", space_click),
        ("cases", cases), ("compare", compare), ("model-card", model_card), ("lessons", lessons),
        ("anatomy", anatomy)]


@pytest.mark.slow
def test_walk_every_tab_without_an_error(served_app, page):
    page.add_init_script(TOAST_RECORDER_JS)
    mark = served_app.mark()
    page.goto(served_app.url)
    for i, (name, step) in enumerate(WALK):
        try:
            step(page)
        except Exception:
            screenshot(page, f"walk-{i:02d}-{name}-FAILED")
            raise AssertionError(f"step {name!r} failed; toasts {page.evaluate('() => window.__fdcmdieToasts')}; "
                                 f"server log:\n{served_app.log_since(mark)[-3000:]}")
        screenshot(page, f"walk-{i:02d}-{name}")
    page.wait_for_timeout(2000)                             # a late event (timers, polls) shows its toast too
    toasts = page.evaluate("() => window.__fdcmdieToasts")
    log = served_app.log_since(mark)
    assert toasts == [], toasts
    assert "Traceback" not in log, log[-4000:]
