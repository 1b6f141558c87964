"""The report's records: the paper's numbers, finished runs' final records read from ``runs/*/log.jsonl``, and the
table rows and comparison sentences made from them. Nothing here knows which rows the report shows (the plan's
``report:`` section says that, ``fdcmdie/report/plan.py``)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from scipy import stats

from ..experiments import finished, read_log

# Paper Table 3 / Table 7 (MOSI; MOSEI row from Table 3), docs/MODEL.md §9.
PAPER = {
    "mosi": {
        "FD-CMDIE": dict(acc2_has0=86.75, acc2_non0=88.60, f1_has0=86.71, f1_non0=88.59, acc7=46.42, mae=0.671, corr=0.817),
        "UniMSE": dict(acc2_has0=85.85, acc2_non0=86.90, f1_has0=85.83, f1_non0=86.42, acc7=48.68, mae=0.691, corr=0.809),
        "Self-MM": dict(acc2_has0=83.44, acc2_non0=85.46, f1_has0=83.36, f1_non0=85.43, acc7=46.67, mae=0.708, corr=0.796),
        "MISA": dict(acc2_has0=81.8, acc2_non0=83.4, f1_has0=81.7, f1_non0=83.6, acc7=42.3, mae=0.783, corr=0.776),
        "w/o NeoBERT": dict(acc2_has0=84.12, acc2_non0=85.68),
        "w/o CL": dict(acc2_has0=83.88, acc2_non0=85.72),
        "w/o CMDIE": dict(acc2_has0=81.73, acc2_non0=83.96),
        "w/o GAP": dict(acc2_has0=85.47, acc2_non0=86.73),
        "w/o CrossAtt-2": dict(acc2_has0=83.36, acc2_non0=84.45),
        # Table 4 (k_cl on MOSI; Acc-2 and F1, has-0/non-0) and Table 6 (CMDIE layers k; non-0 Acc-2 and F1 only)
        **{f"k_cl = {k}": dict(acc2_has0=a0, acc2_non0=a1, f1_has0=f0, f1_non0=f1) for k, a0, a1, f0, f1 in (
            (2, 79.01, 81.10, 78.83, 81.01), (3, 81.49, 82.93, 81.46, 82.96), (4, 83.53, 84.91, 83.51, 84.93),
            (5, 83.48, 85.01, 83.50, 85.10), (6, 84.38, 85.37, 84.32, 85.27), (7, 85.27, 85.93, 85.32, 85.92),
            (8, 85.62, 86.52, 85.35, 86.81), (9, 86.21, 87.13, 86.27, 87.31), (10, 86.75, 88.60, 86.71, 88.59),
            (11, 86.44, 88.26, 86.41, 88.27), (12, 86.34, 88.17, 86.39, 88.25))},
        **{f"k = {k}": dict(acc2_non0=a1, f1_non0=f1) for k, a1, f1 in (
            (1, 83.69, 83.58), (2, 85.37, 85.81), (3, 88.60, 88.59), (4, 87.04, 86.98), (5, 85.37, 85.37))},
    },
    "mosei": {
        "FD-CMDIE": dict(acc2_has0=85.06, acc2_non0=87.59, f1_has0=85.28, f1_non0=87.49, acc7=54.48, mae=0.501, corr=0.801),
        "UniMSE": dict(acc2_has0=85.86, acc2_non0=87.50, f1_has0=85.79, f1_non0=87.46, acc7=54.39, mae=0.523, corr=0.773),
    },
}
# The paper's MOSI recipe (Table 2, docs/MODEL.md §7): config key (section.field) -> (words with {} for the value, value). "How this differs
# from the paper" sets the default checkpoint's own values beside these; the paper's encoder is NeoBERT, wholly tuned.
PAPER_RECIPE = {"train.batch_size": ("batch {}", 32), "train.lr": ("lr {}", 1e-4), "loss.k_cl": ("k_cl {}", 10),
                "loss.tau": ("τ {}", 0.5), "loss.margin": ("margin {}", 0.5), "model.k": ("k = {}", 3),
                "loss.lambda_cl": ("λ_cl {}", 0.1), "loss.lambda_tri": ("λ_Tri {}", 0.1), "train.epochs": ("{} epochs", 50)}
HEADER = "| model | seeds | Acc-2 (has-0/non-0) | F1 (has-0/non-0) | Acc-7 | MAE | Corr |\n|---|---|---|---|---|---|---|"
NOT_RUN = "| {label} | 0 | not run yet | | | | |"


def fmt(values: list[float], pct: bool) -> str:
    """Mean ± sample std of ``values`` (2 decimals for percentages, 3 otherwise); "–" when empty."""
    if not values:
        return "–"
    mean = float(np.mean(values))
    s = f"{mean:.2f}" if pct else f"{mean:.3f}"
    if len(values) > 1:
        sd = float(np.std(values, ddof=1))
        s += f" ± {sd:.2f}" if pct else f" ± {sd:.3f}"
    return s


def row(label: str, records: list[dict], n: str | None = None) -> str:
    """One table row from test-metric dicts (mean ± sample std over seeds)."""
    get = lambda k: [r[k] for r in records if r.get(k) is not None]
    pair = lambda a, b: f"{fmt(get(a), True)} / {fmt(get(b), True)}" if get(a) or get(b) else "–"
    return (f"| {label} | {n if n is not None else len(records)} | {pair('acc2_has0', 'acc2_non0')} | "
            f"{pair('f1_has0', 'f1_non0')} | {fmt(get('acc7'), True)} | {fmt(get('mae'), False)} | "
            f"{fmt(get('corr'), False)} |")


def paper_row(name: str, dataset: str = "mosi", indent: bool = False) -> str:
    """The paper's row ``name`` (a key of ``PAPER[dataset]``), indented under ours where ``indent``."""
    return row(f"{'&nbsp;&nbsp;' if indent else ''}paper: {name}", [PAPER[dataset][name]], n="–")


