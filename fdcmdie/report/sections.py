"""The sections of docs/RESULTS.md, each a function of the report's ``Inputs`` returning Markdown lines (its heading
first; ``[]`` when it has nothing to show). Which sections, their order, titles, the headline's rows, comparisons and
goals come from the plan's ``report:`` section (``fdcmdie/report/plan.py``); the prose stays here with its section.
"""
from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from ..checkpoint import DEFAULT_PAIR, CheckpointInfo
from ..config import Config, load_config
from ..experiments import Experiment, finished, read_log
from ..explain.robustness import load_results
from ..render.robustness import dropout_comparison, markdown_table
from ..facts import MODALITY_NAMES, shipped_path
from .plan import DEFAULT, DEFAULT_NOCL, ReportPlan, committed_report
from .records import (HEADER, NOT_RUN, PAPER, PAPER_RECIPE, comparisons, fmt, mean_of, paper_row, row, run_record,
                      test_records, welch)


@dataclass
class Inputs:
    """What every section reads: the plan, its report section, the finished runs and the baselines."""
    plan_path: str
    runs_dir: str
    plan: list[Experiment]
    report: ReportPlan
    results: dict                 # records.collect: {experiment: [final records of its finished seeds]}
    base: dict                    # records.baseline_results: {baseline: (label, [test metrics])}
    data_root: str | None
    out: Path                     # RESULTS.md: figures, robustness/ and benchmarks/ sit beside it
    with_analyses: bool

    @cached_property
    def records(self) -> dict[str, list[dict]]:
        return test_records(self.results, self.base)

    def ran(self, group: str) -> bool:
        return any(self.results[e.name] for e in self.plan if e.group == group)

    def heading(self, section: str) -> list[str]:
        return [f"## {self.report.title(section)}", ""]

    def compared(self, section: str) -> list[str]:
        """The comparison sentences the plan lists under ``section`` whose rows both have runs."""
        return comparisons(self.records, self.report.comparisons.get(section, []))


def group_table(plan, results, group: str, dataset: str = "mosi", paper_first: tuple = (),
                skip: set[str] = frozenset()) -> list[str]:
    """The table of one plan group (its rows in plan order, ``skip`` left out), each row followed by the paper's row
    it mirrors unless that one is among ``paper_first``, which open the table."""
    lines = [HEADER, *(paper_row(name, dataset) for name in paper_first)]
    for exp in plan:
        if exp.group != group or exp.name in skip:
            continue
        recs = results[exp.name]
        lines.append(row(f"{exp.label} (`{exp.name}`)", [r["test"] for r in recs]) if recs else
                     NOT_RUN.format(label=f"{exp.label} (`{exp.name}`)"))
        if exp.paper and exp.paper in PAPER[dataset] and exp.paper not in paper_first:
            lines.append(paper_row(exp.paper, dataset, indent=True))
    return lines


def named_rows(r: Inputs, names: list[str], paper_shown: tuple = ()) -> list[str]:
    """Table rows for experiments or baselines by name (a plan row followed by its paper row unless shown)."""
    lines, by_name = [], {e.name: e for e in r.plan}
    for name in names:
        if exp := by_name.get(name):
            recs = [x["test"] for x in r.results[name]]
            label = f"{exp.label} (`{name}`)"
            lines.append(row(label, recs) if recs else NOT_RUN.format(label=label))
            if exp.paper and exp.paper in PAPER["mosi"] and exp.paper not in paper_shown:
                lines.append(paper_row(exp.paper, indent=True))
        elif name in r.base:
            label, recs = r.base[name]
            lines.append(row(f"{label} (`{name}`)", recs))
        else:
            lines.append(NOT_RUN.format(label=f"`{name}`"))
    return lines


# ------------------------------------------------------------------------------------------------ the default


