"""Shared test setup: offline hub, the shared data folder, small model configs."""
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parent.parent / ".cache" / "numba"))

DATA_ROOT = Path(os.environ.get("FDCMDIE_DATA", Path(__file__).resolve().parent.parent.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_root() -> Path:
    if not (DATA_ROOT / "mosi" / "labels.csv").is_file():
        pytest.fail(f"the shared data folder is missing: {DATA_ROOT} (set FDCMDIE_DATA)")
    return DATA_ROOT


def pytest_configure(config):
    # the models under test are tiny: one thread avoids OpenMP contention on small CPUs (measured 6x faster here)
    import torch
    torch.set_num_threads(1)
