#!/usr/bin/env bash
# `make demo`: egressd between three network namespaces, with config/ and policy/ from this
# repository and real curl clients: one allowed, one denied by rule, one denied by default.
# Prints what each client saw and the audit records; tears everything down on every exit path
# (the sandbox lives in tests/e2e/lib, shared with the end-to-end suite).
#
# Usage: scripts/demo.sh [BUILD_DIR]   (default: build; needs root for `ip netns`)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build_dir=${1:-build}
exec python3 tests/e2e/lib/demo.py "$build_dir" --source-dir "$PWD"
