"""An index folder's manifest.json: what built it, with which model and settings (docs/formats.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from pagefit._io import atomic_write_json
from pagefit.errors import PagefitError
from pagefit.evaluation.fusion import FusionConfig
from pagefit.index.vectors import Quantization

__all__ = [
    "MANIFEST",
    "HybridSettings",
    "IndexManifest",
    "MultiVectorSettings",
    "PassageSettings",
    "SparseSettings",
    "read_manifest",
    "write_manifest",
]

MANIFEST = "manifest.json"


class HybridSettings(BaseModel):
    """Whether the index holds a BM25 index of the page text, and how search fuses it by default."""

    enabled: bool = False
    fusion: FusionConfig = Field(default_factory=FusionConfig)
    tokenizer: str = "pagefit.evaluation.bm25 (the tokenisation of eval --bm25)"
    language: str = Field(
        "en",
        description="language of the page text (ISO 639-1): BM25's stemmer and stopwords, as eval --language",
    )
    bm25: dict[str, Any] = Field(
        default_factory=dict,
        description="the BM25 settings the index was built with (as eval's report records)",
    )


class MultiVectorSettings(BaseModel):
    """How a multi-vector index stores and searches its pages' token vectors (`pagefit.index.multivector`)."""

    first_stage: Literal["mean", "muvera"] = Field(
        "mean", description="one vector per page scored first: the pages' mean vectors, or MUVERA encodings"
    )
    candidates: int = Field(
        300,
        ge=1,
        description="first-stage pages rescored by exact MaxSim "
        "(300 kept recall@10 0.96 against exhaustive on 100k pages: benchmarks/multivector.py)",
    )
    token_pooling: float | None = Field(
        None, description="hierarchical token pooling factor applied to the page vectors at index time"
    )
    dtype: str = "float16"
    vectors_per_page: float = 0.0
    bytes_per_page: float = Field(0.0, description="stored token vectors + first-stage vector, per page")


class PassageSettings(BaseModel):
    """Passage scoring of a single-vector index whose model reads page text (`pagefit.passages`)."""

    words: int = 100
    stride: int = 75
    weight: float = Field(0.5, description="the page vector's share; the page's best window gets the rest")
    windows: int = Field(0, description="window vectors stored (INDEX/passages/)")


class SparseSettings(BaseModel):
    """How a learned-sparse index (`SparseEncoder`, SPLADE) stores its pages (`pagefit.index.sparse`)."""

    store: str = Field(
        "scipy-csr", description="INDEX/sparse/: the pages' sparse vectors as a scipy CSR matrix (.npz)"
    )
    vocabulary: int = Field(0, description="dimensions of the sparse vectors (the model's vocabulary)")
    active_dims_per_page: float = 0.0
    bytes_per_page: float = Field(0.0, description="stored non-zeros (float32 value + int32 index) per page")


class IndexManifest(BaseModel):
    pagefit_version: str
    corpus: str = Field(description="absolute path of the corpus folder the pages come from")
    model: str = Field(description="the --model given (folder, hub or built-in name)")
    model_name: str
    model_fingerprint: str
    full_dim: int
    dim: int = Field(description="stored vector dimension (Matryoshka truncation of full_dim)")
    similarity: str = "cosine"
    quantization: Quantization = "none"
    rescore_multiplier: int = 1
    ann: bool = Field(False, description="HNSW graph search instead of an exhaustive scan")
    hybrid: HybridSettings = Field(default_factory=HybridSettings)
    multivector: MultiVectorSettings | None = Field(
        None, description="set for a multi-vector model (token vectors scored by MaxSim), else None"
    )
    passages: PassageSettings | None = Field(
        None, description="set when pages score as their vector mixed with their best passage, else None"
    )
    sparse: SparseSettings | None = Field(
        None, description="set for a learned-sparse model (its vectors in INDEX/sparse/), else None"
    )
    prompts: dict[str, str] = Field(
        default_factory=dict,
        description="query / document prompts given to `pagefit index` (replacing the model's own); search applies them",
    )
    pages: int = 0
    store: str = "lancedb"
    table_version: int | None = None
    complete: bool = False
    created: str
    updated: str
    last_run: dict[str, int] = Field(default_factory=dict, description="pages added / removed / kept")


def read_manifest(folder: str | os.PathLike[str]) -> IndexManifest:
    path = Path(folder) / MANIFEST
    if not path.exists():
        raise PagefitError(
            f"{folder} is not a pagefit index (no {MANIFEST}): build one with "
            f"`pagefit index CORPUS --model MODEL --out {folder}`"
        )
    try:
        return IndexManifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, ValidationError) as e:
        raise PagefitError(
            f"{path} is not a valid index manifest ({e.__class__.__name__}): rebuild the index"
        ) from e


def write_manifest(folder: str | os.PathLike[str], manifest: IndexManifest) -> None:
    atomic_write_json(Path(folder) / MANIFEST, manifest.model_dump(mode="json"))
