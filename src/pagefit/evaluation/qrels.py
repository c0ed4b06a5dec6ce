"""The duplicates rule in evaluation: a pixel-identical twin of a relevant page is relevant.

Without it, a twin (same `image_hash` under another page id) is scored non-relevant and can even rank
first on a tie; `pagefit.duplicates` holds the one rule `pairs`, `mine`, `train` and `eval` share.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pagefit.duplicates import expand_with_twins, twins_by_page

if TYPE_CHECKING:
    from pagefit.queries import Query

__all__ = ["expand_qrels"]


def expand_qrels(
    queries: Sequence[Query], page_ids: Sequence[str], hashes: Sequence[str | None] | None
) -> tuple[list[Query], dict[str, int]]:
    """Add every twin of a relevant page to the query's relevant pages.

    Returns:
        The queries (copies where expanded) and `{"qrels_added": n, "queries_expanded": m}` for the report.
    """
    if not hashes:
        return list(queries), {"qrels_added": 0, "queries_expanded": 0}
    twins = twins_by_page(page_ids, hashes)
    out, added, expanded = [], 0, 0
    for q in queries:
        pages = expand_with_twins(q.page_ids, twins)
        if len(pages) > len(q.page_ids):
            added += len(pages) - len(q.page_ids)
            expanded += 1
            q = q.model_copy(update={"page_ids": pages})
        out.append(q)
    return out, {"qrels_added": added, "queries_expanded": expanded}