def default_config(r: Inputs) -> tuple[Config, dict, str]:
    """(config, meta, where from) of the default checkpoint: its own ``config.json``, or, before it is shipped, the
    recipe of its plan row."""
    try:
        info = CheckpointInfo.read(DEFAULT_PAIR[0])
        return info.config, info.meta, f"`{Path(DEFAULT_PAIR[0]).as_posix()}/config.json`"
    except FileNotFoundError:
        exp = next((e for e in r.plan if e.name == DEFAULT), None)
        if exp is None:
            raise ValueError(f"the default checkpoint {DEFAULT_PAIR[0]} is missing and the plan has no row "
                             f"{DEFAULT!r} to read its recipe from") from None
        return load_config(exp.config, exp.set), {}, f"the plan row `{DEFAULT}` (`{exp.config}`)"


def number(v) -> str:
    """1e-4 -> "1e-4", 3e-5 -> "3e-5", 0.5 -> "0.5", 32 -> "32"."""
    return (f"{v:.0e}" if isinstance(v, float) and 0 < abs(v) < 1e-3 else f"{v:g}").replace("e-0", "e-")


def text_encoder_words(cfg: Config) -> str:
    m, n = cfg.model, cfg.model.text_finetune_layers
    how = ("frozen, with cached token states" if n == 0 else
           f"the whole encoder fine-tuned from token ids (encoder lr {number(cfg.train.encoder_lr)})" if n < 0 else
           f"its top {n} layers fine-tuned (encoder lr {number(cfg.train.encoder_lr)}) on cached token states of the "
           "layers below")
    return f"`{m.text_encoder}` ({m.text_dim}-d), {how}"


def recipe_words(cfg: Config) -> list[str]:
    """(as in Table 2, unlike Table 2, not in the paper) of a config, in words."""
    get = lambda key: getattr(getattr(cfg, key.split(".")[0]), key.split(".")[1])
    same = [label.format(number(v)) for key, (label, v) in PAPER_RECIPE.items() if get(key) == v]
    unlike = [f"{label.format(number(get(key)))} (paper {number(v)})" for key, (label, v) in PAPER_RECIPE.items()
              if get(key) != v]
    t, l = cfg.train, cfg.loss
    extra = [f"model width d = {cfg.model.d}",
             f"{t.schedule} learning-rate schedule" + (f" with {100 * t.warmup_ratio:g} % warm-up" if t.warmup_ratio else ""),
             f"early stopping after {t.patience} epochs without a better validation MAE" if t.patience else
             "no early stopping (the best epoch by validation MAE is kept)",
             f"contrastive members: {l.members_per_step} of each set per anchor and step"
             + (", their features from a bank of the whole training set refreshed once per epoch"
                if l.member_source == "bank" else "")]
    dropped = [MODALITY_NAMES[m] for m in l.dropout_modalities if m in cfg.model.modalities]
    if l.modality_dropout and dropped:
        extra.append(f"the {' and '.join(dropped)} input dropped for {100 * l.modality_dropout:g} % of training samples")
    return [", ".join(same), ", ".join(unlike), "; ".join(extra)]


def modalities_words(cfg: Config) -> str:
    """The modalities a config reads and, for the bundle's data, what its non-text features are."""
    m, bundle = cfg.model, cfg.data.source in ("mosi", "mosei")
    words = " + ".join(MODALITY_NAMES[x] for x in m.modalities)
    feats = [f for x, f in (("a", f"openSMILE {m.audio_dim}-d audio"), ("v", f"3D-CNN {m.vision_dim}-d video"))
             if x in m.modalities]
    if feats and bundle:
        words += (f", the non-text ones as one utterance-level vector per segment from the bc-LSTM release "
                  f"({', '.join(feats)}), not the COVAREP / Facet frame sequences the paper uses")
    if "v" not in m.modalities and cfg.data.source == "mosi":
        words += ("; the video is left out because the bundle's video and text-CNN vectors were trained on Poria's "
                  "train half and leak on the standard split")
    return words + "; the paper reads text, visual and acoustic frames"


