"""The app's drawings, one module per concern, each taking a typed result of :mod:`fdcmdie.explain` (which computes
and never draws): ``anatomy`` (one Trace, stage by stage), ``contributions`` (GAP's bars), ``projections`` (the
feature map), ``robustness`` (the model card's curves), ``slices`` (the compare tab's bars). Plotly is imported
inside the functions (heavy). Renderings the report shows too live in :mod:`fdcmdie.render`.
"""
