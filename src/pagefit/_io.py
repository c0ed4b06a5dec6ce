"""Atomic writes, content hashes and the shared cache folder."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pagefit.errors import PagefitError

if TYPE_CHECKING:
    import datasets
    from PIL import Image

__all__ = [
    "JsonCache",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "cache_dir",
    "image_key",
    "prepare_out",
    "publish",
    "quiet_datasets",
    "read_jsonl",
    "sha256_file",
    "shards",
]


def cache_dir(*parts: str) -> Path:
    """The folder shared by all pagefit runs for OCR text and embeddings.

    `PAGEFIT_CACHE_DIR` overrides the default `~/.cache/pagefit`.
    """
    root = os.environ.get("PAGEFIT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pagefit"
    )
    path = Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


class JsonCache:
    """JSON entries on disk, one small file per key (sharded by the key's first two characters).

    Each entry is written atomically, so concurrent writers (processes too) and a kill at any moment
    leave a complete entry or none. The OCR text cache and the query generators' answer cache are both
    this class.
    """

    def __init__(self, namespace: str, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else cache_dir(namespace)

    @staticmethod
    def key(*parts: Any) -> str:
        """A key from any JSON-able parts (a prompt, a model name, a content hash...)."""
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            with open(self._path(key), encoding="utf-8") as f:
                return json.load(f)
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def put(self, key: str, entry: dict[str, Any]) -> None:
        atomic_write_json(self._path(key), entry)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` so that a reader sees the old file or the new one, never half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        if e.filename is None:  # a failed write() names no file: name the one being written
            raise type(e)(e.errno, e.strerror, str(path)) from e
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once: os.umask can only be read by setting it, which races with threads


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def image_key(image: Image.Image) -> str:
    """Content hash of an image's pixels: the key of the OCR and embedding caches.

    Pixels, not file bytes, so a page keeps its key whether it arrives as a file path, a PIL image
    decoded by `datasets`, or a freshly rendered page.
    """
    if image.mode == "L":  # a grey page as ingest stores it: the key of its RGB pixels
        image = image.convert("RGB")
    h = hashlib.sha256()
    h.update(f"{image.mode}:{image.size[0]}x{image.size[1]}:".encode())
    h.update(image.tobytes())
    return h.hexdigest()


# --- stage output folders: every stage writes into a temporary sibling, then publishes it whole ---


def prepare_out(out: Path, marker: str, kind: str) -> Path:
    """A fresh temporary folder next to `out`.

    Refuses to overwrite a non-empty folder that lacks `marker` (the file every `kind` folder holds),
    so a typo in `--out` never deletes a user's data.
    """
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / marker).exists())):
        raise PagefitError(f"{out} exists and is not a pagefit {kind} folder: choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))


def publish(tmp: Path, out: Path) -> None:
    """Replace `out` by the finished `tmp` folder.

    The old folder is renamed aside before the new one takes its name, so a kill at any instant
    leaves the old folder or the new one (or the old one under its aside name), never neither.
    """
    aside = None
    if out.exists():
        aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
        aside.rmdir()
        os.replace(out, aside)
    os.replace(tmp, out)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


@contextmanager
def quiet_datasets() -> Iterator[None]:
    """No `datasets` progress bars (saving, mapping) inside the block: pagefit shows its own."""
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def shards(dsd: datasets.DatasetDict) -> dict[str, int]:
    """One shard per split; `datasets` writes no shard at all for an empty split unless told, and
    then cannot load it back."""
    return {split: 1 for split in dsd}