def differences(r: Inputs) -> list[str]:
    """How the shipped default differs from the paper, read from the default's own config."""
    cfg, meta, source = default_config(r)
    same, unlike, extra = recipe_words(cfg)
    data = "; ".join(meta.get("notes") or [f"{cfg.data.source}, {cfg.data.split} split"])
    return [*r.heading("differences"),
            f"The app's default pair (`{Path(DEFAULT_PAIR[0]).name}` with contrastive learning, "
            f"`{Path(DEFAULT_PAIR[1]).name}` without), read from {source}; other rows differ from it as their labels "
            "say, and each row's whole recipe is its command under \"Runs and commands\".", "",
            f"- **Text encoder**: {text_encoder_words(cfg)}; the paper fine-tunes NeoBERT (768-d) whole, whose weights "
            "are not obtainable here.",
            f"- **Modalities**: {modalities_words(cfg)}.",
            f"- **Data**: {data}. Other rows: Poria's split (1447/752, validation carved from train by video) with all "
            "three modalities; MOSEI: transcripts only (16274/1861/4653).",
            f"- **Recipe**: as in Table 2: {same or 'none'}; unlike it: {unlike or 'nothing'}; not in the paper: "
            f"{extra}.",
            *(["- **Paper-recipe rows** (`configs/mosi-paper.yaml`, trained on the lent GPU by "
               "`scripts/gpu_paper_recipe.py`): the whole MiniLM fine-tuned with the task at Table 2's lr 1e-4, 50 "
               "epochs, no early stopping; the encoder travelled in float16 with only the embedding rows MOSI's "
               "transcripts use (`fdcmdie/portable.py`)."] if r.ran("paper-gpu") else [])]


def goal_line(results: dict, base: dict, name: str = DEFAULT, goal: dict | None = None) -> list[str]:
    """Where row ``name`` stands against a goal of the plan (default: the default pair's, ``report.goals.default``),
    in words, with the seeds it rests on."""
    goal = goal or committed_report().goals["default"]
    recs = [x["test"] for x in results.get(name, [])]
    if not recs:
        return [f"_`{name}` has no finished run yet._"]
    mean = {k: mean_of(recs, k) for k in ("acc2_non0", "mae", "corr")}
    gaps = [f"non-0 Acc-2 {mean['acc2_non0']:.2f} vs ≥ {goal['acc2_non0']} ({mean['acc2_non0'] - goal['acc2_non0']:+.2f})",
            f"MAE {mean['mae']:.3f} vs ≤ {goal['mae']} ({mean['mae'] - goal['mae']:+.3f})",
            f"Corr {mean['corr']:.3f} vs ≥ {goal['corr']} ({mean['corr'] - goal['corr']:+.3f})"]
    met = mean["acc2_non0"] >= goal["acc2_non0"] and mean["mae"] <= goal["mae"] and mean["corr"] >= goal["corr"]
    return [f"Goal of issue {goal['issue']} for `{name}` (the 5-seed mean; {len(recs)} seed(s) finished): "
            + "; ".join(gaps) + ". " + ("Met." if met and len(recs) >= 5 else "Not met yet." if not met
                                        else "Met on fewer than 5 seeds.")]


def steps_lines(results: dict, base: dict, steps: list[tuple[str, str]] | None = None) -> list[str]:
    """Where the points go between the plain e5 regressor and the default pair (``report.headline.steps``): one step
    per change, each the difference of the rows' test means (seeds as each row has); a row without a finished run is
    left out."""
    records = test_records(results, base)
    steps = [(name, what, records[name]) for name, what in (steps if steps is not None else committed_report().steps)
             if name in records]
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


