#!/bin/sh
# bench/openai_vs_embedded.sh - the speed check of issue 4: the openai
# backend against llama-server with P slots versus the embedded llama
# backend at parallel P, on the 0.6B-shaped demo model (random weights,
# Qwen3-0.6B's exact tensors), streaming and top-20 logprobs on.
#
#   bench/openai_vs_embedded.sh [BUILD_DIR] [-- extra options]
#
# Environment: PARALLEL (default 1,4,8), TOKENS (64), THREADS (all cores),
# REPS (2), MODEL (default: made once under ~/.cache/safety-deepconf/bench).
# Prints a Markdown table; the issue asks for openai / embedded >= 0.9.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
prefix=$(ls -d "$HOME"/.cache/safety-deepconf/llama.cpp-*/prefix 2>/dev/null | head -n 1)
server=${LLAMA_SERVER:-$prefix/bin/llama-server}
[ -x "$server" ] || { echo "llama-server not found (set LLAMA_SERVER)" >&2; exit 1; }
cmake --build "$build" -j2 --target safety-deepconf bench_openai_vs_embedded >&2
model=${MODEL:-$HOME/.cache/safety-deepconf/bench/qwen3-0.6b-demo-q8_0.gguf}
if [ ! -f "$model" ]; then
    mkdir -p "$(dirname "$model")"
    "$build/safety-deepconf" model mkdemo --shape 0.6b --quant Q8_0 -o "$model" >&2
fi
echo "machine: $(nproc) cores, $(uname -m); model: $model" >&2
exec "$build/bench/bench_openai_vs_embedded" --model "$model" --llama-server "$server" \
    --parallel "${PARALLEL:-1,4,8}" --tokens "${TOKENS:-64}" --reps "${REPS:-2}" \
    ${THREADS:+--threads "$THREADS"}
