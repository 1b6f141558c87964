"""Guided lessons (fdcmdie/explain/lessons.py, fdcmdie/app/lessons.py, lessons/*.yaml): the rules choose the samples a
brute-force loop over a toy split chooses; lesson files are validated with reasons; the shipped lessons render every
step on real checkpoints with samples that satisfy their rule; a teacher's new lesson file needs no code; the tab's
callbacks set the live view."""
from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from fdcmdie.app import lessons as tab
from fdcmdie.app import lesson_files as LF
from fdcmdie.checkpoint import FACE_PAIR
from fdcmdie.explain import lessons as L
from fdcmdie.explain.shapley import ModalityShapley

# ------------------------------------------------------------------------------------------------- toy source

TEXTS = ["i loved it", "it was not good", "never again", "great acting", "boring plot", "i didn't mind it"]
LABEL = np.array([2.0, -1.0, -2.5, 2.2, -1.8, 0.6])
PRED = np.array([1.5, 1.2, -2.0, -1.0, -1.5, -0.4])
PHI = np.array([[1.0, 0.1], [0.6, -0.5], [-1.5, -0.3], [-0.2, -0.9], [-0.8, 0.7], [0.2, -0.4]])   # (t, a)


class ToySource:
    def __init__(self, mods=("t", "a")):
        self.mods = list(mods)
        rng = np.random.default_rng(0)
        dec = {k: rng.normal(size=(6, 4)) for k in ("Ts", "Td", "As", "Ad")}
        dec_other = {k: v + rng.normal(scale=0.5, size=v.shape) for k, v in dec.items()}
        M = len(self.mods)
        alpha = np.full((6, 2, M), 1.0 / M)
        mk = lambda d: SimpleNamespace(ids=[f"s{i}" for i in range(6)], texts=TEXTS, label=LABEL, pred=PRED,
                                       alpha=alpha, gates=alpha * 0.5, features={"decoupled": d},
                                       present=np.ones((6, M), bool))
        self.preds = {"main": mk(dec), "compare": mk(dec_other)}

    def models(self):
        return list(self.preds)

    def modalities(self, model):
        return self.mods

    def predictions(self, model, split):
        return self.preds[model]

    def shapley(self, model, split):
        return ModalityShapley(self.mods, PHI[:, : len(self.mods)], np.zeros(6), PHI[:, : len(self.mods)].sum(1))


def brute_argmax(values):
    best = None
    for i, v in enumerate(values):
        if v is not None and (best is None or v > values[best]):
            best = i
    return best


def test_rules_choose_what_a_loop_chooses():
    src = ToySource()
    c = L.choose({"rule": "modality_moves_most", "modality": "a"}, src, "main", "test")
    assert c.row == brute_argmax([abs(p[1]) for p in PHI]) == 3
    assert c.values["phi_a"] == pytest.approx(-0.9) and c.values["phi_t"] == pytest.approx(-0.2)
    assert c.values["alpha_a"] == pytest.approx(0.5) and c.sample_id == "s3"

    errors = [abs(p - l) for p, l in zip(PRED, LABEL)]
    assert L.choose({"rule": "largest_error"}, src, "main", "test").row == brute_argmax(errors)
    second = sorted(range(6), key=lambda i: -errors[i])[1]
    assert L.choose({"rule": "largest_error", "rank": 2}, src, "main", "test").row == second

    negated = [errors[i] if any(w in TEXTS[i].split() or "n't" in TEXTS[i] for w in ("not", "never")) else None
               for i in range(6)]
    c = L.choose({"rule": "negation"}, src, "main", "test")
    assert c.row == brute_argmax(negated) and c.values["cue"] in ("not", "never", "didn't")

    disagree = [min(abs(t), abs(a)) if t * a < 0 else None for t, a in PHI]
    c = L.choose({"rule": "modalities_disagree"}, src, "main", "test")
    assert c.row == brute_argmax(disagree) and c.values["strength"] == pytest.approx(max(d for d in disagree if d))

    opposite = [min(abs(l), abs(p)) if l * p < 0 else None for l, p in zip(LABEL, PRED)]
    assert L.choose({"rule": "confident_opposite"}, src, "main", "test").row == brute_argmax(opposite)

    cos = lambda d, i: float(d["Ts"][i] @ d["Td"][i] / np.linalg.norm(d["Ts"][i]) / np.linalg.norm(d["Td"][i]))
    change = [abs(cos(src.preds["main"].features["decoupled"], i) - cos(src.preds["compare"].features["decoupled"], i))
              for i in range(6)]
    c = L.choose({"rule": "contrastive_changes_most"}, src, "main", "test")
    assert c.row == brute_argmax(change) and c.values["cos_change"] == pytest.approx(max(change))


