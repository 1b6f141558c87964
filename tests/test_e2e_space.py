"""The Representation-space tab end to end in a real browser (launched as tests/test_e2e_browser.py does: `python
app.py` on a free port, Playwright with Debian's headless Chromium): switch the maps to PCA, click a point, and the
explorer shows that sample; the sample's neighbours open in turn; word search; export. Screenshots go to
tests/_artifacts/ (gitignored).

This proves the click path chosen in fdcmdie/app/space.py: ``gr.Plot`` (plotly) only fires ``change``, so a small
script binds plotly's own ``plotly_click`` and hands the clicked point's sample id to a hidden textbox.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from serving import free_port, start_app, stop_app, wait_http
from test_app_support import UMAP_SMALL, app_checkpoints  # noqa: F401  (fixture)
from test_e2e_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, no_error_toasts, text_of, wait_tab, wait_text


# the most isolated dataset point of the map (pixel coordinates in the page), so a click hits that point only
ISOLATED_POINT_JS = """
(sel) => {
  const gd = document.querySelector(`${sel} .js-plotly-plot`);
  const L = gd._fullLayout, box = gd.getBoundingClientRect();
  const pts = [];
  gd._fullData.forEach((tr, t) => {
    if (!tr.customdata || tr.mode !== "markers") return;
    tr.x.forEach((x, i) => pts.push({t, i, id: tr.customdata[i],
      px: box.left + L._size.l + L.xaxis.l2p(x), py: box.top + L._size.t + L.yaxis.l2p(tr.y[i])}));
  });
  let best = null, bestGap = -1;
  for (const p of pts) {
    let gap = Infinity;
    for (const q of pts) if (q !== p) gap = Math.min(gap, Math.hypot(p.px - q.px, p.py - q.py));
    if (gap > bestGap) { bestGap = gap; best = p; }
  }
  return {id: best.id, x: best.px, y: best.py, gap: bestGap, n: pts.length};
}
"""


@pytest.mark.slow
def test_space_tab_click_through(app_checkpoints, data_root, tmp_path):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (never `playwright install`)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tmp_path / "app.log"
    cl, nocl = app_checkpoints
    proc = start_app(["--checkpoint", str(cl), "--compare-checkpoint", str(nocl), "--data", str(data_root),
                      "--host", "127.0.0.1", "--port", str(port), "--cache-dir", str(tmp_path / "cache"),
                      "--umap-max-samples", str(UMAP_SMALL["umap_max_samples"]),
                      "--umap-epochs", str(UMAP_SMALL["umap_epochs"]), "--no-extract-warmup"], log)
    try:
        wait_http(url, proc, log)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(url)
            page.get_by_role("tab", name="Representation space").click()
            wait_text(page, "#map-main", "UMAP,", 600)          # the warm-up's UMAP maps
            wait_text(page, "#map-compare", "UMAP,", 120)

            # ---- switch to PCA: both maps redrawn from the cache, the numbers below
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
            page.screenshot(path=str(ARTIFACTS / "e2e-space-pca-click.png"), full_page=True)
            page.get_by_role("tab", name="Sample explorer").click()
            wait_text(page, "#sample-md", target["id"], 60)
            assert "prediction" in text_of(page, "#sample-md")
            page.screenshot(path=str(ARTIFACTS / "e2e-space-explorer.png"), full_page=True)

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
            page.screenshot(path=str(ARTIFACTS / "e2e-space-search-export.png"), full_page=True)
            browser.close()
        assert proc.poll() is None, "the app stopped while serving"
    finally:
        stop_app(proc, log, ARTIFACTS / "e2e-space-app.log")