def headline(r: Inputs) -> list[str]:
    """The first results table: the default pair, its peers, the paper; then its goal, comparisons and steps."""
    rep = r.report
    lines = [*r.heading("headline"), HEADER, *named_rows(r, [DEFAULT, DEFAULT_NOCL, *([rep.twin] if rep.twin else []), *rep.peers],
                                                  tuple(rep.paper)),
             *(paper_row(name) for name in rep.paper), "",
             f"The app opens with `{DEFAULT_PAIR[0]}` (with CL) beside `{DEFAULT_PAIR[1]}` (without): seed 1 of the "
             f"`{DEFAULT}` and `{DEFAULT_NOCL}` rows (`python app.py`)."]
    if "default" in rep.goals:
        lines += ["", *goal_line(r.results, r.base, DEFAULT, rep.goals["default"])]
    if vs := r.compared("headline"):
        lines += ["", "Comparisons (test, means over the seeds that finished):", "", *vs]
    if steps := steps_lines(r.results, r.base, rep.steps):
        lines += ["", *steps]
    return lines


# ------------------------------------------------------------------------------------- MOSI, standard split


def standard(r: Inputs) -> list[str]:
    """The standard split's other pairs (plan group ``headline`` less the replaced rows), the measured text-only
    baselines and the comparisons among them."""
    lines = [*r.heading("standard"), *group_table(r.plan, r.results, "headline", skip=r.report.history_rows)]
    if r.base:
        lines += ["", "Measured baselines (`python benchmarks/baselines.py ridge`, `python benchmarks/baselines.py "
                  "finetune --seed S`; same splits, test):", "", HEADER,
                  *(row(f"{label} (`{name}`)", recs) for name, (label, recs) in r.base.items())]
    if vs := r.compared("standard"):
        lines += ["", "Comparisons on the standard split (test, means over the seeds that finished):", "", *vs]
    return lines


def history(r: Inputs) -> list[str]:
    """Rows replaced by later choices, each group with why, and the validation-vs-test table of plan group
    ``headline`` that shows the Poria leak."""
    if not r.report.history:
        return []
    lines = r.heading("history")
    for h in r.report.history:
        lines += [h.why, "", HEADER, *named_rows(r, h.rows), ""]
    gap = [f"| `{e.name}` | {fmt([x['valid']['acc2_non0'] for x in r.results[e.name]], True)} | "
           f"{fmt([x['test']['acc2_non0'] for x in r.results[e.name]], True)} | "
           f"{fmt([x['valid']['mae'] for x in r.results[e.name]], False)} | "
           f"{fmt([x['test']['mae'] for x in r.results[e.name]], False)} |"
           for e in r.plan if e.group == "headline" and r.results[e.name]]
    if gap:
        lines += ["Validation vs test (the best epoch's). On Poria's split the validation part is carved from Poria's "
                  "train half, on which the bundle's 3D-CNN video vectors were fitted with labels: there the video looks "
                  "far more informative than it is on the test half, the model learns to trust it, and validation "
                  "overstates test. The standard-split pairs use only leak-free features (transcripts, openSMILE); the "
                  "app's default is named in the headline.", "",
                  "| run | valid Acc-2 non-0 | test Acc-2 non-0 | valid MAE | test MAE |", "|---|---|---|---|---|", *gap]
    return lines[:-1] if lines[-1] == "" else lines


# --------------------------------------------------------------------------------------- one plan group each


