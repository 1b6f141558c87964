"""One cache for what the app computes: in memory for this process, on disk between restarts.

    cache = ResultCache()                                    # ~/.cache/fdcmdie/results, or $FDCMDIE_CACHE
    view = cache.get(("split", "main", "test"), build, disk=Identity("split", {"checkpoint": checkpoint_hash(path),
                                                                                "data": data_hash(cfg), ...}))

A result is computed once per memory key (a tuple) behind a per-key lock: concurrent callers wait for the same
computation; errors are not cached. A result given a disk ``Identity`` is also written to
``<root>/<kind>/<digest>.npz`` and read from there by the next process. The digest is the SHA-256 of the identity's
parts (content hashes of the checkpoint's weights and config, of the data files, the method's parameters) and of the
kind's version (``VERSIONS``: bump it when the computation changes), so a changed input, parameter or method misses,
and the same one hits.

Files hold numpy arrays and one JSON document (``__meta__``), read with ``allow_pickle=False``: never pickle. Writes
go to a temporary file in the same folder, renamed over the target (atomic: a reader sees the old file or the new one).
A file that cannot be read back (cut short, corrupted, another layout) is deleted and the result recomputed. The
folder can be deleted at any time: everything in it is recomputed when next asked for.

Values are dataclasses of the analyses (``_types``: split predictions, Shapley values, geometry numbers, word
attributions, an uploaded clip's extracted features and transcript), flattened into arrays and JSON by ``encode`` / ``decode``; a type not listed there brings its own
``state()`` / ``from_state()`` (the fitted maps: ``fdcmdie.explain.projections.Projection``).
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import os
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

log = logging.getLogger("fdcmdie.cache")

ENV = "FDCMDIE_CACHE"   # a folder to keep the results in instead of ~/.cache/fdcmdie/results
# the version of each kind's computation and file layout: bump one when its results would change
VERSIONS = {"split": 1, "shapley": 1, "projection": 1, "geometry": 1, "words": 1, "clip": 1, "transcript": 1}


def default_root() -> Path:
    """``$FDCMDIE_CACHE``, else ``$XDG_CACHE_HOME/fdcmdie/results``, else ``~/.cache/fdcmdie/results``."""
    env = os.environ.get(ENV, "").strip()
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or Path.home() / ".cache"
    return Path(base) / "fdcmdie" / "results"


# ------------------------------------------------------------------------------------------------ hashing

_HASHES: dict[tuple, str] = {}
_HASH_LOCK = threading.Lock()


def file_hash(path: str | Path) -> str:
    """SHA-256 of a file's content, remembered for this process by (path, size, modification time)."""
    path = Path(path).resolve()
    st = path.stat()
    stamp = (str(path), st.st_size, st.st_mtime_ns)
    with _HASH_LOCK:
        if stamp in _HASHES:
            return _HASHES[stamp]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    with _HASH_LOCK:
        _HASHES[stamp] = h.hexdigest()
    return _HASHES[stamp]


def checkpoint_hash(folder: str | Path) -> str:
    """Content hash of a checkpoint folder: its ``config.json`` and ``model.safetensors``."""
    folder = Path(folder)
    if (folder / "checkpoint" / "config.json").is_file():
        folder = folder / "checkpoint"
    parts = [f"{f.name}:{file_hash(f)}" for f in (folder / "config.json", folder / "model.safetensors") if f.is_file()]
    if not parts:
        raise FileNotFoundError(f"{folder}: no config.json or model.safetensors to identify the checkpoint by")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def files_hash(paths) -> str:
    """Content hash of several files (their names and contents); a folder stands for every file under it."""
    files = []
    for p in map(Path, paths):
        files += sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    if not files:
        raise FileNotFoundError(f"no files to hash in {', '.join(map(str, paths))}")
    return hashlib.sha256("\n".join(f"{f.name}:{file_hash(f)}" for f in files).encode()).hexdigest()


