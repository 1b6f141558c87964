"""Shared test setup: offline hub, the data folder (the repository's data/), small model configs."""
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parent.parent / ".cache" / "numba"))


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
