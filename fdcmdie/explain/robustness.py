"""Robustness curves (in the spirit of Robust-MSA and OpenVNA): a checkpoint's metrics on a split as a modality is
removed, as its input features are noised, and as words are dropped from the transcripts.

    r = robustness_curves(predictor, "test")        # JSON-ready dict: clean metrics + one record per condition
    fig = robustness_figure([r_a, r_b])              # plotly, one colour per checkpoint
    python -m fdcmdie robustness --checkpoint checkpoints/mosi-std-ta --split test --out docs/robustness

Conditions (every one scored with ``metrics.compute_metrics`` on the whole split):

- ``drop``: the modality's mask is all False for every sample, exactly as a missing input in training and
  inference (GAP gives it α = 0).
- ``noise``: x + level · σ_f · ε with ε ~ N(0, 1) on the modality's real time steps, where σ_f is feature f's
  standard deviation over the split's real steps in the model's input space (z-scored audio/video frames; the
  cached token states of the text encoder). Level 0 is the clean input.
- ``words``: each word of a transcript is dropped with probability p (at least one word is kept) and the shortened
  transcript is encoded again through the checkpoint's text path (``data.text_inputs`` with its config, as
  ``Predictor`` does: the frozen encoder or the cached states below the fine-tuned top layers). The fraction of words
  actually dropped is reported. The encodings go to the checkpoint's on-disk feature cache, so a rerun is quick.

Noise and word dropping use a fixed seed, so the curves are reproducible.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from . import MOD_NAMES
from ..facts import MODALITIES
from ..inference import Predictor
from ..metrics import METRIC_KEYS, METRIC_NAMES, compute_metrics

NOISE_LEVELS = (0.5, 1.0, 2.0)               # σ of the added noise, in units of each feature's σ
WORD_DROP = (0.1, 0.2, 0.3, 0.4, 0.5)        # probability of dropping each word
SEED = 0
SEQ = {"t": ("text", "text_mask"), "a": ("audio", "audio_mask"), "v": ("vision", "vision_mask")}
KIND_TITLES = {"drop": "modality removed", "noise": "Gaussian noise on one modality (σ × feature σ)",
               "words": "words dropped at random"}


def drop_words(text: str, p: float, rng: np.random.Generator) -> str:
    """``text`` with each word dropped with probability ``p``; at least one word (chosen at random) is kept."""
    words = text.split()
    if not words or p <= 0:
        return " ".join(words)
    keep = rng.random(len(words)) >= p
    if not keep.any():
        keep[rng.integers(len(words))] = True
    return " ".join(w for w, k in zip(words, keep) if k)


def _feature_std(batches, m: str) -> torch.Tensor:
    """σ_f of modality ``m``'s features over the real time steps of all batches (1 where a feature is constant)."""
    x_key, mask_key = SEQ[m]
    frames = torch.cat([getattr(b, x_key)[getattr(b, mask_key)] for b in batches])
    std = frames.std(0) if len(frames) > 1 else torch.ones(frames.shape[-1])
    return torch.where(std > 1e-6, std, torch.ones_like(std))


def _noised(batch, m: str, sigma: torch.Tensor, gen: torch.Generator):
    x_key, mask_key = SEQ[m]
    x, mask = getattr(batch, x_key), getattr(batch, mask_key)
    noise = torch.randn(x.shape, generator=gen) * sigma * mask[..., None]
    new = type(batch)(**batch.__dict__)
    setattr(new, x_key, x + noise)
    return new


