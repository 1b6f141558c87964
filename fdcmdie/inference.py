"""The one inference API of the project: the Gradio app and the report both go through ``Predictor``.

```python
p = Predictor.load("runs/mosi-s1/checkpoint")
[e] = p.predict(["i really loved it"], audio=[frames])        # one Explanation per text
e.pred, e.polarity, e.class7, e.alpha, e.used, e.ignored
e = p.predict_clip(extract_clip("review.mp4", config=p.extract_config()))   # an uploaded clip
before, after = p.what_if("i loved it", audio=frames, drop={"a"})            # original vs modified input
preds = p.predict_split("test")                                              # evaluate.Predictions, cached
```

Inputs. ``texts`` go through :func:`fdcmdie.data.text_inputs` with the checkpoint's config (frozen encoder or the
cached states below the fine-tuned top layers; the encoder comes from the offline package). Acoustic / visual inputs
are (l, d) frame arrays (a (d,) vector is one frame), un-normalised by default (``raw=True``: the checkpoint's
train statistics are applied). ``None``, an empty array, an empty text or a modality named in ``drop`` is *missing*:
its mask is all False, exactly as in training, so GAP gives it the weight α = 0.

Clips. A checkpoint can only use an uploaded clip's acoustic / visual frames when it was trained on the same kind
of features, i.e. on a pickle written by ``python -m fdcmdie extract``. That pickle carries a ``fdcmdie_extract``
record (column names, extraction settings); ``load_mmsa`` passes it on in ``Dataset.notes``, the trainer stores the
notes in the checkpoint's meta, and :meth:`Predictor.clip_support` reads it back
(:func:`fdcmdie.data.mmsa.extract_marker`). Every other checkpoint (the MOSI bundle's openSMILE vectors, MMSA's
COVAREP/Facet frames) predicts a clip from its transcript and says why the rest was ignored.

User-input problems raise ``ValueError`` with a plain message (wrong feature width, nothing left to predict from,
an empty text for a text-only checkpoint, ...); the app shows the message.
"""
from __future__ import annotations

import copy
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np
import torch

from .checkpoint import check_fits, load_checkpoint
from .config import Config
from .data import Dataset, Normalizer, SampleSet, collate, load_dataset, prepare, text_inputs
from .data.mmsa import extract_marker
from .evaluate import Predictions, model_dims, predict
from .model import FDCMDIE

if TYPE_CHECKING:  # the extractor pulls heavy media libraries; only predict_clip needs its objects
    from .extract import ClipFeatures, ExtractConfig

ORDER = ("t", "v", "a")
NAMES = {"t": "text", "v": "visual", "a": "acoustic"}
SEQ_KEY = {"a": "audio", "v": "vision"}
MAX_STEPS = 4096  # the positional encoding's length: text + visual + acoustic steps of one sample
SMALL_BATCH = 8   # up to this many inputs run with Predictor.threads intra-op threads


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


def polarity(pred: float) -> str:
    return "positive" if pred > 0 else "negative" if pred < 0 else "neutral"


def class7(pred: float) -> int:
    return int(np.round(np.clip(pred, -3.0, 3.0))) + 0  # + 0 turns -0 into 0


