#!/usr/bin/env bash
# Installs egressd's build, test, demo and bench dependencies from Debian's archive.
# Idempotent: runs `apt-get update` only when something is missing.
set -euo pipefail

packages=(
  # build
  g++ cmake ninja-build pkg-config make git
  libboost1.81-dev libboost-json1.81-dev libssl-dev libyaml-cpp-dev libre2-dev
  libspdlog-dev libfmt-dev libcli11-dev
  libgit2-dev libc-ares-dev
  zlib1g-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  clang-format ccache
  # libFuzzer targets (make fuzz) and their symbolizer
  clang-14 llvm-14
  # tests and demo: real clients and servers inside network namespaces
  iproute2 iptables socat curl openssl python3 python3-jsonschema python3-yaml python3-requests
  procps psmisc
  dnsmasq-base
  # deployment file checks
  docker-compose
  # man pages, the Debian package (dpkg-shlibdeps) and its checks
  help2man dpkg-dev logrotate man-db
)
if [[ "${EGRESS_BENCH_DEPS:-0}" == 1 ]]; then
  # bench: comparison subjects (HAProxy; Squid with ssl_bump, for the hostname workload), the
  # hostname workload's TLS upstream (nginx) and clients
  packages+=(haproxy squid-openssl nginx-light iperf3 wrk)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]} (run as root, or install them)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
