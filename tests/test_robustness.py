"""Robustness curves (fdcmdie/explain/robustness.py, ``python -m fdcmdie robustness``) with the shipped frozen T+A
checkpoint on real MOSI test samples; the RESULTS.md section built from the JSON it writes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fdcmdie.app.plots.robustness import robustness_figure
from fdcmdie.checkpoint import MINILM_CHECKPOINT
from fdcmdie.explain.robustness import curve, drop_words, load_results, robustness_curves, summary_rows
from fdcmdie.inference import Predictor

ROOT = Path(__file__).resolve().parent.parent
CKPT = ROOT / MINILM_CHECKPOINT
ROWS = np.arange(64)  # the first 64 test samples: a few seconds per condition on a busy CPU


@pytest.fixture(scope="module")
def predictor():
    return Predictor.load(CKPT)


@pytest.fixture(scope="module")
def result(predictor, data_root):
    return robustness_curves(predictor, "test", data_root, noise_levels=(0.0, 2.0), word_drop=(0.0, 0.5),
                             rows=ROWS)


def by(result, kind, modality=None, level=None):
    return next(c for c in result["conditions"] if c["kind"] == kind and (modality is None or c["modality"] == modality)
                and (level is None or c["level"] == level))


def test_clean_metrics_are_the_split_predictions(result, predictor, data_root):
    preds = predictor.predict_split("test", data_root)
    from fdcmdie.metrics import compute_metrics
    want = compute_metrics(preds.pred[ROWS], preds.label[ROWS])
    assert result["n"] == len(ROWS) and result["modalities"] == ["t", "a"]
    for k in ("acc2_non0", "mae", "corr"):
        assert result["clean"][k] == pytest.approx(want[k], abs=2e-4)


def test_dropping_the_text_changes_the_metrics_more_than_dropping_audio(result):
    clean = result["clean"]
    no_text, no_audio = by(result, "drop", "t")["metrics"], by(result, "drop", "a")["metrics"]
    assert no_text["mae"] > clean["mae"] + 0.1          # the model leans on the words (audio alone is weak)
    assert abs(no_text["mae"] - clean["mae"]) > abs(no_audio["mae"] - clean["mae"])


def test_noise_level_zero_equals_clean_and_strong_noise_degrades(result):
    clean = result["clean"]
    assert by(result, "noise", "a", 0.0)["metrics"] == clean
    assert by(result, "noise", "t", 0.0)["metrics"] == clean
    text, audio = by(result, "noise", "t", 2.0)["metrics"], by(result, "noise", "a", 2.0)["metrics"]
    # 2σ noise on the words the model leans on: larger errors, predictions that follow the labels less
    assert text["mae"] > clean["mae"] + 0.1 and text["corr"] < clean["corr"] - 0.05
    # on the weak audio the correlation still drops, and the error moves far less than with noised words
    assert audio["corr"] < clean["corr"]
    assert abs(audio["mae"] - clean["mae"]) < text["mae"] - clean["mae"]


def test_word_dropping_reencodes_the_transcripts(result):
    none = by(result, "words", level=0.0)  # p = 0: re-encoded unchanged, so (numerically) the clean metrics
    assert none["dropped_fraction"] == 0.0
    assert none["metrics"]["mae"] == pytest.approx(result["clean"]["mae"], abs=2e-3)
    half = by(result, "words", level=0.5)
    assert 0.35 < half["dropped_fraction"] < 0.6   # at least one word is kept per transcript
    assert half["metrics"]["mae"] > result["clean"]["mae"] + 0.1        # half the words gone: worse, not just other
    assert half["metrics"]["corr"] < result["clean"]["corr"] - 0.1


def test_drop_words_is_seeded_and_keeps_a_word():
    text = "this movie was really not that great at all"
    a = drop_words(text, 0.5, np.random.default_rng([0, 1]))
    assert a == drop_words(text, 0.5, np.random.default_rng([0, 1]))
    assert set(a.split()) <= set(text.split()) and len(a.split()) < len(text.split())
    assert drop_words("wow", 0.99, np.random.default_rng(0)) == "wow"
    assert drop_words("  two   words ", 0.0, np.random.default_rng(0)) == "two words"


def test_curves_table_and_figure(result):
    xs, ys = curve(result, "noise", "t")
    assert xs == [0.0, 2.0] and ys[0] == result["clean"]["acc2_non0"]
    rows = summary_rows(result, "mae")
    assert rows[0]["condition"] == "clean" and any(r["condition"] == "text removed" for r in rows)
    assert all(r["change"] == pytest.approx(r["value"] - result["clean"]["mae"]) for r in rows)
    fig = robustness_figure([result, {**result, "checkpoint": "other"}])
    assert {t.name for t in fig.data if t.type == "bar"} == {"mosi-std-ta", "other"}


@pytest.mark.slow   # over 10 s of a quiet 2-core machine (the quick set: README)
def test_command_writes_json_and_figure_and_the_report_section(tmp_path, data_root):
    out = tmp_path / "robustness"
    cmd = [sys.executable, "-m", "fdcmdie", "robustness", "--checkpoint", str(CKPT), "--split", "test",
           "--out", str(out), "--data-root", str(data_root), "--limit", "24", "--noise-levels", "1",
           "--word-drop", "0.3"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    r = json.loads((out / "mosi-std-ta-test.json").read_text())
    assert r["n"] == 24 and r["noise_levels"] == [1.0] and (out / "mosi-std-ta-test.png").stat().st_size > 10_000
    assert [x["checkpoint"] for x in load_results(out)] == ["mosi-std-ta"]
    from fdcmdie.report import robustness_section
    md = "\n".join(robustness_section(out, tmp_path))
    assert "mosi-std-ta" in md and "robustness/mosi-std-ta-test.png" in md
    assert f"{r['clean']['acc2_non0']:.2f}" in md
    bad = subprocess.run(cmd[:-2] + ["--word-drop", "1.5"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "--word-drop" in bad.stderr and "Traceback" not in bad.stderr


def test_dropout_pairs_need_the_same_recipe(result):
    from fdcmdie.explain.robustness import dropout_pairs
    from fdcmdie.render.robustness import dropout_comparison

    with_ = {**result, "checkpoint": "mosi-std-ta-mdrop", "modality_dropout": 0.3}
    other = {**result, "checkpoint": "mosi-std-ta-nocl", "recipe": {**result["recipe"], "contrastive": False}}
    assert [(a["checkpoint"], b["checkpoint"]) for a, b in dropout_pairs([result, with_, other])] == [
        ("mosi-std-ta", "mosi-std-ta-mdrop")]
    md = "\n".join(dropout_comparison([result, with_, other]))
    assert "modality dropout p = 0.3" in md and "| acoustic removed |" in md and "text removed" not in md


def test_model_card_shows_the_committed_curves(result, predictor, tmp_path):
    from fdcmdie.app import AppContext, AppOptions, model_card

    folder = tmp_path / "robustness"
    folder.mkdir()
    (folder / "mosi-std-ta-test.json").write_text(json.dumps(result))
    ctx = AppContext(AppOptions(results=str(tmp_path / "RESULTS.md"), compare_checkpoint=None),
                     predictors={"main": predictor})
    md, fig = model_card.robustness_view(ctx)
    assert "`mosi-std-ta`" in md and "text removed" in md and f"{result['clean']['acc2_non0']:.2f}" in md
    assert any(t.type == "bar" for t in fig.data)
    empty = AppContext(AppOptions(results=str(tmp_path / "elsewhere" / "RESULTS.md"), compare_checkpoint=None),
                       predictors={"main": predictor})
    assert "No robustness curves" in model_card.robustness_view(empty)[0]
