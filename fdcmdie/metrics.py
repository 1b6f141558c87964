"""Evaluation metrics for sentiment-intensity regression (docs/MODEL.md §8).

The conventions are the ones the field uses (the MMSA toolkit's `MetricsTop` for MOSI/MOSEI),
so the numbers can be read against the paper's Table 3:

- Acc-2 / F1 "has-0":  (pred >= 0) vs (label >= 0) over all samples (zero counts as non-negative).
- Acc-2 / F1 "non-0":  drop samples whose label is exactly 0, then (pred > 0) vs (label > 0).
- F1 is scikit-learn's support-weighted F1 (average="weighted").
- Acc-7: clip pred and label to [-3, 3], `np.round` both, compare. Note that `np.round` rounds
  half to even ("banker's rounding"): 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> -0, -1.5 -> -2.
  We keep it because that is what MMSA (and hence the published Acc-7 numbers) does.
- MAE: mean |pred - label|. Corr: Pearson correlation (0.0 when either side is constant).

Accuracies and F1 are returned as percentages (0-100); MAE and Corr raw.
"""
from __future__ import annotations

import math

import numpy as np

# key -> display name, in display order (has-0 before non-0, as the paper writes "has-0 / non-0")
METRIC_NAMES: dict[str, str] = {
    "acc2_has0": "Acc-2 (has-0)",
    "f1_has0": "F1 (has-0)",
    "acc2_non0": "Acc-2 (non-0)",
    "f1_non0": "F1 (non-0)",
    "acc7": "Acc-7",
    "mae": "MAE",
    "corr": "Corr",
}
METRIC_KEYS: tuple[str, ...] = tuple(METRIC_NAMES)
LOWER_IS_BETTER: frozenset[str] = frozenset({"mae"})


def _to_numpy(x, name: str) -> np.ndarray:
    """numpy array / list / torch tensor -> flat float64 numpy array."""
    if hasattr(x, "detach"):  # torch.Tensor, without importing torch here
        x = x.detach().float().cpu().numpy()
    arr = np.asarray(x, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(arr)):
        bad = int(np.sum(~np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} NaN/inf value(s)")
    return arr


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r; 0.0 (not NaN) when either side is constant or there is a single sample."""
    xc, yc = x - x.mean(), y - y.mean()
    denom = math.sqrt(float(np.dot(xc, xc)) * float(np.dot(yc, yc)))
    if denom == 0.0:
        return 0.0
    return float(np.clip(np.dot(xc, yc) / denom, -1.0, 1.0))


def compute_metrics(pred, label) -> dict[str, float]:
    """All §8 metrics for regression predictions `pred` against gold scores `label`.

    pred, label: same number of elements (any shape, flattened), numpy / list / torch.
    Returns {acc2_has0, f1_has0, acc2_non0, f1_non0, acc7, mae, corr}; the non-0 pair is NaN
    when every label is exactly 0 (nothing left to score).
    """
    pred = _to_numpy(pred, "pred")
    label = _to_numpy(label, "label")
    if pred.shape != label.shape:
        raise ValueError(f"pred and label differ in length: {pred.size} vs {label.size}")

    # Acc-2 / F1, has-0: negative (<0) vs non-negative (>=0), all samples
    bt, bp = label >= 0, pred >= 0
    from sklearn.metrics import accuracy_score, f1_score  # imported here: a second the app's start does not need

    acc2_has0 = 100.0 * accuracy_score(bt, bp)
    f1_has0 = 100.0 * f1_score(bt, bp, average="weighted", zero_division=0)

    # Acc-2 / F1, non-0: samples with label exactly 0 dropped, negative vs positive (>0)
    keep = label != 0
    if keep.any():
        nt, np_ = label[keep] > 0, pred[keep] > 0
        acc2_non0 = 100.0 * accuracy_score(nt, np_)
        f1_non0 = 100.0 * f1_score(nt, np_, average="weighted", zero_division=0)
    else:
        acc2_non0 = f1_non0 = float("nan")

    # Acc-7: clip to [-3, 3], round half to even (np.round), compare
    r_pred = np.round(np.clip(pred, -3.0, 3.0))
    r_label = np.round(np.clip(label, -3.0, 3.0))
    acc7 = 100.0 * float(np.mean(r_pred == r_label))

    mae = float(np.mean(np.abs(pred - label)))
    corr = _pearson(pred, label)
    return {
        "acc2_has0": float(acc2_has0), "f1_has0": float(f1_has0),
        "acc2_non0": float(acc2_non0), "f1_non0": float(f1_non0),
        "acc7": acc7, "mae": mae, "corr": corr,
    }


def format_metrics(m: dict[str, float], decimals: int = 2) -> str:
    """One line, has-0/non-0 order, e.g. 'Acc-2 83.10/84.50 F1 83.00/84.50 Acc-7 42.60 MAE 0.758 Corr 0.781'.

    `decimals` applies to the percentages (the paper's tables use 2); MAE and Corr always get 3.
    """
    p = f"{{:.{decimals}f}}"
    pct = lambda k: p.format(m[k])
    return (f"Acc-2 {pct('acc2_has0')}/{pct('acc2_non0')} F1 {pct('f1_has0')}/{pct('f1_non0')} "
            f"Acc-7 {pct('acc7')} MAE {m['mae']:.3f} Corr {m['corr']:.3f}")
