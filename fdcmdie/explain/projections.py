"""2-D maps of the decoupled feature space (paper Fig. 8–9), the numbers behind them, and their state for the
result cache (``projection_state``: arrays and JSON, fdcmdie/cache.py).

Each sample of a split gives six pooled vectors (``Predictions.features["decoupled"]``): the shared T_s, V_s, A_s
(one encoder E_s for all modalities) and the private T_d, V_d, A_d. All of them are stacked into one point cloud
(unit length: the contrastive loss compares directions, by cosine) and squeezed to two dimensions by one of
``METHODS``:

- ``"umap"``: UMAP (cosine distances), keeps each point's nearest neighbours: local structure. Islands on a UMAP map
  are groups of points nearer each other than to anything else; the distances *between* islands mean little.
- ``"pca"``: the two directions of largest variance (scikit-learn PCA), a linear, global view: distances and
  directions between groups are kept as well as two dimensions can keep them.
- ``"tsne"``: t-SNE (scikit-learn, Euclidean on the unit vectors, which orders pairs as cosine does), the family of
  the paper's figures; local like UMAP.

New inputs (an upload, a sample not on the map) are placed with the fitted model's ``transform`` for UMAP and PCA;
t-SNE has none, so they go to the mean position of their ``NN_PLACE`` nearest map points in the original space
(``Projection.placement`` says which, in words).

    proj = fit_projection(preds.features["decoupled"], method="pca")
    xy = proj.transform(explanation.features["decoupled"])         # place a new input on the fitted map
    fig = projection_figure(proj, ids=..., texts=..., labels=..., preds=..., color_by="feature")
    feature_cosines(preds.features["decoupled"])                   # mean cosines shared·shared, shared·private

The first UMAP call in a fresh process spends 30–120 s compiling numba code; ``warm_up_umap`` pays that on a tiny
problem (call it in a background thread) and ``NUMBA_CACHE_DIR`` keeps the compiled code between processes.
"""
from __future__ import annotations

import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..cache import stateful
from ..facts import FEATURE_SETS as FEATURES, PRIVATE_SETS as PRIVATE, SHARED_SETS as SHARED
from . import MOD_COLORS, MOD_NAMES

MODALITY = {"Ts": "t", "Vs": "v", "As": "a", "Td": "t", "Vd": "v", "Ad": "a"}
FEATURE_LABELS = {f: f"{f[0]}_{f[1]} ({MOD_NAMES[MODALITY[f]]}, {'shared' if f in SHARED else 'private'})"
                  for f in FEATURES}
FEATURE_COLORS = {"Ts": "#1f4e9c", "Vs": "#1b7d3a", "As": "#c45a00",   # shared: dark shades
                  "Td": "#7fb2f0", "Vd": "#8fd694", "Ad": "#ffbb66"}   # private: light shades
COLOR_BY = {"feature": "feature set (T_s … A_d)", "type": "shared / private", "modality": "modality",
            "label": "sentiment label", "error": "prediction error |pred − label|", "video": "video"}
METHODS = {"umap": "UMAP", "pca": "PCA", "tsne": "t-SNE"}
NN_PLACE = 5               # t-SNE placement: mean position of this many nearest map points
TSNE_MAX_ITER = 1000       # t-SNE iterations: 250 of early exaggeration, then 750 that lay the map out
DEFAULT_PARAMS = {"n_neighbors": 15, "min_dist": 0.1, "n_epochs": 200, "metric": "cosine", "seed": 42}

_TRANSFORM_LOCK = threading.Lock()  # UMAP.transform shares numba state; one call at a time is plenty fast


