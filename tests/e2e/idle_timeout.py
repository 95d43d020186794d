#!/usr/bin/env python3
"""upstream.idle_timeout closes both sides of a connection on which nothing moves.

idle_timeout is 1s. An idle client (sends one line, reads the echo, then waits) sees EOF about 1s
later, the upstream sees EOF too, and the close record says idle_timeout. A client that sends a
line every 0.4s for 2.4s (longer than the timeout, but never idle for it) keeps its connection and
gets every echo back.
"""

import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness  # noqa: E402
from policies import LAB  # noqa: E402

IDLE_S = 1.0


def run(t: harness.Case) -> None:
    up = t.upstream("echo", ["203.0.113.10:7"])
    gw = t.egressd(LAB, {"upstream": {"idle_timeout": "1s"}})

    r = t.client("--dst", "203.0.113.10:7", "--send", "then silence\n", "--timeout", "10")
    t.check_eq(r["recv"], "then silence\n", "idle: the echo arrives")
    t.check(r["end"] in ("eof", "reset"), "idle: the gateway closes the connection", str(r["end"]))
    t.check(0.8 * IDLE_S <= r["end_s"] <= IDLE_S + 1.0, f"idle: closed after about {IDLE_S}s",
            f"after {r['end_s']:.3f}s")
    print(f"     idle connection closed {r['end_s']:.3f}s after connect (idle_timeout {IDLE_S}s)")
    closes = up.wait_closes(1)
    t.check(len(closes) == 1 and closes[0]["end"] in ("eof", "reset"),
            "idle: the upstream connection is closed too", str(closes))
    dec = t.check_record(gw, "idle: allow decision", event="connection.decision", decision="allow")
    if dec:
        t.check_record(gw, "idle: close reason idle_timeout", event="connection.close",
                       conn_id=dec.get("conn_id"), reason="idle_timeout")

    r = t.client("--dst", "203.0.113.10:7", "--send", "tick\n", "--repeat", "7", "--interval", "0.4",
                 "--shutdown", "--timeout", "10")
    t.check_eq(r["recv"], "tick\n" * 7, "busy: every echo arrives over 2.4s")
    t.check_eq(r["end"], "eof", "busy: closed by the client's EOF, not the idle timer")
    t.check_record(gw, "busy: close reason eof", event="connection.close", dst="203.0.113.10:7",
                   reason="eof", bytes_up=35, bytes_down=35)


harness.main(run)
