"""A page's cache key is its RGB pixels, whatever mode its file or PIL image is in."""

from __future__ import annotations

from PIL import Image, ImageDraw

from pagefit._io import image_key
from pagefit.models.ocr_text import load_page_image


def test_a_grey_image_has_the_key_and_pixels_of_its_rgb_page(tmp_path):
    grey = Image.new("L", (60, 40), 255)
    ImageDraw.Draw(grey).text((4, 4), "page 7", fill=0)
    rgb = grey.convert("RGB")  # what ingest hashes and stores for this page
    assert image_key(grey) == image_key(rgb)
    grey.save(tmp_path / "grey.png")
    loaded = load_page_image(tmp_path / "grey.png")
    assert loaded.mode == "RGB" and loaded.tobytes() == rgb.tobytes()
    assert load_page_image(grey).mode == "RGB"
    assert image_key(Image.new("RGB", (60, 40), (255, 0, 0))) != image_key(rgb)
