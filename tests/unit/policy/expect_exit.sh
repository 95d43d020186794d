#!/bin/sh
# expect_exit.sh CODE EXPECTED_FILE CMD...: runs CMD, asserts its exit code is CODE and that every
# line of EXPECTED_FILE appears (as a fixed string) in its combined stdout and stderr.
code=$1
expected=$2
shift 2
out=$("$@" 2>&1)
rc=$?
printf '%s\n' "$out"
if [ "$rc" -ne "$code" ]; then
  echo "expect_exit: exit code $rc, expected $code" >&2
  exit 1
fi
fail=0
while IFS= read -r line; do
  [ -z "$line" ] && continue
  if ! printf '%s\n' "$out" | grep -qF -- "$line"; then
    echo "expect_exit: missing line: $line" >&2
    fail=1
  fi
done < "$expected"
exit $fail
