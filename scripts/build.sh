#!/usr/bin/env bash
# Configures and builds mixsweep. Usage: scripts/build.sh BUILD_DIR [cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-build}"; shift || true
# ccache keys on paths relative to the checkout, so that build directories
# (build-test, build-sanitize, ...) share one cache.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
# ...and without the build directory in the hash of -g compiles (ccache's
# hash_dir), which would otherwise keep them apart.
export CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
cmake -S . -B "$dir" "$@" >/dev/null
cmake --build "$dir" -j "$(nproc)"
