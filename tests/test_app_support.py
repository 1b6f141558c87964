"""Helpers of the app tests (the fixtures built on them are in conftest.py): the checkpoint pair on the real MOSI
Poria split, selected and tested on its test half (``data.split=poria-honest``; t, v, a; frozen MiniLM; d = 32, k = 1;
one epoch; with and without contrastive learning), or the shipped ``checkpoints/mosi-honest-tav-e5`` pair when both
are there; and what the browser tests share (Chromium, waiting for text, no error toasts, screenshots)."""
from __future__ import annotations

import re

import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from fdcmdie.checkpoint import FACE_PAIR
from fdcmdie.config import load_config

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = tuple(ROOT / p for p in FACE_PAIR)
TINY = ["data.split=poria-honest", "data.valid_fraction=0.3", "model.modalities=[t,v,a]", "model.text_finetune_layers=0", "model.d=32",
        "model.n_heads=2", "model.k=1", "model.lstm_layers=1", "loss.members_per_step=1", "train.epochs=1",
        "train.batch_size=64", "train.lr=0.002", "train.device=cpu"]
LIMIT_TRAIN = 320  # training samples per tiny run
UMAP_SMALL = {"umap_max_samples": 120, "umap_epochs": 40}

ARTIFACTS = ROOT / "tests" / "_artifacts"   # screenshots and server logs of the browser tests (gitignored)
CHROMIUM = "/usr/bin/chromium"              # Debian's; CI installs it with apt-get, never `playwright install`
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

_built: dict = {}
_lock = threading.Lock()


def shipped_pair() -> tuple[Path, Path] | None:
    ok = all((p / "config.json").is_file() and (p / "model.safetensors").is_file() for p in SHIPPED)
    return SHIPPED if ok else None


def train_tiny(out: Path, data_root: Path, contrastive: bool) -> Path:
    import torch

    from fdcmdie.checkpoint import save_checkpoint
    from fdcmdie.train import Run

    sets = TINY + [f"data.root={data_root}", f"loss.contrastive={'true' if contrastive else 'false'}",
                   f"train.limit_train={LIMIT_TRAIN}"]
    cfg = load_config(str(ROOT / "configs" / "mosi.yaml"), sets)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is faster on a busy 2-core machine
    try:
        run = Run(cfg, progress=False)
        result = run.fit()
    finally:
        torch.set_num_threads(threads)
    return save_checkpoint(out / "checkpoint", run.model, cfg, run.normalizer,
                           meta={"dataset": run.dataset.name, "notes": run.dataset.notes,
                                 "best_epoch": result["best_epoch"], "valid": result["valid"], "test": result["test"]})


def checkpoint_pair(base: Path, data_root: Path) -> tuple[Path, Path]:
    """(with CL, without CL) checkpoint folders: shipped ones if present, else trained once into ``base``."""
    with _lock:
        if "pair" not in _built:
            _built["pair"] = shipped_pair() or (train_tiny(base / "tiny-cl", data_root, True),
                                                train_tiny(base / "tiny-nocl", data_root, False))
        return _built["pair"]


# ------------------------------------------------------------------------------------------------ browser


@dataclass
class ServedApp:
    url: str
    log: Path
    proc: subprocess.Popen | None = None

    def mark(self) -> int:
        """A position in the server log (``log_since`` reads from there)."""
        return len(self.log.read_text()) if self.log.is_file() else 0

    def log_since(self, mark: int) -> str:
        """The server log from ``mark`` on, less Gradio's own report of a client that left with an event stream open
        (``sse_stream`` deleting its session twice: ``KeyError`` after a ``CancelledError``). A page that navigates
        while background events answer triggers it; no app code is in it and the page shows nothing."""
        return GRADIO_DISCONNECT.sub("", self.log.read_text()[mark:])


