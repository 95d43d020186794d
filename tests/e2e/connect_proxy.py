#!/usr/bin/env python3
"""The CONNECT listener with real curl (issue 20, section 1): an explicit proxy over mTLS and over
plain TCP, names resolved by egressd against a real dnsmasq (lib/dns.py), an HTTPS upstream.

egressd has two `destination: connect` listeners: 15443 inside mTLS (tls.mode required, dev PKI)
and 15080 on plain TCP. The sandbox has no REDIRECT: the client reaches the listeners itself.
curl runs `curl --proxy https://192.0.2.1:15443 --proxy-cert payments.pem --proxy-key ...
--proxy-cacert ca.pem https://api.lab.example/`; the upstream is an HTTPS server (lib/upstream.py
https) whose certificate curl trusts, so "bytes through" is curl's exit 0 and the server's body.

* allowed by name over mTLS: the body arrives; the CONNECT answer is 200 with Egressd-Decision =
  the audited conn_id; the decision record has the client certificate's identity, `host`,
  `name_source: connect`, `name_verified: match`, `dns_answers`; the upstream saw curl's GET, not
  the CONNECT head; the close record names the address egressd dialled (one of the answers);
* denied by a rule on the name: curl shows 403 (`-v`) and an Egressd-Decision header equal to the
  audited conn_id; the same request from a raw client reads the one-line body naming the rule;
  no SYN reaches the name's address;
* denied by deny_destinations (an IP literal): 403, the body names it, zero SYNs;
* the plain-TCP listener: `curl --proxy http://...`, allowed by source with no identity;
* an IPv6 literal in brackets through the listener's IPv6 address;
* an upstream that refuses: 502, close record upstream_refused; a black-holed upstream with
  connect_timeout 1s: 504 after ≈ 1s, close record upstream_timeout;
* `https://203.0.113.10/`, an IP literal on a port a hostname rule covers: curl sends nothing
  before the 200, so the name step decides without a name after peek.timeout (1s): 403, default,
  `name_source: none` (docs/config.md, "An IP literal and the name step").
Every record validates against docs/audit.schema.json.
"""

import os
import shutil
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import audit  # noqa: E402
import connect  # noqa: E402
import dns  # noqa: E402
import harness  # noqa: E402
import observe  # noqa: E402
import tls_pki  # noqa: E402
import upstream as upstream_py  # noqa: E402
from connect import PLAIN_PORT, TLS_PORT  # noqa: E402

API, WWW, SECRET = "api.lab.example", "www.lab.example", "secret.lab.example"
API_V4, API_V6, WWW_V4 = "203.0.113.10", "2001:db8:2::10", "203.0.113.20"
DENIED_V4 = "203.0.113.99"  # in deny_destinations
BLACKHOLE = "203.0.113.66"  # SYNs dropped in the internet namespace
PAYMENTS = "spiffe://corp.example/ns/payments/sa/api"
BODY = upstream_py.HTTP_BODY.decode()

POLICY = """\
kind: Settings
default: deny
mode: enforce
deny_destinations: [builtin:non_public, 203.0.113.99/32]
---
kind: Role
name: payments
members:
  - identity: "spiffe://corp.example/ns/payments/sa/*"
---
kind: Role
name: sandbox-clients
members:
  - source: 192.0.2.0/24
  - source: "2001:db8:1::/64"
---
kind: Rule
id: deny-secret
action: deny
from: [{role: payments}]
to: [{hosts: [secret.lab.example], ports: [443]}]
---
kind: Rule
id: payments-api
action: allow
from: [{role: payments}]
to: [{hosts: [api.lab.example], ports: [443]}]
---
kind: Rule
id: payments-lab
action: allow
from: [{role: payments}]
to: [{cidrs: [203.0.113.20/32, 203.0.113.66/32, "2001:db8:2::10/128"], ports: [8443, 444]}]
---
kind: Rule
id: clients-www
action: allow
from: [{role: sandbox-clients}]
to: [{hosts: [www.lab.example], ports: [443]}]
"""


