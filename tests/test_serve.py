"""`pagefit serve`: the API (search, compare, pages, health), API key, bounds, and refused paths."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from pagefit.index import index


@pytest.fixture(scope="module")
def served(sample_corpus_source, tiny_clip_source, tiny_siglip_source, tmp_path_factory):
    """Two indexes (tiny CLIP = main, tiny SigLIP = compare) of a private copy of the sample corpus."""
    root = tmp_path_factory.mktemp("serve")
    corpus = root / "corpus"
    shutil.copytree(sample_corpus_source, corpus)
    index(corpus, tiny_clip_source, root / "main", hybrid=True, show_progress=False)
    index(corpus, tiny_siglip_source, root / "base", show_progress=False)
    return root


def _client(served: Path, **kwargs):
    from fastapi.testclient import TestClient

    from pagefit.serve import build_app

    return TestClient(build_app(served / "main", compare=served / "base", **kwargs))


@pytest.fixture(scope="module")
def client(served):
    return _client(served)


def test_search_compare_health_and_pages(client):
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and set(health["indexes"]) == {"main", "compare"}
    main = health["indexes"]["main"]
    assert main["similarity"] == "cosine" and main["passages"] is False and main["hybrid"] is True
    response = client.get("/api/search", params={"q": "budget report", "k": 4})
    assert response.status_code == 200
    body = response.json()
    assert body["query"] == "budget report" and body["k"] == 4 and len(body["results"]) == 4
    first = body["results"][0]
    assert {"rank", "page_id", "score", "source", "page_number", "image", "snippet"} <= set(first)
    image = client.get(first["image"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    thumb = client.get(first["thumbnail"])
    assert thumb.status_code == 200 and 0 < len(thumb.content) < len(image.content)
    both = client.get("/api/compare", params={"q": "budget report", "k": 4}).json()
    left = [r["page_id"] for r in both["left"]["results"]]
    right = [r["page_id"] for r in both["right"]["results"]]
    assert left == [r["page_id"] for r in body["results"]]
    assert both["shared"] == [p for p in left if p in right]
    other = client.get(both["right"]["results"][0]["image"])
    assert other.status_code == 200
    assert client.get("/").status_code == 200 and "search-form" in client.get("/").text
    assert client.get("/openapi.json").json()["paths"]["/api/search"]


@pytest.mark.parametrize(
    "params",
    [{"q": "x" * 1001}, {"q": ""}, {"q": "ok", "k": 0}, {"q": "ok", "k": 101}, {"q": "ok", "k": "ten"}, {}],
)
def test_bounded_query_and_k(client, params):
    assert client.get("/api/search", params=params).status_code == 422


@pytest.mark.parametrize(
    "path",
    [
        "/api/pages/../../../../etc/passwd/image",
        "/api/pages/%2e%2e%2f%2e%2e%2fetc%2fpasswd/image",
        "/api/pages/%252e%252e%252f%252e%252e%252fetc%252fpasswd/image",
        "/api/pages//etc/passwd/image",
        "/api/pages/%2Fetc%2Fpasswd/thumbnail",
        "/api/pages/..%5C..%5Cwindows%5Cwin.ini/image",
        "/api/pages/no-such-page/image",
        "/api/indexes/compare/pages/..%2F..%2Fmanifest.json/image",
    ],
)
def test_traversal_absolute_and_unknown_ids_are_404(client, path):
    response = client.get(path)
    assert response.status_code == 404, (path, response.status_code)
    assert b"root:" not in response.content


def test_symlink_or_stored_path_out_of_the_corpus_is_refused(served, tmp_path):
    secret = tmp_path / "secret.png"
    shutil.copyfile(next((served / "corpus" / "images").rglob("*.png")), secret)
    client = _client(served)
    main = client.app.state.indexes["main"]
    page_id, row = main.page_ids[0], 0
    image = served / "corpus" / main.meta["image"][row]
    backup = image.with_suffix(".bak")
    os.replace(image, backup)
    try:
        image.symlink_to(secret)  # a page image that points outside the corpus
        assert client.get(f"/api/pages/{page_id}/image").status_code == 404
    finally:
        image.unlink()
        os.replace(backup, image)
    assert client.get(f"/api/pages/{page_id}/image").status_code == 200
    main.meta["image"][row] = "../../../../../../etc/passwd"  # a tampered table row
    assert client.get(f"/api/pages/{page_id}/image").status_code == 404


def test_api_key_required_on_every_api_route(served):
    client = _client(served, api_key="s3cret")
    for path in ("/api/health", "/api/search?q=budget", "/api/compare?q=budget"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers={"X-API-Key": "wrong"}).status_code == 401
        assert client.get(path, headers={"X-API-Key": "s3cret"}).status_code == 200
    page = client.get("/api/search?q=budget", headers={"X-API-Key": "s3cret"}).json()["results"][0]
    assert client.get(page["image"]).status_code == 401
    assert client.get(page["image"] + "?api_key=s3cret").status_code == 200
    assert client.get("/").status_code == 200  # the page itself asks for the key


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_openapi_fuzzing_finds_no_server_errors(served, mode):
    """Schemathesis: valid (positive) and schema-violating (negative) requests on every operation."""
    from hypothesis import given

    from pagefit.serve import build_app

    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", build_app(served / "main", compare=served / "base")
    )
    generation = (
        schemathesis.GenerationMode.POSITIVE if mode == "positive" else schemathesis.GenerationMode.NEGATIVE
    )
    statuses: list[int] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 7

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=generation))
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
        def no_server_error(case):
            response = case.call()
            statuses.append(response.status_code)
            assert response.status_code < 500, (
                case.path,
                case.query,
                response.status_code,
                response.text[:300],
            )

        no_server_error()
    assert len(statuses) >= 7 * 5


def test_bounded_local_load_has_no_errors(client):
    """A short bounded load (16 concurrent clients x 2 s; benchmarks/search.py runs 50 x 20 s)."""
    from concurrent.futures import ThreadPoolExecutor

    from pagefit.serve.load import run_load

    result = run_load(client.get, "/api/search", ["budget report", "staff costs", "annual summary"],
                      clients=16, seconds=2.0, executor=ThreadPoolExecutor)  # fmt: skip
    assert result["errors"] == 0 and result["requests"] >= 16
    assert 0 < result["p50_ms"] <= result["p99_ms"]


def test_serve_binds_loopback_by_default():
    import inspect

    from pagefit.cli.serve import serve_command
    from pagefit.serve import serve

    assert inspect.signature(serve).parameters["host"].default == "127.0.0.1"
    assert inspect.signature(serve_command).parameters["host"].default == "127.0.0.1"


# ------------------------------------------------------------------------------------------ the web page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def live_server(served):
    """The app on a free loopback port, in a thread (uvicorn)."""
    import socket
    import threading
    import time

    import uvicorn

    from pagefit.serve import build_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(build_app(served / "main", compare=served / "base"), host="127.0.0.1", port=port,
                       log_level="warning")
    )  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_browser_search_open_page_and_side_by_side(live_server, tmp_path):
    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("the browser test needs /usr/bin/chromium in CI: `make test` installs it (apt-get)")
        pytest.skip("no /usr/bin/chromium (make test installs it: apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh user-data-dir
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            page = browser.new_page()
            page.goto(live_server + "/")
            expect(page.locator("body[data-ready=true]")).to_have_count(1)
            expect(page.locator("#compare-toggle")).to_be_visible()
            page.uncheck("#compare")  # one index first
            page.fill("#query", "budget report")
            page.press("#query", "Enter")
            cards = page.locator(".column .result")
            expect(cards).to_have_count(10)
            expect(page.locator(".column")).to_have_count(1)
            first = cards.first.locator("img")
            page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=first.element_handle())
            cards.first.click()
            viewer = page.locator("#viewer-image")
            expect(page.locator("#viewer")).to_be_visible()
            page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=viewer.element_handle())
            full_width = page.evaluate("document.getElementById('viewer-image').naturalWidth")
            thumb_width = page.evaluate("img => img.naturalWidth", first.element_handle())
            assert full_width > thumb_width  # the full page, not the thumbnail
            page.click("#close-viewer")
            page.check("#compare")  # side by side
            page.click("button[type=submit]")
            expect(page.locator(".column")).to_have_count(2)
            expect(page.locator(".column[data-index=compare] .result")).to_have_count(10)
            shared = page.locator(".column[data-index=main] .result.shared")
            status = page.locator("#status").inner_text()
            assert f"{shared.count()} of 10 pages in both" in status
            assert page.locator(".column[data-index=compare] .result.shared").count() == shared.count()
        finally:
            browser.close()
