"""End to end in a real browser (the session's one served app and Chromium page, tests/conftest.py): pick a sample →
prediction, GAP bars and what-if bars; upload a clip made here (espeak-ng speech, the astronaut's face) → transcript
by speech-to-text and a prediction; the UMAP maps with the upload on them; a case study opens in the explorer; the
model card. Screenshots go to tests/_artifacts/ (gitignored).

Not skippable: CI installs chromium (`apt-get install chromium`); never `playwright install`.
"""
from __future__ import annotations

import pytest

import media_fixtures as mf
from test_app_support import no_error_toasts, screenshot, settle, text_of, wait_tab, wait_text


@pytest.mark.slow
def test_browser_end_to_end(served_app, page, tmp_path):
    if not mf.espeak_available():
        pytest.fail("espeak-ng is required to build the test clip: apt-get install espeak-ng")
    clip = mf.make_clip(tmp_path / "my-review.mp4", 3.0)
    mark = served_app.mark()
    page.goto(served_app.url)

    # ---- explorer: pick a sample, see its prediction and the GAP bars, run a what-if
    wait_text(page, "#table-status", "samples match", 300)
    settle(page)              # the page opens on a sample of its own; clicks wait until it is drawn (issue 30)
    first = page.locator("#sample-table .body-cell").first
    sample_id = first.inner_text().strip()
    first.click()
    wait_text(page, "#sample-md", sample_id, 120)      # the clicked sample replaces the one the page opened on
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
    screenshot(page, "e2e-explorer")
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
    screenshot(page, "e2e-upload")

    # ---- representation space: both maps (computed in the background), the upload on them
    page.get_by_role("tab", name="Representation space").click()
    wait_text(page, "#map-main", "your upload", 600)
    wait_text(page, "#map-compare", "your upload", 120)
    assert "with contrastive learning" in text_of(page, "#map-main")
    assert "without contrastive learning" in text_of(page, "#map-compare")
    assert f"sample {sample_id}" in text_of(page, "#map-main")  # the explorer's sample, highlighted
    wait_text(page, "#space-cosines", "shared · shared", 60)
    screenshot(page, "e2e-space")

    # ---- case studies: a row opens in the explorer
    page.get_by_role("tab", name="Case studies").click()
    cells = page.locator("#cases-table .body-cell")
    cells.first.wait_for(timeout=120_000)
    screenshot(page, "e2e-cases")
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
    screenshot(page, "e2e-model-card")
    assert "Traceback" not in served_app.log_since(mark)


@pytest.mark.slow
def test_browser_lessons_and_anatomy(served_app, page):
    """Issue 21: a lesson's step opens the explorer on the sample its rule chose, the answer is revealed on demand, an
    anatomy step opens the anatomy of its sample, and a deep link ?tab=anatomy&sample=… opens one; no error toast,
    no traceback."""
    import re

    mark = served_app.mark()
    page.goto(served_app.url)
    page.get_by_role("tab", name="Lessons").click()
    wait_text(page, "#lesson-summary", "choose one to begin", 120)
    page.locator("#lesson-choice input").click()
    page.locator("ul[role=listbox] li").filter(has_text="Where the model fails").first.click()
    wait_text(page, "#lesson-body", "Step 1 of 4", 900)          # the rule reads the split's predictions
    sample_id = re.search(r"Sample (\S+) \(test split", text_of(page, "#lesson-body")).group(1)
    page.get_by_text("Reveal the answer").click()
    wait_text(page, "#lesson-answer", "watched the whole clip", 30)
    page.locator("#lesson-show").click()
    wait_tab(page, "Sample explorer")
    wait_text(page, "#sample-md", sample_id, 300)
    no_error_toasts(page)
    screenshot(page, "e2e-lesson-explorer")

    page.get_by_role("tab", name="Lessons").click()
    page.locator("#lesson-next").click()
    wait_text(page, "#lesson-body", "Step 2 of 4", 120)
    page.locator("#lesson-next").click()
    wait_text(page, "#lesson-body", "Step 3 of 4", 120)          # firmly the wrong way round: an anatomy step
    screenshot(page, "e2e-lesson")
    anatomy_id = re.search(r"Sample (\S+) \(test split", text_of(page, "#lesson-body")).group(1)
    page.locator("#lesson-show").click()
    wait_tab(page, "Model anatomy")
    wait_text(page, "#anatomy-status", anatomy_id, 600)
    wait_text(page, "#anatomy-stage-md", "DIPU, layer 1", 60)
    page.wait_for_selector("#anatomy-plot .js-plotly-plot .heatmaplayer", timeout=60_000)
    assert page.locator("#anatomy-diagram [data-stage=dipu]").count() == 1
    no_error_toasts(page)

    page.goto(f"{served_app.url}?tab=anatomy&split=test&sample={sample_id}")
    wait_tab(page, "Model anatomy")
    wait_text(page, "#anatomy-status", sample_id, 300)
    page.get_by_label("4. GAP", exact=False).check()
    wait_text(page, "#anatomy-stage-md", "Gated attention pooling", 60)
    page.wait_for_selector("#anatomy-plot .js-plotly-plot .bars", timeout=60_000)
    assert f"tab=anatomy" in page.locator("#anatomy-link textarea, #anatomy-link input").first.input_value()
    no_error_toasts(page)
    screenshot(page, "e2e-anatomy")
    assert "Traceback" not in served_app.log_since(mark)
