#!/usr/bin/env python3
"""1,000 concurrent connections, all open at the same time, each with its own echo.

The client opens every connection before any sends; the upstream records how many were open at
once. Every connection must get exactly its own line back, and the audit log must have 1,000 allow
decisions and 1,000 close records with distinct conn_ids.
"""

import os
import resource
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import audit  # noqa: E402
import harness  # noqa: E402
from policies import LAB  # noqa: E402

N = 1000


def run(t: harness.Case) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    t.require(hard >= 2 * N + 256, "the hard fd limit leaves egressd two sockets per connection",
              f"RLIMIT_NOFILE hard limit {hard}; raise it (ulimit -Hn) to run this case")
    up = t.upstream("echo", ["203.0.113.10:7"])
    gw = t.egressd(LAB)
    r = t.client("--dst", "203.0.113.10:7", "--concurrent", str(N), "--hold", "1.0", "--timeout", "30",
                 timeout=180)
    print(f"     {r}")
    t.check_eq(r["opened"], N, "all connections opened")
    t.check_eq(r["ok"], N, "every connection got exactly its own bytes back")
    t.check_eq(r["failures"], {}, "no failures")
    peak = max((a["active"] for a in up.accepts()), default=0)
    t.check_eq(peak, N, "the upstream had all of them open at once")
    closes = up.wait_closes(N, timeout=20)
    t.check_eq(len(closes), N, "the upstream saw every connection close")
    decs = gw.wait_records(timeout=10, count=N, event="connection.decision", decision="allow")
    t.check_eq(len(decs), N, "1,000 allow decision records")
    cls = gw.wait_records(timeout=10, count=N, event="connection.close", reason="eof")
    t.check_eq(len(cls), N, "1,000 close records (reason eof)")
    t.check_eq(len({d.get("conn_id") for d in decs}), N, "distinct conn_ids")
    t.check_eq({d.get("conn_id") for d in decs}, {c.get("conn_id") for c in cls},
               "every decision has its close record")
    total = sum(len(f"conn-{i}\n") for i in range(N))
    t.check_eq(sum(audit.bytes_up(c) or 0 for c in cls), total, "close records: bytes_up add up")
    t.check_eq(sum(audit.bytes_down(c) or 0 for c in cls), total, "close records: bytes_down add up")


harness.main(run)
