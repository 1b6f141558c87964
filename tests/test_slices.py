"""Slices and A vs B (fdcmdie/explain/slices.py, fdcmdie/app/compare.py) on the real MOSI test split, predicted by
the app's checkpoint pair (the shipped Poria T+V+A pair, or the tiny pair trained on the real data)."""
from __future__ import annotations

import numpy as np
import pytest

from fdcmdie.app import compare
from fdcmdie.app.plots.slices import slice_figure
from fdcmdie.explain.slices import KINDS, align, disagreements, slice_table, slices, video_of
from fdcmdie.metrics import compute_metrics


@pytest.fixture(scope="module")
def split(ctx):
    p = ctx.predictor("main")
    part = p.dataset(ctx.data_root()).split("test")
    preds = {k: ctx.split_view(k, "test").preds for k in ("main", "compare")}
    return part, preds


def test_each_kind_partitions_the_split(split):
    part, preds = split
    a = preds["main"]
    assert a.ids == part.ids  # Predictions rows follow the split's rows
    sl = slices(a.ids, a.texts, a.label, part.video_ids)
    for kind in KINDS:
        rows = np.concatenate([s.rows for s in sl if s.kind == kind])
        assert len(rows) == len(part) and len(set(rows.tolist())) == len(part), kind  # sum = split size, disjoint
    by_name = {(s.kind, s.name): s for s in sl}
    label = np.asarray(a.label)
    assert (label[by_name["polarity", "positive"].rows] > 0).all()
    assert (label[by_name["polarity", "negative"].rows] < 0).all()
    assert len(by_name["polarity", "neutral"].rows) == int((label == 0).sum())
    strong = by_name["|label|", "[2, 3]"].rows
    assert (np.abs(label[strong]) >= 2).all() and len(strong) == int((np.abs(label) >= 2).sum())
    short = by_name["transcript length", "1–5 words"].rows
    assert all(len(a.texts[r].split()) <= 5 for r in short)
    videos = [s for s in sl if s.kind == "video"]
    assert len(videos) == len(set(part.video_ids))  # MOSI: one slice per review
    assert all(video_of(a.ids[r]) == s.name for s in videos for r in s.rows)


def test_slice_metrics_are_the_metrics_of_the_slice_for_both_models(split):
    part, preds = split
    a, b = preds["main"], preds["compare"]
    sl = slices(a.ids, a.texts, a.label, part.video_ids, kinds=["polarity", "video"])
    table = slice_table(sl, a.label, {"A": a.pred, "B": b.pred})
    assert len(table) == len(sl)
    pos = next(r for r in table if r["slice"] == "positive")
    rows = next(s for s in sl if s.name == "positive").rows
    want = compute_metrics(a.pred[rows], a.label[rows])
    assert pos["n"] == len(rows)
    assert pos["Acc-2 (non-0) · A"] == pytest.approx(want["acc2_non0"])
    assert pos["MAE · B"] == pytest.approx(compute_metrics(b.pred[rows], a.label[rows])["mae"])
    # on the positive slice Acc-2 (non-0) is the share of positive predictions
    assert pos["Acc-2 (non-0) · A"] == pytest.approx(100 * float(np.mean(a.pred[rows] > 0)))
    neutral = [r for r in table if r["slice"] == "neutral"]
    assert all(np.isnan(r["Acc-2 (non-0) · A"]) for r in neutral)  # undefined there, not 0
    fig = slice_figure(table, ["A", "B"], kind="polarity", metric="mae")
    assert [t.name for t in fig.data] == ["A", "B"] and len(fig.data[0].x) == 3


