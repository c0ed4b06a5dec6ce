"""Page text repair: the one cleaning applied wherever pagefit reads a page's text.

Text layers and OCR both break words in ways no reader sees on the page: a word hyphenated at the end
of a line ("transport de-" / "lay"), PDFium's soft-hyphen marks (U+FFFE, U+00AD) inside a word split
over two lines, ligature characters ("ﬁ", "ﬂ") that tokenizers read as unknown symbols, odd spaces
(no-break, thin, zero-width), and long runs of one plot symbol ("● ● ● ●"). `clean_page_text` repairs
those and keeps the page's line structure (one line per visual line), so table and heading readers
still see lines. It is applied, identically, to

- the text `ocr-minilm` embeds for a page image (`pagefit.models.ocr_text.OcrText`: train, mine, eval,
  index all go through it);
- the text BM25 indexes (`pagefit.evaluation.bm25.bm25_scores`);
- the text the offline query generator reads (`pagefit.querygen.text`).

Running headers, footers and page numbers stay in the embedded text (they say which document a page
belongs to); the query generator leaves them out of queries itself, since telling them apart needs
the other pages of the document.

`TEXT_VERSION` names the rules: the `ocr-minilm` page route records it in its configuration, so
changing the rules changes the model fingerprint and no cached embedding of the old text is reused.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

__all__ = ["TEXT_VERSION", "clean_page_text"]

TEXT_VERSION = "pagetext-1"

_LIGATURES = {
    "\ufb00": "ff",
    "\ufb01": "fi",
    "\ufb02": "fl",
    "\ufb03": "ffi",
    "\ufb04": "ffl",
    "\ufb05": "st",
    "\ufb06": "st",
    "\u0132": "IJ",
    "\u0133": "ij",
    "\u0152": "OE",
    "\u0153": "oe",
}
# Zero-width characters and BOMs: nothing to read.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)
# A break inside a word: PDFium's U+FFFE, a soft hyphen, or a hyphen, then the line end.
_SOFT_BREAK = re.compile(r"([^\W\d_])[\ufffe\u00ad][^\S\n]*\n([^\S\n]*)([^\W\d_]+)([^\s]*)")
_SOFT_LEFT = re.compile(r"[\ufffe\u00ad]")
_LINE_HYPHEN = re.compile(r"(\S*?)([^\W\d_]{2,})[-\u2010]\n(\s*)([a-z][^\W\d_]*)([^\s]*)")
_SPACES = re.compile(r"[^\S\n]+")
_SYMBOL_RUN = re.compile(r"([^\w\s])(?:\s*\1){3,}")
_BLANK_LINES = re.compile(r"\n{3,}")
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


def _odd_spaces(text: str) -> str:
    """Every Unicode space (no-break, thin, ideographic, ...) and tab as a plain space; CR as newline."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_INVISIBLE)
    return "".join(
        " " if (ch != "\n" and unicodedata.category(ch) == "Zs") or ch in "\t\v\f" else ch for ch in text
    )


def _dehyphenate(text: str) -> str:
    """Join a word hyphenated at a line end; keep the hyphen when the page writes the word with one
    elsewhere ("comma-" / "separated" stays "comma-separated") or the second part is capitalised."""
    vocabulary = Counter(m.group(0).lower() for m in _WORD.finditer(text))

    def join(m: re.Match[str]) -> str:
        lead, head, indent, tail, rest = m.groups()
        joined_hyphen = f"{head}-{tail}".lower()
        keep = vocabulary[joined_hyphen] > 0 and vocabulary[(head + tail).lower()] == 0
        word = f"{head}-{tail}" if keep else head + tail
        return f"{lead}{word}{rest}\n{indent}"

    return _LINE_HYPHEN.sub(join, text)


def clean_page_text(text: str | None) -> str:
    """The page text pagefit embeds, indexes and writes queries from (see the module docstring).

    Idempotent: cleaning a cleaned text changes nothing.
    """
    if not text:
        return ""
    for ligature, letters in _LIGATURES.items():
        text = text.replace(ligature, letters)
    text = _odd_spaces(text)
    text = _SOFT_BREAK.sub(r"\1\3\4\n\2", text)
    text = _SOFT_LEFT.sub("", text)
    text = _dehyphenate(text)
    text = _SYMBOL_RUN.sub(r"\1", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    text = "\n".join(lines)
    return _BLANK_LINES.sub("\n\n", text).strip()
