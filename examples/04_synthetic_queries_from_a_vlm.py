"""Journey 4: realistic training queries written by a vision-language model that looks at each page.

A VLM served behind an OpenAI-compatible endpoint (vLLM, Ollama, TGI, llama.cpp, OpenAI) reads every
page image and writes queries; pagefit drops malformed, copied or page-referring ones, then keeps a
query only if a retrieval model finds its page in the top k (round-trip filter); hard negatives are mined.

    vllm serve Qwen/Qwen2.5-VL-7B-Instruct --port 8000          # or: ollama pull qwen2.5vl
    python examples/04_synthetic_queries_from_a_vlm.py CORPUS OUT \
        --base-url http://localhost:8000/v1 --model Qwen/Qwen2.5-VL-7B-Instruct

CORPUS is a folder from `pagefit ingest`. Answers are cached per page, so a killed run resumes without
asking again; pages that still fail are listed in OUT/pairs/generation_failures.jsonl. Next step:
`pagefit train OUT/mined --preset ocr-minilm --out OUT/model` (or example 03 on a GPU).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pagefit.errors import PagefitError
from pagefit.mine import mine
from pagefit.pairs import pairs
from pagefit.querygen import make_generator


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("corpus", type=Path, help="a corpus folder from `pagefit ingest`")
    parser.add_argument("out", type=Path, help="working folder: pairs/ and mined/")
    parser.add_argument("--base-url", required=True, help="API root, e.g. http://localhost:11434/v1 (Ollama)")
    parser.add_argument("--model", required=True, help="the model name the server knows")
    parser.add_argument(
        "--api-key-env", default="OPENAI_API_KEY", help="variable holding the API key, if any"
    )
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight at once")
    parser.add_argument("--per-page", type=int, default=3, help="queries asked per page")
    parser.add_argument(
        "--filter-model", default="ocr-minilm", help="round-trip retrieval model ('none': off)"
    )
    parser.add_argument(
        "--filter-top-k", type=int, default=10, help="keep a query if its page ranks this high"
    )
    parser.add_argument("--negatives", type=int, default=3, help="hard negatives mined per query")
    args = parser.parse_args()

    # 1. The generator: one chat request per page image, retried with backoff, answers cached on disk.
    generator = make_generator("openai", base_url=args.base_url, model=args.model,
                               api_key_env=args.api_key_env, concurrency=args.concurrency)  # fmt: skip

    # 2. Pairs: generate, filter (format, copying, round trip), split by document.
    filter_model = None if args.filter_model == "none" else args.filter_model
    split = pairs(args.corpus, args.out / "pairs", generate=generator, per_page=args.per_page,
                  filter_model=filter_model, filter_top_k=args.filter_top_k)  # fmt: skip
    print(
        f"{split.train_queries} train / {split.eval_queries} eval queries on {split.pages_with_queries} pages"
    )
    print(f"dropped by the filters: {split.filtered}; pages without queries: {split.failures}")

    # 3. Mine hard negatives with the same retrieval model (its page embeddings are already cached).
    mined = mine(args.out / "pairs", args.corpus, filter_model or "ocr-minilm", args.out / "mined",
                 num_negatives=args.negatives)  # fmt: skip
    print(f"mined rows: {mined.rows}; training data: {args.out / 'mined'}")


if __name__ == "__main__":
    try:
        main()
    except PagefitError as error:
        sys.exit(f"pagefit: {error}")
