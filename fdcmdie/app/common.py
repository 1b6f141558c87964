"""Small pieces every tab uses: the "how to read this" notes, error handling (``safe``, ``callback``), number
formatting."""
from __future__ import annotations

import functools
import inspect
import logging
import typing

import numpy as np
# imported here, when the app's modules load (one thread), not first inside a request or a background job: two
# threads importing plotly at once can stop on importlib's _DeadlockError (narwhals' modules import each other)
import plotly.graph_objects as go

from ..explain import MOD_NAMES
from ..facts import class7, polarity

log = logging.getLogger("fdcmdie.app")

# Two lines per view for a class meeting multimodal sentiment analysis for the first time.
NOTES = {
    "explorer": (
        "Each sample is one sentence from a YouTube video (a movie review in CMU-MOSI, an opinion on one of many "
        "topics in CMU-MOSEI), scored by annotators from −3 (very negative) to +3 (very positive); the model predicts "
        "that score from the inputs it was trained on: the words and the voice for the default pair (a T+V+A "
        "checkpoint also sees the face; the MOSEI one reads the words alone).  \n"
        "The bars show the fusion weights α (how GAP mixed the modalities' features, summing to 1 per layer) and the "
        "gates g (how much of each modality's signal was let through) in every fusion layer. α is a mixing weight, "
        "not how far a modality moved the prediction: that is the Shapley value in the table."),
    "what_if": (
        "Switch a modality off or change the words, then compare: hatched bars and the second row are the modified "
        "input, solid bars the original.  \n"
        "For a checkpoint that hears the voice: if the prediction hardly moves when the voice (and the face, for one "
        "that sees it) is off, the model is reading mostly the text — as the paper finds."),
    "upload": (
        "Your clip is turned into the same three inputs: the transcript (typed or from speech recognition), the voice "
        "(pitch and loudness over time) and the face (landmarks on a few frames).  \n"
        "A checkpoint can only use inputs of the kind it was trained on; the table says which parts this one used "
        "and why it ignored the rest."),
    "space": (
        "Every dot is one sample's feature vector for one modality, squeezed from many dimensions to two. Circles are "
        "shared features, diamonds private ones. UMAP and t-SNE keep each dot's nearest neighbours (an island is a "
        "group; the gaps between islands mean little); PCA keeps the global directions.  \n"
        "Switch to PCA: with contrastive learning (left) the shared text and voice features sit together on one "
        "side and the private ones on the other; without it (right) they do not. The numbers below show that the "
        "pull is by modality, not sample by sample. Click a dot to open its sample."),
    "space_one_modality": (
        "Every dot is one sample's feature vector, squeezed from many dimensions to two. Circles are shared features, "
        "diamonds private ones. UMAP and t-SNE keep each dot's nearest neighbours (an island is a group; the gaps "
        "between islands mean little); PCA keeps the global directions.  \n"
        "These checkpoints read the words alone, so there is no voice or face to align with them: compare how the "
        "shared and the private text features sit with contrastive learning (left) and without it (right). The "
        "numbers below say how to open a pair that also hears the voice. Click a dot to open its sample."),
    "cases": (
        "Samples picked automatically from the test split: the clearest positive and negative opinions, flat "
        "near-neutral ones, ones where the words and the voice/face point opposite ways (for a checkpoint that reads "
        "more than the words), and the worst mistakes.  \n"
        "“text only” and “visual + acoustic” (for a checkpoint that reads more than the words) are the model's "
        "predictions with the other modalities switched off. "
        "Click a row to open it in the sample explorer."),
    "compare": (
        "The two loaded checkpoints (A: the main one, B: the one beside it) scored on the same samples, group by "
        "group: by the annotators' polarity, by how strong the sentiment is, by transcript length, by video.  \n"
        "The list at the bottom holds the samples where A and B predict most differently; click one to see it in the "
        "sample explorer."),
    "card": (
        "What the checkpoint is: what it was trained on, how it scores on held-out test data, and the limits of the "
        "data.  \n"
        "Acc-2 is the share of test sentences whose sign (negative vs non-negative) is right; MAE is the average "
        "distance between the predicted and the annotators' score (0 is perfect, on a −3…+3 scale)."),
}


# a wide table's width in characters of its monospace font on a 1400 px page (~8.4 px a character)
TABLE_CHARS = 144