def test_rules_refuse_with_reasons():
    text_only = ToySource(mods=("t",))
    with pytest.raises(ValueError, match="does not read the acoustic"):
        L.choose({"rule": "modality_moves_most", "modality": "a"}, text_only, "main", "test")
    with pytest.raises(ValueError, match="unknown rule"):
        L.choose({"rule": "most_beautiful"}, text_only, "main", "test")
    with pytest.raises(ValueError, match="rule largest_error"):
        L.choose({"rule": "largest_error", "colour": "red"}, text_only, "main", "test")
    with pytest.raises(ValueError, match="only 6 samples"):
        L.choose({"rule": "largest_error", "rank": 7}, text_only, "main", "test")
    with pytest.raises(ValueError, match="not loaded"):
        L.choose({"rule": "contrastive_changes_most", "other": "nocl"}, text_only, "main", "test")


def test_negation_cue():
    assert L.negation_cue("It wasn't good") == "wasn't"
    assert L.negation_cue("not bad at all") == "not"
    assert L.negation_cue("a knotty nobody-knows plot") == "nobody"
    assert L.negation_cue("I loved it") is None


# ------------------------------------------------------------------------------------------------- files


LESSON = {"title": "T", "steps": [{"title": "a", "text": "{id} {label:+.1f}", "question": "q?", "answer": "{pred:+.2f}",
                                   "view": {"tab": "explorer"}}], "sample": {"rule": "largest_error"}}


def bad(**changes):
    data = {**LESSON, **changes}
    return lambda: LF.parse_lesson(data, "x")


def test_lesson_files_are_validated_with_reasons():
    step = LESSON["steps"][0]
    for make, reason in ((bad(title=""), "no title"), (bad(steps=[]), "no steps"),
                         (bad(sample={"rule": "nope"}), "unknown rule 'nope'"),
                         (bad(split="dev"), "split must be one of"),
                         (bad(colour="red"), "unknown keys"),
                         (bad(steps=[{**step, "text": "{phi_q}"}]), r"unknown placeholder\(s\) \['phi_q'\]"),
                         (bad(steps=[{**step, "text": "{id"}]), "malformed"),
                         (bad(steps=[{**step, "answer": ""}]), "needs an answer"),
                         (bad(steps=[{**step, "view": {"tab": "nowhere"}}]), "view tab must be one of"),
                         (bad(steps=[{**step, "view": {"tab": "space", "map": "mds"}}]), "view map must be"),
                         (bad(model=[3]), "model must be")):
        with pytest.raises(ValueError, match=reason):
            make()


def test_fill_keeps_formats_and_dashes_what_is_missing():
    assert LF.fill("{label:+.2f} / {phi_a:+.2f} / {text}", {"label": -1.234, "text": "a*b"}) == "-1.23 / – / a\\*b"
    assert LF.fill("G_{{A→G}}", {}) == "G_{A→G}"


def test_rendered_step_sets_the_view():
    lesson = LF.parse_lesson(LESSON, "x")
    sv = LF.render_step(lesson, 0, ToySource())
    errors = np.abs(PRED - LABEL)
    r = int(np.argmax(errors))
    assert sv.view == {"tab": "explorer", "model": "main", "split": "test", "sample": f"s{r}"}
    assert sv.markdown.startswith(f"s{r} {LABEL[r]:+.1f}") and "chosen because" in sv.markdown
    assert sv.answer == f"{PRED[r]:+.2f}"
    with pytest.raises(ValueError, match="steps 1…1"):
        LF.render_step(lesson, 1, ToySource())


def test_a_steps_own_rule_moves_past_a_sample_shown_before():
    """Step 2's own rule picks the sample step 1 showed: it takes the rule's next rank instead (here the second
    largest error, found by sorting by hand); a step that shares the lesson's rule shows the same sample on purpose."""
    step = LESSON["steps"][0]
    lesson = LF.parse_lesson({**LESSON, "steps": [step, {**step, "sample": {"rule": "largest_error"}}, step]}, "x")
    errors = np.abs(PRED - LABEL)
    first, second = [int(i) for i in np.argsort(-errors, kind="stable")[:2]]
    views = [LF.render_step(lesson, i, ToySource()).view["sample"] for i in range(3)]
    assert views == [f"s{first}", f"s{second}", f"s{first}"]


