"""Every stage of the forward pass for one input (:meth:`Predictor.trace`), for the model-anatomy view.

One forward pass of the checkpoint's model, with hooks that record what the model computes but does not return:
the inputs and outputs of each CMDIE layer and the attention weights of each DIPU's cross-attention. The weights are
those of ``nn.MultiheadAttention`` on the very inputs of the stage (averaged over heads; the model's fast path never
builds them). Hooks record only the calls of the tracing thread, so other threads may use the model meanwhile.

Sequences keep their real time steps only (a missing modality has none). Time steps of the global feature G: with
``model.global_init = "concat"`` G_s^[0] is the real steps of T_s, V_s, A_s one after the other, so
``Trace.global_source`` names the modality each step came from; with ``"mean"`` G has one step ("mean").

This is the one ``Trace`` of the project: the model-anatomy view (:mod:`fdcmdie.explain.anatomy` and the app's
anatomy tab) reads it as it is, through the labels below (``steps``, ``global_steps``, ``LayerTrace.attention``).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import torch

from ..data.base import Batch
from ..facts import class7, polarity
from ..model import AddNormAttention, CMDIELayer, attendable, masked_mean


LETTER = {"t": "T", "v": "V", "a": "A"}   # the paper's letter of each modality (T_s, V_d, …)


def clean_token(token: str) -> str:
    """A token as a reader sees it: without the word-start marks of byte-level BPE (Ġ) and SentencePiece (▁)."""
    return token.replace("Ġ", "").replace("\u2581", "") or token


@dataclass
class LayerTrace:
    """One CMDIE layer i (MODEL.md §5): a DIPU per modality, then GAP. ``L`` is the number of steps of G, ``l_m`` of
    modality m; attention weights are averaged over heads, each row (one query step) sums to 1 over the real keys
    (a modality that is missing has no rows and no keys)."""

    cross_g: dict[str, np.ndarray]    # m -> (L, l_m): CrossAtt(G, X_m) of eq. 16, G's steps attending to X_m's (X→G)
    cross_x: dict[str, np.ndarray]    # m -> (l_m, L): CrossAtt(X_m, G) of eq. 17, X_m's steps attending to G's (G→X)
    cross2_g: dict[str, np.ndarray]   # m -> (L, l_m): CrossAtt-2 of eq. 21 ({} without it or with shared K/V)
    cross2_x: dict[str, np.ndarray]   # m -> (l_m, L): CrossAtt-2 of eq. 22
    self_g: dict[str, np.ndarray]     # m -> (L, L): SelfAtt(G') of eq. 19
    self_x: dict[str, np.ndarray]     # m -> (l_m, l_m): SelfAtt(X') of eq. 20
    enhanced: dict[str, np.ndarray]   # m -> (d,) G_{X→G}^[i+1] pooled over G's steps (eq. 23)
    private: dict[str, np.ndarray]    # m -> (d,) X_d^[i+1] pooled over X_m's steps (eq. 24)
    gates: np.ndarray                 # (M,) GAP gates g_m (eq. 25)
    alpha: np.ndarray                 # (M,) GAP weights α_m (eq. 28); 0 for a missing modality
    fused: np.ndarray                 # (d,) G_s^[i+1] pooled over G's steps (eq. 29)

    @property
    def attention(self) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
        """``attention[m][which]`` = (to_global, to_modality) for which = "cross1", "self" and (when read) "cross2":
        ``to_global`` rows are G's steps (queries), columns X_m's steps (keys): X→G; ``to_modality`` is G→X. For
        "self" the pair is (G' over G', X' over X')."""
        out = {}
        for m in self.cross_g:
            out[m] = {"cross1": (self.cross_g[m], self.cross_x[m]), "self": (self.self_g[m], self.self_x[m])}
            if m in self.cross2_g:
                out[m]["cross2"] = (self.cross2_g[m], self.cross2_x[m])
        return out


@dataclass
class Trace:
    """The forward pass of one input, stage by stage (modality order: the checkpoint's, a subset of t, v, a)."""

    modalities: list[str]
    present: list[bool]                   # which of them this input had
    text: str                             # the transcript read ("" when the text is a feature array)
    tokens: list[str] | None              # the text's token per text step, when the text path reads words
    unimodal: dict[str, np.ndarray]       # m -> (l_m, d) F_m, the extracted features (eq. 1–3)
    shared: dict[str, np.ndarray]         # m -> (l_m, d) T_s / V_s / A_s, shared encoder E_s (eq. 4–6)
    private: dict[str, np.ndarray]        # m -> (l_m, d) T_d / V_d / A_d, private encoders E_d^m (eq. 4–6)
    decoupled: dict[str, np.ndarray]      # Ts..Ad -> (d,) the same, pooled over the real steps
    global_source: list[str]              # (L,) the modality each step of G_s^[0] came from ("mean": one step)
    layers: list[LayerTrace]              # one per CMDIE layer ([] for the ablation without CMDIE)
    pred: float                           # ŷ (eq. 30)
    polarity: str
    class7: int
    used: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)   # modality -> why it was not used
    label: float | None = None            # the annotators' score (a dataset sample)
    sample_id: str | None = None          # the dataset sample's id

    @property
    def steps(self) -> dict[str, list[str]]:
        """A label per real step of each modality: the text's tokens as a reader sees them (when the text path reads
        words), "V1", "V2", … / "A1", … otherwise."""
        labels = {m: [f"{LETTER[m]}{j + 1}" for j in range(len(self.shared[m]))] for m in self.modalities}
        if "t" in labels and self.tokens is not None and len(self.tokens) == len(labels["t"]):
            labels["t"] = [clean_token(tok) for tok in self.tokens]
        return labels

    @property
    def global_steps(self) -> list[str]:
        """A label per step of G_s^[0]: "T·<step>", … the shared sequences one after another, or ["G"] (mean)."""
        if self.global_source == ["mean"]:
            return ["G"]
        steps = self.steps
        return [f"{LETTER[m]}·{s}" for m in self.modalities for s in steps[m]]   # concat_time keeps T, V, A order

    @property
    def notes(self) -> list[str]:
        """What the trace could not read, in words (for the anatomy view)."""
        notes = []
        if self.global_source == ["mean"]:
            notes.append("G_s^[0] is the mean of the shared vectors (global_init = mean): one global step")
        if self.layers and not self.layers[0].cross2_g:
            notes.append("cross2: this DIPU variant does not expose its attention weights (no CrossAtt-2, or "
                         "CrossAtt-2 on CrossAtt-1's keys and values)")
        return notes

    def pooled(self, group: str) -> dict[str, np.ndarray]:
        """Mean over the real steps (the model's pooling, ``masked_mean``) of the "unimodal", "shared" or "private"
        sequences of each modality (an empty vector for a missing modality)."""
        if group not in ("unimodal", "shared", "private"):
            raise ValueError(f"group must be unimodal, shared or private, got {group!r}")
        return {m: seq.mean(0) if len(seq) else np.zeros(0) for m, seq in getattr(self, group).items()}

    @property
    def alpha(self) -> np.ndarray | None:
        """(k, M) GAP weights per layer, as in :class:`~fdcmdie.inference.Explanation`."""
        return np.stack([x.alpha for x in self.layers]) if self.layers else None

    @property
    def gates(self) -> np.ndarray | None:
        return np.stack([x.gates for x in self.layers]) if self.layers else None


