"""Guided lessons: lesson files (data, one YAML per lesson in ``lessons/``) and the rules that choose their samples.

A lesson never names a sample id (ids rot when a checkpoint is retrained): each step names a *rule* that picks a real
sample from the checkpoint's predictions of a split, e.g. "the test sample where the voice moves the prediction most
by Shapley value". A rule returns a :class:`Choice`: the sample, why it was chosen, and the numbers the lesson's
text may cite as ``{placeholders}`` (``{id}``, ``{label:+.2f}``, ``{phi_a:+.2f}``, …; see :data:`VALUES`).

The rules read their data through a *source* (duck-typed; the app's adapter is ``fdcmdie.app.lessons.Source``):

    source.models() -> list[str]                    model keys that load ("main", "compare", folder names)
    source.modalities(model) -> list[str]           e.g. ["t", "a"]
    source.predictions(model, split) -> evaluate.Predictions
    source.shapley(model, split) -> explain.shapley.ModalityShapley (rows as the predictions)

    lesson = load_lesson("lessons/01-modalities.yaml")
    step = render_step(lesson, 0, source)          # title, Markdown, question, answer, view {tab, model, split, sample, map}

File format (every key but ``title`` and ``steps`` optional; see the files in ``lessons/``)::

    title: What each modality contributes
    summary: one or two sentences
    model: [main, mosi-honest-tav-e5]   # the first of these that loads and fits every rule of the lesson
    split: test
    sample: {rule: modality_moves_most, modality: a}   # the lesson's sample (a step may choose its own)
    steps:
      - title: …
        text: Markdown, with {placeholders}
        view: {tab: explorer}         # tab: explorer | space | anatomy | cases | compare | card; map: umap | pca | tsne
        question: …
        answer: …
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import MOD_NAMES
from .contributions import weighing

# what a model reads, in a class's words ({reads}: "the words and the voice")
READS = {"t": "the words", "v": "the face", "a": "the voice"}

LESSON_DIR = Path(__file__).resolve().parents[2] / "lessons"
TABS = ("explorer", "space", "anatomy", "cases", "compare", "card", "upload", "lessons")
MAPS = ("umap", "pca", "tsne")
STAGES = ("features", "decoupling", "dipu", "gap", "prediction")
SPLITS = ("test", "valid", "train")
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
    values["reads"] = reads[0] if len(reads) == 1 else ", ".join(reads[:-1]) + " and " + reads[-1]
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
    rows = np.flatnonzero((np.sign(pa) * np.sign(pb) < 0))
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
    signs = np.sign(label) * np.sign(pred)
    rows = np.flatnonzero(signs > 0 if agree else signs < 0)
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
    cos = lambda pr: _row_cos(pr.features["decoupled"][a], pr.features["decoupled"][b])
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


def _row_cos(x, y) -> np.ndarray:
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    nx, ny = np.linalg.norm(x, axis=1), np.linalg.norm(y, axis=1)
    return np.sum(x * y, axis=1) / np.maximum(nx * ny, 1e-12)


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


# ------------------------------------------------------------------------------------------------- lesson files


@dataclass
class Step:
    title: str
    text: str
    view: dict                 # {"tab", and optionally "map", "stage", "model", "split"}
    question: str = ""
    answer: str = ""
    sample: dict | None = None  # a rule of its own (else the lesson's)
    models: list[str] | None = None  # candidate models of its own (else the lesson's)


@dataclass
class Lesson:
    key: str                   # file name without suffix
    title: str
    summary: str
    models: list[str]          # candidates, first that fits wins
    split: str
    sample: dict | None
    steps: list[Step]
    path: Path | None = None
    order: float = 1e9         # position in the list of lessons (then by file name)


def _fields(text: str) -> set[str]:
    out = set()
    for _, name, _, _ in string.Formatter().parse(text):
        if name is not None:
            out.add(name.split(".")[0].split("[")[0])
    return out


def _check_rule(spec, where: str) -> dict | None:
    if spec is None:
        return None
    if not isinstance(spec, dict) or "rule" not in spec:
        raise ValueError(f"{where}: sample must be a mapping with a 'rule' (one of {', '.join(RULES)})")
    if spec["rule"] not in RULES:
        raise ValueError(f"{where}: unknown rule {spec['rule']!r}; rules: {', '.join(RULES)}")
    return dict(spec)


def parse_lesson(data: dict, key: str = "lesson", path: Path | None = None) -> Lesson:
    """A Lesson from a parsed lesson file; ValueError that names the file and the key for anything wrong."""
    where = str(path or key)
    if not isinstance(data, dict):
        raise ValueError(f"{where}: a lesson file is a mapping with title and steps")
    unknown = set(data) - {"title", "summary", "model", "split", "sample", "steps", "order"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)} (allowed: title, summary, model, split, sample, "
                         "steps, order)")
    if not str(data.get("title") or "").strip():
        raise ValueError(f"{where}: the lesson has no title")
    models = _models(data.get("model", "main"), where) or ["main"]
    split = data.get("split", "test")
    if split not in SPLITS:
        raise ValueError(f"{where}: split must be one of {', '.join(SPLITS)}, got {split!r}")
    sample = _check_rule(data.get("sample"), where)
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ValueError(f"{where}: the lesson has no steps (a list under 'steps')")
    steps = []
    for i, s in enumerate(raw_steps, start=1):
        at = f"{where}, step {i}"
        if not isinstance(s, dict):
            raise ValueError(f"{at}: a step is a mapping with title, text, view, question, answer")
        extra = set(s) - {"title", "text", "view", "question", "answer", "sample", "model"}
        if extra:
            raise ValueError(f"{at}: unknown keys {sorted(extra)}")
        view = dict(s.get("view") or {"tab": "lessons"})
        bad = set(view) - {"tab", "map", "stage", "model", "split", "layer"}
        if bad:
            raise ValueError(f"{at}: unknown view keys {sorted(bad)} (allowed: tab, map, stage, layer, model, split)")
        if view.get("tab", "lessons") not in TABS:
            raise ValueError(f"{at}: view tab must be one of {', '.join(TABS)}, got {view.get('tab')!r}")
        if "map" in view and view["map"] not in MAPS:
            raise ValueError(f"{at}: view map must be one of {', '.join(MAPS)}, got {view['map']!r}")
        if "stage" in view and view["stage"] not in STAGES:
            raise ValueError(f"{at}: view stage must be one of {', '.join(STAGES)}, got {view['stage']!r}")
        if "split" in view and view["split"] not in SPLITS:
            raise ValueError(f"{at}: view split must be one of {', '.join(SPLITS)}, got {view['split']!r}")
        step = Step(title=str(s.get("title") or f"Step {i}"), text=str(s.get("text") or ""), view=view,
                    question=str(s.get("question") or ""), answer=str(s.get("answer") or ""),
                    sample=_check_rule(s.get("sample"), at), models=_models(s.get("model"), at))
        if step.question and not step.answer:
            raise ValueError(f"{at}: a question needs an answer to reveal")
        for part in (step.title, step.text, step.question, step.answer):
            try:
                names = _fields(part)
            except ValueError as e:
                raise ValueError(f"{at}: a {{placeholder}} is malformed ({e}); write {{{{ and }}}} for braces") from None
            wrong = sorted(names - set(VALUES))
            if wrong:
                raise ValueError(f"{at}: unknown placeholder(s) {wrong}; known: {', '.join(VALUES)}")
        steps.append(step)
    return Lesson(key=key, title=str(data["title"]).strip(), summary=str(data.get("summary") or "").strip(),
                  models=[str(m) for m in models], split=split, sample=sample, steps=steps, path=path,
                  order=_order(data.get("order"), where))


def _models(value, where: str) -> list[str] | None:
    if value is None:
        return None
    models = [value] if isinstance(value, str) else value
    if not isinstance(models, list) or not all(isinstance(m, str) and m.strip() for m in models):
        raise ValueError(f"{where}: model must be a model key or a list of them (main, compare, a checkpoint folder name)")
    return [m.strip() for m in models]


def _order(value, where: str) -> float:
    if value is None:
        return 1e9
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: order must be a number, got {value!r}") from None


def load_lesson(path: str | Path) -> Lesson:
    """Read one lesson file (.yaml / .yml, or .md with the lesson as YAML front matter between --- lines; the
    Markdown after it becomes the summary when there is none)."""
    import yaml

    path = Path(path)
    text = path.read_text(encoding="utf-8")
    body = ""
    if path.suffix == ".md":
        m = re.match(r"^---\s*\n(.*?)\n---\s*\n?(.*)$", text, re.S)
        if not m:
            raise ValueError(f"{path}: a Markdown lesson starts with YAML front matter between two '---' lines")
        text, body = m.group(1), m.group(2).strip()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML ({e})") from None
    if isinstance(data, dict) and body and not data.get("summary"):
        data["summary"] = body
    return parse_lesson(data, key=path.stem, path=path)


def load_lessons(folder: str | Path = LESSON_DIR) -> tuple[list[Lesson], list[str]]:
    """(lessons sorted by their ``order`` then file name, problems in words): a broken file is reported, not fatal."""
    folder = Path(folder)
    if not folder.is_dir():
        return [], [f"no lesson folder {folder}"]
    lessons, problems = [], []
    files = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml", ".md") and not p.name.startswith(("_", ".")))
    for p in files:
        try:
            lessons.append(load_lesson(p))
        except (ValueError, OSError) as e:
            problems.append(str(e))
    lessons.sort(key=lambda l: (l.order, l.key))
    return lessons, problems


# ------------------------------------------------------------------------------------------------- rendering


class _Missing:
    """A placeholder the chosen sample has no value for (e.g. {phi_a} of a text-only model): shown as a dash."""

    def __format__(self, spec: str) -> str:
        return "–"


class _Values(dict):
    def __missing__(self, key):
        return _Missing()


def fill(text: str, values: dict) -> str:
    """``text`` with its {placeholders} filled from ``values``; numbers keep their format spec; missing ones → "–"."""
    safe = _Values({k: v for k, v in values.items()})
    if "text" in safe:
        safe["text"] = _md_escape(safe["text"])
    return string.Formatter().vformat(text, (), safe)


def _md_escape(text: str) -> str:
    out = str(text)
    for ch in "\\`*_[]<>|#":
        out = out.replace(ch, "\\" + ch)
    return out


@dataclass
class StepView:
    """One step, ready to show: filled texts and the live view it sets."""

    lesson: str
    index: int                 # 0-based
    count: int
    title: str
    markdown: str
    question: str
    answer: str
    view: dict                 # {"tab", "model", "split", "sample", "map"?, "stage"?, "layer"?}
    choice: Choice | None


def pick_model(candidates: list[str], specs: list[dict | None], source, split: str, what: str) -> str:
    """The first of ``candidates`` that loads and fits every rule in ``specs``; ValueError saying why none does."""
    loaded = source.models()
    problems = []
    for model in candidates:
        if model not in loaded:
            problems.append(f"{model}: not loaded")
            continue
        try:
            for spec in specs:
                if spec is not None:
                    choose(spec, source, model, split)
            return model
        except ValueError as e:
            problems.append(f"{model}: {e}")
    raise ValueError(f"{what} has no model to run on ({'; '.join(problems)})")


def lesson_model(lesson: Lesson, source) -> str:
    """The model of the lesson's steps that do not name their own."""
    specs = [lesson.sample] + [s.sample for s in lesson.steps if s.models is None]
    return pick_model(lesson.models, specs, source, lesson.split, f"lesson “{lesson.title}”")


