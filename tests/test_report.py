"""The report files built from fixed rankings: JSON schema, Markdown, terminal table, self-contained HTML."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
from PIL import Image

from _reference import bootstrap_ci_reference, sign_flip_p_value  # tests/ is on sys.path (conftest)
from pagefit.evaluation import EvalConfig, _build_report, _Corpus, _Run
from pagefit.evaluation.html import comparison_pair, render_html
from pagefit.evaluation.metrics import PRIMARY_METRIC
from pagefit.evaluation.report import Report, markdown_report, rich_table
from pagefit.queries import Query

N_PAGES, N_QUERIES = 30, 12


@pytest.fixture
def pages(tmp_path) -> dict[str, str]:
    paths = {}
    for i in range(N_PAGES):
        path = tmp_path / f"p{i}.png"
        Image.new("RGB", (200, 260), (8 * i, 100, 200)).save(path)
        paths[f"doc{i // 5}#p{i % 5 + 1}"] = str(path)
    return paths


def _data(pages: dict[str, str]) -> _Corpus:
    ids = list(pages)
    queries = [
        Query(query_id=f"q{q}", query=f"query {q}", page_ids=[ids[q]], kind="table" if q % 3 else None)
        for q in range(N_QUERIES)
    ]
    return _Corpus(
        path="/corpus",
        page_ids=ids,
        image_paths=list(pages.values()),
        keys=None,
        texts=[""] * len(ids),
        id_order=np.argsort(np.argsort(np.asarray(ids, dtype=object))),
        queries=queries,
    )


def _runs(n_runs: int) -> list[_Run]:
    """'base' ranks the relevant page q-th for query q; 'tuned' puts it first for even queries only."""
    rng = np.random.default_rng(0)
    runs = []
    for r in range(n_runs):
        ranked = np.stack([rng.permutation(N_PAGES) for _ in range(N_QUERIES)])
        for q in range(N_QUERIES):
            target = 0 if (r and q % 2 == 0) else min(q, N_PAGES - 1)
            others = [p for p in ranked[q] if p != q]
            ranked[q] = [*others[:target], q, *others[target:]]
        runs.append(
            _Run(
                ["base", "tuned"][r],
                "m",
                10_000 * (r + 1),
                ranked,
                dim=64,
                by_dim={"32": {PRIMARY_METRIC: 0.4}},
                timing={"search": 0.01},
            )
        )
    return runs


def _report(pages, n_runs: int = 2) -> Report:
    return _build_report(_runs(n_runs), _data(pages), EvalConfig(n_resamples=500))


def test_json_follows_design_schema_and_round_trips(pages):
    report = _report(pages)
    raw = json.loads(report.to_json())
    base, tuned = raw["models"]
    assert base["vs_first"] is None
    assert set(tuned["vs_first"]) >= {"ndcg@10_diff", "ci95", "p_value"}
    assert tuned["vs_first"]["wins"] == N_QUERIES // 2 - 1  # query 0 already had its page first
    assert raw["queries"] == N_QUERIES and len(raw["per_query"]) == N_QUERIES
    assert Report.model_validate(raw) == report
    q3 = report.per_query["q3"].results["base"]
    assert q3.top[3] == "doc0#p4" and q3.metrics["mrr@10"] == pytest.approx(1 / 4)
    assert set(report.model("base").per_kind) == {"table"}
    with pytest.raises(KeyError, match="base"):
        report.model("missing")


def _expected_ndcg10(run: str) -> np.ndarray:
    """NDCG@10 per query written out from how `_runs` ranks (one relevant page: 1 / log2(rank + 1))."""
    rank = np.arange(N_QUERIES) + 1  # 'base' ranks query q's page at q + 1
    if run == "tuned":
        rank = np.where(np.arange(N_QUERIES) % 2 == 0, 1, rank)
    return np.where(rank <= 10, 1 / np.log2(rank + 1), 0.0)


def test_metrics_intervals_and_p_value_equal_independent_references(pages):
    report = _build_report(_runs(2), _data(pages), EvalConfig(n_resamples=20_000))
    base, tuned = _expected_ndcg10("base"), _expected_ndcg10("tuned")
    for name, expected in (("base", base), ("tuned", tuned)):
        entry = report.model(name)
        assert entry.metrics[PRIMARY_METRIC] == pytest.approx(expected.mean())
        assert entry.ci95[PRIMARY_METRIC] == pytest.approx(bootstrap_ci_reference(expected), abs=0.02)
    comparison = report.model("tuned").vs_first
    assert comparison.ndcg_at_10_diff == pytest.approx((tuned - base).mean())
    assert comparison.ci95 == pytest.approx(bootstrap_ci_reference(tuned - base), abs=0.02)
    assert comparison.p_value == pytest.approx(sign_flip_p_value(tuned - base), abs=0.005)


def test_html_is_self_contained_with_plots_and_thumbnails(pages):
    report = _report(pages)
    assert comparison_pair(report) == ("base", "tuned")
    html = render_html(report, pages)
    assert not re.findall(r'(?:src|href)="(?!data:)', html)
    assert html.count("data:image/png;base64,") == 3
    thumbs = re.findall(r"data:image/jpeg;base64,([A-Za-z0-9+/=]+)", html)
    assert thumbs and all(Image.open(io.BytesIO(base64.b64decode(t))).width <= 150 for t in thumbs)
    assert 'class="example"' in html and "win +" in html
    assert "<script" not in html and "query 2" in html


def test_single_entry_report_has_no_comparison(pages):
    report = _report(pages, n_runs=1)
    assert comparison_pair(report) is None
    html = render_html(report, pages)
    assert html.count("data:image/png;base64,") == 2 and 'class="example"' not in html


def test_markdown_and_terminal_table(pages):
    from rich.console import Console

    report = _report(pages)
    md = markdown_report(report)
    assert "| base | 10.0K |" in md and "| tuned |" in md and "baseline" in md and "## By query kind" in md
    console = Console(record=True, width=80)
    console.print(rich_table(report))
    text = console.export_text()
    assert "tuned" in text and "baseline" in text and "…" not in text


def test_wins_and_losses_compare_the_first_with_the_best_other_retriever(pages):
    runs = _runs(2)
    perfect = np.stack([[q, *[p for p in range(N_PAGES) if p != q]] for q in range(N_QUERIES)])
    runs.append(_Run("bm25", "bm25", None, perfect))  # better, but a baseline without parameters
    report = _build_report(runs, _data(pages), EvalConfig(n_resamples=500))
    assert report.model("bm25").metrics[PRIMARY_METRIC] == 1.0
    assert comparison_pair(report) == ("base", "tuned")
    assert comparison_pair(report.model_copy(update={"models": [report.models[0], report.models[2]]})) == (
        "base",
        "bm25",
    )
