"""fdcmdie.inference.Predictor on a tiny checkpoint trained on an MMSA-layout fixture (t, v, a; MiniLM with its top
layer fine-tuned): agreement with evaluate.predict and the model's forward, what-if, missing inputs, bad inputs."""
from __future__ import annotations

import json
import pickle
import time

import numpy as np
import pytest
import torch

from fdcmdie.checkpoint import save_checkpoint
from fdcmdie.config import Config, ModelConfig, load_config
from fdcmdie.data.mmsa import EXTRACT_KEY, extract_marker, load_mmsa
from fdcmdie.evaluate import model_dims, predict
from fdcmdie.inference import Predictor, class7, polarity
from fdcmdie.model import build_model
from fdcmdie.train import Run
from mmsa_fixture import make_mmsa_pickle

T, V, A = 0, 1, 2  # column of each modality in alpha for a t, v, a checkpoint


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(Run, Predictor) of a 1-epoch t+v+a model on a MOSI-dims MMSA fixture (5-d audio, 20-d vision)."""
    root = tmp_path_factory.mktemp("inference")
    pkl = make_mmsa_pickle(root / "aligned_50.pkl", dataset="mosi", aligned=True, n=(12, 4, 6))
    cfg = load_config(None, ["data.source=mmsa", f"data.path={pkl}", "model.modalities=[t,v,a]",
                             "model.text_finetune_layers=1", "model.d=32", "model.n_heads=2", "model.k=2",
                             "model.lstm_layers=1", "loss.k_cl=3", "loss.members_per_step=1", "train.epochs=1",
                             "train.batch_size=4", "train.device=cpu", f"train.cache_dir={root / 'cache'}"])
    run = Run(cfg, progress=False)
    run.fit()
    ckpt = save_checkpoint(root / "tiny-run" / "checkpoint", run.model, cfg, run.normalizer, fp16=False,
                           meta={"dataset": run.dataset.name, "notes": run.dataset.notes})
    return run, Predictor.load(ckpt)


@pytest.fixture(scope="module")
def text_only(tmp_path_factory):
    cfg = Config(model=ModelConfig(modalities=["t"], d=16, n_heads=2, k=1))
    cfg.validate()
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("text-only") / "checkpoint"
    save_checkpoint(path, build_model(cfg.model), cfg, run_normalizer(), meta={"dataset": "test"})
    return Predictor.load(path)


def run_normalizer():
    from fdcmdie.data import Normalizer
    return Normalizer({})


def test_load_names_and_describes(tiny):
    run, p = tiny
    assert p.name == "tiny-run" and p.modalities == ["t", "v", "a"]
    assert Predictor.load(p.path.parent).name == "tiny-run"  # the run folder works too
    d = p.describe()
    assert d["k"] == 2 and d["modalities"] == ["t", "v", "a"]
    with pytest.raises(FileNotFoundError, match="config.json"):
        Predictor.load(p.path.parent.parent)


def test_predict_split_is_evaluate_predict(tiny):
    run, p = tiny
    preds = p.predict_split("test")
    ref = predict(run.model, run.sets["test"], run.cfg)  # the trained in-memory model, the trainer's own inputs
    assert preds.ids == ref.ids and len(preds.ids) == 6
    np.testing.assert_allclose(preds.pred, ref.pred, atol=1e-5)
    np.testing.assert_allclose(preds.alpha, ref.alpha, atol=1e-5)
    assert p.predict_split("test") is preds  # cached
    assert p.dataset() is p.dataset()


def test_single_inputs_equal_the_forward_pass(tiny):
    run, p = tiny
    test = run.dataset.test                      # raw (un-normalised) frames, as a user would pass them
    preds = p.predict_split("test")
    exps = p.predict(test.texts, audio=test.audio, vision=test.vision)
    np.testing.assert_allclose([e.pred for e in exps], preds.pred, atol=1e-5)
    for i in (0, 3):
        [one] = p.predict([test.texts[i]], audio=[test.audio[i]], vision=[test.vision[i]])
        batch = run.sets["test"].batch([i], model_dims(run.cfg))   # the trainer's batch of the same sample
        with torch.no_grad():
            out = p.model(batch)
        assert one.pred == pytest.approx(float(out["pred"][0]), abs=1e-5)
        np.testing.assert_allclose(one.alpha, out["alpha"][0].numpy(), atol=1e-5)
        np.testing.assert_allclose(one.features["decoupled"]["Ts"], out["decoupled"]["Ts"][0].numpy(), atol=1e-5)
        np.testing.assert_allclose(one.features["cmdie"]["G"], preds.features["cmdie"]["G"][i], atol=1e-5)
        assert one.alpha.shape == (2, 3) and one.gates.shape == (2, 3)
        np.testing.assert_allclose(one.alpha.sum(1), 1.0, atol=1e-5)
        assert one.used == ["t", "v", "a"] and one.ignored == {} and one.present == [True, True, True]
        assert one.polarity == polarity(one.pred) and one.class7 == class7(one.pred)
    # text given as its encoder states (what the trainer caches) instead of a string
    [states] = p.predict([run.sets["test"][2]["text_feats"]], audio=[test.audio[2]], vision=[test.vision[2]])
    assert states.pred == pytest.approx(float(preds.pred[2]), abs=1e-3)  # the cache holds float16 states
    # raw=False: the caller normalised the frames already
    [norm] = p.predict([test.texts[0]], audio=[run.sets["test"][0]["audio"]], vision=[run.sets["test"][0]["vision"]],
                       raw=False)
    assert norm.pred == pytest.approx(float(preds.pred[0]), abs=1e-5)


def test_what_if_dropping_audio_zeroes_its_weight(tiny):
    run, p = tiny
    test = run.dataset.test
    before, after = p.what_if(test.texts[0], test.audio[0], test.vision[0], drop={"a"})
    assert before.pred == pytest.approx(float(p.predict_split("test").pred[0]), abs=1e-5)
    assert (before.alpha[:, A] > 0).all() and (after.alpha[:, A] == 0).all()
    np.testing.assert_allclose(after.alpha.sum(1), 1.0, atol=1e-5)
    assert after.present == [True, True, False] and after.used == ["t", "v"]
    assert "dropped" in after.ignored["a"] and before.ignored == {}
    assert after.pred != before.pred
    # dropping a modality in predict() is the same thing
    [same] = p.predict([test.texts[0]], audio=[test.audio[0]], vision=[test.vision[0]], drop={"a"})
    assert same.pred == pytest.approx(after.pred, abs=1e-5)


def test_edited_text_changes_the_prediction(tiny):
    run, p = tiny
    test = run.dataset.test
    before, after = p.what_if(test.texts[1], test.audio[1], test.vision[1],
                              edited_text="an absolutely dreadful waste of time, i hated every second")
    assert after.text.startswith("an absolutely") and before.text == test.texts[1]
    assert abs(after.pred - before.pred) > 1e-4
    assert not np.allclose(after.features["decoupled"]["Ts"], before.features["decoupled"]["Ts"])
    np.testing.assert_allclose(after.features["decoupled"]["As"], before.features["decoupled"]["As"], atol=1e-6)


def test_missing_modalities_are_masked(tiny):
    run, p = tiny
    [e] = p.predict(["it was fine"], audio=[run.dataset.test.audio[0]])           # no vision
    assert e.present == [True, False, True] and e.used == ["t", "a"]
    assert (e.alpha[:, V] == 0).all() and "no visual input" in e.ignored["v"]
    [e] = p.predict([""], audio=[run.dataset.test.audio[0]], vision=[np.zeros((0, 20))])  # empty text and vision
    assert e.used == ["a"] and e.ignored["t"] == "the text is empty" and "empty" in e.ignored["v"]
    assert e.alpha[:, A] == pytest.approx(1.0)
    [e] = p.predict(["good"], audio=[run.dataset.test.audio[0][0]])  # a (d,) vector is one frame
    assert e.used == ["t", "a"]
    d = json.loads(json.dumps(e.to_dict()))  # JSON-friendly for the app: the same numbers come back
    assert d["pred"] == e.pred and d["used"] == ["t", "a"] and d["present"] == [True, False, True]
    np.testing.assert_allclose(d["alpha"], e.alpha)
    np.testing.assert_allclose(d["features"]["decoupled"]["Ts"], e.features["decoupled"]["Ts"])
    assert e.weights() == {m: float(a) for m, a in zip("tva", e.alpha[-1])} and e.weights()["v"] == 0.0


def test_bad_inputs_raise_value_errors(tiny, text_only):
    run, p = tiny
    a = run.dataset.test.audio[0]
    cases = [
        (lambda: p.predict(["x"], audio=[np.zeros((4, 22))]), "acoustic features are 22-d but this checkpoint "
                                                             "expects 5-d"),
        (lambda: p.predict(["x"], vision=[np.zeros((4, 5, 2))]), r"shape \(4, 5, 2\)"),
        (lambda: p.predict(["x"], vision=[[["a", "b"]]]), "not a numeric array"),
        (lambda: p.predict("hello", audio=[a]), "list of strings"),
        (lambda: p.predict(["x", "y"], audio=[a]), "1 entries for 2 text"),
        (lambda: p.predict(["x"], audio=a), "not a single array"),
        (lambda: p.predict([3.5]), "text must be a string"),
        (lambda: p.predict(["x"], drop={"audio"}), "drop must name modalities"),
        (lambda: p.what_if("x", a, drop={"t", "a"}), "modified input: nothing left to predict from"),
        (lambda: p.predict([""]), "nothing left to predict from"),
        (lambda: p.predict(["x"], audio=[np.zeros((5000, 5))]), "at most 4096"),
        (lambda: p.predict_split("dev"), "split must be"),
        (lambda: text_only.predict(["   "]), "text is empty and this checkpoint reads text only"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
    assert p.predict([]) == []
    [e] = text_only.predict(["lovely"])
    assert e.used == ["t"] and e.alpha.shape == (1, 1) and set(e.ignored) == {"v", "a"}
    assert "does not use the visual modality" in e.ignored["v"]


def test_non_finite_frames_are_zeroed_like_the_loaders_do(tiny):
    run, p = tiny
    a = run.dataset.test.audio[0].copy()
    b = a.copy()
    b[0, 0] = -np.inf
    a[0, 0] = 0.0
    [x, y] = p.predict(["same", "same"], audio=[a, b])
    assert x.pred == pytest.approx(y.pred, abs=1e-6)


def test_fixture_checkpoint_refuses_clip_features(tiny):
    _, p = tiny
    support = p.clip_support()
    assert support["t"] is None
    assert "no record of being made by `python -m fdcmdie extract`" in support["a"]
    assert "5-d acoustic features" in support["a"] and "20-d visual" in support["v"]
    assert p.extract_marker() is None


def test_loader_passes_the_extract_marker_into_notes(tmp_path):
    pkl = make_mmsa_pickle(tmp_path / "f.pkl", n=(3, 1, 1))
    data = pickle.loads(pkl.read_bytes())
    data[EXTRACT_KEY] = {"format": "fdcmdie-extract/1", "audio_columns": ["a"] * 5, "vision_columns": ["v"] * 20,
                         "config": {"audio_hop_s": 0.1}}
    pkl.write_bytes(pickle.dumps(data))
    ds = load_mmsa(pkl)
    assert extract_marker(ds.notes) == data[EXTRACT_KEY]
    assert extract_marker(load_mmsa(make_mmsa_pickle(tmp_path / "g.pkl", n=(3, 1, 1))).notes) is None


def test_one_sample_is_fast(tiny):
    _, p = tiny
    test = p.dataset().test
    p.predict([test.texts[0]], audio=[test.audio[0]], vision=[test.vision[0]])  # warm-up
    times = []
    for i in range(5):
        t0 = time.perf_counter()
        p.predict([test.texts[i % 6]], audio=[test.audio[i % 6]], vision=[test.vision[i % 6]])
        times.append(time.perf_counter() - t0)
    print(f"one-sample predict: median {np.median(times) * 1000:.0f} ms")
    assert np.median(times) < 1.0  # ~20-60 ms on a free core; generous for a shared CI machine


def test_single_inputs_run_on_one_thread_and_restore_the_setting(tiny):
    run, p = tiny
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seen = []
        real = p.model.forward
        p.model.forward = lambda batch: (seen.append(torch.get_num_threads()), real(batch))[1]
        try:
            p.predict(["fine"], audio=[run.dataset.test.audio[0]])
        finally:
            del p.model.forward
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_text_cnn_checkpoint_takes_feature_vectors_not_typed_text(tmp_path, data_root):
    """Poria split, t + v + a from the bundle's vectors (text-CNN 100-d, 3D-CNN 100-d, openSMILE 73-d)."""
    from fdcmdie.data import load_dataset
    from fdcmdie.extract import ClipFeatures
    from fdcmdie.train import fill_dims

    cfg = load_config(None, ["data.split=poria", "data.text_source=cnn", f"data.root={data_root}",
                             "model.modalities=[t,v,a]", "model.d=16", "model.n_heads=2", "model.k=1"])
    ds = load_dataset(cfg)
    fill_dims(cfg, ds)
    torch.manual_seed(0)
    from fdcmdie.data import Normalizer
    path = save_checkpoint(tmp_path / "poria" / "checkpoint", build_model(cfg.model), cfg, Normalizer.fit(ds.train),
                           meta={"dataset": ds.name, "notes": ds.notes})
    p = Predictor.load(path)
    p.warmup()
    support = p.clip_support()
    assert "text-CNN" in support["t"] and "100-d 3D-CNN utterance vectors" in support["v"]
    assert "73-d openSMILE" in support["a"]
    test = p.dataset().test
    [e] = p.predict([test.text_feats[0]], audio=[test.audio[0]], vision=[test.vision[0]])
    assert e.pred == pytest.approx(float(p.predict_split("test").pred[0]), abs=1e-5)
    assert e.used == ["t", "v", "a"] and e.text == ""
    before, after = p.what_if(test.text_feats[0], test.audio[0], test.vision[0], drop={"t"})
    assert after.used == ["v", "a"] and after.alpha[0, T] == 0 and before.pred == pytest.approx(e.pred, abs=1e-5)
    with pytest.raises(ValueError, match="text-CNN vectors, which cannot be computed for typed text"):
        p.predict(["a typed sentence"])
    with pytest.raises(ValueError, match="text features are 384-d but this checkpoint expects 100-d"):
        p.predict([np.zeros((3, 384))])
    clip = ClipFeatures(audio=np.zeros((20, 22), np.float32), vision=np.zeros((10, 15), np.float32), transcript="hi",
                        words=[], duration=2.0, processed_duration=2.0, sample_rate=16000, n_frames=20, fps=10.0,
                        frames_sampled=10, faces_seen=10, asr_used=False, speech_detected=True)
    with pytest.raises(ValueError, match="nothing in this clip can be fed to poria"):
        p.predict_clip(clip)


