"""Training loop and the ``train`` command: ``python -m fdcmdie train --config configs/mosi.yaml [--set k=v ...]``.

One loop for every variant (ablations are config switches). Per epoch: refresh the contrastive sample sets
over the whole training set (docs/MODEL.md §4), then for each step take n anchors plus members of their similar and
different sets, and minimise L = MAE + λ_cl · L_cl (eq. 32). The best epoch is the one with the lowest
validation MAE; its weights are tested and saved. One JSONL log per run.

A run can be stopped and started again: after every epoch the run folder holds ``resume.pt`` (what the model and
optimiser learnt, the schedule, the best epoch so far and every random state), and the same command goes on from
the next epoch, with the same result as a run that never stopped; the file is removed when the run finishes.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import random
import resource
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from tqdm.auto import tqdm

from .checkpoint import TEXT_ENCODER, WEIGHTS_KEY, save_checkpoint, stored_state
from .config import Config, load_config, model_dims
from .data import load_dataset, prepare
from .data.mmsa import EXTRACT_NOTE
from .devices import resolve_device
from .evaluate import predict
from .facts import MODALITIES
from .losses import build_sample_sets, contrastive_loss
from .memory import Shapes, cap_heap_growth, preflight, to_record
from .metrics import format_metrics
from .model import build_model
from .text_encoder import FullEncoder, LoraEncoder, hidden_size


RESUME = "resume.pt"   # in the run folder: the state after the last finished epoch (removed when the run finishes)


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def fill_dims(cfg: Config, ds) -> None:
    """Feature widths come from the data (and the encoder), not from the YAML."""
    m = cfg.model
    m.audio_dim = ds.dims.get("a", m.audio_dim)
    m.vision_dim = ds.dims.get("v", m.vision_dim)
    if "t" in m.modalities:
        if ds.train.text_feats is not None:
            m.text_dim = int(ds.train.text_feats[0].shape[-1])
        else:
            m.text_dim = hidden_size(m.text_encoder)


def full_present(present: torch.Tensor, modalities: list[str]) -> torch.Tensor:
    """(B, M) in the model's modality order → (B, 3) in [t, v, a] order, False for unused modalities."""
    out = torch.zeros(present.shape[0], 3, dtype=torch.bool, device=present.device)
    for j, m in enumerate(modalities):
        out[:, MODALITIES.index(m)] = present[:, j]
    return out


def make_schedule(opt: torch.optim.Optimizer, *, schedule: str, warmup_ratio: float, total_steps: int):
    """Learning-rate schedule over all ``total_steps`` optimiser steps (transformers.get_scheduler): a linear
    warm-up from 0 over ``warmup_ratio`` of them, then constant, linear or cosine decay to 0. "constant" with no
    warm-up keeps every group at its configured rate."""
    from transformers import get_scheduler  # transformers: a heavy import, only for training runs

    warmup = int(round(warmup_ratio * total_steps))
    name = {"constant": "constant_with_warmup" if warmup else "constant", "linear": "linear", "cosine": "cosine"}[schedule]
    return get_scheduler(name, opt, num_warmup_steps=warmup, num_training_steps=total_steps)


def text_init_file(path: str | Path) -> Path:
    """``path``/model.safetensors of a two-stage start (``train.text_init``); FileNotFoundError when it is not there."""
    file = Path(path) / "model.safetensors"
    if not file.is_file():
        raise FileNotFoundError(f"train.text_init={str(path)!r}: no model.safetensors there")
    return file


