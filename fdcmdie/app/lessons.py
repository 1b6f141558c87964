"""Lessons tab: guided lessons for a class, read from the lesson files in ``lessons/`` (fdcmdie.app.lesson_files;
their samples chosen by the rules of fdcmdie.explain.lessons).

Each step: a few sentences filled with the numbers of a sample its rule chose, a **Show me** button that sets the
live view (the tab, the model, the split, the sample, the map or the anatomy stage), and a question whose answer is
revealed on demand. The lesson files are read once when the app starts; a broken file is listed, not fatal.

Why not gr.Walkthrough: its steps are fixed when the page is built, while a lesson's texts are filled from the data
when it is opened and a teacher may add lessons with any number of steps; one stepper (a radio of step titles with
previous / next) serves every lesson with the same few components.

Plain functions of an AppContext (the tests call them); ``build`` lays the tab out and wires them. Problems are said
in place (never an error toast).
"""
from __future__ import annotations

import gradio as gr

from . import lesson_files as L
from .common import md_escape
from .context import AppContext
from .shared import Shared

NOTE = ("<div class='howto'><b>How to use a lesson.</b> Read the step, press <b>Show me</b>: the page switches to the "
        "view the step talks about, set to the sample it chose. Think about the question before you open the "
        "answer. Lessons are files in <code>lessons/</code>: a teacher can add one without touching code.</div>")


# tab ids (gr.Tab(id=…)) as the page names them
TAB_NAMES = {"explorer": "Sample explorer", "upload": "Upload", "space": "Representation space",
             "cases": "Case studies", "compare": "Compare A vs B", "anatomy": "Model anatomy", "lessons": "Lessons",
             "card": "Model card"}


class Source:
    """What the lesson rules read, from the app's cached predictions and Shapley values."""

    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    def models(self) -> list[str]:
        return self.ctx.model_keys()

    def modalities(self, model: str) -> list[str]:
        return list(self.ctx.predictor(model).modalities)

    def predictions(self, model: str, split: str):
        return self.ctx.split_view(model, split).preds

    def shapley(self, model: str, split: str):
        return self.ctx.shapley(model, split)


def lesson_by_key(lessons: list[L.Lesson], key: str | None) -> L.Lesson:
    for lesson in lessons:
        if lesson.key == key:
            return lesson
    raise ValueError(f"no lesson {key!r}; lessons: {', '.join(l.key for l in lessons) or 'none'}")


def step_choices(lesson: L.Lesson) -> list[tuple[str, int]]:
    return [(f"{i + 1}. {s.title if '{' not in s.title else 'step ' + str(i + 1)}", i) for i, s in enumerate(lesson.steps)]


def open_lesson(lessons: list[L.Lesson], key: str | None, index=0):
    """A lesson was chosen: (summary Markdown, step radio update at ``index``; None: no step chosen yet, as on page
    load, so nothing is computed before the tab is opened)."""
    try:
        lesson = lesson_by_key(lessons, key)
    except ValueError as e:
        return f"**{md_escape(str(e))}**", gr.update(choices=[], value=None)
    begin = " — choose one to begin" if index is None else ""
    summary = f"## {md_escape(lesson.title)}\n{lesson.summary}\n\n*{len(lesson.steps)} steps{begin}.*"
    return summary, gr.update(choices=step_choices(lesson), value=index)


def step_view(ctx: AppContext, lessons: list[L.Lesson], key: str | None, index) -> L.StepView:
    """The filled step (cached per lesson and step: the rules read cached split predictions, so a repeat is free)."""
    lesson = lesson_by_key(lessons, key)
    i = int(index or 0)
    return ctx._once(("lesson", lesson.key, i, lesson.path.stat().st_mtime if lesson.path else 0),
                     lambda: named(ctx, lesson, L.render_step(lesson, i, Source(ctx))))


def model_name(ctx: AppContext, key: str | None) -> str:
    """A model key as a class reads it: "mosi-std-ta-e5 (with CL)" for "main" (the key itself if not a slot)."""
    slot = ctx.slots.get(key) if key else None
    return slot.label if slot is not None else str(key or "")


