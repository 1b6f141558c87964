"""What the app holds between requests: the loaded checkpoints and every computed result (split predictions and
ablations, Shapley values, word attributions, maps, geometry numbers), the background warm-up that prepares what the
first page shows, and the status line that says what is ready.

One cache layer (fdcmdie/cache.py ``ResultCache``): every result is computed once per key behind a per-key lock (the
warm-up thread and a user's request asking for the same thing share one computation); the expensive ones are also
kept on disk, keyed by the content of the checkpoint, of the text encoder's weights and of the data files, and by
the method's parameters, so a restart reads them back in milliseconds. Maps are never computed in a request: a view
that needs one not ready yet starts it in the background and says so (``projection_state``); so are a browse
checkpoint's first predictions asked for from the status line (``jobs``).

The warm-up (``warmup_steps``) prepares what the first page shows — the main checkpoint, its test-split predictions,
and the Shapley values and word attributions of the explorer's first samples — and says "Ready" (a restart reads them
from the cache in seconds); then, in the background, the comparison checkpoint, the pair's maps in the projection the
space opens on, the browse checkpoints, the pair's whole-split Shapley values (case studies, export) and the clip
extractor (in its worker process) warm up. Other splits, other projections and the browse checkpoints' predictions are
computed when first asked for.

Uploads (``clip``) are extracted in a low-priority worker process (fdcmdie/extract/worker.py), once per file content
and extraction settings.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..cache import Identity, ResultCache, checkpoint_hash, file_hash, files_hash, register
from ..checkpoint import DEFAULT_PAIR, MOSEI_CHECKPOINT

log = logging.getLogger("fdcmdie.app")

SPLITS = ("test", "valid", "train")
# Gradio concurrency groups (the events' concurrency_id / concurrency_limit): what takes seconds of every core (clip
# extraction, speech-to-text, the attributions of an upload) queues apart from what a class clicks through (sample
# views, typed text, maps, tables), so a typed sentence never waits behind a clip
HEAVY = {"concurrency_id": "heavy", "concurrency_limit": 1}
LIGHT = {"concurrency_id": "light", "concurrency_limit": 4}
# a typed sentence's word attributions (integrated gradients through the text encoder, ~0.7 s of a core with e5) follow
# its prediction as an event of their own, one at a time, so a class's predictions and sample views never queue
# behind them
WORDS = {"concurrency_id": "words", "concurrency_limit": 1}


@dataclass
class AppOptions:
    """Command-line settings of the app (see app.py)."""

    # default pair (fdcmdie/checkpoint.py DEFAULT_PAIR): MOSI standard split, text + voice, e5-small top-2 layers
    # fine-tuned, d = 128, with / without CL. For the face too pass checkpoints/mosi-honest-tav-e5 (and -nocl; T+V+A,
    # selected and tested on Poria's test half, where the 3D-CNN video vectors carry almost no signal) as
    # --checkpoint/--compare-checkpoint
    checkpoint: str = DEFAULT_PAIR[0]
    compare_checkpoint: str | None = DEFAULT_PAIR[1]
    # more checkpoints the explorer and case studies offer (MOSEI: the paper's second dataset); a folder that is not
    # there is left out. Only the main/compare pair is drawn in the representation space.
    browse_checkpoints: tuple[str, ...] = ("checkpoints/mosi-honest-tav-e5", MOSEI_CHECKPOINT)
    # --data: None = each checkpoint reads the data it was trained on (MOSI/MOSEI: $FDCMDIE_DATA, else the shipped
    # data/ folder; an MMSA-trained one: the pickle it stored). A folder holding mosi/ and mosei/, or an MMSA pickle
    # (or its folder), replaces it for the checkpoints it fits (fdcmdie/data/location.py data_override)
    data: str | None = None
    # where computed results are kept between restarts (fdcmdie/cache.py): None = $FDCMDIE_CACHE, else
    # ~/.cache/fdcmdie/results. Safe to delete; "" keeps them in memory only
    cache_dir: str | None = None
    # the projection the representation space opens on: PCA fits in milliseconds and needs no compiling, so the lab is
    # ready in seconds; UMAP (30–120 s of numba compiling in a fresh process) and t-SNE are made when first asked for
    projection: str = "pca"
    first_rows: int = 5                  # samples of the explorer's first page whose Shapley values and words warm up
    results: str = "docs/RESULTS.md"
    umap_max_samples: int | None = 800   # samples per split on a map (test splits are smaller: all of them)
    umap_epochs: int = 200
    max_upload_mb: float = 50.0
    max_duration_s: float = 30.0         # longer clips: only the first seconds are analysed (with a warning)
    asr: bool = True
    warm_up: bool = True
    warm_up_extract: bool = True         # also pay the clip extractor's start-up costs in the background
    # uploads are extracted in one worker process (fdcmdie/extract/worker.py) that adds extract_nice to its nice value
    # and caps its thread pools at extract_threads, so typed text and sample views keep the cores; False: in the
    # server process (one at a time)
    extract_worker: bool = True
    extract_nice: int = 10
    extract_threads: int = 1
    device: str = "cpu"


@dataclass
class ModelSlot:
    key: str                 # "main" | "compare" | a browse checkpoint's folder name
    path: str
    predictor: object | None = None
    error: str | None = None

    @property
    def short_label(self) -> str:
        """The checkpoint folder's name (a run folder's when the path ends in checkpoint/); needs no loading."""
        return Path(self.path).name if Path(self.path).name != "checkpoint" else Path(self.path).parent.name

    @property
    def label(self) -> str:
        if self.predictor is None:
            return f"{self.short_label} (not loaded)"
        cl = "with CL" if self.predictor.cfg.loss.contrastive else "without CL"
        return f"{self.predictor.name} ({cl})"

    @property
    def choice_label(self) -> str:
        """The label plus the data the checkpoint reads, for the model / dataset chooser (from config.json when the
        checkpoint is not loaded yet: the chooser does not load browse checkpoints)."""
        if self.predictor is not None:
            cfg = self.predictor.cfg
            source, split, path, contrastive = cfg.data.source, cfg.data.split, cfg.data.path, cfg.loss.contrastive
            mods, name = self.predictor.modalities, self.predictor.name
        else:
            try:
                from ..checkpoint import read_checkpoint_info
                c = read_checkpoint_info(self.path)["config"]
                source, split, path = c["data"].get("source", "mosi"), c["data"].get("split", ""), c["data"].get("path", "")
                contrastive, mods, name = c["loss"].get("contrastive", True), c["model"]["modalities"], self.short_label
            except (OSError, ValueError, KeyError, TypeError):
                return self.label
        data = {"mosi": f"CMU-MOSI, {split} split", "mosei": "CMU-MOSEI",
                "mmsa": f"MMSA pickle {Path(path).name}"}.get(source, source)
        cl = "with CL" if contrastive else "without CL"
        return f"{name} ({cl}) · {data} · {'+'.join(m.upper() for m in mods)}"


@register
@dataclass
class SplitView:
    """One split as the explorer sees it: predictions plus modality ablations and derived columns."""

    preds: object                       # evaluate.Predictions
    ablations: dict[str, np.ndarray]    # {"t": text-only, "va": voice+face only, …}
    error: np.ndarray                   # |pred − label|
    disagree: np.ndarray                # text-only and full prediction differ in sign
    row_of: dict[str, int]


@dataclass
class Step:
    name: str
    state: str = "pending"   # pending | running | done | failed | skipped
    detail: str = ""
    seconds: float = 0.0
    t0: float = 0.0          # when it started
    after_ready: bool = False  # runs after "Ready" (background extras)


@dataclass
class WarmUp:
    steps: list[Step] = field(default_factory=list)
    started: float = 0.0
    ready_at: float | None = None      # when the steps before the background extras finished
    finished: float | None = None
    thread: threading.Thread | None = None
    ready_note: str = ""               # what is ready, in words (set by the context)

    @property
    def done(self) -> bool:
        return self.finished is not None or not self.steps

    @property
    def ready(self) -> bool:
        return self.ready_at is not None or not self.steps

    def failures(self) -> str:
        """The failed steps, one entry per distinct reason (the same missing file is said once)."""
        by_reason: dict[str, list[str]] = {}
        for s in self.steps:
            if s.state == "failed":
                by_reason.setdefault(s.detail, []).append(s.name)
        return "; ".join(f"{reason} ({', '.join(names)})" for reason, names in by_reason.items())

    def markdown(self) -> str:
        if not self.steps:
            return "Warm-up is off: each result is computed when first asked for."
        failed = self.failures()
        tail = f" Not available: {failed}." if failed else ""
        if self.ready:
            text = f"**Ready** in {self.ready_at - self.started:.0f} s{self.ready_note}."
            extras = [s for s in self.steps if s.after_ready]
            running = next((s for s in extras if s.state == "running"), None)
            if running is not None:
                left = sum(s.state in ("pending", "running") for s in extras)
                text += f" In the background ({left} left): {running.name} … {time.time() - running.t0:.0f} s."
            return text + tail
        before = [s for s in self.steps if not s.after_ready]
        n_done = sum(s.state in ("done", "failed", "skipped") for s in before)
        cur = next((s for s in before if s.state == "running"), None)
        now = f"{cur.name} … {time.time() - cur.t0:.0f} s" if cur else "starting"
        return (f"**Getting ready** ({n_done}/{len(before)} steps, {time.time() - self.started:.0f} s): {now}. "
                f"Typed text and uploads already work.{tail}")


@dataclass
class Job:
    """A computation started on request in the background (a map, a browse checkpoint's predictions)."""

    name: str
    t0: float = field(default_factory=time.time)


class AppContext:
    """The app's state. ``predictors`` may be given directly (tests); otherwise checkpoints load on first use."""

    def __init__(self, options: AppOptions | None = None, *, predictors: dict | None = None):
        self.options = options or AppOptions()
        self.slots: dict[str, ModelSlot] = {}
        paths = {"main": self.options.checkpoint, "compare": self.options.compare_checkpoint}
        for key, path in paths.items():
            if path:
                self.slots[key] = ModelSlot(key, str(path))
        for path in self.options.browse_checkpoints or ():
            key = Path(path).name if Path(path).name != "checkpoint" else Path(path).parent.name
            if key not in self.slots and (Path(path) / "config.json").is_file():
                self.slots[key] = ModelSlot(key, str(path))
        for key, p in (predictors or {}).items():
            self.slots[key] = ModelSlot(key, str(getattr(p, "path", key)), predictor=p)
        self._loaded = set(predictors or {})
        cache_dir = self.options.cache_dir
        self.cache = ResultCache(cache_dir or None, disk=cache_dir != "")
        self.jobs: dict[tuple, Job] = {}     # background computations asked for, by key (status line)
        self._bg_errors: dict = {}
        self.warmup = WarmUp()
        from ..extract.worker import ExtractWorker   # light: the extraction libraries load in the worker
        self.extractor = ExtractWorker(nice=self.options.extract_nice, threads=self.options.extract_threads,
                                       inline=not self.options.extract_worker)
        self._fit_lock = threading.Lock()            # UMAP fits one at a time (CPU-bound; numba compiles once)

    # ------------------------------------------------------------------------------------ plumbing

    def _once(self, key, fn, disk=None):
        """fn() computed once per key (memory; ``disk``: also kept on disk, see ResultCache.get)."""
        return self.cache.get(key, fn, disk=disk)

    def ready(self, key) -> bool:
        return self.cache.ready(key)

    # -------------------------------------------------------------------------------------- models

    def load_models(self, keys=None) -> None:
        for key in list(keys or self.slots):
            try:
                self.predictor(key)
            except ValueError:
                pass

    def predictor(self, key: str = "main"):
        """The loaded Predictor of a slot; ValueError with a readable reason when it cannot be loaded."""
        slot = self.slots.get(key)
        if slot is None:
            raise ValueError("no comparison checkpoint was given (start the app with --compare-checkpoint DIR)"
                             if key == "compare" else f"unknown model {key!r}")
        if slot.predictor is not None:
            return slot.predictor
        with self.cache.lock(("load", key)):
            if slot.predictor is None and key not in self._loaded:
                self._loaded.add(key)
                try:
                    from ..inference import Predictor
                    slot.predictor = Predictor.load(slot.path, device=self.options.device)
                except Exception as e:  # missing folder, mismatched weights, … : the app keeps serving
                    slot.error = (f"checkpoint {slot.path!r} could not be loaded: {e}. Pass a checkpoint folder with "
                                  "--checkpoint (train one with `python -m fdcmdie train --config configs/mosi.yaml`)")
                    log.warning(slot.error)
        if slot.predictor is None:
            raise ValueError(slot.error or f"checkpoint {slot.path!r} is not loaded")
        return slot.predictor

    def model_keys(self) -> list[str]:
        """Slots whose checkpoint loads (main first)."""
        out = []
        for key in self.slots:
            try:
                self.predictor(key)
                out.append(key)
            except ValueError:
                pass
        return out

    def map_keys(self) -> list[str]:
        """The slots the representation space draws: the main/compare pair (browse checkpoints are not mapped)."""
        return [k for k in self.slots if k in ("main", "compare")]

    def model_choices(self) -> list[tuple[str, str]]:
        """(label, key) of every checkpoint offered, without loading one: a slot whose checkpoint failed to load
        is left out, and so is one whose folder holds no checkpoint (config.json), before anything loads."""
        return [(slot.choice_label, k) for k, slot in self.slots.items() if slot.error is None
                and (slot.predictor is not None or (Path(slot.path) / "config.json").is_file())]

    # ---------------------------------------------------------------------------------------- data

    def data_root(self, key: str = "main") -> str | None:
        """The data the slot's checkpoint reads, as its Predictor's ``data_root``: None for the data it was trained
        on, or --data where it fits that checkpoint (fdcmdie.data.location.data_override)."""
        from ..data.location import data_override
        if not self.options.data:
            return None
        return data_override(self.options.data, self._trained_on(key), [self._trained_on(k) for k in self.slots])

    def _trained_on(self, key: str) -> tuple[str, str]:
        """(data.source, data.path) of a slot's checkpoint, from its config.json when it is not loaded yet."""
        slot = self.slots.get(key)
        if slot is not None and slot.predictor is not None:
            return slot.predictor.cfg.data.source, slot.predictor.cfg.data.path
        try:
            from ..checkpoint import read_checkpoint_info
            data = read_checkpoint_info(slot.path)["config"].get("data", {})
            return data.get("source", "mosi"), data.get("path", "")
        except (AttributeError, OSError, ValueError, KeyError):
            return "mosi", ""

    def data_help(self, error: Exception | str) -> str:
        return (f"**The dataset is not available**: {error}\n\n"
                "Uploads and typed text still work. Each checkpoint reads the data it was trained on: CMU-MOSI and "
                "CMU-MOSEI from the repository's `data/` folder (or `$FDCMDIE_DATA`), a checkpoint trained on an MMSA "
                "pickle from the path it stored. To read other copies, start the app with `--data PATH`: a folder "
                "holding `mosi/` and `mosei/`, or an MMSA `aligned_50.pkl` / `unaligned_50.pkl` (or its folder; "
                "data/README.md says where to download them).")

    def data_files(self, key: str) -> list[Path]:
        """The files a slot's checkpoint reads its data from (what its results on disk are keyed by)."""
        from ..data.location import data_file, resolve_root
        cfg, root = self.predictor(key).cfg.data, self.data_root(key)
        if cfg.source == "mmsa":
            path = Path(root) if root and Path(root).is_file() else (
                Path(root) / Path(cfg.path).name if root else Path(cfg.path))
            return [data_file(path)]
        folder = resolve_root(root if root else cfg.root) / cfg.source
        if not folder.is_dir():
            data_file(folder / "labels.csv")   # DataError naming the file the loader will miss
        return [folder]

    def identity(self, kind: str, key: str, split: str, **params) -> Identity:
        """What a result of ``kind`` for a slot's split is keyed by on disk: the checkpoint's content (weights and
        config), its text encoder's weights, its data config and data files, the split and ``params``."""
        from ..text_encoder import encoder_weights_id
        p = self.predictor(key)
        data_cfg = {k: v for k, v in dataclasses.asdict(p.cfg.data).items() if k not in ("root", "path")}
        parts = {"checkpoint": checkpoint_hash(p.path or self.slots[key].path),
                 "encoder": encoder_weights_id(p.cfg.model.text_encoder) if p.cfg.data.text_source == "transcript" else None,
                 "data": files_hash(self.data_files(key)), "data_config": data_cfg, "split": split, **params}
        return Identity(kind, parts, name=f"{self.slots[key].short_label}-{split}")

    def split_view(self, key: str, split: str) -> SplitView:
        """Predictions + ablations of one split for one model (cached); ValueError/DataError when unavailable."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        p = self.predictor(key)

        def build() -> SplitView:
            from ..explain.cases import disagreement, explain_variants, split_ablations
            with self.on_request(("split", key, split), f"{split}-split predictions of {self.slots[key].short_label}"):
                preds = p.predict_split(split, data_root=self.data_root(key))
                abl = split_ablations(p, split, data_root=self.data_root(key),
                                      variants=explain_variants(p.modalities))
            return SplitView(preds=preds, ablations=abl, error=np.abs(preds.pred - preds.label),
                             disagree=disagreement(preds, abl, kind="text vs full"),
                             row_of={i: r for r, i in enumerate(preds.ids)})

        return self._once(("split", key, split), build, disk=lambda: self.identity("split", key, split))

    def shapley(self, key: str, split: str):
        """Exact modality Shapley values of every sample of a split (explain.shapley.ModalityShapley), cached."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        p = self.predictor(key)

        def build():
            from ..explain.shapley import split_shapley
            with self.on_request(("shapley", key, split), f"{split}-split Shapley values of "
                                                          f"{self.slots[key].short_label}"):
                return split_shapley(p, split, data_root=self.data_root(key))

        return self._once(("shapley", key, split), build, disk=lambda: self.identity("shapley", key, split))

    def share_note(self, key: str, split: str) -> str:
        """How much each modality of ``key`` carries over ``split`` (render.shapley.share_markdown), once the split's
        predictions and Shapley values are computed (never waited for here: a note says they are on their way)."""
        from ..render.shapley import share_markdown
        if len(self.predictor(key).modalities) < 2:
            return ""
        if not (self.ready(("split", key, split)) and self.ready(("shapley", key, split))):
            return (f"*How much each modality carries over the {split} split: the split's Shapley values are computed "
                    "in the background (shown on the next visit).*")
        view = self.split_view(key, split)
        return share_markdown(self.shapley(key, split), split, labels=view.preds.label, alone=view.ablations)

    def sample_shapley(self, key: str, split: str, row: int):
        """Shapley values of one sample (a ModalityShapley of one row): the split's when computed, else this
        sample's alone (one batch of 2^M coalitions), cached."""
        from ..explain.shapley import ModalityShapley, split_shapley

        if self.ready(("shapley", key, split)):
            sv = self.shapley(key, split)
            return ModalityShapley(sv.modalities, sv.phi[row: row + 1], sv.baseline[row: row + 1],
                                   sv.pred[row: row + 1])
        sample_id = self.split_view(key, split).preds.ids[row]
        return self._once(("shapley", key, split, sample_id),
                          lambda: split_shapley(self.predictor(key), split, self.data_root(key), rows=[row]),
                          disk=lambda: self.identity("shapley", key, split, sample=sample_id))

    def sample_words(self, key: str, split: str, row: int, *, method: str = "auto"):
        """Word attributions (explain.attributions.WordAttribution) of a dataset sample's transcript, cached;
        ValueError when the checkpoint has no words to attribute."""
        from ..explain.attributions import word_attributions

        sample_id = self.split_view(key, split).preds.ids[row]
        return self._once(("words", key, split, sample_id, method),
                          lambda: word_attributions(self.predictor(key), *self.raw_inputs(key, split, row),
                                                    method=method),
                          disk=lambda: self.identity("words", key, split, sample=sample_id, method=method))

    def raw_inputs(self, key: str, split: str, row: int) -> tuple[str, np.ndarray | None, np.ndarray | None]:
        """(text, acoustic frames, visual frames) of a dataset sample, un-normalised, as Predictor.what_if wants."""
        p = self.predictor(key)
        part = p.dataset(self.data_root(key)).split(split)
        pick = lambda seqs: None if seqs is None else seqs[row]
        return part.texts[row], pick(part.audio), pick(part.vision)

    # ----------------------------------------------------------------------------------- projections

    def projection_params(self, method: str = "umap") -> dict:
        from ..explain.projections import projection_params
        return projection_params(method, max_samples=self.options.umap_max_samples, n_epochs=self.options.umap_epochs)

    @staticmethod
    def _proj_key(key: str, split: str, method: str = "umap") -> tuple:
        return ("proj", key, split, method)

    def projection(self, key: str, split: str, method: str = "umap"):
        """The fitted map (computes it in this thread when needed: background jobs and tests only)."""
        from ..explain.projections import fit_projection

        def fit():
            view = self.split_view(key, split)
            params = {k: v for k, v in self.projection_params(method).items() if k != "tsne_max_iter"}
            with self._fit_lock:
                proj = fit_projection(view.preds.features["decoupled"], **params)
            log.info("%s %s/%s fitted (%.1f s)", proj.label, key, split, proj.seconds)
            return proj

        return self._once(self._proj_key(key, split, method), fit,
                          disk=lambda: self.identity("projection", key, split, ids=_ids_hash(self, key, split),
                                                     **self.projection_params(method)))

    def geometry(self, key: str, split: str):
        """The CL-effect numbers of one split (fdcmdie.explain.geometry.space_report), computed once."""
        from ..explain.geometry import space_report
        return self._once(("geometry", key, split),
                          lambda: space_report(self.split_view(key, split).preds.features["decoupled"]),
                          disk=lambda: self.identity("geometry", key, split))

    def sample_space(self, key: str, split: str):
        """Nearest-neighbour index of one split's samples in the shared and private spaces (built once)."""
        from ..explain.geometry import SampleSpace
        return self._once(("neighbours", key, split),
                          lambda: SampleSpace(self.split_view(key, split).preds.features["decoupled"]))

    def hover(self, key: str, split: str, method: str):
        """The hover strings of a map's points (the slowest part of drawing a map), built once per map."""
        from .plots.projections import hover_texts

        def build():
            P = self.split_view(key, split).preds
            return hover_texts(self.projection(key, split, method), ids=P.ids, texts=P.texts, labels=P.label,
                               preds=P.pred)

        return self._once(("hover", key, split, method), build)

    def projection_state(self, key: str, split: str, method: str = "umap") -> str:
        """"ready" | "computing" | "failed: reason" | "idle". Ready once the whole job is done (the map, then its hover
        texts, neighbour index and geometry numbers), so a view drawn on "ready" has all of them."""
        k = self._proj_key(key, split, method)
        if k in self.jobs:
            return "computing"
        if self.ready(k):
            return "ready"
        if k in self._bg_errors:
            return f"failed: {self._bg_errors[k]}"
        return "idle"

    def request_projection(self, key: str, split: str, method: str = "umap") -> str:
        """Start computing a map (and the split's geometry numbers, neighbour index and hover texts) in the
        background unless it is ready or on its way; returns the state."""
        from ..explain.projections import METHODS
        k = self._proj_key(key, split, method)
        state = self.projection_state(key, split, method)
        if state in ("ready", "computing"):
            return state
        return self.background(k, f"{METHODS.get(method, method)} map of the {split} split "
                                  f"({self.slots[key].short_label})", lambda: self._prepare_map(key, split, method))

    def _prepare_map(self, key: str, split: str, method: str) -> None:
        if method == "umap" and not self.ready(self._proj_key(key, split, method)):
            self._warm_umap()
        self.projection(key, split, method)
        self.hover(key, split, method)
        self.sample_space(key, split)
        self.geometry(key, split)

    def background(self, key, name: str, fn) -> str:
        """Run ``fn()`` in a daemon thread, listed in ``jobs`` (the status line) while it runs; its error is kept
        in ``_bg_errors[key]``. Returns "computing"."""
        with self.cache.lock(("job", key)):
            if key in self.jobs:
                return "computing"
            self._bg_errors.pop(key, None)
            self.jobs[key] = Job(name)

        def job():
            try:
                fn()
            except Exception as e:
                self._bg_errors[key] = _short(e)
                log.warning("%s failed: %s\n%s", name, e, traceback.format_exc())
            finally:
                self.jobs.pop(key, None)

        threading.Thread(target=job, name=f"job-{name}", daemon=True).start()
        return "computing"

    @contextlib.contextmanager
    def on_request(self, key, name: str):
        """List a computation a request waits for on the status line while it runs (not the warm-up's own: the
        mapped pair's test split)."""
        listed = not (key[1] in self.map_keys() and key[2] == "test") and key not in self.jobs
        if listed:
            self.jobs[key] = Job(name)
        try:
            yield
        finally:
            if listed:
                self.jobs.pop(key, None)

    # ---------------------------------------------------------------------------------- status line

    def status_markdown(self) -> str:
        """The status line: the warm-up's state, then what is being computed on request (each said once)."""
        text = self.warmup.markdown()
        jobs = sorted(self.jobs.values(), key=lambda j: j.t0)
        if jobs:
            now = time.time()
            text += " Computing on request: " + "; ".join(f"{j.name} … {now - j.t0:.0f} s" for j in jobs) + "."
        return text

    # --------------------------------------------------------------------------------------- warm-up

    def first_rows(self, key: str = "main", split: str = "test") -> list[int]:
        """The rows of the samples the explorer's first page lists first (its table in split order)."""
        return list(range(min(self.options.first_rows, len(self.split_view(key, split).preds.ids))))

    def warmup_steps(self) -> list[tuple[str, object, bool]]:
        """(name, function, runs after "Ready") of each warm-up step. Before "Ready", what the first page (the
        explorer on the main checkpoint's test split) shows: the main checkpoint loads, its test-split predictions, and
        the Shapley values and words of the explorer's first samples. After it, in the background: the comparison
        checkpoint and its test-split predictions, the pair's maps in the projection the space opens on, the browse
        checkpoints, the pair's whole-split Shapley values (case studies, export) and the clip extractor's start-up.
        A view that needs what is not ready yet computes it (or, for a map, says it is on its way)."""
        from ..explain.projections import METHODS
        keys = self.map_keys()
        first, later = keys[:1], keys[1:]
        browse = [k for k in self.slots if k not in keys]
        method = self.options.projection
        steps: list[tuple[str, object, bool]] = []
        if first:
            steps += [("loading the checkpoint", lambda: self.load_models(first), False),
                      (f"test-split predictions ({first[0]})", lambda: self.split_view(first[0], "test"), False),
                      ("Shapley values and word attributions of the first samples", self._warm_first_page, False)]
        if later:
            steps += [("loading the comparison checkpoint", lambda: self.load_models(later), True)]
            steps += [(f"test-split predictions ({key})", lambda k=key: self.split_view(k, "test"), True)
                      for key in later]
        if keys:
            steps.append((f"{METHODS[method]} maps of the test split", lambda: [self._prepare_map(k, "test", method)
                                                                             for k in keys], True))
        if browse:
            steps.append(("loading the browse checkpoints", lambda: self.load_models(browse), True))
        steps += [(f"test-split Shapley values ({key})", lambda k=key: self.shapley(k, "test"), True) for key in keys]
        if self.options.warm_up_extract:
            steps.append(("clip extractor start-up (pitch tracker, face mesh, speech-to-text)", self._warm_extract,
                          True))
        return steps

    def start_warmup(self) -> WarmUp:
        """Run the warm-up steps in a daemon thread; ``self.warmup`` reports progress."""
        steps = self.warmup_steps()
        self.warmup = w = WarmUp(steps=[Step(name, after_ready=late) for name, _, late in steps], started=time.time())

        def run():
            for step, (_, fn, _late) in zip(w.steps, steps):
                if step.after_ready and w.ready_at is None:
                    self._mark_ready(w)
                step.state, step.t0 = "running", time.time()
                try:
                    fn()
                    step.state = "done"
                except Exception as e:
                    step.state, step.detail = "failed", _short(e)
                    log.info("warm-up step %r failed: %s", step.name, e)
                    log.debug(traceback.format_exc())
                step.seconds = time.time() - step.t0
            if w.ready_at is None:
                self._mark_ready(w)
            w.finished = time.time()
            log.info("warm-up finished in %.1f s", w.finished - w.started)

        w.thread = threading.Thread(target=run, name="fdcmdie-warmup", daemon=True)
        w.thread.start()
        return w

    def _mark_ready(self, w: WarmUp) -> None:
        read = sum(self.cache.hits.values())
        made = sum(self.cache.misses.values())
        from ..explain.projections import METHODS
        w.ready_note = (f": the explorer's test split and its first samples' Shapley values and words ({read} results "
                        f"read from the cache, {made} computed and cached); the comparison checkpoint and the "
                        f"{METHODS[self.options.projection]} maps follow")
        w.ready_at = time.time()
        log.info("warm-up ready in %.1f s (%d results from the cache, %d computed)", w.ready_at - w.started, read,
                 made)

    def _warm_first_page(self) -> None:
        """The Shapley values and words of the first samples the explorer lists (main checkpoint, test split)."""
        key = "main" if "main" in self.slots else self.map_keys()[0]
        for row in self.first_rows(key, "test"):
            self.sample_shapley(key, "test", row)
            try:
                self.sample_words(key, "test", row)
            except ValueError:  # a checkpoint without words (precomputed text vectors): nothing to attribute
                return

    def _warm_umap(self) -> None:
        from ..explain.projections import warm_up_umap
        self._once(("umap-compiled",), warm_up_umap)

    def _warm_extract(self) -> None:
        self.extractor.warmup(self.extract_config())

    # -------------------------------------------------------------------------------------------- clips

    def clip(self, path: str | Path, typed: str | None = None, *, asr: bool = True):
        """An uploaded file's ClipFeatures (fdcmdie.extract): the typed transcript when given, else speech-to-text
        when ``asr`` (and the app allows it). Extracted in the worker process (``self.extractor``) once per file
        content and extraction settings: the media part (acoustic and visual frames, what the page shows) and what
        speech-to-text heard are cached apart, in memory and on disk (kinds "clip" and "transcript"), so the same
        example clicked by a class, or one clip analysed again with an edited transcript, is not extracted again.
        A file of the same name but another content is another entry (the key is its SHA-256)."""
        from ..extract.clip import transcript_of, with_transcript

        typed = (typed or "").strip()
        config = self.extract_config(asr=bool(asr) and self.options.asr and not typed)
        t0, ran = time.perf_counter(), []   # ran: the extractions this call made

        def extract(want_asr: bool):
            ran.append(want_asr)
            return self.extractor.extract(path, config, asr=want_asr)

        sha = file_hash(path)
        media_id, text_id = clip_identities(sha, config, Path(path).name)
        media_key, text_key = ("clip", media_id.digest), ("transcript", text_id.digest)
        heard = None
        if config.asr:
            heard = self.cache.peek(text_key)
            if heard is None:
                with self.cache.lock(text_key), self.cache.lock(media_key):   # this order everywhere: no deadlock
                    heard = self.cache.peek(text_key) or (self.cache.load(text_id) if self.cache.disk else None)
                    if heard is None:
                        media, heard = extract(True)
                        self._keep(media_key, media_id, media)
                        if heard.asr_used:   # a failed speech-to-text (empty, with its warning) is not kept
                            self._keep(text_key, text_id, heard)
                    else:
                        self.cache.put(text_key, heard)
        media = self._once(media_key, lambda: extract(False)[0], disk=media_id)
        log.info("clip %s (%s…): %s in %.1f s", Path(path).name, sha[:12], "extracted" if ran else "from the cache",
                 time.perf_counter() - t0)   # benchmarks/app.py counts these lines
        return with_transcript(media, heard if heard is not None else transcript_of(media, typed, False, config))

    def _keep(self, key, ident: Identity, value) -> None:
        """``value`` in the cache under ``key`` (memory) and ``ident`` (disk)."""
        self.cache.put(key, value)
        if self.cache.disk:
            self.cache.save(ident, value)

    def extract_config(self, **overrides):
        """Extraction settings for uploads: the main checkpoint's, with the app's limits."""
        try:
            p = self.predictor("main")
            base = p.extract_config
        except ValueError:
            from ..extract import ExtractConfig
            base = ExtractConfig
        settings = {"max_duration_s": self.options.max_duration_s, "max_file_mb": self.options.max_upload_mb,
                    "asr": self.options.asr}
        settings.update(overrides)
        return base(**settings)


# extraction settings that do not change a clip's features: left out of its cache identity
NOT_MEDIA = ("asr", "asr_model", "asr_compute_type", "asr_threads", "max_file_mb")


def clip_identities(sha: str, config, name: str = "") -> tuple[Identity, Identity]:
    """(media, transcript): what an uploaded file's extraction is cached by: the file's SHA-256 and the settings each
    part depends on (the transcript: the speech-to-text model and the seconds analysed)."""
    settings = dataclasses.asdict(config)
    media = {k: v for k, v in settings.items() if k not in NOT_MEDIA}
    heard = {k: settings[k] for k in ("asr_model", "asr_compute_type", "max_duration_s")}
    return (Identity("clip", {"file": sha, "settings": media}, name=name),
            Identity("transcript", {"file": sha, "settings": heard}, name=name))


def _ids_hash(ctx: AppContext, key: str, split: str) -> str:
    import hashlib
    return hashlib.sha256("\n".join(ctx.split_view(key, split).preds.ids).encode()).hexdigest()


def _short(e: Exception) -> str:
    text = str(e).split("\n")[0]
    return text if len(text) < 200 else text[:197] + "…"
