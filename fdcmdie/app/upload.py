"""Upload tab: a video or audio file (or a webcam / microphone recording), or typed text alone → what was extracted,
the prediction, the GAP weights, and which modalities the checkpoint could use.

Plain functions of an AppContext (the tests call them); ``build`` lays the tab out and wires them as callbacks."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import numpy as np

from ..explain import MOD_NAMES
from ..explain.attributions import word_attributions
from ..explain.contributions import GapEntry
from .plots.contributions import gap_figure
from ..explain.shapley import input_shapley
from ..facts import MODALITIES
from ..language import note as language_note
from . import clip_results, why
from .common import callback, class7_text, md_escape, modality_list, note, placeholder_figure, short, signed
from .context import HEAVY, LIGHT, WORDS, AppContext
from .shared import Shared

MB = 1024 * 1024   # one MB as the browser's size refusal counts it (Gradio: 1024², "Mb"): the page says the same limit
EXAMPLE_CLIP = Path(__file__).resolve().parents[2] / "assets" / "example-review.mp4"
EXAMPLES = ([[str(EXAMPLE_CLIP), ""]] if EXAMPLE_CLIP.is_file() else []) + [
    [None, "i loved every minute of this film, the cast is brilliant"],
    [None, "what a waste of two hours, the plot makes no sense"],
    [None, "it was okay i guess, nothing special"]]


@dataclass
class UploadResult:
    extracted_md: str
    signal_fig: object
    faces: list                 # [(RGB uint8 image, caption)]
    transcript: str             # what the model read (typed, or filled by speech-to-text)
    prediction_md: str
    gap_fig: object
    support_md: str
    state: dict = field(default_factory=dict)   # {model key: decoupled features} for the map, + "label"
    seconds: float = 0.0
    words: list = field(default_factory=list)   # HighlightedText value: the words that pushed the prediction
    words_md: str = ""


def support_overview(ctx: AppContext) -> str:
    """Before any upload: what each loaded checkpoint can take from a clip (Predictor.clip_support)."""
    lines = []
    for key in ctx.model_keys():
        p = ctx.predictor(key)
        support = p.clip_support()
        marks = ", ".join(f"{MOD_NAMES[m]} {'✓' if reason is None else '✗'}" for m, reason in support.items())
        lines.append(f"- **{ctx.slots[key].label}** can use from a clip: {marks}")
        lines += [f"    - {MOD_NAMES[m]}: {md_escape(reason)}" for m, reason in support.items()
                  if reason is not None and key == "main"]
    return "\n".join(lines)


def check_file(ctx: AppContext, path: str | None) -> Path | None:
    if not path:
        return None
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"the uploaded file {p.name!r} is not there any more; upload it again")
    size_mb = p.stat().st_size / MB
    if size_mb > ctx.options.max_upload_mb:
        raise ValueError(f"{p.name} is {size_mb:.1f} MB, above this app's {ctx.options.max_upload_mb:g} MB limit; "
                         "trim the clip and upload it again")
    return p


def analyse(ctx: AppContext, video: str | None, audio: str | None, transcript: str | None,
            use_asr: bool = True, *, words: bool = True) -> UploadResult:
    """Extract the clip (video first, else audio), predict it with every loaded checkpoint, describe the result.
    With no file, a typed transcript alone is predicted as text. ``words=False`` leaves the word attributions out
    (a note says they follow: ``typed_words`` computes them)."""
    t0 = time.perf_counter()
    typed = (transcript or "").strip()
    path = check_file(ctx, video) or check_file(ctx, audio)
    main = ctx.predictor("main")
    if path is None:
        if not typed:
            raise ValueError("upload a video or audio file, record one with the webcam or microphone, or type a "
                             "sentence in the transcript box")
        clip = None
        explanations = {key: ctx.predictor(key).predict([typed])[0] for key in ctx.model_keys()}
        extracted = "**Typed text only** — no clip: the model reads the words; voice and face are missing."
        e = explanations["main"]
        shapley = input_shapley(main, typed, drop={m for m in MODALITIES if m not in e.used})
        word_value, word_md = why.words(main, typed) if words else ([], WORDS_FOLLOW)
    else:
        clip = ctx.clip(path, typed, asr=bool(use_asr))   # in the low-priority worker, once per file content
        # predictions, Shapley values and words: once per file content, transcript and checkpoints (clip_results)
        found = clip_results.analysed(ctx, path, clip, typed, lambda: clip_analysis(ctx, clip, typed, path.name))
        explanations, shapley = found["explanations"], found["shapley"]
        extracted = describe_clip(clip, path.name)
        e = explanations["main"]
        wa = found["words"]
        word_value, word_md = why.no_words(ValueError(wa)) if isinstance(wa, str) else why.describe_words(wa)
    result = UploadResult(
        extracted_md=extracted,
        signal_fig=signal_figure(clip) if clip is not None else placeholder_figure("no clip: typed text only", 240),
        faces=[(img, f"face {i + 1}") for i, img in enumerate(clip.face_images)] if clip is not None else [],
        transcript=e.text if e.text else (clip.transcript if clip is not None else typed),
        prediction_md=prediction_markdown(ctx, explanations, shapley),
        gap_fig=why.readable_gap(gap_figure([GapEntry("your input", e.alpha, e.gates)], main.modalities,
                                            title="How much each modality counted (GAP)")),
        support_md=support_markdown(main, e, clip),
        state={"label": short(f"your upload: {e.text}" if e.text else "your upload", 60),
               **{key: {"decoupled": ex.features.get("decoupled", {}), "pred": ex.pred}
                  for key, ex in explanations.items()}},
        words=word_value, words_md=word_md,
    )
    result.seconds = time.perf_counter() - t0
    return result


def clip_analysis(ctx: AppContext, clip, typed: str, name: str) -> dict:
    """An extracted clip's predictions by every loaded checkpoint, the main checkpoint's modality Shapley values and
    word attributions (or why there are none), as ``clip_results.analysed`` caches them."""
    main = ctx.predictor("main")
    explanations = {}
    for key in ctx.model_keys():
        try:
            explanations[key] = ctx.predictor(key).predict_clip(clip, transcript=typed or None)
        except ValueError:
            if key == "main":
                if not typed and not (clip.transcript or "").strip() and "t" in main.modalities:
                    raise ValueError(no_words_reason(clip, name, main.name)) from None
                raise
            # the comparison checkpoint cannot read this clip: it is left off its map
    e = explanations["main"]
    text, audio_in, vision_in = used_inputs(main, clip, e)
    try:
        wa = word_attributions(main, text, audio_in, vision_in)
    except ValueError as err:   # no words to attribute: the reason, said in place
        wa = str(err)
    return {"explanations": explanations, "words": wa,
            "shapley": input_shapley(main, text, audio_in, vision_in, drop={m for m in MODALITIES if m not in e.used})}


def no_words_reason(clip, name: str, model_name: str) -> str:
    """Why a clip gave a text-reading checkpoint nothing to read, and what to do: type the transcript."""
    from ..extract import NO_AUDIO_TRACK
    from ..extract.transcript import NO_WORDS

    if not getattr(clip, "audio_track", bool(clip.sample_rate)):
        return (f"{name}: {NO_AUDIO_TRACK}, so there is no speech to recognise. Type what is said in the transcript "
                f"box, then analyse again ({model_name} can use nothing else of this clip)")
    return (f"{NO_WORDS[0].upper()}{NO_WORDS[1:]} in the transcript box, then analyse again: speech-to-text found no "
            f"words in {name}, and {model_name} can use nothing else of this clip")


def used_inputs(predictor, clip, e) -> tuple[str, np.ndarray | None, np.ndarray | None]:
    """(text, acoustic, visual frames) of a clip as ``predictor.predict_clip`` fed them (None: not used), cut to the
    training pickle's frame counts as there."""
    marker = predictor.extract_marker() or {}
    cut = lambda seq, key: None if seq is None else seq[: marker.get(key) or None]
    return (e.text, cut(clip.audio, "audio_len") if "a" in e.used else None,
            cut(clip.vision, "vision_len") if "v" in e.used else None)


