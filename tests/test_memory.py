"""Memory: the SDPA attention path equals the plain one, DIPU checkpointing changes nothing, the shape-based
estimate matches what autograd keeps, and the pre-flight check refuses a run over its budget (fdcmdie/memory.py)."""
from __future__ import annotations

import re

import pytest
import torch

from fdcmdie import model as model_module
from fdcmdie.config import load_config
from fdcmdie.data.base import Batch
from fdcmdie.memory import GB, MemoryBudgetError, Shapes, activation_values, estimate, preflight, rss_bytes
from fdcmdie.model import AddNormAttention, FDCMDIE
from mmsa_fixture import make_mmsa_pickle

TOL = 1e-5


def _masks(n: int, l: int) -> torch.Tensor:
    """Key masks with padding of different lengths and one sample with no valid key (modality missing)."""
    mask = torch.ones(n, l, dtype=torch.bool)
    mask[1, l // 2:] = False
    mask[2, 1:] = False
    mask[3] = False
    return mask


def _grads(out: torch.Tensor, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    return torch.autograd.grad((out * torch.linspace(-1, 1, out.shape[-1])).square().sum(), tensors)


@pytest.mark.parametrize("self_attention", [False, True])
@pytest.mark.parametrize("training", [False, True])
def test_sdpa_path_equals_plain_forward_and_gradients(self_attention, training):
    torch.manual_seed(0)
    att = AddNormAttention(dim=16, heads=4, dropout=0.0 if training else 0.3).train(training)
    q = torch.randn(5, 7, 16, requires_grad=True)
    kv = q if self_attention else torch.randn(5, 11, 16, requires_grad=True)
    mask = _masks(5, kv.shape[1])
    leaves = [q] + ([] if self_attention else [kv]) + list(att.parameters())
    results = {}
    for efficient in (True, False):
        att.efficient = efficient
        out = att(q, kv, mask)
        results[efficient] = (out, _grads(out, leaves))
    (o1, g1), (o2, g2) = results[True], results[False]
    assert torch.isfinite(o1).all()
    assert (o1 - o2).abs().max() < TOL
    for a, b in zip(g1, g2):
        assert (a - b).abs().max() < TOL


def test_weights_are_returned_when_asked():
    torch.manual_seed(0)
    att = AddNormAttention(dim=16, heads=4, dropout=0.1).eval()
    q, kv, mask = torch.randn(4, 6, 16), torch.randn(4, 9, 16), _masks(4, 9)
    out, weights = att(q, kv, mask, need_weights=True)
    assert weights.shape == (4, 6, 9)
    torch.testing.assert_close(weights.sum(-1), torch.ones(4, 6))
    assert (weights[1, :, 9 // 2:] == 0).all() and (weights[2, :, 1:] == 0).all()   # padding gets no weight
    torch.testing.assert_close(out, att(q, kv, mask), atol=TOL, rtol=0)             # same output as the SDPA path


def test_cpu_dropout_path_chunks_and_recomputes_the_same_masks(monkeypatch):
    """Training with attention dropout on CPU: query chunks, each recomputed in backward with the same dropout
    mask, so the gradients equal those of the same chunks kept in memory."""
    torch.manual_seed(0)
    att = AddNormAttention(dim=16, heads=4, dropout=0.3).train()
    att.chunk_bytes = 4 * 5 * 4 * 11 * 3      # 3 query rows per chunk: 7 queries -> 3 chunks
    q, kv, mask = torch.randn(5, 7, 16, requires_grad=True), torch.randn(5, 11, 16, requires_grad=True), _masks(5, 11)
    leaves = [q, kv, *att.parameters()]
    calls = []
    real = model_module.checkpoint

    def counting(fn, *args, **kw):
        calls.append(args[0].shape[2])
        return real(fn, *args, **kw)

    monkeypatch.setattr(model_module, "checkpoint", counting)
    torch.manual_seed(1)
    out = att(q, kv, mask)
    g_ckpt = _grads(out, leaves)
    assert calls == [3, 3, 1]
    monkeypatch.setattr(model_module, "checkpoint", lambda fn, *args, **kw: fn(*args))   # same chunks, stored
    torch.manual_seed(1)
    ref = att(q, kv, mask)
    g_ref = _grads(ref, leaves)
    assert (out - ref).abs().max() < TOL
    for a, b in zip(g_ckpt, g_ref):
        assert (a - b).abs().max() < TOL
    assert (out - att.eval()(q, kv, mask)).abs().max() > 1e-3   # dropout was applied in training


def _cfg(mods="t,v,a", extra=()):
    return load_config("configs/mosi.yaml", [f"model.modalities=[{mods}]", "model.audio_dim=5", "model.vision_dim=20",
                                             "model.text_dim=32", "model.d=32", "model.k=2", *extra])


def _batch(n=4, lt=6, la=9, lv=12, missing=True) -> Batch:
    g = torch.Generator().manual_seed(3)
    ones = lambda l: torch.ones(n, l, dtype=torch.bool)
    b = Batch(ids=[str(i) for i in range(n)], texts=[""] * n, label=torch.randn(n, generator=g),
              text=torch.randn(n, lt, 32, generator=g), text_mask=ones(lt), audio=torch.randn(n, la, 5, generator=g),
              audio_mask=ones(la), vision=torch.randn(n, lv, 20, generator=g), vision_mask=ones(lv))
    b.audio_mask[1, 4:] = False
    b.text_mask[2, 3:] = False
    if missing:
        b.vision_mask[0] = False       # sample 0 has no face
    return b


def _step(model: FDCMDIE, batch: Batch, seed: int):
    torch.manual_seed(seed)
    out = model(batch)
    loss = (out["pred"] - batch.label).abs().mean() + out["decoupled"]["Ts"].square().mean()
    model.zero_grad()
    loss.backward()
    return out["pred"].detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("attention", ["efficient", "plain"])
def test_dipu_checkpointing_changes_nothing(attention):
    """Same seed, training mode with dropout: predictions and every gradient agree with checkpointing on/off."""
    cfg = _cfg()
    torch.manual_seed(0)
    model = FDCMDIE(cfg.model).train()
    batch = _batch()
    base = _step(model.set_memory_options(attention=attention, checkpoint_dipu=False), batch, seed=5)
    ckpt = _step(model.set_memory_options(attention=attention, checkpoint_dipu=True), batch, seed=5)
    assert (base[0] - ckpt[0]).abs().max() < TOL
    assert base[1].keys() == ckpt[1].keys() and len(base[1]) > 50
    for name in base[1]:
        assert (base[1][name] - ckpt[1][name]).abs().max() < TOL, name


def test_whole_model_sdpa_equals_plain_in_eval():
    cfg = _cfg()
    torch.manual_seed(0)
    model = FDCMDIE(cfg.model).eval()
    batch = _batch()
    eff = _step(model.set_memory_options(attention="efficient"), batch, seed=0)
    plain = _step(model.set_memory_options(attention="plain"), batch, seed=0)
    assert (eff[0] - plain[0]).abs().max() < TOL
    for name in eff[1]:
        assert (eff[1][name] - plain[1][name]).abs().max() < TOL, name


def _saved_bytes(model: FDCMDIE, batch: Batch) -> int:
    """Bytes of the (non-parameter) storages autograd keeps for backward in one forward."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t):
        s = t.untyped_storage()
        if s.data_ptr() not in params:
            seen[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(batch)
    return sum(seen.values())


@pytest.mark.parametrize("mods,attention,checkpoint", [("t,v,a", "efficient", False), ("t,v,a", "plain", False),
                                                        ("t,a", "efficient", False), ("t,v,a", "efficient", True)])
def test_estimate_counts_what_autograd_keeps(mods, attention, checkpoint):
    """The shape-based count of saved activations is within 15 % of the bytes autograd really keeps."""
    cfg = load_config("configs/mosi.yaml", [f"model.modalities=[{mods}]", "model.audio_dim=5", "model.vision_dim=20",
                                            "model.text_dim=384", "loss.contrastive=false"])
    torch.manual_seed(0)
    model = FDCMDIE(cfg.model).train().set_memory_options(attention=attention, checkpoint_dipu=checkpoint)
    n, lt, la, lv = 2, 24, 60, 90
    ones = lambda l: torch.ones(n, l, dtype=torch.bool)
    batch = Batch(ids=["a", "b"], texts=["", ""], label=torch.zeros(n), text=torch.randn(n, lt, 384), text_mask=ones(lt),
                  audio=torch.randn(n, la, 5), audio_mask=ones(la), vision=torch.randn(n, lv, 20), vision_mask=ones(lv))
    used = {"t": lt, "v": lv, "a": la}
    lengths = {m: used[m] for m in cfg.model.modalities}
    lengths["G"] = sum(lengths.values())
    saved, _ = activation_values(cfg, lengths, n, attention=attention, checkpoint=checkpoint)
    counted = _saved_bytes(model, batch)
    assert abs(saved * 4 - counted) / counted < 0.15, (saved * 4, counted)


SHAPES = Shapes.full({"t": 50, "v": 500, "a": 375}, n=64)   # unaligned MOSI at MMSA's lengths


def _mmsa_cfg(*extra):
    return load_config("configs/mosi.yaml", ["data.source=mmsa", "data.path=x.pkl", "model.modalities=[t,v,a]",
                                             "model.audio_dim=5", "model.vision_dim=20", *extra])


def test_estimate_grows_with_batch_and_shrinks_with_each_switch():
    cfg = _mmsa_cfg()
    kw = {"base_bytes": 0.5 * GB, "trainable_params": 500_000}
    peak = lambda **o: estimate(cfg, SHAPES, **kw, **o).peak
    assert peak(batch=8) < peak(batch=16) < peak(batch=32)
    assert peak(attention="efficient") < peak(attention="plain") / 3
    assert peak(checkpoint=True) < peak(checkpoint=False)
    assert estimate(cfg, SHAPES.shortened(stride=4), **kw).peak < peak()
    assert estimate(cfg, SHAPES, **kw, world=4).peak < peak()      # each data-parallel process takes a shard
    assert SHAPES.longest() == {"t": 50, "v": 500, "a": 375, "G": 925}
    assert SHAPES.shortened(stride=4, max_frames=100).longest() == {"t": 50, "v": 100, "a": 94, "G": 244}


def test_preflight_refuses_over_budget_and_names_what_fits():
    cfg = _mmsa_cfg("train.attention=plain")
    kw = {"device": "cpu", "trainable_params": 500_000}
    full = preflight(_mmsa_cfg("train.attention=plain", "train.memory_budget_gb=1000"), SHAPES, **kw)[0].peak
    budget = full / GB / 2
    cfg.train.memory_budget_gb = budget
    with pytest.raises(MemoryBudgetError) as err:
        preflight(cfg, SHAPES, **kw)
    msg = str(err.value)
    assert isinstance(err.value, ValueError)                              # the CLI prints it without traceback
    assert f"{full / GB:.2f} GB" in msg and f"budget is {budget:.1f} GB" in msg
    assert "--set train.attention=efficient" in msg and "--set train.batch_size=" in msg
    size = int(re.search(r"train\.batch_size=(\d+) \(", msg).group(1))   # the batch size it names does fit
    cfg.train.batch_size = size
    est, limit, _ = preflight(cfg, SHAPES, **kw)
    assert est.peak <= limit == budget * GB
    cfg.train.batch_size, cfg.train.memory_budget_gb = 32, full / GB * 1.01  # just over the estimate: accepted
    assert preflight(cfg, SHAPES, **kw)[0].peak == pytest.approx(full)


def test_default_budget_is_the_memory_available():
    cfg = _mmsa_cfg()
    est, limit, what = preflight(cfg, Shapes.full({"t": 50, "v": 50, "a": 50}, n=64), device="cpu",
                                 trainable_params=500_000)
    assert what.startswith("RAM") and est.peak < limit < 1e14


def test_config_validates_memory_fields():
    with pytest.raises(ValueError, match="train.attention"):
        _mmsa_cfg("train.attention=flash")
    with pytest.raises(ValueError, match="memory_budget_gb"):
        _mmsa_cfg("train.memory_budget_gb=-1")
    with pytest.raises(ValueError, match="frame_stride"):
        _mmsa_cfg("data.frame_stride=0")
    with pytest.raises(ValueError, match="data.source=mmsa"):
        load_config("configs/mosi.yaml", ["data.max_frames=100"])


def test_cli_stops_before_training_with_one_message(tmp_path, capsys):
    """`python -m fdcmdie train` on unaligned MOSI over budget: exit 2, one line naming the fix, no run folder."""
    from fdcmdie.__main__ import main

    pkl = make_mmsa_pickle(tmp_path / "unaligned_50.pkl", dataset="mosi", aligned=False, n=(40, 8, 8))
    cli = lambda attention: ["train", "--config", "configs/mosi.yaml", "--no-progress", "--set", "data.source=mmsa",
                             "--set", f"data.path={pkl}", "--set", "model.modalities=[t,v,a]",
                             "--set", f"train.attention={attention}", "--out", str(tmp_path / "run")]
    budget = round(rss_bytes() / GB + 6.0, 1)     # 6 GB above what this process holds: too little for plain attention
    assert main(cli("plain") + ["--set", f"train.memory_budget_gb={budget}"]) == 2
    stderr = capsys.readouterr().err
    err = stderr.strip().splitlines()[-1]          # (above it, only the text encoder's loading bar)
    assert err.startswith("error: this run would not fit in memory: estimated peak")
    assert "Traceback" not in stderr and f"budget is {budget:.1f} GB" in err
    assert "Would fit: --set train.attention=efficient" in err
    assert not (tmp_path / "run").exists()
    assert main(cli("efficient") + ["--dry-run"]) == 0             # the default budget (RAM available) fits
    out = capsys.readouterr().out
    assert "memory: estimated peak" in out and re.search(r"lengths t/v/a \d+/500/375", out)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_unaligned_with_checkpointing_under_accelerate_matches_one_process(tmp_path):
    """The memory switches work data-parallel: `accelerate launch` (2 CPU processes) on unaligned MOSI with
    train.checkpoint_dipu=true trains like one process (DDP averages the shards' gradients)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    pkl = make_mmsa_pickle(tmp_path / "unaligned_50.pkl", dataset="mosi", aligned=False, n=(32, 8, 8))
    args = ["-m", "fdcmdie", "train", "--config", "configs/mosi.yaml", "--no-progress", "--set", "data.source=mmsa",
            "--set", f"data.path={pkl}", "--set", "model.modalities=[t,v,a]", "--set", "train.checkpoint_dipu=true",
            "--set", "model.d=32", "--set", "model.n_heads=2", "--set", "model.k=1", "--set", "model.dropout=0.0",
            "--set", "model.lstm_layers=1", "--set", "train.epochs=1", "--set", "train.batch_size=16",
            "--set", "loss.members_per_step=1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = subprocess.run([sys.executable, *args, "--out", str(tmp_path / "one")], capture_output=True, text=True,
                            timeout=900, env=env)
    assert single.returncode == 0, single.stderr[-3000:]
    launcher = Path(sys.executable).with_name("accelerate")
    ddp = subprocess.run([str(launcher), "launch", "--cpu", "--num_processes", "2", "--num_machines", "1",
                          "--mixed_precision", "no", "--dynamo_backend", "no", *args, "--out", str(tmp_path / "ddp")],
                         capture_output=True, text=True, timeout=900, env=env)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    read = lambda p: [json.loads(line) for line in (p / "log.jsonl").read_text().splitlines()]
    a, b = read(tmp_path / "one"), read(tmp_path / "ddp")
    mem_a, mem_b = (next(r for r in log if r["event"] == "memory") for log in (a, b))
    assert mem_a["checkpoint_dipu"] and mem_b["batch"] == 16 and mem_b["peak_gb"] < mem_a["peak_gb"] + 0.5
    assert b[-1]["valid"]["mae"] == pytest.approx(a[-1]["valid"]["mae"], abs=2e-3)
    assert b[-1]["test"]["mae"] == pytest.approx(a[-1]["test"]["mae"], abs=2e-3)