def test_run_keeps_the_modalities_asked_for(tiny):
    run, p = tiny
    test = run.dataset.test
    preds = p.predict_split("test")
    np.testing.assert_allclose(p.run("test").pred, preds.pred, atol=1e-6)
    text_only = p.run("test", keep="t")
    dropped = p.predict(test.texts, audio=test.audio, vision=test.vision, drop={"v", "a"})  # the same masks, per input
    np.testing.assert_allclose(text_only.pred, [e.pred for e in dropped], atol=1e-5)
    assert (text_only.present == [[True, False, False]] * len(test.texts)).all()
    some = p.run("test", rows=[4, 1], keep="va", features=True)
    assert some.ids == [preds.ids[4], preds.ids[1]] and (some.alpha[:, :, T] == 0).all()
    rows, batches = p.split_batches("test", rows=[4, 1])
    assert list(rows) == [4, 1]
    np.testing.assert_allclose(p.run(batches, keep="va").pred, some.pred, atol=1e-6)
    with pytest.raises(ValueError, match="keep must name modalities"):
        p.run("test", keep="x")


def test_trace_holds_every_stage_of_the_forward_pass(tiny):
    run, p = tiny
    test = run.dataset.test
    [e] = p.predict([test.texts[0]], audio=[test.audio[0]], vision=[test.vision[0]])
    t = p.trace(test.texts[0], test.audio[0], test.vision[0])
    assert t.pred == pytest.approx(e.pred, abs=1e-5) and (t.polarity, t.class7) == (e.polarity, e.class7)
    np.testing.assert_allclose(t.alpha, e.alpha, atol=1e-5)
    np.testing.assert_allclose(t.gates, e.gates, atol=1e-5)
    steps = {"t": len(t.tokens), "v": len(test.vision[0]), "a": len(test.audio[0])}
    assert t.tokens[0] == "[CLS]" and t.tokens[-1] == "[SEP]"
    for m, key in (("t", "Ts"), ("v", "Vs"), ("a", "As")):
        assert t.unimodal[m].shape == t.shared[m].shape == t.private[m].shape == (steps[m], 32)
        # the pooled features the model returns are the means of these real steps
        np.testing.assert_allclose(t.shared[m].mean(0), e.features["decoupled"][key], atol=1e-5)
        np.testing.assert_allclose(t.private[m].mean(0), e.features["decoupled"][key[0] + "d"], atol=1e-5)
    L = sum(steps.values())   # G_s^[0]: the real steps of T_s, V_s, A_s one after the other
    assert t.global_source == ["t"] * steps["t"] + ["v"] * steps["v"] + ["a"] * steps["a"]
    assert len(t.layers) == 2
    for layer in t.layers:
        for m in "tva":
            assert layer.cross_g[m].shape == (L, steps[m]) and layer.cross_x[m].shape == (steps[m], L)
            assert layer.cross2_g[m].shape == (L, steps[m])
            for w in (layer.cross_g[m], layer.cross_x[m], layer.cross2_x[m]):
                np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-5)   # softmax over real keys only
    np.testing.assert_allclose(t.layers[-1].fused, e.features["cmdie"]["G"], atol=1e-5)
    np.testing.assert_allclose(t.layers[-1].private["a"], e.features["cmdie"]["Ad"], atol=1e-5)
    np.testing.assert_allclose(t.layers[-1].enhanced["v"], e.features["cmdie"]["G_V"], atol=1e-5)

    # a dropped modality: no steps, no keys, α = 0, and the reason
    d = p.trace(test.texts[0], test.audio[0], test.vision[0], drop={"a"})
    assert d.used == ["t", "v"] and d.ignored == {"a": "dropped (what-if)"} and d.unimodal["a"].shape == (0, 32)
    assert d.layers[0].cross_g["a"].shape == (steps["t"] + steps["v"], 0) and (d.alpha[:, A] == 0).all()
    # a dataset sample, by row or id: the split's prediction
    preds = p.predict_split("test")
    s = p.trace(split="test", row=preds.ids[3])
    assert s.pred == pytest.approx(float(preds.pred[3]), abs=1e-5) and s.text == preds.texts[3]
    assert p.trace(split="test", row=3).pred == s.pred
    for call, message in ((lambda: p.trace(split="test", row=99), "row must be"),
                          (lambda: p.trace(split="test", row="nope"), "no sample"),
                          (lambda: p.trace("x", split="test", row=0), "not several"),
                          (lambda: p.trace(""), "nothing left to predict from")):
        with pytest.raises(ValueError, match=message):
            call()
