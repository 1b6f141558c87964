"""The Gradio app, one module per tab; each tab module owns its layout and its events (``build(ctx, shared)``) and
holds plain callback functions of an ``AppContext`` that the tests call without a browser. ``app.py`` at the
repository root composes the tabs and launches.

- ``explorer``: sample explorer and what-if          - ``upload``: clips, recordings and typed text
- ``space``: representation space (UMAP, PCA, t-SNE)  - ``cases``: case studies
- ``compare``: compare A vs B, slice by slice         - ``model_card``: model card
- ``lessons``: guided lessons for a class            - ``anatomy``: the model's forward pass, stage by stage
- ``links``: deep links (``?tab=…&split=…&sample=…``) and "link to this view"
- ``context``: loaded checkpoints, cached split predictions / ablations / maps, background warm-up
- ``shared``: the states and components the tabs share (``Shared``)
- ``common``: "how to read this" notes, error handling (``safe``, ``callback``), formatting; ``why``: words and
  modality contributions every tab shows; ``style``: the page's CSS
"""
from .context import AppContext, AppOptions

__all__ = ["AppContext", "AppOptions"]
