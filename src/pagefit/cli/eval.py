"""`pagefit eval`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from pagefit.cli._app import app


def _parse_dims(text: str | None) -> list[int]:
    from pagefit.errors import PagefitError

    if not text:
        return []
    try:
        dims = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise PagefitError(
            f"--dims takes comma-separated positive integers like 512,256,128, not {text!r}"
        ) from None
    if any(d <= 0 for d in dims):
        raise PagefitError(f"--dims takes positive integers, not {text!r}")
    return dims


def _parse_models(specs: list[str]) -> list[str | tuple[str, str]]:
    """`--model NAME=MODEL` names its entry; a plain MODEL is named after itself."""
    parsed: list[str | tuple[str, str]] = []
    for spec in specs:
        name, sep, target = spec.partition("=")
        plain = not sep or not name or not target or "/" in name or os.path.exists(spec)
        parsed.append(spec if plain else (name, target))
    return parsed


@app.command("eval")
def eval_command(
    corpus: Annotated[Path, typer.Option(help="Corpus folder written by `pagefit ingest`.")],
    queries: Annotated[
        Path, typer.Option(help="Queries file: JSON Lines (or CSV/TSV) with query and page_id(s).")
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for report.json, report.md and report.html.")
    ],
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="Model to evaluate: folder, hub name or built-in (ocr-minilm, ocr-colminilm); single-vector, multi-vector or "
            "sparse (SPLADE); a text model reads the corpus page text; repeat for several; "
            "NAME=MODEL names its entry. The first is the baseline the others are compared with.",
        ),
    ] = None,
    bm25: Annotated[
        bool, typer.Option("--bm25", help="Add a BM25 baseline over the corpus text (entry 'bm25').")
    ] = False,
    language: Annotated[
        str,
        typer.Option(
            help="Language of the page text (ISO 639-1, e.g. en, de): BM25's stemmer and stopwords; "
            "a language without them gets none."
        ),
    ] = "en",
    dims: Annotated[
        str | None,
        typer.Option(help="Matryoshka dimensions to evaluate from the cached embeddings, e.g. 512,256,128."),
    ] = None,
    reranker: Annotated[
        str | None,
        typer.Option(
            help="CrossEncoder (folder or hub name) reranking each entry's top k (entries NAME+rerank)."
        ),
    ] = None,
    rerank_top_k: Annotated[int, typer.Option(help="How many top pages the reranker reorders.")] = 20,
    batch_size: Annotated[
        int,
        typer.Option(
            help="Pages (and reranked pairs) per forward pass; lower it if a large model runs out of memory."
        ),
    ] = 16,
    resamples: Annotated[
        int, typer.Option(help="Bootstrap resamples / random sign flips of the significance tests.")
    ] = 10_000,
    seed: Annotated[int, typer.Option(help="Seed of the significance tests.")] = 0,
    trust_remote_code: Annotated[
        bool,
        typer.Option(help="Allow models whose folder or hub repo holds its own code (only if you trust it)."),
    ] = False,
    device: Annotated[
        str | None, typer.Option(help="Torch device, e.g. cpu or cuda; default: automatic.")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    hybrid: Annotated[
        str | None,
        typer.Option(
            help="rrf or weighted: add hybrid(bm25+MODEL) entries fusing each model with BM25, and "
            "hybrid(SPARSE+MODEL) fusing each model with each sparse (SPLADE) model entry."
        ),
    ] = None,
    rrf_k: Annotated[int, typer.Option(help="RRF constant k (--hybrid rrf).")] = 60,
    fusion_weight: Annotated[
        float | None,
        typer.Option(
            help="The dense model's weight in [0, 1] (--hybrid weighted; default: the weight `pagefit train` "
            "saved with the model, as `index --hybrid` uses it, else 0.5)."
        ),
    ] = None,
    keyword_weight: Annotated[
        float | None,
        typer.Option(
            help="The dense model's weight for keyword-like queries (a few words, no stopword), which lean on "
            "BM25 (--hybrid weighted; default: the model's saved fusion, else the default fusion)."
        ),
    ] = None,
    tune_fusion: Annotated[
        Path | None,
        typer.Option(
            help="`pagefit pairs` folder: tune the fusion weight on its validation split (else its eval split; "
            "never on --queries)."
        ),
    ] = None,
    token_pooling: Annotated[
        float | None,
        typer.Option(
            help="Multi-vector models: hierarchical token pooling factor of the page vectors, as "
            "`pagefit index --token-pooling` stores them (keep about 1/FACTOR; 1 = none)."
        ),
    ] = None,
    passages: Annotated[
        bool | None,
        typer.Option(
            "--passages/--no-passages",
            help="Models that read page text (ocr-minilm): score a page as its page vector mixed with its best "
            "100-word passage, as `pagefit index` searches (long pages are read whole). Default: on for them; "
            "--no-passages: page vectors only.",
        ),
    ] = None,
    passage_weight: Annotated[
        float, typer.Option(help="With --passages: the page vector's share; the best passage gets the rest.")
    ] = 0.5,
    query_prompt: Annotated[
        str | None,
        typer.Option(help="Prompt put before every query, replacing each model's own (e.g. 'query: ')."),
    ] = None,
    document_prompt: Annotated[
        str | None,
        typer.Option(
            help="Prompt put before every page text, replacing each model's own (e.g. 'passage: ')."
        ),
    ] = None,
) -> None:
    """Measure retrieval quality (NDCG, MAP, MRR, recall) of models on a corpus, with significance and a report."""
    from rich.console import Console

    from pagefit.evaluation import evaluate
    from pagefit.models.page_text import announce_routes

    announce_routes()  # the console says which route each model takes

    report = evaluate(
        corpus,
        queries,
        _parse_models(model or []),
        bm25=bm25,
        language=language,
        dims=_parse_dims(dims),
        reranker=reranker,
        rerank_top_k=rerank_top_k,
        out=out,
        batch_size=batch_size,
        n_resamples=resamples,
        seed=seed,
        trust_remote_code=trust_remote_code,
        device=device,
        show_progress=progress,
        hybrid=hybrid,
        rrf_k=rrf_k,
        fusion_weight=fusion_weight,
        keyword_weight=keyword_weight,
        tune_fusion=tune_fusion,
        token_pooling=token_pooling,
        passages=passages,
        passage_weight=passage_weight,
        query_prompt=query_prompt,
        document_prompt=document_prompt,
    )
    import sys

    from pagefit.evaluation.report import rich_table
    from pagefit.evaluation.rerank import rerank_table

    # A pipe or a log file has no width: do not squeeze the table into 80 columns there.
    console = Console(width=None if sys.stdout.isatty() else 200)
    console.print(rich_table(report))
    if (reranked := rerank_table(report)) is not None:
        console.print(reranked)
    console.print(
        f"[bold green]report[/] {out / 'report.html'} (also report.json, report.md)",
        highlight=False,
        soft_wrap=True,
    )
