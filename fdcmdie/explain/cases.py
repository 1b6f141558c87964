"""Modality ablations of a whole split and the automatic choice of case studies (in the spirit of the paper's
Table 8: transcript, what voice and face add, truth vs prediction, and where text and the other cues disagree).

    abl = split_ablations(predictor, "test")            # {"t": text-only predictions, "va": voice+face only, …}
    cases = select_cases(predictor.predict_split("test"), abl)
    rows = case_rows(cases, preds, abl, predictor.modalities)

An ablation masks modalities exactly as a missing input is masked in training and inference (all-False mask, GAP
weight 0), so "text only" is what this model makes of the words alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..facts import MODALITIES
from . import MOD_NAMES, READS as _READS, and_list as _and

CATEGORIES = ("strong positive", "strong negative", "flat delivery", "text vs voice/face", "largest error")
CATEGORY_HELP = {
    "strong positive": "the most positive opinions (label ≥ +2)",
    "strong negative": "the most negative opinions (label ≤ −2)",
    "flat delivery": "near-neutral segments (|label| ≤ 0.5): little sentiment in {reads}",
    "text vs voice/face": "the words and {others} push the prediction in opposite directions (their Shapley "
                          "values have opposite signs; the strongest such pairs first)",
    "largest error": "where the model is furthest from the annotators",
}
def category_name(category: str, modalities: list[str]) -> str:
    """A category as a checkpoint's table shows it: "text vs voice" for one that hears but does not see."""
    if category == "text vs voice/face":
        others = [m for m in MODALITIES if m in modalities and m != "t"]
        if len(others) == 1:
            return f"text vs {_READS[others[0]][4:]}"
    return category


def category_help(modalities: list[str]) -> dict[str, str]:
    """{shown category name: what it holds}, in the words of what the checkpoint reads (no face for a text + voice
    model); the disagreement category only for a checkpoint that reads the words and something else."""
    mods = [m for m in MODALITIES if m in modalities]
    others = [_READS[m] for m in mods if m != "t"]
    out = {}
    for k, v in CATEGORY_HELP.items():
        if k == "text vs voice/face" and ("t" not in mods or not others):
            continue
        out[category_name(k, mods)] = v.format(reads=_and([_READS[m] for m in mods], "or"),
                                               others=_and(others, "or") if others else "")
    return out


def number(x: float) -> str:
    """"+1.25", "−0.40", and "0.00" for anything that rounds to zero (never "−0.00")."""
    return "0.00" if round(float(x), 2) == 0 else f"{float(x):+.2f}".replace("-", "−")


def keep_label(keep: str) -> str:
    """"t" → "text only", "va" → "visual + acoustic"."""
    names = [MOD_NAMES[m] for m in MODALITIES if m in keep]
    return f"{names[0]} only" if len(names) == 1 else " + ".join(names)


def ablation_variants(modalities: list[str]) -> list[str]:
    """The modality subsets worth predicting with: each modality alone, and everything but text."""
    mods = [m for m in MODALITIES if m in modalities]
    if len(mods) < 2:
        return []
    out = list(mods)
    if "t" in mods and len(mods) > 2:
        out.append("".join(m for m in mods if m != "t"))
    return out


def explain_variants(modalities: list[str]) -> list[str]:
    """The two ablations the app shows: text alone, and everything but text (voice and/or face)."""
    mods = [m for m in MODALITIES if m in modalities]
    if "t" not in mods or len(mods) < 2:
        return []
    return ["t", "".join(m for m in mods if m != "t")]


def split_ablations(predictor, split: str = "test", data_root: str | Path | None = None, *,
                    variants: list[str] | None = None, batch_size: int = 256) -> dict[str, np.ndarray]:
    """Predictions of every sample of ``split`` with only some modalities kept: {kept modalities: (N,)}, e.g.
    {"t": …, "v": …, "a": …, "va": …} for a t+v+a checkpoint ({} for a single-modality one). Row order is that of
    ``predictor.predict_split(split)``."""
    variants = ablation_variants(predictor.modalities) if variants is None else variants
    return {keep: predictor.run(split, keep=keep, data_root=data_root, batch_size=batch_size).pred
            for keep in variants}


def nonverbal_key(ablations: dict[str, np.ndarray]) -> str | None:
    """The ablation that keeps everything but text ("va", or "a" / "v" for a two-modality model)."""
    keys = [k for k in ablations if "t" not in k]
    return max(keys, key=len) if keys else None


