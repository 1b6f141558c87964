"""What the app holds between requests: the loaded checkpoints, per-split predictions and ablations, the UMAP maps,
and the background warm-up that prepares them so no user waits for a first-time cost.

Everything expensive is computed once per (checkpoint, split) behind a per-key lock: the warm-up thread and a user's
request asking for the same thing share one computation. UMAP maps are never computed in a request: a view that needs
one not ready yet starts it in the background and says so (``projection_state``).
"""
from __future__ import annotations

import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..checkpoint import DEFAULT_PAIR

log = logging.getLogger("fdcmdie.app")

SPLITS = ("test", "valid", "train")


@dataclass
class AppOptions:
    """Command-line settings of the app (see app.py)."""

    # default pair (fdcmdie/checkpoint.py DEFAULT_PAIR): MOSI standard split, text only, top-2 MiniLM layers
    # fine-tuned, d = 256: the text-path ladder's best recipe by validation in docs/RESULTS.md. It reads one modality,
    # so the representation space shows no cross-modal pairs: pass checkpoints/mosi-std-ta-ft (and -nocl; text +
    # audio) or checkpoints/mosi-honest-tav-ft (and -nocl; T+V+A, selected and tested on Poria's test half, where the
    # 3D-CNN video vectors carry almost no signal) as --checkpoint/--compare-checkpoint to map those feature sets
    checkpoint: str = DEFAULT_PAIR[0]
    compare_checkpoint: str | None = DEFAULT_PAIR[1]
    # more checkpoints the explorer and case studies offer (MOSEI: the paper's second dataset); a folder that is not
    # there is left out. Only the main/compare pair is drawn in the representation space.
    browse_checkpoints: tuple[str, ...] = ("checkpoints/mosi-std-ta-ft", "checkpoints/mosi-honest-tav-ft",
                                           "checkpoints/mosei-t")
    # --data: None = each checkpoint reads the data it was trained on (MOSI/MOSEI: $FDCMDIE_DATA, else the shipped
    # data/ folder; an MMSA-trained one: the pickle it stored). A folder holding mosi/ and mosei/, or an MMSA pickle
    # (or its folder), replaces it for the checkpoints it fits (fdcmdie/data/location.py data_override)
    data: str | None = None
    cache_dir: str = ".cache/fdcmdie"
    results: str = "docs/RESULTS.md"
    umap_max_samples: int | None = 800   # samples per split on a map (test splits are smaller: all of them)
    umap_epochs: int = 200
    max_upload_mb: float = 50.0
    max_duration_s: float = 30.0         # longer clips: only the first seconds are analysed (with a warning)
    asr: bool = True
    warm_up: bool = True
    warm_up_extract: bool = True         # also pay the clip extractor's start-up costs in the background
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
        """The label plus the data the checkpoint reads, for the model / dataset chooser."""
        if self.predictor is None:
            return self.label
        cfg = self.predictor.cfg
        data = {"mosi": f"CMU-MOSI, {cfg.data.split} split", "mosei": "CMU-MOSEI",
                "mmsa": f"MMSA pickle {Path(cfg.data.path).name}"}.get(cfg.data.source, cfg.data.source)
        mods = "+".join(m.upper() for m in self.predictor.modalities)
        return f"{self.label} · {data} · {mods}"


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


