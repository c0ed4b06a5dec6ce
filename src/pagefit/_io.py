"""Atomic writes, content hashes and the shared cache folder."""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pagefit.errors import PagefitError

if TYPE_CHECKING:
    import datasets
    from PIL import Image

logger = logging.getLogger(__name__)

__all__ = [
    "JsonCache",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "cache_dir",
    "fsync_dir",
    "image_key",
    "prepare_out",
    "publish",
    "quiet_datasets",
    "read_jsonl",
    "recover_out",
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
            f.flush()
            os.fsync(f.fileno())  # the bytes reach the disk before the name does (power loss: no empty file)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
        fsync_dir(path.parent)  # the rename itself survives a power loss
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        if e.filename is None:  # a failed write() names no file: name the one being written
            raise type(e)(e.errno, e.strerror, str(path)) from e
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Flush a folder's entries (a rename or a new file in it) to the disk; a no-op where folders
    cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as e:  # some file systems refuse fsync on a folder; the data itself was synced
        if e.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    """fsync every file and folder under `folder` (a stage's finished output, before it is published)."""
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                fd = os.open(os.path.join(root, name), os.O_RDONLY)
            except OSError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(root)


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
#
# The siblings of OUT are `.OUT.<pid>.<random>` (a run's output being written) and `.OUT.old.<pid>.<random>`
# (the previous output, renamed aside while the new one takes its name). The pid in the name tells a live
# run's folder from one a killed run left behind; older pagefit versions wrote them without a pid.


def _sibling_pattern(out: Path) -> re.Pattern[str]:
    name = re.escape(out.name)
    return re.compile(rf"^\.{name}\.(?P<old>old\.)?(?:(?P<pid>\d+)\.)?[a-z0-9_]{{8}}$")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except OSError:
        return True
    return True


def _leftovers(out: Path) -> list[tuple[Path, bool]]:
    """(folder, is_old) for each temporary sibling of `out` whose run is gone (killed or crashed)."""
    if not out.parent.is_dir():
        return []
    pattern = _sibling_pattern(out)
    found = []
    for entry in out.parent.iterdir():
        match = pattern.match(entry.name)
        if match is None or not entry.is_dir() or entry.is_symlink():
            continue
        pid = match.group("pid")
        if pid is not None and _pid_alive(int(pid)):
            continue
        found.append((entry, match.group("old") is not None))
    return found


def recover_out(out: str | os.PathLike[str]) -> Path:
    """Repair what a killed run left beside `out`; returns `out`.

    A run killed between the two renames of `publish` leaves no `out` but the previous output under its
    aside name: it is renamed back. Every other leftover of a dead run (a half-written output, an aside
    copy of an output that was replaced) is deleted. Folders of a run still alive are left alone.
    """
    out = Path(out)
    leftovers = _leftovers(out)
    if not out.exists():
        olds = sorted((p for p, is_old in leftovers if is_old), key=lambda p: p.stat().st_mtime)
        if olds:
            os.replace(olds[-1], out)  # the output that was published last before the kill
            fsync_dir(out.parent)
            logger.warning("%s: restored the output a killed run had moved aside (%s)", out, olds[-1].name)
            leftovers = [(p, is_old) for p, is_old in leftovers if p != olds[-1]]
    for path, _ in leftovers:
        shutil.rmtree(path, ignore_errors=True)
        logger.info("%s: removed %s, left by a killed run", out, path.name)
    return out


def prepare_out(out: Path, marker: str, kind: str) -> Path:
    """A fresh temporary folder next to `out`, after repairing what a killed run left (`recover_out`).

    Refuses to overwrite a non-empty folder that lacks `marker` (the file every `kind` folder holds),
    so a typo in `--out` never deletes a user's data.
    """
    recover_out(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / marker).exists())):
        raise PagefitError(f"{out} exists and is not a pagefit {kind} folder: choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.{os.getpid()}.", dir=out.parent))


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux `renameat2(RENAME_EXCHANGE)`); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):  # no libc symbol (old glibc, musl)
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):  # kernel or file system lacks it
        return False
    raise OSError(err, os.strerror(err), str(b))


def publish(tmp: Path, out: Path) -> None:
    """Replace `out` by the finished `tmp` folder, durably.

    The new folder's files are flushed to the disk first. Where the system can, old and new swap names
    in one atomic step, so `out` exists at every instant; elsewhere the old folder is renamed aside
    before the new one takes its name, and a kill between the two renames leaves the old folder under
    its aside name, which the next run (or `recover_out`) renames back.
    """
    _fsync_tree(tmp)
    if out.exists() and _exchange(tmp, out):
        fsync_dir(out.parent)
        shutil.rmtree(tmp, ignore_errors=True)  # now the old output
        return
    aside = None
    if out.exists():
        aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.{os.getpid()}.", dir=out.parent))
        aside.rmdir()
        os.replace(out, aside)
    os.replace(tmp, out)
    fsync_dir(out.parent)
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
