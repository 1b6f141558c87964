"""The model's anatomy (fdcmdie/explain/anatomy.py, fdcmdie/app/anatomy.py): the traced stages agree with the model's
own outputs computed another way (split predictions, Predictor.predict), the cross-attention weights agree with a
by-hand softmax(QKᵀ/√d_h) over the traced inputs, the figures and the diagram show the right things, and the tab's
callbacks answer every input in place (no exception)."""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from fdcmdie.app import anatomy as tab
from fdcmdie.checkpoint import DEFAULT_PAIR
from fdcmdie.app.plots import anatomy as AP
from fdcmdie.explain import anatomy as A
from fdcmdie.text_encoder import load_encoder

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sample(ctx, view):
    """A test sample of the app pair's main checkpoint with every modality present, its row and its trace."""
    rows = np.flatnonzero(view.preds.present.all(1))
    r = int(rows[len(rows) // 2])
    sid = view.preds.ids[r]
    return SimpleNamespace(row=r, id=sid, trace=A.trace_sample(ctx.predictor("main"), "test", sid, ctx.data_root("main")))


def test_trace_agrees_with_the_split_predictions(ctx, view, sample):
    tr, r, p = sample.trace, sample.row, view.preds
    assert tr.sample_id == sample.id and tr.label == pytest.approx(float(p.label[r]))
    assert tr.pred == pytest.approx(float(p.pred[r]), abs=1e-4)          # plain-attention copy = efficient model
    assert len(tr.layers) == ctx.predictor("main").cfg.model.k
    for i, layer in enumerate(tr.layers):
        np.testing.assert_allclose(layer.alpha, p.alpha[r, i], atol=1e-4)
        np.testing.assert_allclose(layer.gates, p.gates[r, i], atol=1e-4)
    shared, private = tr.pooled("shared"), tr.pooled("private")
    for m in tr.modalities:
        L = A.LETTER[m]
        np.testing.assert_allclose(shared[m], p.features["decoupled"][f"{L}s"][r], atol=1e-4)
        np.testing.assert_allclose(private[m], p.features["decoupled"][f"{L}d"][r], atol=1e-4)
        np.testing.assert_allclose(tr.pooled("unimodal")[m], p.features["extracted"][m][r], atol=1e-4)


def test_global_steps_are_the_shared_sequences_one_after_another(ctx, sample):
    tr = sample.trace
    assert tr.global_steps == [f"{A.LETTER[m]}·{s}" for m in tr.modalities for s in tr.steps[m]]
    tok, _ = load_encoder(ctx.predictor("main").cfg.model.text_encoder)     # [CLS] … [SEP] (BERT), <s> … </s> (e5)
    assert tr.steps["t"][0] == tok.cls_token and tr.steps["t"][-1] == tok.sep_token
    assert len(tr.steps["t"]) == len(tr.shared["t"]) == len(tr.private["t"])
    for m in tr.modalities:
        for which, (to_global, to_mod) in tr.layers[0].attention[m].items():
            l_g, l_x = len(tr.global_steps), len(tr.steps[m])
            if which == "self":
                assert to_global.shape == (l_g, l_g) and to_mod.shape == (l_x, l_x)
            else:
                assert to_global.shape == (l_g, l_x) and to_mod.shape == (l_x, l_g)
            np.testing.assert_allclose(to_global.sum(1), 1, atol=1e-4)    # each query's weights sum to 1
            np.testing.assert_allclose(to_mod.sum(1), 1, atol=1e-4)


def test_cross_attention_equals_a_softmax_by_hand(ctx, sample):
    """Layer 1, eq. 16–17: weights = mean over heads of softmax((LN(G+PE) W_Q)(LN(X_d+PE) W_K)ᵀ / √d_h), from the
    traced shared / private sequences and the checkpoint's weights — not through nn.MultiheadAttention."""
    tr, model = sample.trace, ctx.predictor("main").model
    G = torch.tensor(np.concatenate([tr.shared[m] for m in tr.modalities]))[None]
    for m in tr.modalities:
        dipu = model.cmdie[0].dipu[m]
        with torch.no_grad():
            g0 = dipu.norm_g(dipu.pe(G))[0]
            x0 = dipu.norm_x(dipu.pe(torch.tensor(tr.private[m])[None]))[0]

            def weights(stage, q_in, k_in):
                a = stage.attn
                w_q, w_k, _ = a.in_proj_weight.chunk(3)
                b_q, b_k, _ = a.in_proj_bias.chunk(3)
                h, d = a.num_heads, q_in.shape[-1]
                q = (q_in @ w_q.T + b_q).view(len(q_in), h, d // h).transpose(0, 1)
                k = (k_in @ w_k.T + b_k).view(len(k_in), h, d // h).transpose(0, 1)
                return torch.softmax(q @ k.transpose(1, 2) / math.sqrt(d // h), -1).mean(0).numpy()

            to_global, to_mod = tr.layers[0].attention[m]["cross1"]
            np.testing.assert_allclose(to_global, weights(dipu.cross1_g, g0, x0), atol=1e-4)   # X→G, eq. 16
            np.testing.assert_allclose(to_mod, weights(dipu.cross1_x, x0, g0), atol=1e-4)      # G→X, eq. 17


def test_decoupling_cosines_by_hand(sample):
    tr = sample.trace
    names, cos = A.decoupling_cosines(tr)
    assert names == [f"{A.LETTER[m]}_s" for m in tr.modalities] + [f"{A.LETTER[m]}_d" for m in tr.modalities]
    s, d = tr.shared["t"].mean(0), tr.private["t"].mean(0)
    want = float(s @ d / np.linalg.norm(s) / np.linalg.norm(d))
    assert cos[names.index("T_s"), names.index("T_d")] == pytest.approx(want, abs=1e-6)
    np.testing.assert_allclose(np.diag(cos), 1, atol=1e-9)
    np.testing.assert_allclose(cos, cos.T)


def test_figures_of_each_stage(sample):
    tr = sample.trace
    fig = AP.attention_figure(tr, 1, "cross2")
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert len(heat) == 2 * len(tr.modalities)
    assert np.asarray(heat[0].z).shape == tr.layers[1].attention[tr.modalities[0]]["cross2"][0].shape
    assert "X→G" not in fig.layout.annotations[0].text and "T→G" in fig.layout.annotations[0].text
    with pytest.raises(ValueError, match="layer must be"):
        AP.attention_figure(tr, len(tr.layers), "cross1")
    with pytest.raises(ValueError, match="attention must be"):
        AP.attention_figure(tr, 0, "nonsense")
    feats = AP.features_figure(tr, "private")
    assert np.asarray(feats.data[0].z).shape == (sum(len(tr.steps[m]) for m in tr.modalities),
                                                min(A.MAX_DIMS, tr.private["t"].shape[1]))
    gap = AP.gap_stage_figure(tr)
    alpha_bars = [t for t in gap.data if t.yaxis in (None, "y")]
    assert len(alpha_bars) == len(tr.modalities)
    np.testing.assert_allclose(alpha_bars[0].y, [lt.alpha[0] for lt in tr.layers], atol=1e-9)


def test_diagram_highlights_the_stage():
    for stage, boxes in (("decoupling", 3), ("dipu", 1), ("prediction", 1), ("features", 3)):
        html = AP.architecture_svg(["t", "v", "a"], 3, stage)
        svg = ET.fromstring(html[html.index("<svg"): html.rindex("</svg>") + 6])   # well-formed XML
        lit = [r for r in svg.iter("{http://www.w3.org/2000/svg}rect") if r.get("fill") == "#ffe9a8"]
        assert len(lit) == boxes, stage
        assert "× 3 layers" in html
    html = AP.architecture_svg(["t"], 2, None)
    assert "#ffe9a8" not in html and "DIPU × 1" in html
    with pytest.raises(ValueError, match="stage must be"):
        AP.architecture_svg(["t"], 2, "head")


def test_default_pair_typed_sentence():
    """The shipped default checkpoint (text + voice): a typed sentence traced = Predictor.predict; the voice is absent,
    so GAP gives the text α = 1 and the voice 0 in every layer, and the global sequence has exactly the text's steps
    (e5's XLM-R pieces between <s> and </s>)."""
    from fdcmdie.inference import Predictor

    p = Predictor.load(ROOT / DEFAULT_PAIR[0])
    text = "i did not like it at all"
    tr = A.trace_input(p, text)
    [e] = p.predict([text])
    assert tr.pred == pytest.approx(e.pred, abs=1e-4)
    assert tr.steps["t"] == ["<s>", "i", "did", "not", "like", "it", "at", "all", "</s>"] and tr.steps["a"] == []
    assert tr.global_steps == ["T·" + s for s in tr.steps["t"]]
    assert p.modalities == ["t", "a"]
    np.testing.assert_allclose([lt.alpha for lt in tr.layers], [[1.0, 0.0]] * len(tr.layers))
    np.testing.assert_allclose(np.stack([lt.gates for lt in tr.layers]), e.gates, atol=1e-5)
    to_global, to_mod = tr.layers[0].attention["t"]["cross1"]
    assert to_global.shape == to_mod.shape == (9, 9)


# ------------------------------------------------------------------------------------------------- the tab


class _Request:
    def __init__(self, query):
        self.query_params, self.headers = query, {"host": "lab.example:7860"}


def test_tab_traces_a_dataset_sample_and_switches_stage(ctx, sample):
    out = tab.run_trace(ctx, "main", "dataset", "test", sample.id, "", None, "dipu", 2, "cross1")
    diagram, status, stage_md, fig, trace, layer = out
    assert 'data-stage="dipu"' in diagram and sample.id in status and "layer 2 of" in stage_md
    assert isinstance(trace, A.Trace) and trace.sample_id == sample.id
    assert layer["maximum"] == len(trace.layers)
    for stage in A.STAGES:
        d, md, f = tab.restage(ctx, "main", trace, stage, 1, "self", "shared")
        assert f"data-stage=\"{stage}\"" in d and md and f is not None
    d, md, f = tab.restage(ctx, "main", trace, "gap", 1, "cross1")
    assert "layer 1:" in md and f"α {trace.layers[0].alpha[0]:.2f}" in md
    # a lesson set another sample: its trace is on its way, the kept one must not draw over it
    d, md, f = tab.restage(ctx, "main", trace, "gap", 1, "cross1", "extracted", "another-id", "dataset")
    assert 'data-stage="gap"' in d and md == f == {"__type__": "update"}


def test_tab_says_what_is_wrong_in_place(ctx):
    for args, needle in ((("dataset", "test", "no-such-id", "", None), "no sample 'no-such-id'"),
                         (("typed", "test", None, "  ", None), "type a sentence"),
                         (("upload", "test", None, "", None), "nothing uploaded yet")):
        out = tab.run_trace(ctx, "main", *args, "features", 1, "cross1")
        assert "Cannot trace this input" in out[1] and needle in out[1], out[1]
    out = tab.run_trace(ctx, "nonsense", "typed", "test", None, "great", None, "features", 1, "cross1")
    assert "unknown model" in out[1]
    # Trace before a sample is picked: the split's first sample, named on the status line
    first = ctx.split_view("main", "test").preds.ids[0]
    out = tab.run_trace(ctx, "main", "dataset", "test", "", "", None, "features", 1, "cross1")
    assert out[4].sample_id == first and first in out[1] and "Cannot" not in out[1]
    d, md, f = tab.restage(ctx, "main", None, "dipu", 1, "cross1")
    assert 'data-stage="dipu"' in d and md == f == {"__type__": "update"}     # nothing traced: the diagram only
    assert "Trace" in tab.view(ctx, "main", None, "dipu").status


def test_tab_typed_and_upload_inputs(ctx):
    out = tab.run_trace(ctx, "main", "typed", "test", None, "what a wonderful film", None, "prediction", 1, "cross1")
    assert "your input" in out[1] and out[4].label is None
    [e] = ctx.predictor("main").predict(["what a wonderful film"])
    assert out[4].pred == pytest.approx(e.pred, abs=1e-4)
    upload = {"inputs": {"main": ("what a wonderful film", None, None)}}
    out2 = tab.run_trace(ctx, "main", "upload", "test", None, "", upload, "prediction", 1, "cross1")
    assert out2[4].pred == pytest.approx(e.pred, abs=1e-4)


def test_deep_link_opens_the_anatomy_of_a_sample(ctx, sample):
    tabs = ["explorer", "anatomy", "lessons"]
    got = tab.open_link(ctx, tabs, "main", "test", None,
                        _Request({"tab": "anatomy", "split": "test", "sample": sample.id, "model": "compare"}))
    assert got[1] == "test" and got[2]["value"] == sample.id and got[3] == "dataset" and got[0]["value"] == "compare"
    got = tab.open_link(ctx, tabs, "main", "test", None, _Request({"tab": "explorer", "sample": sample.id}))
    assert all(g == {"__type__": "update"} for g in got[1:])     # gr.skip(): another tab's link leaves this one
    link = tab.link_of("compare", "test", sample.id, "dataset", "dipu", 2, _Request({}))
    assert link == (f"http://lab.example:7860/?tab=anatomy&model=compare&split=test&sample={sample.id}"
                    "&stage=dipu&layer=2")   # issue 32: the link carries the stage and the layer
    assert tab.link_of("main", "test", None, "typed", "gap", 1, _Request({})) == ""
    # and opening it sets them (a stage that is not one is left alone, a layer that is not a number is 1)
    query = dict(p.split("=") for p in link.split("?")[1].split("&"))
    got = tab.open_link(ctx, tabs, "main", "test", None, _Request(query))
    assert got[2]["value"] == sample.id and got[4] == "dipu" and got[5]["value"] == 2
    got = tab.open_link(ctx, tabs, "main", "test", None, _Request({**query, "stage": "nope", "layer": "x"}))
    assert got[4] == {"__type__": "update"} and got[5]["value"] == 1
