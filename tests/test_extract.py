"""Clip feature extraction: real clips made on the fly (espeak-ng speech, the astronaut photo as the face)."""
from __future__ import annotations

import os

os.environ.setdefault("NUMBA_CACHE_DIR", "/tmp/numba_cache")  # librosa.yin compiles once, then loads from here

import cv2
import numpy as np
import pytest

import media_fixtures as mf
from fdcmdie.extract import (AUDIO_DIM, LIBROSA_COLUMNS, OPENSMILE_COLUMNS, VISION_COLUMNS, VISION_DIM,
                             ClipFeatures, ExtractConfig, ExtractionError, extract_clip)
from fdcmdie.extract import acoustic, visual
from fdcmdie.extract.clip import NO_AUDIO, NO_FACE, NO_SPEECH, NO_VIDEO
from fdcmdie.extract.media import open_media

NO_ASR = ExtractConfig(asr=False)
A = {name: i for i, name in enumerate(LIBROSA_COLUMNS)}
V = {name: i for i, name in enumerate(VISION_COLUMNS)}


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """Every clip the tests need, built once: {name: path}."""
    if not mf.espeak_available():
        pytest.fail("espeak-ng is required to build the test clips: apt-get install espeak-ng")
    d = tmp_path_factory.mktemp("media")
    clips = {
        "speech_face": mf.make_clip(d / "speech_face.mp4", 3.0),
        "speech_face_fast": mf.make_clip(d / "speech_face_fast.mp4", 3.0, faststart=True),
        "silent_noface": mf.make_clip(d / "silent_noface.mp4", 2.0, face=False, audio="silence"),
        "no_audio": mf.make_clip(d / "no_audio.mp4", 2.0, audio=None, codec="mpeg4"),
        "wav": mf.make_wav(d / "speech.wav", 3.0),
        "portrait": mf.make_clip(d / "portrait.mp4", 1.0, audio=None, size=(240, 320), phone_portrait=True),
        "empty": mf.make_empty(d / "empty.mp4"),
        "text_as_mp4": mf.make_not_media(d / "notes.mp4"),
        "text": mf.make_not_media(d / "notes.txt"),
    }
    clips["truncated"] = mf.make_truncated(clips["speech_face"], d / "truncated.mp4")
    clips["truncated_fast"] = mf.make_truncated(clips["speech_face_fast"], d / "truncated_fast.mp4")
    clips["header_only"] = mf.make_truncated(clips["speech_face_fast"], d / "header_only.mp4", keep=0.05)
    return clips


@pytest.fixture(scope="module")
def full(media) -> ClipFeatures:
    """The astronaut speaking, with speech-to-text."""
    return extract_clip(media["speech_face"])


def test_feature_widths_are_the_documented_ones():
    assert AUDIO_DIM == len(LIBROSA_COLUMNS) == 22
    assert VISION_DIM == len(VISION_COLUMNS) == 15
    assert len(OPENSMILE_COLUMNS) == 25
    assert issubclass(ExtractionError, ValueError)


def test_speaking_face_gives_all_three_modalities(full):
    assert full.warnings == []
    assert full.duration == pytest.approx(3.0, abs=0.1)
    assert full.sample_rate == 22050  # espeak-ng's rate, as found in the file
    assert full.fps == pytest.approx(10.0)
    # acoustic: one frame per 100 ms
    assert full.audio.dtype == np.float32 and full.audio.shape[1] == AUDIO_DIM
    assert 29 <= full.audio.shape[0] <= 32
    assert np.isfinite(full.audio).all()
    # visual: 5 fps sampling, the astronaut's face found in every sampled frame
    assert full.frames_sampled == 15 and full.faces_seen == 15
    assert full.vision.shape == (15, VISION_DIM) and full.vision.dtype == np.float32
    assert full.visual_backend == "mediapipe"
    assert np.all(full.vision[:, V["landmarks"]] == 1)
    assert full.vision_times.shape == (15,) and np.all(np.diff(full.vision_times) > 0)


def test_speech_has_voiced_frames_with_plausible_pitch(full):
    voiced = full.pitch.voiced
    assert full.speech_detected
    assert 0.3 < voiced.mean() < 0.95  # speech has pauses and unvoiced consonants
    f0 = full.pitch.f0[voiced]
    assert 70 < np.median(f0) < 200, "espeak-ng's default voice speaks around 100 Hz"
    assert np.isnan(full.pitch.f0[~voiced]).all()
    # the model frames agree with the pitch track
    frame_f0 = full.audio[:, A["f0_hz"]]
    assert (frame_f0[full.audio[:, A["voiced"]] > 0] > 60).all()
    assert (frame_f0[full.audio[:, A["voiced"]] == 0] == 0).all()
    # the 0.2 s of silence before the speech is quieter than the speech
    assert full.audio[0, A["rms_db"]] < full.audio[:, A["rms_db"]].max() - 20


def test_asr_transcribes_the_speech_with_word_times(full):
    assert full.asr_used
    assert "movie" in full.transcript.lower()
    words = [w.lower().strip(".,") for w, _, _ in full.words]
    assert "love" in words
    starts = [s for _, s, _ in full.words]
    assert starts == sorted(starts) and all(e >= s for _, s, e in full.words)
    assert full.words[-1][2] <= 3.1


