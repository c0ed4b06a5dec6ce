"""What kind of pagefit folder a path is, so that a stage given the wrong one can say what to do.

Every stage writes a folder with a marker file (a corpus has `pages/` and `manifest.json`, a pairs
folder `pagefit_pairs.json`, a model `modules.json`, ...). A stage that expects one kind and finds
another raises `wrong_folder(...)`: "X is a corpus (made by `pagefit ingest`), not training data:
make it with `pagefit pairs X --out PAIRS`". New stages add their folder with `register_kind`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pagefit.errors import PagefitError

__all__ = ["FolderKind", "detect_kind", "register_kind", "wrong_folder"]


@dataclass(frozen=True)
class FolderKind:
    """One kind of folder: its name, how to recognise it, what makes it."""

    name: str  # "corpus", "pairs", ...
    label: str  # "a corpus", "a pairs folder", ...
    made_by: str  # "pagefit ingest"
    test: Callable[[Path], bool]


def _json_kind(path: Path) -> str | None:
    try:
        return json.loads((path / "pagefit_pairs.json").read_text(encoding="utf-8")).get("kind")
    except (OSError, ValueError, AttributeError):
        return None


def _has_documents(path: Path, limit: int = 2000) -> bool:
    from pagefit._render import IMAGE_SUFFIXES, PDF_SUFFIXES

    data_suffixes = {".json", ".jsonl", ".csv", ".tsv", ".parquet", ".arrow"}
    seen_doc = False
    for i, (_, _, files) in enumerate(os.walk(path)):
        for name in files:
            suffix = Path(name).suffix.lower()
            if suffix in data_suffixes:
                return False  # a data folder for `datasets.load_dataset`, not documents
            seen_doc = seen_doc or suffix in PDF_SUFFIXES | IMAGE_SUFFIXES
        if i > limit:
            break
    return seen_doc


_KINDS: list[FolderKind] = [
    FolderKind("mined", "a mined pairs folder", "pagefit mine", lambda p: _json_kind(p) == "mined"),
    FolderKind("pairs", "a pairs folder", "pagefit pairs", lambda p: (p / "pagefit_pairs.json").is_file()),
    FolderKind(
        "corpus",
        "a corpus",
        "pagefit ingest",
        lambda p: (p / "manifest.json").is_file() and ((p / "pages").is_dir() or (p / ".pagefit").is_dir()),
    ),
    FolderKind("report", "an eval report", "pagefit eval", lambda p: (p / "report.json").is_file()),
    FolderKind(
        "model",
        "a model",
        "pagefit train",
        lambda p: (p / "modules.json").is_file() or (p / "config_sentence_transformers.json").is_file(),
    ),
]


def register_kind(kind: FolderKind, *, first: bool = True) -> None:
    """Add the folder written by a new stage (checked before the built-in kinds when `first`)."""
    _KINDS[:] = [k for k in _KINDS if k.name != kind.name]
    _KINDS.insert(0, kind) if first else _KINDS.append(kind)


def detect_kind(path: str | os.PathLike[str]) -> str | None:
    """The kind of folder `path` is: a registered kind, "documents", "empty", "missing", "file" or None."""
    path = Path(path)
    if not path.exists():
        return "missing"
    if not path.is_dir():
        return "file"
    for kind in _KINDS:
        try:
            if kind.test(path):
                return kind.name
        except OSError:
            continue
    if not any(path.iterdir()):
        return "empty"
    return "documents" if _has_documents(path) else None


def _describe(path: Path, kind: str) -> str:
    for k in _KINDS:
        if k.name == kind:
            return f"{path} is {k.label} (made by `{k.made_by}`)"
    return {
        "documents": f"{path} holds documents (PDFs/images), not yet ingested",
        "empty": f"{path} is an empty folder",
        "missing": f"{path} does not exist",
        "file": f"{path} is a file, not a folder",
    }.get(kind, f"{path} is not a pagefit folder")


# What to do, per expected kind, given what was found. `{path}` is the folder given.
_FIXES: dict[str, dict[str, str]] = {
    "corpus": {
        "documents": "ingest it first: `pagefit ingest {path} --out CORPUS`, then pass CORPUS",
        "pairs": "pass the corpus it was made from{origin}",
        "mined": "pass the corpus it was made from{origin}",
        "model": "pass it as --model and give the corpus folder from `pagefit ingest`",
        "report": "pass the corpus folder written by `pagefit ingest`",
        "*": "make a corpus with `pagefit ingest DOCS --out CORPUS` and pass CORPUS",
    },
    "pairs": {
        "corpus": "make training data from it with `pagefit pairs {path} --out PAIRS --generate text` "
        "(and hard negatives with `pagefit mine PAIRS --model ocr-minilm --out MINED`), then pass that",
        "documents": "run `pagefit ingest {path} --out CORPUS`, then `pagefit pairs CORPUS --out PAIRS "
        "--generate text`, then pass PAIRS",
        "model": "pass it as --model; the data is a folder from `pagefit pairs` or `pagefit mine`",
        "report": "pass the folder from `pagefit pairs` or `pagefit mine`",
        "*": "pass a folder from `pagefit pairs` or `pagefit mine` (made from a corpus)",
    },
}


def wrong_folder(
    path: str | os.PathLike[str], expected: str, *, needed_for: str | None = None
) -> PagefitError:
    """The error for a stage given `path` where it needs an `expected` folder ("corpus", "pairs")."""
    path = Path(path)
    found = detect_kind(path) or "unknown"
    wanted = {"corpus": "a corpus", "pairs": "training data (a pairs or mined folder)"}.get(
        expected, expected
    )
    fixes = _FIXES.get(expected, {})
    fix = fixes.get(found, fixes.get("*", f"pass {wanted}"))
    origin = ""
    if found in ("pairs", "mined"):
        try:
            recorded = json.loads((path / "pagefit_pairs.json").read_text(encoding="utf-8")).get("corpus")
        except (OSError, ValueError):
            recorded = None
        origin = f" ({recorded})" if recorded else ""
    return PagefitError(
        f"{_describe(path, found)}"
        + (f", but {needed_for} needs {wanted}: " if needed_for else f", not {wanted}: ")
        + fix.format(path=path, origin=origin)
    )
