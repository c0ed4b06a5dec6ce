"""`pagefit ingest`: PDFs and images -> a corpus folder of page images + text (see corpus.py).

Resumable by construction: every finished document leaves a small part file
(`CORPUS/.pagefit/parts/`) recording its content hash, settings and page records; the page dataset
is rebuilt from the parts at the end of each run. A run killed anywhere re-does at most the
documents that were in flight; unchanged documents are skipped on the next run.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from pagefit import __version__
from pagefit._io import atomic_write_bytes, atomic_write_json, atomic_write_text, image_key, sha256_file
from pagefit.corpus import IMAGES_DIR, MANIFEST, PAGES_DIR, REJECTS
from pagefit.errors import PagefitError

if TYPE_CHECKING:
    from pagefit._render import RenderedPage
    from pagefit.ray_engine import Engine

__all__ = ["IngestConfig", "IngestResult", "OcrMode", "ingest"]

logger = logging.getLogger(__name__)

OcrMode = Literal["auto", "always", "never"]
ImageFormat = Literal["png", "tiff"]
# Lossless either way: the same pixels, so the same image_key and the same cached text and embeddings.
_SAVE_ARGS: dict[str, dict[str, Any]] = {
    "png": {"format": "PNG", "compress_level": 3},
    "tiff": {"format": "TIFF", "compression": "packbits"},
}
STATE_DIR = ".pagefit"
PARTS_DIR = f"{STATE_DIR}/parts"


class IngestConfig(BaseModel):
    """Settings that decide what a page looks like; changing one re-renders every document."""

    dpi: int = Field(120, ge=36, le=600, description="render resolution for PDF pages")
    max_pixels: int = Field(1800 * 1800, ge=64 * 64, description="bound on width*height of a stored page")
    ocr: OcrMode = Field("auto", description="auto: OCR only pages without a usable text layer")
    image_format: ImageFormat = Field(
        "png",
        description="stored page images: png (small, shown by browsers) or tiff (PackBits, ~15x faster)",
    )

    def key(self) -> str:
        # png, the original format, stays out of the key: corpora made before the option keep their key
        values = self.model_dump(exclude={"image_format"} if self.image_format == "png" else set())
        return hashlib.sha1(json.dumps(values, separators=(",", ":")).encode()).hexdigest()[:16]


@dataclass
class IngestResult:
    corpus: Path
    documents: int
    pages: int
    skipped: int  # documents unchanged since an earlier run
    rejects: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class _Source:
    path: Path  # absolute
    rel: str  # relative to its ingest root, '/'-separated
    doc_id: str
    sha256: str = ""


# ----------------------------------------------------------------------------------------------
# Finding sources
# ----------------------------------------------------------------------------------------------


def _walk(root: Path, skip: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and (here / d).resolve() != skip)
        for name in sorted(filenames):
            if not name.startswith("."):
                yield here / name


def _doc_id(rel: str) -> str:
    from pagefit._render import IMAGE_SUFFIXES, PDF_SUFFIXES

    stem, dot, suffix = rel.rpartition(".")
    return stem if dot and f".{suffix.lower()}" in PDF_SUFFIXES | IMAGE_SUFFIXES and stem else rel


def _check_out(out: Path) -> None:
    """Refuse an --out that holds something other than a corpus: ingest would write into it."""
    if out.exists() and not out.is_dir():
        raise PagefitError(f"--out {out} is a file: give a folder for the corpus")
    if (
        out.is_dir()
        and not (out / MANIFEST).is_file()
        and not (out / STATE_DIR).is_dir()
        and any(out.iterdir())
    ):
        from pagefit._kinds import detect_kind

        kind = detect_kind(out)
        what = f"a {kind} folder" if kind not in (None, "documents") else "files that are not a corpus"
        raise PagefitError(f"--out {out} already holds {what}: give a new or empty folder for the corpus")


def _collect_sources(sources: Iterable[str | os.PathLike[str]], out: Path) -> list[_Source]:
    found: dict[str, _Source] = {}
    for src in sources:
        src_path = Path(src).expanduser()
        if not src_path.exists():
            raise PagefitError(f"source {src_path} does not exist")
        is_corpus = src_path.is_dir() and (src_path / MANIFEST).is_file() and (src_path / PAGES_DIR).is_dir()
        if is_corpus and src_path.resolve() != out.resolve():
            raise PagefitError(
                f"source {src_path} is already a corpus (made by `pagefit ingest`): pass it to the "
                "next stage (`pagefit pairs`, `pagefit eval --corpus`), or ingest the original documents"
            )
        if src_path.is_dir():
            root, files = src_path, _walk(src_path, out.resolve())
        else:
            root, files = src_path.parent, iter([src_path])
        for file in files:
            rel = file.relative_to(root).as_posix()
            found.setdefault(rel, _Source(path=file.resolve(), rel=rel, doc_id=_doc_id(rel)))
    return sorted(found.values(), key=lambda s: s.rel)


# ----------------------------------------------------------------------------------------------
# One document (runs in a worker process)
# ----------------------------------------------------------------------------------------------


def _usable_text_layer(text: str) -> bool:
    """A text layer is usable when it has real words, not just page furniture or broken glyphs."""
    stripped = "".join(text.split())
    if not stripped:
        return False
    normal = sum(ch.isalnum() or ch in ".,;:!?%$€£()[]'\"-/&+=*#@" for ch in stripped)
    words = [w for w in text.split() if sum(c.isalpha() for c in w) >= 2]
    return len(words) >= 3 and normal / len(stripped) >= 0.85


def _page_image_rel(doc_id: str, page_number: int, image_format: ImageFormat = "png") -> str:
    return f"{IMAGES_DIR}/{doc_id}/p{page_number}.{image_format}"


def _remove_page_images(out_dir: Path, doc_id: str) -> None:
    """Remove a document's page images (not the folders of documents nested below it)."""
    folder = out_dir / IMAGES_DIR / doc_id
    for file in folder.glob("p*.*"):
        if file.is_file() and file.stem[1:].isdigit() and file.suffix in {".png", ".tiff"}:
            file.unlink()
    for file in folder.glob(".p*.tmp"):  # a page write cut short by a kill (`atomic_write_bytes` names)
        name = file.name[1:].split(".")
        if len(name) == 4 and name[0][1:].isdigit() and name[1] in {"png", "tiff"} and file.is_file():
            file.unlink()


