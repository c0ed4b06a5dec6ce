"""`pagefit.index._batching.QueryBatcher`: queries that arrive together share one encoder call."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from pagefit.index._batching import QueryBatcher


def test_concurrent_queries_are_encoded_together_and_each_gets_its_own_result():
    calls: list[list[str]] = []

    def encode(queries: list[str]) -> list[str]:
        calls.append(list(queries))
        time.sleep(0.05)  # a forward pass: others arrive meanwhile
        return [q.upper() for q in queries]

    batcher = QueryBatcher(encode, max_batch=8)
    queries = [f"query {i}" for i in range(40)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(batcher, queries))
    assert results == [q.upper() for q in queries]
    assert sorted(q for call in calls for q in call) == sorted(queries)  # each encoded exactly once
    assert len(calls) < len(queries) and max(map(len, calls)) <= 8 and max(map(len, calls)) > 1
    assert batcher("alone") == "ALONE" and calls[-1] == ["alone"]  # a lone query is not held back


def test_an_encoder_error_reaches_every_caller_of_that_pass_and_the_next_pass_runs():
    gate = threading.Event()

    def encode(queries: list[str]) -> list[str]:
        gate.wait(5)
        if any(q == "bad" for q in queries):
            raise ValueError("cannot encode")
        return queries

    batcher = QueryBatcher(encode)
    with ThreadPoolExecutor(max_workers=3) as pool:
        first = pool.submit(batcher, "bad")
        time.sleep(0.1)
        others = [pool.submit(batcher, q) for q in ("a", "b")]
        gate.set()
        with pytest.raises(ValueError, match="cannot encode"):
            first.result(timeout=10)
        # "a" and "b" arrived while the failing pass ran: the next pass encodes them
        assert [future.result(timeout=10) for future in others] == ["a", "b"]
    assert batcher("c") == "c"