@stateful
@dataclass
class Projection:
    """A fitted 2-D map of the stacked feature sets of one split."""

    embedding: np.ndarray          # (P, 2) float32
    kinds: np.ndarray              # (P,) feature-set name of each point ("Ts", …)
    rows: np.ndarray               # (P,) int, the sample (row of the split's Predictions) each point belongs to
    reducer: object | None         # the fitted umap.UMAP / sklearn PCA (kept for transform); None for t-SNE
    params: dict = field(default_factory=dict)
    seconds: float = 0.0           # fit time
    n_samples: int = 0             # samples of the split on the map
    train_x: np.ndarray | None = None  # (P, d) unit-length features of the points (distances for transform)
    method: str = "umap"           # one of METHODS

    @property
    def names(self) -> list[str]:
        present = set(self.kinds.tolist())
        return [f for f in FEATURES if f in present]

    @property
    def label(self) -> str:
        return METHODS.get(self.method, self.method)

    @property
    def placement(self) -> str:
        """How a new point is put on this map, in words (the tab shows it)."""
        if self.method == "tsne":
            return (f"t-SNE has no transform: a new point goes to the mean position of its {NN_PLACE} nearest map "
                    "points (cosine, in the original feature space)")
        return f"placed with the fitted {self.label} model's transform"

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(JSON tree, arrays) for the result cache (fdcmdie/cache.py): ``projection_state``."""
        return projection_state(self)

    @classmethod
    def from_state(cls, tree: dict, arrays: dict) -> "Projection":
        return projection_from_state(tree, arrays)

    def points_of(self, row: int) -> dict[str, np.ndarray]:
        """{feature set: (2,)} of one sample already on the map ({} when it is not)."""
        hit = np.flatnonzero(self.rows == row)
        return {str(self.kinds[i]): self.embedding[i] for i in hit}

    def transform(self, features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Place one new input on the fitted map: {feature set: (2,)} for its non-empty feature sets.
        ``features`` is an Explanation's ``features["decoupled"]`` ({name: (d,)}); a modality the input did not have
        pools to a zero vector and is left out. UMAP and PCA use their ``transform``; t-SNE the mean position of the
        ``NN_PLACE`` nearest map points."""
        if self.train_x is None or (self.reducer is None and self.method != "tsne"):
            raise ValueError("this projection was stored without its fitted model, so new points cannot be placed")
        names, vecs = [], []
        for f in self.names:
            v = features.get(f)
            if v is None:
                continue
            v = np.asarray(v, np.float32).reshape(-1)
            if np.linalg.norm(v) > 0:
                names.append(f)
                vecs.append(v)
        if not vecs:
            return {}
        x = np.stack(vecs)
        if self.method == "pca":
            xy = self.reducer.transform(_unit(x))
        elif self.method == "tsne":
            dist = cosine_distances(x, self.train_x)
            near = np.argpartition(dist, min(NN_PLACE, dist.shape[1]) - 1, axis=1)[:, :NN_PLACE]
            xy = self.embedding[near].mean(axis=1)
        else:
            dist = cosine_distances(x, self.train_x)
            with _TRANSFORM_LOCK, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                xy = self.reducer.transform(dist)
        return dict(zip(names, np.asarray(xy, np.float32)))


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


def cosine_distances(a: np.ndarray, b_unit: np.ndarray) -> np.ndarray:
    """1 − cos between the rows of ``a`` and the (already unit-length) rows of ``b_unit``, clipped to [0, 2]."""
    return np.clip(1.0 - _unit(a) @ b_unit.T, 0.0, 2.0).astype(np.float32)


