"""Interpreters: what the model decides and why, shared by the Gradio app and the results report. Each runs the
network through :class:`fdcmdie.inference.Predictor` (``run``, ``split_batches``, ``word_path``, ``trace``).

- ``projections``: 2-D UMAP / PCA / t-SNE maps of the six pooled decoupled feature sets (T_s, V_s, A_s, T_d, V_d,
  A_d), fitted once per checkpoint and split and cached on disk; new inputs are placed with the fitted map's
  ``transform`` (t-SNE: nearest map points); the maps' points as a table (CSV export).
- ``geometry``: what contrastive learning did, per sample: same-sample vs random-pair cosines, alignment and
  uniformity (Wang & Isola 2020), linear separability, nearest samples in the shared and private spaces, and the
  mean cosines between feature sets behind the maps (``feature_cosines``, paper Fig. 8–9); the one unit-normalise.
- ``contributions``: GAP weights α and gates g per modality and layer, averaged over a split (paper Fig. 6–7).
- ``cases``: modality ablations of a whole split and the automatic choice of case studies (paper Table 8).
- ``shapley``: exact Shapley values of the modalities of an input or of every sample of a split.
- ``attributions``: word attributions (integrated gradients, occlusion) and the deletion check.
- ``robustness``: metrics as a modality is removed or noised and as words are dropped (``python -m fdcmdie
  robustness``).
- ``slices``: two checkpoints' metrics slice by slice and the samples where they disagree most.
- ``anatomy``: every stage of one forward pass (the one ``Trace``); ``lessons``: the rules that choose a lesson's
  samples.

Interpreters compute and return typed results (dataclasses, arrays, JSON-ready dicts); they never draw or write
Markdown. The app's plotly figures are in :mod:`fdcmdie.app.plots`, the Markdown and matplotlib renderings that the
app and the report share in :mod:`fdcmdie.render` (``tests/test_explain.py`` checks that no module here imports
gradio, plotly or matplotlib). Heavy libraries (umap-learn, scikit-learn, captum) are imported inside the functions
that need them.
"""
from __future__ import annotations

from ..facts import MODALITY_NAMES as MOD_NAMES  # noqa: F401  (the name every interpreter and tab uses)

READS = {"t": "the words", "v": "the face", "a": "the voice"}   # what a model reads, in a class's words


def and_list(words: list[str], last: str = "and") -> str:
    """"a", "a and b", "a, b and c" (``last``: "or" for alternatives)."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + f" {last} " + words[-1]