def load_text_init(model: torch.nn.Module, path: str | Path) -> int:
    """Two-stage start: copy fine-tuned text-encoder weights into the model's trainable encoder part.

    ``path`` is an FD-CMDIE checkpoint folder of the same text recipe (keys ``extract.t.encoder.*``), or an encoder
    saved with ``save_pretrained`` (``benchmarks/baselines.py finetune --save DIR``): the whole encoder for
    ``text_finetune_layers=-1``, its top n blocks for ``n > 0`` (the cached states below them stay the pretrained
    encoder's, so a stage 1 that trained only those n blocks fits best). Returns the number of tensors copied.
    """
    state, enc = load_file(str(text_init_file(path))), model.extract["t"].encoder
    prefix, own = TEXT_ENCODER, enc.state_dict()
    if any(k.startswith(prefix) for k in state):                     # an FD-CMDIE checkpoint of the same text recipe
        sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    elif isinstance(enc, FullEncoder) and not isinstance(enc, LoraEncoder):   # a whole saved encoder
        sub = {f"model.{k}": v for k, v in state.items()}
    else:                                                              # its top n blocks -> TopLayers
        blocks = {int(k.split(".")[2]) for k in state if k.startswith("encoder.layer.")}
        first = max(blocks, default=-1) + 1 - len(getattr(enc, "layers", ()))
        sub = {f"layers.{int(k.split('.')[2]) - first}.{k.split('.', 3)[3]}": v for k, v in state.items()
               if k.startswith("encoder.layer.") and int(k.split(".")[2]) >= first}
    if isinstance(enc, LoraEncoder):                                   # only the adapters: the frozen weights are e5's
        own = {k: v for k, v in own.items() if LoraEncoder.adapter_key(k)}
    missing = sorted(set(own) - set(sub))
    bad = [k for k in own if k in sub and sub[k].shape != own[k].shape]
    if missing or bad:
        what = "holds no LoRA adapters of this rank and these targets" if isinstance(enc, LoraEncoder) else \
            "does not fit this text encoder"
        raise ValueError(f"train.text_init={str(path)!r} {what} (missing {missing[:3]}, shape mismatch {bad[:3]})")
    enc.load_state_dict({k: sub[k] for k in own}, strict=not isinstance(enc, LoraEncoder))
    return len(own)


