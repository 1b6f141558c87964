"""Uploaded clips: extracted in a low-priority worker process (fdcmdie/extract/worker.py), once per file content and
extraction settings, the media part and what speech-to-text heard cached apart (in memory and on disk)."""
from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

from ..cache import Identity, file_hash

log = logging.getLogger("fdcmdie.app")


class Clips:
    """AppContext's uploads (a mixin over ``cache``, ``options``, ``extractor`` and ``predictor``)."""

    def clip(self, path: str | Path, typed: str | None = None, *, asr: bool = True):
        """An uploaded file's ClipFeatures (fdcmdie.extract): the typed transcript when given, else speech-to-text
        when ``asr`` (and the app allows it). Extracted in the worker process (``self.extractor``) once per file
        content and extraction settings: the media part (acoustic and visual frames, what the page shows) and what
        speech-to-text heard are cached apart, in memory and on disk (kinds "clip" and "transcript"), so the same
        example clicked by a class, or one clip analysed again with an edited transcript, is not extracted again.
        A file of the same name but another content is another entry (the key is its SHA-256)."""
        from ..extract.clip import transcript_of, with_transcript

        typed = (typed or "").strip()
        config = self.extract_config(asr=bool(asr) and self.options.asr and not typed)
        t0, ran = time.perf_counter(), []   # ran: the extractions this call made

        def extract(want_asr: bool):
            ran.append(want_asr)
            return self.extractor.extract(path, config, asr=want_asr)

        sha = file_hash(path)
        media_id, text_id = clip_identities(sha, config, Path(path).name)
        media_key, text_key = ("clip", media_id.digest), ("transcript", text_id.digest)
        heard = None
        if config.asr:
            heard = self.cache.peek(text_key)
            if heard is None:
                with self.cache.lock(text_key), self.cache.lock(media_key):   # this order everywhere: no deadlock
                    heard = self.cache.peek(text_key) or (self.cache.load(text_id) if self.cache.disk else None)
                    if heard is None:
                        media, heard = extract(True)
                        self._keep(media_key, media_id, media)
                        if heard.asr_used:   # a failed speech-to-text (empty, with its warning) is not kept
                            self._keep(text_key, text_id, heard)
                    else:
                        self.cache.put(text_key, heard)
        media = self._once(media_key, lambda: extract(False)[0], disk=media_id)
        log.info("clip %s (%s…): %s in %.1f s", Path(path).name, sha[:12], "extracted" if ran else "from the cache",
                 time.perf_counter() - t0)   # benchmarks/app.py counts these lines
        return with_transcript(media, heard if heard is not None else transcript_of(media, typed, False, config))

    def _keep(self, key, ident: Identity, value) -> None:
        """``value`` in the cache under ``key`` (memory) and ``ident`` (disk)."""
        self.cache.put(key, value)
        if self.cache.disk:
            self.cache.save(ident, value)

    def extract_config(self, **overrides):
        """Extraction settings for uploads: the main checkpoint's, with the app's limits."""
        try:
            p = self.predictor("main")
            base = p.extract_config
        except ValueError:
            from ..extract import ExtractConfig
            base = ExtractConfig
        settings = {"max_duration_s": self.options.max_duration_s, "max_file_mb": self.options.max_upload_mb,
                    "asr": self.options.asr}
        settings.update(overrides)
        return base(**settings)


# extraction settings that do not change a clip's features: left out of its cache identity
NOT_MEDIA = ("asr", "asr_model", "asr_compute_type", "asr_threads", "max_file_mb")


def clip_identities(sha: str, config, name: str = "") -> tuple[Identity, Identity]:
    """(media, transcript): what an uploaded file's extraction is cached by: the file's SHA-256 and the settings each
    part depends on (the transcript: the speech-to-text model and the seconds analysed)."""
    settings = dataclasses.asdict(config)
    media = {k: v for k, v in settings.items() if k not in NOT_MEDIA}
    heard = {k: settings[k] for k in ("asr_model", "asr_compute_type", "max_duration_s")}
    return (Identity("clip", {"file": sha, "settings": media}, name=name),
            Identity("transcript", {"file": sha, "settings": heard}, name=name))
