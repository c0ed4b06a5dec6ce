"""The records of a training run: `train_summary.json` and pagefit's section of the model card."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import TrainerState

    from pagefit.train.config import TrainConfig

__all__ = ["add_card_section", "build_summary", "train_line"]

CARD_MARKER = "<!-- pagefit:train -->"
_CARD_METRICS = ("ndcg@10", "ndcg@5", "mrr@10", "map@100", "recall@1", "recall@5", "recall@10")
_LOAD_NOTE = (
    "This model contains pagefit's own input module (`OcrText`, the image route that reads a page's "
    "text from pagefit's OCR cache). Load it with `pagefit.load_model(path)` (or `--model PATH` on any "
    "`pagefit` command): pagefit checks that the folder names only Sentence Transformers and pagefit "
    "classes and holds no code, imports its own module from the installed package, and keeps "
    "`trust_remote_code` off. `SentenceTransformer(path)` alone refuses the folder unless you pass "
    "`trust_remote_code=True`, which would also allow code shipped inside the folder."
)


def _base_model(config: TrainConfig) -> str:
    if config.architecture == "router":
        return f"{config.text_model} (text) + {config.image_model} (images)"
    return str(config.model)


def build_summary(
    config: TrainConfig,
    data: dict[str, Any],
    state: TrainerState,
    *,
    precision: str,
    base: dict[str, float],
    final: dict[str, float],
    by_dim: dict[int, dict[str, float]],
    train_metrics: dict[str, float],
    resumed_from: str | None,
    world_size: int,
    wall_time_s: float,
    selection: dict[str, Any] | None = None,
    fusion: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The content of `train_summary.json`."""
    from pagefit import __version__

    common = sorted(set(base) & set(final))
    return {
        "pagefit_version": __version__,
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "preset": config.preset,
        "base_model": _base_model(config),
        "output": str(config.output),
        "data": data,
        "precision": precision,
        "matryoshka_dims": config.matryoshka_dims,
        "truncate_dim": config.truncate_dim,
        "lora": config.lora,
        "base_metrics": base,
        "final_metrics": final,
        "improvement": {k: final[k] - base[k] for k in common},
        # Whether the saved model beats the base on the held-out metric (None: no held-out evaluation).
        "improved": (selection or {}).get("improved"),
        "selection": selection or {},
        # The BM25 fusion saved with the model (`pagefit_fusion.json`): index, eval and serve use it.
        "fusion": fusion,
        "metrics_by_dim": {str(dim): metrics for dim, metrics in by_dim.items()},
        **run_stats(state, world_size, resumed_from, wall_time_s, train_metrics),
    }


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def run_stats(
    state: TrainerState, world_size: int, resumed_from: str | None, wall_time_s: float, train_metrics: dict
) -> dict[str, Any]:
    """What every training summary records about the run itself (steps, time, throughput)."""
    return {
        "steps": state.global_step,
        "epochs": state.epoch,
        "processes": world_size,
        "resumed_from": Path(resumed_from).name if resumed_from else None,
        "wall_time_s": round(wall_time_s, 2),
        "train_runtime_s": train_metrics.get("train_runtime"),
        "samples_per_second": train_metrics.get("train_samples_per_second"),
        "steps_per_second": train_metrics.get("train_steps_per_second"),
    }


def _metrics_table(base: dict[str, float], final: dict[str, float]) -> list[str]:
    """Base vs finetuned: the model alone, then fused with BM25 (`hybrid_*`, as `index --hybrid` runs it)."""
    lines = ["| Metric | Base model | Finetuned | Change |", "|:--|--:|--:|--:|"]
    for prefix, label in (("", ""), ("hybrid_", " (hybrid: BM25 + model)")):
        for name in _CARD_METRICS:
            if prefix + name in final:
                b, f = base.get(prefix + name), final[prefix + name]
                change = "–" if b is None else f"{f - b:+.4f}"
                lines.append(f"| {name}{label} | {_fmt(b)} | {_fmt(f)} | {change} |")
    return lines


