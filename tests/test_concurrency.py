"""A class at once: typed text has its own event and API name (/predict_text) in the light concurrency group, so it
answers while clip extractions (the heavy group, one at a time) are in flight. The app is served in this process on a
free port with a stubbed extractor that holds each upload for a while; gradio_client drives it over loopback."""
from __future__ import annotations

import threading
import wave

import numpy as np
import pytest

HOLD_S = 600.0  # the stubbed extractor holds each upload until the test releases it (at most this long)


@pytest.fixture()
def served(ctx, monkeypatch):
    """build_demo(ctx) served on a free localhost port; the clip extractor (the worker process's) replaced by a slow
    stub."""
    import app
    from fdcmdie.app.serving import free_port

    started, release, calls = threading.Event(), threading.Event(), []

    def slow_extract(path, config, *, asr=False):
        calls.append(path)
        started.set()
        release.wait(HOLD_S)
        raise ValueError("stub extractor: this test does not extract clips")

    monkeypatch.setattr(ctx.extractor, "extract", slow_extract)
    demo = app.build_demo(ctx)
    demo.queue(default_concurrency_limit=2)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    try:
        yield f"http://127.0.0.1:{port}/", started, release, calls
    finally:
        release.set()
        demo.close()


def test_typed_text_answers_while_uploads_are_extracted(served, tmp_path):
    from gradio_client import Client, handle_file

    url, started, release, calls = served
    wav = tmp_path / "tone.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes((3000 * np.sin(np.linspace(0, 2000, 16000))).astype(np.int16).tobytes())
    client = Client(url, verbose=False)
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert "/predict_text" in api and "/run_upload" in api
    assert [p["parameter_name"] for p in api["/predict_text"]["parameters"]] == ["transcript"]

    uploads = [client.submit(None, handle_file(str(wav)), "", False, api_name="/run_upload") for _ in range(2)]
    assert started.wait(60), "the stubbed extractor was never called"
    out = client.predict("i loved every minute of this film", api_name="/predict_text")
    # answered while the first upload is held in the extractor and the second waits for the heavy group's one slot
    assert not any(u.done() for u in uploads) and len(calls) == 1
    extracted, prediction = out[0], out[4]
    assert "Typed text only" in extracted and prediction.startswith("### Prediction:")
    # the word attributions follow as an event of their own (one at a time), never holding up the prediction
    from fdcmdie.app.upload import WORDS_FOLLOW
    assert out[-1] == WORDS_FOLLOW and "/typed_words" in api      # the last output: the words caption
    words, caption = client.predict("i loved every minute of this film", api_name="/typed_words")
    assert [w["token"] for w in words if w["class_or_confidence"] is not None][:2] == ["i", "loved"]
    assert caption.startswith("Strongest words")
    release.set()
    for u in uploads:   # the stub's refusal comes back as the page's message, not a crash
        with pytest.raises(Exception, match="stub extractor"):
            u.result(timeout=120)
    assert len(calls) == 2
