"""Guided lessons: the rules that choose their samples (the lesson files, one YAML per lesson in ``lessons/``, and
their steps as the app shows them are :mod:`fdcmdie.app.lesson_files`).

A lesson never names a sample id (ids rot when a checkpoint is retrained): each step names a *rule* that picks a real
sample from the checkpoint's predictions of a split, e.g. "the test sample where the voice moves the prediction most
by Shapley value". A rule returns a :class:`Choice`: the sample, why it was chosen, and the numbers the lesson's
text may cite as ``{placeholders}`` (``{id}``, ``{label:+.2f}``, ``{phi_a:+.2f}``, …; see :data:`VALUES`).

The rules read their data through a *source* (duck-typed; the app's adapter is ``fdcmdie.app.lessons.Source``):

    source.models() -> list[str]                    model keys that load ("main", "compare", folder names)
    source.modalities(model) -> list[str]           e.g. ["t", "a"]
    source.predictions(model, split) -> evaluate.Predictions
    source.shapley(model, split) -> explain.shapley.ModalityShapley (rows as the predictions)

    choice = choose({"rule": "modality_moves_most", "modality": "a"}, source, "main", "test")   # a Choice
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import MOD_NAMES, READS, and_list
from .cases import opposite_sign
from .contributions import weighing
from .geometry import row_cosines


NEGATION = ("not", "no", "never", "nothing", "nobody", "none", "neither", "nor", "without", "n't", "dont", "didnt",
            "doesnt", "isnt", "wasnt", "cant", "wont", "couldnt", "shouldnt", "wouldnt", "arent", "werent")
# every placeholder a rule may fill (a lesson citing another name is refused when it is loaded)
VALUES = ("id", "text", "label", "pred", "error", "split", "model", "reason", "cue", "rank", "strength", "reads",
          "weighing", "right",
          "cos_with", "cos_without", "cos_change", "cos_with_mean", "cos_without_mean", "pred_other", "other_model",
          *(f"{k}_{m}" for k in ("phi", "alpha", "gate") for m in "tva"), "baseline")


@dataclass
class Choice:
    """A sample a rule chose: its row in the split's predictions, its id, why (in words) and citable numbers."""

    row: int
    sample_id: str
    reason: str
    values: dict = field(default_factory=dict)


@dataclass
class Rule:
    name: str
    help: str
    fn: Callable                      # fn(source, model, split, **params) -> Choice
    needs: tuple[str, ...] = ()       # modalities the model must read ("modality" params are checked by the rule)


RULES: dict[str, Rule] = {}


def rule(name: str, help: str):
    def register(fn):
        RULES[name] = Rule(name, help, fn)
        return fn
    return register


# ------------------------------------------------------------------------------------------------- the rules


def _base(source, model: str, split: str, row: int, reason: str, **extra) -> Choice:
    p = source.predictions(model, split)
    label, pred = float(p.label[row]), float(p.pred[row])
    values = {"id": p.ids[row], "text": p.texts[row], "label": label, "pred": pred, "error": abs(pred - label),
              "split": split, "model": model, "reason": reason}
    mods = source.modalities(model)
    reads = [READS[m] for m in mods]
    values["reads"] = and_list(reads)      # {reads}: "the words and the voice"
    if p.alpha is not None:
        values.update({f"alpha_{m}": float(a) for m, a in zip(mods, p.alpha[row, -1])})
        values["weighing"] = weighing(p.alpha[row], mods)   # the one sentence on α (explain.contributions)
    if p.gates is not None:
        values.update({f"gate_{m}": float(g) for m, g in zip(mods, p.gates[row, -1])})
    values.update(extra)
    return Choice(row=int(row), sample_id=str(p.ids[row]), reason=reason, values=values)


def _with_shapley(source, model: str, split: str, row: int, choice: Choice) -> Choice:
    sv = source.shapley(model, split)
    choice.values.update({f"phi_{m}": float(v) for m, v in zip(sv.modalities, sv.phi[row])})
    choice.values["baseline"] = float(sv.baseline[row])
    return choice


def _need(source, model: str, *mods: str) -> list[str]:
    have = source.modalities(model)
    for m in mods:
        if m not in MOD_NAMES:
            raise ValueError(f"unknown modality {m!r}: use t (text), v (visual) or a (acoustic)")
        if m not in have:
            raise ValueError(f"model {model} does not read the {MOD_NAMES[m]} modality (it reads "
                             f"{', '.join(MOD_NAMES[x] for x in have)})")
    return have


def _ranked(order: np.ndarray, rank: int, what: str) -> int:
    if rank < 1:
        raise ValueError(f"rank counts from 1, got {rank}")
    if len(order) < rank:
        raise ValueError(f"no sample fits: {what}" if not len(order) else f"only {len(order)} samples fit: {what}")
    return int(order[rank - 1])