class Run:
    """Everything one training run holds: data, model, optimiser, log."""

    def __init__(self, cfg: Config, *, progress: bool = True, log_path: str | Path | None = None,
                 resume_path: str | Path | None = None):
        self.cfg, self.progress = cfg, progress
        # a stopped run of this config goes on from here (None: never saved); refused when the config differs
        self.resume_path = Path(resume_path) if resume_path else None
        self.resumed = self.read_resume()
        if cfg.train.text_init:
            text_init_file(cfg.train.text_init)                           # a missing stage 1 fails before the data
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        set_seed(cfg.train.seed)
        self.device = resolve_device(cfg.train.device)
        if self.device.type == "cpu":        # freed activations go back to the OS (fdcmdie/memory.py)
            cap_heap_growth()
        self.dataset = load_dataset(cfg)
        if cfg.train.limit_train:
            self.dataset.train = self.dataset.train.subset(range(min(cfg.train.limit_train, len(self.dataset.train))))
        fill_dims(cfg, self.dataset)
        self.sets, self.normalizer = prepare(self.dataset, cfg, progress=progress)
        self.dims = model_dims(cfg)
        set_seed(cfg.train.seed)
        self.model = build_model(cfg.model).to(self.device)
        self.model.set_memory_options(attention=cfg.train.attention, checkpoint_dipu=cfg.train.checkpoint_dipu)
        if cfg.train.text_init:                                           # two-stage: a fine-tuned text encoder
            load_text_init(self.model, cfg.train.text_init)
        trainable = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]  # LoRA: adapters, not the encoder
        enc = [p for n, p in trainable if ".encoder." in n]
        rest = [p for n, p in trainable if ".encoder." not in n]
        t = cfg.train
        groups = [{"params": rest, "lr": t.lr}] + ([{"params": enc, "lr": t.encoder_lr}] if enc else [])
        self.opt = torch.optim.AdamW(groups, weight_decay=t.weight_decay)
        self.steps_per_epoch = math.ceil(len(self.sets["train"]) / t.batch_size)
        self.sched = make_schedule(self.opt, schedule=t.schedule, warmup_ratio=t.warmup_ratio,
                                   total_steps=t.epochs * self.steps_per_epoch)
        self.bank: dict | None = None      # pooled decoupled features of the training set (loss.member_source=bank)
        self.refresh_s = 0.0               # seconds of the last sample-set refresh
        self.rng = np.random.default_rng(t.seed)
        # Data-parallel under `accelerate launch` / torchrun: every process draws the same global batch and
        # takes its shard of the anchors; DDP averages the gradients, so the step equals the single-process one.
        self.acc, self.rank, self.world = None, 0, int(os.environ.get("WORLD_SIZE", "1"))
        self.net = self.model                      # what the training step calls (DDP wrapper when distributed)
        if self.world > 1:
            from accelerate import Accelerator  # accelerate: optional, only for distributed runs
            self.acc = Accelerator(cpu=self.device.type == "cpu")
            self.device, self.rank = self.acc.device, self.acc.process_index
            self.model.to(self.device)
            self.net, self.opt = self.acc.prepare(self.model, self.opt)
        # Pre-flight (fdcmdie/memory.py): the estimated peak of a step against the memory budget, before any step;
        # a run that would not fit stops here with what would fit, instead of being killed later.
        self.memory = preflight(cfg, Shapes.of(self.sets["train"], cfg.model.modalities), device=self.device,
                                trainable_params=sum(p.numel() for p in self.model.parameters() if p.requires_grad),
                                world=self.world)
        self.log_path = Path(log_path) if log_path and self.rank == 0 else None
        if self.log_path and self.resumed:                 # keep the finished epochs' lines, drop any later one
            kept = [line for line in self.log_path.read_text().splitlines() if line.strip()
                    and json.loads(line).get("epoch", 0) <= self.resumed["epoch"] and json.loads(line)["event"] != "test"]
            self.log_path.write_text("".join(line + "\n" for line in kept))
            self.log({"event": "resume", "after_epoch": self.resumed["epoch"]})
            return
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self.log_path.write_text("")
        self.log({"event": "config", "config": cfg.to_dict(), "dataset": self.dataset.name, "notes": self.dataset.notes,
                  "sizes": {k: len(v) for k, v in self.sets.items()}, "device": str(self.device),
                  "params": sum(p.numel() for p in self.model.parameters())})
        self.log({"event": "memory", **to_record(*self.memory)})

    # -- stop and go on: the state after each finished epoch (fp32, the model's stored part: a LoRA encoder's frozen
    #    weights come from the encoder itself, as in a checkpoint)
    def read_resume(self) -> dict | None:
        if self.resume_path is None or not self.resume_path.is_file():
            return None
        st = torch.load(self.resume_path, map_location="cpu", weights_only=False)
        if st["config"] != self.cfg.to_dict():
            diff = sorted(f"{sec}.{k}" for sec, vals in self.cfg.to_dict().items() if isinstance(vals, dict)
                          for k, v in vals.items() if st["config"].get(sec, {}).get(k) != v)
            raise ValueError(f"{self.resume_path} was saved by a run of another config (differs in {diff[:5]}): "
                             "delete it to start this run afresh, or run the config it was saved with")
        return st

    def save_resume(self, epoch: int, best: tuple, since_best: int, elapsed: float) -> None:
        if self.resume_path is None or self.rank != 0:
            return
        keep = set(stored_state(self.model))
        st = {"config": self.cfg.to_dict(), "epoch": epoch, "since_best": since_best, "elapsed": elapsed,
              "model": {k: v for k, v in self.model.state_dict().items() if k in keep},
              "best": (best[0], best[1], {k: v for k, v in best[2].items() if k in keep}),
              "opt": self.opt.state_dict(), "sched": self.sched.state_dict(),
              "random": {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
                         "run": self.rng.bit_generator.state}}
        tmp = self.resume_path.with_suffix(".tmp")
        torch.save(st, tmp)
        tmp.replace(self.resume_path)                       # a kill while writing leaves the previous epoch's state

    def restore(self, st: dict) -> tuple[int, tuple, int, float]:
        """Load a resume state into the model, optimiser, schedule and random generators; (epoch, best, since_best,
        seconds so far)."""
        def into_model(part: dict) -> dict:
            full = self.model.state_dict()
            full.update(part)
            return full
        self.model.load_state_dict(into_model(st["model"]))
        self.opt.load_state_dict(st["opt"])
        self.sched.load_state_dict(st["sched"])
        r = st["random"]
        random.setstate(r["python"])
        np.random.set_state(r["numpy"])
        torch.set_rng_state(r["torch"])
        self.rng.bit_generator.state = r["run"]
        mae, epoch, best = st["best"]
        return st["epoch"], (mae, epoch, into_model(best) if best is not None else None), st["since_best"], st["elapsed"]

    def log(self, record: dict) -> None:
        if self.log_path:
            with self.log_path.open("a") as f:
                f.write(json.dumps(record) + "\n")

    # -- contrastive sample sets (MODEL.md §4), refreshed once per epoch over the training set
    @torch.no_grad()
    def sample_sets(self) -> tuple[torch.Tensor, torch.Tensor]:
        """similar / different sets of every training sample. The same pass (eval mode) fills ``self.bank`` with
        every sample's pooled decoupled features and presence: the detached members of loss.member_source=bank."""
        train = self.sets["train"]
        self.model.eval()
        feats, bank, present = [], {}, []
        for s in range(0, len(train), 256):
            out = self.model.decouple(train.batch(range(s, min(s + 256, len(train))), self.dims).to(self.device))[0]
            feats.append(torch.cat([out["extracted"][m] for m in self.cfg.model.modalities], 1).cpu())
            for k, v in out["decoupled"].items():
                bank.setdefault(k, []).append(v)
            present.append(out["present"])
        self.bank = {"decoupled": {k: torch.cat(v) for k, v in bank.items()}, "present": torch.cat(present)}
        return build_sample_sets(torch.cat(feats), torch.from_numpy(train.split.labels),
                                 self.cfg.loss.k_cl, self.cfg.loss.label_classes)

    def members(self, sets: torch.Tensor, anchors: np.ndarray) -> np.ndarray:
        """(n, m) training-set indices from each anchor's set (-1 where the set is short): m drawn at random,
        or, with loss.members_per_step=all, every member of the k_cl set (§2.3.2)."""
        rows = sets[torch.as_tensor(anchors)].numpy()
        m = self.cfg.loss.members_per_step
        if m == "all":
            return rows.copy()
        out = np.full((len(anchors), m), -1)
        for i, row in enumerate(rows):
            valid = row[row >= 0]
            if len(valid):
                out[i] = self.rng.choice(valid, size=m, replace=len(valid) < m)
        return out

    def step_batch(self, anchors: np.ndarray, similar, different):
        """The anchors' batch, the members (a Batch, or with the bank their training-set rows as a LongTensor, or
        None) and pos/neg row indices into [anchors; members]."""
        if similar is not None:  # drawn for the whole global batch so every process consumes the rng alike
            pos_members, neg_members = self.members(similar, anchors), self.members(different, anchors)
        shard = slice(self.rank, None, self.world)
        anchors = anchors[shard]
        batch = self.sets["train"].batch(anchors, self.dims).to(self.device)
        if similar is None:
            return batch, None, None, None
        n, pos_members, neg_members = len(anchors), pos_members[shard], neg_members[shard]
        mp, mn = pos_members.shape[1], neg_members.shape[1]
        pos = np.where(pos_members >= 0, n + np.arange(n * mp).reshape(n, mp), -1)
        neg = np.where(neg_members >= 0, n + n * mp + np.arange(n * mn).reshape(n, mn), -1)
        rows = np.concatenate([np.where(pos_members >= 0, pos_members, anchors[:, None]).ravel(),
                               np.where(neg_members >= 0, neg_members, anchors[:, None]).ravel()])
        as_t = lambda x: torch.as_tensor(x, device=self.device)
        if self.cfg.loss.member_source == "bank":
            return batch, as_t(rows), as_t(pos), as_t(neg)
        members = self.sets["train"].batch(rows, self.dims).to(self.device)
        return batch, members, as_t(pos), as_t(neg)

    def bank_members(self, rows: torch.Tensor) -> tuple[dict, torch.Tensor]:
        """Members' pooled decoupled features and presence from the bank (detached), modality dropout applied."""
        z = {k: v[rows] for k, v in self.bank["decoupled"].items()}
        present = self.bank["present"][rows].clone()
        p = self.cfg.loss.modality_dropout
        for j, m in enumerate(self.cfg.model.modalities):
            if m in self.cfg.loss.dropout_modalities and p > 0:
                present[:, j] &= torch.rand(len(rows), device=present.device) >= p
        return z, present

    def modality_dropout(self, batch):
        p = self.cfg.loss.modality_dropout
        for m in self.cfg.model.modalities:
            if m in self.cfg.loss.dropout_modalities and p > 0:
                batch = batch.drop(m, torch.rand(len(batch), device=self.device) < p)
        return batch

    def train_step(self, anchors: np.ndarray, similar, different) -> tuple[int, float, float, dict]:
        """One optimiser step on ``anchors`` (training-set indices): L = MAE + λ_cl · L_cl (eq. 31–32).
        Returns (anchors of the global batch, loss, mae, contrastive parts) as numbers."""
        cfg = self.cfg
        batch, members, pos, neg = self.step_batch(anchors, similar, different)
        bank_rows = members if isinstance(members, torch.Tensor) else None
        members = None if bank_rows is not None else members
        batch = self.modality_dropout(batch)
        members = self.modality_dropout(members) if members is not None else None
        out = self.net(batch, members)                                            # members skip CMDIE
        mae = (out["pred"] - batch.label).abs().mean()                            # L_pred (eq. 31)
        loss, parts = mae, {}
        if similar is not None:
            z, present = out["decoupled"], out["present"]
            mz, mpres = (out["members"]["decoupled"], out["members"]["present"]) if members is not None else \
                self.bank_members(bank_rows)                                      # bank: gradients via anchors only
            z = {k: torch.cat([v, mz[k]]) for k, v in z.items()}
            present = torch.cat([present, mpres])
            l_cl, parts = contrastive_loss(z, full_present(present, cfg.model.modalities), pos, neg,
                                           tau=cfg.loss.tau, margin=cfg.loss.margin,
                                           lambda_tri=cfg.loss.lambda_tri, denominator=cfg.loss.denominator)
            loss = mae + cfg.loss.lambda_cl * l_cl                                # L (eq. 32)
        self.opt.zero_grad(set_to_none=True)
        loss.backward() if self.acc is None else self.acc.backward(loss)
        if cfg.train.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.train.grad_clip)
        self.opt.step()
        self.sched.step()
        return len(anchors), loss.item(), mae.item(), parts

    def train_epoch(self, epoch: int) -> dict:
        cfg = self.cfg
        use_cl = cfg.loss.contrastive and cfg.loss.lambda_cl > 0
        similar = different = None
        t0 = time.time()
        if use_cl:
            similar, different = self.sample_sets()
        self.refresh_s = time.time() - t0                  # sample-set (and bank) refresh, logged with the epoch
        self.model.train()
        order = self.rng.permutation(len(self.sets["train"]))
        bs = cfg.train.batch_size
        steps = range(0, len(order), bs)
        if self.progress and self.rank == 0:
            steps = tqdm(steps, desc=f"epoch {epoch}/{cfg.train.epochs}", unit="step", leave=False)
        totals = {"loss": 0.0, "mae": 0.0, "cl": 0.0, "nt_xent": 0.0, "triplet": 0.0}
        seen = 0
        for s in steps:
            n, loss, mae, parts = self.train_step(order[s: s + bs], similar, different)
            seen += n
            totals["loss"] += loss * n
            totals["mae"] += mae * n
            for k in ("cl", "nt_xent", "triplet"):
                totals[k] += parts.get(k, 0.0) * n
        out = {k: v / max(seen, 1) for k, v in totals.items()}  # this process's share of the epoch
        return {**out, "lr": self.opt.param_groups[0]["lr"]}

    def fit(self, on_improve=None) -> dict:
        """Train; ``on_improve(epoch, valid_metrics)`` runs whenever validation MAE improves (e.g. to save a checkpoint
        so a stopped run keeps its best weights)."""
        cfg = self.cfg
        best = (float("inf"), -1, None)
        t0 = time.time()
        since_best, done = 0, 0
        if self.resumed:
            done, best, since_best, elapsed = self.restore(self.resumed)
            t0 -= elapsed
            if self.rank == 0:
                print(f"resuming after epoch {done} (best so far: epoch {best[1]}, valid MAE {best[0]:.4f})", flush=True)
        stop = self.resumed is not None and bool(cfg.train.patience) and since_best >= cfg.train.patience
        for epoch in range(done + 1, (cfg.train.epochs if not stop else done) + 1):
            te = time.time()
            train = self.train_epoch(epoch)
            valid = predict(self.model, self.sets["valid"], cfg, device=self.device, keep_features=False).metrics()
            self.log({"event": "epoch", "epoch": epoch, "train": train, "valid": valid, "seconds": time.time() - te,
                      "refresh_s": self.refresh_s})
            if self.rank == 0:
                print(f"epoch {epoch:3d}  train loss {train['loss']:.4f} (mae {train['mae']:.4f} cl {train['cl']:.4f})"
                      f"  valid MAE {valid['mae']:.4f}  {time.time() - te:.1f}s", flush=True)
            if valid["mae"] < best[0]:
                best = (valid["mae"], epoch, copy.deepcopy(self.model.state_dict()))
                since_best = 0
                if on_improve is not None and self.rank == 0:
                    on_improve(epoch, valid)
            else:
                since_best += 1
            self.save_resume(epoch, best, since_best, time.time() - t0)
            if cfg.train.patience and since_best >= cfg.train.patience:
                break
        self.model.load_state_dict(best[2])
        test = predict(self.model, self.sets["test"], cfg, device=self.device, keep_features=False).metrics()
        valid = predict(self.model, self.sets["valid"], cfg, device=self.device, keep_features=False).metrics()
        result = {"event": "test", "best_epoch": best[1], "valid": valid, "test": test, "wall_s": time.time() - t0,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        self.log(result)
        if self.resume_path is not None and self.rank == 0:
            self.resume_path.unlink(missing_ok=True)
        return result


def run_name(cfg: Config, config_path: str | None) -> str:
    """train.name, else ``<config stem>-s<seed>``; a config named after a dataset (mosi*, mosei*) run on other data
    is named after that data: configs/mosi-ft.yaml with data.source=mmsa data.path=…/aligned_50.pkl gives
    mmsa-aligned_50-ft-s1, not mosi-ft-s1."""
    if cfg.train.name:
        return cfg.train.name
    stem = Path(config_path).stem if config_path else "default"
    data = f"mmsa-{Path(cfg.data.path).stem}" if cfg.data.source == "mmsa" else cfg.data.source
    named = next((d for d in ("mosei", "mosi") if stem == d or stem.startswith(d + "-")), None)
    if named and named != data:
        stem = data + stem[len(named):]
    return f"{stem}-s{cfg.train.seed}"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="YAML config (configs/*.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value, e.g. --set loss.contrastive=false --set train.seed=2")
    p.add_argument("--device", default=None, help="auto | cpu | cuda (overrides train.device)")
    p.add_argument("--out", default=None, help="run folder (default: <train.out_dir>/<run name>)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--dry-run", action="store_true",
                   help="load the data and build the model, print the estimated peak memory and exit (no training)")


