#!/usr/bin/env bash
# Sets up everything safety-deepconf needs on Debian 12 and builds it.
#
#   scripts/setup.sh [--no-build] [--build-dir DIR] [--werror] [--sanitize] [--fuzz]
#
# Idempotent: each step checks whether it is already done.
#   1. Debian packages (apt-get, only when something is missing; needs root).
#   2. llama.cpp, pinned: source from the npm package node-llama-cpp@3.21.1
#      (llama/gitRelease.bundle, sha256 checked), built once into a cache
#      outside the tree ($SDC_CACHE_DIR, default ~/.cache/safety-deepconf)
#      and reused afterwards (SDC_LLAMA_CMAKE_ARGS adds llama.cpp options,
#      e.g. -DGGML_CUDA=ON). Skipped when a llama.cpp is installed on the
#      system (CMake finds llama-config.cmake) or SDC_LLAMA_PREFIX names one.
#   3. The project, configured and built in build/ (or --build-dir):
#      --werror warnings as errors (also when CI=true), --sanitize with
#      ASan+UBSan, --fuzz the libFuzzer targets (CC=clang).
set -euo pipefail

NLC_VERSION=3.21.1
NLC_TGZ_SHA256=7a231d6bafa14142a1cbed9893d4ec5bc6041b2a5f5939a623accaab4203c11f
BUNDLE_SHA256=9336d8aab8f8e6a8919380f3641fe92e57b02fb55df1b6bd083b82491a6293b8
LLAMA_COMMIT=80fb11ac73e66d89eae2c6a91d8a77428fa733ed

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${SDC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/safety-deepconf}
BUILD_DIR=$ROOT/build
DO_BUILD=1
SANITIZE=0
WERROR=0
FUZZ=0
JOBS=$(nproc 2>/dev/null || echo 2)

while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) DO_BUILD=0 ;;
        --build-dir) BUILD_DIR=$2; shift ;;
        --sanitize) SANITIZE=1 ;;
        --werror) WERROR=1 ;;
        --fuzz) FUZZ=1 ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done

say() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# ---- 1. Debian packages ----------------------------------------------------

PKGS="build-essential cmake pkg-config git curl ca-certificates \
libcurl4-openssl-dev libjansson-dev libcsv-dev libyaml-dev libcmocka-dev clang clang-format libclang-rt-14-dev \
libsnappy-dev libzstd-dev zstd zlib1g-dev chromium"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
if [ -n "$missing" ]; then
    say "installing Debian packages:$missing"
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "need root to install:$missing"
        SUDO=sudo
    else
        SUDO=
    fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
else
    say "Debian packages present"
fi

# ---- 2. llama.cpp ------------------------------------------------------------

system_llama() {
    for d in /usr/lib/cmake/llama /usr/local/lib/cmake/llama \
             /usr/lib/x86_64-linux-gnu/cmake/llama /usr/lib/aarch64-linux-gnu/cmake/llama; do
        [ -f "$d/llama-config.cmake" ] && { echo "$d"; return 0; }
    done
    return 1
}

LLAMA_PREFIX=${SDC_LLAMA_PREFIX:-}
LLAMA_SRC=$CACHE/llama.cpp-$LLAMA_COMMIT/src
LLAMA_BLD=$CACHE/llama.cpp-$LLAMA_COMMIT/build
# Extra llama.cpp CMake options, e.g. SDC_LLAMA_CMAKE_ARGS="-DGGML_CUDA=ON" for a
# CUDA build or "-DGGML_VULKAN=ON" (see docs/backend.md); part of the cache key.
LLAMA_EXTRA=${SDC_LLAMA_CMAKE_ARGS:-}
STAMP_OPTS="native=${GGML_NATIVE:-ON}${LLAMA_EXTRA:+ extra=$LLAMA_EXTRA}"

if [ -n "$LLAMA_PREFIX" ]; then
    say "using llama.cpp from SDC_LLAMA_PREFIX=$LLAMA_PREFIX"
elif d=$(system_llama); then
    say "using the system llama.cpp ($d)"
