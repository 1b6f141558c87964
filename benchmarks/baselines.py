"""Reference baselines for docs/RESULTS.md: ridge regression on mean-pooled frozen MiniLM token states.

    python benchmarks/baselines.py [--data-root ../shared/data]

Writes runs/baseline-ridge-<split>/log.jsonl with a final {"event": "test", ...} record, the same shape the
report reads from training runs. The ridge strength is chosen on the validation split.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import Ridge

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from fdcmdie.config import load_config  # noqa: E402
from fdcmdie.data import load_dataset, text_inputs  # noqa: E402
from fdcmdie.metrics import compute_metrics, format_metrics  # noqa: E402


def pooled(texts, cfg) -> np.ndarray:
    states = text_inputs(texts, cfg)["text_feats"]
    return np.stack([s.astype(np.float32).mean(0) for s in states])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", default="../shared/data")
    p.add_argument("--runs", default="runs")
    args = p.parse_args()
    for split in ("standard", "poria"):
        t = time.time()
        cfg = load_config("configs/mosi.yaml", [f"data.root={args.data_root}", f"data.split={split}",
                                                "model.modalities=[t]", "loss.contrastive=false"])
        ds = load_dataset(cfg)
        X = {s: pooled(ds.split(s).texts, cfg) for s in ("train", "valid", "test")}
        y = {s: ds.split(s).labels for s in ("train", "valid", "test")}
        best = min((np.abs(Ridge(alpha=a).fit(X["train"], y["train"]).predict(X["valid"]) - y["valid"]).mean(), a)
                   for a in (0.1, 0.3, 1, 3, 10, 30, 100))
        model = Ridge(alpha=best[1]).fit(X["train"], y["train"])
        test = compute_metrics(model.predict(X["test"]), y["test"])
        label = f"ridge on mean-pooled frozen MiniLM, text only, MOSI {split} split (alpha {best[1]})"
        out = Path(args.runs) / f"baseline-ridge-{split}"
        out.mkdir(parents=True, exist_ok=True)
        (out / "log.jsonl").write_text(json.dumps({"event": "test", "label": label, "test": test,
                                                   "valid_mae": float(best[0]), "wall_s": time.time() - t}) + "\n")
        print(f"{label}: {format_metrics(test)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
