"""Uploads are extracted in a low-priority worker process (fdcmdie/extract/worker.py) once per file content and
extraction settings (AppContext.clip, kinds "clip" and "transcript" of the result cache).

Real clips (tests/media_fixtures.py), real extraction; the worker's features are checked against extract_clip run in
this process, and extractions are counted (ExtractWorker.jobs), not timed."""
from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest

import media_fixtures as mf
from fdcmdie.extract import ExtractConfig, extract_clip
from fdcmdie.extract.worker import ExtractWorker, WorkerLost

NO_ASR = ExtractConfig(asr=False)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Two different clips stored under the same file name, in two folders, and a copy of the first under another."""
    if not mf.espeak_available():
        pytest.fail("espeak-ng is required to build the test clips: apt-get install espeak-ng")
    d = tmp_path_factory.mktemp("worker-media")
    (d / "a").mkdir(), (d / "b").mkdir()
    first = mf.make_clip(d / "a" / "review.mp4", 2.0)
    other = mf.make_clip(d / "b" / "review.mp4", 3.0, text="a second review, longer than the first one")
    copy = Path(shutil.copy(first, d / "renamed.mp4"))
    return {"first": first, "same_name": other, "copy": copy}

def wait_dead(worker: ExtractWorker, timeout: float = 30.0) -> None:
    t = time.time()
    while worker.alive() and time.time() - t < timeout:
        time.sleep(0.05)
    assert not worker.alive(), "the killed worker is still alive"


def test_worker_is_niced_and_capped_and_computes_what_extract_clip_does(clips):
    worker = ExtractWorker(nice=10, threads=1)
    try:
        info = worker.status()
        assert info["pid"] != os.getpid() and info["pid"] == worker.pid
        assert info["nice"] == min(19, os.nice(0) + 10) and info["threads"] == 1
        media, heard = worker.extract(clips["first"], NO_ASR)
        here = extract_clip(clips["first"], config=NO_ASR)
        assert heard is None and media.transcript == ""
        np.testing.assert_allclose(media.audio, here.audio, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(media.vision, here.vision, rtol=1e-5, atol=1e-6)
        assert media.faces_seen == here.faces_seen > 0 and worker.jobs == 1
    finally:
        worker.close()


@pytest.mark.slow   # over 10 s of a quiet 2-core machine (the quick set: README)
def test_killed_worker_is_replaced_and_the_next_upload_works(clips):
    worker = ExtractWorker(nice=10, threads=1)
    try:
        before, _ = worker.extract(clips["first"], NO_ASR)
        pid = worker.pid
        os.kill(pid, signal.SIGKILL)   # out of memory, a decoder crash: the process is gone
        wait_dead(worker)
        after, _ = worker.extract(clips["first"], NO_ASR)   # a new worker, transparently
        assert worker.pid not in (None, pid) and worker.restarts == 1
        np.testing.assert_array_equal(after.audio, before.audio)
        # a worker dying *during* a job: that job gets a clear message, the next one a new worker
        pid = worker.pid
        with pytest.raises(WorkerLost, match="stopped while it worked on this file.*analyse again"):
            worker.call(os._exit, 3)
        assert worker.restarts == 2
        again, _ = worker.extract(clips["same_name"], NO_ASR)
        assert worker.pid not in (None, pid) and again.duration == pytest.approx(3.0, abs=0.15)
    finally:
        worker.close()


def test_worker_lost_reads_as_a_refusal_in_the_page():
    """WorkerLost is an ExtractionError (a ValueError): the app's callbacks show its message, no traceback."""
    from fdcmdie.extract import ExtractionError
    assert issubclass(WorkerLost, ExtractionError) and issubclass(WorkerLost, ValueError)


# ------------------------------------------------------------------------------------------------ cache


def lab(cache_dir, **options):
    """An AppContext with no checkpoint (extraction settings: the defaults), extraction in this process, results
    cached in ``cache_dir``."""
    from fdcmdie.app import AppContext, AppOptions
    return AppContext(AppOptions(checkpoint="", compare_checkpoint=None, browse_checkpoints=(),
                                 cache_dir=str(cache_dir), warm_up=False, extract_worker=False, **options))


