"""Robustness results (the JSON dicts of :func:`fdcmdie.explain.robustness.robustness_curves`) for readers: Markdown
tables (the model card and docs/RESULTS.md show the same ones) and the docs' PNG of the three panels (matplotlib).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..explain import MOD_NAMES
from ..explain.robustness import curve, dropout_pairs, summary_rows
from ..metrics import METRIC_NAMES

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")  # per checkpoint


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


def save_figure(results: list[dict], path: str | Path, metric: str = "acc2_non0") -> Path:
    """The same three panels as :func:`fdcmdie.app.plots.robustness.robustness_figure`, as a matplotlib PNG (for docs)."""
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
