#!/usr/bin/env python3
"""limits.max_connections: over the limit a new connection is reset and audited over_limit.

max_connections is 3. Three clients hold connections open; a fourth is reset without a byte, no
upstream connection is made for it, and its decision record says deny/over_limit. When the three
have finished, a new connection is served again.
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness  # noqa: E402
from policies import LAB  # noqa: E402


def run(t: harness.Case) -> None:
    up = t.upstream("echo", ["203.0.113.10:7", "203.0.113.20:7"])
    gw = t.egressd(LAB, {"limits": {"max_connections": 3}})
    holders = [t.client_bg(f"holder{i}", "--dst", "203.0.113.10:7", "--send", f"holder {i}\n",
                           "--linger", "2.5", "--shutdown", "--timeout", "10") for i in range(3)]
    deadline = time.monotonic() + 5
    while len(up.accepts()) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    t.require(len(up.accepts()) == 3, "three connections held open")

    t.check_denied(gw, [up], "203.0.113.20:7", "over_limit")

    for i, h in enumerate(holders):
        r = t.client_result(h)
        t.check_eq(r["recv"], f"holder {i}\n", f"holder {i}: served normally")
    deadline = time.monotonic() + 5
    while len(gw.wait_records(timeout=0, event="connection.close")) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    r = t.client("--dst", "203.0.113.20:7", "--send", "room again\n", "--shutdown")
    t.check_eq(r["recv"], "room again\n", "below the limit again: served")
    t.check_eq(len(up.accepts()), 4, "upstream accepted 3 + 1 connections, none for the rejected one")


harness.main(run)
