"""The app as a subprocess, for the browser tests (tests/conftest.py) and benchmarks/app.py: a free localhost port,
``python app.py`` started offline, waiting for its first HTTP 200 while watching that its process is still alive,
and stopping it."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ROOT = Path(__file__).resolve().parents[2]   # the repository root, where app.py is
APP_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}


def start_app(args: list[str], log: Path, *, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``python app.py *args`` offline from the repository root, its output going to ``log``."""
    with open(log, "w") as out:
        return subprocess.Popen([sys.executable, "app.py", *args], cwd=ROOT, env={**os.environ, **APP_ENV, **(env or {})},
                                stdout=out, stderr=subprocess.STDOUT)


def wait_http(url: str, proc: subprocess.Popen, log: Path, *, timeout: float = 240, poll: float = 1.0) -> None:
    """Return once ``url`` answers 200; fail with the end of the app's log if it exits or stays silent."""
    t = time.time()
    while time.time() - t < timeout:
        if proc.poll() is not None:
            raise AssertionError(f"the app exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(poll)
    raise AssertionError(f"the app did not answer in {timeout} s:\n{log.read_text()[-4000:]}")


def stop_app(proc: subprocess.Popen, log: Path, keep_as: Path) -> None:
    """Stop the app (terminate, then kill after 30 s) and keep its log as ``keep_as`` for the artifacts."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    keep_as.write_text(log.read_text())
