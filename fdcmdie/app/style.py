"""The page's CSS: the "how to read this" boxes, the warm-up line, tables whose headers wrap between words only."""

CSS = """
.howto { background: #f4f6fb; border-left: 4px solid #6a7fd1; padding: 6px 10px; margin: 2px 0 8px 0;
         font-size: 0.92em; color: #333; border-radius: 4px; }
#warmup-status { font-size: 0.92em; }
"""
