"""The text route: any dense Sentence Transformers text model reads pages through their text.

A text-only model (bge, e5, gte, nomic-embed-text, MiniLM, mpnet, the user's own finetune) has no image
input. pagefit gives it one without changing the model: `attach_text_route` wraps the loaded model's
``preprocess`` so that a *page* input (a page image file path, or a PIL image) is replaced by that page's
text before tokenization; text inputs (queries, passage windows) pass through unchanged. Nothing is added
to the model's modules, so what `pagefit train` saves is the plain Sentence Transformers folder it
started from, with new weights: ``SentenceTransformer(folder)`` loads it without pagefit.

Where the text comes from: the corpus. A page image lives in ``CORPUS/images/...``; its text is the
corpus ``text`` column (text layer or OCR, written by ``ingest``) of the row with that image, looked up by
the corpus ``image_hash`` (or by the image path), after `pagefit.pagetext.clean_page_text`: the text
BM25 and the query generator read. Only a page outside any corpus (a bare PIL image or file) falls back
to the machine-wide OCR text cache (``pagefit.ocr.page_text``), OCR running on a miss.

Prompts: the model's own prompts are honoured (``encode_query`` / ``encode_document`` pick its
``query`` and ``document``/``passage``/``corpus`` prompts, e.g. e5's ``query: `` / ``passage: ``).
Inside training the Sentence Transformers collator passes no prompt: a page column then gets the
document prompt and a text column (the queries) the query prompt, so training reads exactly what
inference reads. ``--query-prompt`` / ``--document-prompt`` overwrite the model's prompts (`set_prompts`),
so a saved model keeps them.

Long pages are cut at the model's own ``max_seq_length``; passage scoring (`pagefit.passages`) adds the
best window of the page's text, as for ``ocr-minilm``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pagefit.errors import PagefitError
from pagefit.pagetext import TEXT_VERSION, clean_page_text

if TYPE_CHECKING:
    from PIL import Image
    from sentence_transformers import SentenceTransformer

__all__ = [
    "DOCUMENT_PROMPT_NAMES",
    "TEXT_PREFIX",
    "PageTextRoute",
    "announce_routes",
    "attach_text_route",
    "page_text_route",
    "read_page_texts",
    "set_prompts",
    "split_route_prefix",
]

logger = logging.getLogger(__name__)
route_logger = logging.getLogger("pagefit.models.route")
"""Says which route each loaded model takes (INFO); `announce_routes` shows it on the console."""

TEXT_PREFIX = "text:"
"""``text:NAME`` forces the text route for a model that could also read images."""
DOCUMENT_PROMPT_NAMES = ("document", "passage", "corpus")  # the order `encode_document` looks them up in
_ROUTE_ATTR = "_pagefit_text_route"
# The model families whose text models take the route (dense, learned-sparse, multi-vector): all read text
# through `preprocess`, which the route wraps.
_ROUTED_CLASSES = ("SentenceTransformer", "SparseEncoder", "MultiVectorEncoder")
_CORPUS_MARKERS = ("manifest.json", "pages")  # what `pagefit ingest` writes into a corpus folder
_MAX_CORPUS_DEPTH = 6  # folders between a page image and its corpus root (images/<source dirs>/<file>)


def split_route_prefix(name: str) -> tuple[str, bool]:
    """``("NAME", True)`` for ``text:NAME``, else ``(name, False)``."""
    if name.startswith(TEXT_PREFIX):
        rest = name[len(TEXT_PREFIX) :]
        if not rest:
            raise PagefitError("`text:` needs a model after it, e.g. text:./my-model")
        return rest, True
    return name, False


# ------------------------------------------------------------------------------------------- page text


class _CorpusTexts:
    """Page texts of the corpora page images belong to, loaded once per corpus folder and process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_root: dict[Path, tuple[float, dict[str, str], dict[str, str]]] = {}
        self._root_of: dict[Path, Path | None] = {}

    def root(self, image_path: str) -> Path | None:
        folder = Path(image_path).resolve().parent
        if folder in self._root_of:
            return self._root_of[folder]
        found = None
        for candidate in [folder, *folder.parents][:_MAX_CORPUS_DEPTH]:
            if all((candidate / marker).exists() for marker in _CORPUS_MARKERS):
                found = candidate
                break
        self._root_of[folder] = found
        return found

    def tables(self, root: Path) -> tuple[dict[str, str], dict[str, str]]:
        """(text by image hash, text by absolute image path) of one corpus, reloaded when it changes."""
        stamp = (root / "manifest.json").stat().st_mtime
        with self._lock:
            cached = self._by_root.get(root)
            if cached is not None and cached[0] == stamp:
                return cached[1], cached[2]
            from pagefit.corpus import load_corpus

            pages = load_corpus(root)
            columns = [c for c in ("image", "image_hash", "text") if c in pages.column_names]
            cols = pages.select_columns(columns).to_dict()
            texts = [t or "" for t in cols.get("text", [""] * len(pages))]
            by_hash = {h: t for h, t in zip(cols.get("image_hash", []), texts, strict=False) if h}
            by_path = {str((root / p).resolve()): t for p, t in zip(cols["image"], texts, strict=True)}
            self._by_root[root] = (stamp, by_hash, by_path)
            return by_hash, by_path

    def text(self, image: Any, key: str | None) -> str | None:
        if not isinstance(image, (str, os.PathLike)):
            return None
        root = self.root(os.fspath(image))
        if root is None:
            return None
        by_hash, by_path = self.tables(root)
        if key and key in by_hash:
            return by_hash[key]
        return by_path.get(str(Path(image).resolve()))