def group_section(r: Inputs, group: str) -> list[str]:
    """A plan group's table under its title, with what the group adds (reference rows, the sweep's note, the
    ablation order) and the comparisons the plan lists under it."""
    lines = r.heading(group)
    if not r.ran(group):
        return lines + ["_No finished runs yet: these need the lent GPU (`python scripts/gpu_paper_recipe.py pack`, "
                        "then `run` there and `collect` here; see the script's docstring)._" if group == "paper-gpu"
                        else "_No finished runs yet; see the commands below._"]
    dataset = "mosei" if group == "mosei" else "mosi"
    lines += group_table(r.plan, r.results, group, dataset, paper_first=("FD-CMDIE",) if group == "mosei" else (),
                         skip=r.report.history_rows)
    if group == "diagnostic":
        for ref in ("mosi-std-ta-ft", "mosi-std-ta-ft-nocl"):
            if r.results.get(ref):
                lines.append(row(f"reference: T+A{' w/o CL' if ref.endswith('nocl') else ''} (`{ref}`)",
                                 [x["test"] for x in r.results[ref]]))
        lines += [row(f"reference: {label} (`{name}`)", recs) for name, (label, recs) in r.base.items()
                  if name.startswith("baseline-ft-") and name.endswith("-standard")]
    if group == "sweep-kcl":
        lines += ["", "What this sweep varies: §2.3.2 pairs *every* member of the k_cl similar and different sets "
                  "with the anchor; these runs use `loss.members_per_step = 2`, two members of each set drawn per "
                  "anchor and step, so k_cl changes only the pool the two are drawn from (how similar the "
                  "drawn members are), not how many pairs join a step as in the paper.", ""]
    if group in ("sweep-kcl", "sweep-layers"):
        point = "k_cl = 10" if group == "sweep-kcl" else "k = 3"
        ref = [x["test"] for x in r.results.get("mosi-std-ta", []) if x["seed"] == 1]
        if ref:
            lines += [row(f"reference: {point}, the full model (`mosi-std-ta`, seed 1)", ref),
                      paper_row(point, indent=True)]
    if group == "e5":
        lines += [row(f"reference: {label} (`{name}`)", recs) for name, (label, recs) in r.base.items()
                  if "-e5-" in name and name.endswith("-standard")]
    if group == "ablation":
        ref = r.results.get("mosi-std-ta", [])
        if ref:
            lines.append(row("reference: full model (`mosi-std-ta`)", [x["test"] for x in ref]))
        if order := ablation_order(r.plan, r.results):
            lines += ["", *order]
    if vs := r.compared(group):
        lines += ["", *vs]
    return lines


def ablation_order(plan, results: dict, full: str = "mosi-std-ta") -> list[str]:
    """The change of non-0 Acc-2 when each part is removed, here (paired by seed with the full model) and in the
    paper (Table 7), largest drop first."""
    base = {x["seed"]: x["test"]["acc2_non0"] for x in results.get(full, [])}
    if not base:
        return []
    paper_full = PAPER["mosi"]["FD-CMDIE"]["acc2_non0"]
    ours, paper = [], []
    for e in plan:
        recs = [x for x in results.get(e.name, []) if x["seed"] in base]
        if not recs or e.paper not in PAPER["mosi"] or not (e.group == "ablation" or e.name == f"{full}-nocl"):
            continue
        name = "encoder swap" if e.paper == "w/o NeoBERT" else e.paper
        d = float(np.mean([x["test"]["acc2_non0"] - base[x["seed"]] for x in recs]))
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


# ----------------------------------------------------------------------------------- T+V+A, CrossAtt-2


