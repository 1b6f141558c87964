"""The app's callbacks, called as plain functions (no browser) on the tiny real-MOSI checkpoint pair: explorer and
what-if, upload (clip, typed text, bad input), representation space, case studies, model card, no-data and
no-checkpoint start-up, error handling, the Blocks page and the command line."""
from __future__ import annotations

import time
from pathlib import Path

import gradio as gr
import numpy as np
import pytest

import media_fixtures as mf
from fdcmdie.app import AppContext, AppOptions
from fdcmdie.app import cases as cases_tab
from fdcmdie.app import explorer, model_card, space, upload
from fdcmdie.app.common import NOTES, safe
from fdcmdie.explain.projections import Projection
from test_app_support import UMAP_SMALL


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory):
    if not mf.espeak_available():
        pytest.fail("espeak-ng is required to build the test clips: apt-get install espeak-ng")
    return mf.make_clip(tmp_path_factory.mktemp("app-media") / "review.mp4", 3.0)


def wait_for_maps(ctx, split="test", timeout=900):
    for k in ("main", "compare"):      # asked for here too: a test that waits must not rely on an earlier one asking
        ctx.request_projection(k, split)
    t = time.time()
    while time.time() - t < timeout:
        states = [ctx.projection_state(k, split) for k in ("main", "compare")]
        if all(s == "ready" for s in states):
            return
        assert not any(s.startswith("failed") for s in states), states
        time.sleep(1)
    raise AssertionError(f"maps not ready after {timeout} s: {states}")


# ------------------------------------------------------------------------------------------------ explorer


def test_models_are_listed_with_their_training(ctx):
    labels = dict((k, v) for v, k in ctx.model_choices())
    assert list(labels) == ["main", "compare"]
    assert "(with CL)" in labels["main"] and "(without CL)" in labels["compare"]
    assert labels["main"].endswith("CMU-MOSI, poria-honest split · T+V+A")


def test_filter_samples(ctx, view):
    df, ids, status = explorer.filter_samples(ctx, "main", "test")
    n = len(view.preds.ids)
    assert len(df) == len(ids) == n and status.startswith(f"{n} of {n} test samples")
    assert list(df.columns) == explorer.TABLE_COLUMNS and ids[0] == view.preds.ids[0]
    assert df["label"].iloc[0] == round(float(view.preds.label[0]), 2)
    df, ids, _ = explorer.filter_samples(ctx, "main", "test", 1.0, 3.0, "positive")
    assert len(ids) and (df["label"] >= 1.0).all()
    df, ids, _ = explorer.filter_samples(ctx, "main", "test", -3, 3, "negative", large_error=True)
    assert (df["label"] < 0).all() and (df["error"] >= explorer.LARGE_ERROR - 0.01).all()
    df, ids, _ = explorer.filter_samples(ctx, "main", "test", polarity="sign predicted wrong")
    rows = [view.row_of[i] for i in ids]  # raw values: the table rounds, and -0.004 shows as -0.0
    assert len(rows) and ((view.preds.label[rows] >= 0) != (view.preds.pred[rows] >= 0)).all()
    _, ids, _ = explorer.filter_samples(ctx, "main", "test", disagree=True)
    rows = [view.row_of[i] for i in ids]
    assert (np.sign(view.ablations["t"][rows]) != np.sign(view.preds.pred[rows])).all()
    df, ids, status = explorer.filter_samples(ctx, "main", "test", 2.9, 3.0, "negative")
    assert not ids and "widen" in status
    with pytest.raises(ValueError, match="polarity"):
        explorer.filter_samples(ctx, "main", "test", polarity="sad")


