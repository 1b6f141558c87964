"""Shared test setup: offline hub, the data folder (data/), and the app tests' fixtures, all session-scoped:

- ``app_checkpoints``: the with-CL / without-CL checkpoint pair of the app tests (test_app_support.checkpoint_pair:
  the shipped honest T+V+A pair when there, else a tiny pair trained once on real MOSI)
- ``app_context`` (alias ``ctx``) and ``view`` (its main checkpoint's test split): an AppContext on that pair with
  small map settings and its own map cache, no warm-up thread
- ``served_app`` and ``page``: ONE ``python app.py`` on that pair (port from $GRADIO_SERVER_PORT) and ONE headless
  Chromium page, shared by every browser test; ``served_app.log_since(mark)`` is the server log since a mark
"""
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parent.parent / ".cache" / "numba"))

import test_app_support as support  # noqa: E402


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The repository's data/ folder (or $FDCMDIE_DATA when set): fdcmdie.data.location.default_root."""
    from fdcmdie.data.location import data_file, default_root
    root = default_root()
    data_file(root / "mosi" / "labels.csv")   # DataError naming the file when it is not there
    return root


def pytest_configure(config):
    # the models under test are tiny: one thread avoids OpenMP contention on small CPUs (measured 6x faster here)
    import torch
    torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------------------- app


@pytest.fixture(scope="session")
def app_checkpoints(tmp_path_factory, data_root) -> tuple[Path, Path]:
    return support.checkpoint_pair(tmp_path_factory.getbasetemp() / "app-checkpoints", data_root)


@pytest.fixture(scope="session")
def app_context(app_checkpoints, data_root, tmp_path_factory):
    from fdcmdie.app import AppContext, AppOptions

    cl, nocl = app_checkpoints
    return AppContext(AppOptions(checkpoint=str(cl), compare_checkpoint=str(nocl), data=str(data_root),
                                 cache_dir=str(tmp_path_factory.getbasetemp() / "app-cache"), asr=False,
                                 warm_up=False, browse_checkpoints=(), **support.UMAP_SMALL))


@pytest.fixture(scope="session")
def ctx(app_context):
    return app_context


@pytest.fixture(scope="session")
def view(ctx):
    """The main checkpoint's test split as the explorer sees it."""
    return ctx.split_view("main", "test")


# ------------------------------------------------------------------------------------------------ browser


@pytest.fixture(scope="session")
def served_app(app_checkpoints, data_root, tmp_path_factory):
    """``python app.py`` on the app tests' pair, served on $GRADIO_SERVER_PORT (no --port), for the whole session."""
    from fdcmdie.app.serving import free_port, start_app, stop_app, wait_http

    tmp = tmp_path_factory.mktemp("served-app")
    port = free_port()
    app = support.ServedApp(url=f"http://127.0.0.1:{port}/", log=tmp / "app.log")
    cl, nocl = app_checkpoints
    app.proc = start_app(["--checkpoint", str(cl), "--compare-checkpoint", str(nocl), "--data", str(data_root),
                          "--cache-dir", str(tmp / "cache"), "--umap-max-samples",
                          str(support.UMAP_SMALL["umap_max_samples"]), "--umap-epochs",
                          str(support.UMAP_SMALL["umap_epochs"])], app.log,
                         env={"GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1"})
    try:
        wait_http(app.url, app.proc, app.log)
        yield app
        assert app.proc.poll() is None, "the app stopped while serving"
    finally:
        support.ARTIFACTS.mkdir(parents=True, exist_ok=True)
        stop_app(app.proc, app.log, support.ARTIFACTS / "e2e-app.log")


@pytest.fixture(scope="session")
def page(served_app):
    """One headless Chromium page (Debian's /usr/bin/chromium through Playwright; never `playwright install`)."""
    from playwright.sync_api import sync_playwright

    if not Path(support.CHROMIUM).is_file():
        pytest.fail(f"{support.CHROMIUM} is missing: apt-get install -y chromium (never `playwright install`)")
    support.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=support.CHROMIUM, args=support.CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
        yield page
        browser.close()
