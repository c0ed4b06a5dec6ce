"""The FastAPI app of `pagefit serve`: a search API over one or two indexes and a web page.

Routes (OpenAPI at /openapi.json, docs at /docs):

- ``GET /api/health``: status, page counts, models.
- ``GET /api/search?q=&k=&index=main|compare``: the search JSON of docs/formats.md; ``image`` and
  ``thumbnail`` are URLs of this API.
- ``GET /api/compare?q=&k=``: both indexes for one query, and the page ids they share.
- ``GET /api/pages/{page_id}/image`` and ``/thumbnail``: a page of the index's corpus.
- ``GET /``: the web page (static files shipped in the package).

Safety: page ids are looked up in the index, never joined into paths, and a page's stored image path
must resolve (symlinks followed) inside the corpus folder; anything else is 404. With an API key,
every ``/api`` call needs it (``X-API-Key`` header or ``api_key`` query parameter), else 401; the web
page sends it as the header only (images are fetched with it and shown from blob: URLs), so the key
never appears in a URL, a server log or the browser history. A request whose ``Host`` header names
another host than the one served (`allowed_hosts`) is refused (421): a web page from another site
whose DNS name was rebound to 127.0.0.1 cannot read a server that listens on this machine only.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures (local Annotated
# aliases and dependencies) at runtime.

import io
import ipaddress
import logging
import secrets
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from threading import Lock
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import quote

from pagefit.errors import PagefitError
from pagefit.index.page_index import MAX_K, MAX_QUERY_CHARS

if TYPE_CHECKING:
    from fastapi import FastAPI

    from pagefit.index.page_index import PageIndex

__all__ = ["LOOPBACK_HOSTS", "THUMBNAIL_PX", "allowed_hosts", "create_app", "host_allowed"]

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
THUMBNAIL_PX = 320
_THUMBNAILS_KEPT = 512
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


def _host_name(host: str) -> str:
    """The host name of a Host header or address, lowercase, without port, brackets or final dot."""
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8000
        host = host[1 : host.find("]")] if "]" in host else host[1:]
    elif host.count(":") == 1:  # name:port (more colons: a bare IPv6 address)
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def allowed_hosts(bound: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The Host header names a server bound to `bound` answers: that address, the loopback names when
    it listens on loopback (or every address), and `extra` (``*``: any host, no check)."""
    hosts = {_host_name(bound), *(_host_name(h) if h != "*" else "*" for h in extra)}
    if _host_name(bound) in LOOPBACK_HOSTS | _WILDCARD_HOSTS:
        hosts |= LOOPBACK_HOSTS
    return frozenset(hosts)


def host_allowed(header: str | None, allowed: frozenset[str]) -> bool:
    """Whether a request's Host header names a host the server answers (see `allowed_hosts`).

    On every address (0.0.0.0 / ::) an IP address is accepted too: a DNS-rebinding page reaches the
    server through a DNS name, never an address.
    """
    if "*" in allowed:
        return True
    name = _host_name(header or "")
    if not name:
        return False
    return name in allowed or (bool(allowed & _WILDCARD_HOSTS) and _is_ip(name))


class _HostCheck:
    """ASGI middleware refusing (421) requests addressed to a host the server does not answer."""

    def __init__(self, app: Any, check: Callable[[str | None], bool]) -> None:
        self.app, self.check = app, check

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
            if not self.check(host):
                from starlette.responses import JSONResponse

                detail = (
                    f"this server does not answer requests for host {host!r} (start serve with --allow-host)"
                )
                await JSONResponse({"detail": detail}, status_code=421)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _Thumbnails:
    """PNG thumbnails made on first request and kept in memory (least recently used dropped)."""

    def __init__(self) -> None:
        self._cache: OrderedDict[Path, bytes] = OrderedDict()
        self._lock = Lock()

    def get(self, path: Path) -> bytes:
        from PIL import Image

        with self._lock:
            if path in self._cache:
                self._cache.move_to_end(path)
                return self._cache[path]
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX * 2))
            buffer = io.BytesIO()
            image.save(buffer, format="PNG", optimize=False)
        data = buffer.getvalue()
        with self._lock:
            self._cache[path] = data
            while len(self._cache) > _THUMBNAILS_KEPT:
                self._cache.popitem(last=False)
        return data