@rule("modality_moves_most", "the sample where one modality (modality: t, v or a) moves the prediction most: the "
      "largest |Shapley value| of that modality")
def modality_moves_most(source, model: str, split: str, *, modality: str = "a", rank: int = 1) -> Choice:
    mods = _need(source, model, modality)
    if len(mods) < 2:
        raise ValueError(f"model {model} reads one modality: its Shapley value is the whole prediction")
    sv = source.shapley(model, split)
    phi = np.abs(np.asarray(sv.phi[:, sv.modalities.index(modality)], np.float64))
    order = np.argsort(-phi, kind="stable")
    row = _ranked(order[phi[order] > 0], rank, f"no {split} sample has a {MOD_NAMES[modality]} input")
    why = (f"of the {len(phi)} {split} samples, this is where the {MOD_NAMES[modality]} modality moves the prediction "
           f"most (Shapley value {phi[row]:.2f} in size)")
    return _with_shapley(source, model, split, row, _base(source, model, split, row, why, rank=rank))


@rule("largest_error", "the sample the model gets most wrong (rank: 1 = the largest |prediction − label|)")
def largest_error(source, model: str, split: str, *, rank: int = 1) -> Choice:
    p = source.predictions(model, split)
    err = np.abs(np.asarray(p.pred, np.float64) - np.asarray(p.label, np.float64))
    row = _ranked(np.argsort(-err, kind="stable"), rank, f"the {split} split is empty")
    why = (f"the {_ordinal(rank)}largest error of the {len(err)} {split} samples "
           f"(off by {err[row]:.2f})")
    return _maybe_shapley(source, model, split, row, _base(source, model, split, row, why, rank=rank))


def negation_cue(text: str) -> str | None:
    """The first negation word of ``text`` (not, never, n't, …) or None."""
    words = re.findall(r"[a-z']+", str(text).lower())
    for w in words:
        plain = w.replace("'", "")
        if w in NEGATION or plain in NEGATION or w.endswith("n't"):
            return w
    return None


@rule("negation", "among the samples whose transcript holds a negation (not, never, n't, …), the one the model gets "
      "most wrong (rank: 1, 2, …)")
def negation(source, model: str, split: str, *, rank: int = 1) -> Choice:
    p = source.predictions(model, split)
    cues = [negation_cue(t) for t in p.texts]
    rows = np.array([i for i, c in enumerate(cues) if c], int)
    err = np.abs(np.asarray(p.pred, np.float64) - np.asarray(p.label, np.float64))
    order = rows[np.argsort(-err[rows], kind="stable")] if len(rows) else rows
    row = _ranked(order, rank, f"no {split} transcript holds a negation")
    why = (f"{len(rows)} of the {len(err)} {split} transcripts hold a negation; of those, the model is "
           f"{'' if rank == 1 else 'the '}{_ordinal(rank)}furthest from the annotators on this one (off by {err[row]:.2f})")
    return _maybe_shapley(source, model, split, row, _base(source, model, split, row, why, cue=cues[row], rank=rank))


@rule("modalities_disagree", "a sample where two modalities (a, b; default text and voice) push the prediction in "
      "opposite directions: Shapley values of opposite sign, the strongest such pair (the weaker push is largest)")
def modalities_disagree(source, model: str, split: str, *, a: str = "t", b: str = "a", rank: int = 1) -> Choice:
    _need(source, model, a, b)
    if a == b:
        raise ValueError("a and b must be two different modalities")
    sv = source.shapley(model, split)
    pa, pb = (np.asarray(sv.phi[:, sv.modalities.index(m)], np.float64) for m in (a, b))
    strength = np.minimum(np.abs(pa), np.abs(pb))
    rows = np.flatnonzero(opposite_sign(pa, pb))
    order = rows[np.argsort(-strength[rows], kind="stable")]
    row = _ranked(order, rank, f"in no {split} sample do {MOD_NAMES[a]} and {MOD_NAMES[b]} push opposite ways")
    why = (f"{len(rows)} of the {len(pa)} {split} samples have {MOD_NAMES[a]} and {MOD_NAMES[b]} pushing in opposite "
           f"directions; here both push hardest ({MOD_NAMES[a]} {pa[row]:+.2f}, {MOD_NAMES[b]} {pb[row]:+.2f})")
    label = float(source.predictions(model, split).label[row])
    # {right}: which push has the annotators' sign (a label of exactly 0 agrees with neither)
    right = (READS[a] if np.sign(pa[row]) == np.sign(label) else
             READS[b] if np.sign(pb[row]) == np.sign(label) else "neither (the label is 0)")
    return _with_shapley(source, model, split, row, _base(source, model, split, row, why, strength=float(strength[row]),
                                                          rank=rank, right=right))


