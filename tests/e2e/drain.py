#!/usr/bin/env python3
"""SIGTERM drains: stop accepting, let live connections finish for drain_timeout, then close the
rest (audited `drain`), flush the audit log, exit 0.

drain_timeout is 2s. At SIGTERM two connections are open: "busy" keeps talking for 1.2s more and
then half-closes (it must finish normally), "idle" just waits (it must be closed at about 2s). A
connection attempted during the drain is refused.
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import audit  # noqa: E402
import harness  # noqa: E402
from policies import LAB  # noqa: E402

DRAIN_S = 2.0


def run(t: harness.Case) -> None:
    up = t.upstream("echo", ["203.0.113.10:7", "203.0.113.20:7"])
    gw = t.egressd(LAB, {"drain_timeout": "2s"})
    busy = t.client_bg("busy", "--dst", "203.0.113.10:7", "--send", "tick\n", "--repeat", "8",
                       "--interval", "0.25", "--shutdown", "--timeout", "10")
    idle = t.client_bg("idle", "--dst", "203.0.113.20:7", "--send", "hello\n", "--timeout", "10")
    deadline = time.monotonic() + 5
    while len(up.accepts()) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    t.require(len(up.accepts()) == 2, "both connections are established upstream")
    time.sleep(0.3)

    t0 = time.monotonic()
    gw.proc.signal(15)
    time.sleep(0.3)
    r = t.client("--dst", "203.0.113.10:7", "--send", "late\n", "--connect-timeout", "3", "--timeout", "3")
    t.check(r["recv_len"] == 0 and (not r["connected"] or r["end"] in ("reset", "eof")),
            "a new connection during the drain is not served", str(r))
    rc = gw.proc.wait(timeout=DRAIN_S + 10)
    exit_s = time.monotonic() - t0
    t.check_eq(rc, 0, "egressd exits 0")
    t.check(DRAIN_S - 0.3 <= exit_s <= DRAIN_S + 2.0, f"egressd exits after about drain_timeout ({DRAIN_S}s)",
            f"after {exit_s:.2f}s")
    print(f"     egressd exited {exit_s:.2f}s after SIGTERM")

    b = t.client_result(busy)
    t.check_eq(b["recv"], "tick\n" * 8, "busy: every echo arrived (it finished within the drain)")
    t.check_eq(b["end"], "eof", "busy: normal EOF")
    i = t.client_result(idle)
    t.check_eq(i["recv"], "hello\n", "idle: got its echo")
    t.check(i["end"] in ("eof", "reset"), "idle: closed by the gateway", str(i["end"]))

    recs = gw.records()
    busy_close = audit.matching(recs, event="connection.close", dst="203.0.113.10:7", reason="eof")
    t.check_eq(len(busy_close), 1, "busy: close record reason eof")
    idle_close = audit.matching(recs, event="connection.close", dst="203.0.113.20:7")
    t.check_eq([c.get("reason") for c in idle_close], ["drain"], "idle: close record reason drain")
    if idle_close:
        t.check_eq(audit.bytes_up(idle_close[0]), 6, "idle: close record counts its bytes")
    stops = audit.matching(recs, event="gateway.stop")
    print(f"     gateway.stop records: {stops}")
    t.check_eq(len(up.wait_closes(2)), 2, "the upstream saw both connections close")


harness.main(run)
