#!/usr/bin/env bash
# Throwaway ECDSA P-256 certificates for the benchmark, used when certs/out/ (certs/make-dev-certs.sh)
# is absent: a CA, the gateway's server certificate, and two client certificates whose URI SAN is a
# SPIFFE ID of the example policy (payments: allowed; analytics: denied) and whose CN names the same
# workload (HAProxy 2.6 has no URI-SAN sample fetch, so its ACL matches the CN).
#   make-certs.sh DIR   writes DIR/{ca.pem,ca.key,gateway.pem,gateway.key,
#                       payments.pem,payments.key,analytics.pem,analytics.key}
set -euo pipefail
dir=${1:?usage: make-certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
umask 077

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

key ca.key
openssl req -x509 -new -key ca.key -sha256 -days 30 -subj "/CN=egressd bench CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out ca.pem 2>/dev/null

leaf() { # name subject-CN extensions...
  local name=$1 cn=$2
  shift 2
  key "$name.key"
  openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr" 2>/dev/null
  local ext
  ext=$(mktemp)
  printf '%s\n' "$@" >"$ext"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 -days 30 \
    -extfile "$ext" -out "$name.pem" 2>/dev/null
  rm -f "$name.csr" "$ext"
}

leaf gateway gateway.bench.example \
  "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
  "extendedKeyUsage=serverAuth" "subjectAltName=DNS:gateway.bench.example"
leaf payments payments-api \
  "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
  "extendedKeyUsage=clientAuth" "subjectAltName=URI:spiffe://corp.example/ns/payments/sa/api"
leaf analytics analytics-etl \
  "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
  "extendedKeyUsage=clientAuth" "subjectAltName=URI:spiffe://corp.example/ns/analytics/sa/etl"
chmod 600 ./*.key
