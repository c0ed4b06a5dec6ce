"""Filters every synthetic query passes: clean-up, length bounds, no "this page" wording, dedupe,
an optional round trip through a retrieval model, and the bound on text copied from the page."""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pagefit.querygen._base import GeneratedQuery, Page

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = [
    "FilterReport",
    "QueryFilterConfig",
    "clean_query",
    "filter_queries",
    "longest_copied_run",
    "mentions_the_page",
    "roundtrip_filter",
    "words",
]

logger = logging.getLogger(__name__)

_WORD = re.compile(r"\w+", re.UNICODE)
_SPACES = re.compile(r"\s+")
_WRAPPERS = "\"'`“”‘’«»*_ "
_PREFIX = re.compile(r"^\s*(?:[-*•]+|\d+[.)]|(?:query|question|q)\s*\d*\s*[:.)-])\s*", re.IGNORECASE)

# A query must stand on its own in a search box: it cannot point at "this page" or "the chart above".
_NOUNS = r"(?:page|pages|document|documents|doc|image|images|picture|screenshot|slide|pdf|file|scan|figure|chart|graph|table|diagram|text|passage)"
_DEICTIC = re.compile(
    rf"\b(?:this|these|that|above|attached|provided|given|shown|current|following|accompanying)\s+{_NOUNS}\b"
    rf"|\b(?:in|on|from|of|according to)\s+the\s+(?:page|image|picture|screenshot|slide|pdf|scan|passage|text)\b"
    r"|\bthe\s+(?:page|image|document)\s+(?:shows?|says?|describes?|mentions?|contains?|lists?)\b"
    r"|\b(?:shown|depicted|pictured|mentioned|displayed)\s+(?:here|above|below)\b"
    rf"|\b{_NOUNS}\s+(?:above|below|here)\b",
    re.IGNORECASE,
)


def words(text: str) -> list[str]:
    """Lower-cased word tokens (`\\w+` runs): the unit of the verbatim-copy bound."""
    return _WORD.findall(text.lower())


def clean_query(text: str) -> str:
    """One line, no list marker, no wrapping quotes, single spaces."""
    text = _SPACES.sub(" ", text).strip()
    text = _PREFIX.sub("", text).strip().strip(_WRAPPERS)
    return text


def mentions_the_page(text: str) -> bool:
    """True when the query refers to the page/document/image itself instead of its content."""
    return bool(_DEICTIC.search(text))


