#!/bin/sh
# run_throughput.sh - a whole compare run against llama.cpp's engine
# (issue 12's targets): generated tokens per wall second of the run
# against llama-batched-bench's S_TG at the P the run chose, the run's peak
# RSS against weights + the KV it sized + 15%, and the traces file's bytes
# per generated token (traces.jsonl.zst by default; -s "--compress none"
# measures the plain traces.jsonl). Then, with -k, the knee: llama-batched-bench's S_TG for
# each P of the list.
#
#   bench/run_throughput.sh [-m MODEL] [-n INSTANCES] [-t THREADS] [-r REPS]
#                           [-k "1 2 4 8 16 32 64"] [-w "1 2 4 8 16 32 64"] [-s ARGS]
#
# Defaults: the 0.6B-shaped Q8_0 demo model (`model mkdemo --shape 0.6b`),
# 40 synthetic instances, 2 threads, best of 2, default settings (-s adds
# flags to the compare, e.g. "--slots 8"). Runs alternate ours / theirs so
# a drifting machine load hits both; say whether the machine was shared.
# -w is the knee of a whole run: the compare (with -s's flags) at
# --slots P for each P of the list, tokens per wall second; only the knee
# tables are printed when -r is 0.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
sdc=${SDC_BINARY:-$here/build/safety-deepconf}
bindir=${SDC_LLAMA_BIN_DIR:-$(ls -d "$HOME"/.cache/safety-deepconf/llama.cpp-*/prefix/bin 2>/dev/null | tail -1)}
model=""
n=40
threads=2
reps=2
knee=""
wknee=""
extra=""
while getopts m:n:t:r:k:w:s: o; do
    case $o in
    m) model=$OPTARG ;;
    n) n=$OPTARG ;;
    t) threads=$OPTARG ;;
    r) reps=$OPTARG ;;
    k) knee=$OPTARG ;;
    w) wknee=$OPTARG ;;
    s) extra=$OPTARG ;;
    *) echo "usage: $0 [-m MODEL] [-n N] [-t THREADS] [-r REPS] [-k LIST] [-w LIST] [-s ARGS]" >&2; exit 2 ;;
    esac
done
if [ -z "$model" ]; then
    model=$here/build/bench-qwen3-0.6b-q8_0.gguf
    [ -f "$model" ] || "$sdc" model mkdemo --shape 0.6b --quant Q8_0 --seed 1 -o "$model" >&2
fi
[ -x "$bindir/llama-batched-bench" ] || { echo "no llama-batched-bench in '$bindir'" >&2; exit 1; }
repack=""
grep -q ' amx_int8' /proc/cpuinfo 2>/dev/null && repack="--no-repack"
work=$(mktemp -d /tmp/sdc-throughput-XXXXXX)
trap 'rm -rf "$work"' EXIT

# S_TG of llama-batched-bench: prompt L (shared), G generated, P sequences.
engine() {
    "$bindir/llama-batched-bench" -m "$model" -c "$(($3 * ($1 + $2 + 1) + 256))" -b 2048 \
        -ub 512 -npp "$1" -ntg "$2" -npl "$3" -pps -t "$threads" $repack \
        --output-format jsonl 2>/dev/null |
        sed -n 's/.*"speed_tg": *\([0-9.eE+-]*\).*/\1/p' | head -1
}

# One compare: prints "tokens seconds rss_bytes traces_bytes P ctx weights kv prompt_tokens".
run() {
    rm -rf "$work/run"
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    /usr/bin/time -f '%M' -o "$work/rss" "$sdc" compare --model "$model" --num-instances "$n" \
        --threads "$threads" --out "$work/run" $extra >/dev/null 2>"$work/err"
    t1=$(date +%s.%N)
    note=$(grep -m1 'traces x' "$work/err" || true)
    python3 - "$work/run" "$t0" "$t1" "$(cat "$work/rss")" "$note" <<'EOF'
import json, re, sys, os, subprocess
d, t0, t1, rss_kib, note = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
path = os.path.join(d, "traces.jsonl.zst")
if os.path.exists(path):  # zstd frames: zstdcat gives the JSONL
    text = subprocess.run(["zstdcat", path], check=True, capture_output=True).stdout
else:
    path = os.path.join(d, "traces.jsonl")
    text = open(path, "rb").read()
tok = sum(json.loads(line)["n_evaluated"] for line in text.splitlines())
m = re.search(r"(\d+) traces x (\d+) tokens.*weights (\d+) MiB \+ KV (\d+) MiB", note)
p, ctx, w, kv = (m.groups() if m else ("0", "0", "0", "0"))
print(tok, t1 - t0, rss_kib * 1024, os.path.getsize(path), p, ctx, w, kv)
EOF
}

echo "model $model, $n instances, threads $threads, best of $reps, extra '$extra', load $(cut -d' ' -f1-3 /proc/loadavg)"
best_run=0 best_eng=0
r=0
while [ "$r" -lt "$reps" ]; do
    r=$((r + 1))
    set -- $(run)
    tok=$1 sec=$2 rss=$3 tbytes=$4 P=$5 ctx=$6 w=$7 kv=$8
    rate=$(awk -v a="$tok" -v b="$sec" 'BEGIN{print a / b}')
    best_run=$(awk -v a="$best_run" -v b="$rate" 'BEGIN{print (b>a)?b:a}')
    # the engine at the same P, prompt ~ the synthetic prompts, generation the run's mean
    G=$(awk -v a="$tok" -v n="$n" 'BEGIN{g = int(a / (n * 10)); print g < 16 ? 16 : g}')
    eng=$(engine 64 "$G" "$P")
    best_eng=$(awk -v a="$best_eng" -v b="$eng" 'BEGIN{print (b>a)?b:a}')
    echo "rep $r: $tok tokens in $sec s = $rate t/s; engine S_TG at P $P (L 64, G $G): $eng t/s"
done
[ "$reps" -gt 0 ] && awk -v o="$best_run" -v e="$best_eng" -v rss="$rss" -v w="$w" -v kv="$kv" -v tb="$tbytes" \
    -v tok="$tok" -v P="$P" -v ctx="$ctx" 'BEGIN{
    printf "%-44s %12s %12s\n", "target", "measured", "goal"
    printf "%-44s %12.3f %12s\n", "run t/s / engine S_TG at P " P, (e > 0 ? o / e : 0), ">= 0.85"
    printf "%-44s %12.3f %12s\n", "peak RSS / (weights + KV " ctx "x" P ")", rss / ((w + kv) * 1048576), "<= 1.15"
    printf "%-44s %12.1f %12s\n", "traces file bytes / generated token", tb / tok, "<= 250"
    printf "run %.2f t/s, engine %.2f t/s, peak RSS %.0f MiB, weights %d MiB, KV %d MiB\n",
           o, e, rss / 1048576, w, kv}'

if [ -n "$knee" ]; then
    printf '\nknee: llama-batched-bench S_TG (L 64, G 32)\n%4s %12s\n' P tg_t/s
    for P in $knee; do
        printf '%4d %12s\n' "$P" "$(engine 64 32 "$P")"
    done
fi

if [ -n "$wknee" ]; then
    base_extra=$extra
    printf '\nknee: a whole compare of %d instances (%s) at --slots P\n%4s %12s %10s\n' "$n" "$base_extra" P run_t/s tokens
    for P in $wknee; do
        extra="$base_extra --slots $P"
        set -- $(run)
        printf '%4d %12.2f %10d\n' "$P" "$(awk -v a="$1" -v b="$2" 'BEGIN{print a / b}')" "$1"
    done
fi
