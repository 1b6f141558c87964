"""Tests for fdcmdie.losses against slow, loop-based references written from docs/MODEL.md §4."""
import math

import numpy as np
import pytest
import torch

from fdcmdie.losses import (build_sample_sets, contrastive_loss, label_to_class, nt_xent_loss,
                            triplet_loss)

KEYS = ("Ts", "Vs", "As", "Td", "Vd", "Ad")
MOD = {"Ts": 0, "Td": 0, "Vs": 1, "Vd": 1, "As": 2, "Ad": 2}


# ---------------------------------------------------------------------------------------------
# slow references: plain Python loops, explicit pair lists, float64 math


def ref_cos(x, y):
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return float(np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y)))


def ref_nt_xent(z, present, pos_idx, neg_idx, tau, denominator):
    zz = {k: v.detach().double().numpy() for k, v in z.items()}
    pres = np.ones((next(iter(zz.values())).shape[0], 3), bool) if present is None else present.numpy()

    def ok(feat):  # feat = (key, row)
        key, row = feat
        return key in zz and bool(pres[row, MOD[key]])

    def s(f1, f2):
        return ref_cos(zz[f1[0]][f1[1]], zz[f2[0]][f2[1]]) / tau

    n = len(pos_idx)
    total = 0.0
    for i in range(n):
        J = [int(j) for j in pos_idx[i] if j >= 0]
        Jn = [int(j) for j in neg_idx[i] if j >= 0]
        P, N = [], []
        # positive, within sample: i and every similar j
        for r in [i] + J:
            P.append((("Ts", r), ("Vs", r)))
            P.append((("Ts", r), ("As", r)))
        # positive, across samples, same modality
        for j in J:
            for X in ("Ts", "Vs", "As"):
                P.append(((X, i), (X, j)))
        # negative, within sample: i and every similar j
        for r in [i] + J:
            for Y in ("Td", "Vd", "Ad"):
                N.append((("Ts", r), (Y, r)))
        # negative, across samples, same modality
        for jn in Jn:
            for X in ("Ts", "Vs", "As"):
                N.append(((X, i), (X, jn)))
        P = [p for p in P if ok(p[0]) and ok(p[1])]
        N = [q for q in N if ok(q[0]) and ok(q[1])]

        li = 0.0
        for pi, (alpha, beta) in enumerate(P):
            if denominator == "standard":
                den = [s(alpha, beta)] + [s(a, g) for (a, g) in N if a == alpha]
            else:  # every pair of P ∪ N with first element alpha, except this positive itself
                den = [s(a, g) for qi, (a, g) in enumerate(P) if a == alpha and qi != pi]
                den += [s(a, g) for (a, g) in N if a == alpha]
                if not den:
                    continue
            li += -s(alpha, beta) + math.log(sum(math.exp(t) for t in den))
        total += li
    return total / n


def ref_triplet(z, present, n, margin):
    zz = {k: v.detach().double().numpy() for k, v in z.items()}
    pres = np.ones((next(iter(zz.values())).shape[0], 3), bool) if present is None else present.numpy()
    ok = lambda key, r: key in zz and bool(pres[r, MOD[key]])
    total = 0.0
    for i in range(n):
        for p in ("Vs", "As"):
            for q in ("Td", "Vd", "Ad"):
                if ok("Ts", i) and ok(p, i) and ok(q, i):
                    d_ap = 1 - ref_cos(zz["Ts"][i], zz[p][i])
                    d_an = 1 - ref_cos(zz["Ts"][i], zz[q][i])
                    total += max(0.0, d_ap - d_an + margin)
    return total / n


def make_batch(seed, B=11, d=6, n=3, m=3, m2=4, dtype=torch.float64, pad=True):
    """Random features; rows 0..n-1 anchors; members drawn (distinct, != anchor) from the other rows."""
    g = torch.Generator().manual_seed(seed)
    z = {k: torch.randn(B, d, generator=g, dtype=dtype) for k in KEYS}
    pos = torch.full((n, m), -1, dtype=torch.long)
    neg = torch.full((n, m2), -1, dtype=torch.long)
    for i in range(n):
        perm = torch.randperm(B - 1, generator=g)[: m + m2]
        perm = perm + (perm >= i).long()          # skip the anchor's own row
        pos[i], neg[i] = perm[:m], perm[m:]
        if pad:  # knock out a few members with -1
            pos[i][torch.rand(m, generator=g) < 0.3] = -1
            neg[i][torch.rand(m2, generator=g) < 0.3] = -1
    return z, pos, neg


