#!/usr/bin/env python3
"""One table of (client, destination) cases through a transparent listener and through a CONNECT
listener: the same decision, reason and rule for every row (issue 20: "decided by the same policy
code as transparent mode, so the same cases give the same decisions in both modes").

One egressd, one policy (lib/policies.py's LAB plus rules for a second client and for mTLS
identities), four listeners: transparent `egress` (15001, plain, the sandbox's REDIRECT) and
`egress-tls` (15002, mTLS required; connections to port 8443 are redirected to it), and CONNECT
`connect` (15080, plain) and `connect-tls` (15443, mTLS required); the REDIRECT lets connections to
the CONNECT ports through. A row's client is a source address (the client namespace has two per
family: 192.0.2.2/.3, 2001:db8:1::2/::3) and, for the rows to port 8443, a dev certificate
(payments, analytics, dns-only) presented to the mTLS listener of each mode. Each row connects
directly (redirected) and as `CONNECT <ip literal>`, writing the same line and reading it back
when allowed (over TLS, the client half-closes with its close_notify):

* the two decision records agree with each other and with the row's expectation: decision,
  reason, rule, dst, the identity's SPIFFE ID (and the policy_version);
* allowed: the echo comes back both ways (the CONNECT answer is 200) and each close record counts
  the line; denied: the transparent client is reset with nothing read, the CONNECT client reads a
  403 whose Egressd-Decision is the record's conn_id; no upstream accepts a denied row's connection;
* the gateway's own addresses with either listener's port are `loop` in both modes;
* an allowed destination where nothing listens ends upstream_refused in both modes (a reset, 502).
"""

import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import audit  # noqa: E402
import connect  # noqa: E402
import harness  # noqa: E402
import observe  # noqa: E402
import policies  # noqa: E402
import tls_pki  # noqa: E402
from connect import PLAIN_PORT, TLS_PORT  # noqa: E402
from sandbox import IF_CLIENT, IF_GW_CLIENT, REDIRECT_PORT  # noqa: E402

TLS_REDIRECT_PORT = 15002  # the transparent mTLS listener: connections to port 8443 go there

POLICY = policies.docs(policies.LAB, """\
kind: Rule
id: batch-smtp
action: allow
from: [{source: 192.0.2.3/32}]
to: [{cidrs: [203.0.113.20/32], ports: [25]}]
""", """\
kind: Rule
id: deny-batch-v6
action: deny
from: [{source: "2001:db8:1::3/128"}]
to: [{cidrs: ["2001:db8:2::/64"]}]
""", """\
kind: Role
name: payments
members: [{identity: "spiffe://corp.example/ns/payments/sa/*"}]
---
kind: Role
name: analytics
members: [{identity: "spiffe://corp.example/ns/analytics/sa/*"}]
---
kind: Rule
id: deny-analytics-cards
action: deny
from: [{role: analytics}]
to: [{cidrs: [203.0.113.20/32], ports: [8443]}]
---
kind: Rule
id: payments-cards
action: allow
from: [{role: payments}]
to: [{cidrs: [203.0.113.20/32, "2001:db8:2::20/128"], ports: [8443]}]
""")

A4, B4, A6, B6 = "192.0.2.2", "192.0.2.3", "2001:db8:1::2", "2001:db8:1::3"
NAT64_13 = "64:ff9b::cb00:710d"  # 203.0.113.13, in deny_destinations, inside the NAT64 prefix