# Gradio's traceback when a browser leaves with an event stream open: ASGI error → CancelledError in sse_stream → the
# session's pending messages already gone (KeyError). Only a block whose last frame is gradio/routes.py sse_stream
# and which ends in that KeyError is dropped; every other traceback stays in the log the tests read.
GRADIO_DISCONNECT = re.compile(
    r"ERROR:    Exception in ASGI application\nTraceback \(most recent call last\):\n"
    r"(?:(?!ERROR:    )(?:[ \t].*|Traceback.*|During handling.*|The above exception.*|asyncio\.exceptions\.CancelledError.*|)\n)*?"
    r'  File "[^"]*gradio/routes\.py", line \d+, in sse_stream\n'
    r"    del blocks\._queue\.pending_messages_per_session\[session_hash\]\n(?:[ \t].*\n)*"
    r"KeyError: '[^']*'\n")


# the most isolated dataset point of the map (pixel coordinates in the page), so a click hits that point only
ISOLATED_POINT_JS = """
(sel) => {
  const gd = document.querySelector(`${sel} .js-plotly-plot`);
  const L = gd._fullLayout, box = gd.getBoundingClientRect();
  const pts = [];
  gd._fullData.forEach((tr, t) => {
    if (!tr.customdata || tr.mode !== "markers") return;
    tr.x.forEach((x, i) => pts.push({t, i, id: tr.customdata[i],
      px: box.left + L._size.l + L.xaxis.l2p(x), py: box.top + L._size.t + L.yaxis.l2p(tr.y[i])}));
  });
  let best = null, bestGap = -1;
  for (const p of pts) {
    let gap = Infinity;
    for (const q of pts) if (q !== p) gap = Math.min(gap, Math.hypot(p.px - q.px, p.py - q.py));
    if (gap > bestGap) { bestGap = gap; best = p; }
  }
  return {id: best.id, x: best.px, y: best.py, gap: bestGap, n: pts.length};
}
"""

# every error toast the page shows, kept in window.__fdcmdieToasts (Gradio's toasts vanish after a few seconds)
TOAST_RECORDER_JS = """
(() => {
  if (window.__fdcmdieToasts) return;
  window.__fdcmdieToasts = [];
  new MutationObserver(() => {
    document.querySelectorAll('.toast-body.error').forEach((e) => {
      if (!e.__fdcmdieSeen) { e.__fdcmdieSeen = true; window.__fdcmdieToasts.push(e.innerText); }
    });
  }).observe(document, {subtree: true, childList: true});
})();
"""


def text_of(page, selector: str) -> str:
    return page.locator(selector).inner_text()


def wait_text(page, selector: str, needle: str, timeout_s: float) -> None:
    page.wait_for_function("([sel, needle]) => { const e = document.querySelector(sel); "
                           "return e && e.innerText.includes(needle); }", arg=[selector, needle],
                           timeout=timeout_s * 1000)


def wait_tab(page, name: str, timeout_s: float = 60) -> None:
    """Wait until the tab called ``name`` is the selected one (a tab switch is its own server round trip)."""
    page.wait_for_function("(name) => [...document.querySelectorAll('[role=tab]')].some("
                           "t => t.innerText.trim() === name && t.getAttribute('aria-selected') === 'true')",
                           arg=name, timeout=timeout_s * 1000)


def error_toasts(page) -> list[str]:
    errors = page.locator(".toast-body.error")
    return [errors.nth(i).inner_text() for i in range(errors.count())]


def no_error_toasts(page) -> None:
    assert not (toasts := error_toasts(page)), toasts
    assert "Traceback" not in page.content()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def settle(page, timeout_s: float = 300) -> None:
    """Wait until the page's first view is drawn (the sample's bars and words) and its main thread answers within a
    second: on two busy cores Chromium spends tens of seconds laying the first page out, and a click sent meanwhile
    times out."""
    page.wait_for_selector("#sample-plot .js-plotly-plot .bars", timeout=timeout_s * 1000)
    wait_text(page, "#sample-words-md", "Strongest words", timeout_s)
    t_end = time.time() + timeout_s
    while time.time() < t_end:
        t0 = time.time()
        page.evaluate("1")
        if time.time() - t0 < 1.0:
            return
    raise AssertionError("the page stayed busy")
