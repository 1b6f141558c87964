"""Word attributions: which words of a transcript pushed this prediction up or down, and by how much.

Integrated gradients (Sundararajan et al. 2017, "Axiomatic attribution for deep networks") with Captum over the
text encoder's input word embeddings e_1 … e_l:

    IG_j = (e_j − e'_j) · ∫_0^1 ∂F(e' + s (e − e')) / ∂e_j ds,      Σ_j IG_j = F(e) − F(e')      (completeness)

F is the whole checkpoint from word embeddings to the predicted score, with the acoustic / visual inputs of the
sample held as they are; the baseline e' replaces every word piece by the [PAD] embedding and keeps [CLS] / [SEP]
(position and segment embeddings are added inside the encoder, as for the input). The integral is a Gauss–Legendre
sum of ``n_steps`` points, all in one batch; ``delta`` is what completeness misses. 32 points by default: on 12 MOSI
test samples through the e5 default, the median |delta| is 9 % of F(e) − F(e') with 16 points, 0.5 % with 32 (0.7 s
a sample on 2 CPU cores), 0 with 64 (1.3 s).

What F is, per checkpoint (``model.text_finetune_layers``): the cached token states the checkpoints read are the
pretrained encoder's layer ``L − n`` (``n = 0``: its last layer), so for a frozen or top-``n`` checkpoint F runs the
frozen bottom ``L − n`` layers *in the graph* (the same computation that made the cached states, in float32) and then
the checkpoint's own top layers and the rest of the model. The gradient therefore reaches the words for every
transcript checkpoint, frozen ones included, and the attributions describe the model the app runs, not a stand-in.
For the whole-encoder recipe (``n = −1``) F starts at the checkpoint's own encoder. F, e and e' come from
:meth:`Predictor.word_path <fdcmdie.inference.Predictor.word_path>` (``fdcmdie/inference/gradients.py``).

Leave-one-word-out occlusion (``method="occlusion"``) is used where there is no differentiable path from the words
(an encoder that is not BERT-style and so cannot take input embeddings); it is also available for comparison:
score_w = F(text) − F(text without word w), re-encoded, all variants in one batch. Checkpoints that read the MOSI
bundle's precomputed text-CNN vectors have no words to attribute (ValueError).

Words are the tokenizer's words (its pre-tokenizer splits punctuation off), each a character span of the text; a
word's score is the sum over its word pieces. Words cut off by ``max_text_len`` are not read and get no score.

    wa = word_attributions(predictor, "i loved it but the end was weak", audio=frames)
    wa.words, wa.scores, wa.pred, wa.baseline, wa.delta
    wa.highlighted()        # [(text piece, score in [-1, 1] or None)] for gr.HighlightedText
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

METHODS = ("auto", "ig", "occlusion")


@dataclass
class WordAttribution:
    """Scores of the words of ``text`` (in score units of the prediction: IG sums to pred − baseline)."""

    text: str
    words: list[str]
    spans: list[tuple[int, int]]      # character span of each word in ``text``
    scores: np.ndarray                # (n_words,)
    method: str                       # "integrated gradients" | "occlusion"
    pred: float                       # F(input) as the attribution saw it
    baseline: float                   # IG: F(all words [PAD]); occlusion: nan
    delta: float = 0.0                # IG: Σ scores − (pred − baseline)

    def top(self, k: int) -> list[int]:
        """Indices of the k words with the largest |score|."""
        return [int(i) for i in np.argsort(-np.abs(self.scores), kind="stable")[:k]]

    def highlighted(self) -> list[tuple[str, float | None]]:
        """The whole text as (piece, score / max |score|) pairs; text between words gets None."""
        peak = float(np.abs(self.scores).max()) if len(self.scores) else 0.0
        out: list[tuple[str, float | None]] = []
        at = 0
        for (s, e), v in zip(self.spans, self.scores):
            if s > at:
                out.append((self.text[at:s], None))
            out.append((self.text[s:e], round(float(v) / peak, 3) if peak > 0 else 0.0))
            at = e
        if at < len(self.text):
            out.append((self.text[at:], None))
        return out

    def rows(self) -> list[dict]:
        return [{"word": w, "score": round(float(v), 4)} for w, v in zip(self.words, self.scores)]


def without_words(text: str, spans: list[tuple[int, int]], drop) -> str:
    """``text`` with the words at indices ``drop`` removed (whitespace collapsed)."""
    drop = set(int(i) for i in drop)
    pieces, at = [], 0
    for i, (s, e) in enumerate(spans):
        if i in drop:
            pieces.append(text[at:s])
            at = e
    pieces.append(text[at:])
    return " ".join("".join(pieces).split())


def resolve_method(predictor, method: str = "auto") -> str:
    """"ig" or "occlusion" for this checkpoint; ValueError when its text input has no words."""
    if method not in METHODS:
        raise ValueError(f"attribution method must be one of {METHODS}, got {method!r}")
    reason = predictor.words_reason()
    if reason:
        raise ValueError(reason)
    if method != "auto":
        return method
    return "occlusion" if predictor.text_gradient_reason() else "ig"


def word_attributions(predictor, text: str, audio: np.ndarray | None = None, vision: np.ndarray | None = None, *,
                      drop=frozenset(), method: str = "auto", n_steps: int = 32) -> WordAttribution:
    """Attributions of the words of ``text`` for ``predictor``'s prediction of this input (``audio`` / ``vision``
    un-normalised (l, d) frames or None, ``drop``: modalities marked missing, as in :meth:`Predictor.what_if`)."""
    method = resolve_method(predictor, method)
    text = (text or "").strip()
    if not text or "t" in set(drop):
        raise ValueError("there are no words to attribute (the text is empty or switched off)")
    words, spans = predictor.words(text)
    if not words:
        raise ValueError("there are no words to attribute (the tokenizer found none)")
    with predictor.compute_threads():
        if method == "occlusion":
            return _occlusion(predictor, text, words, spans, audio, vision, drop)
        return _integrated_gradients(predictor.word_path(text, audio, vision, drop=drop), text, n_steps=n_steps)


# ---------------------------------------------------------------------------------------- integrated gradients


def _integrated_gradients(path, text: str, *, n_steps: int) -> WordAttribution:
    """IG over a :class:`fdcmdie.inference.gradients.WordPath` (Captum, Gauss–Legendre, all steps in one batch)."""
    from captum.attr import IntegratedGradients  # captum: only the attributions need it

    ig = IntegratedGradients(path.forward)
    attr = ig.attribute(path.inputs, baselines=path.baseline, n_steps=n_steps, method="gausslegendre",
                        internal_batch_size=n_steps)
    with torch.no_grad():
        ends = path.forward(torch.cat([path.inputs, path.baseline]))  # F(e), F(e'): completeness is checked on these
    per_piece = attr.sum(-1)[0].detach().cpu().numpy().astype(np.float64)
    scores = np.array([per_piece[js].sum() for js in path.groups])
    pred, baseline = float(ends[0]), float(ends[1])
    return WordAttribution(text=text, words=path.words, spans=path.spans, scores=scores,
                           method="integrated gradients", pred=pred, baseline=baseline,
                           delta=float(per_piece.sum() - (pred - baseline)))


# ---------------------------------------------------------------------------------------------- occlusion


def _occlusion(predictor, text: str, words, spans, audio, vision, drop) -> WordAttribution:
    variants = [text] + [without_words(text, spans, [i]) for i in range(len(words))]
    preds = predict_variants(predictor, variants, audio, vision, drop)
    return WordAttribution(text=text, words=words, spans=spans, scores=preds[0] - preds[1:], method="occlusion",
                           pred=float(preds[0]), baseline=float("nan"))


def predict_variants(predictor, texts: list[str], audio=None, vision=None, drop=frozenset()) -> np.ndarray:
    """Predictions of several texts with the same acoustic / visual input, in one batch; an empty text is the text
    modality missing (as when every word of a sentence is deleted)."""
    texts = list(texts)
    batch = predictor.batch([t if t.strip() else "" for t in texts],
                            audio=None if audio is None else [audio] * len(texts),
                            vision=None if vision is None else [vision] * len(texts), drop=drop)
    return predictor.run(batch).pred.astype(np.float64)


# ------------------------------------------------------------------------------------------ deletion check


@dataclass
class DeletionCheck:
    """Deletion sanity check (in the spirit of Samek et al. 2017 / DeYoung et al. 2020 "comprehensiveness"): per k,
    the mean |change of the prediction| when the k words with the largest |attribution| are deleted vs when k words
    drawn at random are deleted, over the samples with more than k words. ratio > 1: the attributions point at
    words the prediction depends on more than chance."""

    k: list[int]
    n: list[int]              # samples with more than k words
    top: list[float]          # mean |Δ pred|, top-k attributed words deleted
    random: list[float]       # mean |Δ pred|, k random words deleted
    seconds: list[float]      # attribution time per sample

    @property
    def ratio(self) -> list[float]:
        return [t / r if r > 0 else float("inf") for t, r in zip(self.top, self.random)]

    def to_dict(self) -> dict:
        return {"k": self.k, "n": self.n, "top": self.top, "random": self.random, "ratio": self.ratio}


def deletion_check(predictor, inputs, *, ks=(1, 2, 3), method: str = "auto", n_steps: int = 32, seed: int = 0,
                   progress: bool = False) -> DeletionCheck:
    """Run the deletion check over ``inputs``: (text, audio, vision) triples as :func:`word_attributions` takes
    them (un-normalised frames or None). The random words are drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    moved = {k: ([], []) for k in ks}
    seconds = []
    items = list(inputs)
    if progress:
        items = tqdm(items, desc="deletion check", unit="sample")
    for text, audio, vision in items:
        if not (text or "").strip():
            continue
        t0 = time.perf_counter()
        wa = word_attributions(predictor, text, audio, vision, method=method, n_steps=n_steps)
        seconds.append(time.perf_counter() - t0)
        variants, which = [wa.text], []
        for k in ks:
            if len(wa.words) > k:
                variants += [without_words(wa.text, wa.spans, wa.top(k)),
                             without_words(wa.text, wa.spans, rng.choice(len(wa.words), size=k, replace=False))]
                which.append(k)
        if not which:
            continue
        preds = predict_variants(predictor, variants, audio, vision)
        for j, k in enumerate(which):
            moved[k][0].append(abs(preds[0] - preds[1 + 2 * j]))
            moved[k][1].append(abs(preds[0] - preds[2 + 2 * j]))
    mean = lambda xs: float(np.mean(xs)) if xs else float("nan")
    return DeletionCheck(k=list(ks), n=[len(moved[k][0]) for k in ks], top=[mean(moved[k][0]) for k in ks],
                         random=[mean(moved[k][1]) for k in ks], seconds=seconds)
