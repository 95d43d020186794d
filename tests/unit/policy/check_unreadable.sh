#!/bin/sh
# check_unreadable.sh EGRESSCTL POLICY_DIR: `egressctl policy check` on a copy of POLICY_DIR with
# an unreadable *.yaml entry (a dangling symlink, a FIFO) must exit 1 and name the entry and why,
# never say ok (issue 17 item 1). The FIFO must not block the check (the test has a timeout).
egressctl=$1
policy=$2
here=$(dirname "$0")
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0
run() {  # run LINE: checks $tmp/p, expecting LINE as its only error
  printf '%s\n' "$1" > "$tmp/expected"
  printf '1 error(s)\n' >> "$tmp/expected"
  "$here/expect_exit.sh" 1 "$tmp/expected" "$egressctl" policy check "$tmp/p" || fail=1
}
cp -r "$policy" "$tmp/p" || exit 1
ln -s gone.yaml "$tmp/p/15-deny.yaml"
run \
  '15-deny.yaml: error: cannot read: No such file or directory (dangling symlink to "gone.yaml")'
rm "$tmp/p/15-deny.yaml"
mkfifo "$tmp/p/15-deny.yaml" || exit 1
run '15-deny.yaml: error: cannot read: not a regular file (a FIFO)'
exit $fail
