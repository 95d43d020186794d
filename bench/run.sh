#!/usr/bin/env bash
# egressd vs HAProxy (vs Squid) vs the direct path in a network-namespace sandbox (issues 7, 19, 20). See bench/README.md.
#   bench/run.sh [BUILD_DIR] [--quick] [--check] [--proxies egressd,haproxy,squid,direct] [--workloads a,b] [--runs N]
# BUILD_DIR defaults to build/; egressd is BUILD_DIR/egressd (or $EGRESSD). Needs root (namespaces,
# iptables inside them), haproxy, iperf3, wrk, openssl, socat, curl, dnsmasq, cc; squid (squid-openssl)
# for the subject squid (skipped when missing).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

build=$repo/build
if [[ $# -gt 0 && $1 != -* ]]; then
  build=$(cd "$1" && pwd)
  shift
fi
check=0
for a in "$@"; do [[ $a == --check ]] && check=1; done

python=/usr/bin/python3
[[ -x $python ]] || python=python3

# The upstream HTTP server / sink and connect_rate's client, compiled for this machine into a temporary directory (not part
# of the CMake build; nothing is written into the build directory).
tools=$(mktemp -d /tmp/egress-bench-tools.XXXXXX)
trap 'rm -rf "$tools"' EXIT
cc -O2 -Wall -Wextra -Werror -o "$tools/upstream" "$here/lib/upstream.c"
cc -O2 -Wall -Wextra -Werror -o "$tools/connect_client" "$here/lib/connect_client.c"

if ((check)); then
  # Harness scripts parse; then bench.py --check validates the HAProxy config (haproxy -c) and
  # egressd's generated config (egressd --check-config) when egressd is built.
  bash -n "$here/run.sh" "$here/lib/make-certs.sh"
  "$python" -m py_compile "$here"/lib/*.py
  "$python" -m unittest -q "$here"/lib/test_*.py
  echo "harness scripts: ok"
  "$python" "$here/lib/bench.py" --build "$build" --tools "$tools" "$@"
  exit
fi

for tool in haproxy iperf3 wrk openssl socat curl ip iptables ss dnsmasq; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found (EGRESS_BENCH_DEPS=1 scripts/install-deps.sh)" >&2; exit 1; }
done
if [[ $(id -u) -ne 0 ]]; then
  echo "bench: needs root for network namespaces" >&2
  exit 1
fi
# 5,000 idle connections through a proxy need 10,000+ descriptors in the proxy; the redecide
# workloads' 10,000 held connections 20,000+ in egressd (client and upstream sides) and 10,000 in
# the client. Root may raise the hard limit (up to fs.nr_open); this shell's children inherit it.
hard=$(ulimit -Hn)
if [[ $hard != unlimited ]] && ((hard < 262144)); then ulimit -Hn 262144 2>/dev/null || true; fi
ulimit -n "$(ulimit -Hn)"
"$python" "$here/lib/bench.py" --build "$build" --tools "$tools" "$@"
