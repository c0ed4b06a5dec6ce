"""`report.html` in a pairs folder: every page's thumbnail next to its queries, counts per kind.

Written by `pagefit pairs` so a user can eyeball the training data before training on it: which pages
got queries, of which kinds, in which split, and which pages got none (with the generator's reason).
The file is self-contained (thumbnails are embedded as small JPEG data URIs), so it survives moving the
pairs folder away from its corpus.
"""

from __future__ import annotations

import base64
import io
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pagefit._io import atomic_write_text

if TYPE_CHECKING:
    from pagefit.queries import Query

__all__ = ["REPORT", "write_pairs_report"]

logger = logging.getLogger(__name__)

REPORT = "report.html"
THUMB_WIDTH = 180
MAX_THUMBNAILS = 2000  # beyond this many pages the report lists queries without thumbnails

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
table.counts{border-collapse:collapse;margin-bottom:1.5rem}
table.counts td,table.counts th{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}
table.counts th:first-child,table.counts td:first-child{text-align:left}
.page{display:flex;gap:1rem;border-top:1px solid #ddd;padding:.75rem 0}
.page img{width:180px;border:1px solid #bbb;flex:none}
.page h3{margin:.1rem 0 .4rem;font-size:1rem}
.page ul{margin:0;padding-left:1.1rem}
.kind{display:inline-block;min-width:5.5rem;color:#555;font-size:.85em}
.split-eval{color:#8a4b00}.none{color:#a00}
"""


def _thumbnail(path: Path) -> str | None:
    """A JPEG data URI of the page image, THUMB_WIDTH pixels wide; None if it cannot be read."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.draft("RGB", (THUMB_WIDTH * 2, THUMB_WIDTH * 4))
            image = image.convert("RGB")
            image.thumbnail((THUMB_WIDTH, THUMB_WIDTH * 3))
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=70)
    except (OSError, ValueError) as e:
        logger.warning("pairs report: no thumbnail for %s (%s)", path, e)
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _counts_table(rows: dict[str, Counter[str]]) -> str:
    kinds = sorted({k for c in rows.values() for k in c})
    head = "".join(f"<th>{escape(k)}</th>" for k in kinds)
    body = "".join(
        f"<tr><td>{escape(split)}</td>"
        + "".join(f"<td>{counts.get(k, 0)}</td>" for k in kinds)
        + f"<td><b>{sum(counts.values())}</b></td></tr>"
        for split, counts in rows.items()
    )
    return f'<table class="counts"><tr><th>split</th>{head}<th>all</th></tr>{body}</table>'


def write_pairs_report(
    folder: str | Path,
    corpus: str | Path,
    pages: Any,
    train: Sequence[Query],
    eval_: Sequence[Query],
    *,
    filtered: dict[str, int] | None = None,
    failures: Sequence[dict[str, Any]] = (),
    validation: Sequence[Query] = (),
) -> Path:
    """Write `folder/report.html` for the pairs of `corpus`.

    Args:
        folder: the pairs folder (or its temporary twin before publishing).
        corpus: the corpus folder the pairs were made from (page images are read from it).
        pages: the corpus pages (`datasets.Dataset` or mapping of columns with `page_id`, `doc_id`, `image`).
        train: the train split's queries.
        eval_: the eval split's queries.
        filtered: queries dropped per filter reason.
        failures: `{"page_id", "error"}` per page a generator wrote no query for.
        validation: the validation split's queries (carved from train documents).

    Returns:
        The report's path.
    """
    folder, corpus = Path(folder), Path(corpus)
    by_page: dict[str, list[tuple[str, Query]]] = defaultdict(list)
    counts: dict[str, Counter[str]] = {"train": Counter(), "validation": Counter(), "eval": Counter()}
    for split, queries in (("train", train), ("validation", validation), ("eval", eval_)):
        for q in queries:
            kind = q.kind if getattr(q, "origin", "user") != "user" else "user"
            counts[split][kind or "user"] += 1
            for page_id in q.page_ids:
                by_page[page_id].append((split, q))
    counts["all"] = counts["train"] + counts["validation"] + counts["eval"]
    if not validation:
        del counts["validation"]
    why = {f["page_id"]: f.get("error", "") for f in failures}
    ids, docs, images = list(pages["page_id"]), list(pages["doc_id"]), list(pages["image"])
    with_thumbs = len(ids) <= MAX_THUMBNAILS
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>pagefit pairs</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>pagefit pairs: {len(train) + len(validation) + len(eval_)} queries on {len(by_page)} of {len(ids)} "
        "pages</h1>",
        f"<p>corpus: {escape(str(corpus))}</p>",
        _counts_table(counts),
    ]
    if filtered:
        dropped = ", ".join(f"{escape(k)}: {v}" for k, v in sorted(filtered.items()))
        parts.append(f"<p>dropped by the filters: {dropped}</p>")
    for page_id, doc_id, image in zip(ids, docs, images, strict=True):
        thumb = _thumbnail(corpus / image) if with_thumbs else None
        img = f'<img src="{thumb}" alt="{escape(page_id)}">' if thumb else ""
        items = "".join(
            f'<li class="split-{split}"><span class="kind">{escape(q.kind or "user")}</span>'
            f"{escape(q.query)}{' <i>(eval)</i>' if split == 'eval' else ''}</li>"
            for split, q in by_page.get(page_id, [])
        )
        if not items:
            reason = why.get(page_id, "no query")
            items = f'<li class="none">no query: {escape(reason)}</li>'
        parts.append(
            f'<div class="page" id="{escape(page_id)}">{img}<div><h3>{escape(page_id)}'
            f" <small>({escape(doc_id)})</small></h3><ul>{items}</ul></div></div>"
        )
    parts.append("</body></html>")
    path = folder / REPORT
    atomic_write_text(path, "\n".join(parts))
    return path
