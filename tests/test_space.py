"""The Representation-space tab (fdcmdie/app/space.py) on the app tests' MOSI pair (conftest.py): UMAP / PCA / t-SNE
maps and how new points are placed on each, the CL-effect numbers, one sample's constellation and neighbours, colour by
error and video, word search, map clicks, export (PNG, SVG, CSV)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fdcmdie.app import space
from fdcmdie.explain import projections as P
from fdcmdie.render.maps import CONSTELLATION
from test_app_support import UMAP_SMALL


@pytest.fixture(scope="module", autouse=True)
def maps(ctx):
    """Every map, the numbers and the neighbour index: what the background does, here in this thread."""
    for key in ("main", "compare"):
        for method in ("umap", "pca", "tsne"):
            ctx.projection(key, "test", method)
        ctx.geometry(key, "test")
        ctx.sample_space(key, "test")


def selection(view, row=2):
    return {"model": "main", "split": "test", "id": view.preds.ids[row], "row": row}


@pytest.mark.parametrize("method", ["umap", "pca", "tsne"])
def test_each_projection_draws_both_maps_and_places_an_upload(ctx, view, method):
    from fdcmdie.app import upload

    up = upload.analyse(ctx, None, None, "i loved every minute of it", False).state
    fig_cl, fig_nocl, status, numbers, token = space.projection_view(ctx, "test", "feature", selection(view), up,
                                                                     method)
    name = P.METHODS[method]
    assert token[:2] == ("ready", "ready") and token[-1] == method
    assert f"({name}, {UMAP_SMALL['umap_max_samples']} test samples)" in fig_cl.layout.title.text
    assert "with contrastive" in fig_cl.layout.title.text and "without contrastive" in fig_nocl.layout.title.text
    assert ("nearest map points" in status) == (method == "tsne")
    assert (f"fitted {name} model's transform" in status) == (method != "tsne")
    proj = ctx.projection("main", "test", method)
    assert proj.method == method and proj.embedding.shape == (len(proj.kinds), 2)
    star = next(t for t in fig_cl.data if t.name == "your upload")
    assert len(star.x) == 2  # typed text: T_s and T_d
    # the upload lands where the method puts it
    xy = proj.transform(up["main"]["decoupled"])
    assert np.allclose(np.c_[star.x, star.y], np.stack([xy[f] for f in P.FEATURES if f in xy]))
    if method == "pca":  # PCA's transform is the fitted linear map of the unit vector
        v = np.asarray(up["main"]["decoupled"]["Ts"], np.float64)
        assert np.allclose(xy["Ts"], proj.reducer.transform((v / np.linalg.norm(v))[None])[0], atol=1e-5)
    if method == "tsne":  # t-SNE: mean of the 5 nearest map points in the original space
        v = np.asarray(up["main"]["decoupled"]["Ts"], np.float32)
        d = 1 - proj.train_x @ (v / np.linalg.norm(v))
        assert np.allclose(xy["Ts"], proj.embedding[np.argsort(d)[:P.NN_PLACE]].mean(0), atol=1e-4)
    # every dataset point carries its sample id for the click bridge
    first = fig_cl.data[0]
    rows = proj.rows[proj.kinds == proj.names[0]]
    assert list(first.customdata) == [view.preds.ids[r] for r in rows]


def test_pca_fit_is_deterministic_and_matches_sklearn(ctx, view):
    from sklearn.decomposition import PCA

    proj = ctx.projection("main", "test", "pca")
    ref = PCA(n_components=2).fit(proj.train_x.astype(np.float64))
    # same subspace (signs of components may differ)
    assert np.allclose(np.abs(proj.reducer.components_ @ ref.components_.T), np.eye(2), atol=1e-4)
    again = P.fit_projection(view.preds.features["decoupled"], method="pca",
                             max_samples=UMAP_SMALL["umap_max_samples"], seed=42)
    assert np.allclose(again.embedding, proj.embedding, atol=1e-5)
    with pytest.raises(ValueError, match="method must be one of"):
        P.fit_projection(view.preds.features["decoupled"], method="mds")


def test_constellation_joins_the_six_points_on_both_maps(ctx, view):
    sel = selection(view, 5)
    figs = space.projection_view(ctx, "test", "type", sel, None, "pca")[:2]
    for fig, key in zip(figs, ("main", "compare")):
        proj = ctx.projection(key, "test", "pca")
        pts = proj.points_of(5) or proj.transform({f: v[5] for f, v in
                                                   ctx.split_view(key, "test").preds.features["decoupled"].items()})
        marker = next(t for t in fig.data if t.name == f"sample {sel['id']}")
        assert len(marker.x) == len(pts)
        lines = [t for t in fig.data if t.mode == "lines"]
        assert len(lines) == 2  # solid (shared and private triangles), dotted (X_s – X_d)
        solid = [v for v in lines[0].x if v is not None]
        # every solid line joins two of the sample's points of different modalities (T_s–A_s, T_d–A_d, …)
        xs = np.asarray([p[0] for p in pts.values()], float)
        segments = [(a, b) for a, b in CONSTELLATION if a in pts and b in pts and a[0] != b[0]]
        assert segments and len(solid) == 2 * len(segments)
        assert all(np.min(np.abs(xs - v)) < 1e-5 for v in solid)
        assert lines[1].line.dash == "dot"


def test_colour_by_error_and_video(ctx, view):
    fig = space.projection_view(ctx, "test", "error", None, None, "umap")[0]
    proj = ctx.projection("main", "test")
    err = np.abs(view.preds.pred - view.preds.label)
    shared = fig.data[0]
    assert "error" in shared.name and np.allclose(shared.marker.color, err[proj.rows[np.isin(proj.kinds, P.SHARED)]])
    fig = space.projection_view(ctx, "test", "video", None, None, "umap")[0]
    videos = {P.video_of(view.preds.ids[r]) for r in proj.rows}
    assert f"{len(videos)} videos" in fig.data[0].name
    colors = np.asarray(fig.data[0].marker.color)
    vids = np.asarray([P.video_of(view.preds.ids[r]) for r in proj.rows[np.isin(proj.kinds, P.SHARED)]])
    for v in list(videos)[:5]:  # one colour per video
        assert len(set(colors[vids == v])) == 1


def test_word_search_highlights_matching_samples(ctx, view):
    texts = view.preds.texts
    word = "movie"
    want = {i for i, t in enumerate(texts) if word in t.lower().split()}
    assert want, "the test split has reviews that say 'movie'"
    fig_cl, _, status, _, _ = space.projection_view(ctx, "test", "feature", None, None, "umap", word)
    ring = next(t for t in fig_cl.data if t.name.startswith("contains “movie”"))
    proj = ctx.projection("main", "test")
    on_map = [r for r in proj.rows if r in want]
    assert len(ring.x) == len(on_map) and set(ring.customdata) == {view.preds.ids[r] for r in on_map}
    assert f"**{len(want)}** samples contain “movie”" in status
    assert set(P.matching_rows(["a Movie!", "movies", "the movie was"], "movie").tolist()) == {0, 2}  # whole words


def test_effect_numbers_with_and_without_cl(ctx):
    md = space.effect_markdown(ctx, "test")
    assert md.count("How to read this") == 3
    assert "with CL" in md and "without CL" in md and "shared · shared, same sample" in md
    assert "uniformity of T_s" in md and "5-fold CV" in md
    fig = space.cosine_histograms(ctx, "test")
    assert len(fig.data) == 6  # two checkpoints × (same sample, random pairs, shared·private)
    rep = ctx.geometry("main", "test")
    assert len(fig.data[0].x) == len(rep.cos_same) and len(fig.data[2].x) == len(rep.cos_random)
    assert len(fig.data[1].x) == len(rep.cos_shared_private) and "random pairs" in fig.data[2].name
    token = space.effect_view(ctx, "test")[1]
    skipped = space.refresh_effect(ctx, "test", token)
    import gradio as gr
    assert all(x == gr.skip() for x in skipped)


def test_neighbours_of_one_sample(ctx, view):
    sel = selection(view, 7)
    md, shared, private = space.neighbour_view(ctx, sel)
    assert sel["id"] in md and "Sample explorer" in md and "prediction" in md
    for df in (shared, private):
        assert list(df.columns) == space.NEIGHBOUR_COLUMNS and len(df) == space.K_NEIGHBOURS
        assert sel["id"] not in set(df["id"]) and set(df["id"]) <= set(view.row_of)
        assert np.all(np.diff(df["similarity"].to_numpy()) <= 1e-9)
    # the first shared neighbour is the most similar sample by brute force
    dec = view.preds.features["decoupled"]
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)
    sims = np.mean([unit(dec[f]) @ unit(dec[f][7]) for f in ("Ts", "Vs", "As") if f in dec], axis=0)
    sims[7] = -np.inf
    assert shared.iloc[0]["id"] == view.preds.ids[int(np.argmax(sims))]
    assert space.neighbour_id(shared, [3, 1]) == shared.iloc[3]["id"]
    with pytest.raises(ValueError, match="click a row"):
        space.neighbour_id(shared, [99, 0])
    empty = space.neighbour_view(ctx, None)
    assert "Click a point" in empty[0] and empty[1].empty


def test_parse_click():
    assert space.parse_click("abc_12|map-compare|1700000000") == ("compare", "abc_12")
    assert space.parse_click("abc_12|map-main|1") == ("main", "abc_12")
    assert space.parse_click("") is None and space.parse_click(None) is None
    with pytest.raises(ValueError, match="unexpected map click"):
        space.parse_click("|map-main|1")


def test_export_png_svg_csv(ctx, view, tmp_path):
    files = space.export_maps(ctx, "test", "pca", "label", selection(view), tmp_path)
    assert sorted(p.rsplit(".", 1)[1] for p in files) == ["csv", "csv", "png", "png", "svg", "svg"]
    png = next(p for p in files if p.endswith(".png"))
    svg = next(p for p in files if p.endswith(".svg"))
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in open(svg).read(2000)
    df = pd.read_csv(next(p for p in files if p.endswith(".csv")))
    proj = ctx.projection("main", "test", "pca")
    assert len(df) == len(proj.embedding) and {"id", "feature_set", "type", "modality", "x", "y", "label",
                                               "prediction", "abs_error", "video", "transcript"} <= set(df.columns)
    assert np.allclose(df[["x", "y"]].to_numpy(), proj.embedding, atol=1e-5)
    assert (df["method"] == "pca").all() and set(df["id"]) <= set(view.row_of)
    row = df.iloc[0]
    assert row["label"] == pytest.approx(view.preds.label[view.row_of[row["id"]]], abs=1e-5)


def test_bad_input_and_pending_maps(ctx, tmp_path):
    from fdcmdie.app import AppContext

    with pytest.raises(ValueError, match="projection must be one of"):
        space.projection_view(ctx, "test", "feature", None, None, "mds")
    fresh = AppContext(ctx.options, predictors={k: ctx.predictor(k) for k in ("main", "compare")})
    with pytest.raises(ValueError, match="no map is ready"):
        space.export_maps(fresh, "valid", "tsne", "feature", None, tmp_path)
    assert "computed in the background" in space.effect_markdown(fresh, "valid")


def test_a_sample_of_an_unmapped_checkpoint_is_explained(ctx, view):
    md, shared, private = space.neighbour_view(ctx, {"model": "mosei-t-e5", "split": "test", "id": "abc_1", "row": 0})
    assert "do not show" in md and shared.empty and private.empty
    figs = space.projection_view(ctx, "test", "feature", {"model": "mosei-t-e5", "split": "test", "id": "abc_1"}, None)
    assert not any(str(t.name).startswith("sample ") for t in figs[0].data)  # nothing drawn for a foreign id


def test_an_empty_search_box_and_the_status_sentence(ctx, view):
    """The search box is None until the tab is opened: the maps draw (no error); the status says how new inputs are
    placed in a sentence of its own (t-SNE: "t-SNE has no transform", never "new inputs are t-SNE …")."""
    for method in ("umap", "tsne"):
        _, _, status, _, _ = space.projection_view(ctx, "test", "feature", selection(view), None, method, None)
        assert "None" not in status
        if method == "tsne":
            assert "t-SNE has no transform: a new point goes to" in status and "are t-SNE" not in status
        else:
            assert "New inputs are placed with the fitted UMAP model's transform." in status


def test_map_titles_fit_half_the_page(ctx, view):
    import re

    fig_cl, fig_nocl, *_ = space.projection_view(ctx, "test", "feature", None, None, "umap")
    for fig in (fig_cl, fig_nocl):
        lines = re.sub(r"</?sup>", "", fig.layout.title.text).split("<br>")
        assert len(lines) == 2 and max(map(len, lines)) <= 60, lines   # ~60 characters fit a 680-px-wide map
        assert fig.layout.margin.t >= 60


def test_tsne_feature_sets_are_spread_out(ctx):
    """Each feature set of a t-SNE map covers a real area (the maps once stopped in t-SNE's exaggeration phase: a set
    was a line or a dot, std 0.00); compared with the spread of the whole map, not a typed-in number."""
    for key in ("main", "compare"):
        proj = ctx.projection(key, "test", "tsne")
        whole = proj.embedding.std(axis=0)
        for f in proj.names:
            xy = proj.embedding[proj.kinds == f]
            assert (xy.std(axis=0) > 0.05 * whole).all(), (key, f, xy.std(axis=0), whole)
            assert len(np.unique(np.round(xy, 3), axis=0)) > 0.9 * len(xy)   # points, not a pile of duplicates


def test_space_note_follows_the_mapped_pair(ctx):
    """The cross-modal note (shared text and voice sit together) only for a pair that reads more than one modality."""
    from fdcmdie.app import AppContext, AppOptions
    from fdcmdie.app.common import NOTES
    from fdcmdie.checkpoint import DEFAULT_PAIR, MOSEI_CHECKPOINT

    assert space.mapped_modalities(ctx) == {"t", "v", "a"} and NOTES["space"] in space.space_note(ctx)
    default = AppContext(AppOptions(checkpoint=DEFAULT_PAIR[0], compare_checkpoint=DEFAULT_PAIR[1],
                                    browse_checkpoints=(), warm_up=False))
    assert space.mapped_modalities(default) == {"t", "a"} and NOTES["space"] in space.space_note(default)
    text_only = AppContext(AppOptions(checkpoint=MOSEI_CHECKPOINT, compare_checkpoint=None,
                                      browse_checkpoints=(), warm_up=False))
    assert space.mapped_modalities(text_only) == {"t"}
    note = space.space_note(text_only)
    assert NOTES["space_one_modality"] in note and "voice features sit together" not in note