@rule("confident_opposite", "the sample the model puts most firmly on the wrong side (label and prediction of opposite "
      "sign, the smaller of |label| and |prediction| largest): a candidate for irony or sarcasm")
def confident_opposite(source, model: str, split: str, *, rank: int = 1) -> Choice:
    row, label, pred, rows, strength = _firmest(source, model, split, rank, agree=False)
    why = (f"the model reads this {split} sample firmly the other way round: label {label[row]:+.2f}, prediction "
           f"{pred[row]:+.2f} ({len(rows)} of {len(label)} samples have the wrong sign)")
    return _maybe_shapley(source, model, split, row, _base(source, model, split, row, why,
                                                           strength=float(strength[row]), rank=rank))


@rule("confident_right", "the sample the model and the annotators put most firmly on the same side (label and "
      "prediction of one sign, the smaller of |label| and |prediction| largest): a plain case of the sentiment")
def confident_right(source, model: str, split: str, *, rank: int = 1) -> Choice:
    row, label, pred, rows, strength = _firmest(source, model, split, rank, agree=True)
    why = (f"the model and the annotators agree most firmly on this {split} sample: label {label[row]:+.2f}, "
           f"prediction {pred[row]:+.2f}")
    return _maybe_shapley(source, model, split, row, _base(source, model, split, row, why,
                                                           strength=float(strength[row]), rank=rank))


def _firmest(source, model: str, split: str, rank: int, *, agree: bool):
    """(row, label, pred, rows, strength): among the ``rows`` whose label and prediction have the same sign (agree)
    or opposite signs, the ``rank``-th by strength, the smaller of |label| and |prediction|."""
    p = source.predictions(model, split)
    label, pred = np.asarray(p.label, np.float64), np.asarray(p.pred, np.float64)
    strength = np.minimum(np.abs(label), np.abs(pred))
    rows = np.flatnonzero(np.sign(label) * np.sign(pred) > 0 if agree else opposite_sign(label, pred))
    row = _ranked(rows[np.argsort(-strength[rows], kind="stable")], rank,
                  f"no {split} sample has the {'right' if agree else 'wrong'} sign")
    return row, label, pred, rows, strength


@rule("contrastive_changes_most", "the sample whose shared and private features (a, b: two of Ts Vs As Td Vd Ad; "
      "default Ts, Td) relate most differently with and without contrastive learning (other: the model without CL)")
def contrastive_changes_most(source, model: str, split: str, *, other: str = "compare", a: str = "Ts", b: str = "Td",
                             rank: int = 1) -> Choice:
    if other not in source.models():
        raise ValueError(f"the model to compare with ({other}) is not loaded")
    p, q = source.predictions(model, split), source.predictions(other, split)
    for f in (a, b):
        if f not in p.features.get("decoupled", {}) or f not in q.features.get("decoupled", {}):
            raise ValueError(f"feature set {f} is not in both models (they read {', '.join(source.modalities(model))})")
    if list(p.ids) != list(q.ids):
        raise ValueError(f"{model} and {other} do not hold the same {split} samples")
    cos = lambda pr: row_cosines(pr.features["decoupled"][a], pr.features["decoupled"][b])
    c1, c2 = cos(p), cos(q)
    change = np.abs(c1 - c2)
    row = _ranked(np.argsort(-change, kind="stable"), rank, f"the {split} split is empty")
    why = (f"cos({a}, {b}) of this sample is {c1[row]:+.2f} with contrastive learning and {c2[row]:+.2f} without: the "
           f"largest change of the {len(change)} {split} samples")
    return _base(source, model, split, row, why, cos_with=float(c1[row]), cos_without=float(c2[row]),
                 cos_with_mean=float(np.mean(c1)), cos_without_mean=float(np.mean(c2)),
                 cos_change=float(change[row]), pred_other=float(q.pred[row]), other_model=other, rank=rank)


def _ordinal(rank: int) -> str:
    """"" for 1, else "2nd ", "3rd ", "11th ", …"""
    if rank == 1:
        return ""
    suffix = "th" if 10 <= rank % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(rank % 10, "th")
    return f"{rank}{suffix} "


def _maybe_shapley(source, model, split, row, choice: Choice) -> Choice:
    """Shapley values are cited when the model reads more than one modality (else φ is the whole prediction)."""
    return _with_shapley(source, model, split, row, choice) if len(source.modalities(model)) > 1 else choice


def choose(spec: dict, source, model: str, split: str) -> Choice:
    """Apply the rule a lesson names: ``spec`` = {"rule": name, **params}."""
    spec = dict(spec or {})
    name = spec.pop("rule", None)
    if name not in RULES:
        raise ValueError(f"unknown rule {name!r}; rules: {', '.join(RULES)}")
    try:
        return RULES[name].fn(source, model, split, **spec)
    except TypeError as e:
        raise ValueError(f"rule {name}: {e}") from None
