"""The page's CSS: the "how to read this" boxes, the warm-up line, table headers and cells that wrap between words
only (Gradio's tables break words anywhere: "simila rity"), and the upload examples' transcripts left-aligned and
wrapped."""

CSS = """
.howto { background: #f4f6fb; border-left: 4px solid #6a7fd1; padding: 6px 10px; margin: 2px 0 8px 0;
         font-size: 0.92em; color: #333; border-radius: 4px; }
#warmup-status { font-size: 0.92em; }
/* table headers (gr.Dataframe) and Markdown tables: wrap at spaces, never inside a word */
.header-content, .header-content *, .prose th, .prose td, table th, table th * {
  word-break: normal !important; overflow-wrap: normal !important; hyphens: manual; }
/* the upload examples: the typed sentences are text, read from the left and wrapped, not numbers cut on the right */
#upload-examples td, #upload-examples th, #upload-examples td * {
  text-align: left !important; white-space: normal !important; overflow: visible !important;
  text-overflow: clip !important; max-width: none !important; }
"""

