"""`OcrText`: the input module that lets a text encoder read page images.

It is the first module of an image route inside a Sentence Transformers `Router`. Its `preprocess`
turns each page image into text: the corpus ``text`` column of the page (by image hash or path,
`pagefit.models.page_text.read_page_texts`), or for a page outside any corpus the on-disk text cache
keyed by the image's pixel hash (OCR runs only for a page no stage has read before) and tokenizes that text with the *next* module of its route, the
shared text `Transformer`. So the page route uses the very tokenizer, truncation, prompts and
weights of the text route: training one trains the other.

The text it embeds is the cached text after `pagefit.pagetext.clean_page_text` (de-hyphenated,
ligatures and odd spaces normalised), the same text BM25 indexes and the query generator reads.

Long pages: with ``max_chunks > 1`` a page is not cut at the encoder's ``max_seq_length`` (256 tokens
for MiniLM) but split into up to ``max_chunks`` windows of that length (``chunk_overlap`` tokens
shared between neighbours); every window is encoded and `ChunkPool`, after the pooling module,
averages a page's window embeddings into its one vector. The model stays a SentenceTransformer that
`encode()`s a page to one vector. Inside a batch the windows travel as a (pages, windows, tokens)
tensor, so the trainer's mini-batching (GradCache) slices pages, never windows.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from sentence_transformers.base.modules import InputModule, Module, Router

from pagefit.pagetext import TEXT_VERSION, clean_page_text

if TYPE_CHECKING:
    import torch
    from PIL import Image
    from sentence_transformers.base.model import BaseModel

__all__ = ["ChunkPool", "OcrText", "load_page_image"]

CHUNK_MASK = "chunk_mask"  # (pages, windows) bool: which windows of a batch hold text
CHUNK_PAGE = "chunk_page"  # (windows,) page index of every encoded window, set by OcrText.forward
CHUNK_PAGES = "chunk_pages"  # number of pages of the batch

logger = logging.getLogger(__name__)


def load_page_image(image: Image.Image | str | os.PathLike[str]) -> Image.Image:
    """An RGB PIL image from a PIL image or an existing image file path (grey pages are stored as one
    channel: converted back, they are the RGB pixels ingest hashed)."""
    from PIL import Image

    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    if isinstance(image, (str, os.PathLike)):
        if not os.path.isfile(image):
            raise FileNotFoundError(f"page image not found: {image}")
        with Image.open(image) as opened:
            opened.load()
            return opened if opened.mode == "RGB" else opened.convert("RGB")
    raise TypeError(f"expected a PIL image or an image file path, got {type(image).__name__}")


class OcrText(InputModule):
    """Reads page images as text (cached OCR) and tokenizes it with the route's text encoder."""

    save_in_root = False
    config_keys: ClassVar[list[str]] = ["text_cleaning", "max_chunks", "chunk_overlap"]

    def __init__(
        self, text_cleaning: str | None = TEXT_VERSION, max_chunks: int = 1, chunk_overlap: int = 32
    ) -> None:
        """
        Args:
            text_cleaning: the `pagefit.pagetext` rules applied to page text (`TEXT_VERSION`), or None
                for the raw cached text.
            max_chunks: windows of `max_seq_length` tokens embedded per page (1: the page is truncated).
            chunk_overlap: tokens shared by neighbouring windows.
        """
        super().__init__()
        if max_chunks < 1:
            raise ValueError(f"max_chunks must be at least 1, got {max_chunks}")
        if chunk_overlap < 0:
            raise ValueError(f"chunk_overlap must be >= 0, got {chunk_overlap}")
        self.text_cleaning = text_cleaning
        self.max_chunks = int(max_chunks)
        self.chunk_overlap = int(chunk_overlap)
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

    def page_texts(self, images: Sequence[Any], keys: Sequence[str] | None = None) -> list[str]:
        """The text of each page image (PIL image or file path): the corpus ``text`` of a page inside a
        corpus folder, else the OCR text cache (OCR on a miss); see `pagefit.models.page_text.read_page_texts`.

        With `keys` (the pages' content hashes, the corpus `image_hash` column) no image is decoded
        unless its text is found nowhere.
        """
        from pagefit.models.page_text import read_page_texts

        texts = read_page_texts(images, keys, clean=False)
        if self.text_cleaning is None:
            return texts
        if self.text_cleaning != TEXT_VERSION:
            logger.warning(
                "page text cleaning %r is not this pagefit's (%s): the current rules are applied",
                self.text_cleaning,
                TEXT_VERSION,
            )
        return [clean_page_text(text) for text in texts]

    def chunks(self, text: str) -> list[str]:
        """The page text as up to `max_chunks` windows of at most `max_seq_length` tokens."""
        tokenizer = self.text_module.tokenizer
        limit = self.max_seq_length or 256
        window = max(8, limit - tokenizer.num_special_tokens_to_add())
        step = max(1, window - min(self.chunk_overlap, window // 2))
        offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)[
            "offset_mapping"
        ]
        if len(offsets) <= window:
            return [text]
        out = []
        for start in range(0, len(offsets), step):
            end = min(start + window, len(offsets))
            out.append(text[offsets[start][0] : offsets[end - 1][1]])
            if end == len(offsets) or len(out) == self.max_chunks:
                break
        return out

    def preprocess(
        self, inputs: Sequence[Any], prompt: str | None = None, **kwargs: Any
    ) -> dict[str, torch.Tensor | Any]:
        kwargs.pop("modality", None)
        texts = self.page_texts(inputs)
        if self.max_chunks == 1:
            features = self.text_module.preprocess(texts, prompt=prompt, **kwargs)
            features["modality"] = "text"
            return features
        import torch

        windows = [self.chunks(text) for text in texts]
        flat = [w for page in windows for w in page]
        features = self.text_module.preprocess(flat, prompt=prompt, **kwargs)
        n_pages, most = len(windows), max(len(page) for page in windows)
        mask = torch.zeros(n_pages, most, dtype=torch.bool)
        for i, page in enumerate(windows):
            mask[i, : len(page)] = True
        for key, value in list(features.items()):
            if isinstance(value, torch.Tensor) and value.ndim >= 1 and value.shape[0] == len(flat):
                grid = value.new_zeros((n_pages * most, *value.shape[1:]))
                grid[mask.flatten()] = value
                features[key] = grid.reshape(n_pages, most, *value.shape[1:])
        features[CHUNK_MASK] = mask
        features["modality"] = "text"
        return features

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # The Router stamps the batch as "image"; from here on it is text for the text encoder.
        features["modality"] = "text"
        mask = features.pop(CHUNK_MASK, None)
        if mask is not None:  # (pages, windows, ...) -> the text windows only, for the encoder
            import torch

            keep = mask.flatten()
            n_pages, most = mask.shape
            for key, value in list(features.items()):
                if (
                    isinstance(value, torch.Tensor)
                    and value.ndim >= 2
                    and tuple(value.shape[:2]) == (n_pages, most)
                ):
                    features[key] = value.reshape(n_pages * most, *value.shape[2:])[keep]
            pages = torch.arange(n_pages, device=mask.device).repeat_interleave(most)[keep]
            features[CHUNK_PAGE] = pages
            features[CHUNK_PAGES] = n_pages
        return features

    def save(self, output_path: str, *args: Any, safe_serialization: bool = True, **kwargs: Any) -> None:
        self.save_config(output_path)


class ChunkPool(Module):
    """Averages the window embeddings of each page (see `OcrText`'s `max_chunks`) into one vector.

    Sits after the pooling module; batches without windows (queries, single-window pages) pass
    through unchanged. Each window embedding is L2-normalised first when `normalize_chunks`.
    """

    config_keys: ClassVar[list[str]] = ["normalize_chunks"]

    def __init__(self, normalize_chunks: bool = True) -> None:
        super().__init__()
        self.normalize_chunks = normalize_chunks

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        pages = features.pop(CHUNK_PAGE, None)
        n_pages = features.pop(CHUNK_PAGES, None)
        if pages is None:
            return features
        import torch
        import torch.nn.functional as F

        emb = features["sentence_embedding"]
        if self.normalize_chunks:
            emb = F.normalize(emb, p=2, dim=-1)
        total = emb.new_zeros((n_pages, emb.shape[-1])).index_add(0, pages, emb)
        count = torch.bincount(pages, minlength=n_pages).clamp(min=1).to(emb.dtype)
        features["sentence_embedding"] = total / count[:, None]
        features.pop("token_embeddings", None)  # per window, not per page
        return features

    def save(self, output_path: str, *args: Any, safe_serialization: bool = True, **kwargs: Any) -> None:
        self.save_config(output_path)
