"""What every query generator shares: the page it reads, the queries it returns, a response cache."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pagefit._io import JsonCache
from pagefit.corpus import Page

__all__ = [
    "GeneratedQuery",
    "GenerationResult",
    "MalformedAnswerError",
    "Page",
    "QueryGenerator",
    "ResponseCache",
    "parse_query_answer",
    "take_queries",
]


@dataclass(frozen=True)
class GeneratedQuery:
    page_id: str
    query: str
    kind: str


@dataclass
class GenerationResult:
    """Queries per page plus one record per page that produced none (`page_id`, `error`, ...)."""

    queries: list[GeneratedQuery] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)


class QueryGenerator(Protocol):
    """Writes search queries for pages; `settings()` is saved with the pairs for provenance."""

    name: str

    def generate(
        self, pages: Sequence[Page], per_page: int, *, show_progress: bool = True
    ) -> GenerationResult: ...

    def settings(self) -> dict[str, Any]: ...


class MalformedAnswerError(ValueError):
    """A model's answer held no parseable queries."""


class ResponseCache(JsonCache):
    """Model answers on disk, one entry per (page, model, prompt) key: a killed run re-asks nothing."""

    def __init__(self, root: str | Path | None = None, namespace: str = "querygen") -> None:
        super().__init__(namespace, root)


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_LIST_PREFIX = re.compile(
    r"^\s*(?:[-*•]+|\d+[.)]|q\d*[:.)]|(?:specific|general)(?: query| question)?\s*[:\-])\s*", re.I
)


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [
            v if isinstance(v, str) else str(v.get("query", "")) if isinstance(v, dict) else str(v)
            for v in value
        ]
    return []


def _from_json(obj: Any) -> list[tuple[str, str]]:
    if isinstance(obj, list):
        return [("generated", q) for q in _as_list(obj)]
    if not isinstance(obj, dict):
        return []
    found = [(kind, q) for kind in ("specific", "general") for q in _as_list(obj.get(kind))]
    for key in ("queries", "questions"):
        found += [("generated", q) for q in _as_list(obj.get(key))]
    return found


def _json_candidates(text: str) -> list[str]:
    candidates = [m.group(1) for m in _FENCE.finditer(text)]
    for open_, close in (("{", "}"), ("[", "]")):
        start, end = text.find(open_), text.rfind(close)
        if 0 <= start < end:
            candidates.append(text[start : end + 1])
    return candidates


def parse_query_answer(text: str, *, allow_lines: bool = False) -> list[tuple[str, str]]:
    """Read `(kind, query)` pairs out of a model's answer.

    Understands `{"specific": [...], "general": [...]}` (strings or lists), `{"queries": [...]}` and a
    bare JSON list, also inside a Markdown code fence or surrounded by prose. With `allow_lines`, an
    answer without JSON is read as one query per line (bullets and numbering stripped), kind "generated".

    Raises:
        MalformedAnswerError: nothing usable was found.
    """
    for candidate in _json_candidates(text):
        try:
            found = _from_json(json.loads(candidate))
        except json.JSONDecodeError:
            continue
        found = [(kind, q.strip()) for kind, q in found if q and q.strip()]
        if found:
            return found
    if allow_lines:
        lines = [_LIST_PREFIX.sub("", line).strip().strip('"') for line in text.splitlines()]
        found = [("generated", line) for line in lines if line]
        if found:
            return found
    snippet = " ".join(text.split())[:120]
    raise MalformedAnswerError(f"no queries in the answer: {snippet!r}")


def take_queries(found: list[tuple[str, str]], per_page: int) -> list[tuple[str, str]]:
    """At most `per_page` (kind, query) pairs: specific and general ones in the prompt's proportions,
    topped up with whatever else the answer held."""
    from pagefit.querygen.prompts import split_specific_general

    n_specific, n_general = split_specific_general(per_page)
    chosen = [x for x in found if x[0] == "specific"][:n_specific] + [x for x in found if x[0] == "general"][
        :n_general
    ]
    rest = [x for x in found if x not in chosen]
    return chosen + rest[: per_page - len(chosen)]
