"""Configuration: dataclasses with commented defaults, YAML loading, ``--set key=value`` overrides.

One YAML per dataset/recipe lives in ``configs/``. Every **[choice]** of docs/MODEL.md (§10) is a field here,
and every ablation of the paper is a switch, so there is one trainer and one model for all variants.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .facts import MODALITIES, MOSI_SPLITS  # MODALITIES: text, visual, acoustic — the paper's order T, V, A


@dataclass
class ModelConfig:
    modalities: list[str] = field(default_factory=lambda: list(MODALITIES))  # which of t/v/a the model uses
    text_encoder: str = "minilm"      # HF name or local folder; "minilm"/"mpnet" = offline packaged weights, "neobert" = chandar-lab/NeoBERT
    text_dim: int = 384               # width d_t of the text features (set from the encoder / data at build time)
    text_finetune_layers: int = 0     # 0: frozen encoder, cached token features; n>0: fine-tune the top n layers; -1: all
    text_lora_rank: int = 0           # >0 (with text_finetune_layers=-1): LoRA adapters of this rank over every layer, the encoder frozen [choice]
    text_lora_alpha: float = 16.0     # LoRA scale alpha (the update is alpha / rank · B A)
    text_lora_dropout: float = 0.05   # dropout on the adapters' input
    text_lora_targets: list[str] = field(default_factory=lambda: ["query", "key", "value", "dense"])  # Linear layers that get adapters (BERT names: "dense" = attention output, FFN in and out)
    max_text_len: int = 64            # tokens, [CLS] and [SEP] included
    text_prefix: str = ""             # put before every text (e5's model card asks for "query: " / "passage: ") [choice]
    audio_dim: int = 73               # d_a of the acoustic frames
    vision_dim: int = 100             # d_v of the visual frames
    d: int = 128                      # model width d (paper does not state it) [choice]
    lstm_layers: int = 2              # depth of the stacked LSTM (sLSTM) for acoustic/visual
    n_heads: int = 4                  # heads of every attention in DIPU
    k: int = 3                        # CMDIE layers (Table 2)
    dropout: float = 0.1              # dropout in encoders, DIPU and the prediction MLP
    use_cmdie: bool = True            # ablation "w/o CMDIE": False
    pooling: str = "gap"              # "gap" | "mean" (ablation "w/o GAP")
    cross_att2: bool = True           # ablation "w/o CrossAtt-2": False
    cross_att2_shared: bool = False   # CrossAtt-2 takes K/V with CrossAtt-1's projections (eq. 21–22 "from eq. 16–17") | own projections [choice]
    global_init: str = "concat"       # G_s^[0] from T_s, V_s, A_s: "concat" along time | "mean" of pooled vectors [choice]
    pos_encoding: str = "sinusoidal"  # PE in DIPU: "sinusoidal" | "none"


@dataclass
class LossConfig:
    contrastive: bool = True          # ablation "w/o CL": False (λ_cl = 0)
    lambda_cl: float = 0.1            # λ_cl (Table 2)
    lambda_tri: float = 0.1           # λ_Tri (Table 2)
    tau: float = 0.5                  # NT-Xent temperature τ
    margin: float = 0.5               # triplet margin
    k_cl: int = 10                    # size of the similar / different sets per sample
    label_classes: int = 7            # "same label" = same class after rounding to 7 | 3 | 2 classes [choice]
    members_per_step: int | str = 2   # how many members of each set join a training step, or "all" (every member of the k_cl sets, §2.3.2) [choice]
    member_source: str = "forward"    # members' decoupled features: "forward" (through the encoder every step) | "bank" (whole training set, once per epoch, detached) [choice]
    denominator: str = "standard"     # NT-Xent denominator: "standard" (positive + negatives sharing the anchor) | "paper" (all γ≠β in P∪N)
    modality_dropout: float = 0.0     # probability of dropping a/v of a sample during training (robustness to missing modalities)
    dropout_modalities: list[str] = field(default_factory=lambda: ["v", "a"])  # which of v/a modality_dropout drops (each independently)


@dataclass
class DataConfig:
    source: str = "mosi"              # "mosi" (the MOSI bundle) | "mosei" (transcripts only) | "mmsa" (aligned_50/unaligned_50.pkl)
    root: str = ""                    # folder holding mosi/ and mosei/; "": $FDCMDIE_DATA, else the shipped data/ (data/location.py)
    split: str = "standard"           # mosi: "standard" | "poria" | "poria-honest" (valid/test from Poria's test half) | "poria-test-cv"
    path: str = ""                    # mmsa: path to the pickle
    text_source: str = "transcript"   # "transcript" (encoder on words) | "cnn" (the bundle's text-CNN vectors; Poria split only)
    valid_fraction: float = 0.1       # poria: share of train videos carved out as validation; poria-honest: share of test-half videos
    fold: int = 0                     # poria-test-cv: which fold (by video, inside Poria's test half) is the test part
    folds: int = 5                    # poria-test-cv: number of folds; the fold after ``fold`` is the validation part
    extra_train: str = ""             # "mosei": MOSEI's training transcripts join the training split (text only, voice/face absent); validation and test stay the source's [choice]
    extra_train_limit: int = 0        # use only the first N extra training samples (0: all 16,274 of MOSEI)
    normalize: bool = True            # z-score acoustic/visual features with train statistics
    frame_stride: int = 1             # mmsa: mean over windows of this many acoustic/visual frames (1: every frame, the paper) [choice]
    max_frames: int = 0               # mmsa: keep at most this many acoustic/visual frames, after frame_stride (0: all, the paper) [choice]


@dataclass
class TrainConfig:
    batch_size: int = 32              # Table 2
    lr: float = 1e-4                  # Table 2, AdamW
    encoder_lr: float = 3e-5          # learning rate of fine-tuned text-encoder layers
    weight_decay: float = 0.01
    epochs: int = 50                  # Table 2
    patience: int = 0                 # stop after this many epochs without a better validation loss (0: never)
    grad_clip: float = 1.0
    attention: str = "efficient"      # DIPU attention: "efficient" (SDPA kernels, no full score matrix) | "plain" (nn.MultiheadAttention)
    checkpoint_dipu: bool = False     # activation checkpointing: recompute each DIPU in backward (less memory, more time)
    memory_budget_gb: float = 0.0     # pre-flight: refuse to start when the estimated peak exceeds this (0: memory available now)
    schedule: str = "constant"        # learning-rate schedule over all steps: "constant" | "linear" | "cosine" decay (transformers.get_scheduler)
    warmup_ratio: float = 0.0         # share of all steps with a linear warm-up from 0 (any schedule)
    text_init: str = ""               # checkpoint folder whose fine-tuned text encoder starts this run (two-stage); "" = pretrained weights
    seed: int = 1
    device: str = "auto"              # "auto" uses CUDA when present
    out_dir: str = "runs"             # each run writes <out_dir>/<name>/ (log.jsonl, checkpoint/)
    name: str = ""                    # run name; default <config>-s<seed>
    threads: int = 0                  # torch CPU threads (0: torch's default)
    limit_train: int = 0              # use only the first N training samples (smoke tests); 0 = all
    cache_dir: str = ".cache/fdcmdie" # cached text-encoder features


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown config section(s): {sorted(unknown)}")
        kw = {}
        for f in fields(cls):
            sub_cls = type(getattr(cls(), f.name))
            kw[f.name] = _build(sub_cls, d.get(f.name, {}) or {}, f.name)
        cfg = cls(**kw)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        m, l, dt = self.model, self.loss, self.data
        bad = [x for x in m.modalities if x not in MODALITIES]
        if bad or not m.modalities:
            raise ValueError(f"model.modalities must be a non-empty subset of {list(MODALITIES)}, got {m.modalities}")
        if "t" not in m.modalities and l.contrastive:
            raise ValueError("contrastive learning anchors on text: keep 't' in model.modalities or set loss.contrastive=false")
        m.modalities = [x for x in MODALITIES if x in m.modalities]  # canonical order t, v, a
        if m.pooling not in ("gap", "mean"):
            raise ValueError(f"model.pooling must be 'gap' or 'mean', got {m.pooling!r}")
        if m.global_init not in ("concat", "mean"):
            raise ValueError(f"model.global_init must be 'concat' or 'mean', got {m.global_init!r}")
        if m.pos_encoding not in ("sinusoidal", "none"):
            raise ValueError(f"model.pos_encoding must be 'sinusoidal' or 'none', got {m.pos_encoding!r}")
        if m.text_lora_rank < 0 or (m.text_lora_rank and m.text_finetune_layers != -1):
            raise ValueError("model.text_lora_rank > 0 puts LoRA adapters over the whole encoder: it needs "
                             f"model.text_finetune_layers=-1, got rank {m.text_lora_rank} with {m.text_finetune_layers}")
        if m.text_lora_rank and not m.text_lora_targets:
            raise ValueError("model.text_lora_targets names no layer: LoRA would add no adapter")
        if m.d % m.n_heads:
            raise ValueError(f"model.d={m.d} must be divisible by model.n_heads={m.n_heads}")
        if m.k < 1 and m.use_cmdie:
            raise ValueError("model.k must be >= 1 when CMDIE is on")
        if l.label_classes not in (2, 3, 7):
            raise ValueError(f"loss.label_classes must be 2, 3 or 7, got {l.label_classes}")
        if not (l.members_per_step == "all" or (isinstance(l.members_per_step, int)
                                                  and not isinstance(l.members_per_step, bool) and l.members_per_step >= 1)):
            raise ValueError(f"loss.members_per_step must be an integer >= 1 or 'all', got {l.members_per_step!r}")
        if l.member_source not in ("forward", "bank"):
            raise ValueError(f"loss.member_source must be 'forward' or 'bank', got {l.member_source!r}")
        t = self.train
        if t.schedule not in ("constant", "linear", "cosine"):
            raise ValueError(f"train.schedule must be 'constant', 'linear' or 'cosine', got {t.schedule!r}")
        if not 0.0 <= t.warmup_ratio < 1.0:
            raise ValueError(f"train.warmup_ratio must be in [0, 1), got {t.warmup_ratio}")
        if t.text_init and (m.text_finetune_layers == 0 or "t" not in m.modalities):
            raise ValueError("train.text_init loads fine-tuned text-encoder weights: it needs 't' in model.modalities "
                             "and model.text_finetune_layers != 0")
        if l.denominator not in ("standard", "paper"):
            raise ValueError(f"loss.denominator must be 'standard' or 'paper', got {l.denominator!r}")
        if dt.source not in ("mosi", "mosei", "mmsa"):
            raise ValueError(f"data.source must be mosi, mosei or mmsa, got {dt.source!r}")
        if dt.split not in MOSI_SPLITS:
            raise ValueError(f"data.split must be one of {', '.join(MOSI_SPLITS)}, got {dt.split!r}")
        if not 0 < dt.valid_fraction < 1:
            raise ValueError(f"data.valid_fraction must be between 0 and 1, got {dt.valid_fraction}")
        if dt.folds < 3 or not 0 <= dt.fold < dt.folds:
            raise ValueError(f"data.folds must be >= 3 and data.fold in 0..folds-1, got fold={dt.fold}, folds={dt.folds}")
        if not 0 <= l.modality_dropout < 1:
            raise ValueError(f"loss.modality_dropout must be in [0, 1), got {l.modality_dropout}")
        if not set(l.dropout_modalities) <= {"v", "a"}:
            raise ValueError(f"loss.dropout_modalities must be a subset of [v, a] (text is never dropped), "
                             f"got {l.dropout_modalities}")
        if dt.extra_train not in ("", "mosei") or (dt.extra_train and dt.extra_train == dt.source):
            raise ValueError(f"data.extra_train adds another dataset's training transcripts: '' or 'mosei' (with "
                             f"another data.source), got {dt.extra_train!r} with data.source={dt.source!r}")
        if dt.extra_train and "t" not in m.modalities:
            raise ValueError("data.extra_train adds transcripts only: it needs 't' in model.modalities")
        if dt.extra_train_limit < 0:
            raise ValueError(f"data.extra_train_limit must be >= 0 (0: all), got {dt.extra_train_limit}")
        if dt.text_source not in ("transcript", "cnn"):
            raise ValueError(f"data.text_source must be 'transcript' or 'cnn', got {dt.text_source!r}")
        if dt.frame_stride < 1 or dt.max_frames < 0:
            raise ValueError(f"data.frame_stride must be >= 1 and data.max_frames >= 0 (0: no cap), "
                             f"got {dt.frame_stride} and {dt.max_frames}")
        if (dt.frame_stride != 1 or dt.max_frames) and dt.source != "mmsa":
            raise ValueError("data.frame_stride / data.max_frames shorten frame sequences: they apply to data.source=mmsa")
        if self.train.attention not in ("efficient", "plain"):
            raise ValueError(f"train.attention must be 'efficient' or 'plain', got {self.train.attention!r}")
        if self.train.memory_budget_gb < 0:
            raise ValueError(f"train.memory_budget_gb must be >= 0 (0: the memory available), got {self.train.memory_budget_gb}")


def model_dims(cfg: Config) -> dict:
    """Input width of each modality the model reads: {"t": d_t, "a": d_a, "v": d_v}."""
    m = cfg.model
    return {"t": m.text_dim, "a": m.audio_dim, "v": m.vision_dim}


def _coerce(value: str, current: Any) -> Any:
    """Parse a ``--set`` string with YAML, so 3, 0.1, true, [t, a] all work."""
    parsed = yaml.safe_load(value)
    if isinstance(current, float) and isinstance(parsed, int) and not isinstance(parsed, bool):
        parsed = float(parsed)
    if isinstance(current, float) and isinstance(parsed, str):   # YAML 1.1 reads 1e-3 (no dot) as a string
        try:
            parsed = float(parsed)
        except ValueError:
            pass
    return parsed


def _build(sub_cls, values: dict, section: str):
    names = {f.name for f in fields(sub_cls)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"unknown key(s) in [{section}]: {sorted(unknown)}; known: {sorted(names)}")
    return sub_cls(**values)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load a YAML config (or the defaults) and apply ``section.key=value`` overrides, then validate."""
    raw: dict = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"config file not found: {p}")
        raw = yaml.safe_load(p.read_text()) or {}
        if not isinstance(raw, dict):
            raise ValueError(f"{p}: expected a mapping of sections (model, loss, data, train)")
    defaults = Config().to_dict()
    for item in overrides or []:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise ValueError(f"--set expects section.key=value, got {item!r}")
        key, value = item.split("=", 1)
        section, name = key.split(".", 1)
        if section not in defaults or name not in defaults[section]:
            raise ValueError(f"--set: unknown key {key!r}")
        raw.setdefault(section, {})[name] = _coerce(value, defaults[section][name])
    return Config.from_dict(raw)
