""""Why this prediction" pieces every tab shows: the words on the transcript coloured by their attribution
(gr.HighlightedText), and the modality contributions — GAP's α beside the exact Shapley values — as Markdown.

The analyses are in fdcmdie.explain (attributions, shapley); this module only formats them.
"""
from __future__ import annotations

import numpy as np

from ..explain import MOD_NAMES
from ..explain.attributions import word_attributions
from ..explain.contributions import alpha_number
from ..explain.shapley import NOTE as SHAPLEY_NOTE
from .common import md_escape, signed

LEGEND = ("red: the word pushed the prediction up (more positive); purple: down (more negative); stronger colour = "
          "larger share of the largest effect")   # the colours of the highlighted words (WordAttribution.highlighted)
WORDS_LABEL = "which words pushed the prediction (" + LEGEND + ")"


def words(predictor, text: str, audio=None, vision=None, *, drop=frozenset()) -> tuple[list, str]:
    """(HighlightedText value, caption Markdown) for one input; a plain message instead when there are no words."""
    try:
        wa = word_attributions(predictor, text, audio, vision, drop=drop)
    except ValueError as e:
        return no_words(e)
    return describe_words(wa)


def no_words(error: Exception) -> tuple[list, str]:
    """The in-place answer when an input has no words to attribute."""
    return [], f"*No word attributions: {md_escape(str(error))}.*"


def describe_words(wa) -> tuple[list, str]:
    """(HighlightedText value, caption Markdown) of computed word attributions (explain.attributions)."""
    order = wa.top(3)
    strongest = ", ".join(f"“{md_escape(wa.words[i])}” {signed(float(wa.scores[i]))}" for i in order)
    if wa.method == "integrated gradients":
        how = (f"Integrated gradients over the word embeddings: the scores add up to prediction {signed(wa.pred)} − "
               f"all-words-blank baseline {signed(wa.baseline)} (off by {abs(wa.delta):.3f}).")
    else:
        how = "Leave-one-word-out: each score is how much the prediction drops when that word is deleted."
    return wa.highlighted(), f"Strongest words: {strongest}. {how}"


def contributions_markdown(modalities: list[str], alpha_last, phi, baseline: float, pred: float,
                           present=None) -> str:
    """A table of α (last CMDIE layer) and the Shapley value per modality, the baseline, and the note on the
    difference."""
    present = [True] * len(modalities) if present is None else list(present)
    rows = ["| modality | GAP weight α (last layer) | Shapley value (moved the prediction by) |", "|---|---:|---:|"]
    for j, m in enumerate(modalities):
        a = "–" if alpha_last is None else alpha_number(alpha_last[j])
        v = signed(float(phi[j])) if present[j] else "missing (0)"
        rows.append(f"| {MOD_NAMES[m]} | {a} | {v} |")
    total = float(np.sum(phi))
    return "\n".join(rows + ["", f"Baseline (every modality missing) {signed(baseline)} + Shapley values "
                                 f"{signed(total)} = prediction {signed(pred)}.", "", f"*{SHAPLEY_NOTE}*"])


def readable_gap(fig, *, stacked: bool = False):
    """A GAP figure (app.plots.contributions.gap_figure) made readable at half the page's width: value labels upright
    at a readable size, never shrunk to a narrow bar. ``stacked`` (two inputs, six bars a layer): the gates in a row
    of their own below α, each panel the full width, and the legend below the layer labels instead of over them."""
    if not fig.data:
        return fig
    fig.update_traces(textfont_size=11, textangle=-90, constraintext="none")
    fig.update_yaxes(range=[0, 1.32])
    gates = "xaxis2" in fig.layout.to_plotly_json()
    if stacked:
        if gates:
            fig.update_layout(xaxis=dict(domain=[0, 1]), yaxis=dict(domain=[0.6, 1]), xaxis2=dict(domain=[0, 1]),
                              yaxis2=dict(domain=[0, 0.36]))
            for heading, y in zip(fig.layout.annotations, (1.0, 0.37)):
                heading.update(x=0.5, y=y)
        fig.update_layout(height=600 if gates else 420, margin=dict(b=110),
                          legend=dict(orientation="h", yanchor="top", y=-0.08, x=0))
    return fig