def _page_id(doc_id: str, page_number: int, n_pages: int, is_pdf: bool) -> str:
    return f"{doc_id}#p{page_number}" if is_pdf or n_pages > 1 else doc_id


def _ingest_document(
    path: str, rel: str, doc_id: str, out: str, config: dict[str, Any], password: str | None
) -> dict[str, Any]:
    """Render, store and read every page of one document. Returns its part record."""
    from pagefit._render import PDF_SUFFIXES, DocumentError, iter_pages
    from pagefit.ocr import PageTextCache

    cfg = IngestConfig(**config)
    out_dir = Path(out)
    _remove_page_images(out_dir, doc_id)  # stale pages of an older version of this document
    is_pdf = Path(rel).suffix.lower() in PDF_SUFFIXES
    cache = PageTextCache()
    pages: list[dict[str, Any]] = []
    page_errors: list[dict[str, Any]] = []
    n_pages = 0
    # One page at a time: a 2,000-page PDF holds one page image in memory, not 2,000.
    stream = _store_pages(
        iter_pages(path, dpi=cfg.dpi, max_pixels=cfg.max_pixels, password=password),
        doc_id,
        out_dir,
        cfg.image_format,
    )
    try:
        for number, image_rel, image, pdf_text, error in stream:
            n_pages += 1
            if error is not None:
                page_errors.append({"source": rel, "page": number, "reason": error})
                continue
            pages.append(_page_record(image, image_rel, number, pdf_text, doc_id, rel, cfg.ocr, cache))
    except DocumentError as e:
        _remove_page_images(out_dir, doc_id)  # the pages stored before the error
        return {"status": "rejected", "reason": str(e)}
    for page in pages:
        page["page_id"] = _page_id(doc_id, page["page_number"], n_pages, is_pdf)
    if not pages:
        reason = page_errors[0]["reason"] if page_errors else "no pages"
        return {"status": "rejected", "reason": f"no page could be ingested: {reason}"}
    return {"status": "ok", "pages": pages, "page_errors": page_errors}


