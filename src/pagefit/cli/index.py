"""`pagefit index`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pagefit.cli._app import RayAddress, app


def _fusion(
    method: str | None,
    weight: float | None,
    rrf_k: int | None,
    from_report: Path | None,
    keyword_weight: float | None = None,
):
    """The default fusion to store: explicit flags, or the weight `eval --tune-fusion` chose; None when no
    flag says (the index then takes the fusion saved with the model, see `pagefit.index`)."""
    import json

    from pagefit.errors import PagefitError
    from pagefit.evaluation.fusion import FusionConfig

    if method is None and weight is None and rrf_k is None and from_report is None and keyword_weight is None:
        return None
    settings: dict = {
        **({"rrf_k": rrf_k} if rrf_k is not None else {}),
        **({"method": method} if method else {}),
    }
    if from_report is not None:
        try:
            tuned = json.loads(Path(from_report).read_text(encoding="utf-8"))["settings"]["fusion"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise PagefitError(
                f"{from_report} holds no tuned fusion: run `pagefit eval ... --tune-fusion PAIRS` first"
            ) from e
        settings = {**tuned, **({"method": method} if method else {})}
    if weight is not None:  # one weight for every query, unless --keyword-weight says too
        settings |= {"weight": weight, "keyword_weight": None}
    if keyword_weight is not None:
        settings["keyword_weight"] = keyword_weight
    try:
        return FusionConfig.model_validate(settings)
    except ValueError as e:
        raise PagefitError(f"bad fusion setting: {e}") from e


def _describe_fusion(fusion) -> str:
    """How search and serve fuse BM25 with the model by default, and where that setting came from."""
    if fusion.method == "rrf":
        return f"rrf k={fusion.rrf_k}"
    tuned = f", tuned on the {fusion.tuned_on}" if fusion.tuned_on else ""
    keyword = (
        f"; keyword-like queries model {fusion.keyword_weight:g}" if fusion.keyword_weight is not None else ""
    )
    return f"weighted: model {fusion.weight:g}, BM25 {1 - fusion.weight:g}{tuned}{keyword}"


@app.command("index")
def index_command(
    corpus: Annotated[Path, typer.Argument(help="Corpus folder written by `pagefit ingest`.")],
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help="Embedding model: folder, hub name or built-in (ocr-minilm, multi-vector ocr-colminilm).",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Index folder (an existing one is updated).")],
    dim: Annotated[
        int | None, typer.Option(help="Store vectors truncated to this many dimensions (Matryoshka).")
    ] = None,
    quantize: Annotated[
        str | None,
        typer.Option(help="none, int8 or binary: search compact codes, rescored on full-precision vectors."),
    ] = None,
    rescore_multiplier: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="With --quantize: candidates per wanted result rescored on full-precision vectors "
            "(default: int8 4, binary 10); more: recall closer to exact, slower.",
        ),
    ] = None,
    hybrid: Annotated[
        bool | None, typer.Option("--hybrid/--no-hybrid", help="Also store a BM25 index of the page text.")
    ] = None,
    fusion: Annotated[
        str | None,
        typer.Option(
            help="Default fusion of a hybrid index in search/serve: weighted (default; min-max normalised "
            "scores, --fusion-weight) or rrf."
        ),
    ] = None,
    fusion_weight: Annotated[
        float | None,
        typer.Option(
            help="Weighted fusion: the dense model's weight in [0, 1] (default: the weight `pagefit train` "
            "tuned and saved with the model, else 0.5)."
        ),
    ] = None,
    keyword_weight: Annotated[
        float | None,
        typer.Option(
            help="Weighted fusion: the dense model's weight for keyword-like queries (a few words, no stopword; "
            "default: the model's saved fusion, else the default)."
        ),
    ] = None,
    rrf_k: Annotated[int | None, typer.Option(help="RRF constant k (default 60).")] = None,
    language: Annotated[
        str | None,
        typer.Option(
            help="Language of the page text (ISO 639-1, e.g. en, de): BM25's stemmer and stopwords, as "
            "`pagefit eval --language` (default: the index's, else en)."
        ),
    ] = None,
    fusion_from: Annotated[
        Path | None, typer.Option(help="report.json of `pagefit eval --tune-fusion`: store its tuned weight.")
    ] = None,
    ann: Annotated[
        bool | None,
        typer.Option(
            "--ann/--exact",
            help="HNSW graph search instead of a full scan: for large indexes (recall@10 ~0.99 of exact).",
        ),
    ] = None,
    token_pooling: Annotated[
        float | None,
        typer.Option(
            help="Multi-vector models: hierarchical token pooling factor of the page vectors "
            "(keep about 1/FACTOR of them; 1 = none)."
        ),
    ] = None,
    first_stage: Annotated[
        str | None,
        typer.Option(
            help="Multi-vector models: first stage before exact MaxSim, mean or muvera (default mean)."
        ),
    ] = None,
    candidates: Annotated[
        int | None,
        typer.Option(help="Multi-vector models: first-stage pages rescored by exact MaxSim (default 300)."),
    ] = None,
    passages: Annotated[
        bool | None,
        typer.Option(
            "--passages/--no-passages",
            help="Models that read page text (ocr-minilm): also store 100-word window vectors and score a page "
            "as its vector mixed with its best window, as `pagefit eval` does (default: the index's setting, else on "
            "for them; --no-passages: page vectors only).",
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Pages per forward pass.")] = 8,
    commit_every: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Pages embedded between two commits to the table (default 16 batches): what a kill loses.",
        ),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="local: embed in this process; ray: on model replicas of a local Ray or a cluster (one per GPU, "
            "else per CPU; pip install 'pagefit[ray]'). The same index either way."
        ),
    ] = "local",
    ray_address: RayAddress = None,
    export_qdrant: Annotated[
        str | None,
        typer.Option(
            help="Also copy the index into Qdrant: a local folder (embedded mode) or an http(s) URL."
        ),
    ] = None,
    qdrant_collection: Annotated[str, typer.Option(help="Qdrant collection name.")] = "pagefit",
    trust_remote_code: Annotated[
        bool, typer.Option(help="Allow model folders that hold their own code (only if you trust it).")
    ] = False,
    device: Annotated[str | None, typer.Option(help="Torch device, e.g. cpu or cuda.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    query_prompt: Annotated[
        str | None,
        typer.Option(
            help="Prompt put before every query, replacing the model's own (e.g. 'query: '); stored in the "
            "index, search and serve apply it."
        ),
    ] = None,
    document_prompt: Annotated[
        str | None,
        typer.Option(help="Prompt put before every page text, replacing the model's own (e.g. 'passage: ')."),
    ] = None,
) -> None:
    """Embed every page of a corpus into an on-disk index (incremental; resumable) for search and serve."""
    from rich.console import Console

    from pagefit.errors import PagefitError
    from pagefit.index import export_qdrant as export
    from pagefit.index import index
    from pagefit.models.page_text import announce_routes

    announce_routes()  # the console says which route each model takes

    if quantize not in (None, "none", "int8", "binary"):
        raise PagefitError(f"--quantize takes none, int8 or binary, not {quantize!r}")
    if fusion not in (None, "rrf", "weighted"):
        raise PagefitError(f"--fusion takes rrf or weighted, not {fusion!r}")
    if first_stage not in (None, "mean", "muvera"):
        raise PagefitError(f"--first-stage takes mean or muvera, not {first_stage!r}")
    manifest = index(
        corpus,
        model,
        out,
        dim=dim,
        quantize=quantize,  # type: ignore[arg-type]
        rescore_multiplier=rescore_multiplier,
        hybrid=hybrid,
        fusion=_fusion(fusion, fusion_weight, rrf_k, fusion_from, keyword_weight),
        language=language,
        ann=ann,
        token_pooling=token_pooling,
        first_stage=first_stage,  # type: ignore[arg-type]
        candidates=candidates,
        passages=passages,
        batch_size=batch_size,
        commit_every=commit_every,
        engine=engine,  # type: ignore[arg-type]
        ray_address=ray_address,
        trust_remote_code=trust_remote_code,
        device=device,
        show_progress=progress,
        query_prompt=query_prompt,
        document_prompt=document_prompt,
    )
    console = Console()
    run = manifest.last_run
    multi = manifest.multivector
    storage = (
        f"multi-vector ({multi.vectors_per_page:g} vectors x {manifest.dim} per page, "
        f"{multi.bytes_per_page:g} bytes/page, first stage {multi.first_stage})"
        if multi is not None
        else f"quantization {manifest.quantization}"
    )
    if manifest.sparse is not None:
        storage = (
            f"sparse ({manifest.sparse.active_dims_per_page:g} of {manifest.sparse.vocabulary} dims active per page, "
            f"{manifest.sparse.bytes_per_page:g} bytes/page)"
        )
    console.print(
        f"[bold green]index[/] {out}: {manifest.pages} pages ({run.get('added', 0)} added, "
        f"{run.get('removed', 0)} removed, {run.get('kept', 0)} kept), dim {manifest.dim}, "
        + storage
        + (f", passages ({manifest.passages.windows} windows)" if manifest.passages is not None else "")
        + (f", hybrid ({_describe_fusion(manifest.hybrid.fusion)})" if manifest.hybrid.enabled else ""),
        highlight=False,
    )
    if export_qdrant:
        n = export(out, export_qdrant, collection=qdrant_collection)
        console.print(
            f"[bold green]qdrant[/] {n} points in collection {qdrant_collection!r} at {export_qdrant}"
        )