def named(ctx: AppContext, lesson: L.Lesson, sv: L.StepView) -> L.StepView:
    """The step with {model} / {other_model} filled with the checkpoints' names, not the app's slot keys ("The model
    **main** reads …"); the view keeps the key (it sets the explorer's model chooser)."""
    import dataclasses

    key = sv.view.get("model")
    values = dict(sv.choice.values) if sv.choice is not None else {"model": key, "split": lesson.split}
    values["model"] = model_name(ctx, key)
    if values.get("other_model"):
        values["other_model"] = model_name(ctx, values["other_model"])
    step = lesson.steps[sv.index]
    body = L.fill(step.text, values)
    if sv.choice is not None:
        body += (f"\n\n*Sample `{sv.choice.sample_id}` ({lesson.split} split, model {md_escape(values['model'])}) — "
                 f"chosen because {md_escape(sv.choice.reason)}.*")
    return dataclasses.replace(sv, title=L.fill(step.title, values), markdown=body,
                               question=L.fill(step.question, values), answer=L.fill(step.answer, values))


def show_step(ctx: AppContext, lessons: list[L.Lesson], key: str | None, index):
    """A step was chosen: (step Markdown, question Markdown, answer Markdown, answer accordion (closed), the view the
    step sets, status)."""
    if index is None:
        return "", "", "", gr.Accordion(open=False, visible=False), None, ""
    try:
        sv = step_view(ctx, lessons, key, index)
    except (ValueError, FileNotFoundError, KeyError) as e:
        msg = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        return ("", "", "", gr.Accordion(open=False, visible=False), None,
                f"**This step cannot be shown here**: {md_escape(msg)}")
    body = f"### Step {sv.index + 1} of {sv.count}: {md_escape(sv.title)}\n\n{sv.markdown}"
    question = f"**Question.** {sv.question}" if sv.question else ""
    return (body, question, sv.answer, gr.Accordion(open=False, visible=bool(sv.question)), sv.view,
            f"Press **Show me** to open the **{TAB_NAMES.get(sv.view.get('tab'), sv.view.get('tab', 'Lessons'))}** "
            "tab on this step's sample.")


def move(lessons: list[L.Lesson], key: str | None, index, delta: int):
    """Previous / next: the new step index (unchanged at either end)."""
    try:
        n = len(lesson_by_key(lessons, key).steps)
    except ValueError:
        return gr.skip()
    i = int(index or 0) + delta
    return i if 0 <= i < n else gr.skip()


def apply_view(view: dict | None, *, has_space: bool = True, has_anatomy: bool = True) -> tuple:
    """The live view a step sets: updates of (tabs, explorer model, split, sample, space map method, anatomy model,
    anatomy source, anatomy split, anatomy sample, anatomy stage, anatomy layer, space colour-by, space search,
    status). What an earlier step (or the class) changed on the step's own tab is reset, so the view opens as the
    step describes it: the map coloured by feature set with no search rings, the anatomy at the step's layer (1
    unless it names one). Components of other tabs are skipped."""
    skip = gr.skip()
    if not view:
        return (skip,) * 13 + ("Pick a step first.",)
    tab = view.get("tab", "lessons")
    model, split, sample = view.get("model"), view.get("split"), view.get("sample")
    explorer = (model or skip, split or skip, sample or skip) if tab != "anatomy" and sample else (skip,) * 3
    method = view["map"] if has_space and view.get("map") else skip
    space = ("feature", "") if has_space and tab == "space" else (skip, skip)   # default colours, no search rings
    if tab == "anatomy" and has_anatomy and sample:
        stage = view.get("stage") or skip
        anatomy = (model or skip, "dataset", split or skip, sample, stage, int(view.get("layer") or 1))
    else:
        anatomy = (skip,) * 6
    where = TAB_NAMES.get(tab, tab)
    status = f"Opened **{where}** on sample `{sample}`." if sample else f"Opened **{where}**."
    return (gr.Tabs(selected=tab), *explorer, method, *anatomy, *space, status)


