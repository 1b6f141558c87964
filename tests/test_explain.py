"""fdcmdie.explain: feature cosines, UMAP maps (fit, transform, disk cache, figure), GAP contributions, case choice.
Synthetic arrays where the answer is known; the ablations on the tiny real-MOSI checkpoint pair."""
from __future__ import annotations

import numpy as np
import pytest

from fdcmdie.evaluate import Predictions
from fdcmdie.explain import cases as C
from fdcmdie.explain import contributions as G
from fdcmdie.app.plots import contributions as GF
from fdcmdie.app.plots import projections as PF
from fdcmdie.explain import projections as P
from fdcmdie.explain.geometry import feature_cosines


def clustered(n: int = 40, d: int = 16, seed: int = 0) -> dict[str, np.ndarray]:
    """Shared sets around one direction, each private set around its own: the picture CL should give."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(6, d))
    shared = base[0]
    out = {}
    for i, f in enumerate(P.FEATURES):
        centre = shared if f in P.SHARED else base[i]
        out[f] = (centre + 0.15 * rng.normal(size=(n, d))).astype(np.float32)
    return out


def fake_predictions(label, pred, alpha=None) -> Predictions:
    n = len(label)
    return Predictions(ids=[f"s{i}" for i in range(n)], texts=[f"text {i}" for i in range(n)],
                       label=np.asarray(label, np.float32), pred=np.asarray(pred, np.float32), alpha=alpha,
                       gates=None, features={}, present=np.ones((n, 3), bool))


# ------------------------------------------------------------------------------------------------ cosines


def test_feature_cosines_known_geometry():
    e = np.eye(4, dtype=np.float32)
    one = {"Ts": e[0], "Vs": e[0] * 2, "As": e[0], "Td": e[1], "Vd": e[2], "Ad": e[3]}
    c = feature_cosines(one)
    assert c["n"] == 1
    assert c["shared_shared"] == pytest.approx(1.0)
    assert c["shared_private"] == pytest.approx(0.0)
    assert c["shared_private_same"] == pytest.approx(0.0)
    assert c["private_private"] == pytest.approx(0.0)
    assert c["pairs"]["Ts·Vs"] == pytest.approx(1.0) and len(c["pairs"]) == 15


def test_feature_cosines_skips_missing_and_absent_sets():
    feats = clustered(10)
    feats["Vs"][:5] = 0  # visual missing for half the samples
    del feats["Ad"], feats["As"]  # a t+v model
    c = feature_cosines(feats)
    assert c["shared_shared"] > 0.9 and c["shared_private"] < 0.5
    assert set(c["pairs"]) == {"Ts·Vs", "Ts·Td", "Ts·Vd", "Vs·Td", "Vs·Vd", "Td·Vd"}
    assert feature_cosines({"Ts": np.ones((3, 4))})["shared_shared"] is None


# ----------------------------------------------------------------------------------------------- UMAP


def test_stack_features_drops_zero_rows():
    feats = {"Ts": np.ones((3, 4), np.float32), "Vs": np.ones((3, 4), np.float32)}
    feats["Vs"][1] = 0
    X, kinds, rows = P.stack_features(feats)
    assert X.shape == (5, 4) and kinds.tolist() == ["Ts"] * 3 + ["Vs"] * 2 and rows.tolist() == [0, 1, 2, 0, 2]
    with pytest.raises(ValueError, match="no decoupled features"):
        P.stack_features({"G": np.ones((2, 2))})


@pytest.fixture(scope="module")
def small_map():
    feats = clustered(40)
    return feats, P.fit_projection(feats, n_neighbors=10, n_epochs=60, seed=1)


def test_fit_projection_separates_shared_from_private(small_map):
    feats, proj = small_map
    assert proj.embedding.shape == (240, 2) and np.isfinite(proj.embedding).all()
    assert proj.names == list(P.FEATURES) and proj.n_samples == 40
    centre = {f: proj.embedding[proj.kinds == f].mean(0) for f in P.FEATURES}
    spread = np.linalg.norm(proj.embedding.max(0) - proj.embedding.min(0))
    # the three shared sets sit together, each private set elsewhere
    assert np.linalg.norm(centre["Ts"] - centre["Vs"]) < 0.25 * spread
    assert np.linalg.norm(centre["Ts"] - centre["Td"]) > 0.25 * spread
    assert set(proj.points_of(3)) == set(P.FEATURES)


def test_transform_places_new_points_near_their_kind(small_map):
    feats, proj = small_map
    rng = np.random.default_rng(5)
    new = {f: v[0] + 0.05 * rng.normal(size=v.shape[1]).astype(np.float32) for f, v in feats.items()}
    new["Vd"] = np.zeros_like(new["Vd"])  # a missing modality pools to zero: left off the map
    xy = proj.transform(new)
    assert set(xy) == set(P.FEATURES) - {"Vd"}
    for f, point in xy.items():
        dist = {g: np.linalg.norm(point - proj.embedding[proj.kinds == g].mean(0)) for g in P.FEATURES}
        group = P.SHARED if f in P.SHARED else (f,)
        assert min(dist, key=dist.get) in group, (f, dist)
    assert proj.transform({"Ts": np.zeros(16)}) == {}


@pytest.mark.parametrize("method", ["umap", "pca", "tsne"])
def test_a_stored_map_places_new_points_as_the_fitted_one(method, small_map, tmp_path):
    """A map read back from the result cache (arrays and JSON, no pickle) is the fitted one: same points, and a new
    input lands where the fitted model's own transform puts it."""
    from fdcmdie.cache import Identity, ResultCache

    feats, proj = small_map
    if method != "umap":
        proj = P.fit_projection(feats, method=method, seed=1)
    ident = Identity("projection", {"method": method})
    ResultCache(tmp_path).save(ident, proj)
    back = ResultCache(tmp_path).load(ident)
    assert back.method == method and np.array_equal(back.embedding, proj.embedding)
    assert back.kinds.tolist() == proj.kinds.tolist() and np.array_equal(back.rows, proj.rows)
    rng = np.random.default_rng(8)
    new = {f: v[3] + 0.05 * rng.normal(size=v.shape[1]).astype(np.float32) for f, v in feats.items()}
    want, got = proj.transform(new), back.transform(new)
    assert set(got) == set(want) == set(P.FEATURES)
    for f in want:
        np.testing.assert_allclose(got[f], want[f], rtol=1e-5, atol=1e-5)


