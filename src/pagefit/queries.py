"""The queries file: JSON Lines (or CSV/TSV) of queries and the page(s) that answer them."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from pagefit.errors import PagefitError

__all__ = ["Query", "check_page_ids", "read_queries", "write_queries"]


class Query(BaseModel):
    """One query and the ids of the pages relevant to it."""

    model_config = ConfigDict(extra="allow")

    query_id: str
    query: str
    page_ids: list[str] = Field(min_length=1)
    kind: str | None = None


def _read_text(path: Path) -> str:
    """The file as text: UTF-8 (a leading BOM, as spreadsheet exports write, is dropped)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise PagefitError(
            f"{path}:{line}: not UTF-8 text (byte {data[e.start]:#04x} at offset {e.start}); "
            "save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8 FILE > FILE.utf8`)"
        ) from None


def _csv_rows(path: Path, text: str, delimiter: str) -> Iterable[tuple[int, dict]]:
    import io

    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h.strip() for h in reader.fieldnames or []]
    if "query" not in header:
        other = "," if delimiter == "\t" else "tab"
        raise PagefitError(
            f"{path}:1: the header has no 'query' column (it has: {', '.join(header) or 'nothing'}); "
            f"the first line must name the columns query,page_id (separated by "
            f"{'tabs' if delimiter == chr(9) else 'commas'}; is the file {other}-separated?)"
        )
    try:
        for row in reader:
            extra = row.get(None)  # more fields than the header names
            if extra:
                raise PagefitError(
                    f"{path}:{reader.line_num}: {len(extra)} more field(s) than the header has columns "
                    "(quote fields that contain the separator)"
                )
            yield (
                reader.line_num,
                {k.strip(): v for k, v in row.items() if k is not None and v not in (None, "")},
            )
    except csv.Error as e:
        raise PagefitError(f"{path}:{reader.line_num}: malformed CSV ({e})") from e


def _rows(path: Path) -> Iterable[tuple[int, dict]]:
    suffix = path.suffix.lower()
    content = _read_text(path)
    if suffix in {".csv", ".tsv"}:
        yield from _csv_rows(path, content, "\t" if suffix == ".tsv" else ",")
        return
    for line, text in enumerate(content.split("\n"), start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as e:
            raise PagefitError(
                f"{path}:{line}: not valid JSON ({e.msg}); expected one query object per line"
            ) from e
        if not isinstance(row, dict):
            raise PagefitError(f"{path}:{line}: expected a JSON object per line, got {type(row).__name__}")
        yield line, row


def _page_ids(row: dict) -> list[str]:
    if "page_ids" in row:
        ids = row["page_ids"]
        if isinstance(ids, str):  # CSV/TSV: several ids separated by '|' or ';'
            ids = [i for part in ids.replace(";", "|").split("|") if (i := part.strip())]
        return [str(i) for i in ids]
    if "page_id" in row:
        return [str(row["page_id"])]
    return []


def read_queries(path: str | os.PathLike[str]) -> list[Query]:
    """Read and validate a queries file.

    Each record needs `query` and `page_id` (or `page_ids`); `query_id` is generated (`q<line>`) when
    absent; other keys are kept. Raises `PagefitError` naming the line of the first bad record, for an
    empty file and for duplicate query ids.
    """
    path = Path(path)
    if not path.is_file():
        raise PagefitError(f"queries file {path} does not exist")
    queries: list[Query] = []
    seen: dict[str, int] = {}
    for line, row in _rows(path):
        text = str(row.get("query", "")).strip()
        ids = _page_ids(row)
        if not text or not ids:
            missing = "query" if not text else "page_id/page_ids"
            raise PagefitError(f"{path}:{line}: record lacks '{missing}'")
        qid = str(row.get("query_id") or f"q{line}")
        if qid in seen:
            raise PagefitError(f"{path}:{line}: duplicate query_id {qid!r} (first on line {seen[qid]})")
        seen[qid] = line
        extra = {k: v for k, v in row.items() if k not in {"query_id", "query", "page_id", "page_ids"}}
        queries.append(Query(query_id=qid, query=text, page_ids=ids, **extra))
    if not queries:
        raise PagefitError(
            f"queries file {path} is empty: expected JSON Lines like "
            '{"query": "...", "page_id": "report#p3"}'
        )
    return queries


def check_page_ids(queries: Iterable[Query], known: Iterable[str], source: str = "queries") -> None:
    """Raise a `PagefitError` listing every page id that is not in the corpus."""
    known = set(known)
    unknown = sorted({pid for q in queries for pid in q.page_ids if pid not in known})
    if unknown:
        shown = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
        raise PagefitError(f"{source} name {len(unknown)} page id(s) not in the corpus: {shown}")


def write_queries(path: str | os.PathLike[str], queries: Iterable[Query]) -> None:
    from pagefit._io import atomic_write_text

    lines = [json.dumps(q.model_dump(exclude_none=True), ensure_ascii=False) for q in queries]
    atomic_write_text(path, "\n".join(lines) + "\n")