def test_sample_view_shows_truth_prediction_and_gap(ctx, view):
    sid = view.preds.ids[3]
    ctx.split_view("compare", "test")  # the other checkpoint's row appears once its predictions exist
    md, fig, sel = explorer.sample_view(ctx, "main", "test", sid)
    label, pred = float(view.preds.label[3]), float(view.preds.pred[3])
    assert sid in md and "truth" in md and "prediction" in md and "without CL" in md  # the other checkpoint too
    assert f"{abs(label):.2f}" in md and f"{abs(pred):.2f}" in md and "text only" in md
    assert sel == {"model": "main", "split": "test", "id": sid, "row": 3}
    alphas = [t for t in fig.data if t.xaxis == "x"]
    assert len(alphas) == 3 and np.allclose(sum(np.asarray(t.y) for t in alphas), 1.0, atol=1e-3)
    md, _, sel = explorer.sample_view(ctx, "main", "test", None)
    assert sel is None and "Pick a sample" in md
    with pytest.raises(ValueError, match="no sample"):
        explorer.sample_view(ctx, "main", "test", "no-such-id")


def test_what_if_drop_and_edit(ctx, view):
    sid = view.preds.ids[5]
    text, mods = explorer.what_if_defaults(ctx, "main", "test", sid)
    assert text == view.preds.texts[5] and mods == ["text", "visual", "acoustic"]
    md, fig = explorer.what_if_view(ctx, "main", "test", sid, ["visual", "acoustic"], text)
    assert "switched off: visual, acoustic" in md and "| **modified** |" in md
    assert f"{abs(float(view.ablations['t'][5])):.2f}" in md  # modified = the text-only prediction
    assert f"{abs(float(view.preds.pred[5])):.2f}" in md      # original = the split prediction
    assert len(fig.data) == 12  # α and g, three modalities, original + modified
    md, _ = explorer.what_if_view(ctx, "main", "test", sid, [], "this is the best film i have ever seen")
    assert "transcript edited" in md and "text, visual, acoustic" in md
    with pytest.raises(ValueError, match="nothing to compare"):
        explorer.what_if_view(ctx, "main", "test", sid, [], text)
    with pytest.raises(ValueError, match="pick a sample"):
        explorer.what_if_view(ctx, "main", "test", None, ["visual"], "")
    with pytest.raises(ValueError, match="unknown modality"):
        explorer.what_if_view(ctx, "main", "test", sid, ["smell"], "")


def test_what_if_with_every_modality_off_says_so_in_place(ctx, view):
    """Nothing left to predict from: said in the what-if box (no error toast), the old result replaced."""
    sid = view.preds.ids[5]
    md, fig = explorer.what_if_view(ctx, "main", "test", sid, ["text", "visual", "acoustic"], "")
    assert md.startswith("**Nothing left to predict from**") and "switched off" in md
    assert "no prediction" in fig.layout.annotations[0].text and not fig.data
    assert explorer.what_if_words(ctx, "main", "test", sid, ["text", "visual", "acoustic"], "") == ([], "")
    md, _ = explorer.what_if_view(ctx, "main", "test", sid, ["visual", "acoustic"], "")   # one left: predicted
    assert "| **modified** |" in md


# -------------------------------------------------------------------------------------------------- upload


def test_upload_clip_uses_what_the_checkpoint_can(ctx, clip_path):
    r = upload.analyse(ctx, str(clip_path), None, "I really love this movie, the acting is wonderful.", False)
    assert "Prediction:" in r.prediction_md and "from text" in r.prediction_md
    assert "review.mp4" in r.extracted_md and "with a face" in r.extracted_md
    # the bundle checkpoints read openSMILE / 3D-CNN vectors: the clip's frames are refused, with the reason
    assert "**text** ✓ used: the typed transcript" in r.support_md
    assert "**visual** — not used" in r.support_md and "3D-CNN" in r.support_md and "openSMILE" in r.support_md
    assert r.faces and r.faces[0][0].shape[2] == 3
    assert any(t.name == "F0" for t in r.signal_fig.data)
    assert set(r.state) >= {"main", "compare", "label"} and "Ts" in r.state["main"]["decoupled"]
    assert r.transcript.startswith("I really love")


def test_upload_support_overview(ctx):
    md = upload.support_overview(ctx)
    assert md.count("can use from a clip") == 2 and "text ✓" in md and "visual ✗" in md and "3D-CNN" in md


