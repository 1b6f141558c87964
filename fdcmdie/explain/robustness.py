"""Robustness curves (in the spirit of Robust-MSA and OpenVNA): a checkpoint's metrics on a split as a modality is
removed, as its input features are noised, and as words are dropped from the transcripts.

    r = robustness_curves(predictor, "test")        # JSON-ready dict: clean metrics + one record per condition
    python -m fdcmdie robustness --checkpoint checkpoints/mosi-std-ta --split test --out docs/robustness

The command is :mod:`fdcmdie.report.robustness`; the tables and the docs' PNG are :mod:`fdcmdie.render.robustness`,
the model card's plotly figure :mod:`fdcmdie.app.plots.robustness`.

Conditions (every one scored with ``metrics.compute_metrics`` on the whole split):

- ``drop``: the modality's mask is all False for every sample, exactly as a missing input in training and
  inference (GAP gives it α = 0).
- ``noise``: x + level · σ_f · ε with ε ~ N(0, 1) on the modality's real time steps, where σ_f is feature f's
  standard deviation over the split's real steps in the model's input space (z-scored audio/video frames; the
  cached token states of the text encoder). Level 0 is the clean input.
- ``words``: each word of a transcript is dropped with probability p (at least one word is kept) and the shortened
  transcript is encoded again through the checkpoint's text path (``data.text_inputs`` with its config, as
  ``Predictor`` does: the frozen encoder or the cached states below the fine-tuned top layers). The fraction of words
  actually dropped is reported. The encodings go to the checkpoint's on-disk feature cache, so a rerun is quick.

Noise and word dropping use a fixed seed, so the curves are reproducible.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from . import MOD_NAMES
from ..facts import BATCH_FIELD, MODALITIES
from ..metrics import compute_metrics

NOISE_LEVELS = (0.5, 1.0, 2.0)               # σ of the added noise, in units of each feature's σ
WORD_DROP = (0.1, 0.2, 0.3, 0.4, 0.5)        # probability of dropping each word
SEED = 0
SEQ = {m: (field, f"{field}_mask") for m, field in BATCH_FIELD.items()}   # a modality's batch field and its mask


def drop_words(text: str, p: float, rng: np.random.Generator) -> str:
    """``text`` with each word dropped with probability ``p``; at least one word (chosen at random) is kept."""
    words = text.split()
    if not words or p <= 0:
        return " ".join(words)
    keep = rng.random(len(words)) >= p
    if not keep.any():
        keep[rng.integers(len(words))] = True
    return " ".join(w for w, k in zip(words, keep) if k)


def _feature_std(batches, m: str) -> torch.Tensor:
    """σ_f of modality ``m``'s features over the real time steps of all batches (1 where a feature is constant)."""
    x_key, mask_key = SEQ[m]
    frames = torch.cat([getattr(b, x_key)[getattr(b, mask_key)] for b in batches])
    std = frames.std(0) if len(frames) > 1 else torch.ones(frames.shape[-1])
    return torch.where(std > 1e-6, std, torch.ones_like(std))


def _noised(batch, m: str, sigma: torch.Tensor, gen: torch.Generator):
    x_key, mask_key = SEQ[m]
    x, mask = getattr(batch, x_key), getattr(batch, mask_key)
    noise = torch.randn(x.shape, generator=gen) * sigma * mask[..., None]
    new = type(batch)(**batch.__dict__)
    setattr(new, x_key, x + noise)
    return new


