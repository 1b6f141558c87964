"""Deep links in a real browser: `python app.py` started with GRADIO_SERVER_PORT (no --port) on a free localhost
port, driven by Playwright with Debian's headless Chromium. ``?tab=explorer&split=…&sample=<id>`` opens that sample
(words coloured by attribution, Shapley beside α), "link to this view" gives the URL back, a link to a sample of
another split switches the split, a link to a sample that is not there says so, and the split's predictions
download as CSV. Screenshots go to tests/_artifacts/ (gitignored).

Not skippable: CI installs chromium (`apt-get install chromium`); never `playwright install`.
"""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from serving import free_port, start_app, stop_app, wait_http
from test_app_support import UMAP_SMALL, app_checkpoints  # noqa: F401  (fixture)
from test_e2e_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, no_error_toasts, text_of, wait_tab, wait_text


@pytest.mark.slow
def test_deep_links_open_the_sample_and_export(app_checkpoints, data_root, tmp_path):
    from playwright.sync_api import sync_playwright

    from fdcmdie.inference import Predictor

    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (never `playwright install`)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    cl, nocl = app_checkpoints
    ds = Predictor.load(cl).dataset(data_root)
    test_id, valid_id = ds.test.ids[7], ds.valid.ids[3]
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    log = tmp_path / "app.log"
    proc = start_app(["--checkpoint", str(cl), "--compare-checkpoint", str(nocl), "--data", str(data_root),
                      "--cache-dir", str(tmp_path / "cache"), "--no-extract-warmup",
                      "--umap-max-samples", str(UMAP_SMALL["umap_max_samples"]),
                      "--umap-epochs", str(UMAP_SMALL["umap_epochs"])], log,
                     env={"GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1"})
    try:
        wait_http(base, proc, log)  # served on $GRADIO_SERVER_PORT: no --port was given
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)

            # ---- a link to a test sample opens it in the explorer
            page.goto(f"{base}?tab=explorer&split=test&sample={test_id}")
            wait_text(page, "#sample-md", test_id, 300)
            md = text_of(page, "#sample-md")
            assert "truth" in md and "Shapley value" in md and "GAP weight α" in md
            wait_tab(page, "Sample explorer")
            wait_text(page, "#sample-words-md", "Strongest words", 180)
            words = text_of(page, "#sample-words")
            first_word = ds.test.texts[7].split()[0]
            assert first_word.lower() in words.lower()
            page.wait_for_function("() => { const e = document.querySelector('#view-link textarea, #view-link input');"
                                   f" return e && e.value.includes('sample={test_id}'); }}", timeout=60_000)
            link = page.locator("#view-link textarea, #view-link input").first.input_value()
            assert link.startswith(base) and "tab=explorer" in link and "split=test" in link
            no_error_toasts(page)
            page.screenshot(path=str(ARTIFACTS / "e2e-deep-link.png"), full_page=True)

            # ---- the split's predictions download as CSV
            page.locator("#export-csv").click()
            page.wait_for_selector("#export-file a", timeout=300_000)
            with page.expect_download() as got:
                page.locator("#export-file a").first.click()
            target = tmp_path / "predictions.csv"
            got.value.save_as(target)
            with open(target, newline="") as f:
                rows = list(csv.DictReader(f))
            assert len(rows) == len(ds.test.ids) and rows[7]["id"] == test_id
            assert {"transcript", "label", "prediction", "alpha_text", "shapley_text", "shapley_baseline"} <= set(rows[0])

            # ---- a link to a sample of another split switches the split; the copied link reopens the same view
            page.goto(f"{base}?split=valid&sample={valid_id}")
            wait_text(page, "#sample-md", valid_id, 300)
            assert "valid split" in text_of(page, "#sample-md")
            page.goto(link)
            wait_text(page, "#sample-md", test_id, 300)

            # ---- a sample that is not there: the page says so, no traceback
            page.goto(f"{base}?tab=explorer&split=test&sample=no-such-sample")
            wait_text(page, "#table-status", "is not in the test split", 180)
            assert "Traceback" not in page.content()
            browser.close()
        assert proc.poll() is None, "the app stopped while serving"
    finally:
        stop_app(proc, log, ARTIFACTS / "e2e-links-app.log")
