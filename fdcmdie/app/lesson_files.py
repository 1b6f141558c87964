"""Lesson files: one YAML per lesson in ``lessons/`` (data), read into :class:`Lesson`, and each step made ready to
show (:func:`render_step`: the texts filled as Markdown, the live view it sets). The samples are chosen by the rules
of :mod:`fdcmdie.explain.lessons`, which return a typed :class:`~fdcmdie.explain.lessons.Choice`.

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
from dataclasses import dataclass
from pathlib import Path

from ..explain.anatomy import STAGES as ANATOMY_STAGES
from ..explain.lessons import RULES, VALUES, Choice, choose
from ..explain.projections import METHODS
from ..facts import VIEW_SPLITS

LESSON_DIR = Path(__file__).resolve().parents[2] / "lessons"
TABS = ("explorer", "space", "anatomy", "cases", "compare", "card", "upload", "lessons")
MAPS = tuple(METHODS)             # a lesson view may open one of the space tab's projections
STAGES = tuple(ANATOMY_STAGES)    # features, decoupling, dipu, gap, prediction
SPLITS = VIEW_SPLITS              # a lesson view names one of these (test first, as the app offers them)


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
