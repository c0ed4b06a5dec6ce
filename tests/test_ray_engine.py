"""`--engine ray`: the same corpus and index as the default engine, resume after kill -9, rejects, the extra.

One local Ray (2 CPUs) for the module; the CLI runs in a subprocess join it through `--ray-address`.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from typer.testing import CliRunner

import pagefit
import pagefit.cli
from pagefit.errors import PagefitError
from pagefit.ingest import ingest
from pagefit.ray_engine import _DocumentIngester
from test_ingest import PAGEFIT, make_pdf

ray = pytest.importorskip("ray", reason="the Ray extra is not installed: pip install 'pagefit[ray]'")


@pytest.fixture(scope="module")
def ray_address() -> str:
    """A local Ray for this module (loopback only: the tests' network guard allows nothing else)."""
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        logging_level="warning",
        log_to_driver=False,
    )
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def _cli(*args: object):
    return CliRunner().invoke(pagefit.cli.app, [str(a) for a in args], env={"COLUMNS": "400"})


def _folder_digest(corpus: Path) -> dict[str, object]:
    """What two engines must write alike: rows, rejects, manifest (but its time), every page image's bytes."""
    manifest = json.loads((corpus / "manifest.json").read_text())
    manifest.pop("updated")
    images = {
        p.relative_to(corpus).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((corpus / "images").rglob("*"))
        if p.is_file()
    }
    return {
        "rows": pagefit.load_corpus(corpus).to_list(),
        "rejects": (corpus / "rejects.jsonl").read_text(),
        "manifest": manifest,
        "images": images,
    }