def run(t: harness.Case) -> None:
    for tool in ("curl", "openssl"):
        t.require(shutil.which(tool) is not None, f"{tool} installed (make deps)")
    pki = tls_pki.make_pki(t.sb, t.args.source_dir)
    up_pem, up_key = connect.server_cert(t.sb, "upstream", [API, WWW, SECRET], [API_V4, API_V6, WWW_V4])
    https = ["--cert", str(up_pem), "--key", str(up_key)]
    dns.DnsServer.start(t.sb, {API: [API_V4, API_V6], WWW: [WWW_V4], SECRET: [API_V4]})
    api = t.upstream("https", [f"{API_V4}:443", f"[{API_V6}]:443", f"[{API_V6}]:8443"], "api", https)
    www = t.upstream("https", [f"{WWW_V4}:443"], "www", https)
    t.sb.blackhole(BLACKHOLE)
    for addr, port in ((API_V4, 443), (API_V6, 443), (DENIED_V4, 443), (BLACKHOLE, 8443)):
        connect.syn_counter(t.sb, t.sb.internet, addr, port)
    tls = tls_pki.tls_listener(pki)["tls"]
    gw = t.egressd(POLICY, {
        "listeners": [connect.listener("connect-tls", TLS_PORT, tls=tls),
                      connect.listener("connect-plain", PLAIN_PORT)],
        "upstream": {"connect_timeout": "1s"},
        "dns": {"servers": [f"{dns.DNS_V4}:{dns.DNS_PORT}"], "min_ttl": "60s", "timeout": "1s"},
    })
    mtls_proxy = f"https://{connect.proxy(TLS_PORT)}"

    def api_syns() -> int:
        return (connect.syns(t.sb, t.sb.internet, API_V4, 443) +
                connect.syns(t.sb, t.sb.internet, API_V6, 443))

    # --- 1. allowed by name over mTLS --------------------------------------------------------------
    what = "curl via mTLS to https://api.lab.example/"
    c = connect.curl(t, f"https://{API}/", mtls_proxy, pki, "payments", up_pem)
    t.check_eq((c["exit"], c["body"]), (0, BODY), f"{what}: exit 0 and the upstream's body",
               c["stderr"][-1500:])
    t.check_eq((c["info"].get("http_connect"), c["connect_status"]), (200, 200), f"{what}: CONNECT answered 200")
    dec = connect.decision(t, gw, c, what)
    t.check_eq((dec.get("decision"), dec.get("reason"), dec.get("rule")), ("allow", "rule", "payments-api"),
               f"{what}: allowed by payments-api")
    t.check_eq(connect.curl_header(c, "Egressd-Decision"), [dec.get("conn_id")],
               f"{what}: the 200's Egressd-Decision is the audited conn_id")
    t.check_eq(dec.get("listener"), "connect-tls", f"{what}: listener")
    t.check_eq(dec.get("identity", {}).get("spiffe_id"), PAYMENTS, f"{what}: the client certificate's identity")
    t.check_eq(dec.get("tls_version"), "TLSv1.3", f"{what}: tls_version")
    t.check_eq((dec.get("host"), dec.get("name_source"), dec.get("name_verified")), (API, "connect", "match"),
               f"{what}: host, name_source connect, name_verified match")
    t.check_eq(sorted(dec.get("dns_answers") or []), sorted([API_V4, API_V6]), f"{what}: dns_answers")
    t.check(audit.host(dec.get("dst")) in (API_V4, API_V6) and audit.endpoint(dec.get("dst")).endswith(":443"),
            f"{what}: dst is one of the answers, port 443", str(dec.get("dst")))
    close = connect.close_record(t, gw, dec, what)
    seen = [e for e in api.wait_closes(1) if e["bytes_in"]]
    t.check(len(seen) == 1 and seen[0]["head"].startswith("GET / HTTP/1.1\r\n") and f"Host: {API}" in seen[0]["head"],
            f"{what}: the upstream read curl's GET (and no CONNECT head) on one connection", str(seen))
    if close and seen:
        t.check_eq(audit.endpoint(close.get("dst")), seen[0]["local"],
                   f"{what}: the close record names the address egressd connected to")
        t.check(close.get("bytes_up", 0) > 0 and close.get("bytes_down", 0) > len(BODY),
                f"{what}: the close record counts the tunnel's bytes", audit.pretty(close))
    # At least one SYN: were egressd's event loop held up past 300 ms, Happy Eyeballs may rightly
    # have started the second address too (the upstream then sees the loser closed); the GET went
    # over exactly one connection either way (checked above).
    t.check(api_syns() >= 1, f"{what}: egressd dialled the name's addresses", str(api_syns()))

    # --- 2. denied by a rule on the name -------------------------------------------------------------
    what = "curl via mTLS to https://secret.lab.example/"
    before = api_syns()
    c = connect.curl(t, f"https://{SECRET}/", mtls_proxy, pki, "payments", up_pem)
    t.check_eq((c["exit"], c["info"].get("http_connect"), c["connect_status"]), (56, 403, 403),
               f"{what}: curl fails with the CONNECT answer 403", c["stderr"][-1500:])
    t.check("< HTTP/1.1 403 Forbidden" in c["stderr"], f"{what}: curl -v shows the 403", c["stderr"][-800:])
    dec = connect.decision(t, gw, c, what)
    t.check_eq((dec.get("decision"), dec.get("reason"), dec.get("rule")), ("deny", "rule", "deny-secret"),
               f"{what}: denied by deny-secret")
    t.check_eq(connect.curl_header(c, "Egressd-Decision"), [dec.get("conn_id")],
               f"{what}: Egressd-Decision (shown by curl -v) is the audited conn_id")
    # curl never shows a refused CONNECT's body: the reason a person reads is the field.
    why = connect.curl_header(c, "Egressd-Reason")
    t.check(len(why) == 1 and why[0].startswith(f"egressd: CONNECT {SECRET}:443 denied: rule 'deny-secret' ")
            and why[0].endswith(f"(policy {dec.get('policy_version')})"),
            f"{what}: Egressd-Reason (shown by curl -v) names the rule and the policy version", str(why))
    t.check_eq((dec.get("host"), dec.get("name_source")), (SECRET, "connect"), f"{what}: host, name_source")
    connect.no_close_record(t, gw, dec, what)
    # The same request from a raw client reads the body curl does not show.
    what = "raw CONNECT secret.lab.example:443 via mTLS"
    r = connect.request(t, {"proxy": connect.proxy(TLS_PORT), "tls": connect.tls_plan(pki),
                            "target": f"{SECRET}:443"})
    ans = connect.check_answer(t, r, 403, what)
    dec = connect.decision(t, gw, r, what)
    if ans:
        t.check_eq(ans["status_line"], "HTTP/1.1 403 Forbidden", f"{what}: status line")
        t.check_eq(connect.header(ans, "Egressd-Decision"), [dec.get("conn_id")], f"{what}: Egressd-Decision")
        t.check(ans["body"].startswith("egressd: ") and f"{SECRET}:443" in ans["body"]
                and "denied" in ans["body"] and "'deny-secret'" in ans["body"],
                f"{what}: the body says what was denied and by which rule", repr(ans["body"]))
    t.check_eq(api_syns() - before, 0, f"{SECRET}: zero SYNs to its address")

    # --- 3. denied by deny_destinations: an IP literal ----------------------------------------------
    what = f"raw CONNECT {DENIED_V4}:443 via mTLS"
    r = connect.request(t, {"proxy": connect.proxy(TLS_PORT), "tls": connect.tls_plan(pki),
                            "target": f"{DENIED_V4}:443"})
    ans = connect.check_answer(t, r, 403, what)
    dec = connect.decision(t, gw, r, what)
    t.check_eq((dec.get("decision"), dec.get("reason"), audit.endpoint(dec.get("dst"))),
               ("deny", "deny_destination", f"{DENIED_V4}:443"), f"{what}: denied deny_destination")
    if ans:
        t.check_eq(connect.header(ans, "Egressd-Decision"), [dec.get("conn_id")], f"{what}: Egressd-Decision")
        t.check("deny_destination" in ans["body"] and DENIED_V4 in ans["body"],
                f"{what}: the body names deny_destination and the address", repr(ans["body"]))
    t.check_eq(connect.syns(t.sb, t.sb.internet, DENIED_V4, 443), 0, f"{what}: zero SYNs to {DENIED_V4}:443")

    # --- 4. the plain-TCP CONNECT listener -----------------------------------------------------------
    what = "curl via plain TCP to https://www.lab.example/"
    c = connect.curl(t, f"https://{WWW}/", f"http://{connect.proxy(PLAIN_PORT)}", cacert=up_pem)
    t.check_eq((c["exit"], c["body"], c["connect_status"]), (0, BODY, 200), f"{what}: the upstream's body",
               c["stderr"][-1500:])
    dec = connect.decision(t, gw, c, what)
    t.check_eq((dec.get("decision"), dec.get("rule"), dec.get("listener")), ("allow", "clients-www", "connect-plain"),
               f"{what}: allowed by clients-www on connect-plain")
    t.check("identity" not in dec and "tls_version" not in dec, f"{what}: no identity on plain TCP",
            audit.pretty(dec))
    t.check_eq((dec.get("host"), dec.get("name_source"), dec.get("dns_answers")), (WWW, "connect", [WWW_V4]),
               f"{what}: host, name_source, dns_answers")
    t.check_eq(audit.endpoint(dec.get("dst")), f"{WWW_V4}:443", f"{what}: dst")
    t.check_eq(connect.curl_header(c, "Egressd-Decision"), [dec.get("conn_id")], f"{what}: Egressd-Decision")
    connect.close_record(t, gw, dec, what)
    t.check_eq(len(www.wait_closes(1)), 1, f"{what}: the www server served one connection")

    # --- 5. an IPv6 literal in brackets, through the listener's IPv6 address ------------------------
    what = f"curl via mTLS [v6] to https://[{API_V6}]:8443/"
    before = len(api.wait_closes(1))
    c = connect.curl(t, f"https://[{API_V6}]:8443/", f"https://{connect.proxy(TLS_PORT, v6=True)}", pki,
                     "payments", up_pem)
    t.check_eq((c["exit"], c["body"]), (0, BODY), f"{what}: the upstream's body", c["stderr"][-1500:])
    t.check(f"> CONNECT [{API_V6}]:8443 HTTP/1.1" in c["stderr"], f"{what}: curl sent the bracketed literal",
            c["stderr"][-1500:])
    dec = connect.decision(t, gw, c, what)
    t.check_eq((dec.get("decision"), dec.get("rule"), audit.endpoint(dec.get("dst")), audit.host(dec.get("src"))),
               ("allow", "payments-lab", f"[{API_V6}]:8443", "2001:db8:1::2"), f"{what}: allowed, dst, src")
    t.check("name_source" not in dec and "host" not in dec, f"{what}: no name fields for an IP literal",
            audit.pretty(dec))
    seen = api.wait_closes(before + 1)[before:]
    t.check_eq([e["local"] for e in seen], [f"[{API_V6}]:8443"], f"{what}: the upstream served it")

    # --- 6. 502: the upstream refuses -----------------------------------------------------------------
    what = f"CONNECT {WWW_V4}:444 (nothing listens)"
    c = connect.curl(t, f"https://{WWW_V4}:444/", mtls_proxy, pki, "payments", up_pem)
    t.check_eq((c["exit"], c["connect_status"]), (56, 502), f"{what}: curl shows 502", c["stderr"][-1000:])
    r = connect.request(t, {"proxy": connect.proxy(TLS_PORT), "tls": connect.tls_plan(pki),
                            "target": f"{WWW_V4}:444"})
    ans = connect.check_answer(t, r, 502, f"{what} (raw)")
    if ans:
        t.check_eq(ans["status_line"], "HTTP/1.1 502 Bad Gateway", f"{what}: status line")
    for res, who in ((c, "curl"), (r, "raw")):
        dec = connect.decision(t, gw, res, f"{what} ({who})")
        t.check_eq((dec.get("decision"), dec.get("rule")), ("allow", "payments-lab"), f"{what} ({who}): allowed")
        close = connect.close_record(t, gw, dec, f"{what} ({who})")
        if close:
            t.check_eq((close.get("reason"), audit.endpoint(close.get("dst"))), ("upstream_refused", f"{WWW_V4}:444"),
                       f"{what} ({who}): close record upstream_refused")
        if res is r and ans:
            t.check_eq(connect.header(ans, "Egressd-Decision"), [dec.get("conn_id")], f"{what}: Egressd-Decision")

    # --- 7. 504: a black-holed upstream, connect_timeout 1s --------------------------------------
    what = f"CONNECT {BLACKHOLE}:8443 (SYNs dropped)"
    r = connect.request(t, {"proxy": connect.proxy(TLS_PORT), "tls": connect.tls_plan(pki),
                            "target": f"{BLACKHOLE}:8443"}, timeout=8)
    ans = connect.check_answer(t, r, 504, what)
    if ans:
        t.check_eq(ans["status_line"], "HTTP/1.1 504 Gateway Timeout", f"{what}: status line")
        t.check(0.9 <= r.get("answer_s", 0) <= 3.5, f"{what}: answered ≈ connect_timeout (1s) after connecting",
                str(r.get("answer_s")))
    dec = connect.decision(t, gw, r, what)
    close = connect.close_record(t, gw, dec, what)
    if close:
        t.check_eq(close.get("reason"), "upstream_timeout", f"{what}: close record upstream_timeout")
    if ans:
        t.check_eq(connect.header(ans, "Egressd-Decision"), [dec.get("conn_id")], f"{what}: Egressd-Decision")
    t.check(connect.syns(t.sb, t.sb.internet, BLACKHOLE, 8443) >= 1, f"{what}: egressd did dial it")
    c = connect.curl(t, f"https://{BLACKHOLE}:8443/", mtls_proxy, pki, "payments", up_pem)
    t.check_eq((c["exit"], c["connect_status"]), (56, 504), f"{what}: curl shows 504", c["stderr"][-1000:])

    # --- 8. an IP literal where a hostname rule could match: curl waits for the 200 -----------------
    what = f"curl via mTLS to https://{API_V4}/ (a literal on 443)"
    before = api_syns()
    c = connect.curl(t, f"https://{API_V4}/", mtls_proxy, pki, "payments", up_pem)
    t.check_eq((c["exit"], c["connect_status"]), (56, 403), f"{what}: 403", c["stderr"][-1000:])
    dec = connect.decision(t, gw, c, what)
    t.check_eq((dec.get("decision"), dec.get("reason"), dec.get("name_source"), dec.get("name_verified")),
               ("deny", "default", "none", "not_checked"),
               f"{what}: decided without a name after peek.timeout (payments-api matches only the name)")
    t.check(0.9 <= c["info"].get("time_total", 0) <= 4, f"{what}: ≈ peek.timeout (1s) before the answer",
            str(c["info"].get("time_total")))
    t.check_eq(api_syns() - before, 0, f"{what}: zero SYNs")

    observe.check_schema(t, gw.records(), "connect_proxy")


harness.main(run, mode="none", extra_v4=[dns.DNS_V4])