def find_component(demo: gr.Blocks, elem_id: str):
    """A component of the page by its elem_id (for a tab that does not hand it over in ``Shared``), or None."""
    for block in demo.blocks.values():
        if getattr(block, "elem_id", None) == elem_id:
            return block
    return None


# ------------------------------------------------------------------------------------------------- layout


def build(ctx: AppContext, shared: Shared, folder=None) -> None:
    lessons, problems = L.load_lessons(folder or L.LESSON_DIR)
    with gr.Tab("Lessons", id="lessons"):
        gr.HTML(NOTE)
        if problems:
            gr.Markdown("**Some lesson files could not be read**:\n" + "\n".join(f"- {md_escape(p)}" for p in problems),
                        elem_id="lessons-problems")
        lesson = gr.Dropdown(choices=[(l.title, l.key) for l in lessons], value=lessons[0].key if lessons else None,
                             label="lesson", elem_id="lesson-choice")
        summary = gr.Markdown(elem_id="lesson-summary")
        # the first lesson's steps from the start (the page load sets the chosen lesson's; an API client that never
        # ran the load event, e.g. benchmarks/first_use.py, can still ask for step 1)
        step = gr.Radio(choices=step_choices(lessons[0]) if lessons else [], value=None, label="steps",
                        elem_id="lesson-step")
        body = gr.Markdown(elem_id="lesson-body")
        with gr.Row():
            prev_button = gr.Button("← previous", size="sm", elem_id="lesson-prev", scale=1)
            show = gr.Button("Show me", variant="primary", elem_id="lesson-show", scale=2)
            next_button = gr.Button("next →", size="sm", elem_id="lesson-next", scale=1)
        status = gr.Markdown(elem_id="lesson-status")
        question = gr.Markdown(elem_id="lesson-question")
        with gr.Accordion("Reveal the answer", open=False, visible=False, elem_id="lesson-answer-box") as answer_box:
            answer = gr.Markdown(elem_id="lesson-answer")
        view_state = gr.State(None)
        # the move buttons' constant inputs, made here: a component made inside gr.Tabs but outside a gr.Tab counts
        # among the tab bar's children, shifts the order of every later tab and made Gradio draw the model card's
        # button twice once opened (issue 32)
        no_step, back, forward = gr.State(None), gr.State(-1), gr.State(1)

    cb = _callback
    show_outputs = [body, question, answer, answer_box, view_state, status]
    show_cb = cb(show_step, ctx, lessons)
    shared.demo.load(cb(open_lesson, lessons), [lesson, no_step], [summary, step], api_visibility="private")
    lesson.input(cb(open_lesson, lessons), [lesson], [summary, step], api_visibility="private").then(
        show_cb, [lesson, step], show_outputs)
    step.input(show_cb, [lesson, step], show_outputs, api_name="lesson_step")
    prev_button.click(cb(move, lessons), [lesson, step, back], [step], api_visibility="private").then(
        show_cb, [lesson, step], show_outputs)
    next_button.click(cb(move, lessons), [lesson, step, forward], [step], api_visibility="private").then(
        show_cb, [lesson, step], show_outputs)

    def wire_show():
        method = find_component(shared.demo, "space-method")
        anatomy = getattr(shared, "anatomy", None)
        outs = [shared.tabs, shared.model, shared.split, shared.sample, method,
                *((anatomy.model, anatomy.source, anatomy.split, anatomy.sample, anatomy.stage, anatomy.layer)
                  if anatomy else [None] * 6),
                find_component(shared.demo, "space-color") if method is not None else None,
                find_component(shared.demo, "space-query") if method is not None else None, status]
        keep = [i for i, c in enumerate(outs) if c is not None]

        def go(view):
            values = apply_view(view, has_space=method is not None, has_anatomy=anatomy is not None)
            return tuple(values[i] for i in keep)

        show.click(cb(go), [view_state], [outs[i] for i in keep], api_name="lesson_show")

    shared.after(wire_show)


def _callback(fn, *bound):
    from .common import callback
    return callback(fn, *bound)
