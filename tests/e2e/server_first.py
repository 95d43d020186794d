#!/usr/bin/env python3
"""A server that speaks first (SMTP, SSH, FTP): its greeting reaches a client that sends nothing.

egressd connects upstream as soon as it has decided, and may hold the handshake's last ACK back
so that it travels with the client's first bytes; it must not when the client has sent nothing,
or the server would see the connection only when the delayed ACK fires (200 ms later) and its
greeting would wait as long. The client connects, sends nothing and reads the greeting; then it
talks (the server echoes) and closes. IPv4 and IPv6.
"""

import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness  # noqa: E402
from policies import LAB  # noqa: E402

BANNER = "220 lab.example ESMTP ready\r\n"
# Far above a greeting through a local sandbox (a few ms), far below the 200 ms a held-back ACK
# costs: this bounds a stall, it does not measure speed.
GREETING_WITHIN_S = 0.15


def run(t: harness.Case) -> None:
    up = t.upstream("banner", ["203.0.113.10:7", "[2001:db8:2::10]:7"])
    t.egressd(LAB)
    for dst in ("203.0.113.10:7", "[2001:db8:2::10]:7"):
        # Nothing sent: the greeting alone ends the read (--max-recv).
        r = t.client("--dst", dst, "--max-recv", str(len(BANNER)), "--timeout", "5")
        t.check_eq(r["recv"], BANNER, f"{dst}: the greeting reaches a client that sent nothing")
        t.check(r["end_s"] - r["connect_s"] < GREETING_WITHIN_S,
                f"{dst}: the greeting arrives without waiting for a delayed ACK", str(r))
        # Then a conversation: the client's bytes after the greeting are echoed.
        r = t.client("--dst", dst, "--send", "EHLO client\r\n", "--delay-send", "0.05",
                     "--linger", "0.2", "--shutdown")
        t.check_eq(r["recv"], BANNER + "EHLO client\r\n", f"{dst}: greeting, then the echo")
        t.check_eq(r["end"], "eof", f"{dst}: clean EOF")
    t.check_eq(len(up.wait_closes(4)), 4, "the server saw all four connections end")


harness.main(run)