def _page_record(image, image_rel, number, pdf_text, doc_id, rel, ocr, cache) -> dict[str, Any]:
    from pagefit.ocr import page_text

    key = image_key(image)
    text, text_source = _page_text(image, key, pdf_text, ocr, cache, page_text)
    return {
        "page_id": "",  # set once the document's page count is known
        "doc_id": doc_id,
        "source": rel,
        "page_number": number,
        "image": image_rel,
        "width": image.width,
        "height": image.height,
        "text": text,
        "text_source": text_source,
        "image_hash": key,
    }


def _store_pages(
    pages: Iterable[RenderedPage], doc_id: str, out_dir: Path, image_format: ImageFormat = "png"
):
    """Write each page image atomically; yield (number, image path, image, pdf text, error)."""
    for page in pages:
        if page.image is None:
            yield page.page_number, None, None, None, page.error
            continue
        image_rel = _page_image_rel(doc_id, page.page_number, image_format)
        buffer = io.BytesIO()
        page.image.save(buffer, **_SAVE_ARGS[image_format])
        atomic_write_bytes(out_dir / image_rel, buffer.getvalue())
        yield page.page_number, image_rel, page.image, page.pdf_text, None


def _page_text(image, key, pdf_text, ocr: OcrMode, cache, page_text) -> tuple[str, str]:
    layer = (pdf_text or "").strip()
    if layer and ocr != "always" and (ocr == "never" or _usable_text_layer(layer)):
        cache.put(key, layer, "pdf")  # the ocr-minilm model reads the page through this cache
        return layer, "pdf"
    if ocr == "never":
        return "", "none"
    hit = cache.get(key)
    if ocr == "always" and hit is not None and hit[1] != "ocr":
        # An earlier ingest cached this page's text layer: `always` means the page is really OCRed.
        from pagefit.ocr import ocr_image

        text = ocr_image(image)
        cache.put(key, text, "ocr")
        return text, "ocr"
    text = page_text(image, key=key, cache=cache)
    return text, "ocr"


# ----------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------


def _part_path(out: Path, rel: str) -> Path:
    return out / PARTS_DIR / f"{hashlib.sha1(rel.encode()).hexdigest()}.json"


def _load_parts(out: Path) -> dict[str, dict[str, Any]]:
    parts: dict[str, dict[str, Any]] = {}
    for file in sorted((out / PARTS_DIR).glob("*.json")):
        try:
            part = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError:  # cannot happen with atomic writes, but never trust a leftover
            logger.warning("ignoring unreadable state file %s", file)
            continue
        parts[part["source"]] = part
    return parts


def _plan(
    sources: list[_Source], parts: dict[str, dict[str, Any]], cfg_key: str
) -> tuple[list[_Source], list[dict], int]:
    """Sources to (re)ingest, immediate rejects (unreadable, duplicate page ids), unchanged count."""
    todo: list[_Source] = []
    skipped = 0
    rejects: list[dict[str, Any]] = []
    owner = {p["doc_id"]: rel for rel, p in parts.items() if p["status"] == "ok"}
    for src in sources:
        try:
            src.sha256 = sha256_file(src.path)
        except OSError as e:
            rejects.append({"source": src.rel, "reason": f"cannot read file ({e.strerror or e})"})
            continue
        other = owner.setdefault(src.doc_id, src.rel)
        if other != src.rel:
            rejects.append(
                {
                    "source": src.rel,
                    "reason": f"its page id '{src.doc_id}' is already taken by "
                    f"{other}; rename one of the two files",
                }
            )
            continue
        part = parts.get(src.rel)
        if part and part["status"] == "ok" and part["sha256"] == src.sha256 and part["config"] == cfg_key:
            skipped += 1
            continue
        todo.append(src)
    return todo, rejects, skipped


def _document_part(
    rel: str, doc_id: str, sha256: str, cfg_key: str, result: dict[str, Any]
) -> dict[str, Any]:
    """A document's part file: what it was (source, hash, settings) and what ingest made of it."""
    return {"source": rel, "doc_id": doc_id, "sha256": sha256, "config": cfg_key, **result}


def _ingest_and_record(
    out: str,
    config: dict[str, Any],
    config_key: str,
    password: str | None,
    path: str,
    rel: str,
    doc_id: str,
    sha256: str,
) -> dict[str, Any]:
    """One document's whole work on a Ray worker (`--engine ray`): ingest it and write its part file (the
    resume state) there; a document that raises is rejected, as the process pool rejects it."""
    try:
        result = _ingest_document(path, rel, doc_id, out, config, password)
    except Exception as e:  # as the process pool: one document is rejected, the others go on
        result = {"status": "rejected", "reason": f"ingest crashed on this file ({e!r})"}
    part = _document_part(rel, doc_id, sha256, config_key, result)
    atomic_write_json(_part_path(Path(out), rel), part)
    return part


