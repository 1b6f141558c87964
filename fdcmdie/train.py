"""Training loop and the ``train`` command: ``python -m fdcmdie train --config configs/mosi.yaml [--set k=v ...]``.

One loop for every variant (ablations are config switches). Per epoch: refresh the contrastive sample sets
over the whole training set (spec §4.1), then for each step take n anchors plus members of their similar and
different sets, and minimise L = MAE + λ_cl · L_cl (eq. 32). The best epoch is the one with the lowest
validation MAE; its weights are tested and saved. One JSONL log per run.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import random
import resource
import time
from pathlib import Path

import numpy as np
import torch

from .config import Config, load_config
from .data import load_dataset, prepare
from .evaluate import model_dims, predict
from .losses import build_sample_sets, contrastive_loss
from .metrics import format_metrics
from .model import build_model

MOD_ORDER = ("t", "v", "a")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


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
            from .text_encoder import hidden_size
            m.text_dim = hidden_size(m.text_encoder)


def full_present(present: torch.Tensor, modalities: list[str]) -> torch.Tensor:
    """(B, M) in the model's modality order → (B, 3) in [t, v, a] order, False for unused modalities."""
    out = torch.zeros(present.shape[0], 3, dtype=torch.bool, device=present.device)
    for j, m in enumerate(modalities):
        out[:, MOD_ORDER.index(m)] = present[:, j]
    return out


