"""Shared test fixtures: an offline, network-free session, tiny local models and generated documents.

Environment (set when this file is imported, before anything imports huggingface_hub, transformers or torch):
`HF_HUB_OFFLINE=1`, `TRANSFORMERS_OFFLINE=1`, `HF_DATASETS_OFFLINE=1`, a throw-away `HF_HOME` (no test can lean on
a model cached on this machine), a per-session `PAGEFIT_CACHE_DIR`, `OMP_NUM_THREADS`/`MKL_NUM_THREADS` of at
most 2 (unless already set), `TOKENIZERS_PARALLELISM=false`, `MPLBACKEND=Agg`. Subprocesses inherit them.

Network: every socket connection to a non-loopback address and every DNS lookup of a non-local name raises
`NetworkBlockedError`, and a test during which one was attempted fails at teardown even if the code under test
swallowed the error. `network_guard.expect_blocked()` is for tests that mean to try.

Fixtures (`*_source` ones are built once per session and are read-only; the others are fresh copies per test):

- `tiny_qwen3vl_path`, `tiny_qwen3vl_base_path`, `tiny_clip_path`, `tiny_siglip_path`, `tiny_router_path`,
  `minilm_path`: model folders (see `tests/_tiny_models.py`).
- `sample_docs`: a `SampleDocs` (3 PDF reports x 4 pages, a scanned memo PNG, a dashboard JPEG); it is
  `os.PathLike` for its `docs_dir`, so `ingest([sample_docs], ...)` works. `sample_queries`: its queries.jsonl.
- `sample_corpus`: `sample_docs` ingested (a corpus folder); its page text is in the session's text cache.
- `image_variants`: one image per format/mode (`write_image_variants`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="pagefit-tests-"))
os.environ.update(
    {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HOME": str(_SESSION_DIR / "hf_home"),
        "PAGEFIT_CACHE_DIR": str(_SESSION_DIR / "pagefit_cache"),
        "TOKENIZERS_PARALLELISM": "false",
        "MPLBACKEND": "Agg",
    }
)
_THREADS = str(min(2, os.cpu_count() or 1))
os.environ.setdefault("OMP_NUM_THREADS", _THREADS)
os.environ.setdefault("MKL_NUM_THREADS", _THREADS)
if "huggingface_hub" in sys.modules:  # imported by a plugin before this file: its constants are already read
    sys.modules["huggingface_hub"].constants.HF_HUB_OFFLINE = True

import pytest  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))

from _tiny_models import (  # noqa: E402
    build_tiny_clip,
    build_tiny_qwen3vl,
    build_tiny_qwen3vl_base,
    build_tiny_router,
    build_tiny_siglip,
    minilm_source_dir,
)
from pagefit.demo.documents import ImageVariant, SampleDocs, write_image_variants, write_sample_documents  # noqa: E402

# ------------------------------------------------------------------------------------------------ network guard


class NetworkBlockedError(RuntimeError):
    """Raised when a test tries to reach anything beyond this machine (tests must run offline)."""


_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _is_local_host(host: object) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host).split("%", 1)[0]
    if host in _LOCAL_NAMES or host in ("", socket.gethostname()):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or ip.is_unspecified or bool(mapped and mapped.is_loopback)


class NetworkGuard:
    """Patches `socket` so that only loopback (and Unix-socket) connections go through."""

    def __init__(self) -> None:
        self.attempts: list[str] = []
        self._originals: dict[str, object] = {}

    def _block(self, what: str) -> None:
        self.attempts.append(what)
        raise NetworkBlockedError(f"network access blocked in tests: {what} (tests must run offline)")

    def install(self) -> None:
        guard = self
        connect, connect_ex, getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo
        self._originals = {"connect": connect, "connect_ex": connect_ex, "getaddrinfo": getaddrinfo}

        def allowed(sock: socket.socket, address: object) -> bool:
            # Unix sockets (multiprocessing, local services) take a path, not a (host, port) tuple.
            return sock.family not in (socket.AF_INET, socket.AF_INET6) or _is_local_host(address[0])  # type: ignore[index]

        def guarded_connect(sock, address):
            if not allowed(sock, address):
                guard._block(f"connect to {address!r}")
            return connect(sock, address)

        def guarded_connect_ex(sock, address):
            if not allowed(sock, address):
                guard._block(f"connect to {address!r}")
            return connect_ex(sock, address)

        def guarded_getaddrinfo(host, *args, **kwargs):
            if not _is_local_host(host):
                guard._block(f"DNS lookup of {host!r}")
            return getaddrinfo(host, *args, **kwargs)

        socket.socket.connect = guarded_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = guarded_getaddrinfo

    def uninstall(self) -> None:
        if self._originals:
            socket.socket.connect = self._originals["connect"]  # type: ignore[method-assign]
            socket.socket.connect_ex = self._originals["connect_ex"]  # type: ignore[method-assign]
            socket.getaddrinfo = self._originals["getaddrinfo"]  # type: ignore[assignment]
            self._originals = {}

    @contextlib.contextmanager
    def expect_blocked(self) -> Iterator[None]:
        """For tests that try on purpose: the attempts inside do not fail the test, but at least one must happen."""
        before = len(self.attempts)
        yield
        assert len(self.attempts) > before, "expected a blocked network attempt, none happened"
        del self.attempts[before:]


_GUARD = NetworkGuard()
_GUARD.install()


def pytest_unconfigure(config: pytest.Config) -> None:
    _GUARD.uninstall()
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def network_guard() -> NetworkGuard:
    """The installed guard: `attempts` lists what was blocked; `expect_blocked()` for deliberate tries."""
    return _GUARD


@pytest.fixture(autouse=True)
def _fail_on_network_attempts() -> Iterator[None]:
    yield
    if _GUARD.attempts:
        attempts, _GUARD.attempts[:] = list(_GUARD.attempts), []
        pytest.fail("test tried to reach the network: " + "; ".join(attempts), pytrace=False)


# ---------------------------------------------------------------------------------------------------- helpers


def _fresh_copy(source: Path, tmp_path: Path, name: str) -> Iterator[Path]:
    """Copy `source` into the test's tmp dir, yield it, and delete it afterwards (model copies are large)."""
    dest = tmp_path / name
    shutil.copytree(source, dest)
    yield dest
    shutil.rmtree(dest, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny-models")


# ------------------------------------------------------------------------------------------------ tiny models


@pytest.fixture(scope="session")
def tiny_qwen3vl_base_source(tiny_models_dir: Path) -> Path:
    return build_tiny_qwen3vl_base(tiny_models_dir / "qwen3vl-base")


@pytest.fixture(scope="session")
def tiny_qwen3vl_source(tiny_models_dir: Path, tiny_qwen3vl_base_source: Path) -> Path:
    return build_tiny_qwen3vl(tiny_models_dir / "qwen3vl", base_dir=tiny_qwen3vl_base_source)


@pytest.fixture(scope="session")
def tiny_clip_source(tiny_models_dir: Path) -> Path:
    return build_tiny_clip(tiny_models_dir / "clip")


@pytest.fixture(scope="session")
def tiny_siglip_source(tiny_models_dir: Path) -> Path:
    return build_tiny_siglip(tiny_models_dir / "siglip")


@pytest.fixture(scope="session")
def tiny_router_source(tiny_models_dir: Path) -> Path:
    return build_tiny_router(tiny_models_dir / "router")


@pytest.fixture
def tiny_qwen3vl_path(tiny_qwen3vl_source: Path, tmp_path: Path) -> Iterator[Path]:
    """A tiny Qwen3-VL embedding SentenceTransformer folder (dim 64; text, image, video, message)."""
    yield from _fresh_copy(tiny_qwen3vl_source, tmp_path, "tiny-qwen3vl")


@pytest.fixture
def tiny_qwen3vl_base_path(tiny_qwen3vl_base_source: Path, tmp_path: Path) -> Iterator[Path]:
    """A tiny raw `Qwen3VLForConditionalGeneration` + processor folder (not a SentenceTransformer)."""
    yield from _fresh_copy(tiny_qwen3vl_base_source, tmp_path, "tiny-qwen3vl-base")


@pytest.fixture
def tiny_clip_path(tiny_clip_source: Path, tmp_path: Path) -> Iterator[Path]:
    """A tiny CLIP SentenceTransformer folder (dim 32; text, image)."""
    yield from _fresh_copy(tiny_clip_source, tmp_path, "tiny-clip")


@pytest.fixture
def tiny_siglip_path(tiny_siglip_source: Path, tmp_path: Path) -> Iterator[Path]:
    """A tiny SigLIP SentenceTransformer folder (dim 32; text, image)."""
    yield from _fresh_copy(tiny_siglip_source, tmp_path, "tiny-siglip")


@pytest.fixture
def tiny_router_path(tiny_router_source: Path, tmp_path: Path) -> Iterator[Path]:
    """A SentenceTransformer `[Router, Normalize]`: text -> "query" route, images -> "document" route (dim 32)."""
    yield from _fresh_copy(tiny_router_source, tmp_path, "tiny-router")


@pytest.fixture
def minilm_path(tmp_path: Path) -> Iterator[Path]:
    """A copy of the real all-MiniLM-L6-v2 SentenceTransformer folder (dim 384)."""
    yield from _fresh_copy(minilm_source_dir(), tmp_path, "all-MiniLM-L6-v2")


# -------------------------------------------------------------------------------------------------- documents


@pytest.fixture(scope="session")
def sample_docs_source(tmp_path_factory: pytest.TempPathFactory) -> SampleDocs:
    return write_sample_documents(tmp_path_factory.mktemp("sample-docs"), n_docs=3, pages_per_doc=4, seed=0)


def _relocate(docs: SampleDocs, root: Path) -> SampleDocs:
    def move(path: Path) -> Path:
        return root / path.relative_to(docs.root)

    return replace(
        docs,
        root=root,
        docs_dir=move(docs.docs_dir),
        pdfs=[move(p) for p in docs.pdfs],
        images=[move(p) for p in docs.images],
        queries_path=move(docs.queries_path),
    )


@pytest.fixture
def sample_docs(sample_docs_source: SampleDocs, tmp_path: Path) -> SampleDocs:
    """A fresh copy of the sample documents (3 reports x 4 pages, a scan, a screenshot) and their queries."""
    root = tmp_path / "sample"
    shutil.copytree(sample_docs_source.root, root)
    return _relocate(sample_docs_source, root)


@pytest.fixture
def sample_queries(sample_docs_source: SampleDocs, tmp_path: Path) -> Path:
    """A fresh copy of the sample queries.jsonl (page ids match `sample_corpus`)."""
    dest = tmp_path / "queries.jsonl"
    shutil.copyfile(sample_docs_source.queries_path, dest)
    return dest


@pytest.fixture(scope="session")
def sample_corpus_source(sample_docs_source: SampleDocs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pagefit.ingest import ingest

    out = tmp_path_factory.mktemp("sample-corpus") / "corpus"
    ingest([sample_docs_source.docs_dir], out, show_progress=False)
    return out


@pytest.fixture
def sample_corpus(sample_corpus_source: Path, tmp_path: Path) -> Iterator[Path]:
    """A fresh copy of the ingested sample documents (a corpus folder); page text is in the session text cache."""
    yield from _fresh_copy(sample_corpus_source, tmp_path, "corpus")


@pytest.fixture
def image_variants(tmp_path: Path) -> dict[str, ImageVariant]:
    """One small image per format and mode (png, jpg, jpeg, webp, bmp, tif, 3-frame tif, CMYK, I;16, RGBA, P, 1)."""
    return write_image_variants(tmp_path / "image-variants")


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Empty OCR text and embedding caches for this test only."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("PAGEFIT_CACHE_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def ocr_minilm():
    """One untrained built-in ocr-minilm per session, for tests that do not change its weights."""
    from pagefit.models import load_model

    return load_model("ocr-minilm", device="cpu")