@pytest.fixture(scope="module")
def corpora(ray_address: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three PDFs with a text layer, one scan (OCR), one corrupt PDF: ingested by Ray and by the process pool."""
    root = tmp_path_factory.mktemp("ray-docs")
    docs = root / "docs"
    for i in range(3):
        make_pdf(
            docs / f"reports/r{i}.pdf", [[f"Report {i} page {p}", f"total {i * 7 + p}"] for p in range(2)]
        )
    scan = Image.new("RGB", (320, 90), "white")
    ImageDraw.Draw(scan).text((10, 20), "Invoice 4711", fill="black", font=ImageFont.load_default(size=32))
    scan.save(docs / "scan.png")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.7\n" + os.urandom(512))
    by_ray = ingest([docs], root / "ray", engine="ray", show_progress=False)
    by_pool = ingest([docs], root / "pool", show_progress=False)
    assert (by_ray.documents, by_ray.pages) == (by_pool.documents, by_pool.pages) == (4, 7)
    return {"docs": docs, "ray": root / "ray", "pool": root / "pool"}


def test_ray_ingest_writes_the_corpus_of_the_process_pool_and_rejects_the_corrupt_pdf(corpora) -> None:
    by_ray, by_pool = _folder_digest(corpora["ray"]), _folder_digest(corpora["pool"])
    assert by_ray == by_pool
    assert [json.loads(line)["source"] for line in by_ray["rejects"].splitlines()] == ["broken.pdf"]
    rows = {row["page_id"]: row for row in by_ray["rows"]}
    assert rows["scan"]["text_source"] == "ocr" and "4711" in rows["scan"]["text"]
    assert rows["reports/r2#p2"]["text_source"] == "pdf" and "total 15" in rows["reports/r2#p2"]["text"]


def test_ray_index_equals_the_local_index(corpora, tiny_clip_path, tmp_path, monkeypatch) -> None:
    from pagefit.index import open_index
    from pagefit.index.manifest import read_manifest

    corpus = corpora["pool"]
    monkeypatch.setenv("PAGEFIT_CACHE_DIR", str(tmp_path / "cache-ray"))  # each engine embeds every page
    result = _cli("index", corpus, "--model", tiny_clip_path, "--out", tmp_path / "ray", "--engine", "ray",
                  "--batch-size", 8, "--commit-every", 4, "--no-progress")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert any((tmp_path / "cache-ray" / "embeddings").rglob("*.npy")), "the Ray replicas wrote no embedding"
    monkeypatch.setenv("PAGEFIT_CACHE_DIR", str(tmp_path / "cache-local"))
    result = _cli("index", corpus, "--model", tiny_clip_path, "--out", tmp_path / "local", "--no-progress")
    assert result.exit_code == 0, result.output
    by_ray, local = open_index(tmp_path / "ray"), open_index(tmp_path / "local")
    assert by_ray.page_ids == local.page_ids and len(local.page_ids) == 7
    np.testing.assert_allclose(by_ray.searcher.vectors, local.searcher.vectors, atol=1e-5)
    manifests = [read_manifest(tmp_path / name).model_dump() for name in ("ray", "local")]
    for manifest in manifests:
        for key in ("created", "updated", "table_version"):
            manifest.pop(key, None)
    assert manifests[0] == manifests[1]
    hits = [[r["page_id"] for r in index.search("report total", k=7)["results"]] for index in (by_ray, local)]
    assert hits[0] == hits[1]


def test_killed_ray_ingest_resumes_with_nothing_lost_or_duplicated(ray_address, tmp_path) -> None:
    docs = tmp_path / "docs"
    for i in range(12):
        make_pdf(
            docs / f"doc-{i:02d}.pdf", [[f"Document {i} page {p}", f"value {i * 10 + p}"] for p in range(3)]
        )
    out = tmp_path / "killed"
    cmd = [PAGEFIT, "ingest", str(docs), "--out", str(out), "--ocr", "never", "--dpi", "100", "--engine", "ray",
           "--ray-address", ray_address, "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    parts = out / ".pagefit" / "parts"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(parts.glob("*.json"))) < 3 and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    _, stderr = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, stderr.decode()[-2000:]
    done_before_kill = len(list(parts.glob("*.json")))
    assert 3 <= done_before_kill < 12, "the run was not interrupted mid-way"
    assert not (out / "pages").exists()

    resumed = ingest([docs], out, ocr="never", dpi=100, engine="ray", show_progress=False)
    assert resumed.skipped >= done_before_kill  # finished documents are not ingested again
    clean = tmp_path / "clean"
    ingest([docs], clean, ocr="never", dpi=100, show_progress=False)
    killed_digest, clean_digest = _folder_digest(out), _folder_digest(clean)
    assert len(killed_digest["rows"]) == 12 * 3
    assert killed_digest == clean_digest  # same rows, manifest and page images: no page lost, none twice


class _FaultyIngester(_DocumentIngester):
    """Ray's ingest actor, in whose process one document raises (as a bug would) and one kills the process
    (as a pdfium abort would). Pickled by value: the workers cannot import this test module."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        import pagefit.ingest

        real = pagefit.ingest._ingest_document

        def ingest_document(path, rel, *rest):
            if rel == "raises.pdf":
                raise RuntimeError("unexpected")
            if rel == "dies.pdf":
                os._exit(1)
            return real(path, rel, *rest)

        pagefit.ingest._ingest_document = ingest_document


def test_a_document_that_raises_or_kills_its_ray_worker_is_rejected_and_the_others_ingested(
    ray_address, tmp_path, monkeypatch
) -> None:
    import ray.cloudpickle

    import pagefit.ray_engine

    for name in ("fine", "raises", "dies"):
        make_pdf(tmp_path / "docs" / f"{name}.pdf", [[f"{name} page one"], [f"{name} page two"]])
    monkeypatch.setattr(pagefit.ray_engine, "_DocumentIngester", _FaultyIngester)
    monkeypatch.setattr(pagefit.ray_engine, "_CRASH_RETRIES", 0)  # a retry would die again: spare the time
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        result = ingest(
            [tmp_path / "docs"], tmp_path / "corpus", ocr="never", engine="ray", show_progress=False
        )
    finally:
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert (result.documents, result.pages) == (1, 2)
    rejects = {r["source"]: r["reason"] for r in map(json.loads, (tmp_path / "corpus/rejects.jsonl").open())}
    assert rejects == {
        "raises.pdf": "ingest crashed on this file (RuntimeError('unexpected'))",  # as the process pool says
        "dies.pdf": "ingest crashed on this file (its Ray worker died)",
    }
    assert sorted(pagefit.load_corpus(tmp_path / "corpus")["page_id"]) == ["fine#p1", "fine#p2"]
    parts = [json.loads(p.read_text()) for p in (tmp_path / "corpus/.pagefit/parts").glob("*.json")]
    assert sorted((p["source"], p["status"]) for p in parts) == [
        ("dies.pdf", "rejected"), ("fine.pdf", "ok"), ("raises.pdf", "rejected")
    ]  # fmt: skip


def test_missing_ray_extra_says_how_to_install_it(monkeypatch, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    monkeypatch.setitem(sys.modules, "ray.data", None)
    from pagefit.ray_engine import require_ray

    with pytest.raises(PagefitError, match=r"pip install 'pagefit\[ray\]'"):
        require_ray()
    (tmp_path / "page.png").write_bytes(b"")
    with pytest.raises(PagefitError, match=r"pip install 'pagefit\[ray\]'"):
        ingest([tmp_path / "page.png"], tmp_path / "corpus", engine="ray", show_progress=False)
    assert not (tmp_path / "corpus").exists()  # refused before any work
    result = _cli("ingest", tmp_path / "page.png", "--out", tmp_path / "corpus", "--engine", "spark")
    assert isinstance(result.exception, PagefitError) and "local or ray" in str(result.exception)


def test_pagefit_imports_no_ray_unless_asked() -> None:
    code = "import sys, pagefit.cli, pagefit.ingest, pagefit.index, pagefit.ray_engine; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
