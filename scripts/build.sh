#!/usr/bin/env bash
# Configures and builds mixsweep. Usage: scripts/build.sh BUILD_DIR [cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-build}"; shift || true
cmake -S . -B "$dir" "$@" >/dev/null
cmake --build "$dir" -j "$(nproc)"
