"""The one inference API of the project: the app, the analyses in :mod:`fdcmdie.explain` and the report all run the
network through ``Predictor``.

```python
p = Predictor.load("runs/mosi-s1/checkpoint")
[e] = p.predict(["i really loved it"], audio=[frames])        # one Explanation per text
e.pred, e.polarity, e.class7, e.alpha, e.used, e.ignored
e = p.predict_clip(extract_clip("review.mp4", config=p.extract_config()))   # an uploaded clip
before, after = p.what_if("i loved it", audio=frames, drop={"a"})            # original vs modified input
preds = p.predict_split("test")                                              # evaluate.Predictions, cached
text_only = p.run("test", keep="t")                                          # a split with only the text kept
t = p.trace("i loved it", audio=frames)                                      # every stage of the forward pass
```

Inputs (:mod:`.inputs`): texts go through the checkpoint's text path; acoustic / visual inputs are (l, d) frame
arrays, un-normalised by default; ``None``, an empty array, an empty text or a modality named in ``drop`` is
*missing* (all-False mask, exactly as in training, so GAP gives it α = 0). Clips (:mod:`.clips`): which extracted
features of an upload the checkpoint can read. Analyses: :meth:`Predictor.run` runs a split, a ``SampleSet`` or
batches with chosen modalities kept; :meth:`Predictor.split_batches` gives a split's model-ready batches (e.g. to
noise them); :meth:`Predictor.word_path` is what integrated gradients need (:mod:`.gradients`);
:meth:`Predictor.trace` returns every stage of the forward pass for one input (:mod:`.trace`).

User-input problems raise ``ValueError`` with a plain message (wrong feature width, nothing left to predict from,
an empty text for a text-only checkpoint, ...); the app shows the message.
"""
from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np
import torch

from ..cache import ResultCache
from ..checkpoint import check_fits, load_checkpoint
from ..config import Config, model_dims
from ..data import Dataset, Normalizer, SampleSet, load_dataset, prepare, text_inputs
from ..data.base import Batch
from ..devices import resolve_device
from ..evaluate import Predictions, forward_batches, predict
from ..facts import MODALITIES, check_split, checkpoint_folder, checkpoint_name, class7, polarity
from ..model import FDCMDIE
from ..text_encoder import load_encoder
from . import clips
from .gradients import WordPath, encoder_parts, word_path, words_of
from .inputs import build_batch, check_drop, check_keep
from .threads import SMALL_BATCH, threads
from .trace import Trace, trace_batch

if TYPE_CHECKING:  # the extractor pulls heavy media libraries; only predict_clip needs its objects
    from ..extract import ClipFeatures, ExtractConfig


@dataclass
class Explanation:
    """One prediction and what it rests on. Modality order is always t, v, a (those of the checkpoint)."""

    pred: float                      # sentiment intensity, about [-3, 3]
    polarity: str                    # "positive" | "negative" | "neutral" (pred == 0)
    class7: int                      # round(clip(pred, -3, 3)), -3..3 (np.round, as Acc-7)
    modalities: list[str]            # the checkpoint's modalities
    present: list[bool]              # which of them this input had
    alpha: np.ndarray | None         # (k, M) GAP weights per CMDIE layer (0 for a missing modality); None w/o CMDIE
    gates: np.ndarray | None         # (k, M) GAP gates per layer
    features: dict                   # {"decoupled": {Ts..Ad: (d,)}, "cmdie": {G_T/G_V/G_A (G_{X→G}), Td..Ad, G: (d,)}, "extracted": {m: (d,)}}
    used: list[str]                  # modalities the prediction used
    ignored: dict[str, str] = field(default_factory=dict)  # modality -> why it was not used (every one of t, v, a)
    text: str = ""                   # the text that was read

    def weights(self) -> dict[str, float] | None:
        """GAP weight of each modality in the last CMDIE layer (None without CMDIE)."""
        if self.alpha is None:
            return None
        return {m: float(w) for m, w in zip(self.modalities, self.alpha[-1])}

    def to_dict(self) -> dict:
        """JSON-friendly copy (arrays as lists)."""
        lst = lambda a: None if a is None else np.asarray(a).tolist()
        return {"pred": self.pred, "polarity": self.polarity, "class7": self.class7, "modalities": list(self.modalities),
                "present": list(self.present), "alpha": lst(self.alpha), "gates": lst(self.gates),
                "used": list(self.used), "ignored": dict(self.ignored), "text": self.text,
                "features": {g: {k: lst(v) for k, v in fs.items()} for g, fs in self.features.items()}}