# (client address, client certificate or None, destination, expected (decision, reason, rule),
# the close reason when allowed)
TABLE = [
    (A4, None, "203.0.113.10:7", ("allow", "rule", "clients-to-lab"), "eof"),
    (B4, None, "203.0.113.10:7", ("allow", "rule", "clients-to-lab"), "eof"),
    (A4, None, "203.0.113.66:7", ("deny", "rule", "deny-blocklist"), None),
    (A4, None, "203.0.113.99:7", ("deny", "default", None), None),
    (A4, None, "203.0.113.13:7", ("deny", "deny_destination", None), None),
    (A4, None, "203.0.113.20:25", ("deny", "default", None), None),
    (B4, None, "203.0.113.20:25", ("allow", "rule", "batch-smtp"), "eof"),
    (A6, None, "[2001:db8:2::10]:7", ("allow", "rule", "clients-to-lab"), "eof"),
    (B6, None, "[2001:db8:2::10]:7", ("deny", "rule", "deny-batch-v6"), None),
    (A6, None, "[2001:db8:2::13]:7", ("deny", "deny_destination", None), None),
    (A6, None, f"[{NAT64_13}]:7", ("deny", "deny_destination", None), None),
    (A4, None, f"203.0.113.254:{REDIRECT_PORT}", ("deny", "loop", None), None),
    (A6, None, f"[2001:db8:2::fe]:{PLAIN_PORT}", ("deny", "loop", None), None),
    (A4, None, "203.0.113.10:81", ("allow", "rule", "clients-to-lab"), "upstream_refused"),
    (A4, "payments", "203.0.113.20:8443", ("allow", "rule", "payments-cards"), "eof"),
    (A6, "payments", "[2001:db8:2::20]:8443", ("allow", "rule", "payments-cards"), "eof"),
    (A4, "analytics", "203.0.113.20:8443", ("deny", "rule", "deny-analytics-cards"), None),
    (B4, "dns-only", "203.0.113.20:8443", ("deny", "default", None), None),
]
SPIFFE = {"payments": "spiffe://corp.example/ns/payments/sa/api",
          "analytics": "spiffe://corp.example/ns/analytics/sa/etl", "dns-only": ""}  # no URI SAN


