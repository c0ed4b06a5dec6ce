"""pagefit's one rule for pixel-identical pages ("twins"), used by `pairs`, `mine`, `train` and `eval`.

Two pages are twins when the corpus records the same `image_hash` for them (the same decoded pixels
under two page ids, e.g. a report that repeats a page, or a document ingested twice). The rule:

- a twin of a relevant page is relevant (eval expands its qrels, the training evaluator too);
- a twin of a positive is never a negative (`mine`), and never competes with it (the round-trip filter);
- twins stay on one side of the train/eval split, and so does a document whose pages all have twins in
  another document (`pairs` links those documents).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

__all__ = ["expand_with_twins", "twins_by_page"]


def twins_by_page(page_ids: Sequence[str], hashes: Sequence[str | None]) -> dict[str, list[str]]:
    """page id -> the other page ids with the same image hash (only pages that have twins; no hash, no twin)."""
    by_hash: defaultdict[str, list[str]] = defaultdict(list)
    for pid, key in zip(page_ids, hashes, strict=True):
        if key:
            by_hash[key].append(pid)
    return {
        pid: [o for o in group if o != pid] for group in by_hash.values() if len(group) > 1 for pid in group
    }


def expand_with_twins(relevant: Iterable[str], twins: dict[str, list[str]]) -> list[str]:
    """The relevant page ids followed by the twins of each that are not already listed (order kept)."""
    out = list(dict.fromkeys(relevant))
    seen = set(out)
    for pid in list(out):
        for twin in twins.get(pid, ()):
            if twin not in seen:
                seen.add(twin)
                out.append(twin)
    return out