def _run_tasks(
    todo: list[_Source], out: Path, cfg: IngestConfig, password: str | None, workers: int, on_done
) -> None:
    args = [(str(s.path), s.rel, s.doc_id, str(out), cfg.model_dump(), password) for s in todo]
    if workers <= 1 or len(todo) <= 1:
        for src, a in zip(todo, args, strict=True):
            on_done(src, _ingest_document(*a))
        return
    import multiprocessing

    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending: dict[Future, _Source] = {}
        queue = list(zip(todo, args, strict=True))
        try:
            while queue or pending:
                while queue and len(pending) < 2 * workers:  # bounded: results are kept small anyway
                    src, a = queue.pop(0)
                    pending[pool.submit(_ingest_document, *a)] = src
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    src = pending.pop(future)
                    try:
                        result = future.result()
                    except Exception as e:  # a crashed worker (e.g. pdfium abort) rejects one document
                        result = {"status": "rejected", "reason": f"ingest crashed on this file ({e!r})"}
                    on_done(src, result)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _write_pages(out: Path, parts: dict[str, dict[str, Any]]) -> int:
    import datasets

    records = [page for _, part in sorted(parts.items()) if part["status"] == "ok" for page in part["pages"]]
    features = datasets.Features(
        {
            "page_id": datasets.Value("string"),
            "doc_id": datasets.Value("string"),
            "source": datasets.Value("string"),
            "page_number": datasets.Value("int32"),
            "image": datasets.Value("string"),
            "width": datasets.Value("int32"),
            "height": datasets.Value("int32"),
            "text": datasets.Value("string"),
            "text_source": datasets.Value("string"),
            "image_hash": datasets.Value("string"),
        }
    )
    if not records:
        shutil.rmtree(out / PAGES_DIR, ignore_errors=True)
        return 0
    tmp, old = out / f".{PAGES_DIR}.tmp", out / f".{PAGES_DIR}.old"
    shutil.rmtree(tmp, ignore_errors=True)
    quiet = not datasets.utils.are_progress_bars_disabled()
    if quiet:  # our own bar already said what happens; a second "Saving the dataset" bar is noise
        datasets.utils.disable_progress_bars()
    try:
        datasets.Dataset.from_list(records, features=features).save_to_disk(str(tmp))
    finally:
        if quiet:
            datasets.utils.enable_progress_bars()
    shutil.rmtree(old, ignore_errors=True)
    if (out / PAGES_DIR).exists():
        os.replace(out / PAGES_DIR, old)
    os.replace(tmp, out / PAGES_DIR)
    shutil.rmtree(old, ignore_errors=True)
    return len(records)


def _write_manifest(
    out: Path, cfg: IngestConfig, parts: dict[str, dict[str, Any]], rejects: list[dict]
) -> None:
    ok = [p for p in parts.values() if p["status"] == "ok"]
    sources_info = [
        {
            "source": rel,
            "sha256": p["sha256"],
            "status": p["status"],
            "pages": len(p.get("pages", [])),
            **({"reason": p["reason"]} if "reason" in p else {}),
        }
        for rel, p in sorted(parts.items())
    ]
    text_sources: dict[str, int] = {}
    for part in ok:
        for page in part["pages"]:
            text_sources[page["text_source"]] = text_sources.get(page["text_source"], 0) + 1
    atomic_write_json(
        out / MANIFEST,
        {
            "pagefit_version": __version__,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "settings": cfg.model_dump(),
            "sources": sources_info,
            "counts": {
                "documents": len(ok),
                "pages": sum(len(p["pages"]) for p in ok),
                "rejects": len(rejects),
                "text_source": text_sources,
            },
        },
    )
    atomic_write_text(out / REJECTS, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rejects))


