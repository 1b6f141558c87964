"""The upload-capable path end to end, on clips the test makes (espeak-ng speech, the astronaut's face or none):

raw clip folder + label.csv -> ``python -m fdcmdie extract`` -> MMSA-format pickle (with the extractor's record)
-> ``python -m fdcmdie train`` (t, v, a) -> checkpoint -> ``Predictor.predict_clip(extract_clip(upload))`` uses all
three modalities. A checkpoint trained on the MOSI bundle's openSMILE vectors refuses a clip's audio, with the
reason, and predicts from the transcript.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

import media_fixtures as mf
from fdcmdie.__main__ import main as cli
from fdcmdie.checkpoint import DEFAULT_PAIR
from fdcmdie.data.mmsa import EXTRACT_KEY, extract_marker
from fdcmdie.extract import AUDIO_COLUMNS, VISION_COLUMNS, extract_clip
from fdcmdie.inference import Predictor

POSITIVE = ["I really love this movie, it is wonderful", "What a great and happy film", "The acting is brilliant",
            "I enjoyed it so much, excellent", "A beautiful and fun story", "This is the best film this year",
            "I am delighted, it was amazing", "Lovely music and a great cast"]
NEGATIVE = ["I hate this movie, it is terrible", "What an awful and boring film", "The acting is horrible",
            "I regret watching it, a disaster", "A sad and stupid story", "This is the worst film this year",
            "I am angry, it was a waste of time", "Dreadful music and a bad cast"]
# (video, clip, phrase, label, mode, face): 16 clips, 10 train / 3 valid / 3 test, three without a face
ROWS = [(f"v{i // 2}", str(i % 2 + 1), text, label, mode, face)
        for i, (text, label, mode, face) in enumerate([
            (POSITIVE[0], 2.6, "train", True), (NEGATIVE[0], -2.4, "train", True),
            (POSITIVE[1], 2.0, "train", True), (NEGATIVE[1], -2.0, "train", False),
            (POSITIVE[2], 1.8, "train", False), (NEGATIVE[2], -1.6, "train", True),
            (POSITIVE[3], 2.2, "train", True), (NEGATIVE[3], -2.8, "train", True),
            (POSITIVE[4], 1.4, "train", True), (NEGATIVE[4], -1.2, "train", True),
            (POSITIVE[5], 2.4, "valid", True), (NEGATIVE[5], -2.2, "valid", False),
            (POSITIVE[6], 2.8, "valid", True), (NEGATIVE[6], -2.6, "test", True),
            (POSITIVE[7], 1.6, "test", True), (NEGATIVE[7], -1.8, "test", True)])]
TINY = ["model.d=32", "model.n_heads=2", "model.k=1", "model.lstm_layers=1", "model.text_encoder=minilm",
        "model.text_finetune_layers=0", "loss.k_cl=3", "loss.members_per_step=1", "train.batch_size=4",
        "train.lr=0.002", "train.device=cpu"]
T, V, A = 0, 1, 2


@pytest.fixture(scope="module")
def raw_clips(tmp_path_factory):
    """MMSA raw layout: Raw/<video_id>/<clip_id>.mp4 + label.csv, 16 short labelled clips (built once per run of
    this file; every fixture below is module-scoped and only this file uses them)."""
    if not mf.espeak_available():
        pytest.fail("espeak-ng is required to build the test clips: apt-get install espeak-ng")
    root = tmp_path_factory.mktemp("upload-raw")
    lines = ["video_id,clip_id,text,label,mode"]
    for video, clip, text, label, mode, face in ROWS:
        (root / "Raw" / video).mkdir(parents=True, exist_ok=True)
        mf.make_clip(root / "Raw" / video / f"{clip}.mp4", 1.6, face=face, text=text, fps=8)
        lines.append(f"{video},{clip},{text.lower().replace(',', '')},{label},{mode}")
    (root / "label.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def features(raw_clips, tmp_path_factory):
    out = tmp_path_factory.mktemp("upload-features") / "features.pkl"
    assert cli(["extract", "--raw-dir", str(raw_clips), "--labels", str(raw_clips / "label.csv"),
                "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def clip_model(features, tmp_path_factory):
    """A tiny FD-CMDIE (t, v, a) trained on the extracted pickle by the train command."""
    out = tmp_path_factory.mktemp("upload-run") / "clips-run"
    args = ["train", "--out", str(out), "--no-progress", "--set", "data.source=mmsa", "--set", f"data.path={features}",
            "--set", "model.modalities=[t,v,a]", "--set", "train.epochs=3",
            "--set", f"train.cache_dir={out.parent / 'cache'}"]
    for item in TINY:
        args += ["--set", item]
    assert cli(args) == 0
    return Predictor.load(out / "checkpoint")


@pytest.fixture(scope="module")
def mosi_model(data_root, tmp_path_factory):
    """A tiny text + audio model trained 1 epoch on part of the real MOSI bundle (standard split), by the train
    command: its acoustic input is the bundle's 73-d openSMILE utterance vectors."""
    import fdcmdie.train as train
    from fdcmdie.data import load_dataset

    def part_of_mosi(cfg):  # the real bundle, fewer segments (encoding all 2199 transcripts takes minutes)
        ds = load_dataset(cfg)
        ds.train, ds.valid, ds.test = ds.train.subset(range(64)), ds.valid.subset(range(16)), ds.test.subset(range(16))
        return ds

    out = tmp_path_factory.mktemp("mosi-run") / "mosi-tiny"
    args = ["train", "--config", "configs/mosi.yaml", "--out", str(out), "--no-progress",
            "--set", f"data.root={data_root}", "--set", "train.epochs=1",
            "--set", f"train.cache_dir={out.parent / 'cache'}"]
    for item in TINY:
        args += ["--set", item]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(train, "load_dataset", part_of_mosi)
        assert cli(args) == 0
    return Predictor.load(out / "checkpoint")