def _selection_lines(summary: dict[str, Any]) -> list[str]:
    selection = summary.get("selection") or {}
    lines = []
    if selection.get("history"):
        step, last = selection["selected_step"], selection["last_step"]
        data = summary.get("data", {})
        lines += ["", f"Saved: step {step} of {last}, the best {selection.get('selected_on', 'validation ndcg@10')} "
                  f"on {data.get('validation_queries', '?')} validation queries over {data.get('validation_corpus', '?')} "
                  "pages of train-split documents that were kept out of training; the eval split above played "
                  "no part in the choice."]  # fmt: skip
    else:
        lines += ["", "No validation split: the last step is saved (nothing was selected on the eval split)."]
    if fusion := summary.get("fusion"):
        tuned = f", chosen on the {fusion['tuned_on']}" if fusion.get("tuned_on") else ""
        lines += ["", f"Hybrid search weight of this model: {fusion['weight']:g} (BM25 {1 - fusion['weight']:g}){tuned}; "
                  "saved in `pagefit_fusion.json`, which `pagefit index --hybrid`, `eval --hybrid` and `serve` use."]  # fmt: skip
    lines += _kind_lines(selection.get("eval_by_kind") or {})
    if summary.get("improved") is False:
        lines += [
            "",
            "**No checkpoint beat the base model on the validation queries.** This folder holds the best trained "
            "step anyway, and it is NOT better than the base model: keep using the base model, or change the "
            "data or recipe and train again.",
        ]
    return lines


def _kind_lines(by_kind: dict[str, Any]) -> list[str]:
    """NDCG@10 per query kind on the eval split, base -> finetuned, alone and fused with BM25."""
    final = by_kind.get("final") or {}
    if not final:
        return []
    base = by_kind.get("base") or {}
    lines = [
        "",
        "| Query kind | Queries | NDCG@10 base -> finetuned | Hybrid base -> finetuned |",
        "|:--|--:|--:|--:|",
    ]
    for kind, after in final.items():
        before = base.get(kind, {})
        alone = f"{_fmt(before.get('ndcg@10'))} -> {_fmt(after.get('ndcg@10'))}"
        fused = f"{_fmt(before.get('hybrid_ndcg@10'))} -> {_fmt(after.get('hybrid_ndcg@10'))}"
        lines.append(f"| {kind} | {after.get('queries', '?')} | {alone} | {fused} |")
    return lines


def _dims_lines(summary: dict[str, Any]) -> list[str]:
    dims = summary["matryoshka_dims"]
    if not dims:
        return []
    default = summary["truncate_dim"] or dims[0]
    lines = [
        "",
        "### Matryoshka dimensions",
        "",
        f"Trained with `MatryoshkaLoss` over the dimensions {', '.join(map(str, dims))}; the saved model "
        f"embeds into {default} dimensions by default (`truncate_dim`), any of the others can be chosen "
        "with `SentenceTransformer(path, truncate_dim=D)`.",
        "",
        "| Dimension | NDCG@10 | Recall@10 |",
        "|--:|--:|--:|",
    ]
    for dim, metrics in summary["metrics_by_dim"].items():
        lines.append(f"| {dim} | {_fmt(metrics.get('ndcg@10'))} | {_fmt(metrics.get('recall@10'))} |")
    return lines