def test_disagreements_are_the_largest_gaps(split):
    _, preds = split
    a, b = preds["main"], preds["compare"]
    rows = disagreements(a.ids, a.texts, a.label, {"A": a.pred, "B": b.pred}, top=10)
    gaps = np.abs(a.pred - b.pred)
    assert [r["|A − B|"] for r in rows] == sorted((r["|A − B|"] for r in rows), reverse=True)
    assert rows[0]["|A − B|"] == pytest.approx(gaps.max(), abs=0.006)
    assert rows[-1]["|A − B|"] >= np.sort(gaps)[-10] - 0.006
    r0 = a.ids.index(rows[0]["id"])
    assert rows[0]["sign differs"] == bool((a.pred[r0] >= 0) != (b.pred[r0] >= 0))
    with pytest.raises(ValueError, match="exactly two"):
        disagreements(a.ids, a.texts, a.label, {"A": a.pred})


def test_align_matches_samples_by_id():
    ra, rb = align(["x_1", "x_2", "y_1"], ["y_1", "z_9", "x_1"])
    assert ra.tolist() == [0, 2] and rb.tolist() == [2, 0]


def test_compare_tab_view_and_opening_a_disagreement(ctx):
    md, table, fig, dis = compare.compare_view(ctx, "test", "|label|", "acc2_non0")
    n = len(ctx.split_view("main", "test").preds.ids)
    assert f"{n} test samples" in md
    assert table["n"].sum() == n and list(table["slice"]) == ["[0, 1)", "[1, 2)", "[2, 3]"]
    a_name, b_name = "A", "B"   # short headers (issue 32: full names wrapped them to 4–5 lines); the text names them
    assert f"**A** = `{ctx.slots['main'].short_label}`" in md and f"**B** = `{ctx.slots['compare'].short_label}`" in md
    assert {f"Acc-2 (non-0) · {a_name}", f"MAE · {b_name}"} <= set(table.columns)
    assert {"id", "label", a_name, b_name, "|A − B|", "transcript"} <= set(dis.columns)
    assert len(dis) == compare.TOP and len(fig.data) == 2
    assert compare.disagreement_id(dis, [0, 3]) == dis.iloc[0]["id"]
    with pytest.raises(ValueError, match="click a row"):
        compare.disagreement_id(dis, 999)
    with pytest.raises(ValueError, match="unknown slice kind"):
        compare.compare_view(ctx, "test", "speaker age")


def test_compare_tab_with_one_checkpoint_says_why(ctx):
    from fdcmdie.app import AppContext, AppOptions

    alone = AppContext(AppOptions(compare_checkpoint=None, data=ctx.options.data),
                       predictors={"main": ctx.predictor("main")})
    md, table, _, dis = compare.compare_view(alone, "test")
    assert "--compare-checkpoint" in md and len(table) == 0 and len(dis) == 0


def test_page_has_the_compare_tab(ctx):
    import app

    demo = app.build_demo(ctx)
    ids = {getattr(b, "elem_id", None) for b in demo.blocks.values()}
    assert {"compare-table", "compare-plot", "compare-disagree", "card-robustness", "card-robustness-plot"} <= ids


def test_compare_polarity_neutral_slice_says_what_is_undefined(ctx):
    """On the neutral slice (every label 0) the non-0 metrics and Corr are undefined: the table says n/a (not 0) and
    the text says why, once, only when slicing by polarity; bar labels stand upright so neighbours never touch."""
    md, table, fig, _ = compare.compare_view(ctx, "test", "polarity", "corr")
    neutral = table[table["slice"] == "neutral"]
    if len(neutral):
        corr_cols = [c for c in table.columns if c.startswith("Corr")]
        assert all(neutral[c].iloc[0] == "n/a" for c in corr_cols)
        assert "Corr is n/a on neutral" in md
    assert md.count("neutral slice") == 1
    assert all(t.textangle == -90 for t in fig.data) and fig.layout.uniformtext.mode == "hide"
    md, table, _, _ = compare.compare_view(ctx, "test", "|label|", "acc2_non0")
    assert "neutral slice" not in md
    values = [v for c in table.columns[2:] for v in table[c]]
    assert all(v == "n/a" or float(v) == float(v) for v in values)
