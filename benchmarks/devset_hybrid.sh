#!/usr/bin/env bash
# The #26 levers on the development set (../shared/devset), the road as a user runs it, one pairs/mine and
# several trainings on it; each model evaluated on the hand-written queries with BM25 and the hybrids, at
# the default (query-adaptive) fusion and at one weight 0.5 for every query. Not part of `make bench`.
#   benchmarks/devset_hybrid.sh CORPUS DEVSET_OUT WORKDIR [PAIRS OPTIONS...]
#   VARIANTS="base:;hyb:--set hybrid_loss=true" benchmarks/devset_hybrid.sh ...   (name:train options;...)
# CORPUS: `pagefit ingest DEVSET_OUT/images --ocr always --out CORPUS`; DEVSET_OUT: the folder build.sh wrote.
set -euo pipefail
CORPUS=${1:?corpus folder}; DEV=${2:?devset folder written by build.sh}; W=${3:?work folder}; shift 3
P=${PAGEFIT:-.venv/bin/pagefit}; export HF_HUB_OFFLINE=1
[ -f "$W/pairs/pagefit_pairs.json" ] || $P pairs "$CORPUS" --generate text --per-page 4 --eval-fraction 0.2 \
    --out "$W/pairs" --no-progress "$@"
[ -f "$W/mined/dataset_dict.json" ] || $P mine "$W/pairs" --model ocr-minilm --num-negatives 1 --out "$W/mined" --no-progress
IFS=';' read -ra VS <<< "${VARIANTS:-base:}"
models=()
for v in "${VS[@]}"; do
  name=${v%%:*}; args=${v#*:}
  # shellcheck disable=SC2086
  [ -f "$W/m-$name/train_summary.json" ] || $P train "$W/mined" --preset ocr-minilm --out "$W/m-$name" --no-progress $args
  models+=(-m "$W/m-$name")
done
$P eval --corpus "$CORPUS" --queries "$DEV/queries.jsonl" -m ocr-minilm "${models[@]}" --bm25 --hybrid weighted \
    --out "$W/report" --no-progress
$P eval --corpus "$CORPUS" --queries "$DEV/queries.jsonl" -m ocr-minilm "${models[@]}" --bm25 --hybrid weighted \
    --fusion-weight 0.5 --out "$W/report-w05" --no-progress