@pytest.fixture(scope="module")
def uploads(tmp_path_factory, clip_model):
    """Two new uploads, extracted with the checkpoint's extraction settings: with a face and without one."""
    d = tmp_path_factory.mktemp("uploads")
    config = clip_model.extract_config(asr=False)
    face = mf.make_clip(d / "face.mp4", 2.0, text="I love it, it is wonderful", fps=8)
    no_face = mf.make_clip(d / "no_face.mp4", 2.0, face=False, text="It was terrible", fps=8)
    return (extract_clip(face, "i love it it is wonderful", config=config),
            extract_clip(no_face, "it was terrible", config=config))


def test_extract_writes_the_marker_and_the_loader_keeps_it(features):
    from fdcmdie.data.mmsa import load_mmsa

    with features.open("rb") as f:
        data = pickle.load(f)
    assert [len(data[s]["id"]) for s in ("train", "valid", "test")] == [10, 3, 3]
    marker = data[EXTRACT_KEY]
    assert marker["audio_columns"] == list(AUDIO_COLUMNS) and marker["vision_columns"] == list(VISION_COLUMNS)
    assert marker["config"]["acoustic_backend"] == "librosa" and marker["config"]["audio_hop_s"] == 0.1
    assert list(data["train"]["vision_lengths"]).count(0) == 2  # the two train clips without a face
    ds = load_mmsa(features)
    assert extract_marker(ds.notes) == marker
    assert ds.dims == {"a": len(AUDIO_COLUMNS), "v": len(VISION_COLUMNS)}


def test_checkpoint_records_the_extractor_features(clip_model, features):
    with features.open("rb") as f:
        marker = pickle.load(f)[EXTRACT_KEY]
    assert clip_model.extract_marker() == marker  # through Dataset.notes -> checkpoint meta["notes"]
    assert clip_model.clip_support() == {"t": None, "v": None, "a": None}
    assert clip_model.extract_config().acoustic_backend == "librosa"
    assert clip_model.cfg.model.audio_dim == 22 and clip_model.cfg.model.vision_dim == 15
    d = clip_model.describe()
    assert d["extract"] == marker and not any("{" in n for n in d["notes"])
    assert any(n.startswith("features made by `python -m fdcmdie extract`: 22-d librosa acoustic frames every 0.1 s")
               for n in d["notes"])


def test_upload_uses_all_three_modalities(clip_model, uploads):
    face, _ = uploads
    assert face.vision is not None and face.audio is not None
    e = clip_model.predict_clip(face)
    assert e.used == ["t", "v", "a"] and e.present == [True, True, True] and e.ignored == {}
    assert e.alpha.shape == (1, 3) and (e.alpha > 0).all()
    assert e.text == "i love it it is wonderful" and np.isfinite(e.pred)
    assert set(e.features["decoupled"]) == {"Ts", "Vs", "As", "Td", "Vd", "Ad"}
    # a typed transcript replaces the clip's
    typed = clip_model.predict_clip(face, transcript="what a dreadful film")
    assert typed.text == "what a dreadful film" and typed.pred != e.pred
    # the same clip, what-if without the face
    before, after = clip_model.what_if(face.transcript, face.audio, face.vision, drop={"v"})
    assert before.pred == pytest.approx(e.pred, abs=1e-5) and after.alpha[0, V] == 0


def test_upload_without_a_face_leaves_vision_out(clip_model, uploads):
    _, no_face = uploads
    assert no_face.vision is None
    e = clip_model.predict_clip(no_face)
    assert e.used == ["t", "a"] and e.present == [True, False, True]
    assert e.alpha[0, V] == 0 and e.alpha[0, T] + e.alpha[0, A] == pytest.approx(1.0)
    assert "no face" in e.ignored["v"]


def test_clip_without_transcript_or_usable_input_is_refused_clearly(clip_model, uploads):
    face, _ = uploads
    from dataclasses import replace

    silent = replace(face, transcript="", audio=None, vision=None, warnings=["the file has no audio track: acoustic "
                                                                              "modality marked missing"])
    with pytest.raises(ValueError, match="nothing in this clip can be fed"):
        clip_model.predict_clip(silent)
    mute = clip_model.predict_clip(replace(face, transcript=""))
    assert mute.used == ["v", "a"] and "no transcript" in mute.ignored["t"]
    wrong = replace(face, audio=np.zeros((10, 25), np.float32))  # e.g. the opensmile backend
    assert "25-d" in clip_model.predict_clip(wrong).ignored["a"]