_CORPORA = _CorpusTexts()


def read_page_texts(
    images: Sequence[Image.Image | str | os.PathLike[str]],
    keys: Sequence[str | None] | None = None,
    *,
    clean: bool = True,
) -> list[str]:
    """The text of each page: the corpus ``text`` of its image (by ``image_hash`` key or path), or, for a
    page outside any corpus, the OCR text cache (OCR on a miss).

    Args:
        images: page image file paths or PIL images.
        keys: the pages' content hashes (the corpus ``image_hash`` column), when the caller has them.
        clean: apply `pagefit.pagetext.clean_page_text` (the text every text reader sees).
    """
    keys = list(keys) if keys is not None else [None] * len(images)
    if len(keys) != len(images):
        raise ValueError(f"got {len(keys)} keys for {len(images)} pages")
    texts: list[str] = []
    cache = None
    for image, key in zip(images, keys, strict=True):
        text = _CORPORA.text(image, key)
        if text is None:
            from pagefit.models.ocr_text import load_page_image
            from pagefit.ocr import PageTextCache, page_text

            cache = cache or PageTextCache()
            hit = cache.get(key) if key else None
            text = hit[0] if hit is not None else page_text(load_page_image(image), cache=cache)
        texts.append(text)
    return [clean_page_text(text) for text in texts] if clean else texts


# ------------------------------------------------------------------------------------------- the route


def _is_page(value: Any) -> bool:
    from PIL import Image

    if isinstance(value, Image.Image):
        return True
    if isinstance(value, (str, os.PathLike)):
        from sentence_transformers.base.modality import is_image_url_or_path

        return is_image_url_or_path(os.fspath(value)) and os.path.isfile(value)
    return False


def _prompt(model: SentenceTransformer, names: Sequence[str]) -> str | None:
    prompts = getattr(model, "prompts", None) or {}
    return next((prompts[name] for name in names if prompts.get(name)), None)


