#!/usr/bin/env python3
"""Hostname policy on plain HTTP, and what never waits for a name (issue 19).

dnsmasq in the internet namespace (lib/dns.py) says www.lab.example is 203.0.113.10; rule
web-by-name allows that name on port 80; rule smtp-by-address allows 203.0.113.20:25 by address.
Upstreams are echo servers (the request comes back, so "relayed" is exact) and a banner server.

* Host on plain HTTP: allowed, record host / name_source http_host / name_verified match;
* a second request on the kept-alive connection with the same Host: relayed too;
* a second request with another Host (one the policy denies): the connection is reset, the close
  record says host_changed (closed_by gateway), and the upstream saw nothing of that request;
* a server-first protocol (an SMTP banner) to the address-allowed 203.0.113.20:25 with
  peek.timeout 3s: the banner arrives well under 1s and the record has no name fields (the name
  step did not run); the same banner server on 443, where a hostname rule could match, is held
  for the name until peek.timeout and then decided without one (name_source none).
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import audit  # noqa: E402
import dns  # noqa: E402
import harness  # noqa: E402
import names  # noqa: E402
import observe  # noqa: E402
from names import OTHER_V4, REAL_V4, WWW  # noqa: E402

BANNER = b"220 lab.example ESMTP ready\r\n"  # lib/upstream.py's banner
PEEK_TIMEOUT_S = 3.0
NO_WAIT_S = 1.0  # a third of peek.timeout: bounds a wait for the name, not a speed


def request(host: str, path: str = "/") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: e2e\r\nAccept: */*\r\n\r\n".encode()


def run(t: harness.Case) -> None:
    dns.DnsServer.start(t.sb, names.RECORDS)
    web = t.upstream("echo", [f"{REAL_V4}:80"], "web")
    banner = t.upstream("banner", [f"{OTHER_V4}:25", f"{OTHER_V4}:443"], "smtp")
    gw = t.egressd(names.policy("strict"), names.config(peek_timeout=f"{PEEK_TIMEOUT_S:g}s"))

    # 1. Host on plain HTTP, then a second request with the same Host on the same connection.
    first, again = request(WWW), request(WWW, "/again")
    what = "Host www.lab.example to 203.0.113.10:80"
    dec = names.relay(t, gw, web, f"{REAL_V4}:80",
                      [names.write(first), {"expect": len(first)}, names.write(again)], first + again, what)
    t.check_eq(dec.get("rule"), "web-by-name", f"{what}: rule")
    names.check_name(t, dec, what, WWW, "http_host", "match", [REAL_V4])

    # 2. A second request with another Host: domain fronting, reset.
    what = "a second request with Host evil.lab.example"
    before = len(web.closes())
    evil = request("evil.lab.example", "/exfiltrate")
    r = names.send(t, f"{REAL_V4}:80", [names.write(first), {"expect": len(first)}, {"sleep": 0.1},
                                        names.write(evil), {"sleep": 0.5}], shutdown=False)
    t.check(names.met(r, 0) is not None, f"{what}: the first request was relayed and echoed", str(r["expect_s"]))
    t.check_eq(bytes.fromhex(r["recv_hex"]), first, f"{what}: the client got only the first request's echo")
    t.check_eq(r["end"], "reset", f"{what}: the client's connection is reset")
    dec = names.decision(t, gw, r, what)
    t.check_eq((dec.get("decision"), dec.get("rule")), ("allow", "web-by-name"),
               f"{what}: the connection was allowed by its first request")
    close = gw.wait_records(timeout=5, event="connection.close", conn_id=dec.get("conn_id"))
    if t.check(len(close) == 1, f"{what}: one close record", str(close)):
        t.check_eq(close[0].get("reason"), "host_changed", f"{what}: close reason")
        t.check_eq(close[0].get("closed_by"), "gateway", f"{what}: closed_by")
        t.check_eq(close[0].get("bytes_up"), len(first), f"{what}: only the first request went up")
    ups = web.wait_closes(before + 1)[before:]
    t.check(len(ups) == 1 and ups[0]["bytes_in"] == len(first) and "evil" not in ups[0]["head"],
            f"{what}: the upstream received the first request and nothing of the second", str(ups))

    # 3. Server first, to an address-allowed destination no hostname rule could match.
    what = "SMTP banner from 203.0.113.20:25"
    r = names.send(t, f"{OTHER_V4}:25", [{"expect": len(BANNER)}], timeout=PEEK_TIMEOUT_S + 3)
    t.check_eq(bytes.fromhex(r["recv_hex"]), BANNER, f"{what}: the banner reaches a client that sent nothing")
    t.check(names.met(r, 0) is not None and names.met(r, 0) < NO_WAIT_S,
            f"{what}: it arrives without waiting for a name (< {NO_WAIT_S}s, peek.timeout "
            f"{PEEK_TIMEOUT_S}s)", str(r["expect_s"]))
    dec = names.decision(t, gw, r, what)
    t.check_eq((dec.get("decision"), dec.get("rule")), ("allow", "smtp-by-address"), f"{what}: allowed")
    for field in ("host", "name_source", "name_verified", "dns_answers"):
        t.check(field not in dec, f"{what}: no {field} (the name step did not run)", str(dec.get(field)))

    # The control: on 443 a hostname rule could match, so the silent client is held for its name
    # until peek.timeout, then decided without one.
    what = "a silent client to 203.0.113.20:443"
    t0 = time.monotonic()
    r = names.send(t, f"{OTHER_V4}:443", [{"expect": 1}], timeout=PEEK_TIMEOUT_S + 3)
    took = time.monotonic() - t0
    t.check_eq(r["recv_len"], 0, f"{what}: no banner: the gateway never connected upstream")
    t.check(PEEK_TIMEOUT_S - 0.5 <= took, f"{what}: held for the name about peek.timeout", f"{took:.2f}s")
    dec = names.decision(t, gw, r, what)
    t.check_eq((dec.get("decision"), dec.get("reason")), ("deny", "default"), f"{what}: denied by default")
    names.check_name(t, dec, what, None, "none", "not_checked", None)
    t.check_eq(len([a for a in banner.accepts() if a["local"].endswith(":443")]), 0,
               f"{what}: the banner server on 443 accepted nothing")

    observe.check_schema(t, gw.records(), "hostname_http")
    t.check(not audit.matching(gw.records(), event="connection.decision", reason="client_hello_invalid"),
            "plain HTTP is never taken for a broken ClientHello")


harness.main(run, extra_v4=names.SANDBOX_V4)
