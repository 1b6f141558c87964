"""A differentiable path from the words to the prediction, for integrated gradients
(:mod:`fdcmdie.explain.attributions`).

F(e) is the whole checkpoint from the word embeddings e_1 … e_l of a text to the predicted score, with the acoustic /
visual inputs of the sample held as they are. The cached token states the checkpoints read are the pretrained
encoder's layer ``L − n`` (``model.text_finetune_layers = n``; ``n = 0``: its last layer), so for a frozen or
top-``n`` checkpoint F runs the frozen bottom ``L − n`` layers *in the graph* (the computation that made the cached
states, in float32) and then the checkpoint's own top layers and the rest of the model. For the whole-encoder recipe
(``n = −1``) F starts at the checkpoint's own encoder, through a view of the model (nothing copied, the model itself
untouched, so other threads may use it meanwhile).

Words are the tokenizer's words (BERT's pre-tokenizer splits punctuation off; SentencePiece tokenizers such as e5's
split at whitespace only, so a piece of punctuation alone, like the "," of "movie,", is made a word of its own here),
each a character span of the text without its surrounding spaces; a word's pieces are the tokens it was split into.
Words cut off by ``max_text_len`` are not read.
"""
from __future__ import annotations

import copy
import unicodedata
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..data.base import Batch
from ..language import split_unspaced
from ..text_encoder import FullEncoder, TopLayers, encoder_layers, load_encoder


@dataclass
class WordPath:
    """What integrated gradients over the words of one input need (tensors on the predictor's device)."""

    words: list[str]
    spans: list[tuple[int, int]]      # character span of each word in the text
    groups: list[list[int]]           # the token positions (word pieces) of each word
    inputs: torch.Tensor              # (1, l, d_t) word embeddings e of the tokens ([CLS] … [SEP])
    baseline: torch.Tensor            # (1, l, d_t) e': every word piece the [PAD] embedding, [CLS] / [SEP] kept
    forward: Callable[[torch.Tensor], torch.Tensor]   # F: (n, l, d_t) embeddings -> (n,) predictions, differentiable


def words_of(cfg, text: str):
    """(words, character spans, token ids (1, l), word pieces of each word) of ``text`` as the checkpoint's
    tokenizer reads it."""
    tok, _ = load_encoder(cfg.model.text_encoder)
    enc = tok([text], truncation=True, max_length=cfg.model.max_text_len, return_offsets_mapping=True,
              return_tensors="pt")
    offsets = enc["offset_mapping"][0].tolist()
    groups: list[list[int]] = []
    last, prev_alone = None, False
    for j, w in enumerate(enc.word_ids(0)):
        if w is None:
            continue
        start, end = offsets[j]
        piece = text[start:end]
        spaced = piece[:1].isspace() or (start > 0 and text[start - 1].isspace())    # a piece after a space
        alone = _punctuation(piece)                  # a punctuation piece is a word of its own, and so is the next
        if w != last or spaced or alone or prev_alone:
            groups.append([j])
        else:
            groups[-1].append(j)
        last, prev_alone = w, alone
    groups = split_unspaced(text, offsets, groups)   # Chinese / Japanese: words, not whole runs between spaces
    spans = [_strip(text, offsets[js[0]][0], offsets[js[-1]][1]) for js in groups]
    return [text[s:e] for s, e in spans], spans, enc["input_ids"], groups


def _punctuation(piece: str) -> bool:
    piece = piece.strip()
    return bool(piece) and all(unicodedata.category(c).startswith("P") for c in piece)


def _strip(text: str, s: int, e: int) -> tuple[int, int]:
    """The span without the spaces SentencePiece's offsets include (its "▁" marks the space before a word)."""
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


