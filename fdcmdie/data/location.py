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


# ------------------------------------------------------------------------- which data a checkpoint reads

def fits(given: str | Path, source: str, stored_path: str = "") -> bool:
    """Whether ``given`` (the app's --data) is data for a checkpoint trained on ``source``: a folder holding
    ``mosi/`` (``mosei/``) for a MOSI (MOSEI) checkpoint; for an MMSA checkpoint a pickle, or a folder holding a file
    of the name of the pickle it was trained on (``stored_path``, its data.path)."""
    g = Path(given)
    if source == "mmsa":
        return g.is_file() or (g.is_dir() and bool(stored_path) and (g / Path(stored_path).name).is_file())
    return g.is_dir() and (g / source).is_dir()


def data_override(given: str | Path | None, trained_on: tuple[str, str],
                  everyone: list[tuple[str, str]] = ()) -> str | None:
    """What one checkpoint reads when the app is given --data ``given``, as a Predictor's ``data_root``: None (the
    data it was trained on: its data.source, data.root or data.path) unless ``given`` fits it (:func:`fits`).
    ``trained_on`` is the checkpoint's (data.source, data.path); ``everyone`` the same of every checkpoint the app
    holds: a ``given`` that fits none of them is passed to all, so each one's message names the file missing there."""
    if not given:
        return None
    if fits(given, *trained_on) or not any(fits(given, *other) for other in everyone):
        return str(given)
    return None
