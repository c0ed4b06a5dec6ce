"""The BM25 index of an index's page text (``--hybrid``), with eval's BM25 settings.

Same scorer and tokenisation as `pagefit.evaluation.bm25.bm25_scores`: where that module provides
`BM25Index` (its reusable build/save/load/scores with the stemmer and settings of `eval --bm25`),
this index *is* one; otherwise it mirrors `bm25_scores` (bm25s defaults, English stopwords).
`tests/test_index.py` checks both give identical scores, so `search --hybrid` and `eval --hybrid`
rank alike. Saved with bm25s' own format under ``INDEX/bm25/``; rebuilt whenever the
page table changes (BM25's IDF depends on every page, so it cannot be patched page by page).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pagefit.errors import PagefitError
from pagefit.evaluation.bm25 import _quiet

__all__ = ["BM25_DIR", "KeywordIndex"]

logger = logging.getLogger(__name__)

BM25_DIR = "bm25"
STOPWORDS = "en"


def _shared_index():
    """eval's reusable BM25 index class, when `pagefit.evaluation.bm25` has one."""
    from pagefit.evaluation import bm25

    return getattr(bm25, "BM25Index", None)


class KeywordIndex:
    """BM25 scores of every page of the index for a query."""

    def __init__(self, retriever, n_pages: int) -> None:
        self.retriever = retriever
        self.n_pages = n_pages

    @classmethod
    def build(cls, texts: Sequence[str]) -> KeywordIndex:
        import bm25s

        if (shared := _shared_index()) is not None:
            return cls(shared.build([t or "" for t in texts]), len(texts))
        retriever = bm25s.BM25()
        tokens = bm25s.tokenize([t or "" for t in texts], stopwords=STOPWORDS, show_progress=False)
        with _quiet("bm25s"):
            retriever.index(tokens, show_progress=False)
        return cls(retriever, len(texts))

    def save(self, folder: str | os.PathLike[str]) -> None:
        """Write ``folder/bm25`` whole (temporary sibling, then renamed in)."""
        target = Path(folder) / BM25_DIR
        tmp = Path(tempfile.mkdtemp(prefix=".bm25.", dir=folder))
        if _shared_index() is not None and isinstance(self.retriever, _shared_index()):
            self.retriever.save(tmp)
        else:
            with _quiet("bm25s"):
                self.retriever.save(str(tmp))
        (tmp / "n_pages").write_text(str(self.n_pages))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)

    @classmethod
    def load(cls, folder: str | os.PathLike[str], texts: Sequence[str]) -> KeywordIndex:
        """The saved index when it matches ``texts`` (same page count), else one built from them."""
        import bm25s

        target = Path(folder) / BM25_DIR
        try:
            if int((target / "n_pages").read_text()) == len(texts):
                if (shared := _shared_index()) is not None:
                    return cls(shared.load(target), len(texts))
                with _quiet("bm25s"):
                    return cls(bm25s.BM25.load(str(target)), len(texts))
        except (OSError, ValueError, PagefitError):
            pass
        logger.warning("BM25 index in %s is missing or stale: rebuilding it in memory", folder)
        return cls.build(texts)

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """(queries, pages) BM25 scores; a query with no indexed term scores 0 everywhere."""
        import bm25s

        if _shared_index() is not None and isinstance(self.retriever, _shared_index()):
            return self.retriever.scores(list(queries))
        tokens = bm25s.tokenize(list(queries), stopwords=STOPWORDS, return_ids=False, show_progress=False)
        out = np.zeros((len(queries), self.n_pages), dtype=np.float32)
        for row, query_tokens in enumerate(tokens):
            if query_tokens and self.n_pages:
                out[row] = self.retriever.get_scores(query_tokens)
        return out
