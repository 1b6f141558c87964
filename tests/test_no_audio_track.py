"""A video file without an audio track (issue 20, item 4) is answered "this file has no audio track", never "no
speech": the extractor tells the two apart (fdcmdie.extract.NoAudioTrack, ClipFeatures.audio_track). The clips are
made here with PyAV: one with no audio stream at all, one whose audio stream holds silence."""
from __future__ import annotations

import av
import pytest

import media_fixtures as mf
from fdcmdie.extract import NO_AUDIO_TRACK, ExtractConfig, ExtractionError, NoAudioTrack, extract_clip
from fdcmdie.extract.clip import NO_AUDIO, NO_SPEECH
from fdcmdie.extract.media import open_media

HAAR = ExtractConfig(visual_backend="haar", asr=True)   # ASR asked for: a file without sound must not reach it


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("no-audio")
    return {"mute": mf.make_clip(d / "mute.mp4", 1.0, audio=None),               # no audio stream
            "quiet": mf.make_clip(d / "quiet.mp4", 1.0, audio="silence")}         # an audio stream of silence


def test_the_fixtures_differ_only_in_having_an_audio_stream(clips):
    with av.open(str(clips["mute"])) as f:
        assert [s.type for s in f.streams] == ["video"]
    with av.open(str(clips["quiet"])) as f:
        assert sorted(s.type for s in f.streams) == ["audio", "video"]
    assert not open_media(clips["mute"]).info.has_audio and open_media(clips["quiet"]).info.has_audio


def test_a_video_without_sound_is_refused_by_name_when_audio_is_required(clips):
    with pytest.raises(NoAudioTrack, match=rf"^mute.mp4: {NO_AUDIO_TRACK} \(a video without sound\)") as e:
        extract_clip(clips["mute"], config=HAAR, require_audio=True)
    assert isinstance(e.value, ExtractionError) and "no speech detected" not in str(e.value)
    assert extract_clip(clips["quiet"], config=HAAR, require_audio=True).audio_track   # a silent track is a track


def test_without_requiring_audio_the_video_is_used_and_the_warnings_say_no_audio_track(clips):
    mute = extract_clip(clips["mute"], config=HAAR)
    assert not mute.audio_track and mute.audio is None and mute.vision is not None and not mute.asr_used
    assert NO_AUDIO in mute.warnings and NO_AUDIO.startswith("this file has no audio track")
    assert f"no transcript given and {NO_AUDIO_TRACK} to transcribe: text is empty" in mute.warnings
    assert not any("no speech" in w for w in mute.warnings)
    quiet = extract_clip(clips["quiet"], config=HAAR)        # the contrast: a track of silence is "no speech"
    assert quiet.audio_track and NO_SPEECH in quiet.warnings and NO_AUDIO not in quiet.warnings
