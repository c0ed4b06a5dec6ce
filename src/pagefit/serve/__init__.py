"""`pagefit serve`: a local search API and web page over an index (and a second one to compare).

Binds 127.0.0.1 unless told otherwise; answers only requests addressed to the host it is bound to
(the Host header: no DNS rebinding), plus the hosts of ``--allow-host``; with an API key every API
call must present it. See `pagefit.serve.app` for the routes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pagefit.errors import MissingDependencyError

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["build_app", "serve"]

logger = logging.getLogger(__name__)

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def build_app(
    index: str | os.PathLike[str],
    *,
    compare: str | os.PathLike[str] | None = None,
    reranker: str | None = None,
    hybrid: str | None = None,
    api_key: str | None = None,
    host: str = "127.0.0.1",
    allow_hosts: Sequence[str] = (),
    trust_remote_code: bool = False,
    device: str | None = None,
    warm_up: bool = True,
) -> FastAPI:
    """Open the index(es) and build the app (models load now when ``warm_up``, not on the first query).

    ``host`` is the address the app is served on and ``allow_hosts`` other names it answers (a DNS
    name, a reverse proxy's; ``*`` any): requests with another Host header are refused.
    """
    try:
        import fastapi  # noqa: F401
    except ImportError as e:
        raise MissingDependencyError("fastapi", "serve", "pagefit serve") from e
    from pagefit.index import open_index
    from pagefit.serve.app import allowed_hosts, create_app

    options = {"trust_remote_code": trust_remote_code, "device": device}
    main = open_index(index, **options)
    other = open_index(compare, **options) if compare is not None else None
    for opened in (main, other):
        if opened is not None and warm_up:
            opened.fusion(hybrid)  # a bad --hybrid fails now, not on the first request
            _ = opened.model
            if reranker is not None:
                opened.reranker(reranker)
    return create_app(
        main, compare=other, reranker=reranker, hybrid=hybrid, api_key=api_key,
        hosts=allowed_hosts(host, allow_hosts),
    )  # fmt: skip


def serve(
    index: str | os.PathLike[str],
    *,
    compare: str | os.PathLike[str] | None = None,
    reranker: str | None = None,
    hybrid: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    allow_hosts: Sequence[str] = (),
    trust_remote_code: bool = False,
    device: str | None = None,
) -> None:
    """Serve the index until interrupted (uvicorn)."""
    try:
        import uvicorn
    except ImportError as e:
        raise MissingDependencyError("uvicorn", "serve", "pagefit serve") from e
    if host not in LOOPBACK and api_key is None:
        logger.warning(
            "serving on %s without --api-key: anyone who can reach this machine can search it", host
        )
    app = build_app(
        index, compare=compare, reranker=reranker, hybrid=hybrid, api_key=api_key, host=host,
        allow_hosts=allow_hosts, trust_remote_code=trust_remote_code, device=device,
    )  # fmt: skip
    uvicorn.run(app, host=host, port=port, log_level="warning")
