"""Peak memory of a training step, estimated from the shapes, and the pre-flight check the trainer runs first.

    peak = base        what the process holds before its first step (measured: libraries, data, model)
         + optimiser   gradients and AdamW's two moments: 3 × the trainable parameters
         + saved       the activations autograd keeps for backward, a sum over blocks (below)
         + transient   the largest short-lived allocation of backward

``saved`` counts float32 values per sample, time step and model width d, block by block. The coefficients were
counted on this model with ``torch.autograd.graph.saved_tensors_hooks`` (tests/test_memory.py counts them again
and fails when the model drifts from them); docs/benchmarks/memory.md compares the total with measured peaks.

Shapes: n anchors per step (per process), l_t / l_v / l_a the longest text / visual / acoustic sequence of the
training set, L_g the longest G_s^[0] (the sum of one sample's lengths: concat along time packs valid steps).
A batch of the longest samples is the worst case, so the estimate is an upper bound for batches of real data.
"""
from __future__ import annotations

import ctypes
import dataclasses
import math
import os
import resource
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .facts import BATCH_FIELD, in_order

GB = 1e9
F32 = 4

# float32 values autograd keeps, per sample × time step × d (counted with saved_tensors_hooks, d = 64 and 128)
LSTM_LAYER = 19.2       # sLSTM, per acoustic/visual frame and LSTM layer
AV_DECOUPLE = 3.3       # E_s and E_d^m of an acoustic/visual frame
TEXT_DECOUPLE = 7.1     # E_s and E_d^t of a text step, plus d_t / d for the projection's input
PER_SAMPLE = 211        # pooled vectors and the head, per sample (× d)
DIPU_G = 29.2           # one DIPU's G side and GAP, per step of G_s and modality (CrossAtt-2 on)
DIPU_X = 26.6           # one DIPU's private side, per step of the private sequence (CrossAtt-2 on)
CROSS2 = 6.0            # what CrossAtt-2 adds to both sides, per step
CKPT_G, CKPT_X = 3.5, 1.2   # checkpoint_dipu: DIPU inputs/outputs and GAP kept per layer, per step
SCORES = 3.5            # attention="plain" under dropout: floats per score-matrix entry (weights, mask, dropped)
EVAL_STEP = 10.0        # eval passes (no grad): live values per sample × step × d at their widest
EVAL_BATCH = 256        # the sample-set refresh decodes 256 samples at a time (train.Run.sample_sets)


