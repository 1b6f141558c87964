"""2-D maps of the decoupled feature space (paper Fig. 8–9) and their state for the result cache
(``projection_state``: arrays and JSON, fdcmdie/cache.py).

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

The app draws the maps (:mod:`fdcmdie.app.plots.projections`, plotly); the report and the app's PNG / SVG export
draw them with matplotlib (:mod:`fdcmdie.render.maps`). The numbers behind them (mean cosines shared·shared,
shared·private) are :func:`fdcmdie.explain.geometry.feature_cosines`.

The first UMAP call in a fresh process spends 30–120 s compiling numba code; ``warm_up_umap`` pays that on a tiny
problem (call it in a background thread) and ``NUMBA_CACHE_DIR`` keeps the compiled code between processes.
"""
from __future__ import annotations

import threading
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..cache import stateful
from ..facts import FEATURE_SETS as FEATURES, PRIVATE_SETS as PRIVATE, SHARED_SETS as SHARED
from . import MOD_NAMES
from .geometry import unit
from .slices import video_of  # noqa: F401  (the one reading of a sample id's video)

MODALITY = {"Ts": "t", "Vs": "v", "As": "a", "Td": "t", "Vd": "v", "Ad": "a"}
FEATURE_LABELS = {f: f"{f[0]}_{f[1]} ({MOD_NAMES[MODALITY[f]]}, {'shared' if f in SHARED else 'private'})"
                  for f in FEATURES}
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
            xy = self.reducer.transform(unit(x, np.float32))
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


def cosine_distances(a: np.ndarray, b_unit: np.ndarray) -> np.ndarray:
    """1 − cos between the rows of ``a`` and the (already unit-length) rows of ``b_unit``, clipped to [0, 2]."""
    return np.clip(1.0 - unit(a, np.float32) @ b_unit.T, 0.0, 2.0).astype(np.float32)


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
    points = unit(X, np.float32)
    fit = {"umap": _fit_umap, "pca": _fit_pca, "tsne": _fit_tsne}[method]
    emb, reducer = fit(points, n_neighbors=n_neighbors, min_dist=min_dist, n_epochs=n_epochs, seed=seed,
                       perplexity=perplexity)
    params = {"method": method, "max_samples": max_samples, "seed": seed,
              **({"n_neighbors": n_neighbors, "min_dist": min_dist, "n_epochs": n_epochs, "metric": metric}
                 if method == "umap" else {"perplexity": perplexity, "max_iter": TSNE_MAX_ITER} if method == "tsne" else {})}
    return Projection(embedding=np.asarray(emb, np.float32), kinds=kinds, rows=idx, reducer=reducer, params=params,
                      seconds=time.perf_counter() - t, n_samples=len(rows), train_x=points, method=method)


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


# ---------------------------------------------------------------------------------------------- search


def matching_rows(texts, query: str) -> np.ndarray:
    """Rows whose transcript contains ``query`` as a word or phrase (case-insensitive, whole words)."""
    import re

    q = " ".join(str(query or "").lower().split())
    if not q:
        return np.zeros(0, int)
    pat = re.compile(r"\b" + re.escape(q) + r"\b")
    return np.asarray([i for i, t in enumerate(texts) if pat.search(str(t).lower())], int)


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
