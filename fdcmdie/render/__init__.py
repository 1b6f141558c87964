"""Renderings that the app and the report both show, in one home each: Markdown tables and paragraphs and the
matplotlib figures (the report's docs and the app's PNG / SVG downloads). They take the typed results of
:mod:`fdcmdie.explain` (which computes and never renders). The app's plotly figures are in :mod:`fdcmdie.app.plots`.

- ``space``: the CL effect in numbers (``cl_effect_markdown`` of ``SpaceReport`` objects)
- ``maps``: the feature maps as matplotlib figures and their PNG / SVG / CSV export; the point groups and colours
  that the app's plotly map shares
- ``shapley``: how much each modality carries (``share_markdown`` of a ``ModalityShapley``)
- ``robustness``: the robustness tables (Markdown) and the docs' PNG of the curves
"""

MOD_COLORS = {"t": "#1f77b4", "v": "#2ca02c", "a": "#ff7f0e"}   # one colour per modality in every figure
