"""Page text repair (`pagefit.pagetext`): cases from real text layers and OCR, applied to BM25 too."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pagefit.pagetext import clean_page_text

REAL_PAGES = [
    json.loads(x) for x in (Path(__file__).parent / "data" / "real_pages.jsonl").open(encoding="utf-8")
]


def _page(page_id: str) -> str:
    return next(p["text"] for p in REAL_PAGES if p["page_id"] == page_id)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        # PDFium marks a word broken over two lines with U+FFFE (dotguide p1, bodeplot p8).
        (
            "It runs as a command line pro\ufffegram, web visualization",
            "It runs as a command line program, web visualization",
        ),
        (
            "the gain, and the transport de\ufffe\nlay of the transfer",
            "the gain, and the transport delay\nof the transfer",
        ),
        # OCR keeps the printed hyphen at the line end (bodeplot p8 through rapidocr).
        (
            "the gain, and the transport de-\nlay of the transfer function",
            "the gain, and the transport delay\nof the transfer function",
        ),
        # ... but a compound the page writes with its hyphen keeps it.
        (
            "entered as a comma-\nseparated list of comma-separated lists",
            "entered as a comma-separated\nlist of comma-separated lists",
        ),
        # A capitalised second part is a name or a new item, not the rest of a word.
        ("Non-\nLinear models", "Non-\nLinear models"),
        ("the \ufb01rst e\ufb00ect and the \ufb02ow", "the first effect and the flow"),
        (
            "a\u00a0no-break\u2009thin  spaces, zero\u200bwidth\r\nnext\tline",
            "a no-break thin spaces, zerowidth\nnext line",
        ),
        # scatter3d pages carry long runs of plot symbols.
        ("points ● ● ● ● ● ● ● ● here", "points ● here"),
        ("top\n\n\n\n\nbottom", "top\n\nbottom"),
    ],
)
def test_repairs(raw, clean):
    assert clean_page_text(raw) == clean


def test_real_text_layers_lose_every_break_mark_and_keep_their_lines():
    for page in REAL_PAGES:
        raw, clean = page["text"], clean_page_text(page["text"])
        assert "\ufffe" not in clean and "\u00ad" not in clean, page["page_id"]
        assert clean_page_text(clean) == clean  # idempotent
        # Lines are kept (a line can only merge with the next where a word was broken over both).
        assert len(clean.splitlines()) >= len(raw.splitlines()) - raw.count("\ufffe\n") - 2
    dotguide = clean_page_text(_page("dotguide-p0001"))
    assert "program" in dotguide.split(", ")[0] or "program," in dotguide
    assert re.search(r"\bstructures;", dotguide)
    assert "transport delay" in clean_page_text(_page("bodeplot-p0008"))


def test_empty_and_none():
    assert clean_page_text(None) == "" and clean_page_text("  \n ") == ""


def test_bm25_indexes_the_repaired_text():
    from pagefit.evaluation.bm25 import bm25_scores

    pages = [_page("bodeplot-p0008"), _page("dotguide-p0001"), _page("countreg-p0002")]
    scores = bm25_scores(pages, ["transport delay", "structures program"])
    # Both words exist only broken in the raw text layer: BM25 finds them after the repair.
    assert scores[0].argmax() == 0 and scores[0, 0] > 0
    assert scores[1].argmax() == 1 and scores[1, 1] > 0
