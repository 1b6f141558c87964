"""The checkpoints the app offers (main, compare and the browse checkpoints), each in a ``ModelSlot``: its labels and
config read from config.json without loading it (``CheckpointInfo``), loading on first use with a readable reason when
it cannot, and the data each one reads (``--data`` where it fits)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..checkpoint import CheckpointInfo
from ..facts import checkpoint_name, cl_label
from .options import AppOptions

log = logging.getLogger("fdcmdie.app")

PAIR = ("main", "compare")   # the slots of the checkpoint pair compared side by side (and drawn in the space)


@dataclass
class ModelSlot:
    key: str                 # "main" | "compare" | a browse checkpoint's folder name
    path: str
    predictor: object | None = None
    error: str | None = None
    _info: list = field(default_factory=list, repr=False)   # [CheckpointInfo | None] once config.json was read

    @property
    def short_label(self) -> str:
        """The checkpoint folder's name (a run folder's when the path ends in checkpoint/); needs no loading."""
        return checkpoint_name(self.path)

    @property
    def config(self):
        """The checkpoint's Config: the loaded predictor's, else its config.json's (CheckpointInfo, read once, no
        weights loaded); None when the folder holds no readable checkpoint."""
        if self.predictor is not None:
            return self.predictor.cfg
        if not self._info:
            self._info.append(CheckpointInfo.maybe(self.path))
        return self._info[0].config if self._info[0] is not None else None

    @property
    def label(self) -> str:
        if self.predictor is None:
            return f"{self.short_label} (not loaded)"
        return f"{self.predictor.name} ({cl_label(self.predictor.cfg.loss.contrastive)})"

    @property
    def choice_label(self) -> str:
        """The label plus the data the checkpoint reads, for the model / dataset chooser (from config.json when the
        checkpoint is not loaded yet: the chooser does not load browse checkpoints)."""
        cfg = self.config
        if cfg is None:
            return self.label
        name = self.predictor.name if self.predictor is not None else self.short_label
        data = {"mosi": f"CMU-MOSI, {cfg.data.split} split", "mosei": "CMU-MOSEI",
                "mmsa": f"MMSA pickle {Path(cfg.data.path).name}"}.get(cfg.data.source, cfg.data.source)
        mods = "+".join(m.upper() for m in cfg.model.modalities)
        return f"{name} ({cl_label(cfg.loss.contrastive)}) · {data} · {mods}"


def make_slots(options: AppOptions, predictors: dict | None = None) -> dict[str, ModelSlot]:
    """The slots of the main / compare pair, the browse checkpoints whose folder holds a checkpoint, and the
    ``predictors`` given directly (tests)."""
    slots: dict[str, ModelSlot] = {}
    for key, path in {"main": options.checkpoint, "compare": options.compare_checkpoint}.items():
        if path:
            slots[key] = ModelSlot(key, str(path))
    for path in options.browse_checkpoints or ():
        key = checkpoint_name(path)
        if key not in slots and (Path(path) / "config.json").is_file():
            slots[key] = ModelSlot(key, str(path))
    for key, p in (predictors or {}).items():
        slots[key] = ModelSlot(key, str(getattr(p, "path", key)), predictor=p)
    return slots


class Models:
    """AppContext's checkpoints (a mixin over ``options``, ``slots``, ``cache`` and ``_loaded``)."""

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
                    slot.predictor = Predictor.load(slot.path, device=self.options.device, cache=self.cache)
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
        return [k for k in self.slots if k in PAIR]

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
        cfg = slot.config if slot is not None else None
        return (cfg.data.source, cfg.data.path) if cfg is not None else ("mosi", "")

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
