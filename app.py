"""FD-CMDIE multimodal sentiment lab: the Gradio app.

    HF_HUB_OFFLINE=1 .venv/bin/python app.py [--checkpoint DIR] [--compare-checkpoint DIR|none] [--data DIR]
                                             [--host 127.0.0.1] [--port 7860]

This file parses the arguments, builds the context, composes the tabs and launches. Each tab is a module of
fdcmdie/app/ that owns its layout and its events (``build(ctx, shared)``): sample explorer with what-if, upload (file
/ webcam / microphone / typed text), representation space (UMAP, PCA or t-SNE of the decoupled features, with vs
without contrastive learning; click a point to open it), case studies, compare A vs B, model card. Deep links
(``?tab=…&split=…&sample=…``) are fdcmdie/app/links.py.
"""
import argparse
import logging
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))

import gradio as gr  # noqa: E402

from fdcmdie.app import AppContext, AppOptions, cases, compare, explorer, links, model_card, space, upload  # noqa: E402
from fdcmdie.app import anatomy, lessons  # noqa: E402
from fdcmdie.app.shared import Shared  # noqa: E402
from fdcmdie.app.style import CSS  # noqa: E402

log = logging.getLogger("fdcmdie.app")

# The tabs, in page order: each module's build(ctx, shared) adds one gr.Tab. The explorer is built first: the others
# open samples in it (wiring that reaches a tab built later goes in shared.after). A new tab: a module of fdcmdie/app/
# with build(ctx, shared), added to this list.
TABS = [explorer, upload, space, cases, compare, anatomy, lessons, model_card]

INTRO = ("# FD-CMDIE — multimodal sentiment lab\n"
         "What does a model that reads **words, voice and face** decide about a speaker's sentiment, and why? "
         "FD-CMDIE splits each modality into a *shared* and a *private* part, lets them interact, and fuses them with "
         "gated attention pooling (GAP), whose weights α say how it mixed them (not how far each moved the prediction: "
         "the Shapley values say that).")


def build_demo(ctx: AppContext, tabs: list = TABS) -> gr.Blocks:
    with gr.Blocks(title="FD-CMDIE sentiment lab", analytics_enabled=False) as demo:
        gr.Markdown(INTRO)
        status = gr.Markdown(ctx.status_markdown(), elem_id="warmup-status")
        timer = gr.Timer(2.0)   # the status line: warm-up, then what is computed on request
        selected, uploaded = gr.State(None), gr.State(None)
        with gr.Tabs(selected="explorer") as tab_set:
            shared = Shared(demo=demo, tabs=tab_set, selected=selected, upload=uploaded)
            for tab in tabs:
                tab.build(ctx, shared)
        shared.tab_ids = [t.id for t in tab_set.children if isinstance(t, gr.Tab)]
        shared.finish()
        links.build(ctx, shared)
        timer.tick(ctx.status_markdown, outputs=[status], show_progress="hidden", queue=False,
                   api_visibility="private")
    return demo