def run(t: harness.Case) -> None:
    sb = t.sb
    sb.ip(sb.client, "addr", "add", f"{B4}/24", "dev", IF_CLIENT)
    sb.ip(sb.client, "addr", "add", f"{B6}/64", "dev", IF_CLIENT, "nodad")
    connect.exempt(sb, PLAIN_PORT, TLS_PORT)
    for tool in ("iptables", "ip6tables"):
        sb.exec(sb.gateway, [tool, "-w", "-t", "nat", "-I", "PREROUTING", "-i", IF_GW_CLIENT, "-p", "tcp",
                             "--dport", "8443", "-j", "REDIRECT", "--to-ports", str(TLS_REDIRECT_PORT)])
    pki = tls_pki.make_pki(sb, t.args.source_dir)
    tls = tls_pki.tls_listener(pki)["tls"]
    echo = t.upstream("echo", ["203.0.113.10:7", "[2001:db8:2::10]:7", "203.0.113.20:25", "203.0.113.66:7",
                               "203.0.113.99:7", "203.0.113.13:7", "[2001:db8:2::13]:7", "203.0.113.20:8443",
                               "[2001:db8:2::20]:8443"], "echo")
    gw = t.egressd(POLICY, {"listeners": [
        {"name": "egress", "address": f"[::]:{REDIRECT_PORT}", "destination": "original_dst"},
        {"name": "egress-tls", "address": f"[::]:{TLS_REDIRECT_PORT}", "destination": "original_dst", "tls": tls},
        connect.listener("connect", PLAIN_PORT),
        connect.listener("connect-tls", TLS_PORT, tls=tls)]})

    for i, (client, cert, dst, want, close_reason) in enumerate(TABLE):
        row = f"row {i + 1} {client}{' ' + cert if cert else ''} → {dst}"
        line = f"row {i + 1} from {client}\n".encode()
        allowed = want[0] == "allow"
        expect = len(line) if allowed and close_reason == "eof" else 0
        proxy = connect.proxy(TLS_PORT if cert else PLAIN_PORT, v6=":" in client)
        extra = {}
        if cert:
            extra["tls"] = dict(connect.tls_plan(pki, cert), server_name="egressd.local")
        accepted = len(echo.accepts())

        # Transparent: straight to the destination, redirected by the kernel.
        r_t = connect.request(t, {"dst": dst, "bind": client, "delay": 0.2, "after_hex": line.hex(),
                                  "expect": expect, **extra})
        # CONNECT: the same destination as an IP literal.
        r_c = connect.request(t, {"proxy": proxy, "bind": client, "target": dst, "after_hex": line.hex(),
                                  "expect": expect, **extra})
        d_t = connect.decision(t, gw, r_t, f"{row} (transparent)")
        d_c = connect.decision(t, gw, r_c, f"{row} (CONNECT)")
        got_t = (d_t.get("decision"), d_t.get("reason"), d_t.get("rule"))
        got_c = (d_c.get("decision"), d_c.get("reason"), d_c.get("rule"))
        t.check_eq(got_t, want, f"{row}: transparent decision, reason, rule")
        t.check_eq(got_c, got_t, f"{row}: CONNECT gives the transparent decision, reason, rule")
        t.check_eq((audit.endpoint(d_c.get("dst")), audit.host(d_c.get("src"))),
                   (audit.endpoint(d_t.get("dst")), audit.host(d_t.get("src"))), f"{row}: same dst and src address")
        t.check_eq(audit.endpoint(d_t.get("dst")), dst, f"{row}: dst as written")
        t.check_eq(d_c.get("policy_version"), d_t.get("policy_version"), f"{row}: same policy_version")
        t.check_eq((d_t.get("listener"), d_c.get("listener")),
                   ("egress-tls", "connect-tls") if cert else ("egress", "connect"), f"{row}: listeners")
        if cert:
            id_t, id_c = d_t.get("identity", {}), d_c.get("identity", {})
            t.check_eq((id_t.get("spiffe_id"), id_c.get("spiffe_id")), (SPIFFE[cert], SPIFFE[cert]),
                       f"{row}: the certificate's SPIFFE ID in both records")
            fp = id_t.get("fingerprint_sha256")
            t.check(bool(fp) and fp == id_c.get("fingerprint_sha256"), f"{row}: the same certificate in both records",
                    f"{id_t} / {id_c}")
        else:
            t.check("identity" not in d_t and "identity" not in d_c, f"{row}: no identity on plain TCP")

        ans = r_c.get("answer")
        if allowed and close_reason == "eof":
            t.check(bytes.fromhex(r_t["tunnel_hex"]) == line and r_t["end"] == "eof",
                    f"{row}: transparent: the line comes back", connect.brief(r_t))
            t.check_eq((ans or {}).get("status_line"), "HTTP/1.1 200 Connection established", f"{row}: CONNECT 200",
                       connect.brief(r_c))
            t.check(bytes.fromhex(r_c["tunnel_hex"]) == line and r_c["end"] == "eof",
                    f"{row}: CONNECT: the line comes back", connect.brief(r_c))
            t.check_eq(len(echo.accepts()) - accepted, 2, f"{row}: the echo accepted both")
            heads = [e["head"] for e in echo.wait_closes(accepted + 2)[accepted:]]
            t.check_eq(heads, [line.decode()] * 2, f"{row}: the echo read only the line both times (no CONNECT head)")
        elif allowed:
            t.check(r_t["tunnel_len"] == 0 and r_t["end"] in ("reset", "eof"),
                    f"{row}: transparent: the client's connection ends with nothing read", connect.brief(r_t))
            connect.check_answer(t, r_c, 502, f"{row}: CONNECT")
        else:
            # Over TLS the reset may surface as an SSL error on the client's read.
            ended = r_t["end"] in ("reset", "eof") or (cert and str(r_t["end"]).startswith("error"))
            t.check(r_t["tunnel_len"] == 0 and ended, f"{row}: transparent: reset, nothing read", connect.brief(r_t))
            if connect.check_answer(t, r_c, 403, f"{row}: CONNECT"):
                t.check_eq(connect.header(ans, "Egressd-Decision"), [d_c.get("conn_id")],
                           f"{row}: CONNECT: Egressd-Decision is the record's conn_id")
            t.check_eq(len(echo.accepts()) - accepted, 0, f"{row}: no upstream accepted either")
        if allowed:
            for d, mode in ((d_t, "transparent"), (d_c, "CONNECT")):
                close = connect.close_record(t, gw, d, f"{row} ({mode})")
                if close:
                    t.check_eq(close.get("reason"), close_reason, f"{row} ({mode}): close reason")
                    if close_reason == "eof":
                        t.check_eq(close.get("bytes_up"), len(line), f"{row} ({mode}): bytes_up is the line")
        else:
            connect.no_close_record(t, gw, d_t, f"{row} (transparent)")
            connect.no_close_record(t, gw, d_c, f"{row} (CONNECT)")

    observe.check_schema(t, gw.records(), "connect_vs_transparent")


harness.main(run, extra_v4=["203.0.113.13"], extra_v6=["2001:db8:2::13"])