@torch.no_grad()
def robustness_curves(predictor, split: str = "test", data_root: str | Path | None = None, *,
                      noise_levels=NOISE_LEVELS, word_drop=WORD_DROP, seed: int = SEED, rows=None,
                      batch_size: int = 128, progress=None) -> dict:
    """Metrics of ``predictor`` on ``split`` under each condition (see the module docstring). ``rows``: a subset of
    the split's rows (default all); ``progress``: a callable given one line per condition. Returns a JSON-ready dict
    {checkpoint, split, n, modalities, modality_dropout, seed, clean, conditions: [{kind, modality, level, metrics,
    …}], seconds}."""
    t0 = time.perf_counter()
    say = progress or (lambda line: None)
    if rows is not None and len(rows) == 0:
        raise ValueError("no samples to score")
    # batches of transcripts of similar length (less padding); ``order`` is the split's rows in batch order
    order, base = predictor.split_batches(split, data_root, rows=rows, batch_size=batch_size, by_length=True)
    if len(order) == 0:
        raise ValueError("no samples to score")
    mods = [m for m in MODALITIES if m in predictor.modalities]
    label = np.concatenate([b.label.numpy() for b in base]).astype(np.float64)

    def score(batches, keep=None) -> dict:
        pred = predictor.run(batches, keep=keep).pred
        return {k: round(float(v), 4) for k, v in compute_metrics(pred, label).items()}

    clean = score(base)
    say(f"clean: {_line(clean)}")
    conditions = []

    def add(kind: str, m: str | None, level: float | None, metrics: dict, **extra) -> None:
        conditions.append({"kind": kind, "modality": m, "level": level, "metrics": metrics, **extra})
        what = (f"without {MOD_NAMES[m]}" if kind == "drop" else f"{MOD_NAMES[m]} noise {level:g}σ" if kind == "noise"
                else f"words dropped p={level:g}")
        say(f"{what}: {_line(metrics)}")

    if len(mods) > 1:
        for m in mods:
            add("drop", m, None, score(base, keep=[x for x in mods if x != m]))
    for i, m in enumerate(mods):
        if m == "t" and base[0].text is None:
            continue  # token ids: there is no feature space to noise (word dropping still applies)
        sigma = _feature_std(base, m)
        for j, level in enumerate(noise_levels):
            if level == 0:
                add("noise", m, 0.0, clean)
                continue
            gen = torch.Generator().manual_seed(seed * 1000 + 10 * i + j)
            add("noise", m, float(level), score([_noised(b, m, sigma * float(level), gen) for b in base]))

    words_note = None
    if "t" in mods and predictor.cfg.data.text_source == "transcript":
        texts = [t for b in base for t in b.texts]
        n_words = sum(len(t.split()) for t in texts)
        for j, p in enumerate(word_drop):
            rng = np.random.default_rng([seed, j])
            short = [drop_words(t, float(p), rng) for t in texts]
            kept = sum(len(t.split()) for t in short)
            _, shortened = predictor.split_batches(split, data_root, rows=order, batch_size=batch_size, texts=short)
            add("words", "t", float(p), score(shortened), dropped_fraction=round(1 - kept / max(n_words, 1), 4))
    elif "t" in mods:
        words_note = "the text input is a precomputed vector per sample: words cannot be dropped"

    cfg = predictor.cfg
    m_cfg = cfg.model
    recipe = {"dataset": predictor.meta.get("dataset", cfg.data.source), "modalities": mods,
              "text_encoder": m_cfg.text_encoder, "text_finetune_layers": m_cfg.text_finetune_layers, "d": m_cfg.d,
              "k": m_cfg.k, "contrastive": bool(cfg.loss.contrastive)}  # what two checkpoints must share to be paired
    meta = predictor.meta or {}
    training = {"best_epoch": meta.get("best_epoch"), "stopped_early": bool(meta.get("partial"))}  # partial: run stopped
    return {"checkpoint": predictor.name, "recipe": recipe, "training": training, "path": str(predictor.path) if predictor.path else None, "split": split,
            "dataset": predictor.meta.get("dataset", cfg.data.source), "n": int(len(order)), "modalities": mods,
            "contrastive": bool(cfg.loss.contrastive), "modality_dropout": float(cfg.loss.modality_dropout),
            "seed": int(seed), "noise_levels": [float(x) for x in noise_levels],
            "word_drop": [float(x) for x in word_drop], "clean": clean, "conditions": conditions,
            "words_note": words_note, "seconds": round(time.perf_counter() - t0, 1)}


def _line(m: dict) -> str:
    return f"Acc-2 (non-0) {m['acc2_non0']:.2f}, MAE {m['mae']:.3f}, Corr {m['corr']:.3f}"


def curve(result: dict, kind: str, modality: str | None = None, metric: str = "acc2_non0") -> tuple[list, list]:
    """(x, y) of one curve: noise levels or word-drop probabilities, starting from the clean input at 0."""
    xs, ys = [0.0], [result["clean"][metric]]
    for c in result["conditions"]:
        if c["kind"] == kind and (modality is None or c["modality"] == modality) and c["level"]:
            xs.append(c["level"])
            ys.append(c["metrics"][metric])
    return xs, ys


def summary_rows(result: dict, metric: str = "acc2_non0") -> list[dict]:
    """One row per condition: {condition, value, change vs clean}, the clean input first."""
    clean = result["clean"][metric]
    rows = [{"condition": "clean", "value": clean, "change": 0.0}]
    for c in result["conditions"]:
        if c["kind"] == "noise" and not c["level"]:
            continue
        name = {"drop": lambda: f"{MOD_NAMES[c['modality']]} removed",
                "noise": lambda: f"{MOD_NAMES[c['modality']]} noise {c['level']:g}σ",
                "words": lambda: f"{100 * c['level']:.0f} % of words dropped"}[c["kind"]]()
        v = c["metrics"][metric]
        rows.append({"condition": name, "value": v, "change": v - clean})
    return rows


def load_results(folder: str | Path) -> list[dict]:
    """Every robustness JSON in ``folder`` (written by the command), sorted by checkpoint name."""
    out = []
    for f in sorted(Path(folder).glob("*.json")):
        try:
            r = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(r, dict) and "conditions" in r and "clean" in r:
            out.append(r)
    return sorted(out, key=lambda r: (r["checkpoint"], r["split"]))


def dropout_pairs(results: list[dict]) -> list[tuple[dict, dict]]:
    """(without, with modality dropout) pairs: same recipe (data, modalities, encoder, width, CL), same split."""
    pairs = []
    for w in results:
        if w.get("modality_dropout", 0) <= 0 or "recipe" not in w:
            continue
        for o in results:
            if o.get("modality_dropout", 0) == 0 and o.get("recipe") == w["recipe"] and o["split"] == w["split"]:
                pairs.append((o, w))
    return pairs
