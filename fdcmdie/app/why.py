""""Why this prediction" pieces every tab shows: the words on the transcript coloured by their attribution
(gr.HighlightedText), and the modality contributions — GAP's α beside the exact Shapley values — as Markdown.

The analyses are in fdcmdie.explain (attributions, shapley); this module only formats them.
"""
from __future__ import annotations

import numpy as np

from ..explain import MOD_NAMES
from ..explain.attributions import LEGEND, word_attributions
from ..explain.shapley import NOTE as SHAPLEY_NOTE
from .common import md_escape, signed

WORDS_LABEL = "which words pushed the prediction (" + LEGEND + ")"


def words(predictor, text: str, audio=None, vision=None, *, drop=frozenset()) -> tuple[list, str]:
    """(HighlightedText value, caption Markdown) for one input; a plain message instead when there are no words."""
    try:
        wa = word_attributions(predictor, text, audio, vision, drop=drop)
    except ValueError as e:
        return [], f"*No word attributions: {md_escape(str(e))}.*"
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
        a = "–" if alpha_last is None else f"{float(alpha_last[j]):.2f}"
        v = signed(float(phi[j])) if present[j] else "missing (0)"
        rows.append(f"| {MOD_NAMES[m]} | {a} | {v} |")
    total = float(np.sum(phi))
    return "\n".join(rows + ["", f"Baseline (every modality missing) {signed(baseline)} + Shapley values "
                                 f"{signed(total)} = prediction {signed(pred)}.", "", f"*{SHAPLEY_NOTE}*"])