class Run:
    """Everything one training run holds: data, model, optimiser, log."""

    def __init__(self, cfg: Config, *, progress: bool = True, log_path: str | Path | None = None):
        self.cfg, self.progress = cfg, progress
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        set_seed(cfg.train.seed)
        self.device = resolve_device(cfg.train.device)
        self.dataset = load_dataset(cfg)
        if cfg.train.limit_train:
            self.dataset.train = self.dataset.train.subset(range(min(cfg.train.limit_train, len(self.dataset.train))))
        fill_dims(cfg, self.dataset)
        self.sets, self.normalizer = prepare(self.dataset, cfg, progress=progress)
        self.dims = model_dims(cfg)
        set_seed(cfg.train.seed)
        self.model = build_model(cfg.model).to(self.device)
        self.model.set_memory_options(attention=cfg.train.attention, checkpoint_dipu=cfg.train.checkpoint_dipu)
        enc = [p for n, p in self.model.named_parameters() if ".encoder." in n]
        rest = [p for n, p in self.model.named_parameters() if ".encoder." not in n]
        t = cfg.train
        groups = [{"params": rest, "lr": t.lr}] + ([{"params": enc, "lr": t.encoder_lr}] if enc else [])
        self.opt = torch.optim.AdamW(groups, weight_decay=t.weight_decay)
        self.rng = np.random.default_rng(t.seed)
        # Data-parallel under `accelerate launch` / torchrun: every process draws the same global batch and
        # takes its shard of the anchors; DDP averages the gradients, so the step equals the single-process one.
        self.acc, self.rank, self.world = None, 0, int(os.environ.get("WORLD_SIZE", "1"))
        self.net = self.model                      # what the training step calls (DDP wrapper when distributed)
        if self.world > 1:
            from accelerate import Accelerator
            self.acc = Accelerator(cpu=self.device.type == "cpu")
            self.device, self.rank = self.acc.device, self.acc.process_index
            self.model.to(self.device)
            self.net, self.opt = self.acc.prepare(self.model, self.opt)
        # Pre-flight (fdcmdie/memory.py): the estimated peak of a step against the memory budget, before any step;
        # a run that would not fit stops here with what would fit, instead of being killed later.
        from .memory import Shapes, preflight
        self.memory = preflight(cfg, Shapes.of(self.sets["train"], cfg.model.modalities), device=self.device,
                                trainable_params=sum(p.numel() for p in self.model.parameters() if p.requires_grad),
                                world=self.world)
        self.log_path = Path(log_path) if log_path and self.rank == 0 else None
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self.log_path.write_text("")
        self.log({"event": "config", "config": cfg.to_dict(), "dataset": self.dataset.name, "notes": self.dataset.notes,
                  "sizes": {k: len(v) for k, v in self.sets.items()}, "device": str(self.device),
                  "params": sum(p.numel() for p in self.model.parameters())})
        from .memory import to_record
        self.log({"event": "memory", **to_record(*self.memory)})

    def log(self, record: dict) -> None:
        if self.log_path:
            with self.log_path.open("a") as f:
                f.write(json.dumps(record) + "\n")

    # -- contrastive sample sets (spec §4.1), refreshed once per epoch over the training set
    @torch.no_grad()
    def sample_sets(self) -> tuple[torch.Tensor, torch.Tensor]:
        train = self.sets["train"]
        self.model.eval()
        feats = []
        for s in range(0, len(train), 256):
            out = self.model.decouple(train.batch(range(s, min(s + 256, len(train))), self.dims).to(self.device))[0]
            feats.append(torch.cat([out["extracted"][m] for m in self.cfg.model.modalities], 1).cpu())
        return build_sample_sets(torch.cat(feats), torch.from_numpy(train.split.labels),
                                 self.cfg.loss.k_cl, self.cfg.loss.label_classes)

    def members(self, sets: torch.Tensor, anchors: np.ndarray, m: int) -> np.ndarray:
        """(n, m) training-set indices drawn from each anchor's set (-1 where the set is short)."""
        rows = sets[torch.as_tensor(anchors)].numpy()
        out = np.full((len(anchors), m), -1)
        for i, row in enumerate(rows):
            valid = row[row >= 0]
            if len(valid):
                out[i] = self.rng.choice(valid, size=m, replace=len(valid) < m)
        return out

    def step_batch(self, anchors: np.ndarray, similar, different):
        """The anchors' batch, the members' batch (or None) and pos/neg row indices into [anchors; members]."""
        if similar is not None:  # drawn for the whole global batch so every process consumes the rng alike
            mps = self.cfg.loss.members_per_step
            pos_members, neg_members = self.members(similar, anchors, mps), self.members(different, anchors, mps)
        shard = slice(self.rank, None, self.world)
        anchors = anchors[shard]
        batch = self.sets["train"].batch(anchors, self.dims).to(self.device)
        if similar is None:
            return batch, None, None, None
        n, pos_members, neg_members = len(anchors), pos_members[shard], neg_members[shard]
        pos = np.where(pos_members >= 0, n + np.arange(n * mps).reshape(n, mps), -1)
        neg = np.where(neg_members >= 0, n + n * mps + np.arange(n * mps).reshape(n, mps), -1)
        rows = np.concatenate([np.where(pos_members >= 0, pos_members, anchors[:, None]).ravel(),
                               np.where(neg_members >= 0, neg_members, anchors[:, None]).ravel()])
        members = self.sets["train"].batch(rows, self.dims).to(self.device)
        as_t = lambda x: torch.as_tensor(x, device=self.device)
        return batch, members, as_t(pos), as_t(neg)

    def modality_dropout(self, batch):
        p = self.cfg.loss.modality_dropout
        for m in self.cfg.model.modalities:
            if m in self.cfg.loss.dropout_modalities and p > 0:
                batch = batch.drop(m, torch.rand(len(batch), device=self.device) < p)
        return batch

    def train_epoch(self, epoch: int) -> dict:
        cfg = self.cfg
        use_cl = cfg.loss.contrastive and cfg.loss.lambda_cl > 0
        similar = different = None
        if use_cl:
            similar, different = self.sample_sets()
        self.model.train()
        order = self.rng.permutation(len(self.sets["train"]))
        bs = cfg.train.batch_size
        steps = range(0, len(order), bs)
        if self.progress and self.rank == 0:
            from tqdm.auto import tqdm
            steps = tqdm(steps, desc=f"epoch {epoch}/{cfg.train.epochs}", unit="step", leave=False)
        totals = {"loss": 0.0, "mae": 0.0, "cl": 0.0, "nt_xent": 0.0, "triplet": 0.0}
        seen = 0
        for s in steps:
            anchors = order[s: s + bs]
            batch, members, pos, neg = self.step_batch(anchors, similar, different)
            batch = self.modality_dropout(batch)
            members = self.modality_dropout(members) if members is not None else None
            out = self.net(batch, members)                                        # members skip CMDIE
            n = len(anchors)
            mae = (out["pred"] - batch.label).abs().mean()                        # L_pred (eq. 31)
            loss = mae
            parts = {}
            if use_cl:
                z, present = out["decoupled"], out["present"]
                if members is not None:
                    z = {k: torch.cat([v, out["members"]["decoupled"][k]]) for k, v in z.items()}
                    present = torch.cat([present, out["members"]["present"]])
                l_cl, parts = contrastive_loss(z, full_present(present, cfg.model.modalities), pos, neg,
                                               tau=cfg.loss.tau, margin=cfg.loss.margin,
                                               lambda_tri=cfg.loss.lambda_tri, denominator=cfg.loss.denominator)
                loss = mae + cfg.loss.lambda_cl * l_cl                            # L (eq. 32)
            self.opt.zero_grad(set_to_none=True)
            loss.backward() if self.acc is None else self.acc.backward(loss)
            if cfg.train.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.train.grad_clip)
            self.opt.step()
            seen += n
            totals["loss"] += loss.item() * n
            totals["mae"] += mae.item() * n
            for k in ("cl", "nt_xent", "triplet"):
                totals[k] += parts.get(k, 0.0) * n
        return {k: v / max(seen, 1) for k, v in totals.items()}  # this process's share of the epoch

    def fit(self, on_improve=None) -> dict:
        """Train; ``on_improve(epoch, valid_metrics)`` runs whenever validation MAE improves (e.g. to save a checkpoint
        so a stopped run keeps its best weights)."""
        cfg = self.cfg
        best = (float("inf"), -1, None)
        t0 = time.time()
        since_best = 0
        for epoch in range(1, cfg.train.epochs + 1):
            te = time.time()
            train = self.train_epoch(epoch)
            valid = predict(self.model, self.sets["valid"], cfg, device=self.device, keep_features=False).metrics()
            self.log({"event": "epoch", "epoch": epoch, "train": train, "valid": valid, "seconds": time.time() - te})
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
                if cfg.train.patience and since_best >= cfg.train.patience:
                    break
        self.model.load_state_dict(best[2])
        test = predict(self.model, self.sets["test"], cfg, device=self.device, keep_features=False).metrics()
        valid = predict(self.model, self.sets["valid"], cfg, device=self.device, keep_features=False).metrics()
        result = {"event": "test", "best_epoch": best[1], "valid": valid, "test": test, "wall_s": time.time() - t0,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        self.log(result)
        return result


def run_name(cfg: Config, config_path: str | None) -> str:
    if cfg.train.name:
        return cfg.train.name
    stem = Path(config_path).stem if config_path else "default"
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
    run = Run(cfg, progress=not args.no_progress, log_path=None if dry else out / "log.jsonl")
    est, budget, what = run.memory
    print(f"memory: estimated peak {est.describe()}; budget {budget / 1e9:.1f} GB ({what})", flush=True)
    if dry:
        return 0
    print(f"{run.dataset.name}: {', '.join(f'{k} {len(v)}' for k, v in run.sets.items())}; device {run.device}; "
          f"{sum(p.numel() for p in run.model.parameters() if p.requires_grad):,} trainable parameters", flush=True)
    from .checkpoint import save_checkpoint
    meta = {"dataset": run.dataset.name, "notes": run.dataset.notes}
    save = lambda extra: save_checkpoint(out / "checkpoint", run.model, cfg, run.normalizer, meta={**meta, **extra})
    result = run.fit(on_improve=lambda epoch, valid: save({"best_epoch": epoch, "valid": valid, "partial": True}))
    if run.rank != 0:
        return 0
    ckpt = save({"best_epoch": result["best_epoch"], "valid": result["valid"], "test": result["test"]})
    print(f"best epoch {result['best_epoch']}; test: {format_metrics(result['test'])}")
    print(f"wall {result['wall_s']:.0f}s, peak RSS {result['peak_rss_mb']:.0f} MB; checkpoint {ckpt}; log {out / 'log.jsonl'}")
    return 0