@torch.no_grad()
def robustness_curves(predictor, split: str = "test", data_root: str | Path | None = None, *,
                      noise_levels=NOISE_LEVELS, word_drop=WORD_DROP, seed: int = SEED, rows=None,
                      batch_size: int = 128, progress=None) -> dict:
    """Metrics of ``predictor`` on ``split`` under each condition (see the module docstring). ``rows``: a subset of
    the split's rows (default all); ``progress``: a callable given one line per condition. Returns a JSON-ready dict
    {checkpoint, split, n, modalities, modality_dropout, seed, clean, conditions: [{kind, modality, level, metrics,
    …}], seconds}."""
    t0 = time.perf_counter()
    say = progress or (lambda line: None)
    if rows is not None and len(rows) == 0:
        raise ValueError("no samples to score")
    # batches of transcripts of similar length (less padding); ``order`` is the split's rows in batch order
    order, base = predictor.split_batches(split, data_root, rows=rows, batch_size=batch_size, by_length=True)
    if len(order) == 0:
        raise ValueError("no samples to score")
    mods = [m for m in MODALITIES if m in predictor.modalities]
    label = np.concatenate([b.label.numpy() for b in base]).astype(np.float64)

    def score(batches, keep=None) -> dict:
        pred = predictor.run(batches, keep=keep).pred
        return {k: round(float(v), 4) for k, v in compute_metrics(pred, label).items()}

    clean = score(base)
    say(f"clean: {_line(clean)}")
    conditions = []

    def add(kind: str, m: str | None, level: float | None, metrics: dict, **extra) -> None:
        conditions.append({"kind": kind, "modality": m, "level": level, "metrics": metrics, **extra})
        what = (f"without {MOD_NAMES[m]}" if kind == "drop" else f"{MOD_NAMES[m]} noise {level:g}σ" if kind == "noise"
                else f"words dropped p={level:g}")
        say(f"{what}: {_line(metrics)}")

    if len(mods) > 1:
        for m in mods:
            add("drop", m, None, score(base, keep=[x for x in mods if x != m]))
    for i, m in enumerate(mods):
        if m == "t" and base[0].text is None:
            continue  # token ids: there is no feature space to noise (word dropping still applies)
        sigma = _feature_std(base, m)
        for j, level in enumerate(noise_levels):
            if level == 0:
                add("noise", m, 0.0, clean)
                continue
            gen = torch.Generator().manual_seed(seed * 1000 + 10 * i + j)
            add("noise", m, float(level), score([_noised(b, m, sigma * float(level), gen) for b in base]))

    words_note = None
    if "t" in mods and predictor.cfg.data.text_source == "transcript":
        texts = [t for b in base for t in b.texts]
        n_words = sum(len(t.split()) for t in texts)
        for j, p in enumerate(word_drop):
            rng = np.random.default_rng([seed, j])
            short = [drop_words(t, float(p), rng) for t in texts]
            kept = sum(len(t.split()) for t in short)
            _, shortened = predictor.split_batches(split, data_root, rows=order, batch_size=batch_size, texts=short)
            add("words", "t", float(p), score(shortened), dropped_fraction=round(1 - kept / max(n_words, 1), 4))
    elif "t" in mods:
        words_note = "the text input is a precomputed vector per sample: words cannot be dropped"

    cfg = predictor.cfg
    m_cfg = cfg.model
    recipe = {"dataset": predictor.meta.get("dataset", cfg.data.source), "modalities": mods,
              "text_encoder": m_cfg.text_encoder, "text_finetune_layers": m_cfg.text_finetune_layers, "d": m_cfg.d,
              "k": m_cfg.k, "contrastive": bool(cfg.loss.contrastive)}  # what two checkpoints must share to be paired
    meta = predictor.meta or {}
    training = {"best_epoch": meta.get("best_epoch"), "stopped_early": bool(meta.get("partial"))}  # partial: run stopped
    return {"checkpoint": predictor.name, "recipe": recipe, "training": training, "path": str(predictor.path) if predictor.path else None, "split": split,
            "dataset": predictor.meta.get("dataset", cfg.data.source), "n": int(len(order)), "modalities": mods,
            "contrastive": bool(cfg.loss.contrastive), "modality_dropout": float(cfg.loss.modality_dropout),
            "seed": int(seed), "noise_levels": [float(x) for x in noise_levels],
            "word_drop": [float(x) for x in word_drop], "clean": clean, "conditions": conditions,
            "words_note": words_note, "seconds": round(time.perf_counter() - t0, 1)}


def _line(m: dict) -> str:
    return f"Acc-2 (non-0) {m['acc2_non0']:.2f}, MAE {m['mae']:.3f}, Corr {m['corr']:.3f}"


def curve(result: dict, kind: str, modality: str | None = None, metric: str = "acc2_non0") -> tuple[list, list]:
    """(x, y) of one curve: noise levels or word-drop probabilities, starting from the clean input at 0."""
    xs, ys = [0.0], [result["clean"][metric]]
    for c in result["conditions"]:
        if c["kind"] == kind and (modality is None or c["modality"] == modality) and c["level"]:
            xs.append(c["level"])
            ys.append(c["metrics"][metric])
    return xs, ys