def test_a_teacher_writes_a_fourth_lesson_without_code(tmp_path, ctx):
    """A Markdown file with front matter in a lessons folder appears in the list and runs on the app's models; a
    broken file beside it is reported, the others still load."""
    (tmp_path / "10-mine.md").write_text(
        "---\ntitle: My own lesson\norder: 0\nmodel: [main]\nsteps:\n"
        "  - title: The most negative mistake\n    sample: {rule: negation, rank: 2}\n"
        "    text: \"“{text}” has {cue}: label {label:+.2f}, model {pred:+.2f}\"\n"
        "    view: {tab: anatomy, stage: dipu}\n    question: Why?\n    answer: Because.\n"
        "---\nThe summary is the Markdown below the front matter.\n")
    (tmp_path / "20-broken.yaml").write_text("title: Broken\nsteps: nope\n")
    lessons, problems = LF.load_lessons(tmp_path)
    assert [l.title for l in lessons] == ["My own lesson"]
    assert len(problems) == 1 and "20-broken.yaml" in problems[0] and "no steps" in problems[0]
    assert lessons[0].summary.startswith("The summary is")
    sv = LF.render_step(lessons[0], 0, tab.Source(ctx))
    preds = ctx.split_view("main", "test").preds
    r = preds.ids.index(sv.view["sample"])
    assert L.negation_cue(preds.texts[r]) and sv.view["tab"] == "anatomy" and sv.view["stage"] == "dipu"
    assert f"label {preds.label[r]:+.2f}" in sv.markdown


# ------------------------------------------------------------------------------------------------- shipped lessons


def test_shipped_lessons_load():
    lessons, problems = LF.load_lessons()
    assert not problems
    assert [l.key for l in lessons][:3] == ["01-modalities", "02-contrastive", "03-failures"]
    for lesson in lessons:
        assert lesson.steps and all(s.question and s.answer for s in lesson.steps)


def check_rendered(lesson, source, preds_of):
    """Every step renders, its sample is in the split, its texts have no unfilled placeholder and no dash where the
    rule should have given a number."""
    for i in range(len(lesson.steps)):
        sv = LF.render_step(lesson, i, source)
        preds = preds_of(sv.view["model"])
        assert sv.view["sample"] in preds.ids
        for text in (sv.title, sv.markdown, sv.question, sv.answer):
            assert "{" not in text.replace("{A→G}", "") and " – " not in text and "–)" not in text, (lesson.key, i, text)
        yield sv


def test_shipped_lessons_run_on_the_app_pair(ctx):
    source = tab.Source(ctx)
    lessons, _ = LF.load_lessons()
    shown = {l.key: list(check_rendered(l, source, lambda m: ctx.split_view(m, "test").preds)) for l in lessons}
    first = shown["01-modalities"][0]
    sv = ctx.shapley(first.view["model"], "test")
    a = sv.modalities.index("a")
    assert abs(first.choice.values["phi_a"]) == pytest.approx(np.abs(sv.phi[:, a]).max())
    assert shown["02-contrastive"][0].view["map"] == "pca" and shown["02-contrastive"][0].view["tab"] == "space"


@pytest.mark.slow
def test_shipped_lessons_on_the_default_pair(data_root, tmp_path):
    """The acceptance of issue 21: the three lessons on the shipped default pair (text + voice), every step on it."""
    from fdcmdie.app import AppContext, AppOptions
    from fdcmdie.checkpoint import DEFAULT_PAIR

    ctx = AppContext(AppOptions(checkpoint=DEFAULT_PAIR[0], compare_checkpoint=DEFAULT_PAIR[1], data=str(data_root),
                                browse_checkpoints=FACE_PAIR[:1], cache_dir=str(tmp_path),
                                warm_up=False, asr=False))
    source = tab.Source(ctx)
    lessons, _ = LF.load_lessons()
    for lesson in lessons:
        steps = list(check_rendered(lesson, source, lambda m: ctx.split_view(m, "test").preds))
        if lesson.key == "01-modalities":
            assert steps[0].view["model"] == "main"                 # the default pair reads the voice itself
        if lesson.key == "03-failures":
            assert steps[0].view["model"] == "main" and steps[-1].view["model"] == "main"
            assert steps[-1].choice.values["phi_t"] * steps[-1].choice.values["phi_a"] < 0
    checked = check_every_sample_a_rule_can_choose(lessons, source, ctx)
    assert checked >= 11 * (1 + LF.MAX_SKIP) * 0.8, checked     # nearly every step × rank was really tried


APP_SOURCE = "\n".join(p.read_text() for p in (Path(__file__).resolve().parents[1] / "fdcmdie" / "app").glob("*.py"))
# a claim about GAP's weights: only the one sentence of explain.contributions.weighing ({weighing}) may make it
WEIGHT_CLAIM = re.compile(r"\b(weigh(s|ed|ing)?|lean(s|ed)?|leaned most|counted most)\b", re.I)


