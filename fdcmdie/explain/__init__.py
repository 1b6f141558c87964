"""What the model decides and why, shared by the Gradio app and the results report.

- ``projections``: 2-D UMAP / PCA / t-SNE maps of the six pooled decoupled feature sets (T_s, V_s, A_s, T_d, V_d,
  A_d), fitted once per checkpoint and split and cached on disk; new inputs are placed with the fitted map's
  ``transform`` (t-SNE: nearest map points); ``feature_cosines`` gives the numbers behind the maps (paper Fig. 8–9);
  PNG / SVG / CSV export.
- ``geometry``: what contrastive learning did, per sample: same-sample vs random-pair cosines, alignment and
  uniformity (Wang & Isola 2020), linear separability, nearest samples in the shared and private spaces.
- ``contributions``: GAP weights α and gates g per modality and layer, averaged over a split (paper Fig. 6–7), and
  the plotly bar figures for one input, a what-if pair or a split average.
- ``cases``: modality ablations of a whole split and the automatic choice of case studies (paper Table 8).

Heavy libraries (umap-learn, plotly) are imported inside the functions that need them.
"""
from __future__ import annotations

from ..facts import MODALITY_NAMES as MOD_NAMES  # noqa: F401  (the name every interpreter and tab uses)
MOD_COLORS = {"t": "#1f77b4", "v": "#2ca02c", "a": "#ff7f0e"}
