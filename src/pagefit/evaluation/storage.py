"""Storage per page of a report entry, so single-vector, multi-vector and BM25 compare on size too.

Dense entries: ``vectors x dim x bytes per value`` of what the entry scored (the float32 cache rows;
`pagefit.evaluation.maxsim` reports multi-vector sets the same way). BM25 has no vectors: its index
holds one posting per (page, distinct term), a 4-byte page id and a 4-byte weight in bm25s' sparse
score matrix, so its size per page is ``8 x distinct terms``.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["BM25_BYTES_PER_POSTING", "bm25_bytes_per_page"]

BM25_BYTES_PER_POSTING = 8  # int32 page index + float32 score


def bm25_bytes_per_page(page_texts: Sequence[str], *, stopwords: str = "en") -> float | None:
    """Mean BM25 index size of a page: its distinct indexed terms x 8 bytes (same tokenizer as `bm25_scores`)."""
    import bm25s

    texts = [text or "" for text in page_texts]
    if not texts:
        return None
    tokens = bm25s.tokenize(texts, stopwords=stopwords, show_progress=False)
    postings = sum(len(set(ids)) for ids in tokens.ids)
    return round(BM25_BYTES_PER_POSTING * postings / len(texts), 1)