def test_upload_typed_text_only(ctx):
    r = upload.analyse(ctx, None, None, "what a dull and boring film", True)
    assert "Typed text only" in r.extracted_md and "Prediction:" in r.prediction_md
    assert "**visual** — not used: no visual input was given" in r.support_md
    d = ctx.slots["compare"].predictor.cfg.model.d
    assert not r.faces and r.state["compare"]["decoupled"]["Ts"].shape == (d,)


def test_upload_size_limit_uses_the_browsers_megabyte(ctx, tmp_path):
    """One MB on the page, in our refusal and in the browser's (Gradio counts 1024² bytes and writes "Mb")."""
    from gradio.utils import FileSize

    assert upload.MB == FileSize.MB
    small = AppContext(AppOptions(max_upload_mb=1, compare_checkpoint=None), predictors={"main": ctx.predictor("main")})
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * int(1.5 * FileSize.MB))
    with pytest.raises(ValueError, match="big.mp4 is 1.5 MB, above this app's 1 MB limit"):
        upload.check_file(small, str(big))


def test_upload_refusals(ctx, tmp_path):
    with pytest.raises(ValueError, match="upload a video or audio file"):
        upload.analyse(ctx, None, None, "  ", True)
    with pytest.raises(ValueError, match="not an audio or video file|image or text file"):
        upload.analyse(ctx, str(mf.make_not_media(tmp_path / "notes.mp4")), None, "", False)
    with pytest.raises(ValueError, match="empty"):
        upload.analyse(ctx, None, str(mf.make_empty(tmp_path / "empty.wav")), "", False)
    small = AppContext(AppOptions(max_upload_mb=0.001, compare_checkpoint=None), predictors={"main": ctx.predictor("main")})
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * 5000)
    with pytest.raises(ValueError, match="above this app's 0.001 MB limit"):
        upload.analyse(small, str(big), None, "", False)


# ---------------------------------------------------------------------------------------- representation


@pytest.mark.slow   # over 10 s of a quiet 2-core machine (the quick set: README)
def test_projection_view_starts_in_background_then_draws(ctx, view, clip_path):
    sel = {"model": "main", "split": "test", "id": view.preds.ids[2], "row": 2}
    first = space.projection_view(ctx, "test", "feature", sel, None)
    assert len(first) == 5
    wait_for_maps(ctx)
    proj = ctx.projection("main", "test")
    assert isinstance(proj, Projection) and proj.n_samples == UMAP_SMALL["umap_max_samples"]
    up = upload.analyse(ctx, None, None, "i loved every minute of it", False).state
    fig_cl, fig_nocl, status, cos_md, token = space.projection_view(ctx, "test", "type", sel, up)
    assert token[:2] == ("ready", "ready") and "Select a sample" in status  # then numbers ready?, method
    names = [t.name for t in fig_cl.data]
    assert names[:2] == ["shared (T_s, V_s, A_s)", "private (T_d, V_d, A_d)"]
    assert names[-2:] == [f"sample {sel['id']}", "your upload"]
    assert len(fig_cl.data[-1].x) == 2          # a typed text has T_s and T_d only
    assert len(fig_cl.data[-2].x) == 6          # the selected sample's six feature sets
    assert "with contrastive" in fig_cl.layout.title.text and "without contrastive" in fig_nocl.layout.title.text
    assert "shared · shared" in cos_md and cos_md.count("|") > 10
    # the timer redraws only when a map changed
    skipped = space.refresh_if_changed(ctx, "test", "type", sel, up, token)
    assert len(skipped) == 5 and all(x == gr.skip() for x in skipped)
    assert len(space.refresh_if_changed(ctx, "test", "type", sel, up, ("computing", "computing"))) == 5