@dataclass
class WarmUp:
    steps: list[Step] = field(default_factory=list)
    started: float = 0.0
    finished: float | None = None
    thread: threading.Thread | None = None

    @property
    def done(self) -> bool:
        return self.finished is not None or not self.steps

    def markdown(self) -> str:
        if not self.steps:
            return "Warm-up is off: the first request of each kind pays its own start-up cost."
        if self.done:
            failed = [s for s in self.steps if s.state == "failed"]
            text = f"**Ready** — background warm-up finished in {self.finished - self.started:.0f} s."
            if failed:
                text += " Not available: " + "; ".join(f"{s.name} ({s.detail})" for s in failed)
            return text
        n_done = sum(s.state in ("done", "failed", "skipped") for s in self.steps)
        cur = next((s for s in self.steps if s.state == "running"), None)
        now = f"{cur.name} … {time.time() - cur.t0:.0f} s" if cur else "starting"
        return (f"**Warming up in the background** ({n_done}/{len(self.steps)} steps, "
                f"{time.time() - self.started:.0f} s): {now}. Everything already works; maps appear when ready.")


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
        self._locks: dict = {}
        self._locks_guard = threading.Lock()
        self._memo: dict = {}
        self._running: set = set()
        self._bg_errors: dict = {}
        self.warmup = WarmUp()
        self.upload_lock = threading.Semaphore(1)   # clip extraction: one at a time on a small CPU
        self._fit_lock = threading.Lock()            # UMAP fits one at a time (CPU-bound; numba compiles once)

    # ------------------------------------------------------------------------------------ plumbing

    def _lock(self, key) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    def _once(self, key, fn):
        """fn() computed once per key; concurrent callers wait for the same computation. Errors are not cached."""
        if key in self._memo:
            return self._memo[key]
        with self._lock(key):
            if key not in self._memo:
                self._memo[key] = fn()
            return self._memo[key]

    def ready(self, key) -> bool:
        return key in self._memo

    # -------------------------------------------------------------------------------------- models

    def load_models(self) -> None:
        for key in list(self.slots):
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
        with self._lock(("load", key)):
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
        return [(self.slots[k].choice_label, k) for k in self.model_keys()]

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

    def split_view(self, key: str, split: str) -> SplitView:
        """Predictions + ablations of one split for one model (cached); ValueError/DataError when unavailable."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        p = self.predictor(key)

        def build() -> SplitView:
            from ..explain.cases import disagreement, explain_variants, split_ablations
            preds = p.predict_split(split, data_root=self.data_root(key))
            abl = split_ablations(p, split, data_root=self.data_root(key), variants=explain_variants(p.modalities))
            return SplitView(preds=preds, ablations=abl, error=np.abs(preds.pred - preds.label),
                             disagree=disagreement(preds, abl, kind="text vs full"),
                             row_of={i: r for r, i in enumerate(preds.ids)})

        return self._once(("split", key, split), build)

    def shapley(self, key: str, split: str):
        """Exact modality Shapley values of every sample of a split (explain.shapley.ModalityShapley), cached."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        p = self.predictor(key)

        def build():
            from ..explain.shapley import split_shapley
            return split_shapley(p, split, data_root=self.data_root(key))

        return self._once(("shapley", key, split), build)

    def raw_inputs(self, key: str, split: str, row: int) -> tuple[str, np.ndarray | None, np.ndarray | None]:
        """(text, acoustic frames, visual frames) of a dataset sample, un-normalised, as Predictor.what_if wants."""
        p = self.predictor(key)
        part = p.dataset(self.data_root(key)).split(split)
        pick = lambda seqs: None if seqs is None else seqs[row]
        return part.texts[row], pick(part.audio), pick(part.vision)

    # ----------------------------------------------------------------------------------- projections

    def projection_params(self, method: str = "umap") -> dict:
        return {"max_samples": self.options.umap_max_samples, "n_epochs": self.options.umap_epochs,
                **({"method": method} if method != "umap" else {})}

    @staticmethod
    def _proj_key(key: str, split: str, method: str = "umap") -> tuple:
        return ("proj", key, split) if method == "umap" else ("proj", key, split, method)

    def _fit_projection(self, key: str, split: str, method: str = "umap"):
        from ..explain.projections import ProjectionCache
        view = self.split_view(key, split)
        p = self.predictor(key)
        cache = ProjectionCache(Path(self.options.cache_dir) / method)  # one folder per method: umap/, pca/, tsne/
        with self._fit_lock:
            proj, cached = cache.get_or_fit(p.path, split, view.preds.ids, view.preds.features["decoupled"],
                                            **self.projection_params(method))
        log.info("%s %s/%s: %s (%.1f s)", proj.label, key, split, "from cache" if cached else "fitted", proj.seconds)
        return proj

    def projection(self, key: str, split: str, method: str = "umap"):
        """The fitted map (computes it in this thread when needed: background jobs and tests only)."""
        return self._once(self._proj_key(key, split, method), lambda: self._fit_projection(key, split, method))

    def geometry(self, key: str, split: str):
        """The CL-effect numbers of one split (fdcmdie.explain.geometry.space_report), computed once."""
        from ..explain.geometry import space_report
        return self._once(("geometry", key, split),
                          lambda: space_report(self.split_view(key, split).preds.features["decoupled"]))

    def sample_space(self, key: str, split: str):
        """Nearest-neighbour index of one split's samples in the shared and private spaces (built once)."""
        from ..explain.geometry import SampleSpace
        return self._once(("neighbours", key, split),
                          lambda: SampleSpace(self.split_view(key, split).preds.features["decoupled"]))

    def projection_state(self, key: str, split: str, method: str = "umap") -> str:
        """"ready" | "computing" | "failed: reason" | "idle"."""
        k = self._proj_key(key, split, method)
        if k in self._memo:
            return "ready"
        if k in self._running:
            return "computing"
        if k in self._bg_errors:
            return f"failed: {self._bg_errors[k]}"
        return "idle"

    def request_projection(self, key: str, split: str, method: str = "umap") -> str:
        """Start computing a map (and the split's geometry numbers and neighbour index) in the background unless
        it is ready or on its way; returns the state."""
        k = self._proj_key(key, split, method)
        state = self.projection_state(key, split, method)
        if state in ("ready", "computing"):
            return state
        self._bg_errors.pop(k, None)
        self._running.add(k)

        def job():
            try:
                self.projection(key, split, method)
                self.sample_space(key, split)
                self.geometry(key, split)
            except Exception as e:
                self._bg_errors[k] = _short(e)
                log.warning("%s %s/%s failed: %s\n%s", method, key, split, e, traceback.format_exc())
            finally:
                self._running.discard(k)

        threading.Thread(target=job, name=f"{method}-{key}-{split}", daemon=True).start()
        return "computing"

    # --------------------------------------------------------------------------------------- warm-up

    def warmup_steps(self) -> list[tuple[str, object]]:
        """(name, function) of each warm-up step: the mapped pair's predictions, Shapley values and maps first (what
        the first page and the representation space need), the browse checkpoints' predictions after them."""
        keys = self.map_keys()                                # the pair on the maps first, browse slots after
        browse = [k for k in self.slots if k not in keys]
        split_steps = lambda ks: [step for key in ks for step in (
            (f"test-split predictions ({key})", lambda k=key: self.split_view(k, "test")),
            (f"test-split Shapley values ({key})", lambda k=key: self.shapley(k, "test")))]
        steps: list[tuple[str, object]] = [("loading the checkpoints", self.load_models), *split_steps(keys)]
        steps.append(("compiling UMAP (numba, first time only)", self._warm_umap))
        for key in keys:
            steps.append((f"maps of the test split ({key}: UMAP, PCA{', then t-SNE of every model' if key == keys[-1] else ''})",
                          lambda k=key: self._warm_projection(k)))
        steps += split_steps(browse)
        if self.options.warm_up_extract:
            steps.append(("clip extractor start-up (pitch tracker, face mesh, speech-to-text)", self._warm_extract))
        return steps

    def start_warmup(self) -> WarmUp:
        """Run the warm-up steps in a daemon thread; ``self.warmup`` reports progress."""
        steps = self.warmup_steps()
        self.warmup = WarmUp(steps=[Step(name) for name, _ in steps], started=time.time())

        def run():
            for step, (_, fn) in zip(self.warmup.steps, steps):
                step.state, step.t0 = "running", time.time()
                try:
                    fn()
                    step.state = "done"
                except Exception as e:
                    step.state, step.detail = "failed", _short(e)
                    log.info("warm-up step %r failed: %s", step.name, e)
                    log.debug(traceback.format_exc())
                step.seconds = time.time() - step.t0
            self.warmup.finished = time.time()
            log.info("warm-up finished in %.1f s", self.warmup.finished - self.warmup.started)

        self.warmup.thread = threading.Thread(target=run, name="fdcmdie-warmup", daemon=True)
        self.warmup.thread.start()
        return self.warmup

    def _warm_umap(self) -> None:
        from ..explain.projections import warm_up_umap
        self._once(("umap-compiled",), warm_up_umap)

    def _warm_projection(self, key: str) -> None:
        k = ("proj", key, "test")
        self._running.add(k)
        try:
            proj = self.projection(key, "test")
        except Exception as e:
            self._bg_errors[k] = str(e)
            raise
        finally:
            self._running.discard(k)
        view = self.split_view(key, "test")
        proj.transform({f: v[0] for f, v in view.preds.features["decoupled"].items()})  # transform warm
        self.projection(key, "test", "pca")  # milliseconds
        self.sample_space(key, "test")
        self.geometry(key, "test")           # seconds (cross-validated logistic regressions)
        if key == self.map_keys()[-1]:       # t-SNE (tens of seconds) after every model's UMAP map is there
            for k in self.map_keys():
                self.projection(k, "test", "tsne")

    def _warm_extract(self) -> None:
        from ..extract import warmup
        warmup(self.extract_config())

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


def _short(e: Exception) -> str:
    text = str(e).split("\n")[0]
    return text if len(text) < 200 else text[:197] + "…"