def create_app(
    index: "PageIndex",
    *,
    compare: "PageIndex | None" = None,
    reranker: str | None = None,
    hybrid: str | None = None,
    api_key: str | None = None,
    hosts: frozenset[str] = LOOPBACK_HOSTS,
) -> "FastAPI":
    """The app serving ``index`` (and ``compare`` side by side).

    Args:
        index: the main index (e.g. the finetuned model's).
        compare: a second index of the same corpus (e.g. the base model's).
        reranker: a CrossEncoder reranking each index's top pages.
        hybrid: fusion with BM25 for both indexes: rrf, weighted or none (default: each index's own).
        api_key: when set, every /api call must present it.
        hosts: the Host header names answered (`allowed_hosts`); others get 421.
    """
    from fastapi import Depends, FastAPI, HTTPException, Query, Request
    from fastapi.responses import FileResponse, Response
    from fastapi.security import APIKeyHeader, APIKeyQuery
    from fastapi.staticfiles import StaticFiles
    from pydantic import BaseModel

    from pagefit import __version__

    indexes: dict[str, Any] = {"main": index}
    if compare is not None:
        indexes["compare"] = compare
    thumbnails = _Thumbnails()
    header_key = APIKeyHeader(name="X-API-Key", auto_error=False)
    query_key = APIKeyQuery(name="api_key", auto_error=False)

    def check_key(
        from_header: Annotated[str | None, Depends(header_key)],
        from_query: Annotated[str | None, Depends(query_key)],
    ) -> None:
        if api_key is None:
            return
        given = from_header or from_query or ""
        if not secrets.compare_digest(given.encode(), api_key.encode()):
            raise HTTPException(
                status_code=401, detail="missing or wrong API key (X-API-Key header or api_key)"
            )

    class Result(BaseModel):
        rank: int
        page_id: str
        score: float
        source: str
        page_number: int
        image: str
        thumbnail: str
        snippet: str

    class SearchResponse(BaseModel):
        query: str
        k: int
        index: str
        model: str
        results: list[Result]

    class CompareResponse(BaseModel):
        query: str
        k: int
        left: SearchResponse
        right: SearchResponse
        shared: list[str]

    class Health(BaseModel):
        status: Literal["ok"]
        version: str
        indexes: dict[str, dict[str, Any]]

    app = FastAPI(
        title="pagefit search",
        version=__version__,
        description="Page search over pagefit indexes.",
        dependencies=[],
    )
    api = [Depends(check_key)]
    QueryText = Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="the query")]
    TopK = Annotated[int, Query(ge=1, le=MAX_K, description="pages to return")]

    def run_search(name: str, q: str, k: int) -> dict[str, Any]:
        searcher = indexes[name]
        if not q.strip():
            raise HTTPException(status_code=422, detail="the query is blank")
        try:
            response = searcher.search(q, k=k, hybrid=hybrid, reranker=reranker)
        except PagefitError as e:
            raise HTTPException(status_code=422, detail=str(e)) from e
        prefix = f"/api/indexes/{name}/pages/" if name != "main" else "/api/pages/"
        for result in response["results"]:
            encoded = quote(result["page_id"], safe="")
            result["image"] = f"{prefix}{encoded}/image"
            result["thumbnail"] = f"{prefix}{encoded}/thumbnail"
        return {**response, "index": name, "model": searcher.manifest.model_name}

    @app.get("/api/health", response_model=Health, dependencies=api)
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "indexes": {
                name: {
                    "pages": len(ix),
                    "model": ix.manifest.model_name,
                    "dim": ix.manifest.dim,
                    "quantization": ix.manifest.quantization,
                    "hybrid": ix.manifest.hybrid.enabled,
                    "similarity": ix.manifest.similarity,
                    "passages": ix.manifest.passages is not None,
                }
                for name, ix in indexes.items()
            },
        }

    @app.get("/api/search", response_model=SearchResponse, dependencies=api)
    def search(q: QueryText, k: TopK = 10, index: Literal["main", "compare"] = "main") -> dict[str, Any]:
        if index not in indexes:
            raise HTTPException(status_code=404, detail="no compare index: start serve with --compare")
        return run_search(index, q, k)

    @app.get("/api/compare", response_model=CompareResponse, dependencies=api)
    def compare_search(q: QueryText, k: TopK = 10) -> dict[str, Any]:
        if "compare" not in indexes:
            raise HTTPException(status_code=404, detail="no compare index: start serve with --compare")
        left, right = run_search("main", q, k), run_search("compare", q, k)
        right_ids = {r["page_id"] for r in right["results"]}
        shared = [r["page_id"] for r in left["results"] if r["page_id"] in right_ids]
        return {"query": left["query"], "k": k, "left": left, "right": right, "shared": shared}

    def page_file(name: str, page_id: str) -> Path:
        try:
            return indexes[name].image_path(page_id)
        except (KeyError, PagefitError):
            raise HTTPException(status_code=404, detail="no such page") from None

    def image_response(name: str, page_id: str) -> FileResponse:
        return FileResponse(page_file(name, page_id), headers={"Cache-Control": "private, max-age=3600"})

    def thumbnail_response(name: str, page_id: str) -> Response:
        path = page_file(name, page_id)
        return Response(
            thumbnails.get(path), media_type="image/png", headers={"Cache-Control": "private, max-age=3600"}
        )

    @app.get("/api/pages/{page_id:path}/image", dependencies=api, response_class=FileResponse)
    def page_image(page_id: str) -> FileResponse:
        return image_response("main", page_id)

    @app.get("/api/pages/{page_id:path}/thumbnail", dependencies=api, response_class=Response)
    def page_thumbnail(page_id: str) -> Response:
        return thumbnail_response("main", page_id)

    @app.get("/api/indexes/compare/pages/{page_id:path}/image", dependencies=api, response_class=FileResponse)
    def compare_image(page_id: str) -> FileResponse:
        if "compare" not in indexes:
            raise HTTPException(status_code=404, detail="no compare index")
        return image_response("compare", page_id)

    @app.get("/api/indexes/compare/pages/{page_id:path}/thumbnail", dependencies=api, response_class=Response)
    def compare_thumbnail(page_id: str) -> Response:
        if "compare" not in indexes:
            raise HTTPException(status_code=404, detail="no compare index")
        return thumbnail_response("compare", page_id)

    @app.get("/", include_in_schema=False)
    def home(request: Request) -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(_HostCheck, check=lambda host: host_allowed(host, hosts))
    app.state.indexes = indexes
    return app
