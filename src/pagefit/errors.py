"""User-facing errors: the CLI prints their message as one line and exits non-zero."""

from __future__ import annotations

import errno

__all__ = ["MissingDependencyError", "PagefitError", "disk_error_message"]


class PagefitError(Exception):
    """An error the user can act on; its message says what is wrong and what to do."""


class MissingDependencyError(PagefitError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(f"{purpose} needs '{package}': install it with `pip install 'pagefit[{extra}]'`")


_DISK_ERRORS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "the file system is read-only",
}


def disk_error_message(error: OSError) -> str | None:
    """One actionable line for a full disk or a folder pagefit may not write; None for other errors.

    Every stage writes into a temporary sibling of its output and publishes it whole, so nothing
    half-written is left under the output name: freeing space (or choosing a writable folder) and
    running the same command again is always safe.
    """
    what = _DISK_ERRORS.get(error.errno or -1)
    if what is None:
        return None
    where = error.filename or "the output folder"
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"cannot write {where}: {what}; free some space (or choose --out on another disk) "
            "and run the same command again"
        )
    verb = "write" if error.errno == errno.EROFS else "access"  # EACCES/EPERM also come from reading
    return (
        f"cannot {verb} {where}: {what}; for an output, choose a folder you can write (--out); for an input, "
        "fix its permissions; then run the command again"
    )
