#!/usr/bin/env bash
# Development PKI for egressd: a root CA, an intermediate, the gateway's server certificate and
# client certificates for every case the tests need. ECDSA P-256 throughout. FOR DEVELOPMENT AND
# TESTS ONLY: real deployments bring their own material (see certs/README.md).
#
# Usage: certs/make-dev-certs.sh [OUT_DIR] [--force]
#   OUT_DIR defaults to certs/out next to this script (git-ignored).
#   Idempotent: existing material is kept (a running gateway keeps working); only missing files are
#   made, CRLs are re-issued every run. --force (or a layout version change) starts from scratch.
#
# Files written (keys mode 0600, certificates 0644):
#   ca.pem                    client_ca bundle: intermediate + root
#   ca-root.pem/.key          dev root CA                (CN=egressd dev root CA)
#   ca-intermediate.pem/.key  dev intermediate CA        (CN=egressd dev intermediate CA), signs leaves
#   gateway.pem/.key          server cert + intermediate (DNS egressd.local, localhost; IP 192.0.2.1,
#                             2001:db8:1::1, 127.0.0.1, ::1)
#   payments.pem/.key         URI spiffe://corp.example/ns/payments/sa/api
#   analytics.pem/.key        DNS etl.analytics.corp.example, URI spiffe://corp.example/ns/analytics/sa/etl
#                             (the SPIFFE ID is not the first SAN; an SVID has no other URI SAN)
#   dns-only.pem/.key         DNS legacy.corp.example, batch.corp.example; CN legacy-batch; no URI
#   revoked.pem/.key          URI spiffe://corp.example/ns/payments/sa/revoked, revoked in ca.crl
#   expired.pem/.key          URI spiffe://corp.example/ns/payments/sa/expired, valid 2020-01-01..02
#   unrelated.pem/.key        URI spiffe://corp.example/ns/payments/sa/api, signed by unrelated-ca
#   two-spiffe.pem/.key       URIs spiffe://corp.example/ns/payments/sa/api and .../analytics/sa/etl
#   wrong-eku.pem/.key        URI spiffe://corp.example/ns/payments/sa/api, EKU serverAuth only
#   unrelated-ca.pem/.key     an unrelated CA (CN=unrelated CA)
#   ca.crl                    root CRL + intermediate CRL revoking revoked.pem
#   ca-revokes-payments.crl   as ca.crl, and also revoking payments.pem (SIGHUP CRL swap test)
#   empty.crl                 root CRL + intermediate CRL revoking nothing
#   unrelated.crl             a CRL issued by unrelated-ca (a CRL "from another CA")
# Client .pem files hold the leaf followed by the intermediate (as SPIRE and cert-manager write
# tls.crt); unrelated.pem holds the leaf only.
set -euo pipefail

LAYOUT_VERSION=2
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${SCRIPT_DIR}/out"
FORCE=0
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    -*) echo "make-dev-certs.sh: unknown option $arg" >&2; exit 2 ;;
    *) OUT="$arg" ;;
  esac
done

command -v openssl >/dev/null || { echo "make-dev-certs.sh: openssl not found" >&2; exit 1; }

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
STATE="$OUT/.ca-state"