def stack_features(decoupled: dict[str, np.ndarray], rows=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X (P, d), kinds (P,), rows (P,)): the feature sets of ``rows`` (default all samples) stacked in FEATURES
    order. Feature sets the model does not have are skipped; all-zero vectors (a missing modality) are dropped."""
    names = [f for f in FEATURES if f in decoupled]
    if not names:
        raise ValueError(f"no decoupled features among {FEATURES}; got {sorted(decoupled)}")
    n = len(decoupled[names[0]])
    rows = np.arange(n) if rows is None else np.asarray(rows, int)
    xs, kinds, idx = [], [], []
    for f in names:
        x = np.asarray(decoupled[f], np.float32)[rows]
        keep = np.linalg.norm(x, axis=1) > 0
        xs.append(x[keep])
        kinds += [f] * int(keep.sum())
        idx.append(rows[keep])
    return np.concatenate(xs), np.asarray(kinds), np.concatenate(idx)


def choose_rows(n: int, max_samples: int | None, seed: int = 0) -> np.ndarray:
    """All rows, or a seeded sorted subset of ``max_samples`` of them (for quick maps)."""
    if not max_samples or max_samples >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_samples, replace=False))


def fit_projection(decoupled: dict[str, np.ndarray], *, method: str = "umap", max_samples: int | None = None,
                   n_neighbors: int = 15, min_dist: float = 0.1, n_epochs: int | None = 200, metric: str = "cosine",
                   seed: int = 42, perplexity: float = 30.0) -> Projection:
    """Fit a 2-D map (``method`` in METHODS) on the stacked, unit-length feature sets of (a seeded subset of) the
    samples. ``n_neighbors``, ``min_dist`` and ``n_epochs`` are UMAP's; ``perplexity`` is t-SNE's (which runs
    ``TSNE_MAX_ITER`` iterations); PCA has no settings."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    if metric != "cosine":
        raise ValueError(f"only the cosine metric is supported, got {metric!r}")
    n = len(next(iter(decoupled.values())))
    rows = choose_rows(n, max_samples, seed)
    X, kinds, idx = stack_features(decoupled, rows)
    if len(X) < 4:
        raise ValueError(f"only {len(X)} points to project; a map needs at least 4")
    t = time.perf_counter()
    unit = _unit(X)
    fit = {"umap": _fit_umap, "pca": _fit_pca, "tsne": _fit_tsne}[method]
    emb, reducer = fit(unit, n_neighbors=n_neighbors, min_dist=min_dist, n_epochs=n_epochs, seed=seed,
                       perplexity=perplexity)
    params = {"method": method, "max_samples": max_samples, "seed": seed,
              **({"n_neighbors": n_neighbors, "min_dist": min_dist, "n_epochs": n_epochs, "metric": metric}
                 if method == "umap" else {"perplexity": perplexity, "max_iter": TSNE_MAX_ITER} if method == "tsne" else {})}
    return Projection(embedding=np.asarray(emb, np.float32), kinds=kinds, rows=idx, reducer=reducer, params=params,
                      seconds=time.perf_counter() - t, n_samples=len(rows), train_x=unit, method=method)


