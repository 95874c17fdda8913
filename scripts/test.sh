#!/usr/bin/env bash
# Runs every test of safety-deepconf, from a fresh clone on a fresh Debian 12
# machine or on a set-up one:
#
#   scripts/test.sh [--no-sanitize] [--no-fuzz]
#
#   1. scripts/setup.sh: Debian packages and the pinned llama.cpp (cached),
#      then the project built in build/ with warnings as errors.
#   2. ctest in build/: labels unit, model and server (slow ones only with
#      SDC_SLOW=1).
#   3. the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer
#      (build-asan/).
#   4. each libFuzzer target briefly (build-fuzz/, clang; SDC_FUZZ_SECONDS,
#      default 20).
# Ends with one line "N passed, N failed" and exits non-zero on any failure.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SANITIZE=1
FUZZ=1
for a in "$@"; do
    case "$a" in
        --no-sanitize) SANITIZE=0 ;;
        --no-fuzz) FUZZ=0 ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "test.sh: unknown option '$a' (try --help)" >&2; exit 2 ;;
    esac
done
JOBS=$(nproc 2>/dev/null || echo 2)
passed=0
failed=0
failures=""

say() { printf '\n[test] %s\n' "$*"; }

# Adds ctest's counts from its summary line "N% tests passed, F tests failed out of T".
count_ctest() {
    local log=$1 name=$2 line p f t
    line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
    if [ -z "$line" ]; then
        failed=$((failed + 1)); failures="$failures $name(no-summary)"; return
    fi
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/')
    t=$(echo "$line" | sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/')
    p=$((t - f))
    passed=$((passed + p)); failed=$((failed + f))
    [ "$f" = 0 ] || failures="$failures $name"
}

# ---- 1. set up and build ----
say "setting up and building (scripts/setup.sh)"
if ! SDC_WERROR=1 scripts/setup.sh --werror; then
    echo "0 passed, 1 failed"
    exit 1
fi

# ---- 2. all tests ----
labels="unit|model|server"
[ "${SDC_SLOW:-0}" = 1 ] && labels="$labels|slow"
say "ctest -L '$labels' in build/"
(cd build && ctest -L "$labels" -j "$JOBS" --output-on-failure --timeout 900) 2>&1 | tee build/ctest.log
count_ctest build/ctest.log build

# ---- 3. sanitizers ----
if [ "$SANITIZE" = 1 ]; then
    say "unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)"
    if scripts/setup.sh --werror --sanitize --build-dir "$ROOT/build-asan"; then
        (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            ctest -L unit -j "$JOBS" --output-on-failure --timeout 900) 2>&1 | tee build-asan/ctest.log
        count_ctest build-asan/ctest.log asan
    else
        failed=$((failed + 1)); failures="$failures asan-build"
    fi
fi

# ---- 4. fuzzers ----
if [ "$FUZZ" = 1 ] && [ -f tests/fuzz/CMakeLists.txt ]; then
    say "libFuzzer targets, ${SDC_FUZZ_SECONDS:-20} s each (build-fuzz/)"
    if CC=clang scripts/setup.sh --werror --fuzz --build-dir "$ROOT/build-fuzz"; then
        for f in build-fuzz/tests/fuzz/fuzz_*; do
            [ -x "$f" ] || continue
            name=$(basename "$f")
            corpus=tests/fuzz/corpus/${name#fuzz_}
            work=$(mktemp -d)
            [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
            if "$f" -max_total_time="${SDC_FUZZ_SECONDS:-20}" -rss_limit_mb=2048 \
                   -artifact_prefix="build-fuzz/$name-" "$work" >"build-fuzz/$name.log" 2>&1; then
                echo "  $name: no findings ($(grep -Eo 'Done [0-9]+ runs' "build-fuzz/$name.log" | tail -1 | awk '{print $2}') runs)"
                passed=$((passed + 1))
            else
                echo "  $name: FINDING, see build-fuzz/$name.log"; tail -30 "build-fuzz/$name.log"
                failed=$((failed + 1)); failures="$failures $name"
            fi
            rm -rf "$work"
        done
    else
        failed=$((failed + 1)); failures="$failures fuzz-build"
    fi
fi

echo
[ -n "$failures" ] && echo "failed:$failures"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
