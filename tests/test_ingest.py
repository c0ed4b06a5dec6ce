"""`pagefit ingest`: page ids, columns, text layer, OCR, idempotence, resume, bad inputs."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont
from typer.testing import CliRunner

import pagefit
from pagefit.cli import app
from pagefit.ingest import ingest
from pagefit.ocr import PageTextCache

PAGEFIT = str(Path(sys.executable).with_name("pagefit"))


def make_pdf(path: Path, pages: list[list[str]], *, encrypt: str | None = None) -> Path:
    """A born-digital PDF (real text layer) with a table-like grid and a bar chart on each page."""
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    path.parent.mkdir(parents=True, exist_ok=True)
    c = canvas.Canvas(str(path), pagesize=letter, encrypt=encrypt)
    for lines in pages:
        c.setFont("Helvetica", 12)
        for i, line in enumerate(lines):
            c.drawString(72, 720 - 18 * i, line)
        for row in range(3):  # a small table
            for col in range(3):
                c.rect(72 + 120 * col, 400 - 20 * row, 120, 20)
                c.drawString(76 + 120 * col, 406 - 20 * row, f"cell {row}-{col}")
        for i, h in enumerate([40, 80, 60]):  # a bar chart
            c.rect(100 + 50 * i, 150, 30, h, fill=1)
        c.showPage()
    c.save()
    return path


def text_image(text: str, size=(900, 600), mode: str = "RGB") -> Image.Image:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=40)
    draw.text((40, 60), text, fill="black", font=font)
    return image.convert(mode) if mode != "RGB" else image


@pytest.fixture
def doc_tree(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    make_pdf(
        root / "reports" / "annual-2023.pdf",
        [
            ["Annual report 2023", "Harbor cargo rose to 512 units"],
            ["Dredging budget", "The dredging budget was 40 million"],
            ["Ferry routes", "Three ferry routes were added"],
        ],
    )
    make_pdf(root / "guide.pdf", [["Orchard guide", "Apple scab treatment with copper spray"]])
    (root / "scans").mkdir(parents=True)
    text_image("INVOICE 007 TOTAL 1200").save(root / "scans" / "invoice-007.png")
    return root


def test_page_ids_and_columns(doc_tree: Path, tmp_path: Path) -> None:
    result = ingest([doc_tree], tmp_path / "corpus", show_progress=False)
    corpus = pagefit.load_corpus(tmp_path / "corpus")
    assert sorted(corpus["page_id"]) == [
        "guide#p1",
        "reports/annual-2023#p1",
        "reports/annual-2023#p2",
        "reports/annual-2023#p3",
        "scans/invoice-007",
    ]
    assert result.pages == 5 and result.documents == 3 and result.rejects == []
    for column in [
        "page_id",
        "doc_id",
        "source",
        "page_number",
        "image",
        "width",
        "height",
        "text",
        "text_source",
    ]:
        assert column in corpus.column_names
    row = corpus.filter(lambda r: r["page_id"] == "reports/annual-2023#p2")[0]
    assert row["doc_id"] == "reports/annual-2023" and row["source"] == "reports/annual-2023.pdf"
    assert row["page_number"] == 2
    stored = Image.open(tmp_path / "corpus" / row["image"])
    assert stored.size == (row["width"], row["height"]) and stored.mode == "RGB"
    assert abs(row["width"] - 8.5 * 120) <= 2  # letter at the default 120 dpi
    manifest = json.loads((tmp_path / "corpus" / "manifest.json").read_text())
    assert manifest["counts"]["pages"] == 5 and manifest["pagefit_version"] == pagefit.__version__
    assert {s["source"] for s in manifest["sources"]} == {
        "reports/annual-2023.pdf",
        "guide.pdf",
        "scans/invoice-007.png",
    }
    assert all(len(s["sha256"]) == 64 for s in manifest["sources"])
    assert (tmp_path / "corpus" / "rejects.jsonl").read_text() == ""


def test_single_file_source_is_relative_to_its_folder(doc_tree: Path, tmp_path: Path) -> None:
    ingest([doc_tree / "reports" / "annual-2023.pdf"], tmp_path / "c", show_progress=False)
    assert pagefit.load_corpus(tmp_path / "c")["page_id"] == [
        "annual-2023#p1",
        "annual-2023#p2",
        "annual-2023#p3",
    ]


def test_text_layer_is_used_and_shared_with_the_text_cache(doc_tree: Path, tmp_path: Path) -> None:
    ingest([doc_tree], tmp_path / "corpus", ocr="never", show_progress=False)
    corpus = pagefit.load_corpus(tmp_path / "corpus")
    row = corpus.filter(lambda r: r["page_id"] == "reports/annual-2023#p2")[0]
    assert row["text_source"] == "pdf" and "dredging budget was 40 million" in row["text"]
    assert PageTextCache().get(row["image_hash"]) == (row["text"], "pdf")
    image_row = corpus.filter(lambda r: r["page_id"] == "scans/invoice-007")[0]
    assert image_row["text_source"] == "none" and image_row["text"] == ""


def test_ocr_reads_image_pages(doc_tree: Path, tmp_path: Path) -> None:
    ingest([doc_tree / "scans"], tmp_path / "corpus", show_progress=False)
    row = pagefit.load_corpus(tmp_path / "corpus")[0]
    assert row["text_source"] == "ocr"
    assert "INVOICE" in row["text"].upper() and "1200" in row["text"]
    assert PageTextCache().get(row["image_hash"]) == (row["text"], "ocr")


def test_idempotent_and_incremental(doc_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    first = ingest([doc_tree], out, ocr="never", show_progress=False)
    before = pagefit.load_corpus(out).to_list()
    again = ingest([doc_tree], out, ocr="never", show_progress=False)
    assert again.skipped == 3 and pagefit.load_corpus(out).to_list() == before
    assert first.skipped == 0
    make_pdf(doc_tree / "new.pdf", [["A new document"]])
    make_pdf(doc_tree / "guide.pdf", [["Orchard guide, second edition"], ["Pruning cuts"]])
    third = ingest([doc_tree], out, ocr="never", show_progress=False)
    assert third.skipped == 2  # annual report and the scan; guide changed, new.pdf is new
    ids = set(pagefit.load_corpus(out)["page_id"])
    assert {"new#p1", "guide#p1", "guide#p2"} <= ids and len(ids) == 7


def test_prune_drops_documents_no_longer_given(doc_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    ingest([doc_tree], out, ocr="never", show_progress=False)
    ingest([doc_tree / "reports"], out, ocr="never", show_progress=False)  # accumulates by default
    assert len(pagefit.load_corpus(out)) == 5 + 3
    ingest([doc_tree / "reports"], out, ocr="never", prune=True, show_progress=False)
    assert sorted(pagefit.load_corpus(out)["page_id"]) == [
        "annual-2023#p1",
        "annual-2023#p2",
        "annual-2023#p3",
    ]


def test_workers_give_the_same_corpus(doc_tree: Path, tmp_path: Path) -> None:
    ingest([doc_tree], tmp_path / "one", ocr="never", workers=1, show_progress=False)
    ingest([doc_tree], tmp_path / "two", ocr="never", workers=2, show_progress=False)
    assert pagefit.load_corpus(tmp_path / "one").to_list() == pagefit.load_corpus(tmp_path / "two").to_list()


def test_resume_after_killing_a_real_ingest(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    for i in range(14):
        make_pdf(
            docs / f"doc-{i:02d}.pdf", [[f"Document {i} page {p}", f"value {i * 10 + p}"] for p in range(4)]
        )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "killed"
    cmd = [PAGEFIT, "ingest", str(docs), "--out", str(out), "--ocr", "never", "--dpi", "150", "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parts = out / ".pagefit" / "parts"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(parts.glob("*.json"))) < 3:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before_kill = len(list(parts.glob("*.json")))
    assert 3 <= done_before_kill < 14, "the run was not interrupted mid-way"
    assert not (out / "pages").exists()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    ingest([docs], tmp_path / "clean", ocr="never", dpi=150, show_progress=False)
    killed, clean = pagefit.load_corpus(out).to_list(), pagefit.load_corpus(tmp_path / "clean").to_list()
    assert len(killed) == 14 * 4
    assert killed == clean
    # the resumed run skipped what the killed one finished
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["documents"] == 14


def _png_with_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge size (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def bad_tree(tmp_path: Path) -> Path:
    root = tmp_path / "bad"
    root.mkdir()
    make_pdf(root / "good.pdf", [["A good page", "with real text"]])
    (root / "corrupt.pdf").write_bytes(b"%PDF-1.4\n1 0 obj <<>> garbage")
    make_pdf(root / "locked.pdf", [["Secret page"]], encrypt="s3cret")
    (root / "empty.png").write_bytes(b"")
    (root / "notes.docx").write_bytes(b"PK\x03\x04 not really a docx")
    buffer = root / "whole.png"
    text_image("truncated").save(buffer)
    (root / "truncated.png").write_bytes(buffer.read_bytes()[: buffer.stat().st_size // 2])
    buffer.unlink()
    (root / "bomb.png").write_bytes(_png_with_size(60_000, 60_000))
    text_image("CMYK page", mode="CMYK").save(root / "cmyk.jpg")
    Image.fromarray(
        __import__("numpy").linspace(0, 65535, 300 * 200).reshape(200, 300).astype("uint16")
    ).save(root / "deep.png")
    rgba = text_image("RGBA page").convert("RGBA")
    rgba.putalpha(0)
    rgba.save(root / "rgba.png")
    text_image("palette page").convert("P").save(root / "palette.png")
    text_image("one bit").convert("1").save(root / "onebit.png")
    text_image("bitmap").save(root / "bitmap.bmp")
    text_image("webp").save(root / "web.webp")
    frames = [text_image(f"frame {i}") for i in range(3)]
    frames[0].save(root / "multi.tif", save_all=True, append_images=frames[1:])
    Image.new("RGB", (4000, 3000), "white").save(root / "large.png")
    text_image("dup a").save(root / "same.png")
    text_image("dup b").save(root / "same.jpeg")  # page id 'same' taken by same.jpeg (sorted first)
    return root


def test_bad_inputs_are_rejected_or_converted_and_lose_nothing(bad_tree: Path, tmp_path: Path) -> None:
    result = ingest([bad_tree], tmp_path / "corpus", ocr="never", max_pixels=1_000_000, show_progress=False)
    lines = (tmp_path / "corpus" / "rejects.jsonl").read_text().splitlines()
    rejects = {r["source"]: r["reason"] for r in map(json.loads, lines)}
    assert rejects == {r["source"]: r["reason"] for r in result.rejects}
    assert "corrupt" in rejects["corrupt.pdf"]
    assert "--password" in rejects["locked.pdf"]
    assert "empty file" in rejects["empty.png"]
    assert "unsupported file type '.docx'" in rejects["notes.docx"]
    assert "truncated or corrupt image" in rejects["truncated.png"]
    assert "too large" in rejects["bomb.png"]
    assert "already taken by same.jpeg" in rejects["same.png"]
    assert len(rejects) == 7
    corpus = pagefit.load_corpus(tmp_path / "corpus")
    ids = set(corpus["page_id"])
    assert ids == {
        "good#p1",
        "cmyk",
        "deep",
        "rgba",
        "palette",
        "onebit",
        "bitmap",
        "web",
        "multi#p1",
        "multi#p2",
        "multi#p3",
        "large",
        "same",
    }
    for row in corpus:
        image = Image.open(tmp_path / "corpus" / row["image"])
        assert image.mode == "RGB" and image.width * image.height <= 1_000_000
    deep = Image.open(tmp_path / "corpus" / corpus.filter(lambda r: r["page_id"] == "deep")[0]["image"])
    assert deep.getextrema()[0] == (0, 255)  # 16-bit range stretched, not clipped to white
    rgba = Image.open(tmp_path / "corpus" / corpus.filter(lambda r: r["page_id"] == "rgba")[0]["image"])
    assert rgba.getpixel((5, 5)) == (255, 255, 255)  # transparency flattened on white


def test_password_unlocks_encrypted_pdf(bad_tree: Path, tmp_path: Path) -> None:
    wrong = ingest([bad_tree / "locked.pdf"], tmp_path / "c", password="nope", show_progress=False)
    assert "wrong password" in wrong.rejects[0]["reason"]
    right = ingest(
        [bad_tree / "locked.pdf"], tmp_path / "c", password="s3cret", ocr="never", show_progress=False
    )
    assert right.rejects == [] and "Secret page" in pagefit.load_corpus(tmp_path / "c")[0]["text"]


def test_cli_reports_rejects_and_exits_zero(bad_tree: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "ingest",
            str(bad_tree / "good.pdf"),
            str(bad_tree / "corrupt.pdf"),
            "--out",
            str(tmp_path / "c"),
            "--no-progress",
            "--ocr",
            "never",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "rejected" in result.output and "corrupt.pdf" in result.output


def test_cli_error_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [PAGEFIT, "ingest", str(tmp_path / "missing"), "--out", str(tmp_path / "c")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [f"error: source {tmp_path / 'missing'} does not exist"]
