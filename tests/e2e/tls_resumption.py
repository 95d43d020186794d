#!/usr/bin/env python3
"""TLS session resumption on the mTLS listener, with real `openssl s_client -sess_out/-sess_in`.

TLS 1.3 (one stateful ticket) and TLS 1.2 (server session cache): the second connection says
"Reused", is allowed with the identity of the certificate verified in the first handshake (the
audit record of the resumed connection carries it), and both reach the upstream. After a SIGHUP
the listener has a new context, so a saved session is not resumed (a full handshake instead).
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
kind: Rule
id: payments-to-card-networks
action: allow
from: [{identity: "spiffe://corp.example/ns/payments/sa/*"}]
to: [{cidrs: [203.0.113.20/32], ports: [8444]}]
"""
HTTP = "203.0.113.20:8444"
PAYMENTS = "spiffe://corp.example/ns/payments/sa/api"


def run(t: harness.Case) -> None:
    t.require(shutil.which("openssl") is not None, "openssl installed (make deps)")
    pki = tls_pki.make_pki(t.sb, t.args.source_dir)
    http = t.upstream("http", [HTTP])
    gw = t.egressd(POLICY, {"listeners": [tls_pki.tls_listener(pki)]})

    def get(sess_flag: str, sess, version: str):
        before = len(audit.matching(gw.records(), event="connection.decision"))
        p = tls_pki.s_client(t.sb, pki, HTTP, "payments", "GET / HTTP/1.0\r\n\r\n",
                             ["-ign_eof", version, sess_flag, str(sess)])
        recs = gw.wait_records(timeout=5, count=before + 1, event="connection.decision")[before:]
        return p, (recs[0] if recs else {})

    for version, label in (("-tls1_3", "TLSv1.3"), ("-tls1_2", "TLSv1.2")):
        sess = t.sb.dir / f"sess-{label}.pem"
        p, first = get("-sess_out", sess, version)
        t.check("HTTP/1.1 200 OK" in p.stdout and sess.exists(), f"{label}: first connection, session saved",
                p.stdout[-300:] + p.stderr[-300:])
        t.check("New, " in p.stdout, f"{label}: first connection is a full handshake", p.stdout[-200:])
        p, second = get("-sess_in", sess, version)
        t.check("Reused, " in p.stdout, f"{label}: second connection says Reused",
                [line for line in p.stdout.splitlines() if "New," in line or "Reused," in line])
        t.check("HTTP/1.1 200 OK" in p.stdout, f"{label}: the resumed connection is relayed", p.stdout[-300:])
        for name, rec in (("first", first), ("resumed", second)):
            t.check_eq((rec.get("decision"), rec.get("tls_version"), rec.get("identity", {}).get("spiffe_id")),
                       ("allow", label, PAYMENTS), f"{label}: {name} connection: allow, version, identity")
        t.check_eq(second.get("identity", {}).get("fingerprint_sha256"),
                   first.get("identity", {}).get("fingerprint_sha256"),
                   f"{label}: the resumed connection carries the first one's certificate")

    # A reload replaces the context and its session cache: no resumption across it.
    sess = t.sb.dir / "sess-reload.pem"
    get("-sess_out", sess, "-tls1_3")
    gw.reload()
    time.sleep(0.5)
    p, rec = get("-sess_in", sess, "-tls1_3")
    t.check("New, " in p.stdout and "Reused" not in p.stdout, "after SIGHUP: a full handshake, not Reused",
            p.stdout[-300:])
    t.check_eq(rec.get("decision"), "allow", "after SIGHUP: still allowed")
    t.check_eq(len(http.wait_closes(6)), 6, "the HTTP server served every allowed connection")


harness.main(run)
