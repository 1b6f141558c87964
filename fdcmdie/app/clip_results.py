"""An uploaded clip analysed once (issue 30): its predictions by every loaded checkpoint, its modality Shapley values
and its word attributions are kept in the result cache (fdcmdie/cache.py, kind "upload"), in memory and on disk,
beside its extraction (AppContext.clip, kinds "clip" and "transcript").

The key is what the analysis depends on: the file's content (SHA-256) and the extraction settings (the clip's own
identity, AppContext.clip_identities), the transcript the models read (typed, or what speech-to-text heard), and each
loaded checkpoint's content (its weights and config, and its text encoder's weights). The file's name is only the
cache file's readable label: another file under the same name is another entry; the same bytes under another name,
or the same example clicked by a class, are one.
"""
from __future__ import annotations

from pathlib import Path

from ..cache import Identity, checkpoint_hash, file_hash, register
from ..inference.predictor import Explanation
from .clip_cache import clip_identities
from .context import AppContext

register(Explanation)   # the cache stores allow-listed dataclasses only

KIND = "upload"


def analysis_identity(ctx: AppContext, path: str | Path, clip, typed: str) -> Identity:
    """What the analysis of the uploaded file ``path`` (extracted as ``clip``, with the ``typed`` transcript, "" for
    none) is cached by."""
    from ..text_encoder import encoder_weights_id

    media, _ = clip_identities(file_hash(path), ctx.extract_config(), Path(path).name)
    models = {}
    for key in ctx.model_keys():
        p = ctx.predictor(key)
        models[key] = {"checkpoint": checkpoint_hash(p.path or ctx.slots[key].path),
                       "encoder": encoder_weights_id(p.cfg.model.text_encoder)
                       if p.cfg.data.text_source == "transcript" and "t" in p.modalities else None}
    return Identity(KIND, {"clip": media.digest, "typed": typed, "transcript": clip.transcript or "",
                           "models": models}, name=Path(path).name)


def analysed(ctx: AppContext, path: str | Path, clip, typed: str, compute) -> dict:
    """``compute()`` ({"explanations": {model key: Explanation}, "shapley": ModalityShapley, "words":
    WordAttribution or the reason there are none}) once per identity (``analysis_identity``); a repeat reads it from
    memory, a restart from disk. An error of ``compute`` (a refusal) is not kept."""
    ident = analysis_identity(ctx, path, clip, typed)
    return ctx.cache.get((KIND, ident.digest), compute, disk=ident)
