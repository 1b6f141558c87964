"""``python -m fdcmdie extract``: raw clip folder + label.csv -> MMSA-format pickle, resumable, failure-tolerant."""
from __future__ import annotations

import argparse
import os
import pickle
import shutil

os.environ.setdefault("NUMBA_CACHE_DIR", "/tmp/numba_cache")

import numpy as np
import pytest

import media_fixtures as mf
from fdcmdie.__main__ import main as cli
from fdcmdie.extract import AUDIO_DIM, VISION_DIM, ExtractionError, batch

MMSA_KEYS = {"raw_text", "audio", "vision", "id", "text", "text_bert", "audio_lengths", "vision_lengths",
             "annotations", "regression_labels"}
LABELS = """video_id,clip_id,text,label,mode
vidA,1,i really love this movie,2.4,train
vidA,2,nothing to see here,0.0,train
vidB,1,the acting is wonderful,1.2,valid
vidB,2,this file is broken,-1.0,test
vidC,7,this clip was never uploaded,-2.6,test
"""


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    """MMSA raw layout: Raw/<video_id>/<clip_id>.mp4 (one .wav, one corrupt file, one missing clip)."""
    if not mf.espeak_available():
        pytest.fail("espeak-ng is required to build the test clips: apt-get install espeak-ng")
    root = tmp_path_factory.mktemp("raw")
    (root / "Raw" / "vidA").mkdir(parents=True)
    (root / "Raw" / "vidB").mkdir(parents=True)
    mf.make_clip(root / "Raw" / "vidA" / "1.mp4", 2.0)
    mf.make_clip(root / "Raw" / "vidA" / "2.mp4", 2.0, face=False, audio="silence")
    mf.make_wav(root / "Raw" / "vidB" / "1.wav", 2.0)
    mf.make_truncated(root / "Raw" / "vidA" / "1.mp4", root / "Raw" / "vidB" / "2.mp4")
    (root / "label.csv").write_text(LABELS)
    return root


def run(raw_dir, out, *extra) -> int:
    return cli(["extract", "--raw-dir", str(raw_dir), "--labels", str(raw_dir / "label.csv"), "--out", str(out),
                "--quiet", *extra])


