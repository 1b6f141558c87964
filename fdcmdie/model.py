"""FD-CMDIE, read side by side with docs/MODEL.md (§2–6; equation numbers of the paper in comments).

    text ids/states ─ text encoder ─┐
    acoustic frames ─ sLSTM ────────┼─ F_m ─ shared E_s / private E_d^m ─ T_s V_s A_s | T_d V_d A_d
    visual frames ── sLSTM ─────────┘                                      │
                     G_s^[0] = concat_time(T_s, V_s, A_s) ── k × [ DIPU_m(G, X_d) for m ; GAP ] ── G_s^[k]
                     ŷ = MLP([pool G_s^[k]; pool T_d^[k]; pool V_d^[k]; pool A_d^[k]])

Shapes: n batch, l_m time steps of modality m, d model width, M = number of modalities used.
Masks are (n, l) bool with True = real step; a modality missing for a sample has an all-False mask.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .config import ModelConfig
from .data.base import Batch
from .facts import BATCH_FIELD, ENHANCED, PRIVATE, SHARED  # names of the pooled outputs: Ts..Ad, G_T/G_V/G_A (G_{X→G}^[k], eq. 23)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(n, l, d), (n, l) -> (n, d); the pooled vector of an all-masked row is 0 [choice: masked mean]."""
    w = mask.to(x.dtype).unsqueeze(-1)
    return (x * w).sum(1) / w.sum(1).clamp(min=1.0)