def ingest(
    sources: Iterable[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    dpi: int = 120,
    max_pixels: int = 1800 * 1800,
    ocr: OcrMode = "auto",
    image_format: ImageFormat = "png",
    workers: int = 1,
    password: str | None = None,
    prune: bool = False,
    show_progress: bool = True,
    engine: Engine = "local",
    ray_address: str | None = None,
) -> IngestResult:
    """Ingest PDFs, images and folders of them into the corpus folder `out`.

    Args:
        sources: files and folders (searched recursively); page ids are relative to each one.
        out: the corpus folder; an existing corpus is updated (unchanged documents are skipped).
        dpi: resolution at which PDF pages are rendered.
        max_pixels: bound on width*height of every stored page image.
        ocr: `auto` reads pages without a usable text layer with OCR; `always`; `never`.
        image_format: how page images are stored: `png` or `tiff` (PackBits: lossless, ~15x faster to
            write, ~1.5x larger; browsers do not show TIFF).
        workers: processes rendering documents in parallel (`ray`: at most this many actors when > 1;
            default: one per CPU of the cluster).
        password: for encrypted PDFs.
        prune: drop documents of earlier runs that are not among `sources`.
        show_progress: draw a progress bar.
        engine: `local` (a process pool on this machine) or `ray` (a Ray Data pipeline, see
            `pagefit.ray_engine`): the same corpus either way.
        ray_address: with `ray`, the cluster to join (default: `RAY_ADDRESS`, else a local Ray).
    """
    from pagefit.ray_engine import check_engine

    start = time.perf_counter()
    check_engine(engine)
    cfg = IngestConfig(dpi=dpi, max_pixels=max_pixels, ocr=ocr, image_format=image_format)
    out_path = Path(out)
    _check_out(out_path)
    source_list = _collect_sources(sources, out_path)
    if not source_list:
        from pagefit._render import IMAGE_SUFFIXES, PDF_SUFFIXES

        supported = ", ".join(sorted(s.lstrip(".") for s in PDF_SUFFIXES | IMAGE_SUFFIXES))
        given = ", ".join(str(s) for s in sources)
        raise PagefitError(
            f"no documents found in {given}: it holds no files (hidden ones are skipped); "
            f"give folders or files of PDFs or images ({supported})"
        )
    out_path.mkdir(parents=True, exist_ok=True)
    parts = _load_parts(out_path)
    if prune:
        keep = {s.rel for s in source_list}
        for rel in [r for r in parts if r not in keep]:
            _remove_page_images(out_path, parts[rel]["doc_id"])
            _part_path(out_path, rel).unlink(missing_ok=True)
            del parts[rel]
    todo, rejects, skipped = _plan(source_list, parts, cfg.key())
    from pagefit._progress import progress_bar

    with progress_bar("ingest", total=len(todo), unit="doc", enabled=show_progress) as bar:

        def on_done(src: _Source, result: dict[str, Any]) -> None:
            part = _document_part(src.rel, src.doc_id, src.sha256, cfg.key(), result)
            atomic_write_json(_part_path(out_path, src.rel), part)
            parts[src.rel] = part
            bar.advance(1, f"{src.rel}: {len(result.get('pages', []))} pages")

        def on_written(src: _Source, part: dict[str, Any], status: str) -> None:
            parts[src.rel] = part  # a Ray worker already wrote its part file
            bar.advance(1, status)

        if engine == "ray":
            import functools

            from pagefit.ray_engine import ingest_documents

            work = functools.partial(_ingest_and_record, str(out_path), cfg.model_dump(), cfg.key(), password)
            crashed = ingest_documents(
                todo,
                work,
                workers,
                on_written,
                ray_address,
                show_progress,
            )
            for src in crashed:  # its Ray worker died on every try: rejected, as by the process pool
                on_done(
                    src, {"status": "rejected", "reason": "ingest crashed on this file (its Ray worker died)"}
                )
        else:
            _run_tasks(todo, out_path, cfg, password, workers, on_done)
    current = {s.rel for s in source_list}
    for rel, part in sorted(parts.items()):
        if part["status"] == "rejected" and rel in current:
            rejects.append({"source": rel, "reason": part["reason"]})
        rejects.extend(part.get("page_errors", []))
    n_pages = _write_pages(out_path, parts)
    _write_manifest(out_path, cfg, parts, rejects)
    return IngestResult(
        corpus=out_path,
        documents=sum(p["status"] == "ok" for p in parts.values()),
        pages=n_pages,
        skipped=skipped,
        rejects=rejects,
        seconds=time.perf_counter() - start,
    )
