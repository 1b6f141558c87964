"""Which language the words are in, what that means for a head trained on English, and where words begin in
languages written without spaces.

Every checkpoint here was trained on English transcripts (CMU-MOSI / CMU-MOSEI). The e5 checkpoints read the words
through multilingual-e5-small, an encoder trained on ~100 languages, so a sentence in Spanish or Chinese lands in the
same space the sentiment head learnt in English: zero-shot cross-lingual transfer. It is often right for plain
sentences and says nothing about idioms, negation or sarcasm in that language. The MiniLM checkpoints read through an
English-only encoder, so other languages are out of their reach altogether. :func:`note` says which case applies.

    detect("Esta película es maravillosa")    # Language(code="es", prob=0.93) -> .name "Spanish", .english False
    note("这部电影很无聊", predictor)          # markdown: the language and the English-only caveat ("" for English)

The language is identified by py3langid (the langid.py model of Lui & Baldwin 2012: a naive Bayes over byte n-grams
for 97 languages, shipped inside the wheel, nothing downloaded). Below ``MIN_PROB`` the text is too short to tell
("ok", "great") and no language is claimed.

Words of Chinese and Japanese (:func:`split_unspaced`): the tokenizer of e5 (SentencePiece) splits at spaces, so
"这部电影很无聊" would be a single "word". Runs of Han / kana are cut where the jieba segmenter (rjieba, its dictionary
inside the wheel) puts a word boundary *and* a word piece of the tokenizer begins, so every piece stays in exactly
one word (the attributions' completeness is untouched) and a word the dictionary knows is never split across pieces.
jieba's dictionary is Chinese: Japanese kana come back from it one by one, so a Japanese word is e5's own piece,
merged with its neighbours where the dictionary joins Han characters (面 + 白 -> 面白). Thai, Lao, Khmer and Burmese
(also written without spaces) are cut at e5's pieces. Text in any other script is left exactly as it was.

The smoke test (:func:`smoke`, ``python -m fdcmdie.language``): the hand-written sentences of ``SMOKE_FILE`` (six a
language, clear polarity, no negation or irony) through a checkpoint, counting the sentences whose predicted sign is
the written polarity, per language. A check that the words reach the head across languages, not a benchmark.
"""
from __future__ import annotations

import argparse
import csv
import functools
from dataclasses import dataclass, field
from pathlib import Path

SMOKE_FILE = Path(__file__).resolve().parents[1] / "assets" / "multilingual-smoke.tsv"
MIN_PROB = 0.5        # py3langid's normalised probability below which the language is "too short to tell"
ENGLISH = "en"

# ISO 639-1 codes of the 97 languages py3langid knows, with their English names
NAMES = {
    "af": "Afrikaans", "am": "Amharic", "an": "Aragonese", "ar": "Arabic", "as": "Assamese", "az": "Azerbaijani",
    "be": "Belarusian", "bg": "Bulgarian", "bn": "Bengali", "br": "Breton", "bs": "Bosnian", "ca": "Catalan",
    "cs": "Czech", "cy": "Welsh", "da": "Danish", "de": "German", "dz": "Dzongkha", "el": "Greek", "en": "English",
    "eo": "Esperanto", "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian", "fi": "Finnish",
    "fo": "Faroese", "fr": "French", "ga": "Irish", "gl": "Galician", "gu": "Gujarati", "he": "Hebrew", "hi": "Hindi",
    "hr": "Croatian", "ht": "Haitian Creole", "hu": "Hungarian", "hy": "Armenian", "id": "Indonesian",
    "is": "Icelandic", "it": "Italian", "ja": "Japanese", "jv": "Javanese", "ka": "Georgian", "kk": "Kazakh",
    "km": "Khmer", "kn": "Kannada", "ko": "Korean", "ku": "Kurdish", "ky": "Kyrgyz", "la": "Latin",
    "lb": "Luxembourgish", "lo": "Lao", "lt": "Lithuanian", "lv": "Latvian", "mg": "Malagasy", "mk": "Macedonian",
    "ml": "Malayalam", "mn": "Mongolian", "mr": "Marathi", "ms": "Malay", "mt": "Maltese", "nb": "Norwegian Bokmål",
    "ne": "Nepali", "nl": "Dutch", "nn": "Norwegian Nynorsk", "no": "Norwegian", "oc": "Occitan", "or": "Odia",
    "pa": "Punjabi", "pl": "Polish", "ps": "Pashto", "pt": "Portuguese", "qu": "Quechua", "ro": "Romanian",
    "ru": "Russian", "rw": "Kinyarwanda", "se": "Northern Sami", "si": "Sinhala", "sk": "Slovak", "sl": "Slovenian",
    "sq": "Albanian", "sr": "Serbian", "sv": "Swedish", "sw": "Swahili", "ta": "Tamil", "te": "Telugu", "th": "Thai",
    "tl": "Tagalog", "tr": "Turkish", "ug": "Uyghur", "uk": "Ukrainian", "ur": "Urdu", "vi": "Vietnamese",
    "vo": "Volapük", "wa": "Walloon", "xh": "Xhosa", "zh": "Chinese", "zu": "Zulu",
}

