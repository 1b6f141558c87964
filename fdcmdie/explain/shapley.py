"""Exact modality contributions: Shapley values over the modalities of one input (Shapley 1953; Lundberg & Lee 2017).

The players are the modalities the checkpoint reads (at most t, v, a), the value of a coalition S is the model's
prediction with every modality outside S marked missing (all-False mask, exactly as a missing input in training),
v(∅) is the prediction with nothing at all. With M ≤ 3 players all 2^M coalitions are evaluated, so the values are
exact, not sampled:

    φ_m = Σ_{S ⊆ P \\ {m}} |S|! (|P| − |S| − 1)! / |P|! · (v(S ∪ {m}) − v(S))

and they add up (efficiency) to  Σ_m φ_m = v(P) − v(∅)  = prediction − all-missing baseline. A modality the input
does not have is missing in every coalition, so its φ is 0 and the others are unchanged.

GAP's α (docs/MODEL.md §5) says how GAP *weighted* each modality's enhanced global feature inside the network; φ says
how far each modality *moved the prediction*. They differ: a modality with a large α can carry little sentiment (φ ≈ 0), and
a modality with α = 0 in GAP still reaches the head through its private feature.

    sv = input_shapley(predictor, "i loved it", audio=frames)
    sv.phi[0], sv.baseline[0], sv.pred[0]           # (M,), float, float
    sv = split_shapley(predictor, "test")           # the whole split, rows as in predictor.predict_split
    sv = shapley_batch(run, batch, ["t", "v", "a"]) # any model: run(Batch) -> (n,) predictions
    modality_share(sv)                              # per modality over the rows: mean |φ|, share, mean φ

The paragraph the model card, the explorer and docs/RESULTS.md show is :func:`fdcmdie.render.shapley.share_markdown`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..data.base import Batch

NOTE = ("α (GAP) is how the fusion layer weighted each modality inside the network; the Shapley value is how far each "
        "modality moved the prediction (with vs without it, averaged over the orders of adding the modalities), and "
        "the Shapley values add up to prediction − baseline, the baseline being the prediction with every modality "
        "missing.")


@dataclass
class ModalityShapley:
    """Shapley values of n inputs. ``phi`` (n, M) in the checkpoint's modality order; ``pred`` = v(all present),
    ``baseline`` = v(∅), so phi.sum(1) == pred − baseline up to float rounding."""

    modalities: list[str]
    phi: np.ndarray
    baseline: np.ndarray
    pred: np.ndarray

    def row(self, i: int) -> dict[str, float]:
        return {m: float(v) for m, v in zip(self.modalities, self.phi[i])}


def coalitions(M: int) -> list[tuple[int, ...]]:
    """All 2^M subsets of range(M), smallest first."""
    return [c for r in range(M + 1) for c in combinations(range(M), r)]


def shapley_weights(M: int) -> np.ndarray:
    """(M, 2^M) matrix W with φ = v @ W.T: W[m, S] = +w(|S| − 1) if m ∈ S, −w(|S|) if m ∉ S, with
    w(s) = s! (M − s − 1)! / M!."""
    subsets = coalitions(M)
    w = lambda s: math.factorial(s) * math.factorial(M - s - 1) / math.factorial(M)
    W = np.zeros((M, len(subsets)))
    for j, S in enumerate(subsets):
        for m in range(M):
            W[m, j] = w(len(S) - 1) if m in S else -w(len(S))
    return W


def _stack(batches: list[Batch]) -> Batch:
    """Concatenate batches that share their tensor shapes (copies of one batch with other masks)."""
    first = batches[0]
    out = Batch(ids=[i for b in batches for i in b.ids], texts=[t for b in batches for t in b.texts],
                label=torch.cat([b.label for b in batches]))
    for key, value in first.__dict__.items():
        if torch.is_tensor(value) and key != "label":
            setattr(out, key, torch.cat([getattr(b, key) for b in batches]))
    return out


def shapley_batch(run: Callable[[Batch], np.ndarray], batch: Batch, modalities: list[str]) -> ModalityShapley:
    """Exact Shapley values of every row of ``batch``: the 2^M coalitions of all rows go through ``run`` (a model's
    predictions of a Batch, e.g. ``lambda b: predictor.run(b).pred``) in one call (n · 2^M rows)."""
    mods = list(modalities)
    M, n = len(mods), len(batch)
    subsets = coalitions(M)
    everyone = torch.ones(n, dtype=torch.bool)
    variants = []
    for S in subsets:
        b = batch
        for j, m in enumerate(mods):
            if j not in S:
                b = b.drop(m, everyone)
        variants.append(b)
    v = np.asarray(run(_stack(variants)), np.float64).reshape(len(subsets), n).T    # (n, 2^M)
    phi = v @ shapley_weights(M).T
    phi[~present_mask(batch, mods)] = 0.0  # a modality the input lacks: exactly 0 (not a rounding error of it)
    return ModalityShapley(modalities=mods, phi=phi, baseline=v[:, 0].copy(), pred=v[:, -1].copy())


def split_shapley(predictor, split: str = "test", data_root: str | Path | None = None, *, rows=None,
                  batch_size: int = 64) -> ModalityShapley:
    """Shapley values of every sample of a split (rows as in ``predictor.predict_split(split)``), or of ``rows``."""
    _, batches = predictor.split_batches(split, data_root, rows=rows, batch_size=batch_size)
    run = lambda b: predictor.run(b).pred
    parts = [shapley_batch(run, b, predictor.modalities) for b in batches]
    if not parts:
        z = np.zeros(0)
        return ModalityShapley(list(predictor.modalities), np.zeros((0, len(predictor.modalities))), z, z)
    return ModalityShapley(modalities=list(predictor.modalities), phi=np.concatenate([p.phi for p in parts]),
                           baseline=np.concatenate([p.baseline for p in parts]),
                           pred=np.concatenate([p.pred for p in parts]))


def input_shapley(predictor, text, audio=None, vision=None, *, drop=frozenset()) -> ModalityShapley:
    """Shapley values of one input given as :meth:`Predictor.predict` takes it (a typed text, a what-if variant)."""
    batch = predictor.batch([text], audio=None if audio is None else [audio],
                            vision=None if vision is None else [vision], drop=drop)
    return shapley_batch(lambda b: predictor.run(b).pred, batch, predictor.modalities)


def present_mask(batch: Batch, modalities: list[str]) -> np.ndarray:
    """(n, M) which modalities each row has (for tables: a missing modality's φ is exactly 0)."""
    return np.stack([batch.mask(m).any(1).cpu().numpy() for m in modalities], 1) if modalities else np.zeros((len(batch), 0), bool)


def modality_share(sv: ModalityShapley) -> dict[str, dict[str, float]]:
    """How much each modality moves the predictions over the rows of ``sv``: ``mean_abs`` = mean |φ_m|, ``share`` =
    mean |φ_m| / Σ_k mean |φ_k| (the shares add up to 1), ``mean`` = mean φ_m (a push in one direction for every
    sample shows as a mean far from 0: it moves the predictions without telling the samples apart)."""
    mean_abs = np.abs(sv.phi).mean(0) if len(sv.phi) else np.zeros(len(sv.modalities))
    total = float(mean_abs.sum())
    return {m: {"mean_abs": float(a), "share": float(a) / total if total > 0 else 0.0,
                "mean": float(sv.phi[:, i].mean()) if len(sv.phi) else 0.0}
            for i, (m, a) in enumerate(zip(sv.modalities, mean_abs))}


def alone_correlations(labels, alone: dict[str, np.ndarray]) -> dict[str, float]:
    """{keep: Pearson r against the labels} of the predictions with only the modalities ``keep`` kept (``alone``:
    {"t": (N,), "a": (N,), …} as ``explain.cases.split_ablations`` returns); a variant whose length differs from the
    labels', with fewer than 3 rows, or constant on either side, is left out."""
    labels = np.asarray(labels, dtype=float)
    out = {}
    for keep, pred in (alone or {}).items():
        pred = np.asarray(pred, dtype=float)
        if len(pred) == len(labels) and len(pred) > 2 and pred.std() > 0 and np.std(labels) > 0:
            out[keep] = float(np.corrcoef(pred, labels)[0, 1])
    return out