def _fit_umap(unit: np.ndarray, *, n_neighbors: int, min_dist: float, n_epochs: int | None, seed: int, **_):
    """UMAP on cosine distances computed here (one matrix product) and given as ``metric="precomputed"``; its
    ``transform`` then takes the distances of new points to the fitted ones. This keeps UMAP off pynndescent, whose
    search code numba compiles anew for every fitted index (minutes on a small CPU) before the first transform."""
    import umap

    dist = cosine_distances(unit, unit)
    dist = np.minimum(dist, dist.T)
    np.fill_diagonal(dist, 0.0)
    reducer = umap.UMAP(n_components=2, n_neighbors=max(2, min(n_neighbors, len(unit) - 1)), min_dist=min_dist,
                        n_epochs=n_epochs, metric="precomputed", random_state=seed,
                        init="spectral" if len(unit) > 50 else "random", verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "precomputed metric: inverse_transform unavailable", n_jobs with a seed
        emb = reducer.fit_transform(dist)
    del dist
    reducer._raw_data = np.zeros((len(unit), 0), np.float32)  # transform only needs its length; keeps the cache small
    if getattr(reducer, "_knn_search_index", 0) is None:
        # ≥ 4096 points: UMAP took its neighbours from the distance matrix and has no search index, and its
        # transform refuses to run without one, though with a precomputed metric it never uses it
        del reducer._knn_search_index
    return emb, reducer


def _fit_pca(unit: np.ndarray, *, seed: int, **_):
    """PCA through the d × d covariance (d ≤ a few hundred): milliseconds; one BLAS thread, as more only queue
    behind each other on a small busy CPU."""
    from sklearn.decomposition import PCA
    from threadpoolctl import threadpool_limits

    pca = PCA(n_components=2, svd_solver="covariance_eigh", random_state=seed)
    with threadpool_limits(limits=1):
        emb = pca.fit_transform(unit.astype(np.float64))
    return emb, pca


def _fit_tsne(unit: np.ndarray, *, seed: int, perplexity: float, **_):
    """t-SNE for ``TSNE_MAX_ITER`` iterations. scikit-learn spends its first 250 in early exaggeration, which only
    pulls clusters apart from a tiny PCA start (std 1e-4): a map stopped there shows each feature set as a line or a
    dot (the private text set of the default pair spread over 0.0001 × 0.02). The iterations after them lay the
    points out."""
    from sklearn.manifold import TSNE

    tsne = TSNE(n_components=2, perplexity=min(perplexity, (len(unit) - 1) / 3), init="pca", random_state=seed,
                max_iter=TSNE_MAX_ITER, learning_rate="auto")
    return tsne.fit_transform(unit.astype(np.float32)), None


def warm_up_umap(seed: int = 0) -> float:
    """Fit and transform a tiny problem so numba compiles UMAP's code (30–120 s the first time in a process without
    a warm NUMBA_CACHE_DIR); returns the seconds spent."""
    t = time.perf_counter()
    x = np.random.default_rng(seed).normal(size=(60, 8)).astype(np.float32)
    proj = fit_projection({"Ts": x[:30], "Td": x[30:]}, n_neighbors=5, n_epochs=10, seed=seed)
    proj.transform({"Ts": x[0], "Td": x[1]})
    return time.perf_counter() - t


# ------------------------------------------------------------------------------------------- numbers


def feature_cosines(features: dict[str, np.ndarray]) -> dict:
    """Mean cosine similarity, within a sample, between its feature sets.

    ``features``: {name: (N, d) or (d,)} (``Predictions.features["decoupled"]`` or an Explanation's). Returns
    ``shared_shared`` (T_s·V_s, T_s·A_s, V_s·A_s), ``shared_private_same`` (X_s·X_d of the same modality),
    ``shared_private`` (every shared × private pair), ``private_private``, each a float (None when the model lacks
    the pairs), ``pairs`` {"Ts·Vs": float, …} and ``n`` (samples). Zero vectors (missing modality) are skipped.
    With contrastive learning the shared·shared cosine should rise and shared·private fall (paper Fig. 8–9)."""
    arrays = {f: np.atleast_2d(np.asarray(features[f], np.float64)) for f in FEATURES if f in features}
    n = len(next(iter(arrays.values()))) if arrays else 0
    unit, valid = {}, {}
    for f, x in arrays.items():
        norm = np.linalg.norm(x, axis=1)
        valid[f] = norm > 0
        unit[f] = x / np.where(norm > 0, norm, 1.0)[:, None]

    def cos(a: str, b: str) -> float | None:
        ok = valid[a] & valid[b]
        if not ok.any():
            return None
        return float(np.mean(np.sum(unit[a][ok] * unit[b][ok], axis=1)))

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
                if MODALITY[a] == MODALITY[b]:
                    groups["shared_private_same"].append(c)
    out: dict = {k: (float(np.mean(v)) if v else None) for k, v in groups.items()}
    out["pairs"] = pairs
    out["n"] = n
    return out


# ---------------------------------------------------------------------------------------------- cache


def _umap_state(reducer) -> tuple[dict, dict[str, np.ndarray]]:
    """What ``UMAP.transform`` reads of a fitted reducer (precomputed metric), as JSON and arrays."""
    params = {k: v for k, v in reducer.get_params().items() if isinstance(v, (int, float, str, bool, type(None)))}
    fitted = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in vars(reducer).items()
              if k in UMAP_FITTED}
    return {"params": params, "fitted": fitted, "n_raw": len(reducer._raw_data)}, {
        "umap_embedding": np.asarray(reducer.embedding_)}


def _umap_from_state(tree: dict, arrays: dict):
    """A UMAP reducer whose ``transform`` equals the fitted one's (tests/test_explain.py checks it)."""
    import umap
    from umap.distances import named_distances_with_gradients

    reducer = umap.UMAP(**tree["params"])
    for k, v in tree["fitted"].items():
        setattr(reducer, k, v)
    reducer.embedding_ = arrays["umap_embedding"]
    reducer._raw_data = np.zeros((tree["n_raw"], 0), np.float32)
    reducer._output_distance_func = named_distances_with_gradients[reducer.output_metric]
    return reducer


# fitted UMAP attributes its transform reads, besides the embedding and the training-set size
UMAP_FITTED = ("_a", "_b", "_initial_alpha", "_n_neighbors", "_disconnection_distance", "_small_data", "_sparse_data",
               "_input_distance_func", "_metric_kwds", "_output_metric_kwds", "_densmap_kwds", "_input_hash",
               "_supervised", "_n_features_out", "_original_n_threads")
PCA_FITTED = ("components_", "mean_", "explained_variance_", "explained_variance_ratio_", "singular_values_")