@pytest.mark.slow   # fits the pair's UMAP maps when no earlier test has (over 10 s of a quiet 2-core machine)
def test_projection_cache_survives_a_restart(ctx, view):
    from pathlib import Path

    wait_for_maps(ctx)
    files = {f: f.stat().st_mtime_ns for f in (Path(ctx.options.cache_dir) / "projection").glob("*.npz")}
    assert len(files) >= 2  # one UMAP map per checkpoint for the test split (and the PCA maps of other tests)
    fresh = AppContext(ctx.options)  # what a restarted app sees: the same cache folder
    proj = fresh.projection("main", "test")
    assert np.array_equal(proj.embedding, ctx.projection("main", "test").embedding)
    assert fresh.cache.hits.get("projection") == 1 and "projection" not in fresh.cache.misses  # read, not refitted
    assert {f: f.stat().st_mtime_ns for f in files} == files
    # the CL-effect numbers (a 5-fold logistic regression per feature pair) are read back too, not recomputed
    rep, old = fresh.geometry("main", "test"), ctx.geometry("main", "test")
    assert fresh.cache.hits.get("geometry") == 1 and "geometry" not in fresh.cache.misses
    assert rep.separability == old.separability and np.array_equal(rep.cos_same, old.cos_same)


@pytest.mark.slow   # over 10 s of a quiet 2-core machine (the quick set: README)
def test_background_warm_up_reports_progress(ctx):
    import dataclasses

    opts = dataclasses.replace(ctx.options, warm_up_extract=False, first_rows=2)
    fresh = AppContext(opts, predictors={k: ctx.predictor(k) for k in ("main", "compare")})
    assert "Warm-up is off" in fresh.warmup.markdown()
    w = fresh.start_warmup()
    assert "Getting ready" in w.markdown() or w.ready
    w.thread.join(timeout=900)
    text = w.markdown()
    assert w.done and text.startswith("**Ready** in") and "PCA maps" in text and "Not available" not in text, text
    assert [s.state for s in w.steps] == ["done"] * len(w.steps)
    assert [s.name for s in w.steps if not s.after_ready] == [   # what the first page (the explorer) shows
        "loading the checkpoint", "test-split predictions (main)", "Shapley values and word attributions of the first samples"]
    assert [s.name for s in w.steps if s.after_ready][:3] == [
        "loading the comparison checkpoint", "test-split predictions (compare)", "PCA maps of the test split"]
    assert fresh.projection_state("main", "test", "pca") == fresh.projection_state("compare", "test", "pca") == "ready"
    assert fresh.projection_state("main", "test", "umap") in ("idle", "ready")   # UMAP only when asked for
    assert fresh.ready(("shapley", "main", "test")) and fresh.ready(("shapley", "compare", "test"))  # after Ready
    first = fresh.split_view("main", "test").preds.ids[:2]
    assert all(fresh.ready(("words", "main", "test", i, "auto")) for i in first)
    assert text.count("Ready") == 1 and fresh.status_markdown() == text   # said once; nothing computing on request


def test_status_line_says_each_failure_once():
    from fdcmdie.app.context import Step, WarmUp

    w = WarmUp(steps=[Step("a", "failed", "labels.csv: file not found"), Step("b", "failed", "labels.csv: file not found"),
                      Step("c", "done")], started=0.0, ready_at=3.0, finished=3.0)
    text = w.markdown()
    assert text.count("labels.csv: file not found") == 1 and "(a, b)" in text


# ------------------------------------------------------------------------------------- cases, model card


def test_case_table_opens_in_explorer(ctx, view):
    df, md = cases_tab.case_table(ctx)
    assert len(df) >= 6 and {"case", "id", "transcript", "label", "prediction", "text only"} <= set(df.columns)
    assert {"strong positive", "strong negative", "flat delivery", "largest error"} <= set(df["case"])
    assert "largest error" in md
    sid = cases_tab.case_id(df, [2, 4])
    assert sid == df.iloc[2]["id"] and sid in view.row_of
    explorer.sample_view(ctx, "main", "test", sid)  # opens
    with pytest.raises(ValueError, match="click a row"):
        cases_tab.case_id(df, [99, 0])


