"""The Representation-space tab end to end in a real browser (the session's one served app and Chromium page,
tests/conftest.py): switch the maps to PCA, click a point, and the explorer shows that sample; the sample's
neighbours open in turn; word search; export. Screenshots go to tests/_artifacts/ (gitignored).

This proves the click path chosen in fdcmdie/app/space.py: ``gr.Plot`` (plotly) only fires ``change``, so a small
script binds plotly's own ``plotly_click`` and hands the clicked point's sample id to a hidden textbox.
"""
from __future__ import annotations

import pytest

from test_app_support import ISOLATED_POINT_JS, no_error_toasts, screenshot, text_of, wait_tab, wait_text

@pytest.mark.slow
def test_space_tab_click_through(served_app, page):
    mark = served_app.mark()
    page.goto(served_app.url)
    page.get_by_role("tab", name="Representation space").click()
    wait_text(page, "#map-main", "PCA,", 600)           # the warm-up's maps: the projection the tab opens on
    wait_text(page, "#map-compare", "PCA,", 120)

    # ---- UMAP, fitted when first asked for (the status line lists it), then back to PCA: redrawn from the cache
    page.locator("#space-method label").filter(has_text="UMAP").click()
    wait_text(page, "#map-main", "UMAP,", 600)
    wait_text(page, "#map-compare", "UMAP,", 120)
    page.locator("#space-method label").filter(has_text="PCA").click()
    wait_text(page, "#map-main", "PCA,", 120)
    wait_text(page, "#map-compare", "PCA,", 60)
    assert "transform" in text_of(page, "#space-status")
    wait_text(page, "#space-cosines", "shared · shared, same sample", 300)
    assert text_of(page, "#space-cosines").count("How to read this") == 3
    page.wait_for_selector("#space-hist .js-plotly-plot", timeout=60_000)

    # ---- click a point of the with-CL map: the explorer opens that sample
    page.wait_for_selector("#map-main .js-plotly-plot .scatterlayer .point", timeout=60_000)
    target = page.evaluate(ISOLATED_POINT_JS, "#map-main")
    assert target["n"] > 100 and target["gap"] > 3, target
    page.mouse.move(target["x"], target["y"])
    page.wait_for_timeout(300)                            # plotly picks the hovered point
    page.mouse.click(target["x"], target["y"])
    wait_text(page, "#space-sample", target["id"], 120)
    assert page.locator("#space-click textarea, #space-click input").first.input_value().startswith(
        f"{target['id']}|map-main|")
    wait_text(page, "#map-main", f"sample {target['id']}", 120)     # its constellation on both maps
    wait_text(page, "#map-compare", f"sample {target['id']}", 60)
    page.wait_for_selector("#nn-shared .body-cell", timeout=60_000)
    no_error_toasts(page)
    screenshot(page, "e2e-space-pca-click")
    page.get_by_role("tab", name="Sample explorer").click()
    wait_text(page, "#sample-md", target["id"], 60)
    assert "prediction" in text_of(page, "#sample-md")
    screenshot(page, "e2e-space-explorer")

    # ---- a neighbour opens in turn (map → sample → neighbour)
    page.get_by_role("tab", name="Representation space").click()
    cells = page.locator("#nn-shared .body-cell")
    cells.first.wait_for(timeout=60_000)
    neighbour = cells.nth(1).inner_text().strip()          # row 1: "#", "id", …
    assert neighbour and neighbour != target["id"]
    cells.nth(1).click()
    wait_text(page, "#space-sample", neighbour, 120)
    wait_text(page, "#map-main", f"sample {neighbour}", 120)
    page.locator("#space-open").click()
    wait_text(page, "#sample-md", neighbour, 60)
    wait_tab(page, "Sample explorer")

    # ---- word search and export, back on the maps
    page.get_by_role("tab", name="Representation space").click()
    page.locator("#space-query input, #space-query textarea").first.fill("movie")
    page.locator("#space-query input, #space-query textarea").first.press("Enter")
    wait_text(page, "#space-status", "samples contain “movie”", 60)
    wait_text(page, "#map-main", "contains “movie”", 60)
    page.locator("#space-color label").filter(has_text="prediction error").click()
    wait_text(page, "#map-main", "colour = |error|", 60)
    page.locator("#space-export").click()
    page.wait_for_function("() => { const t = document.querySelector('#space-files')?.innerText || ''; "
                           "return ['.png', '.svg', '.csv'].every(e => t.includes(e)); }", timeout=120_000)
    no_error_toasts(page)
    screenshot(page, "e2e-space-search-export")
    assert "Traceback" not in served_app.log_since(mark)
