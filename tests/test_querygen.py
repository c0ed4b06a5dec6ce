"""Synthetic query generators: text (offline), openai (against a real local HTTP server), local (tiny
Qwen3-VL), the answer parser and the filters."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import re
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pagefit.corpus import corpus_pages
from pagefit.errors import PagefitError
from pagefit.pairs import FAILURES, pairs, read_failures
from pagefit.querygen import GeneratedQuery, MalformedAnswerError, Page, ResponseCache, parse_query_answer
from pagefit.querygen.filters import (
    FilterReport,
    QueryFilterConfig,
    clean_query,
    filter_queries,
    longest_copied_run,
    mentions_the_page,
)
from pagefit.querygen.openai import OpenAIQueryGenerator
from pagefit.querygen.text import TextQueryGenerator
from test_pairs import make_corpus, page_text, topic_docs


def _pages(root: Path, docs: dict[str, list[str]]) -> list[Page]:
    from pagefit.corpus import load_corpus

    corpus = make_corpus(root, docs)
    return corpus_pages(corpus, load_corpus(corpus))


# ---------------------------------------------------------------------------------------------
# Answer parsing and filters
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ('{"specific": ["a b c"], "general": ["d e"]}', [("specific", "a b c"), ("general", "d e")]),
        ('{"specific": "a b c", "general": "d e"}', [("specific", "a b c"), ("general", "d e")]),
        ('Sure!\n```json\n{"specific": ["a b"], "general": []}\n```\nHope it helps', [("specific", "a b")]),
        ('Here: {"queries": ["x y", "z w"]} done', [("generated", "x y"), ("generated", "z w")]),
        ('["one two", "three four"]', [("generated", "one two"), ("generated", "three four")]),
    ],
)
def test_parse_query_answer(answer, expected):
    assert parse_query_answer(answer) == expected


def test_parse_query_answer_rejects_or_reads_lines():
    for bad in ["no json here", '{"specific": [], "general": []}', '{"specific": ["unterminated', ""]:
        with pytest.raises(MalformedAnswerError):
            parse_query_answer(bad)
    lines = "1. first query here\n- second query\nQ3: third one\n\n"
    assert parse_query_answer(lines, allow_lines=True) == [
        ("generated", "first query here"), ("generated", "second query"), ("generated", "third one"),
    ]  # fmt: skip


def test_mentions_the_page():
    for text in ["What does this document say about fees?", "the chart above shows revenue", "in the image, who signs",
                 "According to the page, when is the deadline?", "what is shown here"]:  # fmt: skip
        assert mentions_the_page(text), text
    for text in [
        "documents required for a visa",
        "table tennis rules",
        "page rank algorithm",
        "imaging centre costs",
    ]:
        assert not mentions_the_page(text), text


def test_filter_queries_dedupes_bounds_and_drops_ambiguous():
    a = Page(
        "a#p1",
        "a",
        1,
        "/a.png",
        "ha",
        "Cargo tonnage rose to 47 units in 2013 at the northern harbor terminal.",
    )
    b = Page("b#p1", "b", 1, "/b.png", "hb", "Ferry routes were cut.")
    twin = Page("a2#p1", "a2", 1, "/a2.png", "ha", a.text)  # same pixels as a: a duplicate page, not a rival
    pages = {p.page_id: p for p in (a, b, twin)}
    queries = [
        GeneratedQuery("a#p1", '  1. "cargo tonnage 2013"  ', "keyword"),
        GeneratedQuery("a#p1", "2013 tonnage cargo", "keyword"),  # same words: duplicate
        GeneratedQuery("a#p1", "x", "keyword"),  # too short
        GeneratedQuery("a#p1", " ".join(["word"] * 40), "keyword"),  # too long
        GeneratedQuery("a#p1", "what does this page say about cargo", "question"),
        GeneratedQuery("a#p1", "cargo tonnage rose to 47 units in 2013", "question"),  # copies 8 words
        GeneratedQuery("a#p1", "harbor ferry schedule", "keyword"),
        GeneratedQuery("b#p1", "harbor ferry schedule", "keyword"),  # two different pages: ambiguous
        GeneratedQuery("a2#p1", "cargo tonnage 2013", "keyword"),  # duplicate page: kept once
    ]
    report = FilterReport()
    kept = filter_queries(queries, pages, QueryFilterConfig(max_copied_words=5), report)
    assert kept == [GeneratedQuery("a#p1", "cargo tonnage 2013", "keyword")]
    assert report.as_dict() == {"ambiguous": 2, "copies_the_page": 1, "duplicate": 2, "mentions_the_page": 1,
                                "too_long": 1, "too_short": 1}  # fmt: skip
    assert clean_query('- "What is X?" ') == "What is X?"


# ---------------------------------------------------------------------------------------------
# --generate text
# ---------------------------------------------------------------------------------------------

RICH_PAGE = """Northwind Traders Annual Report 2023
3. Regional Revenue
Revenue grew strongly in the northern markets, driven by new coffee subscriptions.
Operating costs rose by 4% in 2023 compared with 2022.
Chief financial officer Maria Lopez presented the audit to the board.
The Harbour roastery, headquartered in Lisbon, opened in March 2019.
Table 2. Revenue by region, 2023 (EUR million)
Region
North
South
Coastal Islands
2022
12.5
8.2
3.1
2023
17.9
7.7
4.0
Figure 4: Quarterly coffee subscription growth by channel, 2023
"""


def test_text_generator_yields_several_kinds_per_page(tmp_path):
    docs = topic_docs()
    docs["finance/northwind"] = [RICH_PAGE]
    pages = _pages(tmp_path / "corpus", docs)
    result = TextQueryGenerator(spans_per_page=0).generate(pages, per_page=5, show_progress=False)
    by_page = defaultdict(list)
    for q in result.queries:
        by_page[q.page_id].append(q)
    assert set(by_page) == {p.page_id for p in pages} and not result.failures
    assert all(len(qs) <= 5 and len({q.kind for q in qs}) >= 3 for qs in by_page.values())
    rich = {q.kind: q.query for q in by_page["finance/northwind#p1"]}
    assert set(rich) == {"question", "keyword", "table", "caption", "heading"}
    cells = {f"what was northwind traders' revenue for {r} in {y}?" for r in ("north", "south", "coastal islands")
             for y in ("2022", "2023")}  # fmt: skip
    assert (
        rich["table"] in cells
    )  # a cell's row x column; its value (e.g. 12.5) is the answer, not in the query
    # Answers stay out of questions: no number of the page appears in its question-style queries.
    for q in result.queries:
        if q.kind in {"question", "table"}:
            assert not {"12.5", "17.9", "47", "51"} & set(q.query.split()), q


def test_text_generator_bounds_copied_words_and_is_deterministic(tmp_path):
    # Long sentences and headings tempt a generator to copy; no query may repeat > 5 consecutive words.
    docs = topic_docs()
    docs["long/headings"] = [
        "The Quarterly Review Of Regional Harbour Infrastructure Investment Programmes\n"
        "The quarterly review of regional harbour infrastructure investment programmes was completed in May 2021 "
        "and the regional harbour infrastructure investment programme office is responsible for the review.",
        RICH_PAGE,
    ]
    pages = _pages(tmp_path / "corpus", docs)
    for bound in (3, 5):
        result = TextQueryGenerator(max_copied_words=bound).generate(pages, per_page=6, show_progress=False)
        texts = {p.page_id: p.text for p in pages}
        bounded = [q for q in result.queries if q.kind != "span"]  # spans copy the page by design
        assert bounded and len(bounded) < len(result.queries)
        assert max(longest_copied_run(q.query, texts[q.page_id]) for q in bounded) <= bound
    again = TextQueryGenerator(max_copied_words=5).generate(pages, per_page=6, show_progress=False)
    first = TextQueryGenerator(max_copied_words=5).generate(pages, per_page=6, show_progress=False)
    assert again.queries == first.queries


SPAN_PAGES = [
    "Harbour Works Manual\n"
    "The pump station drains the lower basin whenever the tide gauge reports a level above the warning mark, "
    "and the operator logs every start in the shift book.\n"
    "\\begin{tikzpicture} \\draw (0,0) -- (1,1); \\end{tikzpicture}\n"
    "12.5 17.9 4.0 3.1 8.2 0.77 19 21 2022 2023 7.7\n"
    "Valves on the eastern pier are greased twice a year by the maintenance crew, who also replace worn seals "
    "before the winter storms arrive.\n"
    "Harbour Works Manual 1",
    "Harbour Works Manual\n"
    "Night shifts check the mooring lines of every moored vessel and report frayed ropes to the harbour master "
    "before dawn.\n"
    "Harbour Works Manual 2",
    "Harbour Works Manual\n"
    "Cranes are inspected by certified engineers after every heavy lift and the results are filed with the port "
    "authority within a week.\n"
    "Harbour Works Manual 3",
]


def test_text_generator_spans_crop_running_text_and_pass_the_filters(tmp_path):
    # Spans: 6-12 consecutive words of the page's prose, never its code, number runs or running header.
    pages = _pages(tmp_path / "corpus", {"ops/harbour": SPAN_PAGES, **topic_docs()})
    result = TextQueryGenerator(spans_per_page=3).generate(pages, per_page=3, show_progress=False)
    spans = [q for q in result.queries if q.kind == "span"]
    texts = {p.page_id: " ".join(p.text.split()) for p in pages}
    assert {q.page_id for q in spans} >= {"ops/harbour#p1", "ops/harbour#p2", "ops/harbour#p3"}
    assert Counter(q.page_id for q in spans).most_common(1)[0][1] <= 3
    for q in spans:
        assert 6 <= len(q.query.split()) <= 12, q
        assert q.query in texts[q.page_id], q  # a crop, in the page's own word order
        assert not re.search(r"[\\{}=]|tikzpicture|\b\d+\.\d\b", q.query), q  # no code, no number runs
        assert "Harbour Works Manual" not in q.query, q  # the running header is boilerplate
    # ...and the pairs filters keep them, though they copy more than --max-copied-words of the page.
    kept = filter_queries(result.queries, {p.page_id: p for p in pages}, QueryFilterConfig(max_copied_words=5,
                          copying_kinds=TextQueryGenerator.copying_kinds))  # fmt: skip
    assert {q.query for q in kept if q.kind == "span"} == {q.query for q in spans}
    strict = filter_queries(
        result.queries, {p.page_id: p for p in pages}, QueryFilterConfig(max_copied_words=5)
    )
    assert not [q for q in strict if q.kind == "span"]
    assert not [q for q in TextQueryGenerator(spans_per_page=0).generate(pages, 3, show_progress=False).queries
                if q.kind == "span"]  # fmt: skip
    with pytest.raises(ValueError, match="spans_per_page"):
        TextQueryGenerator(spans_per_page=-1)


def test_text_generator_other_languages_and_empty_pages(tmp_path):
    german = (
        "Jahresbericht der Stadtwerke Rosbach\nDie Stadtwerke haben im Jahr 2022 insgesamt 45 Millionen "
        "Kilowattstunden Strom erzeugt und an die Haushalte der Region geliefert. Die Wasserversorgung wurde "
        "modernisiert und das Leitungsnetz um zwölf Kilometer erweitert."
    )
    pages = _pages(tmp_path / "corpus", {"de/bericht": [german], "scan/blank": [""], **topic_docs()})
    result = TextQueryGenerator().generate(pages, per_page=4, show_progress=False)
    german_queries = [q for q in result.queries if q.page_id == "de/bericht#p1"]
    assert german_queries and {q.kind for q in german_queries} <= {"keyword", "heading", "table", "span"}
    assert not any(w in q.query.split() for q in german_queries for w in ("what", "how", "which", "who"))
    assert result.failures == [
        {"page_id": "scan/blank#p1", "error": pytest.approx(result.failures[0]["error"])}
    ]
    assert "no text" in result.failures[0]["error"]


def test_text_generator_reads_one_line_table_rows(tmp_path):
    page = page_text("reports/harbor", "container cranes", 1)  # "Site 2022 2023 / North 4 6 / South 8 3"
    pages = _pages(
        tmp_path / "corpus",
        {"reports/harbor": [page], "reports/orchard": ["Apple scab spreads in wet springs."]},
    )
    result = TextQueryGenerator().generate(pages, per_page=6, show_progress=False)
    tables = [q.query for q in result.queries if q.kind == "table"]
    assert tables and all(("north" in t or "south" in t) and ("2022" in t or "2023" in t) for t in tables)


# ---------------------------------------------------------------------------------------------
# --generate openai against a real HTTP server on 127.0.0.1
# ---------------------------------------------------------------------------------------------


class _FakeVLM:
    """An OpenAI-compatible /v1/chat/completions endpoint whose answer per page follows a script:
    "ok", "500", "sleep" (answers after the client timed out), "garbage" (a body that is no JSON),
    "noqueries" (valid JSON whose message holds no queries). The last step repeats."""

    def __init__(self, images: dict[str, str]) -> None:
        self.images = images  # base64 of the image file -> page id
        self.script: dict[str, list[str]] = {}
        self.calls: Counter[str] = Counter()
        self.auth: set[str | None] = set()
        self.prompts: set[str] = set()
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                content = body["messages"][0]["content"]
                url = next(c["image_url"]["url"] for c in content if c["type"] == "image_url")
                page = fake.images[url.split(",", 1)[1]]
                with fake.lock:
                    fake.auth.add(self.headers.get("Authorization"))
                    fake.prompts.add(next(c["text"] for c in content if c["type"] == "text"))
                    steps = fake.script.get(page, ["ok"])
                    step = steps[min(fake.calls[page], len(steps) - 1)]
                    fake.calls[page] += 1
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up waiting
                    fake.respond(self, page, step, body["model"])

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @staticmethod
    def respond(handler: BaseHTTPRequestHandler, page: str, step: str, model: str) -> None:
        if step == "sleep":
            time.sleep(1.2)
        if step == "500":
            handler.send_response(500)
            handler.end_headers()
            handler.wfile.write(b'{"error": "overloaded"}')
            return
        name = page.replace("/", " ").replace("#p", " page ")
        answer = json.dumps(
            {"specific": [f"exact figure for {name}"], "general": [f"overview of {name} topics"]}
        )
        message = "I cannot see it" if step == "noqueries" else f"```json\n{answer}\n```"
        payload = (
            b"<html>Bad gateway</html>"
            if step == "garbage"
            else json.dumps(
                {
                    "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": message}}],
                }
            ).encode()
        )
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)


@pytest.fixture
def fake_vlm(tmp_path):
    from pagefit.corpus import corpus_image_paths

    docs = {"a": ["page one", "page two", "page three"], "b": ["page four", "page five"]}
    corpus = make_corpus(tmp_path / "corpus", docs)
    ids = [f"{d}#p{n}" for d, texts in docs.items() for n in range(1, len(texts) + 1)]
    images = {
        base64.b64encode(Path(p).read_bytes()).decode(): pid
        for pid, p in zip(ids, corpus_image_paths(corpus), strict=True)
    }
    fake = _FakeVLM(images)
    fake.thread.start()
    fake.corpus = corpus
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def _generator(fake: _FakeVLM, cache: Path) -> OpenAIQueryGenerator:
    return OpenAIQueryGenerator(base_url=fake.base_url, model="tiny-vlm", concurrency=3, timeout=0.4, max_retries=2,
                                backoff=0.01, cache=ResponseCache(cache))  # fmt: skip


def test_openai_backend_retries_records_failures_resumes_from_cache(fake_vlm, tmp_path, monkeypatch):
    monkeypatch.setenv("PAGEFIT_TEST_KEY", "sk-local")
    fake_vlm.script = {
        "a#p2": ["500", "ok"],
        "a#p3": ["sleep", "ok"],
        "b#p1": ["garbage", "noqueries", "ok"],
        "b#p2": ["500"],  # down for good: 1 try + 2 retries
    }
    gen = _generator(fake_vlm, tmp_path / "cache")
    gen.api_key_env = "PAGEFIT_TEST_KEY"
    out = tmp_path / "pairs"
    result = pairs(fake_vlm.corpus, out, generate=gen, per_page=2, eval_fraction=0.4, show_progress=False)
    assert fake_vlm.calls == {"a#p1": 1, "a#p2": 2, "a#p3": 2, "b#p1": 3, "b#p2": 3}
    assert fake_vlm.auth == {"Bearer sk-local"}
    assert len(fake_vlm.prompts) == 1 and "same language" in next(iter(fake_vlm.prompts))
    failures = read_failures(out)
    assert [(f["page_id"], f["attempts"]) for f in failures] == [("b#p2", 3)] and "HTTP 500" in failures[0][
        "error"
    ]
    assert result.failures == 1
    # Nothing lost: every page has its two queries (specific + general) or a recorded failure.
    queries = [json.loads(x) for x in (out / "queries.jsonl").read_text().splitlines()]
    per_page = Counter(q["page_ids"][0] for q in queries)
    assert per_page == {"a#p1": 2, "a#p2": 2, "a#p3": 2, "b#p1": 2}
    assert Counter(q["kind"] for q in queries) == {"specific": 4, "general": 4}

    # The server recovers; a second run asks only the page that failed, a third asks nothing.
    fake_vlm.script = {}
    before = sum(fake_vlm.calls.values())
    pairs(fake_vlm.corpus, out, generate=_generator(fake_vlm, tmp_path / "cache"), per_page=2, eval_fraction=0.4,
          show_progress=False)  # fmt: skip
    assert sum(fake_vlm.calls.values()) - before == 1 and not (out / FAILURES).exists()
    second = (out / "queries.jsonl").read_text()
    before = sum(fake_vlm.calls.values())
    gen = _generator(fake_vlm, tmp_path / "cache")
    pairs(fake_vlm.corpus, out, generate=gen, per_page=2, eval_fraction=0.4, show_progress=False)
    assert sum(fake_vlm.calls.values()) == before and gen.stats["cached"] == 5
    assert (out / "queries.jsonl").read_text() == second


def test_openai_backend_stops_on_a_refused_key(fake_vlm, tmp_path):
    class Refuse(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(401)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        gen = OpenAIQueryGenerator(base_url=f"http://127.0.0.1:{server.server_address[1]}/v1", model="m",
                                   cache=ResponseCache(tmp_path / "cache"), backoff=0.01)  # fmt: skip
        with pytest.raises(PagefitError, match="OPENAI_API_KEY"):
            pairs(fake_vlm.corpus, tmp_path / "pairs", generate=gen, show_progress=False)
    finally:
        server.shutdown()
        server.server_close()


def test_cli_generators_need_their_settings(tmp_path):
    from typer.testing import CliRunner

    from pagefit.cli import app

    corpus = make_corpus(tmp_path / "corpus", {"a": ["x y z"], "b": ["u v w"]})
    for args, message in [(["--generate", "openai"], "--base-url"), (["--generate", "local"], "--model"),
                          (["--generate", "magic"], "unknown generator")]:  # fmt: skip
        res = CliRunner().invoke(app, ["pairs", str(corpus), "--out", str(tmp_path / "p"), *args])
        assert res.exit_code != 0 and message in str(res.exception)


def test_cli_spans_sets_the_text_generators_crops(tmp_path):
    from typer.testing import CliRunner

    from pagefit.cli import app

    corpus = make_corpus(tmp_path / "corpus", {"ops/harbour": SPAN_PAGES, **topic_docs()})
    for spans in (0, 2):
        out = tmp_path / f"pairs-{spans}"
        res = CliRunner().invoke(app, ["pairs", str(corpus), "--out", str(out), "--generate", "text",
                                       "--spans", str(spans), "--no-progress"])  # fmt: skip
        assert res.exit_code == 0, res.output
        meta = json.loads((out / "pagefit_pairs.json").read_text())
        assert meta["config"]["generator"]["spans_per_page"] == spans
        per_page = Counter(json.loads(x)["page_ids"][0] for x in (out / "queries.jsonl").read_text().splitlines()
                           if json.loads(x)["kind"] == "span")  # fmt: skip
        assert (max(per_page.values()) == 2) if spans else not per_page


# ---------------------------------------------------------------------------------------------
# --generate local on the tiny Qwen3-VL
# ---------------------------------------------------------------------------------------------


def test_local_backend_generates_parses_filters_and_records(tiny_qwen3vl_base_path, tmp_path):
    from pagefit.querygen.local import LocalQueryGenerator

    pages = _pages(tmp_path / "corpus", {"a": ["Cargo tonnage 2013", "Ferry routes"], "b": ["Apple scab"]})
    gen = LocalQueryGenerator(
        str(tiny_qwen3vl_base_path), max_new_tokens=24, cache=ResponseCache(tmp_path / "cache")
    )
    result = gen.generate(pages, per_page=2, show_progress=False)
    assert gen.stats == {"cached": 0, "generated": 3, "failed": len(result.failures)}
    # Random weights write garbage: each page yields parsed queries or a recorded failure with the raw answer.
    answered = {q.page_id for q in result.queries}
    failed = {f["page_id"] for f in result.failures}
    assert answered | failed == {p.page_id for p in pages} and not answered & failed
    assert all(len([q for q in result.queries if q.page_id == p]) <= 2 for p in answered)
    report = FilterReport()
    kept = filter_queries(result.queries, {p.page_id: p for p in pages}, QueryFilterConfig(), report)
    assert len(kept) + sum(report.dropped.values()) == len(result.queries)
    # The answers are cached: a second run generates nothing and gives the same result.
    again = LocalQueryGenerator(
        str(tiny_qwen3vl_base_path), max_new_tokens=24, cache=ResponseCache(tmp_path / "cache")
    )
    assert again.generate(pages, per_page=2, show_progress=False) == result
    assert again.stats["generated"] == 0 and again.stats["cached"] == 3


# ---------------------------------------------------------------------------------------------
# --generate text on real pages: every question well formed
# ---------------------------------------------------------------------------------------------

_REAL_PAGES = Path(__file__).parent / "data" / "real_pages.jsonl"
_FUNCTION_WORDS = set(
    [
        "a",
        "an",
        "the",
        "of",
        "for",
        "to",
        "in",
        "on",
        "at",
        "by",
        "with",
        "and",
        "or",
        "but",
        "from",
        "as",
        "is",
        "are",
        "was",
        "be",
        "this",
        "that",
        "its",
        "their",
    ]
)


def _real_pages() -> list[Page]:
    rows = [json.loads(x) for x in _REAL_PAGES.open(encoding="utf-8")]
    return [Page(r["page_id"], r["doc_id"], r["page_number"], "", r["page_id"], r["text"]) for r in rows]


def test_text_generator_questions_are_well_formed_on_real_pages():
    result = TextQueryGenerator().generate(_real_pages(), per_page=6, show_progress=False)
    questions = [q.query for q in result.queries if q.kind == "question"]
    assert len(questions) >= 5  # the real pages do yield questions (how do I ..., what happens when ...)
    for q in questions:
        toks = q[:-1].split()
        assert q.endswith("?") and q.count("?") == 1, q
        assert q.split()[0].lower() in {"what", "which", "who", "where", "when", "why", "how"}, q
        assert not re.search(r"['’]s?['’]|['’]s\s+\S+['’]s\b", q), q  # no dangling/double possessive
        assert not re.match(r"how many\b.*\bat\b", q), q  # "how many encoding at libtasn1?"
        assert toks[-1].lower() not in _FUNCTION_WORDS, q  # nothing left hanging before the "?"
        assert all(a != b for a, b in itertools.pairwise(toks)), q
        assert not q.lower().endswith(" involve?"), q
    for q in result.queries:  # no text-layer break marks in any query
        assert "\ufffe" not in q.query and "\u00ad" not in q.query, q


@pytest.mark.parametrize(
    "bad",
    [
        "how many encoding at libtasn1?",
        "what does dot user’s' quotes protect punctuation involve",
        "what was libtasn1's manual's?",
        "what are the rules for?",
        "what is is this?",
        "hurdle models",
    ],
)
def test_malformed_questions_are_refused(bad):
    from pagefit.querygen.text import well_formed_question

    assert not well_formed_question(bad)


def test_well_formed_questions_pass():
    from pagefit.querygen.text import well_formed_question

    for good in (
        "what does hurdle() do?",
        "how do I draw a cluster?",
        "what was northwind traders' revenue in 2023?",
    ):
        assert well_formed_question(good), good