def _ngrams(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def longest_copied_run(query: str, page_text: str) -> int:
    """Length in words of the longest run of consecutive words the query shares with the page text."""
    q, p = words(query), words(page_text)
    best, n = 0, 1
    while n <= len(q):
        if _ngrams(q, n) & _ngrams(p, n):
            best, n = n, n + 1
        else:
            break
    return best


@dataclass
class QueryFilterConfig:
    """Bounds a synthetic query must respect."""

    min_words: int = 2
    max_words: int = 32
    min_chars: int = 6
    max_chars: int = 250
    max_copied_words: int | None = None  # None: no verbatim bound (model-written queries)
    copying_kinds: frozenset[str] = frozenset()  # kinds that copy the page by design (text spans)


@dataclass
class FilterReport:
    """How many queries each filter dropped, and which (`rejected`: query and reason, in order)."""

    dropped: Counter[str] = field(default_factory=Counter)
    rejected: list[tuple[GeneratedQuery, str]] = field(default_factory=list)

    def add(self, reason: str, n: int = 1) -> None:
        if n:
            self.dropped[reason] += n

    def reject(self, query: GeneratedQuery, reason: str) -> None:
        self.add(reason)
        self.rejected.append((query, reason))

    def as_dict(self) -> dict[str, int]:
        return dict(sorted(self.dropped.items()))


def _normal(text: str) -> str:
    return " ".join(words(text))


def _bag(text: str) -> str:
    """The same words in any order count as the same query ("orchard care guide" = "orchard guide care")."""
    return " ".join(sorted(words(text)))


def _rejection(query: str, page: Page, config: QueryFilterConfig, kind: str = "") -> str | None:
    n_words = len(words(query))
    if n_words < config.min_words or len(query) < config.min_chars:
        return "too_short"
    if n_words > config.max_words or len(query) > config.max_chars:
        return "too_long"
    if mentions_the_page(query):
        return "mentions_the_page"
    if (
        config.max_copied_words is not None
        and kind not in config.copying_kinds
        and longest_copied_run(query, page.text) > config.max_copied_words
    ):
        return "copies_the_page"
    return None


def filter_queries(
    queries: Iterable[GeneratedQuery],
    pages: dict[str, Page],
    config: QueryFilterConfig | None = None,
    report: FilterReport | None = None,
) -> list[GeneratedQuery]:
    """Clean and filter synthetic queries; drop duplicates and queries several different pages share.

    A query generated for two pages with different content is ambiguous as a training pair, so every
    copy of it goes; exact duplicate pages (same image hash) keep one copy.
    """
    config = config or QueryFilterConfig()
    report = report if report is not None else FilterReport()
    kept: list[GeneratedQuery] = []
    seen: set[tuple[str, str]] = set()
    for q in queries:
        page = pages[q.page_id]
        text = clean_query(q.query)
        reason = _rejection(text, page, config, q.kind)
        if reason is None and (page.image_hash, _bag(text)) in seen:
            reason = "duplicate"
        if reason:
            report.reject(GeneratedQuery(q.page_id, text, q.kind), reason)
            continue
        seen.add((page.image_hash, _bag(text)))
        kept.append(GeneratedQuery(q.page_id, text, q.kind))
    owners: defaultdict[str, set[str]] = defaultdict(set)
    for q in kept:
        owners[_normal(q.query)].add(pages[q.page_id].image_hash)
    for q in kept:
        if len(owners[_normal(q.query)]) > 1:
            report.reject(q, "ambiguous")
    return [q for q in kept if len(owners[_normal(q.query)]) == 1]


def positive_ranks(
    model: SentenceTransformer,
    query_texts: Sequence[str],
    query_pages: Sequence[Sequence[str]],
    pages: Sequence[Page],
    *,
    batch_size: int = 16,
    show_progress: bool = True,
) -> list[int]:
    """1-based rank of each query's best relevant page among all pages (duplicates of it not counted).

    Page embeddings come from `pagefit.embeddings` (cached by model fingerprint + page hash).
    """
    import numpy as np

    from pagefit.embeddings import encode_pages, encode_queries

    page_emb = encode_pages(
        model,
        [p.image_path for p in pages],
        keys=[p.image_hash for p in pages],
        batch_size=batch_size,
        show_progress=show_progress,
    )
    query_emb = encode_queries(model, list(query_texts))
    scores = model.similarity(query_emb, page_emb).cpu().numpy()
    index = {p.page_id: i for i, p in enumerate(pages)}
    hashes = np.array([p.image_hash for p in pages])
    ranks = []
    for row, relevant in zip(scores, query_pages, strict=True):
        rows = [index[pid] for pid in relevant]
        best = max(rows, key=lambda i: row[i])
        others = ~np.isin(hashes, hashes[rows])
        ranks.append(1 + int((row[others] > row[best]).sum()))
    return ranks


def roundtrip_filter(
    model: SentenceTransformer,
    query_texts: Sequence[str],
    query_pages: Sequence[Sequence[str]],
    pages: Sequence[Page],
    top_k: int,
    *,
    batch_size: int = 16,
    show_progress: bool = True,
) -> list[bool]:
    """Keep a query only if `model` ranks one of its pages within the top `top_k` of `pages`
    (`pairs` passes the train pages only)."""
    ranks = positive_ranks(
        model, query_texts, query_pages, pages, batch_size=batch_size, show_progress=show_progress
    )
    return [r <= top_k for r in ranks]
