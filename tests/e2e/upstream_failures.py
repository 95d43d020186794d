#!/usr/bin/env python3
"""Upstream refused and upstream black-holed, each a distinct close reason; the client is reset.

Refused: 203.0.113.10:81 is allowed but nothing listens (the kernel answers RST).
Black-holed: 203.0.113.77 exists but the internet namespace drops every SYN to it, so only
`upstream.connect_timeout` (1s here) ends the attempt: the client's reset comes about 1s after its
connect, and the close record says upstream_timeout.
"""

import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import audit  # noqa: E402
import harness  # noqa: E402
from policies import LAB  # noqa: E402

CONNECT_TIMEOUT_S = 1.0


def attempt(t, gw, dst: str, close_reason: str) -> dict:
    # Send once the read side waits, so the reset is seen as one (see harness.check_denied).
    r = t.client("--dst", dst, "--send", "hello?", "--delay-send", "0.2", "--timeout", "10")
    t.check(r["connected"], f"{dst}: client connects (to the gateway)", str(r))
    t.check_eq(r["recv_len"], 0, f"{dst}: client receives no bytes")
    t.check_eq(r["end"], "reset", f"{dst}: client is reset")
    dec = t.check_record(gw, f"{dst}: allow decision (the policy allowed it)",
                         event="connection.decision", dst=dst, decision="allow", rule="clients-to-lab")
    if dec:
        close = t.check_record(gw, f"{dst}: close record", event="connection.close",
                               conn_id=dec.get("conn_id"))
        if close:
            t.check_eq(close.get("reason"), close_reason, f"{dst}: close reason")
            t.check_eq(audit.bytes_down(close), 0, f"{dst}: no bytes came down")
    return r


def run(t: harness.Case) -> None:
    t.sb.blackhole("203.0.113.77")
    # A listener on the black-holed address: only the DROP rule keeps it from answering.
    hole = t.upstream("echo", ["203.0.113.77:7"], "blackholed")
    gw = t.egressd(LAB, {"upstream": {"connect_timeout": f"{int(CONNECT_TIMEOUT_S * 1000)}ms"}})

    r = attempt(t, gw, "203.0.113.10:81", "upstream_refused")
    t.check(r["end_s"] < 0.5, "refused: the reset comes at once", f"after {r['end_s']:.3f}s")

    r = attempt(t, gw, "203.0.113.77:7", "upstream_timeout")
    t.check(0.8 * CONNECT_TIMEOUT_S <= r["end_s"] <= CONNECT_TIMEOUT_S + 0.75,
            f"black hole: reset after about connect_timeout ({CONNECT_TIMEOUT_S}s)",
            f"after {r['end_s']:.3f}s")
    print(f"     black hole: client reset {r['end_s']:.3f}s after connecting "
          f"(connect_timeout {CONNECT_TIMEOUT_S}s)")
    t.check_eq(len(hole.accepts()), 0, "black hole: the upstream never accepted")


harness.main(run, extra_v4=["203.0.113.77"])
