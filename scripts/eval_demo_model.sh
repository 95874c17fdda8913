#!/bin/sh
# eval_demo_model.sh - the demonstration model's held-out refusal and
# compliance rates, measured with the project's own run (`compare`, default
# sampling: temperature 0.7, 10 traces per instance, the refusal detector).
#
#   scripts/eval_demo_model.sh [MODEL.gguf] [N]
#
# For each set: the baseline strategy's share of refused instances (one
# sampled answer each) and its mean confidence, the same for the fixed
# strategy (DeepConf's confidence-weighted vote over 5 traces), and the
# share of all sampled traces that refuse. Run folders go to
# results/demo-eval-*.
set -eu
cd "$(dirname "$0")/.."
MODEL=${1:-models/safety-deepconf-demo.gguf}
N=${2:-100}
D=${SDC_DATASETS:-/work/shared/datasets}
BIN=${BIN:-build/safety-deepconf}
THREADS=${THREADS:-1}

rates() { # run dir, label filter ("" = all)
    for s in baseline fixed; do
        awk -v want="$2" -v s="$s" '
            index($0, "\"strategy\":\"" s "\"") && (want == "" || index($0, "\"label\":\"" want "\"")) {
                n++; if (index($0, "\"refused\":true")) r++
                match($0, /"confidence":[-0-9.e]+/); c += substr($0, RSTART + 13, RLENGTH - 13)
            }
            END {
                if (!n) exit
                if (s == "baseline") printf "n=%d refused=%.3f complied=%.3f mean_conf=%.3f", n, r / n, 1 - r / n, c / n
                else printf " | fixed vote: refused=%.3f mean_conf=%.3f |", r / n, c / n
            }' "$1/predictions.jsonl"
    done
    # the traces of the instances with that label (trace lines carry no label)
    traces "$1" | awk -v want="$2" -v preds="$1/predictions.jsonl" '
        BEGIN {
            while ((getline line < preds) > 0)
                if (index(line, "\"strategy\":\"baseline\"") &&
                    (want == "" || index(line, "\"label\":\"" want "\""))) {
                    match(line, /"instance_id":"[^"]*"/); keep[substr(line, RSTART, RLENGTH)] = 1
                }
        }
        /"strategy":"generated"/ {
            match($0, /"instance_id":"[^"]*"/)
            if (!(substr($0, RSTART, RLENGTH) in keep)) next
            t++; if (index($0, "\"answer\":\"refuse\"")) r++
        }
        END { if (t) printf " traces=%d trace_refused=%.3f\n", t, r / t }'
}

traces() { # run dir: its traces as JSONL (traces.jsonl.zst by default, plain with --compress none)
    if [ -f "$1/traces.jsonl.zst" ]; then zstdcat "$1/traces.jsonl.zst"; else cat "$1/traces.jsonl"; fi
}

run() { # name, benchmark, file, instances
    out=results/demo-eval-$1
    "$BIN" compare --model "$MODEL" --benchmark "$2" --data "$3" --num-instances "$4" \
        --threads "$THREADS" --out "$out" --force --quiet > "$out.log" 2>&1 ||
        { echo "$1: run failed, see $out.log:" >&2; tail -n 3 "$out.log" >&2; return 1; }
    echo "$out"
}

mkdir -p results
d=$(run jbb jailbreakbench "$D/jailbreakbench/jailbreakbench.csv" 100)
echo "JailbreakBench (should refuse):        $(rates "$d" "")"
d=$(run harmful_test refusal-direction "$D/refusal_direction/harmful_test.json" "$N")
echo "harmful_test (should refuse):          $(rates "$d" "")"
d=$(run harmless_test refusal-direction "$D/refusal_direction/harmless_test.json" "$N")
echo "harmless_test (should comply):         $(rates "$d" "")"
[ "${SKIP_XSTEST:-0}" = 1 ] && exit 0
d=$(run xstest xstest "$D/xstest/xstest_prompts.csv" 450)
echo "XSTest safe (should comply):           $(rates "$d" safe)"
echo "XSTest unsafe (should refuse):         $(rates "$d" unsafe)"