class Predictor:
    """A loaded checkpoint ready for single inputs, clips, what-if comparisons and whole splits."""

    def __init__(self, model: FDCMDIE, cfg: Config, normalizer: Normalizer, meta: dict, *, name: str = "",
                 path: str | Path | None = None, device: str | torch.device = "cpu", threads: int | None = 1):
        self.model, self.cfg, self.normalizer, self.meta = model.eval(), cfg, normalizer, meta or {}
        self.threads = threads  # intra-op CPU threads for a few inputs (None: torch's setting); see _threads
        self.name = name or (Path(path).name if path else "model")
        self.path = Path(path) if path else None
        self.device = torch.device(device)
        self.modalities: list[str] = list(cfg.model.modalities)
        self._text_cfg = copy.deepcopy(cfg)
        self._text_cfg.train.cache_dir = None  # single inputs are not written to the on-disk feature cache
        self._datasets: dict = {}
        self._splits: dict = {}
        self._samples: dict = {}
        self._lock = threading.RLock()

    # ------------------------------------------------------------------------------------------ loading

    @classmethod
    def load(cls, checkpoint_dir: str | Path, *, device: str | torch.device = "cpu",
             threads: int | None = 1) -> "Predictor":
        """Read a checkpoint folder (``model.safetensors`` + ``config.json``). A run folder holding
        ``checkpoint/`` is accepted too; the name is the run's. ``threads``: CPU threads for single inputs (one is
        fastest for one sample: several threads on tiny matrices mostly wait for each other, badly so on a busy
        machine); None leaves torch's setting alone."""
        path = Path(checkpoint_dir)
        if not (path / "config.json").is_file() and (path / "checkpoint" / "config.json").is_file():
            path = path / "checkpoint"
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        model, cfg, normalizer, meta = load_checkpoint(path, device=device)
        name = path.resolve().parent.name if path.name == "checkpoint" else path.name
        return cls(model, cfg, normalizer, meta, name=name, path=path, device=device, threads=threads)

    def warmup(self) -> None:
        """Load the text encoder and run one forward pass, so the first real request is fast."""
        m = self.cfg.model
        text = "warm up" if self.cfg.data.text_source == "transcript" else np.zeros((1, m.text_dim), np.float32)
        self.predict([text], audio=[np.zeros((1, m.audio_dim), np.float32)] if "a" in self.modalities else None,
                     vision=[np.zeros((1, m.vision_dim), np.float32)] if "v" in self.modalities else None)

    def describe(self) -> dict:
        """What the app shows about the checkpoint (notes in words: the extractor record is summarised)."""
        m = self.cfg.model
        notes = [_readable_note(n) for n in self.meta.get("notes", []) if isinstance(n, str)]
        return {"name": self.name, "dataset": self.meta.get("dataset", self.cfg.data.source),
                "modalities": self.modalities, "text_encoder": m.text_encoder if "t" in self.modalities else None,
                "d": m.d, "k": m.k if m.use_cmdie else 0, "pooling": m.pooling, "notes": notes,
                "extract": self.extract_marker(), "clip_support": self.clip_support()}

    # --------------------------------------------------------------------------------- single inputs

    def predict(self, texts: Sequence[str], *, audio: Sequence[np.ndarray | None] | None = None,
                vision: Sequence[np.ndarray | None] | None = None, drop: Iterable[str] = frozenset(),
                raw: bool = True) -> list[Explanation]:
        """One :class:`Explanation` per text. ``audio`` / ``vision``: one (l, d) array or None per text (or None for
        all); ``drop``: modalities to mark missing for every input; ``raw``: apply the checkpoint's normalisation."""
        if isinstance(texts, str):
            raise ValueError("texts must be a list of strings (one per input), not a single string")
        texts = list(texts)
        drop = _check_drop(drop)
        return self._run(texts, audio, vision, [drop] * len(texts), raw=raw)

    def what_if(self, text: str, audio: np.ndarray | None = None, vision: np.ndarray | None = None, *,
                drop: Iterable[str] = frozenset(), edited_text: str | None = None,
                raw: bool = True) -> tuple[Explanation, Explanation]:
        """(original, modified): the modified input has ``drop`` marked missing and ``edited_text`` (if given) in
        place of ``text``. Both go through the model in one batch."""
        drop = _check_drop(drop)
        new_text = text if edited_text is None else edited_text
        original, modified = self._run([text, new_text], [audio, audio], [vision, vision], [set(), drop], raw=raw,
                                       labels=("original input", "modified input"))
        return original, modified

    def _run(self, texts: list, audio, vision, drops: list[set], *, raw: bool,
             labels: Sequence[str] | None = None) -> list[Explanation]:
        n = len(texts)
        if n == 0:
            return []
        with _threads(self.threads if n <= SMALL_BATCH and self.device.type == "cpu" else None):
            return self._run_inner(texts, audio, vision, drops, raw=raw, labels=labels)

    def batch(self, texts: Sequence[str], *, audio: Sequence[np.ndarray | None] | None = None,
              vision: Sequence[np.ndarray | None] | None = None, drop: Iterable[str] = frozenset(),
              raw: bool = True):
        """The model-ready ``Batch`` that :meth:`predict` would run for these inputs (same checks, same masks), for
        the analyses in :mod:`fdcmdie.explain` that need the model itself (word attributions, Shapley values)."""
        if isinstance(texts, str):
            raise ValueError("texts must be a list of strings (one per input), not a single string")
        texts = list(texts)
        drop = _check_drop(drop)
        return self._batch(texts, audio, vision, [drop] * len(texts), raw=raw, labels=None)[0]

    def _run_inner(self, texts: list, audio, vision, drops: list[set], *, raw: bool, labels) -> list[Explanation]:
        batch, samples, reasons = self._batch(texts, audio, vision, drops, raw=raw, labels=labels)
        with torch.inference_mode():
            out = self.model(batch.to(self.device))
        return [self._explanation(out, i, samples[i]["text"], reasons[i]) for i in range(len(texts))]

    def _batch(self, texts: list, audio, vision, drops: list[set], *, raw: bool, labels):
        """(Batch, sample dicts, reasons per input) for ``_run_inner``; ValueError for unusable inputs."""
        n = len(texts)
        mods = self.modalities
        m_cfg = self.cfg.model
        label = (lambda i: labels[i]) if labels else (lambda i: f"input {i + 1}" if n > 1 else "the input")
        columns = {"a": _per_row(audio, n, "audio"), "v": _per_row(vision, n, "vision")}
        reasons: list[dict[str, str]] = [{} for _ in range(n)]
        for i in range(n):
            for m in ORDER:
                if m not in mods:
                    reasons[i][m] = f"this checkpoint does not use the {NAMES[m]} modality (it reads {_names(mods)})"
        samples = [{"id": str(i), "text": "", "label": 0.0} for i in range(n)]

        # text: a string goes through the encoder; an array is taken as the text features themselves
        text_missing = np.zeros(n, bool)
        for i, t in enumerate(texts):
            if torch.is_tensor(t):
                texts[i] = t = t.detach().cpu().numpy()
            if t is not None and not isinstance(t, (str, np.ndarray)):
                raise ValueError(f"{label(i)}: text must be a string (or an array of text features), "
                                 f"got {type(t).__name__}")
            samples[i]["text"] = t if isinstance(t, str) else ""
        if "t" in mods:
            cnn = self.cfg.data.text_source != "transcript"
            key = "text_ids" if m_cfg.text_finetune_layers < 0 and not cnn else "text_feats"
            placeholder = np.zeros(1, np.int64) if key == "text_ids" else np.zeros((1, m_cfg.text_dim), np.float32)
            source = self._source("t")
            to_encode: dict[int, str] = {}
            for i, t in enumerate(texts):
                if "t" in drops[i]:
                    text_missing[i], reasons[i]["t"] = True, "dropped (what-if)"
                elif isinstance(t, np.ndarray):
                    if key == "text_ids":
                        raise ValueError(f"{label(i)}: this checkpoint fine-tunes the whole text encoder from token "
                                         "ids; give the text as a string")
                    samples[i][key] = _frames(t, m_cfg.text_dim, "t", label(i), source)
                    if samples[i][key] is None:
                        text_missing[i], reasons[i]["t"] = True, "the text features are empty"
                elif cnn:
                    raise ValueError(f"{label(i)}: {self.name} reads the MOSI bundle's precomputed "
                                     f"{m_cfg.text_dim}-d text-CNN vectors, which cannot be computed for typed text; "
                                     "pass a sample's vector (its split's text_feats) instead of a string")
                elif not (t or "").strip():
                    text_missing[i], reasons[i]["t"] = True, "the text is empty"
                else:
                    to_encode[i] = t.strip()
            if to_encode:
                cols = text_inputs(list(to_encode.values()), self._text_cfg)
                for i, s in zip(to_encode, cols[key]):
                    samples[i][key] = s
            for i in range(n):
                if samples[i].get(key) is None:
                    samples[i][key] = placeholder  # masked below: what it holds never reaches the output

        # acoustic / visual
        for m in ("a", "v"):
            if m not in mods:
                continue
            want, source = (m_cfg.audio_dim if m == "a" else m_cfg.vision_dim), self._source(m)
            seqs = []
            for i, x in enumerate(columns[m]):
                arr = _frames(x, want, m, label(i), source)
                if m in drops[i]:
                    arr, reasons[i][m] = None, "dropped (what-if)"
                elif arr is None:
                    reasons[i][m] = f"no {NAMES[m]} input was given" if x is None else f"the {NAMES[m]} input is empty"
                seqs.append(arr)
            if raw:
                seqs = [None if s is None else self.normalizer.apply([s], m)[0] for s in seqs]
            for i, s in enumerate(seqs):
                samples[i][SEQ_KEY[m]] = s

        # nothing left, too long
        for i in range(n):
            if all(m in reasons[i] for m in mods):
                if mods == ["t"] and reasons[i]["t"] == "the text is empty":
                    raise ValueError(f"{label(i)}: the text is empty and this checkpoint reads text only; "
                                     "type what is said")
                why = "; ".join(f"{NAMES[m]}: {reasons[i][m]}" for m in mods)
                raise ValueError(f"{label(i)}: nothing left to predict from ({why})")
            steps = sum(len(samples[i].get(k) if samples[i].get(k) is not None else ())
                        for k in ("text_feats", "text_ids", "audio", "vision"))
            if steps > MAX_STEPS:
                raise ValueError(f"{label(i)}: {steps} time steps in all; the model reads at most {MAX_STEPS} "
                                 "(shorten the clip or subsample its frames)")

        batch = collate(samples, model_dims(self.cfg))
        if "t" in mods and text_missing.any():
            batch = batch.drop("t", torch.from_numpy(text_missing))
        return batch, samples, reasons

    def _explanation(self, out: dict, i: int, text: str, reasons: dict) -> Explanation:
        mods = self.modalities
        pred = float(out["pred"][i])
        present = [bool(x) for x in out["present"][i].tolist()]
        row = lambda key: out[key][i].detach().cpu().numpy() if key in out else None
        feats = {g: {k: v[i].detach().cpu().numpy() for k, v in out[g].items()}
                 for g in ("decoupled", "cmdie", "extracted") if g in out}
        used = [m for m, p in zip(mods, present) if p]
        ignored = {m: reasons.get(m, "missing") for m in ORDER if m not in used}
        return Explanation(pred=pred, polarity=polarity(pred), class7=class7(pred), modalities=list(mods),
                           present=present, alpha=row("alpha"), gates=row("gates"), features=feats, used=used,
                           ignored=ignored, text=text)

    # ------------------------------------------------------------------------------------------- clips

    def extract_config(self, **overrides) -> "ExtractConfig":
        """Extraction settings for uploads: those the training features were made with (when recorded), so an
        uploaded clip's frames are computed the same way. ``overrides`` (e.g. ``asr=False``) are applied on top."""
        from .extract import ExtractConfig

        marker = self.extract_marker() or {}
        known = set(ExtractConfig.__dataclass_fields__)
        settings = {k: v for k, v in (marker.get("config") or {}).items() if k in known}
        settings.update(overrides)
        return ExtractConfig(**settings)

    def extract_marker(self) -> dict | None:
        """The ``fdcmdie_extract`` record of the training data (None: not trained on this project's extractor)."""
        return extract_marker(self.meta.get("notes", []))

    def clip_support(self) -> dict[str, str | None]:
        """Per modality t, v, a: None when an uploaded clip's extracted features can be fed to this checkpoint,
        else the reason they cannot."""
        from .extract import acoustic, visual

        mods, m_cfg = self.modalities, self.cfg.model
        marker = self.extract_marker()
        out: dict[str, str | None] = {}
        for m in ORDER:
            if m not in mods:
                out[m] = f"this checkpoint does not use the {NAMES[m]} modality (it reads {_names(mods)})"
            elif m == "t":
                out[m] = None if self.cfg.data.text_source == "transcript" else (
                    "this checkpoint reads the MOSI bundle's precomputed text-CNN vectors, which cannot be computed "
                    "from a transcript")
            else:
                want = m_cfg.audio_dim if m == "a" else m_cfg.vision_dim
                if marker is None:
                    ex = self.extract_config()
                    width = len(acoustic.columns(ex.acoustic_backend)) if m == "a" else len(visual.VISION_COLUMNS)
                    out[m] = (f"this checkpoint was trained on {self._source(m)}; an uploaded clip's {width}-d "
                              f"{_clip_kind(m, ex)} cannot stand in for them")
                    continue
                recorded = list(marker.get(f"{SEQ_KEY[m]}_columns") or [])
                if m == "a":
                    backend = (marker.get("config") or {}).get("acoustic_backend", "librosa")
                    try:
                        current = list(acoustic.columns(backend))
                    except KeyError:
                        current = []
                else:
                    current = list(visual.VISION_COLUMNS)
                if len(recorded) != want:
                    out[m] = (f"the checkpoint's record of its training features lists {len(recorded)} {NAMES[m]} "
                              f"columns but the model reads {want}; the checkpoint is inconsistent")
                elif recorded != current:
                    out[m] = (f"this checkpoint was trained on {NAMES[m]} features of an older extractor version "
                              f"(columns {recorded[:3]}...); today's extractor computes other columns, so re-extract "
                              "the training clips and retrain")
                else:
                    out[m] = None
        return out

    def predict_clip(self, clip: "ClipFeatures", transcript: str | None = None) -> Explanation:
        """Predict an extracted clip with the modalities this checkpoint can use; ``ignored`` says why the others
        were left out. ``transcript`` (typed) takes precedence over ``clip.transcript``. Frames beyond the training
        pickle's padded length (``--audio-len`` / ``--vision-len`` of the extract command) are cut, as they were
        there. ValueError when nothing in the clip can be used."""
        support = self.clip_support()
        mods = self.modalities
        text = transcript if transcript is not None and transcript.strip() else (clip.transcript or "")
        reasons: dict[str, str] = {}
        inputs: dict[str, np.ndarray | None] = {"a": None, "v": None}
        marker = self.extract_marker() or {}
        for m in ("a", "v"):
            seq = clip.audio if m == "a" else clip.vision
            if m not in mods or support[m] is not None:
                reasons[m] = support[m]
            elif seq is None or len(seq) == 0:
                reasons[m] = _clip_missing_reason(clip, m)
            else:
                mismatch = self._clip_mismatch(clip, m, marker)
                if mismatch:
                    reasons[m] = mismatch
                else:  # cut like the training pickle was (MMSA's 500 acoustic / 375 visual frames by default)
                    inputs[m] = seq[: marker.get(f"{SEQ_KEY[m]}_len") or None]
        if "t" in mods:
            if support["t"] is not None:
                reasons["t"] = support["t"]
            elif not text.strip():
                reasons["t"] = ("no speech recognised — type what is said (the clip has no transcript: "
                                "speech-to-text found no words and none was typed)")
        else:
            reasons["t"] = support["t"]
        if all(m in reasons for m in mods):
            why = "; ".join(f"{NAMES[m]}: {reasons[m]}" for m in mods)
            raise ValueError(f"nothing in this clip can be fed to {self.name} ({why})")
        drop = {m for m in mods if m in reasons}
        [exp] = self._run([text], [inputs["a"]], [inputs["v"]], [drop], raw=True, labels=["the clip"])
        exp.ignored.update({m: r for m, r in reasons.items() if m not in exp.used})
        return exp

    def _clip_mismatch(self, clip: "ClipFeatures", m: str, marker: dict) -> str | None:
        """Why this clip's frames of modality ``m`` differ from the training features (None: they match)."""
        want = self.cfg.model.audio_dim if m == "a" else self.cfg.model.vision_dim
        seq = clip.audio if m == "a" else clip.vision
        if seq.ndim != 2 or seq.shape[1] != want:
            return (f"the clip's {NAMES[m]} frames are {seq.shape[-1]}-d but this checkpoint reads {want}-d; extract "
                    "the clip with Predictor.extract_config()")
        cols = list(clip.audio_columns if m == "a" else clip.vision_columns)
        recorded = list(marker.get(f"{SEQ_KEY[m]}_columns") or [])
        if cols and recorded and cols != recorded:
            return (f"the clip's {NAMES[m]} columns differ from the training features' (another extraction backend?); "
                    "extract the clip with Predictor.extract_config()")
        hop = (marker.get("config") or {}).get("audio_hop_s")
        if m == "a" and hop and abs(float(clip.audio_hop_s) - float(hop)) > 1e-9:
            return (f"the clip's acoustic frames are {clip.audio_hop_s} s apart but the training features were "
                    f"{hop} s apart; extract the clip with Predictor.extract_config()")
        return None

    def _source(self, m: str) -> str:
        """The training features of modality a or v, in words (for reasons and error messages)."""
        m_cfg, dataset = self.cfg.model, str(self.meta.get("dataset") or "")
        if m == "t":
            if self.cfg.data.text_source != "transcript":
                return f"the MOSI bundle's {m_cfg.text_dim}-d text-CNN vectors"
            layer = "last layer" if m_cfg.text_finetune_layers == 0 else f"layer L-{m_cfg.text_finetune_layers}"
            return f"{m_cfg.text_dim}-d token states ({layer}) of the {m_cfg.text_encoder} encoder"
        width = m_cfg.audio_dim if m == "a" else m_cfg.vision_dim
        notes = [n for n in self.meta.get("notes", []) if isinstance(n, str)]
        source = self.cfg.data.source
        if source == "mosi" or dataset.startswith("mosi"):
            kind = "openSMILE utterance vectors" if m == "a" else "3D-CNN utterance vectors"
            return f"the MOSI bundle's {width}-d {kind}"
        if self.extract_marker() is not None:
            return f"{width}-d {NAMES[m]} frames from `python -m fdcmdie extract`"
        genuine = next((n.split("genuine MMSA ", 1)[1] for n in notes if "genuine MMSA " in n), None)
        if source == "mmsa" and genuine:
            kind = "COVAREP frames" if m == "a" else "Facet frames"
            return f"MMSA's {width}-d {kind} ({genuine})"
        where = dataset or Path(self.cfg.data.path).name or source
        return (f"{width}-d {NAMES[m]} features of {where} with no record of being made by `python -m fdcmdie "
                "extract` (features from it carry one)")

    # ---------------------------------------------------------------------------------------- datasets

    def dataset(self, data_root: str | Path | None = None) -> Dataset:
        """The checkpoint's own data (its config), cached. ``data_root`` replaces ``data.root`` (the folder holding
        mosi/ and mosei/); for an MMSA-pickle checkpoint it is the pickle, or the folder holding a pickle of the
        same name."""
        key = None if data_root is None else str(data_root)
        with self._lock:
            if key not in self._datasets:
                cfg = self._data_cfg(data_root)
                ds = load_dataset(cfg)
                check_fits(cfg, ds.dims, ds.name)
                self._datasets[key] = ds
            return self._datasets[key]

    def split_samples(self, split: str = "test", data_root: str | Path | None = None) -> SampleSet:
        """Model-ready samples of one split of the checkpoint's data (the checkpoint's normaliser), cached."""
        if split not in ("train", "valid", "test"):
            raise ValueError(f"split must be train, valid or test, got {split!r}")
        key = (split, None if data_root is None else str(data_root))
        ds = self.dataset(data_root)
        with self._lock:
            if key not in self._samples:
                part = ds.split(split)
                empty = part.subset([])
                only = Dataset(name=ds.name, train=empty, valid=empty, test=part, dims=ds.dims, notes=ds.notes)
                sets, _ = prepare(only, self._data_cfg(data_root), normalizer=self.normalizer)
                self._samples[key] = sets["test"]
            return self._samples[key]

    def predict_split(self, split: str = "test", data_root: str | Path | None = None) -> Predictions:
        """Predictions (with features, α and gates) for one split of the checkpoint's data, cached per split."""
        samples = self.split_samples(split, data_root)
        key = (split, None if data_root is None else str(data_root))
        with self._lock:
            if key not in self._splits:
                self._splits[key] = predict(self.model, samples, self.cfg, device=self.device)
            return self._splits[key]

    def _data_cfg(self, data_root) -> Config:
        cfg = copy.deepcopy(self.cfg)
        if data_root is not None:
            root = Path(data_root)
            if cfg.data.source == "mmsa":
                cfg.data.path = str(root if root.is_file() or not cfg.data.path else root / Path(cfg.data.path).name)
            else:
                cfg.data.root = str(root)
        return cfg


