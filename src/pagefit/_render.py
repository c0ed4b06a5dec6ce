"""Turn one source document into normalised page images (and its PDF text layer).

Each function here handles exactly one document, so documents can be spread over processes
(pdfium is not thread-safe) and a failure stays confined to its document.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, ImageSequence

__all__ = [
    "IMAGE_SUFFIXES",
    "PDF_SUFFIXES",
    "DocumentError",
    "RenderedPage",
    "iter_pages",
    "normalize_image",
]

PDF_SUFFIXES = {".pdf"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"}

# Decoding an image costs ~3 bytes a pixel; past this the image is refused instead of risking the
# machine's memory. PIL raises DecompressionBombError above twice its own limit, which we set here.
MAX_DECODE_PIXELS = 200_000_000


class DocumentError(Exception):
    """A document that cannot be ingested; the message is the reason shown in rejects.jsonl."""


@dataclass
class RenderedPage:
    page_number: int
    image: Image.Image | None  # None when this page failed (see `error`)
    pdf_text: str | None = None  # None for images (no text layer)
    error: str | None = None


def _bounded_size(width: float, height: float, max_pixels: int) -> tuple[int, int]:
    scale = min(1.0, math.sqrt(max_pixels / max(width * height, 1.0)))
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def normalize_image(image: Image.Image, max_pixels: int, *, exif: bool = True) -> Image.Image:
    """RGB, 8 bits, EXIF orientation applied, transparency flattened on white, at most `max_pixels`.

    `exif=False` for pages rendered here (they carry no EXIF; the transpose would only copy them).
    """
    if exif:
        image = ImageOps.exif_transpose(image)
    if image.mode in {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}:
        # 16/32-bit greyscale: stretch the real value range to 8 bits instead of clipping to white.
        import numpy as np

        array = np.asarray(image, dtype=np.float64)
        lo, hi = float(array.min()), float(array.max())
        array = (array - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(array)
        image = Image.fromarray(array.clip(0, 255).astype("uint8"), mode="L")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in {"RGBA", "LA", "PA", "RGBa", "La"}:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode != "RGB":
        image = image.convert("RGB")  # CMYK (PIL inverts Adobe CMYK JPEGs correctly), L, 1, YCbCr, LAB
    if image.width * image.height > max_pixels:
        image = image.resize(_bounded_size(image.width, image.height, max_pixels), Image.Resampling.LANCZOS)
    return image


def _render_pdf_page(page, dpi: int, max_pixels: int) -> tuple[Image.Image, str]:
    try:
        width, height = page.get_size()  # points, 1/72 inch
        target = _bounded_size(width * dpi / 72, height * dpi / 72, max_pixels)
        bitmap = page.render(scale=target[0] / max(width, 1e-6), may_draw_forms=True)
        image = normalize_image(
            bitmap.to_pil().convert("RGB"), max_pixels, exif=False
        )  # copy; pdfium rounds up: re-bound
        bitmap.close()
        textpage = page.get_textpage()
        try:
            return image, textpage.get_text_bounded()
        finally:
            textpage.close()
    finally:
        page.close()


def _iter_pdf(path: Path, dpi: int, max_pixels: int, password: str | None) -> Iterator[RenderedPage]:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(path), password=password)
    except pdfium.PdfiumError as e:
        message = str(e).lower()
        if "password" in message:
            hint = "wrong password given with --password" if password else "encrypted PDF: pass --password"
            raise DocumentError(hint) from e
        raise DocumentError(f"corrupt or unreadable PDF ({e}); re-export or repair it") from e
    try:
        if len(pdf) == 0:
            raise DocumentError("PDF has no pages")
        for index in range(len(pdf)):
            try:
                image, text = _render_pdf_page(pdf[index], dpi, max_pixels)
            except (pdfium.PdfiumError, OSError, ValueError) as e:  # one bad page loses only itself
                yield RenderedPage(index + 1, None, error=f"page {index + 1} could not be rendered ({e})")
                continue
            yield RenderedPage(index + 1, image, text)
    finally:
        pdf.close()


def _iter_image(path: Path, max_pixels: int) -> Iterator[RenderedPage]:
    Image.MAX_IMAGE_PIXELS = MAX_DECODE_PIXELS // 2
    try:
        with Image.open(path) as image:
            if image.format == "JPEG":  # decode big JPEGs at reduced scale: less memory, faster
                image.draft("RGB", _bounded_size(image.width, image.height, max_pixels))
            frames = getattr(image, "n_frames", 1)
            for number, frame in enumerate(ImageSequence.Iterator(image), start=1):
                frame.load()
                yield RenderedPage(number, normalize_image(frame, max_pixels), None)
                if path.suffix.lower() not in {".tif", ".tiff"} or number >= frames:
                    break  # animated webp/png: the first frame is the page
    except Image.DecompressionBombError as e:
        raise DocumentError(
            f"image too large to decode safely ({e}); downscale it below {MAX_DECODE_PIXELS:,} pixels"
        ) from e
    except (OSError, SyntaxError, ValueError) as e:
        raise DocumentError(f"truncated or corrupt image ({e}); re-export the file") from e


_IMAGE_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpg",
    b"II*\x00": "tif",
    b"MM\x00*": "tif",
    b"BM": "bmp",
    b"GIF8": "gif",
}


def _sniff(head: bytes) -> str | None:
    """The real type of a file from its first bytes: "pdf", an image suffix, or None (unknown)."""
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return next((kind for magic, kind in _IMAGE_MAGIC.items() if head.startswith(magic)), None)


def _check_content_matches_suffix(path: Path, suffix: str) -> None:
    """Refuse a PDF named like an image and an image named like a PDF, saying how to rename it."""
    with open(path, "rb") as f:
        real = _sniff(f.read(1024))
    if real is None:
        return  # unknown content: the decoder below says what is wrong with it
    named_pdf = suffix in PDF_SUFFIXES
    if named_pdf and real != "pdf":
        raise DocumentError(f"named .pdf but it is a {real.upper()} image: rename it to {path.stem}.{real}")
    if not named_pdf and real == "pdf":
        raise DocumentError(f"named {suffix} but it is a PDF: rename it to {path.stem}.pdf")


def iter_pages(
    path: str | os.PathLike[str], *, dpi: int, max_pixels: int, password: str | None
) -> Iterator[RenderedPage]:
    """Yield the pages of a PDF or image file; raise `DocumentError` with a reason the user can act on."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in PDF_SUFFIXES | IMAGE_SUFFIXES:
        supported = ", ".join(sorted(s.lstrip(".") for s in PDF_SUFFIXES | IMAGE_SUFFIXES))
        raise DocumentError(f"unsupported file type '{suffix or path.name}' (supported: {supported})")
    if path.stat().st_size == 0:
        raise DocumentError("empty file (0 bytes)")
    _check_content_matches_suffix(path, suffix)
    if suffix in PDF_SUFFIXES:
        yield from _iter_pdf(path, dpi, max_pixels, password)
    else:
        yield from _iter_image(path, max_pixels)