def test_type_colouring_names_only_the_feature_sets_of_the_map():
    """A text + voice checkpoint has four feature sets: the legend says so (no V_s, V_d)."""
    feats = {f: v for f, v in clustered(30).items() if f[0] in "TA"}
    proj = P.fit_projection(feats, method="pca")
    fig = PF.projection_figure(proj, color_by="type", ids=[f"s{i}" for i in range(30)], texts=["a fine film"] * 30,
                              labels=np.zeros(30), preds=np.zeros(30))
    assert [t.name for t in fig.data] == ["shared (T_s, A_s)", "private (T_d, A_d)"]


def test_projection_figure_colourings_and_highlights(small_map):
    feats, proj = small_map
    n = 40
    meta = dict(ids=[f"s{i}" for i in range(n)], texts=["a fine film"] * n, labels=np.linspace(-3, 3, n),
                preds=np.zeros(n))
    names = lambda fig: [t.name for t in fig.data]
    fig = PF.projection_figure(proj, color_by="feature", **meta)
    assert len(fig.data) == 6 and "s0" in fig.data[0].text[0] and "label" in fig.data[0].text[0]
    assert names(PF.projection_figure(proj, color_by="type", **meta)) == ["shared (T_s, V_s, A_s)",
                                                                          "private (T_d, V_d, A_d)"]
    assert len(PF.projection_figure(proj, color_by="modality", **meta).data) == 6
    lab = PF.projection_figure(proj, color_by="label", **meta)
    assert len(lab.data) == 2 and lab.data[0].marker.colorscale is not None
    up = proj.transform({f: v[1] for f, v in feats.items()})
    fig = PF.projection_figure(proj, selected=proj.points_of(0), selected_name="sample s0", upload=up, **meta)
    assert names(fig)[-2:] == ["sample s0", "your upload"] and len(fig.data[-1].x) == 6
    with pytest.raises(ValueError, match="color_by"):
        PF.projection_figure(proj, color_by="mood")


