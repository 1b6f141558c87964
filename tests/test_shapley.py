"""Exact modality Shapley values (fdcmdie.explain.shapley): efficiency, symmetry, null player and the weights on a toy
model whose values are known by hand; efficiency and agreement with Predictor on the shipped checkpoint."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from fdcmdie.checkpoint import DEFAULT_PAIR
from fdcmdie.data.base import Batch
from fdcmdie.explain import shapley as S
from fdcmdie.render.shapley import share_markdown

ROOT = Path(__file__).resolve().parent.parent
FT = ROOT / DEFAULT_PAIR[0]                   # the app's default (T+A, e5 top 2 tuned)


class Toy(nn.Module):
    """pred = 1·t + 1·a + 2·t·a + 0.5·v + 0.25 (t, a symmetric; v additive): φ_t = φ_a = 2, φ_v = 0.5."""

    def forward(self, batch: Batch) -> dict:
        t, v, a = (batch.mask(m).any(1).float() for m in "tva")
        return {"pred": t + a + 2 * t * a + 0.5 * v + 0.25}


def toy_run(batch: Batch) -> np.ndarray:
    return Toy()(batch)["pred"].numpy()


def toy_batch(n: int = 3, present=None) -> Batch:
    mask = torch.ones(n, 4, dtype=torch.bool)
    b = Batch(ids=[str(i) for i in range(n)], texts=[""] * n, label=torch.zeros(n),
              text=torch.randn(n, 4, 5), text_mask=mask.clone(), audio=torch.randn(n, 4, 2), audio_mask=mask.clone(),
              vision=torch.randn(n, 4, 3), vision_mask=mask.clone())
    for m, rows in (present or {}).items():
        b = b.drop(m, torch.tensor(rows))
    return b


def test_coalitions_and_weights():
    assert S.coalitions(2) == [(), (0,), (1,), (0, 1)]
    assert len(S.coalitions(3)) == 8
    W = S.shapley_weights(3)
    # each player's weights over the coalitions containing it sum to 1 (and to −1 over those without it)
    for m in range(3):
        inside = [W[m, j] for j, c in enumerate(S.coalitions(3)) if m in c]
        assert sum(inside) == pytest.approx(1.0)
        assert W[m].sum() == pytest.approx(0.0)
    assert W[0, S.coalitions(3).index((0,))] == pytest.approx(math.factorial(0) * math.factorial(2) / math.factorial(3))


def test_toy_model_efficiency_symmetry_and_known_values():
    sv = S.shapley_batch(toy_run, toy_batch(), ["t", "v", "a"])
    assert sv.phi.shape == (3, 3)
    np.testing.assert_allclose(sv.phi, [[2.0, 0.5, 2.0]] * 3, atol=1e-6)
    np.testing.assert_allclose(sv.baseline, 0.25, atol=1e-6)
    np.testing.assert_allclose(sv.pred, 4.75, atol=1e-6)
    np.testing.assert_allclose(sv.phi.sum(1), sv.pred - sv.baseline, atol=1e-6)   # efficiency
    assert sv.phi[0, 0] == pytest.approx(sv.phi[0, 2])                            # symmetry: t and a


def test_toy_model_missing_modality_is_a_null_player():
    # row 0 has no acoustic input, row 1 no visual: the missing one gets exactly 0, the rest still add up
    sv = S.shapley_batch(toy_run, toy_batch(present={"a": [True, False, False], "v": [False, True, False]}),
                         ["t", "v", "a"])
    assert sv.phi[0, 2] == 0.0 and sv.phi[1, 1] == 0.0
    np.testing.assert_allclose(sv.phi[0], [1.0, 0.5, 0.0], atol=1e-6)   # t alone is worth 1 without a
    np.testing.assert_allclose(sv.phi.sum(1), sv.pred - sv.baseline, atol=1e-6)


@pytest.mark.skipif(not (FT / "model.safetensors").is_file(), reason="shipped checkpoint not present")
def test_real_checkpoint_efficiency_and_prediction(data_root):
    from fdcmdie.inference import Predictor

    p = Predictor.load(FT)
    part = p.dataset(data_root).split("test")
    texts, audio = part.texts[:6], part.audio[:6]
    sv = S.shapley_batch(lambda b: p.run(b).pred, p.batch(texts, audio=audio), p.modalities)
    preds = np.array([e.pred for e in p.predict(texts, audio=audio)])
    np.testing.assert_allclose(sv.pred, preds, atol=1e-4)              # v(all) is the prediction
    np.testing.assert_allclose(sv.phi.sum(1), sv.pred - sv.baseline, atol=1e-5)
    np.testing.assert_allclose(sv.baseline, sv.baseline[0], atol=1e-5)  # v(∅) does not depend on the input
    assert np.abs(sv.phi[:, 0]).mean() > 0.05                           # the words move this model
    one = S.input_shapley(p, texts[0], audio[0], drop={"a"})            # audio switched off: φ_a = 0
    assert one.phi[0, 1] == 0.0
    assert one.phi[0, 0] == pytest.approx(one.pred[0] - one.baseline[0], abs=1e-5)
    rows = S.split_shapley(p, "test", data_root, rows=[4, 1])            # dataset rows, in the order asked
    np.testing.assert_allclose(rows.pred, p.predict_split("test", data_root).pred[[4, 1]], atol=1e-5)
    np.testing.assert_allclose(rows.phi.sum(1), rows.pred - rows.baseline, atol=1e-5)


def test_modality_share_on_the_toy_model():
    """Toy: φ_t = φ_a = 2, φ_v = 0.5 on every full row, so the mean-|φ| shares are 2/4.5, 2/4.5, 0.5/4.5; a row
    without the voice has φ_a = 0 and φ_t = 1 + 0 (t alone adds 1), φ_v = 0.5."""
    sv = S.shapley_batch(toy_run, toy_batch(4, present={"a": [False, False, False, True]}), ["t", "v", "a"])
    np.testing.assert_allclose(sv.phi[3], [1.0, 0.5, 0.0], atol=1e-6)
    share = S.modality_share(sv)
    mean_abs = {"t": (3 * 2 + 1) / 4, "v": 0.5, "a": 3 * 2 / 4}
    total = sum(mean_abs.values())
    for m in "tva":
        assert share[m]["mean_abs"] == pytest.approx(mean_abs[m]) and share[m]["share"] == pytest.approx(mean_abs[m] / total)
    assert sum(v["share"] for v in share.values()) == pytest.approx(1.0)


def test_share_markdown_states_the_push_and_each_modality_alone():
    """A voice whose φ is a constant +0.2 push (plus small noise) and that predicts nothing alone: the paragraph says
    so, with the shares and Pearson r computed by hand."""
    rng = np.random.default_rng(0)
    labels = rng.normal(size=200)
    phi = np.stack([labels + 0.1 * rng.normal(size=200), 0.2 + 0.02 * rng.normal(size=200)], 1)
    sv = S.ModalityShapley(["t", "a"], phi, np.zeros(200), phi.sum(1))
    alone = {"t": labels + 0.5 * rng.normal(size=200), "a": rng.normal(size=200)}
    md = share_markdown(sv, "test", labels=labels, alone=alone)
    a = np.abs(phi).mean(0)
    assert f"text {a[0]:.2f} ({a[0] / a.sum():.0%}), acoustic {a[1]:.2f} ({a[1] / a.sum():.0%})" in md
    assert "200 samples" in md and f"one push for every sample (mean φ {phi[:, 1].mean():+.2f})" in md
    assert f"text alone r = {np.corrcoef(alone['t'], labels)[0, 1]:.2f}" in md
    assert f"acoustic alone r = {np.corrcoef(alone['a'], labels)[0, 1]:.2f}" in md
    one = S.ModalityShapley(["t"], phi[:, :1], np.zeros(200), phi[:, 0])
    assert "one modality" in share_markdown(one, "test")
