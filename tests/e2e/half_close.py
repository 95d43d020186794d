#!/usr/bin/env python3
"""Half-close: the client shuts its write side and still receives the reply.

The upstream (halfclose mode) reads until EOF and only then answers "ACK <bytes> <sha256>": the
reply can arrive only if the gateway turned the client's FIN into shutdown(SHUT_WR) upstream while
keeping the other direction open. Done for IPv4 and IPv6, with 100 KiB each.
"""

import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import audit  # noqa: E402
import harness  # noqa: E402
from policies import LAB  # noqa: E402

SIZE = 100 * 1024


def run(t: harness.Case) -> None:
    up = t.upstream("halfclose", ["203.0.113.10:19", "[2001:db8:2::10]:19"])
    gw = t.egressd(LAB)
    for i, dst in enumerate(("203.0.113.10:19", "[2001:db8:2::10]:19")):
        r = t.client("--dst", dst, "--send-bytes", str(SIZE), "--shutdown", "--timeout", "10")
        expected = f"ACK {SIZE} {r['sent_sha256']}\n"
        t.check_eq(r["recv"], expected, f"{dst}: reply after the client's half-close")
        t.check_eq(r["end"], "eof", f"{dst}: then EOF")
        seen = up.wait_closes(i + 1)[-1]
        t.check_eq((seen["bytes_in"], seen["sha256_in"]), (SIZE, r["sent_sha256"]),
                   f"{dst}: upstream read every byte, then EOF")
        dec = t.check_record(gw, f"{dst}: allow decision", event="connection.decision", dst=dst,
                             decision="allow")
        if dec:
            close = t.check_record(gw, f"{dst}: close record", event="connection.close",
                                   conn_id=dec.get("conn_id"))
            if close:
                t.check_eq(audit.bytes_up(close), SIZE, f"{dst}: bytes_up")
                t.check_eq(audit.bytes_down(close), len(expected), f"{dst}: bytes_down")


harness.main(run)