# ------------------------------------------------------------------------------------------ contributions


def test_average_contributions_and_rows():
    alpha = np.array([[[0.6, 0.2, 0.2]], [[0.8, 0.2, 0.0]], [[0.4, 0.4, 0.2]]])  # (N=3, k=1, M=3)
    present = np.array([[1, 1, 1], [1, 1, 0], [1, 1, 1]], bool)
    np.testing.assert_allclose(G.average_contributions(alpha, present), [[0.5, 0.3, 0.2]])
    np.testing.assert_allclose(G.average_contributions(alpha, present, complete_only=False), [[0.6, 0.8 / 3, 0.4 / 3]])
    assert G.average_contributions(None) is None
    with pytest.raises(ValueError, match=r"\(N, k, M\)"):
        G.average_contributions(alpha[0])



def test_weighing_says_a_tie_is_a_tie_and_never_that_alpha_decided():
    """The one sentence on α: 0.51 / 0.49 is "about equally" (the issue's example), a clear lead is named with both
    numbers, a switched-off modality (α = 0) is said to be off, and no sentence claims influence."""
    say = lambda a, mods=("t", "a"): G.weighing(np.array([a]), list(mods))
    assert say([0.51, 0.49]) == "GAP weighed text and acoustic about equally (α within 0.05 of each other)."
    assert say([0.50, 0.50]).startswith("GAP weighed text and acoustic about equally")
    assert say([0.30, 0.70]) == "GAP weighed acoustic most (α 0.70 vs next 0.30)."
    assert say([0.40, 0.42, 0.18], "tva") == "GAP weighed text and visual about equally and more than acoustic."
    assert say([1.0, 0.0]) == "GAP mixed in text alone (acoustic switched off: α = 0)."
    assert G.weighing(None, ["t"]) is None
    for a in ([0.51, 0.49], [0.3, 0.7], [1.0, 0.0]):
        assert not any(w in say(a) for w in ("decided", "leaned", "influence", "counted"))
    assert G.alpha_text([0.514, 0.486], ["t", "a"]) == "text 0.51, acoustic 0.49"
    # a switched-off modality's gate is not drawn as if it let anything through (issue 32: 0.75 beside α = 0)
    fig = GF.gap_figure([G.GapEntry("x", np.array([[1.0, 0.0]]), np.array([[0.7, 0.63]]))], ["t", "a"])
    gate_a = [t for t in fig.data if t.xaxis == "x2" and t.name == "acoustic"][0]
    assert list(gate_a.y) == [0.0] and list(gate_a.text) == ["off"]
    gate_t = [t for t in fig.data if t.xaxis == "x2" and t.name == "text"][0]
    assert list(gate_t.y) == [0.7] and list(gate_t.text) == ["0.70"]


def test_gap_figure_bars():
    a = np.array([[0.5, 0.3, 0.2], [0.7, 0.2, 0.1], [0.9, 0.05, 0.05]])  # k = 3
    g = np.full((3, 3), 0.5)
    fig = GF.gap_figure([G.GapEntry("original", a, g), G.GapEntry("modified", a[:, ::-1], g)], ["t", "v", "a"])
    assert len(fig.data) == 2 * 3 * 2  # entries × modalities × (α, g)
    assert list(fig.data[0].x) == ["layer 1", "layer 2", "layer 3"]
    assert fig.data[0].name == "text · original" and fig.data[6].marker.pattern.shape == "/"
    assert len(GF.gap_figure([G.GapEntry("x", a)], ["t", "v", "a"]).data) == 3  # no gates: α only
    empty = GF.gap_figure([G.GapEntry("w/o GAP", None)], ["t"])
    assert not empty.data and "no GAP weights" in empty.layout.annotations[0].text
    assert len(GF.average_figure({"A": a, "B": a}, ["t", "v", "a"]).data) == 6


