"""An uploaded clip is analysed once (issue 30): its predictions, Shapley values and word attributions are served
from the result cache (fdcmdie/app/clip_results.py) when the same content comes again with the same transcript and
checkpoints, from memory and, after a restart, from disk; another file under the same name, or another transcript,
is analysed anew. Computations are counted (the calls of predict_clip, input_shapley, word_attributions), not timed;
real clips (tests/media_fixtures.py), real extraction, the app tests' checkpoint pair."""
from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from fdcmdie.app import AppContext, upload
from test_extract_worker import clips  # noqa: F401  (two clips under one name, and a copy of the first)


@pytest.fixture
def counted(ctx, monkeypatch):
    """Counter of the analyses run: each checkpoint's predict_clip, the Shapley values and the word attributions."""
    runs = Counter()

    def counting(name, fn):
        def wrapper(*a, **k):
            runs[name] += 1
            return fn(*a, **k)
        return wrapper

    for key in ("main", "compare"):
        p = ctx.predictor(key)
        monkeypatch.setattr(p, "predict_clip", counting(f"predict {key}", p.predict_clip))
    monkeypatch.setattr(upload, "input_shapley", counting("shapley", upload.input_shapley))
    monkeypatch.setattr(upload, "word_attributions", counting("words", upload.word_attributions))
    return runs


def lab(ctx, cache_dir):
    opts = dataclasses.replace(ctx.options, cache_dir=str(cache_dir), asr=False, extract_worker=False, warm_up=False)
    return AppContext(opts, predictors={k: ctx.predictor(k) for k in ("main", "compare")})


ONCE = {"predict main": 1, "predict compare": 1, "shapley": 1, "words": 1}


def shown(r: upload.UploadResult) -> tuple:
    return r.prediction_md, r.words, r.words_md, r.transcript, r.support_md


def test_a_clip_is_analysed_once_per_content_transcript_and_checkpoints(ctx, clips, counted, tmp_path):  # noqa: F811
    app = lab(ctx, tmp_path / "cache")
    first = upload.analyse(app, clips["first"], None, "i loved it, a wonderful film", False)
    assert counted == ONCE and app.extractor.jobs == 1
    assert "Strongest words" in first.words_md and first.words
    again = upload.analyse(app, clips["first"], None, "i loved it, a wonderful film", False)
    renamed = upload.analyse(app, clips["copy"], None, "i loved it, a wonderful film", False)   # same bytes
    assert counted == ONCE and app.extractor.jobs == 1
    assert shown(again) == shown(renamed) == shown(first)
    # an edited transcript is another analysis (the extraction is still the cached one)
    edited = upload.analyse(app, clips["first"], None, "i hated it, a dreadful film", False)
    assert counted == {k: 2 for k in ONCE} and app.extractor.jobs == 1
    assert edited.prediction_md != first.prediction_md
    # a restart on the same folder: read from disk, nothing computed
    restarted = lab(ctx, tmp_path / "cache")
    back = upload.analyse(restarted, clips["first"], None, "i loved it, a wonderful film", False)
    assert counted == {k: 2 for k in ONCE} and restarted.extractor.jobs == 0
    assert restarted.cache.hits.get("upload") == 1 and shown(back) == shown(first)
    assert back.state["main"]["pred"] == first.state["main"]["pred"]


def test_another_file_with_the_same_name_is_not_served_from_the_cache(ctx, clips, counted, tmp_path):  # noqa: F811
    app = lab(ctx, tmp_path / "cache")
    a = upload.analyse(app, clips["first"], None, "words of a review", False)
    b = upload.analyse(app, clips["same_name"], None, "words of a review", False)
    assert clips["first"].name == clips["same_name"].name
    assert counted == {k: 2 for k in ONCE} and app.extractor.jobs == 2
    assert "2.0 s" in a.extracted_md and "3.0 s" in b.extracted_md, (a.extracted_md, b.extracted_md)
