"""What the app computes over the dataset splits, each once through the one cache (fdcmdie/cache.py ``ResultCache``,
``AppContext.cache``): a split's predictions and ablations (``SplitView``), Shapley values, word attributions, the
maps (projections), their hover texts, neighbour index and geometry numbers. The expensive ones are also kept on disk,
keyed (``identity``) by the content of the checkpoint, of the text encoder's weights and of the data files and by the
method's parameters. Maps are never computed in a request: a view that needs one not ready yet starts it in the
background (``request_projection``) and says so (``projection_state``)."""
from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass

import numpy as np

from ..cache import Identity, checkpoint_hash, files_hash, register
from ..facts import check_split

log = logging.getLogger("fdcmdie.app")


@register
@dataclass
class SplitView:
    """One split as the explorer sees it: predictions plus modality ablations and derived columns."""

    preds: object                       # evaluate.Predictions
    ablations: dict[str, np.ndarray]    # {"t": text-only, "va": voice+face only, …}
    error: np.ndarray                   # |pred − label|
    disagree: np.ndarray                # text-only and full prediction differ in sign
    row_of: dict[str, int]


class Results:
    """AppContext's computed results (a mixin over ``cache``, ``slots``, ``options``, ``jobs``, ``_bg_errors``,
    ``_fit_lock`` and the Models and Jobs mixins' methods)."""

    # ------------------------------------------------------------------------------------ plumbing

    def _once(self, key, fn, disk=None):
        """fn() computed once per key (memory; ``disk``: also kept on disk, see ResultCache.get)."""
        return self.cache.get(key, fn, disk=disk)

    def ready(self, key) -> bool:
        return self.cache.ready(key)

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
        check_split(split)
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
        check_split(split)
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

        def fit():                                    # a miss in memory and on disk: only then compile and fit
            if method == "umap":
                self._warm_umap()
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
        self.projection(key, split, method)
        self.hover(key, split, method)
        self.sample_space(key, split)
        self.geometry(key, split)


def _ids_hash(ctx: Results, key: str, split: str) -> str:
    return hashlib.sha256("\n".join(ctx.split_view(key, split).preds.ids).encode()).hexdigest()

