"""Where the data is: the copy shipped in the repository's ``data/`` folder unless told otherwise.

* ``data.root`` (the folder holding ``mosi/`` and ``mosei/``): empty means the default — ``$FDCMDIE_DATA`` when set,
  else the shipped copy (``<repository>/data``, provenance and SHA-256 in data/README.md). Checkpoints trained before
  the data shipped store the former default ``../shared/data``; it means the default too (the same files).
* A file is found under its own name or gzip-compressed beside it (``labels.csv`` or ``labels.csv.gz``: pandas
  reads both), so the shipped copy can be compressed and a user's uncompressed folder still works.
"""
from __future__ import annotations

import os
from pathlib import Path

from .base import DataError

SHIPPED_ROOT = Path(__file__).resolve().parents[2] / "data"   # the repository's data/ folder
ENV = "FDCMDIE_DATA"                                          # environment variable naming another data folder
FORMER_DEFAULT = "../shared/data"                             # data.root of checkpoints from before the data shipped


def default_root() -> Path:
    """``$FDCMDIE_DATA`` when set, else the shipped ``data/`` folder."""
    env = os.environ.get(ENV, "").strip()
    return Path(env) if env else SHIPPED_ROOT


def resolve_root(root: str | Path | None) -> Path:
    """The folder holding mosi/ and mosei/ that ``data.root`` = ``root`` means (see the module docstring)."""
    if root is None or str(root).strip() in ("", FORMER_DEFAULT):
        return default_root()
    return Path(root)


def data_file(path: str | Path, *, hint: str = "") -> Path:
    """``path`` itself, or ``path`` + ``.gz`` when only the compressed file is there; DataError naming both
    otherwise (``hint``: what to do about it, appended to the message)."""
    path = Path(path)
    if path.is_file():
        return path
    gz = path.with_name(path.name + ".gz")
    if gz.is_file():
        return gz
    raise DataError(f"{path}: file not found (nor {gz.name})" + (f"; {hint}" if hint else ""))
