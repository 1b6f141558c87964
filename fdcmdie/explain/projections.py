"""2-D maps of the decoupled feature space (paper Fig. 8–9), the numbers behind them, and their on-disk cache.

Each sample of a split gives six pooled vectors (``Predictions.features["decoupled"]``): the shared T_s, V_s, A_s
(one encoder E_s for all modalities) and the private T_d, V_d, A_d. All of them are stacked into one point cloud
and embedded with UMAP (cosine metric, as the contrastive loss uses cosine similarity). With contrastive learning
the three shared sets should gather around text while the private sets move away; without it they intermix.

    proj = fit_projection(preds.features["decoupled"])             # or ProjectionCache().get_or_fit(...)
    xy = proj.transform(explanation.features["decoupled"])         # place a new input on the fitted map
    fig = projection_figure(proj, ids=..., texts=..., labels=..., preds=..., color_by="feature")
    feature_cosines(preds.features["decoupled"])                   # mean cosines shared·shared, shared·private

The first UMAP call in a fresh process spends 30–120 s compiling numba code; ``warm_up_umap`` pays that on a tiny
problem (call it in a background thread) and ``NUMBA_CACHE_DIR`` keeps the compiled code between processes.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import MOD_COLORS, MOD_NAMES

FEATURES = ("Ts", "Vs", "As", "Td", "Vd", "Ad")
SHARED = ("Ts", "Vs", "As")
PRIVATE = ("Td", "Vd", "Ad")
MODALITY = {"Ts": "t", "Vs": "v", "As": "a", "Td": "t", "Vd": "v", "Ad": "a"}
FEATURE_LABELS = {f: f"{f[0]}_{f[1]} ({MOD_NAMES[MODALITY[f]]}, {'shared' if f in SHARED else 'private'})"
                  for f in FEATURES}
FEATURE_COLORS = {"Ts": "#1f4e9c", "Vs": "#1b7d3a", "As": "#c45a00",   # shared: dark shades
                  "Td": "#7fb2f0", "Vd": "#8fd694", "Ad": "#ffbb66"}   # private: light shades
COLOR_BY = {"feature": "feature set (T_s … A_d)", "type": "shared / private", "modality": "modality",
            "label": "sentiment label"}
CACHE_VERSION = 1
DEFAULT_PARAMS = {"n_neighbors": 15, "min_dist": 0.1, "n_epochs": 200, "metric": "cosine", "seed": 42}

_TRANSFORM_LOCK = threading.Lock()  # UMAP.transform shares numba state; one call at a time is plenty fast


@dataclass
class Projection:
    """A fitted 2-D map of the stacked feature sets of one split."""

    embedding: np.ndarray          # (P, 2) float32
    kinds: np.ndarray              # (P,) feature-set name of each point ("Ts", …)
    rows: np.ndarray               # (P,) int, the sample (row of the split's Predictions) each point belongs to
    reducer: object | None         # the fitted umap.UMAP (kept for transform)
    params: dict = field(default_factory=dict)
    seconds: float = 0.0           # fit time
    n_samples: int = 0             # samples of the split on the map
    train_x: np.ndarray | None = None  # (P, d) unit-length features of the points, for cosine distances in transform

    @property
    def names(self) -> list[str]:
        present = set(self.kinds.tolist())
        return [f for f in FEATURES if f in present]

    def points_of(self, row: int) -> dict[str, np.ndarray]:
        """{feature set: (2,)} of one sample already on the map ({} when it is not)."""
        hit = np.flatnonzero(self.rows == row)
        return {str(self.kinds[i]): self.embedding[i] for i in hit}

    def transform(self, features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Place one new input on the fitted map with the UMAP model's ``transform``: {feature set: (2,)} for its
        non-empty feature sets. ``features`` is an Explanation's ``features["decoupled"]`` ({name: (d,)}); a modality
        the input did not have pools to a zero vector and is left out."""
        if self.reducer is None or self.train_x is None:
            raise ValueError("this projection was stored without its UMAP model, so new points cannot be placed")
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
        dist = cosine_distances(np.stack(vecs), self.train_x)
        with _TRANSFORM_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            xy = np.asarray(self.reducer.transform(dist), np.float32)
        return dict(zip(names, xy))


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