def test_face_geometry_is_plausible(full):
    row = full.vision.mean(axis=0)
    assert 0.4 < row[V["mouth_width"]] < 1.1  # lip corners about 0.7 eye spans apart
    assert 0 < row[V["eye_open_left"]] < 0.3 and 0 < row[V["eye_open_right"]] < 0.3
    assert row[V["smile"]] > 0, "the astronaut smiles: lip corners above the lip centre"
    assert abs(row[V["head_roll"]]) < 15 and abs(row[V["head_yaw"]]) < 25
    assert 0.3 < row[V["face_x"]] < 0.7 and 0.05 < row[V["face_size"]] < 0.5
    assert full.vision[:, V["haar_smile"]].max() == 0  # Haar-only column stays 0 with mediapipe


def test_display_outputs(full):
    assert 1 <= len(full.face_images) <= 4
    for img in full.face_images:
        assert img.shape == (112, 112, 3) and img.dtype == np.uint8
    assert full.waveform_sr == 4000 and abs(len(full.waveform) - 3.0 * 4000) < 400
    assert np.abs(full.waveform).max() > 0.1
    assert len(full.pitch.times) == len(full.pitch.f0) == len(full.pitch.voiced)
    assert full.summary()["faces_seen"] == 15


def test_typed_transcript_skips_asr(media):
    clip = extract_clip(media["speech_face"], "  a typed sentence  ")
    assert clip.transcript == "a typed sentence"
    assert not clip.asr_used and clip.words == []


def test_asr_can_be_switched_off(media):
    clip = extract_clip(media["wav"], asr=False)
    assert clip.transcript == "" and not clip.asr_used
    assert any("speech-to-text is off" in w for w in clip.warnings)


def test_asr_failure_degrades_to_empty_transcript(media, tmp_path):
    clip = extract_clip(media["wav"], config=ExtractConfig(asr_model=str(tmp_path / "no_model_here")))
    assert clip.transcript == "" and not clip.asr_used
    assert any(w.startswith("speech-to-text failed") for w in clip.warnings)
    assert clip.audio is not None  # the rest of the clip is still extracted


def test_audio_only_wav(media):
    clip = extract_clip(media["wav"], config=NO_ASR)
    assert clip.vision is None and clip.frames_sampled == 0 and clip.fps is None
    assert NO_VIDEO in clip.warnings
    assert clip.audio.shape[1] == AUDIO_DIM and 29 <= clip.audio.shape[0] <= 32
    assert clip.speech_detected


def test_video_without_audio_track(media):
    clip = extract_clip(media["no_audio"])
    assert clip.audio is None and clip.sample_rate is None
    assert NO_AUDIO in clip.warnings
    assert clip.vision.shape == (10, VISION_DIM)  # mpeg4 video, 2 s at 5 fps, face in all frames
    assert clip.transcript == "" and not clip.asr_used
    assert len(clip.waveform) == 0 and len(clip.pitch.f0) == 0


def test_no_face_and_silence_degrade_with_warnings(media):
    clip = extract_clip(media["silent_noface"])  # ASR on, but there is nothing to transcribe
    assert clip.vision is None and clip.faces_seen == 0 and clip.frames_sampled == 10
    assert NO_FACE in clip.warnings and NO_FACE == "no face found: visual modality marked missing"
    assert NO_SPEECH in clip.warnings and "no speech detected" in NO_SPEECH
    assert clip.audio is not None and clip.audio.shape[0] >= 19  # features still computed
    assert not clip.speech_detected and clip.pitch.voiced.sum() == 0
    assert clip.transcript == "" and not clip.asr_used  # whisper is not asked to hallucinate on silence
    assert clip.face_images == []


@pytest.mark.parametrize("name, message", [
    ("empty", "the file is empty"),
    ("text_as_mp4", "not an audio or video file"),
    ("text", "not an audio or video clip"),
    ("truncated", "probably truncated or corrupt"),
    ("header_only", "no audio or video could be decoded"),
])
def test_unusable_files_raise_a_clear_error(media, name, message):
    with pytest.raises(ExtractionError, match=message):
        extract_clip(media[name], config=NO_ASR)


def test_missing_file(tmp_path):
    with pytest.raises(ExtractionError, match="file not found"):
        extract_clip(tmp_path / "nowhere.mp4")


def test_truncated_but_decodable_file_keeps_what_it_can(media):
    clip = extract_clip(media["truncated_fast"], config=NO_ASR)
    assert any("looks truncated or corrupt" in w for w in clip.warnings)
    assert clip.processed_duration < 2.0 and clip.duration == pytest.approx(3.0, abs=0.1)
    assert clip.audio is not None and 5 <= clip.audio.shape[0] < 25
    assert clip.vision is not None and clip.faces_seen >= 3


