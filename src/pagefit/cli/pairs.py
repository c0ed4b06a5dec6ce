"""`pagefit pairs`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pagefit.cli._app import app

_EPILOG = (
    "Examples: `pagefit pairs corpus --generate text --out pairs` (offline); "
    "`pagefit pairs corpus --queries my_queries.jsonl --out pairs`; "
    "`pagefit pairs corpus --generate openai --base-url http://localhost:8000/v1 --model Qwen/Qwen2.5-VL-7B-Instruct --out pairs`."
)


@app.command("pairs", epilog=_EPILOG)
def pairs_command(
    corpus: Annotated[Path, typer.Argument(help="Corpus folder from `pagefit ingest`.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Pairs folder to write (an earlier one is replaced).")
    ],
    queries: Annotated[
        Path | None,
        typer.Option(
            help="Your queries: JSONL/CSV/TSV with query + page_id(s), or query + source file + page_number."
        ),
    ] = None,
    generate: Annotated[
        str | None, typer.Option(help="Synthetic queries: text (offline, from page text), openai, or local.")
    ] = None,
    per_page: Annotated[int, typer.Option(help="Synthetic queries per page.")] = 3,
    spans: Annotated[
        int,
        typer.Option(
            help="text: crops of 6-12 words of each page's running text, on top of --per-page (0: none)."
        ),
    ] = 4,
    eval_fraction: Annotated[
        float, typer.Option(help="Share of queries (whole documents) held out for eval.")
    ] = 0.2,
    validation_fraction: Annotated[
        float,
        typer.Option(
            help="Share of the train queries (whole documents) held out as the validation split, on which "
            "`pagefit train` selects its checkpoint and fusion weight (0: none)."
        ),
    ] = 0.2,
    eval_copy_kinds: Annotated[
        bool,
        typer.Option(
            help="Keep the generator's copies of the page (spans, keyword crops) in the eval and validation "
            "splits; by default they only train."
        ),
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the document split and of the text generator.")] = 0,
    model: Annotated[
        str | None, typer.Option(help="openai: the served model name; local: a VLM folder or hub name.")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(help="openai: API root of an OpenAI-compatible server, e.g. http://localhost:8000/v1."),
    ] = None,
    api_key_env: Annotated[
        str, typer.Option(help="openai: environment variable holding the API key.")
    ] = "OPENAI_API_KEY",
    concurrency: Annotated[int, typer.Option(help="openai: requests in flight at once.")] = 4,
    timeout: Annotated[float, typer.Option(help="openai: seconds before a request is retried.")] = 120.0,
    max_retries: Annotated[int, typer.Option(help="openai: retries per page (exponential backoff).")] = 4,
    max_new_tokens: Annotated[int, typer.Option(help="local: bound on each generated answer.")] = 256,
    filter_model: Annotated[
        str | None,
        typer.Option(
            help="Keep a synthetic train query only if this model ranks its page in the top k of the train "
            "pages (run after the split; eval queries are never filtered by a model)."
        ),
    ] = None,
    filter_top_k: Annotated[int, typer.Option(help="The k of --filter-model.")] = 10,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Make (query, page) training pairs from your queries and/or synthetic ones, split by document."""
    from rich.console import Console

    from pagefit.pairs import FAILURES, pairs
    from pagefit.querygen import make_generator

    generator = None
    if generate is not None:
        generator = make_generator(
            generate, seed=seed, spans_per_page=spans, model=model, base_url=base_url, api_key_env=api_key_env,
            concurrency=concurrency,
            timeout=timeout, max_retries=max_retries, max_new_tokens=max_new_tokens,
        )  # fmt: skip
    result = pairs(
        corpus, out, queries=queries, generate=generator, per_page=per_page, eval_fraction=eval_fraction,
        validation_fraction=validation_fraction, eval_copy_kinds=eval_copy_kinds, seed=seed, filter_model=filter_model, filter_top_k=filter_top_k, show_progress=progress,
    )  # fmt: skip
    console = Console(stderr=True)
    kinds = ", ".join(f"{k} {n}" for k, n in result.kinds.items())
    console.print(
        f"[bold green]pairs[/] train {result.train_rows} ({len(result.train_docs)} docs), validation "
        f"{result.validation_rows} ({len(result.validation_docs)} docs), eval {result.eval_rows} "
        f"({len(result.eval_docs)} docs) -> {result.out} in {result.seconds:.1f} s\n"
        f"  eval share of queries {result.eval_fraction_achieved:.1%} (asked {eval_fraction:.0%}; "
        "whole documents per split)\n"
        f"  {result.queries_per_page:.2f} queries per page on {result.pages_with_queries}/{result.pages} pages; "
        f"kinds: {kinds}",
        highlight=False,
        soft_wrap=True,
    )
    if result.filtered:
        console.print(
            "  filtered out: " + ", ".join(f"{k} {n}" for k, n in result.filtered.items()), highlight=False
        )
    if result.failures:
        console.print(
            f"  [yellow]{result.failures} page(s) got no generated queries[/]: see {result.out / FAILURES} "
            "(re-run to retry them; answers already received are cached)",
            highlight=False,
            soft_wrap=True,
        )
