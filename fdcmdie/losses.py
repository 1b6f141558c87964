"""Contrastive-learning losses of FD-CMDIE (docs/MODEL.md §4, paper §2.3.2, eq. 7-12).

Inputs shared by the training-time functions
--------------------------------------------
z        dict of pooled features (masked mean over time), each (B, d):
         "Ts", "Vs", "As"  shared-encoder outputs of text / visual / acoustic,
         "Td", "Vd", "Ad"  private-encoder outputs.
         A key may be absent (e.g. a text+audio model has no "Vs"/"Vd"): that feature is then
         treated as missing for every sample.
present  (B, 3) bool, modality order [t, v, a]; None = all present. Every pair / triplet that
         involves a missing feature (modality absent for that row, or key absent from z) is dropped.
The batch: rows 0..n-1 are the anchors i; the other rows hold members of their similar /
different sets. pos_idx (n, m) / neg_idx (n, m') are row indices into the batch, -1 = no member.

Everything is vectorised over anchors and members: no Python loop over samples. Losses are
computed in float32 (float64 inputs stay float64).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .facts import FEATURE_SETS, MODALITIES, PRIVATE, SHARED

_MOD_OF_KEY = {key: j for j, m in enumerate(MODALITIES) for key in (SHARED[m], PRIVATE[m])}   # Ts, Td -> 0 (t), ...


# ----------------------------------------------------------------------------------------------
# 4.1  sample sets


def label_to_class(labels: Tensor, classes: int = 7) -> Tensor:
    """Sentiment scores -> class ids (LongTensor), the "same label" of MODEL.md §4 [choice].

    7: round(clip(y, -3, 3)) -> 0..6 (torch.round rounds half to even, like np.round)
    3: sign(y) -> 0 negative / 1 zero / 2 positive
    2: y >= 0 -> 0 negative / 1 non-negative
    """
    y = labels.reshape(-1).float()
    if classes == 7:
        return (torch.round(y.clamp(-3.0, 3.0)) + 3).long()
    if classes == 3:
        return (torch.sign(y) + 1).long()
    if classes == 2:
        return (y >= 0).long()
    raise ValueError(f"classes must be 7, 3 or 2, got {classes}")


@torch.no_grad()
def build_sample_sets(features: Tensor, labels: Tensor, k: int, classes: int = 7,
                      block_size: int = 1024) -> tuple[Tensor, Tensor]:
    """similar_i and different_i for every sample of a (training) set, MODEL.md §4 (eq. 7-8).

    features: (N, D) concatenated pooled extracted features [F_t; F_v; F_a]; labels: (N,).
    Score(i, j) = cosine(features_i, features_j).
    similar_i   = the k samples j != i of the same class with the highest score (best first);
    different_i = the k samples of a different class with the lowest score (lowest first).
    Rows with fewer than k candidates are filled with -1 at the end.
    The N x N score matrix is built `block_size` rows at a time (N=16k: ~65 MB per block).
    Returns (similar, different), each a (N, k) LongTensor on features.device.
    """
    if features.dim() != 2:
        raise ValueError(f"features must be (N, D), got shape {tuple(features.shape)}")
    N = features.shape[0]
    if labels.numel() != N:
        raise ValueError(f"labels has {labels.numel()} elements for {N} feature rows")
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    dev = features.device
    f = F.normalize(features.float(), dim=-1, eps=1e-8)          # (N, D) unit rows
    cls = label_to_class(labels, classes).to(dev)                  # (N,)
    similar = torch.full((N, k), -1, dtype=torch.long, device=dev)
    different = torch.full((N, k), -1, dtype=torch.long, device=dev)
    kk = min(k, N)                                                 # topk needs k <= N
    if kk == 0:
        return similar, different
    slots = torch.arange(kk, device=dev)                           # (kk,)
    for s in range(0, N, block_size):
        e = min(s + block_size, N)
        rows = torch.arange(s, e, device=dev)                      # (b,)
        score = f[s:e] @ f.T                                       # (b, N) cosine
        same = cls[s:e, None] == cls[None, :]                      # (b, N)
        not_self = torch.ones_like(same)
        not_self[torch.arange(e - s, device=dev), rows] = False
        for out, cand, sign in ((similar, same & not_self, 1.0), (different, ~same, -1.0)):
            # highest score (similar) / lowest score (different) among the candidates
            top = (sign * score).masked_fill(~cand, float("-inf")).topk(kk, dim=1)  # sorted
            n_cand = cand.sum(1, keepdim=True)                     # (b, 1)
            out[s:e, :kk] = top.indices.masked_fill(slots[None, :] >= n_cand, -1)
    return similar, different


# ----------------------------------------------------------------------------------------------
# helpers


def _prepare(z: dict[str, Tensor], present: Tensor | None) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Unit-normalised features and per-feature availability.

    Returns u[key]: (B, d) unit vectors (zeros for an absent key), ok[key]: (B,) bool.
    """
    given = [k for k in FEATURE_SETS if k in z]
    if not given:
        raise ValueError(f"z has none of the feature keys {FEATURE_SETS}")
    ref = z[given[0]]
    B, d = ref.shape
    dtype = ref.dtype if ref.dtype in (torch.float32, torch.float64) else torch.float32
    if present is None:
        present = torch.ones(B, 3, dtype=torch.bool, device=ref.device)
    if present.shape != (B, 3):
        raise ValueError(f"present must be (B, 3) = ({B}, 3), got {tuple(present.shape)}")
    present = present.to(device=ref.device, dtype=torch.bool)
    u, ok = {}, {}
    for key in FEATURE_SETS:
        if key in z:
            x = z[key]
            if x.shape != (B, d):
                raise ValueError(f"z[{key!r}] has shape {tuple(x.shape)}, expected ({B}, {d})")
            u[key] = F.normalize(x.to(dtype), dim=-1, eps=1e-8)
            ok[key] = present[:, _MOD_OF_KEY[key]]
        else:
            u[key] = torch.zeros(B, d, dtype=dtype, device=ref.device)
            ok[key] = torch.zeros(B, dtype=torch.bool, device=ref.device)
    return u, ok


