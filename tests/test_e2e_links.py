"""Deep links in a real browser (the session's one served app, started with GRADIO_SERVER_PORT and no --port, and its
Chromium page; tests/conftest.py). ``?tab=explorer&split=…&sample=<id>`` opens that sample (words coloured by
attribution, Shapley beside α), "link to this view" gives the URL back, a link to a sample of another split switches
the split, a link to a sample that is not there says so, and the split's predictions download as CSV. Screenshots go
to tests/_artifacts/ (gitignored).
"""
from __future__ import annotations

import csv

import pytest

from fdcmdie.inference import Predictor
from test_app_support import no_error_toasts, screenshot, text_of, wait_tab, wait_text


@pytest.mark.slow
def test_deep_links_open_the_sample_and_export(served_app, page, app_checkpoints, data_root, tmp_path):
    ds = Predictor.load(app_checkpoints[0]).dataset(data_root)
    test_id, valid_id = ds.test.ids[7], ds.valid.ids[3]
    mark = served_app.mark()

    # ---- a link to a test sample opens it in the explorer
    page.goto(f"{served_app.url}?tab=explorer&split=test&sample={test_id}")
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
    assert link.startswith(served_app.url) and "tab=explorer" in link and "split=test" in link
    no_error_toasts(page)
    screenshot(page, "e2e-deep-link")

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
    page.goto(f"{served_app.url}?split=valid&sample={valid_id}")
    wait_text(page, "#sample-md", valid_id, 300)
    assert "valid split" in text_of(page, "#sample-md")
    page.goto(link)
    wait_text(page, "#sample-md", test_id, 300)

    # ---- a sample that is not there: the page says so, no traceback
    page.goto(f"{served_app.url}?tab=explorer&split=test&sample=no-such-sample")
    wait_text(page, "#table-status", "is not in the test split", 180)
    assert "Traceback" not in page.content()
    assert "Traceback" not in served_app.log_since(mark)