def _pca_state(reducer) -> tuple[dict, dict[str, np.ndarray]]:
    return ({"n_components_": int(reducer.n_components_), "n_features_in_": int(reducer.n_features_in_),
             "noise_variance_": float(reducer.noise_variance_), "n_samples_": int(reducer.n_samples_)},
            {f"pca_{k}": np.asarray(getattr(reducer, k)) for k in PCA_FITTED})


def _pca_from_state(tree: dict, arrays: dict):
    from sklearn.decomposition import PCA

    pca = PCA(n_components=tree["n_components_"], svd_solver="covariance_eigh")
    for k, v in tree.items():
        setattr(pca, k, v)
    for k in PCA_FITTED:
        setattr(pca, k, arrays[f"pca_{k}"])
    return pca


def projection_state(proj: Projection) -> tuple[dict, dict[str, np.ndarray]]:
    """A fitted map as (JSON tree, arrays) for the result cache (fdcmdie/cache.py: numpy and JSON, no pickle); the
    fitted UMAP / PCA model is kept as the attributes its ``transform`` reads."""
    tree = {"method": proj.method, "params": proj.params, "seconds": proj.seconds, "n_samples": proj.n_samples}
    arrays = {"embedding": proj.embedding, "kinds": np.asarray(proj.kinds, dtype=str), "rows": proj.rows}
    if proj.train_x is not None:
        arrays["train_x"] = proj.train_x
    if proj.reducer is not None:
        extra, more = (_umap_state if proj.method == "umap" else _pca_state)(proj.reducer)
        tree["reducer"] = extra
        arrays.update(more)
    return tree, arrays


def projection_from_state(tree: dict, arrays: dict) -> Projection:
    reducer = None
    if "reducer" in tree:
        reducer = (_umap_from_state if tree["method"] == "umap" else _pca_from_state)(tree["reducer"], arrays)
    return Projection(embedding=arrays["embedding"], kinds=arrays["kinds"], rows=arrays["rows"], reducer=reducer,
                      params=tree["params"], seconds=tree["seconds"], n_samples=tree["n_samples"],
                      train_x=arrays.get("train_x"), method=tree["method"])


def projection_params(method: str = "umap", **params) -> dict:
    """Every setting ``fit_projection(method=…)`` will use: the defaults, then ``params`` (a cache key part)."""
    full = {**DEFAULT_PARAMS, "max_samples": None, **params, "method": method}
    if method == "tsne":
        full["tsne_max_iter"] = TSNE_MAX_ITER
    return full


# ---------------------------------------------------------------------------------------------- figure


def video_of(sample_id: str) -> str:
    """The video of a CMU-MOSI/MOSEI sample id ``<video_id>_<clip_id>``."""
    return str(sample_id).rsplit("_", 1)[0]


def matching_rows(texts, query: str) -> np.ndarray:
    """Rows whose transcript contains ``query`` as a word or phrase (case-insensitive, whole words)."""
    import re

    q = " ".join(str(query or "").lower().split())
    if not q:
        return np.zeros(0, int)
    pat = re.compile(r"\b" + re.escape(q) + r"\b")
    return np.asarray([i for i, t in enumerate(texts) if pat.search(str(t).lower())], int)


def _hover(i: int, f: str, ids, texts, labels, preds) -> str:
    text = str(texts[i]) if texts is not None else ""
    text = text if len(text) <= 90 else text[:87] + "…"
    parts = [f"<b>{ids[i]}</b> · {FEATURE_LABELS[f]}" if ids is not None else FEATURE_LABELS[f]]
    if labels is not None:
        parts.append(f"label {float(labels[i]):+.2f}" + (f" · prediction {float(preds[i]):+.2f}" if preds is not None else ""))
    if text:
        parts.append(_wrap(text))
    return "<br>".join(parts)


def _wrap(text: str, width: int = 45) -> str:
    words, lines, cur = text.split(), [], ""
    for w in words:
        if cur and len(cur) + len(w) + 1 > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    if cur:
        lines.append(cur)
    return "<br>".join(lines)


VIDEO_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
                 "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354",
                 "#756bb1", "#636363", "#6baed6", "#fd8d3c", "#74c476", "#9e9ac8"]
CONSTELLATION = [("Ts", "Vs"), ("Vs", "As"), ("As", "Ts"), ("Td", "Vd"), ("Vd", "Ad"), ("Ad", "Td"),
                 ("Ts", "Td"), ("Vs", "Vd"), ("As", "Ad")]  # shared triangle, private triangle, X_s–X_d


