"""Word attributions (fdcmdie.explain.attributions): integrated gradients against a toy model whose attributions are
known in closed form; completeness on the shipped top-2 fine-tuned and frozen checkpoints and on a whole-encoder
model, word spans, occlusion, and the deletion check on real test samples, recomputed through Predictor."""
from __future__ import annotations

import copy
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

from fdcmdie.checkpoint import DEFAULT_PAIR, MINILM_CHECKPOINT
from fdcmdie.explain import attributions as A
from fdcmdie.inference.gradients import WordPath

ROOT = Path(__file__).resolve().parent.parent
FT, FROZEN = ROOT / DEFAULT_PAIR[0], ROOT / MINILM_CHECKPOINT    # e5 top 2 tuned; MiniLM frozen
SENTENCE = "i loved this movie, but the ending was really weak"

class ToyPredictor:
    """What word_attributions asks of a Predictor, over a toy F with closed-form integrated gradients:

        F(x) = Σ_j a_j (x_j · u)² + c Σ_j x_j · w        (x_j the embedding of token j)

    Along the straight path x(s) = b + s (e − b), ∂F/∂x_j · (e_j − b_j) is linear in s, so
        IG_j = a_j ((e_j · u)² − (b_j · u)²) + c (e_j − b_j) · w
    exactly (Gauss–Legendre with n points is exact for polynomials up to degree 2n − 1)."""

    name = "toy"
    text = "good movie overall"
    spans = [(0, 4), (5, 10), (11, 18)]
    groups = [[1], [2, 3], [4]]            # [CLS] good mo ##vie overall [SEP]: "movie" is two pieces

    def __init__(self, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.e = torch.randn(1, 6, 4, generator=g, dtype=torch.float64)
        self.b = self.e.clone()
        self.b[0, 1:5] = torch.randn(4, generator=g, dtype=torch.float64)   # the "[PAD]" embedding; [CLS]/[SEP] kept
        self.a = torch.tensor([0.5, 1.5, -2.0, 0.7, 1.1, 0.3], dtype=torch.float64)
        self.u = torch.tensor([1.0, -0.5, 0.25, 2.0], dtype=torch.float64)
        self.w = torch.tensor([0.3, 0.1, -1.0, 0.2], dtype=torch.float64)
        self.c = 0.8

    def F(self, x: torch.Tensor) -> torch.Tensor:
        return (self.a * (x @ self.u) ** 2).sum(1) + self.c * (x @ self.w).sum(1)

    def closed_form(self) -> np.ndarray:
        tok = self.a * ((self.e[0] @ self.u) ** 2 - (self.b[0] @ self.u) ** 2) + self.c * ((self.e[0] - self.b[0]) @ self.w)
        return np.array([float(tok[js].sum()) for js in self.groups])

    def words_reason(self):
        return None

    def text_gradient_reason(self):
        return None

    def words(self, text):
        return [text[s:e] for s, e in self.spans], self.spans

    @contextmanager
    def compute_threads(self, n=None):
        yield

    def word_path(self, text, audio=None, vision=None, *, drop=frozenset()):
        words, spans = self.words(text)
        return WordPath(words=words, spans=spans, groups=self.groups, inputs=self.e, baseline=self.b, forward=self.F)


def test_integrated_gradients_equal_the_closed_form_on_a_toy_model():
    toy = ToyPredictor()
    wa = A.word_attributions(toy, toy.text, n_steps=8)
    assert wa.method == "integrated gradients" and wa.words == ["good", "movie", "overall"]
    np.testing.assert_allclose(wa.scores, toy.closed_form(), rtol=1e-6)   # Captum keeps its path steps in float32
    assert wa.pred == pytest.approx(float(toy.F(toy.e)[0])) and wa.baseline == pytest.approx(float(toy.F(toy.b)[0]))
    assert abs(wa.delta) < 1e-6
    # "movie" is the sum over its two word pieces, not either piece alone
    one_piece = ToyPredictor()
    one_piece.groups = [[1], [2], [4]]
    assert A.word_attributions(one_piece, toy.text, n_steps=8).scores[1] != pytest.approx(wa.scores[1])


@pytest.fixture(scope="module")
def predictors():
    if not (FT / "model.safetensors").is_file() or not (FROZEN / "model.safetensors").is_file():
        pytest.skip("shipped checkpoints not present")
    from fdcmdie.inference import Predictor
    return {"ft": Predictor.load(FT), "frozen": Predictor.load(FROZEN)}


def frames(p):
    return np.random.default_rng(0).normal(size=(1, p.cfg.model.audio_dim)).astype(np.float32)


@pytest.mark.parametrize("which", ["ft", "frozen"])
def test_integrated_gradients_completeness(predictors, which):
    p = predictors[which]
    audio = frames(p)
    # e5's path (10 frozen layers in the graph, then the tuned 2) bends more than MiniLM's: 48 Gauss-Legendre points
    # miss 10 % of F(input) − F(baseline) on this sentence, 128 about 2 %, 300 nothing
    wa = A.word_attributions(p, SENTENCE, audio, n_steps=128 if which == "ft" else 48)
    assert wa.method == "integrated gradients"
    # F(input) is the prediction the app shows (the cached states are float16, the graph float32)
    assert wa.pred == pytest.approx(p.predict([SENTENCE], audio=[audio])[0].pred, abs=0.02)
    # completeness: the word scores add up to F(input) − F(all words [PAD])
    assert abs(wa.scores.sum() - (wa.pred - wa.baseline)) < 0.01 + 0.02 * abs(wa.pred - wa.baseline)
    assert abs(wa.delta) < 0.01 + 0.02 * abs(wa.pred - wa.baseline)
    assert wa.scores[wa.words.index("loved")] > 0 > wa.scores[wa.words.index("weak")]


def test_words_spans_and_highlight(predictors):
    wa = A.word_attributions(predictors["ft"], SENTENCE, frames(predictors["ft"]))
    assert wa.words == ["i", "loved", "this", "movie", ",", "but", "the", "ending", "was", "really", "weak"]
    assert all(SENTENCE[s:e] == w for (s, e), w in zip(wa.spans, wa.words))
    pieces = wa.highlighted()
    assert "".join(t for t, _ in pieces) == SENTENCE
    scored = [v for _, v in pieces if v is not None]
    assert len(scored) == len(wa.words) and max(abs(v) for v in scored) == pytest.approx(1.0)
    assert A.without_words(SENTENCE, wa.spans, [1, 10]) == "i this movie, but the ending was really"


def test_switched_off_text_and_text_free_checkpoints(predictors):
    p = predictors["ft"]
    with pytest.raises(ValueError, match="no words"):
        A.word_attributions(p, SENTENCE, frames(p), drop={"t"})
    with pytest.raises(ValueError, match="no words"):
        A.word_attributions(p, "   ", frames(p))
    cnn = copy.copy(p)
    cnn.cfg = copy.deepcopy(p.cfg)
    cnn.cfg.data.text_source = "cnn"
    with pytest.raises(ValueError, match="text-CNN"):
        A.resolve_method(cnn)


def test_occlusion_scores_are_leave_one_out_differences(predictors):
    p = predictors["frozen"]
    audio = frames(p)
    wa = A.word_attributions(p, SENTENCE, audio, method="occlusion")
    full = p.predict([SENTENCE], audio=[audio])[0].pred
    without_weak = p.predict([A.without_words(SENTENCE, wa.spans, [10])], audio=[audio])[0].pred
    assert wa.method == "occlusion" and wa.pred == pytest.approx(full, abs=1e-3)  # batch padding: float noise
    assert wa.scores[10] == pytest.approx(full - without_weak, abs=2e-3)


def test_whole_encoder_model_through_its_own_encoder(predictors):
    """text_finetune_layers = −1: IG runs the checkpoint's own encoder (a view of the model, nothing copied) and the
    result matches the model run from token ids."""
    import torch

    from fdcmdie.inference import Predictor
    from fdcmdie.model import build_model

    p = predictors["ft"]
    cfg = copy.deepcopy(p.cfg)
    cfg.model.text_finetune_layers = -1
    torch.manual_seed(0)
    full = Predictor(build_model(cfg.model), cfg, p.normalizer, p.meta, name="whole-encoder")
    audio = frames(full)
    wa = A.word_attributions(full, SENTENCE, audio, n_steps=48)
    assert wa.pred == pytest.approx(full.predict([SENTENCE], audio=[audio])[0].pred, abs=1e-4)
    assert abs(wa.delta) < 0.01 + 0.02 * abs(wa.pred - wa.baseline)
    assert full.model.extract["t"].encoder is not None  # the model itself is untouched


@pytest.mark.slow   # over 10 s of a quiet 2-core machine (the quick set: README)
def test_deletion_check_on_a_small_fixture(predictors, data_root, tmp_path):
    p = predictors["ft"]
    part = p.dataset(data_root).split("test")
    inputs = [(part.texts[i], part.audio[i], None) for i in range(16)]
    check = A.deletion_check(p, inputs, ks=(1, 2))
    assert check.n[0] >= 14 and len(check.seconds) == 16
    # deleting the most attributed word moves the prediction far more than deleting a random one
    assert check.ratio[0] > 1.5, check.to_dict()
    assert check.top[1] > check.random[1]

    # the report's section reads the benchmark's JSON (docs/benchmarks/attributions.json) into RESULTS.md
    import json

    from fdcmdie.report import attributions_section

    path = tmp_path / "attributions.json"
    path.write_text(json.dumps({"command": "benchmarks/attributions.py --limit 16", "split": "test", "deletion": [
        {"checkpoint": str(FT), "name": p.name, "method": "ig", **check.to_dict()}]}))
    lines = attributions_section(path)
    assert lines[0] == "## Word attributions: deletion check"
    assert f"| `{p.name}` | integrated gradients | 1 | {check.n[0]} | {check.top[0]:.3f} | {check.random[0]:.3f} | " \
           f"{check.ratio[0]:.2f} |" in lines
    assert attributions_section(tmp_path / "missing.json") == []


def test_deletion_check_recomputed_through_the_predictor(predictors, data_root):
    """The check's numbers for three samples, recomputed one deletion at a time with Predictor.predict (the random
    words drawn from the same seeded generator in the same order)."""
    p = predictors["ft"]
    part = p.dataset(data_root).split("test")
    inputs = [(part.texts[i], part.audio[i], None) for i in range(3)]
    check = A.deletion_check(p, inputs, ks=(1,), n_steps=8, seed=3)
    rng = np.random.default_rng(3)
    pred = lambda text, audio: p.predict([text], audio=[audio])[0].pred
    top, rand = [], []
    for text, audio, _ in inputs:
        wa = A.word_attributions(p, text, audio, n_steps=8)
        if len(wa.words) <= 1:
            continue
        full = pred(wa.text, audio)
        top.append(abs(full - pred(A.without_words(wa.text, wa.spans, wa.top(1)), audio)))
        drawn = rng.choice(len(wa.words), size=1, replace=False)
        rand.append(abs(full - pred(A.without_words(wa.text, wa.spans, drawn), audio)))
    assert check.n == [len(top)] and len(top) >= 2
    assert check.top[0] == pytest.approx(np.mean(top), abs=2e-3)
    assert check.random[0] == pytest.approx(np.mean(rand), abs=2e-3)
