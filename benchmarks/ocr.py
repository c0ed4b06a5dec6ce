"""OCR: pagefit's rapidocr settings vs rapidocr's defaults at equal text quality, text layer first,
and proof that a second pass over the same corpus performs zero OCR calls.

Pages are born-digital PDF pages rendered to images, so their text layer is the ground truth: word
recall = share of the text layer's words (lower-cased, alphanumeric) that OCR found.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/ocr.py [--pages 6]
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]{2,}", text.lower())


def recall(truth: str, found: str) -> float:
    want, got = words(truth), set(words(found))
    return sum(w in got for w in want) / max(1, len(want))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=6)
    args = parser.parse_args()

    import numpy as np
    import pypdfium2 as pdfium
    from rapidocr import RapidOCR

    from pagefit.demo.documents import write_sample_documents
    from pagefit.ocr import ENGINE_PARAMS

    work = Path(tempfile.mkdtemp(prefix="pagefit-bench-ocr-"))
    docs = write_sample_documents(
        work / "s", n_docs=2, pages_per_doc=(args.pages + 1) // 2, seed=1, with_images=False
    )
    pages = []  # (rendered page, text layer), as `pagefit ingest` renders them at 120 dpi
    for path in sorted(docs.pdfs):
        pdf = pdfium.PdfDocument(str(path))
        for page in pdf:
            pages.append((np.asarray(page.render(scale=120 / 72).to_pil().convert("RGB")),
                          page.get_textpage().get_text_bounded()))  # fmt: skip
        pdf.close()
    pages = pages[: args.pages]

    def run(params: dict) -> tuple[float, float]:
        engine = RapidOCR(params={"Global.log_level": "error", **params})
        engine(pages[0][0])  # warm-up (model load) outside the timing
        start = time.process_time()
        texts = [" ".join(engine(image).txts or ()) for image, _ in pages]
        seconds = time.process_time() - start
        return len(pages) / seconds, float(
            np.mean([recall(t, f) for (_, t), f in zip(pages, texts, strict=True)])
        )

    default_speed, default_recall = run({})
    tuned_speed, tuned_recall = run(ENGINE_PARAMS)
    print(f"{len(pages)} pages; CPU pages/s default {default_speed:.2f}, pagefit {tuned_speed:.2f}; "
          f"word recall default {default_recall:.3f}, pagefit {tuned_recall:.3f}")  # fmt: skip

    # A second pass over the same pages (what a second eval/train/index does) reads the text cache only.
    import pagefit.ocr as ocr
    from pagefit.ingest import ingest

    calls = {"n": 0}
    original = ocr.ocr_image

    def counted(image):
        calls["n"] += 1
        return original(image)

    ocr.ocr_image = counted
    import os

    os.environ["PAGEFIT_CACHE_DIR"] = str(work / "cache")
    scans = work / "scans"
    scans.mkdir()
    from PIL import Image

    for i, (image, _) in enumerate(pages[:2]):
        Image.fromarray(image).save(scans / f"scan{i}.png")
    ingest([scans], work / "corpus", show_progress=False)
    first = calls["n"]
    from pagefit.corpus import corpus_image_paths
    from pagefit.models import load_model

    model = load_model("ocr-minilm", device="cpu")
    model.encode_document(
        [Image.open(p) for p in corpus_image_paths(work / "corpus")]
    )  # the model's OCR route
    second = calls["n"] - first

    from _common import Goal, report

    report(
        "ocr",
        [
            Goal("pagefit OCR settings vs rapidocr defaults (CPU pages/s)", tuned_speed / default_speed, 2.0,
                 detail=f"{tuned_speed:.2f} vs {default_speed:.2f} pages/s"),
            Goal("word recall, pagefit settings minus defaults", tuned_recall - default_recall, -0.01, unit="",
                 detail=f"{tuned_recall:.3f} vs {default_recall:.3f}"),
            Goal("OCR calls when a model reads pages ingest already read", second, 0, unit="",
                 higher_is_better=False, detail=f"ingest made {first} calls for 2 scans"),
        ],
        notes=[f"pagefit settings {ENGINE_PARAMS}; born-digital pages skip OCR entirely (text layer first, "
               "`--ocr auto`)"],
    )  # fmt: skip


if __name__ == "__main__":
    main()
