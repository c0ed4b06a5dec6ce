"""User-facing errors: the CLI prints their message as one line and exits non-zero."""

from __future__ import annotations

__all__ = ["MissingDependencyError", "PagefitError"]


class PagefitError(Exception):
    """An error the user can act on; its message says what is wrong and what to do."""


class MissingDependencyError(PagefitError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(f"{purpose} needs '{package}': install it with `pip install 'pagefit[{extra}]'`")
