#!/usr/bin/env python3
"""1 GiB through the gateway with matching SHA-256 at both ends.

The client streams 1 GiB of a deterministic pattern to a sink and half-closes; the sink hashes
what it received. Then 64 MiB through an echo server, read back and hashed by the client while it
is still sending (both directions at full speed at once). The close records count every byte.
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import audit  # noqa: E402
import harness  # noqa: E402
from policies import LAB  # noqa: E402

GIB = 1 << 30
ECHO = 64 << 20


def run(t: harness.Case) -> None:
    sink = t.upstream("sink", ["203.0.113.10:9"])
    echo = t.upstream("echo", ["[2001:db8:2::10]:7"])
    gw = t.egressd(LAB)

    t0 = time.monotonic()
    r = t.client("--dst", "203.0.113.10:9", "--send-bytes", str(GIB), "--shutdown", "--timeout", "60",
                 timeout=300)
    secs = time.monotonic() - t0
    t.check_eq(r["sent"], GIB, "client sent 1 GiB")
    t.check_eq(r["end"], "eof", "client sees EOF after the sink closes")
    closes = sink.wait_closes(1, timeout=30)
    t.require(len(closes) == 1, "sink saw one connection close", str(closes))
    t.check_eq(closes[0]["bytes_in"], GIB, "sink received 1 GiB")
    t.check_eq(closes[0]["sha256_in"], r["sent_sha256"], "SHA-256 at the sink = SHA-256 at the client")
    print(f"     1 GiB upload: {secs:.2f}s end to end ({GIB / secs / 1e6:.0f} MB/s), "
          f"sha256 {r['sent_sha256'][:16]}…")
    close = t.check_record(gw, "close record for the 1 GiB connection", event="connection.close",
                           dst="203.0.113.10:9")
    if close:
        t.check_eq(audit.bytes_up(close), GIB, "close record bytes_up = 1 GiB")
        t.check_eq(audit.bytes_down(close), 0, "close record bytes_down = 0")

    r = t.client("--dst", "[2001:db8:2::10]:7", "--send-bytes", str(ECHO), "--shutdown",
                 "--timeout", "60", timeout=120)
    t.check_eq(r["recv_len"], ECHO, "echo: 64 MiB came back")
    t.check_eq(r["recv_sha256"], r["sent_sha256"], "echo: SHA-256 of what came back = what was sent")
    close = t.check_record(gw, "close record for the echo connection", event="connection.close",
                           dst="[2001:db8:2::10]:7")
    if close:
        t.check_eq((audit.bytes_up(close), audit.bytes_down(close)), (ECHO, ECHO),
                   "echo close record counts 64 MiB each way")


harness.main(run, watchdog_s=420)