def test_checkpoint_without_the_record_refuses_clip_frames(clip_model, uploads):
    face, _ = uploads
    notes = [n for n in clip_model.meta["notes"] if extract_marker([n]) is None]
    old = Predictor(clip_model.model, clip_model.cfg, clip_model.normalizer, {**clip_model.meta, "notes": notes},
                    name="old")
    support = old.clip_support()
    assert support["t"] is None and "no record of being made by `python -m fdcmdie extract`" in support["a"]
    e = old.predict_clip(face)
    assert e.used == ["t"] and e.ignored["a"] == support["a"] and e.ignored["v"] == support["v"]


@pytest.mark.slow   # its fixture trains on the real MOSI (by the train command)
def test_mosi_checkpoint_refuses_clip_audio_and_reads_the_text(mosi_model, uploads):
    face, _ = uploads
    assert mosi_model.modalities == ["t", "a"] and mosi_model.cfg.model.audio_dim == 73
    support = mosi_model.clip_support()
    assert support["t"] is None
    assert support["a"] == ("this checkpoint was trained on the MOSI bundle's 73-d openSMILE utterance vectors; "
                            "an uploaded clip's 22-d librosa frames cannot stand in for them")
    assert "does not use the visual modality" in support["v"]
    e = mosi_model.predict_clip(face)
    assert e.used == ["t"] and e.present == [True, False]
    assert e.ignored == {"a": support["a"], "v": support["v"]}
    assert e.alpha.shape == (1, 2) and e.alpha[0, 1] == 0 and e.alpha[0, 0] == pytest.approx(1.0)
    [text_only] = mosi_model.predict([face.transcript])
    assert e.pred == pytest.approx(text_only.pred, abs=1e-5)
    with pytest.raises(ValueError, match="22-d but this checkpoint expects 73-d .*openSMILE"):
        mosi_model.predict([face.transcript], audio=[face.audio])
    # its own kind of input works: one 73-d utterance vector from the bundle
    ds = mosi_model.dataset()
    [own] = mosi_model.predict([ds.test.texts[0]], audio=[ds.test.audio[0][0]])
    assert own.used == ["t", "a"] and own.alpha[0, 1] > 0


def test_tone_with_speech_to_text_is_no_speech(tmp_path):
    """A 5-s 220 Hz hum in an AAC track: whisper alone hears "." in it. The VAD / no-speech gate leaves the
    transcript empty with "no speech recognised — type what is said", and a text-reading checkpoint that cannot use
    the clip's audio is not asked to predict (the app's message says what to do)."""
    from fdcmdie.app import AppContext, AppOptions, upload
    from fdcmdie.extract import ExtractConfig
    from fdcmdie.extract.transcript import has_words

    mosi_model = Predictor.load(Path(__file__).resolve().parent.parent / DEFAULT_PAIR[0])
    tone = mf.make_clip(tmp_path / "hum.mp4", 5.0, face=False, audio="tone")
    clip = extract_clip(tone, None, config=ExtractConfig(asr=True))
    assert clip.asr_used and clip.transcript == "" and not has_words(".") and has_words("ok.")
    assert any("no speech recognised — type what is said" in w for w in clip.warnings), clip.warnings
    with pytest.raises(ValueError, match="nothing in this clip can be fed.*no speech recognised — type what is said"):
        mosi_model.predict_clip(clip)
    ctx = AppContext(AppOptions(asr=True, compare_checkpoint=None, warm_up=False, cache_dir=str(tmp_path / "cache")),
                     predictors={"main": mosi_model})
    with pytest.raises(ValueError, match="^No speech recognised — type what is said in the transcript box"):
        upload.analyse(ctx, str(tone), None, "", True)
    r = upload.analyse(ctx, str(tone), None, "it was fine", True)   # typed words: predicted from them
    assert "Prediction:" in r.prediction_md and r.transcript == "it was fine"


def test_video_without_audio_track_says_so(tmp_path):
    """A silent video (no audio stream at all) is not answered "no speech recognised": the app says the file has no
    audio track, so a text-reading checkpoint has nothing to read until the transcript is typed."""
    from fdcmdie.app import AppContext, AppOptions, upload

    mosi_model = Predictor.load(Path(__file__).resolve().parent.parent / DEFAULT_PAIR[0])
    silent = mf.make_clip(tmp_path / "silent.mp4", 2.0, audio=None)
    ctx = AppContext(AppOptions(asr=True, compare_checkpoint=None, warm_up=False, cache_dir=str(tmp_path / "cache")),
                     predictors={"main": mosi_model})
    with pytest.raises(ValueError, match="^silent.mp4: this file has no audio track, so there is no speech to recog") as e:
        upload.analyse(ctx, str(silent), None, "", True)
    assert "no speech recognised" not in str(e.value)
    r = upload.analyse(ctx, str(silent), None, "it was fine", True)
    assert "no audio track" in r.extracted_md and r.transcript == "it was fine"