def test_a_clip_is_extracted_once_per_content(clips, tmp_path):
    ctx = lab(tmp_path / "cache", asr=False)
    first = ctx.clip(clips["first"], "i loved it")
    assert ctx.extractor.jobs == 1 and first.transcript == "i loved it" and not first.asr_used
    again = ctx.clip(clips["first"], "i loved it")
    edited = ctx.clip(clips["first"], "actually i hated it")    # the same clip with an edited transcript
    renamed = ctx.clip(clips["copy"], "")                        # the same bytes under another name
    assert ctx.extractor.jobs == 1
    assert edited.transcript == "actually i hated it" and renamed.transcript == ""
    assert "no transcript given and speech-to-text is off: text is empty" in renamed.warnings
    for c in (again, edited, renamed):
        np.testing.assert_array_equal(c.audio, first.audio)
        np.testing.assert_array_equal(c.vision, first.vision)
    # what extract_clip gives in this process, field by field
    direct = extract_clip(clips["first"], "actually i hated it", config=ctx.extract_config(asr=False))
    assert (edited.transcript, edited.warnings, edited.duration) == (direct.transcript, direct.warnings, direct.duration)

    # a restart: a new context on the same folder reads the clip from disk
    restarted = lab(tmp_path / "cache", asr=False)
    back = restarted.clip(clips["first"], "i loved it")
    assert restarted.extractor.jobs == 0 and restarted.cache.hits.get("clip") == 1
    np.testing.assert_array_equal(back.audio, first.audio)
    np.testing.assert_array_equal(back.pitch.f0, first.pitch.f0)
    assert [f.shape for f in back.face_images] == [f.shape for f in first.face_images]
    assert list(back.audio_columns) == list(first.audio_columns) and back.faces_seen == first.faces_seen


def test_another_file_with_the_same_name_is_not_served_from_the_cache(clips, tmp_path):
    ctx = lab(tmp_path / "cache", asr=False)
    a = ctx.clip(clips["first"], "words")
    b = ctx.clip(clips["same_name"], "words")
    assert clips["first"].name == clips["same_name"].name and ctx.extractor.jobs == 2
    assert a.duration == pytest.approx(2.0, abs=0.15) and b.duration == pytest.approx(3.0, abs=0.15)
    # other extraction settings are another entry too
    ctx.options.max_duration_s = 1.0
    cut = ctx.clip(clips["first"], "words")
    assert ctx.extractor.jobs == 3 and cut.processed_duration == pytest.approx(1.0, abs=0.15)


def test_speech_to_text_is_cached_with_the_clip(clips, tmp_path):
    """With speech-to-text: heard once; asked again (or with a typed transcript) nothing runs again."""
    ctx = lab(tmp_path / "cache", asr=True)
    heard = ctx.clip(clips["first"], "", asr=True)
    assert ctx.extractor.jobs == 1 and heard.asr_used and heard.transcript.strip()
    again = ctx.clip(clips["first"], "", asr=True)
    typed = ctx.clip(clips["first"], "typed instead", asr=True)
    assert ctx.extractor.jobs == 1
    assert (again.transcript, again.words, again.asr_used) == (heard.transcript, heard.words, True)
    assert typed.transcript == "typed instead" and not typed.asr_used and typed.words == []
    direct = extract_clip(clips["first"], config=ctx.extract_config())   # speech-to-text in this process
    assert heard.transcript == direct.transcript
    restarted = lab(tmp_path / "cache", asr=True)
    assert restarted.clip(clips["first"], "", asr=True).transcript == heard.transcript
    assert restarted.extractor.jobs == 0 and restarted.cache.hits == {"transcript": 1, "clip": 1}


def process_state(pid: int) -> str | None:
    """The state letter of a process (R, S, Z, …) from /proc; None when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def test_worker_leaves_with_a_killed_server(tmp_path):
    """A server stopped by a signal runs no clean-up: its worker notices it is gone and exits, no orphan is left."""
    import subprocess
    import sys

    script = tmp_path / "server.py"
    script.write_text("import sys, time\nfrom fdcmdie.extract.worker import ExtractWorker\n"
                      "w = ExtractWorker()\nprint(w.status()['pid'], flush=True)\ntime.sleep(600)\n")
    root = Path(__file__).resolve().parents[1]
    server = subprocess.Popen([sys.executable, str(script)], cwd=root, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(root)})
    try:
        pid = int(server.stdout.readline())
        os.kill(pid, 0)                      # the worker runs
        server.kill()
        server.wait(30)
        t = time.time()
        while time.time() - t < 30 and process_state(pid) not in (None, "Z"):
            time.sleep(0.2)
        assert process_state(pid) in (None, "Z"), f"the worker {pid} outlived its server"
    finally:
        server.kill()
