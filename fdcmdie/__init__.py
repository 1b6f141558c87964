"""FD-CMDIE: feature decoupling and cross-modal deep interaction enhancement for multimodal sentiment analysis."""
__version__ = "0.1.0"
