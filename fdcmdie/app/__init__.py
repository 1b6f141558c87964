"""The Gradio app, one module per tab; each holds plain callback functions of an ``AppContext`` that the tests call
without a browser. ``app.py`` at the repository root builds the Blocks from them and launches.

- ``context``: loaded checkpoints, cached split predictions / ablations / UMAP maps, background warm-up
- ``explorer``: sample explorer and what-if       - ``upload``: clips, recordings and typed text
- ``space``: representation space (UMAP)          - ``cases``: case studies        - ``model_card``: model card
- ``common``: "how to read this" notes, error handling, formatting
"""
from .context import AppContext, AppOptions

__all__ = ["AppContext", "AppOptions"]