class Predictor:
    """A loaded checkpoint ready for single inputs, clips, what-if comparisons, whole splits and analyses."""

    def __init__(self, model: FDCMDIE, cfg: Config, normalizer: Normalizer, meta: dict, *, name: str = "",
                 path: str | Path | None = None, device: str | torch.device = "cpu", threads: int | None = 1,
                 cache: ResultCache | None = None):
        self.model, self.cfg, self.normalizer, self.meta = model.eval(), cfg, normalizer, meta or {}
        self.threads = threads  # intra-op CPU threads for a few inputs (None: torch's setting); see compute_threads
        self.name = name or (Path(path).name if path else "model")
        self.path = Path(path) if path else None
        self.device = torch.device(device)
        self.modalities: list[str] = list(cfg.model.modalities)
        self.text_cfg = copy.deepcopy(cfg)
        self.text_cfg.train.cache_dir = None  # single inputs are not written to the on-disk feature cache
        # the one cache layer (fdcmdie/cache.py): this predictor's datasets, model-ready splits and split predictions
        # are kept, once per key behind a per-key lock, in ``cache`` — the app's (AppContext hands its own to the
        # predictors it loads, so a split's predictions live in one place), or one of its own, in memory
        self.cache = cache if cache is not None else ResultCache(disk=False)
        self._token = object()   # this predictor's part of the keys (several predictors share the app's cache)

    # ------------------------------------------------------------------------------------------ loading

    @classmethod
    def load(cls, checkpoint_dir: str | Path, *, device: str | torch.device = "cpu", threads: int | None = 1,
             cache: ResultCache | None = None) -> "Predictor":
        """Read a checkpoint folder (``model.safetensors`` + ``config.json``). A run folder holding
        ``checkpoint/`` is accepted too; the name is the run's. ``threads``: CPU threads for single inputs (one is
        fastest for one sample: several threads on tiny matrices mostly wait for each other, badly so on a busy
        machine); None leaves torch's setting alone. ``cache``: where its datasets and split predictions are kept
        (default: its own, in memory)."""
        path = checkpoint_folder(checkpoint_dir)
        device = resolve_device(device)
        model, cfg, normalizer, meta = load_checkpoint(path, device=device)
        return cls(model, cfg, normalizer, meta, name=checkpoint_name(path), path=path, device=device, threads=threads,
                   cache=cache)

    def warmup(self) -> None:
        """Load the text encoder and run one forward pass, so the first real request is fast."""
        m = self.cfg.model
        text = "warm up" if self.cfg.data.text_source == "transcript" else np.zeros((1, m.text_dim), np.float32)
        self.predict([text], audio=[np.zeros((1, m.audio_dim), np.float32)] if "a" in self.modalities else None,
                     vision=[np.zeros((1, m.vision_dim), np.float32)] if "v" in self.modalities else None)

    def describe(self) -> dict:
        """What the app shows about the checkpoint (notes in words: the extractor record is summarised)."""
        m = self.cfg.model
        notes = [clips.readable_note(n) for n in self.meta.get("notes", []) if isinstance(n, str)]
        return {"name": self.name, "dataset": self.meta.get("dataset", self.cfg.data.source),
                "modalities": self.modalities, "text_encoder": m.text_encoder if "t" in self.modalities else None,
                "d": m.d, "k": m.k if m.use_cmdie else 0, "pooling": m.pooling, "notes": notes,
                "extract": self.extract_marker(), "clip_support": self.clip_support()}

    @contextmanager
    def compute_threads(self, n: int | None = None):
        """Run the block with this predictor's thread setting for a few inputs (``threads``), on CPU and when ``n``
        (the number of inputs, None: one input's analyses) is at most SMALL_BATCH; else torch's own setting."""
        few = (n is None or n <= SMALL_BATCH) and self.device.type == "cpu"
        with threads(self.threads if few else None):
            yield

    # --------------------------------------------------------------------------------- single inputs

    def predict(self, texts: Sequence[str], *, audio: Sequence[np.ndarray | None] | None = None,
                vision: Sequence[np.ndarray | None] | None = None, drop: Iterable[str] = frozenset(),
                raw: bool = True) -> list[Explanation]:
        """One :class:`Explanation` per text. ``audio`` / ``vision``: one (l, d) array or None per text (or None for
        all); ``drop``: modalities to mark missing for every input; ``raw``: apply the checkpoint's normalisation."""
        if isinstance(texts, str):
            raise ValueError("texts must be a list of strings (one per input), not a single string")
        texts = list(texts)
        drop = check_drop(drop)
        return self._run(texts, audio, vision, [drop] * len(texts), raw=raw)

    def what_if(self, text: str, audio: np.ndarray | None = None, vision: np.ndarray | None = None, *,
                drop: Iterable[str] = frozenset(), edited_text: str | None = None,
                raw: bool = True) -> tuple[Explanation, Explanation]:
        """(original, modified): the modified input has ``drop`` marked missing and ``edited_text`` (if given) in
        place of ``text``. Both go through the model in one batch."""
        drop = check_drop(drop)
        new_text = text if edited_text is None else edited_text
        original, modified = self._run([text, new_text], [audio, audio], [vision, vision], [set(), drop], raw=raw,
                                       labels=("original input", "modified input"))
        return original, modified

    def batch(self, texts: Sequence[str], *, audio: Sequence[np.ndarray | None] | None = None,
              vision: Sequence[np.ndarray | None] | None = None, drop: Iterable[str] = frozenset(),
              raw: bool = True) -> Batch:
        """The model-ready ``Batch`` that :meth:`predict` would run for these inputs (same checks, same masks), for
        :meth:`run` (e.g. the coalitions of Shapley values)."""
        if isinstance(texts, str):
            raise ValueError("texts must be a list of strings (one per input), not a single string")
        texts = list(texts)
        drop = check_drop(drop)
        return build_batch(self, texts, audio, vision, [drop] * len(texts), raw=raw)[0]

    def _run(self, texts: list, audio, vision, drops: list[set], *, raw: bool,
             labels: Sequence[str] | None = None) -> list[Explanation]:
        n = len(texts)
        if n == 0:
            return []
        with self.compute_threads(n):
            batch, samples, reasons = build_batch(self, texts, audio, vision, drops, raw=raw, labels=labels)
            with torch.inference_mode():
                out = self.model(batch.to(self.device))
        return [self._explanation(out, i, samples[i]["text"], reasons[i]) for i in range(n)]

    def _explanation(self, out: dict, i: int, text: str, reasons: dict) -> Explanation:
        mods = self.modalities
        pred = float(out["pred"][i])
        present = [bool(x) for x in out["present"][i].tolist()]
        row = lambda key: out[key][i].detach().cpu().numpy() if key in out else None
        feats = {g: {k: v[i].detach().cpu().numpy() for k, v in out[g].items()}
                 for g in ("decoupled", "cmdie", "extracted") if g in out}
        used = [m for m, p in zip(mods, present) if p]
        ignored = {m: reasons.get(m, "missing") for m in MODALITIES if m not in used}
        return Explanation(pred=pred, polarity=polarity(pred), class7=class7(pred), modalities=list(mods),
                           present=present, alpha=row("alpha"), gates=row("gates"), features=feats, used=used,
                           ignored=ignored, text=text)

    # -------------------------------------------------------------------------------------------- analyses

    def run(self, data: str | SampleSet | Batch | Sequence[Batch], *, keep: Iterable[str] | None = None,
            rows=None, data_root: str | Path | None = None, features: bool = False,
            batch_size: int = 128) -> Predictions:
        """Run the network on ``data`` with only the modalities in ``keep`` (None: all; the others are marked missing
        for every row, exactly as a missing input: GAP gives them α = 0) and return its :class:`Predictions`.

        ``data``: a split name (``rows``: a subset of its rows, in that order; ``data_root`` as in :meth:`dataset`),
        a ``SampleSet`` (``rows`` likewise), a model-ready ``Batch`` (from :meth:`batch` or :meth:`split_batches`)
        or a list of them. ``features``: also return the pooled feature sets (``Predictions.features``)."""
        keep = check_keep(keep)
        if isinstance(data, str):
            data = self.split_samples(data, data_root)
        if isinstance(data, SampleSet):
            return predict(self.model, data, self.cfg, rows=rows, batch_size=batch_size, device=self.device,
                           keep_features=features, keep=keep)
        batches = [data] if isinstance(data, Batch) else list(data)
        with self.compute_threads(sum(len(b) for b in batches)):
            out = forward_batches(self.model, batches, device=self.device, keep=keep, keep_features=features)
        return Predictions(ids=[i for b in batches for i in b.ids], texts=[t for b in batches for t in b.texts],
                           label=torch.cat([b.label for b in batches]).numpy(), **out)

    def split_batches(self, split: str, data_root: str | Path | None = None, *, rows=None, batch_size: int = 128,
                      by_length: bool = False, texts: Sequence[str] | None = None) -> tuple[np.ndarray, list[Batch]]:
        """(rows in batch order, model-ready batches of them) of one split, for analyses that change the inputs
        before :meth:`run` (noise, masks). ``rows``: default all; ``by_length``: sort them by text length first, so a
        batch holds transcripts of similar length (less padding); ``texts``: new transcripts of ``rows`` (in the
        order given), encoded through the checkpoint's text path in place of the split's (to its on-disk cache)."""
        samples = self.split_samples(split, data_root)
        rows = np.arange(len(samples)) if rows is None else np.asarray(rows, dtype=np.int64)
        key = next((k for k in ("text_feats", "text_ids") if k in samples.columns), None)
        if texts is not None:
            if key is None or self.cfg.data.text_source != "transcript":
                raise ValueError(f"{self.name} does not read transcripts: its text cannot be replaced")
            if len(texts) != len(rows):
                raise ValueError(f"texts: got {len(texts)} for {len(rows)} rows")
            column = list(samples.columns[key])
            for r, x in zip(rows, text_inputs(list(texts), self.cfg)[key]):
                column[r] = x
            samples = SampleSet(samples.split, {**samples.columns, key: column})
        if by_length and key is not None:
            lengths = np.array([len(samples.columns[key][r]) for r in rows])
            rows = rows[np.argsort(lengths, kind="stable")]
        dims = model_dims(self.cfg)
        return rows, [samples.batch(rows[s: s + batch_size], dims) for s in range(0, len(rows), batch_size)]

    def words_reason(self) -> str | None:
        """None when this checkpoint reads the words of a transcript, else why it has no words (to attribute)."""
        if "t" not in self.modalities:
            return f"{self.name} does not read text: there are no words to attribute"
        if self.cfg.data.text_source != "transcript":
            return (f"{self.name} reads the MOSI bundle's precomputed text-CNN vectors, not the words: there are no "
                    "words to attribute")
        return None

    def text_gradient_reason(self) -> str | None:
        """None when gradients can reach this checkpoint's words (:meth:`word_path`), else why not."""
        reason = self.words_reason()
        if reason is None:
            try:
                encoder_parts(self.model, self.cfg)
            except ValueError as e:
                reason = str(e)
        return reason

    def words(self, text: str) -> tuple[list[str], list[tuple[int, int]]]:
        """(words, character spans) of ``text`` as this checkpoint's tokenizer reads it (cut at ``max_text_len``)."""
        words, spans, _, _ = words_of(self.cfg, text)
        return words, spans

    def word_path(self, text: str, audio: np.ndarray | None = None, vision: np.ndarray | None = None, *,
                  drop: Iterable[str] = frozenset()) -> WordPath:
        """A differentiable path from the word embeddings of ``text`` to the prediction of this input (``audio`` /
        ``vision`` un-normalised frames or None, ``drop`` as in :meth:`what_if`): what integrated gradients need
        (:mod:`fdcmdie.inference.gradients`). ValueError when the words cannot be reached."""
        reason = self.text_gradient_reason()
        if reason:
            raise ValueError(reason)
        return word_path(self, text, audio, vision, drop=check_drop(drop))

    def trace(self, text: str | np.ndarray | None = None, audio: np.ndarray | None = None,
              vision: np.ndarray | None = None, *, drop: Iterable[str] = frozenset(), raw: bool = True,
              split: str | None = None, row: int | str | None = None, data_root: str | Path | None = None,
              clip: "ClipFeatures | None" = None) -> Trace:
        """Every stage of the forward pass for one input, as numpy arrays (:class:`~fdcmdie.inference.trace.Trace`):

        - ``unimodal`` / ``shared`` / ``private``: {m: (l_m, d)} F_m, the shared and the private sequences of each
          modality (real steps only); ``decoupled``: their pooled vectors {Ts..Ad: (d,)};
        - ``global_source``: the modality each of the L steps of G_s^[0] came from;
        - ``layers``: one :class:`~fdcmdie.inference.trace.LayerTrace` per CMDIE layer with the cross-attention
          weights of each DIPU, ``cross_g[m]`` (L, l_m) (G attending to X_m, eq. 16) and ``cross_x[m]`` (l_m, L)
          (X_m attending to G, eq. 17), CrossAtt-2's likewise, the pooled enhanced globals and private features,
          GAP's gates and α (M,) and the fused global (d,);
        - ``pred``, ``polarity``, ``class7``; ``used`` / ``ignored`` (why a modality was left out); ``tokens``: the
          token of each text step when the text path reads words.

        The input is one of: a dataset sample (``split`` with ``row``, its row number or sample id; ``data_root`` as
        in :meth:`dataset`), an uploaded clip's features (``clip``, as :meth:`predict_clip` takes it; ``text`` then
        overrides its transcript) or a typed input (``text``, ``audio``, ``vision``, ``drop``, ``raw`` as in
        :meth:`predict`). The prediction is :meth:`predict`'s for the same input."""
        reasons: dict[str, str] = {}
        if split is not None:
            if clip is not None or text is not None or audio is not None or vision is not None:
                raise ValueError("trace takes a dataset sample (split, row), a clip or a typed input, not several")
            part = self.split_samples(split, data_root).split       # ids and labels (no predictions needed)
            ids = list(part.ids)
            if isinstance(row, str):
                if row not in ids:
                    raise ValueError(f"no sample {row!r} in the {split} split")
                row = ids.index(row)
            if row is None or not 0 <= int(row) < len(ids):
                raise ValueError(f"row must be a sample id or a row number of the {split} split "
                                 f"(0..{len(ids) - 1}), got {row!r}")
            _, [batch] = self.split_batches(split, data_root, rows=[int(row)])
            reasons = {m: clips.unused_reason(self.modalities, m) for m in MODALITIES if m not in self.modalities}
            reasons.update({m: "the sample has none" for m in batch_missing(batch, self.modalities)})
            text = batch.texts[0]
        else:
            if clip is not None:
                text, audio, vision, drop, reasons = clips.clip_inputs(self, clip, text)
            batch, samples, [reasons_in] = build_batch(self, [text], [audio], [vision], [check_drop(drop)],
                                                      raw=raw, labels=["the input"])
            reasons = {**reasons_in, **reasons}
            text = samples[0]["text"]
        with self.compute_threads():
            t = trace_batch(self.model, batch.to(self.device), tokens=self._tokens(text), text=text)
        t.ignored = {m: reasons.get(m, "missing") for m in MODALITIES if m not in t.used}
        if split is not None:
            t.label, t.sample_id = float(part.labels[int(row)]), str(ids[int(row)])
        return t

    def _tokens(self, text: str) -> list[str] | None:
        """The tokens the text path reads for ``text`` ([CLS] … [SEP]), None without a transcript text path."""
        if not text or "t" not in self.modalities or self.cfg.data.text_source != "transcript":
            return None
        tok, _ = load_encoder(self.cfg.model.text_encoder)
        full = self.cfg.model.text_prefix + text       # as data.text_inputs reads it
        ids = tok([full], truncation=True, max_length=self.cfg.model.max_text_len)["input_ids"][0]
        return tok.convert_ids_to_tokens(ids)

    # ------------------------------------------------------------------------------------------- clips

    def extract_config(self, **overrides) -> "ExtractConfig":
        """Extraction settings for uploads: those the training features were made with (when recorded), so an
        uploaded clip's frames are computed the same way. ``overrides`` (e.g. ``asr=False``) are applied on top."""
        return clips.extract_config(self.meta, **overrides)

    def extract_marker(self) -> dict | None:
        """The ``fdcmdie_extract`` record of the training data (None: not trained on this project's extractor)."""
        return clips.marker_of(self.meta)

    def clip_support(self) -> dict[str, str | None]:
        """Per modality t, v, a: None when an uploaded clip's extracted features can be fed to this checkpoint,
        else the reason they cannot."""
        return clips.clip_support(self)

    def predict_clip(self, clip: "ClipFeatures", transcript: str | None = None) -> Explanation:
        """Predict an extracted clip with the modalities this checkpoint can use; ``ignored`` says why the others
        were left out. ``transcript`` (typed) takes precedence over ``clip.transcript``. Frames beyond the training
        pickle's padded length (``--audio-len`` / ``--vision-len`` of the extract command) are cut, as they were
        there. ValueError when nothing in the clip can be used."""
        text, audio, vision, drop, reasons = clips.clip_inputs(self, clip, transcript)
        [exp] = self._run([text], [audio], [vision], [drop], raw=True, labels=["the clip"])
        exp.ignored.update({m: r for m, r in reasons.items() if m not in exp.used})
        return exp

    # ---------------------------------------------------------------------------------------- datasets

    def dataset(self, data_root: str | Path | None = None) -> Dataset:
        """The checkpoint's own data (its config), cached. ``data_root`` replaces ``data.root`` (the folder holding
        mosi/ and mosei/); for an MMSA-pickle checkpoint it is the pickle, or the folder holding a pickle of the
        same name."""
        def load() -> Dataset:
            cfg = self._data_cfg(data_root)
            ds = load_dataset(cfg)
            check_fits(cfg, ds.dims, ds.name)
            return ds

        return self.cache.get(self._key("dataset", data_root), load)

    def split_samples(self, split: str = "test", data_root: str | Path | None = None) -> SampleSet:
        """Model-ready samples of one split of the checkpoint's data (the checkpoint's normaliser), cached."""
        check_split(split)
        ds = self.dataset(data_root)

        def build() -> SampleSet:
            part = ds.split(split)
            empty = part.subset([])
            only = Dataset(name=ds.name, train=empty, valid=empty, test=part, dims=ds.dims, notes=ds.notes)
            sets, _ = prepare(only, self._data_cfg(data_root), normalizer=self.normalizer)
            return sets["test"]

        return self.cache.get(self._key("samples", data_root, split), build)

    def predict_split(self, split: str = "test", data_root: str | Path | None = None) -> Predictions:
        """Predictions (with features, α and gates) for one split of the checkpoint's data, cached per split."""
        samples = self.split_samples(split, data_root)
        return self.cache.get(self._key("predictions", data_root, split), lambda: self.run(samples, features=True))

    def _key(self, kind: str, data_root, *rest) -> tuple:
        """This predictor's cache key of a ``kind`` of result over ``data_root`` (None: its own data)."""
        return ("predictor", self._token, kind, None if data_root is None else str(data_root), *rest)

    def _data_cfg(self, data_root) -> Config:
        cfg = copy.deepcopy(self.cfg)
        if data_root is not None:
            root = Path(data_root)
            if cfg.data.source == "mmsa":
                cfg.data.path = str(root if root.is_file() or not cfg.data.path else root / Path(cfg.data.path).name)
            else:
                cfg.data.root = str(root)
        return cfg


def batch_missing(batch: Batch, modalities: Sequence[str]) -> list[str]:
    """The modalities the (first) row of ``batch`` does not have."""
    return [m for m in modalities if not bool(batch.mask(m)[0].any())]
