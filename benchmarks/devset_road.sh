#!/usr/bin/env bash
# The road exactly as a user runs it, on the real development set (../shared/devset; images built by its
# build.sh): ingest page images with OCR -> pairs --generate text -> mine -> train -> eval on the
# hand-written queries (never seen by training), with BM25 and weighted hybrid. Not part of `make bench`.
#   benchmarks/devset_road.sh DEVSET_OUT WORKDIR      (DEVSET_OUT: the folder build.sh wrote)
set -euo pipefail
DEV=${1:?devset folder written by build.sh}; W=${2:?work folder}
P=${PAGEFIT:-.venv/bin/pagefit}; export HF_HUB_OFFLINE=1
mkdir -p "$W"
[ -f "$W/corpus/manifest.json" ] || $P ingest "$DEV/images" --ocr always --workers 2 --no-progress --out "$W/corpus"
[ -f "$W/pairs/pagefit_pairs.json" ] || $P pairs "$W/corpus" --generate text --per-page 4 --eval-fraction 0.2 --out "$W/pairs" --no-progress
[ -f "$W/mined/dataset_dict.json" ] || $P mine "$W/pairs" --model ocr-minilm --num-negatives 1 --out "$W/mined" --no-progress
[ -f "$W/model/train_summary.json" ] || $P train "$W/mined" --preset ocr-minilm --out "$W/model" --no-progress
$P eval --corpus "$W/corpus" --queries "$DEV/queries.jsonl" -m ocr-minilm -m "$W/model" --bm25 --hybrid weighted \
    --out "$W/report" --no-progress
