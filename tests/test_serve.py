"""`pagefit serve`: the API (search, compare, pages, health), API key, bounds, and refused paths."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
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


def _client(served: Path, *, base_url: str = "http://127.0.0.1", **kwargs):
    """A test client addressing the app as a browser on this machine does (Host: 127.0.0.1)."""
    from fastapi.testclient import TestClient

    from pagefit.serve import build_app

    return TestClient(build_app(served / "main", compare=served / "base", **kwargs), base_url=base_url)


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

    schema = schemathesis.openapi.from_asgi(  # its client addresses the app as "testserver"
        "/openapi.json", build_app(served / "main", compare=served / "base", allow_hosts=["testserver"])
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


@pytest.mark.parametrize(
    ("options", "host", "status"),
    [
        ({}, "127.0.0.1:8000", 200),
        ({}, "localhost:8000", 200),
        ({}, "[::1]:8000", 200),
        ({}, "LOCALHOST.", 200),
        ({}, "attacker.example", 421),  # a DNS name rebound to 127.0.0.1 by a hostile page
        ({}, "attacker.example:8000", 421),
        ({}, "127.0.0.1.attacker.example", 421),
        ({}, "", 421),
        ({"allow_hosts": ["search.example"]}, "search.example:443", 200),
        ({"allow_hosts": ["search.example"]}, "attacker.example", 421),
        ({"host": "0.0.0.0"}, "10.1.2.3:8000", 200),  # every address: an IP is never a rebound name
        ({"host": "0.0.0.0"}, "attacker.example", 421),
        ({"host": "192.168.7.7"}, "192.168.7.7:8000", 200),
        ({"host": "192.168.7.7"}, "10.1.2.3", 421),
        ({"allow_hosts": ["*"]}, "attacker.example", 200),
    ],
)
def test_a_request_for_a_foreign_host_is_refused(served, options, host, status):
    client = _client(served, **options)
    for path in ("/api/health", "/api/search?q=budget", "/"):
        response = client.get(path, headers={"Host": host})
        assert response.status_code == status, (path, host, response.text[:200])
    if status == 421:
        assert "--allow-host" in client.get("/api/health", headers={"Host": host}).json()["detail"]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets listening on ``port`` on this machine (from /proc/net/tcp*)."""
    import ipaddress

    found = set()
    for name, width in (("tcp", 4), ("tcp6", 16)):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if fields[3] != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, width, 4))  # per-32-bit-word byte order
            found.add(str(ipaddress.ip_address(raw)))
    return found


# Run outside the test process (its network guard refuses every non-loopback address, this machine's
# own included): this machine's non-loopback address, and whether `port` accepts a connection on it.
_CONNECT_FROM_OUTSIDE_ADDRESS = """
import socket, sys
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
    try:
        probe.connect(("10.255.255.255", 9))  # sends nothing: picks the address outgoing traffic would use
        address = probe.getsockname()[0]
    except OSError:
        address = "127.0.0.1"
if address.startswith("127.") or address == "0.0.0.0":
    print("no-outside-address")
    sys.exit()
with socket.socket() as sock:
    sock.settimeout(5)
    print(address, "accepted" if sock.connect_ex((address, int(sys.argv[1]))) == 0 else "refused")
"""


def test_concurrent_requests_share_query_encoding_instead_of_queueing_for_a_lock(served, monkeypatch):
    """16 concurrent searches: fewer forward passes than requests (queries batched), each answer the
    one the query gets alone."""
    from concurrent.futures import ThreadPoolExecutor

    import pagefit.embeddings as embeddings

    client = _client(served)
    queries = [f"budget report {i}" for i in range(16)]
    alone = {q: client.get("/api/search", params={"q": q, "k": 5}).json()["results"] for q in queries}
    batches: list[int] = []
    real = embeddings.encode_queries

    def encode_queries(model, texts, *args, **kwargs):  # type: ignore[no-untyped-def]
        batches.append(len(texts))
        time.sleep(0.2)  # a slow forward pass: concurrent requests arrive while it runs
        return real(model, texts, *args, **kwargs)

    monkeypatch.setattr(embeddings, "encode_queries", encode_queries)
    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(lambda q: client.get("/api/search", params={"q": q, "k": 5}), queries))
    assert [r.status_code for r in responses] == [200] * 16
    assert sum(batches) == 16 and len(batches) < 16 and max(batches) > 1, batches
    for q, response in zip(queries, responses, strict=True):
        got = response.json()["results"]
        assert [r["page_id"] for r in got] == [r["page_id"] for r in alone[q]]
        np.testing.assert_allclose([r["score"] for r in got], [r["score"] for r in alone[q]], atol=1e-5)