def test_long_clip_is_capped_with_a_message(media):
    clip = extract_clip(media["speech_face"], config=ExtractConfig(asr=False, max_duration_s=1.5))
    assert "the clip is 3.0 s long; only the first 1.5 s were processed" in clip.warnings
    assert clip.processed_duration <= 1.55
    assert clip.audio.shape[0] == 16  # ceil(1.5 s / 0.1 s) + the centred edge frame
    assert clip.vision.shape[0] == 8  # t = 0, 0.2, ..., 1.4


def test_oversized_file_is_refused(media):
    size_mb = media["speech_face"].stat().st_size / 2**20
    with pytest.raises(ExtractionError, match=r"above the 0\.01 MB limit"):
        extract_clip(media["speech_face"], config=ExtractConfig(max_file_mb=0.01))
    assert size_mb > 0.01


def test_phone_portrait_video_is_turned_upright(media):
    reader = open_media(media["portrait"])
    assert (reader.info.width, reader.info.height) == (320, 240)  # stored sideways
    assert next(reader.frames())[1].shape == (320, 240, 3)      # analysed upright
    clip = extract_clip(media["portrait"])
    assert clip.faces_seen == 5
    assert abs(clip.vision[:, V["head_roll"]].mean()) < 15, "a sideways face would have a roll near 90 degrees"


def test_haar_backend_fills_face_box_and_smile(media):
    clip = extract_clip(media["no_audio"], config=ExtractConfig(visual_backend="haar"))
    assert clip.visual_backend == "haar"
    assert clip.vision.shape == (10, VISION_DIM)
    geometry = [V[c] for c in VISION_COLUMNS[:10]]
    assert np.all(clip.vision[:, geometry] == 0) and np.all(clip.vision[:, V["landmarks"]] == 0)
    assert np.all(clip.vision[:, V["face_size"]] > 0.1)
    assert clip.vision[:, V["haar_smile"]].mean() > 0.5, "the astronaut smiles"
    assert len(clip.face_images) == 4


def test_auto_falls_back_to_haar_without_mediapipe(media, monkeypatch):
    monkeypatch.setattr(visual, "mediapipe_available", lambda: "ImportError: no module named mediapipe")
    clip = extract_clip(media["no_audio"])
    assert clip.visual_backend == "haar" and clip.vision.shape == (10, VISION_DIM)
    assert any("mediapipe unavailable" in w for w in clip.warnings)
    with pytest.raises(ExtractionError, match="mediapipe cannot be used"):
        extract_clip(media["no_audio"], config=ExtractConfig(visual_backend="mediapipe"))


def test_library_failure_in_one_stage_loses_only_that_modality(media, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("graph crashed")

    monkeypatch.setattr(visual, "visual_features", broken)
    clip = extract_clip(media["speech_face"], "typed")
    assert clip.vision is None and clip.audio is not None
    assert "face analysis failed (RuntimeError: graph crashed): visual modality marked missing" in clip.warnings


def test_head_roll_follows_a_rotated_face():
    face = next(mf.frames(1))
    h, w = face.shape[:2]
    rotated = cv2.warpAffine(face, cv2.getRotationMatrix2D((w / 2, h / 2), 20, 1.0), (w, h),
                             borderMode=cv2.BORDER_REPLICATE)  # 20 degrees counter-clockwise on screen
    cfg = ExtractConfig()
    upright = visual.visual_features([(0.0, face)], cfg).features[0]
    tilted = visual.visual_features([(0.0, rotated)], cfg).features[0]
    assert tilted[V["head_roll"]] - upright[V["head_roll"]] == pytest.approx(-20, abs=5)
    # the aligned geometry does not change with in-plane rotation
    assert tilted[V["mouth_width"]] == pytest.approx(upright[V["mouth_width"]], rel=0.1)


def test_pure_tone_pitch_and_silence():
    sr = 16000
    t = np.arange(2 * sr) / sr
    tone = acoustic.acoustic_features((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32))
    assert tone.speech_detected and tone.pitch.voiced.mean() > 0.9
    assert np.median(tone.features[:, A["f0_hz"]]) == pytest.approx(220, rel=0.03)
    assert tone.features[:, A["spectral_flatness"]].mean() < 0.05
    silence = acoustic.acoustic_features(np.zeros(2 * sr, np.float32))
    assert not silence.speech_detected and np.isfinite(silence.features).all()
    noise = acoustic.acoustic_features(np.random.default_rng(0).normal(0, 0.1, 2 * sr).astype(np.float32))
    assert not noise.speech_detected, "white noise is not voiced"


def test_opensmile_backend(media):
    clip = extract_clip(media["wav"], config=ExtractConfig(acoustic_backend="opensmile", asr=False))
    assert clip.audio.shape[1] == len(OPENSMILE_COLUMNS) and clip.audio_columns == OPENSMILE_COLUMNS
    assert 28 <= clip.audio.shape[0] <= 31 and np.isfinite(clip.audio).all()
    assert 70 < np.nanmedian(clip.pitch.f0) < 200


def test_config_is_validated():
    with pytest.raises(ValueError, match="acoustic_backend"):
        ExtractConfig(acoustic_backend="covarep")
    with pytest.raises(ValueError, match="visual_backend"):
        ExtractConfig(visual_backend="openface")
    with pytest.raises(ValueError, match="max_duration_s"):
        ExtractConfig(max_duration_s=0)