class _EncoderParts(nn.Module):
    """The differentiable text path from word embeddings to what ``model.extract["t"]`` consumes."""

    def __init__(self, *, embeddings: nn.Module, layers: list[nn.Module], word_embeddings: nn.Module):
        super().__init__()
        self.embeddings, self.word_embeddings = embeddings, word_embeddings
        self.layers = TopLayers(layers)

    def forward(self, e: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:   # e (n, l, d_t) word embeddings
        return self.layers(self.embeddings(inputs_embeds=e), mask)


def encoder_parts(model: nn.Module, cfg) -> tuple[_EncoderParts, nn.Module]:
    """(text path, model to feed its output to). Frozen / top-n: the pretrained bottom L − n layers, whose output
    the checkpoint's model reads as its cached states; whole encoder: the checkpoint's encoder, and a view of the
    model whose text branch starts after it. ValueError for an encoder without BERT-style embeddings and layers."""
    n = cfg.model.text_finetune_layers
    trainable = model.extract["t"].encoder
    base = trainable.model if isinstance(trainable, FullEncoder) else load_encoder(cfg.model.text_encoder)[1]
    emb = getattr(base, "embeddings", None)
    if emb is None or not hasattr(emb, "word_embeddings"):
        raise ValueError(f"{type(base).__name__} has no BERT-style embeddings: no gradient path to the words")
    layers = list(encoder_layers(base))
    if isinstance(trainable, FullEncoder):
        return _EncoderParts(embeddings=emb, layers=layers, word_embeddings=emb.word_embeddings), _states_view(model)
    bottom = layers if n == 0 else layers[: len(layers) - n]
    return _EncoderParts(embeddings=emb, layers=bottom, word_embeddings=emb.word_embeddings), model


def _states_view(model: nn.Module) -> nn.Module:
    """A view of ``model`` (same parameters, nothing copied) whose text branch reads encoder output states instead of
    running its whole encoder from token ids; the model itself is left untouched (thread-safe)."""
    view = copy.copy(model)
    object.__setattr__(view, "_modules", dict(model._modules))
    text = copy.copy(model.extract["t"])
    object.__setattr__(text, "_modules", {**text._modules, "encoder": None})
    extract = nn.ModuleDict(dict(model.extract.items()))
    extract["t"] = text
    view._modules["extract"] = extract
    return view


def _repeat(batch: Batch, n: int) -> Batch:
    """``batch`` (one row) repeated n times."""
    out = Batch(**batch.__dict__)
    for key, value in batch.__dict__.items():
        if torch.is_tensor(value):
            setattr(out, key, value.expand(n, *value.shape[1:]) if value.shape[0] == 1 else value)
    out.ids, out.texts = batch.ids * n, batch.texts * n
    return out


def word_path(p, text: str, audio=None, vision=None, *, drop=frozenset()) -> WordPath:
    """The :class:`WordPath` of ``text`` with ``audio`` / ``vision`` (un-normalised frames or None) and ``drop``
    (modalities marked missing) for the Predictor ``p``; ValueError when there is no gradient path to the words."""
    cfg, device = p.cfg, p.device
    parts, model = encoder_parts(p.model, cfg)
    model.eval()
    words, spans, ids, groups = words_of(cfg, text)
    # the text slot of the batch is filled in the graph below: a placeholder of the right length saves encoding
    slot = text if cfg.model.text_finetune_layers < 0 else np.zeros((ids.shape[1], cfg.model.text_dim), np.float32)
    batch = p.batch([slot], audio=None if audio is None else [audio], vision=None if vision is None else [vision],
                    drop=drop).to(device)
    ids, l = ids.to(device), ids.shape[1]
    mask = torch.ones(1, l, dtype=torch.bool, device=device)
    batch.text_ids, batch.text, batch.text_mask = None, None, mask
    with torch.no_grad():
        e = parts.word_embeddings(ids).detach()
        tok, _ = load_encoder(cfg.model.text_encoder)
        pad_id = int(tok.pad_token_id if tok.pad_token_id is not None else 0)
        base = e.clone()
        pieces = [j for js in groups for j in js]
        base[0, pieces] = parts.word_embeddings(torch.tensor([pad_id], device=device))[0]

    def forward(x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        b = _repeat(batch, n)
        b.text_mask = mask.expand(n, l)
        b.text = parts(x, b.text_mask)
        return model(b)["pred"]

    return WordPath(words=words, spans=spans, groups=groups, inputs=e, baseline=base, forward=forward)
