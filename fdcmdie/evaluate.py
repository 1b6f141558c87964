"""Inference over a split and the ``evaluate`` command: ``python -m fdcmdie evaluate --checkpoint DIR``."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch

from .checkpoint import check_fits, load_checkpoint
from .config import Config, model_dims
from .data import SampleSet, load_dataset, prepare
from .data.base import Batch
from .data.mmsa import layout_mismatch
from .devices import resolve_device
from .facts import SPLITS
from .metrics import compute_metrics, format_metrics
from .model import FDCMDIE


@dataclass
class Predictions:
    ids: list[str]
    texts: list[str]
    label: np.ndarray          # (N,)
    pred: np.ndarray           # (N,)
    alpha: np.ndarray | None   # (N, k, M) GAP weights per layer
    gates: np.ndarray | None   # (N, k, M) GAP gates per layer
    features: dict             # {"decoupled": {Ts..Ad: (N, d)}, "cmdie": {G_T, G_V, G_A, Td..Ad, G: (N, d)}, "extracted": {t/v/a: (N, d)}}
    present: np.ndarray        # (N, M)

    def metrics(self) -> dict:
        return compute_metrics(self.pred, self.label)


def keep_only(batch: Batch, modalities, keep) -> Batch:
    """``batch`` with every modality of ``modalities`` outside ``keep`` marked missing for all rows (all-False mask,
    exactly as a missing input in training: GAP gives it α = 0). ``keep`` None keeps them all."""
    if keep is None:
        return batch
    everyone = torch.ones(len(batch), dtype=torch.bool)
    for m in modalities:
        if m not in keep:
            batch = batch.drop(m, everyone)
    return batch


@torch.no_grad()
def forward_batches(model: FDCMDIE, batches: Iterable[Batch], *, device="cpu", keep=None,
                    keep_features: bool = True) -> dict:
    """The model's outputs over ``batches``, concatenated as numpy arrays: {"pred": (N,), "present": (N, M),
    "alpha" / "gates": (N, k, M) or None, "features": {group: {name: (N, d)}}}. ``keep``: see :func:`keep_only`."""
    model.eval()
    outs = [model(keep_only(b, model.cfg.modalities, keep).to(device)) for b in batches]
    if not outs:
        raise ValueError("no samples to run")
    cat = lambda key: torch.cat([o[key] for o in outs]).cpu().numpy() if key in outs[0] else None
    feats = {}
    if keep_features:
        for group in ("decoupled", "cmdie", "extracted"):
            if group in outs[0]:
                feats[group] = {k: torch.cat([o[group][k] for o in outs]).cpu().numpy() for k in outs[0][group]}
    return {"pred": cat("pred"), "alpha": cat("alpha"), "gates": cat("gates"), "present": cat("present"),
            "features": feats}


def predict(model: FDCMDIE, samples: SampleSet, cfg: Config, *, batch_size: int = 128, device="cpu",
            keep_features: bool = True, rows=None, keep=None) -> Predictions:
    """Predictions of ``samples`` (``rows`` of them, default all, in that order) with the modalities in ``keep``
    (default all)."""
    idx = np.arange(len(samples)) if rows is None else np.asarray(rows)
    dims = model_dims(cfg)
    out = forward_batches(model, (samples.batch(idx[s: s + batch_size], dims) for s in range(0, len(idx), batch_size)),
                          device=device, keep=keep, keep_features=keep_features)
    sp = samples.split
    return Predictions(ids=[sp.ids[i] for i in idx], texts=[sp.texts[i] for i in idx], label=sp.labels[idx], **out)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="checkpoint folder (model.safetensors + config.json)")
    p.add_argument("--split", default="test", choices=SPLITS)
    p.add_argument("--data-root", default=None, help="folder holding mosi/ and mosei/ (default: the checkpoint's)")
    p.add_argument("--data-path", default=None, help="MMSA pickle (for checkpoints trained on one)")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")


def main(args) -> int:
    device = resolve_device(args.device)
    model, cfg, norm, meta = load_checkpoint(args.checkpoint, device=device)
    if args.data_root:
        cfg.data.root = args.data_root
    if args.data_path:
        cfg.data.path = args.data_path
    ds = load_dataset(cfg)
    check_fits(cfg, ds.dims, ds.name)
    warning = layout_mismatch(meta.get("notes", []), str(meta.get("dataset", "")), ds)
    if warning:
        print(f"WARNING: {warning}", file=sys.stderr, flush=True)
    sets, _ = prepare(ds, cfg, normalizer=norm, progress=True)
    preds = predict(model, sets[args.split], cfg, device=device, keep_features=False)
    m = preds.metrics()
    if args.json:
        print(json.dumps({"split": args.split, "n": len(preds.ids), **m, **({"warning": warning} if warning else {})}))
    else:
        print(f"{ds.name} {args.split} ({len(preds.ids)} segments): {format_metrics(m)}")
        for k, v in m.items():
            print(f"  {k:10s} {v:8.3f}")
    return 0
