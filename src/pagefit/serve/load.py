"""A bounded local load on a running app: N concurrent clients for T seconds, latency percentiles."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

import numpy as np

__all__ = ["run_load"]


def run_load(
    get: Callable[..., Any],
    path: str,
    queries: Sequence[str],
    *,
    clients: int = 50,
    seconds: float = 20.0,
    k: int = 10,
    executor: type[Executor] = ThreadPoolExecutor,
) -> dict[str, float]:
    """Each client sends search requests back to back until ``seconds`` pass.

    Args:
        get: an HTTP GET, e.g. ``httpx.Client.get`` or a FastAPI ``TestClient.get``.
        path: the search route.
        queries: cycled through by every client.

    Returns:
        requests, errors (non-200 or exceptions), requests per second, p50 / p99 / max latency in ms.
    """
    stop = time.monotonic() + seconds
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def client(offset: int) -> None:
        i = offset
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                ok = get(path, params={"q": queries[i % len(queries)], "k": k}).status_code == 200
            except Exception:
                ok = False
            elapsed = 1000 * (time.perf_counter() - started)
            with lock:
                latencies.append(elapsed)
                errors[0] += not ok
            i += 1

    started = time.monotonic()
    with executor(max_workers=clients) as pool:
        for future in [pool.submit(client, n) for n in range(clients)]:
            future.result()
    wall = time.monotonic() - started
    values = np.asarray(latencies) if latencies else np.zeros(1)
    return {
        "clients": clients,
        "seconds": round(wall, 2),
        "requests": len(latencies),
        "errors": errors[0],
        "rps": round(len(latencies) / wall, 1),
        "p50_ms": round(float(np.percentile(values, 50)), 2),
        "p99_ms": round(float(np.percentile(values, 99)), 2),
        "max_ms": round(float(values.max()), 2),
    }