def fit_widths(df, free: dict[str, float], table_chars: int = TABLE_CHARS) -> list[str] | None:
    """Percent column widths for a gr.Dataframe that fit each column's longest word (header or value, split at
    spaces and after inner hyphens) plus the cell's padding, so headers ("acoustic", "prediction") and ids do not break mid-word; the
    columns in ``free`` (text that wraps at spaces: a transcript) share what is left, in the given proportions."""
    import re

    cols = [str(c) for c in df.columns]
    if not cols:
        return None
    # a browser breaks a line at spaces and after a hyphen inside a word ("mosi-std-ta-e5-nocl"), not in "-1.21"
    pieces = lambda v: (p for w in str(v).split() for p in re.split(r"(?<=\w-)(?=\w)", w))
    longest = lambda values: max((len(p) for v in values for p in pieces(v)), default=0)
    need = {c: longest([c]) if c in free else max(longest([c]), longest(df[c])) for c in cols}
    fixed = sum(need[c] + 2 for c in cols if c not in free)
    wrap = [c for c in cols if c in free]
    rest = max(table_chars - fixed, sum(need[c] + 2 for c in wrap), 0)
    share = sum(free[c] for c in wrap) or 1.0
    chars = {c: (rest * free[c] / share if c in free else need[c] + 2) for c in cols}
    total = sum(chars.values()) or 1.0
    return [f"{100 * chars[c] / total:.1f}%" for c in cols]


def note(key: str) -> str:
    return f"<div class='howto'><b>How to read this.</b> {NOTES[key]}</div>"


def safe(fn):
    """Wrap a Gradio callback: every exception becomes a ``gr.Error`` with a plain message (shown in the page, no
    traceback); unexpected ones are logged with their traceback on the server, which keeps serving."""
    import gradio as gr

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (ValueError, FileNotFoundError, KeyError) as e:
            msg = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
            raise gr.Error(msg or type(e).__name__, print_exception=False) from None
        except MemoryError:
            log.exception("out of memory in %s", fn.__name__)
            raise gr.Error("The server ran out of memory on this input; try a shorter clip.", print_exception=False) from None
        except Exception as e:
            log.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(f"Something went wrong ({type(e).__name__}: {e}). The app is still running; try again "
                           "or with another input.", print_exception=False) from None

    return wrapper


def callback(fn, *bound):
    """What a tab hands Gradio: ``fn`` with its first arguments bound (usually the AppContext), every error turned
    into a page message (``safe``). ``fn`` stays a plain function tests call; the callback's signature is ``fn``'s
    without the bound parameters, annotations resolved, so Gradio still injects ``gr.Request`` / ``gr.SelectData``
    and counts the inputs."""
    hints = typing.get_type_hints(fn)
    sig = inspect.signature(fn)
    params = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in list(sig.parameters.values())[len(bound):]]

    def call(*args, **kwargs):
        return fn(*bound, *args, **kwargs)

    call.__signature__ = sig.replace(parameters=params, return_annotation=inspect.Signature.empty)
    call.__annotations__ = {p.name: p.annotation for p in params if p.annotation is not inspect.Parameter.empty}
    call.__name__, call.__qualname__, call.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
    return safe(call)


def signed(x: float | None, digits: int = 2) -> str:
    if x is None or not np.isfinite(x):
        return "–"
    if round(float(x), digits) == 0:
        return f"{0:.{digits}f}"   # never "−0.00" (a prediction of −0.004 is 0 at this precision)
    return f"{x:+.{digits}f}".replace("-", "−")


polarity_of = polarity   # one home for the polarity and the 7-class score: fdcmdie/facts.py
class7_of = class7


def class7_text(c: int) -> str:
    names = {-3: "very negative", -2: "negative", -1: "weakly negative", 0: "neutral", 1: "weakly positive",
             2: "positive", 3: "very positive"}
    return f"{c:+d} ({names[c]})".replace("+0", "0").replace("-", "−")


def modality_list(mods) -> str:
    return ", ".join(MOD_NAMES[m] for m in mods) or "none"


def short(text: str, n: int = 90) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def md_escape(text: str) -> str:
    """Escape characters Markdown would interpret in a transcript."""
    out = str(text)
    for ch in "\\`*_[]<>|#":
        out = out.replace(ch, "\\" + ch)
    return out


def placeholder_figure(message: str, height: int = 420):
    """An empty plotly figure carrying a message (a map still computing, nothing selected, …)."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font=dict(size=14, color="#555"))
    fig.update_layout(height=height, xaxis_visible=False, yaxis_visible=False, plot_bgcolor="white",
                      margin=dict(l=10, r=10, t=10, b=10))
    return fig