def card_section(summary: dict[str, Any], *, own_modules: bool) -> str:
    """Markdown: data summary, metrics before/after, Matryoshka dims, how to load and to repeat the run."""
    data = summary["data"]
    negatives = f" and {data['train_negatives']} hard negative(s) each" if data["train_negatives"] else ""
    lines = [
        CARD_MARKER,
        "## Training with pagefit",
        "",
        f"Finetuned from `{summary['base_model']}` with `pagefit train` (preset `{summary['preset']}`) on "
        f"`{data['source']}`: {data['train_rows']} (query, page image) pairs{negatives}, "
        f"{summary['steps']} steps, {summary['precision']} precision.",
    ]
    if data.get("eval_queries"):
        source = data.get("eval_corpus_source", "the eval split's pages")
        lines += [
            "",
            f"Evaluated on {data['eval_queries']} held-out queries (the eval split) against {data['eval_corpus']} "
            f"pages ({source}) with `InformationRetrievalEvaluator`, scoring {data.get('eval_scoring', 'page vectors')}, "
            "once before training and once after:",
            "",
            *_metrics_table(summary["base_metrics"], summary["final_metrics"]),
            *_selection_lines(summary),
        ]
    lines += _dims_lines(summary)
    if own_modules:
        lines += ["", "### Loading", "", _LOAD_NOTE]
    lines += [
        "",
        "The resolved training config is `train_config.yaml` beside this card: "
        "`pagefit train --config train_config.yaml --out NEW_FOLDER` repeats the run; "
        "`train_summary.json` holds these numbers with wall time and throughput.",
        CARD_MARKER,
        "",
    ]
    return "\n".join(lines)


def _names_own_modules(folder: Path) -> bool:
    return any(
        '"pagefit.' in p.read_text(encoding="utf-8")
        for p in folder.rglob("*.json")
        if p.name in {"modules.json", "router_config.json"}
    )


def add_card_section(readme: Path, summary: dict[str, Any], section: str | None = None) -> None:
    """Insert pagefit's section (default: `card_section(summary)`) into the model card Sentence Transformers
    wrote, before its training details."""
    from pagefit._io import atomic_write_text

    card = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    if section is None:
        section = card_section(summary, own_modules=_names_own_modules(readme.parent))
    if CARD_MARKER in card:  # written again (e.g. a second save): replace the earlier section
        head, _, rest = card.partition(CARD_MARKER)
        card = head + rest.partition(CARD_MARKER)[2].lstrip("\n")
    anchor = "\n## Training Details"
    card = card.replace(anchor, "\n" + section + anchor, 1) if anchor in card else card + "\n" + section
    atomic_write_text(readme, card)


def train_line(summary: dict[str, Any], base_metrics: dict, final_metrics: dict, output_dir: Any) -> str:
    """The console line: steps and speed, the held-out NDCG@10 of the base and of the saved step, and a
    plain warning when no step beat the base model."""
    base, final = base_metrics.get("ndcg@10"), final_metrics.get("ndcg@10")
    fused = ""
    if "hybrid_ndcg@10" in final_metrics and "hybrid_ndcg@10" in base_metrics:
        weight = (summary.get("fusion") or {}).get("weight")
        fused = (f"; hybrid (BM25 + model{f', weight {weight:g}' if weight is not None else ''}) "
                 f"{base_metrics['hybrid_ndcg@10']:.4f} -> {final_metrics['hybrid_ndcg@10']:.4f}")  # fmt: skip
    selection = summary.get("selection") or {}
    step = selection.get("selected_step", summary["steps"])
    head = (f"[bold green]trained[/] {summary['steps']} steps in {summary['wall_time_s']:.0f} s "
            f"({summary['samples_per_second'] or 0:.2f} samples/s)")  # fmt: skip
    where = summary.get("data", {}).get("eval_corpus", "?")
    if base is None or final is None:
        return f"{head}: no evaluation; model in {output_dir}"
    if summary.get("improved") is False:
        return (f"{head}; [bold red]no checkpoint beat the base model[/] on the validation queries: eval-split "
                f"NDCG@10 ({where} pages) base {base:.4f}, best trained step {step} {final:.4f}{fused}. The model in "
                f"{output_dir} is that step, NOT an improvement: keep the base model")  # fmt: skip
    return (f"{head}: eval-split NDCG@10 {base:.4f} -> {final:.4f} over {where} pages{fused} (step {step} kept, "
            f"chosen on the validation split); model in {output_dir}")  # fmt: skip