class PageTextRoute:
    """Reads page inputs of a text model as their text (see the module docs); one per loaded model."""

    text_cleaning = TEXT_VERSION

    def __init__(self, model: SentenceTransformer) -> None:
        self.model = model

    @property
    def query_prompt(self) -> str | None:
        return _prompt(self.model, ("query",))

    @property
    def document_prompt(self) -> str | None:
        return _prompt(self.model, DOCUMENT_PROMPT_NAMES)

    @property
    def max_seq_length(self) -> int | None:
        return getattr(self.model, "max_seq_length", None)

    def page_texts(self, images: Sequence[Any], keys: Sequence[str | None] | None = None) -> list[str]:
        """The cleaned text of each page (see `read_page_texts`)."""
        return read_page_texts(images, keys)

    def preprocess(self, pages: Sequence[Any], prompt: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Tokenized page texts, as the model reads a page (the document prompt unless `prompt` is given)."""
        texts = self.page_texts(list(pages))
        prompt = self.document_prompt if prompt is None else prompt
        return type(self.model).preprocess(self.model, texts, prompt=prompt, **kwargs)

    def __call__(self, inputs: Sequence[Any], prompt: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """The model's ``preprocess``: pages read as text, texts unchanged (prompts as the module says)."""
        if inputs and any(_is_page(value) for value in inputs):
            if not all(_is_page(value) for value in inputs):
                raise PagefitError("one batch mixes page images and texts; encode them separately")
            return self.preprocess(inputs, prompt=prompt, **kwargs)
        if prompt is None and kwargs.get("task") is None:  # the trainer's collator: texts are queries
            prompt = self.query_prompt
        return type(self.model).preprocess(self.model, inputs, prompt=prompt, **kwargs)


def page_text_route(model: Any) -> PageTextRoute | None:
    """The text route `attach_text_route` gave this model, or None (it reads page images itself)."""
    return getattr(model, _ROUTE_ATTR, None)


def attach_text_route(model: SentenceTransformer, *, forced: bool = False) -> bool:
    """Let a text model read pages through their text, when it cannot read images itself (or `forced`).

    Returns:
        whether the model now takes the text route.

    Raises:
        PagefitError: the model has neither text nor image input, or `forced` for a model without text input.
    """
    from pagefit.models._loading import model_name

    if page_text_route(model) is not None:
        return True
    reads_text, reads_images = model.supports("text"), model.supports("image")
    if not reads_text and not reads_images:
        raise PagefitError(
            f"model {model_name(model)} reads neither text nor images (it supports: "
            f"{', '.join(map(str, model.modalities)) or 'nothing'}): pagefit cannot embed pages or queries with it"
        )
    if not reads_text:
        if forced:
            raise PagefitError(f"model {model_name(model)} has no text input: `text:` cannot apply to it")
        return False
    if reads_images and not forced:
        return False
    if type(model).__name__ not in _ROUTED_CLASSES and not forced:
        return False  # another model family (e.g. pagefit's own OCR modules) keeps its own route
    _fill_document_prompt(model)
    route = PageTextRoute(model)
    model.preprocess = route  # instance attribute: the collator and encode() both call model.preprocess
    setattr(model, _ROUTE_ATTR, route)
    route_logger.info(
        "model %s reads pages through their text (the corpus text column; query prompt %r, document prompt %r)",
        model_name(model),
        route.query_prompt or "",
        route.document_prompt or "",
    )
    return True


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes (a test runner swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        import sys

        self.stream = sys.stderr
        super().emit(record)


def _fill_document_prompt(model: SentenceTransformer) -> None:
    """Sentence Transformers adds an empty ``document`` prompt to every model, which `encode_document` then
    prefers to a model's own ``passage``/``corpus`` prompt (e5's ``passage: ``): make ``document`` that prompt,
    so pages and their passage windows read it, in pagefit and in the saved model alike."""
    prompts = dict(getattr(model, "prompts", None) or {})
    if not prompts.get("document"):
        own = _prompt(model, DOCUMENT_PROMPT_NAMES[1:])
        if own:
            prompts["document"] = own
            model.prompts = prompts


def announce_routes() -> None:
    """Print the route each model takes on stderr (a CLI command calls this; idempotent)."""
    if any(getattr(h, "_pagefit_routes", False) for h in route_logger.handlers):
        return
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler._pagefit_routes = True  # type: ignore[attr-defined]
    route_logger.addHandler(handler)
    route_logger.setLevel(logging.INFO)
    route_logger.propagate = False


def set_prompts(model: SentenceTransformer, *, query: str | None = None, document: str | None = None) -> None:
    """Overwrite the model's query / document prompts (a saved model keeps them)."""
    prompts = dict(getattr(model, "prompts", None) or {})
    if query is not None:
        prompts["query"] = query
    if document is not None:
        for name in DOCUMENT_PROMPT_NAMES:  # `encode_document` takes the first it finds: keep one
            prompts.pop(name, None)
        prompts["document"] = document
    model.prompts = prompts