def _zero_with_grad(z: dict[str, Tensor]) -> Tensor:
    """A scalar 0 connected to every feature of z (so .backward() works, never NaN)."""
    return sum((z[k].float() * 0).sum() for k in FEATURE_SETS if k in z)


def _check_members(pos_idx: Tensor, neg_idx: Tensor, B: int) -> None:
    for name, idx in (("pos_idx", pos_idx), ("neg_idx", neg_idx)):
        if idx.dim() != 2 or idx.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"{name} must be a 2-D integer tensor, got {idx.dtype} {tuple(idx.shape)}")
        if idx.numel() and (idx.min() < -1 or idx.max() >= B):
            raise ValueError(f"{name} values must lie in [-1, {B}), got [{idx.min()}, {idx.max()}]")
    n = pos_idx.shape[0]
    if neg_idx.shape[0] != n or n > B:
        raise ValueError(f"pos_idx / neg_idx must both have n <= B rows, got "
                         f"{pos_idx.shape[0]} / {neg_idx.shape[0]} for B={B}")
    if pos_idx.numel():
        # Each anchor's similar members must be distinct rows other than the anchor itself:
        # the loss groups denominators by member slot, which equals grouping by feature only then.
        self_ref = pos_idx == torch.arange(n, device=pos_idx.device)[:, None]
        s = pos_idx.sort(dim=1).values
        dup = (s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)
        if self_ref.any() or dup.any():
            raise ValueError("pos_idx rows must hold distinct member rows, none equal to the anchor's own row")


def _masked_logsumexp(x: Tensor, mask: Tensor, dim: int = -1) -> Tensor:
    """logsumexp over the entries where mask is True; -inf where none is (with finite grads)."""
    x, mask = torch.broadcast_tensors(x, mask)
    any_ = mask.any(dim, keepdim=True)
    x = torch.where(mask, x, float("-inf"))
    x = torch.where(any_, x, torch.zeros_like(x))                 # empty rows: a harmless constant
    out = torch.logsumexp(x, dim)
    return torch.where(any_.squeeze(dim), out, float("-inf"))


def _cos_rows(u1: Tensor, u2: Tensor) -> Tensor:
    """Cosine of matching rows of unit vectors: (..., d), (..., d) -> (...)."""
    return (u1 * u2).sum(-1)


def _group_nt_xent(logits: Tensor, valid: Tensor, n_pos: int, denominator: str) -> Tensor:
    """Sum of NT-Xent terms (eq. 9) of the positives of one anchor feature α.

    logits: (..., G) sim(α, ·)/τ over all pairs (α, ·) of P_i ∪ N_i with first element α;
            the first n_pos columns are the positives, the rest the negatives.
    valid:  (..., G) bool, pair kept (no missing feature, no -1 member).
    Term of positive column p: -logits_p + log Σ_{γ ∈ D_p} exp(logits_γ), where
      standard: D_p = {p} ∪ {valid negatives of α};
      paper:    D_p = {valid columns of α} \\ {p}  (term skipped when D_p is empty).
    Returns (...,) the sum over valid positive terms.
    """
    G = logits.shape[-1]
    col = torch.arange(G, device=logits.device)
    own = col[None, :] == torch.arange(n_pos, device=logits.device)[:, None]   # (K, G)
    if denominator == "standard":
        den_mask = (own | (col >= n_pos)[None, :]) & valid[..., None, :]          # (..., K, G)
    elif denominator == "paper":
        den_mask = ~own & valid[..., None, :]                                     # (..., K, G)
    else:
        raise ValueError(f"denominator must be 'standard' or 'paper', got {denominator!r}")
    log_den = _masked_logsumexp(logits[..., None, :], den_mask, dim=-1)          # (..., K)
    use = valid[..., :n_pos] & den_mask.any(-1)                                   # (..., K)
    terms = torch.where(use, log_den - logits[..., :n_pos], torch.zeros_like(log_den))
    return terms.sum(-1)


