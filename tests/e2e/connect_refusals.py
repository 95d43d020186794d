#!/usr/bin/env python3
"""What a CONNECT listener refuses (issue 20, section 1), each with zero SYNs where it must.

A plain-TCP `destination: connect` listener (connect_request_timeout 3s), names from a real
dnsmasq (lib/dns.py), echo servers on 203.0.113.10 and 203.0.113.99 (so a dial that should not
happen would succeed). SYNs are counted with iptables counters: in the internet namespace's INPUT
(what reached a server address) and in the gateway namespace's OUTPUT (what egressd tried to dial
towards loopback, 10/8 and the NAT64/6to4 prefixes, which lead nowhere in the sandbox; a probe
dial from the gateway namespace first shows each of those counters counts).

The policy allows 203.0.113.0/24 and 127.0.0.0/8 on 7 and 443 by address, and on purpose the
NAT64 (64:ff9b::/96) and 6to4 (2002::/16) prefixes on 443, as a network with a NAT64 would: only
deny_destinations' unpacking of the IPv4 inside them (203.0.113.99) can deny those forms.

* numeric IPv4 spellings (2130706433, 0x7f.1, 127.1, 0177.0.0.1 for 127.0.0.1; 3405803786 and
  0xcb00710a for the allowed 203.0.113.10:7): 400 with a one-line body naming the spelling,
  record connect_request_invalid, zero SYNs to 127.0.0.0/8:443 and 203.0.113.10:7;
* 203.0.113.99 (deny_destinations) written IPv4-mapped, NAT64 and 6to4: 403, deny_destination,
  zero SYNs anywhere;
* a name resolving to 10.0.0.5 and one resolving to 203.0.113.99: 403 deny_destination with
  host / name_source connect / dns_answers, zero SYNs; an NXDOMAIN name: 403 name_unresolved;
* a name with one denied and one allowed answer: 200, only the allowed address dialled (one SYN
  there, none to the other), the record's detail names the denied answer; the same with the
  allowed address black-holed: 504 after connect_timeout, still no SYN to the denied one (Happy
  Eyeballs' fallback never reaches an address the policy denied);
* 405 for GET, 431 for 9 KiB of headers (records connect_request_invalid, nothing dialled);
* slowloris (a byte a second): closed at ≈ connect_request_timeout, no answer, record
  connect_request_timeout;
* after the 200, a ClientHello naming another host than the CONNECT (sent after the answer, and
  pipelined right after the head as the egressd agent does): the connection is closed, close
  record sni_mismatch / closed_by gateway / a detail naming both names, and the upstream, already
  dialled, reads zero bytes; the same with a matching SNI (and Egressd-Agent-Conn, as the agent
  sends it) is echoed, the record has `agent_conn`, and the upstream's first bytes are the
  ClientHello, not the head.
Every refusal has Egressd-Decision (the audited conn_id), Connection: close, Content-Type:
text/plain, a Content-Length equal to its one-line body, and ends with a FIN. Every record
validates against docs/audit.schema.json.
"""

import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import audit  # noqa: E402
import client_hello  # noqa: E402
import connect  # noqa: E402
import dns  # noqa: E402
import harness  # noqa: E402
import observe  # noqa: E402
from connect import PLAIN_PORT  # noqa: E402
from sandbox import PYTHON  # noqa: E402

API, MIXED, SLOW, PRIVATE, BADDOC, MISSING = ("api.lab.example", "mixed.lab.example", "slow.lab.example",
                                              "private.lab.example", "baddoc.lab.example", "missing.lab.example")
ECHO_V4, DENIED_V4, PRIVATE_V4, BLACKHOLE = "203.0.113.10", "203.0.113.99", "10.0.0.5", "203.0.113.66"
NAT64, SIX_TO_FOUR = "64:ff9b::cb00:7163", "2002:cb00:7163::1"  # both embed 203.0.113.99

