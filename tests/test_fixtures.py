"""The shared fixtures work: tiny models load offline and encode, the network guard bites, documents are real."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from _tiny_models import QWEN3VL_DIM, QWEN3VL_IMAGE_SIZE, ROUTER_DIM, minilm_source_dir
from pagefit.demo.content import Names, plan_documents
from pagefit.demo.documents import write_sample_documents
from pagefit.queries import read_queries

PAGE = Image.new("RGB", (850, 1100), "white")
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF"}


def _load(path: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device="cpu")


def _norms(embeddings) -> list[float]:
    return [round(float((row**2).sum()) ** 0.5, 4) for row in embeddings]


# ------------------------------------------------------------------------------------------------ tiny models


def test_tiny_qwen3vl_encodes_text_and_images(tiny_qwen3vl_path: Path) -> None:
    from sentence_transformers.sentence_transformer.modules import Pooling

    model = _load(tiny_qwen3vl_path)
    assert {"text", "image", "message"} <= set(model.modalities)
    assert [type(m).__name__ for m in model] == ["Transformer", "Pooling", "Normalize"]
    assert isinstance(model[1], Pooling) and model[1].pooling_mode == "lasttoken"
    assert model[0].processor.image_processor.size["longest_edge"] == QWEN3VL_IMAGE_SIZE["longest_edge"]
    texts = model.encode_query(["What was the revenue in 2023?", "who chairs the board"])
    pages = model.encode_document([PAGE, Image.new("RGB", (300, 200), "gray")])
    assert texts.shape == pages.shape == (2, QWEN3VL_DIM)
    assert _norms(texts) == _norms(pages) == [1.0, 1.0]


def test_tiny_qwen3vl_chat_template_renders_every_role(tiny_qwen3vl_path: Path) -> None:
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(str(tiny_qwen3vl_path))
    messages = [
        {"role": "system", "content": "S"},
        {"role": "query", "content": [{"type": "text", "text": "Q"}]},
        {
            "role": "document",
            "content": [{"type": "image"}, {"type": "video"}, {"type": "text", "text": "D"}],
        },
        {"role": "assistant", "content": "A"},
    ]
    rendered = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered == (
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>query\nQ<|im_end|>\n<|im_start|>document\n"
        "<|vision_start|><|image_pad|><|vision_end|><|vision_start|><|video_pad|><|vision_end|>D<|im_end|>\n"
        "<|im_start|>assistant\nA<|im_end|>\n<|im_start|>assistant\n"
    )
    special = [
        "<|im_start|>",
        "<|im_end|>",
        "<|vision_start|>",
        "<|vision_end|>",
        "<|image_pad|>",
        "<|video_pad|>",
    ]
    assert all(len(processor.tokenizer.tokenize(token)) == 1 for token in special)


def test_tiny_qwen3vl_base_is_a_raw_vlm_checkpoint(tiny_qwen3vl_base_path: Path) -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    config = json.loads((tiny_qwen3vl_base_path / "config.json").read_text())
    assert config["architectures"] == ["Qwen3VLForConditionalGeneration"]
    assert not (tiny_qwen3vl_base_path / "modules.json").exists()
    transformer = Transformer(str(tiny_qwen3vl_base_path))
    model = SentenceTransformer(
        modules=[transformer, Pooling(transformer.get_embedding_dimension(), "lasttoken")]
    )
    assert model.encode([PAGE, "a query"]).shape == (2, 64)


@pytest.mark.parametrize("fixture", ["tiny_clip_path", "tiny_siglip_path"])
def test_tiny_clip_and_siglip_encode_text_and_images(fixture: str, request: pytest.FixtureRequest) -> None:
    model = _load(request.getfixturevalue(fixture))
    assert set(model.modalities) == {"text", "image"}
    assert model.encode(["a bar chart of revenue", "board of directors"]).shape == (2, 32)
    assert model.encode([PAGE]).shape == (1, 32)


def test_tiny_router_routes_queries_and_pages(tiny_router_path: Path) -> None:
    model = _load(tiny_router_path)
    router = model[0]
    assert type(router).__name__ == "Router" and set(router.sub_modules) == {"query", "document"}
    queries, pages = model.encode_query(["who manages the clinic?"]), model.encode_document([PAGE])
    assert queries.shape == pages.shape == (1, ROUTER_DIM)
    assert _norms(queries) == _norms(pages) == [1.0]
    # Text goes through the text route whatever the task; images through the image route.
    np.testing.assert_allclose(
        model.encode_document(["page text"]), model.encode_query(["page text"]), atol=1e-6
    )
    np.testing.assert_allclose(model.encode([PAGE]), pages, atol=1e-6)


def test_minilm_path_is_a_copy_of_the_real_model(minilm_path: Path) -> None:
    assert minilm_path != minilm_source_dir() and (minilm_path / "model.safetensors").is_file()
    assert _load(minilm_path).encode(["hello world"]).shape == (1, 384)


def test_model_fixtures_are_fresh_copies(
    tiny_clip_path: Path, tiny_clip_source: Path, tmp_path: Path
) -> None:
    assert tiny_clip_path.is_relative_to(tmp_path)
    (tiny_clip_path / "modules.json").write_text("[]")
    assert json.loads((tiny_clip_source / "modules.json").read_text()) != []


# ------------------------------------------------------------------------------------- environment and network


def test_session_is_offline_with_its_own_cache() -> None:
    from pagefit._io import cache_dir

    assert os.environ["HF_HUB_OFFLINE"] == os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert cache_dir("ocr").is_relative_to(Path(os.environ["PAGEFIT_CACHE_DIR"]))
    assert "pagefit-tests-" in os.environ["PAGEFIT_CACHE_DIR"]


def test_network_guard_blocks_outside_connections(network_guard) -> None:
    with network_guard.expect_blocked(), pytest.raises(RuntimeError, match="network access blocked"):
        socket.create_connection(("203.0.113.7", 443), timeout=1)
    with (
        network_guard.expect_blocked(),
        pytest.raises(RuntimeError, match=r"DNS lookup of 'huggingface\.co'"),
    ):
        socket.getaddrinfo("huggingface.co", 443)
    with network_guard.expect_blocked(), pytest.raises(RuntimeError), socket.socket() as sock:
        sock.connect_ex(("8.8.8.8", 53))
    assert network_guard.attempts == []


def test_network_guard_lets_loopback_through() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        accept = threading.Thread(target=lambda: server.accept()[0].close())
        accept.start()
        with socket.create_connection(("localhost", port), timeout=5):
            pass
        accept.join(timeout=5)


def test_hub_downloads_fail_without_touching_the_network(network_guard) -> None:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError
    from sentence_transformers import SentenceTransformer

    with pytest.raises(LocalEntryNotFoundError):
        hf_hub_download("sentence-transformers/all-MiniLM-L6-v2", "config.json")
    with pytest.raises(OSError):
        SentenceTransformer("sentence-transformers/all-MiniLM-L6-v2", device="cpu")
    assert network_guard.attempts == []


# -------------------------------------------------------------------------------------------- sample documents


def _pdf_pages_text(path: Path) -> list[str]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(path)
    try:
        texts = []
        for page in pdf:
            textpage = page.get_textpage()
            texts.append(" ".join(textpage.get_text_range().split()))
            textpage.close()
            page.close()
        return texts
    finally:
        pdf.close()


def test_sample_pdfs_have_pages_and_a_text_layer_with_the_facts(sample_docs) -> None:
    assert len(sample_docs.pdfs) == 3 and os.fspath(sample_docs) == str(sample_docs.docs_dir)
    texts = {f"{pdf.stem}#p{i}": t for pdf in sample_docs.pdfs for i, t in enumerate(_pdf_pages_text(pdf), 1)}
    assert len(texts) == 12
    for page_id, text in texts.items():
        number = int(page_id.rsplit("#p", 1)[1])
        assert f"Page {number} of 4" in text and "Table" in text and len(text.split()) > 120
    for q in sample_docs.queries:
        if q["page_id"] in texts:
            assert q["answer"] in texts[q["page_id"]], q
    # Names, places and amounts asked about appear on their own page only: one page answers each question.
    for q in sample_docs.queries:
        if q["kind"] in ("fact", "table") and re.search("[A-Za-z]", q["answer"]) and q["page_id"] in texts:
            assert [pid for pid, t in texts.items() if q["answer"] in t] == [q["page_id"]], q


def test_sample_pdfs_render_readable_letter_pages(sample_docs) -> None:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(sample_docs.pdfs[0])
    try:
        assert pdf[0].get_size() == (612, 792)
        image = pdf[0].render(scale=120 / 72).to_pil()
        assert image.size == (1020, 1320)
        assert image.convert("L").getextrema()[0] < 60  # dark text and bars on a white page
    finally:
        pdf.close()


def test_sample_images_are_a_scan_and_a_screenshot(sample_docs) -> None:
    scan, shot = sample_docs.images
    with Image.open(scan) as image:
        assert (image.format, image.mode, image.size) == ("PNG", "L", (1020, 1320))
    with Image.open(shot) as image:
        assert image.format == "JPEG" and image.mode == "RGB" and image.width >= 900


def test_sample_queries_are_valid_natural_and_cover_every_page(sample_docs, sample_queries: Path) -> None:
    queries = read_queries(sample_queries)
    assert [q.query_id for q in queries] == [r["query_id"] for r in sample_docs.queries]
    page_ids = {f"{p.stem}#p{i}" for p in sample_docs.pdfs for i in range(1, 5)} | {
        p.stem for p in sample_docs.images
    }
    per_page = {pid: sum(pid in q.page_ids for q in queries) for pid in page_ids}
    assert all(1 <= n <= 2 for n in per_page.values()), per_page
    for q in queries:
        assert q.kind in {"fact", "table", "chart", "heading"}
        assert q.answer.lower() not in q.query.lower() and 4 <= len(q.query.split()) <= 20, q
    assert {q.kind for q in queries} >= {"fact", "table", "chart"}


def test_sample_documents_are_deterministic(tmp_path: Path) -> None:
    def write(out: str, seed: int):
        return write_sample_documents(tmp_path / out, n_docs=1, pages_per_doc=2, seed=seed, with_images=False)

    a, b, c = write("a", 0), write("b", 0), write("c", 1)
    assert a.pdfs[0].read_bytes() == b.pdfs[0].read_bytes()
    assert a.queries_path.read_text() == b.queries_path.read_text()
    assert a.queries_path.read_text() != c.queries_path.read_text()


def test_long_reports_keep_one_answer_page_per_question() -> None:
    import random

    rng = random.Random(3)
    docs = plan_documents(8, 12, rng, Names(rng))
    for doc in docs:
        headings = [page.heading for page in doc.pages]
        assert len(set(headings)) == 12 and headings[10] == f"Overview ({doc.year - 1})"
        asked = [q.query for page in doc.pages for q in page.queries]
        assert len(asked) == len(set(asked))


def test_image_variants_open_in_their_modes(image_variants) -> None:
    assert set(image_variants) == {
        "png", "jpg", "jpeg", "webp", "bmp", "tif", "multipage_tif", "cmyk_jpeg", "png16", "rgba_png",
        "palette_png", "bilevel_png",
    }  # fmt: skip
    assert len({v.path.stem for v in image_variants.values()}) == len(image_variants)
    for variant in image_variants.values():
        with Image.open(variant.path) as image:
            assert image.mode == variant.mode, variant
            assert getattr(image, "n_frames", 1) == variant.frames, variant
            assert image.format == FORMATS[variant.path.suffix], variant


def test_sample_corpus_holds_every_sample_page(sample_corpus: Path, sample_queries: Path) -> None:
    from pagefit.corpus import load_corpus
    from pagefit.queries import check_page_ids

    pages = load_corpus(sample_corpus)
    assert len(pages) == 3 * 4 + 2
    check_page_ids(read_queries(sample_queries), pages["page_id"])
    by_id = {row["page_id"]: row for row in pages}
    pdf_rows = [row for row in pages if "#p" in row["page_id"]]
    assert {row["text_source"] for row in pdf_rows} == {"pdf"}
    scan = next(row for pid, row in by_id.items() if pid.endswith("inspection-memo"))
    assert scan["text_source"] == "ocr" and "valves" in scan["text"].lower()
