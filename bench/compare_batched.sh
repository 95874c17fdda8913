#!/bin/sh
# compare_batched.sh - generation speed of `safety-deepconf bench generate`
# (top-20 logprobs and a per-token observer on) against llama.cpp's own
# llama-batched-bench with the same model, threads, shared prompt length,
# parallel width and generation length. Prints one row per P and the
# ratio ours / llama.cpp of the aggregate generation rate.
#
#   bench/compare_batched.sh [-m MODEL] [-t THREADS] [-L PROMPT] [-G GEN] [-p "1 4 8 16"] [-r REPS]
#
# Defaults: the 0.6B-shaped Q8_0 demo model (made with `model mkdemo
# --shape 0.6b` when missing), 2 threads, L 128, G 32, P 1 4 8 16, 1 rep.
# Runs alternate ours / theirs per P so a drifting machine load hits both.
# Weight repacking is off on both sides on CPUs with AMX int8 (llama.cpp's
# AMX Q8_0 kernels crash there; see docs/backend.md).
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
sdc=${SDC_BINARY:-$here/build/safety-deepconf}
bindir=${SDC_LLAMA_BIN_DIR:-$(ls -d "$HOME"/.cache/safety-deepconf/llama.cpp-*/prefix/bin 2>/dev/null | tail -1)}
model=""
threads=2
L=128
G=32
Ps="1 4 8 16"
reps=1
while getopts m:t:L:G:p:r: o; do
    case $o in
    m) model=$OPTARG ;;
    t) threads=$OPTARG ;;
    L) L=$OPTARG ;;
    G) G=$OPTARG ;;
    p) Ps=$OPTARG ;;
    r) reps=$OPTARG ;;
    *) echo "usage: $0 [-m MODEL] [-t THREADS] [-L PROMPT] [-G GEN] [-p LIST] [-r REPS]" >&2; exit 2 ;;
    esac
done
if [ -z "$model" ]; then
    model=$here/build/bench-qwen3-0.6b-q8_0.gguf
    [ -f "$model" ] || "$sdc" model mkdemo --shape 0.6b --quant Q8_0 --seed 1 -o "$model" >&2
fi
[ -x "$bindir/llama-batched-bench" ] || { echo "no llama-batched-bench in '$bindir'" >&2; exit 1; }

repack=""
grep -q ' amx_int8' /proc/cpuinfo 2>/dev/null && repack="--no-repack"

num() { sed -n "s/.*\"$1\": *\([0-9.eE+-]*\).*/\1/p" | head -1; }

echo "model $model, threads $threads, prompt $L (shared), gen $G, reps $reps, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%4s %14s %14s %8s %14s %14s %12s\n' P ours_tg_t/s llama_tg_t/s ratio ours_pp_t/s llama_pp_t/s ours_rss_MiB
for P in $Ps; do
    ours_best=0 ours_pp=0 rss=0 theirs_best=0 theirs_pp=0
    r=0
    while [ "$r" -lt "$reps" ]; do
        r=$((r + 1))
        j=$("$sdc" bench generate --model "$model" --traces "$P" --parallel "$P" \
            --prompt-tokens "$L" --gen-tokens "$((G + 1))" --threads "$threads" --json)
        # G + 1 tokens = G decodes after the prompt, as llama-batched-bench's TG does.
        tg=$(echo "$j" | num decoded_tokens_per_s)
        pp=$(echo "$j" | num prompt_tokens_per_s)
        rs=$(echo "$j" | num peak_rss_bytes)
        ours_best=$(awk -v a="$ours_best" -v b="$tg" 'BEGIN{print (b>a)?b:a}')
        ours_pp=$(awk -v a="$ours_pp" -v b="$pp" 'BEGIN{print (b>a)?b:a}')
        rss=$rs
        ctx=$((P * (L + G + 1) + 256))
        k=$("$bindir/llama-batched-bench" -m "$model" -c "$ctx" -b 2048 -ub 512 -npp "$L" \
            -ntg "$G" -npl "$P" -pps -t "$threads" $repack --output-format jsonl 2>/dev/null |
            grep '"speed_tg"')
        ktg=$(echo "$k" | num speed_tg)
        kpp=$(echo "$k" | num speed_pp)
        theirs_best=$(awk -v a="$theirs_best" -v b="$ktg" 'BEGIN{print (b>a)?b:a}')
        theirs_pp=$(awk -v a="$theirs_pp" -v b="$kpp" 'BEGIN{print (b>a)?b:a}')
    done
    awk -v P="$P" -v o="$ours_best" -v t="$theirs_best" -v op="$ours_pp" -v tp="$theirs_pp" \
        -v rss="$rss" 'BEGIN{printf "%4d %14.2f %14.2f %8.3f %14.2f %14.2f %12.1f\n",
                             P, o, t, (t > 0 ? o / t : 0), op, tp, rss / 1048576}'
done
