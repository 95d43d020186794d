#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time from its seed corpus: ctest's fuzz.<target>
# (tests/fuzz/CMakeLists.txt), `make fuzz` and CI. The seeds stay as they are: new inputs go to
# WORK_DIR/corpus, a finding to WORK_DIR/artifacts/ (replay: FUZZER WORK_DIR/artifacts/crash-...).
# Usage: run-fuzzer.sh FUZZER SEED_DIR WORK_DIR SECONDS [libFuzzer flags...]
set -euo pipefail
fuzzer=$(realpath "$1") seeds=$(realpath "$2") work=$(realpath -m "$3") seconds=$4
shift 4
name=$(basename "$fuzzer")
if ! compgen -G "$seeds/*" >/dev/null; then
  echo "$name: no seed corpus in $seeds: every target keeps one (tests/fuzz/README.md)" >&2
  exit 1
fi
# Symbolized stacks in a finding's report (llvm-14 has no unversioned llvm-symbolizer in PATH).
if [[ -z "${ASAN_SYMBOLIZER_PATH:-}" && -x /usr/lib/llvm-14/bin/llvm-symbolizer ]]; then
  export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer
fi
export UBSAN_OPTIONS="print_stacktrace=1:${UBSAN_OPTIONS:-}"
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
cd "$work" # audit_reader_fuzz writes its scratch file in the working directory
set +e
"$fuzzer" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "$@" corpus "$seeds"
rc=$?
set -e
if ((rc != 0)); then
  echo "$name: exit $rc; findings:" >&2
  ls -l "$work/artifacts" >&2
fi
exit "$rc"