def summary_rows(result: dict, metric: str = "acc2_non0") -> list[dict]:
    """One row per condition: {condition, value, change vs clean}, the clean input first."""
    clean = result["clean"][metric]
    rows = [{"condition": "clean", "value": clean, "change": 0.0}]
    for c in result["conditions"]:
        if c["kind"] == "noise" and not c["level"]:
            continue
        name = {"drop": lambda: f"{MOD_NAMES[c['modality']]} removed",
                "noise": lambda: f"{MOD_NAMES[c['modality']]} noise {c['level']:g}σ",
                "words": lambda: f"{100 * c['level']:.0f} % of words dropped"}[c["kind"]]()
        v = c["metrics"][metric]
        rows.append({"condition": name, "value": v, "change": v - clean})
    return rows


def load_results(folder: str | Path) -> list[dict]:
    """Every robustness JSON in ``folder`` (written by the command), sorted by checkpoint name."""
    out = []
    for f in sorted(Path(folder).glob("*.json")):
        try:
            r = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(r, dict) and "conditions" in r and "clean" in r:
            out.append(r)
    return sorted(out, key=lambda r: (r["checkpoint"], r["split"]))


def _pct(metric: str) -> bool:
    return metric not in ("mae", "corr")


def _cell(value: float, change: float | None, pct: bool) -> str:
    """"80.64 (+1.22)"; no bracket for the clean input (``change`` None)."""
    if not np.isfinite(value):
        return "–"
    digits = 2 if pct else 3
    return f"{value:.{digits}f}" + ("" if change is None else f" ({change:+.{digits}f})")


def markdown_table(results: list[dict], metric: str = "acc2_non0") -> list[str]:
    """A Markdown table: one row per condition, one column per checkpoint, "value (change vs clean)"."""
    names, cells = [], {}
    for r in results:
        for row in summary_rows(r, metric):
            if row["condition"] not in names:
                names.append(row["condition"])
            change = None if row["condition"] == "clean" else row["change"]
            cells[row["condition"], r["checkpoint"]] = _cell(row["value"], change, _pct(metric))
    head = f"| {METRIC_NAMES[metric]} (change vs clean) | " + " | ".join(f"`{r['checkpoint']}`" for r in results) + " |"
    out = [head, "|---|" + "---:|" * len(results)]
    for name in names:
        out.append(f"| {name} | " + " | ".join(cells.get((name, r["checkpoint"]), "–") for r in results) + " |")
    return out


def dropout_pairs(results: list[dict]) -> list[tuple[dict, dict]]:
    """(without, with modality dropout) pairs: same recipe (data, modalities, encoder, width, CL), same split."""
    pairs = []
    for w in results:
        if w.get("modality_dropout", 0) <= 0 or "recipe" not in w:
            continue
        for o in results:
            if o.get("modality_dropout", 0) == 0 and o.get("recipe") == w["recipe"] and o["split"] == w["split"]:
                pairs.append((o, w))
    return pairs


def dropout_comparison(results: list[dict], metric: str = "acc2_non0") -> list[str]:
    """Markdown: for each pair of :func:`dropout_pairs`, the metric clean and with each non-text modality removed or
    noised at the largest level, without vs with modality dropout."""
    out = []
    for without, with_ in dropout_pairs(results):
        note = "".join(f" `{r['checkpoint']}` is the best-validation checkpoint (epoch {r['training']['best_epoch']}) "
                       "of a run stopped for time before early stopping ended it." for r in (without, with_)
                       if (r.get("training") or {}).get("stopped_early"))
        out += [f"`{with_['checkpoint']}` (trained with modality dropout p = {with_['modality_dropout']:g}) against "
                f"`{without['checkpoint']}` (the same recipe without), {METRIC_NAMES[metric]} on the "
                f"{with_['split']} split ({with_['n']} samples; one seed each, so differences of a point or so are "
                f"within seed-to-seed spread).{note}", "",
                f"| condition | `{without['checkpoint']}` | `{with_['checkpoint']}` | with − without |", "|---|---:|---:|---:|"]
        a, b = {r["condition"]: r for r in summary_rows(without, metric)}, {r["condition"]: r for r in summary_rows(with_, metric)}
        for name in a:
            if name in b and (name == "clean" or "text" not in name and "words" not in name):
                va, vb, pct = a[name]["value"], b[name]["value"], _pct(metric)
                ca, cb = (None, None) if name == "clean" else (a[name]["change"], b[name]["change"])
                out.append(f"| {name} | {_cell(va, ca, pct)} | {_cell(vb, cb, pct)} | "
                           + (f"{vb - va:+.2f} |" if pct else f"{vb - va:+.3f} |"))
        out.append("")
    return out


PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
DASHES = {"t": "solid", "v": "dash", "a": "dot"}


def robustness_figure(results: list[dict], metric: str = "acc2_non0", *, height: int = 380):
    """Plotly: (1) the metric with each modality removed, bars; (2) the metric against the noise level, one line per
    modality (dash) and checkpoint (colour); (3) against the word-drop probability. Clean input: the bars' first group
    and each curve's point at 0."""
    import plotly.graph_objects as go  # plotly: heavy, only for the app's figure
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=3, subplot_titles=[KIND_TITLES["drop"], KIND_TITLES["noise"],
                                                        KIND_TITLES["words"]], horizontal_spacing=0.07)
    for i, r in enumerate(results):
        color, name = PALETTE[i % len(PALETTE)], r["checkpoint"]
        bars_x = ["none"] + [MOD_NAMES[c["modality"]] for c in r["conditions"] if c["kind"] == "drop"]
        bars_y = [r["clean"][metric]] + [c["metrics"][metric] for c in r["conditions"] if c["kind"] == "drop"]
        fig.add_trace(go.Bar(x=bars_x, y=bars_y, name=name, legendgroup=name, marker_color=color,
                             hovertemplate=f"{name}<br>removed: %{{x}}<br>%{{y:.2f}}<extra></extra>"), row=1, col=1)
        for m in r["modalities"]:
            xs, ys = curve(r, "noise", m, metric)
            if len(xs) > 1:
                fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=f"{name} · {MOD_NAMES[m]}",
                                         legendgroup=name, showlegend=False,
                                         line=dict(color=color, dash=DASHES[m]),
                                         hovertemplate=f"{name}<br>{MOD_NAMES[m]} noise %{{x}}σ: %{{y:.2f}}<extra></extra>"),
                              row=1, col=2)
        xs, ys = curve(r, "words", "t", metric)
        if len(xs) > 1:
            fig.add_trace(go.Scatter(x=[100 * x for x in xs], y=ys, mode="lines+markers", name=f"{name} · words",
                                     legendgroup=name, showlegend=False, line=dict(color=color),
                                     hovertemplate=f"{name}<br>p = %{{x:.0f}} %: %{{y:.2f}}<extra></extra>"),
                          row=1, col=3)
    label = METRIC_NAMES.get(metric, metric)
    fig.update_yaxes(title_text=label, row=1, col=1)
    fig.update_xaxes(title_text="noise σ (× feature σ); line style: text solid, visual dash, acoustic dot", row=1, col=2)
    fig.update_xaxes(title_text="each word dropped with probability (%)", row=1, col=3)
    fig.update_layout(height=height, barmode="group", plot_bgcolor="white", margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=-0.35, x=0))
    fig.update_yaxes(gridcolor="#eee")
    return fig