# ----------------------------------------------------------------------------------------------- cases


def test_select_cases_categories_are_distinct_and_deterministic():
    label = [2.8, 2.2, -2.6, -2.0, 0.0, 0.2, 1.0, -1.0, 0.4, 3.0]
    pred = [2.5, 1.0, -2.5, 0.5, 0.1, -0.1, -2.0, 1.5, 0.3, 2.9]
    text_only = np.array([1.0, 1.0, -1.0, -1.0, 0.0, 0.0, 1.0, -1.0, 0.9, 1.0])
    nonverbal = np.array([1.0, 1.0, -1.0, 1.0, 0.0, 0.0, -1.0, 1.0, -0.8, 1.0])
    preds = fake_predictions(label, pred, alpha=np.full((10, 2, 3), 1 / 3))
    abl = {"t": text_only, "v": nonverbal, "a": nonverbal, "va": nonverbal}
    cases = C.select_cases(preds, abl, per_category=2)
    by = {}
    for c in cases:
        by.setdefault(c.category, []).append(c.id)
    assert by["strong positive"] == ["s9", "s0"]          # highest labels first
    assert by["strong negative"] == ["s2", "s3"]
    assert by["flat delivery"] == ["s4", "s5"]            # smallest |label|
    assert by["text vs voice/face"] == ["s6", "s7"]       # opposite signs, biggest gap (s3 is taken already)
    assert len({c.id for c in cases}) == len(cases)
    assert by["largest error"][0] == "s1"                 # |1.0 − 2.2| is the largest error left
    assert C.select_cases(preds, abl, per_category=2) == cases
    rows = C.case_rows(cases, preds, abl, ["t", "v", "a"])
    assert {"case", "id", "transcript", "label", "prediction", "text only", "visual + acoustic", "α text",
            "why chosen"} <= set(rows[0])
    # without ablations the disagreement category is simply absent
    assert "text vs voice/face" not in {c.category for c in C.select_cases(preds, None)}


def test_disagreement_and_variants():
    preds = fake_predictions([1.0, 1.0, -1.0], [0.5, -0.5, -0.5])
    abl = {"t": np.array([0.4, 0.4, 0.4]), "va": np.array([0.4, -0.4, 0.1])}
    assert C.disagreement(preds, abl, kind="text vs full").tolist() == [False, True, True]
    assert C.disagreement(preds, abl, kind="text vs nonverbal").tolist() == [False, True, False]
    assert C.disagreement(preds, abl, kind="text vs nonverbal", margin=0.2).tolist() == [False, True, False]
    assert not C.disagreement(preds, {}).any()
    assert C.ablation_variants(["t", "v", "a"]) == ["t", "v", "a", "va"]
    assert C.ablation_variants(["t", "a"]) == ["t", "a"]
    assert C.ablation_variants(["t"]) == []
    assert C.explain_variants(["t", "v", "a"]) == ["t", "va"] and C.explain_variants(["t", "a"]) == ["t", "a"]
    assert C.explain_variants(["v", "a"]) == [] and C.explain_variants(["t"]) == []
    assert C.keep_label("t") == "text only" and C.keep_label("va") == "visual + acoustic"


def test_one_wrong_sign_rule_reads_zero_as_the_caller_says():
    """explain.cases.opposite_sign, the rule of the explorer's "sign predicted wrong" filter, the case studies and the
    lessons: opposite sides of 0, 0 on neither side unless Acc-2's negative / non-negative split is asked for."""
    x = np.array([1.0, -1.0, 0.0, 0.0, 0.2, -2.0])
    y = np.array([-0.5, -0.5, -1.0, 1.0, -0.1, 1.0])
    assert C.opposite_sign(x, y).tolist() == [True, False, False, False, True, True]
    assert C.opposite_sign(x, y, zero_positive=True).tolist() == [True, False, True, False, True, True]
    assert C.opposite_sign(x, y, margin=0.15).tolist() == [True, False, False, False, False, True]
    # the explorer's filter before the fold: (label >= 0) != (pred >= 0), on a real-looking spread with exact zeros
    rng = np.random.default_rng(0)
    label, pred = np.round(rng.uniform(-3, 3, 500), 1), rng.normal(0, 1.5, 500)
    label[:40] = 0.0
    assert (C.opposite_sign(label, pred, zero_positive=True) == ((label >= 0) != (pred >= 0))).all()


