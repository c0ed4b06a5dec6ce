"""The pairs report: every page's thumbnail with its queries, counts per kind, written by `pairs`."""

from __future__ import annotations

import base64
import io
import json
import re
from collections import Counter
from html.parser import HTMLParser

from PIL import Image

from pagefit.pairs import pairs
from pagefit.pairs_report import REPORT
from test_pairs import make_corpus, topic_docs


class _Report(HTMLParser):
    """The pages of the report: id -> (thumbnail data URI, [list item texts]); the counts table."""

    def __init__(self) -> None:
        super().__init__()
        self.pages: dict[str, tuple[str | None, list[str]]] = {}
        self.cells: list[str] = []
        self._page: str | None = None
        self._in: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "div" and attrs.get("class") == "page":
            self._page = attrs["id"]
            self.pages[self._page] = (None, [])
        elif tag == "img" and self._page:
            self.pages[self._page] = (attrs["src"], self.pages[self._page][1])
        elif tag in ("li", "td", "th"):
            self._in, self._text = tag, []

    def handle_data(self, data):
        if self._in:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == self._in:
            text = "".join(self._text).strip()
            if tag == "li" and self._page:
                self.pages[self._page][1].append(text)
            elif tag in ("td", "th"):
                self.cells.append(text)
            self._in = None


def test_pairs_writes_a_report_with_thumbnails_queries_and_counts(tmp_path):
    docs = topic_docs()
    docs["scan/blank"] = [""]
    corpus = make_corpus(tmp_path / "corpus", docs)
    out = tmp_path / "pairs"
    result = pairs(corpus, out, generate="text", per_page=3, eval_fraction=0.25, seed=1, show_progress=False)
    parser = _Report()
    parser.feed((out / REPORT).read_text(encoding="utf-8"))

    queries = [json.loads(x) for x in (out / "queries.jsonl").read_text().splitlines()]
    assert set(parser.pages) == {f"{d}#p{n}" for d, texts in docs.items() for n in range(1, len(texts) + 1)}
    for q in queries:  # every query is listed under its page, with its kind (and eval ones marked)
        (page,) = q["page_ids"]
        items = parser.pages[page][1]
        assert any(q["query"] in item and item.startswith(q["kind"]) for item in items), q
        assert any(("(eval)" in item) == (q["split"] == "eval") for item in items if q["query"] in item)
    # A page without queries says why.
    assert parser.pages["scan/blank#p1"][1] == [re.sub(r"\s+", " ", parser.pages["scan/blank#p1"][1][0])]
    assert "no text" in parser.pages["scan/blank#p1"][1][0]
    # Thumbnails are real, decodable JPEGs of the page images, embedded in the file.
    src = parser.pages[queries[0]["page_ids"][0]][0]
    assert src and src.startswith("data:image/jpeg;base64,")
    thumb = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
    assert thumb.format == "JPEG" and thumb.width <= 180
    # The counts table: one row per split (train, validation, eval, all) and kind, matching queries.jsonl.
    kinds = sorted(result.kinds)
    header = ["split", *kinds, "all"]
    assert parser.cells[: len(header)] == header
    rows = [parser.cells[i : i + len(header)] for i in range(len(header), len(parser.cells), len(header))]
    expected = {
        s: Counter(q["kind"] for q in queries if s == "all" or q["split"] == s)
        for s in ("train", "validation", "eval", "all")
    }
    assert [row[0] for row in rows] == ["train", "validation", "eval", "all"]
    for row in rows:
        assert [int(v) for v in row[1:-1]] == [expected[row[0]][k] for k in kinds], row
        assert int(row[-1]) == sum(expected[row[0]].values())