def describe_clip(clip, name: str) -> str:
    lines = [f"**{md_escape(name)}** — {clip.duration:.1f} s"
             + (f" (first {clip.processed_duration:.1f} s analysed)" if clip.processed_duration < clip.duration - 0.05 else "")]
    facts = []
    if clip.sample_rate:
        facts.append(f"audio {clip.sample_rate} Hz → {0 if clip.audio is None else len(clip.audio)} acoustic frames"
                     f" ({'speech' if clip.speech_detected else 'no speech'} detected)")
    else:
        facts.append("no audio track")
    if clip.fps:
        facts.append(f"video {clip.fps:.0f} fps → {clip.frames_sampled} frames looked at, {clip.faces_seen} with a face"
                     + (f" ({clip.visual_backend})" if clip.visual_backend else ""))
    else:
        facts.append("no video track")
    facts.append("transcript by speech-to-text" if clip.asr_used else "transcript typed" if clip.transcript else "no transcript")
    lines.append(" · ".join(facts))
    if clip.warnings:
        lines.append("\n" + "\n".join(f"- ⚠ {md_escape(w)}" for w in clip.warnings))
    return "\n".join(lines)


def signal_figure(clip, max_points: int = 3000):
    """Waveform envelope (top) and pitch track (bottom) of the clip."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    y = np.asarray(clip.waveform, np.float32)
    if len(y) == 0:
        return placeholder_figure("no audio in this clip", 240)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.5, 0.5],
                        subplot_titles=("waveform", "pitch (F0, Hz)"))
    block = max(1, int(np.ceil(len(y) / max_points)))
    n = len(y) // block * block
    if n:
        blocks = y[:n].reshape(-1, block)
        t = (np.arange(len(blocks)) * block + block / 2) / clip.waveform_sr
        fig.add_trace(go.Scatter(x=t, y=blocks.max(1), mode="lines", line=dict(width=0.6, color="#1f77b4"),
                                 name="waveform", showlegend=False, hoverinfo="skip"), row=1, col=1)
        fig.add_trace(go.Scatter(x=t, y=blocks.min(1), mode="lines", line=dict(width=0.6, color="#1f77b4"),
                                 fill="tonexty", name="waveform", showlegend=False, hoverinfo="skip"), row=1, col=1)
    pitch = clip.pitch
    if len(pitch.times):
        fig.add_trace(go.Scatter(x=pitch.times, y=pitch.f0, mode="lines", connectgaps=False, name="F0",
                                 line=dict(color="#ff7f0e", width=1.6), showlegend=False,
                                 hovertemplate="%{x:.2f} s: %{y:.0f} Hz<extra></extra>"), row=2, col=1)
    fig.update_xaxes(title_text="seconds", row=2, col=1)
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=30, b=10), plot_bgcolor="white")
    return fig


def prediction_markdown(ctx: AppContext, explanations: dict, shapley=None) -> str:
    e = explanations["main"]
    lines = [f"### Prediction: {signed(e.pred)} — {e.polarity}, {class7_text(e.class7)}", "",
             f"by {ctx.slots['main'].label}, from {modality_list(e.used)}."]
    w = e.weights()
    if w:
        lines += ["", "Last fusion layer: α = " + ", ".join(f"{MOD_NAMES[m]} {a:.2f}" for m, a in w.items())]
    if shapley is not None:
        lines += ["", why.contributions_markdown(e.modalities, None if e.alpha is None else e.alpha[-1], shapley.phi[0],
                                                 float(shapley.baseline[0]), float(shapley.pred[0]), present=e.present)]
    for key, other in explanations.items():
        if key != "main":
            lines += ["", f"{ctx.slots[key].label}: {signed(other.pred)} ({other.polarity})"]
    if e.text:
        lines += ["", f"Read as text: “{md_escape(short(e.text, 200))}”"]
        said = language_note(e.text, ctx.predictor("main"))   # its language, and the English-only caveat (issue 31)
        lines += ["", said] if said else []
    return "\n".join(lines)


def support_markdown(predictor, e, clip) -> str:
    """Which modalities the checkpoint used for this input and why it ignored the others."""
    support = predictor.clip_support()
    rows = []
    for m in MODALITIES:
        if m in e.used:
            if m == "t":
                src = "the speech-to-text transcript" if clip is not None and clip.asr_used else "the typed transcript"
            else:
                frames = clip.audio if m == "a" else clip.vision
                src = f"{len(frames)} frames from the clip"
            rows.append(f"- **{MOD_NAMES[m]}** ✓ used: {src}")
        else:
            reason = e.ignored.get(m) or support.get(m) or "missing"
            rows.append(f"- **{MOD_NAMES[m]}** — not used: {md_escape(reason)}")
    return f"**What {predictor.name} used from this input**\n\n" + "\n".join(rows)


def run(ctx: AppContext, video: str | None, audio: str | None, transcript: str | None, use_asr: bool):
    """``analyse`` as the tab's outputs: (extracted, signal, faces, transcript, prediction, GAP figure, support,
    upload state, words, words caption)."""
    return outputs_of(analyse(ctx, video, audio, transcript, use_asr))


def outputs_of(r: UploadResult) -> tuple:
    return (r.extracted_md, r.signal_fig, r.faces, r.transcript, r.prediction_md, r.gap_fig, r.support_md, r.state,
            r.words, r.words_md)


WORDS_FOLLOW = "*Word attributions: computing…*"


def predict_text(ctx: AppContext, transcript: str | None):
    """A typed sentence alone (no clip): ``run``'s outputs without the word attributions, answered in the light
    concurrency group (API ``/predict_text``), so it never waits behind a clip's extraction; ``typed_words`` follows."""
    return outputs_of(analyse(ctx, None, None, transcript, False, words=False))


