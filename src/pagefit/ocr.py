"""Page text: OCR with rapidocr, cached on disk by image content hash.

One cache serves every stage: `ingest` stores each page's text (text layer or OCR) under the page
image's pixel hash, and the `ocr-minilm` model's image route reads it from there, so a page is read
once, whatever stage reads it first, in whatever process.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pagefit._io import JsonCache, image_key

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

__all__ = ["ENGINE_PARAMS", "PageTextCache", "TextSource", "ocr_image", "page_text"]

logger = logging.getLogger(__name__)

TextSource = Literal["pdf", "ocr", "none"]

_engine = None
_engine_lock = threading.Lock()

# Pages are upright renders and scans: no per-line 180-degree angle classifier. The text detector sees
# the page with its longer side at most 800 px (rapidocr's default keeps the shorter side >= 736 px, i.e.
# the whole 910x1300 page); recognition still reads the boxes from the full-resolution page. Measured on
# 6 dense real pages of ../shared/devset (2026-12-02, word recall against their PDF text layer): 4.6 s
# a page of CPU at recall 0.994, against 5.9 s at 0.990 without the classifier alone and 6.6 s at 0.986
# with rapidocr's defaults. Larger recognition batches were slower (padding to the longest line); a 640 px
# detector was faster still (4.0 s) but lost recall (0.987). See benchmarks/ocr.py.
ENGINE_PARAMS: dict[str, object] = {
    "Global.use_cls": False,
    "Det.limit_type": "max",
    "Det.limit_side_len": 800,
}


class PageTextCache:
    """Page text keyed by image pixel hash: `(text, source)` entries of a `JsonCache` (safe across processes)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self._store = JsonCache("text", root)
        self.root = self._store.root

    def get(self, key: str) -> tuple[str, TextSource] | None:
        entry = self._store.get(key)
        return None if entry is None else (entry["text"], entry["source"])

    def put(self, key: str, text: str, source: TextSource) -> None:
        self._store.put(key, {"text": text, "source": source})


def _get_engine():
    global _engine
    with _engine_lock:
        if _engine is None:
            from rapidocr import RapidOCR

            _engine = RapidOCR(params={"Global.log_level": "error", **ENGINE_PARAMS})
        return _engine


def _reading_order(boxes: np.ndarray, texts: tuple[str, ...]) -> str:
    """Join OCR lines top to bottom, left to right; boxes on one visual line share a line."""
    items = sorted(
        (
            (float(b[:, 1].min()), float(b[:, 1].max()), float(b[:, 0].min()), t)
            for b, t in zip(boxes, texts, strict=True)
        ),
        key=lambda item: (item[0], item[2]),
    )
    lines: list[list[tuple[float, str]]] = []
    line_bottom = -1.0
    for top, bottom, left, text in items:
        if lines and top < line_bottom - 0.5 * (bottom - top):
            lines[-1].append((left, text))
            line_bottom = max(line_bottom, bottom)
        else:
            lines.append([(left, text)])
            line_bottom = bottom
    return "\n".join(" ".join(t for _, t in sorted(line)) for line in lines)


def ocr_image(image: Image.Image) -> str:
    """Read the text of a page image with rapidocr (PP-OCR ONNX models shipped in its wheel)."""
    import numpy as np

    result = _get_engine()(np.asarray(image.convert("RGB")))
    if result.txts is None or result.boxes is None or not len(result.txts):
        return ""
    return _reading_order(np.asarray(result.boxes), tuple(result.txts))


def page_text(image: Image.Image, *, key: str | None = None, cache: PageTextCache | None = None) -> str:
    """The text of a page image: from the cache when any stage has read it before, else by OCR."""
    cache = cache or PageTextCache()
    key = key or image_key(image)
    hit = cache.get(key)
    if hit is not None:
        return hit[0]
    text = ocr_image(image)
    cache.put(key, text, "ocr")
    return text