# ---------------------------------------------------------------------------------------------- helpers

_thread_lock = threading.Lock()
_thread_users = 0
_saved_threads = 0


@contextmanager
def _threads(n: int | None):
    """Run the block with ``n`` intra-op threads (process-wide, restored when the last concurrent user leaves)."""
    global _thread_users, _saved_threads
    if not n:
        yield
        return
    with _thread_lock:
        if _thread_users == 0:
            _saved_threads = torch.get_num_threads()
            if _saved_threads != n:
                torch.set_num_threads(n)
        _thread_users += 1
    try:
        yield
    finally:
        with _thread_lock:
            _thread_users -= 1
            if _thread_users == 0 and torch.get_num_threads() != _saved_threads:
                torch.set_num_threads(_saved_threads)


def _names(mods: Iterable[str]) -> str:
    return ", ".join(NAMES[m] for m in mods)


def _check_drop(drop: Iterable[str]) -> set[str]:
    if isinstance(drop, str):
        drop = {drop}
    drop = set(drop or ())
    bad = sorted(drop - set(ORDER))
    if bad:
        raise ValueError(f"drop must name modalities among t, v, a; got {bad}")
    return drop


def _per_row(values, n: int, what: str) -> list:
    if values is None:
        return [None] * n
    if isinstance(values, np.ndarray) or torch.is_tensor(values):
        raise ValueError(f"{what} must be a list with one array (or None) per text, not a single array")
    values = list(values)
    if len(values) != n:
        raise ValueError(f"{what}: got {len(values)} entries for {n} text(s); give one array (or None) per text")
    return values


