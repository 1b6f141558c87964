"""Pack what a training run needs into a small folder for a machine that can neither download nor install.

The lent GPU machine receives at most 64 MiB with the working tree. MiniLM's float32 weights are 87 MB; most of
them are the word-embedding table (30522 × 384). ``pack_encoder`` keeps the embedding rows of the tokens the
dataset's texts actually use (MOSI: ~3.3k of 30.5k) and stores every weight in float16; ``unpack_encoder``
rebuilds an ordinary Hugging Face folder (float32, zero rows for tokens no text uses) that ``AutoModel`` loads.
On the packed texts the rebuilt encoder computes what the original does, up to float16 rounding of the weights.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .text_encoder import load_encoder, resolve_encoder, tokenize

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
PACKED = "packed.safetensors"


def used_token_ids(name: str, texts: list[str], max_len: int) -> torch.Tensor:
    """Sorted ids of every token the texts produce (as training tokenizes them), plus the special tokens."""
    tok, _ = load_encoder(name)
    ids = set(tok.all_special_ids).union(*(row.tolist() for row in tokenize(name, texts, max_len)))
    return torch.tensor(sorted(ids), dtype=torch.long)


def pack_encoder(name: str, texts: list[str], out: str | Path, *, max_len: int = 64) -> Path:
    """Write ``out/`` = tokenizer + config files + ``packed.safetensors`` (float16, pruned embedding rows)."""
    src = Path(resolve_encoder(name))
    if not src.is_dir():
        raise FileNotFoundError(f"pack_encoder needs a local encoder folder, got {src}")
    _, model = load_encoder(name)
    emb = model.get_input_embeddings().weight                       # (V, d_t)
    state = model.state_dict()
    key = next(k for k, v in state.items() if v.data_ptr() == emb.data_ptr())
    kept = used_token_ids(name, texts, max_len)
    tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in state.items()
               if k != key and v.is_floating_point()}
    tensors.update({k: v.contiguous() for k, v in state.items() if not v.is_floating_point()})  # e.g. position_ids
    tensors[f"{key}.rows"] = emb.detach()[kept].to(torch.float16).contiguous()
    tensors["packed.kept_ids"] = kept
    out = Path(out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for f in src.iterdir():
        if f.is_file() and f.name not in WEIGHT_FILES and f.suffix in (".json", ".txt", ".model"):
            shutil.copy2(f, out / f.name)
    save_file(tensors, out / PACKED, metadata={"embedding_key": key, "vocab_size": str(emb.shape[0]),
                                               "source": str(src), "texts": str(len(texts))})
    return out


def unpack_encoder(packed: str | Path, out: str | Path) -> Path:
    """Rebuild a loadable float32 encoder folder from ``pack_encoder``'s output."""
    packed, out = Path(packed), Path(out)
    from safetensors import safe_open
    with safe_open(str(packed / PACKED), framework="pt") as f:
        meta = f.metadata()
    tensors = load_file(packed / PACKED)
    key, vocab = meta["embedding_key"], int(meta["vocab_size"])
    kept, rows = tensors.pop("packed.kept_ids"), tensors.pop(f"{key}.rows")
    full = torch.zeros(vocab, rows.shape[1], dtype=torch.float32)
    full[kept] = rows.float()
    weights = {k: (v.float() if v.is_floating_point() else v) for k, v in tensors.items()}
    weights[key] = full
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for f in packed.iterdir():
        if f.is_file() and f.name != PACKED:
            shutil.copy2(f, out / f.name)
    save_file(weights, out / "model.safetensors", metadata={"format": "pt"})
    (out / "fdcmdie_packed.json").write_text(json.dumps({"from": meta["source"], "kept_tokens": len(kept)}))
    return out


def folder_bytes(path: str | Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
