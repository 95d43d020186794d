#!/usr/bin/env python3
"""mTLS on the redirected connection: verified client certificates become identities in the policy
and the audit log; everything else is denied before any upstream connect.

One TLS listener (mode required, dev PKI from certs/make-dev-certs.sh, CRL, handshake_timeout 1s)
and a policy over identities: payments (SPIFFE glob) and the DNS-SAN-only certificate (dns_name)
may reach 203.0.113.20:8443/8444; analytics is denied by default there and by rule at .21.
Real clients: `socat OPENSSL:` and `openssl s_client` presenting each dev certificate, lib/client.py
as a plain-TCP client and as one that sends nothing. Each case checks what the client saw, what
the upstreams accepted (nothing on deny) and the connection.decision record (reason, OpenSSL's
detail, identity fields, tls_version); at the end, egressd_tls_handshakes_total by result.
"""

import os
import shutil
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import audit  # noqa: E402
import harness  # noqa: E402
import tls_pki  # noqa: E402

POLICY = """\
kind: Settings
default: deny
mode: enforce
---
kind: Role
name: payments
members:
  - identity: "spiffe://corp.example/ns/payments/sa/*"
---
kind: Role
name: analytics
members:
  - identity: "spiffe://corp.example/ns/analytics/sa/*"
---
kind: Role
name: legacy-batch
members:
  - dns_name: batch.corp.example
---
kind: Destination
name: card-networks
cidrs: [203.0.113.20/32]
ports: [8443, 8444]
---
kind: Destination
name: reports
cidrs: [203.0.113.21/32]
ports: [8443]
---
kind: Rule
id: deny-analytics-reports
action: deny
from: [{role: analytics}]
to: [{destination: reports}]
---
kind: Rule
id: payments-to-card-networks
action: allow
from: [{role: payments}]
to: [{destination: card-networks}]
---
kind: Rule
id: legacy-to-card-networks
action: allow
from: [{role: legacy-batch}]
to: [{destination: card-networks}]
"""

ECHO = "203.0.113.20:8443"
HTTP = "203.0.113.20:8444"
REPORTS = "203.0.113.21:8443"
INTERMEDIATE = "CN=egressd dev intermediate CA"