# the English data each data source holds (every checkpoint of the lab was trained on one of them)
TRAINED_ON = {"mosi": "CMU-MOSI", "mosei": "CMU-MOSEI", "mmsa": "CMU-MOSI / MOSEI (an MMSA pickle)"}


@dataclass(frozen=True)
class Language:
    code: str       # ISO 639-1; "" when the text is too short (or empty) to tell
    prob: float     # py3langid's normalised probability of that language

    @property
    def name(self) -> str:
        return NAMES.get(self.code, self.code) if self.code else "unclear"

    @property
    def english(self) -> bool:
        return self.code == ENGLISH

    @property
    def known(self) -> bool:
        return bool(self.code)


@functools.lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier  # pip install py3langid

    return LanguageIdentifier.from_pickled_model(MODEL_FILE, norm_probs=True)


def detect(text: str) -> Language:
    """The language of ``text`` (py3langid); ``code`` is "" when it is empty or too short to tell."""
    text = (text or "").strip()
    if not any(c.isalpha() for c in text):
        return Language("", 0.0)
    code, prob = _identifier().classify(text)
    prob = float(prob)
    return Language(str(code) if prob >= MIN_PROB else "", prob)


def trained_on(cfg) -> str:
    """The English data set a checkpoint's config trained on."""
    return TRAINED_ON.get(cfg.data.source, cfg.data.source)


def multilingual(cfg) -> bool:
    """True when the checkpoint reads words through multilingual-e5 (else an English-only encoder)."""
    from .text_encoder import E5_NAMES

    return cfg.model.text_encoder in E5_NAMES


def caveat(lang: Language, cfg) -> str:
    """What a checkpoint (its config ``cfg``) can say about words in ``lang``; "" for English or an unclear text."""
    if not lang.known or lang.english:
        return ""
    data = trained_on(cfg)
    if multilingual(cfg):
        return (f"The sentiment head was trained on English {data} only; it reads {lang.name} through "
                "multilingual-e5-small, whose ~100 languages share one space, with no "
                f"{lang.name} training example (zero-shot cross-lingual transfer). Plain sentences usually carry "
                "over; idioms, negation and sarcasm may not.")
    return (f"This checkpoint was trained on English {data} and reads words through an English-only encoder "
            f"({cfg.model.text_encoder}): its prediction for {lang.name} words is not meaningful. The e5 checkpoints "
            "read ~100 languages.")


def note(text: str, predictor) -> str:
    """Markdown for the app: the language of ``text`` and, when it is not English, the caveat of ``predictor``'s
    checkpoint. "" for English text, text too short to tell, or a checkpoint that reads no words."""
    if not (text or "").strip() or predictor.words_reason():
        return ""
    lang = detect(text)
    said = caveat(lang, predictor.cfg)
    return f"**Language: {lang.name}** (py3langid, p = {lang.prob:.2f}). {said}" if said else ""


# ------------------------------------------------------------------------------ words without spaces

# (first, last) code points of the scripts written without spaces between words
_HAN_KANA = ((0x3040, 0x30FF), (0x31F0, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF),
             (0xFF66, 0xFF9F), (0x20000, 0x2FA1F))
_SOUTHEAST_ASIAN = ((0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF))   # Thai, Lao; Myanmar; Khmer


def _in(c: str, ranges) -> bool:
    o = ord(c)
    return any(a <= o <= b for a, b in ranges)


def unspaced(text: str) -> bool:
    """True when ``text`` holds a character of a script written without spaces between words."""
    return any(_in(c, _HAN_KANA) or _in(c, _SOUTHEAST_ASIAN) for c in text)


def segment_starts(text: str) -> set[int] | None:
    """Character offsets where a word begins in ``text``, from the jieba segmenter (Han / kana present);
    None: no dictionary for this text, every word piece may begin a word."""
    if not any(_in(c, _HAN_KANA) for c in text):
        return None
    import rjieba  # pip install rjieba

    return {int(start) for _, start, _ in rjieba.tokenize(text)}


def split_unspaced(text: str, offsets: list[tuple[int, int]], groups: list[list[int]]) -> list[list[int]]:
    """``groups`` (the token positions of each word, ``offsets`` the character span of every token) with each word of
    an unspaced script cut into dictionary words, at pieces' starts only (see the module's docstring). Groups without
    such characters come back as they were; every token stays in exactly one group, in order."""
    if not unspaced(text):
        return groups
    out: list[list[int]] = []
    for js in _join_spaces(text, offsets, groups):
        s, e = offsets[js[0]][0], offsets[js[-1]][1]
        if len(js) == 1 or not unspaced(text[s:e]):
            out.append(js)
            continue
        starts = segment_starts(text[s:e])
        current, reach = [js[0]], offsets[js[0]][1]
        for j in js[1:]:
            a, b = offsets[j]
            prev = offsets[current[-1]][0]
            # a new word where a piece begins past the pieces before it (SentencePiece's lone "▁" overlaps the next
            # or covers only a space: it joins the next) at a boundary of the segmenter
            begun = text[offsets[current[0]][0]:reach].strip()
            if begun and a >= reach and a > prev and (starts is None or (a - s) in starts):
                out.append(current)
                current = []
            current.append(j)
            reach = max(reach, b)
        out.append(current)
    return out


