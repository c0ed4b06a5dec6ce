"""`pagefit train-reranker`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from pagefit.cli._app import app
from pagefit.cli.train import _parse_sets

_EPILOG = (
    "Precedence: preset < --config FILE < flags (--set KEY=VALUE reaches every RerankerConfig field). "
    "Examples: `pagefit train-reranker MINED --out reranker` (CPU, ocr-minilm-reranker); "
    "`pagefit train-reranker MINED --preset vlm-logit --document both --lora --out vlm-reranker` (GPU); "
    "`pagefit train-reranker MINED --model ./reranker --out reranker-2` continues an existing reranker; "
    "`pagefit train-reranker --out reranker --resume` continues an interrupted run."
)


def _print_presets() -> None:
    from rich.console import Console
    from rich.table import Table

    from pagefit.train_reranker.config import DEFAULT_PRESET, list_presets

    table = Table("preset", "description", box=None, header_style="bold")
    for name, description in list_presets().items():
        table.add_row(name + (" (default)" if name == DEFAULT_PRESET else ""), description)
    Console().print(table)


@app.command("train-reranker", epilog=_EPILOG)
def train_reranker_command(
    data: Annotated[str | None, typer.Argument(help="Mined folder (`pagefit mine` output).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder for the reranker.")] = None,
    preset: Annotated[str | None, typer.Option(help="Preset to start from (see --list-presets).")] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="YAML file of RerankerConfig fields.")
    ] = None,
    list_presets: Annotated[bool, typer.Option("--list-presets", help="Show the presets and exit.")] = False,
    model: Annotated[
        str | None,
        typer.Option(
            help="Base model, or an existing reranker folder / hub name to continue (sets --set architecture=load)."
        ),
    ] = None,
    document: Annotated[
        str | None, typer.Option(help="What the reranker reads of a page: image, text or both (VLM presets).")
    ] = None,
    corpus: Annotated[Path | None, typer.Option(help="Corpus folder, when it moved since mining.")] = None,
    retriever: Annotated[
        str | None,
        typer.Option(help="Embedding model whose top-k the evaluator reranks (default: the mining model)."),
    ] = None,
    loss: Annotated[str | None, typer.Option(help="bce (default), listnet, lambda or mnrl.")] = None,
    num_negatives: Annotated[int | None, typer.Option(help="Mined hard negatives per positive.")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Stop after this many optimizer steps.")] = None,
    epochs: Annotated[float | None, typer.Option(help="Passes over the training pairs.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Pairs (or lists) per step.")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate.")] = None,
    lora: Annotated[bool | None, typer.Option("--lora/--no-lora", help="Train LoRA adapters (peft).")] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the last checkpoint in --out.")
    ] = False,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    eval_every: Annotated[
        float | None, typer.Option(help="Evaluate every this fraction of training (< 1) or number of steps.")
    ] = None,
    trust_remote_code: Annotated[
        bool | None, typer.Option("--trust-remote-code", help="Allow code shipped with the model to run.")
    ] = None,
    progress: Annotated[
        bool | None, typer.Option("--progress/--no-progress", help="Show progress bars.")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Any RerankerConfig field, KEY=VALUE (YAML value); repeatable."),
    ] = None,
) -> None:
    """Train a reranker (CrossEncoder) on your mined pages: each positive with its hard negatives."""
    if list_presets:
        _print_presets()
        return
    from pagefit.train_reranker import train_reranker

    flags: dict[str, Any] = {
        "data": data,
        "output": str(out) if out else None,
        "model": model,
        "document": document,
        "corpus": str(corpus) if corpus else None,
        "retriever": retriever,
        "loss": loss,
        "num_negatives": num_negatives,
        "max_steps": max_steps,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "lora": lora,
        "resume": resume or None,
        "seed": seed,
        "eval_every": eval_every,
        "trust_remote_code": trust_remote_code,
        "show_progress": progress,
    }
    overrides = {k: v for k, v in flags.items() if v is not None}
    if model is not None and _is_reranker(model):
        overrides["architecture"] = "load"
    overrides |= _parse_sets(set_ or [])
    result = train_reranker(preset=preset, config_file=config, **overrides)
    _report(result)


def _is_reranker(model: str) -> bool:
    """A folder written by `train-reranker` (or any CrossEncoder folder): continue training it."""
    import json

    path = Path(model).expanduser()
    config = path / "config_sentence_transformers.json"
    if not config.is_file():
        return False
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("model_type") == "CrossEncoder"
    except ValueError:
        return False


def _report(result: Any) -> None:
    from rich.console import Console

    summary = result.summary
    if not summary:
        return
    final = result.final_metrics
    base = result.base_metrics
    if "ndcg@10" in final:
        scores = (
            f"NDCG@10 of the retriever's top {summary['data']['eval_top_k']}: retriever "
            f"{final.get('retriever_ndcg@10', float('nan')):.4f}, untrained reranker "
            f"{base.get('ndcg@10', float('nan')):.4f}, trained {final['ndcg@10']:.4f}"
        )
    else:
        scores = "no evaluation"
    Console(stderr=True).print(
        f"[bold green]trained[/] reranker: {summary['steps']} steps in {summary['wall_time_s']:.0f} s "
        f"({summary['samples_per_second'] or 0:.2f} pairs/s): {scores}; reranker in {result.output_dir}",
        highlight=False,
        soft_wrap=True,
    )
    from pagefit.train_reranker.card import rerank_verdict

    if verdict := rerank_verdict(summary):
        Console(stderr=True).print(f"[bold red]warning:[/] {verdict}", highlight=False, soft_wrap=True)
