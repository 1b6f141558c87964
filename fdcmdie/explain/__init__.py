"""Interpreters: what the model decides and why, shared by the Gradio app and the results report. Each runs the
network through :class:`fdcmdie.inference.Predictor` (``run``, ``split_batches``, ``word_path``, ``trace``).

- ``projections``: 2-D UMAP / PCA / t-SNE maps of the six pooled decoupled feature sets (T_s, V_s, A_s, T_d, V_d,
  A_d), fitted once per checkpoint and split and cached on disk; new inputs are placed with the fitted map's
  ``transform`` (t-SNE: nearest map points); ``feature_cosines`` gives the numbers behind the maps (paper Fig. 8–9);
  PNG / SVG / CSV export.
- ``geometry``: what contrastive learning did, per sample: same-sample vs random-pair cosines, alignment and
  uniformity (Wang & Isola 2020), linear separability, nearest samples in the shared and private spaces; the
  CL-effect table the app and docs/RESULTS.md show (``cl_effect_markdown``).
- ``contributions``: GAP weights α and gates g per modality and layer, averaged over a split (paper Fig. 6–7), and
  the plotly bar figures for one input, a what-if pair or a split average.
- ``cases``: modality ablations of a whole split and the automatic choice of case studies (paper Table 8).
- ``shapley``: exact Shapley values of the modalities of an input or of every sample of a split.
- ``attributions``: word attributions (integrated gradients, occlusion) and the deletion check.
- ``robustness``: metrics as a modality is removed or noised and as words are dropped (``python -m fdcmdie
  robustness``).
- ``slices``: two checkpoints' metrics slice by slice and the samples where they disagree most.
- ``anatomy``: every stage of one forward pass, with figures; ``lessons``: guided lessons and their sample rules.

Heavy libraries (umap-learn, scikit-learn, plotly, matplotlib, captum) are imported inside the functions that need
them.
"""
from __future__ import annotations

from ..facts import MODALITY_NAMES as MOD_NAMES  # noqa: F401  (the name every interpreter and tab uses)

MOD_COLORS = {"t": "#1f77b4", "v": "#2ca02c", "a": "#ff7f0e"}