def opposite_sign(x, y, *, margin: float = 0.0, zero_positive: bool = False) -> np.ndarray:
    """(N,) bool: ``x`` and ``y`` lie on opposite sides of 0, each at least ``margin`` away from it. The one "wrong
    sign / disagreement" rule of the explorer's filter, the case studies and the lessons' rules. A value of exactly 0
    is on neither side (never opposite), or with ``zero_positive`` on the positive one, as Acc-2's negative /
    non-negative split reads it (the explorer's "sign predicted wrong": a label of 0 read as negative is wrong)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    opposite = (x >= 0) != (y >= 0) if zero_positive else np.sign(x) * np.sign(y) < 0
    return opposite & (np.abs(x) >= margin) & (np.abs(y) >= margin)


def disagreement(preds, ablations: dict[str, np.ndarray], *, kind: str = "text vs full", margin: float = 0.0) -> np.ndarray:
    """(N,) bool. ``"text vs full"``: the text-only prediction and the full prediction differ in sign;
    ``"text vs nonverbal"``: text-only and voice/face-only differ in sign. Both sides must be at least ``margin``
    away from 0. All False when the ablation is not available."""
    n = len(preds.pred)
    t = ablations.get("t")
    other = preds.pred if kind == "text vs full" else ablations.get(nonverbal_key(ablations) or "")
    if t is None or other is None:
        return np.zeros(n, bool)
    return opposite_sign(t, other, margin=margin)


@dataclass
class Case:
    category: str
    row: int          # row of the split's Predictions
    id: str
    text: str
    label: float
    pred: float
    note: str


def select_cases(preds, ablations: dict[str, np.ndarray] | None = None, *, per_category: int = 2,
                 flat_threshold: float = 0.5, disagree_margin: float = 0.3, shapley=None) -> list[Case]:
    """Pick ``per_category`` samples for each of CATEGORIES (a sample appears once; categories with no candidate
    are skipped). Deterministic: ties are broken by row order.

    "text vs voice/face" with ``shapley`` (explain.shapley.ModalityShapley of the same rows): the text's Shapley
    value and the sum of the other modalities' have opposite signs, both at least ``disagree_margin``, ranked by the
    weaker of the two (both push hard). Without it: the text-only and voice/face-only ablations differ in sign."""
    ablations = ablations or {}
    label, pred = np.asarray(preds.label, np.float64), np.asarray(preds.pred, np.float64)
    err = np.abs(pred - label)
    n = len(label)
    used: set[int] = set()
    out: list[Case] = []
    nv = nonverbal_key(ablations)

    def take(category: str, order: np.ndarray, note) -> None:
        got = 0
        for r in order:
            r = int(r)
            if r in used:
                continue
            used.add(r)
            out.append(Case(category, r, preds.ids[r], preds.texts[r], float(label[r]), float(pred[r]), note(r)))
            got += 1
            if got == per_category:
                break

    rows = np.arange(n)
    truth = lambda r: f"label {number(label[r])}, predicted {number(pred[r])}"
    pos = rows[label >= 2.0]
    take("strong positive", pos[np.lexsort((err[pos], -label[pos]))], truth)
    neg = rows[label <= -2.0]
    take("strong negative", neg[np.lexsort((err[neg], label[neg]))], truth)
    flat = rows[np.abs(label) <= flat_threshold]
    take("flat delivery", flat[np.lexsort((err[flat], np.abs(label[flat])))], truth)
    if shapley is not None and "t" in shapley.modalities and len(shapley.modalities) > 1:
        j = shapley.modalities.index("t")
        t = np.asarray(shapley.phi[:, j], np.float64)
        o = np.asarray(shapley.phi.sum(1), np.float64) - t
        others = " + ".join(MOD_NAMES[m] for m in shapley.modalities if m != "t")
        strength = np.minimum(np.abs(t), np.abs(o))
        dis = rows[opposite_sign(t, o, margin=disagree_margin)]
        take("text vs voice/face", dis[np.argsort(-strength[dis], kind="stable")],
             lambda r: f"Shapley: text {number(t[r])}, {others} {number(o[r])}; full {number(pred[r])} "
                       f"(label {number(label[r])})")
    elif "t" in ablations and nv is not None:
        t, o = np.asarray(ablations["t"], np.float64), np.asarray(ablations[nv], np.float64)
        dis = rows[disagreement(preds, ablations, kind="text vs nonverbal", margin=disagree_margin)]
        take("text vs voice/face", dis[np.argsort(-np.abs(t[dis] - o[dis]), kind="stable")],
             lambda r: f"text alone {number(t[r])}, {keep_label(nv)} {number(o[r])}; full {number(pred[r])} "
                       f"(label {number(label[r])})")
    take("largest error", rows[np.argsort(-err, kind="stable")],
         lambda r: f"off by {err[r]:.2f} (label {number(label[r])}, predicted {number(pred[r])})")
    return out


def case_rows(cases: list[Case], preds, ablations: dict[str, np.ndarray] | None, modalities: list[str],
              shapley=None) -> list[dict]:
    """One dict per case for a table: category, id, transcript, label, prediction, ablations, last-layer α and,
    with ``shapley`` (ModalityShapley of the same rows), the Shapley value of each modality."""
    ablations = ablations or {}
    rows = []
    for c in cases:
        row = {"case": category_name(c.category, modalities), "id": c.id, "transcript": c.text, "label": round(c.label, 2),
               "prediction": round(c.pred, 2)}
        for keep, values in ablations.items():
            row[keep_label(keep)] = round(float(values[c.row]), 2)
        if preds.alpha is not None:
            for m, a in zip(modalities, preds.alpha[c.row, -1]):
                row[f"α {MOD_NAMES[m]}"] = round(float(a), 2)
        if shapley is not None:
            for m, v in zip(shapley.modalities, shapley.phi[c.row]):
                row[f"Shapley {MOD_NAMES[m]}"] = round(float(v), 2)
        row["why chosen"] = c.note
        rows.append(row)
    return rows
