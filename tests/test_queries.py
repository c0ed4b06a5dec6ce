"""The queries file: JSONL/CSV/TSV, generated ids, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pagefit.errors import PagefitError
from pagefit.queries import Query, check_page_ids, read_queries, write_queries


def test_jsonl_with_single_and_multiple_pages(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(
        '{"query_id": "a", "query": "harbor cranes", "page_id": "r#p1", "kind": "fact", "lang": "en"}\n'
        "\n"
        '{"query": "ferry routes", "page_ids": ["r#p2", "r#p3"]}\n'
    )
    first, second = read_queries(path)
    assert (first.query_id, first.page_ids, first.kind) == ("a", ["r#p1"], "fact")
    assert first.model_extra == {"lang": "en"}  # other keys kept
    assert second.query_id == "q3" and second.page_ids == ["r#p2", "r#p3"]


@pytest.mark.parametrize("suffix,sep", [(".csv", ","), (".tsv", "\t")])
def test_csv_and_tsv(tmp_path: Path, suffix: str, sep: str) -> None:
    path = tmp_path / f"q{suffix}"
    path.write_text(
        sep.join(["query_id", "query", "page_ids"])
        + "\n"
        + sep.join(["x", "late fees", "lib#p1|lib#p2"])
        + "\n"
    )
    (query,) = read_queries(path)
    assert query == Query(query_id="x", query="late fees", page_ids=["lib#p1", "lib#p2"])


def test_roundtrip(tmp_path: Path) -> None:
    queries = [Query(query_id="1", query="q", page_ids=["p"], kind="table")]
    write_queries(tmp_path / "out.jsonl", queries)
    assert read_queries(tmp_path / "out.jsonl") == queries


@pytest.mark.parametrize(
    "content,message",
    [
        ("", "is empty"),
        (
            '{"query": "x", "page_id": "a", "query_id": "1"}\n{"query": "y", "page_id": "b", "query_id": "1"}\n',
            "duplicate query_id '1' (first on line 1)",
        ),
        ('{"query": "x"}\n', ":1: record lacks 'page_id/page_ids'"),
        ("not json\n", ":1: not valid JSON"),
    ],
)
def test_errors_name_the_problem(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(content)
    with pytest.raises(PagefitError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_queries(path)


def test_unknown_page_ids_are_listed() -> None:
    queries = [
        Query(query_id="1", query="q", page_ids=["a", "zz#p9"]),
        Query(query_id="2", query="r", page_ids=["b"]),
    ]
    with pytest.raises(PagefitError, match=r"2 page id\(s\) not in the corpus: b, zz#p9"):
        check_page_ids(queries, known=["a"])
