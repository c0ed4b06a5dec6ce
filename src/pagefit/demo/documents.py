"""Realistic sample documents for tests, generated locally and deterministically.

`write_sample_documents` writes several multi-page PDF reports (born-digital: each page has a heading, prose,
a table and a chart, with an extractable text layer), optionally a scanned memo (PNG, no text layer) and a
dashboard screenshot (JPEG), plus `queries.jsonl`: natural questions that one page answers. The reports share
section templates, vocabulary and magnitudes, so finding the right page is not trivial.

`write_image_variants` writes one small image per format and mode that ingest must accept (tests).

Only core dependencies are used (matplotlib, pillow, numpy).
"""

from __future__ import annotations

import json
import logging
import os
import random
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from pagefit._io import atomic_write_text
from pagefit.demo.content import MONTHS, Chart, Doc, Names, Page, PageQuery, Table, plan_documents, slug
from pagefit.demo.content import sample_text_lines as sample_text_lines

__all__ = [
    "ImageVariant",
    "SampleDocs",
    "sample_text_lines",
    "write_image_variants",
    "write_sample_documents",
]

logger = logging.getLogger(__name__)

_PAGE_INCHES = (8.5, 11.0)
_SCAN_DPI = 120
# The standard PDF fonts (Helvetica) give an extractable text layer with nothing to embed: 2.5x faster than
# subsetting a TrueType font (`pdf.fonttype` 42) per document. No mathtext, so "$" stays a dollar sign.
_PDF_RC = {
    "pdf.use14corefonts": True,
    "font.family": "sans-serif",
    "font.sans-serif": ["Helvetica"],
    "font.weight": "medium",  # the weight of Helvetica's AFM metrics
    "axes.titleweight": "medium",
    "axes.labelweight": "medium",
    "text.parse_math": False,
    "axes.formatter.use_mathtext": False,
}


@dataclass(frozen=True)
class ImageVariant:
    """One generated test image: its path, the PIL mode it opens in and its number of frames."""

    name: str
    path: Path
    mode: str
    frames: int = 1


@dataclass(frozen=True)
class SampleDocs:
    """What `write_sample_documents` wrote.

    Attributes:
        root: The output folder.
        docs_dir: The folder holding every document: the ingest root that the page ids in `queries_path`
            are relative to.
        pdfs: The born-digital PDF reports.
        images: The scanned memo (PNG) and the dashboard screenshot (JPEG), if written.
        queries_path: `queries.jsonl` (beside `docs_dir`, so ingesting `docs_dir` does not see it).
        queries: The records written to `queries_path`.
    """

    root: Path
    docs_dir: Path
    pdfs: list[Path]
    images: list[Path]
    queries_path: Path
    queries: list[dict] = field(repr=False)

    def __fspath__(self) -> str:
        """The documents folder, so a `SampleDocs` can be passed wherever a path to the documents is expected."""
        return os.fspath(self.docs_dir)

    @property
    def documents(self) -> list[Path]:
        """Every document: PDFs then images."""
        return [*self.pdfs, *self.images]


# ---------------------------------------------------------------------------------------------- rendering


def _draw_table(fig, table: Table, top: float) -> float:
    """Draw `table` as a ruled text grid from `top` (figure fraction); return the y below it."""
    from matplotlib.lines import Line2D

    left, right, size, spacing = 0.08, 0.92, 9.5, 1.9
    row_h = size * spacing / (72 * _PAGE_INCHES[1])  # a text line is exactly size * linespacing points tall
    fig.text(left, top, table.title, fontsize=10.5, color="0.15", va="top")
    widths = [max(len(r[i]) for r in [table.header, *table.rows]) + 3 for i in range(len(table.header))]
    y0 = top - 0.026
    x = left
    # One text per column (not per cell): rows line up because every column shares size and spacing.
    for i, w in enumerate(widths):
        fig.text(
            x + 0.005, y0, table.header[i], fontsize=size, linespacing=spacing, va="top", color="#1f3b5c"
        )
        body = "\n".join(row[i] for row in table.rows)
        fig.text(x + 0.005, y0 - row_h, body, fontsize=size, linespacing=spacing, va="top")
        x += (right - left) * w / sum(widths)
    for r in range(len(table.rows) + 2):
        y = y0 + 0.004 - r * row_h
        strong = r in (0, 1, len(table.rows) + 1)
        fig.add_artist(
            Line2D([left, right], [y, y], color="0.2" if strong else "0.8", lw=0.8 if strong else 0.4)
        )
    return y0 - (len(table.rows) + 1) * row_h - 0.01