POLICY = """\
kind: Settings
default: deny
mode: enforce
deny_destinations: [10.0.0.0/8, 203.0.113.99/32]
---
kind: Role
name: sandbox-clients
members:
  - source: 192.0.2.0/24
  - source: "2001:db8:1::/64"
---
kind: Rule
id: clients-names
action: allow
from: [{role: sandbox-clients}]
to: [{hosts: [api.lab.example, mixed.lab.example, slow.lab.example, private.lab.example, baddoc.lab.example],
       ports: [443]}]
---
kind: Rule
id: clients-addresses
action: allow
from: [{role: sandbox-clients}]
to: [{cidrs: [203.0.113.0/24, 127.0.0.0/8], ports: [7, 443]}]
---
kind: Rule
id: clients-translated
action: allow
from: [{role: sandbox-clients}]
to: [{cidrs: ["64:ff9b::/96", "2002::/16"], ports: [443]}]
"""

AGENT_CONN = "0123456789abcdef-42"  # an egressd agent's conn_id, as it sends it
PROBE = """
import socket, sys
for host in sys.argv[1:]:
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.settimeout(0.3)
    try:
        s.connect((host, 443))
    except OSError:
        pass
    s.close()
"""
SPELLINGS = ["2130706433:443", "0x7f.1:443", "127.1:443", "0177.0.0.1:443", "3405803786:7", "0xcb00710a:7"]