def check_step_text(text: str, values: dict, where) -> None:
    """One filled step text holds for its sample: no placeholder left unfilled (a dash), every “quoted” fragment is
    in the sample's transcript or is a label the page shows, and no sentence on GAP's weights but the rule's one."""
    assert " – " not in text and "–)" not in text and "{" not in text.replace("{A→G}", ""), (where, text)
    transcript = " ".join(str(values.get("text", "")).lower().split())
    for frag in re.findall(r"“([^”]+)”", text):
        frag = " ".join(frag.replace("\\", "").lower().split())
        assert frag in transcript or frag in APP_SOURCE.lower(), (where, frag, transcript)
    rest = text.replace(values.get("weighing") or "\0", "")
    assert not WEIGHT_CLAIM.search(rest), (where, WEIGHT_CLAIM.search(rest).group(0), text)


def check_every_sample_a_rule_can_choose(lessons, source, ctx) -> int:
    """Issue 32: a lesson's texts are checked on every sample its rule can choose (ranks 1 … 1 + MAX_SKIP, the
    samples a step moves on to), not on the one it chose today. Returns how many (step, sample) pairs were checked."""
    checked = 0
    for lesson in lessons:
        for i, step in enumerate(lesson.steps):
            model = LF.step_model(lesson, i, source)
            spec = step.sample or lesson.sample
            if not spec:
                continue
            for rank in range(1, 2 + LF.MAX_SKIP):
                try:
                    choice = L.choose({**spec, "rank": rank}, source, model, lesson.split)
                except ValueError:
                    break                                     # the rule has no further sample
                values = {**choice.values, "model": tab.model_name(ctx, model)}
                for part in (step.text, step.question, step.answer):
                    check_step_text(LF.fill(part, values), values, (lesson.key, i + 1, rank, choice.sample_id))
                checked += 1
    return checked


def test_step_text_check_catches_what_issue_32_found():
    """The check above fails on the sentences the issue found: words quoted that the sample does not hold, and a
    claim on GAP's weights of the lesson's own."""
    values = {"text": "i did like transformers 2 even though a lot of people didnt like that",
              "weighing": "GAP weighed text and acoustic about equally (α within 0.05 of each other)."}
    check_step_text("it adds up the words (“like”), whatever negates them. " + values["weighing"], values, "ok")
    with pytest.raises(AssertionError):
        check_step_text("it is adding up sentiment words (“funny”, “good”)", values, "negation")
    with pytest.raises(AssertionError):
        check_step_text("which is why GAP learns to weigh the text most", values, "last step")
    with pytest.raises(AssertionError):
        check_step_text("the voice by – (Shapley values)", values, "missing")


# ------------------------------------------------------------------------------------------------- the tab


def test_tab_callbacks_step_through_a_lesson(ctx):
    lessons, _ = LF.load_lessons()
    summary, steps = tab.open_lesson(lessons, "03-failures", None)     # page load: nothing computed yet
    assert "choose one to begin" in summary and steps["value"] is None
    summary, steps = tab.open_lesson(lessons, "03-failures")
    assert "Where the model fails" in summary and steps["value"] == 0 and len(steps["choices"]) == 4
    body, question, answer, box, view, status = tab.show_step(ctx, lessons, "03-failures", 0)
    assert body.startswith("### Step 1 of 4") and question.startswith("**Question.**") and answer
    assert view["tab"] == "explorer" and view["sample"] in ctx.split_view("main", "test").row_of
    assert tab.move(lessons, "03-failures", 0, 1) == 1 and tab.move(lessons, "03-failures", 0, -1) == {"__type__": "update"}
    out = tab.apply_view(view)
    assert out[0].selected == "explorer" and out[1:4] == ("main", "test", view["sample"])
    assert all(o == {"__type__": "update"} for o in out[4:13]) and view["sample"] in out[13]
    # an anatomy step sets the anatomy tab's sample and stage, not the explorer's
    anatomy = tab.apply_view({"tab": "anatomy", "model": "main", "split": "test", "sample": "x", "stage": "dipu"})
    assert anatomy[0].selected == "anatomy" and anatomy[5:11] == ("main", "dataset", "test", "x", "dipu", 1)
    assert all(o == {"__type__": "update"} for o in anatomy[1:5])
    space = tab.apply_view({"tab": "space", "model": "main", "split": "test", "sample": "x", "map": "pca"})
    assert space[4] == "pca" and space[3] == "x"
    assert space[11:13] == ("feature", "")   # an earlier step's colouring and search rings are reset (issue 32)
    assert tab.apply_view({"tab": "anatomy", "model": "main", "sample": "x", "stage": "dipu", "layer": 3})[10] == 3
    # problems are said in place
    assert "cannot be shown" in tab.show_step(ctx, lessons, "no-such-lesson", 0)[5]
    assert tab.apply_view(None)[-1] == "Pick a step first."
