#!/usr/bin/env python3
"""Allowed connections, IPv4 and IPv6, through the kernel's REDIRECT to egressd.

A dual-stack "[::]:15001" listener sees IPv4 clients as ::ffff:a.b.c.d and must still find their
original destination (SO_ORIGINAL_DST) and audit plain IPv4 addresses; then the same through a
"0.0.0.0:15001" listener. Each connection: the client reads back exactly what it sent, the upstream
saw one connection from the gateway (203.0.113.254, not the client: it was relayed, not routed)
carrying those bytes, and the audit log has an allow decision (rule clients-to-lab) and a close
record with the byte counts, sharing one conn_id.
"""

import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import audit  # noqa: E402
import harness  # noqa: E402
from policies import LAB  # noqa: E402


def echo_once(t, gw, up, dst: str, src_host: str, upstream_peer_host: str, payload: str) -> None:
    before = len(up.accepts())
    r = t.client("--dst", dst, "--send", payload, "--shutdown")
    t.check(r["connected"], f"{dst}: client connects", str(r))
    t.check_eq(r["recv"], payload, f"{dst}: client reads its bytes back")
    t.check_eq(r["end"], "eof", f"{dst}: client sees a clean EOF after the echo")

    closes = up.wait_closes(before + 1)
    new = closes[before:] if len(closes) > before else []
    t.check_eq(len(up.accepts()) - before, 1, f"{dst}: upstream accepted exactly one connection")
    if new:
        seen = new[-1]
        t.check_eq(seen["local"], dst, f"{dst}: upstream connection is to the original destination")
        t.check(seen["peer"].startswith(upstream_peer_host), f"{dst}: upstream peer is the gateway",
                seen["peer"])
        t.check_eq(seen["head"], payload, f"{dst}: upstream received the client's bytes")

    dec = t.check_record(gw, f"{dst}: one allow decision record", event="connection.decision",
                         dst=dst, decision="allow")
    if not dec:
        return
    t.check_eq(dec.get("reason"), "rule", f"{dst}: decision reason")
    t.check_eq(dec.get("rule"), "clients-to-lab", f"{dst}: decision rule")
    t.check_eq(audit.host(dec.get("src")), src_host, f"{dst}: decision src (normalised)")
    t.check(bool(dec.get("policy_version")), f"{dst}: decision carries policy_version", str(dec))
    t.check(bool(dec.get("listener")), f"{dst}: decision names its listener", str(dec))
    close = t.check_record(gw, f"{dst}: one close record for the same conn_id",
                           event="connection.close", conn_id=dec.get("conn_id"))
    if close:
        n = len(payload)
        t.check_eq(audit.bytes_up(close), n, f"{dst}: close bytes_up")
        t.check_eq(audit.bytes_down(close), n, f"{dst}: close bytes_down")
        t.check_eq(audit.endpoint(close.get("dst")), dst, f"{dst}: close dst")
        t.check_eq(close.get("reason"), "eof", f"{dst}: close reason")
        seq_dec, seq_close = gw.records().index(dec), gw.records().index(close)
        t.check(seq_dec < seq_close, f"{dst}: decision is written before close")


def run(t: harness.Case) -> None:
    up = t.upstream("echo", ["203.0.113.10:7", "[2001:db8:2::10]:7"])

    gw = t.egressd(LAB)  # listener "[::]:15001", dual stack
    echo_once(t, gw, up, "203.0.113.10:7", "192.0.2.2", "203.0.113.254", "hello over IPv4\n")
    echo_once(t, gw, up, "[2001:db8:2::10]:7", "2001:db8:1::2", "[2001:db8:2::fe]",
              "hello over IPv6\n")
    versions = {r.get("policy_version") for r in gw.records() if r.get("event") == "connection.decision"}
    t.check_eq(len(versions), 1, "one policy version across the records")
    t.check_eq(gw.terminate(), 0, "egressd exits 0 on SIGTERM")

    gw4 = t.egressd(LAB, {"listeners": [{"name": "egress4", "address": "0.0.0.0:15001",
                                         "destination": "original_dst"}]})
    echo_once(t, gw4, up, "203.0.113.10:7", "192.0.2.2", "203.0.113.254", "hello, IPv4-only listener\n")
    dec = gw4.wait_records(event="connection.decision")
    t.check(bool(dec) and dec[0].get("listener") == "egress4", "decision names listener egress4",
            str(dec[:1]))


harness.main(run)