def typed_words(ctx: AppContext, transcript: str | None) -> tuple[list, str]:
    """The word attributions of a typed sentence (the follow-up of ``predict_text``, API ``/typed_words``)."""
    typed = (transcript or "").strip()
    if not typed:
        return [], ""
    return why.words(ctx.predictor("main"), typed)


# The Analyse button routes in the browser (no server round trip): with a video or audio file the clip event
# (heavy group) runs, else the typed-text event (light group). It bumps one of two hidden boxes, whose change event
# is the real one; a box left as it was fires nothing.
ROUTE_JS = "(video, audio, onFile, onText) => (video || audio) ? [String(Date.now()), onText] : [onFile, String(Date.now())]"


def build(ctx: AppContext, shared: Shared) -> None:
    opts = ctx.options
    with gr.Tab("Upload", id="upload"):
        gr.HTML(note("upload"))
        with gr.Row(equal_height=False):
            with gr.Column(scale=1):
                video = gr.Video(sources=["upload", "webcam"], label="video: a file or the webcam",
                                 elem_id="upload-video", height=260)
                audio = gr.Audio(sources=["upload", "microphone"], type="filepath",
                                 label="or audio: a file or the microphone", elem_id="upload-audio")
                transcript = gr.Textbox(label="transcript (optional; filled by speech-to-text, edit it and analyse "
                                        "again) — or type a sentence alone", lines=2, elem_id="upload-transcript")
                use_asr = gr.Checkbox(value=opts.asr, interactive=opts.asr,
                                      label="speech-to-text when the transcript box is empty")
                analyse_button = gr.Button("Analyse", variant="primary", elem_id="upload-run")
                gr.Examples(examples=EXAMPLES, inputs=[video, transcript], label="examples (click one, then Analyse)",
                            elem_id="upload-examples")
                gr.Markdown(f"Limits: {opts.max_upload_mb:g} MB per file; the first {opts.max_duration_s:g} s of a "
                            "clip are analysed.")
                overview = gr.Markdown(elem_id="upload-overview")
            with gr.Column(scale=1):
                pred = gr.Markdown(elem_id="upload-pred")
                words = gr.HighlightedText(label=why.WORDS_LABEL, show_inline_category=False, elem_id="upload-words")
                words_md = gr.Markdown(elem_id="upload-words-md")
                gap = gr.Plot(label="GAP weights", elem_id="upload-gap")
                support = gr.Markdown(elem_id="upload-support")
        gr.Markdown("### What was extracted")
        with gr.Row(equal_height=False):
            with gr.Column(scale=1):
                extracted = gr.Markdown(elem_id="upload-extracted")
                faces = gr.Gallery(label="face crops with landmarks", columns=4, height=180, elem_id="upload-faces")
            with gr.Column(scale=1):
                signal = gr.Plot(label="voice: waveform and pitch", elem_id="upload-signal")

        on_file = gr.Textbox(visible="hidden", elem_id="upload-route-file")
        on_text = gr.Textbox(visible="hidden", elem_id="upload-route-text")

    outputs = [extracted, signal, faces, transcript, pred, gap, support, shared.upload, words, words_md]
    analyse_button.click(None, [video, audio, on_file, on_text], [on_file, on_text], js=ROUTE_JS, queue=False,
                         api_visibility="private")
    on_file.change(callback(run, ctx), [video, audio, transcript, use_asr], outputs, api_name="run_upload", **HEAVY)
    on_text.change(callback(predict_text, ctx), [transcript], outputs, api_name="predict_text", **LIGHT).success(
        callback(typed_words, ctx), [transcript], [words, words_md], api_name="typed_words", **WORDS)
    shared.demo.load(callback(support_overview, ctx), None, [overview], api_visibility="private")
