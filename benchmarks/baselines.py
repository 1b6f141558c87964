"""Reference baselines for docs/RESULTS.md (text only, MOSI).

    python benchmarks/baselines.py ridge [--data-root data] [--splits standard,poria,poria-honest,poria-test-cv]
    python benchmarks/baselines.py modalities [--data-root data]
    python benchmarks/baselines.py finetune [--split standard] [--seed 1] [--epochs 8] [--train-layers N]
    … [--encoder multilingual-e5-small] [--prefix "query: "]   (ridge and finetune; default: MiniLM, no prefix)

``ridge``: ridge regression on mean-pooled frozen MiniLM token states; the ridge strength is chosen on the validation
split. Writes runs/baseline-ridge-<split>/log.jsonl (poria-honest and poria-test-cv read the splits of
configs/mosi-poria-honest.yaml and configs/mosi-poria-cv.yaml; poria-test-cv writes one log per fold, -f<i>).
``modalities``: what each of the bundle's utterance vectors (openSMILE audio, 3D-CNN video, text-CNN, all three)
carries, by half of Poria's split: ridge regression, 5-fold by video inside the half (strength chosen by an inner
video-grouped CV), out-of-fold predictions scored together. The vectors were fitted with labels on the train half,
so the test half is where their signal is honest. Writes runs/baseline-ridge-modalities/log.jsonl.
``finetune``: the whole MiniLM fine-tuned as a plain text regressor (mean pooling, MLP head, L1 loss, AdamW 3e-5,
batch 32), the epoch chosen by validation MAE; ``--train-layers 2`` trains only the top 2 blocks, as the
fine-tuned FD-CMDIE recipe does. Writes runs/baseline-ft-[top<n>-]<split>-s<seed>/log.jsonl; ``--save DIR`` also
keeps the best epoch's encoder (``save_pretrained``) as stage 1 of FD-CMDIE's two-stage start (``train.text_init``).
Each log ends with a {"event": "test", ...} record, the same shape the report reads from training runs.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import Ridge

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from fdcmdie.config import load_config  # noqa: E402
from fdcmdie.data import load_dataset, text_inputs  # noqa: E402
from fdcmdie.metrics import compute_metrics, format_metrics  # noqa: E402
from fdcmdie.model import masked_mean  # noqa: E402


def pooled(texts, cfg) -> np.ndarray:
    states = text_inputs(texts, cfg)["text_feats"]
    return np.stack([s.astype(np.float32).mean(0) for s in states])


def encoder_overrides(args) -> list[str]:
    return [f"model.text_encoder={args.encoder}"]   # the prefix is put on the texts here (YAML would parse "query: ")


def encoder_tag(args) -> str:
    """'' for MiniLM (the names the report already reads), else e.g. 'e5-' in the run name."""
    return "" if args.encoder == "minilm" else ("e5-" if "e5" in args.encoder else Path(args.encoder).name + "-")


def encoder_label(args) -> str:
    name = {"minilm": "MiniLM"}.get(args.encoder, "e5-small" if "e5" in args.encoder else args.encoder)
    return name + (f" (prefix {args.prefix!r})" if args.prefix else "")


RIDGE_CONFIGS = {"poria-honest": "configs/mosi-poria-honest.yaml", "poria-test-cv": "configs/mosi-poria-cv.yaml"}


def ridge(args) -> None:
    for split in args.splits.split(","):
        folds = range(load_config(RIDGE_CONFIGS[split]).data.folds) if split == "poria-test-cv" else [None]
        for fold in folds:
            ridge_one(args, split, fold)


def ridge_one(args, split: str, fold: int | None) -> None:
    """Ridge on one split (one fold of poria-test-cv); writes its log."""
    t = time.time()
    cfg = load_config(RIDGE_CONFIGS.get(split, "configs/mosi.yaml"),
                      [f"data.root={args.data_root}", f"data.split={split}", "model.modalities=[t]",
                       "loss.contrastive=false", *encoder_overrides(args)] + ([f"data.fold={fold}"] if fold is not None else []))
    ds = load_dataset(cfg)
    X = {s: pooled([args.prefix + t for t in ds.split(s).texts], cfg) for s in ("train", "valid", "test")}
    y = {s: ds.split(s).labels for s in ("train", "valid", "test")}
    best = min((np.abs(Ridge(alpha=a).fit(X["train"], y["train"]).predict(X["valid"]) - y["valid"]).mean(), a)
               for a in (0.1, 0.3, 1, 3, 10, 30, 100))
    model = Ridge(alpha=best[1]).fit(X["train"], y["train"])
    test = compute_metrics(model.predict(X["test"]), y["test"])
    where = f"{split} split" + (f", fold {fold}" if fold is not None else "")
    label = f"ridge on mean-pooled frozen {encoder_label(args)}, text only, MOSI {where} (alpha {best[1]})"
    out = Path(args.runs) / (f"baseline-ridge-{encoder_tag(args)}{split}" + (f"-f{fold}" if fold is not None else ""))
    out.mkdir(parents=True, exist_ok=True)
    (out / "log.jsonl").write_text(json.dumps({"event": "test", "label": label, "test": test,
                                               "valid_mae": float(best[0]), "wall_s": time.time() - t}) + "\n")
    print(f"{label}: {format_metrics(test)}")


class TextRegressor(torch.nn.Module):
    """Whole encoder → masked mean over tokens → MLP → score."""

    def __init__(self, encoder: torch.nn.Module, dim: int):
        super().__init__()
        self.encoder = encoder
        self.head = torch.nn.Sequential(torch.nn.Linear(dim, dim), torch.nn.GELU(), torch.nn.Dropout(0.1),
                                        torch.nn.Linear(dim, 1))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.encoder(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        return self.head(masked_mean(h, mask)).squeeze(-1)


def modalities(args) -> None:
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import GroupKFold

    from fdcmdie.data.mosi import read_features, read_labels, LABEL_COLUMNS

    t0 = time.time()
    root = Path(args.data_root) / "mosi"
    df, feats = read_labels(root / "labels.csv", LABEL_COLUMNS), read_features(root / "utterance_features.npz")
    row = {k: i for i, k in enumerate(feats["id"].tolist())}
    order = np.array([row[i] for i in df["id"]])
    sets = {"audio": ["audio"], "video": ["video"], "text-CNN": ["text"], "all three": ["audio", "video", "text"]}
    table = {}
    for half in ("train", "test"):
        sel = np.flatnonzero((df["poria_split"] == half).to_numpy())
        y, groups = df["label"].to_numpy(np.float64)[sel], df["video_id"].to_numpy()[sel]
        for name, keys in sets.items():
            X = np.concatenate([feats[k][order[sel]].astype(np.float64) for k in keys], 1)
            pred = np.zeros_like(y)
            for tr, te in GroupKFold(n_splits=5).split(X, y, groups):
                mu, sd = X[tr].mean(0), X[tr].std(0) + 1e-6
                cv = list(GroupKFold(n_splits=4).split(X[tr], y[tr], groups[tr]))
                model = RidgeCV(alphas=(0.1, 1, 10, 100, 1000), cv=cv).fit((X[tr] - mu) / sd, y[tr])
                pred[te] = model.predict((X[te] - mu) / sd)
            table[f"{name} / {half} half"] = compute_metrics(pred, y)
            print(f"{name:10s} Poria {half} half (5-fold by video): {format_metrics(table[f'{name} / {half} half'])}")
    out = Path(args.runs) / "baseline-ridge-modalities"
    out.mkdir(parents=True, exist_ok=True)
    label = "ridge per bundle vector, 5-fold by video inside each half of Poria's split"
    (out / "log.jsonl").write_text(json.dumps({"event": "modalities", "label": label, "results": table,
                                               "wall_s": time.time() - t0}) + "\n")


def finetune(args) -> None:
    from tqdm.auto import tqdm

    from fdcmdie.text_encoder import encoder_layers, load_encoder, tokenize

    t0 = time.time()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    cfg = load_config("configs/mosi.yaml", [f"data.root={args.data_root}", f"data.split={args.split}",
                                            "model.modalities=[t]", "loss.contrastive=false", *encoder_overrides(args),
                                            *([f"data.extra_train={args.extra_train}",
                                               f"data.extra_train_limit={args.extra_limit}"] if args.extra_train else [])])
    ds = load_dataset(cfg)                 # --extra-train mosei: MOSEI's training transcripts join MOSI's train only
    _, pretrained = load_encoder(cfg.model.text_encoder)
    net = TextRegressor(copy.deepcopy(pretrained).train(), pretrained.config.hidden_size)
    if args.train_layers > 0:  # only the top n transformer blocks (and the head) learn, as in configs/mosi-ft.yaml
        net.encoder.requires_grad_(False)
        encoder_layers(net.encoder)[-args.train_layers:].requires_grad_(True)
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=args.lr, weight_decay=0.01)
    ids = {s: tokenize(cfg.model.text_encoder, [args.prefix + t for t in ds.split(s).texts], cfg.model.max_text_len)
           for s in ("train", "valid", "test")}
    y = {s: torch.as_tensor(ds.split(s).labels, dtype=torch.float32) for s in ids}

    def batch(split, rows):
        seqs = [torch.from_numpy(ids[split][i]) for i in rows]
        padded = torch.nn.utils.rnn.pad_sequence(seqs, batch_first=True)
        mask = torch.nn.utils.rnn.pad_sequence([torch.ones(len(x), dtype=torch.bool) for x in seqs], batch_first=True)
        return padded, mask

    @torch.no_grad()
    def predict(split):
        net.eval()
        n = len(ids[split])
        return np.concatenate([net(*batch(split, range(s, min(s + 64, n)))).numpy() for s in range(0, n, 64)])

    top = f"top{args.train_layers}-" if args.train_layers > 0 else ""
    extra = f"{args.extra_train}-" if args.extra_train else ""
    out = Path(args.runs) / f"baseline-ft-{encoder_tag(args)}{top}{extra}{args.split}-s{args.seed}"
    out.mkdir(parents=True, exist_ok=True)
    log = (out / "log.jsonl").open("w")
    best = (float("inf"), 0, None)
    for epoch in range(1, args.epochs + 1):
        te = time.time()
        net.train()
        order = rng.permutation(len(ids["train"]))
        for s in tqdm(range(0, len(order), args.batch_size), desc=f"epoch {epoch}", leave=False, disable=args.no_progress):
            rows = order[s: s + args.batch_size]
            loss = (net(*batch("train", rows)) - y["train"][rows]).abs().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        valid = compute_metrics(predict("valid"), y["valid"].numpy())
        log.write(json.dumps({"event": "epoch", "epoch": epoch, "valid": valid, "seconds": time.time() - te}) + "\n")
        log.flush()
        print(f"epoch {epoch}: valid {format_metrics(valid)} ({time.time() - te:.0f}s)", flush=True)
        if valid["mae"] < best[0]:
            best = (valid["mae"], epoch, copy.deepcopy(net.state_dict()))
    net.load_state_dict(best[2])
    if args.save:  # stage 1 of the two-stage FD-CMDIE recipe: --set train.text_init=<this folder>
        net.encoder.save_pretrained(args.save)
    test = compute_metrics(predict("test"), y["test"].numpy())
    how = f"top {args.train_layers} layers fine-tuned" if args.train_layers > 0 else "fully fine-tuned"
    label = f"{encoder_label(args)} {how}, text only (mean pooling, MLP head, L1, AdamW {args.lr:g}), MOSI {args.split} split"
    if args.extra_train:
        label += f", trained on {len(ds.train)} transcripts (MOSI train + MOSEI train)"
    log.write(json.dumps({"event": "test", "label": label, "best_epoch": best[1], "test": test,
                          "valid": compute_metrics(predict("valid"), y["valid"].numpy()),
                          "wall_s": time.time() - t0}) + "\n")
    log.close()
    print(f"{label}, best epoch {best[1]}: {format_metrics(test)}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("which", choices=["ridge", "modalities", "finetune"])
    p.add_argument("--data-root", default=str(Path(__file__).resolve().parents[1] / "data"))
    p.add_argument("--runs", default="runs")
    p.add_argument("--split", default="standard", choices=["standard", "poria"], help="finetune only")
    p.add_argument("--splits", default="standard,poria", help="ridge only: comma-separated MOSI splits")
    p.add_argument("--seed", type=int, default=1, help="finetune only")
    p.add_argument("--epochs", type=int, default=8, help="finetune only")
    p.add_argument("--batch-size", type=int, default=32, help="finetune only")
    p.add_argument("--lr", type=float, default=3e-5, help="finetune only")
    p.add_argument("--train-layers", type=int, default=0, help="finetune only: train only the top n layers (0: all)")
    p.add_argument("--save", default=None, help="finetune only: save the best epoch's encoder here (save_pretrained), "
                   "for FD-CMDIE's two-stage start --set train.text_init=DIR")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--encoder", default="minilm", help="ridge/finetune: text encoder (model.text_encoder), e.g. multilingual-e5-small")
    p.add_argument("--prefix", default="", help='ridge/finetune: put before every text (e5: "query: ")')
    p.add_argument("--extra-train", default="", choices=["", "mosei"],
                   help="finetune only: MOSEI's training transcripts join MOSI's training split (data.extra_train)")
    p.add_argument("--extra-limit", type=int, default=0, help="finetune only: at most this many extra samples (0: all)")
    args = p.parse_args()
    {"ridge": ridge, "modalities": modalities, "finetune": finetune}[args.which](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
