"""Slices and A vs B (in the spirit of LIT): two checkpoints' metrics on the same samples, slice by slice, and the
samples where the two disagree most.

    sl = slices(ids, texts, labels, video_ids)                           # polarity, |label|, length, video
    table = slice_table(sl, labels, {"A": preds_a, "B": preds_b})       # one row per slice and model
    # the compare tab draws the table: fdcmdie.app.plots.slices.slice_figure(table, ["A", "B"], kind="polarity")
    rows = disagreements(ids, texts, labels, {"A": preds_a, "B": preds_b}, top=20)

A slice groups samples by the truth or by the input, never by a prediction, so both models are scored on the same
samples. Metrics are ``metrics.compute_metrics`` on the slice alone: on a slice of one polarity Acc-2 is the share
of right signs; Corr is only the correlation *within* the slice (low when |label| hardly varies); the non-0 pair is
NaN on the neutral slice (every label is 0). Small slices are noisy: the table gives each one's size.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..metrics import METRIC_NAMES, compute_metrics

KINDS = ("polarity", "|label|", "transcript length", "video")
KIND_HELP = {
    "polarity": "the annotators' sign: positive (> 0), negative (< 0), neutral (exactly 0)",
    "|label|": "how strong the annotated sentiment is: |label| in [0, 1), [1, 2), [2, 3]",
    "transcript length": "words in the transcript",
    "video": "the review (speaker) the segment comes from",
}
ABS_BINS = ((0.0, 1.0), (1.0, 2.0), (2.0, 3.01))
LENGTH_BINS = ((1, 5), (6, 10), (11, 20), (21, 10 ** 6))   # words, inclusive


@dataclass
class Slice:
    kind: str
    name: str
    rows: np.ndarray     # row indices into the split


def video_of(sample_id: str) -> str:
    """MOSI / MMSA ids are ``<video>_<clip>`` (or ``<video>$_$<clip>``); the video id may itself hold '_'."""
    if "$_$" in sample_id:
        return sample_id.split("$_$")[0]
    return sample_id.rsplit("_", 1)[0] if "_" in sample_id else sample_id


def slices(ids: list[str], texts: list[str], labels, video_ids: list[str] | None = None, *,
           kinds=KINDS) -> list[Slice]:
    """Every non-empty slice of the given kinds. Within a kind the slices are disjoint and cover every sample."""
    labels = np.asarray(labels, np.float64)
    n = len(labels)
    if not (len(ids) == len(texts) == n):
        raise ValueError(f"ids, texts and labels differ in length ({len(ids)}, {len(texts)}, {n})")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown slice kind(s) {unknown}; choose among {', '.join(KINDS)}")
    out: list[Slice] = []

    def add(kind: str, name: str, keep: np.ndarray) -> None:
        if keep.any():
            out.append(Slice(kind, name, np.flatnonzero(keep)))

    for kind in kinds:
        if kind == "polarity":
            add(kind, "positive", labels > 0)
            add(kind, "negative", labels < 0)
            add(kind, "neutral", labels == 0)
        elif kind == "|label|":
            a = np.abs(labels)
            for i, (lo, hi) in enumerate(ABS_BINS):
                last = i == len(ABS_BINS) - 1
                add(kind, f"[{lo:g}, {min(hi, 3):g}{']' if last else ')'}", (a >= lo) & ((a <= hi) if last else (a < hi)))
        elif kind == "transcript length":
            words = np.array([len(str(t).split()) for t in texts])
            words = np.maximum(words, LENGTH_BINS[0][0])  # an empty transcript goes with the shortest
            for lo, hi in LENGTH_BINS:
                add(kind, f"{lo}+ words" if hi >= 10 ** 6 else f"{lo}–{hi} words", (words >= lo) & (words <= hi))
        elif kind == "video":
            vids = list(video_ids) if video_ids is not None else [video_of(i) for i in ids]
            if len(vids) != n:
                raise ValueError(f"video_ids has {len(vids)} entries for {n} samples")
            vids_arr = np.array(vids, dtype=object)
            for v in sorted(set(vids)):
                add(kind, str(v), vids_arr == v)
    return out


def slice_table(sl: list[Slice], labels, preds: dict[str, np.ndarray], *,
                metrics: tuple[str, ...] = ("acc2_non0", "f1_non0", "acc7", "mae", "corr")) -> list[dict]:
    """One row per slice: {kind, slice, n, "<metric> · <model>": value, …} for every model of ``preds``
    ({model name: (N,) predictions in the order of ``labels``}); NaN where a metric is undefined on the slice."""
    labels = np.asarray(labels, np.float64)
    for name, p in preds.items():
        if len(p) != len(labels):
            raise ValueError(f"{name}: {len(p)} predictions for {len(labels)} labels")
    rows = []
    for s in sl:
        row: dict = {"kind": s.kind, "slice": s.name, "n": int(len(s.rows))}
        for name, p in preds.items():
            m = compute_metrics(np.asarray(p, np.float64)[s.rows], labels[s.rows])
            for k in metrics:
                row[f"{METRIC_NAMES[k]} · {name}"] = float(m[k])
        rows.append(row)
    return rows


def disagreements(ids: list[str], texts: list[str], labels, preds: dict[str, np.ndarray], *, top: int = 20) -> list[dict]:
    """The ``top`` samples where the two models of ``preds`` differ most (|A − B|, ties by row order), with whether
    they differ in sign and which one is closer to the truth."""
    if len(preds) != 2:
        raise ValueError(f"disagreements compares exactly two models, got {len(preds)}")
    (na, a), (nb, b) = ((k, np.asarray(v, np.float64)) for k, v in preds.items())
    labels = np.asarray(labels, np.float64)
    gap = np.abs(a - b)
    rows = []
    for r in np.argsort(-gap, kind="stable")[:top]:
        err_a, err_b = abs(a[r] - labels[r]), abs(b[r] - labels[r])
        rows.append({"id": ids[r], "label": round(float(labels[r]), 2), na: round(float(a[r]), 2),
                     nb: round(float(b[r]), 2), "|A − B|": round(float(gap[r]), 2),
                     "sign differs": bool((a[r] >= 0) != (b[r] >= 0)),
                     "closer": na if err_a < err_b else nb if err_b < err_a else "tie", "transcript": texts[r]})
    return rows


def align(ids_a: list[str], ids_b: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Rows of A and of B holding the same samples, in A's order (the two checkpoints may read different splits)."""
    where_b = {i: r for r, i in enumerate(ids_b)}
    rows_a = np.array([r for r, i in enumerate(ids_a) if i in where_b], dtype=np.int64)
    rows_b = np.array([where_b[ids_a[r]] for r in rows_a], dtype=np.int64)
    return rows_a, rows_b