def digest(parts: dict) -> str:
    """SHA-256 of a JSON document of ``parts`` (keys sorted; tuples as lists)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------- encoding


def _types() -> dict[str, type]:
    """The dataclasses ``encode`` / ``decode`` know, by name (an allow-list: a file never names code to run)."""
    from .evaluate import Predictions
    from .explain.attributions import WordAttribution
    from .explain.geometry import SpaceReport
    from .explain.shapley import ModalityShapley
    from .extract.clip import ClipFeatures, PitchTrack, Transcript
    out = {t.__name__: t for t in (Predictions, WordAttribution, SpaceReport, ModalityShapley, ClipFeatures,
                                   PitchTrack, Transcript)}
    out.update(_EXTRA)
    return out


_EXTRA: dict[str, type] = {}


def register(cls: type) -> type:
    """Let ``encode`` / ``decode`` store dataclass ``cls`` (a class decorator, for types outside ``_types``)."""
    _EXTRA[cls.__name__] = cls
    return cls


def encode(value: Any) -> tuple[dict, dict[str, np.ndarray]]:
    """(JSON tree, arrays): ``value`` (dataclasses, dicts with str keys, lists, arrays, numbers, str, None) with every
    array replaced by ``{"@": name}`` and kept in ``arrays``; a dataclass is ``{"@type": its name, fields…}``; a list
    of str longer than 16 becomes one str array."""
    arrays: dict[str, np.ndarray] = {}
    known = _types()

    def walk(x):
        if isinstance(x, np.ndarray):
            if x.dtype == object:
                x = x.astype(str)
            name = f"a{len(arrays)}"
            arrays[name] = x
            return {"@": name}
        if dataclasses.is_dataclass(x) and not isinstance(x, type):
            name = type(x).__name__
            if known.get(name) is not type(x):
                raise TypeError(f"{name} is not a type the result cache stores (fdcmdie.cache.register)")
            return {"@type": name, **{f.name: walk(getattr(x, f.name)) for f in dataclasses.fields(x)}}
        if isinstance(x, dict):
            bad = [k for k in x if not isinstance(k, str)]
            if bad:
                raise TypeError(f"the result cache stores dicts with str keys only, got {bad[0]!r}")
            return {"@dict": {k: walk(v) for k, v in x.items()}}
        if isinstance(x, (list, tuple)):
            if len(x) > 16 and all(isinstance(v, str) for v in x):
                return walk(np.asarray(x, dtype=str)) | {"list": True}
            return [walk(v) for v in x]
        if isinstance(x, (np.floating, np.integer, np.bool_)):
            return x.item()
        if x is None or isinstance(x, (str, int, float, bool)):
            return x
        raise TypeError(f"the result cache cannot store a {type(x).__name__}")

    return walk(value), arrays


def decode(tree, arrays: dict[str, np.ndarray]) -> Any:
    """The value ``encode`` gave (tree, arrays) for; TypeError for a type not in the allow-list."""
    known = _types()

    def walk(x):
        if isinstance(x, list):
            return [walk(v) for v in x]
        if not isinstance(x, dict):
            return x
        if "@" in x:
            a = arrays[x["@"]]
            return a.tolist() if x.get("list") else a
        if "@dict" in x:
            return {k: walk(v) for k, v in x["@dict"].items()}
        cls = known.get(x.get("@type"))
        if cls is None:
            raise TypeError(f"unknown stored type {x.get('@type')!r}")
        return cls(**{k: walk(v) for k, v in x.items() if k != "@type"})

    return walk(tree)


# ---------------------------------------------------------------------------------------------- the cache


@dataclass(frozen=True)
class Identity:
    """What a result on disk is of: its ``kind`` (a folder and a ``VERSIONS`` entry), a readable ``name`` for the
    file, and the ``parts`` that determine it (content hashes, split, parameters)."""

    kind: str
    parts: dict
    name: str = ""

    @property
    def digest(self) -> str:
        return digest({"kind": self.kind, "version": VERSIONS.get(self.kind, 0), **self.parts})


class ResultCache:
    """Results in memory (per-key locks, computed once) and, for those given an Identity, on disk under ``root``.
    ``root=None``: ``default_root()``; ``disk=False``: memory only."""

    def __init__(self, root: str | Path | None = None, *, disk: bool = True):
        self.root = Path(root) if root is not None else default_root()
        self.disk = disk
        self._values: dict = {}
        self._locks: dict = {}
        self._guard = threading.Lock()
        self.hits: dict[str, int] = {}    # kind → results read from disk (the status line and tests read these)
        self.misses: dict[str, int] = {}  # kind → results computed and written

    def lock(self, key) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def ready(self, key) -> bool:
        """Whether ``key`` is in memory (no computation, no disk read)."""
        return key in self._values

    def peek(self, key, default=None):
        return self._values.get(key, default)

    def put(self, key, value) -> None:
        self._values[key] = value

    def forget(self, key) -> None:
        self._values.pop(key, None)

    def get(self, key, compute: Callable[[], Any], *, disk: Identity | Callable[[], Identity] | None = None):
        """The value of ``key``: from memory, else from disk (``disk``: its Identity, or a function giving it),
        else ``compute()`` (then kept in memory and written to disk)."""
        if key in self._values:
            return self._values[key]
        with self.lock(key):
            if key in self._values:
                return self._values[key]
            ident = disk() if callable(disk) else disk
            value = self.load(ident) if ident is not None and self.disk else None
            if value is None:
                value = compute()
                if ident is not None and self.disk:
                    self.save(ident, value)
            self._values[key] = value
            return value

    # ------------------------------------------------------------------------------------------ disk

    def path(self, ident: Identity) -> Path:
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in ident.name)[:80]
        return self.root / ident.kind / f"{stem + '-' if stem else ''}{ident.digest[:24]}.npz"

    def load(self, ident: Identity):
        """The stored value of ``ident``, or None (not there; unreadable: the file is deleted)."""
        path = self.path(ident)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            meta = json.loads(str(arrays.pop("__meta__")))
            if meta.get("digest") != ident.digest:
                raise ValueError("the file is of another result")
            value = self._decode(meta, arrays)
        except Exception as e:  # cut short, corrupted, an older layout: recompute (and replace it)
            log.warning("cached %s %s unreadable (%s): recomputing", ident.kind, path.name, e)
            path.unlink(missing_ok=True)
            return None
        self.hits[ident.kind] = self.hits.get(ident.kind, 0) + 1
        return value

    def save(self, ident: Identity, value) -> Path | None:
        """Write ``value`` atomically; None (and a log line) when the folder is not writable."""
        self.misses[ident.kind] = self.misses.get(ident.kind, 0) + 1
        path = self.path(ident)
        if hasattr(value, "state"):
            tree, arrays = value.state()
            meta = {"state": tree, "class": f"{type(value).__module__}:{type(value).__qualname__}"}
        else:
            tree, arrays = encode(value)
            meta = {"tree": tree}
        meta.update(digest=ident.digest, kind=ident.kind, parts=ident.parts)
        buf = io.BytesIO()
        np.savez(buf, __meta__=np.asarray(json.dumps(meta, default=str)), **arrays)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(buf.getvalue())
            os.replace(tmp, path)
        except OSError as e:  # a read-only or full disk: the result still works in memory
            log.warning("could not write %s: %s", path, e)
            return None
        return path

    def _decode(self, meta: dict, arrays: dict[str, np.ndarray]):
        if "state" in meta:
            cls = _STATEFUL.get(meta["class"])
            if cls is None:
                raise TypeError(f"unknown stored class {meta['class']!r}")
            return cls.from_state(meta["state"], arrays)
        return decode(meta["tree"], arrays)


_STATEFUL: dict[str, type] = {}


def stateful(cls: type) -> type:
    """Let the cache store ``cls`` through its own ``state() -> (JSON tree, arrays)`` and
    ``from_state(tree, arrays)`` (a class decorator)."""
    _STATEFUL[f"{cls.__module__}:{cls.__qualname__}"] = cls
    return cls


def is_valid_file(path: str | Path) -> bool:
    """Whether ``path`` is a readable cache file (a zip of .npy members with ``__meta__``)."""
    try:
        with zipfile.ZipFile(path) as z:
            return "__meta__.npy" in z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