def main(args) -> int:
    cfg = load_config(args.config, args.overrides)
    if args.device:
        cfg.train.device = args.device
    out = Path(args.out) if args.out else Path(cfg.train.out_dir) / run_name(cfg, args.config)
    dry = getattr(args, "dry_run", False)
    run = Run(cfg, progress=not args.no_progress, log_path=None if dry else out / "log.jsonl",
              resume_path=None if dry else out / RESUME)
    est, budget, what = run.memory
    print(f"memory: estimated peak {est.describe()}; budget {budget / 1e9:.1f} GB ({what})", flush=True)
    if dry:
        return 0
    print(f"{run.dataset.name}: {', '.join(f'{k} {len(v)}' for k, v in run.sets.items())}; device {run.device}; "
          f"{sum(p.numel() for p in run.model.parameters() if p.requires_grad):,} trainable parameters", flush=True)
    for note in run.dataset.notes:   # provenance (sha256: genuine or not), layout, replaced values: on the console too
        if not note.startswith(EXTRACT_NOTE):
            print(f"data: {note}", flush=True)
    meta = {"dataset": run.dataset.name, "notes": run.dataset.notes}
    if "t" in cfg.model.modalities and cfg.data.text_source == "transcript":
        from .text_encoder import encoder_weights_id
        meta[WEIGHTS_KEY] = encoder_weights_id(cfg.model.text_encoder)   # checked when the checkpoint is loaded
    save = lambda extra: save_checkpoint(out / "checkpoint", run.model, cfg, run.normalizer, meta={**meta, **extra})
    result = run.fit(on_improve=lambda epoch, valid: save({"best_epoch": epoch, "valid": valid, "partial": True}))
    if run.rank != 0:
        return 0
    ckpt = save({"best_epoch": result["best_epoch"], "valid": result["valid"], "test": result["test"]})
    print(f"best epoch {result['best_epoch']}; test: {format_metrics(result['test'])}")
    print(f"wall {result['wall_s']:.0f}s, peak RSS {result['peak_rss_mb']:.0f} MB; checkpoint {ckpt}; log {out / 'log.jsonl'}")
    return 0