def test_case_table_shapley_columns_choose_the_disagreements(ctx, view):
    df, md = cases_tab.case_table(ctx)
    sv = ctx.shapley("main", "test")
    cols = [f"Shapley {m}" for m in ("text", "visual", "acoustic")]
    assert set(cols) <= set(df.columns) and "how far each modality moved the prediction" in md
    for _, row in df.iterrows():
        r = view.row_of[row["id"]]
        assert [row[c] for c in cols] == pytest.approx(sv.phi[r], abs=0.006)
    dis = df[df["case"] == "text vs voice/face"]
    assert len(dis), "no text vs voice/face case"
    for _, row in dis.iterrows():  # chosen by Shapley: the words and the rest push opposite ways
        text, rest = row["Shapley text"], row["Shapley visual"] + row["Shapley acoustic"]
        assert np.sign(text) != np.sign(rest) and min(abs(text), abs(rest)) >= 0.3 - 0.01


# ------------------------------------------------------------------------------------ why this prediction


def test_sample_view_words_and_shapley_beside_alpha(ctx, view):
    sid = view.preds.ids[4]
    md, _, _ = explorer.sample_view(ctx, "main", "test", sid)
    assert "GAP weight α" in md and "Shapley value" in md and "Baseline (every modality missing)" in md
    sv = ctx.shapley("main", "test")
    assert float(sv.pred[4]) == pytest.approx(float(view.preds.pred[4]), abs=1e-4)
    assert sv.phi[4].sum() == pytest.approx(sv.pred[4] - sv.baseline[4], abs=1e-5)
    value, caption = explorer.sample_words(ctx, "main", "test", sid)
    assert "".join(t for t, _ in value).strip() == view.preds.texts[4].strip()
    assert any(v is not None and abs(v) == pytest.approx(1.0) for _, v in value)
    assert "Strongest words" in caption and "Integrated gradients" in caption
    assert explorer.sample_words(ctx, "main", "test", None) == ([], "")


def test_what_if_words_follow_the_edit(ctx, view):
    sid = view.preds.ids[5]
    edited = "this is the best film i have ever seen"
    md, _ = explorer.what_if_view(ctx, "main", "test", sid, ["acoustic"], edited)
    assert "Modified input" in md and "| acoustic | 0.00 | missing (0) |" in md
    value, caption = explorer.what_if_words(ctx, "main", "test", sid, ["acoustic"], edited)
    assert "".join(t for t, _ in value) == edited and "best" in caption
    value, caption = explorer.what_if_words(ctx, "main", "test", sid, ["text"], "")
    assert value == [] and "No word attributions" in caption


def test_upload_shows_words_and_shapley(ctx):
    r = upload.analyse(ctx, None, None, "what a dull and boring film", True)
    assert "".join(t for t, _ in r.words) == "what a dull and boring film"
    assert "Shapley value" in r.prediction_md and "| visual | 0.00 | missing (0) |" in r.prediction_md
    assert "Strongest words" in r.words_md


def test_predictions_export_as_csv(ctx, view, tmp_path):
    import pandas as pd

    path = explorer.export_csv(ctx, "main", "test", str(tmp_path))
    df = pd.read_csv(path)
    assert list(df.columns[:4]) == ["id", "transcript", "label", "prediction"]
    assert {"alpha_text", "alpha_acoustic", "shapley_text", "shapley_visual", "shapley_acoustic",
            "shapley_baseline"} <= set(df.columns)
    assert len(df) == len(view.preds.ids) and df["id"].astype(str).tolist() == [str(i) for i in view.preds.ids]
    total = df[["shapley_text", "shapley_visual", "shapley_acoustic"]].sum(1) + df["shapley_baseline"]
    np.testing.assert_allclose(total, df["prediction"], atol=2e-3)


def test_deep_link_parsing_and_view_link():
    from fdcmdie.app import links

    tabs, models = ["explorer", "upload", "cases"], ["main", "compare"]
    view, problems = links.parse_link({"tab": "explorer", "split": "valid", "sample": "abc_1", "model": "compare"},
                                      tabs=tabs, models=models)
    assert view == {"tab": "explorer", "split": "valid", "sample": "abc_1", "model": "compare"} and not problems
    view, problems = links.parse_link({"split": "dev", "tab": "nowhere", "sample": "x"}, tabs=tabs, models=models)
    assert view == {"sample": "x", "tab": "explorer"} and len(problems) == 2 and "'dev'" in problems[1]

    class Req:
        headers = {"referer": "http://lab.example:8080/app/?tab=cases", "host": "ignored:1"}

    base = links.page_url(Req())
    assert base == "http://lab.example:8080/app/"
    link = links.view_link(base, model="main", split="test", sample="c5xsKMxpXnc_3")
    assert link == "http://lab.example:8080/app/?tab=explorer&split=test&sample=c5xsKMxpXnc_3"
    Req.headers = {"host": "127.0.0.1:7861"}
    assert links.page_url(Req()) == "http://127.0.0.1:7861/"


