"""pyproject.toml declares what pagefit imports at run time (a plain `pip install .` runs the road)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~ ;]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def test_runtime_dependencies_cover_run_time_imports():
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    runtime = _names(project["dependencies"])
    # httpx: the openai query generator; PyStemmer: BM25's Snowball stemmer.
    assert {"httpx", "pystemmer", "bm25s"} <= runtime
    assert "peft" not in runtime and "peft" in _names(project["optional-dependencies"]["lora"])


def test_reference_implementations_are_dev_dependencies():
    dev = _names(tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]["dev"])
    assert {"pytrec-eval-terrier", "scipy"} <= dev
