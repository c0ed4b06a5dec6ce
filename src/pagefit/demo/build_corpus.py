"""Rebuild the demo's shipped corpus from Debian packages: `python -m pagefit.demo.build_corpus`.

Every document is a vignette that a Debian 12 (bookworm) `r-cran-*` package ships as a born-digital PDF
under a free licence. `corpus/sources.json` names each one's package, version, path inside the package,
licence and the page range kept; this script downloads the packages with `apt-get download` (so it needs
Debian's apt and its package lists), extracts them with `dpkg-deb -x`, copies the kept pages into a new
PDF with pypdfium2 and writes `corpus/SOURCES.md`. The shipped PDFs are what the demo reads; this script
is only how they were made.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from pathlib import Path

__all__ = ["CORPUS_DIR", "build_corpus", "load_sources"]

CORPUS_DIR = Path(__file__).parent / "corpus"


def load_sources(corpus_dir: Path = CORPUS_DIR) -> list[dict]:
    """The documents of the demo corpus, as `sources.json` lists them."""
    return json.loads((corpus_dir / "sources.json").read_text())["documents"]


def _extract(packages: set[str], work: Path) -> Path:
    root = work / "root"
    for package in sorted(packages):
        subprocess.run(["apt-get", "download", package], cwd=work, check=True, capture_output=True)
    for deb in sorted(work.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


def _trim(src: Path, first: int, last: int, dest: Path) -> None:
    import pypdfium2 as pdfium

    pdf, new = pdfium.PdfDocument(str(src)), pdfium.PdfDocument.new()
    try:
        new.import_pages(pdf, list(range(first - 1, last)))
        dest.parent.mkdir(parents=True, exist_ok=True)
        new.save(str(dest))
    finally:
        new.close()
        pdf.close()


def _sources_md(documents: list[dict]) -> str:
    lines = [
        "# Sources of the demo corpus",
        "",
        "Born-digital PDF vignettes shipped by Debian 12 (bookworm) packages, under the licences their",
        "`debian/copyright` states. Each PDF here holds the page range shown of the original (1-based,",
        "inclusive); page N of a file here is page `first + N - 1` of the original. Rebuild them with",
        "`python -m pagefit.demo.build_corpus` on a Debian 12 machine.",
        "",
        "| file | role | package (version) | path in the package | pages kept | licence | title |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for d in documents:
        lines.append(
            f"| `{d['file']}` | {d['role']} | {d['package']} ({d['version']}) | `{d['path']}` | "
            f"{d['first_page']}-{d['last_page']} of {d['original_pages']} | {d['license']} | {d['title']} |"
        )
    return "\n".join(lines) + "\n"


def build_corpus(corpus_dir: Path = CORPUS_DIR) -> None:
    """Download, extract and trim every document of `sources.json` into `corpus_dir`."""
    import pypdfium2 as pdfium

    spec = json.loads((corpus_dir / "sources.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        root = _extract({d["package"] for d in spec["documents"]}, Path(tmp))
        for d in spec["documents"]:
            src = root / d["path"].lstrip("/")
            pdf = pdfium.PdfDocument(str(src))
            d["original_pages"] = len(pdf)
            pdf.close()
            dest = corpus_dir / d["file"]
            _trim(src, d["first_page"], d["last_page"], dest)
            d["sha256"] = hashlib.sha256(dest.read_bytes()).hexdigest()
    (corpus_dir / "sources.json").write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n")
    (corpus_dir / "SOURCES.md").write_text(_sources_md(spec["documents"]))


if __name__ == "__main__":
    build_corpus()