# ----------------------------------------------------------------------------------------------
# 4.2-4.3  NT-Xent


def nt_xent_loss(z: dict[str, Tensor], present: Tensor | None, pos_idx: Tensor, neg_idx: Tensor, *,
                 tau: float = 0.5, denominator: str = "standard") -> Tensor:
    """mean_i ℓ_NT-Xent^i (eq. 9), ℓ^i a SUM over the positive pairs P_i of anchor i.

    Pairs of anchor i (j ∈ pos_idx[i], j' ∈ neg_idx[i]; MODEL.md §4, eq. 7-8):
      P_i: (T_s^i, V_s^i), (T_s^i, A_s^i), (T_s^j, V_s^j), (T_s^j, A_s^j),
           (T_s^i, T_s^j), (V_s^i, V_s^j), (A_s^i, A_s^j)
      N_i: (T_s^i, T_d^i), (T_s^i, V_d^i), (T_s^i, A_d^i), (T_s^j, T_d^j), (T_s^j, V_d^j), (T_s^j, A_d^j),
           (T_s^i, T_s^j'), (V_s^i, V_s^j'), (A_s^i, A_s^j')
    (the within-sample pairs are taken for the similar members j only, as MODEL.md §4 writes them).
    For a positive (α, β) ∈ P_i the term is -log( exp(sim(α,β)/τ) / Σ_γ exp(sim(α,γ)/τ) ), where
      denominator="standard": γ ∈ {β} ∪ {γ : (α, γ) ∈ N_i}, the negatives sharing the anchor α
                              (α = the first element of the pair as written above);
      denominator="paper":    γ over every pair (α, γ) ∈ P_i ∪ N_i with first element α except
                              (α, β) itself (the paper's "γ ≠ β"); the term is skipped when that
                              set is empty.
    Pairs with a missing feature or a -1 member are dropped before anything else.
    ℓ^i = 0 for an anchor left with no term; the mean is over all n anchors.
    Requires: each pos_idx row holds distinct rows, none equal to the anchor's own row
    (build_sample_sets guarantees it); neg_idx may hold anything in [-1, B).
    """
    if tau <= 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    if denominator not in ("standard", "paper"):
        raise ValueError(f"denominator must be 'standard' or 'paper', got {denominator!r}")
    u, ok = _prepare(z, present)
    B = u["Ts"].shape[0]
    _check_members(pos_idx, neg_idx, B)
    n = pos_idx.shape[0]
    if n == 0:
        return _zero_with_grad(z)
    pos_idx, neg_idx = pos_idx.long().to(u["Ts"].device), neg_idx.long().to(u["Ts"].device)
    vp, J = pos_idx >= 0, pos_idx.clamp(min=0)                     # (n, m)
    vn, Jn = neg_idx >= 0, neg_idx.clamp(min=0)                    # (n, m')
    Ts, Vs, As, Td, Vd, Ad = (u[k] for k in FEATURE_SETS)
    oTs, oVs, oAs, oTd, oVd, oAd = (ok[k] for k in FEATURE_SETS)

    # within-sample pairs of every batch row r (anchor T_s^r)
    w_pos = torch.stack([_cos_rows(Ts, Vs), _cos_rows(Ts, As)], -1) / tau              # (B, 2)
    w_pos_ok = torch.stack([oTs & oVs, oTs & oAs], -1)                                  # (B, 2)
    w_neg = torch.stack([_cos_rows(Ts, Td), _cos_rows(Ts, Vd), _cos_rows(Ts, Ad)], -1) / tau  # (B, 3)
    w_neg_ok = torch.stack([oTs & oTd, oTs & oVd, oTs & oAd], -1)                       # (B, 3)

    # across-sample pairs, same modality: (X_s^i, X_s^j) and (X_s^i, X_s^j')
    def across(X: Tensor, oX: Tensor, idx: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        logit = torch.einsum("nd,nmd->nm", X[:n], X[idx]) / tau                         # (n, m)
        return logit, v & oX[:n, None] & oX[idx]

    (tp, tp_ok), (tn, tn_ok) = across(Ts, oTs, J, vp), across(Ts, oTs, Jn, vn)
    (vp_, vp_ok), (vn_, vn_ok) = across(Vs, oVs, J, vp), across(Vs, oVs, Jn, vn)
    (ap, ap_ok), (an, an_ok) = across(As, oAs, J, vp), across(As, oAs, Jn, vn)

    # anchor α = T_s^i: positives [TV_i, TA_i, TT_ij], negatives [TTd_i, TVd_i, TAd_i, TT_ij']
    m = J.shape[1]
    g_t = torch.cat([w_pos[:n], tp, w_neg[:n], tn], 1)                                  # (n, 5+m+m')
    g_t_ok = torch.cat([w_pos_ok[:n], tp_ok, w_neg_ok[:n], tn_ok], 1)
    loss = _group_nt_xent(g_t, g_t_ok, 2 + m, denominator)                              # (n,)
    # anchors α = V_s^i and α = A_s^i: positives [XX_ij], negatives [XX_ij']
    loss = loss + _group_nt_xent(torch.cat([vp_, vn_], 1), torch.cat([vp_ok, vn_ok], 1), m, denominator)
    loss = loss + _group_nt_xent(torch.cat([ap, an], 1), torch.cat([ap_ok, an_ok], 1), m, denominator)
    # anchors α = T_s^j of each similar member: positives [TV_j, TA_j], negatives [TTd_j, TVd_j, TAd_j]
    g_j = torch.cat([w_pos[J], w_neg[J]], -1)                                           # (n, m, 5)
    g_j_ok = torch.cat([w_pos_ok[J], w_neg_ok[J]], -1) & vp[..., None]
    loss = loss + _group_nt_xent(g_j, g_j_ok, 2, denominator).sum(1)
    return loss.mean()                                         # ℓ^i summed over P_i, mean over i


# ----------------------------------------------------------------------------------------------
# 4.4  triplet


def triplet_loss(z: dict[str, Tensor], present: Tensor | None, n_anchors: int, *,
                 margin: float = 0.5) -> Tensor:
    """mean_i ℓ_Tri^i over the anchor rows i < n_anchors (eq. 10-11).

    a = T_s^i, p ∈ {V_s^i, A_s^i}, n ∈ {T_d^i, V_d^i, A_d^i} (6 triplets), d(x, y) = 1 - cos(x, y),
    ℓ_Tri^i = Σ max(0, d(a, p) - d(a, n) + margin) over the triplets whose three features exist.
    The mean is over all n_anchors rows (ℓ^i = 0 when no triplet survives).
    """
    u, ok = _prepare(z, present)
    n = int(n_anchors)
    if not 0 <= n <= u["Ts"].shape[0]:
        raise ValueError(f"n_anchors must be in [0, B], got {n}")
    if n == 0:
        return _zero_with_grad(z)
    a = u["Ts"][:n]                                                                    # (n, d)
    d_ap = 1 - torch.stack([_cos_rows(a, u[k][:n]) for k in ("Vs", "As")], 1)         # (n, 2)
    d_an = 1 - torch.stack([_cos_rows(a, u[k][:n]) for k in ("Td", "Vd", "Ad")], 1)   # (n, 3)
    hinge = F.relu(d_ap[:, :, None] - d_an[:, None, :] + margin)                      # (n, 2, 3)
    p_ok = torch.stack([ok[k][:n] for k in ("Vs", "As")], 1)                          # (n, 2)
    n_ok = torch.stack([ok[k][:n] for k in ("Td", "Vd", "Ad")], 1)                    # (n, 3)
    valid = ok["Ts"][:n, None, None] & p_ok[:, :, None] & n_ok[:, None, :]           # (n, 2, 3)
    per_anchor = torch.where(valid, hinge, torch.zeros_like(hinge)).sum((1, 2))       # (n,)
    return per_anchor.mean()


# ----------------------------------------------------------------------------------------------
# 4.5  total contrastive loss


def contrastive_loss(z: dict[str, Tensor], present: Tensor | None, pos_idx: Tensor, neg_idx: Tensor, *,
                     tau: float = 0.5, margin: float = 0.5, lambda_tri: float = 0.1,
                     denominator: str = "standard") -> tuple[Tensor, dict[str, float]]:
    """L_cl = mean_i ℓ_NT-Xent^i + λ_Tri · mean_i ℓ_Tri^i (eq. 12).

    The anchors are the first n = pos_idx.shape[0] rows of the batch.
    Returns (L_cl, {"nt_xent": float, "triplet": float, "cl": float}) — the parts for logging.
    """
    l_nt = nt_xent_loss(z, present, pos_idx, neg_idx, tau=tau, denominator=denominator)
    l_tri = triplet_loss(z, present, pos_idx.shape[0], margin=margin)
    l_cl = l_nt + lambda_tri * l_tri
    parts = {"nt_xent": float(l_nt.detach()), "triplet": float(l_tri.detach()), "cl": float(l_cl.detach())}
    return l_cl, parts