def _groups(proj: Projection, color_by: str, ids, labels, preds) -> list[dict]:
    """The point groups of one colouring: [{"mask", "name", "color" (str or per-point values), "symbol", ...}]."""
    kinds, rows = proj.kinds, proj.rows
    symbol = lambda f: "circle" if f in SHARED else "diamond"
    out = []
    if color_by == "feature":
        out = [dict(mask=kinds == f, name=FEATURE_LABELS[f], color=FEATURE_COLORS[f], symbol=symbol(f))
               for f in proj.names]
    elif color_by == "type":
        is_shared = np.isin(kinds, SHARED)
        sets = lambda group: ", ".join(f"{f[0]}_{f[1]}" for f in proj.names if (f in SHARED) == group)  # Ts -> T_s
        out = [dict(mask=is_shared, name=f"shared ({sets(True)})", color="#6a3d9a", symbol="circle"),
               dict(mask=~is_shared, name=f"private ({sets(False)})", color="#9e9e9e", symbol="diamond")]
    elif color_by == "modality":
        out = [dict(mask=kinds == f, name=FEATURE_LABELS[f], color=MOD_COLORS[MODALITY[f]], symbol=symbol(f))
               for f in proj.names]
    elif color_by == "video":
        if ids is None:
            raise ValueError("color_by='video' needs the sample ids")
        videos = np.asarray([video_of(ids[int(r)]) for r in rows])
        order = {v: i for i, v in enumerate(sorted(set(videos.tolist())))}
        # a palette index per point on a stepless scale whose stops are the palette (numbers draw much faster than
        # one colour string per point)
        index = np.asarray([order[v] % len(VIDEO_PALETTE) for v in videos], np.float32)
        last = len(VIDEO_PALETTE) - 1
        scale = dict(colorscale=[[i / last, c] for i, c in enumerate(VIDEO_PALETTE)], cmin=0, cmax=last,
                     title="video")
        for group, sym, name in ((SHARED, "circle", "shared"), (PRIVATE, "diamond", "private")):
            m = np.isin(kinds, group)
            out.append(dict(mask=m, name=f"{name} (colour = video, {len(order)} videos)", color=index[m],
                            symbol=sym, scale=scale, colorbar=False))
    else:  # continuous: label or error
        if labels is None or (color_by == "error" and preds is None):
            raise ValueError(f"color_by={color_by!r} needs labels{' and predictions' if color_by == 'error' else ''}")
        lab = np.asarray(labels, np.float32)
        value = (np.abs(np.asarray(preds, np.float32) - lab) if color_by == "error" else lab)[rows]
        scale = (dict(colorscale="RdBu", cmin=-3, cmax=3, title="label") if color_by == "label" else
                 dict(colorscale="YlOrRd", cmin=0, cmax=float(max(1.0, np.percentile(value, 98))), title="|error|"))
        for group, sym, name in ((SHARED, "circle", "shared"), (PRIVATE, "diamond", "private")):
            m = np.isin(kinds, group)
            out.append(dict(mask=m, name=f"{name} (colour = {scale['title']})", color=value[m], symbol=sym,
                            scale=scale, colorbar=group == SHARED))
    return [g for g in out if g["mask"].any()]