def test_server_address_honours_gradio_environment():
    import app

    none = app.parse_args([])
    assert app.server_address(none, {"GRADIO_SERVER_PORT": "7999", "GRADIO_SERVER_NAME": "0.0.0.0"}) == ("0.0.0.0", 7999)
    flags = app.parse_args(["--port", "9000", "--host", "127.0.0.1"])
    assert app.server_address(flags, {"GRADIO_SERVER_PORT": "7999", "GRADIO_SERVER_NAME": "0.0.0.0"}) == (
        "127.0.0.1", 9000)
    with pytest.raises(ValueError, match="GRADIO_SERVER_PORT='abc' is not a port"):
        app.server_address(none, {"GRADIO_SERVER_PORT": "abc"})
    with pytest.raises(ValueError, match="not a port number"):
        app.server_address(app.parse_args(["--port", "70000"]), {})


def test_model_card(ctx, tmp_path):
    md = model_card.checkpoints_markdown(ctx)
    assert "with CL" in md and "without CL" in md and "Acc-2" in md and "MAE" in md and "CMU-MOSI" in md
    assert "not usable" in md  # clips: the bundle checkpoints cannot use a clip's audio/video
    missing = AppContext(AppOptions(results=str(tmp_path / "RESULTS.md"), compare_checkpoint=None), predictors={"main": ctx.predictor("main")})
    assert "is not there yet" in model_card.results_markdown(missing)[0]
    (tmp_path / "RESULTS.md").write_text("# Results\n\n| model | Acc-2 |\n|---|---|\n| x | 80.0 |\n")
    assert "| x | 80.0 |" in model_card.results_markdown(missing)[0]
    (tmp_path / "RESULTS.md").write_text("# Results\n\n## Headline: MOSI\n\n| x | 80.0 |\n\n## Runs\n\nlong list\n")
    head, full = model_card.results_markdown(missing)
    assert "| x | 80.0 |" in head and "long list" not in head and "long list" in full
    assert model_card.model_card_markdown(missing).startswith("## Results")
    fig = model_card.average_alpha_figure(ctx)
    assert len(fig.data) == 6  # two checkpoints × three modalities


def test_model_card_of_a_text_only_pair(tmp_path):
    """α is 1 by construction when a checkpoint reads one modality: no chart of 1.00s, and its notes do not list the
    bundle's openSMILE audio it never reads. (The default pair reads text and voice; MOSEI's checkpoint reads text.)"""
    from fdcmdie.checkpoint import DEFAULT_PAIR, MOSEI_CHECKPOINT, CheckpointInfo

    assert {"t", "a"} <= set(CheckpointInfo.read(DEFAULT_PAIR[0]).modalities)
    text_only = AppContext(AppOptions(checkpoint=MOSEI_CHECKPOINT, compare_checkpoint=None,
                                      browse_checkpoints=(), warm_up=False, results=str(tmp_path / "none.md")))
    fig = model_card.average_alpha_figure(text_only)
    assert not fig.data and "one modality" in fig.layout.annotations[0].text
    md = model_card.checkpoint_markdown(text_only, "main")
    assert "openSMILE" not in md and "MOSEI" in md
    assert model_card.checkpoint_notes(["MOSI; features: openSMILE audio (73-d), 3D-CNN video (100-d)"], ["t", "a"]) == [
        "MOSI; features: openSMILE audio (73-d)"]


# ------------------------------------------------------------------------------ degraded start-up, errors