def test_serve_binds_loopback_by_default(served, tmp_path):
    """`pagefit serve` with no --host: the listening socket is 127.0.0.1 only, so it cannot be reached
    from another machine (nor through this machine's other addresses)."""
    import subprocess
    import sys
    import time

    import httpx

    port = _free_port()
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "pagefit"), "serve", str(served / "main"),
                                 "--port", str(port)], stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline, health = time.monotonic() + 120, None
        while health is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5)
            except httpx.TransportError:
                time.sleep(0.2)
        assert health is not None and health.status_code == 200, log.read_text()[-2000:]
        assert _listening_addresses(port) == {"127.0.0.1"}
        outside = subprocess.run([sys.executable, "-c", _CONNECT_FROM_OUTSIDE_ADDRESS, str(port)],
                                 capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
        assert outside == ["no-outside-address"] or outside[1] == "refused", outside
        refused = httpx.get(f"http://127.0.0.1:{port}/api/health", headers={"Host": "attacker.example"})
        assert refused.status_code == 421
    finally:
        proc.terminate()
        proc.wait(timeout=30)


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


@contextlib.contextmanager
def _live(app) -> Iterator[str]:
    """``app`` on a free loopback port, in a thread (uvicorn); yields its base URL."""
    import threading
    import time

    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live_server(served):
    """The app on a free loopback port, in a thread (uvicorn)."""
    from pagefit.serve import build_app

    with _live(build_app(served / "main", compare=served / "base")) as url:
        yield url


def _chromium(p, tmp_path):
    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("the browser test needs /usr/bin/chromium in CI: `make test` installs it (apt-get)")
        pytest.skip("no /usr/bin/chromium (make test installs it: apt-get install -y chromium)")
    return p.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"),  # a fresh user-data-dir
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
    )


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


def test_browser_never_puts_the_api_key_in_a_url(served, tmp_path):
    """With an API key: the page asks for it once, sends it as the X-API-Key header on every call, shows
    page images from blob: URLs, and removes a key given in its own address from the address bar."""
    from playwright.sync_api import expect, sync_playwright

    from pagefit.serve import build_app

    key = "s3cret-key-42"
    with (
        _live(build_app(served / "main", compare=served / "base", api_key=key)) as url,
        sync_playwright() as p,
    ):
        browser = _chromium(p, tmp_path)
        try:
            page = browser.new_page()
            requests = []
            page.on("request", lambda r: requests.append((r.url, r.headers.get("x-api-key"))))
            page.on("dialog", lambda dialog: dialog.accept(key))  # the page asks for the key once
            page.goto(url + "/")
            expect(page.locator("body[data-ready=true]")).to_have_count(1)
            page.uncheck("#compare")
            page.fill("#query", "budget report")
            page.press("#query", "Enter")
            cards = page.locator(".column .result")
            expect(cards).to_have_count(10)
            first = cards.first.locator("img")
            page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=first.element_handle())
            cards.first.click()
            viewer = page.locator("#viewer-image")
            page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=viewer.element_handle())
            page.wait_for_function("[...document.images].filter(img => img.complete && img.naturalWidth > 0)"
                                   ".length === 11")  # 10 thumbnails and the full page  # fmt: skip
            sources = page.evaluate("[...document.images].map(img => img.src).filter(Boolean)")
            assert len(sources) == 11 and all(src.startswith("blob:") for src in sources), sources
            api_calls = [(u, sent) for u, sent in requests if "/api/" in u]
            assert any("/thumbnail" in u for u, _ in api_calls) and any(
                u.endswith("/image") for u, _ in api_calls
            )
            assert all(key not in u for u, _ in requests), [u for u, _ in requests if key in u]
            assert all(sent == key for u, sent in api_calls if "/thumbnail" in u or u.endswith("/image"))

            linked = browser.new_page()  # a link that carries the key: taken, then dropped from the address
            linked.goto(url + "/?api_key=" + key)
            expect(linked.locator("body[data-ready=true]")).to_have_count(1)
            assert key not in linked.url and linked.evaluate("history.length") >= 1
            assert linked.evaluate("sessionStorage.getItem('pagefit-api-key')") == key
        finally:
            browser.close()
