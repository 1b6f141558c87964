"""FD-CMDIE forward pass: shapes, masks, missing modalities, ablation switches (random small inputs)."""
import numpy as np
import pytest
import torch

from fdcmdie.config import ModelConfig
from fdcmdie.data.base import collate
from fdcmdie.model import FDCMDIE, GatedAttentionPooling, masked_mean

DIMS = {"t": 16, "a": 5, "v": 7}


def small_cfg(**kw) -> ModelConfig:
    base = dict(modalities=["t", "v", "a"], text_dim=16, audio_dim=5, vision_dim=7, d=16, n_heads=2, k=2,
                lstm_layers=2, dropout=0.0)
    base.update(kw)
    return ModelConfig(**base)


def make_batch(n=5, seed=0, lengths=None, drop=None):
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        lt, la, lv = lengths[i] if lengths else rng.integers(1, 9, size=3)
        s = {"id": f"s{i}", "text": "x", "label": float(rng.uniform(-3, 3)),
             "text_feats": rng.normal(size=(lt, 16)).astype(np.float32),
             "audio": rng.normal(size=(la, 5)).astype(np.float32),
             "vision": rng.normal(size=(lv, 7)).astype(np.float32)}
        if drop and i in drop:
            for m in drop[i]:
                s[{"a": "audio", "v": "vision"}[m]] = np.zeros((0, DIMS[m]), np.float32)
        samples.append(s)
    return collate(samples, DIMS)


def test_output_shapes_and_alpha():
    torch.manual_seed(0)
    model = FDCMDIE(small_cfg()).eval()
    out = model(make_batch())
    assert out["pred"].shape == (5,)
    assert out["alpha"].shape == (5, 2, 3) and out["gates"].shape == (5, 2, 3)
    torch.testing.assert_close(out["alpha"].sum(-1), torch.ones(5, 2))
    assert ((out["gates"] > 0) & (out["gates"] < 1)).all()
    assert set(out["decoupled"]) == {"Ts", "Vs", "As", "Td", "Vd", "Ad"}
    assert set(out["cmdie"]) == {"G_T", "G_V", "G_A", "Td", "Vd", "Ad", "G"}   # enhanced globals G_{X→G}, X_d^[k], G_s^[k]
    for group in ("decoupled", "cmdie"):
        assert all(v.shape == (5, 16) for v in out[group].values())


