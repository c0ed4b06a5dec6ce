"""`OcrText`: the input module that lets a text encoder read page images.

It is the first module of an image route inside a Sentence Transformers `Router`. Its `preprocess`
turns each page image into text with `pagefit.ocr.page_text` (the on-disk text cache keyed by the
image's pixel hash, filled by `pagefit ingest` from the PDF text layer or OCR; OCR runs only for a
page no stage has read before) and tokenizes that text with the *next* module of its route, the
shared text `Transformer`. So the page route uses the very tokenizer, truncation, prompts and
weights of the text route: training one trains the other.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sentence_transformers.base.modules import InputModule, Router

if TYPE_CHECKING:
    import torch
    from PIL import Image
    from sentence_transformers.base.model import BaseModel

__all__ = ["OcrText", "load_page_image"]

logger = logging.getLogger(__name__)


def load_page_image(image: Image.Image | str | os.PathLike[str]) -> Image.Image:
    """A PIL image from a PIL image or an existing image file path."""
    from PIL import Image

    if isinstance(image, Image.Image):
        return image
    if isinstance(image, (str, os.PathLike)):
        if not os.path.isfile(image):
            raise FileNotFoundError(f"page image not found: {image}")
        with Image.open(image) as opened:
            opened.load()
            return opened
    raise TypeError(f"expected a PIL image or an image file path, got {type(image).__name__}")


class OcrText(InputModule):
    """Reads page images as text (cached OCR) and tokenizes it with the route's text encoder."""

    save_in_root = False

    def __init__(self) -> None:
        super().__init__()
        # Not a registered submodule: the text encoder belongs to the Router, and registering it here
        # would duplicate its weights in the state dict.
        self.__dict__["_text_module"] = None

    @property
    def modalities(self) -> list[str]:
        return ["image"]

    @property
    def text_module(self) -> InputModule:
        """The text input module this route feeds the page text to (bound by the owning model)."""
        module = self.__dict__["_text_module"]
        if module is None:
            raise RuntimeError(
                "OcrText is not bound to a text encoder: use it as the first module of a Router route "
                "followed by a text Transformer, inside a SentenceTransformer (or call `bind`)."
            )
        return module

    def bind(self, text_module: InputModule) -> None:
        """Tokenize page text with `text_module` (the module after this one in its route)."""
        self.__dict__["_text_module"] = text_module

    def on_model_ready(self, model: BaseModel) -> None:
        for router in (m for m in model.modules() if isinstance(m, Router)):
            for route in router.sub_modules.values():
                if len(route) > 1 and route[0] is self:
                    self.bind(route[1])
                    return
        logger.warning("OcrText is not the first module of a Router route with a text encoder after it")

    @property
    def max_seq_length(self) -> int | None:
        return getattr(self.__dict__["_text_module"], "max_seq_length", None)

    @max_seq_length.setter
    def max_seq_length(self, value: int | None) -> None:
        # The Router sets every route's first module; the length lives on the shared text encoder.
        self.text_module.max_seq_length = value

    def page_texts(self, images: Sequence[Any]) -> list[str]:
        """The text of each page image (PIL image or file path), from the text cache or OCR."""
        from pagefit.ocr import page_text

        return [page_text(load_page_image(image)) for image in images]

    def preprocess(
        self, inputs: Sequence[Any], prompt: str | None = None, **kwargs: Any
    ) -> dict[str, torch.Tensor | Any]:
        kwargs.pop("modality", None)
        features = self.text_module.preprocess(self.page_texts(inputs), prompt=prompt, **kwargs)
        features["modality"] = "text"
        return features

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # The Router stamps the batch as "image"; from here on it is text for the text encoder.
        features["modality"] = "text"
        return features

    def save(self, output_path: str, *args: Any, safe_serialization: bool = True, **kwargs: Any) -> None:
        self.save_config(output_path)