def parse_args(argv=None) -> argparse.Namespace:
    d = AppOptions()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=d.checkpoint, help=f"checkpoint folder (default {d.checkpoint})")
    p.add_argument("--compare-checkpoint", default=d.compare_checkpoint,
                   help=f"second checkpoint shown beside the first, e.g. trained without contrastive learning "
                        f"(default {d.compare_checkpoint}; 'none' to leave out)")
    p.add_argument("--browse-checkpoint", action="append", default=None, metavar="DIR",
                   help=f"more checkpoints the explorer and case studies offer, e.g. one trained on MOSEI (repeatable; "
                        f"default {', '.join(d.browse_checkpoints)} when there; 'none' for none)")
    p.add_argument("--data", default=d.data, metavar="PATH",
                   help="data to explore instead of each checkpoint's own: a folder holding mosi/ and mosei/ (for "
                        "MOSI/MOSEI checkpoints), or an MMSA aligned_50.pkl / unaligned_50.pkl or its folder (for "
                        "checkpoints trained on one). Default: each checkpoint reads the data it was trained on: "
                        "MOSI/MOSEI from $FDCMDIE_DATA, else the repository's data/; an MMSA one from its stored path")
    p.add_argument("--host", default=None, help="address to listen on (0.0.0.0 for every interface; default "
                   "$GRADIO_SERVER_NAME, else 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default $GRADIO_SERVER_PORT, else 7860)")
    p.add_argument("--cache-dir", default=d.cache_dir,
                   help="where computed results (predictions, Shapley values, words, maps) are kept between restarts "
                        "(default $FDCMDIE_CACHE, else ~/.cache/fdcmdie/results; safe to delete; '' for memory only)")
    p.add_argument("--projection", default=d.projection, choices=["pca", "umap", "tsne"],
                   help=f"the projection the representation space opens on (default {d.projection}: ready in "
                        "milliseconds; the others are computed when first asked for)")
    p.add_argument("--results", default=d.results, help="results page shown on the model card")
    p.add_argument("--umap-max-samples", type=int, default=d.umap_max_samples,
                   help="samples per split on a map (0 = all)")
    p.add_argument("--umap-epochs", type=int, default=d.umap_epochs)
    p.add_argument("--max-upload-mb", type=float, default=d.max_upload_mb)
    p.add_argument("--max-duration", type=float, default=d.max_duration_s, help="seconds of a clip analysed")
    p.add_argument("--no-asr", action="store_true", help="no speech-to-text for uploads (type the transcript)")
    p.add_argument("--no-warmup", action="store_true", help="no background warm-up at start")
    p.add_argument("--no-extract-warmup", action="store_true", help="warm up everything but the clip extractor")
    p.add_argument("--extract-in-process", action="store_true",
                   help="extract uploads in the server process instead of a low-priority worker process")
    p.add_argument("--extract-nice", type=int, default=d.extract_nice,
                   help=f"added to the extraction worker's nice value (default {d.extract_nice}: light requests first)")
    p.add_argument("--extract-threads", type=int, default=d.extract_threads,
                   help=f"threads the extraction worker's libraries may use (default {d.extract_threads})")
    p.add_argument("--concurrency", type=int, default=2, help="requests served at once per event (CPU-bound)")
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads for inference (0 = torch's default; 1 is often faster on a busy small CPU)")
    p.add_argument("--device", default="cpu")
    return p.parse_args(argv)


def options_from(args: argparse.Namespace) -> AppOptions:
    compare = args.compare_checkpoint
    if compare is not None and str(compare).lower() in ("", "none"):
        compare = None
    browse = AppOptions.browse_checkpoints if args.browse_checkpoint is None else tuple(
        b for b in args.browse_checkpoint if str(b).lower() not in ("", "none"))
    return AppOptions(checkpoint=args.checkpoint, compare_checkpoint=compare, browse_checkpoints=browse, data=args.data,
                      cache_dir=args.cache_dir, projection=args.projection, results=args.results,
                      umap_max_samples=args.umap_max_samples or None, umap_epochs=args.umap_epochs,
                      max_upload_mb=args.max_upload_mb, max_duration_s=args.max_duration, asr=not args.no_asr,
                      warm_up=not args.no_warmup, warm_up_extract=not args.no_extract_warmup, device=args.device,
                      extract_worker=not args.extract_in_process, extract_nice=args.extract_nice,
                      extract_threads=args.extract_threads)


def server_address(args: argparse.Namespace, environ=os.environ) -> tuple[str, int]:
    """(host, port): --host / --port when given, else Gradio's GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, else
    127.0.0.1:7860. ValueError for a port that is not a number in 1…65535."""
    host = args.host or environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    port, source = args.port, "--port"
    if port is None:
        raw, source = environ.get("GRADIO_SERVER_PORT", "").strip(), "GRADIO_SERVER_PORT"
        try:
            port = int(raw) if raw else 7860
        except ValueError:
            raise ValueError(f"GRADIO_SERVER_PORT={raw!r} is not a port number; set it to e.g. 7860 or pass --port")
    if not 0 < port < 65536:
        raise ValueError(f"{source} {port} is not a port number (1–65535)")
    return host, port


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        host, port = server_address(args)
    except ValueError as e:
        print(f"app.py: {e}", file=sys.stderr)
        return 2
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    ctx = AppContext(options_from(args))
    if ctx.options.warm_up:
        ctx.start_warmup()
    demo = build_demo(ctx)
    demo.queue(default_concurrency_limit=max(1, args.concurrency), max_size=64)
    demo.launch(server_name=host, server_port=port, max_file_size=int(args.max_upload_mb * upload.MB),
                css=CSS, ssr_mode=False, show_error=False, footer_links=["api"], quiet=False,
                allowed_paths=[str(ROOT / "assets")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