if [[ $FORCE == 1 || "$(cat "$OUT/.layout-version" 2>/dev/null)" != "$LAYOUT_VERSION" ]]; then
  rm -rf "${OUT:?}"/* "$STATE" "$OUT/.layout-version"
fi

# Everything made from here on is private until chmod'ed: keys stay 0600.
umask 077

log() { printf 'make-dev-certs: %s\n' "$*" >&2; }

new_key() { # path
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
  chmod 600 "$1"
}

# A minimal `openssl ca` setup per CA: its own database, serial and CRL number, so that CRLs are
# real (`openssl ca -gencrl`) and certificates can be revoked.
ca_init() { # name cert key
  local dir="$STATE/$1"
  mkdir -p "$dir"
  [[ -f $dir/index.txt ]] || : >"$dir/index.txt"
  [[ -f $dir/index.txt.attr ]] || echo "unique_subject = no" >"$dir/index.txt.attr"
  [[ -f $dir/serial ]] || openssl rand -hex 16 >"$dir/serial"
  [[ -f $dir/crlnumber ]] || echo 1000 >"$dir/crlnumber"
  cat >"$dir/ca.cnf" <<EOF
[ ca ]
default_ca = this_ca
[ this_ca ]
dir               = $dir
database          = \$dir/index.txt
serial            = \$dir/serial
crlnumber         = \$dir/crlnumber
new_certs_dir     = \$dir
certificate       = $2
private_key       = $3
default_md        = sha256
default_days      = 825
default_crl_days  = 3650
policy            = policy_any
copy_extensions   = none
email_in_dn       = no
name_opt          = ca_default
cert_opt          = ca_default
preserve          = yes
[ policy_any ]
organizationName  = optional
organizationalUnitName = optional
commonName        = optional
EOF
}

# Extensions for every certificate this script issues; one section each.
EXT="$STATE/extensions.cnf"
write_extensions() {
  cat >"$EXT" <<'EOF'
[ v3_root ]
basicConstraints       = critical, CA:true, pathlen:1
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
[ v3_intermediate ]
basicConstraints       = critical, CA:true, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
[ v3_unrelated_ca ]
basicConstraints       = critical, CA:true
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
[ server ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
subjectAltName         = DNS:egressd.local, DNS:localhost, IP:192.0.2.1, IP:2001:db8:1::1, IP:127.0.0.1, IP:::1
EOF
  local name san eku
  while IFS='|' read -r name eku san; do
    cat >>"$EXT" <<EOF
[ $name ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = $eku
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
subjectAltName         = $san
EOF
  done <<'EOF'
payments|clientAuth|URI:spiffe://corp.example/ns/payments/sa/api
analytics|clientAuth|DNS:etl.analytics.corp.example, URI:spiffe://corp.example/ns/analytics/sa/etl
dns-only|clientAuth|DNS:legacy.corp.example, DNS:batch.corp.example
revoked|clientAuth|URI:spiffe://corp.example/ns/payments/sa/revoked
expired|clientAuth|URI:spiffe://corp.example/ns/payments/sa/expired
unrelated|clientAuth|URI:spiffe://corp.example/ns/payments/sa/api
two-spiffe|clientAuth|URI:spiffe://corp.example/ns/payments/sa/api, URI:spiffe://corp.example/ns/analytics/sa/etl
wrong-eku|serverAuth|URI:spiffe://corp.example/ns/payments/sa/api
EOF
}

make_self_signed_ca() { # base subject extensions
  local base=$1
  if [[ -f $OUT/$base.pem && -f $OUT/$base.key ]]; then return; fi
  log "new CA $base ($2)"
  new_key "$OUT/$base.key"
  openssl req -x509 -new -key "$OUT/$base.key" -subj "$2" -days 3650 -sha256 \
    -config "$EXT" -extensions "$3" -out "$OUT/$base.pem" 2>/dev/null
  chmod 644 "$OUT/$base.pem"
}

# issue CA_NAME BASE SUBJECT EXTENSIONS [extra `openssl ca` args...]: key + CSR + signed cert.
issue() {
  local ca=$1 base=$2 subject=$3 ext=$4
  shift 4
  local dir="$STATE/$ca"
  new_key "$OUT/$base.key"
  openssl req -new -key "$OUT/$base.key" -subj "$subject" -out "$STATE/$base.csr" 2>/dev/null
  openssl ca -batch -notext -config "$dir/ca.cnf" -extfile "$EXT" -extensions "$ext" \
    -in "$STATE/$base.csr" -out "$STATE/$base.leaf.pem" "$@" 2>/dev/null
}

mkdir -p "$STATE"
write_extensions

# A CA's key is the root of everything below it: if it is missing, every issued file is stale.
if [[ ! -f $OUT/ca-root.key || ! -f $OUT/ca-intermediate.key || ! -f $OUT/ca-intermediate.pem ]]; then
  rm -rf "${OUT:?}"/* "$STATE"
  mkdir -p "$STATE"
  write_extensions
fi

make_self_signed_ca ca-root "/O=egressd dev/CN=egressd dev root CA" v3_root
ca_init root "$OUT/ca-root.pem" "$OUT/ca-root.key"

if [[ ! -f $OUT/ca-intermediate.pem ]]; then
  log "new intermediate CA"
  issue root ca-intermediate "/O=egressd dev/CN=egressd dev intermediate CA" v3_intermediate -days 3650
  cp "$STATE/ca-intermediate.leaf.pem" "$OUT/ca-intermediate.pem"
  chmod 644 "$OUT/ca-intermediate.pem"
fi
ca_init intermediate "$OUT/ca-intermediate.pem" "$OUT/ca-intermediate.key"

make_self_signed_ca unrelated-ca "/O=somebody else/CN=unrelated CA" v3_unrelated_ca
ca_init unrelated "$OUT/unrelated-ca.pem" "$OUT/unrelated-ca.key"

cat "$OUT/ca-intermediate.pem" "$OUT/ca-root.pem" >"$OUT/ca.pem"
chmod 644 "$OUT/ca.pem"

# leaf CA BASE SUBJECT EXTENSIONS [extra args]: a leaf written as BASE.pem (leaf + chain) + BASE.key.
leaf() {
  local ca=$1 base=$2
  if [[ -f $OUT/$base.pem && -f $OUT/$base.key ]]; then return; fi
  log "new certificate $base"
  issue "$@"
  if [[ $ca == intermediate ]]; then
    cat "$STATE/$base.leaf.pem" "$OUT/ca-intermediate.pem" >"$OUT/$base.pem"
  else
    cp "$STATE/$base.leaf.pem" "$OUT/$base.pem"
  fi
  chmod 644 "$OUT/$base.pem"
}

leaf intermediate gateway "/O=egressd dev/CN=egressd.local" server
leaf intermediate payments "/O=corp.example/OU=payments/CN=payments-api" payments
leaf intermediate analytics "/O=corp.example/OU=analytics/CN=analytics-etl" analytics
leaf intermediate dns-only "/O=corp.example/CN=legacy-batch" dns-only
leaf intermediate revoked "/O=corp.example/OU=payments/CN=payments-revoked" revoked
leaf intermediate expired "/O=corp.example/OU=payments/CN=payments-expired" expired \
  -startdate 20200101000000Z -enddate 20200102000000Z
leaf intermediate two-spiffe "/O=corp.example/CN=two-spiffe" two-spiffe
leaf intermediate wrong-eku "/O=corp.example/OU=payments/CN=wrong-eku" wrong-eku
leaf unrelated unrelated "/O=corp.example/OU=payments/CN=payments-api" unrelated

# Revocations live in each CA's database, so they survive re-runs; -revoke is idempotent only
# when we check the index first.
revoke() { # ca_state_dir cert
  local serial
  serial=$(openssl x509 -in "$2" -noout -serial | cut -d= -f2)
  if ! grep -q "^R.*	$serial	" "$1/index.txt"; then
    openssl ca -batch -config "$1/ca.cnf" -revoke "$2" -crl_reason keyCompromise 2>/dev/null
  fi
}

gencrl() { # ca_state_dir out
  openssl ca -batch -config "$1/ca.cnf" -gencrl -out "$2" 2>/dev/null
}

# ca.crl: the intermediate revokes revoked.pem. CRL_CHECK_ALL needs a CRL for every CA in the
# chain, so each CRL file carries the root's (empty) CRL too.
revoke "$STATE/intermediate" "$OUT/revoked.pem"
gencrl "$STATE/root" "$STATE/root.crl"
gencrl "$STATE/intermediate" "$STATE/intermediate.crl"
cat "$STATE/intermediate.crl" "$STATE/root.crl" >"$OUT/ca.crl"

# ca-revokes-payments.crl: a copy of the intermediate's database where payments.pem is revoked too.
rm -rf "$STATE/intermediate-swap"
cp -r "$STATE/intermediate" "$STATE/intermediate-swap"
sed -i "s|^dir *=.*|dir = $STATE/intermediate-swap|" "$STATE/intermediate-swap/ca.cnf"
revoke "$STATE/intermediate-swap" "$OUT/payments.pem"
gencrl "$STATE/intermediate-swap" "$STATE/intermediate-swap.crl"
cat "$STATE/intermediate-swap.crl" "$STATE/root.crl" >"$OUT/ca-revokes-payments.crl"

# empty.crl: a fresh database that has revoked nothing (same issuer, same key).
rm -rf "$STATE/intermediate-empty"
mkdir -p "$STATE/intermediate-empty"
cp "$STATE/intermediate/serial" "$STATE/intermediate/crlnumber" "$STATE/intermediate-empty/"
ca_init intermediate-empty "$OUT/ca-intermediate.pem" "$OUT/ca-intermediate.key"
gencrl "$STATE/intermediate-empty" "$STATE/intermediate-empty.crl"
cat "$STATE/intermediate-empty.crl" "$STATE/root.crl" >"$OUT/empty.crl"

gencrl "$STATE/unrelated" "$OUT/unrelated.crl"

chmod 644 "$OUT"/*.crl
echo "$LAYOUT_VERSION" >"$OUT/.layout-version"
log "certificates in $OUT"
