"""The geometry of the decoupled feature space in numbers: what contrastive learning (docs/MODEL.md §4) did to the
shared and private features of a split, and which samples lie close to one sample.

The contrastive loss pulls the shared features of one sample together (positives (T_s^i, V_s^i), (T_s^i, A_s^i))
and pushes each shared feature away from the private ones (negatives (T_s^i, X_d^i)). Whether it worked *per
sample* or only *per modality* is read from:

- ``pair_cosines``: cos(T_s^i, A_s^i) of the same sample against cos(T_s^i, A_s^π(i)) of random pairs of samples
  (π a seeded permutation without fixed points). Equal distributions: the sets are aligned by modality, not by
  sample — every shared vector points the same way whatever the sample.
- ``alignment`` / ``uniformity`` (Wang & Isola, 2020, "Understanding contrastive representation learning through
  alignment and uniformity on the hypersphere", Eq. 4–5, α = 2, t = 2) on unit-length vectors: alignment of a
  positive pair set E‖x̂ − ŷ‖² (0 = identical), uniformity of one feature set log E exp(−2‖x̂ − ŷ‖²) over distinct
  pairs of samples (0 = all samples collapsed onto one direction, −4 = orthonormal).
- ``retrieval_top1``: how often T_s^i's nearest A_s among all samples is its own (chance 1/N).
- ``separability``: cross-validated accuracy of a logistic regression telling two feature sets apart (50 % = the
  sets overlap, 100 % = a hyperplane splits them).

``space_report(decoupled)`` computes all of them for one split (the app's tab and the report show it);
``SampleSpace`` answers the k nearest samples of one sample in the shared and in the private space.

    rep = space_report(preds.features["decoupled"])          # dict of numbers + per-sample cosines for histograms
    SampleSpace(preds.features["decoupled"]).neighbours(row, k=8, part="shared")
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..facts import PRIVATE_SETS as PRIVATE, SHARED_SETS as SHARED

UNIFORMITY_T = 2.0   # Wang & Isola's t (their default and the value their experiments use)


def unit(x: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), computed in ``dtype`` (the maps keep float32). The one
    unit-normalisation of the interpreters: cosines, neighbours, maps and the anatomy's cosine matrix use it."""
    x = np.asarray(x, dtype)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


def derangement(n: int, seed: int = 0) -> np.ndarray:
    """A seeded permutation of range(n) with no fixed point (n ≥ 2): the 'random other sample' of each sample.
    One random n-cycle: the samples in a shuffled order, each paired with the next one (the last with the first)."""
    if n < 2:
        raise ValueError("random pairs need at least 2 samples")
    order = np.random.default_rng(seed).permutation(n)
    perm = np.empty(n, int)
    perm[order] = np.roll(order, -1)
    return perm


def _present(*xs: np.ndarray) -> np.ndarray:
    return np.logical_and.reduce([np.linalg.norm(x, axis=1) > 0 for x in xs])


# ---------------------------------------------------------------------------------------------- metrics


def alignment(x: np.ndarray, y: np.ndarray, alpha: float = 2.0) -> float:
    """L_align = E_i ‖x̂_i − ŷ_i‖^α over the row pairs (x_i, y_i) (Wang & Isola 2020, Eq. 4); 0 when x̂ = ŷ."""
    x, y = unit(x), unit(y)
    return float(np.mean(np.linalg.norm(x - y, axis=1) ** alpha))


def uniformity(x: np.ndarray, t: float = UNIFORMITY_T) -> float:
    """L_uniform = log E_{i≠j} exp(−t ‖x̂_i − x̂_j‖²) over distinct pairs of rows (Eq. 5, as their ``pdist`` code).

    On unit vectors ‖x̂_i − x̂_j‖² = 2 − 2 cos, so identical rows give 0 and an orthonormal set gives −2t."""
    x = unit(x)
    n = len(x)
    if n < 2:
        raise ValueError("uniformity needs at least 2 vectors")
    sq = np.clip(2.0 - 2.0 * (x @ x.T), 0.0, 4.0)
    iu = np.triu_indices(n, k=1)
    e = -t * sq[iu]
    m = e.max()
    return float(m + np.log(np.mean(np.exp(e - m))))  # log-mean-exp, stable


