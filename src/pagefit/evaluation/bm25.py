"""The BM25 baseline (bm25s) over page text (PDF text layer or OCR), and the tokenisation it uses.

The baseline every number is compared with must be a strong one: bm25s' Lucene BM25 over text
lowercased, split into words that keep what a search for a symbol or a version needs (1-character
tokens such as `x` or `R`, numbers such as `2.1`), stopwords of the page's language removed and words
reduced to their Snowball stem (PyStemmer), so `running` matches `runs`. A language without a Snowball
stemmer or a bm25s stopword list gets none of them (no English list applied to other text).

`bm25_tokenize` and `BM25Index` are the one tokenisation and ranking every stage uses (eval's `bm25`
entry, hybrid search): build an index over page texts, save it to a folder and load it back, score or
rank queries. `BM25Index.from_pages` is how page text becomes an index everywhere: the text cleaned by
`pagefit.pagetext.clean_page_text` (soft hyphens, ligatures, line-end hyphenation), then tokenised.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pagefit.errors import PagefitError

if TYPE_CHECKING:
    import bm25s
    import numpy as np

__all__ = [
    "BM25Index",
    "BM25Settings",
    "bm25_scores",
    "bm25_tokenize",
    "clean_page_texts",
    "language_resources",
    "stopword_set",
]

logger = logging.getLogger(__name__)

DEFAULT_LANGUAGE = "en"
# A word is a run of letters/digits; a number keeps its decimal parts (`2.1`, `v3.10.2`, `0.75`) as one
# token. Every length is kept: 1-character symbols (`x`, `R`, `k`) are what some queries search for.
TOKEN_PATTERN = r"(?u)\w+(?:\.\d+)+|\w+"
SETTINGS_FILE = "pagefit_bm25.json"

# ISO 639-1 code -> Snowball (PyStemmer) algorithm; names are accepted too (`english`, `german`).
_SNOWBALL = {
    "ar": "arabic",
    "hy": "armenian",
    "eu": "basque",
    "ca": "catalan",
    "cs": "czech",
    "da": "danish",
    "nl": "dutch",
    "en": "english",
    "eo": "esperanto",
    "et": "estonian",
    "fi": "finnish",
    "fr": "french",
    "de": "german",
    "el": "greek",
    "hi": "hindi",
    "hu": "hungarian",
    "id": "indonesian",
    "ga": "irish",
    "it": "italian",
    "lt": "lithuanian",
    "ne": "nepali",
    "no": "norwegian",
    "fa": "persian",
    "pl": "polish",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "st": "sesotho",
    "es": "spanish",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
    "yi": "yiddish",
}
# Languages bm25s ships a stopword list for (its own keys).
_STOPWORDS = {
    "en": "en",
    "de": "de",
    "nl": "nl",
    "fr": "fr",
    "es": "es",
    "pt": "pt",
    "it": "it",
    "ru": "ru",
    "sv": "sv",
    "no": "no",
    "zh": "zh",
    "tr": "tr",
    "ko": "ko",
    "da": "da",
}
_BY_NAME = {name: code for code, name in _SNOWBALL.items()} | {"chinese": "zh", "korean": "ko"}


@dataclass(frozen=True)
class BM25Settings:
    """How pages and queries are tokenised and scored; stated in the report and saved with an index."""

    language: str = DEFAULT_LANGUAGE
    method: Literal["lucene", "robertson", "atire", "bm25l", "bm25+"] = "lucene"
    k1: float = 1.5
    b: float = 0.75
    stemmer: str | None = "english"  # the Snowball algorithm, None for none
    stopwords: str | None = "en"  # the bm25s stopword list, None for none
    token_pattern: str = TOKEN_PATTERN
    lower: bool = True

    @classmethod
    def for_language(cls, language: str | None = DEFAULT_LANGUAGE, **overrides: Any) -> BM25Settings:
        """The settings for text in `language` (ISO 639-1 code or English name; None: English)."""
        code = _language_code(language or DEFAULT_LANGUAGE)
        stemmer, stopwords = language_resources(code)
        return cls(language=code, stemmer=stemmer, stopwords=stopwords, **overrides)

    def describe(self) -> dict[str, Any]:
        """The settings as JSON-ready values (what report.json records)."""
        return asdict(self)


def _language_code(language: str) -> str:
    text = language.strip().lower().replace("-", "_")
    text = text.split("_")[0] if len(text) > 3 and text[2:3] == "_" else text  # en_US -> en
    return _BY_NAME.get(text, text)


def language_resources(language: str) -> tuple[str | None, str | None]:
    """(Snowball stemmer, bm25s stopword list) for a language code; None where the language has none."""
    code = _language_code(language)
    stemmer, stopwords = _SNOWBALL.get(code), _STOPWORDS.get(code)
    if stemmer is None and stopwords is None:
        logger.info("bm25: no stemmer or stopwords for language %r; words are matched as written", language)
    return stemmer, stopwords


@cache
def stopword_set(language: str) -> frozenset[str]:
    """The bm25s stopword list of a language (empty where it has none), lower-cased."""
    import bm25s.stopwords as lists

    code = _language_code(language)
    name = _STOPWORDS.get(code)
    if name is None:
        return frozenset()
    found = getattr(lists, f"STOPWORDS_{'EN' if code == 'en' else _SNOWBALL.get(code, code).upper()}", ())
    return frozenset(w.lower() for w in found)


@cache
def _stemmer(algorithm: str) -> Any:
    try:
        import Stemmer
    except ImportError as e:  # a core dependency: only a broken install lacks it
        raise PagefitError(
            "BM25 stemming needs PyStemmer: `pip install PyStemmer` (or reinstall pagefit)"
        ) from e
    return Stemmer.Stemmer(algorithm)


def bm25_tokenize(texts: Sequence[str], settings: BM25Settings | str | None = None) -> list[list[str]]:
    """Tokens of each text as BM25 indexes and searches them: words, stopwords dropped, stemmed.

    Args:
        texts: the texts (pages or queries); None or empty gives no tokens.
        settings: the BM25 settings, or a language code for the default settings of that language.

    Returns:
        One list of token strings per text.
    """
    if not isinstance(settings, BM25Settings):
        settings = BM25Settings.for_language(settings)
    import bm25s

    stemmer = _stemmer(settings.stemmer) if settings.stemmer else None
    return bm25s.tokenize(
        [text or "" for text in texts],
        lower=settings.lower,
        token_pattern=settings.token_pattern,
        stopwords=settings.stopwords,
        stemmer=stemmer,
        return_ids=False,
        show_progress=False,
    )


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    """bm25s logs its indexing steps at DEBUG on its own handler: keep them out of the terminal."""
    log = logging.getLogger(name)
    level = log.level
    log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)


class BM25Index:
    """A bm25s index over page texts with the settings it was built with."""

    def __init__(self, retriever: bm25s.BM25, settings: BM25Settings, num_docs: int) -> None:
        self.retriever, self.settings, self.num_docs = retriever, settings, num_docs

    @classmethod
    def from_pages(
        cls, page_texts: Sequence[str | None], settings: BM25Settings | str | None = None
    ) -> BM25Index:
        """Index the pages' text as `eval --bm25` and `index --hybrid` do: cleaned, then `build`."""
        return cls.build(clean_page_texts(page_texts), settings)

    @classmethod
    def build(cls, texts: Sequence[str], settings: BM25Settings | str | None = None) -> BM25Index:
        """Index `texts` (one per page, in corpus order; empty texts can only rank last)."""
        import bm25s

        if not isinstance(settings, BM25Settings):
            settings = BM25Settings.for_language(settings)
        tokens = bm25_tokenize(texts, settings)
        vocab: dict[str, int] = {}
        ids = [[vocab.setdefault(t, len(vocab)) for t in doc] for doc in tokens]
        retriever = bm25s.BM25(k1=settings.k1, b=settings.b, method=settings.method)
        with _quiet("bm25s"):
            retriever.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), show_progress=False)
        return cls(retriever, settings, len(tokens))

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write the index (bm25s' own files) and its settings into `folder`."""
        from pagefit._io import atomic_write_text

        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        with _quiet("bm25s"):
            self.retriever.save(path, show_progress=False)
        record = {"settings": self.settings.describe(), "num_docs": self.num_docs}
        atomic_write_text(path / SETTINGS_FILE, json.dumps(record, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> BM25Index:
        """An index written by `save`."""
        import bm25s

        path = Path(folder)
        try:
            record = json.loads((path / SETTINGS_FILE).read_text(encoding="utf-8"))
            with _quiet("bm25s"):
                retriever = bm25s.BM25.load(path, show_progress=False)
        except (OSError, ValueError, KeyError) as e:
            raise PagefitError(f"{path} holds no readable BM25 index ({e}): build it again") from e
        return cls(retriever, BM25Settings(**record["settings"]), int(record["num_docs"]))

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """(queries, pages) float32 BM25 scores; a query with no indexed word scores 0 everywhere."""
        import numpy as np

        out = np.zeros((len(queries), self.num_docs), dtype=np.float32)
        for row, tokens in enumerate(bm25_tokenize(queries, self.settings)):
            ids = self.retriever.get_tokens_ids(tokens)
            if ids:
                out[row] = self.retriever.get_scores_from_ids(ids)
        return out

    def top_k(self, queries: Sequence[str], k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """(indices, scores) of each query's k best pages, best first (ties: lower index first)."""
        import numpy as np

        scores = self.scores(queries)
        k = min(k, self.num_docs)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return order, np.take_along_axis(scores, order, axis=1)


def clean_page_texts(page_texts: Sequence[str | None]) -> list[str]:
    """Each page's text as BM25 indexes it (`pagefit.pagetext.clean_page_text`, as `ocr-minilm` embeds it)."""
    from pagefit.pagetext import clean_page_text

    return [clean_page_text(text or "") for text in page_texts]


def bm25_scores(
    page_texts: Sequence[str], queries: Sequence[str], settings: BM25Settings | str | None = None
) -> np.ndarray:
    """BM25 score of every page for every query (see `BM25Settings` for the defaults).

    Args:
        page_texts: one text per page, in corpus order (may be empty); indexed after
            `pagefit.pagetext.clean_page_text`, as the `ocr-minilm` page route embeds it.
        queries: the query texts.
        settings: the BM25 settings, or the pages' language code.

    Returns:
        (queries, pages) float32 scores; a query with no indexed term scores 0 everywhere.

    Raises:
        PagefitError: every page has empty text.
    """
    texts = clean_page_texts(page_texts)  # the text ocr-minilm embeds
    if not any(text.strip() for text in texts):
        raise PagefitError(
            "--bm25 needs page text, but every page of the corpus has empty text: "
            "ingest again without `--ocr never` (`pagefit ingest DOCS --out CORPUS --ocr auto`)"
        )
    empty = sum(1 for text in texts if not text.strip())
    if empty:
        logger.warning("bm25: %d of %d pages have no text and can only rank last", empty, len(texts))
    return BM25Index.build(texts, settings).scores(queries)