def honest_tav(plan, results: dict, base: dict, runs_dir: str) -> list[str]:
    """The MOSI T+V+A section of issue 12: what the bundle's vectors carry on each half of Poria's split, then
    design (a) (train on Poria's train half, select and test on its test half) and design (b) (5 folds by video
    inside the test half) next to ridge on the same test videos with text alone."""
    lines = ["Poria's split gives the bundle's 3D-CNN video and text-CNN vectors a train half on which they were fitted "
             "with the labels; the `mosi-poria-tav` pair (history section) is selected on a validation part carved from "
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
        lines.append(row(f"{exp.label} (`{exp.name}`)", [x["test"] for x in recs]) if recs else
                     NOT_RUN.format(label=f"{exp.label} (`{exp.name}`)"))
    if "baseline-ridge-poria-honest" in base:
        label, recs = base["baseline-ridge-poria-honest"]
        lines.append(row(f"text only, same test videos: {label} (`baseline-ridge-poria-honest`)", recs))
    folds = [e for e in plan if e.group == "honest-tav-cv"]
    fold_recs = [x["test"] for e in folds for x in results.get(e.name, [])]
    lines.append(row("(b) FD-CMDIE, T+V+A inside Poria's test half, mean ± std over the folds run "
                     "(`mosi-tcv-tav-f0..f4`)", fold_recs, n=f"{len(fold_recs)} of {len(folds)} folds")
                 if fold_recs else NOT_RUN.format(label="(b) FD-CMDIE, T+V+A inside Poria's test half "
                                                        "(`mosi-tcv-tav-f0..f4`)"))
    if "baseline-ridge-poria-test-cv" in base:
        label, recs = base["baseline-ridge-poria-test-cv"]
        lines.append(row(f"text only, same folds: {label} (`baseline-ridge-poria-test-cv-f0..f4`)", recs,
                         n=f"{len(recs)} folds"))
    val = [(e.name, x) for e in plan if e.group in ("honest-tav", "honest-tav-cv") for x in results.get(e.name, [])]
    if val:
        lines += ["", "Validation vs test of these runs (best epoch by validation MAE; both parts are test-half videos):",
                  "", "| run | valid Acc-2 non-0 | test Acc-2 non-0 | valid MAE | test MAE |", "|---|---|---|---|---|",
                  *(f"| `{n}` | {x['valid']['acc2_non0']:.2f} | {x['test']['acc2_non0']:.2f} | {x['valid']['mae']:.3f} | "
                    f"{x['test']['mae']:.3f} |" for n, x in val)]
    return lines


def honest_tav_section(r: Inputs) -> list[str]:
    lines = [*r.heading("honest-tav"), *honest_tav(r.plan, r.results, r.base, r.runs_dir)]
    if r.with_analyses:
        from .analyses import face_masking   # loads the checkpoints: only with the analyses
        if face := face_masking([shipped_path(e.name) for e in r.plan if e.group == "honest-tav" and e.ship],
                                r.data_root):
            lines += ["", *face]
    return lines


def crossatt2_variants(plan, results: dict) -> list[str]:
    """CrossAtt-2's keys and values: own projections (the shipped models), CrossAtt-1's (eq. 21–22 read literally),
    none (ablation), on the same seed of the frozen standard-split recipe."""
    pick = lambda name: [x["test"] for x in results.get(name, []) if x["seed"] == 1]
    rows = [("own K/V projections (default, `mosi-std-ta`, seed 1)", pick("mosi-std-ta")),
            ("CrossAtt-1's K/V projections, `model.cross_att2_shared=true` (`var-crossatt2-shared`, seed 1)",
             pick("var-crossatt2-shared")),
            ("no CrossAtt-2, `model.cross_att2=false` (`abl-no-crossatt2`, seed 1)", pick("abl-no-crossatt2"))]
    return ["Eq. 21–22 take CrossAtt-2's K_X, V_X and K_G, V_G \"from the original keys and values of eq. 16–17\": "
            "the same projections of the same inputs as CrossAtt-1, with only a new query. The model gives CrossAtt-2 "
            "its own projections unless `model.cross_att2_shared=true` (`SharedKVCrossAttention` in `fdcmdie/model.py`). "
            "MOSI standard split, T+A, frozen MiniLM, one seed:", "", HEADER,
            *(row(label, recs) if recs else NOT_RUN.format(label=label) for label, recs in rows)]


# ------------------------------------------------------------------------------------------------ ladders


def ladder_section(plan, results: dict, base: dict[str, tuple[str, list[dict]]], runs_dir: str, *,
                   group: str = "ladder", title: str = "Text-path ladder (MOSI standard split, text only)",
                   switches: str = "`train.schedule`, `loss.member_source=bank`, `model.d`, whole-encoder fine-tuning, "
                                   "`train.text_init`",
                   twin: tuple[str, str] | None = ("mosi-std-t-ft", "today's text-only FD-CMDIE, top-2, d = 64, constant lr"),
                   twin_is_rung: bool = False,
                   regressors: tuple[str, ...] = ("baseline-ft-standard", "baseline-ft-top2-standard"),
                   goal: dict | str | None = "ladder") -> list[str]:
    """A text-path ladder (plan ``group``): text-only FD-CMDIE recipes one switch at a time, next to a text-only
    FD-CMDIE reference run (``twin``: name, label; one of the rungs itself where ``twin_is_rung``) and the plain
    fine-tuned text regressors (``regressors``, their first being the one the "where the points go" line subtracts).
    The winner is the rung with the lowest validation MAE; test numbers are shown, never used to choose. ``goal`` (a
    goal of the plan's ``report.goals`` by name, or the goal itself; issue 11's for the MiniLM ladder) is checked on
    the winner's seeds, or on the headline pair that runs its recipe."""
    rungs = [e for e in plan if e.group == group]
    if not rungs:
        return []
    if isinstance(goal, str):
        goal = committed_report().goals[goal]
    mean = lambda recs, split, k: float(np.mean([x[split][k] for x in recs]))
    head = ["| recipe | seeds | best epoch / epochs | s / epoch | valid MAE | valid Acc-2 non-0 | test Acc-2 non-0 | "
            "test MAE | test Corr |", "|---|---|---|---|---|---|---|---|---|"]

    def line(label: str, recs: list[dict]) -> str:
        epochs = " ".join(f"{x.get('best_epoch', '?')}/{x.get('epochs', '?')}" for x in recs)
        secs = [x["seconds"] / x["epochs"] for x in recs if x.get("epochs")]
        return (f"| {label} | {len(recs)} | {epochs} | {fmt(secs, True) if secs else '–'} | "
                f"{fmt([x['valid']['mae'] for x in recs], False)} | {fmt([x['valid']['acc2_non0'] for x in recs], True)} | "
                f"{fmt([x['test']['acc2_non0'] for x in recs], True)} | {fmt([x['test']['mae'] for x in recs], False)} | "
                f"{fmt([x['test']['corr'] for x in recs], False)} |")

    lines = [f"## {title}", "",
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
        seed1 = lambda recs: next((x for x in recs if x.get("seed") == 1), recs[0])["test"]["acc2_non0"]
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
    t = {k: mean(recs, "test", k) for k in ("acc2_non0", "mae", "corr")}
    short = [f"Acc-2 {t['acc2_non0']:.2f} vs ≥ {goal['acc2_non0']}" if t["acc2_non0"] < goal["acc2_non0"] else "",
             f"MAE {t['mae']:.3f} vs ≤ {goal['mae']}" if t["mae"] > goal["mae"] else "",
             f"Corr {t['corr']:.3f} vs ≥ {goal['corr']}" if t["corr"] < goal["corr"] else ""]
    short = [s for s in short if s]
    return lines + ["", f"Best rung by validation MAE: `{win.name}` (valid MAE {v:.3f}); test over {len(recs)} seed(s): "
                    f"non-0 Acc-2 {t['acc2_non0']:.2f}, MAE {t['mae']:.3f}, Corr {t['corr']:.3f}. Goal of issue "
                    f"{goal['issue']} (5-seed mean, non-0 Acc-2 ≥ {goal['acc2_non0']}, MAE ≤ {goal['mae']}, Corr ≥ "
                    f"{goal['corr']}): " + (f"short by {'; '.join(short)}" if short else "met on these seeds") +
                    (f" — {len(recs)} seed(s), a hint until it has 5 with and without CL." if len(recs) < 5 else ".")]


def ladder(r: Inputs) -> list[str]:
    return ladder_section(r.plan, r.results, r.base, r.runs_dir, title=r.report.title("ladder"),
                          goal=r.report.goals.get("ladder"))


def ladder_e5(r: Inputs) -> list[str]:
    return ladder_section(r.plan, r.results, r.base, r.runs_dir, group="ladder-e5", title=r.report.title("ladder-e5"),
                          switches="frozen, top 2 or 4 layers, the whole encoder, `model.d`",
                          twin=(r.report.twin, "the top-2 / d = 128 rung: the default's text-only twin")
                          if r.report.twin else None, twin_is_rung=True,
                          regressors=("baseline-ft-e5-standard",), goal=None)


# ------------------------------------------------------------------------------ committed results, commands


def clips(r: Inputs) -> list[str]:
    return [*r.heading("clips"),
            "The shipped checkpoints were trained on the bundle's utterance vectors (openSMILE audio, 3D-CNN video), "
            "which a new clip cannot produce: for an upload they predict from the words only, and the app says so. "
            "A checkpoint that uses the voice and face of uploads needs raw labelled clips (MMSA's raw MOSI, not "
            "available here) run through this project's extractor, then trained on its output:", "",
            "    python -m fdcmdie extract --raw-dir MOSI/Raw --labels MOSI/label.csv --out features.pkl",
            "    python -m fdcmdie train --config configs/clips.yaml --set data.path=features.pkl", "",
            "No such run is in this report: the raw clips do not exist here."]


def analyses_section(r: Inputs) -> list[str]:
    if not r.with_analyses:
        return []
    from .analyses import analyses   # loads every shipped checkpoint
    return [*r.heading("analyses"), *analyses([shipped_path(e.name) for e in r.plan if e.ship], r.data_root,
                                              r.out.parent / "figures")]


def robustness_section(folder: Path, doc_dir: Path) -> list[str]:
    """Robustness curves from the JSON that ``python -m fdcmdie robustness`` wrote into ``folder`` (committed):
    tables of Acc-2 (non-0) and MAE per condition, links to the figures, and checkpoints trained with modality
    dropout against the same recipe without. Empty when ``folder`` has no results."""
    results = load_results(folder)
    if not results:
        return []
    splits = sorted({x["split"] for x in results})
    names = " ".join(sorted({f"checkpoints/{x['checkpoint']}" if (Path("checkpoints") / x["checkpoint"]).is_dir()
                             else str(x.get("path") or x["checkpoint"]) for x in results}))
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
    for data, split in sorted({(x["dataset"], x["split"]) for x in results}):
        group = [x for x in results if (x["dataset"], x["split"]) == (data, split)]
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
    for x in runs:
        for j, k in enumerate(x["k"]):
            lines.append(f"| `{x['name']}` | {how.get(x['method'], x['method'])} | {k} | {x['n'][j]} | "
                         f"{x['top'][j]:.3f} | {x['random'][j]:.3f} | {x['ratio'][j]:.2f} |")
    return lines


def commands(r: Inputs) -> list[str]:
    lines = [*r.heading("commands"),
             "Each line reproduces one run (the seed fixes data order, initialisation and contrastive members):", "",
             "| run | epochs | train time (s) | command |", "|---|---|---|---|"]
    for exp in r.plan:
        for seed in exp.seeds:
            rec = next((x for x in r.results[exp.name] if x["seed"] == seed), None)
            cmd = shlex.join(exp.command(seed, r.runs_dir))
            lines.append(f"| {exp.run_name(seed)} | {rec['epochs']} | {rec['seconds']:.0f} | `{cmd}` |" if rec else
                         f"| {exp.run_name(seed)} | not run | | `{cmd}` |")
    return lines


SECTIONS = {
    "differences": differences, "headline": headline, "standard": standard, "honest-tav": honest_tav_section,
    "crossatt2": lambda r: [*r.heading("crossatt2"), *crossatt2_variants(r.plan, r.results)],
    **{g: (lambda r, g=g: group_section(r, g)) for g in ("paper-gpu", "diagnostic", "ablation", "sweep-kcl",
                                                          "sweep-layers", "mosei", "e5")},
    "ladder": ladder, "ladder-e5": ladder_e5, "clips": clips, "analyses": analyses_section,
    "robustness": lambda r: robustness_section(r.out.parent / "robustness", r.out.parent),
    "attributions": lambda r: attributions_section(r.out.parent / "benchmarks" / "attributions.json"),
    "history": history, "commands": commands,
}