def save_figure(results: list[dict], path: str | Path, metric: str = "acc2_non0") -> Path:
    """The same three panels as :func:`robustness_figure`, as a matplotlib PNG (for docs)."""
    import matplotlib  # matplotlib: heavy, only for the docs' PNG

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {"t": "-", "v": "--", "a": ":"}
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    width = 0.8 / max(1, len(results))
    for i, r in enumerate(results):
        color, name = PALETTE[i % len(PALETTE)], r["checkpoint"]
        drops = [c for c in r["conditions"] if c["kind"] == "drop"]
        labels = ["none"] + [MOD_NAMES[c["modality"]] for c in drops]
        values = [r["clean"][metric]] + [c["metrics"][metric] for c in drops]
        axes[0].bar(np.arange(len(values)) + i * width, values, width, color=color, label=name)
        axes[0].set_xticks(np.arange(len(values)) + width * (len(results) - 1) / 2, labels)
        for m in r["modalities"]:
            xs, ys = curve(r, "noise", m, metric)
            if len(xs) > 1:
                axes[1].plot(xs, ys, styles[m], marker="o", color=color, label=f"{name} · {MOD_NAMES[m]}")
        xs, ys = curve(r, "words", "t", metric)
        if len(xs) > 1:
            axes[2].plot([100 * x for x in xs], ys, "-", marker="o", color=color, label=name)
    label = METRIC_NAMES.get(metric, metric)
    axes[0].set(title="modality removed", xlabel="removed modality", ylabel=label)
    axes[1].set(title="Gaussian noise on one modality", xlabel="noise σ (× each feature's σ)", ylabel=label)
    axes[2].set(title="words dropped at random", xlabel="each word dropped with probability (%)", ylabel=label)
    lo = min(min(ax.get_ylim()[0] for ax in axes[1:]), 40)
    axes[0].set_ylim(lo, axes[0].get_ylim()[1])
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower left")
    axes[1].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------------------------- command

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, nargs="+",
                   help="checkpoint folder(s); with several, a figure comparing them is written too")
    p.add_argument("--split", default="test", choices=["train", "valid", "test"])
    p.add_argument("--out", default="docs/robustness", help="folder for <checkpoint>-<split>.json and .png")
    p.add_argument("--data-root", default=None, help="folder holding mosi/ and mosei/ (default: the checkpoint's)")
    p.add_argument("--noise-levels", default=",".join(f"{x:g}" for x in NOISE_LEVELS),
                   help="comma-separated noise σ in units of each feature's σ")
    p.add_argument("--word-drop", default=",".join(f"{x:g}" for x in WORD_DROP),
                   help="comma-separated probabilities of dropping each word")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--metric", default="acc2_non0", help="metric drawn in the figures")
    p.add_argument("--limit", type=int, default=0,
                   help="score only the first N samples of the split (a quick look; 0 = all, as the committed curves)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--reuse", action="store_true",
                   help="keep <out>/<checkpoint>-<split>.json when it was made with the same settings (e.g. to draw "
                        "another comparison figure)")


def _floats(text: str, what: str, hi: float | None = None) -> tuple[float, ...]:
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"{what} must be comma-separated numbers, got {text!r}") from None
    if any(v < 0 or (hi is not None and v >= hi) for v in values):
        raise ValueError(f"{what} must lie in [0, {hi if hi is not None else '∞'}), got {text!r}")
    return values


def main(args) -> int:
    if args.metric not in METRIC_KEYS:
        raise ValueError(f"--metric must be one of {', '.join(METRIC_KEYS)}, got {args.metric!r}")
    noise, words = _floats(args.noise_levels, "--noise-levels"), _floats(args.word_drop, "--word-drop", 1.0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for ckpt in args.checkpoint:
        p = Predictor.load(ckpt, device=args.device, threads=None)
        print(f"{p.name}: {args.split} split", flush=True)
        stem = out / f"{p.name}-{args.split}"
        if args.reuse and stem.with_suffix(".json").is_file():
            old = json.loads(stem.with_suffix(".json").read_text())
            same = (old.get("noise_levels") == list(noise) and old.get("word_drop") == list(words)
                    and old.get("seed") == args.seed and args.limit <= 0 and "recipe" in old
                    and old.get("n") == len(p.dataset(args.data_root).split(args.split)))
            if same:
                print(f"  kept {stem}.json (same settings)", flush=True)
                results.append(old)
                continue
        rows = None if args.limit <= 0 else np.arange(min(args.limit, len(p.dataset(args.data_root).split(args.split))))
        r = robustness_curves(p, args.split, args.data_root, noise_levels=noise, word_drop=words, seed=args.seed,
                              rows=rows, progress=lambda line: print("  " + line, flush=True))
        stem.with_suffix(".json").write_text(json.dumps(r, indent=1) + "\n")
        save_figure([r], stem.with_suffix(".png"), args.metric)
        print(f"  {r['seconds']:.0f} s → {stem}.json, {stem}.png", flush=True)
        results.append(r)
    if len(results) > 1:
        path = save_figure(results, out / f"compare-{'-vs-'.join(r['checkpoint'] for r in results)}-{args.split}.png",
                           args.metric)
        print(f"comparison figure → {path}")
    return 0