def row_cosines(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """cos(x_i, y_i) for every row."""
    return np.sum(unit(x) * unit(y), axis=1)


def pair_cosines(decoupled: dict[str, np.ndarray], a: str, b: str, *, seed: int = 0) -> dict[str, np.ndarray]:
    """{"same": cos(a^i, b^i), "random": cos(a^i, b^π(i))} over the samples that have both sets (π: ``derangement``)."""
    x, y = np.asarray(decoupled[a], np.float64), np.asarray(decoupled[b], np.float64)
    ok = _present(x, y)
    x, y = x[ok], y[ok]
    return {"same": row_cosines(x, y), "random": row_cosines(x, y[derangement(len(y), seed)])}


def retrieval_top1(x: np.ndarray, y: np.ndarray) -> float:
    """Share of rows i whose most similar row of ``y`` (cosine) is y_i itself."""
    sim = unit(x) @ unit(y).T
    return float(np.mean(np.argmax(sim, axis=1) == np.arange(len(x))))


def separability(x: np.ndarray, y: np.ndarray, *, folds: int = 5, seed: int = 0) -> float:
    """Mean accuracy of a logistic regression telling the rows of x from those of y (unit vectors, stratified
    ``folds``-fold cross-validation, so a perfect score is not memorisation)."""
    from sklearn.linear_model import LogisticRegression  # scikit-learn: heavy, only for this score
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    X = np.concatenate([unit(x), unit(y)])
    z = np.r_[np.zeros(len(x), int), np.ones(len(y), int)]
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return float(np.mean(cross_val_score(LogisticRegression(C=1.0, max_iter=2000), X, z, cv=cv)))


def feature_cosines(features: dict[str, np.ndarray]) -> dict:
    """Mean cosine similarity, within a sample, between its feature sets (the report's table of paper Fig. 8–9).

    ``features``: {name: (N, d) or (d,)} (``Predictions.features["decoupled"]`` or an Explanation's). Returns
    ``shared_shared`` (T_s·V_s, T_s·A_s, V_s·A_s), ``shared_private_same`` (X_s·X_d of the same modality),
    ``shared_private`` (every shared × private pair), ``private_private``, each a float (None when the model lacks
    the pairs), ``pairs`` {"Ts·Vs": float, …} and ``n`` (samples). Zero vectors (missing modality) are skipped.
    With contrastive learning the shared·shared cosine should rise and shared·private fall. Each pair's cosines are
    :func:`row_cosines` over the samples that have both sets, as in :func:`space_report`."""
    arrays = {f: np.atleast_2d(np.asarray(features[f], np.float64)) for f in SHARED + PRIVATE if f in features}
    n = len(next(iter(arrays.values()))) if arrays else 0

    def cos(a: str, b: str) -> float | None:
        ok = _present(arrays[a], arrays[b])
        return float(np.mean(row_cosines(arrays[a][ok], arrays[b][ok]))) if ok.any() else None

    pairs: dict[str, float | None] = {}
    groups: dict[str, list[float]] = {"shared_shared": [], "shared_private_same": [], "shared_private": [],
                                      "private_private": []}
    names = list(arrays)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            c = cos(a, b)
            pairs[f"{a}·{b}"] = c
            if c is None:
                continue
            if a in SHARED and b in SHARED:
                groups["shared_shared"].append(c)
            elif a in PRIVATE and b in PRIVATE:
                groups["private_private"].append(c)
            else:
                groups["shared_private"].append(c)
                if a[0] == b[0]:   # T_s·T_d, …: the same modality
                    groups["shared_private_same"].append(c)
    out: dict = {k: (float(np.mean(v)) if v else None) for k, v in groups.items()}
    out["pairs"] = pairs
    out["n"] = n
    return out


# ---------------------------------------------------------------------------------------------- report


@dataclass
class SpaceReport:
    """The numbers of one split; ``None`` where the model lacks the feature sets."""

    n: int
    shared_pairs: list[str]                          # e.g. ["Ts·As"] or ["Ts·Vs", "Ts·As", "Vs·As"]
    cos_same: np.ndarray                             # per-sample shared·shared cosines, every pair pooled
    cos_random: np.ndarray                           # the same over random pairs of samples
    cos_shared_private: np.ndarray                   # per-sample cos(X_s^i, X_d^i), same modality, pooled
    alignment: dict[str, float] = field(default_factory=dict)     # {"Ts·As": …}, positive pairs of MODEL.md §4
    alignment_random: dict[str, float] = field(default_factory=dict)
    uniformity: dict[str, float] = field(default_factory=dict)    # {"Ts": …} for every feature set
    retrieval: dict[str, float] = field(default_factory=dict)     # {"Ts→As": top-1}
    separability: dict[str, float] = field(default_factory=dict)  # {"Ts|As": accuracy}

    def summary(self) -> dict[str, float | None]:
        """The headline numbers (means over pairs / sets) for a table with one column per checkpoint."""
        mean = lambda v: float(np.mean(v)) if len(v) else None
        avg = lambda d, keys=None: (float(np.mean([d[k] for k in (keys or d)])) if d and (keys is None or
                                    all(k in d for k in keys)) else None)
        shared = [f for f in SHARED if f in self.uniformity]
        private = [f for f in PRIVATE if f in self.uniformity]
        return {"cos_same": mean(self.cos_same), "cos_random": mean(self.cos_random),
                "cos_gap": (mean(self.cos_same) - mean(self.cos_random)) if len(self.cos_same) else None,
                "cos_shared_private": mean(self.cos_shared_private),
                "alignment": avg(self.alignment), "alignment_random": avg(self.alignment_random),
                "uniformity_shared": avg(self.uniformity, shared) if shared else None,
                "uniformity_private": avg(self.uniformity, private) if private else None,
                "retrieval": avg(self.retrieval), "chance": 1.0 / self.n if self.n else None,
                "separability": avg(self.separability)}


def space_report(decoupled: dict[str, np.ndarray], *, seed: int = 0, folds: int = 5) -> SpaceReport:
    """Every number of the module for one split's ``Predictions.features["decoupled"]`` ({name: (N, d)})."""
    sets = {f: np.asarray(decoupled[f], np.float64) for f in SHARED + PRIVATE if f in decoupled}
    if not sets:
        raise ValueError(f"no decoupled features among {SHARED + PRIVATE}; got {sorted(decoupled)}")
    n = len(next(iter(sets.values())))
    shared = [f for f in SHARED if f in sets and _present(sets[f]).any()]
    pairs = [(a, b) for i, a in enumerate(shared) for b in shared[i + 1:]]
    same, rand, align, align_r, retr, sep = [], [], {}, {}, {}, {}
    for a, b in pairs:
        c = pair_cosines(sets, a, b, seed=seed)
        same.append(c["same"])
        rand.append(c["random"])
        ok = _present(sets[a], sets[b])
        x, y = sets[a][ok], sets[b][ok]
        align[f"{a}·{b}"] = alignment(x, y)
        align_r[f"{a}·{b}"] = alignment(x, y[derangement(len(y), seed)])
        retr[f"{a}→{b}"] = retrieval_top1(x, y)
        sep[f"{a}|{b}"] = separability(x, y, folds=folds, seed=seed)
    sp = []
    for s, d in zip(SHARED, PRIVATE):
        if s in sets and d in sets:
            ok = _present(sets[s], sets[d])
            if ok.any():
                sp.append(row_cosines(sets[s][ok], sets[d][ok]))
    unif = {f: uniformity(x[_present(x)]) for f, x in sets.items() if _present(x).sum() >= 2}
    cat = lambda v: np.concatenate(v) if v else np.zeros(0)
    return SpaceReport(n=n, shared_pairs=[f"{a}·{b}" for a, b in pairs], cos_same=cat(same), cos_random=cat(rand),
                       cos_shared_private=cat(sp), alignment=align, alignment_random=align_r, uniformity=unif,
                       retrieval=retr, separability=sep)


# ------------------------------------------------------------------------------------------ neighbours


class SampleSpace:
    """Nearest samples of one sample in the shared or the private space of one split.

    A sample's shared point is its unit-length shared vectors side by side, [T̂_s; V̂_s; Â_s] (a missing modality
    is zero), scaled by 1/√m: the cosine of two such points is the mean of the per-modality cosines over the m
    modalities of the model. The matrices are built once; one query is a matrix–vector product."""

    def __init__(self, decoupled: dict[str, np.ndarray]):
        self.points = {}
        for part, names in (("shared", SHARED), ("private", PRIVATE)):
            names = [f for f in names if f in decoupled]
            if names:
                x = np.concatenate([unit(decoupled[f]) for f in names], axis=1) / np.sqrt(len(names))
                self.points[part] = x.astype(np.float32)

    def neighbours(self, row: int, k: int = 8, part: str = "shared") -> tuple[np.ndarray, np.ndarray]:
        """(rows, similarities) of the k samples closest to ``row`` (itself excluded), most similar first."""
        if part not in self.points:
            raise ValueError(f"part must be one of {sorted(self.points)}, got {part!r}")
        x = self.points[part]
        if not 0 <= row < len(x):
            raise ValueError(f"row {row} is outside the split (0…{len(x) - 1})")
        sim = x @ x[row]
        sim[row] = -np.inf
        k = min(k, len(x) - 1)
        top = np.argpartition(-sim, k - 1)[:k] if k < len(x) - 1 else np.arange(len(x))[np.isfinite(sim)]
        top = top[np.argsort(-sim[top], kind="stable")]
        return top, sim[top].astype(np.float64)
