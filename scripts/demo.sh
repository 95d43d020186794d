#!/usr/bin/env bash
# `make demo`: egressd between three network namespaces, with config/ and policy/ from this
# repository and real curl clients: one allowed, one denied by rule, one denied by default; a
# name allowed at its address and the same SNI spoofed to another (name_mismatch), verified
# against a dnsmasq in the sandbox; two mTLS workloads.
# Prints what each client saw and the audit records; tears everything down on every exit path
# (the sandbox lives in tests/e2e/lib, shared with the end-to-end suite).
#
# Usage: scripts/demo.sh [BUILD_DIR]   (default: build; needs root for `ip netns`)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build_dir=${1:-build}
exec python3 tests/e2e/lib/demo.py "$build_dir" --source-dir "$PWD"
