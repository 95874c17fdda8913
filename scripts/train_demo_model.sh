#!/bin/sh
# train_demo_model.sh - reproduces the committed demonstration model
# (models/safety-deepconf-demo.gguf) from a clean checkout and the shared
# datasets: builds the corpus, trains, quantises to Q8_0, plots the loss per
# epoch (OUT.loss.svg), records sha256.
#
#   scripts/setup.sh && cmake --build build -j2
#   scripts/train_demo_model.sh   # 4 epochs: about 14 min on one core
#
# Environment: SDC_DATASETS (default /work/shared/datasets), BIN (default
# build/safety-deepconf), OUT (default models/safety-deepconf-demo.gguf),
# EPOCHS, BENIGN (compliances per refusal in the corpus, default 0.75),
# THREADS (default 1: the recipe's numbers were made with one), SHAPE (default small).
set -eu
cd "$(dirname "$0")/.."
DATASETS=${SDC_DATASETS:-/work/shared/datasets}
BIN=${BIN:-build/safety-deepconf}
OUT=${OUT:-models/safety-deepconf-demo.gguf}
EPOCHS=${EPOCHS:-4}
BENIGN=${BENIGN:-0.75}
THREADS=${THREADS:-1}
SHAPE=${SHAPE:-small}
CORPUS=${CORPUS:-build/demo-corpus.jsonl}

"$BIN" data corpus --datasets "$DATASETS" --seed 1 --refusals-per-prompt 3 \
    --benign-per-harmful "$BENIGN" -o "$CORPUS"
"$BIN" model train --shape "$SHAPE" --corpus "$CORPUS" --epochs "$EPOCHS" --lr 2e-3 \
    --ctx 128 --seed 1 --threads "$THREADS" -o "$OUT"
scripts/plot_loss.sh "${OUT%.gguf}.loss.csv" > "${OUT%.gguf}.loss.svg"
(cd "$(dirname "$OUT")" && sha256sum "$(basename "$OUT")" > "$(basename "$OUT" .gguf).sha256")
cat "${OUT%.gguf}.sha256"