def trace_batch(model, batch: Batch, *, tokens: list[str] | None = None, text: str = "") -> Trace:
    """The :class:`Trace` of a one-row ``batch`` (on the model's device)."""
    if len(batch) != 1:
        raise ValueError(f"trace takes one input, got {len(batch)}")
    mods = list(model.cfg.modalities)
    me = threading.get_ident()
    layer_io: list[tuple] = []                       # (inputs, outputs) of each CMDIE layer, in order
    weights: dict[int, torch.Tensor] = {}            # id(attention module) -> (1, l_q, l_k)

    def on_layer(module, args, output):
        if threading.get_ident() == me:
            layer_io.append((args, output))

    def on_attention(module, args, output):
        if threading.get_ident() == me:
            q, kv, kv_mask = args[:3]
            weights[id(module)] = module.attn(q, kv, kv, key_padding_mask=~attendable(kv_mask), need_weights=True)[1]

    hooks = [m.register_forward_hook(on_layer) for m in model.modules() if isinstance(m, CMDIELayer)]
    hooks += [m.register_forward_hook(on_attention) for m in model.modules() if isinstance(m, AddNormAttention)]
    try:
        with torch.inference_mode():
            feats, masks = model.features(batch)
            _, shared, private, _ = model.decouple(batch)
            out = model(batch)
    finally:
        for h in hooks:
            h.remove()

    valid = {m: masks[m][0] for m in mods}
    seq = lambda x, m: x[0][valid[m]].float().cpu().numpy()
    vec = lambda x: x[0].float().cpu().numpy()
    present = [bool(valid[m].any()) for m in mods]
    layers: list[LayerTrace] = []
    global_source: list[str] = []
    if model.cmdie is not None:
        g_valid = layer_io[0][0][1][0]                                       # G_s^[0]'s mask (L,)
        if model.cfg.global_init == "concat":
            order = [m for m in mods for _ in range(int(valid[m].sum()))]   # concat_time packs real steps, t, v, a
            global_source = order or ["none"]
        else:
            global_source = ["mean"]
        pick = lambda w, rows, cols: w[0][rows][:, cols].float().cpu().numpy()
        for layer, (args, (fused, new_private, enhanced, gate, alpha)) in zip(model.cmdie, layer_io):
            t = LayerTrace(cross_g={}, cross_x={}, cross2_g={}, cross2_x={}, self_g={}, self_x={},
                           enhanced={m: vec(_pool(e, g_valid)) for m, e in zip(mods, enhanced)},
                           private={m: vec(_pool(new_private[m], valid[m])) for m in mods},
                           gates=vec(gate), alpha=vec(alpha), fused=vec(_pool(fused, g_valid)))
            for m in mods:
                dipu = layer.dipu[m]
                t.cross_g[m] = pick(weights[id(dipu.cross1_g)], g_valid, valid[m])
                t.cross_x[m] = pick(weights[id(dipu.cross1_x)], valid[m], g_valid)
                t.self_g[m] = pick(weights[id(dipu.self_g)], g_valid, g_valid)
                t.self_x[m] = pick(weights[id(dipu.self_x)], valid[m], valid[m])
                if isinstance(dipu.cross2_g, AddNormAttention):
                    t.cross2_g[m] = pick(weights[id(dipu.cross2_g)], g_valid, valid[m])
                    t.cross2_x[m] = pick(weights[id(dipu.cross2_x)], valid[m], g_valid)
            layers.append(t)
    pred = float(out["pred"][0])
    steps = int(valid["t"].sum()) if "t" in mods else 0
    return Trace(modalities=mods, present=present, text=text,
                 tokens=tokens if tokens is not None and len(tokens) == steps else None,
                 unimodal={m: seq(feats[m], m) for m in mods}, shared={m: seq(shared[m], m) for m in mods},
                 private={m: seq(private[m], m) for m in mods},
                 decoupled={k: vec(v) for k, v in out["decoupled"].items()}, global_source=global_source,
                 layers=layers, pred=pred, polarity=polarity(pred), class7=class7(pred),
                 used=[m for m, p in zip(mods, present) if p])



def _pool(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(1, l, d), (l,) -> (1, d): the model's masked mean over the real steps."""
    return masked_mean(x, valid[None])