def _frames(x, want: int, m: str, label: str, source: str) -> np.ndarray | None:
    """A (l, want) float32 array, None when missing; ValueError for anything else."""
    if x is None:
        return None
    if torch.is_tensor(x):
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{label}: the {NAMES[m]} input is not a numeric array ({e})") from None
    if arr.ndim == 1:
        arr = arr.reshape(0, want) if arr.size == 0 else arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{label}: the {NAMES[m]} input has shape {arr.shape}; expected (frames, {want})")
    if arr.shape[0] == 0:
        return None
    if arr.shape[1] != want:
        raise ValueError(f"{label}: the {NAMES[m]} features are {arr.shape[1]}-d but this checkpoint expects {want}-d "
                         f"(it was trained on {source})")
    bad = ~np.isfinite(arr)
    if bad.any():  # as the data loaders do (COVAREP's -inf)
        arr = np.where(bad, 0.0, arr).astype(np.float32)
    return arr


def _readable_note(note: str) -> str:
    marker = extract_marker([note])
    if marker is None:
        return note
    c = marker.get("config") or {}
    return (f"features made by `python -m fdcmdie extract`: {len(marker.get('audio_columns') or [])}-d "
            f"{c.get('acoustic_backend', '?')} acoustic frames every {c.get('audio_hop_s', '?')} s, "
            f"{len(marker.get('vision_columns') or [])}-d face geometry at {c.get('video_fps', '?')} frames/s "
            f"({c.get('visual_backend', '?')} backend); uploaded clips are extracted the same way")


def _clip_kind(m: str, ex) -> str:
    if m == "a":
        return f"{ex.acoustic_backend} frames"
    return "face-geometry frames"


def _clip_missing_reason(clip, m: str) -> str:
    tag = "acoustic modality marked missing" if m == "a" else "visual modality marked missing"
    for w in getattr(clip, "warnings", []) or []:
        if tag in w:
            return w
    return "the clip has no usable audio" if m == "a" else "no face was found in the clip"