def _draw_chart(ax, chart: Chart, rng: random.Random) -> None:
    color = rng.choice(["#3b6ea5", "#4a8c5c", "#b5643c", "#7b5ea7", "#2f8f9d"])
    if chart.kind == "bar":
        ax.bar(chart.labels, chart.values, color=color)
    else:
        ax.plot(chart.labels, chart.values, marker="o", color=color)
    ax.set_title(chart.title, fontsize=11)
    ax.set_xlabel(chart.xlabel, fontsize=10)
    ax.set_ylabel(chart.ylabel, fontsize=10)
    ax.tick_params(labelsize=9)
    ax.grid(axis="y", color="0.88")
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _render_page(doc: Doc, page: Page, number: int, rng: random.Random):
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    fig = Figure(figsize=_PAGE_INCHES)
    fig.text(0.08, 0.965, doc.title, fontsize=9, color="0.35")
    fig.text(0.92, 0.965, f"Page {number} of {len(doc.pages)}", fontsize=9, color="0.35", ha="right")
    fig.add_artist(Line2D([0.08, 0.92], [0.955, 0.955], color="0.6", lw=0.8))
    fig.text(0.08, 0.93, f"{number}. {page.heading}", fontsize=17, color="#1f3b5c", va="top")
    y = 0.885
    for paragraph in page.paragraphs:
        lines = textwrap.wrap(paragraph, 104, break_on_hyphens=False, break_long_words=False)
        fig.text(0.08, y, "\n".join(lines), fontsize=10, va="top", linespacing=1.45)
        y -= (len(lines) * 10 * 1.45 + 9) / (72 * _PAGE_INCHES[1])
    y = _draw_table(fig, page.table, y - 0.01)
    ax = fig.add_axes((0.12, 0.085, 0.8, min(0.4, y - 0.15)))
    _draw_chart(ax, page.chart, rng)
    fig.text(0.5, 0.025, f"{doc.entity} | {doc.year}", fontsize=9, color="0.45", ha="center")
    return fig


def _write_pdf(doc: Doc, path: Path, rng: random.Random, render=_render_page) -> None:
    import matplotlib
    from matplotlib.backends.backend_pdf import PdfPages

    tmp = path.with_name(f".{path.name}.tmp")
    font_log = logging.getLogger("matplotlib.font_manager")
    level = font_log.level
    font_log.setLevel(logging.ERROR)  # the tick formatter probes for a TeX font it does not need
    try:
        with (
            matplotlib.rc_context(_PDF_RC),
            # No creation date: the same seed writes the same bytes.
            PdfPages(tmp, metadata={"Title": doc.title, "CreationDate": None}) as pdf,
        ):
            for number, page in enumerate(doc.pages, start=1):
                pdf.savefig(render(doc, page, number, rng))
    finally:
        font_log.setLevel(level)
    os.replace(tmp, path)


def _font(size: int, kind: str = "DejaVuSans"):
    import matplotlib
    from PIL import ImageFont

    return ImageFont.truetype(str(Path(matplotlib.get_data_path(), "fonts", "ttf", f"{kind}.ttf")), size)


