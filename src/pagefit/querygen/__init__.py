"""Synthetic query generators for `pagefit pairs --generate`: offline from page text, or a
vision-language model behind an OpenAI-compatible endpoint, or one run locally with transformers."""

from __future__ import annotations

from typing import Any

from pagefit.errors import PagefitError
from pagefit.querygen._base import (
    GeneratedQuery,
    GenerationResult,
    MalformedAnswerError,
    Page,
    QueryGenerator,
    ResponseCache,
    parse_query_answer,
)

__all__ = [
    "GENERATORS",
    "GeneratedQuery",
    "GenerationResult",
    "MalformedAnswerError",
    "Page",
    "QueryGenerator",
    "ResponseCache",
    "make_generator",
    "parse_query_answer",
]

GENERATORS = ("text", "openai", "local")


def make_generator(name: str, **options: Any) -> QueryGenerator:
    """A generator by name, with the options its class takes (unset options keep their defaults).

    - "text": `TextQueryGenerator(max_copied_words=5, spans_per_page=4, seed=0)`
    - "openai": `OpenAIQueryGenerator(base_url, model, api_key_env, concurrency, timeout, max_retries, ...)`
    - "local": `LocalQueryGenerator(model, max_new_tokens, max_pixels, device, ...)`
    """
    options = {k: v for k, v in options.items() if v is not None}
    if name == "text":
        from pagefit.querygen.text import TextQueryGenerator

        return TextQueryGenerator(
            **{k: v for k, v in options.items() if k in {"max_copied_words", "spans_per_page", "seed"}}
        )
    if name == "openai":
        from pagefit.querygen.openai import OpenAIQueryGenerator

        if not options.get("base_url") or not options.get("model"):
            raise PagefitError(
                "--generate openai needs --base-url (e.g. http://localhost:8000/v1) and --model"
            )
        return OpenAIQueryGenerator(**_accepted(OpenAIQueryGenerator, options))
    if name == "local":
        from pagefit.querygen.local import LocalQueryGenerator

        if not options.get("model"):
            raise PagefitError("--generate local needs --model (a vision-language model folder or hub name)")
        return LocalQueryGenerator(**_accepted(LocalQueryGenerator, options))
    raise PagefitError(f"unknown generator {name!r}: choose one of {', '.join(GENERATORS)}")


def _accepted(cls: type, options: dict[str, Any]) -> dict[str, Any]:
    """The options `cls` takes: the CLI passes every generator's options, each backend reads its own."""
    import inspect

    names = set(inspect.signature(cls).parameters)
    return {k: v for k, v in options.items() if k in names}
