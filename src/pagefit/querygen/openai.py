"""`--generate openai`: queries from any OpenAI-compatible chat endpoint serving a vision-language model
(vLLM, Ollama, TGI, llama.cpp server, OpenAI itself).

Each page image goes as a base64 data URL with the VDR-style prompt (`prompts.py`). Requests run with
bounded concurrency; 5xx, 408/429, timeouts, connection errors and malformed answers are retried with
exponential backoff; every answer is cached on disk under (page hash, model, prompt), so a killed run
resumes without asking again, and a page that still fails is recorded, not dropped silently.
"""

from __future__ import annotations

import base64
import logging
import os
import random
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pagefit.errors import PagefitError
from pagefit.querygen._base import (
    GeneratedQuery,
    GenerationResult,
    MalformedAnswerError,
    Page,
    ResponseCache,
    parse_query_answer,
    take_queries,
)
from pagefit.querygen.prompts import query_prompt

if TYPE_CHECKING:
    import httpx

__all__ = ["OpenAIQueryGenerator"]

logger = logging.getLogger(__name__)

_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}


class _RetryableError(Exception):
    """Worth asking again: a server error, a timeout, a malformed answer."""


class _PageFailedError(Exception):
    """This page's request cannot succeed as sent (e.g. HTTP 400); other pages may."""


@dataclass
class _Outcome:
    page: Page
    content: str | None = None
    cached: bool = False
    attempts: int = 0
    error: str | None = None