def test_without_dataset_the_app_explains_and_uploads_still_work(ctx, tmp_path):
    nodata = AppContext(AppOptions(data=str(tmp_path / "nowhere")),
                        predictors={"main": ctx.predictor("main"), "compare": ctx.predictor("compare")})
    df, ids, status = explorer.filter_samples(nodata, "main", "test")
    assert df.empty and not ids and "--data" in status and "labels.csv" in status
    df, md = cases_tab.case_table(nodata)
    assert df.empty and "--data" in md
    figs = space.projection_view(nodata, "test", "feature", None, None)
    assert "--data" in figs[2]
    assert "need the dataset" in model_card.average_alpha_figure(nodata).layout.annotations[0].text
    r = upload.analyse(nodata, None, None, "a wonderful, moving film", False)
    assert "Prediction:" in r.prediction_md


def test_missing_checkpoint_is_reported_not_fatal(tmp_path):
    broken = AppContext(AppOptions(checkpoint=str(tmp_path / "no-ckpt"), compare_checkpoint=None, browse_checkpoints=()))
    assert broken.model_choices() == []
    # the browse checkpoints still load beside a broken main one; the broken one is never offered
    beside = AppContext(AppOptions(checkpoint=str(tmp_path / "no-ckpt"), compare_checkpoint=None))
    assert "main" not in {key for _, key in beside.model_choices()}
    df, ids, status = explorer.filter_samples(broken, "main", "test")
    assert df.empty and "could not be loaded" in status and "--checkpoint" in status
    with pytest.raises(ValueError, match="could not be loaded"):
        upload.analyse(broken, None, None, "hello", False)
    with pytest.raises(ValueError, match="--compare-checkpoint"):
        broken.predictor("compare")
    assert "Not loaded" in model_card.checkpoints_markdown(broken)


def test_safe_turns_every_error_into_a_page_message():
    @safe
    def user_error():
        raise ValueError("the text is empty")

    @safe
    def bug():
        raise RuntimeError("boom")

    with pytest.raises(gr.Error) as e:
        user_error()
    assert e.value.message == "the text is empty"
    with pytest.raises(gr.Error) as e:
        bug()
    assert "RuntimeError: boom" in e.value.message and "still running" in e.value.message


def test_every_view_has_a_two_line_note():
    assert set(NOTES) == {"explorer", "what_if", "upload", "space", "space_one_modality", "cases", "compare", "card"}
    assert all(n.count("  \n") == 1 for n in NOTES.values())


# ------------------------------------------------------------------------------------- page, command line


def test_blocks_page_builds_and_cli_defaults(ctx):
    import app

    from fdcmdie.checkpoint import DEFAULT_PAIR
    from fdcmdie.experiments import load_plan
    from fdcmdie.facts import shipped_path

    args = app.parse_args([])
    assert (args.checkpoint, args.compare_checkpoint, args.data) == (*DEFAULT_PAIR, None)  # each checkpoint's own data
    # the default pair is shipped, from a plan pair that differs only in CL, and README names it as the default
    _, plan = load_plan("configs/experiments.yaml")
    shipped = {shipped_path(e.name): e for e in plan if e.ship}
    assert all(Path(p, "model.safetensors").is_file() and p in shipped for p in DEFAULT_PAIR)
    assert shipped[DEFAULT_PAIR[1]].name == shipped[DEFAULT_PAIR[0]].name + "-nocl"
    assert f"`{DEFAULT_PAIR[0]}`" in Path("README.md").read_text()
    assert (args.host, args.port) == (None, None) and app.server_address(args, {}) == ("127.0.0.1", 7860)
    opts = app.options_from(app.parse_args(["--compare-checkpoint", "none", "--port", "9000", "--no-asr"]))
    assert opts.compare_checkpoint is None and not opts.asr
    demo = app.build_demo(ctx)
    assert isinstance(demo, gr.Blocks)
    ids = {getattr(b, "elem_id", None) for b in demo.blocks.values()}
    assert {"sample-table", "sample-plot", "whatif-plot", "upload-video", "map-main", "map-compare",
            "cases-table", "card-md", "sample-words", "whatif-words", "upload-words", "view-link",
            "export-csv"} <= ids
