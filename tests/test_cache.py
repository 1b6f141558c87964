"""fdcmdie/cache.py: results kept on disk are keyed (same identity hits, a changed parameter or input misses), a
damaged file is recomputed, files are numpy + JSON (no pickle), and a restarted app reads what the first one
computed instead of computing it again."""
from __future__ import annotations

import dataclasses
import zipfile

import numpy as np
import pytest

from fdcmdie.cache import Identity, ResultCache, checkpoint_hash, decode, default_root, encode, files_hash
from fdcmdie.explain.shapley import ModalityShapley


def shapley_value(seed: int) -> ModalityShapley:
    rng = np.random.default_rng(seed)
    return ModalityShapley(["t", "a"], rng.normal(size=(7, 2)), rng.normal(size=7), rng.normal(size=7))


class Counter:
    """A computation that counts its calls."""

    def __init__(self, seed: int = 0):
        self.calls, self.seed = 0, seed

    def __call__(self):
        self.calls += 1
        return shapley_value(self.seed)


def same(a: ModalityShapley, b: ModalityShapley) -> bool:
    return a.modalities == b.modalities and all(np.array_equal(getattr(a, f), getattr(b, f))
                                               for f in ("phi", "baseline", "pred"))


def test_same_identity_hits_a_changed_parameter_misses(tmp_path):
    ident = Identity("shapley", {"checkpoint": "abc", "split": "test", "n_steps": 16}, name="ckpt-test")
    first = Counter()
    a = ResultCache(tmp_path).get(("shapley", "main", "test"), first, disk=ident)
    assert first.calls == 1
    # a new process (a new cache object on the same folder): read back, not computed
    again = Counter(seed=99)
    cache = ResultCache(tmp_path)
    b = cache.get(("shapley", "main", "test"), again, disk=ident)
    assert again.calls == 0 and same(a, b) and cache.hits == {"shapley": 1}
    # in memory now: neither disk nor computation
    assert cache.get(("shapley", "main", "test"), again, disk=ident) is b and again.calls == 0
    # any changed part of the identity is another result
    for changed in ({"n_steps": 32}, {"split": "valid"}, {"checkpoint": "abd"}):
        other = Counter(seed=5)
        c = ResultCache(tmp_path).get("k", other, disk=Identity("shapley", {**ident.parts, **changed}))
        assert other.calls == 1 and same(c, shapley_value(5))
    assert len(list((tmp_path / "shapley").glob("*.npz"))) == 4
    assert not list(tmp_path.rglob("*.tmp"))  # written to a temporary name, renamed over the target


