"""The corpus folder written by `pagefit ingest` and read by every later stage.

Layout (see docs/formats.md)::

    CORPUS/
      pages/          a `datasets` dataset, one row per page
      images/         the page images (paths in the `image` column are relative to CORPUS)
      manifest.json   pagefit version, settings, sources with content hashes, counts
      rejects.jsonl   {"source", "reason"} per file that could not be ingested
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pagefit.errors import PagefitError

if TYPE_CHECKING:
    import datasets

__all__ = [
    "CORPUS_COLUMNS",
    "Page",
    "corpus_image_paths",
    "corpus_pages",
    "load_corpus",
    "load_manifest",
    "page_image_path",
]

PAGES_DIR = "pages"
IMAGES_DIR = "images"
MANIFEST = "manifest.json"
REJECTS = "rejects.jsonl"

CORPUS_COLUMNS = [
    "page_id",
    "doc_id",
    "source",
    "page_number",
    "image",
    "width",
    "height",
    "text",
    "text_source",
    "image_hash",
]


def load_corpus(path: str | os.PathLike[str]) -> datasets.Dataset:
    """Load the pages of a corpus folder written by `pagefit ingest`.

    Args:
        path: the corpus folder (`--out` of `pagefit ingest`).

    Returns:
        A `datasets.Dataset` with the columns of `CORPUS_COLUMNS`; `image` holds paths relative to
        `path` (see `corpus_image_paths`).
    """
    import datasets

    root = Path(path)
    pages = root / PAGES_DIR
    if not pages.is_dir():
        if (root / MANIFEST).exists():
            raise PagefitError(
                f"{root} is a corpus with no pages yet (did every document get rejected? see "
                f"{root / REJECTS}): fix or replace those files and run `pagefit ingest DOCS --out {root}` again"
            )
        from pagefit._kinds import wrong_folder

        raise wrong_folder(root, "corpus")
    return datasets.load_from_disk(str(pages))


def load_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    with open(Path(path) / MANIFEST, encoding="utf-8") as f:
        return json.load(f)


def page_image_path(corpus: str | os.PathLike[str], image: str) -> str:
    """Absolute path of a page image given its `image` column value."""
    return str((Path(corpus) / image).resolve())


def corpus_image_paths(corpus: str | os.PathLike[str], pages: datasets.Dataset | None = None) -> list[str]:
    """Absolute paths of all page images of a corpus, in row order."""
    pages = load_corpus(corpus) if pages is None else pages
    root = Path(corpus).resolve()
    return [str(root / image) for image in pages["image"]]


@dataclass(frozen=True)
class Page:
    """One corpus page as the stages see it (generators, mining, reranker data)."""

    page_id: str
    doc_id: str
    page_number: int
    image_path: str  # absolute
    image_hash: str
    text: str = ""
    image: str = ""  # as stored in the corpus: relative to the corpus folder


def corpus_pages(corpus: str | os.PathLike[str], pages: datasets.Dataset | None = None) -> list[Page]:
    """The corpus rows as `Page`s, in row order (absolute image paths)."""
    pages = load_corpus(corpus) if pages is None else pages
    paths = corpus_image_paths(corpus, pages)
    columns = ["page_id", "doc_id", "page_number", "image_hash", "text", "image"]
    cols = pages.select_columns([c for c in columns if c in pages.column_names]).to_dict()
    n = len(paths)
    return [
        Page(str(pid), str(doc), int(num), path, key or "", text or "", image)
        for pid, doc, num, key, text, image, path in zip(
            cols["page_id"],
            cols["doc_id"],
            cols.get("page_number", [1] * n),
            cols.get("image_hash", [""] * n),
            cols.get("text", [""] * n),
            cols["image"],
            paths,
            strict=True,
        )
    ]
