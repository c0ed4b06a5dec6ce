"""Bad documents and bad folders given to `pagefit ingest` (beyond tests/test_ingest.py's cases)."""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

from _helpers import assert_nothing_half_written, assert_one_line_error, run_pagefit
from PIL import Image

import pagefit
from pagefit.ingest import ingest


def _rejects(corpus: Path) -> dict[str, str]:
    lines = (corpus / "rejects.jsonl").read_text().splitlines()
    return {r["source"]: r["reason"] for r in map(json.loads, lines)}


def _pdf(path: Path, pages: int, size: tuple[float, float] = (200, 260)) -> Path:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    for _ in range(pages):
        pdf.new_page(*size).close()
    pdf.save(str(path))
    pdf.close()
    return path


def test_mislabeled_and_zero_byte_files_say_how_to_fix_them(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    Image.new("RGB", (80, 60), "white").save(docs / "scan.pdf", format="PNG")  # a PNG named .pdf
    _pdf(docs / "report.png", 1)  # a PDF named .png
    Image.new("RGB", (80, 60), "white").save(docs / "photo.tif", format="JPEG")  # any image format is fine
    (docs / "blank.pdf").write_bytes(b"")
    _pdf(docs / "good.pdf", 2)
    result = ingest([docs], tmp_path / "corpus", ocr="never", show_progress=False)
    rejects = _rejects(tmp_path / "corpus")
    assert rejects["scan.pdf"] == "named .pdf but it is a PNG image: rename it to scan.png"
    assert rejects["report.png"] == "named .png but it is a PDF: rename it to report.pdf"
    assert rejects["blank.pdf"] == "empty file (0 bytes)"
    assert sorted(pagefit.load_corpus(tmp_path / "corpus")["page_id"]) == ["good#p1", "good#p2", "photo"]
    assert result.pages == 3
    images = sorted(
        p.relative_to(tmp_path / "corpus").as_posix() for p in (tmp_path / "corpus").rglob("*.png")
    )
    assert images == [
        "images/good/p1.png",
        "images/good/p2.png",
        "images/photo/p1.png",
    ]  # no rejected page stored


def test_a_2000_page_pdf_is_ingested_with_one_page_in_memory(tmp_path: Path) -> None:
    pdf = _pdf(tmp_path / "docs" / "big.pdf", 2000) if (tmp_path / "docs").mkdir() is None else None
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = ingest([pdf], tmp_path / "corpus", dpi=36, ocr="never", show_progress=False)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    corpus = pagefit.load_corpus(tmp_path / "corpus")
    assert result.pages == 2000 and len(corpus) == 2000
    assert corpus[1999]["page_id"] == "big#p2000" and corpus[0]["page_number"] == 1
    assert len(list((tmp_path / "corpus" / "images" / "big").glob("p*.png"))) == 2000
    # 2,000 page images held at once would be ~2000 x 100x130x3 bytes = 78 MB; streaming holds one
    assert sys.platform != "linux" or grown_mb < 60, f"RSS grew {grown_mb:.0f} MB"


def test_a_huge_image_is_downscaled_not_refused(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    Image.new("L", (11_000, 9_500), 255).save(docs / "poster.jpg", quality=50)  # 104.5 Mpx
    result = ingest([docs], tmp_path / "corpus", ocr="never", show_progress=False)
    assert result.rejects == []
    row = pagefit.load_corpus(tmp_path / "corpus")[0]
    assert row["width"] * row["height"] <= 1800 * 1800 and abs(row["width"] / row["height"] - 11 / 9.5) < 0.01


def test_an_empty_folder_is_an_error_and_writes_no_corpus(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".DS_Store").write_bytes(b"x")  # hidden files are not documents
    outcome = run_pagefit(
        ["ingest", tmp_path / "empty", "--out", tmp_path / "corpus", "--no-progress"], monkeypatch
    )
    assert_one_line_error(outcome, "no documents found in", "PDFs or images")
    assert not (tmp_path / "corpus").exists()


def test_a_folder_where_every_file_is_rejected_exits_non_zero_with_the_reasons(
    tmp_path: Path, monkeypatch
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notes.txt").write_text("not a document")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    out = tmp_path / "corpus"
    outcome = run_pagefit(["ingest", docs, "--out", out, "--no-progress", "--ocr", "never"], monkeypatch)
    assert_one_line_error(outcome, "no page could be ingested", "rejects.jsonl")
    assert "notes.txt: unsupported file type '.txt'" in outcome.err and "broken.pdf: corrupt" in outcome.err
    assert set(_rejects(out)) == {"notes.txt", "broken.pdf"}
    assert_one_line_error(run_pagefit(["pairs", out, "--out", tmp_path / "p", "--generate", "text"], monkeypatch),
                          "is a corpus with no pages yet", "rejects.jsonl")  # fmt: skip


def test_out_that_holds_other_files_is_refused_and_left_alone(tmp_path: Path, monkeypatch) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    _pdf(docs / "a.pdf", 1)
    mine = tmp_path / "my-folder"
    mine.mkdir()
    (mine / "thesis.docx").write_bytes(b"precious")
    outcome = run_pagefit(["ingest", docs, "--out", mine, "--no-progress"], monkeypatch)
    assert_one_line_error(outcome, f"--out {mine} already holds", "new or empty folder")
    assert [p.name for p in mine.iterdir()] == ["thesis.docx"]


def test_a_corpus_given_as_source_is_refused(sample_corpus: Path, tmp_path: Path, monkeypatch) -> None:
    outcome = run_pagefit(
        ["ingest", sample_corpus, "--out", tmp_path / "again", "--no-progress"], monkeypatch
    )
    assert_one_line_error(outcome, "is already a corpus", "pagefit pairs")
    assert not (tmp_path / "again").exists()
    assert_nothing_half_written(tmp_path / "again")


def test_tiff_pages_hold_exactly_the_pixels_of_png_pages(tmp_path: Path) -> None:
    """The faster storage format changes no pixel: same image_key, so the same cached text and embeddings."""
    import numpy as np
    from sentence_transformers.base.modality import is_image_url_or_path

    from pagefit._io import image_key
    from pagefit.corpus import corpus_image_paths

    docs = tmp_path / "docs"
    docs.mkdir()
    _pdf(docs / "a.pdf", 2)
    Image.new("RGB", (300, 200), (10, 200, 30)).save(docs / "b.png")
    png = ingest([docs], tmp_path / "png", ocr="never", show_progress=False)
    tiff = ingest([docs], tmp_path / "tiff", ocr="never", image_format="tiff", show_progress=False)
    assert png.pages == tiff.pages == 3
    rows_png, rows_tiff = (pagefit.load_corpus(tmp_path / f).to_list() for f in ("png", "tiff"))
    assert [r["image_hash"] for r in rows_png] == [r["image_hash"] for r in rows_tiff]
    for a, b in zip(corpus_image_paths(tmp_path / "png"), corpus_image_paths(tmp_path / "tiff"), strict=True):
        assert b.endswith(".tiff") and is_image_url_or_path(b)  # Sentence Transformers reads it as an image
        with Image.open(a) as x, Image.open(b) as y:
            assert image_key(x.convert("RGB")) == image_key(y.convert("RGB"))
            assert np.array_equal(np.asarray(x), np.asarray(y))