def run(t: harness.Case) -> None:
    for tool in ("openssl", "socat"):
        t.require(shutil.which(tool) is not None, f"{tool} installed (make deps)")
    pki = tls_pki.make_pki(t.sb, t.args.source_dir)
    echo = t.upstream("echo", [ECHO, REPORTS])
    http = t.upstream("http", [HTTP])
    ups = [echo, http]
    gw = t.egressd(POLICY, {"listeners": [tls_pki.tls_listener(pki, handshake_timeout="1s")]})

    def accepted() -> int:
        return sum(len(u.accepts()) for u in ups)

    def decision(what: str, before: int, **want) -> dict | None:
        found = gw.wait_records(timeout=5, count=before + 1, event="connection.decision")
        t.check(len(found) == before + 1, f"{what}: one decision record", f"{len(found) - before} new")
        if len(found) <= before:
            return None
        rec = found[before]
        for k, v in want.items():
            got = audit._get(rec, k)
            t.check_eq(None if got is audit._MISSING else got, v, f"{what}: {k}", audit.pretty(rec))
        return rec

    def n_decisions() -> int:
        return len(audit.matching(gw.records(), event="connection.decision"))

    # --- allowed: payments over socat, bytes both ways, plaintext byte counts --------------------
    before = n_decisions()
    p = tls_pki.socat(t.sb, pki, ECHO, "payments", "hello over mTLS\n")
    t.check_eq((p.returncode, p.stdout), (0, "hello over mTLS\n"), "payments via socat: echo", p.stderr)
    dec = decision("payments via socat", before, decision="allow", reason="rule",
                   rule="payments-to-card-networks", tls_version="TLSv1.3",
                   **{"identity.spiffe_id": "spiffe://corp.example/ns/payments/sa/api",
                      "identity.uri_sans": ["spiffe://corp.example/ns/payments/sa/api"],
                      "identity.cn": "payments-api"})
    if dec:
        ident = dec.get("identity", {})
        t.check(len(ident.get("fingerprint_sha256", "")) == 64, "payments: SHA-256 fingerprint", str(ident))
        t.check(INTERMEDIATE in ident.get("issuer", ""), "payments: issuer is the intermediate", str(ident))
        t.check(bool(ident.get("serial")) and bool(ident.get("not_after")), "payments: serial and not_after",
                str(ident))
        close = t.check_record(gw, "payments: close record", event="connection.close", conn_id=dec["conn_id"])
        if close:
            t.check_eq((audit.bytes_up(close), audit.bytes_down(close), close.get("reason")), (16, 16, "eof"),
                       "payments: close record counts plaintext bytes, ends eof")
        seen = echo.wait_closes(1)
        t.check_eq([(c["bytes_in"], c["bytes_out"]) for c in seen[-1:]], [(16, 16)],
                   "the echo server saw plaintext: 16 bytes in and out")

    # --- allowed: payments over s_client to HTTP, TLS 1.2; the upstream's close → close_notify ---
    before = n_decisions()
    p = tls_pki.s_client(t.sb, pki, HTTP, "payments", "GET / HTTP/1.0\r\nHost: card\r\n\r\n",
                         ["-quiet", "-tls1_2"])
    t.check("HTTP/1.1 200 OK" in p.stdout, "payments via s_client -tls1_2: HTTP 200 through the gateway",
            p.stdout[-500:] + p.stderr[-500:])
    t.check("unexpected eof" not in p.stderr.lower(),
            "s_client saw close_notify when the upstream closed (no 'unexpected eof')", p.stderr[-500:])
    decision("payments via s_client", before, decision="allow", rule="payments-to-card-networks",
             tls_version="TLSv1.2")

    # --- allowed by dns_name: the certificate without a URI SAN ----------------------------------
    before = n_decisions()
    p = tls_pki.socat(t.sb, pki, ECHO, "dns-only", "legacy\n")
    t.check_eq(p.stdout, "legacy\n", "dns-only via socat: echo", p.stderr)
    dec = decision("dns-only", before, decision="allow", rule="legacy-to-card-networks",
                   **{"identity.dns_sans": ["legacy.corp.example", "batch.corp.example"],
                      "identity.cn": "legacy-batch"})
    if dec:
        t.check(not dec.get("identity", {}).get("spiffe_id"), "dns-only: no spiffe_id", str(dec.get("identity")))

    # --- denied identities: default and rule; no upstream connection ------------------------------
    def denied(what: str, dst: str, cert: str | None, reason: str, detail: str | None = None,
               extra: list[str] | None = None, **want) -> dict | None:
        before, acc = n_decisions(), accepted()
        p = tls_pki.s_client(t.sb, pki, dst, cert, "must-not-leave\n", extra)
        time.sleep(0.2)
        t.check_eq(accepted() - acc, 0, f"{what}: no upstream accepted a connection")
        t.check("must-not-leave" not in p.stdout, f"{what}: nothing echoed", p.stdout[-300:])
        rec = decision(what, before, decision="deny", reason=reason, **want)
        if rec is not None and detail is not None:
            t.check_eq(rec.get("detail"), detail, f"{what}: detail (OpenSSL's words)")
        if rec is not None:
            t.check(not audit.matching(gw.records(), event="connection.close", conn_id=rec["conn_id"]),
                    f"{what}: no close record")
            if reason not in ("rule", "default"):
                # The handshake failed: no verified certificate, so no identity and no version.
                t.check("identity" not in rec and "tls_version" not in rec,
                        f"{what}: no identity, no tls_version in the record", audit.pretty(rec))
        return rec, p

    denied("analytics → card-networks", ECHO, "analytics", "default", tls_version="TLSv1.3",
           **{"identity.spiffe_id": "spiffe://corp.example/ns/analytics/sa/etl",
              "identity.dns_sans": ["etl.analytics.corp.example"]})
    rec, _ = denied("analytics → reports", REPORTS, "analytics", "rule", rule="deny-analytics-reports",
                    tls_version="TLSv1.3")
    if rec:
        t.check_eq(rec.get("identity", {}).get("uri_sans"), ["spiffe://corp.example/ns/analytics/sa/etl"],
                   "analytics: its one URI SAN in the record (an X.509-SVID has no other)")

    # --- handshake failures: the client gets OpenSSL's alert ---------------------------------------
    # -ign_eof: s_client waits for the gateway to close instead of racing its own close (after
    # stdin's EOF) against the alert, which arrives after the client's Finished in TLS 1.3.
    rec, p = denied("no certificate", ECHO, None, "no_client_cert", "peer did not return a certificate",
                    extra=["-ign_eof"])
    t.check("certificate required" in p.stderr, "no certificate: the client got the TLS alert "
            "'certificate required'", p.stderr[-600:])
    rec, p = denied("revoked", ECHO, "revoked", "cert_verify_failed", "certificate revoked",
                    extra=["-ign_eof"])
    t.check("certificate revoked" in p.stderr, "revoked: the client got the 'certificate revoked' alert",
            p.stderr[-600:])
    denied("expired", ECHO, "expired", "cert_verify_failed", "certificate has expired")
    denied("unrelated CA", ECHO, "unrelated", "cert_verify_failed",
           "unable to get local issuer certificate")
    denied("two SPIFFE IDs", ECHO, "two-spiffe", "invalid_svid",
           "2 spiffe:// URI SANs; an X.509-SVID has exactly one")
    denied("EKU serverAuth only", ECHO, "wrong-eku", "cert_verify_failed", "unsuitable certificate purpose")
    denied("revoked, TLS 1.2", ECHO, "revoked", "cert_verify_failed", "certificate revoked", ["-tls1_2"])

    # --- not TLS at all -----------------------------------------------------------------------------
    before, acc = n_decisions(), accepted()
    r = t.client("--dst", ECHO, "--send", "GET / HTTP/1.0\r\n\r\n", "--timeout", "5")
    if r["recv_len"]:
        t.check_eq(r["recv"][:1], "\x15", "plain-TCP client: what comes back is a TLS alert record", str(r))
    t.check(r["end"] in ("eof", "reset"), "plain-TCP client: connection closed", str(r))
    t.check_eq(accepted() - acc, 0, "plain-TCP client: no upstream connection")
    rec = decision("plain-TCP client", before, decision="deny", reason="tls_handshake_failed")
    if rec:
        t.check(bool(rec.get("detail")), "plain-TCP client: OpenSSL's detail", audit.pretty(rec))

    # --- a client that sends nothing: handshake_timeout (1s) -------------------------------------
    before, acc = n_decisions(), accepted()
    r = t.client("--dst", ECHO, "--timeout", "8")
    t.check(r["end"] in ("eof", "reset"), "silent client: closed by the gateway", str(r))
    t.check(0.9 <= r.get("end_s", 0) <= 4, "silent client: closed ≈ handshake_timeout (1s) after connect",
            str(r.get("end_s")))
    t.check_eq(accepted() - acc, 0, "silent client: no upstream connection")
    decision("silent client", before, decision="deny", reason="handshake_timeout",
             detail="no TLS handshake within 1000 ms")

    # --- metrics ----------------------------------------------------------------------------------
    m = tls_pki.tls_handshakes(t.sb, gw.config["admin"]["address"])
    t.check_eq(m, {"ok": 5, "no_client_cert": 1, "cert_verify_failed": 5, "invalid_svid": 1,
                   "tls_handshake_failed": 1, "handshake_timeout": 1},
               "egressd_tls_handshakes_total by result")


harness.main(run, extra_v4=["203.0.113.21"])
