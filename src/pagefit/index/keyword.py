"""The BM25 index of an index's page text (``--hybrid``): `eval --bm25`'s index, saved with the index.

It *is* `pagefit.evaluation.bm25.BM25Index`, built by `BM25Index.from_pages` as `eval --bm25` builds
it: the page text cleaned by `pagefit.pagetext.clean_page_text` (soft hyphens, ligatures, line-end
hyphenation), tokenised, stemmed and stopped for the index's ``--language`` (stored in the manifest).
So `search --hybrid` scores a page as `eval --bm25` / `eval --hybrid` does (`tests/test_index.py`).

Saved with bm25s' own format under ``INDEX/bm25/``, beside a record of what it was built from (page
count, BM25 settings, cleaning rules); rebuilt whenever the page table changes (BM25's IDF depends on
every page, so it cannot be patched page by page), and rebuilt in memory when the saved one was built
from other pages or with other settings (an index written by an older pagefit).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pagefit.errors import PagefitError
from pagefit.evaluation.bm25 import BM25Index, BM25Settings

__all__ = ["BM25_DIR", "KeywordIndex"]

logger = logging.getLogger(__name__)

BM25_DIR = "bm25"
_RECORD = "pagefit_keyword.json"


def _record(n_pages: int, settings: BM25Settings) -> dict:
    from pagefit.pagetext import TEXT_VERSION

    return {"n_pages": n_pages, "settings": settings.describe(), "text": TEXT_VERSION}


class KeywordIndex:
    """BM25 scores of every page of the index for a query."""

    def __init__(self, bm25: BM25Index) -> None:
        self.bm25 = bm25

    @property
    def n_pages(self) -> int:
        return self.bm25.num_docs

    @property
    def settings(self) -> BM25Settings:
        return self.bm25.settings

    @classmethod
    def build(cls, texts: Sequence[str | None], settings: BM25Settings | str | None = None) -> KeywordIndex:
        """Index the pages' text (in table order) with `settings` (or a language code; None: English)."""
        return cls(BM25Index.from_pages(texts, settings))

    def save(self, folder: str | os.PathLike[str]) -> None:
        """Write ``folder/bm25`` whole (temporary sibling, then renamed in)."""
        from pagefit._io import atomic_write_json, fsync_dir

        target = Path(folder) / BM25_DIR
        tmp = Path(tempfile.mkdtemp(prefix=".bm25.", dir=folder))
        try:
            self.bm25.save(tmp)
            atomic_write_json(tmp / _RECORD, _record(self.n_pages, self.settings))
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
            fsync_dir(folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @classmethod
    def load(
        cls,
        folder: str | os.PathLike[str],
        texts: Sequence[str | None],
        settings: BM25Settings | str | None = None,
    ) -> KeywordIndex:
        """The saved index when it was built from ``texts``' pages with ``settings``, else one built now."""
        if not isinstance(settings, BM25Settings):
            settings = BM25Settings.for_language(settings)
        target = Path(folder) / BM25_DIR
        try:
            record = json.loads((target / _RECORD).read_text(encoding="utf-8"))
            if record == json.loads(json.dumps(_record(len(texts), settings))):
                return cls(BM25Index.load(target))
        except (OSError, ValueError, PagefitError):
            pass
        logger.warning("BM25 index in %s is missing or stale: rebuilding it in memory", folder)
        return cls.build(texts, settings)

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """(queries, pages) BM25 scores; a query with no indexed term scores 0 everywhere."""
        return self.bm25.scores(list(queries))
