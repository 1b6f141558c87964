"""End to end in a real browser: `python app.py` in a subprocess on a free localhost port, driven by Playwright with
Debian's headless Chromium. Pick a sample → prediction, GAP bars and what-if bars; upload a clip made here (espeak-ng
speech, the astronaut's face) → transcript by speech-to-text and a prediction; the UMAP maps with the upload on them;
a case study opens in the explorer; the model card. Screenshots go to tests/_artifacts/ (gitignored).

Not skippable: CI installs chromium (`apt-get install chromium`); never `playwright install`.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

import media_fixtures as mf
from serving import free_port, start_app, stop_app, wait_http
from test_app_support import UMAP_SMALL, app_checkpoints  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "_artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]

def text_of(page, selector: str) -> str:
    return page.locator(selector).inner_text()


def wait_text(page, selector: str, needle: str, timeout_s: float) -> None:
    page.wait_for_function("([sel, needle]) => { const e = document.querySelector(sel); "
                           "return e && e.innerText.includes(needle); }", arg=[selector, needle],
                           timeout=timeout_s * 1000)


def wait_tab(page, name: str, timeout_s: float = 60) -> None:
    """Wait until the tab called ``name`` is the selected one (a tab switch is its own server round trip)."""
    page.wait_for_function("(name) => [...document.querySelectorAll('[role=tab]')].some("
                           "t => t.innerText.trim() === name && t.getAttribute('aria-selected') === 'true')",
                           arg=name, timeout=timeout_s * 1000)


def no_error_toasts(page) -> None:
    errors = page.locator(".toast-body.error")
    assert errors.count() == 0, [errors.nth(i).inner_text() for i in range(errors.count())]
    assert "Traceback" not in page.content()


@pytest.mark.slow
def test_browser_end_to_end(app_checkpoints, data_root, tmp_path):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (never `playwright install`)")
    if not mf.espeak_available():
        pytest.fail("espeak-ng is required to build the test clip: apt-get install espeak-ng")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    clip = mf.make_clip(tmp_path / "my-review.mp4", 3.0)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tmp_path / "app.log"
    cl, nocl = app_checkpoints
    proc = start_app(["--checkpoint", str(cl), "--compare-checkpoint", str(nocl), "--data", str(data_root),
                      "--host", "127.0.0.1", "--port", str(port), "--cache-dir", str(tmp_path / "cache"),
                      "--umap-max-samples", str(UMAP_SMALL["umap_max_samples"]),
                      "--umap-epochs", str(UMAP_SMALL["umap_epochs"])], log)
    try:
        t0 = time.time()
        wait_http(url, proc, log)
        first_page_s = time.time() - t0
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)

            # ---- explorer: pick a sample, see its prediction and the GAP bars, run a what-if
            wait_text(page, "#table-status", "samples match", 300)
            first = page.locator("#sample-table .body-cell").first
            sample_id = first.inner_text().strip()
            first.click()
            wait_text(page, "#sample-md", "truth", 120)
            md = text_of(page, "#sample-md")
            assert sample_id in md and "prediction" in md
            page.wait_for_selector("#sample-plot .js-plotly-plot .bars", timeout=60_000)
            page.locator("#whatif-drop label").filter(has_text="visual").click()
            page.locator("#whatif-drop label").filter(has_text="acoustic").click()
            page.locator("#whatif-run").click()
            wait_text(page, "#whatif-md", "switched off: visual, acoustic", 120)
            page.wait_for_selector("#whatif-plot .js-plotly-plot .bars", timeout=60_000)
            no_error_toasts(page)
            page.screenshot(path=str(ARTIFACTS / "e2e-explorer.png"), full_page=True)
            # the other checkpoint, same sample
            page.locator("#explorer-model input").click()
            page.locator("ul[role=listbox] li").filter(has_text="without CL").first.click()
            wait_text(page, "#sample-md", "(without CL)", 120)
            assert sample_id in text_of(page, "#sample-md")

            # ---- upload: a clip with speech and a face; the transcript comes from speech-to-text
            page.get_by_role("tab", name="Upload").click()
            page.locator("#upload-video input[type=file]").set_input_files(str(clip))
            page.wait_for_selector("#upload-video video", timeout=60_000)
            page.locator("#upload-run").click()
            wait_text(page, "#upload-pred", "Prediction:", 300)
            assert "love" in page.locator("#upload-transcript textarea").input_value().lower()
            assert "not used" in text_of(page, "#upload-support")  # the reason a modality was ignored
            assert "with a face" in text_of(page, "#upload-extracted")
            page.wait_for_selector("#upload-signal .js-plotly-plot", timeout=30_000)
            page.wait_for_selector("#upload-faces img", timeout=30_000)
            no_error_toasts(page)
            page.screenshot(path=str(ARTIFACTS / "e2e-upload.png"), full_page=True)

            # ---- representation space: both maps (computed in the background), the upload on them
            page.get_by_role("tab", name="Representation space").click()
            wait_text(page, "#map-main", "your upload", 600)
            wait_text(page, "#map-compare", "your upload", 120)
            assert "with contrastive learning" in text_of(page, "#map-main")
            assert "without contrastive learning" in text_of(page, "#map-compare")
            assert f"sample {sample_id}" in text_of(page, "#map-main")  # the explorer's sample, highlighted
            wait_text(page, "#space-cosines", "shared · shared", 60)
            page.screenshot(path=str(ARTIFACTS / "e2e-space.png"), full_page=True)

            # ---- case studies: a row opens in the explorer
            page.get_by_role("tab", name="Case studies").click()
            cells = page.locator("#cases-table .body-cell")
            cells.first.wait_for(timeout=120_000)
            page.screenshot(path=str(ARTIFACTS / "e2e-cases.png"), full_page=True)
            case_id = cells.nth(1).inner_text().strip()
            cells.nth(1).click()
            wait_text(page, "#sample-md", case_id, 120)
            wait_tab(page, "Sample explorer")

            # ---- model card
            page.get_by_role("tab", name="Model card").click()
            wait_text(page, "#card-md", "Checkpoints", 60)
            assert "with CL" in text_of(page, "#card-md")
            page.wait_for_selector("#card-plot .js-plotly-plot", timeout=60_000)
            no_error_toasts(page)
            page.screenshot(path=str(ARTIFACTS / "e2e-model-card.png"), full_page=True)
            browser.close()
        assert proc.poll() is None, "the app stopped while serving"
        print(f"first page after {first_page_s:.1f} s")
    finally:
        stop_app(proc, log, ARTIFACTS / "e2e-app.log")
