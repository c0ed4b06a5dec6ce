"""The built-in `ocr-colminilm` model: ColBERT-style token vectors of MiniLM reading pages through cached OCR.

Layout (a Sentence Transformers `MultiVectorEncoder`)::

    Router  text  route: Transformer(MiniLM)            ┐
            image route: OcrText -> the same Transformer ┘ -> Dense(384 -> 128, token-wise)
                                                          -> MultiVectorMask -> Normalize

It is `ocr-minilm` (`pagefit.models.ocr_minilm`) with the pooling replaced by a fresh 128-d token
projection: a query and a page keep one unit vector per token and are scored by MaxSim. The
projection starts from random weights (seeded: every build is the same model), so the untrained
model ranks poorly; train it with the `ocr-colminilm` preset. As in ColBERT, punctuation tokens of a page are not scored (nor stored).
"""

from __future__ import annotations

import string
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentence_transformers import MultiVectorEncoder

__all__ = ["NAME", "PROJECTION_DIM", "PROJECTION_SEED", "build_ocr_colminilm"]

NAME = "ocr-colminilm"
PROJECTION_DIM = 128
PROJECTION_SEED = 0


def build_ocr_colminilm(
    *,
    device: str | None = None,
    truncate_dim: int | None = None,
    model_kwargs: dict[str, Any] | None = None,
    processor_kwargs: dict[str, Any] | None = None,
) -> MultiVectorEncoder:
    """Build the untrained `ocr-colminilm` from the packaged MiniLM weights (no download).

    Args:
        device: torch device; None lets Sentence Transformers choose.
        truncate_dim: not supported (token vectors have no Matryoshka truncation); must be None.
        model_kwargs: passed to `AutoModel.from_pretrained` of MiniLM.
        processor_kwargs: passed to the MiniLM tokenizer.
    """
    import torch
    from sentence_transformers import MultiVectorEncoder
    from sentence_transformers.base.modules import Dense, Normalize, Router, Transformer
    from sentence_transformers.multi_vector_encoder.modules import MultiVectorMask

    from pagefit.errors import PagefitError
    from pagefit.models.ocr_minilm import MAX_SEQ_LENGTH, minilm_path
    from pagefit.models.ocr_text import OcrText

    if truncate_dim is not None:
        raise PagefitError(f"{NAME} is a multi-vector model: it has no truncate_dim")
    text = Transformer(
        minilm_path(),
        max_seq_length=MAX_SEQ_LENGTH,
        model_kwargs=model_kwargs,
        processor_kwargs=processor_kwargs,
    )
    router = Router(
        {"text": [text], "image": [OcrText(), text]},
        default_route="text",
        route_mappings={(None, "text"): "text", (None, "image"): "image"},
    )
    # A fixed seed: every build is the same model (same fingerprint), so the page cache and an
    # index built with the untrained built-in stay valid across runs.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(PROJECTION_SEED)
        projection = Dense(
            text.get_embedding_dimension(),
            PROJECTION_DIM,
            bias=False,
            activation_function=torch.nn.Identity(),
            module_input_name="token_embeddings",
        )
    return MultiVectorEncoder(
        modules=[
            router,
            projection,
            MultiVectorMask(skiplist_words=list(string.punctuation)),
            Normalize(module_input_name="token_embeddings"),
        ],
        device=device,
        similarity_fn_name="maxsim",
    )