# ---------------------------------------------------------------------------------------------
# NT-Xent vs reference


@pytest.mark.parametrize("denominator", ["standard", "paper"])
@pytest.mark.parametrize("seed", range(4))
def test_nt_xent_matches_reference(seed, denominator):
    z, pos, neg = make_batch(seed)
    for tau in (0.5, 0.1):
        got = nt_xent_loss(z, None, pos, neg, tau=tau, denominator=denominator)
        want = ref_nt_xent(z, None, pos, neg, tau, denominator)
        assert abs(got.item() - want) < 1e-5, (got.item(), want)


@pytest.mark.parametrize("denominator", ["standard", "paper"])
@pytest.mark.parametrize("seed", range(4))
def test_nt_xent_missing_modalities(seed, denominator):
    z, pos, neg = make_batch(seed + 10, B=12)
    g = torch.Generator().manual_seed(seed)
    present = torch.rand(12, 3, generator=g) < 0.7
    present[0] = torch.tensor([False, True, True])   # an anchor without text
    got = nt_xent_loss(z, present, pos, neg, tau=0.5, denominator=denominator)
    want = ref_nt_xent(z, present, pos, neg, 0.5, denominator)
    assert abs(got.item() - want) < 1e-5


@pytest.mark.parametrize("denominator", ["standard", "paper"])
def test_nt_xent_visual_absent_from_z(denominator):
    for seed in range(3):
        z, pos, neg = make_batch(seed + 20)
        z = {k: v for k, v in z.items() if k not in ("Vs", "Vd")}
        present = torch.ones(11, 3, dtype=torch.bool)
        present[4, 2] = False
        got = nt_xent_loss(z, present, pos, neg, tau=0.5, denominator=denominator)
        want = ref_nt_xent(z, present, pos, neg, 0.5, denominator)
        assert abs(got.item() - want) < 1e-5
        # present[:, 1] = True must not resurrect the absent keys
        assert got.item() == pytest.approx(nt_xent_loss(z, present, pos, neg, denominator=denominator).item())


def test_nt_xent_float32_and_shapes():
    z, pos, neg = make_batch(3, B=20, n=5, m=4, m2=2, dtype=torch.float32)
    for den in ("standard", "paper"):
        got = nt_xent_loss(z, None, pos, neg, tau=0.5, denominator=den)
        assert got.dtype == torch.float32
        want = ref_nt_xent(z, None, pos, neg, 0.5, den)
        assert got.item() == pytest.approx(want, rel=1e-5, abs=1e-5)
    # no members at all (m = m' = 0): only the within-sample pairs of i remain
    empty = torch.empty(5, 0, dtype=torch.long)
    for den in ("standard", "paper"):
        got = nt_xent_loss(z, None, empty, empty, denominator=den)
        assert got.item() == pytest.approx(ref_nt_xent(z, None, empty, empty, 0.5, den), rel=1e-5)


def test_nt_xent_hand_case():
    """One anchor, no members, standard: 2 positives (Ts,Vs), (Ts,As); denominator + 3 negatives."""
    e = torch.eye(3, dtype=torch.float64)
    z = {"Ts": e[[0]], "Vs": e[[0]], "As": e[[1]], "Td": e[[1]], "Vd": e[[2]], "Ad": -e[[0]]}
    none = torch.empty(1, 0, dtype=torch.long)
    # sims: TV=1, TA=0, TTd=0, TVd=0, TAd=-1; tau = 1
    lse_neg = [0.0, 0.0, -1.0]
    want = sum(-p + math.log(math.exp(p) + sum(math.exp(x) for x in lse_neg)) for p in (1.0, 0.0))
    got = nt_xent_loss(z, None, none, none, tau=1.0)
    assert got.item() == pytest.approx(want, abs=1e-12)
    # paper: the other positive joins the denominator, the positive itself leaves it
    want_p = sum(-p + math.log(math.exp(o) + sum(math.exp(x) for x in lse_neg)) for p, o in ((1.0, 0.0), (0.0, 1.0)))
    got_p = nt_xent_loss(z, None, none, none, tau=1.0, denominator="paper")
    assert got_p.item() == pytest.approx(want_p, abs=1e-12)