def fit_projection(decoupled: dict[str, np.ndarray], *, max_samples: int | None = None, n_neighbors: int = 15,
                   min_dist: float = 0.1, n_epochs: int | None = 200, metric: str = "cosine",
                   seed: int = 42) -> Projection:
    """Fit UMAP on the stacked feature sets of (a seeded subset of) the samples.

    Distances are computed here (cosine, one matrix product) and given to UMAP as ``metric="precomputed"``; its
    ``transform`` then takes the distances of new points to the fitted ones. This keeps UMAP off pynndescent, whose
    search code numba compiles anew for every fitted index (minutes on a small CPU) before the first transform."""
    import umap

    if metric != "cosine":
        raise ValueError(f"only the cosine metric is supported, got {metric!r}")
    n = len(next(iter(decoupled.values())))
    rows = choose_rows(n, max_samples, seed)
    X, kinds, idx = stack_features(decoupled, rows)
    if len(X) < 4:
        raise ValueError(f"only {len(X)} points to project; UMAP needs at least 4")
    t = time.perf_counter()
    unit = _unit(X)
    dist = cosine_distances(unit, unit)
    dist = np.minimum(dist, dist.T)
    np.fill_diagonal(dist, 0.0)
    reducer = umap.UMAP(n_components=2, n_neighbors=max(2, min(n_neighbors, len(X) - 1)), min_dist=min_dist,
                        n_epochs=n_epochs, metric="precomputed", random_state=seed,
                        init="spectral" if len(X) > 50 else "random", verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "precomputed metric: inverse_transform unavailable", n_jobs with a seed
        emb = reducer.fit_transform(dist).astype(np.float32)
    del dist
    reducer._raw_data = np.zeros((len(X), 0), np.float32)  # transform only needs its length; keeps the cache small
    if getattr(reducer, "_knn_search_index", 0) is None:
        # ≥ 4096 points: UMAP took its neighbours from the distance matrix and has no search index, and its
        # transform refuses to run without one, though with a precomputed metric it never uses it
        del reducer._knn_search_index
    params = {"max_samples": max_samples, "n_neighbors": n_neighbors, "min_dist": min_dist, "n_epochs": n_epochs,
              "metric": metric, "seed": seed}
    return Projection(embedding=emb, kinds=kinds, rows=idx, reducer=reducer, params=params,
                      seconds=time.perf_counter() - t, n_samples=len(rows), train_x=unit)


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


_FINGERPRINTS: dict[tuple, str] = {}


def checkpoint_fingerprint(path: str | Path) -> str:
    """Content hash of a checkpoint folder (config.json + model.safetensors), memoised by size and mtime."""
    path = Path(path)
    files = [path / "config.json", path / "model.safetensors"]
    stamp = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.is_file())
    if stamp not in _FINGERPRINTS:
        h = hashlib.sha256()
        for f in files:
            if f.is_file():
                with open(f, "rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        h.update(chunk)
        _FINGERPRINTS[stamp] = h.hexdigest()[:16]
    return _FINGERPRINTS[stamp]


class ProjectionCache:
    """Fitted maps on disk (joblib pickles of our own objects), keyed by checkpoint content, split, the split's
    sample ids and the UMAP settings: ``<root>/<checkpoint name>-<split>-<key>.joblib``."""

    def __init__(self, root: str | Path = ".cache/fdcmdie/umap"):
        self.root = Path(root)

    def key(self, checkpoint: str | Path, split: str, ids: list[str], params: dict) -> str:
        blob = json.dumps({"v": CACHE_VERSION, "ckpt": checkpoint_fingerprint(checkpoint), "split": split,
                           "ids": hashlib.sha256("\n".join(ids).encode()).hexdigest(), "params": params},
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def path(self, checkpoint: str | Path, split: str, key: str) -> Path:
        name = Path(checkpoint).resolve()
        name = name.parent.name if name.name == "checkpoint" else name.name
        return self.root / f"{name}-{split}-{key}.joblib"

    def load(self, path: Path) -> Projection | None:
        if not path.is_file():
            return None
        try:
            import joblib
            obj = joblib.load(path)
            return obj if isinstance(obj, Projection) else None
        except Exception:  # a cache file from another library version or cut short: refit
            return None

    def save(self, path: Path, proj: Projection) -> None:
        import joblib
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
        joblib.dump(proj, tmp)
        tmp.replace(path)

    def get_or_fit(self, checkpoint: str | Path, split: str, ids: list[str], decoupled: dict[str, np.ndarray],
                   **params) -> tuple[Projection, bool]:
        """(projection, came from the cache)."""
        full = {**DEFAULT_PARAMS, "max_samples": None, **params}
        path = self.path(checkpoint, split, self.key(checkpoint, split, list(ids), full))
        proj = self.load(path)
        if proj is not None:
            return proj, True
        proj = fit_projection(decoupled, **full)
        try:
            self.save(path, proj)
        except OSError:  # read-only disk: the map still works in memory
            pass
        return proj, False


# ---------------------------------------------------------------------------------------------- figure


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


def projection_figure(proj: Projection, *, ids=None, texts=None, labels=None, preds=None, color_by: str = "feature",
                      selected: dict[str, np.ndarray] | None = None, selected_name: str = "selected sample",
                      upload: dict[str, np.ndarray] | None = None, title: str = "", height: int = 520):
    """A plotly scatter of the map. ``ids/texts/labels/preds`` are the split's per-sample arrays (indexed by
    ``proj.rows``) for the hover text; ``selected`` / ``upload`` are {feature set: (2,)} points drawn on top."""
    import plotly.graph_objects as go

    if color_by not in COLOR_BY:
        raise ValueError(f"color_by must be one of {list(COLOR_BY)}, got {color_by!r}")
    fig = go.Figure()
    emb, kinds, rows = proj.embedding, proj.kinds, proj.rows
    hover = [_hover(int(r), str(k), ids, texts, labels, preds) for r, k in zip(rows, kinds)]
    hover = np.asarray(hover, dtype=object)
    symbol = lambda f: "circle" if f in SHARED else "diamond"
    marker = dict(size=5, opacity=0.7, line=dict(width=0))

    def add(mask, name, **mk):
        if mask.any():
            fig.add_trace(go.Scatter(x=emb[mask, 0], y=emb[mask, 1], mode="markers", name=name,
                                     text=hover[mask], hoverinfo="text", marker={**marker, **mk}))

    if color_by == "feature":
        for f in proj.names:
            add(kinds == f, FEATURE_LABELS[f], color=FEATURE_COLORS[f], symbol=symbol(f))
    elif color_by == "type":
        is_shared = np.isin(kinds, SHARED)
        add(is_shared, "shared (T_s, V_s, A_s)", color="#6a3d9a", symbol="circle")
        add(~is_shared, "private (T_d, V_d, A_d)", color="#9e9e9e", symbol="diamond")
    elif color_by == "modality":
        for f in proj.names:
            m = MODALITY[f]
            add(kinds == f, FEATURE_LABELS[f], color=MOD_COLORS[m], symbol=symbol(f))
    else:
        if labels is None:
            raise ValueError("color_by='label' needs labels")
        lab = np.asarray(labels, np.float32)[rows]
        for group, sym, name in ((SHARED, "circle", "shared"), (PRIVATE, "diamond", "private")):
            mask = np.isin(kinds, group)
            add(mask, f"{name} (colour = label)", color=lab[mask], colorscale="RdBu", cmin=-3, cmax=3,
                symbol=sym, showscale=group == SHARED,
                colorbar=dict(title="label", thickness=10, len=0.6) if group == SHARED else None)
    for points, name, style in ((selected, selected_name, dict(color="rgba(0,0,0,0)", size=15,
                                                                 line=dict(color="black", width=2.5))),
                                (upload, "your upload", dict(color="#e41a1c", size=16, symbol="star",
                                                             line=dict(color="black", width=1)))):
        if points:
            names = [f for f in FEATURES if f in points]
            xy = np.stack([points[f] for f in names])
            fig.add_trace(go.Scatter(x=xy[:, 0], y=xy[:, 1], mode="markers+text", name=name,
                                     text=[f"{f[0]}<sub>{f[1]}</sub>" for f in names], textposition="top center",
                                     hovertext=[f"{name}: {FEATURE_LABELS[f]}" for f in names], hoverinfo="text",
                                     marker=style, textfont=dict(size=13, color="black")))
    fig.update_layout(title=dict(text=title, x=0.01, font=dict(size=15)), height=height,
                      margin=dict(l=10, r=10, t=40 if title else 10, b=10), plot_bgcolor="white",
                      legend=dict(orientation="h", yanchor="top", y=-0.02, x=0, font=dict(size=11)),
                      hoverlabel=dict(align="left"))
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, title=None)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, title=None)
    return fig