def test_padding_does_not_change_outputs():
    """The same sample alone and padded inside a batch of longer samples gives the same outputs."""
    torch.manual_seed(0)
    model = FDCMDIE(small_cfg()).eval()
    lengths = [(3, 2, 4), (9, 12, 10), (6, 1, 8)]
    full = model(make_batch(3, seed=1, lengths=lengths))
    rng_batch = make_batch(3, seed=1, lengths=lengths)
    alone = model(collate([{"id": "s0", "text": "x", "label": 0.0,
                            "text_feats": rng_batch.text[0, :3].numpy(), "audio": rng_batch.audio[0, :2].numpy(),
                            "vision": rng_batch.vision[0, :4].numpy()}], DIMS))
    torch.testing.assert_close(full["pred"][:1], alone["pred"], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(full["alpha"][:1], alone["alpha"], atol=1e-5, rtol=1e-4)


def test_missing_modality_gets_zero_weight_and_finite_prediction():
    torch.manual_seed(0)
    model = FDCMDIE(small_cfg()).eval()
    out = model(make_batch(4, drop={1: ["v"], 2: ["v", "a"]}))
    assert torch.isfinite(out["pred"]).all()
    assert out["present"].tolist() == [[True] * 3, [True, False, True], [True, False, False], [True] * 3]
    assert (out["alpha"][1, :, 1] == 0).all() and (out["alpha"][2, :, 1:] == 0).all()
    torch.testing.assert_close(out["alpha"][2, :, 0], torch.ones(2))
    # a missing modality's features cannot influence the prediction
    b = make_batch(4, drop={1: ["v"]})
    b2 = make_batch(4, drop={1: ["v"]})
    b2.vision[1] = 100.0
    torch.testing.assert_close(model(b)["pred"], model(b2)["pred"])


@pytest.mark.parametrize("switch", [dict(use_cmdie=False), dict(pooling="mean"), dict(cross_att2=False),
                                    dict(global_init="mean"), dict(k=1), dict(modalities=["t"]),
                                    dict(modalities=["t", "a"]), dict(pos_encoding="none")])
def test_ablation_switches_run_and_train(switch):
    torch.manual_seed(0)
    cfg = small_cfg(**switch)
    model = FDCMDIE(cfg)
    batch = make_batch(6)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = (model(batch)["pred"] - batch.label).abs().mean()
        opt.zero_grad(); loss.backward(); opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    out = model.eval()(batch)
    if cfg.use_cmdie:
        assert out["alpha"].shape[-1] == len(cfg.modalities)
        if cfg.pooling == "mean":
            torch.testing.assert_close(out["alpha"], torch.full_like(out["alpha"], 1 / len(cfg.modalities)))
    else:
        assert "alpha" not in out


def test_second_cross_attention_is_a_real_stage():
    with_, without = FDCMDIE(small_cfg()), FDCMDIE(small_cfg(cross_att2=False))
    n = lambda m: sum(p.numel() for p in m.parameters())
    per_stage = sum(p.numel() for p in with_.cmdie[0].dipu["t"].cross2_g.parameters())
    assert n(with_) - n(without) == 2 * 2 * 3 * per_stage  # 2 stages (G, X) × k=2 layers × 3 DIPUs


def test_shared_second_cross_attention_reuses_the_first_ones_keys_and_values():
    """cross_att2_shared: CrossAtt-2 = MultiHead(Q''W^Q, X W^K, X W^V) with W^K, W^V of CrossAtt-1 (eq. 21–22)."""
    torch.manual_seed(0)
    own, shared = FDCMDIE(small_cfg()), FDCMDIE(small_cfg(cross_att2_shared=True))
    n = lambda m: sum(p.numel() for p in m.parameters())
    d, stages = 16, 2 * 2 * 3                                   # (G, X) × k=2 layers × 3 DIPUs
    assert n(own) - n(shared) == stages * 2 * (d * d + d)        # no K/V projections of its own
    dipu = shared.cmdie[0].dipu["a"].eval()
    stage, first = dipu.cross2_g, dipu.cross1_g.attn
    q, kv = torch.randn(3, 4, d), torch.randn(3, 6, d)
    kv_mask = torch.tensor([[True] * 6, [True, True, False, False, False, False], [False] * 6])
    ref = torch.nn.MultiheadAttention(d, 2, batch_first=True).eval()
    with torch.no_grad():                                        # the same attention written with one packed projection
        ref.in_proj_weight.copy_(torch.cat([stage.q_proj.weight, first.in_proj_weight[d:]]))
        ref.in_proj_bias.copy_(torch.cat([stage.q_proj.bias, first.in_proj_bias[d:]]))
        ref.out_proj.load_state_dict(stage.out_proj.state_dict())
    keys = kv_mask.clone()
    keys[2, 0] = True                                            # attendable(): a row without keys reads its first step
    want = stage.norm(ref(q, kv, kv, key_padding_mask=~keys, need_weights=False)[0] + q)
    torch.testing.assert_close(stage(q, kv, kv_mask, first=first), want, atol=1e-5, rtol=1e-4)
    out = shared(make_batch())
    out["pred"].sum().backward()
    assert stage.q_proj.weight.grad is not None and first.in_proj_weight.grad[d:].abs().sum() > 0


def test_gap_matches_equations():
    """GAP on hand-made inputs: α = softmax of the shared score MLP over gated, normalised globals."""
    torch.manual_seed(0)
    gap = GatedAttentionPooling(dim=4, modalities=2, hidden=3)
    gs = [torch.randn(2, 3, 4), torch.randn(2, 3, 4)]
    mask = torch.tensor([[True, True, False], [True, True, True]])
    present = torch.tensor([[True, True], [True, False]])
    fused, gate, alpha = gap(gs, mask, present)
    normed = [gap.norms[m](gs[m]) for m in range(2)]
    g = [torch.sigmoid(gap.gates[m](masked_mean(normed[m], mask))) for m in range(2)]
    s = [gap.score(masked_mean(normed[m] * g[m][:, :, None], mask)) for m in range(2)]
    a0 = torch.softmax(torch.cat(s, 1)[0], 0)
    torch.testing.assert_close(alpha[0], a0)
    torch.testing.assert_close(alpha[1], torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(fused[0], a0[0] * normed[0][0] * g[0][0] + a0[1] * normed[1][0] * g[1][0])