@pytest.mark.slow   # over 10 s of a quiet 2-core machine (the quick set: README)
def test_split_ablations_match_the_predictor(app_checkpoints, data_root):
    """Masking a modality for the whole split gives what Predictor gives for that input with the modality dropped."""
    from fdcmdie.inference import Predictor

    p = Predictor.load(app_checkpoints[0])
    preds = p.predict_split("test", data_root=data_root)
    abl = C.split_ablations(p, "test", data_root=data_root)
    assert set(abl) == {"t", "v", "a", "va"} and all(len(v) == len(preds.ids) for v in abl.values())
    part = p.dataset(data_root).test
    rows = [0, 7, len(part) - 1]
    for keep, drop in (("t", {"v", "a"}), ("va", {"t"}), ("a", {"t", "v"})):
        got = p.predict([part.texts[r] for r in rows], audio=[part.audio[r] for r in rows],
                        vision=[part.vision[r] for r in rows], drop=drop)
        np.testing.assert_allclose([e.pred for e in got], abl[keep][rows], atol=1e-4)
    full = p.predict([part.texts[0]], audio=[part.audio[0]], vision=[part.vision[0]])[0]
    assert full.pred == pytest.approx(float(preds.pred[0]), abs=1e-4)


# ------------------------------------------------------------------------------------------- interpreters only


def _imports(path) -> set[str]:
    """Every module a source file imports, at the top or inside a function (``import a.b`` and ``from a.b import c``
    give "a.b"; relative imports are resolved against the package)."""
    import ast

    pkg = path.parent.relative_to(path.parents[2]).as_posix().replace("/", ".")   # fdcmdie.explain
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = pkg.split(".")[:len(pkg.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            out.add(module)
            out |= {f"{module}.{a.name}" for a in node.names}
    return out


def test_interpreters_neither_draw_nor_write_markup():
    """No module of fdcmdie/explain imports gradio, plotly or matplotlib (the app's and the report's renderers do),
    nor the app or the renderers, and none writes HTML tags or Markdown emphasis in its strings (docstrings aside)."""
    import ast
    import importlib
    from pathlib import Path

    import fdcmdie.explain as pkg

    folder = Path(pkg.__file__).parent
    modules = sorted(folder.glob("*.py"))
    assert len(modules) >= 11
    banned = ("gradio", "plotly", "matplotlib", "fdcmdie.app", "fdcmdie.render", "fdcmdie.report")
    for path in modules:
        importlib.import_module(f"fdcmdie.explain.{path.stem}" if path.stem != "__init__" else "fdcmdie.explain")
        bad = sorted(m for m in _imports(path) if any(m == b or m.startswith(b + ".") for b in banned))
        assert not bad, f"{path.name} imports {bad}"
        tree = ast.parse(path.read_text())
        docs = {id(n.body[0].value) for n in ast.walk(tree)
                if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body
                and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        strings = [n.value for n in ast.walk(tree)
                   if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs]
        marks = ("<div", "<br", "<b>", "<i>", "<span", "<svg", "**", "|---")   # HTML tags, Markdown bold, tables
        markup = [s for s in strings if any(t in s for t in marks)]
        assert not markup, f"{path.name} writes markup: {markup[:2]}"


def test_the_import_check_sees_function_level_and_relative_imports(tmp_path):
    """The check above on a module that imports plotly inside a function and the app relatively: both are found."""
    folder = tmp_path / "fdcmdie" / "explain"
    folder.mkdir(parents=True)
    (folder / "x.py").write_text("from ..app.common import signed\n\ndef f():\n    import plotly.graph_objects as go\n")
    found = _imports(folder / "x.py")
    assert "plotly.graph_objects" in found and "fdcmdie.app.common" in found
