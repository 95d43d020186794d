#!/usr/bin/env bash
# Prints the Debian packages that provide the shared libraries the given ELF binaries load, one per
# line, sorted. The Dockerfile's build stage runs it on egressd and egressctl and the runtime stage
# installs exactly that list: the runtime libraries follow scripts/install-deps.sh (the -dev
# packages the build used) instead of being a second list kept by hand.
#
# Usage: deploy/docker/runtime-packages.sh BINARY...
# Exit status 1 when a library is not found or belongs to no package.
set -euo pipefail

(($# > 0)) || { echo "usage: $0 BINARY..." >&2; exit 2; }
for bin in "$@"; do
  [[ -f $bin ]] || { echo "runtime-packages.sh: $bin: no such file" >&2; exit 1; }
done

libs=$(ldd "$@" 2>&1) || { echo "runtime-packages.sh: ldd failed:" >&2; echo "$libs" >&2; exit 1; }
if grep -q 'not found' <<<"$libs"; then
  echo "runtime-packages.sh: unresolved libraries:" >&2
  grep 'not found' <<<"$libs" >&2
  exit 1
fi
status=0
owners=()
while IFS= read -r lib; do
  # Debian 12 is usr-merged: ldd may say /lib/... where dpkg recorded /usr/lib/... or the reverse.
  if ! owner=$(dpkg -S "$lib" 2>/dev/null) && ! owner=$(dpkg -S "$(realpath "$lib")" 2>/dev/null) &&
    ! owner=$(dpkg -S "/usr$lib" 2>/dev/null); then
    echo "runtime-packages.sh: $lib belongs to no Debian package" >&2
    status=1
    continue
  fi
  owner=${owner%%:*}
  owners+=("${owner%%,*}")
done < <(awk '$2 == "=>" && $3 ~ /^\// {print $3}' <<<"$libs" | sort -u)
((status == 0)) || exit 1
printf '%s\n' "${owners[@]}" | sort -u