def projection_figure(proj: Projection, *, ids=None, texts=None, labels=None, preds=None, color_by: str = "feature",
                      selected: dict[str, np.ndarray] | None = None, selected_name: str = "selected sample",
                      upload: dict[str, np.ndarray] | None = None, highlight=None, highlight_name: str = "matches",
                      title: str = "", height: int = 520, hover: np.ndarray | None = None):
    """A plotly scatter of the map. ``ids/texts/labels/preds`` are the split's per-sample arrays (indexed by
    ``proj.rows``) for the hover text; every point carries its sample id as ``customdata`` (the app's click bridge
    reads it). ``selected`` / ``upload`` are {feature set: (2,)} points drawn on top, the selected sample's joined by
    lines (its constellation: shared triangle, private triangle, dotted X_s–X_d); ``highlight`` rows (a word search)
    get a ring. ``hover``: precomputed hover strings of the points (``hover_texts``), else built here."""
    import plotly.graph_objects as go

    if color_by not in COLOR_BY:
        raise ValueError(f"color_by must be one of {list(COLOR_BY)}, got {color_by!r}")
    fig = go.Figure()
    emb, rows = proj.embedding, proj.rows
    if hover is None:
        hover = hover_texts(proj, ids=ids, texts=texts, labels=labels, preds=preds)
    custom = np.asarray([ids[int(r)] for r in rows], dtype=object) if ids is not None else None
    for g in _groups(proj, color_by, ids, labels, preds):
        m = g["mask"]
        mk = dict(size=5, opacity=0.7, line=dict(width=0), color=g["color"], symbol=g["symbol"])
        if "scale" in g:
            sc = g["scale"]
            mk.update(colorscale=sc["colorscale"], cmin=sc["cmin"], cmax=sc["cmax"], showscale=g["colorbar"],
                      colorbar=dict(title=sc["title"], thickness=10, len=0.6) if g["colorbar"] else None)
        fig.add_trace(go.Scatter(x=emb[m, 0], y=emb[m, 1], mode="markers", name=g["name"], text=hover[m],
                                   hoverinfo="text", marker=mk, customdata=None if custom is None else custom[m]))
    if highlight is not None and len(highlight):
        m = np.isin(rows, np.asarray(highlight, int))
        if m.any():
            fig.add_trace(go.Scatter(x=emb[m, 0], y=emb[m, 1], mode="markers", name=highlight_name, text=hover[m],
                                       hoverinfo="text", customdata=None if custom is None else custom[m],
                                       marker=dict(size=10, color="rgba(0,0,0,0)", line=dict(color="#e6007e", width=2))))
    if selected:
        xs, ys, dash_x, dash_y = [], [], [], []
        for a, b in CONSTELLATION:
            if a in selected and b in selected:
                tx, ty = (dash_x, dash_y) if a[0] == b[0] else (xs, ys)
                tx += [float(selected[a][0]), float(selected[b][0]), None]
                ty += [float(selected[a][1]), float(selected[b][1]), None]
        for x, y, dash in ((xs, ys, "solid"), (dash_x, dash_y, "dot")):
            if x:
                fig.add_trace(go.Scatter(x=x, y=y, mode="lines", hoverinfo="skip", showlegend=False,
                                         line=dict(color="black", width=1.5, dash=dash)))
    # the sample's labels above its rings, the upload's below its stars: the two never print over each other when a
    # sample and an upload land close together (issue 32)
    for points, name, style, where in ((selected, selected_name, dict(color="rgba(255,255,255,0.6)", size=15,
                                                                        line=dict(color="black", width=2.5)), "top center"),
                                       (upload, "your upload", dict(color="#e41a1c", size=16, symbol="star",
                                                                    line=dict(color="black", width=1)), "bottom center")):
        if points:
            names = [f for f in FEATURES if f in points]
            xy = np.stack([points[f] for f in names])
            fig.add_trace(go.Scatter(x=xy[:, 0], y=xy[:, 1], mode="markers+text", name=name,
                                     text=[f"{f[0]}<sub>{f[1]}</sub>" for f in names], textposition=where,
                                     hovertext=[f"{name}: {FEATURE_LABELS[f]}" for f in names], hoverinfo="text",
                                     marker=style, textfont=dict(size=13, color="black")))
    fig.update_layout(title=dict(text=title, x=0.01, font=dict(size=15)), height=height,
                      margin=dict(l=10, r=10, t=40 if title else 10, b=10), plot_bgcolor="white",
                      legend=dict(orientation="h", yanchor="top", y=-0.02, x=0, font=dict(size=11)),
                      hoverlabel=dict(align="left"), clickmode="event", hovermode="closest")
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, title=None)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, title=None, scaleanchor=None)
    return fig


def hover_texts(proj: Projection, *, ids=None, texts=None, labels=None, preds=None) -> np.ndarray:
    """The hover text of every point of a map (object array, in the order of ``proj.embedding``)."""
    vid = (lambda r: f"<br>video {video_of(ids[r])}") if ids is not None else (lambda r: "")
    out = [_hover(int(r), str(k), ids, texts, labels, preds) + vid(int(r)) for r, k in zip(proj.rows, proj.kinds)]
    return np.asarray(out, dtype=object)


