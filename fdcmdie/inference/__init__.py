"""Inference: ``Predictor`` runs a checkpoint for single inputs, clips, whole splits and the analyses.

- ``predictor``: :class:`Predictor` (loading, predictions, splits, analyses, trace) and :class:`Explanation`
- ``inputs``: input checks, missing-modality masks, one ``Batch`` for a list of inputs
- ``clips``: which of an uploaded clip's features a checkpoint can read, and why not the others
- ``gradients``: the differentiable path from words to the prediction (integrated gradients)
- ``trace``: every stage of the forward pass for one input (the model-anatomy view)
- ``threads``: intra-op CPU threads for a few inputs
"""
from ..facts import class7, polarity
from .predictor import Explanation, Predictor
from .trace import LayerTrace, Trace

__all__ = ["Explanation", "LayerTrace", "Predictor", "Trace", "class7", "polarity"]