def run_record(log: list[dict]) -> dict | None:
    """A finished run's final record with its epoch count and training seconds; None while the run is unfinished."""
    if (fin := finished(log)) is None:
        return None
    return {**fin, "epochs": sum(r.get("event") == "epoch" for r in log),
            "seconds": sum(r.get("seconds", 0) for r in log if r.get("event") == "epoch")}


def collect(runs_dir: str, plan) -> dict:
    """{experiment name: [final records of its finished seeds]}."""
    out = {}
    for exp in plan:
        recs = []
        for seed in exp.seeds:
            log = read_log(Path(runs_dir) / exp.run_name(seed) / "log.jsonl")
            if (rec := run_record(log)) is not None:
                recs.append({"seed": seed, **rec})
        out[exp.name] = recs
    return out


def baseline_results(runs_dir: str) -> dict[str, tuple[str, list[dict]]]:
    """{baseline name (seed suffix dropped): (label, [test records of its seeds])} from runs/baseline-*."""
    out: dict[str, tuple[str, list[dict]]] = {}
    for path in sorted(Path(runs_dir).glob("baseline-*/log.jsonl")):
        fin = finished(read_log(path))
        if fin:
            name = re.sub(r"-[sf]\d+$", "", path.parent.name)        # seeds, and the folds of poria-test-cv
            label, recs = out.get(name, (re.sub(r", fold \d+", ", mean over folds", fin.get("label", name)), []))
            out[name] = (label, recs + [fin["test"]])
    return out


def test_records(results: dict, base: dict[str, tuple[str, list[dict]]]) -> dict[str, list[dict]]:
    """{row name: its seeds' test metrics}, for the plan's rows and the baselines alike."""
    return {**{name: [r["test"] for r in recs] for name, recs in results.items() if recs},
            **{name: recs for name, (_, recs) in base.items() if recs}}


def mean_of(recs: list[dict], key: str) -> float:
    """The mean of one metric over a row's seeds (``recs``: their test metrics)."""
    return float(np.mean([r[key] for r in recs]))


def welch(ours: list[dict], theirs: list[dict], key: str = "acc2_non0") -> str:
    """The clause ", Welch's t-test over seeds p = …" for two rows' seeds (empty when either has fewer than 2)."""
    if min(len(ours), len(theirs)) < 2:
        return ""
    p = stats.ttest_ind([r[key] for r in ours], [r[key] for r in theirs], equal_var=False).pvalue
    return f", Welch's t-test over seeds p = {p:.2f}"


def compare_line(records: dict[str, list[dict]], exp: str, ref: str, what: str) -> str:
    """One comparison sentence: ``exp``'s test means against ``ref``'s (``records``: ``test_records``), with Welch's
    t-test over seeds on non-0 Acc-2 where both have several."""
    ours, theirs = records[exp], records[ref]
    a, b = mean_of(ours, "acc2_non0"), mean_of(theirs, "acc2_non0")
    return (f"- `{exp}` ({len(ours)} seed(s)) vs {what} (`{ref}`, {len(theirs)} seed(s)): non-0 Acc-2 "
            f"{a:.2f} vs {b:.2f} ({'+' if a - b >= 0 else ''}{a - b:.2f} points{welch(ours, theirs)}), "
            f"MAE {mean_of(ours, 'mae'):.3f} vs {mean_of(theirs, 'mae'):.3f}, "
            f"Corr {mean_of(ours, 'corr'):.3f} vs {mean_of(theirs, 'corr'):.3f}.")


def comparisons(records: dict[str, list[dict]], pairs) -> list[str]:
    """``compare_line`` for each (row, reference, what) of ``pairs`` whose rows both have finished runs, each pair
    once."""
    lines, seen = [], set()
    for exp, ref, what in pairs:
        if exp != ref and exp in records and ref in records and (exp, ref) not in seen:
            seen.add((exp, ref))
            lines.append(compare_line(records, exp, ref, what))
    return lines