else
    LLAMA_PREFIX=$CACHE/llama.cpp-$LLAMA_COMMIT/prefix
    if [ -f "$LLAMA_PREFIX/.stamp" ] && [ "$(cat "$LLAMA_PREFIX/.stamp")" = "$STAMP_OPTS" ]; then
        say "llama.cpp cached in $LLAMA_PREFIX"
    else
        mkdir -p "$CACHE/npm"
        tgz=$CACHE/npm/node-llama-cpp-$NLC_VERSION.tgz
        if [ ! -f "$tgz" ] || [ "$(sha256sum "$tgz" | cut -d' ' -f1)" != "$NLC_TGZ_SHA256" ]; then
            say "fetching node-llama-cpp@$NLC_VERSION from the npm registry"
            tmp=$(mktemp -d)
            (cd "$tmp" && npm pack --silent "node-llama-cpp@$NLC_VERSION" >/dev/null) \
                || die "npm pack node-llama-cpp@$NLC_VERSION failed (is the npm registry reachable?)"
            mv "$tmp/node-llama-cpp-$NLC_VERSION.tgz" "$tgz"
            rm -rf "$tmp"
        fi
        got=$(sha256sum "$tgz" | cut -d' ' -f1)
        [ "$got" = "$NLC_TGZ_SHA256" ] || die "$tgz: sha256 $got, expected $NLC_TGZ_SHA256"
        bundle=$CACHE/npm/gitRelease.bundle
        tar -xzf "$tgz" -O package/llama/gitRelease.bundle > "$bundle.tmp"
        got=$(sha256sum "$bundle.tmp" | cut -d' ' -f1)
        [ "$got" = "$BUNDLE_SHA256" ] || die "gitRelease.bundle: sha256 $got, expected $BUNDLE_SHA256"
        mv "$bundle.tmp" "$bundle"
        if [ ! -d "$LLAMA_SRC/.git" ]; then
            say "cloning llama.cpp from the bundle"
            rm -rf "$LLAMA_SRC"
            mkdir -p "$(dirname "$LLAMA_SRC")"
            git clone -q "$bundle" "$LLAMA_SRC" 2>/dev/null
        fi
        (cd "$LLAMA_SRC" && git -c advice.detachedHead=false checkout -q "$LLAMA_COMMIT") \
            || die "llama.cpp bundle lacks commit $LLAMA_COMMIT"
        say "building llama.cpp (Release, CPU, static; about 11 minutes on 2 cores)"
        cmake -S "$LLAMA_SRC" -B "$LLAMA_BLD" -DCMAKE_BUILD_TYPE=Release \
            -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE="${GGML_NATIVE:-ON}" \
            -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF \
            -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF \
            -DCMAKE_POSITION_INDEPENDENT_CODE=ON $LLAMA_EXTRA >"$CACHE/llama-configure.log" 2>&1 \
            || die "configuring llama.cpp failed; see $CACHE/llama-configure.log"
        cmake --build "$LLAMA_BLD" -j "$JOBS" --target llama ggml llama-server llama-batched-bench \
            >"$CACHE/llama-build.log" 2>&1 \
            || die "building llama.cpp failed; see $CACHE/llama-build.log"
        rm -rf "$LLAMA_PREFIX"
        mkdir -p "$LLAMA_PREFIX/include" "$LLAMA_PREFIX/lib" "$LLAMA_PREFIX/bin" "$LLAMA_PREFIX/share"
        cp "$LLAMA_SRC"/include/llama*.h "$LLAMA_SRC"/ggml/include/*.h "$LLAMA_PREFIX/include/"
        find "$LLAMA_BLD" -name '*.a' -exec cp {} "$LLAMA_PREFIX/lib/" \;
        cp "$LLAMA_BLD/bin/llama-server" "$LLAMA_BLD/bin/llama-batched-bench" "$LLAMA_PREFIX/bin/"
        cp "$LLAMA_SRC/models/ggml-vocab-qwen2.gguf" "$LLAMA_PREFIX/share/"
        echo "$STAMP_OPTS" > "$LLAMA_PREFIX/.stamp"
        say "llama.cpp installed in $LLAMA_PREFIX"
    fi
fi

# ---- 3. the project ------------------------------------------------------------

[ "$DO_BUILD" = 1 ] || exit 0

cfg=(-S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo)
[ -n "$LLAMA_PREFIX" ] && cfg+=(-DSDC_LLAMA_PREFIX="$LLAMA_PREFIX")
if [ "$WERROR" = 1 ] || [ "${CI:-}" = true ]; then cfg+=(-DSDC_WERROR=ON); fi
[ "$FUZZ" = 1 ] && cfg+=(-DSDC_FUZZ=ON -DSDC_BUILD_TESTS=OFF)
[ "$SANITIZE" = 1 ] && cfg+=(-DSDC_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
say "configuring and building the project in $BUILD_DIR"
cmake "${cfg[@]}" >/dev/null
if ! cmake --build "$BUILD_DIR" -j "$JOBS" >"$BUILD_DIR/build.log" 2>&1; then
    grep -E 'error|warning' "$BUILD_DIR/build.log" | head -40 >&2
    die "project build failed; see $BUILD_DIR/build.log"
fi
say "done: $BUILD_DIR/safety-deepconf"