@dataclass
class Shapes:
    """What the estimate needs to know about the data: per-sample lengths of each modality used."""
    lengths: dict[str, np.ndarray]          # {"t"|"v"|"a": (N,) int} over the training set

    @classmethod
    def of(cls, samples, modalities) -> "Shapes":
        """From a data.SampleSet (its text_feats / text_ids, audio and vision columns)."""
        col = {**BATCH_FIELD, "t": "text_feats" if "text_feats" in samples.columns else "text_ids"}
        return cls({m: np.array([len(x) for x in samples.columns[col[m]]], dtype=np.int64) for m in modalities})

    @classmethod
    def full(cls, lengths: dict[str, int], n: int = 1) -> "Shapes":
        """Every sample at the given lengths (MMSA's padded shapes, for the benchmark)."""
        return cls({m: np.full(n, l, dtype=np.int64) for m, l in lengths.items()})

    def shortened(self, *, stride: int = 1, max_frames: int = 0) -> "Shapes":
        """The shapes after data.frame_stride / data.max_frames (acoustic and visual only)."""
        cut = lambda l: np.minimum(-(-l // stride), max_frames) if max_frames else -(-l // stride)
        return Shapes({m: (l if m == "t" else cut(l)) for m, l in self.lengths.items()})

    def longest(self) -> dict[str, int]:
        out = {m: int(l.max(initial=1)) for m, l in self.lengths.items()}
        out["G"] = int(sum(self.lengths.values()).max(initial=1))
        return out


@dataclass
class Estimate:
    peak: float                   # bytes
    parts: dict[str, float]       # base, optimizer, saved, transient (bytes)
    setting: dict                 # batch, lengths, switches it was computed for

    def describe(self) -> str:
        s, ln = self.setting, self.setting["lengths"]
        lens = "/".join(str(ln[m]) for m in in_order(ln))
        parts = ", ".join(f"{k} {v / GB:.2f}" for k, v in self.parts.items())
        return (f"{self.peak / GB:.2f} GB ({parts}) for batch {s['batch']} of lengths {s['mods']} {lens}, "
                f"k={s['k']}, {s['heads']} heads, d={s['d']}, attention={s['attention']}, "
                f"checkpoint_dipu={str(s['checkpoint_dipu']).lower()}")


def members_per_anchor(cfg) -> int:
    """Samples that join each anchor through §2–3 only (contrastive set members), 0 without them."""
    l = cfg.loss
    if not (l.contrastive and l.lambda_cl > 0) or getattr(l, "member_source", "forward") == "bank":
        return 0
    per_set = l.k_cl if l.members_per_step == "all" else int(l.members_per_step)
    return 2 * per_set


def activation_values(cfg, lengths: dict[str, int], n: int, *, attention: str, checkpoint: bool,
                      n_data: int = EVAL_BATCH) -> tuple[float, float]:
    """(saved, transient) float32 values of one training step of ``n`` anchors at the given longest lengths
    (the transient also covers the eval passes over ``n_data`` training samples, when those need more)."""
    m = cfg.model
    d, mods, h = m.d, m.modalities, m.n_heads
    lg = lengths["G"] if m.global_init == "concat" else 1
    av = sum(lengths[x] for x in mods if x != "t")
    decouple = (LSTM_LAYER * m.lstm_layers + AV_DECOUPLE) * av + PER_SAMPLE
    if "t" in mods:
        decouple += (TEXT_DECOUPLE + m.text_dim / d) * lengths["t"]
        if m.text_finetune_layers:                        # trainable encoder layers (MiniLM-like: 12 heads)
            layers = 6 if m.text_finetune_layers < 0 else m.text_finetune_layers
            decouple += layers * (20 * lengths["t"] * m.text_dim + 3 * 12 * lengths["t"] ** 2) / d
    saved = decouple * (1 + members_per_anchor(cfg)) * n * d
    transient = 8 * n * lg * d
    if m.use_cmdie:
        x2 = 1.0 if m.cross_att2 else 0.0
        dipu = {x: (DIPU_G - (1 - x2) * CROSS2) * lg + (DIPU_X - (1 - x2) * CROSS2) * lengths[x] for x in mods}
        scores = {x: lg * lg + lengths[x] ** 2 + (2 + 2 * x2) * lg * lengths[x] for x in mods}  # per head
        plain = attention == "plain" and m.dropout > 0
        if checkpoint:   # keep each DIPU's inputs and outputs; backward recomputes one DIPU at a time
            saved += m.k * (CKPT_G * len(mods) * lg + CKPT_X * sum(lengths[x] for x in mods)) * n * d
            worst = max(mods, key=lambda x: dipu[x] * d + (SCORES * h * scores[x] if plain else 0))
            transient += dipu[worst] * n * d + (SCORES * h * scores[worst] * n if plain else 0)
        else:
            saved += m.k * sum(dipu.values()) * n * d
            if plain:
                saved += m.k * SCORES * h * sum(scores.values()) * n
        longest = max(lg, *(lengths[x] for x in mods))
        if plain:                                         # the gradient of the largest score matrix
            transient += 2 * n * h * longest * longest
        elif m.dropout > 0:                               # one query chunk's scores, recomputed (AddNormAttention)
            from .model import AddNormAttention
            transient += 3 * AddNormAttention.chunk_bytes / F32
    steps = av + lengths.get("t", 0)                      # eval passes: the sample-set refresh (§2–3, 256 at a time)
    eval_pass = EVAL_STEP * d * max(min(EVAL_BATCH, n_data) * steps,   # and validation (whole model, 128 at a time)
                                    min(EVAL_BATCH // 2, n_data) * (steps + (len(mods) * lg if m.use_cmdie else 0)))
    return saved, max(transient, eval_pass - saved)


def estimate(cfg, shapes: Shapes, *, base_bytes: float, trainable_params: int, batch: int | None = None,
             attention: str | None = None, checkpoint: bool | None = None, world: int = 1) -> Estimate:
    """Peak bytes of training ``cfg`` on data of ``shapes``; keyword overrides give the what-ifs of the check."""
    t = cfg.train
    batch = t.batch_size if batch is None else batch
    attention = t.attention if attention is None else attention
    checkpoint = t.checkpoint_dipu if checkpoint is None else checkpoint
    lengths = shapes.longest()
    n = math.ceil(batch / world)                          # each data-parallel process takes its shard
    saved, transient = activation_values(cfg, lengths, n, attention=attention, checkpoint=checkpoint,
                                         n_data=len(next(iter(shapes.lengths.values()))))
    parts = {"base": float(base_bytes), "optimizer": 3.0 * F32 * trainable_params,
             "saved": saved * F32, "transient": transient * F32}
    setting = {"batch": batch, "lengths": lengths, "mods": "/".join(in_order(lengths)),
               "k": cfg.model.k, "heads": cfg.model.n_heads, "d": cfg.model.d, "attention": attention,
               "checkpoint_dipu": checkpoint}
    return Estimate(peak=sum(parts.values()), parts=parts, setting=setting)


# ------------------------------------------------------------------------------------------ what is available

def cap_heap_growth(threshold: int = 256 * 1024) -> bool:
    """Fix glibc's mmap threshold, so large freed blocks go back to the OS at once. By default glibc raises the
    threshold after each large free (up to 32 MB), after which freed activations stay in the heap and the RSS of a
    training step grows to 2-3x its live tensors (measured in docs/benchmarks/memory.md). Linux/glibc only;
    returns whether it applied. The trainer calls it for CPU runs."""
    try:
        return ctypes.CDLL("libc.so.6").mallopt(-3, int(threshold)) == 1      # -3: M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return False


def rss_bytes() -> float:
    """This process's resident memory now (Linux /proc), else its peak so far."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0


def _cgroup_free() -> float | None:
    """Bytes the container's memory limit still allows (cgroup v2 or v1), None without a limit."""
    for limit, used in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            raw = Path(limit).read_text().strip()
            if raw != "max" and int(raw) < 1 << 60:
                return float(int(raw) - int(Path(used).read_text().strip()))
        except (OSError, ValueError):
            continue
    return None


def available(device) -> tuple[float, float, str]:
    """(bytes this process may grow to, what it holds now, a name for it) on ``device``: for CUDA the GPU's
    free memory plus what torch already holds there; for the CPU this process's RSS plus the system's
    MemAvailable (or the container limit, when lower), shared with the other processes of a local launch."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
        held = float(torch.cuda.memory_allocated(device))
        return free + float(torch.cuda.memory_reserved(device)), held, f"GPU memory of {torch.cuda.get_device_name(device)}"
    free = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free = float(line.split()[1]) * 1024
    except OSError:
        pass
    group = _cgroup_free()
    if group is not None:
        free = group if free is None else min(free, group)
    if free is None:
        free = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    held = rss_bytes()
    return held + free / local, held, "RAM" + (f" (shared by {local} local processes)" if local > 1 else "")


# ------------------------------------------------------------------------------------------ the check

class MemoryBudgetError(ValueError):
    """The run would not fit; the message names the estimate, the budget and what would fit."""


def fixes(cfg, shapes: Shapes, budget: float, **kw) -> list[str]:
    """``--set`` changes (one or two) under which the estimate fits ``budget``, each with its estimate."""
    t, out = cfg.train, []
    est = lambda **o: estimate(cfg, shapes, **{**kw, **o}).peak
    switches = []
    if t.attention != "efficient":
        switches.append(({"attention": "efficient"}, ["train.attention=efficient"]))
    if not t.checkpoint_dipu:
        switches.append(({"checkpoint": True}, ["train.checkpoint_dipu=true"]))
    if len(switches) == 2:
        switches.append(({"attention": "efficient", "checkpoint": True},
                         ["train.attention=efficient", "train.checkpoint_dipu=true"]))
    for over, sets in switches:
        if (p := est(**over)) <= budget:
            out.append(" ".join(f"--set {s}" for s in sets) + f" ({p / GB:.1f} GB)")
            break                                          # the first (least change) that fits
    best = {"attention": "efficient", "checkpoint": True}
    best_sets = "".join(f" --set {s}" for s in switches[-1][1]) if switches else ""
    largest = lambda **o: next((b for b in range(t.batch_size - 1, 0, -1) if est(batch=b, **o) <= budget), 0)
    as_is, switched = largest(), (largest(**best) if switches else 0)
    if as_is:
        out.append(f"--set train.batch_size={as_is} ({est(batch=as_is) / GB:.1f} GB)")
    if switched > as_is:
        out.append(f"--set train.batch_size={switched}{best_sets} ({est(batch=switched, **best) / GB:.1f} GB)")
    if cfg.data.source == "mmsa" and any(m in shapes.lengths for m in ("a", "v")):
        for stride in (2, 3, 4, 6, 8, 12, 16):
            short = shapes.shortened(stride=stride * cfg.data.frame_stride, max_frames=cfg.data.max_frames)
            if (p := estimate(cfg, short, **{**kw, **best}).peak) <= budget:
                out.append(f"--set data.frame_stride={stride * cfg.data.frame_stride}{best_sets} ({p / GB:.1f} GB; "
                           "shorter acoustic/visual sequences, not the paper's setting)")
                break
    return out


def preflight(cfg, shapes: Shapes, *, device, trainable_params: int, world: int = 1) -> tuple[Estimate, float, str]:
    """Estimate the peak and compare it with train.memory_budget_gb (0: what ``device`` has available).
    Returns (estimate, budget bytes, what the budget is); raises MemoryBudgetError when it does not fit."""
    limit, held, what = available(device)
    if cfg.train.memory_budget_gb > 0:
        limit, what = cfg.train.memory_budget_gb * GB, f"train.memory_budget_gb ({what}: {limit / GB:.1f} GB available)"
    base = held if str(device).startswith("cuda") else rss_bytes()
    kw = {"base_bytes": base, "trainable_params": trainable_params, "world": world}
    est = estimate(cfg, shapes, **kw)
    if est.peak > limit:
        options = fixes(cfg, shapes, limit, **kw)
        raise MemoryBudgetError(
            f"this run would not fit in memory: estimated peak {est.describe()}, but the budget is "
            f"{limit / GB:.1f} GB ({what}). "
            + (f"Would fit: {'; or '.join(options)}." if options else
               "No single change tried (attention, checkpointing, batch size, frame stride) fits: free memory, "
               "use a GPU, or run data-parallel on several (README, accelerate launch).")
            + " (set train.memory_budget_gb=N to use another budget; --dry-run prints the estimate only)")
    return est, limit, what


def to_record(est: Estimate, limit: float, what: str) -> dict:
    """The estimate as a log.jsonl-friendly dict."""
    return {"peak_gb": round(est.peak / GB, 3), "parts_gb": {k: round(v / GB, 3) for k, v in est.parts.items()},
            "budget_gb": round(limit / GB, 3), "budget": what, **dataclasses.asdict(est)["setting"]}