def test_nt_xent_no_valid_pairs_is_zero_with_grad():
    z, pos, neg = make_batch(0, dtype=torch.float32)
    z = {k: v.requires_grad_() for k, v in z.items() if k in ("Ts", "Td")}   # text-only model
    none = torch.full((3, 2), -1, dtype=torch.long)
    for den in ("standard", "paper"):
        loss = nt_xent_loss(z, None, none, none, denominator=den)
        assert loss.item() == 0.0 and loss.requires_grad
        loss.backward()
        assert all(torch.isfinite(v.grad).all() for v in z.values())
    # no anchors at all
    empty = torch.empty(0, 2, dtype=torch.long)
    loss = nt_xent_loss(z, None, empty, empty)
    assert loss.item() == 0.0 and loss.requires_grad


def test_gradients_finite_with_masks_and_zero_vectors():
    z, pos, neg = make_batch(5, B=12, dtype=torch.float32)
    z["Vs"][3] = 0.0                                  # a zero pooled vector (e.g. an all-pad modality)
    z = {k: v.requires_grad_() for k, v in z.items()}
    present = torch.ones(12, 3, dtype=torch.bool)
    present[3, 1] = False
    present[1, :] = False                             # an anchor with nothing at all
    for den in ("standard", "paper"):
        loss, parts = contrastive_loss(z, present, pos, neg, tau=0.5, margin=0.5, lambda_tri=0.1,
                                       denominator=den)
        for v in z.values():
            v.grad = None
        loss.backward()
        assert math.isfinite(loss.item())
        assert all(torch.isfinite(v.grad).all() for v in z.values())
        assert set(parts) == {"nt_xent", "triplet", "cl"}


def test_member_index_validation():
    z, pos, neg = make_batch(0)
    bad = pos.clone()
    bad[0, 0] = 0                                     # anchor is its own similar member
    with pytest.raises(ValueError):
        nt_xent_loss(z, None, bad, neg)
    bad = pos.clone()
    bad[1] = torch.tensor([5, 5, -1])                 # duplicate member
    with pytest.raises(ValueError):
        nt_xent_loss(z, None, bad, neg)
    with pytest.raises(ValueError):
        nt_xent_loss(z, None, pos, neg.clamp(max=99) + 100)
    with pytest.raises(ValueError):
        nt_xent_loss(z, None, pos, neg, denominator="other")


# ---------------------------------------------------------------------------------------------
# triplet


def test_triplet_hand_case():
    e = torch.eye(3, dtype=torch.float64)
    # a = e0; p: Vs = e0 (d=0), As = e1 (d=1); n: Td = e0 (d=0), Vd = e1 (d=1), Ad = -e0 (d=2)
    z = {"Ts": e[[0]], "Vs": e[[0]], "As": e[[1]], "Td": e[[0]], "Vd": e[[1]], "Ad": -e[[0]]}
    # hinge(d_ap - d_an + 0.5): p=Vs: 0.5, 0, 0; p=As: 1.5, 0.5, 0  -> 2.5
    assert triplet_loss(z, None, 1, margin=0.5).item() == pytest.approx(2.5)
    # acoustic missing: only the Vs triplets with Td, Vd (Ad missing too) -> 0.5
    present = torch.tensor([[True, True, False]])
    assert triplet_loss(z, present, 1, margin=0.5).item() == pytest.approx(0.5)


@pytest.mark.parametrize("seed", range(3))
def test_triplet_matches_reference(seed):
    z, _, _ = make_batch(seed, B=9)
    present = torch.rand(9, 3, generator=torch.Generator().manual_seed(seed)) < 0.7
    for n in (1, 4, 9):
        got = triplet_loss(z, present, n, margin=0.5)
        assert got.item() == pytest.approx(ref_triplet(z, present, n, 0.5), abs=1e-10)
    zv = {k: v for k, v in z.items() if k not in ("Vs", "Vd")}
    assert triplet_loss(zv, present, 4, margin=0.3).item() == pytest.approx(ref_triplet(zv, present, 4, 0.3), abs=1e-10)