# ---------------------------------------------------------------------------------------------- export


def coordinates_table(proj: Projection, *, ids, texts=None, labels=None, preds=None):
    """The map's points as a pandas DataFrame: id, video, feature set, shared/private, modality, x, y, label,
    prediction, |error|, transcript (one row per point)."""
    import pandas as pd

    r = proj.rows
    df = pd.DataFrame({"id": [ids[int(i)] for i in r], "video": [video_of(ids[int(i)]) for i in r],
                       "feature_set": proj.kinds, "type": ["shared" if k in SHARED else "private" for k in proj.kinds],
                       "modality": [MOD_NAMES[MODALITY[k]] for k in proj.kinds],
                       "method": proj.method, "x": proj.embedding[:, 0], "y": proj.embedding[:, 1]})
    if labels is not None:
        df["label"] = np.asarray(labels, float)[r]
    if preds is not None:
        df["prediction"] = np.asarray(preds, float)[r]
        if labels is not None:
            df["abs_error"] = np.abs(df["prediction"] - df["label"])
    if texts is not None:
        df["transcript"] = [texts[int(i)] for i in r]
    return df


def static_figure(proj: Projection, *, title: str = "", color_by: str = "feature", ids=None, labels=None,
                  preds=None, selected: dict[str, np.ndarray] | None = None, figsize=(5.5, 4.5), dpi: int = 110):
    """The map as a matplotlib Figure (the report's figures and the app's PNG / SVG export: plotly's own static
    export needs kaleido, which needs a Chrome install)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgba

    fig, ax = plt.subplots(figsize=figsize, dpi=dpi)
    mpl_marker = {"circle": "o", "diamond": "D"}
    for g in _groups(proj, color_by, ids, labels, preds):
        xy = proj.embedding[g["mask"]]
        kw = dict(s=5 if g["symbol"] == "circle" else 4, alpha=0.7, marker=mpl_marker[g["symbol"]], linewidths=0)
        if "scale" in g:
            sc = g["scale"]
            from matplotlib.colors import ListedColormap
            cmap = (ListedColormap([c for _, c in sc["colorscale"]]) if isinstance(sc["colorscale"], list)
                    else sc["colorscale"])  # "RdBu", "YlOrRd": the same names in matplotlib
            pts = ax.scatter(*xy.T, c=g["color"], cmap=cmap, vmin=sc["cmin"], vmax=sc["cmax"], label=g["name"], **kw)
            if g["colorbar"]:
                fig.colorbar(pts, ax=ax, shrink=0.6, label=sc["title"])
        else:
            color = g["color"] if isinstance(g["color"], str) else [to_rgba(c) for c in g["color"]]
            ax.scatter(*xy.T, c=[color] if isinstance(color, str) else color, label=g["name"], **kw)
    if selected:
        for a, b in CONSTELLATION:
            if a in selected and b in selected:
                ax.plot(*np.stack([selected[a], selected[b]]).T, color="black", lw=1,
                        ls=":" if a[0] == b[0] else "-")
        for f, p in selected.items():
            ax.scatter([p[0]], [p[1]], s=60, facecolors="white", edgecolors="black", linewidths=1.5, zorder=5)
            ax.annotate(f"{f[0]}$_{f[1]}$", p, textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, markerscale=2, loc="best")
    ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    return fig


def export_map(proj: Projection, out_dir: str | Path, stem: str, *, ids, texts=None, labels=None, preds=None,
               color_by: str = "feature", selected=None, title: str = "") -> dict[str, Path]:
    """Write ``<stem>.png``, ``<stem>.svg`` (matplotlib) and ``<stem>.csv`` (``coordinates_table``) into ``out_dir``;
    returns {"png": path, "svg": path, "csv": path}."""
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fig = static_figure(proj, title=title, color_by=color_by, ids=ids, labels=labels, preds=preds, selected=selected,
                        figsize=(7, 5.5), dpi=150)
    paths = {ext: out_dir / f"{stem}.{ext}" for ext in ("png", "svg", "csv")}
    fig.savefig(paths["png"])
    fig.savefig(paths["svg"])
    plt.close(fig)
    coordinates_table(proj, ids=ids, texts=texts, labels=labels, preds=preds).to_csv(paths["csv"], index=False)
    return paths
