"""Journey 6: search your pages with a model: embed every page once (cached), then rank them for a query.

    HF_HUB_OFFLINE=1 .venv/bin/python examples/06_search_with_your_model.py CORPUS MODEL "your question"

CORPUS is a folder from `pagefit ingest`; MODEL a trained model folder (e.g. OUT/model of example 01),
a hub name or the built-in `ocr-minilm`. The page embeddings are cached under the model's fingerprint
and each page's content hash, so only the first search encodes the corpus (and `pagefit eval`/`mine`
share that cache). Prints: rank, score, page id and the start of the page's text.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pagefit.corpus import corpus_image_paths, load_corpus
from pagefit.embeddings import encode_pages, encode_queries, truncate_embeddings
from pagefit.errors import PagefitError
from pagefit.models import load_model


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("corpus", type=Path, help="a corpus folder from `pagefit ingest`")
    parser.add_argument("model", help="model folder, hub name or `ocr-minilm`")
    parser.add_argument("query", nargs="+", help="one or more queries")
    parser.add_argument("--top-k", type=int, default=5, help="pages shown per query")
    parser.add_argument("--dim", type=int, default=None, help="search at this Matryoshka dimension")
    args = parser.parse_args()

    # 1. Load the model and the corpus table (page ids, image paths, content hashes, text).
    model = load_model(args.model)
    pages = load_corpus(args.corpus)
    paths = corpus_image_paths(args.corpus, pages)

    # 2. Page embeddings: read from the cache, encoding only pages this model has not seen yet.
    page_emb = encode_pages(model, paths, keys=pages["image_hash"])
    query_emb = encode_queries(model, args.query)
    if args.dim:  # both sides cut to the first `dim` values (and re-normalised)
        page_emb, query_emb = (
            truncate_embeddings(page_emb, args.dim),
            truncate_embeddings(query_emb, args.dim),
        )

    # 3. Score with the model's own similarity function and print the best pages.
    scores = model.similarity(query_emb, page_emb)
    for query, row in zip(args.query, scores, strict=True):
        print(f"query: {query}")
        best = row.topk(min(args.top_k, len(row)))
        for rank, (score, i) in enumerate(zip(best.values.tolist(), best.indices.tolist(), strict=True), 1):
            snippet = " ".join(pages[i]["text"].split())[:70]
            print(f"{rank:>3}  {score:.4f}  {pages[i]['page_id']}  {snippet}")


if __name__ == "__main__":
    try:
        main()
    except PagefitError as error:
        sys.exit(f"pagefit: {error}")
