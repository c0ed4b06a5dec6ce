"""Page images whose text sits in the text cache, as `pagefit ingest` would leave them."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from pagefit._io import image_key
from pagefit.ocr import PageTextCache


def make_cached_pages(folder: Path, texts: list[str], size: tuple[int, int] = (48, 64)) -> list[str]:
    """Distinct PNG pages, one per text, with that text cached under each page's pixel hash."""
    folder.mkdir(parents=True, exist_ok=True)
    cache = PageTextCache()
    paths = []
    for i, text in enumerate(texts):
        image = Image.new("RGB", size, (20 * i % 256, 120, (255 - 20 * i) % 256))
        path = folder / f"page{i}.png"
        image.save(path)
        cache.put(image_key(image), text, "pdf")
        paths.append(str(path))
    return paths