def test_a_damaged_file_is_recomputed_and_replaced(tmp_path):
    ident = Identity("shapley", {"checkpoint": "abc"})
    cache = ResultCache(tmp_path)
    cache.get("k", Counter(), disk=ident)
    path = cache.path(ident)
    for damage in (b"not a zip", path.read_bytes()[: path.stat().st_size // 2]):
        path.write_bytes(damage)
        redo = Counter(seed=3)
        value = ResultCache(tmp_path).get("k", redo, disk=ident)
        assert redo.calls == 1 and same(value, shapley_value(3))
        assert same(ResultCache(tmp_path).load(ident), shapley_value(3))   # the recomputed value replaced it


def test_files_are_numpy_and_json_never_pickle(tmp_path):
    ident = Identity("shapley", {"checkpoint": "abc"})
    path = ResultCache(tmp_path).save(ident, shapley_value(1))
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    assert "__meta__.npy" in names and all(n.endswith(".npy") for n in names)
    with np.load(path, allow_pickle=False) as z:   # raises if any member needs pickle
        assert all(z[k].dtype != object for k in z.files)
    # a file that names a type outside the allow-list is not decoded
    tree, arrays = encode(shapley_value(1))
    with pytest.raises(TypeError, match="unknown stored type"):
        decode({**tree, "@type": "os.system"}, arrays)


def test_encode_decode_round_trip_of_nested_results():
    from fdcmdie.evaluate import Predictions

    rng = np.random.default_rng(0)
    n = 20
    preds = Predictions(ids=[f"v{i}_{i}" for i in range(n)], texts=[f"text {i}" for i in range(n)],
                        label=rng.normal(size=n).astype(np.float32), pred=rng.normal(size=n).astype(np.float32),
                        alpha=None, gates=rng.random((n, 2, 1)).astype(np.float32),
                        features={"decoupled": {"Ts": rng.normal(size=(n, 4)).astype(np.float32)}},
                        present=np.ones((n, 1), bool))
    back = decode(*encode(preds))
    assert back.ids == preds.ids and back.texts == preds.texts and back.alpha is None
    for f in ("label", "pred", "gates", "present"):
        assert np.array_equal(getattr(back, f), getattr(preds, f)) and getattr(back, f).dtype == getattr(preds, f).dtype
    assert np.array_equal(back.features["decoupled"]["Ts"], preds.features["decoupled"]["Ts"])


def test_content_hashes_follow_the_content(tmp_path):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    (ckpt / "model.safetensors").write_bytes(b"weights")
    h = checkpoint_hash(ckpt)
    (ckpt / "model.safetensors").write_bytes(b"weightz")   # same size, other content
    assert checkpoint_hash(ckpt) != h
    data = tmp_path / "data"
    data.mkdir()
    (data / "labels.csv").write_text("a,b\n")
    d = files_hash([data])
    (data / "extra.npz").write_bytes(b"x")
    assert files_hash([data]) != d


def test_default_root_is_a_user_cache_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("FDCMDIE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_root() == tmp_path / "fdcmdie" / "results"
    monkeypatch.setenv("FDCMDIE_CACHE", str(tmp_path / "mine"))
    assert default_root() == tmp_path / "mine"


def test_a_restarted_app_reads_what_the_first_one_computed(ctx, view):
    """The warm-up's results (split predictions, Shapley values and words of the first samples, the PCA maps) are
    read back by a new AppContext on the same cache folder: nothing is computed again, and the values are equal."""
    from fdcmdie.app import AppContext

    # the first app: a context of its own (the shared ctx may hold the whole split's Shapley values in memory from
    # an earlier test, and would answer from them instead of computing the sample's)
    ctx = AppContext(ctx.options, predictors={k: ctx.predictor(k) for k in ("main", "compare")})
    ctx.projection("main", "test", "pca")
    ctx.sample_shapley("main", "test", 0)
    words = ctx.sample_words("main", "test", 0)
    fresh = AppContext(ctx.options, predictors={k: ctx.predictor(k) for k in ("main", "compare")})
    v = fresh.split_view("main", "test")
    assert v is not view and v.preds.ids == view.preds.ids and np.array_equal(v.preds.pred, view.preds.pred)
    assert v.row_of == view.row_of and set(v.ablations) == set(view.ablations)
    for name, a in view.preds.features["decoupled"].items():
        assert np.array_equal(v.preds.features["decoupled"][name], a)
    assert same(fresh.sample_shapley("main", "test", 0), ctx.sample_shapley("main", "test", 0))
    w = fresh.sample_words("main", "test", 0)
    assert w.words == words.words and np.array_equal(w.scores, words.scores) and w.method == words.method
    assert np.array_equal(fresh.projection("main", "test", "pca").embedding,
                          ctx.projection("main", "test", "pca").embedding)
    assert fresh.cache.misses == {} and fresh.cache.hits == {"split": 1, "shapley": 1, "words": 1, "projection": 1}
    # another map setting is another result
    other = AppContext(dataclasses.replace(ctx.options, umap_max_samples=7),
                       predictors={k: ctx.predictor(k) for k in ("main", "compare")})
    assert other.projection("main", "test", "pca").n_samples == 7 and other.cache.misses == {"projection": 1}
