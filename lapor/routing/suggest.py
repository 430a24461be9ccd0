"""Which category a citizen's words describe: a small naive Bayes text classifier.

A citizen who types "ada sampah numpuk di depan sekolah" should be offered Sampah first, not
made to read twelve buttons. The classifier is multinomial naive Bayes over binary features
(each feature counted once per text): words, word pairs, and the 3- to 5-letter pieces of
every word. The letter pieces are what make it tolerant of the way people type on a phone
("smpah", "banjr", "kebakran" share most of their pieces with the word meant).

Before any feature is taken, text is normalised the same way for training and for
suggesting: lower case, accents and emoji gone, links and digits dropped (an "RT 05" or a
house number says nothing about the problem), runs of a letter squeezed to one ("bangettt",
"macettt"; "tunggu" becomes "tungu" on both sides, which is harmless), and Jakarta chat
abbreviations written out (gk/ga/nggak -> tidak, udh -> sudah, jln -> jalan, dpn -> depan).

Training is counting, so it is deterministic: the same examples give the same model, in any
order. The model the package ships is counted from `data/category_examples.tsv` the first
time it is needed in a process (one to two seconds on a small shared machine; `warm()` does
it ahead) and kept in memory, so there is no model file to fall out of step with the
examples. An operator's model (`lapor categories train`, trained on the city's own verified
reports) is a JSON file of the same counts, read in preference to the shipped one.

Nothing here touches the database: the store supplies labelled texts, this module counts
and scores them.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import threading
import unicodedata
import zlib
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from lapor.store.text import NOTE_LIMIT, clean

log = logging.getLogger(__name__)

FORMAT = "lapor-category-model/1"
# Laplace smoothing for the feature counts: small, because most features are letter pieces
# that are seen in a few examples only, and a large alpha drowns them.
ALPHA = 0.1
# A feature seen in fewer training texts than this is left out of the model: it is almost
# always a one-off typo or name, and leaving it out halves the model's size.
MIN_COUNT = 2
# Only the start of a long text is read: a category shows in the first sentences, and
# the cost of a suggestion must not grow with a pasted essay.
MAX_CHARS = 600
CHAR_NGRAMS = (3, 4, 5)

# Chat Indonesian as typed in Jakarta, written out. Keys are squeezed like any word
# before the lookup, so "nggak" and "ngak" are the same key.
# fmt: off
SLANG: dict[str, str] = {
    # negation
    "gk": "tidak", "ga": "tidak", "gak": "tidak", "nggak": "tidak", "ngga": "tidak",
    "enggak": "tidak", "engga": "tidak", "kagak": "tidak", "ndak": "tidak", "tdk": "tidak",
    "tak": "tidak",
    # time and degree
    "udh": "sudah", "udah": "sudah", "dah": "sudah", "sdh": "sudah", "blm": "belum",
    "blom": "belum", "belom": "belum", "bgt": "banget", "bngt": "banget", "bgd": "banget",
    "skrg": "sekarang", "skrng": "sekarang", "skr": "sekarang", "kmrn": "kemarin",
    "kemaren": "kemarin", "lg": "lagi", "lgi": "lagi", "msh": "masih", "masi": "masih",
    "mlm": "malam", "malem": "malam", "sdg": "sedang", "lbh": "lebih", "bbrp": "beberapa",
    "tiap": "setiap", "sll": "selalu", "trs": "terus", "trus": "terus",
    # function words
    "yg": "yang", "dgn": "dengan", "dg": "dengan", "sm": "sama", "ama": "sama",
    "krn": "karena", "krna": "karena", "karna": "karena", "gara": "karena",
    "utk": "untuk", "untk": "untuk", "dr": "dari", "dri": "dari",
    "pd": "pada", "jg": "juga", "aja": "saja", "aj": "saja", "tp": "tapi", "tpi": "tapi",
    "kl": "kalau", "klo": "kalau", "kalo": "kalau", "dmn": "dimana", "gmn": "bagaimana",
    "gimana": "bagaimana", "bs": "bisa", "sy": "saya", "gw": "saya", "gue": "saya",
    "aku": "saya", "ane": "saya", "org": "orang", "tlg": "tolong", "mhn": "mohon",
    "pdhl": "padahal", "spt": "seperti", "kyk": "kayak", "kek": "kayak", "bnyk": "banyak",
    "byk": "banyak", "ampe": "sampai", "sampe": "sampai", "smp": "sampai", "dket": "dekat",
    "dkt": "dekat", "deket": "dekat",
    # places
    "jln": "jalan", "jl": "jalan", "jalanan": "jalan", "dpn": "depan", "blkg": "belakang",
    "blakang": "belakang", "sblh": "sebelah", "samping": "sebelah", "gg": "gang",
    "sklh": "sekolah", "rmh": "rumah", "psr": "pasar", "msjd": "masjid", "kntr": "kantor",
    # things
    "lmp": "lampu", "phn": "pohon", "mtr": "motor", "mbl": "mobil", "kndrn": "kendaraan",
    "ujan": "hujan", "aer": "air", "item": "hitam", "gede": "besar", "gedhe": "besar",
    "ilang": "hilang", "rubuh": "roboh", "jatoh": "jatuh", "bolong": "berlubang",
    "lobang": "lubang", "lobangnya": "lubangnya", "nyala": "menyala", "numpuk": "menumpuk",
}
# fmt: on

_URL = re.compile(r"(?:https?://|www\.)\S*", re.IGNORECASE)
_NOT_LETTERS = re.compile(r"[^a-z]+")
_RUNS = re.compile(r"(.)\1+")


def _squeeze(word: str) -> str:
    return _RUNS.sub(r"\1", word)


_SLANG = {_squeeze(key): value for key, value in SLANG.items()}


def normalise(text: str) -> str:
    """The words of `text` as the classifier reads them (see the module's docstring)."""
    text = clean(text[:MAX_CHARS])
    text = _URL.sub(" ", text)
    # Accents off (é -> e), full-width and styled letters to plain ones.
    text = unicodedata.normalize("NFKD", text).casefold()
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    words = []
    for raw in _NOT_LETTERS.split(text):
        if raw:
            word = _squeeze(raw)
            words.append(_SLANG.get(word, word))
    return " ".join(words)


def features(normalised: str) -> set[str]:
    """The binary features of a normalised text: words, word pairs, letter pieces."""
    words = normalised.split()
    found: set[str] = {f"w:{w}" for w in words}
    found.update(f"b:{a}_{b}" for a, b in itertools.pairwise(words))
    for word in set(words):
        padded = f" {word} "
        for n in CHAR_NGRAMS:
            found.update(f"c:{padded[i : i + n]}" for i in range(len(padded) - n + 1))
    return found


@dataclass(frozen=True)
class Counts:
    """What training counts: per category, its texts and, per feature, the texts having it.

    This is the model as stored; `Model` is the same counts turned into log-probabilities.
    """

    documents: dict[str, int]
    features: dict[str, dict[str, int]]

    def to_json(self) -> dict[str, object]:
        classes = sorted(self.documents)
        index = {slug: i for i, slug in enumerate(classes)}
        return {
            "format": FORMAT,
            "alpha": ALPHA,
            "classes": classes,
            "documents": [self.documents[c] for c in classes],
            # feature -> [[class index, texts], ...], sorted, so equal counts give equal files
            "features": {
                f: sorted([index[c], n] for c, n in per.items())
                for f, per in sorted(self.features.items())
            },
        }

    @classmethod
    def from_json(cls, data: object) -> Counts:
        """Read a stored model, refusing anything that is not one (ValueError)."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not a lapor category model")
        classes, documents = data.get("classes"), data.get("documents")
        stored = data.get("features")
        if not (
            isinstance(classes, list)
            and isinstance(documents, list)
            and isinstance(stored, dict)
            and len(classes) == len(documents)
            and all(isinstance(c, str) for c in classes)
            and all(isinstance(n, int) and n > 0 for n in documents)
        ):
            raise ValueError("a category model needs classes with their text counts")
        per_feature: dict[str, dict[str, int]] = {}
        for name, pairs in stored.items():
            if not isinstance(pairs, list):
                raise ValueError(f"feature {name!r}: not a list")
            row: dict[str, int] = {}
            for pair in pairs:
                if not (
                    isinstance(pair, list)
                    and len(pair) == 2
                    and all(isinstance(x, int) for x in pair)
                    and 0 <= pair[0] < len(classes)
                    and 0 < pair[1] <= documents[pair[0]]
                ):
                    raise ValueError(f"feature {name!r}: bad count {pair!r}")
                row[classes[pair[0]]] = pair[1]
            per_feature[name] = row
        return cls(dict(zip(classes, documents, strict=True)), per_feature)


def count(examples: Iterable[tuple[str, str]], min_count: int = MIN_COUNT) -> Counts:
    """Train: count (slug, text) examples. Texts with no words are skipped."""
    documents: Counter[str] = Counter()
    per_feature: dict[str, Counter[str]] = {}
    for slug, text in examples:
        found = features(normalise(text))
        if not found:
            continue
        documents[slug] += 1
        for feature in found:
            per_feature.setdefault(feature, Counter())[slug] += 1
    kept = {f: dict(per) for f, per in per_feature.items() if sum(per.values()) >= min_count}
    return Counts(dict(documents), kept)


class Model:
    """Counts turned into a matrix of log-probabilities, for fast suggestions.

    A suggestion sums one row per known feature of the text (numpy, one gather and one
    sum) and adds the prior; unknown features are ignored, as naive Bayes does.
    """

    def __init__(self, counts: Counts) -> None:
        self.classes: tuple[str, ...] = tuple(sorted(counts.documents))
        if not self.classes:
            raise ValueError("a model needs at least one labelled text")
        index = {slug: i for i, slug in enumerate(self.classes)}
        self.index = {f: row for row, f in enumerate(sorted(counts.features))}
        table = np.zeros((len(self.index), len(self.classes)), dtype=np.float64)
        for feature, row in self.index.items():
            for slug, n in counts.features[feature].items():
                table[row, index[slug]] = n
        documents = np.array([counts.documents[c] for c in self.classes], dtype=np.float64)
        # Binary naive Bayes with the multinomial's normalisation: P(f|c) is the share of
        # c's feature occurrences that are f.
        totals = table.sum(axis=0) + ALPHA * max(len(self.index), 1)
        self.log_feature = np.log(table + ALPHA) - np.log(totals)
        self.log_unseen = np.log(ALPHA) - np.log(totals)
        self.log_prior = np.log(documents) - np.log(documents.sum())
        self.counts = counts

    def scores(self, text: str) -> np.ndarray:
        """Probability of each class (in `classes` order) for `text`.

        Naive Bayes adds one log-likelihood per feature, so a text of 80 features makes it
        sure of itself far beyond reason (0.9999 for anything). Dividing every class's log
        posterior by the number of features keeps naive Bayes's ranking exactly and gives
        scores a person can read as confidence ("lampu mati": 0.8 lampu-jalan).
        """
        return self._scores(features(normalise(text)))

    def _scores(self, found: set[str]) -> np.ndarray:
        rows = [r for f in found if (r := self.index.get(f)) is not None]
        if not rows:
            return np.exp(self.log_prior)
        total = (self.log_feature[rows].sum(axis=0) + self.log_prior) / len(rows)
        total = np.exp(total - total.max())
        return total / total.sum()

    def suggest(
        self, text: str, k: int = 3, allowed: Collection[str] | None = None
    ) -> list[tuple[str, float]]:
        """The `k` likeliest categories for `text`, best first, as (slug, score).

        `allowed` (the active categories) drops the others; a text with no word the model
        knows gets no suggestion, not the prior's favourite.
        """
        if k <= 0 or not text:
            return []
        found = features(normalise(text))
        if not self._knows_a_word(found):
            return []
        probabilities = self._scores(found)
        order = sorted(range(len(self.classes)), key=lambda i: (-probabilities[i], i))
        picked = [
            (self.classes[i], round(float(probabilities[i]), 4))
            for i in order
            if allowed is None or self.classes[i] in allowed
        ]
        return picked[:k]

    def known(self, text: str) -> bool:
        """Whether `text` has a word the model learnt (letter pieces alone do not count:
        "xqzv" shares a piece with half the vocabulary)."""
        return self._knows_a_word(features(normalise(text)))

    def _knows_a_word(self, found: set[str]) -> bool:
        return any(f in self.index for f in found if f.startswith("w:"))


def train(examples: Iterable[tuple[str, str]], min_count: int = MIN_COUNT) -> Model:
    """A model from (slug, text) examples."""
    return Model(count(examples, min_count))


# -- the shipped examples and the operator's model ---------------------------------------------

EXAMPLES = "category_examples.tsv"


def read_examples(text: str) -> list[tuple[str, str]]:
    """(slug, text) pairs from TSV lines; blank lines and lines starting with # are skipped."""
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        slug, sep, words = line.partition("\t")
        if not sep or not slug or not words.strip():
            raise ValueError(f"line {number}: expected SLUG<TAB>TEXT")
        pairs.append((slug.strip(), words.strip()))
    return pairs


def shipped_examples() -> list[tuple[str, str]]:
    """The labelled examples written for the package (lapor/routing/data/)."""
    data = resources.files("lapor.routing").joinpath("data", EXAMPLES)
    return read_examples(data.read_text(encoding="utf-8"))


_lock = threading.Lock()
_shipped: Model | None = None
_loaded: dict[Path, tuple[tuple[int, int], Model]] = {}


def shipped_model() -> Model:
    """The model counted from the shipped examples, once per process."""
    global _shipped
    with _lock:
        if _shipped is None:
            _shipped = train(shipped_examples())
        return _shipped


def load(path: Path) -> Model:
    """An operator's model file (`lapor categories train`); ValueError if it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    return Model(Counts.from_json(data))


def model(path: Path | None = None) -> Model:
    """The model to suggest with: the operator's file at `path` when there is a usable one
    (read again when it changes), else the shipped model. A broken file is logged and
    ignored, so a bad retrain never stops citizens from reporting."""
    if path is None:
        return shipped_model()
    try:
        stat = path.stat()
    except OSError:
        return shipped_model()
    stamp = (stat.st_mtime_ns, stat.st_size)
    with _lock:
        cached = _loaded.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
    try:
        loaded = load(path)
    except ValueError as exc:
        log.warning("category model %s not used: %s", path, exc)
        return shipped_model()
    with _lock:
        _loaded[path] = (stamp, loaded)
    return loaded


def warm(path: Path | None = None) -> None:
    """Load the model now (at start-up) rather than at the first citizen's message."""
    model(path)


def suggest(
    text: str,
    k: int = 3,
    *,
    allowed: Collection[str] | None = None,
    path: Path | None = None,
) -> list[tuple[str, float]]:
    """The `k` likeliest category slugs for a citizen's text, best first, with scores.

    `allowed`: the active categories (others are never suggested); `path`: the operator's
    model file (CATEGORY_MODEL_PATH). Any text is accepted: it is cleaned and cut here.
    """
    if not isinstance(text, str):
        return []
    return model(path).suggest(text[:NOTE_LIMIT], k, allowed)


def save(counts: Counts, path: Path) -> None:
    """Write a model file atomically: a running bot never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(counts.to_json(), separators=(",", ":")), encoding="utf-8")
    os.replace(temporary, path)


# -- measuring ----------------------------------------------------------------------------------


def split(
    examples: Sequence[tuple[str, str]], share: float = 0.2
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(train, held out): about `share` of the examples held out, chosen by a hash of the
    text, so the same texts are held out on every run and a text never lands on both
    sides."""
    train_part, held = [], []
    for slug, text in examples:
        bucket = zlib.crc32(normalise(text).encode()) % 1000
        (held if bucket < share * 1000 else train_part).append((slug, text))
    return train_part, held


def accuracy(
    classifier: Model, examples: Sequence[tuple[str, str]], k: int = 3
) -> tuple[float, float]:
    """(top-1, top-k) accuracy of `classifier` on labelled examples."""
    if not examples:
        return (0.0, 0.0)
    first = within = 0
    for slug, text in examples:
        picked = [s for s, _ in classifier.suggest(text, k)]
        first += bool(picked) and picked[0] == slug
        within += slug in picked
    return (first / len(examples), within / len(examples))


# Fewer held-out texts than this say nothing about accuracy: 20 is one mistake in 5%.
MIN_HELD_OUT = 20


@dataclass(frozen=True)
class Retrained:
    """A model counted from the city's verified reports (and, by default, the shipped
    examples), with what went into it and how it did on the city's own held-out texts."""

    counts: Counts
    city: Counter[str]
    shipped: Counter[str]
    held_out: int
    # Top-1 and top-3 on the held-out city texts, of the new model (trained without them)
    # and of the shipped model alone; None when too few city texts could be held out.
    accuracy: tuple[float, float] | None
    shipped_accuracy: tuple[float, float] | None


def retrain(
    city: Sequence[tuple[str, str]], shipped: Sequence[tuple[str, str]], share: float = 0.2
) -> Retrained:
    """Count a model from the city's (slug, note) pairs plus `shipped` examples (may be
    empty), measuring it first on a held-out part of the city's texts. ValueError when
    there is nothing to learn from."""
    counts = count([*shipped, *city])
    if not counts.documents:
        raise ValueError("no labelled texts to learn from")
    learn, held = split(city, share)
    measured = baseline = None
    if len(held) >= MIN_HELD_OUT and (learn or shipped):
        measured = accuracy(train([*shipped, *learn]), held)
        if shipped:
            baseline = accuracy(train(shipped), held)
    return Retrained(
        counts=counts,
        city=Counter(slug for slug, _ in city),
        shipped=Counter(slug for slug, _ in shipped),
        held_out=len(held) if measured else 0,
        accuracy=measured,
        shipped_accuracy=baseline,
    )
