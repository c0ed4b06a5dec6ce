"""Fixtures of the fault suite: the road's folders (corpus, pairs) made once, copied per test."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def pairs_source(sample_corpus_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pagefit pairs --generate text` of the sample corpus (read-only; copy it to change it)."""
    from pagefit.pairs import pairs

    out = tmp_path_factory.mktemp("faults-pairs") / "pairs"
    pairs(sample_corpus_source, out, generate="text", per_page=2, show_progress=False)
    return out


@pytest.fixture
def road(sample_corpus: Path, pairs_source: Path, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(corpus, pairs): fresh copies; the pairs folder points at the copied corpus."""
    import json

    pairs = tmp_path / "pairs"
    shutil.copytree(pairs_source, pairs)
    meta = json.loads((pairs / "pagefit_pairs.json").read_text())
    meta["corpus"] = str(sample_corpus.resolve())
    (pairs / "pagefit_pairs.json").write_text(json.dumps(meta))
    yield sample_corpus, pairs