@pytest.fixture(scope="module")
def first_run(raw, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "features.pkl"
    assert run(raw, out) == 0
    with out.open("rb") as f:
        return out, pickle.load(f)


def test_pickle_has_mmsa_layout(first_run):
    _, data = first_run
    assert set(data) == {"train", "valid", "test", "fdcmdie_extract"}  # the splits + the extractor's record
    for split in (data[s] for s in ("train", "valid", "test")):
        assert set(split) == MMSA_KEYS
    train = data["train"]
    assert list(train["id"]) == ["vidA$_$1", "vidA$_$2"]
    assert list(train["raw_text"]) == ["i really love this movie", "nothing to see here"]
    assert train["audio"].shape == (2, 500, AUDIO_DIM) and train["audio"].dtype == np.float32
    assert train["vision"].shape == (2, 375, VISION_DIM) and train["vision"].dtype == np.float32
    assert train["text"].shape == (2, 50, 768) and not train["text"].any()
    assert train["regression_labels"].dtype == np.float32
    np.testing.assert_allclose(train["regression_labels"], [2.4, 0.0])
    assert list(train["annotations"]) == ["Positive", "Neutral"]
    assert train["audio_lengths"].dtype == np.int64 and train["vision_lengths"].dtype == np.int64


def test_lengths_and_padding(first_run):
    _, data = first_run
    train, valid = data["train"], data["valid"]
    assert 19 <= train["audio_lengths"][0] <= 22  # 2 s at 100 ms
    assert list(train["vision_lengths"]) == [10, 0]     # 2 s at 5 fps; the second clip shows no face
    assert not train["vision"][1].any()
    n = train["audio_lengths"][0]
    assert train["audio"][0, :n].any() and not train["audio"][0, n:].any()
    assert list(valid["vision_lengths"]) == [0] and valid["audio_lengths"][0] >= 19  # the .wav clip
    assert list(valid["annotations"]) == ["Positive"]


def test_text_bert_is_tokenised_with_the_bert_vocabulary(first_run):
    _, data = first_run
    tb = data["train"]["text_bert"]
    assert tb.shape == (2, 3, 50) and np.issubdtype(tb.dtype, np.integer)
    ids, mask, segments = tb[0]
    assert ids[0] == 101 and 102 in ids  # [CLS] ... [SEP]
    assert mask.sum() == 7  # [CLS] i really love this movie [SEP]
    assert not segments.any() and not ids[mask == 0].any()


def test_project_loader_reads_the_pickle(first_run):
    from fdcmdie.data.mmsa import load_mmsa

    out, data = first_run
    ds = load_mmsa(out)
    assert ds.dims == {"a": AUDIO_DIM, "v": VISION_DIM}
    assert ds.train.ids == ["vidA_1", "vidA_2"] and ds.train.texts[0] == "i really love this movie"
    assert ds.train.vision[0].shape == (10, VISION_DIM)  # real length, padding cut off
    assert ds.train.vision[1].shape == (0, VISION_DIM)   # no face: the modality is missing
    assert ds.train.audio[0].shape == (data["train"]["audio_lengths"][0], AUDIO_DIM)


def test_failures_are_listed_and_left_out(first_run):
    out, data = first_run
    assert len(data["test"]["id"]) == 0  # both test clips failed
    assert data["test"]["audio"].shape == (0, 500, AUDIO_DIM) and data["test"]["text_bert"].shape == (0, 3, 50)
    lines = out.with_name("features.failures.txt").read_text().splitlines()
    failed = dict(line.split("\t", 1) for line in lines)
    assert set(failed) == {"vidB$_$2", "vidC$_$7"}
    assert "truncated or corrupt" in failed["vidB$_$2"]
    assert "no clip file found" in failed["vidC$_$7"]


def test_rerun_reuses_the_cache(raw, first_run, monkeypatch, capsys):
    out, data = first_run
    calls = []

    def fake_extract(path, *a, **k):
        calls.append(path.name)
        raise ExtractionError("still broken")

    monkeypatch.setattr(batch, "extract_clip", fake_extract)
    assert run(raw, out) == 0
    assert calls == ["2.mp4"]  # only the clip that failed before (the missing one is not even found)
    assert "3 from the cache" in capsys.readouterr().out
    with out.open("rb") as f:
        again = pickle.load(f)
    np.testing.assert_array_equal(again["train"]["audio"], data["train"]["audio"])
    np.testing.assert_array_equal(again["train"]["vision"], data["train"]["vision"])


def test_interrupted_run_keeps_finished_clips(raw, tmp_path, monkeypatch):
    out = tmp_path / "feat.pkl"
    real = batch.extract_clip
    done = []

    def stop_after_first(path, *a, **k):
        if done:
            raise KeyboardInterrupt
        done.append(path)
        return real(path, *a, **k)

    monkeypatch.setattr(batch, "extract_clip", stop_after_first)
    with pytest.raises(KeyboardInterrupt):
        run(raw, out)
    assert not out.exists() and len(list((tmp_path / "feat.clips").glob("*.npz"))) == 1
    monkeypatch.setattr(batch, "extract_clip", real)
    assert run(raw, out, "--limit", "2") == 0
    with out.open("rb") as f:
        assert list(pickle.load(f)["train"]["id"]) == ["vidA$_$1", "vidA$_$2"]


def test_changed_settings_do_not_reuse_the_cache(raw, first_run, tmp_path):
    out, _ = first_run
    copy = tmp_path / "features.pkl"
    shutil.copytree(out.with_name("features.clips"), tmp_path / "features.clips")
    assert run(raw, copy, "--limit", "1", "--video-fps", "2") == 0
    with copy.open("rb") as f:
        assert list(pickle.load(f)["train"]["vision_lengths"]) == [4]  # recomputed at 2 fps, not the cached 10 rows


def test_flat_layout_and_split_column(raw, tmp_path):
    flat = tmp_path / "flat"
    shutil.copytree(raw / "Raw" / "vidA", flat / "vidA")
    (flat / "label.csv").write_text("video_id,clip_id,text,label,split\nvidA,1,great,1.5,test\n")
    out = tmp_path / "f.pkl"
    assert run(flat, out) == 0
    with out.open("rb") as f:
        data = pickle.load(f)
    assert list(data["test"]["id"]) == ["vidA$_$1"] and len(data["train"]["id"]) == 0


def test_bad_label_file_is_a_clear_error(raw, tmp_path, capsys):
    bad = tmp_path / "label.csv"
    bad.write_text("video_id,clip,label\nvidA,1,1.0\n")
    code = cli(["extract", "--raw-dir", str(raw), "--labels", str(bad), "--out", str(tmp_path / "x.pkl")])
    assert code == 2
    assert "missing column(s) ['clip_id', 'mode']" in capsys.readouterr().err
    args = argparse.Namespace(raw_dir=str(tmp_path / "nope"), labels=str(bad), out="x.pkl")
    with pytest.raises(FileNotFoundError, match="--raw-dir"):
        batch.main(args)
