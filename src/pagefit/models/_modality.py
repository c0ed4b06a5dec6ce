"""What a model can embed: checks with messages a user can act on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pagefit.errors import PagefitError
from pagefit.models._loading import model_name

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["can_mix_modalities", "require_modality"]

_PLURAL = {"text": "text", "image": "images", "video": "videos", "audio": "audio", "message": "chat messages"}


def require_modality(model: SentenceTransformer, modality: str, *, role: str) -> None:
    """Raise a `PagefitError` unless ``model`` can embed ``modality`` (e.g. page images).

    A text model asked for pages gets the text route here (`pagefit.models.page_text.attach_text_route`):
    it reads each page's corpus text, so every stage that checks its page encoder accepts it.

    Args:
        model: the loaded model.
        modality: ``"image"`` for pages, ``"text"`` for queries.
        role: what the model is used for, e.g. ``"the page encoder of eval"``.
    """
    if model.supports(modality):
        return
    if modality == "image":
        from pagefit.models.page_text import attach_text_route

        if attach_text_route(model):  # a text model reads pages through their text
            return
    supported = ", ".join(str(m) for m in model.modalities)
    hint = (
        " Use a model that reads page images or text (a text model reads each page's corpus text), e.g. the "
        "built-in 'ocr-minilm', any Sentence Transformers text model, or a vision-language embedding model."
        if modality == "image"
        else ""
    )
    raise PagefitError(
        f"model {model_name(model)} cannot embed {_PLURAL.get(modality, modality)} (it supports: {supported}), "
        f"so it cannot serve as {role}.{hint}"
    )


def can_mix_modalities(model: SentenceTransformer) -> bool:
    """Whether one ``encode`` call may mix texts and images.

    Only models that read chat-style messages (e.g. Qwen3-VL) can; CLIP, SigLIP and Router models such
    as ``ocr-minilm`` need one call per modality.
    """
    return "message" in model.modalities