def run(t: harness.Case) -> None:
    dns.DnsServer.start(t.sb, {API: [ECHO_V4], MIXED: [DENIED_V4, ECHO_V4], SLOW: [DENIED_V4, BLACKHOLE],
                               PRIVATE: [PRIVATE_V4], BADDOC: [DENIED_V4]})
    echo = t.upstream("echo", [f"{ECHO_V4}:443", f"{ECHO_V4}:7"], "echo")
    denied_echo = t.upstream("echo", [f"{DENIED_V4}:443"], "denied-echo")
    sb = t.sb
    sb.blackhole(BLACKHOLE)
    inet = [(ECHO_V4, 443), (ECHO_V4, 7), (DENIED_V4, 443), (BLACKHOLE, 443)]
    gw_out = [("127.0.0.0/8", 443), ("10.0.0.0/8", 443), ("64:ff9b::/96", 443), ("2002::/16", 443)]
    # Routes for the prefixes a wrong dial would go to, so such a dial leaves a SYN in OUTPUT
    # (without a route connect() fails before any packet): towards the internet namespace, which
    # drops them.
    sb.ip(sb.gateway, "route", "add", "10.0.0.0/8", "via", ECHO_V4)
    for prefix in ("64:ff9b::/96", "2002::/16"):
        sb.ip(sb.gateway, "-6", "route", "add", prefix, "via", "2001:db8:2::10")
    for addr, port in inet:
        connect.syn_counter(sb, sb.internet, addr, port)
    for addr, port in gw_out:
        connect.syn_counter(sb, sb.gateway, addr, port, chain="OUTPUT")

    def syns() -> dict:
        out = {f"{a}:{p}": connect.syns(sb, sb.internet, a, p) for a, p in inet}
        out.update({f"{a}:{p}": connect.syns(sb, sb.gateway, a, p, chain="OUTPUT") for a, p in gw_out})
        return out

    def no_new_syns(before: dict, what: str) -> None:
        now = syns()
        t.check_eq({k: v - before[k] for k, v in now.items() if v != before[k]}, {}, f"{what}: zero SYNs")

    # The counters must see a wrong dial: one probe from the gateway namespace to each prefix
    # leaves a SYN in each (the probes time out or are refused; only the count matters).
    probes = ["127.0.0.1", "10.0.0.5", NAT64, SIX_TO_FOUR]
    sb.exec(sb.gateway, [PYTHON, "-c", PROBE, *probes], timeout=30)
    seen = syns()
    t.require(all(seen[f"{a}:{p}"] >= 1 for a, p in gw_out),
              "the gateway's OUTPUT counters count a dial towards each prefix", str(seen))

    gw = t.egressd(POLICY, {
        "listeners": [connect.listener("connect", PLAIN_PORT, request_timeout="3s")],
        "upstream": {"connect_timeout": "1s"},
        "dns": {"servers": [f"{dns.DNS_V4}:{dns.DNS_PORT}"], "min_ttl": "60s", "timeout": "1s"},
    })
    px = connect.proxy(PLAIN_PORT)

    def refused(what: str, plan: dict, status: int, reason: str) -> tuple[dict | None, dict]:
        before = syns()
        r = connect.request(t, {"proxy": px, **plan})
        ans = connect.check_answer(t, r, status, what)
        dec = connect.decision(t, gw, r, what)
        t.check_eq((dec.get("decision"), dec.get("reason")), ("deny", reason), f"{what}: denied {reason}")
        if ans:
            t.check_eq(connect.header(ans, "Egressd-Decision"), [dec.get("conn_id")],
                       f"{what}: Egressd-Decision is the audited conn_id")
        connect.no_close_record(t, gw, dec, what)
        no_new_syns(before, what)
        return ans, dec

    # --- numeric IPv4 spellings: 400 before any policy or dial ---------------------------------------
    for spelling in SPELLINGS:
        what = f"CONNECT {spelling}"
        ans, dec = refused(what, {"target": spelling}, 400, "connect_request_invalid")
        host = spelling.rpartition(":")[0]
        if ans:
            t.check_eq(ans["status_line"], "HTTP/1.1 400 Bad Request", f"{what}: status line")
            t.check(host in ans["body"], f"{what}: the body names the spelling", repr(ans["body"]))
        t.check(host in (dec.get("detail") or ""), f"{what}: the record's detail names it", str(dec.get("detail")))
        t.check("dst" not in dec, f"{what}: no dst: the spelling was not read as an address", str(dec.get("dst")))

    # --- 203.0.113.99 (deny_destinations) in IPv6 forms --------------------------------------------
    for target, dst in ((f"[::ffff:{DENIED_V4}]:443", f"{DENIED_V4}:443"),
                        (f"[{NAT64}]:443", f"[{NAT64}]:443"),
                        (f"[{SIX_TO_FOUR}]:443", f"[{SIX_TO_FOUR}]:443")):
        what = f"CONNECT {target}"
        ans, dec = refused(what, {"target": target}, 403, "deny_destination")
        t.check_eq(audit.endpoint(dec.get("dst")), dst, f"{what}: dst")
        t.check(not dec.get("rule"), f"{what}: no rule (denied before any rule)", str(dec.get("rule")))
        if ans:
            t.check("deny_destination" in ans["body"], f"{what}: the body says deny_destination", repr(ans["body"]))

    # --- names whose only answers are denied -----------------------------------------------------------
    for name, addr in ((PRIVATE, PRIVATE_V4), (BADDOC, DENIED_V4)):
        what = f"CONNECT {name}:443 ({addr})"
        ans, dec = refused(what, {"target": f"{name}:443"}, 403, "deny_destination")
        t.check_eq((dec.get("host"), dec.get("name_source"), dec.get("dns_answers")), (name, "connect", [addr]),
                   f"{what}: host, name_source connect, dns_answers")
        if ans:
            t.check(f"{name}:443" in ans["body"] and "deny_destination" in ans["body"] and addr in ans["body"],
                    f"{what}: the body names the request, deny_destination and the address", repr(ans["body"]))
    what = f"CONNECT {MISSING}:443 (NXDOMAIN)"
    ans, dec = refused(what, {"target": f"{MISSING}:443"}, 403, "name_unresolved")
    if ans:
        t.check("name_unresolved" in ans["body"], f"{what}: the body says name_unresolved", repr(ans["body"]))

    # --- a name with a denied and an allowed answer: only the allowed one is dialled -----------------
    what = f"CONNECT {MIXED}:443 ({DENIED_V4} denied, {ECHO_V4} allowed)"
    before, acc = syns(), len(echo.accepts())
    hello = client_hello.client_hello(MIXED)
    r = connect.request(t, {"proxy": px, "target": f"{MIXED}:443", "after_hex": hello.hex(), "expect": len(hello)})
    t.check_eq((r["answer"] or {}).get("status_line"), "HTTP/1.1 200 Connection established", f"{what}: 200",
               connect.brief(r))
    t.check(bytes.fromhex(r["tunnel_hex"]) == hello and r["end"] == "eof",
            f"{what}: the ClientHello (SNI {MIXED}) comes back through the echo, then EOF", connect.brief(r))
    dec = connect.decision(t, gw, r, what)
    t.check_eq((dec.get("decision"), dec.get("rule"), audit.endpoint(dec.get("dst"))),
               ("allow", "clients-names", f"{ECHO_V4}:443"), f"{what}: allowed, dst the allowed answer")
    t.check_eq(sorted(dec.get("dns_answers") or []), sorted([DENIED_V4, ECHO_V4]), f"{what}: dns_answers")
    t.check(DENIED_V4 in (dec.get("detail") or ""), f"{what}: the detail names the denied answer",
            str(dec.get("detail")))
    t.check_eq(connect.header(r["answer"], "Egressd-Decision"), [dec.get("conn_id")], f"{what}: Egressd-Decision")
    now = syns()
    t.check_eq((now[f"{ECHO_V4}:443"] - before[f"{ECHO_V4}:443"], now[f"{DENIED_V4}:443"] - before[f"{DENIED_V4}:443"]),
               (1, 0), f"{what}: SYNs to {ECHO_V4}:443 and {DENIED_V4}:443")
    t.check_eq((len(echo.accepts()) - acc, len(denied_echo.accepts())), (1, 0), f"{what}: upstream accepts")
    close = connect.close_record(t, gw, dec, what)
    if close:
        t.check_eq((close.get("reason"), audit.endpoint(close.get("dst")), close.get("bytes_up")),
                   ("eof", f"{ECHO_V4}:443", len(hello)), f"{what}: close record")

    # The allowed answer black-holed: Happy Eyeballs would move on to the next answer after 300 ms,
    # but the only other one is denied, so it never gets a SYN; 504 after connect_timeout (1s).
    what = f"CONNECT {SLOW}:443 ({DENIED_V4} denied, {BLACKHOLE} allowed, black-holed)"
    before = syns()
    r = connect.request(t, {"proxy": px, "target": f"{SLOW}:443"}, timeout=8)
    ans = connect.check_answer(t, r, 504, what)
    dec = connect.decision(t, gw, r, what)
    t.check_eq((dec.get("decision"), audit.endpoint(dec.get("dst"))), ("allow", f"{BLACKHOLE}:443"),
               f"{what}: allowed, dst the allowed answer")
    if ans:
        t.check_eq(connect.header(ans, "Egressd-Decision"), [dec.get("conn_id")], f"{what}: Egressd-Decision")
        t.check(0.9 <= r.get("answer_s", 0) <= 3.5, f"{what}: answered ≈ connect_timeout (1s)",
                str(r.get("answer_s")))
    close = connect.close_record(t, gw, dec, what)
    if close:
        t.check_eq((close.get("reason"), audit.endpoint(close.get("dst"))), ("upstream_timeout", f"{BLACKHOLE}:443"),
                   f"{what}: close record upstream_timeout")
    now = syns()
    delta = {k: now[k] - before[k] for k in now}
    t.check(delta[f"{BLACKHOLE}:443"] >= 1 and delta[f"{DENIED_V4}:443"] == 0, f"{what}: SYNs to {BLACKHOLE}:443 only",
            str(delta))

    # --- 405, 431 --------------------------------------------------------------------------------------
    ans, _ = refused("GET (not CONNECT)", {"head_hex": connect.head(f"http://{API}/", API, method="GET").hex()},
                     405, "connect_request_invalid")
    if ans:
        t.check_eq(ans["status_line"], "HTTP/1.1 405 Method Not Allowed", "GET: status line")
    pad = "".join(f"X-Pad-{i:03d}: {'p' * 115}\r\n" for i in range(72))  # 72 × 128 B = 9 KiB of fields
    ans, _ = refused("9 KiB of headers", {"head_hex": connect.head(f"{API}:443", extra=pad).hex()},
                     431, "connect_request_invalid")
    if ans:
        t.check_eq(ans["status_line"], "HTTP/1.1 431 Request Header Fields Too Large", "9 KiB: status line")

    # --- slowloris: a byte a second, closed at connect_request_timeout (3s) --------------------------
    what = "slowloris (a byte a second)"
    before = syns()
    slow = connect.head(f"{ECHO_V4}:7", extra="X-Slow: 1\r\n")
    r = connect.request(t, {"proxy": px, "head_hex": slow.hex(), "head_piece": 1, "head_gap": 1.0}, timeout=10)
    t.check(r["answer"] is None and r["tunnel_len"] == 0, f"{what}: no answer", connect.brief(r))
    t.check(r["end"] in ("eof", "reset"), f"{what}: the gateway closes the connection", connect.brief(r))
    t.check(2.8 <= (r.get("end_s") or 0) <= 5.5, f"{what}: closed ≈ connect_request_timeout (3s) after connect",
            str(r.get("end_s")))
    t.check(r["head_sent"] < len(slow), f"{what}: the head was not finished", f"{r['head_sent']} of {len(slow)}")
    dec = connect.decision(t, gw, r, what)
    t.check_eq((dec.get("decision"), dec.get("reason")), ("deny", "connect_request_timeout"),
               f"{what}: denied connect_request_timeout")
    no_new_syns(before, what)

    # --- SNI inside the tunnel naming another host ---------------------------------------------------
    other = client_hello.client_hello("other.lab.example")
    for mode in ("after the 200", "pipelined after the head"):
        what = f"CONNECT {API}:443, then SNI other.lab.example {mode}"
        before = len(echo.closes())
        plan = {"proxy": px, "target": f"{API}:443", "expect": len(other)}
        plan["after_hex" if mode.startswith("after") else "pipeline_hex"] = other.hex()
        r = connect.request(t, plan)
        t.check_eq((r["answer"] or {}).get("status"), 200, f"{what}: the CONNECT is answered 200", connect.brief(r))
        t.check(r["tunnel_len"] == 0 and r["end"] in ("eof", "reset"),
                f"{what}: the client reads nothing through the echo; the gateway closes", connect.brief(r))
        dec = connect.decision(t, gw, r, what)
        t.check_eq((dec.get("decision"), dec.get("host"), dec.get("name_source")), ("allow", API, "connect"),
                   f"{what}: allowed on the CONNECT name")
        close = connect.close_record(t, gw, dec, what)
        if close:
            t.check_eq((close.get("reason"), close.get("closed_by"), close.get("bytes_up")),
                       ("sni_mismatch", "gateway", 0), f"{what}: close record sni_mismatch by the gateway, 0 up")
            detail = close.get("detail") or ""
            t.check(API in detail and "other.lab.example" in detail, f"{what}: the detail names both names", detail)
        seen = echo.wait_closes(before + 1)[before:]
        t.check_eq([(e["local"], e["bytes_in"]) for e in seen], [(f"{ECHO_V4}:443", 0)],
                   f"{what}: the upstream was dialled and read zero bytes")

    # As the egressd agent sends it: Egressd-Agent-Conn in the head, the ClientHello right behind.
    what = f"CONNECT {API}:443, SNI {API} pipelined, Egressd-Agent-Conn"
    hello = client_hello.client_hello(API)
    agent_head = connect.head(f"{API}:443", extra=f"Egressd-Agent-Conn: {AGENT_CONN}\r\n")
    before = len(echo.closes())
    r = connect.request(t, {"proxy": px, "head_hex": agent_head.hex(), "pipeline_hex": hello.hex(),
                            "expect": len(hello)})
    t.check_eq((r["answer"] or {}).get("status"), 200, f"{what}: 200", connect.brief(r))
    t.check(bytes.fromhex(r["tunnel_hex"]) == hello, f"{what}: the ClientHello comes back through the echo",
            connect.brief(r))
    dec = connect.decision(t, gw, r, what)
    t.check_eq(dec.get("agent_conn"), AGENT_CONN, f"{what}: the record's agent_conn joins the agent's record")
    close = connect.close_record(t, gw, dec, what)
    if close:
        t.check_eq((close.get("reason"), close.get("bytes_up")), ("eof", len(hello)), f"{what}: close record")
    seen = echo.wait_closes(before + 1)[before:]
    t.check_eq([(e["head"][:2], e["bytes_in"]) for e in seen], [("\x16\x03", len(hello))],
               f"{what}: the upstream read just the ClientHello, a TLS record first (the head never goes upstream)")

    t.check_eq(len(denied_echo.accepts()), 0, f"{DENIED_V4}:443 never accepted a connection")
    observe.check_schema(t, gw.records(), "connect_refusals")


harness.main(run, mode="none", extra_v4=[dns.DNS_V4])
