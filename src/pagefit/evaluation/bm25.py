"""The BM25 baseline (bm25s) over the corpus page text (PDF text layer or OCR)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pagefit.errors import PagefitError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["bm25_scores"]

logger = logging.getLogger(__name__)


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


def bm25_scores(page_texts: Sequence[str], queries: Sequence[str], *, stopwords: str = "en") -> np.ndarray:
    """BM25 (Lucene variant, k1=1.5, b=0.75) score of every page for every query.

    Args:
        page_texts: one text per page, in corpus order (may be empty); indexed after
            `pagefit.pagetext.clean_page_text`, as the `ocr-minilm` page route embeds it.
        queries: the query texts.
        stopwords: bm25s stopword list.

    Returns:
        (queries, pages) float32 scores; a query with no indexed term scores 0 everywhere.
    """
    import bm25s
    import numpy as np

    from pagefit.pagetext import clean_page_text

    texts = [clean_page_text(text) for text in page_texts]  # the text ocr-minilm embeds
    if not any(text.strip() for text in texts):
        raise PagefitError(
            "--bm25 needs page text, but every page of the corpus has empty text: "
            "ingest again without `--ocr never` (`pagefit ingest DOCS --out CORPUS --ocr auto`)"
        )
    empty = sum(1 for text in texts if not text.strip())
    if empty:
        logger.warning("bm25: %d of %d pages have no text and can only rank last", empty, len(texts))
    retriever = bm25s.BM25()
    with _quiet("bm25s"):
        retriever.index(bm25s.tokenize(texts, stopwords=stopwords, show_progress=False), show_progress=False)
    tokens = bm25s.tokenize(list(queries), stopwords=stopwords, return_ids=False, show_progress=False)
    scores = np.zeros((len(queries), len(texts)), dtype=np.float32)
    for row, query_tokens in enumerate(tokens):
        if query_tokens:
            scores[row] = retriever.get_scores(query_tokens)
    return scores
