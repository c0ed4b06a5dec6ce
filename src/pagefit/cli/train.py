"""`pagefit train`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from pagefit.cli._app import app

_EPILOG = (
    "Precedence: preset < --config FILE < flags (--set KEY=VALUE reaches every TrainConfig field). "
    "Examples: `pagefit train MINED --out model` (CPU, ocr-minilm); "
    "`pagefit train --preset qwen3-vl-2b-vdr --out vdr-model` (the article, GPU); "
    "`pagefit train --out model --resume` continues an interrupted run; "
    "`torchrun --nproc-per-node 4 $(which pagefit) train ...` (or `accelerate launch $(which pagefit) train ...`) "
    "trains on 4 GPUs."
)


def _parse_dims(text: str) -> list[int] | None:
    if text.strip().lower() in {"none", "off", ""}:
        return None
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError as e:
        raise typer.BadParameter(
            f"expected comma-separated integers such as 1024,512,256 or 'none', not {text!r}"
        ) from e


def _parse_sets(items: list[str]) -> dict[str, Any]:
    import yaml

    values = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"--set takes KEY=VALUE, not {item!r}")
        values[key.strip().replace("-", "_")] = yaml.safe_load(raw) if raw.strip() else None
    return values


def _print_presets() -> None:
    from rich.console import Console
    from rich.table import Table

    from pagefit.train.config import DEFAULT_PRESET, list_presets

    table = Table("preset", "description", box=None, header_style="bold")
    for name, description in list_presets().items():
        table.add_row(name + (" (default)" if name == DEFAULT_PRESET else ""), description)
    Console().print(table)


@app.command("train", epilog=_EPILOG)
def train_command(
    data: Annotated[
        str | None,
        typer.Argument(
            help="Pairs/mined folder (`pagefit pairs`/`mine`), a datasets folder, or a hub dataset name."
        ),
    ] = None,
    data_option: Annotated[
        str | None, typer.Option("--data", help="Same as DATA.", show_default=False)
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder for the trained model.")
    ] = None,
    preset: Annotated[str | None, typer.Option(help="Preset to start from (see --list-presets).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="YAML file of TrainConfig fields.")] = None,
    list_presets: Annotated[bool, typer.Option("--list-presets", help="Show the presets and exit.")] = False,
    model: Annotated[str | None, typer.Option(help="Base model: built-in name, folder or hub name.")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Stop after this many optimizer steps.")] = None,
    epochs: Annotated[float | None, typer.Option(help="Passes over the training pairs.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Pairs per step (in-batch negatives).")] = None,
    mini_batch_size: Annotated[int | None, typer.Option(help="GradCache mini-batch (memory only).")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate.")] = None,
    matryoshka_dims: Annotated[
        str | None, typer.Option(help="Comma-separated Matryoshka dimensions, or 'none'.")
    ] = None,
    truncate_dim: Annotated[
        int | None, typer.Option(help="Default embedding size of the saved model.")
    ] = None,
    lora: Annotated[bool | None, typer.Option("--lora/--no-lora", help="Train LoRA adapters (peft).")] = None,
    gradient_checkpointing: Annotated[
        bool | None,
        typer.Option(
            "--gradient-checkpointing/--no-gradient-checkpointing", help="Trade compute for memory."
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the last checkpoint in --out.")
    ] = False,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    eval_every: Annotated[
        float | None, typer.Option(help="Evaluate every this fraction of training (< 1) or number of steps.")
    ] = None,
    eval_corpus: Annotated[
        Path | None,
        typer.Option(
            help="Corpus folder the held-out queries are searched in during training "
            "(default: every page of the pairs folder's eval-split documents)."
        ),
    ] = None,
    passages: Annotated[
        bool | None,
        typer.Option(
            "--passages/--no-passages",
            help="Held-out evaluation of a text-reading model (ocr-minilm) scores pages as `pagefit eval` "
            "and `index` do: page vector mixed with the best 100-word passage (default: on for them).",
        ),
    ] = None,
    query_prompt: Annotated[
        str | None,
        typer.Option(
            help="Prompt put before every query, replacing the model's own (e.g. 'query: '); saved with the model."
        ),
    ] = None,
    document_prompt: Annotated[
        str | None,
        typer.Option(
            help="Prompt put before every page text, replacing the model's own (e.g. 'passage: '); saved with the model."
        ),
    ] = None,
    report_to: Annotated[
        list[str] | None, typer.Option(help="Experiment tracker: trackio or tensorboard (repeatable).")
    ] = None,
    trust_remote_code: Annotated[
        bool | None, typer.Option("--trust-remote-code", help="Allow code shipped with the model to run.")
    ] = None,
    progress: Annotated[
        bool | None, typer.Option("--progress/--no-progress", help="Show progress bars.")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Any TrainConfig field, KEY=VALUE (YAML value); repeatable."),
    ] = None,
) -> None:
    """Finetune an embedding model on (query, page, hard negatives): the article's recipe, on your pages."""
    if list_presets:
        _print_presets()
        return
    from pagefit.models.page_text import announce_routes
    from pagefit.train import train

    announce_routes()  # the console says which route each model takes

    if data and data_option and data != data_option:
        raise typer.BadParameter(f"DATA {data!r} and --data {data_option!r} differ: give one")
    flags: dict[str, Any] = {
        "data": data or data_option,
        "output": str(out) if out else None,
        "model": model,
        "max_steps": max_steps,
        "epochs": epochs,
        "batch_size": batch_size,
        "mini_batch_size": mini_batch_size,
        "lr": lr,
        "truncate_dim": truncate_dim,
        "lora": lora,
        "gradient_checkpointing": gradient_checkpointing,
        "resume": resume or None,
        "seed": seed,
        "eval_every": eval_every,
        "eval_corpus": str(eval_corpus) if eval_corpus else None,
        "passages": passages,
        "query_prompt": query_prompt,
        "document_prompt": document_prompt,
        "report_to": report_to,
        "trust_remote_code": trust_remote_code,
        "show_progress": progress,
    }
    overrides = {k: v for k, v in flags.items() if v is not None}
    if matryoshka_dims is not None:
        overrides["matryoshka_dims"] = _parse_dims(matryoshka_dims)
    overrides |= _parse_sets(set_ or [])
    result = train(preset=preset, config_file=config, **overrides)
    _report(result)


def _report(result: Any) -> None:
    from rich.console import Console

    summary = result.summary
    if not summary:  # not the main process of a distributed run
        return
    from pagefit.train.card import train_line

    console = Console(stderr=True)
    console.print(train_line(summary, result.base_metrics, result.final_metrics, result.output_dir),
                  highlight=False, soft_wrap=True)  # fmt: skip