def _join_spaces(text: str, offsets, groups: list[list[int]]) -> list[list[int]]:
    """A group that covers only a space (SentencePiece's lone "▁" before a Han or Thai run) joins the next one."""
    out: list[list[int]] = []
    carry: list[int] = []
    for js in groups:
        if not text[offsets[js[0]][0]:offsets[js[-1]][1]].strip():
            carry += js
            continue
        out.append(carry + js)
        carry = []
    if carry:
        out.append(carry)
    return out


# ------------------------------------------------------------------------------------------------ smoke test


@dataclass
class Sentence:
    language: str      # ISO 639-1, as written in the file
    polarity: int      # +1 / -1, as written in the file
    text: str


def read_sentences(path: str | Path = SMOKE_FILE) -> list[Sentence]:
    """The rows of a smoke file: tab-separated language, polarity (+1 / -1), sentence, after a header and # lines."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    rows = list(csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))
    out = []
    for i, row in enumerate(rows, start=2):
        try:
            polarity = int(row["polarity"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path}: row {i} needs columns language, polarity (+1 or -1), sentence") from None
        if polarity not in (1, -1) or not (row.get("sentence") or "").strip() or row.get("language") not in NAMES:
            raise ValueError(f"{path}: row {i}: polarity must be +1 or -1, the sentence non-empty and the language "
                             f"an ISO 639-1 code py3langid knows, got {row!r}")
        out.append(Sentence(row["language"], polarity, row["sentence"].strip()))
    return out


@dataclass
class Smoke:
    """Per sentence: the prediction and the detected language; per language: how many signs are right."""

    checkpoint: str
    sentences: list[Sentence]
    pred: list[float]
    detected: list[str]
    languages: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.languages = list(dict.fromkeys(s.language for s in self.sentences))

    def right(self, language: str | None = None) -> tuple[int, int]:
        """(sentences whose predicted sign is the written polarity, sentences) of ``language`` (None: all)."""
        rows = [(s, p) for s, p in zip(self.sentences, self.pred) if language in (None, s.language)]
        return sum(1 for s, p in rows if p * s.polarity > 0), len(rows)

    def markdown(self) -> str:
        n_right, n = self.right()
        other = [s for s in self.sentences if s.language != ENGLISH]
        o_right = sum(1 for s, p in zip(self.sentences, self.pred) if s.language != ENGLISH and p * s.polarity > 0)
        lines = ["# Multilingual smoke test", "",
                 "Written by `python -m fdcmdie.language > docs/languages-smoke.md` (fdcmdie/language.py).", "",
                 f"Smoke test, not a benchmark: {n} hand-written sentences (assets/{SMOKE_FILE.name}), "
                 f"{len(self.languages)} languages, through `{self.checkpoint}`. Right sign: {n_right} of {n}; "
                 f"{o_right} of {len(other)} outside English.", "",
                 "| language | right sign | mean prediction, positive | mean prediction, negative | language found |",
                 "|---|---|---|---|---|"]
        for lang in self.languages:
            r, k = self.right(lang)
            pos = [p for s, p in zip(self.sentences, self.pred) if s.language == lang and s.polarity > 0]
            neg = [p for s, p in zip(self.sentences, self.pred) if s.language == lang and s.polarity < 0]
            found = sum(1 for s, d in zip(self.sentences, self.detected) if s.language == lang and d == lang)
            mean = lambda xs: f"{sum(xs) / len(xs):+.2f}" if xs else "–"
            lines.append(f"| {NAMES[lang]} | {r} / {k} | {mean(pos)} | {mean(neg)} | {found} / {k} |")
        wrong = [(s, p) for s, p in zip(self.sentences, self.pred) if p * s.polarity <= 0]
        if wrong:
            lines += ["", "Wrong sign:", ""] + [f"- {NAMES[s.language]}, written {s.polarity:+d}, predicted {p:+.2f}: "
                                                f"“{s.text}”" for s, p in wrong]
        return "\n".join(lines) + "\n"


def smoke(predictor, path: str | Path = SMOKE_FILE) -> Smoke:
    """Run the sentences of ``path`` through ``predictor`` (one batch) and identify their language."""
    sentences = read_sentences(path)
    preds = predictor.predict([s.text for s in sentences])
    return Smoke(checkpoint=predictor.name, sentences=sentences, pred=[float(e.pred) for e in preds],
                 detected=[detect(s.text).code for s in sentences])


def main(argv: list[str] | None = None) -> None:
    from .checkpoint import DEFAULT_PAIR
    from .inference import Predictor

    ap = argparse.ArgumentParser(prog="python -m fdcmdie.language", description="the multilingual smoke test")
    ap.add_argument("--checkpoint", default=DEFAULT_PAIR[0])
    ap.add_argument("--sentences", default=str(SMOKE_FILE))
    args = ap.parse_args(argv)
    print(smoke(Predictor.load(args.checkpoint), args.sentences).markdown())


if __name__ == "__main__":
    main()