def test_contrastive_loss_combination():
    z, pos, neg = make_batch(7)
    loss, parts = contrastive_loss(z, None, pos, neg, tau=0.5, margin=0.5, lambda_tri=0.1, denominator="paper")
    want = ref_nt_xent(z, None, pos, neg, 0.5, "paper") + 0.1 * ref_triplet(z, None, 3, 0.5)
    assert loss.item() == pytest.approx(want, abs=1e-8)
    assert parts["cl"] == pytest.approx(parts["nt_xent"] + 0.1 * parts["triplet"])


def test_loss_decreases_when_shared_features_pulled_together():
    torch.manual_seed(0)
    z, pos, neg = make_batch(1, B=16, d=8, n=4, m=3, m2=3, dtype=torch.float32, pad=False)
    params = {k: torch.nn.Parameter(v.clone()) for k, v in z.items()}
    opt = torch.optim.SGD(params.values(), lr=0.5)

    def mean_tv_cos():
        return torch.nn.functional.cosine_similarity(params["Ts"], params["Vs"]).mean().item()

    start_loss, start_cos = contrastive_loss(params, None, pos, neg)[0].item(), mean_tv_cos()
    for _ in range(30):
        opt.zero_grad()
        loss, _ = contrastive_loss(params, None, pos, neg)
        loss.backward()
        opt.step()
    end_loss = contrastive_loss(params, None, pos, neg)[0].item()
    assert end_loss < start_loss - 0.5
    assert mean_tv_cos() > start_cos
    # and directly: copying T_s into V_s and A_s (shared features aligned) lowers the NT-Xent
    aligned = dict(z, Vs=z["Ts"].clone(), As=z["Ts"].clone())
    assert nt_xent_loss(aligned, None, pos, neg).item() < nt_xent_loss(z, None, pos, neg).item()


# ---------------------------------------------------------------------------------------------
# sample sets


def test_label_to_class():
    y = torch.tensor([-3.7, -2.5, -0.5, -0.2, 0.0, 0.49, 0.5, 1.5, 2.6, 9.0])
    assert label_to_class(y, 7).tolist() == [0, 1, 3, 3, 3, 3, 3, 5, 6, 6]  # half to even
    assert label_to_class(y, 3).tolist() == [0, 0, 0, 0, 1, 2, 2, 2, 2, 2]
    assert label_to_class(y, 2).tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    with pytest.raises(ValueError):
        label_to_class(y, 5)


def brute_sample_sets(feats, labels, k, classes):
    f = feats.double().numpy()
    cls = label_to_class(labels, classes).tolist()
    N = len(cls)
    sim, diff = [], []
    for i in range(N):
        score = {j: ref_cos(f[i], f[j]) for j in range(N)}
        same = sorted((j for j in range(N) if j != i and cls[j] == cls[i]), key=lambda j: -score[j])
        other = sorted((j for j in range(N) if cls[j] != cls[i]), key=lambda j: score[j])
        sim.append((same[:k] + [-1] * k)[:k])
        diff.append((other[:k] + [-1] * k)[:k])
    return sim, diff


@pytest.mark.parametrize("classes", [7, 3, 2])
def test_build_sample_sets_brute_force(classes):
    g = torch.Generator().manual_seed(classes)
    N = 37
    feats = torch.randn(N, 5, generator=g)
    labels = torch.round(torch.rand(N, generator=g) * 6 - 3, decimals=1)
    labels[:4] = 0.0
    for k in (4, 40):                                  # 40 > N - 1: every row padded with -1
        for block in (1024, 7):                        # one block, and several uneven blocks
            sim, diff = build_sample_sets(feats, labels, k, classes, block_size=block)
            assert sim.shape == diff.shape == (N, k) and sim.dtype == torch.long
            want_sim, want_diff = brute_sample_sets(feats, labels, k, classes)
            assert sim.tolist() == want_sim
            assert diff.tolist() == want_diff


def test_build_sample_sets_small_classes():
    feats = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([1.0, -2.0, 1.2, 1.1, 0.9])   # class 4 x4 and class 1 x1 (7 classes)
    sim, diff = build_sample_sets(feats, labels, 2)
    assert sim[1].tolist() == [-1, -1]                    # nobody else in its class
    assert len(set(diff[1].tolist())) == 2 and set(diff[1].tolist()) <= {0, 2, 3, 4}
    assert diff[0].tolist() == [1, -1]                     # one sample of another class
    assert (sim[[0, 2, 3, 4]] >= 0).all()