def step_model(lesson: Lesson, index: int, source) -> str:
    step = lesson.steps[index]
    if step.models is None:
        return lesson_model(lesson, source)
    return pick_model(step.models, [step.sample or lesson.sample], source, lesson.split,
                      f"step {index + 1} of lesson “{lesson.title}”")


MAX_SKIP = 5   # how many ranks a step's own rule moves on to avoid a sample an earlier step of the lesson showed


def _pick(lesson: Lesson, index: int, source, model: str, shown: set[str]) -> Choice | None:
    """The sample of step ``index`` on ``model``: its rule's choice; a rule of the step's own moves on to its next
    ranks (at most MAX_SKIP) rather than repeat a sample in ``shown``, and keeps its first choice when the rule has
    no further sample."""
    step = lesson.steps[index]
    spec = step.sample or lesson.sample
    if not spec:
        return None
    first = choice = choose(spec, source, model, lesson.split)
    if step.sample:
        start = int(step.sample.get("rank", 1))
        for rank in range(start + 1, start + 1 + MAX_SKIP):
            if choice.sample_id not in shown:
                break
            try:
                choice = choose({**step.sample, "rank": rank}, source, model, lesson.split)
            except ValueError:
                return first
    return choice


def _earlier_samples(lesson: Lesson, index: int, source) -> set[str]:
    """The sample ids the steps before ``index`` show, each chosen as render_step chooses it (a rule they cannot
    satisfy shows none): one pass over the earlier steps."""
    shown: set[str] = set()
    for j in range(index):
        try:
            choice = _pick(lesson, j, source, step_model(lesson, j, source), shown)
        except ValueError:
            continue
        if choice is not None:
            shown.add(choice.sample_id)
    return shown


def render_step(lesson: Lesson, index: int, source, *, model: str | None = None) -> StepView:
    """Step ``index`` (0-based) of ``lesson`` with its sample chosen on ``model`` (default: :func:`step_model`)."""
    if not 0 <= index < len(lesson.steps):
        raise ValueError(f"lesson “{lesson.title}” has steps 1…{len(lesson.steps)}, not {index + 1}")
    step = lesson.steps[index]
    model = model or step_model(lesson, index, source)
    choice = _pick(lesson, index, source, model, _earlier_samples(lesson, index, source) if step.sample else set())
    values = dict(choice.values) if choice else {"model": model, "split": lesson.split}
    view = {"tab": "lessons", "model": model, "split": lesson.split, **step.view}
    if choice is not None:
        view["sample"] = choice.sample_id
    body = fill(step.text, values)
    if choice is not None:
        body += (f"\n\n*Sample `{choice.sample_id}` ({lesson.split} split, model {model}) — chosen because "
                 f"{_md_escape(choice.reason)}.*")
    return StepView(lesson=lesson.key, index=index, count=len(lesson.steps), title=fill(step.title, values),
                    markdown=body, question=fill(step.question, values), answer=fill(step.answer, values), view=view,
                    choice=choice)
