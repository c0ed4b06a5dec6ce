"""A short extract of a page's text around the query's words, for result lists."""

from __future__ import annotations

import re

__all__ = ["make_snippet"]

_WORD = re.compile(r"\w+", re.UNICODE)
_SHORT = 2  # words this short ("a", "of") do not anchor a snippet


def make_snippet(text: str, query: str, width: int = 200) -> str:
    """The ``width``-character window of ``text`` holding the most distinct query words.

    Whitespace is collapsed; ``…`` marks a cut. Without any query word in the text, its start.
    """
    text = " ".join((text or "").split())
    if len(text) <= width:
        return text
    terms = {w.lower() for w in _WORD.findall(query) if len(w) > _SHORT}
    hits = [(m.start(), m.group().lower()) for m in _WORD.finditer(text) if m.group().lower() in terms]
    start = 0
    if hits:
        best = -1
        for i, (position, _) in enumerate(hits):
            distinct = {word for pos, word in hits[i:] if pos < position + width - 40}
            if len(distinct) > best:
                best, start = len(distinct), max(0, position - 40)
    start = _word_boundary(text, start)
    end = min(len(text), start + width)
    piece = text[start:end].strip()
    return ("…" if start > 0 else "") + piece + ("…" if end < len(text) else "")


def _word_boundary(text: str, start: int) -> int:
    if start <= 0:
        return 0
    space = text.find(" ", start)
    return space + 1 if 0 <= space < start + 20 else start