def _write_scan(doc: Doc, path: Path, names: Names, rng: random.Random) -> list[PageQuery]:
    """A typed memo that looks scanned: grey paper, noise, a slight tilt, no text layer."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    t, author, place = doc.theme, names.person(), names.place()
    valves, cost, month = rng.randint(3, 19), rng.randint(12, 95) * 500, rng.choice(MONTHS)
    day = rng.randint(2, 27)
    body = (
        f"The inspection of the {place} {t.site} on {day} {month} {doc.year} found {valves} faulty valves and "
        f"worn seals on two pumps. Repairs are estimated at ${cost:,} and will be carried out in stages so that "
        f"service to {t.customers} is not interrupted. A follow-up inspection is planned for the autumn."
    )
    lines = ["MEMORANDUM", "", f"To:      Board of {doc.entity}", f"From:    {author}, Facilities Manager",
             f"Date:    {day} {month} {doc.year}", f"Subject: Inspection of the {place} {t.site}", "",
             *textwrap.wrap(body, 64), ""]  # fmt: skip
    width, height = round(_PAGE_INCHES[0] * _SCAN_DPI), round(_PAGE_INCHES[1] * _SCAN_DPI)
    page = Image.new("L", (width, height), 246)
    draw = ImageDraw.Draw(page)
    font, y = _font(19, "DejaVuSansMono"), 150
    for line in lines:
        draw.text((110, y), line, fill=28, font=font)
        y += 34
    page = page.rotate(rng.uniform(-0.8, 0.8), resample=Image.Resampling.BICUBIC, fillcolor=246)
    noise = np.random.default_rng(rng.randrange(2**32)).normal(0, 9, (height, width))
    pixels = np.clip(np.asarray(page, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
    Image.fromarray(pixels).filter(ImageFilter.GaussianBlur(0.6)).save(path)
    return [
        PageQuery(f"How many faulty valves were found at the {place} {t.site}?", str(valves), "fact"),
        PageQuery(f"what will the {place} repairs cost?", f"${cost:,}", "fact"),
    ]


def _write_screenshot(doc: Doc, path: Path, rng: random.Random) -> list[PageQuery]:
    """A JPEG screenshot of a dashboard chart with a window title bar."""
    import io

    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image, ImageDraw

    t = doc.theme
    values = [rng.uniform(0.6, 1.0) * t.scale / 12 for _ in MONTHS]
    peak = MONTHS[values.index(max(values))]
    buf = io.BytesIO()
    with matplotlib.rc_context({"text.parse_math": False}):
        fig = Figure(figsize=(10, 6), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0.09, 0.14, 0.88, 0.74))
        chart = Chart(
            "bar", f"Monthly {t.metric}, {doc.year}", "Month", t.unit, [m[:3] for m in MONTHS], values
        )
        _draw_chart(ax, chart, rng)
        ax.annotate(f"Peak: {peak}", (values.index(max(values)), max(values)), xytext=(0, 6),
                    textcoords="offset points", ha="center", fontsize=11, weight="bold")  # fmt: skip
        fig.savefig(buf, format="png")
    chart = Image.open(buf).convert("RGB")
    shot = Image.new("RGB", (chart.width, chart.height + 40), (236, 236, 236))
    shot.paste(chart, (0, 40))
    draw = ImageDraw.Draw(shot)
    for i, color in enumerate([(237, 106, 94), (245, 191, 79), (98, 197, 84)]):
        draw.ellipse((14 + 22 * i, 13, 28 + 22 * i, 27), fill=color)
    draw.text((100, 10), f"{doc.entity} dashboard - monthly {t.metric}", fill=(60, 60, 60), font=_font(16))
    shot.save(path, quality=85)
    return [
        PageQuery(f"In which month did {doc.entity} see its peak {t.metric} in {doc.year}?", peak, "chart")
    ]


def write_sample_documents(
    out_dir: str | os.PathLike[str],
    *,
    n_docs: int = 4,
    pages_per_doc: int = 5,
    seed: int = 0,
    with_images: bool = True,
) -> SampleDocs:
    """Write sample reports (and optionally a scan and a screenshot) and their queries.

    Args:
        out_dir: Output folder; documents go to `out_dir/docs`, queries to `out_dir/queries.jsonl`.
        n_docs: Number of PDF reports.
        pages_per_doc: Pages per report (each has a heading, prose, a table and a chart).
        seed: Seed of every name, number and layout choice: the same seed writes the same bytes.
        with_images: Also write a scanned memo (PNG) and a dashboard screenshot (JPEG).

    Returns:
        The paths written and the query records (`query_id`, `query`, `page_id`, `kind`, `answer`).
    """
    if n_docs < 1 or pages_per_doc < 1:
        raise ValueError("n_docs and pages_per_doc must be at least 1")
    root = Path(out_dir)
    docs_dir = root / "docs"
    docs_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    names = Names(rng)
    docs = plan_documents(n_docs, pages_per_doc, rng, names)
    pdfs: list[Path] = []
    records: list[tuple[str, PageQuery]] = []
    for doc in docs:
        path = docs_dir / f"{doc.stem}.pdf"
        _write_pdf(doc, path, rng)
        pdfs.append(path)
        for number, page in enumerate(doc.pages, start=1):
            k = 1 if rng.random() < 0.4 else 2
            records += [(f"{doc.stem}#p{number}", q) for q in rng.sample(page.queries, k)]
    images: list[Path] = []
    if with_images:
        first = docs[0]
        scan = docs_dir / f"{slug(first.short)}-inspection-memo.png"
        records += [(scan.stem, q) for q in _write_scan(first, scan, names, rng)]
        shot_doc = docs[min(1, len(docs) - 1)]
        shot = docs_dir / f"{slug(shot_doc.short)}-dashboard.jpg"
        records += [(shot.stem, q) for q in _write_screenshot(shot_doc, shot, rng)]
        images = [scan, shot]
    queries = [
        {"query_id": f"q{i:04d}", "query": q.query, "page_id": page_id, "kind": q.kind, "answer": q.answer}
        for i, (page_id, q) in enumerate(records, start=1)
    ]
    queries_path = root / "queries.jsonl"
    atomic_write_text(queries_path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in queries))
    logger.info("wrote %d PDFs, %d images and %d queries to %s", len(pdfs), len(images), len(queries), root)
    return SampleDocs(root, docs_dir, pdfs, images, queries_path, queries)


# ------------------------------------------------------------------------------------------- image variants


def _text_image(mode: str, size: tuple[int, int], label: str):
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, (250, 248, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle((8, 8, size[0] - 9, size[1] - 9), outline=(40, 60, 120), width=3)
    draw.text((24, 24), label, fill=(20, 20, 20), font=_font(22))
    draw.text((24, 64), "Invoice 2023-0417  Total $1,284.50", fill=(180, 30, 30), font=_font(18))
    return image if mode == "RGB" else image.convert(mode)


def write_image_variants(out_dir: str | os.PathLike[str]) -> dict[str, ImageVariant]:
    """Write one image per format and mode ingest must handle, each with some drawn text.

    Formats: png, jpg, jpeg, webp, bmp, tif, a 3-frame tif, CMYK jpeg, 16-bit grey png (`I;16`), RGBA png,
    palette (`P`) png and 1-bit png. File stems are distinct, so each maps to its own page id.
    """
    import numpy as np
    from PIL import Image

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    size = (480, 320)
    variants: dict[str, ImageVariant] = {}

    def save(name: str, filename: str, image, mode: str, frames: int = 1, **kwargs) -> None:
        path = out / filename
        image.save(path, **kwargs)
        variants[name] = ImageVariant(name, path, mode, frames)

    for ext in ["png", "jpg", "jpeg", "webp", "bmp", "tif"]:
        save(ext, f"rgb-{ext}.{ext}", _text_image("RGB", size, f"RGB {ext.upper()} page"), "RGB")
    frames = [_text_image("RGB", size, f"TIFF frame {i + 1} of 3") for i in range(3)]
    save("multipage_tif", "multipage-tif.tif", frames[0], "RGB", 3, save_all=True, append_images=frames[1:])
    save("cmyk_jpeg", "cmyk-jpeg.jpg", _text_image("CMYK", size, "CMYK JPEG page"), "CMYK")
    grey = np.asarray(_text_image("L", size, "16-bit grey PNG page"), dtype=np.uint16) * 257
    save("png16", "grey16-png.png", Image.fromarray(grey), "I;16")
    rgba = _text_image("RGBA", size, "RGBA PNG page")
    rgba.putalpha(Image.linear_gradient("L").resize(size).point(lambda v: 80 + v * 175 // 255))
    save("rgba_png", "rgba-png.png", rgba, "RGBA")
    save("palette_png", "palette-png.png", _text_image("RGB", size, "Palette PNG page").quantize(16), "P")
    save("bilevel_png", "bilevel-png.png", _text_image("1", size, "1-bit PNG page"), "1")
    return variants