def concat_time(seqs: list[torch.Tensor], masks: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate sequences along time with the valid steps of each sample packed to the front, so positions
    (and PE) do not depend on how much padding the batch has: (n, Σl, d), (n, Σl) -> (n, L, d), (n, L)."""
    x, mask = torch.cat(seqs, 1), torch.cat(masks, 1)
    order = torch.sort((~mask).to(torch.int8), dim=1, stable=True).indices      # valid steps first, order kept
    length = int(mask.sum(1).max().clamp(min=1))
    order = order[:, :length]
    return x.gather(1, order[..., None].expand(-1, -1, x.shape[-1])), mask.gather(1, order)


def attendable(mask: torch.Tensor) -> torch.Tensor:
    """Key mask for attention: rows with no valid key get their first step unmasked (their output is ignored
    downstream, by GAP's masked softmax), so attention never produces NaN."""
    mask = mask.clone()
    mask[~mask.any(1), 0] = True
    return mask


# ---------------------------------------------------------------------------------------------------------
# §2 Unimodal feature extraction (eq. 1–3)


class SLSTM(nn.Module):
    """Stacked LSTM over a frame sequence, all time steps kept (eq. 2–3): (n, l, d_in) -> (n, l, d)."""

    def __init__(self, *, dim_in: int, dim: int, layers: int, dropout: float):
        super().__init__()
        self.lstm = nn.LSTM(dim_in, dim, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = mask.sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return out


class TextExtractor(nn.Module):
    """Text branch (eq. 1): optional trainable encoder part, then a linear map d_t -> d.

    ``encoder`` is None (frozen encoder, cached states), ``TopLayers`` (cached states of layer L-n, top n
    layers fine-tuned) or ``FullEncoder`` (token ids, whole encoder fine-tuned).
    """

    def __init__(self, *, dim_in: int, dim: int, encoder: nn.Module | None = None):
        super().__init__()
        self.encoder = encoder
        self.proj = nn.Linear(dim_in, dim) if dim_in != dim else nn.Identity()

    def forward(self, batch: Batch) -> torch.Tensor:
        h = batch.text if batch.text is not None else batch.text_ids
        if self.encoder is not None:
            h = self.encoder(h, batch.text_mask)
        return self.proj(h.float())  # (n, l_t, d)


# ---------------------------------------------------------------------------------------------------------
# §3 Feature decoupling (eq. 4–6)


class DecouplingEncoder(nn.Sequential):
    """E_s (shared, one for all modalities) or E_d^m (private, one per modality):
    LN (eq. 4) → Linear (eq. 5) → Tanh (eq. 6) → Dropout."""

    def __init__(self, *, dim: int, dropout: float):
        super().__init__(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.Tanh(), nn.Dropout(dropout))


# ---------------------------------------------------------------------------------------------------------
# §5 CMDIE: DIPU (eq. 13–24) and GAP (eq. 25–29)


class PositionalEncoding(nn.Module):
    """Sinusoidal PE(x) of the time index, added to the input (eq. 13–14)."""

    def __init__(self, *, dim: int, max_len: int = 4096, kind: str = "sinusoidal"):
        super().__init__()
        if kind not in ("sinusoidal", "none"):
            raise ValueError(f"positional encoding must be 'sinusoidal' or 'none', got {kind!r}")
        pos = torch.arange(max_len).unsqueeze(1)
        div = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
        pe = torch.zeros(max_len, dim)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * div), torch.cos(pos * div)
        self.register_buffer("pe", pe if kind == "sinusoidal" else torch.zeros_like(pe), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] > self.pe.shape[0]:
            raise ValueError(f"sequence of {x.shape[1]} steps exceeds the positional encoding's {self.pe.shape[0]}")
        return x + self.pe[: x.shape[1]]


class AddNormAttention(nn.Module):
    """LN(MultiHeadAttention(Q, K, V) + Q): one attention stage of DIPU (eq. 16–17, 19–22; CrossAtt and SelfAtt themselves: eq. 15, 18).

    Two paths over the same parameters (``attn``, an nn.MultiheadAttention, so every checkpoint loads either way):

    * ``efficient`` (default): the heads go through ``F.scaled_dot_product_attention`` with a boolean key-padding
      mask. Its fused kernels never build the (l_q, l_k) score matrix: on CPU the flash kernel (mask, no dropout),
      on CUDA the memory-efficient kernel (mask and dropout). On CPU with attention dropout active SDPA falls back
      to its math kernel, which does build the matrix; there the queries go in chunks of at most ``chunk_bytes``
      of scores, each recomputed in backward (torch.utils.checkpoint, same dropout masks), so no score matrix is
      kept for backward and at most one chunk's is alive.
    * plain (``efficient=False``, or ``need_weights=True``): nn.MultiheadAttention itself, full score matrices;
      ``need_weights=True`` also returns the attention weights averaged over heads, (n, l_q, l_k).
    """

    chunk_bytes = 32 * 2**20   # score-matrix bytes per query chunk on the CPU dropout path

    def __init__(self, *, dim: int, heads: int, dropout: float, efficient: bool = True):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(dim)
        self.efficient = efficient

    def forward(self, q: torch.Tensor, kv: torch.Tensor, kv_mask: torch.Tensor, *, need_weights: bool = False):
        keys = attendable(kv_mask)
        if self.efficient and not need_weights:
            return self.norm(self.sdpa(q, kv, keys) + q)
        out, weights = self.attn(q, kv, kv, key_padding_mask=~keys, need_weights=need_weights)
        return (self.norm(out + q), weights) if need_weights else self.norm(out + q)

    def sdpa(self, q: torch.Tensor, kv: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """MultiHead(Q, K, V) with nn.MultiheadAttention's weights through SDPA: (n, l_q, d), (n, l_k, d) -> (n, l_q, d)."""
        a, (n, l_q, d) = self.attn, q.shape
        w_q, w_k, w_v = a.in_proj_weight.chunk(3)
        b_q, b_k, b_v = a.in_proj_bias.chunk(3)
        heads = lambda x: x.view(n, x.shape[1], a.num_heads, d // a.num_heads).transpose(1, 2)  # (n, h, l, d/h)
        qh, kh, vh = heads(F.linear(q, w_q, b_q)), heads(F.linear(kv, w_k, b_k)), heads(F.linear(kv, w_v, b_v))
        mask, p = keys[:, None, None, :], (a.dropout if self.training else 0.0)           # mask: True = attend
        attend = lambda qc, k, v: F.scaled_dot_product_attention(qc, k, v, attn_mask=mask, dropout_p=p)
        rows = max(1, self.chunk_bytes // (4 * n * a.num_heads * kh.shape[2]))
        if p == 0.0 or q.is_cuda or not torch.is_grad_enabled():
            out = attend(qh, kh, vh)
        else:
            out = torch.cat([checkpoint(attend, qh[:, :, s: s + rows], kh, vh, use_reentrant=False)
                             for s in range(0, l_q, rows)], 2)
        return a.out_proj(out.transpose(1, 2).reshape(n, l_q, d))


class FeedForward(nn.Module):
    """FFN(x) + x (eq. 23–24)."""

    def __init__(self, *, dim: int, dropout: float, mult: int = 2):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, mult * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(mult * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) + x


class SharedKVCrossAttention(nn.Module):
    """CrossAtt-2 with the keys and values of CrossAtt-1 (``model.cross_att2_shared``). In eq. 21–22 "K_X, V_X and
    K_G, V_G come from the original keys and values of eq. 16–17": K = X W^K, V = X W^V with ``first``'s (CrossAtt-1's)
    weights on the same PE + LN input; only the query projection (Q'' = G'' W^Q) and the output projection are its
    own. Returns LN(MultiHead(Q'', K, V) + G'')."""

    def __init__(self, *, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.q_proj, self.out_proj, self.norm = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.LayerNorm(dim)

    def forward(self, q: torch.Tensor, kv: torch.Tensor, kv_mask: torch.Tensor, *,
                first: nn.MultiheadAttention) -> torch.Tensor:
        (n, l_q, d), h = q.shape, self.heads
        _, w_k, w_v = first.in_proj_weight.chunk(3)
        _, b_k, b_v = first.in_proj_bias.chunk(3)
        heads = lambda x: x.view(n, x.shape[1], h, d // h).transpose(1, 2)              # (n, h, l, d/h)
        out = F.scaled_dot_product_attention(
            heads(self.q_proj(q)), heads(F.linear(kv, w_k, b_k)), heads(F.linear(kv, w_v, b_v)),
            attn_mask=attendable(kv_mask)[:, None, None, :], dropout_p=self.dropout if self.training else 0.0)
        return self.norm(self.out_proj(out.transpose(1, 2).reshape(n, l_q, d)) + q)


class DIPU(nn.Module):
    """Deep Interaction Promotion Unit between the global shared feature G and one private feature X (eq. 13–24).

    Returns (G_{X→G}^[i+1] of G's length, X_d^[i+1] of X's length).
    """

    def __init__(self, *, dim: int, heads: int, dropout: float, cross_att2: bool = True,
                 cross_att2_shared: bool = False, pe: str = "sinusoidal"):
        super().__init__()
        self.pe = PositionalEncoding(dim=dim, kind=pe)
        self.norm_g, self.norm_x = nn.LayerNorm(dim), nn.LayerNorm(dim)
        stage = lambda: AddNormAttention(dim=dim, heads=heads, dropout=dropout)
        self.cross1_g, self.cross1_x = stage(), stage()  # eq. 16–17
        self.self_g, self.self_x = stage(), stage()       # eq. 19–20
        second = (lambda: SharedKVCrossAttention(dim=dim, heads=heads, dropout=dropout)) if cross_att2_shared else stage
        self.cross2_g, self.cross2_x = (second(), second()) if cross_att2 else (None, None)  # eq. 21–22
        self.cross2_shared = cross_att2 and cross_att2_shared
        self.ffn_g, self.ffn_x = FeedForward(dim=dim, dropout=dropout), FeedForward(dim=dim, dropout=dropout)

    def forward(self, g: torch.Tensor, g_mask: torch.Tensor, x: torch.Tensor, x_mask: torch.Tensor):
        g0 = self.norm_g(self.pe(g))                  # G   = LN(G + PE(G))          (eq. 13)
        x0 = self.norm_x(self.pe(x))                  # X   = LN(X + PE(X))          (eq. 14)
        g1 = self.cross1_g(g0, x0, x_mask)            # G'  = LN(CrossAtt(G, X) + G)  (eq. 16)
        x1 = self.cross1_x(x0, g0, g_mask)            # X'  = LN(CrossAtt(X, G) + X)  (eq. 17)
        g2 = self.self_g(g1, g1, g_mask)              # G'' = LN(SelfAtt(G') + G')    (eq. 19)
        x2 = self.self_x(x1, x1, x_mask)              # X'' = LN(SelfAtt(X') + X')    (eq. 20)
        if self.cross2_shared:                        # K, V of eq. 16–17 (same projections of the same G, X)
            g2 = self.cross2_g(g2, x0, x_mask, first=self.cross1_g.attn)   # G'''         (eq. 21)
            x2 = self.cross2_x(x2, g0, g_mask, first=self.cross1_x.attn)   # X'''         (eq. 22)
        elif self.cross2_g is not None:               # second cross-attention re-reads the original G, X
            g2 = self.cross2_g(g2, x0, x_mask)        # G'''                          (eq. 21)
            x2 = self.cross2_x(x2, g0, g_mask)        # X'''                          (eq. 22)
        return self.ffn_g(g2), self.ffn_x(x2)         # G_{X→G}, X_{G→X} = FFN(·) + · (eq. 23–24)


class GatedAttentionPooling(nn.Module):
    """GAP over the enhanced globals G_M (eq. 25–29): per-modality gates g_M, one shared attention MLP, α = softmax.

    ``forward`` takes a list of M sequences (n, l_g, d) sharing ``mask`` and ``present`` (n, M);
    returns G_s^[i+1] (n, l_g, d), gates g (n, M) and weights α (n, M) (α = 0 for a missing modality).
    """

    def __init__(self, *, dim: int, modalities: int, hidden: int = 64):
        super().__init__()
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(modalities))
        self.gates = nn.ModuleList(nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))
                                   for _ in range(modalities))
        self.score = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, gs: list[torch.Tensor], mask: torch.Tensor, present: torch.Tensor):
        normed = [norm(g) for norm, g in zip(self.norms, gs)]                                  # LN(G_M)
        gate = torch.cat([torch.sigmoid(mlp(masked_mean(h, mask))) for mlp, h in zip(self.gates, normed)], 1)  # g_M (eq. 25)
        gated = [h * gate[:, m, None, None] for m, h in enumerate(normed)]                     # G'_M (eq. 26)
        scores = torch.cat([self.score(masked_mean(h, mask)) for h in gated], 1)               # S_M  (eq. 27)
        alpha = torch.softmax(scores.masked_fill(~present, float("-inf")), dim=1)              # α    (eq. 28)
        alpha = torch.nan_to_num(alpha, nan=0.0)                                               # no modality at all
        fused = sum(alpha[:, m, None, None] * h for m, h in enumerate(gated))                  # G_s^[i+1] (eq. 29)
        return fused, gate, alpha


class MeanPooling(nn.Module):
    """Ablation "w/o GAP": the plain mean of the present G_M."""

    def forward(self, gs: list[torch.Tensor], mask: torch.Tensor, present: torch.Tensor):
        w = present.float() / present.float().sum(1, keepdim=True).clamp(min=1)
        fused = sum(w[:, m, None, None] * g for m, g in enumerate(gs))
        return fused, torch.ones_like(w), w


class CMDIELayer(nn.Module):
    """One CMDIE layer: a DIPU per modality, then GAP (or mean) merges the enhanced globals.
    ``checkpoint`` (set by FDCMDIE.set_memory_options) recomputes each DIPU in backward instead of storing it."""

    checkpoint = False

    def __init__(self, *, cfg: ModelConfig):
        super().__init__()
        M = len(cfg.modalities)
        self.dipu = nn.ModuleDict({m: DIPU(dim=cfg.d, heads=cfg.n_heads, dropout=cfg.dropout,
                                           cross_att2=cfg.cross_att2, cross_att2_shared=cfg.cross_att2_shared,
                                           pe=cfg.pos_encoding) for m in cfg.modalities})
        self.pool = GatedAttentionPooling(dim=cfg.d, modalities=M) if cfg.pooling == "gap" else MeanPooling()

    def forward(self, g, g_mask, private: dict, masks: dict, present: torch.Tensor):
        enhanced, new_private = [], {}
        for m, dipu in self.dipu.items():
            if self.checkpoint and torch.is_grad_enabled():   # keep only DIPU's inputs, recompute it in backward
                g_m, new_private[m] = checkpoint(dipu, g, g_mask, private[m], masks[m], use_reentrant=False)
            else:
                g_m, new_private[m] = dipu(g, g_mask, private[m], masks[m])
            enhanced.append(g_m)
        fused, gate, alpha = self.pool(enhanced, g_mask, present)
        return fused, new_private, enhanced, gate, alpha


# ---------------------------------------------------------------------------------------------------------
# The whole model (§2–6)


class FDCMDIE(nn.Module):
    """FD-CMDIE. ``text_encoder`` is the trainable part of the text encoder (see TextExtractor), or None."""

    def __init__(self, cfg: ModelConfig, *, text_encoder: nn.Module | None = None):
        super().__init__()
        self.cfg = cfg
        d, mods = cfg.d, cfg.modalities
        extractors = {"t": lambda: TextExtractor(dim_in=cfg.text_dim, dim=d, encoder=text_encoder),
                      "a": lambda: SLSTM(dim_in=cfg.audio_dim, dim=d, layers=cfg.lstm_layers, dropout=cfg.dropout),
                      "v": lambda: SLSTM(dim_in=cfg.vision_dim, dim=d, layers=cfg.lstm_layers, dropout=cfg.dropout)}
        self.extract = nn.ModuleDict({m: extractors[m]() for m in mods})                      # eq. 1–3
        self.shared = DecouplingEncoder(dim=d, dropout=cfg.dropout)                            # E_s  (eq. 4–6)
        self.private = nn.ModuleDict({m: DecouplingEncoder(dim=d, dropout=cfg.dropout) for m in mods})  # E_d^m (eq. 4–6)
        if cfg.use_cmdie:
            self.cmdie = nn.ModuleList(CMDIELayer(cfg=cfg) for _ in range(cfg.k))
            head_in = d * (1 + len(mods))           # [G_s^[k]; T_d^[k]; V_d^[k]; A_d^[k]] (eq. 30)
        else:
            self.cmdie = None
            head_in = d * 2 * len(mods)            # ablation "w/o CMDIE": pooled shared and private features
        self.head = nn.Sequential(nn.Linear(head_in, d), nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(d, 1))

    def set_memory_options(self, *, attention: str = "efficient", checkpoint_dipu: bool = False) -> "FDCMDIE":
        """How training spends memory, never what the model computes: ``attention`` "efficient" | "plain" (see
        AddNormAttention); ``checkpoint_dipu`` recomputes each DIPU in backward (torch.utils.checkpoint)."""
        for mod in self.modules():
            if isinstance(mod, AddNormAttention):
                mod.efficient = attention == "efficient"
            elif isinstance(mod, CMDIELayer):
                mod.checkpoint = checkpoint_dipu
        return self

    def features(self, batch: Batch) -> tuple[dict, dict]:
        """Extracted sequences F_m (n, l_m, d) and their masks, for the modalities the model uses."""
        feats, masks = {}, {}
        for m in self.cfg.modalities:
            mask = batch.mask(m)
            if mask is None:
                raise ValueError(f"the model uses modality {m!r} but the batch has none")
            feats[m] = self.extract[m](batch) if m == "t" else self.extract[m](getattr(batch, BATCH_FIELD[m]), mask)
            masks[m] = mask
        return feats, masks

    def decouple(self, batch: Batch) -> tuple[dict, dict, dict, dict]:
        """§2–3 only: (pooled outputs, shared sequences, private sequences, masks). Enough for the contrastive
        loss and the sample-set scores, so similar/different members of a step skip CMDIE."""
        mods = self.cfg.modalities
        feats, masks = self.features(batch)
        shared = {m: self.shared(feats[m]) for m in mods}                          # T_s, V_s, A_s (eq. 4–6)
        private = {m: self.private[m](feats[m]) for m in mods}                     # T_d, V_d, A_d (eq. 4–6)
        pooled = lambda seqs: {m: masked_mean(seqs[m], masks[m]) for m in mods}
        out = {"present": torch.stack([masks[m].any(1) for m in mods], 1),         # (n, M)
               "extracted": pooled(feats),                                         # pooled F_m: sample-set scores (§4.1)
               "decoupled": {**{SHARED[m]: v for m, v in pooled(shared).items()},
                             **{PRIVATE[m]: v for m, v in pooled(private).items()}}}
        return out, shared, private, masks

    def forward(self, batch: Batch, members: Batch | None = None) -> dict:
        """Full model on ``batch``; ``members`` (contrastive set members of a training step) only go through
        §2–3 and come back as ``out["members"]``."""
        mods = self.cfg.modalities
        out, shared, private, masks = self.decouple(batch)
        if members is not None:
            out["members"] = self.decouple(members)[0]
        present = out["present"]
        if self.cmdie is None:
            h = torch.cat([out["decoupled"][SHARED[m]] for m in mods] + [out["decoupled"][PRIVATE[m]] for m in mods], 1)
            out["pred"] = self.head(h).squeeze(-1)
            return out
        if self.cfg.global_init == "concat":                                       # G_s^[0] [choice]
            g, g_mask = concat_time([shared[m] for m in mods], [masks[m] for m in mods])
        else:
            g = masked_mean(torch.stack([out["decoupled"][SHARED[m]] for m in mods], 1), present).unsqueeze(1)
            g_mask = present.any(1, keepdim=True)
        gates, alphas = [], []
        for layer in self.cmdie:
            g, private, enhanced, gate, alpha = layer(g, g_mask, private, masks, present)
            gates.append(gate)
            alphas.append(alpha)
        pooled_g = masked_mean(g, g_mask)
        out["cmdie"] = {**{ENHANCED[m]: masked_mean(e, g_mask) for m, e in zip(mods, enhanced)},   # G_{X→G}^[k]
                        **{PRIVATE[m]: masked_mean(private[m], masks[m]) for m in mods}, "G": pooled_g}
        out["gates"] = torch.stack(gates, 1)                                       # (n, k, M)
        out["alpha"] = torch.stack(alphas, 1)                                      # (n, k, M)
        out["pred"] = self.head(torch.cat([pooled_g] + [out["cmdie"][PRIVATE[m]] for m in mods], 1)).squeeze(-1)  # eq. 30
        return out


def build_model(cfg: ModelConfig) -> FDCMDIE:
    """The model with the trainable part of the text encoder copied from the pretrained weights."""
    encoder = None
    if "t" in cfg.modalities and cfg.text_finetune_layers != 0:
        from .text_encoder import FullEncoder, LoraEncoder, TopLayers, encoder_layers, load_encoder, position_bias_of

        _, pretrained = load_encoder(cfg.text_encoder)
        if cfg.text_lora_rank > 0:                   # adapters over every layer, the pretrained weights frozen
            encoder = LoraEncoder(pretrained, rank=cfg.text_lora_rank, alpha=cfg.text_lora_alpha,
                                  dropout=cfg.text_lora_dropout, targets=cfg.text_lora_targets)
            return FDCMDIE(cfg, text_encoder=encoder)
        if cfg.text_finetune_layers < 0:
            encoder = FullEncoder(copy.deepcopy(pretrained))
        else:
            layers = encoder_layers(pretrained)
            if cfg.text_finetune_layers > len(layers):
                raise ValueError(f"text_finetune_layers={cfg.text_finetune_layers} but the encoder has {len(layers)} layers")
            encoder = TopLayers([copy.deepcopy(x) for x in layers[len(layers) - cfg.text_finetune_layers:]],
                                position_bias=position_bias_of(pretrained))
        for p in encoder.parameters():
            p.requires_grad_(True)
    return FDCMDIE(cfg, text_encoder=encoder)