@dataclass
class OpenAIQueryGenerator:
    """Ask a vision-language model behind an OpenAI-compatible `/chat/completions` endpoint.

    Args:
        base_url: the API root, e.g. `http://localhost:8000/v1` (vLLM) or `http://localhost:11434/v1` (Ollama).
        model: the model name the server knows.
        api_key_env: environment variable holding the API key (none sent when it is unset).
        concurrency: requests in flight at once.
        timeout: seconds before one request counts as timed out (and is retried).
        max_retries: retries per page after the first attempt.
        backoff: seconds before the first retry; doubled on each further retry (capped at a minute).
        cache: where answers are kept (default: the pagefit cache folder, `querygen/`).
    """

    base_url: str
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 4
    timeout: float = 120.0
    max_retries: int = 4
    backoff: float = 2.0
    temperature: float = 0.7
    max_tokens: int = 512
    cache: ResponseCache = field(default_factory=ResponseCache)
    name: str = "openai"
    stats: dict[str, int] = field(default_factory=dict, init=False)

    def settings(self) -> dict[str, Any]:
        return {
            "generator": self.name, "base_url": self.base_url, "model": self.model,
            "concurrency": self.concurrency, "timeout": self.timeout, "max_retries": self.max_retries,
            "temperature": self.temperature, "max_tokens": self.max_tokens,
        }  # fmt: skip

    def generate(
        self, pages: Sequence[Page], per_page: int, *, show_progress: bool = True
    ) -> GenerationResult:
        """Queries for every page; pages that still fail after the retries are in `failures`."""
        import httpx

        from pagefit._progress import progress_bar

        prompt = query_prompt(per_page)
        self.stats = {"cached": 0, "asked": 0, "attempts": 0, "failed": 0}
        result = GenerationResult()
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        with (
            httpx.Client(headers=self._headers(), limits=limits, timeout=self.timeout) as client,
            ThreadPoolExecutor(
                max_workers=max(1, self.concurrency), thread_name_prefix="pagefit-openai"
            ) as pool,
            progress_bar(
                f"queries ({self.model})", total=len(pages), unit="pages", enabled=show_progress
            ) as bar,
        ):
            futures: list[Future[_Outcome]] = [
                pool.submit(self._page, client, page, prompt) for page in pages
            ]
            try:
                for future in as_completed(futures):
                    self.stats["failed"] += future.result().content is None
                    bar.advance(status=f"{self.stats['failed']} failed")
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
        for future in futures:  # in page order, whatever order the answers came in
            self._collect(future.result(), per_page, result)
        return result

    # -- one page -------------------------------------------------------------------------------

    def _cache_key(self, page: Page, prompt: str) -> str:
        return ResponseCache.key("openai-chat", page.image_hash, self.model, prompt)

    def _page(self, client: httpx.Client, page: Page, prompt: str) -> _Outcome:
        key = self._cache_key(page, prompt)
        hit = self.cache.get(key)
        if hit is not None:
            return _Outcome(page, content=hit["content"], cached=True)
        payload = self._payload(page, prompt)
        outcome = _Outcome(page)
        for attempt in range(self.max_retries + 1):
            outcome.attempts = attempt + 1
            try:
                outcome.content = self._ask(client, payload)
            except _RetryableError as e:
                outcome.error = str(e)
                if attempt < self.max_retries:
                    time.sleep(min(60.0, self.backoff * 2**attempt) * (1 + 0.1 * random.random()))
                continue
            except _PageFailedError as e:
                outcome.error = str(e)
                return outcome
            self.cache.put(key, {"page_id": page.page_id, "image_hash": page.image_hash, "model": self.model,
                                 "prompt": prompt, "content": outcome.content, "created": time.time()})  # fmt: skip
            outcome.error = None
            return outcome
        return outcome

    def _ask(self, client: httpx.Client, payload: dict[str, Any]) -> str:
        """One request; returns the answer text once it parses into queries."""
        import httpx

        url = self.base_url.rstrip("/") + "/chat/completions"
        try:
            response = client.post(url, json=payload)
        except httpx.TimeoutException as e:
            raise _RetryableError(f"timed out after {self.timeout:g}s") from e
        except httpx.TransportError as e:
            raise _RetryableError(f"connection failed: {e}") from e
        self._check_status(response, url)
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise _RetryableError(f"malformed response body: {response.text[:200]!r}") from e
        if isinstance(content, list):  # some servers answer with content parts
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        if not isinstance(content, str):
            raise _RetryableError(f"malformed response: content is {type(content).__name__}")
        try:
            parse_query_answer(content)
        except MalformedAnswerError as e:
            raise _RetryableError(f"malformed answer: {e}") from e
        return content

    def _check_status(self, response: httpx.Response, url: str) -> None:
        status = response.status_code
        if status in (401, 403):
            raise PagefitError(
                f"{url} refused the request (HTTP {status}): put a valid key in the environment variable "
                f"{self.api_key_env} (or pass --api-key-env NAME)"
            )
        if status == 404:
            raise PagefitError(
                f"{url} answered 404: check --base-url (usually ends in /v1) and that the server serves --model {self.model}"
            )
        if status >= 500 or status in (408, 429):
            raise _RetryableError(f"HTTP {status}: {response.text[:200]!r}")
        if status >= 400:
            raise _PageFailedError(f"HTTP {status}: {response.text[:300]!r}")

    def _payload(self, page: Page, prompt: str) -> dict[str, Any]:
        path = Path(page.image_path)
        mime = _MIME.get(path.suffix.lower())
        if mime is None:  # e.g. a TIFF page: servers take PNG, JPEG and WebP; send the same pixels as PNG
            import io

            from PIL import Image

            buffer = io.BytesIO()
            with Image.open(path) as image:
                image.save(buffer, format="PNG")
            raw, mime = buffer.getvalue(), "image/png"
        else:
            raw = path.read_bytes()
        url = f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"
        return {
            "model": self.model,
            "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": url}},
                {"type": "text", "text": prompt},
            ]}],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }  # fmt: skip

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env)
        if not key:
            logger.info(
                "%s is not set: sending no API key (fine for local vLLM/Ollama servers)", self.api_key_env
            )
            return {}
        return {"Authorization": f"Bearer {key}"}

    def _collect(self, outcome: _Outcome, per_page: int, result: GenerationResult) -> None:
        self.stats["cached" if outcome.cached else "asked"] += 1
        self.stats["attempts"] += outcome.attempts
        if outcome.content is None:
            result.failures.append({"page_id": outcome.page.page_id, "image_hash": outcome.page.image_hash,
                                    "error": outcome.error, "attempts": outcome.attempts})  # fmt: skip
            return
        found = take_queries(parse_query_answer(outcome.content), per_page)
        result.queries += [GeneratedQuery(outcome.page.page_id, q, kind) for kind, q in found]
